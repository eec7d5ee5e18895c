"""Preflight checks: pure comparisons of what only the account knows with what the stack's config asks,
before ``pulumi up``.

Each check gives PASS; WARN (``pulumi up`` works, but look: a cost, or a figure preflight could not
confirm); or FAIL (``pulumi up`` would fail, or the stack could not grow to its configured maximum).
The detail gives the figures compared; every WARN and FAIL has a fix: what to change, to what.

Quota checks compare "in use now + what the stack adds" when a read-only call can count what is in
use, leaving out what the stack itself already holds (its tags, or its names), so a second run
against a deployed stack does not count it twice; otherwise they compare just what the stack adds
(its interface endpoints in its new VPC, its node groups in its own cluster).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from components.cluster import ADDONS
from components.config import (
    CacheConfig,
    ClusterConfig,
    DatabaseConfig,
    NetworkConfig,
    NodeGroupConfig,
    StackConfig,
)
from components.database import ENGINE as AURORA_ENGINE
from components.database import SERVERLESS_INSTANCE_CLASS
from components.network import nat_gateway_for_az
from components.tags import stack_tags
from components.zones import EKS_UNSUPPORTED_ZONE_IDS
from verify.inputs import data_tier_identifier
from verify.preflight_facts import (
    AddonVersions,
    ClusterVersion,
    PreflightFacts,
    QuotaValue,
    Zone,
    stack_zones,
)
from verify.quotas import (
    CACHE_NODES,
    DB_INSTANCES,
    EKS_CLUSTERS,
    ELASTIC_IPS,
    INTERFACE_ENDPOINTS_PER_VPC,
    NAT_GATEWAYS_PER_AZ,
    NODE_GROUPS_PER_CLUSTER,
    VPCS,
    CapacityType,
    Quota,
    vcpu_class,
    vcpu_quotas,
)

Status = Literal["PASS", "WARN", "FAIL"]


@dataclass(frozen=True)
class Finding:
    name: str
    status: Status
    detail: str
    fix: str = ""
    """What to change, to what; empty when the check passed."""


STANDARD_SUPPORT_PRICE = 0.10
EXTENDED_SUPPORT_PRICE = 0.60
"""USD per cluster-hour while a Kubernetes version is under standard and extended support,
https://aws.amazon.com/eks/pricing/."""
HOURS_PER_MONTH = 730
SUPPORT_ENDING_DAYS = 90
"""Warn this many days before standard support ends: an upgrade needs planning, and afterwards the
cluster costs six times as much."""

EIP_HEADROOM = 1
"""Spare Elastic IPs beyond one per NAT gateway: Pulumi creates a replacement before it deletes what it
replaces, so replacing a NAT gateway's address holds one more address for a while; one spare lets the
stack do that without meeting the quota."""

_MIN_AZ_COUNT = 2
"""platform:network.azCount's lower bound."""

_OWNER_TAGS = ("Project", "Stack")
"""Of the tags every resource of the stack carries (components/tags.py), those that say whose it is."""


def _owned(tags: Mapping[str, str], config: StackConfig) -> bool:
    marks = stack_tags({}, project=config.project, stack=config.stack).base
    return all(tags.get(key) == marks[key] for key in _OWNER_TAGS)


def _version_key(version: str) -> tuple[int, ...]:
    """``v1.19.0-eksbuild.2`` -> (1, 19, 0, 2): versions compare by their numbers, not as text."""
    return tuple(int(number) for number in re.findall(r"\d+", version))


def _zone(zone: Zone) -> str:
    return f"{zone.name} ({zone.zone_id})"


# --- zones --------------------------------------------------------------------------------------------------


def _leave_out(zones: Sequence[Zone], index: int) -> str:
    """How to keep the stack out of ``zones[index]``: it takes the first azCount zones EKS supports."""
    if index >= _MIN_AZ_COUNT:
        return f"set platform:network.azCount to {index} so the stack leaves out {_zone(zones[index])}"
    return (
        f"no azCount leaves out {_zone(zones[index])}, one of the first two zones the stack takes: "
        "deploy to another region"
    )


