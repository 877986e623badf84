//! The FUSE front end driven like a user: `blockseal mount`, then dd, fio and plain file I/O on
//! the block files, with attach, detach, create-image, kill -9 and remounts around them.
//!
//! These need /dev/fuse and root. Under CI (CI=true) they fail without them; elsewhere they
//! skip with a printed reason.

use crate::support::{fuse_usable, image_bytes, s, Home};
use serde_json::json;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A daemon mount of an instance, unmounted when dropped.
struct Mounted<'a> {
    h: &'a Home,
    dir: PathBuf,
}

impl<'a> Mounted<'a> {
    fn new(h: &'a Home, instance: &str, name: &str) -> Mounted<'a> {
        let dir = h.scratch(name);
        // After a kill -9 the directory is a dead mount point; `mount` itself cleans that up.
        let _ = std::fs::create_dir_all(&dir);
        let out = h.run(&[
            "mount",
            "--instance-id",
            instance,
            dir.to_str().unwrap(),
            "--daemon",
        ]);
        assert!(
            out.status.success(),
            "mount failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Mounted { h, dir }
    }

    fn file(&self, dev: &str) -> PathBuf {
        self.dir.join(dev)
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
        let _ = Command::new("fusermount3")
            .arg("-u")
            .arg("-z")
            .arg(&self.dir)
            .output();
    }
}

/// An instance launched from a one-snapshot image encrypted with a new key; (instance, key arn).
fn encrypted_instance(h: &Home, name: &str, gib: u64) -> (String, String) {
    let (k, arn) = h.create_key(name);
    let f = h.scratch(&format!("{name}.raw"));
    let file = std::fs::File::create(&f).unwrap();
    file.set_len(gib * crate::support::GIB).unwrap();
    drop(file);
    let v = h.ok(&[
        "ec2",
        "import-snapshot",
        "--file",
        f.to_str().unwrap(),
        "--encrypted",
        "--kms-key-id",
        &k,
    ]);
    let snap = s(&v["SnapshotTaskDetail"]["SnapshotId"]);
    let ami = h.register(name, "/dev/xvda", &snap, &[]);
    (h.run_instance(&ami, &[]), arn)
}

fn write_at(path: &Path, off: u64, data: &[u8], sync: bool) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(data, off).unwrap();
    if sync {
        f.sync_all().unwrap();
    }
}

fn read_at(path: &Path, off: u64, len: usize) -> Vec<u8> {
    let mut f = std::fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start(off)).unwrap();
    let mut v = vec![0u8; len];
    f.read_exact(&mut v).unwrap();
    v
}

