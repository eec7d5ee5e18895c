"""Emulated S3: a bucket and each of its configurations (versioning, encryption, public-access block,
ownership, lifecycle, policy), created in the moto account (see ``core``).

moto 5.2.5 checks a bucket name's length only, takes lifecycle rules with zero days, and takes any bucket
policy; S3 refuses all three, so they are refused here first, as S3 words it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any

import pulumi

from offline.emulation.core import AwsEmulator, Outputs, handles, physical_name, refusal

Args = pulumi.runtime.MockResourceArgs

_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_problem(name: str) -> str | None:
    """Why S3 refuses ``name`` for a general purpose bucket (S3 User Guide, "General purpose bucket naming
    rules"), if it does."""
    if not 3 <= len(name) <= 63:
        return f"it must be 3 to 63 characters long, not {len(name)}"
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", name):
        return "only lowercase letters, digits, '.' and '-', beginning and ending with a letter or digit"
    if ".." in name:
        return "it may not hold two adjacent periods"
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        return "it may not be formatted as an IP address"
    reserved = [p for p in _RESERVED_PREFIXES if name.startswith(p)] + [
        s for s in _RESERVED_SUFFIXES if name.endswith(s)
    ]
    if reserved:
        return f"{reserved[0]!r} is reserved"
    return None


@handles("aws:s3/bucket:Bucket")
def _bucket(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    name = a.inputs.get("bucket") or physical_name(a.inputs.get("bucketPrefix") or a.name, 63).lower()
    problem = bucket_name_problem(name)
    if problem:
        raise refusal(a, "InvalidBucketName", f"The specified bucket is not valid: {name!r}: {problem}")
    s3 = e.client("s3")
    location = (
        {} if e.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": e.region}}
    )
    s3.create_bucket(Bucket=name, **location)
    if a.inputs.get("tags"):
        s3.put_bucket_tagging(
            Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in a.inputs["tags"].items()]}
        )
    return name, {
        "bucket": name,
        "arn": f"arn:aws:s3:::{name}",
        "bucketDomainName": f"{name}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{name}.s3.{e.region}.amazonaws.com",
        "region": e.region,
    }


@handles("aws:s3/bucketVersioning:BucketVersioning")
def _versioning(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    status = a.inputs["versioningConfiguration"]["status"]
    e.client("s3").put_bucket_versioning(
        Bucket=a.inputs["bucket"], VersioningConfiguration={"Status": status}
    )
    return a.inputs["bucket"], {}


@handles("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
def _encryption(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    rules = []
    for rule in a.inputs["rules"]:
        default = rule.get("applyServerSideEncryptionByDefault") or {}
        by_default = {"SSEAlgorithm": default.get("sseAlgorithm", "AES256")}
        if default.get("kmsMasterKeyId"):
            by_default["KMSMasterKeyID"] = default["kmsMasterKeyId"]
        rules.append(
            {
                "ApplyServerSideEncryptionByDefault": by_default,
                "BucketKeyEnabled": bool(rule.get("bucketKeyEnabled")),
            }
        )
    e.client("s3").put_bucket_encryption(
        Bucket=a.inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules}
    )
    return a.inputs["bucket"], {}


@handles("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
def _public_access_block(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    settings = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    e.client("s3").put_public_access_block(
        Bucket=a.inputs["bucket"],
        PublicAccessBlockConfiguration={
            key[0].upper() + key[1:]: bool(a.inputs.get(key)) for key in settings
        },
    )
    return a.inputs["bucket"], {}


@handles("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
def _ownership(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    ownership = a.inputs["rule"]["objectOwnership"]
    e.client("s3").put_bucket_ownership_controls(
        Bucket=a.inputs["bucket"], OwnershipControls={"Rules": [{"ObjectOwnership": ownership}]}
    )
    return a.inputs["bucket"], {}


def _api(value: Any) -> Any:
    """Engine-form keys (``noncurrentDays``) as S3's (``NoncurrentDays``), all the way down."""
    if isinstance(value, Mapping):
        return {key[0].upper() + key[1:]: _api(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_api(item) for item in value]
    return value


_LIFECYCLE_DAYS = (
    ("expiration", "days", "Expiration"),
    ("noncurrentVersionExpiration", "noncurrentDays", "NoncurrentVersionExpiration"),
    ("abortIncompleteMultipartUpload", "daysAfterInitiation", "AbortIncompleteMultipartUpload"),
)


def lifecycle_problems(rules: list[Mapping[str, Any]]) -> list[str]:
    """What S3 refuses in a lifecycle that moto takes: days that are not positive integers."""
    problems = []
    for rule in rules:
        for action, key, api in _LIFECYCLE_DAYS:
            days = (rule.get(action) or {}).get(key)
            if days is not None and days <= 0:
                problems.append(
                    f"rule {rule.get('id')!r}: '{key[0].upper() + key[1:]}' for {api} action must be a "
                    f"positive integer, got {days}"
                )
    return problems


@handles("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
def _lifecycle(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    rules = a.inputs["rules"]
    problems = lifecycle_problems(rules)
    if problems:
        raise refusal(a, "InvalidArgument", "; ".join(problems))
    api_rules = []
    for rule in rules:
        api_rule = _api({key: value for key, value in rule.items() if key not in ("id",)})
        api_rule["ID"] = rule["id"]
        if "Filter" in api_rule and not any(api_rule["Filter"].values()):
            # The provider sends an empty prefix, which is every object.
            api_rule["Filter"] = {"Prefix": ""}
        api_rules.append(api_rule)
    e.client("s3").put_bucket_lifecycle_configuration(
        Bucket=a.inputs["bucket"], LifecycleConfiguration={"Rules": api_rules}
    )
    return a.inputs["bucket"], {}


def bucket_policy_problem(bucket: str, document: Any) -> str | None:
    """Why S3 refuses a bucket policy: a statement with no principal, or a resource not of this bucket."""
    if not isinstance(document, Mapping):
        return "Policies must be valid JSON and the first byte must be '{'"
    statements = document.get("Statement")
    for statement in [statements] if isinstance(statements, Mapping) else list(statements or []):
        if "Principal" not in statement and "NotPrincipal" not in statement:
            return "Missing required field Principal"
        resources = statement.get("Resource")
        for resource in [resources] if isinstance(resources, str) else list(resources or []):
            if resource != f"arn:aws:s3:::{bucket}" and not resource.startswith(f"arn:aws:s3:::{bucket}/"):
                return "Policy has invalid resource"
    return None


@handles("aws:s3/bucketPolicy:BucketPolicy")
def _bucket_policy(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    bucket, text = a.inputs["bucket"], a.inputs["policy"]
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    problem = bucket_policy_problem(bucket, document)
    if problem:
        raise refusal(a, "MalformedPolicy", problem)
    e.client("s3").put_bucket_policy(Bucket=bucket, Policy=text)
    return bucket, {}
