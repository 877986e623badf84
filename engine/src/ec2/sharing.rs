//! Sharing images and snapshots with other accounts (SEMANTICS.md §16): launch permissions
//! (ModifyImageAttribute, DescribeImageAttribute, ResetImageAttribute) and create-volume
//! permissions (ModifySnapshotAttribute, DescribeSnapshotAttribute, ResetSnapshotAttribute),
//! who sees and may use what (`Permissions::allows`, the owner filters of the describes), and
//! the rules of encrypted resources: nothing under the AWS managed key `aws/ebs` is shared,
//! nothing encrypted is made public.
//!
//! Whether a recipient may use the owner's KMS key is not decided here: every use of a shared
//! encrypted resource goes through the KMS with the recipient as caller (`Core::plan`,
//! `Core::xts_of` → `Kms::generate_data_key`/`unwrap_data_key`/`rewrap_data_key`, whose
//! permission check is `kms::policy::permits`), so a grant — or a key policy — decides it.

use super::model::{ImageRec, SnapshotRec};
use super::responses as out;
use super::Core;
use crate::accounts::valid_account_id;
use crate::catalog::Tx;
use crate::error::{bail, Code, Error, Result};
use crate::kms::KeyManager;
use serde::{Deserialize, Serialize};

/// Who besides the owner may use an image (launch) or a snapshot (create volumes, copy).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Permissions {
    /// Everyone (`Group: all`).
    #[serde(default)]
    pub public: bool,
    /// These accounts, in the order they were added.
    #[serde(default)]
    pub accounts: Vec<String>,
}

impl Permissions {
    /// Whether `account` (not the owner) is permitted.
    pub(crate) fn allows(&self, account: &str) -> bool {
        self.public || self.accounts.iter().any(|a| a == account)
    }

    /// Whether `account` is named (as DescribeImages `ExecutableUsers` and DescribeSnapshots
    /// `RestorableByUserIds` mean it: the account itself, or `all` for public).
    fn names(&self, who: &str) -> bool {
        if who == "all" {
            self.public
        } else {
            self.accounts.iter().any(|a| a == who)
        }
    }

    fn apply(&mut self, c: &Change) {
        if c.add_public {
            self.public = true;
        }
        if c.remove_public {
            self.public = false;
        }
        for a in &c.add {
            if !self.accounts.contains(a) {
                self.accounts.push(a.clone());
            }
        }
        self.accounts.retain(|a| !c.remove.contains(a));
    }

    fn view(&self) -> Vec<out::Permission> {
        let mut v: Vec<out::Permission> = Vec::new();
        if self.public {
            v.push(out::Permission {
                group: Some("all".to_owned()),
                user_id: None,
            });
        }
        v.extend(self.accounts.iter().map(|a| out::Permission {
            group: None,
            user_id: Some(a.clone()),
        }));
        v
    }
}

/// One entry of `LaunchPermission`/`CreateVolumePermission` `Add`/`Remove`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PermissionItem {
    pub user_id: Option<String>,
    pub group: Option<String>,
    pub organization_arn: Option<String>,
    pub organizational_unit_arn: Option<String>,
}

/// `LaunchPermission` / `CreateVolumePermission` of the Modify calls.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PermissionModifications {
    #[serde(default)]
    pub add: Vec<PermissionItem>,
    #[serde(default)]
    pub remove: Vec<PermissionItem>,
}

/// An `AttributeValue` (`{"Value": …}`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AttributeValue {
    pub value: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ModifyImageAttribute {
    pub image_id: String,
    pub attribute: Option<String>,
    pub operation_type: Option<String>,
    pub user_ids: Option<Vec<String>>,
    pub user_groups: Option<Vec<String>>,
    pub organization_arns: Option<Vec<String>>,
    pub organizational_unit_arns: Option<Vec<String>>,
    pub launch_permission: Option<PermissionModifications>,
    pub description: Option<AttributeValue>,
    pub value: Option<String>,
    pub product_codes: Option<Vec<String>>,
    pub imds_support: Option<AttributeValue>,
}

