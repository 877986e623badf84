//! Where the engine may put a file or a mount outside the home, checked in one place for export
//! destinations and mount points alike, and the output file of an export, written without a
//! predictable name.
//!
//! The checks work on an opened directory, not on path strings: "inside the home" means that
//! walking `..` up from the directory meets the home's (device, inode), which sees through
//! symlinks, `..`, bind mounts and relative paths alike, and everything after the check (create,
//! link, rename) is relative to that same open directory, so swapping a path component for a
//! symlink afterwards changes nothing. Refused: the home and anything below it (writing there
//! would replace the catalog, the KMS root key or a data file); pseudo file systems (procfs,
//! sysfs and their kin by `statfs` type, and the file system mounted on `/dev`, whose files are
//! kernel interfaces, not storage; `/dev/shm` is its own tmpfs and allowed); an export onto the
//! snapshot's own file; a mount point that is not empty unless asked.
//!
//! An export's plaintext goes to an unnamed file (`O_TMPFILE`, 0600) that is linked to the
//! destination's name only once complete, so a process killed by any signal leaves nothing. On
//! file systems without `O_TMPFILE` it goes to a random name created with `O_EXCL|O_NOFOLLOW`
//! (0600), removed on every error; only a SIGKILL in that fallback can leave it behind.
//!
//! No `unsafe` here: every call goes through rustix. This module knows nothing of the catalog,
//! keys or file formats.

use crate::error::{Code, Error, Result};
use rustix::fs::{AtFlags, Mode, OFlags, CWD};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The mode of every file an export writes: its content is plaintext.
const OUT_MODE: u32 = 0o600;

/// Pseudo file systems by `statfs` type (linux/magic.h): kernel interfaces, not storage.
const PSEUDO_FS: &[(u32, &str)] = &[
    (0x9fa0, "proc"),
    (0x6265_6572, "sysfs"),
    (0x1cd1, "devpts"),
    (0x0027_e0eb, "cgroup"),
    (0x6367_7270, "cgroup2"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0x7363_6673, "securityfs"),
    (0xf97c_ff8c, "selinuxfs"),
    (0x4341_5d53, "smackfs"),
    (0xcafe_4a11, "bpf"),
    (0x6165_676c, "pstore"),
    (0xde5e_81e4, "efivarfs"),
    (0x6265_6570, "configfs"),
    (0x4249_4e4d, "binfmt_misc"),
    (0x6573_5543, "fusectl"),
    (0x1980_0202, "mqueue"),
    (0x6e73_6673, "nsfs"),
];

/// The (device, inode) pair that names a file whatever path reaches it.
type FileId = (u64, u64);

// The fields' types differ between targets (u64 here); the casts only ever widen.
#[allow(clippy::unnecessary_cast)]
fn id_of(st: &rustix::fs::Stat) -> FileId {
    (st.st_dev as u64, st.st_ino as u64)
}

fn fd_id(fd: BorrowedFd<'_>) -> io::Result<FileId> {
    Ok(id_of(&rustix::fs::fstat(fd)?))
}

/// The name of the pseudo file system `dir` is on, if it is on one.
fn pseudo_fs(dir: BorrowedFd<'_>) -> io::Result<Option<&'static str>> {
    let fs = rustix::fs::fstatfs(dir)?;
    // f_type is a 32-bit magic number in a signed field of the platform's width.
    let magic = fs.f_type as u32;
    if let Some((_, name)) = PSEUDO_FS.iter().find(|(m, _)| *m == magic) {
        return Ok(Some(name));
    }
    // /dev is devtmpfs (or a tmpfs in containers), a type shared with real scratch space, so
    // it is recognised by being the same file system as /dev when /dev is a mount of its own.
    let dev = rustix::fs::stat("/dev").map(|s| s.st_dev);
    let root = rustix::fs::stat("/").map(|s| s.st_dev);
    if let (Ok(dev), Ok(root)) = (dev, root) {
        if dev != root && rustix::fs::fstat(dir)?.st_dev == dev {
            return Ok(Some("the /dev file system"));
        }
    }
    Ok(None)
}

/// Whether `dir` is the directory `home` or below it: walks `..` up from `dir` to the root.
fn is_within(dir: BorrowedFd<'_>, home: FileId) -> io::Result<bool> {
    let up = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut cur = rustix::fs::openat(dir, ".", up, Mode::empty())?;
    // A bound, not a limit anyone meets: PATH_MAX allows at most 2048 components.
    for _ in 0..4096 {
        let here = fd_id(cur.as_fd())?;
        if here == home {
            return Ok(true);
        }
        let parent = rustix::fs::openat(&cur, "..", up, Mode::empty())?;
        if fd_id(parent.as_fd())? == here {
            return Ok(false); // the root: its `..` is itself
        }
        cur = parent;
    }
    Ok(false)
}

/// Why `dir` (already open) may not receive files of ours, if it may not: a pseudo file system,
/// or the home `home` or a folder inside it.
fn refusal(dir: BorrowedFd<'_>, home: Option<&Path>) -> io::Result<Option<String>> {
    if let Some(fs) = pseudo_fs(dir)? {
        return Ok(Some(format!(
            "is on {fs}, a pseudo file system of kernel interfaces, not storage"
        )));
    }
    if let Some(home) = home {
        let home_id = id_of(&rustix::fs::stat(home)?);
        if is_within(dir, home_id)? {
            return Ok(Some(format!(
                "is inside the blockseal home {}, whose files it would overwrite or hide",
                home.display()
            )));
        }
    }
    Ok(None)
}

fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(CWD, path, flags, Mode::empty())?)
}

