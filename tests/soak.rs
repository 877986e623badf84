//! A bounded soak: a seeded random sequence of CLI commands and I/O through FUSE mounts, each
//! checked against a model held in plain structs (keys and their state, snapshots, volumes,
//! images, instances, mounts, and the bytes each volume and snapshot must hold).
//!
//! Failure story: a combination of operations no hand-written test thought of (a re-key of a
//! copy of a snapshot taken of a mounted volume after a detach …) loses or changes bytes, leaks
//! a resource, or answers with the wrong state, key or error code. After every operation the
//! CLI's answer is compared with the model; every few dozen operations, and at the end, every
//! snapshot is exported and every volume read back, byte for byte.
//!
//! The seed is printed at the start and on failure, with the log of operations;
//! `BLOCKSEAL_SOAK_SEED` replays one, `BLOCKSEAL_SOAK_OPS` changes the number of operations
//! (default 250), and the run also stops adding operations after `BLOCKSEAL_SOAK_SECS`
//! (default 120) seconds, whichever comes first. The outcome never depends on timing: a slow
//! machine runs fewer operations, each checked the same way.

use crate::support::{aws_error_code, first_nonzero_from, fuse_usable, leftovers, Home, GIB};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Data lives in the first 4 MiB of every volume; past it everything must stay zero.
const WINDOW: u64 = 4 << 20;
const PAGE: u64 = 4096;
const AZ: &str = "us-east-1a";
/// No single command may take longer than this (a hang fails the soak with the op log).
const COMMAND_LIMIT: Duration = Duration::from_secs(180);
/// Every this many operations, everything is read back and compared.
const CHECK_EVERY: usize = 40;

/// splitmix64: small, seedable, and the same on every platform.
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

    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 8);
        while v.len() < len {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(len);
        v
    }
}

/// Expected content: the pages ever written, over zeros.
#[derive(Clone, Default)]
struct Data(BTreeMap<u64, Vec<u8>>);

impl Data {
    fn write(&mut self, off: u64, bytes: &[u8]) {
        let mut pos = 0usize;
        while pos < bytes.len() {
            let at = off + pos as u64;
            let page = at / PAGE;
            let in_page = (at % PAGE) as usize;
            let n = (PAGE as usize - in_page).min(bytes.len() - pos);
            let p = self
                .0
                .entry(page)
                .or_insert_with(|| vec![0u8; PAGE as usize]);
            p[in_page..in_page + n].copy_from_slice(&bytes[pos..pos + n]);
            pos += n;
        }
    }

    fn read(&self, off: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        let first = off / PAGE;
        let last = (off + len as u64).div_ceil(PAGE);
        for (&page, p) in self.0.range(first..last) {
            let pstart = page * PAGE;
            let from = pstart.max(off);
            let to = (pstart + PAGE).min(off + len as u64);
            out[(from - off) as usize..(to - off) as usize]
                .copy_from_slice(&p[(from - pstart) as usize..(to - pstart) as usize]);
        }
        out
    }
}

struct Key {
    id: String,
    arn: String,
    enabled: bool,
}

struct Snap {
    id: String,
    /// `None` for a copy that failed (`error`): it has no data.
    data: Option<Data>,
    key: Option<usize>,
    gib: u64,
}

struct Vol {
    id: String,
    key: Option<usize>,
    gib: u64,
    data: Data,
    /// (instance, device, delete on termination)
    att: Option<(String, String, bool)>,
}

struct Image {
    id: String,
    available: bool,
    /// (device, snapshot, delete on termination); the first is the root.
    maps: Vec<(String, String, bool)>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum IState {
    Running,
    Stopped,
    Terminated,
}

struct Inst {
    id: String,
    state: IState,
    mount: Option<PathBuf>,
}

#[derive(Default)]
struct Model {
    keys: Vec<Key>,
    snaps: Vec<Snap>,
    vols: Vec<Vol>,
    images: Vec<Image>,
    insts: Vec<Inst>,
}

impl Model {
    fn snap(&self, id: &str) -> &Snap {
        self.snaps.iter().find(|s| s.id == id).unwrap()
    }

    fn key_ok(&self, k: Option<usize>) -> bool {
        k.is_none_or(|k| self.keys[k].enabled)
    }

    fn arn(&self, k: Option<usize>) -> Value {
        k.map_or(Value::Null, |k| Value::String(self.keys[k].arn.clone()))
    }

    /// The volumes attached to `inst`, by device.
    fn attached(&self, inst: &str) -> Vec<(String, String)> {
        self.vols
            .iter()
            .filter_map(|v| {
                v.att
                    .as_ref()
                    .filter(|a| a.0 == inst)
                    .map(|a| (a.1.clone(), v.id.clone()))
            })
            .collect()
    }

    fn snap_in_use(&self, id: &str) -> bool {
        self.images
            .iter()
            .any(|i| i.maps.iter().any(|(_, s, _)| s == id))
    }

    fn mounted(&self) -> Vec<(String, PathBuf)> {
        self.insts
            .iter()
            .filter_map(|i| i.mount.clone().map(|m| (i.id.clone(), m)))
            .collect()
    }
}

/// What the CLI answered: its JSON, or the AWS error code.
type Answer = Result<Value, String>;

struct Soak<'a> {
    h: &'a Home,
    seed: u64,
    rng: Rng,
    m: Model,
    log: Vec<String>,
    ops: usize,
    names: usize,
    fuse: bool,
    exports: usize,
    volume_reads: usize,
    /// What the last command printed on stderr, for the failure message.
    last_stderr: String,
}

impl Drop for Soak<'_> {
    /// On failure, the seed and every operation so far; always, the mounts go before the home.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "soak failed: seed {} (BLOCKSEAL_SOAK_SEED={} replays it) after {} operations; \
                 the log:",
                self.seed, self.seed, self.ops
            );
            for l in &self.log {
                eprintln!("  {l}");
            }
            // The mount daemons' logs end the report: a daemon cannot print anywhere else.
            if let Ok(logs) = std::fs::read_dir(self.h.path().join("logs")) {
                for l in logs.flatten() {
                    let text = std::fs::read_to_string(l.path()).unwrap_or_default();
                    let lines: Vec<&str> = text.lines().collect();
                    eprintln!("{}:", l.path().display());
                    for line in &lines[lines.len().saturating_sub(20)..] {
                        eprintln!("  {line}");
                    }
                }
            }
        }
        for (_, dir) in self.m.mounted() {
            let _ = self.h.run(&["umount", dir.to_str().unwrap()]);
            let _ = std::process::Command::new("fusermount3")
                .arg("-u")
                .arg("-z")
                .arg(&dir)
                .output();
        }
    }
}

