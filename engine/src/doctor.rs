//! `blockseal doctor`: checks a home — catalog rows ↔ data files ↔ their headers ↔ the KMS root
//! key — and, with repair, rebuilds what the files prove: rows of data files no row owns (from
//! the record in their headers), quarantined files put back under their rows, rows whose file is
//! missing or unreadable marked `error`. It never deletes a data file and never writes one's
//! bytes; a repair runs the same start-up recovery every command runs (which removes only what
//! a dead process's temporary name or commit marker proves unfinished).
//!
//! It opens the catalog, the root key and the folders itself instead of through
//! [`Engine::open`](crate::Engine::open), which refuses a broken home and moves files before
//! anything could be reported. Images are not in the headers: an image whose row was lost is
//! not rebuilt (its snapshots are), see docs/OPERATIONS.md.

use crate::api::{
    catalog_is_blank, ACCOUNT_SETTING, CATALOG_FILE, ROOT_KEY_FILE, ROOT_KEY_SETTING,
};
use crate::blob::{pid_alive, BlobHeader, BlobStore, Listing, TmpEntry, RECORD_DIRECT};
use crate::catalog::{Catalog, Tx};
use crate::ec2::model::{Encryption, SnapshotRec, SnapshotState, VolumeRec, VolumeState};
use crate::ec2::{rules, GIB};
use crate::error::{bail, Code, Result};
use crate::kms::{Kms, WrappedKey};
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;

/// One thing found wrong with a home.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Finding {
    /// The resource (`vol-…`, `snap-…`) or the home's file (`catalog.db`, `kms-root.key`,
    /// `tmp/…`) the finding is about.
    pub resource_id: String,
    /// An AWS-style code: `CorruptFile`, `InvalidHome`, `UnownedDataFile`,
    /// `UnfinishedOperation`, `IncorrectState`, or the KMS error of a data key that does not
    /// open (`NotFoundException`, `InvalidCiphertextException`, …).
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// What a repair does (or did) about it; it starts with `none` when nothing can be done
    /// from the home's own files.
    pub repair: String,
    /// With repair only: whether that was done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repaired: Option<bool>,
    #[serde(skip)]
    action: Action,
}

/// What `blockseal doctor` reports.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DoctorReport {
    /// The home checked.
    pub home: String,
    /// What was found (before any repair).
    pub findings: Vec<Finding>,
    /// With repair only: what a check right after the repair finds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<Vec<Finding>>,
}

impl DoctorReport {
    /// Whether nothing is left to report: no finding, or none left after the repair.
    pub fn healthy(&self) -> bool {
        self.remaining.as_ref().unwrap_or(&self.findings).is_empty()
    }
}

/// What a repair does about a finding.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Action {
    /// Nothing can be done from the home's files.
    None,
    /// Mark the row `error` (its file is kept as it is).
    MarkError,
    /// The row is marked `error` but its file is whole again: put the row back in service.
    ClearError,
    /// Rebuild the row from the header of `blobs/<name>` or `quarantine/<name>`.
    Adopt { name: String, quarantined: bool },
    /// Move `quarantine/<name>`, which matches the row, back to `blobs/<id>`.
    Restore { name: String },
    /// Start-up recovery removes it (a dead process's temporary or commit marker).
    Recover,
}

impl Finding {
    fn new(id: &str, code: Code, message: String, repair: String, action: Action) -> Finding {
        Finding {
            resource_id: id.to_owned(),
            code: code.to_string(),
            message,
            repair,
            repaired: None,
            action,
        }
    }
}

/// The parts of a home that opened well enough to be checked.
struct Opened<'a> {
    home: &'a Path,
    store: BlobStore,
    cat: Catalog,
    /// None when the root key is missing, damaged or another home's (reported).
    kms: Option<Kms>,
    account: String,
}