/// DescribeImageAttribute and ResetImageAttribute.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ImageAttributeRequest {
    pub image_id: String,
    pub attribute: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ModifySnapshotAttribute {
    pub snapshot_id: String,
    pub attribute: Option<String>,
    pub operation_type: Option<String>,
    pub user_ids: Option<Vec<String>>,
    pub group_names: Option<Vec<String>>,
    pub create_volume_permission: Option<PermissionModifications>,
}

/// DescribeSnapshotAttribute and ResetSnapshotAttribute.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SnapshotAttributeRequest {
    pub snapshot_id: String,
    pub attribute: String,
}

/// The attribute names of DescribeImageAttribute (botocore's `ImageAttributeName`).
const IMAGE_ATTRIBUTES: &[&str] = &[
    "description",
    "kernel",
    "ramdisk",
    "launchPermission",
    "productCodes",
    "blockDeviceMapping",
    "sriovNetSupport",
    "bootMode",
    "tpmSupport",
    "uefiData",
    "lastLaunchedTime",
    "imdsSupport",
    "deregistrationProtection",
];

/// A permission change, checked: account ids are 12 digits, the only group is `all`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Change {
    pub add: Vec<String>,
    pub remove: Vec<String>,
    pub add_public: bool,
    pub remove_public: bool,
}

impl Change {
    fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty() && !self.add_public && !self.remove_public
    }
}

/// How a bad account id or group is refused: images answer `InvalidAMIAttributeItemValue`
/// (all or nothing), snapshots `InvalidParameterValue`.
#[derive(Clone, Copy)]
enum Kind {
    Image,
    Snapshot,
}

fn bad_item(kind: Kind, item_type: &str, value: &str) -> Error {
    match kind {
        Kind::Image => Error::new(
            Code::INVALID_AMI_ATTRIBUTE_ITEM_VALUE,
            format!("Invalid attribute item value \"{value}\" for {item_type} item type."),
        ),
        Kind::Snapshot => Error::new(
            Code::INVALID_PARAMETER_VALUE,
            format!("Value ({value}) for parameter {item_type} is invalid."),
        ),
    }
}

/// The change `add`/`remove` lists (the structure form) and `operation_type` with
/// `user_ids`/`groups` (the flag form) describe together. Pure.
fn permission_change(
    kind: Kind,
    mods: Option<&PermissionModifications>,
    operation_type: Option<&str>,
    user_ids: &[String],
    groups: &[String],
) -> Result<Change> {
    let mut c = Change::default();
    let mut put = |adding: bool, user: Option<&str>, group: Option<&str>| -> Result<()> {
        if let Some(u) = user {
            if !valid_account_id(u) {
                return Err(bad_item(kind, "userId", u));
            }
            let list = if adding { &mut c.add } else { &mut c.remove };
            if !list.iter().any(|x| x == u) {
                list.push(u.to_owned());
            }
        }
        if let Some(g) = group {
            if g != "all" {
                return Err(bad_item(kind, "group", g));
            }
            if adding {
                c.add_public = true;
            } else {
                c.remove_public = true;
            }
        }
        Ok(())
    };
    if let Some(m) = mods {
        for (adding, items) in [(true, &m.add), (false, &m.remove)] {
            for it in items {
                if it.organization_arn.is_some() || it.organizational_unit_arn.is_some() {
                    return Err(no_organizations());
                }
                if it.user_id.is_none() && it.group.is_none() {
                    bail!(
                        Code::MISSING_PARAMETER,
                        "A permission must name a UserId or a Group."
                    );
                }
                put(adding, it.user_id.as_deref(), it.group.as_deref())?;
            }
        }
    }
    if !user_ids.is_empty() || !groups.is_empty() {
        let adding = match operation_type {
            Some("add") => true,
            Some("remove") => false,
            Some(other) => bail!(
                Code::INVALID_PARAMETER_VALUE,
                "Value ({other}) for parameter operationType is invalid. Expected 'add' or \
                 'remove'."
            ),
            None => bail!(
                Code::MISSING_PARAMETER,
                "The request must contain the parameter operationType"
            ),
        };
        for u in user_ids {
            put(adding, Some(u), None)?;
        }
        for g in groups {
            put(adding, None, Some(g))?;
        }
    } else if let Some(op) = operation_type {
        if op != "add" && op != "remove" {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "Value ({op}) for parameter operationType is invalid. Expected 'add' or 'remove'."
            );
        }
    }
    Ok(c)
}

