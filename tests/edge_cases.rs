//! SEMANTICS.md §20: the edge cases that need neither FUSE nor a second account.

use crate::support::{image_bytes, s, Home, GIB};
use serde_json::json;

const R: &str = "us-east-1";

fn copy(h: &Home, src: &str, name: &str, extra: &[&str]) -> String {
    let mut a = vec![
        "ec2",
        "copy-image",
        "--source-image-id",
        src,
        "--source-region",
        R,
        "--name",
        name,
    ];
    a.extend_from_slice(extra);
    s(&h.ok(&a)["ImageId"])
}

fn image_count(h: &Home) -> usize {
    h.ok(&["ec2", "describe-images"])["Images"]
        .as_array()
        .unwrap()
        .len()
}

/// An AMI [plain root at /dev/xvda, then one data snapshot per key in `keys` at /dev/sdf, sdg…].
fn mixed_ami(h: &Home, name: &str, keys: &[&str]) -> String {
    let root = h.import(&image_bytes(1 << 20, 7, b"EDGE-ROOT"), &[]);
    let devs = ["/dev/sdf", "/dev/sdg", "/dev/sdh"];
    let snaps: Vec<String> = keys
        .iter()
        .map(|k| {
            h.import(
                &image_bytes(1 << 20, 8, b"EDGE-DATA"),
                &["--encrypted", "--kms-key-id", k],
            )
        })
        .collect();
    let extra: Vec<(&str, &str)> = devs
        .iter()
        .copied()
        .zip(snaps.iter().map(String::as_str))
        .collect();
    h.register(name, "/dev/xvda", &root, &extra)
}

#[test]
fn e01_e02_copy_image_parameter_rules() {
    let h = Home::new();
    let (k1, _) = h.create_key("K1");
    let ami = mixed_ami(&h, "e01", &[&k1]);
    let n = image_count(&h);
    assert_eq!(
        h.err(&[
            "ec2",
            "copy-image",
            "--source-image-id",
            &ami,
            "--source-region",
            R,
            "--name",
            "x-1",
            "--kms-key-id",
            &k1
        ]),
        "InvalidParameterDependency"
    );
    assert_eq!(image_count(&h), n, "no AMI after a refused copy");
    assert_eq!(
        h.err(&[
            "ec2",
            "copy-image",
            "--source-image-id",
            &ami,
            "--source-region",
            R,
            "--name",
            "x-2",
            "--no-encrypted"
        ]),
        "InvalidRequest"
    );
    assert_eq!(image_count(&h), n);
}

#[test]
fn e03_e04_e05_copy_image_key_outcomes() {
    let h = Home::new();
    let (k1, k1_arn) = h.create_key("K1");
    let (k2, _) = h.create_key("K2");
    let (k4, k4_arn) = h.create_key("K4");
    // 3. Encrypted, no key, [plain, K1] -> [default, K1].
    let a = mixed_ami(&h, "e03", &[&k1]);
    let c = copy(&h, &a, "e03-copy", &["--encrypted"]);
    let default = h.describe_key_arn("alias/aws/ebs");
    assert_eq!(h.snapshot_of(&c, "/dev/xvda")["KmsKeyId"], default.as_str());
    assert_eq!(h.snapshot_of(&c, "/dev/sdf")["KmsKeyId"], k1_arn.as_str());
    // 4. K4 on [plain, K1, K2] -> all K4, all new data keys.
    let b = mixed_ami(&h, "e04", &[&k1, &k2]);
    let c4 = copy(&h, &b, "e04-copy", &["--encrypted", "--kms-key-id", &k4]);
    let mut deks = std::collections::HashSet::new();
    for dev in ["/dev/xvda", "/dev/sdf", "/dev/sdg"] {
        let src = h.snapshot_of(&b, dev);
        let dst = h.snapshot_of(&c4, dev);
        assert_eq!(dst["KmsKeyId"], k4_arn.as_str());
        assert_ne!(dst["DataEncryptionKeyId"], src["DataEncryptionKeyId"]);
        assert!(deks.insert(s(&dst["DataEncryptionKeyId"])));
    }
    // 5. Same region, no parameters, K1 -> K1 and the same data key.
    let c5 = copy(&h, &a, "e05-copy", &[]);
    assert_eq!(h.snapshot_of(&c5, "/dev/sdf")["KmsKeyId"], k1_arn.as_str());
    assert_eq!(
        h.snapshot_of(&c5, "/dev/sdf")["DataEncryptionKeyId"],
        h.snapshot_of(&a, "/dev/sdf")["DataEncryptionKeyId"]
    );
}

