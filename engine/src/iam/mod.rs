//! API credentials: the access keys with which a home's users sign requests to the API endpoint
//! (SigV4), managed with IAM's operations and shapes (CreateAccessKey, ListAccessKeys,
//! UpdateAccessKey, DeleteAccessKey).
//!
//! A secret access key is shown once, in CreateAccessKey's response, as IAM does; the catalog
//! keeps it sealed under the KMS root key (AES-256-GCM bound to the access key id), because the
//! endpoint needs it to check signatures. It lives in memory only in zeroizing buffers.
//!
//! Users and their identity policies are in `users`; the authorization of every operation in
//! `authz`.

pub(crate) mod authz;
pub(crate) mod users;

use crate::api::{Context, Engine};
use crate::catalog::Record;
use crate::ec2::responses::{
    AccessKey, AccessKeyMetadata, CreateAccessKeyResult, Empty, ListAccessKeysResult,
};
use crate::ec2::Core;
use crate::error::{bail, Code, Result};
use crate::secret::SecretString;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// How many access keys one user may have, as in IAM.
const KEYS_PER_USER: usize = 2;

/// The account administrator's user name: may manage every user's keys.
pub(crate) const ADMIN: &str = "admin";

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum KeyStatus {
    Active,
    Inactive,
}

impl KeyStatus {
    fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }
}

/// One access key.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct AccessKeyRec {
    pub id: String,
    pub account: String,
    pub user: String,
    pub status: KeyStatus,
    pub create_date: String,
    /// The secret, sealed under the root key ([`crate::kms::Kms::seal_credential`]), as hex.
    pub sealed_secret: String,
}

impl Record for AccessKeyRec {
    const TABLE: &'static str = "access_keys";
    fn key(&self) -> String {
        self.id.clone()
    }
    fn region(&self) -> &str {
        // Access keys are global, as IAM is.
        ""
    }
}

impl AccessKeyRec {
    fn metadata(&self) -> AccessKeyMetadata {
        AccessKeyMetadata {
            user_name: self.user.clone(),
            access_key_id: self.id.clone(),
            status: self.status.as_str().to_owned(),
            create_date: self.create_date.clone(),
        }
    }
}

/// A signing identity the endpoint checks requests against.
pub struct Credential {
    /// The account the key belongs to.
    pub account: String,
    /// The user whose key it is.
    pub user: String,
    /// Whether the key may be used (IAM's `Active`).
    pub active: bool,
    secret: Zeroizing<String>,
}

impl Credential {
    /// The secret access key.
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("account", &self.account)
            .field("user", &self.user)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// IAM requests.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UserNameOnly {
    pub user_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AccessKeyRef {
    pub access_key_id: String,
    pub user_name: Option<String>,
    /// `Active` or `Inactive` (UpdateAccessKey only).
    pub status: Option<String>,
}

fn no_such_key(id: &str) -> crate::error::Error {
    crate::error::Error::new(
        Code::NO_SUCH_ENTITY,
        format!("The Access Key with id {id} cannot be found."),
    )
}

/// `[A-Z2-7]` characters from random bits, as AWS access key ids use.
fn base32_id(prefix: &str, n: usize) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bytes = vec![0u8; n];
    crate::secret::fill_random(&mut bytes);
    let mut s = String::from(prefix);
    s.extend(bytes.iter().map(|b| ALPHABET[(b % 32) as usize] as char));
    s
}

/// A 40-character secret from the base64 alphabet, as AWS secret access keys look.
fn new_secret() -> Zeroizing<String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bytes = Zeroizing::new([0u8; 40]);
    crate::secret::fill_random(bytes.as_mut_slice());
    let mut s = Zeroizing::new(String::with_capacity(40));
    s.extend(bytes.iter().map(|b| ALPHABET[(b % 64) as usize] as char));
    s
}

