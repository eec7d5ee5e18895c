"""The platform's Redis (or Valkey): an ElastiCache replication group, encrypted at rest and in transit."""

from __future__ import annotations

import functools
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.config import CacheConfig, MaxmemoryPolicy
from components.shared import (
    allowed_sources,
    customer_managed_key,
    major_minor,
    security_group_for_port,
    wiring_problems,
)
from components.tags import Tags

AUTH_TOKEN_LENGTH = 64
"""Characters in the AUTH token; ElastiCache takes 16 to 128."""
AUTH_TOKEN_SPECIALS = "!&#$^<>-"
"""The only printable special characters ElastiCache accepts in an AUTH token (CreateReplicationGroup,
AuthToken: "The only permitted printable special characters are !, &, #, $, ^, <, >, and -")."""
LOG_TYPES = ("slow-log", "engine-log")


@dataclass(frozen=True)
class CacheArgs:
    """Inputs of :class:`Cache`. Defaults are production's."""

    identifier: str
    """Replication group ID, unique in the account and region (so include the stack), lowercase letters,
    digits and '-', at most 40 characters. Required."""
    vpc_id: pulumi.Input[str]
    """VPC of the subnet group; the security group is made in it. Required."""
    subnet_group_name: pulumi.Input[str]
    """ElastiCache subnet group; the nodes spread over its AZs. Required."""
    allowed_security_group_ids: Mapping[str, pulumi.Input[str]]
    """Security groups allowed to reach the port, keyed by a stable name for each rule
    (e.g. ``{"nodes": node_sg.id}``), so removing one never renames another. At least one. Required."""
    engine: Literal["redis", "valkey"] = "redis"
    """Cache engine. Default redis."""
    engine_version: str = "7.1"
    """Engine MAJOR.MINOR version; Redis needs 7.0 or later to require in-transit encryption. Default 7.1."""
    node_type: str = "cache.r6g.large"
    """Node type of every node. Default cache.r6g.large."""
    nodes: int = 3
    """Primary plus replicas (count, 1-6); from 2 on, failover is automatic and Multi-AZ. Default 3."""
    port: int = 6379
    """TCP port. Default 6379."""
    maxmemory_policy: MaxmemoryPolicy = "allkeys-lru"
    """Eviction policy once memory is full. Default allkeys-lru."""
    snapshot_retention_days: int = 7
    """Days daily snapshots are kept (0-35; 0 turns them off). Default 7."""
    snapshot_window: str = "05:00-06:00"
    """Daily snapshot window (hh:mm-hh:mm UTC). Default 05:00-06:00."""
    maintenance_window: str = "sun:06:00-sun:07:00"
    """Weekly maintenance window (ddd:hh:mm-ddd:hh:mm UTC). Default sun:06:00-sun:07:00."""
    log_retention_days: int = 30
    """Days CloudWatch Logs keeps the slow and engine logs (a CloudWatch retention value). Default 30."""
    log_key_arn: pulumi.Input[str] | None = None
    """KMS key of the log groups; its policy must let CloudWatch Logs use it. Default none (CloudWatch's own
    encryption): the platform always gives one."""
    auth_token_version: int = 1
    """Generation of the AUTH token: a new number makes a new token. Default 1."""
    auth_token_update_strategy: Literal["ROTATE", "SET"] = "ROTATE"
    """How a new token is applied: ROTATE accepts the old one beside it, so clients move over without an
    outage; SET then leaves the new one alone. Default ROTATE."""
    protect: bool = True
    """Whether Pulumi refuses to delete the replication group and its key. Default true."""
    tags: Tags = field(default_factory=Tags)
    """Tags for every resource (``Name`` is added per resource). Default none."""

    def __post_init__(self) -> None:
        problems = wiring_problems(self.identifier, self.allowed_security_group_ids, max_length=40)
        if not 1 <= self.nodes <= 6:
            problems.append(f"nodes: must be 1-6, got {self.nodes}")
        try:
            cache_parameter_family(self.engine, self.engine_version)
        except ValueError as err:
            problems.append(f"engine_version: {err}")
        if problems:
            raise ValueError(f"CacheArgs for {self.identifier!r}: " + "; ".join(problems))

    @classmethod
    def from_config(
        cls,
        config: CacheConfig,
        *,
        identifier: str,
        vpc_id: pulumi.Input[str],
        subnet_group_name: pulumi.Input[str],
        node_security_group_id: pulumi.Input[str],
        protect: bool,
        tags: Tags,
        log_key_arn: pulumi.Input[str] | None = None,
    ) -> CacheArgs:
        """The Args of ``platform:cache``: the cluster's nodes plus the config's extra groups may connect."""
        return cls(
            identifier=identifier,
            vpc_id=vpc_id,
            subnet_group_name=subnet_group_name,
            allowed_security_group_ids=allowed_sources(
                node_security_group_id, config.allowed_security_group_ids
            ),
            engine=config.engine,
            engine_version=config.engine_version,
            node_type=config.node_type,
            nodes=config.nodes,
            port=config.port,
            maxmemory_policy=config.maxmemory_policy,
            snapshot_retention_days=config.snapshot_retention_days,
            snapshot_window=config.snapshot_window,
            maintenance_window=config.maintenance_window,
            log_retention_days=config.log_retention_days,
            log_key_arn=log_key_arn,
            auth_token_version=config.auth_token_version,
            auth_token_update_strategy=config.auth_token_update_strategy,
            protect=protect,
            tags=tags,
        )


