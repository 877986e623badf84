//! The command line: every command and flag named as in the AWS CLI v2 (`aws ec2 copy-image
//! --source-image-id …`), with the help a newcomer needs. Parsing only; `ec2.rs` and `kms.rs`
//! turn a parsed command into an engine request.

use crate::params::{self, Values};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::Value;
use std::path::PathBuf;

const ABOUT: &str = "EC2/EBS/KMS encrypted-image workflows on one machine, AWS CLI style";

const LONG_ABOUT: &str = "\
blockseal emulates EC2 images (AMIs), EBS snapshots and volumes, instances and a KMS on one \
machine, with real AES-XTS encryption of every encrypted volume and snapshot. Commands and flags \
are those of the AWS CLI v2 and output is JSON shaped like the AWS responses, so scripts written \
for `aws ec2 …` / `aws kms …` and jq carry over.

Disk contents come in with `ec2 import-snapshot --file disk.raw` and go out with \
`ec2 export-snapshot`. `blockseal demo` runs the five encrypted-AMI scenarios end to end.";

const AFTER_HELP: &str = "\
Examples:
  blockseal kms create-key --description K1
  blockseal ec2 import-snapshot --file disk.raw
  blockseal ec2 register-image --name base --root-device-name /dev/xvda \\
      --block-device-mappings 'DeviceName=/dev/xvda,Ebs={SnapshotId=snap-0123456789abcdef0}'
  blockseal ec2 copy-image --source-image-id ami-0123456789abcdef0 --name rekeyed \\
      --encrypted --kms-key-id alias/k2
  blockseal ec2 describe-snapshots --filters Name=encrypted,Values=true | jq '.Snapshots[].KmsKeyId'
  blockseal demo

Exit status: 0 success, 252 usage error, 254 the operation failed (the AWS error code is \
printed; also DryRunOperation for --dry-run), 255 other failures (e.g. a waiter gave up), 130 \
interrupted (Ctrl-C).";

const GLOBAL: &str = "Global Options";
const PAGING: &str =
    "Pagination (describe-images, -snapshots, -volumes, -instances; kms list-*; iam list-users, \
     list-user-policies)";

/// `blockseal [--home DIR] [--region R] [--profile P] [--output F] <group> <command> [flags]`.
#[derive(Parser, Debug)]
#[command(name = "blockseal", version, about = ABOUT, long_about = LONG_ABOUT)]
#[command(after_help = AFTER_HELP, max_term_width = 100, args_override_self = true)]
pub struct Cli {
    /// The home folder: catalog, KMS root key, volume and snapshot files
    /// [default: $XDG_DATA_HOME/blockseal or ~/.local/share/blockseal]
    #[arg(long, global = true, env = "BLOCKSEAL_HOME", value_name = "DIR", help_heading = GLOBAL)]
    pub home: Option<PathBuf>,

    /// The region every command runs in (keys, images, snapshots are per region). Without
    /// --region: $BLOCKSEAL_REGION, then $AWS_REGION, then $AWS_DEFAULT_REGION, then us-east-1
    #[arg(
        long,
        global = true,
        env = "BLOCKSEAL_REGION",
        default_value_t = default_region().0,
        value_name = "REGION",
        help_heading = GLOBAL
    )]
    pub region: String,

    /// The acting principal; keys may be used by their creator or by grantees
    #[arg(
        long,
        global = true,
        env = "BLOCKSEAL_PROFILE",
        default_value = "admin",
        help_heading = GLOBAL
    )]
    pub profile: String,

    /// Output format. Without --output: $BLOCKSEAL_OUTPUT, then $AWS_DEFAULT_OUTPUT, then json
    #[arg(
        long,
        global = true,
        env = "BLOCKSEAL_OUTPUT",
        value_enum,
        default_value_t = default_output(),
        help_heading = GLOBAL
    )]
    pub output: Output,

    /// A JMESPath expression applied to the result before it is printed (after the pages of a
    /// paginated command are joined), e.g. 'Images[].ImageId'
    #[arg(long, global = true, value_name = "JMESPATH", value_parser = crate::query::parse, help_heading = GLOBAL)]
    pub query: Option<String>,

    /// Make one call and print the service's page as it came (with its own NextToken), instead
    /// of following every page
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub no_paginate: bool,

    /// Print at most N items; a NextToken is printed to pass to --starting-token
    #[arg(long, global = true, value_name = "N", help_heading = PAGING)]
    pub max_items: Option<u64>,

    /// Where to start: the NextToken a --max-items run printed
    #[arg(long, global = true, value_name = "TOKEN", help_heading = PAGING)]
    pub starting_token: Option<String>,

    /// Fetch the items N per call (all are still printed; the service's limit applies, 5-1000
    /// for EC2, 1-1000 for KMS and IAM)
    #[arg(long, global = true, value_name = "N", help_heading = PAGING)]
    pub page_size: Option<u64>,

    /// Check the request and the permission, change nothing: the answer is the DryRunOperation
    /// error (exit 254) when the call would have succeeded (EC2 commands)
    #[arg(long, global = true, overrides_with = "no_dry_run", help_heading = GLOBAL)]
    pub dry_run: bool,

    /// Run the command (the default)
    #[arg(long, global = true, overrides_with = "dry_run", help_heading = GLOBAL)]
    pub no_dry_run: bool,

    /// The request as JSON, inline or file://PATH (the shape --generate-cli-skeleton prints);
    /// flags given on the command line override its members
    #[arg(long, global = true, value_name = "JSON", value_parser = params::load_text, help_heading = GLOBAL)]
    pub cli_input_json: Option<String>,

    /// Print a JSON skeleton of the request (input, the default) or of the result (output),
    /// from the AWS service model; no call is made
    #[arg(
        long,
        global = true,
        value_enum,
        num_args = 0..=1,
        default_missing_value = "input",
        value_name = "input|output",
        help_heading = GLOBAL
    )]
    pub generate_cli_skeleton: Option<crate::skeleton::Side>,

    /// Accepted for scripts written for the AWS CLI: blockseal never pages its output
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub no_cli_pager: bool,

    /// Colour (blockseal prints none; accepted for scripts written for the AWS CLI)
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto, help_heading = GLOBAL)]
    pub color: Color,

    /// Trace each request and response on standard error (secrets hidden)
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub debug: bool,

    #[command(subcommand)]
    pub group: Group,
}

/// `--color` of the AWS CLI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    On,
    Off,
    Auto,
}

/// The region when neither --region nor $BLOCKSEAL_REGION gives one, and where it came from:
/// $AWS_REGION, then $AWS_DEFAULT_REGION (the AWS CLI's order), then us-east-1. An empty
/// variable counts as unset, as in the AWS CLI.
pub fn default_region() -> (String, &'static str) {
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => return (v, var),
            _ => {}
        }
    }
    ("us-east-1".to_owned(), "the default")
}

/// The output format when neither --output nor $BLOCKSEAL_OUTPUT gives one: $AWS_DEFAULT_OUTPUT
/// if it names a format blockseal has, else json. (`main` refuses one it does not have.)
fn default_output() -> Output {
    std::env::var("AWS_DEFAULT_OUTPUT")
        .ok()
        .and_then(|v| Output::from_str(&v, false).ok())
        .unwrap_or(Output::Json)
}

/// The output formats of the AWS CLI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// The response as JSON (pipe it to jq)
    Json,
    /// Tab-separated values, one line per object (AWS CLI text style)
    Text,
    /// A boxed table titled with the operation name
    Table,
}

/// The command groups.
#[derive(Subcommand, Debug)]
pub enum Group {
    /// Images, snapshots, volumes, instances, encryption by default (like `aws ec2`)
    #[command(subcommand, arg_required_else_help = true)]
    Ec2(Ec2Command),
    /// Keys, aliases, grants, data keys (like `aws kms`)
    #[command(subcommand, arg_required_else_help = true)]
    Kms(KmsCommand),
    /// Run the five encrypted-AMI scenarios end to end in a temporary home and check them
    #[command(long_about = DEMO_ABOUT, after_help = EX_DEMO)]
    Demo(DemoArgs),
    /// Show a running instance's attached volumes as block files (FUSE) for dd, fio, mkfs
    #[command(long_about = MOUNT_ABOUT, after_help = EX_MOUNT)]
    Mount(MountArgs),
    /// Flush and unmount a `blockseal mount`
    Umount(UmountArgs),
    /// Serve the AWS API (EC2, KMS, EBS direct, STS) for the aws CLI, boto3 and SDKs
    #[command(long_about = SERVE_ABOUT, after_help = EX_SERVE)]
    Serve(ServeArgs),
    /// Users, their policies and API access keys (like `aws iam`)
    #[command(subcommand, arg_required_else_help = true)]
    Iam(IamCommand),
    /// The accounts of the home: make one, list them (act as one with --profile ACCOUNT:USER)
    #[command(subcommand, arg_required_else_help = true, long_about = ACCOUNT_ABOUT)]
    Account(AccountCommand),
    /// Who the profile is (like `aws sts`)
    #[command(subcommand, arg_required_else_help = true)]
    Sts(StsCommand),
    /// Measure XTS, re-key and FUSE throughput on this machine (throw-away homes)
    #[command(long_about = crate::bench::ABOUT, after_help = crate::bench::EXAMPLES)]
    Bench(crate::bench::BenchArgs),
    /// Check the home (catalog, data files, headers, KMS root key); --repair fixes what it can
    #[command(long_about = DOCTOR_ABOUT, after_help = EX_DOCTOR)]
    Doctor(DoctorArgs),
}

const DOCTOR_ABOUT: &str = "\
Check the home: the KMS root key is present and the catalog's; every volume and snapshot row \
has its data file, with a valid header that agrees with the row, and an encrypted one's data \
key opens under its KMS key; no data file in blobs/ or quarantine/ lacks a row; no unfinished \
operation left files in tmp/. Without --repair nothing is changed. Works on a home other \
commands refuse with InvalidHome, and says why.

The output is JSON: Findings, each with its ResourceId, an AWS-style Code (CorruptFile, \
InvalidHome, UnownedDataFile, UnfinishedOperation, ...), a Message and the Repair that \
--repair does. With --repair, each finding says whether it was Repaired and Remaining lists \
what a check right after the repair finds.

--repair rebuilds the rows of data files that no row owns from their headers (files from \
quarantine/ move back to blobs/), marks rows whose data file is missing or unreadable as \
error, and never deletes a data file. Images (AMIs) are not kept in data files: an image whose \
row was lost is not rebuilt, its snapshots are; register it again.

Exit status: 0 healthy (after --repair: nothing remains), 1 findings remain, 254 the check \
itself failed.";

const EX_DOCTOR: &str = "\
Examples:
  blockseal doctor
  blockseal doctor --repair | jq '.Remaining'";

/// `blockseal doctor` flags.
#[derive(Args, Clone, Debug)]
pub struct DoctorArgs {
    /// Rebuild missing rows from data files' headers and mark broken rows error
    #[arg(long)]
    pub repair: bool,
}

const SERVE_ABOUT: &str = "\
Serve the AWS API on one port: EC2 (Query protocol), KMS (JSON 1.1), the EBS direct APIs \
(StartSnapshot, PutSnapshotBlock, GetSnapshotBlock, ...), STS GetCallerIdentity and IAM access \
keys, so the aws CLI, boto3 and other AWS SDK tools work unchanged with --endpoint-url or \
AWS_ENDPOINT_URL. Requests are SigV4-signed; the signing scope's region is the region.

The first line printed is the URL. Each request is logged on standard error (operation, \
principal, status, milliseconds). Ctrl-C or SIGTERM stop the server after the requests in \
flight. The CLI, mounts and the server can work on one home at the same time.

Access key `test` with secret `test` signs as the account's admin unless \
--no-default-credentials is given; `blockseal iam create-access-key --user-name NAME` makes \
keys for any user (profile).";

