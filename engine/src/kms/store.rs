//! The KMS's catalog records (keys, aliases, grants), their state enums, ARN forms, and their
//! shapes in API responses (`responses`). Pure: the shell reads and writes these through
//! `catalog::Tx`.
//!
//! Key material is stored only sealed under the root key (see `crypto`); nothing here holds a
//! plaintext secret.

use super::crypto::Context;
use super::responses::{AliasListEntry, GrantConstraints, GrantListEntry, KeyMetadata};
use crate::catalog::Record;
use crate::clock;
use crate::ids::KeyId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A KMS key's state (SEMANTICS §3.1). Only the four states reachable here are modelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
    PendingImport,
}

impl KeyState {
    /// The state as AWS spells it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::PendingImport => "PendingImport",
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who manages a key: the account (customer managed) or AWS (`aws/ebs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum KeyManager {
    #[serde(rename = "CUSTOMER")]
    Customer,
    #[serde(rename = "AWS")]
    Aws,
}

impl KeyManager {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KeyManager::Customer => "CUSTOMER",
            KeyManager::Aws => "AWS",
        }
    }
}

/// Where a key's material came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Origin {
    #[serde(rename = "AWS_KMS")]
    AwsKms,
    /// Imported material; without an import API such keys stay `PendingImport`.
    #[serde(rename = "EXTERNAL")]
    External,
}

impl Origin {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Origin::AwsKms => "AWS_KMS",
            Origin::External => "EXTERNAL",
        }
    }
}

/// `arn:aws:kms:REGION:ACCOUNT:key/ID`.
pub(crate) fn key_arn(region: &str, account: &str, id: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:key/{id}")
}

/// `arn:aws:kms:REGION:ACCOUNT:alias/NAME` for `name` = `alias/NAME`.
pub(crate) fn alias_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:{name}")
}

/// The ARN of an account's `admin` user.
pub(crate) fn admin_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:user/admin")
}

/// The account itself as a principal (a grantee that stands for every principal of it).
pub(crate) fn account_root_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// A KMS ARN's parts: region, account, resource (`key/ID` or `alias/NAME`).
pub(super) fn split_kms_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let rest = arn.strip_prefix("arn:aws:kms:")?;
    let mut parts = rest.splitn(3, ':');
    let (region, account, resource) = (parts.next()?, parts.next()?, parts.next()?);
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    (!region.is_empty() && account_ok).then_some((region, account, resource))
}

/// A KMS key. `KeyRecord`s returned by `Kms::resolve` carry the key's grants, which
/// `Kms::authorize` consults.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    pub key_id: KeyId,
    pub arn: String,
    pub region: String,
    pub account: String,
    pub state: KeyState,
    pub key_manager: KeyManager,
    pub origin: Origin,
    pub description: String,
    pub creation_millis: i64,
    /// When a `PendingDeletion` key is deleted.
    pub deletion_millis: Option<i64>,
    /// The waiting period a `PendingDeletion` key was scheduled with.
    pub pending_window_days: Option<u32>,
    /// The principal that created a customer managed key (`None` for AWS managed keys).
    pub creator: Option<String>,
    /// The key policy a customer managed key was created or last put with (`None`: AWS's
    /// default key policy; `aws/ebs` has its fixed one, see `policy::policy_text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The key material sealed under the root key (hex); `None` until material exists
    /// (`Origin::External`).
    pub(super) sealed_material: Option<String>,
    /// The key's grants, loaded with the key; never stored in the key's row.
    #[serde(skip)]
    pub(super) grants: Vec<GrantRecord>,
    /// Automatic rotation and the material of every rotation (rows written before rotation
    /// existed read as never rotated, rotation off).
    #[serde(default)]
    pub(super) rotation: Rotation,
}

/// How a key's material was rotated (`RotationType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum RotationType {
    #[serde(rename = "AUTOMATIC")]
    Automatic,
    #[serde(rename = "ON_DEMAND")]
    OnDemand,
}

impl RotationType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RotationType::Automatic => "AUTOMATIC",
            RotationType::OnDemand => "ON_DEMAND",
        }
    }
}

/// One rotation: the material it added, sealed under the root key (hex), and when and how.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct MaterialVersion {
    pub(super) sealed: String,
    pub(super) rotation_millis: i64,
    pub(super) rotation_type: RotationType,
}

