//! Tags end to end through the binary: the AWS CLI documentation's examples for create-tags,
//! delete-tags, describe-tags, kms tag-resource, untag-resource and list-resource-tags run with
//! only the binary name and the ids changed, their output compared with the documented output
//! by structure; --tag-specifications on the creates, Tags and tag filters in Describe*, and
//! AWS's limits and error codes.

use crate::support::{image_bytes, s, Home};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// What each EC2 test starts from: an image with one plain root snapshot, and an instance
/// launched from it.
struct Base {
    ami: String,
    snap: String,
    inst: String,
    /// The instance's root volume.
    vol: String,
}

/// A new home with its [`Base`].
fn fixture() -> (Home, Base) {
    let h = Home::new();
    let (snap, ami) = h.root_image("tags-base", &image_bytes(1 << 20, 3, b"TAGS"), &[]);
    let inst = h.run_instance(&ami, &[]);
    let vol = s(&h.volume_at(&inst, "/dev/xvda")["VolumeId"]);
    (
        h,
        Base {
            ami,
            snap,
            inst,
            vol,
        },
    )
}

/// DescribeTags' entries as a set of (ResourceType, ResourceId, Key, Value), so two answers
/// compare by content, in any order.
fn entries(v: &Value) -> BTreeSet<(String, String, String, String)> {
    v["Tags"]
        .as_array()
        .unwrap_or_else(|| panic!("no Tags list: {v}"))
        .iter()
        .map(|t| {
            assert_eq!(
                t.as_object().unwrap().len(),
                4,
                "TagDescription has Key, ResourceId, ResourceType, Value: {t}"
            );
            (
                s(&t["ResourceType"]),
                s(&t["ResourceId"]),
                s(&t["Key"]),
                s(&t["Value"]),
            )
        })
        .collect()
}

fn e(rt: &str, id: &str, k: &str, v: &str) -> (String, String, String, String) {
    (rt.into(), id.into(), k.into(), v.into())
}

/// The `Tags` of a Describe* item as a sorted list of (Key, Value); absent = none.
fn tags_of(item: &Value) -> Vec<(String, String)> {
    let mut t: Vec<(String, String)> = item["Tags"]
        .as_array()
        .map(|a| a.iter().map(|t| (s(&t["Key"]), s(&t["Value"]))).collect())
        .unwrap_or_default();
    t.sort();
    t
}

fn kv(k: &str, v: &str) -> (String, String) {
    (k.into(), v.into())
}

