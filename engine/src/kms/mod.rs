//! The local KMS: customer and AWS managed keys, aliases and grants in the catalog; the root key
//! file that protects key material at rest; and the envelope encryption of EBS data keys
//! (SEMANTICS §3, §18; DESIGN "The KMS").
//!
//! Layers: `crypto` seals and opens bytes (pure); `store` holds the records (pure); `policy` says
//! who may do what in which key state (pure); this module and `ops` are the shell that reads the
//! root key file, draws randomness and the clock, and reads and writes the catalog.
//!
//! Secrets — the root key, key material, data keys — live only in `Secret32`, `DataKey` and
//! `Zeroizing` buffers, are never formatted, logged or returned by an operation, and are written
//! to disk only sealed (key material) or in the 0600 root key file. A volume's data key leaves
//! the KMS only as a `DataKey` handed to the engine's data path.

mod crypto;
pub(crate) mod fuzzing;
mod key_policy;
mod ops;
mod policy;
pub(crate) mod requests;
pub mod responses;
mod store;
mod tags;

pub(crate) use crypto::Context;
pub(crate) use policy::{Action, Via};
pub(crate) use store::{
    key_arn, AliasRecord, GrantRecord, KeyManager, KeyRecord, KeyState, Origin,
};

use crate::catalog::Tx;
use crate::clock;
use crate::error::{Code, Error, Result};
use crate::ids::KeyId;
use crate::secret::{fill_random, random_u128, DataKey, Secret32};
use crate::xts::XtsCipher;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use zeroize::Zeroizing;

/// The alias of the AWS managed key for EBS.
pub(crate) const AWS_EBS_ALIAS: &str = "alias/aws/ebs";
/// The encryption-context key EBS binds data keys with.
pub(crate) const EBS_CONTEXT_KEY: &str = "aws:ebs:id";
const AWS_EBS_DESCRIPTION: &str =
    "Default master key that protects my EBS volumes when no other key is defined";
/// The root key file, in the home.
const ROOT_KEY_FILE: &str = "kms-root.key";
const DAY_MILLIS: i64 = 86_400_000;

/// Who is calling, and where: the region and account whose keys are meant, and the principal
/// whose permissions apply, with its identity policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Caller {
    pub region: String,
    pub account: String,
    /// `arn:aws:iam::ACCOUNT:user/NAME`.
    pub principal: String,
    /// The user and its identity policies.
    pub identity: std::sync::Arc<crate::iam::users::Identity>,
}

impl Caller {
    /// The caller named by profile `name` in `account`, acting in `region`, with no identity
    /// policies of its own (the admin has `*`); [`Caller::with_identity`] gives it its policies.
    #[cfg(test)]
    pub(crate) fn new(region: &str, account: &str, name: &str) -> Caller {
        Caller::with_identity(region, crate::iam::users::Identity::bare(account, name))
    }

    /// The caller `identity`, acting in `region`.
    pub(crate) fn with_identity(region: &str, identity: crate::iam::users::Identity) -> Caller {
        Caller {
            region: region.to_owned(),
            account: identity.account.clone(),
            principal: identity.arn.clone(),
            identity: std::sync::Arc::new(identity),
        }
    }

    /// The user's name: the last part of `principal`.
    pub(crate) fn user_name(&self) -> &str {
        self.principal
            .rsplit_once('/')
            .map_or(self.principal.as_str(), |(_, n)| n)
    }
}

/// A data key wrapped under a KMS key for one resource (volume or snapshot): what a volume's or
/// snapshot's metadata stores. Only the KMS turns it into a `DataKey`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WrappedKey {
    /// The KMS key's ARN.
    pub key_arn: String,
    /// The data key's lineage id (`DataEncryptionKeyId`): equal ids mean the same data key.
    pub dek_id: String,
    pub cipher: XtsCipher,
    /// The sealed data key (ciphertext), stored as hex.
    #[serde(with = "hex_blob")]
    pub blob: Vec<u8>,
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedKey")
            .field("key_arn", &self.key_arn)
            .field("dek_id", &self.dek_id)
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

mod hex_blob {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map_err(D::Error::custom)
    }
}

/// The local KMS of one home: holds the root key.
pub(crate) struct Kms {
    root: Secret32,
}

impl fmt::Debug for Kms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kms { .. }")
    }
}

/// How a `KeyId` argument names a key.
#[derive(Debug, PartialEq, Eq)]
enum KeyRef<'a> {
    Id(KeyId),
    KeyArn {
        region: &'a str,
        account: &'a str,
        id: KeyId,
    },
    AliasName(&'a str),
    AliasArn {
        region: &'a str,
        account: &'a str,
        name: &'a str,
    },
}

