//! The I/O shell around [`BlobHeader`]: where blob files live in the home, how they are created
//! (temporary, then fsync + rename), opened and validated, removed, and cleaned up after a
//! crash, plus sector-granular reads and writes with the sparse semantics of DESIGN.md.
//!
//! It must not decide which blobs should exist (the catalog does, through `cleanup`'s
//! `is_live`), hold keys beyond a call, or print. Raw system calls live in `sys`.

use super::header::{BlobHeader, HEADER_LEN, MAX_ID_LEN};
use super::sys;
use crate::error::{bail, Code, Error, Result};
use crate::xts::Xts;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
#[cfg(test)]
use zeroize::Zeroizing;

/// The blob files of one home: `HOME/blobs/<id>` for committed files, `HOME/tmp/<id>.<pid>.tmp`
/// while one is being written.
#[derive(Clone, Debug)]
pub(crate) struct BlobStore {
    blobs: PathBuf,
    tmp: PathBuf,
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
        };
        for d in [&store.blobs, &store.tmp] {
            fs::create_dir_all(d).map_err(|e| Error::io(format!("create {}", d.display()), e))?;
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
        let file = File::options()
            .read(true)
            .write(writable)
            .open(&path)
            .map_err(|e| Error::io(format!("open {p}"), e))?;
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
        Ok(Blob {
            file,
            path,
            header,
            writable,
        })
    }

    /// Removes the committed blob `id`; removing one that does not exist is not an error.
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

    /// Removes what crashes leave behind: temporaries whose writing process is gone
    /// (kill(pid, 0) fails with ESRCH) and committed blobs whose id `is_live` rejects. Temporaries
    /// of this process and of live processes stay; names that are not ours stay. Returns the
    /// removed paths.
    ///
    /// Call it holding the catalog's write lock, as `persist` is called: otherwise a blob just
    /// renamed into place by another process, whose row is not yet committed, looks orphaned.
    /// A dead writer's pid reused by an unrelated process keeps its temporary until that process
    /// ends too.
    ///
    /// # Errors
    /// I/O errors listing either directory or removing a file.
    pub(crate) fn cleanup(&self, is_live: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>> {
        let me = std::process::id();
        let mut removed = Vec::new();
        for name in list_files(&self.tmp)? {
            let Some((_, pid)) = parse_temp_name(&name) else {
                continue;
            };
            if pid != me && !sys::pid_alive(pid) {
                removed.extend(remove_path(self.tmp.join(&name))?);
            }
        }
        for name in list_files(&self.blobs)? {
            if check_id(&name).is_ok() && !is_live(&name) {
                removed.extend(remove_path(self.blobs.join(&name))?);
            }
        }
        Ok(removed)
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
    match fs::remove_file(&path) {
        Ok(()) => Ok(Some(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("remove {}", path.display()), e)),
    }
}

/// `<id>.<pid>.tmp` → (id, pid).
fn parse_temp_name(name: &str) -> Option<(&str, u32)> {
    let (id, pid) = name.strip_suffix(".tmp")?.rsplit_once('.')?;
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

    /// Flushes the file's data and metadata to disk. The data movers call this when they finish,
    /// so that `persist`, which runs inside a catalog transaction, finds nothing left to write.
    ///
    /// # Errors
    /// I/O errors of fsync.
    pub(crate) fn sync(&self) -> Result<()> {
        self.file
            .sync_all()
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

    /// Makes the blob permanent: fsync the file, rename it to `blobs/<id>` (never replacing an
    /// existing blob), fsync `blobs/`. Short when the data movers already synced the file, so
    /// it fits inside a catalog write transaction.
    ///
    /// # Errors
    /// `ResourceBusy` if `blobs/<id>` exists; I/O errors of each step. If the rename succeeded
    /// but the directory fsync failed, the file stays in `blobs/` for `cleanup` to judge.
    pub(crate) fn persist(mut self) -> Result<()> {
        self.sync()?;
        let (from, to) = (self.path.display(), self.dest.display());
        match sys::rename_noreplace(&self.path, &self.dest) {
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
        sync_dir(&self.blobs_dir)
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

/// fsyncs a directory so a rename or creation in it survives a crash.
fn sync_dir(dir: &Path) -> Result<()> {
    let d = dir.display();
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(format!("fsync directory {d}"), e))
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
        self.file
            .write_all_at(data, at)
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
        self.file
            .sync_all()
            .map_err(|e| Error::io(format!("fsync {}", self.path.display()), e))
    }
}

fn extents(file: &File, path: &Path, h: &BlobHeader) -> Result<Vec<(u64, u64)>> {
    let base = HEADER_LEN as u64;
    let ext = sys::data_extents(file, base, base + h.size)
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
    file.read_exact_at(buf, at)
        .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
    if let Some(xts) = xts {
        let ss = h.sector_size as usize;
        for (i, s) in buf.chunks_exact_mut(ss).enumerate() {
            if !is_zero(s) {
                xts.decrypt_sectors(first + i as u64, ss, s);
            }
        }
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
        return file
            .write_all_at(data, at)
            .map_err(|e| Error::io(format!("write {p}"), e));
    };
    let mut buf = Zeroizing::new(data.to_vec());
    let ss = h.sector_size as usize;
    for (i, s) in buf.chunks_exact_mut(ss).enumerate() {
        if !is_zero(s) {
            xts.encrypt_sectors(first + i as u64, ss, s);
        }
    }
    file.write_all_at(&buf, at)
        .map_err(|e| Error::io(format!("write {p}"), e))
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

    #[test]
    fn cleanup_removes_dead_temps_and_orphans_only() {
        let (dir, store) = store();
        let h = sample(4096, 512, None);
        for id in ["vol-live", "vol-orphan"] {
            store.create_temp(id, &h).unwrap().persist().unwrap();
        }
        let mut dead = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = dead.id();
        dead.wait().unwrap();
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

        let mut removed = store.cleanup(|id| id == "vol-live").unwrap();
        removed.sort();
        let mut expected = vec![dead_temp.clone(), store.path_of("vol-orphan")];
        expected.sort();
        assert_eq!(removed, expected);
        assert!(live_temp.exists() && not_ours.exists() && mine.path().exists());
        assert!(store.exists("vol-live").unwrap());
        assert!(store.cleanup(|id| id == "vol-live").unwrap().is_empty());

        alive.kill().unwrap();
        alive.wait().unwrap();
        assert_eq!(
            store.cleanup(|id| id == "vol-live").unwrap(),
            vec![live_temp]
        );
    }

    #[test]
    fn a_sigkilled_writer_leaves_a_temp_that_cleanup_removes() {
        // A copy killed with SIGKILL never runs TempBlob's drop: its tmp/<id>.<pid>.tmp stays
        // until the next command's cleanup. Simulated with a child that holds the file open.
        let (dir, store) = store();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let path = dir.path().join(format!("tmp/vol-k.{}.tmp", child.id()));
        fs::write(&path, vec![0u8; 8192]).unwrap();
        assert!(store.cleanup(|_| true).unwrap().is_empty());
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert_eq!(store.cleanup(|_| true).unwrap(), vec![path]);
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
