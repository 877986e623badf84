//! What a CopyImage (or a CopySnapshot) would do, without doing it: the checks CopyImage makes
//! before it plans keys, then, per distinct source snapshot, the encryption outcome of SEMANTICS.md §2 from
//! [`rules::encryption_outcome`] (the function CopyImage itself calls) and the key it resolves
//! to. Read-only: one read transaction, rolled back, so resolving `alias/aws/ebs` creates
//! nothing; no data key is made, no row written. The console shows it before a copy is sent.
//! A CopySnapshot's preview is the same outcome for its one snapshot.

use super::model::SnapshotRec;
use super::rules::{self, encryption_outcome, KeyChoice, Source};
use super::Core;
use crate::api::{Context, Engine};
use crate::catalog::Tx;
use crate::error::{bail, Code, Result};
use crate::request::{CopyImage, CopySnapshot};
use serde::Serialize;

/// What a copy does to one source snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct SnapshotOutcome {
    /// The devices of the source image that map the snapshot (one copy serves all of them).
    pub device_names: Vec<String>,
    /// The source snapshot.
    pub snapshot_id: String,
    /// The source snapshot's key ARN; `None` when it is unencrypted.
    pub source_kms_key_id: Option<String>,
    /// `unencrypted` (stays plain), `kept` (same key and data key), `re-encrypt` (another key,
    /// a new data key) or `encrypt` (plain to encrypted, a new data key).
    pub action: &'static str,
    /// Where the key came from: `none`, `source`, `given` or `default`.
    pub key_from: &'static str,
    /// The given key as the request named it, for `given`.
    pub requested_key: Option<String>,
    /// The ARN of the key the copy gets, when it is known now: the source's key, a given key
    /// that resolves, or a configured default key. `None` for the AWS managed `aws/ebs` key
    /// before its first use, and when the given key does not resolve.
    pub kms_key_id: Option<String>,
    /// The error the copy's snapshot would fail with (`Code: message`): AWS reports a key
    /// that is missing, disabled or pending deletion asynchronously, as a failed copy.
    pub key_problem: Option<String>,
}

impl Engine {
    /// The per-snapshot outcome of CopyImage request `input` (AWS member names) run as `ctx`
    /// (whose region is the destination), without running it.
    ///
    /// # Errors
    /// The errors CopyImage answers before it plans keys: a malformed request
    /// (`InvalidParameterValue`), a bad AMI name, `KmsKeyId` without `Encrypted`
    /// (`InvalidParameterDependency`), an unknown or unavailable image, an AMI name in use, and
    /// `Encrypted=false` on an encrypted snapshot (`InvalidRequest`).
    pub fn preview_copy_image(
        &self,
        ctx: &Context,
        input: serde_json::Value,
    ) -> Result<Vec<SnapshotOutcome>> {
        let r: CopyImage = serde_json::from_value(input).map_err(|e| {
            crate::error::Error::new(
                Code::INVALID_PARAMETER_VALUE,
                format!("Invalid CopyImage request: {e}"),
            )
        })?;
        let core = self.core(ctx)?;
        core.preview_copy_image(&r)
    }
}

impl Engine {
    /// What CopySnapshot request `input` (AWS member names) run as `ctx` (whose region is the
    /// destination) would do to its source snapshot, without running it: the same outcome as a
    /// [`Engine::preview_copy_image`] row (`device_names` empty).
    ///
    /// # Errors
    /// The errors CopySnapshot answers before it plans keys: a malformed request
    /// (`InvalidParameterValue`), an unknown or unfinished snapshot, `KmsKeyId` without
    /// `Encrypted` (`InvalidParameterDependency`), `Encrypted=false` on an encrypted snapshot
    /// (`InvalidRequest`).
    pub fn preview_copy_snapshot(
        &self,
        ctx: &Context,
        input: serde_json::Value,
    ) -> Result<SnapshotOutcome> {
        let r: CopySnapshot = serde_json::from_value(input).map_err(|e| {
            crate::error::Error::new(
                Code::INVALID_PARAMETER_VALUE,
                format!("Invalid CopySnapshot request: {e}"),
            )
        })?;
        self.core(ctx)?.preview_copy_snapshot(&r)
    }
}

