//! Throughput measurements of the engine's data paths, for `blockseal bench` and the criterion
//! benches: the XTS transform on one core ([`xts`]) and a re-keying image copy through the real
//! EC2 operations in a throw-away home ([`rekey`], [`RekeyBench`]).
//!
//! Each function returns a typed report (serde `Serialize`) and never prints; the caller draws
//! the table or the JSON. Besides what they measure, they read only the clock and the OS random
//! source (keys and data). GB/s is 10^9 bytes per second throughout.
//!
//! Must not: keep or print keys; leave files behind (a throw-away home is removed when its
//! [`RekeyBench`] is dropped); assert on time.

use crate::api::{Options, Session};
use crate::error::{bail, Code, Error, Result};
use crate::progress::NoProgress;
use crate::secret::{fill_random, DataKey};
use crate::xts::{rekey_sectors, Xts, XtsCipher};
use serde::Serialize;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The data movers by themselves, below the EC2 operations (threads, chunk size, pread or
/// mmap of the source), for `benches/rekey.rs`. Not part of the engine's API.
#[doc(hidden)]
pub use crate::rekey::bench as movers;

/// Default buffer of [`xts`]: 1 MiB, inside one core's L2, so a pass measures the cipher as
/// `openssl speed` (one 4 KiB buffer in L1) does, not the memory bus. A buffer far larger than
/// the caches (64 MiB) measures a core's memory bandwidth: about half the in-cache figure here.
pub const DEFAULT_XTS_SIZE: u64 = 1 << 20;

/// Default image size of [`rekey`]: 1 GiB, the size the peers in `shared/bench` copy.
pub const DEFAULT_REKEY_SIZE: u64 = 1 << 30;

/// Number of data extents a sparse bench image spreads its data over.
pub const SPARSE_EXTENTS: u64 = 64;

/// Smallest image of a scaling table; sizes double from here up to the requested one.
pub const SCALING_MIN_SIZE: u64 = 256 << 20;

/// A measurement takes at least this many passes and goes on until [`XTS_MIN_TIME`] has passed
/// (at most [`XTS_MAX_PASSES`]); the best pass counts. The best, not the mean, because the
/// reference machine is shared and the other engineers' load only ever slows a pass down.
const XTS_MIN_PASSES: u32 = 3;
const XTS_MAX_PASSES: u32 = 20;
const XTS_MIN_TIME: Duration = Duration::from_millis(200);

/// One cipher at one sector size, on one core.
#[derive(Clone, Debug, Serialize)]
pub struct XtsEntry {
    /// `aes-128-xts` or `aes-256-xts`.
    pub cipher: XtsCipher,
    /// Bytes per sector (data unit).
    pub sector_size: usize,
    /// `Xts::encrypt_sectors` over the whole buffer.
    pub encrypt_gbps: f64,
    /// `Xts::decrypt_sectors` over the whole buffer.
    pub decrypt_gbps: f64,
    /// `xts::rekey_sectors` (decrypt with one key, encrypt with another), bytes of data per
    /// second.
    pub rekey_gbps: f64,
}

/// What [`xts`] measured.
#[derive(Clone, Debug, Serialize)]
pub struct XtsReport {
    /// AES-256-XTS encryption at 4 KiB sectors; `None` if that pair was not measured.
    pub encrypt_gbps: Option<f64>,
    /// AES-256-XTS decryption at 4 KiB sectors; `None` if that pair was not measured.
    pub decrypt_gbps: Option<f64>,
    /// The code path that ran (`Xts::implementation`: `vaes512`, `vaes256` or `portable`).
    pub implementation: &'static str,
    /// Bytes per pass.
    pub bytes: u64,
    /// One entry per cipher and sector size, in the order asked for.
    pub sectors: Vec<XtsEntry>,
}

/// A fresh random data key for `cipher`, for benchmarks and scratch devices of front ends.
pub fn random_data_key(cipher: XtsCipher) -> DataKey {
    let mut material = zeroize::Zeroizing::new([0u8; 64]);
    let m = &mut material[..cipher.key_len()];
    fill_random(m);
    DataKey::from_slice(m)
}

/// Bytes per second as GB/s.
fn gbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs.max(1e-9) / 1e9
}

