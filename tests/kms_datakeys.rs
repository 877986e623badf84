//! KMS around data keys, through the built binary: the AWS CLI documentation's examples for
//! generate-data-key, re-encrypt, generate-random, update-key-description, retire-grant,
//! list-retirable-grants and key rotation, run with only their ids replaced by this home's, and
//! checked for the members and values the examples show. Rotation keeps what was encrypted
//! before it readable (ciphertexts and volume data keys), `--debug` never shows a plaintext, and
//! bad input gets AWS's codes.

use crate::support::{s, Home};
use blockseal_engine::base64;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The member names of a JSON object.
fn members(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// Runs a command with `--output text` and returns its one line of output.
fn text(h: &Home, args: &[&str]) -> String {
    let out = h.run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn b64(v: &Value) -> Vec<u8> {
    base64::decode(v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))).unwrap()
}

#[test]
fn generate_data_key_examples() {
    let h = Home::new();
    let (id, arn) = h.create_key("example");
    h.ok(&[
        "kms",
        "create-alias",
        "--alias-name",
        "alias/ExampleAlias",
        "--target-key-id",
        &id,
    ]);
    // Example 1: a 256-bit data key.
    let out = h.ok(&[
        "kms",
        "generate-data-key",
        "--key-id",
        "alias/ExampleAlias",
        "--key-spec",
        "AES_256",
    ]);
    assert_eq!(
        members(&out),
        BTreeSet::from(["CiphertextBlob", "KeyId", "KeyMaterialId", "Plaintext"])
    );
    assert_eq!(out["KeyId"], arn);
    assert_eq!(out["KeyMaterialId"].as_str().unwrap().len(), 64);
    let plaintext = b64(&out["Plaintext"]);
    assert_eq!(plaintext.len(), 32);
    // Stored as a file, the CiphertextBlob decrypts back to the plaintext key.
    let blob = h.scratch("data-key.enc");
    std::fs::write(&blob, b64(&out["CiphertextBlob"])).unwrap();
    let arg = format!("fileb://{}", blob.display());
    let back = h.ok(&["kms", "decrypt", "--ciphertext-blob", &arg]);
    assert_eq!(b64(&back["Plaintext"]), plaintext);
    assert_eq!(back["KeyId"], arn);

    // Example 2: a 512-bit data key by --number-of-bytes.
    let out = h.ok(&[
        "kms",
        "generate-data-key",
        "--key-id",
        &id,
        "--number-of-bytes",
        "64",
    ]);
    assert_eq!(b64(&out["Plaintext"]).len(), 64);
    assert_eq!(out["KeyId"], arn);

    // Without plaintext: only the wrapped key.
    let out = h.ok(&[
        "kms",
        "generate-data-key-without-plaintext",
        "--key-id",
        &id,
        "--key-spec",
        "AES_128",
    ]);
    assert!(out.get("Plaintext").is_none());
    let back = h.ok(&[
        "kms",
        "decrypt",
        "--ciphertext-blob",
        out["CiphertextBlob"].as_str().unwrap(),
    ]);
    assert_eq!(b64(&back["Plaintext"]).len(), 16);

    // Bad input, AWS's codes.
    for args in [
        &["--number-of-bytes", "0"][..],
        &["--number-of-bytes", "1025"],
        &["--key-spec", "AES_512"],
        &[],
    ] {
        let mut cmd = vec!["kms", "generate-data-key", "--key-id", id.as_str()];
        cmd.extend_from_slice(args);
        assert_eq!(h.err(&cmd), "ValidationException", "{args:?}");
    }
    h.ok(&["kms", "disable-key", "--key-id", &id]);
    let cmd = [
        "kms",
        "generate-data-key",
        "--key-id",
        id.as_str(),
        "--key-spec",
        "AES_256",
    ];
    assert_eq!(h.err(&cmd), "DisabledException");
    let missing = "0987dcba-09fe-87dc-65ba-ab0987654321";
    let cmd = [
        "kms",
        "generate-data-key",
        "--key-id",
        missing,
        "--key-spec",
        "AES_256",
    ];
    assert_eq!(h.err(&cmd), "NotFoundException");
}