/// Checks `dir` as a mount point: refused if it is on a pseudo file system (`/proc`, `/sys`,
/// `/dev`, …), if it is `home` or inside it, or, unless `allow_non_empty`, if it holds any
/// entry (a mount would hide those files while it lasts).
///
/// Call it after a stale mount on `dir` has been detached: a dead mount cannot be read.
///
/// # Errors
/// `InvalidParameterValue` for each refusal and when `dir` cannot be opened as a directory.
pub fn check_mount_point(dir: &Path, home: Option<&Path>, allow_non_empty: bool) -> Result<()> {
    let shown = dir.display();
    let bad = |why: String| Error::new(Code::INVALID_PARAMETER_VALUE, why);
    let fd = open_dir(dir)
        .map_err(|e| bad(format!("cannot open mount point {shown}: {e}")).with_source(e))?;
    let why = refusal(fd.as_fd(), home)
        .map_err(|e| Error::io(format!("check mount point {shown}"), e))?;
    if let Some(why) = why {
        return Err(bad(format!("mount point {shown} {why}")));
    }
    if !allow_non_empty {
        let mut entries = std::fs::read_dir(dir)
            .map_err(|e| Error::io(format!("list mount point {shown}"), e))?;
        if entries.next().is_some() {
            return Err(bad(format!(
                "mount point {shown} is not empty; the mount would hide its files \
                 (use --allow-non-empty to mount anyway)"
            )));
        }
    }
    Ok(())
}

/// The directory an export writes into, open and checked, with the file name to write.
#[derive(Debug)]
pub(crate) struct OutDir {
    dir: OwnedFd,
    name: OsString,
    /// The destination as the user gave it, for messages.
    out: PathBuf,
}

