//! EC2 resource tags: CreateTags, DeleteTags, DescribeTags, the `TagSpecifications` of the
//! create operations and the `tag:KEY`, `tag-key` and `tag-value` filters of Describe* calls.
//!
//! One catalog row (table `tags`) per tagged resource holds its tags in key order, so a
//! resource's tags are written in the same transaction as the resource and removed with it.
//! The checks (`check_tags`, `check_specs`) are pure; the rest reads and writes rows of one
//! transaction the caller owns.

use super::model::ImageState;
use super::responses::{self as out, Tag};
use super::rules::{matches_filters, Filter};
use super::Core;
use crate::catalog::{Record, Tx};
use crate::error::{bail, Code, Error, Result};
use crate::ids::{ImageId, InstanceId, SnapshotId, VolumeId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// AWS's limits: 50 user tags per resource, keys of 1–128 and values of 0–256 characters.
pub(crate) const MAX_TAGS: usize = 50;
const MAX_KEY: usize = 128;
const MAX_VALUE: usize = 256;

/// One tag of a request: `Value` may be absent (CreateTags stores `""`; DeleteTags then
/// deletes the key whatever its value).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TagRef {
    pub key: Option<String>,
    pub value: Option<String>,
}

/// `TagSpecifications` of a create: the tags of each resource type it makes.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TagSpecification {
    pub resource_type: Option<String>,
    #[serde(default)]
    pub tags: Vec<TagRef>,
}

/// `CreateTags`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateTags {
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub tags: Vec<TagRef>,
}

/// `DeleteTags`: without `Tags`, every tag of the resources goes.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DeleteTags {
    #[serde(default)]
    pub resources: Vec<String>,
    pub tags: Option<Vec<TagRef>>,
}

/// `DescribeTags`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeTags {
    #[serde(default)]
    pub filters: Vec<Filter>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

/// The tags of one resource: a catalog row keyed by the resource id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TagSet {
    pub id: String,
    pub region: String,
    pub resource_type: String,
    /// In key order, keys unique.
    pub tags: Vec<Tag>,
}

impl Record for TagSet {
    const TABLE: &'static str = "tags";
    fn key(&self) -> String {
        self.id.clone()
    }
    fn region(&self) -> &str {
        &self.region
    }
}

// ----- pure checks -----

/// Checks a tag to be stored, with AWS's messages; returns it with an absent value as `""`.
pub(crate) fn check_tag(t: &TagRef) -> Result<Tag> {
    let key = t.key.clone().unwrap_or_default();
    check_key(&key)?;
    let value = t.value.clone().unwrap_or_default();
    if value.chars().count() > MAX_VALUE {
        bail!(
            Code::INVALID_PARAMETER_VALUE,
            "Tag value exceeds the maximum length of {MAX_VALUE} characters"
        );
    }
    Ok(Tag { key, value })
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        bail!(
            Code::INVALID_PARAMETER_VALUE,
            "Tag keys must not be empty: each tag needs a Key of 1 to {MAX_KEY} characters"
        );
    }
    if key.chars().count() > MAX_KEY {
        bail!(
            Code::INVALID_PARAMETER_VALUE,
            "Tag key exceeds the maximum length of {MAX_KEY} characters"
        );
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        bail!(
            Code::INVALID_PARAMETER_VALUE,
            "Value ( {key} ) for parameter key is invalid. Tag keys starting with 'aws:' are \
             reserved for internal use"
        );
    }
    Ok(())
}

/// Checks the tags of one request; the last value of a key repeated in it wins.
pub(crate) fn check_tags(tags: &[TagRef]) -> Result<Vec<Tag>> {
    let mut out: Vec<Tag> = Vec::new();
    for t in tags {
        let t = check_tag(t)?;
        match out.iter_mut().find(|o| o.key == t.key) {
            Some(o) => o.value = t.value,
            None => out.push(t),
        }
    }
    if out.len() > MAX_TAGS {
        return Err(limit_exceeded());
    }
    Ok(out)
}

fn limit_exceeded() -> Error {
    Error::new(
        Code::TAG_LIMIT_EXCEEDED,
        format!("The maximum number of tags ({MAX_TAGS}) for a resource has been reached."),
    )
}

