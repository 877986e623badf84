//! The accounts of a home: the first one, made with the home, and those `blockseal account
//! create` adds, each a 12-digit id with an optional name and its `admin` user. Every resource
//! row belongs to one account; what an account may see of another's is the sharing of images
//! and snapshots (`ec2::sharing`).
//!
//! Accounts are a local administration matter, as AWS Organizations is outside EC2: there is no
//! API operation for them, only the engine calls the CLI's `account` commands make.

use crate::api::{valid_principal, Engine};
use crate::catalog::{Record, Tx};
use crate::error::{bail, Code, Result};
use serde::{Deserialize, Serialize};

/// One account of the home.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct AccountRec {
    pub id: String,
    /// A name to use in profiles (`NAME:USER`) instead of the id; unique in the home.
    #[serde(default)]
    pub name: Option<String>,
    /// When the account was made (empty for the first account of a home made before accounts
    /// were recorded).
    #[serde(default)]
    pub create_time: String,
}

impl Record for AccountRec {
    const TABLE: &'static str = "accounts";
    fn key(&self) -> String {
        self.id.clone()
    }
    fn region(&self) -> &str {
        // Accounts are global.
        ""
    }
}

/// An account as `blockseal account create` and `list` show it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Account {
    /// The 12-digit account id.
    pub id: String,
    /// Its name, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The account as a principal, `arn:aws:iam::ID:root`.
    pub arn: String,
    /// Its administrator, `arn:aws:iam::ID:user/admin`.
    pub admin_user: String,
    /// When it was made (ISO 8601; empty for an old home's first account).
    pub joined_timestamp: String,
}

impl AccountRec {
    fn view(&self) -> Account {
        Account {
            id: self.id.clone(),
            name: self.name.clone(),
            arn: format!("arn:aws:iam::{}:root", self.id),
            admin_user: format!("arn:aws:iam::{}:user/{}", self.id, crate::iam::ADMIN),
            joined_timestamp: self.create_time.clone(),
        }
    }
}

/// Whether `s` is an account id: 12 decimal digits.
pub fn valid_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A fresh random account id.
pub(crate) fn random_account_id() -> String {
    format!("{:012}", crate::secret::random_u128() % 1_000_000_000_000)
}

/// The account `name_or_id` (an id, or a name given at `account create`) names, if any.
pub(crate) fn find(tx: &Tx<'_>, name_or_id: &str) -> Result<Option<AccountRec>> {
    if valid_account_id(name_or_id) {
        return tx.get::<AccountRec>(name_or_id);
    }
    Ok(tx
        .list::<AccountRec>("")?
        .into_iter()
        .find(|a| a.name.as_deref() == Some(name_or_id)))
}

/// Splits a profile into its account (id or name; `None` for the home's first account) and
/// user: `USER` or `ACCOUNT:USER`.
pub(crate) fn split_profile(profile: &str) -> (Option<&str>, &str) {
    match profile.split_once(':') {
        Some((account, user)) => (Some(account), user),
        None => (None, profile),
    }
}

impl Engine {
    /// Makes a new account in this home, with a fresh 12-digit id (unique in the home) and an
    /// optional `name` for profiles. Its `admin` user exists from the start.
    ///
    /// # Errors
    /// `InvalidParameterValue` for a malformed or taken name (a name may not be 12 digits).
    pub fn create_account(&self, name: Option<&str>) -> Result<Account> {
        if let Some(n) = name {
            if !valid_principal(n) || valid_account_id(n) {
                bail!(
                    Code::INVALID_PARAMETER_VALUE,
                    "Invalid account name {n:?}: 1 to 64 letters, digits and +=,.@_- (and not \
                     12 digits, which read as an account id)"
                );
            }
        }
        let rec = self.catalog().write(|tx| {
            if let Some(n) = name {
                if find(tx, n)?.is_some() {
                    bail!(
                        Code::INVALID_PARAMETER_VALUE,
                        "An account named {n:?} already exists in this home."
                    );
                }
            }
            let id = loop {
                let id = random_account_id();
                if tx.get::<AccountRec>(&id)?.is_none() {
                    break id;
                }
            };
            let rec = AccountRec {
                id,
                name: name.map(str::to_owned),
                create_time: crate::clock::now_iso(),
            };
            tx.put(&rec)?;
            Ok(rec)
        })?;
        Ok(rec.view())
    }

    /// Every account of this home, the first one first.
    ///
    /// # Errors
    /// Catalog errors.
    pub fn accounts(&self) -> Result<Vec<Account>> {
        let first = self.account().to_owned();
        let mut all = self.catalog().read(|tx| tx.list::<AccountRec>(""))?;
        if !all.iter().any(|a| a.id == first) {
            // A catalog whose account was recorded after migration 4 ran (never by blockseal
            // itself, which records both together): the first account is still the first.
            all.push(AccountRec {
                id: first.clone(),
                name: None,
                create_time: String::new(),
            });
        }
        all.sort_by_key(|a| (a.id != first, a.create_time.clone(), a.id.clone()));
        Ok(all.iter().map(AccountRec::view).collect())
    }

    /// The id of the account `name_or_id` names.
    ///
    /// # Errors
    /// `AuthFailure` for an account this home does not have.
    pub fn account_id(&self, name_or_id: &str) -> Result<String> {
        if name_or_id == self.account() {
            return Ok(name_or_id.to_owned());
        }
        match self.catalog().read(|tx| find(tx, name_or_id))? {
            Some(a) => Ok(a.id),
            None => bail!(
                Code::AUTH_FAILURE,
                "Account {name_or_id} does not exist in this home (see `blockseal account list`)."
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_made_named_and_found() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let first = engine.account().to_owned();
        let b = engine.create_account(Some("build")).unwrap();
        assert!(valid_account_id(&b.id) && b.id != first, "{b:?}");
        assert_eq!(b.admin_user, format!("arn:aws:iam::{}:user/admin", b.id));
        let c = engine.create_account(None).unwrap();
        let ids: Vec<String> = engine
            .accounts()
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect();
        // The first account first, then by creation time (two made in one millisecond: by id).
        assert_eq!(ids[0], first);
        let mut rest = ids[1..].to_vec();
        rest.sort();
        let mut made = vec![b.id.clone(), c.id.clone()];
        made.sort();
        assert_eq!(rest, made);
        assert_eq!(engine.account_id("build").unwrap(), b.id);
        assert_eq!(engine.account_id(&c.id).unwrap(), c.id);
        assert_eq!(engine.account_id(&first).unwrap(), first);
        let e = engine.account_id("nobody").unwrap_err();
        assert_eq!(e.code(), Code::AUTH_FAILURE);
        for bad in ["build", "123456789012", "no spaces", ""] {
            let e = engine.create_account(Some(bad)).unwrap_err();
            assert_eq!(e.code(), Code::INVALID_PARAMETER_VALUE, "{bad}");
        }
        assert_eq!(split_profile("b:alice"), (Some("b"), "alice"));
        assert_eq!(split_profile("alice"), (None, "alice"));
    }
}
