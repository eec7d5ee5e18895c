"""The policy pack: each rule's pass and fail cases (and a pair that differs by one change), the stack
rules' relations and unknowns, the stacks against it, the offline preview's exit 3, the pulumi-policy pack
built from the rule table (served as the CLI starts it), and the replacement guard."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import runpy
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pulumi_kubernetes as k8s
import pulumi_policy
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy.proxy import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
    unknown_checking_proxy,
)

from offline import policy as offline_policy
from offline import summary
from offline.runner import PROJECT_DIR, Plan, RecordedResource, Secret, run_under_mocks, stack_file
from policy import guard
from policy.pack import PACK_NAME, policies, stack_resource
from policy.rules import (
    PEER_AUTHENTICATIONS,
    RULES,
    TAGGABLE,
    UNKNOWN,
    Enforcement,
    Rule,
    StackResource,
    StackRule,
)
from tests.conftest import Ran, offline_cli, preview_json, stack_plan
from tests.plans import edited, resource, sdk_takes_tags, stack_names

SG = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
EKS = "aws:eks/cluster:Cluster"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
RDS = "aws:rds/cluster:Cluster"
RDS_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
KMS = "aws:kms/key:Key"
LOGS = "aws:cloudwatch/logGroup:LogGroup"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
SECRET = "aws:secretsmanager/secret:Secret"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
SELECTION = "aws:backup/selection:Selection"
PASSWORD = "random:index/randomPassword:RandomPassword"
RELEASE = "kubernetes:helm.sh/v3:Release"
ADDON = "aws:eks/addon:Addon"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
NAMESPACE = "kubernetes:core/v1:Namespace"
PEER_AUTH = "kubernetes:security.istio.io/v1:PeerAuthentication"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"

BY_NAME = {rule.name: rule for rule in RULES}
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0b6c5f8e-1111-2222-3333-444455556666"
ALL_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
ENCRYPTED_DISK = [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "volumeSize": 50}}]
SECURE_AURORA = {"storageEncrypted": True, "kmsKeyId": KEY_ARN}
SECURE_REDIS = {"atRestEncryptionEnabled": True, "transitEncryptionEnabled": True}
HA_REDIS = {"numCacheClusters": 2, "automaticFailoverEnabled": True, "multiAzEnabled": True}
ROOT = "arn:aws:iam::123456789012:root"
KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Administer",
            "Effect": "Allow",
            "Principal": {"AWS": ROOT},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "ThroughRds",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": "rds.us-east-1.amazonaws.com"}},
        },
    ],
}
AUDIT_GROUP = {"name": "/aws/eks/platform-prod/cluster", "retentionInDays": 365}


def tags(stack: str, **overrides: str) -> dict[str, str]:
    return {"Project": "platform", "Stack": stack, "ManagedBy": "pulumi", "Name": "x", **overrides}


def key_policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def iam_policy(action: Any, resource: Any, effect: str = "Allow") -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": action, "Resource": resource}]}
    )


def mtls(mode: str | None, **ports: str) -> dict[str, Any]:
    spec: dict[str, Any] = {} if mode is None else {"mtls": {"mode": mode}}
    if ports:
        spec["portLevelMtls"] = {port: {"mode": value} for port, value in ports.items()}
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "spec": spec}


def labelled(level: str | None) -> dict[str, Any]:
    labels = {} if level is None else {"pod-security.kubernetes.io/enforce": level}
    return {"metadata": {"name": "apps", "labels": labels}}


TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:platform-prod-alarms"
ALARMED = {"alarmActions": [TOPIC_ARN], "okActions": [TOPIC_ARN], "actionsEnabled": True}

# (rule, resource type, inputs, stack); each complies.
PASSING: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "an alarm notifying a topic": ("alarm-actions", ALARM, ALARMED, "prod"),
    "an alarm whose actions are enabled by default": (
        "alarm-actions",
        ALARM,
        {"alarmActions": [TOPIC_ARN]},
        "dev",
    ),
    "a topic under our key": ("sns-topic-encrypted", TOPIC, {"kmsMasterKeyId": KEY_ARN}, "prod"),
    "ingress from a security group": (
        "no-public-ingress",
        INGRESS,
        {"referencedSecurityGroupId": "sg-1"},
        "dev",
    ),
    "ingress from the VPC": ("no-public-ingress", INGRESS, {"cidrIpv4": "10.0.0.0/16"}, "dev"),
    "inline ingress from a private range": (
        "no-public-ingress",
        SG,
        {"ingress": [{"cidrBlocks": ["10.0.0.0/8"]}]},
        "dev",
    ),
    "egress to everywhere": (
        "no-public-ingress",
        SG_RULE,
        {"type": "egress", "cidrBlocks": ["0.0.0.0/0"]},
        "dev",
    ),
    "secrets encrypted": (
        "eks-secrets-encryption",
        EKS,
        {"encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": KEY_ARN}}},
        "dev",
    ),
    "secrets encrypted, list form": (
        "eks-secrets-encryption",
        EKS,
        {"encryptionConfig": [{"resources": ["secrets"], "provider": {"keyArn": KEY_ARN}}]},
        "dev",
    ),
    "all five log types": ("eks-control-plane-logging", EKS, {"enabledClusterLogTypes": ALL_LOGS}, "dev"),
    "private endpoint in prod": (
        "eks-endpoint-access",
        EKS,
        {"vpcConfig": {"endpointPublicAccess": False}},
        "prod",
    ),
    "public endpoint for one range in dev": (
        "eks-endpoint-access",
        EKS,
        {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}},
        "dev",
    ),
    "IMDSv2": ("launch-template-imdsv2", LT, {"metadataOptions": {"httpTokens": "required"}}, "dev"),
    "no IMDS at all": (
        "launch-template-imdsv2",
        LT,
        {"metadataOptions": {"httpEndpoint": "disabled"}},
        "dev",
    ),
    "encrypted root volume": (
        "launch-template-ebs-encrypted",
        LT,
        {"blockDeviceMappings": ENCRYPTED_DISK},
        "dev",
    ),
    "encrypted as a boolean": (
        "launch-template-ebs-encrypted",
        LT,
        {
            "blockDeviceMappings": [
                {"ebs": {"encrypted": True}},
                {"deviceName": "/dev/sdb", "virtualName": "ephemeral0"},
            ]
        },
        "dev",
    ),
    "Aurora on our key": ("rds-storage-encrypted", RDS, SECURE_AURORA, "dev"),
    "IAM authentication": ("rds-iam-auth", RDS, {"iamDatabaseAuthenticationEnabled": True}, "dev"),
    "30 days in prod": ("rds-backup-retention", RDS, {"backupRetentionPeriod": 30}, "prod"),
    "7 days in staging": ("rds-backup-retention", RDS, {"backupRetentionPeriod": 7.0}, "staging"),
    "1 day in dev": ("rds-backup-retention", RDS, {"backupRetentionPeriod": 1}, "dev"),
    "private instance": ("rds-instance-private", RDS_INSTANCE, {"publiclyAccessible": False}, "dev"),
    "protected Aurora in prod": (
        "prod-deletion-protection",
        RDS,
        {"deletionProtection": True, "skipFinalSnapshot": False},
        "prod",
    ),
    "protected EKS in prod": ("prod-deletion-protection", EKS, {"deletionProtection": True}, "prod"),
    "unprotected in dev": (
        "prod-deletion-protection",
        RDS,
        {"deletionProtection": False, "skipFinalSnapshot": True},
        "dev",
    ),
    "encrypted Redis": (
        "elasticache-encryption",
        REDIS,
        {**SECURE_REDIS, "transitEncryptionMode": "required"},
        "dev",
    ),
    "AUTH token": ("elasticache-auth", REDIS, {"authToken": "s3cret"}, "dev"),
    "RBAC user groups": ("elasticache-auth", REDIS, {"userGroupIds": ["platform"]}, "dev"),
    "write-only AUTH token": (
        "elasticache-auth",
        REDIS,
        {"authTokenWo": "s3cret", "authTokenWoVersion": 1},
        "dev",
    ),
    "rotating key": ("kms-key-rotation", KMS, {"enableKeyRotation": True}, "dev"),
    "asymmetric key": ("kms-key-rotation", KMS, {"customerMasterKeySpec": "RSA_2048"}, "dev"),
    "a week of logs": ("log-group-retention", LOGS, {"retentionInDays": 7}, "dev"),
    "tagged": ("required-tags", VPC, {"tags": tags("dev")}, "dev"),
    "nothing to tag": ("required-tags", "aws:ec2/route:Route", {"destinationCidrBlock": "0.0.0.0/0"}, "dev"),
    "not an AWS resource": ("required-tags", NAMESPACE, {"tags": {}}, "dev"),
    "restricted namespace": ("namespace-pod-security", NAMESPACE, labelled("restricted"), "dev"),
    "baseline namespace": ("namespace-pod-security", NAMESPACE, labelled("baseline"), "dev"),
    "strict mTLS": ("istio-strict-mtls", PEER_AUTH, mtls("STRICT"), "dev"),
    "strict on a named port too": (
        "istio-strict-mtls",
        PEER_AUTH,
        mtls("STRICT", **{"8080": "STRICT"}),
        "dev",
    ),
    "node to node, every protocol": (
        "no-wide-port-ranges",
        INGRESS,
        {"ipProtocol": "-1", "referencedSecurityGroupId": "sg-1"},
        "dev",
    ),
    "a hundred ports": (
        "no-wide-port-ranges",
        INGRESS,
        {"ipProtocol": "tcp", "fromPort": 30000, "toPort": 30099, "cidrIpv4": "10.0.0.0/16"},
        "dev",
    ),
    "every ICMP type": (
        "no-wide-port-ranges",
        SG_RULE,
        {"type": "ingress", "protocol": "icmp", "fromPort": -1, "toPort": 255, "cidrBlocks": ["10.0.0.0/8"]},
        "dev",
    ),
    "inline, every protocol within the group": (
        "no-wide-port-ranges",
        SG,
        {"ingress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}]},
        "dev",
    ),
    "a wide egress rule": (
        "no-wide-port-ranges",
        SG_RULE,
        {"type": "egress", "protocol": "tcp", "fromPort": 0, "toPort": 65535, "cidrBlocks": ["0.0.0.0/0"]},
        "dev",
    ),
    "default group emptied": (
        "default-security-group-closed",
        DEFAULT_SG,
        {"ingress": [], "egress": []},
        "dev",
    ),
    "no public IPs": ("subnet-no-public-ip", SUBNET, {"mapPublicIpOnLaunch": False}, "dev"),
    "public IPs unset": ("subnet-no-public-ip", SUBNET, {"cidrBlock": "10.0.0.0/24"}, "dev"),
    "minor upgrades on": ("aurora-auto-minor-upgrade", RDS, {"autoMinorVersionUpgrade": True}, "dev"),
    "minor upgrades by AWS's default": ("aurora-auto-minor-upgrade", RDS_INSTANCE, {}, "dev"),
    "Performance Insights on our key": (
        "rds-performance-insights-cmk",
        RDS_INSTANCE,
        {"performanceInsightsEnabled": True, "performanceInsightsKmsKeyId": KEY_ARN},
        "dev",
    ),
    "no Performance Insights": ("rds-performance-insights-cmk", RDS_INSTANCE, {}, "dev"),
    "Redis across zones in prod": ("elasticache-multi-az-in-prod", REDIS, HA_REDIS, "prod"),
    "Redis shards with replicas in prod": (
        "elasticache-multi-az-in-prod",
        REDIS,
        {
            "replicasPerNodeGroup": 1,
            "numNodeGroups": 2,
            "automaticFailoverEnabled": True,
            "multiAzEnabled": True,
        },
        "prod",
    ),
    "one Redis node in dev": ("elasticache-multi-az-in-prod", REDIS, {"numCacheClusters": 1}, "dev"),
    "a key policy naming its principals": ("kms-key-policy", KMS, {"policy": json.dumps(KEY_POLICY)}, "dev"),
    "a key policy as a map": ("kms-key-policy", KMS, {"policy": KEY_POLICY}, "dev"),
    "log group on our key": ("log-group-cmk", LOGS, {"kmsKeyId": KEY_ARN}, "dev"),
    "EKS audit log a year in prod": ("audit-log-retention", LOGS, AUDIT_GROUP, "prod"),
    "Aurora log kept forever in prod": (
        "audit-log-retention",
        LOGS,
        {"name": "/aws/rds/cluster/platform-prod/postgresql"},
        "prod",
    ),
    "EKS audit log a week in dev": (
        "audit-log-retention",
        LOGS,
        {**AUDIT_GROUP, "retentionInDays": 7},
        "dev",
    ),
    "another log group a month in prod": (
        "audit-log-retention",
        LOGS,
        {"name": "/aws/elasticache/platform-prod/slow-log", "retentionInDays": 30},
        "prod",
    ),
    "secret on our key": ("secrets-cmk", SECRET, {"kmsKeyId": KEY_ARN}, "dev"),
    "a scoped role policy": (
        "iam-no-admin-wildcard",
        ROLE_POLICY,
        {"policy": iam_policy("s3:GetObject", "*")},
        "dev",
    ),
    "every action on one bucket": (
        "iam-no-admin-wildcard",
        ROLE_POLICY,
        {"policy": iam_policy("*", "arn:aws:s3:::platform")},
        "dev",
    ),
    "denying everything": (
        "iam-no-admin-wildcard",
        ROLE_POLICY,
        {"policy": iam_policy("*", "*", "Deny")},
        "dev",
    ),
    "an AWS managed policy attached": (
        "iam-no-admin-wildcard",
        ATTACHMENT,
        {"policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy", "role": "node"},
        "dev",
    ),
}

# (rule, resource type, inputs, stack, a text each message list must contain).
FAILING: dict[str, tuple[str, str, dict[str, Any], str, str]] = {
    "an alarm with no actions": (
        "alarm-actions",
        ALARM,
        {"okActions": [TOPIC_ARN]},
        "prod",
        "no alarmActions",
    ),
    "an alarm with an empty list of actions": (
        "alarm-actions",
        ALARM,
        {"alarmActions": []},
        "dev",
        "no alarmActions",
    ),
    "an alarm whose actions are disabled": (
        "alarm-actions",
        ALARM,
        {**ALARMED, "actionsEnabled": False},
        "prod",
        "actionsEnabled is false",
    ),
    "an unencrypted topic": ("sns-topic-encrypted", TOPIC, {"name": "alarms"}, "prod", "no kmsMasterKeyId"),
    "a topic under the AWS-managed key": (
        "sns-topic-encrypted",
        TOPIC,
        {"kmsMasterKeyId": "alias/aws/sns"},
        "prod",
        "the AWS-managed key",
    ),
    "ingress rule from anywhere": (
        "no-public-ingress",
        INGRESS,
        {"cidrIpv4": "0.0.0.0/0"},
        "dev",
        "cidrIpv4 is 0.0.0.0/0",
    ),
    "ingress rule from any IPv6": (
        "no-public-ingress",
        INGRESS,
        {"cidrIpv6": "::/0"},
        "dev",
        "cidrIpv6 is ::/0",
    ),
    "inline IPv6 ingress from anywhere": (
        "no-public-ingress",
        SG,
        {"ingress": [{"cidrBlocks": ["10.0.0.0/8"]}, {"ipv6CidrBlocks": ["::/0"]}]},
        "dev",
        "ingress[1].ipv6CidrBlocks[0] is ::/0",
    ),
    "default group open": (
        "no-public-ingress",
        DEFAULT_SG,
        {"ingress": [{"cidrBlocks": ["0.0.0.0/0"]}]},
        "dev",
        "ingress[0]",
    ),
    "security group rule from anywhere": (
        "no-public-ingress",
        SG_RULE,
        {"type": "ingress", "cidrBlocks": ["10.0.0.0/8", "0.0.0.0/0"]},
        "dev",
        "cidrBlocks[1] is 0.0.0.0/0",
    ),
    "no encryption config": ("eks-secrets-encryption", EKS, {}, "dev", "does not encrypt 'secrets'"),
    "encryption without a key": (
        "eks-secrets-encryption",
        EKS,
        {"encryptionConfig": {"resources": ["secrets"], "provider": {}}},
        "dev",
        "provider.keyArn",
    ),
    "two log types": (
        "eks-control-plane-logging",
        EKS,
        {"enabledClusterLogTypes": ["api", "audit"]},
        "dev",
        "lacks authenticator, controllerManager, scheduler",
    ),
    "endpoint public by default": (
        "eks-endpoint-access",
        EKS,
        {"vpcConfig": {}},
        "dev",
        "no publicAccessCidrs",
    ),
    "endpoint open to all": (
        "eks-endpoint-access",
        EKS,
        {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}},
        "staging",
        "publicAccessCidrs[0] is 0.0.0.0/0",
    ),
    "public endpoint in prod": (
        "eks-endpoint-access",
        EKS,
        {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}},
        "prod",
        "must be private",
    ),
    "IMDSv1 allowed": (
        "launch-template-imdsv2",
        LT,
        {"metadataOptions": {"httpTokens": "optional"}},
        "dev",
        "'optional'",
    ),
    "IMDS unset": ("launch-template-imdsv2", LT, {}, "dev", "'unset'"),
    "unencrypted root volume": (
        "launch-template-ebs-encrypted",
        LT,
        {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}]},
        "dev",
        "blockDeviceMappings[0] (/dev/xvda)",
    ),
    "no volumes declared": ("launch-template-ebs-encrypted", LT, {}, "dev", "no EBS blockDeviceMappings"),
    "Aurora unencrypted": ("rds-storage-encrypted", RDS, {"kmsKeyId": KEY_ARN}, "dev", "storageEncrypted"),
    "Aurora on the AWS key": ("rds-storage-encrypted", RDS, {"storageEncrypted": True}, "dev", "no kmsKeyId"),
    "no IAM authentication": ("rds-iam-auth", RDS, {}, "dev", "iamDatabaseAuthenticationEnabled"),
    "a week in prod": ("rds-backup-retention", RDS, {"backupRetentionPeriod": 7}, "prod", "at least 30"),
    "3 days in staging": ("rds-backup-retention", RDS, {"backupRetentionPeriod": 3}, "staging", "at least 7"),
    "Aurora's default day": ("rds-backup-retention", RDS, {}, "staging", "is 1 day(s)"),
    "retention as text": (
        "rds-backup-retention",
        RDS,
        {"backupRetentionPeriod": "30"},
        "prod",
        "not a number",
    ),
    "public instance": (
        "rds-instance-private",
        RDS_INSTANCE,
        {"publiclyAccessible": True},
        "dev",
        "public address",
    ),
    "EKS unprotected in prod": (
        "prod-deletion-protection",
        EKS,
        {"deletionProtection": False},
        "prod",
        "deletionProtection",
    ),
    "no final snapshot in prod": (
        "prod-deletion-protection",
        RDS,
        {"deletionProtection": True, "skipFinalSnapshot": True},
        "prod",
        "skipFinalSnapshot",
    ),
    "Redis unencrypted at rest": (
        "elasticache-encryption",
        REDIS,
        {"transitEncryptionEnabled": True},
        "dev",
        "atRestEncryptionEnabled",
    ),
    "Redis in plain text": (
        "elasticache-encryption",
        REDIS,
        {"atRestEncryptionEnabled": True},
        "dev",
        "transitEncryptionEnabled",
    ),
    "Redis TLS only preferred": (
        "elasticache-encryption",
        REDIS,
        {**SECURE_REDIS, "transitEncryptionMode": "preferred"},
        "dev",
        "'preferred'",
    ),
    "Redis without AUTH": ("elasticache-auth", REDIS, {"port": 6379}, "dev", "no authToken"),
    "key never rotates": ("kms-key-rotation", KMS, {"enableKeyRotation": False}, "dev", "enableKeyRotation"),
    "logs forever": ("log-group-retention", LOGS, {}, "dev", "retentionInDays is unset"),
    "retention 0": ("log-group-retention", LOGS, {"retentionInDays": 0}, "dev", "retentionInDays is unset"),
    "ManagedBy missing": (
        "required-tags",
        VPC,
        {"tags": {"Project": "platform", "Stack": "dev"}},
        "dev",
        "tag ManagedBy is missing",
    ),
    "a VPC with no tags at all": ("required-tags", VPC, {"cidrBlock": "10.0.0.0/16"}, "dev", "no tags"),
    "another stack's tag": (
        "required-tags",
        VPC,
        {"tags": tags("staging")},
        "prod",
        "not this stack's name 'prod'",
    ),
    "privileged namespace": (
        "namespace-pod-security",
        NAMESPACE,
        labelled("privileged"),
        "dev",
        "'privileged'",
    ),
    "unlabelled namespace": ("namespace-pod-security", NAMESPACE, labelled(None), "dev", "is None"),
    "permissive mTLS": (
        "istio-strict-mtls",
        PEER_AUTH,
        mtls("PERMISSIVE"),
        "dev",
        "'PERMISSIVE', not 'STRICT'",
    ),
    "mTLS unset": ("istio-strict-mtls", PEER_AUTH, mtls(None), "dev", "spec.mtls.mode is None"),
    "a plain-text port": (
        "istio-strict-mtls",
        "kubernetes:security.istio.io/v1beta1:PeerAuthentication",
        mtls("STRICT", **{"8080": "DISABLE"}),
        "dev",
        "portLevelMtls.8080.mode is 'DISABLE'",
    ),
    "control plane to every high port": (
        "no-wide-port-ranges",
        INGRESS,
        {"ipProtocol": "tcp", "fromPort": 1025, "toPort": 65535, "referencedSecurityGroupId": "sg-cluster"},
        "dev",
        "ports 1025-65535 open 64511 ports",
    ),
    "every protocol from the VPC": (
        "no-wide-port-ranges",
        INGRESS,
        {"ipProtocol": "-1", "cidrIpv4": "10.0.0.0/16"},
        "dev",
        "protocol is -1",
    ),
    "inline, every protocol from a group and a range": (
        "no-wide-port-ranges",
        SG,
        {
            "ingress": [
                {
                    "protocol": "-1",
                    "fromPort": 0,
                    "toPort": 0,
                    "securityGroups": ["sg-1"],
                    "cidrBlocks": ["10.0.0.0/8"],
                }
            ]
        },
        "dev",
        "ingress[0].protocol is -1",
    ),
    "a security group rule over a wide range": (
        "no-wide-port-ranges",
        SG_RULE,
        {
            "type": "ingress",
            "protocol": "udp",
            "fromPort": 1000,
            "toPort": 2000,
            "sourceSecurityGroupId": "sg-1",
        },
        "dev",
        "ports 1000-2000 open 1001 ports",
    ),
    "default group rules left alone": (
        "default-security-group-closed",
        DEFAULT_SG,
        {"vpcId": "vpc-1"},
        "dev",
        "ingress is unset",
    ),
    "default group admits": (
        "default-security-group-closed",
        DEFAULT_SG,
        {"ingress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}], "egress": []},
        "dev",
        "ingress has 1 rule(s)",
    ),
    "public IPs as text": (
        "subnet-no-public-ip",
        SUBNET,
        {"mapPublicIpOnLaunch": "true"},
        "dev",
        "mapPublicIpOnLaunch",
    ),
    "cluster without minor upgrades": (
        "aurora-auto-minor-upgrade",
        RDS,
        {"autoMinorVersionUpgrade": False},
        "dev",
        "autoMinorVersionUpgrade is false",
    ),
    "Performance Insights on AWS's key": (
        "rds-performance-insights-cmk",
        RDS_INSTANCE,
        {"performanceInsightsEnabled": True},
        "dev",
        "without performanceInsightsKmsKeyId",
    ),
    "one Redis node in prod": (
        "elasticache-multi-az-in-prod",
        REDIS,
        {**HA_REDIS, "numCacheClusters": 1},
        "prod",
        "numCacheClusters is 1",
    ),
    "Redis node count unset in prod": (
        "elasticache-multi-az-in-prod",
        REDIS,
        {"automaticFailoverEnabled": True, "multiAzEnabled": True},
        "prod",
        "numCacheClusters is 1",
    ),
    "Redis in one zone in prod": (
        "elasticache-multi-az-in-prod",
        REDIS,
        {**HA_REDIS, "multiAzEnabled": False},
        "prod",
        "multiAzEnabled is not true",
    ),
    "Redis shards without replicas in prod": (
        "elasticache-multi-az-in-prod",
        REDIS,
        {
            "replicasPerNodeGroup": 0,
            "numNodeGroups": 3,
            "automaticFailoverEnabled": True,
            "multiAzEnabled": True,
        },
        "prod",
        "replicasPerNodeGroup is 0",
    ),
    "AWS's default key policy": ("kms-key-policy", KMS, {"enableKeyRotation": True}, "dev", "no policy"),
    "a key policy that is not JSON": ("kms-key-policy", KMS, {"policy": "{Statement:"}, "dev", "not a JSON"),
    "a key policy for everyone": (
        "kms-key-policy",
        KMS,
        {"policy": key_policy({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"})},
        "dev",
        "names no one but '*'",
    ),
    "a key open to every account": (
        "kms-key-policy",
        KMS,
        {
            "policy": key_policy(
                KEY_POLICY["Statement"][0],
                {
                    "Sid": "Anyone",
                    "Effect": "Allow",
                    "Principal": {"AWS": ["*"]},
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                },
            )
        },
        "dev",
        "statement Anyone allows Principal '*' with no Condition",
    ),
    "log group on CloudWatch's key": ("log-group-cmk", LOGS, {"retentionInDays": 7}, "dev", "no kmsKeyId"),
    "Aurora audit log a month in prod": (
        "audit-log-retention",
        LOGS,
        {"name": "/aws/rds/cluster/platform-prod/postgresql", "retentionInDays": 30},
        "prod",
        "retentionInDays is 30",
    ),
    "audit retention as text": (
        "audit-log-retention",
        LOGS,
        {**AUDIT_GROUP, "retentionInDays": "365"},
        "prod",
        "not a number of days",
    ),
    "secret on the AWS key": ("secrets-cmk", SECRET, {"description": "token"}, "dev", "no kmsKeyId"),
    "everything, listed": (
        "iam-no-admin-wildcard",
        "aws:iam/policy:Policy",
        {"policy": iam_policy(["s3:GetObject", "*:*"], ["arn:aws:s3:::platform", "*"])},
        "dev",
        "policy: statement 0 allows Action '*' on Resource '*'",
    ),
    "an inline role policy for everything": (
        "iam-no-admin-wildcard",
        ROLE,
        {"assumeRolePolicy": "{}", "inlinePolicies": [{"name": "all", "policy": iam_policy("*", "*")}]},
        "dev",
        "inlinePolicies[0].policy: statement 0",
    ),
    "AdministratorAccess attached": (
        "iam-no-admin-wildcard",
        ATTACHMENT,
        {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess", "role": "node"},
        "dev",
        "policyArn is arn:aws:iam::aws:policy/AdministratorAccess",
    ),
}

DROP = object()
"""In a change, the key is removed."""


def changed(props: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A deep copy of ``props`` with the value at ``path`` set to ``value`` (or removed, for DROP)."""
    result = copy.deepcopy(props)
    *parents, last = path
    target: Any = result
    for key in parents:
        target = target[key]
    if value is DROP:
        del target[last]
    else:
        target[last] = value
    return result


