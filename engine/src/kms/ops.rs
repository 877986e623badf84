//! The KMS operations, one function per typed request (`requests`), each returning its typed
//! response (`responses`, shaped like the AWS KMS JSON API, docs/OPERATIONS.md): key
//! resolution, permission and state through `policy`, and the catalog writes of each operation.
//! Requests arrive checked by their parser (`ValidationException` with AWS's `Member must …`
//! messages); nothing here reads raw JSON.

use super::crypto::{self, Context};
use super::key_policy;
use super::policy::{self, Action, Via};
use super::requests::{
    self as rq, checked, data_key_len, decode_blob, grant_operations, not_a_principal,
    principal_arn,
};
use super::responses::{self as rs, AliasListEntry, Empty, KeyListEntry, KmsResponse, Plaintext};
use super::store::{self, AliasRecord, Constraints, GrantRecord, KeyManager, KeyRecord, KeyState};
use super::{invalid_ciphertext, random_nonce, Caller, KeyRef, Kms, AWS_EBS_ALIAS};
use crate::base64;
use crate::catalog::Tx;
use crate::clock;
use crate::error::{bail, Code, Error, Result};
use crate::request::KmsRequest;
use crate::secret::fill_random;
use zeroize::Zeroizing;

const DAY_MILLIS: i64 = 86_400_000;

/// Runs `req`, after checking it as its parser does (a request built in code may hold values
/// no parser would have let through).
pub(super) fn invoke(kms: &Kms, tx: &Tx, caller: &Caller, req: &KmsRequest) -> Result<KmsResponse> {
    use KmsRequest as K;
    use KmsResponse as O;
    Ok(match req {
        K::CreateKey(r) => O::CreateKey(create_key(kms, tx, caller, &checked(r)?)?),
        K::DescribeKey(r) => O::DescribeKey(describe_key(kms, tx, caller, &checked(r)?)?),
        K::ListKeys(r) => O::ListKeys(list_keys(tx, caller, &checked(r)?)?),
        K::CreateAlias(r) => O::CreateAlias(create_alias(kms, tx, caller, &checked(r)?)?),
        K::UpdateAlias(r) => O::UpdateAlias(update_alias(kms, tx, caller, &checked(r)?)?),
        K::DeleteAlias(r) => O::DeleteAlias(delete_alias(kms, tx, caller, &checked(r)?)?),
        K::ListAliases(r) => O::ListAliases(list_aliases(kms, tx, caller, &checked(r)?)?),
        K::EnableKey(r) => O::EnableKey(set_enabled(
            kms,
            tx,
            caller,
            &checked(r)?.key_id,
            Action::EnableKey,
        )?),
        K::DisableKey(r) => O::DisableKey(set_enabled(
            kms,
            tx,
            caller,
            &checked(r)?.key_id,
            Action::DisableKey,
        )?),
        K::ScheduleKeyDeletion(r) => {
            O::ScheduleKeyDeletion(schedule_key_deletion(kms, tx, caller, &checked(r)?)?)
        }
        K::CancelKeyDeletion(r) => {
            O::CancelKeyDeletion(cancel_key_deletion(kms, tx, caller, &checked(r)?)?)
        }
        K::CreateGrant(r) => O::CreateGrant(create_grant(kms, tx, caller, &checked(r)?)?),
        K::ListGrants(r) => O::ListGrants(list_grants(kms, tx, caller, &checked(r)?)?),
        K::RevokeGrant(r) => O::RevokeGrant(revoke_grant(kms, tx, caller, &checked(r)?)?),
        K::GenerateDataKeyWithoutPlaintext(r) => O::GenerateDataKeyWithoutPlaintext(
            generate_data_key_without_plaintext(kms, tx, caller, &checked(r)?)?,
        ),
        K::Encrypt(r) => O::Encrypt(encrypt(kms, tx, caller, &checked(r)?)?),
        K::Decrypt(r) => O::Decrypt(decrypt(kms, tx, caller, &checked(r)?)?),
        K::GetKeyPolicy(r) => {
            O::GetKeyPolicy(key_policy::get_key_policy(kms, tx, caller, &checked(r)?)?)
        }
        K::PutKeyPolicy(r) => {
            O::PutKeyPolicy(key_policy::put_key_policy(kms, tx, caller, &checked(r)?)?)
        }
        K::ListKeyPolicies(r) => O::ListKeyPolicies(key_policy::list_key_policies(
            kms,
            tx,
            caller,
            &checked(r)?,
        )?),
    })
}

/// A page's size (`Limit`, `max` if absent: the parser kept it within 1..=`max`) and `Marker`.
fn paging(limit: Option<i64>, marker: Option<&str>, max: i64) -> (usize, Option<&str>) {
    (limit.unwrap_or(max) as usize, marker)
}

/// One page of a listing: its items, and the response members `Truncated` and `NextMarker`.
struct Page<T> {
    items: Vec<T>,
    truncated: bool,
    next_marker: Option<String>,
}

/// One page of `items` (sorted by `id`) after `marker`.
fn page<T>(
    items: Vec<T>,
    (limit, marker): (usize, Option<&str>),
    id: impl Fn(&T) -> String,
) -> Page<T> {
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|t| marker.is_none_or(|m| id(t).as_str() > m))
        .collect();
    let truncated = rest.len() > limit;
    rest.truncate(limit);
    let next_marker = truncated.then(|| {
        rest.last()
            .map(&id)
            .expect("a truncated page holds at least one item")
    });
    Page {
        items: rest,
        truncated,
        next_marker,
    }
}

/// Resolves a `KeyId` that must name a key directly (key id or key ARN), failing with
/// `alias_error` for an alias.
fn resolve_key_only(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    key_ref: &str,
    alias_error: impl FnOnce() -> Error,
) -> Result<KeyRecord> {
    if KeyRef::parse(key_ref).is_ok_and(|r| r.is_alias()) {
        return Err(alias_error());
    }
    kms.resolve(tx, caller, key_ref)
}

fn aliases_not_supported() -> Error {
    Error::new(
        Code::INVALID_ARN_EXCEPTION,
        "Key Aliases are not supported for this operation.",
    )
}

// ----- keys -----

fn create_key(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::CreateKey,
) -> Result<rs::CreateKeyResponse> {
    let origin = rq::origin(req.origin.as_deref())?;
    let mut key = kms.new_key(
        &caller.region,
        &caller.account,
        KeyManager::Customer,
        origin,
        req.description.as_deref().unwrap_or(""),
        Some(caller.principal.clone()),
        clock::now_millis(),
    );
    if let Some(text) = &req.policy {
        let bypass = req.bypass_policy_lockout_safety_check.unwrap_or(false);
        key_policy::checked_policy(text, &key.arn, &key.account, caller, bypass)?;
        key.policy = Some(text.clone());
    }
    tx.put(&key)?;
    Ok(rs::CreateKeyResponse {
        key_metadata: key.metadata(),
    })
}

