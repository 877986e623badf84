//! Who may do what with a KMS key, and what each key state allows (SEMANTICS §3.1, §3.4, §3.6).
//! Pure: a key record (with its grants), a caller and an action in; an error or nothing out.
//!
//! Permission (SEMANTICS §3.6, §24): a request is allowed when
//! - no statement of the key policy or of the caller's identity policies explicitly denies it,
//!   and
//! - the key policy allows it naming the caller (or `*`), or allows it to the caller's whole
//!   account (`arn:aws:iam::ACCOUNT:root`, which delegates to IAM) and the caller's identity
//!   policies allow it too — across accounts, the identity policies must always allow it —
//! - or, for the grantable operations, a grant lists it for the caller, whose encryption-context
//!   constraints, if any, the request satisfies.
//!
//! A customer managed key's policy is the one it was created or last put with, else AWS's
//! default (the account root may do `kms:*`); `aws/ebs` has AWS's fixed policy: every principal
//! of its account may use it through EC2 only (`kms:ViaService`, `kms:CallerAccount`), and the
//! account may read its metadata and revoke its grants; nobody may manage it. Requests that EC2
//! makes for the caller carry `kms:ViaService = ec2.REGION.amazonaws.com`.
//!
//! Permission is checked before state, as AWS evaluates authorization before the key state.

use super::crypto::Context;
use super::store::{KeyManager, KeyRecord, KeyState};
use super::Caller;
use crate::error::{Code, Error, Result};
use crate::policy::{self as iam_policy, Conditions, Decision, Kind, Policy, Query};

/// A key-level KMS action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Encrypt,
    Decrypt,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    ReEncryptFrom,
    ReEncryptTo,
    CreateGrant,
    RetireGrant,
    DescribeKey,
    ListGrants,
    RevokeGrant,
    EnableKey,
    DisableKey,
    ScheduleKeyDeletion,
    CancelKeyDeletion,
    CreateAlias,
    UpdateAlias,
    DeleteAlias,
    TagResource,
    UntagResource,
    ListResourceTags,
    UpdateKeyDescription,
    EnableKeyRotation,
    DisableKeyRotation,
    GetKeyRotationStatus,
    RotateKeyOnDemand,
    ListKeyRotations,
    GetKeyPolicy,
    PutKeyPolicy,
    ListKeyPolicies,
}

impl Action {
    /// Every action.
    pub(crate) const ALL: [Action; 30] = [
        Action::Encrypt,
        Action::Decrypt,
        Action::GenerateDataKey,
        Action::GenerateDataKeyWithoutPlaintext,
        Action::ReEncryptFrom,
        Action::ReEncryptTo,
        Action::CreateGrant,
        Action::RetireGrant,
        Action::DescribeKey,
        Action::ListGrants,
        Action::RevokeGrant,
        Action::EnableKey,
        Action::DisableKey,
        Action::ScheduleKeyDeletion,
        Action::CancelKeyDeletion,
        Action::CreateAlias,
        Action::UpdateAlias,
        Action::DeleteAlias,
        Action::TagResource,
        Action::UntagResource,
        Action::ListResourceTags,
        Action::UpdateKeyDescription,
        Action::EnableKeyRotation,
        Action::DisableKeyRotation,
        Action::GetKeyRotationStatus,
        Action::RotateKeyOnDemand,
        Action::ListKeyRotations,
        Action::GetKeyPolicy,
        Action::PutKeyPolicy,
        Action::ListKeyPolicies,
    ];

