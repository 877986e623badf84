//! Failure stories: an export pointed (by mistake or by another user's symlink) at the home's
//! own files would replace them with plaintext; an export killed half way used to leave a
//! world-readable, predictably named file of plaintext behind. Each destination below must be
//! refused with `InvalidFile` and leave the file it named byte-identical; an interrupted export
//! must leave the directory as it was; the exported file must be 0600 whatever the umask.

use crate::support::{image_bytes, Home, GIB};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Runs `export-snapshot` of `snap` to `file` (from `cwd` if given); returns (code, stderr).
fn export_err(h: &Home, snap: &str, file: &str, cwd: Option<&Path>) -> (String, String) {
    let mut c = h.command(&[
        "ec2",
        "export-snapshot",
        "--snapshot-id",
        snap,
        "--file",
        file,
    ]);
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(254), "{file}: {stderr}");
    let code = stderr
        .split_once("An error occurred (")
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(c, _)| c.to_owned())
        .unwrap_or_else(|| panic!("no AWS error line: {stderr}"));
    (code, stderr)
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn encrypted_snapshot(h: &Home, len: usize) -> (String, Vec<u8>) {
    let (k, _) = h.create_key("export-paths");
    let data = image_bytes(len, 11, b"EXPORT-PATHS-PLAIN");
    let snap = h.import(&data, &["--encrypted", "--kms-key-id", &k]);
    (snap, data)
}

#[test]
fn exports_onto_the_homes_own_files_are_refused() {
    let h = Home::new();
    let (snap, data) = encrypted_snapshot(&h, 1 << 20);
    let home = h.path().to_owned();
    let blob = home.join("blobs").join(&snap);
    let catalog = home.join("catalog.db");
    let root_key = home.join("kms-root.key");
    for f in [&blob, &catalog, &root_key] {
        assert!(f.is_file(), "{} should exist in a home", f.display());
    }
    // A symlink to the home from outside, and a hard link to the snapshot's file.
    let link = h.scratch("to-home");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&home, &link).unwrap();
    let hard = h.scratch("hard-link-to-the-blob.raw");
    let _ = std::fs::remove_file(&hard);
    std::fs::hard_link(&blob, &hard).unwrap();
    let comm = PathBuf::from(format!("/proc/{}/comm", std::process::id()));

    let home_s = home.to_str().unwrap();
    let link_s = link.to_str().unwrap();
    let snap_rel = format!("blobs/{snap}");
    let cases: Vec<(String, &Path, Option<&Path>, &str)> = vec![
        (
            catalog.display().to_string(),
            &catalog,
            None,
            "inside the blockseal home",
        ),
        (
            root_key.display().to_string(),
            &root_key,
            None,
            "inside the blockseal home",
        ),
        (
            blob.display().to_string(),
            &blob,
            None,
            "inside the blockseal home",
        ),
        (
            format!("{link_s}/catalog.db"),
            &catalog,
            None,
            "inside the blockseal home",
        ),
        (
            format!("{link_s}/blobs/../kms-root.key"),
            &root_key,
            None,
            "inside the blockseal home",
        ),
        (
            format!(
                "{home_s}/../{}/{snap_rel}",
                home.file_name().unwrap().to_str().unwrap()
            ),
            &blob,
            None,
            "inside the blockseal home",
        ),
        (
            "catalog.db".to_owned(),
            &catalog,
            Some(&home),
            "inside the blockseal home",
        ),
        (
            snap_rel.clone(),
            &blob,
            Some(&home),
            "inside the blockseal home",
        ),
        (
            hard.display().to_string(),
            &hard,
            None,
            "the snapshot's own data file",
        ),
        (
            comm.display().to_string(),
            &comm,
            None,
            "pseudo file system",
        ),
    ];
    for (file, target, cwd, why) in cases {
        let before = std::fs::read(target).unwrap();
        let (code, stderr) = export_err(&h, &snap, &file, cwd);
        assert_eq!(code, "InvalidFile", "{file}: {stderr}");
        assert!(stderr.contains(why), "{file}: {stderr}");
        assert!(std::fs::read(target).unwrap() == before, "{file} changed");
    }
    // A new file inside the home is refused too, and not created.
    let (code, _) = export_err(&h, &snap, &format!("{home_s}/new.raw"), None);
    assert_eq!(code, "InvalidFile");
    assert!(!home.join("new.raw").exists());
    // The home still works, and the snapshot still exports in full.
    h.assert_export(&snap, &data);
}