/// Checks a create's `TagSpecifications` against the resource types it makes (`allowed`):
/// each spec names one of them, at most once, with valid tags.
pub(crate) fn check_specs(specs: &[TagSpecification], allowed: &[&str]) -> Result<()> {
    let mut seen: Vec<&str> = Vec::new();
    for s in specs {
        let Some(rt) = s.resource_type.as_deref() else {
            bail!(
                Code::MISSING_PARAMETER,
                "The request must contain the parameter ResourceType in TagSpecification"
            );
        };
        if !allowed.contains(&rt) {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "'{rt}' is not a valid taggable resource type for this operation."
            );
        }
        if seen.contains(&rt) {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "The same resource type may not be specified more than once in tag \
                 specifications: '{rt}'"
            );
        }
        seen.push(rt);
        check_tags(&s.tags)?;
    }
    Ok(())
}

/// The tags `specs` give to resources of type `resource_type` (checked by [`check_specs`]).
pub(crate) fn spec_tags(specs: &[TagSpecification], resource_type: &str) -> Result<Vec<Tag>> {
    match specs
        .iter()
        .find(|s| s.resource_type.as_deref() == Some(resource_type))
    {
        Some(s) => check_tags(&s.tags),
        None => Ok(Vec::new()),
    }
}

/// The values a tag filter (`tag:KEY`, `tag-key`, `tag-value`) sees on a resource with `tags`;
/// `None` for any other filter name.
pub(crate) fn filter_values(name: &str, tags: &[Tag]) -> Option<Vec<String>> {
    if let Some(key) = name.strip_prefix("tag:") {
        return Some(
            tags.iter()
                .filter(|t| t.key == key)
                .map(|t| t.value.clone())
                .collect(),
        );
    }
    match name {
        "tag-key" => Some(tags.iter().map(|t| t.key.clone()).collect()),
        "tag-value" => Some(tags.iter().map(|t| t.value.clone()).collect()),
        _ => None,
    }
}

/// `tags` with `add` merged in (a key already there takes the new value), in key order.
/// `TagLimitExceeded` past [`MAX_TAGS`].
pub(crate) fn merged(tags: &[Tag], add: &[Tag]) -> Result<Vec<Tag>> {
    let mut out = tags.to_vec();
    for t in add {
        match out.iter_mut().find(|o| o.key == t.key) {
            Some(o) => o.value = t.value.clone(),
            None => out.push(t.clone()),
        }
    }
    if out.len() > MAX_TAGS {
        return Err(limit_exceeded());
    }
    out.sort();
    Ok(out)
}

/// `tags` less those `remove` names (AWS DeleteTags): a key alone removes the tag whatever its
/// value; a key with a value (even `""`) removes it only when the value matches. `None`
/// removes every tag.
pub(crate) fn without(tags: &[Tag], remove: Option<&[TagRef]>) -> Vec<Tag> {
    let Some(remove) = remove else {
        return Vec::new();
    };
    tags.iter()
        .filter(|t| {
            !remove.iter().any(|r| {
                r.key.as_deref() == Some(t.key.as_str())
                    && r.value.as_deref().is_none_or(|v| v == t.value)
            })
        })
        .cloned()
        .collect()
}

// ----- rows -----

/// The tags of resource `id` (none if it has no row).
pub(crate) fn of(tx: &Tx<'_>, id: &str) -> Result<Vec<Tag>> {
    Ok(tx.get::<TagSet>(id)?.map(|s| s.tags).unwrap_or_default())
}

/// Every tagged resource of `region`, by id.
pub(crate) fn in_region(tx: &Tx<'_>, region: &str) -> Result<HashMap<String, Vec<Tag>>> {
    Ok(tx
        .list::<TagSet>(region)?
        .into_iter()
        .map(|s| (s.id, s.tags))
        .collect())
}

/// Gives resource `id` (of `resource_type`, in `region`) the tags `add`, keeping its others.
pub(crate) fn add(
    tx: &Tx<'_>,
    region: &str,
    resource_type: &str,
    id: &str,
    add: &[Tag],
) -> Result<()> {
    if add.is_empty() {
        return Ok(());
    }
    let tags = merged(&of(tx, id)?, add)?;
    tx.put(&TagSet {
        id: id.to_owned(),
        region: region.to_owned(),
        resource_type: resource_type.to_owned(),
        tags,
    })
}