    /// The action's AWS name (without `kms:`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Action::Encrypt => "Encrypt",
            Action::Decrypt => "Decrypt",
            Action::GenerateDataKey => "GenerateDataKey",
            Action::GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
            Action::ReEncryptFrom => "ReEncryptFrom",
            Action::ReEncryptTo => "ReEncryptTo",
            Action::CreateGrant => "CreateGrant",
            Action::RetireGrant => "RetireGrant",
            Action::DescribeKey => "DescribeKey",
            Action::ListGrants => "ListGrants",
            Action::RevokeGrant => "RevokeGrant",
            Action::EnableKey => "EnableKey",
            Action::DisableKey => "DisableKey",
            Action::ScheduleKeyDeletion => "ScheduleKeyDeletion",
            Action::CancelKeyDeletion => "CancelKeyDeletion",
            Action::CreateAlias => "CreateAlias",
            Action::UpdateAlias => "UpdateAlias",
            Action::DeleteAlias => "DeleteAlias",
            Action::TagResource => "TagResource",
            Action::UntagResource => "UntagResource",
            Action::ListResourceTags => "ListResourceTags",
            Action::UpdateKeyDescription => "UpdateKeyDescription",
            Action::EnableKeyRotation => "EnableKeyRotation",
            Action::DisableKeyRotation => "DisableKeyRotation",
            Action::GetKeyRotationStatus => "GetKeyRotationStatus",
            Action::RotateKeyOnDemand => "RotateKeyOnDemand",
            Action::ListKeyRotations => "ListKeyRotations",
            Action::GetKeyPolicy => "GetKeyPolicy",
            Action::PutKeyPolicy => "PutKeyPolicy",
            Action::ListKeyPolicies => "ListKeyPolicies",
        }
    }

    /// The action named `name`.
    pub(crate) fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Operations that use key material.
    pub(crate) fn cryptographic(self) -> bool {
        matches!(
            self,
            Action::Encrypt
                | Action::Decrypt
                | Action::GenerateDataKey
                | Action::GenerateDataKeyWithoutPlaintext
                | Action::ReEncryptFrom
                | Action::ReEncryptTo
        )
    }

    /// The operations a grant may list (the KMS grant operations of a symmetric key).
    pub(crate) fn grantable(self) -> bool {
        self.cryptographic()
            || matches!(
                self,
                Action::CreateGrant | Action::RetireGrant | Action::DescribeKey
            )
    }
}

/// Which door a request came through; AWS managed keys tell them apart (`kms:ViaService`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// The engine's EC2/EBS operations, acting for the caller.
    Ebs,
    /// The KMS API (`Kms::invoke`).
    Api,
}

/// The key policy of a key created without one: the account root may do everything, which
/// delegates access to the account's identity policies (AWS's default key policy).
pub(crate) fn default_key_policy(account: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
            "Action": "kms:*",
            "Resource": "*",
        }],
    })
    .to_string()
}

/// The fixed key policy of `aws/ebs` in `account` and `region`, as AWS's.
pub(crate) fn aws_ebs_key_policy(account: &str, region: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "auto-ebs-2",
        "Statement": [
            {
                "Sid": "Allow access through EBS for all principals in the account that are authorized to use EBS",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {
                    "kms:CallerAccount": account,
                    "kms:ViaService": format!("ec2.{region}.amazonaws.com"),
                }},
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                "Resource": "*",
            },
        ],
    })
    .to_string()
}

/// `key`'s key policy document.
pub(crate) fn policy_text(key: &KeyRecord) -> String {
    match (&key.policy, key.key_manager) {
        (_, KeyManager::Aws) => aws_ebs_key_policy(&key.account, &key.region),
        (Some(p), KeyManager::Customer) => p.clone(),
        (None, KeyManager::Customer) => default_key_policy(&key.account),
    }
}

/// `key`'s key policy, parsed. A stored policy was checked when it was put; should it no longer
/// parse, it allows nothing.
fn key_policy(key: &KeyRecord) -> Policy {
    Policy::parse(&policy_text(key), Kind::Resource).unwrap_or(Policy {
        version: String::new(),
        statements: Vec::new(),
    })
}

