//! Conformance to the AWS models: every operation the engine serves is called at least once with
//! realistic members (lists of two, optional members set) against a fresh home, and every answer
//! is checked against botocore's output shape for that operation (`validate::check`: an unknown
//! member, a value of the wrong type or a missing required member fails). Then one bad call per
//! operation, whose error code must be one the model documents for that operation or one of the
//! common error codes AWS documents for every action of the service.
//!
//! The operations come from the engine and the endpoint (`EC2_OPERATIONS`, `KMS_OPERATIONS`,
//! `service::operations()`), never from a copied list: an operation added there without a call
//! here fails `every_served_operation_answers_in_its_model_shape`, naming it. Adding one is a
//! line in `Script::run` (`s.ok(...)`) and a line in `Script::bad_calls` (`s.bad(...)`).

use blockseal_engine::{
    base64, Code, EbsRequest, Engine, NoProgress, EC2_OPERATIONS, KMS_OPERATIONS,
};
use blockseal_server::codec::{validate, Model};
use blockseal_server::http::Request as HttpRequest;
use blockseal_server::service::{self, Config, Endpoint};
use blockseal_server::sigv4::{PayloadSigning, SignedRequest, Signer};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const REGION: &str = "us-east-1";

/// Engine operations that no AWS model has: blockseal's own, answered by the CLI only.
const EXTENSIONS: &[&str] = &["ExportSnapshot"];

/// The error codes AWS documents as common to every EC2 action ("Common client error codes" in
/// the EC2 API reference's "Error codes" page, the ones that can arise here), and the
/// per-resource client error codes of that page that the EC2 operations here return. EC2's
/// model documents no errors per operation, so this list is the EC2 oracle.
const EC2_ERROR_CODES: &[&str] = &[
    "AuthFailure",
    "DryRunOperation",
    "IdempotentParameterMismatch",
    "IncorrectInstanceState",
    "IncorrectState",
    "InvalidAction",
    "InvalidAMIID.Malformed",
    "InvalidAMIID.NotFound",
    "InvalidAMIName.Duplicate",
    "InvalidAMIName.Malformed",
    "InvalidAttachment.NotFound",
    "InvalidConversionTaskId",
    "InvalidInstanceID.Malformed",
    "InvalidInstanceID.NotFound",
    "InvalidKMSKey.Id",
    "InvalidParameter",
    "InvalidParameterCombination",
    "InvalidParameterValue",
    "InvalidSnapshot.InUse",
    "InvalidSnapshot.NotFound",
    "InvalidSnapshotID.Malformed",
    "InvalidVolume.NotFound",
    "InvalidVolume.ZoneMismatch",
    "InvalidVolumeID.Malformed",
    "MissingParameter",
    "UnauthorizedOperation",
    "UnknownVolumeType",
    "UnsupportedOperation",
    "VolumeInUse",
];

/// The common errors of every AWS query/JSON API ("Common Errors" in each API reference, which
/// include `InvalidParameterValue` for a parameter that is not valid, e.g. one the action does
/// not take), and
/// `ValidationException`, the code the JSON services (KMS, EBS) send for a value outside its
/// model constraints ("1 validation error detected: …"), which their references list as common.
const COMMON_ERROR_CODES: &[&str] = &[
    "AccessDeniedException",
    "IncompleteSignature",
    "InternalFailure",
    "InvalidAction",
    "InvalidClientTokenId",
    "InvalidParameterValue",
    "NotAuthorized",
    "OptInRequired",
    "RequestExpired",
    "ServiceUnavailable",
    "ThrottlingException",
    "ValidationError",
    "ValidationException",
];

/// blockseal's own codes for failures only a local tool has (docs/OPERATIONS.md), allowed for
/// the operations that read or write local files.
const LOCAL_ERROR_CODES: &[(&str, &[&str])] = &[
    ("ImportSnapshot", &["InvalidFile"]),
    ("ExportSnapshot", &["InvalidFile"]),
];

/// The model an engine operation belongs to, `None` for an extension.
fn model_of(op: &str) -> Option<(&'static str, &'static Model)> {
    [
        ("ec2", Model::ec2()),
        ("kms", Model::kms()),
        ("iam", Model::iam()),
        ("ebs", Model::ebs()),
        ("sts", Model::sts()),
    ]
    .into_iter()
    .find(|(_, m)| m.operation(op).is_some())
}

/// Every operation to cover: the engine's (EC2, IAM, KMS), the endpoint's (which adds EBS direct
/// and STS), each once.
fn all_operations() -> BTreeSet<String> {
    let mut ops: BTreeSet<String> = EC2_OPERATIONS
        .iter()
        .chain(KMS_OPERATIONS)
        .map(|s| (*s).to_owned())
        .collect();
    for (_, served) in service::operations() {
        ops.extend(served);
    }
    ops
}

/// Checks `output` of `op` against the model's output shape (or `{}` when it has none).
fn check_output(op: &str, output: &Value) -> Result<(), Vec<String>> {
    let Some((_, model)) = model_of(op) else {
        return Ok(());
    };
    match &model.operation(op).expect("found above").output {
        Some(shape) => validate::check(model, shape, output),
        None if output.as_object().is_some_and(|m| m.is_empty()) || output.is_null() => Ok(()),
        None => Err(vec![format!("{op}: the model has no output, got {output}")]),
    }
}

