"""The API endpoint, driven by real AWS clients: boto3 (botocore) and the aws CLI.

Run by tests/api.rs, one check per process, against a `blockseal serve` it started on a fresh
home:  python checks.py URL HOME BLOCKSEAL_BIN CHECK

Every raw response is also checked against botocore's service model (the AWS oracle): an
element or member the output shape does not have, or a value of the wrong type, fails the check.
"""

import base64
import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import boto3
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, WaiterError

URL, HOME, BIN = sys.argv[1], sys.argv[2], sys.argv[3]
BS = 512 * 1024
REGION = "us-east-1"
MODELS = botocore.session.get_session()
PROBLEMS = []


# ----- the model oracle -----------------------------------------------------------------------

def _check_json(shape, value, path):
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            PROBLEMS.append(f"{path}: expected an object")
            return
        for k, v in value.items():
            if k not in shape.members:
                PROBLEMS.append(f"{path}.{k}: not in {shape.name}")
            else:
                _check_json(shape.members[k], v, f"{path}.{k}")
    elif t == "list":
        if not isinstance(value, list):
            PROBLEMS.append(f"{path}: expected a list")
            return
        for i, v in enumerate(value):
            _check_json(shape.member, v, f"{path}[{i}]")
    elif t in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            PROBLEMS.append(f"{path}: expected an integer, got {value!r}")
    elif t == "boolean":
        if not isinstance(value, bool):
            PROBLEMS.append(f"{path}: expected a boolean, got {value!r}")
    elif t == "timestamp":
        if not isinstance(value, (int, float)):
            PROBLEMS.append(f"{path}: expected epoch seconds, got {value!r}")
    elif t in ("string", "blob"):
        if not isinstance(value, str):
            PROBLEMS.append(f"{path}: expected a string, got {value!r}")


def _local(tag):
    return tag.split("}", 1)[-1]


def _check_xml(shape, elem, path, top=False):
    t = shape.type_name
    if t == "structure":
        names = {}
        for name, m in shape.members.items():
            names[m.serialization.get("name", name)] = m
        for child in elem:
            tag = _local(child.tag)
            if tag in ("requestId", "ResponseMetadata") and top:
                continue
            m = names.get(tag)
            if m is None:
                PROBLEMS.append(f"{path}.{tag}: not in {shape.name}")
            else:
                _check_xml(m, child, f"{path}.{tag}")
    elif t == "list":
        item = shape.member.serialization.get("name", "member")
        for i, child in enumerate(elem):
            if _local(child.tag) not in (item, "item", "member"):
                PROBLEMS.append(f"{path}[{i}]: element {_local(child.tag)} is not {item}")
            _check_xml(shape.member, child, f"{path}[{i}]")
    else:
        text = elem.text or ""
        if t in ("integer", "long"):
            try:
                int(text)
            except ValueError:
                PROBLEMS.append(f"{path}: {text!r} is not an integer")
        elif t == "boolean" and text not in ("true", "false"):
            PROBLEMS.append(f"{path}: {text!r} is not a boolean")
        elif t == "timestamp" and "T" not in text:
            PROBLEMS.append(f"{path}: {text!r} is not an ISO 8601 time")


def _oracle(http_response, model):
    """botocore's after-call hook: checks the raw body against the operation's output shape."""
    if http_response.status_code >= 300:
        return
    op = model
    out = op.output_shape
    if out is None:
        return
    proto = op.service_model.protocol
    if proto == "rest-json" and out.serialization.get("payload"):
        return  # a streaming body: reading it here would take it from the caller
    body = http_response.content
    where = f"{op.service_model.service_name}.{op.name}"
    if proto in ("ec2", "query"):
        root = ET.fromstring(body)
        if proto == "query":
            wrapper = out.serialization.get("resultWrapper")
            root = next(c for c in root if _local(c.tag) == wrapper) if wrapper else root
        _check_xml(out, root, where, top=True)
    elif proto == "json":
        _check_json(out, json.loads(body or b"{}"), where)
    elif proto == "rest-json":
        payload = out.serialization.get("payload")
        if payload is None and body:
            for k, v in json.loads(body).items():
                m = out.members.get(k)
                if m is None or m.serialization.get("location"):
                    PROBLEMS.append(f"{where}.{k}: not a body member of {out.name}")
                else:
                    _check_json(m, v, f"{where}.{k}")


def client(service, region=REGION, key="test", secret="test"):
    c = boto3.client(
        service,
        endpoint_url=URL,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, read_timeout=300),
    )

    def hook(http_response, parsed, model, **kw):
        _oracle(http_response, model)

    c.meta.events.register("after-call", hook)
    return c


def fails(code, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e}"
        return e
    raise AssertionError(f"expected {code}, the call succeeded")


# ----- data through the EBS direct APIs -------------------------------------------------------

def pattern(tag, size):
    """Distinct, recognisable bytes: `tag` repeated with a counter."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += f"{tag}:{i:08d};".encode()
        i += 1
    return bytes(out[:size])


def upload(ebs, data, size_gib=1, **kw):
    s = ebs.start_snapshot(VolumeSize=size_gib, **kw)
    sid = s["SnapshotId"]
    assert s["Status"] == "pending" and s["BlockSize"] == BS, s
    n = 0
    for i in range(0, len(data), BS):
        block = data[i:i + BS].ljust(BS, b"\0")
        digest = base64.b64encode(hashlib.sha256(block).digest()).decode()
        r = ebs.put_snapshot_block(SnapshotId=sid, BlockIndex=i // BS, BlockData=block,
                                   DataLength=BS, Checksum=digest, ChecksumAlgorithm="SHA256")
        assert r["Checksum"] == digest
        n += 1
    assert ebs.complete_snapshot(SnapshotId=sid, ChangedBlocksCount=n)["Status"] == "completed"
    return sid


def download(ebs, sid, nbytes):
    out = bytearray(nbytes)
    token = None
    while True:
        kw = {"NextToken": token} if token else {}
        page = ebs.list_snapshot_blocks(SnapshotId=sid, **kw)
        for b in page["Blocks"]:
            at = b["BlockIndex"] * BS
            if at >= nbytes:
                continue
            got = ebs.get_snapshot_block(SnapshotId=sid, BlockIndex=b["BlockIndex"],
                                         BlockToken=b["BlockToken"])
            data = got["BlockData"].read()
            digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
            assert got["Checksum"] == digest and got["ChecksumAlgorithm"] == "SHA256"
            out[at:at + BS] = data[:nbytes - at]
        token = page.get("NextToken")
        if not token:
            return bytes(out)


def key(kms, name=None):
    k = kms.create_key(Description=name or "k")["KeyMetadata"]
    if name:
        kms.create_alias(AliasName=f"alias/{name}", TargetKeyId=k["KeyId"])
    return k["Arn"]


def copy(ec2, **kw):
    """CopyImage, which the endpoint answers at once with a pending image, then its waiter."""
    image_id = ec2.copy_image(**kw)["ImageId"]
    ec2.get_waiter("image_available").wait(ImageIds=[image_id], WaiterConfig={"Delay": 1})
    return image_id


def launch(ec2, **kw):
    """RunInstances (answered at once, pending while its volumes are made), then its waiter."""
    inst = ec2.run_instances(MinCount=1, MaxCount=1, **kw)["Instances"][0]
    assert inst["State"]["Name"] == "pending", inst["State"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[inst["InstanceId"]],
                                           WaiterConfig={"Delay": 1})
    return inst


def snapshots_of(ec2, image_id):
    img = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    ids = {m["DeviceName"]: m["Ebs"]["SnapshotId"] for m in img["BlockDeviceMappings"]}
    snaps = ec2.describe_snapshots(SnapshotIds=list(ids.values()))["Snapshots"]
    by_id = {s["SnapshotId"]: s for s in snaps}
    return img, {dev: by_id[sid] for dev, sid in ids.items()}


def base_image(ec2, ebs, data, name="base", **kw):
    root = upload(ebs, data, **kw)
    return ec2.register_image(
        Name=name, RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root}}],
    )["ImageId"]


def data_of(path):
    """The bytes of a (sparse) file's data extents, holes skipped."""
    out = bytearray()
    with open(path, "rb") as fh:
        fd, end, pos = fh.fileno(), os.fstat(fh.fileno()).st_size, 0
        while pos < end:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            stop = os.lseek(fd, start, os.SEEK_HOLE)
            out += os.pread(fd, stop - start, start)
            pos = stop
    return bytes(out)


