"""Pieces the data-tier components (and the cluster) share: identifiers, keys, port-scoped security groups."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from components.tags import Tags

_IDENTIFIER = re.compile(r"[a-z](-?[a-z0-9])*")


def identifier_problems(identifier: str, *, max_length: int) -> list[str]:
    """What is wrong with an RDS or ElastiCache identifier (both: a letter, then lowercase letters, digits
    and single hyphens, not ending in one). AWS lowercases what it stores, so an uppercase letter would
    show as a change on every refresh; it is refused here instead."""
    problems = []
    if not _IDENTIFIER.fullmatch(identifier):
        problems.append(
            f"identifier: must start with a letter and hold only lowercase letters, digits and single "
            f"hyphens, not ending in one, got {identifier!r}"
        )
    if len(identifier) > max_length:
        problems.append(f"identifier: must be at most {max_length} characters, got {len(identifier)}")
    return problems


def wiring_problems(
    identifier: str, allowed_security_group_ids: Mapping[str, pulumi.Input[str]], *, max_length: int
) -> list[str]:
    """What is wrong with where a data store goes and who may reach it."""
    problems = identifier_problems(identifier, max_length=max_length)
    if not allowed_security_group_ids:
        problems.append("allowed_security_group_ids: name at least one source; nothing could connect")
    return problems


def allowed_sources(
    node_security_group_id: pulumi.Input[str], extra_ids: list[str]
) -> dict[str, pulumi.Input[str]]:
    """Sources allowed in: the cluster's nodes, then each extra group keyed by its own (stable) ID."""
    return {"nodes": node_security_group_id, **{sg: sg for sg in extra_ids}}


def major_minor(version: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)\.(\d+)(\.\d+)?", version)
    if not match:
        raise ValueError(f"must be a version like '16.6', got {version!r}")
    return int(match[1]), int(match[2])


KEY_ADMINISTRATION = (
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
)
"""What the account's administrators may do to a key (AWS's "key administrators" statement): manage it,
grant it, describe it, but not encrypt or decrypt with it."""
LOGS_CONTEXT = "kms:EncryptionContext:aws:logs:arn"
"""The encryption context CloudWatch Logs sends: the ARN of the log group it encrypts for."""
KEY_USE = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey")
"""What using a key for data means."""
PUBLISH_TO_ENCRYPTED_TOPIC = ("kms:GenerateDataKey*", "kms:Decrypt")
"""What an AWS service must be allowed on a topic's key to publish to it (SNS developer guide)."""


def key_policy(
    account_id: str,
    region: str,
    *,
    services: Sequence[str] = (),
    log_groups: bool = False,
    publishers: Sequence[str] = (),
) -> dict[str, Any]:
    """An explicit key policy: the account administers the key (IAM policies decide who), and its principals
    use it only through the given AWS ``services`` (``kms:ViaService``), as the services' own managed keys
    allow. ``log_groups`` lets CloudWatch Logs use it for this account's log groups in ``region``, the only
    way a log group can be encrypted with a customer-managed key. ``publishers`` are AWS services (their
    principals, like ``cloudwatch``) that publish to an encrypted SNS topic under the key, for this account
    only: SNS's "compatibility between event sources from AWS services and encrypted topics"."""
    root = f"arn:aws:iam::{account_id}:root"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountAdministersTheKey",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": list(KEY_ADMINISTRATION),
            "Resource": "*",
        }
    ]
    if services:
        statements.append(
            {
                "Sid": "UseThroughTheServices",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": [*KEY_USE, "kms:CreateGrant"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": account_id,
                        "kms:ViaService": [f"{service}.{region}.amazonaws.com" for service in services],
                    }
                },
            }
        )
    if log_groups:
        statements.append(
            {
                "Sid": "CloudWatchLogsEncryptsTheAccountsLogGroups",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": [*KEY_USE],
                "Resource": "*",
                "Condition": {"ArnLike": {LOGS_CONTEXT: f"arn:aws:logs:{region}:{account_id}:log-group:*"}},
            }
        )
    if publishers:
        statements.append(
            {
                "Sid": "ServicesPublishToTopicsItEncrypts",
                "Effect": "Allow",
                "Principal": {"Service": [f"{service}.amazonaws.com" for service in publishers]},
                "Action": list(PUBLISH_TO_ENCRYPTED_TOPIC),
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def account_and_region(
    parent: pulumi.Resource, provider: aws.Provider | None = None
) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
    """The account ID and region the stack deploys into (``provider``'s, or the default provider's)."""
    invoke = pulumi.InvokeOutputOptions(parent=parent, provider=provider)
    return aws.get_caller_identity_output(opts=invoke).account_id, aws.get_region_output(opts=invoke).region


def customer_managed_key(
    parent: pulumi.Resource,
    name: str,
    *,
    description: str,
    alias: str,
    tags: Tags,
    protect: bool,
    services: Sequence[str] = (),
    log_groups: bool = False,
    publishers: Sequence[str] = (),
    provider: aws.Provider | None = None,
) -> aws.kms.Key:
    """A rotating KMS key with an alias and an explicit policy (:func:`key_policy`: used only through
    ``services``, by CloudWatch Logs, or by the AWS services that publish to a topic under it); protected
    with the data it encrypts, since losing it loses that. Made in ``provider``'s region, or the stack's."""
    account_id, region = account_and_region(parent, provider)
    key = aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=pulumi.Output.all(account_id, region).apply(
            lambda ids: json.dumps(
                key_policy(ids[0], ids[1], services=services, log_groups=log_groups, publishers=publishers)
            )
        ),
        tags=tags.for_resource(name),
        opts=pulumi.ResourceOptions(parent=parent, protect=protect, provider=provider),
    )
    aws.kms.Alias(
        name,
        name=alias,
        target_key_id=key.key_id,
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )
    return key


def security_group_for_port(
    parent: pulumi.Resource,
    name: str,
    *,
    vpc_id: pulumi.Input[str],
    port: int,
    sources: Mapping[str, pulumi.Input[str]],
    description: str,
    tags: Tags,
) -> aws.ec2.SecurityGroup:
    """A security group open on ``port`` (TCP) to each source group and nothing else.

    No egress rule: the data stores answer connections, which security groups let back out, and never
    open one of their own. The provider removes the allow-all egress AWS adds to a new group.
    """
    group = aws.ec2.SecurityGroup(
        name,
        description=description,
        vpc_id=vpc_id,
        tags=tags.for_resource(name),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    for key, source in sources.items():
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-{key}",
            security_group_id=group.id,
            referenced_security_group_id=source,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=f"{key} to port {port}",
            tags=tags.for_resource(f"{name}-from-{key}"),
            opts=pulumi.ResourceOptions(parent=parent),
        )
    return group
