"""What only the account knows before ``pulumi up``: one small read-only lookup per fact, each returning
a small typed value.

Like :mod:`verify.facts`, the only module of preflight that talks to AWS; every response is read into
a dataclass (or a plain mapping) before it leaves its lookup. Resources that do not exist are None or
empty, never an error. Service Quotas is the one service allowed not to answer (it falls back on AWS's
defaults, then on the documented ones); any other AWS error propagates, since nothing can then be said.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from botocore.exceptions import ClientError

from components.cluster import ADDONS
from components.config import StackConfig
from components.database import ENGINE as AURORA_ENGINE
from components.zones import EKS_UNSUPPORTED_ZONE_IDS
from verify.facts import Client, Session, tag_map, unless_missing
from verify.inputs import data_tier_identifier
from verify.quotas import Quota, quotas_for


def _pages(client: Client, operation: str, key: str, **params: Any) -> Iterator[Any]:
    """Every item under ``key`` of every page of ``operation``'s answer."""
    for page in client.get_paginator(operation).paginate(**params):
        yield from page.get(key, ())


# --- zones and instance types -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Zone:
    name: str
    zone_id: str
    """The same physical zone in every account (names are shuffled per account); EKS refuses some IDs."""


def available_zones(ec2: Client) -> list[Zone]:
    """The region's available zones in the order the program takes them: by name, as Pulumi's
    ``aws.get_availability_zones`` lists them (components/network.py uses the first azCount)."""
    zones = ec2.describe_availability_zones(Filters=[{"Name": "state", "Values": ["available"]}])
    return sorted(
        (Zone(z["ZoneName"], z["ZoneId"]) for z in zones["AvailabilityZones"]), key=lambda z: z.name
    )


def stack_zones(zones: Sequence[Zone], az_count: int) -> list[Zone]:
    """The zones the stack takes: the first ``az_count`` available ones EKS supports, as components/network.py
    chooses them (it leaves out ``EKS_UNSUPPORTED_ZONE_IDS`` by ID)."""
    return [zone for zone in zones if zone.zone_id not in EKS_UNSUPPORTED_ZONE_IDS][:az_count]


def instance_type_zones(
    ec2: Client, instance_types: Collection[str], zone_ids: Collection[str]
) -> dict[str, frozenset[str]]:
    """For each instance type, the zone IDs among ``zone_ids`` that offer it."""
    offered: dict[str, set[str]] = defaultdict(set)
    for offering in _pages(
        ec2,
        "describe_instance_type_offerings",
        "InstanceTypeOfferings",
        LocationType="availability-zone-id",
        Filters=[
            {"Name": "instance-type", "Values": sorted(instance_types)},
            {"Name": "location", "Values": sorted(zone_ids)},
        ],
    ):
        offered[offering["InstanceType"]].add(offering["Location"])
    return {instance_type: frozenset(offered[instance_type]) for instance_type in instance_types}


def instance_vcpus(ec2: Client, instance_types: Collection[str]) -> dict[str, int]:
    """The default vCPUs of each instance type EC2 knows in the region; an unknown one is left out."""
    if not instance_types:
        return {}
    # A filter rather than InstanceTypes=[...]: an unknown type is then missing, not an error for all.
    found = _pages(
        ec2,
        "describe_instance_types",
        "InstanceTypes",
        Filters=[{"Name": "instance-type", "Values": sorted(instance_types)}],
    )
    return {info["InstanceType"]: info["VCpuInfo"]["DefaultVCpus"] for info in found}


@dataclass(frozen=True)
class RunningInstance:
    instance_type: str
    spot: bool
    cluster: str | None
    """The EKS cluster whose managed node group launched it (EKS tags its nodes eks:cluster-name)."""


