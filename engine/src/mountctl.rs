//! The control channel between commands and a running mount (DESIGN.md, "The FUSE front end").
//!
//! A mount of instance `i-…` listens on `HOME/mounts/i-….sock`. Operations that change what a
//! mount serves talk to it there, one JSON line per request and per reply:
//! `{"op":"attach","volume_id":…,"device":…}`, `{"op":"detach","device":…}`,
//! `{"op":"unmount"}`, and `{"op":"freeze","wait":true|false}`, which answers once writes are
//! frozen (with the lease, `"lease_ms"`) and holds them frozen until the requester sends
//! `{"op":"thaw"}`, goes away, or stops sending `{"op":"renew"}` within the lease — so a command
//! that dies or is stopped mid create-image never leaves a mount frozen for long.
//!
//! Nothing waits forever. Every request carries the wall-clock time its sender gives up
//! (`"expires_ms"`); a mount that reads it too late (it was stopped meanwhile) drops it unread
//! rather than act on a request whose sender already reported a failure. While a request runs,
//! the mount sends `{"working":true}` lines; a sender that hears nothing for the deadline
//! ([`deadline`], `BLOCKSEAL_MOUNT_TIMEOUT`) or gets no answer within [`MAX_CALL_DEADLINES`]
//! deadlines fails with `MountNotResponding`, having changed nothing on its side.
use crate::error::{bail, Code, Error, Result};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The environment variable that sets the control channel's deadline, in seconds (a decimal
/// number from 0.2 to 86400; default 10). Read once per process, here and nowhere else; a mount
/// started by `blockseal mount` inherits it from the command that starts it.
pub const TIMEOUT_ENV: &str = "BLOCKSEAL_MOUNT_TIMEOUT";

const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

/// A call that keeps hearing `{"working":true}` still gives up after this many deadlines (a
/// mount whose request is wedged while its heartbeat goes on): 120 s by default, twice what an
/// unmount may take to flush.
pub const MAX_CALL_DEADLINES: u32 = 12;

/// A request read later than this before its sender's deadline is dropped unread: the sender
/// must still hear the mount's first `{"working":true}` before it gives up.
const ADMIT_MARGIN: Duration = Duration::from_millis(200);

/// Requests this process's control connections have read and not yet answered.
static UNANSWERED: AtomicUsize = AtomicUsize::new(0);

/// Counts one request in [`UNANSWERED`] until it is answered or dropped.
struct Answering;

