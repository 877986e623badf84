//! The authorization of every operation, in one place, before it runs: each [`Request`] maps to
//! the IAM action AWS checks for it (`ec2:CopyImage`, `iam:CreateUser`, `kms:CreateKey`), the
//! resource ARNs AWS authorizes it on, and its condition context; the caller's identity policies
//! decide. KMS operations on a key are decided where the key is at hand (`kms::policy`: key
//! policy, identity policy, grants); here are only those on no key (CreateKey, ListKeys,
//! ListAliases).
//!
//! Pure: a caller and a request in, an error or nothing out.

use super::users::user_arn;
use crate::error::{Code, Error, Result};
use crate::kms::Caller;
use crate::policy::{Conditions, Decision};
use crate::request::{KmsAction, Request};
use serde_json::json;

/// One thing to authorize: an action on resources, with the request's condition keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Check {
    pub action: String,
    pub resources: Vec<String>,
    pub conditions: Conditions,
}

/// The service whose dialect an authorization failure speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Service {
    Ec2,
    Kms,
    Iam,
    Ebs,
}

/// `arn:aws:ec2:REGION::image/ID` and `…::snapshot/ID` (images and snapshots carry no account in
/// IAM's resource format); `arn:aws:ec2:REGION:ACCOUNT:volume/ID`, `…:instance/ID`.
pub(crate) fn ec2_arn(region: &str, account: &str, kind: &str, id: &str) -> String {
    match kind {
        "image" | "snapshot" => format!("arn:aws:ec2:{region}::{kind}/{id}"),
        _ => format!("arn:aws:ec2:{region}:{account}:{kind}/{id}"),
    }
}

fn put(c: &mut Conditions, key: &str, value: impl Into<String>) {
    c.insert(key.to_ascii_lowercase(), vec![value.into()]);
}

