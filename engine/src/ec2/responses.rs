//! Operations' answers as typed values: one output type per EC2, EBS and IAM operation, with
//! the member names of AWS's service models (botocore's `ec2`, `ebs` and `iam` `service-2.json`;
//! `server/model/` holds the trimmed copies the endpoint and its tests check them against).
//! Optional members are left out when absent, as AWS leaves them out.
//!
//! Pure data: built by the operations in `ec2`, turned into JSON, XML or CLI output by the
//! front ends.

use crate::secret::SecretString;
use serde::{Deserialize, Serialize};

macro_rules! shape {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        #[allow(missing_docs)]
        pub struct $name { $($body)* }
    };
}

// ----- snapshots -----

shape! {
    /// An EBS snapshot (`Snapshot`).
    pub struct Snapshot {
        pub snapshot_id: String,
        pub volume_id: String,
        pub volume_size: u64,
        pub state: String,
        pub progress: String,
        pub start_time: String,
        pub owner_id: String,
        pub description: String,
        pub encrypted: bool,
        pub storage_tier: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub state_message: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub kms_key_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub data_encryption_key_id: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        pub tags: Vec<Tag>,
    }
}

shape! {
    /// DescribeSnapshots' answer.
    pub struct DescribeSnapshotsResult {
        pub snapshots: Vec<Snapshot>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub next_token: Option<String>,
    }
}

shape! {
    /// The new snapshot's id (CopySnapshot).
    pub struct SnapshotIdResult {
        pub snapshot_id: String,
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        pub tags: Vec<Tag>,
    }
}

shape! {
    /// ImportSnapshot's answer.
    pub struct ImportSnapshotResult {
        pub import_task_id: String,
        pub description: String,
        pub snapshot_task_detail: SnapshotTaskDetail,
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        pub tags: Vec<Tag>,
    }
}

shape! {
    /// An import task (`ImportSnapshotTask`).
    pub struct ImportSnapshotTask {
        pub import_task_id: String,
        pub description: String,
        pub snapshot_task_detail: SnapshotTaskDetail,
    }
}

shape! {
    /// DescribeImportSnapshotTasks' answer.
    pub struct DescribeImportSnapshotTasksResult {
        pub import_snapshot_tasks: Vec<ImportSnapshotTask>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub next_token: Option<String>,
    }
}

shape! {
    /// An import's progress and outcome (`SnapshotTaskDetail`): `SnapshotId` once
    /// `completed`, `Progress` and `StatusMessage` while `active`, `StatusMessage` (the reason)
    /// once `deleted`.
    pub struct SnapshotTaskDetail {
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub snapshot_id: Option<String>,
        pub status: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub status_message: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub progress: Option<String>,
        pub disk_image_size: f64,
        pub format: String,
        pub encrypted: bool,
        pub description: String,
        pub url: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub kms_key_id: Option<String>,
    }
}

shape! {
    /// ExportSnapshot's answer (blockseal's own operation: the plaintext written to a file).
    pub struct ExportSnapshotResult {
        pub snapshot_id: String,
        pub file: String,
        pub size: u64,
    }
}

// ----- tags -----

shape! {
    /// A resource's tag (`Tag`): absent values read as empty, as AWS answers them.
    #[derive(Eq, PartialOrd, Ord, Default)]
    pub struct Tag {
        pub key: String,
        pub value: String,
    }
}

shape! {
    /// One tag of one resource (`TagDescription`, DescribeTags).
    pub struct TagDescription {
        pub key: String,
        pub resource_id: String,
        pub resource_type: String,
        pub value: String,
    }
}

shape! {
    /// DescribeTags' answer.
    pub struct DescribeTagsResult {
        pub tags: Vec<TagDescription>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub next_token: Option<String>,
    }
}

// ----- images -----

