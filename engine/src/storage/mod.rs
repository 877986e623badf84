//! The one storage seam: where a volume's bytes live. Everything above it — sector I/O, the
//! XTS transform, the zero-sector-means-hole rule, discard, the data movers — is written once
//! against [`Backing`]; below it sit a file ([`FileBacking`], and a plain `File`) and memory
//! ([`MemBacking`]), and in tests a wrapper that injects faults (`fault::FaultBacking`).
//! redb's `StorageBackend` is the model (DESIGN.md, "One storage seam").
//!
//! - `volume`: [`Volume`], a volume's sectors over any backing (data offset, sector size,
//!   optional XTS key): sector and byte-addressed I/O, striped sector locks, discard.
//!
//! No `unsafe` here: the system calls (SEEK_DATA, fallocate, the shared map) are `crate::sys`'s.

#[cfg(test)]
pub(crate) mod fault;
mod volume;

pub use volume::Volume;
pub(crate) use volume::{decrypt_sectors, Geometry};
#[cfg(test)]
pub(crate) use volume::{RUN, STRIPES};

use crate::sys;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// Byte storage under a volume. Offsets are absolute (a volume file's header is part of it).
///
/// The contract, which `tests::conformance` checks for every implementation:
/// - `len` is the current length; bytes in `[0, len)` never written, and holes, read as zeros.
/// - `read_at` fills all of `buf` or fails; a range past `len` is `UnexpectedEof` and fills
///   nothing the caller may rely on.
/// - `write_at` writes all of `data` or fails; writing past `len` grows the backing (holes in
///   between). After a failure, any part of the range may hold old or new bytes, but whole
///   pages (4 KiB, aligned) are each old or new: a page is the unit storage writes whole.
/// - `punch_hole` makes the range read as zeros and frees what it can; `len` does not change.
/// - `data_extents(start, end)` lists, sorted and disjoint, ranges inside `[start, end)` that
///   may hold data: every byte written and not punched since lies in one; it may list more
///   (a file system without SEEK_DATA lists everything).
/// - `sync` returns once every write it saw is durable.
/// - Calls may run on many threads at once; writes to overlapping ranges at the same time
///   leave either one's bytes in each page (callers lock sectors to avoid that).
pub trait Backing: Send + Sync {
    /// The length in bytes.
    fn len(&self) -> u64;
    /// Whether the backing holds no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Reads `buf.len()` bytes at `offset`.
    ///
    /// # Errors
    /// `UnexpectedEof` past the end; the storage's own errors.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Writes `data` at `offset`.
    ///
    /// # Errors
    /// The storage's errors (ENOSPC when full).
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Turns `[offset, offset + len)` into zeros, freeing it where the storage can.
    ///
    /// # Errors
    /// The storage's errors.
    fn punch_hole(&self, offset: u64, len: u64) -> io::Result<()>;
    /// The ranges of `[start, end)` that may hold data (see the trait docs).
    ///
    /// # Errors
    /// The storage's errors.
    fn data_extents(&self, start: u64, end: u64) -> io::Result<Vec<(u64, u64)>>;
    /// Makes every write so far durable.
    ///
    /// # Errors
    /// The storage's errors (EIO for a write that could not reach the disk).
    fn sync(&self) -> io::Result<()>;
    /// A name for error messages: the path, or what the memory is.
    fn name(&self) -> String;
    /// The backing's shared map, if it has one: the fast path of a file-backed volume. Other
    /// backings (and wrappers that must see every write) have none.
    fn shared_map(&self) -> Option<&sys::SharedMap> {
        None
    }
}

impl<B: Backing + ?Sized> Backing for &B {
    fn len(&self) -> u64 {
        (**self).len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        (**self).read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        (**self).write_at(offset, data)
    }
    fn punch_hole(&self, offset: u64, len: u64) -> io::Result<()> {
        (**self).punch_hole(offset, len)
    }
    fn data_extents(&self, start: u64, end: u64) -> io::Result<Vec<(u64, u64)>> {
        (**self).data_extents(start, end)
    }
    fn sync(&self) -> io::Result<()> {
        (**self).sync()
    }
    fn name(&self) -> String {
        (**self).name()
    }
    fn shared_map(&self) -> Option<&sys::SharedMap> {
        (**self).shared_map()
    }
}

/// A plain open file: pread/pwrite, no map. Blob files and the data movers use it as it is.
impl Backing for File {
    fn len(&self) -> u64 {
        self.metadata().map_or(0, |m| m.len())
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.read_exact_at(buf, offset)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.write_all_at(data, offset)
    }
    fn punch_hole(&self, offset: u64, len: u64) -> io::Result<()> {
        sys::punch_hole(self, offset, len)
    }
    fn data_extents(&self, start: u64, end: u64) -> io::Result<Vec<(u64, u64)>> {
        sys::data_extents(self, start, end)
    }
    fn sync(&self) -> io::Result<()> {
        self.sync_data()
    }
    fn name(&self) -> String {
        "file".to_owned()
    }
}