#[test]
fn e06_e07_copy_image_across_regions() {
    let h = Home::new();
    let (k1, k1_arn) = h.create_key("K1");
    let a = mixed_ami(&h, "e06", &[&k1]);
    // 6. To another region without parameters -> that region's default key.
    let c = s(&h.ok(&[
        "--region",
        "eu-west-1",
        "ec2",
        "copy-image",
        "--source-image-id",
        &a,
        "--source-region",
        R,
        "--name",
        "e06-copy",
    ])["ImageId"]);
    let img = &h.ok(&[
        "--region",
        "eu-west-1",
        "ec2",
        "describe-images",
        "--image-ids",
        &c,
    ])["Images"][0];
    assert_eq!(img["State"], "available");
    let sdf = img["BlockDeviceMappings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["DeviceName"] == "/dev/sdf")
        .unwrap();
    let snap = &h.ok(&[
        "--region",
        "eu-west-1",
        "ec2",
        "describe-snapshots",
        "--snapshot-ids",
        &s(&sdf["Ebs"]["SnapshotId"]),
    ])["Snapshots"][0];
    let eu_default = s(&h.ok(&[
        "--region",
        "eu-west-1",
        "kms",
        "describe-key",
        "--key-id",
        "alias/aws/ebs",
    ])["KeyMetadata"]["Arn"]);
    assert_eq!(snap["KmsKeyId"], eu_default.as_str());
    // 7. A key ARN of the source region while copying to another region -> failed.
    let f = s(&h.ok(&[
        "--region",
        "eu-west-1",
        "ec2",
        "copy-image",
        "--source-image-id",
        &a,
        "--source-region",
        R,
        "--name",
        "e07-copy",
        "--encrypted",
        "--kms-key-id",
        &k1_arn,
    ])["ImageId"]);
    let img = &h.ok(&[
        "--region",
        "eu-west-1",
        "ec2",
        "describe-images",
        "--image-ids",
        &f,
    ])["Images"][0];
    assert_eq!(img["State"], "failed");
    assert!(img["StateReason"]["Message"]
        .as_str()
        .unwrap()
        .contains("Copy image failed"));
    for m in img["BlockDeviceMappings"].as_array().unwrap() {
        let sn = &h.ok(&[
            "--region",
            "eu-west-1",
            "ec2",
            "describe-snapshots",
            "--snapshot-ids",
            &s(&m["Ebs"]["SnapshotId"]),
        ])["Snapshots"][0];
        assert_eq!(sn["State"], "error");
        assert_eq!(sn["StateMessage"], "Given key ID is not accessible");
    }
    h.ok(&[
        "--region",
        "eu-west-1",
        "ec2",
        "wait",
        "image-available",
        "--image-ids",
        &c,
    ]);
    let w = h.run(&[
        "--region",
        "eu-west-1",
        "ec2",
        "wait",
        "image-available",
        "--image-ids",
        &f,
    ]);
    assert_eq!(
        w.status.code(),
        Some(255),
        "a waiter on a failed image fails"
    );
}

#[test]
fn e08_copy_image_with_unusable_keys_fails_asynchronously() {
    let h = Home::new();
    let (k1, _) = h.create_key("K1");
    let a = mixed_ami(&h, "e08", &[&k1]);
    let (disabled, _) = h.create_key("disabled");
    h.ok(&["kms", "disable-key", "--key-id", &disabled]);
    let (pending, _) = h.create_key("pending deletion");
    h.ok(&[
        "kms",
        "schedule-key-deletion",
        "--key-id",
        &pending,
        "--pending-window-in-days",
        "7",
    ]);
    let imported = s(&h.ok(&["kms", "create-key", "--origin", "EXTERNAL"])["KeyMetadata"]["KeyId"]);
    assert_eq!(
        h.ok(&["kms", "describe-key", "--key-id", &imported])["KeyMetadata"]["KeyState"],
        "PendingImport"
    );
    for (i, key) in [disabled, pending, imported, "alias/no-such-key".to_owned()]
        .iter()
        .enumerate()
    {
        let id = copy(
            &h,
            &a,
            &format!("e08-{i}"),
            &["--encrypted", "--kms-key-id", key],
        );
        let img = h.image(&id);
        assert_eq!(img["State"], "failed", "{key}");
        assert_eq!(
            h.run(&["ec2", "wait", "image-available", "--image-ids", &id])
                .status
                .code(),
            Some(255)
        );
    }
    // A failed copy left no data file behind: only snapshots with data have files.
    for f in h.files() {
        if let Some(name) = f
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| n.starts_with("snap-"))
        {
            assert_eq!(h.snapshot(name)["State"], "completed", "{name} has a file");
        }
    }
}

