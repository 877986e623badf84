//! The EC2 operations over the catalog, the KMS and the blob files.
//!
//! Every operation follows one shape so that a crash at any moment leaves all of it or none:
//! checks in a read transaction; KMS work (resolving keys, making or re-wrapping data keys) in a
//! short write transaction; the data work on temporary files outside any transaction; then one
//! write transaction that re-checks what another process could have changed, renames the
//! temporary files into place and commits the rows. KMS failures that AWS reports
//! asynchronously (SEMANTICS.md §17) become failed states on the new resources.

pub(crate) mod account;
pub(crate) mod direct;
mod images;
pub(crate) mod imports;
mod instance_types;
mod instances;
pub(crate) mod model;
mod network;
pub(crate) mod preview;
pub(crate) mod requests;
pub mod responses;
pub(crate) mod rules;
mod settings;
pub(crate) mod sharing;
mod snapshots;
pub(crate) mod tags;
pub(crate) use instances::KMS_REASON;
pub(crate) use snapshots::KEY_NOT_ACCESSIBLE;
mod volume_types;
mod volumes;

use crate::blob::{BlobHeader, BlobStore, TempBlob};
use crate::catalog::{Catalog, Tx};
use crate::error::{bail, Code, Error, Result};
use crate::ids::{ImageId, InstanceId, SnapshotId, VolumeId};
use crate::kms::{Caller, KeyRecord, Kms};
use crate::progress::Progress;
use crate::request::{Request, Response};
use crate::secret::random_u128;
use crate::xts::{Xts, XtsCipher};
use model::{Encryption, ImageRec, ImageState, InstanceRec, SnapshotRec, SnapshotState, VolumeRec};
use responses as out;
use rules::KeyChoice;
use std::path::Path;

/// 1 GiB: volume sizes are whole GiB.
pub(crate) const GIB: u64 = 1 << 30;

/// The default XTS variant of new data keys.
pub(crate) const DEFAULT_CIPHER: XtsCipher = XtsCipher::Aes256Xts;

/// The state one call works in: the shared home (catalog, KMS, files) and the caller.
pub(crate) struct Core<'e> {
    pub home: &'e Path,
    pub caller: Caller,
    pub cat: &'e Catalog,
    pub kms: &'e Kms,
    pub store: &'e BlobStore,
    /// Whether data-moving calls run their data work before returning (see `jobs`).
    pub wait: bool,
    /// Jobs this call admitted, handed to the workers when it returns.
    pub queued: std::sync::Mutex<Vec<crate::jobs::Queued>>,
}

/// Whether a KMS error is one AWS reports asynchronously on EC2 resources (a key that is
/// missing, disabled, pending deletion, not permitted or refusing the data key).
pub(crate) fn is_key_problem(e: &Error) -> bool {
    [
        Code::NOT_FOUND_EXCEPTION,
        Code::DISABLED_EXCEPTION,
        Code::KMS_INVALID_STATE_EXCEPTION,
        Code::ACCESS_DENIED_EXCEPTION,
        Code::INVALID_CIPHERTEXT_EXCEPTION,
        Code::INCORRECT_KEY_EXCEPTION,
    ]
    .contains(&e.code())
}

/// How the bytes of a new volume or snapshot come to be.
pub(crate) enum DataPlan {
    /// An empty volume: all holes.
    Empty,
    /// Same data key: the ciphertext (or plaintext) is copied as is.
    Clone { source: String },
    /// New data key: decrypt with `from` (none for a plaintext source), encrypt with `to`.
    Rekey {
        source: String,
        from: Option<Xts>,
        to: Xts,
    },
}

/// A new volume's or snapshot's encryption and how to fill it.
pub(crate) struct Planned {
    pub encryption: Option<Encryption>,
    pub plan: DataPlan,
}