/// The condition context of a KMS request: the caller's global keys, `kms:CallerAccount`,
/// `kms:ViaService` for requests EC2 makes, the encryption context, and
/// `kms:GrantIsForAWSResource` for the grants EC2 creates.
pub(crate) fn conditions(
    caller: &Caller,
    action: Action,
    context: Option<&Context>,
    via: Via,
) -> Conditions {
    let mut c = caller.identity.conditions(&caller.region);
    let mut put = |k: &str, v: String| {
        c.insert(k.to_ascii_lowercase(), vec![v]);
    };
    put("kms:CallerAccount", caller.account.clone());
    if via == Via::Ebs {
        put(
            "kms:ViaService",
            format!("ec2.{}.amazonaws.com", caller.region),
        );
        if action == Action::CreateGrant {
            put("kms:GrantIsForAWSResource", "true".to_owned());
        }
    }
    if let Some(ctx) = context {
        for (k, v) in ctx {
            put(&format!("kms:EncryptionContext:{k}"), v.clone());
        }
        c.insert(
            "kms:encryptioncontextkeys".to_owned(),
            ctx.keys().cloned().collect(),
        );
    }
    c
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A statement of the key policy denies it.
    KeyPolicyDenies,
    /// A statement of the caller's identity policies denies it.
    IdentityDenies,
    /// The key policy neither allows it nor delegates it to the caller's account.
    NoKeyPolicyAllows,
    /// The key policy delegates it to the account, whose identity policies do not allow it.
    NoIdentityPolicyAllows,
}

/// `AccessDeniedException` as AWS words it.
pub(super) fn access_denied(caller: &Caller, action: Action, arn: &str) -> Error {
    refused(caller, action, arn, Refusal::NoKeyPolicyAllows)
}

/// `AccessDeniedException` for `why`.
pub(crate) fn refused(caller: &Caller, action: Action, arn: &str, why: Refusal) -> Error {
    let op = action.name();
    let because = match why {
        Refusal::KeyPolicyDenies => "with an explicit deny in a resource-based policy".to_owned(),
        Refusal::IdentityDenies => "with an explicit deny in an identity-based policy".to_owned(),
        Refusal::NoKeyPolicyAllows => {
            format!("because no resource-based policy allows the kms:{op} action")
        }
        Refusal::NoIdentityPolicyAllows => {
            format!("because no identity-based policy allows the kms:{op} action")
        }
    };
    Error::new(
        Code::ACCESS_DENIED_EXCEPTION,
        format!(
            "User: {} is not authorized to perform: kms:{op} on resource: {arn} {because}",
            caller.principal
        ),
    )
}

/// The decision of key policy `policy` and `caller`'s identity policies on `action` on the key
/// `key_arn` of `key_account` (grants aside).
pub(crate) fn decide_policies(
    policy: &Policy,
    key_arn: &str,
    key_account: &str,
    caller: &Caller,
    action: Action,
    conditions: &Conditions,
) -> std::result::Result<(), Refusal> {
    let name = format!("kms:{}", action.name());
    let principal = caller.identity.principal();
    let q = Query {
        principal: &principal,
        action: &name,
        resource: key_arn,
        conditions,
    };
    let by_key = iam_policy::evaluate_resource(policy, &q);
    let by_identity = caller.identity.decide(&name, key_arn, conditions);
    if by_key == Decision::Deny {
        return Err(Refusal::KeyPolicyDenies);
    }
    if by_identity == Decision::Deny {
        return Err(Refusal::IdentityDenies);
    }
    let same_account = caller.account == key_account;
    match by_key {
        Decision::Allow if same_account || by_identity == Decision::Allow => Ok(()),
        Decision::Allow | Decision::AllowAccount if by_identity == Decision::Allow => Ok(()),
        Decision::Allow | Decision::AllowAccount => Err(Refusal::NoIdentityPolicyAllows),
        _ => Err(Refusal::NoKeyPolicyAllows),
    }
}

/// The operations `caller` holds through grants on `key` that also list `via`, for requests
/// with `context`.
pub(super) fn granted_operations<'k>(
    key: &'k KeyRecord,
    caller: &Caller,
    via: Action,
    context: Option<&Context>,
) -> Vec<&'k str> {
    key.grants
        .iter()
        .filter(|g| g.names(&caller.principal, &caller.account))
        .filter(|g| g.operations.iter().any(|o| o == via.name()))
        .filter(|g| !via.cryptographic() || g.constraints.as_ref().is_none_or(|c| c.allow(context)))
        .flat_map(|g| g.operations.iter().map(String::as_str))
        .collect()
}

