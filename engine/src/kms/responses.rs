//! The KMS operations' responses as typed values, one struct per operation's output
//! (`<Operation>Response`, as botocore's KMS service model names them) and the shapes they share
//! (`KeyMetadata`, `KeyListEntry`, `AliasListEntry`, `GrantListEntry`, `GrantConstraints`).
//! Serialized with serde they give the AWS KMS JSON API's members (server/model/kms.json);
//! operations without an output give [`Empty`] (`{}`).
//!
//! As in the requests (`requests`), blobs stay base64 text as on the wire, enumerations stay the
//! strings AWS spells (`Enabled`, `SYMMETRIC_DEFAULT`, …), and timestamps are the ISO 8601 UTC
//! text the server's codec turns into the protocol's timestamp form. `Decrypt`'s plaintext is
//! held in a [`Plaintext`], which zeroizes on drop and is never printed by `Debug`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A timestamp: ISO 8601 in UTC with milliseconds (`2024-05-01T12:00:00.000Z`).
pub type Timestamp = String;

/// The output of an operation that returns no members: serializes as `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// A key's description (botocore `KeyMetadata`), as CreateKey and DescribeKey return it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMetadata {
    /// The account that owns the key.
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    /// The key id.
    #[serde(rename = "KeyId")]
    pub key_id: String,
    /// The key ARN.
    #[serde(rename = "Arn")]
    pub arn: String,
    /// When the key was created.
    #[serde(rename = "CreationDate")]
    pub creation_date: Timestamp,
    /// Whether the key state is `Enabled`.
    #[serde(rename = "Enabled")]
    pub enabled: bool,
    /// The key's description (empty if none was given).
    #[serde(rename = "Description")]
    pub description: String,
    /// Always `ENCRYPT_DECRYPT`.
    #[serde(rename = "KeyUsage")]
    pub key_usage: String,
    /// `Enabled`, `Disabled`, `PendingDeletion` or `PendingImport`.
    #[serde(rename = "KeyState")]
    pub key_state: String,
    /// `AWS_KMS` or `EXTERNAL`.
    #[serde(rename = "Origin")]
    pub origin: String,
    /// `CUSTOMER` or `AWS`.
    #[serde(rename = "KeyManager")]
    pub key_manager: String,
    /// Always `SYMMETRIC_DEFAULT`.
    #[serde(rename = "KeySpec")]
    pub key_spec: String,
    /// The deprecated twin of `KeySpec`; always `SYMMETRIC_DEFAULT`.
    #[serde(rename = "CustomerMasterKeySpec")]
    pub customer_master_key_spec: String,
    /// Always `["SYMMETRIC_DEFAULT"]`.
    #[serde(rename = "EncryptionAlgorithms")]
    pub encryption_algorithms: Vec<String>,
    /// Always `false`.
    #[serde(rename = "MultiRegion")]
    pub multi_region: bool,
    /// When a key pending deletion is deleted.
    #[serde(rename = "DeletionDate", skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<Timestamp>,
    /// The waiting period a key pending deletion was scheduled with.
    #[serde(
        rename = "PendingDeletionWindowInDays",
        skip_serializing_if = "Option::is_none"
    )]
    pub pending_deletion_window_in_days: Option<i64>,
    /// The id of the key material new ciphertexts use (64 hex digits); it changes with each
    /// rotation. Absent while a key has no material (`PendingImport`).
    #[serde(
        rename = "CurrentKeyMaterialId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub current_key_material_id: Option<String>,
}

/// An entry of ListKeys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyListEntry {
    /// The key id.
    pub key_id: String,
    /// The key ARN.
    pub key_arn: String,
}

/// An entry of ListAliases. The predefined `alias/aws/ebs` is listed without a target until
/// the AWS managed key exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasListEntry {
    /// `alias/NAME`.
    pub alias_name: String,
    /// The alias ARN.
    pub alias_arn: String,
    /// The id of the key the alias points at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_key_id: Option<String>,
    /// When the alias was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<Timestamp>,
    /// When the alias was last re-pointed (its creation if never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_date: Option<Timestamp>,
}

