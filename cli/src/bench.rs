//! `blockseal bench xts|rekey|fuse|api`: throughput of the data paths on this machine, each in a
//! throw-away home or scratch file, as a table or (`--json`) one JSON object on stdout. One
//! progress line per measurement goes to stderr, with the load average, because a figure from a
//! shared machine means little without it.
//!
//! `xts` and `rekey` call `blockseal_engine::bench`, which does the measuring. `fuse` lives here
//! because it needs the FUSE crate and child processes: it serves a scratch volume file through
//! an in-process mount and runs `dd` and `fio` on it, parsing their output (the parsers are pure
//! and tested below). `api`, the HTTP endpoint under load, lives in `bench_api.rs`. No crypto
//! here: keys come from the engine.

use anyhow::{anyhow, bail, Context, Result};
use blockseal_engine::bench::{self as eb, RekeyBench, RekeyReport};
use blockseal_engine::xts::XtsCipher;
use blockseal_engine::{BlockDevice, FileDevice};
use blockseal_fuse::{Mount, MountOptions};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;

pub const ABOUT: &str = "\
Measure the data paths on this machine: the XTS transform on one core (`xts`), a re-keying and \
a same-key copy-image through the engine (`rekey`), dd and fio on a FUSE block file (`fuse`), \
and the AWS-compatible endpoint over loopback HTTP (`api`: DescribeImages and CreateVolume \
requests per second and latency, EBS direct block writes and reads in GB/s, beside moto's server \
when --moto or .venv/bin/moto_server is there). Each runs in a throw-away home or scratch file \
on /dev/shm (the temporary directory when there is no /dev/shm) and prints a table, or with \
--json one JSON object. GB/s is 10^9 bytes per second. Progress lines, with the load average, \
go to stderr.

Sizes take a unit: 256M, 1G, 64MiB, 1GiB (powers of 1024), 500MB, 1GB (powers of 1000), or \
plain bytes.";

pub const EXAMPLES: &str = "\
Examples:
  blockseal bench xts
  blockseal bench xts --json | jq .encrypt_gbps
  blockseal bench rekey --size 1G --threads 2 --json
  blockseal bench rekey --scaling --size 4G          # threads 1..N x sizes 256 MiB..4 GiB
  sudo blockseal bench fuse --size 1G --json         # needs root, /dev/fuse, dd and fio
  blockseal bench api --images 1000 --clients 8 --seconds 5 --json
  blockseal bench api --moto .venv/bin/moto_server    # the same EC2 loads against moto";

/// `blockseal bench` flags.
#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchCommand,
}

/// What to measure.
#[derive(Subcommand, Clone, Debug)]
pub enum BenchCommand {
    /// AES-XTS on one core: encrypt, decrypt and re-key, AES-128/256, 512 and 4096-byte sectors
    Xts(XtsArgs),
    /// Re-keying copy-image and same-key copy-image of a random image, end to end
    Rekey(RekeyArgs),
    /// dd and fio on a FUSE block file, encrypted and plain (needs root and /dev/fuse)
    Fuse(FuseArgs),
    /// The HTTP endpoint: DescribeImages and CreateVolume req/s, EBS direct block GB/s, vs moto
    Api(crate::bench_api::ApiArgs),
}

/// `blockseal bench xts` flags.
#[derive(Args, Clone, Debug)]
pub struct XtsArgs {
    /// Bytes per pass (whole 4 KiB sectors); the best of a few passes counts. The default,
    /// 1 MiB, stays in one core's L2 as `openssl speed`'s buffer stays in cache; 64M and up
    /// stream through memory and show its bandwidth instead of the cipher's
    #[arg(long, default_value = "1M", value_parser = parse_size)]
    pub size: u64,
    /// Print one JSON object instead of a table
    #[arg(long)]
    pub json: bool,
}

/// `blockseal bench rekey` flags.
#[derive(Args, Clone, Debug)]
pub struct RekeyArgs {
    /// Size of the image (all of it random data, so nothing is skipped)
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    pub size: u64,
    /// Also re-key a sparse image of this size (whole GiB) holding the --size bytes of data in
    /// 64 extents, the rest holes: its cost should follow the data, not the size
    #[arg(long, value_name = "SIZE", value_parser = parse_size, conflicts_with = "scaling")]
    pub sparse: Option<u64>,
    /// Worker threads [default: the number of cores]
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// Also measure every thread count 1..=THREADS, sizes 256 MiB doubling up to --size, and
    /// 4096 and 512-byte sectors
    #[arg(long)]
    pub scaling: bool,
    /// Where the throw-away home goes [default: /dev/shm, else the temporary directory]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print one JSON object instead of a table
    #[arg(long)]
    pub json: bool,
}

