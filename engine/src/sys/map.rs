//! A file's sectors mapped `MAP_SHARED`, and the striped sector locks that make touching them
//! sound: the fast data path of a file-backed volume, without a system call or a page-cache
//! lookup per 4 KiB page (`crate::storage::FileBacking::mapped`).
//!
//! The map hands out slices only against a [`Held`] guard of the [`Stripes`] it is bound to,
//! which proves the caller holds the locks of every sector the slice touches: read locks for a
//! `&[u8]`, write locks for a `&mut [u8]`. That is the whole soundness argument, checked here
//! rather than promised by callers:
//! - the file is never truncated below the mapped range while the map lives: volume files are
//!   sized once when created and never shrink, and a mounted volume's file carries an exclusive
//!   `flock` that every writer of a volume file takes;
//! - no two threads touch the same bytes with one of them writing: every slice lives no longer
//!   than the guard of its sectors, and a map is bound to one set of stripes, so two volumes
//!   over one map cannot both use it.
//!
//! A store into a page the backing file system cannot allocate (a full tmpfs) would raise
//! SIGBUS, so a writable slice is only given after `MADV_POPULATE_WRITE` succeeded on its
//! range, which reports that as an error instead; the volume then falls back to `pwrite`, which
//! returns the real errno. Populating walks every page (it cost half the CPU of a 1 MiB plain
//! write), so on tmpfs the map remembers which 64 KiB chunks it has populated whole and skips
//! them; punching a hole (the only thing that frees a tmpfs page of a file that never shrinks)
//! forgets the chunks it touches. Elsewhere a populated page can need new room again (a
//! copy-on-write file system after a reflinked snapshot, write-protected after writeback), so
//! every write populates.
//!
//! Reads of holes never go through the map: on tmpfs a read fault allocates a page, which would
//! fill memory with zeros. A readable slice is only given where every page is in memory
//! (`mincore`): a resident page is not a hole, and only the volume itself makes holes (under the
//! sectors' write locks). Anything else (holes, pages on disk or swapped out) is read with
//! `pread`.

use memmap2::{Advice, MmapOptions, MmapRaw};
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Bytes per bit of the populated-chunk bitmap.
const CHUNK: usize = 64 * 1024;

/// `statfs.f_type` of tmpfs (linux/magic.h).
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Striped reader-writer locks over the sectors of one volume: sectors `i` and `i + n` share a
/// lock. Each set has a process-unique id, so a map can tell its own guards from others'.
pub(crate) struct Stripes {
    locks: Box<[RwLock<()>]>,
    id: u64,
    /// Where sector 0 starts in the backing, and the sector size: a guard's byte range.
    data_offset: u64,
    sector: u64,
}

enum Guards<'a> {
    Read(#[allow(dead_code)] Vec<RwLockReadGuard<'a, ()>>),
    Write(#[allow(dead_code)] Vec<RwLockWriteGuard<'a, ()>>),
}

/// The locks of a run of sectors `[first, first + n)`, held until dropped.
pub(crate) struct Held<'a> {
    owner: u64,
    /// Backing byte range the guard covers.
    start: u64,
    end: u64,
    guards: Guards<'a>,
}

impl Stripes {
    /// `n` stripes over sectors of `sector` bytes starting at `data_offset` of the backing.
    pub(crate) fn new(n: usize, data_offset: u64, sector: u64) -> Stripes {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Stripes {
            locks: (0..n).map(|_| RwLock::new(())).collect(),
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            data_offset,
            sector,
        }
    }

    fn lock_of(&self, sector: u64) -> &RwLock<()> {
        &self.locks[(sector % self.locks.len() as u64) as usize]
    }

    fn held<'a>(&'a self, first: u64, n: u64, guards: Guards<'a>) -> Held<'a> {
        Held {
            owner: self.id,
            start: self.data_offset + first * self.sector,
            end: self.data_offset + (first + n) * self.sector,
            guards,
        }
    }

    /// Read locks of sectors `[first, first + n)`, taken in sector order.
    ///
    /// # Panics
    /// If `n` is more than half the stripes (the lock order argument of the callers needs it,
    /// and a run longer than the ring would take one lock twice).
    pub(crate) fn read(&self, first: u64, n: u64) -> Held<'_> {
        assert!(n <= self.locks.len() as u64 / 2, "lock run too long");
        let g = (first..first + n)
            .map(|s| self.lock_of(s).read().expect("lock"))
            .collect();
        self.held(first, n, Guards::Read(g))
    }

    /// Write locks of sectors `[first, first + n)`, taken in sector order.
    ///
    /// # Panics
    /// As [`Stripes::read`].
    pub(crate) fn write(&self, first: u64, n: u64) -> Held<'_> {
        assert!(n <= self.locks.len() as u64 / 2, "lock run too long");
        let g = (first..first + n)
            .map(|s| self.lock_of(s).write().expect("lock"))
            .collect();
        self.held(first, n, Guards::Write(g))
    }
}