fn describe_key(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::DescribeKey,
) -> Result<rs::DescribeKeyResponse> {
    let key = kms.resolve(tx, caller, &req.key_id)?;
    policy::check(&key, caller, Action::DescribeKey, None, Via::Api)?;
    Ok(rs::DescribeKeyResponse {
        key_metadata: key.metadata(),
    })
}

fn list_keys(tx: &Tx, caller: &Caller, req: &rq::ListKeys) -> Result<rs::ListKeysResponse> {
    let paging = paging(req.limit, req.marker.as_deref(), 1000);
    let keys: Vec<KeyRecord> = tx
        .list::<KeyRecord>(&caller.region)?
        .into_iter()
        .filter(|k| k.account == caller.account)
        .collect();
    let keys = page(keys, paging, |k| k.key_id.to_string());
    Ok(rs::ListKeysResponse {
        truncated: keys.truncated,
        next_marker: keys.next_marker,
        keys: keys
            .items
            .iter()
            .map(|k| KeyListEntry {
                key_id: k.key_id.as_str().to_owned(),
                key_arn: k.arn.clone(),
            })
            .collect(),
    })
}

fn set_enabled(kms: &Kms, tx: &Tx, caller: &Caller, key_id: &str, action: Action) -> Result<Empty> {
    let mut key = kms.resolve(tx, caller, key_id)?;
    policy::check(&key, caller, action, None, Via::Api)?;
    key.state = if action == Action::EnableKey {
        KeyState::Enabled
    } else {
        KeyState::Disabled
    };
    tx.put(&key)?;
    Ok(Empty {})
}

fn schedule_key_deletion(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::ScheduleKeyDeletion,
) -> Result<rs::ScheduleKeyDeletionResponse> {
    let days = req.pending_window_in_days.unwrap_or(30);
    let mut key = kms.resolve(tx, caller, &req.key_id)?;
    policy::check(&key, caller, Action::ScheduleKeyDeletion, None, Via::Api)?;
    let deletion = clock::now_millis() + days * DAY_MILLIS;
    key.state = KeyState::PendingDeletion;
    key.deletion_millis = Some(deletion);
    key.pending_window_days = Some(days as u32);
    tx.put(&key)?;
    Ok(rs::ScheduleKeyDeletionResponse {
        key_id: key.arn,
        deletion_date: clock::iso(deletion),
        key_state: key.state.as_str().to_owned(),
        pending_window_in_days: days,
    })
}

fn cancel_key_deletion(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::CancelKeyDeletion,
) -> Result<rs::CancelKeyDeletionResponse> {
    let mut key = kms.resolve(tx, caller, &req.key_id)?;
    policy::check(&key, caller, Action::CancelKeyDeletion, None, Via::Api)?;
    // AWS: a cancelled key is Disabled; one whose material was never imported is PendingImport.
    key.state = if key.sealed_material.is_some() {
        KeyState::Disabled
    } else {
        KeyState::PendingImport
    };
    key.deletion_millis = None;
    key.pending_window_days = None;
    tx.put(&key)?;
    Ok(rs::CancelKeyDeletionResponse { key_id: key.arn })
}

// ----- aliases -----

fn alias_target(kms: &Kms, tx: &Tx, caller: &Caller, key_ref: &str) -> Result<KeyRecord> {
    resolve_key_only(kms, tx, caller, key_ref, || {
        Error::new(
            Code::VALIDATION_EXCEPTION,
            "Aliases must refer to keys. Not aliases",
        )
    })
}

fn create_alias(kms: &Kms, tx: &Tx, caller: &Caller, req: &rq::CreateAlias) -> Result<Empty> {
    let name = req.alias_name.as_str();
    let key = alias_target(kms, tx, caller, &req.target_key_id)?;
    policy::check(&key, caller, Action::CreateAlias, None, Via::Api)?;
    let arn = store::alias_arn(&caller.region, &caller.account, name);
    if tx.get::<AliasRecord>(&arn)?.is_some() {
        bail!(
            Code::ALREADY_EXISTS_EXCEPTION,
            "An alias with the name {arn} already exists"
        );
    }
    let now = clock::now_millis();
    tx.put(&AliasRecord {
        name: name.to_owned(),
        arn,
        region: caller.region.clone(),
        account: caller.account.clone(),
        target_key_id: key.key_id,
        creation_millis: now,
        updated_millis: now,
    })?;
    Ok(Empty {})
}

/// The alias `name` of the caller's account and region.
fn existing_alias(tx: &Tx, caller: &Caller, name: &str) -> Result<AliasRecord> {
    let arn = store::alias_arn(&caller.region, &caller.account, name);
    tx.get::<AliasRecord>(&arn)?
        .ok_or_else(|| super::alias_not_found(&arn))
}

fn update_alias(kms: &Kms, tx: &Tx, caller: &Caller, req: &rq::UpdateAlias) -> Result<Empty> {
    let mut alias = existing_alias(tx, caller, &req.alias_name)?;
    let key = alias_target(kms, tx, caller, &req.target_key_id)?;
    // AWS asks for kms:UpdateAlias on the old key too, whatever its state.
    if let Some(old) = kms.load_key(tx, &alias.target_key_id)? {
        if !policy::permits(&old, caller, Action::UpdateAlias, None, Via::Api) {
            return Err(policy::access_denied(caller, Action::UpdateAlias, &old.arn));
        }
    }
    policy::check(&key, caller, Action::UpdateAlias, None, Via::Api)?;
    alias.target_key_id = key.key_id;
    alias.updated_millis = clock::now_millis();
    tx.put(&alias)?;
    Ok(Empty {})
}

fn delete_alias(kms: &Kms, tx: &Tx, caller: &Caller, req: &rq::DeleteAlias) -> Result<Empty> {
    let alias = existing_alias(tx, caller, &req.alias_name)?;
    if let Some(key) = kms.load_key(tx, &alias.target_key_id)? {
        policy::check(&key, caller, Action::DeleteAlias, None, Via::Api)?;
    }
    tx.delete::<AliasRecord>(&alias.arn)?;
    Ok(Empty {})
}