def running_instances(ec2: Client) -> list[RunningInstance]:
    """Instances holding vCPUs now: the vCPU quotas count running and pending ones."""
    reservations = _pages(
        ec2,
        "describe_instances",
        "Reservations",
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}],
    )
    return [
        RunningInstance(
            instance["InstanceType"],
            instance.get("InstanceLifecycle") == "spot",
            tag_map(instance.get("Tags")).get("eks:cluster-name"),
        )
        for reservation in reservations
        for instance in reservation["Instances"]
    ]


# --- networking in use --------------------------------------------------------------------------------------


def address_tags(ec2: Client) -> list[dict[str, str]]:
    """The tags of each Elastic IP address of the region."""
    return [tag_map(address.get("Tags")) for address in ec2.describe_addresses()["Addresses"]]


def vpc_tags(ec2: Client) -> list[dict[str, str]]:
    """The tags of each VPC of the region (the default VPC counts against the quota too)."""
    return [tag_map(vpc.get("Tags")) for vpc in _pages(ec2, "describe_vpcs", "Vpcs")]


@dataclass(frozen=True)
class NatGateway:
    zone: str | None
    """The AZ of a zonal gateway's subnet; None for a regional gateway, which has no subnet."""
    tags: Mapping[str, str]


def nat_gateways(ec2: Client) -> list[NatGateway]:
    """The region's NAT gateways in the states the per-AZ quota counts: pending, available, deleting."""
    gateways = list(
        _pages(
            ec2,
            "describe_nat_gateways",
            "NatGateways",
            Filters=[{"Name": "state", "Values": ["pending", "available", "deleting"]}],
        )
    )
    subnet_ids = sorted({nat["SubnetId"] for nat in gateways if nat.get("SubnetId")})
    subnets = (
        _pages(ec2, "describe_subnets", "Subnets", Filters=[{"Name": "subnet-id", "Values": subnet_ids}])
        if subnet_ids
        else ()
    )
    zone_of = {subnet["SubnetId"]: subnet["AvailabilityZone"] for subnet in subnets}
    return [NatGateway(zone_of.get(nat.get("SubnetId", "")), tag_map(nat.get("Tags"))) for nat in gateways]


# --- EKS ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterVersion:
    version: str
    status: str
    """STANDARD_SUPPORT, EXTENDED_SUPPORT or UNSUPPORTED."""
    end_of_standard_support: date | None
    end_of_extended_support: date | None


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def cluster_versions(eks: Client) -> list[ClusterVersion]:
    """The Kubernetes versions EKS offers new clusters in the region, with their support dates."""
    return [
        ClusterVersion(
            version=version["clusterVersion"],
            # status is the deprecated spelling (standard-support) of versionStatus (STANDARD_SUPPORT).
            status=version.get("versionStatus") or version.get("status", "").upper().replace("-", "_"),
            end_of_standard_support=_day(version.get("endOfStandardSupportDate")),
            end_of_extended_support=_day(version.get("endOfExtendedSupportDate")),
        )
        for version in _pages(eks, "describe_cluster_versions", "clusterVersions")
    ]


@dataclass(frozen=True)
class AddonVersions:
    versions: tuple[str, ...]
    """Every version of the add-on for the Kubernetes version, as EKS lists them (newest first)."""
    default: str | None
    """The one EKS installs when none is pinned."""


def addon_versions(eks: Client, addon: str, kubernetes_version: str) -> AddonVersions:
    found = [
        version
        for listed in _pages(
            eks, "describe_addon_versions", "addons", addonName=addon, kubernetesVersion=kubernetes_version
        )
        if listed["addonName"] == addon
        for version in listed.get("addonVersions", ())
    ]
    default = next(
        (
            version["addonVersion"]
            for version in found
            for compatibility in version.get("compatibilities", ())
            if compatibility.get("clusterVersion") == kubernetes_version
            and compatibility.get("defaultVersion")
        ),
        None,
    )
    return AddonVersions(tuple(version["addonVersion"] for version in found), default)


def cluster_names(eks: Client) -> list[str]:
    return list(_pages(eks, "list_clusters", "clusters"))