def no_plaintext_in_snapshot(snapshot_id, marker):
    blob = data_of(os.path.join(HOME, "blobs", snapshot_id))
    assert marker not in blob, f"plaintext {marker[:20]!r} found in {snapshot_id}'s file"


def no_plaintext_in_home(*markers):
    for dirpath, _, files in os.walk(HOME):
        for f in files:
            blob = data_of(os.path.join(dirpath, f))
            for m in markers:
                assert m not in blob, f"plaintext {m[:20]!r} found in {dirpath}/{f}"


# ----- checks ---------------------------------------------------------------------------------

def check_discovery():
    sts = client("sts")
    me = sts.get_caller_identity()
    assert me["Arn"].endswith(":user/admin") and len(me["Account"]) == 12, me
    ec2 = client("ec2", region="eu-west-1")
    regions = [r["RegionName"] for r in ec2.describe_regions()["Regions"]]
    assert "us-east-1" in regions and "eu-west-1" in regions
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert zones[0]["ZoneName"] == "eu-west-1a" and zones[0]["RegionName"] == "eu-west-1"
    attrs = ec2.describe_account_attributes(AttributeNames=["supported-platforms"])
    assert attrs["AccountAttributes"][0]["AttributeValues"][0]["AttributeValue"] == "VPC"
    # The signing scope's region is the region: a key made in eu-west-1 is not in us-east-1.
    arn = key(client("kms", region="eu-west-1"))
    assert ":eu-west-1:" in arn
    assert client("kms").list_keys()["Keys"] == []
    assert ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is False


def check_s1():
    ec2, ebs, kms = client("ec2"), client("ebs"), client("kms")
    k1 = key(kms, "k1")
    root_bytes, data_bytes = pattern("s1-root", 3 * BS + 100), pattern("s1-data", 2 * BS)
    base = base_image(ec2, ebs, root_bytes)
    data_snap = upload(ebs, data_bytes, Encrypted=True, KmsKeyArn=k1)
    inst = launch(ec2, ImageId=base)
    iid, az = inst["InstanceId"], inst["Placement"]["AvailabilityZone"]
    vol = ec2.create_volume(AvailabilityZone=az, Size=4, SnapshotId=data_snap, Encrypted=True,
                            KmsKeyId=k1)
    assert vol["Encrypted"] and vol["KmsKeyId"] == k1
    ec2.get_waiter("volume_available").wait(VolumeIds=[vol["VolumeId"]], WaiterConfig={"Delay": 1})
    ec2.attach_volume(VolumeId=vol["VolumeId"], InstanceId=iid, Device="/dev/sdf")
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[vol["VolumeId"]], WaiterConfig={"Delay": 1})
    # The attach made the grant AWS shows: the instance may Decrypt under this volume's id.
    account = client("sts").get_caller_identity()["Account"]
    infra = f"{account}:aws:ec2-infrastructure:{iid}"
    grants = kms.list_grants(KeyId=k1, GranteePrincipal=infra)["Grants"]
    assert [(g["Operations"], g["Constraints"]) for g in grants] == [
        (["Decrypt"], {"EncryptionContextSubset": {"aws:ebs:id": vol["VolumeId"]}})], grants
    ami1 = ec2.create_image(InstanceId=iid, Name="s1-ami-1")["ImageId"]
    ec2.get_waiter("image_available").wait(ImageIds=[ami1], WaiterConfig={"Delay": 1})
    img1, snaps1 = snapshots_of(ec2, ami1)
    enc = {m["DeviceName"]: m["Ebs"]["Encrypted"] for m in img1["BlockDeviceMappings"]}
    assert enc == {"/dev/xvda": False, "/dev/sdf": True}, enc
    ami2 = copy(ec2, SourceImageId=ami1, SourceRegion=REGION, Name="s1-ami-2")
    ec2.get_waiter("image_available").wait(ImageIds=[ami2], WaiterConfig={"Delay": 1})
    img2, snaps2 = snapshots_of(ec2, ami2)
    assert snaps2["/dev/xvda"]["Encrypted"] is False
    assert snaps2["/dev/sdf"]["Encrypted"] is True and snaps2["/dev/sdf"]["KmsKeyId"] == k1
    assert snaps2["/dev/sdf"]["DataEncryptionKeyId"] == snaps1["/dev/sdf"]["DataEncryptionKeyId"]
    ids = {s["SnapshotId"] for s in list(snaps1.values()) + list(snaps2.values())}
    assert len(ids) == 4
    ec2.deregister_image(ImageId=ami1)
    assert download(ebs, snaps2["/dev/xvda"]["SnapshotId"], len(root_bytes)) == root_bytes
    assert download(ebs, snaps2["/dev/sdf"]["SnapshotId"], len(data_bytes)) == data_bytes
    i2 = launch(ec2, ImageId=ami2)["InstanceId"]
    vols = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [i2]}])
    by_dev = {v["Attachments"][0]["Device"]: v for v in vols["Volumes"]}
    assert by_dev["/dev/xvda"]["Encrypted"] is False
    assert by_dev["/dev/sdf"]["KmsKeyId"] == k1
    no_plaintext_in_home(data_bytes[:64])


def check_s2():
    ec2, ebs, kms = client("ec2"), client("ebs"), client("kms")
    k1 = key(kms, "k1")
    data = pattern("s2-root", BS)
    ami_e = base_image(ec2, ebs, data, "ami-e", Encrypted=True, KmsKeyArn=k1)
    copied = copy(ec2, SourceImageId=ami_e, SourceRegion=REGION, Name="s2-copy")
    _, snaps = snapshots_of(ec2, copied)
    root = snaps["/dev/xvda"]
    assert root["Encrypted"] and root["KmsKeyId"] == k1
    assert download(ebs, root["SnapshotId"], len(data)) == data
    # Variant A: to another region, no parameters: that region's default key, a new data key.
    west = client("ec2", region="eu-west-1")
    far = copy(west, SourceImageId=ami_e, SourceRegion=REGION, Name="s2-west")
    _, wsnaps = snapshots_of(west, far)
    default = client("kms", region="eu-west-1").describe_key(KeyId="alias/aws/ebs")
    assert wsnaps["/dev/xvda"]["KmsKeyId"] == default["KeyMetadata"]["Arn"]
    assert wsnaps["/dev/xvda"]["DataEncryptionKeyId"] != root["DataEncryptionKeyId"]
    assert download(client("ebs", region="eu-west-1"), wsnaps["/dev/xvda"]["SnapshotId"],
                    len(data)) == data
    no_plaintext_in_home(data[:64])


