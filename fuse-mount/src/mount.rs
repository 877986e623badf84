//! A running mount: starting the fuser session, attach and detach while mounted, freeze and
//! thaw for create-image, and unmounting (strict first, lazy when busy) on request or drop.

use crate::fs::{Fs, Shared};
use crate::io::Splitter;
use crate::mountpoint::{self, Umount};
use crate::table::{self, Table, ROOT_INO};
use blockseal_engine::{BlockDevice, Code, Error, Result};
use fuser::{BackgroundSession, INodeNo, MountOption, Notifier, SessionACL};
use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a mount is served. `Default` is the measured best configuration for an encrypted
/// volume on 2 cores (PERFORMANCE-NOTES Part B, "crypt t2, direct-io").
#[derive(Clone, Debug)]
pub struct MountOptions {
    /// Serve the files read-only (mode 0400, mounted `ro`). Default: false.
    pub read_only: bool,
    /// FUSE worker threads (fuser `n_threads`). Default 2: the core count of the reference
    /// machine; 1 doubles the 4 KiB round trip, 4 hurts on 2 cores.
    pub threads: usize,
    /// Largest read or write request in bytes, negotiated at INIT (`max_write`, and
    /// `max_pages` from it). Default 1 MiB, the kernel's `fs.fuse.max_pages_limit` of 256
    /// pages; 128 KiB cost 35–55 % of sequential throughput.
    pub max_write: u32,
    /// Let users other than the mounting one use the files (`allow_other`; a non-root mounter
    /// needs `user_allow_other` in /etc/fuse.conf). The mode bits still apply
    /// (`default_permissions`). Default: false.
    pub allow_other: bool,
    /// Reads of at least this many bytes are cut in two halves run on two cores at once; 0
    /// turns that off. Default 256 KiB (a 1 MiB dd block is split, 4 KiB I/O never is):
    /// measured +25 % dd read on an encrypted volume. Writes are never split (no gain measured).
    pub split_min: usize,
    /// Give each worker its own /dev/fuse descriptor (`FUSE_DEV_IOC_CLONE`). Default: false
    /// (measured no better here with 2 threads).
    pub clone_fd: bool,
    /// Mount on a directory that holds files, hiding them while mounted. Default: false (such
    /// a mount point is refused).
    pub allow_non_empty: bool,
    /// A folder the mount point must not be, nor be inside: the blockseal home, whose files a
    /// mount would hide. Default: None.
    pub home: Option<PathBuf>,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            read_only: false,
            threads: 2,
            max_write: 1 << 20,
            allow_other: false,
            split_min: 256 << 10,
            clone_fd: false,
            allow_non_empty: false,
            home: None,
        }
    }
}

/// How [`Mount::unmount`] left the mount point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unmounted {
    /// Unmounted; the server threads have stopped.
    Clean,
    /// Files were still open: the mount was detached lazily (`MNT_DETACH`). It is gone from
    /// the directory tree, but the processes holding files open keep being served until they
    /// close them (as long as this process lives), and the devices stay referenced until then.
    Lazy,
    /// Someone else unmounted it first (`fusermount3 -u DIR`, `umount DIR`).
    External,
}

/// Request counters since the mount started, for benchmarks and checks of the negotiated
/// request size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MountStats {
    pub reads: u64,
    pub read_bytes: u64,
    /// The largest READ request seen, in bytes.
    pub largest_read: u64,
    pub writes: u64,
    pub write_bytes: u64,
    /// The largest WRITE request seen, in bytes: 1 MiB once `max_write` is negotiated.
    pub largest_write: u64,
    /// Reads cut in two halves (see [`MountOptions::split_min`]).
    pub split: u64,
    /// Whether the kernel accepted requests above 128 KiB (`FUSE_MAX_PAGES`).
    pub max_pages: bool,
}

/// A running mount of a directory of block files, one regular file per device.
///
/// Dropping it unmounts, as [`Mount::unmount`] does (flushing every device first), and never
/// hangs on a busy mount point: it falls back to a lazy unmount.
pub struct Mount {
    shared: Arc<Shared>,
    session: Option<BackgroundSession>,
    notifier: Notifier,
    dir: PathBuf,
    /// The mount's device number, to tell our mount from whatever may later sit on `dir`.
    st_dev: u64,
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mount")
            .field("dir", &self.dir)
            .field("devices", &self.devices())
            .finish()
    }
}

/// While held, writes to every device of the mount wait at the gate; dropping it (or
/// [`FreezeGuard::thaw`]) lets them go on. It borrows the mount, so the mount cannot be
/// unmounted while frozen.
#[must_use = "the mount thaws when the guard is dropped"]
pub struct FreezeGuard<'a> {
    mount: &'a Mount,
}

