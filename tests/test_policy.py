"""The policy pack: each rule's pass and fail cases, the stacks against it, the offline preview's exit 3,
the pulumi-policy pack built from the rule table, and the replacement guard."""

from __future__ import annotations

import json
import os
import runpy
import select
import subprocess
import sys
from collections.abc import Iterator
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
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
    unknown_checking_proxy,
)

from offline import policy as offline_policy
from offline import summary
from offline.runner import PROJECT_DIR, Plan, Secret, run_under_mocks, stack_file
from policy import guard
from policy.pack import PACK_NAME, policies
from policy.rules import PEER_AUTHENTICATIONS, RULES, TAGGABLE, Enforcement
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
NAMESPACE = "kubernetes:core/v1:Namespace"
PEER_AUTH = "kubernetes:security.istio.io/v1:PeerAuthentication"

BY_NAME = {rule.name: rule for rule in RULES}
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0b6c5f8e-1111-2222-3333-444455556666"
ALL_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
ENCRYPTED_DISK = [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "volumeSize": 50}}]
SECURE_AURORA = {"storageEncrypted": True, "kmsKeyId": KEY_ARN}
SECURE_REDIS = {"atRestEncryptionEnabled": True, "transitEncryptionEnabled": True}


def tags(stack: str, **overrides: str) -> dict[str, str]:
    return {"Project": "platform", "Stack": stack, "ManagedBy": "pulumi", "Name": "x", **overrides}


def mtls(mode: str | None, **ports: str) -> dict[str, Any]:
    spec: dict[str, Any] = {} if mode is None else {"mtls": {"mode": mode}}
    if ports:
        spec["portLevelMtls"] = {port: {"mode": value} for port, value in ports.items()}
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "spec": spec}


def labelled(level: str | None) -> dict[str, Any]:
    labels = {} if level is None else {"pod-security.kubernetes.io/enforce": level}
    return {"metadata": {"name": "apps", "labels": labels}}


# (rule, resource type, inputs, stack); each complies.
PASSING: dict[str, tuple[str, str, dict[str, Any], str]] = {
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
}

# (rule, resource type, inputs, stack, a text each message list must contain).
FAILING: dict[str, tuple[str, str, dict[str, Any], str, str]] = {
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


def test_every_rule_has_a_pass_and_a_fail_case():
    names = [rule.name for rule in RULES]
    assert len(set(names)) == len(names)
    assert {case[0] for case in PASSING.values()} == set(names)
    assert {case[0] for case in FAILING.values()} == set(names)


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
    redis = [v.message for v in result.violations if v.name == "secret-flags"]
    assert redis == ["transitEncryptionEnabled is not true"]


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
    plan = edited(dev_plan, add=[resource(dev_plan, LOGS, "forever", {"tags": tags("dev")})])
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


# --- the pulumi-policy pack -----------------------------------------------------------------------------


def test_pack_has_one_policy_per_rule_at_its_enforcement():
    built = policies()
    assert [(p.name, p.enforcement_level) for p in built] == [
        (rule.name, pulumi_policy.EnforcementLevel(rule.enforcement.value)) for rule in RULES
    ]
    assert all(isinstance(p, pulumi_policy.ResourceValidationPolicy) for p in built)
    levels = {rule.enforcement for rule in RULES}
    assert levels == {Enforcement.MANDATORY, Enforcement.ADVISORY}


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


# The same cluster in either stack: only prod wants deletion protection, and its tags say prod.
JUDGED_BY_STACK = {
    "prod": {("prod-deletion-protection", "deletionProtection is not true in prod")},
    "dev": {("required-tags", "tag Stack is 'prod', not this stack's name 'dev'")},
}


@pytest.mark.parametrize(("analyzer", "expected"), JUDGED_BY_STACK.items(), indirect=["analyzer"])
def test_the_pack_judges_by_the_stack_the_engine_names(analyzer, expected):
    # The encryption key, made in the same update, is unknown in the preview and still counts as given.
    assert analyze(analyzer, EKS, CLUSTER) == expected


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
