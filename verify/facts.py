"""What the live account says: one small lookup per resource, each returning a small typed dataclass.

This is the only module that talks to AWS. boto3 ships no type information (its stubs are a separate,
generated distribution), so clients are typed ``Client`` (``Any``) here, at the one boundary: every
response is read into a dataclass before it leaves its lookup, and nothing downstream sees an untyped
value. A resource that does not exist is ``None`` (or empty), never an error; any other AWS error
(no credentials, access denied) propagates, since then nothing can be said about the account.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from components.cluster import Taint
from components.subnets import TIERS, Tier
from verify.inputs import StackOutputs

Client = Any
"""A boto3 client of the service its parameter is named after."""
Session = Any
"""A ``boto3.Session`` in the account and region to check."""


def unless_missing(not_found: str, call: Callable[..., Any], **params: Any) -> Any:
    """``call(**params)``'s response, or None when AWS answers with the ``not_found`` error code."""
    try:
        return call(**params)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == not_found:
            return None
        raise


def tag_map(items: Sequence[Mapping[str, str]] | None) -> dict[str, str]:
    """AWS's ``[{"Key": ..., "Value": ...}]`` tags as a mapping."""
    return {item["Key"]: item["Value"] for item in items or ()}


# --- network ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VpcFacts:
    vpc_id: str
    cidr: str
    state: str


def vpc_facts(ec2: Client, vpc_id: str) -> VpcFacts | None:
    # A filter rather than VpcIds=[...]: a missing VPC is then an empty answer, not an error to decode.
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"]
    return VpcFacts(vpcs[0]["VpcId"], vpcs[0]["CidrBlock"], vpcs[0]["State"]) if vpcs else None


@dataclass(frozen=True)
class FlowLogFacts:
    flow_log_id: str
    status: str
    """``ACTIVE`` while the flow log exists and is enabled."""
    delivery: str
    """``SUCCESS``, or ``FAILED`` when the logs cannot be written (a broken role or destination)."""
    traffic_type: str
    destination_type: str


def flow_log_facts(ec2: Client, vpc_id: str) -> list[FlowLogFacts]:
    flow_logs = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]
    return [
        FlowLogFacts(
            flow_log_id=log["FlowLogId"],
            status=log.get("FlowLogStatus", ""),
            delivery=log.get("DeliverLogsStatus", ""),
            traffic_type=log.get("TrafficType", ""),
            destination_type=log.get("LogDestinationType", ""),
        )
        for log in flow_logs
    ]


@dataclass(frozen=True)
class NatGatewayFacts:
    nat_gateway_id: str
    state: str
    subnet_id: str | None
    """The subnet a zonal gateway sits in; a regional one sits in none."""
    regional: bool = False
    """AvailabilityMode ``regional``: one gateway that spans AZs by itself."""
    zones: frozenset[str] = frozenset()
    """The AZs a regional gateway has addresses in, so serves."""
    auto_provision_zones: bool = False
    """A regional gateway that AWS extends to every AZ where the VPC has subnets."""


def nat_gateway_facts(ec2: Client, vpc_id: str) -> list[NatGatewayFacts]:
    """Every NAT gateway of the VPC, in any state (deleted ones stay visible for an hour)."""
    gateways = ec2.describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["NatGateways"]
    return [
        NatGatewayFacts(
            nat_gateway_id=nat["NatGatewayId"],
            state=nat["State"],
            subnet_id=nat.get("SubnetId"),
            # Zonal when unsaid: gateways from before regional ones existed report no mode.
            regional=nat.get("AvailabilityMode") == "regional",
            zones=frozenset(
                address["AvailabilityZone"]
                for address in nat.get("NatGatewayAddresses", ())
                if address.get("AvailabilityZone")
            ),
            auto_provision_zones=nat.get("AutoProvisionZones") == "enabled",
        )
        for nat in gateways
    ]


@dataclass(frozen=True)
class SubnetFacts:
    subnet_id: str
    vpc_id: str
    availability_zone: str
    tags: Mapping[str, str]


def subnet_facts(ec2: Client, subnet_ids: Sequence[str]) -> list[SubnetFacts]:
    """The subnets among ``subnet_ids`` that exist; a missing one is simply absent."""
    if not subnet_ids:
        return []
    subnets = ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": list(subnet_ids)}])["Subnets"]
    return [
        SubnetFacts(s["SubnetId"], s["VpcId"], s["AvailabilityZone"], tag_map(s.get("Tags"))) for s in subnets
    ]


@dataclass(frozen=True)
class IngressRule:
    protocol: str
    """``tcp``, ``udp``, ``icmp`` or ``-1`` (all traffic, any port)."""
    from_port: int | None
    to_port: int | None
    source: str
    """A security group ID, an IPv4 or IPv6 CIDR, or a prefix list ID."""

    def __str__(self) -> str:
        if self.protocol == "-1":
            return f"all traffic from {self.source}"
        ports = str(self.from_port) if self.from_port == self.to_port else f"{self.from_port}-{self.to_port}"
        return f"{self.protocol} {ports} from {self.source}"


