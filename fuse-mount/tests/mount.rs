//! Real mounts: block files served over /dev/fuse, driven with ordinary file I/O, `dd`, `cmp`
//! and `fio` as a user would, checked against the device underneath and a byte-vector model.
//!
//! They need /dev/fuse and root (or fusermount3). Without them they print why and pass, except
//! under CI (`CI=true`), where they fail: a CI run that silently skips them proves nothing.

use blockseal_engine::{BlockDevice, Code, DataKey, FileDevice};
use blockseal_fuse::{run_foreground, Mount, MountOptions, Unmounted};
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Helpers

/// Whether FUSE mounts can run here; under CI, a missing prerequisite is a failure.
fn fuse_ready() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let reason = if !Path::new("/dev/fuse").exists() {
        Some("/dev/fuse does not exist".to_owned())
    } else if let Err(e) = OpenOptions::new().read(true).write(true).open("/dev/fuse") {
        Some(format!("cannot open /dev/fuse: {e}"))
    } else if !root && !has_program("fusermount3") {
        Some("not root and no fusermount3 (apt-get install fuse3)".to_owned())
    } else {
        None
    };
    match reason {
        None => true,
        Some(r) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("FUSE tests cannot run under CI: {r}")
        }
        Some(r) => {
            eprintln!("skipping FUSE mount test: {r}");
            false
        }
    }
}

macro_rules! require_fuse {
    () => {
        if !fuse_ready() {
            return;
        }
    };
}

fn has_program(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A program the test needs; missing is a skip, or a failure under CI.
fn require_program(name: &str) -> bool {
    if has_program(name) {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{name} is missing (apt-get install -y {name})");
    }
    eprintln!("skipping: {name} is missing (apt-get install -y {name})");
    false
}

/// A scratch area in memory (/dev/shm), with a mount point `mnt` inside.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let base = if Path::new("/dev/shm").is_dir() {
            "/dev/shm"
        } else {
            "/tmp"
        };
        let dir = tempfile::Builder::new()
            .prefix("bsfuse.")
            .tempdir_in(base)
            .unwrap();
        std::fs::create_dir(dir.path().join("mnt")).unwrap();
        Scratch { dir }
    }

    fn mnt(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A sparse scratch volume file `name.vol`, encrypted when `key` is set.
    fn device(&self, name: &str, size: u64, sector: usize, key: bool) -> Arc<dyn BlockDevice> {
        let key = key.then(|| DataKey::from_slice(&[0x5a; 64]));
        let path = self.path(&format!("{name}.vol"));
        Arc::new(FileDevice::create_scratch(&path, size, sector, key.as_ref()).unwrap())
    }

    fn mount(&self, devices: Vec<(&str, Arc<dyn BlockDevice>)>) -> Mount {
        self.mount_with(devices, MountOptions::default())
    }

    fn mount_with(&self, devices: Vec<(&str, Arc<dyn BlockDevice>)>, o: MountOptions) -> Mount {
        let devices = devices
            .into_iter()
            .map(|(n, d)| (n.to_owned(), d))
            .collect();
        Mount::spawn(&self.mnt(), devices, o).unwrap()
    }
}

/// SplitMix64: a small deterministic generator for data and operation sequences.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            c.copy_from_slice(&self.next().to_le_bytes()[..c.len()]);
        }
    }
}

fn is_mounted(dir: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let needle = format!(" {} ", dir.display());
    info.lines().any(|l| l.contains(&needle))
}

fn errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

fn rw(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap()
}

/// pread until `buf` is full or end of file; returns the bytes read.
fn pread_all(f: &File, mut off: u64, buf: &mut [u8]) -> usize {
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], off).unwrap() {
            0 => break,
            n => {
                done += n;
                off += n as u64;
            }
        }
    }
    done
}

fn punch(f: &File, off: u64, len: u64) -> nix::Result<()> {
    use nix::fcntl::{fallocate, FallocateFlags as F};
    fallocate(
        f,
        F::FALLOC_FL_PUNCH_HOLE | F::FALLOC_FL_KEEP_SIZE,
        off as i64,
        len as i64,
    )
}