impl Core<'_> {
    /// The user a request is about: `UserName`, else the caller; it must exist. Whether the
    /// caller may act on that user's keys was decided before the call (`authz`).
    fn key_owner(&self, user_name: Option<&str>) -> Result<String> {
        let user = user_name.unwrap_or(self.caller.user_name());
        users::check_name("userName", user, 64)?;
        let account = self.caller.account.clone();
        if self
            .cat
            .read(|tx| users::find_user(tx, &account, user))?
            .is_none()
        {
            bail!(
                Code::NO_SUCH_ENTITY,
                "The user with name {user} cannot be found."
            );
        }
        Ok(user.to_owned())
    }

    pub(crate) fn create_access_key(&mut self, r: UserNameOnly) -> Result<CreateAccessKeyResult> {
        let user = self.key_owner(r.user_name.as_deref())?;
        let id = base32_id("AKIA", 16);
        let secret = new_secret();
        let rec = AccessKeyRec {
            id: id.clone(),
            account: self.caller.account.clone(),
            user: user.clone(),
            status: KeyStatus::Active,
            create_date: crate::clock::now_iso(),
            sealed_secret: hex::encode(self.kms.seal_credential(&id, secret.as_bytes())),
        };
        let account = self.caller.account.clone();
        self.cat.write(|tx| {
            let mine = tx
                .list::<AccessKeyRec>("")?
                .into_iter()
                .filter(|k| k.account == account && k.user == user)
                .count();
            if mine >= KEYS_PER_USER {
                bail!(
                    Code::LIMIT_EXCEEDED,
                    "Cannot exceed quota for AccessKeysPerUser: {KEYS_PER_USER}"
                );
            }
            tx.put(&rec)
        })?;
        Ok(CreateAccessKeyResult {
            access_key: AccessKey {
                user_name: rec.user,
                access_key_id: rec.id,
                status: rec.status.as_str().to_owned(),
                create_date: rec.create_date,
                secret_access_key: SecretString::new(secret.as_str().to_owned()),
            },
        })
    }

    pub(crate) fn list_access_keys(&mut self, r: UserNameOnly) -> Result<ListAccessKeysResult> {
        let user = self.key_owner(r.user_name.as_deref())?;
        let account = self.caller.account.clone();
        let keys = self.cat.read(|tx| tx.list::<AccessKeyRec>(""))?;
        let meta: Vec<AccessKeyMetadata> = keys
            .iter()
            .filter(|k| k.account == account && k.user == user)
            .map(AccessKeyRec::metadata)
            .collect();
        Ok(ListAccessKeysResult {
            access_key_metadata: meta,
            is_truncated: false,
        })
    }

    /// UpdateAccessKey (`status` given) or DeleteAccessKey.
    pub(crate) fn change_access_key(&mut self, r: AccessKeyRef, delete: bool) -> Result<Empty> {
        let user = self.key_owner(r.user_name.as_deref())?;
        let status = match (delete, r.status.as_deref()) {
            (true, None) => None,
            (false, Some("Active")) => Some(KeyStatus::Active),
            (false, Some("Inactive")) => Some(KeyStatus::Inactive),
            (false, None) => bail!(
                Code::VALIDATION_ERROR,
                "The request must contain the parameter Status"
            ),
            (_, Some(other)) => bail!(
                Code::VALIDATION_ERROR,
                "1 validation error detected: Value '{other}' at 'status' failed to satisfy \
                 constraint: Member must satisfy enum value set: [Active, Inactive]"
            ),
        };
        let account = self.caller.account.clone();
        self.cat.write(|tx| {
            let Some(mut rec) = tx.get::<AccessKeyRec>(&r.access_key_id)? else {
                return Err(no_such_key(&r.access_key_id));
            };
            if rec.account != account || rec.user != user {
                return Err(no_such_key(&r.access_key_id));
            }
            match status {
                None => {
                    tx.delete::<AccessKeyRec>(&rec.id)?;
                }
                Some(s) => {
                    rec.status = s;
                    tx.put(&rec)?;
                }
            }
            Ok(())
        })?;
        Ok(Empty {})
    }
}

impl Engine {
    /// The identity behind access key `access_key_id`, with its secret, for checking a
    /// signature; `None` for a key this home does not have.
    ///
    /// # Errors
    /// Catalog errors; `CorruptFile` if the stored secret does not open.
    pub fn credential(&self, access_key_id: &str) -> Result<Option<Credential>> {
        let Some(rec) = self
            .catalog()
            .read(|tx| tx.get::<AccessKeyRec>(access_key_id))?
        else {
            return Ok(None);
        };
        let sealed = hex::decode(&rec.sealed_secret).map_err(|e| {
            crate::error::Error::new(
                Code::CORRUPT_FILE,
                format!("the stored secret of access key {access_key_id} is not hex: {e}"),
            )
        })?;
        let secret = self.kms().open_credential(&rec.id, &sealed)?;
        let secret = std::str::from_utf8(&secret).map_err(|e| {
            crate::error::Error::new(
                Code::CORRUPT_FILE,
                format!("the stored secret of access key {access_key_id} is not text: {e}"),
            )
        })?;
        let secret = Zeroizing::new(secret.to_owned());
        Ok(Some(Credential {
            account: rec.account,
            user: rec.user,
            active: rec.status == KeyStatus::Active,
            secret,
        }))
    }

