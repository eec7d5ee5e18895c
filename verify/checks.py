"""Checks: pure comparisons of the account's facts with what the stack's config says should be true.

A resource that is missing gives one failing check (its status) and none of the checks that would
read it. A passing check's detail says what was found; a failing one's says what was found and what
was wanted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from components.cluster import CONTROL_PLANE_LOG_TYPES, Taint
from components.config import (
    CacheConfig,
    ClusterConfig,
    DatabaseConfig,
    NetworkConfig,
    NodeGroupConfig,
    StackConfig,
)
from components.database import PORT as DATABASE_PORT
from components.database import SERVERLESS_INSTANCE_CLASS
from components.network import subnet_tags
from components.subnets import TIERS, Tier
from verify.facts import (
    AccountFacts,
    CacheFacts,
    ClusterFacts,
    DatabaseFacts,
    DatabaseInstanceFacts,
    FlowLogFacts,
    NatGatewayFacts,
    NodeGroupFacts,
    SecurityGroupFacts,
    SubnetFacts,
    VpcFacts,
)
from verify.inputs import StackOutputs, data_tier_identifier


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _equal(name: str, got: object, want: object) -> Check:
    return Check(name, got == want, str(got) if got == want else f"got {got}, want {want}")


def _problems(name: str, problems: Sequence[str], fine: str) -> Check:
    return Check(name, not problems, "; ".join(problems) or fine)


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def _flag(name: str, got: bool, want: bool = True) -> Check:
    return Check(name, got == want, _on(got) if got == want else f"{_on(got)}, want {_on(want)}")


# --- network ------------------------------------------------------------------------------------------------


def vpc_checks(network: NetworkConfig, vpc_id: str, vpc: VpcFacts | None) -> list[Check]:
    if vpc is None:
        return [Check("vpc: status", False, f"no VPC {vpc_id}")]
    return [
        _equal("vpc: status", vpc.state, "available"),
        _equal("vpc: CIDR", vpc.cidr, network.cidr),
    ]


def _delivering(log: FlowLogFacts, traffic_type: str) -> bool:
    # Delivery fails, with the flow log still ACTIVE, once its role or its log group is broken.
    return all(
        (
            log.status == "ACTIVE",
            log.delivery != "FAILED",
            log.traffic_type == traffic_type,
            log.destination_type == "cloud-watch-logs",
        )
    )


def flow_log_check(network: NetworkConfig, flow_logs: Sequence[FlowLogFacts]) -> Check:
    want = network.flow_log_traffic_type
    good = next((log for log in flow_logs if _delivering(log, want)), None)
    if good is not None:
        return Check("vpc: flow logs", True, f"{good.flow_log_id}: {want} traffic to CloudWatch Logs")
    found = [
        f"{log.flow_log_id} is {log.status} (delivery {log.delivery or 'unknown'}), "
        f"{log.traffic_type} traffic to {log.destination_type}"
        for log in flow_logs
    ]
    return Check(
        "vpc: flow logs",
        False,
        "; ".join(found or ["no flow log on the VPC"])
        + f"; want an ACTIVE one delivering {want} traffic to CloudWatch Logs",
    )


def _served_zones(nat: NatGatewayFacts, zone_of: Mapping[str, str]) -> frozenset[str]:
    """The stack's AZs whose egress ``nat`` can carry without leaving the AZ."""
    stack_zones = frozenset(zone_of.values())
    if nat.regional:
        return stack_zones if nat.auto_provision_zones else nat.zones & stack_zones
    # A gateway outside the stack's subnets cannot stand in for one of its AZs.
    zone = zone_of.get(nat.subnet_id) if nat.subnet_id else None
    return frozenset({zone}) if zone else frozenset()