impl Answering {
    fn start() -> Answering {
        UNANSWERED.fetch_add(1, Ordering::SeqCst);
        Answering
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        UNANSWERED.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits until every request read on this process's control connections has its answer
/// written (or was dropped), for at most one [`deadline`]. A mount process calls it before it
/// ends: the answer to the unmount request that ended it is written by another thread, and a
/// process that exits first closes the connection under the requester, which then fails with
/// `InternalError` although the unmount happened (seen under load when the wait was a 50 ms
/// sleep).
pub fn wait_for_answers() {
    let until = Instant::now() + Timing::get().deadline;
    while UNANSWERED.load(Ordering::SeqCst) > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The deadlines of one side of the channel. Everything derives from one number, so a mount
/// and the commands talking to it agree as long as they share `BLOCKSEAL_MOUNT_TIMEOUT`; the
/// lease is the mount's own and is told to the holder with each freeze.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    /// How long a sender waits for a sign of life.
    pub(crate) deadline: Duration,
}

impl Timing {
    /// The process's timing, from [`TIMEOUT_ENV`].
    pub(crate) fn get() -> Timing {
        static TIMING: OnceLock<Timing> = OnceLock::new();
        *TIMING.get_or_init(|| Timing {
            deadline: std::env::var(TIMEOUT_ENV)
                .ok()
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && (0.2..=86_400.0).contains(s))
                .map_or(DEFAULT_DEADLINE, Duration::from_secs_f64),
        })
    }

    /// How long a freeze lasts without a renewal: half the deadline.
    fn lease(self) -> Duration {
        self.deadline / 2
    }

    /// The interval of a mount's `{"working":true}` lines while a request runs.
    fn heartbeat(self) -> Duration {
        self.deadline / 4
    }
}

/// How long a command waits for a mount's sign of life (a reply or a `{"working":true}` line)
/// before it fails with `MountNotResponding`: [`TIMEOUT_ENV`] seconds, 10 by default.
pub fn deadline() -> Duration {
    Timing::get().deadline
}

/// How long a mount keeps a volume frozen without hearing from the freeze's holder: half of
/// [`deadline`], 5 s by default. A live holder renews it three times per lease.
pub fn lease() -> Duration {
    Timing::get().lease()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn not_responding(instance_id: &str, what: &str, t: Timing) -> Error {
    Error::new(
        Code::MOUNT_NOT_RESPONDING,
        format!(
            "The mount of instance {instance_id} {what} within {} s; nothing was changed. Is \
             its process stopped or wedged? ({TIMEOUT_ENV} sets the deadline.)",
            t.deadline.as_secs_f64()
        ),
    )
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Why a freeze ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Thaw {
    /// The holder asked (`{"op":"thaw"}`).
    Asked,
    /// The holder's connection closed (it exited or was killed).
    HolderGone,
    /// The holder renewed nothing within the lease (it is stopped or wedged).
    LeaseExpired,
}

/// What a mount does when commands ask. Implemented by the mount front end.
pub trait MountControl: Send + Sync {
    /// Serve volume `volume_id` (just attached) as the file of `device`.
    fn attach(&self, volume_id: &str, device: &str) -> Result<()>;
    /// Flush and stop serving `device`; `ResourceBusy` while its file stays open.
    fn detach(&self, device: &str) -> Result<()>;
    /// Blocks new writes and syncs every device (after in-flight writes finish when `wait`),
    /// runs `while_frozen` (which returns when the freeze ends, and why), then lets writes
    /// resume.
    fn freeze(&self, wait: bool, while_frozen: &mut dyn FnMut() -> Thaw) -> Result<()>;
    /// Flush everything and unmount.
    fn unmount(&self) -> Result<()>;
}

fn mounts_dir(home: &Path) -> PathBuf {
    home.join("mounts")
}

/// The socket of a mount of `instance_id`.
pub fn socket_path(home: &Path, instance_id: &str) -> PathBuf {
    mounts_dir(home).join(format!("{instance_id}.sock"))
}

fn record_path(home: &Path, instance_id: &str) -> PathBuf {
    mounts_dir(home).join(format!("{instance_id}.json"))
}

/// The instance mounted at `dir` according to the mount records of `home`, if any.
pub fn instance_mounted_at(home: &Path, dir: &Path) -> Option<String> {
    // The parent is resolved, not `dir` itself: a lookup through a stopped mount's root would
    // wait for the stopped process.
    let dir = match (dir.parent(), dir.file_name()) {
        (Some(parent), Some(name)) => std::fs::canonicalize(if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        })
        .map(|p| p.join(name))
        .unwrap_or_else(|_| dir.to_owned()),
        _ => std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned()),
    };
    for e in std::fs::read_dir(mounts_dir(home)).ok()?.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") {
            let v: Value = serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?;
            if v["dir"].as_str().map(Path::new) == Some(dir.as_path()) {
                return v["instance_id"].as_str().map(str::to_owned);
            }
        }
    }
    None
}

/// The pid recorded by the mount of `instance_id`, if a record exists.
pub fn mount_pid(home: &Path, instance_id: &str) -> Option<u32> {
    let v: Value =
        serde_json::from_slice(&std::fs::read(record_path(home, instance_id)).ok()?).ok()?;
    v["pid"].as_u64().map(|p| p as u32)
}

/// A running control server; stops listening and removes its socket when dropped.
pub struct ControlServer {
    socket: PathBuf,
    record: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for ControlServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ControlServer({})", self.socket.display())
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_file(&self.record);
    }
}