# --- pure pieces -----------------------------------------------------------------------------------------


def cache_parameter_family(engine: Literal["redis", "valkey"], engine_version: str) -> str:
    """The parameter-group family of an engine version: ``redis 7.1`` -> ``redis7``, ``valkey 8.0`` ->
    ``valkey8``. Redis 6 shares ``redis6.x``; older Redis families carry the minor (``redis5.0``).

    Raises ValueError for a Redis before 7.0: the group requires in-transit encryption, which needs 7.
    """
    major, _ = major_minor(engine_version)
    if engine == "valkey":
        return f"valkey{major}"
    if major < 7:
        raise ValueError(
            f"Redis {engine_version} cannot require in-transit encryption (transit mode needs 7.0 or later)"
        )
    return f"redis{major}"


def cache_parameters(maxmemory_policy: str) -> list[dict[str, str]]:
    return [{"name": "maxmemory-policy", "value": maxmemory_policy}]


def auth_token_alphabet() -> str:
    """Every character a generated AUTH token may hold."""
    return string.ascii_letters + string.digits + AUTH_TOKEN_SPECIALS


def high_availability(nodes: int) -> bool:
    """Automatic failover and Multi-AZ need a replica to fail over to."""
    return nodes >= 2


def member_cluster(reported: Sequence[str] | None, group_id: str, index: int) -> str:
    """The ``index``-th node's cache cluster: as ElastiCache reports them, else as it names them
    (``<group>-001``, ``-002``...)."""
    members = sorted(reported or [])
    return members[index] if index < len(members) else f"{group_id}-{index + 1:03}"


def _member_at(reported: list[Any], index: int) -> str:
    return member_cluster(reported[0], reported[1], index)


def log_group_name(identifier: str, log_type: str) -> str:
    return f"/aws/elasticache/{identifier}/{log_type}"


# --- the component ----------------------------------------------------------------------------------------


