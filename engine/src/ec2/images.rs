//! Image operations: RegisterImage, CopyImage, CreateImage, DeregisterImage, DescribeImages.

use super::model::ImageAttributes;
use super::model::{
    ImageMapping, ImageRec, ImageState, SnapshotEncryption, SnapshotRec, SnapshotState, VolumeRec,
};
use super::requests as rq;
use super::responses as out;
use super::rules::{self, canonical_device, encryption_outcome, matches_filters, Source};
use super::sharing;
use super::snapshots::{capture_job, image_using, KEY_NOT_ACCESSIBLE};
use super::tags;
use super::volume_types;
use super::{is_key_problem, Core, Planned, GIB};
use crate::blob::TempBlob;
use crate::catalog::Tx;
use crate::clock::now_iso;
use crate::error::{bail, Code, Result};
use crate::jobs::{SourceRef, Target, Task};
use crate::progress::Progress;

pub(crate) use super::volume_types::DEFAULT_VOLUME_TYPE;

impl Core<'_> {
    /// `InvalidAMIName.Duplicate` if a registered image of this region already has `name`.
    pub(super) fn check_name_free(&self, tx: &Tx<'_>, name: &str) -> Result<()> {
        if let Some(other) = tx.list::<ImageRec>(self.region())?.into_iter().find(|i| {
            i.state != ImageState::Deregistered && i.owner_id == self.account() && i.name == name
        }) {
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
        let (architecture, attributes) = check_image_attributes(&r)?;
        tags::check_specs(&r.tag_specifications, &["image"])?;
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
                    if let Some(v) = &m.virtual_name {
                        check_virtual_name(v)?;
                    }
                    if m.ebs.is_some() {
                        bail!(
                            Code::INVALID_BLOCK_DEVICE_MAPPING,
                            "The device {} cannot have both Ebs and {}",
                            m.device_name,
                            if m.no_device.is_some() { "NoDevice" } else { "VirtualName" }
                        );
                    }
                    mappings.push(ImageMapping::not_ebs(&m.device_name, m.virtual_name.clone()));
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
                        if s.owner_id != self.account() {
                            // An image names only its owner's snapshots, so that sharing and
                            // unsharing them stays the owner's decision.
                            bail!(
                                Code::AUTH_FAILURE,
                                "Not authorized for snapshot:{sid}: register images from \
                                 snapshots you own (copy a shared snapshot first)"
                            );
                        }
                        let size = ebs.volume_size.unwrap_or(s.size_gib);
                        if size < s.size_gib {
                            bail!(
                                Code::INVALID_BLOCK_DEVICE_MAPPING,
                                "Volume of size {size}GB is smaller than snapshot '{}', expect size >= {}GB",
                                s.id,
                                s.size_gib
                            );
                        }
                        (Some(s.id.clone()), size, s.encryption.data_key().is_some())
                    }
                    None => {
                        let Some(size) = ebs.volume_size else {
                            bail!(Code::MISSING_PARAMETER, "The request must contain the parameter size or snapshotId");
                        };
                        (None, size, ebs.encrypted.unwrap_or(false))
                    }
                };
                let perf = volume_types::check(&volume_type, size, ebs.iops, ebs.throughput)?;
                mappings.push(ImageMapping {
                    device_name: m.device_name.clone(),
                    snapshot_id,
                    volume_size: size,
                    volume_type,
                    delete_on_termination: ebs.delete_on_termination.unwrap_or(true),
                    encrypted,
                    iops: perf.iops,
                    throughput: perf.throughput,
                    virtual_name: None,
                    no_device: false,
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
                permissions: Default::default(),
                id: image_id.to_string(),
                region: region.clone(),
                name: r.name.clone(),
                description: r.description.clone(),
                state: ImageState::Available,
                state_reason: None,
                owner_id: self.account().to_owned(),
                creation_date: now_iso(),
                root_device_name: root.clone(),
                architecture: architecture.clone(),
                mappings,
                source_instance_id: None,
                source_image_id: None,
                source_region: None,
                attributes: attributes.clone(),
            })?;
            tags::apply(tx, &region, &r.tag_specifications, "image", image_id.as_str())
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
        tags::check_specs(&r.tag_specifications, &["image", "snapshot"])?;
        let snapshot_tags = tags::spec_tags(&r.tag_specifications, "snapshot")?;
        if r.kms_key_id.is_some() && r.encrypted != Some(true) {
            bail!(
                Code::INVALID_PARAMETER_DEPENDENCY,
                "The parameter KmsKeyId requires the parameter Encrypted to be set."
            );
        }
        // SEMANTICS.md §12 rule 12: a reused ClientToken returns the first copy's id when the
        // parameters are the same.
        let token_key = r.client_token.as_ref().map(|t| {
            super::model::client_token_setting(self.account(), self.region(), "CopyImage", t)
        });
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
        let (src, snaps, image_tags) = self.cat.read(|tx| {
            let src = self.image(tx, &r.source_region, src_id.as_str())?;
            // CopyImageTags copies the source's user tags; the request's own tags win.
            let copied = match r.copy_image_tags {
                Some(true) => tags::of(tx, &src.id)?,
                _ => Vec::new(),
            };
            let image_tags =
                tags::merged(&copied, &tags::spec_tags(&r.tag_specifications, "image")?)?;
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
            Ok((src, snaps, image_tags))
        })?;
        rules::refuse_unencrypted_copy(
            r.encrypted,
            snaps
                .iter()
                .find(|s| s.encryption.data_key().is_some())
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
            let source = match s.encryption.data_key() {
                Some(e) => Source::Encrypted {
                    key_arn: e.key_arn(),
                    reusable: same_region && s.owner_id == self.account(),
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
                match self.plan(tx, Some((&s.id, s.encryption.data_key())), choice, nid) {
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
                permissions: Default::default(),
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
                encryption: SnapshotEncryption::Plain,
                has_data: !failed,
            };
            if failed {
                rec.state = SnapshotState::Error;
                rec.state_message = Some(KEY_NOT_ACCESSIBLE.into());
                rec.encryption = self.unkeyed(&choices[i], &s.encryption);
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
                            encryption: s.encryption.data_key().cloned(),
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
                        Some((size, s.encryption.data_key())),
                        p,
                    )?);
                }
                rec.encryption = planned.encryption.into();
            }
        }
        // Source snapshot id -> (copy id, copy encrypted).
        let copies: Vec<(&str, &str, bool)> = snaps
            .iter()
            .zip(&recs)
            .map(|(s, r)| (s.id.as_str(), r.id.as_str(), r.encrypted()))
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
            permissions: Default::default(),
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
            attributes: src.attributes.clone(),
        };
        self.commit_image(&image, temps, &recs, |tx| {
            tags::add(tx, &image.region, "image", &image.id, &image_tags)?;
            for rec in &recs {
                tags::add(tx, &rec.region, "snapshot", &rec.id, &snapshot_tags)?;
            }
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
        tags::check_specs(&r.tag_specifications, &["image", "snapshot"])?;
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
            if let Some(v) = &m.virtual_name {
                check_virtual_name(v)?;
                extra.push(ImageMapping::not_ebs(&m.device_name, Some(v.clone())));
                continue;
            }
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
            let perf = volume_types::check(&volume_type, size, ebs.iops, ebs.throughput)?;
            extra.push(ImageMapping {
                device_name: m.device_name.clone(),
                snapshot_id: None,
                volume_size: size,
                volume_type,
                delete_on_termination: ebs.delete_on_termination.unwrap_or(true),
                encrypted: ebs.encrypted.unwrap_or(false),
                iops: perf.iops,
                throughput: perf.throughput,
                virtual_name: None,
                no_device: false,
            });
        }
        // One point in time: a mounted instance's writes are frozen (after in-flight writes
        // finish, unless NoReboot asks for crash consistency) while every snapshot is taken.
        let frozen = crate::mountctl::freeze(self.home, &inst.id, !crash_consistent)?;
        let image_of = |state, mappings| ImageRec {
            permissions: Default::default(),
            id: image_id.to_string(),
            region: self.region().to_owned(),
            name: r.name.clone(),
            description: r.description.clone(),
            state,
            state_reason: None,
            owner_id: self.account().to_owned(),
            creation_date: now_iso(),
            root_device_name: inst.root_device_name.clone(),
            architecture: inst.architecture().to_owned(),
            mappings,
            source_instance_id: Some(inst.id.clone()),
            source_image_id: None,
            source_region: None,
            attributes: inst.launch.image.clone(),
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
            iops: v.iops,
            throughput: v.throughput,
            virtual_name: None,
            no_device: false,
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
                    tags::apply(tx, &rec.region, &r.tag_specifications, "snapshot", &rec.id)?;
                }
                tx.put(&image)?;
                tags::apply(tx, &image.region, &r.tag_specifications, "image", &image.id)?;
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
        self.commit_image(&image, temps, &recs, |tx| {
            for rec in &recs {
                tags::apply(tx, &rec.region, &r.tag_specifications, "snapshot", &rec.id)?;
            }
            tags::apply(tx, &image.region, &r.tag_specifications, "image", &image.id)
        })?;
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
                Some(i)
                    if i.region == region
                        && (i.owner_id == self.account()
                            || i.permissions.allows(self.account())) =>
                {
                    i
                }
                _ => bail!(
                    Code::INVALID_AMI_ID_NOT_FOUND,
                    "The image id '[{id}]' does not exist"
                ),
            };
            if img.owner_id != self.account() {
                bail!(Code::AUTH_FAILURE, "Not authorized for image:{id}");
            }
            if img.state == ImageState::Deregistered {
                bail!(
                    Code::INVALID_AMI_ID_UNAVAILABLE,
                    "The image '{id}' is no longer available"
                );
            }
            img.state = ImageState::Deregistered;
            super::tags::remove(tx, &img.id)?;
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
                        super::tags::remove(tx, &sid)?;
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
        sharing::check_principals(
            r.owners.as_deref(),
            "Owners",
            &["self", "amazon", "aws-marketplace"],
        )?;
        sharing::check_principals(r.users.as_deref(), "ExecutableUsers", &["self", "all"])?;
        let (images, mut tags) = self.cat.read(|tx| {
            let images = match &r.ids {
                Some(ids) => ids
                    .iter()
                    .map(|id| self.image(tx, &region, id))
                    .collect::<Result<Vec<_>>>()?,
                None => tx
                    .list::<ImageRec>(&region)?
                    .into_iter()
                    .filter(|i| i.state != ImageState::Deregistered)
                    .collect(),
            };
            Ok((images, tags::in_region(tx, &region)?))
        })?;
        let mut shown = Vec::new();
        for i in images {
            if !sharing::shown(
                &i.owner_id,
                &i.permissions,
                &account,
                r.owners.as_deref(),
                r.users.as_deref(),
            ) {
                continue;
            }
            let image_tags = tags.remove(&i.id).unwrap_or_default();
            let ok = matches_filters(&r.filters, |name| {
                Some(match name {
                    "name" => vec![i.name.clone()],
                    "state" => vec![i.state_str().to_owned()],
                    "image-id" => vec![i.id.clone()],
                    "owner-id" => vec![i.owner_id.clone()],
                    "is-public" => vec![rules::bool_str(i.permissions.public)],
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
                    "architecture" => vec![i.architecture.clone()],
                    "virtualization-type" => vec![i.attributes.virtualization_type.clone()],
                    "ena-support" => i
                        .attributes
                        .ena_support
                        .map(rules::bool_str)
                        .into_iter()
                        .collect(),
                    "boot-mode" => i.attributes.boot_mode.iter().cloned().collect(),
                    "sriov-net-support" => i.attributes.sriov_net_support.iter().cloned().collect(),
                    "tpm-support" => i.attributes.tpm_support.iter().cloned().collect(),
                    "imds-support" => i.attributes.imds_support.iter().cloned().collect(),
                    "hypervisor" => vec!["xen".to_owned()],
                    "image-type" => vec!["machine".to_owned()],
                    "root-device-type" => vec!["ebs".to_owned()],
                    "block-device-mapping.volume-type" => i
                        .mappings
                        .iter()
                        .filter(|m| m.is_ebs())
                        .map(|m| m.volume_type.clone())
                        .collect(),
                    "block-device-mapping.volume-size" => i
                        .mappings
                        .iter()
                        .filter(|m| m.is_ebs())
                        .map(|m| m.volume_size.to_string())
                        .collect(),
                    "block-device-mapping.delete-on-termination" => i
                        .mappings
                        .iter()
                        .filter(|m| m.is_ebs())
                        .map(|m| rules::bool_str(m.delete_on_termination))
                        .collect(),
                    _ => return tags::filter_values(name, &image_tags),
                })
            })?;
            if ok {
                let mut view = i.view();
                view.tags = image_tags;
                shown.push(view);
            }
        }
        Ok(shown)
    }
}

