//! Instance operations: RunInstances, StartInstances, StopInstances, TerminateInstances,
//! DescribeInstances.

use super::images::DEFAULT_VOLUME_TYPE;
use super::instance_types::{self, DEFAULT_INSTANCE_TYPE};
use super::model::{
    Attachment, ImageRec, InstanceRec, InstanceState, SnapshotRec, VolumeRec, VolumeState,
};
use super::model::{ImageAttributes, LaunchParams};
use super::network;
use super::requests as rq;
use super::responses as out;
use super::rules::{self, canonical_device, encryption_outcome, matches_filters, Source};
use super::tags;
use super::volume_types::{self, Performance};
use super::{is_key_problem, Core, GIB};
use crate::catalog::Tx;
use crate::clock::now_iso;
use crate::error::{bail, Code, Result};
use crate::ids::ReservationId;
use crate::jobs::{SourceRef, Target, Task};
use crate::progress::Progress;
use crate::secret::random_u128;
use serde_json::json;

/// The state reason of an instance whose volumes' key cannot be used (SEMANTICS.md §13 rule 8).
pub(crate) const KMS_REASON: (&str, &str) = (
    "Client.InvalidKMSKey.InvalidState",
    "Client.InvalidKMSKey.InvalidState: The KMS key provided is in an incorrect state",
);

/// One volume a launch creates.
struct LaunchVolume {
    device: String,
    snapshot: Option<SnapshotRec>,
    size: u64,
    volume_type: String,
    delete_on_termination: bool,
    encrypted: Option<bool>,
    kms_key_id: Option<String>,
    iops: Option<u64>,
    throughput: Option<u64>,
    /// Checked by `volume_types::check` once the request's mapping is applied.
    perf: Performance,
}