fn no_organizations() -> Error {
    Error::new(
        Code::UNSUPPORTED_OPERATION,
        "Sharing with organizations and organizational units is not supported: the accounts \
         of a home belong to no organization. Share with UserIds instead.",
    )
}

fn unknown_attribute(name: &str) -> Error {
    Error::new(
        Code::INVALID_PARAMETER_VALUE,
        format!("Value ({name}) for parameter attribute is invalid. Unknown attribute."),
    )
}

/// `AuthFailure` for a resource the caller sees (shared with it) but does not own.
fn not_owner(what: &str, id: &str) -> Error {
    Error::new(
        Code::AUTH_FAILURE,
        format!("Not authorized for {what}:{id}"),
    )
}

/// The error, if any, of sharing resources encrypted under `keys` (key managers, one per
/// encrypted snapshot) as `change` asks. Pure (SEMANTICS.md §16.1 rules 3–4, §16.2 rules 1–2).
fn encryption_rule(kind: Kind, keys: &[KeyManager], change: &Change) -> Result<()> {
    let aws_managed = keys.contains(&KeyManager::Aws);
    let shares = !change.add.is_empty() || change.add_public;
    match kind {
        Kind::Image => {
            if change.add_public && !keys.is_empty() {
                bail!(
                    Code::UNSUPPORTED_OPERATION,
                    "Encrypted snapshots can't be shared publicly. Specify another snapshot."
                );
            }
            if shares && aws_managed {
                bail!(
                    Code::INVALID_PARAMETER,
                    "Snapshots encrypted with the AWS Managed CMK can't be shared. Specify \
                     another snapshot."
                );
            }
        }
        Kind::Snapshot => {
            if shares && aws_managed {
                bail!(
                    Code::OPERATION_NOT_PERMITTED,
                    "Encrypted snapshots with EBS default key cannot be shared"
                );
            }
            if change.add_public && !keys.is_empty() {
                bail!(
                    Code::UNSUPPORTED_OPERATION,
                    "Encrypted snapshots can't be shared publicly. Specify another snapshot."
                );
            }
        }
    }
    Ok(())
}

