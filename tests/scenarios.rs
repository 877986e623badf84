//! SEMANTICS.md §19: the five AMI-encryption scenarios, with data that came in through
//! import-snapshot, checked by bytes (export equals import), key ARNs and data-key lineage.

use crate::support::{image_bytes, s, Home};
use serde_json::json;

const REGION: &str = "us-east-1";

#[test]
fn s1_copy_an_ami_with_an_encrypted_data_snapshot() {
    let h = Home::new();
    let (k1, k1_arn) = h.create_key("K1");
    let root = image_bytes(3 << 20, 11, b"S1-ROOT-PLAINTEXT-0x51");
    let data = image_bytes(2 << 20, 12, b"S1-DATA-PLAINTEXT-0x52");
    let root_snap = h.import(&root, &[]);
    let data_src = h.import(&data, &["--encrypted", "--kms-key-id", &k1]);
    let base = h.register("s1-base", "/dev/xvda", &root_snap, &[]);

    // 1. Launch from the unencrypted base AMI.
    let inst = h.run_instance(&base, &[]);
    assert_eq!(h.instance(&inst)["State"]["Name"], "running");
    let az = s(&h.instance(&inst)["Placement"]["AvailabilityZone"]);
    // 2. An encrypted K1 data volume (from the imported data so it has known bytes).
    let created = h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        &az,
        "--size",
        "4",
        "--snapshot-id",
        &data_src,
        "--encrypted",
        "--kms-key-id",
        &k1,
    ]);
    assert_eq!(created["State"], "creating");
    let vol = s(&created["VolumeId"]);
    let v = h.volume(&vol);
    assert_eq!(v["State"], "available");
    assert_eq!(v["Encrypted"], true);
    assert_eq!(v["KmsKeyId"], k1_arn.as_str());
    assert_eq!(v["Size"], 4);
    // 3. Attach at /dev/sdf.
    let att = h.attach(&vol, &inst, "/dev/sdf");
    assert_eq!(att["State"], "attaching");
    assert_eq!(h.volume(&vol)["State"], "in-use");
    // 4. CreateImage.
    let ami1 = s(&h.ok(&[
        "ec2",
        "create-image",
        "--instance-id",
        &inst,
        "--name",
        "s1-ami-1",
    ])["ImageId"]);
    let img1 = h.image(&ami1);
    assert_eq!(img1["State"], "available");
    let by_dev = |img: &serde_json::Value, d: &str| {
        img["BlockDeviceMappings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["DeviceName"] == d)
            .unwrap()
            .clone()
    };
    assert_eq!(by_dev(&img1, "/dev/xvda")["Ebs"]["Encrypted"], false);
    assert_eq!(by_dev(&img1, "/dev/sdf")["Ebs"]["Encrypted"], true);
    assert!(
        by_dev(&img1, "/dev/sdf")["Ebs"].get("KmsKeyId").is_none(),
        "image mappings never show the key"
    );
    // 5. CopyImage without encryption parameters.
    let ami2 = s(&h.ok(&[
        "ec2",
        "copy-image",
        "--source-image-id",
        &ami1,
        "--source-region",
        REGION,
        "--name",
        "s1-ami-2",
    ])["ImageId"]);
    let img2 = h.image(&ami2);
    assert_eq!(img2["State"], "available");
    for d in ["/dev/xvda", "/dev/sdf"] {
        assert_eq!(
            by_dev(&img1, d)["Ebs"]["VolumeSize"],
            by_dev(&img2, d)["Ebs"]["VolumeSize"]
        );
    }
    let root1 = h.snapshot_of(&ami1, "/dev/xvda");
    let root2 = h.snapshot_of(&ami2, "/dev/xvda");
    let data1 = h.snapshot_of(&ami1, "/dev/sdf");
    let data2 = h.snapshot_of(&ami2, "/dev/sdf");
    assert_eq!(root2["Encrypted"], false);
    assert!(root2.get("KmsKeyId").is_none());
    assert_eq!(data2["Encrypted"], true);
    assert_eq!(data2["KmsKeyId"], k1_arn.as_str());
    assert_eq!(
        data2["DataEncryptionKeyId"], data1["DataEncryptionKeyId"],
        "same key, same data key"
    );
    let ids: std::collections::HashSet<String> = [&root1, &root2, &data1, &data2]
        .iter()
        .map(|x| s(&x["SnapshotId"]))
        .collect();
    assert_eq!(ids.len(), 4, "all four snapshot ids are distinct");
    h.assert_export(&s(&root2["SnapshotId"]), &root);
    h.assert_export(&s(&data2["SnapshotId"]), &data);

    // Deregistering AMI-1 leaves AMI-2 launchable, with the same encryption and bytes.
    h.ok(&["ec2", "deregister-image", "--image-id", &ami1]);
    let inst2 = h.run_instance(&ami2, &[]);
    let r = h.volume_at(&inst2, "/dev/xvda");
    let d = h.volume_at(&inst2, "/dev/sdf");
    assert_eq!(r["Encrypted"], false);
    assert_eq!(d["Encrypted"], true);
    assert_eq!(d["KmsKeyId"], k1_arn.as_str());
    let snap_d = h.ok(&["ec2", "create-snapshot", "--volume-id", &s(&d["VolumeId"])]);
    assert_eq!(snap_d["DataEncryptionKeyId"], data1["DataEncryptionKeyId"]);
    h.assert_export(&s(&snap_d["SnapshotId"]), &data);
    let snap_r = h.ok(&["ec2", "create-snapshot", "--volume-id", &s(&r["VolumeId"])]);
    h.assert_export(&s(&snap_r["SnapshotId"]), &root);

    h.assert_no_plaintext(b"S1-DATA-PLAINTEXT-0x52");
}

