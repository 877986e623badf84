//! The I/O shell around [`BlobHeader`]: where blob files live in the home, how they are created
//! (temporary, then fsync + commit marker + rename), opened and validated, removed, and
//! recovered after a crash (a file is deleted only when a temporary's name or a commit marker
//! proves it was an unfinished operation's; other unknown files are quarantined), plus
//! sector-granular reads and writes with the sparse semantics of DESIGN.md.
//!
//! It must not decide which blobs should exist (the catalog does, through `recover`'s
//! `is_live`), hold keys beyond a call, or print. Raw system calls live in `crate::sys`.

use super::header::{BlobHeader, BlobRecord, HEADER_LEN, MAX_ID_LEN};
use crate::catalog::Tx;
use crate::error::{bail, Code, Error, Result};
use crate::fail;
use crate::storage::Backing;
use crate::sys;
use crate::xts::Xts;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
#[cfg(test)]
use zeroize::Zeroizing;

/// The blob files of one home: `HOME/blobs/<id>` for committed files, `HOME/tmp/<id>.<pid>.tmp`
/// while one is being written, `HOME/tmp/<id>.<pid>.commit` while one is being committed, and
/// `HOME/quarantine/` for files found in `blobs/` that nothing explains.
#[derive(Clone, Debug)]
pub(crate) struct BlobStore {
    blobs: PathBuf,
    tmp: PathBuf,
    quarantine: PathBuf,
}

/// What start-up recovery did to the files of a home.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Recovered {
    /// Files deleted: temporaries of dead processes, committed files an unfinished commit's
    /// marker proves, and the markers themselves.
    pub removed: Vec<PathBuf>,
    /// Files of `blobs/` that no row owns and no marker explains, as moved into `quarantine/`.
    pub quarantined: Vec<PathBuf>,
}

/// What a commit marker records: the device and inode of the file it is about to rename into
/// `blobs/`. A rename keeps both, so recovery deletes the file only if it is that very file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileIdentity {
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    fn of(meta: &fs::Metadata) -> FileIdentity {
        FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    fn encode(self) -> String {
        format!(
            "blockseal commit marker v1\ndev {}\nino {}\n",
            self.dev, self.ino
        )
    }

    fn decode(text: &str) -> Option<FileIdentity> {
        let mut lines = text.lines();
        if lines.next()? != "blockseal commit marker v1" {
            return None;
        }
        let dev = lines.next()?.strip_prefix("dev ")?.parse().ok()?;
        let ino = lines.next()?.strip_prefix("ino ")?.parse().ok()?;
        Some(FileIdentity { dev, ino })
    }
}

impl BlobStore {
    /// The store of `home`, creating `blobs/` and `tmp/` on first use.
    ///
    /// # Errors
    /// An I/O error creating either directory.
    pub(crate) fn new(home: &Path) -> Result<BlobStore> {
        let store = BlobStore {
            blobs: home.join("blobs"),
            tmp: home.join("tmp"),
            quarantine: home.join("quarantine"),
        };
        for d in [&store.blobs, &store.tmp] {
            private_dir(d)?;
        }
        Ok(store)
    }

    /// Where the committed file of `id` lives (whether or not it exists).
    pub(crate) fn path_of(&self, id: &str) -> PathBuf {
        self.blobs.join(id)
    }

