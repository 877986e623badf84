//! Failure story: an operator restores an older `catalog.db` from a backup, loses a data file,
//! or finds a data file damaged. `blockseal doctor` must say what is wrong with each resource
//! without changing anything, and `doctor --repair` must bring back every resource whose file
//! proves it (byte for byte), mark what cannot be read as `error`, and never delete data.

use crate::support::{image_bytes, Home};
use serde_json::Value;

/// Runs `blockseal doctor` with `extra` flags; returns (exit status, JSON output).
fn doctor(h: &Home, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["doctor"];
    args.extend_from_slice(extra);
    let out = h.run(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "doctor {extra:?}: not JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exited"), v)
}

/// (ResourceId, Code) of each finding in `list`, sorted.
fn ids_codes(list: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["ResourceId"].as_str().unwrap().to_owned(),
                f["Code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

const CATALOG_FILES: [&str; 2] = ["catalog.db", "catalog.db-wal"];

#[test]
fn a_restored_older_catalog_gets_its_newer_resources_back() {
    let h = Home::new();
    let (key, key_arn) = h.create_key("doctor");
    let old_data = image_bytes(2 << 20, 1, b"DOCTOR-OLD");
    let old_snap = h.import(&old_data, &[]);
    // The backup.
    let saved: Vec<Option<Vec<u8>>> = CATALOG_FILES
        .iter()
        .map(|n| std::fs::read(h.path().join(n)).ok())
        .collect();

    // Made after the backup: an encrypted import, a plain import, a re-keying copy of it and a
    // volume of the encrypted one.
    let enc_data = image_bytes(3 << 20, 2, b"DOCTOR-ENC");
    let enc_snap = h.import(
        &enc_data,
        &[
            "--encrypted",
            "--kms-key-id",
            &key,
            "--description",
            "after the backup",
        ],
    );
    let plain_data = image_bytes(1 << 20, 3, b"DOCTOR-PLAIN");
    let plain_snap = h.import(&plain_data, &[]);
    let copied = h.ok(&[
        "ec2",
        "copy-snapshot",
        "--source-snapshot-id",
        &plain_snap,
        "--source-region",
        "us-east-1",
        "--encrypted",
        "--kms-key-id",
        &key,
    ])["SnapshotId"]
        .as_str()
        .unwrap()
        .to_owned();
    let vol = h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1c",
        "--volume-type",
        "gp3",
        "--snapshot-id",
        &enc_snap,
    ])["VolumeId"]
        .as_str()
        .unwrap()
        .to_owned();
    let before: Vec<Value> = [&enc_snap, &plain_snap, &copied]
        .iter()
        .map(|id| h.snapshot(id))
        .collect();
    let vol_before = h.volume(&vol);

    // The operator restores the backup: the next command quarantines the newer files.
    let _ = std::fs::remove_file(h.path().join("catalog.db-shm"));
    for (n, bytes) in CATALOG_FILES.iter().zip(&saved) {
        match bytes {
            Some(b) => std::fs::write(h.path().join(n), b).unwrap(),
            None => {
                let _ = std::fs::remove_file(h.path().join(n));
            }
        }
    }
    let listed = h.ok(&["ec2", "describe-snapshots"]);
    assert_eq!(listed["Snapshots"].as_array().unwrap().len(), 1);
    let mut newer = vec![
        enc_snap.clone(),
        plain_snap.clone(),
        copied.clone(),
        vol.clone(),
    ];
    newer.sort();
    assert_eq!(names_in(&h.path().join("quarantine")), newer);

    // doctor reports each, changes nothing, exits 1.
    let (status, report) = doctor(&h, &[]);
    assert_eq!(status, 1, "{report}");
    let expected: Vec<(String, String)> = newer
        .iter()
        .map(|id| (id.clone(), "UnownedDataFile".to_owned()))
        .collect();
    assert_eq!(ids_codes(&report["Findings"]), expected);
    for f in report["Findings"].as_array().unwrap() {
        let repair = f["Repair"].as_str().unwrap();
        assert!(
            repair.starts_with("rebuild the row") && repair.contains("back to blobs/"),
            "{f}"
        );
        assert!(f.get("Repaired").is_none());
    }
    assert_eq!(
        names_in(&h.path().join("quarantine")),
        newer,
        "a check moves nothing"
    );

    // doctor --repair brings them back.
    let (status, report) = doctor(&h, &["--repair"]);
    assert_eq!(status, 0, "{report}");
    assert_eq!(ids_codes(&report["Findings"]), expected);
    assert!(report["Findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["Repaired"] == true));
    assert_eq!(report["Remaining"], serde_json::json!([]));
    assert_eq!(names_in(&h.path().join("quarantine")), Vec::<String>::new());

    // The rows are what they were, and the data reads back byte for byte.
    for (id, was) in [&enc_snap, &plain_snap, &copied].iter().zip(&before) {
        assert_eq!(&h.snapshot(id), was, "{id}");
    }
    assert_eq!(h.snapshot(&enc_snap)["KmsKeyId"], key_arn.as_str());
    assert_eq!(h.snapshot(&enc_snap)["Description"], "after the backup");
    assert_eq!(h.volume(&vol), vol_before);
    h.assert_export(&old_snap, &old_data);
    h.assert_export(&enc_snap, &enc_data);
    h.assert_export(&plain_snap, &plain_data);
    h.assert_export(&copied, &plain_data);
    // The volume's data too: a snapshot of it exports the encrypted import's bytes.
    let of_vol = h.ok(&["ec2", "create-snapshot", "--volume-id", &vol])["SnapshotId"]
        .as_str()
        .unwrap()
        .to_owned();
    h.assert_export(&of_vol, &enc_data);

    // A second doctor finds a healthy home.
    let (status, report) = doctor(&h, &[]);
    assert_eq!((status, &report["Findings"]), (0, &serde_json::json!([])));
}

#[test]
fn a_deleted_data_file_is_corrupt_file_and_is_marked_error() {
    let h = Home::new();
    let (key, _) = h.create_key("doctor");
    let snap = h.import(
        &image_bytes(1 << 20, 4, b"DOCTOR-GONE"),
        &["--encrypted", "--kms-key-id", &key],
    );
    let keep = h.import(&image_bytes(1 << 20, 5, b"DOCTOR-KEEP"), &[]);
    std::fs::remove_file(h.path().join("blobs").join(&snap)).unwrap();

    let (status, report) = doctor(&h, &[]);
    assert_eq!(status, 1);
    assert_eq!(
        ids_codes(&report["Findings"]),
        [(snap.clone(), "CorruptFile".to_owned())]
    );
    let msg = report["Findings"][0]["Message"].as_str().unwrap();
    assert!(msg.contains(&snap) && msg.contains("missing"), "{msg}");
    assert_eq!(h.snapshot(&snap)["State"], "error");

    let (status, report) = doctor(&h, &["--repair"]);
    assert_eq!(status, 1, "a lost file cannot be repaired: {report}");
    assert_eq!(report["Findings"][0]["Repaired"], true);
    // What remains says so, and what to do.
    assert_eq!(
        ids_codes(&report["Remaining"]),
        [(snap.clone(), "CorruptFile".to_owned())]
    );
    let repair = report["Remaining"][0]["Repair"].as_str().unwrap();
    assert!(
        repair.starts_with("none") && repair.contains("backup"),
        "{repair}"
    );
    let s = h.snapshot(&snap);
    assert_eq!(s["State"], "error");
    assert!(
        s["StateMessage"].as_str().unwrap().contains("missing"),
        "{s}"
    );
    assert_eq!(h.snapshot(&keep)["State"], "completed");
    // Repeating the repair changes nothing.
    let (status, again) = doctor(&h, &["--repair"]);
    assert_eq!(status, 1);
    assert_eq!(again["Findings"][0]["Repaired"], false);
    assert_eq!(again["Remaining"], report["Remaining"]);
    // The row can still be deleted.
    h.ok(&["ec2", "delete-snapshot", "--snapshot-id", &snap]);
    assert_eq!(doctor(&h, &[]).0, 0);
}

#[test]
fn a_damaged_header_is_reported_and_its_volume_shows_error() {
    let h = Home::new();
    let vol = h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--size",
        "1",
        "--encrypted",
    ])["VolumeId"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = h.path().join("blobs").join(&vol);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[40] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(h.volume(&vol)["State"], "available", "the length is right");

    let (status, report) = doctor(&h, &[]);
    assert_eq!(status, 1);
    assert_eq!(
        ids_codes(&report["Findings"]),
        [(vol.clone(), "CorruptFile".to_owned())]
    );
    let msg = report["Findings"][0]["Message"].as_str().unwrap();
    assert!(msg.contains("checksum"), "{msg}");
    let (status, _) = doctor(&h, &["--repair"]);
    assert_eq!(status, 1);
    assert_eq!(h.volume(&vol)["State"], "error");
    let errored = h.ok(&[
        "ec2",
        "describe-volumes",
        "--filters",
        "Name=status,Values=error",
    ]);
    assert_eq!(errored["Volumes"][0]["VolumeId"], vol.as_str());
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the file is kept as it was"
    );

    // The file put right again, a repair puts the volume back in service.
    bytes[40] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let (status, report) = doctor(&h, &["--repair"]);
    assert_eq!(
        ids_codes(&report["Findings"]),
        [(vol.clone(), "IncorrectState".to_owned())]
    );
    assert_eq!(status, 0, "{report}");
    assert_eq!(h.volume(&vol)["State"], "available");
}

