//! The AWS CLI's global habits, driven like a user: `--query` and pagination compared byte for
//! byte with the real `aws` CLI talking to `blockseal serve` on the same home, `--dry-run` through
//! the CLI and the API, the region and output from `AWS_REGION`/`AWS_DEFAULT_REGION`/
//! `AWS_DEFAULT_OUTPUT`, `--cli-input-json` and skeletons, `--debug` without secrets, and Ctrl-C
//! as exit 130 with nothing half-written.

use crate::api::{ec2_query, python, xml_text, Served};
use crate::support::{image_bytes, Home, GIB};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

fn volumes(h: &Home, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            h.ok(&[
                "ec2",
                "create-volume",
                "--availability-zone",
                "us-east-1a",
                "--size",
                "1",
            ])["VolumeId"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The `aws` CLI of the test venv against `url`, with the endpoint's built-in `test` key and
/// no configuration of the machine's user.
fn aws(py: &std::path::Path, url: &str, args: &[&str]) -> Output {
    let bin = py.parent().unwrap().join("aws");
    Command::new(bin)
        .args(["--endpoint-url", url])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_DEFAULT_OUTPUT")
        .output()
        .unwrap()
}

#[test]
fn query_and_pagination_print_what_the_aws_cli_prints() {
    let Some(py) = python() else { return };
    let h = Home::new();
    volumes(&h, 12);
    for d in ["K1", "K2", "K3"] {
        h.create_key(d);
    }
    let served = Served::on_path(h.path(), &[]);
    let cases: &[&[&str]] = &[
        &[
            "ec2",
            "describe-volumes",
            "--query",
            "Volumes[].VolumeId",
            "--output",
            "text",
        ],
        &[
            "ec2",
            "describe-volumes",
            "--query",
            "Volumes[].[VolumeId, Size]",
            "--output",
            "text",
        ],
        &["ec2", "describe-volumes", "--query", "length(Volumes)"],
        &[
            "ec2",
            "describe-volumes",
            "--query",
            "Volumes[?Size==`1`] | [0].Size",
        ],
        &["ec2", "describe-volumes", "--query", "Nothing"],
        &[
            "ec2",
            "describe-volumes",
            "--query",
            "Nothing",
            "--output",
            "text",
        ],
        // Each page its own text line; every page joined for json.
        &[
            "ec2",
            "describe-volumes",
            "--page-size",
            "5",
            "--query",
            "Volumes[].VolumeId",
            "--output",
            "text",
        ],
        &[
            "ec2",
            "describe-volumes",
            "--page-size",
            "5",
            "--query",
            "Volumes[].VolumeId",
        ],
        // --max-items: a NextToken in botocore's format, in the page or as the text's last line.
        &[
            "ec2",
            "describe-volumes",
            "--page-size",
            "5",
            "--max-items",
            "7",
            "--query",
            "{ids: Volumes[].VolumeId, next: NextToken}",
        ],
        &[
            "ec2",
            "describe-volumes",
            "--max-items",
            "3",
            "--output",
            "text",
            "--query",
            "Volumes[].VolumeId",
        ],
        &[
            "ec2",
            "describe-volumes",
            "--page-size",
            "5",
            "--max-items",
            "5",
            "--output",
            "text",
            "--query",
            "Volumes[].VolumeId",
        ],
        &["kms", "list-keys", "--query", "length(Keys)"],
        &[
            "kms",
            "list-keys",
            "--page-size",
            "2",
            "--max-items",
            "2",
            "--query",
            "{n: length(Keys), next: NextToken}",
        ],
        &[
            "ec2",
            "describe-volumes",
            "--no-paginate",
            "--cli-input-json",
            r#"{"MaxResults": 5}"#,
            "--query",
            "{more: NextToken != null, n: length(Volumes)}",
        ],
        // A limit in the request is the page size; every page is still read.
        &[
            "ec2",
            "describe-volumes",
            "--cli-input-json",
            r#"{"MaxResults": 5}"#,
            "--query",
            "length(Volumes)",
        ],
    ];
    for args in cases {
        let theirs = stdout(&aws(&py, &served.url, args));
        let ours = stdout(&h.run(args));
        assert_eq!(ours, theirs, "blockseal {args:?}");
    }
    // A token from either resumes in the other.
    let first = |out: &str| -> String {
        let v: Value = serde_json::from_str(out).unwrap();
        v["NextToken"].as_str().unwrap().to_owned()
    };
    let page1 = [
        "ec2",
        "describe-volumes",
        "--page-size",
        "5",
        "--max-items",
        "6",
    ];
    let token = first(&stdout(&aws(&py, &served.url, &page1)));
    assert_eq!(token, first(&stdout(&h.run(&page1))));
    let rest = [
        "ec2",
        "describe-volumes",
        "--page-size",
        "5",
        "--starting-token",
        &token,
        "--query",
        "Volumes[].VolumeId",
        "--output",
        "text",
    ];
    let ours = stdout(&h.run(&rest));
    assert_eq!(ours, stdout(&aws(&py, &served.url, &rest)));
    assert_eq!(ours.split_whitespace().count(), 6, "{ours}");
    // The same DryRun answer, through the API and through the CLI.
    let vol = volumes(&h, 1).pop().unwrap();
    let dry = ["ec2", "delete-volume", "--volume-id", &vol, "--dry-run"];
    let theirs = aws(&py, &served.url, &dry);
    let ours = h.run(&dry);
    assert_eq!(ours.status.code(), Some(254));
    assert_eq!(
        String::from_utf8_lossy(&ours.stderr),
        String::from_utf8_lossy(&theirs.stderr)
    );
    assert!(String::from_utf8_lossy(&ours.stderr).contains(
        "An error occurred (DryRunOperation) when calling the DeleteVolume operation: Request \
         would have succeeded, but DryRun flag is set."
    ));
    assert_eq!(h.volume(&vol)["State"], "available");
}

#[test]
fn every_page_is_read_and_a_token_resumes_where_max_items_stopped() {
    let h = Home::new();
    let mut made = volumes(&h, 11);
    made.sort();
    let ids = |v: &Value| -> Vec<String> {
        v["Volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["VolumeId"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = h.ok(&["ec2", "describe-volumes", "--page-size", "5"]);
    assert_eq!(ids(&all), made);
    assert!(all.get("NextToken").is_none());
    let first = h.ok(&[
        "ec2",
        "describe-volumes",
        "--page-size",
        "5",
        "--max-items",
        "7",
    ]);
    assert_eq!(ids(&first), made[..7]);
    let token = first["NextToken"].as_str().unwrap();
    let rest = h.ok(&[
        "ec2",
        "describe-volumes",
        "--page-size",
        "5",
        "--starting-token",
        token,
    ]);
    assert_eq!(ids(&rest), made[7..]);
    // One call with --no-paginate: the service's page and its own token.
    let one = h.ok(&[
        "ec2",
        "describe-volumes",
        "--no-paginate",
        "--cli-input-json",
        r#"{"MaxResults": 5}"#,
    ]);
    assert_eq!(ids(&one), made[..5]);
    assert!(one["NextToken"].is_string());
    let out = h.run(&[
        "ec2",
        "describe-volumes",
        "--no-paginate",
        "--page-size",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(252));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("Cannot specify --no-paginate along with pagination arguments: --page-size"));
    // The service's limits and the flags' scope are the AWS CLI's.
    assert_eq!(
        h.err(&["ec2", "describe-volumes", "--page-size", "2"]),
        "InvalidParameterValue"
    );
    let out = h.run(&["ec2", "get-ebs-encryption-by-default", "--max-items", "1"]);
    assert_eq!(out.status.code(), Some(252));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unknown options: --max-items"));
    let out = h.run(&["ec2", "describe-volumes", "--starting-token", "garbage"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Bad starting token"));
}

#[test]
fn iam_lists_are_paged_by_marker_as_the_aws_cli_pages_them() {
    // botocore's iam paginators: MaxItems is the page size, Marker the token both ways and
    // IsTruncated says there is more. Five users (admin and four made here) are three pages of
    // two.
    let h = Home::new();
    let mut made = vec!["admin".to_owned()];
    for name in ["dora", "bob", "erin", "carol"] {
        h.ok(&["iam", "create-user", "--user-name", name]);
        made.push(name.to_owned());
    }
    made.sort();
    let names = |v: &Value, list: &str| -> Vec<String> {
        v[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.get("UserName").unwrap_or(u).as_str().unwrap().to_owned())
            .collect()
    };
    let all = h.ok(&["iam", "list-users", "--page-size", "2"]);
    assert_eq!(names(&all, "Users"), made);
    for member in ["NextToken", "IsTruncated", "Marker"] {
        assert!(all.get(member).is_none(), "{member} in {all}");
    }
    let first = h.ok(&["iam", "list-users", "--page-size", "2", "--max-items", "3"]);
    assert_eq!(names(&first, "Users"), made[..3]);
    let token = first["NextToken"].as_str().unwrap();
    let rest = h.ok(&[
        "iam",
        "list-users",
        "--page-size",
        "2",
        "--starting-token",
        token,
    ]);
    assert_eq!(names(&rest, "Users"), made[3..]);
    // One call: the service's page, IsTruncated and the Marker to pass on.
    let one = h.ok(&[
        "iam",
        "list-users",
        "--no-paginate",
        "--cli-input-json",
        r#"{"MaxItems": 2}"#,
    ]);
    assert_eq!(names(&one, "Users"), made[..2]);
    assert_eq!(one["IsTruncated"], Value::Bool(true));
    assert_eq!(one["Marker"].as_str(), Some(made[1].as_str()));
    assert_eq!(
        h.err(&["iam", "list-users", "--page-size", "1001"]),
        "ValidationError"
    );
    // A user's inline policy names page the same way.
    let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}}"#;
    for policy in ["p3", "p1", "p2"] {
        h.ok(&[
            "iam",
            "put-user-policy",
            "--user-name",
            "bob",
            "--policy-name",
            policy,
            "--policy-document",
            doc,
        ]);
    }
    let policies = h.ok(&[
        "iam",
        "list-user-policies",
        "--user-name",
        "bob",
        "--page-size",
        "1",
    ]);
    assert_eq!(names(&policies, "PolicyNames"), ["p1", "p2", "p3"]);
    let first = h.ok(&[
        "iam",
        "list-user-policies",
        "--user-name",
        "bob",
        "--page-size",
        "1",
        "--max-items",
        "2",
    ]);
    assert_eq!(names(&first, "PolicyNames"), ["p1", "p2"]);
    assert!(first["NextToken"].is_string());
}

#[test]
fn a_bad_query_is_a_usage_error_and_text_output_is_tab_separated() {
    let h = Home::new();
    let made = volumes(&h, 2);
    let out = h.run(&["ec2", "describe-volumes", "--query", "Volumes[?Size=="]);
    assert_eq!(out.status.code(), Some(252));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--query"));
    let out = stdout(&h.run(&[
        "ec2",
        "describe-volumes",
        "--query",
        "sort(Volumes[].VolumeId)",
        "--output",
        "text",
    ]));
    let mut sorted = made.clone();
    sorted.sort();
    assert_eq!(out, format!("{}\n", sorted.join("\t")));
    // A run-time error of the expression fails the command after the call.
    let out = h.run(&["ec2", "describe-volumes", "--query", "length(`5`)"]);
    assert_eq!(out.status.code(), Some(255));
}

#[test]
fn dry_run_checks_the_request_and_changes_nothing() {
    let h = Home::new();
    let vol = volumes(&h, 1).pop().unwrap();
    let before = h.ok(&["ec2", "describe-volumes"]);
    let dry = |args: &[&str]| {
        let mut a = args.to_vec();
        a.push("--dry-run");
        let out = h.run(&a);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stderr)
    };
    for args in [
        &[
            "ec2",
            "create-volume",
            "--availability-zone",
            "us-east-1a",
            "--size",
            "1",
        ][..],
        &["ec2", "delete-volume", "--volume-id", &vol],
        &["ec2", "create-snapshot", "--volume-id", &vol],
        &["ec2", "enable-ebs-encryption-by-default"],
        &["ec2", "describe-volumes"],
    ] {
        let (code, stderr) = dry(args);
        assert_eq!(code, Some(254), "{args:?}: {stderr}");
        assert!(
            stderr.contains("(DryRunOperation)")
                && stderr.contains("Request would have succeeded, but DryRun flag is set."),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(h.ok(&["ec2", "describe-volumes"]), before);
    assert_eq!(
        h.ok(&["ec2", "describe-snapshots"])["Snapshots"],
        serde_json::json!([])
    );
    assert_eq!(
        h.ok(&["ec2", "get-ebs-encryption-by-default"])["EbsEncryptionByDefault"],
        false
    );
    // A request that would fail fails as it would without --dry-run.
    let (code, stderr) = dry(&[
        "ec2",
        "delete-volume",
        "--volume-id",
        "vol-0123456789abcdef0",
    ]);
    assert_eq!(code, Some(254));
    assert!(stderr.contains("(InvalidVolume.NotFound)"), "{stderr}");
    // --no-dry-run runs it; commands without DryRun in AWS refuse the flag.
    h.ok(&[
        "ec2",
        "delete-volume",
        "--volume-id",
        &vol,
        "--dry-run",
        "--no-dry-run",
    ]);
    let (code, stderr) = dry(&["kms", "list-keys"]);
    assert_eq!(code, Some(252), "{stderr}");
    assert!(stderr.contains("Unknown options: --dry-run"), "{stderr}");

    // The API: DryRun=true is 412 DryRunOperation, and changes nothing either.
    let served = Served::on_path(h.path(), &[]);
    let addr = served.url.trim_start_matches("http://").to_owned();
    let (status, body) = ec2_query(
        &addr,
        "Action=CreateVolume&AvailabilityZone=us-east-1a&Size=1&DryRun=true",
    );
    assert_eq!(status, 412, "{body}");
    assert_eq!(xml_text(&body, "Code"), "DryRunOperation");
    assert_eq!(
        xml_text(&body, "Message"),
        "Request would have succeeded, but DryRun flag is set."
    );
    let (status, body) = ec2_query(&addr, "Action=DescribeVolumes&DryRun=false");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        h.ok(&["ec2", "describe-volumes"])["Volumes"],
        serde_json::json!([])
    );
}

#[test]
fn region_and_output_come_from_the_aws_variables() {
    let h = Home::new();
    volumes(&h, 1);
    // Without --region or BLOCKSEAL_REGION: AWS_REGION, then AWS_DEFAULT_REGION.
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let mut c = h.command(args);
        c.env_remove("BLOCKSEAL_REGION")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_DEFAULT_OUTPUT");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    // A key's ARN names its region: arn:aws:kms:REGION:ACCOUNT:key/ID.
    let region_of = |out: Output| -> String {
        let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
        let arn = v["KeyMetadata"]["Arn"].as_str().unwrap();
        arn.split(':').nth(3).unwrap().to_owned()
    };
    let create = ["kms", "create-key"];
    assert_eq!(
        region_of(run(&[("AWS_REGION", "eu-west-1")], &create)),
        "eu-west-1"
    );
    assert_eq!(
        region_of(run(&[("AWS_DEFAULT_REGION", "ap-south-1")], &create)),
        "ap-south-1"
    );
    assert_eq!(
        region_of(run(
            &[
                ("AWS_REGION", "eu-west-1"),
                ("AWS_DEFAULT_REGION", "ap-south-1")
            ],
            &create
        )),
        "eu-west-1"
    );
    let mut with_flag = create.to_vec();
    with_flag.extend(["--region", "us-west-2"]);
    assert_eq!(
        region_of(run(&[("AWS_REGION", "eu-west-1")], &with_flag)),
        "us-west-2"
    );
    assert_eq!(
        region_of(run(
            &[
                ("BLOCKSEAL_REGION", "ca-central-1"),
                ("AWS_REGION", "eu-west-1")
            ],
            &create
        )),
        "ca-central-1"
    );
    assert_eq!(region_of(run(&[], &create)), "us-east-1");
    // Each region sees its own keys only.
    let count = |region: &str| {
        let out = run(
            &[("AWS_REGION", region)],
            &["kms", "list-keys", "--query", "length(Keys)"],
        );
        stdout(&out).trim().to_owned()
    };
    assert_eq!(count("eu-west-1"), "2");
    assert_eq!(count("ap-south-1"), "1");
    // --debug says where the region came from.
    let out = run(
        &[("AWS_DEFAULT_REGION", "ap-south-1")],
        &["ec2", "describe-volumes", "--debug"],
    );
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("region ap-south-1 (from AWS_DEFAULT_REGION)"));

    // AWS_DEFAULT_OUTPUT, below --output and BLOCKSEAL_OUTPUT.
    let q = ["ec2", "describe-volumes", "--query", "Volumes[0].Size"];
    let text = run(&[("AWS_DEFAULT_OUTPUT", "text")], &q);
    assert_eq!(stdout(&text), "1\n");
    let mut json_flag = q.to_vec();
    json_flag.extend(["--output", "json"]);
    assert_eq!(
        stdout(&run(&[("AWS_DEFAULT_OUTPUT", "text")], &json_flag)),
        "1\n"
    );
    let table = run(
        &[
            ("AWS_DEFAULT_OUTPUT", "text"),
            ("BLOCKSEAL_OUTPUT", "table"),
        ],
        &["ec2", "get-ebs-encryption-by-default"],
    );
    assert!(stdout(&table).contains("GetEbsEncryptionByDefault"));
    let yaml = run(&[("AWS_DEFAULT_OUTPUT", "yaml")], &q);
    assert_eq!(yaml.status.code(), Some(252));
    // The pager and colour flags are accepted and change nothing.
    let plain = stdout(&run(&[], &["ec2", "describe-volumes"]));
    let flagged = stdout(&run(
        &[],
        &["ec2", "describe-volumes", "--no-cli-pager", "--color", "on"],
    ));
    assert_eq!(plain, flagged);
    assert_eq!(
        run(&[], &["ec2", "describe-volumes", "--color", "pink"])
            .status
            .code(),
        Some(252)
    );
}

#[test]
fn cli_input_json_and_skeletons() {
    let h = Home::new();
    let skeleton = h.ok(&["ec2", "create-volume", "--generate-cli-skeleton"]);
    for member in [
        "AvailabilityZone",
        "Size",
        "SnapshotId",
        "Encrypted",
        "KmsKeyId",
        "DryRun",
    ] {
        assert!(skeleton.get(member).is_some(), "{member}: {skeleton}");
    }
    // The skeleton, filled in, is the request; a flag overrides its member.
    let input = h.scratch("create-volume.json");
    std::fs::write(&input, r#"{"AvailabilityZone": "us-east-1b", "Size": 2}"#).unwrap();
    let file_arg = format!("file://{}", input.display());
    let v = h.ok(&["ec2", "create-volume", "--cli-input-json", &file_arg]);
    assert_eq!(
        (v["AvailabilityZone"].as_str(), v["Size"].as_u64()),
        (Some("us-east-1b"), Some(2))
    );
    let v = h.ok(&[
        "ec2",
        "create-volume",
        "--cli-input-json",
        &file_arg,
        "--size",
        "3",
    ]);
    assert_eq!(v["Size"], 3);
    // Required flags may come from the JSON.
    let vol = v["VolumeId"].as_str().unwrap();
    let snap = h.ok(&[
        "ec2",
        "create-snapshot",
        "--cli-input-json",
        &format!(r#"{{"VolumeId": "{vol}", "Description": "from json"}}"#),
    ]);
    assert_eq!(snap["Description"], "from json");
    assert_eq!(snap["VolumeId"], vol);
    // A member the engine does not know is refused, as AWS refuses a misspelt one.
    assert_eq!(
        h.err(&[
            "ec2",
            "delete-volume",
            "--cli-input-json",
            r#"{"VolumeID": "x"}"#
        ]),
        "InvalidParameterValue"
    );
    // Output skeletons check the parameters, then print a made-up answer through --query.
    let out = stdout(&h.run(&[
        "ec2",
        "copy-image",
        "--generate-cli-skeleton",
        "output",
        "--source-image-id",
        "ami-0123456789abcdef0",
        "--name",
        "n",
        "--query",
        "ImageId",
        "--output",
        "text",
    ]));
    assert_eq!(out, "ImageId\n");
    let out = h.run(&["ec2", "export-snapshot", "--generate-cli-skeleton"]);
    assert_eq!(out.status.code(), Some(252));
    let out = h.run(&["ec2", "create-volume", "--cli-input-json", "{not json"]);
    assert_eq!(out.status.code(), Some(252));
}

#[test]
fn debug_traces_every_call_and_hides_secrets() {
    let h = Home::new();
    let (key, _) = h.create_key("K");
    let secret = "VE9QLVNFQ1JFVC1QTEFJTlRFWFQtMDEyMzQ1"; // base64 of TOP-SECRET-PLAINTEXT-012345
    let out = h.run(&[
        "kms",
        "encrypt",
        "--key-id",
        &key,
        "--plaintext",
        secret,
        "--debug",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let enc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(stderr.contains("calling Encrypt with"), "{stderr}");
    assert!(stderr.contains("*** sensitive ***"), "{stderr}");
    assert!(!stderr.contains(secret), "{stderr}");
    let blob = enc["CiphertextBlob"].as_str().unwrap();
    let out = h.run(&["kms", "decrypt", "--ciphertext-blob", blob, "--debug"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains("Decrypt answered in"), "{stderr}");
    assert!(!stderr.contains(secret), "{stderr}");
    assert!(stdout(&out).contains(secret));
    // A paginated command traces each page's call.
    volumes(&h, 6);
    let out = h.run(&["ec2", "describe-volumes", "--page-size", "5", "--debug"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        stderr.matches("calling DescribeVolumes").count(),
        2,
        "{stderr}"
    );
}

/// Sends SIGINT to `child`.
fn ctrl_c(child: &std::process::Child) {
    let pid = rustix::process::Pid::from_child(child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
}

#[test]
fn ctrl_c_exits_130() {
    // A waiter that would poll for ten minutes (a stopped instance never becomes running by
    // itself): interrupted once it has made its first call.
    let h = Home::new();
    let snap = h.import(&[7u8; 4096], &[]);
    let ami = h.register("ctrl-c-wait", "/dev/xvda", &snap, &[]);
    let instance = h.run_instance(&ami, &[]);
    h.ok(&["ec2", "stop-instances", "--instance-ids", &instance]);
    let mut child = h
        .command(&[
            "ec2",
            "wait",
            "instance-running",
            "--instance-ids",
            &instance,
            "--debug",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let answered = "DescribeInstances answered";
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 && !line.contains(answered) {
        line.clear();
    }
    assert!(line.contains(answered), "{line}");
    ctrl_c(&child);
    assert_eq!(child.wait().unwrap().code(), Some(130));
}

#[test]
fn ctrl_c_during_a_copy_exits_130_and_leaves_nothing() {
    // Failure story: a user presses Ctrl-C while copy-image re-keys a large image. The command
    // must end with 130, the home must hold no new image and, after the next command, no
    // leftover file; the same copy must then succeed.
    let h = Home::new();
    let (k1, _) = h.create_key("K1");
    let (k2, _) = h.create_key("K2");
    let data = image_bytes((GIB / 2) as usize, 7, b"CTRL-C-TEST");
    let snap = h.import(&data, &["--encrypted", "--kms-key-id", &k1]);
    let ami = h.register("ctrl-c-src", "/dev/xvda", &snap, &[]);
    let images_before = h.ok(&["ec2", "describe-images"]);
    let mut files_before = h.files();
    let args = [
        "ec2",
        "copy-image",
        "--source-image-id",
        &ami,
        "--name",
        "ctrl-c-copy",
        "--encrypted",
        "--kms-key-id",
        &k2,
    ];
    let mut child = h.command(&args).stdout(Stdio::null()).spawn().unwrap();
    let tmp = h.path().join("tmp");
    let mut interrupted = false;
    for _ in 0..100_000 {
        let written: u64 = std::fs::read_dir(&tmp)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| {
                        use std::os::unix::fs::MetadataExt;
                        e.metadata().map(|m| m.blocks() * 512).unwrap_or(0)
                    })
                    .sum()
            })
            .unwrap_or(0);
        if written > 16 << 20 {
            ctrl_c(&child);
            interrupted = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let status = child.wait().unwrap();
    assert!(
        interrupted,
        "the copy ended before it could be interrupted: {status}"
    );
    assert_eq!(status.code(), Some(130));
    assert_eq!(h.ok(&["ec2", "describe-images"]), images_before);
    let mut after = h.files();
    after.retain(|p| !p.to_string_lossy().contains("catalog.db"));
    files_before.retain(|p| !p.to_string_lossy().contains("catalog.db"));
    after.sort();
    files_before.sort();
    assert_eq!(
        after, files_before,
        "a leftover file survived the next command"
    );
    let copied = h.ok(&args)["ImageId"].as_str().unwrap().to_owned();
    h.assert_export(
        h.snapshot_of(&copied, "/dev/xvda")["SnapshotId"]
            .as_str()
            .unwrap(),
        &data,
    );
}

/// A flag given twice keeps its last occurrence, as in the AWS CLI (argparse's `store`): two
/// `--filters` are not ANDed, and a repeated `--region` is not an error.
#[test]
fn a_repeated_flag_keeps_its_last_value() {
    let h = Home::new();
    let (key, _) = h.create_key("repeat");
    let plain = h.import(&image_bytes(1 << 20, 3, b"REPEAT-PLAIN"), &[]);
    let sealed = h.import(
        &image_bytes(1 << 20, 4, b"REPEAT-SEALED"),
        &["--encrypted", "--kms-key-id", &key],
    );
    let ids = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ec2", "describe-snapshots"];
        a.extend_from_slice(args);
        h.ok(&a)["Snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["SnapshotId"].as_str().unwrap().to_owned())
            .collect()
    };
    let last_false = [
        "--filters",
        "Name=encrypted,Values=true",
        "--filters",
        "Name=encrypted,Values=false",
    ];
    assert_eq!(ids(&last_false), vec![plain.clone()]);
    let last_true = [
        "--filters",
        "Name=encrypted,Values=false",
        "--filters",
        "Name=encrypted,Values=true",
    ];
    assert_eq!(ids(&last_true), vec![sealed.clone()]);
    assert_eq!(
        ids(&["--snapshot-ids", &plain, "--snapshot-ids", &sealed]),
        vec![sealed.clone()]
    );
    let region_twice = h.ok(&[
        "--region",
        "eu-west-1",
        "--region",
        "us-east-1",
        "ec2",
        "describe-snapshots",
    ]);
    assert_eq!(region_twice["Snapshots"].as_array().unwrap().len(), 2);
}

/// `--dry-run` and the pagination flags belong to service operations: a command that is none
/// (doctor, bench, mount) refuses them rather than ignoring them, so `doctor --repair --dry-run`
/// changes nothing.
#[test]
fn operation_only_flags_are_refused_by_other_commands() {
    let h = Home::new();
    h.ok(&["ec2", "describe-images"]);
    for args in [
        &["doctor", "--repair", "--dry-run"][..],
        &["doctor", "--max-items", "3"][..],
        &["bench", "xts", "--dry-run"][..],
    ] {
        let out = h.run(args);
        assert_eq!(out.status.code(), Some(252), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Unknown options: --"), "{args:?}: {err}");
    }
    // Without them, doctor runs.
    assert!(h.run(&["doctor"]).status.success());
}