# (rule, resource type, passing inputs, stack, (path, new value), a text each message list must contain):
# each resource rule's pair, the failing one made from the passing one by one change.
ONE_CHANGE: dict[str, tuple[str, str, dict[str, Any], str, tuple[tuple[str | int, ...], Any], str]] = {
    "alarm-actions": ("alarm-actions", ALARM, ALARMED, "prod", (("alarmActions",), DROP), "no alarmActions"),
    "sns-topic-encrypted": (
        "sns-topic-encrypted",
        TOPIC,
        {"kmsMasterKeyId": KEY_ARN},
        "prod",
        (("kmsMasterKeyId",), DROP),
        "no kmsMasterKeyId",
    ),
    "no-public-ingress": (
        "no-public-ingress",
        INGRESS,
        {"cidrIpv4": "10.0.0.0/16"},
        "dev",
        (("cidrIpv4",), "0.0.0.0/0"),
        "cidrIpv4 is 0.0.0.0/0",
    ),
    "no-wide-port-ranges": (
        "no-wide-port-ranges",
        INGRESS,
        {"ipProtocol": "tcp", "fromPort": 1025, "toPort": 1124, "referencedSecurityGroupId": "sg-1"},
        "dev",
        (("toPort",), 1125),
        "ports 1025-1125 open 101 ports",
    ),
    "default-security-group-closed": (
        "default-security-group-closed",
        DEFAULT_SG,
        {"ingress": [], "egress": []},
        "dev",
        (("egress",), [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}]),
        "egress has 1 rule(s)",
    ),
    "subnet-no-public-ip": (
        "subnet-no-public-ip",
        SUBNET,
        {"mapPublicIpOnLaunch": False},
        "dev",
        (("mapPublicIpOnLaunch",), True),
        "mapPublicIpOnLaunch is true",
    ),
    "eks-secrets-encryption": (
        "eks-secrets-encryption",
        EKS,
        {"encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": KEY_ARN}}},
        "dev",
        (("encryptionConfig", "provider", "keyArn"), DROP),
        "provider.keyArn",
    ),
    "eks-control-plane-logging": (
        "eks-control-plane-logging",
        EKS,
        {"enabledClusterLogTypes": ALL_LOGS},
        "dev",
        (("enabledClusterLogTypes",), ALL_LOGS[:-1]),
        "lacks scheduler",
    ),
    "eks-endpoint-access": (
        "eks-endpoint-access",
        EKS,
        {"vpcConfig": {"endpointPublicAccess": False, "publicAccessCidrs": ["203.0.113.0/24"]}},
        "prod",
        (("vpcConfig", "endpointPublicAccess"), True),
        "must be private",
    ),
    "launch-template-imdsv2": (
        "launch-template-imdsv2",
        LT,
        {"metadataOptions": {"httpTokens": "required"}},
        "dev",
        (("metadataOptions", "httpTokens"), "optional"),
        "'optional'",
    ),
    "launch-template-ebs-encrypted": (
        "launch-template-ebs-encrypted",
        LT,
        {"blockDeviceMappings": ENCRYPTED_DISK},
        "dev",
        (("blockDeviceMappings", 0, "ebs", "encrypted"), "false"),
        "blockDeviceMappings[0] (/dev/xvda)",
    ),
    "rds-storage-encrypted": (
        "rds-storage-encrypted",
        RDS,
        SECURE_AURORA,
        "dev",
        (("kmsKeyId",), DROP),
        "no kmsKeyId",
    ),
    "rds-iam-auth": (
        "rds-iam-auth",
        RDS,
        {"iamDatabaseAuthenticationEnabled": True},
        "dev",
        (("iamDatabaseAuthenticationEnabled",), False),
        "iamDatabaseAuthenticationEnabled",
    ),
    "aurora-auto-minor-upgrade": (
        "aurora-auto-minor-upgrade",
        RDS_INSTANCE,
        {"autoMinorVersionUpgrade": True},
        "dev",
        (("autoMinorVersionUpgrade",), False),
        "autoMinorVersionUpgrade is false",
    ),
    "rds-backup-retention": (
        "rds-backup-retention",
        RDS,
        {"backupRetentionPeriod": 30},
        "prod",
        (("backupRetentionPeriod",), 29),
        "at least 30",
    ),
    "rds-instance-private": (
        "rds-instance-private",
        RDS_INSTANCE,
        {"publiclyAccessible": False},
        "dev",
        (("publiclyAccessible",), True),
        "public address",
    ),
    "rds-performance-insights-cmk": (
        "rds-performance-insights-cmk",
        RDS_INSTANCE,
        {"performanceInsightsEnabled": True, "performanceInsightsKmsKeyId": KEY_ARN},
        "dev",
        (("performanceInsightsKmsKeyId",), DROP),
        "without performanceInsightsKmsKeyId",
    ),
    "prod-deletion-protection": (
        "prod-deletion-protection",
        RDS,
        {"deletionProtection": True, "skipFinalSnapshot": False},
        "prod",
        (("skipFinalSnapshot",), True),
        "skipFinalSnapshot is true",
    ),
    "elasticache-encryption": (
        "elasticache-encryption",
        REDIS,
        {**SECURE_REDIS, "transitEncryptionMode": "required"},
        "dev",
        (("transitEncryptionMode",), "preferred"),
        "'preferred'",
    ),
    "elasticache-auth": (
        "elasticache-auth",
        REDIS,
        {"authToken": "s3cret", "port": 6379},
        "dev",
        (("authToken",), DROP),
        "no authToken",
    ),
    "elasticache-multi-az-in-prod": (
        "elasticache-multi-az-in-prod",
        REDIS,
        HA_REDIS,
        "prod",
        (("automaticFailoverEnabled",), False),
        "automaticFailoverEnabled is not true in prod",
    ),
    "kms-key-rotation": (
        "kms-key-rotation",
        KMS,
        {"enableKeyRotation": True},
        "dev",
        (("enableKeyRotation",), False),
        "enableKeyRotation",
    ),
    "kms-key-policy": (
        "kms-key-policy",
        KMS,
        {"enableKeyRotation": True, "policy": json.dumps(KEY_POLICY)},
        "dev",
        (("policy",), DROP),
        "no policy",
    ),
    "log-group-retention": (
        "log-group-retention",
        LOGS,
        {"retentionInDays": 7},
        "dev",
        (("retentionInDays",), 0),
        "retentionInDays is unset",
    ),
    "log-group-cmk": (
        "log-group-cmk",
        LOGS,
        {"kmsKeyId": KEY_ARN, "retentionInDays": 7},
        "dev",
        (("kmsKeyId",), DROP),
        "no kmsKeyId",
    ),
    "audit-log-retention": (
        "audit-log-retention",
        LOGS,
        AUDIT_GROUP,
        "prod",
        (("retentionInDays",), 364),
        "retentionInDays is 364",
    ),
    "secrets-cmk": (
        "secrets-cmk",
        SECRET,
        {"kmsKeyId": KEY_ARN},
        "dev",
        (("kmsKeyId",), DROP),
        "no kmsKeyId",
    ),
    "iam-no-admin-wildcard": (
        "iam-no-admin-wildcard",
        ROLE_POLICY,
        {"policy": iam_policy("s3:GetObject", "*"), "role": "node"},
        "dev",
        (("policy",), iam_policy("*", "*")),
        "allows Action '*' on Resource '*'",
    ),
    "required-tags": (
        "required-tags",
        VPC,
        {"tags": tags("dev")},
        "dev",
        (("tags", "ManagedBy"), DROP),
        "tag ManagedBy is missing",
    ),
    "namespace-pod-security": (
        "namespace-pod-security",
        NAMESPACE,
        labelled("restricted"),
        "dev",
        (("metadata", "labels", "pod-security.kubernetes.io/enforce"), "privileged"),
        "'privileged'",
    ),
    "istio-strict-mtls": (
        "istio-strict-mtls",
        PEER_AUTH,
        mtls("STRICT"),
        "dev",
        (("spec", "mtls", "mode"), "PERMISSIVE"),
        "'PERMISSIVE', not 'STRICT'",
    ),
}


