//! Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies, and the policy CreateKey is given,
//! with AWS's lockout safety check — a new key policy must let the caller put the key policy
//! again, unless `BypassPolicyLockoutSafetyCheck` says otherwise.

use super::policy::{self, Action, Via};
use super::requests as rq;
use super::responses::Empty;
use super::store::{KeyManager, KeyRecord};
use super::{Caller, Kms};
use crate::catalog::Tx;
use crate::error::{bail, Code, Error, Result};
use crate::policy::{Kind, Policy};
use serde::{Deserialize, Serialize};

/// The only key policy name.
const DEFAULT: &str = "default";

/// `GetKeyPolicy`'s output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyPolicyResponse {
    /// The key policy document.
    pub policy: String,
    /// `default`.
    pub policy_name: String,
}

/// `ListKeyPolicies`'s output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyPoliciesResponse {
    /// `["default"]`.
    pub policy_names: Vec<String>,
    /// Always false: a key has one policy.
    pub truncated: bool,
}

fn check_name(name: Option<&str>, key: &KeyRecord) -> Result<()> {
    match name {
        None | Some(DEFAULT) => Ok(()),
        Some(other) => bail!(
            Code::NOT_FOUND_EXCEPTION,
            "Key policy {other} of {} does not exist: the only key policy name is default.",
            key.arn
        ),
    }
}

/// Parses `text` as a key policy for a key `key_arn` of `account` that `caller` creates or puts,
/// and (unless `bypass`) checks that it lets the caller put the key policy again.
///
/// # Errors
/// `MalformedPolicyDocumentException` with IAM's message, or AWS's lockout message.
pub(super) fn checked_policy(
    text: &str,
    key_arn: &str,
    account: &str,
    caller: &Caller,
    bypass: bool,
) -> Result<()> {
    let parsed = Policy::parse(text, Kind::Resource)
        .map_err(|e| Error::new(Code::MALFORMED_POLICY_DOCUMENT_EXCEPTION, e.0))?;
    if bypass {
        return Ok(());
    }
    let conditions = policy::conditions(caller, Action::PutKeyPolicy, None, Via::Api);
    let lets_me = policy::decide_policies(
        &parsed,
        key_arn,
        account,
        caller,
        Action::PutKeyPolicy,
        &conditions,
    );
    if lets_me.is_err() {
        bail!(
            Code::MALFORMED_POLICY_DOCUMENT_EXCEPTION,
            "The new key policy will not allow you to update the key policy in the future."
        );
    }
    Ok(())
}

pub(super) fn get_key_policy(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::GetKeyPolicy,
) -> Result<GetKeyPolicyResponse> {
    let key = kms.resolve(tx, caller, &req.key_id)?;
    policy::check(&key, caller, Action::GetKeyPolicy, None, Via::Api)?;
    check_name(req.policy_name.as_deref(), &key)?;
    Ok(GetKeyPolicyResponse {
        policy: policy::policy_text(&key),
        policy_name: DEFAULT.to_owned(),
    })
}

pub(super) fn list_key_policies(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::ListKeyPolicies,
) -> Result<ListKeyPoliciesResponse> {
    let key = kms.resolve(tx, caller, &req.key_id)?;
    policy::check(&key, caller, Action::ListKeyPolicies, None, Via::Api)?;
    // One policy: a marker past it is an empty page.
    let past = req.marker.as_deref().is_some_and(|m| m >= DEFAULT);
    Ok(ListKeyPoliciesResponse {
        policy_names: if past {
            Vec::new()
        } else {
            vec![DEFAULT.to_owned()]
        },
        truncated: false,
    })
}

pub(super) fn put_key_policy(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::PutKeyPolicy,
) -> Result<Empty> {
    let mut key = kms.resolve(tx, caller, &req.key_id)?;
    policy::check(&key, caller, Action::PutKeyPolicy, None, Via::Api)?;
    check_name(req.policy_name.as_deref(), &key)?;
    if key.key_manager == KeyManager::Aws {
        // Its policy statements grant no kms:PutKeyPolicy, so `check` refused already; kept as a
        // second line should that policy ever change.
        return Err(policy::refused(
            caller,
            Action::PutKeyPolicy,
            &key.arn,
            policy::Refusal::NoKeyPolicyAllows,
        ));
    }
    let bypass = req.bypass_policy_lockout_safety_check.unwrap_or(false);
    checked_policy(&req.policy, &key.arn, &key.account, caller, bypass)?;
    key.policy = Some(req.policy.clone());
    tx.put(&key)?;
    Ok(Empty {})
}