#[test]
fn re_encrypt_example_moves_a_file_to_another_key() {
    let h = Home::new();
    let (k1, a1) = h.create_key("source");
    let (k2, a2) = h.create_key("destination");
    let plain = h.scratch("ExamplePlaintext");
    std::fs::write(&plain, b"re-encrypt me, keep me secret").unwrap();
    let enc = text(
        &h,
        &[
            "kms",
            "encrypt",
            "--key-id",
            &k1,
            "--plaintext",
            &format!("fileb://{}", plain.display()),
            "--query",
            "CiphertextBlob",
            "--output",
            "text",
        ],
    );
    let encrypted = h.scratch("ExampleEncryptedFile");
    std::fs::write(&encrypted, base64::decode(&enc).unwrap()).unwrap();
    // The example: --query CiphertextBlob --output text | base64 --decode > file.
    let arg = format!("fileb://{}", encrypted.display());
    let re = text(
        &h,
        &[
            "kms",
            "re-encrypt",
            "--ciphertext-blob",
            &arg,
            "--source-key-id",
            &k1,
            "--destination-key-id",
            &k2,
            "--query",
            "CiphertextBlob",
            "--output",
            "text",
        ],
    );
    let reencrypted = h.scratch("ExampleReEncryptedFile");
    std::fs::write(&reencrypted, base64::decode(&re).unwrap()).unwrap();
    let arg2 = format!("fileb://{}", reencrypted.display());
    let back = h.ok(&["kms", "decrypt", "--ciphertext-blob", &arg2]);
    assert_eq!(back["KeyId"], a2);
    assert_eq!(b64(&back["Plaintext"]), b"re-encrypt me, keep me secret");
    let cmd = [
        "kms",
        "decrypt",
        "--ciphertext-blob",
        arg2.as_str(),
        "--key-id",
        k1.as_str(),
    ];
    assert_eq!(h.err(&cmd), "IncorrectKeyException");

    // The whole response, and the source key checked when named.
    let out = h.ok(&[
        "kms",
        "re-encrypt",
        "--ciphertext-blob",
        &arg,
        "--destination-key-id",
        &k2,
    ]);
    assert_eq!(
        (&out["SourceKeyId"], &out["KeyId"]),
        (&json!(a1), &json!(a2))
    );
    assert!(out.get("Plaintext").is_none());
    let cmd = [
        "kms",
        "re-encrypt",
        "--ciphertext-blob",
        arg.as_str(),
        "--source-key-id",
        k2.as_str(),
        "--destination-key-id",
        k2.as_str(),
    ];
    assert_eq!(h.err(&cmd), "IncorrectKeyException");
    let cmd = [
        "kms",
        "re-encrypt",
        "--ciphertext-blob",
        arg.as_str(),
        "--source-encryption-context",
        "a=1",
        "--destination-key-id",
        k2.as_str(),
    ];
    assert_eq!(h.err(&cmd), "InvalidCiphertextException");
}

