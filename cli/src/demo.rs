//! `blockseal demo`: the five encrypted-AMI scenarios of SEMANTICS.md §19 run end to end in a
//! fresh temporary home, through `Engine::invoke` only, each expected outcome checked (never
//! just printed): exported bytes equal imported bytes, key ARNs, data-key lineage, and no
//! plaintext of encrypted data anywhere in the home. It ends by timing a re-keying CopyImage.
//!
//! Disk images are generated (deterministic pseudo-random bytes with a text marker at every MiB)
//! into a scratch folder outside the home, so a scan of the home can only find a marker if the
//! engine wrote plaintext there.

use crate::args::DemoArgs;
use crate::progress::Bar;
use crate::wait::{self, Waiter};
use anyhow::{anyhow, bail, Context, Result};
use blockseal_engine::{NoProgress, Options, Progress, Session};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

const R: &str = "us-east-1";
const R2: &str = "us-west-2";
const AZ_A: &str = "us-east-1a";
const AZ_B: &str = "us-east-1b";
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const MARKER_PREFIX: &str = "BLOCKSEAL-DEMO-PLAINTEXT:";
const NO_PARAMS: &str = "with no encryption parameters";

/// Prints a line to stdout; a closed stdout does not stop the checks.
macro_rules! say {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// Runs the demo.
///
/// # Errors
/// The first failed check or unexpected engine error.
pub fn run(args: &DemoArgs) -> Result<()> {
    let home = tempfile::Builder::new()
        .prefix("blockseal-demo-home-")
        .tempdir()?;
    let scratch = tempfile::Builder::new()
        .prefix("blockseal-demo-disks-")
        .tempdir()?;
    say!("blockseal demo: the five encrypted-AMI scenarios (S1–S5), checked end to end");
    say!(
        "home: {} (temporary{})",
        home.path().display(),
        if args.keep { ", kept" } else { "" }
    );
    let started = Instant::now();
    let mut demo = Demo::new(home.path(), scratch.path(), args.size_mib * MIB);
    let result = demo.run_all(args);
    demo.engine = None;
    match &result {
        Ok(()) => say!(
            "\nAll {} checks passed in {:.1} s.",
            demo.checks,
            started.elapsed().as_secs_f64()
        ),
        Err(_) if !args.keep => {
            say!("\n(run `blockseal demo --keep` to inspect the home afterwards)")
        }
        Err(_) => {}
    }
    if args.keep {
        let kept = home.keep();
        say!("home kept at {}", kept.display());
    }
    result
}

/// A generated disk image: `len` bytes from `seed`, `MARKER_PREFIX label:` at every MiB.
struct Disk {
    label: &'static str,
    seed: u64,
    len: u64,
    path: PathBuf,
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Disk {
    fn marker(&self) -> String {
        format!("{MARKER_PREFIX}{}:", self.label)
    }

    /// The MiB-aligned chunk at `offset` (the last one may be shorter).
    fn chunk(&self, offset: u64) -> Vec<u8> {
        let n = (self.len - offset).min(MIB) as usize;
        let mut buf = Vec::with_capacity(n + 8);
        let first_word = offset / 8;
        let mut i = 0;
        while buf.len() < n {
            buf.extend_from_slice(
                &splitmix64(self.seed ^ (first_word + i).wrapping_mul(0x2545_f491_4f6c_dd1d))
                    .to_le_bytes(),
            );
            i += 1;
        }
        buf.truncate(n);
        let m = self.marker();
        let k = m.len().min(n);
        buf[..k].copy_from_slice(&m.as_bytes()[..k]);
        buf
    }

    fn create(label: &'static str, seed: u64, len: u64, dir: &Path) -> Result<Disk> {
        let disk = Disk {
            label,
            seed,
            len,
            path: dir.join(format!("{label}.raw")),
        };
        let mut f =
            File::create(&disk.path).with_context(|| format!("create {}", disk.path.display()))?;
        let mut off = 0;
        while off < len {
            f.write_all(&disk.chunk(off))?;
            off += MIB;
        }
        f.sync_all()?;
        Ok(disk)
    }

    fn mib(&self) -> String {
        format!("{} MiB", self.len.div_ceil(MIB))
    }
}

/// Data extents of `f` from `from` to its end, as (start, end) pairs: holes are skipped where
/// the file system reports them (SEEK_DATA/SEEK_HOLE), else the whole range is one extent.
fn data_extents(f: &File, from: u64) -> Result<Vec<(u64, u64)>> {
    use rustix::fs::{seek, SeekFrom as S};
    let size = f.metadata()?.len();
    let mut out = Vec::new();
    let mut pos = from;
    while pos < size {
        let start = match seek(f, S::Data(pos)) {
            Ok(s) => s,
            Err(rustix::io::Errno::NXIO) => break,
            Err(_) => {
                out.push((pos, size));
                break;
            }
        };
        let end = seek(f, S::Hole(start)).unwrap_or(size).min(size);
        if end <= start {
            break;
        }
        out.push((start, end));
        pos = end;
    }
    Ok(out)
}

/// Offsets of `needle` in the data extents of `path`.
fn find_all(path: &Path, needle: &[u8]) -> Result<Vec<u64>> {
    let mut f = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut hits = Vec::new();
    let mut buf = vec![0u8; 4 << 20];
    for (start, end) in data_extents(&f, 0)? {
        f.seek(SeekFrom::Start(start))?;
        let mut carry: Vec<u8> = Vec::new();
        let mut pos = start;
        while pos < end {
            let want = ((end - pos) as usize).min(buf.len());
            let n = f.read(&mut buf[..want])?;
            if n == 0 {
                break;
            }
            let base = pos - carry.len() as u64;
            let mut window = std::mem::take(&mut carry);
            window.extend_from_slice(&buf[..n]);
            let mut i = 0;
            while i + needle.len() <= window.len() {
                if window[i] == needle[0] && &window[i..i + needle.len()] == needle {
                    hits.push(base + i as u64);
                }
                i += 1;
            }
            let keep = (needle.len() - 1).min(window.len());
            carry = window[window.len() - keep..].to_vec();
            pos += n as u64;
        }
    }
    Ok(hits)
}

/// Every regular file under `dir`.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            files_under(&e.path(), out)?;
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    Ok(())
}

fn s(v: &Value) -> Result<String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("expected a string, got {v}"))
}

struct Demo {
    home: PathBuf,
    scratch: PathBuf,
    size: u64,
    engine: Option<(String, Session)>,
    bar: Bar,
    checks: u32,
    /// (name, key id, key ARN) of every key the demo knows, for readable output.
    keys: Vec<(String, String, String)>,
    /// Every DataEncryptionKeyId observed so far.
    deks: HashSet<String>,
    /// The S5 instance (three volumes, three keys), mounted by the FUSE part.
    s5_instance: Option<String>,
}