/// What `req` needs, made by `caller`: nothing for GetCallerIdentity (always allowed, as in
/// STS) and for KMS operations on a key (decided with the key).
pub(crate) fn checks(req: &Request, caller: &Caller) -> Vec<Check> {
    use Request as R;
    let (region, account) = (caller.region.as_str(), caller.account.as_str());
    let arn = |kind: &str, id: &str| ec2_arn(region, account, kind, id);
    let new = |kind: &str| arn(kind, "*");
    let mut conditions = caller.identity.conditions(region);
    put(&mut conditions, "ec2:Region", region);
    let encryption = |c: &mut Conditions, encrypted: Option<bool>, key: Option<&String>| {
        put(c, "ec2:Encrypted", encrypted.unwrap_or(false).to_string());
        if let Some(k) = key {
            put(c, "ec2:KmsKeyId", k.clone());
        }
    };
    let user = |name: Option<&String>| {
        let name = name.map_or(caller.user_name(), String::as_str);
        if name == caller.identity.user {
            caller.identity.arn.clone()
        } else {
            user_arn(account, "/", name)
        }
    };
    let snapshots_of = |bdms: &[crate::request::BlockDeviceMapping]| -> Vec<String> {
        bdms.iter()
            .filter_map(|m| m.ebs.as_ref()?.snapshot_id.as_deref())
            .map(|s| arn("snapshot", s))
            .collect()
    };
    let (service_action, resources): (String, Vec<String>) = match req {
        R::DryRun(inner) => return checks(inner, caller),
        R::GetCallerIdentity(_) => return Vec::new(),
        R::Kms(k) => match k.action() {
            KmsAction::CreateKey | KmsAction::ListKeys | KmsAction::ListAliases => {
                (format!("kms:{}", k.action().name()), vec!["*".into()])
            }
            _ => return Vec::new(),
        },
        R::ImportSnapshot(r) => {
            encryption(&mut conditions, r.encrypted, r.kms_key_id.as_ref());
            (ec2("ImportSnapshot"), vec![new("snapshot")])
        }
        R::ExportSnapshot(r) => (ec2("ExportSnapshot"), vec![arn("snapshot", &r.snapshot_id)]),
        R::CopySnapshot(r) => {
            encryption(&mut conditions, r.encrypted, r.kms_key_id.as_ref());
            let source = ec2_arn(&r.source_region, account, "snapshot", &r.source_snapshot_id);
            (ec2("CopySnapshot"), vec![new("snapshot"), source])
        }
        R::CreateSnapshot(r) => (
            ec2("CreateSnapshot"),
            vec![new("snapshot"), arn("volume", &r.volume_id)],
        ),
        R::DeleteSnapshot(r) => (ec2("DeleteSnapshot"), vec![arn("snapshot", &r.snapshot_id)]),
        R::RegisterImage(r) => {
            let mut res = vec![new("image")];
            res.extend(snapshots_of(&r.block_device_mappings));
            (ec2("RegisterImage"), res)
        }
        R::CopyImage(r) => {
            encryption(&mut conditions, r.encrypted, r.kms_key_id.as_ref());
            let source = ec2_arn(&r.source_region, account, "image", &r.source_image_id);
            (ec2("CopyImage"), vec![new("image"), source])
        }
        R::CreateImage(r) => (
            ec2("CreateImage"),
            vec![
                new("image"),
                new("snapshot"),
                arn("instance", &r.instance_id),
            ],
        ),
        R::DeregisterImage(r) => (ec2("DeregisterImage"), vec![arn("image", &r.image_id)]),
        R::CreateVolume(r) => {
            encryption(&mut conditions, r.encrypted, r.kms_key_id.as_ref());
            let mut res = vec![new("volume")];
            if let Some(s) = &r.snapshot_id {
                put(&mut conditions, "ec2:ParentSnapshot", arn("snapshot", s));
                res.push(arn("snapshot", s));
            }
            (ec2("CreateVolume"), res)
        }
        R::DeleteVolume(r) => (ec2("DeleteVolume"), vec![arn("volume", &r.volume_id)]),
        R::AttachVolume(r) => (
            ec2("AttachVolume"),
            vec![arn("volume", &r.volume_id), arn("instance", &r.instance_id)],
        ),
        R::DetachVolume(r) => {
            let mut res = vec![arn("volume", &r.volume_id)];
            res.extend(r.instance_id.as_deref().map(|i| arn("instance", i)));
            (ec2("DetachVolume"), res)
        }
        R::RunInstances(r) => {
            let mut res = vec![new("instance"), new("volume"), arn("image", &r.image_id)];
            res.extend(snapshots_of(&r.block_device_mappings));
            (ec2("RunInstances"), res)
        }
        R::StartInstances(r) | R::StopInstances(r) | R::TerminateInstances(r) => (
            ec2(req.name()),
            r.instance_ids.iter().map(|i| arn("instance", i)).collect(),
        ),
        R::ModifyEbsDefaultKmsKeyId(r) => {
            put(&mut conditions, "ec2:KmsKeyId", r.kms_key_id.clone());
            (ec2("ModifyEbsDefaultKmsKeyId"), vec!["*".into()])
        }
        R::CreateAccessKey(r) | R::ListAccessKeys(r) | R::GetUser(r) => {
            (iam(req.name()), vec![user(r.user_name.as_ref())])
        }
        R::UpdateAccessKey(r) | R::DeleteAccessKey(r) => {
            (iam(req.name()), vec![user(r.user_name.as_ref())])
        }
        R::CreateUser(r) => (iam("CreateUser"), vec![user(Some(&r.user_name))]),
        R::DeleteUser(r) => (iam("DeleteUser"), vec![user(Some(&r.user_name))]),
        R::ListUsers(_) => (iam("ListUsers"), vec!["*".into()]),
        R::PutUserPolicy(r) => (iam("PutUserPolicy"), vec![user(Some(&r.user_name))]),
        R::GetUserPolicy(r) | R::DeleteUserPolicy(r) => {
            (iam(req.name()), vec![user(Some(&r.user_name))])
        }
        R::ListUserPolicies(r) => (iam("ListUserPolicies"), vec![user(Some(&r.user_name))]),
        // Describe*, Get*/Enable*/Disable*/Reset* of the EBS settings and the account and region
        // listings: authorized on `*`, as AWS does.
        other => (ec2(other.name()), vec!["*".into()]),
    };
    vec![Check {
        action: service_action,
        resources,
        conditions,
    }]
}

fn ec2(op: &str) -> String {
    format!("ec2:{op}")
}

fn iam(op: &str) -> String {
    format!("iam:{op}")
}