impl FreezeGuard<'_> {
    /// Lets writes go on (the same as dropping the guard).
    pub fn thaw(self) {}
}

impl Drop for FreezeGuard<'_> {
    fn drop(&mut self) {
        self.mount.shared.gate.thaw();
    }
}

impl std::fmt::Debug for FreezeGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FreezeGuard({})", self.mount.dir.display())
    }
}

fn mount_err(dir: &Path, e: std::io::Error) -> Error {
    let hint = if e.kind() == std::io::ErrorKind::NotFound {
        " (is /dev/fuse present, and fusermount3 installed for non-root users?)"
    } else {
        ""
    };
    Error::io(format!("mount FUSE on {}{hint}", dir.display()), e)
}

impl Mount {
    /// Mounts `devices` as files named by their device names (e.g. `xvda`, `sdf`) in `dir`,
    /// and returns once the files are visible there.
    ///
    /// A stale mount left on `dir` by a server killed with SIGKILL ("Transport endpoint is not
    /// connected") is detached first; a live FUSE mount on `dir` is refused.
    ///
    /// # Errors
    /// `InvalidParameterValue` for a bad or duplicate name, a bad option, or a mount point
    /// that is missing, not a directory, already mounted, on a pseudo file system (`/proc`,
    /// `/sys`, `/dev`), inside [`MountOptions::home`] or not empty (unless
    /// [`MountOptions::allow_non_empty`]); I/O errors from mounting (no
    /// /dev/fuse, no permission).
    pub fn spawn(
        dir: &Path,
        devices: Vec<(String, Arc<dyn BlockDevice>)>,
        opts: MountOptions,
    ) -> Result<Mount> {
        if opts.threads == 0 || !(4096..=16 << 20).contains(&opts.max_write) {
            return Err(Error::new(
                Code::INVALID_PARAMETER_VALUE,
                format!(
                    "bad mount options: threads {} (want >= 1), max_write {} (want 4 KiB..16 MiB)",
                    opts.threads, opts.max_write
                ),
            ));
        }
        let mut table = Table::default();
        for (name, dev) in devices {
            table.insert(&name, dev)?;
        }
        let dir = mountpoint::prepare(dir, opts.home.as_deref(), opts.allow_non_empty)?;
        let split = Splitter::new(opts.split_min, 1)?;
        let shared = Arc::new(Shared::new(table, opts.read_only, opts.max_write, split));

        let mut config = fuser::Config::default();
        config.mount_options = vec![
            MountOption::FSName("blockseal".into()),
            MountOption::Subtype("blockseal".into()),
            MountOption::DefaultPermissions,
            MountOption::NoExec,
            MountOption::NoAtime,
            if opts.read_only {
                MountOption::RO
            } else {
                MountOption::RW
            },
        ];
        config.acl = if opts.allow_other {
            SessionACL::All
        } else {
            SessionACL::Owner
        };
        config.n_threads = Some(opts.threads);
        config.clone_fd = opts.clone_fd;
        let fs = Fs(shared.clone());
        let session = match mountpoint::mount_fuse(&dir, opts.read_only, opts.allow_other) {
            Ok(dev) => {
                fuser::Session::from_fd(fs, dev.into(), config.acl, config).inspect_err(|_| {
                    // Mounted but never served: do not leave a dead mount point behind.
                    let _ = mountpoint::unmount(&dir, true);
                })
            }
            // Not root: through fuser and the setuid fusermount3, as libfuse does.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                fuser::Session::new(fs, &dir, &config)
            }
            Err(e) => Err(e),
        };
        let session = session
            .and_then(fuser::Session::spawn)
            .map_err(|e| mount_err(&dir, e))?;
        let notifier = session.notifier();
        let mut mount = Mount {
            shared,
            session: Some(session),
            notifier,
            dir,
            st_dev: 0,
        };
        // Through the kernel, so the mount answers before we say it is there.
        let meta = std::fs::metadata(&mount.dir)
            .map_err(|e| Error::io(format!("stat new mount {}", mount.dir.display()), e))?;
        mount.st_dev = meta.dev();
        for name in mount.devices() {
            std::fs::metadata(mount.dir.join(&name))
                .map_err(|e| Error::io(format!("stat {}/{name}", mount.dir.display()), e))?;
        }
        Ok(mount)
    }

    /// The mount point (absolute).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The device file names, sorted.
    pub fn devices(&self) -> Vec<String> {
        self.shared
            .table()
            .visible()
            .map(|e| e.name.clone())
            .collect()
    }

    /// Request counters since the mount started.
    pub fn stats(&self) -> MountStats {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.shared.counters;
        MountStats {
            reads: c.reads.load(Relaxed),
            read_bytes: c.read_bytes.load(Relaxed),
            largest_read: c.largest_read.load(Relaxed),
            writes: c.writes.load(Relaxed),
            write_bytes: c.write_bytes.load(Relaxed),
            largest_write: c.largest_write.load(Relaxed),
            split: c.split.load(Relaxed),
            max_pages: self.shared.max_pages.load(Relaxed),
        }
    }

    /// Whether the file system is still being served (false once unmounted from outside).
    pub fn is_alive(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| !s.guard.is_finished())
    }

    /// Blocks until `stop` is set or the mount is unmounted from outside, checking every
    /// 100 ms. For a foreground server: see [`run_foreground`].
    pub fn serve_until(&self, stop: &AtomicBool) {
        while !stop.load(Ordering::SeqCst) && self.is_alive() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Drops the kernel's cached name `name` so a new lookup sees the current table.
    fn invalidate(&self, name: &str) {
        if let Err(e) = self
            .notifier
            .inval_entry(INodeNo(ROOT_INO), OsStr::new(name))
        {
            log::warn!(
                "invalidate {}/{name} in the kernel cache: {e}",
                self.dir.display()
            );
        }
    }

    /// Serves `dev` as a new file `name` (attach).
    ///
    /// # Errors
    /// `InvalidParameterValue` if the name is not one path component or is already served.
    pub fn add_device(&self, name: &str, dev: Arc<dyn BlockDevice>) -> Result<()> {
        self.shared.table_mut().insert(name, dev)?;
        self.invalidate(name);
        Ok(())
    }

    /// Stops serving the file `name` (detach) and returns its device, flushed.
    ///
    /// The file disappears from the directory at once and new opens fail; then this waits up
    /// to `wait` for the handles still open to close. If they do not, the file comes back and
    /// the call fails busy, changing nothing.
    ///
    /// # Errors
    /// `InvalidAttachment.NotFound` if no file has that name; `ResourceBusy` if it is still
    /// open after `wait`; the device's error if the final sync fails (the file comes back).
    pub fn remove_device(&self, name: &str, wait: Duration) -> Result<Arc<dyn BlockDevice>> {
        let entry = self.shared.table_mut().hide(name)?;
        self.invalidate(name);
        let drained = table::drain(&entry, wait).and_then(|()| entry.dev.sync());
        if let Err(e) = drained {
            self.shared.table_mut().unhide(&entry);
            return Err(e);
        }
        self.shared.table_mut().forget(&entry);
        Ok(entry.dev.clone())
    }

    /// Freezes the mount for a point-in-time copy: new writes (and discards) wait, writes in
    /// flight are waited for, then every device is synced. Reads go on. Writes resume when
    /// the guard drops.
    ///
    /// While frozen, a writer holds a FUSE worker thread; once every worker holds one, reads
    /// wait as well, so keep freezes short.
    ///
    /// # Errors
    /// A device's sync error (the mount is thawed again).
    pub fn freeze(&self) -> Result<FreezeGuard<'_>> {
        self.freeze_inner(true)
    }

    /// Like [`Mount::freeze`], without waiting for writes already in flight: a
    /// crash-consistent point (create-image `--no-reboot`). New writes still wait while the
    /// guard is held, and every device is synced.
    ///
    /// # Errors
    /// A device's sync error (the mount is thawed again).
    pub fn freeze_no_wait(&self) -> Result<FreezeGuard<'_>> {
        self.freeze_inner(false)
    }

    fn freeze_inner(&self, wait: bool) -> Result<FreezeGuard<'_>> {
        self.shared.gate.freeze(wait);
        let guard = FreezeGuard { mount: self };
        self.sync_all()?;
        Ok(guard)
    }

    /// Syncs every served device; tries all and returns the first error.
    fn sync_all(&self) -> Result<()> {
        let entries: Vec<_> = self.shared.table().all().cloned().collect();
        let mut first = None;
        for e in entries {
            e.dirty.store(false, Ordering::SeqCst);
            if let Err(err) = e.dev.sync() {
                e.dirty.store(true, Ordering::SeqCst);
                first.get_or_insert(err);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Flushes every device and unmounts. If files are still open, the mount is detached
    /// lazily instead ([`Unmounted::Lazy`]) rather than waiting for them.
    ///
    /// # Errors
    /// A device's sync error (the unmount still happens), or a failure to unmount at all.
    pub fn unmount(mut self) -> Result<Unmounted> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<Unmounted> {
        let Some(session) = self.session.take() else {
            return Ok(Unmounted::External);
        };
        let synced = self.sync_all();
        let dir = &self.dir;
        // Unmount only what is still ours: after `fusermount3 -u DIR` the session has ended,
        // and DIR may already hold somebody else's mount.
        let ours = !session.guard.is_finished()
            && std::fs::metadata(dir).is_ok_and(|m| m.dev() == self.st_dev);
        // After a real unmount the kernel ends the connection and the workers stop at once.
        let stop_wait = Duration::from_secs(2);
        let outcome = if !ours {
            reap(session, stop_wait);
            Unmounted::External
        } else {
            let strict = mountpoint::unmount(dir, false);
            match strict {
                Ok(Umount::Done) | Ok(Umount::NotMounted) => {
                    reap(session, stop_wait);
                    Unmounted::Clean
                }
                Ok(Umount::Busy) | Err(_) => {
                    if let Err(e) = &strict {
                        log::warn!("unmount {}: {e}; detaching it lazily", dir.display());
                    }
                    match mountpoint::unmount(dir, true) {
                        Ok(_) => {
                            // The session lives on for the open files: never join it here.
                            reap(session, Duration::ZERO);
                            Unmounted::Lazy
                        }
                        Err(e) => {
                            // Keep the session (and the mount) running rather than leave a
                            // dead mount point behind.
                            self.session = Some(session);
                            return Err(Error::io(format!("unmount {}", dir.display()), e));
                        }
                    }
                }
            }
        };
        synced.map(|()| outcome)
    }
}

/// Waits up to `wait` for a session whose mount is gone to stop, then leaves the rest to a
/// background thread: a lazily detached mount keeps serving open files until they close, and
/// joining it here could block for as long as they stay open.
fn reap(session: BackgroundSession, wait: Duration) {
    let deadline = Instant::now() + wait;
    while !session.guard.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if session.guard.is_finished() {
        // Joining drops fuser's own mount handle, which checks the connection first and does
        // not unmount again once it is gone.
        if let Err(e) = session.join() {
            log::warn!("FUSE session ended with an error: {e}");
        }
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("blockseal-fuse-reap".into())
        .spawn(move || {
            while !session.guard.is_finished() {
                std::thread::sleep(Duration::from_millis(200));
            }
            let _ = session.join();
        });
    if let Err(e) = spawned {
        log::warn!("cannot start the thread that waits for the lazy unmount: {e}");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.session.is_some() {
            if let Err(e) = self.shutdown() {
                log::warn!("unmount {} on drop: {e}", self.dir.display());
            }
        }
    }
}

/// Mounts `devices` on `dir` and serves them until SIGINT, SIGTERM or SIGHUP, or until the
/// mount is unmounted from outside (`fusermount3 -u DIR`); then flushes and unmounts. For the
/// CLI's foreground mode.
///
/// # Errors
/// As [`Mount::spawn`] and [`Mount::unmount`]; I/O errors installing the signal handlers.
pub fn run_foreground(
    dir: &Path,
    devices: Vec<(String, Arc<dyn BlockDevice>)>,
    opts: MountOptions,
) -> Result<Unmounted> {
    let stop = Arc::new(AtomicBool::new(false));
    let ids: std::io::Result<Vec<_>> = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP]
        .into_iter()
        .map(|sig| signal_hook::flag::register(sig, stop.clone()))
        .collect();
    let result = match &ids {
        Ok(_) => Mount::spawn(dir, devices, opts).and_then(|mount| {
            mount.serve_until(&stop);
            mount.unmount()
        }),
        Err(e) => Err(Error::new(
            Code::INTERNAL_ERROR,
            format!("install signal handlers: {e}"),
        )),
    };
    // On a partial failure the handlers already installed stay (they only set a flag).
    for id in ids.into_iter().flatten() {
        signal_hook::low_level::unregister(id);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mount_can_be_shared_with_a_control_thread() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Mount>();
        send_sync::<MountOptions>();
    }

    #[test]
    fn bad_options_are_refused_before_mounting() {
        let dir = tempfile::tempdir().unwrap();
        for o in [
            MountOptions {
                threads: 0,
                ..MountOptions::default()
            },
            MountOptions {
                max_write: 1024,
                ..MountOptions::default()
            },
            MountOptions {
                max_write: 32 << 20,
                ..MountOptions::default()
            },
        ] {
            let e = Mount::spawn(dir.path(), vec![], o).unwrap_err();
            assert_eq!(e.code(), Code::INVALID_PARAMETER_VALUE);
        }
    }
}