def check_s3():
    ec2, ebs, kms = client("ec2"), client("ebs"), client("kms")
    k2 = key(kms, "k2")
    data = pattern("s3-root", 2 * BS)
    ami_u = base_image(ec2, ebs, data, "ami-u")
    before = len(ec2.describe_images()["Images"])
    fails("InvalidParameterDependency", ec2.copy_image, SourceImageId=ami_u,
          SourceRegion=REGION, Name="nope", KmsKeyId="alias/k2")
    assert len(ec2.describe_images()["Images"]) == before
    copied = copy(ec2, SourceImageId=ami_u, SourceRegion=REGION, Name="s3-k2",
                  Encrypted=True, KmsKeyId="alias/k2")
    _, snaps = snapshots_of(ec2, copied)
    root = snaps["/dev/xvda"]
    assert root["Encrypted"] and root["KmsKeyId"] == k2 and root["DataEncryptionKeyId"]
    kms.update_alias(AliasName="alias/k2", TargetKeyId=key(kms))
    assert snapshots_of(ec2, copied)[1]["/dev/xvda"]["KmsKeyId"] == k2
    _, src = snapshots_of(ec2, ami_u)
    assert src["/dev/xvda"]["Encrypted"] is False
    i = launch(ec2, ImageId=copied)["InstanceId"]
    vol = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [i]}])
    assert vol["Volumes"][0]["KmsKeyId"] == k2
    assert download(ebs, root["SnapshotId"], len(data)) == data
    default_copy = copy(ec2, SourceImageId=ami_u, SourceRegion=REGION, Name="s3-default",
                                  Encrypted=True)
    d = snapshots_of(ec2, default_copy)[1]["/dev/xvda"]
    assert d["KmsKeyId"] == kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
    # AMI-U's own snapshot is plaintext by design; both encrypted copies hold only ciphertext.
    no_plaintext_in_snapshot(root["SnapshotId"], data[:64])
    no_plaintext_in_snapshot(d["SnapshotId"], data[:64])


def check_s4():
    ec2, ebs, kms = client("ec2"), client("ebs"), client("kms")
    k1 = key(kms, "k1")
    data = pattern("s4-root", BS)
    ami_u = base_image(ec2, ebs, data, "ami-u")
    inst = launch(
        ec2, ImageId=ami_u,
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda",
                              "Ebs": {"Encrypted": True, "KmsKeyId": k1}}],
    )["InstanceId"]
    ami = ec2.create_image(InstanceId=inst, Name="s4-image", NoReboot=False)["ImageId"]
    # CreateImage answers at once; its snapshots are captured by a job, then the waiter.
    assert ec2.describe_images(ImageIds=[ami])["Images"][0]["State"] in ("pending", "available")
    ec2.get_waiter("image_available").wait(ImageIds=[ami], WaiterConfig={"Delay": 1})
    state = ec2.describe_instances(InstanceIds=[inst])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "running"
    root = state["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    snap = ec2.create_snapshot(VolumeId=root, Description="s4 root")
    assert snap["State"] == "pending" and snap["KmsKeyId"] == k1, snap
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snap["SnapshotId"]],
                                              WaiterConfig={"Delay": 1})
    assert download(ebs, snap["SnapshotId"], len(data)) == data
    img, snaps = snapshots_of(ec2, ami)
    assert snaps["/dev/xvda"]["KmsKeyId"] == k1
    assert img["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    assert download(ebs, snaps["/dev/xvda"]["SnapshotId"], len(data)) == data


def check_s5():
    ec2, ebs, kms = client("ec2"), client("ebs"), client("kms")
    k1, k2, k3, k4 = (key(kms, n) for n in ("k1", "k2", "k3", "k4"))
    data = pattern("s5-root", BS)
    ami_1k = base_image(ec2, ebs, data, "ami-1k", Encrypted=True, KmsKeyArn=k1)
    inst = launch(ec2, ImageId=ami_1k)
    iid, az = inst["InstanceId"], inst["Placement"]["AvailabilityZone"]
    for k, dev in ((k2, "/dev/sdf"), (k3, "/dev/sdg")):
        v = ec2.create_volume(AvailabilityZone=az, Size=1, Encrypted=True, KmsKeyId=k)
        assert v["State"] == "creating"
        ec2.get_waiter("volume_available").wait(VolumeIds=[v["VolumeId"]],
                                                WaiterConfig={"Delay": 1})
        ec2.attach_volume(VolumeId=v["VolumeId"], InstanceId=iid, Device=dev)
    ami_m = ec2.create_image(InstanceId=iid, Name="ami-m")["ImageId"]
    ec2.get_waiter("image_available").wait(ImageIds=[ami_m], WaiterConfig={"Delay": 1})
    _, snaps = snapshots_of(ec2, ami_m)
    assert {d: s["KmsKeyId"] for d, s in snaps.items()} == {
        "/dev/xvda": k1, "/dev/sdf": k2, "/dev/sdg": k3}
    same = copy(ec2, SourceImageId=ami_m, SourceRegion=REGION, Name="m-same")
    assert {d: s["KmsKeyId"] for d, s in snapshots_of(ec2, same)[1].items()} == {
        "/dev/xvda": k1, "/dev/sdf": k2, "/dev/sdg": k3}
    one = copy(ec2, SourceImageId=ami_m, SourceRegion=REGION, Name="m-k4", Encrypted=True,
                         KmsKeyId=k4)
    assert {s["KmsKeyId"] for s in snapshots_of(ec2, one)[1].values()} == {k4}
    fails("InvalidSnapshot.InUse", ec2.delete_snapshot, SnapshotId=snaps["/dev/sdf"]["SnapshotId"])
    ec2.deregister_image(ImageId=ami_m)
    ec2.delete_snapshot(SnapshotId=snaps["/dev/sdf"]["SnapshotId"])
    assert download(ebs, snapshots_of(ec2, one)[1]["/dev/xvda"]["SnapshotId"], len(data)) == data


def check_bad_input():
    ec2, ebs, kms = client("ec2"), client("ebs"), client("kms")
    fails("InvalidAMIID.Malformed", ec2.describe_images, ImageIds=["ami-xyz"])
    fails("InvalidAMIID.NotFound", ec2.describe_images, ImageIds=["ami-0123456789abcdef0"])
    fails("InvalidVolume.NotFound", ec2.delete_volume, VolumeId="vol-0123456789abcdef0")
    fails("InvalidInstanceID.Malformed", ec2.terminate_instances, InstanceIds=["i-nope"])
    fails("DryRunOperation", ec2.describe_images, DryRun=True)
    fails("NotFoundException", kms.describe_key, KeyId="alias/missing")
    k = key(kms)
    kms.disable_key(KeyId=k)
    fails("DisabledException", kms.encrypt, KeyId=k, Plaintext=b"x")
    data = pattern("bad", BS)
    base = base_image(ec2, ebs, data, "bad-base")
    fails("InvalidAMIName.Duplicate", ec2.register_image, Name="bad-base",
          RootDeviceName="/dev/xvda",
          BlockDeviceMappings=[{"DeviceName": "/dev/xvda",
                                "Ebs": {"SnapshotId": snapshots_of(ec2, base)[1]["/dev/xvda"]["SnapshotId"]}}])
    # A disabled key: the copy is admitted, then the image fails as AWS shows it.
    failed = ec2.copy_image(SourceImageId=base, SourceRegion=REGION, Name="with-disabled",
                            Encrypted=True, KmsKeyId=k)["ImageId"]
    img = ec2.describe_images(ImageIds=[failed])["Images"][0]
    assert img["State"] == "failed" and img["StateReason"]["Code"], img
    try:
        ec2.get_waiter("image_available").wait(ImageIds=[failed], WaiterConfig={"Delay": 1})
        raise AssertionError("the waiter must fail on a failed image")
    except WaiterError:
        pass
    # The EBS direct APIs check every block.
    sid = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
    block = b"\1" * BS
    fails("ValidationException", ebs.put_snapshot_block, SnapshotId=sid, BlockIndex=0,
          BlockData=block, DataLength=BS, ChecksumAlgorithm="SHA256",
          Checksum=base64.b64encode(hashlib.sha256(b"other").digest()).decode())
    fails("ResourceNotFoundException", ebs.list_snapshot_blocks,
          SnapshotId="snap-0123456789abcdef0")
    fails("ValidationException", ebs.list_snapshot_blocks, SnapshotId=sid)
    # An unknown parameter, sent raw.
    status, body = raw("ec2", "Action=DescribeImages&Version=2016-11-15&Bogus=1")
    assert status == 400 and b"<Code>UnknownParameter</Code>" in body, body
    status, body = raw("ec2", "Action=LaunchRockets&Version=2016-11-15")
    assert status == 400 and b"<Code>InvalidAction</Code>" in body, body
    status, body = raw("kms", b"{not json", target="TrentService.ListKeys")
    assert status == 400 and json.loads(body)["__type"] == "SerializationException", body


def raw(service, body, target=None, key="test", secret="test", region=REGION):
    """Sends a hand-made signed request; returns (status, body)."""
    import urllib.request
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    if target:
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}
    data = body.encode() if isinstance(body, str) else body
    req = AWSRequest(method="POST", url=URL + "/", data=data, headers=headers)
    SigV4Auth(Credentials(key, secret), service, region).add_auth(req)
    prepared = req.prepare()
    r = urllib.request.Request(URL + "/", data=data, headers=dict(prepared.headers), method="POST")
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def check_sigv4():
    ec2, kms = client("ec2"), client("kms")
    before = len(kms.list_keys()["Keys"])
    fails("AuthFailure", client("ec2", secret="wrong").describe_images)
    fails("AuthFailure", client("ec2", key="AKIANOBODY0000000000").describe_images)
    fails("InvalidSignatureException", client("kms", secret="wrong").create_key)
    fails("UnrecognizedClientException", client("kms", key="AKIANOBODY0000000000").create_key)
    fails("InvalidClientTokenId", client("sts", key="AKIANOBODY0000000000").get_caller_identity)
    fails("SignatureDoesNotMatch", client("sts", secret="wrong").get_caller_identity)
    assert len(kms.list_keys()["Keys"]) == before, "a refused request changed nothing"
    status, body = raw("ec2", "Action=DescribeImages&Version=2016-11-15", secret="nope")
    assert status == 401 and b"AuthFailure" in body
    # Access keys of another user sign as that user.
    subprocess.run([BIN, "--home", HOME, "iam", "create-user", "--user-name", "alice"],
                   check=True, capture_output=True)
    made = json.loads(subprocess.run(
        [BIN, "--home", HOME, "iam", "create-access-key", "--user-name", "alice"],
        check=True, capture_output=True).stdout)["AccessKey"]
    alice = client("sts", key=made["AccessKeyId"], secret=made["SecretAccessKey"])
    assert alice.get_caller_identity()["Arn"].endswith(":user/alice")
    subprocess.run([BIN, "--home", HOME, "iam", "update-access-key", "--user-name", "alice",
                    "--access-key-id", made["AccessKeyId"], "--status", "Inactive"],
                   check=True, capture_output=True)
    fails("InvalidClientTokenId", alice.get_caller_identity)
    assert ec2.describe_images()["Images"] == []