def zone_check(network: NetworkConfig, zones: Sequence[Zone]) -> Finding:
    name = "zones: EKS control plane"
    chosen = stack_zones(zones, network.az_count)
    listing = ", ".join(map(_zone, chosen))
    refused = [zone for zone in zones if zone.zone_id in EKS_UNSUPPORTED_ZONE_IDS]
    left_out = (
        f"; left out {', '.join(map(_zone, refused))}, where EKS refuses control planes" if refused else ""
    )
    if len(chosen) < network.az_count:
        return Finding(
            name,
            "FAIL",
            f"{len(chosen)} available zones EKS supports ({listing}){left_out}; "
            f"azCount is {network.az_count}",
            f"set platform:network.azCount to {len(chosen)}",
        )
    return Finding(name, "PASS", f"{listing}: EKS accepts control-plane subnets in each{left_out}")


def node_group_zone_check(
    key: str, group: NodeGroupConfig, chosen: Sequence[Zone], offerings: Mapping[str, frozenset[str]]
) -> Finding:
    """Each of the group's instance types is offered in each of the stack's zones: a managed node group
    spans the private subnets of all of them."""
    name = f"zones: node group {key}"
    missing = {
        instance_type: [
            i for i, zone in enumerate(chosen) if zone.zone_id not in offerings.get(instance_type, ())
        ]
        for instance_type in group.instance_types
    }
    missing = {instance_type: lacking for instance_type, lacking in missing.items() if lacking}
    ids = ", ".join(zone.zone_id for zone in chosen)
    if not missing:
        return Finding(name, "PASS", f"{', '.join(group.instance_types)} offered in {ids}")
    detail = "; ".join(
        f"{instance_type} is not offered in {', '.join(_zone(chosen[i]) for i in lacking)}"
        for instance_type, lacking in missing.items()
    )
    path = f"platform:cluster.nodeGroups.{key}.instanceTypes"
    kept = [instance_type for instance_type in group.instance_types if instance_type not in missing]
    fix = (
        f"remove {', '.join(missing)} from {path}"
        if kept
        else f"set {path} to types offered in each of {ids}"
    )
    first = min(i for lacking in missing.values() for i in lacking)
    if first >= _MIN_AZ_COUNT:
        fix += f", or {_leave_out(chosen, first)}"
    return Finding(name, "FAIL", detail, fix)


# --- the cluster's version and add-ons ----------------------------------------------------------------------


def _until(day: date | None) -> str:
    return f"until {day}" if day is not None else "(EKS gives no end date)"


def cluster_version_check(cluster: ClusterConfig, versions: Sequence[ClusterVersion], today: date) -> Finding:
    name = "cluster: Kubernetes version"
    want = cluster.version
    offered = {version.version: version for version in versions if version.status != "UNSUPPORTED"}
    standard = sorted(
        (v.version for v in offered.values() if v.status == "STANDARD_SUPPORT"), key=_version_key
    )
    newest = standard[-1] if standard else None
    upgrade = (
        f'set platform:cluster.version to "{newest}", the newest under standard support'
        if newest and newest != want
        else "choose a version EKS offers under standard support in the region"
    )
    extra = f"${EXTENDED_SUPPORT_PRICE:.2f} per cluster-hour instead of ${STANDARD_SUPPORT_PRICE:.2f}"
    version = offered.get(want)
    if version is None:
        listed = ", ".join(sorted(offered, key=_version_key)) or "none"
        return Finding(
            name, "FAIL", f"EKS offers no {want} for new clusters here (offered: {listed})", upgrade
        )
    if version.status == "EXTENDED_SUPPORT":
        more = (EXTENDED_SUPPORT_PRICE - STANDARD_SUPPORT_PRICE) * HOURS_PER_MONTH
        return Finding(
            name,
            "WARN",
            f"{want} is under extended support {_until(version.end_of_extended_support)}: {extra}, "
            f"about ${more:,.0f} more a month per cluster",
            upgrade,
        )
    end = version.end_of_standard_support
    if end is not None and (end - today).days <= SUPPORT_ENDING_DAYS:
        plan = (
            upgrade + f" before {end}"
            if newest and newest != want
            else f"plan the upgrade from {want} before {end}"
        )
        return Finding(
            name,
            "WARN",
            f"{want}'s standard support ends {end}, in {(end - today).days} days; then EKS bills extended "
            f"support, {extra}",
            plan,
        )
    return Finding(
        name,
        "PASS",
        f"{want} is under standard support {_until(end)} "
        f"(${STANDARD_SUPPORT_PRICE:.2f} per cluster-hour; extended support after that costs "
        f"${EXTENDED_SUPPORT_PRICE:.2f})",
    )