impl Core<'_> {
    pub(crate) fn region(&self) -> &str {
        &self.caller.region
    }

    pub(crate) fn account(&self) -> &str {
        &self.caller.account
    }

    // ----- lookups -----

    /// The image `id` of `region` if the caller may see it: its own, or one shared with it or
    /// public (`sharing`); others' images do not exist for it.
    pub(crate) fn image(&self, tx: &Tx<'_>, region: &str, id: &str) -> Result<ImageRec> {
        let id: ImageId = id.parse()?;
        match tx.get::<ImageRec>(id.as_str())? {
            Some(i)
                if i.region == region
                    && i.state != ImageState::Deregistered
                    && (i.owner_id == self.account() || i.permissions.allows(self.account())) =>
            {
                Ok(i)
            }
            _ => bail!(
                Code::INVALID_AMI_ID_NOT_FOUND,
                "The image id '[{id}]' does not exist"
            ),
        }
    }

    /// The snapshot `id` of `region` if the caller may see it: its own, or one shared with it
    /// (create-volume permission) or public.
    pub(crate) fn snapshot(&self, tx: &Tx<'_>, region: &str, id: &str) -> Result<SnapshotRec> {
        let id: SnapshotId = id.parse()?;
        match tx.get::<SnapshotRec>(id.as_str())? {
            Some(s)
                if s.region == region
                    && (s.owner_id == self.account() || s.permissions.allows(self.account())) =>
            {
                Ok(s)
            }
            _ => bail!(
                Code::INVALID_SNAPSHOT_NOT_FOUND,
                "The snapshot '{id}' does not exist."
            ),
        }
    }

    pub(crate) fn volume(&self, tx: &Tx<'_>, id: &str) -> Result<VolumeRec> {
        let id: VolumeId = id.parse()?;
        match tx.get::<VolumeRec>(id.as_str())? {
            Some(v) if v.region == self.region() && v.owner_id == self.account() => Ok(v),
            _ => bail!(
                Code::INVALID_VOLUME_NOT_FOUND,
                "The volume '{id}' does not exist."
            ),
        }
    }

    pub(crate) fn instance(&self, tx: &Tx<'_>, id: &str) -> Result<InstanceRec> {
        let id: InstanceId = id.parse()?;
        match tx.get::<InstanceRec>(id.as_str())? {
            Some(i) if i.region == self.region() && i.owner_id == self.account() => Ok(i),
            _ => bail!(
                Code::INVALID_INSTANCE_ID_NOT_FOUND,
                "The instance ID '{id}' does not exist"
            ),
        }
    }

    /// The volumes attached to `instance_id`, root first, then by device.
    pub(crate) fn attached_volumes(
        &self,
        tx: &Tx<'_>,
        inst: &InstanceRec,
    ) -> Result<Vec<VolumeRec>> {
        let mut v: Vec<VolumeRec> = tx
            .list::<VolumeRec>(&inst.region)?
            .into_iter()
            .filter(|v| {
                v.attachment
                    .as_ref()
                    .is_some_and(|a| a.instance_id == inst.id)
            })
            .collect();
        v.sort_by_key(|v| {
            let d = &v
                .attachment
                .as_ref()
                .expect("filtered on attachment")
                .device;
            (
                rules::canonical_device(d) != rules::canonical_device(&inst.root_device_name),
                d.clone(),
            )
        });
        Ok(v)
    }

    /// Snapshot `id` of image `img`'s mapping, for launching it: whoever may launch the image
    /// may restore its snapshots, shared or not (SEMANTICS.md §16.1 rule 2).
    pub(crate) fn image_snapshot(
        &self,
        tx: &Tx<'_>,
        img: &ImageRec,
        id: &str,
    ) -> Result<SnapshotRec> {
        let s = match tx.get::<SnapshotRec>(id)? {
            Some(s) if s.region == img.region => s,
            _ => bail!(
                Code::INVALID_SNAPSHOT_NOT_FOUND,
                "The snapshot '{id}' does not exist."
            ),
        };
        if s.state != SnapshotState::Completed || !s.has_data {
            bail!(
                Code::INCORRECT_STATE,
                "Snapshot '{}' is not 'completed' (it is '{}').",
                s.id,
                s.state_str()
            );
        }
        Ok(s)
    }

    /// A completed snapshot usable as a data source.
    pub(crate) fn completed_snapshot(
        &self,
        tx: &Tx<'_>,
        region: &str,
        id: &str,
    ) -> Result<SnapshotRec> {
        let s = self.snapshot(tx, region, id)?;
        if s.state != SnapshotState::Completed || !s.has_data {
            bail!(
                Code::INCORRECT_STATE,
                "Snapshot '{}' is not 'completed' (it is '{}').",
                s.id,
                s.state_str()
            );
        }
        Ok(s)
    }

    // ----- keys -----

    /// Encryption by default in the current region.
    pub(crate) fn ebd(&self, tx: &Tx<'_>) -> Result<bool> {
        Ok(tx
            .setting(&model::ebd_setting(self.account(), self.region()))?
            .as_deref()
            == Some("true"))
    }

    /// The region's default EBS key (ModifyEbsDefaultKmsKeyId, else `aws/ebs`).
    pub(crate) fn default_key(&self, tx: &Tx<'_>) -> Result<KeyRecord> {
        match tx.setting(&model::default_key_setting(self.account(), self.region()))? {
            Some(k) => self.kms.resolve(tx, &self.caller, &k),
            None => self.kms.aws_ebs_key(tx, &self.caller),
        }
    }

    /// The key a `KeyChoice` names, or `None` for unencrypted / same as source.
    pub(crate) fn target_key(&self, tx: &Tx<'_>, choice: &KeyChoice) -> Result<Option<KeyRecord>> {
        Ok(match choice {
            KeyChoice::Unencrypted | KeyChoice::SameAsSource => None,
            KeyChoice::Named(k) => Some(self.kms.resolve(tx, &self.caller, k)?),
            KeyChoice::Default => Some(self.default_key(tx)?),
        })
    }

    /// The ARN of the key a new resource under `choice` is to be encrypted with, for a copy whose
    /// data key could not be made: AWS still shows such a failed copy as encrypted under that
    /// key. A key that cannot be resolved is shown as the request named it (its ARN when a key
    /// id was given). `None` for an unencrypted choice.
    pub(crate) fn requested_key_arn(
        &self,
        choice: &KeyChoice,
        source: Option<&Encryption>,
    ) -> Option<String> {
        let resolved = |tx: &Tx<'_>| -> Result<Option<String>> {
            Ok(self.target_key(tx, choice)?.map(|k| k.arn))
        };
        match choice {
            KeyChoice::Unencrypted => None,
            KeyChoice::SameAsSource => source.map(|e| e.key_arn().to_owned()),
            KeyChoice::Named(k) => Some(
                self.cat
                    .read_mostly(resolved)
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| match k.parse::<crate::ids::KeyId>() {
                        Ok(id) => crate::kms::key_arn(self.region(), self.account(), id.as_str()),
                        Err(_) => k.clone(),
                    }),
            ),
            KeyChoice::Default => self.cat.read_mostly(resolved).ok().flatten(),
        }
    }

    /// Plans a new resource `new_context` from `source` (a snapshot or volume with encryption
    /// `src_enc`, or nothing for an empty volume) under `choice`. Makes or re-wraps the data key;
    /// a KMS error comes back as is for the caller to turn into a failed state.
    pub(crate) fn plan(
        &self,
        tx: &Tx<'_>,
        source: Option<(&str, Option<&Encryption>)>,
        choice: &KeyChoice,
        new_context: &str,
    ) -> Result<Planned> {
        let target = self.target_key(tx, choice)?;
        let src_enc = source.and_then(|(_, e)| e);
        let same_key = match (&target, src_enc) {
            (None, _) => true,
            (Some(k), Some(e)) => k.arn == e.key_arn(),
            (Some(_), None) => false,
        };
        if same_key {
            let encryption = match src_enc {
                Some(e) => Some(Encryption {
                    wrapped: self.kms.rewrap_data_key(
                        tx,
                        &self.caller,
                        &e.wrapped,
                        &e.context_id,
                        new_context,
                    )?,
                    context_id: new_context.to_owned(),
                }),
                None => None,
            };
            let plan = match source {
                Some((id, _)) => DataPlan::Clone {
                    source: id.to_owned(),
                },
                None => DataPlan::Empty,
            };
            return Ok(Planned { encryption, plan });
        }
        let key = target.expect("a different key is a key");
        let cipher = src_enc.map(Encryption::cipher).unwrap_or(DEFAULT_CIPHER);
        let from = self.xts_of(tx, src_enc)?;
        let (wrapped, dk) =
            self.kms
                .generate_data_key(tx, &self.caller, &key, new_context, cipher)?;
        let to = Xts::new(&dk);
        let encryption = Some(Encryption {
            wrapped,
            context_id: new_context.to_owned(),
        });
        let plan = match source {
            Some((id, _)) => DataPlan::Rekey {
                source: id.to_owned(),
                from,
                to,
            },
            None => DataPlan::Empty,
        };
        Ok(Planned { encryption, plan })
    }

    /// The XTS transform of a resource's data key (KMS `Decrypt`); `None` when unencrypted.
    pub(crate) fn xts_of(&self, tx: &Tx<'_>, enc: Option<&Encryption>) -> Result<Option<Xts>> {
        enc.map(|e| {
            let dk = self
                .kms
                .unwrap_data_key(tx, &self.caller, &e.wrapped, &e.context_id)?;
            Ok(Xts::new(&dk))
        })
        .transpose()
    }

    /// The data key of `vol` as the hypervisor gets it at attach (SEMANTICS.md §6 rule 4): EC2
    /// creates a grant and decrypts the wrapped key. With `grant_to` (an attach, in a write
    /// transaction) the grant is stored for that instance as AWS shows it; a mount checks the
    /// same permission without storing one. A key that cannot be used is
    /// `CustomerKeyHasBeenRevoked`; `verb` says what was refused ("attached", "mounted").
    pub(crate) fn attach_key(
        &self,
        tx: &Tx<'_>,
        vol: &VolumeRec,
        verb: &str,
        grant_to: Option<&InstanceRec>,
    ) -> Result<Option<Xts>> {
        let Some(e) = &vol.encryption else {
            return Ok(None);
        };
        let dk = self
            .kms
            .resolve(tx, &self.caller, e.key_arn())
            .and_then(|k| {
                match grant_to {
                    Some(inst) => self.kms.grant_for_attachment(
                        tx,
                        &self.caller,
                        &k,
                        &inst.owner_id,
                        &vol.id,
                        &inst.id,
                    )?,
                    None => self.kms.authorize(&k, &self.caller, "CreateGrant")?,
                }
                self.kms
                    .unwrap_data_key(tx, &self.caller, &e.wrapped, &e.context_id)
            });
        match dk {
            Ok(dk) => Ok(Some(Xts::new(&dk))),
            Err(err) if is_key_problem(&err) => Err(Error::new(
                Code::CUSTOMER_KEY_HAS_BEEN_REVOKED,
                format!(
                    "Volume {} cannot be {verb}. The encrypted volume was unable to access the KMS master key.",
                    vol.id
                ),
            )
            .with_source(err)),
            Err(err) => Err(err),
        }
    }

    // ----- data -----

    /// The header of a new blob.
    pub(crate) fn header(
        owner: &str,
        size: u64,
        sector_size: u32,
        enc: Option<&Encryption>,
    ) -> BlobHeader {
        BlobHeader {
            size,
            sector_size,
            cipher: enc.map(Encryption::cipher),
            owner: owner.to_owned(),
            context_id: enc.map(|e| e.context_id.clone()).unwrap_or_default(),
            key_arn: enc.map(|e| e.key_arn().to_owned()).unwrap_or_default(),
            dek_id: enc.map(|e| e.wrapped.dek_id.clone()).unwrap_or_default(),
            wrapped_key: enc.map(|e| e.wrapped.blob.clone()).unwrap_or_default(),
            // Filled from the row when the file is committed (`TempBlob::set_record`).
            record: None,
        }
    }

    /// Opens the blob of a catalog resource and checks that its header is the one the catalog
    /// recorded, so a damaged file is refused before its bytes are used.
    pub(crate) fn open_blob(
        &self,
        id: &str,
        size: u64,
        enc: Option<&Encryption>,
    ) -> Result<crate::blob::Blob> {
        let blob = self.store.open(id)?;
        let h = blob.header();
        let expected_enc_ok = match enc {
            None => h.cipher.is_none(),
            Some(e) => {
                h.cipher == Some(e.cipher())
                    && h.key_arn == e.key_arn()
                    && h.dek_id == e.wrapped.dek_id
                    && h.wrapped_key == e.wrapped.blob
                    && h.context_id == e.context_id
            }
        };
        if h.size != size || !expected_enc_ok {
            bail!(
                Code::CORRUPT_FILE,
                "the data file of {id} ({}) does not match the catalog: its header was changed",
                self.store.path_of(id).display()
            );
        }
        Ok(blob)
    }

    /// Makes the bytes of a new resource `new_id` of `size` bytes by `plan`, in a temporary file.
    pub(crate) fn produce(
        &self,
        new_id: &str,
        size: u64,
        sector_size: u32,
        planned: &Planned,
        source_meta: Option<(u64, Option<&Encryption>)>,
        progress: &dyn Progress,
    ) -> Result<TempBlob> {
        let header = Self::header(new_id, size, sector_size, planned.encryption.as_ref());
        let dst = self.store.create_temp(new_id, &header)?;
        match &planned.plan {
            DataPlan::Empty => {}
            DataPlan::Clone { source } => {
                let (sz, enc) = source_meta.expect("a clone has a source");
                let src = self.open_blob(source, sz, enc)?;
                crate::rekey::clone_blob(&src, &dst, progress)?;
            }
            DataPlan::Rekey { source, from, to } => {
                let (sz, enc) = source_meta.expect("a re-key has a source");
                let src = self.open_blob(source, sz, enc)?;
                crate::rekey::rekey_blob(&src, from.as_ref(), &dst, to, progress)?;
            }
        }
        Ok(dst)
    }

    /// New ids.
    pub(crate) fn new_snapshot_id() -> SnapshotId {
        SnapshotId::generate(random_u128())
    }
    pub(crate) fn new_volume_id() -> VolumeId {
        VolumeId::generate(random_u128())
    }
    pub(crate) fn new_image_id() -> ImageId {
        ImageId::generate(random_u128())
    }
    pub(crate) fn new_instance_id() -> InstanceId {
        InstanceId::generate(random_u128())
    }

    /// Runs EC2 operation `req`.
    pub(crate) fn call(&mut self, req: Request, p: &dyn Progress) -> Result<Response> {
        use Request as R;
        use Response as O;
        Ok(match req {
            R::ImportSnapshot(r) => O::ImportSnapshot(self.import_snapshot(r, p)?),
            R::DescribeImportSnapshotTasks(r) => {
                let d = crate::request::Describe {
                    ids: r.import_task_ids,
                    filters: r.filters,
                    owners: None,
                    users: None,
                    max_results: r.max_results,
                    next_token: r.next_token,
                };
                let (import_snapshot_tasks, next_token) = paged(
                    d,
                    "ImportTaskId",
                    |t: &out::ImportSnapshotTask| &t.import_task_id,
                    |r| self.describe_import_snapshot_tasks(r),
                )?;
                O::DescribeImportSnapshotTasks(out::DescribeImportSnapshotTasksResult {
                    import_snapshot_tasks,
                    next_token,
                })
            }
            R::ExportSnapshot(r) => O::ExportSnapshot(self.export_snapshot(r, p)?),
            R::DescribeSnapshots(r) => {
                let (snapshots, next_token) = paged(
                    r,
                    "SnapshotId",
                    |s: &out::Snapshot| &s.snapshot_id,
                    |r| self.describe_snapshots(r),
                )?;
                O::DescribeSnapshots(out::DescribeSnapshotsResult {
                    snapshots,
                    next_token,
                })
            }
            R::CopySnapshot(r) => O::CopySnapshot(self.copy_snapshot(r, p)?),
            R::CreateSnapshot(r) => O::CreateSnapshot(self.create_snapshot(r, p)?),
            R::DeleteSnapshot(r) => O::DeleteSnapshot(self.delete_snapshot(r)?),
            R::DescribeImages(r) => {
                let (images, next_token) = paged(
                    r,
                    "ImageId",
                    |i: &out::Image| &i.image_id,
                    |r| self.describe_images(r),
                )?;
                O::DescribeImages(out::DescribeImagesResult { images, next_token })
            }
            R::RegisterImage(r) => O::RegisterImage(self.register_image(r)?),
            R::CopyImage(r) => O::CopyImage(self.copy_image(r, p)?),
            R::CreateImage(r) => O::CreateImage(self.create_image(r, p)?),
            R::DeregisterImage(r) => O::DeregisterImage(self.deregister_image(r)?),
            R::DescribeVolumes(r) => {
                let (volumes, next_token) = paged(
                    r,
                    "VolumeId",
                    |v: &out::Volume| &v.volume_id,
                    |r| self.describe_volumes(r),
                )?;
                O::DescribeVolumes(out::DescribeVolumesResult {
                    volumes,
                    next_token,
                })
            }
            R::CreateVolume(r) => O::CreateVolume(self.create_volume(r, p)?),
            R::DeleteVolume(r) => O::DeleteVolume(self.delete_volume(r)?),
            R::AttachVolume(r) => O::AttachVolume(self.attach_volume(r)?),
            R::DetachVolume(r) => O::DetachVolume(self.detach_volume(r)?),
            R::DescribeInstances(r) => {
                let (reservations, next_token) = paged(
                    r,
                    "ReservationId",
                    |r: &out::Reservation| &r.reservation_id,
                    |r| self.describe_instances(r),
                )?;
                O::DescribeInstances(out::DescribeInstancesResult {
                    reservations,
                    next_token,
                })
            }
            R::RunInstances(r) => O::RunInstances(self.run_instances(r, p)?),
            R::StartInstances(r) => O::StartInstances(self.start_instances(r)?),
            R::StopInstances(r) => O::StopInstances(self.stop_instances(r)?),
            R::TerminateInstances(r) => O::TerminateInstances(self.terminate_instances(r)?),
            R::EnableEbsEncryptionByDefault(r) => {
                O::EnableEbsEncryptionByDefault(self.set_ebd(r, true)?)
            }
            R::DisableEbsEncryptionByDefault(r) => {
                O::DisableEbsEncryptionByDefault(self.set_ebd(r, false)?)
            }
            R::GetEbsEncryptionByDefault(r) => O::GetEbsEncryptionByDefault(self.get_ebd(r)?),
            R::GetEbsDefaultKmsKeyId(r) => O::GetEbsDefaultKmsKeyId(self.get_default_key(r)?),
            R::ModifyEbsDefaultKmsKeyId(r) => {
                O::ModifyEbsDefaultKmsKeyId(self.modify_default_key(r)?)
            }
            R::ResetEbsDefaultKmsKeyId(r) => O::ResetEbsDefaultKmsKeyId(self.reset_default_key(r)?),
            R::DescribeRegions(r) => O::DescribeRegions(self.describe_regions(r)?),
            R::DescribeAvailabilityZones(r) => {
                O::DescribeAvailabilityZones(self.describe_availability_zones(r)?)
            }
            R::DescribeAccountAttributes(r) => {
                O::DescribeAccountAttributes(self.describe_account_attributes(r)?)
            }
            R::CreateTags(r) => O::CreateTags(self.create_tags(r)?),
            R::DeleteTags(r) => O::DeleteTags(self.delete_tags(r)?),
            R::DescribeTags(r) => O::DescribeTags(self.describe_tags(r)?),
            R::CreateAccessKey(r) => O::CreateAccessKey(self.create_access_key(r)?),
            R::ListAccessKeys(r) => O::ListAccessKeys(self.list_access_keys(r)?),
            R::UpdateAccessKey(r) => O::UpdateAccessKey(self.change_access_key(r, false)?),
            R::DeleteAccessKey(r) => O::DeleteAccessKey(self.change_access_key(r, true)?),
            R::ModifyImageAttribute(r) => O::ModifyImageAttribute(self.modify_image_attribute(r)?),
            R::DescribeImageAttribute(r) => {
                O::DescribeImageAttribute(self.describe_image_attribute(r)?)
            }
            R::ResetImageAttribute(r) => O::ResetImageAttribute(self.reset_image_attribute(r)?),
            R::ModifySnapshotAttribute(r) => {
                O::ModifySnapshotAttribute(self.modify_snapshot_attribute(r)?)
            }
            R::DescribeSnapshotAttribute(r) => {
                O::DescribeSnapshotAttribute(self.describe_snapshot_attribute(r)?)
            }
            R::ResetSnapshotAttribute(r) => {
                O::ResetSnapshotAttribute(self.reset_snapshot_attribute(r)?)
            }
            R::CreateUser(r) => O::CreateUser(self.create_user(r)?),
            R::GetUser(r) => O::GetUser(self.get_user(r)?),
            R::ListUsers(r) => O::ListUsers(self.list_users(r)?),
            R::DeleteUser(r) => O::DeleteUser(self.delete_user(r)?),
            R::PutUserPolicy(r) => O::PutUserPolicy(self.put_user_policy(r)?),
            R::GetUserPolicy(r) => O::GetUserPolicy(self.get_user_policy(r)?),
            R::ListUserPolicies(r) => O::ListUserPolicies(self.list_user_policies(r)?),
            R::DeleteUserPolicy(r) => O::DeleteUserPolicy(self.delete_user_policy(r)?),
            R::GetCallerIdentity(_) => O::GetCallerIdentity(self.get_caller_identity()),
            R::Kms(k) => bail!(
                Code::INVALID_ACTION,
                "{} is a KMS operation",
                k.action().name()
            ),
            R::DryRun(r) => {
                self.dry_run_check(&r)?;
                bail!(
                    Code::DRY_RUN_OPERATION,
                    "{}",
                    crate::request::DRY_RUN_MESSAGE
                )
            }
        })
    }

    /// What a `DryRun` request is checked for before it is answered `DryRunOperation`: its shape
    /// (already, by parsing) and that the resources it names exist in the caller's region, as
    /// AWS answers `InvalidVolume.NotFound` rather than `DryRunOperation` for a volume that is
    /// not there. Only reads: nothing is created, locked or changed. The caller's permission was
    /// decided before (`Engine::call`: `UnauthorizedOperation` when not allowed); KMS key checks
    /// stay with the real call, which AWS also makes asynchronously.
    fn dry_run_check(&self, req: &Request) -> Result<()> {
        use Request as R;
        let region = self.region().to_owned();
        let snapshots_of = |tx: &Tx<'_>, bdms: &[requests::BlockDeviceMapping]| -> Result<()> {
            for id in bdms
                .iter()
                .filter_map(|m| m.ebs.as_ref()?.snapshot_id.as_deref())
            {
                self.snapshot(tx, &region, id)?;
            }
            Ok(())
        };
        self.cat.read(|tx| {
            match req {
                R::CopySnapshot(r) => {
                    self.snapshot(tx, &r.source_region, &r.source_snapshot_id)?;
                }
                R::CreateSnapshot(r) => {
                    self.volume(tx, &r.volume_id)?;
                }
                R::DeleteSnapshot(r) => {
                    self.owned_snapshot(tx, &r.snapshot_id)?;
                }
                R::ModifyImageAttribute(r) => {
                    self.owned_image(tx, &r.image_id)?;
                }
                R::DescribeImageAttribute(r) | R::ResetImageAttribute(r) => {
                    self.owned_image(tx, &r.image_id)?;
                }
                R::ModifySnapshotAttribute(r) => {
                    self.owned_snapshot(tx, &r.snapshot_id)?;
                }
                R::DescribeSnapshotAttribute(r) | R::ResetSnapshotAttribute(r) => {
                    self.owned_snapshot(tx, &r.snapshot_id)?;
                }
                R::RegisterImage(r) => snapshots_of(tx, &r.block_device_mappings)?,
                R::CopyImage(r) => {
                    self.image(tx, &r.source_region, &r.source_image_id)?;
                }
                R::CreateImage(r) => {
                    self.instance(tx, &r.instance_id)?;
                }
                R::DeregisterImage(r) => {
                    self.owned_image(tx, &r.image_id)?;
                }
                R::CreateVolume(r) => {
                    if let Some(id) = &r.snapshot_id {
                        self.snapshot(tx, &region, id)?;
                    }
                }
                R::DeleteVolume(r) => {
                    self.volume(tx, &r.volume_id)?;
                }
                R::AttachVolume(r) => {
                    self.volume(tx, &r.volume_id)?;
                    self.instance(tx, &r.instance_id)?;
                }
                R::DetachVolume(r) => {
                    self.volume(tx, &r.volume_id)?;
                }
                R::RunInstances(r) => {
                    self.image(tx, &region, &r.image_id)?;
                    snapshots_of(tx, &r.block_device_mappings)?;
                }
                R::CreateTags(r) => {
                    for id in &r.resources {
                        self.taggable(tx, id)?;
                    }
                }
                R::DeleteTags(r) => {
                    for id in &r.resources {
                        self.taggable(tx, id)?;
                    }
                }
                R::StartInstances(r) | R::StopInstances(r) | R::TerminateInstances(r) => {
                    for id in &r.instance_ids {
                        self.instance(tx, id)?;
                    }
                }
                _ => {}
            }
            Ok(())
        })
    }
}