/// `blockseal bench fuse` flags.
#[derive(Args, Clone, Debug)]
pub struct FuseArgs {
    /// Size of the volume file and of each dd run (whole MiB)
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    pub size: u64,
    /// FUSE worker threads [default: the mount's default, 2]
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: Option<u16>,
    /// Seconds of each fio run
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=600))]
    pub runtime: u32,
    /// dd runs of each kind; the median counts (the first write also allocates the file's pages)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub reps: u32,
    /// Where the scratch files and the mount point go [default: /dev/shm, else the temporary
    /// directory]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print one JSON object instead of a table
    #[arg(long)]
    pub json: bool,
}

/// Runs `blockseal bench`; failures print one line and exit 255.
pub fn run(a: &BenchArgs) -> ExitCode {
    let result = match &a.what {
        BenchCommand::Xts(x) => xts(x),
        BenchCommand::Rekey(r) => rekey(r),
        BenchCommand::Fuse(f) => fuse(f),
        BenchCommand::Api(a) => crate::bench_api::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("blockseal bench: {e:#}");
            ExitCode::from(crate::EXIT_OTHER)
        }
    }
}

// ---- sizes --------------------------------------------------------------------------------------

/// A size with an optional unit: `K`/`M`/`G`/`T` and `KiB`/`MiB`/… are powers of 1024 (as in
/// dd and fio), `KB`/`MB`/… powers of 1000, `B` or nothing bytes; units in any case.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let bad = || format!("invalid size {s:?} (expecting e.g. 256M, 1G, 1GiB, 500MB or bytes)");
    let n: u64 = num.parse().map_err(|_| bad())?;
    let unit = unit.trim().to_ascii_lowercase();
    let (letter, rest) = match unit.chars().next() {
        Some(c @ ('k' | 'm' | 'g' | 't')) => (Some(c), &unit[1..]),
        _ => (None, unit.as_str()),
    };
    let power = match letter {
        None => 0,
        Some('k') => 1,
        Some('m') => 2,
        Some('g') => 3,
        Some(_) => 4,
    };
    let base: u64 = match (letter, rest) {
        (None, "" | "b") => 1,
        (Some(_), "" | "ib") => 1024,
        (Some(_), "b") => 1000,
        _ => return Err(bad()),
    };
    base.checked_pow(power)
        .and_then(|m| n.checked_mul(m))
        .filter(|&v| v > 0)
        .ok_or_else(bad)
}

/// `bytes` for people: `1.00 GiB`, `256 MiB`.
fn human(bytes: u64) -> String {
    const MIB: u64 = 1 << 20;
    if bytes >= 1 << 30 {
        format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
    } else if bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} B")
    }
}

// ---- output -------------------------------------------------------------------------------------

/// The 1, 5 and 15 minute load averages, as /proc/loadavg shows them.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// One progress line on stderr.
pub(crate) fn note(msg: &str) {
    eprintln!("bench: {msg} (load {})", load_average());
}

/// Writes `text` to stdout; a closed pipe is not an error.
pub(crate) fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("write stdout"),
        _ => Ok(()),
    }
}

pub(crate) fn emit_json(v: &impl Serialize) -> Result<()> {
    emit(&format!("{}\n", serde_json::to_string_pretty(v)?))
}

/// Columns right-aligned to their widest cell, the first left-aligned.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&width).enumerate() {
            if i == 0 {
                s.push_str(&format!("{c:<w$}"));
            } else {
                s.push_str(&format!("  {c:>w$}"));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn cipher_name(c: XtsCipher) -> &'static str {
    match c {
        XtsCipher::Aes128Xts => "aes-128-xts",
        _ => "aes-256-xts",
    }
}

// ---- xts ----------------------------------------------------------------------------------------