# --- the rules ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", PASSING)
def test_rule_passes(case):
    name, resource_type, props, stack = PASSING[case]
    assert BY_NAME[name].violations(resource_type, props, stack) == []


@pytest.mark.parametrize("case", FAILING)
def test_rule_fails(case):
    name, resource_type, props, stack, expected = FAILING[case]
    messages = BY_NAME[name].violations(resource_type, props, stack)
    assert any(expected in message for message in messages), messages


@pytest.mark.parametrize("case", ONE_CHANGE)
def test_one_change_turns_a_passing_resource_into_a_failing_one(case):
    name, resource_type, props, stack, (path, value), expected = ONE_CHANGE[case]
    rule = BY_NAME[name]
    assert rule.violations(resource_type, props, stack) == []
    messages = rule.violations(resource_type, changed(props, path, value), stack)
    assert any(expected in message for message in messages), messages


def test_every_rule_has_a_pass_and_a_fail_case():
    names = [rule.name for rule in RULES]
    assert len(set(names)) == len(names)
    assert len(names) >= 30
    resource_rules = {rule.name for rule in RULES if isinstance(rule, Rule)}
    stack_rules = {rule.name for rule in RULES if isinstance(rule, StackRule)}
    assert resource_rules | stack_rules == set(names)
    assert {case[0] for case in PASSING.values()} == resource_rules
    assert {case[0] for case in FAILING.values()} == resource_rules
    assert {case[0] for case in ONE_CHANGE.values()} == resource_rules
    assert {case[0] for case in STACK_ONE_CHANGE.values()} == stack_rules