    /// Creates `tmp/<id>.<pid>.tmp`, writes `header` and sizes the file to header + volume,
    /// sparse (every sector a hole).
    ///
    /// # Errors
    /// `InvalidParameterValue` for an id that is not a plain name or an invalid header;
    /// `ResourceBusy` if this process already writes a temporary for `id`; I/O errors.
    pub(crate) fn create_temp(&self, id: &str, header: &BlobHeader) -> Result<TempBlob> {
        check_id(id)?;
        header.validate()?;
        let path = self.tmp.join(format!("{id}.{}.tmp", std::process::id()));
        let file = match File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                bail!(Code::RESOURCE_BUSY, "{} already exists", path.display())
            }
            Err(e) => return Err(Error::io(format!("create {}", path.display()), e)),
        };
        // From here on the guard removes the file if a later step fails.
        let temp = TempBlob {
            file,
            dest: self.path_of(id),
            marker: self
                .tmp
                .join(format!("{id}.{}.{MARKER_SUFFIX}", std::process::id())),
            tmp_dir: self.tmp.clone(),
            blobs_dir: self.blobs.clone(),
            header: header.clone(),
            path,
            persisted: false,
        };
        let p = temp.path.display();
        temp.file
            .write_all_at(&header.encode()[..], 0)
            .map_err(|e| Error::io(format!("write header {p}"), e))?;
        temp.file
            .set_len(header.file_len())
            .map_err(|e| Error::io(format!("set length {p}"), e))?;
        Ok(temp)
    }

    /// Opens the committed blob `id` read-only and validates its header and length.
    ///
    /// # Errors
    /// `CorruptFile` naming the path and what is wrong; I/O errors (a missing file among them).
    pub(crate) fn open(&self, id: &str) -> Result<Blob> {
        self.open_with(id, false)
    }

    /// As [`BlobStore::open`], read-write, for in-place sector writes.
    ///
    /// # Errors
    /// As [`BlobStore::open`].
    pub(crate) fn open_rw(&self, id: &str) -> Result<Blob> {
        self.open_with(id, true)
    }

    fn open_with(&self, id: &str, writable: bool) -> Result<Blob> {
        check_id(id)?;
        let path = self.path_of(id);
        let p = path.display();
        let file = match File::options().read(true).write(writable).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::new(
                    Code::CORRUPT_FILE,
                    format!("the data file of {id} is missing: {p}"),
                )
                .with_source(e))
            }
            Err(e) => return Err(Error::io(format!("open the data file of {id}, {p}"), e)),
        };
        let header = read_header(&file, &path)?;
        Ok(Blob {
            file,
            path,
            header,
            writable,
        })
    }

    #[cfg(test)]
    /// Removes the committed blob `id`; removing one that does not exist is not an error.
    /// Operations use [`BlobStore::remove_in`], which a crash cannot turn into a foreign file.
    ///
    /// # Errors
    /// I/O errors other than "not found".
    pub(crate) fn remove(&self, id: &str) -> Result<()> {
        check_id(id)?;
        let path = self.path_of(id);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(Error::io(format!("remove {}", path.display()), e))
            }
            _ => Ok(()),
        }
    }

    /// Deletes the committed blob `id` as part of catalog transaction `tx`, which must delete the
    /// row that owns it: writes a commit marker `tmp/<id>.<pid>.commit` recording the file's
    /// device and inode and makes it durable; once `tx` commits, removes the file, fsyncs
    /// `blobs/` and removes the marker. Should the process die after the commit, the marker
    /// proves to the next start-up's [`BlobStore::recover`] that the file, whose row is gone, is
    /// a deletion to finish (deleted, not quarantined as foreign); before the commit the row
    /// stays, and only the marker goes. A missing file needs nothing.
    ///
    /// # Errors
    /// `InvalidParameterValue` for an id that is not a plain name; I/O errors of stat and of the
    /// marker. The removal itself happens after the commit and is best effort (the marker
    /// finishes it).
    pub(crate) fn remove_in(&self, tx: &Tx<'_>, id: &str) -> Result<()> {
        check_id(id)?;
        let path = self.path_of(id);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(format!("stat {}", path.display()), e)),
        };
        let marker = self
            .tmp
            .join(format!("{id}.{}.{MARKER_SUFFIX}", std::process::id()));
        write_marker(&marker, FileIdentity::of(&meta), &self.tmp)?;
        let blobs = self.blobs.clone();
        tx.after_commit(Box::new(move || {
            let removed = fail::point("blob.delete.remove")
                .and_then(|()| match fs::remove_file(&path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                })
                .map_err(|e| Error::io(format!("remove {}", path.display()), e))
                .and_then(|()| sync_dir(&blobs, "blob.blobs-dir.fsync"));
            // Best effort: while the file may still be there the marker stays, to prove it.
            if removed.is_ok() {
                let _ = fail::point("blob.marker.remove").and_then(|()| fs::remove_file(marker));
            }
        }));
        Ok(())
    }

    #[cfg(test)]
    /// Whether the committed blob `id` exists.
    ///
    /// # Errors
    /// I/O errors other than "not found" (e.g. permission).
    pub(crate) fn exists(&self, id: &str) -> Result<bool> {
        check_id(id)?;
        let path = self.path_of(id);
        path.try_exists()
            .map_err(|e| Error::io(format!("stat {}", path.display()), e))
    }

    /// Why the committed file of `id`, `size` bytes of volume, cannot be used, judged from its
    /// metadata alone (no read): missing, not a regular file, or of the wrong length. None when
    /// it looks whole. For Describe*, which must not open every file.
    pub(crate) fn problem(&self, id: &str, size: u64) -> Option<String> {
        let path = self.path_of(id);
        let p = path.display();
        match fs::metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Some(format!("The data file of {id} is missing: {p}"))
            }
            Err(e) => Some(format!("The data file of {id} cannot be read: {p}: {e}")),
            Ok(m) if !m.is_file() => Some(format!("The data file of {id} is not a file: {p}")),
            Ok(m) if m.len() != HEADER_LEN as u64 + size => Some(format!(
                "The data file of {id} is damaged: {p} is {} bytes, expected {}",
                m.len(),
                HEADER_LEN as u64 + size
            )),
            Ok(_) => None,
        }
    }

    /// Whether `blobs/` or `quarantine/` holds any file: whether this home has held data.
    ///
    /// # Errors
    /// I/O errors listing either directory (a missing one counts as empty).
    pub(crate) fn holds_data(&self) -> Result<bool> {
        for dir in [&self.blobs, &self.quarantine] {
            match fs::read_dir(dir) {
                Ok(mut d) => {
                    if d.next().is_some() {
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("list {}", dir.display()), e)),
            }
        }
        Ok(false)
    }

    /// Recovers the files after a crash, deleting only what is proven to be an unfinished
    /// operation's:
    /// - a temporary `tmp/<id>.<pid>.tmp` whose process is gone (kill(pid, 0) fails with ESRCH);
    /// - a commit marker `tmp/<id>.<pid>.commit` whose process is gone: if `is_live(id)` the
    ///   commit went through and only the marker goes; else the commit never happened, and the
    ///   marker and `blobs/<id>` go, the latter only if it is the very file the marker recorded.
    ///
    /// A file of `blobs/` that `is_live` rejects and no marker explains (a catalog restored from
    /// an older backup, a file copied in by hand) is not deleted: it is moved to `quarantine/`
    /// (0700), never replacing a file there. Files of this process and of live processes stay,
    /// and so do names that are not ours.
    ///
    /// Call it holding the catalog's write lock, as `persist_in` is called: otherwise a blob just
    /// renamed into place by another process, whose row is not yet committed, looks orphaned.
    /// A dead writer's pid reused by an unrelated process keeps its files until that process
    /// ends too.
    ///
    /// # Errors
    /// I/O errors listing a directory, reading a marker, or removing or moving a file.
    pub(crate) fn recover(&self, is_live: impl Fn(&str) -> bool) -> Result<Recovered> {
        let me = std::process::id();
        let mut out = Recovered::default();
        // Ids with a marker of a running process: their commit may be under way or may have
        // failed in a process that will clean up, so their files are not judged now.
        let mut in_flight = std::collections::HashSet::new();
        for name in list_files(&self.tmp)? {
            if let Some((_, pid)) = parse_temp_name(&name) {
                if pid != me && !sys::pid_alive(pid) {
                    out.removed.extend(remove_path(self.tmp.join(&name))?);
                }
                continue;
            }
            let Some((id, pid)) = parse_marker_name(&name) else {
                continue;
            };
            if pid == me || sys::pid_alive(pid) {
                in_flight.insert(id.to_owned());
                continue;
            }
            let marker = self.tmp.join(&name);
            if !is_live(id) {
                if let Some(blob) = self.proven_orphan(id, &marker)? {
                    out.removed.extend(remove_path(blob)?);
                }
            }
            out.removed.extend(remove_path(marker)?);
        }
        for name in list_files(&self.blobs)? {
            if check_id(&name).is_ok() && !is_live(&name) && !in_flight.contains(&name) {
                out.quarantined.push(self.quarantine_file(&name)?);
            } else {
                // Data files of a home made under a lax umask become private too.
                private_file(&self.blobs.join(&name))?;
            }
        }
        Ok(out)
    }

    /// `blobs/<id>` if the marker at `marker` proves it is the file that marker's commit renamed
    /// there; None if the file is gone, is another file, or the marker is unreadable (a crash
    /// while it was written, before any rename).
    fn proven_orphan(&self, id: &str, marker: &Path) -> Result<Option<PathBuf>> {
        let text = match fs::read_to_string(marker) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(None),
            Err(e) => return Err(Error::io(format!("read {}", marker.display()), e)),
        };
        let Some(recorded) = FileIdentity::decode(&text) else {
            return Ok(None);
        };
        let blob = self.path_of(id);
        match fs::symlink_metadata(&blob) {
            Ok(m) if m.is_file() && FileIdentity::of(&m) == recorded => Ok(Some(blob)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("stat {}", blob.display()), e)),
        }
    }

    /// Moves `blobs/<name>` to `quarantine/<name>` (or `<name>.1`, `.2`, … if taken), with
    /// `quarantine/` made 0700 on first use, and makes the move durable. Returns the new path.
    fn quarantine_file(&self, name: &str) -> Result<PathBuf> {
        let q = self.quarantine.display();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.quarantine)
            .map_err(|e| Error::io(format!("create {q}"), e))?;
        let from = self.blobs.join(name);
        for n in 0u32.. {
            let to = match n {
                0 => self.quarantine.join(name),
                n => self.quarantine.join(format!("{name}.{n}")),
            };
            match fail::point("blob.quarantine.rename")
                .and_then(|()| sys::rename_noreplace(&from, &to))
            {
                Ok(()) => {
                    sync_dir(&self.quarantine, "blob.quarantine-dir.fsync")?;
                    sync_dir(&self.blobs, "blob.blobs-dir.fsync")?;
                    return Ok(to);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    let what = format!("move {} to {}", from.display(), to.display());
                    return Err(Error::io(what, e));
                }
            }
        }
        unreachable!("u32 names run out only after 4 billion quarantined copies of one id")
    }
}

