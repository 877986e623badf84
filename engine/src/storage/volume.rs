//! A volume's sectors over a [`Backing`]: sectors of 512 or 4096 bytes from a data offset,
//! decrypted and encrypted with the volume's XTS key when it has one, with the sparse rule of
//! DESIGN.md ("The data file"): a sector never written is a hole and an all-zero ciphertext
//! sector reads as zeros.
//!
//! [`Volume`] is what FUSE serves (`crate::device::FileDevice` is a `Volume<FileBacking>`) and
//! what blob sector I/O goes through. Unaligned I/O reads, modifies and writes the edge sectors
//! under that sector's lock, so two writers never tear a sector and a reader never sees half a
//! sector. Over a mapped file, writes encrypt straight from the caller's buffer into the map and
//! reads decrypt straight out of it (`crate::sys::SharedMap` holds the rules that keep that
//! sound and SIGBUS-free); `pread`/`pwrite` otherwise and for holes.
//!
//! What a failed write leaves: each sector is written whole from one buffer, so where the
//! backing keeps whole pages old or new (its contract), every sector of a failed write reads
//! back as its old or its new plaintext, never garbage — as long as sectors are no larger than
//! a page, which both sector sizes are.

use super::Backing;
use crate::error::{bail, Code, Error, Result};
use crate::sys::{Held, Stripes};
use crate::xts::Xts;
use std::sync::Mutex;

/// Number of sector lock stripes: sectors `i` and `i + STRIPES` share a lock.
pub(crate) const STRIPES: usize = 4096;
/// Most sectors locked at once by one call (a run of whole sectors). Must stay at most
/// `STRIPES / 2` for the lock order argument in `discard`.
pub(crate) const RUN: usize = 256;
/// Bytes per step of a read: its sectors are checked for zeros, then decrypted while still in
/// L1. A whole number of sectors for both sector sizes.
const CHUNK: usize = 16 * 1024;

/// Where a volume's sectors sit in its backing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    /// Backing offset of sector 0 (the header's length in a volume file).
    pub data_offset: u64,
    /// Bytes of sectors.
    pub size: u64,
    /// Bytes per sector: 512 or 4096.
    pub sector: usize,
}

impl Geometry {
    /// Checks the sector size and that `size` is whole sectors.
    ///
    /// # Errors
    /// `InvalidParameterValue` otherwise.
    pub(crate) fn check(self) -> Result<Geometry> {
        if !(self.sector == 512 || self.sector == 4096)
            || !self.size.is_multiple_of(self.sector as u64)
        {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "bad volume geometry: {} bytes in {}-byte sectors",
                self.size,
                self.sector
            );
        }
        Ok(self)
    }
}

/// A volume over backing `B`. See the module docs.
pub struct Volume<B: Backing> {
    backing: B,
    geo: Geometry,
    xts: Option<Xts>,
    stripes: Stripes,
    /// Whether the backing's shared map serves this volume (bound to its stripes).
    mapped: bool,
    /// Scratch buffers for edge sectors, reused across calls.
    scratch: Mutex<Vec<Vec<u8>>>,
    /// Buffers of the `pwrite` path (no map, or no room to populate it), reused across calls.
    runs: Mutex<Vec<Vec<u8>>>,
}

impl<B: Backing> std::fmt::Debug for Volume<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Volume({}, {} bytes, encrypted: {})",
            self.backing.name(),
            self.geo.size,
            self.xts.is_some()
        )
    }
}

fn check_range(offset: u64, len: u64, size: u64) -> Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => bail!(
            Code::INVALID_PARAMETER_VALUE,
            "I/O of {len} bytes at offset {offset} is past the end of the {size}-byte volume"
        ),
    }
}

impl<B: Backing> Volume<B> {
    /// The volume of geometry `geo` over `backing` (which holds at least
    /// `geo.data_offset + geo.size` bytes), encrypted with `xts` when given; the key is held
    /// (zeroizing) for as long as the volume lives.
    ///
    /// # Errors
    /// `InvalidParameterValue` for a sector size other than 512 or 4096, or a size that is not
    /// whole sectors.
    pub(crate) fn with_backing(backing: B, geo: Geometry, xts: Option<Xts>) -> Result<Volume<B>> {
        let geo = geo.check()?;
        let stripes = Stripes::new(STRIPES, geo.data_offset, geo.sector as u64);
        let mapped = backing.shared_map().is_some_and(|m| m.bind(&stripes));
        Ok(Volume {
            backing,
            geo,
            xts,
            stripes,
            mapped,
            scratch: Mutex::new(Vec::new()),
            runs: Mutex::new(Vec::new()),
        })
    }