/// The shortest of a few runs of `pass`, in seconds.
fn best_of(mut pass: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut best = f64::INFINITY;
    let mut n = 0;
    while n < XTS_MIN_PASSES || (n < XTS_MAX_PASSES && start.elapsed() < XTS_MIN_TIME) {
        let t = Instant::now();
        pass();
        best = best.min(t.elapsed().as_secs_f64());
        n += 1;
    }
    best
}

/// Measures the XTS transform on the calling thread: for every cipher in `ciphers` and every
/// size in `sector_sizes`, encryption, decryption and re-keying of a `size` byte buffer of
/// random data with random keys, best of a few passes. The code path is the one `Xts::new`
/// picks (`BLOCKSEAL_XTS_IMPL` forces one).
///
/// # Errors
/// `InvalidParameterValue` if `size` is zero or not whole sectors of every size asked for, or
/// a sector size is not a non-zero multiple of 16.
pub fn xts(size: u64, sector_sizes: &[usize], ciphers: &[XtsCipher]) -> Result<XtsReport> {
    for &s in sector_sizes {
        if s < 16 || !s.is_multiple_of(16) {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "bad sector size {s}: XTS sectors are multiples of 16 bytes"
            );
        }
        if size == 0 || !size.is_multiple_of(s as u64) {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "a {size}-byte buffer is not whole {s}-byte sectors"
            );
        }
    }
    let len = usize::try_from(size).map_err(|_| {
        Error::new(
            Code::INVALID_PARAMETER_VALUE,
            format!("{size} bytes do not fit in memory"),
        )
    })?;
    let mut buf = vec![0u8; len];
    fill_random(&mut buf);
    let mut implementation = Xts::new(&random_data_key(XtsCipher::Aes256Xts)).implementation();
    let mut sectors = Vec::new();
    for &cipher in ciphers {
        let old = Xts::new(&random_data_key(cipher));
        let new = Xts::new(&random_data_key(cipher));
        implementation = old.implementation();
        for &ss in sector_sizes {
            // An arbitrary first sector: far from 0 so no path can special-case small tweaks.
            let first = 1 << 20;
            let enc = best_of(|| old.encrypt_sectors(first, ss, std::hint::black_box(&mut buf)));
            let dec = best_of(|| old.decrypt_sectors(first, ss, std::hint::black_box(&mut buf)));
            let rk =
                best_of(|| rekey_sectors(&old, &new, first, ss, std::hint::black_box(&mut buf)));
            sectors.push(XtsEntry {
                cipher,
                sector_size: ss,
                encrypt_gbps: gbps(size, enc),
                decrypt_gbps: gbps(size, dec),
                rekey_gbps: gbps(size, rk),
            });
        }
    }
    let headline = sectors
        .iter()
        .find(|e| e.cipher == XtsCipher::Aes256Xts && e.sector_size == 4096);
    Ok(XtsReport {
        encrypt_gbps: headline.map(|e| e.encrypt_gbps),
        decrypt_gbps: headline.map(|e| e.decrypt_gbps),
        implementation,
        bytes: size,
        sectors,
    })
}

/// What one re-key measurement found.
#[derive(Clone, Debug, Serialize)]
pub struct RekeyReport {
    /// Re-keying CopyImage (key A to key B): image bytes per second, end to end.
    pub rekey_gbps: f64,
    /// Same-key CopyImage (a clone of the ciphertext): image bytes per second, end to end.
    pub clone_gbps: f64,
    /// Bytes of data in the image (all of them non-zero, so none is skipped); the GB/s figures
    /// count these.
    pub bytes: u64,
    /// Size of the image: `bytes` for a dense one; larger for a sparse one, whose data lies in
    /// [`SPARSE_EXTENTS`] extents spread over it and the rest is holes.
    pub volume_bytes: u64,
    /// Seconds the re-keying CopyImage took.
    pub seconds: f64,
    /// Seconds the same-key CopyImage took.
    pub clone_seconds: f64,
    /// Worker threads (the rayon pool the operations ran in).
    pub threads: usize,
    /// Sector size of the image.
    pub sector_size: u32,
    /// The XTS code path (`Xts::implementation`).
    pub implementation: &'static str,
}

/// The directory throw-away homes go in by default: `/dev/shm` where it exists (memory, so the
/// figures are the engine's and not the disk's), else the system temporary directory.
pub fn default_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    }
}