#[test]
fn dd_256_mib_through_the_mount_reads_back_and_only_ciphertext_is_stored() {
    if !fuse_usable() {
        return;
    }
    let h = Home::new();
    let (inst, _) = encrypted_instance(&h, "fuse-dd", 1);
    let m = Mounted::new(&h, &inst, "mnt-dd");
    assert_eq!(m.names(), vec!["xvda"]);
    assert_eq!(
        std::fs::metadata(m.file("xvda")).unwrap().len(),
        crate::support::GIB
    );
    let data = image_bytes(256 << 20, 7, b"FUSE-DD-PLAINTEXT-MARKER");
    let src = h.scratch("dd-src.raw");
    std::fs::write(&src, &data).unwrap();
    let dd = |args: &[&str]| {
        let o = Command::new("dd").args(args).output().unwrap();
        assert!(
            o.status.success(),
            "dd {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let of = format!("of={}", m.file("xvda").display());
    dd(&[
        &format!("if={}", src.display()),
        &of,
        "bs=1M",
        "seek=3",
        "conv=fsync,notrunc",
        "status=none",
    ]);
    let back = h.scratch("dd-back.raw");
    dd(&[
        &format!("if={}", m.file("xvda").display()),
        &format!("of={}", back.display()),
        "bs=1M",
        "skip=3",
        "count=256",
        "status=none",
    ]);
    assert!(
        std::fs::read(&back).unwrap() == data,
        "bytes read back through the mount differ"
    );
    // Unaligned I/O across a sector edge reads back too.
    write_at(&m.file("xvda"), 4093, b"straddle", true);
    assert_eq!(read_at(&m.file("xvda"), 4093, 8), b"straddle");
    // Writes past the end fail; reads past the end return nothing.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(m.file("xvda"))
        .unwrap();
    assert!(f.write_all_at(b"x", crate::support::GIB).is_err());
    drop(f);
    h.assert_no_plaintext(b"FUSE-DD-PLAINTEXT-MARKER");
}

#[test]
fn fio_verify_with_two_jobs() {
    if !fuse_usable() {
        return;
    }
    if Command::new("fio").arg("--version").output().is_err() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "fio must be installed in CI"
        );
        eprintln!("skipping: fio is not installed");
        return;
    }
    let h = Home::new();
    let (inst, _) = encrypted_instance(&h, "fuse-fio", 1);
    let m = Mounted::new(&h, &inst, "mnt-fio");
    // fio leaves `*-verify.state` files in its working folder: keep them in the scratch area.
    let o = Command::new("fio")
        .current_dir(h.scratch(""))
        .args([
            "--name=v",
            &format!("--filename={}", m.file("xvda").display()),
            "--rw=randwrite",
            "--bs=4k",
            "--size=64M",
            "--ioengine=psync",
            "--direct=1",
            "--numjobs=2",
            "--offset_increment=64M",
            "--verify=crc32c",
            "--do_verify=1",
            "--group_reporting",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "fio failed:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.contains("verify: bad"), "{out}");
}

#[test]
fn live_attach_detach_second_mount_and_kill_9() {
    if !fuse_usable() {
        return;
    }
    let h = Home::new();
    let (inst, _) = encrypted_instance(&h, "fuse-live", 1);
    let az = s(&h.instance(&inst)["Placement"]["AvailabilityZone"]);
    let m = Mounted::new(&h, &inst, "mnt-live");
    // A second mount of the same instance is refused.
    let other = h.scratch("mnt-live-2");
    std::fs::create_dir_all(&other).unwrap();
    let code = h.err(&[
        "mount",
        "--instance-id",
        &inst,
        other.to_str().unwrap(),
        "--daemon",
    ]);
    assert_eq!(code, "ResourceBusy");
    // Attach makes a file appear; detach makes it go.
    let v = s(&h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        &az,
        "--size",
        "2",
        "--encrypted",
    ])["VolumeId"]);
    h.attach(&v, &inst, "/dev/sdf");
    assert_eq!(m.names(), vec!["sdf", "xvda"]);
    assert_eq!(
        std::fs::metadata(m.file("sdf")).unwrap().len(),
        2 * crate::support::GIB
    );
    write_at(&m.file("sdf"), 12345, b"on the data volume", true);
    // An open file makes the detach fail busy; closed, it goes.
    let held = std::fs::File::open(m.file("sdf")).unwrap();
    assert_eq!(
        h.err(&["ec2", "detach-volume", "--volume-id", &v]),
        "IncorrectState"
    );
    assert_eq!(h.volume(&v)["State"], "in-use");
    drop(held);
    h.ok(&["ec2", "detach-volume", "--volume-id", &v]);
    assert_eq!(m.names(), vec!["xvda"]);
    // The detached volume kept its bytes.
    let snap = s(&h.ok(&["ec2", "create-snapshot", "--volume-id", &v])["SnapshotId"]);
    let out = h.scratch("sdf.raw");
    h.ok(&[
        "ec2",
        "export-snapshot",
        "--snapshot-id",
        &snap,
        "--file",
        out.to_str().unwrap(),
    ]);
    assert_eq!(read_at(&out, 12345, 18), b"on the data volume");
    // kill -9 of the mount: fsynced data survives, and the next mount works.
    write_at(&m.file("xvda"), 1 << 20, b"fsynced before the crash", true);
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(h.path().join("mounts").join(format!("{inst}.json"))).unwrap(),
    )
    .unwrap();
    let pid = rec["pid"].as_u64().unwrap().to_string();
    assert!(Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let again = Mounted::new(&h, &inst, "mnt-live");
    assert_eq!(
        read_at(&again.file("xvda"), 1 << 20, 24),
        b"fsynced before the crash"
    );
    drop(again);
    std::mem::forget(m);
    // Terminating the instance unmounts it.
    let m3 = Mounted::new(&h, &inst, "mnt-live");
    h.ok(&["ec2", "terminate-instances", "--instance-ids", &inst]);
    assert!(
        std::fs::read_dir(&m3.dir)
            .map(|d| d.count() == 0)
            .unwrap_or(true),
        "terminated instance still mounted"
    );
}