impl<'a> KeyRef<'a> {
    /// Parses a key id, key ARN, alias name or alias ARN.
    ///
    /// # Errors
    /// `NotFoundException` (`Invalid keyId …`) for anything else.
    fn parse(text: &'a str) -> Result<KeyRef<'a>> {
        let invalid = || Error::new(Code::NOT_FOUND_EXCEPTION, format!("Invalid keyId '{text}'"));
        if text.starts_with("alias/") {
            return Ok(KeyRef::AliasName(text));
        }
        if text.starts_with("arn:") {
            let (region, account, resource) = store::split_kms_arn(text).ok_or_else(invalid)?;
            if resource.starts_with("alias/") {
                return Ok(KeyRef::AliasArn {
                    region,
                    account,
                    name: resource,
                });
            }
            let id = resource.strip_prefix("key/").ok_or_else(invalid)?;
            let id = id.parse::<KeyId>().map_err(|_| invalid())?;
            return Ok(KeyRef::KeyArn {
                region,
                account,
                id,
            });
        }
        text.parse::<KeyId>().map(KeyRef::Id).map_err(|_| invalid())
    }

    fn is_alias(&self) -> bool {
        matches!(self, KeyRef::AliasName(_) | KeyRef::AliasArn { .. })
    }
}

fn key_not_found(arn: &str) -> Error {
    Error::new(
        Code::NOT_FOUND_EXCEPTION,
        format!("Key '{arn}' does not exist"),
    )
}

fn alias_not_found(alias_arn: &str) -> Error {
    Error::new(
        Code::NOT_FOUND_EXCEPTION,
        format!("Alias {alias_arn} is not found."),
    )
}

fn invalid_ciphertext(e: crypto::OpenError) -> Error {
    Error::new(Code::INVALID_CIPHERTEXT_EXCEPTION, e.to_string())
}

fn random_nonce() -> [u8; crypto::NONCE_LEN] {
    let mut n = [0u8; crypto::NONCE_LEN];
    fill_random(&mut n);
    n
}

/// A lowercase UUID (data-key lineage ids).
fn random_uuid() -> String {
    uuid::Builder::from_random_bytes(random_u128().to_le_bytes())
        .into_uuid()
        .to_string()
}

/// The encryption context EBS uses for resource `id`.
pub(crate) fn ebs_context(id: &str) -> Context {
    Context::from([(EBS_CONTEXT_KEY.to_owned(), id.to_owned())])
}

/// The grantee EC2 names in the grant it makes when an encrypted volume is attached to
/// instance `instance_id` of `account`, as ListGrants shows it (SEMANTICS §3.5).
pub(crate) fn ec2_instance_principal(account: &str, instance_id: &str) -> String {
    format!("{account}:aws:ec2-infrastructure:{instance_id}")
}

/// Whether `text` has the form of [`ec2_instance_principal`].
pub(crate) fn is_ec2_instance_principal(text: &str) -> bool {
    let Some((account, rest)) = text.split_once(":aws:ec2-infrastructure:") else {
        return false;
    };
    account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && rest.parse::<crate::ids::InstanceId>().is_ok()
}

/// Removes the grants EC2 made for the attachments of volume `volume_id` in `region` (detach,
/// termination, a launch that failed). A grant of another kind on the same key stays.
///
/// # Errors
/// Catalog errors.
pub(crate) fn retire_attachment_grants(tx: &Tx, region: &str, volume_id: &str) -> Result<()> {
    let context = ebs_context(volume_id);
    for g in tx.list::<GrantRecord>(region)? {
        let subset = g.constraints.as_ref().and_then(|c| c.subset.as_ref());
        if is_ec2_instance_principal(&g.grantee) && subset == Some(&context) {
            tx.delete::<GrantRecord>(&g.grant_id)?;
        }
    }
    Ok(())
}

impl Kms {
    /// Loads the home's root key, `HOME/kms-root.key` (32 random bytes, mode 0600). Never
    /// creates one: a new home gets its key from [`Kms::create`].
    ///
    /// # Errors
    /// `InvalidHome` if the file is missing; `CorruptFile` if it is not 32 bytes; I/O errors.
    pub fn open(home: &Path) -> Result<Kms> {
        let path = home.join(ROOT_KEY_FILE);
        match read_root_key(&path) {
            Ok(root) => Ok(Kms { root }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(root_key_missing(&path)),
            Err(e) => Err(root_key_error(&path, "read", e)),
        }
    }

    /// Loads the root key whose [`Kms::fingerprint`] is `recorded` (the catalog's). If
    /// `kms-root.key` is missing but a first start-up was cut short after committing the
    /// catalog and before linking its new key into place, the key file it left
    /// (`.kms-root.key.tmp-…`, see [`Kms::create`]) is linked into place first — only one whose
    /// fingerprint is `recorded`.
    ///
    /// # Errors
    /// As [`Kms::open`]; `InvalidHome` if the key's fingerprint is not `recorded`.
    pub(crate) fn open_recorded(home: &Path, recorded: &str) -> Result<Kms> {
        let kms = match Kms::open(home) {
            Err(e) if e.code() == Code::INVALID_HOME => {
                adopt_new_root_key(home, recorded)?;
                Kms::open(home)?
            }
            other => other?,
        };
        if kms.fingerprint() != recorded {
            return Err(Error::new(
                Code::INVALID_HOME,
                format!(
                    "The catalog {} belongs to another home: it records a different KMS root \
                     key than {}. Put back this home's own catalog.db (from a backup of this \
                     home), or use the catalog with the home it came from.",
                    home.join(crate::api::CATALOG_FILE).display(),
                    home.join(ROOT_KEY_FILE).display()
                ),
            ));
        }
        remove_installed_temps(home)?;
        Ok(kms)
    }

    /// Makes the root key of a brand-new home: 32 random bytes written to a new file
    /// `HOME/.kms-root.key.tmp-…` (0600) and made durable with the home folder. Returns the
    /// KMS and the key's file; the caller records [`Kms::fingerprint`] in the catalog, then,
    /// once that committed, puts the key in place with [`NewRootKey::install`]. Should the
    /// process die in between, [`Kms::open_recorded`] finishes the job.
    ///
    /// # Errors
    /// I/O errors writing the file or syncing the folder.
    pub(crate) fn create(home: &Path) -> Result<(Kms, NewRootKey)> {
        let tmp = home.join(format!("{NEW_ROOT_KEY_PREFIX}{:032x}", random_u128()));
        let mut root = Secret32::zeroed();
        fill_random(&mut *root.0);
        let write = || -> io::Result<()> {
            crate::fail::point("kms.root-key.create")?;
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(root.expose())?;
            crate::fail::point("kms.root-key.fsync")?;
            f.sync_all()
        };
        write().map_err(|e| root_key_error(&tmp, "create", e))?;
        sync_home(home, "kms.home-dir.fsync")?;
        let new = NewRootKey {
            home: home.to_owned(),
            tmp,
        };
        Ok((Kms { root }, new))
    }

    /// Removes root key files that a brand-new home's first start-up wrote and never
    /// committed (see [`Kms::create`]). Call it only for a home whose catalog records no
    /// account, under the catalog's write lock: then no catalog names such a file.
    ///
    /// # Errors
    /// I/O errors listing the home or removing a file.
    pub(crate) fn remove_uncommitted(home: &Path) -> Result<()> {
        for path in new_root_key_files(home)? {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(root_key_error(&path, "remove", e))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The root key's fingerprint, which the catalog records to tell its own root key from
    /// another home's: hex SHA-256 of a domain-separation string and the key. It reveals
    /// nothing of the key.
    pub(crate) fn fingerprint(&self) -> String {
        fingerprint_of(&self.root)
    }

    /// Resolves a key id, key ARN, alias name or alias ARN in `caller.region` to a key, with its
    /// grants (which [`Kms::authorize`] consults). Resolving `alias/aws/ebs` of the caller's
    /// account creates the AWS managed key on first use. Checks neither permission nor state.
    ///
    /// # Errors
    /// `NotFoundException`: unknown key or alias, malformed reference, or a key or alias ARN of
    /// another region.
    pub fn resolve(&self, tx: &Tx, caller: &Caller, key_ref: &str) -> Result<KeyRecord> {
        match KeyRef::parse(key_ref)? {
            KeyRef::Id(id) => self.find_key(tx, &caller.region, &caller.account, &id),
            KeyRef::KeyArn {
                region,
                account,
                id,
            } => {
                if region != caller.region {
                    return Err(key_not_found(key_ref));
                }
                self.find_key(tx, region, account, &id)
            }
            KeyRef::AliasName(name) => self.find_alias(tx, caller, &caller.account, name),
            KeyRef::AliasArn {
                region,
                account,
                name,
            } => {
                if region != caller.region {
                    return Err(alias_not_found(key_ref));
                }
                self.find_alias(tx, caller, account, name)
            }
        }
    }

    /// The AWS managed key `alias/aws/ebs` of the caller's account and region, created on first
    /// use (`KeyManager` AWS).
    ///
    /// # Errors
    /// Catalog errors.
    pub fn aws_ebs_key(&self, tx: &Tx, caller: &Caller) -> Result<KeyRecord> {
        self.find_alias(tx, caller, &caller.account, AWS_EBS_ALIAS)
    }

    /// Checks that `caller` may perform `op` (an AWS KMS action name such as `Decrypt`) on `key`
    /// through EBS, and that `key`'s state allows it. Grants with encryption-context
    /// constraints count only where the context is known (the data-key methods below), not here.
    ///
    /// # Errors
    /// `AccessDeniedException` first; then `DisabledException` or `KMSInvalidStateException` per
    /// SEMANTICS §3.1; `KMSInternalException` for an unknown `op`.
    pub fn authorize(&self, key: &KeyRecord, caller: &Caller, op: &str) -> Result<()> {
        let action = Action::parse(op).ok_or_else(|| {
            Error::new(
                Code::KMS_INTERNAL_EXCEPTION,
                format!("unknown KMS action {op}"),
            )
        })?;
        policy::check(key, caller, action, None, Via::Ebs)
    }

    /// The grant EC2 makes when encrypted volume `volume_id` is attached to `instance_id` of
    /// `account` (SEMANTICS §6 rule 4, §18 rule 6), as AWS shows it in ListGrants: grantee
    /// [`ec2_instance_principal`], operation `Decrypt`, constrained to the volume's
    /// `aws:ebs:id`, issued by the key's account. `caller` needs `kms:CreateGrant` through EC2
    /// (where `kms:GrantIsForAWSResource` is true). An attachment has one such grant, removed
    /// by [`retire_attachment_grants`] when the attachment ends.
    ///
    /// # Errors
    /// Those of [`Kms::authorize`] for `CreateGrant`.
    pub(crate) fn grant_for_attachment(
        &self,
        tx: &Tx,
        caller: &Caller,
        key: &KeyRecord,
        account: &str,
        volume_id: &str,
        instance_id: &str,
    ) -> Result<()> {
        self.authorize(key, caller, "CreateGrant")?;
        let grantee = ec2_instance_principal(account, instance_id);
        let constraints = Some(store::Constraints {
            subset: Some(ebs_context(volume_id)),
            equals: None,
        });
        if (key.grants.iter()).any(|g| g.grantee == grantee && g.constraints == constraints) {
            return Ok(());
        }
        let new = ops::NewGrant {
            name: None,
            grantee,
            retiring: None,
            operations: vec![Action::Decrypt.name().to_owned()],
            constraints,
        };
        ops::put_grant(tx, key, new).map(drop)
    }

    /// GenerateDataKeyWithoutPlaintext for EBS: a fresh XTS data key of `cipher.key_len()` bytes
    /// for the resource `context_id` (the `aws:ebs:id` value), wrapped under `key`, with a new
    /// lineage id. The key's current state and grants are re-read from the catalog.
    ///
    /// # Errors
    /// `NotFoundException` if the key is gone; those of [`Kms::authorize`] for
    /// `GenerateDataKeyWithoutPlaintext`.
    pub fn generate_data_key(
        &self,
        tx: &Tx,
        caller: &Caller,
        key: &KeyRecord,
        context_id: &str,
        cipher: XtsCipher,
    ) -> Result<(WrappedKey, DataKey)> {
        let key = self.reload(tx, key)?;
        let action = Action::GenerateDataKeyWithoutPlaintext;
        policy::check(
            &key,
            caller,
            action,
            Some(&ebs_context(context_id)),
            Via::Ebs,
        )?;
        let (version, material) = self.current_material(&key)?;
        let mut raw = Zeroizing::new([0u8; 64]);
        fill_random(&mut raw[..cipher.key_len()]);
        let data_key = DataKey::from_slice(&raw[..cipher.key_len()]);
        let dek_id = random_uuid();
        let binding = crypto::DataKeyBinding {
            key_arn: &key.arn,
            context_id,
            dek_id: &dek_id,
            cipher,
        };
        let blob =
            crypto::seal_data_key_v2(&material, &random_nonce(), &binding, version, &data_key);
        Ok((
            WrappedKey {
                key_arn: key.arn.clone(),
                dek_id,
                cipher,
                blob,
            },
            data_key,
        ))
    }

    /// Decrypt of a wrapped EBS data key bound to resource `context_id`. The key is found by the
    /// ARN in `wrapped`, in whatever region that names.
    ///
    /// # Errors
    /// `NotFoundException` if the key is gone; those of [`Kms::authorize`] for `Decrypt`;
    /// `InvalidCiphertextException` for another context, a tampered blob, or a blob that does not
    /// match `wrapped`'s key, lineage id or cipher.
    pub fn unwrap_data_key(
        &self,
        tx: &Tx,
        caller: &Caller,
        wrapped: &WrappedKey,
        context_id: &str,
    ) -> Result<DataKey> {
        let key = self.key_by_arn(tx, &wrapped.key_arn)?;
        policy::check(
            &key,
            caller,
            Action::Decrypt,
            Some(&ebs_context(context_id)),
            Via::Ebs,
        )?;
        self.open_wrapped(&key, wrapped, context_id)
    }

    /// Opens `wrapped` under the material version it names.
    fn open_wrapped(
        &self,
        key: &KeyRecord,
        wrapped: &WrappedKey,
        context_id: &str,
    ) -> Result<DataKey> {
        let version = crypto::data_key_version(&wrapped.blob).map_err(invalid_ciphertext)?;
        let material = self.material_at(key, version)?;
        let binding = binding_of(wrapped, context_id);
        crypto::open_any_data_key(&material, &binding, &wrapped.blob).map_err(invalid_ciphertext)
    }

    /// Whether `wrapped` opens under its KMS key for resource `context_id`, checked for the
    /// home's operator (`blockseal doctor`), not for a principal: no key policy or grant is
    /// consulted. The data key is dropped (zeroized) at once; nothing of it is returned.
    ///
    /// # Errors
    /// `NotFoundException` if the key is gone; `KMSInvalidStateException` for a key without
    /// material; `InvalidCiphertextException` if the wrapped key does not open.
    pub(crate) fn verify_data_key(
        &self,
        tx: &Tx,
        wrapped: &WrappedKey,
        context_id: &str,
    ) -> Result<()> {
        let key = self.key_by_arn(tx, &wrapped.key_arn)?;
        self.open_wrapped(&key, wrapped, context_id).map(drop)
    }

    /// ReEncrypt of a wrapped EBS data key to the same KMS key and a new resource: the result
    /// has the same data key and lineage id, bound to `to_context`.
    ///
    /// # Errors
    /// As [`Kms::unwrap_data_key`], with `ReEncryptFrom` (under `from_context`) and `ReEncryptTo`
    /// (under `to_context`) checked instead of `Decrypt`.
    pub fn rewrap_data_key(
        &self,
        tx: &Tx,
        caller: &Caller,
        wrapped: &WrappedKey,
        from_context: &str,
        to_context: &str,
    ) -> Result<WrappedKey> {
        let key = self.key_by_arn(tx, &wrapped.key_arn)?;
        policy::check(
            &key,
            caller,
            Action::ReEncryptFrom,
            Some(&ebs_context(from_context)),
            Via::Ebs,
        )?;
        policy::check(
            &key,
            caller,
            Action::ReEncryptTo,
            Some(&ebs_context(to_context)),
            Via::Ebs,
        )?;
        let data_key = self.open_wrapped(&key, wrapped, from_context)?;
        // Re-wrapped under the newest material, as AWS ReEncrypt does.
        let (version, material) = self.current_material(&key)?;
        let to = binding_of(wrapped, to_context);
        let blob = crypto::seal_data_key_v2(&material, &random_nonce(), &to, version, &data_key);
        Ok(WrappedKey {
            blob,
            ..wrapped.clone()
        })
    }

    /// Runs the KMS operation `req`; its response serializes as the AWS KMS JSON API's
    /// (docs/OPERATIONS.md).
    ///
    /// # Errors
    /// The AWS KMS error of the operation; `ValidationException` for a request its parser
    /// would refuse.
    pub fn invoke(
        &self,
        tx: &Tx,
        caller: &Caller,
        req: &crate::request::KmsRequest,
    ) -> Result<responses::KmsResponse> {
        ops::invoke(self, tx, caller, req)
    }

    /// Seals an API secret access key for storage in the catalog, bound to its id.
    pub(crate) fn seal_credential(&self, access_key_id: &str, secret: &[u8]) -> Vec<u8> {
        crypto::seal_credential(&self.root, &random_nonce(), access_key_id, secret)
    }

    /// Opens a secret sealed by [`Kms::seal_credential`].
    ///
    /// # Errors
    /// `CorruptFile` when the blob was changed or belongs to another access key.
    pub(crate) fn open_credential(
        &self,
        access_key_id: &str,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        crypto::open_credential(&self.root, access_key_id, blob).map_err(|e| {
            Error::new(
                Code::CORRUPT_FILE,
                format!("the stored secret of access key {access_key_id} does not open: {e}"),
            )
        })
    }

    /// Deletes the keys whose deletion date has passed, with their aliases and grants, and
    /// rotates the enabled keys whose next automatic rotation date has passed (once, however long
    /// ago: the next date is then a period from `now_millis`). A disabled key is not rotated; it
    /// rotates once it is enabled again and a sweep runs.
    ///
    /// # Errors
    /// Catalog errors.
    pub fn sweep(&self, tx: &Tx, now_millis: i64) -> Result<()> {
        for mut key in tx.list_all::<KeyRecord>()? {
            let due = key.deletion_millis.is_some_and(|d| d <= now_millis);
            if key.state == KeyState::PendingDeletion && due {
                delete_key(tx, &key)?;
                continue;
            }
            let Some((days, next)) = key.rotation_schedule() else {
                continue;
            };
            let has_material = key.sealed_material.is_some();
            if key.state == KeyState::Enabled && has_material && next <= now_millis {
                self.rotate(&mut key, store::RotationType::Automatic, now_millis)?;
                key.rotation.next_millis = Some(now_millis + i64::from(days) * DAY_MILLIS);
                tx.put(&key)?;
            }
        }
        Ok(())
    }

    // ----- the shell's building blocks, shared with `ops` -----

    /// The key `id` with its grants, if it exists.
    fn load_key(&self, tx: &Tx, id: &KeyId) -> Result<Option<KeyRecord>> {
        let Some(mut key) = tx.get::<KeyRecord>(id.as_str())? else {
            return Ok(None);
        };
        key.grants = tx
            .list::<GrantRecord>(&key.region)?
            .into_iter()
            .filter(|g| g.key_id == key.key_id)
            .collect();
        Ok(Some(key))
    }

    /// `key` as the catalog has it now.
    fn reload(&self, tx: &Tx, key: &KeyRecord) -> Result<KeyRecord> {
        self.load_key(tx, &key.key_id)?
            .ok_or_else(|| key_not_found(&key.arn))
    }

    /// The key `id` of `account` in `region`.
    fn find_key(&self, tx: &Tx, region: &str, account: &str, id: &KeyId) -> Result<KeyRecord> {
        match self.load_key(tx, id)? {
            Some(k) if k.region == region && k.account == account => Ok(k),
            _ => Err(key_not_found(&key_arn(region, account, id.as_str()))),
        }
    }

    /// The key a key ARN names, in any region.
    fn key_by_arn(&self, tx: &Tx, arn: &str) -> Result<KeyRecord> {
        match KeyRef::parse(arn)? {
            KeyRef::KeyArn {
                region,
                account,
                id,
            } => self.find_key(tx, region, account, &id),
            _ => Err(Error::new(
                Code::NOT_FOUND_EXCEPTION,
                format!("Invalid keyId '{arn}'"),
            )),
        }
    }

    /// The key alias `name` of `account` in the caller's region points at.
    fn find_alias(&self, tx: &Tx, caller: &Caller, account: &str, name: &str) -> Result<KeyRecord> {
        let arn = store::alias_arn(&caller.region, account, name);
        match tx.get::<AliasRecord>(&arn)? {
            Some(a) => self.find_key(tx, &caller.region, account, &a.target_key_id),
            None if name == AWS_EBS_ALIAS && account == caller.account => {
                self.create_aws_ebs_key(tx, caller)
            }
            None => Err(alias_not_found(&arn)),
        }
    }

    fn create_aws_ebs_key(&self, tx: &Tx, caller: &Caller) -> Result<KeyRecord> {
        let now = clock::now_millis();
        let mut key = self.new_key(
            &caller.region,
            &caller.account,
            KeyManager::Aws,
            Origin::AwsKms,
            AWS_EBS_DESCRIPTION,
            None,
            now,
        );
        // AWS managed keys rotate every year, and that cannot be turned off.
        let days = store::AWS_MANAGED_ROTATION_DAYS;
        key.rotation.period_days = Some(days);
        key.rotation.next_millis = Some(now + i64::from(days) * DAY_MILLIS);
        tx.put(&key)?;
        tx.put(&AliasRecord {
            name: AWS_EBS_ALIAS.to_owned(),
            arn: store::alias_arn(&caller.region, &caller.account, AWS_EBS_ALIAS),
            region: caller.region.clone(),
            account: caller.account.clone(),
            target_key_id: key.key_id.clone(),
            creation_millis: now,
            updated_millis: now,
        })?;
        Ok(key)
    }

    /// A new key record; `Origin::AwsKms` keys get fresh material (sealed under the root key)
    /// and start `Enabled`, `Origin::External` keys start `PendingImport` without material.
    #[allow(clippy::too_many_arguments)]
    fn new_key(
        &self,
        region: &str,
        account: &str,
        manager: KeyManager,
        origin: Origin,
        description: &str,
        creator: Option<String>,
        now: i64,
    ) -> KeyRecord {
        let key_id = KeyId::generate(random_u128());
        let arn = key_arn(region, account, key_id.as_str());
        let (state, sealed_material) = match origin {
            Origin::AwsKms => {
                let mut material = Secret32::zeroed();
                fill_random(&mut *material.0);
                let blob = crypto::seal_material(&self.root, &random_nonce(), &arn, &material);
                (KeyState::Enabled, Some(hex::encode(blob)))
            }
            Origin::External => (KeyState::PendingImport, None),
        };
        KeyRecord {
            key_id,
            arn,
            region: region.to_owned(),
            account: account.to_owned(),
            state,
            key_manager: manager,
            origin,
            description: description.to_owned(),
            creation_millis: now,
            deletion_millis: None,
            pending_window_days: None,
            creator,
            policy: None,
            sealed_material,
            grants: Vec::new(),
            rotation: store::Rotation::default(),
        }
    }

    /// `key`'s material of `version`, unsealed.
    ///
    /// # Errors
    /// `KMSInvalidStateException` for a key without material; `InvalidCiphertextException` for a
    /// version the key does not have (a ciphertext naming it was forged or belongs elsewhere);
    /// `KMSInternalException` if the sealed material does not open under the root key.
    fn material_at(&self, key: &KeyRecord, version: u32) -> Result<Secret32> {
        let Some(sealed) = &key.sealed_material else {
            let msg = format!("{} is pending import.", key.arn);
            return Err(Error::new(Code::KMS_INVALID_STATE_EXCEPTION, msg));
        };
        let sealed = match version {
            0 => sealed,
            v => match key.rotation.versions.get(v as usize - 1) {
                Some(m) => &m.sealed,
                None => {
                    return Err(Error::new(
                        Code::INVALID_CIPHERTEXT_EXCEPTION,
                        format!(
                            "The ciphertext names key material that {} does not have",
                            key.arn
                        ),
                    ))
                }
            },
        };
        let broken = |why: String| {
            Error::new(
                Code::KMS_INTERNAL_EXCEPTION,
                format!(
                    "the material of {} does not open under this home's {ROOT_KEY_FILE}: {why}",
                    key.arn
                ),
            )
        };
        let blob = hex::decode(sealed).map_err(|e| broken(e.to_string()))?;
        match version {
            0 => crypto::open_material(&self.root, &key.arn, &blob),
            v => crypto::open_material_version(&self.root, &key.arn, v, &blob),
        }
        .map_err(|e| broken(e.to_string()))
    }

    /// `key`'s newest material, which new ciphertexts use, with its version.
    fn current_material(&self, key: &KeyRecord) -> Result<(u32, Secret32)> {
        let version = key.current_version();
        Ok((version, self.material_at(key, version)?))
    }

    /// Adds a new material version to `key` (a rotation at `now` of `kind`), sealed under the root
    /// key; the caller stores the record.
    ///
    /// # Errors
    /// `KMSInvalidStateException` for a key without material.
    fn rotate(&self, key: &mut KeyRecord, kind: store::RotationType, now: i64) -> Result<()> {
        if key.sealed_material.is_none() {
            let msg = format!("{} is pending import.", key.arn);
            return Err(Error::new(Code::KMS_INVALID_STATE_EXCEPTION, msg));
        }
        let version = key.current_version() + 1;
        let mut material = Secret32::zeroed();
        fill_random(&mut *material.0);
        let blob = crypto::seal_material_version(
            &self.root,
            &random_nonce(),
            &key.arn,
            version,
            &material,
        );
        key.rotation.versions.push(store::MaterialVersion {
            sealed: hex::encode(blob),
            rotation_millis: now,
            rotation_type: kind,
        });
        Ok(())
    }
}

fn binding_of<'a>(w: &'a WrappedKey, context_id: &'a str) -> crypto::DataKeyBinding<'a> {
    crypto::DataKeyBinding {
        key_arn: &w.key_arn,
        context_id,
        dek_id: &w.dek_id,
        cipher: w.cipher,
    }
}

/// Deletes `key` with its aliases and grants.
fn delete_key(tx: &Tx, key: &KeyRecord) -> Result<()> {
    for a in tx.list::<AliasRecord>(&key.region)? {
        if a.target_key_id == key.key_id {
            tx.delete::<AliasRecord>(&a.arn)?;
        }
    }
    for g in tx.list::<GrantRecord>(&key.region)? {
        if g.key_id == key.key_id {
            tx.delete::<GrantRecord>(&g.grant_id)?;
        }
    }
    tx.delete::<KeyRecord>(key.key_id.as_str())?;
    tags::remove(tx, key)?;
    Ok(())
}

fn root_key_error(path: &Path, step: &str, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::InvalidData {
        let msg = format!("KMS root key {} is damaged: {e}", path.display());
        return Error::new(Code::CORRUPT_FILE, msg).with_source(e);
    }
    Error::io(format!("{step} KMS root key {}", path.display()), e)
}

/// Reads the root key: exactly 32 bytes.
fn read_root_key(path: &Path) -> io::Result<Secret32> {
    let mut file = fs::File::open(path)?;
    let mut root = Secret32::zeroed();
    file.read_exact(&mut *root.0).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            io::Error::new(io::ErrorKind::InvalidData, "shorter than 32 bytes")
        }
        _ => e,
    })?;
    let mut extra = [0u8; 1];
    if file.read(&mut extra)? != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "longer than 32 bytes",
        ));
    }
    Ok(root)
}

