//! KMS key tags: TagResource, UntagResource, ListResourceTags and the `Tags` of CreateKey.
//!
//! One catalog row (table `kms_tags`) per tagged key holds its tags in key order; it is written
//! in the transaction of the operation and removed with the key. Aliases carry no tags. Tagging
//! follows the key's permission and state (`policy`): a key pending deletion can be listed but
//! not tagged or untagged, and AWS managed keys cannot be tagged.

use super::ops::{aliases_not_supported, page, paging, resolve_key_only};
use super::policy::{self, Action, Via};
use super::requests::{self as rq, Tag};
use super::responses::{self as rs, Empty};
use super::store::KeyRecord;
use super::{Caller, Kms};
use crate::catalog::{Record, Tx};
use crate::error::{Code, Error, Result};
use serde::{Deserialize, Serialize};

/// AWS KMS's quota: 50 tags per key.
pub(super) const MAX_TAGS: usize = 50;

/// The tags of one key: a catalog row keyed by the key id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyTags {
    pub key_id: String,
    pub region: String,
    /// In key order, keys unique.
    pub tags: Vec<Tag>,
}

impl Record for KeyTags {
    const TABLE: &'static str = "kms_tags";
    fn key(&self) -> String {
        self.key_id.clone()
    }
    fn region(&self) -> &str {
        &self.region
    }
}

/// `tags` with `add` merged in (an existing key takes the new value), in key order;
/// `LimitExceededException` past [`MAX_TAGS`]. Pure.
pub(super) fn merged(tags: &[Tag], add: &[Tag]) -> Result<Vec<Tag>> {
    let mut out = tags.to_vec();
    for t in add {
        match out.iter_mut().find(|o| o.tag_key == t.tag_key) {
            Some(o) => o.tag_value = t.tag_value.clone(),
            None => out.push(t.clone()),
        }
    }
    if out.len() > MAX_TAGS {
        return Err(Error::new(
            Code::LIMIT_EXCEEDED_EXCEPTION,
            format!("A KMS key can have at most {MAX_TAGS} tags."),
        ));
    }
    out.sort();
    Ok(out)
}

fn of(tx: &Tx, key: &KeyRecord) -> Result<Vec<Tag>> {
    Ok(tx
        .get::<KeyTags>(key.key_id.as_str())?
        .map(|t| t.tags)
        .unwrap_or_default())
}

fn store(tx: &Tx, key: &KeyRecord, tags: Vec<Tag>) -> Result<()> {
    if tags.is_empty() {
        return remove(tx, key);
    }
    tx.put(&KeyTags {
        key_id: key.key_id.as_str().to_owned(),
        region: key.region.clone(),
        tags,
    })
}

/// Adds `add` to `key`'s tags (CreateKey, TagResource).
pub(super) fn add(tx: &Tx, key: &KeyRecord, add: &[Tag]) -> Result<()> {
    if add.is_empty() {
        return Ok(());
    }
    let tags = merged(&of(tx, key)?, add)?;
    store(tx, key, tags)
}

/// Removes every tag of `key` (it is being deleted).
pub(super) fn remove(tx: &Tx, key: &KeyRecord) -> Result<()> {
    tx.delete::<KeyTags>(key.key_id.as_str())?;
    Ok(())
}

pub(super) fn tag_resource(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::TagResource,
) -> Result<Empty> {
    let key = resolve_key_only(kms, tx, caller, &req.key_id, aliases_not_supported)?;
    policy::check(&key, caller, Action::TagResource, None, Via::Api)?;
    add(tx, &key, &req.tags)?;
    Ok(Empty {})
}

pub(super) fn untag_resource(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::UntagResource,
) -> Result<Empty> {
    let key = resolve_key_only(kms, tx, caller, &req.key_id, aliases_not_supported)?;
    policy::check(&key, caller, Action::UntagResource, None, Via::Api)?;
    let left = of(tx, &key)?
        .into_iter()
        .filter(|t| !req.tag_keys.contains(&t.tag_key))
        .collect();
    store(tx, &key, left)?;
    Ok(Empty {})
}

