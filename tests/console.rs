//! The web console in a real browser: each test starts `blockseal serve` on a fresh home and
//! runs one check of `tests/console/checks.py`, which drives headless Chromium through
//! chromedriver (a small WebDriver client of its own) and checks every result through the API
//! with boto3 — the seed scenarios S1–S5 done by clicking from an empty home (a raw disk image
//! uploaded through the page's file input, the base AMI registered from it), the copy previews
//! (AMI and snapshot) for every row of the encryption-outcome table, every page at 1280×800 and
//! at phone width, the principal picker. Screenshots go to `target/console-screenshots/`.
//!
//! Under CI (CI=true) a missing browser fails the tests; elsewhere they skip with a printed
//! reason.

use crate::api::python;
use crate::support::BIN;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether Chromium and chromedriver are there.
fn browser() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("{} not installed", missing.join(" and "));
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("console tests must run in CI, but {why} (.ci/run installs chromium and chromium-driver)");
    }
    eprintln!("skipping console test: {why}; apt-get install chromium chromium-driver");
    false
}

/// Runs check `name` against a fresh `blockseal serve`; fails with the check's output.
fn check(name: &str) {
    let Some(py) = python() else { return };
    if !browser() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let mut server = Command::new(BIN)
        .arg("--home")
        .arg(home.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start blockseal serve");
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let api = lines.next().unwrap().unwrap();
    let console = lines.next().unwrap().unwrap();
    assert!(api.starts_with("http://127.0.0.1:"), "first line: {api:?}");
    assert!(
        console.starts_with(&format!("{api}/#token="))
            && console.len() == api.len() + "/#token=".len() + 64,
        "second line: {console:?}"
    );
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/console/checks.py");
    let out = Command::new(py)
        .arg(script)
        .args([&api, &console, &shots.display().to_string(), name])
        // The checks read data back as a user would: `blockseal ec2 export-snapshot` on the
        // server's home.
        .env("BLOCKSEAL_BIN", BIN)
        .env("BLOCKSEAL_HOME", home.path())
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap();
    // SIGTERM: the server finishes what is in flight and stops.
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let status = server.wait().unwrap();
    assert!(
        out.status.success(),
        "console check {name} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(status.success(), "the server stopped with {status}");
}

#[test]
fn s1_to_s5_by_clicking_through_the_console() {
    check("scenarios");
}

#[test]
fn the_copy_preview_shows_every_row_of_the_outcome_table() {
    check("preview");
}

#[test]
fn every_page_by_keyboard_at_desktop_and_phone_width() {
    check("pages");
}
