//! Volume operations: CreateVolume, DeleteVolume, AttachVolume, DetachVolume, DescribeVolumes.

use super::images::DEFAULT_VOLUME_TYPE;
use super::instances::request_fingerprint;
use super::model::{Attachment, InstanceState, VolumeRec, VolumeState};
use super::requests as rq;
use super::responses as out;
use super::rules::{self, canonical_device, encryption_outcome, matches_filters, Source};
use super::volume_types;
use super::{is_key_problem, Core, GIB};
use crate::catalog::Tx;
use crate::clock::now_iso;
use crate::error::{bail, Code, Result};
use crate::jobs::{SourceRef, Target, Task};
use crate::progress::Progress;

impl Core<'_> {
    pub(super) fn create_volume(
        &mut self,
        r: rq::CreateVolume,
        p: &dyn Progress,
    ) -> Result<out::Volume> {
        let Some(az) = r.availability_zone.clone() else {
            bail!(
                Code::MISSING_PARAMETER,
                "The request must contain the parameter availabilityZone"
            );
        };
        rules::check_az(self.region(), &az)?;
        super::tags::check_specs(&r.tag_specifications, &["volume"])?;
        let user_tags = super::tags::spec_tags(&r.tag_specifications, "volume")?;
        if r.size.is_none() && r.snapshot_id.is_none() {
            bail!(
                Code::MISSING_PARAMETER,
                "The request must contain the parameter size/snapshot"
            );
        }
        let volume_type = r
            .volume_type
            .clone()
            .unwrap_or_else(|| DEFAULT_VOLUME_TYPE.into());
        volume_types::check_multi_attach(&volume_type, r.multi_attach_enabled)?;
        let fingerprint = request_fingerprint(&format!(
            "{:?}",
            rq::CreateVolume {
                client_token: None,
                ..r.clone()
            }
        ));
        if let Some(id) = self.replayed("CreateVolume", r.client_token.as_deref(), &fingerprint)? {
            let v = self.cat.read(|tx| self.volume(tx, &id))?;
            return Ok(v.view());
        }
        let region = self.region().to_owned();
        let snap = match &r.snapshot_id {
            Some(s) => Some(
                self.cat
                    .read(|tx| self.completed_snapshot(tx, &region, s))?,
            ),
            None => None,
        };
        let size = r
            .size
            .unwrap_or_else(|| snap.as_ref().map(|s| s.size_gib).unwrap_or(0));
        if let Some(s) = &snap {
            if size < s.size_gib {
                bail!(
                    Code::INVALID_PARAMETER_VALUE,
                    "The volume size is invalid for the given snapshot: {size} GiB is smaller than the snapshot's {} GiB",
                    s.size_gib
                );
            }
        }
        let perf = volume_types::check(&volume_type, size, r.iops, r.throughput)?;
        let ebd = self.cat.read(|tx| self.ebd(tx))?;
        let source = match snap.as_ref().and_then(|s| s.encryption.data_key()) {
            Some(e) => Source::Encrypted {
                key_arn: e.key_arn(),
                reusable: snap.as_ref().is_some_and(|s| s.owner_id == self.account()),
            },
            None => Source::Plain,
        };
        let choice = encryption_outcome(source, r.encrypted, r.kms_key_id.as_deref(), ebd)?;
        let vol_id = Self::new_volume_id();
        let sector_size = snap.as_ref().map(|s| s.sector_size).unwrap_or(4096);
        let mut rec = VolumeRec {
            id: vol_id.to_string(),
            region: region.clone(),
            owner_id: self.account().to_owned(),
            az,
            size_gib: size,
            sector_size,
            volume_type,
            snapshot_id: snap.as_ref().map(|s| s.id.clone()).unwrap_or_default(),
            state: VolumeState::Available,
            create_time: now_iso(),
            encryption: None,
            attachment: None,
            iops: perf.iops,
            throughput: perf.throughput,
        };
        let planned = self.cat.write(|tx| {
            let src = snap
                .as_ref()
                .map(|s| (s.id.as_str(), s.encryption.data_key()));
            match self.plan(tx, src, &choice, vol_id.as_str()) {
                Ok(p) => Ok(Some(p)),
                Err(e) if is_key_problem(&e) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        let mut response = rec.view();
        response.state = "creating".to_owned();
        response.tags = user_tags.clone();
        if r.encrypted == Some(true)
            || snap
                .as_ref()
                .is_some_and(|s| s.encryption.data_key().is_some())
            || ebd
        {
            response.encrypted = true;
        }
        let Some(planned) = planned else {
            // SEMANTICS.md §5 rule 7: the call succeeds, the volume then fails and disappears.
            if let Some(k) = &r.kms_key_id {
                response.kms_key_id = Some(k.clone());
            }
            return Ok(response);
        };
        if !self.wait {
            let task = Task {
                new_id: rec.id.clone(),
                size: size * GIB,
                sector_size,
                encryption: planned.encryption.clone(),
                source: snap.as_ref().map(|s| SourceRef {
                    id: s.id.clone(),
                    size: s.size_gib * GIB,
                    encryption: s.encryption.data_key().cloned(),
                }),
            };
            rec.state = VolumeState::Creating;
            rec.encryption = planned.encryption;
            let target = Target::Volume { id: rec.id.clone() };
            self.cat.write(|tx| {
                tx.put(&rec)?;
                self.remember_token(
                    tx,
                    "CreateVolume",
                    r.client_token.as_deref(),
                    &fingerprint,
                    &rec.id,
                )?;
                super::tags::add(tx, &region, "volume", &rec.id, &user_tags)?;
                self.queue_job(tx, "CreateVolume", vec![task], target)
            })?;
            let mut response = rec.view();
            response.tags = user_tags;
            return Ok(response);
        }
        let src_meta = snap
            .as_ref()
            .map(|s| (s.size_gib * GIB, s.encryption.data_key()));
        let mut tmp = self.produce(&rec.id, size * GIB, sector_size, &planned, src_meta, p)?;
        rec.encryption = planned.encryption;
        tmp.set_record(rec.blob_record(self.account()))?;
        self.cat.write(|tx| {
            tmp.persist_in(tx)?;
            tx.put(&rec)?;
            self.remember_token(
                tx,
                "CreateVolume",
                r.client_token.as_deref(),
                &fingerprint,
                &rec.id,
            )?;
            super::tags::add(tx, &region, "volume", &rec.id, &user_tags)
        })?;
        let mut response = rec.view();
        response.state = "creating".to_owned();
        response.tags = user_tags;
        Ok(response)
    }

    pub(super) fn delete_volume(&mut self, r: rq::VolumeIdOnly) -> Result<out::Empty> {
        self.wait_for_captures(&r.volume_id)?;
        self.cat.write(|tx| {
            let v = self.volume(tx, &r.volume_id)?;
            if let Some(a) = &v.attachment {
                bail!(
                    Code::VOLUME_IN_USE,
                    "Volume {} is currently attached to {}",
                    v.id,
                    a.instance_id
                );
            }
            if v.state == VolumeState::Creating {
                bail!(
                    Code::INCORRECT_STATE,
                    "The volume '{}' is 'creating'; delete it once it is 'available'.",
                    v.id
                );
            }
            tx.delete::<VolumeRec>(&v.id)?;
            super::tags::remove(tx, &v.id)?;
            self.store.remove_in(tx, &v.id)?;
            Ok(())
        })?;
        Ok(out::Empty {})
    }

    pub(super) fn attach_volume(&mut self, r: rq::AttachVolume) -> Result<out::VolumeAttachment> {
        // A snapshot still being captured sees the volume as it was at its call.
        self.wait_for_captures(&r.volume_id)?;
        let v = self.cat.write(|tx| {
            let mut v = self.volume(tx, &r.volume_id)?;
            let inst = self.instance(tx, &r.instance_id)?;
            if v.attachment.is_some() {
                bail!(
                    Code::VOLUME_IN_USE,
                    "vol '{}' is already attached to an instance",
                    v.id
                );
            }
            if v.state != VolumeState::Available {
                bail!(
                    Code::INCORRECT_STATE,
                    "Volume '{}' is not 'available'.",
                    v.id
                );
            }
            if !matches!(inst.state, InstanceState::Running | InstanceState::Stopped) {
                bail!(
                    Code::INCORRECT_INSTANCE_STATE,
                    "Instance '{}' is not 'running' or 'stopped' (it is '{}').",
                    inst.id,
                    inst.state.name()
                );
            }
            if v.az != inst.az {
                bail!(
                    Code::INVALID_VOLUME_ZONE_MISMATCH,
                    "The volume '{}' is not in the same availability zone as instance '{}'",
                    v.id,
                    inst.id
                );
            }
            rules::check_device(&r.device)?;
            let dev = canonical_device(&r.device);
            let busy = canonical_device(&inst.root_device_name) == dev
                || self.attached_volumes(tx, &inst)?.iter().any(|o| {
                    canonical_device(&o.attachment.as_ref().expect("attached").device) == dev
                });
            if busy {
                bail!(
                    Code::INVALID_PARAMETER_VALUE,
                    "Invalid value '{}' for unixDevice. Attachment point {} is already in use",
                    r.device,
                    r.device
                );
            }
            self.attach_key(tx, &v, "attached", Some(&inst))?;
            v.state = VolumeState::InUse;
            v.attachment = Some(Attachment {
                instance_id: inst.id.clone(),
                device: r.device.clone(),
                attach_time: now_iso(),
                delete_on_termination: false,
            });
            tx.put(&v)?;
            Ok(v)
        })?;
        // A mounted instance shows the new volume at once; if the mount cannot serve it, the
        // attach is undone and the mount's reason returned.
        let a = v.attachment.as_ref().expect("just attached");
        let req = serde_json::json!({"op": "attach", "volume_id": v.id, "device": a.device});
        if let Err(e) = crate::mountctl::notify(self.home, &a.instance_id, req) {
            self.cat.write(|tx| {
                let mut back = self.volume(tx, &v.id)?;
                back.attachment = None;
                back.state = VolumeState::Available;
                crate::kms::retire_attachment_grants(tx, &back.region, &back.id)?;
                tx.put(&back)
            })?;
            return Err(e);
        }
        Ok(v.attachment_view("attaching"))
    }

    /// The attachment a DetachVolume request may remove, or why it may not.
    fn detachable(&self, tx: &Tx<'_>, v: &VolumeRec, r: &rq::DetachVolume) -> Result<Attachment> {
        let Some(a) = v.attachment.clone() else {
            bail!(
                Code::INVALID_ATTACHMENT_NOT_FOUND,
                "The volume '{}' is not attached.",
                v.id
            );
        };
        if let Some(i) = &r.instance_id {
            let _: crate::ids::InstanceId = i.parse()?;
            if *i != a.instance_id {
                bail!(
                    Code::INVALID_ATTACHMENT_NOT_FOUND,
                    "The volume '{}' is not attached to instance '{i}'.",
                    v.id
                );
            }
        }
        if let Some(d) = &r.device {
            if canonical_device(d) != canonical_device(&a.device) {
                bail!(
                    Code::INVALID_ATTACHMENT_NOT_FOUND,
                    "The volume '{}' is not attached at '{d}'.",
                    v.id
                );
            }
        }
        let inst = self.instance(tx, &a.instance_id)?;
        if canonical_device(&a.device) == canonical_device(&inst.root_device_name)
            && inst.state != InstanceState::Stopped
        {
            bail!(
                Code::INCORRECT_STATE,
                "Unable to detach root volume '{}' from instance '{}'",
                v.id,
                inst.id
            );
        }
        Ok(a)
    }

    pub(super) fn detach_volume(&mut self, r: rq::DetachVolume) -> Result<out::VolumeAttachment> {
        let _force = r.force.unwrap_or(false);
        // A mounted instance flushes the volume and drops its file first; a file still open
        // makes the detach fail as a busy detach does on AWS. The rules are checked before
        // the mount hears of it: a refused detach (the root of a running instance, another
        // instance or device) must leave the file where it is.
        let a = self.cat.read(|tx| {
            let v = self.volume(tx, &r.volume_id)?;
            self.detachable(tx, &v, &r)
        })?;
        let req = serde_json::json!({"op": "detach", "device": a.device});
        if let Err(e) = crate::mountctl::notify(self.home, &a.instance_id, req) {
            if e.code() == Code::RESOURCE_BUSY {
                bail!(
                    Code::INCORRECT_STATE,
                    "Volume {} is busy: {}",
                    r.volume_id,
                    e.message()
                );
            }
            return Err(e);
        }
        let shown = self.cat.write(|tx| {
            let mut v = self.volume(tx, &r.volume_id)?;
            self.detachable(tx, &v, &r)?;
            let shown = v.attachment_view("detaching");
            v.attachment = None;
            crate::kms::retire_attachment_grants(tx, &v.region, &v.id)?;
            if v.state != VolumeState::Error {
                v.state = VolumeState::Available;
            }
            tx.put(&v)?;
            Ok(shown)
        })?;
        Ok(shown)
    }

    pub(super) fn describe_volumes(&mut self, r: rq::Describe) -> Result<Vec<out::Volume>> {
        let region = self.region().to_owned();
        let (vols, mut tags) = self.cat.read(|tx| {
            let vols = match &r.ids {
                Some(ids) => ids
                    .iter()
                    .map(|id| self.volume(tx, id))
                    .collect::<Result<Vec<_>>>()?,
                None => tx
                    .list::<VolumeRec>(&region)?
                    .into_iter()
                    .filter(|v| v.owner_id == self.account())
                    .collect(),
            };
            Ok((vols, super::tags::in_region(tx, &region)?))
        })?;
        let mut shown = Vec::new();
        for v in vols {
            let mut view = v.view();
            view.tags = tags.remove(&v.id).unwrap_or_default();
            if v.state != VolumeState::Creating
                && self.store.problem(&v.id, v.size_gib * GIB).is_some()
            {
                // A volume whose data file is missing or damaged shows as AWS shows a failed
                // volume; using it fails with `CorruptFile` naming the file.
                view.state = "error".to_owned();
            }
            let ok = matches_filters(&r.filters, |name| {
                let att = v.attachment.as_ref();
                Some(match name {
                    "encrypted" => vec![rules::bool_str(v.encryption.is_some())],
                    "status" => vec![view.state.clone()],
                    "volume-id" => vec![v.id.clone()],
                    "snapshot-id" => vec![v.snapshot_id.clone()],
                    "availability-zone" => vec![v.az.clone()],
                    "kms-key-id" => v
                        .encryption
                        .iter()
                        .map(|e| e.key_arn().to_owned())
                        .collect(),
                    "size" => vec![v.size_gib.to_string()],
                    "volume-type" => vec![v.volume_type.clone()],
                    "iops" => view.iops.iter().map(|i| i.to_string()).collect(),
                    "throughput" => view.throughput.iter().map(|t| t.to_string()).collect(),
                    "multi-attach-enabled" => vec![rules::bool_str(false)],
                    "attachment.instance-id" => {
                        att.map(|a| a.instance_id.clone()).into_iter().collect()
                    }
                    "attachment.device" => att.map(|a| a.device.clone()).into_iter().collect(),
                    "attachment.status" => att.map(|_| "attached".to_owned()).into_iter().collect(),
                    "attachment.delete-on-termination" => att
                        .map(|a| rules::bool_str(a.delete_on_termination))
                        .into_iter()
                        .collect(),
                    _ => return super::tags::filter_values(name, &view.tags),
                })
            })?;
            if ok {
                shown.push(view);
            }
        }
        Ok(shown)
    }
}