# --- the stack rules ------------------------------------------------------------------------------------

METRICS_SERVER = {
    "chart": "metrics-server",
    "name": "metrics-server",
    "namespace": "kube-system",
    "version": "3.13.0",
    "values": {"replicas": 2},
}


def is_metrics_source(r: RecordedResource) -> bool:
    return (r.type == RELEASE and r.inputs.get("chart") == "metrics-server") or (
        r.type == ADDON and r.inputs.get("addonName") == "metrics-server"
    )


def without_metrics_source(plan: Plan) -> Plan:
    """``plan`` with no metrics-server, whether the program installs one or not."""
    return edited(plan, drop=is_metrics_source)


def with_metrics_server(plan: Plan) -> Plan:
    """``plan`` with exactly one metrics-server: a made-up Helm release in place of any the program has."""
    base = without_metrics_source(plan)
    return edited(base, add=[resource(base, RELEASE, "metrics-server", METRICS_SERVER)])


def restated(plan: Plan, type_token: str, name: str, path: tuple[str | int, ...], value: Any) -> Plan:
    """``plan`` with one resource's recorded state changed at ``path``, and its inputs when they hold the key
    (stack rules read the state: inputs and what the account answered)."""

    def change(r: RecordedResource) -> RecordedResource:
        if (r.type, r.name) != (type_token, name):
            return r
        inputs = changed(r.inputs, path, value) if path[0] in r.inputs else r.inputs
        return dataclasses.replace(r, inputs=inputs, state=changed(r.state, path, value))

    return edited(plan, change=change)


def named(plan: Plan, type_token: str, name: str) -> RecordedResource:
    return plan.one(type_token, name)


def prod() -> Plan:
    return stack_plan("prod")


def two_aurora_instances() -> Plan:
    return edited(prod(), drop=lambda r: r.type == RDS_INSTANCE and r.name == "platform-database-2")


def second_tagged_group(plan: Plan) -> Plan:
    """The general node group's template also names the cluster security group EKS makes and tags."""
    template = named(plan, LT, "platform-cluster-general-lt")
    own = named(plan, EKS, "platform-cluster-eks").state["vpcConfig"]["clusterSecurityGroupId"]
    ids = [*template.state["vpcSecurityGroupIds"], own]
    return restated(plan, LT, "platform-cluster-general-lt", ("vpcSecurityGroupIds",), ids)


CLUSTER_TAG = "kubernetes.io/cluster/platform-prod"
VELERO_BUCKET = "platform-addons-velero-bucket"
AUTH_TOKEN = ("platform-cache-replication-group",)
PASSWORD_NAME = "platform-cache-auth-token"