fn list_aliases(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::ListAliases,
) -> Result<rs::ListAliasesResponse> {
    let paging = paging(req.limit, req.marker.as_deref(), 100);
    let mut aliases: Vec<AliasListEntry> = Vec::new();
    let stored = tx
        .list::<AliasRecord>(&caller.region)?
        .into_iter()
        .filter(|a| a.account == caller.account);
    match &req.key_id {
        Some(key_ref) => {
            let key = resolve_key_only(kms, tx, caller, key_ref, aliases_not_supported)?;
            aliases.extend(
                stored
                    .filter(|a| a.target_key_id == key.key_id)
                    .map(|a| a.listing()),
            );
        }
        None => {
            aliases.extend(stored.map(|a| a.listing()));
            // SEMANTICS §3.3 rule 4: the predefined alias shows, without a target, until the
            // AWS managed key exists.
            if !aliases.iter().any(|a| a.alias_name == AWS_EBS_ALIAS) {
                aliases.push(AliasListEntry {
                    alias_name: AWS_EBS_ALIAS.to_owned(),
                    alias_arn: store::alias_arn(&caller.region, &caller.account, AWS_EBS_ALIAS),
                    target_key_id: None,
                    creation_date: None,
                    last_updated_date: None,
                });
            }
        }
    }
    let name = |a: &AliasListEntry| a.alias_name.clone();
    aliases.sort_by_key(name);
    let aliases = page(aliases, paging, name);
    Ok(rs::ListAliasesResponse {
        truncated: aliases.truncated,
        next_marker: aliases.next_marker,
        aliases: aliases.items,
    })
}

// ----- grants -----

/// Principal member `name`'s value `text` as an ARN (a bare profile name is a user of the
/// caller's account).
fn principal(caller: &Caller, name: &str, text: &str) -> Result<String> {
    principal_arn(&caller.account, text).ok_or_else(|| not_a_principal(name, text))
}

fn create_grant(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::CreateGrant,
) -> Result<rs::CreateGrantResponse> {
    let grantee = principal(caller, "GranteePrincipal", &req.grantee_principal)?;
    let retiring = (req.retiring_principal.as_deref())
        .map(|p| principal(caller, "RetiringPrincipal", p))
        .transpose()?;
    let operations = grant_operations(&req.operations)?;
    let constraints = req.constraints.as_ref().map(|c| Constraints {
        subset: c.encryption_context_subset.clone(),
        equals: c.encryption_context_equals.clone(),
    });

    let key = resolve_key_only(kms, tx, caller, &req.key_id, aliases_not_supported)?;
    policy::check(&key, caller, Action::CreateGrant, None, Via::Api)?;
    // A grantee with CreateGrant may pass on no more than one of its grants allows (AWS).
    if key.key_manager == KeyManager::Customer
        && !policy::allowed_by_policies(&key, caller, Action::CreateGrant, Via::Api)
    {
        let covered = key.grants.iter().any(|g| {
            g.names(&caller.principal, &caller.account)
                && g.operations.iter().any(|o| o == "CreateGrant")
                && operations.iter().all(|o| g.operations.contains(o))
                && (g.constraints.is_none() || g.constraints == constraints)
        });
        if !covered {
            return Err(policy::access_denied(caller, Action::CreateGrant, &key.arn));
        }
    }
    let mut id = [0u8; 32];
    fill_random(&mut id);
    let mut token = [0u8; 96];
    fill_random(&mut token);
    let grant = GrantRecord {
        grant_id: hex::encode(id),
        key_id: key.key_id.clone(),
        key_arn: key.arn.clone(),
        region: key.region.clone(),
        account: key.account.clone(),
        name: req.name.clone(),
        grantee,
        retiring,
        operations,
        constraints,
        token: base64::encode(&token),
        creation_millis: clock::now_millis(),
    };
    tx.put(&grant)?;
    Ok(rs::CreateGrantResponse {
        grant_id: grant.grant_id,
        grant_token: grant.token,
    })
}

fn list_grants(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::ListGrants,
) -> Result<rs::ListGrantsResponse> {
    let grant_id = req.grant_id.as_deref();
    let grantee = (req.grantee_principal.as_deref())
        .map(|p| principal(caller, "GranteePrincipal", p))
        .transpose()?;
    let paging = paging(req.limit, req.marker.as_deref(), 100);
    let key = resolve_key_only(kms, tx, caller, &req.key_id, aliases_not_supported)?;
    policy::check(&key, caller, Action::ListGrants, None, Via::Api)?;
    let mut grants: Vec<&GrantRecord> = key
        .grants
        .iter()
        .filter(|g| grant_id.is_none_or(|id| g.grant_id == id))
        .filter(|g| grantee.as_ref().is_none_or(|p| &g.grantee == p))
        .collect();
    grants.sort_by(|a, b| a.grant_id.cmp(&b.grant_id));
    let grants = page(grants, paging, |g| g.grant_id.clone());
    Ok(rs::ListGrantsResponse {
        truncated: grants.truncated,
        next_marker: grants.next_marker,
        grants: grants.items.iter().map(|g| g.listing()).collect(),
    })
}

fn revoke_grant(kms: &Kms, tx: &Tx, caller: &Caller, req: &rq::RevokeGrant) -> Result<Empty> {
    let grant_id = req.grant_id.as_str();
    let key = resolve_key_only(kms, tx, caller, &req.key_id, aliases_not_supported)?;
    policy::check(&key, caller, Action::RevokeGrant, None, Via::Api)?;
    if !key.grants.iter().any(|g| g.grant_id == grant_id) {
        bail!(
            Code::NOT_FOUND_EXCEPTION,
            "Grant ID {grant_id} not found for key {}",
            key.arn
        );
    }
    tx.delete::<GrantRecord>(grant_id)?;
    Ok(Empty {})
}

// ----- cryptographic operations -----

fn generate_data_key_without_plaintext(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::GenerateDataKeyWithoutPlaintext,
) -> Result<rs::GenerateDataKeyWithoutPlaintextResponse> {
    let len = data_key_len(req.key_spec.as_deref(), req.number_of_bytes)?;
    let context: &Context = &req.encryption_context;
    let key = kms.resolve(tx, caller, &req.key_id)?;
    policy::check(
        &key,
        caller,
        Action::GenerateDataKeyWithoutPlaintext,
        Some(context),
        Via::Api,
    )?;
    let material = kms.material(&key)?;
    let mut plaintext = Zeroizing::new(vec![0u8; len]);
    fill_random(&mut plaintext);
    let blob = crypto::seal_user(&material, &random_nonce(), &key.arn, context, &plaintext);
    Ok(rs::GenerateDataKeyWithoutPlaintextResponse {
        ciphertext_blob: base64::encode(&blob),
        key_id: key.arn,
    })
}

fn encrypt(kms: &Kms, tx: &Tx, caller: &Caller, req: &rq::Encrypt) -> Result<rs::EncryptResponse> {
    let plaintext = decode_blob("Plaintext", &req.plaintext, 4096)?;
    let context: &Context = &req.encryption_context;
    let key = kms.resolve(tx, caller, &req.key_id)?;
    policy::check(&key, caller, Action::Encrypt, Some(context), Via::Api)?;
    let material = kms.material(&key)?;
    let blob = crypto::seal_user(&material, &random_nonce(), &key.arn, context, &plaintext);
    Ok(rs::EncryptResponse {
        ciphertext_blob: base64::encode(&blob),
        key_id: key.arn,
        encryption_algorithm: "SYMMETRIC_DEFAULT".to_owned(),
    })
}

