//! EC2 catalog records (volumes, snapshots, images, instances) and their AWS views
//! (`responses`). Pure: no I/O; the records are stored by the catalog and shown by Describe*.

use super::responses as out;
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
    pub encryption: Option<Encryption>,
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
            encrypted: self.encryption.is_some(),
            storage_tier: "standard".to_owned(),
            state_message: self.state_message.clone(),
            kms_key_id: self.encryption.as_ref().map(|e| e.key_arn().to_owned()),
            data_encryption_key_id: self.encryption.as_ref().map(|e| e.wrapped.dek_id.clone()),
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
            .map(|m| out::BlockDeviceMapping {
                device_name: m.device_name.clone(),
                ebs: out::EbsBlockDevice {
                    delete_on_termination: m.delete_on_termination,
                    snapshot_id: m.snapshot_id.clone(),
                    volume_size: m.volume_size,
                    volume_type: m.volume_type.clone(),
                    encrypted: m.encrypted,
                },
            })
            .collect();
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
            virtualization_type: "hvm".to_owned(),
            block_device_mappings,
            description: self.description.clone(),
            state_reason: state_reason(&self.state_reason),
            source_instance_id: self.source_instance_id.clone(),
            source_image_id: self.source_image_id.clone(),
            source_image_region: self.source_region.clone(),
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
        out::Instance {
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
        }
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
