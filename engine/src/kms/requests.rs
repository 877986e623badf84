//! The typed KMS requests: one public value per operation, with the AWS KMS JSON API's member
//! names (docs/OPERATIONS.md), and their parsing from that JSON with AWS KMS's validation
//! messages (`ValidationException`: `1 validation error detected: …`, `Unknown parameter in
//! input: …`). Each parser checks unknown members first, then the members one by one in a fixed
//! order, so a request with several faults always gets the same message.
//!
//! Pure: no catalog, clock or randomness; resolving keys and checking permissions is `ops`' job.
//! Blobs stay base64 text, as on the wire; `Encrypt`'s plaintext is never printed by `Debug`.

use super::crypto::Context;
use super::policy::Action;
use super::store;
use crate::base64;
use crate::error::{bail, Code, Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use zeroize::Zeroizing;

// ----- the requests -----

/// `CreateKey`: a symmetric customer managed key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct CreateKey {
    /// Up to 8192 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Only `ENCRYPT_DECRYPT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_usage: Option<String>,
    /// Only `SYMMETRIC_DEFAULT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_spec: Option<String>,
    /// `AWS_KMS` (the default) or `EXTERNAL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The new key's tags.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tags: Vec<Tag>,
    /// The key policy (1–32768 characters); AWS's default key policy when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Skips the check that the policy lets the caller put the key policy later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bypass_policy_lockout_safety_check: Option<bool>,
}

/// A KMS key's tag (`Tag`): both members required; the value may be empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// 1–128 characters, not starting with `aws:`.
    pub tag_key: String,
    /// 0–256 characters.
    pub tag_value: String,
}

/// `TagResource`: adds tags to a key, or changes the values of its tags.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct TagResource {
    /// Key id or key ARN (not an alias).
    pub key_id: String,
    /// The tags.
    pub tags: Vec<Tag>,
}

/// `UntagResource`: removes tags from a key by key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct UntagResource {
    /// Key id or key ARN (not an alias).
    pub key_id: String,
    /// The tag keys to remove.
    pub tag_keys: Vec<String>,
}

/// `ListResourceTags`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct ListResourceTags {
    /// Key id or key ARN (not an alias).
    pub key_id: String,
    /// Page size, 1–50 (default 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The previous page's `NextMarker`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// `DescribeKey`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct DescribeKey {
    /// Key id, key ARN, alias name or alias ARN.
    pub key_id: String,
    /// Accepted and checked for shape; grants take effect at once here, so tokens add nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grant_tokens: Vec<String>,
}

/// `ListKeys`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct ListKeys {
    /// Page size, 1–1000 (default 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The previous page's `NextMarker`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// `CreateAlias`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct CreateAlias {
    /// `alias/NAME`; the `alias/aws/` prefix is reserved.
    pub alias_name: String,
    /// Key id or key ARN (not an alias).
    pub target_key_id: String,
}

/// `UpdateAlias`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct UpdateAlias {
    /// An existing `alias/NAME`.
    pub alias_name: String,
    /// Key id or key ARN (not an alias).
    pub target_key_id: String,
}

/// `DeleteAlias`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct DeleteAlias {
    /// An existing `alias/NAME`.
    pub alias_name: String,
}

/// `ListAliases`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct ListAliases {
    /// Only the aliases of this key (key id or key ARN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Page size, 1–100 (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The previous page's `NextMarker`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// `EnableKey`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct EnableKey {
    /// Key id, key ARN, alias name or alias ARN.
    pub key_id: String,
}

/// `DisableKey`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct DisableKey {
    /// Key id, key ARN, alias name or alias ARN.
    pub key_id: String,
}

/// `ScheduleKeyDeletion`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct ScheduleKeyDeletion {
    /// Key id, key ARN, alias name or alias ARN.
    pub key_id: String,
    /// 7–30 (default 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_window_in_days: Option<i64>,
}

/// `CancelKeyDeletion`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct CancelKeyDeletion {
    /// Key id, key ARN, alias name or alias ARN.
    pub key_id: String,
}

/// A grant's encryption-context constraints (`CreateGrant`'s `Constraints`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GrantConstraints {
    /// Every pair here must be in the request's context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
    /// The request's context must be exactly this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
}

/// `CreateGrant`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct CreateGrant {
    /// Key id or key ARN (not an alias).
    pub key_id: String,
    /// An IAM user, role or root ARN, or a profile name (a user of the caller's account).
    pub grantee_principal: String,
    /// The grantable operations, e.g. `Encrypt`; at least one.
    pub operations: Vec<String>,
    /// A name of `[a-zA-Z0-9:/_-]`, 1–256 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Who may retire the grant, as `grantee_principal`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retiring_principal: Option<String>,
    /// Encryption-context constraints (cryptographic operations only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<GrantConstraints>,
    /// Accepted and checked for shape; grants take effect at once here, so tokens add nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grant_tokens: Vec<String>,
}

/// `ListGrants`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct ListGrants {
    /// Key id or key ARN (not an alias).
    pub key_id: String,
    /// Only this grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// Only the grants of this principal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grantee_principal: Option<String>,
    /// Page size, 1–100 (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The previous page's `NextMarker`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// `RevokeGrant`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct RevokeGrant {
    /// Key id or key ARN (not an alias).
    pub key_id: String,
    /// The grant's id.
    pub grant_id: String,
}

/// `Encrypt`. `Debug` leaves the plaintext out.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct Encrypt {
    /// Key id, key ARN, alias name or alias ARN.
    pub key_id: String,
    /// 1–4096 bytes, base64-encoded as on the wire.
    pub plaintext: String,
    /// Bound to the ciphertext; decryption must present the same.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub encryption_context: BTreeMap<String, String>,
    /// Accepted and checked for shape; grants take effect at once here, so tokens add nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grant_tokens: Vec<String>,
    /// Only `SYMMETRIC_DEFAULT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithm: Option<String>,
}

impl fmt::Debug for Encrypt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The plaintext is the caller's secret: requests end up in logs and panic messages.
        f.debug_struct("Encrypt")
            .field("key_id", &self.key_id)
            .field("plaintext", &format_args!("<redacted>"))
            .field("encryption_context", &self.encryption_context)
            .field("grant_tokens", &self.grant_tokens)
            .field("encryption_algorithm", &self.encryption_algorithm)
            .finish()
    }
}

/// `Decrypt`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct Decrypt {
    /// A ciphertext of `Encrypt` or `GenerateDataKeyWithoutPlaintext`, base64-encoded.
    pub ciphertext_blob: String,
    /// The context the ciphertext was made with.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub encryption_context: BTreeMap<String, String>,
    /// Accepted and checked for shape; grants take effect at once here, so tokens add nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grant_tokens: Vec<String>,
    /// If given, must name the key that encrypted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Only `SYMMETRIC_DEFAULT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithm: Option<String>,
}