/// Whether something listens on `socket` (a live mount, or a stopped one whose backlog is
/// full); never blocks.
pub fn is_listening(socket: &Path) -> bool {
    use rustix::io::Errno;
    match try_connect(socket) {
        Ok(_) | Err(Errno::AGAIN) => true,
        Err(_) => false,
    }
}

/// One non-blocking connection attempt (a stopped mount's full backlog answers `EAGAIN` at
/// once instead of blocking).
fn try_connect(socket: &Path) -> rustix::io::Result<UnixStream> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let addr = SocketAddrUnix::new(socket)?;
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    rustix::net::connect(&fd, &addr)?;
    let conn = UnixStream::from(fd);
    conn.set_nonblocking(false)
        .map_err(|e| rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::IO))?;
    Ok(conn)
}

/// Starts the control server of a mount of `instance_id` at `dir`.
///
/// # Errors
/// `ResourceBusy` when another live mount of the instance answers on the socket; I/O errors.
pub fn serve(
    home: &Path,
    instance_id: &str,
    dir: &Path,
    ctl: Arc<dyn MountControl>,
) -> Result<ControlServer> {
    serve_with(home, instance_id, dir, ctl, Timing::get())
}

pub(crate) fn serve_with(
    home: &Path,
    instance_id: &str,
    dir: &Path,
    ctl: Arc<dyn MountControl>,
    timing: Timing,
) -> Result<ControlServer> {
    let md = mounts_dir(home);
    std::fs::create_dir_all(&md).map_err(|e| Error::io(format!("create {}", md.display()), e))?;
    let socket = socket_path(home, instance_id);
    if is_listening(&socket) {
        bail!(
            Code::RESOURCE_BUSY,
            "Instance {instance_id} is already mounted (its mount answers on {})",
            socket.display()
        );
    }
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)
        .map_err(|e| Error::io(format!("listen on {}", socket.display()), e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io("set the control socket non-blocking", e))?;
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let record = record_path(home, instance_id);
    let rec = json!({"instance_id": instance_id, "dir": dir, "pid": std::process::id()});
    std::fs::write(&record, rec.to_string())
        .map_err(|e| Error::io(format!("write {}", record.display()), e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name("blockseal-mountctl".into())
        .spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let ctl = ctl.clone();
                        let _ = std::thread::Builder::new()
                            .name("blockseal-mountctl-conn".into())
                            .spawn(move || handle(conn, ctl.as_ref(), timing));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })
        .map_err(|e| Error::io("start the control thread", e))?;
    Ok(ControlServer {
        socket,
        record,
        stop,
        thread: Some(thread),
    })
}

/// The writing half of a control connection, shared by a request and its heartbeat.
type Writer = Arc<Mutex<UnixStream>>;

fn send(w: &Writer, v: &Value) -> std::io::Result<()> {
    let mut conn = w.lock().unwrap_or_else(PoisonError::into_inner);
    writeln!(conn, "{v}")
}

fn reply(w: &Writer, r: Result<()>) -> std::io::Result<()> {
    let v = match r {
        Ok(()) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "code": e.code().as_str(), "message": e.message()}),
    };
    send(w, &v)
}

/// A stop flag with a condition variable, to wake a sleeping helper thread at once.
#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    fn set(&self) {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.cv.notify_all();
    }

    /// Sleeps `d` or until stopped; true when stopped.
    fn sleep(&self, d: Duration) -> bool {
        let g = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        let (g, _) = self
            .cv
            .wait_timeout_while(g, d, |s| !*s)
            .unwrap_or_else(PoisonError::into_inner);
        *g
    }
}