    /// The backing.
    #[cfg(test)]
    pub(crate) fn backing(&self) -> &B {
        &self.backing
    }

    /// Where the sectors sit.
    #[cfg(test)]
    pub(crate) fn geometry(&self) -> Geometry {
        self.geo
    }

    /// Whether reads and writes go through the backing's shared map.
    #[cfg(test)]
    pub(crate) fn is_mapped(&self) -> bool {
        self.mapped
    }

    /// Stops using the backing's map (tests of the pread/pwrite path).
    #[cfg(test)]
    pub(crate) fn unmap(&mut self) {
        self.mapped = false;
    }

    /// The size in bytes.
    pub fn size(&self) -> u64 {
        self.geo.size
    }

    fn io_err(&self, what: &str, e: std::io::Error) -> Error {
        Error::io(format!("{what} {}", self.backing.name()), e)
    }

    fn take_scratch(&self) -> Vec<u8> {
        self.scratch
            .lock()
            .expect("lock")
            .pop()
            .unwrap_or_else(|| vec![0u8; self.geo.sector])
    }

    fn put_scratch(&self, mut v: Vec<u8>) {
        zeroize::Zeroize::zeroize(&mut v[..]);
        self.scratch.lock().expect("lock").push(v);
    }

    /// Reads whole sectors `[first, first + buf.len() / sector)` as plaintext into `buf`
    /// under `held`, the (read or write) locks of those sectors.
    fn read_run(&self, held: &Held<'_>, first: u64, buf: &mut [u8]) -> Result<()> {
        let off = self.geo.data_offset + first * self.geo.sector as u64;
        if self.mapped {
            let map = self
                .backing
                .shared_map()
                .expect("mapped backings have a map");
            if let Some(src) = map.read(held, off, buf.len()) {
                match &self.xts {
                    // Decrypt straight from the map into the caller's buffer.
                    Some(x) => decrypt(x, first, self.geo.sector, Some(src), buf),
                    None => buf.copy_from_slice(src),
                }
                return Ok(());
            }
        }
        self.backing
            .read_at(off, buf)
            .map_err(|e| self.io_err("read", e))?;
        if let Some(x) = &self.xts {
            decrypt(x, first, self.geo.sector, None, buf);
        }
        Ok(())
    }

    /// Writes whole plaintext sectors from `plain` under `held`, their write locks.
    fn write_run(&self, held: &mut Held<'_>, first: u64, plain: &[u8]) -> Result<()> {
        let off = self.geo.data_offset + first * self.geo.sector as u64;
        if self.mapped {
            let map = self
                .backing
                .shared_map()
                .expect("mapped backings have a map");
            // Where the pages cannot be allocated (a full file system), fall through to
            // pwrite, which reports the file system's own error.
            if let Ok(dst) = map.write(held, off, plain.len()) {
                match &self.xts {
                    // Encrypt straight from the caller's buffer into the map: ciphertext goes
                    // into the file, plaintext never does.
                    Some(x) => x.encrypt_sectors_to(first, self.geo.sector, plain, dst),
                    None => dst.copy_from_slice(plain),
                }
                return Ok(());
            }
        }
        // A pooled buffer: after the encryption it holds ciphertext (or, unencrypted, bytes
        // stored in the clear anyway), so it needs no wiping between uses.
        let mut run = self.runs.lock().expect("lock").pop().unwrap_or_default();
        run.clear();
        run.extend_from_slice(plain);
        if let Some(x) = &self.xts {
            x.encrypt_sectors(first, self.geo.sector, &mut run);
        }
        let written = self
            .backing
            .write_at(off, &run)
            .map_err(|e| self.io_err("write", e));
        self.runs.lock().expect("lock").push(run);
        written
    }