def nat_gateway_check(
    network: NetworkConfig, nat_gateways: Sequence[NatGatewayFacts], subnets: Sequence[SubnetFacts]
) -> Check:
    """``single``: exactly one available gateway, zonal or regional. ``perAz``: every one of the stack's
    AZs is served by exactly one available gateway, and each gateway serves one of them at least, so the
    loss of one AZ takes no other AZ's egress with it and no gateway is paid for twice. A zonal gateway
    serves the AZ of its subnet; a regional one spans AZs itself, so it serves each AZ it has an address
    in (every AZ with subnets when AWS provisions its zones), and one regional gateway alone meets
    ``perAz``. Routes are not read: which gateway a route table names is the program's to keep."""
    per_az = network.nat_gateways == "perAz"
    want = network.az_count if per_az else 1
    available = [nat for nat in nat_gateways if nat.state == "available"]
    zone_of = {subnet.subnet_id: subnet.availability_zone for subnet in subnets}
    served = {nat.nat_gateway_id: _served_zones(nat, zone_of) for nat in available}
    gateways_in = Counter(zone for zones in served.values() for zone in zones)
    zones = set(gateways_in)
    twice = [f"{zone} served by {count}" for zone, count in sorted(gateways_in.items()) if count > 1]
    idle = [f"{nat_id} serves none of them" for nat_id, serves in served.items() if not serves]
    ok = (len(zones) == want and not twice and not idle) if per_az else len(available) == 1
    ids = ", ".join(nat.nat_gateway_id + (" regional" if nat.regional else "") for nat in available)
    detail = f"{len(available)} available ({ids or 'none'}) in {len(zones)} of the stack's AZs"
    if ok:
        return Check("vpc: NAT gateways", True, detail)
    shape = f"{want}, one per AZ" if per_az else "a single one"
    return Check("vpc: NAT gateways", False, "; ".join([detail, *twice, *idle, f"want {shape}"]))


def subnet_checks(
    config: StackConfig,
    vpc_id: str,
    subnet_ids: Mapping[Tier, Sequence[str]],
    subnets: Mapping[Tier, list[SubnetFacts]],
) -> list[Check]:
    """Each tier holds one subnet per AZ in the VPC, and each subnet carries its tier's tags (the EKS
    discovery tags for public and private subnets)."""
    az_count = config.network.az_count
    layout: list[str] = []
    tags: list[str] = []
    for tier in TIERS:
        found = {subnet.subnet_id: subnet for subnet in subnets[tier]}
        missing = [subnet_id for subnet_id in subnet_ids[tier] if subnet_id not in found]
        if missing:
            layout.append(f"{tier}: {', '.join(missing)} not found")
        if len(subnet_ids[tier]) != az_count:
            layout.append(f"{tier}: {len(subnet_ids[tier])} subnets in the outputs, want {az_count}")
        outside = [s.subnet_id for s in found.values() if s.vpc_id != vpc_id]
        if outside:
            layout.append(f"{tier}: {', '.join(outside)} outside {vpc_id}")
        zones = {s.availability_zone for s in found.values()}
        if len(zones) != len(found):
            layout.append(f"{tier}: {len(found)} subnets share {len(zones)} AZs")
        want = subnet_tags(tier, config.cluster_name)
        for subnet in found.values():
            wrong = [f"{key}={value}" for key, value in want.items() if subnet.tags.get(key) != value]
            if wrong:
                tags.append(f"{subnet.subnet_id} ({tier}) lacks {', '.join(wrong)}")
    return [
        _problems("subnets: layout", layout, f"{az_count} per tier, one per AZ, in {vpc_id}"),
        _problems("subnets: tags", tags, f"tier and EKS discovery tags for cluster {config.cluster_name}"),
    ]


# --- the cluster --------------------------------------------------------------------------------------------


def cluster_checks(config: ClusterConfig, name: str, cluster: ClusterFacts | None) -> list[Check]:
    if cluster is None:
        return [Check("cluster: status", False, f"no EKS cluster {name}")]
    missing_logs = [log for log in CONTROL_PLANE_LOG_TYPES if log not in cluster.enabled_log_types]
    return [
        _equal("cluster: status", cluster.status, "ACTIVE"),
        _equal("cluster: version", cluster.version, config.version),
        Check(
            "cluster: secrets encryption",
            cluster.secrets_key_arn is not None,
            f"with {cluster.secrets_key_arn}" if cluster.secrets_key_arn else "secrets are not KMS-encrypted",
        ),
        _problems(
            "cluster: control-plane logs",
            [f"{', '.join(missing_logs)} not enabled"] if missing_logs else [],
            ", ".join(CONTROL_PLANE_LOG_TYPES),
        ),
        endpoint_check(config, cluster),
    ]