/// What `blockseal doctor` finds in a home's folders: the regular files of `blobs/`,
/// `quarantine/` and `tmp/` by name, sorted (a missing folder is empty).
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub blobs: Vec<String>,
    pub quarantine: Vec<String>,
    pub tmp: Vec<String>,
}

/// A file of `tmp/` by its name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TmpEntry<'a> {
    /// `<id>.<pid>.tmp`: a blob being written.
    Temp { id: &'a str, pid: u32 },
    /// `<id>.<pid>.commit`: a commit marker.
    Marker { id: &'a str, pid: u32 },
    /// Anything else (not ours).
    Other,
}

impl TmpEntry<'_> {
    /// What the `tmp/` file `name` is.
    pub(crate) fn parse(name: &str) -> TmpEntry<'_> {
        if let Some((id, pid)) = parse_temp_name(name) {
            TmpEntry::Temp { id, pid }
        } else if let Some((id, pid)) = parse_marker_name(name) {
            TmpEntry::Marker { id, pid }
        } else {
            TmpEntry::Other
        }
    }
}

impl BlobStore {
    /// The files of `blobs/`, `quarantine/` and `tmp/`.
    ///
    /// # Errors
    /// I/O errors listing a folder that exists.
    pub(crate) fn listing(&self) -> Result<Listing> {
        let list = |dir: &Path| -> Result<Vec<String>> {
            if !dir.exists() {
                return Ok(Vec::new());
            }
            let mut names = list_files(dir)?;
            names.sort();
            Ok(names)
        };
        Ok(Listing {
            blobs: list(&self.blobs)?,
            quarantine: list(&self.quarantine)?,
            tmp: list(&self.tmp)?,
        })
    }

    /// `quarantine/<name>`.
    pub(crate) fn quarantine_path(&self, name: &str) -> PathBuf {
        self.quarantine.join(name)
    }

    /// Reads the header of the blob file at `path` (in `blobs/` or `quarantine/`) and checks
    /// it and the file's length, as [`BlobStore::open`] does, without keeping the file open.
    ///
    /// # Errors
    /// `CorruptFile` naming the path and what is wrong (a missing file among them); I/O errors.
    pub(crate) fn inspect(&self, path: &Path) -> Result<BlobHeader> {
        let p = path.display();
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                bail!(Code::CORRUPT_FILE, "{p} is missing")
            }
            Err(e) => return Err(Error::io(format!("open {p}"), e)),
        };
        read_header(&file, path)
    }

    /// Moves `quarantine/<name>` back to `blobs/<id>`, never replacing a file there, and makes
    /// the move durable. Call it under the catalog's write lock, in the transaction that commits
    /// the row owning `id` (as `persist_in`): should that transaction fail, the next start-up
    /// quarantines the file again.
    ///
    /// # Errors
    /// `ResourceBusy` if `blobs/<id>` exists; I/O errors of the rename or the folder syncs.
    pub(crate) fn restore(&self, name: &str, id: &str) -> Result<()> {
        check_id(id)?;
        let (from, to) = (self.quarantine.join(name), self.path_of(id));
        match fail::point("blob.restore.rename").and_then(|()| sys::rename_noreplace(&from, &to)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                bail!(Code::RESOURCE_BUSY, "{} already exists", to.display())
            }
            Err(e) => {
                let what = format!("move {} to {}", from.display(), to.display());
                return Err(Error::io(what, e));
            }
        }
        sync_dir(&self.blobs, "blob.blobs-dir.fsync")?;
        sync_dir(&self.quarantine, "blob.quarantine-dir.fsync")
    }
}

/// The file name suffix of commit markers, `tmp/<id>.<pid>.commit`.
const MARKER_SUFFIX: &str = "commit";

/// Makes `dir` (and missing parents) and gives it mode 0700 whatever the umask or its earlier
/// mode: the home's folders are its owner's alone.
pub(crate) fn private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let d = dir.display();
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(format!("create {d}"), e))?;
    let mode = fs::metadata(dir)
        .map_err(|e| Error::io(format!("stat {d}"), e))?
        .permissions()
        .mode();
    if mode & 0o777 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(format!("chmod {d}"), e))?;
    }
    Ok(())
}

/// Gives `path` mode 0600 if it is a file with any other mode (a home made under a lax umask).
pub(crate) fn private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o777 != 0o600 => {
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                .map_err(|e| Error::io(format!("chmod {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

/// Names of the regular files in `dir`.
fn list_files(dir: &Path) -> Result<Vec<String>> {
    let d = dir.display();
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(format!("list {d}"), e))? {
        let entry = entry.map_err(|e| Error::io(format!("list {d}"), e))?;
        let ty = entry
            .file_type()
            .map_err(|e| Error::io(format!("list {d}"), e))?;
        if let (true, Ok(name)) = (ty.is_file(), entry.file_name().into_string()) {
            names.push(name);
        }
    }
    Ok(names)
}

/// Removes `path`, returning it, or None if it was already gone (a racing cleanup).
fn remove_path(path: PathBuf) -> Result<Option<PathBuf>> {
    match fail::point("blob.recover.remove").and_then(|()| fs::remove_file(&path)) {
        Ok(()) => Ok(Some(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("remove {}", path.display()), e)),
    }
}

/// `<id>.<pid>.tmp` → (id, pid).
fn parse_temp_name(name: &str) -> Option<(&str, u32)> {
    parse_pid_name(name, ".tmp")
}

/// `<id>.<pid>.commit` → (id, pid).
fn parse_marker_name(name: &str) -> Option<(&str, u32)> {
    parse_pid_name(name, ".commit")
}

/// `<id>.<pid><suffix>` → (id, pid).
fn parse_pid_name<'a>(name: &'a str, suffix: &str) -> Option<(&'a str, u32)> {
    let (id, pid) = name.strip_suffix(suffix)?.rsplit_once('.')?;
    check_id(id).ok()?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((id, pid.parse().ok()?))
}

/// Blob ids name files: ASCII letters, digits, `-` and `_` only (no dots, no slashes).
fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        bail!(Code::INVALID_PARAMETER_VALUE, "invalid blob id {id:?}");
    }
    Ok(())
}

/// A blob being written: `tmp/<id>.<pid>.tmp`, removed on drop unless persisted.
#[derive(Debug)]
pub(crate) struct TempBlob {
    file: File,
    path: PathBuf,
    dest: PathBuf,
    /// `tmp/<id>.<pid>.commit`, written by `persist_in` before the rename.
    marker: PathBuf,
    tmp_dir: PathBuf,
    blobs_dir: PathBuf,
    header: BlobHeader,
    persisted: bool,
}

impl TempBlob {
    /// The temporary file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The header written at creation.
    pub(crate) fn header(&self) -> &BlobHeader {
        &self.header
    }

