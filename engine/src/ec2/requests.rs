//! The typed EC2 requests: public values with the AWS API's member names, deserialized from
//! AWS-API-shaped JSON (docs/OPERATIONS.md). Unknown fields are refused so a misspelt parameter
//! never passes silently.

pub use super::rules::Filter;
pub use super::tags::TagSpecification;
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
    pub iops: Option<u64>,
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

/// ImportSnapshot: AWS's input shape, and blockseal's short form `File` (a local path whose
/// format is found in the file).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ImportSnapshot {
    /// blockseal's short form of `DiskContainer`: a local path.
    pub file: Option<String>,
    pub disk_container: Option<SnapshotDiskContainer>,
    pub encrypted: Option<bool>,
    pub kms_key_id: Option<String>,
    pub description: Option<String>,
    pub client_token: Option<String>,
    /// Accepted as AWS does; there is no IAM role to assume for reading a local file.
    pub role_name: Option<String>,
    /// Accepted as AWS does; upload statistics are not kept.
    pub client_data: Option<serde_json::Value>,
    pub sector_size: Option<u32>,
    /// Our extension: the XTS variant of a new data key (`aes-256-xts` by default).
    pub cipher: Option<crate::xts::XtsCipher>,
    /// The tags of what the call creates.
    #[serde(default)]
    pub tag_specifications: Vec<TagSpecification>,
}

/// The disk to import (`SnapshotDiskContainer`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SnapshotDiskContainer {
    pub description: Option<String>,
    /// `RAW`, `VMDK`, `VHD` (and blockseal's `QCOW2`).
    pub format: Option<String>,
    /// `file:///absolute/path` or a plain path.
    pub url: Option<String>,
    /// An S3 object: refused, there is no S3 here.
    pub user_bucket: Option<serde_json::Value>,
}

/// DescribeImportSnapshotTasks.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeImportSnapshotTasks {
    pub import_task_ids: Option<Vec<String>>,
    #[serde(default)]
    pub filters: Vec<Filter>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
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
    pub virtualization_type: Option<String>,
    pub ena_support: Option<bool>,
    pub boot_mode: Option<String>,
    pub sriov_net_support: Option<String>,
    pub imds_support: Option<String>,
    pub tpm_support: Option<String>,
    /// The tags of what the call creates.
    #[serde(default)]
    pub tag_specifications: Vec<TagSpecification>,
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
    /// Copies the source image's user tags to the new image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_image_tags: Option<bool>,
    /// The tags of what the call creates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_specifications: Vec<TagSpecification>,
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
    /// The tags of what the call creates.
    #[serde(default)]
    pub tag_specifications: Vec<TagSpecification>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateSnapshot {
    pub volume_id: String,
    pub description: Option<String>,
    /// The tags of what the call creates.
    #[serde(default)]
    pub tag_specifications: Vec<TagSpecification>,
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
    /// Idempotency: the same token with the same parameters answers the first launch.
    pub client_token: Option<String>,
    pub key_name: Option<String>,
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    pub subnet_id: Option<String>,
    pub private_ip_address: Option<String>,
    /// Base64 (the AWS CLI and SDKs encode it).
    pub user_data: Option<String>,
    pub monitoring: Option<RunInstancesMonitoring>,
    pub ebs_optimized: Option<bool>,
    /// The tags of what the call creates.
    #[serde(default)]
    pub tag_specifications: Vec<TagSpecification>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RunInstancesMonitoring {
    pub enabled: bool,
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
    /// Idempotency: the same token with the same parameters answers the first volume.
    pub client_token: Option<String>,
    pub multi_attach_enabled: Option<bool>,
    /// The tags of what the call creates.
    #[serde(default)]
    pub tag_specifications: Vec<TagSpecification>,
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
    /// The tags of what the call creates.
    #[serde(default)]
    pub tag_specifications: Vec<TagSpecification>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Empty {}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KmsKeyIdOnly {
    pub kms_key_id: String,
}
