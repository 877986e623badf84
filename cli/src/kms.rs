//! `blockseal kms …` → one engine operation: the AWS action name and its request (KMS JSON API
//! field names, docs/OPERATIONS.md). Pure: no engine, no files.

use crate::args::KmsCommand;
use crate::params::flatten;
use crate::request::Req;
use serde_json::Value;

/// The operation and request of a `kms` command.
pub fn request(cmd: &KmsCommand) -> (&'static str, Value) {
    use KmsCommand as C;
    let key = |k: &String| Req::new().set("KeyId", k.clone()).build();
    let data_key = |a: &crate::args::DataKeyArgs| {
        Req::new()
            .set("KeyId", a.key.key_id.clone())
            .opt("NumberOfBytes", a.number_of_bytes)
            .opt("KeySpec", a.key_spec.clone())
            .opt("EncryptionContext", a.encryption_context.clone())
            .build()
    };
    match cmd {
        C::CreateKey(a) => (
            "CreateKey",
            Req::new()
                .opt("Description", a.description.clone())
                .opt("KeyUsage", a.key_usage.clone())
                .opt("KeySpec", a.key_spec.clone())
                .opt("Origin", a.origin.clone())
                .opt("Tags", flatten(&a.tags))
                .opt("Policy", a.policy.clone())
                .opt(
                    "BypassPolicyLockoutSafetyCheck",
                    a.bypass_policy_lockout_safety_check.then_some(true),
                )
                .build(),
        ),
        C::GetKeyPolicy(a) => (
            "GetKeyPolicy",
            Req::new()
                .set("KeyId", a.key.key_id.clone())
                .opt("PolicyName", a.policy_name.clone())
                .build(),
        ),
        C::PutKeyPolicy(a) => (
            "PutKeyPolicy",
            Req::new()
                .set("KeyId", a.key.key_id.clone())
                .set("Policy", a.policy.clone())
                .opt("PolicyName", a.policy_name.clone())
                .opt(
                    "BypassPolicyLockoutSafetyCheck",
                    a.bypass_policy_lockout_safety_check.then_some(true),
                )
                .build(),
        ),
        C::ListKeyPolicies(a) => ("ListKeyPolicies", key(&a.key_id)),
        C::DescribeKey(a) => ("DescribeKey", key(&a.key_id)),
        C::ListKeys => ("ListKeys", Req::new().build()),
        C::CreateAlias(a) => (
            "CreateAlias",
            Req::new()
                .set("AliasName", a.alias_name.clone())
                .set("TargetKeyId", a.target_key_id.clone())
                .build(),
        ),
        C::UpdateAlias(a) => (
            "UpdateAlias",
            Req::new()
                .set("AliasName", a.alias_name.clone())
                .set("TargetKeyId", a.target_key_id.clone())
                .build(),
        ),
        C::DeleteAlias(a) => (
            "DeleteAlias",
            Req::new().set("AliasName", a.alias_name.clone()).build(),
        ),
        C::ListAliases(a) => (
            "ListAliases",
            Req::new().opt("KeyId", a.key_id.clone()).build(),
        ),
        C::EnableKey(a) => ("EnableKey", key(&a.key_id)),
        C::DisableKey(a) => ("DisableKey", key(&a.key_id)),
        C::ScheduleKeyDeletion(a) => (
            "ScheduleKeyDeletion",
            Req::new()
                .set("KeyId", a.key.key_id.clone())
                .opt("PendingWindowInDays", a.pending_window_in_days)
                .build(),
        ),
        C::CancelKeyDeletion(a) => ("CancelKeyDeletion", key(&a.key_id)),
        C::CreateGrant(a) => (
            "CreateGrant",
            Req::new()
                .set("KeyId", a.key.key_id.clone())
                .set("GranteePrincipal", a.grantee_principal.clone())
                .opt("Operations", flatten(&a.operations))
                .opt("Name", a.name.clone())
                .opt("RetiringPrincipal", a.retiring_principal.clone())
                .build(),
        ),
        C::ListGrants(a) => (
            "ListGrants",
            Req::new()
                .set("KeyId", a.key.key_id.clone())
                .opt("GrantId", a.grant_id.clone())
                .opt("GranteePrincipal", a.grantee_principal.clone())
                .build(),
        ),
        C::TagResource(a) => (
            "TagResource",
            Req::new()
                .set("KeyId", a.key.key_id.clone())
                .opt("Tags", flatten(&a.tags))
                .build(),
        ),
        C::UntagResource(a) => (
            "UntagResource",
            Req::new()
                .set("KeyId", a.key.key_id.clone())
                .opt("TagKeys", flatten(&a.tag_keys))
                .build(),
        ),
        C::ListResourceTags(a) => ("ListResourceTags", key(&a.key_id)),
        C::RevokeGrant(a) => (
            "RevokeGrant",
            Req::new()
                .set("KeyId", a.key.key_id.clone())
                .set("GrantId", a.grant_id.clone())
                .build(),
        ),
        C::GenerateDataKeyWithoutPlaintext(a) => ("GenerateDataKeyWithoutPlaintext", data_key(a)),
        C::Encrypt(a) => (
            "Encrypt",
            Req::new()
                .set("KeyId", a.key.key_id.clone())
                .set("Plaintext", a.plaintext.clone())
                .opt("EncryptionContext", a.encryption_context.clone())
                .build(),
        ),
        C::Decrypt(a) => (
            "Decrypt",
            Req::new()
                .set("CiphertextBlob", a.ciphertext_blob.clone())
                .opt("EncryptionContext", a.encryption_context.clone())
                .opt("KeyId", a.key_id.clone())
                .build(),
        ),
        C::GenerateDataKey(a) => ("GenerateDataKey", data_key(a)),
        C::ReEncrypt(a) => (
            "ReEncrypt",
            Req::new()
                .set("CiphertextBlob", a.ciphertext_blob.clone())
                .opt(
                    "SourceEncryptionContext",
                    a.source_encryption_context.clone(),
                )
                .opt("SourceKeyId", a.source_key_id.clone())
                .set("DestinationKeyId", a.destination_key_id.clone())
                .opt(
                    "DestinationEncryptionContext",
                    a.destination_encryption_context.clone(),
                )
                .opt(
                    "SourceEncryptionAlgorithm",
                    a.source_encryption_algorithm.clone(),
                )
                .opt(
                    "DestinationEncryptionAlgorithm",
                    a.destination_encryption_algorithm.clone(),
                )
                .build(),
        ),
        C::GenerateRandom(a) => (
            "GenerateRandom",
            Req::new().opt("NumberOfBytes", a.number_of_bytes).build(),
        ),
        C::UpdateKeyDescription(a) => (
            "UpdateKeyDescription",
            Req::new()
                .set("KeyId", a.key.key_id.clone())
                .set("Description", a.description.clone())
                .build(),
        ),
        C::RetireGrant(a) => (
            "RetireGrant",
            Req::new()
                .opt("GrantToken", a.grant_token.clone())
                .opt("KeyId", a.key_id.clone())
                .opt("GrantId", a.grant_id.clone())
                .build(),
        ),
        C::ListRetirableGrants(a) => (
            "ListRetirableGrants",
            Req::new()
                .set("RetiringPrincipal", a.retiring_principal.clone())
                .build(),
        ),
        C::EnableKeyRotation(a) => (
            "EnableKeyRotation",
            Req::new()
                .set("KeyId", a.key.key_id.clone())
                .opt("RotationPeriodInDays", a.rotation_period_in_days)
                .build(),
        ),
        C::DisableKeyRotation(a) => ("DisableKeyRotation", key(&a.key_id)),
        C::GetKeyRotationStatus(a) => ("GetKeyRotationStatus", key(&a.key_id)),
        C::RotateKeyOnDemand(a) => ("RotateKeyOnDemand", key(&a.key_id)),
        C::ListKeyRotations(a) => (
            "ListKeyRotations",
            Req::new()
                .set("KeyId", a.key.key_id.clone())
                .opt("IncludeKeyMaterial", a.include_key_material.clone())
                .build(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Group};
    use clap::Parser;
    use serde_json::json;

    fn map(args: &[&str]) -> (&'static str, Value) {
        let mut argv = vec!["blockseal", "kms"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let Group::Kms(cmd) = &cli.group else {
            panic!("not kms")
        };
        request(cmd)
    }

    #[test]
    fn keys() {
        assert_eq!(map(&["create-key"]), ("CreateKey", json!({})));
        assert_eq!(
            map(&[
                "create-key",
                "--description",
                "K1",
                "--key-usage",
                "ENCRYPT_DECRYPT",
                "--key-spec",
                "SYMMETRIC_DEFAULT",
                "--origin",
                "EXTERNAL",
            ]),
            (
                "CreateKey",
                json!({"Description": "K1", "KeyUsage": "ENCRYPT_DECRYPT",
                       "KeySpec": "SYMMETRIC_DEFAULT", "Origin": "EXTERNAL"})
            )
        );
        assert_eq!(
            map(&["describe-key", "--key-id", "alias/k2"]),
            ("DescribeKey", json!({"KeyId": "alias/k2"}))
        );
        assert_eq!(map(&["list-keys"]), ("ListKeys", json!({})));
        assert_eq!(
            map(&["enable-key", "--key-id", "k"]),
            ("EnableKey", json!({"KeyId": "k"}))
        );
        assert_eq!(
            map(&["disable-key", "--key-id", "k"]),
            ("DisableKey", json!({"KeyId": "k"}))
        );
        assert_eq!(
            map(&[
                "schedule-key-deletion",
                "--key-id",
                "k",
                "--pending-window-in-days",
                "7"
            ]),
            (
                "ScheduleKeyDeletion",
                json!({"KeyId": "k", "PendingWindowInDays": 7})
            )
        );
        assert_eq!(
            map(&["schedule-key-deletion", "--key-id", "k"]),
            ("ScheduleKeyDeletion", json!({"KeyId": "k"}))
        );
        assert_eq!(
            map(&["cancel-key-deletion", "--key-id", "k"]),
            ("CancelKeyDeletion", json!({"KeyId": "k"}))
        );
    }

    #[test]
    fn aliases() {
        for (cmd, op) in [
            ("create-alias", "CreateAlias"),
            ("update-alias", "UpdateAlias"),
        ] {
            assert_eq!(
                map(&[cmd, "--alias-name", "alias/k2", "--target-key-id", "k"]),
                (op, json!({"AliasName": "alias/k2", "TargetKeyId": "k"}))
            );
        }
        assert_eq!(
            map(&["delete-alias", "--alias-name", "alias/k2"]),
            ("DeleteAlias", json!({"AliasName": "alias/k2"}))
        );
        assert_eq!(map(&["list-aliases"]), ("ListAliases", json!({})));
        assert_eq!(
            map(&["list-aliases", "--key-id", "k"]),
            ("ListAliases", json!({"KeyId": "k"}))
        );
    }

    #[test]
    fn grants() {
        assert_eq!(
            map(&[
                "create-grant",
                "--key-id",
                "k",
                "--grantee-principal",
                "bob",
                "--operations",
                "Decrypt",
                "GenerateDataKeyWithoutPlaintext",
                "--name",
                "g1",
                "--retiring-principal",
                "admin",
            ]),
            (
                "CreateGrant",
                json!({"KeyId": "k", "GranteePrincipal": "bob",
                       "Operations": ["Decrypt", "GenerateDataKeyWithoutPlaintext"],
                       "Name": "g1", "RetiringPrincipal": "admin"})
            )
        );
        assert!(
            Cli::try_parse_from([
                "blockseal",
                "kms",
                "create-grant",
                "--key-id",
                "k",
                "--grantee-principal",
                "b"
            ])
            .is_err(),
            "operations are required"
        );
        assert_eq!(
            map(&["list-grants", "--key-id", "k"]),
            ("ListGrants", json!({"KeyId": "k"}))
        );
        assert_eq!(
            map(&[
                "list-grants",
                "--key-id",
                "k",
                "--grant-id",
                "g",
                "--grantee-principal",
                "bob"
            ]),
            (
                "ListGrants",
                json!({"KeyId": "k", "GrantId": "g", "GranteePrincipal": "bob"})
            )
        );
        assert_eq!(
            map(&["revoke-grant", "--key-id", "k", "--grant-id", "g"]),
            ("RevokeGrant", json!({"KeyId": "k", "GrantId": "g"}))
        );
    }

    #[test]
    fn data_keys_and_crypto() {
        assert_eq!(
            map(&[
                "generate-data-key-without-plaintext",
                "--key-id",
                "k",
                "--number-of-bytes",
                "64",
                "--encryption-context",
                "aws:ebs:id=vol-1,purpose=t",
            ]),
            (
                "GenerateDataKeyWithoutPlaintext",
                json!({"KeyId": "k", "NumberOfBytes": 64,
                       "EncryptionContext": {"aws:ebs:id": "vol-1", "purpose": "t"}})
            )
        );
        assert_eq!(
            map(&[
                "generate-data-key-without-plaintext",
                "--key-id",
                "k",
                "--key-spec",
                "AES_256"
            ])
            .1,
            json!({"KeyId": "k", "KeySpec": "AES_256"})
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.bin");
        std::fs::write(&f, [0u8, 1, 2, 255]).unwrap();
        let arg = format!("fileb://{}", f.display());
        assert_eq!(
            map(&[
                "encrypt",
                "--key-id",
                "k",
                "--plaintext",
                &arg,
                "--encryption-context",
                r#"{"a":"b"}"#
            ]),
            (
                "Encrypt",
                json!({"KeyId": "k", "Plaintext": "AAEC/w==", "EncryptionContext": {"a": "b"}})
            )
        );
        assert_eq!(
            map(&["decrypt", "--ciphertext-blob", "AAEC/w==", "--key-id", "k"]),
            (
                "Decrypt",
                json!({"CiphertextBlob": "AAEC/w==", "KeyId": "k"})
            )
        );
        let e = Cli::try_parse_from(["blockseal", "kms", "decrypt", "--ciphertext-blob", "@@"])
            .unwrap_err();
        assert!(e.to_string().contains("--ciphertext-blob"), "{e}");
    }

    #[test]
    fn data_keys_re_encrypt_and_random() {
        assert_eq!(
            map(&[
                "generate-data-key",
                "--key-id",
                "alias/ExampleAlias",
                "--key-spec",
                "AES_256"
            ]),
            (
                "GenerateDataKey",
                json!({"KeyId": "alias/ExampleAlias", "KeySpec": "AES_256"})
            )
        );
        assert_eq!(
            map(&[
                "generate-data-key",
                "--key-id",
                "k",
                "--number-of-bytes",
                "64",
                "--encryption-context",
                "a=1"
            ])
            .1,
            json!({"KeyId": "k", "NumberOfBytes": 64, "EncryptionContext": {"a": "1"}})
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.bin");
        std::fs::write(&f, [1u8, 2, 3]).unwrap();
        let arg = format!("fileb://{}", f.display());
        assert_eq!(
            map(&[
                "re-encrypt",
                "--ciphertext-blob",
                &arg,
                "--source-key-id",
                "k1",
                "--destination-key-id",
                "k2",
                "--source-encryption-context",
                "a=1",
                "--destination-encryption-context",
                "b=2",
            ]),
            (
                "ReEncrypt",
                json!({"CiphertextBlob": "AQID", "SourceKeyId": "k1", "DestinationKeyId": "k2",
                       "SourceEncryptionContext": {"a": "1"},
                       "DestinationEncryptionContext": {"b": "2"}})
            )
        );
        assert!(
            Cli::try_parse_from([
                "blockseal",
                "kms",
                "re-encrypt",
                "--ciphertext-blob",
                "AQID"
            ])
            .is_err(),
            "the destination key is required"
        );
        assert_eq!(
            map(&["generate-random", "--number-of-bytes", "32"]),
            ("GenerateRandom", json!({"NumberOfBytes": 32}))
        );
    }

    #[test]
    fn descriptions_retiring_and_rotation() {
        assert_eq!(
            map(&[
                "update-key-description",
                "--key-id",
                "k",
                "--description",
                ""
            ]),
            (
                "UpdateKeyDescription",
                json!({"KeyId": "k", "Description": ""})
            )
        );
        assert_eq!(
            map(&["retire-grant", "--grant-id", "g", "--key-id", "k"]),
            ("RetireGrant", json!({"GrantId": "g", "KeyId": "k"}))
        );
        assert_eq!(
            map(&["retire-grant", "--grant-token", "t"]),
            ("RetireGrant", json!({"GrantToken": "t"}))
        );
        assert_eq!(
            map(&["list-retirable-grants", "--retiring-principal", "bob"]),
            ("ListRetirableGrants", json!({"RetiringPrincipal": "bob"}))
        );
        assert_eq!(
            map(&[
                "enable-key-rotation",
                "--key-id",
                "k",
                "--rotation-period-in-days",
                "180"
            ]),
            (
                "EnableKeyRotation",
                json!({"KeyId": "k", "RotationPeriodInDays": 180})
            )
        );
        for (cmd, op) in [
            ("disable-key-rotation", "DisableKeyRotation"),
            ("get-key-rotation-status", "GetKeyRotationStatus"),
            ("rotate-key-on-demand", "RotateKeyOnDemand"),
            ("list-key-rotations", "ListKeyRotations"),
        ] {
            assert_eq!(map(&[cmd, "--key-id", "k"]), (op, json!({"KeyId": "k"})));
        }
        assert_eq!(
            map(&[
                "list-key-rotations",
                "--key-id",
                "k",
                "--include-key-material",
                "ALL_KEY_MATERIAL"
            ])
            .1,
            json!({"KeyId": "k", "IncludeKeyMaterial": "ALL_KEY_MATERIAL"})
        );
    }
}
