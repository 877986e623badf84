//! Drives the built `blockseal` binary like a user: a fresh home per test, JSON in and out,
//! AWS-style errors and exit codes.

use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_blockseal");
pub const GIB: u64 = 1 << 30;

/// A throw-away home and the commands a user would type against it.
pub struct Home {
    pub dir: tempfile::TempDir,
    pub region: String,
    pub profile: Option<String>,
}

impl Drop for Home {
    /// The scratch folder goes with the home (a suite run left gigabytes of disk images).
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.dir.path().with_extension("scratch"));
    }
}

impl Home {
    pub fn new() -> Home {
        Home {
            dir: tempfile::tempdir().expect("temp dir"),
            region: "us-east-1".into(),
            profile: None,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A scratch file path outside the home (so scans of the home never see plaintext we wrote).
    pub fn scratch(&self, name: &str) -> PathBuf {
        let d = self.dir.path().with_extension("scratch");
        std::fs::create_dir_all(&d).unwrap();
        d.join(name)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.env("BLOCKSEAL_HOME", self.path())
            .env("BLOCKSEAL_REGION", &self.region);
        c.env_remove("BLOCKSEAL_PROFILE")
            .env_remove("BLOCKSEAL_OUTPUT");
        if let Some(p) = &self.profile {
            c.env("BLOCKSEAL_PROFILE", p);
        }
        c.args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run blockseal")
    }

    /// Runs a command that must succeed and returns its JSON output (`null` when it printed
    /// nothing).
    pub fn ok(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "blockseal {args:?} failed ({:?}):\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        let s = String::from_utf8(out.stdout).expect("utf-8 output");
        if s.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&s).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {s}"))
        }
    }

    /// Runs a command that must fail with exit 254 and returns the AWS error code it printed.
    pub fn err(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(
            out.status.code(),
            Some(254),
            "blockseal {args:?}: expected exit 254, stderr:\n{stderr}"
        );
        let start = stderr
            .find("An error occurred (")
            .unwrap_or_else(|| panic!("no AWS error line: {stderr}"));
        let rest = &stderr[start + "An error occurred (".len()..];
        let code = &rest[..rest.find(')').expect("closing paren")];
        assert!(
            rest.contains(" when calling the ") && rest.contains(" operation: "),
            "{stderr}"
        );
        code.to_owned()
    }

    // ----- KMS -----

    /// Creates a customer key; returns (key id, key ARN).
    pub fn create_key(&self, description: &str) -> (String, String) {
        let v = self.ok(&["kms", "create-key", "--description", description]);
        let m = &v["KeyMetadata"];
        (
            m["KeyId"].as_str().unwrap().to_owned(),
            m["Arn"].as_str().unwrap().to_owned(),
        )
    }

