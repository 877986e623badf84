//! Operations as typed values: one `Request` variant per operation, each carrying its request
//! with the AWS API's member names. Front ends (the CLI, the API endpoint) build or parse a
//! `Request` and hand it to [`crate::Engine::call`]; nothing below them dispatches on strings.
//!
//! Pure: parsing and classification only, no I/O.

pub use crate::ec2::account::{
    DescribeAccountAttributes, DescribeAvailabilityZones, DescribeRegions,
};
pub use crate::ec2::direct::{
    CompleteSnapshot, GetSnapshotBlock, ListChangedBlocks, ListSnapshotBlocks, PutSnapshotBlock,
    StartSnapshot, BLOCK_SIZE,
};
use crate::ec2::requests as rq;
use crate::ec2::responses as out;
pub use crate::ec2::sharing::{
    AttributeValue, ImageAttributeRequest, ModifyImageAttribute, ModifySnapshotAttribute,
    PermissionItem, PermissionModifications, SnapshotAttributeRequest,
};
use crate::error::{Code, Error, Result};
use crate::iam::users as iu;
pub use crate::iam::{AccessKeyRef, UserNameOnly};
use crate::kms::requests as kq;
pub use crate::kms::responses::KmsResponse;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub use crate::ec2::tags::{CreateTags, DeleteTags, DescribeTags, TagRef, TagSpecification};
pub use rq::{
    AttachVolume, BlockDeviceMapping, CopyImage, CopySnapshot, CreateImage, CreateSnapshot,
    CreateVolume, DeregisterImage, Describe, DescribeImportSnapshotTasks, DetachVolume,
    EbsBlockDevice, Empty, ExportSnapshot, Filter, ImportSnapshot, InstanceIds, KmsKeyIdOnly,
    Placement, RegisterImage, RunInstances, SnapshotDiskContainer, SnapshotIdOnly, VolumeIdOnly,
};

macro_rules! requests {
    ($($name:ident($ty:ty) -> $out:ty $(, read $ro:literal)?;)*) => {
        /// One operation with its request.
        #[derive(Debug, Clone)]
        #[non_exhaustive]
        pub enum Request {
            $(#[allow(missing_docs)] $name($ty),)*
            /// A KMS operation.
            Kms(KmsRequest),
            /// An EC2 request sent with `DryRun=true`: checked as far as the engine can without
            /// changing anything, then answered `DryRunOperation` (see [`DRY_RUN_OPERATIONS`]).
            DryRun(Box<Request>),
        }

        impl Request {
            /// The operation's AWS name, e.g. `CopyImage`.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Request::$name(_) => stringify!($name),)*
                    Request::Kms(k) => k.action().name(),
                    Request::DryRun(r) => r.name(),
                }
            }

            /// Whether the operation only reads (it never takes the catalog's write lock).
            pub fn is_read_only(&self) -> bool {
                match self {
                    $(Request::$name(_) => false $(|| $ro)?,)*
                    Request::Kms(k) => k.is_read_only(),
                    Request::DryRun(_) => true,
                }
            }

            /// Parses operation `op`'s request from AWS-API-shaped JSON (member names as in the
            /// AWS API; `null` is an empty request).
            ///
            /// # Errors
            /// `InvalidAction` for an unknown operation; `InvalidParameterValue` (EC2) for an
            /// unknown member or a value of the wrong type; for KMS operations, AWS KMS's
            /// `ValidationException` (see [`KmsRequest::parse`]).
            ///
            /// `DryRun` is a member of the operations in [`DRY_RUN_OPERATIONS`]: `true` makes the
            /// request a [`Request::DryRun`], `false` is the same as leaving it out.
            pub fn parse(op: &str, mut body: Value) -> Result<Request> {
                let dry_run = take_dry_run(op, &mut body)?;
                let request = Request::parse_plain(op, body)?;
                Ok(if dry_run {
                    Request::DryRun(Box::new(request))
                } else {
                    request
                })
            }

            fn parse_plain(op: &str, body: Value) -> Result<Request> {
                match op {
                    $(stringify!($name) => Ok(Request::$name(parse(body)?)),)*
                    _ => match KmsAction::from_name(op) {
                        Some(action) => Ok(Request::Kms(KmsRequest::parse(action, body)?)),
                        None => Err(Error::new(
                            Code::INVALID_ACTION,
                            format!("The action {op} is not valid for this web service."),
                        )),
                    },
                }
            }
        }

        /// One operation's answer: the variant of the request's operation, holding that
        /// operation's output type (`crate::responses`). It serializes as the output alone, with
        /// AWS's member names.
        #[derive(Debug, Clone, Serialize)]
        #[serde(untagged)]
        #[non_exhaustive]
        pub enum Response {
            $(#[allow(missing_docs)] $name($out),)*
            /// A KMS operation's answer.
            Kms(KmsResponse),
        }

        impl Response {
            /// The operation's AWS name.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Response::$name(_) => stringify!($name),)*
                    Response::Kms(k) => k.name(),
                }
            }
        }

        /// Every EC2 and IAM operation's name, in declaration order.
        pub const EC2_OPERATIONS: &[&str] = &[$(stringify!($name),)*];
    };
}