/// Whether `code` is an answer `op` may give: one of the model's documented errors for it, a
/// common error of its service, or a local code for a local-file operation.
fn documented_error(op: &str, code: &str) -> bool {
    let local = LOCAL_ERROR_CODES
        .iter()
        .any(|(o, codes)| *o == op && codes.contains(&code));
    let Some((service, model)) = model_of(op) else {
        return local || EC2_ERROR_CODES.contains(&code);
    };
    let documented = model
        .operation(op)
        .expect("found above")
        .errors
        .iter()
        .any(|shape| {
            shape == code
                || model
                    .shape(shape)
                    .and_then(|s| s.error.as_ref())
                    .and_then(|e| e.code.as_deref())
                    == Some(code)
        });
    documented
        || local
        || COMMON_ERROR_CODES.contains(&code)
        || (service == "ec2" && EC2_ERROR_CODES.contains(&code))
}

/// One run of calls against a fresh home, recording what each operation answered.
struct Script {
    engine: Arc<Engine>,
    ctx: blockseal_engine::Context,
    dir: tempfile::TempDir,
    /// Operation → problems found in its answers (empty: every answer fitted).
    called: BTreeMap<String, Vec<String>>,
    /// Operation → the code of its bad call, and whether that code is documented.
    refused: BTreeMap<String, (String, bool)>,
}

impl Script {
    fn new() -> Script {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let engine = Arc::new(Engine::open(&home).unwrap());
        let ctx = engine.context(REGION, "admin").unwrap();
        Script {
            engine,
            ctx,
            dir,
            called: BTreeMap::new(),
            refused: BTreeMap::new(),
        }
    }

    fn account(&self) -> String {
        self.engine.account().to_owned()
    }

    /// Runs one operation that must succeed and checks its answer against the model.
    fn ok(&mut self, op: &str, input: Value) -> Value {
        let out = self
            .call(op, input, None)
            .unwrap_or_else(|e| panic!("{op} failed: {} {}", e.code().as_str(), e.message()));
        let problems = check_output(op, &out).err().unwrap_or_default();
        self.called
            .entry(op.to_owned())
            .or_default()
            .extend(problems);
        out
    }

    /// Runs one call that must fail and records its code.
    fn bad(&mut self, op: &str, input: Value) {
        let code = match self.call(op, input.clone(), None) {
            Ok(out) => format!("(succeeded with {out})"),
            Err(e) => e.code().as_str().to_owned(),
        };
        let fits = documented_error(op, &code);
        self.refused.insert(op.to_owned(), (code, fits));
    }

    fn call(
        &self,
        op: &str,
        input: Value,
        payload: Option<&mut [u8]>,
    ) -> blockseal_engine::Result<Value> {
        if Model::ebs().operation(op).is_some() {
            let mut out = self
                .engine
                .ebs(&self.ctx, EbsRequest::parse(op, input)?, payload)?;
            let _ = out.block_data();
            return Ok(serde_json::to_value(&out).expect("responses serialize"));
        }
        self.engine.invoke(&self.ctx, op, input, &NoProgress)
    }

    /// PutSnapshotBlock: a block travels beside the members.
    fn put_block(&mut self, snapshot: &str, index: u64, fill: u8) -> Value {
        let mut block = vec![fill; 512 * 1024];
        let checksum = base64::encode(&Sha256::digest(&block));
        let input = json!({
            "SnapshotId": snapshot, "BlockIndex": index, "DataLength": block.len(),
            "Checksum": checksum, "ChecksumAlgorithm": "SHA256", "Progress": 50,
        });
        let out = self
            .call("PutSnapshotBlock", input, Some(&mut block))
            .unwrap_or_else(|e| panic!("PutSnapshotBlock: {e}"));
        let problems = check_output("PutSnapshotBlock", &out)
            .err()
            .unwrap_or_default();
        self.called
            .entry("PutSnapshotBlock".to_owned())
            .or_default()
            .extend(problems);
        out
    }

    /// GetCallerIdentity is answered by the endpoint itself: call it over `Endpoint::handle`
    /// with a signed request. Its encoder checks the answer against the model before writing
    /// (a mismatch is a 500), so a 200 with the members is the check.
    fn sts_get_caller_identity(&mut self) {
        let endpoint = Endpoint::new(self.engine.clone(), Config::default());
        let body = b"Action=GetCallerIdentity&Version=2011-06-15".to_vec();
        let mut headers = vec![
            ("Host".to_owned(), "127.0.0.1".to_owned()),
            (
                "Content-Type".to_owned(),
                "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
            ),
        ];
        let signer = Signer {
            access_key_id: service::DEFAULT_ACCESS_KEY,
            secret: "test",
            region: REGION,
            service: "sts",
            payload: PayloadSigning::Hashed,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let signed = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: &body,
        };
        headers.extend(signer.headers_for(&signed, "127.0.0.1", now));
        let mut req = HttpRequest {
            method: "POST".into(),
            path: "/".into(),
            query: String::new(),
            headers,
            body,
            peer: "127.0.0.1:1".parse().unwrap(),
        };
        let handled = endpoint.handle(&mut req);
        let text = String::from_utf8_lossy(&handled.response.body).into_owned();
        let mut problems = Vec::new();
        if handled.response.status != 200 {
            problems.push(format!("status {}: {text}", handled.response.status));
        }
        let account = format!("<Account>{}</Account>", self.account());
        for member in ["<UserId>AIDA", &account, "<Arn>arn:aws:iam::"] {
            if !text.contains(member) {
                problems.push(format!("no {member} in {text}"));
            }
        }
        self.called
            .entry("GetCallerIdentity".to_owned())
            .or_default()
            .extend(problems);
    }

    /// The successful calls, in an order where each finds what it needs.
    fn run(&mut self) {
        let s = self;
        let account = s.account();
        let arn = |v: &Value| v["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
        let str_at = |v: &Value, p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("no {p} in {v}"))
                .to_owned()
        };