impl OutDir {
    /// Opens the directory of the export destination `out` and checks it: refused
    /// (`InvalidFile`) if `out` names no file, its directory cannot be opened, is on a pseudo
    /// file system or inside `home`, or `out` exists and is not a regular file (a directory, a
    /// symlink, a device) or is `source` itself (the same inode, by any name).
    pub(crate) fn open(out: &Path, home: Option<&Path>, source: &File) -> Result<OutDir> {
        let shown = out.display();
        let bad = |why: String| Error::new(Code::INVALID_FILE, why);
        let name = out
            .file_name()
            .ok_or_else(|| bad(format!("{shown} does not name a file")))?;
        let dir_path = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = open_dir(dir_path).map_err(|e| {
            bad(format!(
                "cannot open the directory {} of {shown}: {e}",
                dir_path.display()
            ))
            .with_source(e)
        })?;
        let why = refusal(dir.as_fd(), home)
            .map_err(|e| Error::io(format!("check the directory of {shown}"), e))?;
        if let Some(why) = why {
            return Err(bad(format!("{shown} {why}")));
        }
        match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                if rustix::fs::FileType::from_raw_mode(st.st_mode)
                    != rustix::fs::FileType::RegularFile
                {
                    return Err(bad(format!("{shown} is not a regular file")));
                }
                let src =
                    fd_id(source.as_fd()).map_err(|e| Error::io("stat the export source", e))?;
                if id_of(&st) == src {
                    return Err(bad(format!(
                        "{shown} is the snapshot's own data file; export elsewhere"
                    )));
                }
            }
            Err(Errno::NOENT) => {}
            Err(e) => {
                let e = io::Error::from(e);
                return Err(bad(format!("cannot stat {shown}: {e}")).with_source(e));
            }
        }
        Ok(OutDir {
            dir,
            name: name.to_owned(),
            out: out.to_owned(),
        })
    }

    /// A new, empty output file (0600 whatever the umask) with no name yet where the file
    /// system allows (`O_TMPFILE`), else under a random name `.blockseal-export.*.tmp`.
    pub(crate) fn create(&self) -> Result<OutFile<'_>> {
        self.create_as(true)
    }

    /// [`OutDir::create`]; `unnamed` false skips `O_TMPFILE` (tests of the fallback).
    pub(crate) fn create_as(&self, unnamed: bool) -> Result<OutFile<'_>> {
        let shown = self.out.display();
        let rw = OFlags::RDWR | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(OUT_MODE);
        let mut temp_name = None;
        let fd = match unnamed {
            true => match rustix::fs::openat(&self.dir, ".", rw | OFlags::TMPFILE, mode) {
                Ok(fd) => Some(fd),
                // No O_TMPFILE on this file system (EOPNOTSUPP) or kernel (EISDIR, EINVAL).
                Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => None,
                Err(e) => return Err(self.create_err(e)),
            },
            false => None,
        };
        let fd = match fd {
            Some(fd) => fd,
            None => {
                let (name, fd) = self.create_named()?;
                temp_name = Some(name);
                fd
            }
        };
        let out = OutFile {
            dir: self,
            file: File::from(fd),
            temp_name,
            done: false,
        };
        // The umask may have taken bits away (never added any); set the mode exactly.
        out.file
            .set_permissions(std::fs::Permissions::from_mode(OUT_MODE))
            .map_err(|e| Error::io(format!("chmod the output of {shown}"), e))?;
        Ok(out)
    }

    fn create_err(&self, e: Errno) -> Error {
        let e = io::Error::from(e);
        let shown = self.out.display();
        match e.raw_os_error() {
            Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => {
                Error::new(Code::INVALID_FILE, format!("cannot create {shown}: {e}")).with_source(e)
            }
            _ => Error::io(format!("create {shown}"), e),
        }
    }

    /// A file under a fresh random name, created exclusively: an existing file or symlink of
    /// that name (another user's trap) is never opened, only skipped.
    fn create_named(&self) -> Result<(OsString, OwnedFd)> {
        let mut last = Errno::EXIST;
        for _ in 0..16 {
            let name = random_name();
            match create_exclusive(self.dir.as_fd(), &name) {
                Ok(fd) => return Ok((name, fd)),
                Err(e) => last = e,
            }
            if last != Errno::EXIST {
                break;
            }
        }
        Err(self.create_err(last))
    }

    /// Gives `file` the destination's name, replacing a regular file there atomically.
    fn link(&self, file: &OutFile<'_>) -> io::Result<()> {
        let replace = |from: &OsStr| -> io::Result<()> {
            Ok(rustix::fs::renameat(
                &self.dir, from, &self.dir, &self.name,
            )?)
        };
        if let Some(temp) = &file.temp_name {
            return replace(temp);
        }
        match self.link_unnamed(file, &self.name) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                // linkat never replaces: link under a random name, then rename over.
                let mut last = Errno::EXIST;
                for _ in 0..16 {
                    let temp = random_name();
                    match self.link_unnamed(file, &temp) {
                        Ok(()) => {
                            return replace(&temp).inspect_err(|_| {
                                let _ = rustix::fs::unlinkat(&self.dir, &temp, AtFlags::empty());
                            });
                        }
                        Err(Errno::EXIST) => {}
                        Err(e) => {
                            last = e;
                            break;
                        }
                    }
                }
                Err(last.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Links the unnamed file of `file` as `name` in the directory (fails if `name` exists).
    fn link_unnamed(&self, file: &OutFile<'_>, name: &OsStr) -> rustix::io::Result<()> {
        let proc_path = format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&file.file)
        );
        match rustix::fs::linkat(CWD, &proc_path, &self.dir, name, AtFlags::SYMLINK_FOLLOW) {
            // No /proc: AT_EMPTY_PATH does the same where the kernel allows it.
            Err(Errno::NOENT) => {
                rustix::fs::linkat(&file.file, "", &self.dir, name, AtFlags::EMPTY_PATH)
            }
            r => r,
        }
    }
}

/// Creates `name` in `dir` for reading and writing, 0600, failing if anything of that name
/// exists (`O_EXCL`) and never through a symlink (`O_NOFOLLOW`).
fn create_exclusive(dir: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(OUT_MODE))
}