class Cache(pulumi.ComponentResource):
    """A Redis or Valkey replication group (cluster mode off) in the database subnets.

    * at rest encrypted with its own rotating KMS key; in transit TLS is required, and clients present
      an AUTH token generated here, kept in Secrets Manager (encrypted with the same key) and a Pulumi
      secret everywhere else: it is never an output;
    * from two nodes on, a replica takes over automatically, in another AZ;
    * only the given security groups reach the port; slow and engine logs go to CloudWatch as JSON.
    """

    primary_endpoint: pulumi.Output[str]
    reader_endpoint: pulumi.Output[str]
    port: pulumi.Output[int | None]
    auth_token_secret_arn: pulumi.Output[str]
    member_clusters: list[pulumi.Output[str]]
    """Each node's cache cluster ID, primary or replica (the unit ElastiCache's node metrics are per)."""
    security_group_id: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Cache", name, None, opts)
        self._name = name
        self._tags = args.tags.layered({"Component": "cache"})

        key = customer_managed_key(
            self,
            f"{name}-kms",
            description=f"Encrypts ElastiCache replication group {args.identifier} and its AUTH token",
            alias=f"alias/elasticache/{args.identifier}",
            tags=self._tags,
            protect=args.protect,
            services=("elasticache", "secretsmanager"),
        )
        group = security_group_for_port(
            self,
            f"{name}-sg",
            vpc_id=args.vpc_id,
            port=args.port,
            sources=args.allowed_security_group_ids,
            # No engine in it: a description change replaces the group, and the engine may change.
            description=f"Clients of cache {args.identifier}",
            tags=self._tags,
        )
        parameter_group = aws.elasticache.ParameterGroup(
            f"{name}-params",
            family=cache_parameter_family(args.engine, args.engine_version),
            description=f"Parameters of {args.identifier}",
            parameters=[
                aws.elasticache.ParameterGroupParameterArgs(name=p["name"], value=p["value"])
                for p in cache_parameters(args.maxmemory_policy)
            ],
            tags=self._tags.for_resource(f"{name}-params"),
            opts=self._child(),
        )
        # A new version replaces the password, and with it the token the group and the secret hold.
        token = random.RandomPassword(
            f"{name}-auth-token",
            length=AUTH_TOKEN_LENGTH,
            special=True,
            override_special=AUTH_TOKEN_SPECIALS,
            keepers={"version": str(args.auth_token_version)},
            opts=self._child(),
        )
        # The engine makes the result secret (the provider lists it in additional_secret_outputs); marked
        # here as well, it stays secret without that engine too, as under the offline mocks.
        auth_token: pulumi.Output[str] = pulumi.Output.secret(token.result)
        secret = aws.secretsmanager.Secret(
            f"{name}-auth-token",
            description=f"AUTH token of {args.engine} replication group {args.identifier}",
            kms_key_id=key.arn,
            tags=self._tags.for_resource(f"{name}-auth-token"),
            opts=self._child(),
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-auth-token", secret_id=secret.id, secret_string=auth_token, opts=self._child()
        )
        log_groups = {
            log_type: aws.cloudwatch.LogGroup(
                f"{name}-{log_type}",
                name=log_group_name(args.identifier, log_type),
                retention_in_days=args.log_retention_days,
                kms_key_id=args.log_key_arn,
                tags=self._tags.for_resource(f"{name}-{log_type}"),
                opts=self._child(),
            )
            for log_type in LOG_TYPES
        }

        highly_available = high_availability(args.nodes)
        replication_group = aws.elasticache.ReplicationGroup(
            f"{name}-replication-group",
            replication_group_id=args.identifier,
            description=f"{args.engine} of {args.identifier}",
            engine=args.engine,
            engine_version=args.engine_version,
            node_type=args.node_type,
            num_cache_clusters=args.nodes,
            cluster_mode="disabled",
            port=args.port,
            parameter_group_name=parameter_group.name,
            subnet_group_name=args.subnet_group_name,
            security_group_ids=[group.id],
            automatic_failover_enabled=highly_available,
            multi_az_enabled=highly_available,
            at_rest_encryption_enabled=True,
            kms_key_id=key.arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            auth_token=auth_token,
            # The provider sends the token with this strategy whenever either changes: a new token under
            # ROTATE, then SET alone once clients use it (see the README's rotation).
            auth_token_update_strategy=args.auth_token_update_strategy,
            auto_minor_version_upgrade=True,
            snapshot_retention_limit=args.snapshot_retention_days,
            snapshot_window=args.snapshot_window,
            maintenance_window=args.maintenance_window,
            log_delivery_configurations=[
                aws.elasticache.ReplicationGroupLogDeliveryConfigurationArgs(
                    destination=log_group.name,
                    destination_type="cloudwatch-logs",
                    log_format="json",
                    log_type=log_type,
                )
                for log_type, log_group in log_groups.items()
            ],
            tags=self._tags.for_resource(args.identifier),
            opts=self._child(protect=args.protect),
        )

        self.primary_endpoint = replication_group.primary_endpoint_address
        self.reader_endpoint = replication_group.reader_endpoint_address
        self.port = replication_group.port
        reported = pulumi.Output.all(
            replication_group.member_clusters, replication_group.replication_group_id
        )
        self.member_clusters = [
            reported.apply(functools.partial(_member_at, index=index)) for index in range(args.nodes)
        ]
        self.auth_token_secret_arn = secret.arn
        self.security_group_id = group.id
        self.kms_key_arn = key.arn
        self.register_outputs(
            {
                "primaryEndpoint": self.primary_endpoint,
                "readerEndpoint": self.reader_endpoint,
                "port": self.port,
                "authTokenSecretArn": self.auth_token_secret_arn,
                "securityGroupId": self.security_group_id,
                "kmsKeyArn": self.kms_key_arn,
            }
        )

    def _child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)