def endpoint_check(config: ClusterConfig, cluster: ClusterFacts) -> Check:
    want_cidrs = frozenset(config.public_access_cidrs)
    problems = []
    if not cluster.endpoint_private_access:
        problems.append("private endpoint off, want on")
    if cluster.endpoint_public_access != config.endpoint_public_access:
        want = _on(config.endpoint_public_access)
        problems.append(f"public endpoint {_on(cluster.endpoint_public_access)}, want {want}")
    # With the public endpoint off, EKS still reports 0.0.0.0/0 there; it means nothing then.
    elif config.endpoint_public_access and cluster.public_access_cidrs != want_cidrs:
        problems.append(
            f"public endpoint open to {', '.join(sorted(cluster.public_access_cidrs))}, "
            f"want {', '.join(sorted(want_cidrs))}"
        )
    public = f", public from {', '.join(sorted(want_cidrs))}" if config.endpoint_public_access else " only"
    return _problems("cluster: endpoint access", problems, f"private{public}")


def node_group_checks(
    key: str, config: NodeGroupConfig, name: str | None, group: NodeGroupFacts | None
) -> list[Check]:
    prefix = f"node group {key}"
    if name is None:
        return [Check(f"{prefix}: status", False, "not in the stack's nodeGroupNames output")]
    if group is None:
        return [Check(f"{prefix}: status", False, f"no node group {name} in the cluster")]
    want_taints = frozenset(Taint(t.key, t.value, t.effect) for t in config.taints)
    return [
        Check(f"{prefix}: status", group.status == "ACTIVE", f"{name} is {group.status}"),
        # desiredSize is left out: after creation the cluster autoscaler owns it.
        _equal(
            f"{prefix}: size limits",
            f"min {group.min_size}, max {group.max_size}",
            f"min {config.min_size}, max {config.max_size}",
        ),
        _equal(
            f"{prefix}: instance types", ", ".join(group.instance_types), ", ".join(config.instance_types)
        ),
        _equal(f"{prefix}: capacity type", group.capacity_type, config.capacity_type),
        _equal(f"{prefix}: labels", _labels(group.labels), _labels(config.labels)),
        _equal(f"{prefix}: taints", _taints(group.taints), _taints(want_taints)),
    ]


def _labels(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(labels.items())) or "none"


def _taints(taints: Collection[Taint]) -> str:
    return ", ".join(sorted(f"{t.key}={t.value}:{t.effect}" for t in taints)) or "none"


# --- the data tier ------------------------------------------------------------------------------------------


def database_checks(
    config: DatabaseConfig,
    identifier: str,
    endpoint: str,
    database: DatabaseFacts | None,
    instances: Sequence[DatabaseInstanceFacts],
) -> list[Check]:
    if database is None:
        return [Check("database: status", False, f"no Aurora cluster {identifier}")]
    backups = f"{database.backup_retention_days} days, {database.backup_window}"
    want_backups = f"{config.backup_retention_days} days, {config.backup_window}"
    return [
        _equal("database: status", database.status, "available"),
        _equal("database: endpoint", database.endpoint, endpoint),
        _flag("database: storage encryption", database.storage_encrypted),
        _flag("database: deletion protection", database.deletion_protection, config.deletion_protection),
        _equal("database: backups", backups, want_backups),
        _equal("database: maintenance window", database.maintenance_window, config.maintenance_window),
        _flag("database: IAM authentication", database.iam_authentication),
        instances_check(config, instances),
    ]


def instances_check(config: DatabaseConfig, instances: Sequence[DatabaseInstanceFacts]) -> Check:
    want_class = SERVERLESS_INSTANCE_CLASS if config.serverless else config.instance_class
    problems = [
        f"{i.identifier} is {i.status}" + ("" if i.instance_class == want_class else f", {i.instance_class}")
        for i in instances
        if i.status != "available" or i.instance_class != want_class
    ]
    if len(instances) != config.instances:
        problems.insert(0, f"instances: {len(instances)}, want {config.instances}")
    return _problems("database: instances", problems, f"{config.instances} available, {want_class}")


