//! Failure story: an operator loses or replaces one of the home's own files — deletes or
//! truncates `catalog.db`, restores an older copy of it from a backup, puts another home's
//! catalog in, loses `kms-root.key`, or loses a data file — or a command dies between renaming
//! a data file into place and committing its row. The home must never delete data it cannot
//! prove unfinished: a broken home is refused with `InvalidHome` and left exactly as it was; a
//! file no row owns is quarantined, byte for byte; a missing data file shows as `error`.

use crate::support::{image_bytes, Home};
use std::collections::BTreeMap;
use std::hash::Hasher;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Each file of `dir` by name, as (length, a hash of every byte); empty if `dir` is missing.
fn digests(dir: &Path) -> BTreeMap<String, (u64, u64)> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.unwrap().path();
        let mut f = std::fs::File::open(&p).unwrap();
        let mut h = std::hash::DefaultHasher::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut len = 0u64;
        loop {
            let n = f.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            h.write(&buf[..n]);
            len += n as u64;
        }
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        out.insert(name, (len, h.finish()));
    }
    out
}

fn blobs(h: &Home) -> BTreeMap<String, (u64, u64)> {
    digests(&h.path().join("blobs"))
}

fn create_volume(h: &Home, extra: &[&str]) -> String {
    let mut args = vec![
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--size",
        "1",
    ];
    args.extend_from_slice(extra);
    h.ok(&args)["VolumeId"].as_str().unwrap().to_owned()
}

/// A home with an encrypted snapshot holding data and an encrypted volume made from it.
fn populated() -> (Home, String, String) {
    let h = Home::new();
    let (k, _) = h.create_key("home-guard");
    let data = image_bytes(3 << 20, 7, b"HOME-GUARD");
    let snap = h.import(&data, &["--encrypted", "--kms-key-id", &k]);
    let vol = create_volume(&h, &["--snapshot-id", &snap]);
    (h, snap, vol)
}

/// Runs a command that must be refused with `InvalidHome`; returns its stderr.
fn refused(h: &Home) -> String {
    assert_eq!(h.err(&["ec2", "describe-volumes"]), "InvalidHome");
    String::from_utf8_lossy(&h.run(&["ec2", "describe-volumes"]).stderr).into_owned()
}

/// The catalog's files (the database and, if a backup has one, its write-ahead log).
const CATALOG_FILES: [&str; 2] = ["catalog.db", "catalog.db-wal"];

fn save_catalog(h: &Home) -> Vec<(&'static str, Option<Vec<u8>>)> {
    CATALOG_FILES
        .iter()
        .map(|n| (*n, std::fs::read(h.path().join(n)).ok()))
        .collect()
}