#[test]
fn e09_e10_alias_and_default_key() {
    let h = Home::new();
    let (k2, k2_arn) = h.create_key("K2");
    let (k3, k3_arn) = h.create_key("K3");
    h.ok(&[
        "kms",
        "create-alias",
        "--alias-name",
        "alias/e09",
        "--target-key-id",
        &k2,
    ]);
    let plain = h.import(&image_bytes(1 << 20, 9, b"E09"), &[]);
    let u = h.register("e09-u", "/dev/xvda", &plain, &[]);
    let c = copy(
        &h,
        &u,
        "e09-copy",
        &["--encrypted", "--kms-key-id", "alias/e09"],
    );
    h.ok(&[
        "kms",
        "update-alias",
        "--alias-name",
        "alias/e09",
        "--target-key-id",
        &k3,
    ]);
    assert_eq!(h.snapshot_of(&c, "/dev/xvda")["KmsKeyId"], k2_arn.as_str());
    // 10. Encryption by default.
    assert_eq!(
        h.ok(&["ec2", "get-ebs-encryption-by-default"])["EbsEncryptionByDefault"],
        false
    );
    assert_eq!(
        h.ok(&["ec2", "get-ebs-default-kms-key-id"])["KmsKeyId"],
        "alias/aws/ebs"
    );
    h.ok(&["ec2", "enable-ebs-encryption-by-default"]);
    let d = copy(&h, &u, "e10-default", &[]);
    let default = h.describe_key_arn("alias/aws/ebs");
    assert_eq!(h.snapshot_of(&d, "/dev/xvda")["KmsKeyId"], default.as_str());
    assert_eq!(
        h.ok(&["ec2", "modify-ebs-default-kms-key-id", "--kms-key-id", &k3])["KmsKeyId"],
        k3_arn.as_str()
    );
    let d3 = copy(&h, &u, "e10-k3", &[]);
    assert_eq!(h.snapshot_of(&d3, "/dev/xvda")["KmsKeyId"], k3_arn.as_str());
    assert_eq!(
        h.ok(&["ec2", "reset-ebs-default-kms-key-id"])["KmsKeyId"],
        default.as_str()
    );
    let d4 = copy(&h, &u, "e10-reset", &[]);
    assert_eq!(
        h.snapshot_of(&d4, "/dev/xvda")["KmsKeyId"],
        default.as_str()
    );
    // Another region keeps its own setting.
    assert_eq!(
        h.ok(&[
            "--region",
            "us-west-2",
            "ec2",
            "get-ebs-encryption-by-default"
        ])["EbsEncryptionByDefault"],
        false
    );
}

#[test]
fn e11_aws_ebs_key_is_created_on_first_use() {
    let h = Home::new();
    let aliases = h.ok(&["kms", "list-aliases"]);
    let ebs = aliases["Aliases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["AliasName"] == "alias/aws/ebs")
        .expect("listed")
        .clone();
    assert!(
        ebs.get("TargetKeyId").is_none(),
        "no key before first use: {ebs}"
    );
    let v = h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--size",
        "1",
        "--encrypted",
    ]);
    let aliases = h.ok(&["kms", "list-aliases"]);
    let ebs = aliases["Aliases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["AliasName"] == "alias/aws/ebs")
        .unwrap()
        .clone();
    let target = s(&ebs["TargetKeyId"]);
    let md = &h.ok(&["kms", "describe-key", "--key-id", &target])["KeyMetadata"];
    assert_eq!(md["KeyManager"], "AWS");
    assert_eq!(h.volume(&s(&v["VolumeId"]))["KmsKeyId"], md["Arn"]);
}