impl Core<'_> {
    /// The image `id` of the caller's region that the caller owns.
    pub(crate) fn owned_image(&self, tx: &Tx<'_>, id: &str) -> Result<ImageRec> {
        let img = self.image(tx, self.region(), id)?;
        if img.owner_id != self.account() {
            return Err(not_owner("image", &img.id));
        }
        Ok(img)
    }

    /// The snapshot `id` of the caller's region that the caller owns.
    pub(crate) fn owned_snapshot(&self, tx: &Tx<'_>, id: &str) -> Result<SnapshotRec> {
        let s = self.snapshot(tx, self.region(), id)?;
        if s.owner_id != self.account() {
            return Err(not_owner("snapshot", &s.id));
        }
        Ok(s)
    }

    /// The key managers of the encrypted snapshots `snaps` (their owner's keys).
    fn key_managers<'s>(
        &self,
        tx: &Tx<'_>,
        snaps: impl IntoIterator<Item = &'s SnapshotRec>,
    ) -> Result<Vec<KeyManager>> {
        let mut out = Vec::new();
        for e in snaps.into_iter().filter_map(|s| s.encryption.data_key()) {
            let manager = match self.kms.resolve(tx, &self.caller, e.key_arn()) {
                Ok(k) => k.key_manager,
                // A customer key deleted since: AWS managed keys are never deleted.
                Err(err) if err.code() == Code::NOT_FOUND_EXCEPTION => KeyManager::Customer,
                Err(err) => return Err(err),
            };
            out.push(manager);
        }
        Ok(out)
    }

    pub(super) fn modify_image_attribute(&mut self, r: ModifyImageAttribute) -> Result<out::Empty> {
        if r.organization_arns.as_ref().is_some_and(|v| !v.is_empty())
            || r.organizational_unit_arns
                .as_ref()
                .is_some_and(|v| !v.is_empty())
        {
            return Err(no_organizations());
        }
        let description = match (&r.description, r.attribute.as_deref(), &r.value) {
            (Some(d), _, _) => d.value.clone(),
            (None, Some("description"), v) => v.clone(),
            _ => None,
        };
        let attribute = match r.attribute.as_deref() {
            None if r.launch_permission.is_some() => "launchPermission",
            None if r.description.is_some() => "description",
            None if r.user_ids.is_some() || r.user_groups.is_some() => "launchPermission",
            None => bail!(
                Code::MISSING_PARAMETER,
                "The request must contain the parameter attribute"
            ),
            Some(a) => a,
        };
        let change = match attribute {
            "launchPermission" => permission_change(
                Kind::Image,
                r.launch_permission.as_ref(),
                r.operation_type.as_deref(),
                r.user_ids.as_deref().unwrap_or_default(),
                r.user_groups.as_deref().unwrap_or_default(),
            )?,
            "description" => {
                if description.is_none() {
                    bail!(
                        Code::MISSING_PARAMETER,
                        "The request must contain the parameter description"
                    );
                }
                Change::default()
            }
            a if IMAGE_ATTRIBUTES.contains(&a) => bail!(
                Code::UNSUPPORTED_OPERATION,
                "The attribute {a} cannot be modified here: only launchPermission and \
                 description are."
            ),
            a => return Err(unknown_attribute(a)),
        };
        if attribute == "launchPermission" && change.is_empty() {
            bail!(
                Code::MISSING_PARAMETER,
                "The request must contain the parameter LaunchPermission, or OperationType with \
                 UserIds or UserGroups"
            );
        }
        self.cat.write(|tx| {
            let mut img = self.owned_image(tx, &r.image_id)?;
            if attribute == "description" {
                img.description = description.clone();
                return tx.put(&img);
            }
            let mut snaps = Vec::new();
            for sid in img.mappings.iter().filter_map(|m| m.snapshot_id.as_deref()) {
                if let Some(s) = tx.get::<SnapshotRec>(sid)? {
                    snaps.push(s);
                }
            }
            let keys = self.key_managers(tx, &snaps)?;
            encryption_rule(Kind::Image, &keys, &change)?;
            img.permissions.apply(&change);
            tx.put(&img)
        })?;
        Ok(out::Empty {})
    }

    pub(super) fn describe_image_attribute(
        &mut self,
        r: ImageAttributeRequest,
    ) -> Result<out::ImageAttribute> {
        if !IMAGE_ATTRIBUTES.contains(&r.attribute.as_str()) {
            return Err(unknown_attribute(&r.attribute));
        }
        let img = self.cat.read(|tx| self.owned_image(tx, &r.image_id))?;
        let mut a = out::ImageAttribute {
            image_id: img.id.clone(),
            launch_permissions: None,
            description: None,
            block_device_mappings: None,
            product_codes: None,
        };
        match r.attribute.as_str() {
            "launchPermission" => a.launch_permissions = Some(img.permissions.view()),
            "description" => {
                a.description = Some(out::AttributeValue {
                    value: img.description.clone(),
                })
            }
            "blockDeviceMapping" => {
                a.block_device_mappings = Some(img.view().block_device_mappings)
            }
            // An image here has no product code (no AWS Marketplace or DevPay): AWS answers
            // such an image with an empty list (the AWS CLI's describe-image-attribute page).
            "productCodes" => a.product_codes = Some(Vec::new()),
            // The other attributes have no value on these images (no kernel, ramdisk, …): AWS
            // answers with the image id alone.
            _ => {}
        }
        Ok(a)
    }

    pub(super) fn reset_image_attribute(&mut self, r: ImageAttributeRequest) -> Result<out::Empty> {
        if r.attribute != "launchPermission" {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "Value ({}) for parameter attribute is invalid. Only launchPermission can be \
                 reset.",
                r.attribute
            );
        }
        self.cat.write(|tx| {
            let mut img = self.owned_image(tx, &r.image_id)?;
            img.permissions = Permissions::default();
            tx.put(&img)
        })?;
        Ok(out::Empty {})
    }

    pub(super) fn modify_snapshot_attribute(
        &mut self,
        r: ModifySnapshotAttribute,
    ) -> Result<out::Empty> {
        match r.attribute.as_deref() {
            None | Some("createVolumePermission") => {}
            Some("productCodes") => bail!(
                Code::UNSUPPORTED_OPERATION,
                "The attribute productCodes cannot be modified here: only \
                 createVolumePermission is."
            ),
            Some(a) => return Err(unknown_attribute(a)),
        }
        let change = permission_change(
            Kind::Snapshot,
            r.create_volume_permission.as_ref(),
            r.operation_type.as_deref(),
            r.user_ids.as_deref().unwrap_or_default(),
            r.group_names.as_deref().unwrap_or_default(),
        )?;
        if change.is_empty() {
            bail!(
                Code::MISSING_PARAMETER,
                "The request must contain the parameter CreateVolumePermission, or \
                 OperationType with UserIds or GroupNames"
            );
        }
        self.cat.write(|tx| {
            let mut s = self.owned_snapshot(tx, &r.snapshot_id)?;
            let keys = self.key_managers(tx, [&s])?;
            encryption_rule(Kind::Snapshot, &keys, &change)?;
            s.permissions.apply(&change);
            tx.put(&s)
        })?;
        Ok(out::Empty {})
    }

    pub(super) fn describe_snapshot_attribute(
        &mut self,
        r: SnapshotAttributeRequest,
    ) -> Result<out::DescribeSnapshotAttributeResult> {
        let s = self
            .cat
            .read(|tx| self.owned_snapshot(tx, &r.snapshot_id))?;
        Ok(match r.attribute.as_str() {
            "createVolumePermission" => out::DescribeSnapshotAttributeResult {
                snapshot_id: s.id,
                create_volume_permissions: Some(s.permissions.view()),
                product_codes: None,
            },
            "productCodes" => out::DescribeSnapshotAttributeResult {
                snapshot_id: s.id,
                create_volume_permissions: None,
                product_codes: Some(Vec::new()),
            },
            a => return Err(unknown_attribute(a)),
        })
    }

    pub(super) fn reset_snapshot_attribute(
        &mut self,
        r: SnapshotAttributeRequest,
    ) -> Result<out::Empty> {
        match r.attribute.as_str() {
            "createVolumePermission" | "productCodes" => {}
            a => return Err(unknown_attribute(a)),
        }
        self.cat.write(|tx| {
            let mut s = self.owned_snapshot(tx, &r.snapshot_id)?;
            if r.attribute == "createVolumePermission" {
                s.permissions = Permissions::default();
                tx.put(&s)?;
            }
            Ok(())
        })?;
        Ok(out::Empty {})
    }
}