def addon_check(addon: str, pinned: str | None, kubernetes_version: str, found: AddonVersions) -> Finding:
    name = f"add-on {addon}"
    if not found.versions:
        return Finding(
            name,
            "FAIL",
            f"EKS offers no {addon} add-on for Kubernetes {kubernetes_version} here",
            "set platform:cluster.version to a version the add-on supports",
        )
    newest = max(found.versions, key=_version_key)
    default = found.default or newest
    if pinned is None:
        return Finding(
            name, "PASS", f"unpinned: EKS installs {default}, its default for {kubernetes_version}"
        )
    if pinned in found.versions:
        return Finding(
            name,
            "PASS",
            f"{pinned} (pinned) exists for Kubernetes {kubernetes_version}; the default is {default}",
        )
    return Finding(
        name,
        "FAIL",
        f"{pinned} (pinned) does not exist for Kubernetes {kubernetes_version} "
        f"(newest {newest}, default {default})",
        f"set platform:cluster.addonVersions.{addon} to {default}, the default for {kubernetes_version}, "
        "or remove the pin",
    )


# --- the data tier ------------------------------------------------------------------------------------------


def _alternatives(want: str, classes: frozenset[str]) -> list[str]:
    """Classes to offer instead of ``want``: the same size, the same family letter first."""
    family, size = want.split(".")[1], want.split(".")[-1]
    same_size = [c for c in classes if c.split(".")[-1] == size]
    return sorted(same_size or classes, key=lambda c: (c.split(".")[1][:1] != family[:1], c))[:4]


def database_check(
    database: DatabaseConfig, region: str, version: str | None, classes: frozenset[str]
) -> Finding:
    name = "database: orderable"
    want = SERVERLESS_INSTANCE_CLASS if database.serverless else database.instance_class
    configured = database.engine_version
    if version is None:
        return Finding(
            name,
            "FAIL",
            f"{AURORA_ENGINE} {configured} is not offered in {region}",
            "set platform:database.engineVersion to a version `aws rds describe-db-engine-versions "
            f"--engine {AURORA_ENGINE} --region {region}` lists",
        )
    what = f"{AURORA_ENGINE} {version}" + (f" (the default of {configured})" if version != configured else "")
    if want in classes:
        return Finding(name, "PASS", f"{want} orderable for {what} in {region}")
    if not classes:
        return Finding(
            name,
            "FAIL",
            f"{what} is not orderable in {region} with any class",
            "set platform:database.engineVersion to a version `aws rds describe-db-engine-versions "
            f"--engine {AURORA_ENGINE} --region {region}` lists",
        )
    if database.serverless:
        return Finding(
            name,
            "FAIL",
            f"{what} offers no Serverless v2 ({SERVERLESS_INSTANCE_CLASS}) in {region}",
            "remove platform:database.serverless to run provisioned instances, or choose an engineVersion "
            "with Serverless v2",
        )
    return Finding(
        name,
        "FAIL",
        f"{want} is not orderable for {what} in {region}",
        f"set platform:database.instanceClass to one of {', '.join(_alternatives(want, classes))}",
    )


