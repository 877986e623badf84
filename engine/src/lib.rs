//! blockseal's engine: a local KMS, AES-XTS volume and snapshot files, a SQLite catalog, and the
//! EC2 image operations over them. The engine never prints; front ends (the CLI, the FUSE mount)
//! translate requests into calls here and errors into exit codes or errno.

mod accounts;
mod api;
pub mod base64;
pub mod bench;
mod blob;
mod catalog;
mod clock;
mod device;
mod doctor;
mod ec2;
mod error;
mod fail;
#[doc(hidden)]
pub mod fuzzing;
mod iam;
mod ids;
mod import;
mod jobs;
mod kms;
mod mount;
pub mod mountctl;
mod paths;
mod policy;
mod progress;
mod rekey;
mod request;
mod secret;
mod secret_mem;
mod storage;
mod sys;
pub mod xts;

pub use accounts::{valid_account_id, Account};
pub use api::{new_request_id, valid_principal, Context, Engine, Options, Session};
pub use device::{BlockDevice, FileDevice, MemDevice};
pub use doctor::{doctor, DoctorReport, Finding};
pub use ec2::direct::{EbsRequest, EbsResponse};
pub use ec2::preview::SnapshotOutcome;
pub use error::{Code, Error, ErrorKind, Result};
pub use iam::Credential;
pub use ids::{ImageId, ImportTaskId, InstanceId, KeyId, ReservationId, SnapshotId, VolumeId};
pub use jobs::Workers;
pub use mount::MountedVolume;
pub use paths::check_mount_point;
pub use progress::{NoProgress, Progress};
pub use request::{
    KmsAction, KmsRequest, Request, Response, DRY_RUN_MESSAGE, DRY_RUN_OPERATIONS, EC2_OPERATIONS,
    KMS_OPERATIONS,
};
pub use storage::{Backing, FileBacking, MemBacking, Volume};
/// The typed requests of the EC2, EBS direct and IAM operations.
pub mod requests {
    pub use crate::request::{
        AccessKeyRef, AttachVolume, BlockDeviceMapping, CompleteSnapshot, CopyImage, CopySnapshot,
        CreateImage, CreateSnapshot, CreateVolume, DeregisterImage, Describe,
        DescribeAccountAttributes, DescribeAvailabilityZones, DescribeImportSnapshotTasks,
        DescribeRegions, DetachVolume, EbsBlockDevice, Empty, ExportSnapshot, Filter,
        GetSnapshotBlock, ImportSnapshot, InstanceIds, KmsKeyIdOnly, ListChangedBlocks,
        ListSnapshotBlocks, Placement, PutSnapshotBlock, RegisterImage, RunInstances,
        SnapshotDiskContainer, SnapshotIdOnly, StartSnapshot, UserNameOnly, VolumeIdOnly,
        BLOCK_SIZE,
    };
    pub use crate::request::{
        AttributeValue, ImageAttributeRequest, ModifyImageAttribute, ModifySnapshotAttribute,
        PermissionItem, PermissionModifications, SnapshotAttributeRequest,
    };
    pub use crate::request::{CreateTags, DeleteTags, DescribeTags, TagRef, TagSpecification};
}
/// The typed requests of the KMS operations.
pub mod kms_requests {
    pub use crate::kms::requests::{
        CancelKeyDeletion, CreateAlias, CreateGrant, CreateKey, Decrypt, DeleteAlias, DescribeKey,
        DisableKey, EnableKey, Encrypt, GenerateDataKeyWithoutPlaintext, GrantConstraints,
        ListAliases, ListGrants, ListKeys, RevokeGrant, ScheduleKeyDeletion, UpdateAlias,
    };
    pub use crate::kms::requests::{ListResourceTags, Tag, TagResource, UntagResource};
}
/// The typed answers of the EC2, EBS and IAM operations.
pub mod responses {
    pub use crate::ec2::responses::*;
}
/// The typed responses of the KMS operations.
pub mod kms_responses {
    pub use crate::kms::responses::ListResourceTagsResponse;
    pub use crate::kms::responses::{
        AliasListEntry, CancelKeyDeletionResponse, CreateGrantResponse, CreateKeyResponse,
        DecryptResponse, DescribeKeyResponse, Empty, EncryptResponse,
        GenerateDataKeyWithoutPlaintextResponse, GrantConstraints, GrantListEntry, KeyListEntry,
        KeyMetadata, KmsResponse, ListAliasesResponse, ListGrantsResponse, ListKeysResponse,
        Plaintext, ScheduleKeyDeletionResponse, Timestamp,
    };
}
pub use secret::{DataKey, SecretString};
pub use secret_mem::{forbid_core_dumps, is_dumpable, key_lock_failure};
