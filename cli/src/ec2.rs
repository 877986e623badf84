//! `blockseal ec2 …` → one engine operation: the AWS action name and its request, exactly as
//! docs/OPERATIONS.md lists them. Pure: no engine, no files.

use crate::args::{tri, Ec2Command, WaitCommand};
use crate::params::flatten;
use crate::request::Req;
use serde_json::Value;

/// The operation and request of an `ec2` command. `region` is the `--region` in force (the
/// default `SourceRegion` of copies). A `wait` command maps to the Describe call it polls.
pub fn request(cmd: &Ec2Command, region: &str) -> (&'static str, Value) {
    use Ec2Command as C;
    match cmd {
        C::ImportSnapshot(a) => (
            "ImportSnapshot",
            Req::new()
                .opt(
                    "File",
                    a.file.as_ref().map(|f| f.to_string_lossy().into_owned()),
                )
                .opt("DiskContainer", a.disk_container.clone())
                .opt("Encrypted", tri(a.encrypted, a.no_encrypted))
                .opt("KmsKeyId", a.kms_key_id.clone())
                .opt("Description", a.description.clone())
                .opt("ClientToken", a.client_token.clone())
                .opt("RoleName", a.role_name.clone())
                .opt(
                    "SectorSize",
                    a.sector_size.as_deref().and_then(|s| s.parse::<u32>().ok()),
                )
                .opt("Cipher", a.cipher.clone())
                .opt("TagSpecifications", flatten(&a.tag_specifications))
                .build(),
        ),
        C::DescribeImportSnapshotTasks(a) => (
            "DescribeImportSnapshotTasks",
            Req::new()
                .opt("ImportTaskIds", flatten(&a.import_task_ids))
                .opt("Filters", flatten(&a.filters))
                .build(),
        ),
        C::ExportSnapshot(a) => (
            "ExportSnapshot",
            Req::new()
                .set("SnapshotId", a.snapshot_id.clone())
                .set("File", a.file.to_string_lossy().into_owned())
                .build(),
        ),
        C::DescribeImages(a) => (
            "DescribeImages",
            Req::new()
                .opt("ImageIds", flatten(&a.image_ids))
                .opt("Filters", flatten(&a.filters))
                .opt("Owners", flatten(&a.owners))
                .opt("ExecutableUsers", flatten(&a.executable_users))
                .build(),
        ),
        C::DescribeSnapshots(a) => (
            "DescribeSnapshots",
            Req::new()
                .opt("SnapshotIds", flatten(&a.snapshot_ids))
                .opt("Filters", flatten(&a.filters))
                .opt("OwnerIds", flatten(&a.owner_ids))
                .opt("RestorableByUserIds", flatten(&a.restorable_by_user_ids))
                .build(),
        ),
        C::DescribeVolumes(a) => (
            "DescribeVolumes",
            Req::new()
                .opt("VolumeIds", flatten(&a.volume_ids))
                .opt("Filters", flatten(&a.filters))
                .build(),
        ),
        C::DescribeInstances(a) => (
            "DescribeInstances",
            Req::new()
                .opt("InstanceIds", flatten(&a.instance_ids))
                .opt("Filters", flatten(&a.filters))
                .build(),
        ),
        C::RegisterImage(a) => (
            "RegisterImage",
            Req::new()
                .set("Name", a.name.clone())
                .opt("Description", a.description.clone())
                .opt("RootDeviceName", a.root_device_name.clone())
                .opt("BlockDeviceMappings", flatten(&a.block_device_mappings))
                .opt("Architecture", a.architecture.clone())
                .opt("VirtualizationType", a.virtualization_type.clone())
                .opt("EnaSupport", tri(a.ena_support, a.no_ena_support))
                .opt("BootMode", a.boot_mode.clone())
                .opt("SriovNetSupport", a.sriov_net_support.clone())
                .opt("ImdsSupport", a.imds_support.clone())
                .opt("TpmSupport", a.tpm_support.clone())
                .opt("TagSpecifications", flatten(&a.tag_specifications))
                .build(),
        ),
        C::CopyImage(a) => (
            "CopyImage",
            Req::new()
                .set("SourceImageId", a.source_image_id.clone())
                .set(
                    "SourceRegion",
                    a.source_region.clone().unwrap_or_else(|| region.to_owned()),
                )
                .set("Name", a.name.clone())
                .opt("Description", a.description.clone())
                .opt("Encrypted", tri(a.encrypted, a.no_encrypted))
                .opt("KmsKeyId", a.kms_key_id.clone())
                .opt("ClientToken", a.client_token.clone())
                .opt(
                    "CopyImageTags",
                    tri(a.copy_image_tags, a.no_copy_image_tags),
                )
                .opt("TagSpecifications", flatten(&a.tag_specifications))
                .build(),
        ),
        C::CopySnapshot(a) => (
            "CopySnapshot",
            Req::new()
                .set("SourceSnapshotId", a.source_snapshot_id.clone())
                .set(
                    "SourceRegion",
                    a.source_region.clone().unwrap_or_else(|| region.to_owned()),
                )
                .opt("Description", a.description.clone())
                .opt("Encrypted", tri(a.encrypted, a.no_encrypted))
                .opt("KmsKeyId", a.kms_key_id.clone())
                .opt("TagSpecifications", flatten(&a.tag_specifications))
                .build(),
        ),
        C::CreateSnapshot(a) => (
            "CreateSnapshot",
            Req::new()
                .set("VolumeId", a.volume_id.clone())
                .opt("Description", a.description.clone())
                .opt("TagSpecifications", flatten(&a.tag_specifications))
                .build(),
        ),
        C::DeleteSnapshot(a) => (
            "DeleteSnapshot",
            Req::new().set("SnapshotId", a.snapshot_id.clone()).build(),
        ),
        C::DeregisterImage(a) => (
            "DeregisterImage",
            Req::new()
                .set("ImageId", a.image_id.clone())
                .opt(
                    "DeleteAssociatedSnapshots",
                    tri(
                        a.delete_associated_snapshots,
                        a.no_delete_associated_snapshots,
                    ),
                )
                .build(),
        ),
        C::ModifyImageAttribute(a) => (
            "ModifyImageAttribute",
            Req::new()
                .set("ImageId", a.image_id.clone())
                .opt("Attribute", a.attribute.clone())
                .opt("OperationType", a.operation_type.clone())
                .opt("UserIds", flatten(&a.user_ids))
                .opt("UserGroups", flatten(&a.user_groups))
                .opt("LaunchPermission", a.launch_permission.clone())
                .opt("Description", a.description.clone())
                .opt("Value", a.value.clone())
                .build(),
        ),
        C::DescribeImageAttribute(a) => ("DescribeImageAttribute", image_attribute(a)),
        C::ResetImageAttribute(a) => ("ResetImageAttribute", image_attribute(a)),
        C::ModifySnapshotAttribute(a) => (
            "ModifySnapshotAttribute",
            Req::new()
                .set("SnapshotId", a.snapshot_id.clone())
                .opt("Attribute", a.attribute.clone())
                .opt("OperationType", a.operation_type.clone())
                .opt("UserIds", flatten(&a.user_ids))
                .opt("GroupNames", flatten(&a.group_names))
                .opt("CreateVolumePermission", a.create_volume_permission.clone())
                .build(),
        ),
        C::DescribeSnapshotAttribute(a) => ("DescribeSnapshotAttribute", snapshot_attribute(a)),
        C::ResetSnapshotAttribute(a) => ("ResetSnapshotAttribute", snapshot_attribute(a)),
        C::RunInstances(a) => (
            "RunInstances",
            Req::new()
                .set("ImageId", a.image_id.clone())
                .set("MinCount", a.count.0)
                .set("MaxCount", a.count.1)
                .set("InstanceType", a.instance_type.clone())
                .opt("Placement", a.placement.clone())
                .opt("BlockDeviceMappings", flatten(&a.block_device_mappings))
                .opt("KeyName", a.key_name.clone())
                .opt("SecurityGroupIds", flatten(&a.security_group_ids))
                .opt("SecurityGroups", flatten(&a.security_groups))
                .opt("SubnetId", a.subnet_id.clone())
                .opt("PrivateIpAddress", a.private_ip_address.clone())
                .opt("UserData", a.user_data.clone())
                .opt("ClientToken", a.client_token.clone())
                .opt("Monitoring", a.monitoring.clone())
                .opt("EbsOptimized", tri(a.ebs_optimized, a.no_ebs_optimized))
                .opt("TagSpecifications", flatten(&a.tag_specifications))
                .build(),
        ),
        C::StartInstances(a) => ("StartInstances", instance_ids(a)),
        C::StopInstances(a) => ("StopInstances", instance_ids(a)),
        C::TerminateInstances(a) => ("TerminateInstances", instance_ids(a)),
        C::CreateVolume(a) => (
            "CreateVolume",
            Req::new()
                .set("AvailabilityZone", a.availability_zone.clone())
                .opt("Size", a.size)
                .opt("SnapshotId", a.snapshot_id.clone())
                .opt("VolumeType", a.volume_type.clone())
                .opt("Encrypted", tri(a.encrypted, a.no_encrypted))
                .opt("KmsKeyId", a.kms_key_id.clone())
                .opt("Iops", a.iops)
                .opt("Throughput", a.throughput)
                .opt(
                    "MultiAttachEnabled",
                    tri(a.multi_attach_enabled, a.no_multi_attach_enabled),
                )
                .opt("ClientToken", a.client_token.clone())
                .opt("TagSpecifications", flatten(&a.tag_specifications))
                .build(),
        ),
        C::DeleteVolume(a) => (
            "DeleteVolume",
            Req::new().set("VolumeId", a.volume_id.clone()).build(),
        ),
        C::AttachVolume(a) => (
            "AttachVolume",
            Req::new()
                .set("VolumeId", a.volume_id.clone())
                .set("InstanceId", a.instance_id.clone())
                .set("Device", a.device.clone())
                .build(),
        ),
        C::DetachVolume(a) => (
            "DetachVolume",
            Req::new()
                .set("VolumeId", a.volume_id.clone())
                .opt("InstanceId", a.instance_id.clone())
                .opt("Device", a.device.clone())
                .opt("Force", tri(a.force, a.no_force))
                .build(),
        ),
        C::CreateImage(a) => (
            "CreateImage",
            Req::new()
                .set("InstanceId", a.instance_id.clone())
                .set("Name", a.name.clone())
                .opt("Description", a.description.clone())
                .opt("NoReboot", tri(a.no_reboot, a.reboot))
                .opt("BlockDeviceMappings", flatten(&a.block_device_mappings))
                .opt("TagSpecifications", flatten(&a.tag_specifications))
                .build(),
        ),
        C::EnableEbsEncryptionByDefault => ("EnableEbsEncryptionByDefault", Req::new().build()),
        C::DisableEbsEncryptionByDefault => ("DisableEbsEncryptionByDefault", Req::new().build()),
        C::GetEbsEncryptionByDefault => ("GetEbsEncryptionByDefault", Req::new().build()),
        C::GetEbsDefaultKmsKeyId => ("GetEbsDefaultKmsKeyId", Req::new().build()),
        C::ModifyEbsDefaultKmsKeyId(a) => (
            "ModifyEbsDefaultKmsKeyId",
            Req::new().set("KmsKeyId", a.kms_key_id.clone()).build(),
        ),
        C::ResetEbsDefaultKmsKeyId => ("ResetEbsDefaultKmsKeyId", Req::new().build()),
        C::CreateTags(a) => (
            "CreateTags",
            Req::new()
                .opt("Resources", flatten(&a.resources))
                .opt("Tags", flatten(&a.tags))
                .build(),
        ),
        C::DeleteTags(a) => (
            "DeleteTags",
            Req::new()
                .opt("Resources", flatten(&a.resources))
                .opt("Tags", flatten(&a.tags))
                .build(),
        ),
        C::DescribeTags(a) => (
            "DescribeTags",
            Req::new().opt("Filters", flatten(&a.filters)).build(),
        ),
        C::Wait(w) => match w {
            WaitCommand::ImageAvailable(a) | WaitCommand::ImageExists(a) => {
                request(&C::DescribeImages(a.clone()), region)
            }
            WaitCommand::SnapshotCompleted(a) => request(&C::DescribeSnapshots(a.clone()), region),
            WaitCommand::SnapshotImported(a) => {
                request(&C::DescribeImportSnapshotTasks(a.clone()), region)
            }
            WaitCommand::VolumeAvailable(a)
            | WaitCommand::VolumeInUse(a)
            | WaitCommand::VolumeDeleted(a) => request(&C::DescribeVolumes(a.clone()), region),
            WaitCommand::InstanceRunning(a)
            | WaitCommand::InstanceExists(a)
            | WaitCommand::InstanceStopped(a)
            | WaitCommand::InstanceTerminated(a) => {
                request(&C::DescribeInstances(a.clone()), region)
            }
        },
    }
}