        // KMS: two keys, aliases, grants, data keys, the key life cycle.
        let k1 = s.ok(
            "CreateKey",
            json!({"Description": "conformance key one", "KeyUsage": "ENCRYPT_DECRYPT",
                   "KeySpec": "SYMMETRIC_DEFAULT", "Origin": "AWS_KMS"}),
        );
        let k2 = s.ok("CreateKey", json!({"Description": "conformance key two"}));
        let (k1, k2) = (arn(&k1), arn(&k2));
        s.ok("DescribeKey", json!({"KeyId": k1}));
        s.ok("ListKeys", json!({"Limit": 10}));
        s.ok(
            "CreateAlias",
            json!({"AliasName": "alias/conform-a", "TargetKeyId": k1}),
        );
        s.ok(
            "CreateAlias",
            json!({"AliasName": "alias/conform-b", "TargetKeyId": k1}),
        );
        s.ok(
            "UpdateAlias",
            json!({"AliasName": "alias/conform-b", "TargetKeyId": k2}),
        );
        s.ok("ListAliases", json!({}));
        s.ok("ListAliases", json!({"KeyId": k1, "Limit": 5}));
        let grant = s.ok(
            "CreateGrant",
            json!({"KeyId": k1, "GranteePrincipal": format!("arn:aws:iam::{account}:user/bob"),
                   "RetiringPrincipal": format!("arn:aws:iam::{account}:user/carol"),
                   "Operations": ["Encrypt", "Decrypt"], "Name": "conform-grant"}),
        );
        s.ok(
            "CreateGrant",
            json!({"KeyId": k1, "GranteePrincipal": "dave",
                   "Operations": ["GenerateDataKeyWithoutPlaintext", "DescribeKey"]}),
        );
        s.ok("ListGrants", json!({"KeyId": k1}));
        s.ok(
            "RevokeGrant",
            json!({"KeyId": k1, "GrantId": str_at(&grant, "/GrantId")}),
        );
        let context = json!({"purpose": "conformance", "tier": "two"});
        let sealed = s.ok(
            "Encrypt",
            json!({"KeyId": "alias/conform-a", "Plaintext": base64::encode(b"twelve bytes"),
                   "EncryptionContext": context}),
        );
        s.ok(
            "Decrypt",
            json!({"CiphertextBlob": str_at(&sealed, "/CiphertextBlob"),
                   "EncryptionContext": context, "KeyId": k1}),
        );
        s.ok(
            "GenerateDataKeyWithoutPlaintext",
            json!({"KeyId": k2, "KeySpec": "AES_256", "EncryptionContext": context}),
        );
        s.ok(
            "GenerateDataKeyWithoutPlaintext",
            json!({"KeyId": "alias/conform-b", "NumberOfBytes": 64}),
        );
        let k3 = arn(&s.ok("CreateKey", json!({})));
        s.ok("DisableKey", json!({"KeyId": k3}));
        s.ok("EnableKey", json!({"KeyId": k3}));
        s.ok(
            "ScheduleKeyDeletion",
            json!({"KeyId": k3, "PendingWindowInDays": 7}),
        );
        s.ok("DescribeKey", json!({"KeyId": k3}));
        s.ok("CancelKeyDeletion", json!({"KeyId": k3}));
        // Tags, data keys, re-encryption, rotation and policies of the keys.
        s.ok(
            "TagResource",
            json!({"KeyId": k1, "Tags": [{"TagKey": "team", "TagValue": "storage"},
                                          {"TagKey": "env", "TagValue": "ci"}]}),
        );
        s.ok("ListResourceTags", json!({"KeyId": k1, "Limit": 10}));
        s.ok(
            "UntagResource",
            json!({"KeyId": k1, "TagKeys": ["env", "absent"]}),
        );
        s.ok(
            "UpdateKeyDescription",
            json!({"KeyId": k2, "Description": "conformance key two, renamed"}),
        );
        s.ok(
            "GenerateDataKey",
            json!({"KeyId": k1, "KeySpec": "AES_256", "EncryptionContext": context}),
        );
        s.ok(
            "GenerateDataKey",
            json!({"KeyId": "alias/conform-b", "NumberOfBytes": 32}),
        );
        s.ok(
            "ReEncrypt",
            json!({"CiphertextBlob": str_at(&sealed, "/CiphertextBlob"),
                   "SourceEncryptionContext": context, "SourceKeyId": k1,
                   "DestinationKeyId": k2, "DestinationEncryptionContext": {"moved": "yes"}}),
        );
        s.ok("GenerateRandom", json!({"NumberOfBytes": 32}));
        let retirable = s.ok(
            "CreateGrant",
            json!({"KeyId": k2, "GranteePrincipal": format!("arn:aws:iam::{account}:user/bob"),
                   "RetiringPrincipal": format!("arn:aws:iam::{account}:user/carol"),
                   "Operations": ["Encrypt", "RetireGrant"]}),
        );
        s.ok(
            "ListRetirableGrants",
            json!({"RetiringPrincipal": format!("arn:aws:iam::{account}:user/carol"),
                   "Limit": 10}),
        );
        s.ok(
            "RetireGrant",
            json!({"GrantToken": str_at(&retirable, "/GrantToken"), "KeyId": k2,
                   "GrantId": str_at(&retirable, "/GrantId")}),
        );
        s.ok(
            "EnableKeyRotation",
            json!({"KeyId": k1, "RotationPeriodInDays": 180}),
        );
        s.ok("GetKeyRotationStatus", json!({"KeyId": k1}));
        s.ok("RotateKeyOnDemand", json!({"KeyId": k1}));
        s.ok("ListKeyRotations", json!({"KeyId": k1, "Limit": 10}));
        s.ok("DisableKeyRotation", json!({"KeyId": k1}));
        s.ok("ListKeyPolicies", json!({"KeyId": k2}));
        let policy = s.ok(
            "GetKeyPolicy",
            json!({"KeyId": k2, "PolicyName": "default"}),
        );
        s.ok(
            "PutKeyPolicy",
            json!({"KeyId": k2, "PolicyName": "default",
                   "Policy": str_at(&policy, "/Policy"),
                   "BypassPolicyLockoutSafetyCheck": false}),
        );
        s.ok("DeleteAlias", json!({"AliasName": "alias/conform-a"}));