    pub fn describe_key_arn(&self, key: &str) -> String {
        self.ok(&["kms", "describe-key", "--key-id", key])["KeyMetadata"]["Arn"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    // ----- EC2 -----

    /// Imports `data` as a snapshot (extra flags appended); returns the snapshot id.
    pub fn import(&self, data: &[u8], extra: &[&str]) -> String {
        let f = self.scratch(&format!("import-{}.raw", rand_tag()));
        std::fs::write(&f, data).unwrap();
        let mut args = vec!["ec2", "import-snapshot", "--file", f.to_str().unwrap()];
        args.extend_from_slice(extra);
        let v = self.ok(&args);
        assert_eq!(v["SnapshotTaskDetail"]["Status"], "completed");
        v["SnapshotTaskDetail"]["SnapshotId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `data` imported (with `import_extra`) and registered as image `name` with its root on
    /// /dev/xvda; returns (snapshot id, image id).
    pub fn root_image(&self, name: &str, data: &[u8], import_extra: &[&str]) -> (String, String) {
        let snap = self.import(data, import_extra);
        let ami = self.register(name, "/dev/xvda", &snap, &[]);
        (snap, ami)
    }

    /// `ec2 create-tags --resources RESOURCES --tags TAGS`, which must succeed.
    pub fn create_tags(&self, resources: &[&str], tags: &[&str]) {
        let mut args = vec!["ec2", "create-tags", "--resources"];
        args.extend_from_slice(resources);
        args.push("--tags");
        args.extend_from_slice(tags);
        self.ok(&args);
    }

    /// `ec2 delete-tags --resources RESOURCES [--tags TAGS]`, which must succeed.
    pub fn delete_tags(&self, resources: &[&str], tags: &[&str]) {
        let mut args = vec!["ec2", "delete-tags", "--resources"];
        args.extend_from_slice(resources);
        if !tags.is_empty() {
            args.push("--tags");
            args.extend_from_slice(tags);
        }
        self.ok(&args);
    }

    pub fn snapshot(&self, id: &str) -> Value {
        let v = self.ok(&["ec2", "describe-snapshots", "--snapshot-ids", id]);
        v["Snapshots"][0].clone()
    }

    pub fn image(&self, id: &str) -> Value {
        let v = self.ok(&["ec2", "describe-images", "--image-ids", id]);
        v["Images"][0].clone()
    }

    pub fn volume(&self, id: &str) -> Value {
        let v = self.ok(&["ec2", "describe-volumes", "--volume-ids", id]);
        v["Volumes"][0].clone()
    }

    pub fn instance(&self, id: &str) -> Value {
        let v = self.ok(&["ec2", "describe-instances", "--instance-ids", id]);
        v["Reservations"][0]["Instances"][0].clone()
    }

    /// Registers an image whose root device maps `root_snap` (plus extra `(device, snap)` pairs).
    pub fn register(
        &self,
        name: &str,
        root_dev: &str,
        root_snap: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let mut bdm =
            vec![serde_json::json!({"DeviceName": root_dev, "Ebs": {"SnapshotId": root_snap}})];
        for (d, s) in extra {
            bdm.push(serde_json::json!({"DeviceName": d, "Ebs": {"SnapshotId": s, "DeleteOnTermination": false}}));
        }
        let bdm = serde_json::to_string(&bdm).unwrap();
        let v = self.ok(&[
            "ec2",
            "register-image",
            "--name",
            name,
            "--root-device-name",
            root_dev,
            "--block-device-mappings",
            &bdm,
        ]);
        v["ImageId"].as_str().unwrap().to_owned()
    }

    /// The snapshot ids of an image, by device name.
    pub fn image_snapshots(&self, image_id: &str) -> Vec<(String, String)> {
        let img = self.image(image_id);
        img["BlockDeviceMappings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["DeviceName"].as_str().unwrap().to_owned(),
                    m["Ebs"]["SnapshotId"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    pub fn snapshot_of(&self, image_id: &str, device: &str) -> Value {
        let (_, sid) = self
            .image_snapshots(image_id)
            .into_iter()
            .find(|(d, _)| d == device)
            .unwrap_or_else(|| panic!("{image_id} maps no {device}"));
        self.snapshot(&sid)
    }

    pub fn run_instance(&self, image_id: &str, extra: &[&str]) -> String {
        let mut args = vec![
            "ec2",
            "run-instances",
            "--image-id",
            image_id,
            "--count",
            "1",
        ];
        args.extend_from_slice(extra);
        let v = self.ok(&args);
        v["Instances"][0]["InstanceId"].as_str().unwrap().to_owned()
    }

    /// `ec2 attach-volume`, which must succeed; returns its response.
    pub fn attach(&self, volume_id: &str, instance_id: &str, device: &str) -> Value {
        self.ok(&[
            "ec2",
            "attach-volume",
            "--volume-id",
            volume_id,
            "--instance-id",
            instance_id,
            "--device",
            device,
        ])
    }

    /// The volume attached at `device` of an instance.
    pub fn volume_at(&self, instance_id: &str, device: &str) -> Value {
        let inst = self.instance(instance_id);
        let m = inst["BlockDeviceMappings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["DeviceName"] == device)
            .unwrap_or_else(|| panic!("{instance_id} has no {device}: {inst}"))
            .clone();
        self.volume(m["Ebs"]["VolumeId"].as_str().unwrap())
    }

    /// Exports a snapshot and asserts its plaintext is `expected` followed by zeros up to the
    /// volume size (holes), the way a user would check with `cmp`.
    pub fn assert_export(&self, snapshot_id: &str, expected: &[u8]) {
        let out = self.scratch(&format!("export-{}.raw", rand_tag()));
        self.ok(&[
            "ec2",
            "export-snapshot",
            "--snapshot-id",
            snapshot_id,
            "--file",
            out.to_str().unwrap(),
        ]);
        let size_gib = self.snapshot(snapshot_id)["VolumeSize"].as_u64().unwrap();
        assert_plain_file(&out, expected, size_gib * GIB);
        std::fs::remove_file(&out).unwrap();
    }

    /// `ec2 export-snapshot` of `snapshot_id` as `profile` (`ACCOUNT:USER`): the file must
    /// hold `expected`, then only zeros.
    pub fn assert_export_as(&self, profile: &str, snapshot_id: &str, expected: &[u8]) {
        let out = self.scratch(&format!("export-{}.raw", rand_tag()));
        let file = out.to_str().unwrap();
        let export = [
            "ec2",
            "export-snapshot",
            "--snapshot-id",
            snapshot_id,
            "--file",
            file,
        ];
        self.ok(&as_profile(profile, &export));
        let got = std::fs::read(&out).unwrap();
        assert_eq!(&got[..expected.len()], expected, "exported bytes differ");
        assert!(got[expected.len()..].iter().all(|&b| b == 0));
        std::fs::remove_file(&out).unwrap();
    }

    /// Shares (`op` "add") or unshares ("remove") image or snapshot `id` with `whom`
    /// (`["--user-ids", ACCOUNT]` or `["--user-groups", "all"]`): `modify-image-attribute`
    /// launchPermission for an `ami-`, `modify-snapshot-attribute` createVolumePermission for a
    /// `snap-`. Must succeed.
    pub fn share(&self, id: &str, op: &str, whom: &[&str]) -> Value {
        let mut args = match id.starts_with("ami-") {
            true => vec!["ec2", "modify-image-attribute", "--image-id", id],
            false => vec!["ec2", "modify-snapshot-attribute", "--snapshot-id", id],
        };
        args.extend(match id.starts_with("ami-") {
            true => ["--attribute", "launchPermission"],
            false => ["--attribute", "createVolumePermission"],
        });
        args.extend(["--operation-type", op]);
        args.extend_from_slice(whom);
        self.ok(&args)
    }

    /// Every file under the home, as (path, bytes).
    pub fn files(&self) -> Vec<PathBuf> {
        fn walk(d: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out)
                } else {
                    out.push(p)
                }
            }
        }
        let mut v = Vec::new();
        walk(self.path(), &mut v);
        v
    }

    /// Asserts the data file of volume or snapshot `id` does not contain `marker`.
    pub fn assert_blob_has_no(&self, id: &str, marker: &[u8]) {
        let f = self.path().join("blobs").join(id);
        assert!(f.exists(), "{} missing", f.display());
        assert_eq!(
            find_in_file(&f, marker),
            None,
            "{} holds plaintext",
            f.display()
        );
    }

    /// Asserts no file under the home contains `marker` (reads data extents only).
    pub fn assert_no_plaintext(&self, marker: &[u8]) {
        for f in self.files() {
            if let Some(off) = find_in_file(&f, marker) {
                panic!(
                    "{} contains the plaintext marker at offset {off}",
                    f.display()
                );
            }
        }
    }
}

/// A JSON string value, or a panic naming what it was instead.
/// `args` run as profile `profile` (`ACCOUNT:USER`, or a user of the first account): the
/// global `--profile` flag, then `args`.
pub fn as_profile<'a>(profile: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--profile", profile];
    v.extend_from_slice(args);
    v
}

pub fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// A short random tag for file names.
pub fn rand_tag() -> String {
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Deterministic pseudo-random bytes (xorshift), `len` long, with `marker` written every 1 MiB
/// and at the very start, so a plaintext scan has something unmistakable to look for.
pub fn image_bytes(len: usize, seed: u64, marker: &[u8]) -> Vec<u8> {
    let mut s = seed | 1;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.extend_from_slice(&s.to_le_bytes());
    }
    v.truncate(len);
    let mut off = 0;
    while off + marker.len() <= len {
        v[off..off + marker.len()].copy_from_slice(marker);
        off += 1 << 20;
    }
    v
}

/// Asserts `path` holds `expected` then zeros, `total` bytes long; the zeros past the data must
/// be holes (the export is sparse).
pub fn assert_plain_file(path: &Path, expected: &[u8], total: u64) {
    let mut f = std::fs::File::open(path).unwrap();
    assert_eq!(
        f.metadata().unwrap().len(),
        total,
        "{} has the wrong size",
        path.display()
    );
    let mut got = vec![0u8; expected.len()];
    f.read_exact(&mut got).unwrap();
    if got != expected {
        let first = got.iter().zip(expected).position(|(a, b)| a != b).unwrap();
        panic!(
            "{}: plaintext differs from what was imported, first at byte {first}",
            path.display()
        );
    }
    // Up to the next MiB the rest is read; past it there must be no data at all.
    let mib = 1u64 << 20;
    let tail_end = ((expected.len() as u64).div_ceil(mib) * mib).min(total);
    let mut tail = vec![0u8; (tail_end - expected.len() as u64) as usize];
    f.read_exact(&mut tail).unwrap();
    assert!(
        tail.iter().all(|&b| b == 0),
        "bytes after the imported data are not zero"
    );
    // Past that, the export must be holes: the blocks it allocates cover the data only.
    use std::os::unix::fs::MetadataExt;
    let allocated = f.metadata().unwrap().blocks() * 512;
    assert!(
        allocated <= tail_end + mib,
        "{} allocates {allocated} bytes for {} bytes of data: the export is not sparse",
        path.display(),
        expected.len()
    );
}

/// Data extents of `f` as (start, end): holes skipped with SEEK_DATA/SEEK_HOLE where the file
/// system supports them, else the whole file.
fn data_extents(f: &std::fs::File) -> Vec<(u64, u64)> {
    use rustix::fs::{seek, SeekFrom as S};
    let size = f.metadata().unwrap().len();
    let mut out = Vec::new();
    let mut pos = 0;
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
    out
}

/// The offset of `needle` in the file's data (holes read as zeros and cannot hold it).
pub fn find_in_file(path: &Path, needle: &[u8]) -> Option<u64> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 4 << 20];
    for (start, end) in data_extents(&f) {
        f.seek(SeekFrom::Start(start)).unwrap();
        let mut window: Vec<u8> = Vec::new();
        let mut wstart = start;
        let mut pos = start;
        while pos < end {
            let want = ((end - pos) as usize).min(buf.len());
            let n = f.read(&mut buf[..want]).unwrap();
            if n == 0 {
                break;
            }
            window.extend_from_slice(&buf[..n]);
            if let Some(i) = window.windows(needle.len()).position(|w| w == needle) {
                return Some(wstart + i as u64);
            }
            let keep = needle.len().saturating_sub(1).min(window.len());
            wstart += (window.len() - keep) as u64;
            window.drain(..window.len() - keep);
            pos += n as u64;
        }
    }
    None
}

/// Whether FUSE mounts can run here (/dev/fuse, root, fusermount3). Under CI (`CI=true`) their
/// absence is a failure; elsewhere the caller skips, and this prints why.
pub fn fuse_usable() -> bool {
    let why = if !Path::new("/dev/fuse").exists() {
        Some("/dev/fuse is missing")
    } else if !rustix::process::geteuid().is_root() {
        Some("not running as root")
    } else if Command::new("fusermount3").arg("-V").output().is_err() {
        Some("fusermount3 is not installed (apt-get install fuse3)")
    } else {
        None
    };
    match why {
        None => true,
        Some(w) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("FUSE tests must run in CI, but {w}")
        }
        Some(w) => {
            eprintln!("no FUSE here: {w}");
            false
        }
    }
}

/// Runs `cmd` with its output captured, or kills it once `limit` has passed and says so in the
/// `Err`: a command that hangs fails its test with what was running instead of stalling the
/// suite.
pub fn output_within(mut cmd: Command, limit: std::time::Duration) -> Result<Output, String> {
    use std::process::Stdio;
    let what = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => Ok(out.unwrap_or_else(|e| panic!("{what}: {e}"))),
        Err(_) => {
            // The child is ours and not yet reaped (its waiter has not returned).
            if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            }
            let _ = rx.recv_timeout(std::time::Duration::from_secs(10));
            Err(format!(
                "{what} did not finish within {limit:?} and was killed"
            ))
        }
    }
}

/// The AWS error code of a failed command's stderr (`An error occurred (CODE) when calling …`).
pub fn aws_error_code(stderr: &str) -> Option<String> {
    let start = stderr.find("An error occurred (")? + "An error occurred (".len();
    let rest = &stderr[start..];
    Some(rest[..rest.find(')')?].to_owned())
}

/// The first offset at or past `from` where `path` holds a non-zero byte (reading data extents
/// only: holes are zeros).
pub fn first_nonzero_from(path: &Path, from: u64) -> Option<u64> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    for (start, end) in data_extents(&f) {
        let mut pos = start.max(from);
        while pos < end {
            let n = ((end - pos) as usize).min(buf.len());
            f.read_exact_at(&mut buf[..n], pos).unwrap();
            if let Some(i) = buf[..n].iter().position(|&b| b != 0) {
                return Some(pos + i as u64);
            }
            pos += n as u64;
        }
    }
    None
}

/// Files left under the home's `tmp/` and `quarantine/` folders: after a clean run, none.
pub fn leftovers(home: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for d in ["tmp", "quarantine"] {
        if let Ok(rd) = std::fs::read_dir(home.join(d)) {
            v.extend(rd.map(|e| e.unwrap().path()));
        }
    }
    v
}
