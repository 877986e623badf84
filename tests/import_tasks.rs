//! ImportSnapshot as AWS does it: `--disk-container Format=…,Url=file://…` for RAW, VMDK, VHD
//! and qcow2 images that `qemu-img` makes, the import task that describe-import-snapshot-tasks
//! shows, a failed task's AWS status message, and every `ec2 wait` waiter end to end, on its
//! success and its failure paths.

use crate::support::{image_bytes, s, Home};
use std::path::Path;
use std::process::Command;

/// Whether qemu-img can be run; in CI it must be (`.ci/run` installs qemu-utils).
fn qemu_img() -> bool {
    let ok = Command::new("qemu-img")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "qemu-img is missing in CI"
        );
        eprintln!("skipped: qemu-img is not installed (apt-get install qemu-utils)");
    }
    ok
}

fn convert(raw: &Path, out: &Path, args: &[&str]) {
    let st = Command::new("qemu-img")
        .args(["convert", "-f", "raw"])
        .args(args)
        .arg(raw)
        .arg(out)
        .status()
        .unwrap();
    assert!(st.success(), "qemu-img convert {args:?}");
}

/// Runs `ec2 wait …` with a short delay and `attempts` attempts; returns (exit code, stderr).
fn wait(h: &Home, args: &[&str], attempts: u32) -> (Option<i32>, String) {
    let mut a = vec!["ec2", "wait"];
    a.extend_from_slice(args);
    let out = h
        .command(&a)
        .env("BLOCKSEAL_WAITER_DELAY", "0.01")
        .env("BLOCKSEAL_WAITER_MAX_ATTEMPTS", attempts.to_string())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

fn task(h: &Home, id: &str) -> serde_json::Value {
    let v = h.ok(&[
        "ec2",
        "describe-import-snapshot-tasks",
        "--import-task-ids",
        id,
    ]);
    v["ImportSnapshotTasks"][0].clone()
}

#[test]
fn every_format_imports_the_disk_s_bytes() {
    if !qemu_img() {
        return;
    }
    let h = Home::new();
    let (_, arn) = h.create_key("import");
    let data = image_bytes(3 << 20, 41, b"IMPORT-FORMATS");
    let raw = h.scratch("disk.raw");
    std::fs::write(&raw, &data).unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        ("RAW", "raw", &[]),
        ("VMDK", "sparse.vmdk", &["-O", "vmdk"]),
        (
            "VMDK",
            "stream.vmdk",
            &["-O", "vmdk", "-o", "subformat=streamOptimized"],
        ),
        ("VHD", "dynamic.vhd", &["-O", "vpc"]),
        (
            "VHD",
            "fixed.vhd",
            &["-O", "vpc", "-o", "subformat=fixed,force_size=on"],
        ),
        ("QCOW2", "disk.qcow2", &["-O", "qcow2"]),
    ];
    for (format, name, args) in cases {
        let file = if args.is_empty() {
            raw.clone()
        } else {
            let f = h.scratch(name);
            convert(&raw, &f, args);
            f
        };
        let url = format!("file://{}", file.display());
        let v = h.ok(&[
            "ec2",
            "import-snapshot",
            "--description",
            name,
            "--disk-container",
            &format!("Format={format},Url={url},Description=disk-{name}"),
            "--encrypted",
            "--kms-key-id",
            &arn,
        ]);
        let d = &v["SnapshotTaskDetail"];
        assert_eq!(d["Status"], "completed", "{name}: {v}");
        assert_eq!(d["Format"], *format);
        assert_eq!(d["Url"], url);
        assert_eq!(d["KmsKeyId"], arn);
        assert_eq!(d["Encrypted"], true);
        let id = s(&v["ImportTaskId"]);
        assert!(
            id.starts_with("import-snap-") && id.len() == 12 + 17,
            "{id}"
        );
        let snap = s(&d["SnapshotId"]);
        h.assert_export(&snap, &data);
        h.assert_no_plaintext(b"IMPORT-FORMATS");
        let t = task(&h, &id);
        assert_eq!(t["SnapshotTaskDetail"]["Status"], "completed");
        assert_eq!(t["SnapshotTaskDetail"]["SnapshotId"], snap.as_str());
        assert_eq!(t["Description"], *name);
        assert_eq!(h.snapshot(&snap)["Description"], format!("disk-{name}"));
        assert_eq!(
            wait(&h, &["snapshot-imported", "--import-task-ids", &id], 3).0,
            Some(0)
        );
    }
    // The short form finds the format in the file.
    let v = h.ok(&[
        "ec2",
        "import-snapshot",
        "--file",
        h.scratch("stream.vmdk").to_str().unwrap(),
    ]);
    assert_eq!(v["SnapshotTaskDetail"]["Format"], "VMDK");
    h.assert_export(&s(&v["SnapshotTaskDetail"]["SnapshotId"]), &data);
}