        // Account and encryption by default.
        s.ok(
            "DescribeRegions",
            json!({"RegionNames": ["us-east-1", "eu-west-1"]}),
        );
        s.ok("DescribeRegions", json!({"AllRegions": true}));
        s.ok(
            "DescribeAvailabilityZones",
            json!({"ZoneNames": ["us-east-1a", "us-east-1b"]}),
        );
        s.ok(
            "DescribeAccountAttributes",
            json!({"AttributeNames": ["supported-platforms", "default-vpc"]}),
        );
        s.ok("DescribeAccountAttributes", json!({}));
        s.ok("EnableEbsEncryptionByDefault", json!({}));
        s.ok("GetEbsEncryptionByDefault", json!({}));
        s.ok("ModifyEbsDefaultKmsKeyId", json!({"KmsKeyId": k2}));
        s.ok("GetEbsDefaultKmsKeyId", json!({}));
        s.ok("ResetEbsDefaultKmsKeyId", json!({}));
        s.ok("DisableEbsEncryptionByDefault", json!({}));

        // Snapshots: one imported, one through the EBS direct APIs, a copy.
        let disk = s.dir.path().join("disk.raw");
        std::fs::write(&disk, vec![0x5a_u8; 1 << 20]).unwrap();
        let imported = s.ok(
            "ImportSnapshot",
            json!({"File": disk, "Encrypted": true, "KmsKeyId": k1,
                   "Description": "imported disk", "SectorSize": 4096}),
        );
        let snap1 = str_at(&imported, "/SnapshotTaskDetail/SnapshotId");
        let task = str_at(&imported, "/ImportTaskId");
        s.ok(
            "DescribeImportSnapshotTasks",
            json!({"ImportTaskIds": [task]}),
        );
        s.ok(
            "DescribeImportSnapshotTasks",
            json!({"Filters": [{"Name": "task-state", "Values": ["completed", "active"]}],
                   "MaxResults": 5}),
        );
        let started = s.ok(
            "StartSnapshot",
            json!({"VolumeSize": 1, "Encrypted": true, "KmsKeyArn": k2, "Timeout": 60,
                   "Description": "direct upload", "ClientToken": "conform-start-1",
                   "Tags": [{"Key": "team", "Value": "storage"}, {"Key": "env", "Value": "ci"}]}),
        );
        let snap2 = str_at(&started, "/SnapshotId");
        s.put_block(&snap2, 0, 0x11);
        s.put_block(&snap2, 3, 0x22);
        s.ok(
            "CompleteSnapshot",
            json!({"SnapshotId": snap2, "ChangedBlocksCount": 2}),
        );
        let blocks = s.ok(
            "ListSnapshotBlocks",
            json!({"SnapshotId": snap2, "StartingBlockIndex": 0, "MaxResults": 100}),
        );
        s.ok(
            "GetSnapshotBlock",
            json!({"SnapshotId": snap2, "BlockIndex": 3,
                   "BlockToken": str_at(&blocks, "/Blocks/1/BlockToken")}),
        );
        let copy = s.ok(
            "CopySnapshot",
            json!({"SourceSnapshotId": snap2, "SourceRegion": REGION, "Encrypted": true,
                   "KmsKeyId": k1, "Description": "a copy"}),
        );
        let snap3 = str_at(&copy, "/SnapshotId");
        s.ok(
            "ListChangedBlocks",
            json!({"FirstSnapshotId": snap2, "SecondSnapshotId": snap3, "MaxResults": 100}),
        );
        s.ok(
            "DescribeSnapshots",
            json!({"SnapshotIds": [snap1, snap2], "OwnerIds": ["self"]}),
        );
        s.ok(
            "DescribeSnapshots",
            json!({"Filters": [{"Name": "encrypted", "Values": ["true"]},
                               {"Name": "status", "Values": ["completed", "pending"]}],
                   "MaxResults": 5}),
        );
        let export = s.dir.path().join("export.raw");
        s.ok(
            "ExportSnapshot",
            json!({"SnapshotId": snap1, "File": export}),
        );

