//! SEMANTICS.md §16 and §20.16–17 with two accounts of one home: sharing images and snapshots,
//! the rules of encrypted ones, the recipient's key access through a grant, and what unsharing
//! and revoking do — with the data checked by export.

use crate::support::{as_profile as as_, image_bytes, s, Home};
use serde_json::{json, Value};

/// The recipient's profile: the `admin` of the account named `b`.
const B: &str = "b:admin";

/// A home with a second account `b`; returns (home, first account id, b's id).
fn two_accounts() -> (Home, String, String) {
    let h = Home::new();
    let first = s(&h.ok(&["account", "list"])["Accounts"][0]["Id"]);
    let made = h.ok(&["account", "create", "--name", "b"]);
    let b = s(&made["Account"]["Id"]);
    assert_eq!(b.len(), 12);
    assert_ne!(b, first);
    assert_eq!(
        made["Account"]["AdminUser"],
        format!("arn:aws:iam::{b}:user/admin")
    );
    (h, first, b)
}

/// A customer managed key and a snapshot of `data` encrypted under it: (key id, key ARN,
/// snapshot id).
fn cmk_snapshot(h: &Home, description: &str, data: &[u8]) -> (String, String, String) {
    let (k, k_arn) = h.create_key(description);
    let snap = h.import(data, &["--encrypted", "--kms-key-id", &k]);
    (k, k_arn, snap)
}

/// The owner grants `account` key `k` for the EBS operations of SEMANTICS.md §3.6 rule 2;
/// returns the grant id.
fn grant_ebs_use(h: &Home, k: &str, account: &str) -> String {
    let grantee = format!("arn:aws:iam::{account}:root");
    let grant = h.ok(&[
        "kms",
        "create-grant",
        "--key-id",
        k,
        "--grantee-principal",
        &grantee,
        "--operations",
        "Decrypt",
        "DescribeKey",
        "CreateGrant",
        "GenerateDataKeyWithoutPlaintext",
        "ReEncryptFrom",
        "ReEncryptTo",
    ]);
    s(&grant["GrantId"])
}

/// The owner's view of image `ami`'s launchPermission attribute.
fn launch_permissions(h: &Home, ami: &str) -> Value {
    h.ok(&[
        "ec2",
        "describe-image-attribute",
        "--image-id",
        ami,
        "--attribute",
        "launchPermission",
    ])
}

