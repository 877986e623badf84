#!/usr/bin/env python3
"""Trimmed AWS service models for blockseal's HTTP endpoint.

The server's codec (server/src/codec/) decodes requests and encodes responses by walking the
same service models the AWS SDKs use. The full botocore models are tens of megabytes; this script
keeps only the operations blockseal serves, the shapes those operations reach (input, output and
error shapes, transitively) and the traits that change what goes on the wire. Documentation is
dropped.

Regenerate (from the workspace root, with botocore installed in .venv):

    .venv/bin/python server/model/extract.py

It also writes server/model/ec2-waiters.json: botocore's `waiters-2.json` for ec2, keeping the
waiters whose operation blockseal serves (the CLI's `ec2 wait` evaluates their acceptors).

The checked-in files were generated from botocore 1.44.8. A newer botocore may add members to
these shapes; regenerating is safe, and the codec's tests say whether anything it relies on moved.

Output format, one file per service (server/model/<service>.json, keys sorted, no whitespace):

    {"metadata": {protocol, apiVersion, targetPrefix?, jsonVersion?, signingName, endpointPrefix,
                  xmlNamespace?, serviceId},
     "operations": {Name: {name, http: {method, requestUri, responseCode?},
                           input?, output?, resultWrapper?, errors?}},
     "shapes": {Name: <botocore shape with the traits in SHAPE_KEYS; member references keep the
                       traits in MEMBER_KEYS>},
     "source": {botocore, generator}}
"""

import json
import os
import sys

import botocore
import botocore.loaders

SERVICES = {
    "ec2": (
        "2016-11-15",
        """AttachVolume CopyImage CopySnapshot CreateImage CreateSnapshot CreateTags CreateVolume
        DeleteSnapshot DeleteTags DeleteVolume DeregisterImage DescribeAccountAttributes
        DescribeAvailabilityZones DescribeImageAttribute DescribeImages
        DescribeImportSnapshotTasks DescribeInstances DescribeRegions DescribeSnapshotAttribute
        DescribeSnapshots DescribeTags DescribeVolumes DetachVolume DisableEbsEncryptionByDefault
        EnableEbsEncryptionByDefault GetEbsDefaultKmsKeyId GetEbsEncryptionByDefault
        ImportSnapshot ModifyEbsDefaultKmsKeyId ModifyImageAttribute ModifySnapshotAttribute
        RegisterImage ResetEbsDefaultKmsKeyId ResetImageAttribute ResetSnapshotAttribute
        RunInstances StartInstances StopInstances TerminateInstances""",
    ),
    "kms": (
        "2014-11-01",
        """CancelKeyDeletion CreateAlias CreateGrant CreateKey Decrypt DeleteAlias DescribeKey
        DisableKey DisableKeyRotation EnableKey EnableKeyRotation Encrypt GenerateDataKey
        GenerateDataKeyWithoutPlaintext GenerateRandom GetKeyPolicy GetKeyRotationStatus
        ListAliases ListGrants ListKeyPolicies ListKeyRotations ListKeys ListResourceTags
        ListRetirableGrants PutKeyPolicy ReEncrypt RetireGrant RevokeGrant RotateKeyOnDemand
        ScheduleKeyDeletion TagResource UntagResource UpdateAlias UpdateKeyDescription""",
    ),
    "sts": ("2011-06-15", "GetCallerIdentity"),
    "ebs": (
        "2019-11-02",
        """StartSnapshot PutSnapshotBlock CompleteSnapshot ListSnapshotBlocks ListChangedBlocks
        GetSnapshotBlock""",
    ),
    "iam": (
        "2010-05-08",
        """CreateUser GetUser ListUsers DeleteUser PutUserPolicy GetUserPolicy ListUserPolicies
        DeleteUserPolicy CreateAccessKey ListAccessKeys DeleteAccessKey UpdateAccessKey""",
    ),
}

METADATA_KEYS = [
    "protocol",
    "apiVersion",
    "targetPrefix",
    "jsonVersion",
    "signingName",
    "endpointPrefix",
    "xmlNamespace",
    "serviceId",
]

# Traits of a shape that the codec reads. A shape-level locationName (a few EC2 lists have one)
# is kept because botocore merges it under the member reference's own traits.
SHAPE_KEYS = {
    "type",
    "members",
    "required",
    "member",
    "key",
    "value",
    "enum",
    "min",
    "max",
    "pattern",
    "payload",
    "timestampFormat",
    "exception",
    "fault",
    "error",
    "sensitive",
    "locationName",
    "queryName",
    "flattened",
    "xmlNamespace",
    "streaming",
}