/// An AMI whose root snapshot was imported encrypted with `key`.
fn encrypted_root_ami(h: &Home, name: &str, root: &[u8], key: &str) -> String {
    let snap = h.import(root, &["--encrypted", "--kms-key-id", key]);
    h.register(name, "/dev/xvda", &snap, &[])
}

#[test]
fn s2_copy_an_ami_backed_by_an_encrypted_root_snapshot() {
    let h = Home::new();
    let (k1, k1_arn) = h.create_key("K1");
    let root = image_bytes(2 << 20, 21, b"S2-ROOT-PLAINTEXT-0x21");
    let ami_e = encrypted_root_ami(&h, "s2-ami-e", &root, &k1);
    let src_root = h.snapshot_of(&ami_e, "/dev/xvda");
    assert_eq!(src_root["KmsKeyId"], k1_arn.as_str());

    let copy = s(&h.ok(&[
        "ec2",
        "copy-image",
        "--source-image-id",
        &ami_e,
        "--source-region",
        REGION,
        "--name",
        "s2-copy",
    ])["ImageId"]);
    let c = h.snapshot_of(&copy, "/dev/xvda");
    assert_eq!(c["Encrypted"], true);
    assert_eq!(c["KmsKeyId"], k1_arn.as_str());
    assert_ne!(c["SnapshotId"], src_root["SnapshotId"]);
    assert_eq!(c["DataEncryptionKeyId"], src_root["DataEncryptionKeyId"]);
    h.assert_export(&s(&c["SnapshotId"]), &root);

    // Variant A: to another region, no parameters -> that region's default key, a new data key.
    let west = h.ok(&[
        "--region",
        "us-west-2",
        "ec2",
        "copy-image",
        "--source-image-id",
        &ami_e,
        "--source-region",
        REGION,
        "--name",
        "s2-west",
    ]);
    let west_img = h.ok(&[
        "--region",
        "us-west-2",
        "ec2",
        "describe-images",
        "--image-ids",
        &s(&west["ImageId"]),
    ]);
    let west_snap_id = s(&west_img["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]);
    let ws = &h.ok(&[
        "--region",
        "us-west-2",
        "ec2",
        "describe-snapshots",
        "--snapshot-ids",
        &west_snap_id,
    ])["Snapshots"][0];
    let west_default = s(&h.ok(&[
        "--region",
        "us-west-2",
        "kms",
        "describe-key",
        "--key-id",
        "alias/aws/ebs",
    ])["KeyMetadata"]["Arn"]);
    assert!(
        west_default.starts_with("arn:aws:kms:us-west-2:"),
        "{west_default}"
    );
    assert_eq!(ws["Encrypted"], true);
    assert_eq!(ws["KmsKeyId"], west_default.as_str());
    assert_ne!(ws["DataEncryptionKeyId"], src_root["DataEncryptionKeyId"]);
    let out = h.scratch("s2-west.raw");
    h.ok(&[
        "--region",
        "us-west-2",
        "ec2",
        "export-snapshot",
        "--snapshot-id",
        &west_snap_id,
        "--file",
        out.to_str().unwrap(),
    ]);
    crate::support::assert_plain_file(&out, &root, crate::support::GIB);
    // The source region does not see the copy.
    assert_eq!(
        h.err(&["ec2", "describe-snapshots", "--snapshot-ids", &west_snap_id]),
        "InvalidSnapshot.NotFound"
    );

    // Variant B: encryption by default on, no parameters -> still K1 (owned, same region).
    h.ok(&["ec2", "enable-ebs-encryption-by-default"]);
    let b = s(&h.ok(&[
        "ec2",
        "copy-image",
        "--source-image-id",
        &ami_e,
        "--source-region",
        REGION,
        "--name",
        "s2-ebd",
    ])["ImageId"]);
    assert_eq!(h.snapshot_of(&b, "/dev/xvda")["KmsKeyId"], k1_arn.as_str());
    h.assert_no_plaintext(b"S2-ROOT-PLAINTEXT-0x21");
}

#[test]
fn s3_encrypted_root_ami_from_an_unencrypted_ami_with_a_chosen_key() {
    let h = Home::new();
    let (k2, k2_arn) = h.create_key("K2");
    let (k3, k3_arn) = h.create_key("K3");
    h.ok(&[
        "kms",
        "create-alias",
        "--alias-name",
        "alias/k2",
        "--target-key-id",
        &k2,
    ]);
    let root = image_bytes(3 << 20, 31, b"S3-ROOT-PLAINTEXT-0x31");
    let plain = h.import(&root, &[]);
    let ami_u = h.register("s3-ami-u", "/dev/sda1", &plain, &[]);

    let copy = s(&h.ok(&[
        "ec2",
        "copy-image",
        "--source-image-id",
        &ami_u,
        "--source-region",
        REGION,
        "--name",
        "s3-k2",
        "--encrypted",
        "--kms-key-id",
        "alias/k2",
    ])["ImageId"]);
    assert_eq!(h.image(&copy)["State"], "available");
    let snap = h.snapshot_of(&copy, "/dev/sda1");
    assert_eq!(snap["Encrypted"], true);
    assert_eq!(snap["KmsKeyId"], k2_arn.as_str());
    assert!(snap["DataEncryptionKeyId"]
        .as_str()
        .is_some_and(|d| !d.is_empty()));
    // AMI-U is unchanged.
    let u = h.snapshot_of(&ami_u, "/dev/sda1");
    assert_eq!(u["Encrypted"], false);
    assert_eq!(u["SnapshotId"], plain.as_str());
    // Re-pointing the alias later changes nothing recorded.
    h.ok(&[
        "kms",
        "update-alias",
        "--alias-name",
        "alias/k2",
        "--target-key-id",
        &k3,
    ]);
    assert_eq!(
        h.snapshot(&s(&snap["SnapshotId"]))["KmsKeyId"],
        k2_arn.as_str()
    );
    assert_ne!(k2_arn, k3_arn);
    // Launching the copy gives a K2 root volume with the same bytes.
    let inst = h.run_instance(&copy, &[]);
    let rv = h.volume_at(&inst, "/dev/sda1");
    assert_eq!(rv["KmsKeyId"], k2_arn.as_str());
    let rs = h.ok(&["ec2", "create-snapshot", "--volume-id", &s(&rv["VolumeId"])]);
    assert_eq!(rs["DataEncryptionKeyId"], snap["DataEncryptionKeyId"]);
    h.assert_export(&s(&rs["SnapshotId"]), &root);
    // Encrypted without a key: the default key.
    let d = s(&h.ok(&[
        "ec2",
        "copy-image",
        "--source-image-id",
        &ami_u,
        "--source-region",
        REGION,
        "--name",
        "s3-default",
        "--encrypted",
    ])["ImageId"]);
    let default_arn = h.describe_key_arn("alias/aws/ebs");
    assert_eq!(
        h.snapshot_of(&d, "/dev/sda1")["KmsKeyId"],
        default_arn.as_str()
    );
    // A key without Encrypted: refused, no AMI.
    let before = h.ok(&["ec2", "describe-images"])["Images"]
        .as_array()
        .unwrap()
        .len();
    let code = h.err(&[
        "ec2",
        "copy-image",
        "--source-image-id",
        &ami_u,
        "--source-region",
        REGION,
        "--name",
        "s3-bad",
        "--kms-key-id",
        "alias/k2",
    ]);
    assert_eq!(code, "InvalidParameterDependency");
    assert_eq!(
        h.ok(&["ec2", "describe-images"])["Images"]
            .as_array()
            .unwrap()
            .len(),
        before
    );
    // The plaintext source stays plaintext (it is unencrypted); every encrypted file is not.
    for id in [
        s(&snap["SnapshotId"]),
        s(&rs["SnapshotId"]),
        s(&rv["VolumeId"]),
    ] {
        h.assert_blob_has_no(&id, b"S3-ROOT-PLAINTEXT-0x31");
    }
}

#[test]
fn s4_ami_from_a_running_instance_with_an_encrypted_root_volume() {
    let h = Home::new();
    let (k1, k1_arn) = h.create_key("K1");
    let root = image_bytes(2 << 20, 41, b"S4-ROOT-PLAINTEXT-0x41");
    let plain = h.import(&root, &[]);
    let ami_u = h.register("s4-ami-u", "/dev/xvda", &plain, &[]);
    // 1. Launch with the root re-keyed to K1 at launch.
    let bdm = json!([{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": true, "KmsKeyId": k1}}])
        .to_string();
    let inst = h.run_instance(&ami_u, &["--block-device-mappings", &bdm]);
    let rv = h.volume_at(&inst, "/dev/xvda");
    assert_eq!(rv["Encrypted"], true);
    assert_eq!(rv["KmsKeyId"], k1_arn.as_str());
    let lineage = h.ok(&["ec2", "create-snapshot", "--volume-id", &s(&rv["VolumeId"])]);
    // 2. CreateImage (with reboot): the instance is running again afterwards.
    let ami = s(&h.ok(&[
        "ec2",
        "create-image",
        "--instance-id",
        &inst,
        "--name",
        "s4-ami",
        "--reboot",
    ])["ImageId"]);
    assert_eq!(h.instance(&inst)["State"]["Name"], "running");
    let img = h.image(&ami);
    assert_eq!(img["BlockDeviceMappings"][0]["Ebs"]["Encrypted"], true);
    let snap = h.snapshot_of(&ami, "/dev/xvda");
    assert_eq!(snap["KmsKeyId"], k1_arn.as_str());
    assert_eq!(snap["DataEncryptionKeyId"], lineage["DataEncryptionKeyId"]);
    h.assert_export(&s(&snap["SnapshotId"]), &root);
    // Launching it gives a K1 root volume.
    let inst2 = h.run_instance(&ami, &[]);
    assert_eq!(
        h.volume_at(&inst2, "/dev/xvda")["KmsKeyId"],
        k1_arn.as_str()
    );
    // Encrypted=false on the root entry of CreateImage is ignored.
    let bdm_false = json!([{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": false}}]).to_string();
    let ami_f = s(&h.ok(&[
        "ec2",
        "create-image",
        "--instance-id",
        &inst,
        "--name",
        "s4-ami-false",
        "--block-device-mappings",
        &bdm_false,
    ])["ImageId"]);
    assert_eq!(
        h.snapshot_of(&ami_f, "/dev/xvda")["KmsKeyId"],
        k1_arn.as_str()
    );
    // On an instance with an unencrypted root, Encrypted=true there is rejected.
    let plain_inst = h.run_instance(&ami_u, &[]);
    let bdm_true = json!([{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": true}}]).to_string();
    let code = h.err(&[
        "ec2",
        "create-image",
        "--instance-id",
        &plain_inst,
        "--name",
        "s4-ami-true",
        "--block-device-mappings",
        &bdm_true,
    ]);
    assert_eq!(code, "InvalidBlockDeviceMapping");
    for id in [s(&rv["VolumeId"]), s(&snap["SnapshotId"])] {
        h.assert_blob_has_no(&id, b"S4-ROOT-PLAINTEXT-0x41");
    }
}

#[test]
fn s5_an_ami_with_a_unique_key_per_snapshot() {
    let h = Home::new();
    let (k1, k1_arn) = h.create_key("K1");
    let (k2, k2_arn) = h.create_key("K2");
    let (k3, k3_arn) = h.create_key("K3");
    let (k4, k4_arn) = h.create_key("K4");
    let root = image_bytes(2 << 20, 51, b"S5-ROOT-PLAINTEXT-0x51");
    let d2 = image_bytes(1 << 20, 52, b"S5-SDF-PLAINTEXT-0x52");
    let d3 = image_bytes(3 << 20, 53, b"S5-SDG-PLAINTEXT-0x53");
    // 1. AMI-1K: root encrypted with K1 (imported encrypted).
    let root_snap = h.import(&root, &["--encrypted", "--kms-key-id", &k1]);
    let ami_1k = h.register("s5-ami-1k", "/dev/xvda", &root_snap, &[]);
    // 2. Launch.
    let inst = h.run_instance(&ami_1k, &["--placement", "AvailabilityZone=us-east-1b"]);
    assert_eq!(h.volume_at(&inst, "/dev/xvda")["KmsKeyId"], k1_arn.as_str());
    // 3. vol2 (K2) and vol3 (K3) in the instance's zone, with imported data.
    let s2 = h.import(&d2, &["--encrypted", "--kms-key-id", &k2]);
    let s3 = h.import(&d3, &["--encrypted", "--kms-key-id", &k3]);
    let vol2 = s(&h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1b",
        "--snapshot-id",
        &s2,
        "--encrypted",
        "--kms-key-id",
        &k2,
    ])["VolumeId"]);
    let vol3 = s(&h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1b",
        "--snapshot-id",
        &s3,
        "--encrypted",
        "--kms-key-id",
        &k3,
    ])["VolumeId"]);
    // 4. Attach both.
    h.attach(&vol2, &inst, "/dev/sdf");
    h.attach(&vol3, &inst, "/dev/sdg");
    assert_eq!(h.volume(&vol2)["State"], "in-use");
    assert_eq!(h.volume(&vol3)["State"], "in-use");
    // 5. CreateImage -> AMI-M with three keys.
    let ami_m = s(&h.ok(&[
        "ec2",
        "create-image",
        "--instance-id",
        &inst,
        "--name",
        "s5-ami-m",
    ])["ImageId"]);
    assert_eq!(
        h.image(&ami_m)["BlockDeviceMappings"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let expect = [
        ("/dev/xvda", &k1_arn, &root),
        ("/dev/sdf", &k2_arn, &d2),
        ("/dev/sdg", &k3_arn, &d3),
    ];
    for (dev, arn, bytes) in expect {
        let snap = h.snapshot_of(&ami_m, dev);
        assert_eq!(snap["KmsKeyId"], arn.as_str(), "{dev}");
        h.assert_export(&s(&snap["SnapshotId"]), bytes);
    }
    // Launching AMI-M yields three volumes with K1/K2/K3.
    let inst_m = h.run_instance(&ami_m, &[]);
    for (dev, arn, _) in expect {
        assert_eq!(h.volume_at(&inst_m, dev)["KmsKeyId"], arn.as_str(), "{dev}");
    }
    // CopyImage without parameters keeps K1/K2/K3 and each data key.
    let keep = s(&h.ok(&[
        "ec2",
        "copy-image",
        "--source-image-id",
        &ami_m,
        "--source-region",
        REGION,
        "--name",
        "s5-keep",
    ])["ImageId"]);
    for (dev, arn, _) in expect {
        let a = h.snapshot_of(&ami_m, dev);
        let b = h.snapshot_of(&keep, dev);
        assert_eq!(b["KmsKeyId"], arn.as_str());
        assert_eq!(a["DataEncryptionKeyId"], b["DataEncryptionKeyId"]);
    }
    // CopyImage with K4: every snapshot K4, each with a new data key (the one-key limit).
    let all4 = s(&h.ok(&[
        "ec2",
        "copy-image",
        "--source-image-id",
        &ami_m,
        "--source-region",
        REGION,
        "--name",
        "s5-k4",
        "--encrypted",
        "--kms-key-id",
        &k4,
    ])["ImageId"]);
    let mut deks = std::collections::HashSet::new();
    for (dev, _, bytes) in expect {
        let a = h.snapshot_of(&ami_m, dev);
        let b = h.snapshot_of(&all4, dev);
        assert_eq!(b["KmsKeyId"], k4_arn.as_str());
        assert_ne!(a["DataEncryptionKeyId"], b["DataEncryptionKeyId"]);
        assert!(deks.insert(s(&b["DataEncryptionKeyId"])));
        h.assert_export(&s(&b["SnapshotId"]), bytes);
    }
    // AMI-M's snapshots cannot be deleted while it is registered.
    for (dev, _, _) in expect {
        let sid = s(&h.snapshot_of(&ami_m, dev)["SnapshotId"]);
        assert_eq!(
            h.err(&["ec2", "delete-snapshot", "--snapshot-id", &sid]),
            "InvalidSnapshot.InUse"
        );
    }
    let m_snaps: Vec<String> = h
        .image_snapshots(&ami_m)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    h.ok(&["ec2", "deregister-image", "--image-id", &ami_m]);
    for sid in &m_snaps {
        h.ok(&["ec2", "delete-snapshot", "--snapshot-id", sid]);
    }
    for m in [
        &b"S5-ROOT-PLAINTEXT-0x51"[..],
        b"S5-SDF-PLAINTEXT-0x52",
        b"S5-SDG-PLAINTEXT-0x53",
    ] {
        h.assert_no_plaintext(m);
    }
}