/// Encryption-context constraints of a grant, as ListGrants returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrantConstraints {
    /// Every pair here must be in the request's encryption context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
    /// The request's encryption context must be exactly this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
}

/// An entry of ListGrants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrantListEntry {
    /// The ARN of the grant's key.
    pub key_id: String,
    /// The grant's id (64 hex digits).
    pub grant_id: String,
    /// When the grant was created.
    pub creation_date: Timestamp,
    /// The principal the grant is for (an IAM ARN).
    pub grantee_principal: String,
    /// The account that issued the grant, as its root principal ARN.
    pub issuing_account: String,
    /// The operations the grant allows, as AWS spells them.
    pub operations: Vec<String>,
    /// The grant's name, if it was given one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The principal that may retire the grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retiring_principal: Option<String>,
    /// The grant's encryption-context constraints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<GrantConstraints>,
}

/// `CreateKey`'s output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateKeyResponse {
    /// The new key.
    pub key_metadata: KeyMetadata,
}

/// `DescribeKey`'s output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeKeyResponse {
    /// The key.
    pub key_metadata: KeyMetadata,
}

/// `ListKeys`'s output: one page of the caller's keys in its region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeysResponse {
    /// Whether more keys follow.
    pub truncated: bool,
    /// The `Marker` of the next page, when `truncated`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// The page's keys.
    pub keys: Vec<KeyListEntry>,
}

/// `ListAliases`'s output: one page of aliases, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesResponse {
    /// Whether more aliases follow.
    pub truncated: bool,
    /// The `Marker` of the next page, when `truncated`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// The page's aliases.
    pub aliases: Vec<AliasListEntry>,
}

/// `ListGrants`'s output: one page of a key's grants, sorted by grant id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListGrantsResponse {
    /// Whether more grants follow.
    pub truncated: bool,
    /// The `Marker` of the next page, when `truncated`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// The page's grants.
    pub grants: Vec<GrantListEntry>,
}

/// `ListResourceTags`' output: one page of a key's tags, sorted by tag key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResourceTagsResponse {
    /// The page's tags.
    pub tags: Vec<super::requests::Tag>,
    /// Whether more tags follow.
    pub truncated: bool,
    /// The `Marker` of the next page, when `truncated`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

/// `ScheduleKeyDeletion`'s output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleKeyDeletionResponse {
    /// The key ARN.
    pub key_id: String,
    /// When the key will be deleted.
    pub deletion_date: Timestamp,
    /// `PendingDeletion`.
    pub key_state: String,
    /// The waiting period, in days.
    pub pending_window_in_days: i64,
}

/// `CancelKeyDeletion`'s output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancelKeyDeletionResponse {
    /// The key ARN.
    pub key_id: String,
}

/// `CreateGrant`'s output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateGrantResponse {
    /// The new grant's id (64 hex digits).
    pub grant_id: String,
    /// The grant token (base64).
    pub grant_token: String,
}

/// `GenerateDataKeyWithoutPlaintext`'s output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyWithoutPlaintextResponse {
    /// The encrypted data key, base64-encoded.
    pub ciphertext_blob: String,
    /// The ARN of the key that encrypted it.
    pub key_id: String,
    /// The id of the key material that encrypted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
}

/// `GenerateDataKey`'s output. `Debug` leaves the plaintext out (see [`Plaintext`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyResponse {
    /// The encrypted data key, base64-encoded.
    pub ciphertext_blob: String,
    /// The data key, base64-encoded: for immediate use, never stored.
    pub plaintext: Plaintext,
    /// The ARN of the key that encrypted it.
    pub key_id: String,
    /// The id of the key material that encrypted it.
    pub key_material_id: String,
}

