//! IAM users and their inline identity policies (CreateUser, GetUser, ListUsers, DeleteUser,
//! PutUserPolicy, GetUserPolicy, ListUserPolicies, DeleteUserPolicy), and the [`Identity`] a
//! call runs as: a user with the policies that decide what it may do.
//!
//! The account's `admin` user exists from the start and holds `*` (it stands for the account
//! root's administrator); it cannot be deleted. Any other profile must name a user made with
//! CreateUser (docs/DECISIONS.md, "Users, profiles and policies").

use super::AccessKeyRec;
use crate::catalog::{Record, Tx};
use crate::ec2::responses::Empty;
use crate::ec2::Core;
use crate::error::{bail, Code, Error, Result};
use crate::policy::{self, Conditions, Decision, Kind, Policy, Principal, Query};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::ADMIN;

/// IAM's limit on the inline policies of one user: 2048 characters, whitespace not counted.
const INLINE_POLICY_BYTES: usize = 2048;

/// A stored user. The admin has a row only once something was stored for it (a policy).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct UserRec {
    pub account: String,
    pub name: String,
    pub path: String,
    pub create_date: String,
    /// Inline policies: name → document as given.
    pub policies: BTreeMap<String, String>,
}

impl Record for UserRec {
    const TABLE: &'static str = "iam_users";
    fn key(&self) -> String {
        user_key(&self.account, &self.name)
    }
    fn region(&self) -> &str {
        // IAM is global.
        ""
    }
}

fn user_key(account: &str, name: &str) -> String {
    format!("{account}/{name}")
}

/// `arn:aws:iam::ACCOUNT:user/NAME` (users with a path have it between `user` and the name).
pub(crate) fn user_arn(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:user{path}{name}")
}

/// A user's unique id: `AIDA` and 17 characters of IAM's alphabet, derived from the user's ARN
/// so that every front end (and STS) shows the same one.
pub(crate) fn user_id(arn: &str) -> String {
    use sha2::{Digest, Sha256};
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let d = Sha256::digest(arn.as_bytes());
    let mut s = String::from("AIDA");
    s.extend(
        d.iter()
            .take(17)
            .map(|b| ALPHABET[(b % 32) as usize] as char),
    );
    s
}

/// Who a call runs as, with the identity policies that apply to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    pub account: String,
    pub user: String,
    pub arn: String,
    /// The account's administrator: `*` besides its own policies.
    pub admin: bool,
    pub policies: Vec<Policy>,
}

fn allow_all() -> &'static Policy {
    static ALL: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        Policy::parse(policy::ALLOW_ALL, Kind::Identity).expect("the built-in policy parses")
    })
}

impl Identity {
    /// User `name` of `account` with no policies of its own (the admin still has `*`).
    pub(crate) fn bare(account: &str, name: &str) -> Identity {
        Identity {
            account: account.to_owned(),
            user: name.to_owned(),
            arn: user_arn(account, "/", name),
            admin: name == ADMIN,
            policies: Vec::new(),
        }
    }

    /// The same user with `policies` (documents) added; for tests and callers that hold them.
    ///
    /// # Panics
    /// If a document does not parse.
    #[cfg(test)]
    pub(crate) fn with_policies(mut self, docs: &[&str]) -> Identity {
        self.policies.extend(
            docs.iter()
                .map(|d| Policy::parse(d, Kind::Identity).expect("test policy parses")),
        );
        self
    }

    pub(crate) fn principal(&self) -> Principal {
        Principal {
            arn: self.arn.clone(),
            account: self.account.clone(),
        }
    }

    /// The global condition keys of every request this identity makes in `region`.
    pub(crate) fn conditions(&self, region: &str) -> Conditions {
        let mut c = Conditions::new();
        let mut put = |k: &str, v: &str| {
            c.insert(k.to_ascii_lowercase(), vec![v.to_owned()]);
        };
        put("aws:username", &self.user);
        put("aws:userid", &user_id(&self.arn));
        put("aws:PrincipalArn", &self.arn);
        put("aws:PrincipalAccount", &self.account);
        put("aws:PrincipalType", "User");
        put("aws:RequestedRegion", region);
        c
    }

    /// What the identity's policies (and, for the admin, `*`) decide for `action` on `resource`.
    pub(crate) fn decide(&self, action: &str, resource: &str, conditions: &Conditions) -> Decision {
        let principal = self.principal();
        let q = Query {
            principal: &principal,
            action,
            resource,
            conditions,
        };
        let admin = self.admin.then(allow_all);
        policy::evaluate(admin.into_iter().chain(self.policies.iter()), &q)
    }
}