#[test]
fn a_disk_that_is_not_its_format_ends_the_task_deleted() {
    let h = Home::new();
    let raw = h.scratch("plain.raw");
    std::fs::write(&raw, image_bytes(1 << 20, 5, b"NOT-A-VMDK")).unwrap();
    let url = format!("file://{}", raw.display());
    let out = h.run(&[
        "ec2",
        "import-snapshot",
        "--disk-container",
        &format!("Format=VMDK,Url={url}"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "{stderr}");
    assert!(
        stderr.contains(
            "(InvalidParameterValue) when calling the ImportSnapshot operation: ClientError: \
             Disk validation failed [Unsupported Specified FileFormat]"
        ),
        "{stderr}"
    );
    let v = h.ok(&[
        "ec2",
        "describe-import-snapshot-tasks",
        "--filters",
        "Name=task-state,Values=deleted",
    ]);
    let tasks = v["ImportSnapshotTasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1, "{v}");
    let d = &tasks[0]["SnapshotTaskDetail"];
    assert_eq!(d["Status"], "deleted");
    assert!(s(&d["StatusMessage"]).starts_with("ClientError: Disk validation failed"));
    assert!(d.get("SnapshotId").is_none());
    let snaps = h.ok(&["ec2", "describe-snapshots"]);
    assert_eq!(
        snaps["Snapshots"].as_array().unwrap().len(),
        0,
        "no snapshot"
    );
    // snapshot-imported fails only on `error` (botocore's acceptors): a deleted task times out.
    let id = s(&tasks[0]["ImportTaskId"]);
    let (code, msg) = wait(&h, &["snapshot-imported", "--import-task-ids", &id], 2);
    assert_eq!(code, Some(255));
    assert_eq!(msg, "Waiter SnapshotImported failed: Max attempts exceeded");
}

#[test]
fn bad_sources_get_aws_codes() {
    let h = Home::new();
    let raw = h.scratch("d.raw");
    std::fs::write(&raw, image_bytes(1 << 20, 6, b"BAD")).unwrap();
    let url = format!("file://{}", raw.display());
    let imp = |dc: &str| h.err(&["ec2", "import-snapshot", "--disk-container", dc]);
    assert_eq!(
        imp("Format=RAW,UserBucket={S3Bucket=b,S3Key=k.raw}"),
        "InvalidParameter"
    );
    assert_eq!(
        imp("Format=RAW,Url=s3://bucket/key.raw"),
        "InvalidParameter"
    );
    assert_eq!(
        imp(&format!("Format=ISO,Url={url}")),
        "InvalidParameterValue"
    );
    assert_eq!(imp(&format!("Url={url}")), "MissingParameter");
    assert_eq!(
        imp("Format=RAW,Url=file:///nonexistent/disk.raw"),
        "InvalidParameterValue"
    );
    assert_eq!(
        h.err(&[
            "ec2",
            "describe-import-snapshot-tasks",
            "--import-task-ids",
            "import-snap-0123456789abcdef0",
        ]),
        "InvalidConversionTaskId"
    );
    assert_eq!(
        h.err(&[
            "ec2",
            "describe-import-snapshot-tasks",
            "--import-task-ids",
            "snap-1"
        ]),
        "InvalidParameterValue"
    );
    // A client token returns the first task instead of a second import.
    let a = h.ok(&[
        "ec2",
        "import-snapshot",
        "--file",
        raw.to_str().unwrap(),
        "--client-token",
        "t-1",
    ]);
    let b = h.ok(&[
        "ec2",
        "import-snapshot",
        "--file",
        raw.to_str().unwrap(),
        "--client-token",
        "t-1",
    ]);
    assert_eq!(a["ImportTaskId"], b["ImportTaskId"]);
    assert_eq!(
        h.ok(&["ec2", "describe-snapshots"])["Snapshots"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn waiters_succeed_and_fail_as_the_aws_cli_s() {
    let h = Home::new();
    let snap = h.import(&image_bytes(1 << 20, 9, b"WAITERS"), &[]);
    let ami = h.register("waiters", "/dev/xvda", &snap, &[]);
    assert_eq!(
        wait(&h, &["image-exists", "--image-ids", &ami], 3).0,
        Some(0)
    );
    let (code, msg) = wait(
        &h,
        &["image-exists", "--image-ids", "ami-0123456789abcdef0"],
        2,
    );
    assert_eq!(code, Some(255));
    assert_eq!(
        msg,
        "Waiter ImageExists failed: Max attempts exceeded. Previously accepted state: Matched \
         expected service error code: InvalidAMIID.NotFound"
    );
    let (code, msg) = wait(&h, &["image-exists", "--image-ids", "bogus"], 2);
    assert_eq!(code, Some(255));
    assert!(
        msg.starts_with("Waiter ImageExists failed: An error occurred (InvalidAMIID.Malformed)"),
        "{msg}"
    );

    let inst = h.run_instance(&ami, &[]);
    assert_eq!(
        wait(&h, &["instance-exists", "--instance-ids", &inst], 3).0,
        Some(0)
    );
    let (code, msg) = wait(&h, &["instance-stopped", "--instance-ids", &inst], 2);
    assert_eq!(
        (code, msg.as_str()),
        (
            Some(255),
            "Waiter InstanceStopped failed: Max attempts exceeded"
        )
    );
    h.ok(&["ec2", "stop-instances", "--instance-ids", &inst]);
    assert_eq!(
        wait(&h, &["instance-stopped", "--instance-ids", &inst], 3).0,
        Some(0)
    );

    let vol = s(&h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--size",
        "1",
    ])["VolumeId"]);
    let (code, msg) = wait(&h, &["volume-in-use", "--volume-ids", &vol], 2);
    assert_eq!(
        (code, msg.as_str()),
        (
            Some(255),
            "Waiter VolumeInUse failed: Max attempts exceeded"
        )
    );
    let other = h.run_instance(&ami, &[]);
    h.attach(&vol, &other, "/dev/sdf");
    assert_eq!(
        wait(&h, &["volume-in-use", "--volume-ids", &vol], 3).0,
        Some(0)
    );

    h.ok(&["ec2", "terminate-instances", "--instance-ids", &inst]);
    assert_eq!(
        wait(&h, &["instance-terminated", "--instance-ids", &inst], 3).0,
        Some(0)
    );
    let (code, msg) = wait(&h, &["instance-stopped", "--instance-ids", &inst], 3);
    assert_eq!(code, Some(255));
    assert_eq!(
        msg,
        "Waiter InstanceStopped failed: Waiter encountered a terminal failure state: For \
         expression \"Reservations[].Instances[].State.Name\" we matched expected path: \
         \"terminated\" at least once"
    );
    let (code, msg) = wait(&h, &["instance-running", "--instance-ids", &inst], 3);
    assert_eq!(code, Some(255));
    assert!(
        msg.contains("matched expected path: \"terminated\" at least once"),
        "{msg}"
    );

    h.ok(&["ec2", "detach-volume", "--volume-id", &vol]);
    let (code, _) = wait(&h, &["volume-deleted", "--volume-ids", &vol], 2);
    assert_eq!(code, Some(255), "the volume is still there");
    h.ok(&["ec2", "delete-volume", "--volume-id", &vol]);
    assert_eq!(
        wait(&h, &["volume-deleted", "--volume-ids", &vol], 3).0,
        Some(0),
        "InvalidVolume.NotFound is success"
    );
}
