//! Bad input: each gets its AWS-style code and exit 254 (252 for usage errors), and changes
//! nothing stored.

use crate::support::{image_bytes, s, Home};
use serde_json::json;

/// Everything a user can see: every Describe* and every file in the home with its size.
fn state(h: &Home) -> String {
    let mut out = String::new();
    for cmd in [
        "describe-images",
        "describe-snapshots",
        "describe-volumes",
        "describe-instances",
    ] {
        out.push_str(&h.ok(&["ec2", cmd]).to_string());
    }
    out.push_str(&h.ok(&["kms", "list-keys"]).to_string());
    let mut files: Vec<String> = h
        .files()
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains("catalog.db"))
        .map(|p| format!("{} {}", p.display(), std::fs::metadata(&p).unwrap().len()))
        .collect();
    files.sort();
    out.push_str(&files.join("\n"));
    out
}

/// Asserts `args` fails with `code` and exit 254, and that nothing visible changed.
fn refused(h: &Home, args: &[&str], code: &str) {
    let before = state(h);
    assert_eq!(h.err(args), code, "{args:?}");
    assert_eq!(state(h), before, "{args:?} changed something");
}

struct World {
    h: Home,
    k1: String,
    ami: String,
    inst: String,
    snap: String,
}

fn world() -> World {
    let h = Home::new();
    let (k1, _) = h.create_key("K1");
    let snap = h.import(
        &image_bytes(1 << 20, 3, b"BAD-INPUT-PLAIN"),
        &["--encrypted", "--kms-key-id", &k1],
    );
    let ami = h.register("bad-input", "/dev/xvda", &snap, &[]);
    let inst = h.run_instance(&ami, &[]);
    World {
        h,
        k1,
        ami,
        inst,
        snap,
    }
}

#[test]
fn malformed_and_unknown_ids() {
    let w = world();
    let h = &w.h;
    refused(
        h,
        &["ec2", "describe-images", "--image-ids", "ami-xyz"],
        "InvalidAMIID.Malformed",
    );
    refused(
        h,
        &[
            "ec2",
            "describe-images",
            "--image-ids",
            "ami-0123456789abcdef0",
        ],
        "InvalidAMIID.NotFound",
    );
    refused(
        h,
        &["ec2", "describe-snapshots", "--snapshot-ids", "snap-1"],
        "InvalidSnapshotID.Malformed",
    );
    refused(
        h,
        &[
            "ec2",
            "describe-snapshots",
            "--snapshot-ids",
            "snap-0123456789abcdef0",
        ],
        "InvalidSnapshot.NotFound",
    );
    refused(
        h,
        &["ec2", "describe-volumes", "--volume-ids", "volume-1"],
        "InvalidVolumeID.Malformed",
    );
    refused(
        h,
        &[
            "ec2",
            "delete-volume",
            "--volume-id",
            "vol-0123456789abcdef0",
        ],
        "InvalidVolume.NotFound",
    );
    refused(
        h,
        &["ec2", "terminate-instances", "--instance-ids", "i-zz"],
        "InvalidInstanceID.Malformed",
    );
    refused(
        h,
        &[
            "ec2",
            "stop-instances",
            "--instance-ids",
            "i-0123456789abcdef0",
        ],
        "InvalidInstanceID.NotFound",
    );
    refused(
        h,
        &[
            "ec2",
            "copy-image",
            "--source-image-id",
            "ami-bad",
            "--source-region",
            "us-east-1",
            "--name",
            "x-y-z",
        ],
        "InvalidAMIID.Malformed",
    );
    refused(
        h,
        &[
            "ec2",
            "run-instances",
            "--image-id",
            "ami-0123456789abcdef0",
        ],
        "InvalidAMIID.NotFound",
    );
    refused(
        h,
        &["kms", "describe-key", "--key-id", "not-a-key"],
        "NotFoundException",
    );
    refused(
        h,
        &["kms", "describe-key", "--key-id", "alias/none"],
        "NotFoundException",
    );
    // The other region does not see this region's resources.
    refused(
        h,
        &[
            "--region",
            "us-west-2",
            "ec2",
            "describe-images",
            "--image-ids",
            &w.ami,
        ],
        "InvalidAMIID.NotFound",
    );
    let _ = (&w.k1, &w.inst, &w.snap);
}

