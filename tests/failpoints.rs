//! Failure story: the process dies (SIGKILL, a power cut of the process) or a durable step fails
//! (an fsync, rename, link or catalog commit answers EIO) in the middle of any state-changing
//! command. Whatever the step, the home must reopen whole: the next command works, every
//! snapshot and volume row has its data file and no data file lacks a row, nothing is left in
//! `tmp/` and nothing is misjudged as foreign (`quarantine/` stays empty), the sources export
//! byte for byte as before, the command's effect is all there or not there at all, and running
//! it again succeeds.
//!
//! The failpoints are the engine's `failpoints` feature (compiled into this test build only),
//! driven by `BLOCKSEAL_FAILPOINTS`: a `trace:` run lists the points a command hits, then the
//! command runs once per point on a copy of a prepared home, dying (`crash:K`) or failing
//! (`error:K`) at the Kth. By default each point gets one of the two modes, alternating, and
//! the points every command hits while opening the home are exercised with the first command
//! only; `BLOCKSEAL_FAILPOINTS_FULL=1` runs both modes at every point of every command.

use crate::support::{image_bytes, s, Home};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

const ENV: &str = "BLOCKSEAL_FAILPOINTS";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Mode {
    Crash,
    Error,
}

/// The prepared home's resources, by role.
struct Fx {
    k1: String,
    k2: String,
    k2_arn: String,
    k3: String,
    k4: String,
    data_plain: Vec<u8>,
    data_enc: Vec<u8>,
    /// A raw image file outside the home, for imports.
    import_file: PathBuf,
    snap_plain: String,
    snap_enc: String,
    snap_x: String,
    snap_d: String,
    ami_enc: String,
    ami_plain: String,
    ami_del: String,
    i_run: String,
    i_stopped: String,
    az: String,
    root_vol: String,
    vol_att: String,
    vol_free: String,
    snaps: Vec<String>,
    vols: Vec<String>,
    images: Vec<String>,
    instances: Vec<String>,
    keys: Vec<String>,
    ebs_default_key: Value,
}

/// What an operation expects of the home it runs in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// A copy of the prepared home.
    Prepared,
    /// A folder that is not a home yet (the first command makes it).
    Empty,
}

/// Prepares a copied home before the command runs.
type Setup = Box<dyn Fn(&Home)>;
/// Whether a command's effect is in the home (see [`Op::applied`]).
type Applied = Box<dyn Fn(&Home, &Fx, &Path) -> bool>;