def check_concurrent():
    """16 clients at once, each making a key, two encrypted volumes and describing: nothing lost."""
    def worker(n):
        kms, ec2 = client("kms"), client("ec2")
        arn = key(kms, f"c{n}")
        made = []
        for _ in range(2):
            v = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, Encrypted=True,
                                  KmsKeyId=f"alias/c{n}")
            assert v["KmsKeyId"] == arn
            made.append(v["VolumeId"])
            ec2.describe_volumes()
        return arn, made

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(worker, range(16)))
    ec2 = client("ec2")
    vols = {v["VolumeId"]: v for v in ec2.describe_volumes()["Volumes"]}
    assert len(vols) == 32, len(vols)
    for arn, made in results:
        for v in made:
            assert vols[v]["KmsKeyId"] == arn
    assert len(client("kms").list_aliases()["Aliases"]) >= 16


def check_pagination():
    ec2, kms = client("ec2"), client("kms")
    made = sorted(ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
                  for _ in range(12))
    pages = list(ec2.get_paginator("describe_volumes").paginate(
        PaginationConfig={"PageSize": 5}))
    assert [len(p["Volumes"]) for p in pages] == [5, 5, 2], [len(p["Volumes"]) for p in pages]
    assert sorted(v["VolumeId"] for p in pages for v in p["Volumes"]) == made
    fails("InvalidParameterCombination", ec2.describe_volumes, VolumeIds=made[:1], MaxResults=5)
    for n in range(7):
        key(kms, f"p{n}")
    pages = list(kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["Keys"]) for p in pages] == [3, 3, 1]
    aliases = [a for p in kms.get_paginator("list_aliases").paginate(
        PaginationConfig={"PageSize": 2}) for a in p["Aliases"]]
    assert {f"alias/p{n}" for n in range(7)} <= {a["AliasName"] for a in aliases}


def check_aws_cli():
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_DEFAULT_REGION=REGION, AWS_ENDPOINT_URL=URL, AWS_PAGER="")
    env.pop("AWS_PROFILE", None)
    aws = [os.path.join(os.path.dirname(sys.executable), "aws")]

    def run(*args):
        p = subprocess.run(aws + list(args), env=env, capture_output=True, text=True)
        assert p.returncode == 0, f"aws {' '.join(args)}: {p.stderr}"
        return json.loads(p.stdout) if p.stdout.strip() else None

    k = run("kms", "create-key", "--description", "cli")["KeyMetadata"]
    run("kms", "create-alias", "--alias-name", "alias/cli", "--target-key-id", k["KeyId"])
    v = run("ec2", "create-volume", "--availability-zone", "us-east-1b", "--size", "2",
            "--encrypted", "--kms-key-id", "alias/cli")
    assert v["KmsKeyId"] == k["Arn"] and v["Size"] == 2
    run("ec2", "wait", "volume-available", "--volume-ids", v["VolumeId"])
    ids = run("ec2", "describe-volumes", "--filters", "Name=encrypted,Values=true",
              "--query", "Volumes[].VolumeId")
    assert ids == [v["VolumeId"]]
    p = subprocess.run(aws + ["ec2", "describe-images", "--image-ids", "ami-0123456789abcdef0"],
                       env=env, capture_output=True, text=True)
    # awscli 1.x exits 255 on a service error (2.x: 254).
    assert p.returncode in (254, 255) and "InvalidAMIID.NotFound" in p.stderr, p.stderr
    me = run("sts", "get-caller-identity")
    assert me["Arn"].endswith(":user/admin")



