//! `blockseal mount` and `blockseal umount`: an instance's attached volumes as block files.
//!
//! The engine opens the volumes (KMS checks, one data key each, an exclusive lock per volume
//! file); `blockseal-fuse` serves them; a control socket in the home lets attach-volume,
//! detach-volume, create-image, stop and terminate reach the running mount.

use anyhow::{bail, Context, Result};
use blockseal_engine::mountctl::{self, MountControl};
use blockseal_engine::{BlockDevice, Code, Error, Options, Session};
use blockseal_fuse::{Mount, MountOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// An engine error from a mount step, printed AWS style (exit 254) by `main`.
#[derive(Debug)]
pub struct ServiceError {
    pub op: &'static str,
    pub err: Error,
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.err.message(), self.err.code())
    }
}

impl std::error::Error for ServiceError {}

/// Wraps engine errors of operation `op` for `main`.
pub fn service_error(op: &'static str) -> impl Fn(Error) -> anyhow::Error {
    move |err| anyhow::Error::new(ServiceError { op, err })
}

/// A plain logger: timestamped lines on stderr (the log file of a daemon mount).
struct Logger;

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            eprintln!("[{t:.3}] {} {}", r.level(), r.args());
        }
    }
    fn flush(&self) {}
}

/// Sends the engine's and the FUSE server's log lines to stderr.
pub fn init_logger() {
    static LOGGER: Logger = Logger;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

/// How long a detach waits for open handles of the volume's file to close.
const DETACH_WAIT: Duration = Duration::from_secs(5);

/// What the control socket may ask of this mount.
struct Control {
    /// Weak: the serving loop holds the mount, so it can unmount it by value.
    mount: std::sync::Weak<Mount>,
    /// How to open the home again: the mount keeps no session, so no KMS root key, between
    /// attaches.
    opts: Options,
    instance_id: String,
    stop: Arc<AtomicBool>,
    done: Arc<(Mutex<bool>, Condvar)>,
}

fn file_name(device: &str) -> &str {
    device.strip_prefix("/dev/").unwrap_or(device)
}

impl Control {
    fn mount(&self) -> blockseal_engine::Result<Arc<Mount>> {
        self.mount
            .upgrade()
            .ok_or_else(|| Error::new(Code::RESOURCE_BUSY, "the mount is shutting down"))
    }
}

impl MountControl for Control {
    fn attach(&self, volume_id: &str, device: &str) -> blockseal_engine::Result<()> {
        // The root key is in memory only while the new volume's data key is unwrapped: the
        // session is opened for this attach and dropped (zeroizing its keys) at its end.
        let mv =
            Session::open(self.opts.clone())?.open_attached_volume(&self.instance_id, volume_id)?;
        log::info!("attach {volume_id} as {}", mv.file_name);
        let dev: Arc<dyn BlockDevice> = mv.dev;
        self.mount()?.add_device(file_name(device), dev)
    }

    fn detach(&self, device: &str) -> blockseal_engine::Result<()> {
        log::info!("detach {device}");
        match self.mount()?.remove_device(file_name(device), DETACH_WAIT) {
            Ok(_) => Ok(()),
            // Not served (e.g. attached while the mount could not open it): nothing to do.
            Err(e) if e.code() == Code::INVALID_ATTACHMENT_NOT_FOUND => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn freeze(
        &self,
        wait: bool,
        while_frozen: &mut dyn FnMut() -> mountctl::Thaw,
    ) -> blockseal_engine::Result<()> {
        log::info!("freeze (wait for in-flight writes: {wait})");
        let mount = self.mount()?;
        let guard = if wait {
            mount.freeze()?
        } else {
            mount.freeze_no_wait()?
        };
        let why = while_frozen();
        drop(guard);
        match why {
            mountctl::Thaw::LeaseExpired => log::warn!(
                "thaw: the freeze's holder renewed nothing within the {} s lease (stopped?)",
                mountctl::lease().as_secs_f64()
            ),
            mountctl::Thaw::HolderGone => log::info!("thaw (the freeze's holder went away)"),
            _ => log::info!("thaw"),
        }
        Ok(())
    }

    fn unmount(&self) -> blockseal_engine::Result<()> {
        log::info!("unmount requested");
        self.stop.store(true, Ordering::SeqCst);
        let (lock, cv) = &*self.done;
        let done = lock.lock().expect("done lock");
        let (done, _) = cv
            .wait_timeout_while(done, Duration::from_secs(60), |d| !*d)
            .expect("done lock");
        if *done {
            Ok(())
        } else {
            Err(Error::new(
                Code::RESOURCE_BUSY,
                "the mount did not finish unmounting in 60 s",
            ))
        }
    }
}

/// A mount served by this process, with its control socket. Dropping it unmounts.
pub struct Running {
    mount: Option<Arc<Mount>>,
    server: Option<mountctl::ControlServer>,
    stop: Arc<AtomicBool>,
    done: Arc<(Mutex<bool>, Condvar)>,
    dir: PathBuf,
}

/// How to mount: the flags of `blockseal mount` that reach the FUSE server.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    /// Serve the files read-only.
    pub read_only: bool,
    /// Mount on a directory that holds files (they are hidden while mounted).
    pub allow_non_empty: bool,
}

/// Mounts the attached volumes of running instance `instance_id` on `dir` and starts its control
/// socket; returns once the files are visible. `dir` must be empty (unless
/// `flags.allow_non_empty`), outside the home and not on a pseudo file system.
///
/// The process becomes undumpable first: it holds the volumes' data keys for as long as it
/// serves them (in locked pages left out of core dumps either way). It keeps no KMS root key
/// once the volumes are unlocked: an attach through the control socket opens the home again
/// for as long as it unwraps the new volume's key.
pub fn start(engine: Session, instance_id: &str, dir: &Path, flags: Flags) -> Result<Running> {
    if let Err(e) = blockseal_engine::forbid_core_dumps() {
        log::warn!("cannot turn core dumps off (prctl PR_SET_DUMPABLE): {e}");
    }
    let home = engine.home().to_owned();
    let vols = engine
        .open_instance_volumes(instance_id)
        .map_err(service_error("Mount"))?;
    if let Some(e) = blockseal_engine::key_lock_failure() {
        log::warn!(
            "cannot lock key memory against swap ({e}; raise RLIMIT_MEMLOCK, `ulimit -l`): \
             keys stay out of core dumps but may be written to swap"
        );
    }
    let devices: Vec<(String, Arc<dyn BlockDevice>)> = vols
        .iter()
        .map(|v| (v.file_name.clone(), v.dev.clone() as Arc<dyn BlockDevice>))
        .collect();
    let names: Vec<String> = vols
        .iter()
        .map(|v| format!("{} ({})", v.file_name, v.volume_id))
        .collect();
    drop(vols);
    let opts = MountOptions {
        read_only: flags.read_only,
        allow_non_empty: flags.allow_non_empty,
        home: Some(home.clone()),
        ..MountOptions::default()
    };
    let mount = Arc::new(Mount::spawn(dir, devices, opts).map_err(service_error("Mount"))?);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new((Mutex::new(false), Condvar::new()));
    let ctl = Arc::new(Control {
        mount: Arc::downgrade(&mount),
        opts: engine.options().clone(),
        instance_id: instance_id.to_owned(),
        stop: stop.clone(),
        done: done.clone(),
    });
    // The volumes hold their data keys; the KMS root key goes with the session.
    drop(engine);
    let server = mountctl::serve(&home, instance_id, dir, ctl).map_err(service_error("Mount"))?;
    log::info!(
        "mounted {instance_id} on {}: {}",
        dir.display(),
        names.join(", ")
    );
    Ok(Running {
        mount: Some(mount),
        server: Some(server),
        stop,
        done,
        dir: dir.to_owned(),
    })
}

impl Running {
    /// The stop flag: setting it ends [`Running::serve`].
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Serves until the stop flag is set (signal, `blockseal umount`, stop or terminate of the
    /// instance) or the mount is unmounted from outside, then flushes and unmounts.
    pub fn serve(mut self) -> Result<()> {
        if let Some(m) = &self.mount {
            m.serve_until(&self.stop);
        }
        self.shutdown()
    }

    /// Flushes and unmounts; tells a waiting unmount requester once done.
    fn shutdown(&mut self) -> Result<()> {
        let Some(mut mount) = self.mount.take() else {
            return Ok(());
        };
        // Requests in flight hold the mount for a moment; then it is ours to unmount.
        let outcome = loop {
            match Arc::try_unwrap(mount) {
                Ok(m) => break m.unmount().map_err(service_error("Unmount")),
                Err(m) => {
                    mount = m;
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        };
        // The socket goes before the unmount requester hears back, so it may mount again at
        // once.
        drop(self.server.take());
        {
            let (lock, cv) = &*self.done;
            *lock.lock().expect("done lock") = true;
            cv.notify_all();
        }
        log::info!(
            "unmounted {} ({:?})",
            self.dir.display(),
            outcome.as_ref().map_err(|e| e.to_string())
        );
        outcome.map(drop)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            log::warn!("unmount {}: {e:#}", self.dir.display());
        }
    }
}

/// Serves the mount of `instance_id` on `dir` in the foreground until it is unmounted (Ctrl-C
/// and other termination signals, `blockseal umount`, `fusermount3 -u`, stop or terminate of the
/// instance).
pub fn serve(engine: Session, instance_id: &str, dir: &Path, flags: Flags) -> Result<()> {
    let running = start(engine, instance_id, dir, flags)?;
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, running.stop_flag()).context("install signal handlers")?;
    }
    let served = running.serve();
    // Give an unmount requester its answer before the process ends.
    mountctl::wait_for_answers();
    served?;
    Ok(())
}

/// Why FUSE mounts cannot run here, if they cannot.
pub fn unavailable() -> Option<&'static str> {
    if !Path::new("/dev/fuse").exists() {
        Some("/dev/fuse is missing")
    } else if std::process::Command::new("fusermount3")
        .arg("-V")
        .output()
        .is_err()
    {
        Some("fusermount3 is not installed (apt-get install fuse3)")
    } else {
        None
    }
}

/// The log file of a daemon mount.
pub fn log_path(home: &Path, instance_id: &str) -> PathBuf {
    home.join("logs").join(format!("mount-{instance_id}.log"))
}

/// Starts the mount in the background (the same command in serve mode, its output to the log
/// file) and returns once its files are visible and its control socket answers.
pub fn spawn_daemon(
    home: &Path,
    global: &[String],
    instance_id: &str,
    dir: &Path,
    flags: Flags,
) -> Result<PathBuf> {
    use std::os::unix::process::CommandExt;
    let sock = mountctl::socket_path(home, instance_id);
    if mountctl::is_listening(&sock) {
        let err = Error::new(
            Code::RESOURCE_BUSY,
            format!("Instance {instance_id} is already mounted; unmount it first"),
        );
        return Err(service_error("Mount")(err));
    }
    let log = log_path(home, instance_id);
    std::fs::create_dir_all(log.parent().expect("log dir")).context("create the log folder")?;
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .with_context(|| format!("open {}", log.display()))?;
    // The log is appended to by every mount of this instance: only what this child writes
    // after `start` is its own.
    let start = out.metadata().map(|m| m.len()).unwrap_or(0);
    let exe = std::env::current_exe().context("find the blockseal executable")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(global)
        .arg("mount")
        .arg("--instance-id")
        .arg(instance_id)
        .arg(dir)
        .arg("--serve");
    if flags.read_only {
        cmd.arg("--read-only");
    }
    if flags.allow_non_empty {
        cmd.arg("--allow-non-empty");
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0);
    let mut child = cmd.spawn().context("start the mount process")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // Up once our own process answers on the socket (its record names its pid).
        if mountctl::is_listening(&sock)
            && mountctl::mount_pid(home, instance_id) == Some(child.id())
        {
            return Ok(log);
        }
        if let Some(status) = child.try_wait()? {
            // The child printed its error (AWS style for service errors) to the log: relay it.
            let text = own_log_lines(&log, start);
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .to_owned();
            if let Some(rest) = last.strip_prefix("An error occurred (") {
                if let Some((code, msg)) = rest.split_once(") when calling the Mount operation: ") {
                    let code = Code::from_name(code).unwrap_or(Code::INTERNAL_ERROR);
                    return Err(service_error("Mount")(Error::new(code, msg.to_owned())));
                }
            }
            if last.is_empty() {
                bail!(
                    "the mount process exited ({status}) without a message (log: {})",
                    log.display()
                );
            }
            bail!(
                "the mount process exited ({status}): {last} (log: {})",
                log.display()
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!(
                "the mount did not come up within 60 s; see {}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What the log at `path` holds from byte `start` on (lossily decoded): one mount's lines.
fn own_log_lines(path: &Path, start: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut bytes = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        if f.seek(SeekFrom::Start(start)).is_ok() {
            let _ = f.take(1 << 20).read_to_end(&mut bytes);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Unmounts the blockseal mount on `dir`: asks its process to flush and unmount, or, when no
/// process answers (it was killed), detaches the mount point with `fusermount3 -u -z`.
pub fn umount(home: &Path, dir: &Path) -> Result<()> {
    if let Some(instance) = mountctl::instance_mounted_at(home, dir) {
        match mountctl::request_unmount(home, &instance) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => return Err(service_error("Unmount")(e)),
        }
    }
    let st = std::process::Command::new("fusermount3")
        .arg("-u")
        .arg("-z")
        .arg(dir)
        .status();
    match st {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => bail!(
            "{} is not a blockseal mount of this home, and fusermount3 -u failed ({s})",
            dir.display()
        ),
        Err(e) => bail!(
            "{} is not a blockseal mount of this home, and fusermount3 could not run: {e}",
            dir.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::own_log_lines;
    use std::io::Write;

    #[test]
    fn a_mount_relays_only_its_own_log_lines() {
        let dir = std::env::temp_dir().join(format!("blockseal-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("mount-i-0.log");
        std::fs::write(&log, "[1.000] INFO mounted i-0 on /mnt/a: xvda (vol-1)\n").unwrap();
        let start = std::fs::metadata(&log).unwrap().len();
        // Nothing written yet by the second mount: nothing of the first is relayed.
        assert_eq!(own_log_lines(&log, start), "");
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(
            b"An error occurred (InvalidParameterValue) when calling the Mount operation: x\n",
        )
        .unwrap();
        let own = own_log_lines(&log, start);
        assert!(
            own.starts_with("An error occurred (InvalidParameterValue)"),
            "{own}"
        );
        assert!(!own.contains("mounted i-0"), "{own}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
