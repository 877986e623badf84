//! The EBS direct APIs: a snapshot written block by block over the API (StartSnapshot,
//! PutSnapshotBlock, CompleteSnapshot) and read the same way (ListSnapshotBlocks,
//! ListChangedBlocks, GetSnapshotBlock).
//!
//! A started snapshot is a normal snapshot row in state `pending` whose blob file is in place
//! from the start (so recovery keeps it); each block is checked against its SHA-256 and
//! encrypted under the snapshot's data key straight into the file — plaintext is never stored.
//! CompleteSnapshot makes it `completed`, after which it is a snapshot like any other (register,
//! copy, launch, mount).

use super::model::{Encryption, SnapshotRec, SnapshotState};
use super::responses as out;
use super::rules::{encryption_outcome, Source};
use super::{Core, DataPlan, GIB};
use crate::api::{Context, Engine};
use crate::clock::now_iso;
use crate::error::{bail, Code, Error, Result};
use crate::progress::NoProgress;
use crate::xts::Xts;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The block size of the EBS direct APIs: 512 KiB.
pub const BLOCK_SIZE: u64 = 512 * 1024;
/// The largest snapshot the APIs accept, in GiB (EBS's limit).
const MAX_VOLUME_SIZE: u64 = 65_536;
/// Blocks per ListSnapshotBlocks/ListChangedBlocks page when MaxResults is not given.
const DEFAULT_PAGE: usize = 10_000;
/// PutSnapshotBlock hashes and encrypts a block in slices of this size, each encrypted right
/// after it is hashed, while it is still in the core's cache.
const FUSED_SLICE: usize = 64 * 1024;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StartSnapshot {
    pub volume_size: u64,
    pub parent_snapshot_id: Option<String>,
    pub description: Option<String>,
    pub encrypted: Option<bool>,
    pub kms_key_arn: Option<String>,
    /// Accepted as AWS does; a started snapshot never times out here.
    #[allow(dead_code)]
    pub timeout: Option<u64>,
    /// Accepted as AWS does; StartSnapshot is not idempotent here.
    #[allow(dead_code)]
    pub client_token: Option<String>,
    #[serde(default)]
    pub tags: Vec<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PutSnapshotBlock {
    pub snapshot_id: String,
    pub block_index: u64,
    pub data_length: u64,
    pub checksum: String,
    pub checksum_algorithm: String,
    /// Accepted as AWS does; progress is not shown for direct snapshots.
    #[allow(dead_code)]
    pub progress: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CompleteSnapshot {
    pub snapshot_id: String,
    /// Accepted as AWS does; every block was checked by its own checksum on the way in.
    #[allow(dead_code)]
    pub changed_blocks_count: u64,
    /// Accepted as AWS does (see `changed_blocks_count`).
    #[allow(dead_code)]
    pub checksum: Option<String>,
    pub checksum_algorithm: Option<String>,
    /// Accepted as AWS does (see `changed_blocks_count`).
    #[allow(dead_code)]
    pub checksum_aggregation_method: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListSnapshotBlocks {
    pub snapshot_id: String,
    pub max_results: Option<usize>,
    pub next_token: Option<String>,
    pub starting_block_index: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListChangedBlocks {
    pub first_snapshot_id: Option<String>,
    pub second_snapshot_id: String,
    pub max_results: Option<usize>,
    pub next_token: Option<String>,
    pub starting_block_index: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GetSnapshotBlock {
    pub snapshot_id: String,
    pub block_index: u64,
    pub block_token: String,
}

fn validation(reason: &str, message: impl Into<String>) -> Error {
    Error::new(
        Code::VALIDATION_EXCEPTION,
        format!("{} (Reason: {reason})", message.into()),
    )
}

fn not_found(id: &str) -> Error {
    Error::new(
        Code::RESOURCE_NOT_FOUND_EXCEPTION,
        format!("The snapshot '{id}' does not exist. (Reason: SNAPSHOT_NOT_FOUND)"),
    )
}

/// The base64 SHA-256 of `data`, as the APIs' `Checksum` members carry it.
pub fn block_checksum(data: &[u8]) -> String {
    crate::base64::encode(&Sha256::digest(data))
}

/// The opaque token of block `index` of `snapshot`: GetSnapshotBlock accepts only tokens that
/// ListSnapshotBlocks/ListChangedBlocks gave for that snapshot and block.
fn block_token(snapshot: &str, index: u64) -> String {
    let mut h = Sha256::new();
    h.update(b"blockseal ebs block token\0");
    h.update(snapshot.as_bytes());
    h.update(index.to_le_bytes());
    let d = h.finalize();
    format!("{index:x}.{}", hex::encode(&d[..12]))
}

/// The first block index and the size of a page: the later of `NextToken` (the next block
/// index, as we hand it out) and `StartingBlockIndex`; `MaxResults` within 100..=10000.
fn page(
    next_token: Option<&str>,
    starting: Option<u64>,
    max_results: Option<usize>,
) -> Result<(u64, usize)> {
    let next = next_token.map_or(Ok(0), |t| {
        t.parse::<u64>()
            .map_err(|_| validation("INVALID_PAGE_TOKEN", "The pagination token is not valid."))
    })?;
    let size = max_results.unwrap_or(DEFAULT_PAGE).clamp(100, DEFAULT_PAGE);
    Ok((next.max(starting.unwrap_or(0)), size))
}

/// An EBS direct API operation with its request (the streaming block travels beside it).
#[derive(Debug, Clone)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum EbsRequest {
    StartSnapshot(StartSnapshot),
    PutSnapshotBlock(PutSnapshotBlock),
    CompleteSnapshot(CompleteSnapshot),
    ListSnapshotBlocks(ListSnapshotBlocks),
    ListChangedBlocks(ListChangedBlocks),
    GetSnapshotBlock(GetSnapshotBlock),
}

impl EbsRequest {
    /// Parses operation `op`'s members (as the REST-JSON codec gathers them from the path,
    /// query, headers and body).
    ///
    /// # Errors
    /// `ValidationException` for members of the wrong shape; `InvalidAction` for another name.
    pub fn parse(op: &str, input: Value) -> Result<EbsRequest> {
        Ok(match op {
            "StartSnapshot" => EbsRequest::StartSnapshot(parse_json(input)?),
            "PutSnapshotBlock" => EbsRequest::PutSnapshotBlock(parse_json(input)?),
            "CompleteSnapshot" => EbsRequest::CompleteSnapshot(parse_json(input)?),
            "ListSnapshotBlocks" => EbsRequest::ListSnapshotBlocks(parse_json(input)?),
            "ListChangedBlocks" => EbsRequest::ListChangedBlocks(parse_json(input)?),
            "GetSnapshotBlock" => EbsRequest::GetSnapshotBlock(parse_json(input)?),
            _ => bail!(
                Code::INVALID_ACTION,
                "The action {op} is not valid for this web service."
            ),
        })
    }
}

/// An EBS direct API operation's answer; its serde form is the JSON members (GetSnapshotBlock's
/// block is not among them: see [`EbsResponse::block_data`]).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum EbsResponse {
    StartSnapshot(out::StartSnapshotResult),
    PutSnapshotBlock(out::PutSnapshotBlockResult),
    CompleteSnapshot(out::CompleteSnapshotResult),
    ListSnapshotBlocks(out::ListSnapshotBlocksResult),
    ListChangedBlocks(out::ListChangedBlocksResult),
    GetSnapshotBlock(out::GetSnapshotBlockResult),
}

impl EbsResponse {
    /// GetSnapshotBlock's block, taken out of the answer.
    pub fn block_data(&mut self) -> Option<Vec<u8>> {
        match self {
            EbsResponse::GetSnapshotBlock(r) => Some(std::mem::take(&mut r.block_data)),
            _ => None,
        }
    }
}

/// When block tokens stop being valid: an hour from now, as AWS gives them.
fn token_expiry() -> String {
    crate::clock::iso(crate::clock::now_millis() + 3_600_000)
}

fn parse_json<T: serde::de::DeserializeOwned>(v: Value) -> Result<T> {
    T::deserialize(v).map_err(|e| validation("INVALID_PARAMETER_VALUE", format!("{e}")))
}

impl Core<'_> {
    /// A snapshot of this region by id, for the direct APIs' error codes.
    fn direct_snapshot(&self, id: &str) -> Result<SnapshotRec> {
        let region = self.region().to_owned();
        self.cat
            .read(|tx| self.snapshot(tx, &region, id))
            .map_err(|e| match e.code() {
                c if c == Code::INVALID_SNAPSHOT_NOT_FOUND => not_found(id),
                c if c == Code::INVALID_SNAPSHOT_ID_MALFORMED => {
                    validation("INVALID_PARAMETER_VALUE", e.message().to_owned())
                }
                _ => e,
            })
    }

    /// The snapshot's XTS transform (KMS Decrypt as the caller), `None` when unencrypted.
    fn direct_xts(&self, enc: Option<&Encryption>) -> Result<Option<Xts>> {
        self.cat.read_mostly(|tx| self.xts_of(tx, enc))
    }

    pub(crate) fn start_snapshot(&mut self, r: StartSnapshot) -> Result<out::StartSnapshotResult> {
        if r.volume_size == 0 || r.volume_size > MAX_VOLUME_SIZE {
            bail!(
                Code::VALIDATION_EXCEPTION,
                "VolumeSize must be between 1 and {MAX_VOLUME_SIZE} GiB, not {} \
                 (Reason: INVALID_VOLUME_SIZE)",
                r.volume_size
            );
        }
        let parent = match &r.parent_snapshot_id {
            Some(p) => {
                let s = self.direct_snapshot(p)?;
                if s.state != SnapshotState::Completed || !s.has_data {
                    bail!(
                        Code::VALIDATION_EXCEPTION,
                        "The parent snapshot {p} is not completed (Reason: INVALID_PARENT_SNAPSHOT_ID)"
                    );
                }
                // A child holds its parent's blocks at their places: same size, checked before
                // any data moves.
                if s.size_gib > r.volume_size {
                    bail!(
                        Code::VALIDATION_EXCEPTION,
                        "VolumeSize {} is smaller than the parent snapshot's {} GiB \
                         (Reason: INVALID_VOLUME_SIZE)",
                        r.volume_size,
                        s.size_gib
                    );
                }
                if s.size_gib != r.volume_size {
                    bail!(
                        Code::VALIDATION_EXCEPTION,
                        "VolumeSize must equal the parent snapshot's size ({} GiB) \
                         (Reason: INVALID_VOLUME_SIZE)",
                        s.size_gib
                    );
                }
                Some(s)
            }
            None => None,
        };
        let source = match parent.as_ref().and_then(|p| p.encryption.data_key()) {
            Some(e) => Source::Encrypted {
                key_arn: e.key_arn(),
                reusable: true,
            },
            None => Source::Plain,
        };
        if parent
            .as_ref()
            .is_some_and(|p| p.encryption.data_key().is_some() && r.encrypted != Some(true))
        {
            bail!(
                Code::VALIDATION_EXCEPTION,
                "The parent snapshot is encrypted: Encrypted must be true \
                 (Reason: INVALID_PARAMETER_VALUE)"
            );
        }
        let ebd = self.cat.read(|tx| self.ebd(tx))?;
        let choice = encryption_outcome(source, r.encrypted, r.kms_key_arn.as_deref(), ebd)?;
        let id = Self::new_snapshot_id().to_string();
        let planned = self.cat.write(|tx| {
            self.plan(
                tx,
                parent
                    .as_ref()
                    .map(|p| (p.id.as_str(), p.encryption.data_key())),
                &choice,
                &id,
            )
        })?;
        // A parent's blocks are the new snapshot's starting point (AWS's incremental
        // snapshots); a different key re-encrypts them.
        let sector_size = parent.as_ref().map_or(4096, |p| p.sector_size);
        let size = r.volume_size * GIB;
        let mut tmp = match (&planned.plan, &parent) {
            (DataPlan::Empty, _) | (_, None) => {
                let h = Self::header(&id, size, sector_size, planned.encryption.as_ref());
                self.store.create_temp(&id, &h)?
            }
            (_, Some(p)) => self.produce(
                &id,
                size,
                sector_size,
                &planned,
                Some((p.size_gib * GIB, p.encryption.data_key())),
                &NoProgress,
            )?,
        };
        let rec = SnapshotRec {
            permissions: Default::default(),
            id: id.clone(),
            region: self.region().to_owned(),
            volume_id: "vol-ffffffff".into(),
            size_gib: r.volume_size,
            sector_size,
            state: SnapshotState::Pending,
            state_message: None,
            start_time: now_iso(),
            owner_id: self.account().to_owned(),
            description: r.description.clone().unwrap_or_default(),
            encryption: planned.encryption.into(),
            has_data: true,
        };
        tmp.set_record(rec.blob_record(true))?;
        self.cat.write(|tx| {
            tmp.persist_in(tx)?;
            tx.put(&rec)
        })?;
        Ok(out::StartSnapshotResult {
            kms_key_arn: rec.key_arn().map(str::to_owned),
            snapshot_id: rec.id,
            owner_id: rec.owner_id,
            status: "pending".to_owned(),
            start_time: rec.start_time,
            volume_size: rec.size_gib,
            block_size: BLOCK_SIZE,
            tags: r.tags,
            description: r.description,
            parent_snapshot_id: r.parent_snapshot_id,
        })
    }

    fn check_block(&self, s: &SnapshotRec, index: u64) -> Result<()> {
        let blocks = s.size_gib * GIB / BLOCK_SIZE;
        if index >= blocks {
            return Err(validation(
                "INVALID_BLOCK",
                format!(
                    "Block index {index} is past the end of {} ({blocks} blocks)",
                    s.id
                ),
            ));
        }
        Ok(())
    }

    /// Checks and stores one block. `data` is encrypted in place, so no plaintext copy is made
    /// and `data` holds ciphertext afterwards, even when the block is refused for its checksum:
    /// nothing reaches the file unless the checksum matches.
    pub(crate) fn put_snapshot_block(
        &mut self,
        r: PutSnapshotBlock,
        data: &mut [u8],
    ) -> Result<out::PutSnapshotBlockResult> {
        let s = self.direct_snapshot(&r.snapshot_id)?;
        if s.owner_id != self.account() {
            // Only the owner writes a snapshot; one shared with the caller is read-only.
            return Err(not_found(&s.id));
        }
        if s.state != SnapshotState::Pending {
            return Err(validation(
                "INVALID_SNAPSHOT_STATE",
                format!(
                    "The snapshot {} is not pending (it is {}).",
                    s.id,
                    s.state_str()
                ),
            ));
        }
        self.check_block(&s, r.block_index)?;
        if r.checksum_algorithm != "SHA256" {
            return Err(validation(
                "UNSUPPORTED_CHECKSUM_ALGORITHM",
                format!(
                    "Checksum algorithm {} is not supported",
                    r.checksum_algorithm
                ),
            ));
        }
        if r.data_length != BLOCK_SIZE || data.len() as u64 != BLOCK_SIZE {
            return Err(validation(
                "INVALID_BLOCK",
                format!(
                    "A block must be {BLOCK_SIZE} bytes (DataLength {}, body {} bytes)",
                    r.data_length,
                    data.len()
                ),
            ));
        }
        let bad_checksum = || {
            validation(
                "INVALID_CHECKSUM",
                "The checksum does not match the block data.",
            )
        };
        // The key comes first so that each slice is encrypted right after it is hashed; a block
        // with a wrong checksum is refused for that even if the key cannot be had, as when the
        // checksum was checked first.
        let xts = match self.direct_xts(s.encryption.data_key()) {
            Ok(xts) => xts,
            Err(_) if block_checksum(data) != r.checksum => return Err(bad_checksum()),
            Err(e) => return Err(e),
        };
        let ss = s.sector_size as usize;
        let first = r.block_index * BLOCK_SIZE / u64::from(s.sector_size);
        let slice = (FUSED_SLICE / ss).max(1) * ss;
        let mut sha = Sha256::new();
        for (k, part) in data.chunks_mut(slice).enumerate() {
            sha.update(&*part);
            if let Some(xts) = &xts {
                let at = first + (k * slice / ss) as u64;
                crate::blob::encrypt_in_place(xts, at, ss, part);
            }
        }
        if crate::base64::encode(&sha.finalize()) != r.checksum {
            return Err(bad_checksum());
        }
        let blob = self.store.open_rw(&s.id)?;
        blob.write_encrypted_sectors(first, xts.as_ref(), s.sector_size, data)?;
        Ok(out::PutSnapshotBlockResult {
            checksum: r.checksum,
            checksum_algorithm: "SHA256".to_owned(),
        })
    }

    pub(crate) fn complete_snapshot(
        &mut self,
        r: CompleteSnapshot,
    ) -> Result<out::CompleteSnapshotResult> {
        let completed = || out::CompleteSnapshotResult {
            status: "completed".to_owned(),
        };
        let s = self.direct_snapshot(&r.snapshot_id)?;
        if s.owner_id != self.account() {
            // Only the owner writes a snapshot; one shared with the caller is read-only.
            return Err(not_found(&s.id));
        }
        if let Some(a) = &r.checksum_algorithm {
            if a != "SHA256" {
                return Err(validation(
                    "UNSUPPORTED_CHECKSUM_ALGORITHM",
                    format!("Checksum algorithm {a} is not supported"),
                ));
            }
        }
        match s.state {
            SnapshotState::Pending => {}
            SnapshotState::Completed => return Ok(completed()),
            SnapshotState::Error => {
                return Err(validation(
                    "INVALID_SNAPSHOT_STATE",
                    format!("The snapshot {} is in state error.", s.id),
                ))
            }
        }
        // Durable before it is shown completed.
        self.store.open_rw(&s.id)?.sync()?;
        let region = self.region().to_owned();
        self.cat.write(|tx| {
            let mut s = self.snapshot(tx, &region, &r.snapshot_id)?;
            if s.state == SnapshotState::Pending {
                s.state = SnapshotState::Completed;
                tx.put(&s)?;
            }
            Ok(())
        })?;
        Ok(completed())
    }

    /// A completed snapshot for reading, and the indices of its blocks that hold data.
    fn readable(&self, id: &str) -> Result<(SnapshotRec, Vec<u64>)> {
        let s = self.direct_snapshot(id)?;
        if s.state != SnapshotState::Completed || !s.has_data {
            return Err(validation(
                "INVALID_SNAPSHOT_STATE",
                format!(
                    "The snapshot {} is not completed (it is {}).",
                    s.id,
                    s.state_str()
                ),
            ));
        }
        let blob = self.open_blob(&s.id, s.size_gib * GIB, s.encryption.data_key())?;
        let mut blocks: Vec<u64> = Vec::new();
        for (a, b) in blob.data_extents()? {
            let (first, last) = (a / BLOCK_SIZE, b.div_ceil(BLOCK_SIZE));
            for i in first..last {
                if blocks.last() != Some(&i) {
                    blocks.push(i);
                }
            }
        }
        Ok((s, blocks))
    }

    fn read_block(&self, s: &SnapshotRec, xts: Option<&Xts>, index: u64) -> Result<Vec<u8>> {
        let blob = self.open_blob(&s.id, s.size_gib * GIB, s.encryption.data_key())?;
        let mut buf = vec![0u8; BLOCK_SIZE as usize];
        blob.read_sectors(index * BLOCK_SIZE / u64::from(s.sector_size), xts, &mut buf)?;
        Ok(buf)
    }

    pub(crate) fn list_snapshot_blocks(
        &mut self,
        r: ListSnapshotBlocks,
    ) -> Result<out::ListSnapshotBlocksResult> {
        let (s, blocks) = self.readable(&r.snapshot_id)?;
        let (from, page) = page(
            r.next_token.as_deref(),
            r.starting_block_index,
            r.max_results,
        )?;
        let listed: Vec<u64> = blocks.into_iter().filter(|&i| i >= from).collect();
        let (now, rest) = listed.split_at(listed.len().min(page));
        Ok(out::ListSnapshotBlocksResult {
            blocks: now
                .iter()
                .map(|&i| out::Block {
                    block_index: i,
                    block_token: block_token(&s.id, i),
                })
                .collect(),
            expiry_time: token_expiry(),
            volume_size: s.size_gib,
            block_size: BLOCK_SIZE,
            next_token: rest.first().map(u64::to_string),
        })
    }

    pub(crate) fn list_changed_blocks(
        &mut self,
        r: ListChangedBlocks,
    ) -> Result<out::ListChangedBlocksResult> {
        let (second, second_blocks) = self.readable(&r.second_snapshot_id)?;
        let first = r
            .first_snapshot_id
            .as_deref()
            .map(|id| self.readable(id))
            .transpose()?;
        if let Some((f, _)) = &first {
            if f.size_gib != second.size_gib {
                return Err(validation(
                    "INVALID_VOLUME_SIZE",
                    "The two snapshots must be of the same size.",
                ));
            }
        }
        let (from, page) = page(
            r.next_token.as_deref(),
            r.starting_block_index,
            r.max_results,
        )?;
        let mut all: Vec<u64> = second_blocks.clone();
        if let Some((_, fb)) = &first {
            all.extend(fb);
        }
        all.sort_unstable();
        all.dedup();
        let second_xts = self.direct_xts(second.encryption.data_key())?;
        let first_xts = match &first {
            Some((f, _)) => self.direct_xts(f.encryption.data_key())?,
            None => None,
        };
        let mut changed = Vec::new();
        let mut next = None;
        for i in all.into_iter().filter(|&i| i >= from) {
            if changed.len() == page {
                next = Some(i);
                break;
            }
            let in_second = second_blocks.binary_search(&i).is_ok();
            let mut entry = out::ChangedBlock {
                block_index: i,
                first_block_token: None,
                second_block_token: None,
            };
            match &first {
                None => {
                    entry.second_block_token = Some(block_token(&second.id, i));
                }
                Some((f, fb)) => {
                    let in_first = fb.binary_search(&i).is_ok();
                    if in_first && in_second {
                        let a = self.read_block(f, first_xts.as_ref(), i)?;
                        let b = self.read_block(&second, second_xts.as_ref(), i)?;
                        if a == b {
                            continue;
                        }
                    }
                    if in_first {
                        entry.first_block_token = Some(block_token(&f.id, i));
                    }
                    if in_second {
                        entry.second_block_token = Some(block_token(&second.id, i));
                    }
                }
            }
            changed.push(entry);
        }
        Ok(out::ListChangedBlocksResult {
            changed_blocks: changed,
            expiry_time: token_expiry(),
            volume_size: second.size_gib,
            block_size: BLOCK_SIZE,
            next_token: next.map(|n| n.to_string()),
        })
    }

    pub(crate) fn get_snapshot_block(
        &mut self,
        r: GetSnapshotBlock,
    ) -> Result<out::GetSnapshotBlockResult> {
        let s = self.direct_snapshot(&r.snapshot_id)?;
        if s.state != SnapshotState::Completed || !s.has_data {
            return Err(validation(
                "INVALID_SNAPSHOT_STATE",
                format!(
                    "The snapshot {} is not completed (it is {}).",
                    s.id,
                    s.state_str()
                ),
            ));
        }
        self.check_block(&s, r.block_index)?;
        if r.block_token != block_token(&s.id, r.block_index) {
            return Err(validation(
                "INVALID_BLOCK_TOKEN",
                "The block token is not valid for this snapshot and block.",
            ));
        }
        let xts = self.direct_xts(s.encryption.data_key())?;
        let data = self.read_block(&s, xts.as_ref(), r.block_index)?;
        Ok(out::GetSnapshotBlockResult {
            data_length: BLOCK_SIZE,
            checksum: block_checksum(&data),
            checksum_algorithm: "SHA256".to_owned(),
            block_data: data,
        })
    }
}

impl Engine {
    /// Runs an EBS direct API operation. `payload` is PutSnapshotBlock's block (encrypted in
    /// place, so the caller's buffer holds ciphertext afterwards); GetSnapshotBlock's block is in
    /// its answer.
    ///
    /// # Errors
    /// `ValidationException` (with the AWS reason in the message) for bad input or a checksum
    /// mismatch; `ResourceNotFoundException` for an unknown snapshot; KMS errors for a key the
    /// caller cannot use.
    pub fn ebs(
        &self,
        ctx: &Context,
        request: EbsRequest,
        payload: Option<&mut [u8]>,
    ) -> Result<EbsResponse> {
        let mut core = self.core(ctx)?;
        let (op, snapshot) = match &request {
            EbsRequest::StartSnapshot(_) => ("StartSnapshot", None),
            EbsRequest::PutSnapshotBlock(r) => ("PutSnapshotBlock", Some(&r.snapshot_id)),
            EbsRequest::CompleteSnapshot(r) => ("CompleteSnapshot", Some(&r.snapshot_id)),
            EbsRequest::ListSnapshotBlocks(r) => ("ListSnapshotBlocks", Some(&r.snapshot_id)),
            EbsRequest::ListChangedBlocks(r) => ("ListChangedBlocks", Some(&r.second_snapshot_id)),
            EbsRequest::GetSnapshotBlock(r) => ("GetSnapshotBlock", Some(&r.snapshot_id)),
        };
        crate::iam::authz::authorize_ebs(&core.caller, op, snapshot.map(String::as_str))?;
        Ok(match request {
            EbsRequest::StartSnapshot(r) => EbsResponse::StartSnapshot(core.start_snapshot(r)?),
            EbsRequest::PutSnapshotBlock(r) => EbsResponse::PutSnapshotBlock(
                core.put_snapshot_block(r, payload.unwrap_or_default())?,
            ),
            EbsRequest::CompleteSnapshot(r) => {
                EbsResponse::CompleteSnapshot(core.complete_snapshot(r)?)
            }
            EbsRequest::ListSnapshotBlocks(r) => {
                EbsResponse::ListSnapshotBlocks(core.list_snapshot_blocks(r)?)
            }
            EbsRequest::ListChangedBlocks(r) => {
                EbsResponse::ListChangedBlocks(core.list_changed_blocks(r)?)
            }
            EbsRequest::GetSnapshotBlock(r) => {
                EbsResponse::GetSnapshotBlock(core.get_snapshot_block(r)?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The tests speak JSON, as the endpoint's codec does.
    trait Direct {
        fn ebs_direct(
            &self,
            ctx: &Context,
            op: &str,
            input: Value,
            payload: Option<&mut [u8]>,
        ) -> Result<(Value, Option<Vec<u8>>)>;
    }

    impl Direct for Engine {
        fn ebs_direct(
            &self,
            ctx: &Context,
            op: &str,
            input: Value,
            payload: Option<&mut [u8]>,
        ) -> Result<(Value, Option<Vec<u8>>)> {
            let mut out = self.ebs(ctx, EbsRequest::parse(op, input)?, payload)?;
            let data = out.block_data();
            Ok((serde_json::to_value(&out).unwrap(), data))
        }
    }

    fn engine() -> (tempfile::TempDir, Engine, Context) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let ctx = engine.context("us-east-1", "admin").unwrap();
        (dir, engine, ctx)
    }

    fn block(seed: u8) -> Vec<u8> {
        (0..BLOCK_SIZE as usize)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1)
            .collect()
    }

    fn put(e: &Engine, ctx: &Context, snap: &str, index: u64, data: &[u8]) -> Result<Value> {
        let input = json!({"SnapshotId": snap, "BlockIndex": index, "DataLength": data.len(),
                           "Checksum": block_checksum(data), "ChecksumAlgorithm": "SHA256"});
        e.ebs_direct(ctx, "PutSnapshotBlock", input, Some(&mut data.to_vec()))
            .map(|(v, _)| v)
    }

    #[test]
    fn blocks_written_encrypted_come_back_and_the_snapshot_is_normal() {
        let (dir, e, ctx) = engine();
        let key = e.invoke(&ctx, "CreateKey", json!({}), &NoProgress).unwrap()["KeyMetadata"]
            ["Arn"]
            .as_str()
            .unwrap()
            .to_owned();
        let start = json!({"VolumeSize": 1, "Encrypted": true, "KmsKeyArn": key});
        let (s, _) = e.ebs_direct(&ctx, "StartSnapshot", start, None).unwrap();
        assert_eq!(s["Status"], "pending");
        assert_eq!(s["BlockSize"], json!(BLOCK_SIZE));
        assert_eq!(s["KmsKeyArn"], json!(key));
        let snap = s["SnapshotId"].as_str().unwrap().to_owned();
        let (b3, b7) = (block(3), block(7));
        put(&e, &ctx, &snap, 3, &b3).unwrap();
        put(&e, &ctx, &snap, 7, &b7).unwrap();

        // A wrong checksum, a short block and an index past the end are refused.
        let mut bad = json!({"SnapshotId": snap, "BlockIndex": 1, "DataLength": BLOCK_SIZE,
                             "Checksum": block_checksum(&b7), "ChecksumAlgorithm": "SHA256"});
        let err = e
            .ebs_direct(&ctx, "PutSnapshotBlock", bad.clone(), Some(&mut b3.clone()))
            .unwrap_err();
        assert_eq!(err.code(), Code::VALIDATION_EXCEPTION);
        assert!(err.message().contains("INVALID_CHECKSUM"));
        bad["BlockIndex"] = json!(2048);
        bad["Checksum"] = json!(block_checksum(&b3));
        let err = e
            .ebs_direct(&ctx, "PutSnapshotBlock", bad, Some(&mut b3.clone()))
            .unwrap_err();
        assert!(err.message().contains("INVALID_BLOCK"), "{}", err.message());
        let err = put(&e, &ctx, &snap, 0, &b3[..4096]).unwrap_err();
        assert_eq!(err.code(), Code::VALIDATION_EXCEPTION);

        // Reading before completion is refused.
        let list = json!({"SnapshotId": snap});
        let err = e
            .ebs_direct(&ctx, "ListSnapshotBlocks", list.clone(), None)
            .unwrap_err();
        assert!(err.message().contains("INVALID_SNAPSHOT_STATE"));
        let done = json!({"SnapshotId": snap, "ChangedBlocksCount": 2});
        let (c, _) = e.ebs_direct(&ctx, "CompleteSnapshot", done, None).unwrap();
        assert_eq!(c["Status"], "completed");
        let err = put(&e, &ctx, &snap, 0, &b3).unwrap_err();
        assert!(err.message().contains("INVALID_SNAPSHOT_STATE"));

        let (l, _) = e
            .ebs_direct(&ctx, "ListSnapshotBlocks", list, None)
            .unwrap();
        let blocks = l["Blocks"].as_array().unwrap();
        let idx: Vec<u64> = blocks
            .iter()
            .map(|b| b["BlockIndex"].as_u64().unwrap())
            .collect();
        assert_eq!(idx, [3, 7]);
        let get =
            json!({"SnapshotId": snap, "BlockIndex": 7, "BlockToken": blocks[1]["BlockToken"]});
        let (meta, data) = e.ebs_direct(&ctx, "GetSnapshotBlock", get, None).unwrap();
        assert_eq!(data.unwrap(), b7);
        assert_eq!(meta["Checksum"], json!(block_checksum(&b7)));
        let forged =
            json!({"SnapshotId": snap, "BlockIndex": 3, "BlockToken": blocks[1]["BlockToken"]});
        let err = e
            .ebs_direct(&ctx, "GetSnapshotBlock", forged, None)
            .unwrap_err();
        assert!(err.message().contains("INVALID_BLOCK_TOKEN"));

        // No plaintext block on disk.
        let path = e.core(&ctx).unwrap().store.path_of(&snap);
        assert!(path.starts_with(dir.path()));
        let file = std::fs::read(path).unwrap();
        assert!(!file.windows(64).any(|w| w == &b7[4096..4160]));

        // It is a normal snapshot: described, registered.
        let d = e
            .invoke(
                &ctx,
                "DescribeSnapshots",
                json!({"SnapshotIds": [snap]}),
                &NoProgress,
            )
            .unwrap();
        assert_eq!(d["Snapshots"][0]["State"], "completed");
        assert_eq!(d["Snapshots"][0]["KmsKeyId"], json!(key));

        // A child of it starts from its blocks; ListChangedBlocks shows only the difference.
        let child = json!({"VolumeSize": 1, "Encrypted": true, "ParentSnapshotId": snap});
        let (c, _) = e.ebs_direct(&ctx, "StartSnapshot", child, None).unwrap();
        let child = c["SnapshotId"].as_str().unwrap().to_owned();
        put(&e, &ctx, &child, 3, &block(9)).unwrap();
        put(&e, &ctx, &child, 5, &block(5)).unwrap();
        let done = json!({"SnapshotId": child, "ChangedBlocksCount": 2});
        e.ebs_direct(&ctx, "CompleteSnapshot", done, None).unwrap();
        let diff = json!({"FirstSnapshotId": snap, "SecondSnapshotId": child});
        let (d, _) = e.ebs_direct(&ctx, "ListChangedBlocks", diff, None).unwrap();
        let idx: Vec<u64> = d["ChangedBlocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["BlockIndex"].as_u64().unwrap())
            .collect();
        assert_eq!(idx, [3, 5]);
    }

    #[test]
    fn unknown_and_malformed_snapshots() {
        let (_dir, e, ctx) = engine();
        let q = json!({"SnapshotId": "snap-0123456789abcdef0"});
        let err = e
            .ebs_direct(&ctx, "ListSnapshotBlocks", q, None)
            .unwrap_err();
        assert_eq!(err.code(), Code::RESOURCE_NOT_FOUND_EXCEPTION);
        let q = json!({"SnapshotId": "nope"});
        let err = e
            .ebs_direct(&ctx, "ListSnapshotBlocks", q, None)
            .unwrap_err();
        assert_eq!(err.code(), Code::VALIDATION_EXCEPTION);
        let err = e
            .ebs_direct(&ctx, "StartSnapshot", json!({"VolumeSize": 0}), None)
            .unwrap_err();
        assert_eq!(err.code(), Code::VALIDATION_EXCEPTION);
    }
}
