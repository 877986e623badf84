//! A volume as a block device: byte-addressed reads and writes of any offset and length over the
//! sectors of a volume file, decrypting and encrypting on the way (DESIGN.md, "The FUSE front
//! end"). One narrow trait, two backings: the volume file and memory (for tests and models).
//!
//! Unaligned I/O reads, modifies and writes the edge sectors under that sector's lock, so two
//! writers never tear a sector and a reader never sees half a sector.
//!
//! The volume file is served through a shared map where the file system allows it: writes
//! encrypt straight from the caller's buffer into the map, reads decrypt straight out of it
//! (`map.rs` holds the rules that keep that sound and SIGBUS-free); `pread`/`pwrite` otherwise
//! and for holes.

mod map;

use crate::error::{bail, Code, Error, Result};
use crate::xts::Xts;
use map::SectorMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Mutex, RwLock};

/// Byte-addressed access to a fixed-size volume.
///
/// Contract, for every backing:
/// - `len` never changes (a block device has a fixed size).
/// - `read_at`/`write_at` with `offset + len > self.len()` fail with `InvalidParameterValue`
///   and touch nothing; a zero-length call succeeds.
/// - Bytes never written read as zeros.
/// - `write_at` is visible to every later `read_at` on any thread; each sector is written
///   whole under its lock (no torn sectors).
/// - `sync` returns once every write it saw is durable on the backing store.
/// - `discard` makes the whole sectors inside the range read as zeros again (holes); partial
///   sectors at its edges are zeroed by a write.
pub trait BlockDevice: Send + Sync {
    /// The size in bytes.
    fn len(&self) -> u64;
    /// Whether the device has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Reads `buf.len()` bytes at `offset`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// Writes `data` at `offset`.
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<()>;
    /// Turns `[offset, offset + len)` back into zeros, freeing whole sectors.
    fn discard(&self, offset: u64, len: u64) -> Result<()>;
    /// Makes every write so far durable.
    fn sync(&self) -> Result<()>;
}

fn check_range(offset: u64, len: usize, size: u64) -> Result<()> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= size => Ok(()),
        _ => bail!(
            Code::INVALID_PARAMETER_VALUE,
            "I/O of {len} bytes at offset {offset} is past the end of the {size}-byte volume"
        ),
    }
}

/// A device in memory: the model the file backing is tested against.
pub struct MemDevice {
    bytes: RwLock<Vec<u8>>,
}

impl MemDevice {
    /// A zero-filled device of `len` bytes.
    pub fn new(len: usize) -> Self {
        MemDevice {
            bytes: RwLock::new(vec![0; len]),
        }
    }
}

impl BlockDevice for MemDevice {
    fn len(&self) -> u64 {
        self.bytes.read().expect("lock").len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let b = self.bytes.read().expect("lock");
        check_range(offset, buf.len(), b.len() as u64)?;
        buf.copy_from_slice(&b[offset as usize..offset as usize + buf.len()]);
        Ok(())
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        let mut b = self.bytes.write().expect("lock");
        check_range(offset, data.len(), b.len() as u64)?;
        b[offset as usize..offset as usize + data.len()].copy_from_slice(data);
        Ok(())
    }
    fn discard(&self, offset: u64, len: u64) -> Result<()> {
        let mut b = self.bytes.write().expect("lock");
        check_range(offset, len as usize, b.len() as u64)?;
        b[offset as usize..(offset + len) as usize].fill(0);
        Ok(())
    }
    fn sync(&self) -> Result<()> {
        Ok(())
    }
}

/// Number of sector lock stripes: sectors `i` and `i + STRIPES` share a lock.
const STRIPES: usize = 4096;
/// Most sectors locked at once by one call (a run of whole sectors). Must stay at most
/// `STRIPES / 2` for the lock order argument in `discard`.
const RUN: usize = 256;
/// Bytes per step of a read: its sectors are checked for zeros, then decrypted while still in
/// L1. A whole number of sectors for both sector sizes.
const CHUNK: usize = 16 * 1024;