#[test]
fn s4_s5_with_data_written_through_the_mount() {
    if !fuse_usable() {
        return;
    }
    let h = Home::new();
    // S4: an encrypted-root instance (K1 at launch), data written through the mount, imaged
    // while mounted.
    let (k1, k1_arn) = h.create_key("K1");
    let (k2, k2_arn) = h.create_key("K2");
    let (k3, k3_arn) = h.create_key("K3");
    let f = h.scratch("plain-root.raw");
    std::fs::File::create(&f).unwrap().set_len(1 << 30).unwrap();
    let plain = s(
        &h.ok(&["ec2", "import-snapshot", "--file", f.to_str().unwrap()])["SnapshotTaskDetail"]
            ["SnapshotId"],
    );
    let ami_u = h.register("fuse-s4-u", "/dev/xvda", &plain, &[]);
    let bdm = json!([{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": true, "KmsKeyId": k1}}])
        .to_string();
    let inst = h.run_instance(
        &ami_u,
        &[
            "--block-device-mappings",
            &bdm,
            "--placement",
            "AvailabilityZone=us-east-1a",
        ],
    );
    let root_data = image_bytes(3 << 20, 44, b"FUSE-S4-ROOT-MARKER");
    let d2 = image_bytes(1 << 20, 45, b"FUSE-S5-SDF-MARKER");
    let d3 = image_bytes(2 << 20, 46, b"FUSE-S5-SDG-MARKER");
    let m = Mounted::new(&h, &inst, "mnt-s4");
    write_at(&m.file("xvda"), 0, &root_data, true);
    // S5: K2 and K3 data volumes attached while mounted, written through the mount.
    let v2 = s(&h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--size",
        "1",
        "--encrypted",
        "--kms-key-id",
        &k2,
    ])["VolumeId"]);
    let v3 = s(&h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--size",
        "1",
        "--encrypted",
        "--kms-key-id",
        &k3,
    ])["VolumeId"]);
    h.attach(&v2, &inst, "/dev/sdf");
    h.attach(&v3, &inst, "/dev/sdg");
    write_at(&m.file("sdf"), 0, &d2, true);
    write_at(&m.file("sdg"), 0, &d3, false);
    // create-image while mounted captures what was written and acknowledged.
    let ami_m = s(&h.ok(&[
        "ec2",
        "create-image",
        "--instance-id",
        &inst,
        "--name",
        "fuse-s5-m",
    ])["ImageId"]);
    for (dev, arn, bytes) in [
        ("/dev/xvda", &k1_arn, &root_data),
        ("/dev/sdf", &k2_arn, &d2),
        ("/dev/sdg", &k3_arn, &d3),
    ] {
        let snap = h.snapshot_of(&ami_m, dev);
        assert_eq!(snap["KmsKeyId"], arn.as_str(), "{dev}");
        h.assert_export(&s(&snap["SnapshotId"]), bytes);
    }
    // Writes after the image do not change it.
    write_at(&m.file("sdf"), 0, b"AFTER THE IMAGE", true);
    h.assert_export(&s(&h.snapshot_of(&ami_m, "/dev/sdf")["SnapshotId"]), &d2);
    // Launch the image and read the bytes back through a second mount.
    let inst2 = h.run_instance(&ami_m, &[]);
    let m2 = Mounted::new(&h, &inst2, "mnt-s5");
    assert_eq!(m2.names(), vec!["sdf", "sdg", "xvda"]);
    assert_eq!(read_at(&m2.file("xvda"), 0, root_data.len()), root_data);
    assert_eq!(read_at(&m2.file("sdf"), 0, d2.len()), d2);
    assert_eq!(read_at(&m2.file("sdg"), 0, d3.len()), d3);
    // Remounting the first instance shows the same bytes as before.
    drop(m);
    let again = Mounted::new(&h, &inst, "mnt-s4");
    assert_eq!(read_at(&again.file("sdf"), 0, 15), b"AFTER THE IMAGE");
    assert_eq!(read_at(&again.file("sdg"), 0, d3.len()), d3);
    drop(again);
    drop(m2);
    for marker in [
        &b"FUSE-S4-ROOT-MARKER"[..],
        b"FUSE-S5-SDF-MARKER",
        b"FUSE-S5-SDG-MARKER",
    ] {
        h.assert_no_plaintext(marker);
    }
}