/// `{"working":true}` lines while a request runs, so its sender tells a busy mount (a long
/// flush) from a stopped one. The first goes out at once.
struct Heartbeat {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    fn start(w: &Writer, every: Duration) -> Heartbeat {
        let stop = Arc::new(Stop::default());
        let working = json!({"working": true});
        let first = send(w, &working);
        let thread = first.ok().and_then(|()| {
            let (w, stop) = (w.clone(), stop.clone());
            std::thread::Builder::new()
                .name("blockseal-mountctl-beat".into())
                .spawn(
                    move || {
                        while !stop.sleep(every) && send(&w, &working).is_ok() {}
                    },
                )
                .ok()
        });
        Heartbeat { stop, thread }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.set();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn handle(conn: UnixStream, ctl: &dyn MountControl, t: Timing) {
    let _ = conn.set_nonblocking(false);
    // A holder that stops reading cannot wedge this thread either.
    let _ = conn.set_write_timeout(Some(t.deadline));
    let Ok(w) = conn.try_clone() else {
        return;
    };
    let writer: Writer = Arc::new(Mutex::new(w));
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    loop {
        // A sender writes its request as soon as it connects; a silent connection is dropped.
        if reader.get_ref().set_read_timeout(Some(t.deadline)).is_err() {
            return;
        }
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let Ok(req) = serde_json::from_str::<Value>(&line) else {
            return;
        };
        // Read too late (this process was stopped): its sender has reported a failure and
        // changed nothing, so acting now would make its world and ours disagree.
        if let Some(expires) = req["expires_ms"].as_u64() {
            if now_ms() + ADMIT_MARGIN.as_millis() as u64 > expires {
                return;
            }
        }
        let _answering = Answering::start();
        let mut beat = Some(Heartbeat::start(&writer, t.heartbeat()));
        let s = |k: &str| req[k].as_str().unwrap_or_default().to_owned();
        let r = match req["op"].as_str() {
            Some("attach") => ctl.attach(&s("volume_id"), &s("device")),
            Some("detach") => ctl.detach(&s("device")),
            Some("unmount") => ctl.unmount(),
            Some("freeze") => {
                let mut ended = None;
                let lease = t.lease();
                let r = ctl.freeze(req["wait"].as_bool().unwrap_or(true), &mut || {
                    drop(beat.take());
                    let frozen = json!({"ok": true, "lease_ms": lease.as_millis() as u64});
                    let why = match send(&writer, &frozen) {
                        Ok(()) => hold(&mut reader, &writer, lease),
                        Err(_) => Thaw::HolderGone,
                    };
                    ended = Some(why);
                    why
                });
                match ended {
                    // Not frozen (a sync failed), or thawed on request: answer.
                    None | Some(Thaw::Asked) => r,
                    Some(Thaw::HolderGone) => return,
                    Some(Thaw::LeaseExpired) => {
                        let e = Error::new(
                            Code::MOUNT_NOT_RESPONDING,
                            format!(
                                "the freeze was not renewed within its {} s lease; writes \
                                 resumed",
                                lease.as_secs_f64()
                            ),
                        );
                        let _ = reply(&writer, Err(e));
                        return;
                    }
                }
            }
            _ => Err(Error::new(
                Code::INVALID_ACTION,
                format!("unknown mount request: {}", line.trim_end()),
            )),
        };
        drop(beat);
        if reply(&writer, r).is_err() {
            return;
        }
    }
}

/// Holds a freeze while its holder renews it: until `{"op":"thaw"}` (or any other request),
/// the connection's end, or a lease without a renewal.
fn hold(reader: &mut BufReader<UnixStream>, writer: &Writer, lease: Duration) -> Thaw {
    let mut until = Instant::now() + lease;
    let mut line = String::new();
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Thaw::LeaseExpired;
        }
        if reader.get_ref().set_read_timeout(Some(left)).is_err() {
            return Thaw::HolderGone;
        }
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return Thaw::HolderGone,
            Err(e) if is_timeout(&e) => return Thaw::LeaseExpired,
            Err(_) => return Thaw::HolderGone,
            Ok(_) => {}
        }
        let req = serde_json::from_str::<Value>(&line).unwrap_or(Value::Null);
        if req["op"] != "renew" {
            return Thaw::Asked;
        }
        until = Instant::now() + lease;
        if send(writer, &json!({"ok": true})).is_err() {
            return Thaw::HolderGone;
        }
    }
}

