//! The control channel between commands and a running mount (DESIGN.md, "The FUSE front end").
//!
//! A mount of instance `i-…` listens on `HOME/mounts/i-….sock`. Operations that change what a
//! mount serves talk to it there, one JSON line per request and per reply:
//! `{"op":"attach","volume_id":…,"device":…}`, `{"op":"detach","device":…}`,
//! `{"op":"unmount"}`, and `{"op":"freeze","wait":true|false}`, which answers once writes are
//! frozen and holds them frozen until the requester sends `{"op":"thaw"}` or goes away — so a
//! command that dies mid create-image never leaves a mount frozen.

use crate::error::{bail, Code, Error, Result};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a mount does when commands ask. Implemented by the mount front end.
pub trait MountControl: Send + Sync {
    /// Serve volume `volume_id` (just attached) as the file of `device`.
    fn attach(&self, volume_id: &str, device: &str) -> Result<()>;
    /// Flush and stop serving `device`; `ResourceBusy` while its file stays open.
    fn detach(&self, device: &str) -> Result<()>;
    /// Blocks new writes and syncs every device (after in-flight writes finish when `wait`),
    /// runs `while_frozen`, then lets writes resume.
    fn freeze(&self, wait: bool, while_frozen: &mut dyn FnMut()) -> Result<()>;
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
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
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
    let md = mounts_dir(home);
    std::fs::create_dir_all(&md).map_err(|e| Error::io(format!("create {}", md.display()), e))?;
    let socket = socket_path(home, instance_id);
    if UnixStream::connect(&socket).is_ok() {
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
                            .spawn(move || handle(conn, ctl.as_ref()));
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

fn reply(conn: &mut UnixStream, r: Result<()>) -> std::io::Result<()> {
    let v = match r {
        Ok(()) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "code": e.code().as_str(), "message": e.message()}),
    };
    writeln!(conn, "{v}")
}

fn handle(conn: UnixStream, ctl: &dyn MountControl) {
    let _ = conn.set_nonblocking(false);
    let Ok(mut writer) = conn.try_clone() else {
        return;
    };
    let mut lines = BufReader::new(conn).lines();
    while let Some(Ok(line)) = lines.next() {
        let Ok(req) = serde_json::from_str::<Value>(&line) else {
            return;
        };
        let s = |k: &str| req[k].as_str().unwrap_or_default().to_owned();
        let r = match req["op"].as_str() {
            Some("attach") => ctl.attach(&s("volume_id"), &s("device")),
            Some("detach") => ctl.detach(&s("device")),
            Some("unmount") => ctl.unmount(),
            Some("freeze") => {
                let mut frozen = false;
                let r = ctl.freeze(req["wait"].as_bool().unwrap_or(true), &mut || {
                    frozen = reply(&mut writer, Ok(())).is_ok();
                    if frozen {
                        // Held until "thaw" or the requester goes away.
                        let _ = lines.next();
                    }
                });
                if frozen {
                    Ok(())
                } else {
                    r
                }
            }
            _ => Err(Error::new(
                Code::INVALID_ACTION,
                format!("unknown mount request: {line}"),
            )),
        };
        if reply(&mut writer, r).is_err() {
            return;
        }
    }
}

/// A connection to a running mount.
pub(crate) struct Client {
    conn: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Client {
    /// Connects to the mount of `instance_id`; `None` when it is not mounted.
    pub(crate) fn connect(home: &Path, instance_id: &str) -> Option<Client> {
        let conn = UnixStream::connect(socket_path(home, instance_id)).ok()?;
        let reader = BufReader::new(conn.try_clone().ok()?);
        Some(Client { conn, reader })
    }

    /// Sends one request and waits for its reply.
    pub(crate) fn call(&mut self, req: Value) -> Result<()> {
        let io = |e: std::io::Error| Error::io("talk to the mount", e);
        writeln!(self.conn, "{req}").map_err(io)?;
        let mut line = String::new();
        self.reader.read_line(&mut line).map_err(io)?;
        let v: Value = serde_json::from_str(&line).map_err(|_| {
            Error::new(
                Code::INTERNAL_ERROR,
                "the mount closed the control connection",
            )
        })?;
        if v["ok"] == true {
            return Ok(());
        }
        let code = v["code"]
            .as_str()
            .and_then(Code::from_name)
            .unwrap_or(Code::INTERNAL_ERROR);
        Err(Error::new(
            code,
            v["message"]
                .as_str()
                .unwrap_or("the mount refused the request")
                .to_owned(),
        ))
    }
}

/// Writes of a mounted instance, frozen until this is dropped.
pub(crate) struct Frozen(#[allow(dead_code)] Option<Client>);

/// Freezes the mount of `instance_id`, if it is mounted.
pub(crate) fn freeze(home: &Path, instance_id: &str, wait: bool) -> Result<Frozen> {
    match Client::connect(home, instance_id) {
        None => Ok(Frozen(None)),
        Some(mut c) => {
            c.call(json!({"op": "freeze", "wait": wait}))?;
            Ok(Frozen(Some(c)))
        }
    }
}

/// Sends `req` to the mount of `instance_id`, if it is mounted.
pub(crate) fn notify(home: &Path, instance_id: &str, req: Value) -> Result<()> {
    match Client::connect(home, instance_id) {
        None => Ok(()),
        Some(mut c) => c.call(req),
    }
}

/// Asks the mount of `instance_id` to flush and unmount; `Ok(false)` when nothing answers.
///
/// # Errors
/// The mount's refusal.
pub fn request_unmount(home: &Path, instance_id: &str) -> Result<bool> {
    match Client::connect(home, instance_id) {
        None => Ok(false),
        Some(mut c) => c.call(json!({"op": "unmount"})).map(|()| true),
    }
}