#[test]
fn generate_random_example_and_debug_hides_plaintexts() {
    let h = Home::new();
    let random = text(
        &h,
        &[
            "kms",
            "generate-random",
            "--number-of-bytes",
            "32",
            "--output",
            "text",
            "--query",
            "Plaintext",
        ],
    );
    assert_eq!(base64::decode(&random).unwrap().len(), 32);
    for n in ["0", "1025"] {
        let cmd = ["kms", "generate-random", "--number-of-bytes", n];
        assert_eq!(h.err(&cmd), "ValidationException");
    }
    // --debug traces the calls but never the plaintexts they return.
    let (id, _) = h.create_key("debug");
    for cmd in [
        vec![
            "kms",
            "generate-random",
            "--number-of-bytes",
            "48",
            "--debug",
        ],
        vec![
            "kms",
            "generate-data-key",
            "--key-id",
            id.as_str(),
            "--key-spec",
            "AES_256",
            "--debug",
        ],
    ] {
        let out = h.run(&cmd);
        assert!(out.status.success(), "{cmd:?}");
        let stdout: Value = serde_json::from_slice(&out.stdout).unwrap();
        let secret = s(&stdout["Plaintext"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(" answered in"), "{stderr}");
        assert!(!stderr.contains(&secret), "{stderr}");
    }
}

#[test]
fn update_key_description_examples() {
    let h = Home::new();
    let (id, arn) = h.create_key("");
    let desc = |h: &Home| {
        h.ok(&["kms", "describe-key", "--key-id", &id])["KeyMetadata"]["Description"].clone()
    };
    let out = h.ok(&[
        "kms",
        "update-key-description",
        "--key-id",
        &arn,
        "--description",
        "IT Department test key",
    ]);
    assert_eq!(out, Value::Null, "no output");
    assert_eq!(desc(&h), "IT Department test key");
    h.ok(&[
        "kms",
        "update-key-description",
        "--key-id",
        &id,
        "--description",
        "",
    ]);
    assert_eq!(desc(&h), "");
}

#[test]
fn retire_grant_and_list_retirable_grants_examples() {
    let h = Home::new();
    for user in ["bob", "carol"] {
        h.ok(&["iam", "create-user", "--user-name", user]);
    }
    let (id, arn) = h.create_key("granted");
    let account = arn.split(':').nth(4).unwrap().to_owned();
    let example_admin = format!("arn:aws:iam::{account}:user/ExampleAdmin");
    let grant = h.ok(&[
        "kms",
        "create-grant",
        "--key-id",
        &id,
        "--grantee-principal",
        &format!("arn:aws:iam::{account}:user/ExampleUser"),
        "--operations",
        "Encrypt",
        "--retiring-principal",
        &example_admin,
    ]);
    let grant_id = s(&grant["GrantId"]);
    let out = h.ok(&[
        "kms",
        "list-retirable-grants",
        "--retiring-principal",
        &example_admin,
    ]);
    let g = &out["Grants"][0];
    assert_eq!(out["Grants"].as_array().unwrap().len(), 1);
    assert_eq!(g["KeyId"], arn);
    assert_eq!(g["GrantId"], grant_id);
    assert_eq!(g["RetiringPrincipal"], example_admin);
    assert_eq!(g["IssuingAccount"], format!("arn:aws:iam::{account}:root"));
    assert_eq!(g["Operations"], json!(["Encrypt"]));

    // The example: retire by grant id and key ARN; no output; list-grants confirms.
    let out = h.ok(&[
        "kms",
        "retire-grant",
        "--grant-id",
        &grant_id,
        "--key-id",
        &arn,
    ]);
    assert_eq!(out, Value::Null);
    let grants = h.ok(&["kms", "list-grants", "--key-id", &id]);
    assert_eq!(grants["Grants"], json!([]));
    let cmd = [
        "kms",
        "retire-grant",
        "--grant-id",
        grant_id.as_str(),
        "--key-id",
        arn.as_str(),
    ];
    assert_eq!(h.err(&cmd), "NotFoundException");

    // Who may retire: the retiring principal (a profile here), not the grantee without
    // RetireGrant, by token.
    let grant = h.ok(&[
        "kms",
        "create-grant",
        "--key-id",
        &id,
        "--grantee-principal",
        "bob",
        "--operations",
        "Decrypt",
        "--retiring-principal",
        "carol",
    ]);
    let token = s(&grant["GrantToken"]);
    let as_user = |name: &str| {
        let mut c = h.command(&["kms", "retire-grant", "--grant-token", &token]);
        c.env("BLOCKSEAL_PROFILE", name);
        c.output().unwrap()
    };
    let out = as_user("bob");
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("(AccessDeniedException)"));
    let out = as_user("carol");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cmd = ["kms", "retire-grant", "--grant-token", token.as_str()];
    assert_eq!(h.err(&cmd), "InvalidGrantTokenException");
    assert_eq!(
        h.err(&["kms", "retire-grant", "--key-id", &id]),
        "ValidationException"
    );
}