/// A connection to a running mount.
pub(crate) struct Client {
    conn: UnixStream,
    reader: BufReader<UnixStream>,
    instance_id: String,
    timing: Timing,
}

impl Client {
    /// Connects to the mount of `instance_id`; `None` when it is not mounted.
    ///
    /// # Errors
    /// `MountNotResponding` when a mount listens but accepts no connection within the deadline.
    pub(crate) fn connect(home: &Path, instance_id: &str) -> Result<Option<Client>> {
        Self::connect_with(home, instance_id, Timing::get())
    }

    fn connect_with(home: &Path, instance_id: &str, timing: Timing) -> Result<Option<Client>> {
        use rustix::io::Errno;
        let socket = socket_path(home, instance_id);
        let until = Instant::now() + timing.deadline;
        let conn = loop {
            match try_connect(&socket) {
                Ok(c) => break c,
                // A listener whose backlog is full: its process is not accepting.
                Err(Errno::AGAIN) | Err(Errno::INTR) if Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(Errno::AGAIN) | Err(Errno::INTR) => {
                    return Err(not_responding(
                        instance_id,
                        "accepted no connection",
                        timing,
                    ))
                }
                // No socket, or one nobody listens on (a mount killed with SIGKILL).
                Err(_) => return Ok(None),
            }
        };
        let io = |e| Error::io(format!("connect to the mount of {instance_id}"), e);
        conn.set_read_timeout(Some(timing.deadline)).map_err(io)?;
        conn.set_write_timeout(Some(timing.deadline)).map_err(io)?;
        let reader = BufReader::new(conn.try_clone().map_err(io)?);
        Ok(Some(Client {
            conn,
            reader,
            instance_id: instance_id.to_owned(),
            timing,
        }))
    }

    /// Sends one request and waits for its reply, which it returns.
    ///
    /// # Errors
    /// The mount's refusal; `MountNotResponding` when it shows no sign of life within the
    /// deadline, or does not finish within [`MAX_CALL_DEADLINES`] deadlines.
    pub(crate) fn call(&mut self, mut req: Value) -> Result<Value> {
        let t = self.timing;
        let id = self.instance_id.clone();
        let io = |e: std::io::Error| {
            if is_timeout(&e) {
                not_responding(&id, "did not answer", t)
            } else {
                Error::io(format!("talk to the mount of {id}"), e)
            }
        };
        req["expires_ms"] = json!(now_ms() + t.deadline.as_millis() as u64);
        writeln!(self.conn, "{req}").map_err(io)?;
        let started = Instant::now();
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line).map_err(io)? == 0 {
                bail!(
                    Code::INTERNAL_ERROR,
                    "the mount of {id} closed the control connection"
                );
            }
            let v: Value = serde_json::from_str(&line).map_err(|_| {
                Error::new(
                    Code::INTERNAL_ERROR,
                    format!("the mount of {id} answered garbage: {}", line.trim_end()),
                )
            })?;
            if v["working"] == true {
                if started.elapsed() >= t.deadline * MAX_CALL_DEADLINES {
                    return Err(not_responding(&id, "did not finish the request", t));
                }
                continue;
            }
            if v["ok"] == true {
                return Ok(v);
            }
            let code = v["code"]
                .as_str()
                .and_then(Code::from_name)
                .unwrap_or(Code::INTERNAL_ERROR);
            return Err(Error::new(
                code,
                v["message"]
                    .as_str()
                    .unwrap_or("the mount refused the request")
                    .to_owned(),
            ));
        }
    }
}

/// Writes of a mounted instance, frozen until this is dropped or released.
///
/// The freeze is a lease: a thread owned by this guard renews it (three times per lease, see
/// [`lease`]) for as long as the guard lives, so a copy of any length holds the volume still,
/// while a holder that is stopped or wedged stops renewing and the mount thaws by itself.
/// Dropping the guard closes the connection, which thaws at once.
pub struct Frozen(Option<Holder>);