    /// A context for the user of `credential`, in `region`.
    ///
    /// # Errors
    /// As [`Context::new`].
    pub fn context_for(&self, credential: &Credential, region: &str) -> Result<Context> {
        Context::new(&credential.account, region, &credential.user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use serde_json::{json, Value};

    #[test]
    fn access_keys_are_made_listed_disabled_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let admin = engine.context("us-east-1", "admin").unwrap();
        let alice = engine.context("us-east-1", "alice").unwrap();
        let call = |ctx: &Context, op: &str, req: Value| engine.invoke(ctx, op, req, &NoProgress);
        // Alice manages her own keys, as IAM's usual self-service policy allows.
        call(&admin, "CreateUser", json!({"UserName": "alice"})).unwrap();
        let own_keys = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
            "Action":"iam:*AccessKey*","Resource":"arn:aws:iam::*:user/${aws:username}"}}"#;
        call(
            &admin,
            "PutUserPolicy",
            json!({"UserName": "alice", "PolicyName": "keys", "PolicyDocument": own_keys}),
        )
        .unwrap();

        let made = call(&alice, "CreateAccessKey", json!({})).unwrap();
        let id = made["AccessKey"]["AccessKeyId"]
            .as_str()
            .unwrap()
            .to_owned();
        let secret = made["AccessKey"]["SecretAccessKey"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(id.starts_with("AKIA") && id.len() == 20, "{id}");
        assert_eq!(secret.len(), 40);
        assert_eq!(made["AccessKey"]["UserName"], "alice");
        assert_eq!(made["AccessKey"]["Status"], "Active");

        let cred = engine.credential(&id).unwrap().unwrap();
        assert_eq!((cred.user.as_str(), cred.active), ("alice", true));
        assert_eq!(cred.secret(), secret);
        assert!(
            !format!("{cred:?}").contains(&secret),
            "Debug shows no secret"
        );
        assert!(engine.credential("AKIAUNKNOWNUNKNOWN00").unwrap().is_none());
        // The secret is not stored in the clear.
        let db = std::fs::read(dir.path().join("catalog.db")).unwrap();
        let wal = std::fs::read(dir.path().join("catalog.db-wal")).unwrap_or_default();
        for bytes in [db, wal] {
            assert!(!bytes.windows(40).any(|w| w == secret.as_bytes()));
        }

        // Alice's policy covers her own keys only; the administrator manages anyone's.
        let e = call(&alice, "ListAccessKeys", json!({"UserName": "admin"})).unwrap_err();
        assert_eq!(e.code(), Code::ACCESS_DENIED);
        let listed = call(&admin, "ListAccessKeys", json!({"UserName": "alice"})).unwrap();
        assert_eq!(listed["AccessKeyMetadata"][0]["AccessKeyId"], json!(id));
        assert!(listed["AccessKeyMetadata"][0]
            .get("SecretAccessKey")
            .is_none());

        call(&alice, "CreateAccessKey", json!({})).unwrap();
        let e = call(&alice, "CreateAccessKey", json!({})).unwrap_err();
        assert_eq!(e.code(), Code::LIMIT_EXCEEDED);

        let upd = json!({"AccessKeyId": id, "Status": "Inactive"});
        call(&alice, "UpdateAccessKey", upd).unwrap();
        assert!(!engine.credential(&id).unwrap().unwrap().active);
        let bad = json!({"AccessKeyId": id, "Status": "Sleeping"});
        let e = call(&alice, "UpdateAccessKey", bad).unwrap_err();
        assert_eq!(e.code(), Code::VALIDATION_ERROR);
        call(&alice, "DeleteAccessKey", json!({"AccessKeyId": id})).unwrap();
        assert!(engine.credential(&id).unwrap().is_none());
        let e = call(&alice, "DeleteAccessKey", json!({"AccessKeyId": id})).unwrap_err();
        assert_eq!(e.code(), Code::NO_SUCH_ENTITY);
    }
}