/// `GenerateDataKey` and `GenerateDataKeyWithoutPlaintext`, whose requests are the same:
/// exactly one of `key_spec` and `number_of_bytes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct GenerateDataKey {
    /// Key id, key ARN, alias name or alias ARN.
    pub key_id: String,
    /// `AES_256` or `AES_128`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_spec: Option<String>,
    /// 1–1024.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_bytes: Option<i64>,
    /// Bound to the ciphertext; decryption must present the same.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub encryption_context: BTreeMap<String, String>,
    /// Accepted and checked for shape; grants take effect at once here, so tokens add nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grant_tokens: Vec<String>,
}

/// `GenerateDataKeyWithoutPlaintext`: the request of [`GenerateDataKey`]; only the answer
/// differs (no plaintext).
pub type GenerateDataKeyWithoutPlaintext = GenerateDataKey;

/// `ReEncrypt`: decrypts under the key the ciphertext names and encrypts under
/// `destination_key_id`, without returning the plaintext.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct ReEncrypt {
    /// A ciphertext of `Encrypt`, `GenerateDataKey*` or `ReEncrypt`, base64-encoded.
    pub ciphertext_blob: String,
    /// The context the ciphertext was made with.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub source_encryption_context: BTreeMap<String, String>,
    /// If given, must name the key that encrypted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_key_id: Option<String>,
    /// The key to encrypt under: key id, key ARN, alias name or alias ARN.
    pub destination_key_id: String,
    /// The context to bind the new ciphertext to.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub destination_encryption_context: BTreeMap<String, String>,
    /// Only `SYMMETRIC_DEFAULT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_encryption_algorithm: Option<String>,
    /// Only `SYMMETRIC_DEFAULT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_encryption_algorithm: Option<String>,
    /// Accepted and checked for shape; grants take effect at once here, so tokens add nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grant_tokens: Vec<String>,
}

/// `GenerateRandom`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct GenerateRandom {
    /// 1–1024.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_bytes: Option<i64>,
}

/// `UpdateKeyDescription`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct UpdateKeyDescription {
    /// Key id or key ARN.
    pub key_id: String,
    /// Up to 8192 characters; empty clears it.
    pub description: String,
}

/// `RetireGrant`: by `grant_token`, or by `key_id` and `grant_id`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct RetireGrant {
    /// The grant's token, as CreateGrant returned it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_token: Option<String>,
    /// The grant's key: key id or key ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The grant's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
}

/// `ListRetirableGrants`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct ListRetirableGrants {
    /// The retiring principal whose grants are listed (an IAM ARN or a profile name).
    pub retiring_principal: String,
    /// Page size, 1–1000 (default 50, as AWS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The previous page's `NextMarker`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// `EnableKeyRotation`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct EnableKeyRotation {
    /// Key id or key ARN.
    pub key_id: String,
    /// 90–2560 (default 365).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_period_in_days: Option<i64>,
}

/// `DisableKeyRotation`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct DisableKeyRotation {
    /// Key id or key ARN.
    pub key_id: String,
}

/// `GetKeyRotationStatus`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct GetKeyRotationStatus {
    /// Key id or key ARN.
    pub key_id: String,
}

/// `RotateKeyOnDemand`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct RotateKeyOnDemand {
    /// Key id or key ARN.
    pub key_id: String,
}

/// `ListKeyRotations`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct ListKeyRotations {
    /// Key id or key ARN.
    pub key_id: String,
    /// `ROTATIONS_ONLY` (the default) or `ALL_KEY_MATERIAL` (the key's first material too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_key_material: Option<String>,
    /// Page size, 1–1000 (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The previous page's `NextMarker`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

// ----- the JSON reader -----

/// A request's members, checked against the operation's member names.
struct Req<'a> {
    fields: Option<&'a Map<String, Value>>,
}

/// The AWS member name of parameter `name` (`KeyId` → `keyId`).
fn member(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
        .unwrap_or_default()
}

pub(super) fn violation(name: &str, value: &str, constraint: &str) -> Error {
    Error::new(
        Code::VALIDATION_EXCEPTION,
        format!(
            "1 validation error detected: Value '{value}' at '{}' failed to satisfy constraint: \
             Member must {constraint}",
            member(name)
        ),
    )
}

/// A required member that is absent.
fn missing(name: &str) -> Error {
    Error::new(
        Code::VALIDATION_EXCEPTION,
        format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: \
             Member must not be null",
            member(name)
        ),
    )
}

fn enum_violation(name: &str, value: &str, set: &[&str]) -> Error {
    violation(
        name,
        value,
        &format!("satisfy enum value set: [{}]", set.join(", ")),
    )
}

fn wrong_type(name: &str, what: &str) -> Error {
    Error::new(
        Code::VALIDATION_EXCEPTION,
        format!(
            "1 validation error detected: '{}' must be {what}",
            member(name)
        ),
    )
}