fn no_such_user(name: &str) -> Error {
    Error::new(
        Code::NO_SUCH_ENTITY,
        format!("The user with name {name} cannot be found."),
    )
}

/// The stored user `name` of `account`; the admin always exists (with no row until needed).
pub(crate) fn find_user(tx: &Tx<'_>, account: &str, name: &str) -> Result<Option<UserRec>> {
    if let Some(u) = tx.get::<UserRec>(&user_key(account, name))? {
        return Ok(Some(u));
    }
    Ok((name == ADMIN).then(|| UserRec {
        account: account.to_owned(),
        name: ADMIN.to_owned(),
        path: "/".to_owned(),
        create_date: "1970-01-01T00:00:00Z".to_owned(),
        policies: BTreeMap::new(),
    }))
}

/// The identity of user `name` of `account`, with its policies.
///
/// # Errors
/// `InvalidClientTokenId` when the account has no such user (a profile naming nobody);
/// `MalformedPolicyDocument` should a stored policy no longer parse.
pub(crate) fn load_identity(tx: &Tx<'_>, account: &str, name: &str) -> Result<Identity> {
    let Some(rec) = find_user(tx, account, name)? else {
        bail!(
            Code::INVALID_CLIENT_TOKEN_ID,
            "The security token included in the request is invalid: the profile {name:?} names \
             no user of account {account}. The admin creates it with `blockseal iam create-user \
             --user-name {name}` and gives it permissions with `blockseal iam put-user-policy`."
        );
    };
    let policies = rec
        .policies
        .values()
        .map(|d| Policy::parse(d, Kind::Identity))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::new(Code::MALFORMED_POLICY_DOCUMENT, e.0))?;
    Ok(Identity {
        arn: user_arn(account, &rec.path, name),
        policies,
        ..Identity::bare(account, name)
    })
}

// ----- requests -----

/// `CreateUser`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateUser {
    pub user_name: String,
    pub path: Option<String>,
}

/// `DeleteUser`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UserName {
    pub user_name: String,
}

/// `ListUsers`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListUsers {
    pub path_prefix: Option<String>,
    pub marker: Option<String>,
    pub max_items: Option<i64>,
}

/// `PutUserPolicy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PutUserPolicy {
    pub user_name: String,
    pub policy_name: String,
    pub policy_document: String,
}

/// `GetUserPolicy` and `DeleteUserPolicy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UserPolicyRef {
    pub user_name: String,
    pub policy_name: String,
}

/// `ListUserPolicies`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListUserPolicies {
    pub user_name: String,
    pub marker: Option<String>,
    pub max_items: Option<i64>,
}

/// `GetCallerIdentity` (STS): no members.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetCallerIdentity {}

// ----- responses -----

/// An IAM user.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    pub path: String,
    pub user_name: String,
    pub user_id: String,
    pub arn: String,
    pub create_date: String,
}

/// `CreateUser` and `GetUser`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserResult {
    pub user: User,
}

/// `ListUsers`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListUsersResult {
    pub users: Vec<User>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// `GetUserPolicy`: the document URL-encoded, as IAM returns it (botocore and the AWS CLI decode
/// it).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetUserPolicyResult {
    pub user_name: String,
    pub policy_name: String,
    pub policy_document: String,
}

/// `ListUserPolicies`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListUserPoliciesResult {
    pub policy_names: Vec<String>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// `GetCallerIdentity`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CallerIdentity {
    pub user_id: String,
    pub account: String,
    pub arn: String,
}

/// RFC 3986 percent-encoding of everything but the unreserved characters, as IAM encodes policy
/// documents in its responses.
pub(crate) fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `ValidationError` unless `value` is 1..=`max` of IAM's name characters `[\w+=,.@-]`.
pub(crate) fn check_name(member: &str, value: &str, max: usize) -> Result<()> {
    let ok = !value.is_empty()
        && value.chars().count() <= max
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !ok {
        bail!(
            Code::VALIDATION_ERROR,
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have \
             length between 1 and {max}"
        );
    }
    Ok(())
}

fn check_path(path: &str) -> Result<()> {
    let ok = path.starts_with('/')
        && path.ends_with('/')
        && path.len() <= 512
        && path.chars().all(|c| ('!'..='~').contains(&c));
    if !ok {
        bail!(
            Code::VALIDATION_ERROR,
            "1 validation error detected: Value '{path}' at 'path' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)"
        );
    }
    Ok(())
}

