"""CloudWatch alarms of the platform's AWS side, each with alarm and OK actions to one SNS topic.

What is watched, and why these metrics:

* **Aurora**, by role (``DBClusterIdentifier`` + ``Role``): AWS advises role metrics over an instance's, as
  a failover swaps which instance writes. CPU, freeable memory and connections of the writer and (with
  replicas) of the readers; the readers' ``AuroraReplicaLag``.
* **ElastiCache**, per node (``CacheClusterId``): ``DatabaseMemoryUsagePercentage``, ``Evictions``,
  ``EngineCPUUtilization`` (the engine's own thread, what saturates first) and, with replicas,
  ``ReplicationLag``, which only a replica reports: every node has one, since any can become a replica.
* **NAT gateways**: ``ErrorPortAllocation`` (connections refused for want of source ports) and
  ``PacketsDropCount``.
* **Node groups**: EKS publishes no health metric of a managed node group, and the Auto Scaling group it
  makes publishes its group metrics (``GroupInServiceInstances``) only once metrics collection is enabled,
  which the EKS API cannot do (aws/containers-roadmap#762). EC2 aggregates every instance's metrics under
  its ``AutoScalingGroupName``, with no setup: a node failing its EC2 status checks
  (``StatusCheckFailed``) is the native degraded-health signal, and the one alarmed on. Container Insights
  (``cluster_failed_node_count``) would see NotReady nodes too, but it is not installed.

The topic is encrypted with a key of its own, whose policy lets CloudWatch (``cloudwatch.amazonaws.com``)
use it for this account's alarms: without that, AWS accepts every alarm and silently drops every
notification. The topic's policy lets only this account's alarms publish, over TLS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pulumi
import pulumi_aws as aws

from components.config import (
    AlarmsConfig,
    CacheAlarmsConfig,
    DatabaseAlarmsConfig,
    NatAlarmsConfig,
    StackConfig,
)
from components.shared import account_and_region, customer_managed_key
from components.tags import Tags

if TYPE_CHECKING:
    from components.cache import Cache
    from components.cluster import Cluster
    from components.database import Database
    from components.network import Network

MIB = 2**20
CONNECTIONS_SHARE = 0.8
"""Share of max_connections at which the connections alarm fires when no threshold is configured."""
Comparison = Literal[
    "GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"
]


@dataclass(frozen=True)
class WatchedDatabase:
    """The Aurora cluster, as its alarms name it."""

    cluster_identifier: pulumi.Input[str]
    """The cluster's identifier (the ``DBClusterIdentifier`` dimension). Required."""
    readers: bool
    """Whether it has readers (instances beyond the writer): their alarms and replica lag. Required."""
    max_connections: int | None = None
    """Each instance's default max_connections, for the default connections threshold. Default unknown."""


@dataclass(frozen=True)
class Watched:
    """What the alarms watch: the platform's AWS resources, by the IDs their metrics are published under."""

    database: WatchedDatabase | None = None
    """The Aurora cluster. Default none."""
    cache_clusters: Sequence[pulumi.Input[str]] = ()
    """Each ElastiCache node's cache cluster ID (``<group>-001``...). Default none."""
    nat_gateway_ids: Sequence[pulumi.Input[str]] = ()
    """Each NAT gateway's ID. Default none."""
    node_groups: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Node group key -> the Auto Scaling group EKS made for it. Default none."""

    @classmethod
    def of_platform(
        cls, config: StackConfig, *, database: Database, cache: Cache, network: Network, cluster: Cluster
    ) -> Watched:
        return cls(
            database=WatchedDatabase(
                database.cluster_identifier,
                readers=config.database.instances > 1,
                max_connections=config.database.default_max_connections(),
            ),
            cache_clusters=tuple(cache.member_clusters),
            nat_gateway_ids=tuple(network.nat_gateway_id_list),
            node_groups={key: group.autoscaling_group_name for key, group in cluster.node_groups.items()},
        )


@dataclass(frozen=True)
class AlarmsArgs:
    """Inputs of :class:`Alarms`. Defaults are production's."""

    identifier: str
    """Names the topic, its key's alias and every alarm (the cluster name). Required."""
    watched: Watched
    """What to alarm on. Required."""
    subscriptions: Sequence[tuple[str, str]] = ()
    """(protocol, endpoint) of each subscriber of the topic. Default none."""
    period_seconds: int = 60
    """Length of each evaluated period (seconds, standard resolution). Default 60."""
    evaluation_periods: int = 5
    """Consecutive breaching periods before an alarm fires. Default 5."""
    database: DatabaseAlarmsConfig = field(default_factory=DatabaseAlarmsConfig)
    """Aurora's thresholds. Default: DatabaseAlarmsConfig's."""
    cache: CacheAlarmsConfig = field(default_factory=CacheAlarmsConfig)
    """ElastiCache's thresholds. Default: CacheAlarmsConfig's."""
    nat_gateway: NatAlarmsConfig = field(default_factory=NatAlarmsConfig)
    """The NAT gateways' thresholds. Default: NatAlarmsConfig's."""
    node_status_checks: bool = True
    """Whether each node group alarms on a node failing its status checks. Default true."""
    protect: bool = True
    """``protect=True`` on the topic's key. Default true."""
    tags: Tags = field(default_factory=Tags)
    """Tags of every resource. Default none."""

    @classmethod
    def from_config(
        cls, config: AlarmsConfig, *, identifier: str, watched: Watched, protect: bool, tags: Tags
    ) -> AlarmsArgs:
        return cls(
            identifier=identifier,
            watched=watched,
            subscriptions=tuple((s.protocol, s.endpoint) for s in config.subscriptions),
            period_seconds=config.period_seconds,
            evaluation_periods=config.evaluation_periods,
            database=config.database,
            cache=config.cache,
            nat_gateway=config.nat_gateway,
            node_status_checks=config.node_status_checks,
            protect=protect,
            tags=tags,
        )


