//! FUSE block-file throughput, measured the way `shared/bench/peers.py` measures gocryptfs, so
//! the figures sit side by side: a 1 GiB volume file on /dev/shm (encrypted AES-256-XTS and
//! unencrypted) served by a mount in this process; `dd bs=1M` writes (`conv=fsync,notrunc`) and
//! reads of 1 GiB, and `fio` 4 KiB O_DIRECT random reads and writes (1 job, psync, 8 s).
//!
//! Not a criterion bench: the work happens in `dd` and `fio`, so this prints medians as a
//! Markdown table, then runs `peers.py --only gocryptfs --reps 1` when it can find it.
//!
//! ```text
//! cargo bench -p blockseal-fuse --bench fuse
//! BLOCKSEAL_FUSE_BENCH_REPS=3 BLOCKSEAL_FUSE_BENCH_CONFIGS=crypt,crypt-nosplit,plain ...
//! BLOCKSEAL_PEERS=/path/to/peers.py BLOCKSEAL_FUSE_BENCH_FIO_SECS=0 (dd only) ...
//! ```
//! Needs root (or fusermount3), /dev/fuse, dd and fio. Every figure is cold in the sense that
//! no page cache sits between dd/fio and the server (direct I/O); the volume file itself is in
//! memory (tmpfs).

use blockseal_engine::{BlockDevice, DataKey, FileDevice, MemDevice};
use blockseal_fuse::{Mount, MountOptions};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

const SIZE_MIB: u64 = 1024;