    #[cfg(test)]
    fn check_sectors(&self, first: u64, len: usize) -> Result<()> {
        let ss = self.geo.sector as u64;
        if !(len as u64).is_multiple_of(ss) {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "{len} bytes at sector {first} of {} are not whole sectors",
                self.backing.name()
            );
        }
        match first.checked_mul(ss) {
            Some(at) => check_range(at, len as u64, self.geo.size),
            None => check_range(u64::MAX, len as u64, self.geo.size),
        }
    }

    /// Reads whole sectors from sector `first` into `buf` (whole sectors), decrypted; holes and
    /// all-zero ciphertext sectors read as zeros.
    ///
    /// # Errors
    /// `InvalidParameterValue` for a range past the end or not whole sectors; I/O errors of the
    /// backing (`InsufficientStorage` for a full one, `InternalError` otherwise).
    #[cfg(test)]
    pub(crate) fn read_sectors(&self, first: u64, buf: &mut [u8]) -> Result<()> {
        self.check_sectors(first, buf.len())?;
        let ss = self.geo.sector;
        for (i, part) in buf.chunks_mut(RUN * ss).enumerate() {
            let at = first + (i * RUN) as u64;
            let held = self.stripes.read(at, (part.len() / ss) as u64);
            self.read_run(&held, at, part)?;
        }
        Ok(())
    }

    /// Writes whole plaintext sectors from sector `first`, encrypted; `plain` is not modified.
    ///
    /// # Errors
    /// As [`Volume::read_sectors`].
    #[cfg(test)]
    pub(crate) fn write_sectors(&self, first: u64, plain: &[u8]) -> Result<()> {
        self.check_sectors(first, plain.len())?;
        let ss = self.geo.sector;
        for (i, part) in plain.chunks(RUN * ss).enumerate() {
            let at = first + (i * RUN) as u64;
            let mut held = self.stripes.write(at, (part.len() / ss) as u64);
            self.write_run(&mut held, at, part)?;
        }
        Ok(())
    }

    /// Reads `buf.len()` plaintext bytes at volume offset `offset`.
    ///
    /// # Errors
    /// `InvalidParameterValue` for a range past the end; I/O errors of the backing.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(offset, buf.len() as u64, self.geo.size)?;
        let ss = self.geo.sector;
        let mut pos = offset;
        let mut done = 0usize;
        while done < buf.len() {
            let sector = pos / ss as u64;
            let within = (pos % ss as u64) as usize;
            let left = buf.len() - done;
            if within == 0 && left >= ss {
                // Whole sectors straight into the caller's buffer, a run at a time.
                let n = (left / ss).min(RUN);
                let bytes = n * ss;
                let held = self.stripes.read(sector, n as u64);
                self.read_run(&held, sector, &mut buf[done..done + bytes])?;
                drop(held);
                done += bytes;
                pos += bytes as u64;
            } else {
                let take = (ss - within).min(left);
                let mut s = self.take_scratch();
                let read = {
                    let held = self.stripes.read(sector, 1);
                    self.read_run(&held, sector, &mut s)
                };
                if read.is_ok() {
                    buf[done..done + take].copy_from_slice(&s[within..within + take]);
                }
                self.put_scratch(s);
                read?;
                done += take;
                pos += take as u64;
            }
        }
        Ok(())
    }

    /// Writes `data` at volume offset `offset`, encrypted.
    ///
    /// # Errors
    /// As [`Volume::read_at`].
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        check_range(offset, data.len() as u64, self.geo.size)?;
        let ss = self.geo.sector;
        let mut pos = offset;
        let mut done = 0usize;
        while done < data.len() {
            let sector = pos / ss as u64;
            let within = (pos % ss as u64) as usize;
            let left = data.len() - done;
            if within == 0 && left >= ss {
                let n = (left / ss).min(RUN);
                let bytes = n * ss;
                let mut held = self.stripes.write(sector, n as u64);
                self.write_run(&mut held, sector, &data[done..done + bytes])?;
                drop(held);
                done += bytes;
                pos += bytes as u64;
            } else {
                // Read, modify, write one edge sector under its lock.
                let take = (ss - within).min(left);
                let mut s = self.take_scratch();
                let written = {
                    let mut held = self.stripes.write(sector, 1);
                    self.read_run(&held, sector, &mut s).and_then(|()| {
                        s[within..within + take].copy_from_slice(&data[done..done + take]);
                        self.write_run(&mut held, sector, &s)
                    })
                };
                self.put_scratch(s);
                written?;
                done += take;
                pos += take as u64;
            }
        }
        Ok(())
    }

    /// Turns `[offset, offset + len)` back into zeros: whole sectors become holes, partial
    /// sectors at the edges are zeroed by a write.
    ///
    /// # Errors
    /// As [`Volume::read_at`].
    pub fn discard(&self, offset: u64, len: u64) -> Result<()> {
        check_range(offset, len, self.geo.size)?;
        let ss = self.geo.sector as u64;
        let first_whole = offset.div_ceil(ss);
        let end_whole = (offset + len) / ss;
        if first_whole >= end_whole {
            return self.write_at(offset, &vec![0u8; len as usize]);
        }
        if offset < first_whole * ss {
            self.write_at(offset, &vec![0u8; (first_whole * ss - offset) as usize])?;
        }
        if offset + len > end_whole * ss {
            self.write_at(
                end_whole * ss,
                &vec![0u8; (offset + len - end_whole * ss) as usize],
            )?;
        }
        // Whole sectors in runs of at most RUN, each under its sectors' locks taken in sector
        // order, as reads and writes take them. Two such runs (each at most RUN long, RUN * 2 <=
        // STRIPES) always meet their common stripes in the same order, so they cannot deadlock;
        // locking the whole range at once (up to all STRIPES stripes, starting mid-ring) could,
        // against a read or write run that wraps around the stripe ring. The backing forgets
        // what its map populated before the locks are released.
        let mut first = first_whole;
        while first < end_whole {
            let n = (end_whole - first).min(RUN as u64);
            let held = self.stripes.write(first, n);
            self.backing
                .punch_hole(self.geo.data_offset + first * ss, n * ss)
                .map_err(|e| self.io_err("punch hole in", e))?;
            drop(held);
            first += n;
        }
        Ok(())
    }

    /// Makes every write so far durable.
    ///
    /// # Errors
    /// The backing's sync error (`InternalError` for EIO).
    pub fn sync(&self) -> Result<()> {
        self.backing.sync().map_err(|e| self.io_err("fsync", e))
    }

    /// The byte ranges of the volume (offset 0 = sector 0) that may hold data, sorted and
    /// disjoint; everything else reads as zeros.
    ///
    /// # Errors
    /// The backing's errors.
    #[cfg(test)]
    pub(crate) fn data_extents(&self) -> Result<Vec<(u64, u64)>> {
        let base = self.geo.data_offset;
        let ext = self
            .backing
            .data_extents(base, base + self.geo.size)
            .map_err(|e| self.io_err("seek data", e))?;
        Ok(ext.into_iter().map(|(a, b)| (a - base, b - base)).collect())
    }
}