requests! {
    ImportSnapshot(ImportSnapshot) -> out::ImportSnapshotResult;
    DescribeImportSnapshotTasks(DescribeImportSnapshotTasks) -> out::DescribeImportSnapshotTasksResult, read true;
    ExportSnapshot(ExportSnapshot) -> out::ExportSnapshotResult, read true;
    DescribeSnapshots(Describe) -> out::DescribeSnapshotsResult, read true;
    CopySnapshot(CopySnapshot) -> out::SnapshotIdResult;
    CreateSnapshot(CreateSnapshot) -> out::Snapshot;
    DeleteSnapshot(SnapshotIdOnly) -> out::Empty;
    DescribeImages(Describe) -> out::DescribeImagesResult, read true;
    RegisterImage(RegisterImage) -> out::ImageIdResult;
    CopyImage(CopyImage) -> out::ImageIdResult;
    CreateImage(CreateImage) -> out::ImageIdResult;
    DeregisterImage(DeregisterImage) -> out::DeregisterImageResult;
    DescribeVolumes(Describe) -> out::DescribeVolumesResult, read true;
    CreateVolume(CreateVolume) -> out::Volume;
    DeleteVolume(VolumeIdOnly) -> out::Empty;
    AttachVolume(AttachVolume) -> out::VolumeAttachment;
    DetachVolume(DetachVolume) -> out::VolumeAttachment;
    DescribeInstances(Describe) -> out::DescribeInstancesResult, read true;
    RunInstances(RunInstances) -> out::Reservation;
    StartInstances(InstanceIds) -> out::StartInstancesResult;
    StopInstances(InstanceIds) -> out::StopInstancesResult;
    TerminateInstances(InstanceIds) -> out::TerminateInstancesResult;
    EnableEbsEncryptionByDefault(Empty) -> out::EbsEncryptionByDefaultResult;
    DisableEbsEncryptionByDefault(Empty) -> out::EbsEncryptionByDefaultResult;
    GetEbsEncryptionByDefault(Empty) -> out::EbsEncryptionByDefaultResult, read true;
    GetEbsDefaultKmsKeyId(Empty) -> out::EbsDefaultKmsKeyIdResult, read true;
    ModifyEbsDefaultKmsKeyId(KmsKeyIdOnly) -> out::EbsDefaultKmsKeyIdResult;
    ResetEbsDefaultKmsKeyId(Empty) -> out::EbsDefaultKmsKeyIdResult;
    DescribeRegions(DescribeRegions) -> out::DescribeRegionsResult, read true;
    DescribeAvailabilityZones(DescribeAvailabilityZones) -> out::DescribeAvailabilityZonesResult, read true;
    DescribeAccountAttributes(DescribeAccountAttributes) -> out::DescribeAccountAttributesResult, read true;
    CreateTags(CreateTags) -> out::Empty;
    DeleteTags(DeleteTags) -> out::Empty;
    DescribeTags(DescribeTags) -> out::DescribeTagsResult, read true;
    CreateAccessKey(UserNameOnly) -> out::CreateAccessKeyResult;
    ListAccessKeys(UserNameOnly) -> out::ListAccessKeysResult, read true;
    UpdateAccessKey(AccessKeyRef) -> out::Empty;
    DeleteAccessKey(AccessKeyRef) -> out::Empty;
    ModifyImageAttribute(ModifyImageAttribute) -> out::Empty;
    DescribeImageAttribute(ImageAttributeRequest) -> out::ImageAttribute, read true;
    ResetImageAttribute(ImageAttributeRequest) -> out::Empty;
    ModifySnapshotAttribute(ModifySnapshotAttribute) -> out::Empty;
    DescribeSnapshotAttribute(SnapshotAttributeRequest) -> out::DescribeSnapshotAttributeResult, read true;
    ResetSnapshotAttribute(SnapshotAttributeRequest) -> out::Empty;
    CreateUser(iu::CreateUser) -> iu::UserResult;
    GetUser(UserNameOnly) -> iu::UserResult, read true;
    ListUsers(iu::ListUsers) -> iu::ListUsersResult, read true;
    DeleteUser(iu::UserName) -> out::Empty;
    PutUserPolicy(iu::PutUserPolicy) -> out::Empty;
    GetUserPolicy(iu::UserPolicyRef) -> iu::GetUserPolicyResult, read true;
    ListUserPolicies(iu::ListUserPolicies) -> iu::ListUserPoliciesResult, read true;
    DeleteUserPolicy(iu::UserPolicyRef) -> out::Empty;
    GetCallerIdentity(iu::GetCallerIdentity) -> iu::CallerIdentity, read true;
}