/// Stores the tags `specs` give a new resource `id` of `resource_type`, in the transaction
/// that stores the resource.
pub(crate) fn apply(
    tx: &Tx<'_>,
    region: &str,
    specs: &[TagSpecification],
    resource_type: &str,
    id: &str,
) -> Result<()> {
    add(
        tx,
        region,
        resource_type,
        id,
        &spec_tags(specs, resource_type)?,
    )
}

/// Removes every tag of resource `id` (it is being deleted).
pub(crate) fn remove(tx: &Tx<'_>, id: &str) -> Result<()> {
    tx.delete::<TagSet>(id)?;
    Ok(())
}

// ----- operations -----

/// The resource type of an id by its prefix, and the id checked for shape; `InvalidID` for an
/// id that names no kind of resource we have, as AWS answers CreateTags.
fn resource_type_of(id: &str) -> Result<&'static str> {
    let invalid = || Error::new(Code::INVALID_ID, format!("The ID '{id}' is not valid"));
    let ok = if id.starts_with("ami-") {
        id.parse::<ImageId>().map(|_| "image")
    } else if id.starts_with("snap-") {
        id.parse::<SnapshotId>().map(|_| "snapshot")
    } else if id.starts_with("vol-") {
        id.parse::<VolumeId>().map(|_| "volume")
    } else if id.starts_with("i-") {
        id.parse::<InstanceId>().map(|_| "instance")
    } else {
        return Err(invalid());
    };
    ok.map_err(|_| invalid())
}