/// Decrypts whole sectors (the first being `first`) from `src` into `dst`, or `dst` in place
/// when `src` is `None`, a chunk at a time while it is in L1. An all-zero ciphertext sector was
/// never written: it reads as zeros.
fn decrypt(x: &Xts, first: u64, ss: usize, src: Option<&[u8]>, dst: &mut [u8]) {
    let written = |c: &[u8]| !crate::blob::is_zero(c);
    for (i, d) in dst.chunks_mut(CHUNK).enumerate() {
        let at = first + (i * CHUNK / ss) as u64;
        let s = src.map(|s| &s[i * CHUNK..i * CHUNK + d.len()]);
        let whole = s.unwrap_or(d).chunks_exact(ss).all(written);
        match s {
            Some(s) if whole => x.decrypt_sectors_to(at, ss, s, d),
            None if whole => x.decrypt_sectors(at, ss, d),
            _ => {
                for (j, dc) in d.chunks_exact_mut(ss).enumerate() {
                    let sc = s.map(|s| &s[j * ss..(j + 1) * ss]);
                    match sc {
                        Some(sc) if written(sc) => x.decrypt_sectors_to(at + j as u64, ss, sc, dc),
                        Some(_) => dc.fill(0),
                        None if written(dc) => x.decrypt_sectors(at + j as u64, ss, dc),
                        None => {}
                    }
                }
            }
        }
    }
}

/// Decrypts whole ciphertext sectors of `ss` bytes in place, the first being `first`, by the
/// volume's rule: an all-zero ciphertext sector reads as zeros. For callers that read the
/// ciphertext themselves (blob sector reads).
pub(crate) fn decrypt_sectors(x: &Xts, first: u64, ss: usize, data: &mut [u8]) {
    decrypt(x, first, ss, None, data);
}