def cluster_tags(eks: Client, name: str) -> dict[str, str] | None:
    """The tags of the EKS cluster called ``name``; None when there is none."""
    response = unless_missing("ResourceNotFoundException", eks.describe_cluster, name=name)
    return None if response is None else dict(response["cluster"].get("tags") or {})


# --- RDS and ElastiCache ------------------------------------------------------------------------------------


def engine_version_of(rds: Client, engine: str, engine_version: str) -> str | None:
    """The version RDS creates ``engine`` with: ``engine_version`` itself when it names a minor, else the
    default minor of that major (None when the region has no version of it)."""
    if "." in engine_version:
        return engine_version
    versions = rds.describe_db_engine_versions(Engine=engine, EngineVersion=engine_version, DefaultOnly=True)
    found = versions.get("DBEngineVersions") or []
    return str(found[0]["EngineVersion"]) if found else None


def orderable_db_classes(rds: Client, engine: str, engine_version: str) -> frozenset[str]:
    """The instance classes the region offers in a VPC for ``engine`` at ``engine_version``."""
    options = _pages(
        rds,
        "describe_orderable_db_instance_options",
        "OrderableDBInstanceOptions",
        Engine=engine,
        EngineVersion=engine_version,
        Vpc=True,
    )
    return frozenset(option["DBInstanceClass"] for option in options)


def db_cluster_tags(rds: Client, identifier: str) -> dict[str, str] | None:
    """The tags of the Aurora cluster ``identifier``; None when there is none."""
    response = unless_missing(
        "DBClusterNotFoundFault", rds.describe_db_clusters, DBClusterIdentifier=identifier
    )
    return None if response is None else tag_map(response["DBClusters"][0].get("TagList"))


def db_instance_clusters(rds: Client) -> list[str | None]:
    """For each DB instance of the region (RDS, Aurora, Neptune, DocumentDB), its cluster, if any."""
    return [
        instance.get("DBClusterIdentifier")
        for instance in _pages(rds, "describe_db_instances", "DBInstances")
    ]


def cache_engine_versions(elasticache: Client, engine: str) -> frozenset[str]:
    versions = _pages(elasticache, "describe_cache_engine_versions", "CacheEngineVersions", Engine=engine)
    return frozenset(version["EngineVersion"] for version in versions)


def cache_node_type_reservable(elasticache: Client, node_type: str) -> bool:
    """Whether the region sells reserved nodes of ``node_type``. ElastiCache has no API that lists the
    node types a region offers; it sells reservations of those it offers, so this is the nearest sign."""
    offerings = elasticache.describe_reserved_cache_nodes_offerings(CacheNodeType=node_type, MaxRecords=20)
    return bool(offerings["ReservedCacheNodesOfferings"])


def replication_group_tags(elasticache: Client, group_id: str) -> dict[str, str] | None:
    """The tags of the replication group ``group_id``; None when there is none."""
    response = unless_missing(
        "ReplicationGroupNotFoundFault", elasticache.describe_replication_groups, ReplicationGroupId=group_id
    )
    if response is None:
        return None
    arn = response["ReplicationGroups"][0]["ARN"]
    return tag_map(elasticache.list_tags_for_resource(ResourceName=arn).get("TagList"))


@dataclass(frozen=True)
class CacheCluster:
    replication_group: str | None
    nodes: int


def cache_clusters(elasticache: Client) -> list[CacheCluster]:
    """Every cache cluster of the region: a replication group lists one per node."""
    return [
        CacheCluster(cluster.get("ReplicationGroupId"), cluster.get("NumCacheNodes", 0))
        for cluster in _pages(elasticache, "describe_cache_clusters", "CacheClusters")
    ]


# --- Service Quotas -----------------------------------------------------------------------------------------

_NO_ANSWER = frozenset({"NoSuchResourceException", "AccessDeniedException"})
"""Service Quotas has no value for the quota (or may not be asked): fall back, don't stop."""


@dataclass(frozen=True)
class QuotaValue:
    value: float
    applied: bool
    """The account's applied value; False for AWS's default (the account has no applied value)."""