const EX_SERVE: &str = "\
Examples:
  blockseal serve                                 # http://127.0.0.1:4566
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \\
    aws --endpoint-url http://127.0.0.1:4566 ec2 describe-images
  blockseal serve --listen 127.0.0.1:0 --no-default-credentials";

/// `blockseal serve` flags.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// The address to listen on (port 0 picks a free port)
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:4566")]
    pub listen: String,
    /// Refuse the built-in `test`/`test` access key
    #[arg(long)]
    pub no_default_credentials: bool,
    /// A folder whose disk images ImportSnapshot may read (`Url=file://…` under it); without
    /// one, the endpoint refuses ImportSnapshot (repeatable)
    #[arg(long, value_name = "DIR")]
    pub import_dir: Vec<std::path::PathBuf>,
}

const ACCOUNT_ABOUT: &str = "\
The accounts of the home. A home starts with one account; `blockseal account create` adds \
another, with a fresh 12-digit id and an `admin` user. Resources belong to the account that \
made them: an account sees and uses only its own, and the images and snapshots other accounts \
share with it (ec2 modify-image-attribute, modify-snapshot-attribute).

Act as an account's user with --profile ACCOUNT:USER (or $BLOCKSEAL_PROFILE), ACCOUNT being the \
id or the --name given at creation; a bare USER is a user of the first account. For the API \
endpoint, make an access key as that user: blockseal --profile b:admin iam create-access-key.";

/// `blockseal account …`
#[derive(Subcommand, Debug, Clone)]
pub enum AccountCommand {
    /// Make a new account (prints its id and its admin user)
    #[command(
        after_help = "Examples:\n  blockseal account create --name build\n  blockseal --profile build:admin ec2 describe-images"
    )]
    Create(AccountCreate),
    /// List the home's accounts, the first one first
    List,
}

/// `blockseal account create` flags.
#[derive(Args, Clone, Debug)]
pub struct AccountCreate {
    /// A name for profiles (NAME:USER); unique in the home
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// `blockseal iam …`
#[derive(Subcommand, Debug, Clone)]
pub enum IamCommand {
    /// Make an access key (the secret is shown once)
    CreateAccessKey(IamUser),
    /// List a user's access keys
    ListAccessKeys(IamUser),
    /// Activate or deactivate an access key
    UpdateAccessKey(IamKeyStatus),
    /// Delete an access key
    DeleteAccessKey(IamKey),
    /// Create a user (a profile name the CLI can act as)
    #[command(after_help = "Example:\n  blockseal iam create-user --user-name bob")]
    CreateUser(IamCreateUser),
    /// Show a user (default: the acting profile)
    GetUser(IamUser),
    /// List the account's users
    ListUsers(IamListUsers),
    /// Delete a user that has no access keys and no policies left
    DeleteUser(IamUserName),
    /// Add or replace an inline identity policy of a user
    #[command(
        after_help = "Example:\n  blockseal iam put-user-policy --user-name bob --policy-name read \\\n    --policy-document '{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"ec2:Describe*\",\"Resource\":\"*\"}}'"
    )]
    PutUserPolicy(IamPutUserPolicy),
    /// Show an inline policy of a user
    GetUserPolicy(IamUserPolicy),
    /// List a user's inline policy names
    ListUserPolicies(IamUserName),
    /// Delete an inline policy of a user
    DeleteUserPolicy(IamUserPolicy),
}

/// `blockseal sts …`
#[derive(Subcommand, Debug, Clone)]
pub enum StsCommand {
    /// The acting profile's user id, account and ARN
    GetCallerIdentity,
}

/// `create-user` flags.
#[derive(Args, Clone, Debug)]
pub struct IamCreateUser {
    /// The new user's name
    #[arg(long, value_parser = params::parse_string)]
    pub user_name: String,
    /// The user's path (default /)
    #[arg(long, value_parser = params::parse_string)]
    pub path: Option<String>,
}

/// `list-users` flags.
#[derive(Args, Clone, Debug)]
pub struct IamListUsers {
    /// Only users whose path starts so
    #[arg(long, value_parser = params::parse_string)]
    pub path_prefix: Option<String>,
}

/// A required `--user-name`.
#[derive(Args, Clone, Debug)]
pub struct IamUserName {
    /// The user
    #[arg(long, value_parser = params::parse_string)]
    pub user_name: String,
}

/// `--user-name` and `--policy-name`.
#[derive(Args, Clone, Debug)]
pub struct IamUserPolicy {
    /// The user
    #[arg(long, value_parser = params::parse_string)]
    pub user_name: String,
    /// The policy's name
    #[arg(long, value_parser = params::parse_string)]
    pub policy_name: String,
}

/// `put-user-policy` flags.
#[derive(Args, Clone, Debug)]
pub struct IamPutUserPolicy {
    /// The user
    #[arg(long, value_parser = params::parse_string)]
    pub user_name: String,
    /// The policy's name
    #[arg(long, value_parser = params::parse_string)]
    pub policy_name: String,
    /// The policy document: JSON, inline or file://PATH
    #[arg(long, value_parser = params::parse_string)]
    pub policy_document: String,
}

/// `--user-name`.
#[derive(Args, Clone, Debug)]
pub struct IamUser {
    /// The user (default: the acting profile)
    #[arg(long)]
    pub user_name: Option<String>,
}

/// `--access-key-id` and `--user-name`.
#[derive(Args, Clone, Debug)]
pub struct IamKey {
    /// The access key (AKIA...)
    #[arg(long)]
    pub access_key_id: String,
    /// The user (default: the acting profile)
    #[arg(long)]
    pub user_name: Option<String>,
}

/// `--access-key-id`, `--status` and `--user-name`.
#[derive(Args, Clone, Debug)]
pub struct IamKeyStatus {
    /// The access key (AKIA...)
    #[arg(long)]
    pub access_key_id: String,
    /// Active or Inactive
    #[arg(long)]
    pub status: String,
    /// The user (default: the acting profile)
    #[arg(long)]
    pub user_name: Option<String>,
}

const MOUNT_ABOUT: &str = "\
Show a running instance's attached volumes as block files: DIR holds one regular file per \
volume, named after its device without /dev/ (xvda, sdf, ...), sized to the volume. Reads \
decrypt and writes encrypt with the volume's own data key, straight on the volume file, so \
dd, fio and mkfs work on them and only ciphertext reaches the disk.

The mount unlocks each data key once (the KMS checks of attach-volume apply: a disabled key \
fails with CustomerKeyHasBeenRevoked) and locks each volume against a second mount. While it \
runs, attach-volume and detach-volume make files appear and disappear, create-image freezes \
writes for one point in time, and stop-/terminate-instances unmount it.

Without --daemon the mount stays in the foreground until it is unmounted (Ctrl-C, \
`blockseal umount DIR` or `fusermount3 -u DIR`). With --daemon it returns once the files are \
visible; its log goes to HOME/logs/mount-INSTANCE.log.

DIR must be an empty directory (--allow-non-empty mounts over files, hiding them while \
mounted), outside the home, and not on a pseudo file system (/proc, /sys, /dev); otherwise the \
mount fails with InvalidParameterValue.";

const EX_MOUNT: &str = "\
Examples:
  mkdir -p /mnt/i1 && blockseal mount --instance-id i-0123456789abcdef0 /mnt/i1 --daemon
  dd if=/dev/urandom of=/mnt/i1/sdf bs=1M count=256 conv=fsync,notrunc
  blockseal umount /mnt/i1";

/// `blockseal mount` flags.
#[derive(Args, Clone, Debug)]
pub struct MountArgs {
    /// The running instance whose attached volumes to show
    #[arg(long, value_name = "INSTANCE_ID")]
    pub instance_id: String,
    /// The (empty) directory to mount on
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Return once the files are visible and keep serving in the background
    #[arg(long)]
    pub daemon: bool,
    /// Serve the files read-only
    #[arg(long)]
    pub read_only: bool,
    /// Mount even if DIR holds files (they are hidden until unmounted)
    #[arg(long)]
    pub allow_non_empty: bool,
    /// The background process of --daemon (internal)
    #[arg(long, hide = true)]
    pub serve: bool,
}

/// `blockseal umount` flags.
#[derive(Args, Clone, Debug)]
pub struct UmountArgs {
    /// The directory a `blockseal mount` is mounted on
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

const DEMO_ABOUT: &str = "\
Run the five encrypted-AMI scenarios (copying an AMI with an encrypted data snapshot, with an \
encrypted root, encrypting an AMI with a chosen key, imaging an instance with an encrypted root, \
one key per snapshot) end to end in a fresh temporary home.

The demo imports generated disk images that carry a recognisable text marker, builds AMIs, \
instances and volumes from them, copies and re-keys, exports snapshots and checks: exported \
bytes equal imported bytes, every snapshot's KMS key ARN and data-key lineage are what AWS \
documents, and no file in the home holds the plaintext marker of encrypted data. It ends by \
timing a re-keying copy-image of a larger image. Any failed check exits non-zero.

The demo never touches your home: --home, --region and --profile do not apply to it.";

const EX_DEMO: &str = "\
Examples:
  blockseal demo
  blockseal demo --keep --size-mib 32 --rekey-size-mib 1024";

/// `blockseal demo` flags.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Keep the temporary home afterwards and print its path
    #[arg(long)]
    pub keep: bool,
    /// Size of each generated disk image, in MiB
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub size_mib: u64,
    /// Size of the image re-keyed at the end to measure throughput, in MiB
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub rekey_size_mib: u64,
}