    /// The open file (read-write), for the data movers' pread/pwrite.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Rewrites the header with `record` (what rebuilding the owner's catalog row needs; see
    /// docs/FORMAT.md), just before the blob is committed with that row. `persist_in`'s fsync
    /// makes it durable with the data.
    ///
    /// # Errors
    /// `InvalidParameterValue` for a record over the format's limits; I/O errors of the write.
    pub(crate) fn set_record(&mut self, record: Option<BlobRecord>) -> Result<()> {
        let mut header = self.header.clone();
        header.record = record;
        header.validate()?;
        self.file
            .write_all_at(&header.encode()[..], 0)
            .map_err(|e| Error::io(format!("write header {}", self.path.display()), e))?;
        self.header = header;
        Ok(())
    }

    /// Flushes the file's data and metadata to disk. The data movers call this when they finish,
    /// so that `persist`, which runs inside a catalog transaction, finds nothing left to write.
    ///
    /// # Errors
    /// I/O errors of fsync.
    pub(crate) fn sync(&self) -> Result<()> {
        fail::point("blob.temp.fsync")
            .and_then(|()| self.file.sync_all())
            .map_err(|e| Error::io(format!("fsync {}", self.path.display()), e))
    }

    #[cfg(test)]
    /// Reads whole sectors; see [`Blob::read_sectors`].
    ///
    /// # Errors
    /// As [`Blob::read_sectors`].
    pub(crate) fn read_sectors(&self, first: u64, xts: Option<&Xts>, buf: &mut [u8]) -> Result<()> {
        read_sectors(&self.file, &self.path, &self.header, first, xts, buf)
    }

    #[cfg(test)]
    /// Writes whole sectors; see [`Blob::write_sectors`].
    ///
    /// # Errors
    /// As [`Blob::write_sectors`].
    pub(crate) fn write_sectors(&self, first: u64, xts: Option<&Xts>, data: &[u8]) -> Result<()> {
        write_sectors(&self.file, &self.path, &self.header, first, xts, data)
    }

    /// Makes the blob permanent as part of catalog transaction `tx`, which must commit the row
    /// that owns it: fsync the file; write the commit marker `tmp/<id>.<pid>.commit` (the
    /// file's device and inode) and fsync it and `tmp/`; rename the file to `blobs/<id>` (never
    /// replacing an existing blob); fsync `blobs/`. The marker is removed once `tx` commits. If
    /// the process dies or `tx` rolls back first, the marker stays and proves to the next
    /// start-up's [`BlobStore::recover`] that `blobs/<id>` is an unfinished commit's, to delete.
    /// Short when the data movers already synced the file, so it fits inside the transaction.
    ///
    /// # Errors
    /// `ResourceBusy` if `blobs/<id>` exists (the marker is removed again); I/O errors of each
    /// step. If the rename succeeded but the directory fsync failed, the file stays in `blobs/`
    /// with its marker for `recover` to judge.
    pub(crate) fn persist_in(mut self, tx: &Tx<'_>) -> Result<()> {
        self.sync()?;
        self.write_marker()?;
        if let Err(e) = self.rename_into_place() {
            // Nothing was renamed: the marker must not outlive this attempt, or it would prove
            // whatever file holds the name now. A marker that cannot be removed names this
            // temporary's inode, which no file of `blobs/` has.
            let _ = fs::remove_file(&self.marker);
            return Err(e);
        }
        let marker = self.marker.clone();
        tx.after_commit(Box::new(move || {
            // Best effort: a marker left behind names a committed row, and the next start-up
            // removes just the marker.
            let _ = fail::point("blob.marker.remove").and_then(|()| fs::remove_file(marker));
        }));
        sync_dir(&self.blobs_dir, "blob.blobs-dir.fsync")
    }

    /// Makes the blob permanent outside any catalog transaction, for blobs no row will own
    /// (benchmarks, tests): fsync the file, rename it to `blobs/<id>` (never replacing an
    /// existing blob), fsync `blobs/`. A home's recovery quarantines such a file. Operations
    /// use [`TempBlob::persist_in`].
    ///
    /// # Errors
    /// As [`TempBlob::persist_in`].
    pub(crate) fn persist(mut self) -> Result<()> {
        self.sync()?;
        self.rename_into_place()?;
        sync_dir(&self.blobs_dir, "blob.blobs-dir.fsync")
    }

    /// Writes the commit marker and makes it durable (file and directory) before any rename.
    fn write_marker(&self) -> Result<()> {
        let meta = self
            .file
            .metadata()
            .map_err(|e| Error::io(format!("stat {}", self.path.display()), e))?;
        write_marker(&self.marker, FileIdentity::of(&meta), &self.tmp_dir)
    }

    /// Renames the temporary to `blobs/<id>`, never replacing a file.
    fn rename_into_place(&mut self) -> Result<()> {
        let (from, to) = (self.path.display(), self.dest.display());
        match fail::point("blob.rename")
            .and_then(|()| sys::rename_noreplace(&self.path, &self.dest))
        {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                bail!(
                    Code::RESOURCE_BUSY,
                    "rename {from} to {to}: {to} already exists"
                )
            }
            Err(e) => return Err(Error::io(format!("rename {from} to {to}"), e)),
        }
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        if !self.persisted {
            // Best effort: a file left behind is found by `cleanup` once this process is gone.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes the commit marker `marker` recording `identity` and makes it durable (file and its
/// directory `tmp_dir`).
fn write_marker(marker: &Path, identity: FileIdentity, tmp_dir: &Path) -> Result<()> {
    let m = marker.display();
    let mut f = fail::point("blob.marker.create")
        .and_then(|()| {
            File::options()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(marker)
        })
        .map_err(|e| Error::io(format!("create {m}"), e))?;
    io::Write::write_all(&mut f, identity.encode().as_bytes())
        .and_then(|()| fail::point("blob.marker.fsync"))
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(format!("write {m}"), e))?;
    sync_dir(tmp_dir, "blob.tmp-dir.fsync")
}

/// fsyncs a directory so a rename or creation in it survives a crash; `point` names the step
/// for fault injection.
fn sync_dir(dir: &Path, point: &'static str) -> Result<()> {
    let d = dir.display();
    fail::point(point)
        .and_then(|()| File::open(dir))
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(format!("fsync directory {d}"), e))
}

/// Reads and decodes the header of the blob file `file` (at `path`) and checks that the file's
/// length is the one the header gives.
///
/// # Errors
/// `CorruptFile` naming the path and what is wrong; I/O errors of the read or the stat.
fn read_header(file: &File, path: &Path) -> Result<BlobHeader> {
    let p = path.display();
    let mut head = [0u8; HEADER_LEN];
    match file.read_exact_at(&mut head, 0) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            bail!(
                Code::CORRUPT_FILE,
                "{p}: shorter than its {HEADER_LEN}-byte header"
            )
        }
        Err(e) => return Err(Error::io(format!("read header {p}"), e)),
    }
    let header = BlobHeader::decode(&head)
        .map_err(|e| Error::new(e.code(), format!("{p}: {}", e.message())))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io(format!("stat {p}"), e))?
        .len();
    if len != header.file_len() {
        bail!(
            Code::CORRUPT_FILE,
            "{p}: file is {len} bytes, its header says {} ({HEADER_LEN} + {})",
            header.file_len(),
            header.size
        );
    }
    Ok(header)
}