impl<'a> Req<'a> {
    fn opt_bool(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(wrong_type(name, "a boolean")),
        }
    }

    fn parse(req: &'a Value, allowed: &[&str]) -> Result<Req<'a>> {
        let fields = match req {
            Value::Null => None,
            Value::Object(m) => Some(m),
            _ => bail!(
                Code::VALIDATION_EXCEPTION,
                "The request must be a JSON object"
            ),
        };
        for k in fields.into_iter().flat_map(|m| m.keys()) {
            if !allowed.contains(&k.as_str()) {
                bail!(
                    Code::VALIDATION_EXCEPTION,
                    "Unknown parameter in input: \"{k}\", must be one of: {}",
                    allowed.join(", ")
                );
            }
        }
        Ok(Req { fields })
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.fields?.get(name).filter(|v| !v.is_null())
    }

    fn opt_str(&self, name: &str) -> Result<Option<&'a str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong_type(name, "a string")),
        }
    }

    fn str(&self, name: &str) -> Result<&'a str> {
        self.opt_str(name)?.ok_or_else(|| missing(name))
    }

    /// A string of `min..=max` characters.
    fn opt_str_len(&self, name: &str, min: usize, max: usize) -> Result<Option<&'a str>> {
        let Some(s) = self.opt_str(name)? else {
            return Ok(None);
        };
        let n = s.chars().count();
        if n < min {
            return Err(violation(
                name,
                s,
                &format!("have length greater than or equal to {min}"),
            ));
        }
        if n > max {
            return Err(violation(
                name,
                s,
                &format!("have length less than or equal to {max}"),
            ));
        }
        Ok(Some(s))
    }

    /// A required string of `min..=max` characters.
    fn str_len(&self, name: &str, min: usize, max: usize) -> Result<String> {
        self.str(name)?;
        let s = self
            .opt_str_len(name, min, max)?
            .expect("present: checked just above");
        Ok(s.to_owned())
    }

    /// A required `KeyId`-like parameter (1–2048 characters).
    fn key_id(&self, name: &str) -> Result<String> {
        self.str_len(name, 1, 2048)
    }

    fn opt_int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let n = v.as_i64().ok_or_else(|| wrong_type(name, "an integer"))?;
        if n < min {
            return Err(violation(
                name,
                &n.to_string(),
                &format!("have value greater than or equal to {min}"),
            ));
        }
        if n > max {
            return Err(violation(
                name,
                &n.to_string(),
                &format!("have value less than or equal to {max}"),
            ));
        }
        Ok(Some(n))
    }

    fn opt_strings(&self, name: &str) -> Result<Option<Vec<&'a str>>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let list = v
            .as_array()
            .ok_or_else(|| wrong_type(name, "a list of strings"))?;
        list.iter()
            .map(|s| {
                s.as_str()
                    .ok_or_else(|| wrong_type(name, "a list of strings"))
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// An encryption context (string to string); empty if absent.
    fn context(&self, name: &str) -> Result<Context> {
        match self.get(name) {
            None => Ok(Context::new()),
            Some(v) => context_of(v, name),
        }
    }

    /// `GrantTokens`: at most 10 strings.
    fn grant_tokens(&self) -> Result<Vec<String>> {
        let t = self.opt_strings("GrantTokens")?.unwrap_or_default();
        if t.len() > 10 {
            return Err(violation(
                "GrantTokens",
                &t.len().to_string(),
                "have length less than or equal to 10",
            ));
        }
        Ok(t.into_iter().map(str::to_owned).collect())
    }

    /// A required base64 blob of `1..=max` bytes, as its text.
    fn blob(&self, name: &str, max: usize) -> Result<String> {
        let text = self.str(name)?;
        decode_blob(name, text, max)?;
        Ok(text.to_owned())
    }

    /// `Limit` (1..=`max`) and `Marker`.
    fn paging(&self, max: i64) -> Result<(Option<i64>, Option<String>)> {
        let limit = self.opt_int("Limit", 1, max)?;
        let marker = self.opt_str_len("Marker", 1, 1024)?;
        Ok((limit, marker.map(str::to_owned)))
    }

    /// `EncryptionAlgorithm`: only the symmetric one.
    fn algorithm(&self) -> Result<Option<String>> {
        self.algorithm_named("EncryptionAlgorithm")
    }

    /// An encryption algorithm member `name`: only the symmetric one.
    fn algorithm_named(&self, name: &str) -> Result<Option<String>> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(a @ "SYMMETRIC_DEFAULT") => Ok(Some(a.to_owned())),
            Some(a) => Err(Error::new(
                Code::VALIDATION_EXCEPTION,
                format!("{name} {a} is not valid for a symmetric key: use SYMMETRIC_DEFAULT"),
            )),
        }
    }

    /// An optional principal member, checked for shape (see [`principal_arn`]).
    fn principal(&self, name: &str) -> Result<Option<&'a str>> {
        let Some(text) = self.opt_str_len(name, 1, 256)? else {
            return Ok(None);
        };
        match is_principal(text) {
            true => Ok(Some(text)),
            false => Err(not_a_principal(name, text)),
        }
    }

    /// A list of `{TagKey, TagValue}` (absent: empty), each checked against the model's
    /// lengths; the reserved `aws:` prefix is `TagException`.
    fn tags(&self, name: &str) -> Result<Vec<Tag>> {
        let Some(v) = self.get(name) else {
            return Ok(Vec::new());
        };
        let list = v
            .as_array()
            .ok_or_else(|| wrong_type(name, "a list of tags"))?;
        let mut out = Vec::new();
        for (i, t) in list.iter().enumerate() {
            let at = format!("{name}.{}", i + 1);
            let r = Req::parse(t, &["TagKey", "TagValue"])?;
            let key = r.str_len("TagKey", 1, 128).map_err(|e| at_member(e, &at))?;
            let value = r
                .str_len("TagValue", 0, 256)
                .map_err(|e| at_member(e, &at))?;
            check_tag_key(&key)?;
            out.push(Tag {
                tag_key: key,
                tag_value: value,
            });
        }
        Ok(out)
    }

    fn constraints(&self) -> Result<Option<GrantConstraints>> {
        let Some(v) = self.get("Constraints") else {
            return Ok(None);
        };
        let m = v
            .as_object()
            .ok_or_else(|| wrong_type("Constraints", "an object"))?;
        let mut c = GrantConstraints::default();
        for (k, v) in m {
            match k.as_str() {
                "EncryptionContextSubset" => c.encryption_context_subset = Some(context_of(v, k)?),
                "EncryptionContextEquals" => c.encryption_context_equals = Some(context_of(v, k)?),
                _ => bail!(
                    Code::VALIDATION_EXCEPTION,
                    "Unknown parameter in Constraints: \"{k}\", must be one of: \
                     EncryptionContextSubset, EncryptionContextEquals"
                ),
            }
        }
        Ok(Some(c))
    }
}

/// `e` with the member it names placed under `at` (`tagKey` → `tags.1.member.tagKey`).
fn at_member(e: Error, at: &str) -> Error {
    let (list, index) = at.split_once('.').unwrap_or((at, ""));
    let prefix = format!("{}.{index}.member.", member(list));
    let msg = e
        .message()
        .replacen("at 'tag", &format!("at '{prefix}tag"), 1);
    Error::new(e.code(), msg)
}

/// KMS reserves tag keys that begin with `aws:` for AWS's own tags.
pub(super) fn check_tag_key(key: &str) -> Result<()> {
    if key.to_ascii_lowercase().starts_with("aws:") {
        bail!(
            Code::TAG_EXCEPTION,
            "Tag keys cannot begin with the reserved prefix 'aws:': {key}"
        );
    }
    Ok(())
}

fn context_of(v: &Value, name: &str) -> Result<Context> {
    let wrong = || wrong_type(name, "a map of strings to strings");
    let m = v.as_object().ok_or_else(wrong)?;
    m.iter()
        .map(|(k, v)| Ok((k.clone(), v.as_str().ok_or_else(wrong)?.to_owned())))
        .collect()
}

// ----- checks shared with the operations -----

/// The bytes of base64 blob member `name`, of `1..=max` bytes.
pub(super) fn decode_blob(name: &str, text: &str, max: usize) -> Result<Zeroizing<Vec<u8>>> {
    let bytes = Zeroizing::new(base64::decode(text).map_err(|_| {
        Error::new(
            Code::VALIDATION_EXCEPTION,
            format!(
                "1 validation error detected: '{}' must be base64-encoded",
                member(name)
            ),
        )
    })?);
    if bytes.is_empty() || bytes.len() > max {
        let n = bytes.len().to_string();
        return Err(violation(
            name,
            &n,
            &format!("have length between 1 and {max} bytes"),
        ));
    }
    Ok(bytes)
}

