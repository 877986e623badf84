//! ImportSnapshot and DescribeImportSnapshotTasks: a disk image file (RAW, VMDK, VHD, qcow2)
//! becomes an encrypted or plain snapshot, through an import task as on AWS.
//!
//! The call is *admitted* at once: the request is checked, the file found and stamped (device,
//! inode, length, modification time), the data key made under the chosen KMS key, and an
//! import task stored `active` with a job. The job then parses the image (`crate::import`),
//! streams its bytes through the encrypting mover into a temporary blob and, in one
//! transaction, stores the snapshot and marks the task `completed` with its `SnapshotId` — or
//! marks it `deleted` with AWS's `ClientError: …` status message. A caller that waits (the CLI)
//! runs the same work inline. The file is read when the job runs: if it changed since the
//! call, the task fails rather than import something else (docs/DECISIONS.md).

use super::model::{Encryption, SnapshotRec, SnapshotState};
use super::requests as rq;
use super::responses as out;
use super::rules::{self, encryption_outcome, matches_filters, Source};
use super::{gib_ceil, Core, GIB};
use crate::blob::TempBlob;
use crate::catalog::Record;
use crate::clock::now_iso;
use crate::error::{bail, Code, Error, Result};
use crate::ids::ImportTaskId;
use crate::import::{self, Format};
use crate::jobs::{JobRec, JobState, Target, Task};
use crate::progress::Progress;
use crate::secret::random_u128;
use serde::{Deserialize, Serialize};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// An import task's life (`SnapshotTaskDetail.Status`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum ImportStatus {
    Active,
    Completed,
    Deleted,
}

impl ImportStatus {
    fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Active => "active",
            ImportStatus::Completed => "completed",
            ImportStatus::Deleted => "deleted",
        }
    }
}

/// What identifies the file an import reads: a file replaced or rewritten after the call has
/// another stamp.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
    pub mtime_ns: i128,
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        }
    }
}

/// The file an import job reads.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct ImportSource {
    pub path: String,
    pub format: Format,
    pub stamp: Stamp,
}

/// An import task row.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ImportTaskRec {
    pub id: String,
    pub region: String,
    pub owner_id: String,
    /// The task's description (the request's `Description`).
    pub description: String,
    /// The disk's description (`DiskContainer.Description`), the snapshot's description.
    pub disk_description: String,
    /// The snapshot the task makes; shown once it is completed.
    pub snapshot_id: String,
    pub sector_size: u32,
    pub status: ImportStatus,
    pub status_message: Option<String>,
    pub disk_image_size: u64,
    pub format: String,
    pub url: String,
    pub encryption: Option<Encryption>,
    pub client_token: Option<String>,
    pub start_time: String,
}

impl Record for ImportTaskRec {
    const TABLE: &'static str = "import_tasks";
    fn key(&self) -> String {
        self.id.clone()
    }
    fn region(&self) -> &str {
        &self.region
    }
}

impl ImportTaskRec {
    /// The task as AWS shows it; `job` is its job while it is active.
    pub(crate) fn view(&self, job: Option<&JobRec>) -> out::ImportSnapshotTask {
        let active = self.status == ImportStatus::Active;
        let (progress, message) = match (active, job.map(|j| (j.state, j.percent()))) {
            (false, _) => (None, self.status_message.clone()),
            (true, Some((JobState::Running { .. }, p))) => (
                Some(p.trim_end_matches('%').to_owned()),
                Some("downloading/converting".to_owned()),
            ),
            (true, _) => (Some("0".to_owned()), Some("pending".to_owned())),
        };
        out::ImportSnapshotTask {
            import_task_id: self.id.clone(),
            description: self.description.clone(),
            snapshot_task_detail: out::SnapshotTaskDetail {
                snapshot_id: (self.status == ImportStatus::Completed)
                    .then(|| self.snapshot_id.clone()),
                status: self.status.as_str().to_owned(),
                status_message: message,
                progress,
                disk_image_size: self.disk_image_size as f64,
                format: self.format.clone(),
                encrypted: self.encryption.is_some(),
                description: self.disk_description.clone(),
                url: self.url.clone(),
                kms_key_id: self.encryption.as_ref().map(|e| e.key_arn().to_owned()),
            },
        }
    }
}