@dataclass(frozen=True)
class AlarmSpec:
    """One metric alarm, before it is a resource: what it reads, when it fires, what it means."""

    key: str
    """Stable suffix of its logical and physical names, like ``database-writer-cpu``."""
    description: str
    namespace: str
    metric: str
    dimensions: Mapping[str, pulumi.Input[str]]
    statistic: Literal["Average", "Maximum", "Minimum", "Sum"]
    comparison: Comparison
    threshold: float
    missing_data: Literal["missing", "notBreaching"] = "missing"
    """``notBreaching`` where no data is the healthy case: a counter idle, a metric only replicas report."""


def _window(args: AlarmsArgs) -> str:
    return f"{args.evaluation_periods} x {args.period_seconds} s"


def database_alarms(args: AlarmsArgs, database: WatchedDatabase) -> list[AlarmSpec]:
    thresholds = args.database
    connections = thresholds.connections or (
        int(database.max_connections * CONNECTIONS_SHARE) if database.max_connections else None
    )
    roles = {"writer": "WRITER", **({"readers": "READER"} if database.readers else {})}
    specs = []
    for role, dimension in roles.items():
        where = {"DBClusterIdentifier": database.cluster_identifier, "Role": dimension}
        who = f"Aurora {role} of {args.identifier}"
        specs += [
            AlarmSpec(
                f"database-{role}-cpu",
                f"{who}: CPUUtilization above {thresholds.cpu_percent}% for {_window(args)}. Find the "
                "queries in Performance Insights, or move to a larger instance class.",
                "AWS/RDS",
                "CPUUtilization",
                where,
                "Maximum",
                "GreaterThanThreshold",
                thresholds.cpu_percent,
            ),
            AlarmSpec(
                f"database-{role}-memory",
                f"{who}: FreeableMemory below {thresholds.freeable_memory_mib} MiB for {_window(args)}; "
                "the instance is about to swap. Check connections and work_mem, or a larger class.",
                "AWS/RDS",
                "FreeableMemory",
                where,
                "Minimum",
                "LessThanThreshold",
                thresholds.freeable_memory_mib * MIB,
            ),
        ]
        if connections is not None:
            specs.append(
                AlarmSpec(
                    f"database-{role}-connections",
                    f"{who}: DatabaseConnections above {connections} for {_window(args)}; new connections "
                    "will soon be refused. Look for connection leaks, or pool (RDS Proxy).",
                    "AWS/RDS",
                    "DatabaseConnections",
                    where,
                    "Maximum",
                    "GreaterThanThreshold",
                    connections,
                )
            )
    if database.readers:
        specs.append(
            AlarmSpec(
                "database-readers-replica-lag",
                f"Aurora readers of {args.identifier}: AuroraReplicaLag above {thresholds.replica_lag_ms} ms "
                f"for {_window(args)}; reads are stale. Check the writer's write load and the readers' CPU.",
                "AWS/RDS",
                "AuroraReplicaLag",
                {"DBClusterIdentifier": database.cluster_identifier, "Role": "READER"},
                "Maximum",
                "GreaterThanThreshold",
                thresholds.replica_lag_ms,
                "notBreaching",
            )
        )
    return specs