def cache_checks(
    config: CacheConfig, identifier: str, endpoint: str, cache: CacheFacts | None
) -> list[Check]:
    if cache is None:
        return [Check("cache: status", False, f"no ElastiCache replication group {identifier}")]
    return [
        _equal("cache: status", cache.status, "available"),
        _equal("cache: endpoint", cache.primary_endpoint, endpoint),
        _flag("cache: encryption at rest", cache.at_rest_encryption),
        transit_check(cache),
        _flag("cache: AUTH token", cache.auth_token_enabled),
        _equal(
            "cache: nodes",
            f"{len(cache.member_clusters)} x {cache.node_type}",
            f"{config.nodes} x {config.node_type}",
        ),
    ]


def transit_check(cache: CacheFacts) -> Check:
    """TLS is on and required: in ``preferred`` mode TLS stays on while plain-text clients connect too."""
    name = "cache: encryption in transit"
    if not cache.transit_encryption:
        return _flag(name, False)
    mode = cache.transit_encryption_mode
    if mode == "required":
        return Check(name, True, "on, mode required")
    return Check(name, False, f"on, mode {mode or 'not reported'}, want required")


def ingress_checks(
    what: str, port: int, groups: Sequence[SecurityGroupFacts], node_group_id: str, extra_ids: Collection[str]
) -> list[Check]:
    """The data store's security groups admit the cluster's nodes on its port, and nothing else: no other
    source, no other port (the config's ``allowedSecurityGroupIds`` are let in on the port too)."""
    rules = [rule for group in groups for rule in group.ingress]
    admits_nodes = any(
        rule.source == node_group_id
        and (
            rule.protocol == "-1"
            or (rule.protocol == "tcp" and (rule.from_port or 0) <= port <= (rule.to_port or 0))
        )
        for rule in rules
    )
    allowed = {node_group_id, *extra_ids}
    others = [
        str(rule)
        for rule in rules
        if not (rule.protocol == "tcp" and rule.from_port == rule.to_port == port and rule.source in allowed)
    ]
    names = ", ".join(group.group_id for group in groups) or "no security group found"
    return [
        Check(
            f"{what}: ingress from the nodes",
            admits_nodes,
            f"tcp {port} from {node_group_id}"
            if admits_nodes
            else f"{names}: no tcp {port} from {node_group_id}",
        ),
        _problems(
            f"{what}: no other ingress", [f"{names} admits {rule}" for rule in others], f"{names}: none"
        ),
    ]


# --- all of them --------------------------------------------------------------------------------------------


def evaluate(config: StackConfig, outputs: StackOutputs, facts: AccountFacts) -> list[Check]:
    """Every check of the stack, network first, in the order the components are built."""
    identifier = data_tier_identifier(config)
    all_subnets = [subnet for tier in TIERS for subnet in facts.subnets[tier]]
    checks = [
        *vpc_checks(config.network, outputs.vpc_id, facts.vpc),
        flow_log_check(config.network, facts.flow_logs),
        nat_gateway_check(config.network, facts.nat_gateways, all_subnets),
        *subnet_checks(config, outputs.vpc_id, outputs.subnet_ids(), facts.subnets),
        *cluster_checks(config.cluster, outputs.cluster_name, facts.cluster),
    ]
    for key, group in config.cluster.node_groups.items():
        name = outputs.node_group_names.get(key)
        checks += node_group_checks(key, group, name, facts.node_groups.get(key))
    checks += database_checks(
        config.database, identifier, outputs.database_endpoint, facts.database, facts.database_instances
    )
    if facts.database is not None:
        checks += ingress_checks(
            "database",
            DATABASE_PORT,
            facts.database_security_groups,
            outputs.node_security_group_id,
            config.database.allowed_security_group_ids,
        )
    checks += cache_checks(config.cache, identifier, outputs.cache_endpoint, facts.cache)
    if facts.cache is not None:
        checks += ingress_checks(
            "cache",
            config.cache.port,
            facts.cache_security_groups,
            outputs.node_security_group_id,
            config.cache.allowed_security_group_ids,
        )
    return checks