def check_launch_params():
    ec2, ebs = client("ec2"), client("ebs")
    image_id = base_image(ec2, ebs, pattern("launch", BS), name="launch")
    first = launch(ec2, ImageId=image_id, InstanceType="t3.micro")
    sg = first["SecurityGroups"][0]["GroupId"]
    assert first["SecurityGroups"][0]["GroupName"] == "default", first
    inst = launch(ec2, ImageId=image_id, InstanceType="t3.micro", KeyName="MyKeyPair",
                  SecurityGroupIds=[sg], SubnetId=first["SubnetId"], UserData="echo hi",
                  Monitoring={"Enabled": True}, ClientToken="launch-params-1")
    shown = ec2.describe_instances(InstanceIds=[inst["InstanceId"]])
    i = shown["Reservations"][0]["Instances"][0]
    assert i["KeyName"] == "MyKeyPair" and i["InstanceType"] == "t3.micro", i
    assert i["VpcId"] == first["VpcId"] and i["SubnetId"] == first["SubnetId"], i
    assert i["PrivateIpAddress"] == "172.31.0.5", i
    assert i["PrivateDnsName"] == "ip-172-31-0-5.ec2.internal", i
    assert i["Monitoring"]["State"] == "enabled" and i["Architecture"] == "x86_64", i
    assert i["NetworkInterfaces"][0]["Groups"][0]["GroupId"] == sg, i
    again = ec2.run_instances(ImageId=image_id, InstanceType="t3.micro", KeyName="MyKeyPair",
                              SecurityGroupIds=[sg], SubnetId=first["SubnetId"],
                              UserData="echo hi", Monitoring={"Enabled": True},
                              MinCount=1, MaxCount=1, ClientToken="launch-params-1")
    assert again["Instances"][0]["InstanceId"] == inst["InstanceId"], again
    fails("IdempotentParameterMismatch", ec2.run_instances, ImageId=image_id,
          InstanceType="t3.small", MinCount=1, MaxCount=1, ClientToken="launch-params-1")
    e = fails("InvalidParameterValue", ec2.run_instances, ImageId=image_id,
              InstanceType="zz.huge", MinCount=1, MaxCount=1)
    assert "Invalid value 'zz.huge' for InstanceType." in str(e), e
    fails("InvalidGroup.NotFound", ec2.run_instances, ImageId=image_id, MinCount=1, MaxCount=1,
          SecurityGroupIds=["sg-0b0384b66d7d692f9"])
    found = ec2.describe_instances(Filters=[{"Name": "key-name", "Values": ["MyKeyPair"]},
                                            {"Name": "instance.group-id", "Values": [sg]}])
    assert [x["InstanceId"] for r in found["Reservations"] for x in r["Instances"]] \
        == [inst["InstanceId"]], found
    v = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8, VolumeType="gp3",
                          Iops=4000, Throughput=500)
    assert (v["Iops"], v["Throughput"]) == (4000, 500), v
    fails("InvalidParameterValue", ec2.create_volume, AvailabilityZone="us-east-1a", Size=8,
          VolumeType="gp3", Throughput=1000)
    fails("MissingParameter", ec2.create_volume, AvailabilityZone="us-east-1a", Size=8,
          VolumeType="io2")
    arm = ec2.register_image(
        Name="arm", RootDeviceName="/dev/xvda", Architecture="arm64", EnaSupport=True,
        BootMode="uefi", VirtualizationType="hvm",
        BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": upload(ebs, pattern("arm", BS))}},
            {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"}])["ImageId"]
    img = ec2.describe_images(Filters=[{"Name": "architecture", "Values": ["arm64"]}])["Images"]
    assert [x["ImageId"] for x in img] == [arm], img
    assert img[0]["BootMode"] == "uefi" and img[0]["EnaSupport"] is True, img
    assert img[0]["BlockDeviceMappings"][1] == {"DeviceName": "/dev/sdb",
                                                "VirtualName": "ephemeral0"}, img
    fails("InvalidParameterValue", ec2.run_instances, ImageId=arm, InstanceType="m5.large",
          MinCount=1, MaxCount=1)


def check_tags():
    ec2, ebs, kms = client("ec2"), client("ebs"), client("kms")
    ami = base_image(ec2, ebs, pattern("TAGS", BS), name="tagged")
    vol = ec2.create_volume(
        AvailabilityZone="us-east-1a", Size=1,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "team", "Value": "db"}]}],
    )
    assert vol["Tags"] == [{"Key": "team", "Value": "db"}], vol
    ec2.get_waiter("volume_available").wait(VolumeIds=[vol["VolumeId"]],
                                            WaiterConfig={"Delay": 1})
    ec2.create_tags(Resources=[ami, vol["VolumeId"]],
                    Tags=[{"Key": "Stack", "Value": "production"}, {"Key": "webserver"}])
    img = ec2.describe_images(ImageIds=[ami])["Images"][0]
    assert sorted(img["Tags"], key=lambda t: t["Key"]) == [
        {"Key": "Stack", "Value": "production"}, {"Key": "webserver", "Value": ""}], img
    got = ec2.describe_volumes(Filters=[{"Name": "tag:team", "Values": ["d*"]}])["Volumes"]
    assert [v["VolumeId"] for v in got] == [vol["VolumeId"]]
    tags = [t for p in ec2.get_paginator("describe_tags").paginate(
        Filters=[{"Name": "key", "Values": ["Stack", "team", "webserver"]}],
        PaginationConfig={"PageSize": 5}) for t in p["Tags"]]
    assert sorted((t["ResourceId"], t["Key"], t["ResourceType"]) for t in tags) == sorted([
        (ami, "Stack", "image"), (ami, "webserver", "image"),
        (vol["VolumeId"], "Stack", "volume"), (vol["VolumeId"], "team", "volume"),
        (vol["VolumeId"], "webserver", "volume")]), tags
    ec2.delete_tags(Resources=[ami], Tags=[{"Key": "webserver", "Value": ""}])
    ec2.delete_tags(Resources=[vol["VolumeId"]])
    assert ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [vol["VolumeId"]]}])[
        "Tags"] == []
    fails("InvalidParameterValue", ec2.create_tags, Resources=[ami],
          Tags=[{"Key": "aws:x", "Value": "v"}])
    fails("InvalidAMIID.NotFound", ec2.create_tags, Resources=["ami-0123456789abcdef0"],
          Tags=[{"Key": "k", "Value": "v"}])
    fails("TagLimitExceeded", ec2.create_tags, Resources=[ami],
          Tags=[{"Key": f"k{i}", "Value": ""} for i in range(50)])
    fails("InvalidParameterValue", ec2.create_volume, AvailabilityZone="us-east-1a", Size=1,
          TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "a", "Value": "b"}]}])
    inst = launch(ec2, ImageId=ami, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]},
        {"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "web-root"}]}])
    assert inst["Tags"] == [{"Key": "Name", "Value": "web"}], inst
    found = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["web"]}])
    assert [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]] == [
        inst["InstanceId"]]

    k = kms.create_key(Tags=[{"TagKey": "Purpose", "TagValue": "Test"}])["KeyMetadata"]
    kms.tag_resource(KeyId=k["Arn"], Tags=[{"TagKey": "Dept", "TagValue": "IT"}])
    assert kms.list_resource_tags(KeyId=k["KeyId"]) | {"ResponseMetadata": None} == {
        "Tags": [{"TagKey": "Dept", "TagValue": "IT"}, {"TagKey": "Purpose", "TagValue": "Test"}],
        "Truncated": False, "ResponseMetadata": None}
    kms.untag_resource(KeyId=k["KeyId"], TagKeys=["Purpose"])
    assert kms.list_resource_tags(KeyId=k["KeyId"])["Tags"] == [
        {"TagKey": "Dept", "TagValue": "IT"}]
    fails("TagException", kms.tag_resource, KeyId=k["KeyId"],
          Tags=[{"TagKey": "aws:x", "TagValue": "v"}])
    kms.schedule_key_deletion(KeyId=k["KeyId"], PendingWindowInDays=7)
    fails("KMSInvalidStateException", kms.untag_resource, KeyId=k["KeyId"], TagKeys=["Dept"])

    # The AWS CLI documentation's examples, with only the endpoint and the ids changed.
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_DEFAULT_REGION=REGION, AWS_ENDPOINT_URL=URL, AWS_PAGER="")
    env.pop("AWS_PROFILE", None)
    aws = [os.path.join(os.path.dirname(sys.executable), "aws")]

    def run(*args):
        p = subprocess.run(aws + list(args), env=env, capture_output=True, text=True)
        assert p.returncode == 0, f"aws {' '.join(args)}: {p.stderr}"
        return json.loads(p.stdout) if p.stdout.strip() else None

    i = inst["InstanceId"]
    assert run("ec2", "create-tags", "--resources", ami, i,
               "--tags", "Key=webserver,Value=", "Key=stack,Value=Production") is None
    run("ec2", "create-tags", "--resources", i, "--tags", 'Key="[Group]",Value=test')
    out = run("ec2", "describe-tags", "--filters", f"Name=resource-id,Values={i}")
    assert sorted((t["Key"], t["Value"]) for t in out["Tags"]) == [
        ("Name", "web"), ("[Group]", "test"), ("stack", "Production"), ("webserver", "")], out
    assert all(set(t) == {"Key", "Value", "ResourceId", "ResourceType"} for t in out["Tags"])
    out = run("ec2", "describe-tags", "--filters", "Name=resource-type,Values=instance",
              "Name=key,Values=webserver", "Name=value,Values=")
    assert [(t["ResourceId"], t["Key"]) for t in out["Tags"]] == [(i, "webserver")], out
    run("ec2", "delete-tags", "--resources", i, ami, "--tags", "Key=stack")
    run("ec2", "delete-tags", "--resources", i, "--tags", "Key=webserver,Value=")
    out = run("ec2", "describe-tags", "--filters", "Name=key,Values=stack,webserver")
    assert [(t["ResourceId"], t["Key"]) for t in out["Tags"]] == [(ami, "webserver")], out
    k2 = run("kms", "create-key")["KeyMetadata"]["KeyId"]
    assert run("kms", "tag-resource", "--key-id", k2, "--tags",
               "TagKey=Purpose,TagValue=Test", "TagKey=Dept,TagValue=IT") is None
    listed = run("kms", "list-resource-tags", "--key-id", k2)
    assert listed["Tags"] == [
        {"TagKey": "Dept", "TagValue": "IT"}, {"TagKey": "Purpose", "TagValue": "Test"}], listed
    assert listed.get("Truncated", False) is False, listed
    run("kms", "untag-resource", "--key-id", k2, "--tag-key", "Purpose")
    assert run("kms", "list-resource-tags", "--key-id", k2)["Tags"] == [
        {"TagKey": "Dept", "TagValue": "IT"}]