/// A committed volume or snapshot file, open read-only (or read-write from `open_rw`).
#[derive(Debug)]
pub(crate) struct Blob {
    file: File,
    path: PathBuf,
    header: BlobHeader,
    /// Whether writes are allowed (checked by the sector writes).
    writable: bool,
}

impl Blob {
    /// The validated header.
    pub(crate) fn header(&self) -> &BlobHeader {
        &self.header
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The open file, for the data movers' pread.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// The byte ranges of the data region (offset 0 = sector 0) that may hold data, sorted and
    /// disjoint, from SEEK_DATA/SEEK_HOLE. Everything else is a hole and reads as zeros. Where
    /// the filesystem cannot tell, the whole volume is one range.
    ///
    /// # Errors
    /// I/O errors of lseek.
    pub(crate) fn data_extents(&self) -> Result<Vec<(u64, u64)>> {
        extents(&self.file, &self.path, &self.header)
    }

    /// Maps the data region read-only (None for an empty volume), advised sequential.
    ///
    /// Sound because blob files never shrink once created and a copy's source is not written
    /// while it is copied: snapshots are immutable and a volume's writes are frozen (DESIGN,
    /// "Copy and rekey", create-image). Keep the map only for the duration of one copy.
    ///
    /// # Errors
    /// I/O errors of mmap.
    pub(crate) fn map(&self) -> Result<Option<memmap2::Mmap>> {
        if self.header.size == 0 {
            return Ok(None);
        }
        let len = usize::try_from(self.header.size).map_err(|_| {
            Error::new(
                Code::INTERNAL_ERROR,
                format!("{}: too large to map", self.path.display()),
            )
        })?;
        sys::map_readonly(&self.file, HEADER_LEN as u64, len)
            .map(Some)
            .map_err(|e| Error::io(format!("mmap {}", self.path.display()), e))
    }

    /// Reads `buf.len() / sector_size` sectors starting at sector `first`, decrypting with
    /// `xts` (None for an unencrypted volume). Holes and all-zero ciphertext sectors read as
    /// zeros.
    ///
    /// # Errors
    /// `InvalidParameterValue` for a range past the end or not whole sectors; `InternalError` if
    /// `xts` does not match the header's cipher; I/O errors.
    pub(crate) fn read_sectors(&self, first: u64, xts: Option<&Xts>, buf: &mut [u8]) -> Result<()> {
        read_sectors(&self.file, &self.path, &self.header, first, xts, buf)
    }

    /// Writes whole sectors starting at sector `first`, encrypting with `xts`. An all-zero
    /// plaintext sector is stored as all-zero bytes, which reads back as zeros ("unwritten").
    /// The plaintext is encrypted in a zeroizing copy; `data` is not modified.
    ///
    /// # Errors
    /// As [`Blob::read_sectors`]; `InvalidRequest` if the blob was opened read-only.
    #[cfg(test)]
    pub(crate) fn write_sectors(&self, first: u64, xts: Option<&Xts>, data: &[u8]) -> Result<()> {
        self.check_writable()?;
        write_sectors(&self.file, &self.path, &self.header, first, xts, data)
    }

    /// Writes whole sectors starting at sector `first` that [`encrypt_in_place`] has already
    /// encrypted with `xts` for sectors of `sector_size` bytes (`xts` None: plaintext of an
    /// unencrypted volume), in one write. For callers that encrypt a buffer they own while it
    /// is in cache anyway (checking it on the way) rather than copy it.
    ///
    /// # Errors
    /// As [`Blob::write_sectors`]; `InternalError` if `sector_size` is not the header's.
    pub(crate) fn write_encrypted_sectors(
        &self,
        first: u64,
        xts: Option<&Xts>,
        sector_size: u32,
        data: &[u8],
    ) -> Result<()> {
        self.check_writable()?;
        check_key(&self.header, xts, &self.path)?;
        if sector_size != self.header.sector_size {
            bail!(
                Code::INTERNAL_ERROR,
                "{}: encrypted for {sector_size}-byte sectors, but the volume's are {}",
                self.path.display(),
                self.header.sector_size
            );
        }
        let at = check_range(&self.header, &self.path, first, data.len())?;
        Backing::write_at(&self.file, at, data)
            .map_err(|e| Error::io(format!("write {}", self.path.display()), e))
    }

    fn check_writable(&self) -> Result<()> {
        if !self.writable {
            bail!(
                Code::INVALID_REQUEST,
                "{} is open read-only",
                self.path.display()
            );
        }
        Ok(())
    }

    /// fsyncs the file (after in-place writes).
    ///
    /// # Errors
    /// I/O errors of fsync.
    pub(crate) fn sync(&self) -> Result<()> {
        fail::point("blob.fsync")
            .and_then(|()| self.file.sync_all())
            .map_err(|e| Error::io(format!("fsync {}", self.path.display()), e))
    }
}

fn extents(file: &File, path: &Path, h: &BlobHeader) -> Result<Vec<(u64, u64)>> {
    let base = HEADER_LEN as u64;
    let ext = Backing::data_extents(file, base, base + h.size)
        .map_err(|e| Error::io(format!("seek data {}", path.display()), e))?;
    Ok(ext.into_iter().map(|(a, b)| (a - base, b - base)).collect())
}

/// Checks that `xts` is the key kind the header names (a mismatch is a caller bug that would
/// silently produce garbage).
pub(crate) fn check_key(h: &BlobHeader, xts: Option<&Xts>, path: &Path) -> Result<()> {
    let given = xts.map(Xts::cipher);
    if given != h.cipher {
        bail!(
            Code::INTERNAL_ERROR,
            "{}: key is {given:?} but the volume is {:?}",
            path.display(),
            h.cipher
        );
    }
    Ok(())
}

fn check_range(h: &BlobHeader, path: &Path, first: u64, len: usize) -> Result<u64> {
    let ss = h.sector_size as usize;
    let n = (len / ss) as u64;
    if !len.is_multiple_of(ss) || first.checked_add(n).is_none_or(|end| end > h.sectors()) {
        bail!(
            Code::INVALID_PARAMETER_VALUE,
            "{}: {len} bytes at sector {first} are not whole sectors inside the volume",
            path.display()
        );
    }
    Ok(HEADER_LEN as u64 + first * u64::from(h.sector_size))
}

fn read_sectors(
    file: &File,
    path: &Path,
    h: &BlobHeader,
    first: u64,
    xts: Option<&Xts>,
    buf: &mut [u8],
) -> Result<()> {
    check_key(h, xts, path)?;
    let at = check_range(h, path, first, buf.len())?;
    Backing::read_at(file, at, buf)
        .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
    if let Some(xts) = xts {
        crate::storage::decrypt_sectors(xts, first, h.sector_size as usize, buf);
    }
    Ok(())
}

#[cfg(test)]
fn write_sectors(
    file: &File,
    path: &Path,
    h: &BlobHeader,
    first: u64,
    xts: Option<&Xts>,
    data: &[u8],
) -> Result<()> {
    check_key(h, xts, path)?;
    let at = check_range(h, path, first, data.len())?;
    let p = path.display();
    let Some(xts) = xts else {
        return Backing::write_at(file, at, data).map_err(|e| Error::io(format!("write {p}"), e));
    };
    let mut buf = Zeroizing::new(data.to_vec());
    encrypt_in_place(xts, first, h.sector_size as usize, &mut buf);
    Backing::write_at(file, at, &buf).map_err(|e| Error::io(format!("write {p}"), e))
}

/// Encrypts the whole sectors of `data` in place, the first being sector `first`, as the sector
/// writes store them: an all-zero plaintext sector stays all-zero, which reads back as zeros
/// ("unwritten").
///
/// # Panics
/// If `sector_size` is not a non-zero multiple of 16 or `data` is not whole sectors.
pub(crate) fn encrypt_in_place(xts: &Xts, first: u64, sector_size: usize, data: &mut [u8]) {
    assert!(
        sector_size > 0 && data.len().is_multiple_of(sector_size),
        "{} bytes are not whole {sector_size}-byte sectors",
        data.len()
    );
    for (i, s) in data.chunks_exact_mut(sector_size).enumerate() {
        if !is_zero(s) {
            xts.encrypt_sectors(first + i as u64, sector_size, s);
        }
    }
}

/// Whether every byte of `s` is zero. ORs 64-byte blocks (which the compiler vectorises) and
/// stops at the first non-zero block, so ciphertext costs one block per sector.
pub(crate) fn is_zero(s: &[u8]) -> bool {
    let (blocks, tail) = s.as_chunks::<64>();
    blocks
        .iter()
        .all(|b| b.iter().fold(0u8, |a, &x| a | x) == 0)
        && tail.iter().all(|&x| x == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::header::tests::sample;
    use crate::secret::DataKey;
    use crate::xts::XtsCipher;
    use proptest::prelude::*;
    use std::os::unix::fs::PermissionsExt;

    fn xts_for(cipher: Option<XtsCipher>, seed: u8) -> Option<Xts> {
        cipher.map(|c| {
            let k: Vec<u8> = (0..c.key_len())
                .map(|i| (i as u8).wrapping_mul(31) ^ seed)
                .collect();
            Xts::new(&DataKey::from_slice(&k))
        })
    }

    fn store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn create_persist_open() {
        let (dir, store) = store();
        let h = sample(1 << 20, 4096, Some(XtsCipher::Aes256Xts));
        let t = store.create_temp("vol-1", &h).unwrap();
        let pid = std::process::id();
        assert_eq!(t.path(), dir.path().join(format!("tmp/vol-1.{pid}.tmp")));
        assert_eq!(t.header(), &h);
        let meta = fs::metadata(t.path()).unwrap();
        assert_eq!(meta.len(), 4096 + (1 << 20));
        assert!(!store.exists("vol-1").unwrap());
        let temp_path = t.path().to_owned();
        t.persist().unwrap();
        assert!(!temp_path.exists());
        assert!(store.exists("vol-1").unwrap());
        let b = store.open("vol-1").unwrap();
        assert_eq!(b.header(), &h);
        assert_eq!(b.path(), dir.path().join("blobs/vol-1"));
        // A fresh blob is all holes and reads as zeros.
        assert!(b.data_extents().unwrap().len() <= 1);
        let mut buf = vec![1u8; 8192];
        b.read_sectors(10, xts_for(h.cipher, 1).as_ref(), &mut buf)
            .unwrap();
        assert!(buf.iter().all(|&x| x == 0));
        store.remove("vol-1").unwrap();
        store.remove("vol-1").unwrap();
        assert!(!store.exists("vol-1").unwrap());
    }

    #[test]
    fn an_unpersisted_temp_is_removed_on_drop() {
        let (_dir, store) = store();
        let t = store
            .create_temp("vol-2", &sample(4096, 512, None))
            .unwrap();
        let p = t.path().to_owned();
        assert!(p.exists());
        drop(t);
        assert!(!p.exists());
    }

    #[test]
    fn persist_never_replaces_a_blob() {
        let (_dir, store) = store();
        let h = sample(4096, 512, None);
        store.create_temp("vol-3", &h).unwrap().persist().unwrap();
        let again = store.create_temp("vol-3", &h).unwrap();
        let p = again.path().to_owned();
        assert_eq!(again.persist().unwrap_err().code(), Code::RESOURCE_BUSY);
        assert!(!p.exists(), "the failed temporary is removed");
        let _first = store.create_temp("vol-4", &h).unwrap();
        assert_eq!(
            store.create_temp("vol-4", &h).unwrap_err().code(),
            Code::RESOURCE_BUSY
        );
    }

    #[test]
    fn ids_are_plain_names() {
        let (_dir, store) = store();
        let h = sample(4096, 512, None);
        for bad in ["", "../x", "a/b", "vol.1", ".", "vol 1"] {
            let e = store.create_temp(bad, &h).unwrap_err();
            assert_eq!(e.code(), Code::INVALID_PARAMETER_VALUE, "{bad:?}");
        }
        let mut bad = h.clone();
        bad.sector_size = 1024;
        assert_eq!(
            store.create_temp("vol-5", &bad).unwrap_err().code(),
            Code::INVALID_PARAMETER_VALUE
        );
    }

    #[test]
    fn a_corrupt_header_byte_fails_open_naming_the_path() {
        let (_dir, store) = store();
        let h = sample(8192, 4096, Some(XtsCipher::Aes128Xts));
        store.create_temp("vol-6", &h).unwrap().persist().unwrap();
        let path = store.path_of("vol-6");
        let f = File::options().write(true).open(&path).unwrap();
        f.write_all_at(&[0x55], 100).unwrap();
        let e = store.open("vol-6").unwrap_err();
        assert_eq!(e.code(), Code::CORRUPT_FILE);
        assert!(e.message().contains(&path.display().to_string()), "{e}");
        assert!(e.message().contains("checksum"), "{e}");
    }

    #[test]
    fn a_wrong_length_or_short_file_is_corrupt() {
        let (_dir, store) = store();
        let h = sample(8192, 4096, None);
        store.create_temp("vol-7", &h).unwrap().persist().unwrap();
        let path = store.path_of("vol-7");
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(4096 + 4096)
            .unwrap();
        let e = store.open("vol-7").unwrap_err();
        assert_eq!(e.code(), Code::CORRUPT_FILE);
        assert!(e.message().contains("header says"), "{e}");
        fs::write(&path, b"short").unwrap();
        let e = store.open("vol-7").unwrap_err();
        assert_eq!(e.code(), Code::CORRUPT_FILE);
        assert!(e.message().contains("shorter"), "{e}");
    }

    /// A process id that is certainly dead: a child that has exited and been reaped.
    fn dead_pid() -> u32 {
        let mut dead = std::process::Command::new("true").spawn().unwrap();
        let pid = dead.id();
        dead.wait().unwrap();
        pid
    }

    #[test]
    fn recover_removes_dead_temps_and_quarantines_unexplained_files() {
        let (dir, store) = store();
        let h = sample(4096, 512, None);
        for id in ["vol-live", "vol-unowned"] {
            store.create_temp(id, &h).unwrap().persist().unwrap();
        }
        let unowned_bytes = fs::read(store.path_of("vol-unowned")).unwrap();
        let dead_pid = dead_pid();
        let mut alive = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let tmp = dir.path().join("tmp");
        let dead_temp = tmp.join(format!("vol-a.{dead_pid}.tmp"));
        let live_temp = tmp.join(format!("vol-b.{}.tmp", alive.id()));
        let not_ours = tmp.join("notes.txt");
        for p in [&dead_temp, &live_temp, &not_ours] {
            fs::write(p, b"x").unwrap();
        }
        let mine = store.create_temp("vol-c", &h).unwrap();

        let got = store.recover(|id| id == "vol-live").unwrap();
        assert_eq!(got.removed, vec![dead_temp.clone()]);
        let q = dir.path().join("quarantine");
        assert_eq!(got.quarantined, vec![q.join("vol-unowned")]);
        assert_eq!(fs::read(q.join("vol-unowned")).unwrap(), unowned_bytes);
        assert_eq!(
            fs::metadata(&q).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert!(live_temp.exists() && not_ours.exists() && mine.path().exists());
        assert!(store.exists("vol-live").unwrap());
        assert_eq!(
            store.recover(|id| id == "vol-live").unwrap(),
            Recovered::default()
        );

        // A second unexplained file of the same id never replaces the first in quarantine.
        store
            .create_temp("vol-unowned", &h)
            .unwrap()
            .persist()
            .unwrap();
        let again = store.recover(|id| id == "vol-live").unwrap();
        assert_eq!(again.quarantined, vec![q.join("vol-unowned.1")]);

        alive.kill().unwrap();
        alive.wait().unwrap();
        assert_eq!(
            store.recover(|id| id == "vol-live").unwrap().removed,
            vec![live_temp]
        );
    }

    #[test]
    fn a_sigkilled_writer_leaves_a_temp_that_recover_removes() {
        // A copy killed with SIGKILL never runs TempBlob's drop: its tmp/<id>.<pid>.tmp stays
        // until the next command's recovery. Simulated with a child that holds the file open.
        let (dir, store) = store();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let path = dir.path().join(format!("tmp/vol-k.{}.tmp", child.id()));
        fs::write(&path, vec![0u8; 8192]).unwrap();
        assert_eq!(store.recover(|_| true).unwrap(), Recovered::default());
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert_eq!(store.recover(|_| true).unwrap().removed, vec![path]);
    }

    /// Files of `tmp/`, sorted.
    fn tmp_files(store: &BlobStore) -> Vec<String> {
        let mut v = list_files(&store.tmp).unwrap();
        v.sort();
        v
    }

    #[test]
    fn persist_in_keeps_a_marker_until_the_row_commits() {
        let (dir, store) = store();
        let cat = crate::catalog::Catalog::open(&dir.path().join("catalog.db")).unwrap();
        let h = sample(4096, 512, None);
        let t = store.create_temp("vol-ok", &h).unwrap();
        let marker = t.marker.clone();
        cat.write(|tx| {
            t.persist_in(tx)?;
            // Between the rename and the commit the marker proves the file.
            let text = fs::read_to_string(&marker).unwrap();
            let id = FileIdentity::decode(&text).unwrap();
            let meta = fs::metadata(store.path_of("vol-ok")).unwrap();
            assert_eq!(id, FileIdentity::of(&meta));
            Ok(())
        })
        .unwrap();
        assert!(!marker.exists(), "the commit removed the marker");
        assert!(store.exists("vol-ok").unwrap());
        assert!(tmp_files(&store).is_empty());

        // A refused rename (the id is taken) leaves no marker behind.
        let t = store.create_temp("vol-ok", &h).unwrap();
        let e = cat.write(|tx| t.persist_in(tx)).unwrap_err();
        assert_eq!(e.code(), Code::RESOURCE_BUSY);
        assert!(tmp_files(&store).is_empty());
    }

    #[test]
    fn a_rolled_back_commit_is_undone_by_its_marker_only() {
        // Failure story: the process renamed a blob into place inside its transaction and then
        // died (or the transaction failed) before the row committed.
        let (dir, store) = store();
        let cat = crate::catalog::Catalog::open(&dir.path().join("catalog.db")).unwrap();
        let h = sample(4096, 512, None);
        for id in ["vol-gone", "vol-kept", "vol-swapped"] {
            let t = store.create_temp(id, &h).unwrap();
            let r: Result<()> = cat.write(|tx| {
                t.persist_in(tx)?;
                Err(Error::new(Code::INTERNAL_ERROR, "crash before the commit"))
            });
            assert!(r.is_err());
        }
        // This process still runs: its markers are in flight and nothing is judged yet.
        assert_eq!(store.recover(|_| false).unwrap(), Recovered::default());
        // As if it had died: the markers now name a dead process.
        let dead = dead_pid();
        let me = std::process::id();
        for name in tmp_files(&store) {
            let moved = name.replace(&format!(".{me}."), &format!(".{dead}."));
            fs::rename(store.tmp.join(&name), store.tmp.join(moved)).unwrap();
        }
        // vol-swapped's file was replaced by another one: the marker does not prove it.
        let swapped = store.path_of("vol-swapped");
        let other = store.tmp.join("other");
        fs::copy(&swapped, &other).unwrap();
        fs::rename(&other, &swapped).unwrap();

        let got = store.recover(|id| id == "vol-kept").unwrap();
        let marker = |id: &str| store.tmp.join(format!("{id}.{dead}.{MARKER_SUFFIX}"));
        let mut removed = got.removed.clone();
        removed.sort();
        let mut want = vec![
            store.path_of("vol-gone"),
            marker("vol-gone"),
            marker("vol-kept"),
            marker("vol-swapped"),
        ];
        want.sort();
        assert_eq!(removed, want);
        assert_eq!(
            got.quarantined,
            vec![dir.path().join("quarantine/vol-swapped")]
        );
        assert!(
            store.exists("vol-kept").unwrap(),
            "a committed row keeps its file"
        );
        assert!(tmp_files(&store).is_empty());
    }

    #[test]
    fn a_deletion_cut_short_after_its_commit_is_finished_not_quarantined() {
        // Failure story: a delete committed the row's removal and the process died before it
        // removed the file. Without proof the next start-up would take the file for a foreign
        // one and quarantine it.
        let (dir, store) = store();
        let cat = crate::catalog::Catalog::open(&dir.path().join("catalog.db")).unwrap();
        let h = sample(4096, 512, None);
        for id in ["vol-del", "vol-kept"] {
            store.create_temp(id, &h).unwrap().persist().unwrap();
        }
        // vol-del: the commit went through but no hook ran (as if killed right after it).
        cat.write(|tx| store.remove_in(tx, "vol-del")).unwrap();
        assert!(
            !store.exists("vol-del").unwrap(),
            "a finished delete removes the file"
        );
        assert!(tmp_files(&store).is_empty(), "and then its marker");
        store.create_temp("vol-del", &h).unwrap().persist().unwrap();
        let file = FileIdentity::of(&fs::metadata(store.path_of("vol-del")).unwrap());
        let dead = dead_pid();
        let marker = |id: &str| store.tmp.join(format!("{id}.{dead}.{MARKER_SUFFIX}"));
        write_marker(&marker("vol-del"), file, &store.tmp).unwrap();
        // vol-kept: the delete rolled back; its marker proves nothing while the row lives.
        let r: Result<()> = cat.write(|tx| {
            store.remove_in(tx, "vol-kept")?;
            Err(Error::new(Code::INTERNAL_ERROR, "rolled back"))
        });
        assert!(r.is_err());
        let me = std::process::id();
        let mine = store.tmp.join(format!("vol-kept.{me}.{MARKER_SUFFIX}"));
        fs::rename(&mine, marker("vol-kept")).unwrap();

        let got = store.recover(|id| id == "vol-kept").unwrap();
        let mut removed = got.removed.clone();
        removed.sort();
        let mut want = vec![
            store.path_of("vol-del"),
            marker("vol-del"),
            marker("vol-kept"),
        ];
        want.sort();
        assert_eq!(removed, want);
        assert!(got.quarantined.is_empty(), "{:?}", got.quarantined);
        assert!(store.exists("vol-kept").unwrap());
        // Deleting a file that is already gone needs nothing.
        cat.write(|tx| store.remove_in(tx, "vol-del")).unwrap();
        assert!(tmp_files(&store).is_empty());
    }

    #[test]
    fn a_missing_file_is_corrupt_naming_the_resource() {
        let (_dir, store) = store();
        let e = store.open("snap-0123456789abcdef0").unwrap_err();
        assert_eq!(e.code(), Code::CORRUPT_FILE);
        assert!(e.message().contains("snap-0123456789abcdef0"), "{e}");
        assert!(e.message().contains("missing"), "{e}");
        let h = sample(8192, 4096, None);
        store.create_temp("vol-p", &h).unwrap().persist().unwrap();
        assert_eq!(store.problem("vol-p", 8192), None);
        assert!(store.problem("vol-p", 4096).unwrap().contains("damaged"));
        assert!(store.problem("vol-q", 4096).unwrap().contains("missing"));
    }

    #[test]
    fn reads_and_writes_check_key_and_range() {
        let (_dir, store) = store();
        let h = sample(8192, 4096, Some(XtsCipher::Aes256Xts));
        store.create_temp("vol-8", &h).unwrap().persist().unwrap();
        let ro = store.open("vol-8").unwrap();
        let x = xts_for(h.cipher, 2);
        let mut buf = vec![0u8; 4096];
        assert_eq!(
            ro.write_sectors(0, x.as_ref(), &buf).unwrap_err().code(),
            Code::INVALID_REQUEST
        );
        assert_eq!(
            ro.read_sectors(0, None, &mut buf).unwrap_err().code(),
            Code::INTERNAL_ERROR
        );
        let other = xts_for(Some(XtsCipher::Aes128Xts), 2);
        assert_eq!(
            ro.read_sectors(0, other.as_ref(), &mut buf)
                .unwrap_err()
                .code(),
            Code::INTERNAL_ERROR
        );
        let e = ro.read_sectors(2, x.as_ref(), &mut buf).unwrap_err();
        assert_eq!(e.code(), Code::INVALID_PARAMETER_VALUE);
        let e = ro.read_sectors(0, x.as_ref(), &mut buf[..100]).unwrap_err();
        assert_eq!(e.code(), Code::INVALID_PARAMETER_VALUE);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Write {
            sector: u64,
            count: u64,
            fill: u8,
            seed: u8,
        },
        Read {
            sector: u64,
            count: u64,
        },
    }

    fn arb_op(sectors: u64) -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..sectors, 1u64..4, any::<u8>(), any::<u8>()).prop_map(move |(s, c, fill, seed)| {
                Op::Write {
                    sector: s,
                    count: c.min(sectors - s),
                    fill,
                    seed,
                }
            }),
            (0..sectors, 1u64..4).prop_map(move |(s, c)| Op::Read {
                sector: s,
                count: c.min(sectors - s)
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Random sector writes and reads agree with a byte-vector model, through a reopen.
        #[test]
        fn sector_io_matches_a_model(
            ss in prop_oneof![Just(512u32), Just(4096u32)],
            cipher in prop_oneof![
                Just(None),
                Just(Some(XtsCipher::Aes128Xts)),
                Just(Some(XtsCipher::Aes256Xts))
            ],
            ops in proptest::collection::vec(arb_op(16), 1..24),
        ) {
            let (_dir, store) = store();
            let h = sample(16 * u64::from(ss), ss, cipher);
            let x = xts_for(cipher, 9);
            let t = store.create_temp("vol-m", &h).unwrap();
            let ssz = ss as usize;
            let mut model = vec![0u8; h.size as usize];
            for op in &ops {
                match *op {
                    Op::Write { sector, count, fill, seed } => {
                        // `fill` 0 writes all-zero sectors, which must read back as zeros.
                        let data: Vec<u8> = (0..count as usize * ssz)
                            .map(|i| if fill == 0 { 0 } else { (i as u8).wrapping_mul(seed) ^ fill })
                            .collect();
                        t.write_sectors(sector, x.as_ref(), &data).unwrap();
                        let at = sector as usize * ssz;
                        model[at..at + data.len()].copy_from_slice(&data);
                    }
                    Op::Read { sector, count } => {
                        let mut buf = vec![0xee; count as usize * ssz];
                        t.read_sectors(sector, x.as_ref(), &mut buf).unwrap();
                        let at = sector as usize * ssz;
                        prop_assert_eq!(&buf[..], &model[at..at + buf.len()]);
                    }
                }
            }
            t.persist().unwrap();
            let b = store.open_rw("vol-m").unwrap();
            let mut all = vec![0u8; model.len()];
            b.read_sectors(0, x.as_ref(), &mut all).unwrap();
            prop_assert_eq!(&all, &model);
            b.write_sectors(0, x.as_ref(), &vec![7u8; ssz]).unwrap();
            b.sync().unwrap();
            let mut one = vec![0u8; ssz];
            b.read_sectors(0, x.as_ref(), &mut one).unwrap();
            prop_assert!(one.iter().all(|&v| v == 7));
            if cipher.is_some() && model.iter().any(|&v| v != 0) {
                // What is on disk is not the plaintext.
                let raw = fs::read(b.path()).unwrap();
                prop_assert_ne!(&raw[HEADER_LEN..HEADER_LEN + ssz], &one[..]);
            }
        }
    }

    #[test]
    fn is_zero_looks_at_every_byte() {
        for len in [0usize, 1, 63, 64, 65, 512, 4096] {
            let mut v = vec![0u8; len];
            assert!(is_zero(&v));
            for i in 0..len {
                v[i] = 1;
                assert!(!is_zero(&v), "len {len} byte {i}");
                v[i] = 0;
            }
        }
    }
}