fn unsupported(name: &str, v: &str, why: &str) -> Error {
    Error::new(
        Code::VALIDATION_EXCEPTION,
        format!("{name} {v} is not supported: {why}"),
    )
}

const SYMMETRIC: &str = "blockseal keys are symmetric (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)";

fn check_key_usage(usage: Option<&str>) -> Result<()> {
    match usage {
        None | Some("ENCRYPT_DECRYPT") => Ok(()),
        Some(u @ ("SIGN_VERIFY" | "GENERATE_VERIFY_MAC" | "KEY_AGREEMENT")) => {
            Err(unsupported("KeyUsage", u, SYMMETRIC))
        }
        Some(u) => {
            let set = [
                "SIGN_VERIFY",
                "ENCRYPT_DECRYPT",
                "GENERATE_VERIFY_MAC",
                "KEY_AGREEMENT",
            ];
            Err(enum_violation("KeyUsage", u, &set))
        }
    }
}

fn check_key_spec(spec: Option<&str>) -> Result<()> {
    match spec {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(s) => Err(unsupported("KeySpec", s, SYMMETRIC)),
    }
}

/// `CreateKey`'s `Origin`.
pub(super) fn origin(origin: Option<&str>) -> Result<store::Origin> {
    match origin {
        None | Some("AWS_KMS") => Ok(store::Origin::AwsKms),
        Some("EXTERNAL") => Ok(store::Origin::External),
        Some(o @ ("AWS_CLOUDHSM" | "EXTERNAL_KEY_STORE")) => {
            Err(unsupported("Origin", o, "there are no custom key stores"))
        }
        Some(o) => {
            let set = ["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"];
            Err(enum_violation("Origin", o, &set))
        }
    }
}