def cache_alarms(args: AlarmsArgs, clusters: Sequence[pulumi.Input[str]]) -> list[AlarmSpec]:
    thresholds = args.cache
    specs = []
    for index, cluster in enumerate(clusters):
        node = f"{index + 1:03}"
        where = {"CacheClusterId": cluster}
        who = f"ElastiCache node {node} of {args.identifier}"
        specs += [
            AlarmSpec(
                f"cache-{node}-memory",
                f"{who}: DatabaseMemoryUsagePercentage above {thresholds.memory_percent}% for "
                f"{_window(args)}; the working set is outgrowing the node. Consider a larger node type.",
                "AWS/ElastiCache",
                "DatabaseMemoryUsagePercentage",
                where,
                "Average",
                "GreaterThanThreshold",
                thresholds.memory_percent,
            ),
            AlarmSpec(
                f"cache-{node}-evictions",
                f"{who}: more than {thresholds.evictions} Evictions per {args.period_seconds} s for "
                f"{_window(args)}; keys are dropped for want of memory.",
                "AWS/ElastiCache",
                "Evictions",
                where,
                "Sum",
                "GreaterThanThreshold",
                thresholds.evictions,
                "notBreaching",
            ),
            AlarmSpec(
                f"cache-{node}-cpu",
                f"{who}: EngineCPUUtilization above {thresholds.cpu_percent}% for {_window(args)}; the "
                "engine's thread is saturating. Look for slow commands (the slow log), or scale.",
                "AWS/ElastiCache",
                "EngineCPUUtilization",
                where,
                "Average",
                "GreaterThanThreshold",
                thresholds.cpu_percent,
            ),
        ]
        if len(clusters) > 1:
            specs.append(
                AlarmSpec(
                    f"cache-{node}-replication-lag",
                    f"{who}: ReplicationLag above {thresholds.replication_lag_seconds} s for "
                    f"{_window(args)}, while it is a replica; reads from it are stale, and a failover "
                    "to it would lose writes.",
                    "AWS/ElastiCache",
                    "ReplicationLag",
                    where,
                    "Maximum",
                    "GreaterThanThreshold",
                    thresholds.replication_lag_seconds,
                    "notBreaching",
                )
            )
    return specs


def nat_gateway_alarms(args: AlarmsArgs, gateway_ids: Sequence[pulumi.Input[str]]) -> list[AlarmSpec]:
    thresholds = args.nat_gateway
    specs = []
    for index, gateway in enumerate(gateway_ids):
        where = {"NatGatewayId": gateway}
        who = f"NAT gateway {index} of {args.identifier}"
        specs += [
            AlarmSpec(
                f"nat-{index}-port-allocation",
                f"{who}: ErrorPortAllocation above {thresholds.port_allocation_errors} per "
                f"{args.period_seconds} s for {_window(args)}; it is refusing connections for want of "
                "source ports. Add an address to the gateway, or spread the destinations.",
                "AWS/NATGateway",
                "ErrorPortAllocation",
                where,
                "Sum",
                "GreaterThanThreshold",
                thresholds.port_allocation_errors,
                "notBreaching",
            ),
            AlarmSpec(
                f"nat-{index}-dropped-packets",
                f"{who}: PacketsDropCount above {thresholds.dropped_packets} per {args.period_seconds} s "
                f"for {_window(args)}. Check the AWS Health Dashboard, then the traffic through it.",
                "AWS/NATGateway",
                "PacketsDropCount",
                where,
                "Sum",
                "GreaterThanThreshold",
                thresholds.dropped_packets,
                "notBreaching",
            ),
        ]
    return specs


def node_group_alarms(args: AlarmsArgs, groups: Mapping[str, pulumi.Input[str]]) -> list[AlarmSpec]:
    return [
        AlarmSpec(
            f"nodes-{key}-status-checks",
            f"Node group {key} of {args.identifier}: a node fails its EC2 status checks (StatusCheckFailed) "
            f"for {_window(args)}. EKS replaces it only once the kubelet stops reporting; check the node "
            "and its group's health in the EKS console.",
            "AWS/EC2",
            "StatusCheckFailed",
            {"AutoScalingGroupName": group},
            "Maximum",
            "GreaterThanThreshold",
            0,
            "notBreaching",
        )
        for key, group in groups.items()
    ]