impl Core<'_> {
    /// The type of resource `id` after checking it exists in the caller's region (with the
    /// resource's own NotFound code).
    pub(super) fn taggable(&self, tx: &Tx<'_>, id: &str) -> Result<&'static str> {
        let rt = resource_type_of(id)?;
        let region = self.region().to_owned();
        match rt {
            "image" => {
                self.image(tx, &region, id)?;
            }
            "snapshot" => {
                self.snapshot(tx, &region, id)?;
            }
            "volume" => {
                self.volume(tx, id)?;
            }
            _ => {
                self.instance(tx, id)?;
            }
        }
        Ok(rt)
    }

    fn check_resources(resources: &[String]) -> Result<()> {
        if resources.is_empty() {
            bail!(
                Code::MISSING_PARAMETER,
                "The request must contain the parameter resourceIdSet"
            );
        }
        Ok(())
    }

    pub(super) fn create_tags(&mut self, r: CreateTags) -> Result<out::Empty> {
        Self::check_resources(&r.resources)?;
        if r.tags.is_empty() {
            bail!(
                Code::MISSING_PARAMETER,
                "The request must contain the parameter tagSet"
            );
        }
        let tags = check_tags(&r.tags)?;
        let region = self.region().to_owned();
        self.cat.write(|tx| {
            for id in &r.resources {
                let rt = self.taggable(tx, id)?;
                add(tx, &region, rt, id, &tags)?;
            }
            Ok(())
        })?;
        Ok(out::Empty {})
    }

    pub(super) fn delete_tags(&mut self, r: DeleteTags) -> Result<out::Empty> {
        Self::check_resources(&r.resources)?;
        for t in r.tags.iter().flatten() {
            check_key(t.key.as_deref().unwrap_or_default())?;
        }
        let region = self.region().to_owned();
        self.cat.write(|tx| {
            for id in &r.resources {
                let rt = self.taggable(tx, id)?;
                let left = without(&of(tx, id)?, r.tags.as_deref());
                if left.is_empty() {
                    remove(tx, id)?;
                } else {
                    tx.put(&TagSet {
                        id: id.clone(),
                        region: region.clone(),
                        resource_type: rt.to_owned(),
                        tags: left,
                    })?;
                }
            }
            Ok(())
        })?;
        Ok(out::Empty {})
    }

    pub(super) fn describe_tags(&mut self, r: DescribeTags) -> Result<out::DescribeTagsResult> {
        let region = self.region().to_owned();
        if let Some(m) = r.max_results {
            if !(5..=1000).contains(&m) {
                bail!(
                    Code::INVALID_PARAMETER_VALUE,
                    "Value ( {m} ) for parameter maxResults is invalid. Expecting a value \
                     between 5 and 1000."
                );
            }
        }
        let after = r
            .next_token
            .as_deref()
            .map(|t| {
                hex::decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        Error::new(
                            Code::INVALID_PARAMETER_VALUE,
                            format!("Invalid value '{t}' for nextToken"),
                        )
                    })
            })
            .transpose()?;
        // Unknown filter names are refused even when there is no tag to test them on.
        matches_filters(&r.filters, |name| {
            matches!(name, "key" | "value" | "resource-id" | "resource-type")
                .then(Vec::new)
                .or_else(|| filter_values(name, &[]))
        })?;
        let sets = self.cat.read(|tx| {
            let mut live = Vec::new();
            for s in tx.list::<TagSet>(&region)? {
                // A deregistered image keeps its row until it is gone; AWS shows no tags for it.
                if s.resource_type == "image"
                    && tx
                        .get::<super::model::ImageRec>(&s.id)?
                        .is_none_or(|i| i.state == ImageState::Deregistered)
                {
                    continue;
                }
                live.push(s);
            }
            Ok(live)
        })?;
        let mut shown = Vec::new();
        for s in &sets {
            for t in &s.tags {
                let ok = matches_filters(&r.filters, |name| {
                    Some(match name {
                        "key" => vec![t.key.clone()],
                        "value" => vec![t.value.clone()],
                        "resource-id" => vec![s.id.clone()],
                        "resource-type" => vec![s.resource_type.clone()],
                        _ => return filter_values(name, std::slice::from_ref(t)),
                    })
                })?;
                if ok {
                    shown.push(out::TagDescription {
                        key: t.key.clone(),
                        resource_id: s.id.clone(),
                        resource_type: s.resource_type.clone(),
                        value: t.value.clone(),
                    });
                }
            }
        }
        // Sorted by resource, then key; a page ends after the item its token names.
        let sort_key = |d: &out::TagDescription| format!("{}\n{}", d.resource_id, d.key);
        shown.sort_by_key(sort_key);
        if let Some(a) = &after {
            shown.retain(|d| sort_key(d) > *a);
        }
        let limit = r.max_results.map_or(usize::MAX, |m| m as usize);
        let next_token = (shown.len() > limit).then(|| hex::encode(sort_key(&shown[limit - 1])));
        shown.truncate(limit);
        Ok(out::DescribeTagsResult {
            tags: shown,
            next_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(k: &str, v: Option<&str>) -> TagRef {
        TagRef {
            key: Some(k.into()),
            value: v.map(Into::into),
        }
    }

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn tags_are_checked_with_aws_limits() {
        assert_eq!(check_tag(&t("a", None)).unwrap(), tag("a", ""));
        let code = |r: &TagRef| check_tag(r).unwrap_err().code();
        assert_eq!(code(&t("aws:x", Some("v"))), Code::INVALID_PARAMETER_VALUE);
        assert_eq!(code(&t("AWS:x", Some("v"))), Code::INVALID_PARAMETER_VALUE);
        assert_eq!(code(&t("", Some("v"))), Code::INVALID_PARAMETER_VALUE);
        assert!(check_tag(&t(&"k".repeat(128), Some(&"v".repeat(256)))).is_ok());
        assert_eq!(
            code(&t(&"k".repeat(129), None)),
            Code::INVALID_PARAMETER_VALUE
        );
        assert_eq!(
            code(&t("k", Some(&"v".repeat(257)))),
            Code::INVALID_PARAMETER_VALUE
        );
        let fifty: Vec<TagRef> = (0..50).map(|i| t(&format!("k{i}"), None)).collect();
        assert_eq!(check_tags(&fifty).unwrap().len(), 50);
        let mut fifty_one = fifty.clone();
        fifty_one.push(t("one-more", None));
        assert_eq!(
            check_tags(&fifty_one).unwrap_err().code(),
            Code::TAG_LIMIT_EXCEEDED
        );
        // A key given twice counts once, with its last value.
        assert_eq!(
            check_tags(&[t("a", Some("1")), t("a", Some("2"))]).unwrap(),
            [tag("a", "2")]
        );
    }

    #[test]
    fn merging_overwrites_values_and_counts_to_fifty() {
        let have: Vec<Tag> = (0..49).map(|i| tag(&format!("k{i:02}"), "x")).collect();
        let m = merged(&have, &[tag("k00", "new"), tag("z", "1")]).unwrap();
        assert_eq!(m.len(), 50);
        assert_eq!(m[0], tag("k00", "new"));
        assert_eq!(
            merged(&m, &[tag("zz", "")]).unwrap_err().code(),
            Code::TAG_LIMIT_EXCEEDED
        );
        // Overwriting at the limit is fine.
        assert_eq!(merged(&m, &[tag("z", "2")]).unwrap().len(), 50);
    }

    #[test]
    fn delete_by_key_by_key_and_value_and_by_empty_value() {
        let have = vec![tag("a", "1"), tag("b", ""), tag("c", "3")];
        // Key alone: whatever the value.
        assert_eq!(
            without(&have, Some(&[t("a", None)])),
            [tag("b", ""), tag("c", "3")]
        );
        // Key and value: only on a match.
        assert_eq!(without(&have, Some(&[t("c", Some("x"))])), have);
        assert_eq!(
            without(&have, Some(&[t("c", Some("3"))])),
            [tag("a", "1"), tag("b", "")]
        );
        // An empty value deletes only a tag whose value is empty.
        assert_eq!(without(&have, Some(&[t("a", Some(""))])), have);
        assert_eq!(
            without(&have, Some(&[t("b", Some(""))])),
            [tag("a", "1"), tag("c", "3")]
        );
        // No tags named: all go.
        assert!(without(&have, None).is_empty());
    }

    #[test]
    fn specs_name_only_the_types_an_operation_makes() {
        let spec = |rt: &str| TagSpecification {
            resource_type: Some(rt.into()),
            tags: vec![t("Name", Some("x"))],
        };
        assert!(check_specs(&[spec("instance"), spec("volume")], &["instance", "volume"]).is_ok());
        let e = check_specs(&[spec("image")], &["volume"]).unwrap_err();
        assert_eq!(e.code(), Code::INVALID_PARAMETER_VALUE);
        assert!(e.message().contains("'image'"), "{}", e.message());
        assert_eq!(
            check_specs(&[spec("volume"), spec("volume")], &["volume"])
                .unwrap_err()
                .code(),
            Code::INVALID_PARAMETER_VALUE
        );
        let none = TagSpecification {
            resource_type: None,
            tags: vec![],
        };
        assert_eq!(
            check_specs(&[none], &["volume"]).unwrap_err().code(),
            Code::MISSING_PARAMETER
        );
        assert_eq!(
            spec_tags(&[spec("instance")], "instance").unwrap(),
            [tag("Name", "x")]
        );
        assert!(spec_tags(&[spec("instance")], "volume").unwrap().is_empty());
    }

    #[test]
    fn tag_filters_see_keys_and_values() {
        let tags = vec![tag("Name", "web-1"), tag("env", "")];
        assert_eq!(filter_values("tag:Name", &tags).unwrap(), ["web-1"]);
        assert!(filter_values("tag:nope", &tags).unwrap().is_empty());
        assert_eq!(filter_values("tag-key", &tags).unwrap(), ["Name", "env"]);
        assert_eq!(filter_values("tag-value", &tags).unwrap(), ["web-1", ""]);
        assert!(filter_values("state", &tags).is_none());
    }

    #[test]
    fn ids_give_their_resource_type() {
        assert_eq!(resource_type_of("ami-0123456789abcdef0").unwrap(), "image");
        assert_eq!(
            resource_type_of("snap-0123456789abcdef0").unwrap(),
            "snapshot"
        );
        assert_eq!(resource_type_of("vol-0123456789abcdef0").unwrap(), "volume");
        assert_eq!(resource_type_of("i-0123456789abcdef0").unwrap(), "instance");
        for bad in ["sg-0123456789abcdef0", "ami-xyz", "foo", ""] {
            assert_eq!(
                resource_type_of(bad).unwrap_err().code(),
                Code::INVALID_ID,
                "{bad}"
            );
        }
    }
}