/// A key's rotation state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Rotation {
    /// Automatic rotation's period in days, while it is enabled (customer managed keys; AWS
    /// managed keys rotate every 365 days whatever this says).
    #[serde(default)]
    pub(super) period_days: Option<u32>,
    /// When automatic rotation next rotates.
    #[serde(default)]
    pub(super) next_millis: Option<i64>,
    /// The materials added by rotations, oldest first: `versions[i]` is material version `i+1`
    /// (version 0 is the key's `sealed_material`).
    #[serde(default)]
    pub(super) versions: Vec<MaterialVersion>,
}

/// AWS managed keys rotate yearly.
pub(crate) const AWS_MANAGED_ROTATION_DAYS: u32 = 365;
const DAY_MILLIS: i64 = 86_400_000;

impl KeyRecord {
    /// The material version new ciphertexts use: the newest.
    pub(crate) fn current_version(&self) -> u32 {
        self.rotation.versions.len() as u32
    }

    /// When the last rotation was, or the key's creation if it never rotated.
    fn last_rotation_millis(&self) -> i64 {
        self.rotation
            .versions
            .last()
            .map_or(self.creation_millis, |v| v.rotation_millis)
    }

    /// Automatic rotation's period and next date, if it is enabled: AWS managed keys always,
    /// customer managed keys once EnableKeyRotation turned it on.
    pub(crate) fn rotation_schedule(&self) -> Option<(u32, i64)> {
        match self.key_manager {
            KeyManager::Aws => {
                let days = AWS_MANAGED_ROTATION_DAYS;
                let next = self
                    .rotation
                    .next_millis
                    .unwrap_or_else(|| self.last_rotation_millis() + i64::from(days) * DAY_MILLIS);
                Some((days, next))
            }
            KeyManager::Customer => self.rotation.period_days.zip(self.rotation.next_millis),
        }
    }
}

impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("arn", &self.arn)
            .field("state", &self.state)
            .field("key_manager", &self.key_manager)
            .finish_non_exhaustive()
    }
}

impl Record for KeyRecord {
    const TABLE: &'static str = "kms_keys";
    fn key(&self) -> String {
        self.key_id.to_string()
    }
    fn region(&self) -> &str {
        &self.region
    }
}

impl KeyRecord {
    /// `KeyMetadata` as DescribeKey and CreateKey return it.
    pub(crate) fn metadata(&self) -> KeyMetadata {
        let pending = self.state == KeyState::PendingDeletion;
        KeyMetadata {
            aws_account_id: self.account.clone(),
            key_id: self.key_id.as_str().to_owned(),
            arn: self.arn.clone(),
            creation_date: clock::iso(self.creation_millis),
            enabled: self.state == KeyState::Enabled,
            description: self.description.clone(),
            key_usage: "ENCRYPT_DECRYPT".to_owned(),
            key_state: self.state.as_str().to_owned(),
            origin: self.origin.as_str().to_owned(),
            key_manager: self.key_manager.as_str().to_owned(),
            key_spec: "SYMMETRIC_DEFAULT".to_owned(),
            customer_master_key_spec: "SYMMETRIC_DEFAULT".to_owned(),
            encryption_algorithms: vec!["SYMMETRIC_DEFAULT".to_owned()],
            multi_region: false,
            deletion_date: self.deletion_millis.filter(|_| pending).map(clock::iso),
            pending_deletion_window_in_days: self
                .pending_window_days
                .filter(|_| pending)
                .map(i64::from),
            current_key_material_id: self
                .sealed_material
                .as_ref()
                .map(|_| super::crypto::key_material_id(&self.arn, self.current_version())),
        }
    }
}

/// An alias: a name, unique per account and region, pointing at one key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AliasRecord {
    /// `alias/NAME`.
    pub name: String,
    /// The alias ARN; the row's primary key.
    pub arn: String,
    pub region: String,
    pub account: String,
    pub target_key_id: KeyId,
    pub creation_millis: i64,
    pub updated_millis: i64,
}

impl Record for AliasRecord {
    const TABLE: &'static str = "kms_aliases";
    fn key(&self) -> String {
        self.arn.clone()
    }
    fn region(&self) -> &str {
        &self.region
    }
}

impl AliasRecord {
    /// An entry of ListAliases.
    pub(super) fn listing(&self) -> AliasListEntry {
        AliasListEntry {
            alias_name: self.name.clone(),
            alias_arn: self.arn.clone(),
            target_key_id: Some(self.target_key_id.as_str().to_owned()),
            creation_date: Some(clock::iso(self.creation_millis)),
            last_updated_date: Some(clock::iso(self.updated_millis)),
        }
    }
}