shape! {
    /// An AMI (`Image`).
    pub struct Image {
        pub image_id: String,
        pub name: String,
        pub state: String,
        pub owner_id: String,
        pub public: bool,
        pub creation_date: String,
        pub image_type: String,
        pub root_device_type: String,
        pub root_device_name: String,
        pub architecture: String,
        pub virtualization_type: String,
        pub block_device_mappings: Vec<BlockDeviceMapping>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub description: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub state_reason: Option<StateReason>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub source_instance_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub source_image_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub source_image_region: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub ena_support: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub boot_mode: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub sriov_net_support: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub imds_support: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub tpm_support: Option<String>,
        pub hypervisor: String,
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        pub tags: Vec<Tag>,
    }
}

shape! {
    /// One entry of an image's block device mapping.
    pub struct BlockDeviceMapping {
        pub device_name: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub ebs: Option<EbsBlockDevice>,
        /// An instance-store entry (`ephemeral0` …).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub virtual_name: Option<String>,
        /// A suppressed device (`""`).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub no_device: Option<String>,
    }
}

shape! {
    /// An image mapping's EBS volume.
    pub struct EbsBlockDevice {
        pub delete_on_termination: bool,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub snapshot_id: Option<String>,
        pub volume_size: u64,
        pub volume_type: String,
        pub encrypted: bool,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub iops: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub throughput: Option<u32>,
    }
}

shape! {
    /// Why an image failed or an instance stopped (`StateReason`).
    pub struct StateReason {
        pub code: String,
        pub message: String,
    }
}

shape! {
    /// DescribeImages' answer.
    pub struct DescribeImagesResult {
        pub images: Vec<Image>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub next_token: Option<String>,
    }
}

shape! {
    /// The image's id (RegisterImage, CopyImage, CreateImage).
    pub struct ImageIdResult {
        pub image_id: String,
    }
}

shape! {
    /// DeregisterImage's answer.
    pub struct DeregisterImageResult {
        pub r#return: bool,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub delete_snapshot_results: Option<Vec<DeleteSnapshotReturnCode>>,
    }
}

shape! {
    /// What DeregisterImage did with one of the image's snapshots.
    pub struct DeleteSnapshotReturnCode {
        pub snapshot_id: String,
        pub return_code: String,
    }
}

// ----- volumes -----

shape! {
    /// An EBS volume (`Volume`; CreateVolume answers with one).
    pub struct Volume {
        pub volume_id: String,
        pub size: u64,
        pub snapshot_id: String,
        pub availability_zone: String,
        pub state: String,
        pub create_time: String,
        pub volume_type: String,
        pub encrypted: bool,
        pub attachments: Vec<VolumeAttachment>,
        pub multi_attach_enabled: bool,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub kms_key_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub iops: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub throughput: Option<u32>,
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        pub tags: Vec<Tag>,
    }
}

shape! {
    /// A volume's attachment (AttachVolume and DetachVolume answer with one).
    pub struct VolumeAttachment {
        pub attach_time: String,
        pub device: String,
        pub instance_id: String,
        pub state: String,
        pub volume_id: String,
        pub delete_on_termination: bool,
    }
}

shape! {
    /// DescribeVolumes' answer.
    pub struct DescribeVolumesResult {
        pub volumes: Vec<Volume>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub next_token: Option<String>,
    }
}

// ----- instances -----

shape! {
    /// A reservation: the instances of one RunInstances call.
    pub struct Reservation {
        pub reservation_id: String,
        pub owner_id: String,
        pub instances: Vec<Instance>,
    }
}