/// SEMANTICS.md §20.19: a key disabled while its volume is mounted does not stop I/O (the data
/// key is in memory); detach works; attaching again needs the key; enabling it brings it back.
#[test]
fn e19_disabling_the_key_of_a_mounted_volume() {
    if !fuse_usable() {
        return;
    }
    let h = Home::new();
    let (inst, _) = encrypted_instance(&h, "fuse-e19", 1);
    let az = s(&h.instance(&inst)["Placement"]["AvailabilityZone"]);
    let (k2, _) = h.create_key("K2");
    let v2 = s(&h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        &az,
        "--size",
        "1",
        "--encrypted",
        "--kms-key-id",
        &k2,
    ])["VolumeId"]);
    let m = Mounted::new(&h, &inst, "mnt-e19");
    h.attach(&v2, &inst, "/dev/sdf");
    write_at(&m.file("sdf"), 0, b"before disable", true);
    h.ok(&["kms", "disable-key", "--key-id", &k2]);
    write_at(&m.file("sdf"), 100, b"after disable", true);
    assert_eq!(read_at(&m.file("sdf"), 0, 14), b"before disable");
    assert_eq!(read_at(&m.file("sdf"), 100, 13), b"after disable");
    h.ok(&["ec2", "detach-volume", "--volume-id", &v2]);
    assert_eq!(m.names(), vec!["xvda"]);
    assert_eq!(
        h.err(&[
            "ec2",
            "attach-volume",
            "--volume-id",
            &v2,
            "--instance-id",
            &inst,
            "--device",
            "/dev/sdf"
        ]),
        "CustomerKeyHasBeenRevoked"
    );
    h.ok(&["kms", "enable-key", "--key-id", &k2]);
    h.attach(&v2, &inst, "/dev/sdf");
    assert_eq!(read_at(&m.file("sdf"), 100, 13), b"after disable");
}

#[test]
fn attach_and_detach_through_the_api_change_a_running_mount() {
    if !fuse_usable() {
        return;
    }
    let h = Home::new();
    let (inst, _) = encrypted_instance(&h, "fuse-api", 1);
    let az = s(&h.instance(&inst)["Placement"]["AvailabilityZone"]);
    let m = Mounted::new(&h, &inst, "mnt-api");
    // A server on the same home as the CLI and the mount.
    let served = crate::api::Served::on_path(h.path(), &[]);
    let addr = served.url.trim_start_matches("http://").to_owned();
    let q = |p: &str| {
        let (status, body) = crate::api::ec2_query(&addr, p);
        assert_eq!(status, 200, "{p}: {body}");
        body
    };
    let body = q(&format!(
        "Action=CreateVolume&AvailabilityZone={az}&Size=1&Encrypted=true"
    ));
    let vol = crate::api::xml_text(&body, "volumeId").to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while crate::api::xml_text(
        &q(&format!("Action=DescribeVolumes&VolumeId.1={vol}")),
        "status",
    ) != "available"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{vol} never became available"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    q(&format!(
        "Action=AttachVolume&VolumeId={vol}&InstanceId={inst}&Device=%2Fdev%2Fsdh"
    ));
    assert_eq!(m.names(), vec!["sdh", "xvda"]);
    let data = image_bytes(1 << 20, 99, b"api-attached");
    write_at(&m.file("sdh"), 4096, &data, true);
    assert_eq!(read_at(&m.file("sdh"), 4096, data.len()), data);
    // CreateSnapshot answers at once with a pending snapshot of the volume as it is now: a
    // write made right after the answer waits for the capture and is not in the snapshot.
    let body = q(&format!("Action=CreateSnapshot&VolumeId={vol}"));
    assert_eq!(crate::api::xml_text(&body, "status"), "pending", "{body}");
    let snap = crate::api::xml_text(&body, "snapshotId").to_owned();
    let later = image_bytes(1 << 20, 7, b"written-after-the-call");
    write_at(&m.file("sdh"), 4096, &later, true);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while crate::api::xml_text(
        &q(&format!("Action=DescribeSnapshots&SnapshotId.1={snap}")),
        "status",
    ) != "completed"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{snap} never completed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("snap.raw");
    h.ok(&[
        "ec2",
        "export-snapshot",
        "--snapshot-id",
        &snap,
        "--file",
        out.to_str().unwrap(),
    ]);
    let got = std::fs::read(&out).unwrap();
    assert_eq!(
        &got[4096..4096 + data.len()],
        &data[..],
        "the snapshot is the call's data"
    );
    assert_eq!(read_at(&m.file("sdh"), 4096, later.len()), later);
    q(&format!("Action=DetachVolume&VolumeId={vol}"));
    assert_eq!(m.names(), vec!["xvda"]);
    assert!(served.stop().success());
}

