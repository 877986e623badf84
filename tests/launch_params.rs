//! The launch and volume parameters scripts pass: the AWS CLI documentation's examples for
//! run-instances, create-volume and register-image (awscli `examples/ec2/*.rst`, only ids
//! substituted), then the limits and errors AWS gives for them, and the filters that go with
//! them.

use crate::support::*;
use serde_json::Value;

/// A small snapshot to register images from.
fn root_snapshot(h: &Home) -> String {
    h.import(&image_bytes(1 << 20, 7, b"launch-params"), &[])
}

/// register-image Example 2, with the snapshot id substituted.
fn example_image(h: &Home, name: &str, extra: &[&str]) -> String {
    let snap = root_snapshot(h);
    let root = format!("DeviceName=/dev/xvda,Ebs={{SnapshotId={snap}}}");
    let mut args = vec![
        "ec2",
        "register-image",
        "--name",
        name,
        "--root-device-name",
        "/dev/xvda",
        "--block-device-mappings",
        &root,
        "DeviceName=/dev/xvdf,Ebs={VolumeSize=100}",
    ];
    args.extend_from_slice(extra);
    s(&h.ok(&args)["ImageId"])
}

fn stderr_of(h: &Home, args: &[&str]) -> String {
    let out = h.run(args);
    assert_eq!(out.status.code(), Some(254), "{args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn reservation_instances(v: &Value) -> Vec<Value> {
    v["Reservations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["Instances"].as_array().unwrap().clone())
        .collect()
}

#[test]
fn run_instances_examples_from_the_aws_cli_documentation() {
    let h = Home::new();
    let ami = example_image(&h, "my-image", &[]);
    let img = h.image(&ami);
    let maps = img["BlockDeviceMappings"].as_array().unwrap();
    assert_eq!(maps[1]["DeviceName"], "/dev/xvdf");
    assert_eq!(maps[1]["Ebs"]["VolumeSize"], 100);
    assert_eq!(maps[1]["Ebs"]["VolumeType"], "gp2");
    assert_eq!(maps[1]["Ebs"]["Iops"], 300);

    // Example 1: into the default subnet, with a key pair.
    let r = h.ok(&[
        "ec2",
        "run-instances",
        "--image-id",
        &ami,
        "--instance-type",
        "t2.micro",
        "--key-name",
        "MyKeyPair",
    ]);
    let i = &r["Instances"][0];
    assert_eq!(i["InstanceType"], "t2.micro");
    assert_eq!(i["KeyName"], "MyKeyPair");
    assert_eq!(i["AmiLaunchIndex"], 0);
    assert_eq!(i["Architecture"], "x86_64");
    assert_eq!(i["VirtualizationType"], "hvm");
    assert_eq!(i["Placement"]["AvailabilityZone"], "us-east-1a");
    let vpc = s(&i["VpcId"]);
    let subnet = s(&i["SubnetId"]);
    let sg = s(&i["SecurityGroups"][0]["GroupId"]);
    assert!(vpc.starts_with("vpc-") && subnet.starts_with("subnet-") && sg.starts_with("sg-"));
    assert_eq!(i["SecurityGroups"][0]["GroupName"], "default");
    assert_eq!(i["PrivateIpAddress"], "172.31.0.4");
    assert_eq!(i["PrivateDnsName"], "ip-172-31-0-4.ec2.internal");
    let eni = &i["NetworkInterfaces"][0];
    assert_eq!(eni["PrivateIpAddress"], "172.31.0.4");
    assert_eq!(eni["SubnetId"], subnet.as_str());
    assert_eq!(eni["VpcId"], vpc.as_str());
    assert_eq!(eni["Groups"][0]["GroupId"], sg.as_str());
    // Example 3: a non-default subnet (ours: the default one) and a mapping file, both
    // contents of mapping.json.
    let mapping = h.scratch("mapping.json");
    std::fs::write(
        &mapping,
        r#"[{"DeviceName": "/dev/sdh", "Ebs": {"VolumeSize": 100}}]"#,
    )
    .unwrap();
    let file_arg = format!("file://{}", mapping.display());
    let example3 = |h: &Home| {
        h.ok(&[
            "ec2",
            "run-instances",
            "--image-id",
            &ami,
            "--instance-type",
            "t2.micro",
            "--subnet-id",
            &subnet,
            "--security-group-ids",
            &sg,
            "--key-name",
            "MyKeyPair",
            "--block-device-mappings",
            &file_arg,
        ])
    };
    let r = example3(&h);
    let i = &r["Instances"][0];
    assert_eq!(i["PrivateIpAddress"], "172.31.0.5");
    let sdh = h.volume_at(&s(&i["InstanceId"]), "/dev/sdh");
    assert_eq!(sdh["Size"], 100);
    assert_eq!(sdh["Iops"], 300);
    std::fs::write(
        &mapping,
        r#"[{"DeviceName": "/dev/sdc", "VirtualName": "ephemeral1"}]"#,
    )
    .unwrap();
    let r = example3(&h);
    let devices: Vec<String> = r["Instances"][0]["BlockDeviceMappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| s(&m["DeviceName"]))
        .collect();
    assert_eq!(devices, ["/dev/xvda", "/dev/xvdf"]);

    // Example 5: user data from a file.
    let script = h.scratch("my_script.txt");
    std::fs::write(&script, "#!/bin/bash\necho hello > /tmp/hello\n").unwrap();
    let r = h.ok(&[
        "ec2",
        "run-instances",
        "--image-id",
        &ami,
        "--instance-type",
        "t2.micro",
        "--count",
        "1",
        "--subnet-id",
        &subnet,
        "--key-name",
        "MyKeyPair",
        "--security-group-ids",
        &sg,
        "--user-data",
        &format!("file://{}", script.display()),
    ]);
    assert_eq!(r["Instances"][0]["PrivateIpAddress"], "172.31.0.7");

    // The filters that go with them.
    let count = |filter: &str| {
        reservation_instances(&h.ok(&["ec2", "describe-instances", "--filters", filter])).len()
    };
    assert_eq!(count("Name=instance-type,Values=t2.micro"), 4);
    assert_eq!(count("Name=instance-type,Values=m5.large"), 0);
    assert_eq!(count(&format!("Name=vpc-id,Values={vpc}")), 4);
    assert_eq!(count(&format!("Name=subnet-id,Values={subnet}")), 4);
    assert_eq!(count("Name=private-ip-address,Values=172.31.0.5"), 1);
    assert_eq!(count("Name=key-name,Values=MyKeyPair"), 4);
    assert_eq!(count("Name=architecture,Values=x86_64"), 4);
    assert_eq!(count(&format!("Name=instance.group-id,Values={sg}")), 4);
    assert_eq!(
        count("Name=instance.group-id,Values=sg-0b0384b66d7d692f9"),
        0
    );

    // A terminated instance gives its address back.
    let first = s(&reservation_instances(&h.ok(&[
        "ec2",
        "describe-instances",
        "--filters",
        "Name=private-ip-address,Values=172.31.0.4",
    ]))[0]["InstanceId"]);
    h.ok(&["ec2", "terminate-instances", "--instance-ids", &first]);
    assert!(h.instance(&first).get("PrivateIpAddress").is_none());
    let r = h.ok(&[
        "ec2",
        "run-instances",
        "--image-id",
        &ami,
        "--private-ip-address",
        "172.31.0.4",
    ]);
    assert_eq!(r["Instances"][0]["PrivateIpAddress"], "172.31.0.4");
    assert_eq!(
        h.err(&[
            "ec2",
            "run-instances",
            "--image-id",
            &ami,
            "--private-ip-address",
            "172.31.0.5",
        ]),
        "InvalidIPAddress.InUse"
    );
}

#[test]
fn run_instances_refuses_what_aws_refuses() {
    let h = Home::new();
    let ami = example_image(&h, "refusals", &[]);
    let run = |extra: &[&str]| {
        let mut args = vec!["ec2", "run-instances", "--image-id", &ami];
        args.extend_from_slice(extra);
        stderr_of(&h, &args)
    };
    let e = run(&["--instance-type", "zz.huge"]);
    assert!(
        e.contains("(InvalidParameterValue)")
            && e.contains("Invalid value 'zz.huge' for InstanceType."),
        "{e}"
    );
    let e = run(&["--instance-type", "t4g.micro"]);
    assert!(
        e.contains("(InvalidParameterValue)")
            && e.contains("The architecture 'arm64' of the specified instance type does not match the architecture 'x86_64' of the specified AMI."),
        "{e}"
    );
    let e = run(&["--security-group-ids", "sg-0b0384b66d7d692f9"]);
    assert!(e.contains("(InvalidGroup.NotFound)"), "{e}");
    let e = run(&["--security-groups", "web"]);
    assert!(e.contains("(InvalidGroup.NotFound)"), "{e}");
    let e = run(&["--subnet-id", "subnet-08fc749671b2d077c"]);
    assert!(e.contains("(InvalidSubnetID.NotFound)"), "{e}");
    let e = run(&["--placement", "AvailabilityZone=us-west-2a"]);
    assert!(e.contains("(InvalidParameterValue)"), "{e}");
    let e = run(&["--private-ip-address", "10.0.0.5"]);
    assert!(e.contains("(InvalidParameterValue)"), "{e}");
    let e = run(&["--count", "2", "--private-ip-address", "172.31.0.9"]);
    assert!(e.contains("(InvalidParameterCombination)"), "{e}");
    let e = run(&["--instance-type", "t2.micro", "--ebs-optimized"]);
    assert!(e.contains("(InvalidParameterCombination)"), "{e}");
    let big = "x".repeat(16 * 1024 + 1);
    let e = run(&["--user-data", &big]);
    assert!(e.contains("User data is limited to 16384 bytes"), "{e}");
    // A mapping's volume type limits apply at launch too.
    let e = run(&[
        "--block-device-mappings",
        "DeviceName=/dev/sdh,Ebs={VolumeSize=10,VolumeType=io1}",
    ]);
    assert!(e.contains("(MissingParameter)"), "{e}");
    let e = run(&[
        "--block-device-mappings",
        "DeviceName=/dev/sdh,Ebs={VolumeSize=10,VolumeType=gp2,Iops=300}",
    ]);
    assert!(e.contains("(InvalidParameterCombination)"), "{e}");
    // Nothing was launched by any of them.
    let all = h.ok(&["ec2", "describe-instances"]);
    assert!(reservation_instances(&all).is_empty());
    // What is accepted is recorded and shown.
    let r = h.ok(&[
        "ec2",
        "run-instances",
        "--image-id",
        &ami,
        "--instance-type",
        "m5.large",
        "--security-groups",
        "default",
        "--monitoring",
        "Enabled=true",
        "--ebs-optimized",
        "--placement",
        "AvailabilityZone=us-east-1c",
        "--block-device-mappings",
        "DeviceName=/dev/sdh,Ebs={VolumeSize=10,VolumeType=gp3,Iops=4000,Throughput=250}",
    ]);
    let i = &r["Instances"][0];
    assert_eq!(i["InstanceType"], "m5.large");
    assert_eq!(i["Monitoring"]["State"], "enabled");
    assert_eq!(i["EbsOptimized"], true);
    assert_eq!(i["PrivateIpAddress"], "172.31.32.4");
    assert_eq!(i["PrivateDnsName"], "ip-172-31-32-4.ec2.internal");
    let sdh = h.volume_at(&s(&i["InstanceId"]), "/dev/sdh");
    assert_eq!(
        (&sdh["VolumeType"], &sdh["Iops"], &sdh["Throughput"]),
        (&Value::from("gp3"), &Value::from(4000), &Value::from(250))
    );
    let gp3 = h.ok(&[
        "ec2",
        "describe-volumes",
        "--filters",
        "Name=volume-type,Values=gp3",
    ]);
    assert_eq!(gp3["Volumes"].as_array().unwrap().len(), 1);
}

#[test]
fn client_tokens_make_launches_and_volumes_idempotent() {
    let h = Home::new();
    let ami = example_image(&h, "tokens", &[]);
    let launch = |t: &str| {
        h.run(&[
            "ec2",
            "run-instances",
            "--image-id",
            &ami,
            "--instance-type",
            t,
            "--client-token",
            "launch-0001",
        ])
    };
    let first: Value = serde_json::from_slice(&launch("t3.micro").stdout).unwrap();
    let again: Value = serde_json::from_slice(&launch("t3.micro").stdout).unwrap();
    assert_eq!(first["ReservationId"], again["ReservationId"]);
    assert_eq!(
        first["Instances"][0]["InstanceId"],
        again["Instances"][0]["InstanceId"]
    );
    assert_eq!(again["Instances"][0]["ClientToken"], "launch-0001");
    let out = launch("t3.small");
    assert!(String::from_utf8_lossy(&out.stderr).contains("(IdempotentParameterMismatch)"));
    assert_eq!(
        reservation_instances(&h.ok(&["ec2", "describe-instances"])).len(),
        1
    );

    let create = |size: &str| {
        h.run(&[
            "ec2",
            "create-volume",
            "--availability-zone",
            "us-east-1a",
            "--size",
            size,
            "--client-token",
            "vol-token",
        ])
    };
    let v1: Value = serde_json::from_slice(&create("8").stdout).unwrap();
    let v2: Value = serde_json::from_slice(&create("8").stdout).unwrap();
    assert_eq!(v1["VolumeId"], v2["VolumeId"]);
    let out = create("9");
    assert!(String::from_utf8_lossy(&out.stderr).contains("(IdempotentParameterMismatch)"));
    let all = h.ok(&["ec2", "describe-volumes", "--filters", "Name=size,Values=8"]);
    assert_eq!(all["Volumes"].as_array().unwrap().len(), 1);
}

#[test]
fn create_volume_examples_and_limits() {
    let h = Home::new();
    // Example 1 and its default-type form: gp2 at 3 IOPS per GiB.
    for extra in [&["--volume-type", "gp2"][..], &[][..]] {
        let mut args = vec!["ec2", "create-volume"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--size", "80", "--availability-zone", "us-east-1a"]);
        let v = h.ok(&args);
        assert_eq!(v["VolumeType"], "gp2");
        assert_eq!(v["Iops"], 240);
        assert_eq!(v["Size"], 80);
        assert_eq!(v["Encrypted"], false);
    }
    // Example 2: io1 with 1000 IOPS from a 500 GiB snapshot.
    let big = h.ok(&[
        "ec2",
        "create-volume",
        "--size",
        "500",
        "--availability-zone",
        "us-east-1a",
    ]);
    let snap = h.ok(&[
        "ec2",
        "create-snapshot",
        "--volume-id",
        &s(&big["VolumeId"]),
    ]);
    let v = h.ok(&[
        "ec2",
        "create-volume",
        "--volume-type",
        "io1",
        "--iops",
        "1000",
        "--snapshot-id",
        &s(&snap["SnapshotId"]),
        "--availability-zone",
        "us-east-1a",
    ]);
    assert_eq!(
        (&v["VolumeType"], &v["Iops"], &v["Size"]),
        (&Value::from("io1"), &Value::from(1000), &Value::from(500))
    );
    assert_eq!(h.volume(&s(&v["VolumeId"]))["Iops"], 1000);
    // Example 3: encrypted with the default key.
    let v = h.ok(&[
        "ec2",
        "create-volume",
        "--size",
        "80",
        "--encrypted",
        "--availability-zone",
        "us-east-1a",
    ]);
    assert_eq!(v["Encrypted"], true);
    assert_eq!(v["Iops"], 240);
    // gp3 defaults and limits.
    let v = h.ok(&[
        "ec2",
        "create-volume",
        "--volume-type",
        "gp3",
        "--size",
        "8",
        "--availability-zone",
        "us-east-1a",
    ]);
    assert_eq!(
        (&v["Iops"], &v["Throughput"]),
        (&Value::from(3000), &Value::from(125))
    );
    let code = |extra: &[&str]| {
        let mut args = vec!["ec2", "create-volume", "--availability-zone", "us-east-1a"];
        args.extend_from_slice(extra);
        h.err(&args)
    };
    let table: &[(&[&str], &str)] = &[
        (
            &["--volume-type", "gp3", "--size", "8", "--throughput", "751"],
            "InvalidParameterValue",
        ),
        (
            &["--volume-type", "gp3", "--size", "8", "--iops", "2999"],
            "InvalidParameterValue",
        ),
        (
            &["--volume-type", "io1", "--size", "100"],
            "MissingParameter",
        ),
        (
            &["--volume-type", "io1", "--size", "10", "--iops", "1000"],
            "InvalidParameterValue",
        ),
        (
            &["--volume-type", "io2", "--size", "10", "--iops", "20000"],
            "InvalidParameterValue",
        ),
        (
            &["--volume-type", "gp2", "--size", "10", "--iops", "300"],
            "InvalidParameterCombination",
        ),
        (
            &[
                "--volume-type",
                "io1",
                "--size",
                "10",
                "--iops",
                "100",
                "--throughput",
                "125",
            ],
            "InvalidParameterCombination",
        ),
        (
            &["--volume-type", "st1", "--size", "124"],
            "InvalidParameterValue",
        ),
        (
            &["--volume-type", "standard", "--size", "1025"],
            "InvalidParameterValue",
        ),
        (
            &["--volume-type", "gp2", "--size", "16385"],
            "InvalidParameterValue",
        ),
        (
            &[
                "--volume-type",
                "gp2",
                "--size",
                "8",
                "--multi-attach-enabled",
            ],
            "InvalidParameterCombination",
        ),
    ];
    for (extra, want) in table {
        assert_eq!(code(extra), *want, "{extra:?}");
    }
    let gp2 = h.ok(&[
        "ec2",
        "describe-volumes",
        "--filters",
        "Name=volume-type,Values=gp2",
    ]);
    assert_eq!(gp2["Volumes"].as_array().unwrap().len(), 4);
}

#[test]
fn image_attributes_are_kept_shown_filtered_and_carried() {
    let h = Home::new();
    let snap = root_snapshot(&h);
    let bdm = format!(
        r#"[{{"DeviceName": "/dev/xvda", "Ebs": {{"SnapshotId": "{snap}", "VolumeSize": 8, "VolumeType": "gp3", "Iops": 4000}}}},
            {{"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"}},
            {{"DeviceName": "/dev/sdc", "NoDevice": ""}}]"#
    );
    let arm = s(&h.ok(&[
        "ec2",
        "register-image",
        "--name",
        "arm-uefi",
        "--root-device-name",
        "/dev/xvda",
        "--block-device-mappings",
        &bdm,
        "--architecture",
        "arm64",
        "--virtualization-type",
        "hvm",
        "--ena-support",
        "--boot-mode",
        "uefi",
        "--tpm-support",
        "v2.0",
        "--imds-support",
        "v2.0",
    ])["ImageId"]);
    let x86 = example_image(&h, "x86-plain", &["--sriov-net-support", "simple"]);
    let img = h.image(&arm);
    assert_eq!(img["Architecture"], "arm64");
    assert_eq!(img["VirtualizationType"], "hvm");
    assert_eq!(img["EnaSupport"], true);
    assert_eq!(img["BootMode"], "uefi");
    assert_eq!(img["TpmSupport"], "v2.0");
    assert_eq!(img["ImdsSupport"], "v2.0");
    let maps = img["BlockDeviceMappings"].as_array().unwrap();
    assert_eq!(maps[0]["Ebs"]["Iops"], 4000);
    assert_eq!(maps[0]["Ebs"]["Throughput"], 125);
    assert_eq!(maps[1]["VirtualName"], "ephemeral0");
    assert!(maps[1].get("Ebs").is_none());
    assert_eq!(maps[2]["NoDevice"], "");
    assert_eq!(h.image(&x86)["SriovNetSupport"], "simple");

    let ids = |filter: &str| -> Vec<String> {
        h.ok(&["ec2", "describe-images", "--filters", filter])["Images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| s(&i["ImageId"]))
            .collect()
    };
    assert_eq!(
        ids("Name=architecture,Values=arm64"),
        std::slice::from_ref(&arm)
    );
    assert_eq!(
        ids("Name=architecture,Values=x86_64"),
        std::slice::from_ref(&x86)
    );
    assert_eq!(
        ids("Name=ena-support,Values=true"),
        std::slice::from_ref(&arm)
    );
    assert_eq!(
        ids("Name=boot-mode,Values=uefi"),
        std::slice::from_ref(&arm)
    );
    assert_eq!(
        ids("Name=block-device-mapping.volume-type,Values=gp3"),
        std::slice::from_ref(&arm)
    );
    assert_eq!(ids("Name=virtualization-type,Values=hvm").len(), 2);
    assert_eq!(ids("Name=root-device-type,Values=ebs").len(), 2);

    // Bad values, with the parameter named.
    let reg = |extra: &[&str]| {
        let root = format!("DeviceName=/dev/xvda,Ebs={{SnapshotId={snap}}}");
        let mut args = vec![
            "ec2",
            "register-image",
            "--name",
            "bad-attrs",
            "--root-device-name",
            "/dev/xvda",
            "--block-device-mappings",
            &root,
        ];
        args.extend_from_slice(extra);
        h.err(&args)
    };
    assert_eq!(reg(&["--architecture", "sparc"]), "InvalidParameterValue");
    assert_eq!(
        reg(&["--virtualization-type", "kvm"]),
        "InvalidParameterValue"
    );
    assert_eq!(reg(&["--boot-mode", "bios"]), "InvalidParameterValue");
    assert_eq!(
        reg(&["--sriov-net-support", "yes"]),
        "InvalidParameterValue"
    );
    assert_eq!(
        reg(&["--tpm-support", "v2.0"]),
        "InvalidParameterCombination"
    );
    assert_eq!(
        reg(&["--architecture", "arm64", "--boot-mode", "legacy-bios"]),
        "InvalidParameterCombination"
    );

    // A Graviton type runs the arm64 image, not an x86 one.
    assert_eq!(
        h.err(&[
            "ec2",
            "run-instances",
            "--image-id",
            &arm,
            "--instance-type",
            "t3.micro"
        ]),
        "InvalidParameterValue"
    );
    let r = h.ok(&[
        "ec2",
        "run-instances",
        "--image-id",
        &arm,
        "--instance-type",
        "t4g.micro",
    ]);
    let inst = s(&r["Instances"][0]["InstanceId"]);
    let i = h.instance(&inst);
    assert_eq!(i["Architecture"], "arm64");
    assert_eq!(i["EnaSupport"], true);
    assert_eq!(i["BootMode"], "uefi");
    assert_eq!(i["CurrentInstanceBootMode"], "uefi");
    assert_eq!(i["BlockDeviceMappings"].as_array().unwrap().len(), 1);
    let root = h.volume_at(&inst, "/dev/xvda");
    assert_eq!(
        (&root["VolumeType"], &root["Iops"]),
        (&Value::from("gp3"), &Value::from(4000))
    );

    // CopyImage and CreateImage carry the attributes over.
    let copy = s(&h.ok(&[
        "ec2",
        "copy-image",
        "--source-image-id",
        &arm,
        "--name",
        "arm-copy",
    ])["ImageId"]);
    let created = s(&h.ok(&[
        "ec2",
        "create-image",
        "--instance-id",
        &inst,
        "--name",
        "arm-made",
    ])["ImageId"]);
    for id in [&copy, &created] {
        let c = h.image(id);
        assert_eq!(c["Architecture"], "arm64", "{id}");
        assert_eq!(c["EnaSupport"], true, "{id}");
        assert_eq!(c["BootMode"], "uefi", "{id}");
        assert_eq!(c["TpmSupport"], "v2.0", "{id}");
        assert_eq!(c["BlockDeviceMappings"][0]["Ebs"]["Iops"], 4000, "{id}");
    }
    assert_eq!(
        h.image(&copy)["BlockDeviceMappings"][1]["VirtualName"],
        "ephemeral0"
    );
}