/// `ReEncrypt`'s output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptResponse {
    /// The new ciphertext, base64-encoded.
    pub ciphertext_blob: String,
    /// The ARN of the key that had encrypted the ciphertext.
    pub source_key_id: String,
    /// The ARN of the key that encrypted the new ciphertext.
    pub key_id: String,
    /// Always `SYMMETRIC_DEFAULT`.
    pub source_encryption_algorithm: String,
    /// Always `SYMMETRIC_DEFAULT`.
    pub destination_encryption_algorithm: String,
    /// The id of the key material that had encrypted the ciphertext.
    pub source_key_material_id: String,
    /// The id of the key material that encrypted the new ciphertext.
    pub destination_key_material_id: String,
}

/// `GenerateRandom`'s output. `Debug` leaves the bytes out (see [`Plaintext`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomResponse {
    /// The random bytes, base64-encoded.
    pub plaintext: Plaintext,
}

/// `GetKeyRotationStatus`'s output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyRotationStatusResponse {
    /// The key's id.
    pub key_id: String,
    /// Whether automatic rotation is on.
    pub key_rotation_enabled: bool,
    /// Automatic rotation's period, while it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_period_in_days: Option<i64>,
    /// When automatic rotation next rotates, while it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<Timestamp>,
    /// When an on-demand rotation in progress started; rotations here finish within their
    /// call, so it is never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_demand_rotation_start_date: Option<Timestamp>,
}

/// `RotateKeyOnDemand`'s output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotateKeyOnDemandResponse {
    /// The key's id.
    pub key_id: String,
}

/// An entry of ListKeyRotations (botocore `RotationsListEntry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationsListEntry {
    /// The key's id.
    pub key_id: String,
    /// The material's id.
    pub key_material_id: String,
    /// `CURRENT` for the material new ciphertexts use, else `NON_CURRENT`.
    pub key_material_state: String,
    /// When the rotation was (absent for the key's first material).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_date: Option<Timestamp>,
    /// `AUTOMATIC` or `ON_DEMAND` (absent for the key's first material).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_type: Option<String>,
}

/// `ListKeyRotations`'s output: one page of a key's rotations, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyRotationsResponse {
    /// The page's rotations.
    pub rotations: Vec<RotationsListEntry>,
    /// The `Marker` of the next page, when `truncated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Whether more rotations follow.
    pub truncated: bool,
}

/// `Encrypt`'s output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptResponse {
    /// The ciphertext, base64-encoded.
    pub ciphertext_blob: String,
    /// The ARN of the key that encrypted.
    pub key_id: String,
    /// Always `SYMMETRIC_DEFAULT`.
    pub encryption_algorithm: String,
}

/// `Decrypt`'s output. `Debug` leaves the plaintext out (see [`Plaintext`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptResponse {
    /// The decrypted bytes, base64-encoded.
    pub plaintext: Plaintext,
    /// The ARN of the key that decrypted.
    pub key_id: String,
    /// Always `SYMMETRIC_DEFAULT`.
    pub encryption_algorithm: String,
}

/// Decrypt's plaintext, base64 as on the wire: the same zeroizing, `Debug`-redacted string as a
/// new access key's secret.
pub type Plaintext = crate::secret::SecretString;

macro_rules! kms_responses {
    ($($name:ident($ty:ty),)*) => {
        /// A KMS operation's response: one variant per operation, named after it. Serializes
        /// (untagged) as the operation's AWS KMS JSON output.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        #[serde(untagged)]
        #[non_exhaustive]
        pub enum KmsResponse {
            $(
                #[doc = concat!("`", stringify!($name), "`'s output.")]
                $name($ty),
            )*
        }

        impl KmsResponse {
            /// The operation's AWS name, e.g. `CreateKey`.
            pub fn name(&self) -> &'static str {
                match self {
                    $(KmsResponse::$name(_) => stringify!($name),)*
                }
            }

            /// `self` serialized and read back as the same operation's output.
            #[cfg(test)]
            fn reparsed(&self) -> KmsResponse {
                let v = serde_json::to_value(self).unwrap();
                match self {
                    $(KmsResponse::$name(_) => {
                        KmsResponse::$name(serde_json::from_value(v).unwrap())
                    })*
                }
            }
        }
    };
}