#[test]
fn bad_mapping_json_and_missing_files() {
    let w = world();
    let h = &w.h;
    // Not JSON at all: a usage error, like the AWS CLI's (exit 252), and nothing changes.
    let before = state(h);
    let out = h.run(&[
        "ec2",
        "run-instances",
        "--image-id",
        &w.ami,
        "--block-device-mappings",
        "[{\"DeviceName\": ",
    ]);
    assert_eq!(
        out.status.code(),
        Some(252),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(state(h), before);
    // JSON of the wrong shape: the service refuses it.
    let unknown_field = json!([{"DeviceName": "/dev/sdf", "Ebz": {"VolumeSize": 1}}]).to_string();
    refused(
        h,
        &[
            "ec2",
            "run-instances",
            "--image-id",
            &w.ami,
            "--block-device-mappings",
            &unknown_field,
        ],
        "InvalidParameterValue",
    );
    let no_ebs = json!([{"DeviceName": "/dev/sdf"}]).to_string();
    refused(
        h,
        &[
            "ec2",
            "run-instances",
            "--image-id",
            &w.ami,
            "--block-device-mappings",
            &no_ebs,
        ],
        "MissingParameter",
    );
    let nvme = json!([{"DeviceName": "/dev/nvme1n1", "Ebs": {"VolumeSize": 1}}]).to_string();
    refused(
        h,
        &[
            "ec2",
            "run-instances",
            "--image-id",
            &w.ami,
            "--block-device-mappings",
            &nvme,
        ],
        "InvalidParameterValue",
    );
    let no_root = json!([{"DeviceName": "/dev/sdf", "Ebs": {"SnapshotId": w.snap}}]).to_string();
    refused(
        h,
        &[
            "ec2",
            "register-image",
            "--name",
            "no-root",
            "--root-device-name",
            "/dev/xvda",
            "--block-device-mappings",
            &no_root,
        ],
        "InvalidBlockDeviceMapping",
    );
    // A missing import file.
    refused(
        h,
        &["ec2", "import-snapshot", "--file", "/nonexistent/disk.raw"],
        "InvalidParameterValue",
    );
    // A file:// argument that does not exist is a usage error.
    let out = h.run(&[
        "ec2",
        "register-image",
        "--name",
        "x-y-z",
        "--root-device-name",
        "/dev/xvda",
        "--block-device-mappings",
        "file:///nonexistent.json",
    ]);
    assert_eq!(out.status.code(), Some(252));
}

#[test]
fn a_corrupt_snapshot_header_is_detected_on_use() {
    let w = world();
    let h = &w.h;
    let file = h.path().join("blobs").join(&w.snap);
    let mut bytes = std::fs::read(&file).unwrap();
    for offset in [8usize, 200, 1000] {
        bytes[offset] ^= 0x01;
        std::fs::write(&file, &bytes).unwrap();
        let out = h.scratch("corrupt.raw");
        refused(
            h,
            &[
                "ec2",
                "export-snapshot",
                "--snapshot-id",
                &w.snap,
                "--file",
                out.to_str().unwrap(),
            ],
            "CorruptFile",
        );
        assert!(!out.exists(), "no half-written export");
        refused(
            h,
            &[
                "ec2",
                "copy-image",
                "--source-image-id",
                &w.ami,
                "--source-region",
                "us-east-1",
                "--name",
                "from-corrupt",
            ],
            "CorruptFile",
        );
        refused(
            h,
            &["ec2", "run-instances", "--image-id", &w.ami],
            "CorruptFile",
        );
        bytes[offset] ^= 0x01;
        std::fs::write(&file, &bytes).unwrap();
    }
    // Mended, it works again.
    h.assert_export(&w.snap, &image_bytes(1 << 20, 3, b"BAD-INPUT-PLAIN"));
}

#[test]
fn unusable_keys_and_principals_without_grants() {
    let w = world();
    let h = &w.h;
    // A principal whose identity policy allows EC2, without a grant or a KMS permission on K1.
    h.ok(&["iam", "create-user", "--user-name", "bob"]);
    h.ok(&[
        "iam",
        "put-user-policy",
        "--user-name",
        "bob",
        "--policy-name",
        "ec2",
        "--policy-document",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*"}}"#,
    ]);
    let as_bob = |args: &[&str]| -> std::process::Output {
        let mut c = h.command(args);
        c.env("BLOCKSEAL_PROFILE", "bob");
        c.output().unwrap()
    };
    let code_of = |o: &std::process::Output| {
        assert_eq!(
            o.status.code(),
            Some(254),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let e = String::from_utf8_lossy(&o.stderr).to_string();
        let a = e.find('(').unwrap();
        e[a + 1..a + e[a..].find(')').unwrap()].to_owned()
    };
    let out = h.scratch("bob.raw");
    let before = state(h);
    assert_eq!(
        code_of(&as_bob(&[
            "ec2",
            "export-snapshot",
            "--snapshot-id",
            &w.snap,
            "--file",
            out.to_str().unwrap()
        ])),
        "AccessDeniedException"
    );
    assert_eq!(
        code_of(&as_bob(&["kms", "disable-key", "--key-id", &w.k1])),
        "AccessDeniedException"
    );
    assert_eq!(state(h), before);
    // Bob's copy with K1 gets an image id, then the image fails.
    let o = as_bob(&[
        "ec2",
        "copy-image",
        "--source-image-id",
        &w.ami,
        "--source-region",
        "us-east-1",
        "--name",
        "bobs-copy",
        "--encrypted",
        "--kms-key-id",
        &w.k1,
    ]);
    assert!(o.status.success());
    let id = s(&serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["ImageId"]);
    assert_eq!(h.image(&id)["State"], "failed");
    // Granted Decrypt, bob can export.
    let grant = h.ok(&[
        "kms",
        "create-grant",
        "--key-id",
        &w.k1,
        "--grantee-principal",
        "bob",
        "--operations",
        "Decrypt",
    ]);
    assert_eq!(grant["GrantId"].as_str().unwrap().len(), 64);
    let o = as_bob(&[
        "ec2",
        "export-snapshot",
        "--snapshot-id",
        &w.snap,
        "--file",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A disabled key and a key scheduled for deletion: attach is refused, nothing changes.
    let (k, _) = h.create_key("K-attach");
    let v = s(&h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--size",
        "1",
        "--encrypted",
        "--kms-key-id",
        &k,
    ])["VolumeId"]);
    h.ok(&["kms", "disable-key", "--key-id", &k]);
    refused(
        h,
        &[
            "ec2",
            "attach-volume",
            "--volume-id",
            &v,
            "--instance-id",
            &w.inst,
            "--device",
            "/dev/sdf",
        ],
        "CustomerKeyHasBeenRevoked",
    );
    assert_eq!(h.volume(&v)["State"], "available");
    h.ok(&["kms", "enable-key", "--key-id", &k]);
    h.ok(&[
        "kms",
        "schedule-key-deletion",
        "--key-id",
        &k,
        "--pending-window-in-days",
        "7",
    ]);
    refused(
        h,
        &[
            "ec2",
            "attach-volume",
            "--volume-id",
            &v,
            "--instance-id",
            &w.inst,
            "--device",
            "/dev/sdf",
        ],
        "CustomerKeyHasBeenRevoked",
    );
    h.ok(&["kms", "cancel-key-deletion", "--key-id", &k]);
    h.ok(&["kms", "enable-key", "--key-id", &k]);
    h.attach(&v, &w.inst, "/dev/sdf");
}

#[test]
fn names_and_snapshots_in_use() {
    let w = world();
    let h = &w.h;
    let bdm = json!([{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": w.snap}}]).to_string();
    refused(
        h,
        &[
            "ec2",
            "register-image",
            "--name",
            "bad-input",
            "--root-device-name",
            "/dev/xvda",
            "--block-device-mappings",
            &bdm,
        ],
        "InvalidAMIName.Duplicate",
    );
    refused(
        h,
        &[
            "ec2",
            "register-image",
            "--name",
            "no!",
            "--root-device-name",
            "/dev/xvda",
            "--block-device-mappings",
            &bdm,
        ],
        "InvalidAMIName.Malformed",
    );
    refused(
        h,
        &[
            "ec2",
            "copy-image",
            "--source-image-id",
            &w.ami,
            "--source-region",
            "us-east-1",
            "--name",
            "bad-input",
        ],
        "InvalidAMIName.Duplicate",
    );
    refused(
        h,
        &["ec2", "delete-snapshot", "--snapshot-id", &w.snap],
        "InvalidSnapshot.InUse",
    );
    refused(
        h,
        &["ec2", "create-volume", "--availability-zone", "us-east-1a"],
        "MissingParameter",
    );
    refused(
        h,
        &[
            "ec2",
            "create-volume",
            "--availability-zone",
            "mars-1a",
            "--size",
            "1",
        ],
        "InvalidParameterValue",
    );
    refused(
        h,
        &[
            "ec2",
            "create-volume",
            "--availability-zone",
            "us-east-1a",
            "--size",
            "1",
            "--kms-key-id",
            &w.k1,
        ],
        "InvalidParameterDependency",
    );
}

#[test]
fn duplicate_devices_empty_filters_pseudo_files_and_a_cipher_without_encryption() {
    let w = world();
    let h = &w.h;
    let twice = json!([
        {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1}},
        {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 2}}
    ])
    .to_string();
    refused(
        h,
        &[
            "ec2",
            "run-instances",
            "--image-id",
            &w.ami,
            "--block-device-mappings",
            &twice,
        ],
        "InvalidBlockDeviceMapping",
    );
    // A filter with no values is refused rather than matching nothing.
    let empty = json!([{"Name": "encrypted", "Values": []}]).to_string();
    assert_eq!(
        h.err(&["ec2", "describe-snapshots", "--filters", &empty]),
        "InvalidParameterValue"
    );
    let with_value = json!([{"Name": "encrypted", "Values": ["true"]}]).to_string();
    let found = h.ok(&["ec2", "describe-snapshots", "--filters", &with_value]);
    assert_eq!(found["Snapshots"][0]["SnapshotId"], w.snap.as_str());
    // /proc files say they are empty regular files: importing one is refused, not 0 bytes.
    refused(
        h,
        &["ec2", "import-snapshot", "--file", "/proc/self/status"],
        "InvalidParameterValue",
    );
    // A cipher only means something for an encrypted snapshot.
    let scratch = tempfile::tempdir().unwrap();
    let f = scratch.path().join("disk.raw");
    std::fs::write(&f, image_bytes(4096, 5, b"CIPHER")).unwrap();
    refused(
        h,
        &[
            "ec2",
            "import-snapshot",
            "--file",
            f.to_str().unwrap(),
            "--cipher",
            "aes-128-xts",
        ],
        "InvalidParameterCombination",
    );
    let ok = h.ok(&[
        "ec2",
        "import-snapshot",
        "--file",
        f.to_str().unwrap(),
        "--cipher",
        "aes-128-xts",
        "--encrypted",
        "--kms-key-id",
        &w.k1,
    ]);
    assert_eq!(ok["SnapshotTaskDetail"]["Encrypted"], true);
}

/// A tmpfs of `mib` MiB mounted for the test (root only), unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}M"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "CI runs as root and can mount a tmpfs"
            );
            eprintln!("skipping: cannot mount a tmpfs (not root)");
            return None;
        }
        Some(SmallDisk { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_still_reads_and_writes_fail_as_insufficient_storage() {
    let Some(disk) = SmallDisk::mount(24) else {
        return;
    };
    let h = Home {
        dir: tempfile::tempdir_in(disk.dir.path()).unwrap(),
        region: "us-east-1".into(),
        profile: None,
    };
    let (k1, _) = h.create_key("K1");
    let snap = h.import(
        &image_bytes(1 << 20, 9, b"FULL-DISK"),
        &["--encrypted", "--kms-key-id", &k1],
    );
    // Fill the file system to the last byte.
    let filler = disk.dir.path().join("filler");
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", "bs=1M"])
        .arg(format!("of={}", filler.display()))
        .stderr(std::process::Stdio::null())
        .status();
    // Reads work: every describe and list, from a fresh process.
    let snaps = h.ok(&["ec2", "describe-snapshots"]);
    assert_eq!(snaps["Snapshots"][0]["SnapshotId"], snap.as_str());
    assert_eq!(
        h.ok(&["kms", "list-keys"])["Keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    h.ok(&["ec2", "describe-volumes"]);
    // Writes fail as InsufficientStorage and leave nothing behind.
    let before = state(&h);
    let code = h.err(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--snapshot-id",
        &snap,
    ]);
    assert_eq!(code, "InsufficientStorage");
    assert_eq!(state(&h), before);
    // Space back: the same call works.
    std::fs::remove_file(&filler).unwrap();
    h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--snapshot-id",
        &snap,
    ]);
}