shape! {
    /// An instance.
    pub struct Instance {
        pub instance_id: String,
        pub image_id: String,
        pub instance_type: String,
        pub state: InstanceState,
        pub launch_time: String,
        pub placement: Placement,
        pub root_device_name: String,
        pub root_device_type: String,
        pub block_device_mappings: Vec<InstanceBlockDeviceMapping>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub state_reason: Option<StateReason>,
        pub ami_launch_index: u32,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub key_name: Option<String>,
        pub security_groups: Vec<GroupIdentifier>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub vpc_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub subnet_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub private_ip_address: Option<String>,
        pub private_dns_name: String,
        pub public_dns_name: String,
        pub architecture: String,
        pub virtualization_type: String,
        pub hypervisor: String,
        pub ena_support: bool,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub sriov_net_support: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub boot_mode: Option<String>,
        pub current_instance_boot_mode: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub tpm_support: Option<String>,
        pub ebs_optimized: bool,
        pub monitoring: Monitoring,
        pub source_dest_check: bool,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub client_token: Option<String>,
        pub network_interfaces: Vec<InstanceNetworkInterface>,
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        pub tags: Vec<Tag>,
    }
}

shape! {
    /// A security group an instance or interface is in.
    pub struct GroupIdentifier {
        pub group_id: String,
        pub group_name: String,
    }
}

shape! {
    /// Detailed monitoring: `enabled` or `disabled`.
    pub struct Monitoring {
        pub state: String,
    }
}

shape! {
    /// An instance's network interface (its primary one: the only one an instance has here).
    pub struct InstanceNetworkInterface {
        pub attachment: InstanceNetworkInterfaceAttachment,
        pub description: String,
        pub groups: Vec<GroupIdentifier>,
        pub mac_address: String,
        pub network_interface_id: String,
        pub owner_id: String,
        pub private_dns_name: String,
        pub private_ip_address: String,
        pub private_ip_addresses: Vec<InstancePrivateIpAddress>,
        pub source_dest_check: bool,
        pub status: String,
        pub subnet_id: String,
        pub vpc_id: String,
        pub interface_type: String,
    }
}

shape! {
    /// How a network interface is attached to its instance.
    pub struct InstanceNetworkInterfaceAttachment {
        pub attach_time: String,
        pub attachment_id: String,
        pub delete_on_termination: bool,
        pub device_index: u32,
        pub status: String,
    }
}

shape! {
    /// One private address of a network interface.
    pub struct InstancePrivateIpAddress {
        pub primary: bool,
        pub private_dns_name: String,
        pub private_ip_address: String,
    }
}

shape! {
    /// An instance's state: AWS's code (0 pending … 80 stopped) and name.
    pub struct InstanceState {
        pub code: u32,
        pub name: String,
    }
}

shape! {
    /// Where an instance runs.
    pub struct Placement {
        pub availability_zone: String,
    }
}

shape! {
    /// A volume attached to an instance, as the instance shows it.
    pub struct InstanceBlockDeviceMapping {
        pub device_name: String,
        pub ebs: EbsInstanceBlockDevice,
    }
}

shape! {
    /// The attachment of an instance's volume.
    pub struct EbsInstanceBlockDevice {
        pub volume_id: String,
        pub status: String,
        pub attach_time: String,
        pub delete_on_termination: bool,
    }
}

shape! {
    /// DescribeInstances' answer.
    pub struct DescribeInstancesResult {
        pub reservations: Vec<Reservation>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub next_token: Option<String>,
    }
}

shape! {
    /// One instance's change of state.
    pub struct InstanceStateChange {
        pub instance_id: String,
        pub current_state: InstanceState,
        pub previous_state: InstanceState,
    }
}

shape! {
    /// StartInstances' answer.
    pub struct StartInstancesResult {
        pub starting_instances: Vec<InstanceStateChange>,
    }
}

shape! {
    /// StopInstances' answer.
    pub struct StopInstancesResult {
        pub stopping_instances: Vec<InstanceStateChange>,
    }
}

shape! {
    /// TerminateInstances' answer.
    pub struct TerminateInstancesResult {
        pub terminating_instances: Vec<InstanceStateChange>,
    }
}

// ----- EBS encryption settings -----

shape! {
    /// Encryption by default, as the Enable/Disable/Get calls answer.
    pub struct EbsEncryptionByDefaultResult {
        pub ebs_encryption_by_default: bool,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub sse_type: Option<String>,
    }
}