/// Encryption-context constraints of a grant (CreateGrant `Constraints`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Constraints {
    /// Every pair here must be in the request's context.
    pub subset: Option<Context>,
    /// The request's context must be exactly this.
    pub equals: Option<Context>,
}

impl Constraints {
    /// Whether a request with `context` satisfies these constraints; `None` means the request
    /// carries no context (an operation that has none), which satisfies no constraint.
    pub(super) fn allow(&self, context: Option<&Context>) -> bool {
        let Some(ctx) = context else { return false };
        let subset_ok = self
            .subset
            .as_ref()
            .is_none_or(|s| s.iter().all(|(k, v)| ctx.get(k) == Some(v)));
        let equals_ok = self.equals.as_ref().is_none_or(|e| e == ctx);
        subset_ok && equals_ok
    }

    /// The constraints as ListGrants returns them.
    fn listing(&self) -> GrantConstraints {
        GrantConstraints {
            encryption_context_subset: self.subset.clone(),
            encryption_context_equals: self.equals.clone(),
        }
    }
}

/// A grant: lets `grantee` perform `operations` with one key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct GrantRecord {
    /// 64 hex digits; the row's primary key.
    pub grant_id: String,
    pub key_id: KeyId,
    pub key_arn: String,
    pub region: String,
    /// The account that issued the grant (the key's account).
    pub account: String,
    pub name: Option<String>,
    /// An IAM principal ARN (`…:user/NAME`, `…:role/NAME`, or `…:root` for a whole account).
    pub grantee: String,
    pub retiring: Option<String>,
    /// Grant operation names, as AWS spells them.
    pub operations: Vec<String>,
    pub constraints: Option<Constraints>,
    pub token: String,
    pub creation_millis: i64,
}

impl Record for GrantRecord {
    const TABLE: &'static str = "kms_grants";
    fn key(&self) -> String {
        self.grant_id.clone()
    }
    fn region(&self) -> &str {
        &self.region
    }
}

impl GrantRecord {
    /// An entry of ListGrants.
    pub(super) fn listing(&self) -> GrantListEntry {
        GrantListEntry {
            key_id: self.key_arn.clone(),
            grant_id: self.grant_id.clone(),
            creation_date: clock::iso(self.creation_millis),
            grantee_principal: self.grantee.clone(),
            issuing_account: account_root_arn(&self.account),
            operations: self.operations.clone(),
            name: self.name.clone(),
            retiring_principal: self.retiring.clone(),
            constraints: self.constraints.as_ref().map(Constraints::listing),
        }
    }

    /// Whether this grant names `principal` (of `account`) as its grantee.
    pub(super) fn names(&self, principal: &str, account: &str) -> bool {
        self.grantee == principal || self.grantee == account_root_arn(account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_split() {
        let a = key_arn("us-east-1", "111122223333", "k");
        assert_eq!(
            split_kms_arn(&a),
            Some(("us-east-1", "111122223333", "key/k"))
        );
        let a = alias_arn("eu-west-1", "111122223333", "alias/a/b");
        assert_eq!(
            split_kms_arn(&a),
            Some(("eu-west-1", "111122223333", "alias/a/b"))
        );
        assert_eq!(split_kms_arn("arn:aws:kms::111122223333:key/k"), None);
        assert_eq!(split_kms_arn("arn:aws:kms:r:1234:key/k"), None);
        assert_eq!(split_kms_arn("arn:aws:s3:r:111122223333:key/k"), None);
    }

    #[test]
    fn constraints() {
        let ctx = |p: &[(&str, &str)]| -> Context {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let sub = Constraints {
            subset: Some(ctx(&[("a", "1")])),
            equals: None,
        };
        assert!(sub.allow(Some(&ctx(&[("a", "1"), ("b", "2")]))));
        assert!(!sub.allow(Some(&ctx(&[("a", "2")]))));
        assert!(!sub.allow(None));
        let eq = Constraints {
            subset: None,
            equals: Some(ctx(&[("a", "1")])),
        };
        assert!(eq.allow(Some(&ctx(&[("a", "1")]))));
        assert!(!eq.allow(Some(&ctx(&[("a", "1"), ("b", "2")]))));
    }
}