/// The local path of a `DiskContainer.Url`: `file:///abs/path` or a plain path.
fn local_path(url: &str) -> Result<String> {
    if let Some(p) = url.strip_prefix("file://") {
        if !p.starts_with('/') {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "The URL {url} is not a file URL with an absolute path (file:///path/to/disk)"
            );
        }
        return Ok(p.to_owned());
    }
    if url.starts_with("s3://") {
        bail!(
            Code::INVALID_PARAMETER,
            "The URL {url} names an S3 object: blockseal has no S3; give a local file as \
             file:///path/to/disk"
        );
    }
    if url.contains("://") {
        bail!(
            Code::INVALID_PARAMETER,
            "The URL {url} is not supported: give a local file as file:///path/to/disk"
        );
    }
    if url.is_empty() {
        bail!(Code::INVALID_PARAMETER_VALUE, "The URL is empty");
    }
    Ok(url.to_owned())
}

/// Whether `r` may read the disk image it names, for a caller allowed to import only from files
/// under `dirs` (`None`: from any file). The path is resolved (`..`, symbolic links) before it
/// is compared, so neither leads out of a folder. S3 sources, a missing URL and other schemes
/// are left to [`source_of`], which refuses them with their own codes.
///
/// # Errors
/// `UnsupportedOperation` when `dirs` is empty (no import at all), or when the file is not
/// under one of them (or cannot be resolved).
pub(crate) fn check_source_allowed(dirs: Option<&[PathBuf]>, r: &rq::ImportSnapshot) -> Result<()> {
    let Some(dirs) = dirs else {
        return Ok(());
    };
    if dirs.is_empty() {
        bail!(
            Code::UNSUPPORTED_OPERATION,
            "ImportSnapshot reads disk images from S3, which this endpoint does not have: upload \
             a disk with the EBS direct APIs (StartSnapshot, PutSnapshotBlock, \
             CompleteSnapshot), start the server with --import-dir DIR to import \
             Url=file://DIR/…, or use `blockseal ec2 import-snapshot --file`."
        );
    }
    let named = match (&r.file, &r.disk_container) {
        (Some(f), _) => f,
        (None, Some(d)) if d.user_bucket.is_none() => match &d.url {
            Some(u) => u,
            None => return Ok(()),
        },
        _ => return Ok(()),
    };
    // The file `source_of` would read: a file URL's path, or a plain path.
    let path = match named.strip_prefix("file://") {
        Some(p) => p,
        None if named.contains("://") => return Ok(()),
        None => named.as_str(),
    };
    let inside = std::fs::canonicalize(path).is_ok_and(|p| {
        dirs.iter()
            .any(|d| std::fs::canonicalize(d).is_ok_and(|d| p.starts_with(d)))
    });
    if !inside {
        bail!(
            Code::UNSUPPORTED_OPERATION,
            "{named} is not a file under a folder this server imports from (--import-dir)"
        );
    }
    Ok(())
}

/// What the request names: the file, its format (`None`: find out from the file), the URL to
/// show and the disk's description.
fn source_of(r: &rq::ImportSnapshot) -> Result<(String, Option<Format>, String, Option<String>)> {
    match (&r.file, &r.disk_container) {
        (Some(_), Some(_)) => bail!(
            Code::INVALID_PARAMETER_COMBINATION,
            "File is the short form of DiskContainer: give one of them"
        ),
        (None, None) => bail!(
            Code::MISSING_PARAMETER,
            "The request must contain the parameter DiskContainer"
        ),
        (Some(f), None) => Ok((f.clone(), None, f.clone(), None)),
        (None, Some(d)) => {
            if d.user_bucket.is_some() {
                bail!(
                    Code::INVALID_PARAMETER,
                    "DiskContainer.UserBucket names an S3 object: blockseal has no S3; give a \
                     local file as DiskContainer.Url=file:///path/to/disk"
                );
            }
            let Some(url) = &d.url else {
                bail!(
                    Code::MISSING_PARAMETER,
                    "The request must contain the parameter DiskContainer.Url"
                );
            };
            let path = local_path(url)?;
            let format = match &d.format {
                Some(f) => Some(Format::parse(f).ok_or_else(|| {
                    Error::new(
                        Code::INVALID_PARAMETER_VALUE,
                        format!(
                            "Invalid value '{f}' for DiskContainer.Format. Valid values: VHD | \
                             VMDK | RAW (and QCOW2)"
                        ),
                    )
                })?),
                None => bail!(
                    Code::MISSING_PARAMETER,
                    "The request must contain the parameter DiskContainer.Format"
                ),
            };
            Ok((path, format, url.clone(), d.description.clone()))
        }
    }
}

