"""The platform's policy rules: plain functions over one resource, or over the whole stack.

A resource rule (:class:`Rule`) sees what the engine hands a policy pack for one resource: its type token,
its inputs in engine form (camelCase keys, secrets in the clear) and the stack's name, and returns its
violations as messages, none when the resource complies. A stack rule (:class:`StackRule`) sees every
resource of the stack at once as :class:`StackResource` records (type, URN, name, props, the URNs it depends
on), for what only the relations between resources show: which security groups a launch template names,
whether a backup selection lists the Aurora cluster. ``pulumi preview --policy-pack policy`` runs both
through ``policy/__main__.py``; ``python -m offline preview`` runs the same functions over its plan
(``offline/policy.py``). Nothing here imports Pulumi, so both can.

Inputs and outputs: the engine analyses each resource with its *inputs* (``Analyze``, before the step) but
the stack with each resource's *outputs* (``AnalyzeStack``, once every step is planned or done). The AWS
provider's outputs repeat its inputs under the same names and add what AWS computes (``id``, ``arn``, the
cluster security group EKS makes), so a stack rule reads the names a resource rule would, plus those.

Unknown values. During a real preview a value that waits on a resource not created yet is unknown.

- A resource rule gets pulumi-policy's proxy, which raises when a rule reads an unknown value; the pack then
  skips that rule for that resource (with an advisory note). So references made by other resources (a KMS
  key's ARN, a generated AUTH token) are tested for presence only, which reads no value.
- A stack rule gets plain values with :data:`UNKNOWN` in place of each unknown (``policy/pack.py`` puts it
  there), because one raise would skip the rule for the whole stack. It tests :func:`known` before it
  compares, and where a value it needs is unknown it falls back to what is known (a dependency) or passes:
  no rule fails on a value the preview cannot know.

Lists and maps are tested as ``Sequence`` and ``Mapping``: the pack's inputs are read-only proxies, not
``list`` and ``dict``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any, TypeGuard

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


class Unknown:
    """The type of :data:`UNKNOWN`."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = Unknown()
"""A value a preview cannot know yet, as stack rules see it (in place of pulumi-policy's sentinels)."""


def known(value: Any) -> bool:
    """Whether a stack rule's ``value`` is known; an unset one (``None``) is known to be unset."""
    return value is not UNKNOWN


@dataclass(frozen=True)
class StackResource:
    """One resource of the stack as a stack rule sees it: a small read-only record."""

    type: str
    urn: str
    name: str
    props: Mapping[str, Any]
    """Its outputs in engine form: its inputs under the same names plus what the provider computed
    (``id``, ``arn``...), secrets in the clear, :data:`UNKNOWN` where the preview cannot know a value."""
    dependencies: frozenset[str] = frozenset()
    """URNs of what it depends on: explicit ``depends_on`` and the resources its inputs come from."""


StackCheck = Callable[[Sequence[StackResource], str], list[tuple[str, str]]]
"""``(resources, stack) -> [(urn, message), ...]``: each violation names the resource it is about."""


@dataclass(frozen=True)
class StackRule:
    """A policy over the whole stack: its name, what it asks, how hard, what it reports on, its check."""

    name: str
    description: str
    enforcement: Enforcement
    resource_types: tuple[str, ...]
    """Type tokens of the resources its violations name; it reads other types too."""
    check: StackCheck

    def applies_to(self, resource_type: str) -> bool:
        """Whether the rule reports on resources of ``resource_type``."""
        return resource_type in self.resource_types

    def violations(self, resources: Sequence[StackResource], stack: str) -> list[tuple[str, str]]:
        """``(urn, message)`` of each violation in the stack; none when it complies."""
        return self.check(resources, stack)


AnyRule = Rule | StackRule
"""Either kind of rule, as ``RULES`` holds them."""


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


def _number(value: Any) -> TypeGuard[float]:
    """Whether ``value`` is a number; the engine sends every number as a float, and ``bool`` is no number."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _listed(value: Any) -> list[Any]:
    """A policy document's ``Action`` or ``Resource``: one string, or a list of them."""
    return [value] if isinstance(value, str) else _items(value)