fn xts(a: &XtsArgs) -> Result<()> {
    let ciphers = [XtsCipher::Aes128Xts, XtsCipher::Aes256Xts];
    note(&format!("xts: {} per pass, one core", human(a.size)));
    let r = eb::xts(a.size, &[512, 4096], &ciphers)?;
    note(&format!(
        "xts: done, AES-256 4 KiB encrypt {:.2} GB/s ({})",
        r.encrypt_gbps.unwrap_or(0.0),
        r.implementation
    ));
    if a.json {
        return emit_json(&r);
    }
    let rows: Vec<Vec<String>> = r
        .sectors
        .iter()
        .map(|e| {
            vec![
                cipher_name(e.cipher).to_owned(),
                e.sector_size.to_string(),
                format!("{:.2}", e.encrypt_gbps),
                format!("{:.2}", e.decrypt_gbps),
                format!("{:.2}", e.rekey_gbps),
            ]
        })
        .collect();
    let head = format!(
        "XTS on one core ({}), {} per pass, best of several passes, GB/s\n",
        r.implementation,
        human(r.bytes)
    );
    let t = table(&["cipher", "sector", "encrypt", "decrypt", "rekey"], &rows);
    emit(&(head + &t))
}

// ---- rekey --------------------------------------------------------------------------------------

/// `bench rekey --json`: the measurement at --size and --threads, plus the scaling rows.
#[derive(Serialize)]
struct RekeyOut {
    #[serde(flatten)]
    main: RekeyReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    scaling: Option<Vec<RekeyReport>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sparse: Option<RekeyReport>,
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn measure(b: &mut RekeyBench, size: u64, sector: u32, threads: usize) -> Result<RekeyReport> {
    let r = b.measure(threads)?;
    note(&format!(
        "rekey: {}, {sector}-byte sectors, {threads} thread(s): \
         re-key {:.2} GB/s ({:.3} s), clone {:.2} GB/s",
        human(size),
        r.rekey_gbps,
        r.seconds,
        r.clone_gbps
    ));
    Ok(r)
}

fn prepare(dir: &Path, size: u64, sector: u32) -> Result<RekeyBench> {
    prepare_sparse(dir, size, size, sector)
}

fn prepare_sparse(dir: &Path, size: u64, volume: u64, sector: u32) -> Result<RekeyBench> {
    let spread = if volume > size {
        format!(", spread over a sparse {} image", human(volume))
    } else {
        String::new()
    };
    note(&format!(
        "rekey: importing {} of random data{spread} ({sector}-byte sectors) into a home in {}",
        human(size),
        dir.display()
    ));
    Ok(RekeyBench::prepare_sparse(dir, size, volume, sector)?)
}

fn rekey(a: &RekeyArgs) -> Result<()> {
    let dir = a.dir.clone().unwrap_or_else(eb::default_dir);
    let threads = a.threads.map_or_else(cores, usize::from);
    let (main, scaling) = if a.scaling {
        let mut rows = Vec::new();
        for sector in [4096, 512] {
            for size in eb::scaling_sizes(a.size) {
                let mut b = prepare(&dir, size, sector)?;
                for t in 1..=threads {
                    rows.push(measure(&mut b, size, sector, t)?);
                }
            }
        }
        let main = rows
            .iter()
            .find(|r| r.bytes == a.size && r.threads == threads && r.sector_size == 4096)
            .cloned()
            .ok_or_else(|| anyhow!("the scaling table lacks its last row"))?;
        (main, Some(rows))
    } else {
        let mut b = prepare(&dir, a.size, 4096)?;
        (measure(&mut b, a.size, 4096, threads)?, None)
    };
    let sparse = match a.sparse {
        Some(volume) => {
            let mut b = prepare_sparse(&dir, a.size, volume, 4096)?;
            Some(measure(&mut b, a.size, 4096, threads)?)
        }
        None => None,
    };
    if a.json {
        return emit_json(&RekeyOut {
            main,
            scaling,
            sparse,
        });
    }
    let mut rows: Vec<&RekeyReport> = scaling
        .as_ref()
        .map_or_else(|| vec![&main], |s| s.iter().collect());
    rows.extend(sparse.as_ref());
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                human(r.volume_bytes),
                human(r.bytes),
                r.sector_size.to_string(),
                r.threads.to_string(),
                format!("{:.2}", r.rekey_gbps),
                format!("{:.3}", r.seconds),
                format!("{:.2}", r.clone_gbps),
                format!("{:.3}", r.clone_seconds),
            ]
        })
        .collect();
    let head = format!(
        "copy-image in a throw-away home in {} ({}), end to end in-process; GB/s of data\n",
        dir.display(),
        main.implementation
    );
    let header = [
        "image", "data", "sector", "threads", "re-key", "seconds", "clone", "seconds",
    ];
    emit(&(head + &table(&header, &rows)))
}

// ---- fuse ---------------------------------------------------------------------------------------

