//! The KMS operations by AWS name, with requests and responses shaped like the AWS KMS JSON API
//! (docs/OPERATIONS.md): request validation (unknown fields and malformed values are
//! `ValidationException`, as `Member must …` messages name them), key resolution, permission
//! and state through `policy`, and the catalog writes of each operation.

use super::crypto::{self, Context};
use super::policy::{self, Action, Via};
use super::store::{self, AliasRecord, Constraints, GrantRecord, KeyManager, KeyRecord, KeyState};
use super::{base64, invalid_ciphertext, random_nonce, Caller, KeyRef, Kms, AWS_EBS_ALIAS};
use crate::catalog::Tx;
use crate::clock;
use crate::error::{bail, Code, Error, Result};
use crate::secret::fill_random;
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

const DAY_MILLIS: i64 = 86_400_000;

/// Runs `op`; `Ok(None)` if it is not a KMS operation.
pub(super) fn invoke(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    op: &str,
    req: &Value,
) -> Result<Option<Value>> {
    let out = match op {
        "CreateKey" => create_key(kms, tx, caller, req)?,
        "DescribeKey" => describe_key(kms, tx, caller, req)?,
        "ListKeys" => list_keys(tx, caller, req)?,
        "CreateAlias" => create_alias(kms, tx, caller, req)?,
        "UpdateAlias" => update_alias(kms, tx, caller, req)?,
        "DeleteAlias" => delete_alias(kms, tx, caller, req)?,
        "ListAliases" => list_aliases(kms, tx, caller, req)?,
        "EnableKey" => set_enabled(kms, tx, caller, req, Action::EnableKey)?,
        "DisableKey" => set_enabled(kms, tx, caller, req, Action::DisableKey)?,
        "ScheduleKeyDeletion" => schedule_key_deletion(kms, tx, caller, req)?,
        "CancelKeyDeletion" => cancel_key_deletion(kms, tx, caller, req)?,
        "CreateGrant" => create_grant(kms, tx, caller, req)?,
        "ListGrants" => list_grants(kms, tx, caller, req)?,
        "RevokeGrant" => revoke_grant(kms, tx, caller, req)?,
        "GenerateDataKeyWithoutPlaintext" => {
            generate_data_key_without_plaintext(kms, tx, caller, req)?
        }
        "Encrypt" => encrypt(kms, tx, caller, req)?,
        "Decrypt" => decrypt(kms, tx, caller, req)?,
        _ => return Ok(None),
    };
    Ok(Some(out))
}

// ----- request parsing -----

/// A request's fields, checked against the operation's parameter names.
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