def _document(value: Any) -> Mapping[str, Any] | None:
    """An IAM or key policy given as JSON text or as a map; None when it is neither."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, Mapping) else None


def _statements(document: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """``(label, statement)`` of each statement, labelled by its ``Sid`` or its position."""
    listed = document.get("Statement")
    statements = [listed] if isinstance(listed, Mapping) else _items(listed)
    return [
        (str(_mapping(statement).get("Sid") or index), _mapping(statement))
        for index, statement in enumerate(statements)
    ]


def _of_type(resources: Sequence[StackResource], *types: str) -> list[StackResource]:
    return [resource for resource in resources if resource.type in types]


def _known_text(value: Any) -> TypeGuard[str]:
    """A known, non-empty string (:data:`UNKNOWN` and unset values are not)."""
    return isinstance(value, str) and value != ""


def _dig(value: Any, *keys: str, default: Any = None) -> Any:
    """``value[k1][k2]...``: ``default`` where a key is unset, UNKNOWN where a step is unknown."""
    for key in keys:
        if not known(value):
            return UNKNOWN
        if not isinstance(value, Mapping) or key not in value:
            return default
        value = value[key]
    return value


def _refers(dependent: StackResource, reference: Any, target: StackResource, wanted: Any) -> bool:
    """Whether ``dependent``'s ``reference`` (an ID or ARN) names ``target``, whose own value is ``wanted``.

    When either side is unknown (a preview of resources not created yet), a dependency of ``dependent`` on
    ``target`` stands for the reference; an unset reference names nothing.
    """
    if reference is None:
        return False
    if _known_text(reference) and _known_text(wanted):
        return bool(reference == wanted)
    return target.urn in dependent.dependencies


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


PORT_RANGE_LIMIT = 100
"""Most ports one ingress rule may open (``toPort - fromPort + 1``): name the ports that listen instead."""

ALL_PROTOCOLS = ("-1", "all")
ICMP_PROTOCOLS = ("icmp", "icmpv6", "1", "58")
"""Protocols whose ``fromPort``/``toPort`` are an ICMP type and code, not ports."""


def _ingress_entries(
    resource_type: str, props: Mapping[str, Any]
) -> list[tuple[str, Mapping[str, Any], Any, bool]]:
    """``(path, rule, protocol, from groups only)`` of each ingress rule a resource holds."""
    if resource_type == INGRESS_RULE:
        return [("", props, props.get("ipProtocol"), _given(props, "referencedSecurityGroupId"))]
    if resource_type == SECURITY_GROUP_RULE:
        if props.get("type") != "ingress":
            return []
        groups = _given(props, "sourceSecurityGroupId") or _true(props.get("self"))
        return [("", props, props.get("protocol"), groups and not _addresses(props))]
    entries = []
    for index, rule in enumerate(map(_mapping, _items(props.get("ingress")))):
        groups = bool(_items(rule.get("securityGroups"))) or _true(rule.get("self"))
        entries.append((f"ingress[{index}].", rule, rule.get("protocol"), groups and not _addresses(rule)))
    return entries


def _addresses(rule: Mapping[str, Any]) -> bool:
    """Whether a ``securityGroupRule`` or inline rule admits addresses (CIDRs or prefix lists) too."""
    return bool(_cidr_sources(rule)) or bool(_items(rule.get("prefixListIds")))


def no_wide_port_ranges(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Ingress opens named ports, at most 100 at once; every protocol only from security groups (node to
    node)."""
    problems = []
    for path, rule, protocol, from_groups in _ingress_entries(resource_type, props):
        kind = str(protocol).lower()
        if kind in ALL_PROTOCOLS:
            if not from_groups:
                problems.append(f"{path}protocol is {protocol}: every protocol and port, from addresses")
            continue
        low, high = rule.get("fromPort"), rule.get("toPort")
        if kind in ICMP_PROTOCOLS or not (_number(low) and _number(high)):
            continue
        if high - low + 1 > PORT_RANGE_LIMIT:
            problems.append(
                f"{path}ports {low:g}-{high:g} open {high - low + 1:g} ports, more than {PORT_RANGE_LIMIT}: "
                "name the ports that listen"
            )
    return problems


