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
        K::GenerateDataKeyWithoutPlaintext(r) => {
            generate_data_key(kms, tx, caller, &checked(r)?, false)?
        }
        K::Encrypt(r) => O::Encrypt(encrypt(kms, tx, caller, &checked(r)?)?),
        K::Decrypt(r) => O::Decrypt(decrypt(kms, tx, caller, &checked(r)?)?),
        K::TagResource(r) => {
            O::TagResource(super::tags::tag_resource(kms, tx, caller, &checked(r)?)?)
        }
        K::UntagResource(r) => {
            O::UntagResource(super::tags::untag_resource(kms, tx, caller, &checked(r)?)?)
        }
        K::ListResourceTags(r) => O::ListResourceTags(super::tags::list_resource_tags(
            kms,
            tx,
            caller,
            &checked(r)?,
        )?),
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
        K::GenerateDataKey(r) => generate_data_key(kms, tx, caller, &checked(r)?, true)?,
        K::ReEncrypt(r) => O::ReEncrypt(re_encrypt(kms, tx, caller, &checked(r)?)?),
        K::GenerateRandom(r) => O::GenerateRandom(generate_random(&checked(r)?)),
        K::UpdateKeyDescription(r) => {
            O::UpdateKeyDescription(update_key_description(kms, tx, caller, &checked(r)?)?)
        }
        K::RetireGrant(r) => O::RetireGrant(retire_grant(kms, tx, caller, &checked(r)?)?),
        K::ListRetirableGrants(r) => {
            O::ListRetirableGrants(list_retirable_grants(tx, caller, &checked(r)?)?)
        }
        K::EnableKeyRotation(r) => {
            let r = checked(r)?;
            let days = r.rotation_period_in_days.unwrap_or(365);
            O::EnableKeyRotation(set_rotation(kms, tx, caller, &r.key_id, Some(days))?)
        }
        K::DisableKeyRotation(r) => {
            O::DisableKeyRotation(set_rotation(kms, tx, caller, &checked(r)?.key_id, None)?)
        }
        K::GetKeyRotationStatus(r) => {
            O::GetKeyRotationStatus(get_key_rotation_status(kms, tx, caller, &checked(r)?)?)
        }
        K::RotateKeyOnDemand(r) => {
            O::RotateKeyOnDemand(rotate_key_on_demand(kms, tx, caller, &checked(r)?)?)
        }
        K::ListKeyRotations(r) => {
            O::ListKeyRotations(list_key_rotations(kms, tx, caller, &checked(r)?)?)
        }
    })
}

/// A page's size (`Limit`, `max` if absent: the parser kept it within 1..=`max`) and `Marker`.
pub(super) fn paging(limit: Option<i64>, marker: Option<&str>, max: i64) -> (usize, Option<&str>) {
    (limit.unwrap_or(max) as usize, marker)
}

/// One page of a listing: its items, and the response members `Truncated` and `NextMarker`.
pub(super) struct Page<T> {
    pub(super) items: Vec<T>,
    pub(super) truncated: bool,
    pub(super) next_marker: Option<String>,
}