/// The operations whose AWS input shape has the `DryRun` member (botocore's `ec2` model; a
/// server test compares this list with the embedded model). `ExportSnapshot` is blockseal's
/// own and has none; neither do the IAM and KMS operations here.
pub const DRY_RUN_OPERATIONS: &[&str] = &[
    "ImportSnapshot",
    "DescribeImportSnapshotTasks",
    "DescribeSnapshots",
    "CopySnapshot",
    "CreateSnapshot",
    "DeleteSnapshot",
    "DescribeImages",
    "RegisterImage",
    "CopyImage",
    "CreateImage",
    "DeregisterImage",
    "DescribeVolumes",
    "CreateVolume",
    "DeleteVolume",
    "AttachVolume",
    "DetachVolume",
    "DescribeInstances",
    "RunInstances",
    "StartInstances",
    "StopInstances",
    "TerminateInstances",
    "EnableEbsEncryptionByDefault",
    "DisableEbsEncryptionByDefault",
    "GetEbsEncryptionByDefault",
    "GetEbsDefaultKmsKeyId",
    "ModifyEbsDefaultKmsKeyId",
    "ResetEbsDefaultKmsKeyId",
    "DescribeRegions",
    "DescribeAvailabilityZones",
    "DescribeAccountAttributes",
    "CreateTags",
    "DeleteTags",
    "DescribeTags",
    "ModifyImageAttribute",
    "DescribeImageAttribute",
    "ResetImageAttribute",
    "ModifySnapshotAttribute",
    "DescribeSnapshotAttribute",
    "ResetSnapshotAttribute",
];

/// The message of AWS's `DryRunOperation` answer.
pub const DRY_RUN_MESSAGE: &str = "Request would have succeeded, but DryRun flag is set.";