fn restore_catalog(h: &Home, saved: &[(&'static str, Option<Vec<u8>>)]) {
    for (n, bytes) in saved {
        let p = h.path().join(n);
        let _ = std::fs::remove_file(h.path().join("catalog.db-shm"));
        match bytes {
            Some(b) => std::fs::write(&p, b).unwrap(),
            None => {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
}

/// A process id that is certainly not running.
fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

#[test]
fn a_deleted_catalog_is_refused_and_every_data_file_kept() {
    let (h, _snap, _vol) = populated();
    let before = blobs(&h);
    assert_eq!(before.len(), 2);
    for n in CATALOG_FILES {
        let _ = std::fs::remove_file(h.path().join(n));
    }
    let stderr = refused(&h);
    assert!(
        stderr.contains("catalog.db") && stderr.contains("Restore"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`blockseal doctor` reports"),
        "names the command that checks a home: {stderr}"
    );
    assert_eq!(blobs(&h), before, "data files changed");
    assert!(
        !h.path().join("catalog.db").exists(),
        "a new catalog was made"
    );
    assert!(!h.path().join("quarantine").exists());
}

#[test]
fn an_empty_catalog_is_refused_and_every_data_file_kept() {
    let (h, _snap, _vol) = populated();
    let before = blobs(&h);
    let db = h.path().join("catalog.db");
    std::fs::File::options()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(0)
        .unwrap();
    refused(&h);
    assert_eq!(blobs(&h), before, "data files changed");
    assert_eq!(
        std::fs::metadata(&db).unwrap().len(),
        0,
        "the catalog was written"
    );
    assert!(!h.path().join("quarantine").exists());
}

#[test]
fn an_older_catalog_keeps_newer_files_in_quarantine() {
    let (h, snap, vol) = populated();
    let account = h.snapshot(&snap)["OwnerId"].clone();
    let old = save_catalog(&h);
    let kept = blobs(&h);
    let vol2 = create_volume(&h, &[]);
    let snap2 = h.ok(&["ec2", "create-snapshot", "--volume-id", &vol])["SnapshotId"]
        .as_str()
        .unwrap()
        .to_owned();
    let all = blobs(&h);
    assert_eq!(all.len(), 4);
    restore_catalog(&h, &old);

    let out = h.run(&["ec2", "describe-volumes"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let q = h.path().join("quarantine");
    assert!(
        stderr.contains("blockseal: 2 data files no catalog row owns were moved to")
            && stderr.contains(&q.display().to_string())
            && stderr.contains(&vol2)
            && stderr.contains(&snap2),
        "{stderr}"
    );
    let vols: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(vols["Volumes"].as_array().unwrap().len(), 1);
    assert_eq!(blobs(&h), kept, "the catalog's own files stay in place");
    let quarantined = digests(&q);
    assert_eq!(quarantined.len(), 2);
    for id in [&vol2, &snap2] {
        assert_eq!(quarantined[id.as_str()], all[id.as_str()], "{id} changed");
    }
    assert_eq!(
        std::fs::metadata(&q).unwrap().mode() & 0o777,
        0o700,
        "quarantine is private"
    );
    // Reported once; the same account; the old resources still work.
    let again = h.run(&["ec2", "describe-snapshots"]);
    assert!(again.status.success());
    assert!(!String::from_utf8_lossy(&again.stderr).contains("quarantine"));
    let vol3 = create_volume(&h, &["--snapshot-id", &snap]);
    let snap3 = h.ok(&["ec2", "create-snapshot", "--volume-id", &vol3]);
    assert_eq!(snap3["OwnerId"], account, "the same account");
}

#[test]
fn a_missing_root_key_is_refused_and_never_made_anew() {
    let (h, snap, _vol) = populated();
    let before = blobs(&h);
    let key = h.path().join("kms-root.key");
    let saved = std::fs::read(&key).unwrap();
    std::fs::remove_file(&key).unwrap();
    let stderr = refused(&h);
    assert!(
        stderr.contains("kms-root.key") && stderr.contains("Restore"),
        "{stderr}"
    );
    assert_eq!(h.err(&["kms", "list-keys"]), "InvalidHome");
    assert!(!key.exists(), "a new root key was made");
    let stray: Vec<_> = std::fs::read_dir(h.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("kms-root"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    assert_eq!(blobs(&h), before);
    // Put back, the home works as before.
    std::fs::write(&key, saved).unwrap();
    create_volume(&h, &["--snapshot-id", &snap]);
}

#[test]
fn another_homes_catalog_is_refused() {
    let (h, _snap, _vol) = populated();
    let other = Home::new();
    other.create_key("elsewhere");
    let before = blobs(&h);
    let mine = save_catalog(&h);
    restore_catalog(&h, &save_catalog(&other));
    let stderr = refused(&h);
    assert!(stderr.contains("another home"), "{stderr}");
    assert_eq!(blobs(&h), before);
    assert!(!h.path().join("quarantine").exists());
    restore_catalog(&h, &mine);
    assert_eq!(
        h.ok(&["ec2", "describe-volumes"])["Volumes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// Writes the commit marker that a process `pid` leaves in `tmp/` between renaming the file of
/// `id` into `blobs/` and committing its row (docs/FORMAT.md, "Where blob files live").
fn plant_marker(h: &Home, id: &str, pid: u32) -> std::path::PathBuf {
    let m = std::fs::metadata(h.path().join("blobs").join(id)).unwrap();
    let marker = h.path().join("tmp").join(format!("{id}.{pid}.commit"));
    let text = format!(
        "blockseal commit marker v1\ndev {}\nino {}\n",
        m.dev(),
        m.ino()
    );
    std::fs::write(&marker, text).unwrap();
    marker
}

#[test]
fn a_crash_between_rename_and_commit_leaves_none_of_the_operation() {
    // The on-disk state a `kill -9` leaves after `persist_in` renamed the new volume's file into
    // `blobs/` and before the transaction committed its row: the catalog without the row, the
    // file in place, its marker in `tmp/`. Made here by taking the catalog from before the
    // command and planting the marker the dead process wrote.
    let (h, _snap, vol) = populated();
    let before_cmd = save_catalog(&h);
    let described = h.ok(&["ec2", "describe-volumes"]);
    let kept = blobs(&h);
    let new_vol = create_volume(&h, &[]);
    restore_catalog(&h, &before_cmd);
    let dead = dead_pid();
    let orphan_marker = plant_marker(&h, &new_vol, dead);
    // And one that died after its commit, before removing its marker: only the marker goes.
    let committed_marker = plant_marker(&h, &vol, dead);

    let out = h.run(&["ec2", "describe-volumes"]);
    assert!(out.status.success());
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        described
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).trim().is_empty(),
        "nothing to report: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(blobs(&h), kept, "none of the unfinished operation is left");
    assert!(!orphan_marker.exists() && !committed_marker.exists());
    assert!(digests(&h.path().join("quarantine")).is_empty());
    assert!(digests(&h.path().join("tmp")).is_empty());
    // The operation can run again.
    create_volume(&h, &[]);
}

#[test]
fn a_missing_data_file_shows_as_error_and_fails_as_corrupt() {
    let (h, snap, vol) = populated();
    for id in [&snap, &vol] {
        std::fs::remove_file(h.path().join("blobs").join(id)).unwrap();
    }
    let s = h.snapshot(&snap);
    assert_eq!(s["State"], "error", "{s}");
    let msg = s["StateMessage"].as_str().unwrap();
    assert!(msg.contains(&snap) && msg.contains("missing"), "{msg}");
    assert_eq!(h.volume(&vol)["State"], "error");
    let by_status = h.ok(&[
        "ec2",
        "describe-volumes",
        "--filters",
        "Name=status,Values=error",
    ]);
    assert_eq!(by_status["Volumes"][0]["VolumeId"], vol.as_str());
    let out = h.scratch("missing.raw");
    let args = [
        "ec2",
        "export-snapshot",
        "--snapshot-id",
        &snap,
        "--file",
        out.to_str().unwrap(),
    ];
    assert_eq!(h.err(&args), "CorruptFile");
    let stderr = String::from_utf8_lossy(&h.run(&args).stderr).into_owned();
    assert!(
        stderr.contains(&snap) && stderr.contains("missing"),
        "{stderr}"
    );
    assert_eq!(
        h.err(&[
            "ec2",
            "create-volume",
            "--availability-zone",
            "us-east-1a",
            "--snapshot-id",
            &snap
        ]),
        "CorruptFile"
    );
    assert_eq!(
        h.err(&["ec2", "create-snapshot", "--volume-id", &vol]),
        "CorruptFile"
    );
    // The rows stay; deleting them works.
    h.ok(&["ec2", "delete-volume", "--volume-id", &vol]);
    h.ok(&["ec2", "delete-snapshot", "--snapshot-id", &snap]);
}

/// Every file and folder under `dir` with a mode other than 0600 (files) or 0700 (folders).
fn not_private(dir: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        let want = if meta.is_dir() { 0o700 } else { 0o600 };
        if mode != want {
            out.push(format!("{} {mode:o}", entry.path().display()));
        }
        if meta.is_dir() {
            out.extend(not_private(&entry.path()));
        }
    }
    out
}

/// Failure story: a user keeps the home in a folder made with the usual umask (0755 folders,
/// 0644 files); another user on the machine reads the catalog or an unencrypted volume's data.
/// Every file of the home is 0600 and every folder 0700, whatever the umask and the folder's
/// earlier mode, and a home made by an earlier version is tightened when it is next opened.
#[test]
fn every_file_of_the_home_is_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let h = Home::new();
    std::fs::set_permissions(h.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sh = |cmd: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("umask 022; {cmd}"))
            .env("BLOCKSEAL_HOME", h.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}: {out:?}");
    };
    let bin = env!("CARGO_BIN_EXE_blockseal");
    let disk = h
        .path()
        .parent()
        .unwrap()
        .join(format!("umask-{}.raw", std::process::id()));
    std::fs::write(&disk, image_bytes(1 << 20, 4, b"UMASK")).unwrap();
    sh(&format!(
        "{bin} ec2 import-snapshot --file {}",
        disk.display()
    ));
    std::fs::remove_file(&disk).unwrap();
    sh(&format!(
        "{bin} ec2 create-volume --availability-zone us-east-1a --size 1 --encrypted"
    ));
    assert_eq!(not_private(h.path()), Vec::<String>::new());
    assert_eq!(
        std::fs::metadata(h.path()).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // A home left with lax modes (an earlier version, a restore) is tightened on the next open.
    for entry in std::fs::read_dir(h.path().join("blobs")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::set_permissions(
        h.path().join("catalog.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::set_permissions(
        h.path().join("blobs"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    sh(&format!("{bin} ec2 describe-volumes"));
    assert_eq!(not_private(h.path()), Vec::<String>::new());
}