/// A page of `names` (sorted) after `marker`, at most `max_items` (1–1000, default 100).
fn page(
    names: Vec<String>,
    marker: Option<&str>,
    max_items: Option<i64>,
) -> Result<(Vec<String>, bool, Option<String>)> {
    let max = max_items.unwrap_or(100);
    if !(1..=1000).contains(&max) {
        bail!(
            Code::VALIDATION_ERROR,
            "1 validation error detected: Value '{max}' at 'maxItems' failed to satisfy \
             constraint: Member must have value between 1 and 1000"
        );
    }
    let mut rest: Vec<String> = names
        .into_iter()
        .filter(|n| marker.is_none_or(|m| n.as_str() > m))
        .collect();
    let truncated = rest.len() > max as usize;
    rest.truncate(max as usize);
    let next = truncated.then(|| rest.last().cloned()).flatten();
    Ok((rest, truncated, next))
}

impl UserRec {
    fn user(&self) -> User {
        let arn = user_arn(&self.account, &self.path, &self.name);
        User {
            path: self.path.clone(),
            user_name: self.name.clone(),
            user_id: user_id(&arn),
            arn,
            create_date: self.create_date.clone(),
        }
    }
}

impl Core<'_> {
    fn existing_user(&self, tx: &Tx<'_>, name: &str) -> Result<UserRec> {
        check_name("userName", name, 64)?;
        find_user(tx, self.account(), name)?.ok_or_else(|| no_such_user(name))
    }

    pub(crate) fn create_user(&mut self, r: CreateUser) -> Result<UserResult> {
        check_name("userName", &r.user_name, 64)?;
        let path = r.path.unwrap_or_else(|| "/".to_owned());
        check_path(&path)?;
        let rec = UserRec {
            account: self.account().to_owned(),
            name: r.user_name.clone(),
            path,
            create_date: crate::clock::now_iso(),
            policies: BTreeMap::new(),
        };
        self.cat.write(|tx| {
            if find_user(tx, &rec.account, &rec.name)?.is_some() {
                bail!(
                    Code::ENTITY_ALREADY_EXISTS,
                    "User with name {} already exists.",
                    rec.name
                );
            }
            tx.put(&rec)
        })?;
        Ok(UserResult { user: rec.user() })
    }

    pub(crate) fn get_user(&mut self, r: super::UserNameOnly) -> Result<UserResult> {
        let name = r
            .user_name
            .unwrap_or_else(|| self.caller.user_name().to_owned());
        let rec = self.cat.read(|tx| self.existing_user(tx, &name))?;
        Ok(UserResult { user: rec.user() })
    }

    pub(crate) fn list_users(&mut self, r: ListUsers) -> Result<ListUsersResult> {
        let prefix = r.path_prefix.unwrap_or_else(|| "/".to_owned());
        let account = self.account().to_owned();
        let mut users: BTreeMap<String, UserRec> = self.cat.read(|tx| {
            Ok(tx
                .list::<UserRec>("")?
                .into_iter()
                .filter(|u| u.account == account)
                .map(|u| (u.name.clone(), u))
                .collect())
        })?;
        if !users.contains_key(ADMIN) {
            let admin = self
                .cat
                .read(|tx| find_user(tx, &account, ADMIN))?
                .expect("the admin always exists");
            users.insert(ADMIN.to_owned(), admin);
        }
        let names = users
            .values()
            .filter(|u| u.path.starts_with(&prefix))
            .map(|u| u.name.clone())
            .collect();
        let (names, is_truncated, marker) = page(names, r.marker.as_deref(), r.max_items)?;
        Ok(ListUsersResult {
            users: names.iter().map(|n| users[n].user()).collect(),
            is_truncated,
            marker,
        })
    }

    pub(crate) fn delete_user(&mut self, r: UserName) -> Result<Empty> {
        let account = self.account().to_owned();
        self.cat.write(|tx| {
            let rec = self.existing_user(tx, &r.user_name)?;
            if rec.name == ADMIN {
                bail!(
                    Code::UNMODIFIABLE_ENTITY,
                    "Cannot delete the account's admin user: it stands for the account's \
                     administrator."
                );
            }
            let has_keys = tx
                .list::<AccessKeyRec>("")?
                .iter()
                .any(|k| k.account == account && k.user == rec.name);
            if has_keys {
                bail!(
                    Code::DELETE_CONFLICT,
                    "Cannot delete entity, must delete access keys first."
                );
            }
            if !rec.policies.is_empty() {
                bail!(
                    Code::DELETE_CONFLICT,
                    "Cannot delete entity, must delete policies first."
                );
            }
            tx.delete::<UserRec>(&rec.key())?;
            Ok(())
        })?;
        Ok(Empty {})
    }

    pub(crate) fn put_user_policy(&mut self, r: PutUserPolicy) -> Result<Empty> {
        check_name("policyName", &r.policy_name, 128)?;
        Policy::parse(&r.policy_document, Kind::Identity)
            .map_err(|e| Error::new(Code::MALFORMED_POLICY_DOCUMENT, e.0))?;
        self.cat.write(|tx| {
            let mut rec = self.existing_user(tx, &r.user_name)?;
            rec.policies
                .insert(r.policy_name.clone(), r.policy_document.clone());
            let size: usize = rec
                .policies
                .values()
                .map(|d| d.chars().filter(|c| !c.is_whitespace()).count())
                .sum();
            if size > INLINE_POLICY_BYTES {
                bail!(
                    Code::LIMIT_EXCEEDED,
                    "Maximum policy size of {INLINE_POLICY_BYTES} bytes exceeded for user {}",
                    rec.name
                );
            }
            tx.put(&rec)
        })?;
        Ok(Empty {})
    }

    pub(crate) fn get_user_policy(&mut self, r: UserPolicyRef) -> Result<GetUserPolicyResult> {
        check_name("policyName", &r.policy_name, 128)?;
        let rec = self.cat.read(|tx| self.existing_user(tx, &r.user_name))?;
        let Some(doc) = rec.policies.get(&r.policy_name) else {
            return Err(no_such_policy(&r.policy_name));
        };
        Ok(GetUserPolicyResult {
            user_name: rec.name.clone(),
            policy_name: r.policy_name,
            policy_document: url_encode(doc),
        })
    }

    pub(crate) fn list_user_policies(
        &mut self,
        r: ListUserPolicies,
    ) -> Result<ListUserPoliciesResult> {
        let rec = self.cat.read(|tx| self.existing_user(tx, &r.user_name))?;
        let names = rec.policies.keys().cloned().collect();
        let (policy_names, is_truncated, marker) = page(names, r.marker.as_deref(), r.max_items)?;
        Ok(ListUserPoliciesResult {
            policy_names,
            is_truncated,
            marker,
        })
    }

    pub(crate) fn delete_user_policy(&mut self, r: UserPolicyRef) -> Result<Empty> {
        check_name("policyName", &r.policy_name, 128)?;
        self.cat.write(|tx| {
            let mut rec = self.existing_user(tx, &r.user_name)?;
            if rec.policies.remove(&r.policy_name).is_none() {
                return Err(no_such_policy(&r.policy_name));
            }
            tx.put(&rec)
        })?;
        Ok(Empty {})
    }

    pub(crate) fn get_caller_identity(&mut self) -> CallerIdentity {
        let id = &self.caller.identity;
        CallerIdentity {
            user_id: user_id(&id.arn),
            account: id.account.clone(),
            arn: id.arn.clone(),
        }
    }
}

