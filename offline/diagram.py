"""The architecture of a plan as a diagram, built from the resources it records (never drawn by hand).

* the VPC and its tiers: a subnet is *public* when its route table sends traffic to an internet
  gateway, *private* when to a NAT gateway, *database* when it is in an RDS or ElastiCache subnet
  group (and routes nowhere out), *endpoints* when interface endpoints sit in it;
* the EKS control plane, the node groups (in the tier of their subnets), Aurora and ElastiCache (in
  the tier of their subnet groups);
* who talks to whom, from the security-group ingress rules: a rule whose source is one group and
  target another draws an edge from every holder of the source to every holder of the target;
* the mesh's ingress gateway, when the plan has one (an Istio Gateway, or a Service or Helm release
  named like the Istio ingress gateway);
* the regional services outside the VPC: S3 buckets (and Velero writing its backups from the nodes to one a
  Helm release names as its backup storage location), SNS topics with their subscribers, and the CloudWatch
  alarms notifying each topic, with an edge from what each alarm watches (Aurora, ElastiCache, a NAT
  gateway, a node group, found by its metric's dimensions).

One :class:`Graph` is built; :func:`mermaid` and :func:`dot` only render it.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from offline.runner import Plan, RecordedResource

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
ROUTE = "aws:ec2/route:Route"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AURORA_CLUSTER = "aws:rds/cluster:Cluster"
AURORA_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
DB_SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE_SUBNET_GROUP = "aws:elasticache/subnetGroup:SubnetGroup"
INGRESS_RULES = (
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:ec2/securityGroupRule:SecurityGroupRule",
)
MESH_GATEWAYS = ("kubernetes:networking.istio.io/*:Gateway",)
MESH_NAMED = ("kubernetes:core/v1:Service", "kubernetes:helm.sh/*:Release", "kubernetes:helm.sh/*:Chart")
"""Types whose resource is the mesh's ingress gateway when its name says so (``istio-ingressgateway``)."""
VIRTUAL_SERVICES = "kubernetes:networking.istio.io/*:VirtualService"
S3_BUCKET = "aws:s3/bucket:Bucket"
S3_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
S3_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
SNS_TOPIC = "aws:sns/topic:Topic"
SNS_SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
HELM_RELEASES = ("kubernetes:helm.sh/*:Release",)
VELERO_SCHEDULES = ("kubernetes:velero.io/*:Schedule",)
REGIONAL = "regional_services"
"""The group of the regional services outside the VPC: buckets, topics, alarms."""

INTERNET = "internet"
NODE_GROUPS = "node_groups"
TIERS = ("public", "private", "database", "endpoints", "isolated")


class Shape(StrEnum):
    BOX = "box"
    DATABASE = "database"
    CLOUD = "cloud"


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    group: str | None = None
    shape: Shape = Shape.BOX


@dataclass(frozen=True)
class Group:
    id: str
    label: str
    parent: str | None = None


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str = ""


@dataclass
class Graph:
    title: str
    groups: list[Group] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)

    def add_edge(self, source: str, target: str, label: str = "") -> None:
        """An edge, once: a second one between the same ends adds its label to the first's."""
        for index, edge in enumerate(self.edges):
            if (edge.source, edge.target) == (source, target):
                labels = [part for part in (edge.label, label) if part]
                merged = ", ".join(dict.fromkeys(", ".join(labels).split(", "))) if labels else ""
                self.edges[index] = Edge(source, target, merged)
                return
        self.edges.append(Edge(source, target, label))

    def node_ids(self) -> set[str]:
        return {node.id for node in self.nodes}

    def members(self, group: str) -> list[Node]:
        """Nodes in ``group`` or any group inside it."""
        inside = {group}
        while added := {g.id for g in self.groups if g.parent in inside} - inside:
            inside |= added
        return [node for node in self.nodes if node.group in inside]


def node_id(*parts: str) -> str:
    """A stable identifier both Mermaid and DOT accept."""
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))


def _matches(resource: RecordedResource, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(resource.type, pattern) for pattern in patterns)


def _state_id(resource: RecordedResource) -> Any:
    return resource.state.get("id")


# --- the network ----------------------------------------------------------------------------------------