def check_import_snapshot():
    """ImportSnapshot with AWS's DiskContainer runs as a task; snapshot_imported waits for it."""
    ec2 = client("ec2")
    data = pattern("API-IMPORT", 3 << 20)
    with tempfile.NamedTemporaryFile(suffix=".raw", delete=False) as f:
        f.write(data)
        path = f.name
    try:
        _import_snapshot(ec2, data, path)
    finally:
        os.remove(path)


def _import_snapshot(ec2, data, path):
    url = "file://" + path
    fails("InvalidParameter", ec2.import_snapshot,
          DiskContainer={"Format": "RAW", "UserBucket": {"S3Bucket": "b", "S3Key": "k"}})
    # Only files under the server's --import-dir (the temporary folder here), however named.
    outside = "/etc/hostname" if os.path.isfile("/etc/hostname") else "/etc/passwd"
    for named in ("file://" + outside, outside,
                  "file://" + os.path.dirname(path) + "/../" + outside.lstrip("/")):
        fails("UnsupportedOperation", ec2.import_snapshot,
              DiskContainer={"Format": "RAW", "Url": named})
    r = ec2.import_snapshot(Description="api", DiskContainer={"Format": "RAW", "Url": url})
    tid = r["ImportTaskId"]
    assert tid.startswith("import-snap-") and len(tid) == 29, r
    d = r["SnapshotTaskDetail"]
    assert d["Status"] == "active" and d["StatusMessage"] == "pending", d
    assert d["Format"] == "RAW" and d["Url"] == url and d["DiskImageSize"] == float(len(data)), d
    assert "SnapshotId" not in d, d
    ec2.get_waiter("snapshot_imported").wait(ImportTaskIds=[tid],
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    t = ec2.describe_import_snapshot_tasks(ImportTaskIds=[tid])["ImportSnapshotTasks"][0]
    d = t["SnapshotTaskDetail"]
    assert d["Status"] == "completed" and t["Description"] == "api", t
    sid = d["SnapshotId"]
    snap = ec2.describe_snapshots(SnapshotIds=[sid])["Snapshots"][0]
    assert snap["State"] == "completed" and snap["VolumeSize"] == 1, snap
    ebs = client("ebs")
    assert download(ebs, sid, len(data)) == data
    # A file that is not in the format named: the task ends deleted with AWS's message.
    bad = ec2.import_snapshot(DiskContainer={"Format": "VHD", "Url": url})["ImportTaskId"]
    for _ in range(600):
        t = ec2.describe_import_snapshot_tasks(ImportTaskIds=[bad])["ImportSnapshotTasks"][0]
        if t["SnapshotTaskDetail"]["Status"] != "active":
            break
        time.sleep(0.1)
    d = t["SnapshotTaskDetail"]
    assert d["Status"] == "deleted", d
    assert d["StatusMessage"].startswith(
        "ClientError: Disk validation failed [Unsupported Specified FileFormat]"), d


def check_kms_datakeys():
    """Data keys, ReEncrypt, GenerateRandom, retiring grants and key rotation through boto3, and
    a failed encrypted copy shown as AWS shows it."""
    kms, ec2, ebs = client("kms"), client("ec2"), client("ebs")
    k1, k2 = key(kms, "ExampleAlias"), key(kms)
    dk = kms.generate_data_key(KeyId="alias/ExampleAlias", KeySpec="AES_256",
                               EncryptionContext={"purpose": "test"})
    assert dk["KeyId"] == k1 and len(dk["Plaintext"]) == 32 and len(dk["KeyMaterialId"]) == 64
    back = kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"purpose": "test"})
    assert back["Plaintext"] == dk["Plaintext"] and back["KeyId"] == k1
    fails("InvalidCiphertextException", kms.decrypt, CiphertextBlob=dk["CiphertextBlob"])
    wp = kms.generate_data_key_without_plaintext(KeyId=k1, NumberOfBytes=64)
    assert "Plaintext" not in wp and len(kms.decrypt(CiphertextBlob=wp["CiphertextBlob"])["Plaintext"]) == 64

    ct = kms.encrypt(KeyId=k1, Plaintext=b"move me")["CiphertextBlob"]
    re = kms.re_encrypt(CiphertextBlob=ct, SourceKeyId=k1, DestinationKeyId=k2)
    assert re["SourceKeyId"] == k1 and re["KeyId"] == k2, re
    assert kms.decrypt(CiphertextBlob=re["CiphertextBlob"])["Plaintext"] == b"move me"
    fails("IncorrectKeyException", kms.re_encrypt, CiphertextBlob=ct, SourceKeyId=k2,
          DestinationKeyId=k2)
    r1, r2 = (kms.generate_random(NumberOfBytes=32)["Plaintext"] for _ in range(2))
    assert len(r1) == 32 and r1 != r2

    kms.update_key_description(KeyId=k2, Description="IT Department test key")
    assert kms.describe_key(KeyId=k2)["KeyMetadata"]["Description"] == "IT Department test key"

    me = client("sts").get_caller_identity()["Arn"]
    g = kms.create_grant(KeyId=k1, GranteePrincipal=me.replace(":user/admin", ":user/bob"),
                         Operations=["Decrypt"], RetiringPrincipal=me)
    listed = kms.list_retirable_grants(RetiringPrincipal=me)["Grants"]
    assert [x["GrantId"] for x in listed] == [g["GrantId"]] and listed[0]["KeyId"] == k1
    kms.retire_grant(GrantToken=g["GrantToken"])
    assert kms.list_grants(KeyId=k1)["Grants"] == []
    fails("InvalidGrantTokenException", kms.retire_grant, GrantToken=g["GrantToken"])

    assert kms.get_key_rotation_status(KeyId=k1)["KeyRotationEnabled"] is False
    kms.enable_key_rotation(KeyId=k1, RotationPeriodInDays=180)
    st = kms.get_key_rotation_status(KeyId=k1)
    assert st["KeyRotationEnabled"] and st["RotationPeriodInDays"] == 180 and st["NextRotationDate"]
    m0 = kms.describe_key(KeyId=k1)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert kms.rotate_key_on_demand(KeyId=k1)["KeyId"] == k1.rsplit("/", 1)[1]
    m1 = kms.describe_key(KeyId=k1)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert m0 != m1
    rots = kms.list_key_rotations(KeyId=k1)["Rotations"]
    assert [(r["RotationType"], r["KeyMaterialId"]) for r in rots] == [("ON_DEMAND", m1)], rots
    # Made before the rotation, still decrypts; new ones use the new material.
    assert kms.decrypt(CiphertextBlob=ct)["Plaintext"] == b"move me"
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"],
                       EncryptionContext={"purpose": "test"})["Plaintext"] == dk["Plaintext"]
    assert kms.generate_data_key(KeyId=k1, NumberOfBytes=16)["KeyMaterialId"] == m1
    kms.disable_key_rotation(KeyId=k1)
    assert kms.get_key_rotation_status(KeyId=k1)["KeyRotationEnabled"] is False
    ebs_key = kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
    assert kms.get_key_rotation_status(KeyId=ebs_key)["RotationPeriodInDays"] == 365
    fails("UnsupportedOperationException", kms.disable_key_rotation, KeyId=ebs_key)

    # A copy whose key is disabled fails; its snapshot still shows encrypted, the key, error.
    ami = base_image(ec2, ebs, pattern("kmsdk", BS), "kmsdk-src")
    kms.disable_key(KeyId=k2)
    fails("DisabledException", kms.generate_data_key, KeyId=k2, KeySpec="AES_256")
    copied = ec2.copy_image(SourceImageId=ami, SourceRegion=REGION, Name="kmsdk-copy",
                            Encrypted=True, KmsKeyId=k2)["ImageId"]
    try:
        ec2.get_waiter("image_available").wait(ImageIds=[copied], WaiterConfig={"Delay": 1})
        raise AssertionError("the copy under a disabled key became available")
    except WaiterError:
        pass
    img, snaps = snapshots_of(ec2, copied)
    root = snaps["/dev/xvda"]
    assert img["State"] == "failed", img["State"]
    assert root["State"] == "error" and root["Encrypted"] is True and root["KmsKeyId"] == k2, root
    assert root["StateMessage"], root


