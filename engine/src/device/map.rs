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
//! Reads of holes never go through the map: on tmpfs a read fault allocates a page, which would
//! fill memory with zeros. Readers use the map only where every page is in memory (`mincore`):
//! a resident page is not a hole, and only the device itself makes holes (under the sectors'
//! write locks). Anything else (holes, pages on disk or swapped out) is read with `pread`.

use memmap2::{Advice, MmapOptions, MmapRaw};
use std::fs::File;
use std::io;

/// A shared, writable mapping of `len` bytes of a file from a page-aligned offset.
pub(super) struct SectorMap {
    map: MmapRaw,
}

impl SectorMap {
    /// Maps `[offset, offset + len)` of `file` (opened read-write), which must be at least that
    /// long and is never truncated while the map lives (see the module docs).
    pub(super) fn new(file: &File, offset: u64, len: u64) -> io::Result<SectorMap> {
        let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let map = MmapOptions::new().offset(offset).len(len).map_raw(file)?;
        Ok(SectorMap { map })
    }

    /// Allocates the pages of `[offset, offset + len)` for writing, so that stores into them
    /// cannot fault. Fails (instead of a later SIGBUS) where the file system has no room.
    pub(super) fn populate_write(&self, offset: usize, len: usize) -> io::Result<()> {
        self.check(offset, len);
        self.map.advise_range(Advice::PopulateWrite, offset, len)
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

    /// Copies `dst.len()` bytes at `offset` out of the map.
    ///
    /// # Safety
    /// The caller holds at least read locks on every sector the range touches (so no thread
    /// writes these bytes meanwhile), and the range holds data (no holes; see the module docs
    /// for why that matters on tmpfs).
    #[allow(unsafe_code)]
    pub(super) unsafe fn read(&self, offset: usize, dst: &mut [u8]) {
        self.check(offset, dst.len());
        // SAFETY: the range is inside the map (checked above) and the map stays valid for
        // `&self`; the caller's locks exclude concurrent writes to these bytes; `dst` is a
        // distinct Rust allocation, so the two do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.map.as_ptr().add(offset),
                dst.as_mut_ptr(),
                dst.len(),
            )
        }
    }

    /// Copies `src` into the map at `offset`.
    ///
    /// # Safety
    /// The caller holds the write locks of every sector the range touches (no other thread
    /// reads or writes these bytes meanwhile) and has populated the range with
    /// [`SectorMap::populate_write`].
    #[allow(unsafe_code)]
    pub(super) unsafe fn write(&self, offset: usize, src: &[u8]) {
        self.check(offset, src.len());
        // SAFETY: the range is inside the map (checked above), the map is writable and valid
        // for `&self`; the caller's write locks make this thread the only one touching these
        // bytes; `src` is a distinct Rust allocation, so the two do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                src.as_ptr(),
                self.map.as_mut_ptr().add(offset),
                src.len(),
            )
        }
    }
}

fn page_size() -> usize {
    rustix::param::page_size()
}