#[test]
fn e12_to_e15_run_instances_mappings() {
    let h = Home::new();
    let (k1, k1_arn) = h.create_key("K1");
    // 12. KmsKeyId without Encrypted.
    let plain = h.import(&image_bytes(1 << 20, 12, b"E12"), &[]);
    let u = h.register("e12-u", "/dev/xvda", &plain, &[]);
    let bdm = json!([{"DeviceName": "/dev/xvda", "Ebs": {"KmsKeyId": k1}}]).to_string();
    assert_eq!(
        h.err(&[
            "ec2",
            "run-instances",
            "--image-id",
            &u,
            "--block-device-mappings",
            &bdm
        ]),
        "InvalidParameterDependency"
    );
    // 13. Root VolumeSize smaller than the snapshot (a 2 GiB snapshot from a sparse 1 GiB + 1 file).
    let big = h.scratch("two-gib.raw");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(GIB + 1).unwrap();
    drop(f);
    let v = h.ok(&["ec2", "import-snapshot", "--file", big.to_str().unwrap()]);
    let big_snap = s(&v["SnapshotTaskDetail"]["SnapshotId"]);
    assert_eq!(h.snapshot(&big_snap)["VolumeSize"], 2);
    let b = h.register("e13-big", "/dev/xvda", &big_snap, &[]);
    let small = json!([{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 1}}]).to_string();
    assert_eq!(
        h.err(&[
            "ec2",
            "run-instances",
            "--image-id",
            &b,
            "--block-device-mappings",
            &small
        ]),
        "InvalidBlockDeviceMapping"
    );
    let vols_before = h.ok(&["ec2", "describe-volumes"])["Volumes"]
        .as_array()
        .unwrap()
        .len();
    // 14. Encrypted=false on an encrypted snapshot: still encrypted with the same key.
    let enc = h.import(
        &image_bytes(1 << 20, 14, b"E14"),
        &["--encrypted", "--kms-key-id", &k1],
    );
    let e = h.register("e14-enc", "/dev/xvda", &enc, &[]);
    let f = json!([{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": false}}]).to_string();
    let i = h.run_instance(&e, &["--block-device-mappings", &f]);
    assert_eq!(h.volume_at(&i, "/dev/xvda")["KmsKeyId"], k1_arn.as_str());
    // 15. The snapshot's key disabled: the instance terminates with the KMS reason, no volumes.
    h.ok(&["kms", "disable-key", "--key-id", &k1]);
    let before = h.ok(&["ec2", "describe-volumes"])["Volumes"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, vols_before + 1);
    let launched = h.ok(&["ec2", "run-instances", "--image-id", &e, "--count", "1"]);
    assert_eq!(launched["Instances"][0]["State"]["Name"], "pending");
    let t = h.instance(&s(&launched["Instances"][0]["InstanceId"]));
    assert_eq!(t["State"]["Name"], "terminated");
    assert_eq!(
        t["StateReason"]["Code"],
        "Client.InvalidKMSKey.InvalidState"
    );
    assert_eq!(
        h.ok(&["ec2", "describe-volumes"])["Volumes"]
            .as_array()
            .unwrap()
            .len(),
        before
    );
    assert_eq!(
        h.run(&[
            "ec2",
            "wait",
            "instance-running",
            "--instance-ids",
            &s(&t["InstanceId"])
        ])
        .status
        .code(),
        Some(255)
    );
}

#[test]
fn e18_e21_attach_and_detach_rules() {
    let h = Home::new();
    let plain = h.import(&image_bytes(1 << 20, 18, b"E18"), &[]);
    let u = h.register("e18-u", "/dev/xvda", &plain, &[]);
    let inst = h.run_instance(&u, &["--placement", "AvailabilityZone=us-east-1a"]);
    let other_az = s(&h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1c",
        "--size",
        "1",
    ])["VolumeId"]);
    assert_eq!(
        h.err(&[
            "ec2",
            "attach-volume",
            "--volume-id",
            &other_az,
            "--instance-id",
            &inst,
            "--device",
            "/dev/sdf"
        ]),
        "InvalidVolume.ZoneMismatch"
    );
    let v = s(&h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--size",
        "1",
    ])["VolumeId"]);
    assert_eq!(
        h.err(&[
            "ec2",
            "attach-volume",
            "--volume-id",
            &v,
            "--instance-id",
            &inst,
            "--device",
            "/dev/xvda"
        ]),
        "InvalidParameterValue"
    );
    assert_eq!(
        h.err(&[
            "ec2",
            "attach-volume",
            "--volume-id",
            &v,
            "--instance-id",
            &inst,
            "--device",
            "/dev/nvme1n1"
        ]),
        "InvalidParameterValue"
    );
    h.attach(&v, &inst, "/dev/sdf");
    assert_eq!(
        h.err(&[
            "ec2",
            "attach-volume",
            "--volume-id",
            &v,
            "--instance-id",
            &inst,
            "--device",
            "/dev/sdg"
        ]),
        "VolumeInUse"
    );
    assert_eq!(
        h.err(&["ec2", "delete-volume", "--volume-id", &v]),
        "VolumeInUse"
    );
    let detached = h.ok(&["ec2", "detach-volume", "--volume-id", &v]);
    assert_eq!(detached["State"], "detaching");
    assert_eq!(h.volume(&v)["State"], "available");
    assert_eq!(
        h.err(&["ec2", "detach-volume", "--volume-id", &v]),
        "InvalidAttachment.NotFound"
    );
    // 21. The root of a running instance cannot be detached; once stopped it can.
    let root = s(&h.volume_at(&inst, "/dev/xvda")["VolumeId"]);
    assert_eq!(
        h.err(&["ec2", "detach-volume", "--volume-id", &root]),
        "IncorrectState"
    );
    h.ok(&["ec2", "stop-instances", "--instance-ids", &inst]);
    assert_eq!(h.instance(&inst)["State"]["Name"], "stopped");
    h.ok(&["ec2", "detach-volume", "--volume-id", &root]);
    assert_eq!(h.volume(&root)["State"], "available");
}