/// dd and fio figures of one volume file.
#[derive(Clone, Debug, Serialize)]
struct FuseFigures {
    write_gbps: f64,
    read_gbps: f64,
    randread_iops: f64,
    randwrite_iops: f64,
}

/// `bench fuse --json`: the encrypted volume's figures at the top, the plain one's under
/// `plain`.
#[derive(Serialize)]
struct FuseOut {
    #[serde(flatten)]
    encrypted: FuseFigures,
    plain: FuseFigures,
    bytes: u64,
    fio_bytes: u64,
    threads: usize,
}

/// Bytes and seconds from dd's summary line (`N bytes (…) copied, S s, R GB/s`), run under
/// `LC_ALL=C` so the decimal separator is a dot.
fn parse_dd(stderr: &str) -> Result<(u64, f64)> {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains(" bytes") && l.contains("copied"))
        .ok_or_else(|| anyhow!("no summary line in dd's output: {stderr:?}"))?;
    let bytes = line
        .split_whitespace()
        .next()
        .and_then(|b| b.parse().ok())
        .ok_or_else(|| anyhow!("no byte count in {line:?}"))?;
    let secs = line
        .split_once("copied, ")
        .and_then(|(_, t)| t.split_whitespace().next())
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .ok_or_else(|| anyhow!("no time in {line:?}"))?;
    Ok((bytes, secs))
}

/// The IOPS of `side` (`read` or `write`) of the first job in fio's `--output-format=json`
/// output (fio may print notes before the JSON).
fn parse_fio(stdout: &str, side: &str) -> Result<f64> {
    let start = stdout
        .find('{')
        .ok_or_else(|| anyhow!("no JSON in fio's output: {stdout:?}"))?;
    let v: serde_json::Value =
        serde_json::from_str(&stdout[start..]).context("parse fio's JSON")?;
    v["jobs"][0][side]["iops"]
        .as_f64()
        .ok_or_else(|| anyhow!("no jobs[0].{side}.iops in fio's output"))
}