#[test]
fn key_rotation_examples_keep_old_data_readable() {
    let h = Home::new();
    let (id, arn) = h.create_key("rotated");
    let bytes = crate::support::image_bytes(1 << 20, 7, b"ROTATION-MARKER");
    let snap = h.import(&bytes, &["--encrypted", "--kms-key-id", &id]);
    let enc = h.ok(&[
        "kms",
        "encrypt",
        "--key-id",
        &id,
        "--plaintext",
        &base64::encode(b"before the rotation"),
    ]);

    // enable-key-rotation: a key ARN and a 180-day period; no output.
    let out = h.ok(&[
        "kms",
        "enable-key-rotation",
        "--key-id",
        &arn,
        "--rotation-period-in-days",
        "180",
    ]);
    assert_eq!(out, Value::Null);
    // get-key-rotation-status: the example's members.
    let st = h.ok(&["kms", "get-key-rotation-status", "--key-id", &id]);
    assert_eq!(
        members(&st),
        BTreeSet::from([
            "KeyId",
            "KeyRotationEnabled",
            "NextRotationDate",
            "RotationPeriodInDays"
        ])
    );
    assert_eq!(st["KeyId"], id);
    assert_eq!(st["KeyRotationEnabled"], true);
    assert_eq!(st["RotationPeriodInDays"], 180);
    let before = h.ok(&["kms", "describe-key", "--key-id", &id])["KeyMetadata"]
        ["CurrentKeyMaterialId"]
        .clone();

    // rotate-key-on-demand: {"KeyId": id}.
    let out = h.ok(&["kms", "rotate-key-on-demand", "--key-id", &id]);
    assert_eq!(out, json!({"KeyId": id}));
    let after = h.ok(&["kms", "describe-key", "--key-id", &id])["KeyMetadata"]
        ["CurrentKeyMaterialId"]
        .clone();
    assert_ne!(before, after);
    assert_eq!(after.as_str().unwrap().len(), 64);

    // list-key-rotations: the example's shape.
    let out = h.ok(&["kms", "list-key-rotations", "--key-id", &id]);
    let rotations = out["Rotations"].as_array().unwrap();
    assert_eq!(rotations.len(), 1);
    assert_eq!(rotations[0]["KeyId"], id);
    assert_eq!(rotations[0]["RotationType"], "ON_DEMAND");
    assert!(rotations[0]["RotationDate"].is_string());

    // What was encrypted before still decrypts, and the snapshot still reads back and copies.
    let back = h.ok(&[
        "kms",
        "decrypt",
        "--ciphertext-blob",
        enc["CiphertextBlob"].as_str().unwrap(),
    ]);
    assert_eq!(b64(&back["Plaintext"]), b"before the rotation");
    h.assert_export(&snap, &bytes);
    let copy = h.ok(&[
        "ec2",
        "copy-snapshot",
        "--source-snapshot-id",
        &snap,
        "--source-region",
        "us-east-1",
    ]);
    let copy = s(&copy["SnapshotId"]);
    assert_eq!(h.snapshot(&copy)["KmsKeyId"], arn);
    h.assert_export(&copy, &bytes);
    // New data keys use the new material.
    let dk = h.ok(&[
        "kms",
        "generate-data-key",
        "--key-id",
        &id,
        "--number-of-bytes",
        "32",
    ]);
    assert_eq!(dk["KeyMaterialId"], after);

    // disable-key-rotation: no output; the status says so.
    assert_eq!(
        h.ok(&["kms", "disable-key-rotation", "--key-id", &arn]),
        Value::Null
    );
    let st = h.ok(&["kms", "get-key-rotation-status", "--key-id", &id]);
    assert_eq!(st, json!({"KeyId": id, "KeyRotationEnabled": false}));

    // Limits and codes.
    for _ in 0..9 {
        h.ok(&["kms", "rotate-key-on-demand", "--key-id", &id]);
    }
    let cmd = ["kms", "rotate-key-on-demand", "--key-id", id.as_str()];
    assert_eq!(h.err(&cmd), "LimitExceededException");
    let cmd = [
        "kms",
        "enable-key-rotation",
        "--key-id",
        id.as_str(),
        "--rotation-period-in-days",
        "30",
    ];
    assert_eq!(h.err(&cmd), "ValidationException");
    let ebs = h.describe_key_arn("alias/aws/ebs");
    let st = h.ok(&["kms", "get-key-rotation-status", "--key-id", &ebs]);
    assert_eq!(
        (&st["KeyRotationEnabled"], &st["RotationPeriodInDays"]),
        (&json!(true), &json!(365))
    );
    let cmd = ["kms", "disable-key-rotation", "--key-id", ebs.as_str()];
    assert_eq!(h.err(&cmd), "UnsupportedOperationException");
    h.ok(&["kms", "disable-key", "--key-id", &id]);
    let cmd = ["kms", "enable-key-rotation", "--key-id", id.as_str()];
    assert_eq!(h.err(&cmd), "DisabledException");
    // Pagination flags work on the rotations.
    let out = h.ok(&[
        "kms",
        "list-key-rotations",
        "--key-id",
        &id,
        "--page-size",
        "3",
    ]);
    assert_eq!(out["Rotations"].as_array().unwrap().len(), 10);
}