/// A volume file with its path, optionally with its data region mapped shared for the fast
/// path (`crate::sys::SharedMap`: writes encrypt straight into the map, reads decrypt straight
/// out of it).
pub struct FileBacking {
    file: File,
    path: PathBuf,
    map: Option<sys::SharedMap>,
}

impl FileBacking {
    /// The file at `path`, served with pread/pwrite.
    pub(crate) fn new(file: File, path: PathBuf) -> FileBacking {
        FileBacking {
            file,
            path,
            map: None,
        }
    }

    /// The file at `path` with `[offset, offset + len)` mapped shared where the file system
    /// allows it (pread/pwrite otherwise). The file must be opened read-write, at least that
    /// long, and never truncated while the backing lives: volume files are sized once and
    /// never shrink, and the caller holds the file's exclusive `flock` (`crate::mount`).
    pub(crate) fn mapped(file: File, path: PathBuf, offset: u64, len: u64) -> FileBacking {
        let map = sys::SharedMap::new(&file, offset, len).ok();
        FileBacking { file, path, map }
    }

    /// A new sparse file of `len` bytes at `path` (replacing one there), mapped from
    /// `map_from` to the end where the file system allows it.
    ///
    /// # Errors
    /// I/O errors creating or sizing the file.
    pub(crate) fn create(path: &Path, len: u64, map_from: Option<u64>) -> io::Result<FileBacking> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.set_len(len)?;
        Ok(match map_from {
            Some(at) => FileBacking::mapped(file, path.to_owned(), at, len - at),
            None => FileBacking::new(file, path.to_owned()),
        })
    }

    /// The open file.
    #[cfg(test)]
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// The file's path.
    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file is mapped.
    #[cfg(test)]
    pub(crate) fn is_mapped(&self) -> bool {
        self.map.is_some()
    }
}

impl Backing for FileBacking {
    fn len(&self) -> u64 {
        self.file.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.file.write_all_at(data, offset)
    }
    fn punch_hole(&self, offset: u64, len: u64) -> io::Result<()> {
        let punched = sys::punch_hole(&self.file, offset, len);
        if let Some(m) = &self.map {
            // Even a failed punch may have freed pages.
            m.forget(offset, len);
        }
        punched
    }
    fn data_extents(&self, start: u64, end: u64) -> io::Result<Vec<(u64, u64)>> {
        sys::data_extents(&self.file, start, end)
    }
    fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn name(&self) -> String {
        self.path.display().to_string()
    }
    fn shared_map(&self) -> Option<&sys::SharedMap> {
        self.map.as_ref()
    }
}

/// Bytes per allocation unit of [`MemBacking`]: what `data_extents` and holes are made of.
const MEM_PAGE: u64 = 4096;

/// Memory as a backing: sparse in the sense that matters to the layers above — it tracks which
/// 4 KiB pages were written and not punched since, so `data_extents` is exact and a copy of a
/// sparse volume over it stays sparse.
pub struct MemBacking {
    inner: RwLock<MemInner>,
}

struct MemInner {
    bytes: Vec<u8>,
    /// One bit per [`MEM_PAGE`]: the page holds data.
    used: Vec<u64>,
}

impl MemInner {
    fn mark(&mut self, offset: u64, len: u64, used: bool) {
        if len == 0 {
            return;
        }
        for p in offset / MEM_PAGE..(offset + len).div_ceil(MEM_PAGE) {
            let (w, b) = ((p / 64) as usize, p % 64);
            if w >= self.used.len() {
                self.used.resize(w + 1, 0);
            }
            if used {
                self.used[w] |= 1 << b;
            } else {
                self.used[w] &= !(1 << b);
            }
        }
    }

    fn is_used(&self, page: u64) -> bool {
        self.used
            .get((page / 64) as usize)
            .is_some_and(|w| w & (1 << (page % 64)) != 0)
    }
}

impl MemBacking {
    /// `len` bytes of zeros, all holes.
    pub fn new(len: usize) -> MemBacking {
        MemBacking {
            inner: RwLock::new(MemInner {
                bytes: vec![0; len],
                used: Vec::new(),
            }),
        }
    }
}

fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end")
}