        // Images and instances.
        let bdm = json!([
            {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snap1, "VolumeSize": 1,
             "VolumeType": "gp3", "DeleteOnTermination": true}},
            {"DeviceName": "/dev/xvdb", "Ebs": {"SnapshotId": snap2, "VolumeType": "gp2",
             "DeleteOnTermination": false}}
        ]);
        let registered = s.ok(
            "RegisterImage",
            json!({"Name": "conform-image", "Description": "two disks",
                   "RootDeviceName": "/dev/xvda", "Architecture": "x86_64",
                   "VirtualizationType": "hvm", "EnaSupport": true, "BootMode": "uefi",
                   "BlockDeviceMappings": bdm,
                   "TagSpecifications": [{"ResourceType": "image",
                                          "Tags": [{"Key": "team", "Value": "storage"}]}]}),
        );
        let ami1 = str_at(&registered, "/ImageId");
        let copied = s.ok(
            "CopyImage",
            json!({"SourceImageId": ami1, "SourceRegion": REGION, "Name": "conform-copy",
                   "Description": "re-keyed", "Encrypted": true, "KmsKeyId": "alias/conform-b",
                   "ClientToken": "conform-copy-1"}),
        );
        let ami2 = str_at(&copied, "/ImageId");
        s.ok("DescribeImages", json!({"ImageIds": [ami1, ami2]}));
        s.ok(
            "DescribeImages",
            json!({"Owners": ["self"], "Filters": [{"Name": "state", "Values": ["available"]},
                   {"Name": "name", "Values": ["conform-*"]}]}),
        );
        s.ok(
            "CreateTags",
            json!({"Resources": [ami1, snap1],
                   "Tags": [{"Key": "team", "Value": "storage"}, {"Key": "env", "Value": "ci"}]}),
        );
        s.ok(
            "DescribeTags",
            json!({"Filters": [{"Name": "resource-id", "Values": [ami1, snap1]},
                               {"Name": "key", "Values": ["team", "env"]}], "MaxResults": 5}),
        );
        s.ok(
            "DeleteTags",
            json!({"Resources": [snap1], "Tags": [{"Key": "env"}, {"Key": "team", "Value": "storage"}]}),
        );
        s.ok(
            "ModifyImageAttribute",
            json!({"ImageId": ami2, "LaunchPermission": {"Add": [{"UserId": "123456789012"},
                                                                 {"UserId": "210987654321"}]}}),
        );
        s.ok(
            "ModifyImageAttribute",
            json!({"ImageId": ami2, "Description": {"Value": "shared with two accounts"}}),
        );
        s.ok(
            "DescribeImageAttribute",
            json!({"ImageId": ami2, "Attribute": "launchPermission"}),
        );
        s.ok(
            "DescribeImageAttribute",
            json!({"ImageId": ami2, "Attribute": "description"}),
        );
        // No product codes here: AWS answers an empty list of `ProductCode`s.
        let codes = s.ok(
            "DescribeImageAttribute",
            json!({"ImageId": ami2, "Attribute": "productCodes"}),
        );
        assert_eq!(codes, json!({"ImageId": ami2, "ProductCodes": []}));
        s.ok(
            "ResetImageAttribute",
            json!({"ImageId": ami2, "Attribute": "launchPermission"}),
        );
        s.ok(
            "ModifySnapshotAttribute",
            json!({"SnapshotId": snap2, "Attribute": "createVolumePermission",
                   "OperationType": "add", "UserIds": ["123456789012", "210987654321"]}),
        );
        s.ok(
            "DescribeSnapshotAttribute",
            json!({"SnapshotId": snap2, "Attribute": "createVolumePermission"}),
        );
        let codes = s.ok(
            "DescribeSnapshotAttribute",
            json!({"SnapshotId": snap2, "Attribute": "productCodes"}),
        );
        assert_eq!(codes, json!({"SnapshotId": snap2, "ProductCodes": []}));
        s.ok(
            "ResetSnapshotAttribute",
            json!({"SnapshotId": snap2, "Attribute": "createVolumePermission"}),
        );
        let reservation = s.ok(
            "RunInstances",
            json!({"ImageId": ami2, "MinCount": 2, "MaxCount": 2, "InstanceType": "t3.micro",
                   "Placement": {"AvailabilityZone": "us-east-1a"},
                   "ClientToken": "conform-run-1", "KeyName": "conform-pair",
                   "UserData": base64::encode(b"#!/bin/sh\necho hello\n"),
                   "Monitoring": {"Enabled": true}, "EbsOptimized": true,
                   "TagSpecifications": [{"ResourceType": "instance",
                                          "Tags": [{"Key": "Name", "Value": "conform"},
                                                   {"Key": "env", "Value": "ci"}]}]}),
        );
        let i1 = str_at(&reservation, "/Instances/0/InstanceId");
        let i2 = str_at(&reservation, "/Instances/1/InstanceId");
        s.ok("DescribeInstances", json!({"InstanceIds": [i1, i2]}));
        s.ok(
            "DescribeInstances",
            json!({"Filters": [{"Name": "instance-state-name", "Values": ["running"]},
                               {"Name": "image-id", "Values": [ami2]}]}),
        );
        let created = s.ok(
            "CreateVolume",
            json!({"AvailabilityZone": "us-east-1a", "Size": 8, "VolumeType": "gp3",
                   "Iops": 4000, "Throughput": 250,
                   "Encrypted": true, "KmsKeyId": k1, "ClientToken": "conform-vol-1",
                   "TagSpecifications": [{"ResourceType": "volume",
                                          "Tags": [{"Key": "team", "Value": "storage"},
                                                   {"Key": "env", "Value": "ci"}]}]}),
        );
        let vol1 = str_at(&created, "/VolumeId");
        let from_snapshot = s.ok(
            "CreateVolume",
            json!({"AvailabilityZone": "us-east-1a", "SnapshotId": snap3}),
        );
        let vol2 = str_at(&from_snapshot, "/VolumeId");
        s.ok(
            "AttachVolume",
            json!({"VolumeId": vol1, "InstanceId": i1, "Device": "/dev/sdf"}),
        );
        s.ok("DescribeVolumes", json!({"VolumeIds": [vol1, vol2]}));
        s.ok(
            "DescribeVolumes",
            json!({"Filters": [{"Name": "attachment.instance-id", "Values": [i1]},
                               {"Name": "encrypted", "Values": ["true"]}], "MaxResults": 5}),
        );
        let snapshot = s.ok(
            "CreateSnapshot",
            json!({"VolumeId": vol1, "Description": "from an attached volume"}),
        );
        let snap4 = str_at(&snapshot, "/SnapshotId");
        let image = s.ok(
            "CreateImage",
            json!({"InstanceId": i1, "Name": "conform-from-instance", "Description": "captured",
                   "NoReboot": true}),
        );
        let ami3 = str_at(&image, "/ImageId");
        s.ok(
            "DetachVolume",
            json!({"VolumeId": vol1, "InstanceId": i1, "Device": "/dev/sdf", "Force": false}),
        );
        s.ok("StopInstances", json!({"InstanceIds": [i1, i2]}));
        s.ok("StartInstances", json!({"InstanceIds": [i1, i2]}));
        s.ok("TerminateInstances", json!({"InstanceIds": [i1, i2]}));
        s.ok("DeleteVolume", json!({"VolumeId": vol2}));
        s.ok("DeleteSnapshot", json!({"SnapshotId": snap4}));
        s.ok(
            "DeregisterImage",
            json!({"ImageId": ami3, "DeleteAssociatedSnapshots": true}),
        );
        s.ok("DeregisterImage", json!({"ImageId": ami1}));

        // IAM access keys, of a user made first.
        s.ok("CreateUser", json!({"UserName": "bob", "Path": "/staff/"}));
        let key = s.ok("CreateAccessKey", json!({"UserName": "bob"}));
        s.ok("CreateAccessKey", json!({"UserName": "bob"}));
        s.ok("ListAccessKeys", json!({"UserName": "bob"}));
        let key_id = str_at(&key, "/AccessKey/AccessKeyId");
        s.ok(
            "UpdateAccessKey",
            json!({"AccessKeyId": key_id, "Status": "Inactive", "UserName": "bob"}),
        );
        s.ok(
            "DeleteAccessKey",
            json!({"AccessKeyId": key_id, "UserName": "bob"}),
        );

        // IAM users and their inline policies, and the caller's identity.
        s.ok(
            "CreateUser",
            json!({"UserName": "carol", "Path": "/staff/"}),
        );
        s.ok("CreateUser", json!({"UserName": "erin"}));
        s.ok("GetUser", json!({"UserName": "carol"}));
        s.ok("GetUser", json!({}));
        s.ok(
            "ListUsers",
            json!({"PathPrefix": "/staff/", "MaxItems": 10}),
        );
        s.ok("ListUsers", json!({}));
        let document = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": k1},
            {"Effect": "Allow", "Action": "ec2:DescribeImages", "Resource": "*"}]})
        .to_string();
        s.ok(
            "PutUserPolicy",
            json!({"UserName": "carol", "PolicyName": "use-key", "PolicyDocument": document}),
        );
        s.ok(
            "PutUserPolicy",
            json!({"UserName": "carol", "PolicyName": "read-images", "PolicyDocument": document}),
        );
        s.ok(
            "GetUserPolicy",
            json!({"UserName": "carol", "PolicyName": "use-key"}),
        );
        s.ok(
            "ListUserPolicies",
            json!({"UserName": "carol", "MaxItems": 10}),
        );
        s.ok(
            "DeleteUserPolicy",
            json!({"UserName": "carol", "PolicyName": "read-images"}),
        );
        s.ok("DeleteUser", json!({"UserName": "erin"}));
        s.ok("GetCallerIdentity", json!({}));

        s.sts_get_caller_identity();
    }

    /// One bad call per operation: ids that do not exist, members out of range.
    fn bad_calls(&mut self) {
        let s = self;
        let no_snap = "snap-0123456789abcdef0";
        let no_vol = "vol-0123456789abcdef0";
        let no_ami = "ami-0123456789abcdef0";
        let no_instance = "i-0123456789abcdef0";
        let no_key = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let missing = s.dir.path().join("no-such-file");

        s.bad("ImportSnapshot", json!({"File": missing}));
        s.bad(
            "ExportSnapshot",
            json!({"SnapshotId": no_snap, "File": s.dir.path().join("x")}),
        );
        s.bad("DescribeSnapshots", json!({"SnapshotIds": [no_snap]}));
        s.bad(
            "CopySnapshot",
            json!({"SourceSnapshotId": no_snap, "SourceRegion": REGION}),
        );
        s.bad("CreateSnapshot", json!({"VolumeId": no_vol}));
        s.bad("DeleteSnapshot", json!({"SnapshotId": "snap-nothex"}));
        s.bad("DescribeImages", json!({"ImageIds": [no_ami]}));
        s.bad("RegisterImage", json!({"Name": "no-mappings"}));
        s.bad(
            "CopyImage",
            json!({"SourceImageId": no_ami, "SourceRegion": REGION, "Name": "c"}),
        );
        s.bad(
            "CreateImage",
            json!({"InstanceId": no_instance, "Name": "c"}),
        );
        s.bad("DeregisterImage", json!({"ImageId": no_ami}));
        s.bad("DescribeVolumes", json!({"VolumeIds": [no_vol]}));
        s.bad(
            "CreateVolume",
            json!({"AvailabilityZone": "us-east-1a", "Size": 1, "VolumeType": "floppy"}),
        );
        s.bad("DeleteVolume", json!({"VolumeId": no_vol}));
        s.bad(
            "AttachVolume",
            json!({"VolumeId": no_vol, "InstanceId": no_instance, "Device": "/dev/sdf"}),
        );
        s.bad("DetachVolume", json!({"VolumeId": no_vol}));
        s.bad("DescribeInstances", json!({"InstanceIds": [no_instance]}));
        s.bad(
            "RunInstances",
            json!({"ImageId": no_ami, "MinCount": 1, "MaxCount": 1}),
        );
        s.bad("StartInstances", json!({"InstanceIds": [no_instance]}));
        s.bad("StopInstances", json!({"InstanceIds": [no_instance]}));
        s.bad("TerminateInstances", json!({"InstanceIds": [no_instance]}));
        for op in [
            "EnableEbsEncryptionByDefault",
            "DisableEbsEncryptionByDefault",
            "GetEbsEncryptionByDefault",
            "GetEbsDefaultKmsKeyId",
            "ResetEbsDefaultKmsKeyId",
        ] {
            s.bad(op, json!({"Unknown": 1}));
        }
        // AWS checks the key itself later, asynchronously: an unknown alias is accepted.
        s.bad("ModifyEbsDefaultKmsKeyId", json!({}));
        s.bad("DescribeRegions", json!({"RegionNames": ["mars-north-1"]}));
        s.bad(
            "DescribeAvailabilityZones",
            json!({"ZoneNames": ["us-east-1z"]}),
        );
        s.bad(
            "DescribeAccountAttributes",
            json!({"AttributeNames": "supported-platforms"}),
        );
        s.bad("CreateAccessKey", json!({"UserName": "bad name!"}));
        s.bad("ListAccessKeys", json!({"UserName": "bad name!"}));
        s.bad(
            "UpdateAccessKey",
            json!({"AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Status": "Inactive"}),
        );
        s.bad(
            "DeleteAccessKey",
            json!({"AccessKeyId": "AKIAIOSFODNN7EXAMPLE"}),
        );
        s.bad("CreateUser", json!({"UserName": "bad name!"}));
        s.bad("ListUsers", json!({"MaxItems": 0}));
        for op in ["GetUser", "DeleteUser", "ListUserPolicies"] {
            s.bad(op, json!({"UserName": "nobody"}));
        }
        for op in ["GetUserPolicy", "DeleteUserPolicy"] {
            s.bad(op, json!({"UserName": "nobody", "PolicyName": "p"}));
        }
        s.bad(
            "PutUserPolicy",
            json!({"UserName": "nobody", "PolicyName": "p", "PolicyDocument": "{}"}),
        );
        s.bad("GetCallerIdentity", json!({"Unknown": 1}));
        s.bad(
            "DescribeImportSnapshotTasks",
            json!({"ImportTaskIds": ["import-snap-0123456789abcdef0"]}),
        );
        s.bad(
            "CreateTags",
            json!({"Resources": [no_ami], "Tags": [{"Key": "a", "Value": "b"}]}),
        );
        s.bad("DeleteTags", json!({"Resources": [no_snap]}));
        s.bad(
            "DescribeTags",
            json!({"Filters": [{"Name": "colour", "Values": ["red"]}]}),
        );
        s.bad(
            "ModifyImageAttribute",
            json!({"ImageId": no_ami, "LaunchPermission": {"Add": [{"Group": "all"}]}}),
        );
        for op in ["DescribeImageAttribute", "ResetImageAttribute"] {
            s.bad(
                op,
                json!({"ImageId": no_ami, "Attribute": "launchPermission"}),
            );
        }
        s.bad(
            "ModifySnapshotAttribute",
            json!({"SnapshotId": no_snap, "Attribute": "createVolumePermission",
                   "OperationType": "add", "UserIds": ["123456789012"]}),
        );
        for op in ["DescribeSnapshotAttribute", "ResetSnapshotAttribute"] {
            s.bad(
                op,
                json!({"SnapshotId": no_snap, "Attribute": "createVolumePermission"}),
            );
        }

        s.bad(
            "CreateKey",
            json!({"KeyUsage": "SIGN_VERIFY", "KeySpec": "NO_SUCH_SPEC"}),
        );
        for op in [
            "DescribeKey",
            "EnableKey",
            "DisableKey",
            "CancelKeyDeletion",
            "ListGrants",
            "ListResourceTags",
            "EnableKeyRotation",
            "DisableKeyRotation",
            "GetKeyRotationStatus",
            "RotateKeyOnDemand",
            "ListKeyRotations",
            "ListKeyPolicies",
        ] {
            s.bad(op, json!({"KeyId": no_key}));
        }
        s.bad(
            "TagResource",
            json!({"KeyId": no_key, "Tags": [{"TagKey": "a", "TagValue": "b"}]}),
        );
        s.bad("UntagResource", json!({"KeyId": no_key, "TagKeys": ["a"]}));
        s.bad(
            "UpdateKeyDescription",
            json!({"KeyId": no_key, "Description": "d"}),
        );
        s.bad(
            "GenerateDataKey",
            json!({"KeyId": no_key, "KeySpec": "AES_256"}),
        );
        s.bad(
            "ReEncrypt",
            json!({"CiphertextBlob": base64::encode(&[7_u8; 64]), "DestinationKeyId": no_key}),
        );
        s.bad("GenerateRandom", json!({"NumberOfBytes": 0}));
        s.bad("RetireGrant", json!({"GrantToken": "not-a-grant-token"}));
        s.bad(
            "ListRetirableGrants",
            json!({"RetiringPrincipal": "bob", "Limit": 0}),
        );
        s.bad(
            "GetKeyPolicy",
            json!({"KeyId": no_key, "PolicyName": "default"}),
        );
        s.bad(
            "PutKeyPolicy",
            json!({"KeyId": no_key, "PolicyName": "default", "Policy": "{}"}),
        );
        s.bad("ListKeys", json!({"Limit": 0}));
        s.bad(
            "CreateAlias",
            json!({"AliasName": "alias/conform-x", "TargetKeyId": no_key}),
        );
        s.bad(
            "UpdateAlias",
            json!({"AliasName": "alias/conform-none", "TargetKeyId": no_key}),
        );
        s.bad("DeleteAlias", json!({"AliasName": "alias/conform-none"}));
        s.bad("ListAliases", json!({"KeyId": no_key}));
        s.bad(
            "ScheduleKeyDeletion",
            json!({"KeyId": no_key, "PendingWindowInDays": 3}),
        );
        s.bad(
            "CreateGrant",
            json!({"KeyId": no_key, "GranteePrincipal": "bob", "Operations": ["Encrypt"]}),
        );
        s.bad("RevokeGrant", json!({"KeyId": no_key, "GrantId": "0"}));
        s.bad(
            "GenerateDataKeyWithoutPlaintext",
            json!({"KeyId": no_key, "KeySpec": "AES_256"}),
        );
        s.bad(
            "Encrypt",
            json!({"KeyId": no_key, "Plaintext": base64::encode(b"x")}),
        );
        s.bad(
            "Decrypt",
            json!({"CiphertextBlob": base64::encode(&[7_u8; 64])}),
        );

        s.bad("StartSnapshot", json!({"VolumeSize": 0}));
        s.bad(
            "PutSnapshotBlock",
            json!({"SnapshotId": no_snap, "BlockIndex": 0, "DataLength": 524288,
                   "Checksum": base64::encode(&[0_u8; 32]), "ChecksumAlgorithm": "SHA256"}),
        );
        s.bad("CompleteSnapshot", json!({"SnapshotId": no_snap}));
        s.bad("ListSnapshotBlocks", json!({"SnapshotId": no_snap}));
        s.bad("ListChangedBlocks", json!({"SecondSnapshotId": no_snap}));
        s.bad(
            "GetSnapshotBlock",
            json!({"SnapshotId": no_snap, "BlockIndex": 0, "BlockToken": "x"}),
        );
    }
}

