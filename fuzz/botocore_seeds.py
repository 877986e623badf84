"""Writes seed inputs for the endpoint's fuzz targets from requests exactly as botocore builds
and signs them (the aws CLI and boto3 send these bytes): raw HTTP/1.1 for `http_request`, the
lenient text form for `api_request` and `sigv4`, and form bodies for `query_form`.

    python fuzz/botocore_seeds.py      # from the repository root, with botocore installed
"""

import datetime
import os
import sys
from unittest import mock

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
ENDPOINT = "http://127.0.0.1:8080"

CALLS = [
    ("ec2", "DescribeImages", {"ImageIds": ["ami-0123456789abcdef0"], "Owners": ["self"]}),
    ("ec2", "DescribeSnapshots", {"Filters": [{"Name": "encrypted", "Values": ["true"]}],
                                  "MaxResults": 5}),
    ("ec2", "CopyImage", {"SourceImageId": "ami-0123456789abcdef0", "SourceRegion": "us-east-1",
                          "Name": "copy", "Encrypted": True, "KmsKeyId": "alias/k2"}),
    ("ec2", "RunInstances", {"ImageId": "ami-0123456789abcdef0", "MinCount": 1, "MaxCount": 2,
                             "InstanceType": "t3.micro",
                             "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {
                                 "VolumeSize": 8, "Encrypted": True,
                                 "KmsKeyId": "arn:aws:kms:us-east-1:111122223333:key/"
                                             "1234abcd-12ab-34cd-56ef-1234567890ab"}}],
                             "Placement": {"AvailabilityZone": "us-east-1a"}}),
    ("ec2", "CreateVolume", {"AvailabilityZone": "us-east-1a", "Size": 8, "Encrypted": True,
                             "SnapshotId": "snap-0123456789abcdef0", "DryRun": True}),
    ("ec2", "AttachVolume", {"VolumeId": "vol-0123456789abcdef0",
                             "InstanceId": "i-0123456789abcdef0", "Device": "/dev/sdf"}),
    ("ec2", "ModifyEbsDefaultKmsKeyId", {"KmsKeyId": "alias/aws/ebs"}),
    ("ec2", "DescribeInstances", {"InstanceIds": ["i-0123456789abcdef0"],
                                  "Filters": [{"Name": "instance-state-name",
                                               "Values": ["running", "stopped"]}]}),
    ("kms", "CreateKey", {"Description": "fuzz", "KeyUsage": "ENCRYPT_DECRYPT"}),
    ("kms", "CreateAlias", {"AliasName": "alias/k2",
                            "TargetKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
    ("kms", "Encrypt", {"KeyId": "alias/k2", "Plaintext": b"hello",
                        "EncryptionContext": {"purpose": "test"}}),
    ("kms", "Decrypt", {"CiphertextBlob": b"\x01\x00\x04arn:" + bytes(40)}),
    ("kms", "CreateGrant", {"KeyId": "alias/k2", "GranteePrincipal":
                            "arn:aws:iam::111122223333:user/u",
                            "Operations": ["Decrypt", "CreateGrant"],
                            "Constraints": {"EncryptionContextSubset": {"a": "b"}}}),
    ("kms", "ListAliases", {"Limit": 10}),
    ("ebs", "StartSnapshot", {"VolumeSize": 8, "Encrypted": True, "KmsKeyArn":
                              "arn:aws:kms:us-east-1:111122223333:key/"
                              "1234abcd-12ab-34cd-56ef-1234567890ab",
                              "ClientToken": "token-1", "Timeout": 60}),
    ("ebs", "PutSnapshotBlock", {"SnapshotId": "snap-0123456789abcdef0", "BlockIndex": 3,
                                 "BlockData": b"\0" * 64, "DataLength": 64,
                                 "Checksum": "AAAA", "ChecksumAlgorithm": "SHA256",
                                 "Progress": 50}),
    ("ebs", "ListSnapshotBlocks", {"SnapshotId": "snap-0123456789abcdef0", "MaxResults": 100,
                                   "StartingBlockIndex": 2, "NextToken": "abc"}),
    ("ebs", "ListChangedBlocks", {"FirstSnapshotId": "snap-0123456789abcdef0",
                                  "SecondSnapshotId": "snap-0123456789abcdef1"}),
    ("ebs", "GetSnapshotBlock", {"SnapshotId": "snap-0123456789abcdef0", "BlockIndex": 1,
                                 "BlockToken": "tok"}),
    ("ebs", "CompleteSnapshot", {"SnapshotId": "snap-0123456789abcdef0",
                                 "ChangedBlocksCount": 3}),
    ("sts", "GetCallerIdentity", {}),
    ("iam", "CreateAccessKey", {"UserName": "u"}),
]


def prepared(session, service, op, params):
    client = session.create_client(service, region_name="us-east-1", endpoint_url=ENDPOINT,
                                   aws_access_key_id="test", aws_secret_access_key="test")
    model = client.meta.service_model.operation_model(op)
    request_dict = client._convert_to_request_dict(params, model, ENDPOINT, context={})
    request = AWSRequest(method=request_dict["method"], url=request_dict["url"],
                         data=request_dict["body"], headers=request_dict["headers"])
    credentials = session.get_credentials() or client._request_signer._credentials
    SigV4Auth(credentials, client.meta.service_model.signing_name, "us-east-1").add_auth(request)
    return request.prepare()


def write(target, name, data):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    session = botocore.session.Session()
    fixed = datetime.datetime(2026, 12, 1, 6, 0, 0)
    with mock.patch("botocore.auth.get_current_datetime", return_value=fixed):
        for service, op, params in CALLS:
            r = prepared(session, service, op, params)
            body = r.body or b""
            if isinstance(body, str):
                body = body.encode()
            target = r.url[len(ENDPOINT):] or "/"
            headers = [(k, v.decode() if isinstance(v, bytes) else v) for k, v in r.headers.items()]
            # Unsigned; botocore's carries the host's platform, which has no place in the corpus.
            headers = [(k, "Botocore/1.44.8" if k.lower() == "user-agent" else v)
                       for k, v in headers]
            if not any(k.lower() == "host" for k, _ in headers):
                headers.insert(0, ("Host", "127.0.0.1:8080"))
            head = "".join(f"{k}: {v}\r\n" for k, v in headers)
            name = f"botocore-{service}-{op}"
            raw = f"{r.method} {target} HTTP/1.1\r\n{head}".encode()
            if body and not any(k.lower() == "content-length" for k, _ in headers):
                raw += f"Content-Length: {len(body)}\r\n".encode()
            write("http_request", name, raw + b"\r\n" + body)
            text = f"{r.method} {target}\n" + "".join(f"{k}: {v}\n" for k, v in headers)
            write("api_request", name, text.encode() + b"\n" + body)
            write("sigv4", name, text.encode() + b"\n" + body)
            if service == "ec2":
                write("query_form", name, body)


if __name__ == "__main__":
    sys.exit(main())