fn no_such_policy(name: &str) -> Error {
    Error::new(
        Code::NO_SUCH_ENTITY,
        format!("The user policy with name {name} cannot be found."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_url_encoded_as_iam_returns_them() {
        assert_eq!(
            url_encode(r#"{"Version": "2012-10-17"}"#),
            "%7B%22Version%22%3A%20%222012-10-17%22%7D"
        );
    }

    #[test]
    fn user_ids_are_stable_and_shaped_as_iam_ids() {
        let a = user_id("arn:aws:iam::111122223333:user/bob");
        assert_eq!(a, user_id("arn:aws:iam::111122223333:user/bob"));
        assert_ne!(a, user_id("arn:aws:iam::111122223333:user/carol"));
        assert!(a.starts_with("AIDA") && a.len() == 21, "{a}");
    }

    #[test]
    fn the_admin_has_everything_but_what_its_own_policies_deny() {
        let none = Conditions::new();
        let admin = Identity::bare("111122223333", "admin");
        assert_eq!(
            admin.decide("ec2:CreateVolume", "*", &none),
            Decision::Allow
        );
        let admin = admin.with_policies(&[
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"kms:ScheduleKeyDeletion","Resource":"*"}}"#,
        ]);
        assert_eq!(
            admin.decide("kms:ScheduleKeyDeletion", "*", &none),
            Decision::Deny
        );
        let bob = Identity::bare("111122223333", "bob");
        assert_eq!(bob.decide("ec2:DescribeImages", "*", &none), Decision::None);
    }
}