/// A volume file opened for I/O: sectors start at `data_offset`; encrypted volumes decrypt and
/// encrypt with their data key, held (zeroizing) for as long as the device is open.
pub struct FileDevice {
    file: File,
    data_offset: u64,
    size: u64,
    sector: usize,
    xts: Option<Xts>,
    /// The sectors mapped shared, when the file system allows it; `pread`/`pwrite` otherwise.
    map: Option<SectorMap>,
    locks: Box<[RwLock<()>]>,
    /// Scratch buffers for edge sectors, reused across calls.
    scratch: Mutex<Vec<Vec<u8>>>,
    /// Buffers of the `pwrite` path (no map, or no room to populate it), reused across calls.
    runs: Mutex<Vec<Vec<u8>>>,
    path: std::path::PathBuf,
}

impl std::fmt::Debug for FileDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FileDevice({}, {} bytes, encrypted: {})",
            self.path.display(),
            self.size,
            self.xts.is_some()
        )
    }
}

impl FileDevice {
    /// A device over `file` (already validated by the caller) whose sectors of `sector` bytes
    /// start at `data_offset`.
    pub(crate) fn new(
        file: File,
        path: std::path::PathBuf,
        data_offset: u64,
        size: u64,
        sector: usize,
        xts: Option<Xts>,
    ) -> Self {
        let locks = (0..STRIPES).map(|_| RwLock::new(())).collect();
        // A file system that cannot map the file is served with pread/pwrite.
        let map = SectorMap::new(&file, data_offset, size).ok();
        FileDevice {
            file,
            data_offset,
            size,
            sector,
            xts,
            map,
            locks,
            scratch: Mutex::new(Vec::new()),
            runs: Mutex::new(Vec::new()),
            path,
        }
    }

    /// A device over a new sparse scratch file of `size` bytes at `path` (no header, sectors
    /// from offset 0), encrypted with `key` when given. For benchmarks and tests of front ends.
    ///
    /// # Errors
    /// I/O errors creating the file; `InvalidParameterValue` for a size that is not whole
    /// sectors or a sector size other than 512 or 4096.
    pub fn create_scratch(
        path: &std::path::Path,
        size: u64,
        sector: usize,
        key: Option<&crate::secret::DataKey>,
    ) -> Result<FileDevice> {
        if !(sector == 512 || sector == 4096) || !size.is_multiple_of(sector as u64) {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "bad scratch device geometry: {size} bytes in {sector}-byte sectors"
            );
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
        file.set_len(size)
            .map_err(|e| Error::io(format!("size {}", path.display()), e))?;
        Ok(FileDevice::new(
            file,
            path.to_owned(),
            0,
            size,
            sector,
            key.map(Xts::new),
        ))
    }

    fn lock_of(&self, sector: u64) -> &RwLock<()> {
        &self.locks[(sector % STRIPES as u64) as usize]
    }

    fn io_err(&self, what: &str, e: std::io::Error) -> Error {
        Error::io(format!("{what} {}", self.path.display()), e)
    }

    fn take_scratch(&self) -> Vec<u8> {
        self.scratch
            .lock()
            .expect("lock")
            .pop()
            .unwrap_or_else(|| vec![0u8; self.sector])
    }

    fn put_scratch(&self, mut v: Vec<u8>) {
        zeroize::Zeroize::zeroize(&mut v[..]);
        self.scratch.lock().expect("lock").push(v);
    }

    /// Reads whole sectors `[first, first + buf.len() / sector)` as plaintext into `buf`.
    /// The caller holds the sectors' (read or write) locks.
    #[allow(unsafe_code)]
    fn read_sectors(&self, first: u64, buf: &mut [u8]) -> Result<()> {
        let rel = first * self.sector as u64;
        let off = self.data_offset + rel;
        if let Some(m) = &self.map {
            if m.resident(rel as usize, buf.len()) {
                // SAFETY: the caller holds the locks of these sectors, so no thread writes
                // them while `src` lives, and every page of the range is resident (not a hole).
                let src = unsafe { m.slice(rel as usize, buf.len()) };
                match &self.xts {
                    // Decrypt straight from the map into the caller's buffer.
                    Some(x) => decrypt(x, first, self.sector, Some(src), buf),
                    None => buf.copy_from_slice(src),
                }
                return Ok(());
            }
        }
        self.file
            .read_exact_at(buf, off)
            .map_err(|e| self.io_err("read", e))?;
        if let Some(x) = &self.xts {
            decrypt(x, first, self.sector, None, buf);
        }
        Ok(())
    }