def subnet_tiers(plan: Plan) -> dict[str, str]:
    """Subnet ID -> tier, from where its route table sends traffic and which subnet groups hold it."""
    gateways = {_state_id(r): "public" for r in plan.of_type(INTERNET_GATEWAY)}
    gateways |= {_state_id(r): "private" for r in plan.of_type(NAT_GATEWAY)}
    table_tier: dict[str, str] = {}
    for route in plan.of_type(ROUTE):
        target = route.inputs.get("gatewayId") or route.inputs.get("natGatewayId")
        if target in gateways:
            table_tier[route.inputs["routeTableId"]] = gateways[target]
    grouped = {
        subnet
        for group in (*plan.of_type(DB_SUBNET_GROUP), *plan.of_type(CACHE_SUBNET_GROUP))
        for subnet in group.inputs.get("subnetIds", [])
    }
    endpoints = {
        subnet
        for endpoint in plan.of_type(VPC_ENDPOINT)
        if endpoint.inputs.get("vpcEndpointType") == "Interface"
        for subnet in endpoint.inputs.get("subnetIds", [])
    }

    def unrouted(subnet: str) -> str:
        return "database" if subnet in grouped else "endpoints" if subnet in endpoints else "isolated"

    tiers = {_state_id(subnet): unrouted(_state_id(subnet)) for subnet in plan.of_type(SUBNET)}
    for association in plan.of_type(ASSOCIATION):
        tier = table_tier.get(association.inputs.get("routeTableId", ""))
        if tier and association.inputs.get("subnetId") in tiers:
            tiers[association.inputs["subnetId"]] = tier
    return tiers