/// Runs `program` with `args`; its output, or an error with its stderr.
fn run_tool(program: &str, args: &[String]) -> Result<std::process::Output> {
    let out = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .with_context(|| format!("run {program} (is it installed?)"))?;
    if !out.status.success() {
        bail!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

fn dd(args: &[String]) -> Result<f64> {
    let out = run_tool("dd", args)?;
    let (bytes, secs) = parse_dd(&String::from_utf8_lossy(&out.stderr))?;
    Ok(bytes as f64 / secs / 1e9)
}

fn fio(file: &Path, rw: &str, fio_bytes: u64, runtime: u32) -> Result<f64> {
    let args: Vec<String> = [
        "--name=t".to_owned(),
        format!("--filename={}", file.display()),
        format!("--rw={rw}"),
        "--bs=4k".into(),
        format!("--size={}M", fio_bytes >> 20),
        "--ioengine=psync".into(),
        "--direct=1".into(),
        "--numjobs=1".into(),
        "--time_based".into(),
        format!("--runtime={runtime}"),
        "--output-format=json".into(),
    ]
    .into();
    let out = run_tool("fio", &args)?;
    let side = if rw.contains("read") { "read" } else { "write" };
    parse_fio(&String::from_utf8_lossy(&out.stdout), side)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Why `bench fuse` cannot run here, if it cannot.
fn fuse_blocker() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("bench fuse needs root (it mounts FUSE in-process)".into());
    }
    if !Path::new("/dev/fuse").exists() {
        return Some(
            "bench fuse needs /dev/fuse (modprobe fuse, or give the container --device /dev/fuse)"
                .into(),
        );
    }
    for tool in ["dd", "fio"] {
        if Command::new(tool).arg("--version").output().is_err() {
            return Some(format!(
                "bench fuse needs {tool} on PATH (apt-get install -y fio)"
            ));
        }
    }
    None
}

/// Serves a fresh scratch volume file (encrypted with a random AES-256-XTS key, or plain)
/// through a mount in this process and measures dd and fio on it.
fn fuse_one(a: &FuseArgs, work: &Path, encrypted: bool, fio_bytes: u64) -> Result<FuseFigures> {
    let label = if encrypted { "aes-256-xts" } else { "plain" };
    let mnt = work.join(format!("mnt-{label}"));
    std::fs::create_dir(&mnt).with_context(|| format!("create {}", mnt.display()))?;
    let backing = work.join(format!("vol-{label}.img"));
    let key = encrypted.then(|| eb::random_data_key(XtsCipher::Aes256Xts));
    let dev = FileDevice::create_scratch(&backing, a.size, 4096, key.as_ref())?;
    drop(key);
    let dev: Arc<dyn BlockDevice> = Arc::new(dev);
    let mut opts = MountOptions::default();
    if let Some(t) = a.threads {
        opts.threads = usize::from(t);
    }
    let mount = Mount::spawn(&mnt, vec![("vol".into(), dev)], opts)
        .with_context(|| format!("mount {}", mnt.display()))?;
    let vol = mount.dir().join("vol");
    let count = a.size >> 20;
    let of = format!("of={}", vol.display());
    let inf = format!("if={}", vol.display());
    let mut w = Vec::new();
    for i in 0..a.reps {
        note(&format!(
            "fuse {label}: dd write {} MiB, run {}",
            count,
            i + 1
        ));
        let args = [
            "if=/dev/zero".into(),
            of.clone(),
            "bs=1M".into(),
            format!("count={count}"),
            "conv=fsync,notrunc".into(),
        ];
        w.push(dd(&args)?);
    }
    let mut r = Vec::new();
    for i in 0..a.reps {
        note(&format!(
            "fuse {label}: dd read {} MiB, run {}",
            count,
            i + 1
        ));
        let args = [
            inf.clone(),
            "of=/dev/null".into(),
            "bs=1M".into(),
            format!("count={count}"),
        ];
        r.push(dd(&args)?);
    }
    note(&format!("fuse {label}: fio 4k randread, {} s", a.runtime));
    let randread_iops = fio(&vol, "randread", fio_bytes, a.runtime)?;
    note(&format!("fuse {label}: fio 4k randwrite, {} s", a.runtime));
    let randwrite_iops = fio(&vol, "randwrite", fio_bytes, a.runtime)?;
    mount
        .unmount()
        .with_context(|| format!("unmount {}", mnt.display()))?;
    let _ = std::fs::remove_file(&backing);
    let f = FuseFigures {
        write_gbps: median(w),
        read_gbps: median(r),
        randread_iops,
        randwrite_iops,
    };
    note(&format!(
        "fuse {label}: write {:.2} GB/s, read {:.2} GB/s, \
         randread {:.0} IOPS, randwrite {:.0} IOPS",
        f.write_gbps, f.read_gbps, f.randread_iops, f.randwrite_iops
    ));
    Ok(f)
}

fn fuse(a: &FuseArgs) -> Result<()> {
    if let Some(why) = fuse_blocker() {
        bail!("{why}");
    }
    if !a.size.is_multiple_of(1 << 20) {
        bail!(
            "--size must be whole MiB for dd bs=1M, not {} bytes",
            a.size
        );
    }
    let fio_bytes = a.size.min(256 << 20);
    let dir = a.dir.clone().unwrap_or_else(eb::default_dir);
    let work = tempfile::Builder::new()
        .prefix("blockseal-bench-fuse.")
        .tempdir_in(&dir)
        .with_context(|| format!("create a scratch directory in {}", dir.display()))?;
    let encrypted = fuse_one(a, work.path(), true, fio_bytes)?;
    let plain = fuse_one(a, work.path(), false, fio_bytes)?;
    let threads = a
        .threads
        .map_or(MountOptions::default().threads, usize::from);
    let out = FuseOut {
        encrypted,
        plain,
        bytes: a.size,
        fio_bytes,
        threads,
    };
    if a.json {
        return emit_json(&out);
    }
    let row = |name: &str, f: &FuseFigures| {
        vec![
            name.to_owned(),
            format!("{:.2}", f.write_gbps),
            format!("{:.2}", f.read_gbps),
            format!("{:.0}", f.randread_iops),
            format!("{:.0}", f.randwrite_iops),
        ]
    };
    let head = format!(
        "FUSE block file on {} ({} volume, {} FUSE threads, direct I/O: no page cache between \
         dd/fio and the server); dd bs=1M in GB/s, fio 4k psync O_DIRECT 1 job over {} in IOPS\n",
        dir.display(),
        human(a.size),
        threads,
        human(fio_bytes)
    );
    let rows = [row("aes-256-xts", &out.encrypted), row("plain", &out.plain)];
    let header = ["volume", "dd write", "dd read", "randread", "randwrite"];
    emit(&(head + &table(&header, &rows)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        let ok = [
            ("4096", 4096),
            ("512B", 512),
            ("256M", 256 << 20),
            ("256m", 256 << 20),
            ("64MiB", 64 << 20),
            ("1G", 1 << 30),
            ("1GiB", 1 << 30),
            ("1gib", 1 << 30),
            ("4G", 4 << 30),
            ("8K", 8192),
            ("2KiB", 2048),
            ("1T", 1 << 40),
            ("500MB", 500_000_000),
            ("1GB", 1_000_000_000),
            (" 1G ", 1 << 30),
        ];
        for (s, want) in ok {
            assert_eq!(parse_size(s), Ok(want), "{s}");
        }
        for bad in [
            "",
            "G",
            "0",
            "0M",
            "1.5G",
            "-1G",
            "1X",
            "1GiBs",
            "1 Gi",
            "99999999999T",
            "1e9",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn default_sizes_are_the_engine_s() {
        let defaults = |args: &[&str]| {
            let cli = crate::args::Cli::try_parse_from(args).unwrap();
            match cli.group {
                crate::args::Group::Bench(b) => b.what,
                _ => unreachable!(),
            }
        };
        match defaults(&["blockseal", "bench", "xts"]) {
            BenchCommand::Xts(x) => assert_eq!((x.size, x.json), (eb::DEFAULT_XTS_SIZE, false)),
            other => panic!("{other:?}"),
        }
        match defaults(&["blockseal", "bench", "rekey", "--scaling", "--json"]) {
            BenchCommand::Rekey(r) => {
                assert_eq!(r.size, eb::DEFAULT_REKEY_SIZE);
                assert!(r.scaling && r.json && r.threads.is_none());
            }
            other => panic!("{other:?}"),
        }
        match defaults(&[
            "blockseal",
            "bench",
            "fuse",
            "--size",
            "256M",
            "--threads",
            "1",
        ]) {
            BenchCommand::Fuse(f) => {
                assert_eq!((f.size, f.threads, f.runtime), (256 << 20, Some(1), 8))
            }
            other => panic!("{other:?}"),
        }
        assert!(
            crate::args::Cli::try_parse_from(["blockseal", "bench", "xts", "--size", "1Q"])
                .is_err()
        );
        assert!(crate::args::Cli::try_parse_from([
            "blockseal",
            "bench",
            "rekey",
            "--threads",
            "0"
        ])
        .is_err());
    }

    #[test]
    fn dd_summary_lines_parse() {
        let gnu = "1024+0 records in\n1024+0 records out\n\
                   1073741824 bytes (1.1 GB, 1.0 GiB) copied, 0.370046 s, 2.9 GB/s\n";
        assert_eq!(parse_dd(gnu).unwrap(), (1_073_741_824, 0.370046));
        let old =
            "1+0 records in\n1+0 records out\n1048576 bytes (1.0 MB) copied, 0.00123 s, 852 MB/s\n";
        assert_eq!(parse_dd(old).unwrap(), (1_048_576, 0.00123));
        let one = "256+0 records in\n256+0 records out\n\
                   268435456 bytes (268 MB, 256 MiB) copied, 1 s, 268 MB/s";
        assert_eq!(parse_dd(one).unwrap(), (268_435_456, 1.0));
        assert!(parse_dd("dd: failed to open 'x': No such file or directory\n").is_err());
        assert!(parse_dd("0 bytes copied, 0 s, 0 kB/s\n").is_err());
    }

    #[test]
    fn fio_json_parses_even_after_notes() {
        let json = r#"{"fio version":"fio-3.36","jobs":[{"jobname":"t",
            "read":{"io_bytes":0,"iops":57712.5},"write":{"iops":0.0}}]}"#;
        assert_eq!(parse_fio(json, "read").unwrap(), 57712.5);
        assert_eq!(parse_fio(json, "write").unwrap(), 0.0);
        let noted =
            format!("note: both iodepth >= 1 and synchronous I/O engine are selected\n{json}");
        assert_eq!(parse_fio(&noted, "read").unwrap(), 57712.5);
        assert!(parse_fio("fio: no jobs\n", "read").is_err());
        assert!(parse_fio(r#"{"jobs":[]}"#, "read").is_err());
    }

    #[test]
    fn tables_align_and_sizes_read_well() {
        let t = table(&["a", "bb"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "a    bb\nxyz   1\n");
        assert_eq!(human(256 << 20), "256 MiB");
        assert_eq!(human(1 << 30), "1.00 GiB");
        assert_eq!(human(1000), "1000 B");
    }
}