@dataclass(frozen=True)
class SecurityGroupFacts:
    group_id: str
    ingress: tuple[IngressRule, ...]


def security_group_facts(ec2: Client, group_id: str) -> SecurityGroupFacts | None:
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [group_id]}])
    if not groups["SecurityGroups"]:
        return None
    rules: list[IngressRule] = []
    # One permission may name several sources of each kind; each is a rule of its own.
    for permission in groups["SecurityGroups"][0].get("IpPermissions", ()):
        sources = [
            *(pair["GroupId"] for pair in permission.get("UserIdGroupPairs", ())),
            *(block["CidrIp"] for block in permission.get("IpRanges", ())),
            *(block["CidrIpv6"] for block in permission.get("Ipv6Ranges", ())),
            *(prefix["PrefixListId"] for prefix in permission.get("PrefixListIds", ())),
        ]
        rules.extend(
            IngressRule(
                permission["IpProtocol"], permission.get("FromPort"), permission.get("ToPort"), source
            )
            for source in sources
        )
    return SecurityGroupFacts(group_id, tuple(rules))


# --- the cluster --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterFacts:
    name: str
    status: str
    version: str
    secrets_key_arn: str | None
    """The KMS key encrypting Kubernetes secrets; None when secrets are not encrypted with one."""
    enabled_log_types: frozenset[str]
    endpoint_public_access: bool
    endpoint_private_access: bool
    public_access_cidrs: frozenset[str]


def cluster_facts(eks: Client, name: str) -> ClusterFacts | None:
    response = unless_missing("ResourceNotFoundException", eks.describe_cluster, name=name)
    if response is None:
        return None
    cluster = response["cluster"]
    vpc = cluster.get("resourcesVpcConfig", {})
    secrets_keys = [
        entry.get("provider", {}).get("keyArn")
        for entry in cluster.get("encryptionConfig", ())
        if "secrets" in entry.get("resources", ())
    ]
    return ClusterFacts(
        name=cluster["name"],
        status=cluster["status"],
        version=cluster["version"],
        secrets_key_arn=next((key for key in secrets_keys if key), None),
        enabled_log_types=frozenset(
            log_type
            for setting in cluster.get("logging", {}).get("clusterLogging", ())
            if setting.get("enabled")
            for log_type in setting.get("types", ())
        ),
        endpoint_public_access=bool(vpc.get("endpointPublicAccess")),
        endpoint_private_access=bool(vpc.get("endpointPrivateAccess")),
        public_access_cidrs=frozenset(vpc.get("publicAccessCidrs", ())),
    )


@dataclass(frozen=True)
class NodeGroupFacts:
    name: str
    status: str
    min_size: int
    max_size: int
    instance_types: tuple[str, ...]
    capacity_type: str
    labels: Mapping[str, str]
    taints: frozenset[Taint]


def node_group_facts(eks: Client, cluster_name: str, node_group_name: str) -> NodeGroupFacts | None:
    response = unless_missing(
        "ResourceNotFoundException",
        eks.describe_nodegroup,
        clusterName=cluster_name,
        nodegroupName=node_group_name,
    )
    if response is None:
        return None
    group = response["nodegroup"]
    scaling = group.get("scalingConfig", {})
    return NodeGroupFacts(
        name=group["nodegroupName"],
        status=group["status"],
        min_size=scaling.get("minSize", 0),
        max_size=scaling.get("maxSize", 0),
        instance_types=tuple(group.get("instanceTypes") or ()),
        capacity_type=group.get("capacityType", ""),
        labels=dict(group.get("labels") or {}),
        # EKS leaves out the value of a taint that has none; the config spells it "".
        taints=frozenset(Taint(t["key"], t.get("value", ""), t["effect"]) for t in group.get("taints") or ()),
    )


# --- the data tier ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseFacts:
    identifier: str
    status: str
    endpoint: str
    storage_encrypted: bool
    deletion_protection: bool
    backup_retention_days: int
    backup_window: str
    maintenance_window: str
    iam_authentication: bool
    security_group_ids: tuple[str, ...]


def database_facts(rds: Client, identifier: str) -> DatabaseFacts | None:
    response = unless_missing(
        "DBClusterNotFoundFault", rds.describe_db_clusters, DBClusterIdentifier=identifier
    )
    if response is None:
        return None
    cluster = response["DBClusters"][0]
    return DatabaseFacts(
        identifier=cluster["DBClusterIdentifier"],
        status=cluster["Status"],
        endpoint=cluster.get("Endpoint", ""),
        storage_encrypted=bool(cluster.get("StorageEncrypted")),
        deletion_protection=bool(cluster.get("DeletionProtection")),
        backup_retention_days=cluster.get("BackupRetentionPeriod", 0),
        backup_window=cluster.get("PreferredBackupWindow", ""),
        maintenance_window=cluster.get("PreferredMaintenanceWindow", ""),
        iam_authentication=bool(cluster.get("IAMDatabaseAuthenticationEnabled")),
        security_group_ids=tuple(
            group["VpcSecurityGroupId"] for group in cluster.get("VpcSecurityGroups", ())
        ),
    )