def alarm_specs(args: AlarmsArgs) -> list[AlarmSpec]:
    """Every alarm of what ``args`` watches, in a stable order."""
    watched = args.watched
    return [
        *(database_alarms(args, watched.database) if watched.database else []),
        *cache_alarms(args, watched.cache_clusters),
        *nat_gateway_alarms(args, watched.nat_gateway_ids),
        *(node_group_alarms(args, watched.node_groups) if args.node_status_checks else []),
    ]


def topic_policy(topic_arn: str, account_id: str, region: str, identifier: str) -> dict[str, Any]:
    """The account administers the topic; only this account's alarms (by name) publish to it; and nothing
    reaches it but over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersTheTopic",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": [
                    "sns:GetTopicAttributes",
                    "sns:SetTopicAttributes",
                    "sns:AddPermission",
                    "sns:RemovePermission",
                    "sns:DeleteTopic",
                    "sns:Subscribe",
                    "sns:ListSubscriptionsByTopic",
                    "sns:Publish",
                ],
                "Resource": topic_arn,
            },
            {
                "Sid": "TheStacksAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:aws:cloudwatch:{region}:{account_id}:alarm:{identifier}-*"
                    },
                },
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def subscription_key(protocol: str, endpoint: str) -> str:
    """A subscriber's stable name: adding or removing one never renames (replaces) another."""
    return f"{protocol}-{hashlib.sha256(f'{protocol}:{endpoint}'.encode()).hexdigest()[:8]}"


class Alarms(pulumi.ComponentResource):
    """The alarms topic (its own key, its subscribers) and a metric alarm per watched metric."""

    topic_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    alarm_names: list[pulumi.Output[str]]

    def __init__(self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Alarms", name, None, opts)
        tags = args.tags.layered({"Component": "alarms"})
        child = pulumi.ResourceOptions(parent=self)
        key = customer_managed_key(
            self,
            f"{name}-kms",
            description=f"Encrypts the alarms topic of {args.identifier}",
            alias=f"alias/{args.identifier}-alarms",
            tags=tags,
            protect=args.protect,
            # Subscribers' deliveries go through SNS; CloudWatch encrypts what its alarms publish.
            services=("sns",),
            publishers=("cloudwatch",),
        )
        topic = aws.sns.Topic(
            f"{name}-topic",
            name=f"{args.identifier}-alarms",
            display_name=f"{args.identifier} alarms"[:100],
            kms_master_key_id=key.arn,
            tags=tags.for_resource(f"{name}-topic"),
            opts=child,
        )
        account_id, region = account_and_region(self)
        policy = aws.sns.TopicPolicy(
            f"{name}-topic",
            arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, account_id, region).apply(
                lambda ids: json.dumps(topic_policy(ids[0], ids[1], ids[2], args.identifier))
            ),
            opts=child,
        )
        for protocol, endpoint in args.subscriptions:
            aws.sns.TopicSubscription(
                f"{name}-{subscription_key(protocol, endpoint)}",
                topic=topic.arn,
                protocol=protocol,
                endpoint=endpoint,
                opts=child,
            )
        self.alarm_names = [
            aws.cloudwatch.MetricAlarm(
                f"{name}-{spec.key}",
                name=f"{args.identifier}-{spec.key}",
                alarm_description=spec.description,
                namespace=spec.namespace,
                metric_name=spec.metric,
                dimensions=dict(spec.dimensions),
                statistic=spec.statistic,
                comparison_operator=spec.comparison,
                threshold=spec.threshold,
                period=args.period_seconds,
                evaluation_periods=args.evaluation_periods,
                datapoints_to_alarm=args.evaluation_periods,
                treat_missing_data=spec.missing_data,
                actions_enabled=True,
                alarm_actions=[topic.arn],
                ok_actions=[topic.arn],
                tags=tags.for_resource(f"{args.identifier}-{spec.key}"),
                # CloudWatch may publish only once the topic's policy lets it.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
            ).name
            for spec in alarm_specs(args)
        ]
        self.topic_arn, self.key_arn = topic.arn, key.arn
        self.register_outputs({"topicArn": self.topic_arn, "alarmNames": self.alarm_names})
