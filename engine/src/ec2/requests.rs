//! The typed EC2 requests, deserialized from AWS-API-shaped JSON (docs/OPERATIONS.md). Unknown
//! fields are refused so a misspelt parameter never passes silently.

use super::rules::Filter;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct EbsBlockDevice {
    pub snapshot_id: Option<String>,
    pub volume_size: Option<u64>,
    pub volume_type: Option<String>,
    pub delete_on_termination: Option<bool>,
    pub encrypted: Option<bool>,
    pub kms_key_id: Option<String>,
    /// Accepted as AWS does; performance settings are not modelled.
    #[allow(dead_code)]
    pub iops: Option<u64>,
    /// Accepted as AWS does; performance settings are not modelled.
    #[allow(dead_code)]
    pub throughput: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct BlockDeviceMapping {
    pub device_name: String,
    pub no_device: Option<String>,
    pub virtual_name: Option<String>,
    pub ebs: Option<EbsBlockDevice>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct ImportSnapshot {
    pub file: String,
    pub encrypted: Option<bool>,
    pub kms_key_id: Option<String>,
    pub description: Option<String>,
    pub sector_size: Option<u32>,
    /// Our extension: the XTS variant of a new data key (`aes-256-xts` by default).
    pub cipher: Option<crate::xts::XtsCipher>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct ExportSnapshot {
    pub snapshot_id: String,
    pub file: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct Describe {
    #[serde(
        alias = "ImageIds",
        alias = "SnapshotIds",
        alias = "VolumeIds",
        alias = "InstanceIds"
    )]
    pub ids: Option<Vec<String>>,
    #[serde(default)]
    pub filters: Vec<Filter>,
    #[serde(alias = "Owners", alias = "OwnerIds")]
    pub owners: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct RegisterImage {
    pub name: String,
    pub description: Option<String>,
    pub root_device_name: Option<String>,
    #[serde(default)]
    pub block_device_mappings: Vec<BlockDeviceMapping>,
    pub architecture: Option<String>,
}

#[derive(Deserialize, PartialEq, serde::Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct CopyImage {
    pub source_image_id: String,
    pub source_region: String,
    pub name: String,
    pub description: Option<String>,
    pub encrypted: Option<bool>,
    pub kms_key_id: Option<String>,
    #[serde(skip_serializing)]
    pub client_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct CopySnapshot {
    pub source_snapshot_id: String,
    pub source_region: String,
    pub description: Option<String>,
    pub encrypted: Option<bool>,
    pub kms_key_id: Option<String>,
    pub presigned_url: Option<String>,
    pub destination_region: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct CreateSnapshot {
    pub volume_id: String,
    pub description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct SnapshotIdOnly {
    pub snapshot_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct DeregisterImage {
    pub image_id: String,
    pub delete_associated_snapshots: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct Placement {
    pub availability_zone: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct RunInstances {
    pub image_id: String,
    pub min_count: Option<u32>,
    pub max_count: Option<u32>,
    pub instance_type: Option<String>,
    pub placement: Option<Placement>,
    #[serde(default)]
    pub block_device_mappings: Vec<BlockDeviceMapping>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct InstanceIds {
    pub instance_ids: Vec<String>,
    pub force: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct CreateVolume {
    pub availability_zone: Option<String>,
    pub size: Option<u64>,
    pub snapshot_id: Option<String>,
    pub volume_type: Option<String>,
    pub encrypted: Option<bool>,
    pub kms_key_id: Option<String>,
    pub iops: Option<u64>,
    pub throughput: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct VolumeIdOnly {
    pub volume_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct AttachVolume {
    pub volume_id: String,
    pub instance_id: String,
    pub device: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct DetachVolume {
    pub volume_id: String,
    pub instance_id: Option<String>,
    pub device: Option<String>,
    pub force: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct CreateImage {
    pub instance_id: String,
    pub name: String,
    pub description: Option<String>,
    pub no_reboot: Option<bool>,
    #[serde(default)]
    pub block_device_mappings: Vec<BlockDeviceMapping>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct Empty {}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct KmsKeyIdOnly {
    pub kms_key_id: String,
}