@dataclass
class _Builder:
    plan: Plan
    graph: Graph
    tiers: Mapping[str, str]
    tier_groups: dict[tuple[str, str], str] = field(default_factory=dict)
    """(VPC ID, tier) -> group ID."""
    holders: dict[str, set[str]] = field(default_factory=dict)
    """Security group ID -> the nodes that carry it."""

    def hold(self, node: str, groups: Iterable[Any]) -> None:
        for group in groups:
            if isinstance(group, str):
                self.holders.setdefault(group, set()).add(node)

    def tier_group(self, subnet_ids: Iterable[Any]) -> str | None:
        """The group of the tier the first of ``subnet_ids`` is in."""
        subnets = {_state_id(s): s for s in self.plan.of_type(SUBNET)}
        for subnet_id in subnet_ids:
            if subnet_id in subnets:
                vpc, tier = subnets[subnet_id].inputs.get("vpcId", ""), self.tiers.get(subnet_id, "isolated")
                return self.tier_groups.get((vpc, tier))
        return None

    def subnets_of_group(self, type_token: str, name: Any) -> list[Any]:
        group = next(
            (g for g in self.plan.of_type(type_token) if name in (_state_id(g), g.state.get("name"))), None
        )
        return list(group.inputs.get("subnetIds", [])) if group else []

    # -- the parts

    def network(self) -> None:
        subnets = self.plan.of_type(SUBNET)
        for vpc in self.plan.of_type(VPC):
            vpc_group = node_id("vpc", vpc.name)
            self.graph.groups.append(Group(vpc_group, f"VPC {vpc.inputs.get('cidrBlock', '')}"))
            mine = [s for s in subnets if s.inputs.get("vpcId") == _state_id(vpc)]
            for tier in TIERS:
                members = [s for s in mine if self.tiers.get(_state_id(s)) == tier]
                if not members:
                    continue
                group = node_id(vpc_group, tier)
                self.tier_groups[(_state_id(vpc), tier)] = group
                self.graph.groups.append(Group(group, f"{tier} subnets", vpc_group))
                zones = ", ".join(sorted(str(s.inputs.get("availabilityZone", "?")) for s in members))
                self.graph.nodes.append(
                    Node(node_id(group, "subnets"), f"{len(members)} subnets: {zones}", group)
                )
        for gateway in self.plan.of_type(INTERNET_GATEWAY):
            self.graph.nodes.append(Node(node_id(gateway.name), "Internet gateway", self._vpc_group(gateway)))
            self.graph.add_edge(node_id(gateway.name), self._internet())
        subnet_zone = {_state_id(s): s.inputs.get("availabilityZone", "") for s in subnets}
        for nat in self.plan.of_type(NAT_GATEWAY):
            zone = subnet_zone.get(nat.inputs.get("subnetId"), "")
            self.graph.nodes.append(
                Node(
                    node_id(nat.name),
                    f"NAT gateway {zone}".strip(),
                    self.tier_group([nat.inputs.get("subnetId")]),
                )
            )
        self._routes()

    def _vpc_group(self, resource: RecordedResource) -> str | None:
        vpc = next((v for v in self.plan.of_type(VPC) if _state_id(v) == resource.inputs.get("vpcId")), None)
        return node_id("vpc", vpc.name) if vpc else None

    def _internet(self) -> str:
        if INTERNET not in self.graph.node_ids():
            self.graph.nodes.append(Node(INTERNET, "Internet", None, Shape.CLOUD))
        return INTERNET

    def _routes(self) -> None:
        """An edge from each tier to where its default route goes (a NAT gateway, the internet gateway)."""
        targets = {
            _state_id(r): node_id(r.name)
            for r in (*self.plan.of_type(INTERNET_GATEWAY), *self.plan.of_type(NAT_GATEWAY))
        }
        subnets_of_table: dict[str, list[Any]] = {}
        for association in self.plan.of_type(ASSOCIATION):
            subnets_of_table.setdefault(association.inputs.get("routeTableId", ""), []).append(
                association.inputs.get("subnetId")
            )
        for route in self.plan.of_type(ROUTE):
            target = targets.get(route.inputs.get("gatewayId") or route.inputs.get("natGatewayId"))
            tier = self.tier_group(subnets_of_table.get(route.inputs.get("routeTableId", ""), []))
            if target and tier:
                self.graph.add_edge(
                    node_id(tier, "subnets"), target, route.inputs.get("destinationCidrBlock", "")
                )
        for endpoint in self.plan.of_type(VPC_ENDPOINT):
            service = str(endpoint.inputs.get("serviceName", "")).rsplit(".", 1)[-1]
            self.graph.nodes.append(
                Node(
                    node_id(endpoint.name),
                    f"{service} {endpoint.inputs.get('vpcEndpointType', '')} endpoint".strip(),
                    self._vpc_group(endpoint),
                )
            )
            for table in endpoint.inputs.get("routeTableIds", []):
                tier = self.tier_group(subnets_of_table.get(table, []))
                if tier:
                    self.graph.add_edge(node_id(tier, "subnets"), node_id(endpoint.name))

    def cluster(self) -> None:
        for cluster in self.plan.of_type(EKS_CLUSTER):
            vpc_config = {**cluster.inputs.get("vpcConfig", {}), **cluster.state.get("vpcConfig", {})}
            node = node_id(cluster.name)
            name, version = cluster.inputs.get("name", ""), cluster.inputs.get("version", "?")
            label = f"EKS control plane {name} (Kubernetes {version})"
            self.graph.nodes.append(Node(node, label))
            self.hold(
                node, [*vpc_config.get("securityGroupIds", []), vpc_config.get("clusterSecurityGroupId")]
            )
        groups = self.plan.of_type(NODE_GROUP)
        if not groups:
            return
        tier = self.tier_group(groups[0].inputs.get("subnetIds", []))
        self.graph.groups.append(Group(NODE_GROUPS, "EKS node groups", tier))
        templates = {_state_id(t): t for t in self.plan.of_type(LAUNCH_TEMPLATE)}
        for group in groups:
            node = node_id(group.name)
            size = group.inputs.get("scalingConfig", {})
            types = "/".join(group.inputs.get("instanceTypes", []))
            capacity = group.inputs.get("capacityType", "ON_DEMAND")
            label = f"{group.name}: {size.get('desiredSize')} x {types} "
            label += f"({size.get('minSize')}-{size.get('maxSize')}, {capacity})"
            self.graph.nodes.append(Node(node, label, NODE_GROUPS))
            template = templates.get((group.inputs.get("launchTemplate") or {}).get("id"))
            self.hold(node, template.inputs.get("vpcSecurityGroupIds", []) if template else [])

    def data_tier(self) -> None:
        for cluster in self.plan.of_type(AURORA_CLUSTER):
            identifier = cluster.inputs.get("clusterIdentifier")
            instances = [
                i
                for i in self.plan.of_type(AURORA_INSTANCE)
                if i.inputs.get("clusterIdentifier") in (identifier, _state_id(cluster))
            ]
            classes = (
                ", ".join(sorted({str(i.inputs.get("instanceClass")) for i in instances})) or "no instances"
            )
            engine = str(cluster.inputs.get("engine", "")).removeprefix("aurora-")
            engine += f" {cluster.inputs.get('engineVersion', '')}"
            label = f"Aurora {engine}: {len(instances)} x {classes}"
            node = node_id(cluster.name)
            subnets = self.subnets_of_group(DB_SUBNET_GROUP, cluster.inputs.get("dbSubnetGroupName"))
            self.graph.nodes.append(Node(node, label, self.tier_group(subnets), Shape.DATABASE))
            self.hold(node, cluster.inputs.get("vpcSecurityGroupIds", []))
        for group in self.plan.of_type(REPLICATION_GROUP):
            inputs = group.inputs
            engine = f"{inputs.get('engine', '')} {inputs.get('engineVersion', '')}"
            label = (
                f"ElastiCache {engine}: {inputs.get('numCacheClusters', '?')} x {inputs.get('nodeType', '?')}"
            )
            node = node_id(group.name)
            subnets = self.subnets_of_group(CACHE_SUBNET_GROUP, inputs.get("subnetGroupName"))
            self.graph.nodes.append(Node(node, label, self.tier_group(subnets), Shape.DATABASE))
            self.hold(node, inputs.get("securityGroupIds", []))

    def mesh(self) -> None:
        gateways = [
            r
            for r in self.plan.resources
            if _matches(r, MESH_GATEWAYS) or (_matches(r, MESH_NAMED) and "ingressgateway" in _k8s_name(r))
        ]
        if not gateways:
            return
        hosts = sorted(
            {
                host
                for g in gateways
                for server in _spec(g).get("servers", [])
                for host in server.get("hosts", [])
            }
        )
        label = "Istio ingress gateway" + (f": {', '.join(hosts)}" if hosts else "")
        node = node_id("mesh", gateways[0].name)
        self.graph.nodes.append(Node(node, label, None))
        self.graph.add_edge(self._internet(), node, "HTTPS")
        # A VirtualService per host lists its routes, one per service; a service on two hosts counts once.
        services = {
            route.get("name", f"{r.name}-{index}")
            for r in self.plan.resources
            if _matches(r, (VIRTUAL_SERVICES,))
            for index, route in enumerate(_spec(r).get("http", []))
        }
        count = len(services)
        routes = f"{count} routed service{'' if count == 1 else 's'}" if services else "routes"
        if any(g.id == NODE_GROUPS for g in self.graph.groups):
            self.graph.add_edge(node, NODE_GROUPS, routes)

    def connections(self) -> None:
        """Edges from the security-group ingress rules that name another group as their source."""
        all_node_groups = {node.id for node in self.graph.nodes if node.group == NODE_GROUPS}
        for rule in self.plan.resources:
            if not _matches(rule, INGRESS_RULES) or rule.inputs.get("type", "ingress") != "ingress":
                continue
            source = rule.inputs.get("referencedSecurityGroupId") or rule.inputs.get("sourceSecurityGroupId")
            if not source:
                continue
            label = _ports(rule.inputs)
            for start in _collapse(self.holders.get(source, set()), all_node_groups):
                for end in _collapse(
                    self.holders.get(rule.inputs.get("securityGroupId", ""), set()), all_node_groups
                ):
                    if start != end:
                        self.graph.add_edge(start, end, label)

    def _regional(self) -> str:
        if not any(group.id == REGIONAL for group in self.graph.groups):
            self.graph.groups.append(Group(REGIONAL, "AWS regional services"))
        return REGIONAL

    def storage(self) -> None:
        """Each bucket, what makes it safe, and Velero writing its backups to it from the nodes."""
        schedules = sorted(
            {str(_spec(r).get("schedule")) for r in self.plan.resources if _matches(r, VELERO_SCHEDULES)}
        )
        for bucket in self.plan.of_type(S3_BUCKET):
            name = bucket.state.get("bucket") or _state_id(bucket)
            names = {name, _state_id(bucket)}
            features = [
                *(["SSE-KMS"] for c in self.plan.of_type(S3_ENCRYPTION) if c.inputs.get("bucket") in names),
                *(
                    ["versioned"]
                    for c in self.plan.of_type(S3_VERSIONING)
                    if c.inputs.get("bucket") in names
                    and (c.inputs.get("versioningConfiguration") or {}).get("status") == "Enabled"
                ),
            ]
            flat = ", ".join(dict.fromkeys(f for listed in features for f in listed))
            node = node_id(bucket.name)
            label = f"S3 bucket {name}" + (f" ({flat})" if flat else "")
            self.graph.nodes.append(Node(node, label, self._regional(), Shape.DATABASE))
            writes = any(
                location.get("bucket") == name
                for release in self.plan.resources
                if _matches(release, HELM_RELEASES)
                for location in ((release.inputs.get("values") or {}).get("configuration") or {}).get(
                    "backupStorageLocation", []
                )
            )
            if writes and any(g.id == NODE_GROUPS for g in self.graph.groups):
                when = f", {', '.join(schedules)}" if schedules else ""
                self.graph.add_edge(NODE_GROUPS, node, f"Velero backups{when}")

    def alerting(self) -> None:
        """Each topic with its subscribers, the alarms notifying it, and what each alarm watches."""
        alarms = self.plan.of_type(METRIC_ALARM)
        for topic in self.plan.of_type(SNS_TOPIC):
            arn = topic.state.get("arn") or _state_id(topic)
            protocols = Counter(
                str(s.inputs.get("protocol"))
                for s in self.plan.of_type(SNS_SUBSCRIPTION)
                if s.inputs.get("topic") == arn
            )
            subscribers = ", ".join(f"{count} {protocol}" for protocol, count in sorted(protocols.items()))
            encrypted = " (KMS-encrypted)" if topic.inputs.get("kmsMasterKeyId") else ""
            label = f"SNS topic {topic.inputs.get('name', topic.name)}{encrypted}"
            label += f": {subscribers}" if subscribers else ": no subscribers"
            topic_node = node_id(topic.name)
            self.graph.nodes.append(Node(topic_node, label, self._regional()))
            mine = [
                a
                for a in alarms
                if arn in [*(a.inputs.get("alarmActions") or []), *(a.inputs.get("okActions") or [])]
            ]
            if not mine:
                continue
            alarms_node = node_id(topic.name, "alarms")
            self.graph.nodes.append(Node(alarms_node, f"CloudWatch alarms: {len(mine)}", self._regional()))
            self.graph.add_edge(alarms_node, topic_node, "ALARM and OK")
            watched = Counter(target for alarm in mine if (target := self._watched(alarm)))
            for target, count in watched.items():
                self.graph.add_edge(target, alarms_node, f"{count} alarm{'' if count == 1 else 's'}")

    def _watched(self, alarm: RecordedResource) -> str | None:
        """The diagram's node of what an alarm watches, from its metric's dimensions."""
        dimensions = alarm.inputs.get("dimensions") or {}
        if "DBClusterIdentifier" in dimensions:
            wanted = dimensions["DBClusterIdentifier"]
            found = [
                c
                for c in self.plan.of_type(AURORA_CLUSTER)
                if wanted in (_state_id(c), c.inputs.get("clusterIdentifier"))
            ]
        elif "CacheClusterId" in dimensions:
            member = dimensions["CacheClusterId"]
            found = [
                g
                for g in self.plan.of_type(REPLICATION_GROUP)
                if member in (g.state.get("memberClusters") or [])
            ]
        elif "NatGatewayId" in dimensions:
            found = [n for n in self.plan.of_type(NAT_GATEWAY) if _state_id(n) == dimensions["NatGatewayId"]]
        elif "AutoScalingGroupName" in dimensions:
            found = [
                g
                for g in self.plan.of_type(NODE_GROUP)
                for resources in g.state.get("resources") or []
                for asg in resources.get("autoscalingGroups") or []
                if asg.get("name") == dimensions["AutoScalingGroupName"]
            ]
        else:
            found = []
        return node_id(found[0].name) if found and node_id(found[0].name) in self.graph.node_ids() else None