struct Holder {
    client: Arc<Mutex<Client>>,
    stop: Arc<Stop>,
    /// Why renewing failed, if it did.
    lapsed: Arc<Mutex<Option<Error>>>,
    renewer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Frozen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Frozen(not mounted)"),
            Some(h) => {
                let c = h.client.lock().unwrap_or_else(PoisonError::into_inner);
                write!(f, "Frozen({})", c.instance_id)
            }
        }
    }
}

impl Holder {
    fn start(client: Client, lease: Duration) -> Holder {
        let client = Arc::new(Mutex::new(client));
        let stop = Arc::new(Stop::default());
        let lapsed = Arc::new(Mutex::new(None));
        let every = (lease / 3).max(Duration::from_millis(10));
        let renewer = {
            let (client, stop, lapsed) = (client.clone(), stop.clone(), lapsed.clone());
            std::thread::Builder::new()
                .name("blockseal-freeze-renew".into())
                .spawn(move || {
                    while !stop.sleep(every) {
                        let r = client
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .call(json!({"op": "renew"}));
                        if let Err(e) = r {
                            *lapsed.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                            return;
                        }
                    }
                })
        };
        let renewer = match renewer {
            Ok(t) => Some(t),
            Err(e) => {
                let e = Error::io("start the thread that renews a freeze", e);
                *lapsed.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                None
            }
        };
        Holder {
            client,
            stop,
            lapsed,
            renewer,
        }
    }

    fn stop_renewing(&mut self) {
        self.stop.set();
        if let Some(t) = self.renewer.take() {
            let _ = t.join();
        }
    }
}

impl Frozen {
    /// Thaws, and tells whether the freeze held until now (every renewal answered, the
    /// thaw accepted): only then was the volume unchanged since the freeze.
    ///
    /// # Errors
    /// `MountNotResponding` (or the mount's own error) when the freeze lapsed — the mount
    /// stopped answering, went away, or thawed because a renewal came too late.
    pub fn release(mut self) -> Result<()> {
        let Some(mut h) = self.0.take() else {
            return Ok(());
        };
        h.stop_renewing();
        let lapsed = h
            .lapsed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let mut client = h.client.lock().unwrap_or_else(PoisonError::into_inner);
        let r = match lapsed {
            Some(e) => Err(e),
            None => client.call(json!({"op": "thaw"})).map(drop),
        };
        r.map_err(|e| {
            Error::new(
                Code::MOUNT_NOT_RESPONDING,
                format!(
                    "The freeze of instance {}'s writes ended before the copy was made ({}); \
                     a copy now would not be one point in time",
                    client.instance_id,
                    e.message()
                ),
            )
        })
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if let Some(mut h) = self.0.take() {
            // Closing the connection thaws the mount.
            h.stop_renewing();
        }
    }
}

/// Freezes the writes of the mount of `instance_id`, if it is mounted (after writes in flight
/// finish when `wait`), until the returned guard is dropped or released.
///
/// # Errors
/// The mount's refusal (a sync failed); `MountNotResponding` when it does not answer within
/// [`deadline`].
pub fn freeze(home: &Path, instance_id: &str, wait: bool) -> Result<Frozen> {
    freeze_with(home, instance_id, wait, Timing::get())
}

fn freeze_with(home: &Path, instance_id: &str, wait: bool, timing: Timing) -> Result<Frozen> {
    match Client::connect_with(home, instance_id, timing)? {
        None => Ok(Frozen(None)),
        Some(mut c) => {
            let v = c.call(json!({"op": "freeze", "wait": wait}))?;
            let lease = v["lease_ms"]
                .as_u64()
                .map_or(timing.lease(), Duration::from_millis);
            Ok(Frozen(Some(Holder::start(c, lease))))
        }
    }
}