fn violation(name: &str, value: &str, constraint: &str) -> Error {
    Error::new(
        Code::VALIDATION_EXCEPTION,
        format!(
            "1 validation error detected: Value '{value}' at '{}' failed to satisfy constraint: \
             Member must {constraint}",
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

impl<'a> Req<'a> {
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

    fn wrong_type(name: &str, what: &str) -> Error {
        Error::new(
            Code::VALIDATION_EXCEPTION,
            format!(
                "1 validation error detected: '{}' must be {what}",
                member(name)
            ),
        )
    }

    fn opt_str(&self, name: &str) -> Result<Option<&'a str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Self::wrong_type(name, "a string")),
        }
    }

    fn str(&self, name: &str) -> Result<&'a str> {
        self.opt_str(name)?.ok_or_else(|| {
            Error::new(
                Code::VALIDATION_EXCEPTION,
                format!(
                    "1 validation error detected: Value null at '{}' failed to satisfy \
                     constraint: Member must not be null",
                    member(name)
                ),
            )
        })
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

    /// A required `KeyId`-like parameter (1–2048 characters).
    fn key_id(&self, name: &str) -> Result<&'a str> {
        self.str(name)?;
        Ok(self
            .opt_str_len(name, 1, 2048)?
            .expect("present: checked just above"))
    }

    fn opt_int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let n = v
            .as_i64()
            .ok_or_else(|| Self::wrong_type(name, "an integer"))?;
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
            .ok_or_else(|| Self::wrong_type(name, "a list of strings"))?;
        list.iter()
            .map(|s| {
                s.as_str()
                    .ok_or_else(|| Self::wrong_type(name, "a list of strings"))
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

    /// `GrantTokens`: accepted and checked for shape; grants take effect at once here, so
    /// tokens add nothing.
    fn grant_tokens(&self) -> Result<()> {
        if let Some(t) = self.opt_strings("GrantTokens")? {
            if t.len() > 10 {
                return Err(violation(
                    "GrantTokens",
                    &t.len().to_string(),
                    "have length less than or equal to 10",
                ));
            }
        }
        Ok(())
    }

    /// A base64 blob of `1..=max` bytes.
    fn blob(&self, name: &str, max: usize) -> Result<Zeroizing<Vec<u8>>> {
        let text = self.str(name)?;
        let bytes = Zeroizing::new(base64::decode(text).ok_or_else(|| {
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

    /// `Limit` (1..=`max`) and `Marker`.
    fn paging(&self, max: i64) -> Result<(usize, Option<&'a str>)> {
        let limit = self.opt_int("Limit", 1, max)?.unwrap_or(max) as usize;
        Ok((limit, self.opt_str_len("Marker", 1, 1024)?))
    }
}

fn context_of(v: &Value, name: &str) -> Result<Context> {
    let wrong = || Req::wrong_type(name, "a map of strings to strings");
    let m = v.as_object().ok_or_else(wrong)?;
    m.iter()
        .map(|(k, v)| Ok((k.clone(), v.as_str().ok_or_else(wrong)?.to_owned())))
        .collect()
}

/// One page of `items` (sorted by `id`) after `marker`; the response fields `Truncated` and
/// `NextMarker` go into `out`.
fn page<T>(
    items: Vec<T>,
    (limit, marker): (usize, Option<&str>),
    id: impl Fn(&T) -> String,
    out: &mut Map<String, Value>,
) -> Vec<T> {
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|t| marker.is_none_or(|m| id(t).as_str() > m))
        .collect();
    let truncated = rest.len() > limit;
    rest.truncate(limit);
    out.insert("Truncated".into(), json!(truncated));
    if truncated {
        let last = rest
            .last()
            .map(&id)
            .expect("a truncated page holds at least one item");
        out.insert("NextMarker".into(), json!(last));
    }
    rest
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

fn create_key(kms: &Kms, tx: &Tx, caller: &Caller, req: &Value) -> Result<Value> {
    let r = Req::parse(req, &["Description", "KeyUsage", "KeySpec", "Origin"])?;
    let description = r.opt_str_len("Description", 0, 8192)?.unwrap_or("");
    let unsupported = |name: &str, v: &str, why: &str| {
        Error::new(
            Code::VALIDATION_EXCEPTION,
            format!("{name} {v} is not supported: {why}"),
        )
    };
    let symmetric = "blockseal keys are symmetric (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)";
    match r.opt_str("KeyUsage")? {
        None | Some("ENCRYPT_DECRYPT") => {}
        Some(u @ ("SIGN_VERIFY" | "GENERATE_VERIFY_MAC" | "KEY_AGREEMENT")) => {
            return Err(unsupported("KeyUsage", u, symmetric))
        }
        Some(u) => {
            let set = [
                "SIGN_VERIFY",
                "ENCRYPT_DECRYPT",
                "GENERATE_VERIFY_MAC",
                "KEY_AGREEMENT",
            ];
            return Err(enum_violation("KeyUsage", u, &set));
        }
    }
    match r.opt_str("KeySpec")? {
        None | Some("SYMMETRIC_DEFAULT") => {}
        Some(s) => return Err(unsupported("KeySpec", s, symmetric)),
    }
    let origin = match r.opt_str("Origin")? {
        None | Some("AWS_KMS") => store::Origin::AwsKms,
        Some("EXTERNAL") => store::Origin::External,
        Some(o @ ("AWS_CLOUDHSM" | "EXTERNAL_KEY_STORE")) => {
            return Err(unsupported("Origin", o, "there are no custom key stores"))
        }
        Some(o) => {
            let set = ["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"];
            return Err(enum_violation("Origin", o, &set));
        }
    };
    let key = kms.new_key(
        &caller.region,
        &caller.account,
        KeyManager::Customer,
        origin,
        description,
        Some(caller.principal.clone()),
        clock::now_millis(),
    );
    tx.put(&key)?;
    Ok(json!({ "KeyMetadata": key.metadata() }))
}

fn describe_key(kms: &Kms, tx: &Tx, caller: &Caller, req: &Value) -> Result<Value> {
    let r = Req::parse(req, &["KeyId", "GrantTokens"])?;
    let key_ref = r.key_id("KeyId")?;
    r.grant_tokens()?;
    let key = kms.resolve(tx, caller, key_ref)?;
    policy::check(&key, caller, Action::DescribeKey, None, Via::Api)?;
    Ok(json!({ "KeyMetadata": key.metadata() }))
}

fn list_keys(tx: &Tx, caller: &Caller, req: &Value) -> Result<Value> {
    let r = Req::parse(req, &["Limit", "Marker"])?;
    let paging = r.paging(1000)?;
    let keys: Vec<KeyRecord> = tx
        .list::<KeyRecord>(&caller.region)?
        .into_iter()
        .filter(|k| k.account == caller.account)
        .collect();
    let mut out = Map::new();
    let keys = page(keys, paging, |k| k.key_id.to_string(), &mut out);
    let list: Vec<Value> = keys
        .iter()
        .map(|k| json!({ "KeyId": k.key_id.as_str(), "KeyArn": k.arn }))
        .collect();
    out.insert("Keys".into(), Value::Array(list));
    Ok(Value::Object(out))
}

fn set_enabled(kms: &Kms, tx: &Tx, caller: &Caller, req: &Value, action: Action) -> Result<Value> {
    let r = Req::parse(req, &["KeyId"])?;
    let mut key = kms.resolve(tx, caller, r.key_id("KeyId")?)?;
    policy::check(&key, caller, action, None, Via::Api)?;
    key.state = if action == Action::EnableKey {
        KeyState::Enabled
    } else {
        KeyState::Disabled
    };
    tx.put(&key)?;
    Ok(json!({}))
}

fn schedule_key_deletion(kms: &Kms, tx: &Tx, caller: &Caller, req: &Value) -> Result<Value> {
    let r = Req::parse(req, &["KeyId", "PendingWindowInDays"])?;
    let key_ref = r.key_id("KeyId")?;
    let days = r.opt_int("PendingWindowInDays", 7, 30)?.unwrap_or(30);
    let mut key = kms.resolve(tx, caller, key_ref)?;
    policy::check(&key, caller, Action::ScheduleKeyDeletion, None, Via::Api)?;
    let deletion = clock::now_millis() + days * DAY_MILLIS;
    key.state = KeyState::PendingDeletion;
    key.deletion_millis = Some(deletion);
    key.pending_window_days = Some(days as u32);
    tx.put(&key)?;
    Ok(json!({
        "KeyId": key.arn,
        "DeletionDate": clock::iso(deletion),
        "KeyState": key.state.as_str(),
        "PendingWindowInDays": days,
    }))
}

fn cancel_key_deletion(kms: &Kms, tx: &Tx, caller: &Caller, req: &Value) -> Result<Value> {
    let r = Req::parse(req, &["KeyId"])?;
    let mut key = kms.resolve(tx, caller, r.key_id("KeyId")?)?;
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
    Ok(json!({ "KeyId": key.arn }))
}

// ----- aliases -----

/// SEMANTICS §3.3 rule 1.
fn validate_alias_name(name: &str) -> Result<()> {
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
    Ok(())
}

fn reserved_alias(name: &str) -> Result<()> {
    if name.starts_with("alias/aws/") {
        bail!(
            Code::NOT_AUTHORIZED_EXCEPTION,
            "{name}: the alias/aws/ prefix is reserved for AWS managed keys"
        );
    }
    Ok(())
}

fn alias_target(kms: &Kms, tx: &Tx, caller: &Caller, key_ref: &str) -> Result<KeyRecord> {
    resolve_key_only(kms, tx, caller, key_ref, || {
        Error::new(
            Code::VALIDATION_EXCEPTION,
            "Aliases must refer to keys. Not aliases",
        )
    })
}

fn create_alias(kms: &Kms, tx: &Tx, caller: &Caller, req: &Value) -> Result<Value> {
    let r = Req::parse(req, &["AliasName", "TargetKeyId"])?;
    let name = r.str("AliasName")?;
    let target = r.key_id("TargetKeyId")?;
    validate_alias_name(name)?;
    reserved_alias(name)?;
    let key = alias_target(kms, tx, caller, target)?;
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
    Ok(json!({}))
}

/// The alias `name` of the caller's account and region.
fn existing_alias(tx: &Tx, caller: &Caller, name: &str) -> Result<AliasRecord> {
    let arn = store::alias_arn(&caller.region, &caller.account, name);
    tx.get::<AliasRecord>(&arn)?
        .ok_or_else(|| super::alias_not_found(&arn))
}

fn update_alias(kms: &Kms, tx: &Tx, caller: &Caller, req: &Value) -> Result<Value> {
    let r = Req::parse(req, &["AliasName", "TargetKeyId"])?;
    let name = r.str("AliasName")?;
    let target = r.key_id("TargetKeyId")?;
    validate_alias_name(name)?;
    reserved_alias(name)?;
    let mut alias = existing_alias(tx, caller, name)?;
    let key = alias_target(kms, tx, caller, target)?;
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
    Ok(json!({}))
}

fn delete_alias(kms: &Kms, tx: &Tx, caller: &Caller, req: &Value) -> Result<Value> {
    let r = Req::parse(req, &["AliasName"])?;
    let name = r.str("AliasName")?;
    validate_alias_name(name)?;
    reserved_alias(name)?;
    let alias = existing_alias(tx, caller, name)?;
    if let Some(key) = kms.load_key(tx, &alias.target_key_id)? {
        policy::check(&key, caller, Action::DeleteAlias, None, Via::Api)?;
    }
    tx.delete::<AliasRecord>(&alias.arn)?;
    Ok(json!({}))
}

fn list_aliases(kms: &Kms, tx: &Tx, caller: &Caller, req: &Value) -> Result<Value> {
    let r = Req::parse(req, &["KeyId", "Limit", "Marker"])?;
    let key_ref = r.opt_str_len("KeyId", 1, 2048)?;
    let paging = r.paging(100)?;
    let mut aliases: Vec<Value> = Vec::new();
    let stored = tx
        .list::<AliasRecord>(&caller.region)?
        .into_iter()
        .filter(|a| a.account == caller.account);
    match key_ref {
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
            if !aliases.iter().any(|a| a["AliasName"] == AWS_EBS_ALIAS) {
                aliases.push(json!({
                    "AliasName": AWS_EBS_ALIAS,
                    "AliasArn": store::alias_arn(&caller.region, &caller.account, AWS_EBS_ALIAS),
                }));
            }
        }
    }
    let name = |a: &Value| a["AliasName"].as_str().unwrap_or_default().to_owned();
    aliases.sort_by_key(name);
    let mut out = Map::new();
    let aliases = page(aliases, paging, name, &mut out);
    out.insert("Aliases".into(), Value::Array(aliases));
    Ok(Value::Object(out))
}

// ----- grants -----

/// An IAM principal ARN, or a bare profile name (a user of `account`), as an ARN.
fn principal_arn(account: &str, text: &str) -> Option<String> {
    let name_ok = |s: &str| {
        !s.is_empty()
            && !s.starts_with('/')
            && !s.ends_with('/')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
    };
    match text.strip_prefix("arn:aws:iam::") {
        Some(rest) => {
            let (acct, resource) = rest.split_once(':')?;
            let acct_ok = acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit());
            let user_or_role = resource
                .strip_prefix("user/")
                .or(resource.strip_prefix("role/"));
            let ok = acct_ok && (resource == "root" || user_or_role.is_some_and(name_ok));
            ok.then(|| text.to_owned())
        }
        None => (name_ok(text) && !text.contains('/') && text.len() <= 64)
            .then(|| format!("arn:aws:iam::{account}:user/{text}")),
    }
}

fn principal_param(r: &Req<'_>, caller: &Caller, name: &str) -> Result<Option<String>> {
    let Some(text) = r.opt_str_len(name, 1, 256)? else {
        return Ok(None);
    };
    principal_arn(&caller.account, text)
        .map(Some)
        .ok_or_else(|| {
            Error::new(
                Code::VALIDATION_EXCEPTION,
                format!(
                    "{name} {text} is not a principal: expected arn:aws:iam::ACCOUNT:user/NAME, \
                 arn:aws:iam::ACCOUNT:role/NAME, arn:aws:iam::ACCOUNT:root or a profile name"
                ),
            )
        })
}

fn constraints_param(r: &Req<'_>) -> Result<Option<Constraints>> {
    let Some(v) = r.get("Constraints") else {
        return Ok(None);
    };
    let m = v
        .as_object()
        .ok_or_else(|| Req::wrong_type("Constraints", "an object"))?;
    let mut c = Constraints::default();
    for (k, v) in m {
        match k.as_str() {
            "EncryptionContextSubset" => c.subset = Some(context_of(v, k)?),
            "EncryptionContextEquals" => c.equals = Some(context_of(v, k)?),
            _ => bail!(
                Code::VALIDATION_EXCEPTION,
                "Unknown parameter in Constraints: \"{k}\", must be one of: \
                 EncryptionContextSubset, EncryptionContextEquals"
            ),
        }
    }
    Ok(Some(c))
}

fn create_grant(kms: &Kms, tx: &Tx, caller: &Caller, req: &Value) -> Result<Value> {
    let r = Req::parse(
        req,
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
    let key_ref = r.key_id("KeyId")?;
    r.str("GranteePrincipal")?;
    let grantee = principal_param(&r, caller, "GranteePrincipal")?.expect("present: checked above");
    let retiring = principal_param(&r, caller, "RetiringPrincipal")?;
    let ops = r.opt_strings("Operations")?.unwrap_or_default();
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
    let constraints = constraints_param(&r)?;
    if constraints.is_some()
        && operations
            .iter()
            .any(|o| o == "DescribeKey" || o == "RetireGrant")
    {
        bail!(
            Code::VALIDATION_EXCEPTION,
            "Grant constraints apply to cryptographic operations; DescribeKey and RetireGrant \
             take no encryption context and cannot be granted with constraints"
        );
    }
    r.grant_tokens()?;

    let key = resolve_key_only(kms, tx, caller, key_ref, aliases_not_supported)?;
    policy::check(&key, caller, Action::CreateGrant, None, Via::Api)?;
    // A grantee with CreateGrant may pass on no more than one of its grants allows (AWS).
    if key.key_manager == KeyManager::Customer && !policy::administers(&key, caller) {
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
        name: name.map(str::to_owned),
        grantee,
        retiring,
        operations,
        constraints,
        token: base64::encode(&token),
        creation_millis: clock::now_millis(),
    };
    tx.put(&grant)?;
    Ok(json!({ "GrantId": grant.grant_id, "GrantToken": grant.token }))
}

fn list_grants(kms: &Kms, tx: &Tx, caller: &Caller, req: &Value) -> Result<Value> {
    let r = Req::parse(
        req,
        &["KeyId", "GrantId", "GranteePrincipal", "Limit", "Marker"],
    )?;
    let key_ref = r.key_id("KeyId")?;
    let grant_id = r.opt_str_len("GrantId", 1, 128)?;
    let grantee = principal_param(&r, caller, "GranteePrincipal")?;
    let paging = r.paging(100)?;
    let key = resolve_key_only(kms, tx, caller, key_ref, aliases_not_supported)?;
    policy::check(&key, caller, Action::ListGrants, None, Via::Api)?;
    let mut grants: Vec<&GrantRecord> = key
        .grants
        .iter()
        .filter(|g| grant_id.is_none_or(|id| g.grant_id == id))
        .filter(|g| grantee.as_ref().is_none_or(|p| &g.grantee == p))
        .collect();
    grants.sort_by(|a, b| a.grant_id.cmp(&b.grant_id));
    let mut out = Map::new();
    let grants = page(grants, paging, |g| g.grant_id.clone(), &mut out);
    out.insert(
        "Grants".into(),
        grants.iter().map(|g| g.listing()).collect(),
    );
    Ok(Value::Object(out))
}

fn revoke_grant(kms: &Kms, tx: &Tx, caller: &Caller, req: &Value) -> Result<Value> {
    let r = Req::parse(req, &["KeyId", "GrantId"])?;
    let key_ref = r.key_id("KeyId")?;
    r.str("GrantId")?;
    let grant_id = r
        .opt_str_len("GrantId", 1, 128)?
        .expect("present: checked above");
    let key = resolve_key_only(kms, tx, caller, key_ref, aliases_not_supported)?;
    policy::check(&key, caller, Action::RevokeGrant, None, Via::Api)?;
    if !key.grants.iter().any(|g| g.grant_id == grant_id) {
        bail!(
            Code::NOT_FOUND_EXCEPTION,
            "Grant ID {grant_id} not found for key {}",
            key.arn
        );
    }
    tx.delete::<GrantRecord>(grant_id)?;
    Ok(json!({}))
}

// ----- cryptographic operations -----

fn check_algorithm(r: &Req<'_>) -> Result<()> {
    match r.opt_str("EncryptionAlgorithm")? {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(a) => Err(Error::new(
            Code::VALIDATION_EXCEPTION,
            format!(
                "EncryptionAlgorithm {a} is not valid for a symmetric key: use SYMMETRIC_DEFAULT"
            ),
        )),
    }
}

fn generate_data_key_without_plaintext(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &Value,
) -> Result<Value> {
    let r = Req::parse(
        req,
        &[
            "KeyId",
            "KeySpec",
            "NumberOfBytes",
            "EncryptionContext",
            "GrantTokens",
        ],
    )?;
    let key_ref = r.key_id("KeyId")?;
    let spec = r.opt_str("KeySpec")?;
    let bytes = r.opt_int("NumberOfBytes", 1, 1024)?;
    let len = match (spec, bytes) {
        (Some(_), Some(_)) | (None, None) => bail!(
            Code::VALIDATION_EXCEPTION,
            "Please specify either number of bytes or key spec."
        ),
        (None, Some(n)) => n as usize,
        (Some("AES_256"), None) => 32,
        (Some("AES_128"), None) => 16,
        (Some(s), None) => return Err(enum_violation("KeySpec", s, &["AES_256", "AES_128"])),
    };
    let context = r.context("EncryptionContext")?;
    r.grant_tokens()?;
    let key = kms.resolve(tx, caller, key_ref)?;
    policy::check(
        &key,
        caller,
        Action::GenerateDataKeyWithoutPlaintext,
        Some(&context),
        Via::Api,
    )?;
    let material = kms.material(&key)?;
    let mut plaintext = Zeroizing::new(vec![0u8; len]);
    fill_random(&mut plaintext);
    let blob = crypto::seal_user(&material, &random_nonce(), &key.arn, &context, &plaintext);
    Ok(json!({ "CiphertextBlob": base64::encode(&blob), "KeyId": key.arn }))
}

fn encrypt(kms: &Kms, tx: &Tx, caller: &Caller, req: &Value) -> Result<Value> {
    let r = Req::parse(
        req,
        &[
            "KeyId",
            "Plaintext",
            "EncryptionContext",
            "GrantTokens",
            "EncryptionAlgorithm",
        ],
    )?;
    let key_ref = r.key_id("KeyId")?;
    let plaintext = r.blob("Plaintext", 4096)?;
    let context = r.context("EncryptionContext")?;
    r.grant_tokens()?;
    check_algorithm(&r)?;
    let key = kms.resolve(tx, caller, key_ref)?;
    policy::check(&key, caller, Action::Encrypt, Some(&context), Via::Api)?;
    let material = kms.material(&key)?;
    let blob = crypto::seal_user(&material, &random_nonce(), &key.arn, &context, &plaintext);
    Ok(json!({
        "CiphertextBlob": base64::encode(&blob),
        "KeyId": key.arn,
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }))
}

fn decrypt(kms: &Kms, tx: &Tx, caller: &Caller, req: &Value) -> Result<Value> {
    let r = Req::parse(
        req,
        &[
            "CiphertextBlob",
            "EncryptionContext",
            "GrantTokens",
            "KeyId",
            "EncryptionAlgorithm",
        ],
    )?;
    let blob = r.blob("CiphertextBlob", 6144)?;
    let context = r.context("EncryptionContext")?;
    r.grant_tokens()?;
    check_algorithm(&r)?;
    let key_ref = r.opt_str_len("KeyId", 1, 2048)?;

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
    if let Some(key_ref) = key_ref {
        if kms.resolve(tx, caller, key_ref)?.key_id != key.key_id {
            bail!(
                Code::INCORRECT_KEY_EXCEPTION,
                "The key ID in the request does not identify a KMS key that can perform this \
                 operation."
            );
        }
    }
    policy::check(&key, caller, Action::Decrypt, Some(&context), Via::Api)?;
    let material = kms.material(&key)?;
    let plaintext =
        crypto::open_user(&material, &key.arn, &context, &blob).map_err(invalid_ciphertext)?;
    Ok(json!({
        "Plaintext": base64::encode(&plaintext),
        "KeyId": key.arn,
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }))
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{admin, arn, user, Home, ACCT, REGION};
    use super::*;
    use crate::xts::XtsCipher;

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
        let none = h
            .tx(|kms, tx| kms.invoke(tx, &admin(), "RunInstances", &json!({})))
            .unwrap();
        assert!(none.is_none());
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
        let ebs = h
            .call(
                &user("bob"),
                "DescribeKey",
                json!({"KeyId": "alias/aws/ebs"}),
            )
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
        h.fails(&user("bob"), "CreateGrant", grant, denied);
        let enc = json!({"KeyId": "alias/aws/ebs", "Plaintext": b64(b"x")});
        h.fails(&user("bob"), "Encrypt", enc, denied);
        let gen = json!({"KeyId": "alias/aws/ebs", "NumberOfBytes": 64});
        h.fails(&admin(), "GenerateDataKeyWithoutPlaintext", gen, denied);
        h.call(&user("bob"), "ListGrants", json!({"KeyId": ebs_arn}))
            .unwrap();
        h.tx(|kms, tx| {
            let k = kms.aws_ebs_key(tx, &user("bob"))?;
            kms.generate_data_key(
                tx,
                &user("bob"),
                &k,
                "vol-1",
                crate::xts::XtsCipher::Aes256Xts,
            )
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