# (rule, the passing plan, the one change that makes it fail, the resource the violation names, a text of
# its message). Plans are functions: each worker records the stacks it needs once.
STACK_ONE_CHANGE: dict[str, tuple[str, Callable[[], Plan], Callable[[Plan], Plan], str, str]] = {
    "a VPC without its flow log": (
        "vpc-flow-logs",
        prod,
        lambda plan: edited(plan, drop=lambda r: r.type == FLOW_LOG),
        "platform-network-vpc",
        "no aws.ec2.FlowLog has this VPC's vpcId",
    ),
    "a node with two tagged groups": (
        "one-tagged-security-group-per-node",
        prod,
        second_tagged_group,
        "platform-cluster-general-lt",
        "2 of vpcSecurityGroupIds are tagged kubernetes.io/cluster/<name>",
    ),
    "a node group's security group untagged": (
        "one-tagged-security-group-per-node",
        prod,
        lambda plan: restated(plan, SG, "platform-cluster-node", ("tags", CLUSTER_TAG), DROP),
        "platform-cluster-agentWorkers-lt",
        "none of vpcSecurityGroupIds is tagged",
    ),
    "Aurora down to one instance": (
        "aurora-replicas-in-prod",
        two_aurora_instances,
        lambda plan: edited(plan, drop=lambda r: r.type == RDS_INSTANCE and r.name == "platform-database-1"),
        "platform-database-cluster",
        "1 aws.rds.ClusterInstance(s) in prod, fewer than 2",
    ),
    "a backup selection without the cluster": (
        "backup-selects-aurora",
        prod,
        lambda plan: restated(plan, SELECTION, "platform-backup-selection", ("resources",), []),
        "platform-database-cluster",
        "no aws.backup.Selection lists this cluster's ARN",
    ),
    "an AUTH token password that may draw '@'": (
        "elasticache-auth-token-charset",
        prod,
        lambda plan: restated(plan, PASSWORD, PASSWORD_NAME, ("overrideSpecial",), "!&#$^<>-@"),
        PASSWORD_NAME,
        "overrideSpecial '!&#$^<>-@' holds '@'",
    ),
    "an AUTH token password on the provider's specials": (
        "elasticache-auth-token-charset",
        prod,
        lambda plan: restated(plan, PASSWORD, PASSWORD_NAME, ("overrideSpecial",), DROP),
        PASSWORD_NAME,
        "special is true with no overrideSpecial",
    ),
    "an AUTH token password too short": (
        "elasticache-auth-token-charset",
        prod,
        lambda plan: restated(plan, PASSWORD, PASSWORD_NAME, ("length",), 12),
        PASSWORD_NAME,
        "length is 12 character(s); ElastiCache takes 16 to 128",
    ),
    "an AUTH token with a slash": (
        "elasticache-auth-token-charset",
        prod,
        lambda plan: restated(plan, REDIS, *AUTH_TOKEN, ("authToken",), Secret("a" * 20 + "/")),
        "platform-cache-replication-group",
        "authToken holds characters ElastiCache refuses",
    ),
    "a bucket under S3's own keys": (
        "s3-bucket-encryption",
        prod,
        lambda plan: restated(
            plan,
            BUCKET_ENCRYPTION,
            VELERO_BUCKET,
            ("rules", 0, "applyServerSideEncryptionByDefault"),
            {"sseAlgorithm": "AES256"},
        ),
        VELERO_BUCKET,
        "not SSE-KMS under a key we name",
    ),
    "a bucket with no encryption configuration": (
        "s3-bucket-encryption",
        prod,
        lambda plan: edited(plan, drop=lambda r: r.type == BUCKET_ENCRYPTION),
        VELERO_BUCKET,
        "no aws.s3.BucketServerSideEncryptionConfiguration names this bucket",
    ),
    "a bucket whose versioning is suspended": (
        "s3-bucket-versioning",
        prod,
        lambda plan: restated(
            plan, BUCKET_VERSIONING, VELERO_BUCKET, ("versioningConfiguration", "status"), "Suspended"
        ),
        VELERO_BUCKET,
        "versioning is not Enabled",
    ),
    "a bucket whose public policies are not blocked": (
        "s3-public-access-block",
        prod,
        lambda plan: restated(plan, BUCKET_PAB, VELERO_BUCKET, ("blockPublicPolicy",), False),
        VELERO_BUCKET,
        "leaves blockPublicPolicy false",
    ),
    "a bucket with no public access block": (
        "s3-public-access-block",
        prod,
        lambda plan: edited(plan, drop=lambda r: r.type == BUCKET_PAB),
        VELERO_BUCKET,
        "no aws.s3.BucketPublicAccessBlock names this bucket",
    ),
    "a bucket policy that lets plain HTTP in": (
        "s3-tls-only",
        prod,
        lambda plan: restated(
            plan,
            BUCKET_POLICY,
            VELERO_BUCKET,
            ("policy",),
            json.dumps({"Version": "2012-10-17", "Statement": []}),
        ),
        VELERO_BUCKET,
        "no bucket policy denies s3:* to everyone when aws:SecureTransport is false",
    ),
    "HorizontalPodAutoscalers with no metrics-server": (
        "metrics-source-for-autoscaling",
        lambda: with_metrics_server(prod()),
        without_metrics_source,
        "platform-mesh-ingress",
        "makes a HorizontalPodAutoscaler but the stack installs no metrics source",
    ),
}


def stack_violations(plan: Plan, rule_name: str) -> list[tuple[str, str]]:
    """``(resource name, message)`` of each violation of one rule over ``plan``."""
    result = offline_policy.check(plan, [BY_NAME[rule_name]])
    return [(v.name, v.message) for v in result.violations]


@pytest.mark.parametrize("case", STACK_ONE_CHANGE)
def test_one_change_turns_a_passing_stack_into_a_failing_one(case):
    name, passing, change, resource_name, expected = STACK_ONE_CHANGE[case]
    plan = passing()
    assert stack_violations(plan, name) == []
    found = stack_violations(change(plan), name)
    assert any(found_name == resource_name and expected in message for found_name, message in found), found


def test_the_metrics_rule_names_each_maker_of_an_autoscaler_and_counts_an_add_on_as_a_source(prod_plan):
    bare = without_metrics_source(prod_plan)
    makers = sorted(name for name, _ in stack_violations(bare, "metrics-source-for-autoscaling"))
    assert makers == ["platform-mesh-ingress", "platform-mesh-istiod"]
    addon = resource(bare, ADDON, "metrics-server-addon", {"addonName": "metrics-server", "clusterName": "x"})
    assert stack_violations(edited(bare, add=[addon]), "metrics-source-for-autoscaling") == []
    own_hpa = resource(bare, HPA, "api", {"spec": {"maxReplicas": 4}})
    quiet = restated(
        restated(bare, RELEASE, "platform-mesh-ingress", ("values", "autoscaling", "enabled"), False),
        RELEASE,
        "platform-mesh-istiod",
        ("values", "pilot", "autoscaleEnabled"),
        False,
    )
    assert stack_violations(quiet, "metrics-source-for-autoscaling") == []
    assert [
        name for name, _ in stack_violations(edited(quiet, add=[own_hpa]), "metrics-source-for-autoscaling")
    ] == ["api"]


def test_prod_only_stack_rules_pass_other_stacks(dev_plan):
    """dev runs one Aurora instance and no backup selection need list it: fine there, not in prod."""
    bare = edited(dev_plan, drop=lambda r: r.type == SELECTION)
    assert len(bare.of_type(RDS_INSTANCE)) < 2
    for rule in ("aurora-replicas-in-prod", "backup-selects-aurora"):
        assert stack_violations(bare, rule) == []
        assert [name for name, _ in stack_violations(dataclasses.replace(bare, stack="prod"), rule)] == [
            "platform-database-cluster"
        ]


def test_stack_rules_read_the_state_the_account_answered(dev_plan):
    """A VPC's ID is an output: in the plan's recorded state, not its inputs, as the pack gets outputs."""
    vpc = resource(dev_plan, VPC, "lone", {"cidrBlock": "10.9.0.0/16", "tags": tags("dev")})
    assert "id" not in vpc.inputs
    plan = edited(dev_plan, add=[vpc, resource(dev_plan, FLOW_LOG, "lone-flow", {"vpcId": vpc.state["id"]})])
    assert stack_violations(plan, "vpc-flow-logs") == []
    elsewhere = edited(dev_plan, add=[vpc, resource(dev_plan, FLOW_LOG, "lone-flow", {"vpcId": "vpc-other"})])
    assert [name for name, _ in stack_violations(elsewhere, "vpc-flow-logs")] == ["lone"]


def urn_of(type_token: str, name: str) -> str:
    return f"urn:pulumi:prod::platform::{type_token}::{name}"


def record(type_token: str, name: str, props: dict[str, Any], *depends_on: tuple[str, str]) -> StackResource:
    """A resource as a stack rule sees it, depending on ``(type, name)`` of others."""
    return StackResource(
        type_token, urn_of(type_token, name), name, props, frozenset(urn_of(*d) for d in depends_on)
    )


TAGGED = {"tags": {CLUSTER_TAG: "owned"}}