/// The mount deadline the tests below give the daemon and the commands (seconds): the lease
/// is half of it. Short, so the failures show quickly.
const MOUNT_TIMEOUT: &str = "2";

/// Runs blockseal with the short mount deadline.
fn run_t(h: &Home, args: &[&str]) -> std::process::Output {
    h.command(args)
        .env("BLOCKSEAL_MOUNT_TIMEOUT", MOUNT_TIMEOUT)
        .output()
        .unwrap()
}

/// The AWS error code a failed command printed.
fn error_code(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "{stderr}");
    let rest = &stderr[stderr
        .find("An error occurred (")
        .expect("an AWS error line")
        + 19..];
    rest[..rest.find(')').unwrap()].to_owned()
}

/// The pid of the mount daemon of `instance`.
fn daemon_pid(h: &Home, instance: &str) -> i32 {
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(h.path().join("mounts").join(format!("{instance}.json"))).unwrap(),
    )
    .unwrap();
    rec["pid"].as_i64().unwrap() as i32
}

fn signal(pid: i32, sig: libc::c_int) {
    let pid = rustix::process::Pid::from_raw(pid).unwrap();
    let sig = rustix::process::Signal::from_named_raw(sig).unwrap();
    rustix::process::kill_process(pid, sig).unwrap();
}

/// Sends SIGCONT when dropped, so a failing test never leaves a process stopped.
struct Stopped(i32);

impl Stopped {
    fn new(pid: i32) -> Stopped {
        signal(pid, libc::SIGSTOP);
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(self.0).unwrap(),
            rustix::process::Signal::CONT,
        );
    }
}