def check_sharing():
    """Two accounts of one home: A shares a CMK-encrypted AMI and its snapshot with B and grants
    B its key; B copies the snapshot to its own key; A revokes the grant and disables its key;
    B's copy still reads back, a new copy of A's original fails."""
    def bs(*args):
        p = subprocess.run([BIN, "--home", HOME] + list(args), capture_output=True, text=True)
        assert p.returncode == 0, f"blockseal {' '.join(args)}: {p.stderr}"
        return json.loads(p.stdout)

    b = bs("account", "create", "--name", "b")["Account"]["Id"]
    made = bs("--profile", "b:admin", "iam", "create-access-key")["AccessKey"]
    creds = {"key": made["AccessKeyId"], "secret": made["SecretAccessKey"]}
    me = client("sts", **creds).get_caller_identity()
    assert me["Account"] == b and me["Arn"] == f"arn:aws:iam::{b}:user/admin", me
    a_id = client("sts").get_caller_identity()["Account"]
    assert a_id != b
    a_ec2, a_ebs, a_kms = client("ec2"), client("ebs"), client("kms")
    b_ec2, b_ebs, b_kms = client("ec2", **creds), client("ebs", **creds), client("kms", **creds)

    data = pattern("SHARED-API", 3 * BS)
    k = key(a_kms)
    ami = base_image(a_ec2, a_ebs, data, name="shared", Encrypted=True, KmsKeyArn=k)
    _, snaps = snapshots_of(a_ec2, ami)
    root = snaps["/dev/xvda"]["SnapshotId"]
    fails("InvalidAMIID.NotFound", b_ec2.describe_images, ImageIds=[ami])
    assert b_ec2.describe_images()["Images"] == []

    a_ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": b}]})
    a_ec2.modify_snapshot_attribute(SnapshotId=root, Attribute="createVolumePermission",
                                    OperationType="add", UserIds=[b])
    lp = a_ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")
    assert lp["LaunchPermissions"] == [{"UserId": b}], lp
    pc = a_ec2.describe_image_attribute(ImageId=ami, Attribute="productCodes")
    pc.pop("ResponseMetadata")
    assert pc == {"ImageId": ami, "ProductCodes": []}, pc
    cv = a_ec2.describe_snapshot_attribute(SnapshotId=root, Attribute="createVolumePermission")
    assert cv["CreateVolumePermissions"] == [{"UserId": b}], cv
    seen = b_ec2.describe_images(ExecutableUsers=["self"])["Images"]
    assert [i["ImageId"] for i in seen] == [ami] and seen[0]["OwnerId"] == a_id, seen
    assert b_ec2.describe_images(Owners=["self"])["Images"] == []
    restorable = b_ec2.describe_snapshots(RestorableByUserIds=["self"])["Snapshots"]
    assert [s["SnapshotId"] for s in restorable] == [root], restorable
    fails("AuthFailure", b_ec2.deregister_image, ImageId=ami)
    fails("UnsupportedOperation", a_ec2.modify_image_attribute, ImageId=ami,
          LaunchPermission={"Add": [{"Group": "all"}]})

    grant = a_kms.create_grant(KeyId=k, GranteePrincipal=f"arn:aws:iam::{b}:root",
                               Operations=["Decrypt", "DescribeKey", "CreateGrant",
                                           "GenerateDataKeyWithoutPlaintext",
                                           "ReEncryptFrom", "ReEncryptTo"])
    kb = key(b_kms)
    mine = b_ec2.copy_snapshot(SourceSnapshotId=root, SourceRegion=REGION, Encrypted=True,
                               KmsKeyId=kb)["SnapshotId"]
    b_ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[mine], WaiterConfig={"Delay": 1})
    got = b_ec2.describe_snapshots(SnapshotIds=[mine])["Snapshots"][0]
    assert got["KmsKeyId"] == kb and got["OwnerId"] == b, got
    assert download(b_ebs, mine, len(data)) == data
    # B launches A's shared AMI: its volumes land on B's default key.
    inst = launch(b_ec2, ImageId=ami)
    vols = b_ec2.describe_volumes()["Volumes"]
    assert len(vols) == 1 and f":{b}:key/" in vols[0]["KmsKeyId"], vols
    assert a_ec2.describe_volumes()["Volumes"] == []

    a_kms.revoke_grant(KeyId=k, GrantId=grant["GrantId"])
    a_kms.disable_key(KeyId=k)
    assert download(b_ebs, mine, len(data)) == data
    again = b_ec2.copy_snapshot(SourceSnapshotId=root, SourceRegion=REGION, Encrypted=True,
                                KmsKeyId=kb)["SnapshotId"]
    try:
        b_ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[again],
                                                    WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        raise AssertionError("a copy of the original succeeded after the grant was revoked")
    except WaiterError:
        pass
    failed = b_ec2.describe_snapshots(SnapshotIds=[again])["Snapshots"][0]
    assert failed["State"] == "error", failed
    assert failed["StateMessage"] == "Given key ID is not accessible", failed
    b_ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])

    # Snapshots under aws/ebs are never shared.
    ebs_snap = upload(a_ebs, data, Encrypted=True)
    fails("OperationNotPermitted", a_ec2.modify_snapshot_attribute, SnapshotId=ebs_snap,
          Attribute="createVolumePermission", OperationType="add", UserIds=[b])
    a_ec2.reset_image_attribute(ImageId=ami, Attribute="launchPermission")
    fails("InvalidAMIID.NotFound", b_ec2.describe_images, ImageIds=[ami])
    assert download(b_ebs, mine, len(data)) == data