/// Whether DescribeImages/DescribeSnapshots show a resource owned by `owner` with `perms` to
/// `caller`, given `Owners`/`OwnerIds` and `ExecutableUsers`/`RestorableByUserIds`. Without
/// either, AWS shows what the caller owns, what is shared with it and what is public; `self`
/// means the caller, `amazon` matches nothing here (no AMI is Amazon's). Pure.
pub(crate) fn shown(
    owner: &str,
    perms: &Permissions,
    caller: &str,
    owners: Option<&[String]>,
    users: Option<&[String]>,
) -> bool {
    let visible = owner == caller || perms.allows(caller);
    if !visible {
        return false;
    }
    if let Some(o) = owners.filter(|o| !o.is_empty()) {
        let ok = o.iter().any(|w| match w.as_str() {
            "self" => owner == caller,
            other => other == owner,
        });
        if !ok {
            return false;
        }
    }
    if let Some(u) = users.filter(|u| !u.is_empty()) {
        let ok = u.iter().any(|w| {
            let who = if w == "self" { caller } else { w.as_str() };
            // The owner may always launch its own images.
            (who == owner) || perms.names(who)
        });
        if !ok {
            return false;
        }
    }
    true
}

/// `InvalidParameterValue` for an `Owners`/`ExecutableUsers` entry that is neither an account
/// id nor one of the words AWS accepts.
pub(crate) fn check_principals(list: Option<&[String]>, param: &str, words: &[&str]) -> Result<()> {
    for w in list.unwrap_or_default() {
        if !valid_account_id(w) && !words.contains(&w.as_str()) {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "Value ({w}) for parameter {param} is invalid. Expected an account id or one \
                 of: {}.",
                words.join(", ")
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn both_request_forms_give_one_change() {
        let mods = PermissionModifications {
            add: vec![PermissionItem {
                user_id: Some("111122223333".into()),
                ..Default::default()
            }],
            remove: vec![PermissionItem {
                group: Some("all".into()),
                ..Default::default()
            }],
        };
        let a = permission_change(Kind::Image, Some(&mods), None, &[], &[]).unwrap();
        let b = permission_change(Kind::Image, None, Some("add"), &ids(&["111122223333"]), &[])
            .unwrap();
        assert_eq!(a.add, b.add);
        assert!(a.remove_public && !b.remove_public);
        let e = permission_change(Kind::Image, None, Some("add"), &ids(&["1234"]), &[]);
        assert_eq!(
            e.unwrap_err().code(),
            Code::INVALID_AMI_ATTRIBUTE_ITEM_VALUE
        );
        let e = permission_change(Kind::Snapshot, None, Some("add"), &[], &ids(&["everyone"]));
        assert_eq!(e.unwrap_err().code(), Code::INVALID_PARAMETER_VALUE);
        let e = permission_change(Kind::Image, None, None, &ids(&["111122223333"]), &[]);
        assert_eq!(e.unwrap_err().code(), Code::MISSING_PARAMETER);
        let e = permission_change(
            Kind::Image,
            None,
            Some("share"),
            &ids(&["111122223333"]),
            &[],
        );
        assert_eq!(e.unwrap_err().code(), Code::INVALID_PARAMETER_VALUE);
    }

    #[test]
    fn permissions_apply_and_allow() {
        let mut p = Permissions::default();
        p.apply(&Change {
            add: ids(&["111122223333", "444455556666"]),
            ..Default::default()
        });
        assert!(p.allows("111122223333") && !p.allows("777788889999"));
        p.apply(&Change {
            remove: ids(&["111122223333"]),
            add_public: true,
            ..Default::default()
        });
        assert!(p.allows("777788889999") && p.accounts == ids(&["444455556666"]));
        assert_eq!(p.view().len(), 2);
    }

    #[test]
    fn the_encryption_rules_of_sharing() {
        use KeyManager::{Aws, Customer};
        let to_b = Change {
            add: ids(&["111122223333"]),
            ..Default::default()
        };
        let public = Change {
            add_public: true,
            ..Default::default()
        };
        let unshare = Change {
            remove: ids(&["111122223333"]),
            ..Default::default()
        };
        let code = |k, keys: &[KeyManager], c| encryption_rule(k, keys, c).unwrap_err().code();
        assert_eq!(code(Kind::Image, &[Aws], &to_b), Code::INVALID_PARAMETER);
        assert_eq!(
            code(Kind::Image, &[Customer], &public),
            Code::UNSUPPORTED_OPERATION
        );
        assert_eq!(
            code(Kind::Snapshot, &[Aws], &to_b),
            Code::OPERATION_NOT_PERMITTED
        );
        assert_eq!(
            code(Kind::Snapshot, &[Customer], &public),
            Code::UNSUPPORTED_OPERATION
        );
        encryption_rule(Kind::Image, &[Customer], &to_b).unwrap();
        encryption_rule(Kind::Image, &[], &public).unwrap();
        // Taking a share back is always allowed.
        encryption_rule(Kind::Snapshot, &[Aws], &unshare).unwrap();
    }

    #[test]
    fn describes_show_own_shared_and_public() {
        let (a, b, c) = ("111111111111", "222222222222", "333333333333");
        let mut p = Permissions::default();
        assert!(shown(a, &p, a, None, None));
        assert!(!shown(a, &p, b, None, None));
        p.accounts.push(b.into());
        assert!(shown(a, &p, b, None, None));
        assert!(!shown(a, &p, b, Some(&ids(&["self"])), None));
        assert!(shown(a, &p, b, Some(&ids(&[a])), None));
        assert!(shown(a, &p, b, None, Some(&ids(&["self"]))));
        assert!(!shown(a, &p, b, None, Some(&ids(&["all"]))));
        assert!(!shown(a, &p, c, None, None));
        p.public = true;
        assert!(shown(a, &p, c, None, Some(&ids(&["all"]))));
        assert!(!shown(a, &p, c, Some(&ids(&["amazon"])), None));
    }
}