#[test]
fn a_stopped_mount_fails_commands_within_the_deadline_and_changes_nothing() {
    if !fuse_usable() {
        return;
    }
    let h = Home::new();
    let (inst, _) = encrypted_instance(&h, "fuse-stopped", 1);
    let az = s(&h.instance(&inst)["Placement"]["AvailabilityZone"]);
    let v = s(&h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        &az,
        "--size",
        "1",
    ])["VolumeId"]);
    h.attach(&v, &inst, "/dev/sdf");
    let dir = h.scratch("mnt-stopped");
    std::fs::create_dir_all(&dir).unwrap();
    let out = run_t(
        &h,
        &[
            "mount",
            "--instance-id",
            &inst,
            dir.to_str().unwrap(),
            "--daemon",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let m = Mounted { h: &h, dir };
    write_at(&m.file("sdf"), 0, b"before the stop", true);
    let stopped = Stopped::new(daemon_pid(&h, &inst));
    let name = "fuse-stopped-image";
    for args in [
        &["ec2", "stop-instances", "--instance-ids", &inst][..],
        &[
            "ec2",
            "create-image",
            "--instance-id",
            &inst,
            "--name",
            name,
        ],
        &["ec2", "create-snapshot", "--volume-id", &v],
        &["ec2", "detach-volume", "--volume-id", &v],
        &["umount", m.dir.to_str().unwrap()],
    ] {
        let started = std::time::Instant::now();
        let out = run_t(&h, args);
        let took = started.elapsed();
        assert_eq!(error_code(&out), "MountNotResponding", "{args:?}");
        // The deadline (2 s), with room for a loaded machine; never "forever".
        assert!(
            took < std::time::Duration::from_secs(8),
            "{args:?} took {took:?}"
        );
    }
    // Nothing changed.
    assert_eq!(h.instance(&inst)["State"]["Name"], "running");
    assert_eq!(h.volume(&v)["State"], "in-use");
    let images = h.ok(&["ec2", "describe-images", "--owners", "self"]);
    assert_eq!(images["Images"].as_array().unwrap().len(), 1, "{images}");
    let snaps = h.ok(&["ec2", "describe-snapshots", "--owner-ids", "self"]);
    assert_eq!(snaps["Snapshots"].as_array().unwrap().len(), 1, "{snaps}");

    // Resumed, the mount drops the requests whose senders gave up, and serves again.
    drop(stopped);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(m.names(), vec!["sdf", "xvda"]);
    assert_eq!(read_at(&m.file("sdf"), 0, 15), b"before the stop");
    write_at(&m.file("sdf"), 0, b"after the start", true);
    let out = run_t(
        &h,
        &[
            "ec2",
            "create-image",
            "--instance-id",
            &inst,
            "--name",
            name,
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let ami = s(&serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["ImageId"]);
    h.assert_export(
        &s(&h.snapshot_of(&ami, "/dev/sdf")["SnapshotId"]),
        b"after the start",
    );
    let out = run_t(&h, &["ec2", "detach-volume", "--volume-id", &v]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(m.names(), vec!["xvda"]);
    let out = run_t(&h, &["ec2", "stop-instances", "--instance-ids", &inst]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(h.instance(&inst)["State"]["Name"], "stopped");
}

/// Not a test by itself: the freezer process of
/// `a_stopped_freezer_loses_its_freeze_after_the_lease`, run as a child of the test binary.
#[test]
fn freeze_holder_process() {
    let Ok(what) = std::env::var("BLOCKSEAL_TEST_FREEZER") else {
        return;
    };
    let (home, inst) = what.split_once('|').unwrap();
    let frozen = blockseal_engine::mountctl::freeze(Path::new(home), inst, true).unwrap();
    println!("FROZEN");
    std::thread::sleep(std::time::Duration::from_secs(300));
    drop(frozen);
}

#[test]
fn a_stopped_freezer_loses_its_freeze_after_the_lease() {
    use std::io::BufRead;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    if !fuse_usable() {
        return;
    }
    let h = Home::new();
    let (inst, _) = encrypted_instance(&h, "fuse-freezer", 1);
    let dir = h.scratch("mnt-freezer");
    std::fs::create_dir_all(&dir).unwrap();
    let args = [
        "mount",
        "--instance-id",
        &inst,
        dir.to_str().unwrap(),
        "--daemon",
    ];
    let out = run_t(&h, &args);
    assert!(out.status.success(), "{out:?}");
    let m = Mounted { h: &h, dir };
    // A process that holds a freeze of the mount (as create-image does during its copy).
    let mut freezer = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "fuse::freeze_holder_process", "--nocapture"])
        .env(
            "BLOCKSEAL_TEST_FREEZER",
            format!("{}|{inst}", h.path().display()),
        )
        .env("BLOCKSEAL_MOUNT_TIMEOUT", MOUNT_TIMEOUT)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut lines = std::io::BufReader::new(freezer.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.unwrap() == "FROZEN"),
        "the freezer did not freeze"
    );
    let freezer = Kill(freezer);
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let writer = {
        let (file, done) = (m.file("xvda"), done.clone());
        std::thread::spawn(move || {
            write_at(&file, 4096, b"written after the freeze", true);
            done.store(true, Ordering::SeqCst);
        })
    };
    // A live holder renews its lease: the write waits well past one lease (1 s).
    std::thread::sleep(Duration::from_secs(3));
    assert!(!done.load(Ordering::SeqCst), "a write passed a held freeze");
    // A stopped holder does not: the mount thaws once the lease runs out.
    let stopped = Instant::now();
    signal(freezer.0.id() as i32, libc::SIGSTOP);
    while !done.load(Ordering::SeqCst) {
        assert!(
            stopped.elapsed() < Duration::from_secs(6),
            "writes still frozen 6 s after the freezer stopped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    writer.join().unwrap();
    drop(freezer);
    assert_eq!(
        read_at(&m.file("xvda"), 4096, 24),
        b"written after the freeze"
    );
}

/// Failure story: `blockseal mount` on the wrong directory hides or shadows files: the home's
/// own folders (catalog, keys, data files), a kernel interface such as /proc, or a folder that
/// holds a user's files. Each is refused with `InvalidParameterValue` and nothing is mounted;
/// `--allow-non-empty` mounts over a non-empty folder on purpose, and its files come back after.
#[test]
fn mount_points_inside_the_home_on_proc_or_not_empty_are_refused() {
    if !fuse_usable() {
        return;
    }
    let h = Home::new();
    let (inst, _) = encrypted_instance(&h, "mountpaths", 1);
    let mount = |dir: &Path, extra: &[&str]| {
        let mut args = vec![
            "mount",
            "--instance-id",
            &inst,
            dir.to_str().unwrap(),
            "--daemon",
        ];
        args.extend_from_slice(extra);
        h.command(&args).output().unwrap()
    };
    let refused = |dir: &Path, why: &str| {
        let out = mount(dir, &["--allow-non-empty"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(254), "{}: {stderr}", dir.display());
        assert!(
            stderr.contains("(InvalidParameterValue)") && stderr.contains(why),
            "{}: {stderr}",
            dir.display()
        );
    };
    let inside = h.path().join("mnt");
    std::fs::create_dir_all(&inside).unwrap();
    refused(&inside, "inside the blockseal home");
    refused(h.path(), "inside the blockseal home");
    let link = h.scratch("link-to-home");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(h.path(), &link).unwrap();
    refused(&link.join("blobs"), "inside the blockseal home");
    refused(Path::new("/proc"), "pseudo file system");
    refused(Path::new("/sys"), "pseudo file system");
    assert!(
        std::fs::read_dir("/proc/self").is_ok(),
        "/proc still readable"
    );

    let full = h.scratch("full");
    std::fs::create_dir_all(&full).unwrap();
    std::fs::write(full.join("mine.txt"), b"user data").unwrap();
    let out = mount(&full, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "{stderr}");
    assert!(
        stderr.contains("(InvalidParameterValue)") && stderr.contains("--allow-non-empty"),
        "{stderr}"
    );
    // With the flag, the mount hides the file while it lasts and the file is back after.
    let out = mount(&full, &["--allow-non-empty"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = Mounted {
        h: &h,
        dir: full.clone(),
    };
    assert_eq!(m.names(), ["xvda"]);
    drop(m);
    assert_eq!(std::fs::read(full.join("mine.txt")).unwrap(), b"user data");
}

/// Whether the anonymous memory of process `pid` (heap, stacks, anonymous maps — where keys
/// live) holds `needle`. File-backed maps are skipped: they hold file contents, and reading a
/// volume map's holes would allocate pages.
fn anonymous_memory_holds(pid: i32, needle: &[u8]) -> bool {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    for line in maps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let path = fields.get(5).copied().unwrap_or("");
        if !fields[1].starts_with('r')
            || !(path.is_empty() || path == "[heap]" || path == "[stack]")
        {
            continue;
        }
        let (start, end) = fields[0].split_once('-').unwrap();
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        let mut buf = vec![0u8; (end - start) as usize];
        // A region may go away or be unreadable while we look: skip it.
        if mem.read_exact_at(&mut buf, start).is_err() {
            continue;
        }
        if buf.windows(needle.len()).any(|w| w == needle) {
            return true;
        }
    }
    false
}

/// A mount daemon unwraps its volumes' data keys with the KMS root key, then lets the root key
/// go: neither after the mount nor after a live attach (which opens the home again for as long
/// as it unwraps the new key) is the root key anywhere in the daemon's memory.
#[test]
fn a_mount_daemon_keeps_no_kms_root_key() {
    if !fuse_usable() {
        return;
    }
    let h = Home::new();
    let (inst, _) = encrypted_instance(&h, "fuse-rootkey", 1);
    let az = s(&h.instance(&inst)["Placement"]["AvailabilityZone"]);
    let root = std::fs::read(h.path().join("kms-root.key")).unwrap();
    assert_eq!(root.len(), 32);
    let m = Mounted::new(&h, &inst, "mnt-rootkey");
    let pid = daemon_pid(&h, &inst);
    // The scan sees the daemon's memory: the instance id it serves is there.
    assert!(anonymous_memory_holds(pid, inst.as_bytes()));
    assert!(
        !anonymous_memory_holds(pid, &root),
        "the mount daemon holds the KMS root key after unlocking its volumes"
    );
    let v = s(&h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        &az,
        "--size",
        "1",
        "--encrypted",
    ])["VolumeId"]);
    h.attach(&v, &inst, "/dev/sdf");
    assert_eq!(m.names(), vec!["sdf", "xvda"]);
    write_at(&m.file("sdf"), 4096, b"after the attach", true);
    assert_eq!(read_at(&m.file("sdf"), 4096, 16), b"after the attach");
    assert!(
        !anonymous_memory_holds(pid, &root),
        "the mount daemon holds the KMS root key after a live attach"
    );
}