# (rule, resources, stack, names of the resources it finds in violation): what a preview cannot know yet
# passes, or falls back to a dependency; the same relation known and wrong fails.
UNKNOWNS: dict[str, tuple[str, list[StackResource], str, list[str]]] = {
    "the versioning of a bucket still to be created": (
        "s3-bucket-versioning",
        [
            record(BUCKET, "bucket", {"bucket": UNKNOWN, "id": UNKNOWN}),
            record(
                BUCKET_VERSIONING,
                "versioning",
                {"bucket": UNKNOWN, "versioningConfiguration": {"status": "Enabled"}},
                (BUCKET, "bucket"),
            ),
        ],
        "dev",
        [],
    ),
    "the versioning of some other bucket": (
        "s3-bucket-versioning",
        [
            record(BUCKET, "bucket", {"bucket": "backups", "id": "backups"}),
            record(
                BUCKET_VERSIONING,
                "versioning",
                {"bucket": "logs", "versioningConfiguration": {"status": "Enabled"}},
            ),
        ],
        "dev",
        ["bucket"],
    ),
    "a bucket policy still to be written": (
        "s3-tls-only",
        [
            record(BUCKET, "bucket", {"bucket": UNKNOWN, "id": UNKNOWN}),
            record(BUCKET_POLICY, "policy", {"bucket": UNKNOWN, "policy": UNKNOWN}, (BUCKET, "bucket")),
        ],
        "dev",
        [],
    ),
    "a flow log of a VPC still to be created": (
        "vpc-flow-logs",
        [record(VPC, "vpc", {"id": UNKNOWN}), record(FLOW_LOG, "flow", {"vpcId": UNKNOWN}, (VPC, "vpc"))],
        "dev",
        [],
    ),
    "a flow log of some other VPC still to be created": (
        "vpc-flow-logs",
        [record(VPC, "vpc", {"id": UNKNOWN}), record(FLOW_LOG, "flow", {"vpcId": UNKNOWN})],
        "dev",
        ["vpc"],
    ),
    "a template naming a group still to be created": (
        "one-tagged-security-group-per-node",
        [
            record(SG, "a", {"id": "sg-a", **TAGGED}),
            record(SG, "b", {"id": UNKNOWN, **TAGGED}),
            record(LT, "lt", {"vpcSecurityGroupIds": ["sg-a", UNKNOWN]}),
        ],
        "dev",
        [],
    ),
    "a template whose group list is unknown": (
        "one-tagged-security-group-per-node",
        [record(SG, "a", {"id": "sg-a", **TAGGED}), record(LT, "lt", {"vpcSecurityGroupIds": UNKNOWN})],
        "dev",
        [],
    ),
    "a group whose tags are unknown": (
        "one-tagged-security-group-per-node",
        [
            record(SG, "a", {"id": "sg-a", **TAGGED}),
            record(SG, "b", {"id": "sg-b", "tags": UNKNOWN}),
            record(LT, "lt", {"vpcSecurityGroupIds": ["sg-a", "sg-b"]}),
        ],
        "dev",
        [],
    ),
    "two tagged groups, known": (
        "one-tagged-security-group-per-node",
        [
            record(SG, "a", {"id": "sg-a", **TAGGED}),
            record(SG, "b", {"id": "sg-b", "tags": {}, "tagsAll": {CLUSTER_TAG: "shared"}}),
            record(LT, "lt", {"vpcSecurityGroupIds": ["sg-a", "sg-b"]}),
        ],
        "dev",
        ["lt"],
    ),
    "EKS's own group, known": (
        "one-tagged-security-group-per-node",
        [
            record(SG, "a", {"id": "sg-a", "tags": {"Name": "a"}}),
            record(EKS, "eks", {"vpcConfig": {"clusterSecurityGroupId": "sg-eks"}}),
            record(LT, "lt", {"vpcSecurityGroupIds": ["sg-a", "sg-eks"]}),
        ],
        "dev",
        [],
    ),
    "a cluster still to be created, selected by dependency": (
        "backup-selects-aurora",
        [
            record(RDS, "db", {"arn": UNKNOWN}),
            record(SELECTION, "selection", {"resources": [UNKNOWN]}, (RDS, "db")),
        ],
        "prod",
        [],
    ),
    "a cluster still to be created, with no selection depending on it": (
        "backup-selects-aurora",
        [record(RDS, "db", {"arn": UNKNOWN}), record(SELECTION, "selection", {"resources": [UNKNOWN]})],
        "prod",
        ["db"],
    ),
    "a selection by wildcard": (
        "backup-selects-aurora",
        [
            record(RDS, "db", {"arn": "arn:aws:rds:us-east-1:123456789012:cluster:platform-prod"}),
            record(SELECTION, "selection", {"resources": ["arn:aws:rds:*:*:cluster:*"]}),
        ],
        "prod",
        [],
    ),
    "a known ARN the dependent selection leaves out": (
        "backup-selects-aurora",
        [
            record(RDS, "db", {"arn": "arn:aws:rds:us-east-1:123456789012:cluster:platform-prod"}),
            record(
                SELECTION, "selection", {"resources": ["arn:aws:rds:us-east-1:1:cluster:other"]}, (RDS, "db")
            ),
        ],
        "prod",
        ["db"],
    ),
    "instances of a cluster still to be created": (
        "aurora-replicas-in-prod",
        [
            record(RDS, "db", {"clusterIdentifier": UNKNOWN, "id": UNKNOWN}),
            record(RDS_INSTANCE, "db-0", {"clusterIdentifier": UNKNOWN}, (RDS, "db")),
            record(RDS_INSTANCE, "db-1", {"clusterIdentifier": UNKNOWN}, (RDS, "db")),
        ],
        "prod",
        [],
    ),
    "one of two instances in another cluster": (
        "aurora-replicas-in-prod",
        [
            record(RDS, "db", {"clusterIdentifier": "platform-prod"}),
            record(RDS_INSTANCE, "db-0", {"clusterIdentifier": "platform-prod"}, (RDS, "db")),
            record(RDS_INSTANCE, "db-1", {"clusterIdentifier": "platform-other"}, (RDS, "db")),
        ],
        "prod",
        ["db"],
    ),
    "a token and its specials still unknown": (
        "elasticache-auth-token-charset",
        [
            record(PASSWORD, "password", {"length": 64, "special": True, "overrideSpecial": UNKNOWN}),
            record(REDIS, "redis", {"authToken": UNKNOWN}, (PASSWORD, "password")),
        ],
        "dev",
        [],
    ),
    "a password without specials": (
        "elasticache-auth-token-charset",
        [
            record(PASSWORD, "password", {"length": 64, "special": False}),
            record(REDIS, "redis", {"authToken": UNKNOWN}, (PASSWORD, "password")),
        ],
        "dev",
        [],
    ),
    "a password on the provider's specials": (
        "elasticache-auth-token-charset",
        [
            record(PASSWORD, "password", {"length": 64}),
            record(REDIS, "redis", {"authToken": UNKNOWN}, (PASSWORD, "password")),
        ],
        "dev",
        ["password"],
    ),
    "a gateway whose values are unknown": (
        "metrics-source-for-autoscaling",
        [record(RELEASE, "gateway", {"chart": "gateway", "values": UNKNOWN})],
        "dev",
        [],
    ),
    "a gateway autoscaled by the chart's default": (
        "metrics-source-for-autoscaling",
        [
            record(
                RELEASE,
                "gateway",
                {"chart": "istio/gateway", "values": {"service": {"type": "LoadBalancer"}}},
            )
        ],
        "dev",
        ["gateway"],
    ),
    "a release whose chart is unknown": (
        "metrics-source-for-autoscaling",
        [record(RELEASE, "gateway", {"chart": "gateway"}), record(RELEASE, "other", {"chart": UNKNOWN})],
        "dev",
        [],
    ),
}


@pytest.mark.parametrize("case", UNKNOWNS)
def test_stack_rules_pass_what_a_preview_cannot_know(case):
    name, resources, stack, expected = UNKNOWNS[case]
    by_urn = {r.urn: r.name for r in resources}
    assert [by_urn[urn] for urn, _ in BY_NAME[name].violations(resources, stack)] == expected


def test_a_rule_ignores_types_it_does_not_name():
    assert BY_NAME["kms-key-rotation"].violations(LOGS, {}, "dev") == []
    assert BY_NAME["required-tags"].applies_to("aws:ec2/vpc:Vpc")
    assert not BY_NAME["required-tags"].applies_to("pulumi:providers:aws")


def test_references_unknown_in_a_preview_are_tested_for_presence_only():
    """pulumi-policy hands unknown values over as sentinels that raise when read (skipping the rule); a
    KMS key ARN or AUTH token made in the same update is unknown, so the rules must not read them."""
    aurora = unknown_checking_proxy({"storageEncrypted": True, "kmsKeyId": UNKNOWN_STRING_VALUE})
    redis = unknown_checking_proxy({**SECURE_REDIS, "authToken": UNKNOWN_STRING_VALUE})
    write_only = unknown_checking_proxy({**SECURE_REDIS, "authTokenWo": UNKNOWN_STRING_VALUE})
    cluster = unknown_checking_proxy(
        {"encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": UNKNOWN_STRING_VALUE}}}
    )
    assert BY_NAME["rds-storage-encrypted"].violations(RDS, aurora, "prod") == []
    assert BY_NAME["elasticache-auth"].violations(REDIS, redis, "prod") == []
    assert BY_NAME["elasticache-auth"].violations(REDIS, write_only, "prod") == []
    assert BY_NAME["eks-secrets-encryption"].violations(EKS, cluster, "prod") == []
    with pytest.raises(UnknownValueError):
        BY_NAME["elasticache-encryption"].violations(
            REDIS, unknown_checking_proxy({"atRestEncryptionEnabled": UNKNOWN_BOOLEAN_VALUE}), "prod"
        )
    key = unknown_checking_proxy({"kmsKeyId": UNKNOWN_STRING_VALUE})
    for name, resource_type in (("log-group-cmk", LOGS), ("secrets-cmk", SECRET)):
        assert BY_NAME[name].violations(resource_type, key, "prod") == []
    insights = unknown_checking_proxy(
        {"performanceInsightsEnabled": True, "performanceInsightsKmsKeyId": UNKNOWN_STRING_VALUE}
    )
    assert BY_NAME["rds-performance-insights-cmk"].violations(RDS_INSTANCE, insights, "prod") == []
    # A key policy made from ARNs still to be created cannot be read: the pack skips the rule for it.
    with pytest.raises(UnknownValueError):
        BY_NAME["kms-key-policy"].violations(
            KMS, unknown_checking_proxy({"policy": UNKNOWN_STRING_VALUE}), "prod"
        )


def test_taggable_names_every_aws_type_of_the_stacks_that_takes_tags():
    """A type missing from TAGGABLE would pass required-tags with no tags at all."""
    planned = {
        r.type
        for stack in stack_names()
        for r in stack_plan(stack).resources
        if r.custom and r.type.startswith("aws:")
    }
    takes_tags = {token for token in planned if sdk_takes_tags(token)}
    assert len(takes_tags) > 20
    assert sorted(takes_tags - TAGGABLE) == []


def test_every_taggable_type_takes_tags_in_the_sdk():
    # A misspelt token would never match a resource; the SDK lookup fails on it instead.
    assert [token for token in sorted(TAGGABLE) if not sdk_takes_tags(token)] == []


# --- the stacks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", stack_names())
def test_stack_has_no_mandatory_violation(stack):
    result = offline_policy.check(stack_plan(stack))
    assert result.rules == RULES
    assert result.mandatory == [], [f"{v.rule} {v.name}: {v.message}" for v in result.mandatory]


def test_every_rule_sees_resources_of_prod():
    """A rule whose types the program never creates checks nothing: its type tokens would be wrong.
    Istio's resources come with the mesh; the CustomResource test below pins that rule's type."""
    plan = stack_plan("prod")
    idle = [
        rule.name
        for rule in RULES
        if rule.name != "istio-strict-mtls" and not any(rule.applies_to(r.type) for r in plan.resources)
    ]
    assert idle == []
    # The stack rules' other readings: what each relation is made of is there too.
    for type_token in (FLOW_LOG, SELECTION, RDS_INSTANCE, PASSWORD, SG, EKS, RELEASE):
        assert plan.of_type(type_token), type_token


def _istio_and_namespace() -> None:
    k8s.core.v1.Namespace("apps", metadata={"name": "apps", "labels": {"team": "platform"}})
    k8s.apiextensions.CustomResource(
        "mtls",
        api_version="security.istio.io/v1",
        kind="PeerAuthentication",
        metadata={"name": "default", "namespace": "istio-system"},
        spec={"mtls": {"mode": "PERMISSIVE"}},
    )


def test_kubernetes_resources_are_checked_under_the_types_the_sdk_registers():
    resources, _ = run_under_mocks(_istio_and_namespace, {}, "dev", emulate=False)
    plan = Plan("dev", stack_plan("dev").config, resources, {})
    result = offline_policy.check(plan)
    assert {v.type for v in result.violations} == {NAMESPACE, PEER_AUTH}
    assert PEER_AUTH in PEER_AUTHENTICATIONS
    assert {v.rule for v in result.mandatory} == {"namespace-pod-security", "istio-strict-mtls"}