shape! {
    /// The region's default EBS key, as the Get/Modify/Reset calls answer.
    pub struct EbsDefaultKmsKeyIdResult {
        pub kms_key_id: String,
    }
}

// ----- account -----

shape! {
    /// DescribeRegions' answer.
    pub struct DescribeRegionsResult {
        pub regions: Vec<Region>,
    }
}

shape! {
    /// A region.
    pub struct Region {
        pub region_name: String,
        pub endpoint: String,
        pub opt_in_status: String,
    }
}

shape! {
    /// DescribeAvailabilityZones' answer.
    pub struct DescribeAvailabilityZonesResult {
        pub availability_zones: Vec<AvailabilityZone>,
    }
}

shape! {
    /// An availability zone.
    pub struct AvailabilityZone {
        pub state: String,
        pub opt_in_status: String,
        pub messages: Vec<AvailabilityZoneMessage>,
        pub region_name: String,
        pub zone_name: String,
        pub zone_id: String,
        pub group_name: String,
        pub network_border_group: String,
        pub zone_type: String,
    }
}

shape! {
    /// A message about a zone.
    pub struct AvailabilityZoneMessage {
        pub message: String,
    }
}

shape! {
    /// DescribeAccountAttributes' answer.
    pub struct DescribeAccountAttributesResult {
        pub account_attributes: Vec<AccountAttribute>,
    }
}

shape! {
    /// One account attribute.
    pub struct AccountAttribute {
        pub attribute_name: String,
        pub attribute_values: Vec<AccountAttributeValue>,
    }
}

shape! {
    /// One value of an account attribute.
    pub struct AccountAttributeValue {
        pub attribute_value: String,
    }
}

// ----- IAM access keys -----

shape! {
    /// CreateAccessKey's answer.
    pub struct CreateAccessKeyResult {
        pub access_key: AccessKey,
    }
}

shape! {
    /// A new access key with its secret: the only time the secret is shown.
    pub struct AccessKey {
        pub user_name: String,
        pub access_key_id: String,
        pub status: String,
        pub create_date: String,
        pub secret_access_key: SecretString,
    }
}

shape! {
    /// ListAccessKeys' answer.
    pub struct ListAccessKeysResult {
        pub access_key_metadata: Vec<AccessKeyMetadata>,
        pub is_truncated: bool,
    }
}

shape! {
    /// An access key without its secret.
    pub struct AccessKeyMetadata {
        pub user_name: String,
        pub access_key_id: String,
        pub status: String,
        pub create_date: String,
    }
}

// ----- EBS direct APIs -----

shape! {
    /// StartSnapshot's answer.
    pub struct StartSnapshotResult {
        pub snapshot_id: String,
        pub owner_id: String,
        pub status: String,
        pub start_time: String,
        pub volume_size: u64,
        pub block_size: u64,
        /// Echoed as given (`[{"Key": …, "Value": …}]`).
        pub tags: Vec<serde_json::Value>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub description: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub parent_snapshot_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub kms_key_arn: Option<String>,
    }
}

shape! {
    /// PutSnapshotBlock's answer: the checksum the block was verified against.
    pub struct PutSnapshotBlockResult {
        pub checksum: String,
        pub checksum_algorithm: String,
    }
}

shape! {
    /// CompleteSnapshot's answer.
    pub struct CompleteSnapshotResult {
        pub status: String,
    }
}

shape! {
    /// ListSnapshotBlocks' answer.
    pub struct ListSnapshotBlocksResult {
        pub blocks: Vec<Block>,
        pub expiry_time: String,
        pub volume_size: u64,
        pub block_size: u64,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub next_token: Option<String>,
    }
}

shape! {
    /// A written block of a snapshot.
    pub struct Block {
        pub block_index: u64,
        pub block_token: String,
    }
}

shape! {
    /// ListChangedBlocks' answer.
    pub struct ListChangedBlocksResult {
        pub changed_blocks: Vec<ChangedBlock>,
        pub expiry_time: String,
        pub volume_size: u64,
        pub block_size: u64,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub next_token: Option<String>,
    }
}