/// Checks the home `home`; with `repair`, repairs what its files prove and checks again.
///
/// A home whose catalog or root key is unusable is reported (`InvalidHome`, `CorruptFile`), not
/// refused, and nothing is repaired in it.
///
/// # Errors
/// `InvalidHome` if `home` is not a folder; a catalog of a newer schema (`CorruptFile`); I/O
/// and SQLite errors.
pub fn doctor(home: &Path, repair: bool) -> Result<DoctorReport> {
    if !home.is_dir() {
        bail!(
            Code::INVALID_HOME,
            "{} is not a blockseal home: no such folder",
            home.display()
        );
    }
    let mut report = DoctorReport {
        home: home.display().to_string(),
        findings: Vec::new(),
        remaining: None,
    };
    let Some(h) = open(home, &mut report.findings)? else {
        if repair {
            mark_unrepaired(&mut report.findings);
            report.remaining = Some(strip(&report.findings));
        }
        return Ok(report);
    };
    if !repair {
        report.findings.extend(h.cat.read(|tx| examine(&h, tx))?);
        return Ok(report);
    }
    if !report.findings.is_empty() {
        // The root key is not this home's (or is gone): rows cannot be trusted to be adopted,
        // nor wrapped keys checked. Report only.
        report.findings.extend(h.cat.read(|tx| examine(&h, tx))?);
        mark_unrepaired(&mut report.findings);
        report.remaining = Some(strip(&report.findings));
        return Ok(report);
    }
    // Under the write lock, like start-up recovery: no other process is between renaming a file
    // into place and committing its row while files are judged and moved.
    report.findings = h.cat.write(|tx| {
        let mut found = examine(&h, tx)?;
        for f in &mut found {
            f.repaired = Some(apply(&h, tx, f)?);
        }
        let mut live: HashSet<String> = tx
            .list_all::<VolumeRec>()?
            .into_iter()
            .map(|v| v.id)
            .collect();
        live.extend(
            tx.list_all::<SnapshotRec>()?
                .into_iter()
                .filter(|s| s.has_data)
                .map(|s| s.id),
        );
        h.store.recover(|id| live.contains(id))?;
        Ok(found)
    })?;
    report.remaining = Some(h.cat.read(|tx| examine(&h, tx))?);
    Ok(report)
}

fn mark_unrepaired(findings: &mut [Finding]) {
    for f in findings {
        f.repaired = Some(false);
    }
}

/// The findings as a fresh check would show them (no `Repaired`).
fn strip(findings: &[Finding]) -> Vec<Finding> {
    findings
        .iter()
        .map(|f| Finding {
            repaired: None,
            ..f.clone()
        })
        .collect()
}

const RESTORE_ROOT_KEY: &str = "none: restore kms-root.key from a backup of this home";

/// Opens the catalog and the root key, reporting what is wrong with them; None when the
/// catalog cannot be used at all.
fn open<'a>(home: &'a Path, findings: &mut Vec<Finding>) -> Result<Option<Opened<'a>>> {
    let cat_path = home.join(CATALOG_FILE);
    if catalog_is_blank(&cat_path)? {
        findings.push(Finding::new(
            CATALOG_FILE,
            Code::INVALID_HOME,
            format!("The catalog {} is missing or empty.", cat_path.display()),
            "none: restore catalog.db (with catalog.db-wal if the backup has one) from a \
             backup of this home"
                .to_owned(),
            Action::None,
        ));
        return Ok(None);
    }
    let cat = Catalog::open(&cat_path)?;
    let (account, recorded) =
        cat.read(|tx| Ok((tx.setting(ACCOUNT_SETTING)?, tx.setting(ROOT_KEY_SETTING)?)))?;
    let Some(account) = account else {
        findings.push(Finding::new(
            CATALOG_FILE,
            Code::INVALID_HOME,
            format!(
                "The catalog {} records no account: it is not a home's catalog.",
                cat_path.display()
            ),
            "none: restore catalog.db from a backup of this home".to_owned(),
            Action::None,
        ));
        return Ok(None);
    };
    let key_path = home.join(ROOT_KEY_FILE);
    let kms = match Kms::open(home) {
        Ok(kms) => match recorded {
            Some(fp) if fp != kms.fingerprint() => {
                findings.push(Finding::new(
                    ROOT_KEY_FILE,
                    Code::INVALID_HOME,
                    format!(
                        "The catalog {} records another KMS root key than {}: the catalog is \
                         another home's, or the key is.",
                        cat_path.display(),
                        key_path.display()
                    ),
                    "none: put back this home's own catalog.db or kms-root.key from a backup"
                        .to_owned(),
                    Action::None,
                ));
                None
            }
            _ => Some(kms),
        },
        Err(e) => {
            findings.push(Finding::new(
                ROOT_KEY_FILE,
                e.code(),
                e.message().to_owned(),
                RESTORE_ROOT_KEY.to_owned(),
                Action::None,
            ));
            None
        }
    };
    Ok(Some(Opened {
        home,
        store: BlobStore::new(home)?,
        cat,
        kms,
        account,
    }))
}

