//! Who may do what, through the CLI: a permission matrix generated from one table (principal ×
//! operation, each principal made of identity policies, key policies and grants → the outcome
//! and AWS error code a user sees), and the default-key hijack of the permissions issue, which
//! must fail.

use crate::support::{aws_error_code, s, Home};
use serde_json::Value;
use std::process::Output;

/// What a row expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// The command succeeds.
    Ok,
    /// It fails with this AWS error code (exit 254).
    Code(&'static str),
    /// `create-volume` answers `creating`, and the volume then fails and is gone: the KMS
    /// refusal AWS reports asynchronously (SEMANTICS §5 rule 7).
    Vanishes,
}

use Want::{Code, Ok as Yes, Vanishes as Gone};

const UNAUTH: Want = Code("UnauthorizedOperation");
const KMS_DENIED: Want = Code("AccessDeniedException");
const IAM_DENIED: Want = Code("AccessDenied");
const DRY: Want = Code("DryRunOperation");
const NO_USER: Want = Code("InvalidClientTokenId");

/// The principals, in the order of each table row's outcomes.
const PRINCIPALS: [&str; 8] = [
    "admin",
    "reader",
    "builder",
    "plainonly",
    "nobody",
    "keyowner",
    "granted",
    "ghost",
];

fn doc(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

/// The identity policies of each principal (`ghost` is no user at all; `admin` has `*`).
fn identity_policy(who: &str) -> Option<String> {
    Some(match who {
        // Reads everything.
        "reader" => doc(
            r#"{"Effect":"Allow","Action":["ec2:Describe*","ec2:Get*","kms:Describe*","kms:List*","kms:Get*","iam:Get*","iam:List*"],"Resource":"*"}"#,
        ),
        // Builds with EC2 and KMS, but may not touch the account's encryption settings.
        "builder" => doc(
            r#"{"Effect":"Allow","Action":["ec2:*","kms:*"],"Resource":"*"},
               {"Effect":"Deny","Action":["ec2:ModifyEbsDefaultKmsKeyId","ec2:ResetEbsDefaultKmsKeyId","ec2:EnableEbsEncryptionByDefault","ec2:DisableEbsEncryptionByDefault"],"Resource":"*"}"#,
        ),
        // EC2, but no encrypted volumes; nothing of KMS.
        "plainonly" => doc(r#"{"Effect":"Allow","Action":"ec2:*","Resource":"*"},
               {"Effect":"Deny","Action":"ec2:CreateVolume","Resource":"*","Condition":{"Bool":{"ec2:Encrypted":"true"}}}"#),
        // EC2 and creating keys; its own key's policy names it (no identity policy needed there).
        "keyowner" => {
            doc(r#"{"Effect":"Allow","Action":["ec2:*","kms:CreateKey"],"Resource":"*"}"#)
        }
        // EC2 only; uses K_DEF through a grant.
        "granted" => doc(r#"{"Effect":"Allow","Action":"ec2:*","Resource":"*"}"#),
        _ => return None,
    })
}

/// The table: an operation (a command with `{K_DEF}`, `{K_OWN}`, `{AMI}`, `{VOL}` to fill in)
/// and the outcome for each principal of [`PRINCIPALS`], in order.
fn table() -> Vec<(&'static str, [Want; 8])> {
    vec![
        ("ec2 describe-images", [Yes, Yes, Yes, Yes, UNAUTH, Yes, Yes, NO_USER]),
        ("ec2 describe-volumes --dry-run", [DRY, DRY, DRY, DRY, UNAUTH, DRY, DRY, NO_USER]),
        ("ec2 get-ebs-encryption-by-default", [Yes, Yes, Yes, Yes, UNAUTH, Yes, Yes, NO_USER]),
        ("ec2 get-ebs-default-kms-key-id", [Yes, Yes, Yes, Yes, UNAUTH, Yes, Yes, NO_USER]),
        (
            "ec2 create-volume --availability-zone us-east-1a --size 1",
            [Yes, UNAUTH, Yes, Yes, UNAUTH, Yes, Yes, NO_USER],
        ),
        (
            "ec2 create-volume --availability-zone us-east-1a --size 1 --encrypted",
            [Yes, UNAUTH, Yes, UNAUTH, UNAUTH, Yes, Yes, NO_USER],
        ),
        (
            "ec2 create-volume --availability-zone us-east-1a --size 1 --encrypted --kms-key-id {K_DEF}",
            [Yes, UNAUTH, Yes, UNAUTH, UNAUTH, Gone, Yes, NO_USER],
        ),
        (
            "ec2 create-volume --availability-zone us-east-1a --size 1 --encrypted --kms-key-id {K_OWN}",
            [Gone, UNAUTH, Gone, UNAUTH, UNAUTH, Yes, Gone, NO_USER],
        ),
        (
            "ec2 modify-ebs-default-kms-key-id --kms-key-id {K_OWN} --dry-run",
            [DRY, UNAUTH, UNAUTH, DRY, UNAUTH, DRY, DRY, NO_USER],
        ),
        (
            "ec2 enable-ebs-encryption-by-default --dry-run",
            [DRY, UNAUTH, UNAUTH, DRY, UNAUTH, DRY, DRY, NO_USER],
        ),
        (
            "ec2 run-instances --image-id {AMI} --dry-run",
            [DRY, UNAUTH, DRY, DRY, UNAUTH, DRY, DRY, NO_USER],
        ),
        (
            "ec2 delete-volume --volume-id {VOL} --dry-run",
            [DRY, UNAUTH, DRY, DRY, UNAUTH, DRY, DRY, NO_USER],
        ),
        (
            "ec2 create-snapshot --volume-id {VOL} --dry-run",
            [DRY, UNAUTH, DRY, DRY, UNAUTH, DRY, DRY, NO_USER],
        ),
        ("kms list-keys", [Yes, Yes, Yes, KMS_DENIED, KMS_DENIED, KMS_DENIED, KMS_DENIED, NO_USER]),
        ("kms create-key", [Yes, KMS_DENIED, Yes, KMS_DENIED, KMS_DENIED, Yes, KMS_DENIED, NO_USER]),
        (
            "kms describe-key --key-id {K_DEF}",
            [Yes, Yes, Yes, KMS_DENIED, KMS_DENIED, KMS_DENIED, Yes, NO_USER],
        ),
        (
            "kms describe-key --key-id {K_OWN}",
            [KMS_DENIED, KMS_DENIED, KMS_DENIED, KMS_DENIED, KMS_DENIED, Yes, KMS_DENIED, NO_USER],
        ),
        (
            "kms generate-data-key-without-plaintext --key-id {K_DEF} --number-of-bytes 32",
            [Yes, KMS_DENIED, Yes, KMS_DENIED, KMS_DENIED, KMS_DENIED, Yes, NO_USER],
        ),
        (
            "kms generate-data-key-without-plaintext --key-id {K_OWN} --number-of-bytes 32",
            [KMS_DENIED, KMS_DENIED, KMS_DENIED, KMS_DENIED, KMS_DENIED, Yes, KMS_DENIED, NO_USER],
        ),
        (
            "kms generate-data-key-without-plaintext --key-id alias/aws/ebs --number-of-bytes 32",
            [KMS_DENIED, KMS_DENIED, KMS_DENIED, KMS_DENIED, KMS_DENIED, KMS_DENIED, KMS_DENIED, NO_USER],
        ),
        (
            "kms get-key-policy --key-id {K_DEF}",
            [Yes, Yes, Yes, KMS_DENIED, KMS_DENIED, KMS_DENIED, KMS_DENIED, NO_USER],
        ),
        (
            "kms get-key-policy --key-id {K_OWN}",
            [KMS_DENIED, KMS_DENIED, KMS_DENIED, KMS_DENIED, KMS_DENIED, Yes, KMS_DENIED, NO_USER],
        ),
        (
            "kms list-key-policies --key-id {K_DEF}",
            [Yes, Yes, Yes, KMS_DENIED, KMS_DENIED, KMS_DENIED, KMS_DENIED, NO_USER],
        ),
        (
            "kms list-grants --key-id {K_DEF}",
            [Yes, Yes, Yes, KMS_DENIED, KMS_DENIED, KMS_DENIED, KMS_DENIED, NO_USER],
        ),
        ("iam list-users", [Yes, Yes, IAM_DENIED, IAM_DENIED, IAM_DENIED, IAM_DENIED, IAM_DENIED, NO_USER]),
        ("iam get-user", [Yes, Yes, IAM_DENIED, IAM_DENIED, IAM_DENIED, IAM_DENIED, IAM_DENIED, NO_USER]),
        (
            "iam get-user-policy --user-name builder --policy-name p",
            [Yes, Yes, IAM_DENIED, IAM_DENIED, IAM_DENIED, IAM_DENIED, IAM_DENIED, NO_USER],
        ),
        ("iam list-access-keys", [Yes, Yes, IAM_DENIED, IAM_DENIED, IAM_DENIED, IAM_DENIED, IAM_DENIED, NO_USER]),
        ("sts get-caller-identity", [Yes, Yes, Yes, Yes, Yes, Yes, Yes, NO_USER]),
    ]
}

fn as_user(h: &Home, who: &str, args: &[&str]) -> Output {
    let mut c = h.command(args);
    c.env("BLOCKSEAL_PROFILE", who);
    c.output().expect("run blockseal")
}

fn json_out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or(Value::Null)
}

/// Makes the principals of [`PRINCIPALS`] and the keys, volume and image the table names;
/// returns the substitutions.
fn world(h: &Home) -> Vec<(&'static str, String)> {
    for who in PRINCIPALS {
        if matches!(who, "admin" | "ghost") {
            continue;
        }
        h.ok(&["iam", "create-user", "--user-name", who]);
        if let Some(p) = identity_policy(who) {
            h.ok(&[
                "iam",
                "put-user-policy",
                "--user-name",
                who,
                "--policy-name",
                "p",
                "--policy-document",
                &p,
            ]);
        }
    }
    let (k_def, k_def_arn) = h.create_key("K_DEF");
    // keyowner's key: its policy names keyowner alone, so not even the admin may use it.
    let acct = s(&h.ok(&["sts", "get-caller-identity"])["Account"]);
    let own_policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Only keyowner","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{acct}:user/keyowner"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    let o = as_user(
        h,
        "keyowner",
        &["kms", "create-key", "--policy", &own_policy],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let k_own = s(&json_out(&o)["KeyMetadata"]["Arn"]);
    // granted holds a grant on K_DEF for what EBS needs.
    h.ok(&[
        "kms",
        "create-grant",
        "--key-id",
        &k_def,
        "--grantee-principal",
        &format!("arn:aws:iam::{acct}:user/granted"),
        "--operations",
        "GenerateDataKeyWithoutPlaintext",
        "Decrypt",
        "CreateGrant",
        "ReEncryptFrom",
        "ReEncryptTo",
        "DescribeKey",
    ]);
    let snap = h.import(&[7u8; 4096], &[]);
    let ami = h.register("perm", "/dev/xvda", &snap, &[]);
    let vol = s(&h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--size",
        "1",
    ])["VolumeId"]);
    vec![
        ("{K_DEF}", k_def_arn),
        ("{K_OWN}", k_own),
        ("{AMI}", ami),
        ("{VOL}", vol),
    ]
}

#[test]
fn permission_matrix_through_the_cli() {
    let h = Home::new();
    let subs = world(&h);
    let table = table();
    let mut failures = Vec::new();
    let mut rows = 0;
    for (template, wants) in &table {
        let mut cmd = template.to_string();
        for (k, v) in &subs {
            cmd = cmd.replace(k, v);
        }
        let args: Vec<&str> = cmd.split_whitespace().collect();
        for (who, want) in PRINCIPALS.iter().zip(wants) {
            rows += 1;
            let o = as_user(&h, who, &args);
            let stderr = String::from_utf8_lossy(&o.stderr);
            let got = if o.status.success() {
                let id = json_out(&o)["VolumeId"].as_str().map(str::to_owned);
                match id {
                    Some(v) if args[..2] == ["ec2", "create-volume"] => {
                        let d = h.run(&["ec2", "describe-volumes", "--volume-ids", &v]);
                        if d.status.success() {
                            Yes
                        } else {
                            let code = aws_error_code(&String::from_utf8_lossy(&d.stderr));
                            assert_eq!(code.as_deref(), Some("InvalidVolume.NotFound"));
                            Gone
                        }
                    }
                    _ => Yes,
                }
            } else {
                assert_eq!(o.status.code(), Some(254), "{who} {cmd}: {stderr}");
                match aws_error_code(&stderr) {
                    Some(c) => Code(Box::leak(c.into_boxed_str())),
                    None => panic!("{who} {cmd}: no AWS error: {stderr}"),
                }
            };
            if got != *want {
                failures.push(format!(
                    "{who:>9} {cmd}: want {want:?}, got {got:?} {stderr}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {rows} rows differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(rows, PRINCIPALS.len() * table.len());
    assert!(rows >= 200, "the matrix has {rows} rows");
}

#[test]
fn refusals_say_who_what_and_where() {
    let h = Home::new();
    h.ok(&["iam", "create-user", "--user-name", "bob"]);
    let o = as_user(&h, "bob", &["ec2", "describe-volumes"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("You are not authorized to perform this operation. User: arn:aws:iam::")
            && e.contains(":user/bob is not authorized to perform: ec2:DescribeVolumes on resource: * because no identity-based policy allows the ec2:DescribeVolumes action. Encoded authorization failure message: "),
        "{e}"
    );
    // The encoded message is base64 JSON of the decision's context.
    let encoded = e.trim().rsplit(' ').next().unwrap();
    let decoded = blockseal_engine::base64::decode(encoded).unwrap();
    let v: Value = serde_json::from_slice(&decoded).unwrap();
    assert_eq!(v["allowed"], false);
    assert_eq!(v["context"]["action"], "ec2:DescribeVolumes");
    assert_eq!(v["context"]["principal"]["name"], "bob");
    // A profile naming no user.
    let o = as_user(&h, "nosuchuser", &["ec2", "describe-volumes"]);
    assert_eq!(
        aws_error_code(&String::from_utf8_lossy(&o.stderr)).as_deref(),
        Some("InvalidClientTokenId")
    );
}

#[test]
fn users_and_their_policies() {
    let h = Home::new();
    let made = h.ok(&["iam", "create-user", "--user-name", "carol"]);
    let arn = s(&made["User"]["Arn"]);
    assert!(
        arn.starts_with("arn:aws:iam::") && arn.ends_with(":user/carol"),
        "{arn}"
    );
    assert!(s(&made["User"]["UserId"]).starts_with("AIDA"));
    assert_eq!(
        h.err(&["iam", "create-user", "--user-name", "carol"]),
        "EntityAlreadyExists"
    );
    assert_eq!(
        h.err(&["iam", "create-user", "--user-name", "no spaces"]),
        "ValidationError"
    );
    let names: Vec<String> = h.ok(&["iam", "list-users"])["Users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| s(&u["UserName"]))
        .collect();
    assert_eq!(names, ["admin", "carol"]);
    // A policy file, as the AWS CLI reads it; the answer shows the document decoded.
    let file = h.scratch("policy.json");
    let policy = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}}"#;
    std::fs::write(&file, policy).unwrap();
    let file_arg = format!("file://{}", file.display());
    h.ok(&[
        "iam",
        "put-user-policy",
        "--user-name",
        "carol",
        "--policy-name",
        "read",
        "--policy-document",
        &file_arg,
    ]);
    let got = h.ok(&[
        "iam",
        "get-user-policy",
        "--user-name",
        "carol",
        "--policy-name",
        "read",
    ]);
    assert_eq!(
        got["PolicyDocument"],
        serde_json::from_str::<Value>(policy).unwrap()
    );
    assert_eq!(
        h.ok(&["iam", "list-user-policies", "--user-name", "carol"])["PolicyNames"],
        serde_json::json!(["read"])
    );
    // Carol can describe now, and nothing else.
    let o = as_user(&h, "carol", &["ec2", "describe-images"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = as_user(
        &h,
        "carol",
        &[
            "ec2",
            "create-volume",
            "--availability-zone",
            "us-east-1a",
            "--size",
            "1",
        ],
    );
    assert_eq!(
        aws_error_code(&String::from_utf8_lossy(&o.stderr)).as_deref(),
        Some("UnauthorizedOperation")
    );
    // Bad documents are refused with IAM's code, and nothing is stored.
    for bad in [
        "not json",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"Describe","Resource":"*"}}"#,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"ec2:*","Resource":"*"}}"#,
    ] {
        assert_eq!(
            h.err(&[
                "iam",
                "put-user-policy",
                "--user-name",
                "carol",
                "--policy-name",
                "bad",
                "--policy-document",
                bad,
            ]),
            "MalformedPolicyDocument"
        );
    }
    assert_eq!(
        h.err(&[
            "iam",
            "get-user-policy",
            "--user-name",
            "carol",
            "--policy-name",
            "bad"
        ]),
        "NoSuchEntity"
    );
    // A user with keys or policies cannot be deleted; the admin never.
    let key = h.ok(&["iam", "create-access-key", "--user-name", "carol"]);
    assert_eq!(
        h.err(&["iam", "delete-user", "--user-name", "carol"]),
        "DeleteConflict"
    );
    h.ok(&[
        "iam",
        "delete-access-key",
        "--user-name",
        "carol",
        "--access-key-id",
        &s(&key["AccessKey"]["AccessKeyId"]),
    ]);
    assert_eq!(
        h.err(&["iam", "delete-user", "--user-name", "carol"]),
        "DeleteConflict"
    );
    h.ok(&[
        "iam",
        "delete-user-policy",
        "--user-name",
        "carol",
        "--policy-name",
        "read",
    ]);
    h.ok(&["iam", "delete-user", "--user-name", "carol"]);
    assert_eq!(
        h.err(&["iam", "get-user", "--user-name", "carol"]),
        "NoSuchEntity"
    );
    assert_eq!(
        h.err(&["iam", "delete-user", "--user-name", "admin"]),
        "UnmodifiableEntity"
    );
    assert_eq!(
        h.err(&["iam", "create-access-key", "--user-name", "carol"]),
        "NoSuchEntity"
    );
    let me = h.ok(&["sts", "get-caller-identity"]);
    assert!(s(&me["Arn"]).ends_with(":user/admin"));
    assert_eq!(s(&me["Account"]).len(), 12);
}

#[test]
fn key_policies() {
    let h = Home::new();
    let (k, arn) = h.create_key("K");
    let p = h.ok(&["kms", "get-key-policy", "--key-id", &k]);
    assert_eq!(p["PolicyName"], "default");
    let doc: Value = serde_json::from_str(p["Policy"].as_str().unwrap()).unwrap();
    assert_eq!(doc["Statement"][0]["Sid"], "Enable IAM User Permissions");
    let acct = arn.split(':').nth(4).unwrap().to_owned();
    assert_eq!(
        doc["Statement"][0]["Principal"]["AWS"],
        format!("arn:aws:iam::{acct}:root")
    );
    assert_eq!(
        h.ok(&["kms", "list-key-policies", "--key-id", &k])["PolicyNames"],
        serde_json::json!(["default"])
    );
    // A policy that would lock the caller out is refused, unless the check is bypassed.
    let only_bob = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{acct}:user/bob"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    assert_eq!(
        h.err(&[
            "kms",
            "put-key-policy",
            "--key-id",
            &k,
            "--policy",
            &only_bob
        ]),
        "MalformedPolicyDocumentException"
    );
    assert_eq!(
        h.err(&[
            "kms",
            "put-key-policy",
            "--key-id",
            &k,
            "--policy",
            "{\"Statement\": 3}"
        ]),
        "MalformedPolicyDocumentException"
    );
    assert_eq!(
        h.err(&["kms", "create-key", "--policy", &only_bob]),
        "MalformedPolicyDocumentException"
    );
    // Still the default policy: nothing half-written.
    let again = h.ok(&["kms", "get-key-policy", "--key-id", &k]);
    assert_eq!(again["Policy"], p["Policy"]);
    h.ok(&[
        "kms",
        "put-key-policy",
        "--key-id",
        &k,
        "--policy",
        &only_bob,
        "--bypass-policy-lockout-safety-check",
    ]);
    assert_eq!(
        h.err(&["kms", "describe-key", "--key-id", &k]),
        "AccessDeniedException"
    );
    // aws/ebs's policy is AWS's: usable through EC2 by the account only; nobody may change it.
    let ebs = h.ok(&["kms", "get-key-policy", "--key-id", "alias/aws/ebs"]);
    let ebs_doc: Value = serde_json::from_str(ebs["Policy"].as_str().unwrap()).unwrap();
    let cond = &ebs_doc["Statement"][0]["Condition"]["StringEquals"];
    assert_eq!(cond["kms:CallerAccount"], acct.as_str());
    assert_eq!(cond["kms:ViaService"], "ec2.us-east-1.amazonaws.com");
    assert_eq!(
        h.err(&[
            "kms",
            "put-key-policy",
            "--key-id",
            "alias/aws/ebs",
            "--policy",
            ebs["Policy"].as_str().unwrap(),
        ]),
        "AccessDeniedException"
    );
}

#[test]
fn the_default_key_hijack_fails() {
    // The permissions issue's "Why": a second profile points the region's default EBS key at
    // its own key, so that the admin's next encrypted volume lands under it.
    let h = Home::new();
    let acct = s(&h.ok(&["sts", "get-caller-identity"])["Account"]);
    h.ok(&["iam", "create-user", "--user-name", "mallory"]);
    let mallory = |args: &[&str]| as_user(&h, "mallory", args);
    // 1. With no permission at all, mallory can make no key and change no setting.
    let o = mallory(&["kms", "create-key"]);
    assert_eq!(
        aws_error_code(&String::from_utf8_lossy(&o.stderr)).as_deref(),
        Some("AccessDeniedException")
    );
    let (admins_key, _) = h.create_key("admin's");
    for args in [
        vec![
            "ec2",
            "modify-ebs-default-kms-key-id",
            "--kms-key-id",
            admins_key.as_str(),
        ],
        vec!["ec2", "enable-ebs-encryption-by-default"],
        vec!["ec2", "reset-ebs-default-kms-key-id"],
    ] {
        let o = mallory(&args);
        assert_eq!(
            aws_error_code(&String::from_utf8_lossy(&o.stderr)).as_deref(),
            Some("UnauthorizedOperation"),
            "{args:?}"
        );
    }
    let default = h.ok(&["ec2", "get-ebs-default-kms-key-id"]);
    assert_eq!(default["KmsKeyId"], "alias/aws/ebs", "unchanged");

    // 2. Given exactly ec2:ModifyEbsDefaultKmsKeyId and kms:CreateKey, mallory makes a key only
    // it may use and makes it the default.
    h.ok(&[
        "iam", "put-user-policy", "--user-name", "mallory", "--policy-name", "p",
        "--policy-document",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["ec2:ModifyEbsDefaultKmsKeyId","kms:CreateKey"],"Resource":"*"}}"#,
    ]);
    let mine = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{acct}:user/mallory"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    let o = mallory(&["kms", "create-key", "--policy", &mine]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let trap = s(&json_out(&o)["KeyMetadata"]["Arn"]);
    let o = mallory(&[
        "ec2",
        "modify-ebs-default-kms-key-id",
        "--kms-key-id",
        &trap,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // 3. The admin's next encrypted volume needs the admin to be allowed that key; its key
    // policy does not name the admin's account, so the volume fails and is gone, as AWS fails
    // a CreateVolume whose key cannot be used. No data ever lands under mallory's key.
    let v = h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--size",
        "1",
        "--encrypted",
    ]);
    assert_eq!(
        h.err(&[
            "ec2",
            "describe-volumes",
            "--volume-ids",
            &s(&v["VolumeId"])
        ]),
        "InvalidVolume.NotFound"
    );
    let vols = h.ok(&["ec2", "describe-volumes"]);
    assert_eq!(vols["Volumes"], serde_json::json!([]));
    // The admin names a key it controls instead, and mallory can neither read it nor reach it.
    let v = h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--size",
        "1",
        "--encrypted",
        "--kms-key-id",
        &admins_key,
    ]);
    let o = mallory(&[
        "ec2",
        "describe-volumes",
        "--volume-ids",
        &s(&v["VolumeId"]),
    ]);
    assert_eq!(
        aws_error_code(&String::from_utf8_lossy(&o.stderr)).as_deref(),
        Some("UnauthorizedOperation")
    );
    let o = mallory(&["kms", "describe-key", "--key-id", &admins_key]);
    assert_eq!(
        aws_error_code(&String::from_utf8_lossy(&o.stderr)).as_deref(),
        Some("AccessDeniedException")
    );
}