/// `.blockseal-export.<128 random bits>.tmp`: hidden, and impossible to guess in advance.
fn random_name() -> OsString {
    let mut r = [0u8; 16];
    getrandom::fill(&mut r).expect("OS random source unavailable");
    OsString::from(format!(".blockseal-export.{}.tmp", hex::encode(r)))
}

/// An export's output file while it is written: unnamed (or under a random name) until
/// [`OutFile::commit`]; dropped uncommitted, it disappears.
#[derive(Debug)]
pub(crate) struct OutFile<'a> {
    dir: &'a OutDir,
    file: File,
    /// The random name of the fallback, None for an unnamed file.
    temp_name: Option<OsString>,
    done: bool,
}

impl OutFile<'_> {
    /// The open file, to write into.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Whether the file has a (random) name in the directory before it is committed.
    #[cfg(test)]
    pub(crate) fn temp_name(&self) -> Option<&OsStr> {
        self.temp_name.as_deref()
    }

    /// Flushes the file to disk, gives it the destination's name (replacing an older file
    /// there atomically) and flushes the directory.
    ///
    /// # Errors
    /// I/O errors of each step, naming it; the file is then removed.
    pub(crate) fn commit(mut self) -> Result<()> {
        let shown = self.dir.out.display();
        crate::fail::point("export.fsync")
            .and_then(|()| self.file.sync_all())
            .map_err(|e| Error::io(format!("fsync the output of {shown}"), e))?;
        crate::fail::point("export.link")
            .and_then(|()| self.dir.link(&self))
            .map_err(|e| Error::io(format!("link the output as {shown}"), e))?;
        self.done = true;
        crate::fail::point("export.dir.fsync")
            .and_then(|()| Ok(rustix::fs::fsync(&self.dir.dir)?))
            .map_err(|e| Error::io(format!("fsync the directory of {shown}"), e))
    }
}

impl Drop for OutFile<'_> {
    fn drop(&mut self) {
        if let (false, Some(name)) = (self.done, &self.temp_name) {
            let _ = rustix::fs::unlinkat(&self.dir.dir, name, AtFlags::empty());
        }
    }
}