def _collapse(holders: set[str], node_groups: set[str]) -> list[str]:
    """Every node group carrying the group reads better as one edge from the node groups' box."""
    if len(node_groups) > 1 and node_groups <= holders:
        return sorted((holders - node_groups) | {NODE_GROUPS})
    return sorted(holders)


def _ports(inputs: Mapping[str, Any]) -> str:
    protocol = str(inputs.get("ipProtocol") or inputs.get("protocol") or "")
    if protocol in ("-1", "all"):
        return "all traffic"
    low, high = inputs.get("fromPort"), inputs.get("toPort")
    return f"{protocol} {low}" if low == high else f"{protocol} {low}-{high}"


def _k8s_name(resource: RecordedResource) -> str:
    metadata = resource.inputs.get("metadata") or {}
    return f"{resource.name} {metadata.get('name', '')} {resource.inputs.get('name', '')}".lower()


def _spec(resource: RecordedResource) -> Mapping[str, Any]:
    spec = resource.inputs.get("spec")
    return spec if isinstance(spec, dict) else {}


def build(plan: Plan) -> Graph:
    """The diagram of ``plan``."""
    builder = _Builder(plan, Graph(f"platform {plan.stack}"), subnet_tiers(plan))
    builder.network()
    builder.cluster()
    builder.data_tier()
    builder.connections()
    builder.mesh()
    builder.storage()
    builder.alerting()
    return builder.graph