/// Takes the `DryRun` member out of `body` when operation `op` has one; for other operations
/// the member stays, and parsing refuses it as an unknown member.
fn take_dry_run(op: &str, body: &mut Value) -> Result<bool> {
    if !DRY_RUN_OPERATIONS.contains(&op) {
        return Ok(false);
    }
    let Some(m) = body.as_object_mut() else {
        return Ok(false);
    };
    match m.remove("DryRun") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(false),
        Some(Value::Bool(true)) => Ok(true),
        Some(other) => Err(Error::new(
            Code::INVALID_PARAMETER_VALUE,
            format!("Invalid value '{other}' for DryRun: expected a boolean."),
        )),
    }
}

/// Parses a request, mapping schema errors to `InvalidParameterValue`.
fn parse<T: DeserializeOwned>(req: Value) -> Result<T> {
    let req = if req.is_null() {
        Value::Object(Default::default())
    } else {
        req
    };
    T::deserialize(req).map_err(|e| {
        Error::new(
            Code::INVALID_PARAMETER_VALUE,
            format!("Invalid request: {e}"),
        )
    })
}

macro_rules! kms_actions {
    ($($name:ident $(read $ro:literal)?,)*) => {
        /// A KMS operation.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum KmsAction {
            $(#[allow(missing_docs)] $name,)*
        }

        impl KmsAction {
            /// The operation's AWS name, e.g. `CreateKey`.
            pub fn name(self) -> &'static str {
                match self {
                    $(KmsAction::$name => stringify!($name),)*
                }
            }

            /// The action named `name`.
            pub fn from_name(name: &str) -> Option<KmsAction> {
                match name {
                    $(stringify!($name) => Some(KmsAction::$name),)*
                    _ => None,
                }
            }

            /// Whether the action only reads the catalog.
            pub fn is_read_only(self) -> bool {
                match self {
                    $(KmsAction::$name => false $(|| $ro)?,)*
                }
            }
        }

        /// A KMS operation with its request (the types of [`crate::kms_requests`]).
        #[derive(Debug, Clone)]
        #[non_exhaustive]
        pub enum KmsRequest {
            $(#[allow(missing_docs)] $name(kq::$name),)*
        }

        impl KmsRequest {
            /// The operation.
            pub fn action(&self) -> KmsAction {
                match self {
                    $(KmsRequest::$name(_) => KmsAction::$name,)*
                }
            }

            /// Parses `action`'s request from its AWS KMS JSON body (`null` is an empty
            /// request).
            ///
            /// # Errors
            /// `ValidationException` with AWS KMS's message for an unknown member, a value of
            /// the wrong type or one outside its constraints; `NotAuthorizedException` for an
            /// alias name under the reserved `alias/aws/`.
            pub fn parse(action: KmsAction, body: Value) -> Result<KmsRequest> {
                Ok(match action {
                    $(KmsAction::$name => KmsRequest::$name(kq::$name::try_from(body)?),)*
                })
            }
        }

        /// Every KMS operation's name.
        pub const KMS_OPERATIONS: &[&str] = &[$(stringify!($name),)*];
    };
}

kms_actions! {
    CreateKey,
    DescribeKey read true,
    ListKeys read true,
    CreateAlias,
    UpdateAlias,
    DeleteAlias,
    ListAliases read true,
    EnableKey,
    DisableKey,
    ScheduleKeyDeletion,
    CancelKeyDeletion,
    CreateGrant,
    ListGrants read true,
    RevokeGrant,
    GenerateDataKeyWithoutPlaintext read true,
    Encrypt read true,
    Decrypt read true,
    TagResource,
    UntagResource,
    ListResourceTags read true,
    GenerateDataKey read true,
    ReEncrypt read true,
    GenerateRandom read true,
    UpdateKeyDescription,
    RetireGrant,
    ListRetirableGrants read true,
    EnableKeyRotation,
    DisableKeyRotation,
    GetKeyRotationStatus read true,
    RotateKeyOnDemand,
    ListKeyRotations read true,
    GetKeyPolicy read true,
    PutKeyPolicy,
    ListKeyPolicies read true,
}

