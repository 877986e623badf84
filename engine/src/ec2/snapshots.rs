//! Snapshot operations (ImportSnapshot is `imports.rs`'s): ExportSnapshot, DescribeSnapshots, CopySnapshot,
//! CreateSnapshot, DeleteSnapshot.

use super::model::{ImageRec, ImageState, SnapshotEncryption, SnapshotRec, SnapshotState};
use super::requests as rq;
use super::responses as out;
use super::rules::{self, encryption_outcome, matches_filters, Source};
use super::sharing;
use super::tags;
use super::{is_key_problem, Core, GIB};
use crate::clock::now_iso;
use crate::error::{bail, Code, Result};
use crate::jobs::{JobRec, SourceRef, Target, Task};
use crate::progress::Progress;
use std::path::Path;

/// The message AWS shows on a snapshot copy whose key cannot be used.
pub(crate) const KEY_NOT_ACCESSIBLE: &str = "Given key ID is not accessible";

impl Core<'_> {
    pub(super) fn export_snapshot(
        &mut self,
        r: rq::ExportSnapshot,
        p: &dyn Progress,
    ) -> Result<out::ExportSnapshotResult> {
        let region = self.region().to_owned();
        let (snap, from) = self.cat.read(|tx| {
            let s = self.completed_snapshot(tx, &region, &r.snapshot_id)?;
            let from = self.xts_of(tx, s.encryption.data_key())?;
            Ok((s, from))
        })?;
        let blob = self.open_blob(&snap.id, snap.size_gib * GIB, snap.encryption.data_key())?;
        let home = self.home;
        crate::rekey::export_plain(&blob, from.as_ref(), Path::new(&r.file), Some(home), p)?;
        let size = snap.size_gib * GIB;
        Ok(out::ExportSnapshotResult {
            snapshot_id: snap.id,
            file: r.file,
            size,
        })
    }

    pub(super) fn describe_snapshots(&mut self, r: rq::Describe) -> Result<Vec<out::Snapshot>> {
        let region = self.region().to_owned();
        let account = self.account().to_owned();
        sharing::check_principals(r.owners.as_deref(), "OwnerIds", &["self", "amazon"])?;
        sharing::check_principals(r.users.as_deref(), "RestorableByUserIds", &["self", "all"])?;
        let (snaps, jobs, mut tags) = self.cat.read(|tx| {
            let all = match &r.ids {
                Some(ids) => ids
                    .iter()
                    .map(|id| self.snapshot(tx, &region, id))
                    .collect::<Result<Vec<_>>>()?,
                None => tx.list::<SnapshotRec>(&region)?,
            };
            let jobs = if all.iter().any(|s| s.state == SnapshotState::Pending) {
                tx.list::<JobRec>(&region)?
            } else {
                Vec::new()
            };
            Ok((all, jobs, tags::in_region(tx, &region)?))
        })?;
        let mut shown = Vec::new();
        for s in snaps {
            if !sharing::shown(
                &s.owner_id,
                &s.permissions,
                &account,
                r.owners.as_deref(),
                r.users.as_deref(),
            ) {
                continue;
            }
            let mut v = s.view();
            v.tags = tags.remove(&s.id).unwrap_or_default();
            if let Some(j) = jobs.iter().find(|j| j.makes(&s.id)) {
                v.progress = j.percent();
            }
            if s.state == SnapshotState::Completed && s.has_data {
                if let Some(why) = self.store.problem(&s.id, s.size_gib * GIB) {
                    // As AWS shows a broken snapshot: state `error` with its reason.
                    v.state = "error".to_owned();
                    v.state_message = Some(why);
                }
            }
            let ok = matches_filters(&r.filters, |name| {
                Some(match name {
                    "encrypted" => vec![rules::bool_str(s.encrypted())],
                    "kms-key-id" => s.key_arn().iter().map(|a| a.to_string()).collect(),
                    "status" => vec![v.state.clone()],
                    "volume-id" => vec![s.volume_id.clone()],
                    "snapshot-id" => vec![s.id.clone()],
                    "owner-id" => vec![s.owner_id.clone()],
                    "description" => vec![s.description.clone()],
                    "volume-size" => vec![s.size_gib.to_string()],
                    "data-encryption-key-id" => v.data_encryption_key_id.iter().cloned().collect(),
                    _ => return tags::filter_values(name, &v.tags),
                })
            })?;
            if ok {
                shown.push(v);
            }
        }
        Ok(shown)
    }

    pub(super) fn copy_snapshot(
        &mut self,
        r: rq::CopySnapshot,
        p: &dyn Progress,
    ) -> Result<out::SnapshotIdResult> {
        let _ = (&r.presigned_url, &r.destination_region);
        tags::check_specs(&r.tag_specifications, &["snapshot"])?;
        let user_tags = tags::spec_tags(&r.tag_specifications, "snapshot")?;
        if !rules::valid_region(&r.source_region) {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "Invalid source region: {}",
                r.source_region
            );
        }
        let src = self
            .cat
            .read(|tx| self.completed_snapshot(tx, &r.source_region, &r.source_snapshot_id))?;
        if r.encrypted == Some(false) && src.encryption.data_key().is_some() {
            bail!(
                Code::INVALID_REQUEST,
                "Snapshot {} is encrypted. Creating unencrypted copy from an encrypted snapshot is not supported.",
                src.id
            );
        }
        let same_region = r.source_region == self.region();
        let ebd = self.cat.read(|tx| self.ebd(tx))?;
        let source = match src.encryption.data_key() {
            Some(e) => Source::Encrypted {
                key_arn: e.key_arn(),
                reusable: same_region && src.owner_id == self.account(),
            },
            None => Source::Plain,
        };
        let choice = encryption_outcome(source, r.encrypted, r.kms_key_id.as_deref(), ebd)?;
        let new_id = Self::new_snapshot_id();
        let description = r.description.clone().unwrap_or_else(|| {
            format!(
                "[Copied {} from {}] {}",
                src.id, r.source_region, src.description
            )
        });
        let mut rec = SnapshotRec {
            permissions: Default::default(),
            id: new_id.to_string(),
            region: self.region().to_owned(),
            volume_id: "vol-ffffffff".into(),
            size_gib: src.size_gib,
            sector_size: src.sector_size,
            state: SnapshotState::Completed,
            state_message: None,
            start_time: now_iso(),
            owner_id: self.account().to_owned(),
            description,
            encryption: SnapshotEncryption::Plain,
            has_data: true,
        };
        let planned = self.cat.write(|tx| {
            match self.plan(
                tx,
                Some((&src.id, src.encryption.data_key())),
                &choice,
                new_id.as_str(),
            ) {
                Ok(p) => Ok(Some(p)),
                Err(e) if is_key_problem(&e) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        let Some(planned) = planned else {
            rec.state = SnapshotState::Error;
            rec.state_message = Some(KEY_NOT_ACCESSIBLE.into());
            rec.has_data = false;
            rec.encryption = self.unkeyed(&choice, &src.encryption);
            self.cat.write(|tx| {
                tx.put(&rec)?;
                tags::add(tx, &rec.region, "snapshot", &rec.id, &user_tags)
            })?;
            return Ok(out::SnapshotIdResult {
                snapshot_id: rec.id,
                tags: user_tags,
            });
        };
        if !self.wait {
            let size = src.size_gib * GIB;
            let task = Task {
                new_id: rec.id.clone(),
                size,
                sector_size: src.sector_size,
                encryption: planned.encryption.clone(),
                source: Some(SourceRef {
                    id: src.id.clone(),
                    size,
                    encryption: src.encryption.data_key().cloned(),
                }),
            };
            rec.state = SnapshotState::Pending;
            rec.has_data = false;
            rec.encryption = planned.encryption.into();
            let target = Target::Snapshots {
                ids: vec![rec.id.clone()],
                image: None,
            };
            self.cat.write(|tx| {
                tx.put(&rec)?;
                tags::add(tx, &rec.region, "snapshot", &rec.id, &user_tags)?;
                self.queue_job(tx, "CopySnapshot", vec![task], target)
            })?;
            return Ok(out::SnapshotIdResult {
                snapshot_id: rec.id,
                tags: user_tags,
            });
        }
        let mut tmp = self.produce(
            &rec.id,
            src.size_gib * GIB,
            src.sector_size,
            &planned,
            Some((src.size_gib * GIB, src.encryption.data_key())),
            p,
        )?;
        rec.encryption = planned.encryption.into();
        tmp.set_record(rec.blob_record(false))?;
        self.cat.write(|tx| {
            tmp.persist_in(tx)?;
            tx.put(&rec)?;
            tags::add(tx, &rec.region, "snapshot", &rec.id, &user_tags)
        })?;
        Ok(out::SnapshotIdResult {
            snapshot_id: rec.id,
            tags: user_tags,
        })
    }

    pub(super) fn create_snapshot(
        &mut self,
        r: rq::CreateSnapshot,
        p: &dyn Progress,
    ) -> Result<out::Snapshot> {
        tags::check_specs(&r.tag_specifications, &["snapshot"])?;
        let user_tags = tags::spec_tags(&r.tag_specifications, "snapshot")?;
        let vol = self.cat.read(|tx| self.volume(tx, &r.volume_id))?;
        let new_id = Self::new_snapshot_id();
        // A volume served by a mount: crash-consistent, at one point in time.
        let frozen = match &vol.attachment {
            Some(a) => Some(crate::mountctl::freeze(self.home, &a.instance_id, false)?),
            None => None,
        };
        if !self.wait {
            // Admitted now, captured by a job that holds the freeze until its copy is made.
            let rec = self.pending_snapshot_of(&vol, new_id.as_str(), r.description);
            let (tasks, target) = capture_job(&[&vol], &[&rec], None);
            let job = self.cat.write(|tx| {
                // The volume may have gone between the read and this write.
                self.volume(tx, &vol.id)?;
                tx.put(&rec)?;
                tags::add(tx, &rec.region, "snapshot", &rec.id, &user_tags)?;
                self.queue_job(tx, "CreateSnapshot", tasks, target)
            })?;
            if let Some(f) = frozen {
                self.hold_freeze(&job, f);
            }
            let mut v = rec.view();
            v.progress = String::new();
            v.tags = user_tags;
            return Ok(v);
        }
        let rec =
            self.snapshot_of_volume(&vol, new_id.as_str(), r.description.unwrap_or_default(), p)?;
        // The copy is one point in time only if the freeze held until now.
        if let Some(f) = frozen {
            f.release()?;
        }
        let (rec, mut tmp) = rec;
        tmp.set_record(rec.blob_record(false))?;
        self.cat.write(|tx| {
            // The volume may have been deleted meanwhile; the snapshot is still its data at the
            // time of the call, as on AWS.
            tmp.persist_in(tx)?;
            tx.put(&rec)?;
            tags::add(tx, &rec.region, "snapshot", &rec.id, &user_tags)
        })?;
        let mut v = rec.view();
        v.state = "pending".to_owned();
        v.progress = String::new();
        v.tags = user_tags;
        Ok(v)
    }

    /// The encryption of a copy of a snapshot encrypted as `source`, made under `choice`, that
    /// failed before its data key could be made: still encrypted, under the key it was to use.
    pub(crate) fn unkeyed(
        &self,
        choice: &rules::KeyChoice,
        source: &SnapshotEncryption,
    ) -> SnapshotEncryption {
        match self.requested_key_arn(choice, source.data_key()) {
            Some(key_arn) => SnapshotEncryption::NoDataKey { key_arn },
            None => SnapshotEncryption::Plain,
        }
    }

    /// The pending record of a snapshot of `vol` that a capture job will fill.
    pub(crate) fn pending_snapshot_of(
        &self,
        vol: &super::model::VolumeRec,
        new_id: &str,
        description: Option<String>,
    ) -> SnapshotRec {
        SnapshotRec {
            permissions: Default::default(),
            id: new_id.to_owned(),
            region: vol.region.clone(),
            volume_id: vol.id.clone(),
            size_gib: vol.size_gib,
            sector_size: vol.sector_size,
            state: SnapshotState::Pending,
            state_message: None,
            start_time: now_iso(),
            owner_id: self.account().to_owned(),
            description: description.unwrap_or_default(),
            encryption: vol.encryption.clone().into(),
            has_data: false,
        }
    }

    /// A snapshot of `vol` (same encryption, same data key, same context): its record and file.
    pub(crate) fn snapshot_of_volume(
        &self,
        vol: &super::model::VolumeRec,
        new_id: &str,
        description: String,
        p: &dyn Progress,
    ) -> Result<(SnapshotRec, crate::blob::TempBlob)> {
        let planned = super::Planned {
            encryption: vol.encryption.clone(),
            plan: super::DataPlan::Clone {
                source: vol.id.clone(),
            },
        };
        let size = vol.size_gib * GIB;
        let tmp = self.produce(
            new_id,
            size,
            vol.sector_size,
            &planned,
            Some((size, vol.encryption.as_ref())),
            p,
        )?;
        let rec = SnapshotRec {
            permissions: Default::default(),
            id: new_id.to_owned(),
            region: vol.region.clone(),
            volume_id: vol.id.clone(),
            size_gib: vol.size_gib,
            sector_size: vol.sector_size,
            state: SnapshotState::Completed,
            state_message: None,
            start_time: now_iso(),
            owner_id: self.account().to_owned(),
            description,
            encryption: vol.encryption.clone().into(),
            has_data: true,
        };
        Ok((rec, tmp))
    }

    pub(super) fn delete_snapshot(&mut self, r: rq::SnapshotIdOnly) -> Result<out::Empty> {
        let region = self.region().to_owned();
        self.cat.write(|tx| {
            let s = self.owned_snapshot(tx, &r.snapshot_id)?;
            if let Some(img) = image_using(tx, &region, &s.id)? {
                bail!(
                    Code::INVALID_SNAPSHOT_IN_USE,
                    "The snapshot {} is currently in use by {}",
                    s.id,
                    img
                );
            }
            if s.state == SnapshotState::Pending && !s.has_data {
                bail!(
                    Code::INCORRECT_STATE,
                    "The snapshot '{}' is being copied; delete it once it is 'completed'.",
                    s.id
                );
            }
            tx.delete::<SnapshotRec>(&s.id)?;
            tags::remove(tx, &s.id)?;
            if s.has_data {
                self.store.remove_in(tx, &s.id)?;
            }
            Ok(())
        })?;
        Ok(out::Empty {})
    }
}

/// The first registered image of `region` whose mapping references `snapshot_id`.
pub(crate) fn image_using(
    tx: &crate::catalog::Tx<'_>,
    region: &str,
    snapshot_id: &str,
) -> Result<Option<String>> {
    Ok(tx
        .list::<ImageRec>(region)?
        .into_iter()
        .find(|i| {
            i.state != ImageState::Deregistered
                && i.mappings
                    .iter()
                    .any(|m| m.snapshot_id.as_deref() == Some(snapshot_id))
        })
        .map(|i| i.id))
}

/// The tasks and target of a job capturing `vols` into the pending snapshots `snaps` (same
/// order), and the pending image that maps them, if any: each copy keeps the volume's data key,
/// so it is a copy of the ciphertext.
pub(crate) fn capture_job(
    vols: &[&super::model::VolumeRec],
    snaps: &[&SnapshotRec],
    image: Option<String>,
) -> (Vec<Task>, Target) {
    let tasks = vols
        .iter()
        .zip(snaps)
        .map(|(v, s)| Task {
            new_id: s.id.clone(),
            size: v.size_gib * GIB,
            sector_size: v.sector_size,
            encryption: v.encryption.clone(),
            source: Some(SourceRef {
                id: v.id.clone(),
                size: v.size_gib * GIB,
                encryption: v.encryption.clone(),
            }),
        })
        .collect();
    let ids = snaps.iter().map(|s| s.id.clone()).collect();
    (tasks, Target::Snapshots { ids, image })
}