/// The service of an action (`ec2:…` → EC2).
fn service_of(action: &str) -> Service {
    match action.split_once(':').map(|(s, _)| s) {
        Some("kms") => Service::Kms,
        Some("iam") => Service::Iam,
        Some("ebs") => Service::Ebs,
        _ => Service::Ec2,
    }
}

/// Checks `req` for `caller`.
///
/// # Errors
/// EC2 `UnauthorizedOperation`, KMS `AccessDeniedException` or IAM `AccessDenied` (by the
/// action's service) when the caller's identity policies deny it, or allow it on some resource
/// not.
pub(crate) fn authorize(caller: &Caller, req: &Request) -> Result<()> {
    checks(req, caller)
        .iter()
        .try_for_each(|c| authorize_check(caller, c))
}

/// Checks an EBS direct API operation `op` on snapshot `snapshot` (a new one when `None`).
///
/// # Errors
/// `AccessDeniedException` when the caller's identity policies do not allow `ebs:OP`.
pub(crate) fn authorize_ebs(caller: &Caller, op: &str, snapshot: Option<&str>) -> Result<()> {
    let region = caller.region.as_str();
    let resource = ec2_arn(region, &caller.account, "snapshot", snapshot.unwrap_or("*"));
    let check = Check {
        action: format!("ebs:{op}"),
        resources: vec![resource],
        conditions: caller.identity.conditions(region),
    };
    authorize_check(caller, &check)
}

fn authorize_check(caller: &Caller, check: &Check) -> Result<()> {
    for resource in &check.resources {
        let d = caller
            .identity
            .decide(&check.action, resource, &check.conditions);
        if d != Decision::Allow {
            return Err(denied(
                caller,
                &check.action,
                resource,
                &check.conditions,
                d == Decision::Deny,
            ));
        }
    }
    Ok(())
}

/// The decision context of a refusal, as `sts decode-authorization-message` shows AWS's: JSON,
/// here base64-encoded rather than encrypted (docs/DECISIONS.md).
pub(crate) fn encoded_context(
    caller: &Caller,
    action: &str,
    resource: &str,
    conditions: &Conditions,
    explicit_deny: bool,
) -> String {
    let id = &caller.identity;
    let items: Vec<_> = conditions
        .iter()
        .map(|(k, vs)| {
            json!({"key": k, "values": {"items": vs.iter().map(|v| json!({"value": v})).collect::<Vec<_>>()}})
        })
        .collect();
    let message = json!({
        "allowed": false,
        "explicitDeny": explicit_deny,
        "matchedStatements": {"items": []},
        "failures": {"items": []},
        "context": {
            "principal": {"id": super::users::user_id(&id.arn), "name": id.user, "arn": id.arn},
            "action": action,
            "resource": resource,
            "conditions": {"items": items},
        }
    });
    crate::base64::encode(message.to_string().as_bytes())
}