impl KmsRequest {
    /// Whether the operation only reads the catalog.
    pub fn is_read_only(&self) -> bool {
        self.action().is_read_only()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_typed_requests_by_name() {
        let r = Request::parse(
            "CopyImage",
            json!({"SourceImageId": "ami-0123456789abcdef0", "SourceRegion": "us-east-1",
                   "Name": "c", "Encrypted": true, "KmsKeyId": "alias/k"}),
        )
        .unwrap();
        let Request::CopyImage(c) = &r else {
            panic!("{r:?}")
        };
        assert_eq!(c.kms_key_id.as_deref(), Some("alias/k"));
        assert_eq!(r.name(), "CopyImage");
        assert!(!r.is_read_only());
        assert!(Request::parse("DescribeImages", Value::Null)
            .unwrap()
            .is_read_only());
        let k = Request::parse("ListKeys", json!({})).unwrap();
        assert_eq!(k.name(), "ListKeys");
        assert!(k.is_read_only());
        assert!(!Request::parse("CreateKey", json!({}))
            .unwrap()
            .is_read_only());
    }

    #[test]
    fn refuses_unknown_operations_and_members() {
        let e = Request::parse("LaunchRockets", json!({})).unwrap_err();
        assert_eq!(e.code(), Code::INVALID_ACTION);
        let e = Request::parse("DeleteVolume", json!({"VolumeID": "vol-1"})).unwrap_err();
        assert_eq!(e.code(), Code::INVALID_PARAMETER_VALUE);
        assert!(e.message().contains("VolumeID"), "{}", e.message());
    }

    #[test]
    fn dry_run_wraps_the_checked_request() {
        let r = Request::parse(
            "DeleteVolume",
            json!({"VolumeId": "vol-0123456789abcdef0", "DryRun": true}),
        )
        .unwrap();
        let Request::DryRun(inner) = &r else {
            panic!("{r:?}")
        };
        assert!(matches!(**inner, Request::DeleteVolume(_)));
        assert_eq!(r.name(), "DeleteVolume");
        assert!(r.is_read_only());
        // DryRun=false is an ordinary request.
        let r = Request::parse("DeleteVolume", json!({"VolumeId": "v", "DryRun": false})).unwrap();
        assert!(matches!(r, Request::DeleteVolume(_)));
        // The request is still checked: a misspelt member is refused, not answered DryRun.
        let e =
            Request::parse("DeleteVolume", json!({"VolumeID": "v", "DryRun": true})).unwrap_err();
        assert_eq!(e.code(), Code::INVALID_PARAMETER_VALUE);
        let e =
            Request::parse("DeleteVolume", json!({"VolumeId": "v", "DryRun": "yes"})).unwrap_err();
        assert_eq!(e.code(), Code::INVALID_PARAMETER_VALUE);
        // Operations without DryRun in their AWS shape refuse the member.
        let e = Request::parse(
            "ExportSnapshot",
            json!({"SnapshotId": "s", "File": "f", "DryRun": true}),
        )
        .unwrap_err();
        assert_eq!(e.code(), Code::INVALID_PARAMETER_VALUE);
        for op in DRY_RUN_OPERATIONS {
            assert!(EC2_OPERATIONS.contains(op), "{op}");
        }
    }

    #[test]
    fn every_operation_name_round_trips() {
        for op in EC2_OPERATIONS.iter().chain(KMS_OPERATIONS) {
            // Empty bodies may be refused for missing members; never as an unknown action.
            match Request::parse(op, json!({})) {
                Ok(r) => assert_eq!(r.name(), *op),
                Err(e) => assert_ne!(e.code(), Code::INVALID_ACTION, "{op}"),
            }
        }
    }
}
