//! EC2 catalog records (volumes, snapshots, images, instances) and their AWS-shaped JSON views.
//! Pure: no I/O; the records are stored by the catalog and rendered for Describe* responses.

use crate::catalog::Record;
use crate::kms::WrappedKey;
use crate::xts::XtsCipher;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

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
}

impl VolumeState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            VolumeState::Creating => "creating",
            VolumeState::Available => "available",
            VolumeState::InUse => "in-use",
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
    pub(crate) fn attachment_json(&self, state: &str) -> Value {
        let a = self
            .attachment
            .as_ref()
            .expect("only attached volumes have an attachment view");
        json!({
            "AttachTime": a.attach_time,
            "Device": a.device,
            "InstanceId": a.instance_id,
            "State": state,
            "VolumeId": self.id,
            "DeleteOnTermination": a.delete_on_termination,
        })
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({
            "VolumeId": self.id,
            "Size": self.size_gib,
            "SnapshotId": self.snapshot_id,
            "AvailabilityZone": self.az,
            "State": self.state.as_str(),
            "CreateTime": self.create_time,
            "VolumeType": self.volume_type,
            "Encrypted": self.encryption.is_some(),
            "Attachments": if self.attachment.is_some() { vec![self.attachment_json("attached")] } else { vec![] },
            "MultiAttachEnabled": false,
        });
        if let Some(e) = &self.encryption {
            v["KmsKeyId"] = json!(e.key_arn());
        }
        v
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
    pub(crate) fn state_str(&self) -> &'static str {
        match self.state {
            SnapshotState::Pending => "pending",
            SnapshotState::Completed => "completed",
            SnapshotState::Error => "error",
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({
            "SnapshotId": self.id,
            "VolumeId": self.volume_id,
            "VolumeSize": self.size_gib,
            "State": self.state_str(),
            "Progress": if self.state == SnapshotState::Completed { "100%" } else { "0%" },
            "StartTime": self.start_time,
            "OwnerId": self.owner_id,
            "Description": self.description,
            "Encrypted": self.encryption.is_some(),
            "StorageTier": "standard",
        });
        if let Some(m) = &self.state_message {
            v["StateMessage"] = json!(m);
        }
        if let Some(e) = &self.encryption {
            v["KmsKeyId"] = json!(e.key_arn());
            v["DataEncryptionKeyId"] = json!(e.wrapped.dek_id);
        }
        v
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

    pub(crate) fn to_json(&self) -> Value {
        let bdm: Vec<Value> = self
            .mappings
            .iter()
            .map(|m| {
                let mut ebs = Map::new();
                ebs.insert("DeleteOnTermination".into(), json!(m.delete_on_termination));
                if let Some(s) = &m.snapshot_id {
                    ebs.insert("SnapshotId".into(), json!(s));
                }
                ebs.insert("VolumeSize".into(), json!(m.volume_size));
                ebs.insert("VolumeType".into(), json!(m.volume_type));
                ebs.insert("Encrypted".into(), json!(m.encrypted));
                json!({"DeviceName": m.device_name, "Ebs": ebs})
            })
            .collect();
        let mut v = json!({
            "ImageId": self.id,
            "Name": self.name,
            "State": self.state_str(),
            "OwnerId": self.owner_id,
            "Public": false,
            "CreationDate": self.creation_date,
            "ImageType": "machine",
            "RootDeviceType": "ebs",
            "RootDeviceName": self.root_device_name,
            "Architecture": self.architecture,
            "VirtualizationType": "hvm",
            "BlockDeviceMappings": bdm,
        });
        if let Some(d) = &self.description {
            v["Description"] = json!(d);
        }
        if let Some((code, msg)) = &self.state_reason {
            v["StateReason"] = json!({"Code": code, "Message": msg});
        }
        if let Some(i) = &self.source_instance_id {
            v["SourceInstanceId"] = json!(i);
        }
        if let Some(i) = &self.source_image_id {
            v["SourceImageId"] = json!(i);
        }
        if let Some(r) = &self.source_region {
            v["SourceImageRegion"] = json!(r);
        }
        v
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
    pub(crate) fn to_json(self) -> Value {
        json!({"Code": self.code(), "Name": self.name()})
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
    pub(crate) fn to_json(&self, volumes: &[VolumeRec], shown_state: InstanceState) -> Value {
        let mut vols: Vec<&VolumeRec> = volumes.iter().collect();
        vols.sort_by_key(|v| {
            let a = v.attachment.as_ref().expect("attached");
            (a.device != self.root_device_name, a.device.clone())
        });
        let bdm: Vec<Value> = vols
            .iter()
            .map(|v| {
                let a = v.attachment.as_ref().expect("attached");
                json!({"DeviceName": a.device, "Ebs": {
                    "VolumeId": v.id,
                    "Status": "attached",
                    "AttachTime": a.attach_time,
                    "DeleteOnTermination": a.delete_on_termination,
                }})
            })
            .collect();
        let mut v = json!({
            "InstanceId": self.id,
            "ImageId": self.image_id,
            "InstanceType": self.instance_type,
            "State": shown_state.to_json(),
            "LaunchTime": self.launch_time,
            "Placement": {"AvailabilityZone": self.az},
            "RootDeviceName": self.root_device_name,
            "RootDeviceType": "ebs",
            "BlockDeviceMappings": bdm,
        });
        if let Some((code, msg)) = &self.state_reason {
            v["StateReason"] = json!({"Code": code, "Message": msg});
        }
        v
    }
}

/// Settings keys, per region.
pub(crate) fn ebd_setting(region: &str) -> String {
    format!("ebs-encryption-by-default/{region}")
}

pub(crate) fn default_key_setting(region: &str) -> String {
    format!("ebs-default-kms-key-id/{region}")
}

pub(crate) fn client_token_setting(region: &str, op: &str, token: &str) -> String {
    format!("client-token/{region}/{op}/{token}")
}