/// SEMANTICS §3.3 rule 1, then the reserved prefix.
fn check_alias_name(name: &str) -> Result<()> {
    let n = name.chars().count();
    if n == 0 {
        return Err(violation(
            "AliasName",
            name,
            "have length greater than or equal to 1",
        ));
    }
    if n > 256 {
        return Err(violation(
            "AliasName",
            name,
            "have length less than or equal to 256",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
    {
        return Err(violation(
            "AliasName",
            name,
            "satisfy regular expression pattern: ^[a-zA-Z0-9/_-]+$",
        ));
    }
    if name.strip_prefix("alias/").is_none_or(str::is_empty) {
        bail!(
            Code::VALIDATION_EXCEPTION,
            "Alias must start with the prefix \"alias/\" followed by a name: {name}"
        );
    }
    if name.starts_with("alias/aws/") {
        bail!(
            Code::NOT_AUTHORIZED_EXCEPTION,
            "{name}: the alias/aws/ prefix is reserved for AWS managed keys"
        );
    }
    Ok(())
}

/// Whether `text` names a principal: an IAM user, role or root ARN, or a bare profile name.
fn is_principal(text: &str) -> bool {
    let name_ok = |s: &str| {
        !s.is_empty()
            && !s.starts_with('/')
            && !s.ends_with('/')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
    };
    match text.strip_prefix("arn:aws:iam::") {
        Some(rest) => {
            let Some((acct, resource)) = rest.split_once(':') else {
                return false;
            };
            let acct_ok = acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit());
            let user_or_role = resource
                .strip_prefix("user/")
                .or(resource.strip_prefix("role/"));
            acct_ok && (resource == "root" || user_or_role.is_some_and(name_ok))
        }
        None => name_ok(text) && !text.contains('/') && text.len() <= 64,
    }
}

/// An IAM principal ARN, or a bare profile name (a user of `account`), as an ARN.
pub(super) fn principal_arn(account: &str, text: &str) -> Option<String> {
    if !is_principal(text) {
        return None;
    }
    Some(if text.starts_with("arn:aws:iam::") {
        text.to_owned()
    } else {
        format!("arn:aws:iam::{account}:user/{text}")
    })
}

/// The error for principal member `name` whose value `text` names no principal.
pub(super) fn not_a_principal(name: &str, text: &str) -> Error {
    Error::new(
        Code::VALIDATION_EXCEPTION,
        format!(
            "{name} {text} is not a principal: expected arn:aws:iam::ACCOUNT:user/NAME, \
             arn:aws:iam::ACCOUNT:role/NAME, arn:aws:iam::ACCOUNT:root or a profile name"
        ),
    )
}

/// A grant's operations: each grantable, duplicates dropped, at least one.
pub(super) fn grant_operations(ops: &[String]) -> Result<Vec<String>> {
    if ops.is_empty() {
        return Err(violation(
            "Operations",
            "[]",
            "have length greater than or equal to 1",
        ));
    }
    let mut operations: Vec<String> = Vec::new();
    for op in ops {
        match Action::parse(op).filter(|a| a.grantable()) {
            Some(a) if !operations.iter().any(|o| o == a.name()) => {
                operations.push(a.name().into())
            }
            Some(_) => {}
            None => {
                let set: Vec<&str> = Action::ALL
                    .iter()
                    .filter(|a| a.grantable())
                    .map(|a| a.name())
                    .collect();
                return Err(enum_violation("Operations", op, &set));
            }
        }
    }
    Ok(operations)
}

/// `GenerateDataKey*`'s length: from `KeySpec` or `NumberOfBytes`, not both.
pub(super) fn data_key_len(spec: Option<&str>, bytes: Option<i64>) -> Result<usize> {
    match (spec, bytes) {
        (Some(_), Some(_)) | (None, None) => bail!(
            Code::VALIDATION_EXCEPTION,
            "Please specify either number of bytes or key spec."
        ),
        // Checked to be 1..=1024 by the parser.
        (None, Some(n)) => Ok(n as usize),
        (Some("AES_256"), None) => Ok(32),
        (Some("AES_128"), None) => Ok(16),
        (Some(s), None) => Err(enum_violation("KeySpec", s, &["AES_256", "AES_128"])),
    }
}

// ----- parsing, one operation each -----

impl TryFrom<Value> for CreateKey {
    type Error = Error;

    fn try_from(v: Value) -> Result<CreateKey> {
        let r = Req::parse(
            &v,
            &[
                "Description",
                "KeyUsage",
                "KeySpec",
                "Origin",
                "Tags",
                "Policy",
                "BypassPolicyLockoutSafetyCheck",
            ],
        )?;
        let description = r.opt_str_len("Description", 0, 8192)?;
        let key_usage = r.opt_str("KeyUsage")?;
        check_key_usage(key_usage)?;
        let key_spec = r.opt_str("KeySpec")?;
        check_key_spec(key_spec)?;
        let o = r.opt_str("Origin")?;
        origin(o)?;
        let policy = r.opt_str_len("Policy", 1, 32768)?;
        let bypass = r.opt_bool("BypassPolicyLockoutSafetyCheck")?;
        Ok(CreateKey {
            description: description.map(str::to_owned),
            key_usage: key_usage.map(str::to_owned),
            key_spec: key_spec.map(str::to_owned),
            origin: o.map(str::to_owned),
            tags: r.tags("Tags")?,
            policy: policy.map(str::to_owned),
            bypass_policy_lockout_safety_check: bypass,
        })
    }
}

impl TryFrom<Value> for DescribeKey {
    type Error = Error;

    fn try_from(v: Value) -> Result<DescribeKey> {
        let r = Req::parse(&v, &["KeyId", "GrantTokens"])?;
        Ok(DescribeKey {
            key_id: r.key_id("KeyId")?,
            grant_tokens: r.grant_tokens()?,
        })
    }
}

impl TryFrom<Value> for ListKeys {
    type Error = Error;

    fn try_from(v: Value) -> Result<ListKeys> {
        let r = Req::parse(&v, &["Limit", "Marker"])?;
        let (limit, marker) = r.paging(1000)?;
        Ok(ListKeys { limit, marker })
    }
}

/// `CreateAlias` and `UpdateAlias`: the alias's name and its target.
fn alias_and_target(v: &Value) -> Result<(String, String)> {
    let r = Req::parse(v, &["AliasName", "TargetKeyId"])?;
    let name = r.str("AliasName")?;
    let target = r.key_id("TargetKeyId")?;
    check_alias_name(name)?;
    Ok((name.to_owned(), target))
}

impl TryFrom<Value> for CreateAlias {
    type Error = Error;

    fn try_from(v: Value) -> Result<CreateAlias> {
        let (alias_name, target_key_id) = alias_and_target(&v)?;
        Ok(CreateAlias {
            alias_name,
            target_key_id,
        })
    }
}

impl TryFrom<Value> for UpdateAlias {
    type Error = Error;

    fn try_from(v: Value) -> Result<UpdateAlias> {
        let (alias_name, target_key_id) = alias_and_target(&v)?;
        Ok(UpdateAlias {
            alias_name,
            target_key_id,
        })
    }
}

impl TryFrom<Value> for DeleteAlias {
    type Error = Error;

    fn try_from(v: Value) -> Result<DeleteAlias> {
        let r = Req::parse(&v, &["AliasName"])?;
        let name = r.str("AliasName")?;
        check_alias_name(name)?;
        Ok(DeleteAlias {
            alias_name: name.to_owned(),
        })
    }
}

impl TryFrom<Value> for ListAliases {
    type Error = Error;

    fn try_from(v: Value) -> Result<ListAliases> {
        let r = Req::parse(&v, &["KeyId", "Limit", "Marker"])?;
        let key_id = r.opt_str_len("KeyId", 1, 2048)?.map(str::to_owned);
        let (limit, marker) = r.paging(100)?;
        Ok(ListAliases {
            key_id,
            limit,
            marker,
        })
    }
}

/// A request of only a `KeyId`.
fn key_id_only(v: &Value) -> Result<String> {
    Req::parse(v, &["KeyId"])?.key_id("KeyId")
}

/// The requests of only a `KeyId`.
macro_rules! key_id_only_requests {
    ($($name:ident),* $(,)?) => {$(
        impl TryFrom<Value> for $name {
            type Error = Error;

            fn try_from(v: Value) -> Result<$name> {
                Ok($name {
                    key_id: key_id_only(&v)?,
                })
            }
        }
    )*};
}

key_id_only_requests!(
    EnableKey,
    DisableKey,
    CancelKeyDeletion,
    DisableKeyRotation,
    GetKeyRotationStatus,
    RotateKeyOnDemand,
);

impl TryFrom<Value> for ScheduleKeyDeletion {
    type Error = Error;

    fn try_from(v: Value) -> Result<ScheduleKeyDeletion> {
        let r = Req::parse(&v, &["KeyId", "PendingWindowInDays"])?;
        Ok(ScheduleKeyDeletion {
            key_id: r.key_id("KeyId")?,
            pending_window_in_days: r.opt_int("PendingWindowInDays", 7, 30)?,
        })
    }
}

impl TryFrom<Value> for CreateGrant {
    type Error = Error;

    fn try_from(v: Value) -> Result<CreateGrant> {
        let r = Req::parse(
            &v,
            &[
                "KeyId",
                "GranteePrincipal",
                "Operations",
                "Name",
                "RetiringPrincipal",
                "Constraints",
                "GrantTokens",
            ],
        )?;
        let key_id = r.key_id("KeyId")?;
        r.str("GranteePrincipal")?;
        let grantee = r
            .principal("GranteePrincipal")?
            .expect("present: checked above");
        let retiring = r.principal("RetiringPrincipal")?;
        let ops: Vec<String> = (r.opt_strings("Operations")?.unwrap_or_default())
            .into_iter()
            .map(str::to_owned)
            .collect();
        let operations = grant_operations(&ops)?;
        let name = r.opt_str_len("Name", 1, 256)?;
        if let Some(n) = name {
            if !n
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b":/_-".contains(&b))
            {
                return Err(violation(
                    "Name",
                    n,
                    "satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
                ));
            }
        }
        let constraints = r.constraints()?;
        if constraints.is_some()
            && operations
                .iter()
                .any(|o| o == "DescribeKey" || o == "RetireGrant")
        {
            bail!(
                Code::VALIDATION_EXCEPTION,
                "Grant constraints apply to cryptographic operations; DescribeKey and \
                 RetireGrant take no encryption context and cannot be granted with constraints"
            );
        }
        Ok(CreateGrant {
            key_id,
            grantee_principal: grantee.to_owned(),
            operations: ops,
            name: name.map(str::to_owned),
            retiring_principal: retiring.map(str::to_owned),
            constraints,
            grant_tokens: r.grant_tokens()?,
        })
    }
}

impl TryFrom<Value> for ListGrants {
    type Error = Error;

    fn try_from(v: Value) -> Result<ListGrants> {
        let r = Req::parse(
            &v,
            &["KeyId", "GrantId", "GranteePrincipal", "Limit", "Marker"],
        )?;
        let key_id = r.key_id("KeyId")?;
        let grant_id = r.opt_str_len("GrantId", 1, 128)?.map(str::to_owned);
        // Also the grantee of a grant EC2 made for an attachment, as ListGrants shows it.
        let grantee_principal = match r.opt_str_len("GranteePrincipal", 1, 256)? {
            Some(p) if crate::kms::is_ec2_instance_principal(p) => Some(p.to_owned()),
            _ => r.principal("GranteePrincipal")?.map(str::to_owned),
        };
        let (limit, marker) = r.paging(100)?;
        Ok(ListGrants {
            key_id,
            grant_id,
            grantee_principal,
            limit,
            marker,
        })
    }
}

impl TryFrom<Value> for TagResource {
    type Error = Error;

    fn try_from(v: Value) -> Result<TagResource> {
        let r = Req::parse(&v, &["KeyId", "Tags"])?;
        let key_id = r.key_id("KeyId")?;
        if r.get("Tags").is_none() {
            return Err(missing("Tags"));
        }
        Ok(TagResource {
            key_id,
            tags: r.tags("Tags")?,
        })
    }
}

impl TryFrom<Value> for UntagResource {
    type Error = Error;

    fn try_from(v: Value) -> Result<UntagResource> {
        let r = Req::parse(&v, &["KeyId", "TagKeys"])?;
        let key_id = r.key_id("KeyId")?;
        let keys = r
            .opt_strings("TagKeys")?
            .ok_or_else(|| missing("TagKeys"))?;
        for k in &keys {
            let n = k.chars().count();
            if n < 1 {
                return Err(violation(
                    "TagKeys",
                    k,
                    "have length greater than or equal to 1",
                ));
            }
            if n > 128 {
                return Err(violation(
                    "TagKeys",
                    k,
                    "have length less than or equal to 128",
                ));
            }
        }
        Ok(UntagResource {
            key_id,
            tag_keys: keys.into_iter().map(str::to_owned).collect(),
        })
    }
}

impl TryFrom<Value> for ListResourceTags {
    type Error = Error;

    fn try_from(v: Value) -> Result<ListResourceTags> {
        let r = Req::parse(&v, &["KeyId", "Limit", "Marker"])?;
        let key_id = r.key_id("KeyId")?;
        let (limit, marker) = r.paging(50)?;
        Ok(ListResourceTags {
            key_id,
            limit,
            marker,
        })
    }
}

impl TryFrom<Value> for RevokeGrant {
    type Error = Error;

    fn try_from(v: Value) -> Result<RevokeGrant> {
        let r = Req::parse(&v, &["KeyId", "GrantId"])?;
        Ok(RevokeGrant {
            key_id: r.key_id("KeyId")?,
            grant_id: r.str_len("GrantId", 1, 128)?,
        })
    }
}

impl TryFrom<Value> for Encrypt {
    type Error = Error;

    fn try_from(v: Value) -> Result<Encrypt> {
        let r = Req::parse(
            &v,
            &[
                "KeyId",
                "Plaintext",
                "EncryptionContext",
                "GrantTokens",
                "EncryptionAlgorithm",
            ],
        )?;
        Ok(Encrypt {
            key_id: r.key_id("KeyId")?,
            plaintext: r.blob("Plaintext", 4096)?,
            encryption_context: r.context("EncryptionContext")?,
            grant_tokens: r.grant_tokens()?,
            encryption_algorithm: r.algorithm()?,
        })
    }
}

impl TryFrom<Value> for Decrypt {
    type Error = Error;

    fn try_from(v: Value) -> Result<Decrypt> {
        let r = Req::parse(
            &v,
            &[
                "CiphertextBlob",
                "EncryptionContext",
                "GrantTokens",
                "KeyId",
                "EncryptionAlgorithm",
            ],
        )?;
        Ok(Decrypt {
            ciphertext_blob: r.blob("CiphertextBlob", 6144)?,
            encryption_context: r.context("EncryptionContext")?,
            grant_tokens: r.grant_tokens()?,
            encryption_algorithm: r.algorithm()?,
            key_id: r.opt_str_len("KeyId", 1, 2048)?.map(str::to_owned),
        })
    }
}

impl TryFrom<Value> for GenerateDataKey {
    type Error = Error;

    fn try_from(v: Value) -> Result<GenerateDataKey> {
        let r = Req::parse(
            &v,
            &[
                "KeyId",
                "KeySpec",
                "NumberOfBytes",
                "EncryptionContext",
                "GrantTokens",
            ],
        )?;
        let key_id = r.key_id("KeyId")?;
        let key_spec = r.opt_str("KeySpec")?;
        let number_of_bytes = r.opt_int("NumberOfBytes", 1, 1024)?;
        data_key_len(key_spec, number_of_bytes)?;
        Ok(GenerateDataKey {
            key_id,
            key_spec: key_spec.map(str::to_owned),
            number_of_bytes,
            encryption_context: r.context("EncryptionContext")?,
            grant_tokens: r.grant_tokens()?,
        })
    }
}

impl TryFrom<Value> for ReEncrypt {
    type Error = Error;

    fn try_from(v: Value) -> Result<ReEncrypt> {
        let r = Req::parse(
            &v,
            &[
                "CiphertextBlob",
                "SourceEncryptionContext",
                "SourceKeyId",
                "DestinationKeyId",
                "DestinationEncryptionContext",
                "SourceEncryptionAlgorithm",
                "DestinationEncryptionAlgorithm",
                "GrantTokens",
            ],
        )?;
        Ok(ReEncrypt {
            ciphertext_blob: r.blob("CiphertextBlob", 6144)?,
            source_encryption_context: r.context("SourceEncryptionContext")?,
            source_key_id: r.opt_str_len("SourceKeyId", 1, 2048)?.map(str::to_owned),
            destination_key_id: r.key_id("DestinationKeyId")?,
            destination_encryption_context: r.context("DestinationEncryptionContext")?,
            source_encryption_algorithm: r.algorithm_named("SourceEncryptionAlgorithm")?,
            destination_encryption_algorithm: r
                .algorithm_named("DestinationEncryptionAlgorithm")?,
            grant_tokens: r.grant_tokens()?,
        })
    }
}

impl TryFrom<Value> for GenerateRandom {
    type Error = Error;

    fn try_from(v: Value) -> Result<GenerateRandom> {
        let r = Req::parse(&v, &["NumberOfBytes", "CustomKeyStoreId"])?;
        let number_of_bytes = r.opt_int("NumberOfBytes", 1, 1024)?;
        if let Some(id) = r.opt_str_len("CustomKeyStoreId", 1, 64)? {
            return Err(unsupported(
                "CustomKeyStoreId",
                id,
                "there are no custom key stores",
            ));
        }
        if number_of_bytes.is_none() {
            return Err(missing("NumberOfBytes"));
        }
        Ok(GenerateRandom { number_of_bytes })
    }
}

impl TryFrom<Value> for UpdateKeyDescription {
    type Error = Error;

    fn try_from(v: Value) -> Result<UpdateKeyDescription> {
        let r = Req::parse(&v, &["KeyId", "Description"])?;
        let key_id = r.key_id("KeyId")?;
        r.str("Description")?;
        let description = r
            .opt_str_len("Description", 0, 8192)?
            .expect("present: checked above");
        Ok(UpdateKeyDescription {
            key_id,
            description: description.to_owned(),
        })
    }
}

impl TryFrom<Value> for RetireGrant {
    type Error = Error;

    fn try_from(v: Value) -> Result<RetireGrant> {
        let r = Req::parse(&v, &["GrantToken", "KeyId", "GrantId"])?;
        let grant_token = r.opt_str_len("GrantToken", 1, 8192)?.map(str::to_owned);
        let key_id = r.opt_str_len("KeyId", 1, 2048)?.map(str::to_owned);
        let grant_id = r.opt_str_len("GrantId", 1, 128)?.map(str::to_owned);
        if grant_token.is_none() && (key_id.is_none() || grant_id.is_none()) {
            bail!(
                Code::VALIDATION_EXCEPTION,
                "Either a GrantToken, or both the KeyId and the GrantId, must be specified"
            );
        }
        Ok(RetireGrant {
            grant_token,
            key_id,
            grant_id,
        })
    }
}

impl TryFrom<Value> for ListRetirableGrants {
    type Error = Error;

    fn try_from(v: Value) -> Result<ListRetirableGrants> {
        let r = Req::parse(&v, &["RetiringPrincipal", "Limit", "Marker"])?;
        r.str("RetiringPrincipal")?;
        let principal = r
            .principal("RetiringPrincipal")?
            .expect("present: checked above");
        let (limit, marker) = r.paging(1000)?;
        Ok(ListRetirableGrants {
            retiring_principal: principal.to_owned(),
            limit,
            marker,
        })
    }
}

impl TryFrom<Value> for EnableKeyRotation {
    type Error = Error;

    fn try_from(v: Value) -> Result<EnableKeyRotation> {
        let r = Req::parse(&v, &["KeyId", "RotationPeriodInDays"])?;
        Ok(EnableKeyRotation {
            key_id: r.key_id("KeyId")?,
            rotation_period_in_days: r.opt_int("RotationPeriodInDays", 90, 2560)?,
        })
    }
}

impl TryFrom<Value> for ListKeyRotations {
    type Error = Error;

    fn try_from(v: Value) -> Result<ListKeyRotations> {
        let r = Req::parse(&v, &["KeyId", "IncludeKeyMaterial", "Limit", "Marker"])?;
        let key_id = r.key_id("KeyId")?;
        let include = r.opt_str("IncludeKeyMaterial")?;
        if let Some(i) = include {
            let set = ["ALL_KEY_MATERIAL", "ROTATIONS_ONLY"];
            if !set.contains(&i) {
                return Err(enum_violation("IncludeKeyMaterial", i, &set));
            }
        }
        let (limit, marker) = r.paging(1000)?;
        Ok(ListKeyRotations {
            key_id,
            include_key_material: include.map(str::to_owned),
            limit,
            marker,
        })
    }
}

/// A request as checked by its parser: a value built in code rather than parsed goes through
/// the same checks, with the same messages, by way of its wire form.
///
/// # Errors
/// As the request's parser (`ValidationException`, `NotAuthorizedException` for a reserved
/// alias name).
pub(super) fn checked<T>(req: &T) -> Result<T>
where
    T: Serialize + TryFrom<Value, Error = Error>,
{
    let wire = serde_json::to_value(req)
        .expect("requests hold only strings, integers, lists and string-keyed maps");
    T::try_from(wire)
}

// ----- key policies -----

/// `GetKeyPolicy`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct GetKeyPolicy {
    /// Key id or key ARN.
    pub key_id: String,
    /// Only `default`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
}