/// Stats the disk image at `path`: a non-empty regular file.
fn stat(path: &str) -> Result<std::fs::Metadata> {
    match std::fs::metadata(path) {
        // Pseudo-files (/proc, /sys) claim to be empty regular files.
        Ok(m) if m.is_file() && m.len() == 0 => bail!(
            Code::INVALID_PARAMETER_VALUE,
            "The disk image {path} is empty (or a pseudo-file whose size is unknown)"
        ),
        Ok(m) if m.is_file() => Ok(m),
        Ok(_) => bail!(
            Code::INVALID_PARAMETER_VALUE,
            "The disk image {path} is not a regular file"
        ),
        Err(e) => bail!(
            Code::INVALID_PARAMETER_VALUE,
            "The disk image {path} cannot be read: {e}"
        ),
    }
}

/// The status message of an import that failed with `e`.
pub(crate) fn failure_message(e: &Error) -> String {
    let m = e.message();
    if let Some(at) = m.find("ClientError:").or_else(|| m.find("ServerError:")) {
        // A damaged image is found while it is read: its reason comes inside the read error.
        m[at..].to_owned()
    } else if super::is_key_problem(e) {
        format!("ClientError: The KMS key cannot be used: {m}")
    } else if e.code() == Code::INSUFFICIENT_STORAGE || e.kind() == crate::error::ErrorKind::Io {
        format!("ServerError: {m}")
    } else {
        format!("ClientError: {m}")
    }
}