/// One page of `items` (sorted by `id`) after `marker`.
pub(super) fn page<T>(
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
pub(super) fn resolve_key_only(
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

pub(super) fn aliases_not_supported() -> Error {
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
    super::tags::add(tx, &key, &req.tags)?;
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
    let grant = put_grant(
        tx,
        &key,
        NewGrant {
            name: req.name.clone(),
            grantee,
            retiring,
            operations,
            constraints,
        },
    )?;
    Ok(rs::CreateGrantResponse {
        grant_id: grant.grant_id,
        grant_token: grant.token,
    })
}

/// What a new grant says; [`put_grant`] adds its id, token and date.
pub(super) struct NewGrant {
    pub name: Option<String>,
    pub grantee: String,
    pub retiring: Option<String>,
    pub operations: Vec<String>,
    pub constraints: Option<Constraints>,
}

/// Stores a grant on `key` with a fresh id and token. Whoever calls has checked that it may.
pub(super) fn put_grant(tx: &Tx, key: &KeyRecord, new: NewGrant) -> Result<GrantRecord> {
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
        name: new.name,
        grantee: new.grantee,
        retiring: new.retiring,
        operations: new.operations,
        constraints: new.constraints,
        token: base64::encode(&token),
        creation_millis: clock::now_millis(),
    };
    tx.put(&grant)?;
    Ok(grant)
}

fn list_grants(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::ListGrants,
) -> Result<rs::ListGrantsResponse> {
    let grant_id = req.grant_id.as_deref();
    // The grantee of a grant EC2 made for an attachment is named as ListGrants shows it.
    let grantee = (req.grantee_principal.as_deref())
        .map(|p| match super::is_ec2_instance_principal(p) {
            true => Ok(p.to_owned()),
            false => principal(caller, "GranteePrincipal", p),
        })
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

fn encrypt(kms: &Kms, tx: &Tx, caller: &Caller, req: &rq::Encrypt) -> Result<rs::EncryptResponse> {
    let plaintext = decode_blob("Plaintext", &req.plaintext, 4096)?;
    let context: &Context = &req.encryption_context;
    let key = kms.resolve(tx, caller, &req.key_id)?;
    policy::check(&key, caller, Action::Encrypt, Some(context), Via::Api)?;
    let (blob, _) = seal_current(kms, &key, context, &plaintext)?;
    Ok(rs::EncryptResponse {
        ciphertext_blob: base64::encode(&blob),
        key_id: key.arn,
        encryption_algorithm: "SYMMETRIC_DEFAULT".to_owned(),
    })
}

/// Seals `plaintext` under `key`'s newest material; returns the blob and the material version.
fn seal_current(
    kms: &Kms,
    key: &KeyRecord,
    context: &Context,
    plaintext: &[u8],
) -> Result<(Vec<u8>, u32)> {
    let (version, material) = kms.current_material(key)?;
    let blob = crypto::seal_user_v2(
        &material,
        &random_nonce(),
        &key.arn,
        version,
        context,
        plaintext,
    );
    Ok((blob, version))
}

/// The key a KMS API ciphertext names, checked against `key_ref` (the request's `KeyId` or
/// `SourceKeyId`) if given, and the material version it names.
///
/// # Errors
/// `InvalidCiphertextException` for a blob that is no KMS ciphertext or names a key of another
/// region; `NotFoundException` if its key is gone; `IncorrectKeyException` if `key_ref` names
/// another key.
fn ciphertext_key(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    blob: &[u8],
    key_ref: Option<&str>,
) -> Result<(KeyRecord, u32)> {
    let (arn, version) = crypto::user_blob_header(blob).map_err(invalid_ciphertext)?;
    // A ciphertext of another region's key cannot be decrypted here, as in AWS.
    let here = store::split_kms_arn(arn).is_some_and(|(region, _, _)| region == caller.region);
    if !here {
        bail!(
            Code::INVALID_CIPHERTEXT_EXCEPTION,
            "The ciphertext names a key of another region"
        );
    }
    let key = kms.key_by_arn(tx, arn)?;
    if let Some(key_ref) = key_ref {
        if kms.resolve(tx, caller, key_ref)?.key_id != key.key_id {
            bail!(
                Code::INCORRECT_KEY_EXCEPTION,
                "The key ID in the request does not identify a KMS key that can perform this \
                 operation."
            );
        }
    }
    Ok((key, version))
}

/// Opens a KMS API ciphertext of `key` under the material `version` it names.
fn open_ciphertext(
    kms: &Kms,
    key: &KeyRecord,
    version: u32,
    context: &Context,
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let material = kms.material_at(key, version)?;
    crypto::open_any_user(&material, &key.arn, context, blob).map_err(invalid_ciphertext)
}

fn decrypt(kms: &Kms, tx: &Tx, caller: &Caller, req: &rq::Decrypt) -> Result<rs::DecryptResponse> {
    let blob = decode_blob("CiphertextBlob", &req.ciphertext_blob, 6144)?;
    let context: &Context = &req.encryption_context;
    let (key, version) = ciphertext_key(kms, tx, caller, &blob, req.key_id.as_deref())?;
    policy::check(&key, caller, Action::Decrypt, Some(context), Via::Api)?;
    let plaintext = open_ciphertext(kms, &key, version, context, &blob)?;
    Ok(rs::DecryptResponse {
        plaintext: Plaintext::new(base64::encode(&plaintext)),
        key_id: key.arn,
        encryption_algorithm: "SYMMETRIC_DEFAULT".to_owned(),
    })
}

/// `GenerateDataKey` (`with_plaintext`) and `GenerateDataKeyWithoutPlaintext`: a fresh random
/// key sealed under the request's key, answered with its plaintext only for the former. Each is
/// its own action for policies and grants.
fn generate_data_key(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::GenerateDataKey,
    with_plaintext: bool,
) -> Result<KmsResponse> {
    let action = if with_plaintext {
        Action::GenerateDataKey
    } else {
        Action::GenerateDataKeyWithoutPlaintext
    };
    let len = data_key_len(req.key_spec.as_deref(), req.number_of_bytes)?;
    let context: &Context = &req.encryption_context;
    let key = kms.resolve(tx, caller, &req.key_id)?;
    policy::check(&key, caller, action, Some(context), Via::Api)?;
    let mut plaintext = Zeroizing::new(vec![0u8; len]);
    fill_random(&mut plaintext);
    let (blob, version) = seal_current(kms, &key, context, &plaintext)?;
    let ciphertext_blob = base64::encode(&blob);
    let key_material_id = crypto::key_material_id(&key.arn, version);
    Ok(if with_plaintext {
        KmsResponse::GenerateDataKey(rs::GenerateDataKeyResponse {
            ciphertext_blob,
            plaintext: Plaintext::new(base64::encode(&plaintext)),
            key_id: key.arn,
            key_material_id,
        })
    } else {
        KmsResponse::GenerateDataKeyWithoutPlaintext(rs::GenerateDataKeyWithoutPlaintextResponse {
            ciphertext_blob,
            key_id: key.arn,
            key_material_id: Some(key_material_id),
        })
    })
}

fn re_encrypt(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::ReEncrypt,
) -> Result<rs::ReEncryptResponse> {
    let blob = decode_blob("CiphertextBlob", &req.ciphertext_blob, 6144)?;
    let (source, version) = ciphertext_key(kms, tx, caller, &blob, req.source_key_id.as_deref())?;
    let from: &Context = &req.source_encryption_context;
    policy::check(&source, caller, Action::ReEncryptFrom, Some(from), Via::Api)?;
    let dest = kms.resolve(tx, caller, &req.destination_key_id)?;
    let to: &Context = &req.destination_encryption_context;
    policy::check(&dest, caller, Action::ReEncryptTo, Some(to), Via::Api)?;
    let plaintext = open_ciphertext(kms, &source, version, from, &blob)?;
    let (out, dest_version) = seal_current(kms, &dest, to, &plaintext)?;
    Ok(rs::ReEncryptResponse {
        ciphertext_blob: base64::encode(&out),
        source_key_material_id: crypto::key_material_id(&source.arn, version),
        destination_key_material_id: crypto::key_material_id(&dest.arn, dest_version),
        source_key_id: source.arn,
        key_id: dest.arn,
        source_encryption_algorithm: "SYMMETRIC_DEFAULT".to_owned(),
        destination_encryption_algorithm: "SYMMETRIC_DEFAULT".to_owned(),
    })
}

fn generate_random(req: &rq::GenerateRandom) -> rs::GenerateRandomResponse {
    // Checked to be 1..=1024 and present by the parser.
    let len = req.number_of_bytes.unwrap_or(32) as usize;
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    fill_random(&mut bytes);
    rs::GenerateRandomResponse {
        plaintext: Plaintext::new(base64::encode(&bytes)),
    }
}

fn update_key_description(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::UpdateKeyDescription,
) -> Result<Empty> {
    let mut key = resolve_key_only(kms, tx, caller, &req.key_id, aliases_not_supported)?;
    policy::check(&key, caller, Action::UpdateKeyDescription, None, Via::Api)?;
    key.description = req.description.clone();
    tx.put(&key)?;
    Ok(Empty {})
}

// ----- retiring grants -----

fn retire_grant(kms: &Kms, tx: &Tx, caller: &Caller, req: &rq::RetireGrant) -> Result<Empty> {
    let grant = match &req.grant_token {
        Some(token) => {
            let found = tx
                .list::<GrantRecord>(&caller.region)?
                .into_iter()
                .find(|g| &g.token == token);
            let grant = found.ok_or_else(|| {
                Error::new(
                    Code::INVALID_GRANT_TOKEN_EXCEPTION,
                    "The grant token is not valid: it names no grant of this region",
                )
            })?;
            // A token given with a KeyId or GrantId must be that grant's.
            if let Some(id) = &req.grant_id {
                if id != &grant.grant_id {
                    bail!(
                        Code::INVALID_GRANT_ID_EXCEPTION,
                        "Grant ID {id} does not match the grant token"
                    );
                }
            }
            if let Some(key_ref) = &req.key_id {
                let key = resolve_key_only(kms, tx, caller, key_ref, aliases_not_supported)?;
                if key.key_id != grant.key_id {
                    bail!(
                        Code::INVALID_GRANT_TOKEN_EXCEPTION,
                        "The grant token belongs to a grant of another key"
                    );
                }
            }
            grant
        }
        None => {
            let (Some(key_ref), Some(id)) = (&req.key_id, &req.grant_id) else {
                bail!(
                    Code::VALIDATION_EXCEPTION,
                    "Either a GrantToken, or both the KeyId and the GrantId, must be specified"
                );
            };
            let key = resolve_key_only(kms, tx, caller, key_ref, aliases_not_supported)?;
            key.grants
                .iter()
                .find(|g| &g.grant_id == id)
                .cloned()
                .ok_or_else(|| {
                    Error::new(
                        Code::NOT_FOUND_EXCEPTION,
                        format!("Grant ID {id} not found for key {}", key.arn),
                    )
                })?
        }
    };
    if !may_retire(&grant, caller) {
        return Err(policy::access_denied(
            caller,
            Action::RetireGrant,
            &grant.key_arn,
        ));
    }
    tx.delete::<GrantRecord>(&grant.grant_id)?;
    Ok(Empty {})
}

/// AWS's rule of who may retire a grant: its retiring principal; its grantee, if the grant
/// lists `RetireGrant`; and the account that issued it (its root, and here its `admin`, who
/// stands for the account's key administrators).
fn may_retire(grant: &GrantRecord, caller: &Caller) -> bool {
    let me = caller.principal.as_str();
    let retiring = grant.retiring.as_deref() == Some(me);
    let grantee =
        grant.names(me, &caller.account) && grant.operations.iter().any(|o| o == "RetireGrant");
    let issuer = caller.account == grant.account
        && (me == store::admin_arn(&grant.account)
            || me == store::account_root_arn(&grant.account));
    retiring || grantee || issuer
}

fn list_retirable_grants(
    tx: &Tx,
    caller: &Caller,
    req: &rq::ListRetirableGrants,
) -> Result<rs::ListGrantsResponse> {
    let principal = principal(caller, "RetiringPrincipal", &req.retiring_principal)?;
    // A principal may list its own retirable grants; the account's admin anyone's.
    let admin = caller.principal == store::admin_arn(&caller.account);
    if principal != caller.principal && !admin {
        bail!(
            Code::ACCESS_DENIED_EXCEPTION,
            "User: {} is not authorized to perform: kms:ListRetirableGrants for principal {principal}",
            caller.principal
        );
    }
    let paging = paging(req.limit, req.marker.as_deref(), 50);
    let mut grants: Vec<GrantRecord> = tx
        .list::<GrantRecord>(&caller.region)?
        .into_iter()
        .filter(|g| g.account == caller.account && g.retiring.as_deref() == Some(&principal))
        .collect();
    grants.sort_by(|a, b| a.grant_id.cmp(&b.grant_id));
    let grants = page(grants, paging, |g| g.grant_id.clone());
    Ok(rs::ListGrantsResponse {
        truncated: grants.truncated,
        next_marker: grants.next_marker,
        grants: grants.items.iter().map(|g| g.listing()).collect(),
    })
}

// ----- key rotation -----

/// At most this many on-demand rotations per key (AWS's quota).
const ON_DEMAND_ROTATION_LIMIT: usize = 10;

/// A customer managed key with material of its own, for the rotation operations: an AWS managed
/// key's rotation cannot be changed, and a key with imported material is not rotated by KMS.
fn rotatable(key: &KeyRecord, what: &str) -> Result<()> {
    if key.key_manager == KeyManager::Aws {
        bail!(
            Code::UNSUPPORTED_OPERATION_EXCEPTION,
            "{} is an AWS managed key: it rotates every year, and {what} is not supported for it",
            key.arn
        );
    }
    if key.origin == store::Origin::External {
        bail!(
            Code::UNSUPPORTED_OPERATION_EXCEPTION,
            "{} has imported key material: {what} is not supported for it",
            key.arn
        );
    }
    Ok(())
}

/// EnableKeyRotation (`period_days` given) and DisableKeyRotation (`None`).
fn set_rotation(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    key_ref: &str,
    period_days: Option<i64>,
) -> Result<Empty> {
    let mut key = resolve_key_only(kms, tx, caller, key_ref, aliases_not_supported)?;
    let action = match period_days {
        Some(_) => Action::EnableKeyRotation,
        None => Action::DisableKeyRotation,
    };
    rotatable(&key, action.name())?;
    policy::check(&key, caller, action, None, Via::Api)?;
    match period_days {
        Some(days) => {
            // As AWS: the first rotation comes a period after rotation is (re-)enabled.
            key.rotation.period_days = Some(days as u32);
            key.rotation.next_millis = Some(clock::now_millis() + days * DAY_MILLIS);
        }
        None => {
            key.rotation.period_days = None;
            key.rotation.next_millis = None;
        }
    }
    tx.put(&key)?;
    Ok(Empty {})
}

fn get_key_rotation_status(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::GetKeyRotationStatus,
) -> Result<rs::GetKeyRotationStatusResponse> {
    let key = resolve_key_only(kms, tx, caller, &req.key_id, aliases_not_supported)?;
    policy::check(&key, caller, Action::GetKeyRotationStatus, None, Via::Api)?;
    if key.origin == store::Origin::External {
        rotatable(&key, "GetKeyRotationStatus")?;
    }
    let schedule = key.rotation_schedule();
    Ok(rs::GetKeyRotationStatusResponse {
        key_id: key.key_id.as_str().to_owned(),
        key_rotation_enabled: schedule.is_some(),
        rotation_period_in_days: schedule.map(|(days, _)| i64::from(days)),
        next_rotation_date: schedule.map(|(_, next)| clock::iso(next)),
        on_demand_rotation_start_date: None,
    })
}

fn rotate_key_on_demand(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::RotateKeyOnDemand,
) -> Result<rs::RotateKeyOnDemandResponse> {
    let mut key = resolve_key_only(kms, tx, caller, &req.key_id, aliases_not_supported)?;
    rotatable(&key, "on-demand rotation")?;
    policy::check(&key, caller, Action::RotateKeyOnDemand, None, Via::Api)?;
    let on_demand = (key.rotation.versions.iter())
        .filter(|v| v.rotation_type == store::RotationType::OnDemand)
        .count();
    if on_demand >= ON_DEMAND_ROTATION_LIMIT {
        bail!(
            Code::LIMIT_EXCEEDED_EXCEPTION,
            "{} has been rotated on demand {ON_DEMAND_ROTATION_LIMIT} times, the most a key \
             may be",
            key.arn
        );
    }
    kms.rotate(&mut key, store::RotationType::OnDemand, clock::now_millis())?;
    tx.put(&key)?;
    Ok(rs::RotateKeyOnDemandResponse {
        key_id: key.key_id.as_str().to_owned(),
    })
}

fn list_key_rotations(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::ListKeyRotations,
) -> Result<rs::ListKeyRotationsResponse> {
    let key = resolve_key_only(kms, tx, caller, &req.key_id, aliases_not_supported)?;
    policy::check(&key, caller, Action::ListKeyRotations, None, Via::Api)?;
    if key.origin == store::Origin::External {
        rotatable(&key, "ListKeyRotations")?;
    }
    let all = req.include_key_material.as_deref() == Some("ALL_KEY_MATERIAL");
    let current = key.current_version();
    let state = |v: u32| {
        if v == current {
            "CURRENT"
        } else {
            "NON_CURRENT"
        }
    };
    let mut entries: Vec<(u32, rs::RotationsListEntry)> = Vec::new();
    if all {
        entries.push((
            0,
            rs::RotationsListEntry {
                key_id: key.key_id.as_str().to_owned(),
                key_material_id: crypto::key_material_id(&key.arn, 0),
                key_material_state: state(0).to_owned(),
                rotation_date: None,
                rotation_type: None,
            },
        ));
    }
    for (i, v) in key.rotation.versions.iter().enumerate() {
        let version = i as u32 + 1;
        entries.push((
            version,
            rs::RotationsListEntry {
                key_id: key.key_id.as_str().to_owned(),
                key_material_id: crypto::key_material_id(&key.arn, version),
                key_material_state: state(version).to_owned(),
                rotation_date: Some(clock::iso(v.rotation_millis)),
                rotation_type: Some(v.rotation_type.as_str().to_owned()),
            },
        ));
    }
    // Markers are material versions, zero-padded so that text order is version order.
    let (limit, marker) = paging(req.limit, req.marker.as_deref(), 100);
    let page = page(entries, (limit, marker), |(v, _)| format!("{v:010}"));
    Ok(rs::ListKeyRotationsResponse {
        rotations: page.items.into_iter().map(|(_, e)| e).collect(),
        next_marker: page.next_marker,
        truncated: page.truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{admin, arn, user, Home, ACCT, REGION};
    use super::*;
    use crate::request::Request;
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

    fn gen_key(h: &mut Home, who: &Caller, key: &str, ctx: Value) -> Value {
        let req = json!({"KeyId": key, "KeySpec": "AES_256", "EncryptionContext": ctx});
        h.call(who, "GenerateDataKey", req).unwrap()
    }

    fn decrypt_b64(h: &mut Home, who: &Caller, blob: &Value, ctx: Value) -> String {
        let req = json!({"CiphertextBlob": blob, "EncryptionContext": ctx});
        h.call(who, "Decrypt", req).unwrap()["Plaintext"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn generate_data_key_returns_the_key_and_its_wrapping() {
        let mut h = Home::new();
        let id = h.create_key(&admin());
        h.call(
            &admin(),
            "CreateAlias",
            json!({"AliasName": "alias/ExampleAlias", "TargetKeyId": id}),
        )
        .unwrap();
        let out = gen_key(&mut h, &admin(), "alias/ExampleAlias", json!({"a": "1"}));
        assert_eq!(out["KeyId"], arn(&id));
        let pt = base64::decode(out["Plaintext"].as_str().unwrap()).unwrap();
        assert_eq!(pt.len(), 32);
        let material = out["KeyMaterialId"].as_str().unwrap();
        assert_eq!(material.len(), 64);
        let d = h
            .call(&admin(), "DescribeKey", json!({"KeyId": id}))
            .unwrap();
        assert_eq!(d["KeyMetadata"]["CurrentKeyMaterialId"], material);
        let back = decrypt_b64(&mut h, &admin(), &out["CiphertextBlob"], json!({"a": "1"}));
        assert_eq!(base64::decode(&back).unwrap(), pt);
        h.fails(
            &admin(),
            "Decrypt",
            json!({"CiphertextBlob": out["CiphertextBlob"]}),
            Code::INVALID_CIPHERTEXT_EXCEPTION,
        );
        // NumberOfBytes and its limits; the plaintext never shows in Debug.
        let out = h
            .call(
                &admin(),
                "GenerateDataKey",
                json!({"KeyId": id, "NumberOfBytes": 64}),
            )
            .unwrap();
        let pt = out["Plaintext"].as_str().unwrap().to_owned();
        assert_eq!(base64::decode(&pt).unwrap().len(), 64);
        let req = Request::parse("GenerateDataKey", json!({"KeyId": id, "NumberOfBytes": 64}));
        let Ok(Request::Kms(req)) = req else { panic!() };
        let typed = h.tx(|kms, tx| kms.invoke(tx, &admin(), &req)).unwrap();
        assert!(!format!("{typed:?}").contains(&pt));
        let v = Code::VALIDATION_EXCEPTION;
        for bad in [
            json!({"KeyId": id, "NumberOfBytes": 0}),
            json!({"KeyId": id, "NumberOfBytes": 1025}),
            json!({"KeyId": id}),
            json!({"KeyId": id, "KeySpec": "AES_256", "NumberOfBytes": 32}),
            json!({"KeyId": id, "KeySpec": "AES_512"}),
        ] {
            h.fails(&admin(), "GenerateDataKey", bad, v);
        }
        // Permission and state.
        let bob = user("bob");
        let req = json!({"KeyId": id, "KeySpec": "AES_128"});
        let msg = h.fails(
            &bob,
            "GenerateDataKey",
            req.clone(),
            Code::ACCESS_DENIED_EXCEPTION,
        );
        assert!(msg.contains("kms:GenerateDataKey on resource"), "{msg}");
        let g = json!({"KeyId": id, "GranteePrincipal": "bob", "Operations": ["GenerateDataKey"]});
        h.call(&admin(), "CreateGrant", g).unwrap();
        h.call(&bob, "GenerateDataKey", req.clone()).unwrap();
        h.call(&admin(), "DisableKey", json!({"KeyId": id}))
            .unwrap();
        h.fails(
            &admin(),
            "GenerateDataKey",
            req.clone(),
            Code::DISABLED_EXCEPTION,
        );
        h.call(&admin(), "ScheduleKeyDeletion", json!({"KeyId": id}))
            .unwrap();
        h.fails(
            &admin(),
            "GenerateDataKey",
            req,
            Code::KMS_INVALID_STATE_EXCEPTION,
        );
        let missing =
            json!({"KeyId": "0000abcd-12ab-34cd-56ef-1234567890ab", "KeySpec": "AES_256"});
        h.fails(
            &admin(),
            "GenerateDataKey",
            missing,
            Code::NOT_FOUND_EXCEPTION,
        );
        let ebs = json!({"KeyId": "alias/aws/ebs", "KeySpec": "AES_256"});
        h.fails(
            &admin(),
            "GenerateDataKey",
            ebs,
            Code::ACCESS_DENIED_EXCEPTION,
        );
    }

    #[test]
    fn re_encrypt_moves_a_ciphertext_to_another_key() {
        let mut h = Home::new();
        let (k1, k2) = (h.create_key(&admin()), h.create_key(&admin()));
        let enc =
            json!({"KeyId": k1, "Plaintext": b64(b"move me"), "EncryptionContext": {"a": "1"}});
        let ct = h.call(&admin(), "Encrypt", enc).unwrap()["CiphertextBlob"].clone();
        let req = json!({
            "CiphertextBlob": ct,
            "SourceKeyId": k1,
            "SourceEncryptionContext": {"a": "1"},
            "DestinationKeyId": arn(&k2),
            "DestinationEncryptionContext": {"b": "2"},
        });
        let out = h.call(&admin(), "ReEncrypt", req.clone()).unwrap();
        assert_eq!(out["SourceKeyId"], arn(&k1));
        assert_eq!(out["KeyId"], arn(&k2));
        assert_eq!(out["SourceEncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
        assert_eq!(out["DestinationEncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
        assert_ne!(out["SourceKeyMaterialId"], out["DestinationKeyMaterialId"]);
        assert!(out.get("Plaintext").is_none());
        let back = decrypt_b64(&mut h, &admin(), &out["CiphertextBlob"], json!({"b": "2"}));
        assert_eq!(back, b64(b"move me"));
        let dec = json!({"CiphertextBlob": out["CiphertextBlob"], "KeyId": k1,
                         "EncryptionContext": {"b": "2"}});
        h.fails(&admin(), "Decrypt", dec, Code::INCORRECT_KEY_EXCEPTION);

        // SourceKeyId is optional for symmetric keys, and checked when given.
        let mut no_source = req.clone();
        no_source.as_object_mut().unwrap().remove("SourceKeyId");
        h.call(&admin(), "ReEncrypt", no_source).unwrap();
        let mut wrong = req.clone();
        wrong["SourceKeyId"] = json!(k2);
        h.fails(&admin(), "ReEncrypt", wrong, Code::INCORRECT_KEY_EXCEPTION);
        let mut bad_ctx = req.clone();
        bad_ctx["SourceEncryptionContext"] = json!({"a": "2"});
        h.fails(
            &admin(),
            "ReEncrypt",
            bad_ctx,
            Code::INVALID_CIPHERTEXT_EXCEPTION,
        );
        let mut garbage = req.clone();
        garbage["CiphertextBlob"] = json!(b64(b"garbage"));
        h.fails(
            &admin(),
            "ReEncrypt",
            garbage,
            Code::INVALID_CIPHERTEXT_EXCEPTION,
        );
        h.fails(
            &admin(),
            "ReEncrypt",
            json!({"CiphertextBlob": ct}),
            Code::VALIDATION_EXCEPTION,
        );

        // ReEncryptFrom on the source and ReEncryptTo on the destination, each needed.
        let bob = user("bob");
        let grant = |h: &mut Home, k: &str, op: &str| {
            let g = json!({"KeyId": k, "GranteePrincipal": "bob", "Operations": [op]});
            h.call(&admin(), "CreateGrant", g).unwrap();
        };
        let msg = h.fails(
            &bob,
            "ReEncrypt",
            req.clone(),
            Code::ACCESS_DENIED_EXCEPTION,
        );
        assert!(msg.contains("kms:ReEncryptFrom"), "{msg}");
        grant(&mut h, &k1, "ReEncryptFrom");
        let msg = h.fails(
            &bob,
            "ReEncrypt",
            req.clone(),
            Code::ACCESS_DENIED_EXCEPTION,
        );
        assert!(
            msg.contains(&format!("kms:ReEncryptTo on resource: {}", arn(&k2))),
            "{msg}"
        );
        grant(&mut h, &k2, "ReEncryptTo");
        h.call(&bob, "ReEncrypt", req.clone()).unwrap();
        h.call(&admin(), "DisableKey", json!({"KeyId": k2}))
            .unwrap();
        h.fails(&admin(), "ReEncrypt", req, Code::DISABLED_EXCEPTION);
    }

    #[test]
    fn generate_random_gives_fresh_bytes() {
        let mut h = Home::new();
        let a = h
            .call(&admin(), "GenerateRandom", json!({"NumberOfBytes": 32}))
            .unwrap();
        let b = h
            .call(&user("bob"), "GenerateRandom", json!({"NumberOfBytes": 32}))
            .unwrap();
        assert_eq!(
            base64::decode(a["Plaintext"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert_ne!(a["Plaintext"], b["Plaintext"]);
        let big = h
            .call(&admin(), "GenerateRandom", json!({"NumberOfBytes": 1024}))
            .unwrap();
        assert_eq!(
            base64::decode(big["Plaintext"].as_str().unwrap())
                .unwrap()
                .len(),
            1024
        );
        let v = Code::VALIDATION_EXCEPTION;
        for n in [0, 1025] {
            let msg = h.fails(&admin(), "GenerateRandom", json!({"NumberOfBytes": n}), v);
            assert!(msg.contains("at 'numberOfBytes'"), "{msg}");
        }
        h.fails(&admin(), "GenerateRandom", json!({}), v);
        h.fails(
            &admin(),
            "GenerateRandom",
            json!({"NumberOfBytes": 8, "CustomKeyStoreId": "cks-1"}),
            v,
        );
    }

    #[test]
    fn update_key_description() {
        let mut h = Home::new();
        let id = h.create_key(&admin());
        let desc = |h: &mut Home| {
            h.call(&admin(), "DescribeKey", json!({"KeyId": id}))
                .unwrap()["KeyMetadata"]["Description"]
                .clone()
        };
        let req = json!({"KeyId": arn(&id), "Description": "IT Department test key"});
        assert_eq!(
            h.call(&admin(), "UpdateKeyDescription", req).unwrap(),
            json!({})
        );
        assert_eq!(desc(&mut h), "IT Department test key");
        h.call(
            &admin(),
            "UpdateKeyDescription",
            json!({"KeyId": id, "Description": ""}),
        )
        .unwrap();
        assert_eq!(desc(&mut h), "");
        h.fails(
            &admin(),
            "UpdateKeyDescription",
            json!({"KeyId": id}),
            Code::VALIDATION_EXCEPTION,
        );
        h.fails(
            &user("bob"),
            "UpdateKeyDescription",
            json!({"KeyId": id, "Description": "x"}),
            Code::ACCESS_DENIED_EXCEPTION,
        );
        h.fails(
            &admin(),
            "UpdateKeyDescription",
            json!({"KeyId": "alias/aws/ebs", "Description": "x"}),
            Code::INVALID_ARN_EXCEPTION,
        );
    }

    #[test]
    fn retiring_grants_follows_aws_rules() {
        let mut h = Home::new();
        let id = h.create_key(&admin());
        let create = |h: &mut Home, grantee: &str, ops: Value, retiring: Option<&str>| {
            let mut g = json!({"KeyId": id, "GranteePrincipal": grantee, "Operations": ops});
            if let Some(r) = retiring {
                g["RetiringPrincipal"] = json!(r);
            }
            let out = h.call(&admin(), "CreateGrant", g).unwrap();
            (
                out["GrantId"].as_str().unwrap().to_owned(),
                out["GrantToken"].as_str().unwrap().to_owned(),
            )
        };
        let count = |h: &mut Home| {
            h.call(&admin(), "ListGrants", json!({"KeyId": id}))
                .unwrap()["Grants"]
                .as_array()
                .unwrap()
                .len()
        };
        // The retiring principal retires by key and grant id; nobody else may.
        let (g1, _) = create(&mut h, "bob", json!(["Decrypt"]), Some("carol"));
        let by_id = json!({"KeyId": arn(&id), "GrantId": g1});
        let msg = h.fails(
            &user("bob"),
            "RetireGrant",
            by_id.clone(),
            Code::ACCESS_DENIED_EXCEPTION,
        );
        assert!(msg.contains("kms:RetireGrant"), "{msg}");
        h.fails(
            &user("dave"),
            "RetireGrant",
            by_id.clone(),
            Code::ACCESS_DENIED_EXCEPTION,
        );
        let listed = h
            .call(
                &user("carol"),
                "ListRetirableGrants",
                json!({"RetiringPrincipal": format!("arn:aws:iam::{ACCT}:user/carol")}),
            )
            .unwrap();
        assert_eq!(listed["Truncated"], false);
        assert_eq!(listed["Grants"][0]["GrantId"], g1);
        assert_eq!(
            listed["Grants"][0]["RetiringPrincipal"],
            format!("arn:aws:iam::{ACCT}:user/carol")
        );
        h.fails(
            &user("bob"),
            "ListRetirableGrants",
            json!({"RetiringPrincipal": "carol"}),
            Code::ACCESS_DENIED_EXCEPTION,
        );
        h.fails(
            &admin(),
            "ListRetirableGrants",
            json!({}),
            Code::VALIDATION_EXCEPTION,
        );
        assert_eq!(
            h.call(&user("carol"), "RetireGrant", by_id.clone())
                .unwrap(),
            json!({})
        );
        assert_eq!(count(&mut h), 0);
        h.fails(
            &user("carol"),
            "RetireGrant",
            by_id,
            Code::NOT_FOUND_EXCEPTION,
        );

        // The grantee, by token, when the grant lists RetireGrant; not otherwise.
        let (_, t2) = create(&mut h, "bob", json!(["Decrypt", "RetireGrant"]), None);
        let (_, t3) = create(&mut h, "bob", json!(["Decrypt"]), None);
        h.call(&user("bob"), "RetireGrant", json!({"GrantToken": t2}))
            .unwrap();
        h.fails(
            &user("bob"),
            "RetireGrant",
            json!({"GrantToken": t3}),
            Code::ACCESS_DENIED_EXCEPTION,
        );
        h.fails(
            &user("bob"),
            "RetireGrant",
            json!({"GrantToken": "bm90IGEgdG9rZW4="}),
            Code::INVALID_GRANT_TOKEN_EXCEPTION,
        );
        // The key's account (its admin) may retire any of its grants.
        h.call(&admin(), "RetireGrant", json!({"GrantToken": t3}))
            .unwrap();
        assert_eq!(count(&mut h), 0);
        h.fails(
            &admin(),
            "RetireGrant",
            json!({"KeyId": id}),
            Code::VALIDATION_EXCEPTION,
        );

        // Retirable grants page.
        for _ in 0..3 {
            create(&mut h, "bob", json!(["Decrypt"]), Some("carol"));
        }
        let first = h
            .call(
                &admin(),
                "ListRetirableGrants",
                json!({"RetiringPrincipal": "carol", "Limit": 2}),
            )
            .unwrap();
        assert_eq!(first["Truncated"], true);
        let rest = h
            .call(
                &admin(),
                "ListRetirableGrants",
                json!({"RetiringPrincipal": "carol", "Marker": first["NextMarker"]}),
            )
            .unwrap();
        assert_eq!(rest["Grants"].as_array().unwrap().len(), 1);
        assert_eq!(rest["Truncated"], false);
    }

    /// A KMS API ciphertext's material version, as its header names it.
    fn version_of(blob: &Value) -> u32 {
        let raw = base64::decode(blob.as_str().unwrap()).unwrap();
        crypto::user_blob_header(&raw).unwrap().1
    }

    #[test]
    fn rotation_keeps_old_ciphertexts_and_uses_new_material() {
        let mut h = Home::new();
        let id = h.create_key(&admin());
        let enc = json!({"KeyId": id, "Plaintext": b64(b"before")});
        let old = h.call(&admin(), "Encrypt", enc).unwrap()["CiphertextBlob"].clone();
        let old_dk = gen_key(&mut h, &admin(), &id, json!({}));
        let m0 = h
            .call(&admin(), "DescribeKey", json!({"KeyId": id}))
            .unwrap()["KeyMetadata"]["CurrentKeyMaterialId"]
            .clone();
        assert_eq!(version_of(&old), 0);

        let out = h
            .call(&admin(), "RotateKeyOnDemand", json!({"KeyId": arn(&id)}))
            .unwrap();
        assert_eq!(out, json!({"KeyId": id}));
        let m1 = h
            .call(&admin(), "DescribeKey", json!({"KeyId": id}))
            .unwrap()["KeyMetadata"]["CurrentKeyMaterialId"]
            .clone();
        assert_ne!(m0, m1);
        let enc = json!({"KeyId": id, "Plaintext": b64(b"after")});
        let new = h.call(&admin(), "Encrypt", enc).unwrap()["CiphertextBlob"].clone();
        assert_eq!(version_of(&new), 1);
        let new_dk = gen_key(&mut h, &admin(), &id, json!({}));
        assert_eq!(new_dk["KeyMaterialId"], m1);
        assert_eq!(old_dk["KeyMaterialId"], m0);
        // Both generations decrypt.
        assert_eq!(
            decrypt_b64(&mut h, &admin(), &old, json!({})),
            b64(b"before")
        );
        assert_eq!(
            decrypt_b64(&mut h, &admin(), &new, json!({})),
            b64(b"after")
        );
        assert_eq!(
            decrypt_b64(&mut h, &admin(), &old_dk["CiphertextBlob"], json!({})),
            old_dk["Plaintext"].as_str().unwrap()
        );
        // ReEncrypt to the same key moves an old ciphertext to the newest material.
        let req = json!({"CiphertextBlob": old, "DestinationKeyId": id});
        let moved = h.call(&admin(), "ReEncrypt", req).unwrap();
        assert_eq!(moved["SourceKeyMaterialId"], m0);
        assert_eq!(moved["DestinationKeyMaterialId"], m1);
        assert_eq!(version_of(&moved["CiphertextBlob"]), 1);
        // A ciphertext naming a material version the key does not have does not open.
        let mut raw = base64::decode(new.as_str().unwrap()).unwrap();
        let at = 1 + 2 + arn(&id).len();
        raw[at + 3] = 9;
        h.fails(
            &admin(),
            "Decrypt",
            json!({"CiphertextBlob": b64(&raw)}),
            Code::INVALID_CIPHERTEXT_EXCEPTION,
        );

        let list = h
            .call(&admin(), "ListKeyRotations", json!({"KeyId": id}))
            .unwrap();
        assert_eq!(list["Truncated"], false);
        let r = list["Rotations"].as_array().unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0]["KeyId"], id);
        assert_eq!(r[0]["RotationType"], "ON_DEMAND");
        assert_eq!(r[0]["KeyMaterialId"], m1);
        assert_eq!(r[0]["KeyMaterialState"], "CURRENT");
        assert!(r[0]["RotationDate"].as_str().unwrap().ends_with('Z'));
        let all = h
            .call(
                &admin(),
                "ListKeyRotations",
                json!({"KeyId": id, "IncludeKeyMaterial": "ALL_KEY_MATERIAL"}),
            )
            .unwrap();
        assert_eq!(all["Rotations"][0]["KeyMaterialId"], m0);
        assert_eq!(all["Rotations"][0]["KeyMaterialState"], "NON_CURRENT");
        assert!(all["Rotations"][0].get("RotationDate").is_none());
        h.fails(
            &admin(),
            "ListKeyRotations",
            json!({"KeyId": id, "IncludeKeyMaterial": "SOME"}),
            Code::VALIDATION_EXCEPTION,
        );
    }

    #[test]
    fn on_demand_rotations_are_limited_to_ten() {
        let mut h = Home::new();
        let id = h.create_key(&admin());
        let mut blobs = Vec::new();
        for i in 0..10u8 {
            let enc = json!({"KeyId": id, "Plaintext": b64(&[i])});
            blobs.push(h.call(&admin(), "Encrypt", enc).unwrap()["CiphertextBlob"].clone());
            h.call(&admin(), "RotateKeyOnDemand", json!({"KeyId": id}))
                .unwrap();
        }
        let msg = h.fails(
            &admin(),
            "RotateKeyOnDemand",
            json!({"KeyId": id}),
            Code::LIMIT_EXCEEDED_EXCEPTION,
        );
        assert!(msg.contains(&arn(&id)), "{msg}");
        for (i, b) in blobs.iter().enumerate() {
            assert_eq!(version_of(b), i as u32);
            assert_eq!(decrypt_b64(&mut h, &admin(), b, json!({})), b64(&[i as u8]));
        }
        // Pages of rotations.
        let p1 = h
            .call(
                &admin(),
                "ListKeyRotations",
                json!({"KeyId": id, "Limit": 4}),
            )
            .unwrap();
        assert_eq!(p1["Truncated"], true);
        let p2 = h
            .call(
                &admin(),
                "ListKeyRotations",
                json!({"KeyId": id, "Limit": 100, "Marker": p1["NextMarker"]}),
            )
            .unwrap();
        assert_eq!(p2["Rotations"].as_array().unwrap().len(), 6);
        assert_eq!(p2["Rotations"][5]["KeyMaterialState"], "CURRENT");
    }

    #[test]
    fn automatic_rotation_status_and_sweep() {
        let mut h = Home::new();
        let id = h.create_key(&admin());
        let status = |h: &mut Home| {
            h.call(&admin(), "GetKeyRotationStatus", json!({"KeyId": id}))
                .unwrap()
        };
        let rotations = |h: &mut Home| {
            let list = h.call(&admin(), "ListKeyRotations", json!({"KeyId": id}));
            list.unwrap()["Rotations"].as_array().unwrap().len()
        };
        assert_eq!(
            status(&mut h),
            json!({"KeyId": id, "KeyRotationEnabled": false})
        );
        let v = Code::VALIDATION_EXCEPTION;
        for days in [89, 2561] {
            let req = json!({"KeyId": id, "RotationPeriodInDays": days});
            let msg = h.fails(&admin(), "EnableKeyRotation", req, v);
            assert!(msg.contains("at 'rotationPeriodInDays'"), "{msg}");
        }
        let before = clock::now_millis();
        let out = h
            .call(
                &admin(),
                "EnableKeyRotation",
                json!({"KeyId": arn(&id), "RotationPeriodInDays": 180}),
            )
            .unwrap();
        assert_eq!(out, json!({}));
        let s = status(&mut h);
        assert_eq!(s["KeyRotationEnabled"], true);
        assert_eq!(s["RotationPeriodInDays"], 180);
        let next = s["NextRotationDate"].as_str().unwrap().to_owned();
        assert!(next >= clock::iso(before + 180 * DAY_MILLIS));
        assert!(s.get("OnDemandRotationStartDate").is_none());
        h.call(&admin(), "EnableKeyRotation", json!({"KeyId": id}))
            .unwrap();
        assert_eq!(status(&mut h)["RotationPeriodInDays"], 365);

        // The engine's clock passing the date rotates the key (once), as a sweep sees it.
        let enc = json!({"KeyId": id, "Plaintext": b64(b"kept")});
        let old = h.call(&admin(), "Encrypt", enc).unwrap()["CiphertextBlob"].clone();
        let later = clock::now_millis() + 366 * DAY_MILLIS;
        h.tx(|kms, tx| kms.sweep(tx, later)).unwrap();
        h.tx(|kms, tx| kms.sweep(tx, later + 1)).unwrap();
        let list = h
            .call(&admin(), "ListKeyRotations", json!({"KeyId": id}))
            .unwrap();
        assert_eq!(list["Rotations"].as_array().unwrap().len(), 1);
        assert_eq!(list["Rotations"][0]["RotationType"], "AUTOMATIC");
        assert_eq!(list["Rotations"][0]["RotationDate"], clock::iso(later));
        assert_eq!(
            status(&mut h)["NextRotationDate"],
            clock::iso(later + 365 * DAY_MILLIS)
        );
        assert_eq!(decrypt_b64(&mut h, &admin(), &old, json!({})), b64(b"kept"));

        // Disabled: no rotation status change allowed, and no automatic rotation.
        h.call(&admin(), "DisableKey", json!({"KeyId": id}))
            .unwrap();
        h.tx(|kms, tx| kms.sweep(tx, later + 400 * DAY_MILLIS))
            .unwrap();
        assert_eq!(rotations(&mut h), 1);
        let d = Code::DISABLED_EXCEPTION;
        h.fails(&admin(), "EnableKeyRotation", json!({"KeyId": id}), d);
        h.fails(&admin(), "DisableKeyRotation", json!({"KeyId": id}), d);
        h.fails(&admin(), "RotateKeyOnDemand", json!({"KeyId": id}), d);
        assert_eq!(status(&mut h)["KeyRotationEnabled"], true);
        h.call(&admin(), "EnableKey", json!({"KeyId": id})).unwrap();
        h.call(&admin(), "DisableKeyRotation", json!({"KeyId": id}))
            .unwrap();
        assert_eq!(
            status(&mut h),
            json!({"KeyId": id, "KeyRotationEnabled": false})
        );
        h.tx(|kms, tx| kms.sweep(tx, later + 800 * DAY_MILLIS))
            .unwrap();
        assert_eq!(rotations(&mut h), 1);

        // Others, pending deletion, imported material, aliases, unknown keys.
        let denied = Code::ACCESS_DENIED_EXCEPTION;
        h.fails(
            &user("bob"),
            "EnableKeyRotation",
            json!({"KeyId": id}),
            denied,
        );
        h.fails(
            &user("bob"),
            "GetKeyRotationStatus",
            json!({"KeyId": id}),
            denied,
        );
        h.fails(
            &user("bob"),
            "RotateKeyOnDemand",
            json!({"KeyId": id}),
            denied,
        );
        h.fails(
            &admin(),
            "RotateKeyOnDemand",
            json!({"KeyId": "0000abcd-12ab-34cd-56ef-1234567890ab"}),
            Code::NOT_FOUND_EXCEPTION,
        );
        h.call(
            &admin(),
            "CreateAlias",
            json!({"AliasName": "alias/r", "TargetKeyId": id}),
        )
        .unwrap();
        h.fails(
            &admin(),
            "GetKeyRotationStatus",
            json!({"KeyId": "alias/r"}),
            Code::INVALID_ARN_EXCEPTION,
        );
        let ext = h
            .call(&admin(), "CreateKey", json!({"Origin": "EXTERNAL"}))
            .unwrap();
        let ext = ext["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
        h.fails(
            &admin(),
            "EnableKeyRotation",
            json!({"KeyId": ext}),
            Code::UNSUPPORTED_OPERATION_EXCEPTION,
        );
        h.call(&admin(), "ScheduleKeyDeletion", json!({"KeyId": id}))
            .unwrap();
        let inv = Code::KMS_INVALID_STATE_EXCEPTION;
        h.fails(&admin(), "RotateKeyOnDemand", json!({"KeyId": id}), inv);
        h.fails(&admin(), "EnableKeyRotation", json!({"KeyId": id}), inv);
    }

    #[test]
    fn the_aws_managed_key_rotates_yearly_and_cannot_be_changed() {
        let mut h = Home::new();
        let ebs = h
            .call(&admin(), "DescribeKey", json!({"KeyId": "alias/aws/ebs"}))
            .unwrap();
        let ebs_arn = ebs["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
        let ebs_id = ebs["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
        let s = h
            .call(&admin(), "GetKeyRotationStatus", json!({"KeyId": ebs_arn}))
            .unwrap();
        assert_eq!(s["KeyRotationEnabled"], true);
        assert_eq!(s["RotationPeriodInDays"], 365);
        let u = Code::UNSUPPORTED_OPERATION_EXCEPTION;
        for op in [
            "EnableKeyRotation",
            "DisableKeyRotation",
            "RotateKeyOnDemand",
        ] {
            h.fails(&admin(), op, json!({"KeyId": ebs_arn}), u);
        }
        // Its volumes' data keys survive its yearly rotation.
        let (w, dk) = h
            .tx(|kms, tx| {
                let k = kms.aws_ebs_key(tx, &admin())?;
                kms.generate_data_key(tx, &admin(), &k, "vol-1", XtsCipher::Aes256Xts)
            })
            .unwrap();
        let later = clock::now_millis() + 366 * DAY_MILLIS;
        h.tx(|kms, tx| kms.sweep(tx, later)).unwrap();
        let list = h
            .call(&admin(), "ListKeyRotations", json!({"KeyId": ebs_id}))
            .unwrap();
        assert_eq!(list["Rotations"][0]["RotationType"], "AUTOMATIC");
        let back = h
            .tx(|kms, tx| kms.unwrap_data_key(tx, &admin(), &w, "vol-1"))
            .unwrap();
        assert_eq!(back.expose(), dk.expose());
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