impl Core<'_> {
    /// The AMI mapping overlaid by the request's (SEMANTICS.md §13 rule 2).
    fn effective_mapping(
        &self,
        tx: &Tx<'_>,
        img: &ImageRec,
        req: &[rq::BlockDeviceMapping],
    ) -> Result<Vec<LaunchVolume>> {
        let root = canonical_device(&img.root_device_name);
        let mut out = Vec::new();
        for m in img.mappings.iter().filter(|m| m.is_ebs()) {
            let snapshot = match &m.snapshot_id {
                Some(s) => Some(self.image_snapshot(tx, img, s)?),
                None => None,
            };
            out.push(LaunchVolume {
                device: m.device_name.clone(),
                snapshot,
                size: m.volume_size,
                volume_type: m.volume_type.clone(),
                delete_on_termination: m.delete_on_termination,
                encrypted: (m.snapshot_id.is_none() && m.encrypted).then_some(true),
                kms_key_id: None,
                iops: m.iops.map(u64::from),
                throughput: m.throughput.map(u64::from),
                perf: Performance::default(),
            });
        }
        let mut seen = Vec::new();
        for m in req {
            rules::check_device(&m.device_name)?;
            let dev = canonical_device(&m.device_name);
            if seen.contains(&dev) {
                bail!(
                    Code::INVALID_BLOCK_DEVICE_MAPPING,
                    "The device {} is mapped twice",
                    m.device_name
                );
            }
            seen.push(dev.clone());
            let pos = out.iter().position(|v| canonical_device(&v.device) == dev);
            if let Some(nd) = &m.no_device {
                if !nd.is_empty() {
                    bail!(Code::INVALID_REQUEST, "The request received was invalid");
                }
                if dev == root {
                    bail!(
                        Code::INVALID_BLOCK_DEVICE_MAPPING,
                        "The root device {} cannot be suppressed",
                        m.device_name
                    );
                }
                if let Some(i) = pos {
                    out.remove(i);
                }
                continue;
            }
            if m.virtual_name.is_some() {
                continue;
            }
            let Some(ebs) = &m.ebs else {
                bail!(
                    Code::MISSING_PARAMETER,
                    "The request must contain the parameter ebs"
                );
            };
            if ebs.kms_key_id.is_some() && ebs.encrypted != Some(true) {
                bail!(
                    Code::INVALID_PARAMETER_DEPENDENCY,
                    "The parameter KmsKeyId requires the parameter Encrypted to be set."
                );
            }
            let entry = match pos {
                Some(i) => &mut out[i],
                None => {
                    if ebs.volume_size.is_none() && ebs.snapshot_id.is_none() {
                        bail!(
                            Code::MISSING_PARAMETER,
                            "The request must contain the parameter size or snapshotId"
                        );
                    }
                    out.push(LaunchVolume {
                        device: m.device_name.clone(),
                        snapshot: None,
                        size: 0,
                        volume_type: DEFAULT_VOLUME_TYPE.into(),
                        delete_on_termination: false,
                        encrypted: None,
                        kms_key_id: None,
                        iops: None,
                        throughput: None,
                        perf: Performance::default(),
                    });
                    out.last_mut().expect("just pushed")
                }
            };
            if let Some(s) = &ebs.snapshot_id {
                entry.snapshot = Some(self.completed_snapshot(tx, &img.region, s)?);
            }
            if let Some(t) = &ebs.volume_type {
                if *t != entry.volume_type {
                    // The image's IOPS and throughput belong to its type.
                    entry.iops = None;
                    entry.throughput = None;
                }
                entry.volume_type = t.clone();
            }
            if ebs.iops.is_some() {
                entry.iops = ebs.iops;
            }
            if ebs.throughput.is_some() {
                entry.throughput = ebs.throughput;
            }
            if let Some(d) = ebs.delete_on_termination {
                entry.delete_on_termination = d;
            }
            if ebs.encrypted.is_some() {
                entry.encrypted = ebs.encrypted;
            }
            if ebs.kms_key_id.is_some() {
                entry.kms_key_id = ebs.kms_key_id.clone();
            }
            let snap_size = entry.snapshot.as_ref().map(|s| s.size_gib).unwrap_or(0);
            entry.size = ebs.volume_size.unwrap_or(entry.size.max(snap_size));
            if let Some(s) = &entry.snapshot {
                if entry.size < s.size_gib {
                    bail!(
                        Code::INVALID_BLOCK_DEVICE_MAPPING,
                        "Volume of size {}GB is smaller than snapshot '{}', expect size >= {}GB",
                        entry.size,
                        s.id,
                        s.size_gib
                    );
                }
            }
        }
        for v in &mut out {
            v.perf = volume_types::check(&v.volume_type, v.size, v.iops, v.throughput)?;
        }
        if !out.iter().any(|v| canonical_device(&v.device) == root) {
            bail!(
                Code::INVALID_BLOCK_DEVICE_MAPPING,
                "The image has no volume for its root device {}",
                img.root_device_name
            );
        }
        Ok(out)
    }

    pub(super) fn run_instances(
        &mut self,
        r: rq::RunInstances,
        p: &dyn Progress,
    ) -> Result<out::Reservation> {
        let min = r.min_count.unwrap_or(1);
        let max = r.max_count.unwrap_or(min);
        if min == 0 || max < min {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "MinCount ({min}) must be at least 1 and at most MaxCount ({max})"
            );
        }
        if max > 64 {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "MaxCount {max} is more than this home launches at once (64)"
            );
        }
        let region = self.region().to_owned();
        let launch = check_launch(&r, self.account(), &region)?;
        let az = launch.az.clone();
        let fingerprint = request_fingerprint(&format!(
            "{:?}",
            rq::RunInstances {
                client_token: None,
                ..r.clone()
            }
        ));
        if let Some(reservation) =
            self.replayed("RunInstances", r.client_token.as_deref(), &fingerprint)?
        {
            return self.reservation_view(&reservation);
        }
        tags::check_specs(&r.tag_specifications, &["instance", "volume"])?;
        let instance_tags = tags::spec_tags(&r.tag_specifications, "instance")?;
        let (img, layout, ebd) = self.cat.read(|tx| {
            let img = self.image(tx, &region, &r.image_id)?;
            if img.state != super::model::ImageState::Available {
                bail!(
                    Code::INVALID_AMI_ID_UNAVAILABLE,
                    "Image {} is not available (it is {})",
                    img.id,
                    img.state_str()
                );
            }
            instance_types::check_architecture(&launch.instance_type, &img.architecture)?;
            if img.attributes.virtualization_type == "paravirtual" {
                bail!(
                    Code::INVALID_PARAMETER_COMBINATION,
                    "Non-Windows instances with a virtualization type of 'paravirtual' are not \
                     supported for this instance type."
                );
            }
            let layout = self.effective_mapping(tx, &img, &r.block_device_mappings)?;
            Ok((img, layout, self.ebd(tx)?))
        })?;
        let mut choices = Vec::new();
        for v in &layout {
            let source = match v.snapshot.as_ref().and_then(|s| s.encryption.data_key()) {
                Some(e) => Source::Encrypted {
                    key_arn: e.key_arn(),
                    reusable: v
                        .snapshot
                        .as_ref()
                        .is_some_and(|s| s.owner_id == self.account()),
                },
                None => Source::Plain,
            };
            choices.push(encryption_outcome(
                source,
                v.encrypted,
                v.kms_key_id.as_deref(),
                ebd,
            )?);
        }
        let reservation = ReservationId::generate(random_u128()).to_string();
        let launch_time = now_iso();
        let mut instances = Vec::new();
        let mut volumes = Vec::new();
        let mut temps = Vec::new();
        let mut jobs = Vec::new();
        for index in 0..max {
            let mut inst = InstanceRec {
                id: Self::new_instance_id().to_string(),
                region: region.clone(),
                reservation_id: reservation.clone(),
                owner_id: self.account().to_owned(),
                image_id: img.id.clone(),
                instance_type: launch.type_name.clone(),
                state: InstanceState::Running,
                state_reason: None,
                launch_time: launch_time.clone(),
                az: az.clone(),
                root_device_name: img.root_device_name.clone(),
                launch: LaunchParams {
                    launch_index: index,
                    architecture: img.architecture.clone(),
                    image: img.attributes.clone(),
                    ..launch.params.clone()
                },
            };
            let vol_ids: Vec<String> = layout
                .iter()
                .map(|_| Self::new_volume_id().to_string())
                .collect();
            let plans = self.cat.write(|tx| {
                let mut plans = Vec::new();
                for ((v, choice), vid) in layout.iter().zip(&choices).zip(&vol_ids) {
                    let src = v
                        .snapshot
                        .as_ref()
                        .map(|s| (s.id.as_str(), s.encryption.data_key()));
                    // The volume is attached at launch: EC2 creates its grant (stored with
                    // the volumes below), so the caller needs CreateGrant as for an attach.
                    let planned = self.plan(tx, src, choice, vid).and_then(|p| {
                        if let Some(e) = &p.encryption {
                            let key = self.kms.resolve(tx, &self.caller, e.key_arn())?;
                            self.kms.authorize(&key, &self.caller, "CreateGrant")?;
                        }
                        Ok(p)
                    });
                    match planned {
                        Ok(p) => plans.push(p),
                        Err(e) if is_key_problem(&e) => return Ok(None),
                        Err(e) => return Err(e),
                    }
                }
                Ok(Some(plans))
            })?;
            let Some(plans) = plans else {
                inst.state = InstanceState::Terminated;
                inst.state_reason = Some((KMS_REASON.0.into(), KMS_REASON.1.into()));
                instances.push(inst);
                continue;
            };
            // An asynchronous launch stores the instance pending and its volumes creating; a
            // job makes the volumes, then the instance runs.
            let asynchronous = !self.wait;
            let mut tasks = Vec::new();
            if asynchronous {
                inst.state = InstanceState::Pending;
            }
            for ((v, planned), vid) in layout.iter().zip(plans).zip(vol_ids) {
                let sector_size = v.snapshot.as_ref().map(|s| s.sector_size).unwrap_or(4096);
                if asynchronous {
                    tasks.push(Task {
                        new_id: vid.clone(),
                        size: v.size * GIB,
                        sector_size,
                        encryption: planned.encryption.clone(),
                        source: v.snapshot.as_ref().map(|s| SourceRef {
                            id: s.id.clone(),
                            size: s.size_gib * GIB,
                            encryption: s.encryption.data_key().cloned(),
                        }),
                    });
                } else {
                    let src_meta = v
                        .snapshot
                        .as_ref()
                        .map(|s| (s.size_gib * GIB, s.encryption.data_key()));
                    temps.push(self.produce(
                        &vid,
                        v.size * GIB,
                        sector_size,
                        &planned,
                        src_meta,
                        p,
                    )?);
                }
                volumes.push(VolumeRec {
                    id: vid,
                    region: region.clone(),
                    owner_id: self.account().to_owned(),
                    az: az.clone(),
                    size_gib: v.size,
                    sector_size,
                    volume_type: v.volume_type.clone(),
                    snapshot_id: v
                        .snapshot
                        .as_ref()
                        .map(|s| s.id.clone())
                        .unwrap_or_default(),
                    state: if asynchronous {
                        VolumeState::Creating
                    } else {
                        VolumeState::InUse
                    },
                    create_time: launch_time.clone(),
                    encryption: planned.encryption,
                    iops: v.perf.iops,
                    throughput: v.perf.throughput,
                    attachment: Some(Attachment {
                        instance_id: inst.id.clone(),
                        device: v.device.clone(),
                        attach_time: launch_time.clone(),
                        delete_on_termination: v.delete_on_termination,
                    }),
                });
            }
            if asynchronous {
                let target = Target::Instance {
                    id: inst.id.clone(),
                    volumes: tasks.iter().map(|t| t.new_id.clone()).collect(),
                };
                jobs.push((tasks, target));
            }
            instances.push(inst);
        }
        for t in &mut temps {
            if let Some(v) = volumes.iter().find(|v| v.id == t.header().owner) {
                t.set_record(v.blob_record(self.account()))?;
            }
        }
        let instances = self.cat.write(|tx| {
            // Addresses are chosen in the transaction that stores the instances, so two
            // launches never get the same one.
            let subnet = network::default_subnet(self.account(), &region, &az);
            let mut used = self.addresses_in_use(tx, &region, &az)?;
            let mut instances = instances.clone();
            for i in &mut instances {
                if i.state == InstanceState::Terminated {
                    continue;
                }
                let ip = network::allocate(&subnet, &used, r.private_ip_address.as_deref())?;
                used.push(ip);
                i.launch.private_ip = Some(ip.to_string());
            }
            for t in temps {
                t.persist_in(tx)?;
            }
            for v in &volumes {
                tx.put(v)?;
                tags::apply(tx, &region, &r.tag_specifications, "volume", &v.id)?;
                if let (Some(e), Some(a)) = (&v.encryption, &v.attachment) {
                    let key = self.kms.resolve(tx, &self.caller, e.key_arn())?;
                    (self.kms).grant_for_attachment(
                        tx,
                        &self.caller,
                        &key,
                        self.account(),
                        &v.id,
                        &a.instance_id,
                    )?;
                }
            }
            for i in &instances {
                tx.put(i)?;
                tags::add(tx, &region, "instance", &i.id, &instance_tags)?;
            }
            for (tasks, target) in jobs {
                self.queue_job(tx, "RunInstances", tasks, target)?;
            }
            self.remember_token(
                tx,
                "RunInstances",
                r.client_token.as_deref(),
                &fingerprint,
                &reservation,
            )?;
            Ok(instances)
        })?;
        let shown = instances
            .iter()
            .map(|i| {
                let vols: Vec<VolumeRec> = volumes
                    .iter()
                    .filter(|v| v.attachment.as_ref().is_some_and(|a| a.instance_id == i.id))
                    .cloned()
                    .collect();
                let mut j = i.view(&vols, InstanceState::Pending);
                j.state_reason = None;
                j.tags = instance_tags.clone();
                j
            })
            .collect();
        Ok(out::Reservation {
            reservation_id: reservation.to_string(),
            owner_id: self.account().to_owned(),
            instances: shown,
        })
    }

    /// The private addresses the live instances of `az`'s default subnet have.
    fn addresses_in_use(
        &self,
        tx: &Tx<'_>,
        region: &str,
        az: &str,
    ) -> Result<Vec<std::net::Ipv4Addr>> {
        Ok(tx
            .list::<InstanceRec>(region)?
            .into_iter()
            .filter(|i| i.az == az && i.state != InstanceState::Terminated)
            .filter_map(|i| i.launch.private_ip.and_then(|ip| ip.parse().ok()))
            .collect())
    }

    /// ClientToken (SEMANTICS.md §12 rule 12, for every operation that takes one): the id the
    /// first call with `token` made when `fingerprint` matches its parameters.
    ///
    /// # Errors
    /// `IdempotentParameterMismatch` when the token was used with other parameters;
    /// `InvalidParameterValue` for a token longer than 64 ASCII characters.
    pub(super) fn replayed(
        &self,
        op: &str,
        token: Option<&str>,
        fingerprint: &str,
    ) -> Result<Option<String>> {
        let Some(token) = token else {
            return Ok(None);
        };
        if token.len() > 64 || !token.is_ascii() {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "Value ({token}) for parameter clientToken is invalid. The client token must \
                 be at most 64 ASCII characters."
            );
        }
        let key = super::model::client_token_setting(self.account(), self.region(), op, token);
        let Some(prev) = self.cat.read(|tx| tx.setting(&key))? else {
            return Ok(None);
        };
        let (fp, id) = prev.split_once('\n').unwrap_or(("", ""));
        if fp != fingerprint {
            bail!(
                Code::IDEMPOTENT_PARAMETER_MISMATCH,
                "Client token {token} was used with different parameters"
            );
        }
        Ok(Some(id.to_owned()))
    }

    /// Keeps `id` as what `token` made (nothing without a token), in the transaction that
    /// stores it.
    pub(super) fn remember_token(
        &self,
        tx: &Tx<'_>,
        op: &str,
        token: Option<&str>,
        fingerprint: &str,
        id: &str,
    ) -> Result<()> {
        match token {
            Some(t) => {
                let key = super::model::client_token_setting(self.account(), self.region(), op, t);
                tx.set_setting(&key, &format!("{fingerprint}\n{id}"))
            }
            None => Ok(()),
        }
    }

    /// A reservation as DescribeInstances shows it now (a repeated RunInstances answers it).
    fn reservation_view(&mut self, reservation: &str) -> Result<out::Reservation> {
        let found = self.describe_instances(rq::Describe {
            filters: vec![rq::Filter {
                name: "reservation-id".into(),
                values: vec![reservation.to_owned()],
            }],
            ..Default::default()
        })?;
        found.into_iter().next().ok_or_else(|| {
            crate::error::Error::new(
                Code::IDEMPOTENT_PARAMETER_MISMATCH,
                format!("The reservation {reservation} of this client token no longer exists"),
            )
        })
    }

    fn transition(
        &mut self,
        r: rq::InstanceIds,
        apply: impl Fn(&Self, &Tx<'_>, &mut InstanceRec) -> Result<(InstanceState, Vec<String>)>,
    ) -> Result<Vec<out::InstanceStateChange>> {
        let changes = self.cat.write(|tx| {
            let mut changes = Vec::new();
            for id in &r.instance_ids {
                let mut inst = self.instance(tx, id)?;
                let prev = inst.state;
                let (shown, gone) = apply(self, tx, &mut inst)?;
                for v in &gone {
                    self.store.remove_in(tx, v)?;
                }
                tx.put(&inst)?;
                changes.push(out::InstanceStateChange {
                    instance_id: inst.id.clone(),
                    current_state: shown.view(),
                    previous_state: prev.view(),
                });
            }
            Ok(changes)
        })?;
        Ok(changes)
    }

    /// `IncorrectInstanceState` while a launch job is still making the instance's volumes.
    fn check_not_launching(&self, tx: &Tx<'_>, inst: &InstanceRec) -> Result<()> {
        if inst.state == InstanceState::Pending
            && self
                .attached_volumes(tx, inst)?
                .iter()
                .any(|v| v.state == VolumeState::Creating)
        {
            bail!(
                Code::INCORRECT_INSTANCE_STATE,
                "The instance '{}' is still being launched (pending); try again when it is \
                 running.",
                inst.id
            );
        }
        Ok(())
    }

    /// Unmounts the mounts of instances that are stopping or terminating: their volumes are no
    /// longer served.
    fn unmount_all(&self, ids: &[String]) -> Result<()> {
        for id in ids {
            let id: crate::ids::InstanceId = id.parse()?;
            crate::mountctl::notify(self.home, id.as_str(), json!({"op": "unmount"}))?;
        }
        Ok(())
    }

    pub(super) fn stop_instances(
        &mut self,
        r: rq::InstanceIds,
    ) -> Result<out::StopInstancesResult> {
        self.unmount_all(&r.instance_ids)?;
        let changes = self.transition(r, |core, tx, inst| match inst.state {
            InstanceState::Running | InstanceState::Pending => {
                core.check_not_launching(tx, inst)?;
                inst.state = InstanceState::Stopped;
                inst.state_reason = Some((
                    "Client.UserInitiatedShutdown".into(),
                    "Client.UserInitiatedShutdown: User initiated shutdown".into(),
                ));
                Ok((InstanceState::Stopping, vec![]))
            }
            InstanceState::Stopped | InstanceState::Stopping => {
                Ok((InstanceState::Stopped, vec![]))
            }
            s => bail!(
                Code::INCORRECT_INSTANCE_STATE,
                "This instance '{}' is not in a state from which it can be stopped ({}).",
                inst.id,
                s.name()
            ),
        })?;
        Ok(out::StopInstancesResult {
            stopping_instances: changes,
        })
    }

    pub(super) fn start_instances(
        &mut self,
        r: rq::InstanceIds,
    ) -> Result<out::StartInstancesResult> {
        let changes = self.transition(r, |core, tx, inst| match inst.state {
            InstanceState::Stopped => {
                // Starting decrypts every encrypted volume's data key again (§17): a key disabled
                // meanwhile keeps the instance stopped, with the KMS state reason.
                for v in core.attached_volumes(tx, inst)? {
                    if let Some(e) = &v.encryption {
                        if let Err(err) =
                            core.kms
                                .unwrap_data_key(tx, &core.caller, &e.wrapped, &e.context_id)
                        {
                            if is_key_problem(&err) {
                                inst.state_reason =
                                    Some((KMS_REASON.0.into(), KMS_REASON.1.into()));
                                return Ok((InstanceState::Pending, vec![]));
                            }
                            return Err(err);
                        }
                    }
                }
                inst.state = InstanceState::Running;
                inst.state_reason = None;
                Ok((InstanceState::Pending, vec![]))
            }
            InstanceState::Running | InstanceState::Pending => Ok((InstanceState::Running, vec![])),
            s => bail!(
                Code::INCORRECT_INSTANCE_STATE,
                "The instance '{}' is not in a state from which it can be started ({}).",
                inst.id,
                s.name()
            ),
        })?;
        Ok(out::StartInstancesResult {
            starting_instances: changes,
        })
    }

    pub(super) fn terminate_instances(
        &mut self,
        r: rq::InstanceIds,
    ) -> Result<out::TerminateInstancesResult> {
        let _ = r.force;
        // Volumes deleted on termination may still be being captured by a snapshot.
        let attached = self.cat.read(|tx| {
            let mut ids = Vec::new();
            for id in &r.instance_ids {
                if let Ok(inst) = self.instance(tx, id) {
                    ids.extend(self.attached_volumes(tx, &inst)?.into_iter().map(|v| v.id));
                }
            }
            Ok(ids)
        })?;
        for v in &attached {
            self.wait_for_captures(v)?;
        }
        self.unmount_all(&r.instance_ids)?;
        let changes = self.transition(r, |core, tx, inst| {
            if inst.state == InstanceState::Terminated {
                return Ok((InstanceState::Terminated, vec![]));
            }
            core.check_not_launching(tx, inst)?;
            let mut gone = Vec::new();
            for mut v in core.attached_volumes(tx, inst)? {
                crate::kms::retire_attachment_grants(tx, &v.region, &v.id)?;
                let dot = v
                    .attachment
                    .as_ref()
                    .is_some_and(|a| a.delete_on_termination);
                if dot {
                    tx.delete::<VolumeRec>(&v.id)?;
                    super::tags::remove(tx, &v.id)?;
                    gone.push(v.id.clone());
                } else {
                    v.attachment = None;
                    if v.state != VolumeState::Error {
                        v.state = VolumeState::Available;
                    }
                    tx.put(&v)?;
                }
            }
            inst.state = InstanceState::Terminated;
            if inst.state_reason.is_none()
                || inst
                    .state_reason
                    .as_ref()
                    .is_some_and(|r| r.0 == "Client.UserInitiatedShutdown")
            {
                inst.state_reason = Some((
                    "Client.UserInitiatedShutdown".into(),
                    "Client.UserInitiatedShutdown: User initiated shutdown".into(),
                ));
            }
            Ok((InstanceState::ShuttingDown, gone))
        })?;
        Ok(out::TerminateInstancesResult {
            terminating_instances: changes,
        })
    }

    pub(super) fn describe_instances(&mut self, r: rq::Describe) -> Result<Vec<out::Reservation>> {
        let region = self.region().to_owned();
        let (rows, mut tags) = self.cat.read(|tx| {
            let insts = match &r.ids {
                Some(ids) => ids
                    .iter()
                    .map(|id| self.instance(tx, id))
                    .collect::<Result<Vec<_>>>()?,
                None => tx
                    .list::<InstanceRec>(&region)?
                    .into_iter()
                    .filter(|i| i.owner_id == self.account())
                    .collect(),
            };
            let mut rows = Vec::new();
            for i in insts {
                let vols = self.attached_volumes(tx, &i)?;
                rows.push((i, vols));
            }
            Ok((rows, tags::in_region(tx, &region)?))
        })?;
        let mut reservations: Vec<out::Reservation> = Vec::new();
        for (i, vols) in rows {
            let instance_tags = tags.remove(&i.id).unwrap_or_default();
            let mut j = i.view(&vols, i.state);
            let ok = matches_filters(&r.filters, |name| {
                Some(match name {
                    "instance-id" => vec![i.id.clone()],
                    "instance-state-name" => vec![i.state.name().to_owned()],
                    "instance-state-code" => vec![i.state.code().to_string()],
                    "image-id" => vec![i.image_id.clone()],
                    "availability-zone" => vec![i.az.clone()],
                    "instance-type" => vec![i.instance_type.clone()],
                    "vpc-id" | "network-interface.vpc-id" => j.vpc_id.iter().cloned().collect(),
                    "subnet-id" | "network-interface.subnet-id" => {
                        j.subnet_id.iter().cloned().collect()
                    }
                    "private-ip-address" | "network-interface.addresses.private-ip-address" => {
                        j.private_ip_address.iter().cloned().collect()
                    }
                    "private-dns-name" => vec![j.private_dns_name.clone()],
                    "key-name" => i.launch.key_name.iter().cloned().collect(),
                    "architecture" => vec![j.architecture.clone()],
                    "virtualization-type" => vec![j.virtualization_type.clone()],
                    "hypervisor" => vec![j.hypervisor.clone()],
                    "boot-mode" => j.boot_mode.iter().cloned().collect(),
                    "ebs-optimized" => vec![rules::bool_str(j.ebs_optimized)],
                    "monitoring-state" => vec![j.monitoring.state.clone()],
                    "client-token" => i.launch.client_token.iter().cloned().collect(),
                    "ami-launch-index" => vec![i.launch.launch_index.to_string()],
                    "instance.group-id" | "group-id" | "network-interface.group-id" => j
                        .security_groups
                        .iter()
                        .map(|g| g.group_id.clone())
                        .collect(),
                    "instance.group-name" | "group-name" | "network-interface.group-name" => j
                        .security_groups
                        .iter()
                        .map(|g| g.group_name.clone())
                        .collect(),
                    "reservation-id" => vec![i.reservation_id.clone()],
                    "block-device-mapping.volume-id" => vols.iter().map(|v| v.id.clone()).collect(),
                    _ => return tags::filter_values(name, &instance_tags),
                })
            })?;
            if !ok {
                continue;
            }
            j.tags = instance_tags;
            match reservations
                .iter_mut()
                .find(|r| r.reservation_id == i.reservation_id)
            {
                Some(r) => r.instances.push(j),
                None => reservations.push(out::Reservation {
                    reservation_id: i.reservation_id.clone(),
                    owner_id: i.owner_id.clone(),
                    instances: vec![j],
                }),
            }
        }
        Ok(reservations)
    }
}