/// Whether `name` looks like an export's fallback temporary.
#[cfg(test)]
fn is_temp_name(name: &OsStr) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let b = name.as_bytes();
    b.starts_with(b".blockseal-export.") && b.ends_with(b".tmp")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;

    fn source(dir: &Path) -> File {
        let p = dir.join("source.blob");
        std::fs::write(&p, b"source").unwrap();
        File::open(p).unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    fn write_out(d: &OutDir, unnamed: bool, data: &[u8]) {
        let f = d.create_as(unnamed).unwrap();
        f.file().write_all(data).unwrap();
        f.commit().unwrap();
    }

    #[test]
    fn output_appears_whole_0600_and_replaces_an_old_file() {
        let t = tempfile::tempdir().unwrap();
        let src = source(t.path());
        let out = t.path().join("out.raw");
        for unnamed in [true, false] {
            let d = OutDir::open(&out, None, &src).unwrap();
            write_out(&d, unnamed, b"first");
            assert_eq!(std::fs::read(&out).unwrap(), b"first");
            let d = OutDir::open(&out, None, &src).unwrap();
            write_out(&d, unnamed, b"second");
            assert_eq!(std::fs::read(&out).unwrap(), b"second");
            let m = std::fs::metadata(&out).unwrap();
            assert_eq!(m.mode() & 0o7777, 0o600, "unnamed {unnamed}");
            assert_eq!(names(t.path()), ["out.raw", "source.blob"]);
            std::fs::remove_file(&out).unwrap();
        }
    }

    #[test]
    fn an_uncommitted_output_leaves_nothing() {
        let t = tempfile::tempdir().unwrap();
        let src = source(t.path());
        let out = t.path().join("out.raw");
        let d = OutDir::open(&out, None, &src).unwrap();
        for unnamed in [true, false] {
            let f = d.create_as(unnamed).unwrap();
            f.file().write_all(b"plaintext").unwrap();
            if !unnamed {
                let name = f.temp_name().unwrap();
                assert!(is_temp_name(name));
                let m = std::fs::symlink_metadata(t.path().join(name)).unwrap();
                assert_eq!(m.mode() & 0o777, 0o600);
            }
            drop(f);
            assert_eq!(names(t.path()), ["source.blob"]);
        }
    }

    #[test]
    fn an_existing_name_is_never_opened_through() {
        let t = tempfile::tempdir().unwrap();
        let victim = t.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let dir = open_dir(t.path()).unwrap();
        for trap in ["link", "file"] {
            let name = OsStr::new(trap);
            if trap == "link" {
                std::os::unix::fs::symlink(&victim, t.path().join(name)).unwrap();
            } else {
                std::fs::write(t.path().join(name), b"theirs").unwrap();
            }
            assert_eq!(
                create_exclusive(dir.as_fd(), name).unwrap_err(),
                Errno::EXIST
            );
        }
        // A dangling symlink is not followed either (O_CREAT alone would create its target).
        let target = t.path().join("created-through-link");
        std::os::unix::fs::symlink(&target, t.path().join("dangling")).unwrap();
        assert_eq!(
            create_exclusive(dir.as_fd(), OsStr::new("dangling")).unwrap_err(),
            Errno::EXIST
        );
        assert!(!target.exists());
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(t.path().join("file")).unwrap(), b"theirs");
        assert_ne!(random_name(), random_name());
    }

    #[test]
    fn refused_destinations() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        std::fs::create_dir_all(home.join("blobs")).unwrap();
        let blob = home.join("blobs/snap-1");
        std::fs::write(&blob, b"ciphertext").unwrap();
        let src = File::open(&blob).unwrap();
        std::os::unix::fs::symlink(&home, t.path().join("to-home")).unwrap();
        std::fs::hard_link(&blob, t.path().join("hard-link-to-source")).unwrap();
        std::os::unix::fs::symlink(&blob, t.path().join("symlink-to-source")).unwrap();
        std::fs::create_dir(t.path().join("outside")).unwrap();
        let refused = |p: PathBuf| {
            let e = OutDir::open(&p, Some(&home), &src).unwrap_err();
            assert_eq!(e.code(), Code::INVALID_FILE, "{}", p.display());
            e.message().to_owned()
        };
        for p in [
            home.join("catalog.db"),
            home.join("blobs/snap-1"),
            home.join("blobs/new"),
            t.path().join("to-home/kms-root.key"),
            t.path().join("outside/../home/catalog.db"),
        ] {
            assert!(refused(p).contains("inside the blockseal home"));
        }
        assert!(refused(t.path().join("hard-link-to-source")).contains("own data file"));
        assert!(refused(t.path().join("symlink-to-source")).contains("not a regular file"));
        assert!(refused(t.path().join("outside")).contains("not a regular file"));
        assert!(refused(PathBuf::from("/proc/self/comm")).contains("pseudo file system"));
        assert!(refused(PathBuf::from("/sys/kernel/new")).contains("pseudo file system"));
        if std::fs::metadata("/dev").is_ok_and(|m| m.dev() != std::fs::metadata("/").unwrap().dev())
        {
            assert!(refused(PathBuf::from("/dev/blockseal-test")).contains("pseudo file system"));
        }
        // Next to the home is fine.
        OutDir::open(&t.path().join("outside/x.raw"), Some(&home), &src).unwrap();
        OutDir::open(&t.path().join("home-sibling.raw"), Some(&home), &src).unwrap();
        // /dev/shm is storage.
        if Path::new("/dev/shm").is_dir() {
            OutDir::open(Path::new("/dev/shm/blockseal-test.raw"), Some(&home), &src).unwrap();
        }
    }

    #[test]
    fn refused_mount_points() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        std::fs::create_dir_all(home.join("mnt")).unwrap();
        std::os::unix::fs::symlink(&home, t.path().join("to-home")).unwrap();
        let code = |p: &Path, allow: bool| {
            check_mount_point(p, Some(&home), allow).map_err(|e| (e.code(), e.message().to_owned()))
        };
        for p in [home.clone(), home.join("mnt"), t.path().join("to-home/mnt")] {
            let (c, m) = code(&p, true).unwrap_err();
            assert_eq!(c, Code::INVALID_PARAMETER_VALUE);
            assert!(m.contains("inside the blockseal home"), "{m}");
        }
        for p in ["/proc", "/sys", "/proc/self"] {
            let (_, m) = code(Path::new(p), true).unwrap_err();
            assert!(m.contains("pseudo file system"), "{m}");
        }
        let full = t.path().join("full");
        std::fs::create_dir(&full).unwrap();
        std::fs::write(full.join(".hidden"), b"").unwrap();
        let (_, m) = code(&full, false).unwrap_err();
        assert!(m.contains("not empty"), "{m}");
        code(&full, true).unwrap();
        let empty = t.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        code(&empty, false).unwrap();
        let (c, _) = code(&t.path().join("missing"), false).unwrap_err();
        assert_eq!(c, Code::INVALID_PARAMETER_VALUE);
    }
}