fn sh(cmd: &str) -> std::process::Output {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

// ---------------------------------------------------------------------------------------------
// Data path

/// 256 MiB through `dd` in 1 MiB blocks reads back identical, the volume file holds only
/// ciphertext, and the kernel really sends 1 MiB requests (max_write / max_pages negotiated).
#[test]
fn dd_256_mib_round_trip_is_ciphertext_on_disk() {
    require_fuse!();
    let s = Scratch::new();
    let size = 256 * MIB;
    let dev = s.device("xvda", size, 4096, true);
    let m = s.mount(vec![("xvda", dev.clone())]);
    let file = m.dir().join("xvda");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), size);

    // Random data with a plaintext marker at the start of every MiB.
    let marker = b"BLOCKSEAL-PLAINTEXT-MARKER-0123456789";
    let src = s.path("src.bin");
    {
        let mut rng = Rng(1);
        let mut chunk = vec![0u8; MIB as usize];
        let f = File::create(&src).unwrap();
        for i in 0..size / MIB {
            rng.fill(&mut chunk);
            chunk[..marker.len()].copy_from_slice(marker);
            f.write_all_at(&chunk, i * MIB).unwrap();
        }
    }
    let (src_s, file_s) = (src.display(), file.display());
    sh(&format!(
        "dd if={src_s} of={file_s} bs=1M conv=fsync,notrunc status=none"
    ));
    sh(&format!("cmp {src_s} {file_s}"));
    sh(&format!("dd if={file_s} bs=1M status=none | cmp - {src_s}"));

    let st = m.stats();
    assert_eq!(
        st.largest_write, MIB,
        "1 MiB dd blocks should arrive as 1 MiB WRITEs: {st:?}"
    );
    assert_eq!(
        st.largest_read, MIB,
        "direct-io reads of 1 MiB should be 1 MiB READs: {st:?}"
    );
    assert!(st.max_pages && st.split > 0, "{st:?}");

    // The volume file holds no plaintext.
    let backing = File::open(s.path("xvda.vol")).unwrap();
    let mut chunk = vec![0u8; MIB as usize];
    for i in 0..size / MIB {
        backing.read_exact_at(&mut chunk, i * MIB).unwrap();
        assert!(
            !chunk.windows(marker.len()).any(|w| w == marker),
            "plaintext in MiB {i}"
        );
    }

    // dd without conv=notrunc opens with O_TRUNC, which a block file ignores, as /dev/sdX does.
    sh(&format!(
        "dd if={src_s} of={file_s} bs=1M count=1 status=none"
    ));
    assert_eq!(std::fs::metadata(&file).unwrap().len(), size);
    sh(&format!("cmp {src_s} {file_s}"));
    drop(m);
    assert!(!is_mounted(&s.mnt()));
}

/// What a single random operation does, with offsets biased to sector edges and the end.
fn random_io(rng: &mut Rng, size: u64, sector: u64) -> (u64, usize) {
    let len = match rng.below(4) {
        0 => rng.below(17),
        1 => rng.below(sector * 2 + 1),
        2 => rng.below(70_000),
        _ => sector * rng.below(9),
    } as usize;
    let off = match rng.below(5) {
        0 => rng.below(size / sector) * sector,
        1 => (rng.below(size / sector) * sector + rng.below(9)).saturating_sub(4),
        2 => size.saturating_sub(rng.below(3 * sector)),
        3 => size + rng.below(3) * 1000,
        _ => rng.below(size),
    };
    (off, len)
}

/// Applies one random operation to the file and to `model`, which holds bytes
/// `[lo, lo + model.len())` of a device of `dev_size` bytes, and checks they agree. Operations
/// stay inside the model's range, except that the last range's may run past the device's end,
/// where the mount must cut them short or refuse them.
fn model_step(rng: &mut Rng, f: &File, model: &mut [u8], lo: u64, dev_size: u64, sector: u64) {
    let hi = lo + model.len() as u64;
    let (rel, len) = random_io(rng, hi - lo, sector);
    let off = lo + rel;
    // What fits in the model's range, and what the device will take.
    let len = if hi < dev_size {
        hi.saturating_sub(off).min(len as u64) as usize
    } else {
        len
    };
    let n = dev_size.saturating_sub(off).min(len as u64) as usize;
    let at = (off.min(hi) - lo) as usize;
    match rng.below(10) {
        0..=4 => {
            let mut data = vec![0u8; len];
            rng.fill(&mut data);
            match f.write_at(&data, off) {
                Ok(done) => {
                    assert_eq!(done, n, "write of {len} at {off}");
                    model[at..at + n].copy_from_slice(&data[..n]);
                }
                Err(e) => {
                    assert!(n == 0 && len > 0, "write of {len} at {off}: {e}");
                    assert_eq!(errno(&e), libc::ENOSPC, "write past the end");
                }
            }
        }
        5..=8 => {
            let mut got = vec![0u8; len];
            assert_eq!(pread_all(f, off, &mut got), n, "read of {len} at {off}");
            assert!(
                got[..n] == model[at..at + n],
                "read of {len} at {off} differs"
            );
        }
        _ => {
            if n > 0 {
                punch(f, off, n as u64).unwrap();
                model[at..at + n].fill(0);
            }
        }
    }
}