/// `--flag` / `--no-flag` → Some(true) / Some(false); neither → None (field omitted).
pub fn tri(yes: bool, no: bool) -> Option<bool> {
    match (yes, no) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// EC2

/// `blockseal ec2 …`
#[derive(Subcommand, Debug)]
pub enum Ec2Command {
    #[command(after_help = EX_IMPORT_SNAPSHOT)]
    ImportSnapshot(ImportSnapshot),
    #[command(after_help = EX_DESCRIBE_IMPORT_SNAPSHOT_TASKS)]
    DescribeImportSnapshotTasks(DescribeImportSnapshotTasks),
    #[command(after_help = EX_EXPORT_SNAPSHOT)]
    ExportSnapshot(ExportSnapshot),
    #[command(after_help = EX_DESCRIBE_IMAGES)]
    DescribeImages(DescribeImages),
    #[command(after_help = EX_DESCRIBE_SNAPSHOTS)]
    DescribeSnapshots(DescribeSnapshots),
    #[command(after_help = EX_DESCRIBE_VOLUMES)]
    DescribeVolumes(DescribeVolumes),
    #[command(after_help = EX_DESCRIBE_INSTANCES)]
    DescribeInstances(DescribeInstances),
    #[command(after_help = EX_REGISTER_IMAGE)]
    RegisterImage(RegisterImage),
    #[command(after_help = EX_COPY_IMAGE)]
    CopyImage(CopyImage),
    #[command(after_help = EX_COPY_SNAPSHOT)]
    CopySnapshot(CopySnapshot),
    #[command(after_help = EX_CREATE_SNAPSHOT)]
    CreateSnapshot(CreateSnapshot),
    #[command(after_help = EX_DELETE_SNAPSHOT)]
    DeleteSnapshot(DeleteSnapshot),
    #[command(after_help = EX_DEREGISTER_IMAGE)]
    DeregisterImage(DeregisterImage),
    #[command(after_help = EX_MODIFY_IMAGE_ATTRIBUTE)]
    ModifyImageAttribute(ModifyImageAttribute),
    #[command(after_help = EX_DESCRIBE_IMAGE_ATTRIBUTE)]
    DescribeImageAttribute(ImageAttribute),
    /// Reset an image's launch permissions: only its owner may launch it again
    #[command(
        after_help = "Example:\n  blockseal ec2 reset-image-attribute --image-id ami-0123456789abcdef0 --attribute launchPermission"
    )]
    ResetImageAttribute(ImageAttribute),
    #[command(after_help = EX_MODIFY_SNAPSHOT_ATTRIBUTE)]
    ModifySnapshotAttribute(ModifySnapshotAttribute),
    #[command(after_help = EX_DESCRIBE_SNAPSHOT_ATTRIBUTE)]
    DescribeSnapshotAttribute(SnapshotAttribute),
    /// Reset a snapshot's create-volume permissions: only its owner may use it again
    #[command(
        after_help = "Example:\n  blockseal ec2 reset-snapshot-attribute --snapshot-id snap-0123456789abcdef0 --attribute createVolumePermission"
    )]
    ResetSnapshotAttribute(SnapshotAttribute),
    #[command(after_help = EX_RUN_INSTANCES)]
    RunInstances(RunInstances),
    /// Start stopped instances
    ///
    /// Their volumes are attached again, which needs every encrypted volume's key to be usable.
    #[command(after_help = EX_START_INSTANCES)]
    StartInstances(InstanceIds),
    /// Stop running instances
    ///
    /// A stopped instance keeps its volumes; its root volume can then be detached.
    #[command(after_help = EX_STOP_INSTANCES)]
    StopInstances(InstanceIds),
    /// Terminate instances
    ///
    /// Volumes with DeleteOnTermination=true (the root, by default) are deleted, the others
    /// become available. Images and snapshots are not affected.
    #[command(after_help = EX_TERMINATE_INSTANCES)]
    TerminateInstances(InstanceIds),
    #[command(after_help = EX_CREATE_VOLUME)]
    CreateVolume(CreateVolume),
    #[command(after_help = EX_DELETE_VOLUME)]
    DeleteVolume(DeleteVolume),
    #[command(after_help = EX_ATTACH_VOLUME)]
    AttachVolume(AttachVolume),
    #[command(after_help = EX_DETACH_VOLUME)]
    DetachVolume(DetachVolume),
    #[command(after_help = EX_CREATE_IMAGE)]
    CreateImage(CreateImage),
    /// Turn on encryption by default for new volumes and snapshot copies in the region
    ///
    /// Affects only what is created afterwards. An explicit --no-encrypted is then overridden,
    /// and new volumes use the default EBS key unless a key is named.
    #[command(after_help = "Example:\n  blockseal ec2 enable-ebs-encryption-by-default")]
    EnableEbsEncryptionByDefault,
    /// Turn off encryption by default in the region
    #[command(after_help = "Example:\n  blockseal ec2 disable-ebs-encryption-by-default")]
    DisableEbsEncryptionByDefault,
    /// Show whether encryption by default is on in the region
    #[command(after_help = "Example:\n  blockseal ec2 get-ebs-encryption-by-default")]
    GetEbsEncryptionByDefault,
    /// Show the region's default EBS key (alias/aws/ebs until changed)
    #[command(after_help = "Example:\n  blockseal ec2 get-ebs-default-kms-key-id")]
    GetEbsDefaultKmsKeyId,
    #[command(after_help = EX_MODIFY_DEFAULT_KEY)]
    ModifyEbsDefaultKmsKeyId(ModifyEbsDefaultKmsKeyId),
    /// Make the AWS managed key alias/aws/ebs the region's default EBS key again
    #[command(after_help = "Example:\n  blockseal ec2 reset-ebs-default-kms-key-id")]
    ResetEbsDefaultKmsKeyId,
    /// Wait until images, snapshots, volumes or instances reach a state
    #[command(subcommand, arg_required_else_help = true, long_about = WAIT_ABOUT)]
    Wait(WaitCommand),
    #[command(after_help = EX_CREATE_TAGS)]
    CreateTags(CreateTags),
    #[command(after_help = EX_DELETE_TAGS)]
    DeleteTags(DeleteTags),
    #[command(after_help = EX_DESCRIBE_TAGS)]
    DescribeTags(DescribeTags),
}

const TAG_SPECS_HELP: &str = "Tags for what the command creates: \
ResourceType=volume,Tags=[{Key=Name,Value=data}] (several, space-separated) or JSON";

const TAGS_HELP: &str = "Tags: Key=Stack,Value=production (several, space-separated) or JSON";

/// Add or overwrite tags on images, snapshots, volumes and instances
///
/// Each resource gets every tag; a key it already has takes the new value. At most 50 tags per
/// resource; keys are 1-128 characters and may not start with aws:, values 0-256.
#[derive(Args, Debug)]
pub struct CreateTags {
    /// The resources (ami-…, snap-…, vol-…, i-…), space-separated
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, required = true, value_name = "RESOURCE_ID", value_parser = params::parse_string_list)]
    pub resources: Vec<Values>,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, required = true, value_name = "TAG", help = TAGS_HELP, value_parser = params::parse_tags)]
    pub tags: Vec<Values>,
}

const EX_CREATE_TAGS: &str = "\
Examples:
  blockseal ec2 create-tags --resources ami-0123456789abcdef0 --tags Key=Stack,Value=production
  blockseal ec2 create-tags --resources ami-0123456789abcdef0 i-0123456789abcdef0 \\
      --tags Key=webserver,Value= Key=stack,Value=Production";

/// Delete tags from images, snapshots, volumes and instances
///
/// Key=K deletes the tag whatever its value; Key=K,Value=V only if the value is V (Value= only
/// an empty value). Without --tags every tag of the resources is deleted.
#[derive(Args, Debug)]
pub struct DeleteTags {
    /// The resources (ami-…, snap-…, vol-…, i-…), space-separated
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, required = true, value_name = "RESOURCE_ID", value_parser = params::parse_string_list)]
    pub resources: Vec<Values>,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "TAG", help = TAGS_HELP, value_parser = params::parse_tags)]
    pub tags: Vec<Values>,
}

const EX_DELETE_TAGS: &str = "\
Examples:
  blockseal ec2 delete-tags --resources ami-0123456789abcdef0 --tags Key=Stack,Value=Test
  blockseal ec2 delete-tags --resources i-0123456789abcdef0 --tags Key=purpose";

/// Describe the tags of the region's resources
///
/// One entry per tag: Key, Value, ResourceId, ResourceType. Filters: key, value, resource-id,
/// resource-type (image, snapshot, volume, instance), tag:KEY.
#[derive(Args, Debug)]
pub struct DescribeTags {
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "FILTER", help = FILTERS_HELP, value_parser = params::parse_filters)]
    pub filters: Vec<Values>,
}

const EX_DESCRIBE_TAGS: &str = "\
Examples:
  blockseal ec2 describe-tags --filters Name=resource-id,Values=i-0123456789abcdef0
  blockseal ec2 describe-tags --filters Name=key,Values=Stack Name=value,Values=Test";

/// Import a disk image file (RAW, VMDK, VHD or qcow2) as a new EBS snapshot
///
/// Reads the disk image named by --disk-container (AWS's form: Format=RAW|VMDK|VHD|QCOW2,
/// Url=file:///absolute/path) or --file (the short form: a local path whose format is found in
/// the file) into a new snapshot, encrypting it with a fresh data key under --kms-key-id (or
/// the default EBS key) when --encrypted is given. Plaintext never touches the home for an
/// encrypted import. VMDK: monolithicSparse and streamOptimized; VHD: fixed and dynamic;
/// qcow2: versions 2 and 3 without compression or backing file. The snapshot's VolumeSize is
/// the disk's size rounded up to whole GiB; bytes past the disk read as zeros. Waits until the
/// import task is completed and prints it, as describe-import-snapshot-tasks shows it.
#[derive(Args, Debug)]
pub struct ImportSnapshot {
    /// The disk image to import (the short form of --disk-container)
    #[arg(
        long,
        value_name = "PATH",
        required_unless_present = "disk_container",
        conflicts_with = "disk_container"
    )]
    pub file: Option<PathBuf>,
    /// The disk: Format=RAW|VMDK|VHD|QCOW2,Url=file:///path[,Description=…], or JSON
    #[arg(long, value_name = "DISK", value_parser = params::parse_disk_container)]
    pub disk_container: Option<serde_json::Value>,
    /// Encrypt the snapshot (with --kms-key-id, or the default EBS key)
    #[arg(long, overrides_with = "no_encrypted")]
    pub encrypted: bool,
    /// Do not encrypt (the default unless encryption by default is on)
    #[arg(long, overrides_with = "encrypted")]
    pub no_encrypted: bool,
    /// The KMS key: key id, key ARN, alias name (alias/…) or alias ARN; needs --encrypted
    #[arg(long, value_name = "KEY", value_parser = params::parse_string)]
    pub kms_key_id: Option<String>,
    /// A description for the import task
    #[arg(long, value_parser = params::parse_string)]
    pub description: Option<String>,
    /// A token that makes the call idempotent: a second call with it returns the first task
    #[arg(long, value_name = "TOKEN", value_parser = params::parse_string)]
    pub client_token: Option<String>,
    /// Accepted as the AWS CLI does (no role is needed to read a local file)
    #[arg(long, value_name = "NAME", value_parser = params::parse_string)]
    pub role_name: Option<String>,
    /// The encryption sector size in bytes (the XTS data unit)
    #[arg(long, value_name = "BYTES", value_parser = ["512", "4096"])]
    pub sector_size: Option<String>,
    /// The XTS variant of the snapshot's data key (copies and volumes made from it keep it)
    #[arg(long, value_name = "CIPHER", value_parser = ["aes-256-xts", "aes-128-xts"])]
    pub cipher: Option<String>,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "SPECS", help = TAG_SPECS_HELP, value_parser = params::parse_tag_specifications)]
    pub tag_specifications: Vec<Values>,
}

const EX_IMPORT_SNAPSHOT: &str = "\
Examples:
  blockseal ec2 import-snapshot --file disk.raw
  blockseal ec2 import-snapshot --disk-container Format=VMDK,Url=file:///srv/disk.vmdk
  blockseal ec2 import-snapshot --file disk.raw --encrypted --kms-key-id alias/k1 \\
      | jq -r .SnapshotTaskDetail.SnapshotId";

/// Describe import snapshot tasks: status, progress, the snapshot made or the reason it failed
///
/// A task is `active` while its image is converted, then `completed` with its SnapshotId, or
/// `deleted` with a StatusMessage such as `ClientError: Disk validation failed […]`. Filters:
/// import-task-id, task-state, format, snapshot-id.
#[derive(Args, Debug, Clone)]
pub struct DescribeImportSnapshotTasks {
    /// The import tasks to describe (import-snap-…), space-separated
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "TASK_ID", value_parser = params::parse_string_list)]
    pub import_task_ids: Vec<Values>,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "FILTER", help = FILTERS_HELP, value_parser = params::parse_filters)]
    pub filters: Vec<Values>,
}

const EX_DESCRIBE_IMPORT_SNAPSHOT_TASKS: &str = "\
Examples:
  blockseal ec2 describe-import-snapshot-tasks --import-task-ids import-snap-0123456789abcdef0
  blockseal ec2 describe-import-snapshot-tasks --filters Name=task-state,Values=deleted";

/// Write a snapshot's plaintext to a raw disk image file
///
/// Decrypts the snapshot (a blockseal extension, no AWS equivalent) into FILE, the full volume
/// size, sparse: sectors never written stay holes. Compare with the imported file using cmp.
#[derive(Args, Debug)]
pub struct ExportSnapshot {
    /// The snapshot to export (snap-…)
    #[arg(long, value_parser = params::parse_string)]
    pub snapshot_id: String,
    /// Where to write the raw image
    #[arg(long, value_name = "PATH")]
    pub file: PathBuf,
}

const EX_EXPORT_SNAPSHOT: &str = "\
Example:
  blockseal ec2 export-snapshot --snapshot-id snap-0123456789abcdef0 --file out.raw
  cmp -n $(stat -c %s disk.raw) disk.raw out.raw";

const FILTERS_HELP: &str = "Filters: Name=NAME,Values=V1,V2 (several, space-separated) or JSON";