/// The image sizes of a scaling table up to `max`: 256 MiB doubling up to and including `max`
/// (just `max` when it is smaller than 256 MiB).
pub fn scaling_sizes(max: u64) -> Vec<u64> {
    let mut sizes = Vec::new();
    let mut s = SCALING_MIN_SIZE;
    while s < max {
        sizes.push(s);
        s *= 2;
    }
    sizes.push(max);
    sizes
}

/// Measures a re-keying copy of a `size` byte image with `threads` worker threads, in a
/// throw-away home under `dir` (4 KiB sectors). See [`RekeyBench`].
///
/// # Errors
/// As [`RekeyBench::prepare`] and [`RekeyBench::measure`].
pub fn rekey(dir: &Path, size: u64, threads: usize) -> Result<RekeyReport> {
    RekeyBench::prepare(dir, size, 4096)?.measure(threads)
}

/// A directory removed, with everything in it, when dropped.
struct TempHome(PathBuf);

impl Drop for TempHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A throw-away home holding a registered image of random data encrypted under KMS key A, ready
/// to be copied: [`RekeyBench::measure`] times a re-keying copy to key B and a same-key copy,
/// through `Session::invoke` exactly as `blockseal ec2 copy-image` runs them. The source is in
/// the page cache (it was just written); each copy writes fresh pages.
pub struct RekeyBench {
    // Field order: the engine closes its catalog before the home is removed.
    engine: Session,
    image: String,
    key_b: String,
    size: u64,
    volume_size: u64,
    sector_size: u32,
    copies: u32,
    _home: TempHome,
}

impl std::fmt::Debug for RekeyBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RekeyBench({}, {} bytes)",
            self.engine.home().display(),
            self.size
        )
    }
}

fn str_at<'a>(v: &'a Value, what: &str, path: &[&str]) -> Result<&'a str> {
    let mut at = v;
    for p in path {
        at = match p.parse::<usize>() {
            Ok(i) => &at[i],
            Err(_) => &at[*p],
        };
    }
    at.as_str().ok_or_else(|| {
        Error::new(
            Code::INTERNAL_ERROR,
            format!("{what}: no {} in {v}", path.join(".")),
        )
    })
}

impl RekeyBench {
    /// Makes a throw-away home under `dir`, two KMS keys A and B, and imports `size` bytes of
    /// random data (encrypted under A, `sector_size` byte sectors) as the root snapshot of a
    /// registered image. The plaintext file is removed once imported.
    ///
    /// # Errors
    /// `InvalidParameterValue` for a zero size or a sector size other than 512 or 4096; I/O
    /// errors (e.g. `InsufficientStorage` when `dir` is too small for two copies); any error
    /// of the operations.
    pub fn prepare(dir: &Path, size: u64, sector_size: u32) -> Result<RekeyBench> {
        Self::prepare_sparse(dir, size, size, sector_size)
    }