/// Runs a Describe* call and returns one page of it with the page's `NextToken`: at most
/// `MaxResults` items (in id order), after the item whose id (`id_member`, read by `id_of`) the
/// `NextToken` names.
fn paged<T>(
    r: crate::request::Describe,
    id_member: &str,
    id_of: impl Fn(&T) -> &String,
    describe: impl FnOnce(crate::request::Describe) -> Result<Vec<T>>,
) -> Result<(Vec<T>, Option<String>)> {
    let (max, token) = (r.max_results, r.next_token.clone());
    if max.is_some() && r.ids.as_ref().is_some_and(|i| !i.is_empty()) {
        bail!(
            Code::INVALID_PARAMETER_COMBINATION,
            "The parameter MaxResults cannot be used with the parameter {id_member}s"
        );
    }
    if let Some(m) = max {
        if !(5..=1000).contains(&m) {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "Value ( {m} ) for parameter maxResults is invalid. Expecting a value between 5 \
                 and 1000."
            );
        }
    }
    let after = match &token {
        Some(t) => Some(
            hex::decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    Error::new(
                        Code::INVALID_PARAMETER_VALUE,
                        format!("Invalid value '{t}' for nextToken"),
                    )
                })?,
        ),
        None => None,
    };
    let items = describe(r)?;
    if max.is_none() && after.is_none() {
        return Ok((items, None));
    }
    let limit = max.map_or(usize::MAX, |m| m as usize);
    let mut items: Vec<T> = items
        .into_iter()
        .filter(|v| after.as_ref().is_none_or(|a| id_of(v) > a))
        .collect();
    items.sort_by(|a, b| id_of(a).cmp(id_of(b)));
    let more = items.len() > limit;
    items.truncate(limit);
    let next = if more {
        items.last().map(|v| hex::encode(id_of(v)))
    } else {
        None
    };
    Ok((items, next))
}

/// Rounds a byte length up to whole GiB (at least 1).
pub(crate) fn gib_ceil(bytes: u64) -> u64 {
    bytes.div_ceil(GIB).max(1)
}