#[test]
fn an_export_is_0600_under_umask_022_and_replaces_an_older_file() {
    let h = Home::new();
    let (snap, data) = encrypted_snapshot(&h, 1 << 20);
    let dir = h.scratch("umask");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out.raw");
    std::fs::write(&out, b"older").unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 022 && exec \"$@\"")
        .arg("sh")
        .arg(crate::support::BIN)
        .args(["ec2", "export-snapshot", "--snapshot-id", &snap, "--file"])
        .arg(&out)
        .env("BLOCKSEAL_HOME", h.path())
        .env("BLOCKSEAL_REGION", &h.region)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let m = std::fs::metadata(&out).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o600, "mode {:o}", m.mode());
    crate::support::assert_plain_file(&out, &data, GIB);
    assert_eq!(names(&dir), ["out.raw"]);
}

#[test]
fn files_planted_at_old_temporary_names_are_not_written_through() {
    // The old export wrote to `.NAME.PID.tmp`, opened with O_CREAT|O_TRUNC and following
    // symlinks: another user could plant a symlink there for the next pids and have the export
    // truncate and overwrite any file the exporter could write.
    let h = Home::new();
    let (snap, data) = encrypted_snapshot(&h, 1 << 20);
    let dir = h.scratch("planted");
    std::fs::create_dir_all(&dir).unwrap();
    let victim = h.scratch("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .map(|s| s.trim().parse().unwrap())
        .unwrap_or(1000);
    let pids = last + 1..last + 400;
    for pid in pids.clone() {
        std::os::unix::fs::symlink(&victim, dir.join(format!(".out.raw.{pid}.tmp"))).unwrap();
    }
    let before = names(&dir);
    let out = dir.join("out.raw");
    let mut child = h
        .command(&["ec2", "export-snapshot", "--snapshot-id", &snap, "--file"])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    if !pids.contains(&pid) {
        eprintln!("note: the export ran as pid {pid}, outside the planted range {pids:?}");
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    crate::support::assert_plain_file(&out, &data, GIB);
    let mut after = names(&dir);
    after.retain(|n| n != "out.raw");
    assert_eq!(
        after, before,
        "the planted links are untouched, nothing else left"
    );
}

/// The bytes of the largest regular file process `pid` has open in `dir` (an unnamed export
/// output shows as `DIR/#INODE (deleted)`).
fn open_bytes_in(pid: u32, dir: &Path) -> u64 {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.filter_map(|e| e.ok())
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.starts_with(dir)))
        .filter_map(|e| std::fs::metadata(e.path()).ok())
        .filter(|m| m.is_file())
        .map(|m| m.blocks() * 512)
        .max()
        .unwrap_or(0)
}

#[test]
fn an_interrupted_export_leaves_nothing() {
    let h = Home::new();
    let (snap, _) = encrypted_snapshot(&h, 512 << 20);
    let dir = h.scratch("interrupted");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("unrelated.txt"), b"kept").unwrap();
    let before = names(&dir);
    for signal in [
        rustix::process::Signal::KILL,
        rustix::process::Signal::TERM,
        rustix::process::Signal::HUP,
    ] {
        let out = dir.join("out.raw");
        let mut child = h
            .command(&["ec2", "export-snapshot", "--snapshot-id", &snap, "--file"])
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut interrupted = false;
        while Instant::now() < deadline {
            if open_bytes_in(child.id(), &dir) > 32 << 20 {
                let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
                rustix::process::kill_process(pid, signal).unwrap();
                interrupted = true;
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let status = child.wait().unwrap();
        assert!(interrupted, "{signal:?}: the export ended first ({status})");
        assert!(!status.success(), "{signal:?}: {status}");
        assert_eq!(names(&dir), before, "{signal:?} left a file behind");
    }
}