fn image_ids(v: &Value) -> Vec<String> {
    v["Images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| s(&i["ImageId"]))
        .collect()
}

fn snapshot_ids(v: &Value) -> Vec<String> {
    v["Snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| s(&i["SnapshotId"]))
        .collect()
}

/// B snapshots the root volume of its instance `inst` and exports it: the bytes B launched.
fn assert_launched_bytes(h: &Home, inst: &str, expected: &[u8]) -> String {
    let inst_view = h.ok(&as_(
        B,
        &["ec2", "describe-instances", "--instance-ids", inst],
    ));
    let root = s(
        &inst_view["Reservations"][0]["Instances"][0]["BlockDeviceMappings"][0]["Ebs"]["VolumeId"],
    );
    let snap = s(&h.ok(&as_(B, &["ec2", "create-snapshot", "--volume-id", &root]))["SnapshotId"]);
    h.assert_export_as(B, &snap, expected);
    snap
}

#[test]
fn accounts_are_separate_and_act_through_profiles() {
    let (h, first, b) = two_accounts();
    let listed = h.ok(&["account", "list"]);
    let ids: Vec<String> = listed["Accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| s(&a["Id"]))
        .collect();
    assert_eq!(ids, [first.clone(), b.clone()]);
    // A's key, volume and settings are not B's.
    let (_, k_arn) = h.create_key("A's key");
    let vol = s(&h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--size",
        "1",
    ])["VolumeId"]);
    h.ok(&["ec2", "enable-ebs-encryption-by-default"]);
    let b_keys = h.ok(&as_(B, &["kms", "list-keys"]));
    assert_eq!(b_keys["Keys"], json!([]));
    assert_eq!(
        h.err(&as_(B, &["kms", "describe-key", "--key-id", &k_arn])),
        "AccessDeniedException"
    );
    assert_eq!(
        h.ok(&as_(B, &["ec2", "describe-volumes"]))["Volumes"],
        json!([])
    );
    assert_eq!(
        h.err(&as_(B, &["ec2", "delete-volume", "--volume-id", &vol])),
        "InvalidVolume.NotFound"
    );
    let ebd = h.ok(&as_(B, &["ec2", "get-ebs-encryption-by-default"]));
    assert_eq!(ebd["EbsEncryptionByDefault"], false);
    assert_eq!(
        h.ok(&["ec2", "get-ebs-encryption-by-default"])["EbsEncryptionByDefault"],
        true
    );
    // B's own aws/ebs key is B's: its ARN names B's account.
    let bv = h.ok(&as_(
        B,
        &[
            "ec2",
            "create-volume",
            "--availability-zone",
            "us-east-1a",
            "--size",
            "1",
            "--encrypted",
        ],
    ));
    let b_ebs = s(&bv["KmsKeyId"]);
    assert!(
        b_ebs.starts_with(&format!("arn:aws:kms:us-east-1:{b}:key/")),
        "{b_ebs}"
    );
    let id_form = format!("{b}:admin");
    let by_id = h.ok(&as_(&id_form, &["ec2", "describe-volumes"]));
    assert_eq!(by_id["Volumes"][0]["VolumeId"], bv["VolumeId"]);
    // B's user makes its own API access key.
    let key = h.ok(&as_(B, &["iam", "create-access-key"]));
    assert_eq!(key["AccessKey"]["UserName"], "admin");
    // An account the home does not have, and a malformed profile.
    assert_eq!(
        h.err(&["--profile", "999999999999:admin", "ec2", "describe-volumes"]),
        "AuthFailure"
    );
    assert_eq!(
        h.err(&["--profile", "nobody:admin", "ec2", "describe-volumes"]),
        "AuthFailure"
    );
    assert_eq!(
        h.err(&["account", "create", "--name", "b"]),
        "InvalidParameterValue"
    );
}

#[test]
fn an_unencrypted_ami_shared_launched_and_unshared() {
    let (h, first, b) = two_accounts();
    let root = image_bytes(2 << 20, 21, b"SHARED-PLAIN-ROOT");
    let (snap, ami) = h.root_image("plain", &root, &[]);

    // Not shared: B sees nothing and cannot launch it.
    assert_eq!(
        image_ids(&h.ok(&as_(B, &["ec2", "describe-images"]))),
        Vec::<String>::new()
    );
    assert_eq!(
        h.err(&as_(B, &["ec2", "describe-images", "--image-ids", &ami])),
        "InvalidAMIID.NotFound"
    );
    assert_eq!(
        h.err(&as_(B, &["ec2", "run-instances", "--image-id", &ami])),
        "InvalidAMIID.NotFound"
    );

    let add = format!("Add=[{{UserId={b}}}]");
    h.ok(&[
        "ec2",
        "modify-image-attribute",
        "--image-id",
        &ami,
        "--launch-permission",
        &add,
    ]);
    let attr = launch_permissions(&h, &ami);
    assert_eq!(
        attr,
        json!({"ImageId": ami, "LaunchPermissions": [{"UserId": b}]})
    );

    // B sees it (not as its own), may launch it, and cannot change or deregister it.
    let seen = h.ok(&as_(B, &["ec2", "describe-images"]));
    assert_eq!(image_ids(&seen), [ami.as_str()]);
    assert_eq!(seen["Images"][0]["OwnerId"], first.as_str());
    assert_eq!(seen["Images"][0]["Public"], false);
    let own = h.ok(&as_(B, &["ec2", "describe-images", "--owners", "self"]));
    assert_eq!(image_ids(&own), Vec::<String>::new());
    let by_owner = h.ok(&as_(B, &["ec2", "describe-images", "--owners", &first]));
    assert_eq!(image_ids(&by_owner), [ami.as_str()]);
    let exec = h.ok(&as_(
        B,
        &["ec2", "describe-images", "--executable-users", "self"],
    ));
    assert_eq!(image_ids(&exec), [ami.as_str()]);
    assert_eq!(
        image_ids(&h.ok(&["ec2", "describe-images", "--executable-users", &b])),
        [ami.as_str()]
    );
    assert_eq!(
        h.err(&as_(B, &["ec2", "deregister-image", "--image-id", &ami])),
        "AuthFailure"
    );
    assert_eq!(
        h.err(&as_(
            B,
            &[
                "ec2",
                "describe-image-attribute",
                "--image-id",
                &ami,
                "--attribute",
                "launchPermission"
            ]
        )),
        "AuthFailure"
    );
    // The snapshot behind it is not shared by sharing the image.
    assert_eq!(
        h.err(&as_(
            B,
            &["ec2", "describe-snapshots", "--snapshot-ids", &snap]
        )),
        "InvalidSnapshot.NotFound"
    );
    let inst = s(&h.ok(&as_(
        B,
        &["ec2", "run-instances", "--image-id", &ami, "--count", "1"],
    ))["Instances"][0]["InstanceId"]);
    let b_snap = assert_launched_bytes(&h, &inst, &root);
    // B's instance and volumes are B's alone.
    assert_eq!(
        h.err(&["ec2", "describe-instances", "--instance-ids", &inst]),
        "InvalidInstanceID.NotFound"
    );

    // Unshared: B no longer sees or launches it; what it made stays.
    h.share(&ami, "remove", &["--user-ids", &b]);
    assert_eq!(
        image_ids(&h.ok(&as_(B, &["ec2", "describe-images"]))),
        Vec::<String>::new()
    );
    assert_eq!(
        h.err(&as_(B, &["ec2", "run-instances", "--image-id", &ami])),
        "InvalidAMIID.NotFound"
    );
    let still = h.ok(&as_(
        B,
        &["ec2", "describe-instances", "--instance-ids", &inst],
    ));
    assert_eq!(
        still["Reservations"][0]["Instances"][0]["State"]["Name"],
        "running"
    );
    h.assert_export_as(B, &b_snap, &root);

    // Public (Group=all): a third account sees it; reset takes every permission back.
    let c = s(&h.ok(&["account", "create"])["Account"]["Id"]);
    let c_profile = format!("{c}:admin");
    h.share(&ami, "add", &["--user-groups", "all"]);
    let public = h.ok(&as_(
        &c_profile,
        &["ec2", "describe-images", "--executable-users", "all"],
    ));
    assert_eq!(image_ids(&public), [ami.as_str()]);
    assert_eq!(public["Images"][0]["Public"], true);
    h.ok(&[
        "ec2",
        "reset-image-attribute",
        "--image-id",
        &ami,
        "--attribute",
        "launchPermission",
    ]);
    assert_eq!(
        image_ids(&h.ok(&as_(&c_profile, &["ec2", "describe-images"]))),
        Vec::<String>::new()
    );
    let attr = launch_permissions(&h, &ami);
    assert_eq!(attr["LaunchPermissions"], json!([]));

    // Shared again, then deregistered: gone for the recipient too.
    h.ok(&[
        "ec2",
        "modify-image-attribute",
        "--image-id",
        &ami,
        "--launch-permission",
        &add,
    ]);
    h.ok(&["ec2", "deregister-image", "--image-id", &ami]);
    assert_eq!(
        h.err(&as_(B, &["ec2", "describe-images", "--image-ids", &ami])),
        "InvalidAMIID.NotFound"
    );
}

#[test]
fn a_cmk_snapshot_shared_with_a_grant_is_copied_to_the_recipients_key_which_outlives_the_grant() {
    let (h, _first, b) = two_accounts();
    let data = image_bytes(3 << 20, 31, b"SHARED-CMK-DATA");
    let (k, k_arn, snap) = cmk_snapshot(&h, "owner's CMK", &data);
    let kb_arn = s(
        &h.ok(&as_(B, &["kms", "create-key", "--description", "B's key"]))["KeyMetadata"]["Arn"],
    );

    h.share(&snap, "add", &["--user-ids", &b]);
    let attr = h.ok(&[
        "ec2",
        "describe-snapshot-attribute",
        "--snapshot-id",
        &snap,
        "--attribute",
        "createVolumePermission",
    ]);
    assert_eq!(
        attr,
        json!({"SnapshotId": snap, "CreateVolumePermissions": [{"UserId": b}]})
    );
    let seen = h.ok(&as_(
        B,
        &[
            "ec2",
            "describe-snapshots",
            "--restorable-by-user-ids",
            "self",
        ],
    ));
    assert_eq!(snapshot_ids(&seen), [snap.as_str()]);
    assert_eq!(seen["Snapshots"][0]["KmsKeyId"], k_arn.as_str());

    // Shared, but the key is not: B's copy fails the way AWS fails it.
    let copy = |extra: &[&str]| {
        let mut args = vec![
            "ec2",
            "copy-snapshot",
            "--source-snapshot-id",
            &snap,
            "--source-region",
            "us-east-1",
        ];
        args.extend_from_slice(extra);
        let id = s(&h.ok(&as_(B, &args))["SnapshotId"]);
        let v = h.ok(&as_(
            B,
            &["ec2", "describe-snapshots", "--snapshot-ids", &id],
        ));
        (id, v["Snapshots"][0].clone())
    };
    let (_, failed) = copy(&["--encrypted", "--kms-key-id", &kb_arn]);
    assert_eq!(failed["State"], "error");
    assert_eq!(failed["StateMessage"], "Given key ID is not accessible");

    // The owner grants B's account the key (the EBS operations of §3.6 rule 2).
    let grant_id = grant_ebs_use(&h, &k, &b);

    // Copied without a key: B's default key, not the owner's (§2, a shared source).
    let (_, on_default) = copy(&["--encrypted"]);
    assert_eq!(on_default["State"], "completed");
    let kms_key = s(&on_default["KmsKeyId"]);
    assert!(
        kms_key.starts_with(&format!("arn:aws:kms:us-east-1:{b}:key/")),
        "{kms_key}"
    );
    // Re-encrypted to B's own key.
    let (mine, copied) = copy(&["--encrypted", "--kms-key-id", &kb_arn]);
    assert_eq!(copied["State"], "completed");
    assert_eq!(copied["KmsKeyId"], kb_arn.as_str());
    assert_eq!(copied["OwnerId"], b.as_str());
    assert_ne!(
        copied["DataEncryptionKeyId"], seen["Snapshots"][0]["DataEncryptionKeyId"],
        "a new key means a new data key"
    );
    h.assert_export_as(B, &mine, &data);
    // B restores a volume from the shared original while the grant holds.
    let vol = h.ok(&as_(
        B,
        &[
            "ec2",
            "create-volume",
            "--availability-zone",
            "us-east-1a",
            "--snapshot-id",
            &snap,
        ],
    ));
    let vol_id = s(&vol["VolumeId"]);
    let v = h.ok(&as_(
        B,
        &["ec2", "describe-volumes", "--volume-ids", &vol_id],
    ));
    assert_eq!(v["Volumes"][0]["State"], "available");
    assert!(s(&v["Volumes"][0]["KmsKeyId"]).contains(&b));

    // The owner revokes the grant and disables its key: B's copy does not care.
    h.ok(&[
        "kms",
        "revoke-grant",
        "--key-id",
        &k,
        "--grant-id",
        &grant_id,
    ]);
    h.ok(&["kms", "disable-key", "--key-id", &k]);
    h.assert_export_as(B, &mine, &data);
    // A new use of the shared original fails as AWS fails it.
    let (_, again) = copy(&["--encrypted", "--kms-key-id", &kb_arn]);
    assert_eq!(again["State"], "error");
    let vol = h.ok(&as_(
        B,
        &[
            "ec2",
            "create-volume",
            "--availability-zone",
            "us-east-1a",
            "--snapshot-id",
            &snap,
        ],
    ));
    assert_eq!(vol["State"], "creating");
    assert_eq!(
        h.err(&as_(
            B,
            &[
                "ec2",
                "describe-volumes",
                "--volume-ids",
                &s(&vol["VolumeId"])
            ]
        )),
        "InvalidVolume.NotFound"
    );

    // Unshared: B no longer sees the original; its copy stays.
    h.ok(&[
        "ec2",
        "reset-snapshot-attribute",
        "--snapshot-id",
        &snap,
        "--attribute",
        "createVolumePermission",
    ]);
    let own = snapshot_ids(&h.ok(&as_(
        B,
        &["ec2", "describe-snapshots", "--owner-ids", "self"],
    )));
    assert!(own.contains(&mine) && !own.contains(&snap), "{own:?}");
    let all_b = snapshot_ids(&h.ok(&as_(B, &["ec2", "describe-snapshots"])));
    assert!(!all_b.contains(&snap), "{all_b:?}");
    assert_eq!(
        h.err(&as_(
            B,
            &[
                "ec2",
                "copy-snapshot",
                "--source-snapshot-id",
                &snap,
                "--source-region",
                "us-east-1"
            ]
        )),
        "InvalidSnapshot.NotFound"
    );
    h.assert_export_as(B, &mine, &data);
}

#[test]
fn a_shared_encrypted_ami_launches_for_the_recipient_only_with_the_key() {
    let (h, _first, b) = two_accounts();
    let root = image_bytes(2 << 20, 41, b"SHARED-CMK-ROOT");
    let (k, _, snap) = cmk_snapshot(&h, "owner's CMK", &root);
    let ami = h.register("cmk-root", "/dev/xvda", &snap, &[]);
    h.share(&ami, "add", &["--user-ids", &b]);
    // Without the key: pending, then terminated with AWS's KMS reason, no volume left.
    let r = h.ok(&as_(B, &["ec2", "run-instances", "--image-id", &ami]));
    let inst = s(&r["Instances"][0]["InstanceId"]);
    let v = h.ok(&as_(
        B,
        &["ec2", "describe-instances", "--instance-ids", &inst],
    ));
    let i = &v["Reservations"][0]["Instances"][0];
    assert_eq!(i["State"]["Name"], "terminated");
    assert_eq!(
        i["StateReason"]["Code"],
        "Client.InvalidKMSKey.InvalidState"
    );
    assert_eq!(
        h.ok(&as_(B, &["ec2", "describe-volumes"]))["Volumes"],
        json!([])
    );
    // With a grant: running, on B's default key (§20.16), with the owner's bytes.
    grant_ebs_use(&h, &k, &b);
    let inst = s(
        &h.ok(&as_(B, &["ec2", "run-instances", "--image-id", &ami]))["Instances"][0]["InstanceId"],
    );
    let v = h.ok(&as_(
        B,
        &["ec2", "describe-instances", "--instance-ids", &inst],
    ));
    assert_eq!(
        v["Reservations"][0]["Instances"][0]["State"]["Name"],
        "running"
    );
    let vols = h.ok(&as_(B, &["ec2", "describe-volumes"]));
    let key = s(&vols["Volumes"][0]["KmsKeyId"]);
    assert!(
        key.starts_with(&format!("arn:aws:kms:us-east-1:{b}:key/")),
        "{key}"
    );
    assert_launched_bytes(&h, &inst, &root);
}

#[test]
fn what_cannot_be_shared() {
    let (h, _first, b) = two_accounts();
    let data = image_bytes(1 << 20, 51, b"NOT-SHAREABLE");
    // Under the AWS managed key aws/ebs: neither the snapshot nor an image of it.
    let ebs_snap = h.import(&data, &["--encrypted"]);
    let users = ["--operation-type", "add", "--user-ids", &b];
    let mut args = vec![
        "ec2",
        "modify-snapshot-attribute",
        "--snapshot-id",
        &ebs_snap,
    ];
    args.extend_from_slice(&users);
    assert_eq!(h.err(&args), "OperationNotPermitted");
    let ebs_ami = h.register("on-aws-ebs", "/dev/xvda", &ebs_snap, &[]);
    let mut args = vec!["ec2", "modify-image-attribute", "--image-id", &ebs_ami];
    args.extend_from_slice(&users);
    args.extend_from_slice(&["--attribute", "launchPermission"]);
    assert_eq!(h.err(&args), "InvalidParameter");
    // Encrypted under a customer key: shareable with accounts, never public.
    let (_, _, cmk_snap) = cmk_snapshot(&h, "K", &data);
    let cmk_ami = h.register("on-cmk", "/dev/xvda", &cmk_snap, &[]);
    assert_eq!(
        h.err(&[
            "ec2",
            "modify-image-attribute",
            "--image-id",
            &cmk_ami,
            "--launch-permission",
            "Add=[{Group=all}]",
        ]),
        "UnsupportedOperation"
    );
    assert_eq!(
        h.err(&[
            "ec2",
            "modify-snapshot-attribute",
            "--snapshot-id",
            &cmk_snap,
            "--create-volume-permission",
            "Add=[{Group=all}]",
        ]),
        "UnsupportedOperation"
    );
    // Nothing was changed by the refusals.
    let attr = launch_permissions(&h, &cmk_ami);
    assert_eq!(attr["LaunchPermissions"], json!([]));
    // Malformed requests.
    assert_eq!(
        h.err(&[
            "ec2",
            "modify-image-attribute",
            "--image-id",
            &cmk_ami,
            "--launch-permission",
            "Add=[{UserId=12345}]",
        ]),
        "InvalidAMIAttributeItemValue"
    );
    assert_eq!(
        h.err(&[
            "ec2",
            "modify-image-attribute",
            "--image-id",
            &cmk_ami,
            "--attribute",
            "launchPermission",
            "--user-ids",
            &b,
        ]),
        "MissingParameter"
    );
    assert_eq!(
        h.err(&[
            "ec2",
            "describe-image-attribute",
            "--image-id",
            &cmk_ami,
            "--attribute",
            "colour",
        ]),
        "InvalidParameterValue"
    );
    // Another account's resources do not exist for B.
    assert_eq!(
        h.err(&as_(
            B,
            &[
                "ec2",
                "modify-snapshot-attribute",
                "--snapshot-id",
                &cmk_snap,
                "--create-volume-permission",
                "Add=[{Group=all}]"
            ]
        )),
        "InvalidSnapshot.NotFound"
    );
    // The description attribute.
    h.ok(&[
        "ec2",
        "modify-image-attribute",
        "--image-id",
        &cmk_ami,
        "--description",
        "Value=web server",
    ]);
    let d = h.ok(&[
        "ec2",
        "describe-image-attribute",
        "--image-id",
        &cmk_ami,
        "--attribute",
        "description",
    ]);
    assert_eq!(d["Description"]["Value"], "web server");
}