# Traits of a member reference ({"shape": ..., traits...}) that the codec reads.
MEMBER_KEYS = {
    "shape",
    "locationName",
    "queryName",
    "location",
    "flattened",
    "xmlNamespace",
    "idempotencyToken",
    "streaming",
    "jsonvalue",
    "timestampFormat",
}

# Traits dropped on purpose: prose and SDK-side hints that never change the bytes on the wire.
IGNORED_KEYS = {
    "documentation",
    "deprecated",
    "deprecatedMessage",
    "deprecatedSince",
    "box",
    "union",
}


def keep(obj, allowed, where, dropped):
    out = {}
    for key, value in obj.items():
        if key in allowed:
            out[key] = value
        elif key not in IGNORED_KEYS:
            dropped.add(f"{where}.{key}")
    return out


def member_ref(ref, where, dropped):
    return keep(ref, MEMBER_KEYS, where, dropped)


def trim_shape(name, shape, dropped):
    out = keep(shape, SHAPE_KEYS, name, dropped)
    if "members" in out:
        out["members"] = {
            m: member_ref(ref, f"{name}.{m}", dropped) for m, ref in shape["members"].items()
        }
    for key in ("member", "key", "value"):
        if key in out:
            out[key] = member_ref(shape[key], f"{name}.{key}", dropped)
    return out


def referenced(shape):
    refs = [ref["shape"] for ref in shape.get("members", {}).values()]
    refs += [shape[key]["shape"] for key in ("member", "key", "value") if key in shape]
    return refs


def extract(loader, service, version, operation_names):
    model = loader.load_service_model(service, "service-2", api_version=version)
    metadata = {k: model["metadata"][k] for k in METADATA_KEYS if k in model["metadata"]}
    metadata.setdefault("signingName", model["metadata"]["endpointPrefix"])

    dropped = set()
    operations = {}
    roots = []
    for name in operation_names:
        op = model["operations"][name]
        http = {
            k: op["http"][k] for k in ("method", "requestUri", "responseCode") if k in op["http"]
        }
        entry = {"name": name, "http": http}
        if "input" in op:
            entry["input"] = op["input"]["shape"]
            roots.append(entry["input"])
        if "output" in op:
            entry["output"] = op["output"]["shape"]
            roots.append(entry["output"])
            if "resultWrapper" in op["output"]:
                entry["resultWrapper"] = op["output"]["resultWrapper"]
        errors = [e["shape"] for e in op.get("errors", [])]
        if errors:
            entry["errors"] = errors
            roots.extend(errors)
        operations[name] = entry

    shapes = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in shapes:
            continue
        shape = model["shapes"][name]
        shapes[name] = trim_shape(name, shape, dropped)
        pending.extend(referenced(shape))

    for item in sorted(dropped):
        print(f"{service}: dropped unknown trait {item}", file=sys.stderr)
    return {
        "metadata": metadata,
        "operations": operations,
        "shapes": shapes,
        "source": {"botocore": botocore.__version__, "generator": "server/model/extract.py"},
    }


def waiters(loader, service, version, operation_names):
    model = loader.load_service_model(service, "waiters-2", api_version=version)
    served = set(operation_names)
    kept = {n: w for n, w in model["waiters"].items() if w["operation"] in served}
    return {
        "version": model["version"],
        "waiters": kept,
        "source": {"botocore": botocore.__version__, "generator": "server/model/extract.py"},
    }


def main():
    out_dir = os.path.dirname(os.path.abspath(__file__))
    loader = botocore.loaders.Loader()
    version, names = SERVICES["ec2"]
    trimmed = waiters(loader, "ec2", version, names.split())
    text = json.dumps(trimmed, sort_keys=True, indent=1) + "\n"
    path = os.path.join(out_dir, "ec2-waiters.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"{path}: {len(trimmed['waiters'])} waiters, {len(text)} bytes")
    for service, (version, names) in SERVICES.items():
        trimmed = extract(loader, service, version, names.split())
        text = json.dumps(trimmed, sort_keys=True, separators=(",", ":")) + "\n"
        path = os.path.join(out_dir, f"{service}.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print(
            f"{path}: {len(trimmed['operations'])} operations, "
            f"{len(trimmed['shapes'])} shapes, {len(text)} bytes"
        )


if __name__ == "__main__":
    main()