def cache_engine_check(cache: CacheConfig, region: str, versions: frozenset[str]) -> Finding:
    name = "cache: engine version"
    what = f"{cache.engine} {cache.engine_version}"
    if cache.engine_version in versions:
        return Finding(name, "PASS", f"{what} offered in {region}")
    # The config takes MAJOR.MINOR; older engines also list MAJOR.MINOR.PATCH versions it cannot name.
    nameable = sorted((v for v in versions if re.fullmatch(r"\d+\.\d+", v)), key=_version_key)
    if not nameable:
        return Finding(
            name,
            "FAIL",
            f"{region} offers no {cache.engine} version",
            "set platform:cache.engine to another engine",
        )
    return Finding(
        name,
        "FAIL",
        f"{what} is not offered in {region} (offered: {', '.join(nameable)})",
        f'set platform:cache.engineVersion to "{nameable[-1]}", the newest {cache.engine} there',
    )


def cache_node_type_check(cache: CacheConfig, region: str, reservable: bool) -> Finding:
    name = "cache: node type"
    if reservable:
        return Finding(
            name, "PASS", f"{cache.node_type} offered in {region} (reserved nodes are sold for it)"
        )
    return Finding(
        name,
        "WARN",
        f"{region} sells no reserved {cache.node_type} nodes; ElastiCache sells them for the node types a "
        "region offers, so it is likely not offered",
        f"check {cache.node_type} in ElastiCache's supported node types for {region}, or set "
        "platform:cache.nodeType to a type `aws elasticache describe-reserved-cache-nodes-offerings "
        f"--region {region}` lists",
    )


# --- quotas -------------------------------------------------------------------------------------------------


def quota_check(
    name: str,
    quota: Quota,
    region: str,
    found: QuotaValue | None,
    in_use: int | None,
    adds: int,
    what: str,
    note: str = "",
) -> Finding:
    """``in_use`` (None where it cannot be counted) plus the ``adds`` of the stack (``what`` they are
    for) against the quota: the account's applied value, else AWS's default, else the documented one."""
    need = (in_use or 0) + adds
    usage = f"{adds:,} {what}" if in_use is None else f"in use {in_use:,} + {adds:,} {what} = {need:,}"
    label = f"{quota.code} {quota.name}"
    if found is not None:
        limit: float | None = found.value
        source = "applied value" if found.applied else "AWS default, no applied value"
    else:
        limit, source = quota.documented_default, "documented default: Service Quotas did not answer"
    tail = f"; {note}" if note else ""
    if limit is None:
        return Finding(
            name,
            "WARN",
            f"{usage}; quota unknown ({label}: Service Quotas did not answer, AWS documents no default)"
            + tail,
            f"check that {quota.code} is at least {need} in {region}",
        )
    detail = f"{usage}; quota {limit:,.0f} ({label}, {source}){tail}"
    if need > limit:
        return Finding(
            name,
            "FAIL",
            detail,
            f"raise {label} in {region} to at least {need}: aws service-quotas "
            f"request-service-quota-increase --service-code {quota.service} --quota-code {quota.code} "
            f"--desired-value {need} --region {region}",
        )
    if found is None:
        return Finding(
            name,
            "WARN",
            detail,
            f"confirm that {quota.code} is at least {need} in {region} "
            "(servicequotas:GetServiceQuota reads it)",
        )
    return Finding(name, "PASS", detail)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


@dataclass(frozen=True)
class _GroupMaximum:
    key: str
    max_size: int
    instance_type: str
    vcpus: int

    def __str__(self) -> str:
        return f"{self.key} {self.max_size} x {self.instance_type} ({self.vcpus} vCPUs)"


