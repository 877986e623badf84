//! `blockseal iam …` and `blockseal sts …` → one engine operation each: the AWS action name and
//! its request (IAM/STS Query member names, docs/OPERATIONS.md); and the AWS CLI's reading of
//! IAM's URL-encoded policy documents in answers. Pure: no engine, no files.

use crate::args::{IamCommand, StsCommand};
use crate::request::Req;
use serde_json::Value;

/// The IAM operation and request of an `iam` command.
pub fn request(cmd: &IamCommand) -> (&'static str, Value) {
    use IamCommand as C;
    let user = |n: &String| Req::new().set("UserName", n.clone());
    match cmd {
        C::CreateAccessKey(u) => (
            "CreateAccessKey",
            Req::new().opt("UserName", u.user_name.clone()).build(),
        ),
        C::ListAccessKeys(u) => (
            "ListAccessKeys",
            Req::new().opt("UserName", u.user_name.clone()).build(),
        ),
        C::UpdateAccessKey(k) => (
            "UpdateAccessKey",
            Req::new()
                .set("AccessKeyId", k.access_key_id.clone())
                .set("Status", k.status.clone())
                .opt("UserName", k.user_name.clone())
                .build(),
        ),
        C::DeleteAccessKey(k) => (
            "DeleteAccessKey",
            Req::new()
                .set("AccessKeyId", k.access_key_id.clone())
                .opt("UserName", k.user_name.clone())
                .build(),
        ),
        C::CreateUser(a) => (
            "CreateUser",
            user(&a.user_name).opt("Path", a.path.clone()).build(),
        ),
        C::GetUser(u) => (
            "GetUser",
            Req::new().opt("UserName", u.user_name.clone()).build(),
        ),
        C::ListUsers(a) => (
            "ListUsers",
            Req::new().opt("PathPrefix", a.path_prefix.clone()).build(),
        ),
        C::DeleteUser(a) => ("DeleteUser", user(&a.user_name).build()),
        C::PutUserPolicy(a) => (
            "PutUserPolicy",
            user(&a.user_name)
                .set("PolicyName", a.policy_name.clone())
                .set("PolicyDocument", a.policy_document.clone())
                .build(),
        ),
        C::GetUserPolicy(a) => (
            "GetUserPolicy",
            user(&a.user_name)
                .set("PolicyName", a.policy_name.clone())
                .build(),
        ),
        C::ListUserPolicies(a) => ("ListUserPolicies", user(&a.user_name).build()),
        C::DeleteUserPolicy(a) => (
            "DeleteUserPolicy",
            user(&a.user_name)
                .set("PolicyName", a.policy_name.clone())
                .build(),
        ),
    }
}

/// The STS operation and request of an `sts` command.
pub fn sts_request(cmd: &StsCommand) -> (&'static str, Value) {
    match cmd {
        StsCommand::GetCallerIdentity => ("GetCallerIdentity", Req::new().build()),
    }
}

/// `%XX` sequences decoded (IAM's encoding of policy documents); `None` if the result is not
/// UTF-8 or a sequence is broken.
fn url_decode(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// An answer as the AWS CLI shows it: IAM returns policy documents URL-encoded, and botocore
/// decodes them into JSON (its `json_decode_policies` handler), so `PolicyDocument` is an object.
/// A document that does not decode stays as it came.
pub fn shown(op: &str, mut answer: Value) -> Value {
    if op == "GetUserPolicy" {
        if let Some(doc) = answer.get_mut("PolicyDocument") {
            let decoded = doc
                .as_str()
                .and_then(url_decode)
                .and_then(|t| serde_json::from_str::<Value>(&t).ok());
            if let Some(d) = decoded {
                *doc = d;
            }
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policy_documents_are_shown_decoded() {
        let a = json!({"UserName": "bob", "PolicyName": "p",
                       "PolicyDocument": "%7B%22Version%22%3A%20%222012-10-17%22%7D"});
        let s = shown("GetUserPolicy", a);
        assert_eq!(s["PolicyDocument"], json!({"Version": "2012-10-17"}));
        // Other answers, and documents that are not encoded JSON, are left alone.
        let a = json!({"PolicyDocument": "%ZZ"});
        assert_eq!(shown("GetUserPolicy", a.clone()), a);
        assert_eq!(shown("GetUser", a.clone()), a);
    }
}
