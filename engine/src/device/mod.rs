//! A volume as a block device: byte-addressed reads and writes of any offset and length, for
//! the FUSE front end (DESIGN.md, "The FUSE front end"). The device is the one encrypted-volume
//! type, [`crate::storage::Volume`], over the volume file ([`FileDevice`]) or memory
//! ([`MemDevice`]); this module holds the trait FUSE sees and those two constructors.

use crate::error::{Error, Result};
use crate::storage::{Backing, FileBacking, Geometry, MemBacking, Volume};
use crate::xts::Xts;
use std::fs::File;

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

impl<B: Backing> BlockDevice for Volume<B> {
    fn len(&self) -> u64 {
        self.size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        Volume::read_at(self, offset, buf)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        Volume::write_at(self, offset, data)
    }
    fn discard(&self, offset: u64, len: u64) -> Result<()> {
        Volume::discard(self, offset, len)
    }
    fn sync(&self) -> Result<()> {
        Volume::sync(self)
    }
}

/// A volume file opened for I/O: sectors start at the data offset; encrypted volumes decrypt
/// and encrypt with their data key, held (zeroizing) for as long as the device is open. The
/// file is mapped shared where the file system allows it.
pub type FileDevice = Volume<FileBacking>;

/// A volume in memory, unencrypted: for tests of front ends and the FUSE transport bench.
pub type MemDevice = Volume<MemBacking>;

impl Volume<FileBacking> {
    /// A device over `file` (already validated and locked by the caller, see
    /// [`FileBacking::mapped`]) whose sectors of `sector` bytes start at `data_offset`.
    ///
    /// # Errors
    /// `InvalidParameterValue` for a sector size other than 512 or 4096, or a size that is not
    /// whole sectors.
    pub(crate) fn new(
        file: File,
        path: std::path::PathBuf,
        data_offset: u64,
        size: u64,
        sector: usize,
        xts: Option<Xts>,
    ) -> Result<Self> {
        let backing = FileBacking::mapped(file, path, data_offset, size);
        let geo = Geometry {
            data_offset,
            size,
            sector,
        };
        Volume::with_backing(backing, geo, xts)
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
        let geo = Geometry {
            data_offset: 0,
            size,
            sector,
        }
        .check()?;
        let backing = FileBacking::create(path, size, Some(0))
            .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
        Volume::with_backing(backing, geo, key.map(Xts::new))
    }
}

impl Volume<MemBacking> {
    /// A zero-filled, unencrypted device of `len` bytes in 4096-byte sectors (512-byte ones
    /// when `len` is not a multiple of 4096).
    ///
    /// # Panics
    /// If `len` is not a multiple of 512.
    pub fn new(len: usize) -> Self {
        let sector = if len.is_multiple_of(4096) { 4096 } else { 512 };
        let geo = Geometry {
            data_offset: 0,
            size: len as u64,
            sector,
        };
        Volume::with_backing(MemBacking::new(len), geo, None)
            .expect("a memory device is whole 512-byte sectors")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::Code;
    use crate::secret::DataKey;
    use crate::storage::{RUN, STRIPES};
    use proptest::prelude::*;
    use std::sync::RwLock;

    /// The model every device is checked against: a plain byte vector.
    pub(crate) struct Model(RwLock<Vec<u8>>);

    impl Model {
        pub(crate) fn new(len: usize) -> Model {
            Model(RwLock::new(vec![0; len]))
        }
        pub(crate) fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
            let mut b = self.0.write().unwrap();
            b[offset as usize..offset as usize + data.len()].copy_from_slice(data);
            Ok(())
        }
        pub(crate) fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
            let b = self.0.read().unwrap();
            buf.copy_from_slice(&b[offset as usize..offset as usize + buf.len()]);
            Ok(())
        }
        pub(crate) fn discard(&self, offset: u64, len: u64) -> Result<()> {
            self.0.write().unwrap()[offset as usize..(offset + len) as usize].fill(0);
            Ok(())
        }
    }

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
        (
            dir,
            FileDevice::new(f, path, 4096, size, sector, xts).unwrap(),
        )
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
            prop_assert!(dev.is_mapped(), "the test file system can map files");
            if !mapped {
                dev.unmap();
            }
            let model = Model::new(size as usize);
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
        let f = dev.backing().file().try_clone().unwrap();
        let mut plain = FileDevice::new(
            f,
            dev.backing().path().to_owned(),
            4096,
            size,
            4096,
            Some(Xts::new(&DataKey::from_slice(&[7u8; 64]))),
        )
        .unwrap();
        plain.unmap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 31 + i / 4096) as u8).collect();
        dev.write_at(5000, &data).unwrap();
        let mut back = vec![0u8; data.len()];
        plain.read_at(5000, &mut back).unwrap();
        assert!(back == data, "written mapped, read with pread");
        plain.write_at(2 << 20, &data).unwrap();
        dev.read_at(2 << 20, &mut back).unwrap();
        assert!(back == data, "written with pwrite, read mapped");
        // Reading the whole device (mostly holes) allocates nothing.
        let allocated = || std::fs::metadata(dev.backing().path()).unwrap().blocks() * 512;
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
            assert!(dev.is_mapped());
            if !mapped {
                dev.unmap();
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
        let raw = std::fs::read(dev.backing().path()).unwrap();
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