def test_violations_name_the_resource_and_secrets_are_read_in_the_clear(dev_plan):
    """The recorder keeps secrets wrapped (the real AUTH token is one); a policy pack gets them unwrapped."""
    assert isinstance(dev_plan.one(REDIS).inputs["authToken"], Secret)
    plan = edited(
        dev_plan,
        add=[
            resource(dev_plan, KMS, "stale-key", {"tags": tags("dev")}),
            resource(
                dev_plan,
                REDIS,
                "secret-flags",
                {"atRestEncryptionEnabled": Secret(True), "authToken": Secret("t"), "tags": tags("dev")},
            ),
        ],
    )
    result = offline_policy.check(plan)
    key_rotation = [v for v in result.violations if v.rule == "kms-key-rotation"]
    assert [(v.name, v.type, v.enforcement) for v in key_rotation] == [
        ("stale-key", KMS, Enforcement.MANDATORY)
    ]
    assert key_rotation[0].urn.endswith("::stale-key")
    redis = [(v.rule, v.message) for v in result.violations if v.name == "secret-flags"]
    # The resource rule reads the inputs, the stack rule the state: both with the secrets unwrapped.
    assert redis == [
        ("elasticache-encryption", "transitEncryptionEnabled is not true"),
        ("elasticache-auth-token-charset", "authToken is 1 character(s); ElastiCache takes 16 to 128"),
    ]


# --- the offline preview --------------------------------------------------------------------------------


def _stack_file_with(tmp_path: Path, stack: str, section: str, **values: Any) -> Path:
    document = yaml.safe_load(stack_file(stack).read_text())
    document["config"][f"platform:{section}"] = {
        **document["config"].get(f"platform:{section}", {}),
        **values,
    }
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.slow
def test_preview_exits_3_when_a_mandatory_rule_is_violated(tmp_path):
    path = _stack_file_with(tmp_path, "dev", "cluster", publicAccessCidrs=["0.0.0.0/0"])
    result = offline_cli("preview", "--config-file", str(path), "--json")
    assert result.returncode == 3, result.stderr
    violations = json.loads(result.stdout)["policy"]["violations"]
    assert [(v["rule"], v["name"], v["enforcement"]) for v in violations] == [
        ("eks-endpoint-access", "platform-cluster-eks", "mandatory")
    ]
    printed = offline_cli("preview", "--config-file", str(path))
    assert printed.returncode == 3
    assert "eks-endpoint-access" in printed.stdout
    assert "1 mandatory violation(s)" in printed.stdout


def test_preview_json_has_the_policy_section():
    section = preview_json("prod")["policy"]
    assert section["rules"] == [rule.name for rule in RULES]
    assert section["passed"] is True
    assert section["mandatory"] == 0


def _preview(plan: Plan, monkeypatch: pytest.MonkeyPatch) -> Ran:
    monkeypatch.setattr("offline.cli.run_plan", lambda *_, **__: plan)
    return offline_cli("preview", "--stack", plan.stack)


def test_preview_prints_advisory_violations_and_passes(dev_plan, monkeypatch):
    plan = edited(
        dev_plan, add=[resource(dev_plan, LOGS, "forever", {"kmsKeyId": KEY_ARN, "tags": tags("dev")})]
    )
    result = _preview(plan, monkeypatch)
    assert result.returncode == 0, result.stdout
    assert "log-group-retention" in result.stdout
    assert "0 mandatory violation(s), 1 advisory" in result.stdout


def test_preview_fails_on_a_mandatory_violation_of_a_synthetic_plan(dev_plan, monkeypatch):
    plan = edited(
        dev_plan, add=[resource(dev_plan, INGRESS, "open", {"cidrIpv4": "0.0.0.0/0", "tags": tags("dev")})]
    )
    result = _preview(plan, monkeypatch)
    assert result.returncode == 3, result.stdout
    assert "no-public-ingress" in result.stdout


def test_preview_fails_on_a_mandatory_stack_rule_of_a_synthetic_plan(dev_plan, monkeypatch):
    clean = with_metrics_server(dev_plan)
    assert _preview(clean, monkeypatch).returncode == 0
    result = _preview(edited(clean, drop=lambda r: r.type == FLOW_LOG), monkeypatch)
    assert result.returncode == 3, result.stdout
    assert "vpc-flow-logs" in result.stdout
    assert "platform-network-vpc" in result.stdout
    assert "1 mandatory violation(s)" in result.stdout


def test_clean_preview_says_so(dev_plan, monkeypatch):
    result = _preview(dev_plan, monkeypatch)
    assert result.returncode == 0
    assert f"policy: {len(RULES)} rules, no violations" in result.stdout


def test_summary_lists_violations_or_says_there_are_none(dev_plan):
    clean = summary.policy_section(dev_plan)
    assert clean.startswith(f"### Policy: {len(RULES)} rules, no violations")
    assert "No violations" in clean
    assert all(f"| {rule.name} |" in clean for rule in RULES)
    plan = edited(
        dev_plan, add=[resource(dev_plan, INGRESS, "open", {"cidrIpv4": "0.0.0.0/0", "tags": tags("dev")})]
    )
    dirty = summary.policy_section(plan)
    assert "1 mandatory violation(s)" in dirty
    assert "| no-public-ingress | mandatory | open |" in dirty
    assert "exits 3" in dirty


def test_summary_lists_every_rule_with_what_it_checks(dev_plan):
    section = summary.policy_section(with_metrics_server(dev_plan))
    assert f"<summary>{len(RULES)} rules checked</summary>" in section
    for rule in RULES:
        scope = "the stack" if isinstance(rule, StackRule) else "each resource"
        assert f"| {rule.name} | {rule.enforcement.value} | {scope} |" in section
    assert "| vpc-flow-logs | mandatory | the stack | Every VPC has a flow log of its own. |" in section
    # GitHub would drop <name> as an unknown HTML tag.
    assert "kubernetes.io/cluster/&lt;name>" in section
    assert "<name>" not in section


# --- the pulumi-policy pack -----------------------------------------------------------------------------


def test_pack_has_one_policy_per_rule_at_its_enforcement():
    built = policies()
    assert [(p.name, p.enforcement_level, p.description) for p in built] == [
        (rule.name, pulumi_policy.EnforcementLevel(rule.enforcement.value), rule.description)
        for rule in RULES
    ]
    kinds = {(type(rule), type(p)) for rule, p in zip(RULES, built, strict=True)}
    assert kinds == {
        (Rule, pulumi_policy.ResourceValidationPolicy),
        (StackRule, pulumi_policy.StackValidationPolicy),
    }
    levels = {rule.enforcement for rule in RULES}
    assert levels == {Enforcement.MANDATORY, Enforcement.ADVISORY}


def test_a_stack_resource_is_read_without_the_proxy_and_with_unknowns_marked():
    """pulumi-policy's proxy raises on an unknown, which would skip a stack policy whole; the pack reads
    around it and marks each unknown instead."""
    vpc = pulumi_policy.PolicyResource(
        VPC, unknown_checking_proxy({}), urn_of(VPC, "vpc"), "vpc", None, None, None, [], {}
    )
    key = pulumi_policy.PolicyResource(
        KMS, unknown_checking_proxy({}), urn_of(KMS, "key"), "key", None, None, None, [], {}
    )
    props = {
        "id": UNKNOWN_STRING_VALUE,
        "vpcSecurityGroupIds": ["sg-1", UNKNOWN_STRING_VALUE],
        "tags": UNKNOWN_OBJECT_VALUE,
        "subnets": UNKNOWN_ARRAY_VALUE,
        "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1.0},
        "authToken": "s3cret-in-the-clear",
    }
    template = pulumi_policy.PolicyResource(
        LT,
        unknown_checking_proxy(props),
        urn_of(LT, "lt"),
        "lt",
        None,
        None,
        None,
        [vpc],
        {"keyArn": [key]},
    )
    with pytest.raises(UnknownValueError):
        template.props["id"]
    read = stack_resource(template)
    assert read == StackResource(
        LT,
        urn_of(LT, "lt"),
        "lt",
        {
            "id": UNKNOWN,
            "vpcSecurityGroupIds": ["sg-1", UNKNOWN],
            "tags": UNKNOWN,
            "subnets": UNKNOWN,
            "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1.0},
            "authToken": "s3cret-in-the-clear",
        },
        frozenset({urn_of(VPC, "vpc"), urn_of(KMS, "key")}),
    )


def test_the_pack_entry_point_builds_the_pack_as_the_cli_runs_it(monkeypatch):
    """``pulumi.policy`` runs the pack's folder with runpy; PolicyPack would then serve forever, so a
    recorder stands in for it."""
    built: list[tuple[str, list[pulumi_policy.Policy]]] = []

    def record(name: str, policies: list[pulumi_policy.Policy], **_: Any) -> None:
        built.append((name, policies))

    monkeypatch.setattr(pulumi_policy, "PolicyPack", record)
    runpy.run_path(str(PROJECT_DIR / "policy"), run_name="__main__")
    [(name, pack)] = built
    assert name == PACK_NAME
    assert [p.name for p in pack] == [rule.name for rule in RULES]