/// A shared, writable mapping (public only as the type of `Backing::shared_map`) of `[offset, offset + len)` of a file (`offset` page-aligned).
pub struct SharedMap {
    map: MmapRaw,
    /// The file offset of the map's first byte.
    base: u64,
    /// The stripes whose guards may open slices of this map (set once).
    owner: OnceLock<u64>,
    /// One bit per [`CHUNK`] of the map: set once every page of the chunk has been populated
    /// for writing, cleared when a hole may have been punched in it.
    populated: Box<[AtomicU64]>,
    /// Whether populated pages stay populated until a hole is punched (tmpfs).
    remember: bool,
}

impl SharedMap {
    /// Maps `[offset, offset + len)` of `file` (opened read-write), which must be at least that
    /// long and is never truncated while the map lives (see the module docs).
    pub(crate) fn new(file: &File, offset: u64, len: u64) -> io::Result<SharedMap> {
        let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let map = MmapOptions::new().offset(offset).len(len).map_raw(file)?;
        // 2 KiB per GiB of volume.
        let words = len.div_ceil(CHUNK).div_ceil(64);
        let populated = (0..words).map(|_| AtomicU64::new(0)).collect();
        // `f_type`'s integer type differs between targets.
        #[allow(clippy::unnecessary_cast)]
        let remember = rustix::fs::fstatfs(file).is_ok_and(|s| s.f_type as i64 == TMPFS_MAGIC);
        Ok(SharedMap {
            map,
            base: offset,
            owner: OnceLock::new(),
            populated,
            remember,
        })
    }

    /// Binds the map to `stripes`: only their guards open slices from now on. False if the map
    /// is already bound to other stripes (a second volume over the same backing), which must
    /// then not use the map.
    pub(crate) fn bind(&self, stripes: &Stripes) -> bool {
        *self.owner.get_or_init(|| stripes.id) == stripes.id
    }

    /// `[at, at + len)` of the file as offsets into the map, checked against the map and the
    /// guard.
    fn range(&self, held: &Held<'_>, at: u64, len: usize) -> usize {
        assert_eq!(
            self.owner.get(),
            Some(&held.owner),
            "guard of other stripes"
        );
        assert!(
            at >= held.start && at + len as u64 <= held.end,
            "range outside the held sectors"
        );
        let off = at
            .checked_sub(self.base)
            .and_then(|o| usize::try_from(o).ok())
            .expect("range before the map");
        self.check(off, len);
        off
    }