/// Whether `caller` may perform `action` on `key` in a request with `context` (`None`: the
/// request has no encryption context) that came `via`; the refusal says why not.
pub(super) fn decide(
    key: &KeyRecord,
    caller: &Caller,
    action: Action,
    context: Option<&Context>,
    via: Via,
) -> std::result::Result<(), Refusal> {
    let conditions = conditions(caller, action, context, via);
    let by_policies = decide_policies(
        &key_policy(key),
        &key.arn,
        &key.account,
        caller,
        action,
        &conditions,
    );
    match by_policies {
        Ok(()) => Ok(()),
        // An explicit deny cannot be overcome by a grant.
        Err(r @ (Refusal::KeyPolicyDenies | Refusal::IdentityDenies)) => Err(r),
        Err(r) => {
            let granted =
                action.grantable() && !granted_operations(key, caller, action, context).is_empty();
            if granted {
                Ok(())
            } else {
                Err(r)
            }
        }
    }
}

/// Whether the key policy and identity policies alone (no grant) let `caller` perform `action`
/// on `key` without an encryption context.
pub(super) fn allowed_by_policies(
    key: &KeyRecord,
    caller: &Caller,
    action: Action,
    via: Via,
) -> bool {
    let conditions = conditions(caller, action, None, via);
    decide_policies(
        &key_policy(key),
        &key.arn,
        &key.account,
        caller,
        action,
        &conditions,
    )
    .is_ok()
}

/// Whether `caller` may perform `action` on `key` (see [`decide`]).
pub(super) fn permits(
    key: &KeyRecord,
    caller: &Caller,
    action: Action,
    context: Option<&Context>,
    via: Via,
) -> bool {
    decide(key, caller, action, context, via).is_ok()
}

/// The error `action` meets in `key`'s current state, if any (SEMANTICS §3.1).
pub(super) fn state_check(key: &KeyRecord, action: Action) -> Result<()> {
    use KeyState::*;
    let arn = &key.arn;
    let invalid = |what: &str| {
        Err(Error::new(
            Code::KMS_INVALID_STATE_EXCEPTION,
            format!("{arn} is {what}."),
        ))
    };
    match (action, key.state) {
        (a, state) if a.cryptographic() || a == Action::CreateGrant => match state {
            Enabled => Ok(()),
            Disabled => Err(Error::new(
                Code::DISABLED_EXCEPTION,
                format!("{arn} is disabled."),
            )),
            PendingDeletion => invalid("pending deletion"),
            PendingImport => invalid("pending import"),
        },
        (Action::EnableKey | Action::DisableKey, PendingDeletion) => invalid("pending deletion"),
        (Action::EnableKey | Action::DisableKey, PendingImport) => invalid("pending import"),
        (Action::ScheduleKeyDeletion, PendingDeletion) => invalid("pending deletion"),
        (Action::CancelKeyDeletion, s) if s != PendingDeletion => invalid("not pending deletion"),
        (Action::CreateAlias | Action::UpdateAlias, PendingDeletion) => invalid("pending deletion"),
        (Action::TagResource | Action::UntagResource, PendingDeletion) => {
            invalid("pending deletion")
        }
        (Action::EnableKeyRotation | Action::DisableKeyRotation | Action::RotateKeyOnDemand, s) => {
            match s {
                Enabled => Ok(()),
                Disabled => Err(Error::new(
                    Code::DISABLED_EXCEPTION,
                    format!("{arn} is disabled."),
                )),
                PendingDeletion => invalid("pending deletion"),
                PendingImport => invalid("pending import"),
            }
        }
        (Action::GetKeyRotationStatus | Action::ListKeyRotations, PendingImport) => {
            invalid("pending import")
        }
        _ => Ok(()),
    }
}