#[test]
fn e20_create_volume_with_a_disabled_key_vanishes() {
    let h = Home::new();
    let (k, _) = h.create_key("K");
    h.ok(&["kms", "disable-key", "--key-id", &k]);
    let v = h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--size",
        "1",
        "--encrypted",
        "--kms-key-id",
        &k,
    ]);
    assert_eq!(v["State"], "creating");
    assert_eq!(
        h.err(&[
            "ec2",
            "describe-volumes",
            "--volume-ids",
            &s(&v["VolumeId"])
        ]),
        "InvalidVolume.NotFound"
    );
}

#[test]
fn e22_e23_snapshots_in_use_and_duplicate_names() {
    let h = Home::new();
    let (k1, _) = h.create_key("K1");
    let a = mixed_ami(&h, "e22", &[&k1]);
    let data = s(&h.snapshot_of(&a, "/dev/sdf")["SnapshotId"]);
    let root = s(&h.snapshot_of(&a, "/dev/xvda")["SnapshotId"]);
    assert_eq!(
        h.err(&["ec2", "delete-snapshot", "--snapshot-id", &data]),
        "InvalidSnapshot.InUse"
    );
    let b = h.register("e22-b", "/dev/xvda", &root, &[]);
    h.ok(&["ec2", "deregister-image", "--image-id", &a]);
    assert_eq!(
        h.err(&["ec2", "deregister-image", "--image-id", &a]),
        "InvalidAMIID.Unavailable"
    );
    h.ok(&["ec2", "delete-snapshot", "--snapshot-id", &data]);
    assert_eq!(
        h.err(&["ec2", "describe-snapshots", "--snapshot-ids", &data]),
        "InvalidSnapshot.NotFound"
    );
    assert!(
        !h.path().join("blobs").join(&data).exists(),
        "the file goes with the snapshot"
    );
    // Deregister with DeleteAssociatedSnapshots: removes the snapshots no other image uses.
    let c = h.register("e22-c", "/dev/xvda", &root, &[]);
    let own = h.import(&image_bytes(1 << 20, 22, b"E22"), &[]);
    let d = h.register("e22-d", "/dev/xvda", &own, &[]);
    let out = h.ok(&[
        "ec2",
        "deregister-image",
        "--image-id",
        &d,
        "--delete-associated-snapshots",
    ]);
    assert_eq!(out["Return"], true);
    assert_eq!(
        h.err(&["ec2", "describe-snapshots", "--snapshot-ids", &own]),
        "InvalidSnapshot.NotFound"
    );
    h.ok(&[
        "ec2",
        "deregister-image",
        "--image-id",
        &c,
        "--delete-associated-snapshots",
    ]);
    assert_eq!(
        h.snapshot(&root)["State"],
        "completed",
        "still used by e22-b"
    );
    let _ = b;
    // 23. CreateImage twice with the same name.
    let inst = h.run_instance(&h.register("e23", "/dev/xvda", &root, &[]), &[]);
    h.ok(&[
        "ec2",
        "create-image",
        "--instance-id",
        &inst,
        "--name",
        "e23-img",
    ]);
    let n = image_count(&h);
    assert_eq!(
        h.err(&[
            "ec2",
            "create-image",
            "--instance-id",
            &inst,
            "--name",
            "e23-img"
        ]),
        "InvalidAMIName.Duplicate"
    );
    assert_eq!(image_count(&h), n);
}

