//! The sectors of a volume file mapped `MAP_SHARED`: the data path of [`super::FileDevice`]
//! without a system call or a page-cache lookup per 4 KiB page. All the `unsafe` of the device
//! lives here.
//!
//! Soundness rests on two invariants, both held by the device:
//! - the file is never truncated below the mapped range while the map lives: volume files are
//!   sized once when created and never shrink, and the device holds an exclusive `flock` on the
//!   file, which every writer of a volume file takes;
//! - no two threads touch the same bytes with one of them writing: every access runs under
//!   the sector locks of [`super::FileDevice`] (read locks to read, write locks to write).
//!
//! A store into a page the backing file system cannot allocate (a full tmpfs) would raise
//! SIGBUS, so writers first populate the range with `MADV_POPULATE_WRITE`, which reports that
//! as an error instead; the device then falls back to `pwrite`, which returns the real errno.
//! Populating walks every page (it cost half the CPU of a 1 MiB plain write), so on tmpfs the
//! map remembers which 64 KiB chunks it has populated whole and skips them; punching a hole
//! (the device's discard, the only thing that frees a tmpfs page of a file that never shrinks)
//! forgets the chunks it touches. Elsewhere a populated page can need new room again (a
//! copy-on-write file system after a reflinked snapshot, write-protected after writeback), so
//! every write populates.
//!
//! Reads of holes never go through the map: on tmpfs a read fault allocates a page, which would
//! fill memory with zeros. Readers use the map only where every page is in memory (`mincore`):
//! a resident page is not a hole, and only the device itself makes holes (under the sectors'
//! write locks). Anything else (holes, pages on disk or swapped out) is read with `pread`.

use memmap2::{Advice, MmapOptions, MmapRaw};
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes per bit of the populated-chunk bitmap.
const CHUNK: usize = 64 * 1024;

/// `statfs.f_type` of tmpfs (linux/magic.h).
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// A shared, writable mapping of `len` bytes of a file from a page-aligned offset.
pub(super) struct SectorMap {
    map: MmapRaw,
    /// One bit per [`CHUNK`] of the map: set once every page of the chunk has been populated
    /// for writing, cleared when a hole may have been punched in it.
    populated: Box<[AtomicU64]>,
    /// Whether populated pages stay populated until a hole is punched (tmpfs).
    remember: bool,
}

impl SectorMap {
    /// Maps `[offset, offset + len)` of `file` (opened read-write), which must be at least that
    /// long and is never truncated while the map lives (see the module docs).
    pub(super) fn new(file: &File, offset: u64, len: u64) -> io::Result<SectorMap> {
        let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let map = MmapOptions::new().offset(offset).len(len).map_raw(file)?;
        // 2 KiB per GiB of volume.
        let words = len.div_ceil(CHUNK).div_ceil(64);
        let populated = (0..words).map(|_| AtomicU64::new(0)).collect();
        // `f_type`'s integer type differs between targets.
        #[allow(clippy::unnecessary_cast)]
        let remember = rustix::fs::fstatfs(file).is_ok_and(|s| s.f_type as i64 == TMPFS_MAGIC);
        Ok(SectorMap {
            map,
            populated,
            remember,
        })
    }

    /// Makes sure the pages of `[offset, offset + len)` are allocated for writing, so that
    /// stores into them cannot fault. Fails (instead of a later SIGBUS) where the file system
    /// has no room.
    pub(super) fn populate_write(&self, offset: usize, len: usize) -> io::Result<()> {
        self.check(offset, len);
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

    /// Forgets that the chunks touching `[offset, offset + len)` are populated; called by
    /// whoever punches a hole there, before the lock that covers the punch is released.
    pub(super) fn forget(&self, offset: usize, len: usize) {
        self.check(offset, len);
        if len == 0 {
            return;
        }
        for c in offset / CHUNK..(offset + len).div_ceil(CHUNK) {
            self.populated[c / 64].fetch_and(!(1 << (c % 64)), Ordering::Release);
        }
    }

    fn bit(&self, chunk: usize) -> bool {
        self.populated[chunk / 64].load(Ordering::Acquire) & (1 << (chunk % 64)) != 0
    }

    /// Whether every page of `[offset, offset + len)` is in memory right now.
    #[allow(unsafe_code)]
    pub(super) fn resident(&self, offset: usize, len: usize) -> bool {
        self.check(offset, len);
        if len == 0 {
            return true;
        }
        let page = page_size();
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

    /// The bytes of `[offset, offset + len)`, to read.
    ///
    /// # Safety
    /// While the slice lives, the caller holds at least read locks on every sector the range
    /// touches (so no thread writes these bytes meanwhile), and the range holds data (no holes;
    /// see the module docs for why that matters on tmpfs).
    #[allow(unsafe_code)]
    pub(super) unsafe fn slice(&self, offset: usize, len: usize) -> &[u8] {
        self.check(offset, len);
        // SAFETY: the range is inside the map (checked above), which stays mapped for as long
        // as `&self` lives (the slice's lifetime); the caller's locks exclude writers to these
        // bytes while the slice lives, so it is never mutated under a shared reference.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(offset), len) }
    }

    /// The bytes of `[offset, offset + len)`, to write.
    ///
    /// # Safety
    /// While the slice lives, the caller holds the write locks of every sector the range
    /// touches (no other thread reads or writes these bytes, so this is the only reference to
    /// them), and it has populated the range with [`SectorMap::populate_write`].
    #[allow(unsafe_code, clippy::mut_from_ref)]
    pub(super) unsafe fn slice_mut(&self, offset: usize, len: usize) -> &mut [u8] {
        self.check(offset, len);
        // SAFETY: the range is inside the map (checked above), which is writable and stays
        // mapped for as long as `&self` lives; the caller's write locks make this the only
        // reference to these bytes while it lives.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(offset), len) }
    }
}

fn page_size() -> usize {
    rustix::param::page_size()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_whole_chunks_until_a_hole_is_punched() {
        let dir = tempfile::tempdir_in(crate::bench::default_dir()).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("m"))
            .unwrap();
        f.set_len(4096 + 1024 * 1024).unwrap();
        let m = SectorMap::new(&f, 4096, 1024 * 1024).unwrap();
        // Chunk 1 whole, chunk 2 in part.
        m.populate_write(CHUNK - 4096, CHUNK + 8192).unwrap();
        assert!(!m.bit(0) && m.bit(1) && !m.bit(2));
        m.populate_write(0, 3 * CHUNK).unwrap();
        assert!(m.bit(0) && m.bit(1) && m.bit(2) && !m.bit(3));
        m.forget(CHUNK + 512, 512);
        assert!(m.bit(0) && !m.bit(1) && m.bit(2));
        m.forget(0, 0);
        assert!(m.bit(0));
        m.populate_write(15 * CHUNK, CHUNK).unwrap();
        assert!(m.bit(15));
    }
}