/// `PutKeyPolicy`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct PutKeyPolicy {
    /// Key id or key ARN.
    pub key_id: String,
    /// The new key policy (1–32768 characters).
    pub policy: String,
    /// Only `default`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    /// Skips the check that the policy lets the caller put the key policy later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bypass_policy_lockout_safety_check: Option<bool>,
}

/// `ListKeyPolicies`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "Value")]
pub struct ListKeyPolicies {
    /// Key id or key ARN.
    pub key_id: String,
    /// Page size, 1–1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The previous page's `NextMarker`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// `PolicyName`: 1–128 of `[\w]+`.
fn policy_name(r: &Req<'_>) -> Result<Option<String>> {
    let Some(name) = r.opt_str_len("PolicyName", 1, 128)? else {
        return Ok(None);
    };
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(violation(
            "PolicyName",
            name,
            "satisfy regular expression pattern: [\\w]+",
        ));
    }
    Ok(Some(name.to_owned()))
}

impl TryFrom<Value> for GetKeyPolicy {
    type Error = Error;

    fn try_from(v: Value) -> Result<GetKeyPolicy> {
        let r = Req::parse(&v, &["KeyId", "PolicyName"])?;
        Ok(GetKeyPolicy {
            key_id: r.key_id("KeyId")?,
            policy_name: policy_name(&r)?,
        })
    }
}