#[test]
fn e24_kms_lifecycle_rules() {
    let h = Home::new();
    let (k, arn) = h.create_key("K");
    assert_eq!(
        h.err(&[
            "kms",
            "schedule-key-deletion",
            "--key-id",
            &k,
            "--pending-window-in-days",
            "6"
        ]),
        "ValidationException"
    );
    assert_eq!(
        h.err(&[
            "kms",
            "schedule-key-deletion",
            "--key-id",
            &k,
            "--pending-window-in-days",
            "31"
        ]),
        "ValidationException"
    );
    let sch = h.ok(&[
        "kms",
        "schedule-key-deletion",
        "--key-id",
        &arn,
        "--pending-window-in-days",
        "7",
    ]);
    assert_eq!(sch["KeyState"], "PendingDeletion");
    assert_eq!(
        h.err(&["kms", "enable-key", "--key-id", &k]),
        "KMSInvalidStateException"
    );
    h.ok(&["kms", "cancel-key-deletion", "--key-id", &k]);
    assert_eq!(
        h.ok(&["kms", "describe-key", "--key-id", &k])["KeyMetadata"]["KeyState"],
        "Disabled"
    );
    assert_eq!(
        h.err(&[
            "kms",
            "create-alias",
            "--alias-name",
            "alias/aws/foo",
            "--target-key-id",
            &k
        ]),
        "NotAuthorizedException"
    );
    assert_eq!(
        h.err(&[
            "kms",
            "generate-data-key-without-plaintext",
            "--key-id",
            &k,
            "--number-of-bytes",
            "64"
        ]),
        "DisabledException"
    );
    h.ok(&["kms", "enable-key", "--key-id", &k]);
    let g = h.ok(&[
        "kms",
        "generate-data-key-without-plaintext",
        "--key-id",
        &k,
        "--key-spec",
        "AES_256",
    ]);
    assert_eq!(g["KeyId"], arn.as_str());
}

#[test]
fn e25_create_volume_from_a_k1_snapshot() {
    let h = Home::new();
    let (k1, k1_arn) = h.create_key("K1");
    let (k2, k2_arn) = h.create_key("K2");
    let data = image_bytes(1 << 20, 25, b"E25-PLAINTEXT");
    let snap = h.import(&data, &["--encrypted", "--kms-key-id", &k1]);
    let v = h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--snapshot-id",
        &snap,
    ]);
    assert_eq!(v["Size"], 1);
    assert_eq!(v["KmsKeyId"], k1_arn.as_str());
    let again = h.ok(&["ec2", "create-snapshot", "--volume-id", &s(&v["VolumeId"])]);
    assert_eq!(
        again["DataEncryptionKeyId"],
        h.snapshot(&snap)["DataEncryptionKeyId"]
    );
    let v2 = h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--snapshot-id",
        &snap,
        "--encrypted",
        "--kms-key-id",
        &k2,
    ]);
    assert_eq!(v2["KmsKeyId"], k2_arn.as_str());
    let s2 = h.ok(&["ec2", "create-snapshot", "--volume-id", &s(&v2["VolumeId"])]);
    assert_ne!(
        s2["DataEncryptionKeyId"],
        h.snapshot(&snap)["DataEncryptionKeyId"]
    );
    h.assert_export(&s(&s2["SnapshotId"]), &data);
    // Decrypt with the wrong encryption context.
    let enc = h.ok(&[
        "kms",
        "encrypt",
        "--key-id",
        &k1,
        "--plaintext",
        "aGVsbG8=",
        "--encryption-context",
        "aws:ebs:id=vol-1",
    ]);
    let blob = s(&enc["CiphertextBlob"]);
    assert_eq!(
        h.err(&[
            "kms",
            "decrypt",
            "--ciphertext-blob",
            &blob,
            "--encryption-context",
            "aws:ebs:id=vol-2"
        ]),
        "InvalidCiphertextException"
    );
    let ok = h.ok(&[
        "kms",
        "decrypt",
        "--ciphertext-blob",
        &blob,
        "--encryption-context",
        "aws:ebs:id=vol-1",
    ]);
    assert_eq!(ok["Plaintext"], "aGVsbG8=");
    h.assert_no_plaintext(b"E25-PLAINTEXT");
}