fn sh(cmd: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "`{cmd}` failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn timed(cmd: &str) -> f64 {
    let t = Instant::now();
    sh(cmd);
    t.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `fio` with the workload peers.py gives it (terse output instead of JSON); returns IOPS.
fn fio(path: &Path, rw: &str, secs: u32) -> f64 {
    let out = sh(&format!(
        "fio --name=t --filename={} --rw={rw} --bs=4k --size={SIZE_MIB}M --ioengine=psync \
         --direct=1 --numjobs=1 --group_reporting --time_based --runtime={secs} \
         --output-format=terse --terse-version=3",
        path.display()
    ));
    // Terse v3: field 8 is read IOPS, field 49 write IOPS (1-based, ';'-separated).
    let f: Vec<&str> = out.trim().lines().last().unwrap().split(';').collect();
    let field = if rw.contains("read") { 7 } else { 48 };
    f[field].parse().unwrap()
}

#[derive(Clone, Copy, PartialEq)]
enum Backing {
    /// A volume file on /dev/shm, AES-256-XTS.
    Crypt,
    /// A volume file on /dev/shm, no cipher.
    Plain,
    /// `MemDevice`: no file and no cipher, so what is left is the FUSE transport.
    Mem,
}

struct Config {
    name: &'static str,
    backing: Backing,
    opts: MountOptions,
}

fn configs() -> Vec<Config> {
    let base = MountOptions::default();
    let nosplit = MountOptions {
        split_min: 0,
        ..base.clone()
    };
    let all = vec![
        Config {
            name: "crypt",
            backing: Backing::Crypt,
            opts: base.clone(),
        },
        Config {
            name: "crypt-nosplit",
            backing: Backing::Crypt,
            opts: nosplit.clone(),
        },
        Config {
            name: "crypt-clonefd",
            backing: Backing::Crypt,
            opts: MountOptions {
                clone_fd: true,
                ..base.clone()
            },
        },
        Config {
            name: "crypt-t1",
            backing: Backing::Crypt,
            opts: MountOptions {
                threads: 1,
                ..base.clone()
            },
        },
        Config {
            name: "plain",
            backing: Backing::Plain,
            opts: base.clone(),
        },
        Config {
            name: "plain-nosplit",
            backing: Backing::Plain,
            opts: nosplit.clone(),
        },
        Config {
            name: "mem",
            backing: Backing::Mem,
            opts: nosplit,
        },
    ];
    let want = std::env::var("BLOCKSEAL_FUSE_BENCH_CONFIGS")
        .unwrap_or_else(|_| "crypt,crypt-nosplit,plain,plain-nosplit,mem".into());
    let want: Vec<&str> = want.split(',').collect();
    all.into_iter().filter(|c| want.contains(&c.name)).collect()
}

fn run(c: &Config, work: &Path, reps: usize, rows: &mut Vec<(String, f64, &'static str)>) {
    let mnt = work.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let key = (c.backing == Backing::Crypt).then(|| DataKey::from_slice(&[0x42; 64]));
    let vol = work.join("vol");
    let dev: Arc<dyn BlockDevice> = match c.backing {
        Backing::Mem => Arc::new(MemDevice::new((SIZE_MIB << 20) as usize)),
        _ => {
            Arc::new(FileDevice::create_scratch(&vol, SIZE_MIB << 20, 4096, key.as_ref()).unwrap())
        }
    };
    if c.backing != Backing::Mem {
        device_rows(c.name, &*dev, rows);
    }
    let m = Mount::spawn(&mnt, vec![("xvda".into(), dev)], c.opts.clone()).unwrap();
    let file = m.dir().join("xvda");
    let f = file.display();
    let gb = (SIZE_MIB << 20) as f64 / 1e9;
    let cpu0 = process_cpu();
    let w: Vec<f64> = (0..reps)
        .map(|_| {
            timed(&format!(
                "dd if=/dev/zero of={f} bs=1M count={SIZE_MIB} conv=fsync,notrunc status=none"
            ))
        })
        .collect();
    let cpu_w = (process_cpu() - cpu0) / (gb * reps as f64 / 1.073_741_824);
    let cpu1 = process_cpu();
    let r: Vec<f64> = (0..reps)
        .map(|_| {
            timed(&format!(
                "dd if={f} of=/dev/null bs=1M count={SIZE_MIB} status=none"
            ))
        })
        .collect();
    let cpu_r = (process_cpu() - cpu1) / (gb * reps as f64 / 1.073_741_824);
    let name = c.name;
    rows.push((
        format!("{name}: server CPU per GiB written (dd)"),
        cpu_w,
        "s",
    ));
    rows.push((format!("{name}: server CPU per GiB read (dd)"), cpu_r, "s"));
    rows.push((
        format!("{name}: dd write {SIZE_MIB} MiB bs=1M (first run)"),
        gb / w[0],
        "GB/s",
    ));
    rows.push((
        format!("{name}: dd write {SIZE_MIB} MiB bs=1M"),
        gb / median(w),
        "GB/s",
    ));
    rows.push((
        format!("{name}: dd read {SIZE_MIB} MiB bs=1M"),
        gb / median(r),
        "GB/s",
    ));
    // BLOCKSEAL_FUSE_BENCH_FIO_SECS=0 skips fio (quick dd-only comparisons).
    let secs = std::env::var("BLOCKSEAL_FUSE_BENCH_FIO_SECS")
        .ok()
        .and_then(|s| s.parse().ok());
    let secs = secs.unwrap_or(8);
    if secs > 0 {
        let rr = fio(&file, "randread", secs);
        rows.push((
            format!("{name}: fio 4k O_DIRECT randread 1 job"),
            rr,
            "IOPS",
        ));
        let rw = fio(&file, "randwrite", secs);
        rows.push((
            format!("{name}: fio 4k O_DIRECT randwrite 1 job"),
            rw,
            "IOPS",
        ));
    }
    let st = m.stats();
    eprintln!("{name}: {st:?}");
    m.unmount().unwrap();
    let _ = std::fs::remove_file(&vol);
}

/// The device alone, one thread, 1 MiB calls over the whole volume: what FUSE adds is the
/// difference to the dd rows.
fn device_rows(name: &str, dev: &dyn BlockDevice, rows: &mut Vec<(String, f64, &'static str)>) {
    let mut buf = vec![0u8; 1 << 20];
    let gb = dev.len() as f64 / 1e9;
    // Rated by this thread's CPU time, which other load on the machine barely changes.
    let pass = |write: bool, buf: &mut Vec<u8>| {
        let t = thread_cpu();
        for off in (0..dev.len()).step_by(buf.len()) {
            if write {
                dev.write_at(off, buf).unwrap();
            } else {
                dev.read_at(off, buf).unwrap();
            }
        }
        gb / (thread_cpu() - t)
    };
    let _first_touch = pass(true, &mut buf);
    // The cipher alone, for scale.
    let xts = blockseal_engine::xts::Xts::new(&DataKey::from_slice(&[0x42; 64]));
    let t = thread_cpu();
    for i in 0..1024u64 {
        xts.encrypt_sectors(i * 256, 4096, &mut buf);
    }
    let xts_rate = (1024u64 << 20) as f64 / 1e9 / (thread_cpu() - t);
    rows.push((
        format!("{name}: XTS encrypt in place, per CPU-second"),
        xts_rate,
        "GB/s",
    ));
    rows.push((
        format!("{name}: device write_at 1 MiB, no FUSE, per CPU-second"),
        pass(true, &mut buf),
        "GB/s",
    ));
    rows.push((
        format!("{name}: device read_at 1 MiB, no FUSE, per CPU-second"),
        pass(false, &mut buf),
        "GB/s",
    ));
}

/// CPU seconds used by this process so far, all threads (the FUSE server; dd and fio are
/// other processes).
fn process_cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the ")" of the command name: utime and stime are the 12th and 13th.
    let f: Vec<&str> = s.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Seconds this thread has run on a CPU (/proc/thread-self/schedstat, nanoseconds).
fn thread_cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    s.split(' ').next().unwrap().parse::<f64>().unwrap() / 1e9
}

fn main() {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n");
    if !Path::new("/dev/fuse").exists() || !matches!(root, Ok(true)) {
        eprintln!("fuse bench skipped: needs root and /dev/fuse");
        return;
    }
    let reps = std::env::var("BLOCKSEAL_FUSE_BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok());
    let reps = reps.unwrap_or(3).max(1);
    let work = tempfile::Builder::new()
        .prefix("bsfuse-bench.")
        .tempdir_in("/dev/shm")
        .unwrap();
    let mut rows = Vec::new();
    for c in configs() {
        run(&c, work.path(), reps, &mut rows);
    }
    println!("| blockseal-fuse ({reps} reps, medians) | value | unit |\n|---|---|---|");
    for (name, v, unit) in &rows {
        println!("| {name} | {v:.2} | {unit} |");
    }

    // shared/ sits beside the repository (CI) or above the worktrees.
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let peers = match std::env::var("BLOCKSEAL_PEERS") {
        Ok(p) => Some(Path::new(&p).to_owned()),
        Err(_) => [
            "../../shared/bench/peers.py",
            "../../../shared/bench/peers.py",
        ]
        .iter()
        .map(|p| here.join(p))
        .find(|p| p.exists()),
    };
    let peers = peers
        .filter(|p| p.exists())
        .map(|p| p.display().to_string());
    let gocryptfs = Command::new("gocryptfs").arg("-version").output().is_ok();
    if let (Some(peers), true) = (peers, gocryptfs) {
        println!("\n| peer: {peers} --only gocryptfs --reps 1 | value | unit |\n|---|---|---|");
        print!(
            "{}",
            sh(&format!("python3 {peers} --only gocryptfs --reps 1"))
        );
    } else {
        eprintln!("peer run skipped: set BLOCKSEAL_PEERS to peers.py and install gocryptfs");
    }
}