impl TryFrom<Value> for PutKeyPolicy {
    type Error = Error;

    fn try_from(v: Value) -> Result<PutKeyPolicy> {
        let r = Req::parse(
            &v,
            &[
                "KeyId",
                "Policy",
                "PolicyName",
                "BypassPolicyLockoutSafetyCheck",
            ],
        )?;
        Ok(PutKeyPolicy {
            key_id: r.key_id("KeyId")?,
            policy: r.str_len("Policy", 1, 32768)?,
            policy_name: policy_name(&r)?,
            bypass_policy_lockout_safety_check: r.opt_bool("BypassPolicyLockoutSafetyCheck")?,
        })
    }
}

impl TryFrom<Value> for ListKeyPolicies {
    type Error = Error;

    fn try_from(v: Value) -> Result<ListKeyPolicies> {
        let r = Req::parse(&v, &["KeyId", "Limit", "Marker"])?;
        let key_id = r.key_id("KeyId")?;
        let (limit, marker) = r.paging(1000)?;
        Ok(ListKeyPolicies {
            key_id,
            limit,
            marker,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{KmsAction, KmsRequest, Request, KMS_OPERATIONS};
    use serde_json::json;

    const KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    /// A valid request body of each KMS operation.
    fn valid_body(op: &str) -> Value {
        let blob = base64::encode(b"x");
        match op {
            "CreateKey" | "ListKeys" | "ListAliases" => json!({}),
            "CreateAlias" | "UpdateAlias" => json!({"AliasName": "alias/a", "TargetKeyId": KEY}),
            "DeleteAlias" => json!({"AliasName": "alias/a"}),
            "CreateGrant" => json!({"KeyId": KEY, "GranteePrincipal": "bob",
                                    "Operations": ["Decrypt"]}),
            "RevokeGrant" => json!({"KeyId": KEY, "GrantId": "g"}),
            "GenerateDataKeyWithoutPlaintext" => json!({"KeyId": KEY, "KeySpec": "AES_256"}),
            "Encrypt" => json!({"KeyId": KEY, "Plaintext": blob}),
            "Decrypt" => json!({"CiphertextBlob": blob}),
            "TagResource" => json!({"KeyId": KEY, "Tags": [{"TagKey": "k", "TagValue": ""}]}),
            "UntagResource" => json!({"KeyId": KEY, "TagKeys": ["k"]}),
            "GenerateDataKey" => json!({"KeyId": KEY, "NumberOfBytes": 64}),
            "ReEncrypt" => json!({"CiphertextBlob": blob, "DestinationKeyId": KEY}),
            "GenerateRandom" => json!({"NumberOfBytes": 32}),
            "UpdateKeyDescription" => json!({"KeyId": KEY, "Description": "d"}),
            "RetireGrant" => json!({"KeyId": KEY, "GrantId": "g"}),
            "ListRetirableGrants" => json!({"RetiringPrincipal": "bob"}),
            "EnableKeyRotation" => json!({"KeyId": KEY, "RotationPeriodInDays": 90}),
            "PutKeyPolicy" => json!({"KeyId": KEY, "Policy": "{}"}),
            _ => json!({"KeyId": KEY}),
        }
    }

    fn parse(op: &str, body: Value) -> Result<KmsRequest> {
        KmsRequest::parse(KmsAction::from_name(op).unwrap(), body)
    }

    fn message(op: &str, body: Value) -> String {
        let e = parse(op, body).unwrap_err();
        assert_eq!(
            e.code(),
            Code::VALIDATION_EXCEPTION,
            "{op}: {}",
            e.message()
        );
        e.message().to_owned()
    }

    #[test]
    fn every_operation_parses_to_its_variant() {
        assert_eq!(KMS_OPERATIONS.len(), 34);
        for op in KMS_OPERATIONS {
            let r = Request::parse(op, valid_body(op)).unwrap();
            let Request::Kms(k) = &r else {
                panic!("{op}: {r:?}")
            };
            assert_eq!(k.action().name(), *op);
            assert_eq!(r.name(), *op);
            assert_eq!(r.is_read_only(), k.action().is_read_only());
            // The debug form names the variant, i.e. the operation.
            assert!(format!("{k:?}").starts_with(&format!("{op}(")), "{k:?}");
        }
        let Ok(KmsRequest::CreateGrant(g)) = parse("CreateGrant", valid_body("CreateGrant")) else {
            panic!("CreateGrant")
        };
        assert_eq!(
            (g.key_id.as_str(), g.grantee_principal.as_str()),
            (KEY, "bob")
        );
        assert_eq!(g.operations, ["Decrypt"]);
    }

    #[test]
    fn misspelt_and_mistyped_members_get_aws_messages() {
        assert_eq!(
            message("DescribeKey", json!({"KeyID": KEY})),
            "Unknown parameter in input: \"KeyID\", must be one of: KeyId, GrantTokens"
        );
        let e = Request::parse("Encrypt", json!({"KeyId": KEY, "PlainText": "eA=="})).unwrap_err();
        assert_eq!(e.code(), Code::VALIDATION_EXCEPTION);
        assert_eq!(
            e.message(),
            "Unknown parameter in input: \"PlainText\", must be one of: KeyId, Plaintext, \
             EncryptionContext, GrantTokens, EncryptionAlgorithm"
        );
        assert_eq!(
            message("DescribeKey", json!({"KeyId": 5})),
            "1 validation error detected: 'keyId' must be a string"
        );
        assert_eq!(
            message("DescribeKey", json!({"KeyId": "k".repeat(2049)})),
            format!(
                "1 validation error detected: Value '{}' at 'keyId' failed to satisfy \
                 constraint: Member must have length less than or equal to 2048",
                "k".repeat(2049)
            )
        );
        assert_eq!(
            message("ListKeys", json!({"Limit": 0})),
            "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: \
             Member must have value greater than or equal to 1"
        );
        assert_eq!(
            message("CreateKey", json!("x")),
            "The request must be a JSON object"
        );
        let e = parse(
            "CreateAlias",
            json!({"AliasName": "alias/aws/x", "TargetKeyId": KEY}),
        )
        .unwrap_err();
        assert_eq!(e.code(), Code::NOT_AUTHORIZED_EXCEPTION);
        // Members are checked in a fixed order: the first faulty one is named.
        let two_faults = json!({"KeyId": "", "GrantTokens": 5});
        assert!(message("DescribeKey", two_faults).contains("at 'keyId'"));
    }

    #[test]
    fn encrypt_debug_redacts_the_plaintext() {
        let secret = base64::encode(b"attack at dawn");
        let body = json!({"KeyId": KEY, "Plaintext": secret, "EncryptionContext": {"a": "1"}});
        let r = Request::parse("Encrypt", body).unwrap();
        for text in [format!("{r:?}"), format!("{r:#?}")] {
            assert!(!text.contains(&secret), "{text}");
            assert!(!text.contains("attack"), "{text}");
            assert!(text.contains(KEY) && text.contains("<redacted>"), "{text}");
        }
    }

    #[test]
    fn typed_values_round_trip_and_built_ones_are_checked_alike() {
        for op in KMS_OPERATIONS {
            let body = valid_body(op);
            let k = parse(op, body).unwrap();
            let again = match &k {
                KmsRequest::CreateGrant(r) => serde_json::to_value(r),
                KmsRequest::Encrypt(r) => serde_json::to_value(r),
                KmsRequest::Decrypt(r) => serde_json::to_value(r),
                KmsRequest::DescribeKey(r) => serde_json::to_value(r),
                _ => continue,
            }
            .unwrap();
            assert_eq!(again, valid_body(op), "{op}");
        }
        // serde's Deserialize runs the same parser.
        let d: DescribeKey = serde_json::from_value(json!({"KeyId": KEY})).unwrap();
        assert_eq!(d.key_id, KEY);
        let e = serde_json::from_value::<DescribeKey>(json!({"KeyID": KEY})).unwrap_err();
        assert!(e.to_string().contains("Unknown parameter in input"), "{e}");
        // A value built in code meets the parser's checks, with its messages.
        let built = ListKeys {
            limit: Some(0),
            ..ListKeys::default()
        };
        assert_eq!(
            checked(&built).unwrap_err().message(),
            message("ListKeys", json!({"Limit": 0}))
        );
        let built = Encrypt {
            key_id: KEY.into(),
            plaintext: "not base64!".into(),
            ..Encrypt::default()
        };
        assert_eq!(
            checked(&built).unwrap_err().message(),
            "1 validation error detected: 'plaintext' must be base64-encoded"
        );
    }
}