/// What RunInstances checked of its parameters before it reads the catalog.
struct Launch {
    az: String,
    type_name: String,
    instance_type: instance_types::InstanceType,
    /// The parameters every instance of the launch records (address, index and image
    /// attributes are filled in per instance).
    params: LaunchParams,
}

/// Most bytes of user data once decoded (RunInstances reference).
const USER_DATA_LIMIT: usize = 16 * 1024;

/// Checks RunInstances' instance type, key name, user data, network and placement, as AWS does,
/// before any row is read. Pure.
fn check_launch(r: &rq::RunInstances, account: &str, region: &str) -> Result<Launch> {
    let type_name = r
        .instance_type
        .clone()
        .unwrap_or_else(|| DEFAULT_INSTANCE_TYPE.to_owned());
    let instance_type = instance_types::check(&type_name)?;
    if r.ebs_optimized == Some(true) && !instance_types::supports_ebs_optimized(&type_name) {
        bail!(
            Code::INVALID_PARAMETER_COMBINATION,
            "EBS-optimized instances are not supported for your requested configuration."
        );
    }
    if let Some(k) = &r.key_name {
        if k.is_empty() || k.len() > 255 || !k.is_ascii() {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "Invalid value '{k}' for KeyName: a key pair name is 1 to 255 ASCII characters."
            );
        }
    }
    if let Some(u) = &r.user_data {
        let Ok(bytes) = crate::base64::decode(u) else {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "Invalid BASE64 encoding of user data."
            );
        };
        if bytes.len() > USER_DATA_LIMIT {
            bail!(
                Code::INVALID_PARAMETER_VALUE,
                "User data is limited to {USER_DATA_LIMIT} bytes"
            );
        }
    }
    network::check_groups(account, region, &r.security_group_ids, &r.security_groups)?;
    let zone = r
        .placement
        .as_ref()
        .and_then(|p| p.availability_zone.clone());
    if let Some(z) = &zone {
        rules::check_az(region, z)?;
    }
    let az = match &r.subnet_id {
        Some(id) => {
            let subnet = network::subnet_by_id(account, region, id)?;
            if let Some(z) = zone.as_ref().filter(|z| **z != subnet.availability_zone) {
                bail!(
                    Code::INVALID_PARAMETER_VALUE,
                    "Value ({z}) for parameter availabilityZone is invalid. Subnet '{id}' is in \
                     the availability zone {}",
                    subnet.availability_zone
                );
            }
            subnet.availability_zone
        }
        None => zone.unwrap_or_else(|| format!("{region}a")),
    };
    if r.private_ip_address.is_some() && r.max_count.unwrap_or(1) > 1 {
        bail!(
            Code::INVALID_PARAMETER_COMBINATION,
            "Cannot specify PrivateIpAddress when launching more than one instance."
        );
    }
    if let Some(ip) = &r.private_ip_address {
        // The same checks the allocation makes, before any data moves.
        let subnet = network::default_subnet(account, region, &az);
        network::allocate(&subnet, &[], Some(ip))?;
    }
    Ok(Launch {
        az,
        type_name,
        instance_type,
        params: LaunchParams {
            key_name: r.key_name.clone(),
            private_ip: None,
            user_data: r.user_data.clone(),
            client_token: r.client_token.clone(),
            monitoring: r.monitoring.as_ref().is_some_and(|m| m.enabled),
            ebs_optimized: r.ebs_optimized.unwrap_or(false),
            launch_index: 0,
            architecture: String::new(),
            image: ImageAttributes::default(),
        },
    })
}

/// A request's parameters, for ClientToken comparisons: a digest of its debug form with the
/// token left out.
pub(super) fn request_fingerprint(debug: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(debug.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
