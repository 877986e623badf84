//! Failure story: a user's `copy-image` that re-keys a large image is killed (SIGKILL, power
//! loss) halfway. The home must reopen as if the copy never started: no new image, no leftover
//! file after the next command, the source intact, and the same copy must then succeed.

use crate::support::{image_bytes, Home, GIB};
use std::time::{Duration, Instant};

#[test]
fn sigkill_in_the_middle_of_a_rekeying_copy_image() {
    let h = Home::new();
    let (k1, _) = h.create_key("K1");
    let (k2, k2_arn) = h.create_key("K2");
    let data = image_bytes(GIB as usize, 99, b"CRASH-TEST-PLAINTEXT");
    let snap = h.import(&data, &["--encrypted", "--kms-key-id", &k1]);
    let ami = h.register("crash-src", "/dev/xvda", &snap, &[]);
    let images_before = h.ok(&["ec2", "describe-images"]);
    let files_before: Vec<_> = h.files();

    let args = [
        "ec2",
        "copy-image",
        "--source-image-id",
        &ami,
        "--source-region",
        "us-east-1",
        "--name",
        "crash-copy",
        "--encrypted",
        "--kms-key-id",
        &k2,
    ];
    let mut child = h
        .command(&args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the re-key has written part of its temporary file, then kill it.
    let tmp = h.path().join("tmp");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut killed_mid_copy = false;
    while Instant::now() < deadline {
        let written: u64 = std::fs::read_dir(&tmp)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| {
                        use std::os::unix::fs::MetadataExt;
                        e.metadata().map(|m| m.blocks() * 512).unwrap_or(0)
                    })
                    .sum()
            })
            .unwrap_or(0);
        if written > 64 << 20 {
            child.kill().unwrap();
            killed_mid_copy = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    child.wait().unwrap();
    assert!(
        killed_mid_copy,
        "the copy finished before it could be interrupted"
    );

    // The next command sees no new image and leaves no leftover file.
    assert_eq!(h.ok(&["ec2", "describe-images"]), images_before);
    let mut after = h.files();
    let mut before = files_before.clone();
    after.retain(|p| !p.to_string_lossy().contains("catalog.db"));
    before.retain(|p| !p.to_string_lossy().contains("catalog.db"));
    after.sort();
    before.sort();
    assert_eq!(after, before, "a leftover file survived the next command");
    // The source still exports intact, and the same copy now succeeds.
    h.assert_export(&snap, &data);
    let id = h.ok(&args)["ImageId"].as_str().unwrap().to_owned();
    let copied = h.snapshot_of(&id, "/dev/xvda");
    assert_eq!(copied["KmsKeyId"], k2_arn.as_str());
    h.assert_export(copied["SnapshotId"].as_str().unwrap(), &data);
}