    /// Writes whole plaintext sectors from `plain`.
    /// The caller holds the sectors' write locks.
    #[allow(unsafe_code)]
    fn write_sectors(&self, first: u64, plain: &[u8]) -> Result<()> {
        let rel = first * self.sector as u64;
        if let Some(m) = &self.map {
            // Where the pages cannot be allocated (a full file system), fall through to pwrite,
            // which reports the file system's own error.
            if m.populate_write(rel as usize, plain.len()).is_ok() {
                // SAFETY: the caller holds these sectors' write locks and the range was
                // populated above.
                let dst = unsafe { m.slice_mut(rel as usize, plain.len()) };
                match &self.xts {
                    // Encrypt straight from the caller's buffer into the map: ciphertext goes
                    // into the file, plaintext never does.
                    Some(x) => x.encrypt_sectors_to(first, self.sector, plain, dst),
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
            x.encrypt_sectors(first, self.sector, &mut run);
        }
        let written = self
            .file
            .write_all_at(&run, self.data_offset + rel)
            .map_err(|e| self.io_err("write", e));
        self.runs.lock().expect("lock").push(run);
        written
    }
}

/// Decrypts whole sectors (the first being `first`) from `src` into `dst`, or `dst` in place
/// when `src` is `None`, a chunk at a time while it is in L1. An all-zero ciphertext sector was
/// never written: it reads as zeros.
fn decrypt(x: &Xts, first: u64, ss: usize, src: Option<&[u8]>, dst: &mut [u8]) {
    let written = |c: &[u8]| c.iter().any(|&b| b != 0);
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

impl BlockDevice for FileDevice {
    fn len(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(offset, buf.len(), self.size)?;
        let ss = self.sector as u64;
        let mut pos = offset;
        let mut done = 0usize;
        while done < buf.len() {
            let sector = pos / ss;
            let within = (pos % ss) as usize;
            let left = buf.len() - done;
            if within == 0 && left >= self.sector {
                // Whole sectors straight into the caller's buffer, a run at a time.
                let n = (left / self.sector).min(RUN);
                let bytes = n * self.sector;
                let guards: Vec<_> = (0..n as u64)
                    .map(|i| self.lock_of(sector + i).read().expect("lock"))
                    .collect();
                self.read_sectors(sector, &mut buf[done..done + bytes])?;
                drop(guards);
                done += bytes;
                pos += bytes as u64;
            } else {
                let take = (self.sector - within).min(left);
                let mut s = self.take_scratch();
                {
                    let _g = self.lock_of(sector).read().expect("lock");
                    self.read_sectors(sector, &mut s)?;
                }
                buf[done..done + take].copy_from_slice(&s[within..within + take]);
                self.put_scratch(s);
                done += take;
                pos += take as u64;
            }
        }
        Ok(())
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        check_range(offset, data.len(), self.size)?;
        let ss = self.sector as u64;
        let mut pos = offset;
        let mut done = 0usize;
        while done < data.len() {
            let sector = pos / ss;
            let within = (pos % ss) as usize;
            let left = data.len() - done;
            if within == 0 && left >= self.sector {
                let n = (left / self.sector).min(RUN);
                let bytes = n * self.sector;
                let guards: Vec<_> = (0..n as u64)
                    .map(|i| self.lock_of(sector + i).write().expect("lock"))
                    .collect();
                self.write_sectors(sector, &data[done..done + bytes])?;
                drop(guards);
                done += bytes;
                pos += bytes as u64;
            } else {
                // Read, modify, write one edge sector under its lock.
                let take = (self.sector - within).min(left);
                let mut s = self.take_scratch();
                {
                    let _g = self.lock_of(sector).write().expect("lock");
                    self.read_sectors(sector, &mut s)?;
                    s[within..within + take].copy_from_slice(&data[done..done + take]);
                    self.write_sectors(sector, &s)?;
                }
                self.put_scratch(s);
                done += take;
                pos += take as u64;
            }
        }
        Ok(())
    }

    fn discard(&self, offset: u64, len: u64) -> Result<()> {
        check_range(offset, len as usize, self.size)?;
        let ss = self.sector as u64;
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
        // against a read or write run that wraps around the stripe ring.
        let mut first = first_whole;
        while first < end_whole {
            let n = (end_whole - first).min(RUN as u64);
            let guards: Vec<_> = (first..first + n)
                .map(|s| self.lock_of(s).write().expect("lock"))
                .collect();
            let punched = punch_hole(&self.file, self.data_offset + first * ss, n * ss);
            if let Some(m) = &self.map {
                // Even a failed punch may have freed pages.
                m.forget((first * ss) as usize, (n * ss) as usize);
            }
            punched.map_err(|e| self.io_err("punch hole in", e))?;
            drop(guards);
            first += n;
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(|e| self.io_err("fsync", e))
    }
}

/// Frees `[offset, offset + len)` of `file` so it reads as zeros. Where the filesystem cannot
/// punch holes, zeros are written instead (an all-zero sector reads as unwritten either way).
fn punch_hole(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    match fallocate_punch(file, offset, len) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
            let zeros = vec![0u8; 1 << 20];
            let mut pos = offset;
            while pos < offset + len {
                let n = (offset + len - pos).min(zeros.len() as u64) as usize;
                file.write_all_at(&zeros[..n], pos)?;
                pos += n as u64;
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// `fallocate(PUNCH_HOLE | KEEP_SIZE)`.
#[allow(unsafe_code)]
fn fallocate_punch(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: fallocate takes a file descriptor and integers; `file` keeps the descriptor open
    // for the duration of the call, and no memory is passed to the kernel.
    let r = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            offset as libc::off_t,
            len as libc::off_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::DataKey;
    use proptest::prelude::*;

    /// A device on a fresh file with `size` bytes of sectors behind a 4 KiB header, mapped
    /// when the file system allows it.
    fn file_device(size: u64, sector: usize, encrypted: bool) -> (tempfile::TempDir, FileDevice) {
        let dir = tempfile::tempdir_in(crate::bench::default_dir()).unwrap();
        let path = dir.path().join("vol");
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.set_len(4096 + size).unwrap();
        let xts = encrypted.then(|| Xts::new(&DataKey::from_slice(&[7u8; 64])));
        (dir, FileDevice::new(f, path, 4096, size, sector, xts))
    }

    #[derive(Debug, Clone)]
    enum Op {
        Write(u64, Vec<u8>),
        Read(u64, usize),
        Discard(u64, u64),
    }

    fn op(size: u64) -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..size, proptest::collection::vec(any::<u8>(), 0..9000)).prop_map(move |(o, d)| {
                let o = o.min(size - d.len().min(size as usize) as u64);
                Op::Write(o, d)
            }),
            (0..size, 0usize..9000).prop_map(move |(o, l)| Op::Read(
                o.min(size - l.min(size as usize) as u64),
                l.min(size as usize)
            )),
            (0..size, 0u64..20000).prop_map(move |(o, l)| Op::Discard(o, l.min(size - o))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        /// Random reads, writes and discards of random offsets and lengths agree with a Vec,
        /// on the mapped path and on the pread/pwrite one.
        #[test]
        fn file_device_agrees_with_memory(ops in proptest::collection::vec(op(64 * 1024), 1..60), sector in prop_oneof![Just(512usize), Just(4096usize)], enc in any::<bool>(), mapped in any::<bool>()) {
            let size = 64 * 1024;
            let (_d, mut dev) = file_device(size, sector, enc);
            prop_assert!(dev.map.is_some(), "the test file system can map files");
            if !mapped {
                dev.map = None;
            }
            let model = MemDevice::new(size as usize);
            for o in ops {
                match o {
                    Op::Write(off, data) => {
                        dev.write_at(off, &data).unwrap();
                        model.write_at(off, &data).unwrap();
                    }
                    Op::Read(off, len) => {
                        let mut a = vec![0u8; len];
                        let mut b = vec![0u8; len];
                        dev.read_at(off, &mut a).unwrap();
                        model.read_at(off, &mut b).unwrap();
                        prop_assert_eq!(a, b);
                    }
                    Op::Discard(off, len) => {
                        dev.discard(off, len).unwrap();
                        model.discard(off, len).unwrap();
                    }
                }
            }
            let mut a = vec![0u8; size as usize];
            let mut b = vec![0u8; size as usize];
            dev.read_at(0, &mut a).unwrap();
            model.read_at(0, &mut b).unwrap();
            prop_assert!(a == b);
        }
    }

    /// Mapped and unmapped devices over one file store the same ciphertext, and holes stay
    /// holes when read through the mapped device (a read fault on tmpfs would allocate them).
    #[test]
    fn mapped_and_unmapped_paths_store_the_same_bytes_and_reads_keep_holes() {
        use std::os::unix::fs::MetadataExt;
        let size = 4 << 20;
        let (_d, dev) = file_device(size, 4096, true);
        let f = dev.file.try_clone().unwrap();
        let mut plain = FileDevice::new(
            f,
            dev.path.clone(),
            4096,
            size,
            4096,
            Some(Xts::new(&DataKey::from_slice(&[7u8; 64]))),
        );
        plain.map = None;
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 31 + i / 4096) as u8).collect();
        dev.write_at(5000, &data).unwrap();
        let mut back = vec![0u8; data.len()];
        plain.read_at(5000, &mut back).unwrap();
        assert!(back == data, "written mapped, read with pread");
        plain.write_at(2 << 20, &data).unwrap();
        dev.read_at(2 << 20, &mut back).unwrap();
        assert!(back == data, "written with pwrite, read mapped");
        // Reading the whole device (mostly holes) allocates nothing.
        let allocated = || std::fs::metadata(&dev.path).unwrap().blocks() * 512;
        let before = allocated();
        let mut all = vec![0u8; size as usize];
        dev.read_at(0, &mut all).unwrap();
        assert_eq!(allocated(), before, "reads allocated pages");
        assert!(all[..5000].iter().all(|&b| b == 0));
        assert!(all[5000..5000 + data.len()] == data[..]);
    }

    /// A write the file system has no room for fails with `InsufficientStorage` (ENOSPC
    /// through FUSE), never SIGBUS, and what was written before reads back. Needs root (a tiny
    /// tmpfs); skipped otherwise, except under CI=true where it must run.
    #[test]
    fn full_file_system_is_an_error_not_a_crash() {
        if !rustix::process::geteuid().is_root() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI runs this test as root"
            );
            eprintln!("skipped: mounting a small tmpfs needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(ok.success(), "mount a 1 MiB tmpfs");
        struct Unmount<'a>(&'a std::path::Path);
        impl Drop for Unmount<'_> {
            fn drop(&mut self) {
                let _ = std::process::Command::new("umount").arg(self.0).status();
            }
        }
        let _u = Unmount(dir.path());
        for mapped in [true, false] {
            let path = dir.path().join(format!("vol-{mapped}"));
            let key = DataKey::from_slice(&[9u8; 64]);
            let mut dev = FileDevice::create_scratch(&path, 8 << 20, 4096, Some(&key)).unwrap();
            assert!(dev.map.is_some());
            if !mapped {
                dev.map = None;
            }
            let chunk = vec![0x5au8; 256 << 10];
            // A discarded range whose pages were populated is populated again before it is
            // written: with the file system full, that write fails cleanly (a store into the
            // freed pages would raise SIGBUS and kill this test).
            dev.write_at(0, &chunk).unwrap();
            dev.discard(0, chunk.len() as u64).unwrap();
            let filler = dir.path().join("filler");
            let mut f = std::fs::File::create(&filler).unwrap();
            while std::io::Write::write_all(&mut f, &[1u8; 4096]).is_ok() {}
            drop(f);
            let e = dev.write_at(0, &chunk).unwrap_err();
            assert_eq!(e.code(), Code::INSUFFICIENT_STORAGE, "{e}");
            std::fs::remove_file(&filler).unwrap();
            let mut written = 0u64;
            let err = loop {
                match dev.write_at(written, &chunk) {
                    Ok(()) => written += chunk.len() as u64,
                    Err(e) => break e,
                }
                assert!(written < 8 << 20, "8 MiB fit in a 1 MiB tmpfs");
            };
            assert_eq!(err.code(), Code::INSUFFICIENT_STORAGE, "{err}");
            assert!(written > 0);
            let mut back = vec![0u8; written as usize];
            dev.read_at(0, &mut back).unwrap();
            assert!(back.iter().all(|&b| b == 0x5a), "earlier writes read back");
            drop(dev);
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn past_the_end_is_refused_and_ciphertext_is_on_disk() {
        let (_d, dev) = file_device(8192, 4096, true);
        assert_eq!(
            dev.write_at(8000, &[1u8; 200]).unwrap_err().code(),
            Code::INVALID_PARAMETER_VALUE
        );
        let mut b = [0u8; 10];
        assert!(dev.read_at(8190, &mut b).is_err());
        let marker = b"PLAINTEXT-MARKER-IN-DEVICE";
        dev.write_at(100, marker).unwrap();
        dev.sync().unwrap();
        let raw = std::fs::read(&dev.path).unwrap();
        assert!(!raw.windows(marker.len()).any(|w| w == marker));
        let mut back = vec![0u8; marker.len()];
        dev.read_at(100, &mut back).unwrap();
        assert_eq!(&back, marker);
    }

    /// Regression: a discard of more than STRIPES sectors used to lock every stripe at once,
    /// starting mid-ring, while a write run wrapping the ring (stripes 4000..4095 then 0..159)
    /// took the same locks in another order: the two could deadlock.
    #[test]
    fn large_discards_and_wrapping_writes_do_not_deadlock() {
        let sectors = STRIPES as u64 + 512;
        let (_d, dev) = file_device(sectors * 512, 512, true);
        let dev = std::sync::Arc::new(dev);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let workers: Vec<_> = (0..2)
            .map(|t| {
                let (dev, stop, tx) = (dev.clone(), stop.clone(), tx.clone());
                std::thread::spawn(move || {
                    let run = vec![t as u8 + 1; RUN * 512];
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        if t == 0 {
                            dev.discard(512, (sectors - 2) * 512).unwrap();
                        } else {
                            dev.write_at((STRIPES as u64 - 96) * 512, &run).unwrap();
                        }
                    }
                    tx.send(()).unwrap();
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for _ in 0..2 {
            rx.recv_timeout(std::time::Duration::from_secs(20))
                .expect("discard and write deadlocked");
        }
        for w in workers {
            w.join().unwrap();
        }
    }

    #[test]
    fn concurrent_writers_never_tear_a_sector() {
        let (_d, dev) = file_device(4096 * 4, 4096, true);
        let dev = std::sync::Arc::new(dev);
        let handles: Vec<_> = (0..4u8)
            .map(|t| {
                let dev = dev.clone();
                std::thread::spawn(move || {
                    for i in 0..200u64 {
                        // Unaligned writes that cover sector 1 entirely with one byte value.
                        dev.write_at(4096 - (i % 7), &vec![t + 1; 4096 + 14])
                            .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let mut s = vec![0u8; 4096];
        dev.read_at(4096, &mut s).unwrap();
        assert!(
            s.iter().all(|&b| b == s[0]) && s[0] != 0,
            "sector 1 is one writer's bytes"
        );
    }
}