/// Checks one of RegisterImage's enumerated values, with AWS's message.
fn check_enum(parameter: &str, value: &str, valid: &[&str]) -> Result<()> {
    if !valid.contains(&value) {
        bail!(
            Code::INVALID_PARAMETER_VALUE,
            "Value ({value}) for parameter {parameter} is invalid. Valid values: {}",
            valid.join(", ")
        );
    }
    Ok(())
}

/// RegisterImage's architecture and launch attributes, checked against the values of AWS's
/// model. Without them an image is x86_64 and HVM (see docs/DECISIONS.md, "Launch
/// parameters").
fn check_image_attributes(r: &rq::RegisterImage) -> Result<(String, ImageAttributes)> {
    let architecture = r.architecture.clone().unwrap_or_else(|| "x86_64".into());
    check_enum(
        "architecture",
        &architecture,
        &["i386", "x86_64", "arm64", "x86_64_mac", "arm64_mac"],
    )?;
    let virtualization_type = r
        .virtualization_type
        .clone()
        .unwrap_or_else(|| "hvm".into());
    check_enum(
        "virtualizationType",
        &virtualization_type,
        &["hvm", "paravirtual"],
    )?;
    if let Some(b) = &r.boot_mode {
        check_enum("bootMode", b, &["legacy-bios", "uefi", "uefi-preferred"])?;
        if b == "legacy-bios" && architecture.starts_with("arm64") {
            bail!(
                Code::INVALID_PARAMETER_COMBINATION,
                "The boot mode 'legacy-bios' is not supported for the '{architecture}' \
                 architecture; arm64 images boot with UEFI."
            );
        }
    }
    if let Some(s) = &r.sriov_net_support {
        check_enum("sriovNetSupport", s, &["simple"])?;
    }
    if let Some(i) = &r.imds_support {
        check_enum("imdsSupport", i, &["v2.0"])?;
    }
    if let Some(t) = &r.tpm_support {
        check_enum("tpmSupport", t, &["v2.0"])?;
        let uefi = matches!(r.boot_mode.as_deref(), Some("uefi"))
            || (r.boot_mode.is_none() && architecture.starts_with("arm64"));
        if !uefi {
            bail!(
                Code::INVALID_PARAMETER_COMBINATION,
                "NitroTPM (TpmSupport v2.0) requires the boot mode 'uefi'."
            );
        }
    }
    Ok((
        architecture,
        ImageAttributes {
            virtualization_type,
            ena_support: r.ena_support,
            boot_mode: r.boot_mode.clone(),
            sriov_net_support: r.sriov_net_support.clone(),
            imds_support: r.imds_support.clone(),
            tpm_support: r.tpm_support.clone(),
        },
    ))
}

/// An instance-store name: `ephemeral0` to `ephemeral23`.
fn check_virtual_name(name: &str) -> Result<()> {
    let ok = name
        .strip_prefix("ephemeral")
        .and_then(|n| n.parse::<u8>().ok().filter(|n| *n <= 23).map(|_| n))
        .is_some_and(|n| !n.starts_with('+') && (n == "0" || !n.starts_with('0')));
    if !ok {
        bail!(
            Code::INVALID_PARAMETER_VALUE,
            "Value ({name}) for parameter virtualName is invalid. Expected: 'ephemeral[0-23]'."
        );
    }
    Ok(())
}