fn image_attribute(a: &crate::args::ImageAttribute) -> Value {
    Req::new()
        .set("ImageId", a.image_id.clone())
        .set("Attribute", a.attribute.clone())
        .build()
}

fn snapshot_attribute(a: &crate::args::SnapshotAttribute) -> Value {
    Req::new()
        .set("SnapshotId", a.snapshot_id.clone())
        .set("Attribute", a.attribute.clone())
        .build()
}

fn instance_ids(a: &crate::args::InstanceIds) -> Value {
    Req::new()
        .opt("InstanceIds", flatten(&a.instance_ids))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Group};
    use clap::Parser;
    use serde_json::json;

    /// Parses `blockseal ec2 ARGS…` (with an explicit region) and maps it.
    fn map(args: &[&str]) -> (&'static str, Value) {
        let mut argv = vec!["blockseal", "--region", "us-east-1", "ec2"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let Group::Ec2(cmd) = &cli.group else {
            panic!("not ec2")
        };
        request(cmd, &cli.region)
    }

    #[test]
    fn import_with_a_disk_container_and_its_tasks() {
        assert_eq!(
            map(&[
                "import-snapshot",
                "--disk-container",
                "Format=VMDK,Url=file:///srv/d.vmdk,Description=root",
                "--client-token",
                "t1",
            ]),
            (
                "ImportSnapshot",
                json!({"DiskContainer": {"Format": "VMDK", "Url": "file:///srv/d.vmdk",
                       "Description": "root"}, "ClientToken": "t1"})
            )
        );
        assert_eq!(
            map(&[
                "wait",
                "snapshot-imported",
                "--import-task-ids",
                "import-snap-0123456789abcdef0",
            ]),
            (
                "DescribeImportSnapshotTasks",
                json!({"ImportTaskIds": ["import-snap-0123456789abcdef0"]})
            )
        );
        let mut argv = vec!["blockseal", "ec2", "import-snapshot", "--file", "a.raw"];
        argv.extend(["--disk-container", "Format=RAW,Url=file:///a.raw"]);
        assert!(
            Cli::try_parse_from(argv).is_err(),
            "one of --file and --disk-container"
        );
        assert!(Cli::try_parse_from(["blockseal", "ec2", "import-snapshot"]).is_err());
    }

    #[test]
    fn sharing_commands_in_both_flag_forms() {
        let img = "ami-0123456789abcdef0";
        let (op, req) = map(&[
            "modify-image-attribute",
            "--image-id",
            img,
            "--launch-permission",
            "Add=[{UserId=111122223333},{Group=all}],Remove=[{UserId=444455556666}]",
        ]);
        assert_eq!(op, "ModifyImageAttribute");
        assert_eq!(
            req,
            json!({"ImageId": img, "LaunchPermission": {
                "Add": [{"UserId": "111122223333"}, {"Group": "all"}],
                "Remove": [{"UserId": "444455556666"}]}})
        );
        let (_, req) = map(&[
            "modify-image-attribute",
            "--image-id",
            img,
            "--attribute",
            "launchPermission",
            "--operation-type",
            "add",
            "--user-ids",
            "111122223333",
            "444455556666",
        ]);
        assert_eq!(
            req,
            json!({"ImageId": img, "Attribute": "launchPermission", "OperationType": "add",
                   "UserIds": ["111122223333", "444455556666"]})
        );
        let (op, req) = map(&[
            "modify-snapshot-attribute",
            "--snapshot-id",
            "snap-0123456789abcdef0",
            "--create-volume-permission",
            "Add=[{UserId=111122223333}]",
        ]);
        assert_eq!(op, "ModifySnapshotAttribute");
        assert_eq!(
            req["CreateVolumePermission"],
            json!({"Add": [{"UserId": "111122223333"}]})
        );
        let (op, req) = map(&[
            "describe-images",
            "--owners",
            "111122223333",
            "--executable-users",
            "self",
        ]);
        assert_eq!(
            (op, req),
            (
                "DescribeImages",
                json!({"Owners": ["111122223333"], "ExecutableUsers": ["self"]})
            )
        );
        let (_, req) = map(&["describe-snapshots", "--restorable-by-user-ids", "self"]);
        assert_eq!(req, json!({"RestorableByUserIds": ["self"]}));
    }

    #[test]
    fn import_and_export() {
        assert_eq!(
            map(&["import-snapshot", "--file", "disk.raw"]),
            ("ImportSnapshot", json!({"File": "disk.raw"}))
        );
        assert_eq!(
            map(&[
                "import-snapshot",
                "--file",
                "/d.raw",
                "--encrypted",
                "--kms-key-id",
                "alias/k1",
                "--description",
                "root disk",
                "--sector-size",
                "512",
                "--cipher",
                "aes-128-xts",
            ]),
            (
                "ImportSnapshot",
                json!({"File": "/d.raw", "Encrypted": true, "KmsKeyId": "alias/k1",
                       "Description": "root disk", "SectorSize": 512, "Cipher": "aes-128-xts"})
            )
        );
        assert_eq!(
            map(&["import-snapshot", "--file", "d", "--no-encrypted"]).1,
            json!({"File": "d", "Encrypted": false})
        );
        let cli = Cli::try_parse_from([
            "blockseal",
            "ec2",
            "import-snapshot",
            "--file",
            "d",
            "--sector-size",
            "1024",
        ]);
        assert!(cli.is_err(), "sector sizes are 512 or 4096");
        assert_eq!(
            map(&[
                "export-snapshot",
                "--snapshot-id",
                "snap-1",
                "--file",
                "out.raw"
            ]),
            (
                "ExportSnapshot",
                json!({"SnapshotId": "snap-1", "File": "out.raw"})
            )
        );
    }

    #[test]
    fn describes_with_ids_and_filters() {
        assert_eq!(map(&["describe-images"]), ("DescribeImages", json!({})));
        assert_eq!(
            map(&[
                "describe-images",
                "--image-ids",
                "ami-1",
                "ami-2",
                "--filters",
                "Name=encrypted,Values=true",
                "Name=status,Values=completed,pending",
                "--owners",
                "self",
            ]),
            (
                "DescribeImages",
                json!({
                    "ImageIds": ["ami-1", "ami-2"],
                    "Filters": [
                        {"Name": "encrypted", "Values": ["true"]},
                        {"Name": "status", "Values": ["completed", "pending"]}
                    ],
                    "Owners": ["self"]
                })
            )
        );
        assert_eq!(
            map(&[
                "describe-snapshots",
                "--snapshot-ids",
                "snap-1",
                "--filters",
                r#"[{"Name": "kms-key-id", "Values": ["arn:aws:kms:us-east-1:1:key/x"]}]"#,
                "--owner-ids",
                "self",
            ]),
            (
                "DescribeSnapshots",
                json!({
                    "SnapshotIds": ["snap-1"],
                    "Filters": [{"Name": "kms-key-id", "Values": ["arn:aws:kms:us-east-1:1:key/x"]}],
                    "OwnerIds": ["self"]
                })
            )
        );
        assert_eq!(
            map(&[
                "describe-volumes",
                "--volume-ids",
                "vol-1",
                "--filters",
                "Name=status,Values=in-use"
            ]),
            (
                "DescribeVolumes",
                json!({"VolumeIds": ["vol-1"], "Filters": [{"Name": "status", "Values": ["in-use"]}]})
            )
        );
        assert_eq!(
            map(&["describe-instances", "--instance-ids", r#"["i-1","i-2"]"#]),
            ("DescribeInstances", json!({"InstanceIds": ["i-1", "i-2"]}))
        );
    }

    #[test]
    fn register_image() {
        let bdm = r#"[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-1"}}]"#;
        assert_eq!(
            map(&[
                "register-image",
                "--name",
                "base",
                "--root-device-name",
                "/dev/xvda",
                "--block-device-mappings",
                bdm,
                "--description",
                "d",
                "--architecture",
                "x86_64",
            ]),
            (
                "RegisterImage",
                json!({
                    "Name": "base", "RootDeviceName": "/dev/xvda", "Description": "d",
                    "Architecture": "x86_64",
                    "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-1"}}]
                })
            )
        );
        // Shorthand, one mapping per value, typed.
        assert_eq!(
            map(&[
                "register-image", "--name", "b", "--block-device-mappings",
                "DeviceName=/dev/xvda,Ebs={SnapshotId=snap-1}",
                "DeviceName=/dev/sdf,Ebs={SnapshotId=snap-2,DeleteOnTermination=false,VolumeSize=2}",
            ])
            .1["BlockDeviceMappings"],
            json!([
                {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-1"}},
                {"DeviceName": "/dev/sdf", "Ebs": {"SnapshotId": "snap-2", "DeleteOnTermination": false, "VolumeSize": 2}}
            ])
        );
    }

    #[test]
    fn copy_image_and_snapshot() {
        assert_eq!(
            map(&["copy-image", "--source-image-id", "ami-1", "--name", "n2"]),
            (
                "CopyImage",
                json!({"SourceImageId": "ami-1", "SourceRegion": "us-east-1", "Name": "n2"})
            )
        );
        assert_eq!(
            map(&[
                "copy-image",
                "--source-image-id",
                "ami-1",
                "--source-region",
                "eu-west-1",
                "--name",
                "n2",
                "--description",
                "re-keyed",
                "--encrypted",
                "--kms-key-id",
                "alias/k2",
                "--client-token",
                "t1",
            ]),
            (
                "CopyImage",
                json!({
                    "SourceImageId": "ami-1", "SourceRegion": "eu-west-1", "Name": "n2",
                    "Description": "re-keyed", "Encrypted": true, "KmsKeyId": "alias/k2",
                    "ClientToken": "t1"
                })
            )
        );
        assert_eq!(
            map(&[
                "copy-image",
                "--source-image-id",
                "ami-1",
                "--name",
                "n",
                "--no-encrypted"
            ])
            .1["Encrypted"],
            false
        );
        // The source region defaults to --region, wherever --region is given.
        let cli = Cli::try_parse_from([
            "blockseal",
            "ec2",
            "copy-snapshot",
            "--source-snapshot-id",
            "snap-1",
            "--region",
            "us-west-2",
        ])
        .unwrap();
        let Group::Ec2(cmd) = &cli.group else {
            panic!()
        };
        assert_eq!(
            request(cmd, &cli.region),
            (
                "CopySnapshot",
                json!({"SourceSnapshotId": "snap-1", "SourceRegion": "us-west-2"})
            )
        );
        assert_eq!(
            map(&[
                "copy-snapshot",
                "--source-snapshot-id",
                "snap-1",
                "--source-region",
                "us-east-1",
                "--description",
                "c",
                "--encrypted",
                "--kms-key-id",
                "k",
            ])
            .1,
            json!({
                "SourceSnapshotId": "snap-1", "SourceRegion": "us-east-1", "Description": "c",
                "Encrypted": true, "KmsKeyId": "k"
            })
        );
    }

    #[test]
    fn snapshots_and_images_lifecycle() {
        assert_eq!(
            map(&[
                "create-snapshot",
                "--volume-id",
                "vol-1",
                "--description",
                "nightly"
            ]),
            (
                "CreateSnapshot",
                json!({"VolumeId": "vol-1", "Description": "nightly"})
            )
        );
        assert_eq!(
            map(&["delete-snapshot", "--snapshot-id", "snap-1"]),
            ("DeleteSnapshot", json!({"SnapshotId": "snap-1"}))
        );
        assert_eq!(
            map(&["deregister-image", "--image-id", "ami-1"]),
            ("DeregisterImage", json!({"ImageId": "ami-1"}))
        );
        assert_eq!(
            map(&[
                "deregister-image",
                "--image-id",
                "ami-1",
                "--delete-associated-snapshots"
            ])
            .1,
            json!({"ImageId": "ami-1", "DeleteAssociatedSnapshots": true})
        );
        assert_eq!(
            map(&[
                "deregister-image",
                "--image-id",
                "ami-1",
                "--no-delete-associated-snapshots"
            ])
            .1,
            json!({"ImageId": "ami-1", "DeleteAssociatedSnapshots": false})
        );
    }

    #[test]
    fn run_instances() {
        assert_eq!(
            map(&["run-instances", "--image-id", "ami-1"]),
            (
                "RunInstances",
                json!({"ImageId": "ami-1", "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.micro"})
            )
        );
        assert_eq!(
            map(&[
                "run-instances",
                "--image-id",
                "ami-1",
                "--count",
                "2:3",
                "--placement",
                "AvailabilityZone=us-east-1b",
                "--instance-type",
                "m5.large",
                "--block-device-mappings",
                r#"[{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": true, "KmsKeyId": "k1"}}]"#,
            ])
            .1,
            json!({
                "ImageId": "ami-1", "MinCount": 2, "MaxCount": 3, "InstanceType": "m5.large",
                "Placement": {"AvailabilityZone": "us-east-1b"},
                "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": true, "KmsKeyId": "k1"}}]
            })
        );
        assert_eq!(
            map(&["run-instances", "--image-id", "a", "--count", "4"]).1["MinCount"],
            4
        );
        assert!(Cli::try_parse_from([
            "blockseal",
            "ec2",
            "run-instances",
            "--image-id",
            "a",
            "--count",
            "0"
        ])
        .is_err());
    }

    #[test]
    fn instance_state_changes() {
        for (cmd, op) in [
            ("start-instances", "StartInstances"),
            ("stop-instances", "StopInstances"),
            ("terminate-instances", "TerminateInstances"),
        ] {
            assert_eq!(
                map(&[cmd, "--instance-ids", "i-1", "i-2"]),
                (op, json!({"InstanceIds": ["i-1", "i-2"]}))
            );
            assert!(
                Cli::try_parse_from(["blockseal", "ec2", cmd]).is_err(),
                "{cmd} needs ids"
            );
        }
    }

    #[test]
    fn volumes() {
        assert_eq!(
            map(&[
                "create-volume",
                "--availability-zone",
                "us-east-1a",
                "--size",
                "4",
                "--encrypted",
                "--kms-key-id",
                "alias/k1",
                "--volume-type",
                "gp3",
            ]),
            (
                "CreateVolume",
                json!({"AvailabilityZone": "us-east-1a", "Size": 4, "Encrypted": true,
                       "KmsKeyId": "alias/k1", "VolumeType": "gp3"})
            )
        );
        assert_eq!(
            map(&[
                "create-volume",
                "--availability-zone",
                "us-east-1a",
                "--snapshot-id",
                "snap-1"
            ])
            .1,
            json!({"AvailabilityZone": "us-east-1a", "SnapshotId": "snap-1"})
        );
        assert_eq!(
            map(&["delete-volume", "--volume-id", "vol-1"]),
            ("DeleteVolume", json!({"VolumeId": "vol-1"}))
        );
        assert_eq!(
            map(&[
                "attach-volume",
                "--volume-id",
                "vol-1",
                "--instance-id",
                "i-1",
                "--device",
                "/dev/sdf"
            ]),
            (
                "AttachVolume",
                json!({"VolumeId": "vol-1", "InstanceId": "i-1", "Device": "/dev/sdf"})
            )
        );
        assert_eq!(
            map(&["detach-volume", "--volume-id", "vol-1"]),
            ("DetachVolume", json!({"VolumeId": "vol-1"}))
        );
        assert_eq!(
            map(&[
                "detach-volume",
                "--volume-id",
                "vol-1",
                "--instance-id",
                "i-1",
                "--device",
                "/dev/sdf",
                "--force",
            ])
            .1,
            json!({"VolumeId": "vol-1", "InstanceId": "i-1", "Device": "/dev/sdf", "Force": true})
        );
    }

    #[test]
    fn create_image() {
        assert_eq!(
            map(&["create-image", "--instance-id", "i-1", "--name", "img"]),
            ("CreateImage", json!({"InstanceId": "i-1", "Name": "img"}))
        );
        assert_eq!(
            map(&[
                "create-image",
                "--instance-id",
                "i-1",
                "--name",
                "img",
                "--no-reboot"
            ])
            .1["NoReboot"],
            true
        );
        assert_eq!(
            map(&[
                "create-image",
                "--instance-id",
                "i-1",
                "--name",
                "img",
                "--reboot"
            ])
            .1["NoReboot"],
            false
        );
        assert_eq!(
            map(&[
                "create-image",
                "--instance-id",
                "i-1",
                "--name",
                "img",
                "--description",
                "d",
                "--block-device-mappings",
                "DeviceName=/dev/sdh,NoDevice=",
            ])
            .1,
            json!({"InstanceId": "i-1", "Name": "img", "Description": "d",
                   "BlockDeviceMappings": [{"DeviceName": "/dev/sdh", "NoDevice": ""}]})
        );
    }

    #[test]
    fn encryption_by_default() {
        for (cmd, op) in [
            (
                "enable-ebs-encryption-by-default",
                "EnableEbsEncryptionByDefault",
            ),
            (
                "disable-ebs-encryption-by-default",
                "DisableEbsEncryptionByDefault",
            ),
            ("get-ebs-encryption-by-default", "GetEbsEncryptionByDefault"),
            ("get-ebs-default-kms-key-id", "GetEbsDefaultKmsKeyId"),
            ("reset-ebs-default-kms-key-id", "ResetEbsDefaultKmsKeyId"),
        ] {
            assert_eq!(map(&[cmd]), (op, json!({})));
        }
        assert_eq!(
            map(&["modify-ebs-default-kms-key-id", "--kms-key-id", "alias/k3"]),
            ("ModifyEbsDefaultKmsKeyId", json!({"KmsKeyId": "alias/k3"}))
        );
    }

    #[test]
    fn waiters_poll_their_describe_call() {
        assert_eq!(
            map(&["wait", "image-available", "--image-ids", "ami-1"]),
            ("DescribeImages", json!({"ImageIds": ["ami-1"]}))
        );
        assert_eq!(
            map(&["wait", "snapshot-completed", "--snapshot-ids", "snap-1"]),
            ("DescribeSnapshots", json!({"SnapshotIds": ["snap-1"]}))
        );
        assert_eq!(
            map(&["wait", "volume-available", "--volume-ids", "vol-1"]),
            ("DescribeVolumes", json!({"VolumeIds": ["vol-1"]}))
        );
        assert_eq!(
            map(&["wait", "instance-running", "--instance-ids", "i-1"]),
            ("DescribeInstances", json!({"InstanceIds": ["i-1"]}))
        );
    }

    #[test]
    fn file_arguments_are_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bdm.json");
        std::fs::write(
            &f,
            r#"[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-9"}}]"#,
        )
        .unwrap();
        let arg = format!("file://{}", f.display());
        assert_eq!(
            map(&[
                "register-image",
                "--name",
                "n",
                "--block-device-mappings",
                &arg
            ])
            .1["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"],
            "snap-9"
        );
        let e = Cli::try_parse_from([
            "blockseal",
            "ec2",
            "register-image",
            "--name",
            "n",
            "--block-device-mappings",
            "file:///nonexistent.json",
        ])
        .unwrap_err();
        assert!(e.to_string().contains("--block-device-mappings"), "{e}");
    }
}