/// One state-changing command of the campaign.
struct Op {
    name: &'static str,
    start: Start,
    /// The command; `{out}` is replaced by a path outside the home.
    args: Vec<String>,
    /// Runs before the command on each copy (e.g. to leave a crash behind for recovery).
    setup: Option<Setup>,
    /// Whether the command's effect is in the home; checks that it is whole when it is, and
    /// panics on anything partial.
    applied: Applied,
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

fn list(h: &Home, args: &[&str], key: &str) -> Vec<Value> {
    h.ok(args)[key].as_array().cloned().unwrap_or_default()
}

fn snapshots(h: &Home) -> Vec<Value> {
    list(h, &["ec2", "describe-snapshots"], "Snapshots")
}

fn volumes(h: &Home) -> Vec<Value> {
    list(h, &["ec2", "describe-volumes"], "Volumes")
}

fn images(h: &Home) -> Vec<Value> {
    list(h, &["ec2", "describe-images"], "Images")
}

fn instances(h: &Home) -> Vec<Value> {
    list(h, &["ec2", "describe-instances"], "Reservations")
        .iter()
        .flat_map(|r| r["Instances"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn key_ids(h: &Home) -> Vec<String> {
    list(h, &["kms", "list-keys"], "Keys")
        .iter()
        .map(|k| s(&k["KeyId"]))
        .collect()
}

fn key_state(h: &Home, key: &str) -> String {
    s(&h.ok(&["kms", "describe-key", "--key-id", key])["KeyMetadata"]["KeyState"])
}

/// The entries of `all` whose `id_key` is not among `known`; panics if there are more than
/// `most`.
fn new_entries(all: &[Value], id_key: &str, known: &[String], most: usize) -> Vec<Value> {
    let new: Vec<Value> = all
        .iter()
        .filter(|v| !known.contains(&s(&v[id_key])))
        .cloned()
        .collect();
    assert!(
        new.len() <= most,
        "more new {id_key}s than expected: {new:?}"
    );
    new
}

/// The one new snapshot, if any; when there is one it must be completed and export `data`.
fn new_snapshot_exports(h: &Home, fx: &Fx, data: &[u8]) -> Option<Value> {
    let new = new_entries(&snapshots(h), "SnapshotId", &fx.snaps, 1);
    let snap = new.into_iter().next()?;
    assert_eq!(snap["State"], "completed", "{snap}");
    h.assert_export(&s(&snap["SnapshotId"]), data);
    Some(snap)
}

/// The one new volume, if any; when there is one it must be `state`.
fn new_volume(h: &Home, fx: &Fx, state: &str) -> Option<Value> {
    let v = new_entries(&volumes(h), "VolumeId", &fx.vols, 1)
        .into_iter()
        .next()?;
    assert_eq!(v["State"], state, "{v}");
    Some(v)
}

fn instance_state(h: &Home, id: &str) -> String {
    s(&h.instance(id)["State"]["Name"])
}

fn volume_state(h: &Home, id: &str) -> Option<String> {
    volumes(h)
        .into_iter()
        .find(|v| v["VolumeId"] == id)
        .map(|v| s(&v["State"]))
}

/// Builds the home every run starts from: four keys (one disabled), four snapshots, three
/// images, a running instance with an extra volume, a stopped one, a free volume.
fn prepare() -> (Home, Fx) {
    let h = Home::new();
    let (k1, _) = h.create_key("fp-k1");
    let (k2, k2_arn) = h.create_key("fp-k2");
    let (k3, _) = h.create_key("fp-k3");
    let (k4, _) = h.create_key("fp-k4");
    h.ok(&["kms", "disable-key", "--key-id", &k4]);
    let data_plain = image_bytes(192 << 10, 7, b"FAILPOINT-PLAIN");
    let data_enc = image_bytes(256 << 10, 8, b"FAILPOINT-ENCRYPTED");
    let import_file = h.scratch("import.raw");
    std::fs::write(&import_file, &data_plain).unwrap();
    let snap_plain = h.import(&data_plain, &[]);
    let snap_enc = h.import(&data_enc, &["--encrypted", "--kms-key-id", &k1]);
    let snap_x = h.import(&data_plain[..64 << 10], &[]);
    let snap_d = h.import(&data_enc[..32 << 10], &["--encrypted", "--kms-key-id", &k2]);
    let ami_enc = h.register("fp-enc", "/dev/xvda", &snap_enc, &[]);
    let ami_plain = h.register("fp-plain", "/dev/xvda", &snap_plain, &[]);
    let ami_del = h.register("fp-del", "/dev/xvda", &snap_d, &[]);
    let i_run = h.run_instance(&ami_enc, &[]);
    let i_stopped = h.run_instance(&ami_plain, &[]);
    h.ok(&["ec2", "stop-instances", "--instance-ids", &i_stopped]);
    let az = s(&h.instance(&i_run)["Placement"]["AvailabilityZone"]);
    let create_volume = |extra: &[&str]| {
        let mut args = vec!["ec2", "create-volume", "--availability-zone", &az];
        args.extend_from_slice(extra);
        s(&h.ok(&args)["VolumeId"])
    };
    let vol_att = create_volume(&["--snapshot-id", &snap_plain]);
    h.attach(&vol_att, &i_run, "/dev/sdf");
    let vol_free = create_volume(&["--size", "1"]);
    let root_vol = s(&h.volume_at(&i_run, "/dev/xvda")["VolumeId"]);
    let ids = |v: Vec<Value>, k: &str| v.iter().map(|x| s(&x[k])).collect::<Vec<_>>();
    let fx = Fx {
        snaps: ids(snapshots(&h), "SnapshotId"),
        vols: ids(volumes(&h), "VolumeId"),
        images: ids(images(&h), "ImageId"),
        instances: ids(instances(&h), "InstanceId"),
        keys: key_ids(&h),
        ebs_default_key: h.ok(&["ec2", "get-ebs-default-kms-key-id"])["KmsKeyId"].clone(),
        k1,
        k2,
        k2_arn,
        k3,
        k4,
        data_plain,
        data_enc,
        import_file,
        snap_plain,
        snap_enc,
        snap_x,
        snap_d,
        ami_enc,
        ami_plain,
        ami_del,
        i_run,
        i_stopped,
        az,
        root_vol,
        vol_att,
        vol_free,
    };
    assert_eq!(fx.snaps.len(), 4);
    assert_eq!(fx.vols.len(), 4);
    (h, fx)
}

/// A copy of `from` (`cp -a`, as a backup would be made), or an empty folder.
fn copy_home(from: &Home, start: Start) -> Home {
    let h = Home::new();
    if start == Start::Prepared {
        let st = std::process::Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", from.path().display()))
            .arg(h.path())
            .status()
            .unwrap();
        assert!(st.success());
    }
    h
}

fn args_for(op: &Op, out: &Path) -> Vec<String> {
    let out = out.to_str().unwrap();
    op.args.iter().map(|a| a.replace("{out}", out)).collect()
}

/// The points `op` hits, in order, in a successful run.
fn trace(prepared: &Home, op: &Op) -> Vec<String> {
    let h = copy_home(prepared, op.start);
    if let Some(setup) = &op.setup {
        setup(&h);
    }
    let path = h.scratch("trace");
    let out = h.scratch("out.raw");
    let args = args_for(op, &out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = h
        .command(&args)
        .env(ENV, format!("trace:{}", path.display()))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}: {}",
        op.name,
        String::from_utf8_lossy(&run.stderr)
    );
    std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The files of a home folder, by name.
fn names(dir: &Path) -> BTreeSet<String> {
    match std::fs::read_dir(dir) {
        Ok(d) => d
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
        Err(e) => panic!("{}: {e}", dir.display()),
    }
}

/// The invariants every home must hold after a faulted command and the next command's
/// recovery: rows and files agree, nothing left in `tmp/` or moved to `quarantine/`.
fn check_files(h: &Home, what: &str, quarantined: &[&str]) {
    let snaps = snapshots(h);
    let vols = volumes(h);
    let mut rows = BTreeSet::new();
    for (list, id) in [(&snaps, "SnapshotId"), (&vols, "VolumeId")] {
        for v in list {
            assert_ne!(v["State"], "error", "{what}: {v}");
            rows.insert(s(&v[id]));
        }
    }
    assert_eq!(
        names(&h.path().join("blobs")),
        rows,
        "{what}: the data files and the catalog's rows disagree"
    );
    assert_eq!(
        names(&h.path().join("tmp")),
        BTreeSet::new(),
        "{what}: tmp/ not empty after the next command"
    );
    let want: BTreeSet<String> = quarantined.iter().map(|q| (*q).to_owned()).collect();
    assert_eq!(
        names(&h.path().join("quarantine")),
        want,
        "{what}: quarantine/ holds files"
    );
}

/// Runs `op` once with the fault `mode` at its `k`th point, on a fresh copy, and checks the
/// home afterwards.
fn run_faulted(prepared: &Home, fx: &Fx, op: &Op, k: usize, point: &str, mode: Mode) {
    let what = format!("{} {mode:?} at point {k} ({point})", op.name);
    let h = copy_home(prepared, op.start);
    if let Some(setup) = &op.setup {
        setup(&h);
    }
    let out = h.scratch("out.raw");
    let args = args_for(op, &out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let spec = match mode {
        Mode::Crash => format!("crash:{k}"),
        Mode::Error => format!("error:{k}"),
    };
    let run = h.command(&args).env(ENV, spec).output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    match mode {
        Mode::Crash => assert_eq!(
            run.status.signal(),
            Some(libc::SIGKILL),
            "{what}: the process did not die at the point: {stderr}"
        ),
        // The step's failure is reported as an AWS error (or absorbed where the step is best
        // effort); never a panic.
        Mode::Error => assert!(
            matches!(run.status.code(), Some(0) | Some(254)),
            "{what}: exit {:?}: {stderr}",
            run.status
        ),
    }
    if mode == Mode::Error && run.status.code() == Some(254) {
        assert!(
            stderr.contains("(InternalError)") && stderr.contains("Input/output error"),
            "{what}: {stderr}"
        );
    }
    // The next command works and recovers; then the invariants.
    let quarantined: Vec<&str> = match op.name {
        "recovery: quarantine a foreign file" => vec![FOREIGN],
        _ => vec![],
    };
    check_files(&h, &what, &quarantined);
    if op.start == Start::Prepared {
        h.assert_export(&fx.snap_plain, &fx.data_plain);
        h.assert_export(&fx.snap_enc, &fx.data_enc);
    } else {
        assert!(
            h.path().join("kms-root.key").exists(),
            "{what}: no root key"
        );
        let left: Vec<_> = names(h.path())
            .into_iter()
            .filter(|n| n.starts_with(".kms-root.key.tmp-"))
            .collect();
        assert!(left.is_empty(), "{what}: {left:?}");
    }
    if !(op.applied)(&h, fx, &out) {
        // Nothing of it happened: the same command now succeeds, whole.
        h.ok(&args);
        assert!(
            (op.applied)(&h, fx, &out),
            "{what}: the retry had no effect"
        );
        check_files(&h, &format!("{what}, retried"), &quarantined);
    }
}

/// A file copied into `blobs/` by hand, which no row owns.
const FOREIGN: &str = "vol-0fa11fa11fa11fa11";

fn ops(prepared: &Home, fx: &Fx) -> Vec<Op> {
    let mut v = Vec::new();
    let mut op = |name: &'static str, args: &[&str], applied: Applied| {
        v.push(Op {
            name,
            start: Start::Prepared,
            args: strs(args),
            setup: None,
            applied,
        })
    };
    let import = fx.import_file.to_str().unwrap();
    op(
        "import-snapshot",
        &["ec2", "import-snapshot", "--file", import],
        Box::new(|h, fx, _| {
            new_snapshot_exports(h, fx, &fx.data_plain).is_some_and(|s| s["Encrypted"] == false)
        }),
    );
    op(
        "import-snapshot encrypted",
        &[
            "ec2",
            "import-snapshot",
            "--file",
            import,
            "--encrypted",
            "--kms-key-id",
            &fx.k2,
        ],
        Box::new(|h, fx, _| {
            new_snapshot_exports(h, fx, &fx.data_plain)
                .is_some_and(|s| s["KmsKeyId"] == fx.k2_arn.as_str())
        }),
    );
    op(
        "copy-snapshot same key",
        &[
            "ec2",
            "copy-snapshot",
            "--source-snapshot-id",
            &fx.snap_enc,
            "--source-region",
            "us-east-1",
        ],
        Box::new(|h, fx, _| new_snapshot_exports(h, fx, &fx.data_enc).is_some()),
    );
    op(
        "copy-snapshot re-key",
        &[
            "ec2",
            "copy-snapshot",
            "--source-snapshot-id",
            &fx.snap_enc,
            "--source-region",
            "us-east-1",
            "--encrypted",
            "--kms-key-id",
            &fx.k2,
        ],
        Box::new(|h, fx, _| {
            new_snapshot_exports(h, fx, &fx.data_enc)
                .is_some_and(|s| s["KmsKeyId"] == fx.k2_arn.as_str())
        }),
    );
    let copy_image = |src: &str, name: &str, extra: &[&str]| {
        let mut a = vec![
            "ec2",
            "copy-image",
            "--source-image-id",
            src,
            "--source-region",
            "us-east-1",
            "--name",
            name,
        ];
        a.extend_from_slice(extra);
        strs(&a)
    };
    // An image copy is its image and its snapshot, both or neither.
    fn image_copied(h: &Home, fx: &Fx, data: &[u8], key: Option<&str>) -> bool {
        let img = new_entries(&images(h), "ImageId", &fx.images, 1);
        let snap = new_snapshot_exports(h, fx, data);
        match (img.first(), snap) {
            (None, None) => false,
            (Some(i), Some(sn)) => {
                assert_eq!(i["State"], "available", "{i}");
                assert_eq!(
                    i["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"],
                    sn["SnapshotId"]
                );
                if let Some(k) = key {
                    assert_eq!(sn["KmsKeyId"], k);
                }
                true
            }
            (i, sn) => panic!("half an image copy: image {i:?}, snapshot {sn:?}"),
        }
    }
    let mut push = |name, args: Vec<String>, applied: Applied| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        op(name, &a, applied)
    };
    push(
        "copy-image preserve",
        copy_image(&fx.ami_enc, "fp-copy", &[]),
        Box::new(|h, fx, _| image_copied(h, fx, &fx.data_enc, None)),
    );
    push(
        "copy-image encrypt",
        copy_image(
            &fx.ami_plain,
            "fp-copy",
            &["--encrypted", "--kms-key-id", &fx.k1],
        ),
        Box::new(|h, fx, _| image_copied(h, fx, &fx.data_plain, None)),
    );
    push(
        "copy-image re-key",
        copy_image(
            &fx.ami_enc,
            "fp-copy",
            &["--encrypted", "--kms-key-id", &fx.k2],
        ),
        Box::new(|h, fx, _| image_copied(h, fx, &fx.data_enc, Some(&fx.k2_arn))),
    );
    let bdm = format!(
        r#"[{{"DeviceName":"/dev/xvda","Ebs":{{"SnapshotId":"{}"}}}}]"#,
        fx.snap_plain
    );
    op(
        "register-image",
        &[
            "ec2",
            "register-image",
            "--name",
            "fp-reg",
            "--root-device-name",
            "/dev/xvda",
            "--block-device-mappings",
            &bdm,
        ],
        Box::new(|h, fx, _| !new_entries(&images(h), "ImageId", &fx.images, 1).is_empty()),
    );
    op(
        "deregister-image with its snapshot",
        &[
            "ec2",
            "deregister-image",
            "--image-id",
            &fx.ami_del,
            "--delete-associated-snapshots",
        ],
        Box::new(|h, fx, _| {
            let img = images(h)
                .iter()
                .any(|i| i["ImageId"] == fx.ami_del.as_str());
            let snap = snapshots(h)
                .iter()
                .any(|x| x["SnapshotId"] == fx.snap_d.as_str());
            assert_eq!(img, snap, "image and snapshot must go together");
            !img
        }),
    );
    let az = fx.az.as_str();
    op(
        "create-volume empty",
        &[
            "ec2",
            "create-volume",
            "--availability-zone",
            az,
            "--size",
            "1",
        ],
        Box::new(|h, fx, _| new_volume(h, fx, "available").is_some()),
    );
    op(
        "create-volume from snapshot",
        &[
            "ec2",
            "create-volume",
            "--availability-zone",
            az,
            "--snapshot-id",
            &fx.snap_enc,
        ],
        Box::new(|h, fx, _| new_volume(h, fx, "available").is_some()),
    );
    op(
        "create-volume encrypted",
        &[
            "ec2",
            "create-volume",
            "--availability-zone",
            az,
            "--snapshot-id",
            &fx.snap_plain,
            "--encrypted",
            "--kms-key-id",
            &fx.k2,
        ],
        Box::new(|h, fx, _| {
            new_volume(h, fx, "available").is_some_and(|v| v["KmsKeyId"] == fx.k2_arn.as_str())
        }),
    );
    op(
        "delete-volume",
        &["ec2", "delete-volume", "--volume-id", &fx.vol_free],
        Box::new(|h, fx, _| volume_state(h, &fx.vol_free).is_none()),
    );
    op(
        "create-snapshot",
        &["ec2", "create-snapshot", "--volume-id", &fx.root_vol],
        Box::new(|h, fx, _| new_snapshot_exports(h, fx, &fx.data_enc).is_some()),
    );
    op(
        "delete-snapshot",
        &["ec2", "delete-snapshot", "--snapshot-id", &fx.snap_x],
        Box::new(|h, fx, _| {
            !snapshots(h)
                .iter()
                .any(|x| x["SnapshotId"] == fx.snap_x.as_str())
        }),
    );
    op(
        "run-instances",
        &[
            "ec2",
            "run-instances",
            "--image-id",
            &fx.ami_enc,
            "--count",
            "1",
        ],
        Box::new(|h, fx, _| {
            let inst = new_entries(&instances(h), "InstanceId", &fx.instances, 1);
            let vol = new_volume(h, fx, "in-use");
            match (inst.first(), vol) {
                (None, None) => false,
                (Some(i), Some(v)) => {
                    assert_eq!(i["State"]["Name"], "running", "{i}");
                    assert_eq!(v["Attachments"][0]["InstanceId"], i["InstanceId"]);
                    true
                }
                (i, v) => panic!("half a launch: instance {i:?}, volume {v:?}"),
            }
        }),
    );
    op(
        "create-image",
        &[
            "ec2",
            "create-image",
            "--instance-id",
            &fx.i_run,
            "--name",
            "fp-captured",
        ],
        Box::new(|h, fx, _| {
            let img = new_entries(&images(h), "ImageId", &fx.images, 1);
            let snaps = new_entries(&snapshots(h), "SnapshotId", &fx.snaps, 2);
            match (img.first(), snaps.len()) {
                (None, 0) => false,
                (Some(i), 2) => {
                    assert_eq!(i["State"], "available", "{i}");
                    for m in i["BlockDeviceMappings"].as_array().unwrap() {
                        let data = match m["DeviceName"].as_str().unwrap() {
                            "/dev/xvda" => &fx.data_enc,
                            _ => &fx.data_plain,
                        };
                        h.assert_export(&s(&m["Ebs"]["SnapshotId"]), data);
                    }
                    true
                }
                (i, n) => panic!("half an image: {i:?} with {n} new snapshots"),
            }
        }),
    );
    op(
        "stop-instances",
        &["ec2", "stop-instances", "--instance-ids", &fx.i_run],
        Box::new(|h, fx, _| instance_state(h, &fx.i_run) == "stopped"),
    );
    op(
        "start-instances",
        &["ec2", "start-instances", "--instance-ids", &fx.i_stopped],
        Box::new(|h, fx, _| instance_state(h, &fx.i_stopped) == "running"),
    );
    op(
        "terminate-instances",
        &["ec2", "terminate-instances", "--instance-ids", &fx.i_run],
        Box::new(|h, fx, _| {
            let done = instance_state(h, &fx.i_run) == "terminated";
            // The root volume goes with the instance; the attached one stays, detached.
            let (root, att) = (volume_state(h, &fx.root_vol), volume_state(h, &fx.vol_att));
            if done {
                assert_eq!((root, att.as_deref()), (None, Some("available")));
            } else {
                assert_eq!(
                    (root.as_deref(), att.as_deref()),
                    (Some("in-use"), Some("in-use"))
                );
            }
            done
        }),
    );
    op(
        "attach-volume",
        &[
            "ec2",
            "attach-volume",
            "--volume-id",
            &fx.vol_free,
            "--instance-id",
            &fx.i_run,
            "--device",
            "/dev/sdg",
        ],
        Box::new(|h, fx, _| volume_state(h, &fx.vol_free).as_deref() == Some("in-use")),
    );
    op(
        "detach-volume",
        &["ec2", "detach-volume", "--volume-id", &fx.vol_att],
        Box::new(|h, fx, _| volume_state(h, &fx.vol_att).as_deref() == Some("available")),
    );
    op(
        "export-snapshot",
        &[
            "ec2",
            "export-snapshot",
            "--snapshot-id",
            &fx.snap_enc,
            "--file",
            "{out}",
        ],
        Box::new(|_, fx, out| {
            // The destination is there whole, or not at all; nothing else beside it.
            let dir = names(out.parent().unwrap());
            let others: Vec<_> = dir.iter().filter(|n| *n != "out.raw").collect();
            assert!(others.is_empty(), "export left {others:?}");
            if !out.exists() {
                return false;
            }
            crate::support::assert_plain_file(out, &fx.data_enc, crate::support::GIB);
            true
        }),
    );
    op(
        "kms create-key",
        &["kms", "create-key", "--description", "fp-new"],
        Box::new(|h, fx, _| {
            let all = key_ids(h);
            let new: Vec<_> = all.iter().filter(|k| !fx.keys.contains(k)).collect();
            assert!(new.len() <= 1, "{new:?}");
            !new.is_empty()
        }),
    );
    op(
        "kms create-alias",
        &[
            "kms",
            "create-alias",
            "--alias-name",
            "alias/fp-new",
            "--target-key-id",
            &fx.k2,
        ],
        Box::new(|h, fx, _| {
            let a = list(h, &["kms", "list-aliases"], "Aliases");
            match a.iter().find(|a| a["AliasName"] == "alias/fp-new") {
                Some(a) => {
                    assert_eq!(a["TargetKeyId"], fx.k2.as_str());
                    true
                }
                None => false,
            }
        }),
    );
    op(
        "kms schedule-key-deletion",
        &[
            "kms",
            "schedule-key-deletion",
            "--key-id",
            &fx.k3,
            "--pending-window-in-days",
            "7",
        ],
        Box::new(|h, fx, _| key_state(h, &fx.k3) == "PendingDeletion"),
    );
    op(
        "kms disable-key",
        &["kms", "disable-key", "--key-id", &fx.k2],
        Box::new(|h, fx, _| key_state(h, &fx.k2) == "Disabled"),
    );
    op(
        "kms enable-key",
        &["kms", "enable-key", "--key-id", &fx.k4],
        Box::new(|h, fx, _| key_state(h, &fx.k4) == "Enabled"),
    );
    op(
        "kms create-grant",
        &[
            "kms",
            "create-grant",
            "--key-id",
            &fx.k1,
            "--grantee-principal",
            "bob",
            "--operations",
            "Decrypt",
        ],
        Box::new(|h, fx, _| {
            // Only bob's: the fixture's attached volumes under k1 have EC2's grants too.
            let bobs = [
                "kms",
                "list-grants",
                "--key-id",
                &fx.k1,
                "--grantee-principal",
                "bob",
            ];
            let n = list(h, &bobs, "Grants").len();
            assert!(n <= 1);
            n == 1
        }),
    );
    op(
        "modify-ebs-default-kms-key-id",
        &[
            "ec2",
            "modify-ebs-default-kms-key-id",
            "--kms-key-id",
            &fx.k2,
        ],
        Box::new(|h, fx, _| {
            let now = h.ok(&["ec2", "get-ebs-default-kms-key-id"])["KmsKeyId"].clone();
            if now == fx.ebs_default_key {
                return false;
            }
            assert!(s(&now).contains(&fx.k2), "{now}");
            true
        }),
    );
    op(
        "enable-ebs-encryption-by-default",
        &["ec2", "enable-ebs-encryption-by-default"],
        Box::new(|h, _, _| {
            h.ok(&["ec2", "get-ebs-encryption-by-default"])["EbsEncryptionByDefault"] == true
        }),
    );
    // The first command of a new home makes its catalog and KMS root key.
    v.push(Op {
        name: "first command of a new home",
        start: Start::Empty,
        args: strs(&["kms", "create-key", "--description", "first"]),
        setup: None,
        applied: Box::new(|h, _, _| {
            let n = key_ids(h).len();
            assert!(n <= 1);
            n == 1
        }),
    });
    // Recovery itself: a copy-image killed right after renaming its file into place leaves
    // that file and its commit marker; the next command removes both.
    let ci = Op {
        name: "copy-image",
        start: Start::Prepared,
        args: copy_image(&fx.ami_enc, "fp-crashed", &[]),
        setup: None,
        applied: Box::new(|_, _, _| true),
    };
    let after_rename = trace(prepared, &ci)
        .iter()
        .position(|p| p == "blob.rename")
        .expect("copy-image renames a file")
        + 2;
    let ci_args = ci.args.clone();
    v.push(Op {
        name: "recovery: finish a crashed copy",
        start: Start::Prepared,
        args: strs(&["ec2", "describe-images"]),
        setup: Some(Box::new(move |h| {
            let a: Vec<&str> = ci_args.iter().map(String::as_str).collect();
            let run = h
                .command(&a)
                .env(ENV, format!("crash:{after_rename}"))
                .output()
                .unwrap();
            assert_eq!(run.status.signal(), Some(libc::SIGKILL));
            assert!(!names(&h.path().join("tmp")).is_empty());
        })),
        applied: Box::new(|h, fx, _| {
            assert!(new_entries(&images(h), "ImageId", &fx.images, 0).is_empty());
            true
        }),
    });
    // Recovery of a file nothing explains: quarantined, never deleted.
    v.push(Op {
        name: "recovery: quarantine a foreign file",
        start: Start::Prepared,
        args: strs(&["ec2", "describe-volumes"]),
        setup: Some(Box::new(|h| {
            std::fs::write(h.path().join("blobs").join(FOREIGN), b"not ours").unwrap();
        })),
        applied: Box::new(|h, _, _| {
            let q = h.path().join("quarantine").join(FOREIGN);
            assert_eq!(std::fs::read(q).unwrap(), b"not ours");
            true
        }),
    });
    v
}

#[test]
fn every_durable_step_of_every_operation_survives_a_crash_or_an_error() {
    let full = std::env::var_os("BLOCKSEAL_FAILPOINTS_FULL").is_some();
    let (prepared, fx) = prepare();
    let ops = ops(&prepared, &fx);
    // The points every command hits while opening the home, before its own work.
    let opening = trace(
        &prepared,
        &Op {
            name: "open",
            start: Start::Prepared,
            args: strs(&["kms", "list-keys"]),
            setup: None,
            applied: Box::new(|_, _, _| true),
        },
    );
    assert!(!opening.is_empty(), "opening a home commits its recovery");
    let mut runs: BTreeMap<Mode, usize> = BTreeMap::new();
    let mut exercised: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    let mut total_points = 0;
    for (i, op) in ops.iter().enumerate() {
        let points = trace(&prepared, op);
        let own = points.len().saturating_sub(opening.len());
        if !op.name.starts_with("recovery") {
            assert!(
                own > 0,
                "{}: no durable step of its own: {points:?}",
                op.name
            );
        }
        total_points += points.len();
        for (k0, point) in points.iter().enumerate() {
            let k = k0 + 1;
            let opening_point = k <= opening.len() && points[..opening.len()] == opening[..];
            if !full && opening_point && i > 0 {
                continue;
            }
            let modes: &[Mode] = match (full, (i + k) % 2) {
                (true, _) => &[Mode::Crash, Mode::Error],
                (false, 0) => &[Mode::Crash],
                (false, _) => &[Mode::Error],
            };
            for &mode in modes {
                run_faulted(&prepared, &fx, op, k, point, mode);
                *runs.entry(mode).or_default() += 1;
                exercised.entry(point.clone()).or_default().insert(op.name);
            }
        }
    }
    // Every kind of durable step was reached: none silently lost its failpoint.
    for p in [
        "catalog.commit.before",
        "catalog.commit.after",
        "blob.temp.fsync",
        "blob.marker.create",
        "blob.marker.fsync",
        "blob.tmp-dir.fsync",
        "blob.rename",
        "blob.blobs-dir.fsync",
        "blob.marker.remove",
        "blob.delete.remove",
        "blob.recover.remove",
        "blob.quarantine.rename",
        "blob.quarantine-dir.fsync",
        "kms.root-key.create",
        "kms.root-key.fsync",
        "kms.home-dir.fsync",
        "kms.root-key.link",
        "kms.root-key.remove-temp",
        "export.fsync",
        "export.link",
        "export.dir.fsync",
    ] {
        assert!(exercised.contains_key(p), "failpoint {p} never exercised");
    }
    let n_runs: usize = runs.values().sum();
    println!(
        "failpoints campaign: {} operations, {} point hits in their traces, {} distinct \
         points, {} faulted runs ({} crash, {} error{}), nothing lost",
        ops.len(),
        total_points,
        exercised.len(),
        n_runs,
        runs.get(&Mode::Crash).unwrap_or(&0),
        runs.get(&Mode::Error).unwrap_or(&0),
        if full { ", full set" } else { "" }
    );
}
