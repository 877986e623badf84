//! The mount point itself: checking it before a mount (and cleaning a stale one left by a
//! server that died), and unmounting it afterwards, strictly or lazily.
//!
//! Root uses `umount2(2)` directly; other users go through the setuid `fusermount3`, as
//! libfuse does. Nothing here touches FUSE requests or devices.

use blockseal_engine::{Code, Error, Result};
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How an unmount went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Umount {
    /// The file system is gone from the mount table.
    Done,
    /// Refused: files on it are still open (EBUSY).
    Busy,
    /// Nothing was mounted there.
    NotMounted,
}

/// The absolute form of `dir` without resolving the last component, which may be a stale mount
/// that cannot be stat'ed.
fn absolute(dir: &Path) -> Result<PathBuf> {
    let cwd_err = |e| Error::io("resolve the current directory", e);
    let abs = if dir.is_absolute() {
        dir.to_owned()
    } else {
        std::env::current_dir().map_err(cwd_err)?.join(dir)
    };
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => match parent.canonicalize() {
            Ok(p) => Ok(p.join(name)),
            Err(e) => Err(Error::io(format!("resolve {}", parent.display()), e)),
        },
        _ => Ok(abs),
    }
}

/// Checks `dir` before mounting on it and returns its absolute path.
///
/// A stale FUSE mount ("Transport endpoint is not connected", left when a server is killed
/// with SIGKILL) is detached lazily so the new mount can take its place. A live FUSE mount
/// is refused: mounting over it would hide it.
///
/// Then the checks every mount point gets (`blockseal_engine::check_mount_point`): not on a
/// pseudo file system, not `home` or inside it, and empty unless `allow_non_empty`.
///
/// # Errors
/// `InvalidParameterValue` if `dir` is missing, not a directory, already a live FUSE mount
/// point, on a pseudo file system, inside `home`, or not empty (unless `allow_non_empty`);
/// `InternalError` if a stale mount cannot be detached (the message says how to do it by
/// hand).
pub(crate) fn prepare(dir: &Path, home: Option<&Path>, allow_non_empty: bool) -> Result<PathBuf> {
    let abs = absolute(dir)?;
    let shown = abs.display();
    // statfs always reaches the file system's server, where stat may be answered from the
    // kernel's attribute cache for a while after the server died.
    if let Err(nix::errno::Errno::ENOTCONN) = nix::sys::statvfs::statvfs(&abs) {
        detach_stale(&abs)?;
    }
    match std::fs::metadata(&abs) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::new(
                Code::INVALID_PARAMETER_VALUE,
                format!("mount point {shown} does not exist"),
            ))
        }
        Err(e) => return Err(Error::io(format!("stat mount point {shown}"), e)),
        Ok(m) if !m.is_dir() => {
            return Err(Error::new(
                Code::INVALID_PARAMETER_VALUE,
                format!("mount point {shown} is not a directory"),
            ))
        }
        Ok(_) => {}
    }
    let canonical = abs
        .canonicalize()
        .map_err(|e| Error::io(format!("resolve {shown}"), e))?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if let Some(fstype) = fuse_mount_at(&info, &canonical) {
        return Err(Error::new(
            Code::INVALID_PARAMETER_VALUE,
            format!(
                "{shown} is already a mount point ({fstype}); unmount it first with \
                 `blockseal umount {shown}` or `fusermount3 -u {shown}`"
            ),
        ));
    }
    blockseal_engine::check_mount_point(&canonical, home, allow_non_empty)?;
    Ok(canonical)
}