def _group_maxima(
    groups: Mapping[str, NodeGroupConfig], vcpus: Mapping[str, int]
) -> dict[tuple[CapacityType, str], list[_GroupMaximum]]:
    """What each group can reach against each vCPU quota: maxSize nodes of its largest type. A group
    whose types span classes could fill either quota, so each gets the group's maximum in it."""
    maxima: dict[tuple[CapacityType, str], list[_GroupMaximum]] = defaultdict(list)
    for key, group in groups.items():
        largest: dict[str, _GroupMaximum] = {}
        for instance_type in group.instance_types:
            family_class, count = vcpu_class(instance_type), vcpus.get(instance_type)
            if family_class is None or count is None:
                continue
            if family_class not in largest or count > largest[family_class].vcpus:
                largest[family_class] = _GroupMaximum(key, group.max_size, instance_type, count)
        for family_class, maximum in largest.items():
            maxima[(group.capacity_type, family_class)].append(maximum)
    return maxima


def vcpu_checks(config: StackConfig, region: str, facts: PreflightFacts) -> list[Finding]:
    """Running instances (not the stack's own nodes, which its maximum holds already) plus every node
    group at its maximum size, against the vCPU quota of their class and capacity type."""
    groups = config.cluster.node_groups
    maxima = _group_maxima(groups, facts.vcpus)
    in_use: Counter[tuple[CapacityType, str]] = Counter()
    for instance in facts.running:
        family_class = vcpu_class(instance.instance_type)
        if instance.cluster != config.cluster_name and family_class is not None:
            capacity: CapacityType = "SPOT" if instance.spot else "ON_DEMAND"
            in_use[(capacity, family_class)] += facts.vcpus.get(instance.instance_type, 0)
    unknown = sorted({t for group in groups.values() for t in group.instance_types if t not in facts.vcpus})
    findings = []
    for (capacity, family_class), quota in vcpu_quotas(config).items():
        reached = maxima.get((capacity, family_class), [])
        note = ", ".join(map(str, reached)) or "no node group"
        if unknown:
            note += f"; EC2 knows no {', '.join(unknown)} here"
        findings.append(
            quota_check(
                f"quota: {'Spot' if capacity == 'SPOT' else 'On-Demand'} {family_class} vCPUs",
                quota,
                region,
                facts.quotas.get(quota.code),
                in_use[(capacity, family_class)],
                sum(m.max_size * m.vcpus for m in reached),
                "vCPUs at the node groups' maximum sizes",
                note,
            )
        )
    return findings


def network_quota_checks(config: StackConfig, region: str, facts: PreflightFacts) -> list[Finding]:
    network = config.network
    chosen = stack_zones(facts.zones, network.az_count)
    # NAT gateway i sits in the stack's AZ i: one per AZ, or the single one in the first.
    nat_indexes = {nat_gateway_for_az(index, network.nat_gateways) for index in range(network.az_count)}
    nat_count = len(nat_indexes)
    nat_zones = Counter(chosen[index].name for index in nat_indexes if index < len(chosen))
    others_per_zone = Counter(
        nat.zone for nat in facts.nat_gateways if nat.zone and not _owned(nat.tags, config)
    )
    busiest = max(nat_zones, key=lambda zone: others_per_zone[zone] + nat_zones[zone], default=None)
    findings = [
        quota_check(
            "quota: Elastic IPs",
            ELASTIC_IPS,
            region,
            facts.quotas.get(ELASTIC_IPS.code),
            sum(not _owned(tags, config) for tags in facts.address_tags),
            nat_count + EIP_HEADROOM,
            f"for the stack's {_count(nat_count, 'NAT gateway')} and {EIP_HEADROOM} spare",
        ),
        quota_check(
            "quota: VPCs",
            VPCS,
            region,
            facts.quotas.get(VPCS.code),
            sum(not _owned(tags, config) for tags in facts.vpc_tags),
            1,
            "for the stack's VPC",
        ),
    ]
    if busiest is not None:
        findings.append(
            quota_check(
                "quota: NAT gateways per AZ",
                NAT_GATEWAYS_PER_AZ,
                region,
                facts.quotas.get(NAT_GATEWAYS_PER_AZ.code),
                others_per_zone[busiest],
                nat_zones[busiest],
                f"for the stack in {busiest}",
            )
        )
    findings.append(
        quota_check(
            "quota: interface endpoints per VPC",
            INTERFACE_ENDPOINTS_PER_VPC,
            region,
            facts.quotas.get(INTERFACE_ENDPOINTS_PER_VPC.code),
            None,
            len(network.interface_endpoints),
            "interface endpoint(s) in the stack's new VPC",
        )
    )
    return findings


