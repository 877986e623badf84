//! CLI processes racing a mounted instance: a writer keeps writing generation-stamped 4 KiB
//! blocks through the mount while other processes snapshot the volume, image the instance,
//! describe everything, export snapshots, detach and attach a second volume, and at the end stop
//! the instance or unmount it under the writer.
//!
//! Failure story: a capture that is not one point in time (a block newer than a block beside
//! it, or half of one), an acknowledged write missing from the volume, a command that hangs
//! on a busy mount, an error no document names, or a tmp file or quarantined file left behind.
//! Nothing here asserts on time: every wait is bounded only so that a hang fails with what was
//! running, and which commands interleave how changes nothing that is checked.

use crate::support::{
    aws_error_code, first_nonzero_from, fuse_usable, leftovers, output_within, s, Home, GIB,
};
use serde_json::Value;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// The writer's blocks: the first 1 MiB of the root volume.
const BLOCKS: u64 = 256;
const BLOCK: u64 = 4096;
/// A command, or the writer after it is told to stop, that takes longer than this is hung.
const LIMIT: Duration = Duration::from_secs(120);
/// Rounds of concurrent commands.
const ROUNDS: usize = 10;
/// What the second volume holds, written once before the races.
const SECOND: &[u8] = b"the second volume, written before the races";

/// The content of block `b` written by generation `gen`: the generation and the block number,
/// then bytes that depend on both, so a block mixed from two writes shows.
fn pattern(gen: u64, b: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(BLOCK as usize);
    v.extend_from_slice(&gen.to_le_bytes());
    v.extend_from_slice(&b.to_le_bytes());
    let mut x = gen.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (b << 1) | 1;
    while v.len() < BLOCK as usize {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

/// The generation a block holds (0 for never written), or why it is no single write's.
fn generation(bytes: &[u8], b: u64) -> Result<u64, String> {
    if bytes.iter().all(|&x| x == 0) {
        return Ok(0);
    }
    let gen = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    if gen == 0 || bytes != pattern(gen, b).as_slice() {
        return Err(format!(
            "block {b} is torn or foreign (it starts with generation {gen})"
        ));
    }
    Ok(gen)
}

/// The writer thread: generation `g` writes block `history[g - 1]`; `acked` is the last
/// generation whose write returned.
struct Writer {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    done: mpsc::Receiver<Option<(u64, String)>>,
    thread: std::thread::JoinHandle<()>,
}

impl Writer {
    /// Starts writing to `file` after generation `first - 1`, blocks chosen from `seed`.
    fn start(file: PathBuf, history: Arc<Mutex<Vec<u64>>>, seed: u64) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(history.lock().unwrap().len() as u64));
        let (tx, done) = mpsc::channel();
        let thread = {
            let (stop, acked, history) = (stop.clone(), acked.clone(), history.clone());
            std::thread::spawn(move || {
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&file)
                    .unwrap();
                let mut x = seed | 1;
                let mut failed = None;
                while !stop.load(Ordering::SeqCst) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let b = x % BLOCKS;
                    // Into the history before the write starts: a capture may hold a write
                    // that has not returned yet.
                    let gen = {
                        let mut h = history.lock().unwrap();
                        h.push(b);
                        h.len() as u64
                    };
                    if let Err(e) = f.write_all_at(&pattern(gen, b), b * BLOCK) {
                        failed = Some((gen, e.to_string()));
                        break;
                    }
                    acked.store(gen, Ordering::SeqCst);
                }
                let _ = tx.send(failed);
            })
        };
        Writer {
            stop,
            acked,
            done,
            thread,
        }
    }

    fn acked(&self) -> u64 {
        self.acked.load(Ordering::SeqCst)
    }

    /// Waits (bounded) for the writer to end by itself, i.e. for a write to fail.
    fn failed(self) -> (u64, Option<(u64, String)>) {
        let end = self
            .done
            .recv_timeout(LIMIT)
            .expect("the writer hung after its mount went away");
        self.thread.join().unwrap();
        (self.acked.load(Ordering::SeqCst), end)
    }

    /// Stops the writer (bounded); returns the last acknowledged generation.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        let end = self
            .done
            .recv_timeout(LIMIT)
            .expect("the writer hung: a write through the mount never returned");
        assert!(end.is_none(), "a write through the mount failed: {end:?}");
        self.thread.join().unwrap();
        self.acked.load(Ordering::SeqCst)
    }
}