/// Describe images (AMIs)
///
/// Lists the region's images, or those named by --image-ids, with their block device mappings.
/// Image mappings show Encrypted but not the key; the key ARN is on each snapshot.
/// Filters: name, state, image-id, block-device-mapping.encrypted,
/// block-device-mapping.snapshot-id, owner-id, is-public (values match exactly; * and ? are
/// wildcards).
#[derive(Args, Debug, Clone)]
pub struct DescribeImages {
    /// The images to describe (ami-…), space-separated
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "AMI_ID", value_parser = params::parse_string_list)]
    pub image_ids: Vec<Values>,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "FILTER", help = FILTERS_HELP, value_parser = params::parse_filters)]
    pub filters: Vec<Values>,
    /// Owners (account ids, `self` or `amazon`)
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "OWNER", value_parser = params::parse_string_list)]
    pub owners: Vec<Values>,
    /// Only images these may launch (account ids, `self`, or `all` for public images)
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "USER", value_parser = params::parse_string_list)]
    pub executable_users: Vec<Values>,
}

const EX_DESCRIBE_IMAGES: &str = "\
Examples:
  blockseal ec2 describe-images --image-ids ami-0123456789abcdef0
  blockseal ec2 describe-images --filters Name=state,Values=available Name=name,Values='web-*'
  blockseal ec2 describe-images --output table";

/// Describe snapshots, with their KMS key ARN and data-key lineage
///
/// Every encrypted snapshot shows KmsKeyId (the key ARN, even when an alias was given) and
/// DataEncryptionKeyId: equal values mean the same data key. Filters: encrypted, kms-key-id,
/// status, volume-id, snapshot-id, owner-id, description.
#[derive(Args, Debug, Clone)]
pub struct DescribeSnapshots {
    /// The snapshots to describe (snap-…), space-separated
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "SNAPSHOT_ID", value_parser = params::parse_string_list)]
    pub snapshot_ids: Vec<Values>,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "FILTER", help = FILTERS_HELP, value_parser = params::parse_filters)]
    pub filters: Vec<Values>,
    /// Owners (account ids or `self`)
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "OWNER", value_parser = params::parse_string_list)]
    pub owner_ids: Vec<Values>,
    /// Only snapshots these may restore (account ids, `self`, or `all` for public snapshots)
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "USER", value_parser = params::parse_string_list)]
    pub restorable_by_user_ids: Vec<Values>,
}

const EX_DESCRIBE_SNAPSHOTS: &str = "\
Examples:
  blockseal ec2 describe-snapshots --filters Name=encrypted,Values=true Name=status,Values=completed
  blockseal ec2 describe-snapshots --snapshot-ids snap-0123456789abcdef0 \\
      | jq -r '.Snapshots[] | [.SnapshotId, .KmsKeyId, .DataEncryptionKeyId] | @tsv'";

/// Describe volumes
///
/// Filters: encrypted, status, volume-id, snapshot-id, availability-zone,
/// attachment.instance-id, attachment.device, kms-key-id.
#[derive(Args, Debug, Clone)]
pub struct DescribeVolumes {
    /// The volumes to describe (vol-…), space-separated
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "VOLUME_ID", value_parser = params::parse_string_list)]
    pub volume_ids: Vec<Values>,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "FILTER", help = FILTERS_HELP, value_parser = params::parse_filters)]
    pub filters: Vec<Values>,
}

const EX_DESCRIBE_VOLUMES: &str = "\
Examples:
  blockseal ec2 describe-volumes --filters Name=attachment.instance-id,Values=i-0123456789abcdef0
  blockseal ec2 describe-volumes --output text";

/// Describe instances
///
/// Output is grouped in reservations, as in AWS. Filters: instance-id, instance-state-name,
/// image-id, availability-zone.
#[derive(Args, Debug, Clone)]
pub struct DescribeInstances {
    /// The instances to describe (i-…), space-separated
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "INSTANCE_ID", value_parser = params::parse_string_list)]
    pub instance_ids: Vec<Values>,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "FILTER", help = FILTERS_HELP, value_parser = params::parse_filters)]
    pub filters: Vec<Values>,
}

const EX_DESCRIBE_INSTANCES: &str = "\
Example:
  blockseal ec2 describe-instances --filters Name=instance-state-name,Values=running \\
      | jq -r '.Reservations[].Instances[].InstanceId'";

const BDM_HELP: &str = "Block device mappings: JSON list, file://mappings.json, or one mapping in \
shorthand (DeviceName=/dev/sdf,Ebs={VolumeSize=8})";

/// Register an image (AMI) from existing snapshots
///
/// The image is a root device name plus block device mappings, each naming a snapshot. Snapshots
/// referenced by a registered image cannot be deleted until it is deregistered.
#[derive(Args, Debug)]
pub struct RegisterImage {
    /// The image name: 3–128 letters, digits and ( ) [ ] . / - ' @ _ or space; unique per region
    #[arg(long, value_parser = params::parse_string)]
    pub name: String,
    /// The root device, e.g. /dev/xvda or /dev/sda1
    #[arg(long, value_name = "DEVICE", value_parser = params::parse_string)]
    pub root_device_name: Option<String>,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "MAPPINGS", help = BDM_HELP, value_parser = params::parse_block_device_mappings)]
    pub block_device_mappings: Vec<Values>,
    /// A description
    #[arg(long, value_parser = params::parse_string)]
    pub description: Option<String>,
    /// The architecture: i386, x86_64, arm64, x86_64_mac or arm64_mac [default: x86_64]
    #[arg(long, value_parser = params::parse_string)]
    pub architecture: Option<String>,
    /// hvm or paravirtual [default: hvm]
    #[arg(long, value_name = "TYPE", value_parser = params::parse_string)]
    pub virtualization_type: Option<String>,
    /// Enhanced networking with ENA
    #[arg(long, overrides_with = "no_ena_support")]
    pub ena_support: bool,
    /// EnaSupport=false
    #[arg(long, overrides_with = "ena_support")]
    pub no_ena_support: bool,
    /// legacy-bios, uefi or uefi-preferred
    #[arg(long, value_name = "MODE", value_parser = params::parse_string)]
    pub boot_mode: Option<String>,
    /// simple: enhanced networking with the Intel 82599 VF interface
    #[arg(long, value_name = "VALUE", value_parser = params::parse_string)]
    pub sriov_net_support: Option<String>,
    /// v2.0: instances launched from the image require IMDSv2
    #[arg(long, value_name = "VALUE", value_parser = params::parse_string)]
    pub imds_support: Option<String>,
    /// v2.0: NitroTPM (needs --boot-mode uefi)
    #[arg(long, value_name = "VALUE", value_parser = params::parse_string)]
    pub tpm_support: Option<String>,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "SPECS", help = TAG_SPECS_HELP, value_parser = params::parse_tag_specifications)]
    pub tag_specifications: Vec<Values>,
}

const EX_REGISTER_IMAGE: &str = "\
Examples:
  blockseal ec2 register-image --name base --root-device-name /dev/xvda \\
      --block-device-mappings '[{\"DeviceName\": \"/dev/xvda\", \"Ebs\": {\"SnapshotId\": \"snap-0123456789abcdef0\"}}]'
  blockseal ec2 register-image --name base --root-device-name /dev/xvda \\
      --block-device-mappings file://mappings.json";

/// Copy an image, optionally encrypting or re-keying every snapshot
///
/// Makes a new image with one new snapshot per source snapshot. Without encryption flags each
/// snapshot keeps its own key and data key (same region) and unencrypted ones stay unencrypted
/// (unless encryption by default is on). With --encrypted alone, unencrypted snapshots get the
/// default EBS key. With --encrypted --kms-key-id every snapshot is re-encrypted under that one
/// key with a new data key. --kms-key-id without --encrypted is refused
/// (InvalidParameterDependency). Run in the destination region (--region); the copy is
/// complete when the command returns.
#[derive(Args, Debug)]
pub struct CopyImage {
    /// The image to copy (ami-…)
    #[arg(long, value_name = "AMI_ID", value_parser = params::parse_string)]
    pub source_image_id: String,
    /// The source image's region [default: --region]
    #[arg(long, value_name = "REGION", value_parser = params::parse_string)]
    pub source_region: Option<String>,
    /// The new image's name (unique in the destination region)
    #[arg(long, value_parser = params::parse_string)]
    pub name: String,
    /// A description for the new image
    #[arg(long, value_parser = params::parse_string)]
    pub description: Option<String>,
    /// Encrypt every snapshot of the copy (with --kms-key-id, else the default EBS key)
    #[arg(long, overrides_with = "no_encrypted")]
    pub encrypted: bool,
    /// Encrypted=false: refused when any source snapshot is encrypted
    #[arg(long, overrides_with = "encrypted")]
    pub no_encrypted: bool,
    /// The key for every snapshot of the copy: key id, key ARN, alias name or alias ARN
    #[arg(long, value_name = "KEY", value_parser = params::parse_string)]
    pub kms_key_id: Option<String>,
    /// An idempotency token: repeating the request with it returns the same image
    #[arg(long, value_name = "TOKEN", value_parser = params::parse_string)]
    pub client_token: Option<String>,
    /// Copy the source image's user tags to the new image
    #[arg(long, overrides_with = "no_copy_image_tags")]
    pub copy_image_tags: bool,
    /// Do not copy the source image's tags (the default)
    #[arg(long, overrides_with = "copy_image_tags")]
    pub no_copy_image_tags: bool,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "SPECS", help = TAG_SPECS_HELP, value_parser = params::parse_tag_specifications)]
    pub tag_specifications: Vec<Values>,
}

const EX_COPY_IMAGE: &str = "\
Examples:
  # Copy keeping each snapshot's key:
  blockseal ec2 copy-image --source-image-id ami-0123456789abcdef0 --name copy-1
  # Re-key every snapshot to the key behind alias/k2:
  blockseal ec2 copy-image --source-image-id ami-0123456789abcdef0 --name rekeyed \\
      --encrypted --kms-key-id alias/k2
  # Copy into another region (lands on that region's default key):
  blockseal --region us-west-2 ec2 copy-image --source-region us-east-1 \\
      --source-image-id ami-0123456789abcdef0 --name west-copy";

/// Copy a snapshot, optionally encrypting or re-keying it
///
/// Same encryption rules as copy-image, for one snapshot: without flags the copy keeps the key
/// and data key (same region); with --encrypted --kms-key-id it is re-encrypted under that key.
#[derive(Args, Debug)]
pub struct CopySnapshot {
    /// The snapshot to copy (snap-…)
    #[arg(long, value_name = "SNAPSHOT_ID", value_parser = params::parse_string)]
    pub source_snapshot_id: String,
    /// The source snapshot's region [default: --region]
    #[arg(long, value_name = "REGION", value_parser = params::parse_string)]
    pub source_region: Option<String>,
    /// A description for the copy
    #[arg(long, value_parser = params::parse_string)]
    pub description: Option<String>,
    /// Encrypt the copy (with --kms-key-id, else the default EBS key)
    #[arg(long, overrides_with = "no_encrypted")]
    pub encrypted: bool,
    /// Encrypted=false: refused for an encrypted source
    #[arg(long, overrides_with = "encrypted")]
    pub no_encrypted: bool,
    /// The key for the copy: key id, key ARN, alias name or alias ARN
    #[arg(long, value_name = "KEY", value_parser = params::parse_string)]
    pub kms_key_id: Option<String>,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "SPECS", help = TAG_SPECS_HELP, value_parser = params::parse_tag_specifications)]
    pub tag_specifications: Vec<Values>,
}

const EX_COPY_SNAPSHOT: &str = "\
Example:
  blockseal ec2 copy-snapshot --source-snapshot-id snap-0123456789abcdef0 \\
      --encrypted --kms-key-id alias/k3";

/// Snapshot a volume
///
/// The snapshot keeps the volume's encryption, key and data key (same DataEncryptionKeyId) and
/// captures its contents at this moment.
#[derive(Args, Debug)]
pub struct CreateSnapshot {
    /// The volume (vol-…)
    #[arg(long, value_name = "VOLUME_ID", value_parser = params::parse_string)]
    pub volume_id: String,
    /// A description
    #[arg(long, value_parser = params::parse_string)]
    pub description: Option<String>,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "SPECS", help = TAG_SPECS_HELP, value_parser = params::parse_tag_specifications)]
    pub tag_specifications: Vec<Values>,
}