#[test]
fn every_served_operation_answers_in_its_model_shape() {
    let mut script = Script::new();
    script.run();

    let all = all_operations();
    let uncalled: Vec<&String> = all
        .iter()
        .filter(|op| !script.called.contains_key(*op))
        .collect();
    assert!(
        uncalled.is_empty(),
        "served operations with no successful call in server/tests/conformance.rs \
         (add an `s.ok(..)` line to `Script::run`): {uncalled:?}"
    );
    let unknown: Vec<&String> = script
        .called
        .keys()
        .filter(|op| !all.contains(*op))
        .collect();
    assert!(
        unknown.is_empty(),
        "calls of operations nobody serves: {unknown:?}"
    );
    let answers: usize = script.called.len();
    eprintln!("checked the answers of {answers} operations against their output shapes");
    let misfits: Vec<String> = script
        .called
        .iter()
        .flat_map(|(op, problems)| problems.iter().map(move |p| format!("{op}: {p}")))
        .collect();
    assert!(
        misfits.is_empty(),
        "answers that do not fit botocore's output shapes:\n{}",
        misfits.join("\n")
    );
}

#[test]
fn every_operation_has_its_model_or_is_a_listed_extension() {
    for op in all_operations() {
        let listed = EXTENSIONS.contains(&op.as_str());
        assert_eq!(
            model_of(&op).is_none(),
            listed,
            "{op}: an operation no model has must be in EXTENSIONS, and only such a one"
        );
    }
}

