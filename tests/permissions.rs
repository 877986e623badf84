//! Who may do what, through the CLI: a permission matrix generated from one table (principal ×
//! operation, each principal made of identity policies, key policies and grants → the outcome
//! and AWS error code a user sees), and the default-key hijack of the permissions issue, which
//! must fail.

use crate::support::{as_profile, aws_error_code, s, Home};
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

/// The grants of `key` that EC2 made for attachments: (grantee, volume id of the constraint).
fn attachment_grants(h: &Home, key: &str) -> Vec<(String, String)> {
    let grants = h.ok(&["kms", "list-grants", "--key-id", key]);
    let mut out: Vec<(String, String)> = grants["Grants"]
        .as_array()
        .expect("Grants")
        .iter()
        .filter(|g| s(&g["GranteePrincipal"]).contains(":aws:ec2-infrastructure:"))
        .map(|g| {
            (
                s(&g["GranteePrincipal"]),
                s(&g["Constraints"]["EncryptionContextSubset"]["aws:ebs:id"]),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn attaching_an_encrypted_volume_creates_the_grant_aws_shows() {
    let h = Home::new();
    let acct = s(&h.ok(&["sts", "get-caller-identity"])["Account"]);
    let (key, key_arn) = h.create_key("attach grants");
    let snap = h.import(&[5u8; 8192], &[]);
    let ami = h.register("grants", "/dev/xvda", &snap, &[]);
    let inst = h.run_instance(&ami, &[]);
    let infra = format!("{acct}:aws:ec2-infrastructure:{inst}");
    let vol = s(&h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--size",
        "1",
        "--encrypted",
        "--kms-key-id",
        &key,
    ])["VolumeId"]);
    h.ok(&["ec2", "wait", "volume-available", "--volume-ids", &vol]);
    assert_eq!(
        attachment_grants(&h, &key),
        vec![],
        "no grant before the attach"
    );

    // 1. The attach creates one grant, as ListGrants shows it on AWS.
    h.attach(&vol, &inst, "/dev/sdf");
    let grants = h.ok(&["kms", "list-grants", "--key-id", &key]);
    let g = &grants["Grants"][0];
    assert_eq!(
        grants["Grants"].as_array().map(Vec::len),
        Some(1),
        "{grants}"
    );
    assert_eq!(s(&g["KeyId"]), key_arn);
    assert_eq!(s(&g["GranteePrincipal"]), infra);
    assert_eq!(g["Operations"], serde_json::json!(["Decrypt"]));
    assert_eq!(
        g["Constraints"],
        serde_json::json!({"EncryptionContextSubset": {"aws:ebs:id": vol}})
    );
    assert_eq!(s(&g["IssuingAccount"]), format!("arn:aws:iam::{acct}:root"));
    assert_eq!(s(&g["GrantId"]).len(), 64);
    // It can be found by its grantee, as written.
    let by = h.ok(&[
        "kms",
        "list-grants",
        "--key-id",
        &key,
        "--grantee-principal",
        &infra,
    ]);
    assert_eq!(by["Grants"], grants["Grants"]);
    let none = h.ok(&[
        "kms",
        "list-grants",
        "--key-id",
        &key,
        "--grantee-principal",
        &format!("{acct}:aws:ec2-infrastructure:i-0123456789abcdef0"),
    ]);
    assert_eq!(none["Grants"], serde_json::json!([]));
    // The grant gives no user anything: the grantee is the instance, not a principal of ours.
    assert_eq!(
        h.err(&[
            "kms",
            "create-grant",
            "--key-id",
            &key,
            "--grantee-principal",
            &infra,
            "--operations",
            "Decrypt"
        ]),
        "ValidationException"
    );

    // 2. Detach retires it; a second attach makes a new one.
    h.ok(&["ec2", "detach-volume", "--volume-id", &vol]);
    h.ok(&["ec2", "wait", "volume-available", "--volume-ids", &vol]);
    assert_eq!(attachment_grants(&h, &key), vec![]);
    h.attach(&vol, &inst, "/dev/sdg");
    assert_eq!(
        attachment_grants(&h, &key),
        vec![(infra.clone(), vol.clone())]
    );

    // 3. A launch attaches its encrypted volumes: a grant each; termination retires them all,
    // the one of a volume that outlives the instance too.
    let enc_ami = s(&h.ok(&[
        "ec2",
        "copy-image",
        "--source-image-id",
        &ami,
        "--source-region",
        "us-east-1",
        "--name",
        "enc",
        "--encrypted",
        "--kms-key-id",
        &key,
    ])["ImageId"]);
    h.ok(&["ec2", "wait", "image-available", "--image-ids", &enc_ami]);
    let second = h.run_instance(&enc_ami, &[]);
    let root = s(&h.volume_at(&second, "/dev/xvda")["VolumeId"]);
    let mut want = vec![
        (infra.clone(), vol.clone()),
        (
            format!("{acct}:aws:ec2-infrastructure:{second}"),
            root.clone(),
        ),
    ];
    want.sort();
    assert_eq!(attachment_grants(&h, &key), want);
    h.ok(&[
        "ec2",
        "terminate-instances",
        "--instance-ids",
        &inst,
        &second,
    ]);
    h.ok(&[
        "ec2",
        "wait",
        "instance-terminated",
        "--instance-ids",
        &inst,
        &second,
    ]);
    assert_eq!(attachment_grants(&h, &key), vec![]);
    assert_eq!(s(&h.volume(&vol)["State"]), "available");

    // 4. Without kms:CreateGrant, the attach fails as AWS fails it and stores no grant.
    h.ok(&["iam", "create-user", "--user-name", "nogrant"]);
    h.ok(&[
        "iam", "put-user-policy", "--user-name", "nogrant", "--policy-name", "p",
        "--policy-document",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:*","kms:Decrypt","kms:DescribeKey","kms:GenerateDataKeyWithoutPlaintext"],"Resource":"*"}]}"#,
    ]);
    let third = h.run_instance(&ami, &[]);
    let o = as_user(
        &h,
        "nogrant",
        &[
            "ec2",
            "attach-volume",
            "--volume-id",
            &vol,
            "--instance-id",
            &third,
            "--device",
            "/dev/sdf",
        ],
    );
    assert_eq!(
        aws_error_code(&String::from_utf8_lossy(&o.stderr)).as_deref(),
        Some("CustomerKeyHasBeenRevoked")
    );
    assert_eq!(attachment_grants(&h, &key), vec![]);
    assert_eq!(s(&h.volume(&vol)["State"]), "available");
}

/// Runs `args` as profile `profile` (`ACCOUNT:USER`), which must succeed.
fn ok_as(h: &Home, profile: &str, args: &[&str]) -> Value {
    h.ok(&as_profile(profile, args))
}

/// The instance `inst` of `profile` as DescribeInstances shows it.
fn instance_as(h: &Home, profile: &str, inst: &str) -> Value {
    let v = ok_as(
        h,
        profile,
        &["ec2", "describe-instances", "--instance-ids", inst],
    );
    v["Reservations"][0]["Instances"][0].clone()
}

#[test]
fn a_key_policy_naming_another_account_shares_an_encrypted_image_until_it_stops() {
    // SEMANTICS §3.6 rule 2 and §16: the owner's key policy names account B's root; B's own
    // identity policies then decide which of B's users may use the key.
    let h = Home::new();
    let owner = s(&h.ok(&["sts", "get-caller-identity"])["Account"]);
    let b = s(&h.ok(&["account", "create", "--name", "b"])["Account"]["Id"]);
    let owner_only = format!(
        r#"{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{owner}:root"}},"Action":"kms:*","Resource":"*"}}"#
    );
    let for_b = format!(
        r#"{{"Sid":"Allow use of the key by account B","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{b}:root"}},"Action":["kms:Decrypt","kms:DescribeKey","kms:CreateGrant","kms:GenerateDataKeyWithoutPlaintext","kms:ReEncrypt*"],"Resource":"*"}}"#
    );
    let policy = |stmts: &[&str]| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
            stmts.join(",")
        )
    };
    let k = s(&h.ok(&[
        "kms",
        "create-key",
        "--policy",
        &policy(&[&owner_only, &for_b]),
    ])["KeyMetadata"]["Arn"]);
    let data = crate::support::image_bytes(2 << 20, 77, b"KEY-POLICY-SHARED");
    let snap = h.import(&data, &["--encrypted", "--kms-key-id", &k]);
    let ami = h.register("kp-shared", "/dev/xvda", &snap, &[]);
    h.share(&ami, "add", &["--user-ids", &b]);
    h.share(&snap, "add", &["--user-ids", &b]);
    let b_admin = "b:admin";
    // B's user bob may do anything in EC2 but nothing in KMS: the key policy lets B's account
    // in, B's identity policy keeps bob out.
    ok_as(&h, b_admin, &["iam", "create-user", "--user-name", "bob"]);
    ok_as(
        &h,
        b_admin,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "bob",
            "--policy-name",
            "ec2",
            "--policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}"#,
        ],
    );
    let r = ok_as(&h, "b:bob", &["ec2", "run-instances", "--image-id", &ami]);
    let i = instance_as(&h, "b:bob", &s(&r["Instances"][0]["InstanceId"]));
    assert_eq!(i["State"]["Name"], "terminated");
    assert_eq!(
        i["StateReason"]["Code"],
        "Client.InvalidKMSKey.InvalidState"
    );

    // B's admin (identity policy `*`) launches; the attach grant is on the key B's volume
    // uses, B's default key (§20.16), for B's instance.
    let r = ok_as(&h, b_admin, &["ec2", "run-instances", "--image-id", &ami]);
    let inst = s(&r["Instances"][0]["InstanceId"]);
    let i = instance_as(&h, b_admin, &inst);
    assert_eq!(i["State"]["Name"], "running");
    let root = s(&i["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]);
    let vol = ok_as(
        &h,
        b_admin,
        &["ec2", "describe-volumes", "--volume-ids", &root],
    );
    let root_key = s(&vol["Volumes"][0]["KmsKeyId"]);
    assert!(
        root_key.starts_with(&format!("arn:aws:kms:us-east-1:{b}:key/")),
        "{root_key}"
    );
    let grants = ok_as(&h, b_admin, &["kms", "list-grants", "--key-id", &root_key]);
    assert_eq!(
        s(&grants["Grants"][0]["GranteePrincipal"]),
        format!("{b}:aws:ec2-infrastructure:{inst}")
    );
    // … with the owner's bytes.
    let launched = s(&ok_as(
        &h,
        b_admin,
        &["ec2", "create-snapshot", "--volume-id", &root],
    )["SnapshotId"]);
    h.assert_export_as(b_admin, &launched, &data);

    // B re-encrypts a copy of the shared snapshot to its own key, and makes a volume of it.
    let kb = s(&ok_as(&h, b_admin, &["kms", "create-key"])["KeyMetadata"]["Arn"]);
    let copy_to_own = || {
        let id = s(&ok_as(
            &h,
            b_admin,
            &[
                "ec2",
                "copy-snapshot",
                "--source-snapshot-id",
                &snap,
                "--source-region",
                "us-east-1",
                "--encrypted",
                "--kms-key-id",
                &kb,
            ],
        )["SnapshotId"]);
        let v = ok_as(
            &h,
            b_admin,
            &["ec2", "describe-snapshots", "--snapshot-ids", &id],
        );
        (id, v["Snapshots"][0].clone())
    };
    let (mine, copied) = copy_to_own();
    assert_eq!(copied["State"], "completed");
    assert_eq!(s(&copied["KmsKeyId"]), kb);
    h.assert_export_as(b_admin, &mine, &data);
    let v = ok_as(
        &h,
        b_admin,
        &[
            "ec2",
            "create-volume",
            "--availability-zone",
            "us-east-1a",
            "--snapshot-id",
            &snap,
        ],
    );
    let vid = s(&v["VolumeId"]);
    ok_as(
        &h,
        b_admin,
        &["ec2", "wait", "volume-available", "--volume-ids", &vid],
    );

    // The owner takes B out of the key policy: B's next launch and copy fail as AWS fails
    // them; what B re-encrypted to its own key no longer needs the owner's key.
    h.ok(&[
        "kms",
        "put-key-policy",
        "--key-id",
        &k,
        "--policy-name",
        "default",
        "--policy",
        &policy(&[&owner_only]),
    ]);
    let r = ok_as(&h, b_admin, &["ec2", "run-instances", "--image-id", &ami]);
    let i = instance_as(&h, b_admin, &s(&r["Instances"][0]["InstanceId"]));
    assert_eq!(i["State"]["Name"], "terminated");
    assert_eq!(
        i["StateReason"]["Code"],
        "Client.InvalidKMSKey.InvalidState"
    );
    let (_, failed) = copy_to_own();
    assert_eq!(failed["State"], "error");
    assert_eq!(failed["StateMessage"], "Given key ID is not accessible");
    h.assert_export_as(b_admin, &mine, &data);
    let from_mine = ok_as(
        &h,
        b_admin,
        &[
            "ec2",
            "create-volume",
            "--availability-zone",
            "us-east-1a",
            "--snapshot-id",
            &mine,
        ],
    );
    let vid = s(&from_mine["VolumeId"]);
    ok_as(
        &h,
        b_admin,
        &["ec2", "wait", "volume-available", "--volume-ids", &vid],
    );
}