impl Demo {
    fn new(home: &Path, scratch: &Path, size: u64) -> Demo {
        Demo {
            home: home.to_owned(),
            scratch: scratch.to_owned(),
            size,
            engine: None,
            bar: Bar::for_stderr(),
            checks: 0,
            keys: Vec::new(),
            deks: HashSet::new(),
            s5_instance: None,
        }
    }

    // ---- engine access ----------------------------------------------------------------------

    fn engine(&mut self, region: &str) -> Result<&mut Session> {
        if self.engine.as_ref().is_none_or(|(r, _)| r != region) {
            self.engine = None;
            let opts = Options {
                home: self.home.clone(),
                region: region.into(),
                profile: "admin".into(),
            };
            let e = Session::open(opts)
                .map_err(|e| anyhow!("cannot open the home: {} {}", e.code(), e.message()))?;
            self.engine = Some((region.to_owned(), e));
        }
        match self.engine.as_mut() {
            Some((_, e)) => Ok(e),
            None => bail!("no engine"),
        }
    }

    /// Invokes `op`; Ok(Err) is the engine's answer when it refuses.
    fn attempt(
        &mut self,
        region: &str,
        op: &str,
        req: Value,
        progress: bool,
    ) -> Result<Result<Value, blockseal_engine::Error>> {
        self.engine(region)?;
        let Demo { engine, bar, .. } = self;
        let Some((_, engine)) = engine.as_mut() else {
            bail!("no engine")
        };
        let p: &dyn Progress = if progress { bar } else { &NoProgress };
        Ok(engine.invoke(op, req, p))
    }

    fn call_in(&mut self, region: &str, op: &str, req: Value) -> Result<Value> {
        self.attempt(region, op, req, false)?.map_err(|e| {
            anyhow!(
                "An error occurred ({}) when calling the {op} operation: {}",
                e.code(),
                e.message()
            )
        })
    }

    fn call(&mut self, op: &str, req: Value) -> Result<Value> {
        self.call_in(R, op, req)
    }

    fn call_with_progress(&mut self, op: &str, req: Value) -> Result<Value> {
        self.attempt(R, op, req, true)?.map_err(|e| {
            anyhow!(
                "An error occurred ({}) when calling the {op} operation: {}",
                e.code(),
                e.message()
            )
        })
    }

    /// Expects `op` to be refused with `code`.
    fn refused(&mut self, op: &str, req: Value, code: &str, what: &str) -> Result<()> {
        match self.attempt(R, op, req, false)? {
            Ok(v) => bail!("check failed: {what}: {op} succeeded ({v}) but {code} was expected"),
            Err(e) => self
                .check(
                    e.code().as_str() == code,
                    &format!("{what}: {op} refused with {code}"),
                )
                .with_context(|| format!("{op} answered {}: {}", e.code(), e.message())),
        }
    }

    fn wait(&mut self, region: &str, w: &Waiter, op: &str, req: Value) -> Result<()> {
        let engine = self.engine(region)?;
        let describe = || {
            engine
                .invoke(op, req.clone(), &NoProgress)
                .map_err(|e| (e.code().to_string(), e.message().to_owned()))
        };
        let delay = wait::delay();
        wait::poll(w, describe, wait::max_attempts(w, delay), delay).map_err(|m| anyhow!(m))
    }

    fn wait_image(&mut self, region: &str, ami: &str) -> Result<()> {
        self.wait(
            region,
            wait::waiter("ImageAvailable"),
            "DescribeImages",
            json!({"ImageIds": [ami]}),
        )
    }

    // ---- checks and output ------------------------------------------------------------------

    fn check(&mut self, ok: bool, what: &str) -> Result<()> {
        if !ok {
            bail!("check failed: {what}");
        }
        self.checks += 1;
        say!("    ok  {what}");
        Ok(())
    }

    fn check_eq(&mut self, got: &Value, want: &Value, what: &str) -> Result<()> {
        if got != want {
            bail!("check failed: {what}: expected {want}, got {got}");
        }
        self.check(true, what)
    }

    fn step(&self, what: &str) {
        say!("  - {what}");
    }

    fn heading(&self, what: &str) {
        say!("\n{what}");
    }

    /// "K1", "the aws/ebs default key of us-west-2", or the ARN itself.
    fn key_name(&self, arn: &str) -> String {
        match self.keys.iter().find(|(_, _, a)| a == arn) {
            Some((n, _, _)) => n.clone(),
            None => arn.to_owned(),
        }
    }