    /// As [`RekeyBench::prepare`], but the image is `volume_size` bytes (whole GiB) of which
    /// only `size` hold data, in [`SPARSE_EXTENTS`] extents spread evenly over it (fewer if
    /// `size` is under 64 MiB); the rest is holes. With `volume_size == size` the image is
    /// dense, as `prepare` makes it.
    ///
    /// # Errors
    /// As [`RekeyBench::prepare`]; `InvalidParameterValue` also when `volume_size` is smaller
    /// than `size`, or is not whole GiB while larger.
    pub fn prepare_sparse(
        dir: &Path,
        size: u64,
        volume_size: u64,
        sector_size: u32,
    ) -> Result<RekeyBench> {
        if size == 0 {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "the image must have at least one byte"
            );
        }
        if volume_size < size || (volume_size > size && !volume_size.is_multiple_of(1 << 30)) {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "a sparse image of {size} bytes of data must be at least that large and whole \
                 GiB, not {volume_size} bytes"
            );
        }
        let home = dir.join(format!(
            "blockseal-bench.{}.{:x}",
            std::process::id(),
            crate::secret::random_u128() as u64
        ));
        std::fs::create_dir(&home)
            .map_err(|e| Error::io(format!("create {}", home.display()), e))?;
        let home = TempHome(home);
        let engine = Session::open(Options {
            home: home.0.join("home"),
            region: "us-east-1".into(),
            profile: "admin".into(),
        })?;
        let call = |op: &str, req: Value| engine.invoke(op, req, &NoProgress);
        let key_a = call("CreateKey", json!({"Description": "bench A"}))?;
        let key_a = str_at(&key_a, "CreateKey", &["KeyMetadata", "KeyId"])?.to_owned();
        let key_b = call("CreateKey", json!({"Description": "bench B"}))?;
        let key_b = str_at(&key_b, "CreateKey", &["KeyMetadata", "KeyId"])?.to_owned();

        let plain = home.0.join("plain.raw");
        write_random_file(&plain, size, volume_size)?;
        let imported = call(
            "ImportSnapshot",
            json!({"File": plain.to_string_lossy(), "Encrypted": true, "KmsKeyId": key_a,
                   "SectorSize": sector_size, "Description": "bench source"}),
        );
        let _ = std::fs::remove_file(&plain);
        let imported = imported?;
        let snap = str_at(
            &imported,
            "ImportSnapshot",
            &["SnapshotTaskDetail", "SnapshotId"],
        )?
        .to_owned();
        let image = call(
            "RegisterImage",
            json!({"Name": "bench-source", "RootDeviceName": "/dev/xvda",
                   "BlockDeviceMappings": [{"DeviceName": "/dev/xvda",
                                            "Ebs": {"SnapshotId": snap}}]}),
        )?;
        let image = str_at(&image, "RegisterImage", &["ImageId"])?.to_owned();
        Ok(RekeyBench {
            engine,
            image,
            key_b,
            size,
            volume_size,
            sector_size,
            copies: 0,
            _home: home,
        })
    }

    /// Times, in a rayon pool of `threads` workers, a re-keying CopyImage (key A to key B) and
    /// a same-key CopyImage of the image, each end to end (`Session::invoke`: key checks, data
    /// keys, the data, fsync, catalog commit). Each copy is deregistered and deleted once timed,
    /// so only the source and one copy occupy `dir` at a time.
    ///
    /// # Errors
    /// As [`RekeyBench::time_rekey`].
    pub fn measure(&mut self, threads: usize) -> Result<RekeyReport> {
        let seconds = self.time_rekey(threads)?;
        let clone_seconds = self.time_clone(threads)?;
        Ok(RekeyReport {
            rekey_gbps: gbps(self.size, seconds),
            clone_gbps: gbps(self.size, clone_seconds),
            bytes: self.size,
            volume_bytes: self.volume_size,
            seconds,
            clone_seconds,
            threads,
            sector_size: self.sector_size,
            implementation: Xts::new(&random_data_key(XtsCipher::Aes256Xts)).implementation(),
        })
    }

    /// Seconds a re-keying CopyImage (key A to key B) takes with `threads` workers.
    ///
    /// # Errors
    /// `InvalidParameterValue` for zero threads; `InternalError` if the pool cannot start; any
    /// error of the operations.
    pub fn time_rekey(&mut self, threads: usize) -> Result<f64> {
        let req = json!({"SourceImageId": self.image, "SourceRegion": "us-east-1",
                         "Encrypted": true, "KmsKeyId": self.key_b});
        self.timed_copy(threads, req)
    }

    /// Seconds a same-key CopyImage (a clone of the ciphertext) takes with `threads` workers.
    ///
    /// # Errors
    /// As [`RekeyBench::time_rekey`].
    pub fn time_clone(&mut self, threads: usize) -> Result<f64> {
        let req = json!({"SourceImageId": self.image, "SourceRegion": "us-east-1"});
        self.timed_copy(threads, req)
    }

    /// Runs CopyImage with `req` (plus a fresh name) in a pool of `threads`, then deletes the copy;
    /// returns the seconds the copy took.
    fn timed_copy(&mut self, threads: usize, mut req: Value) -> Result<f64> {
        if threads == 0 {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "at least one thread is needed"
            );
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("bench-{i}"))
            .build()
            .map_err(|e| {
                Error::new(
                    Code::INTERNAL_ERROR,
                    format!("start {threads} worker threads: {e}"),
                )
            })?;
        self.copies += 1;
        req["Name"] = json!(format!("bench-copy-{}", self.copies));
        let engine = &mut self.engine;
        let t = Instant::now();
        let out = pool.install(|| engine.invoke("CopyImage", req, &NoProgress))?;
        let secs = t.elapsed().as_secs_f64();
        let image = str_at(&out, "CopyImage", &["ImageId"])?.to_owned();
        let described =
            engine.invoke("DescribeImages", json!({"ImageIds": [image]}), &NoProgress)?;
        let snap = str_at(
            &described,
            "DescribeImages",
            &[
                "Images",
                "0",
                "BlockDeviceMappings",
                "0",
                "Ebs",
                "SnapshotId",
            ],
        )?
        .to_owned();
        engine.invoke("DeregisterImage", json!({"ImageId": image}), &NoProgress)?;
        engine.invoke("DeleteSnapshot", json!({"SnapshotId": snap}), &NoProgress)?;
        Ok(secs)
    }
}

