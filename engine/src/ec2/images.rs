//! Image operations: RegisterImage, CopyImage, CreateImage, DeregisterImage, DescribeImages.

use super::model::{ImageMapping, ImageRec, ImageState, SnapshotRec, SnapshotState, VolumeRec};
use super::requests as rq;
use super::responses as out;
use super::rules::{self, canonical_device, encryption_outcome, matches_filters, Source};
use super::snapshots::{capture_job, image_using, KEY_NOT_ACCESSIBLE};
use super::{is_key_problem, Core, Planned, GIB};
use crate::blob::TempBlob;
use crate::catalog::Tx;
use crate::clock::now_iso;
use crate::error::{bail, Code, Result};
use crate::jobs::{SourceRef, Target, Task};
use crate::progress::Progress;

/// The default volume type of mappings that name none.
pub(crate) const DEFAULT_VOLUME_TYPE: &str = "gp2";

impl Core<'_> {
    /// `InvalidAMIName.Duplicate` if a registered image of this region already has `name`.
    pub(super) fn check_name_free(&self, tx: &Tx<'_>, name: &str) -> Result<()> {
        if let Some(other) = tx
            .list::<ImageRec>(self.region())?
            .into_iter()
            .find(|i| i.state != ImageState::Deregistered && i.name == name)
        {
            bail!(
                Code::INVALID_AMI_NAME_DUPLICATE,
                "AMI name {name} is already in use by AMI {}",
                other.id
            );
        }
        Ok(())
    }

    /// Commits a new image: re-checks its name (another process may have taken it meanwhile),
    /// moves its snapshot files into place and stores every row, in one transaction.
    fn commit_image(
        &self,
        image: &ImageRec,
        temps: Vec<TempBlob>,
        snapshots: &[SnapshotRec],
        also: impl FnOnce(&Tx<'_>) -> Result<()>,
    ) -> Result<()> {
        self.cat.write(|tx| {
            self.check_name_free(tx, &image.name)?;
            for mut t in temps {
                if let Some(rec) = snapshots.iter().find(|s| s.id == t.header().owner) {
                    t.set_record(rec.blob_record(false))?;
                }
                t.persist_in(tx)?;
            }
            for rec in snapshots {
                tx.put(rec)?;
            }
            tx.put(image)?;
            also(tx)
        })
    }

    pub(super) fn register_image(&mut self, r: rq::RegisterImage) -> Result<out::ImageIdResult> {
        rules::check_ami_name(&r.name)?;
        let Some(root) = r.root_device_name.clone() else {
            bail!(
                Code::MISSING_PARAMETER,
                "The request must contain the parameter rootDeviceName"
            );
        };
        rules::check_device(&root)?;
        let region = self.region().to_owned();
        let image_id = Self::new_image_id();
        self.cat.write(|tx| {
            self.check_name_free(tx, &r.name)?;
            let mut mappings = Vec::new();
            let mut seen = Vec::new();
            for m in &r.block_device_mappings {
                rules::check_device(&m.device_name)?;
                let dev = canonical_device(&m.device_name);
                if seen.contains(&dev) {
                    bail!(Code::INVALID_BLOCK_DEVICE_MAPPING, "The device {} is mapped twice", m.device_name);
                }
                seen.push(dev);
                if m.no_device.is_some() || m.virtual_name.is_some() {
                    continue;
                }
                let Some(ebs) = &m.ebs else {
                    bail!(Code::MISSING_PARAMETER, "The request must contain the parameter ebs");
                };
                if ebs.kms_key_id.is_some() {
                    bail!(
                        Code::INVALID_PARAMETER_COMBINATION,
                        "KmsKeyId is only honoured by launches; an image mapping cannot name a key"
                    );
                }
                let volume_type = ebs.volume_type.clone().unwrap_or_else(|| DEFAULT_VOLUME_TYPE.into());
                let (snapshot_id, size, encrypted) = match &ebs.snapshot_id {
                    Some(sid) => {
                        if ebs.encrypted.is_some() {
                            bail!(
                                Code::INVALID_BLOCK_DEVICE_MAPPING,
                                "The Encrypted flag cannot be specified for {}, which is created from snapshot {sid}",
                                m.device_name
                            );
                        }
                        let s = self.completed_snapshot(tx, &region, sid)?;
                        let size = ebs.volume_size.unwrap_or(s.size_gib);
                        if size < s.size_gib {
                            bail!(
                                Code::INVALID_BLOCK_DEVICE_MAPPING,
                                "Volume of size {size}GB is smaller than snapshot '{}', expect size >= {}GB",
                                s.id,
                                s.size_gib
                            );
                        }
                        (Some(s.id.clone()), size, s.encryption.is_some())
                    }
                    None => {
                        let Some(size) = ebs.volume_size else {
                            bail!(Code::MISSING_PARAMETER, "The request must contain the parameter size or snapshotId");
                        };
                        (None, size, ebs.encrypted.unwrap_or(false))
                    }
                };
                rules::check_volume_size(&volume_type, size)?;
                mappings.push(ImageMapping {
                    device_name: m.device_name.clone(),
                    snapshot_id,
                    volume_size: size,
                    volume_type,
                    delete_on_termination: ebs.delete_on_termination.unwrap_or(true),
                    encrypted,
                });
            }
            let root_ok = mappings
                .iter()
                .any(|m| canonical_device(&m.device_name) == canonical_device(&root) && m.snapshot_id.is_some());
            if !root_ok {
                bail!(
                    Code::INVALID_BLOCK_DEVICE_MAPPING,
                    "The root device {root} must be mapped to a snapshot in BlockDeviceMappings"
                );
            }
            tx.put(&ImageRec {
                id: image_id.to_string(),
                region: region.clone(),
                name: r.name.clone(),
                description: r.description.clone(),
                state: ImageState::Available,
                state_reason: None,
                owner_id: self.account().to_owned(),
                creation_date: now_iso(),
                root_device_name: root.clone(),
                architecture: r.architecture.clone().unwrap_or_else(|| "x86_64".into()),
                mappings,
                source_instance_id: None,
                source_image_id: None,
                source_region: None,
            })
        })?;
        Ok(out::ImageIdResult {
            image_id: image_id.to_string(),
        })
    }

    pub(super) fn copy_image(
        &mut self,
        r: rq::CopyImage,
        p: &dyn Progress,
    ) -> Result<out::ImageIdResult> {
        let src_id: crate::ids::ImageId = r.source_image_id.parse()?;
        if !rules::valid_region(&r.source_region) {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "Invalid source region: {}",
                r.source_region
            );
        }
        rules::check_ami_name(&r.name)?;
        if r.kms_key_id.is_some() && r.encrypted != Some(true) {
            bail!(
                Code::INVALID_PARAMETER_DEPENDENCY,
                "The parameter KmsKeyId requires the parameter Encrypted to be set."
            );
        }
        // SEMANTICS.md §12 rule 12: a reused ClientToken returns the first copy's id when the
        // parameters are the same.
        let token_key = r
            .client_token
            .as_ref()
            .map(|t| super::model::client_token_setting(self.region(), "CopyImage", t));
        let fingerprint = serde_json::to_string(&r).expect("requests serialize");
        if let Some(k) = &token_key {
            if let Some(prev) = self.cat.read(|tx| tx.setting(k))? {
                let (fp, id) = prev.split_once('\n').unwrap_or(("", ""));
                if fp == fingerprint {
                    return Ok(out::ImageIdResult {
                        image_id: id.to_owned(),
                    });
                }
                bail!(
                    Code::IDEMPOTENT_PARAMETER_MISMATCH,
                    "Client token {} was used with different parameters",
                    r.client_token.as_deref().unwrap_or("")
                );
            }
        }
        let (src, snaps) = self.cat.read(|tx| {
            let src = self.image(tx, &r.source_region, src_id.as_str())?;
            if src.state != ImageState::Available {
                bail!(
                    Code::INVALID_AMI_ID_UNAVAILABLE,
                    "Image {} is not available (it is {})",
                    src.id,
                    src.state_str()
                );
            }
            // One copy per distinct snapshot: mappings that share a snapshot share its copy.
            let mut snaps: Vec<SnapshotRec> = Vec::new();
            for m in &src.mappings {
                if let Some(sid) = &m.snapshot_id {
                    if !snaps.iter().any(|s| s.id == *sid) {
                        snaps.push(self.completed_snapshot(tx, &r.source_region, sid)?);
                    }
                }
            }
            self.check_name_free(tx, &r.name)?;
            Ok((src, snaps))
        })?;
        rules::refuse_unencrypted_copy(
            r.encrypted,
            snaps
                .iter()
                .find(|s| s.encryption.is_some())
                .map(|s| s.id.as_str()),
        )?;
        let same_region = r.source_region == self.region();
        let image_id = Self::new_image_id();
        let ebd = self.cat.read(|tx| self.ebd(tx))?;
        let created = now_iso();
        // Plan every snapshot copy: keys and data keys first, so a key problem fails the image
        // before any data moves (SEMANTICS.md §12 rule 8).
        let mut new_ids = Vec::new();
        let mut choices = Vec::new();
        for s in &snaps {
            let source = match &s.encryption {
                Some(e) => Source::Encrypted {
                    key_arn: e.key_arn(),
                    reusable: same_region,
                },
                None => Source::Plain,
            };
            choices.push(encryption_outcome(
                source,
                r.encrypted,
                r.kms_key_id.as_deref(),
                ebd,
            )?);
            new_ids.push(Self::new_snapshot_id().to_string());
        }
        let plans: Option<Vec<Planned>> = self.cat.write(|tx| {
            let mut plans = Vec::new();
            for ((s, choice), nid) in snaps.iter().zip(&choices).zip(&new_ids) {
                match self.plan(tx, Some((&s.id, s.encryption.as_ref())), choice, nid) {
                    Ok(p) => plans.push(p),
                    Err(e) if is_key_problem(&e) => return Ok(None),
                    Err(e) => return Err(e),
                }
            }
            Ok(Some(plans))
        })?;
        let description = |s: &SnapshotRec| {
            format!(
                "Copied for DestinationAmi {image_id} from SourceAmi {} for SourceSnapshot {}. Task created on {created}.",
                src.id, s.id
            )
        };
        let mut recs = Vec::new();
        let mut temps: Vec<TempBlob> = Vec::new();
        let failed = plans.is_none();
        for (i, s) in snaps.iter().enumerate() {
            let mut rec = SnapshotRec {
                id: new_ids[i].clone(),
                region: self.region().to_owned(),
                volume_id: "vol-ffffffff".into(),
                size_gib: s.size_gib,
                sector_size: s.sector_size,
                state: SnapshotState::Completed,
                state_message: None,
                start_time: created.clone(),
                owner_id: self.account().to_owned(),
                description: description(s),
                encryption: None,
                has_data: !failed,
            };
            if failed {
                rec.state = SnapshotState::Error;
                rec.state_message = Some(KEY_NOT_ACCESSIBLE.into());
            }
            recs.push(rec);
        }
        // An asynchronous call stores its rows pending and leaves the data to a job.
        let asynchronous = !self.wait && !failed;
        let mut tasks = Vec::new();
        if let Some(plans) = plans {
            for ((s, planned), rec) in snaps.iter().zip(plans).zip(recs.iter_mut()) {
                let size = s.size_gib * GIB;
                if asynchronous {
                    tasks.push(Task {
                        new_id: rec.id.clone(),
                        size,
                        sector_size: s.sector_size,
                        encryption: planned.encryption.clone(),
                        source: Some(SourceRef {
                            id: s.id.clone(),
                            size,
                            encryption: s.encryption.clone(),
                        }),
                    });
                    rec.state = SnapshotState::Pending;
                    rec.has_data = false;
                } else {
                    temps.push(self.produce(
                        &rec.id,
                        size,
                        s.sector_size,
                        &planned,
                        Some((size, s.encryption.as_ref())),
                        p,
                    )?);
                }
                rec.encryption = planned.encryption;
            }
        }
        // Source snapshot id -> (copy id, copy encrypted).
        let copies: Vec<(&str, &str, bool)> = snaps
            .iter()
            .zip(&recs)
            .map(|(s, r)| (s.id.as_str(), r.id.as_str(), r.encryption.is_some()))
            .collect();
        let mappings = src
            .mappings
            .iter()
            .map(|m| {
                let mut m = m.clone();
                if let Some(old) = &m.snapshot_id {
                    let (_, nid, enc) = copies
                        .iter()
                        .find(|(o, _, _)| o == old)
                        .expect("every mapped snapshot was copied");
                    m.snapshot_id = Some((*nid).to_owned());
                    m.encrypted = if failed {
                        m.encrypted || r.encrypted == Some(true)
                    } else {
                        *enc
                    };
                }
                m
            })
            .collect();
        let image = ImageRec {
            id: image_id.to_string(),
            region: self.region().to_owned(),
            name: r.name.clone(),
            description: r.description.clone().or_else(|| src.description.clone()),
            state: if failed {
                ImageState::Failed
            } else if asynchronous {
                ImageState::Pending
            } else {
                ImageState::Available
            },
            state_reason: failed.then(|| {
                (
                    "Client.InternalError".to_owned(),
                    "Copy image failed with an internal error".to_owned(),
                )
            }),
            owner_id: self.account().to_owned(),
            creation_date: created.clone(),
            root_device_name: src.root_device_name.clone(),
            architecture: src.architecture.clone(),
            mappings,
            source_instance_id: None,
            source_image_id: Some(src.id.clone()),
            source_region: Some(r.source_region.clone()),
        };
        self.commit_image(&image, temps, &recs, |tx| {
            if asynchronous {
                let ids = recs.iter().map(|r| r.id.clone()).collect();
                let target = Target::Snapshots {
                    ids,
                    image: Some(image.id.clone()),
                };
                self.queue_job(tx, "CopyImage", tasks, target)?;
            }
            match &token_key {
                Some(k) => tx.set_setting(k, &format!("{fingerprint}\n{}", image.id)),
                None => Ok(()),
            }
        })?;
        Ok(out::ImageIdResult { image_id: image.id })
    }

    pub(super) fn create_image(
        &mut self,
        r: rq::CreateImage,
        p: &dyn Progress,
    ) -> Result<out::ImageIdResult> {
        rules::check_ami_name(&r.name)?;
        let crash_consistent = r.no_reboot.unwrap_or(false);
        let (inst, vols) = self.cat.read(|tx| {
            let inst = self.instance(tx, &r.instance_id)?;
            use super::model::InstanceState as S;
            if !matches!(inst.state, S::Running | S::Stopped) {
                bail!(
                    Code::INCORRECT_INSTANCE_STATE,
                    "The instance '{}' is not in the 'running' or 'stopped' state (it is '{}').",
                    inst.id,
                    inst.state.name()
                );
            }
            self.check_name_free(tx, &r.name)?;
            let vols = self.attached_volumes(tx, &inst)?;
            Ok((inst, vols))
        })?;
        let image_id = Self::new_image_id();
        // Apply the request's mapping (SEMANTICS.md §11 rule 6) before any data moves.
        let mut keep: Vec<(&VolumeRec, bool)> = Vec::new();
        let mut extra: Vec<ImageMapping> = Vec::new();
        for v in &vols {
            let a = v.attachment.as_ref().expect("attached");
            let req = r
                .block_device_mappings
                .iter()
                .find(|m| canonical_device(&m.device_name) == canonical_device(&a.device));
            let mut dot = a.delete_on_termination;
            if let Some(m) = req {
                if m.no_device.is_some() {
                    if canonical_device(&a.device) == canonical_device(&inst.root_device_name) {
                        bail!(
                            Code::INVALID_BLOCK_DEVICE_MAPPING,
                            "The root device {} cannot be suppressed",
                            a.device
                        );
                    }
                    continue;
                }
                if let Some(ebs) = &m.ebs {
                    if ebs.snapshot_id.is_some() && ebs.encrypted.is_some() {
                        bail!(
                            Code::INVALID_BLOCK_DEVICE_MAPPING,
                            "The Encrypted flag cannot be specified with a SnapshotId"
                        );
                    }
                    if ebs.encrypted == Some(true) && v.encryption.is_none() {
                        bail!(
                            Code::INVALID_BLOCK_DEVICE_MAPPING,
                            "The volume {} attached at {} is not encrypted; CreateImage cannot encrypt it",
                            v.id,
                            a.device
                        );
                    }
                    if ebs.volume_size.is_some_and(|s| s != v.size_gib) {
                        bail!(
                            Code::INVALID_BLOCK_DEVICE_MAPPING,
                            "The size of the volume {} at {} cannot be changed by CreateImage",
                            v.id,
                            a.device
                        );
                    }
                    if ebs.kms_key_id.is_some() {
                        bail!(
                            Code::INVALID_PARAMETER_COMBINATION,
                            "KmsKeyId is not honoured by CreateImage mappings"
                        );
                    }
                    dot = ebs.delete_on_termination.unwrap_or(dot);
                }
            }
            keep.push((v, dot));
        }
        for m in &r.block_device_mappings {
            let dev = canonical_device(&m.device_name);
            let attached = vols
                .iter()
                .any(|v| canonical_device(&v.attachment.as_ref().expect("attached").device) == dev);
            if attached || m.no_device.is_some() {
                continue;
            }
            rules::check_device(&m.device_name)?;
            let Some(ebs) = &m.ebs else {
                bail!(
                    Code::MISSING_PARAMETER,
                    "The request must contain the parameter ebs"
                );
            };
            if ebs.snapshot_id.is_some() {
                bail!(
                    Code::INVALID_BLOCK_DEVICE_MAPPING,
                    "CreateImage can add only empty volumes, not {}",
                    m.device_name
                );
            }
            let Some(size) = ebs.volume_size else {
                bail!(
                    Code::MISSING_PARAMETER,
                    "The request must contain the parameter size or snapshotId"
                );
            };
            let volume_type = ebs
                .volume_type
                .clone()
                .unwrap_or_else(|| DEFAULT_VOLUME_TYPE.into());
            rules::check_volume_size(&volume_type, size)?;
            extra.push(ImageMapping {
                device_name: m.device_name.clone(),
                snapshot_id: None,
                volume_size: size,
                volume_type,
                delete_on_termination: ebs.delete_on_termination.unwrap_or(true),
                encrypted: ebs.encrypted.unwrap_or(false),
            });
        }
        // One point in time: a mounted instance's writes are frozen (after in-flight writes
        // finish, unless NoReboot asks for crash consistency) while every snapshot is taken.
        let frozen = crate::mountctl::freeze(self.home, &inst.id, !crash_consistent)?;
        let image_of = |state, mappings| ImageRec {
            id: image_id.to_string(),
            region: self.region().to_owned(),
            name: r.name.clone(),
            description: r.description.clone(),
            state,
            state_reason: None,
            owner_id: self.account().to_owned(),
            creation_date: now_iso(),
            root_device_name: inst.root_device_name.clone(),
            architecture: "x86_64".into(),
            mappings,
            source_instance_id: Some(inst.id.clone()),
            source_image_id: None,
            source_region: None,
        };
        let describe = |v: &VolumeRec| {
            format!(
                "Created by CreateImage({}) for {} from {}",
                inst.id, image_id, v.id
            )
        };
        let mapping = |v: &VolumeRec, dot: bool, snapshot_id: &str| ImageMapping {
            device_name: v.attachment.as_ref().expect("attached").device.clone(),
            snapshot_id: Some(snapshot_id.to_owned()),
            volume_size: v.size_gib,
            volume_type: v.volume_type.clone(),
            delete_on_termination: dot,
            encrypted: v.encryption.is_some(),
        };
        if !self.wait {
            // Admitted now (pending image and snapshots), captured by a job that holds the
            // freeze until its copies are made.
            let recs: Vec<SnapshotRec> = keep
                .iter()
                .map(|(v, _)| {
                    let sid = Self::new_snapshot_id();
                    self.pending_snapshot_of(v, sid.as_str(), Some(describe(v)))
                })
                .collect();
            let mut mappings: Vec<ImageMapping> = keep
                .iter()
                .zip(&recs)
                .map(|((v, dot), s)| mapping(v, *dot, &s.id))
                .collect();
            mappings.extend(extra);
            let image = image_of(ImageState::Pending, mappings);
            let vols: Vec<&VolumeRec> = keep.iter().map(|(v, _)| *v).collect();
            let snaps: Vec<&SnapshotRec> = recs.iter().collect();
            let (tasks, target) = capture_job(&vols, &snaps, Some(image.id.clone()));
            let job = self.cat.write(|tx| {
                self.check_name_free(tx, &image.name)?;
                for v in &vols {
                    self.volume(tx, &v.id)?;
                }
                for rec in &recs {
                    tx.put(rec)?;
                }
                tx.put(&image)?;
                self.queue_job(tx, "CreateImage", tasks, target)
            })?;
            self.hold_freeze(&job, frozen);
            return Ok(out::ImageIdResult { image_id: image.id });
        }
        let mut recs = Vec::new();
        let mut temps = Vec::new();
        let mut mappings = Vec::new();
        for (v, dot) in &keep {
            let sid = Self::new_snapshot_id();
            let (rec, tmp) = self.snapshot_of_volume(v, sid.as_str(), describe(v), p)?;
            mappings.push(mapping(v, *dot, &rec.id));
            recs.push(rec);
            temps.push(tmp);
        }
        // The copies are one point in time only if the freeze held until now.
        frozen.release()?;
        mappings.extend(extra);
        let image = image_of(ImageState::Available, mappings);
        self.commit_image(&image, temps, &recs, |_| Ok(()))?;
        Ok(out::ImageIdResult { image_id: image.id })
    }

    pub(super) fn deregister_image(
        &mut self,
        r: rq::DeregisterImage,
    ) -> Result<out::DeregisterImageResult> {
        let id: crate::ids::ImageId = r.image_id.parse()?;
        let region = self.region().to_owned();
        let results = self.cat.write(|tx| {
            let mut img = match tx.get::<ImageRec>(id.as_str())? {
                Some(i) if i.region == region => i,
                _ => bail!(
                    Code::INVALID_AMI_ID_NOT_FOUND,
                    "The image id '[{id}]' does not exist"
                ),
            };
            if img.state == ImageState::Deregistered {
                bail!(
                    Code::INVALID_AMI_ID_UNAVAILABLE,
                    "The image '{id}' is no longer available"
                );
            }
            img.state = ImageState::Deregistered;
            tx.put(&img)?;
            let mut results = Vec::new();
            if r.delete_associated_snapshots == Some(true) {
                for sid in img.mappings.iter().filter_map(|m| m.snapshot_id.clone()) {
                    if image_using(tx, &region, &sid)?.is_some() {
                        results.push(out::DeleteSnapshotReturnCode {
                            snapshot_id: sid,
                            return_code: "warn-skipped-in-use".to_owned(),
                        });
                        continue;
                    }
                    if let Some(s) = tx.get::<SnapshotRec>(&sid)? {
                        tx.delete::<SnapshotRec>(&sid)?;
                        if s.has_data {
                            self.store.remove_in(tx, &sid)?;
                        }
                    }
                    results.push(out::DeleteSnapshotReturnCode {
                        snapshot_id: sid,
                        return_code: "success".to_owned(),
                    });
                }
            }
            Ok(results)
        })?;
        Ok(out::DeregisterImageResult {
            r#return: true,
            delete_snapshot_results: (r.delete_associated_snapshots == Some(true))
                .then_some(results),
        })
    }

    pub(super) fn describe_images(&mut self, r: rq::Describe) -> Result<Vec<out::Image>> {
        let region = self.region().to_owned();
        let account = self.account().to_owned();
        let images = self.cat.read(|tx| match &r.ids {
            Some(ids) => ids
                .iter()
                .map(|id| self.image(tx, &region, id))
                .collect::<Result<Vec<_>>>(),
            None => Ok(tx
                .list::<ImageRec>(&region)?
                .into_iter()
                .filter(|i| i.state != ImageState::Deregistered)
                .collect()),
        })?;
        let mut shown = Vec::new();
        for i in images {
            if let Some(owners) = &r.owners {
                if !owners.iter().any(|o| o == "self" || *o == account) {
                    continue;
                }
            }
            let ok = matches_filters(&r.filters, |name| {
                Some(match name {
                    "name" => vec![i.name.clone()],
                    "state" => vec![i.state_str().to_owned()],
                    "image-id" => vec![i.id.clone()],
                    "owner-id" => vec![i.owner_id.clone()],
                    "is-public" => vec!["false".to_owned()],
                    "root-device-name" => vec![i.root_device_name.clone()],
                    "description" => i.description.iter().cloned().collect(),
                    "block-device-mapping.encrypted" => i
                        .mappings
                        .iter()
                        .map(|m| rules::bool_str(m.encrypted))
                        .collect(),
                    "block-device-mapping.snapshot-id" => i
                        .mappings
                        .iter()
                        .filter_map(|m| m.snapshot_id.clone())
                        .collect(),
                    "block-device-mapping.device-name" => {
                        i.mappings.iter().map(|m| m.device_name.clone()).collect()
                    }
                    "source-instance-id" => i.source_instance_id.iter().cloned().collect(),
                    _ => return None,
                })
            })?;
            if ok {
                shown.push(i.view());
            }
        }
        Ok(shown)
    }
}