const EX_CREATE_SNAPSHOT: &str = "\
Example:
  blockseal ec2 create-snapshot --volume-id vol-0123456789abcdef0 --description nightly";

/// Delete a snapshot
///
/// Refused with InvalidSnapshot.InUse while a registered image references it.
#[derive(Args, Debug)]
pub struct DeleteSnapshot {
    /// The snapshot (snap-…)
    #[arg(long, value_name = "SNAPSHOT_ID", value_parser = params::parse_string)]
    pub snapshot_id: String,
}

const EX_DELETE_SNAPSHOT: &str = "\
Example:
  blockseal ec2 delete-snapshot --snapshot-id snap-0123456789abcdef0";

/// Deregister an image
///
/// Its snapshots stay unless --delete-associated-snapshots is given (snapshots still used by
/// another image are kept either way). Running instances are not affected.
#[derive(Args, Debug)]
pub struct DeregisterImage {
    /// The image (ami-…)
    #[arg(long, value_name = "AMI_ID", value_parser = params::parse_string)]
    pub image_id: String,
    /// Also delete the image's snapshots
    #[arg(long, overrides_with = "no_delete_associated_snapshots")]
    pub delete_associated_snapshots: bool,
    /// Keep the image's snapshots (the default)
    #[arg(long, overrides_with = "delete_associated_snapshots")]
    pub no_delete_associated_snapshots: bool,
}

const EX_DEREGISTER_IMAGE: &str = "\
Example:
  blockseal ec2 deregister-image --image-id ami-0123456789abcdef0 --delete-associated-snapshots";

/// Share an image with other accounts (launch permissions), or change its description
///
/// --launch-permission "Add=[{UserId=ACCOUNT}]" or the flag form --attribute launchPermission
/// --operation-type add --user-ids ACCOUNT; Group=all (--user-groups all) makes it public.
/// An image with a snapshot under the AWS managed key aws/ebs cannot be shared
/// (InvalidParameter), an encrypted one cannot be public (UnsupportedOperation); a recipient
/// launching an encrypted image needs the owner's customer managed key (a grant).
#[derive(Args, Debug)]
pub struct ModifyImageAttribute {
    /// The image (ami-…)
    #[arg(long, value_name = "AMI_ID", value_parser = params::parse_string)]
    pub image_id: String,
    /// launchPermission or description
    #[arg(long, value_name = "NAME", value_parser = params::parse_string)]
    pub attribute: Option<String>,
    /// add or remove (with --user-ids / --user-groups)
    #[arg(long, value_name = "add|remove", value_parser = params::parse_string)]
    pub operation_type: Option<String>,
    /// Account ids to add or remove
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "ACCOUNT", value_parser = params::parse_string_list)]
    pub user_ids: Vec<Values>,
    /// Groups to add or remove (`all`: public)
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "GROUP", value_parser = params::parse_string_list)]
    pub user_groups: Vec<Values>,
    /// Add=[{UserId=…},{Group=all}],Remove=[…] (or JSON)
    #[arg(long, value_name = "CHANGES", value_parser = params::parse_permission_modifications)]
    pub launch_permission: Option<Value>,
    /// A new description (Value=…)
    #[arg(long, value_name = "VALUE", value_parser = params::parse_attribute_value)]
    pub description: Option<Value>,
    /// The new value of --attribute description
    #[arg(long, value_name = "VALUE", value_parser = params::parse_string)]
    pub value: Option<String>,
}

const EX_MODIFY_IMAGE_ATTRIBUTE: &str = "\
Examples:
  blockseal ec2 modify-image-attribute --image-id ami-0123456789abcdef0 \\
      --launch-permission \"Add=[{UserId=123456789012}]\"
  blockseal ec2 modify-image-attribute --image-id ami-0123456789abcdef0 \\
      --attribute launchPermission --operation-type remove --user-ids 123456789012";

/// Show one attribute of an image you own (launchPermission, description, blockDeviceMapping)
#[derive(Args, Debug)]
pub struct ImageAttribute {
    /// The image (ami-…)
    #[arg(long, value_name = "AMI_ID", value_parser = params::parse_string)]
    pub image_id: String,
    /// The attribute, e.g. launchPermission
    #[arg(long, value_name = "NAME", value_parser = params::parse_string)]
    pub attribute: String,
}

const EX_DESCRIBE_IMAGE_ATTRIBUTE: &str = "\
Example:
  blockseal ec2 describe-image-attribute --image-id ami-0123456789abcdef0 --attribute launchPermission";

/// Share a snapshot with other accounts (create-volume permissions)
///
/// --create-volume-permission \"Add=[{UserId=ACCOUNT}]\" or --attribute createVolumePermission
/// --operation-type add --user-ids ACCOUNT. A snapshot under aws/ebs cannot be shared
/// (OperationNotPermitted); an encrypted one cannot be public. A recipient copying or restoring
/// an encrypted snapshot needs the owner's key (a grant).
#[derive(Args, Debug)]
pub struct ModifySnapshotAttribute {
    /// The snapshot (snap-…)
    #[arg(long, value_name = "SNAPSHOT_ID", value_parser = params::parse_string)]
    pub snapshot_id: String,
    /// createVolumePermission
    #[arg(long, value_name = "NAME", value_parser = params::parse_string)]
    pub attribute: Option<String>,
    /// add or remove (with --user-ids / --group-names)
    #[arg(long, value_name = "add|remove", value_parser = params::parse_string)]
    pub operation_type: Option<String>,
    /// Account ids to add or remove
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "ACCOUNT", value_parser = params::parse_string_list)]
    pub user_ids: Vec<Values>,
    /// Groups to add or remove (`all`: public)
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "GROUP", value_parser = params::parse_string_list)]
    pub group_names: Vec<Values>,
    /// Add=[{UserId=…},{Group=all}],Remove=[…] (or JSON)
    #[arg(long, value_name = "CHANGES", value_parser = params::parse_permission_modifications)]
    pub create_volume_permission: Option<Value>,
}

const EX_MODIFY_SNAPSHOT_ATTRIBUTE: &str = "\
Example:
  blockseal ec2 modify-snapshot-attribute --snapshot-id snap-0123456789abcdef0 \\
      --attribute createVolumePermission --operation-type add --user-ids 123456789012";

/// Show one attribute of a snapshot you own (createVolumePermission, productCodes)
#[derive(Args, Debug)]
pub struct SnapshotAttribute {
    /// The snapshot (snap-…)
    #[arg(long, value_name = "SNAPSHOT_ID", value_parser = params::parse_string)]
    pub snapshot_id: String,
    /// The attribute, e.g. createVolumePermission
    #[arg(long, value_name = "NAME", value_parser = params::parse_string)]
    pub attribute: String,
}

const EX_DESCRIBE_SNAPSHOT_ATTRIBUTE: &str = "\
Example:
  blockseal ec2 describe-snapshot-attribute --snapshot-id snap-0123456789abcdef0 \\
      --attribute createVolumePermission";

/// Launch instances from an image
///
/// Each instance gets one volume per mapping of the image (root included), overlaid by
/// --block-device-mappings entries with the same device name: a mapping can resize a volume or
/// encrypt/re-key it at launch ({\"Encrypted\": true, \"KmsKeyId\": …}); an encrypted snapshot
/// always gives an encrypted volume.
#[derive(Args, Debug)]
pub struct RunInstances {
    /// The image to launch (ami-…)
    #[arg(long, value_name = "AMI_ID", value_parser = params::parse_string)]
    pub image_id: String,
    /// How many instances: N, or MIN:MAX
    #[arg(long, value_name = "N|MIN:MAX", default_value = "1", value_parser = params::parse_count)]
    pub count: (u32, u32),
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "MAPPINGS", help = BDM_HELP, value_parser = params::parse_block_device_mappings)]
    pub block_device_mappings: Vec<Values>,
    /// Where to launch: AvailabilityZone=us-east-1a (shorthand) or JSON
    #[arg(long, value_name = "PLACEMENT", value_parser = params::parse_placement)]
    pub placement: Option<Value>,
    /// The instance type (t3.micro, m5.large, t4g.small, …; its architecture must be the image's)
    #[arg(long, value_name = "TYPE", default_value = "t3.micro", value_parser = params::parse_string)]
    pub instance_type: String,
    /// The key pair's name, recorded and shown as KeyName
    #[arg(long, value_name = "NAME", value_parser = params::parse_string)]
    pub key_name: Option<String>,
    /// Security group ids (the default VPC's default group, sg-…), space-separated
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "GROUP_ID", value_parser = params::parse_string_list)]
    pub security_group_ids: Vec<Values>,
    /// Security group names (default), space-separated
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "GROUP_NAME", value_parser = params::parse_string_list)]
    pub security_groups: Vec<Values>,
    /// The default subnet to launch into (its zone is the instance's)
    #[arg(long, value_name = "SUBNET_ID", value_parser = params::parse_string)]
    pub subnet_id: Option<String>,
    /// The primary private IPv4 address, from the subnet's range (one instance only)
    #[arg(long, value_name = "IP", value_parser = params::parse_string)]
    pub private_ip_address: Option<String>,
    /// User data: text, file://PATH or fileb://PATH; sent base64-encoded (at most 16 KiB)
    #[arg(long, value_name = "DATA", value_parser = params::parse_user_data)]
    pub user_data: Option<String>,
    /// An idempotency token: repeating the request with it returns the same reservation
    #[arg(long, value_name = "TOKEN", value_parser = params::parse_string)]
    pub client_token: Option<String>,
    /// Detailed monitoring: Enabled=true (shorthand) or JSON
    #[arg(long, value_name = "MONITORING", value_parser = params::parse_monitoring)]
    pub monitoring: Option<Value>,
    /// Launch EBS-optimized (not on t2)
    #[arg(long, overrides_with = "no_ebs_optimized")]
    pub ebs_optimized: bool,
    /// EbsOptimized=false (the default)
    #[arg(long, overrides_with = "ebs_optimized")]
    pub no_ebs_optimized: bool,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "SPECS", help = TAG_SPECS_HELP, value_parser = params::parse_tag_specifications)]
    pub tag_specifications: Vec<Values>,
}

const EX_RUN_INSTANCES: &str = "\
Examples:
  blockseal ec2 run-instances --image-id ami-0123456789abcdef0
  blockseal ec2 run-instances --image-id ami-0123456789abcdef0 --count 2 \\
      --placement AvailabilityZone=us-east-1b
  # Encrypt the root volume with K1 at launch:
  blockseal ec2 run-instances --image-id ami-0123456789abcdef0 --block-device-mappings \\
      '[{\"DeviceName\": \"/dev/xvda\", \"Ebs\": {\"Encrypted\": true, \"KmsKeyId\": \"alias/k1\"}}]'";

/// Instance ids for start-, stop- and terminate-instances.
#[derive(Args, Debug)]
pub struct InstanceIds {
    /// The instances (i-…), space-separated
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, required = true, value_name = "INSTANCE_ID", value_parser = params::parse_string_list)]
    pub instance_ids: Vec<Values>,
}

const EX_START_INSTANCES: &str = "\
Example:
  blockseal ec2 start-instances --instance-ids i-0123456789abcdef0";
const EX_STOP_INSTANCES: &str = "\
Example:
  blockseal ec2 stop-instances --instance-ids i-0123456789abcdef0";
const EX_TERMINATE_INSTANCES: &str = "\
Example:
  blockseal ec2 terminate-instances --instance-ids i-0123456789abcdef0 i-0123456789abcdef1";