/// Permission, then state.
pub(super) fn check(
    key: &KeyRecord,
    caller: &Caller,
    action: Action,
    context: Option<&Context>,
    via: Via,
) -> Result<()> {
    decide(key, caller, action, context, via).map_err(|r| refused(caller, action, &key.arn, r))?;
    state_check(key, action)
}

#[cfg(test)]
mod tests {
    use super::super::store::{Constraints, GrantRecord, Origin};
    use super::*;
    use crate::iam::users::Identity;
    use crate::ids::KeyId;

    const ACCT: &str = "111122223333";

    fn key(manager: KeyManager, state: KeyState) -> KeyRecord {
        let id = KeyId::generate(7);
        KeyRecord {
            arn: super::super::store::key_arn("r", ACCT, id.as_str()),
            key_id: id,
            region: "r".into(),
            account: ACCT.into(),
            state,
            key_manager: manager,
            origin: Origin::AwsKms,
            description: String::new(),
            creation_millis: 0,
            deletion_millis: None,
            pending_window_days: None,
            creator: (manager == KeyManager::Customer)
                .then(|| format!("arn:aws:iam::{ACCT}:user/alice")),
            policy: None,
            sealed_material: None,
            grants: Vec::new(),
            rotation: Default::default(),
        }
    }

    fn caller(name: &str) -> Caller {
        Caller::new("r", ACCT, name)
    }

    fn grant(k: &KeyRecord, grantee: &str, ops: &[&str], c: Option<Constraints>) -> GrantRecord {
        GrantRecord {
            grant_id: "g".into(),
            key_id: k.key_id.clone(),
            key_arn: k.arn.clone(),
            region: "r".into(),
            account: ACCT.into(),
            name: None,
            grantee: grantee.into(),
            retiring: None,
            operations: ops.iter().map(|s| s.to_string()).collect(),
            constraints: c,
            token: String::new(),
            creation_millis: 0,
        }
    }

