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
pub fn python() -> Option<PathBuf> {
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

/// A `blockseal serve`, stopped with SIGTERM when dropped.
pub struct Served {
    /// The home, deleted with `Served` when the server made it.
    pub home: Option<tempfile::TempDir>,
    dir: PathBuf,
    pub url: String,
    child: Child,
}

impl Served {
    pub fn start(extra: &[&str]) -> Served {
        Served::on(tempfile::tempdir().unwrap(), extra)
    }

    /// A server on home `home`, which goes with it.
    pub fn on(home: tempfile::TempDir, extra: &[&str]) -> Served {
        let mut s = Served::on_path(home.path(), extra);
        s.home = Some(home);
        s
    }

    /// A server on the home folder `dir`, which the caller keeps.
    pub fn on_path(dir: &std::path::Path, extra: &[&str]) -> Served {
        let mut child = Command::new(BIN)
            .arg("--home")
            .arg(dir)
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
        Served {
            home: None,
            dir: dir.to_owned(),
            url,
            child,
        }
    }

    /// The home folder.
    pub fn path(&self) -> &std::path::Path {
        &self.dir
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
    check_with(name, &[]);
}

/// Runs check `name` against a server started with the flags `extra`.
fn check_with(name: &str, extra: &[&str]) {
    let Some(py) = python() else { return };
    let served = Served::start(extra);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/api/checks.py");
    let out = Command::new(py)
        .arg(script)
        .args([&served.url, &served.path().display().to_string(), BIN, name])
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
fn describes_and_kms_lists_paginate() {
    check("pagination");
}

#[test]
fn launch_and_volume_parameters_through_boto3() {
    check("launch_params");
}

#[test]
fn import_snapshot_runs_as_a_task_that_boto3_waits_for() {
    let tmp = std::env::temp_dir();
    check_with("import_snapshot", &["--import-dir", tmp.to_str().unwrap()]);
}

#[test]
fn the_permission_matrix_through_boto3() {
    check("permissions");
}

#[test]
fn the_aws_cli_works_unchanged() {
    check("aws_cli");
}

#[test]
fn tags_through_boto3_and_the_aws_cli() {
    check("tags");
}

#[test]
fn kms_data_keys_rotation_and_a_failed_copy_through_boto3() {
    check("kms_datakeys");
}

#[test]
fn two_accounts_share_an_encrypted_image_and_snapshot() {
    check("sharing");
}

#[test]
fn default_credentials_can_be_switched_off() {
    // The same request, correctly signed with `test`/`test`: accepted by a default server,
    // refused as an unknown key by one started with --no-default-credentials.
    let query = "Action=DescribeImages";
    let on = Served::start(&[]);
    let (status, body) = ec2_query(on.url.trim_start_matches("http://"), query);
    assert_eq!(status, 200, "{body}");
    let off = Served::start(&["--no-default-credentials"]);
    let (status, body) = ec2_query(off.url.trim_start_matches("http://"), query);
    assert_eq!(status, 401, "{body}");
    assert_eq!(xml_text(&body, "Code"), "AuthFailure");
    assert!(
        body.contains("not able to validate the provided access credentials"),
        "{body}"
    );
}

/// A signed EC2 Query call over a raw keep-alive client; returns (status, body).
pub fn ec2_query(addr: &str, params: &str) -> (u16, String) {
    use blockseal_server::{http::Client, sigv4};
    let sock: std::net::SocketAddr = addr.parse().unwrap();
    let mut c = Client::connect(sock).unwrap();
    let body = format!("{params}&Version=2016-11-15");
    let ct = "application/x-www-form-urlencoded; charset=utf-8";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let headers = vec![("Content-Type".to_owned(), ct.to_owned())];
    let auth = sigv4::sign(
        "POST",
        addr,
        "/",
        "",
        &headers,
        body.as_bytes(),
        "test",
        "test",
        "us-east-1",
        "ec2",
        now,
    );
    let mut all: Vec<(&str, &str)> = vec![("Content-Type", ct)];
    all.extend(auth.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let r = c.send("POST", "/", &all, body.as_bytes()).unwrap();
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

/// The text of the first `<tag>` in `xml`.
pub fn xml_text<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = xml[start..].find("</").unwrap() + start;
    &xml[start..end]
}

#[test]
fn a_server_killed_during_a_re_keying_copy_resumes_it_on_restart() {
    // Failure story: the server dies (SIGKILL) while a worker re-keys a 1 GiB image for an
    // asynchronous CopyImage. The image must stay `pending` (never half-made), and the next
    // server on the home must finish the copy from the start: same bytes, new key.
    let served = Served::start(&[]);
    let home = crate::support::Home {
        dir: tempfile::tempdir().unwrap(),
        region: "us-east-1".into(),
        profile: None,
    };
    // The CLI works on the server's home at the same time.
    let home_path = served.path().to_str().unwrap().to_owned();
    let cli = |args: &[&str]| {
        let mut full = vec!["--home", home_path.as_str()];
        full.extend_from_slice(args);
        home.ok(&full)
    };
    let k1 = cli(&["kms", "create-key"])["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_owned();
    let k2 = cli(&["kms", "create-key"])["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_owned();
    let raw = home.scratch("big.raw");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&raw).unwrap();
        let mut block = vec![0u8; 1 << 20];
        for i in 0..1024u32 {
            for (j, b) in block.iter_mut().enumerate() {
                *b = (j as u32)
                    .wrapping_mul(2654435761)
                    .wrapping_add(i)
                    .to_le_bytes()[1];
            }
            f.write_all(&block).unwrap();
        }
    }
    let snap = cli(&[
        "ec2",
        "import-snapshot",
        "--file",
        raw.to_str().unwrap(),
        "--encrypted",
        "--kms-key-id",
        &k1,
    ])["SnapshotTaskDetail"]["SnapshotId"]
        .as_str()
        .unwrap()
        .to_owned();
    let bdm = format!("[{{\"DeviceName\":\"/dev/xvda\",\"Ebs\":{{\"SnapshotId\":\"{snap}\"}}}}]");
    let src = cli(&[
        "ec2",
        "register-image",
        "--name",
        "big",
        "--root-device-name",
        "/dev/xvda",
        "--block-device-mappings",
        &bdm,
    ])["ImageId"]
        .as_str()
        .unwrap()
        .to_owned();

    let addr = served.url.trim_start_matches("http://").to_owned();
    let q = format!(
        "Action=CopyImage&SourceImageId={src}&SourceRegion=us-east-1&Name=big-k2&Encrypted=true\
         &KmsKeyId={}",
        k2.replace(':', "%3A").replace('/', "%2F")
    );
    let (status, body) = ec2_query(&addr, &q);
    assert_eq!(status, 200, "{body}");
    let copy = xml_text(&body, "imageId").to_owned();
    // Kill it while the worker re-keys.
    let mut served = served;
    let pid = rustix::process::Pid::from_child(&served.child);
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    served.child.wait().unwrap();

    let img = cli(&["ec2", "describe-images", "--image-ids", &copy]);
    assert_eq!(img["Images"][0]["State"], "pending", "{img}");

    // A new server on the same home resumes the job.
    let home_dir = served.home.take().unwrap();
    drop(served);
    let again = Served::on(home_dir, &[]);
    let addr = again.url.trim_start_matches("http://").to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let (status, body) = ec2_query(&addr, &format!("Action=DescribeImages&ImageId.1={copy}"));
        assert_eq!(status, 200, "{body}");
        match xml_text(&body, "imageState") {
            "available" => break,
            "pending" => {}
            other => panic!("the resumed copy ended {other}: {body}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the copy never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let cli = |args: &[&str]| {
        let mut full = vec!["--home", again.path().to_str().unwrap()];
        full.extend_from_slice(args);
        home.ok(&full)
    };
    let img = cli(&["ec2", "describe-images", "--image-ids", &copy]);
    let new_snap = img["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        .as_str()
        .unwrap()
        .to_owned();
    let s = cli(&["ec2", "describe-snapshots", "--snapshot-ids", &new_snap]);
    assert_eq!(s["Snapshots"][0]["KmsKeyId"], serde_json::json!(k2));
    let back = home.scratch("back.raw");
    cli(&[
        "ec2",
        "export-snapshot",
        "--snapshot-id",
        &new_snap,
        "--file",
        back.to_str().unwrap(),
    ]);
    let (a, b) = (std::fs::read(&raw).unwrap(), std::fs::read(&back).unwrap());
    assert!(
        b.len() >= a.len() && a == b[..a.len()],
        "the resumed copy holds the source's bytes"
    );
    // Nothing of the killed worker is left behind.
    let tmp: Vec<_> = std::fs::read_dir(again.path().join("tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}");
    assert!(again.stop().success());
}