/// For every block, the generation it holds once generations `1..=upto` are written.
fn state_at(history: &[u64], upto: u64) -> Vec<u64> {
    let mut st = vec![0u64; BLOCKS as usize];
    for (i, &b) in history.iter().take(upto as usize).enumerate() {
        st[b as usize] = i as u64 + 1;
    }
    st
}

/// Checks that `blocks` (the generation of every block of a capture) is the volume as it was
/// after some generation C with `lo <= C <= hi`: each block holds the last write to it up to
/// C. Returns the range of such C.
fn point_in_time(what: &str, blocks: &[u64], history: &[u64], lo: u64, hi: u64) -> (u64, u64) {
    let (mut from, mut to) = (lo, hi);
    for (b, &g) in blocks.iter().enumerate() {
        let b = b as u64;
        if g > 0 {
            assert!(
                history.get(g as usize - 1) == Some(&b),
                "{what}: block {b} holds generation {g}, which wrote block {:?}",
                history.get(g as usize - 1)
            );
        }
        // The capture is after g and before the next write of this block.
        from = from.max(g);
        if let Some(next) = history
            .iter()
            .enumerate()
            .skip(g as usize)
            .find(|(_, &x)| x == b)
        {
            to = to.min(next.0 as u64);
        }
    }
    assert!(
        from <= to,
        "{what} is not one point in time between generations {lo} and {hi}: its blocks need a \
         moment after generation {from} and before generation {}",
        to + 1
    );
    (from, to)
}

/// Reads the generations of the writer's blocks from a plaintext file (an export or a block
/// file), checking each is whole.
fn generations_of(what: &str, path: &Path) -> Vec<u64> {
    let f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; (BLOCKS * BLOCK) as usize];
    f.read_exact_at(&mut buf, 0).unwrap();
    buf.chunks(BLOCK as usize)
        .enumerate()
        .map(|(b, c)| generation(c, b as u64).unwrap_or_else(|e| panic!("{what}: {e}")))
        .collect()
}

/// Runs a blockseal command (bounded): its JSON, or its AWS error code.
fn run(h: &Home, args: &[String]) -> Result<Value, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = output_within(h.command(&args), LIMIT).unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {
            let text = String::from_utf8_lossy(&out.stdout);
            // `mount` and `umount` say what they did in a sentence, not JSON.
            Ok(
                if text.trim().is_empty() || matches!(args[0], "mount" | "umount") {
                    Value::Null
                } else {
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
                },
            )
        }
        Some(254) => Err(aws_error_code(&stderr).unwrap_or_else(|| panic!("{args:?}: {stderr}"))),
        c => panic!("{args:?} exited {c:?}: {stderr}"),
    }
}

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// Exports `snap` to a scratch file and returns the file.
fn export(h: &Home, snap: &str) -> PathBuf {
    let out = h.scratch(&format!("{snap}.{}.raw", crate::support::rand_tag()));
    run(
        h,
        &argv(&[
            "ec2",
            "export-snapshot",
            "--snapshot-id",
            snap,
            "--file",
            out.to_str().unwrap(),
        ]),
    )
    .unwrap_or_else(|e| panic!("export of {snap}: {e}"));
    out
}

/// Checks an exported root-volume capture is one point in time within `[lo, hi]`, with nothing
/// past the writer's blocks.
fn check_capture(h: &Home, what: &str, snap: &str, history: &[u64], lo: u64, hi: u64) {
    let file = export(h, snap);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), GIB, "{what}");
    let gens = generations_of(what, &file);
    point_in_time(what, &gens, history, lo, hi);
    assert_eq!(
        first_nonzero_from(&file, BLOCKS * BLOCK),
        None,
        "{what}: data past the writer's blocks"
    );
    std::fs::remove_file(&file).unwrap();
}

/// A daemon mount that is unmounted (if still there) when dropped.
struct Mounted<'a> {
    h: &'a Home,
    dir: PathBuf,
}

impl<'a> Mounted<'a> {
    fn new(h: &'a Home, instance: &str) -> Mounted<'a> {
        let dir = h.scratch("mnt");
        std::fs::create_dir_all(&dir).unwrap();
        run(
            h,
            &argv(&[
                "mount",
                "--instance-id",
                instance,
                dir.to_str().unwrap(),
                "--daemon",
            ]),
        )
        .unwrap_or_else(|e| panic!("mount: {e}"));
        Mounted { h, dir }
    }

    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = self.h.run(&["umount", self.dir.to_str().unwrap()]);
        let _ = std::process::Command::new("fusermount3")
            .arg("-u")
            .arg("-z")
            .arg(&self.dir)
            .output();
    }
}