    #[test]
    fn names_round_trip() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.name()), Some(a));
        }
        assert_eq!(Action::parse("kms:Decrypt"), None);
    }

    const KMS_ALL: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#;

    fn with(name: &str, docs: &[&str]) -> Caller {
        Caller::with_identity("r", Identity::bare(ACCT, name).with_policies(docs))
    }

    #[test]
    fn default_key_policy_delegates_to_identity_policies_and_grants_add() {
        let mut k = key(KeyManager::Customer, KeyState::Enabled);
        let alice = with("alice", &[KMS_ALL]);
        for a in Action::ALL {
            assert!(permits(&k, &caller("admin"), a, None, Via::Ebs));
            assert!(permits(&k, &alice, a, None, Via::Api), "identity policy");
            assert!(
                !permits(&k, &caller("alice"), a, None, Via::Ebs),
                "creating it gives nothing"
            );
            assert!(!permits(&k, &caller("bob"), a, None, Via::Ebs));
        }
        let err = check(&k, &caller("bob"), Action::Decrypt, None, Via::Ebs).unwrap_err();
        assert_eq!(err.code(), Code::ACCESS_DENIED_EXCEPTION);
        assert_eq!(
            err.message(),
            format!(
                "User: arn:aws:iam::{ACCT}:user/bob is not authorized to perform: kms:Decrypt on \
                 resource: {} because no identity-based policy allows the kms:Decrypt action",
                k.arn
            )
        );
        let bob = format!("arn:aws:iam::{ACCT}:user/bob");
        k.grants
            .push(grant(&k, &bob, &["Decrypt", "DisableKey"], None));
        assert!(permits(&k, &caller("bob"), Action::Decrypt, None, Via::Ebs));
        assert!(!permits(
            &k,
            &caller("bob"),
            Action::Encrypt,
            None,
            Via::Ebs
        ));
        assert!(
            !permits(&k, &caller("bob"), Action::DisableKey, None, Via::Ebs),
            "not grantable"
        );
        assert!(!permits(
            &k,
            &caller("carol"),
            Action::Decrypt,
            None,
            Via::Ebs
        ));
        // An explicit deny in an identity policy beats the grant and the key policy.
        let deny = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}}"#;
        let denied = with("bob", &[KMS_ALL, deny]);
        let e = check(&k, &denied, Action::Decrypt, None, Via::Ebs).unwrap_err();
        assert!(e
            .message()
            .ends_with("with an explicit deny in an identity-based policy"));

        // An admin of another account is nobody here; an account-wide grant lets it in.
        let other = Caller::new("r", "444455556666", "admin");
        assert!(!permits(&k, &other, Action::DescribeKey, None, Via::Ebs));
        k.grants.push(grant(
            &k,
            "arn:aws:iam::444455556666:root",
            &["DescribeKey"],
            None,
        ));
        assert!(
            permits(&k, &other, Action::DescribeKey, None, Via::Ebs),
            "account-wide grant"
        );
    }

    #[test]
    fn key_policies_name_principals_and_accounts() {
        let mut k = key(KeyManager::Customer, KeyState::Enabled);
        let policy = |stmts: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{stmts}]}}"#);
        // Only bob, directly: no identity policy needed, and the admin is shut out.
        k.policy = Some(policy(&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCT}:user/bob"}},"Action":"kms:*","Resource":"*"}}"#
        )));
        assert!(permits(&k, &caller("bob"), Action::Decrypt, None, Via::Api));
        let e = check(&k, &caller("admin"), Action::Decrypt, None, Via::Api).unwrap_err();
        assert!(e
            .message()
            .ends_with("because no resource-based policy allows the kms:Decrypt action"));
        // Another account named: its users need their own identity policy too.
        k.policy = Some(policy(
            r#"{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"*"}"#,
        ));
        let other = |docs: &[&str]| {
            Caller::with_identity(
                "r",
                Identity::bare("444455556666", "dave").with_policies(docs),
            )
        };
        assert!(!permits(&k, &other(&[]), Action::Decrypt, None, Via::Api));
        assert!(permits(
            &k,
            &other(&[KMS_ALL]),
            Action::Decrypt,
            None,
            Via::Api
        ));
        assert!(!permits(
            &k,
            &other(&[KMS_ALL]),
            Action::Encrypt,
            None,
            Via::Api
        ));
        assert!(
            !permits(&k, &caller("admin"), Action::Decrypt, None, Via::Api),
            "own account not named"
        );
        // A key policy deny beats everything.
        k.policy = Some(policy(&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"{ACCT}"}},"Action":"kms:*","Resource":"*"}},
               {{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*",
                 "Condition":{{"StringNotEquals":{{"kms:ViaService":"ec2.r.amazonaws.com"}}}}}}"#
        )));
        let e = check(&k, &caller("admin"), Action::Decrypt, None, Via::Api).unwrap_err();
        assert!(e
            .message()
            .ends_with("with an explicit deny in a resource-based policy"));
        assert!(
            permits(&k, &caller("admin"), Action::Decrypt, None, Via::Ebs),
            "through EC2"
        );
    }

    #[test]
    fn constrained_grants_need_a_matching_context() {
        let mut k = key(KeyManager::Customer, KeyState::Enabled);
        let c = Constraints {
            subset: Some([("aws:ebs:id".to_owned(), "vol-1".to_owned())].into()),
            equals: None,
        };
        let bob = format!("arn:aws:iam::{ACCT}:user/bob");
        k.grants
            .push(grant(&k, &bob, &["Decrypt", "DescribeKey"], Some(c)));
        let ctx = |v: &str| Context::from([("aws:ebs:id".to_owned(), v.to_owned())]);
        assert!(permits(
            &k,
            &caller("bob"),
            Action::Decrypt,
            Some(&ctx("vol-1")),
            Via::Ebs
        ));
        assert!(!permits(
            &k,
            &caller("bob"),
            Action::Decrypt,
            Some(&ctx("vol-2")),
            Via::Ebs
        ));
        assert!(!permits(
            &k,
            &caller("bob"),
            Action::Decrypt,
            None,
            Via::Ebs
        ));
        assert!(permits(
            &k,
            &caller("bob"),
            Action::DescribeKey,
            None,
            Via::Ebs
        ));
    }

    #[test]
    fn aws_managed_keys_are_used_by_the_account_through_ec2_and_managed_by_no_one() {
        let k = key(KeyManager::Aws, KeyState::Enabled);
        for who in [caller("admin"), caller("bob"), with("carol", &[KMS_ALL])] {
            assert!(permits(
                &k,
                &who,
                Action::GenerateDataKeyWithoutPlaintext,
                None,
                Via::Ebs
            ));
            assert!(permits(&k, &who, Action::CreateGrant, None, Via::Ebs));
            for a in [
                Action::DisableKey,
                Action::EnableKey,
                Action::ScheduleKeyDeletion,
                Action::PutKeyPolicy,
            ] {
                assert!(!permits(&k, &who, a, None, Via::Ebs));
                assert!(!permits(&k, &who, a, None, Via::Api));
            }
        }
        let other = Caller::new("r", "444455556666", "admin");
        assert!(!permits(&k, &other, Action::Decrypt, None, Via::Ebs));
        // Through the KMS API it can be described (as identity policies allow), not used.
        let carol = with("carol", &[KMS_ALL]);
        assert!(permits(&k, &carol, Action::DescribeKey, None, Via::Api));
        assert!(!permits(
            &k,
            &caller("bob"),
            Action::DescribeKey,
            None,
            Via::Api
        ));
        assert!(permits(&k, &carol, Action::RevokeGrant, None, Via::Api));
        assert!(!permits(&k, &carol, Action::Encrypt, None, Via::Api));
        assert!(!permits(&k, &carol, Action::CreateGrant, None, Via::Api));
        assert!(!permits(
            &k,
            &caller("admin"),
            Action::Decrypt,
            None,
            Via::Api
        ));
    }

    #[test]
    fn state_table() {
        use KeyState::*;
        let code = |s, a| {
            state_check(&key(KeyManager::Customer, s), a)
                .err()
                .map(|e| e.code())
        };
        let dis = Some(Code::DISABLED_EXCEPTION);
        let inv = Some(Code::KMS_INVALID_STATE_EXCEPTION);
        for a in [
            Action::Encrypt,
            Action::Decrypt,
            Action::ReEncryptTo,
            Action::CreateGrant,
        ] {
            assert_eq!(code(Enabled, a), None);
            assert_eq!(code(Disabled, a), dis);
            assert_eq!(code(PendingDeletion, a), inv);
            assert_eq!(code(PendingImport, a), inv);
        }
        for s in [Enabled, Disabled, PendingDeletion, PendingImport] {
            for a in [
                Action::DescribeKey,
                Action::ListGrants,
                Action::RevokeGrant,
                Action::DeleteAlias,
            ] {
                assert_eq!(code(s, a), None);
            }
        }
        for a in [Action::EnableKey, Action::DisableKey] {
            assert_eq!((code(Enabled, a), code(Disabled, a)), (None, None));
            assert_eq!(
                (code(PendingDeletion, a), code(PendingImport, a)),
                (inv, inv)
            );
        }
        assert_eq!(code(PendingDeletion, Action::ScheduleKeyDeletion), inv);
        assert_eq!(code(PendingImport, Action::ScheduleKeyDeletion), None);
        assert_eq!(code(PendingDeletion, Action::CancelKeyDeletion), None);
        assert_eq!(code(Disabled, Action::CancelKeyDeletion), inv);
        assert_eq!(code(PendingDeletion, Action::CreateAlias), inv);
        assert_eq!(code(PendingImport, Action::UpdateAlias), None);

        let k = key(KeyManager::Customer, Disabled);
        let e = state_check(&k, Action::Decrypt).unwrap_err();
        assert_eq!(e.message(), format!("{} is disabled.", k.arn));
        let k = key(KeyManager::Customer, Enabled);
        let e = state_check(&k, Action::CancelKeyDeletion).unwrap_err();
        assert_eq!(e.message(), format!("{} is not pending deletion.", k.arn));
    }
}