def check_permissions():
    """The permission matrix through the API: users made and given policies with IAM's API,
    each signing with its own access key; EC2, KMS and IAM answer as AWS does."""
    iam, kms, ec2 = client("iam"), client("kms"), client("ec2")
    acct = client("sts").get_caller_identity()["Account"]
    doc = lambda *stmts: json.dumps({"Version": "2012-10-17", "Statement": list(stmts)})
    policies = {
        "reader": doc({"Effect": "Allow", "Resource": "*",
                       "Action": ["ec2:Describe*", "ec2:Get*", "kms:Describe*", "kms:List*",
                                  "kms:Get*", "iam:Get*", "iam:List*"]}),
        "builder": doc({"Effect": "Allow", "Action": ["ec2:*", "kms:*"], "Resource": "*"},
                       {"Effect": "Deny", "Action": "ec2:ModifyEbsDefaultKmsKeyId", "Resource": "*"}),
        "plainonly": doc({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
                         {"Effect": "Deny", "Action": "ec2:CreateVolume", "Resource": "*",
                          "Condition": {"Bool": {"ec2:Encrypted": "true"}}}),
        "nobody": None,
    }
    clients = {"admin": lambda s: client(s)}
    for user, policy in policies.items():
        made = iam.create_user(UserName=user)["User"]
        assert made["Arn"] == f"arn:aws:iam::{acct}:user/{user}", made
        if policy:
            iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=policy)
            got = iam.get_user_policy(UserName=user, PolicyName="p")["PolicyDocument"]
            assert got == json.loads(policy), got  # botocore decodes IAM's URL-encoded document
        k = iam.create_access_key(UserName=user)["AccessKey"]
        clients[user] = (lambda k: lambda s: client(s, key=k["AccessKeyId"],
                                                    secret=k["SecretAccessKey"]))(k)
    assert iam.list_user_policies(UserName="reader")["PolicyNames"] == ["p"]
    assert sorted(u["UserName"] for u in iam.list_users()["Users"]) == \
        ["admin", "builder", "nobody", "plainonly", "reader"]
    fails("DeleteConflict", iam.delete_user, UserName="reader")
    fails("MalformedPolicyDocument", iam.put_user_policy, UserName="nobody", PolicyName="x",
          PolicyDocument="{}")
    kdef = kms.create_key(Description="K_DEF")["KeyMetadata"]["Arn"]
    only_admin = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:user/admin"},
        "Action": "kms:*", "Resource": "*"}]})
    kadm = kms.create_key(Description="K_ADMIN", Policy=only_admin)["KeyMetadata"]["Arn"]
    assert json.loads(kms.get_key_policy(KeyId=kadm, PolicyName="default")["Policy"]) == \
        json.loads(only_admin)
    assert kms.list_key_policies(KeyId=kdef)["PolicyNames"] == ["default"]
    fails("MalformedPolicyDocumentException", kms.put_key_policy, KeyId=kdef, PolicyName="default",
          Policy=only_admin.replace("user/admin", "user/reader"))

    vol = lambda **kw: lambda c: c("ec2").create_volume(AvailabilityZone="us-east-1a", Size=1, **kw)
    ops = {
        "describe-images": lambda c: c("ec2").describe_images(),
        "describe-volumes-dry": lambda c: c("ec2").describe_volumes(DryRun=True),
        "create-volume": vol(),
        "create-volume-encrypted": vol(Encrypted=True, KmsKeyId=kdef),
        "modify-default-key-dry": lambda c: c("ec2").modify_ebs_default_kms_key_id(
            KmsKeyId=kdef, DryRun=True),
        "list-keys": lambda c: c("kms").list_keys(),
        "describe-key": lambda c: c("kms").describe_key(KeyId=kdef),
        "describe-admins-key": lambda c: c("kms").describe_key(KeyId=kadm),
        "data-key": lambda c: c("kms").generate_data_key_without_plaintext(
            KeyId=kdef, NumberOfBytes=32),
        "get-key-policy": lambda c: c("kms").get_key_policy(KeyId=kdef, PolicyName="default"),
        "list-users": lambda c: c("iam").list_users(),
        "get-user": lambda c: c("iam").get_user(),
        "caller": lambda c: c("sts").get_caller_identity(),
    }
    U, K, I, D = "UnauthorizedOperation", "AccessDeniedException", "AccessDenied", "DryRunOperation"
    #          admin   reader  builder plainonly nobody
    table = {
        "describe-images":         [None, None, None, None, U],
        "describe-volumes-dry":    [D, D, D, D, U],
        "create-volume":           [None, U, None, None, U],
        "create-volume-encrypted": [None, U, None, U, U],
        "modify-default-key-dry":  [D, U, U, D, U],
        "list-keys":               [None, None, None, K, K],
        "describe-key":            [None, None, None, K, K],
        "describe-admins-key":     [None, K, K, K, K],
        "data-key":                [None, K, None, K, K],
        "get-key-policy":          [None, None, None, K, K],
        "list-users":              [None, None, I, I, I],
        "get-user":                [None, None, I, I, I],
        "caller":                  [None, None, None, None, None],
    }
    rows = 0
    for op, wants in table.items():
        for user, want in zip(["admin", "reader", "builder", "plainonly", "nobody"], wants):
            rows += 1
            if want is None:
                ops[op](clients[user])
            else:
                e = fails(want, ops[op], clients[user])
                if want == U:
                    msg = e.response["Error"]["Message"]
                    assert f"User: arn:aws:iam::{acct}:user/{user} is not authorized" in msg, msg
                    assert "Encoded authorization failure message: " in msg, msg
    assert rows == 65, rows
    # Each user is who it signs as.
    for user in ["reader", "nobody"]:
        me = clients[user]("sts").get_caller_identity()
        assert me["Arn"] == f"arn:aws:iam::{acct}:user/{user}" and me["Account"] == acct
        assert me["UserId"].startswith("AIDA")


CHECKS = {name[len("check_"):]: fn for name, fn in globals().items() if name.startswith("check_")}

if __name__ == "__main__":
    name = sys.argv[4]
    CHECKS[name]()
    if PROBLEMS:
        print("responses that do not fit the service model:", *PROBLEMS, sep="\n  ")
        sys.exit(1)
    print(f"{name}: ok")