/// Thousands of random preads, pwrites and hole punches of random offsets and lengths
/// (unaligned, straddling sectors and the end) agree with a `Vec<u8>`, through the mount and in
/// the device underneath.
#[test]
fn random_io_agrees_with_a_byte_model() {
    require_fuse!();
    let s = Scratch::new();
    let size = 8 * MIB + 3 * 512;
    let dev = s.device("sdf", size, 512, true);
    let m = s.mount(vec![("sdf", dev.clone())]);
    let f = rw(&m.dir().join("sdf"));
    let mut model = vec![0u8; size as usize];
    let mut rng = Rng(7);
    for _ in 0..4000 {
        model_step(&mut rng, &f, &mut model, 0, size, 512);
    }
    let mut all = vec![0u8; size as usize];
    assert_eq!(pread_all(&f, 0, &mut all), size as usize);
    assert!(all == model, "mount differs from the model");
    dev.read_at(0, &mut all).unwrap();
    assert!(all == model, "device differs from the model");
}

/// Four threads on disjoint ranges whose edges fall inside shared sectors: each thread's
/// read-modify-writes of the shared edge sectors must not lose the neighbour's bytes.
#[test]
fn concurrent_random_io_on_disjoint_ranges_agrees_with_the_model() {
    require_fuse!();
    let s = Scratch::new();
    let size = 8 * MIB;
    let dev = s.device("xvdb", size, 4096, true);
    let m = s.mount(vec![("xvdb", dev.clone())]);
    let path = m.dir().join("xvdb");
    // Range edges deliberately mid-sector.
    let edges = [0, 2 * MIB + 1001, 4 * MIB + 77, 6 * MIB - 2049, size];
    let parts: Vec<Vec<u8>> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let path = path.clone();
                let (lo, hi) = (edges[t], edges[t + 1]);
                sc.spawn(move || {
                    let f = rw(&path);
                    let mut model = vec![0u8; (hi - lo) as usize];
                    let mut rng = Rng(100 + t as u64);
                    for _ in 0..1500 {
                        model_step(&mut rng, &f, &mut model, lo, size, 4096);
                    }
                    model
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let model = parts.concat();
    let mut all = vec![0u8; size as usize];
    dev.read_at(0, &mut all).unwrap();
    assert!(all == model, "device differs from the merged model");
}

/// Writers racing over the same sector with unaligned writes that each cover it whole: the
/// sector always holds one writer's bytes, and a concurrent reader never sees a torn sector.
#[test]
fn overlapping_writers_never_tear_a_sector() {
    require_fuse!();
    let s = Scratch::new();
    let m = s.mount(vec![("xvdc", s.device("xvdc", MIB, 4096, true))]);
    let path = m.dir().join("xvdc");
    let stop = AtomicBool::new(false);
    std::thread::scope(|sc| {
        let writers: Vec<_> = (0..3u8)
            .map(|t| {
                let path = &path;
                sc.spawn(move || {
                    let f = rw(path);
                    for i in 0..400u64 {
                        let k = (i * 37 + t as u64 * 11) % 3000;
                        let data = vec![t + 1; 4096 + 2 * k as usize];
                        f.write_at(&data, 4096 - k).unwrap();
                    }
                })
            })
            .collect();
        let reader = sc.spawn(|| {
            let f = File::open(&path).unwrap();
            let mut buf = vec![0u8; 4096];
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                f.read_exact_at(&mut buf, 4096).unwrap();
                assert!(
                    buf.iter().all(|&b| b == buf[0]),
                    "torn sector seen by a reader"
                );
                reads += 1;
            }
            reads
        });
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    });
    let mut buf = vec![0u8; 4096];
    File::open(&path)
        .unwrap()
        .read_exact_at(&mut buf, 4096)
        .unwrap();
    assert!(buf.iter().all(|&b| b == buf[0]) && buf[0] != 0);
}

/// fio's own verifier: 2 jobs of 4 KiB O_DIRECT random writes with crc32c, verified after.
#[test]
fn fio_randwrite_verifies() {
    require_fuse!();
    if !require_program("fio") {
        return;
    }
    let s = Scratch::new();
    let m = s.mount(vec![("xvda", s.device("xvda", 128 * MIB, 4096, true))]);
    // Each job gets its own 64 MiB (offset_increment): two jobs verifying the same blocks
    // would see each other's writes as corruption.
    let out = sh(&format!(
        "fio --name=v --filename={} --rw=randwrite --bs=4k --size=64M --ioengine=psync \
         --direct=1 --numjobs=2 --offset_increment=64M --verify=crc32c --do_verify=1 \
         --verify_fatal=1 --verify_state_save=0 --output-format=terse",
        m.dir().join("xvda").display()
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("verify:"),
        "fio reported verify errors: {text}"
    );
    assert!(m.stats().writes >= 2 * 16384);
}

/// The end of the device, and the size, are fixed: writes past the end fail with ENOSPC (a
/// straddling one is cut short), reads there return 0 bytes, truncate is refused with EPERM.
#[test]
fn end_of_device_and_fixed_size() {
    require_fuse!();
    let s = Scratch::new();
    let size = MIB;
    let m = s.mount(vec![("xvda", s.device("xvda", size, 4096, true))]);
    let path = m.dir().join("xvda");
    let f = rw(&path);
    let e = f.write_at(b"x", size).unwrap_err();
    assert_eq!(errno(&e), libc::ENOSPC, "{e}");
    assert_eq!(
        errno(&f.write_at(b"x", size + 12345).unwrap_err()),
        libc::ENOSPC
    );
    assert_eq!(
        f.write_at(&[7u8; 100], size - 10).unwrap(),
        10,
        "straddling write is short"
    );
    let mut b = [0u8; 100];
    assert_eq!(f.read_at(&mut b, size).unwrap(), 0);
    assert_eq!(f.read_at(&mut b, size - 10).unwrap(), 10);
    assert_eq!(&b[..10], &[7u8; 10]);
    assert_eq!(f.write_at(&[], size + 5).unwrap(), 0);

    assert_eq!(errno(&f.set_len(0).unwrap_err()), libc::EPERM);
    assert_eq!(errno(&f.set_len(size + 1).unwrap_err()), libc::EPERM);
    f.set_len(size).unwrap();
    let grow = nix::fcntl::fallocate(&f, nix::fcntl::FallocateFlags::empty(), 0, size as i64 + 1);
    assert_eq!(grow, Err(nix::errno::Errno::ENOSPC));
    nix::fcntl::fallocate(&f, nix::fcntl::FallocateFlags::empty(), 0, size as i64).unwrap();

    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (meta.len(), meta.permissions().mode() & 0o777),
        (size, 0o600)
    );
    let perm = std::fs::Permissions::from_mode(0o644);
    assert_eq!(
        errno(&std::fs::set_permissions(&path, perm).unwrap_err()),
        libc::EPERM
    );
    assert_eq!(
        errno(&std::fs::remove_file(&path).unwrap_err()),
        libc::EPERM
    );
    assert_eq!(
        errno(&File::create(m.dir().join("new")).unwrap_err()),
        libc::EPERM
    );
    assert_eq!(
        std::fs::metadata(m.dir().join("nope")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let stat = nix::sys::statvfs::statvfs(m.dir()).unwrap();
    assert_eq!(stat.blocks() * stat.fragment_size(), size);
}

/// fsync and fdatasync succeed, and PUNCH_HOLE makes the range read as zeros and frees the
/// whole sectors inside it in the volume file.
#[test]
fn fsync_and_punch_hole() {
    require_fuse!();
    let s = Scratch::new();
    let size = 4 * MIB;
    let m = s.mount(vec![("xvda", s.device("xvda", size, 4096, true))]);
    let f = rw(&m.dir().join("xvda"));
    f.write_all_at(&vec![0xEE; size as usize], 0).unwrap();
    f.sync_all().unwrap();
    f.sync_data().unwrap();
    let backing = s.path("xvda.vol");
    let before = std::fs::metadata(&backing).unwrap().blocks();
    punch(&f, 1000, 2 * MIB).unwrap();
    f.sync_data().unwrap();
    let mut all = vec![0u8; size as usize];
    f.read_exact_at(&mut all, 0).unwrap();
    let hole = 1000..1000 + 2 * MIB as usize;
    assert!(
        all[hole.clone()].iter().all(|&b| b == 0),
        "punched range reads zeros"
    );
    assert!(all[..hole.start]
        .iter()
        .chain(&all[hole.end..])
        .all(|&b| b == 0xEE));
    let after = std::fs::metadata(&backing).unwrap().blocks();
    assert!(
        after + (2 * MIB - 8192) / 512 <= before,
        "sectors freed: {before} -> {after}"
    );
}

/// A read-only mount serves mode 0400 files that read but refuse writes.
#[test]
fn read_only_mount() {
    require_fuse!();
    let s = Scratch::new();
    let dev = s.device("xvda", MIB, 4096, false);
    dev.write_at(0, b"hello").unwrap();
    let o = MountOptions {
        read_only: true,
        ..MountOptions::default()
    };
    let m = s.mount_with(vec![("xvda", dev)], o);
    let path = m.dir().join("xvda");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o400
    );
    assert_eq!(&std::fs::read(&path).unwrap()[..5], b"hello");
    let e = OpenOptions::new().write(true).open(&path).unwrap_err();
    assert_eq!(errno(&e), libc::EROFS);
}

// ---------------------------------------------------------------------------------------------
// Live changes

/// Attach and detach make files appear and disappear; detaching an open file fails busy (and
/// leaves it in place) until it is closed; a detach flushes and hands back the device.
#[test]
fn attach_and_detach() {
    require_fuse!();
    let s = Scratch::new();
    let m = s.mount(vec![("xvda", s.device("xvda", MIB, 4096, true))]);
    let list = |m: &Mount| -> Vec<String> {
        let mut v: Vec<_> = std::fs::read_dir(m.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(list(&m), ["xvda"]);
    m.add_device("sdf", s.device("sdf", 2 * MIB, 512, false))
        .unwrap();
    assert_eq!(list(&m), ["sdf", "xvda"]);
    assert_eq!(m.devices(), ["sdf", "xvda"]);
    assert_eq!(
        std::fs::metadata(m.dir().join("sdf")).unwrap().len(),
        2 * MIB
    );
    let dup = m
        .add_device("sdf", s.device("sdf2", MIB, 512, false))
        .unwrap_err();
    assert_eq!(dup.code(), Code::INVALID_PARAMETER_VALUE);
    assert!(m
        .add_device("a/b", s.device("bad", MIB, 512, false))
        .is_err());

    // Busy while open; the file stays.
    let f = rw(&m.dir().join("sdf"));
    f.write_all_at(b"attached data", 4000).unwrap();
    let busy = m
        .remove_device("sdf", Duration::from_millis(200))
        .err()
        .expect("busy");
    assert_eq!(busy.code(), Code::RESOURCE_BUSY, "{busy}");
    assert_eq!(list(&m), ["sdf", "xvda"]);
    f.write_all_at(b"still usable", 0).unwrap();

    // Closing within the wait lets the detach finish.
    let closer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        drop(f);
    });
    let dev = m.remove_device("sdf", Duration::from_secs(10)).unwrap();
    closer.join().unwrap();
    assert_eq!(list(&m), ["xvda"]);
    let e = std::fs::metadata(m.dir().join("sdf")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let mut b = [0u8; 13];
    dev.read_at(4000, &mut b).unwrap();
    assert_eq!(&b, b"attached data");
    let unknown = m
        .remove_device("sdz", Duration::ZERO)
        .err()
        .expect("unknown");
    assert_eq!(unknown.code(), Code::INVALID_ATTACHMENT_NOT_FOUND);

    // The name can be attached again, to another device.
    m.add_device("sdf", s.device("sdf3", 3 * MIB, 4096, true))
        .unwrap();
    assert_eq!(
        std::fs::metadata(m.dir().join("sdf")).unwrap().len(),
        3 * MIB
    );
    let mut z = [1u8; 13];
    File::open(m.dir().join("sdf"))
        .unwrap()
        .read_exact_at(&mut z, 4000)
        .unwrap();
    assert_eq!(z, [0u8; 13], "a new device reads zeros");
}

/// A writer that stamps 4 KiB blocks one after another: block `i` holds `i` in every u64.
fn stamp(i: u64) -> Vec<u8> {
    i.to_le_bytes().repeat(512)
}

fn spawn_stamper(
    path: PathBuf,
    acked: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let f = rw(&path);
        let mut i = 0;
        while !stop.load(Ordering::SeqCst) && i < 2000 {
            f.write_all_at(&stamp(i), i * 4096).unwrap();
            i += 1;
            acked.store(i, Ordering::SeqCst);
            std::thread::sleep(Duration::from_micros(500));
        }
    })
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A freeze blocks a concurrent writer until the guard drops, and every write acknowledged
/// during the freeze is already in the device when `freeze` returns.
#[test]
fn freeze_blocks_writers_and_keeps_acknowledged_writes() {
    require_fuse!();
    let s = Scratch::new();
    let dev = s.device("xvda", 16 * MIB, 4096, true);
    let m = s.mount(vec![("xvda", dev.clone())]);
    let (acked, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let writer = spawn_stamper(m.dir().join("xvda"), acked.clone(), stop.clone());
    wait_until("the writer to start", || acked.load(Ordering::SeqCst) > 20);

    let guard = m.freeze().unwrap();
    let mut frozen = vec![0u8; 2000 * 4096];
    dev.read_at(0, &mut frozen).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let n = acked.load(Ordering::SeqCst);
    for i in 0..n {
        let at = (i * 4096) as usize;
        assert!(
            frozen[at..at + 4096] == stamp(i),
            "acknowledged write {i} missing at freeze"
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        acked.load(Ordering::SeqCst),
        n,
        "a write went through a frozen mount"
    );

    drop(guard);
    wait_until("writes to resume", || acked.load(Ordering::SeqCst) > n + 5);
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
}

/// The crash-consistent freeze does not wait for writes in flight but still holds new ones.
#[test]
fn freeze_no_wait_holds_new_writes() {
    require_fuse!();
    let s = Scratch::new();
    let m = s.mount(vec![("xvda", s.device("xvda", 16 * MIB, 4096, false))]);
    let (acked, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let writer = spawn_stamper(m.dir().join("xvda"), acked.clone(), stop.clone());
    wait_until("the writer to start", || acked.load(Ordering::SeqCst) > 20);
    let guard = m.freeze_no_wait().unwrap();
    let at_freeze = acked.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    // At most the one write already past the gate lands; nothing after it.
    let n = acked.load(Ordering::SeqCst);
    assert!(
        n <= at_freeze + 1,
        "writes went through a frozen mount: {at_freeze} -> {n}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        acked.load(Ordering::SeqCst),
        n,
        "a write went through a frozen mount"
    );
    guard.thaw();
    wait_until("writes to resume", || acked.load(Ordering::SeqCst) > n + 5);
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Mount and unmount

/// Dropping the mount unmounts it; with a file still open it detaches lazily without hanging,
/// and the open file keeps working until closed. A second mount on a live one is refused.
#[test]
fn drop_unmounts_even_when_busy() {
    require_fuse!();
    let s = Scratch::new();
    let m = s.mount(vec![("xvda", s.device("xvda", MIB, 4096, true))]);
    assert!(is_mounted(&s.mnt()));
    let again = Mount::spawn(&s.mnt(), vec![], MountOptions::default()).unwrap_err();
    assert_eq!(again.code(), Code::INVALID_PARAMETER_VALUE, "{again}");
    drop(m);
    assert!(!is_mounted(&s.mnt()));

    let m = s.mount(vec![("xvda", s.device("xvda2", MIB, 4096, true))]);
    let f = rw(&m.dir().join("xvda"));
    f.write_all_at(b"lazy", 0).unwrap();
    let t = Instant::now();
    assert_eq!(m.unmount().unwrap(), Unmounted::Lazy);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(!is_mounted(&s.mnt()), "detached from the tree at once");
    let mut b = [0u8; 4];
    f.read_exact_at(&mut b, 0).unwrap();
    assert_eq!(&b, b"lazy", "the open file is still served");
    drop(f);

    // Unmounted from outside: the mount notices.
    let m = s.mount(vec![("xvda", s.device("xvda3", MIB, 4096, false))]);
    sh(&format!(
        "fusermount3 -u {} || umount {}",
        s.mnt().display(),
        s.mnt().display()
    ));
    wait_until("the session to end", || !m.is_alive());
    assert_eq!(m.unmount().unwrap(), Unmounted::External);
}

/// Entry point of the helper process for the tests below (ignored when run directly):
/// `BLOCKSEAL_FUSE_CHILD=mode:dir:backing[:MiB]` serves an unencrypted volume (16 MiB unless
/// given) on `dir`, either forever (`serve`, to be killed) or until a signal (`foreground`).
#[test]
#[ignore = "helper process for the kill -9 and signal tests"]
fn child_server() {
    let Ok(spec) = std::env::var("BLOCKSEAL_FUSE_CHILD") else {
        return;
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (mode, dir, backing) = (parts[0], parts[1], parts[2]);
    let size = parts.get(3).map_or(16, |s| s.parse().unwrap()) * MIB;
    let dev: Arc<dyn BlockDevice> =
        Arc::new(FileDevice::create_scratch(Path::new(backing), size, 4096, None).unwrap());
    let devices = vec![("xvda".to_owned(), dev)];
    match mode {
        "serve" => {
            let _m = Mount::spawn(Path::new(dir), devices, MountOptions::default()).unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        _ => {
            let r = run_foreground(Path::new(dir), devices, MountOptions::default());
            println!("FOREGROUND-RESULT {r:?}");
            std::process::exit(if r.is_ok() { 0 } else { 1 });
        }
    }
}

fn spawn_child(mode: &str, s: &Scratch) -> std::process::Child {
    let spec = format!(
        "{mode}:{}:{}",
        s.mnt().display(),
        s.path("child.vol").display()
    );
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_server",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BLOCKSEAL_FUSE_CHILD", spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the child's mount", || s.mnt().join("xvda").exists());
    child
}

/// kill -9 of the server loses nothing fsync acknowledged, leaves a stale mount point
/// ("Transport endpoint is not connected"), and the next mount cleans it up and works.
#[test]
fn kill_9_then_mount_again() {
    require_fuse!();
    let s = Scratch::new();
    let mut child = spawn_child("serve", &s);
    let f = rw(&s.mnt().join("xvda"));
    f.write_all_at(b"durable before the crash", 8192).unwrap();
    f.sync_data().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    drop(f);

    // statfs always asks the (dead) server; stat may still be answered from the kernel cache.
    let e = nix::sys::statvfs::statvfs(&s.mnt()).unwrap_err();
    assert_eq!(
        e,
        nix::errno::Errno::ENOTCONN,
        "a stale mount point is left"
    );
    let mut b = [0u8; 24];
    File::open(s.path("child.vol"))
        .unwrap()
        .read_exact_at(&mut b, 8192)
        .unwrap();
    assert_eq!(&b, b"durable before the crash");

    let m = s.mount(vec![("xvda", s.device("xvda", MIB, 4096, true))]);
    assert_eq!(std::fs::metadata(m.dir().join("xvda")).unwrap().len(), MIB);
}

/// The foreground server stops on SIGTERM, flushing and unmounting.
#[test]
fn foreground_server_stops_on_sigterm() {
    require_fuse!();
    let s = Scratch::new();
    let child = spawn_child("foreground", &s);
    let f = rw(&s.mnt().join("xvda"));
    f.write_all_at(b"written before SIGTERM", 0).unwrap();
    drop(f);
    sh(&format!("kill -TERM {}", child.id()));
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("FOREGROUND-RESULT Ok(Clean)"), "{stdout}");
    assert!(!is_mounted(&s.mnt()));
    let mut b = [0u8; 22];
    File::open(s.path("child.vol"))
        .unwrap()
        .read_exact_at(&mut b, 0)
        .unwrap();
    assert_eq!(&b, b"written before SIGTERM");
}