/// A command of a round: its kind, its arguments, its answer, and the writer's acknowledged
/// generation when it returned.
type Outcome<'a> = (&'a str, Vec<String>, Result<Value, String>, u64);

/// A capture taken during a round: which snapshot, and the writer's acknowledged generation
/// before the command started and after it returned.
struct Capture {
    what: String,
    snap: String,
    lo: u64,
    hi: u64,
}

#[test]
fn cli_processes_race_a_writer_on_a_mounted_instance() {
    if !fuse_usable() {
        return;
    }
    let h = Home::new();
    let (key, _) = h.create_key("race");
    let root = h.scratch("root.raw");
    std::fs::File::create(&root).unwrap().set_len(GIB).unwrap();
    let snap = s(&h.ok(&[
        "ec2",
        "import-snapshot",
        "--file",
        root.to_str().unwrap(),
        "--encrypted",
        "--kms-key-id",
        &key,
    ])["SnapshotTaskDetail"]["SnapshotId"]);
    std::fs::remove_file(&root).unwrap();
    let ami = h.register("race-base", "/dev/xvda", &snap, &[]);
    let inst = h.run_instance(&ami, &["--placement", "AvailabilityZone=us-east-1a"]);
    let root_vol = s(&h.volume_at(&inst, "/dev/xvda")["VolumeId"]);
    let second = s(&h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--size",
        "1",
        "--encrypted",
        "--kms-key-id",
        &key,
    ])["VolumeId"]);
    h.attach(&second, &inst, "/dev/sdf");
    let m = Mounted::new(&h, &inst);
    assert_eq!(m.names(), ["sdf", "xvda"]);
    {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(m.dir.join("sdf"))
            .unwrap();
        f.write_all_at(SECOND, 0).unwrap();
        f.sync_all().unwrap();
    }

    let history = Arc::new(Mutex::new(Vec::new()));
    let writer = Writer::start(m.dir.join("xvda"), history.clone(), 0x5eed);
    let mut captures: Vec<Capture> = Vec::new();
    let mut attached = true;
    let mut refused: Vec<String> = Vec::new();
    for round in 0..ROUNDS {
        // Each command of the round runs in its own process, all at once.
        let mut jobs: Vec<(&str, Vec<String>)> = vec![
            (
                "snapshot",
                argv(&["ec2", "create-snapshot", "--volume-id", &root_vol]),
            ),
            (
                "snapshot",
                argv(&["ec2", "create-snapshot", "--volume-id", &root_vol]),
            ),
            (
                "image",
                argv(&[
                    "ec2",
                    "create-image",
                    "--instance-id",
                    &inst,
                    "--name",
                    &format!("race-{round}"),
                ]),
            ),
            ("describe", argv(&["ec2", "describe-volumes"])),
            (
                "describe",
                argv(&["ec2", "describe-snapshots", "--owner-ids", "self"]),
            ),
            ("describe", argv(&["ec2", "describe-instances"])),
            (
                "describe",
                argv(&["ec2", "describe-images", "--owners", "self"]),
            ),
        ];
        jobs.push(if attached {
            (
                "detach",
                argv(&["ec2", "detach-volume", "--volume-id", &second]),
            )
        } else {
            (
                "attach",
                argv(&[
                    "ec2",
                    "attach-volume",
                    "--volume-id",
                    &second,
                    "--instance-id",
                    &inst,
                    "--device",
                    "/dev/sdf",
                ]),
            )
        });
        if let Some(c) = captures.last() {
            let out = h.scratch(&format!("race-export-{round}.raw"));
            jobs.push((
                "export",
                argv(&[
                    "ec2",
                    "export-snapshot",
                    "--snapshot-id",
                    &c.snap,
                    "--file",
                    out.to_str().unwrap(),
                ]),
            ));
        }
        let lo = writer.acked();
        let results: Vec<Outcome> = std::thread::scope(|sc| {
            let handles: Vec<_> = jobs
                .into_iter()
                .map(|(kind, args)| {
                    let (h, acked) = (&h, &writer.acked);
                    sc.spawn(move || {
                        let r = run(h, &args);
                        (kind, args, r, acked.load(Ordering::SeqCst))
                    })
                })
                .collect();
            handles.into_iter().map(|t| t.join().unwrap()).collect()
        });
        for (kind, args, r, hi) in results {
            match (kind, r) {
                ("snapshot", Ok(v)) => captures.push(Capture {
                    what: format!("round {round} snapshot {}", s(&v["SnapshotId"])),
                    snap: s(&v["SnapshotId"]),
                    lo,
                    hi: hi + 1,
                }),
                ("image", Ok(v)) => {
                    let image = s(&v["ImageId"]);
                    let img = h.image(&image);
                    assert_eq!(img["State"], "available", "{img}");
                    let maps = h.image_snapshots(&image);
                    // Whether the second volume was attached when the image was taken depends
                    // on the race; if it is there, it holds its bytes.
                    for (dev, sid) in maps {
                        match dev.as_str() {
                            "/dev/xvda" => captures.push(Capture {
                                what: format!("round {round} image {image} root {sid}"),
                                snap: sid,
                                lo,
                                hi: hi + 1,
                            }),
                            "/dev/sdf" => {
                                let f = export(&h, &sid);
                                let mut got = vec![0u8; SECOND.len()];
                                std::fs::File::open(&f)
                                    .unwrap()
                                    .read_exact_at(&mut got, 0)
                                    .unwrap();
                                assert_eq!(got, SECOND, "image {image} sdf");
                                assert_eq!(first_nonzero_from(&f, SECOND.len() as u64), None);
                                std::fs::remove_file(&f).unwrap();
                            }
                            other => panic!("image {image} maps {other}"),
                        }
                    }
                }
                ("describe", Ok(v)) => assert!(v.is_object(), "{args:?}: {v}"),
                ("detach", Ok(v)) => {
                    assert_eq!(v["State"], "detaching", "{v}");
                    attached = false;
                }
                ("attach", Ok(v)) => {
                    assert_eq!(v["State"], "attaching", "{v}");
                    attached = true;
                }
                ("export", Ok(_)) => {
                    let c = captures
                        .iter()
                        .find(|c| args.contains(&c.snap))
                        .expect("an export of a capture");
                    let file = PathBuf::from(args.last().unwrap());
                    let gens = generations_of(&c.what, &file);
                    point_in_time(&c.what, &gens, &history.lock().unwrap(), c.lo, c.hi);
                    std::fs::remove_file(&file).unwrap();
                }
                // A detach that meets the mount busy fails as AWS's busy detach does and
                // changes nothing; a capture meeting another one says IncorrectState.
                (_, Err(code)) if code == "IncorrectState" => {
                    refused.push(format!("{args:?}"));
                }
                (_, Err(code)) => panic!("round {round}: {args:?} failed with {code}"),
                (k, Ok(v)) => unreachable!("{k}: {v}"),
            }
        }
        let names = m.names();
        let want: &[&str] = if attached {
            &["sdf", "xvda"]
        } else {
            &["xvda"]
        };
        assert_eq!(names, want, "round {round}");
        assert_eq!(
            h.volume(&second)["State"],
            if attached { "in-use" } else { "available" }
        );
    }

    // The writer stops; the volume holds exactly what was acknowledged.
    let last = writer.stop();
    assert!(last > 0, "the writer wrote nothing");
    let history_now = history.lock().unwrap().clone();
    let through_mount = generations_of("the root volume", &m.dir.join("xvda"));
    assert_eq!(
        through_mount,
        state_at(&history_now, last),
        "the volume is not the writer's last acknowledged state"
    );
    for c in &captures {
        check_capture(&h, &c.what, &c.snap, &history_now, c.lo, c.hi);
    }

    // stop-instances while the writer keeps writing: the writer's writes fail once the mount
    // is gone, and everything acknowledged before is in the volume.
    let writer = Writer::start(m.dir.join("xvda"), history.clone(), 0xfeed);
    while writer.acked() <= last {
        std::thread::yield_now();
    }
    run(
        &h,
        &argv(&["ec2", "stop-instances", "--instance-ids", &inst]),
    )
    .unwrap_or_else(|e| panic!("stop-instances under a writer: {e}"));
    let (acked, failed) = writer.failed();
    assert!(failed.is_some(), "writes went on after the stop");
    assert_eq!(h.instance(&inst)["State"]["Name"], "stopped");
    assert!(m.names().is_empty(), "a stopped instance is still mounted");
    let history_now = history.lock().unwrap().clone();
    let after_stop = s(&h.ok(&["ec2", "create-snapshot", "--volume-id", &root_vol])["SnapshotId"]);
    check_capture(
        &h,
        "the root volume after the stop",
        &after_stop,
        &history_now,
        acked,
        acked + 1,
    );

    // umount under a writer, the same way.
    h.ok(&["ec2", "start-instances", "--instance-ids", &inst]);
    let m = Mounted::new(&h, &inst);
    let writer = Writer::start(m.dir.join("xvda"), history.clone(), 0xbeef);
    let floor = history.lock().unwrap().len() as u64;
    while writer.acked() <= floor {
        std::thread::yield_now();
    }
    run(&h, &argv(&["umount", m.dir.to_str().unwrap()]))
        .unwrap_or_else(|e| panic!("umount under a writer: {e}"));
    let (acked, failed) = writer.failed();
    assert!(failed.is_some(), "writes went on after the umount");
    assert!(m.names().is_empty(), "still mounted after umount");
    let history_now = history.lock().unwrap().clone();
    let after_umount =
        s(&h.ok(&["ec2", "create-snapshot", "--volume-id", &root_vol])["SnapshotId"]);
    check_capture(
        &h,
        "the root volume after umount",
        &after_umount,
        &history_now,
        acked,
        acked + 1,
    );
    drop(m);

    // The home is clean: nothing in tmp/ or quarantine/, no mount left registered, and every
    // data file belongs to a snapshot or volume the catalog lists.
    assert_eq!(leftovers(h.path()), Vec::<PathBuf>::new());
    let mounts: Vec<PathBuf> = std::fs::read_dir(h.path().join("mounts"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert_eq!(mounts, Vec::<PathBuf>::new(), "mount records left");
    let mut listed: Vec<String> = h.ok(&["ec2", "describe-snapshots", "--owner-ids", "self"])
        ["Snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| s(&x["SnapshotId"]))
        .chain(
            h.ok(&["ec2", "describe-volumes"])["Volumes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| s(&x["VolumeId"])),
        )
        .collect();
    listed.sort();
    let mut files: Vec<String> = std::fs::read_dir(h.path().join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, listed, "data files and catalog rows differ");
    println!(
        "{} generations written, {} captures checked, refused with IncorrectState: {refused:?}",
        history_now.len(),
        captures.len() + 2
    );
}

/// Found by the soak: DetachVolume told the mount to drop the block file before it checked the
/// request, so a refused detach (the root of a running instance, the wrong instance or device)
/// failed with the right code and yet took the file away from the mount.
#[test]
fn a_refused_detach_leaves_the_block_file_in_the_mount() {
    if !fuse_usable() {
        return;
    }
    let h = Home::new();
    let snap = h.import(b"the root volume", &[]);
    let ami = h.register("refused-detach", "/dev/xvda", &snap, &[]);
    let placement = ["--placement", "AvailabilityZone=us-east-1a"];
    let inst = h.run_instance(&ami, &placement);
    let other = h.run_instance(&ami, &placement);
    let root = s(&h.volume_at(&inst, "/dev/xvda")["VolumeId"]);
    let data = s(&h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--size",
        "1",
    ])["VolumeId"]);
    h.attach(&data, &inst, "/dev/sdf");
    let m = Mounted::new(&h, &inst);
    assert_eq!(
        h.err(&["ec2", "detach-volume", "--volume-id", &root]),
        "IncorrectState"
    );
    assert_eq!(
        h.err(&[
            "ec2",
            "detach-volume",
            "--volume-id",
            &data,
            "--instance-id",
            &other
        ]),
        "InvalidAttachment.NotFound"
    );
    assert_eq!(
        h.err(&[
            "ec2",
            "detach-volume",
            "--volume-id",
            &data,
            "--device",
            "/dev/sdg"
        ]),
        "InvalidAttachment.NotFound"
    );
    assert_eq!(m.names(), ["sdf", "xvda"]);
    let mut got = vec![0u8; 15];
    std::fs::File::open(m.dir.join("xvda"))
        .unwrap()
        .read_exact_at(&mut got, 0)
        .unwrap();
    assert_eq!(got, b"the root volume");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.dir.join("sdf"))
        .unwrap();
    f.write_all_at(b"still served", 4096).unwrap();
    let mut got = vec![0u8; 12];
    f.read_exact_at(&mut got, 4096).unwrap();
    assert_eq!(got, b"still served");
    drop(f);
    h.ok(&["ec2", "detach-volume", "--volume-id", &data]);
    assert_eq!(m.names(), ["xvda"]);
}