pub(super) fn list_resource_tags(
    kms: &Kms,
    tx: &Tx,
    caller: &Caller,
    req: &rq::ListResourceTags,
) -> Result<rs::ListResourceTagsResponse> {
    let paging = paging(req.limit, req.marker.as_deref(), MAX_TAGS as i64);
    let key = resolve_key_only(kms, tx, caller, &req.key_id, aliases_not_supported)?;
    policy::check(&key, caller, Action::ListResourceTags, None, Via::Api)?;
    let tags = page(of(tx, &key)?, paging, |t| t.tag_key.clone());
    Ok(rs::ListResourceTagsResponse {
        tags: tags.items,
        truncated: tags.truncated,
        next_marker: tags.next_marker,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{admin, user, Home};
    use super::*;
    use serde_json::json;

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            tag_key: k.into(),
            tag_value: v.into(),
        }
    }

    #[test]
    fn merging_replaces_values_and_stops_at_fifty() {
        let have: Vec<Tag> = (0..49).map(|i| tag(&format!("k{i:02}"), "v")).collect();
        let m = merged(&have, &[tag("k00", "new"), tag("z", "")]).unwrap();
        assert_eq!((m.len(), &m[0]), (50, &tag("k00", "new")));
        assert_eq!(
            merged(&m, &[tag("zz", "")]).unwrap_err().code(),
            Code::LIMIT_EXCEEDED_EXCEPTION
        );
    }

    #[test]
    fn tag_untag_list_and_their_errors() {
        let mut h = Home::new();
        let a = admin();
        let ok = |h: &mut Home, op: &str, body: serde_json::Value| h.call(&a, op, body).unwrap();
        let created = ok(
            &mut h,
            "CreateKey",
            json!({"Tags": [{"TagKey": "Purpose", "TagValue": "Test"}]}),
        );
        let key = created["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
        let arn = created["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
        let list = |h: &mut Home, body: serde_json::Value| ok(h, "ListResourceTags", body);
        assert_eq!(
            list(&mut h, json!({"KeyId": key})),
            json!({"Tags": [{"TagKey": "Purpose", "TagValue": "Test"}], "Truncated": false})
        );
        // By ARN too; a value changes in place; an empty value is a value.
        ok(
            &mut h,
            "TagResource",
            json!({"KeyId": arn, "Tags": [
                {"TagKey": "Purpose", "TagValue": "Prod"},
                {"TagKey": "Dept", "TagValue": ""}]}),
        );
        assert_eq!(
            list(&mut h, json!({"KeyId": key}))["Tags"],
            json!([{"TagKey": "Dept", "TagValue": ""}, {"TagKey": "Purpose", "TagValue": "Prod"}])
        );
        // Pages of one, by marker.
        let p1 = list(&mut h, json!({"KeyId": key, "Limit": 1}));
        assert_eq!(p1["Truncated"], true);
        assert_eq!(p1["Tags"][0]["TagKey"], "Dept");
        let p2 = list(
            &mut h,
            json!({"KeyId": key, "Limit": 1, "Marker": p1["NextMarker"]}),
        );
        assert_eq!(p2["Tags"][0]["TagKey"], "Purpose");
        assert_eq!(p2["Truncated"], false);
        // Untag by key; an unknown key is no error.
        ok(
            &mut h,
            "UntagResource",
            json!({"KeyId": key, "TagKeys": ["Dept", "Nope"]}),
        );
        assert_eq!(
            list(&mut h, json!({"KeyId": key}))["Tags"],
            json!([{"TagKey": "Purpose", "TagValue": "Prod"}])
        );
        // Errors.
        let bad = |h: &mut Home, op: &str, body: serde_json::Value, code: Code| {
            h.fails(&a, op, body, code);
        };
        bad(
            &mut h,
            "TagResource",
            json!({"KeyId": key, "Tags": [{"TagKey": "aws:x", "TagValue": "v"}]}),
            Code::TAG_EXCEPTION,
        );
        bad(
            &mut h,
            "TagResource",
            json!({"KeyId": key, "Tags": [{"TagKey": "k".repeat(129), "TagValue": "v"}]}),
            Code::VALIDATION_EXCEPTION,
        );
        bad(
            &mut h,
            "TagResource",
            json!({"KeyId": key, "Tags": [{"TagKey": "k"}]}),
            Code::VALIDATION_EXCEPTION,
        );
        bad(
            &mut h,
            "TagResource",
            json!({"KeyId": "alias/x", "Tags": [{"TagKey": "k", "TagValue": "v"}]}),
            Code::INVALID_ARN_EXCEPTION,
        );
        bad(
            &mut h,
            "ListResourceTags",
            json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
            Code::NOT_FOUND_EXCEPTION,
        );
        bad(
            &mut h,
            "ListResourceTags",
            json!({"KeyId": key, "Limit": 51}),
            Code::VALIDATION_EXCEPTION,
        );
        let many: Vec<_> = (0..50)
            .map(|i| json!({"TagKey": format!("k{i}"), "TagValue": ""}))
            .collect();
        bad(
            &mut h,
            "TagResource",
            json!({"KeyId": key, "Tags": many}),
            Code::LIMIT_EXCEEDED_EXCEPTION,
        );
        // A failed CreateKey leaves no key behind.
        let before = ok(&mut h, "ListKeys", json!({}))["Keys"]
            .as_array()
            .unwrap()
            .len();
        bad(
            &mut h,
            "CreateKey",
            json!({"Tags": many
                .iter()
                .cloned()
                .chain([json!({"TagKey": "k50", "TagValue": ""})])
                .collect::<Vec<_>>()}),
            Code::LIMIT_EXCEEDED_EXCEPTION,
        );
        let after = ok(&mut h, "ListKeys", json!({}))["Keys"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(before, after);
        // Someone else's key: not theirs to untag.
        h.fails(
            &user("bob"),
            "UntagResource",
            json!({"KeyId": key, "TagKeys": ["Purpose"]}),
            Code::ACCESS_DENIED_EXCEPTION,
        );
        // Pending deletion: listed, not changed.
        ok(
            &mut h,
            "ScheduleKeyDeletion",
            json!({"KeyId": key, "PendingWindowInDays": 7}),
        );
        bad(
            &mut h,
            "TagResource",
            json!({"KeyId": key, "Tags": [{"TagKey": "k", "TagValue": "v"}]}),
            Code::KMS_INVALID_STATE_EXCEPTION,
        );
        bad(
            &mut h,
            "UntagResource",
            json!({"KeyId": key, "TagKeys": ["Purpose"]}),
            Code::KMS_INVALID_STATE_EXCEPTION,
        );
        assert_eq!(
            list(&mut h, json!({"KeyId": key}))["Tags"][0]["TagValue"],
            "Prod"
        );
    }
}