/// Create a volume, empty or from a snapshot
///
/// From an encrypted snapshot the volume keeps its key and data key unless --encrypted
/// --kms-key-id names another key (then it is re-encrypted). --size may be omitted with
/// --snapshot-id (the snapshot's size).
#[derive(Args, Debug)]
pub struct CreateVolume {
    /// The availability zone, e.g. us-east-1a (must match the instance it will attach to)
    #[arg(long, value_name = "ZONE", value_parser = params::parse_string)]
    pub availability_zone: String,
    /// Size in GiB
    #[arg(long, value_name = "GIB")]
    pub size: Option<u64>,
    /// The snapshot to restore (snap-…)
    #[arg(long, value_name = "SNAPSHOT_ID", value_parser = params::parse_string)]
    pub snapshot_id: Option<String>,
    /// gp2, gp3, io1, io2, st1, sc1 or standard [default: gp2]
    #[arg(long, value_name = "TYPE", value_parser = params::parse_string)]
    pub volume_type: Option<String>,
    /// Provisioned IOPS: required for io1 (100–64000, ≤50/GiB) and io2 (100–256000,
    /// ≤1000/GiB); gp3 3000–80000 (≤500/GiB above 3000); not for gp2, st1, sc1, standard
    #[arg(long, value_name = "IOPS")]
    pub iops: Option<u64>,
    /// Provisioned throughput in MiB/s, gp3 only: 125–2000, ≤0.25 per IOPS
    #[arg(long, value_name = "MIBPS")]
    pub throughput: Option<u64>,
    /// Multi-Attach (refused: a volume attaches to one instance here)
    #[arg(long, overrides_with = "no_multi_attach_enabled")]
    pub multi_attach_enabled: bool,
    /// MultiAttachEnabled=false (the default)
    #[arg(long, overrides_with = "multi_attach_enabled")]
    pub no_multi_attach_enabled: bool,
    /// An idempotency token: repeating the request with it returns the same volume
    #[arg(long, value_name = "TOKEN", value_parser = params::parse_string)]
    pub client_token: Option<String>,
    /// Encrypt the volume (with --kms-key-id, else the snapshot's or the default EBS key)
    #[arg(long, overrides_with = "no_encrypted")]
    pub encrypted: bool,
    /// Encrypted=false (ignored for an encrypted snapshot: encryption is never removed)
    #[arg(long, overrides_with = "encrypted")]
    pub no_encrypted: bool,
    /// The key: key id, key ARN, alias name or alias ARN; needs --encrypted
    #[arg(long, value_name = "KEY", value_parser = params::parse_string)]
    pub kms_key_id: Option<String>,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "SPECS", help = TAG_SPECS_HELP, value_parser = params::parse_tag_specifications)]
    pub tag_specifications: Vec<Values>,
}

const EX_CREATE_VOLUME: &str = "\
Examples:
  blockseal ec2 create-volume --availability-zone us-east-1a --size 4 --encrypted --kms-key-id alias/k1
  blockseal ec2 create-volume --availability-zone us-east-1a --snapshot-id snap-0123456789abcdef0";

/// Delete an available (detached) volume
#[derive(Args, Debug)]
pub struct DeleteVolume {
    /// The volume (vol-…)
    #[arg(long, value_name = "VOLUME_ID", value_parser = params::parse_string)]
    pub volume_id: String,
}

const EX_DELETE_VOLUME: &str = "\
Example:
  blockseal ec2 delete-volume --volume-id vol-0123456789abcdef0";

/// Attach a volume to an instance at a device name
///
/// The volume must be available and in the instance's zone; the device must be a free EBS name
/// such as /dev/sdf…/dev/sdp. An encrypted volume's key must be usable
/// (CustomerKeyHasBeenRevoked otherwise).
#[derive(Args, Debug)]
pub struct AttachVolume {
    /// The volume (vol-…)
    #[arg(long, value_name = "VOLUME_ID", value_parser = params::parse_string)]
    pub volume_id: String,
    /// The instance (i-…)
    #[arg(long, value_name = "INSTANCE_ID", value_parser = params::parse_string)]
    pub instance_id: String,
    /// The device name, e.g. /dev/sdf
    #[arg(long, value_parser = params::parse_string)]
    pub device: String,
}

const EX_ATTACH_VOLUME: &str = "\
Example:
  blockseal ec2 attach-volume --volume-id vol-0123456789abcdef0 \\
      --instance-id i-0123456789abcdef0 --device /dev/sdf";

/// Detach a volume from its instance
///
/// The root volume of a running instance cannot be detached (stop the instance first).
#[derive(Args, Debug)]
pub struct DetachVolume {
    /// The volume (vol-…)
    #[arg(long, value_name = "VOLUME_ID", value_parser = params::parse_string)]
    pub volume_id: String,
    /// The instance it must be attached to (checked if given)
    #[arg(long, value_name = "INSTANCE_ID", value_parser = params::parse_string)]
    pub instance_id: Option<String>,
    /// The device it must be attached at (checked if given)
    #[arg(long, value_parser = params::parse_string)]
    pub device: Option<String>,
    /// Force the detachment
    #[arg(long, overrides_with = "no_force")]
    pub force: bool,
    /// Do not force (the default)
    #[arg(long, overrides_with = "force")]
    pub no_force: bool,
}

const EX_DETACH_VOLUME: &str = "\
Example:
  blockseal ec2 detach-volume --volume-id vol-0123456789abcdef0";

/// Create an image from an instance, snapshotting every attached volume
///
/// Each volume becomes a snapshot exactly as create-snapshot would make it: same key, same data
/// key, so an instance with volumes under K1, K2 and K3 gives an image with one key per
/// snapshot. With the default (--reboot) writes are frozen while the snapshots are taken.
/// --block-device-mappings can add empty volumes, drop one (NoDevice=\"\"), or change
/// DeleteOnTermination; it cannot change encryption.
#[derive(Args, Debug)]
pub struct CreateImage {
    /// The instance (i-…)
    #[arg(long, value_name = "INSTANCE_ID", value_parser = params::parse_string)]
    pub instance_id: String,
    /// The image name (unique per region)
    #[arg(long, value_parser = params::parse_string)]
    pub name: String,
    /// A description
    #[arg(long, value_parser = params::parse_string)]
    pub description: Option<String>,
    /// Take the snapshots without freezing writes (crash-consistent)
    #[arg(long, overrides_with = "reboot")]
    pub no_reboot: bool,
    /// Freeze writes while snapshotting (the default)
    #[arg(long, overrides_with = "no_reboot")]
    pub reboot: bool,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "MAPPINGS", help = BDM_HELP, value_parser = params::parse_block_device_mappings)]
    pub block_device_mappings: Vec<Values>,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "SPECS", help = TAG_SPECS_HELP, value_parser = params::parse_tag_specifications)]
    pub tag_specifications: Vec<Values>,
}

const EX_CREATE_IMAGE: &str = "\
Example:
  blockseal ec2 create-image --instance-id i-0123456789abcdef0 --name web-2024-06-01";

/// Set the region's default EBS key
///
/// The key (id, ARN, alias or alias ARN) is resolved and stored as its ARN; it is used whenever
/// encryption is asked for without a key.
#[derive(Args, Debug)]
pub struct ModifyEbsDefaultKmsKeyId {
    /// The key
    #[arg(long, value_name = "KEY", value_parser = params::parse_string)]
    pub kms_key_id: String,
}

const EX_MODIFY_DEFAULT_KEY: &str = "\
Example:
  blockseal ec2 modify-ebs-default-kms-key-id --kms-key-id alias/k3";

const WAIT_ABOUT: &str = "\
Wait until images, snapshots, import tasks, volumes or instances reach a state: every waiter of \
the AWS CLI whose operation blockseal serves, with botocore's acceptors. Polls every 0.2 s \
(BLOCKSEAL_WAITER_DELAY seconds) for as long as the AWS CLI would (10 minutes for most; \
BLOCKSEAL_WAITER_MAX_ATTEMPTS attempts). Prints nothing and exits 0 on success; exits 255 with \
`Waiter … failed: …` when a resource reaches a failure state (an image `failed`, a snapshot \
`error`, an instance terminated), on an unexpected error, or when time runs out.";

/// `blockseal ec2 wait …`
#[derive(Subcommand, Debug, Clone)]
pub enum WaitCommand {
    /// Wait until images are available (fails when one is `failed`)
    #[command(
        after_help = "Example:\n  blockseal ec2 wait image-available --image-ids ami-0123456789abcdef0"
    )]
    ImageAvailable(DescribeImages),
    /// Wait until at least one image matches (retries while it is not found)
    #[command(
        after_help = "Example:\n  blockseal ec2 wait image-exists --filters Name=name,Values=web-1"
    )]
    ImageExists(DescribeImages),
    /// Wait until snapshots are completed (fails when one is `error`)
    #[command(
        after_help = "Example:\n  blockseal ec2 wait snapshot-completed --snapshot-ids snap-0123456789abcdef0"
    )]
    SnapshotCompleted(DescribeSnapshots),
    /// Wait until import snapshot tasks are completed (fails when one is `error`)
    #[command(
        after_help = "Example:\n  blockseal ec2 wait snapshot-imported --import-task-ids import-snap-0123456789abcdef0"
    )]
    SnapshotImported(DescribeImportSnapshotTasks),
    /// Wait until volumes are available (fails when one is deleted)
    #[command(
        after_help = "Example:\n  blockseal ec2 wait volume-available --volume-ids vol-0123456789abcdef0"
    )]
    VolumeAvailable(DescribeVolumes),
    /// Wait until volumes are in use (fails when one is deleted)
    #[command(
        after_help = "Example:\n  blockseal ec2 wait volume-in-use --volume-ids vol-0123456789abcdef0"
    )]
    VolumeInUse(DescribeVolumes),
    /// Wait until volumes are deleted (succeeds once they are not found)
    #[command(
        after_help = "Example:\n  blockseal ec2 wait volume-deleted --volume-ids vol-0123456789abcdef0"
    )]
    VolumeDeleted(DescribeVolumes),
    /// Wait until instances are running (fails when one is stopping, shutting down or terminated)
    #[command(
        after_help = "Example:\n  blockseal ec2 wait instance-running --instance-ids i-0123456789abcdef0"
    )]
    InstanceRunning(DescribeInstances),
    /// Wait until at least one instance matches (retries while it is not found)
    #[command(
        after_help = "Example:\n  blockseal ec2 wait instance-exists --instance-ids i-0123456789abcdef0"
    )]
    InstanceExists(DescribeInstances),
    /// Wait until instances are stopped (fails when one is pending or terminated)
    #[command(
        after_help = "Example:\n  blockseal ec2 wait instance-stopped --instance-ids i-0123456789abcdef0"
    )]
    InstanceStopped(DescribeInstances),
    /// Wait until instances are terminated (fails when one is pending or stopping)
    #[command(
        after_help = "Example:\n  blockseal ec2 wait instance-terminated --instance-ids i-0123456789abcdef0"
    )]
    InstanceTerminated(DescribeInstances),
}

// ---------------------------------------------------------------------------------------------
// KMS