impl Core<'_> {
    pub(super) fn import_snapshot(
        &mut self,
        r: rq::ImportSnapshot,
        p: &dyn Progress,
    ) -> Result<out::ImportSnapshotResult> {
        let _ = (&r.role_name, &r.client_data);
        // AWS tags the import task, not the snapshot it makes; the task's tags come back in the
        // answer.
        super::tags::check_specs(&r.tag_specifications, &["import-snapshot-task"])?;
        let task_tags = super::tags::spec_tags(&r.tag_specifications, "import-snapshot-task")?;
        let sector_size = r.sector_size.unwrap_or(4096);
        if sector_size != 512 && sector_size != 4096 {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "SectorSize must be 512 or 4096, not {sector_size}"
            );
        }
        let (path, format, url, disk_description) = source_of(&r)?;
        let region = self.region().to_owned();
        if let Some(token) = &r.client_token {
            let same = self.cat.read(|tx| {
                Ok(tx.list::<ImportTaskRec>(&region)?.into_iter().find(|t| {
                    t.owner_id == self.account() && t.client_token.as_deref() == Some(token)
                }))
            })?;
            if let Some(t) = same {
                return Ok(self.answer(&t, task_tags));
            }
        }
        let meta = stat(&path)?;
        let format = match format {
            Some(f) => f,
            // The short form finds the format in the file.
            None => {
                let file = std::fs::File::open(&path).map_err(|e| {
                    Error::new(
                        Code::INVALID_PARAMETER_VALUE,
                        format!("The disk image {path} cannot be read: {e}"),
                    )
                })?;
                import::sniff(&file).unwrap_or(Format::Raw)
            }
        };
        let snap_id = Self::new_snapshot_id();
        let ebd = self.cat.read(|tx| self.ebd(tx))?;
        let choice = encryption_outcome(Source::Plain, r.encrypted, r.kms_key_id.as_deref(), ebd)?;
        if r.cipher.is_some() && choice == rules::KeyChoice::Unencrypted {
            bail!(
                Code::INVALID_PARAMETER_COMBINATION,
                "Cipher applies only to an encrypted snapshot: add Encrypted (--encrypted) or \
                 turn on encryption by default"
            );
        }
        let description = r.description.clone().unwrap_or_default();
        let mut task = ImportTaskRec {
            id: ImportTaskId::generate(random_u128()).to_string(),
            region: region.clone(),
            owner_id: self.account().to_owned(),
            disk_description: disk_description.unwrap_or_else(|| description.clone()),
            description,
            snapshot_id: snap_id.to_string(),
            sector_size,
            status: ImportStatus::Active,
            status_message: None,
            disk_image_size: meta.len(),
            format: format.name().to_owned(),
            url,
            encryption: None,
            client_token: r.client_token.clone(),
            start_time: now_iso(),
        };
        let source = ImportSource {
            path,
            format,
            stamp: Stamp::of(&meta),
        };
        let wait = self.wait;
        task.encryption = self.cat.write(|tx| {
            let encryption = match self.target_key(tx, &choice)? {
                None => None,
                Some(key) => {
                    let (wrapped, _dk) = self.kms.generate_data_key(
                        tx,
                        &self.caller,
                        &key,
                        snap_id.as_str(),
                        r.cipher.unwrap_or(super::DEFAULT_CIPHER),
                    )?;
                    Some(Encryption {
                        wrapped,
                        context_id: snap_id.to_string(),
                    })
                }
            };
            let mut t = task.clone();
            t.encryption.clone_from(&encryption);
            tx.put(&t)?;
            if !wait {
                let job = Task {
                    new_id: t.snapshot_id.clone(),
                    size: source.stamp.len,
                    sector_size,
                    encryption: encryption.clone(),
                    source: None,
                };
                let target = Target::Import {
                    task: t.id,
                    source: source.clone(),
                };
                let id = self.queue_job(tx, "ImportSnapshot", vec![job], target)?;
                // Progress counts the image file's bytes (the task has no source blob).
                if let Some(mut j) = tx.get::<JobRec>(&id)? {
                    j.total_bytes = source.stamp.len;
                    tx.put(&j)?;
                }
            }
            Ok(encryption)
        })?;
        if !wait {
            return Ok(self.answer(&task, task_tags));
        }
        let made = self.import_blob(
            &task.snapshot_id,
            sector_size,
            task.encryption.as_ref(),
            &source,
            p,
        );
        // A waiting caller gets the failure's own code when it is not the image's fault (a
        // full disk, an I/O error, an unusable key); a bad image is InvalidParameterValue.
        let code = match &made {
            Err(e)
                if e.code() == Code::INSUFFICIENT_STORAGE
                    || e.kind() == crate::error::ErrorKind::Io
                    || super::is_key_problem(e) =>
            {
                e.code()
            }
            _ => Code::INVALID_PARAMETER_VALUE,
        };
        let task = self.finish_import(&task.id, made, None)?;
        if task.status == ImportStatus::Deleted {
            bail!(code, "{}", task.status_message.unwrap_or_default());
        }
        Ok(self.answer(&task, task_tags))
    }

    fn answer(&self, t: &ImportTaskRec, tags: Vec<out::Tag>) -> out::ImportSnapshotResult {
        let v = t.view(None);
        out::ImportSnapshotResult {
            import_task_id: v.import_task_id,
            description: v.description,
            snapshot_task_detail: v.snapshot_task_detail,
            tags,
        }
    }

    /// Makes the snapshot's blob from the image `src` in a temporary file.
    pub(crate) fn import_blob(
        &self,
        new_id: &str,
        sector_size: u32,
        encryption: Option<&Encryption>,
        src: &ImportSource,
        p: &dyn Progress,
    ) -> Result<TempBlob> {
        let path = Path::new(&src.path);
        let file = std::fs::File::open(path).map_err(|e| {
            Error::new(
                Code::INVALID_PARAMETER_VALUE,
                format!(
                    "ClientError: The disk image {} cannot be read: {e}",
                    src.path
                ),
            )
        })?;
        let meta = file
            .metadata()
            .map_err(|e| Error::io(format!("stat {}", src.path), e))?;
        if Stamp::of(&meta) != src.stamp {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "ClientError: The disk image {} changed after the import was requested",
                src.path
            );
        }
        let img = import::open(file, src.format)
            .map_err(|e| Error::new(Code::INVALID_PARAMETER_VALUE, e.to_string()))?;
        let to = self.cat.read_mostly(|tx| self.xts_of(tx, encryption))?;
        let size = gib_ceil(img.size()) * GIB;
        let header = Self::header(new_id, size, sector_size, encryption);
        let tmp = self.store.create_temp(new_id, &header)?;
        crate::rekey::import_image(&img, path, &tmp, to.as_ref(), p)?;
        Ok(tmp)
    }

    /// Ends import task `id` with the blob `made` (or its failure): in one transaction, the
    /// snapshot is stored and the task `completed`, or the task is `deleted` with the reason.
    /// A task no longer active is left as it is. `job`, the job that ran it, is deleted in the
    /// same transaction. Returns the task as it ends.
    pub(crate) fn finish_import(
        &self,
        id: &str,
        made: Result<TempBlob>,
        job: Option<&str>,
    ) -> Result<ImportTaskRec> {
        let made = match made {
            Ok(mut tmp) => {
                let t = self.cat.read(|tx| tx.get::<ImportTaskRec>(id))?;
                match t {
                    Some(t) => {
                        let rec = snapshot_of(&t, tmp.header().size / GIB);
                        tmp.set_record(rec.blob_record(false))?;
                        Ok((tmp, rec))
                    }
                    None => {
                        return Err(Error::new(Code::INTERNAL_ERROR, "the import task is gone"))
                    }
                }
            }
            Err(e) => Err(e),
        };
        self.cat.write(|tx| {
            if let Some(j) = job {
                tx.delete::<JobRec>(j)?;
            }
            let Some(mut t) = tx.get::<ImportTaskRec>(id)? else {
                return Err(Error::new(Code::INTERNAL_ERROR, "the import task is gone"));
            };
            if t.status != ImportStatus::Active {
                return Ok(t);
            }
            match made {
                Ok((tmp, rec)) => {
                    tmp.persist_in(tx)?;
                    tx.put(&rec)?;
                    t.status = ImportStatus::Completed;
                }
                Err(e) => {
                    t.status = ImportStatus::Deleted;
                    t.status_message = Some(failure_message(&e));
                }
            }
            tx.put(&t)?;
            Ok(t)
        })
    }

    pub(super) fn describe_import_snapshot_tasks(
        &mut self,
        r: rq::Describe,
    ) -> Result<Vec<out::ImportSnapshotTask>> {
        let region = self.region().to_owned();
        let (tasks, jobs) = self.cat.read(|tx| {
            let all = match &r.ids {
                Some(ids) => ids
                    .iter()
                    .map(|id| {
                        id.parse::<ImportTaskId>()?;
                        tx.get::<ImportTaskRec>(id)?
                            .filter(|t| t.region == region && t.owner_id == self.account())
                            .ok_or_else(|| {
                                Error::new(
                                    Code::INVALID_CONVERSION_TASK_ID,
                                    format!("The import task ID '{id}' does not exist"),
                                )
                            })
                    })
                    .collect::<Result<Vec<_>>>()?,
                None => tx
                    .list::<ImportTaskRec>(&region)?
                    .into_iter()
                    .filter(|t| t.owner_id == self.account())
                    .collect(),
            };
            let jobs = if all.iter().any(|t| t.status == ImportStatus::Active) {
                tx.list::<JobRec>(&region)?
            } else {
                Vec::new()
            };
            Ok((all, jobs))
        })?;
        let mut shown = Vec::new();
        for t in tasks {
            let job = jobs.iter().find(|j| j.makes(&t.id));
            let ok = matches_filters(&r.filters, |name| {
                Some(match name {
                    "import-task-id" => vec![t.id.clone()],
                    "task-state" | "status" => vec![t.status.as_str().to_owned()],
                    "format" => vec![t.format.clone()],
                    "snapshot-id" if t.status == ImportStatus::Completed => {
                        vec![t.snapshot_id.clone()]
                    }
                    "snapshot-id" => Vec::new(),
                    _ => return None,
                })
            })?;
            if ok {
                shown.push(t.view(job));
            }
        }
        Ok(shown)
    }
}