def service_quota_checks(config: StackConfig, region: str, facts: PreflightFacts) -> list[Finding]:
    identifier = data_tier_identifier(config)
    return [
        quota_check(
            "quota: EKS clusters",
            EKS_CLUSTERS,
            region,
            facts.quotas.get(EKS_CLUSTERS.code),
            sum(name != config.cluster_name for name in facts.eks_clusters),
            1,
            "for the stack's cluster",
        ),
        quota_check(
            "quota: node groups per cluster",
            NODE_GROUPS_PER_CLUSTER,
            region,
            facts.quotas.get(NODE_GROUPS_PER_CLUSTER.code),
            None,
            len(config.cluster.node_groups),
            "managed node group(s) in the stack's own cluster",
        ),
        quota_check(
            "quota: RDS DB instances",
            DB_INSTANCES,
            region,
            facts.quotas.get(DB_INSTANCES.code),
            sum(cluster != identifier for cluster in facts.db_instance_clusters),
            config.database.instances,
            "for the stack's Aurora instances",
        ),
        quota_check(
            "quota: ElastiCache nodes",
            CACHE_NODES,
            region,
            facts.quotas.get(CACHE_NODES.code),
            sum(c.nodes for c in facts.cache_clusters if c.replication_group != identifier),
            config.cache.nodes,
            "for the stack's cache nodes",
        ),
    ]


# --- names --------------------------------------------------------------------------------------------------


def name_check(what: str, name: str, tags: Mapping[str, str] | None, config: StackConfig) -> Finding:
    """The stack creates ``name``: free, or already the stack's own (a second run), else AWS refuses it."""
    check = f"names: {what}"
    marks = ", ".join(f"{key}={tags.get(key, '(none)')}" for key in _OWNER_TAGS) if tags is not None else ""
    if tags is None:
        return Finding(check, "PASS", f"{name} is free")
    if _owned(tags, config):
        return Finding(check, "PASS", f"{name} is the stack's own ({marks})")
    return Finding(
        check,
        "FAIL",
        f"{name} exists and is not the stack's ({marks})",
        "set platform:cluster.name to a name no other stack uses (it names the EKS cluster, the Aurora "
        f"cluster and the ElastiCache replication group), or remove the other {what} {name}",
    )


# --- all of them --------------------------------------------------------------------------------------------


def evaluate(config: StackConfig, region: str, facts: PreflightFacts, today: date) -> list[Finding]:
    """Every preflight check of the stack: zones, the cluster, the data tier, quotas, names."""
    chosen = stack_zones(facts.zones, config.network.az_count)
    identifier = data_tier_identifier(config)
    pins: dict[str, str] = {addon: version for addon, version in config.cluster.addon_versions.items()}
    return [
        zone_check(config.network, facts.zones),
        *(
            node_group_zone_check(key, group, chosen, facts.offerings)
            for key, group in config.cluster.node_groups.items()
        ),
        cluster_version_check(config.cluster, facts.cluster_versions, today),
        *(
            addon_check(addon, pins.get(addon), config.cluster.version, facts.addons[addon])
            for addon in ADDONS
        ),
        database_check(config.database, region, facts.db_version, facts.db_classes),
        cache_engine_check(config.cache, region, facts.cache_versions),
        cache_node_type_check(config.cache, region, facts.cache_node_type_reservable),
        *vcpu_checks(config, region, facts),
        *network_quota_checks(config, region, facts),
        *service_quota_checks(config, region, facts),
        name_check("EKS cluster", config.cluster_name, facts.eks_cluster_tags, config),
        name_check("Aurora cluster", identifier, facts.db_cluster_tags, config),
        name_check("ElastiCache replication group", identifier, facts.replication_group_tags, config),
    ]