@dataclass(frozen=True)
class DatabaseInstanceFacts:
    identifier: str
    status: str
    instance_class: str


def database_instance_facts(rds: Client, cluster_identifier: str) -> list[DatabaseInstanceFacts]:
    instances = rds.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [cluster_identifier]}])
    return [
        DatabaseInstanceFacts(i["DBInstanceIdentifier"], i["DBInstanceStatus"], i["DBInstanceClass"])
        for i in instances["DBInstances"]
    ]


@dataclass(frozen=True)
class CacheFacts:
    group_id: str
    status: str
    primary_endpoint: str | None
    at_rest_encryption: bool
    transit_encryption: bool
    transit_encryption_mode: str | None
    """``required``, or ``preferred`` while plain-text clients may still connect; None if not reported."""
    auth_token_enabled: bool
    node_type: str
    member_clusters: tuple[str, ...]
    """One cache cluster per node: the primary and its replicas."""


def cache_facts(elasticache: Client, group_id: str) -> CacheFacts | None:
    response = unless_missing(
        "ReplicationGroupNotFoundFault", elasticache.describe_replication_groups, ReplicationGroupId=group_id
    )
    if response is None:
        return None
    group = response["ReplicationGroups"][0]
    # Cluster mode off: one node group, whose primary endpoint is the one clients write to.
    node_groups = group.get("NodeGroups") or [{}]
    return CacheFacts(
        group_id=group["ReplicationGroupId"],
        status=group["Status"],
        primary_endpoint=node_groups[0].get("PrimaryEndpoint", {}).get("Address"),
        at_rest_encryption=bool(group.get("AtRestEncryptionEnabled")),
        transit_encryption=bool(group.get("TransitEncryptionEnabled")),
        transit_encryption_mode=group.get("TransitEncryptionMode"),
        auth_token_enabled=bool(group.get("AuthTokenEnabled")),
        node_type=group.get("CacheNodeType", ""),
        member_clusters=tuple(group.get("MemberClusters", ())),
    )


def cache_security_group_ids(elasticache: Client, cache_cluster_id: str) -> tuple[str, ...]:
    """The security groups of one node; a replication group reports none of its own."""
    response = unless_missing(
        "CacheClusterNotFound", elasticache.describe_cache_clusters, CacheClusterId=cache_cluster_id
    )
    if response is None:
        return ()
    return tuple(group["SecurityGroupId"] for group in response["CacheClusters"][0].get("SecurityGroups", ()))


# --- everything a stack's checks read -----------------------------------------------------------------------


@dataclass(frozen=True)
class AccountFacts:
    """The live state of one stack's resources, as the checks compare it with the config."""

    vpc: VpcFacts | None
    flow_logs: list[FlowLogFacts]
    nat_gateways: list[NatGatewayFacts]
    subnets: Mapping[Tier, list[SubnetFacts]]
    cluster: ClusterFacts | None
    node_groups: Mapping[str, NodeGroupFacts | None]
    """By config key, for each group the outputs name."""
    database: DatabaseFacts | None
    database_instances: list[DatabaseInstanceFacts]
    database_security_groups: list[SecurityGroupFacts]
    cache: CacheFacts | None
    cache_security_groups: list[SecurityGroupFacts]


def _security_groups(ec2: Client, group_ids: Sequence[str]) -> list[SecurityGroupFacts]:
    found = (security_group_facts(ec2, group_id) for group_id in dict.fromkeys(group_ids))
    return [group for group in found if group is not None]


def gather(session: Session, outputs: StackOutputs, data_tier_identifier: str) -> AccountFacts:
    """Look up every resource of the stack that the outputs (and the data tier's identifier) name."""
    ec2, eks = session.client("ec2"), session.client("eks")
    rds, elasticache = session.client("rds"), session.client("elasticache")
    subnet_ids = outputs.subnet_ids()
    subnets = subnet_facts(ec2, [subnet for tier in TIERS for subnet in subnet_ids[tier]])
    database = database_facts(rds, data_tier_identifier)
    cache = cache_facts(elasticache, data_tier_identifier)
    cache_group_ids = [
        group_id
        for member in (cache.member_clusters if cache else ())
        for group_id in cache_security_group_ids(elasticache, member)
    ]
    return AccountFacts(
        vpc=vpc_facts(ec2, outputs.vpc_id),
        flow_logs=flow_log_facts(ec2, outputs.vpc_id),
        nat_gateways=nat_gateway_facts(ec2, outputs.vpc_id),
        subnets={tier: [s for s in subnets if s.subnet_id in subnet_ids[tier]] for tier in TIERS},
        cluster=cluster_facts(eks, outputs.cluster_name),
        node_groups={
            key: node_group_facts(eks, outputs.cluster_name, name)
            for key, name in outputs.node_group_names.items()
        },
        database=database,
        database_instances=database_instance_facts(rds, data_tier_identifier) if database else [],
        database_security_groups=_security_groups(ec2, database.security_group_ids if database else ()),
        cache=cache,
        cache_security_groups=_security_groups(ec2, cache_group_ids),
    )