/// How the files of new root keys begin, before they are linked to `kms-root.key`.
const NEW_ROOT_KEY_PREFIX: &str = ".kms-root.key.tmp-";

/// Domain separation of root key fingerprints, so they can never equal another hash of the key.
const FINGERPRINT_DOMAIN: &[u8] = b"blockseal kms root key fingerprint v1\0";

fn fingerprint_of(root: &Secret32) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(FINGERPRINT_DOMAIN);
    h.update(root.expose());
    hex::encode(h.finalize())
}

/// The `InvalidHome` error for a missing root key file.
fn root_key_missing(path: &Path) -> Error {
    Error::new(
        Code::INVALID_HOME,
        format!(
            "The KMS root key {} is missing, and this home's catalog holds keys and data \
             that only it can open. Restore the file from a backup of this home. blockseal \
             does not make a new one for an existing home: a new key cannot open what the old \
             one protected.",
            path.display()
        ),
    )
}

/// A brand-new home's root key, written and durable under a temporary name, not yet in place.
#[derive(Debug)]
pub(crate) struct NewRootKey {
    home: std::path::PathBuf,
    tmp: std::path::PathBuf,
}

impl NewRootKey {
    /// Links the key file to `kms-root.key` (never replacing a file), removes the temporary name
    /// and syncs the home folder. Call it once the catalog has committed the key's fingerprint.
    ///
    /// # Errors
    /// I/O errors; `InvalidHome` if another key file took the name meanwhile.
    pub(crate) fn install(self) -> Result<()> {
        let path = self.home.join(ROOT_KEY_FILE);
        link_root_key(&self.tmp, &path)?;
        match crate::fail::point("kms.root-key.remove-temp")
            .and_then(|()| fs::remove_file(&self.tmp))
        {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(root_key_error(&self.tmp, "remove temporary", e))
            }
            _ => {}
        }
        sync_home(&self.home, "kms.home-dir.fsync")
    }
}