/// `blockseal kms …`
#[derive(Subcommand, Debug)]
pub enum KmsCommand {
    #[command(after_help = EX_CREATE_KEY)]
    CreateKey(CreateKey),
    /// Show a key's metadata: ARN, state, usage, manager
    #[command(after_help = "Example:\n  blockseal kms describe-key --key-id alias/k2")]
    DescribeKey(KeyIdArg),
    /// List the region's keys (id and ARN)
    #[command(after_help = "Example:\n  blockseal kms list-keys | jq -r '.Keys[].KeyArn'")]
    ListKeys,
    #[command(after_help = EX_CREATE_ALIAS)]
    CreateAlias(AliasTarget),
    /// Point an existing alias at another key
    ///
    /// Resources already encrypted through the alias keep the key they recorded (its ARN).
    #[command(
        after_help = "Example:\n  blockseal kms update-alias --alias-name alias/k2 --target-key-id KEY_ID"
    )]
    UpdateAlias(AliasTarget),
    /// Delete an alias (the key stays)
    #[command(after_help = "Example:\n  blockseal kms delete-alias --alias-name alias/k2")]
    DeleteAlias(AliasName),
    /// List aliases, optionally only those of one key
    #[command(after_help = "Example:\n  blockseal kms list-aliases --key-id KEY_ID")]
    ListAliases(ListAliases),
    /// Enable a disabled key
    #[command(after_help = "Example:\n  blockseal kms enable-key --key-id KEY_ID")]
    EnableKey(KeyIdArg),
    /// Disable a key: nothing can be encrypted or decrypted with it until it is enabled
    #[command(after_help = "Example:\n  blockseal kms disable-key --key-id KEY_ID")]
    DisableKey(KeyIdArg),
    #[command(after_help = EX_SCHEDULE_DELETION)]
    ScheduleKeyDeletion(ScheduleKeyDeletion),
    /// Cancel a scheduled deletion; the key comes back Disabled (enable it afterwards)
    #[command(after_help = "Example:\n  blockseal kms cancel-key-deletion --key-id KEY_ID")]
    CancelKeyDeletion(KeyIdArg),
    #[command(after_help = EX_CREATE_GRANT)]
    CreateGrant(CreateGrant),
    #[command(
        after_help = "Examples:\n  blockseal kms list-grants --key-id KEY_ID\n  blockseal kms list-grants --key-id KEY_ID --grantee-principal ACCOUNT:aws:ec2-infrastructure:i-0123456789abcdef0"
    )]
    ListGrants(ListGrants),
    /// Revoke a grant
    #[command(
        after_help = "Example:\n  blockseal kms revoke-grant --key-id KEY_ID --grant-id GRANT_ID"
    )]
    RevokeGrant(RevokeGrant),
    /// Generate a data key and return it only wrapped (encrypted under the KMS key)
    ///
    /// Give exactly one of --number-of-bytes and --key-spec. The returned CiphertextBlob (base64)
    /// can later be decrypted with the same encryption context.
    #[command(after_help = EX_GDKWP)]
    GenerateDataKeyWithoutPlaintext(DataKeyArgs),
    #[command(after_help = EX_ENCRYPT)]
    Encrypt(Encrypt),
    #[command(after_help = EX_DECRYPT)]
    Decrypt(Decrypt),
    #[command(after_help = EX_TAG_RESOURCE)]
    TagResource(TagResource),
    /// Delete tags from a key, by tag key
    #[command(
        after_help = "Example:\n  blockseal kms untag-resource --key-id KEY_ID --tag-keys Purpose Dept"
    )]
    UntagResource(UntagResource),
    /// List a key's tags
    #[command(after_help = "Example:\n  blockseal kms list-resource-tags --key-id KEY_ID")]
    ListResourceTags(KeyIdOrArnArg),
    /// Generate a data key: returned in the clear (Plaintext) and wrapped under the KMS key
    ///
    /// Give exactly one of --number-of-bytes and --key-spec. Use the Plaintext at once and keep
    /// only the CiphertextBlob; decrypt turns it back into the key.
    #[command(after_help = EX_GDK)]
    GenerateDataKey(DataKeyArgs),
    #[command(after_help = EX_RE_ENCRYPT)]
    ReEncrypt(ReEncrypt),
    #[command(after_help = EX_GENERATE_RANDOM)]
    GenerateRandom(GenerateRandom),
    /// Replace a key's description ('' clears it)
    #[command(
        after_help = "Example:\n  blockseal kms update-key-description --key-id KEY_ID --description 'IT Department test key'"
    )]
    UpdateKeyDescription(UpdateKeyDescription),
    #[command(after_help = EX_RETIRE_GRANT)]
    RetireGrant(RetireGrant),
    /// List the grants a principal may retire (those naming it as retiring principal)
    #[command(
        after_help = "Example:\n  blockseal kms list-retirable-grants --retiring-principal arn:aws:iam::111122223333:user/admin"
    )]
    ListRetirableGrants(ListRetirableGrants),
    #[command(after_help = EX_ENABLE_ROTATION)]
    EnableKeyRotation(EnableKeyRotation),
    /// Turn automatic rotation of a key off (its rotations so far stay)
    #[command(after_help = "Example:\n  blockseal kms disable-key-rotation --key-id KEY_ID")]
    DisableKeyRotation(KeyIdOrArnArg),
    /// Show whether a key rotates automatically, its period and next rotation date
    #[command(after_help = "Example:\n  blockseal kms get-key-rotation-status --key-id KEY_ID")]
    GetKeyRotationStatus(KeyIdOrArnArg),
    /// Rotate a key's material now (at most 10 times per key)
    ///
    /// New ciphertexts and data keys use the new material; everything made before still
    /// decrypts.
    #[command(after_help = "Example:\n  blockseal kms rotate-key-on-demand --key-id KEY_ID")]
    RotateKeyOnDemand(KeyIdOrArnArg),
    /// List a key's rotations, oldest first
    #[command(after_help = "Example:\n  blockseal kms list-key-rotations --key-id KEY_ID")]
    ListKeyRotations(ListKeyRotations),
    /// Show a key's key policy (its only one, named default)
    #[command(
        after_help = "Example:\n  blockseal kms get-key-policy --key-id KEY_ID --query Policy --output text"
    )]
    GetKeyPolicy(GetKeyPolicy),
    /// Replace a key's key policy (it must still let you put the key policy)
    #[command(
        after_help = "Example:\n  blockseal kms put-key-policy --key-id KEY_ID --policy file://key-policy.json"
    )]
    PutKeyPolicy(PutKeyPolicy),
    /// List a key's key policy names (always default)
    #[command(after_help = "Example:\n  blockseal kms list-key-policies --key-id KEY_ID")]
    ListKeyPolicies(KeyIdArg),
}

const KMS_TAGS_HELP: &str = "Tags: TagKey=Purpose,TagValue=Test (several, space-separated) or JSON";

/// Add or overwrite tags on a KMS key
///
/// At most 50 tags per key; keys are 1-128 characters and may not start with aws:, values
/// 0-256. A key pending deletion cannot be tagged.
#[derive(Args, Debug)]
pub struct TagResource {
    #[command(flatten)]
    pub key: KeyIdOrArnArg,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, required = true, value_name = "TAG", help = KMS_TAGS_HELP, value_parser = params::parse_kms_tags)]
    pub tags: Vec<Values>,
}

const EX_TAG_RESOURCE: &str = "\
Example:
  blockseal kms tag-resource --key-id KEY_ID --tags TagKey=Purpose,TagValue=Test TagKey=Dept,TagValue=IT";

/// `untag-resource` flags.
#[derive(Args, Debug)]
pub struct UntagResource {
    #[command(flatten)]
    pub key: KeyIdOrArnArg,
    /// The tag keys to delete, space-separated
    #[arg(long, alias = "tag-key", num_args = 1.., action = clap::ArgAction::Set, required = true, value_name = "TAG_KEY", value_parser = params::parse_string_list)]
    pub tag_keys: Vec<Values>,
}

/// `--key-id` and `--policy-name`.
#[derive(Args, Debug)]
pub struct GetKeyPolicy {
    #[command(flatten)]
    pub key: KeyIdOrArnArg,
    /// default (the only name)
    #[arg(long, value_parser = params::parse_string)]
    pub policy_name: Option<String>,
}

/// `put-key-policy` flags.
#[derive(Args, Debug)]
pub struct PutKeyPolicy {
    #[command(flatten)]
    pub key: KeyIdOrArnArg,
    /// The key policy: JSON, inline or file://PATH
    #[arg(long, value_parser = params::parse_string)]
    pub policy: String,
    /// default (the only name)
    #[arg(long, value_parser = params::parse_string)]
    pub policy_name: Option<String>,
    /// Skip the check that the policy still lets you put the key policy
    #[arg(long)]
    pub bypass_policy_lockout_safety_check: bool,
}

/// Create a customer managed KMS key
///
/// New keys are symmetric (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT) and Enabled; --origin EXTERNAL
/// creates a key waiting for imported material (PendingImport). Without --policy the key gets
/// AWS's default key policy: the account's identity policies decide who may use it; grants
/// (create-grant) add more.
#[derive(Args, Debug)]
pub struct CreateKey {
    /// A description
    #[arg(long, value_parser = params::parse_string)]
    pub description: Option<String>,
    /// ENCRYPT_DECRYPT (the only usage EBS accepts)
    #[arg(long, value_name = "USAGE", value_parser = params::parse_string)]
    pub key_usage: Option<String>,
    /// SYMMETRIC_DEFAULT
    #[arg(long, value_name = "SPEC", value_parser = params::parse_string)]
    pub key_spec: Option<String>,
    /// AWS_KMS (default) or EXTERNAL
    #[arg(long, value_parser = params::parse_string)]
    pub origin: Option<String>,
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "TAG", help = KMS_TAGS_HELP, value_parser = params::parse_kms_tags)]
    pub tags: Vec<Values>,
    /// The key policy: JSON, inline or file://PATH (default: the account may use the key as
    /// its identity policies allow)
    #[arg(long, value_parser = params::parse_string)]
    pub policy: Option<String>,
    /// Skip the check that the policy lets you put the key policy later
    #[arg(long)]
    pub bypass_policy_lockout_safety_check: bool,
}

const EX_CREATE_KEY: &str = "\
Example:
  K1=$(blockseal kms create-key --description K1 | jq -r .KeyMetadata.KeyId)";

/// `--key-id` alone.
#[derive(Args, Debug)]
pub struct KeyIdArg {
    /// The key: key id, key ARN, alias name (alias/…) or alias ARN
    #[arg(long, value_name = "KEY", value_parser = params::parse_string)]
    pub key_id: String,
}

/// `--key-id` of the operations that take no alias.
#[derive(Args, Debug)]
pub struct KeyIdOrArnArg {
    /// The key: key id or key ARN
    #[arg(long, value_name = "KEY", value_parser = params::parse_string)]
    pub key_id: String,
}

/// Create an alias for a key
///
/// Alias names start with alias/ (alias/aws/ is reserved). The target must be a key id or key
/// ARN, not another alias.
#[derive(Args, Debug)]
pub struct AliasTarget {
    /// The alias, e.g. alias/k2
    #[arg(long, value_name = "ALIAS", value_parser = params::parse_string)]
    pub alias_name: String,
    /// The key id or key ARN
    #[arg(long, value_name = "KEY", value_parser = params::parse_string)]
    pub target_key_id: String,
}

const EX_CREATE_ALIAS: &str = "\
Example:
  blockseal kms create-alias --alias-name alias/k2 --target-key-id 1234abcd-12ab-34cd-56ef-1234567890ab";

/// `--alias-name` alone.
#[derive(Args, Debug)]
pub struct AliasName {
    /// The alias, e.g. alias/k2
    #[arg(long, value_name = "ALIAS", value_parser = params::parse_string)]
    pub alias_name: String,
}

/// `list-aliases` flags.
#[derive(Args, Debug)]
pub struct ListAliases {
    /// Only the aliases of this key
    #[arg(long, value_name = "KEY", value_parser = params::parse_string)]
    pub key_id: Option<String>,
}

/// Schedule a key for deletion after a waiting period
///
/// The key becomes PendingDeletion and unusable at once; cancel-key-deletion within the window
/// brings it back (Disabled).
#[derive(Args, Debug)]
pub struct ScheduleKeyDeletion {
    #[command(flatten)]
    pub key: KeyIdOrArnArg,
    /// The waiting period, 7 to 30 days [service default: 30]
    #[arg(long, value_name = "DAYS")]
    pub pending_window_in_days: Option<i64>,
}

const EX_SCHEDULE_DELETION: &str = "\
Example:
  blockseal kms schedule-key-deletion --key-id KEY_ID --pending-window-in-days 7";