impl Soak<'_> {
    fn fail(&self, msg: String) -> ! {
        panic!(
            "soak seed {} (BLOCKSEAL_SOAK_SEED={}), operation {}: {msg}",
            self.seed, self.seed, self.ops
        )
    }

    fn ensure(&self, cond: bool, msg: impl FnOnce() -> String) {
        if !cond {
            self.fail(msg())
        }
    }

    /// Runs a command (bounded in time); exit 0 gives its JSON, exit 254 its AWS error code;
    /// anything else fails the soak.
    fn cli(&mut self, args: &[&str]) -> Answer {
        let out = match crate::support::output_within(self.h.command(args), COMMAND_LIMIT) {
            Ok(o) => o,
            Err(e) => self.fail(e),
        };
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let answer = match out.status.code() {
            Some(0) => {
                let s = String::from_utf8_lossy(&out.stdout);
                // `mount` and `umount` say what they did in a sentence, not JSON.
                if s.trim().is_empty() || matches!(args[0], "mount" | "umount") {
                    Ok(Value::Null)
                } else {
                    Ok(serde_json::from_str(&s)
                        .unwrap_or_else(|e| self.fail(format!("{args:?}: not JSON ({e}): {s}"))))
                }
            }
            Some(254) => Err(aws_error_code(&stderr)
                .unwrap_or_else(|| self.fail(format!("{args:?}: no AWS error line: {stderr}")))),
            c => self.fail(format!("{args:?} exited {c:?}: {stderr}")),
        };
        let shown = match &answer {
            Ok(_) => "ok".to_owned(),
            Err(code) => format!("error {code}"),
        };
        self.last_stderr = stderr;
        self.log.push(format!("    {} -> {shown}", args.join(" ")));
        answer
    }

    fn ok(&mut self, args: &[&str]) -> Value {
        match self.cli(args) {
            Ok(v) => v,
            Err(code) => self.fail(format!(
                "{args:?} failed with {code}, the model says it works: {}",
                self.last_stderr.trim()
            )),
        }
    }

    fn err(&mut self, args: &[&str], want: &str) {
        match self.cli(args) {
            Ok(v) => self.fail(format!("{args:?} succeeded ({v}), the model says {want}")),
            Err(code) => self.ensure(code == want, || {
                format!("{args:?} failed with {code}, the model says {want}")
            }),
        }
    }

    fn name(&mut self, what: &str) -> String {
        self.names += 1;
        format!("soak-{what}-{}", self.names)
    }

    fn pick_key(&mut self) -> Option<usize> {
        if self.m.keys.is_empty() {
            None
        } else {
            Some(self.rng.index(self.m.keys.len()))
        }
    }

    fn completed_snaps(&self) -> Vec<usize> {
        (0..self.m.snaps.len())
            .filter(|&i| self.m.snaps[i].data.is_some())
            .collect()
    }

    fn insts_in(&self, states: &[IState]) -> Vec<usize> {
        (0..self.m.insts.len())
            .filter(|&i| states.contains(&self.m.insts[i].state))
            .collect()
    }

    // ----- checks against the model -----

    fn check_snapshot(&mut self, i: usize) {
        let id = self.m.snaps[i].id.clone();
        let v = self.ok(&["ec2", "describe-snapshots", "--snapshot-ids", &id]);
        let d = &v["Snapshots"][0];
        let s = &self.m.snaps[i];
        let want_state = if s.data.is_some() {
            "completed"
        } else {
            "error"
        };
        self.ensure(d["State"] == want_state, || {
            format!("{id}: state {}, model {want_state}", d["State"])
        });
        if s.data.is_some() {
            let (enc, arn, gib) = (s.key.is_some(), self.m.arn(s.key), s.gib);
            self.ensure(
                d["Encrypted"] == enc
                    && d.get("KmsKeyId").cloned().unwrap_or(Value::Null) == arn
                    && d["VolumeSize"] == gib,
                || format!("{id}: {d}, model encrypted {enc}, key {arn}, {gib} GiB"),
            );
        }
    }

    fn check_volume(&mut self, i: usize) {
        let id = self.m.vols[i].id.clone();
        let v = self.ok(&["ec2", "describe-volumes", "--volume-ids", &id]);
        let d = v["Volumes"][0].clone();
        let vol = &self.m.vols[i];
        let state = if vol.att.is_some() {
            "in-use"
        } else {
            "available"
        };
        let arn = self.m.arn(vol.key);
        let ok = d["State"] == state
            && d["Encrypted"] == vol.key.is_some()
            && d.get("KmsKeyId").cloned().unwrap_or(Value::Null) == arn
            && d["Size"] == vol.gib
            && match &vol.att {
                None => d["Attachments"].as_array().is_none_or(|a| a.is_empty()),
                Some((inst, dev, dot)) => {
                    d["Attachments"][0]["InstanceId"] == inst.as_str()
                        && d["Attachments"][0]["Device"] == dev.as_str()
                        && d["Attachments"][0]["DeleteOnTermination"] == *dot
                }
            };
        self.ensure(ok, || {
            format!(
                "{id}: {d}, model {state}, key {arn}, {} GiB, attachment {:?}",
                vol.gib, vol.att
            )
        });
    }

    fn check_instance(&mut self, i: usize) {
        let id = self.m.insts[i].id.clone();
        let v = self.ok(&["ec2", "describe-instances", "--instance-ids", &id]);
        let d = v["Reservations"][0]["Instances"][0].clone();
        let want = match self.m.insts[i].state {
            IState::Running => "running",
            IState::Stopped => "stopped",
            IState::Terminated => "terminated",
        };
        self.ensure(d["State"]["Name"] == want, || {
            format!("{id}: {}, model {want}", d["State"])
        });
        let mut got: Vec<(String, String)> = d["BlockDeviceMappings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| {
                        (
                            crate::support::s(&m["DeviceName"]),
                            crate::support::s(&m["Ebs"]["VolumeId"]),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        got.sort();
        let mut want = self.m.attached(&id);
        want.sort();
        self.ensure(got == want, || format!("{id} maps {got:?}, model {want:?}"));
    }

    /// Compares a plaintext file (an export) with the model: size, the data window, zeros past it.
    fn compare_file(&self, what: &str, path: &std::path::Path, data: &Data, gib: u64) {
        let f = std::fs::File::open(path).unwrap();
        let len = f.metadata().unwrap().len();
        self.ensure(len == gib * GIB, || {
            format!("{what}: export is {len} bytes, model {gib} GiB")
        });
        let mut got = vec![0u8; WINDOW as usize];
        f.read_exact_at(&mut got, 0).unwrap();
        self.compare_window(what, &got, data);
        if let Some(off) = first_nonzero_from(path, WINDOW) {
            self.fail(format!(
                "{what}: byte {off} is not zero, the model wrote nothing past {WINDOW}"
            ));
        }
    }

    fn compare_window(&self, what: &str, got: &[u8], data: &Data) {
        let want = data.read(0, got.len());
        if got != want.as_slice() {
            let first = got.iter().zip(&want).position(|(a, b)| a != b).unwrap();
            self.fail(format!(
                "{what}: bytes differ from the model, first at offset {first} \
                 (got {:#04x}, model {:#04x})",
                got[first], want[first]
            ));
        }
    }

    /// Exports snapshot `i` and compares it with the model.
    fn verify_snapshot_bytes(&mut self, i: usize) {
        let id = self.m.snaps[i].id.clone();
        let out = self.h.scratch(&format!("{id}.raw"));
        self.ok(&[
            "ec2",
            "export-snapshot",
            "--snapshot-id",
            &id,
            "--file",
            out.to_str().unwrap(),
        ]);
        let s = &self.m.snaps[i];
        self.compare_file(&id, &out, s.data.as_ref().unwrap(), s.gib);
        std::fs::remove_file(&out).unwrap();
        self.exports += 1;
    }

    /// Reads volume `i` back: through its mount when it has one, else by a snapshot, an export
    /// and a delete of that snapshot.
    fn verify_volume_bytes(&mut self, i: usize) {
        let vol = &self.m.vols[i];
        let id = vol.id.clone();
        let mounted = vol.att.as_ref().and_then(|(inst, dev, _)| {
            let i = self.m.insts.iter().find(|x| &x.id == inst).unwrap();
            i.mount
                .as_ref()
                .map(|d| d.join(dev.trim_start_matches("/dev/")))
        });
        if let Some(file) = mounted {
            let f = std::fs::File::open(&file).unwrap();
            let len = f.metadata().unwrap().len();
            self.ensure(len == vol.gib * GIB, || {
                format!("{id}: {} is {len} bytes", file.display())
            });
            let mut got = vec![0u8; WINDOW as usize];
            f.read_exact_at(&mut got, 0).unwrap();
            self.compare_window(&format!("{id} through the mount"), &got, &vol.data);
        } else if self.m.key_ok(vol.key) {
            let (data, gib) = (vol.data.clone(), vol.gib);
            let snap = crate::support::s(
                &self.ok(&["ec2", "create-snapshot", "--volume-id", &id])["SnapshotId"],
            );
            let out = self.h.scratch(&format!("{id}.raw"));
            self.ok(&[
                "ec2",
                "export-snapshot",
                "--snapshot-id",
                &snap,
                "--file",
                out.to_str().unwrap(),
            ]);
            self.compare_file(&format!("{id} (by {snap})"), &out, &data, gib);
            std::fs::remove_file(&out).unwrap();
            self.ok(&["ec2", "delete-snapshot", "--snapshot-id", &snap]);
        } else {
            return;
        }
        self.volume_reads += 1;
    }

    /// Everything the CLI lists equals the model, and every byte reads back.
    fn full_check(&mut self) {
        self.log
            .push(format!("-- full check after {} operations", self.ops));
        let listed = |v: &Value, list: &str, id: &str| -> Vec<String> {
            let mut ids: Vec<String> = v[list]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| crate::support::s(&x[id]))
                .collect();
            ids.sort();
            ids
        };
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let v = self.ok(&["ec2", "describe-snapshots", "--owner-ids", "self"]);
        let (got, want) = (
            listed(&v, "Snapshots", "SnapshotId"),
            sorted(self.m.snaps.iter().map(|s| s.id.clone()).collect()),
        );
        self.ensure(got == want, || format!("snapshots {got:?}, model {want:?}"));
        let v = self.ok(&["ec2", "describe-volumes"]);
        let (got, want) = (
            listed(&v, "Volumes", "VolumeId"),
            sorted(self.m.vols.iter().map(|s| s.id.clone()).collect()),
        );
        self.ensure(got == want, || format!("volumes {got:?}, model {want:?}"));
        let v = self.ok(&["ec2", "describe-images", "--owners", "self"]);
        let (got, want) = (
            listed(&v, "Images", "ImageId"),
            sorted(self.m.images.iter().map(|s| s.id.clone()).collect()),
        );
        self.ensure(got == want, || format!("images {got:?}, model {want:?}"));
        for i in 0..self.m.images.len() {
            let img = &self.m.images[i];
            let d = v["Images"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["ImageId"] == img.id.as_str())
                .unwrap();
            let want = if img.available { "available" } else { "failed" };
            self.ensure(d["State"] == want, || {
                format!("{}: {}, model {want}", img.id, d["State"])
            });
        }
        for i in 0..self.m.keys.len() {
            let k = &self.m.keys[i];
            let id = k.id.clone();
            let want = if k.enabled { "Enabled" } else { "Disabled" };
            let v = self.ok(&["kms", "describe-key", "--key-id", &id]);
            self.ensure(v["KeyMetadata"]["KeyState"] == want, || {
                format!("key {id}: {}, model {want}", v["KeyMetadata"]["KeyState"])
            });
        }
        for i in 0..self.m.insts.len() {
            self.check_instance(i);
        }
        for i in 0..self.m.vols.len() {
            self.check_volume(i);
        }
        for i in 0..self.m.snaps.len() {
            self.check_snapshot(i);
            if self.m.snaps[i].data.is_some() && self.m.key_ok(self.m.snaps[i].key) {
                self.verify_snapshot_bytes(i);
            }
        }
        for i in 0..self.m.vols.len() {
            self.verify_volume_bytes(i);
        }
        let left = leftovers(self.h.path());
        self.ensure(left.is_empty(), || {
            format!("files left in tmp/ or quarantine/: {left:?}")
        });
    }

    // ----- operations -----

    /// Runs one random operation; `false` when the one drawn had nothing to work on.
    fn step(&mut self) -> bool {
        let roll = self.rng.below(100);
        match roll {
            0..=2 => self.create_key(),
            3..=4 => self.toggle_key(),
            5..=10 => self.import(),
            11..=15 => self.copy_snapshot(),
            16..=19 => self.register_image(),
            20..=21 => self.deregister_image(),
            22..=24 => self.copy_image(),
            25..=29 => self.run_instance(),
            30..=31 => self.stop_instance(),
            32..=34 => self.start_instance(),
            35..=36 => self.terminate_instance(),
            37..=41 => self.create_volume(),
            42..=46 => self.attach(),
            47..=49 => self.detach(),
            50..=51 => self.delete_volume(),
            52..=56 => self.create_snapshot(),
            57..=59 => self.create_image(),
            60..=62 => self.delete_snapshot(),
            63..=65 => self.export(),
            66..=68 => self.mount(),
            69 => self.umount(),
            // I/O through a mount, or the mount it needs.
            70..=87 => self.write_through_mount() || self.mount(),
            _ => self.read_through_mount() || self.mount(),
        }
    }

    fn create_key(&mut self) -> bool {
        if self.m.keys.len() >= 4 {
            return false;
        }
        self.log.push("create-key".into());
        let v = self.ok(&["kms", "create-key", "--description", "soak"]);
        let md = &v["KeyMetadata"];
        self.ensure(md["KeyState"] == "Enabled", || format!("new key: {md}"));
        self.m.keys.push(Key {
            id: crate::support::s(&md["KeyId"]),
            arn: crate::support::s(&md["Arn"]),
            enabled: true,
        });
        true
    }

    fn toggle_key(&mut self) -> bool {
        let Some(k) = self.pick_key() else {
            return false;
        };
        // At most one key is disabled at a time, so most resources stay usable.
        if self.m.keys[k].enabled && self.m.keys.iter().any(|k| !k.enabled) {
            return false;
        }
        let id = self.m.keys[k].id.clone();
        let verb = if self.m.keys[k].enabled {
            "disable-key"
        } else {
            "enable-key"
        };
        self.log.push(format!("{verb} {id}"));
        self.ok(&["kms", verb, "--key-id", &id]);
        self.m.keys[k].enabled = !self.m.keys[k].enabled;
        true
    }

    /// Random content up to 3 MiB, with runs of zeros.
    fn content(&mut self) -> Vec<u8> {
        let len = 1 + self.rng.below(3 << 20) as usize;
        let mut v = vec![0u8; len];
        let mut pos = 0;
        while pos < len {
            let n = (1 + self.rng.below(128 << 10) as usize).min(len - pos);
            if !self.rng.chance(30) {
                let b = self.rng.bytes(n);
                v[pos..pos + n].copy_from_slice(&b);
            }
            pos += n;
        }
        v
    }

    fn import(&mut self) -> bool {
        let bytes = self.content();
        let key = if self.rng.chance(60) {
            self.pick_key()
        } else {
            None
        };
        let file = self.h.scratch("import.raw");
        std::fs::write(&file, &bytes).unwrap();
        let mut args = vec![
            "ec2".to_owned(),
            "import-snapshot".into(),
            "--file".into(),
            file.to_str().unwrap().into(),
        ];
        if let Some(k) = key {
            args.extend(["--encrypted".into(), "--kms-key-id".into()]);
            args.push(self.m.keys[k].id.clone());
        }
        self.log
            .push(format!("import {} bytes, key {key:?}", bytes.len()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if !self.m.key_ok(key) {
            self.err(&args, "DisabledException");
            return true;
        }
        let v = self.ok(&args);
        let t = &v["SnapshotTaskDetail"];
        self.ensure(t["Status"] == "completed", || format!("import: {t}"));
        let mut data = Data::default();
        data.write(0, &bytes);
        self.m.snaps.push(Snap {
            id: crate::support::s(&t["SnapshotId"]),
            data: Some(data),
            key,
            gib: 1,
        });
        self.check_snapshot(self.m.snaps.len() - 1);
        std::fs::remove_file(&file).unwrap();
        true
    }

    fn copy_snapshot(&mut self) -> bool {
        if self.m.snaps.is_empty() {
            return false;
        }
        let i = self.rng.index(self.m.snaps.len());
        let src = self.m.snaps[i].id.clone();
        let mut args = vec![
            "ec2",
            "copy-snapshot",
            "--source-snapshot-id",
            &src,
            "--source-region",
            "us-east-1",
        ];
        let target = if self.rng.chance(50) {
            self.pick_key()
        } else {
            None
        };
        let kid = target.map(|k| self.m.keys[k].id.clone());
        if let Some(k) = &kid {
            if self.rng.chance(10) {
                // A key without --encrypted: refused whatever the source.
                args.extend(["--kms-key-id", k]);
                self.log
                    .push(format!("copy-snapshot {src} key without --encrypted"));
                self.err(&args, "InvalidParameterDependency");
                return true;
            }
            args.extend(["--encrypted", "--kms-key-id", k]);
        }
        self.log.push(format!("copy-snapshot {src} to {target:?}"));
        let s = &self.m.snaps[i];
        let Some(data) = s.data.clone() else {
            self.err(&args, "IncorrectState");
            return true;
        };
        let key = target.or(s.key);
        let works = self.m.key_ok(s.key) && self.m.key_ok(target);
        let gib = s.gib;
        let v = self.ok(&args);
        let id = crate::support::s(&v["SnapshotId"]);
        self.m.snaps.push(Snap {
            id: id.clone(),
            data: works.then_some(data),
            key,
            gib,
        });
        self.check_snapshot(self.m.snaps.len() - 1);
        // AWS's default description names the source.
        let d = self.ok(&["ec2", "describe-snapshots", "--snapshot-ids", &id]);
        let want = format!("[Copied {src} from us-east-1] ");
        let described = d["Snapshots"][0]["Description"].as_str();
        self.ensure(described.is_some_and(|d| d.starts_with(&want)), || {
            format!(
                "{id}: description {}, want {want:?}",
                d["Snapshots"][0]["Description"]
            )
        });
        true
    }

    fn register_image(&mut self) -> bool {
        let c = self.completed_snaps();
        if c.is_empty() || self.m.images.len() >= 8 {
            return false;
        }
        let root = self.m.snaps[c[self.rng.index(c.len())]].id.clone();
        let mut maps = vec![("/dev/xvda".to_owned(), root.clone(), true)];
        let mut bdm = vec![json!({"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root}})];
        if self.rng.chance(40) {
            let extra = self.m.snaps[c[self.rng.index(c.len())]].id.clone();
            bdm.push(json!({"DeviceName": "/dev/sdb",
                "Ebs": {"SnapshotId": extra, "DeleteOnTermination": false}}));
            maps.push(("/dev/sdb".to_owned(), extra, false));
        }
        let name = self.name("image");
        self.log.push(format!("register-image {name} {maps:?}"));
        let bdm = serde_json::to_string(&bdm).unwrap();
        let v = self.ok(&[
            "ec2",
            "register-image",
            "--name",
            &name,
            "--root-device-name",
            "/dev/xvda",
            "--block-device-mappings",
            &bdm,
        ]);
        self.m.images.push(Image {
            id: crate::support::s(&v["ImageId"]),
            available: true,
            maps,
        });
        true
    }

    fn deregister_image(&mut self) -> bool {
        if self.m.images.is_empty() {
            return false;
        }
        let i = self.rng.index(self.m.images.len());
        let id = self.m.images[i].id.clone();
        let delete = self.m.images[i].available && self.rng.chance(40);
        self.log
            .push(format!("deregister-image {id} delete snapshots {delete}"));
        let mut args = vec!["ec2", "deregister-image", "--image-id", &id];
        if delete {
            args.push("--delete-associated-snapshots");
        }
        let v = self.ok(&args);
        self.ensure(v["Return"] == true, || format!("deregister {id}: {v}"));
        let img = self.m.images.remove(i);
        if delete {
            for (_, s, _) in &img.maps {
                if !self.m.snap_in_use(s) {
                    self.m.snaps.retain(|x| &x.id != s);
                }
            }
        }
        self.err(
            &["ec2", "deregister-image", "--image-id", &id],
            "InvalidAMIID.Unavailable",
        );
        true
    }

    fn copy_image(&mut self) -> bool {
        let avail: Vec<usize> = (0..self.m.images.len())
            .filter(|&i| self.m.images[i].available)
            .collect();
        if avail.is_empty() || self.m.images.len() >= 8 {
            return false;
        }
        let i = avail[self.rng.index(avail.len())];
        let src = self.m.images[i].id.clone();
        let target = if self.rng.chance(50) {
            self.pick_key()
        } else {
            None
        };
        let kid = target.map(|k| self.m.keys[k].id.clone());
        let name = self.name("copy");
        let mut args = vec![
            "ec2",
            "copy-image",
            "--source-image-id",
            &src,
            "--source-region",
            "us-east-1",
            "--name",
            &name,
        ];
        if let Some(k) = &kid {
            args.extend(["--encrypted", "--kms-key-id", k]);
        }
        self.log.push(format!("copy-image {src} to {target:?}"));
        let maps = self.m.images[i].maps.clone();
        let works = self.m.key_ok(target)
            && maps
                .iter()
                .all(|(_, s, _)| self.m.key_ok(self.m.snap(s).key));
        let v = self.ok(&args);
        let id = crate::support::s(&v["ImageId"]);
        let d = self.ok(&["ec2", "describe-images", "--image-ids", &id])["Images"][0].clone();
        let want = if works { "available" } else { "failed" };
        self.ensure(d["State"] == want, || format!("{id}: {d}, model {want}"));
        let mut new_maps = Vec::new();
        for (dev, s, dot) in &maps {
            let m = d["BlockDeviceMappings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["DeviceName"] == dev.as_str())
                .unwrap_or_else(|| self.fail(format!("{id} lost {dev}: {d}")));
            let sid = crate::support::s(&m["Ebs"]["SnapshotId"]);
            self.ensure(&sid != s && m["Ebs"]["DeleteOnTermination"] == *dot, || {
                format!("{id} {dev}: {m}, model a copy of {s}, delete on termination {dot}")
            });
            let src = self.m.snap(s);
            let snap = Snap {
                id: sid.clone(),
                data: if works { src.data.clone() } else { None },
                key: target.or(src.key),
                gib: src.gib,
            };
            // Mappings that share a snapshot share its copy.
            if !self.m.snaps.iter().any(|x| x.id == sid) {
                self.m.snaps.push(snap);
                self.check_snapshot(self.m.snaps.len() - 1);
            }
            new_maps.push((dev.clone(), sid, *dot));
        }
        self.m.images.push(Image {
            id,
            available: works,
            maps: new_maps,
        });
        true
    }

    fn run_instance(&mut self) -> bool {
        if self.m.images.is_empty() || self.insts_in(&[IState::Running, IState::Stopped]).len() >= 4
        {
            return false;
        }
        let i = self.rng.index(self.m.images.len());
        let img = self.m.images[i].id.clone();
        let mut args = vec![
            "ec2",
            "run-instances",
            "--image-id",
            &img,
            "--count",
            "1",
            "--placement",
            "AvailabilityZone=us-east-1a",
        ];
        if !self.m.images[i].available {
            self.log.push(format!("run-instances {img} (failed image)"));
            self.err(&args, "InvalidAMIID.Unavailable");
            return true;
        }
        let rekey = if self.rng.chance(30) {
            self.pick_key()
        } else {
            None
        };
        let bdm = rekey.map(|k| {
            json!([{"DeviceName": "/dev/xvda",
                "Ebs": {"Encrypted": true, "KmsKeyId": self.m.keys[k].id}}])
            .to_string()
        });
        if let Some(b) = &bdm {
            args.extend(["--block-device-mappings", b]);
        }
        self.log
            .push(format!("run-instances {img} root key {rekey:?}"));
        let maps = self.m.images[i].maps.clone();
        let planned: Vec<(String, Snap, bool)> = maps
            .iter()
            .map(|(dev, s, dot)| {
                let src = self.m.snap(s);
                let key = if dev == "/dev/xvda" && rekey.is_some() {
                    rekey
                } else {
                    src.key
                };
                (
                    dev.clone(),
                    Snap {
                        id: String::new(),
                        data: src.data.clone(),
                        key,
                        gib: src.gib,
                    },
                    *dot,
                )
            })
            .collect();
        let works = self.m.key_ok(rekey)
            && maps
                .iter()
                .all(|(_, s, _)| self.m.key_ok(self.m.snap(s).key));
        let v = self.ok(&args);
        let id = crate::support::s(&v["Instances"][0]["InstanceId"]);
        if !works {
            let d = self.ok(&["ec2", "describe-instances", "--instance-ids", &id]);
            let d = &d["Reservations"][0]["Instances"][0];
            self.ensure(
                d["State"]["Name"] == "terminated"
                    && d["StateReason"]["Code"] == "Client.InvalidKMSKey.InvalidState",
                || format!("{id} with a disabled key: {d}"),
            );
            self.m.insts.push(Inst {
                id,
                state: IState::Terminated,
                mount: None,
            });
            return true;
        }
        let d = self.ok(&["ec2", "describe-instances", "--instance-ids", &id]);
        let d = d["Reservations"][0]["Instances"][0].clone();
        for (dev, s, dot) in planned {
            let m = d["BlockDeviceMappings"]
                .as_array()
                .and_then(|a| a.iter().find(|m| m["DeviceName"] == dev.as_str()))
                .unwrap_or_else(|| self.fail(format!("{id} has no {dev}: {d}")));
            self.m.vols.push(Vol {
                id: crate::support::s(&m["Ebs"]["VolumeId"]),
                key: s.key,
                gib: s.gib,
                data: s.data.unwrap(),
                att: Some((id.clone(), dev, dot)),
            });
            self.check_volume(self.m.vols.len() - 1);
        }
        self.m.insts.push(Inst {
            id,
            state: IState::Running,
            mount: None,
        });
        self.check_instance(self.m.insts.len() - 1);
        true
    }

    fn stop_instance(&mut self) -> bool {
        let r = self.insts_in(&[IState::Running]);
        if r.is_empty() {
            return false;
        }
        let i = r[self.rng.index(r.len())];
        let id = self.m.insts[i].id.clone();
        self.log.push(format!("stop-instances {id}"));
        self.ok(&["ec2", "stop-instances", "--instance-ids", &id]);
        self.unmounted(i);
        self.m.insts[i].state = IState::Stopped;
        self.check_instance(i);
        true
    }

    /// The mount of instance `i` went with a stop or a termination: its directory is empty.
    fn unmounted(&mut self, i: usize) {
        if let Some(dir) = self.m.insts[i].mount.take() {
            let n = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
            self.ensure(n == 0, || {
                format!("{} still shows {n} files", dir.display())
            });
        }
    }

    fn start_instance(&mut self) -> bool {
        let r = self.insts_in(&[IState::Stopped]);
        if r.is_empty() {
            return false;
        }
        let i = r[self.rng.index(r.len())];
        let id = self.m.insts[i].id.clone();
        self.log.push(format!("start-instances {id}"));
        let works = self.m.attached(&id).iter().all(|(_, v)| {
            self.m
                .key_ok(self.m.vols.iter().find(|x| &x.id == v).unwrap().key)
        });
        self.ok(&["ec2", "start-instances", "--instance-ids", &id]);
        if works {
            self.m.insts[i].state = IState::Running;
        }
        self.check_instance(i);
        true
    }

    fn terminate_instance(&mut self) -> bool {
        let r = self.insts_in(&[IState::Running, IState::Stopped]);
        if r.is_empty() {
            return false;
        }
        let i = r[self.rng.index(r.len())];
        let id = self.m.insts[i].id.clone();
        self.log.push(format!("terminate-instances {id}"));
        self.ok(&["ec2", "terminate-instances", "--instance-ids", &id]);
        self.unmounted(i);
        self.m.insts[i].state = IState::Terminated;
        self.m
            .vols
            .retain(|v| !matches!(&v.att, Some((inst, _, true)) if inst == &id));
        for v in &mut self.m.vols {
            if v.att.as_ref().is_some_and(|a| a.0 == id) {
                v.att = None;
            }
        }
        self.check_instance(i);
        true
    }

    fn create_volume(&mut self) -> bool {
        if self.m.vols.len() >= 12 {
            return false;
        }
        let c = self.completed_snaps();
        let from = if !c.is_empty() && self.rng.chance(60) {
            Some(c[self.rng.index(c.len())])
        } else {
            None
        };
        let target = if self.rng.chance(50) {
            self.pick_key()
        } else {
            None
        };
        let kid = target.map(|k| self.m.keys[k].id.clone());
        let (src_key, data, base) = match from {
            Some(i) => {
                let s = &self.m.snaps[i];
                (s.key, s.data.clone().unwrap(), s.gib)
            }
            None => (None, Data::default(), 1),
        };
        let gib = base + self.rng.below(2);
        let size = gib.to_string();
        let sid = from.map(|i| self.m.snaps[i].id.clone());
        let mut args = vec![
            "ec2",
            "create-volume",
            "--availability-zone",
            AZ,
            "--size",
            &size,
        ];
        if let Some(s) = &sid {
            args.extend(["--snapshot-id", s]);
        }
        if let Some(k) = &kid {
            args.extend(["--encrypted", "--kms-key-id", k]);
        }
        self.log.push(format!(
            "create-volume {gib} GiB from {sid:?} key {target:?}"
        ));
        let key = target.or(src_key);
        let v = self.ok(&args);
        let id = crate::support::s(&v["VolumeId"]);
        self.ensure(
            v["State"] == "creating" && v["Encrypted"] == key.is_some(),
            || format!("create-volume answered {v}, model key {key:?}"),
        );
        if !(self.m.key_ok(src_key) && self.m.key_ok(target)) {
            self.err(
                &["ec2", "describe-volumes", "--volume-ids", &id],
                "InvalidVolume.NotFound",
            );
            return true;
        }
        self.m.vols.push(Vol {
            id,
            key,
            gib,
            data,
            att: None,
        });
        self.check_volume(self.m.vols.len() - 1);
        true
    }

    fn attach(&mut self) -> bool {
        let insts = self.insts_in(&[IState::Running, IState::Stopped]);
        if insts.is_empty() || self.m.vols.is_empty() {
            return false;
        }
        let i = insts[self.rng.index(insts.len())];
        let inst = self.m.insts[i].id.clone();
        let v = self.rng.index(self.m.vols.len());
        let vol = self.m.vols[v].id.clone();
        let used: Vec<String> = self.m.attached(&inst).into_iter().map(|a| a.0).collect();
        let Some(dev) = (b'f'..=b'p')
            .map(|c| format!("/dev/sd{}", c as char))
            .find(|d| !used.contains(d))
        else {
            return false;
        };
        self.log.push(format!("attach-volume {vol} {inst} {dev}"));
        let args = [
            "ec2",
            "attach-volume",
            "--volume-id",
            &vol,
            "--instance-id",
            &inst,
            "--device",
            &dev,
        ];
        if self.m.vols[v].att.is_some() {
            self.err(&args, "VolumeInUse");
            return true;
        }
        if !self.m.key_ok(self.m.vols[v].key) {
            self.err(&args, "CustomerKeyHasBeenRevoked");
            self.check_volume(v);
            return true;
        }
        let a = self.ok(&args);
        self.ensure(a["State"] == "attaching", || format!("attach answered {a}"));
        self.m.vols[v].att = Some((inst.clone(), dev, false));
        self.check_volume(v);
        self.check_mount_names(i);
        true
    }

    /// A mount shows one file per attached volume.
    fn check_mount_names(&mut self, i: usize) {
        let Some(dir) = self.m.insts[i].mount.clone() else {
            return;
        };
        let mut got: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        got.sort();
        let mut want: Vec<String> = self
            .m
            .attached(&self.m.insts[i].id)
            .into_iter()
            .map(|(d, _)| d.trim_start_matches("/dev/").to_owned())
            .collect();
        want.sort();
        self.ensure(got == want, || {
            format!("{} shows {got:?}, model {want:?}", dir.display())
        });
    }

    fn detach(&mut self) -> bool {
        let attached: Vec<usize> = (0..self.m.vols.len())
            .filter(|&v| self.m.vols[v].att.is_some())
            .collect();
        if attached.is_empty() {
            return false;
        }
        let v = attached[self.rng.index(attached.len())];
        let vol = self.m.vols[v].id.clone();
        let (inst, dev, _) = self.m.vols[v].att.clone().unwrap();
        let i = self.m.insts.iter().position(|x| x.id == inst).unwrap();
        self.log.push(format!("detach-volume {vol} ({inst} {dev})"));
        let args = ["ec2", "detach-volume", "--volume-id", &vol];
        if dev == "/dev/xvda" {
            if self.m.insts[i].state == IState::Running {
                self.err(&args, "IncorrectState");
            }
            // The root of a stopped instance could go; the soak keeps instances startable.
            return true;
        }
        let a = self.ok(&args);
        self.ensure(a["State"] == "detaching", || format!("detach answered {a}"));
        self.m.vols[v].att = None;
        self.check_volume(v);
        self.check_mount_names(i);
        true
    }

    fn delete_volume(&mut self) -> bool {
        if self.m.vols.is_empty() {
            return false;
        }
        let v = self.rng.index(self.m.vols.len());
        let vol = self.m.vols[v].id.clone();
        self.log.push(format!("delete-volume {vol}"));
        let args = ["ec2", "delete-volume", "--volume-id", &vol];
        if self.m.vols[v].att.is_some() {
            self.err(&args, "VolumeInUse");
            return true;
        }
        self.ok(&args);
        self.m.vols.remove(v);
        self.err(
            &["ec2", "describe-volumes", "--volume-ids", &vol],
            "InvalidVolume.NotFound",
        );
        true
    }

    fn create_snapshot(&mut self) -> bool {
        if self.m.vols.is_empty() {
            return false;
        }
        let v = self.rng.index(self.m.vols.len());
        let vol = self.m.vols[v].id.clone();
        self.log.push(format!("create-snapshot {vol}"));
        let a = self.ok(&["ec2", "create-snapshot", "--volume-id", &vol]);
        let vm = &self.m.vols[v];
        self.m.snaps.push(Snap {
            id: crate::support::s(&a["SnapshotId"]),
            data: Some(vm.data.clone()),
            key: vm.key,
            gib: vm.gib,
        });
        self.check_snapshot(self.m.snaps.len() - 1);
        true
    }

    fn create_image(&mut self) -> bool {
        let r = self.insts_in(&[IState::Running, IState::Stopped, IState::Terminated]);
        if r.is_empty() || self.m.images.len() >= 8 {
            return false;
        }
        let i = r[self.rng.index(r.len())];
        let inst = self.m.insts[i].id.clone();
        let name = self.name("created");
        self.log.push(format!("create-image {inst} {name}"));
        let args = [
            "ec2",
            "create-image",
            "--instance-id",
            &inst,
            "--name",
            &name,
        ];
        if self.m.insts[i].state == IState::Terminated {
            self.err(&args, "IncorrectInstanceState");
            return true;
        }
        let id = crate::support::s(&self.ok(&args)["ImageId"]);
        let d = self.ok(&["ec2", "describe-images", "--image-ids", &id])["Images"][0].clone();
        self.ensure(d["State"] == "available", || format!("{id}: {d}"));
        let mut maps = Vec::new();
        for (dev, vol) in self.m.attached(&inst) {
            let m = d["BlockDeviceMappings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["DeviceName"] == dev.as_str())
                .unwrap_or_else(|| self.fail(format!("{id} has no {dev}: {d}")))
                .clone();
            let vm = self.m.vols.iter().find(|x| x.id == vol).unwrap();
            let dot = vm.att.as_ref().unwrap().2;
            self.ensure(m["Ebs"]["DeleteOnTermination"] == dot, || {
                format!("{id} {dev}: {m}, model delete on termination {dot}")
            });
            let sid = crate::support::s(&m["Ebs"]["SnapshotId"]);
            self.m.snaps.push(Snap {
                id: sid.clone(),
                data: Some(vm.data.clone()),
                key: vm.key,
                gib: vm.gib,
            });
            self.check_snapshot(self.m.snaps.len() - 1);
            maps.push((dev, sid, dot));
        }
        let n = d["BlockDeviceMappings"].as_array().unwrap().len();
        self.ensure(n == maps.len(), || format!("{id} maps {n} devices: {d}"));
        // The root first, as the model's images keep it.
        maps.sort_by_key(|(dev, _, _)| dev != "/dev/xvda");
        self.m.images.push(Image {
            id,
            available: true,
            maps,
        });
        true
    }

    fn delete_snapshot(&mut self) -> bool {
        if self.m.snaps.is_empty() {
            return false;
        }
        let i = self.rng.index(self.m.snaps.len());
        let id = self.m.snaps[i].id.clone();
        self.log.push(format!("delete-snapshot {id}"));
        let args = ["ec2", "delete-snapshot", "--snapshot-id", &id];
        if self.m.snap_in_use(&id) {
            self.err(&args, "InvalidSnapshot.InUse");
            return true;
        }
        self.ok(&args);
        self.m.snaps.remove(i);
        self.err(
            &["ec2", "describe-snapshots", "--snapshot-ids", &id],
            "InvalidSnapshot.NotFound",
        );
        true
    }

    fn export(&mut self) -> bool {
        if self.m.snaps.is_empty() {
            return false;
        }
        let i = self.rng.index(self.m.snaps.len());
        let id = self.m.snaps[i].id.clone();
        self.log.push(format!("export-snapshot {id}"));
        let s = &self.m.snaps[i];
        if s.data.is_some() && self.m.key_ok(s.key) {
            self.verify_snapshot_bytes(i);
            return true;
        }
        let want = if s.data.is_none() {
            "IncorrectState"
        } else {
            "DisabledException"
        };
        let out = self.h.scratch("refused-export.raw");
        self.err(
            &[
                "ec2",
                "export-snapshot",
                "--snapshot-id",
                &id,
                "--file",
                out.to_str().unwrap(),
            ],
            want,
        );
        self.ensure(!out.exists(), || "a refused export left a file".into());
        true
    }

    fn mount(&mut self) -> bool {
        if !self.fuse {
            return false;
        }
        let r: Vec<usize> = self
            .insts_in(&[IState::Running, IState::Stopped])
            .into_iter()
            .filter(|&i| self.m.insts[i].mount.is_none())
            .collect();
        if r.is_empty() || self.m.mounted().len() >= 2 {
            return false;
        }
        let i = r[self.rng.index(r.len())];
        let inst = self.m.insts[i].id.clone();
        let dir = self.h.scratch(&format!("mnt-{inst}"));
        std::fs::create_dir_all(&dir).unwrap();
        self.log.push(format!("mount {inst}"));
        let args = [
            "mount",
            "--instance-id",
            &inst,
            dir.to_str().unwrap(),
            "--daemon",
        ];
        if self.m.insts[i].state == IState::Stopped {
            self.err(&args, "IncorrectInstanceState");
            return true;
        }
        let keys_ok = self.m.attached(&inst).iter().all(|(_, v)| {
            self.m
                .key_ok(self.m.vols.iter().find(|x| &x.id == v).unwrap().key)
        });
        if !keys_ok {
            self.err(&args, "CustomerKeyHasBeenRevoked");
            return true;
        }
        self.ok(&args);
        self.m.insts[i].mount = Some(dir);
        self.check_mount_names(i);
        true
    }

    fn umount(&mut self) -> bool {
        let m = self.m.mounted();
        if m.is_empty() {
            return false;
        }
        let (inst, dir) = m[self.rng.index(m.len())].clone();
        self.log.push(format!("umount {inst}"));
        self.ok(&["umount", dir.to_str().unwrap()]);
        let i = self.m.insts.iter().position(|x| x.id == inst).unwrap();
        self.unmounted(i);
        true
    }

    /// A mounted volume's block file, by (volume index, path).
    fn mounted_file(&mut self) -> Option<(usize, PathBuf)> {
        let files: Vec<(usize, PathBuf)> = self
            .m
            .mounted()
            .into_iter()
            .flat_map(|(inst, dir)| {
                self.m
                    .attached(&inst)
                    .into_iter()
                    .map(move |(dev, vol)| (vol, dir.join(dev.trim_start_matches("/dev/"))))
            })
            .map(|(vol, p)| (self.m.vols.iter().position(|v| v.id == vol).unwrap(), p))
            .collect();
        if files.is_empty() {
            None
        } else {
            Some(files[self.rng.index(files.len())].clone())
        }
    }

    fn write_through_mount(&mut self) -> bool {
        let Some((v, file)) = self.mounted_file() else {
            return false;
        };
        let len = if self.rng.chance(50) {
            1 + self.rng.below(600) as usize
        } else {
            1 + self.rng.below(64 << 10) as usize
        };
        let off = self.rng.below(WINDOW - len as u64);
        let bytes = self.rng.bytes(len);
        let sync = self.rng.chance(30);
        self.log.push(format!(
            "pwrite {} ({}) at {off}, {len} bytes, fsync {sync}",
            file.display(),
            self.m.vols[v].id
        ));
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .unwrap_or_else(|e| self.fail(format!("open {}: {e}", file.display())));
        f.write_all_at(&bytes, off)
            .unwrap_or_else(|e| self.fail(format!("pwrite {}: {e}", file.display())));
        if sync {
            f.sync_all()
                .unwrap_or_else(|e| self.fail(format!("fsync {}: {e}", file.display())));
        }
        self.m.vols[v].data.write(off, &bytes);
        true
    }

    fn read_through_mount(&mut self) -> bool {
        let Some((v, file)) = self.mounted_file() else {
            return false;
        };
        let len = 1 + self.rng.below(256 << 10) as usize;
        let off = self.rng.below(WINDOW - len as u64);
        self.log.push(format!(
            "pread {} ({}) at {off}, {len} bytes",
            file.display(),
            self.m.vols[v].id
        ));
        let f = std::fs::File::open(&file).unwrap();
        let mut got = vec![0u8; len];
        f.read_exact_at(&mut got, off)
            .unwrap_or_else(|e| self.fail(format!("pread {}: {e}", file.display())));
        let want = self.m.vols[v].data.read(off, len);
        if got != want {
            let first = got.iter().zip(&want).position(|(a, b)| a != b).unwrap();
            self.fail(format!(
                "{}: read at {off} differs from the model at byte {}",
                file.display(),
                off + first as u64
            ));
        }
        true
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
    })
}

#[test]
fn random_operations_against_a_model() {
    let seed = env_u64("BLOCKSEAL_SOAK_SEED").unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        t.as_nanos() as u64 ^ u64::from(std::process::id())
    });
    let max_ops = env_u64("BLOCKSEAL_SOAK_OPS").unwrap_or(250) as usize;
    let budget = Duration::from_secs(env_u64("BLOCKSEAL_SOAK_SECS").unwrap_or(120));
    println!("soak seed {seed} (BLOCKSEAL_SOAK_SEED={seed} replays it), up to {max_ops} operations or {budget:?}");
    let h = Home::new();
    let fuse = fuse_usable();
    if !fuse {
        println!("the soak runs without mounts");
    }
    let mut soak = Soak {
        h: &h,
        seed,
        rng: Rng(seed),
        m: Model::default(),
        log: Vec::new(),
        ops: 0,
        names: 0,
        fuse,
        exports: 0,
        volume_reads: 0,
        last_stderr: String::new(),
    };
    let started = Instant::now();
    let mut draws = 0;
    let mut kinds = BTreeMap::new();
    while soak.ops < max_ops && started.elapsed() < budget {
        draws += 1;
        assert!(
            draws < max_ops * 50,
            "the soak keeps drawing operations it cannot run"
        );
        soak.log.push(format!("#{}", soak.ops + 1));
        let at = soak.log.len();
        if soak.step() {
            soak.ops += 1;
            let kind = soak.log[at].split_whitespace().next().unwrap().to_owned();
            *kinds.entry(kind).or_insert(0usize) += 1;
            if soak.ops.is_multiple_of(CHECK_EVERY) {
                soak.full_check();
            }
        } else {
            soak.log.pop();
        }
    }
    // The end: every key back on, every mount gone, and everything read back once more.
    for k in 0..soak.m.keys.len() {
        if !soak.m.keys[k].enabled {
            let id = soak.m.keys[k].id.clone();
            soak.ok(&["kms", "enable-key", "--key-id", &id]);
            soak.m.keys[k].enabled = true;
        }
    }
    for (inst, dir) in soak.m.mounted() {
        soak.log.push(format!("umount {inst}"));
        soak.ok(&["umount", dir.to_str().unwrap()]);
        let i = soak.m.insts.iter().position(|x| x.id == inst).unwrap();
        soak.unmounted(i);
    }
    soak.full_check();
    println!(
        "soak seed {seed}: {} operations in {:.0?} ({} snapshots, {} volumes, {} images, {} \
         instances at the end); {} exports and {} volume read-backs compared with the model, \
         nothing differed; operations by kind: {kinds:?}",
        soak.ops,
        started.elapsed(),
        soak.m.snaps.len(),
        soak.m.vols.len(),
        soak.m.images.len(),
        soak.m.insts.len(),
        soak.exports,
        soak.volume_reads,
    );
    assert!(soak.ops > 0, "the soak ran no operation");
}