/// Sends `req` to the mount of `instance_id`, if it is mounted.
pub(crate) fn notify(home: &Path, instance_id: &str, req: Value) -> Result<()> {
    match Client::connect(home, instance_id)? {
        None => Ok(()),
        Some(mut c) => c.call(req).map(drop),
    }
}

/// Asks the mount of `instance_id` to flush and unmount; `Ok(false)` when nothing answers.
///
/// # Errors
/// The mount's refusal; `MountNotResponding` when it does not answer within [`deadline`].
pub fn request_unmount(home: &Path, instance_id: &str) -> Result<bool> {
    match Client::connect(home, instance_id)? {
        None => Ok(false),
        Some(mut c) => c.call(json!({"op": "unmount"})).map(|_| true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Short deadlines, so the failure cases run in well under a second each.
    const T: Timing = Timing {
        deadline: Duration::from_millis(400),
    };

    #[derive(Default)]
    struct Fake {
        calls: AtomicUsize,
        slow: Mutex<Duration>,
        frozen: AtomicBool,
        thawed: Mutex<Option<Thaw>>,
    }

    impl MountControl for Fake {
        fn attach(&self, _: &str, _: &str) -> Result<()> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(*self.slow.lock().unwrap());
            Ok(())
        }
        fn detach(&self, _: &str) -> Result<()> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn freeze(&self, _: bool, while_frozen: &mut dyn FnMut() -> Thaw) -> Result<()> {
            self.frozen.store(true, Ordering::SeqCst);
            let why = while_frozen();
            self.frozen.store(false, Ordering::SeqCst);
            *self.thawed.lock().unwrap() = Some(why);
            Ok(())
        }
        fn unmount(&self) -> Result<()> {
            Ok(())
        }
    }

    fn served() -> (tempfile::TempDir, Arc<Fake>, ControlServer) {
        served_with(T)
    }

    fn served_with(t: Timing) -> (tempfile::TempDir, Arc<Fake>, ControlServer) {
        let home = tempfile::tempdir().unwrap();
        let fake = Arc::new(Fake::default());
        let server = serve_with(home.path(), "i-1", home.path(), fake.clone(), t).unwrap();
        (home, fake, server)
    }

    fn attach() -> Value {
        json!({"op": "attach", "volume_id": "vol-1", "device": "/dev/sdf"})
    }

    fn wait_for(what: &str, cond: impl Fn() -> bool) {
        let until = Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(Instant::now() < until, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_mount_that_does_not_answer_fails_the_call_within_the_deadline() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(mounts_dir(home.path())).unwrap();
        // Listening but never accepting: a stopped mount process.
        let _listener = UnixListener::bind(socket_path(home.path(), "i-1")).unwrap();
        let started = Instant::now();
        let mut c = Client::connect_with(home.path(), "i-1", T)
            .unwrap()
            .expect("a listener answers");
        let e = c.call(attach()).unwrap_err();
        assert_eq!(e.code(), Code::MOUNT_NOT_RESPONDING, "{e:?}");
        assert!(e.message().contains("i-1"), "{e:?}");
        assert!(started.elapsed() < T.deadline * 3);
    }

    #[test]
    fn no_mount_is_not_an_error() {
        let home = tempfile::tempdir().unwrap();
        assert!(Client::connect_with(home.path(), "i-1", T)
            .unwrap()
            .is_none());
        // A socket left by a killed mount: nobody listens.
        std::fs::create_dir_all(mounts_dir(home.path())).unwrap();
        drop(UnixListener::bind(socket_path(home.path(), "i-1")).unwrap());
        assert!(Client::connect_with(home.path(), "i-1", T)
            .unwrap()
            .is_none());
        assert!(!is_listening(&socket_path(home.path(), "i-1")));
    }

    #[test]
    fn a_request_read_after_its_sender_gave_up_is_dropped_unread() {
        let (home, fake, _server) = served();
        let mut raw = UnixStream::connect(socket_path(home.path(), "i-1")).unwrap();
        let mut stale = attach();
        stale["expires_ms"] = json!(now_ms() - 1000);
        writeln!(raw, "{stale}").unwrap();
        let mut answer = String::new();
        BufReader::new(&raw).read_line(&mut answer).unwrap();
        assert_eq!(answer, "", "a stale request was answered");
        assert_eq!(fake.calls.load(Ordering::SeqCst), 0);
        // A request in time is served.
        let mut c = Client::connect_with(home.path(), "i-1", T)
            .unwrap()
            .unwrap();
        c.call(attach()).unwrap();
        assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_slow_request_is_kept_alive_by_the_heartbeat() {
        let (home, fake, _server) = served();
        *fake.slow.lock().unwrap() = T.deadline * 3;
        let mut c = Client::connect_with(home.path(), "i-1", T)
            .unwrap()
            .unwrap();
        c.call(attach()).unwrap();
    }

    #[test]
    fn a_live_holder_keeps_a_freeze_past_its_lease() {
        // A lease long enough that a renewal delayed by a loaded machine (a third of a lease
        // late) still arrives within it; the freeze must outlive three leases.
        let t = Timing {
            deadline: Duration::from_secs(2),
        };
        let (home, fake, _server) = served_with(t);
        let f = freeze_with(home.path(), "i-1", true, t).unwrap();
        assert!(fake.frozen.load(Ordering::SeqCst));
        std::thread::sleep(t.lease() * 3);
        assert!(
            fake.frozen.load(Ordering::SeqCst),
            "the renewed freeze lapsed"
        );
        f.release().unwrap();
        wait_for("the thaw", || {
            *fake.thawed.lock().unwrap() == Some(Thaw::Asked)
        });
    }

    #[test]
    fn a_holder_that_goes_away_thaws_at_once() {
        let (home, fake, _server) = served();
        let f = freeze_with(home.path(), "i-1", false, T).unwrap();
        assert!(fake.frozen.load(Ordering::SeqCst));
        drop(f);
        wait_for("the thaw", || {
            *fake.thawed.lock().unwrap() == Some(Thaw::HolderGone)
        });
    }

    #[test]
    fn a_holder_that_stops_renewing_loses_the_freeze_and_learns_it() {
        let (home, fake, _server) = served();
        // A raw holder that never renews.
        let raw = UnixStream::connect(socket_path(home.path(), "i-1")).unwrap();
        let mut lines = BufReader::new(raw.try_clone().unwrap()).lines();
        writeln!(&raw, "{}", json!({"op": "freeze", "wait": true})).unwrap();
        let frozen: Value = loop {
            let v: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
            if v["working"] != true {
                break v;
            }
        };
        assert_eq!(frozen["ok"], true);
        assert_eq!(frozen["lease_ms"], T.lease().as_millis() as u64);
        wait_for("the lease to expire", || {
            *fake.thawed.lock().unwrap() == Some(Thaw::LeaseExpired)
        });
        assert!(!fake.frozen.load(Ordering::SeqCst));
        let why: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert_eq!(why["code"], "MountNotResponding");

        // A guard whose renewals stall (its connection is busy elsewhere) hears of it.
        let f = freeze_with(home.path(), "i-1", true, T).unwrap();
        {
            let h = f.0.as_ref().unwrap();
            let _stalled = h.client.lock().unwrap();
            std::thread::sleep(T.lease() * 3);
        }
        let e = f.release().unwrap_err();
        assert_eq!(e.code(), Code::MOUNT_NOT_RESPONDING, "{e:?}");
    }

    #[test]
    fn the_deadline_has_a_sane_default() {
        // The test process does not set BLOCKSEAL_MOUNT_TIMEOUT.
        if std::env::var_os(TIMEOUT_ENV).is_none() {
            assert_eq!(deadline(), Duration::from_secs(10));
            assert_eq!(lease(), Duration::from_secs(5));
        }
    }
}