/// Let another principal use a key
///
/// The grantee may perform the listed operations with the key, e.g. Decrypt to export or launch
/// from snapshots encrypted under it.
#[derive(Args, Debug)]
pub struct CreateGrant {
    #[command(flatten)]
    pub key: KeyIdOrArnArg,
    /// The principal receiving the grant (a --profile name)
    #[arg(long, value_name = "PRINCIPAL", value_parser = params::parse_string)]
    pub grantee_principal: String,
    /// Operations allowed, space-separated: Decrypt Encrypt GenerateDataKeyWithoutPlaintext
    /// ReEncryptFrom ReEncryptTo CreateGrant DescribeKey …
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, required = true, value_name = "OPERATION", value_parser = params::parse_string_list)]
    pub operations: Vec<Values>,
    /// A name for the grant
    #[arg(long, value_parser = params::parse_string)]
    pub name: Option<String>,
    /// The principal allowed to retire the grant
    #[arg(long, value_name = "PRINCIPAL", value_parser = params::parse_string)]
    pub retiring_principal: Option<String>,
}

const EX_CREATE_GRANT: &str = "\
Example:
  blockseal kms create-grant --key-id KEY_ID --grantee-principal bob \\
      --operations Decrypt GenerateDataKeyWithoutPlaintext";

/// List a key's grants
///
/// Every grant on the key, or only one grant, or only a grantee's. The grants EC2 makes for
/// attached encrypted volumes name the instance as ACCOUNT:aws:ec2-infrastructure:i-….
#[derive(Args, Debug)]
pub struct ListGrants {
    #[command(flatten)]
    pub key: KeyIdOrArnArg,
    /// Only this grant (64 hex digits)
    #[arg(long, value_name = "GRANT_ID", value_parser = params::parse_string)]
    pub grant_id: Option<String>,
    /// Only the grants of this principal (an IAM ARN, a profile name, or an instance as above)
    #[arg(long, value_name = "PRINCIPAL", value_parser = params::parse_string)]
    pub grantee_principal: Option<String>,
}

/// `revoke-grant` flags.
#[derive(Args, Debug)]
pub struct RevokeGrant {
    #[command(flatten)]
    pub key: KeyIdOrArnArg,
    /// The grant (64 hex digits)
    #[arg(long, value_name = "GRANT_ID", value_parser = params::parse_string)]
    pub grant_id: String,
}

const EX_GDKWP: &str = "\
Example:
  blockseal kms generate-data-key-without-plaintext --key-id alias/k1 --number-of-bytes 64 \\
      --encryption-context purpose=test";

/// Encrypt a small payload (up to 4 KiB) under a KMS key
///
/// The plaintext is raw bytes from fileb://PATH, or base64 text. The CiphertextBlob in the
/// response is base64.
#[derive(Args, Debug)]
pub struct Encrypt {
    #[command(flatten)]
    pub key: KeyIdArg,
    /// fileb://PATH (raw bytes) or base64 text
    #[arg(long, value_name = "BLOB", value_parser = params::parse_blob)]
    pub plaintext: String,
    /// Encryption context: k=v,k2=v2 or JSON
    #[arg(long, value_name = "CONTEXT", value_parser = params::parse_encryption_context)]
    pub encryption_context: Option<Value>,
}

const EX_ENCRYPT: &str = "\
Example:
  blockseal kms encrypt --key-id alias/k1 --plaintext fileb://secret.txt \\
      | jq -r .CiphertextBlob | base64 -d > secret.enc";

/// Decrypt a ciphertext made by encrypt or generate-data-key-without-plaintext
///
/// The Plaintext in the response is base64. The data keys of volumes and snapshots are never
/// returned: decrypt refuses them.
#[derive(Args, Debug)]
pub struct Decrypt {
    /// fileb://PATH (raw bytes) or base64 text
    #[arg(long, value_name = "BLOB", value_parser = params::parse_blob)]
    pub ciphertext_blob: String,
    /// The encryption context used to encrypt (must match exactly)
    #[arg(long, value_name = "CONTEXT", value_parser = params::parse_encryption_context)]
    pub encryption_context: Option<Value>,
    /// The key expected to have encrypted it (checked if given)
    #[arg(long, value_name = "KEY", value_parser = params::parse_string)]
    pub key_id: Option<String>,
}

const EX_DECRYPT: &str = "\
Example:
  blockseal kms decrypt --ciphertext-blob fileb://secret.enc | jq -r .Plaintext | base64 -d";

/// The flags of generate-data-key and generate-data-key-without-plaintext (the same request).
#[derive(Args, Debug)]
pub struct DataKeyArgs {
    #[command(flatten)]
    pub key: KeyIdArg,
    /// Length of the data key in bytes (1–1024)
    #[arg(long, value_name = "N")]
    pub number_of_bytes: Option<i64>,
    /// AES_256 or AES_128
    #[arg(long, value_name = "SPEC", value_parser = params::parse_string)]
    pub key_spec: Option<String>,
    /// Encryption context: k=v,k2=v2 or JSON; needed again to decrypt
    #[arg(long, value_name = "CONTEXT", value_parser = params::parse_encryption_context)]
    pub encryption_context: Option<Value>,
}

const EX_GDK: &str = "\
Example:
  blockseal kms generate-data-key --key-id alias/ExampleAlias --key-spec AES_256";

/// Decrypt a ciphertext and encrypt it again under another key (or the same key's newest
/// material), without the plaintext leaving the KMS
#[derive(Args, Debug)]
pub struct ReEncrypt {
    /// fileb://PATH (raw bytes) or base64 text
    #[arg(long, value_name = "BLOB", value_parser = params::parse_blob)]
    pub ciphertext_blob: String,
    /// The encryption context the ciphertext was made with
    #[arg(long, value_name = "CONTEXT", value_parser = params::parse_encryption_context)]
    pub source_encryption_context: Option<Value>,
    /// The key expected to have encrypted it (checked if given)
    #[arg(long, value_name = "KEY", value_parser = params::parse_string)]
    pub source_key_id: Option<String>,
    /// The key to encrypt under
    #[arg(long, value_name = "KEY", value_parser = params::parse_string)]
    pub destination_key_id: String,
    /// The encryption context to bind the new ciphertext to
    #[arg(long, value_name = "CONTEXT", value_parser = params::parse_encryption_context)]
    pub destination_encryption_context: Option<Value>,
    /// SYMMETRIC_DEFAULT
    #[arg(long, value_name = "ALGORITHM", value_parser = params::parse_string)]
    pub source_encryption_algorithm: Option<String>,
    /// SYMMETRIC_DEFAULT
    #[arg(long, value_name = "ALGORITHM", value_parser = params::parse_string)]
    pub destination_encryption_algorithm: Option<String>,
}

const EX_RE_ENCRYPT: &str = "\
Example:
  blockseal kms re-encrypt --ciphertext-blob fileb://ExampleEncryptedFile \\
      --source-key-id KEY_ID --destination-key-id KEY_ID_2 \\
      --query CiphertextBlob --output text | base64 --decode > ExampleReEncryptedFile";

/// Generate random bytes (base64 Plaintext), unrelated to any key
#[derive(Args, Debug)]
pub struct GenerateRandom {
    /// How many bytes (1–1024)
    #[arg(long, value_name = "N")]
    pub number_of_bytes: Option<i64>,
}

const EX_GENERATE_RANDOM: &str = "\
Example:
  blockseal kms generate-random --number-of-bytes 32 --output text --query Plaintext \\
      | base64 --decode > ExampleRandom";

/// `update-key-description` flags.
#[derive(Args, Debug)]
pub struct UpdateKeyDescription {
    #[command(flatten)]
    pub key: KeyIdOrArnArg,
    /// The new description
    #[arg(long, value_parser = params::parse_string, allow_hyphen_values = true)]
    pub description: String,
}

/// Retire a grant: by its token, or by key and grant id
///
/// The grant's retiring principal may retire it, its grantee if the grant allows RetireGrant,
/// and the key's account (admin).
#[derive(Args, Debug)]
pub struct RetireGrant {
    /// The grant token create-grant returned
    #[arg(long, value_name = "TOKEN", value_parser = params::parse_string)]
    pub grant_token: Option<String>,
    /// The grant's key: key id or key ARN
    #[arg(long, value_name = "KEY", value_parser = params::parse_string)]
    pub key_id: Option<String>,
    /// The grant (64 hex digits)
    #[arg(long, value_name = "GRANT_ID", value_parser = params::parse_string)]
    pub grant_id: Option<String>,
}

const EX_RETIRE_GRANT: &str = "\
Example:
  blockseal kms retire-grant --grant-id GRANT_ID \\
      --key-id arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// `list-retirable-grants` flags.
#[derive(Args, Debug)]
pub struct ListRetirableGrants {
    /// The retiring principal: an IAM user, role or account ARN, or a profile name
    #[arg(long, value_name = "PRINCIPAL", value_parser = params::parse_string)]
    pub retiring_principal: String,
}

/// Turn on automatic rotation of a key's material
///
/// The key then rotates every --rotation-period-in-days (90–2560, default 365) days;
/// ciphertexts and volume data keys made before a rotation still decrypt.
#[derive(Args, Debug)]
pub struct EnableKeyRotation {
    #[command(flatten)]
    pub key: KeyIdOrArnArg,
    /// Days between rotations, 90 to 2560 [service default: 365]
    #[arg(long, value_name = "DAYS")]
    pub rotation_period_in_days: Option<i64>,
}

const EX_ENABLE_ROTATION: &str = "\
Example:
  blockseal kms enable-key-rotation --key-id KEY_ID --rotation-period-in-days 180";

/// `list-key-rotations` flags.
#[derive(Args, Debug)]
pub struct ListKeyRotations {
    #[command(flatten)]
    pub key: KeyIdOrArnArg,
    /// ROTATIONS_ONLY (default) or ALL_KEY_MATERIAL (the first material too)
    #[arg(long, value_name = "WHICH", value_parser = params::parse_string)]
    pub include_key_material: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn tri_state_flags() {
        assert_eq!(tri(false, false), None);
        assert_eq!(tri(true, false), Some(true));
        assert_eq!(tri(false, true), Some(false));
    }

    #[test]
    fn the_last_of_a_flag_pair_wins() {
        let cli = Cli::try_parse_from([
            "blockseal",
            "ec2",
            "copy-image",
            "--source-image-id",
            "ami-1",
            "--name",
            "n",
            "--encrypted",
            "--no-encrypted",
        ])
        .unwrap();
        let Group::Ec2(Ec2Command::CopyImage(c)) = cli.group else {
            panic!()
        };
        assert_eq!(tri(c.encrypted, c.no_encrypted), Some(false));
    }

    #[test]
    fn every_command_has_help() {
        fn walk(cmd: &clap::Command, path: &str) {
            for sub in cmd.get_subcommands() {
                let p = format!("{path} {}", sub.get_name());
                assert!(sub.get_about().is_some(), "{p} has no about");
                for arg in sub.get_arguments() {
                    if arg.get_id() != "help" && arg.get_id() != "version" {
                        assert!(
                            arg.get_help().is_some(),
                            "{p} --{} has no help",
                            arg.get_id()
                        );
                    }
                }
                walk(sub, &p);
            }
        }
        walk(&Cli::command(), "blockseal");
    }

    #[test]
    fn globals_work_after_the_command_too() {
        let cli = Cli::try_parse_from([
            "blockseal",
            "ec2",
            "describe-images",
            "--region",
            "eu-west-1",
            "--output",
            "table",
        ])
        .unwrap();
        assert_eq!(cli.region, "eu-west-1");
        assert_eq!(cli.output, Output::Table);
    }

    #[test]
    fn usage_errors_name_the_flag() {
        let e = Cli::try_parse_from([
            "blockseal",
            "ec2",
            "run-instances",
            "--image-id",
            "ami-1",
            "--block-device-mappings",
            "[{\"DeviceName\": ",
        ])
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("--block-device-mappings"), "{msg}");
        assert!(msg.contains("invalid JSON"), "{msg}");
        let e = Cli::try_parse_from(["blockseal", "ec2", "copy-image", "--name", "n"]).unwrap_err();
        assert!(e.to_string().contains("--source-image-id"), "{e}");
        let e = Cli::try_parse_from([
            "blockseal",
            "ec2",
            "describe-snapshots",
            "--filters",
            "encrypted",
        ])
        .unwrap_err();
        assert!(e.to_string().contains("--filters"), "{e}");
    }
}