/// The refusal of `action` on `resource`, in the action's service's words.
pub(crate) fn denied(
    caller: &Caller,
    action: &str,
    resource: &str,
    conditions: &Conditions,
    explicit_deny: bool,
) -> Error {
    let why = if explicit_deny {
        "with an explicit deny in an identity-based policy".to_owned()
    } else {
        format!("because no identity-based policy allows the {action} action")
    };
    let who = &caller.identity.arn;
    let base =
        format!("User: {who} is not authorized to perform: {action} on resource: {resource} {why}");
    match service_of(action) {
        Service::Ec2 => Error::new(
            Code::UNAUTHORIZED_OPERATION,
            format!(
                "You are not authorized to perform this operation. {base}. Encoded \
                 authorization failure message: {}",
                encoded_context(caller, action, resource, conditions, explicit_deny)
            ),
        ),
        Service::Kms | Service::Ebs => Error::new(Code::ACCESS_DENIED_EXCEPTION, base),
        Service::Iam => Error::new(Code::ACCESS_DENIED, base),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::users::Identity;
    use serde_json::Value;

    fn bob(policies: &[&str]) -> Caller {
        Caller::with_identity(
            "us-east-1",
            Identity::bare("111122223333", "bob").with_policies(policies),
        )
    }

    fn req(op: &str, body: Value) -> Request {
        Request::parse(op, body).unwrap()
    }

    #[test]
    fn requests_map_to_actions_and_resources() {
        let c = bob(&[]);
        let r = req(
            "CreateVolume",
            json!({"AvailabilityZone": "us-east-1a", "Size": 1, "Encrypted": true,
                   "KmsKeyId": "alias/k", "SnapshotId": "snap-0123456789abcdef0"}),
        );
        let ch = &checks(&r, &c)[0];
        assert_eq!(ch.action, "ec2:CreateVolume");
        assert_eq!(
            ch.resources,
            [
                "arn:aws:ec2:us-east-1:111122223333:volume/*",
                "arn:aws:ec2:us-east-1::snapshot/snap-0123456789abcdef0"
            ]
        );
        assert_eq!(ch.conditions["ec2:encrypted"], ["true"]);
        assert_eq!(ch.conditions["ec2:kmskeyid"], ["alias/k"]);
        assert_eq!(ch.conditions["aws:username"], ["bob"]);
        let r = req("DescribeImages", json!({"DryRun": true}));
        assert_eq!(checks(&r, &c)[0].action, "ec2:DescribeImages");
        assert_eq!(checks(&r, &c)[0].resources, ["*"]);
        let r = req(
            "PutUserPolicy",
            json!({"UserName": "carol", "PolicyName": "p", "PolicyDocument": "{}"}),
        );
        assert_eq!(
            checks(&r, &c)[0].resources,
            ["arn:aws:iam::111122223333:user/carol"]
        );
        assert!(checks(&req("GetCallerIdentity", json!({})), &c).is_empty());
        assert!(checks(&req("Decrypt", json!({"CiphertextBlob": "AAAA"})), &c).is_empty());
        assert_eq!(
            checks(&req("CreateKey", json!({})), &c)[0].action,
            "kms:CreateKey"
        );
    }

    #[test]
    fn refusals_speak_each_service() {
        let c = bob(&[]);
        let e = authorize(&c, &req("DescribeVolumes", json!({}))).unwrap_err();
        assert_eq!(e.code(), Code::UNAUTHORIZED_OPERATION);
        assert!(e.message().starts_with(
            "You are not authorized to perform this operation. User: \
             arn:aws:iam::111122223333:user/bob is not authorized to perform: \
             ec2:DescribeVolumes on resource: * because no identity-based policy allows the \
             ec2:DescribeVolumes action. Encoded authorization failure message: "
        ));
        let encoded = e.message().rsplit(' ').next().unwrap();
        let decoded: Value =
            serde_json::from_slice(&crate::base64::decode(encoded).unwrap()).unwrap();
        assert_eq!(decoded["context"]["action"], "ec2:DescribeVolumes");
        assert_eq!(decoded["allowed"], false);
        let e = authorize(&c, &req("ListKeys", json!({}))).unwrap_err();
        assert_eq!(e.code(), Code::ACCESS_DENIED_EXCEPTION);
        let e = authorize(&c, &req("ListUsers", json!({}))).unwrap_err();
        assert_eq!(e.code(), Code::ACCESS_DENIED);
        assert!(e
            .message()
            .ends_with("because no identity-based policy allows the iam:ListUsers action"));
    }

    #[test]
    fn each_resource_must_be_allowed() {
        let only_volumes = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"ec2:CreateVolume","Resource":"arn:aws:ec2:*:*:volume/*"}]}"#;
        let c = bob(&[only_volumes]);
        let plain = json!({"AvailabilityZone": "us-east-1a", "Size": 1});
        authorize(&c, &req("CreateVolume", plain.clone())).unwrap();
        let mut from_snap = plain.clone();
        from_snap["SnapshotId"] = json!("snap-0123456789abcdef0");
        let e = authorize(&c, &req("CreateVolume", from_snap)).unwrap_err();
        assert!(
            e.message().contains("snapshot/snap-0123456789abcdef0"),
            "{}",
            e.message()
        );
        let deny_plain = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"ec2:*","Resource":"*"},
            {"Effect":"Deny","Action":"ec2:CreateVolume","Resource":"*","Condition":{"Bool":{"ec2:Encrypted":"false"}}}]}"#;
        let c = bob(&[deny_plain]);
        let e = authorize(&c, &req("CreateVolume", plain.clone())).unwrap_err();
        assert!(e
            .message()
            .contains("with an explicit deny in an identity-based policy"));
        let mut enc = plain;
        enc["Encrypted"] = json!(true);
        authorize(&c, &req("CreateVolume", enc)).unwrap();
    }
}