@pytest.fixture
def analyzer(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The pack as the CLI starts it (``python -m pulumi.policy ENGINE PACK_DIR``, the stack in the
    environment), serving on a loopback port it prints; a client of it. Run from elsewhere than the pack."""
    environment = {
        **os.environ,
        "PULUMI_PROJECT": "platform",
        "PULUMI_STACK": request.param,
        "PULUMI_DRY_RUN": "true",
    }
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(PROJECT_DIR / "policy")],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], 60)
        port = server.stdout.readline().strip() if ready else ""
        assert port.isdigit(), "the pack printed no port"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        server.kill()
        server.communicate(timeout=30)


def analyze(
    stub: analyzer_pb2_grpc.AnalyzerStub, resource_type: str, props: dict[str, Any]
) -> set[tuple[str, str]]:
    """``(policy, message)`` of each violation the pack reports for one resource; pulumi-policy puts the
    policy's description on the line before the rule's message."""
    properties = struct_pb2.Struct()
    properties.update(props)
    request = analyzer_pb2.AnalyzeRequest(
        type=resource_type, properties=properties, urn=f"urn:pulumi:x::platform::{resource_type}::r", name="r"
    )
    return {(d.policyName, d.message.rsplit("\n", 1)[-1]) for d in stub.Analyze(request).diagnostics}


CLUSTER = {
    "deletionProtection": False,
    "vpcConfig": {"endpointPublicAccess": False},
    "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": UNKNOWN_STRING_VALUE}},
    "enabledClusterLogTypes": ALL_LOGS,
    "tags": tags("prod"),
}


@pytest.mark.parametrize("analyzer", ["prod"], indirect=True)
def test_the_pack_serves_one_policy_per_rule(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == PACK_NAME
    assert [p.name for p in info.policies] == [rule.name for rule in RULES]


def analyze_stack(
    stub: analyzer_pb2_grpc.AnalyzerStub, resources: list[tuple[str, str, dict[str, Any], list[str]]]
) -> tuple[set[tuple[str, str, str]], list[str]]:
    """What the pack reports for a whole stack of ``(type, name, outputs, names it depends on)``:
    ``(policy, resource name, message)`` of each violation, and any other diagnostic's message."""
    urns = {name: urn_of(type_token, name) for type_token, name, _, _ in resources}
    request = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=type_token,
                name=name,
                urn=urns[name],
                properties=_struct(props),
                dependencies=[urns[dependency] for dependency in depends_on],
            )
            for type_token, name, props, depends_on in resources
        ]
    )
    names = {urn: name for name, urn in urns.items()}
    found, other = set(), []
    for d in stub.AnalyzeStack(request).diagnostics:
        if d.urn in names:
            found.add((d.policyName, names[d.urn], d.message.rsplit("\n", 1)[-1]))
        else:
            other.append(d.message)
    return found, other


def _struct(props: dict[str, Any]) -> struct_pb2.Struct:
    properties = struct_pb2.Struct()
    properties.update(props)
    return properties


# A first preview: what AWS computes is unknown. The flow log and the instance refer to resources still to be
# created (they depend on them) and the template names a group not made yet: all pass. The rest is known.
PREVIEWED_STACK = [
    (VPC, "vpc", {"id": UNKNOWN_STRING_VALUE, "cidrBlock": "10.0.0.0/16"}, []),
    (FLOW_LOG, "flow", {"id": UNKNOWN_STRING_VALUE, "vpcId": UNKNOWN_STRING_VALUE}, ["vpc"]),
    (
        RDS,
        "db",
        {"arn": UNKNOWN_STRING_VALUE, "id": UNKNOWN_STRING_VALUE, "clusterIdentifier": "platform-prod"},
        [],
    ),
    (RDS_INSTANCE, "db-0", {"clusterIdentifier": UNKNOWN_STRING_VALUE}, ["db"]),
    (LT, "lt", {"vpcSecurityGroupIds": [UNKNOWN_STRING_VALUE]}, []),
    (RELEASE, "gateway", {"chart": "gateway", "values": {"autoscaling": {"enabled": True}}}, []),
    (RELEASE, "base", {"chart": "base", "values": UNKNOWN_OBJECT_VALUE}, []),
    (PASSWORD, "password", {"length": 64.0, "special": True, "overrideSpecial": "!&#$^<>-@"}, []),
    (REDIS, "redis", {"authToken": UNKNOWN_STRING_VALUE}, ["password"]),
]
ANYWHERE = {
    (
        "metrics-source-for-autoscaling",
        "gateway",
        "makes a HorizontalPodAutoscaler but the stack installs no metrics source (a metrics-server Helm "
        "release or EKS add-on): EKS ships none, so the autoscaler reads no CPU and never scales",
    ),
    (
        "elasticache-auth-token-charset",
        "password",
        "makes the AUTH token of redis: overrideSpecial '!&#$^<>-@' holds '@', which ElastiCache refuses",
    ),
}

# The same cluster in either stack: only prod wants deletion protection, and its tags say prod. The same
# stack too: only prod wants two Aurora instances and a backup of them.
JUDGED_BY_STACK = {
    "prod": (
        {("prod-deletion-protection", "deletionProtection is not true in prod")},
        ANYWHERE
        | {
            (
                "aurora-replicas-in-prod",
                "db",
                "1 aws.rds.ClusterInstance(s) in prod, fewer than 2: nothing to fail over to",
            ),
            (
                "backup-selects-aurora",
                "db",
                "no aws.backup.Selection lists this cluster's ARN in resources: "
                "AWS Backup never copies it in prod",
            ),
        },
    ),
    "dev": ({("required-tags", "tag Stack is 'prod', not this stack's name 'dev'")}, ANYWHERE),
}


@pytest.mark.parametrize(("analyzer", "expected"), JUDGED_BY_STACK.items(), indirect=["analyzer"])
def test_the_pack_judges_by_the_stack_the_engine_names(analyzer, expected):
    on_the_cluster, on_the_stack = expected
    # The encryption key, made in the same update, is unknown in the preview and still counts as given.
    assert analyze(analyzer, EKS, CLUSTER) == on_the_cluster
    # No stack policy is skipped for reading an unknown ("can't run policy ... during preview").
    assert analyze_stack(analyzer, PREVIEWED_STACK) == (on_the_stack, [])


def test_pack_files_pin_the_sdk_and_the_programs_pulumi():
    pack = yaml.safe_load((PROJECT_DIR / "policy" / "PulumiPolicy.yaml").read_text())
    assert pack["runtime"]["name"] == "python"
    pins = (PROJECT_DIR / "policy" / "requirements.txt").read_text().split()
    program = (PROJECT_DIR / "requirements.txt").read_text().split()
    assert "pulumi-policy==1.21.0" in pins
    assert [pin for pin in pins if pin.startswith("pulumi==")] == [
        pin for pin in program if pin.startswith("pulumi==")
    ]
    assert "pulumi-policy==1.21.0" in (PROJECT_DIR / "requirements-dev.txt").read_text().split()


# --- the replacement guard ------------------------------------------------------------------------------

PARENT = "platform:index:Platform$platform:index:Database"


def step(
    op: str, resource_type: str, name: str, *, states: bool = True, parent: str = PARENT
) -> dict[str, Any]:
    qualified = f"{parent}${resource_type}" if parent else resource_type
    urn = f"urn:pulumi:prod::platform::{qualified}::{name}"
    entry: dict[str, Any] = {
        "op": op,
        "urn": urn,
        "provider": "urn:pulumi:prod::platform::pulumi:providers:aws::default",
    }
    if states:
        state = {"urn": urn, "custom": True, "type": resource_type, "inputs": {}}
        if op != "delete":
            entry["newState"] = state
        if op not in ("create", "create-replacement"):
            entry["oldState"] = state
    return entry


def preview(*steps: dict[str, Any]) -> dict[str, Any]:
    return {
        "config": {},
        "steps": [step("same", "pulumi:pulumi:Stack", "platform-prod", parent=""), *steps],
        "changeSummary": {},
    }


REPLACED_DATABASE = [
    step("create-replacement", RDS, "platform-database-cluster"),
    step("replace", RDS, "platform-database-cluster"),
    step("delete-replaced", RDS, "platform-database-cluster"),
]
HARMLESS = [
    step("create", "aws:eks/nodeGroup:NodeGroup", "platform-cluster-batch"),
    step("update", RDS, "platform-database-cluster"),
    step("replace", "aws:ec2/launchTemplate:LaunchTemplate", "platform-cluster-general-lt"),
    step("delete", "aws:eks/nodeGroup:NodeGroup", "platform-cluster-old"),
]


def run_guard(tmp_path: Path, document: Any, *flags: str, environment: dict[str, str] | None = None) -> int:
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(document))
    return guard.main([str(path), *flags], environment or {})


def test_guard_passes_changes_that_destroy_nothing_stateful(tmp_path, capsys):
    assert run_guard(tmp_path, preview(*HARMLESS)) == guard.EXIT_OK
    assert "no stateful resource" in capsys.readouterr().out


def test_guard_refuses_a_replacement_and_a_deletion_once_each(tmp_path, capsys):
    document = preview(*HARMLESS, *REPLACED_DATABASE, step("delete", KMS, "platform-cache-kms", states=False))
    assert run_guard(tmp_path, document) == guard.EXIT_REFUSED
    err = capsys.readouterr().err
    assert "destroys 2 stateful resource(s)" in err
    assert err.count("replaces aws:rds/cluster:Cluster platform-database-cluster") == 1
    assert "deletes aws:kms/key:Key platform-cache-kms" in err
    assert "launchTemplate" not in err


def test_guard_allows_what_it_is_told_and_no_more(tmp_path, capsys):
    document = preview(*REPLACED_DATABASE, step("delete", NAMESPACE, "platform-baseline-agents"))
    assert run_guard(tmp_path, document, "--allow", "platform-database-cluster") == guard.EXIT_REFUSED
    err = capsys.readouterr().err
    assert "platform-baseline-agents" in err
    assert "platform-database-cluster" not in err
    urn = REPLACED_DATABASE[0]["urn"]
    allowed = {guard.ALLOW_ENV: f"{urn}, platform-baseline-agents"}
    assert run_guard(tmp_path, document, environment=allowed) == guard.EXIT_OK
    assert run_guard(tmp_path, document, "--allow-all") == guard.EXIT_OK
    assert run_guard(tmp_path, document, environment={guard.ALLOW_ENV: "all"}) == guard.EXIT_OK
    assert "allowed: the preview replaces aws:rds/cluster:Cluster" in capsys.readouterr().out


@pytest.mark.parametrize("document", [{"resources": []}, [1, 2], {"steps": "none"}])
def test_guard_refuses_what_is_not_a_preview(tmp_path, capsys, document):
    assert run_guard(tmp_path, document) == guard.EXIT_UNREADABLE
    assert "cannot read" in capsys.readouterr().err


def test_guard_runs_as_a_module_on_standard_input():
    document = json.dumps(preview(*REPLACED_DATABASE))
    environment = {key: value for key, value in os.environ.items() if key != guard.ALLOW_ENV}
    result = subprocess.run(
        [sys.executable, "-m", "policy.guard", "-"],
        input=document,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "platform-database-cluster" in result.stderr


def test_the_guard_stops_the_destruction_of_every_type_prod_protects():
    """``protect`` stops a deletion, not a replacement: the guard must know each type prod protects."""
    protected = {r.type for r in stack_plan("prod").resources if r.protect}
    assert {"aws:rds/cluster:Cluster", "aws:s3/bucket:Bucket"} <= protected
    assert protected - set(guard.STATEFUL) == set()