#[test]
fn every_operation_refuses_a_bad_call_with_a_documented_code() {
    let mut script = Script::new();
    script.bad_calls();
    let all = all_operations();
    let missing: Vec<&String> = all
        .iter()
        .filter(|op| !script.refused.contains_key(*op))
        .collect();
    assert!(
        missing.is_empty(),
        "operations with no bad call in server/tests/conformance.rs (add an `s.bad(..)` line \
         to `Script::bad_calls`): {missing:?}"
    );
    let undocumented: Vec<String> = script
        .refused
        .iter()
        .filter(|(_, (_, fits))| !fits)
        .map(|(op, (code, _))| format!("{op}: {code}"))
        .collect();
    assert!(
        undocumented.is_empty(),
        "bad calls answered with codes neither the model documents for the operation nor AWS \
         lists as common:\n{}",
        undocumented.join("\n")
    );
}

#[test]
fn the_oracle_itself_tells_wrong_answers_apart() {
    // A member the model does not have, a wrong type and a missing required member all fail.
    let bad = json!({"Volumes": [{"VolumeId": "vol-1", "Size": "1", "Colour": "red"}]});
    let problems = check_output("DescribeVolumes", &bad).unwrap_err();
    assert_eq!(
        problems,
        [
            "Volumes[0].Colour: unknown member",
            "Volumes[0].Size: expected an integer, found a string"
        ]
    );
    let no_id = json!({"KeyMetadata": {"Arn": "arn:aws:kms:us-east-1:111122223333:key/x"}});
    assert_eq!(
        check_output("DescribeKey", &no_id).unwrap_err(),
        ["KeyMetadata.KeyId: missing required member"]
    );
    assert!(check_output("DeleteAlias", &json!({"Unexpected": true})).is_err());
    assert!(documented_error("DescribeKey", "NotFoundException"));
    assert!(!documented_error("DescribeKey", "InvalidVolume.NotFound"));
    assert!(documented_error("DeleteAccessKey", "NoSuchEntity"));
    assert!(documented_error("DeleteVolume", "InvalidVolume.NotFound"));
    assert!(!documented_error("DeleteVolume", "NotFoundException"));
    assert_eq!(Code::INVALID_ACTION.as_str(), "InvalidAction");
}