/// AES-128-XTS and 512-byte sectors work end to end, and a re-keying copy keeps both.
#[test]
fn aes_128_and_512_byte_sectors_survive_import_copy_and_launch() {
    let h = Home::new();
    let (k1, _) = h.create_key("K1");
    let (k2, k2_arn) = h.create_key("K2");
    let data = image_bytes(3 << 20, 128, b"AES128-PLAINTEXT");
    let snap = h.import(
        &data,
        &[
            "--encrypted",
            "--kms-key-id",
            &k1,
            "--cipher",
            "aes-128-xts",
            "--sector-size",
            "512",
        ],
    );
    // docs/FORMAT.md: sector size u32 at 28, cipher u8 at 32 (1 = AES-128-XTS).
    let header = |id: &str| std::fs::read(h.path().join("blobs").join(id)).unwrap()[..64].to_vec();
    let hd = header(&snap);
    assert_eq!(u32::from_le_bytes(hd[28..32].try_into().unwrap()), 512);
    assert_eq!(hd[32], 1);
    let ami = h.register("aes128", "/dev/xvda", &snap, &[]);
    let copy = copy(&h, &ami, "aes128-k2", &["--encrypted", "--kms-key-id", &k2]);
    let c = h.snapshot_of(&copy, "/dev/xvda");
    assert_eq!(c["KmsKeyId"], k2_arn.as_str());
    let hd = header(&s(&c["SnapshotId"]));
    assert_eq!(
        (u32::from_le_bytes(hd[28..32].try_into().unwrap()), hd[32]),
        (512, 1)
    );
    h.assert_export(&s(&c["SnapshotId"]), &data);
    let inst = h.run_instance(&copy, &[]);
    let v = h.volume_at(&inst, "/dev/xvda");
    let again = h.ok(&["ec2", "create-snapshot", "--volume-id", &s(&v["VolumeId"])]);
    h.assert_export(&s(&again["SnapshotId"]), &data);
    let bad = h.run(&[
        "ec2",
        "import-snapshot",
        "--file",
        "/dev/null",
        "--cipher",
        "aes-512-xts",
    ]);
    assert_eq!(
        bad.status.code(),
        Some(252),
        "an unknown cipher is a usage error"
    );
    h.assert_no_plaintext(b"AES128-PLAINTEXT");
}

/// An AMI whose two mappings name one snapshot: its copy copies that snapshot once, and both
/// mappings of the copy name that one copy (no snapshot is left that no image maps).
#[test]
fn copy_image_copies_a_shared_snapshot_once() {
    let h = Home::new();
    let (k, k_arn) = h.create_key("shared");
    let data = image_bytes(1 << 20, 21, b"SHARED-SNAPSHOT");
    let snap = h.import(&data, &[]);
    let ami = h.register("shared-src", "/dev/xvda", &snap, &[("/dev/sdb", &snap)]);
    let count = |h: &Home| {
        h.ok(&["ec2", "describe-snapshots"])["Snapshots"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = count(&h);
    let copy_id = copy(
        &h,
        &ami,
        "shared-copy",
        &["--encrypted", "--kms-key-id", &k],
    );
    assert_eq!(count(&h), before + 1, "one copy of the one snapshot");
    let root = h.snapshot_of(&copy_id, "/dev/xvda");
    let data_dev = h.snapshot_of(&copy_id, "/dev/sdb");
    assert_eq!(root["SnapshotId"], data_dev["SnapshotId"]);
    assert_eq!(s(&root["KmsKeyId"]), k_arn);
    h.assert_export(&s(&root["SnapshotId"]), &data);
}