impl Core<'_> {
    fn preview_copy_image(&self, r: &CopyImage) -> Result<Vec<SnapshotOutcome>> {
        if !rules::valid_region(&r.source_region) {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "Invalid source region: {}",
                r.source_region
            );
        }
        rules::check_ami_name(&r.name)?;
        let same_region = r.source_region == self.region();
        self.cat.read(|tx| {
            let src = self.image(tx, &r.source_region, &r.source_image_id)?;
            if src.state != super::model::ImageState::Available {
                bail!(
                    Code::INVALID_AMI_ID_UNAVAILABLE,
                    "Image {} is not available (it is {})",
                    src.id,
                    src.state_str()
                );
            }
            let mut out: Vec<SnapshotOutcome> = Vec::new();
            let mut snaps = Vec::new();
            for m in &src.mappings {
                let Some(sid) = &m.snapshot_id else { continue };
                if let Some(o) = out.iter_mut().find(|o| o.snapshot_id == *sid) {
                    o.device_names.push(m.device_name.clone());
                    continue;
                }
                let s = self.completed_snapshot(tx, &r.source_region, sid)?;
                out.push(SnapshotOutcome {
                    device_names: vec![m.device_name.clone()],
                    snapshot_id: s.id.clone(),
                    source_kms_key_id: s.encryption.data_key().map(|e| e.key_arn().to_owned()),
                    action: "unencrypted",
                    key_from: "none",
                    requested_key: None,
                    kms_key_id: None,
                    key_problem: None,
                });
                snaps.push(s);
            }
            self.check_name_free(tx, &r.name)?;
            rules::refuse_unencrypted_copy(
                r.encrypted,
                snaps
                    .iter()
                    .find(|s| s.encryption.data_key().is_some())
                    .map(|s| s.id.as_str()),
            )?;
            let ebd = self.ebd(tx)?;
            for (o, snap) in out.iter_mut().zip(&snaps) {
                self.outcome(
                    tx,
                    o,
                    snap,
                    same_region,
                    r.encrypted,
                    r.kms_key_id.as_deref(),
                    ebd,
                )?;
            }
            Ok(out)
        })
    }

    /// Fills in `o`, the outcome for source snapshot `snap`, for a copy into this core's region
    /// asking `encrypted` and `kms_key_id` (encryption by default `ebd`): what CopyImage and
    /// CopySnapshot decide for each snapshot, from [`encryption_outcome`].
    #[allow(clippy::too_many_arguments)]
    fn outcome(
        &self,
        tx: &Tx<'_>,
        o: &mut SnapshotOutcome,
        snap: &SnapshotRec,
        same_region: bool,
        encrypted: Option<bool>,
        kms_key_id: Option<&str>,
        ebd: bool,
    ) -> Result<()> {
        let source = match &o.source_kms_key_id {
            Some(key_arn) => Source::Encrypted {
                key_arn,
                // Another account's key is never kept (as CopyImage decides).
                reusable: same_region && snap.owner_id == self.account(),
            },
            None => Source::Plain,
        };
        let choice = encryption_outcome(source, encrypted, kms_key_id, ebd)?;
        let (key_from, target) = match &choice {
            KeyChoice::Unencrypted => ("none", Ok(None)),
            KeyChoice::SameAsSource => ("source", Ok(o.source_kms_key_id.clone())),
            KeyChoice::Named(k) => {
                o.requested_key = Some(k.clone());
                // A key that resolves is named by its ARN even when the copy could not
                // use it (disabled, pending deletion, not permitted).
                let key = self.kms.resolve(tx, &self.caller, k).map(|key| {
                    let usable =
                        self.kms
                            .authorize(&key, &self.caller, "GenerateDataKeyWithoutPlaintext");
                    if let Err(e) = usable {
                        o.key_problem = Some(format!("{}: {}", e.code(), e.message()));
                    }
                    Some(key.arn)
                });
                ("given", key)
            }
            KeyChoice::Default => {
                let configured = tx.setting(&super::model::default_key_setting(
                    self.account(),
                    self.region(),
                ))?;
                let key = match configured {
                    Some(k) => self.kms.resolve(tx, &self.caller, &k).map(|k| Some(k.arn)),
                    // `aws/ebs` is made on its first use; this transaction is rolled
                    // back, so a key that appears here does not exist yet.
                    None => Ok(None),
                };
                ("default", key)
            }
        };
        o.key_from = key_from;
        match target {
            Ok(arn) => o.kms_key_id = arn,
            Err(e) => o.key_problem = Some(format!("{}: {}", e.code(), e.message())),
        }
        o.action = match (&o.source_kms_key_id, &choice) {
            (_, KeyChoice::Unencrypted) => "unencrypted",
            (Some(_), KeyChoice::SameAsSource) => "kept",
            (Some(src), _) if o.kms_key_id.as_deref() == Some(src) => "kept",
            (Some(_), _) => "re-encrypt",
            (None, _) => "encrypt",
        };
        Ok(())
    }

    fn preview_copy_snapshot(&self, r: &CopySnapshot) -> Result<SnapshotOutcome> {
        if !rules::valid_region(&r.source_region) {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "Invalid source region: {}",
                r.source_region
            );
        }
        let same_region = r.source_region == self.region();
        self.cat.read(|tx| {
            let s = self.completed_snapshot(tx, &r.source_region, &r.source_snapshot_id)?;
            // CopySnapshot's own refusal, before any key is planned.
            if r.encrypted == Some(false) && s.encryption.is_encrypted() {
                bail!(
                    Code::INVALID_REQUEST,
                    "Snapshot {} is encrypted. Creating unencrypted copy from an encrypted \
                     snapshot is not supported.",
                    s.id
                );
            }
            let mut o = SnapshotOutcome {
                device_names: Vec::new(),
                snapshot_id: s.id.clone(),
                source_kms_key_id: s.encryption.key_arn().map(str::to_owned),
                action: "unencrypted",
                key_from: "none",
                requested_key: None,
                kms_key_id: None,
                key_problem: None,
            };
            let ebd = self.ebd(tx)?;
            self.outcome(
                tx,
                &mut o,
                &s,
                same_region,
                r.encrypted,
                r.kms_key_id.as_deref(),
                ebd,
            )?;
            Ok(o)
        })
    }
}