def quota_value(service_quotas: Client, quota: Quota) -> QuotaValue | None:
    """The account's applied value of ``quota``, else AWS's default, else None when neither answers."""
    for call, applied in (
        (service_quotas.get_service_quota, True),
        (service_quotas.get_aws_default_service_quota, False),
    ):
        try:
            return QuotaValue(
                call(ServiceCode=quota.service, QuotaCode=quota.code)["Quota"]["Value"], applied
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in _NO_ANSWER:
                raise
    return None


# --- everything preflight reads -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PreflightFacts:
    zones: list[Zone]
    """Every available zone of the region, in the program's order; the stack takes the first azCount."""
    offerings: Mapping[str, frozenset[str]]
    """By node-group instance type, the stack's zone IDs that offer it."""
    vcpus: Mapping[str, int]
    """Default vCPUs of the node groups' instance types and of the running instances'."""
    running: list[RunningInstance]
    cluster_versions: list[ClusterVersion]
    addons: Mapping[str, AddonVersions]
    """By add-on name, its versions for the stack's Kubernetes version."""
    db_version: str | None
    """The Aurora PostgreSQL version the stack's config makes (a major's default minor); None when none."""
    db_classes: frozenset[str]
    """The classes orderable for Aurora PostgreSQL at that version."""
    cache_versions: frozenset[str]
    """The versions the region offers of the stack's cache engine."""
    cache_node_type_reservable: bool
    quotas: Mapping[str, QuotaValue | None]
    """By quota code."""
    address_tags: list[dict[str, str]]
    vpc_tags: list[dict[str, str]]
    nat_gateways: list[NatGateway]
    eks_clusters: list[str]
    db_instance_clusters: list[str | None]
    cache_clusters: list[CacheCluster]
    eks_cluster_tags: dict[str, str] | None
    """The tags of the cluster called the stack's cluster name; None when the name is free."""
    db_cluster_tags: dict[str, str] | None
    replication_group_tags: dict[str, str] | None


def gather(session: Session, config: StackConfig) -> PreflightFacts:
    """Ask the account, read-only, everything preflight compares the stack's config with."""
    ec2, eks, rds = session.client("ec2"), session.client("eks"), session.client("rds")
    elasticache, service_quotas = session.client("elasticache"), session.client("service-quotas")
    zones = available_zones(ec2)
    db_version = engine_version_of(rds, AURORA_ENGINE, config.database.engine_version)
    node_types = {t for group in config.cluster.node_groups.values() for t in group.instance_types}
    running = running_instances(ec2)
    identifier = data_tier_identifier(config)
    version = config.cluster.version
    return PreflightFacts(
        zones=zones,
        offerings=instance_type_zones(
            ec2, node_types, [z.zone_id for z in stack_zones(zones, config.network.az_count)]
        ),
        vcpus=instance_vcpus(ec2, node_types | {instance.instance_type for instance in running}),
        running=running,
        cluster_versions=cluster_versions(eks),
        addons={addon: addon_versions(eks, addon, version) for addon in ADDONS},
        db_version=db_version,
        db_classes=orderable_db_classes(rds, AURORA_ENGINE, db_version) if db_version else frozenset(),
        cache_versions=cache_engine_versions(elasticache, config.cache.engine),
        cache_node_type_reservable=cache_node_type_reservable(elasticache, config.cache.node_type),
        quotas={quota.code: quota_value(service_quotas, quota) for quota in quotas_for(config)},
        address_tags=address_tags(ec2),
        vpc_tags=vpc_tags(ec2),
        nat_gateways=nat_gateways(ec2),
        eks_clusters=cluster_names(eks),
        db_instance_clusters=db_instance_clusters(rds),
        cache_clusters=cache_clusters(elasticache),
        eks_cluster_tags=cluster_tags(eks, config.cluster_name),
        db_cluster_tags=db_cluster_tags(rds, identifier),
        replication_group_tags=replication_group_tags(elasticache, identifier),
    )