impl Backing for MemBacking {
    fn len(&self) -> u64 {
        self.inner.read().expect("lock").bytes.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let m = self.inner.read().expect("lock");
        let end = offset.checked_add(buf.len() as u64).ok_or_else(eof)?;
        if end > m.bytes.len() as u64 {
            return Err(eof());
        }
        buf.copy_from_slice(&m.bytes[offset as usize..end as usize]);
        Ok(())
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut m = self.inner.write().expect("lock");
        let end = usize::try_from(offset + data.len() as u64)
            .map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
        if end > m.bytes.len() {
            m.bytes.resize(end, 0);
        }
        m.bytes[offset as usize..end].copy_from_slice(data);
        m.mark(offset, data.len() as u64, true);
        Ok(())
    }
    fn punch_hole(&self, offset: u64, len: u64) -> io::Result<()> {
        let mut m = self.inner.write().expect("lock");
        let size = m.bytes.len() as u64;
        let (start, end) = (offset.min(size), offset.saturating_add(len).min(size));
        if start >= end {
            return Ok(());
        }
        m.bytes[start as usize..end as usize].fill(0);
        // Whole pages become holes; a partly punched page keeps its other bytes.
        let (first, last) = (start.div_ceil(MEM_PAGE), end / MEM_PAGE);
        if first < last {
            m.mark(first * MEM_PAGE, (last - first) * MEM_PAGE, false);
        }
        Ok(())
    }
    fn data_extents(&self, start: u64, end: u64) -> io::Result<Vec<(u64, u64)>> {
        let m = self.inner.read().expect("lock");
        let end = end.min(m.bytes.len() as u64);
        let mut out: Vec<(u64, u64)> = Vec::new();
        if start >= end {
            return Ok(out);
        }
        for p in start / MEM_PAGE..end.div_ceil(MEM_PAGE) {
            if !m.is_used(p) {
                continue;
            }
            let (a, b) = ((p * MEM_PAGE).max(start), ((p + 1) * MEM_PAGE).min(end));
            match out.last_mut() {
                Some(last) if last.1 == a => last.1 = b,
                _ => out.push((a, b)),
            }
        }
        Ok(out)
    }
    fn sync(&self) -> io::Result<()> {
        Ok(())
    }
    fn name(&self) -> String {
        "memory".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trait contract, run against every backing.
    fn conformance(b: &dyn Backing) {
        let len = b.len();
        assert!(len >= 64 * 1024, "a backing of at least 64 KiB");
        let mut buf = vec![1u8; 8192];
        b.read_at(0, &mut buf).unwrap();
        assert!(buf.iter().all(|&x| x == 0), "never written reads as zeros");
        assert!(b.data_extents(0, len).unwrap().iter().all(|&(a, e)| a < e));
        b.write_at(12 * 1024, &[5u8; 5000]).unwrap();
        b.read_at(12 * 1024 - 10, &mut buf[..5020]).unwrap();
        assert!(buf[..10].iter().all(|&x| x == 0));
        assert!(buf[10..5010].iter().all(|&x| x == 5));
        assert!(buf[5010..5020].iter().all(|&x| x == 0));
        let ext = b.data_extents(0, len).unwrap();
        assert!(
            ext.iter()
                .any(|&(a, e)| a <= 12 * 1024 && e >= 12 * 1024 + 5000),
            "written bytes lie in an extent: {ext:?}"
        );
        assert!(ext.windows(2).all(|w| w[0].1 < w[1].0), "sorted, disjoint");
        let e = b.read_at(len - 10, &mut buf[..20]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        b.punch_hole(12 * 1024, 4096).unwrap();
        b.read_at(12 * 1024, &mut buf[..5000]).unwrap();
        assert!(buf[..4096].iter().all(|&x| x == 0), "punched reads zeros");
        assert!(buf[4096..5000].iter().all(|&x| x == 5), "the rest stays");
        assert_eq!(b.len(), len, "a punch keeps the length");
        b.sync().unwrap();
        b.write_at(len + 4096, &[9u8; 10]).unwrap();
        assert_eq!(b.len(), len + 4096 + 10, "a write past the end grows");
        b.read_at(len, &mut buf[..4106]).unwrap();
        assert!(buf[..4096].iter().all(|&x| x == 0) && buf[4096..4106] == [9u8; 10]);
    }

    #[test]
    fn every_backing_keeps_the_contract() {
        conformance(&MemBacking::new(64 * 1024));
        let dir = tempfile::tempdir_in(crate::bench::default_dir()).unwrap();
        let plain = FileBacking::create(&dir.path().join("a"), 64 * 1024, None).unwrap();
        conformance(&plain);
        let mapped = FileBacking::create(&dir.path().join("b"), 68 * 1024, Some(4096)).unwrap();
        assert!(mapped.is_mapped());
        conformance(&mapped);
        conformance(mapped.file());
    }

    #[test]
    fn memory_extents_are_exact() {
        let m = MemBacking::new(1 << 20);
        m.write_at(4096 * 3 + 100, &[1u8; 10]).unwrap();
        m.write_at(4096 * 4, &[1u8; 4096]).unwrap();
        m.write_at(4096 * 9, &[1u8; 1]).unwrap();
        assert_eq!(
            m.data_extents(0, 1 << 20).unwrap(),
            vec![(4096 * 3, 4096 * 5), (4096 * 9, 4096 * 10)]
        );
        assert_eq!(
            m.data_extents(4096 * 3 + 50, 4096 * 9 + 1).unwrap(),
            vec![(4096 * 3 + 50, 4096 * 5), (4096 * 9, 4096 * 9 + 1)]
        );
        m.punch_hole(4096 * 3 + 1000, 4096 * 2).unwrap();
        assert_eq!(
            m.data_extents(0, 1 << 20).unwrap(),
            vec![(4096 * 3, 4096 * 4), (4096 * 9, 4096 * 10)],
            "a whole punched page is a hole, a partly punched one is not"
        );
    }
}