#[test]
fn a_healthy_home_has_no_findings_in_any_output() {
    let h = Home::new();
    h.import(&image_bytes(1 << 20, 6, b"DOCTOR-OK"), &["--encrypted"]);
    let (status, report) = doctor(&h, &[]);
    assert_eq!(status, 0);
    assert_eq!(report["Findings"], serde_json::json!([]));
    assert_eq!(report["Home"], h.path().display().to_string());
    let out = h.run(&["doctor", "--output", "text"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&h.path().display().to_string()), "{text}");
}

#[test]
fn a_home_other_commands_refuse_is_reported_not_refused() {
    let h = Home::new();
    h.import(&image_bytes(1 << 20, 7, b"DOCTOR-KEY"), &["--encrypted"]);
    let key = h.path().join("kms-root.key");
    let saved = std::fs::read(&key).unwrap();
    std::fs::remove_file(&key).unwrap();
    assert_eq!(h.err(&["ec2", "describe-snapshots"]), "InvalidHome");
    for extra in [&[][..], &["--repair"][..]] {
        let (status, report) = doctor(&h, extra);
        assert_eq!(status, 1);
        assert_eq!(
            ids_codes(&report["Findings"]),
            [("kms-root.key".to_owned(), "InvalidHome".to_owned())]
        );
        let msg = report["Findings"][0]["Message"].as_str().unwrap();
        assert!(msg.contains("missing"), "{msg}");
    }
    assert!(!key.exists(), "no root key was made");
    std::fs::write(&key, saved).unwrap();
    assert_eq!(doctor(&h, &[]).0, 0);
}