# --- renderers ------------------------------------------------------------------------------------------


class Format(StrEnum):
    MERMAID = "mermaid"
    DOT = "dot"


def _mermaid_label(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


_MERMAID_SHAPES = {Shape.BOX: ("[", "]"), Shape.DATABASE: ("[(", ")]"), Shape.CLOUD: ("((", "))")}


def mermaid(graph: Graph) -> str:
    lines = ["flowchart LR"]

    def nest(parent: str | None, depth: int) -> Iterator[str]:
        pad = "  " * depth
        for node in graph.nodes:
            if node.group == parent:
                opening, closing = _MERMAID_SHAPES[node.shape]
                yield f"{pad}{node.id}{opening}{_mermaid_label(node.label)}{closing}"
        for group in graph.groups:
            if group.parent == parent:
                yield f"{pad}subgraph {group.id}[{_mermaid_label(group.label)}]"
                yield from nest(group.id, depth + 1)
                yield f"{pad}end"

    lines.extend(nest(None, 1))
    for edge in graph.edges:
        arrow = f"-->|{_mermaid_label(edge.label)}|" if edge.label else "-->"
        lines.append(f"  {edge.source} {arrow} {edge.target}")
    return "\n".join(lines) + "\n"


def _dot_label(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_DOT_SHAPES = {Shape.BOX: "box", Shape.DATABASE: "cylinder", Shape.CLOUD: "ellipse"}


def dot(graph: Graph) -> str:
    lines = [
        f"digraph {_dot_label(graph.title)} {{",
        "  rankdir=LR;",
        "  compound=true;",
        "  node [shape=box];",
    ]

    def nest(parent: str | None, depth: int) -> Iterator[str]:
        pad = "  " * depth
        for node in graph.nodes:
            if node.group == parent:
                yield f"{pad}{node.id} [label={_dot_label(node.label)}, shape={_DOT_SHAPES[node.shape]}];"
        for group in graph.groups:
            if group.parent == parent:
                yield f"{pad}subgraph cluster_{group.id} {{"
                yield f"{pad}  label={_dot_label(group.label)};"
                yield from nest(group.id, depth + 1)
                yield f"{pad}}}"

    lines.extend(nest(None, 1))
    groups = {group.id for group in graph.groups}

    def end(name: str, attribute: str) -> tuple[str, list[str]]:
        # DOT draws edges between nodes: an edge to a group goes to its first node, clipped at the group.
        if name not in groups:
            return name, []
        return graph.members(name)[0].id, [f"{attribute}=cluster_{name}"]

    for edge in graph.edges:
        source, tail = end(edge.source, "ltail")
        target, head = end(edge.target, "lhead")
        attributes = [*tail, *head, *([f"label={_dot_label(edge.label)}"] if edge.label else [])]
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"  {source} -> {target}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(graph: Graph, fmt: Format = Format.MERMAID) -> str:
    return mermaid(graph) if fmt is Format.MERMAID else dot(graph)