/// Links `tmp` to `path`. Linking (unlike rename) never replaces a file; finding `path` there
/// already is fine if it is the same key (another process adopted `tmp` first).
fn link_root_key(tmp: &Path, path: &Path) -> Result<()> {
    match crate::fail::point("kms.root-key.link").and_then(|()| fs::hard_link(tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let same = match (read_root_key(tmp), read_root_key(path)) {
                (Ok(a), Ok(b)) => a.expose() == b.expose(),
                // The temporary is gone: whoever linked it removed it afterwards.
                (Err(t), Ok(_)) => t.kind() == io::ErrorKind::NotFound,
                (_, Err(e)) => return Err(root_key_error(path, "read", e)),
            };
            if same {
                return Ok(());
            }
            Err(Error::new(
                Code::INVALID_HOME,
                format!(
                    "{} appeared while a new home was being made; remove it if it does not \
                     belong to this home",
                    path.display()
                ),
            ))
        }
        Err(e) => Err(root_key_error(path, "create", e)),
    }
}

/// The files of new root keys in `home` that were never linked into place.
fn new_root_key_files(home: &Path) -> Result<Vec<std::path::PathBuf>> {
    let list = |e| Error::io(format!("list {}", home.display()), e);
    let mut out = Vec::new();
    for entry in fs::read_dir(home).map_err(list)? {
        let entry = entry.map_err(list)?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(NEW_ROOT_KEY_PREFIX))
        {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Removes the temporary names of the root key that are the very file of `kms-root.key` (same
/// device and inode): a first start-up cut short between linking its key into place and
/// removing the temporary name leaves one, a second name of the key that nothing else removes.
fn remove_installed_temps(home: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let path = home.join(ROOT_KEY_FILE);
    let key = fs::metadata(&path).map_err(|e| root_key_error(&path, "stat", e))?;
    let mut removed = false;
    for tmp in new_root_key_files(home)? {
        match fs::symlink_metadata(&tmp) {
            Ok(m) if m.dev() == key.dev() && m.ino() == key.ino() => {
                match crate::fail::point("kms.root-key.remove-temp")
                    .and_then(|()| fs::remove_file(&tmp))
                {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        return Err(root_key_error(&tmp, "remove temporary", e))
                    }
                    _ => removed = true,
                }
            }
            _ => {}
        }
    }
    if removed {
        sync_home(home, "kms.home-dir.fsync")?;
    }
    Ok(())
}

/// Links into place the new root key file whose fingerprint is `recorded`, if there is one.
fn adopt_new_root_key(home: &Path, recorded: &str) -> Result<()> {
    for tmp in new_root_key_files(home)? {
        let root = match read_root_key(&tmp) {
            Ok(r) => r,
            // Another process may have just linked and removed it; any other unreadable file
            // is not the key the catalog recorded.
            Err(_) => continue,
        };
        if fingerprint_of(&root) == recorded {
            return NewRootKey {
                home: home.to_owned(),
                tmp,
            }
            .install();
        }
    }
    Ok(())
}

/// fsyncs the home folder; `point` names the step for fault injection.
fn sync_home(home: &Path, point: &'static str) -> Result<()> {
    crate::fail::point(point)
        .and_then(|()| fs::File::open(home))
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("fsync {}", home.display()), e))
}