/// A catalog row that should have a data file.
enum Row<'a> {
    Volume(&'a VolumeRec),
    Snapshot(&'a SnapshotRec),
}

impl Row<'_> {
    fn id(&self) -> &str {
        match self {
            Row::Volume(v) => &v.id,
            Row::Snapshot(s) => &s.id,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            Row::Volume(_) => "volume",
            Row::Snapshot(_) => "snapshot",
        }
    }
    fn size(&self) -> u64 {
        match self {
            Row::Volume(v) => v.size_gib * GIB,
            Row::Snapshot(s) => s.size_gib * GIB,
        }
    }
    fn sector_size(&self) -> u32 {
        match self {
            Row::Volume(v) => v.sector_size,
            Row::Snapshot(s) => s.sector_size,
        }
    }
    fn encryption(&self) -> Option<&Encryption> {
        match self {
            Row::Volume(v) => v.encryption.as_ref(),
            Row::Snapshot(s) => s.encryption.data_key(),
        }
    }
    fn in_error(&self) -> bool {
        match self {
            Row::Volume(v) => v.state == VolumeState::Error,
            Row::Snapshot(s) => s.state == SnapshotState::Error,
        }
    }
}

/// The id a file of `quarantine/` was quarantined as: `<id>` or `<id>.<n>`.
fn quarantined_id(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// How the header `h` disagrees with `row`, if it does.
fn disagreement(h: &BlobHeader, row: &Row<'_>) -> Option<String> {
    let mut diffs = Vec::new();
    if h.owner != row.id() {
        diffs.push(format!("it names {:?} as its owner", h.owner));
    }
    if h.size != row.size() {
        diffs.push(format!(
            "its size is {} bytes, the row's {}",
            h.size,
            row.size()
        ));
    }
    if h.sector_size != row.sector_size() {
        diffs.push(format!(
            "its sector size is {}, the row's {}",
            h.sector_size,
            row.sector_size()
        ));
    }
    match row.encryption() {
        None if h.cipher.is_some() => diffs.push("it is encrypted, the row is not".to_owned()),
        None => {}
        Some(_) if h.cipher.is_none() => diffs.push("it is not encrypted, the row is".to_owned()),
        Some(e) => {
            if h.cipher != Some(e.cipher()) {
                diffs.push("its cipher differs".to_owned());
            }
            if h.key_arn != e.key_arn() {
                diffs.push(format!(
                    "its KMS key is {}, the row's {}",
                    h.key_arn,
                    e.key_arn()
                ));
            }
            if h.dek_id != e.wrapped.dek_id {
                diffs.push(format!(
                    "its data key id is {}, the row's {}",
                    h.dek_id, e.wrapped.dek_id
                ));
            }
            if h.wrapped_key != e.wrapped.blob || h.context_id != e.context_id {
                diffs.push("its wrapped data key differs from the row's".to_owned());
            }
        }
    }
    (!diffs.is_empty()).then(|| diffs.join("; "))
}

/// Everything wrong with the rows and files of an opened home, as seen in `tx`.
fn examine(h: &Opened<'_>, tx: &Tx<'_>) -> Result<Vec<Finding>> {
    let listing = h.store.listing()?;
    let mut out = Vec::new();
    // Ids whose `blobs/` file a commit marker explains (a running or a dead commit).
    let mut marked: HashSet<&str> = HashSet::new();
    for name in &listing.tmp {
        let (id, pid, what) = match TmpEntry::parse(name) {
            TmpEntry::Temp { id, pid } => (id, pid, "a data file being written"),
            TmpEntry::Marker { id, pid } => {
                marked.insert(id);
                (id, pid, "the commit marker")
            }
            TmpEntry::Other => {
                out.push(Finding::new(
                    &format!("tmp/{name}"),
                    Code::UNOWNED_DATA_FILE,
                    format!("tmp/{name} is not a file blockseal writes."),
                    "none: it is not blockseal's; it is left alone".to_owned(),
                    Action::None,
                ));
                continue;
            }
        };
        if pid_alive(pid) {
            continue; // an operation under way
        }
        out.push(Finding::new(
            &format!("tmp/{name}"),
            Code::UNFINISHED_OPERATION,
            format!(
                "tmp/{name} is {what} of {id} by process {pid}, which is gone: an operation \
                 that never finished."
            ),
            "start-up recovery removes it, as every blockseal command does first (with \
             blobs/ files that only a commit marker of it explains)"
                .to_owned(),
            Action::Recover,
        ));
    }

    let volumes = tx.list_all::<VolumeRec>()?;
    let snapshots = tx.list_all::<SnapshotRec>()?;
    let mut owned: HashSet<&str> = HashSet::new();
    let mut restoring: HashSet<&str> = HashSet::new();
    let mut rows = Vec::new();
    for v in &volumes {
        owned.insert(&v.id);
        // A creating volume's file is its job's temporary until the job commits.
        if v.state != VolumeState::Creating {
            rows.push(Row::Volume(v));
        }
    }
    for s in snapshots.iter().filter(|s| s.has_data) {
        owned.insert(&s.id);
        rows.push(Row::Snapshot(s));
    }
    for row in &rows {
        let f = check_row(h, tx, row, &listing)?;
        if let Some(Finding {
            action: Action::Restore { name },
            ..
        }) = &f
        {
            restoring.extend(
                listing
                    .quarantine
                    .iter()
                    .find(|n| *n == name)
                    .map(|n| n.as_str()),
            );
        }
        out.extend(f);
    }

    let mut adopting: HashSet<&str> = HashSet::new();
    for name in &listing.blobs {
        if owned.contains(name.as_str()) || marked.contains(name.as_str()) {
            continue;
        }
        let f = unowned(h, tx, name, false);
        if matches!(f.action, Action::Adopt { .. }) {
            adopting.insert(name);
        }
        out.push(f);
    }
    for name in &listing.quarantine {
        if restoring.contains(name.as_str()) {
            continue;
        }
        let id = quarantined_id(name);
        if owned.contains(id) || adopting.contains(id) || listing.blobs.iter().any(|b| b == id) {
            out.push(Finding::new(
                id,
                Code::UNOWNED_DATA_FILE,
                format!(
                    "quarantine/{name} is another copy of {id}, which already has its data \
                     file or its row."
                ),
                "none: the copy is kept in quarantine; compare it and remove it yourself"
                    .to_owned(),
                Action::None,
            ));
            continue;
        }
        let f = unowned(h, tx, name, true);
        if matches!(f.action, Action::Adopt { .. }) {
            adopting.insert(id);
        }
        out.push(f);
    }
    Ok(out)
}

/// What is wrong with `row`'s data file, if anything.
fn check_row(
    h: &Opened<'_>,
    tx: &Tx<'_>,
    row: &Row<'_>,
    listing: &Listing,
) -> Result<Option<Finding>> {
    let (id, kind) = (row.id(), row.kind());
    let path = h.store.path_of(id);
    let problem = match h.store.inspect(&path) {
        Err(e) => Some(format!(
            "The data file of {kind} {id} cannot be used: {}",
            e.message()
        )),
        Ok(header) => disagreement(&header, row).map(|d| {
            format!(
                "The header of {} does not agree with the catalog row of {kind} {id}: {d}",
                path.display()
            )
        }),
    };
    if let Some(message) = problem {
        let missing = std::fs::symlink_metadata(&path).is_err();
        let copy = listing.quarantine.iter().find(|n| {
            quarantined_id(n) == id
                && h.store
                    .inspect(&h.store.quarantine_path(n))
                    .is_ok_and(|q| disagreement(&q, row).is_none())
        });
        let (repair, action) = match copy {
            Some(name) if missing => (
                format!("move quarantine/{name}, which matches the row, back to blobs/{id}"),
                Action::Restore { name: name.clone() },
            ),
            _ if !row.in_error() => (
                format!(
                    "mark {kind} {id} error (its file, if any, is kept as it is); then restore \
                     blobs/{id} from a backup of this home, or delete the {kind}"
                ),
                Action::MarkError,
            ),
            _ => (
                format!(
                    "none: {kind} {id} is marked error; restore blobs/{id} from a backup of \
                     this home, or delete the {kind}"
                ),
                Action::None,
            ),
        };
        return Ok(Some(Finding::new(
            id,
            Code::CORRUPT_FILE,
            message,
            repair,
            action,
        )));
    }
    if row.in_error() {
        return Ok(Some(Finding::new(
            id,
            Code::INCORRECT_STATE,
            format!("{kind} {id} is marked error, but its data file is whole and agrees with it."),
            format!("put {kind} {id} back in service"),
            Action::ClearError,
        )));
    }
    if let (Some(kms), Some(e)) = (&h.kms, row.encryption()) {
        if let Err(err) = kms.verify_data_key(tx, &e.wrapped, &e.context_id) {
            return Ok(Some(Finding::new(
                id,
                err.code(),
                format!(
                    "The data key of {kind} {id} does not open under its KMS key {}: {}",
                    e.key_arn(),
                    err.message()
                ),
                "none: its data cannot be read without that KMS key".to_owned(),
                Action::None,
            )));
        }
    }
    Ok(None)
}

/// The finding for a data file no row owns: `blobs/<name>` or `quarantine/<name>`.
fn unowned(h: &Opened<'_>, tx: &Tx<'_>, name: &str, quarantined: bool) -> Finding {
    let folder = if quarantined { "quarantine" } else { "blobs" };
    let id = if quarantined {
        quarantined_id(name)
    } else {
        name
    };
    let path = h.home.join(folder).join(name);
    match adoptable(h, tx, &path, id) {
        Ok(header) => {
            let kind = if id.starts_with("vol-") {
                "volume"
            } else {
                "snapshot"
            };
            let r = header.record.as_ref().map(|r| r.create_time.as_str());
            Finding::new(
                id,
                Code::UNOWNED_DATA_FILE,
                format!(
                    "{folder}/{name} is the data file of {kind} {id} (made {}), which no \
                     catalog row owns.",
                    r.unwrap_or("")
                ),
                if quarantined {
                    format!(
                        "rebuild the row of {kind} {id} from the file's header and move the \
                         file back to blobs/{id}"
                    )
                } else {
                    format!("rebuild the row of {kind} {id} from the file's header")
                },
                Action::Adopt {
                    name: name.to_owned(),
                    quarantined,
                },
            )
        }
        Err(why) => Finding::new(
            id,
            Code::UNOWNED_DATA_FILE,
            format!("{folder}/{name} is a data file no catalog row owns, and {why}."),
            format!(
                "none: no row can be rebuilt from it; the file {}",
                if quarantined {
                    "stays in quarantine"
                } else {
                    "goes to quarantine at start-up, as every blockseal command does"
                }
            ),
            Action::None,
        ),
    }
}

/// The header of the file at `path` if a row for `id` can be rebuilt from it; else why not.
fn adoptable(
    h: &Opened<'_>,
    tx: &Tx<'_>,
    path: &Path,
    id: &str,
) -> std::result::Result<BlobHeader, String> {
    if !(id.starts_with("vol-") || id.starts_with("snap-")) {
        return Err("its name is not a volume or snapshot id".to_owned());
    }
    let header = h
        .store
        .inspect(path)
        .map_err(|e| format!("it cannot be read ({})", e.message().trim_end_matches('.')))?;
    if header.owner != id {
        return Err(format!("its header names {:?} as its owner", header.owner));
    }
    let Some(r) = &header.record else {
        return Err(
            "its header was written before headers kept what rebuilding a row needs".to_owned(),
        );
    };
    if r.account != h.account {
        return Err(format!(
            "it belongs to account {}, not this home's {}",
            r.account, h.account
        ));
    }
    if !rules::valid_region(&r.region) {
        return Err(format!("its region {:?} is not valid", r.region));
    }
    if header.size == 0 || !header.size.is_multiple_of(GIB) {
        return Err(format!(
            "its size {} is not a whole number of GiB",
            header.size
        ));
    }
    if let Some(enc) = encryption_of(&header) {
        let Some(kms) = &h.kms else {
            return Err("the home's KMS root key cannot be used to check its data key".to_owned());
        };
        kms.verify_data_key(tx, &enc.wrapped, &enc.context_id)
            .map_err(|e| {
                format!(
                    "its data key does not open under {} ({}: {})",
                    enc.key_arn(),
                    e.code(),
                    e.message().trim_end_matches('.')
                )
            })?;
    }
    Ok(header)
}

fn encryption_of(h: &BlobHeader) -> Option<Encryption> {
    h.cipher.map(|cipher| Encryption {
        wrapped: WrappedKey {
            key_arn: h.key_arn.clone(),
            dek_id: h.dek_id.clone(),
            cipher,
            blob: h.wrapped_key.clone(),
        },
        context_id: h.context_id.clone(),
    })
}

/// A catalog row rebuilt from a data file's header.
enum Rebuilt {
    Volume(VolumeRec),
    Snapshot(SnapshotRec),
}

/// The row a file's header describes (`adoptable` accepted it); None without a record.
fn rebuild(h: &BlobHeader) -> Option<Rebuilt> {
    let r = h.record.as_ref()?;
    let encryption = encryption_of(h);
    let size_gib = h.size / GIB;
    if h.owner.starts_with("vol-") {
        Some(Rebuilt::Volume(VolumeRec {
            id: h.owner.clone(),
            region: r.region.clone(),
            owner_id: r.account.clone(),
            az: r.availability_zone.clone(),
            size_gib,
            sector_size: h.sector_size,
            volume_type: r.volume_type.clone(),
            snapshot_id: r.source_id.clone(),
            state: VolumeState::Available,
            create_time: r.create_time.clone(),
            encryption,
            attachment: None,
            iops: None,
            throughput: None,
        }))
    } else {
        Some(Rebuilt::Snapshot(SnapshotRec {
            permissions: Default::default(),
            id: h.owner.clone(),
            region: r.region.clone(),
            volume_id: r.source_id.clone(),
            size_gib,
            sector_size: h.sector_size,
            // A snapshot written through StartSnapshot may never have been completed; it comes
            // back open for writes, and CompleteSnapshot finishes it.
            state: if r.flags & RECORD_DIRECT != 0 {
                SnapshotState::Pending
            } else {
                SnapshotState::Completed
            },
            state_message: None,
            start_time: r.create_time.clone(),
            owner_id: r.account.clone(),
            description: r.description.clone(),
            encryption: encryption.into(),
            has_data: true,
        }))
    }
}

/// Carries out the repair of `f` in `tx`; whether it did anything.
fn apply(h: &Opened<'_>, tx: &Tx<'_>, f: &Finding) -> Result<bool> {
    let id = f.resource_id.as_str();
    match &f.action {
        Action::None => Ok(false),
        // `doctor` runs start-up recovery once all findings are handled.
        Action::Recover => Ok(true),
        Action::MarkError => {
            if let Some(mut v) = tx.get::<VolumeRec>(id)? {
                v.state = VolumeState::Error;
                tx.put(&v)?;
            } else if let Some(mut s) = tx.get::<SnapshotRec>(id)? {
                s.state = SnapshotState::Error;
                s.state_message = Some(f.message.clone());
                tx.put(&s)?;
            }
            Ok(true)
        }
        Action::ClearError => {
            if let Some(mut v) = tx.get::<VolumeRec>(id)? {
                v.state = if v.attachment.is_some() {
                    VolumeState::InUse
                } else {
                    VolumeState::Available
                };
                tx.put(&v)?;
            } else if let Some(mut s) = tx.get::<SnapshotRec>(id)? {
                let header = h.store.inspect(&h.store.path_of(id))?;
                let direct = header.record.is_some_and(|r| r.flags & RECORD_DIRECT != 0);
                s.state = if direct {
                    SnapshotState::Pending
                } else {
                    SnapshotState::Completed
                };
                s.state_message = None;
                tx.put(&s)?;
            }
            Ok(true)
        }
        Action::Restore { name } => {
            h.store.restore(name, id)?;
            Ok(true)
        }
        Action::Adopt { name, quarantined } => {
            let folder = if *quarantined { "quarantine" } else { "blobs" };
            let header = h.store.inspect(&h.home.join(folder).join(name))?;
            match rebuild(&header) {
                Some(Rebuilt::Volume(v)) => tx.put(&v)?,
                Some(Rebuilt::Snapshot(s)) => tx.put(&s)?,
                None => return Ok(false),
            }
            if *quarantined {
                h.store.restore(name, id)?;
            }
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use crate::Engine;
    use serde_json::json;

    /// A home with an encrypted imported snapshot and a plain volume; returns their ids.
    fn home() -> (tempfile::TempDir, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let ctx = engine.context("us-east-1", "admin").unwrap();
        let call =
            |op: &str, v: serde_json::Value| engine.invoke(&ctx, op, v, &NoProgress).unwrap();
        let raw = dir.path().join("disk.raw");
        std::fs::write(&raw, vec![0x5a; 1 << 20]).unwrap();
        let snap = call(
            "ImportSnapshot",
            json!({"File": raw.to_str().unwrap(), "Encrypted": true, "Description": "nightly"}),
        )["SnapshotTaskDetail"]["SnapshotId"]
            .as_str()
            .unwrap()
            .to_owned();
        std::fs::remove_file(&raw).unwrap();
        let vol = call(
            "CreateVolume",
            json!({"AvailabilityZone": "us-east-1b", "Size": 1, "VolumeType": "standard"}),
        )["VolumeId"]
            .as_str()
            .unwrap()
            .to_owned();
        (dir, snap, vol)
    }

    #[test]
    fn writers_fill_the_record_and_a_row_rebuilt_from_it_is_the_row() {
        let (dir, snap, vol) = home();
        let store = BlobStore::new(dir.path()).unwrap();
        let cat = Catalog::open(&dir.path().join(CATALOG_FILE)).unwrap();
        let (s, v) = cat
            .read(|tx| {
                Ok((
                    tx.get::<SnapshotRec>(&snap)?.unwrap(),
                    tx.get::<VolumeRec>(&vol)?.unwrap(),
                ))
            })
            .unwrap();
        let hs = store.inspect(&store.path_of(&snap)).unwrap();
        let Some(Rebuilt::Snapshot(rs)) = rebuild(&hs) else {
            panic!("a snapshot header rebuilds a snapshot row")
        };
        assert_eq!(
            serde_json::to_value(&rs).unwrap(),
            serde_json::to_value(&s).unwrap()
        );
        assert_eq!(rs.description, "nightly");
        let hv = store.inspect(&store.path_of(&vol)).unwrap();
        let Some(Rebuilt::Volume(rv)) = rebuild(&hv) else {
            panic!("a volume header rebuilds a volume row")
        };
        assert_eq!(
            serde_json::to_value(&rv).unwrap(),
            serde_json::to_value(&v).unwrap()
        );
        assert_eq!(
            (rv.az.as_str(), rv.volume_type.as_str()),
            ("us-east-1b", "standard")
        );
    }

    #[test]
    fn a_healthy_home_has_no_findings_and_a_repair_changes_nothing() {
        let (dir, _snap, _vol) = home();
        let report = doctor(dir.path(), false).unwrap();
        assert_eq!(report.findings, Vec::new());
        assert!(report.healthy());
        let report = doctor(dir.path(), true).unwrap();
        assert_eq!(report.findings, Vec::new());
        assert_eq!(report.remaining, Some(Vec::new()));
    }

    #[test]
    fn a_dropped_row_is_rebuilt_and_a_changed_header_is_reported() {
        let (dir, snap, vol) = home();
        let cat = Catalog::open(&dir.path().join(CATALOG_FILE)).unwrap();
        cat.write(|tx| tx.delete::<SnapshotRec>(&snap).map(drop))
            .unwrap();
        let report = doctor(dir.path(), false).unwrap();
        assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
        let f = &report.findings[0];
        assert_eq!(
            (f.resource_id.as_str(), f.code.as_str()),
            (snap.as_str(), "UnownedDataFile")
        );
        assert!(f.repair.starts_with("rebuild the row"), "{}", f.repair);
        let report = doctor(dir.path(), true).unwrap();
        assert_eq!(report.findings[0].repaired, Some(true));
        assert_eq!(report.remaining, Some(Vec::new()));
        assert!(cat
            .read(|tx| tx.get::<SnapshotRec>(&snap))
            .unwrap()
            .is_some());

        // The volume's row now says another size than its file.
        cat.write(|tx| {
            let mut v = tx.get::<VolumeRec>(&vol)?.unwrap();
            v.size_gib = 2;
            tx.put(&v)
        })
        .unwrap();
        let report = doctor(dir.path(), true).unwrap();
        let f = &report.findings[0];
        assert_eq!(
            (f.resource_id.as_str(), f.code.as_str()),
            (vol.as_str(), "CorruptFile")
        );
        assert!(
            f.message.contains("its size is 1073741824 bytes"),
            "{}",
            f.message
        );
        let v = cat.read(|tx| tx.get::<VolumeRec>(&vol)).unwrap().unwrap();
        assert_eq!(v.state, VolumeState::Error);
        assert!(
            dir.path().join("blobs").join(&vol).exists(),
            "the file is kept"
        );
        // What cannot be repaired stays reported, and a repair does not make it worse.
        let again = doctor(dir.path(), true).unwrap();
        assert_eq!(again.findings.len(), 1);
        assert_eq!(again.findings[0].repaired, Some(false));
        assert!(!again.healthy());
    }

    #[test]
    fn a_missing_root_key_is_reported_and_nothing_repaired() {
        let (dir, snap, _vol) = home();
        std::fs::remove_file(dir.path().join(ROOT_KEY_FILE)).unwrap();
        let cat = Catalog::open(&dir.path().join(CATALOG_FILE)).unwrap();
        cat.write(|tx| tx.delete::<SnapshotRec>(&snap).map(drop))
            .unwrap();
        let report = doctor(dir.path(), true).unwrap();
        let f = &report.findings[0];
        assert_eq!(
            (f.resource_id.as_str(), f.code.as_str()),
            (ROOT_KEY_FILE, "InvalidHome")
        );
        assert!(report.findings.iter().all(|f| f.repaired == Some(false)));
        assert!(cat
            .read(|tx| tx.get::<SnapshotRec>(&snap))
            .unwrap()
            .is_none());
        assert!(!report.healthy());
    }
}
