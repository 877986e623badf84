//! The typed EC2 requests: public values with the AWS API's member names, deserialized from
//! AWS-API-shaped JSON (docs/OPERATIONS.md). Unknown fields are refused so a misspelt parameter
//! never passes silently.

pub use super::rules::Filter;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EbsBlockDevice {
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

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct BlockDeviceMapping {
    pub device_name: String,
    pub no_device: Option<String>,
    pub virtual_name: Option<String>,
    pub ebs: Option<EbsBlockDevice>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ImportSnapshot {
    pub file: String,
    pub encrypted: Option<bool>,
    pub kms_key_id: Option<String>,
    pub description: Option<String>,
    pub sector_size: Option<u32>,
    /// Our extension: the XTS variant of a new data key (`aes-256-xts` by default).
    pub cipher: Option<crate::xts::XtsCipher>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ExportSnapshot {
    pub snapshot_id: String,
    pub file: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Describe {
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
    /// DescribeImages `ExecutableUsers`, DescribeSnapshots `RestorableByUserIds`.
    #[serde(alias = "ExecutableUsers", alias = "RestorableByUserIds")]
    pub users: Option<Vec<String>>,
    /// Page size (5–1000); not with explicit ids.
    pub max_results: Option<i64>,
    /// Where the previous page ended.
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RegisterImage {
    pub name: String,
    pub description: Option<String>,
    pub root_device_name: Option<String>,
    #[serde(default)]
    pub block_device_mappings: Vec<BlockDeviceMapping>,
    pub architecture: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, serde::Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CopyImage {
    pub source_image_id: String,
    pub source_region: String,
    pub name: String,
    pub description: Option<String>,
    pub encrypted: Option<bool>,
    pub kms_key_id: Option<String>,
    #[serde(skip_serializing)]
    pub client_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CopySnapshot {
    pub source_snapshot_id: String,
    pub source_region: String,
    pub description: Option<String>,
    pub encrypted: Option<bool>,
    pub kms_key_id: Option<String>,
    pub presigned_url: Option<String>,
    pub destination_region: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateSnapshot {
    pub volume_id: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SnapshotIdOnly {
    pub snapshot_id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DeregisterImage {
    pub image_id: String,
    pub delete_associated_snapshots: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Placement {
    pub availability_zone: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RunInstances {
    pub image_id: String,
    pub min_count: Option<u32>,
    pub max_count: Option<u32>,
    pub instance_type: Option<String>,
    pub placement: Option<Placement>,
    #[serde(default)]
    pub block_device_mappings: Vec<BlockDeviceMapping>,
    /// Accepted as AWS does (SDKs send one with every call); launches are not idempotent here.
    #[allow(dead_code)]
    pub client_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct InstanceIds {
    pub instance_ids: Vec<String>,
    pub force: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateVolume {
    pub availability_zone: Option<String>,
    pub size: Option<u64>,
    pub snapshot_id: Option<String>,
    pub volume_type: Option<String>,
    pub encrypted: Option<bool>,
    pub kms_key_id: Option<String>,
    pub iops: Option<u64>,
    pub throughput: Option<u64>,
    /// Accepted as AWS does (SDKs send one with every call); creates are not idempotent here.
    #[allow(dead_code)]
    pub client_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct VolumeIdOnly {
    pub volume_id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AttachVolume {
    pub volume_id: String,
    pub instance_id: String,
    pub device: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DetachVolume {
    pub volume_id: String,
    pub instance_id: Option<String>,
    pub device: Option<String>,
    pub force: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateImage {
    pub instance_id: String,
    pub name: String,
    pub description: Option<String>,
    pub no_reboot: Option<bool>,
    #[serde(default)]
    pub block_device_mappings: Vec<BlockDeviceMapping>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Empty {}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KmsKeyIdOnly {
    pub kms_key_id: String,
}