/// The snapshot a completed import task makes, `size_gib` large.
pub(crate) fn snapshot_of(t: &ImportTaskRec, size_gib: u64) -> SnapshotRec {
    SnapshotRec {
        id: t.snapshot_id.clone(),
        region: t.region.clone(),
        volume_id: "vol-ffffffff".into(),
        size_gib,
        sector_size: t.sector_size,
        state: SnapshotState::Completed,
        state_message: None,
        start_time: t.start_time.clone(),
        owner_id: t.owner_id.clone(),
        description: t.disk_description.clone(),
        encryption: t.encryption.clone().into(),
        has_data: true,
        permissions: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_local_files() {
        assert_eq!(local_path("file:///tmp/d.raw").unwrap(), "/tmp/d.raw");
        assert_eq!(local_path("d.raw").unwrap(), "d.raw");
        let e = local_path("s3://bucket/key").unwrap_err();
        assert_eq!(e.code(), Code::INVALID_PARAMETER);
        assert!(e.message().contains("no S3"), "{e}");
        assert_eq!(
            local_path("file://relative").unwrap_err().code(),
            Code::INVALID_PARAMETER_VALUE
        );
        assert_eq!(
            local_path("https://example.com/d").unwrap_err().code(),
            Code::INVALID_PARAMETER
        );
    }

    #[test]
    fn failures_read_as_aws_status_messages() {
        let e = Error::new(
            Code::INVALID_PARAMETER_VALUE,
            "ClientError: Disk validation failed [Unsupported VMDK File Format]: x",
        );
        assert_eq!(
            failure_message(&e),
            "ClientError: Disk validation failed [Unsupported VMDK File Format]: x"
        );
        let e = Error::new(Code::DISABLED_EXCEPTION, "key is disabled");
        assert!(failure_message(&e).starts_with("ClientError: The KMS key cannot be used"));
    }
}