    /// The bytes of `[at, at + len)` of the file, to read, if every page of them is in memory
    /// (so none is a hole); None otherwise, and the caller reads with `pread`.
    ///
    /// # Panics
    /// If `held` is not a guard of the bound stripes covering the range, or the range is not
    /// inside the map.
    pub(crate) fn read<'a>(&'a self, held: &'a Held<'_>, at: u64, len: usize) -> Option<&'a [u8]> {
        let off = self.range(held, at, len);
        if !self.resident(off, len) {
            return None;
        }
        // SAFETY: the range is inside the map (checked), which stays mapped and is never
        // truncated while `&self` lives (module docs). `held` holds at least read locks of every
        // sector of the range for as long as the slice lives (both borrow `'a`), so no thread
        // writes these bytes meanwhile: writes go through `write`, which needs write locks.
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(off), len) })
    }

    /// The bytes of `[at, at + len)` of the file, to write, after populating them so stores
    /// cannot fault; the file system's error where it has no room (the caller then writes with
    /// `pwrite`, which reports the real errno).
    ///
    /// # Panics
    /// If `held` does not hold write locks of the bound stripes covering the range, or the range
    /// is not inside the map.
    pub(crate) fn write<'a>(
        &'a self,
        held: &'a mut Held<'_>,
        at: u64,
        len: usize,
    ) -> io::Result<&'a mut [u8]> {
        let off = self.range(held, at, len);
        assert!(
            matches!(held.guards, Guards::Write(_)),
            "write needs write locks"
        );
        self.populate_write(off, len)?;
        // SAFETY: the range is inside the map (checked), which is writable and stays mapped
        // while `&self` lives; `held` holds the write locks of every sector of the range, and it
        // is borrowed mutably for the slice's lifetime, so this is the only reference to these
        // bytes; the pages are populated, so stores cannot raise SIGBUS.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(off), len) })
    }

    /// Makes sure the pages of map range `[offset, offset + len)` are allocated for writing.
    fn populate_write(&self, offset: usize, len: usize) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        let (first, end) = (offset / CHUNK, (offset + len).div_ceil(CHUNK));
        if self.remember && (first..end).all(|c| self.bit(c)) {
            return Ok(());
        }
        self.map.advise_range(Advice::PopulateWrite, offset, len)?;
        // Chunks the range covers whole are now populated whole.
        for c in offset.div_ceil(CHUNK)..(offset + len) / CHUNK {
            self.populated[c / 64].fetch_or(1 << (c % 64), Ordering::Release);
        }
        Ok(())
    }

    /// Forgets that the chunks touching file range `[at, at + len)` are populated; called by
    /// whoever punches a hole there, before the locks that cover the punch are released.
    /// Ranges outside the map are clipped.
    pub(crate) fn forget(&self, at: u64, len: u64) {
        let start = at.max(self.base) - self.base;
        let end = (at + len)
            .saturating_sub(self.base)
            .min(self.map.len() as u64);
        if start >= end {
            return;
        }
        let (start, end) = (start as usize, end as usize);
        for c in start / CHUNK..end.div_ceil(CHUNK) {
            self.populated[c / 64].fetch_and(!(1 << (c % 64)), Ordering::Release);
        }
    }

    fn bit(&self, chunk: usize) -> bool {
        self.populated[chunk / 64].load(Ordering::Acquire) & (1 << (chunk % 64)) != 0
    }

    /// Whether every page of map range `[offset, offset + len)` is in memory right now.
    fn resident(&self, offset: usize, len: usize) -> bool {
        if len == 0 {
            return true;
        }
        let page = super::page_size();
        let start = (self.map.as_ptr() as usize + offset) / page * page;
        let end = (self.map.as_ptr() as usize + offset + len).div_ceil(page) * page;
        let mut vec = [0u8; 128];
        let mut at = start;
        while at < end {
            let n = ((end - at) / page).min(vec.len());
            // SAFETY: `[at, at + n pages)` lies inside the map (the range was checked and the
            // map's start is page-aligned, so the rounded range stays within its pages), and
            // `vec` has room for one byte per page of it. mincore only reads page tables.
            let r = unsafe { libc::mincore(at as *mut libc::c_void, n * page, vec.as_mut_ptr()) };
            if r != 0 || vec[..n].iter().any(|&v| v & 1 == 0) {
                return false;
            }
            at += n * page;
        }
        true
    }

    fn check(&self, offset: usize, len: usize) {
        assert!(
            offset
                .checked_add(len)
                .is_some_and(|end| end <= self.map.len()),
            "map access out of range"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(len: u64) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir_in(crate::bench::default_dir()).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("m"))
            .unwrap();
        f.set_len(len).unwrap();
        (dir, f)
    }

    #[test]
    fn remembers_whole_chunks_until_a_hole_is_punched() {
        let (_d, f) = file(4096 + 1024 * 1024);
        let m = SharedMap::new(&f, 4096, 1024 * 1024).unwrap();
        // Chunk 1 whole, chunk 2 in part.
        m.populate_write(CHUNK - 4096, CHUNK + 8192).unwrap();
        assert!(!m.bit(0) && m.bit(1) && !m.bit(2));
        m.populate_write(0, 3 * CHUNK).unwrap();
        assert!(m.bit(0) && m.bit(1) && m.bit(2) && !m.bit(3));
        m.forget(4096 + CHUNK as u64 + 512, 512);
        assert!(m.bit(0) && !m.bit(1) && m.bit(2));
        m.forget(4096, 0);
        assert!(m.bit(0));
        // Before the map: nothing to forget.
        m.forget(0, 4096);
        assert!(m.bit(0));
        m.populate_write(15 * CHUNK, CHUNK).unwrap();
        assert!(m.bit(15));
    }

    #[test]
    fn slices_need_the_bound_stripes_guard() {
        let (_d, f) = file(4096 + 65536);
        let m = SharedMap::new(&f, 4096, 65536).unwrap();
        let s = Stripes::new(64, 4096, 4096);
        let other = Stripes::new(64, 4096, 4096);
        assert!(m.bind(&s));
        assert!(!m.bind(&other), "a map serves one set of stripes");
        {
            let mut h = s.write(1, 2);
            m.write(&mut h, 4096 + 4096, 8192).unwrap().fill(7);
        }
        let h = s.read(1, 1);
        assert!(m.read(&h, 8192, 4096).unwrap().iter().all(|&b| b == 7));
        let wrong = other.read(1, 1);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            m.read(&wrong, 8192, 4096).map(<[u8]>::len)
        }));
        assert!(r.is_err(), "another volume's guard opens nothing");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            m.read(&h, 8192, 8192).map(<[u8]>::len)
        }));
        assert!(r.is_err(), "a guard opens only its own sectors");
        let mut ro = s.read(3, 1);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            m.write(&mut ro, 4 * 4096, 4096).map(|s| s.len()).ok()
        }));
        assert!(r.is_err(), "read locks open nothing for writing");
    }
}
