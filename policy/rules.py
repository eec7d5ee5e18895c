"""The platform's policy rules: plain functions over one resource's type and inputs.

A rule sees what the engine hands a policy pack: the resource's type token and its inputs in engine
form (camelCase keys, secrets in the clear) and the stack's name, and returns its violations as
messages, none when the resource complies. ``pulumi preview --policy-pack policy`` runs them through
``policy/__main__.py``; ``python -m offline preview`` runs the same functions over the inputs its plan
recorded (``offline/policy.py``). Nothing here imports Pulumi, so both can.

During a real preview an input that waits on a resource not created yet is unknown, and pulumi-policy
skips a rule (with an advisory note) for a resource when the rule reads one. So references made by
other resources (a KMS key's ARN, a generated AUTH token) are tested for presence only, which reads
no value. Lists and maps are tested as ``Sequence`` and ``Mapping``: the pack's inputs are read-only
proxies, not ``list`` and ``dict``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

PRODUCTION_STACK = "prod"
"""The stack whose stateful resources must refuse deletion."""

BACKUP_RETENTION_DAYS = {"prod": 30, "dev": 1}
"""Fewest days Aurora keeps automated backups, per stack; dev keeps them short on purpose (DESIGN.md)."""
DEFAULT_BACKUP_RETENTION_DAYS = 7
"""The floor of every stack not in ``BACKUP_RETENTION_DAYS`` (staging, and any new one)."""

REQUIRED_TAGS = ("Project", "Stack", "ManagedBy")
"""Tags every taggable AWS resource carries (``components/tags.py``); ``Stack`` names the stack."""

EKS_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
"""Every control-plane log type EKS can send to CloudWatch."""

POD_SECURITY_LEVELS = ("restricted", "baseline")
"""Pod Security Standards a namespace may enforce; ``privileged`` (or none) admits any pod."""

POD_SECURITY_LABEL = "pod-security.kubernetes.io/enforce"


class Enforcement(StrEnum):
    """What a violation does: ``mandatory`` fails the preview, ``advisory`` only reports."""

    MANDATORY = "mandatory"
    ADVISORY = "advisory"


Check = Callable[[str, Mapping[str, Any], str], list[str]]
"""``(resource_type, props, stack) -> violations``; most rules ignore the stack."""


@dataclass(frozen=True)
class Rule:
    """One policy: its name (the pack's policy name), what it asks, how hard, which types, its check."""

    name: str
    description: str
    enforcement: Enforcement
    resource_types: tuple[str, ...]
    """Type tokens it applies to; one ending in ``*`` stands for every token it begins."""
    check: Check

    def applies_to(self, resource_type: str) -> bool:
        """Whether the rule looks at resources of ``resource_type``."""
        return any(
            resource_type.startswith(token[:-1]) if token.endswith("*") else resource_type == token
            for token in self.resource_types
        )

    def violations(self, resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
        """The rule's messages for one resource; none when it complies or the rule does not apply."""
        return self.check(resource_type, props, stack) if self.applies_to(resource_type) else []


# --- reading engine-form inputs -------------------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[Any]:
    """A list input as a list; an unset one (or a scalar) as empty."""
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else []


def _given(props: Mapping[str, Any], key: str) -> bool:
    """Whether ``key`` is set, found among the keys so that its (perhaps unknown) value is never read."""
    return key in list(props)


def _true(value: Any) -> bool:
    """Booleans come as ``True``, or as ``"true"`` where the provider's schema types them as strings."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _open_to_all(cidr: Any) -> bool:
    """A CIDR of prefix length 0 (``0.0.0.0/0``, ``::/0``): every address there is."""
    try:
        return ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0
    except ValueError:
        return False


# --- network --------------------------------------------------------------------------------------------

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"


def _cidr_sources(rule: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``(path, cidr)`` of each CIDR an inline or ``securityGroupRule`` ingress rule admits."""
    return [
        (f"{prefix}{key}[{index}]", cidr)
        for key in ("cidrBlocks", "ipv6CidrBlocks")
        for index, cidr in enumerate(_items(rule.get(key)))
    ]


def no_public_ingress(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """No security group admits traffic from every address (``0.0.0.0/0`` or ``::/0``)."""
    if resource_type == INGRESS_RULE:
        sources = [(key, props.get(key)) for key in ("cidrIpv4", "cidrIpv6")]
    elif resource_type == SECURITY_GROUP_RULE:
        sources = _cidr_sources(props) if props.get("type") == "ingress" else []
    else:
        sources = [
            source
            for index, rule in enumerate(_items(props.get("ingress")))
            for source in _cidr_sources(_mapping(rule), f"ingress[{index}].")
        ]
    return [
        f"{path} is {cidr}: ingress from the whole internet; admit security groups or known CIDRs"
        for path, cidr in sources
        if _open_to_all(cidr)
    ]


# --- EKS ------------------------------------------------------------------------------------------------

EKS_CLUSTER = "aws:eks/cluster:Cluster"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


def eks_secrets_encryption(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Kubernetes secrets are envelope-encrypted with a KMS key of ours."""
    config = props.get("encryptionConfig")
    # Older providers typed encryptionConfig as a list of one; either shape is read.
    configs = [config] if isinstance(config, Mapping) else _items(config)
    for item in map(_mapping, configs):
        if "secrets" in _items(item.get("resources")) and _given(_mapping(item.get("provider")), "keyArn"):
            return []
    return ["encryptionConfig does not encrypt 'secrets' with a KMS key (provider.keyArn)"]


def eks_control_plane_logging(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """The control plane sends all five log types to CloudWatch (audit above all)."""
    enabled = set(_items(props.get("enabledClusterLogTypes")))
    missing = [kind for kind in EKS_LOG_TYPES if kind not in enabled]
    return [f"enabledClusterLogTypes lacks {', '.join(missing)}"] if missing else []


def eks_endpoint_access(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """A public API endpoint admits only listed CIDRs, never everyone; in prod it is private."""
    vpc = _mapping(props.get("vpcConfig"))
    # EKS's own defaults: a public endpoint, open to 0.0.0.0/0.
    public = vpc.get("endpointPublicAccess", True)
    if not _true(public):
        return []
    if stack == PRODUCTION_STACK:
        return ["vpcConfig.endpointPublicAccess is true: the prod API endpoint must be private"]
    cidrs = _items(vpc.get("publicAccessCidrs"))
    if not cidrs:
        return ["the API endpoint is public with no publicAccessCidrs, so EKS opens it to 0.0.0.0/0"]
    return [
        f"vpcConfig.publicAccessCidrs[{index}] is {cidr}: the API endpoint is open to the whole internet"
        for index, cidr in enumerate(cidrs)
        if _open_to_all(cidr)
    ]


def launch_template_imdsv2(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Nodes answer only IMDSv2 (session tokens), which SSRF through a pod cannot forge."""
    metadata = _mapping(props.get("metadataOptions"))
    if metadata.get("httpEndpoint") == "disabled" or metadata.get("httpTokens") == "required":
        return []
    return [f"metadataOptions.httpTokens is {metadata.get('httpTokens', 'unset')!r}, not 'required' (IMDSv2)"]


def launch_template_ebs_encrypted(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Every EBS volume of a launch template is encrypted, the root volume included."""
    mappings = [_mapping(mapping) for mapping in _items(props.get("blockDeviceMappings"))]
    volumes = [
        (index, _mapping(mapping.get("ebs"))) for index, mapping in enumerate(mappings) if "ebs" in mapping
    ]
    if not volumes:
        return ["no EBS blockDeviceMappings: the root volume is encrypted only if the AMI or account says so"]
    return [
        f"blockDeviceMappings[{index}] ({mappings[index].get('deviceName', '?')}): ebs.encrypted is not true"
        for index, ebs in volumes
        if not _true(ebs.get("encrypted"))
    ]


# --- data tier ------------------------------------------------------------------------------------------

RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
RDS_INSTANCE = "aws:rds/instance:Instance"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"


def rds_storage_encrypted(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Aurora storage is encrypted with our own KMS key (rotated, and revocable by us)."""
    problems = []
    if not _true(props.get("storageEncrypted")):
        problems.append("storageEncrypted is not true")
    if not _given(props, "kmsKeyId"):
        problems.append("no kmsKeyId: storage would use the AWS-managed key, outside our key policy")
    return problems


def rds_iam_auth(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Aurora accepts IAM authentication, so workloads need no long-lived database passwords."""
    if _true(props.get("iamDatabaseAuthenticationEnabled")):
        return []
    return ["iamDatabaseAuthenticationEnabled is not true"]


def backup_retention_floor(stack: str) -> int:
    """Fewest days of Aurora automated backups ``stack`` must keep."""
    return BACKUP_RETENTION_DAYS.get(stack, DEFAULT_BACKUP_RETENTION_DAYS)


def rds_backup_retention(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Aurora keeps automated backups long enough to restore from: 30 days in prod, 7 elsewhere, dev 1."""
    floor = backup_retention_floor(stack)
    # Aurora's own default when unset is one day.
    days = props.get("backupRetentionPeriod", 1)
    if not isinstance(days, int | float):
        return [f"backupRetentionPeriod is {days!r}, not a number of days"]
    if days >= floor:
        return []
    return [f"backupRetentionPeriod is {days:g} day(s); stack {stack} keeps at least {floor}"]


def rds_instance_private(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """No database instance gets a public address."""
    if _true(props.get("publiclyAccessible")):
        return ["publiclyAccessible is true: the instance gets a public address"]
    return []


def prod_deletion_protection(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """In prod the EKS and Aurora clusters refuse deletion, and Aurora leaves a final snapshot."""
    if stack != PRODUCTION_STACK:
        return []
    problems = []
    if not _true(props.get("deletionProtection")):
        problems.append(f"deletionProtection is not true in {stack}")
    if resource_type == RDS_CLUSTER and _true(props.get("skipFinalSnapshot")):
        problems.append(f"skipFinalSnapshot is true in {stack}: deleting the cluster would keep no snapshot")
    return problems


def elasticache_encryption(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Redis encrypts at rest and in transit, and refuses plain-text clients."""
    problems = []
    if not _true(props.get("atRestEncryptionEnabled")):
        problems.append("atRestEncryptionEnabled is not true")
    if not _true(props.get("transitEncryptionEnabled")):
        problems.append("transitEncryptionEnabled is not true")
    elif props.get("transitEncryptionMode") == "preferred":
        problems.append("transitEncryptionMode is 'preferred': plain-text clients are still accepted")
    return problems


def elasticache_auth(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Redis clients authenticate: an AUTH token, or RBAC user groups."""
    # authTokenWo is the write-only form of authToken (kept out of state); either one sets AUTH.
    if any(_given(props, key) for key in ("authToken", "authTokenWo", "userGroupIds")):
        return []
    return [
        "no authToken, authTokenWo nor userGroupIds: any client that reaches the port may run every command"
    ]


# --- keys, logs, tags -----------------------------------------------------------------------------------

KMS_KEY = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def kms_key_rotation(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Symmetric KMS keys rotate yearly; AWS cannot rotate asymmetric or HMAC keys, so those pass."""
    spec = props.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT")
    if spec != "SYMMETRIC_DEFAULT" or _true(props.get("enableKeyRotation")):
        return []
    return ["enableKeyRotation is not true"]


def log_group_retention(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Log groups expire their events; unset (or 0) keeps them, and bills them, forever."""
    days = props.get("retentionInDays", 0)
    if isinstance(days, int | float) and days > 0:
        return []
    return ["retentionInDays is unset: events are kept (and billed) forever"]


TAGGABLE: frozenset[str] = frozenset(
    {
        "aws:backup/plan:Plan",
        "aws:backup/vault:Vault",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway",
        "aws:ec2/eip:Eip",
        "aws:ec2/flowLog:FlowLog",
        "aws:ec2/instance:Instance",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/networkAcl:NetworkAcl",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/vpc:Vpc",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:eks/addon:Addon",
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        "aws:elasticache/parameterGroup:ParameterGroup",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:elasticache/subnetGroup:SubnetGroup",
        "aws:elasticache/user:User",
        "aws:elasticache/userGroup:UserGroup",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:iam/policy:Policy",
        "aws:iam/role:Role",
        "aws:kms/key:Key",
        "aws:rds/cluster:Cluster",
        "aws:rds/clusterInstance:ClusterInstance",
        "aws:rds/clusterParameterGroup:ClusterParameterGroup",
        "aws:rds/instance:Instance",
        "aws:rds/parameterGroup:ParameterGroup",
        "aws:rds/subnetGroup:SubnetGroup",
        "aws:secretsmanager/secret:Secret",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    }
)
"""AWS types whose resources take ``tags``: each one the stacks create, and a few they may soon.

Listed here rather than read from pulumi_aws, which this module must not import. A type missing from
it only escapes the no-tags check; the tests compare it with the SDK over every stack's plan.
"""


def required_tags(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Every AWS resource that takes tags carries Project, Stack (this stack's name) and ManagedBy."""
    if not _given(props, "tags"):
        if resource_type in TAGGABLE:
            return [f"no tags: {', '.join(REQUIRED_TAGS)} are missing"]
        return []
    tags = _mapping(props.get("tags"))
    problems = [f"tag {key} is missing" for key in REQUIRED_TAGS if not tags.get(key)]
    if tags.get("Stack") and tags["Stack"] != stack:
        problems.append(f"tag Stack is {tags['Stack']!r}, not this stack's name {stack!r}")
    return problems


# --- Kubernetes -----------------------------------------------------------------------------------------

NAMESPACE = "kubernetes:core/v1:Namespace"
PEER_AUTHENTICATIONS = (
    "kubernetes:security.istio.io/v1:PeerAuthentication",
    "kubernetes:security.istio.io/v1beta1:PeerAuthentication",
)


def namespace_pod_security(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Every namespace enforces a Pod Security Standard: restricted, or baseline where a system needs it."""
    labels = _mapping(_mapping(props.get("metadata")).get("labels"))
    level = labels.get(POD_SECURITY_LABEL)
    if level in POD_SECURITY_LEVELS:
        return []
    return [f"label {POD_SECURITY_LABEL} is {level!r}, not one of {', '.join(POD_SECURITY_LEVELS)}"]


def istio_strict_mtls(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Istio PeerAuthentications require mutual TLS: mode STRICT, on every port they name too."""
    spec = _mapping(props.get("spec"))
    mode = _mapping(spec.get("mtls")).get("mode")
    problems = [] if mode == "STRICT" else [f"spec.mtls.mode is {mode!r}, not 'STRICT'"]
    for port, setting in _mapping(spec.get("portLevelMtls")).items():
        port_mode = _mapping(setting).get("mode")
        if port_mode != "STRICT":
            problems.append(f"spec.portLevelMtls.{port}.mode is {port_mode!r}, not 'STRICT'")
    return problems


# --- the table ------------------------------------------------------------------------------------------

MANDATORY = Enforcement.MANDATORY
ADVISORY = Enforcement.ADVISORY

RULES: tuple[Rule, ...] = (
    Rule(
        "no-public-ingress",
        "Security groups admit no ingress from 0.0.0.0/0 or ::/0.",
        MANDATORY,
        (SECURITY_GROUP, DEFAULT_SECURITY_GROUP, INGRESS_RULE, SECURITY_GROUP_RULE),
        no_public_ingress,
    ),
    Rule(
        "eks-secrets-encryption",
        "EKS encrypts Kubernetes secrets with a KMS key.",
        MANDATORY,
        (EKS_CLUSTER,),
        eks_secrets_encryption,
    ),
    Rule(
        "eks-control-plane-logging",
        "EKS sends all five control-plane log types to CloudWatch.",
        ADVISORY,
        (EKS_CLUSTER,),
        eks_control_plane_logging,
    ),
    Rule(
        "eks-endpoint-access",
        "The EKS API endpoint is never open to 0.0.0.0/0, and is private in prod.",
        MANDATORY,
        (EKS_CLUSTER,),
        eks_endpoint_access,
    ),
    Rule(
        "launch-template-imdsv2",
        "Launch templates require IMDSv2 (httpTokens required).",
        MANDATORY,
        (LAUNCH_TEMPLATE,),
        launch_template_imdsv2,
    ),
    Rule(
        "launch-template-ebs-encrypted",
        "Launch templates encrypt every EBS volume, the root volume included.",
        MANDATORY,
        (LAUNCH_TEMPLATE,),
        launch_template_ebs_encrypted,
    ),
    Rule(
        "rds-storage-encrypted",
        "Aurora storage is encrypted with a customer-managed KMS key.",
        MANDATORY,
        (RDS_CLUSTER,),
        rds_storage_encrypted,
    ),
    Rule(
        "rds-iam-auth",
        "Aurora accepts IAM database authentication.",
        ADVISORY,
        (RDS_CLUSTER,),
        rds_iam_auth,
    ),
    Rule(
        "rds-backup-retention",
        "Aurora keeps automated backups 30 days in prod, 7 in other stacks, 1 in dev.",
        MANDATORY,
        (RDS_CLUSTER,),
        rds_backup_retention,
    ),
    Rule(
        "rds-instance-private",
        "Database instances are not publicly accessible.",
        MANDATORY,
        (RDS_CLUSTER_INSTANCE, RDS_INSTANCE),
        rds_instance_private,
    ),
    Rule(
        "prod-deletion-protection",
        "In prod the EKS and Aurora clusters have deletion protection and Aurora keeps a final snapshot.",
        MANDATORY,
        (EKS_CLUSTER, RDS_CLUSTER),
        prod_deletion_protection,
    ),
    Rule(
        "elasticache-encryption",
        "ElastiCache encrypts at rest and in transit (TLS required).",
        MANDATORY,
        (REPLICATION_GROUP,),
        elasticache_encryption,
    ),
    Rule(
        "elasticache-auth",
        "ElastiCache requires an AUTH token or RBAC user groups.",
        MANDATORY,
        (REPLICATION_GROUP,),
        elasticache_auth,
    ),
    Rule(
        "kms-key-rotation",
        "Symmetric KMS keys rotate automatically.",
        MANDATORY,
        (KMS_KEY,),
        kms_key_rotation,
    ),
    Rule(
        "log-group-retention",
        "CloudWatch log groups set a retention period.",
        ADVISORY,
        (LOG_GROUP,),
        log_group_retention,
    ),
    Rule(
        "required-tags",
        "AWS resources that take tags carry Project, Stack (the stack's name) and ManagedBy.",
        MANDATORY,
        ("aws:*",),
        required_tags,
    ),
    Rule(
        "namespace-pod-security",
        "Namespaces enforce the restricted (or baseline) Pod Security Standard.",
        MANDATORY,
        (NAMESPACE,),
        namespace_pod_security,
    ),
    Rule(
        "istio-strict-mtls",
        "Istio PeerAuthentications require STRICT mutual TLS.",
        MANDATORY,
        PEER_AUTHENTICATIONS,
        istio_strict_mtls,
    ),
)
"""Every rule, in the order results are shown; names are unique."""