def default_security_group_closed(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """The VPC's default security group admits and sends nothing, so nothing left in it can talk."""
    problems = []
    for key in ("ingress", "egress"):
        if not _given(props, key):
            # The provider manages the group's rules only when told: unset leaves any rule that is there.
            problems.append(
                f"{key} is unset, which leaves the rules already there: set it to [] to remove them"
            )
        elif rules := _items(props.get(key)):
            problems.append(f"{key} has {len(rules)} rule(s): the default security group must stay empty")
    return problems


def subnet_no_public_ip(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Subnets give no instance a public address: NAT gateways and load balancers bring their own."""
    if _true(props.get("mapPublicIpOnLaunch")):
        return ["mapPublicIpOnLaunch is true: every instance launched there gets a public address"]
    return []


VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"


def vpc_flow_logs(resources: Sequence[StackResource], stack: str) -> list[tuple[str, str]]:
    """Every VPC has a flow log of its own (``vpcId``), so its traffic can be traced after the fact."""
    flow_logs = _of_type(resources, FLOW_LOG)
    return [
        (vpc.urn, "no aws.ec2.FlowLog has this VPC's vpcId: its traffic is recorded nowhere")
        for vpc in _of_type(resources, VPC)
        if not any(_refers(log, log.props.get("vpcId"), vpc, vpc.props.get("id")) for log in flow_logs)
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


SECURITY_GROUP_CLUSTER_TAG = "kubernetes.io/cluster/"
"""The tag (``kubernetes.io/cluster/<cluster name>``) by which Kubernetes finds a node's security group."""


def _cluster_tagged(props: Mapping[str, Any]) -> bool | None:
    """Whether a security group carries a ``kubernetes.io/cluster/`` tag; None when its tags are unknown."""
    tag_maps = [props.get("tags"), props.get("tagsAll")]
    if not all(known(tags) for tags in tag_maps):
        return None
    return any(str(key).startswith(SECURITY_GROUP_CLUSTER_TAG) for tags in tag_maps for key in _mapping(tags))


def one_tagged_security_group_per_node(
    resources: Sequence[StackResource], stack: str
) -> list[tuple[str, str]]:
    """Each node (launch template) has exactly one security group tagged ``kubernetes.io/cluster/<name>``.

    The service controller picks that group to admit a load balancer's traffic; with two it fails the
    Service, with none its traffic never reaches the node. EKS tags the cluster security group it makes
    (the cluster's ``vpcConfig.clusterSecurityGroupId``) itself, so that one counts as tagged; a launch
    template that names no group gets just that one from EKS. A template naming an ID the preview cannot
    know yet is skipped.
    """
    tagged: dict[str, bool | None] = {}
    for group in _of_type(resources, SECURITY_GROUP):
        if _known_text(group_id := group.props.get("id")):
            tagged[group_id] = _cluster_tagged(group.props)
    for cluster in _of_type(resources, EKS_CLUSTER):
        if _known_text(own := _dig(cluster.props, "vpcConfig", "clusterSecurityGroupId")):
            tagged[own] = True
    problems = []
    for template in _of_type(resources, LAUNCH_TEMPLATE):
        listed = template.props.get("vpcSecurityGroupIds")
        ids = _items(listed)
        if not known(listed) or not ids or not all(_known_text(group_id) for group_id in ids):
            continue
        flags = [tagged.get(group_id, False) for group_id in ids]
        if None in flags:
            continue
        count = flags.count(True)
        if count == 0:
            problems.append(
                (
                    template.urn,
                    f"none of vpcSecurityGroupIds is tagged {SECURITY_GROUP_CLUSTER_TAG}<name>: "
                    "load balancer traffic would never be admitted to the node",
                )
            )
        elif count > 1:
            names = ", ".join(group_id for group_id, flag in zip(ids, flags, strict=True) if flag)
            problems.append(
                (
                    template.urn,
                    f"{count} of vpcSecurityGroupIds are tagged {SECURITY_GROUP_CLUSTER_TAG}<name> "
                    f"({names}): the service controller fails every LoadBalancer Service on the node",
                )
            )
    return problems


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


def elasticache_multi_az_in_prod(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """In prod Redis runs a replica in another zone and fails over to it by itself."""
    if stack != PRODUCTION_STACK:
        return []
    problems = []
    replicas = props.get("replicasPerNodeGroup")
    if _number(replicas):
        if replicas < 1:
            problems.append(f"replicasPerNodeGroup is {replicas:g}: a shard has no replica to fail over to")
    else:
        # ElastiCache's default is one node.
        nodes = props.get("numCacheClusters", 1)
        if not _number(nodes) or nodes < 2:
            problems.append(f"numCacheClusters is {nodes!r}: a single node has no replica to fail over to")
    for key in ("automaticFailoverEnabled", "multiAzEnabled"):
        if not _true(props.get(key)):
            problems.append(f"{key} is not true in {stack}")
    return problems


def aurora_auto_minor_upgrade(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Aurora takes minor versions (security fixes) in its maintenance window (checkov CKV_AWS_226)."""
    # Unset is AWS's default, true; like checkov, only an explicit false fails.
    if _given(props, "autoMinorVersionUpgrade") and not _true(props.get("autoMinorVersionUpgrade")):
        return [
            "autoMinorVersionUpgrade is false: minor versions, and their security fixes, wait for a person"
        ]
    return []


def rds_performance_insights_cmk(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Performance Insights, which keeps query text, is encrypted with our own KMS key."""
    if _true(props.get("performanceInsightsEnabled")) and not _given(props, "performanceInsightsKmsKeyId"):
        return [
            "performanceInsightsEnabled without performanceInsightsKmsKeyId: its data (query text included) "
            "would use the AWS-managed key, outside our key policy"
        ]
    return []


AURORA_INSTANCES_IN_PROD = 2
"""Fewest instances of a prod Aurora cluster: a writer, and a reader in another zone to fail over to."""


def aurora_replicas_in_prod(resources: Sequence[StackResource], stack: str) -> list[tuple[str, str]]:
    """In prod each Aurora cluster has at least two instances (``clusterIdentifier``), so it survives one."""
    if stack != PRODUCTION_STACK:
        return []
    instances = _of_type(resources, RDS_CLUSTER_INSTANCE)
    problems = []
    for cluster in _of_type(resources, RDS_CLUSTER):
        identifier = cluster.props.get("clusterIdentifier")
        if not _known_text(identifier):
            identifier = cluster.props.get("id")
        count = sum(
            _refers(instance, instance.props.get("clusterIdentifier"), cluster, identifier)
            for instance in instances
        )
        if count < AURORA_INSTANCES_IN_PROD:
            problems.append(
                (
                    cluster.urn,
                    f"{count} aws.rds.ClusterInstance(s) in {stack}, fewer than {AURORA_INSTANCES_IN_PROD}: "
                    "nothing to fail over to",
                )
            )
    return problems


BACKUP_SELECTION = "aws:backup/selection:Selection"


def _selects(selection: StackResource, cluster: StackResource) -> bool:
    """Whether an AWS Backup selection's ``resources`` (ARNs, ``*`` wildcards allowed) take in ``cluster``."""
    arn = cluster.props.get("arn")
    listed = selection.props.get("resources")
    entries = _items(listed)
    if _known_text(arn) and any(_known_text(entry) and fnmatchcase(arn, entry) for entry in entries):
        return True
    undecided = not _known_text(arn) or not known(listed) or not all(_known_text(entry) for entry in entries)
    return undecided and cluster.urn in selection.dependencies


def backup_selects_aurora(resources: Sequence[StackResource], stack: str) -> list[tuple[str, str]]:
    """In prod an AWS Backup selection lists every Aurora cluster's ARN, so its backups outlive the cluster.

    When a cluster's ARN (or a selection's list) is unknown in a preview, a selection that depends on the
    cluster counts as taking it in.
    """
    if stack != PRODUCTION_STACK:
        return []
    selections = _of_type(resources, BACKUP_SELECTION)
    return [
        (
            cluster.urn,
            f"no aws.backup.Selection lists this cluster's ARN in resources: AWS Backup never copies it "
            f"in {stack}",
        )
        for cluster in _of_type(resources, RDS_CLUSTER)
        if not any(_selects(selection, cluster) for selection in selections)
    ]


AUTH_TOKEN_SPECIALS = "!&#$^<>-"
"""The only printable special characters ElastiCache takes in an AUTH token (letters and digits besides)."""
AUTH_TOKEN_LENGTH = (16, 128)
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
RANDOM_DEFAULT_SPECIALS = "!@#$%&*()-_=+[]{}<>:?"
"""The specials a ``random.RandomPassword`` draws from when its ``overrideSpecial`` is unset or empty."""


def _refused_in_token(text: str) -> str:
    """The characters of ``text`` an AUTH token may not hold, sorted, each once."""
    return "".join(
        sorted({c for c in text if not (c.isascii() and c.isalnum()) and c not in AUTH_TOKEN_SPECIALS})
    )


def _token_length_problem(key: str, length: float) -> list[str]:
    low, high = AUTH_TOKEN_LENGTH
    return (
        []
        if low <= length <= high
        else [f"{key} is {length:g} character(s); ElastiCache takes {low} to {high}"]
    )


def _password_problems(props: Mapping[str, Any]) -> list[str]:
    """Why a random password would make an AUTH token ElastiCache refuses; nothing where it is unknown."""
    length = props.get("length")
    problems = _token_length_problem("length", length) if _number(length) else []
    special, override = props.get("special"), props.get("overrideSpecial")
    if special is None:
        special = True  # the provider's default
    if not (known(special) and known(override)) or not _true(special):
        return problems
    if override:
        if refused := _refused_in_token(str(override)):
            problems.append(f"overrideSpecial {override!r} holds {refused!r}, which ElastiCache refuses")
    else:
        problems.append(
            f"special is true with no overrideSpecial: the provider draws from {RANDOM_DEFAULT_SPECIALS!r}, "
            f"and ElastiCache takes only {AUTH_TOKEN_SPECIALS!r}"
        )
    return problems


def elasticache_auth_token_charset(resources: Sequence[StackResource], stack: str) -> list[tuple[str, str]]:
    """ElastiCache AUTH tokens are 16 to 128 letters, digits and only ``!&#$^<>-``: the token where it is
    known, and each random password it is made from."""
    problems = []
    for group in _of_type(resources, REPLICATION_GROUP):
        token = group.props.get("authToken")
        if _known_text(token):
            problems += [(group.urn, problem) for problem in _token_length_problem("authToken", len(token))]
            if _refused_in_token(token):
                # The token is a secret: say what is wrong, not which characters it holds.
                problems.append(
                    (
                        group.urn,
                        f"authToken holds characters ElastiCache refuses (it takes {AUTH_TOKEN_SPECIALS!r})",
                    )
                )
        for password in _of_type(resources, RANDOM_PASSWORD):
            if password.urn in group.dependencies:
                problems += [
                    (password.urn, f"makes the AUTH token of {group.name}: {problem}")
                    for problem in _password_problems(password.props)
                ]
    return problems


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


def log_group_cmk(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Log groups are encrypted with our KMS key, whose policy says who may read them."""
    if _given(props, "kmsKeyId"):
        return []
    return ["no kmsKeyId: events are encrypted with a key CloudWatch Logs owns, outside our key policy"]


def _named(principal: Any) -> bool:
    """Whether a statement's ``Principal`` names someone: anything but ``"*"`` (or ``{"AWS": "*"}``) alone."""
    if isinstance(principal, str):
        return principal != "*"
    return any(value != "*" for listed in _mapping(principal).values() for value in _listed(listed))


def kms_key_policy(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """KMS keys have an explicit key policy that names who may use them; never everyone unconditionally."""
    if not _given(props, "policy"):
        return [
            "no policy: AWS's default key policy lets any principal IAM allows in the account use the key"
        ]
    document = _document(props.get("policy"))
    if document is None:
        return ["policy is not a JSON policy document"]
    allowed = [
        (label, statement) for label, statement in _statements(document) if statement.get("Effect") == "Allow"
    ]
    problems = []
    if not any(_named(statement.get("Principal")) for _, statement in allowed):
        problems.append("no statement allows a named principal: the policy names no one but '*'")
    problems += [
        f"statement {label} allows Principal '*' with no Condition: any AWS principal may use the key"
        for label, statement in allowed
        if "Principal" in statement and not _named(statement["Principal"]) and not statement.get("Condition")
    ]
    return problems


AUDIT_LOG_GROUPS = (re.compile(r"/aws/eks/[^/]+/cluster"), re.compile(r"/aws/rds/cluster/[^/]+/postgresql"))
"""Names of the log groups that hold audit trails: EKS's control plane, Aurora PostgreSQL's log."""
AUDIT_LOG_RETENTION_DAYS = 365


def audit_log_retention(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """In prod the audit log groups (EKS control plane, Aurora PostgreSQL) keep events at least a year.

    A group that never expires (``retentionInDays`` unset or 0, as CloudWatch Logs reads both) keeps them
    longer than that and passes; ``log-group-retention`` reports it for its cost.
    """
    if stack != PRODUCTION_STACK:
        return []
    name = props.get("name")
    if not isinstance(name, str) or not any(pattern.fullmatch(name) for pattern in AUDIT_LOG_GROUPS):
        return []
    days = props.get("retentionInDays", 0)
    if not _number(days):
        return [f"retentionInDays is {days!r}, not a number of days"]
    if days == 0 or days >= AUDIT_LOG_RETENTION_DAYS:
        return []
    return [
        f"retentionInDays is {days:g}: {name} holds an audit trail, "
        f"kept at least {AUDIT_LOG_RETENTION_DAYS} days in {stack}"
    ]


SECRET = "aws:secretsmanager/secret:Secret"


def secrets_cmk(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """Secrets Manager secrets are encrypted with our KMS key, not the account's aws/secretsmanager key."""
    if _given(props, "kmsKeyId"):
        return []
    return ["no kmsKeyId: the secret uses the AWS-managed aws/secretsmanager key, outside our key policy"]


IAM_POLICY_DOCUMENTS = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
IAM_ROLE = "aws:iam/role:Role"
IAM_ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
ADMIN_ACTIONS = ("*", "*:*")
ADMINISTRATOR_ACCESS = ":iam::aws:policy/AdministratorAccess"
"""How the ARN of AWS's managed AdministratorAccess policy ends, in every partition."""


def iam_no_admin_wildcard(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """No IAM policy allows every action on every resource (nor attaches AWS's AdministratorAccess)."""
    if resource_type in IAM_ATTACHMENTS:
        arn = props.get("policyArn")
        if isinstance(arn, str) and arn.endswith(ADMINISTRATOR_ACCESS):
            return [f"policyArn is {arn}: every action on every resource"]
        return []
    if resource_type == IAM_ROLE:
        documents = [
            (f"inlinePolicies[{index}].policy", _mapping(inline).get("policy"))
            for index, inline in enumerate(_items(props.get("inlinePolicies")))
        ]
    else:
        documents = [("policy", props.get("policy"))]
    problems = []
    for path, text in documents:
        document = _document(text)
        for label, statement in _statements(document) if document is not None else []:
            if (
                statement.get("Effect") == "Allow"
                and any(action in ADMIN_ACTIONS for action in _listed(statement.get("Action")))
                and "*" in _listed(statement.get("Resource"))
            ):
                problems.append(f"{path}: statement {label} allows Action '*' on Resource '*'")
    return problems


# --- S3, SNS and CloudWatch alarms -----------------------------------------------------------------------

S3_BUCKET = "aws:s3/bucket:Bucket"
S3_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
S3_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
SNS_TOPIC = "aws:sns/topic:Topic"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
PUBLIC_ACCESS_SETTINGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
AWS_MANAGED_SNS_KEY = "alias/aws/sns"


def _configurations(
    resources: Sequence[StackResource], bucket: StackResource, type_token: str
) -> list[StackResource]:
    """The configuration resources of ``type_token`` whose ``bucket`` names ``bucket`` (its name, its ID)."""
    name = bucket.props.get("bucket") if _known_text(bucket.props.get("bucket")) else bucket.props.get("id")
    return [
        config
        for config in _of_type(resources, type_token)
        if _refers(config, config.props.get("bucket"), bucket, name)
    ]


def _sse_rules(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rules = props.get("rules") if "rules" in props else _mapping(props.get("rule"))
    return [_mapping(rule) for rule in ([rules] if isinstance(rules, Mapping) else _items(rules))]


def _under_kms(rule: Mapping[str, Any]) -> bool | None:
    """Whether an encryption rule uses a KMS key we name; None when a preview cannot tell."""
    default = _dig(rule, "applyServerSideEncryptionByDefault", default={})
    algorithm = _dig(default, "sseAlgorithm")
    if not known(algorithm):
        return None
    return algorithm in KMS_ALGORITHMS and _given(_mapping(default), "kmsMasterKeyId")


def s3_bucket_encryption(resources: Sequence[StackResource], stack: str) -> list[tuple[str, str]]:
    """Every bucket encrypts new objects by default under a KMS key we manage (SSE-KMS with our key's ID), not
    S3's own keys: the key's policy then says who may read the backups, and CloudTrail logs each use."""
    problems = []
    for bucket in _of_type(resources, S3_BUCKET):
        inline = _dig(bucket.props, "serverSideEncryptionConfiguration", default={})
        rules = [
            rule
            for config in _configurations(resources, bucket, S3_ENCRYPTION)
            for rule in _sse_rules(config.props)
        ]
        rules += _sse_rules(_mapping(inline)) if isinstance(inline, Mapping) and inline else []
        verdicts = [_under_kms(rule) for rule in rules]
        if not rules:
            problems.append(
                (bucket.urn, "no aws.s3.BucketServerSideEncryptionConfiguration names this bucket")
            )
        elif not any(verdict is None or verdict for verdict in verdicts):
            problems.append(
                (bucket.urn, "its default encryption is not SSE-KMS under a key we name (kmsMasterKeyId)")
            )
    return problems


def s3_bucket_versioning(resources: Sequence[StackResource], stack: str) -> list[tuple[str, str]]:
    """Every bucket keeps versions, so an object deleted or overwritten (by mistake, or by an attacker with
    the writer's credentials) can be recovered."""
    problems = []
    for bucket in _of_type(resources, S3_BUCKET):
        statuses = [
            _dig(config.props, "versioningConfiguration", "status")
            for config in _configurations(resources, bucket, S3_VERSIONING)
        ]
        inline = _dig(bucket.props, "versioning", "enabled")
        if inline is True or any(status == "Enabled" or not known(status) for status in statuses):
            continue
        problems.append(
            (bucket.urn, "versioning is not Enabled: no aws.s3.BucketVersioning turns it on for this bucket")
        )
    return problems


def s3_public_access_block(resources: Sequence[StackResource], stack: str) -> list[tuple[str, str]]:
    """Every bucket blocks public access with all four settings: public ACLs and policies are neither accepted
    nor honoured."""
    problems = []
    for bucket in _of_type(resources, S3_BUCKET):
        blocks = _configurations(resources, bucket, S3_PUBLIC_ACCESS_BLOCK)
        if not blocks:
            problems.append((bucket.urn, "no aws.s3.BucketPublicAccessBlock names this bucket"))
            continue
        unset = [
            setting
            for setting in PUBLIC_ACCESS_SETTINGS
            if not any(
                _true(block.props.get(setting)) or not known(block.props.get(setting)) for block in blocks
            )
        ]
        if unset:
            problems.append((bucket.urn, f"its public access block leaves {', '.join(unset)} false"))
    return problems


def _denies_plain_http(statement: Mapping[str, Any]) -> bool:
    """A statement denying everyone every S3 action when ``aws:SecureTransport`` is false."""
    condition = _mapping(_mapping(statement.get("Condition")).get("Bool"))
    transport = condition.get("aws:SecureTransport")
    return (
        statement.get("Effect") == "Deny"
        and not _named(statement.get("Principal"))
        and any(action in ("s3:*", "*") for action in _listed(statement.get("Action")))
        and str(transport).lower() == "false"
    )


def s3_tls_only(resources: Sequence[StackResource], stack: str) -> list[tuple[str, str]]:
    """Every bucket's policy denies any request not made over TLS (``aws:SecureTransport`` false)."""
    problems = []
    for bucket in _of_type(resources, S3_BUCKET):
        texts = [config.props.get("policy") for config in _configurations(resources, bucket, S3_POLICY)]
        if _given(bucket.props, "policy"):
            texts.append(bucket.props.get("policy"))
        if any(not known(text) for text in texts):
            continue
        documents = [document for document in map(_document, texts) if document is not None]
        if not any(_denies_plain_http(statement) for doc in documents for _, statement in _statements(doc)):
            problems.append(
                (bucket.urn, "no bucket policy denies s3:* to everyone when aws:SecureTransport is false")
            )
    return problems


def alarm_actions(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """CloudWatch alarms notify someone: alarm actions listed, and actions not disabled."""
    problems = []
    if not _given(props, "alarmActions") or (
        known(props.get("alarmActions")) and not _items(props.get("alarmActions"))
    ):
        problems.append("no alarmActions: the alarm changes state and tells nobody")
    if props.get("actionsEnabled") is False:
        problems.append("actionsEnabled is false: its actions never run")
    return problems


def sns_topic_encrypted(resource_type: str, props: Mapping[str, Any], stack: str) -> list[str]:
    """SNS topics are encrypted at rest with a customer-managed KMS key; the AWS-managed one (alias/aws/sns)
    lets no AWS service (CloudWatch alarms among them) publish to the topic."""
    if not _given(props, "kmsMasterKeyId"):
        return ["no kmsMasterKeyId: messages are stored unencrypted"]
    key = props.get("kmsMasterKeyId")
    if isinstance(key, str) and key.endswith(AWS_MANAGED_SNS_KEY):
        return [f"kmsMasterKeyId is {key}, the AWS-managed key: no AWS service may publish to the topic"]
    return []


TAGGABLE: frozenset[str] = frozenset(
    {
        "aws:backup/plan:Plan",
        "aws:backup/vault:Vault",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:codebuild/project:Project",
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
        "aws:eks/accessEntry:AccessEntry",
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
        "aws:s3/bucket:Bucket",
        "aws:secretsmanager/secret:Secret",
        "aws:sns/topic:Topic",
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


HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
HORIZONTAL_POD_AUTOSCALERS = tuple(
    f"kubernetes:autoscaling/{version}:HorizontalPodAutoscaler"
    for version in ("v1", "v2", "v2beta1", "v2beta2")
)
EKS_ADDON = "aws:eks/addon:Addon"
API_SERVICE = "kubernetes:apiregistration.k8s.io/v1:APIService"
METRICS_SERVER = "metrics-server"
RESOURCE_METRICS_API = "v1beta1.metrics.k8s.io"
"""The APIService of the resource metrics API, which metrics-server (or a substitute) serves."""
AUTOSCALING_CHARTS = {"gateway": ("autoscaling", "enabled"), "istiod": ("pilot", "autoscaleEnabled")}
"""Istio's charts that make a HorizontalPodAutoscaler, and the value that turns it off (on by default)."""


def _chart(release: StackResource) -> Any:
    """A Helm release's chart by its own name: ``istio/gateway`` and ``oci://.../gateway`` are ``gateway``."""
    chart = release.props.get("chart")
    return chart.rstrip("/").rsplit("/", 1)[-1] if isinstance(chart, str) else chart


def _makes_hpa(resource: StackResource) -> bool | None:
    """Whether a resource is, or installs, a HorizontalPodAutoscaler; None when the preview cannot tell."""
    if resource.type in HORIZONTAL_POD_AUTOSCALERS:
        return True
    if resource.type != HELM_RELEASE:
        return False
    chart = _chart(resource)
    if not known(chart):
        return None
    if chart not in AUTOSCALING_CHARTS:
        return False
    enabled = _dig(resource.props.get("values"), *AUTOSCALING_CHARTS[chart], default=True)
    return _true(enabled) if known(enabled) else None


def _metrics_source(resource: StackResource) -> bool | None:
    """Whether a resource serves the resource metrics API; None when the preview cannot tell."""
    if resource.type == HELM_RELEASE:
        name = _chart(resource)
    elif resource.type == EKS_ADDON:
        name = resource.props.get("addonName")
    elif resource.type == API_SERVICE:
        name = _dig(resource.props, "metadata", "name")
        return (name == RESOURCE_METRICS_API) if known(name) else None
    else:
        return False
    return (name == METRICS_SERVER) if known(name) else None


def metrics_source_for_autoscaling(resources: Sequence[StackResource], stack: str) -> list[tuple[str, str]]:
    """A stack that makes HorizontalPodAutoscalers (its own, or Istio's gateway and istiod charts) installs a
    metrics source: a metrics-server Helm release or EKS add-on, or a resource metrics APIService."""
    if any(_metrics_source(resource) is not False for resource in resources):
        return []
    return [
        (
            resource.urn,
            "makes a HorizontalPodAutoscaler but the stack installs no metrics source (a metrics-server Helm "
            "release or EKS add-on): EKS ships none, so the autoscaler reads no CPU and never scales",
        )
        for resource in resources
        if _makes_hpa(resource)
    ]


# --- the table ------------------------------------------------------------------------------------------

MANDATORY = Enforcement.MANDATORY
ADVISORY = Enforcement.ADVISORY

RULES: tuple[AnyRule, ...] = (
    Rule(
        "no-public-ingress",
        "Security groups admit no ingress from 0.0.0.0/0 or ::/0.",
        MANDATORY,
        (SECURITY_GROUP, DEFAULT_SECURITY_GROUP, INGRESS_RULE, SECURITY_GROUP_RULE),
        no_public_ingress,
    ),
    Rule(
        "no-wide-port-ranges",
        "Ingress opens at most 100 ports at once, and every protocol only from a security group.",
        MANDATORY,
        (SECURITY_GROUP, INGRESS_RULE, SECURITY_GROUP_RULE),
        no_wide_port_ranges,
    ),
    Rule(
        "default-security-group-closed",
        "The VPC's default security group has no ingress and no egress rules.",
        MANDATORY,
        (DEFAULT_SECURITY_GROUP,),
        default_security_group_closed,
    ),
    Rule(
        "subnet-no-public-ip",
        "Subnets do not give instances a public IP address at launch.",
        MANDATORY,
        ("aws:ec2/subnet:Subnet",),
        subnet_no_public_ip,
    ),
    StackRule(
        "vpc-flow-logs",
        "Every VPC has a flow log of its own.",
        MANDATORY,
        (VPC,),
        vpc_flow_logs,
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
    StackRule(
        "one-tagged-security-group-per-node",
        "Each launch template gives nodes exactly one security group tagged kubernetes.io/cluster/<name>.",
        MANDATORY,
        (LAUNCH_TEMPLATE,),
        one_tagged_security_group_per_node,
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
        "aurora-auto-minor-upgrade",
        "Aurora clusters and instances take minor version upgrades automatically.",
        ADVISORY,
        (RDS_CLUSTER, RDS_CLUSTER_INSTANCE),
        aurora_auto_minor_upgrade,
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
        "rds-performance-insights-cmk",
        "Performance Insights is encrypted with a customer-managed KMS key.",
        MANDATORY,
        (RDS_CLUSTER, RDS_CLUSTER_INSTANCE, RDS_INSTANCE),
        rds_performance_insights_cmk,
    ),
    StackRule(
        "aurora-replicas-in-prod",
        "In prod each Aurora cluster has at least two instances.",
        MANDATORY,
        (RDS_CLUSTER,),
        aurora_replicas_in_prod,
    ),
    StackRule(
        "backup-selects-aurora",
        "In prod an AWS Backup selection takes in every Aurora cluster.",
        MANDATORY,
        (RDS_CLUSTER,),
        backup_selects_aurora,
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
    StackRule(
        "elasticache-auth-token-charset",
        "ElastiCache AUTH tokens (and their random passwords) are 16-128 letters, digits and !&#$^<>- only.",
        MANDATORY,
        (REPLICATION_GROUP, RANDOM_PASSWORD),
        elasticache_auth_token_charset,
    ),
    Rule(
        "elasticache-multi-az-in-prod",
        "In prod ElastiCache runs at least two nodes across zones with automatic failover.",
        MANDATORY,
        (REPLICATION_GROUP,),
        elasticache_multi_az_in_prod,
    ),
    Rule(
        "kms-key-rotation",
        "Symmetric KMS keys rotate automatically.",
        MANDATORY,
        (KMS_KEY,),
        kms_key_rotation,
    ),
    Rule(
        "kms-key-policy",
        "KMS keys have an explicit key policy that names who may use them.",
        MANDATORY,
        (KMS_KEY,),
        kms_key_policy,
    ),
    Rule(
        "log-group-retention",
        "CloudWatch log groups set a retention period.",
        ADVISORY,
        (LOG_GROUP,),
        log_group_retention,
    ),
    Rule(
        "log-group-cmk",
        "CloudWatch log groups are encrypted with a customer-managed KMS key.",
        MANDATORY,
        (LOG_GROUP,),
        log_group_cmk,
    ),
    Rule(
        "audit-log-retention",
        "In prod the EKS control-plane and Aurora PostgreSQL log groups keep events at least 365 days.",
        MANDATORY,
        (LOG_GROUP,),
        audit_log_retention,
    ),
    Rule(
        "secrets-cmk",
        "Secrets Manager secrets are encrypted with a customer-managed KMS key.",
        MANDATORY,
        (SECRET,),
        secrets_cmk,
    ),
    Rule(
        "iam-no-admin-wildcard",
        "No IAM policy allows Action '*' on Resource '*', nor attaches AdministratorAccess.",
        MANDATORY,
        (*IAM_POLICY_DOCUMENTS, IAM_ROLE, *IAM_ATTACHMENTS),
        iam_no_admin_wildcard,
    ),
    StackRule(
        "s3-bucket-encryption",
        "S3 buckets encrypt by default with SSE-KMS under a customer-managed key.",
        MANDATORY,
        (S3_BUCKET,),
        s3_bucket_encryption,
    ),
    StackRule(
        "s3-bucket-versioning",
        "S3 buckets keep object versions (versioning Enabled).",
        MANDATORY,
        (S3_BUCKET,),
        s3_bucket_versioning,
    ),
    StackRule(
        "s3-public-access-block",
        "S3 buckets block public access with all four settings.",
        MANDATORY,
        (S3_BUCKET,),
        s3_public_access_block,
    ),
    StackRule(
        "s3-tls-only",
        "S3 bucket policies deny every request not made over TLS (aws:SecureTransport false).",
        MANDATORY,
        (S3_BUCKET,),
        s3_tls_only,
    ),
    Rule(
        "alarm-actions",
        "CloudWatch alarms have alarm actions, and their actions are enabled.",
        MANDATORY,
        (METRIC_ALARM,),
        alarm_actions,
    ),
    Rule(
        "sns-topic-encrypted",
        "SNS topics are encrypted with a customer-managed KMS key.",
        MANDATORY,
        (SNS_TOPIC,),
        sns_topic_encrypted,
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
    StackRule(
        "metrics-source-for-autoscaling",
        "A stack that makes HorizontalPodAutoscalers installs a metrics source (metrics-server).",
        MANDATORY,
        (*HORIZONTAL_POD_AUTOSCALERS, HELM_RELEASE),
        metrics_source_for_autoscaling,
    ),
)
"""Every rule, in the order results are shown; names are unique."""
