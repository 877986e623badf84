//! The API endpoint driven by real AWS clients: each test starts `blockseal serve` on a fresh
//! home (loopback, a free port) and runs one check of `tests/api/checks.py` with boto3 and the
//! aws CLI against it — the seed scenarios with data uploaded and read back through the EBS
//! direct APIs, bad input, SigV4 failures, concurrent clients.
//!
//! The clients live in a Python virtual environment: `$BLOCKSEAL_TEST_PYTHON`, else `.venv/` at
//! the workspace root (`.ci/run` makes it). Under CI (CI=true) a missing one fails the tests;
//! elsewhere they skip with a printed reason.

use crate::support::BIN;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The Python with boto3 and awscli, if there is one.
fn python() -> Option<PathBuf> {
    let p = std::env::var_os("BLOCKSEAL_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"));
    let usable = Command::new(&p)
        .args(["-c", "import boto3, awscli"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if usable {
        return Some(p);
    }
    let why = format!("{} with boto3 and awscli is not there", p.display());
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("API tests must run in CI, but {why} (.ci/run makes it)");
    }
    eprintln!(
        "skipping API test: {why}; python3 -m venv .venv && .venv/bin/pip install boto3 awscli"
    );
    None
}

/// A `blockseal serve` on a fresh home, stopped with SIGTERM when dropped.
pub struct Served {
    pub home: tempfile::TempDir,
    pub url: String,
    child: Child,
}

impl Served {
    pub fn start(extra: &[&str]) -> Served {
        let home = tempfile::tempdir().unwrap();
        let mut child = Command::new(BIN)
            .arg("--home")
            .arg(home.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start blockseal serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "first line: {url:?}");
        Served { home, url, child }
    }

    /// Stops the server as Ctrl-C would and returns its exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        self.child.wait().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
        }
    }
}

/// Runs check `name` against a fresh server; fails with the check's output.
fn check(name: &str) {
    let Some(py) = python() else { return };
    let served = Served::start(&[]);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/api/checks.py");
    let out = Command::new(py)
        .arg(script)
        .args([
            &served.url,
            &served.home.path().display().to_string(),
            BIN,
            name,
        ])
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check {name} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let status = served.stop();
    assert!(status.success(), "the server stopped with {status}");
}

#[test]
fn discovery_and_regions_from_the_signing_scope() {
    check("discovery");
}

#[test]
fn s1_copy_an_ami_with_an_encrypted_data_snapshot() {
    check("s1");
}

#[test]
fn s2_copy_an_ami_with_an_encrypted_root() {
    check("s2");
}

#[test]
fn s3_encrypt_an_unencrypted_ami_with_a_chosen_key() {
    check("s3");
}

#[test]
fn s4_image_an_instance_with_an_encrypted_root() {
    check("s4");
}

#[test]
fn s5_one_key_per_snapshot() {
    check("s5");
}

#[test]
fn bad_input_gives_aws_codes() {
    check("bad_input");
}

#[test]
fn sigv4_failures_change_nothing() {
    check("sigv4");
}

#[test]
fn sixteen_concurrent_clients_lose_nothing() {
    check("concurrent");
}

#[test]
fn the_aws_cli_works_unchanged() {
    check("aws_cli");
}

#[test]
fn default_credentials_can_be_switched_off() {
    let served = Served::start(&["--no-default-credentials"]);
    // The request names the default key; with it switched off the key is unknown, refused
    // before its signature is even looked at.
    let addr = served.url.trim_start_matches("http://").to_owned();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::{Read, Write};
    let body = "Action=DescribeImages&Version=2016-11-15";
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=test/20261130/us-east-1/ec2/aws4_request, \
         SignedHeaders=host, Signature=00\r\nX-Amz-Date: 20261130T000000Z\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    assert!(resp.contains("<Code>AuthFailure</Code>"), "{resp}");
}