fn decrypt(kms: &Kms, tx: &Tx, caller: &Caller, req: &rq::Decrypt) -> Result<rs::DecryptResponse> {
    let blob = decode_blob("CiphertextBlob", &req.ciphertext_blob, 6144)?;
    let context: &Context = &req.encryption_context;
    let arn = crypto::user_blob_key_arn(&blob)
        .map_err(invalid_ciphertext)?
        .to_owned();
    // A ciphertext of another region's key cannot be decrypted here, as in AWS.
    let here = store::split_kms_arn(&arn).is_some_and(|(region, _, _)| region == caller.region);
    if !here {
        bail!(
            Code::INVALID_CIPHERTEXT_EXCEPTION,
            "The ciphertext names a key of another region"
        );
    }
    let key = kms.key_by_arn(tx, &arn)?;
    if let Some(key_ref) = &req.key_id {
        if kms.resolve(tx, caller, key_ref)?.key_id != key.key_id {
            bail!(
                Code::INCORRECT_KEY_EXCEPTION,
                "The key ID in the request does not identify a KMS key that can perform this \
                 operation."
            );
        }
    }
    policy::check(&key, caller, Action::Decrypt, Some(context), Via::Api)?;
    let material = kms.material(&key)?;
    let plaintext =
        crypto::open_user(&material, &key.arn, context, &blob).map_err(invalid_ciphertext)?;
    Ok(rs::DecryptResponse {
        plaintext: Plaintext::new(base64::encode(&plaintext)),
        key_id: key.arn,
        encryption_algorithm: "SYMMETRIC_DEFAULT".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{admin, arn, user, Home, ACCT, REGION};
    use super::*;
    use crate::xts::XtsCipher;
    use serde_json::{json, Value};

    fn b64(bytes: &[u8]) -> String {
        base64::encode(bytes)
    }

    #[test]
    fn create_and_describe_key() {
        let mut h = Home::new();
        let out = h
            .call(&admin(), "CreateKey", json!({"Description": "k1"}))
            .unwrap();
        let m = &out["KeyMetadata"];
        let id = m["KeyId"].as_str().unwrap();
        assert_eq!(m["Arn"], arn(id));
        assert_eq!(m["AWSAccountId"], ACCT);
        assert_eq!(m["Description"], "k1");
        assert_eq!(m["Enabled"], true);
        assert_eq!(m["KeyState"], "Enabled");
        assert_eq!(m["KeyManager"], "CUSTOMER");
        assert_eq!(m["Origin"], "AWS_KMS");
        assert_eq!(m["KeyUsage"], "ENCRYPT_DECRYPT");
        assert_eq!(m["KeySpec"], "SYMMETRIC_DEFAULT");
        assert_eq!(m["EncryptionAlgorithms"], json!(["SYMMETRIC_DEFAULT"]));
        assert_eq!(m["MultiRegion"], false);
        assert!(m["CreationDate"].as_str().unwrap().ends_with('Z'));
        assert!(m.get("DeletionDate").is_none());
        let d = h
            .call(&admin(), "DescribeKey", json!({"KeyId": arn(id)}))
            .unwrap();
        assert_eq!(&d["KeyMetadata"], m);
        // The key material is stored only sealed.
        let rec = h.tx(|kms, tx| kms.resolve(tx, &admin(), id)).unwrap();
        assert_eq!(
            rec.sealed_material.as_ref().unwrap().len(),
            2 * (1 + 12 + 32 + 16)
        );
    }

    #[test]
    fn requests_are_validated() {
        let mut h = Home::new();
        let v = Code::VALIDATION_EXCEPTION;
        let msg = h.fails(&admin(), "CreateKey", json!({"Descriptoin": "x"}), v);
        assert!(
            msg.starts_with("Unknown parameter in input: \"Descriptoin\""),
            "{msg}"
        );
        h.fails(&admin(), "CreateKey", json!([1]), v);
        h.fails(&admin(), "CreateKey", json!({"Description": 5}), v);
        h.fails(&admin(), "CreateKey", json!({"KeySpec": "RSA_2048"}), v);
        h.fails(&admin(), "CreateKey", json!({"KeyUsage": "SIGN_VERIFY"}), v);
        h.fails(&admin(), "CreateKey", json!({"KeyUsage": "NOPE"}), v);
        h.fails(&admin(), "CreateKey", json!({"Origin": "AWS_CLOUDHSM"}), v);
        let msg = h.fails(&admin(), "DescribeKey", json!({}), v);
        assert!(msg.contains("Value null at 'keyId'"), "{msg}");
        h.fails(&admin(), "DescribeKey", json!({"KeyId": ""}), v);
        h.call(&admin(), "CreateKey", Value::Null).unwrap();
        let ec2 = crate::request::Request::parse("RunInstances", json!({}));
        assert!(!matches!(ec2, Ok(crate::request::Request::Kms(_))));
    }

    #[test]
    fn deletion_lifecycle() {
        let mut h = Home::new();
        let id = h.create_key(&admin());
        let v = Code::VALIDATION_EXCEPTION;
        for days in [6, 31, 0] {
            let req = json!({"KeyId": id, "PendingWindowInDays": days});
            h.fails(&admin(), "ScheduleKeyDeletion", req, v);
        }
        let before = clock::now_millis();
        let out = h
            .call(&admin(), "ScheduleKeyDeletion", json!({"KeyId": id}))
            .unwrap();
        assert_eq!(out["KeyId"], arn(&id));
        assert_eq!(out["KeyState"], "PendingDeletion");
        assert_eq!(out["PendingWindowInDays"], 30);
        let d = h
            .call(&admin(), "DescribeKey", json!({"KeyId": id}))
            .unwrap();
        let m = &d["KeyMetadata"];
        assert_eq!(
            (&m["KeyState"], &m["Enabled"]),
            (&json!("PendingDeletion"), &json!(false))
        );
        assert_eq!(m["DeletionDate"], out["DeletionDate"]);
        assert!(
            m["DeletionDate"].as_str().unwrap() > clock::iso(before + 29 * DAY_MILLIS).as_str()
        );
        assert_eq!(m["PendingDeletionWindowInDays"], 30);

        let inv = Code::KMS_INVALID_STATE_EXCEPTION;
        let msg = h.fails(&admin(), "EnableKey", json!({"KeyId": id}), inv);
        assert_eq!(msg, format!("{} is pending deletion.", arn(&id)));
        h.fails(&admin(), "DisableKey", json!({"KeyId": id}), inv);
        h.fails(&admin(), "ScheduleKeyDeletion", json!({"KeyId": id}), inv);
        h.fails(
            &admin(),
            "Encrypt",
            json!({"KeyId": id, "Plaintext": b64(b"x")}),
            inv,
        );

        let out = h
            .call(&admin(), "CancelKeyDeletion", json!({"KeyId": arn(&id)}))
            .unwrap();
        assert_eq!(out, json!({"KeyId": arn(&id)}));
        let d = h
            .call(&admin(), "DescribeKey", json!({"KeyId": id}))
            .unwrap();
        assert_eq!(
            d["KeyMetadata"]["KeyState"], "Disabled",
            "cancel leaves the key Disabled"
        );
        assert!(d["KeyMetadata"].get("DeletionDate").is_none());
        let msg = h.fails(&admin(), "CancelKeyDeletion", json!({"KeyId": id}), inv);
        assert_eq!(msg, format!("{} is not pending deletion.", arn(&id)));

        // Enable and disable are idempotent.
        for op in ["DisableKey", "DisableKey", "EnableKey", "EnableKey"] {
            assert_eq!(
                h.call(&admin(), op, json!({"KeyId": id})).unwrap(),
                json!({})
            );
        }
        let d = h
            .call(&admin(), "DescribeKey", json!({"KeyId": id}))
            .unwrap();
        assert_eq!(d["KeyMetadata"]["KeyState"], "Enabled");
        h.fails(
            &user("bob"),
            "ScheduleKeyDeletion",
            json!({"KeyId": id}),
            Code::ACCESS_DENIED_EXCEPTION,
        );
    }

    #[test]
    fn external_keys_wait_for_import() {
        let mut h = Home::new();
        let out = h
            .call(&admin(), "CreateKey", json!({"Origin": "EXTERNAL"}))
            .unwrap();
        let m = &out["KeyMetadata"];
        assert_eq!(
            (&m["KeyState"], &m["Origin"]),
            (&json!("PendingImport"), &json!("EXTERNAL"))
        );
        let id = m["KeyId"].as_str().unwrap();
        let inv = Code::KMS_INVALID_STATE_EXCEPTION;
        let msg = h.fails(
            &admin(),
            "Encrypt",
            json!({"KeyId": id, "Plaintext": b64(b"x")}),
            inv,
        );
        assert_eq!(msg, format!("{} is pending import.", arn(id)));
        h.fails(&admin(), "EnableKey", json!({"KeyId": id}), inv);
        let grant = json!({"KeyId": id, "GranteePrincipal": "bob", "Operations": ["Decrypt"]});
        h.fails(&admin(), "CreateGrant", grant, inv);
        h.call(
            &admin(),
            "ScheduleKeyDeletion",
            json!({"KeyId": id, "PendingWindowInDays": 7}),
        )
        .unwrap();
        h.call(&admin(), "CancelKeyDeletion", json!({"KeyId": id}))
            .unwrap();
        let d = h
            .call(&admin(), "DescribeKey", json!({"KeyId": id}))
            .unwrap();
        assert_eq!(d["KeyMetadata"]["KeyState"], "PendingImport");
    }

    #[test]
    fn aws_managed_keys_cannot_be_managed() {
        let mut h = Home::new();
        // Bob may do anything with KMS keys, as far as key policies let him.
        let bob = super::super::testkit::user_with("bob", &[super::super::testkit::KMS_ALL]);
        let ebs = h
            .call(&bob, "DescribeKey", json!({"KeyId": "alias/aws/ebs"}))
            .unwrap();
        let ebs_arn = ebs["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
        let denied = Code::ACCESS_DENIED_EXCEPTION;
        for op in [
            "DisableKey",
            "EnableKey",
            "ScheduleKeyDeletion",
            "CancelKeyDeletion",
        ] {
            let msg = h.fails(&admin(), op, json!({"KeyId": "alias/aws/ebs"}), denied);
            assert!(
                msg.contains(&format!("kms:{op} on resource: {ebs_arn}")),
                "{msg}"
            );
        }
        let req = json!({"AliasName": "alias/mine", "TargetKeyId": ebs_arn});
        h.fails(&admin(), "CreateAlias", req, denied);
        let id = h.create_key(&admin());
        h.call(
            &admin(),
            "CreateAlias",
            json!({"AliasName": "alias/mine", "TargetKeyId": id}),
        )
        .unwrap();
        h.fails(
            &admin(),
            "UpdateAlias",
            json!({"AliasName": "alias/mine", "TargetKeyId": ebs_arn}),
            denied,
        );
        let na = Code::NOT_AUTHORIZED_EXCEPTION;
        h.fails(
            &admin(),
            "UpdateAlias",
            json!({"AliasName": "alias/aws/ebs", "TargetKeyId": id}),
            na,
        );
        h.fails(
            &admin(),
            "DeleteAlias",
            json!({"AliasName": "alias/aws/ebs"}),
            na,
        );
        // Through the KMS API it can be described but not used (kms:ViaService): only EBS
        // uses it, for every principal of the account.
        let grant =
            json!({"KeyId": ebs_arn, "GranteePrincipal": "carol", "Operations": ["Decrypt"]});
        h.fails(&bob, "CreateGrant", grant, denied);
        let enc = json!({"KeyId": "alias/aws/ebs", "Plaintext": b64(b"x")});
        h.fails(&bob, "Encrypt", enc, denied);
        let gen = json!({"KeyId": "alias/aws/ebs", "NumberOfBytes": 64});
        h.fails(&admin(), "GenerateDataKeyWithoutPlaintext", gen, denied);
        h.call(&bob, "ListGrants", json!({"KeyId": ebs_arn}))
            .unwrap();
        h.tx(|kms, tx| {
            let k = kms.aws_ebs_key(tx, &bob)?;
            kms.generate_data_key(tx, &bob, &k, "vol-1", crate::xts::XtsCipher::Aes256Xts)
        })
        .unwrap();
    }

    #[test]
    fn alias_rules() {
        let mut h = Home::new();
        let k1 = h.create_key(&admin());
        let k2 = h.create_key(&admin());
        let create = |name: &str, target: &str| json!({"AliasName": name, "TargetKeyId": target});
        let na = Code::NOT_AUTHORIZED_EXCEPTION;
        h.fails(&admin(), "CreateAlias", create("alias/aws/foo", &k1), na);
        let v = Code::VALIDATION_EXCEPTION;
        let long = format!("alias/{}", "a".repeat(251));
        for bad in ["k1", "alias/", "alias/a b", "alias/ü", "", long.as_str()] {
            h.fails(&admin(), "CreateAlias", create(bad, &k1), v);
        }
        h.call(&admin(), "CreateAlias", create(&long[..256], &k1))
            .unwrap();
        h.call(&admin(), "CreateAlias", create("alias/Team_1/k-1", &k1))
            .unwrap();
        let msg = h.fails(
            &admin(),
            "CreateAlias",
            create("alias/Team_1/k-1", &k2),
            Code::ALREADY_EXISTS_EXCEPTION,
        );
        let alias = format!("arn:aws:kms:{REGION}:{ACCT}:alias/Team_1/k-1");
        assert_eq!(
            msg,
            format!("An alias with the name {alias} already exists")
        );
        h.fails(
            &admin(),
            "CreateAlias",
            create("alias/x", "alias/Team_1/k-1"),
            v,
        );
        h.fails(
            &admin(),
            "CreateAlias",
            create(
                "alias/x",
                &format!("arn:aws:kms:{REGION}:{ACCT}:alias/Team_1/k-1"),
            ),
            v,
        );
        let missing = "0000abcd-12ab-34cd-56ef-1234567890ab";
        h.fails(
            &admin(),
            "CreateAlias",
            create("alias/x", missing),
            Code::NOT_FOUND_EXCEPTION,
        );
        h.fails(
            &user("bob"),
            "CreateAlias",
            create("alias/x", &k1),
            Code::ACCESS_DENIED_EXCEPTION,
        );

        // The same name may exist in another region.
        let west = crate::kms::Caller::new("us-west-2", ACCT, "admin");
        let kw = h.create_key(&west);
        h.call(&west, "CreateAlias", create("alias/Team_1/k-1", &kw))
            .unwrap();

        // UpdateAlias re-points; ListAliases by key follows.
        h.call(
            &admin(),
            "UpdateAlias",
            create("alias/Team_1/k-1", &arn(&k2)),
        )
        .unwrap();
        let by_key = |h: &mut Home, k: &str| -> Vec<String> {
            let out = h
                .call(&admin(), "ListAliases", json!({"KeyId": k}))
                .unwrap();
            out["Aliases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["AliasName"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(by_key(&mut h, &k2), ["alias/Team_1/k-1"]);
        assert_eq!(by_key(&mut h, &k1), [long[..256].to_owned()]);
        h.fails(
            &admin(),
            "ListAliases",
            json!({"KeyId": "alias/Team_1/k-1"}),
            Code::INVALID_ARN_EXCEPTION,
        );
        let msg = h.fails(
            &admin(),
            "UpdateAlias",
            create("alias/nope", &k1),
            Code::NOT_FOUND_EXCEPTION,
        );
        assert_eq!(
            msg,
            format!("Alias arn:aws:kms:{REGION}:{ACCT}:alias/nope is not found.")
        );

        // A key pending deletion can lose aliases but not gain them.
        h.call(&admin(), "ScheduleKeyDeletion", json!({"KeyId": k2}))
            .unwrap();
        let inv = Code::KMS_INVALID_STATE_EXCEPTION;
        h.fails(&admin(), "CreateAlias", create("alias/y", &k2), inv);
        h.fails(&admin(), "UpdateAlias", create(&long[..256], &k2), inv);
        h.call(
            &admin(),
            "DeleteAlias",
            json!({"AliasName": "alias/Team_1/k-1"}),
        )
        .unwrap();
        h.fails(
            &admin(),
            "DeleteAlias",
            json!({"AliasName": "alias/Team_1/k-1"}),
            Code::NOT_FOUND_EXCEPTION,
        );
        assert!(by_key(&mut h, &k2).is_empty());
    }

    #[test]
    fn list_aliases_and_keys_page() {
        let mut h = Home::new();
        let ids: Vec<String> = (0..3).map(|_| h.create_key(&admin())).collect();
        let first = h.call(&admin(), "ListKeys", json!({"Limit": 2})).unwrap();
        assert_eq!(first["Truncated"], true);
        assert_eq!(first["Keys"].as_array().unwrap().len(), 2);
        let marker = first["NextMarker"].as_str().unwrap();
        let rest = h
            .call(&admin(), "ListKeys", json!({"Limit": 2, "Marker": marker}))
            .unwrap();
        assert_eq!(rest["Truncated"], false);
        assert!(rest.get("NextMarker").is_none());
        let mut seen: Vec<String> = first["Keys"]
            .as_array()
            .unwrap()
            .iter()
            .chain(rest["Keys"].as_array().unwrap())
            .map(|k| k["KeyId"].as_str().unwrap().to_owned())
            .collect();
        seen.sort();
        let mut want = ids.clone();
        want.sort();
        assert_eq!(seen, want);
        h.fails(
            &admin(),
            "ListKeys",
            json!({"Limit": 0}),
            Code::VALIDATION_EXCEPTION,
        );
        h.fails(
            &admin(),
            "ListKeys",
            json!({"Limit": 1001}),
            Code::VALIDATION_EXCEPTION,
        );
        let other = crate::kms::Caller::new("ap-south-1", ACCT, "admin");
        assert_eq!(
            h.call(&other, "ListKeys", json!({})).unwrap()["Keys"],
            json!([])
        );

        h.call(
            &admin(),
            "CreateAlias",
            json!({"AliasName": "alias/b", "TargetKeyId": ids[0]}),
        )
        .unwrap();
        h.call(
            &admin(),
            "CreateAlias",
            json!({"AliasName": "alias/a", "TargetKeyId": ids[1]}),
        )
        .unwrap();
        let all = h.call(&admin(), "ListAliases", json!({})).unwrap();
        let names: Vec<&str> = all["Aliases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["AliasName"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["alias/a", "alias/aws/ebs", "alias/b"]);
        let a = &all["Aliases"][0];
        assert_eq!(a["TargetKeyId"], ids[1]);
        assert_eq!(
            a["AliasArn"],
            format!("arn:aws:kms:{REGION}:{ACCT}:alias/a")
        );
        assert!(a["CreationDate"].is_string());
        let p = h
            .call(
                &admin(),
                "ListAliases",
                json!({"Limit": 1, "Marker": "alias/a"}),
            )
            .unwrap();
        assert_eq!(p["Aliases"][0]["AliasName"], "alias/aws/ebs");
        assert_eq!(p["Truncated"], true);
    }

    #[test]
    fn grants() {
        let mut h = Home::new();
        let id = h.create_key(&admin());
        let bob = user("bob");
        let enc = json!({"KeyId": id, "Plaintext": b64(b"secret")});
        h.fails(&bob, "Encrypt", enc.clone(), Code::ACCESS_DENIED_EXCEPTION);

        let grant = |ops: Value| {
            let mut g = json!({"KeyId": id, "GranteePrincipal": "bob", "Name": "g1"});
            g["Operations"] = ops;
            g
        };
        let v = Code::VALIDATION_EXCEPTION;
        h.fails(
            &admin(),
            "CreateGrant",
            grant(json!(["Encrypt", "Sign"])),
            v,
        );
        h.fails(&admin(), "CreateGrant", grant(json!(["DisableKey"])), v);
        h.fails(&admin(), "CreateGrant", grant(json!([])), v);
        h.fails(
            &admin(),
            "CreateGrant",
            json!({"KeyId": id, "Operations": ["Encrypt"]}),
            v,
        );
        for bad in [
            "arn:aws:iam::12:user/x",
            "arn:aws:iam::111122223333:group/x",
            "a b",
            "x/y",
        ] {
            let req = json!({"KeyId": id, "GranteePrincipal": bad, "Operations": ["Encrypt"]});
            h.fails(&admin(), "CreateGrant", req, v);
        }
        let constrained = json!({
            "KeyId": id,
            "GranteePrincipal": "bob",
            "Operations": ["DescribeKey"],
            "Constraints": {"EncryptionContextEquals": {"a": "1"}},
        });
        h.fails(&admin(), "CreateGrant", constrained, v);
        h.call(
            &admin(),
            "CreateAlias",
            json!({"AliasName": "alias/k", "TargetKeyId": id}),
        )
        .unwrap();
        let by_alias =
            json!({"KeyId": "alias/k", "GranteePrincipal": "bob", "Operations": ["Encrypt"]});
        let msg = h.fails(
            &admin(),
            "CreateGrant",
            by_alias,
            Code::INVALID_ARN_EXCEPTION,
        );
        assert_eq!(msg, "Key Aliases are not supported for this operation.");
        h.fails(
            &bob,
            "CreateGrant",
            grant(json!(["Encrypt"])),
            Code::ACCESS_DENIED_EXCEPTION,
        );

        let out = h
            .call(
                &admin(),
                "CreateGrant",
                grant(json!(["Encrypt", "Decrypt", "Encrypt"])),
            )
            .unwrap();
        let grant_id = out["GrantId"].as_str().unwrap().to_owned();
        assert_eq!(grant_id.len(), 64);
        assert!(grant_id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(out["GrantToken"].as_str().unwrap().len() > 100);

        let ct = h.call(&bob, "Encrypt", enc).unwrap();
        let dec = json!({"CiphertextBlob": ct["CiphertextBlob"]});
        assert_eq!(
            h.call(&bob, "Decrypt", dec.clone()).unwrap()["Plaintext"],
            b64(b"secret")
        );
        h.fails(
            &bob,
            "DescribeKey",
            json!({"KeyId": id}),
            Code::ACCESS_DENIED_EXCEPTION,
        );
        h.fails(
            &user("carol"),
            "Decrypt",
            dec.clone(),
            Code::ACCESS_DENIED_EXCEPTION,
        );

        let list = h
            .call(&admin(), "ListGrants", json!({"KeyId": arn(&id)}))
            .unwrap();
        let g = &list["Grants"][0];
        assert_eq!(list["Grants"].as_array().unwrap().len(), 1);
        assert_eq!(g["GrantId"], grant_id);
        assert_eq!(g["KeyId"], arn(&id));
        assert_eq!(g["Name"], "g1");
        assert_eq!(
            g["GranteePrincipal"],
            format!("arn:aws:iam::{ACCT}:user/bob")
        );
        assert_eq!(g["IssuingAccount"], format!("arn:aws:iam::{ACCT}:root"));
        assert_eq!(g["Operations"], json!(["Encrypt", "Decrypt"]));
        h.fails(
            &bob,
            "ListGrants",
            json!({"KeyId": id}),
            Code::ACCESS_DENIED_EXCEPTION,
        );

        // A grantee holding CreateGrant passes on at most what it holds.
        let relay_ops = json!(["CreateGrant", "Decrypt"]);
        let relay = json!({"KeyId": id, "GranteePrincipal": "carol", "Operations": relay_ops});
        h.call(&admin(), "CreateGrant", relay).unwrap();
        let carol = user("carol");
        let sub = json!({"KeyId": id, "GranteePrincipal": "dave", "Operations": ["Decrypt"]});
        h.call(&carol, "CreateGrant", sub).unwrap();
        let more = json!({"KeyId": id, "GranteePrincipal": "dave", "Operations": ["Encrypt"]});
        h.fails(&carol, "CreateGrant", more, Code::ACCESS_DENIED_EXCEPTION);
        h.call(&user("dave"), "Decrypt", dec.clone()).unwrap();

        // Grants on disabled or pending keys: listing and revoking work, creating does not.
        h.call(&admin(), "DisableKey", json!({"KeyId": id}))
            .unwrap();
        let msg = h.fails(
            &admin(),
            "CreateGrant",
            grant(json!(["Encrypt"])),
            Code::DISABLED_EXCEPTION,
        );
        assert_eq!(msg, format!("{} is disabled.", arn(&id)));
        h.fails(&bob, "Decrypt", dec.clone(), Code::DISABLED_EXCEPTION);
        h.call(&admin(), "ScheduleKeyDeletion", json!({"KeyId": id}))
            .unwrap();
        h.fails(
            &admin(),
            "CreateGrant",
            grant(json!(["Encrypt"])),
            Code::KMS_INVALID_STATE_EXCEPTION,
        );
        let n = h
            .call(&admin(), "ListGrants", json!({"KeyId": id}))
            .unwrap()["Grants"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(n, 3);
        let filtered = h
            .call(
                &admin(),
                "ListGrants",
                json!({"KeyId": id, "GranteePrincipal": "bob"}),
            )
            .unwrap();
        assert_eq!(filtered["Grants"].as_array().unwrap().len(), 1);
        h.call(
            &admin(),
            "RevokeGrant",
            json!({"KeyId": id, "GrantId": grant_id}),
        )
        .unwrap();
        h.fails(
            &admin(),
            "RevokeGrant",
            json!({"KeyId": id, "GrantId": grant_id}),
            Code::NOT_FOUND_EXCEPTION,
        );
        h.call(&admin(), "CancelKeyDeletion", json!({"KeyId": id}))
            .unwrap();
        h.call(&admin(), "EnableKey", json!({"KeyId": id})).unwrap();
        h.fails(&bob, "Decrypt", dec, Code::ACCESS_DENIED_EXCEPTION);
    }

    #[test]
    fn encrypt_and_decrypt() {
        let mut h = Home::new();
        let id = h.create_key(&admin());
        h.call(
            &admin(),
            "CreateAlias",
            json!({"AliasName": "alias/k", "TargetKeyId": id}),
        )
        .unwrap();
        let ctx = json!({"purpose": "test", "aws:ebs:id": "vol-1"});
        let enc = json!({"KeyId": "alias/k", "Plaintext": b64(b"hello"), "EncryptionContext": ctx});
        let out = h.call(&admin(), "Encrypt", enc).unwrap();
        assert_eq!(out["KeyId"], arn(&id));
        assert_eq!(out["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
        let blob = out["CiphertextBlob"].as_str().unwrap();

        let dec = |ctx: Value| json!({"CiphertextBlob": blob, "EncryptionContext": ctx});
        let got = h
            .call(
                &admin(),
                "Decrypt",
                dec(json!({"aws:ebs:id": "vol-1", "purpose": "test"})),
            )
            .unwrap();
        assert_eq!(got["Plaintext"], b64(b"hello"));
        assert_eq!(got["KeyId"], arn(&id));
        let bad = Code::INVALID_CIPHERTEXT_EXCEPTION;
        h.fails(
            &admin(),
            "Decrypt",
            dec(json!({"aws:ebs:id": "vol-2", "purpose": "test"})),
            bad,
        );
        h.fails(&admin(), "Decrypt", dec(json!({"purpose": "test"})), bad);
        h.fails(&admin(), "Decrypt", json!({"CiphertextBlob": blob}), bad);

        // KeyId, when given, must name the key that encrypted.
        let with_key =
            |k: &str| json!({"CiphertextBlob": blob, "KeyId": k, "EncryptionContext": ctx});
        h.call(&admin(), "Decrypt", with_key("alias/k")).unwrap();
        h.call(&admin(), "Decrypt", with_key(&arn(&id))).unwrap();
        let other = h.create_key(&admin());
        h.fails(
            &admin(),
            "Decrypt",
            with_key(&other),
            Code::INCORRECT_KEY_EXCEPTION,
        );

        // Tampered, truncated or foreign blobs.
        let mut raw = base64::decode(blob).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        h.fails(
            &admin(),
            "Decrypt",
            json!({"CiphertextBlob": b64(&raw), "EncryptionContext": ctx}),
            bad,
        );
        h.fails(
            &admin(),
            "Decrypt",
            json!({"CiphertextBlob": b64(&raw[..10])}),
            bad,
        );
        h.fails(
            &admin(),
            "Decrypt",
            json!({"CiphertextBlob": b64(b"garbage")}),
            bad,
        );
        h.fails(
            &admin(),
            "Decrypt",
            json!({"CiphertextBlob": "not base64!"}),
            Code::VALIDATION_EXCEPTION,
        );
        let west = crate::kms::Caller::new("us-west-2", ACCT, "admin");
        h.fails(
            &west,
            "Decrypt",
            json!({"CiphertextBlob": blob, "EncryptionContext": ctx}),
            bad,
        );

        h.fails(
            &admin(),
            "Encrypt",
            json!({"KeyId": id, "Plaintext": ""}),
            Code::VALIDATION_EXCEPTION,
        );
        let big = b64(&[0u8; 4097]);
        h.fails(
            &admin(),
            "Encrypt",
            json!({"KeyId": id, "Plaintext": big}),
            Code::VALIDATION_EXCEPTION,
        );
        let rsa =
            json!({"KeyId": id, "Plaintext": b64(b"x"), "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"});
        h.fails(&admin(), "Encrypt", rsa, Code::VALIDATION_EXCEPTION);
        h.call(&admin(), "DisableKey", json!({"KeyId": id}))
            .unwrap();
        h.fails(
            &admin(),
            "Decrypt",
            dec(ctx.clone()),
            Code::DISABLED_EXCEPTION,
        );
    }

    #[test]
    fn decrypt_never_returns_a_volume_data_key() {
        let mut h = Home::new();
        let id = h.create_key(&admin());
        let (w, _) = h
            .tx(|kms, tx| {
                let k = kms.resolve(tx, &admin(), &id)?;
                kms.generate_data_key(tx, &admin(), &k, "vol-1", XtsCipher::Aes256Xts)
            })
            .unwrap();
        let req =
            json!({"CiphertextBlob": b64(&w.blob), "EncryptionContext": {"aws:ebs:id": "vol-1"}});
        let msg = h.fails(&admin(), "Decrypt", req, Code::INVALID_CIPHERTEXT_EXCEPTION);
        assert!(msg.contains("EBS data key"), "{msg}");
        // Nor does a KMS API ciphertext pass for a wrapped data key.
        let ctx = json!({"aws:ebs:id": "vol-1"});
        let req = json!({"KeyId": id, "NumberOfBytes": 64, "EncryptionContext": ctx});
        let out = h
            .call(&admin(), "GenerateDataKeyWithoutPlaintext", req)
            .unwrap();
        let blob = base64::decode(out["CiphertextBlob"].as_str().unwrap()).unwrap();
        let forged = crate::kms::WrappedKey { blob, ..w };
        let e = h
            .tx(|kms, tx| kms.unwrap_data_key(tx, &admin(), &forged, "vol-1"))
            .err()
            .unwrap();
        assert_eq!(e.code(), Code::INVALID_CIPHERTEXT_EXCEPTION);
    }

    #[test]
    fn generate_data_key_without_plaintext() {
        let mut h = Home::new();
        let id = h.create_key(&admin());
        let v = Code::VALIDATION_EXCEPTION;
        let gen = |extra: Value| {
            let mut r = json!({"KeyId": id});
            r.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            r
        };
        h.fails(
            &admin(),
            "GenerateDataKeyWithoutPlaintext",
            gen(json!({})),
            v,
        );
        h.fails(
            &admin(),
            "GenerateDataKeyWithoutPlaintext",
            gen(json!({"KeySpec": "AES_256", "NumberOfBytes": 32})),
            v,
        );
        for n in [0, 1025] {
            h.fails(
                &admin(),
                "GenerateDataKeyWithoutPlaintext",
                gen(json!({"NumberOfBytes": n})),
                v,
            );
        }
        h.fails(
            &admin(),
            "GenerateDataKeyWithoutPlaintext",
            gen(json!({"KeySpec": "AES_512"})),
            v,
        );
        for (extra, len) in [
            (json!({"KeySpec": "AES_128"}), 16),
            (json!({"NumberOfBytes": 1024}), 1024),
        ] {
            let out = h
                .call(&admin(), "GenerateDataKeyWithoutPlaintext", gen(extra))
                .unwrap();
            assert_eq!(out["KeyId"], arn(&id));
            assert!(out.get("Plaintext").is_none());
            let pt = h
                .call(
                    &admin(),
                    "Decrypt",
                    json!({"CiphertextBlob": out["CiphertextBlob"]}),
                )
                .unwrap();
            assert_eq!(
                base64::decode(pt["Plaintext"].as_str().unwrap())
                    .unwrap()
                    .len(),
                len
            );
        }
        h.call(&admin(), "DisableKey", json!({"KeyId": id}))
            .unwrap();
        let msg = h.fails(
            &admin(),
            "GenerateDataKeyWithoutPlaintext",
            gen(json!({"NumberOfBytes": 64})),
            Code::DISABLED_EXCEPTION,
        );
        assert_eq!(msg, format!("{} is disabled.", arn(&id)));
    }

    #[test]
    fn principals() {
        let a = "111122223333";
        assert_eq!(
            principal_arn(a, "bob").unwrap(),
            "arn:aws:iam::111122223333:user/bob"
        );
        for ok in [
            "arn:aws:iam::444455556666:user/x",
            "arn:aws:iam::444455556666:role/path/r",
            "arn:aws:iam::444455556666:root",
        ] {
            assert_eq!(principal_arn(a, ok).as_deref(), Some(ok));
        }
        for bad in [
            "",
            "a/b",
            "arn:aws:iam::4444:user/x",
            "arn:aws:iam::444455556666:user/",
            "arn:aws:iam::444455556666:group/g",
        ] {
            assert_eq!(principal_arn(a, bad), None, "{bad}");
        }
    }
}