/// Detaches the stale FUSE mount at `abs`, or explains how to do it by hand.
fn detach_stale(abs: &Path) -> Result<()> {
    let shown = abs.display();
    log::warn!("{shown} is a stale FUSE mount (its server died): detaching it");
    let how = format!(
        "{shown} is a stale FUSE mount (its server died); clean it up with \
         `fusermount3 -u -z {shown}` (or `umount -l {shown}` as root) and retry"
    );
    match unmount(abs, true) {
        Ok(Umount::Done) | Ok(Umount::NotMounted) => {}
        Ok(Umount::Busy) => return Err(Error::new(Code::INTERNAL_ERROR, how)),
        Err(e) => return Err(Error::new(Code::INTERNAL_ERROR, how).with_source(e)),
    }
    match nix::sys::statvfs::statvfs(abs) {
        Err(nix::errno::Errno::ENOTCONN) => Err(Error::new(Code::INTERNAL_ERROR, how)),
        _ => Ok(()),
    }
}

/// The type of the FUSE file system mounted exactly at `path` (the last such mount), if any,
/// from the text of `/proc/self/mountinfo`.
pub(crate) fn fuse_mount_at(mountinfo: &str, path: &Path) -> Option<String> {
    let want = path.as_os_str().as_encoded_bytes();
    let mut found = None;
    for line in mountinfo.lines() {
        // Fields: id parent major:minor root mount-point options [optional...] - type source ...
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = left.split(' ').nth(4) else {
            continue;
        };
        let Some(fstype) = right.split(' ').next() else {
            continue;
        };
        let is_fuse = fstype == "fuse" || fstype == "fuseblk" || fstype.starts_with("fuse.");
        if is_fuse && unescape(mount_point) == want {
            found = Some(fstype.to_owned());
        }
    }
    found
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\134` for a backslash, ...).
fn unescape(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                let v = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                out.push(v as u8);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Mounts a FUSE file system on `dir` with `mount(2)` and returns its /dev/fuse descriptor,
/// for `fuser::Session::from_fd`. Doing this here rather than in fuser keeps the unmount in
/// our hands: fuser's own mount handle unmounts the *path* when dropped, which would take
/// down a newer mount on the same directory once a lazily detached session finally ends.
///
/// # Errors
/// `EPERM` without `CAP_SYS_ADMIN` (the caller then falls back to fuser and `fusermount3`);
/// other errors from opening /dev/fuse or mounting.
pub(crate) fn mount_fuse(dir: &Path, read_only: bool, allow_other: bool) -> io::Result<File> {
    use nix::mount::{mount, MsFlags};
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::io::AsRawFd;
    // Opened close-on-exec, so no child process keeps the connection alive after we die.
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")?;
    let root_mode = std::fs::metadata(dir)?.mode() & libc::S_IFMT;
    let mut data = format!(
        "fd={},rootmode={root_mode:o},user_id={},group_id={},default_permissions",
        dev.as_raw_fd(),
        nix::unistd::geteuid(),
        nix::unistd::getegid()
    );
    if allow_other {
        data.push_str(",allow_other");
    }
    let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    flags |= MsFlags::MS_NOATIME;
    if read_only {
        flags |= MsFlags::MS_RDONLY;
    }
    mount(
        Some("blockseal"),
        dir,
        Some("fuse.blockseal"),
        flags,
        Some(data.as_str()),
    )?;
    Ok(dev)
}

/// Unmounts `path`; `lazy` detaches it even while files on it are open (`MNT_DETACH`): the
/// mount leaves the namespace at once and the file system lives on until the last of them is
/// closed.
///
/// # Errors
/// Failures other than busy or not mounted (e.g. `fusermount3` missing for a non-root user).
pub(crate) fn unmount(path: &Path, lazy: bool) -> io::Result<Umount> {
    use nix::errno::Errno;
    use nix::mount::{umount2, MntFlags};
    let flags = if lazy {
        MntFlags::MNT_DETACH
    } else {
        MntFlags::empty()
    };
    match umount2(path, flags) {
        Ok(()) => Ok(Umount::Done),
        Err(Errno::EBUSY) => Ok(Umount::Busy),
        Err(Errno::EINVAL) | Err(Errno::ENOENT) => Ok(Umount::NotMounted),
        // Only root may unmount directly; others use the setuid helper, like libfuse.
        Err(Errno::EPERM) => fusermount_unmount(path, lazy),
        Err(e) => Err(e.into()),
    }
}

fn fusermount_unmount(path: &Path, lazy: bool) -> io::Result<Umount> {
    let mut cmd = Command::new("fusermount3");
    cmd.arg("-u");
    if lazy {
        cmd.arg("-z");
    }
    let out = cmd.arg("--").arg(OsStr::new(path)).output()?;
    if out.status.success() {
        return Ok(Umount::Done);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("busy") {
        Ok(Umount::Busy)
    } else if stderr.contains("not found") || stderr.contains("not mounted") {
        Ok(Umount::NotMounted)
    } else {
        Err(io::Error::other(format!(
            "fusermount3 -u {}: {}",
            path.display(),
            stderr.trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
25 1 0:23 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs tmpfs rw
90 25 0:60 / /dev/shm/mnt\\040a rw,nosuid,nodev,relatime shared:50 - fuse.blockseal blockseal rw
91 25 0:61 / /dev/shm/b rw,nosuid,nodev,relatime - fuse /dev/fuse rw,user_id=0
92 25 0:62 / /dev/shm/c rw,relatime - tmpfs tmpfs rw
";

    #[test]
    fn finds_fuse_mounts_by_exact_path() {
        assert_eq!(
            fuse_mount_at(INFO, Path::new("/dev/shm/mnt a")).as_deref(),
            Some("fuse.blockseal")
        );
        assert_eq!(
            fuse_mount_at(INFO, Path::new("/dev/shm/b")).as_deref(),
            Some("fuse")
        );
        assert_eq!(
            fuse_mount_at(INFO, Path::new("/dev/shm/c")),
            None,
            "not FUSE"
        );
        assert_eq!(fuse_mount_at(INFO, Path::new("/dev/shm")), None, "not FUSE");
        assert_eq!(
            fuse_mount_at(INFO, Path::new("/dev/shm/mnt")),
            None,
            "prefix only"
        );
        assert_eq!(fuse_mount_at("garbage\n\n", Path::new("/")), None);
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape(r"a\040b\134c\011"), b"a b\\c\t");
        assert_eq!(unescape(r"trailing\04"), b"trailing\\04");
    }

    #[test]
    fn prepare_refuses_missing_and_non_directories() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("nope");
        assert_eq!(
            prepare(&missing, None, false).unwrap_err().code(),
            Code::INVALID_PARAMETER_VALUE
        );
        let file = d.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(
            prepare(&file, None, false).unwrap_err().code(),
            Code::INVALID_PARAMETER_VALUE
        );
        // `d` holds `f`: refused unless asked for.
        assert_eq!(
            prepare(d.path(), None, false).unwrap_err().code(),
            Code::INVALID_PARAMETER_VALUE
        );
        let canonical = d.path().canonicalize().unwrap();
        assert_eq!(prepare(d.path(), None, true).unwrap(), canonical);
        std::fs::remove_file(&file).unwrap();
        assert_eq!(prepare(d.path(), None, false).unwrap(), canonical);
    }

    #[test]
    fn prepare_refuses_the_home_and_pseudo_file_systems() {
        let d = tempfile::tempdir().unwrap();
        let inner = d.path().join("inner");
        std::fs::create_dir(&inner).unwrap();
        for (dir, home) in [(&inner, d.path()), (&inner, inner.as_path())] {
            let e = prepare(dir, Some(home), true).unwrap_err();
            assert_eq!(e.code(), Code::INVALID_PARAMETER_VALUE);
            assert!(e.message().contains("inside the blockseal home"), "{e}");
        }
        let e = prepare(Path::new("/proc"), None, true).unwrap_err();
        assert!(e.message().contains("pseudo file system"), "{e}");
    }
}