#[test]
fn ec2_documentation_examples_run_unchanged() {
    let (h, Base { ami, inst, vol, .. }) = fixture();

    // create-tags, example 1: no output.
    let out = h.run(&[
        "ec2",
        "create-tags",
        "--resources",
        &ami,
        "--tags",
        "Key=Stack,Value=production",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "create-tags prints nothing");
    // Example 2: two resources, an empty value and a second tag.
    h.create_tags(
        &[&ami, &inst],
        &["Key=webserver,Value=", "Key=stack,Value=Production"],
    );
    // Example 3 (Linux quoting): a key with square brackets.
    h.create_tags(&[&inst], &["Key=\"[Group]\",Value=test"]);
    assert_eq!(
        tags_of(&h.image(&ami)),
        [
            kv("Stack", "production"),
            kv("stack", "Production"),
            kv("webserver", "")
        ]
    );
    assert_eq!(
        tags_of(&h.instance(&inst)),
        [
            kv("[Group]", "test"),
            kv("stack", "Production"),
            kv("webserver", "")
        ]
    );
    // Example 1 again overwrites the value.
    h.create_tags(&[&ami], &["Key=Stack,Value=Test"]);
    h.create_tags(
        &[&inst],
        &["Key=Stack,Value=Test", "Key=Name,Value=Beta Server"],
    );
    h.create_tags(&[&vol], &["Key=Purpose,Value=Project1"]);

    // describe-tags, example 1: every tag of one instance.
    let v = h.ok(&[
        "ec2",
        "describe-tags",
        "--filters",
        &format!("Name=resource-id,Values={inst}"),
    ]);
    assert_eq!(
        entries(&v),
        [
            e("instance", &inst, "Stack", "Test"),
            e("instance", &inst, "Name", "Beta Server"),
            e("instance", &inst, "[Group]", "test"),
            e("instance", &inst, "stack", "Production"),
            e("instance", &inst, "webserver", ""),
        ]
        .into()
    );
    // Example 2: by resource type.
    let v = h.ok(&[
        "ec2",
        "describe-tags",
        "--filters",
        "Name=resource-type,Values=volume",
    ]);
    assert_eq!(
        entries(&v),
        [e("volume", &vol, "Purpose", "Project1")].into()
    );
    // Example 3: everything.
    let all = entries(&h.ok(&["ec2", "describe-tags"]));
    assert_eq!(all.len(), 3 + 5 + 1, "{all:?}");
    // Example 4: by key.
    let v = h.ok(&["ec2", "describe-tags", "--filters", "Name=key,Values=Stack"]);
    let stack_test = [
        e("image", &ami, "Stack", "Test"),
        e("instance", &inst, "Stack", "Test"),
    ];
    assert_eq!(entries(&v), stack_test.clone().into());
    // Example 5: by key and value, and the tag:KEY form.
    let v = h.ok(&[
        "ec2",
        "describe-tags",
        "--filters",
        "Name=key,Values=Stack",
        "Name=value,Values=Test",
    ]);
    assert_eq!(entries(&v), stack_test.clone().into());
    let v = h.ok(&[
        "ec2",
        "describe-tags",
        "--filters",
        "Name=tag:Stack,Values=Test",
    ]);
    assert_eq!(entries(&v), stack_test.into());
    // ... and a key with no value on instances.
    let v = h.ok(&[
        "ec2",
        "describe-tags",
        "--filters",
        "Name=resource-type,Values=instance",
        "Name=key,Values=webserver",
        "Name=value,Values=",
    ]);
    assert_eq!(entries(&v), [e("instance", &inst, "webserver", "")].into());
    // Paged: --page-size 5 fetches every page; --max-items stops and --starting-token resumes.
    let paged = entries(&h.ok(&["ec2", "describe-tags", "--page-size", "5"]));
    assert_eq!(paged, all);
    let first = h.ok(&["ec2", "describe-tags", "--max-items", "4"]);
    assert_eq!(first["Tags"].as_array().unwrap().len(), 4);
    let token = s(&first["NextToken"]);
    let rest = h.ok(&["ec2", "describe-tags", "--starting-token", &token]);
    let mut joined = entries(&first);
    joined.extend(entries(&rest));
    assert_eq!(joined, all);

    // delete-tags, example 1: key and value must both match.
    h.delete_tags(&[&ami], &["Key=Stack,Value=Wrong"]);
    assert!(tags_of(&h.image(&ami)).contains(&kv("Stack", "Test")));
    h.delete_tags(&[&ami], &["Key=Stack,Value=Test"]);
    assert!(!tags_of(&h.image(&ami)).iter().any(|(k, _)| k == "Stack"));
    // Key alone: whatever the value.
    h.delete_tags(&[&inst], &["Key=Name"]);
    // An empty value deletes only a tag whose value is empty.
    h.delete_tags(&[&inst], &["Key=stack,Value=", "Key=webserver,Value="]);
    assert_eq!(
        tags_of(&h.instance(&inst)),
        [
            kv("Stack", "Test"),
            kv("[Group]", "test"),
            kv("stack", "Production")
        ]
    );
    // Example 2: one key from two resources.
    h.delete_tags(&[&inst, &ami], &["Key=stack"]);
    assert_eq!(tags_of(&h.image(&ami)), [kv("webserver", "")]);
    assert_eq!(
        tags_of(&h.instance(&inst)),
        [kv("Stack", "Test"), kv("[Group]", "test")]
    );
    // Without --tags every tag goes, and Describe* leaves Tags out.
    h.delete_tags(&[&inst], &[]);
    assert!(h.instance(&inst).get("Tags").is_none());
}

#[test]
fn tag_specifications_describe_filters_and_lifetime() {
    let (h, Base { ami, snap, .. }) = fixture();
    let spec =
        |rt: &str, k: &str, v: &str| format!("ResourceType={rt},Tags=[{{Key={k},Value={v}}}]");

    // RunInstances: the instance and every volume it launches.
    let r = h.ok(&[
        "ec2",
        "run-instances",
        "--image-id",
        &ami,
        "--tag-specifications",
        &spec("instance", "Name", "web"),
        &spec("volume", "Name", "web-disk"),
    ]);
    let inst = s(&r["Instances"][0]["InstanceId"]);
    assert_eq!(tags_of(&r["Instances"][0]), [kv("Name", "web")]);
    assert_eq!(tags_of(&h.instance(&inst)), [kv("Name", "web")]);
    let root = h.volume_at(&inst, "/dev/xvda");
    assert_eq!(tags_of(&root), [kv("Name", "web-disk")]);

    // CreateVolume (JSON form), CreateSnapshot, CopySnapshot, RegisterImage, CreateImage,
    // CopyImage: their answers and their Describe* carry the tags.
    let v = h.ok(&[
        "ec2",
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--size",
        "1",
        "--tag-specifications",
        r#"[{"ResourceType": "volume", "Tags": [{"Key": "team", "Value": "db"}]}]"#,
    ]);
    let vol = s(&v["VolumeId"]);
    assert_eq!(tags_of(&v), [kv("team", "db")]);
    assert_eq!(tags_of(&h.volume(&vol)), [kv("team", "db")]);
    let sn = h.ok(&[
        "ec2",
        "create-snapshot",
        "--volume-id",
        &vol,
        "--tag-specifications",
        &spec("snapshot", "backup", "nightly"),
    ]);
    let made = s(&sn["SnapshotId"]);
    assert_eq!(tags_of(&sn), [kv("backup", "nightly")]);
    assert_eq!(tags_of(&h.snapshot(&made)), [kv("backup", "nightly")]);
    let cp = h.ok(&[
        "ec2",
        "copy-snapshot",
        "--source-snapshot-id",
        &snap,
        "--tag-specifications",
        &spec("snapshot", "copy", "1"),
    ]);
    assert_eq!(tags_of(&cp), [kv("copy", "1")]);
    assert_eq!(
        tags_of(&h.snapshot(&s(&cp["SnapshotId"]))),
        [kv("copy", "1")]
    );
    let reg = s(&h.ok(&[
        "ec2",
        "register-image",
        "--name",
        "tagged-reg",
        "--root-device-name",
        "/dev/xvda",
        "--block-device-mappings",
        &format!("DeviceName=/dev/xvda,Ebs={{SnapshotId={snap}}}"),
        "--tag-specifications",
        &spec("image", "os", "linux"),
    ])["ImageId"]);
    assert_eq!(tags_of(&h.image(&reg)), [kv("os", "linux")]);
    let ci = s(&h.ok(&[
        "ec2",
        "create-image",
        "--instance-id",
        &inst,
        "--name",
        "tagged-ci",
        "--tag-specifications",
        &spec("image", "from", "web"),
        &spec("snapshot", "from", "web-snap"),
    ])["ImageId"]);
    assert_eq!(tags_of(&h.image(&ci)), [kv("from", "web")]);
    let ci_snaps = h.image_snapshots(&ci);
    let ci_snap = &ci_snaps[0].1;
    assert_eq!(tags_of(&h.snapshot(ci_snap)), [kv("from", "web-snap")]);
    // CopyImage: --copy-image-tags brings the source's tags; the request's own win.
    h.create_tags(&[&reg], &["Key=os,Value=linux", "Key=tier,Value=gold"]);
    let copy = s(&h.ok(&[
        "ec2",
        "copy-image",
        "--source-image-id",
        &reg,
        "--name",
        "tagged-copy",
        "--copy-image-tags",
        "--tag-specifications",
        &spec("image", "tier", "silver"),
        &spec("snapshot", "copied", "yes"),
    ])["ImageId"]);
    assert_eq!(
        tags_of(&h.image(&copy)),
        [kv("os", "linux"), kv("tier", "silver")]
    );
    let copy_snaps = h.image_snapshots(&copy);
    let copy_snap = &copy_snaps[0].1;
    assert_eq!(tags_of(&h.snapshot(copy_snap)), [kv("copied", "yes")]);
    let plain_copy = s(&h.ok(&[
        "ec2",
        "copy-image",
        "--source-image-id",
        &reg,
        "--name",
        "untagged-copy",
    ])["ImageId"]);
    assert!(
        h.image(&plain_copy).get("Tags").is_none(),
        "tags are not copied by default"
    );

    // Filters tag:KEY (with wildcards), tag-key and tag-value on every Describe*.
    let ids = |v: &Value, list: &str, id: &str| -> BTreeSet<String> {
        v[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| s(&i[id]))
            .collect()
    };
    let v = h.ok(&[
        "ec2",
        "describe-images",
        "--filters",
        "Name=tag:tier,Values=s*",
    ]);
    assert_eq!(ids(&v, "Images", "ImageId"), [copy.clone()].into());
    let v = h.ok(&[
        "ec2",
        "describe-images",
        "--filters",
        "Name=tag-key,Values=os",
    ]);
    assert_eq!(
        ids(&v, "Images", "ImageId"),
        [reg.clone(), copy.clone()].into()
    );
    let v = h.ok(&[
        "ec2",
        "describe-snapshots",
        "--filters",
        "Name=tag-value,Values=nightly",
    ]);
    assert_eq!(ids(&v, "Snapshots", "SnapshotId"), [made.clone()].into());
    let v = h.ok(&[
        "ec2",
        "describe-volumes",
        "--filters",
        "Name=tag:team,Values=d?",
    ]);
    assert_eq!(ids(&v, "Volumes", "VolumeId"), [vol.clone()].into());
    let v = h.ok(&[
        "ec2",
        "describe-instances",
        "--filters",
        "Name=tag:Name,Values=web",
    ]);
    let found: Vec<String> = v["Reservations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["Instances"].as_array().unwrap().clone())
        .map(|i| s(&i["InstanceId"]))
        .collect();
    assert_eq!(found, [inst.as_str()]);

    // Tags go with their resource.
    h.ok(&["ec2", "delete-volume", "--volume-id", &vol]);
    h.ok(&["ec2", "delete-snapshot", "--snapshot-id", &made]);
    h.ok(&["ec2", "deregister-image", "--image-id", &plain_copy]);
    h.ok(&[
        "ec2",
        "deregister-image",
        "--image-id",
        &copy,
        "--delete-associated-snapshots",
    ]);
    let left = entries(&h.ok(&["ec2", "describe-tags"]));
    for gone in [&vol, &made, &copy, copy_snap] {
        assert!(
            !left.iter().any(|(_, id, _, _)| id == gone),
            "{gone}: {left:?}"
        );
    }
    assert!(left.iter().any(|(_, id, _, _)| *id == reg));
}

#[test]
fn limits_and_error_codes() {
    let (
        h,
        Base {
            ami,
            snap,
            inst,
            vol,
        },
    ) = fixture();
    let tag = |t: &str| {
        vec!["ec2", "create-tags", "--resources", &ami, "--tags"]
            .into_iter()
            .map(str::to_owned)
            .chain([t.to_owned()])
            .collect::<Vec<String>>()
    };
    let run_err = |args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        h.err(&a)
    };
    assert_eq!(
        run_err(tag("Key=aws:owner,Value=x")),
        "InvalidParameterValue"
    );
    assert_eq!(
        run_err(tag(&format!("Key={},Value=x", "k".repeat(129)))),
        "InvalidParameterValue"
    );
    assert_eq!(
        run_err(tag(&format!("Key=k,Value={}", "v".repeat(257)))),
        "InvalidParameterValue"
    );
    h.ok(&tag(&format!(
        "Key={},Value={}",
        "k".repeat(128),
        "v".repeat(256)
    ))
    .iter()
    .map(String::as_str)
    .collect::<Vec<_>>());
    // 50 per resource: 49 more fit, the 51st does not, and a refused call changes nothing.
    let many: Vec<String> = (0..49).map(|i| format!("Key=k{i:02},Value=v")).collect();
    let mut args: Vec<&str> = vec!["ec2", "create-tags", "--resources", &ami, "--tags"];
    args.extend(many.iter().map(String::as_str));
    h.ok(&args);
    assert_eq!(tags_of(&h.image(&ami)).len(), 50);
    assert_eq!(
        h.err(&[
            "ec2",
            "create-tags",
            "--resources",
            &snap,
            &ami,
            "--tags",
            "Key=one-more,Value="
        ]),
        "TagLimitExceeded"
    );
    assert!(h.snapshot(&snap).get("Tags").is_none(), "all or nothing");
    // Unknown and malformed ids, and resources of another region.
    for (id, code) in [
        ("ami-0123456789abcdef0", "InvalidAMIID.NotFound"),
        ("snap-0123456789abcdef0", "InvalidSnapshot.NotFound"),
        ("vol-0123456789abcdef0", "InvalidVolume.NotFound"),
        ("i-0123456789abcdef0", "InvalidInstanceID.NotFound"),
        ("sg-0123456789abcdef0", "InvalidID"),
        ("not-an-id", "InvalidID"),
    ] {
        assert_eq!(
            h.err(&[
                "ec2",
                "create-tags",
                "--resources",
                id,
                "--tags",
                "Key=a,Value=b"
            ]),
            code,
            "{id}"
        );
        assert_eq!(
            h.err(&["ec2", "delete-tags", "--resources", id]),
            code,
            "{id}"
        );
    }
    for id in [&ami, &snap, &inst, &vol] {
        let code = h.err(&[
            "--region",
            "eu-west-1",
            "ec2",
            "create-tags",
            "--resources",
            id,
            "--tags",
            "Key=a,Value=b",
        ]);
        assert!(code.ends_with("NotFound"), "{id} in another region: {code}");
    }
    // A resource type the operation does not create.
    assert_eq!(
        h.err(&[
            "ec2",
            "create-volume",
            "--availability-zone",
            "us-east-1a",
            "--size",
            "1",
            "--tag-specifications",
            "ResourceType=instance,Tags=[{Key=a,Value=b}]",
        ]),
        "InvalidParameterValue"
    );
    // A failed create leaves neither the resource nor tags.
    let before = entries(&h.ok(&["ec2", "describe-tags"]));
    let vols = h.ok(&["ec2", "describe-volumes"])["Volumes"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        h.err(&[
            "ec2",
            "create-volume",
            "--availability-zone",
            "us-east-1a",
            "--size",
            "1",
            "--tag-specifications",
            "ResourceType=volume,Tags=[{Key=aws:x,Value=b}]",
        ]),
        "InvalidParameterValue"
    );
    assert_eq!(entries(&h.ok(&["ec2", "describe-tags"])), before);
    assert_eq!(
        h.ok(&["ec2", "describe-volumes"])["Volumes"]
            .as_array()
            .unwrap()
            .len(),
        vols
    );
    // DescribeTags: an unknown filter, a bad page size.
    assert_eq!(
        h.err(&["ec2", "describe-tags", "--filters", "Name=colour,Values=x"]),
        "InvalidParameterValue"
    );
    let out = h.run(&["ec2", "describe-tags", "--page-size", "4"]);
    assert_eq!(out.status.code(), Some(254), "{out:?}");
    // --dry-run checks the resources exist and changes nothing.
    let out = h.run(&[
        "ec2",
        "create-tags",
        "--resources",
        &vol,
        "--tags",
        "Key=d,Value=r",
        "--dry-run",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("DryRunOperation"),
        "{out:?}"
    );
    assert!(h.volume(&vol).get("Tags").is_none());
}

#[test]
fn kms_documentation_examples_and_errors() {
    let h = Home::new();
    let (key, arn) = h.create_key("tagged");
    // tag-resource: no output.
    let out = h.run(&[
        "kms",
        "tag-resource",
        "--key-id",
        &key,
        "--tags",
        "TagKey=Purpose,TagValue=Test",
        "TagKey=Dept,TagValue=IT",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty());
    // list-resource-tags: the documented tags. The CLI joins the pages as the AWS CLI does
    // (botocore pages ListResourceTags), so `Truncated`, when printed, can only be false.
    let listed = h.ok(&["kms", "list-resource-tags", "--key-id", &key]);
    assert_eq!(
        listed["Tags"],
        json!([
            {"TagKey": "Dept", "TagValue": "IT"},
            {"TagKey": "Purpose", "TagValue": "Test"}
        ])
    );
    assert!(
        listed.get("Truncated").is_none_or(|t| *t == json!(false)),
        "{listed}"
    );
    // untag-resource as documented (--tag-key), then by ARN.
    h.ok(&[
        "kms",
        "untag-resource",
        "--key-id",
        &key,
        "--tag-key",
        "Purpose",
    ]);
    assert_eq!(
        h.ok(&["kms", "list-resource-tags", "--key-id", &arn])["Tags"],
        json!([{"TagKey": "Dept", "TagValue": "IT"}])
    );
    // create-key --tags; list-resource-tags pages with --max-items.
    let v = h.ok(&[
        "kms",
        "create-key",
        "--tags",
        "TagKey=CostCenter,TagValue=0001",
        "TagKey=Env,TagValue=",
    ]);
    let k2 = s(&v["KeyMetadata"]["KeyId"]);
    let first = h.ok(&[
        "kms",
        "list-resource-tags",
        "--key-id",
        &k2,
        "--max-items",
        "1",
    ]);
    assert_eq!(
        first["Tags"],
        json!([{"TagKey": "CostCenter", "TagValue": "0001"}])
    );
    let rest = h.ok(&[
        "kms",
        "list-resource-tags",
        "--key-id",
        &k2,
        "--starting-token",
        &s(&first["NextToken"]),
    ]);
    assert_eq!(rest["Tags"], json!([{"TagKey": "Env", "TagValue": ""}]));
    // Errors.
    assert_eq!(
        h.err(&[
            "kms",
            "tag-resource",
            "--key-id",
            &key,
            "--tags",
            "TagKey=aws:x,TagValue=v"
        ]),
        "TagException"
    );
    assert_eq!(
        h.err(&["kms", "create-key", "--tags", "TagKey=aws:x,TagValue=v"]),
        "TagException"
    );
    h.ok(&[
        "kms",
        "create-alias",
        "--alias-name",
        "alias/tagged",
        "--target-key-id",
        &key,
    ]);
    assert_eq!(
        h.err(&["kms", "list-resource-tags", "--key-id", "alias/tagged"]),
        "InvalidArnException"
    );
    assert_eq!(
        h.err(&[
            "kms",
            "list-resource-tags",
            "--key-id",
            "1234abcd-12ab-34cd-56ef-1234567890ab"
        ]),
        "NotFoundException"
    );
    h.ok(&[
        "kms",
        "schedule-key-deletion",
        "--key-id",
        &key,
        "--pending-window-in-days",
        "7",
    ]);
    assert_eq!(
        h.err(&[
            "kms",
            "tag-resource",
            "--key-id",
            &key,
            "--tags",
            "TagKey=a,TagValue=b"
        ]),
        "KMSInvalidStateException"
    );
    assert_eq!(
        h.ok(&["kms", "list-resource-tags", "--key-id", &key])["Tags"],
        json!([{"TagKey": "Dept", "TagValue": "IT"}])
    );
}
