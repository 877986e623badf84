//! Who may do what with a KMS key, and what each key state allows (SEMANTICS §3.1, §3.4, §3.6).
//! Pure: a key record (with its grants), a caller and an action in; an error or nothing out.
//!
//! Permission, standing in for key policies:
//! - a customer managed key may be used and managed by its account's `admin` and by its creator;
//!   other principals (of any account) may use it only through a grant listing the operation,
//!   whose encryption-context constraints, if any, the request satisfies;
//! - the AWS managed key `aws/ebs` is managed by no one; every principal of its account may
//!   describe it, list and revoke its grants, and — only through EBS, never through the KMS API
//!   (its key policy's `kms:ViaService` condition) — use it cryptographically and create grants.
//!
//! Permission is checked before state, as AWS evaluates authorization before the key state.

use super::crypto::Context;
use super::store::{admin_arn, KeyManager, KeyRecord, KeyState};
use super::Caller;
use crate::error::{Code, Error, Result};

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
}

impl Action {
    /// Every action.
    pub(crate) const ALL: [Action; 27] = [
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

/// `AccessDeniedException` as AWS words it.
pub(super) fn access_denied(caller: &Caller, action: Action, arn: &str) -> Error {
    let op = action.name();
    Error::new(
        Code::ACCESS_DENIED_EXCEPTION,
        format!(
            "User: {} is not authorized to perform: kms:{op} on resource: {arn} because no \
             resource-based policy allows the kms:{op} action",
            caller.principal
        ),
    )
}

/// Whether `caller` administers `key` (its account's admin, or its creator).
pub(super) fn administers(key: &KeyRecord, caller: &Caller) -> bool {
    key.key_manager == KeyManager::Customer
        && caller.account == key.account
        && (caller.principal == admin_arn(&key.account)
            || key.creator.as_deref() == Some(caller.principal.as_str()))
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
/// request has no encryption context) that came `via`.
pub(super) fn permits(
    key: &KeyRecord,
    caller: &Caller,
    action: Action,
    context: Option<&Context>,
    via: Via,
) -> bool {
    match key.key_manager {
        KeyManager::Aws => {
            let metadata = matches!(
                action,
                Action::DescribeKey
                    | Action::ListGrants
                    | Action::RevokeGrant
                    | Action::ListResourceTags
                    | Action::GetKeyRotationStatus
                    | Action::ListKeyRotations
            );
            let use_via_ebs =
                via == Via::Ebs && (action.cryptographic() || action == Action::CreateGrant);
            caller.account == key.account && (metadata || use_via_ebs)
        }
        KeyManager::Customer => {
            administers(key, caller)
                || (action.grantable()
                    && !granted_operations(key, caller, action, context).is_empty())
        }
    }
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
    if !permits(key, caller, action, context, via) {
        return Err(access_denied(caller, action, &key.arn));
    }
    state_check(key, action)
}

#[cfg(test)]
mod tests {
    use super::super::store::{Constraints, GrantRecord, Origin};
    use super::*;
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

    #[test]
    fn customer_keys_admin_creator_and_grantees() {
        let mut k = key(KeyManager::Customer, KeyState::Enabled);
        for a in Action::ALL {
            assert!(permits(&k, &caller("admin"), a, None, Via::Ebs));
            assert!(permits(&k, &caller("alice"), a, None, Via::Ebs));
            assert!(!permits(&k, &caller("bob"), a, None, Via::Ebs));
        }
        let err = check(&k, &caller("bob"), Action::Decrypt, None, Via::Ebs).unwrap_err();
        assert_eq!(err.code(), Code::ACCESS_DENIED_EXCEPTION);
        assert_eq!(
            err.message(),
            format!(
                "User: arn:aws:iam::{ACCT}:user/bob is not authorized to perform: kms:Decrypt on \
                 resource: {} because no resource-based policy allows the kms:Decrypt action",
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

        // An admin of another account is nobody here.
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
    fn aws_managed_keys_are_used_by_the_account_and_managed_by_no_one() {
        let k = key(KeyManager::Aws, KeyState::Enabled);
        for who in ["admin", "bob"] {
            assert!(permits(
                &k,
                &caller(who),
                Action::GenerateDataKeyWithoutPlaintext,
                None,
                Via::Ebs
            ));
            assert!(permits(
                &k,
                &caller(who),
                Action::CreateGrant,
                None,
                Via::Ebs
            ));
            for a in [
                Action::DisableKey,
                Action::EnableKey,
                Action::ScheduleKeyDeletion,
            ] {
                assert!(!permits(&k, &caller(who), a, None, Via::Ebs));
            }
        }
        let other = Caller::new("r", "444455556666", "admin");
        assert!(!permits(&k, &other, Action::Decrypt, None, Via::Ebs));
        // Through the KMS API it can be described, not used.
        let bob = caller("bob");
        assert!(permits(&k, &bob, Action::DescribeKey, None, Via::Api));
        assert!(permits(&k, &bob, Action::RevokeGrant, None, Via::Api));
        assert!(!permits(&k, &bob, Action::Encrypt, None, Via::Api));
        assert!(!permits(&k, &bob, Action::CreateGrant, None, Via::Api));
        // Customer keys do not care which way a request came.
        let c = key(KeyManager::Customer, KeyState::Enabled);
        assert!(permits(
            &c,
            &caller("alice"),
            Action::Encrypt,
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