kms_responses! {
    CreateKey(CreateKeyResponse),
    DescribeKey(DescribeKeyResponse),
    ListKeys(ListKeysResponse),
    CreateAlias(Empty),
    UpdateAlias(Empty),
    DeleteAlias(Empty),
    ListAliases(ListAliasesResponse),
    EnableKey(Empty),
    DisableKey(Empty),
    ScheduleKeyDeletion(ScheduleKeyDeletionResponse),
    CancelKeyDeletion(CancelKeyDeletionResponse),
    CreateGrant(CreateGrantResponse),
    ListGrants(ListGrantsResponse),
    RevokeGrant(Empty),
    GenerateDataKeyWithoutPlaintext(GenerateDataKeyWithoutPlaintextResponse),
    Encrypt(EncryptResponse),
    Decrypt(DecryptResponse),
    TagResource(Empty),
    UntagResource(Empty),
    ListResourceTags(ListResourceTagsResponse),
    GenerateDataKey(GenerateDataKeyResponse),
    ReEncrypt(ReEncryptResponse),
    GenerateRandom(GenerateRandomResponse),
    UpdateKeyDescription(Empty),
    RetireGrant(Empty),
    ListRetirableGrants(ListGrantsResponse),
    EnableKeyRotation(Empty),
    DisableKeyRotation(Empty),
    GetKeyRotationStatus(GetKeyRotationStatusResponse),
    RotateKeyOnDemand(RotateKeyOnDemandResponse),
    ListKeyRotations(ListKeyRotationsResponse),
    GetKeyPolicy(super::key_policy::GetKeyPolicyResponse),
    PutKeyPolicy(Empty),
    ListKeyPolicies(super::key_policy::ListKeyPoliciesResponse),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base64;
    use crate::request::KMS_OPERATIONS;
    use serde::de::DeserializeOwned;
    use serde_json::{json, Value};

    /// botocore's KMS service model, as the server's codec reads it.
    fn model() -> Value {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../server/model/kms.json"
        ));
        serde_json::from_str(text).unwrap()
    }

    /// Checks that `v` fits the model's shape `shape`: every member is one of the shape's, with a
    /// value of the member's type, and the required members are there.
    fn conforms(model: &Value, shape: &str, v: &Value, at: &str) {
        let s = &model["shapes"][shape];
        assert!(s.is_object(), "{at}: no shape {shape} in the model");
        match s["type"].as_str().unwrap() {
            "structure" => {
                let fields = v
                    .as_object()
                    .unwrap_or_else(|| panic!("{at}: not an object"));
                for (name, value) in fields {
                    let member = &s["members"][name];
                    let Some(member_shape) = member["shape"].as_str() else {
                        panic!("{at}: {name} is not a member of {shape}");
                    };
                    conforms(model, member_shape, value, &format!("{at}.{name}"));
                }
                for required in s["required"].as_array().into_iter().flatten() {
                    let required = required.as_str().unwrap();
                    assert!(fields.contains_key(required), "{at}: {required} missing");
                }
            }
            "list" => {
                let items = v.as_array().unwrap_or_else(|| panic!("{at}: not an array"));
                let member = s["member"]["shape"].as_str().unwrap();
                for (i, item) in items.iter().enumerate() {
                    conforms(model, member, item, &format!("{at}[{i}]"));
                }
            }
            "map" => {
                let entries = v
                    .as_object()
                    .unwrap_or_else(|| panic!("{at}: not an object"));
                let value = s["value"]["shape"].as_str().unwrap();
                for (k, item) in entries {
                    conforms(model, value, item, &format!("{at}.{k}"));
                }
            }
            "string" => {
                let text = v.as_str().unwrap_or_else(|| panic!("{at}: not a string"));
                if let Some(values) = s["enum"].as_array() {
                    assert!(values.iter().any(|e| e == text), "{at}: {text} not in enum");
                }
            }
            "boolean" => assert!(v.is_boolean(), "{at}: not a boolean"),
            "integer" | "long" => assert!(v.is_i64(), "{at}: not an integer"),
            "timestamp" => {
                let text = v.as_str().unwrap_or_else(|| panic!("{at}: not a string"));
                assert!(text.len() == 24 && text.ends_with('Z'), "{at}: {text}");
            }
            "blob" => {
                let text = v.as_str().unwrap_or_else(|| panic!("{at}: not a string"));
                assert!(base64::decode(text).is_ok(), "{at}: not base64");
            }
            other => panic!("{at}: shape type {other} not expected in a KMS response"),
        }
    }

    /// Serializes `v`, checks it against the model's shape `shape`, and reads it back.
    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
        model: &Value,
        shape: &str,
        v: &T,
    ) -> Value {
        let json = serde_json::to_value(v).unwrap();
        conforms(model, shape, &json, shape);
        assert_eq!(&serde_json::from_value::<T>(json.clone()).unwrap(), v);
        json
    }

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const WHEN: &str = "2024-05-01T12:00:00.000Z";

    fn context() -> BTreeMap<String, String> {
        [("purpose".to_owned(), "test".to_owned())].into()
    }

    /// Shapes with every optional member set.
    fn key_metadata() -> KeyMetadata {
        KeyMetadata {
            aws_account_id: "111122223333".into(),
            key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
            arn: ARN.into(),
            creation_date: WHEN.into(),
            enabled: false,
            description: "k".into(),
            key_usage: "ENCRYPT_DECRYPT".into(),
            key_state: "PendingDeletion".into(),
            origin: "AWS_KMS".into(),
            key_manager: "CUSTOMER".into(),
            key_spec: "SYMMETRIC_DEFAULT".into(),
            customer_master_key_spec: "SYMMETRIC_DEFAULT".into(),
            encryption_algorithms: vec!["SYMMETRIC_DEFAULT".into()],
            multi_region: false,
            deletion_date: Some(WHEN.into()),
            pending_deletion_window_in_days: Some(7),
            current_key_material_id: Some("ab".repeat(32)),
        }
    }

    fn key_list_entry() -> KeyListEntry {
        KeyListEntry {
            key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
            key_arn: ARN.into(),
        }
    }

    fn alias_list_entry() -> AliasListEntry {
        AliasListEntry {
            alias_name: "alias/a".into(),
            alias_arn: "arn:aws:kms:us-east-1:111122223333:alias/a".into(),
            target_key_id: Some("1234abcd-12ab-34cd-56ef-1234567890ab".into()),
            creation_date: Some(WHEN.into()),
            last_updated_date: Some(WHEN.into()),
        }
    }

    fn grant_constraints() -> GrantConstraints {
        GrantConstraints {
            encryption_context_subset: Some(context()),
            encryption_context_equals: Some(context()),
        }
    }

    fn grant_list_entry() -> GrantListEntry {
        GrantListEntry {
            key_id: ARN.into(),
            grant_id: "ab".repeat(32),
            creation_date: WHEN.into(),
            grantee_principal: "arn:aws:iam::111122223333:user/bob".into(),
            issuing_account: "arn:aws:iam::111122223333:root".into(),
            operations: vec!["Encrypt".into(), "Decrypt".into()],
            name: Some("g".into()),
            retiring_principal: Some("arn:aws:iam::111122223333:user/carol".into()),
            constraints: Some(grant_constraints()),
        }
    }

    /// One response of every operation.
    fn responses() -> Vec<KmsResponse> {
        use KmsResponse as R;
        vec![
            R::CreateKey(CreateKeyResponse {
                key_metadata: key_metadata(),
            }),
            R::DescribeKey(DescribeKeyResponse {
                key_metadata: key_metadata(),
            }),
            R::ListKeys(ListKeysResponse {
                truncated: true,
                next_marker: Some("m".into()),
                keys: vec![key_list_entry()],
            }),
            R::CreateAlias(Empty {}),
            R::UpdateAlias(Empty {}),
            R::DeleteAlias(Empty {}),
            R::ListAliases(ListAliasesResponse {
                truncated: true,
                next_marker: Some("alias/a".into()),
                aliases: vec![alias_list_entry()],
            }),
            R::EnableKey(Empty {}),
            R::DisableKey(Empty {}),
            R::ScheduleKeyDeletion(ScheduleKeyDeletionResponse {
                key_id: ARN.into(),
                deletion_date: WHEN.into(),
                key_state: "PendingDeletion".into(),
                pending_window_in_days: 30,
            }),
            R::CancelKeyDeletion(CancelKeyDeletionResponse { key_id: ARN.into() }),
            R::CreateGrant(CreateGrantResponse {
                grant_id: "ab".repeat(32),
                grant_token: base64::encode(&[7u8; 96]),
            }),
            R::ListGrants(ListGrantsResponse {
                truncated: true,
                next_marker: Some("ab".repeat(32)),
                grants: vec![grant_list_entry()],
            }),
            R::RevokeGrant(Empty {}),
            R::GenerateDataKeyWithoutPlaintext(GenerateDataKeyWithoutPlaintextResponse {
                ciphertext_blob: base64::encode(b"ciphertext"),
                key_id: ARN.into(),
                key_material_id: Some("ab".repeat(32)),
            }),
            R::Encrypt(EncryptResponse {
                ciphertext_blob: base64::encode(b"ciphertext"),
                key_id: ARN.into(),
                encryption_algorithm: "SYMMETRIC_DEFAULT".into(),
            }),
            R::Decrypt(DecryptResponse {
                plaintext: Plaintext::new(base64::encode(b"hello")),
                key_id: ARN.into(),
                encryption_algorithm: "SYMMETRIC_DEFAULT".into(),
            }),
            R::TagResource(Empty {}),
            R::UntagResource(Empty {}),
            R::ListResourceTags(ListResourceTagsResponse {
                tags: vec![super::super::requests::Tag {
                    tag_key: "Purpose".into(),
                    tag_value: "Test".into(),
                }],
                truncated: true,
                next_marker: Some("Purpose".into()),
            }),
            R::GenerateDataKey(GenerateDataKeyResponse {
                ciphertext_blob: base64::encode(b"ciphertext"),
                plaintext: Plaintext::new(base64::encode(&[1u8; 32])),
                key_id: ARN.into(),
                key_material_id: "ab".repeat(32),
            }),
            R::ReEncrypt(ReEncryptResponse {
                ciphertext_blob: base64::encode(b"ciphertext"),
                source_key_id: ARN.into(),
                key_id: ARN.into(),
                source_encryption_algorithm: "SYMMETRIC_DEFAULT".into(),
                destination_encryption_algorithm: "SYMMETRIC_DEFAULT".into(),
                source_key_material_id: "ab".repeat(32),
                destination_key_material_id: "cd".repeat(32),
            }),
            R::GenerateRandom(GenerateRandomResponse {
                plaintext: Plaintext::new(base64::encode(&[2u8; 32])),
            }),
            R::UpdateKeyDescription(Empty {}),
            R::RetireGrant(Empty {}),
            R::ListRetirableGrants(ListGrantsResponse {
                truncated: false,
                next_marker: None,
                grants: vec![grant_list_entry()],
            }),
            R::EnableKeyRotation(Empty {}),
            R::DisableKeyRotation(Empty {}),
            R::GetKeyRotationStatus(GetKeyRotationStatusResponse {
                key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
                key_rotation_enabled: true,
                rotation_period_in_days: Some(365),
                next_rotation_date: Some(WHEN.into()),
                on_demand_rotation_start_date: Some(WHEN.into()),
            }),
            R::RotateKeyOnDemand(RotateKeyOnDemandResponse {
                key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
            }),
            R::ListKeyRotations(ListKeyRotationsResponse {
                rotations: vec![RotationsListEntry {
                    key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
                    key_material_id: "ab".repeat(32),
                    key_material_state: "CURRENT".into(),
                    rotation_date: Some(WHEN.into()),
                    rotation_type: Some("ON_DEMAND".into()),
                }],
                next_marker: Some("1".into()),
                truncated: true,
            }),
            R::GetKeyPolicy(super::super::key_policy::GetKeyPolicyResponse {
                policy: "{}".into(),
                policy_name: "default".into(),
            }),
            R::PutKeyPolicy(Empty {}),
            R::ListKeyPolicies(super::super::key_policy::ListKeyPoliciesResponse {
                policy_names: vec!["default".into()],
                truncated: false,
            }),
        ]
    }

    #[test]
    fn shared_shapes_match_the_model() {
        let m = model();
        let meta = round_trip(&m, "KeyMetadata", &key_metadata());
        assert_eq!(
            meta.as_object().unwrap().len(),
            17,
            "every member serialized"
        );
        assert_eq!(meta["AWSAccountId"], "111122223333");
        round_trip(&m, "KeyListEntry", &key_list_entry());
        let alias = round_trip(&m, "AliasListEntry", &alias_list_entry());
        assert_eq!(alias.as_object().unwrap().len(), 5);
        let constraints = round_trip(&m, "GrantConstraints", &grant_constraints());
        assert_eq!(constraints.as_object().unwrap().len(), 2);
        let grant = round_trip(&m, "GrantListEntry", &grant_list_entry());
        assert_eq!(grant.as_object().unwrap().len(), 9);

        // Absent optional members are left out, not null.
        let bare = AliasListEntry {
            target_key_id: None,
            creation_date: None,
            last_updated_date: None,
            ..alias_list_entry()
        };
        let v = round_trip(&m, "AliasListEntry", &bare);
        assert_eq!(
            v,
            json!({"AliasName": "alias/a", "AliasArn": bare.alias_arn})
        );
        let v = round_trip(&m, "GrantConstraints", &GrantConstraints::default());
        assert_eq!(v, json!({}));
    }

    #[test]
    fn every_operation_output_matches_the_model() {
        let m = model();
        let all = responses();
        let names: Vec<&str> = all.iter().map(KmsResponse::name).collect();
        assert_eq!(names, KMS_OPERATIONS);
        for r in &all {
            let name = r.name();
            let v = serde_json::to_value(r).unwrap();
            match m["operations"][name]["output"].as_str() {
                Some(shape) => conforms(&m, shape, &v, name),
                None => assert_eq!(v, json!({}), "{name} has no output"),
            }
            assert_eq!(&r.reparsed(), r, "{name}");
        }
    }

    #[test]
    fn decrypted_plaintext_is_not_printed() {
        let secret = base64::encode(b"the secret");
        let out = DecryptResponse {
            plaintext: Plaintext::new(secret.clone()),
            key_id: ARN.into(),
            encryption_algorithm: "SYMMETRIC_DEFAULT".into(),
        };
        let printed = format!("{out:?} {:?}", KmsResponse::Decrypt(out.clone()));
        assert!(!printed.contains(&secret), "{printed}");
        assert!(printed.contains("<redacted>"));
        assert_eq!(out.plaintext.expose(), secret);
        assert_eq!(serde_json::to_value(&out).unwrap()["Plaintext"], secret);
    }
}