shape! {
    /// A block that differs between two snapshots (a token for each side that has it).
    pub struct ChangedBlock {
        pub block_index: u64,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub first_block_token: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub second_block_token: Option<String>,
    }
}

/// GetSnapshotBlock's answer: the members AWS sends as headers, and the block itself (the
/// streaming body, not a JSON member).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetSnapshotBlockResult {
    /// The block's length in bytes.
    pub data_length: u64,
    /// Base64 SHA-256 of the block.
    pub checksum: String,
    /// Always `SHA256`.
    pub checksum_algorithm: String,
    /// The block's plaintext.
    #[serde(skip)]
    pub block_data: Vec<u8>,
}

impl std::fmt::Debug for GetSnapshotBlockResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetSnapshotBlockResult")
            .field("data_length", &self.data_length)
            .field("checksum", &self.checksum)
            .finish_non_exhaustive()
    }
}

shape! {
    /// An answer with no members (DeleteSnapshot, DeleteVolume, UpdateAccessKey, …).
    pub struct Empty {}
}

// ----- sharing -----

shape! {
    /// One entry of `LaunchPermissions` / `CreateVolumePermissions`: an account or `Group: all`.
    pub struct Permission {
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub group: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub user_id: Option<String>,
    }
}

shape! {
    /// An `AttributeValue`.
    pub struct AttributeValue {
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub value: Option<String>,
    }
}

shape! {
    /// DescribeImageAttribute's answer (`ImageAttribute`): the image id and the one attribute
    /// asked for.
    pub struct ImageAttribute {
        pub image_id: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub launch_permissions: Option<Vec<Permission>>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub description: Option<AttributeValue>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub block_device_mappings: Option<Vec<BlockDeviceMapping>>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub product_codes: Option<Vec<ProductCode>>,
    }
}

shape! {
    /// A `ProductCode` of an image or snapshot (AWS Marketplace or DevPay).
    pub struct ProductCode {
        pub product_code_id: String,
        /// `devpay` or `marketplace`.
        pub product_code_type: String,
    }
}

shape! {
    /// DescribeSnapshotAttribute's answer.
    pub struct DescribeSnapshotAttributeResult {
        pub snapshot_id: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub create_volume_permissions: Option<Vec<Permission>>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub product_codes: Option<Vec<ProductCode>>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn optional_members_are_left_out_and_names_are_aws_names() {
        let v = serde_json::to_value(DeregisterImageResult {
            r#return: true,
            delete_snapshot_results: None,
        })
        .unwrap();
        assert_eq!(v, json!({"Return": true}));
        let s = Snapshot {
            snapshot_id: "snap-1".into(),
            volume_id: "vol-ffffffff".into(),
            volume_size: 1,
            state: "completed".into(),
            progress: "100%".into(),
            start_time: "t".into(),
            owner_id: "111122223333".into(),
            description: String::new(),
            encrypted: false,
            storage_tier: "standard".into(),
            state_message: None,
            kms_key_id: None,
            data_encryption_key_id: None,
            tags: Vec::new(),
        };
        let v = serde_json::to_value(&s).unwrap();
        assert!(
            v.get("Tags").is_none(),
            "no tags: no Tags member, as AWS answers"
        );
        assert!(v.get("KmsKeyId").is_none());
        assert_eq!(v["SnapshotId"], "snap-1");
        let back: Snapshot = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn a_new_access_keys_secret_is_not_in_its_debug_form() {
        let k = AccessKey {
            user_name: "alice".into(),
            access_key_id: "AKIAEXAMPLE".into(),
            status: "Active".into(),
            create_date: "t".into(),
            secret_access_key: SecretString::new("wJalrXUtnFEMI/K7MDENG".into()),
        };
        assert!(!format!("{k:?}").contains("wJalr"));
        let v = serde_json::to_value(&k).unwrap();
        assert_eq!(v["SecretAccessKey"], "wJalrXUtnFEMI/K7MDENG");
    }
}