    fn key_id(&self, name: &str) -> Result<String> {
        self.keys
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, id, _)| id.clone())
            .ok_or_else(|| anyhow!("no key {name}"))
    }

    fn key_arn(&self, name: &str) -> Result<String> {
        self.keys
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, a)| a.clone())
            .ok_or_else(|| anyhow!("no key {name}"))
    }

    /// Checks that snapshot `snap` is encrypted under key `name`.
    fn check_key(&mut self, snap: &Value, name: &str, what: &str) -> Result<()> {
        let want = self.key_arn(name)?;
        let id = s(&snap["SnapshotId"])?;
        let got = snap["KmsKeyId"].as_str().unwrap_or("(none)").to_owned();
        if snap["Encrypted"] != json!(true) || got != want {
            bail!(
                "check failed: {what} {id}: Encrypted={}, key {} ({got}), expected {name} ({want})",
                snap["Encrypted"],
                self.key_name(&got)
            );
        }
        self.check(
            true,
            &format!("{what} {id} is encrypted under {name} ({want})"),
        )
    }

    fn check_unencrypted(&mut self, snap: &Value, what: &str) -> Result<()> {
        let id = s(&snap["SnapshotId"])?;
        self.check(
            snap["Encrypted"] == json!(false) && snap.get("KmsKeyId").is_none_or(Value::is_null),
            &format!("{what} {id} is unencrypted (no key)"),
        )
    }

    fn dek(snap: &Value) -> Result<String> {
        s(&snap["DataEncryptionKeyId"]).context("snapshot has no DataEncryptionKeyId")
    }

    /// Checks that `snap` has a data key never seen before in this demo.
    fn check_new_dek(&mut self, snap: &Value, what: &str) -> Result<()> {
        let d = Self::dek(snap)?;
        let fresh = !d.is_empty() && !self.deks.contains(&d);
        self.deks.insert(d.clone());
        self.check(fresh, &format!("{what}: a new DataEncryptionKeyId ({d})"))
    }

    fn check_same_dek(&mut self, a: &Value, b: &Value, what: &str) -> Result<()> {
        let (x, y) = (Self::dek(a)?, Self::dek(b)?);
        self.deks.insert(x.clone());
        self.check(x == y, &format!("{what}: same DataEncryptionKeyId ({x})"))
            .with_context(|| format!("{x} != {y}"))
    }

    fn seen(&mut self, snap: &Value) {
        if let Some(d) = snap["DataEncryptionKeyId"].as_str() {
            self.deks.insert(d.to_owned());
        }
    }

    // ---- resources ----------------------------------------------------------------------------

    fn create_key(&mut self, name: &str) -> Result<()> {
        let v = self.call(
            "CreateKey",
            json!({"Description": format!("blockseal demo {name}")}),
        )?;
        let (id, arn) = (s(&v["KeyMetadata"]["KeyId"])?, s(&v["KeyMetadata"]["Arn"])?);
        self.step(&format!("created KMS key {name}: {arn}"));
        self.keys.push((name.to_owned(), id, arn));
        Ok(())
    }

    /// Learns the ARN of `region`'s aws/ebs key (created on first use) under `name`.
    fn learn_default_key(&mut self, region: &str, name: &str) -> Result<String> {
        let v = self.call_in(region, "DescribeKey", json!({"KeyId": "alias/aws/ebs"}))?;
        let arn = s(&v["KeyMetadata"]["Arn"])?;
        let id = s(&v["KeyMetadata"]["KeyId"])?;
        if !self.keys.iter().any(|(_, _, a)| *a == arn) {
            self.keys.push((name.to_owned(), id, arn.clone()));
        }
        Ok(arn)
    }

    fn disk(&self, label: &'static str, seed: u64, len: u64) -> Result<Disk> {
        Disk::create(label, seed, len, &self.scratch)
    }

    /// Imports `disk`, encrypted under key `key` (a name) if given; returns the snapshot id.
    fn import(&mut self, disk: &Disk, key: Option<&str>) -> Result<String> {
        let mut req = json!({"File": disk.path.to_string_lossy(), "Description": format!("demo {}", disk.label)});
        if let Some(k) = key {
            req["Encrypted"] = json!(true);
            req["KmsKeyId"] = json!(self.key_id(k)?);
        }
        let v = self.call_with_progress("ImportSnapshot", req)?;
        let d = &v["SnapshotTaskDetail"];
        if d["Status"] != "completed" {
            bail!("ImportSnapshot of {} ended {}", disk.label, d["Status"]);
        }
        let id = s(&d["SnapshotId"])?;
        let how = key.map_or_else(
            || "unencrypted".to_owned(),
            |k| format!("encrypted under {k}"),
        );
        self.step(&format!(
            "imported {} ({}, {how}) as {id}",
            disk.label,
            disk.mib()
        ));
        Ok(id)
    }

    fn image(&mut self, region: &str, ami: &str) -> Result<Value> {
        Ok(
            self.call_in(region, "DescribeImages", json!({"ImageIds": [ami]}))?["Images"][0]
                .clone(),
        )
    }

    fn snapshot_in(&mut self, region: &str, id: &str) -> Result<Value> {
        let v = self.call_in(region, "DescribeSnapshots", json!({"SnapshotIds": [id]}))?
            ["Snapshots"][0]
            .clone();
        Ok(v)
    }

    fn snapshot(&mut self, id: &str) -> Result<Value> {
        self.snapshot_in(R, id)
    }

    fn volume(&mut self, id: &str) -> Result<Value> {
        Ok(self.call("DescribeVolumes", json!({"VolumeIds": [id]}))?["Volumes"][0].clone())
    }

    fn instance(&mut self, id: &str) -> Result<Value> {
        Ok(
            self.call("DescribeInstances", json!({"InstanceIds": [id]}))?["Reservations"][0]
                ["Instances"][0]
                .clone(),
        )
    }

    /// The (device, snapshot id) pairs of an image.
    fn mappings(&mut self, region: &str, ami: &str) -> Result<Vec<(String, String)>> {
        let img = self.image(region, ami)?;
        let m = img["BlockDeviceMappings"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        m.iter()
            .map(|x| Ok((s(&x["DeviceName"])?, s(&x["Ebs"]["SnapshotId"])?)))
            .collect()
    }

    fn snapshot_of(&mut self, region: &str, ami: &str, device: &str) -> Result<Value> {
        let sid = self
            .mappings(region, ami)?
            .into_iter()
            .find(|(d, _)| d == device)
            .map(|(_, s)| s)
            .ok_or_else(|| anyhow!("{ami} maps no {device}"))?;
        self.snapshot_in(region, &sid)
    }

    fn register(&mut self, name: &str, root: &str, snap: &str) -> Result<String> {
        let v = self.call(
            "RegisterImage",
            json!({"Name": name, "RootDeviceName": root,
                   "BlockDeviceMappings": [{"DeviceName": root, "Ebs": {"SnapshotId": snap}}]}),
        )?;
        let ami = s(&v["ImageId"])?;
        self.wait_image(R, &ami)?;
        self.step(&format!("registered {ami} ({name}): {root} -> {snap}"));
        Ok(ami)
    }

    fn run_instance(&mut self, ami: &str, az: &str, bdm: Option<Value>) -> Result<String> {
        let mut req = json!({"ImageId": ami, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.micro",
                             "Placement": {"AvailabilityZone": az}});
        if let Some(b) = bdm {
            req["BlockDeviceMappings"] = b;
        }
        let v = self.call("RunInstances", req)?;
        let id = s(&v["Instances"][0]["InstanceId"])?;
        self.wait(
            R,
            wait::waiter("InstanceRunning"),
            "DescribeInstances",
            json!({"InstanceIds": [id]}),
        )?;
        Ok(id)
    }

    fn volume_at(&mut self, instance: &str, device: &str) -> Result<Value> {
        let inst = self.instance(instance)?;
        let m = inst["BlockDeviceMappings"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let vid = m
            .iter()
            .find(|x| x["DeviceName"] == device)
            .map(|x| s(&x["Ebs"]["VolumeId"]))
            .ok_or_else(|| anyhow!("{instance} has no {device}"))??;
        self.volume(&vid)
    }

    fn check_volume_key(&mut self, vol: &Value, key: Option<&str>, what: &str) -> Result<()> {
        let id = s(&vol["VolumeId"])?;
        match key {
            None => self.check(
                vol["Encrypted"] == json!(false),
                &format!("{what} volume {id} is unencrypted"),
            ),
            Some(k) => {
                let want = self.key_arn(k)?;
                self.check(
                    vol["Encrypted"] == json!(true) && vol["KmsKeyId"] == json!(want),
                    &format!("{what} volume {id} is encrypted under {k}"),
                )
                .with_context(|| format!("volume: {vol}"))
            }
        }
    }

    fn create_image(&mut self, instance: &str, name: &str, extra: Value) -> Result<String> {
        let mut req = json!({"InstanceId": instance, "Name": name});
        if let (Some(r), Some(x)) = (req.as_object_mut(), extra.as_object()) {
            r.extend(x.clone());
        }
        let ami = s(&self.call("CreateImage", req)?["ImageId"])?;
        self.wait_image(R, &ami)?;
        self.step(&format!("created image {ami} ({name}) from {instance}"));
        Ok(ami)
    }

    fn copy_image_in(
        &mut self,
        region: &str,
        src: &str,
        name: &str,
        extra: Value,
        how: &str,
    ) -> Result<String> {
        let mut req = json!({"SourceImageId": src, "SourceRegion": R, "Name": name});
        if let (Some(r), Some(x)) = (req.as_object_mut(), extra.as_object()) {
            r.extend(x.clone());
        }
        let ami = s(&self.call_in(region, "CopyImage", req)?["ImageId"])?;
        self.wait_image(region, &ami)?;
        self.step(&format!("copied {src} to {ami} ({name}) {how}"));
        Ok(ami)
    }

    fn copy_image(&mut self, src: &str, name: &str, extra: Value, how: &str) -> Result<String> {
        self.copy_image_in(R, src, name, extra, how)
    }

    /// Exports `snap` and checks it holds `disk`'s bytes then zeros up to the volume size.
    fn check_export_in(&mut self, region: &str, snap: &str, disk: &Disk) -> Result<()> {
        let out = self.scratch.join(format!("export-{snap}.raw"));
        self.call_in(
            region,
            "ExportSnapshot",
            json!({"SnapshotId": snap, "File": out.to_string_lossy()}),
        )?;
        let size_gib = self.snapshot_in(region, snap)?["VolumeSize"]
            .as_u64()
            .unwrap_or(0);
        let mut f = File::open(&out).with_context(|| format!("open {}", out.display()))?;
        let len = f.metadata()?.len();
        if len != size_gib * GIB {
            bail!("check failed: export of {snap} is {len} bytes, the volume is {size_gib} GiB");
        }
        let mut buf = vec![0u8; MIB as usize];
        let mut off = 0;
        while off < disk.len {
            let want = disk.chunk(off);
            f.read_exact(&mut buf[..want.len()])?;
            if buf[..want.len()] != want[..] {
                let i = buf.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
                bail!(
                    "check failed: export of {snap} differs from {} at byte {}",
                    disk.label,
                    off + i as u64
                );
            }
            off += MIB;
        }
        for (start, end) in data_extents(&f, disk.len)? {
            f.seek(SeekFrom::Start(start))?;
            let mut pos = start;
            while pos < end {
                let n = ((end - pos) as usize).min(buf.len());
                f.read_exact(&mut buf[..n])?;
                if buf[..n].iter().any(|&b| b != 0) {
                    bail!("check failed: export of {snap} has non-zero bytes past the imported data near {pos}");
                }
                pos += n as u64;
            }
        }
        drop(f);
        std::fs::remove_file(&out)?;
        self.check(
            true,
            &format!(
                "exported {snap}: plaintext equals {} ({}), zeros after",
                disk.label,
                disk.mib()
            ),
        )
    }

    fn check_export(&mut self, snap: &str, disk: &Disk) -> Result<()> {
        self.check_export_in(R, snap, disk)
    }

    /// Snapshots volume `vol` (to read its bytes back) and returns the snapshot.
    fn snapshot_volume(&mut self, vol: &str) -> Result<Value> {
        let v = self.call(
            "CreateSnapshot",
            json!({"VolumeId": vol, "Description": "demo read-back"}),
        )?;
        let id = s(&v["SnapshotId"])?;
        self.wait(
            R,
            wait::waiter("SnapshotCompleted"),
            "DescribeSnapshots",
            json!({"SnapshotIds": [id]}),
        )?;
        self.snapshot(&id)
    }

    // ---- the scenarios ------------------------------------------------------------------------

    fn run_all(&mut self, args: &DemoArgs) -> Result<()> {
        self.heading("Setup");
        for k in ["K1", "K2", "K3", "K4"] {
            self.create_key(k)?;
        }
        let k2 = self.key_id("K2")?;
        self.call(
            "CreateAlias",
            json!({"AliasName": "alias/k2", "TargetKeyId": k2}),
        )?;
        self.step("created alias/k2 -> K2");
        let default_r = self.learn_default_key(R, "the aws/ebs default key")?;
        self.step(&format!(
            "the default EBS key of {R} (alias/aws/ebs) is {default_r}"
        ));

        let size = self.size;
        let base = self.disk("base-root", 1, size)?;
        let s1_data = self.disk("s1-data", 2, size)?;
        let s2_root = self.disk("s2-root", 3, size)?;
        let s5_sdf = self.disk("s5-sdf", 4, size)?;
        let s5_sdg = self.disk("s5-sdg", 5, size)?;
        self.step(&format!(
            "generated 5 disk images of {} in {} (outside the home), each with the marker \
             \"{MARKER_PREFIX}<name>:\" at every MiB",
            base.mib(),
            self.scratch.display()
        ));
        let base_snap = self.import(&base, None)?;
        let ami_u = self.register("demo-base-unencrypted", "/dev/xvda", &base_snap)?;

        self.s1(&ami_u, &base, &s1_data)?;
        let ami_e = self.s2(&s2_root)?;
        self.s3(&ami_u, &base_snap, &base)?;
        self.s4(&ami_u, &base)?;
        self.s5(&ami_e, &s2_root, &s5_sdf, &s5_sdg)?;
        let through_fuse = self.fuse_part()?;
        let rekey = self.rekey_throughput(args.rekey_size_mib * MIB)?;
        let mut encrypted: Vec<&Disk> = vec![&s1_data, &s2_root, &s5_sdf, &s5_sdg, &rekey];
        encrypted.extend(through_fuse.as_ref());
        self.scan(&base, &encrypted)
    }

    fn s1(&mut self, ami_u: &str, base: &Disk, data: &Disk) -> Result<()> {
        self.heading("S1. Copy an AMI with an encrypted data snapshot");
        let data_snap = self.import(data, Some("K1"))?;
        let i1 = self.run_instance(ami_u, AZ_A, None)?;
        self.step(&format!(
            "launched {i1} in {AZ_A} from the unencrypted base image {ami_u}"
        ));
        let root = self.volume_at(&i1, "/dev/xvda")?;
        self.check_volume_key(&root, None, "its root")?;
        let k1 = self.key_id("K1")?;
        let v = self.call(
            "CreateVolume",
            json!({"AvailabilityZone": AZ_A, "Size": 4, "SnapshotId": data_snap, "Encrypted": true, "KmsKeyId": k1}),
        )?;
        let vol = s(&v["VolumeId"])?;
        self.wait(
            R,
            wait::waiter("VolumeAvailable"),
            "DescribeVolumes",
            json!({"VolumeIds": [vol]}),
        )?;
        self.step(&format!(
            "created a 4 GiB volume {vol} (Encrypted, K1) holding s1-data"
        ));
        let vd = self.volume(&vol)?;
        self.check_volume_key(&vd, Some("K1"), "the data")?;
        self.call(
            "AttachVolume",
            json!({"VolumeId": vol, "InstanceId": i1, "Device": "/dev/sdf"}),
        )?;
        let vd = self.volume(&vol)?;
        self.check_eq(
            &vd["State"],
            &json!("in-use"),
            &format!("{vol} is attached at /dev/sdf (in-use)"),
        )?;

        let ami1 = self.create_image(&i1, "demo-s1-ami-1", json!({}))?;
        let img1 = self.image(R, &ami1)?;
        let enc_of = |img: &Value, dev: &str| {
            img["BlockDeviceMappings"]
                .as_array()
                .and_then(|m| m.iter().find(|x| x["DeviceName"] == dev))
                .map(|x| x["Ebs"]["Encrypted"].clone())
                .unwrap_or(Value::Null)
        };
        self.check_eq(
            &enc_of(&img1, "/dev/xvda"),
            &json!(false),
            "AMI-1 maps /dev/xvda with Encrypted=false",
        )?;
        self.check_eq(
            &enc_of(&img1, "/dev/sdf"),
            &json!(true),
            "AMI-1 maps /dev/sdf with Encrypted=true",
        )?;

        let ami2 = self.copy_image(&ami1, "demo-s1-ami-2", json!({}), NO_PARAMS)?;
        let img2 = self.image(R, &ami2)?;
        self.check_eq(
            &img2["State"],
            &json!("available"),
            &format!("AMI-2 {ami2} is available"),
        )?;
        let devs = |img: &Value| -> Vec<(Value, Value)> {
            let mut v: Vec<(Value, Value)> = img["BlockDeviceMappings"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .map(|x| (x["DeviceName"].clone(), x["Ebs"]["VolumeSize"].clone()))
                        .collect()
                })
                .unwrap_or_default();
            v.sort_by_key(|(d, _)| d.to_string());
            v
        };
        self.check(
            devs(&img1) == devs(&img2),
            "AMI-2 has AMI-1's device names and sizes",
        )?;
        let root1 = self.snapshot_of(R, &ami1, "/dev/xvda")?;
        let data1 = self.snapshot_of(R, &ami1, "/dev/sdf")?;
        let root2 = self.snapshot_of(R, &ami2, "/dev/xvda")?;
        let data2 = self.snapshot_of(R, &ami2, "/dev/sdf")?;
        self.check_unencrypted(&root2, "AMI-2's root snapshot")?;
        self.check_key(&data2, "K1", "AMI-2's data snapshot")?;
        self.check_same_dek(&data1, &data2, "AMI-2's data snapshot and AMI-1's")?;
        let ids: HashSet<String> = [&root1, &data1, &root2, &data2]
            .iter()
            .filter_map(|x| x["SnapshotId"].as_str().map(str::to_owned))
            .collect();
        self.check(
            ids.len() == 4,
            "the four snapshots of AMI-1 and AMI-2 are distinct",
        )?;
        self.check_export(&s(&root2["SnapshotId"])?, base)?;
        self.check_export(&s(&data2["SnapshotId"])?, data)?;

        self.call("DeregisterImage", json!({"ImageId": ami1}))?;
        self.step(&format!("deregistered AMI-1 {ami1}"));
        let i2 = self.run_instance(&ami2, AZ_A, None)?;
        self.step(&format!("launched {i2} from AMI-2"));
        let r = self.volume_at(&i2, "/dev/xvda")?;
        let d = self.volume_at(&i2, "/dev/sdf")?;
        self.check_volume_key(&r, None, "AMI-2 still launches: its root")?;
        self.check_volume_key(&d, Some("K1"), "its /dev/sdf")?;
        let rs = self.snapshot_volume(&s(&r["VolumeId"])?)?;
        let ds = self.snapshot_volume(&s(&d["VolumeId"])?)?;
        self.check_same_dek(
            &ds,
            &data1,
            "the launched /dev/sdf volume and AMI-1's data snapshot",
        )?;
        self.check_export(&s(&rs["SnapshotId"])?, base)?;
        self.check_export(&s(&ds["SnapshotId"])?, data)
    }

    fn s2(&mut self, root: &Disk) -> Result<String> {
        self.heading("S2. Copy an AMI backed by an encrypted root snapshot");
        let snap = self.import(root, Some("K1"))?;
        let ami_e = self.register("demo-s2-ami-e", "/dev/xvda", &snap)?;
        let src = self.snapshot(&snap)?;
        self.check_key(&src, "K1", "AMI-E's root snapshot")?;
        self.check_new_dek(&src, "AMI-E's root snapshot")?;

        let copy = self.copy_image(&ami_e, "demo-s2-copy", json!({}), NO_PARAMS)?;
        let c = self.snapshot_of(R, &copy, "/dev/xvda")?;
        self.check_key(&c, "K1", "the copy's root snapshot")?;
        self.check(
            c["SnapshotId"] != src["SnapshotId"],
            "the copy has its own snapshot",
        )?;
        self.check_same_dek(&c, &src, "the copy and AMI-E (same key, same region)")?;
        self.check_export(&s(&c["SnapshotId"])?, root)?;

        self.step(&format!(
            "variant A: copy into {R2} without encryption parameters"
        ));
        let west = self.copy_image_in(
            R2,
            &ami_e,
            "demo-s2-west",
            json!({}),
            "into us-west-2, no encryption parameters",
        )?;
        let default_w = self.learn_default_key(R2, &format!("the aws/ebs default key of {R2}"))?;
        let ws = self.snapshot_of(R2, &west, "/dev/xvda")?;
        self.check(
            default_w.starts_with(&format!("arn:aws:kms:{R2}:")),
            &format!("{R2}'s default key is a {R2} key ({default_w})"),
        )?;
        let name = self.key_name(&default_w);
        self.check_key(&ws, &name, &format!("the {R2} copy's root snapshot"))?;
        self.check_new_dek(&ws, &format!("the {R2} copy"))?;
        self.check_export_in(R2, &s(&ws["SnapshotId"])?, root)?;

        self.step("variant B: encryption by default on, copy without parameters");
        self.call("EnableEbsEncryptionByDefault", json!({}))?;
        let b = self.copy_image(&ami_e, "demo-s2-ebd", json!({}), NO_PARAMS);
        self.call("DisableEbsEncryptionByDefault", json!({}))?;
        let b = b?;
        let bs = self.snapshot_of(R, &b, "/dev/xvda")?;
        self.check_key(
            &bs,
            "K1",
            "with encryption by default on, the copy's root snapshot",
        )?;
        self.check_same_dek(&bs, &src, "that copy and AMI-E")?;
        Ok(ami_e)
    }

    fn s3(&mut self, ami_u: &str, base_snap: &str, base: &Disk) -> Result<()> {
        self.heading("S3. Encrypt an unencrypted AMI with a chosen key (alias/k2)");
        let copy = self.copy_image(
            ami_u,
            "demo-s3-k2",
            json!({"Encrypted": true, "KmsKeyId": "alias/k2"}),
            "with Encrypted=true, KmsKeyId=alias/k2",
        )?;
        let snap = self.snapshot_of(R, &copy, "/dev/xvda")?;
        self.check_key(
            &snap,
            "K2",
            "the copy's root snapshot (alias resolved to its key)",
        )?;
        self.check_new_dek(&snap, "the copy's root snapshot")?;
        let u = self.snapshot_of(R, ami_u, "/dev/xvda")?;
        self.check_eq(
            &u["SnapshotId"],
            &json!(base_snap),
            "AMI-U still maps its original snapshot",
        )?;
        self.check_unencrypted(&u, "AMI-U's root snapshot")?;

        let k3 = self.key_id("K3")?;
        let k2 = self.key_id("K2")?;
        self.call(
            "UpdateAlias",
            json!({"AliasName": "alias/k2", "TargetKeyId": k3}),
        )?;
        self.step("re-pointed alias/k2 to K3");
        let again = self.snapshot(&s(&snap["SnapshotId"])?)?;
        self.check_key(
            &again,
            "K2",
            "after the alias moved, the copy's root snapshot",
        )?;
        self.call(
            "UpdateAlias",
            json!({"AliasName": "alias/k2", "TargetKeyId": k2}),
        )?;
        self.step("re-pointed alias/k2 back to K2");

        let inst = self.run_instance(&copy, AZ_A, None)?;
        self.step(&format!("launched {inst} from the K2 copy"));
        let rv = self.volume_at(&inst, "/dev/xvda")?;
        self.check_volume_key(&rv, Some("K2"), "its root")?;
        let rs = self.snapshot_volume(&s(&rv["VolumeId"])?)?;
        self.check_same_dek(
            &rs,
            &snap,
            "the launched root volume and the copy's snapshot",
        )?;
        self.check_export(&s(&rs["SnapshotId"])?, base)?;

        let d = self.copy_image(
            ami_u,
            "demo-s3-default",
            json!({"Encrypted": true}),
            "with Encrypted=true only",
        )?;
        let ds = self.snapshot_of(R, &d, "/dev/xvda")?;
        self.check_key(
            &ds,
            "the aws/ebs default key",
            "with Encrypted alone, the copy's root snapshot",
        )?;
        self.check_new_dek(&ds, "the default-key copy")?;

        let before = self.call("DescribeImages", json!({}))?["Images"]
            .as_array()
            .map_or(0, Vec::len);
        self.refused(
            "CopyImage",
            json!({"SourceImageId": ami_u, "SourceRegion": R, "Name": "demo-s3-bad", "KmsKeyId": "alias/k2"}),
            "InvalidParameterDependency",
            "KmsKeyId without Encrypted",
        )?;
        let after = self.call("DescribeImages", json!({}))?["Images"]
            .as_array()
            .map_or(0, Vec::len);
        self.check(before == after, "the refused copy created no image")
    }

    fn s4(&mut self, ami_u: &str, base: &Disk) -> Result<()> {
        self.heading("S4. Create an AMI from an instance with an encrypted root volume");
        let k1 = self.key_id("K1")?;
        let bdm = json!([{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": true, "KmsKeyId": k1}}]);
        let inst = self.run_instance(ami_u, AZ_A, Some(bdm))?;
        self.step(&format!(
            "launched {inst} from AMI-U with its root encrypted under K1 at launch"
        ));
        let rv = self.volume_at(&inst, "/dev/xvda")?;
        self.check_volume_key(&rv, Some("K1"), "its root")?;
        let lineage = self.snapshot_volume(&s(&rv["VolumeId"])?)?;
        self.check_new_dek(&lineage, "the root volume (re-keyed at launch)")?;

        let ami = self.create_image(&inst, "demo-s4-ami", json!({"NoReboot": false}))?;
        let state = self.instance(&inst)?["State"]["Name"].clone();
        self.check_eq(
            &state,
            &json!("running"),
            &format!("{inst} is running again after CreateImage"),
        )?;
        let img = self.image(R, &ami)?;
        self.check_eq(
            &img["BlockDeviceMappings"][0]["Ebs"]["Encrypted"],
            &json!(true),
            "the image maps its root with Encrypted=true",
        )?;
        let snap = self.snapshot_of(R, &ami, "/dev/xvda")?;
        self.check_key(&snap, "K1", "the image's root snapshot")?;
        self.check_same_dek(
            &snap,
            &lineage,
            "the image's root snapshot and the root volume",
        )?;
        self.check_export(&s(&snap["SnapshotId"])?, base)?;
        let i2 = self.run_instance(&ami, AZ_A, None)?;
        let rv2 = self.volume_at(&i2, "/dev/xvda")?;
        self.check_volume_key(
            &rv2,
            Some("K1"),
            &format!("launched from the image, {i2}'s root"),
        )?;

        let bdm_false = json!([{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": false}}]);
        let f = self.create_image(
            &inst,
            "demo-s4-ami-false",
            json!({"BlockDeviceMappings": bdm_false}),
        )?;
        let fs = self.snapshot_of(R, &f, "/dev/xvda")?;
        self.check_key(
            &fs,
            "K1",
            "Encrypted=false in the CreateImage mapping is ignored: root snapshot",
        )?;

        let plain = self.run_instance(ami_u, AZ_A, None)?;
        let bdm_true = json!([{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": true}}]);
        self.refused(
            "CreateImage",
            json!({"InstanceId": plain, "Name": "demo-s4-ami-true", "BlockDeviceMappings": bdm_true}),
            "InvalidBlockDeviceMapping",
            "Encrypted=true for the unencrypted root of an instance",
        )
    }

    fn s5(&mut self, ami_1k: &str, root: &Disk, sdf: &Disk, sdg: &Disk) -> Result<()> {
        self.heading("S5. An AMI with a unique key per snapshot");
        let inst = self.run_instance(ami_1k, AZ_B, None)?;
        self.s5_instance = Some(inst.clone());
        self.step(&format!(
            "launched {inst} in {AZ_B} from AMI-E (root under K1)"
        ));
        let rv = self.volume_at(&inst, "/dev/xvda")?;
        self.check_volume_key(&rv, Some("K1"), "its root")?;
        let s2 = self.import(sdf, Some("K2"))?;
        let s3 = self.import(sdg, Some("K3"))?;
        let mut vols = Vec::new();
        for (snap, key, dev) in [(&s2, "K2", "/dev/sdf"), (&s3, "K3", "/dev/sdg")] {
            let kid = self.key_id(key)?;
            let v = self.call(
                "CreateVolume",
                json!({"AvailabilityZone": AZ_B, "SnapshotId": snap, "Encrypted": true, "KmsKeyId": kid}),
            )?;
            let vol = s(&v["VolumeId"])?;
            self.wait(
                R,
                wait::waiter("VolumeAvailable"),
                "DescribeVolumes",
                json!({"VolumeIds": [vol]}),
            )?;
            self.call(
                "AttachVolume",
                json!({"VolumeId": vol, "InstanceId": inst, "Device": dev}),
            )?;
            let vd = self.volume(&vol)?;
            self.check_volume_key(&vd, Some(key), &format!("the {dev}"))?;
            self.check_eq(
                &vd["State"],
                &json!("in-use"),
                &format!("{vol} is attached at {dev}"),
            )?;
            vols.push(vol);
        }

        let ami_m = self.create_image(&inst, "demo-s5-ami-m", json!({}))?;
        let maps = self.mappings(R, &ami_m)?;
        self.check(
            maps.len() == 3,
            &format!("AMI-M {ami_m} has three mappings"),
        )?;
        let expect: [(&str, &str, &Disk); 3] = [
            ("/dev/xvda", "K1", root),
            ("/dev/sdf", "K2", sdf),
            ("/dev/sdg", "K3", sdg),
        ];
        let mut m_snaps = Vec::new();
        for (dev, key, disk) in expect {
            let snap = self.snapshot_of(R, &ami_m, dev)?;
            self.check_key(&snap, key, &format!("AMI-M's {dev} snapshot"))?;
            self.seen(&snap);
            self.check_export(&s(&snap["SnapshotId"])?, disk)?;
            m_snaps.push(snap);
        }
        let im = self.run_instance(&ami_m, AZ_B, None)?;
        for (dev, key, _) in expect {
            let v = self.volume_at(&im, dev)?;
            self.check_volume_key(&v, Some(key), &format!("launched from AMI-M, {im}'s {dev}"))?;
        }

        let keep = self.copy_image(&ami_m, "demo-s5-keep", json!({}), NO_PARAMS)?;
        for (i, (dev, key, _)) in expect.iter().enumerate() {
            let c = self.snapshot_of(R, &keep, dev)?;
            self.check_key(&c, key, &format!("the plain copy's {dev} snapshot"))?;
            self.check_same_dek(
                &c,
                &m_snaps[i],
                &format!("the plain copy's {dev} and AMI-M's"),
            )?;
        }

        let k4 = self.key_id("K4")?;
        let all4 = self.copy_image(
            &ami_m,
            "demo-s5-k4",
            json!({"Encrypted": true, "KmsKeyId": k4}),
            "with Encrypted=true, KmsKeyId=K4",
        )?;
        for (dev, _, disk) in expect {
            let c = self.snapshot_of(R, &all4, dev)?;
            self.check_key(&c, "K4", &format!("the K4 copy's {dev} snapshot"))?;
            self.check_new_dek(&c, &format!("the K4 copy's {dev} snapshot"))?;
            self.check_export(&s(&c["SnapshotId"])?, disk)?;
        }

        for snap in &m_snaps {
            let id = s(&snap["SnapshotId"])?;
            self.refused(
                "DeleteSnapshot",
                json!({"SnapshotId": id}),
                "InvalidSnapshot.InUse",
                &format!("{id} is used by AMI-M"),
            )?;
        }
        self.call("DeregisterImage", json!({"ImageId": ami_m}))?;
        self.step(&format!("deregistered AMI-M {ami_m}"));
        for snap in &m_snaps {
            let id = s(&snap["SnapshotId"])?;
            self.call("DeleteSnapshot", json!({"SnapshotId": id}))?;
        }
        self.check(
            true,
            "after deregistering AMI-M its three snapshots could be deleted",
        )
    }

    /// The S5 instance mounted with FUSE: dd writes through the mount, create-image while
    /// mounted, a launch of that image, and the bytes read back through a second mount.
    fn fuse_part(&mut self) -> Result<Option<Disk>> {
        self.heading("FUSE: the S5 instance's volumes as block files");
        if let Some(why) = crate::mount::unavailable() {
            self.step(&format!("skipped: {why}"));
            return Ok(None);
        }
        let inst = self.s5_instance.clone().context("S5 ran first")?;
        let opts = |home: &Path| Options {
            home: home.to_owned(),
            region: R.to_owned(),
            profile: "admin".to_owned(),
        };
        let dir = self.scratch.join("mnt-s5");
        std::fs::create_dir_all(&dir)?;
        let engine = Session::open(opts(&self.home)).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mounted = crate::mount::start(engine, &inst, &dir, crate::mount::Flags::default())?;
        let mut names: Vec<String> = std::fs::read_dir(&dir)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()?;
        names.sort();
        self.step(&format!(
            "mounted {inst} on {}: {}",
            dir.display(),
            names.join(", ")
        ));
        self.check(
            names == ["sdf", "sdg", "xvda"],
            "the mount shows one file per attached volume",
        )?;
        let disk = self.disk("fuse-dd", 7, self.size)?;
        let out = std::process::Command::new("dd")
            .arg(format!("if={}", disk.path.display()))
            .arg(format!("of={}", dir.join("sdg").display()))
            .args(["bs=1M", "conv=fsync,notrunc", "status=none"])
            .output()
            .context("run dd")?;
        self.check(out.status.success(), "dd wrote through the mount")?;
        self.step(&format!(
            "dd wrote {} ({}) to {}/sdg, the K3 volume",
            disk.label,
            disk.mib(),
            dir.display()
        ));
        let ami = self.create_image(&inst, "demo-fuse-image", json!({}))?;
        self.step(&format!(
            "created {ami} from {inst} while mounted (writes frozen for one point in time)"
        ));
        let sdg = self.snapshot_of(R, &ami, "/dev/sdg")?;
        self.check_key(&sdg, "K3", "the image's /dev/sdg snapshot")?;
        self.check_export(&s(&sdg["SnapshotId"])?, &disk)?;
        let inst2 = self.run_instance(&ami, AZ_B, None)?;
        let dir2 = self.scratch.join("mnt-launched");
        std::fs::create_dir_all(&dir2)?;
        let engine = Session::open(opts(&self.home)).map_err(|e| anyhow::anyhow!("{e}"))?;
        let second = crate::mount::start(
            engine,
            &inst2,
            &dir2,
            crate::mount::Flags {
                read_only: true,
                ..Default::default()
            },
        )?;
        let mut back = vec![0u8; disk.len as usize];
        File::open(dir2.join("sdg"))?.read_exact(&mut back)?;
        let want = std::fs::read(&disk.path)?;
        self.check(back == want, &format!("launched {inst2} from it; its sdg read through a second mount equals what dd wrote"))?;
        drop(second);
        drop(mounted);
        self.step("unmounted both");
        Ok(Some(disk))
    }

    fn rekey_throughput(&mut self, len: u64) -> Result<Disk> {
        self.heading("Re-keying throughput");
        let disk = self.disk("rekey", 6, len)?;
        let snap = self.import(&disk, Some("K1"))?;
        let src = self.register("demo-rekey-source", "/dev/xvda", &snap)?;
        let k2 = self.key_id("K2")?;
        let t0 = Instant::now();
        let req = json!({"SourceImageId": src, "SourceRegion": R, "Name": "demo-rekey-copy", "Encrypted": true, "KmsKeyId": k2});
        let ami = s(&self.call_with_progress("CopyImage", req)?["ImageId"])?;
        self.wait_image(R, &ami)?;
        let secs = t0.elapsed().as_secs_f64();
        self.step(&format!(
            "copied {src} to {ami}, re-encrypting K1 -> K2, in {secs:.3} s"
        ));
        let c = self.snapshot_of(R, &ami, "/dev/xvda")?;
        self.check_key(&c, "K2", "the re-keyed snapshot")?;
        self.check_new_dek(&c, "the re-keyed snapshot")?;
        self.check_export(&s(&c["SnapshotId"])?, &disk)?;
        let gbps = disk.len as f64 / secs / 1e9;
        say!(
            "  => re-keyed {} of data ({} bytes) in {secs:.3} s: {gbps:.2} GB/s{}",
            disk.mib(),
            disk.len,
            if cfg!(debug_assertions) {
                " (a debug build; the release build is faster)"
            } else {
                ""
            }
        );
        Ok(disk)
    }

    fn scan(&mut self, plain: &Disk, encrypted: &[&Disk]) -> Result<()> {
        self.heading("Plaintext scan of every file in the home");
        self.engine = None;
        let mut files = Vec::new();
        files_under(&self.home, &mut files)?;
        let prefix = MARKER_PREFIX.as_bytes();
        let mut found: Vec<(PathBuf, u64, String)> = Vec::new();
        for f in &files {
            for off in find_all(f, prefix)? {
                // Read the label that follows the prefix.
                let mut fh = File::open(f)?;
                fh.seek(SeekFrom::Start(off + prefix.len() as u64))?;
                let mut tail = [0u8; 32];
                let n = fh.read(&mut tail)?;
                let label: String = tail[..n]
                    .iter()
                    .take_while(|&&b| b != b':')
                    .map(|&b| char::from(b))
                    .collect();
                found.push((f.clone(), off, label));
            }
        }
        self.step(&format!(
            "scanned {} files under {}",
            files.len(),
            self.home.display()
        ));
        let has = |label: &str| found.iter().filter(|(_, _, l)| l == label).count();
        self.check(
            has(plain.label) > 0,
            &format!(
                "the scan finds the marker of {} in the unencrypted snapshot and volumes that hold \
                 it ({} hits; the scan works)",
                plain.label,
                has(plain.label)
            ),
        )?;
        for d in encrypted {
            if let Some((f, off, _)) = found.iter().find(|(_, _, l)| l == d.label) {
                bail!(
                    "check failed: plaintext of encrypted {} found in {} at offset {off}",
                    d.label,
                    f.display()
                );
            }
            self.check(
                true,
                &format!(
                    "no file in the home holds the plaintext marker of {}",
                    d.label
                ),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disks_are_deterministic_and_marked_every_mib() {
        let dir = tempfile::tempdir().unwrap();
        let d = Disk::create("t", 7, 2 * MIB + 100, dir.path()).unwrap();
        let bytes = std::fs::read(&d.path).unwrap();
        assert_eq!(bytes.len() as u64, d.len);
        let m = d.marker();
        for off in [0, MIB as usize, 2 * MIB as usize] {
            assert_eq!(&bytes[off..off + m.len()], m.as_bytes());
        }
        assert_eq!(&bytes[MIB as usize..2 * MIB as usize], &d.chunk(MIB)[..]);
        let other = Disk {
            label: "t",
            seed: 8,
            len: d.len,
            path: PathBuf::new(),
        };
        assert_ne!(d.chunk(0), other.chunk(0), "seeds differ, data differs");
        assert_eq!(
            find_all(&d.path, MARKER_PREFIX.as_bytes()).unwrap(),
            vec![0, MIB, 2 * MIB]
        );
    }

    #[test]
    fn find_all_sees_across_buffer_boundaries_and_holes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut f = File::create(&p).unwrap();
        f.set_len(64 << 20).unwrap();
        let at = (4 << 20) - 3; // straddles the 4 MiB read buffer
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(b"NEEDLE").unwrap();
        f.seek(SeekFrom::Start(40 << 20)).unwrap();
        f.write_all(b"xxNEEDLE").unwrap();
        drop(f);
        assert_eq!(find_all(&p, b"NEEDLE").unwrap(), vec![at, (40 << 20) + 2]);
        let f = File::open(&p).unwrap();
        let ext = data_extents(&f, 0).unwrap();
        assert!(!ext.is_empty() && ext.iter().all(|(a, b)| a < b));
    }
}
