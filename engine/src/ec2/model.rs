//! EC2 catalog records (volumes, snapshots, images, instances) and their AWS views
//! (`responses`). Pure: no I/O; the records are stored by the catalog and shown by Describe*.

use super::network;
use super::responses as out;
use super::volume_types::{self, Performance};
use crate::blob::{BlobRecord, RECORD_DIRECT};
use crate::catalog::Record;
use crate::kms::WrappedKey;
use crate::xts::XtsCipher;
use serde::{Deserialize, Serialize};

/// The encryption of a volume or snapshot: the KMS key, the wrapped data key, and the context
/// (`aws:ebs:id`) the wrapped key is bound to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Encryption {
    pub wrapped: WrappedKey,
    pub context_id: String,
}

impl Encryption {
    pub(crate) fn key_arn(&self) -> &str {
        &self.wrapped.key_arn
    }
    pub(crate) fn cipher(&self) -> XtsCipher {
        self.wrapped.cipher
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum VolumeState {
    /// Its data is being made by a job.
    Creating,
    Available,
    InUse,
    /// Its data file is missing or unreadable (set by `blockseal doctor --repair`).
    Error,
}

impl VolumeState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            VolumeState::Creating => "creating",
            VolumeState::Available => "available",
            VolumeState::InUse => "in-use",
            VolumeState::Error => "error",
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Attachment {
    pub instance_id: String,
    pub device: String,
    pub attach_time: String,
    pub delete_on_termination: bool,
}

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct VolumeRec {
    pub id: String,
    pub region: String,
    /// The owning account (catalog migration 4 set it on older rows).
    pub owner_id: String,
    pub az: String,
    pub size_gib: u64,
    pub sector_size: u32,
    pub volume_type: String,
    pub snapshot_id: String,
    pub state: VolumeState,
    pub create_time: String,
    pub encryption: Option<Encryption>,
    pub attachment: Option<Attachment>,
    /// Provisioned IOPS (gp3, io1, io2); rows from before they were kept have none.
    #[serde(default)]
    pub iops: Option<u32>,
    /// Provisioned throughput in MiB/s (gp3).
    #[serde(default)]
    pub throughput: Option<u32>,
}

impl Record for VolumeRec {
    const TABLE: &'static str = "volumes";
    fn key(&self) -> String {
        self.id.clone()
    }
    fn region(&self) -> &str {
        &self.region
    }
}

impl VolumeRec {
    /// What the volume's file header keeps of this row, `account` being the home's
    /// (docs/FORMAT.md, "Record").
    pub(crate) fn blob_record(&self, account: &str) -> Option<BlobRecord> {
        BlobRecord {
            flags: 0,
            account: account.to_owned(),
            region: self.region.clone(),
            create_time: self.create_time.clone(),
            source_id: self.snapshot_id.clone(),
            availability_zone: self.az.clone(),
            volume_type: self.volume_type.clone(),
            description: String::new(),
        }
        .fitted()
    }

    pub(crate) fn attachment_view(&self, state: &str) -> out::VolumeAttachment {
        let a = self
            .attachment
            .as_ref()
            .expect("only attached volumes have an attachment view");
        out::VolumeAttachment {
            attach_time: a.attach_time.clone(),
            device: a.device.clone(),
            instance_id: a.instance_id.clone(),
            state: state.to_owned(),
            volume_id: self.id.clone(),
            delete_on_termination: a.delete_on_termination,
        }
    }

    pub(crate) fn view(&self) -> out::Volume {
        let perf = volume_types::shown(
            &self.volume_type,
            self.size_gib,
            Performance {
                iops: self.iops,
                throughput: self.throughput,
            },
        );
        out::Volume {
            volume_id: self.id.clone(),
            size: self.size_gib,
            snapshot_id: self.snapshot_id.clone(),
            availability_zone: self.az.clone(),
            state: self.state.as_str().to_owned(),
            create_time: self.create_time.clone(),
            volume_type: self.volume_type.clone(),
            encrypted: self.encryption.is_some(),
            attachments: self
                .attachment
                .iter()
                .map(|_| self.attachment_view("attached"))
                .collect(),
            multi_attach_enabled: false,
            kms_key_id: self.encryption.as_ref().map(|e| e.key_arn().to_owned()),
            iops: perf.iops,
            throughput: perf.throughput,
            tags: Vec::new(),
        }
    }
}

/// How a snapshot is encrypted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "EncryptionColumns", into = "EncryptionColumns")]
pub(crate) enum SnapshotEncryption {
    Plain,
    /// Its data is (or, while a copy job runs, will be) encrypted with this data key.
    Encrypted(Encryption),
    /// An encrypted copy that failed before its data key could be made (the key was disabled,
    /// deleted or not permitted): it has no data, and AWS still shows it as encrypted under the
    /// key it was to be made under.
    NoDataKey {
        key_arn: String,
    },
}

impl SnapshotEncryption {
    /// The data key of the snapshot's data, if it is encrypted and has one.
    pub(crate) fn data_key(&self) -> Option<&Encryption> {
        match self {
            SnapshotEncryption::Encrypted(e) => Some(e),
            SnapshotEncryption::Plain | SnapshotEncryption::NoDataKey { .. } => None,
        }
    }

    /// The ARN of the KMS key (for a failed copy, of the key it was to be made under).
    pub(crate) fn key_arn(&self) -> Option<&str> {
        match self {
            SnapshotEncryption::Plain => None,
            SnapshotEncryption::Encrypted(e) => Some(e.key_arn()),
            SnapshotEncryption::NoDataKey { key_arn } => Some(key_arn),
        }
    }

    pub(crate) fn is_encrypted(&self) -> bool {
        !matches!(self, SnapshotEncryption::Plain)
    }
}

impl From<Option<Encryption>> for SnapshotEncryption {
    fn from(e: Option<Encryption>) -> Self {
        match e {
            Some(e) => SnapshotEncryption::Encrypted(e),
            None => SnapshotEncryption::Plain,
        }
    }
}

/// The catalog's form of [`SnapshotEncryption`]: two optional fields of the snapshot row, as
/// rows have always been stored (no migration). A row never holds both; should one, its data
/// key wins, since the data was written with it.
#[derive(Serialize, Deserialize)]
pub(crate) struct EncryptionColumns {
    encryption: Option<Encryption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    requested_key_arn: Option<String>,
}

impl From<EncryptionColumns> for SnapshotEncryption {
    fn from(c: EncryptionColumns) -> Self {
        match (c.encryption, c.requested_key_arn) {
            (Some(e), _) => SnapshotEncryption::Encrypted(e),
            (None, Some(key_arn)) => SnapshotEncryption::NoDataKey { key_arn },
            (None, None) => SnapshotEncryption::Plain,
        }
    }
}

impl From<SnapshotEncryption> for EncryptionColumns {
    fn from(e: SnapshotEncryption) -> Self {
        let (encryption, requested_key_arn) = match e {
            SnapshotEncryption::Plain => (None, None),
            SnapshotEncryption::Encrypted(e) => (Some(e), None),
            SnapshotEncryption::NoDataKey { key_arn } => (None, Some(key_arn)),
        };
        EncryptionColumns {
            encryption,
            requested_key_arn,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SnapshotState {
    /// Being written through the EBS direct APIs (StartSnapshot … CompleteSnapshot).
    Pending,
    Completed,
    Error,
}

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct SnapshotRec {
    pub id: String,
    pub region: String,
    pub volume_id: String,
    pub size_gib: u64,
    pub sector_size: u32,
    pub state: SnapshotState,
    pub state_message: Option<String>,
    pub start_time: String,
    pub owner_id: String,
    pub description: String,
    /// Stored as the row's `encryption` and `requested_key_arn` fields ([`EncryptionColumns`]).
    #[serde(flatten)]
    pub encryption: SnapshotEncryption,
    /// Set for snapshots whose data lives in a blob file (not for failed copies).
    pub has_data: bool,
    /// Who else may create volumes from it and copy it (ModifySnapshotAttribute).
    #[serde(default)]
    pub permissions: super::sharing::Permissions,
}

impl Record for SnapshotRec {
    const TABLE: &'static str = "snapshots";
    fn key(&self) -> String {
        self.id.clone()
    }
    fn region(&self) -> &str {
        &self.region
    }
}

impl SnapshotRec {
    /// What the snapshot's file header keeps of this row (docs/FORMAT.md, "Record"); `direct`
    /// for a snapshot written through the EBS direct APIs.
    pub(crate) fn blob_record(&self, direct: bool) -> Option<BlobRecord> {
        BlobRecord {
            flags: if direct { RECORD_DIRECT } else { 0 },
            account: self.owner_id.clone(),
            region: self.region.clone(),
            create_time: self.start_time.clone(),
            source_id: self.volume_id.clone(),
            availability_zone: String::new(),
            volume_type: String::new(),
            description: self.description.clone(),
        }
        .fitted()
    }

    /// Whether the snapshot is encrypted (or, for a copy that failed on its key, was to be).
    pub(crate) fn encrypted(&self) -> bool {
        self.encryption.is_encrypted()
    }

    /// The ARN of the snapshot's KMS key (or of the key a failed copy was to be made under).
    pub(crate) fn key_arn(&self) -> Option<&str> {
        self.encryption.key_arn()
    }

    pub(crate) fn state_str(&self) -> &'static str {
        match self.state {
            SnapshotState::Pending => "pending",
            SnapshotState::Completed => "completed",
            SnapshotState::Error => "error",
        }
    }

    pub(crate) fn view(&self) -> out::Snapshot {
        let progress = if self.state == SnapshotState::Completed {
            "100%"
        } else {
            "0%"
        };
        out::Snapshot {
            snapshot_id: self.id.clone(),
            volume_id: self.volume_id.clone(),
            volume_size: self.size_gib,
            state: self.state_str().to_owned(),
            progress: progress.to_owned(),
            start_time: self.start_time.clone(),
            owner_id: self.owner_id.clone(),
            description: self.description.clone(),
            encrypted: self.encrypted(),
            storage_tier: "standard".to_owned(),
            state_message: self.state_message.clone(),
            kms_key_id: self.key_arn().map(str::to_owned),
            data_encryption_key_id: self.encryption.data_key().map(|e| e.wrapped.dek_id.clone()),
            tags: Vec::new(),
        }
    }
}

/// One entry of an image's block device mapping.
#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
pub(crate) struct ImageMapping {
    pub device_name: String,
    /// `None` for an empty volume entry (created at launch).
    pub snapshot_id: Option<String>,
    pub volume_size: u64,
    pub volume_type: String,
    pub delete_on_termination: bool,
    pub encrypted: bool,
    /// Provisioned IOPS of the volume a launch makes (gp3, io1, io2).
    #[serde(default)]
    pub iops: Option<u32>,
    /// Provisioned throughput in MiB/s (gp3).
    #[serde(default)]
    pub throughput: Option<u32>,
    /// An instance-store entry (`ephemeral0` …) instead of an EBS volume.
    #[serde(default)]
    pub virtual_name: Option<String>,
    /// A `NoDevice` entry: the device is suppressed for instances launched from the image.
    #[serde(default)]
    pub no_device: bool,
}

impl ImageMapping {
    /// Whether a launch makes an EBS volume for this entry.
    pub(crate) fn is_ebs(&self) -> bool {
        self.virtual_name.is_none() && !self.no_device
    }

    /// An instance-store or `NoDevice` entry for `device`.
    pub(crate) fn not_ebs(device: &str, virtual_name: Option<String>) -> ImageMapping {
        ImageMapping {
            device_name: device.to_owned(),
            snapshot_id: None,
            volume_size: 0,
            volume_type: String::new(),
            delete_on_termination: false,
            encrypted: false,
            iops: None,
            throughput: None,
            no_device: virtual_name.is_none(),
            virtual_name,
        }
    }
}

/// An image's launch attributes (RegisterImage's `VirtualizationType`, `EnaSupport`, …), kept
/// as given and carried to copies and to instances.
#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
pub(crate) struct ImageAttributes {
    /// `hvm` or `paravirtual`.
    pub virtualization_type: String,
    pub ena_support: Option<bool>,
    /// `legacy-bios`, `uefi` or `uefi-preferred`.
    pub boot_mode: Option<String>,
    /// `simple`.
    pub sriov_net_support: Option<String>,
    /// `v2.0`.
    pub imds_support: Option<String>,
    /// `v2.0`.
    pub tpm_support: Option<String>,
}

impl Default for ImageAttributes {
    /// What images registered before these were kept show: HVM, nothing else set.
    fn default() -> Self {
        ImageAttributes {
            virtualization_type: "hvm".to_owned(),
            ena_support: None,
            boot_mode: None,
            sriov_net_support: None,
            imds_support: None,
            tpm_support: None,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ImageState {
    /// Its snapshots are being made by a job.
    Pending,
    Available,
    Failed,
    Deregistered,
}

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ImageRec {
    pub id: String,
    pub region: String,
    pub name: String,
    pub description: Option<String>,
    pub state: ImageState,
    pub state_reason: Option<(String, String)>,
    pub owner_id: String,
    pub creation_date: String,
    pub root_device_name: String,
    pub architecture: String,
    pub mappings: Vec<ImageMapping>,
    pub source_instance_id: Option<String>,
    pub source_image_id: Option<String>,
    pub source_region: Option<String>,
    #[serde(default)]
    pub attributes: ImageAttributes,
    /// Who else may launch it (ModifyImageAttribute `launchPermission`).
    #[serde(default)]
    pub permissions: super::sharing::Permissions,
}

impl Record for ImageRec {
    const TABLE: &'static str = "images";
    fn key(&self) -> String {
        self.id.clone()
    }
    fn region(&self) -> &str {
        &self.region
    }
}

impl ImageRec {
    pub(crate) fn state_str(&self) -> &'static str {
        match self.state {
            ImageState::Pending => "pending",
            ImageState::Available => "available",
            ImageState::Failed => "failed",
            ImageState::Deregistered => "deregistered",
        }
    }

    pub(crate) fn view(&self) -> out::Image {
        let block_device_mappings = self
            .mappings
            .iter()
            .map(|m| {
                let perf = volume_types::shown(
                    &m.volume_type,
                    m.volume_size,
                    Performance {
                        iops: m.iops,
                        throughput: m.throughput,
                    },
                );
                out::BlockDeviceMapping {
                    device_name: m.device_name.clone(),
                    ebs: m.is_ebs().then(|| out::EbsBlockDevice {
                        delete_on_termination: m.delete_on_termination,
                        snapshot_id: m.snapshot_id.clone(),
                        volume_size: m.volume_size,
                        volume_type: m.volume_type.clone(),
                        encrypted: m.encrypted,
                        iops: perf.iops,
                        throughput: perf.throughput,
                    }),
                    virtual_name: m.virtual_name.clone(),
                    no_device: m.no_device.then(String::new),
                }
            })
            .collect();
        let a = &self.attributes;
        out::Image {
            image_id: self.id.clone(),
            name: self.name.clone(),
            state: self.state_str().to_owned(),
            owner_id: self.owner_id.clone(),
            public: self.permissions.public,
            creation_date: self.creation_date.clone(),
            image_type: "machine".to_owned(),
            root_device_type: "ebs".to_owned(),
            root_device_name: self.root_device_name.clone(),
            architecture: self.architecture.clone(),
            virtualization_type: a.virtualization_type.clone(),
            block_device_mappings,
            description: self.description.clone(),
            state_reason: state_reason(&self.state_reason),
            source_instance_id: self.source_instance_id.clone(),
            source_image_id: self.source_image_id.clone(),
            source_image_region: self.source_region.clone(),
            ena_support: a.ena_support,
            boot_mode: a.boot_mode.clone(),
            sriov_net_support: a.sriov_net_support.clone(),
            imds_support: a.imds_support.clone(),
            tpm_support: a.tpm_support.clone(),
            hypervisor: "xen".to_owned(),
            tags: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum InstanceState {
    Pending,
    Running,
    ShuttingDown,
    Terminated,
    Stopping,
    Stopped,
}

impl InstanceState {
    pub(crate) fn code(self) -> u32 {
        match self {
            InstanceState::Pending => 0,
            InstanceState::Running => 16,
            InstanceState::ShuttingDown => 32,
            InstanceState::Terminated => 48,
            InstanceState::Stopping => 64,
            InstanceState::Stopped => 80,
        }
    }
    pub(crate) fn name(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
        }
    }
    pub(crate) fn view(self) -> out::InstanceState {
        out::InstanceState {
            code: self.code(),
            name: self.name().to_owned(),
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct InstanceRec {
    pub id: String,
    pub region: String,
    pub reservation_id: String,
    pub owner_id: String,
    pub image_id: String,
    pub instance_type: String,
    pub state: InstanceState,
    pub state_reason: Option<(String, String)>,
    pub launch_time: String,
    pub az: String,
    pub root_device_name: String,
    /// What RunInstances was given and chose (rows from before these were kept have the
    /// defaults: no key, no address, x86_64 HVM).
    #[serde(default)]
    pub launch: LaunchParams,
}

/// An instance's launch parameters, as RunInstances recorded them.
#[derive(Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub(crate) struct LaunchParams {
    pub key_name: Option<String>,
    /// The primary private IPv4 address, in the default subnet of the instance's zone.
    pub private_ip: Option<String>,
    /// Base64, as given (at most 16 KiB once decoded).
    pub user_data: Option<String>,
    pub client_token: Option<String>,
    pub monitoring: bool,
    pub ebs_optimized: bool,
    /// Its index in its reservation.
    pub launch_index: u32,
    /// The image's architecture (empty on old rows: x86_64).
    pub architecture: String,
    pub image: ImageAttributes,
}

impl Record for InstanceRec {
    const TABLE: &'static str = "instances";
    fn key(&self) -> String {
        self.id.clone()
    }
    fn region(&self) -> &str {
        &self.region
    }
}

impl InstanceRec {
    /// The instance's AWS view; `volumes` are the volumes attached to it.
    pub(crate) fn view(&self, volumes: &[VolumeRec], shown_state: InstanceState) -> out::Instance {
        let mut vols: Vec<&VolumeRec> = volumes.iter().collect();
        vols.sort_by_key(|v| {
            let a = v.attachment.as_ref().expect("attached");
            (a.device != self.root_device_name, a.device.clone())
        });
        let block_device_mappings = vols
            .iter()
            .map(|v| {
                let a = v.attachment.as_ref().expect("attached");
                out::InstanceBlockDeviceMapping {
                    device_name: a.device.clone(),
                    ebs: out::EbsInstanceBlockDevice {
                        volume_id: v.id.clone(),
                        status: "attached".to_owned(),
                        attach_time: a.attach_time.clone(),
                        delete_on_termination: a.delete_on_termination,
                    },
                }
            })
            .collect();
        let l = &self.launch;
        let architecture = self.architecture();
        let subnet = network::default_subnet(&self.owner_id, &self.region, &self.az);
        let vpc = network::default_vpc_id(&self.owner_id, &self.region);
        let group = out::GroupIdentifier {
            group_id: network::default_group_id(&self.owner_id, &self.region),
            group_name: network::DEFAULT_GROUP_NAME.to_owned(),
        };
        let dns = match &l.private_ip {
            Some(ip) => ip
                .parse()
                .map(|ip| network::private_dns_name(&self.region, ip))
                .unwrap_or_default(),
            None => String::new(),
        };
        let mut shown = out::Instance {
            instance_id: self.id.clone(),
            image_id: self.image_id.clone(),
            instance_type: self.instance_type.clone(),
            state: shown_state.view(),
            launch_time: self.launch_time.clone(),
            placement: out::Placement {
                availability_zone: self.az.clone(),
            },
            root_device_name: self.root_device_name.clone(),
            root_device_type: "ebs".to_owned(),
            block_device_mappings,
            state_reason: state_reason(&self.state_reason),
            ami_launch_index: self.launch.launch_index,
            key_name: self.launch.key_name.clone(),
            security_groups: vec![group.clone()],
            vpc_id: Some(vpc.clone()),
            subnet_id: Some(subnet.id.clone()),
            private_ip_address: self.launch.private_ip.clone(),
            private_dns_name: dns.clone(),
            public_dns_name: String::new(),
            architecture: architecture.to_owned(),
            virtualization_type: l.image.virtualization_type.clone(),
            hypervisor: "xen".to_owned(),
            ena_support: l.image.ena_support.unwrap_or(false),
            sriov_net_support: l.image.sriov_net_support.clone(),
            boot_mode: l.image.boot_mode.clone(),
            current_instance_boot_mode: current_boot_mode(
                architecture,
                l.image.boot_mode.as_deref(),
            )
            .to_owned(),
            tpm_support: l.image.tpm_support.clone(),
            ebs_optimized: l.ebs_optimized,
            monitoring: out::Monitoring {
                state: if l.monitoring { "enabled" } else { "disabled" }.to_owned(),
            },
            source_dest_check: true,
            client_token: l.client_token.clone(),
            network_interfaces: self
                .launch
                .private_ip
                .iter()
                .map(|ip| out::InstanceNetworkInterface {
                    attachment: out::InstanceNetworkInterfaceAttachment {
                        attach_time: self.launch_time.clone(),
                        attachment_id: network::derived_id("eni-attach", &[&self.id]),
                        delete_on_termination: true,
                        device_index: 0,
                        status: "attached".to_owned(),
                    },
                    description: String::new(),
                    groups: vec![group.clone()],
                    mac_address: network::mac_address(&self.id),
                    network_interface_id: network::derived_id("eni", &[&self.id]),
                    owner_id: self.owner_id.clone(),
                    private_dns_name: dns.clone(),
                    private_ip_address: ip.clone(),
                    private_ip_addresses: vec![out::InstancePrivateIpAddress {
                        primary: true,
                        private_dns_name: dns.clone(),
                        private_ip_address: ip.clone(),
                    }],
                    source_dest_check: true,
                    status: "in-use".to_owned(),
                    subnet_id: subnet.id.clone(),
                    vpc_id: vpc.clone(),
                    interface_type: "interface".to_owned(),
                })
                .collect(),
            tags: Vec::new(),
        };
        if self.state == InstanceState::Terminated {
            // A terminated instance has left its subnet: AWS shows no network any more.
            shown.security_groups.clear();
            shown.network_interfaces.clear();
            shown.vpc_id = None;
            shown.subnet_id = None;
            shown.private_ip_address = None;
            shown.private_dns_name = String::new();
        }
        shown
    }

    /// The instance's architecture (`x86_64` on rows from before it was kept).
    pub(crate) fn architecture(&self) -> &str {
        if self.launch.architecture.is_empty() {
            "x86_64"
        } else {
            &self.launch.architecture
        }
    }
}

/// The boot mode an instance runs in: UEFI for `uefi` images and for arm64 (which has no
/// legacy BIOS), else legacy BIOS.
fn current_boot_mode(architecture: &str, image: Option<&str>) -> &'static str {
    match image {
        Some("uefi") => "uefi",
        _ if architecture.starts_with("arm64") => "uefi",
        _ => "legacy-bios",
    }
}

/// A stored `(code, message)` reason as AWS shows it.
fn state_reason(r: &Option<(String, String)>) -> Option<out::StateReason> {
    r.as_ref().map(|(code, message)| out::StateReason {
        code: code.clone(),
        message: message.clone(),
    })
}

/// Settings keys, per account and region (catalog migration 4 moved older keys here).
pub(crate) fn ebd_setting(account: &str, region: &str) -> String {
    format!("ebs-encryption-by-default/{account}/{region}")
}

pub(crate) fn default_key_setting(account: &str, region: &str) -> String {
    format!("ebs-default-kms-key-id/{account}/{region}")
}

pub(crate) fn client_token_setting(account: &str, region: &str, op: &str, token: &str) -> String {
    format!("client-token/{account}/{region}/{op}/{token}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn row(encryption: Value, requested: Option<&str>) -> Value {
        let mut v = json!({
            "id": "snap-0123456789abcdef0",
            "region": "us-east-1",
            "volume_id": "vol-ffffffff",
            "size_gib": 1,
            "sector_size": 512,
            "state": "error",
            "state_message": null,
            "start_time": "2026-01-01T00:00:00.000Z",
            "owner_id": "111122223333",
            "description": "",
            "encryption": encryption,
            "has_data": false,
            "permissions": {"public": false, "accounts": []},
        });
        if let Some(arn) = requested {
            v["requested_key_arn"] = json!(arn);
        }
        v
    }

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    /// Each kind of stored row reads back as its state and is written back with the same fields,
    /// so rows stored before the enum existed keep their meaning.
    #[test]
    fn snapshot_rows_map_to_one_encryption_state_and_back() {
        let wrapped = json!({
            "wrapped": {
                "key_arn": ARN,
                "dek_id": "dek-1",
                "cipher": "aes-256-xts",
                "blob": "00ff",
            },
            "context_id": "snap-0123456789abcdef0",
        });
        let cases = [
            (row(Value::Null, None), None, false, None),
            (row(wrapped.clone(), None), Some(ARN), true, Some("dek-1")),
            (row(Value::Null, Some(ARN)), Some(ARN), true, None),
        ];
        for (stored, key, encrypted, dek) in cases {
            let rec: SnapshotRec = serde_json::from_value(stored.clone()).unwrap();
            assert_eq!(rec.key_arn(), key);
            assert_eq!(rec.encrypted(), encrypted);
            let view = rec.view();
            assert_eq!(view.encrypted, encrypted);
            assert_eq!(view.kms_key_id.as_deref(), key);
            assert_eq!(view.data_encryption_key_id.as_deref(), dek);
            assert_eq!(serde_json::to_value(&rec).unwrap(), stored);
        }
        let failed: SnapshotRec = serde_json::from_value(row(Value::Null, Some(ARN))).unwrap();
        assert_eq!(
            failed.encryption,
            SnapshotEncryption::NoDataKey {
                key_arn: ARN.to_owned()
            }
        );
        assert!(failed.encryption.data_key().is_none());
        // A row missing the field entirely (never written so, but tolerated) reads as plain.
        let mut bare = row(Value::Null, None);
        bare.as_object_mut().unwrap().remove("encryption");
        let rec: SnapshotRec = serde_json::from_value(bare).unwrap();
        assert_eq!(rec.encryption, SnapshotEncryption::Plain);
    }
}