#[cfg(test)]
pub(super) mod testkit {
    //! A home with a real catalog and KMS, for the KMS's tests.

    use super::{Caller, Kms};
    use crate::catalog::{Catalog, Tx};
    use crate::error::{Code, Result};
    use crate::request::Request;
    use serde_json::Value;

    pub(crate) const ACCT: &str = "111122223333";
    pub(crate) const REGION: &str = "us-east-1";

    pub(crate) struct Home {
        pub dir: tempfile::TempDir,
        pub cat: Catalog,
        pub kms: Kms,
    }

    impl Home {
        pub(crate) fn new() -> Home {
            let dir = tempfile::tempdir().unwrap();
            let cat = Catalog::open(&dir.path().join("catalog.db")).unwrap();
            let (kms, key_file) = Kms::create(dir.path()).unwrap();
            key_file.install().unwrap();
            Home { dir, cat, kms }
        }

        /// Runs `f` in a write transaction.
        pub(crate) fn tx<T>(&mut self, f: impl FnOnce(&Kms, &Tx<'_>) -> Result<T>) -> Result<T> {
            let kms = &self.kms;
            self.cat.write(|tx| f(kms, tx))
        }

        /// Parses KMS operation `op`'s request from `req`, as the front ends do, and runs it.
        pub(crate) fn call(&mut self, who: &Caller, op: &str, req: Value) -> Result<Value> {
            let Request::Kms(req) = Request::parse(op, req)? else {
                panic!("{op} is not a KMS operation");
            };
            let out = self.tx(|kms, tx| kms.invoke(tx, who, &req))?;
            Ok(serde_json::to_value(&out).expect("a KMS response serializes"))
        }

        /// Runs `op`, expecting it to fail with `code`; returns the message.
        pub(crate) fn fails(&mut self, who: &Caller, op: &str, req: Value, code: Code) -> String {
            match self.call(who, op, req) {
                Ok(v) => panic!("{op} succeeded with {v}, expected {code}"),
                Err(e) => {
                    assert_eq!(e.code(), code, "{op}: {}", e.message());
                    e.message().to_owned()
                }
            }
        }

        /// A new customer key of `who`; returns its id.
        pub(crate) fn create_key(&mut self, who: &Caller) -> String {
            let out = self.call(who, "CreateKey", serde_json::json!({})).unwrap();
            out["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
        }
    }

    pub(crate) fn admin() -> Caller {
        Caller::new(REGION, ACCT, "admin")
    }

    pub(crate) fn user(name: &str) -> Caller {
        Caller::new(REGION, ACCT, name)
    }

    /// User `name` with identity policies `docs`.
    pub(crate) fn user_with(name: &str, docs: &[&str]) -> Caller {
        let id = crate::iam::users::Identity::bare(ACCT, name).with_policies(docs);
        Caller::with_identity(REGION, id)
    }

    /// An identity policy allowing every KMS action on every key.
    pub(crate) const KMS_ALL: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#;

    pub(crate) fn arn(id: &str) -> String {
        super::key_arn(REGION, ACCT, id)
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::{admin, arn, user, user_with, Home, ACCT, KMS_ALL, REGION};
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn code<T>(r: Result<T>) -> Code {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.code(),
        }
    }

    #[test]
    fn root_key_file_is_private_and_reused() {
        let mut h = Home::new();
        let path = h.dir.path().join(ROOT_KEY_FILE);
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
        let leftovers: Vec<_> = fs::read_dir(h.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary file is left behind");

        // A second open reads the same root key: material sealed by the first opens.
        let id = h.create_key(&admin());
        let (w, dk) = h
            .tx(|kms, tx| {
                let k = kms.resolve(tx, &admin(), &id)?;
                kms.generate_data_key(tx, &admin(), &k, "vol-1", XtsCipher::Aes256Xts)
            })
            .unwrap();
        h.kms = Kms::open(h.dir.path()).unwrap();
        let back = h
            .tx(|kms, tx| kms.unwrap_data_key(tx, &admin(), &w, "vol-1"))
            .unwrap();
        assert_eq!(back.expose(), dk.expose());

        // A missing root key is refused, never made anew.
        let fp = h.kms.fingerprint();
        let saved = fs::read(&path).unwrap();
        fs::remove_file(&path).unwrap();
        assert_eq!(code(Kms::open(h.dir.path())), Code::INVALID_HOME);
        assert_eq!(
            code(Kms::open_recorded(h.dir.path(), &fp)),
            Code::INVALID_HOME
        );
        assert!(!path.exists(), "no key file was made");

        // A different root key cannot open the material, and its fingerprint differs.
        let (other, other_file) = Kms::create(h.dir.path()).unwrap();
        other_file.install().unwrap();
        assert_ne!(other.fingerprint(), fp);
        assert_eq!(
            code(Kms::open_recorded(h.dir.path(), &fp)),
            Code::INVALID_HOME
        );
        h.kms = Kms::open_recorded(h.dir.path(), &other.fingerprint()).unwrap();
        let e = h
            .tx(|kms, tx| kms.unwrap_data_key(tx, &admin(), &w, "vol-1"))
            .err()
            .unwrap();
        assert_eq!(e.code(), Code::KMS_INTERNAL_EXCEPTION);

        fs::write(&path, &saved).unwrap();
        assert_eq!(Kms::open(h.dir.path()).unwrap().fingerprint(), fp);

        fs::write(&path, [1u8; 31]).unwrap();
        assert_eq!(code(Kms::open(h.dir.path())), Code::CORRUPT_FILE);
        fs::write(&path, [1u8; 33]).unwrap();
        assert_eq!(code(Kms::open(h.dir.path())), Code::CORRUPT_FILE);
    }

    #[test]
    fn a_new_root_key_left_unlinked_is_adopted_only_by_its_fingerprint() {
        // A first start-up that committed the catalog (with the fingerprint) and died before
        // linking the key into place.
        let dir = tempfile::tempdir().unwrap();
        let (kms, _unlinked) = Kms::create(dir.path()).unwrap();
        let fp = kms.fingerprint();
        assert_eq!(fp.len(), 64);
        assert!(!fp.contains(&hex::encode(kms.root.expose())));
        let path = dir.path().join(ROOT_KEY_FILE);
        assert!(!path.exists());
        let wrong = "0".repeat(64);
        assert_eq!(
            code(Kms::open_recorded(dir.path(), &wrong)),
            Code::INVALID_HOME
        );
        assert!(
            !path.exists(),
            "a key the catalog does not name is not adopted"
        );
        let back = Kms::open_recorded(dir.path(), &fp).unwrap();
        assert_eq!(back.fingerprint(), fp);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(new_root_key_files(dir.path()).unwrap().is_empty());
        // Uncommitted key files of a new home are removed on request.
        let (_k, _f) = Kms::create(dir.path()).unwrap();
        assert_eq!(new_root_key_files(dir.path()).unwrap().len(), 1);
        Kms::remove_uncommitted(dir.path()).unwrap();
        assert!(new_root_key_files(dir.path()).unwrap().is_empty());
        assert_eq!(Kms::open(dir.path()).unwrap().fingerprint(), fp);
    }

    #[test]
    fn a_key_linked_in_place_loses_its_temporary_name_on_the_next_open() {
        // A first start-up died after linking its key to kms-root.key and before removing the
        // temporary name: that second name of the key must not stay in the home for good.
        let dir = tempfile::tempdir().unwrap();
        let (kms, unlinked) = Kms::create(dir.path()).unwrap();
        let fp = kms.fingerprint();
        let tmp = new_root_key_files(dir.path()).unwrap().pop().unwrap();
        fs::hard_link(&tmp, dir.path().join(ROOT_KEY_FILE)).unwrap();
        // Another home's uncommitted key file (another inode) is not this key's name.
        let (_other, _f) = Kms::create(dir.path()).unwrap();
        assert_eq!(new_root_key_files(dir.path()).unwrap().len(), 2);
        assert_eq!(
            Kms::open_recorded(dir.path(), &fp).unwrap().fingerprint(),
            fp
        );
        let left = new_root_key_files(dir.path()).unwrap();
        assert_eq!(left.len(), 1);
        assert_ne!(left[0], tmp);
        assert!(!tmp.exists());
        drop(unlinked);
    }

    #[test]
    fn key_refs_parse() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let k: KeyId = id.parse().unwrap();
        assert_eq!(KeyRef::parse(id).unwrap(), KeyRef::Id(k.clone()));
        assert_eq!(
            KeyRef::parse(&arn(id)).unwrap(),
            KeyRef::KeyArn {
                region: REGION,
                account: ACCT,
                id: k
            }
        );
        assert_eq!(
            KeyRef::parse("alias/x").unwrap(),
            KeyRef::AliasName("alias/x")
        );
        let a = format!("arn:aws:kms:{REGION}:{ACCT}:alias/x");
        assert_eq!(
            KeyRef::parse(&a).unwrap(),
            KeyRef::AliasArn {
                region: REGION,
                account: ACCT,
                name: "alias/x"
            }
        );
        for bad in [
            "",
            "nope",
            "1234ABCD-12AB-34CD-56EF-1234567890AB",
            "arn:aws:kms:r:1:key/x",
        ] {
            let e = KeyRef::parse(bad).unwrap_err();
            assert_eq!(e.code(), Code::NOT_FOUND_EXCEPTION);
            assert_eq!(e.message(), format!("Invalid keyId '{bad}'"));
        }
        let e = KeyRef::parse(&format!("arn:aws:kms:{REGION}:{ACCT}:key/nope")).unwrap_err();
        assert!(e.message().starts_with("Invalid keyId"));
    }

    #[test]
    fn resolves_all_four_forms_in_the_callers_region_only() {
        let mut h = Home::new();
        let id = h.create_key(&admin());
        h.call(
            &admin(),
            "CreateAlias",
            json!({"AliasName": "alias/k1", "TargetKeyId": id}),
        )
        .unwrap();
        let alias_arn = format!("arn:aws:kms:{REGION}:{ACCT}:alias/k1");
        for r in [id.clone(), arn(&id), "alias/k1".into(), alias_arn.clone()] {
            let k = h.tx(|kms, tx| kms.resolve(tx, &admin(), &r)).unwrap();
            assert_eq!(k.key_id.as_str(), id, "{r}");
            assert_eq!(k.arn, arn(&id));
            assert_eq!(
                (k.region.as_str(), k.key_manager),
                (REGION, KeyManager::Customer)
            );
        }

        let missing = "0000abcd-12ab-34cd-56ef-1234567890ab";
        let e = h
            .tx(|kms, tx| kms.resolve(tx, &admin(), missing))
            .unwrap_err();
        assert_eq!(e.code(), Code::NOT_FOUND_EXCEPTION);
        assert_eq!(
            e.message(),
            format!("Key '{}' does not exist", arn(missing))
        );
        let e = h
            .tx(|kms, tx| kms.resolve(tx, &admin(), "alias/nope"))
            .unwrap_err();
        assert_eq!(e.code(), Code::NOT_FOUND_EXCEPTION);
        assert_eq!(
            e.message(),
            format!("Alias arn:aws:kms:{REGION}:{ACCT}:alias/nope is not found.")
        );
        let e = h
            .tx(|kms, tx| kms.resolve(tx, &admin(), "not-a-key"))
            .unwrap_err();
        assert_eq!(
            (e.code(), e.message()),
            (Code::NOT_FOUND_EXCEPTION, "Invalid keyId 'not-a-key'")
        );

        // Keys are regional: no form reaches a key from another region.
        let west = Caller::new("us-west-2", ACCT, "admin");
        for r in [id.clone(), arn(&id), "alias/k1".into(), alias_arn] {
            let e = h.tx(|kms, tx| kms.resolve(tx, &west, &r)).unwrap_err();
            assert_eq!(e.code(), Code::NOT_FOUND_EXCEPTION, "{r}");
        }
    }

    #[test]
    fn aws_ebs_key_appears_on_first_use() {
        let mut h = Home::new();
        let before = h.call(&admin(), "ListAliases", json!({})).unwrap();
        let ebs = |v: &serde_json::Value| {
            v["Aliases"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["AliasName"] == AWS_EBS_ALIAS)
                .cloned()
        };
        let entry = ebs(&before).expect("listed before the key exists");
        assert_eq!(
            entry["AliasArn"],
            format!("arn:aws:kms:{REGION}:{ACCT}:alias/aws/ebs")
        );
        assert!(entry.get("TargetKeyId").is_none());
        assert_eq!(
            h.call(&admin(), "ListKeys", json!({})).unwrap()["Keys"],
            json!([])
        );

        // Any principal of the account may bring it into being and use it.
        let k = h.tx(|kms, tx| kms.aws_ebs_key(tx, &user("bob"))).unwrap();
        assert_eq!(k.key_manager, KeyManager::Aws);
        assert_eq!(k.state, KeyState::Enabled);
        assert_eq!(k.description, AWS_EBS_DESCRIPTION);
        h.tx(|kms, _| kms.authorize(&k, &user("bob"), "GenerateDataKeyWithoutPlaintext"))
            .unwrap();

        let after = h.call(&admin(), "ListAliases", json!({})).unwrap();
        assert_eq!(ebs(&after).unwrap()["TargetKeyId"], k.key_id.as_str());
        let again = h.tx(|kms, tx| kms.aws_ebs_key(tx, &admin())).unwrap();
        assert_eq!(again.key_id, k.key_id, "created once");
        let by_alias = h
            .tx(|kms, tx| kms.resolve(tx, &admin(), AWS_EBS_ALIAS))
            .unwrap();
        assert_eq!(by_alias.key_id, k.key_id);
        let keys = h.call(&admin(), "ListKeys", json!({})).unwrap();
        assert_eq!(
            keys["Keys"],
            json!([{"KeyId": k.key_id.as_str(), "KeyArn": k.arn}])
        );
        let d = h
            .call(&admin(), "DescribeKey", json!({"KeyId": "alias/aws/ebs"}))
            .unwrap();
        assert_eq!(d["KeyMetadata"]["KeyManager"], "AWS");
        assert_eq!(d["KeyMetadata"]["Description"], AWS_EBS_DESCRIPTION);

        // Per region.
        let west = Caller::new("us-west-2", ACCT, "admin");
        let w = h.tx(|kms, tx| kms.aws_ebs_key(tx, &west)).unwrap();
        assert_ne!(w.key_id, k.key_id);
        assert_eq!(w.region, "us-west-2");

        // DescribeKey on the alias also creates it (SEMANTICS §4 rule 5).
        let east2 = Caller::new("eu-west-1", ACCT, "admin");
        let d = h
            .call(&east2, "DescribeKey", json!({"KeyId": "alias/aws/ebs"}))
            .unwrap();
        assert_eq!(d["KeyMetadata"]["KeyManager"], "AWS");
    }

    fn key_and_wrapped(h: &mut Home, cipher: XtsCipher) -> (KeyRecord, WrappedKey, DataKey) {
        let id = h.create_key(&admin());
        h.tx(|kms, tx| {
            let k = kms.resolve(tx, &admin(), &id)?;
            let (w, dk) = kms.generate_data_key(tx, &admin(), &k, "vol-1", cipher)?;
            Ok((k, w, dk))
        })
        .unwrap()
    }

    #[test]
    fn data_keys_wrap_and_unwrap() {
        let mut h = Home::new();
        for cipher in [XtsCipher::Aes256Xts, XtsCipher::Aes128Xts] {
            let (k, w, dk) = key_and_wrapped(&mut h, cipher);
            assert_eq!(dk.expose().len(), cipher.key_len());
            assert_eq!((w.key_arn.as_str(), w.cipher), (k.arn.as_str(), cipher));
            assert!(uuid::Uuid::try_parse(&w.dek_id).is_ok());
            assert_eq!(w.dek_id, w.dek_id.to_lowercase());
            assert!(!w
                .blob
                .windows(16)
                .any(|s| dk.expose().windows(16).any(|d| d == s)));
            let back = h
                .tx(|kms, tx| kms.unwrap_data_key(tx, &admin(), &w, "vol-1"))
                .unwrap();
            assert_eq!(back.expose(), dk.expose());

            // Stored as JSON with a hex blob, and back.
            let text = serde_json::to_string(&w).unwrap();
            assert!(text.contains(&hex::encode(&w.blob)));
            assert_eq!(serde_json::from_str::<WrappedKey>(&text).unwrap(), w);
            assert!(!format!("{w:?}").contains(&hex::encode(&w.blob)));
        }
        let (_, w1, _) = key_and_wrapped(&mut h, XtsCipher::Aes256Xts);
        let (_, w2, _) = key_and_wrapped(&mut h, XtsCipher::Aes256Xts);
        assert_ne!(w1.dek_id, w2.dek_id);
    }

    #[test]
    fn volume_data_keys_survive_rotation_and_new_ones_use_the_new_material() {
        let mut h = Home::new();
        let (k, w, dk) = key_and_wrapped(&mut h, XtsCipher::Aes256Xts);
        assert_eq!(crypto::data_key_version(&w.blob).unwrap(), 0);
        let id = k.key_id.to_string();
        h.call(&admin(), "RotateKeyOnDemand", json!({"KeyId": id}))
            .unwrap();
        // Made before the rotation: still unwraps, and re-wraps under the new material.
        let back = h
            .tx(|kms, tx| kms.unwrap_data_key(tx, &admin(), &w, "vol-1"))
            .unwrap();
        assert_eq!(back.expose(), dk.expose());
        h.tx(|kms, tx| kms.verify_data_key(tx, &w, "vol-1"))
            .unwrap();
        let snap = h
            .tx(|kms, tx| kms.rewrap_data_key(tx, &admin(), &w, "vol-1", "snap-1"))
            .unwrap();
        assert_eq!(crypto::data_key_version(&snap.blob).unwrap(), 1);
        let back = h
            .tx(|kms, tx| kms.unwrap_data_key(tx, &admin(), &snap, "snap-1"))
            .unwrap();
        assert_eq!(back.expose(), dk.expose());
        // Made after: version 1, and it opens only under version 1's material.
        let (w2, dk2) = h
            .tx(|kms, tx| {
                let key = kms.resolve(tx, &admin(), &id)?;
                kms.generate_data_key(tx, &admin(), &key, "vol-2", XtsCipher::Aes128Xts)
            })
            .unwrap();
        assert_eq!(crypto::data_key_version(&w2.blob).unwrap(), 1);
        let back = h
            .tx(|kms, tx| kms.unwrap_data_key(tx, &admin(), &w2, "vol-2"))
            .unwrap();
        assert_eq!(back.expose(), dk2.expose());
        // A version byte changed to one the key has (0) or lacks (7) fails authentication.
        for v in [0u8, 7] {
            let mut forged = w2.clone();
            forged.blob[4] = v;
            let e = h
                .tx(|kms, tx| kms.unwrap_data_key(tx, &admin(), &forged, "vol-2"))
                .err()
                .unwrap();
            assert_eq!(e.code(), Code::INVALID_CIPHERTEXT_EXCEPTION, "version {v}");
        }
        // Each version's material is stored sealed, bound to its version.
        let rec = h.tx(|kms, tx| kms.resolve(tx, &admin(), &id)).unwrap();
        assert_eq!(rec.rotation.versions.len(), 1);
        let sealed = hex::decode(&rec.rotation.versions[0].sealed).unwrap();
        assert!(crypto::open_material_version(&h.kms.root, &rec.arn, 1, &sealed).is_ok());
        assert!(crypto::open_material_version(&h.kms.root, &rec.arn, 2, &sealed).is_err());
        assert!(crypto::open_material(&h.kms.root, &rec.arn, &sealed).is_err());
    }

    #[test]
    fn wrapped_keys_open_only_under_their_context_key_and_bytes() {
        let mut h = Home::new();
        let (_, w, _) = key_and_wrapped(&mut h, XtsCipher::Aes256Xts);
        let (k2, _, _) = key_and_wrapped(&mut h, XtsCipher::Aes256Xts);
        let mut unwrap = |w: &WrappedKey, ctx: &str| {
            h.tx(|kms, tx| kms.unwrap_data_key(tx, &admin(), w, ctx))
                .err()
                .map(|e| e.code())
        };
        let bad = Some(Code::INVALID_CIPHERTEXT_EXCEPTION);
        assert_eq!(
            unwrap(&w, "vol-2"),
            bad,
            "another context (SEMANTICS §20.25)"
        );
        assert_eq!(
            unwrap(
                &WrappedKey {
                    key_arn: k2.arn.clone(),
                    ..w.clone()
                },
                "vol-1"
            ),
            bad
        );
        assert_eq!(
            unwrap(
                &WrappedKey {
                    dek_id: "x".into(),
                    ..w.clone()
                },
                "vol-1"
            ),
            bad
        );
        let other_cipher = WrappedKey {
            cipher: XtsCipher::Aes128Xts,
            ..w.clone()
        };
        assert_eq!(unwrap(&other_cipher, "vol-1"), bad);
        for i in [0, 5, w.blob.len() / 2, w.blob.len() - 1] {
            let mut t = w.clone();
            t.blob[i] ^= 1;
            assert_eq!(unwrap(&t, "vol-1"), bad, "flip at {i}");
        }
        assert_eq!(
            unwrap(
                &WrappedKey {
                    blob: vec![],
                    ..w.clone()
                },
                "vol-1"
            ),
            bad
        );
        assert_eq!(unwrap(&w, "vol-1"), None);
    }

    #[test]
    fn rewrap_keeps_the_data_key_and_its_lineage() {
        let mut h = Home::new();
        let (_, w, dk) = key_and_wrapped(&mut h, XtsCipher::Aes256Xts);
        let snap = h
            .tx(|kms, tx| kms.rewrap_data_key(tx, &admin(), &w, "vol-1", "snap-1"))
            .unwrap();
        assert_eq!(
            (&snap.key_arn, &snap.dek_id, snap.cipher),
            (&w.key_arn, &w.dek_id, w.cipher)
        );
        assert_ne!(snap.blob, w.blob);
        let back = h
            .tx(|kms, tx| kms.unwrap_data_key(tx, &admin(), &snap, "snap-1"))
            .unwrap();
        assert_eq!(back.expose(), dk.expose());
        let e = h
            .tx(|kms, tx| kms.unwrap_data_key(tx, &admin(), &snap, "vol-1"))
            .err()
            .unwrap();
        assert_eq!(e.code(), Code::INVALID_CIPHERTEXT_EXCEPTION);
        let e = h
            .tx(|kms, tx| kms.rewrap_data_key(tx, &admin(), &w, "vol-9", "snap-2"))
            .unwrap_err();
        assert_eq!(e.code(), Code::INVALID_CIPHERTEXT_EXCEPTION);
    }

    #[test]
    fn key_state_gates_data_keys() {
        let mut h = Home::new();
        let (k, w, _) = key_and_wrapped(&mut h, XtsCipher::Aes256Xts);
        let id = k.key_id.to_string();
        h.call(&admin(), "DisableKey", json!({"KeyId": id}))
            .unwrap();
        // The passed-in record is stale (Enabled); the KMS reads the current state.
        let e = h
            .tx(|kms, tx| kms.generate_data_key(tx, &admin(), &k, "vol-2", XtsCipher::Aes256Xts))
            .err()
            .unwrap();
        assert_eq!(e.code(), Code::DISABLED_EXCEPTION);
        assert_eq!(e.message(), format!("{} is disabled.", k.arn));
        let e = h
            .tx(|kms, tx| kms.unwrap_data_key(tx, &admin(), &w, "vol-1"))
            .err()
            .unwrap();
        assert_eq!(e.code(), Code::DISABLED_EXCEPTION);
        let disabled = h.tx(|kms, tx| kms.resolve(tx, &admin(), &id)).unwrap();
        assert_eq!(
            code(h.kms.authorize(&disabled, &admin(), "Decrypt")),
            Code::DISABLED_EXCEPTION
        );
        h.kms.authorize(&disabled, &admin(), "DescribeKey").unwrap();

        h.call(
            &admin(),
            "ScheduleKeyDeletion",
            json!({"KeyId": id, "PendingWindowInDays": 7}),
        )
        .unwrap();
        let e = h
            .tx(|kms, tx| kms.rewrap_data_key(tx, &admin(), &w, "vol-1", "snap-1"))
            .unwrap_err();
        assert_eq!(e.code(), Code::KMS_INVALID_STATE_EXCEPTION);
        assert_eq!(e.message(), format!("{} is pending deletion.", k.arn));

        // Once deleted, the key is not found.
        let now = clock::now_millis();
        h.tx(|kms, tx| kms.sweep(tx, now + 8 * 86_400_000)).unwrap();
        let e = h
            .tx(|kms, tx| kms.unwrap_data_key(tx, &admin(), &w, "vol-1"))
            .err()
            .unwrap();
        assert_eq!(e.code(), Code::NOT_FOUND_EXCEPTION);
        assert_eq!(e.message(), format!("Key '{}' does not exist", k.arn));
        let e = h.tx(|kms, tx| kms.generate_data_key(tx, &admin(), &k, "v", XtsCipher::Aes256Xts));
        assert_eq!(code(e), Code::NOT_FOUND_EXCEPTION);
        assert_eq!(
            code(h.kms.authorize(&k, &admin(), "Frobnicate")),
            Code::KMS_INTERNAL_EXCEPTION
        );
    }

    #[test]
    fn identity_policies_key_policies_and_grants_decide_who_uses_a_key() {
        let mut h = Home::new();
        let (k, w, dk) = key_and_wrapped(&mut h, XtsCipher::Aes256Xts);
        let bob = user("bob");
        let gen = |h: &mut Home, who: &Caller| {
            h.tx(|kms, tx| {
                let key = kms.resolve(tx, who, k.key_id.as_str())?;
                kms.generate_data_key(tx, who, &key, "vol-2", XtsCipher::Aes256Xts)
            })
            .map(|(w, _)| w)
        };
        let e = gen(&mut h, &bob).unwrap_err();
        assert_eq!(e.code(), Code::ACCESS_DENIED_EXCEPTION);
        assert_eq!(
            e.message(),
            format!(
                "User: arn:aws:iam::{ACCT}:user/bob is not authorized to perform: \
                 kms:GenerateDataKeyWithoutPlaintext on resource: {} because no identity-based \
                 policy allows the kms:GenerateDataKeyWithoutPlaintext action",
                k.arn
            )
        );
        let e = h
            .tx(|kms, tx| kms.unwrap_data_key(tx, &bob, &w, "vol-1"))
            .err()
            .unwrap();
        assert_eq!(e.code(), Code::ACCESS_DENIED_EXCEPTION);

        // A grant for the operations makes them work, and only them.
        let ops = json!(["GenerateDataKeyWithoutPlaintext", "Decrypt"]);
        h.call(
            &admin(),
            "CreateGrant",
            json!({"KeyId": k.key_id.as_str(), "GranteePrincipal": "bob", "Operations": ops}),
        )
        .unwrap();
        gen(&mut h, &bob).unwrap();
        let back = h
            .tx(|kms, tx| kms.unwrap_data_key(tx, &bob, &w, "vol-1"))
            .unwrap();
        assert_eq!(back.expose(), dk.expose());
        let e = h
            .tx(|kms, tx| kms.rewrap_data_key(tx, &bob, &w, "vol-1", "snap-1"))
            .unwrap_err();
        assert_eq!(e.code(), Code::ACCESS_DENIED_EXCEPTION);
        assert!(e.message().contains("kms:ReEncryptFrom"));
        let e = h
            .call(&bob, "DisableKey", json!({"KeyId": k.key_id.as_str()}))
            .unwrap_err();
        assert_eq!(e.code(), Code::ACCESS_DENIED_EXCEPTION);
        assert_eq!(
            gen(&mut h, &user("carol")).unwrap_err().code(),
            Code::ACCESS_DENIED_EXCEPTION
        );

        // Carol, whose identity policy allows kms:*, uses her key (so does the admin: the
        // default key policy delegates to the account); bob does not.
        let carol = user_with("carol", &[KMS_ALL]);
        let carols = h.create_key(&carol);
        for who in [carol.clone(), admin()] {
            h.tx(|kms, tx| {
                let key = kms.resolve(tx, &who, &carols)?;
                kms.generate_data_key(tx, &who, &key, "vol-3", XtsCipher::Aes128Xts)
            })
            .unwrap();
        }
        let e = h
            .call(&bob, "DescribeKey", json!({"KeyId": carols}))
            .unwrap_err();
        assert_eq!(e.code(), Code::ACCESS_DENIED_EXCEPTION);
        h.call(&carol, "DisableKey", json!({"KeyId": carols}))
            .unwrap();
        let e = h
            .call(&user("carol"), "EnableKey", json!({"KeyId": carols}))
            .unwrap_err();
        assert_eq!(
            e.code(),
            Code::ACCESS_DENIED_EXCEPTION,
            "without her policy"
        );

        // Another account's admin is nobody on this key.
        let other = Caller::new(REGION, "444455556666", "admin");
        let e = h
            .tx(|kms, tx| kms.unwrap_data_key(tx, &other, &w, "vol-1"))
            .err()
            .unwrap();
        assert_eq!(e.code(), Code::ACCESS_DENIED_EXCEPTION);
    }

    #[test]
    fn constrained_grants_follow_the_ebs_context() {
        let mut h = Home::new();
        let (k, w, _) = key_and_wrapped(&mut h, XtsCipher::Aes256Xts);
        let req = json!({
            "KeyId": k.arn,
            "GranteePrincipal": format!("arn:aws:iam::{ACCT}:role/ec2"),
            "Operations": ["Decrypt", "ReEncryptFrom", "ReEncryptTo"],
            "Constraints": {"EncryptionContextSubset": {"aws:ebs:id": "vol-1"}},
        });
        h.call(&admin(), "CreateGrant", req).unwrap();
        let role_arn = format!("arn:aws:iam::{ACCT}:role/ec2");
        let role = Caller {
            principal: role_arn.clone(),
            identity: std::sync::Arc::new(crate::iam::users::Identity {
                arn: role_arn,
                ..crate::iam::users::Identity::bare(ACCT, "ec2")
            }),
            ..admin()
        };
        h.tx(|kms, tx| kms.unwrap_data_key(tx, &role, &w, "vol-1"))
            .unwrap();
        let snap = h
            .tx(|kms, tx| kms.rewrap_data_key(tx, &admin(), &w, "vol-1", "snap-1"))
            .unwrap();
        let e = h
            .tx(|kms, tx| kms.unwrap_data_key(tx, &role, &snap, "snap-1"))
            .err()
            .unwrap();
        assert_eq!(e.code(), Code::ACCESS_DENIED_EXCEPTION);
        let e = h
            .tx(|kms, tx| kms.rewrap_data_key(tx, &role, &w, "vol-1", "snap-2"))
            .unwrap_err();
        assert!(e.message().contains("kms:ReEncryptTo"), "{}", e.message());
    }

    #[test]
    fn sweep_deletes_past_due_keys_with_their_aliases_and_grants() {
        let mut h = Home::new();
        let doomed = h.create_key(&admin());
        let kept = h.create_key(&admin());
        let later = h.create_key(&admin());
        for (name, id) in [
            ("alias/d1", &doomed),
            ("alias/d2", &doomed),
            ("alias/k", &kept),
        ] {
            h.call(
                &admin(),
                "CreateAlias",
                json!({"AliasName": name, "TargetKeyId": id}),
            )
            .unwrap();
        }
        for id in [&doomed, &kept] {
            let g = json!({"KeyId": id, "GranteePrincipal": "bob", "Operations": ["Decrypt"]});
            h.call(&admin(), "CreateGrant", g).unwrap();
        }
        h.call(
            &admin(),
            "ScheduleKeyDeletion",
            json!({"KeyId": doomed, "PendingWindowInDays": 7}),
        )
        .unwrap();
        h.call(
            &admin(),
            "ScheduleKeyDeletion",
            json!({"KeyId": later, "PendingWindowInDays": 30}),
        )
        .unwrap();
        let now = clock::now_millis();
        h.tx(|kms, tx| kms.sweep(tx, now)).unwrap();
        assert_eq!(
            h.call(&admin(), "ListKeys", json!({})).unwrap()["Keys"]
                .as_array()
                .unwrap()
                .len(),
            3
        );

        h.tx(|kms, tx| kms.sweep(tx, now + 8 * 86_400_000)).unwrap();
        let keys = h.call(&admin(), "ListKeys", json!({})).unwrap();
        let ids: Vec<&str> = keys["Keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["KeyId"].as_str().unwrap())
            .collect();
        assert!(!ids.contains(&doomed.as_str()));
        assert!(ids.contains(&kept.as_str()) && ids.contains(&later.as_str()));
        let aliases = h.call(&admin(), "ListAliases", json!({})).unwrap();
        let names: Vec<&str> = aliases["Aliases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["AliasName"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["alias/aws/ebs", "alias/k"]);
        let grants = h.tx(|_, tx| tx.list::<GrantRecord>(REGION)).unwrap();
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].key_id.as_str(), kept);
        assert_eq!(
            code(h.tx(|kms, tx| kms.resolve(tx, &admin(), "alias/d1"))),
            Code::NOT_FOUND_EXCEPTION
        );
    }
}