/// Where the data of a `volume`-byte image holding `size` bytes goes: `(offset, len)`
/// extents, at most [`SPARSE_EXTENTS`] of them (at least 1 MiB each where `size` allows),
/// spread evenly and 1 MiB aligned; one extent at 0 when the image is dense.
fn sparse_extents(size: u64, volume: u64) -> Vec<(u64, u64)> {
    if volume <= size {
        return vec![(0, size)];
    }
    let n = (size >> 20).clamp(1, SPARSE_EXTENTS);
    let each = size / n;
    let stride = volume / n;
    (0..n)
        .map(|i| {
            let len = if i == n - 1 {
                size - each * (n - 1)
            } else {
                each
            };
            ((i * stride) >> 20 << 20, len)
        })
        .collect()
}

/// Writes a new file of `volume` bytes at `path` holding `size` random bytes in the extents
/// of [`sparse_extents`]; the rest is holes.
fn write_random_file(path: &Path, size: u64, volume: u64) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    let io = |e| Error::io(format!("write {}", path.display()), e);
    let mut f = std::fs::File::create_new(path).map_err(io)?;
    f.set_len(volume).map_err(io)?;
    let mut buf = vec![0u8; 1 << 20];
    for (at, len) in sparse_extents(size, volume) {
        f.seek(SeekFrom::Start(at)).map_err(io)?;
        let mut left = len;
        while left > 0 {
            let n = usize::try_from(left.min(buf.len() as u64)).expect("at most the buffer length");
            fill_random(&mut buf[..n]);
            f.write_all(&buf[..n]).map_err(io)?;
            left -= n as u64;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xts_report_is_sane() {
        let size = 8 << 20;
        let r = xts(
            size,
            &[512, 4096],
            &[XtsCipher::Aes128Xts, XtsCipher::Aes256Xts],
        )
        .unwrap();
        assert_eq!(r.bytes, size);
        assert_eq!(r.sectors.len(), 4);
        assert!(["vaes512", "vaes256", "portable"].contains(&r.implementation));
        for e in &r.sectors {
            assert!(
                e.encrypt_gbps > 0.0 && e.decrypt_gbps > 0.0 && e.rekey_gbps > 0.0,
                "{e:?}"
            );
            assert!(e.encrypt_gbps.is_finite());
        }
        let e = &r.sectors[3];
        assert_eq!((e.cipher, e.sector_size), (XtsCipher::Aes256Xts, 4096));
        assert_eq!(r.encrypt_gbps, Some(e.encrypt_gbps));
        assert_eq!(r.decrypt_gbps, Some(e.decrypt_gbps));
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["sectors"][0]["cipher"], "aes-128-xts");
        assert_eq!(j["sectors"][0]["sector_size"], 512);
    }

    #[test]
    fn xts_without_the_headline_pair_has_no_headline() {
        let r = xts(1 << 20, &[512], &[XtsCipher::Aes128Xts]).unwrap();
        assert_eq!(r.encrypt_gbps, None);
        assert_eq!(r.sectors.len(), 1);
    }

    #[test]
    fn xts_refuses_bad_shapes() {
        assert!(xts(0, &[4096], &[XtsCipher::Aes256Xts]).is_err());
        assert!(xts(4096 + 512, &[4096], &[XtsCipher::Aes256Xts]).is_err());
        assert!(xts(4096, &[520], &[XtsCipher::Aes256Xts]).is_err());
    }

    #[test]
    fn rekey_report_is_sane_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir_in(default_dir()).unwrap();
        let size = 8 << 20;
        let r = rekey(dir.path(), size, 2).unwrap();
        assert_eq!(r.bytes, size);
        assert_eq!((r.threads, r.sector_size), (2, 4096));
        assert!(
            r.rekey_gbps > 0.0 && r.clone_gbps > 0.0 && r.seconds > 0.0,
            "{r:?}"
        );
        assert!(r.rekey_gbps.is_finite() && r.clone_gbps.is_finite());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn rekey_bench_measures_repeatedly_and_at_512_byte_sectors() {
        let dir = tempfile::tempdir_in(default_dir()).unwrap();
        let mut b = RekeyBench::prepare(dir.path(), 3 << 20, 512).unwrap();
        for threads in [1, 2] {
            let r = b.measure(threads).unwrap();
            assert_eq!((r.bytes, r.threads, r.sector_size), (3 << 20, threads, 512));
        }
        assert!(b.measure(0).is_err());
        assert!(RekeyBench::prepare(dir.path(), 0, 4096).is_err());
    }

    #[test]
    fn sparse_extents_hold_the_data_spread_over_the_volume() {
        assert_eq!(sparse_extents(5 << 20, 5 << 20), vec![(0, 5 << 20)]);
        for (size, volume) in [
            (1u64 << 30, 100u64 << 30),
            (3 << 20, 1 << 30),
            (4096, 1 << 30),
        ] {
            let e = sparse_extents(size, volume);
            assert!(e.len() as u64 <= SPARSE_EXTENTS);
            assert_eq!(e.iter().map(|x| x.1).sum::<u64>(), size);
            for w in e.windows(2) {
                assert!(
                    w[0].0 + w[0].1 < w[1].0,
                    "disjoint with holes between: {e:?}"
                );
            }
            let last = e.last().unwrap();
            assert!(last.0 + last.1 <= volume && (e.len() == 1 || last.0 >= volume / 2));
        }
        assert_eq!(sparse_extents(1 << 30, 100 << 30).len(), 64);
    }

    #[test]
    fn sparse_rekey_bench_stores_only_the_data_and_reports_both_sizes() {
        use std::os::unix::fs::MetadataExt;
        fn big_files(dir: &Path, out: &mut Vec<std::fs::Metadata>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let m = e.metadata().unwrap();
                if m.is_dir() {
                    big_files(&e.path(), out);
                } else if m.len() >= 1 << 30 {
                    out.push(m);
                }
            }
        }
        let dir = tempfile::tempdir_in(default_dir()).unwrap();
        let mut b = RekeyBench::prepare_sparse(dir.path(), 4 << 20, 1 << 30, 4096).unwrap();
        // The imported snapshot: a 1 GiB (+ header) file with about 4 MiB allocated.
        let mut files = Vec::new();
        big_files(dir.path(), &mut files);
        assert_eq!(files.len(), 1);
        assert!(
            files[0].blocks() * 512 < 8 << 20,
            "{} bytes allocated",
            files[0].blocks() * 512
        );
        let r = b.measure(2).unwrap();
        assert_eq!((r.bytes, r.volume_bytes), (4 << 20, 1 << 30));
        assert!(RekeyBench::prepare_sparse(dir.path(), 2 << 30, 1 << 30, 4096).is_err());
        assert!(RekeyBench::prepare_sparse(dir.path(), 1 << 20, (1 << 30) + 4096, 4096).is_err());
        drop(b);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn scaling_sizes_double_up_to_the_maximum() {
        assert_eq!(scaling_sizes(1 << 30), vec![256 << 20, 512 << 20, 1 << 30]);
        assert_eq!(scaling_sizes(256 << 20), vec![256 << 20]);
        assert_eq!(scaling_sizes(8 << 20), vec![8 << 20]);
        assert_eq!(
            scaling_sizes(768 << 20),
            vec![256 << 20, 512 << 20, 768 << 20]
        );
    }

    #[test]
    fn random_keys_have_the_cipher_s_length_and_differ() {
        let a = random_data_key(XtsCipher::Aes128Xts);
        assert_eq!(a.expose().len(), 32);
        let b = random_data_key(XtsCipher::Aes256Xts);
        let c = random_data_key(XtsCipher::Aes256Xts);
        assert_eq!(b.expose().len(), 64);
        assert_ne!(b.expose(), c.expose());
    }
}
