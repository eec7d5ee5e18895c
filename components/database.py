"""The platform's Aurora PostgreSQL cluster: encrypted, IAM-authenticated, reachable only from given SGs.

Also the pieces the cache shares with it (a customer-managed key, a security group open on one port
to named source groups, identifier rules), so the data tier builds them one way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.config import DatabaseConfig
from components.shared import (
    allowed_sources,
    customer_managed_key,
    major_minor,
    security_group_for_port,
    wiring_problems,
)
from components.tags import Tags

ENGINE = "aurora-postgresql"
PORT = 5432
LOG_EXPORTS = ("postgresql",)
ENHANCED_MONITORING_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
SERVERLESS_INSTANCE_CLASS = "db.serverless"

STATIC_PARAMETERS = frozenset({"shared_preload_libraries"})
"""Parameters PostgreSQL reads only at start: AWS refuses them with apply method ``immediate``."""


@dataclass(frozen=True)
class ServerlessCapacity:
    """An Aurora Serverless v2 capacity range."""

    min_acu: float
    """Fewest Aurora capacity units (ACUs, steps of 0.5; 0 lets an idle cluster pause). Required."""
    max_acu: float
    """Most Aurora capacity units (ACUs, steps of 0.5, up to 256). Required."""


@dataclass(frozen=True)
class DatabaseArgs:
    """Inputs of :class:`Database`. Defaults are production's."""

    identifier: str
    """Cluster identifier, unique in the account and region (so include the stack), lowercase letters,
    digits and '-', at most 63 characters. Instances are ``<identifier>-<n>``. Required."""
    vpc_id: pulumi.Input[str]
    """VPC of the subnet group; the security group is made in it. Required."""
    subnet_group_name: pulumi.Input[str]
    """DB subnet group spanning the database subnets; the instances spread over its AZs. Required."""
    allowed_security_group_ids: Mapping[str, pulumi.Input[str]]
    """Security groups allowed to reach port 5432, keyed by a stable name for each rule
    (e.g. ``{"nodes": node_sg.id}``), so removing one never renames another. At least one. Required."""
    engine_version: str = "16"
    """Aurora PostgreSQL version: the major (AWS picks the minor and, with ``auto_minor_version_upgrade``,
    moves it on), or MAJOR.MINOR to pin one. The parameter groups' family follows the major. Default 16."""
    auto_minor_version_upgrade: bool = True
    """Whether AWS applies minor versions (security patches) in the maintenance window. Default true."""
    instance_class: str = "db.r5.large"
    """Instance class of every instance; ignored when ``serverless`` is set. Default db.r5.large."""
    instances: int = 3
    """Writer plus readers (count, 1-16). Default 3."""
    serverless: ServerlessCapacity | None = None
    """Serverless v2 capacity; when set, the instances are db.serverless. Default none (provisioned)."""
    master_username: str = "postgres"
    """Master user; its password is generated and kept in Secrets Manager by RDS. Default postgres."""
    backup_retention_days: int = 30
    """Days automated backups are kept (1-35). Default 30."""
    backup_window: str = "03:00-04:00"
    """Daily backup window (hh:mm-hh:mm UTC). Default 03:00-04:00."""
    maintenance_window: str = "sun:04:00-sun:05:00"
    """Weekly maintenance window (ddd:hh:mm-ddd:hh:mm UTC). Default sun:04:00-sun:05:00."""
    performance_insights: bool = True
    """Whether Performance Insights is on (encrypted with the cluster's key). Default true."""
    performance_insights_retention_days: int = 7
    """Days Performance Insights keeps data (7, a multiple of 31 up to 713, or 731). Default 7."""
    monitoring_interval_seconds: int = 60
    """Enhanced Monitoring interval (seconds; 0 turns it off, and no role is made). Default 60."""
    deletion_protection: bool = True
    """Whether AWS refuses to delete the cluster. Default true."""
    skip_final_snapshot: bool = False
    """Whether deleting the cluster skips its final snapshot, ``<identifier>-final-<random>``: a name no
    earlier deletion of a cluster of the same identifier took. Default false."""
    apply_immediately: bool = False
    """Apply modifications now rather than in the maintenance window. Default false."""
    log_retention_days: int = 365
    """Days CloudWatch Logs keeps the exported PostgreSQL log (a CloudWatch retention value). Default 365."""
    log_key_arn: pulumi.Input[str] | None = None
    """KMS key of the PostgreSQL log group; its policy must let CloudWatch Logs use it. Default none
    (CloudWatch's own encryption): the platform always gives one."""
    log_min_duration_ms: int = 1000
    """Statements running at least this long are logged with their duration (milliseconds; -1 off).
    Default 1000."""
    protect: bool = True
    """Whether Pulumi refuses to delete the cluster, its instances and its key. Default true."""
    tags: Tags = field(default_factory=Tags)
    """Tags for every resource (``Name`` is added per resource). Default none."""

    def __post_init__(self) -> None:
        problems = wiring_problems(self.identifier, self.allowed_security_group_ids, max_length=63)
        if not 1 <= self.instances <= 16:
            problems.append(f"instances: must be 1-16, got {self.instances}")
        try:
            aurora_postgresql_family(self.engine_version)
        except ValueError as err:
            problems.append(f"engine_version: {err}")
        if self.auto_minor_version_upgrade and "." in self.engine_version:
            problems.append(
                f"engine_version: give the major only ({self.engine_version.split('.')[0]!r}) while AWS "
                "upgrades minors; a pinned minor would then read as a downgrade"
            )
        if problems:
            raise ValueError(f"DatabaseArgs for {self.identifier!r}: " + "; ".join(problems))

    @classmethod
    def from_config(
        cls,
        config: DatabaseConfig,
        *,
        identifier: str,
        vpc_id: pulumi.Input[str],
        subnet_group_name: pulumi.Input[str],
        node_security_group_id: pulumi.Input[str],
        protect: bool,
        tags: Tags,
        log_key_arn: pulumi.Input[str] | None = None,
    ) -> DatabaseArgs:
        """The Args of ``platform:database``: the cluster's nodes and the config's extra groups connect."""
        serverless = config.serverless
        return cls(
            identifier=identifier,
            vpc_id=vpc_id,
            subnet_group_name=subnet_group_name,
            allowed_security_group_ids=allowed_sources(
                node_security_group_id, config.allowed_security_group_ids
            ),
            engine_version=config.engine_version,
            auto_minor_version_upgrade=config.auto_minor_version_upgrade,
            instance_class=config.instance_class,
            instances=config.instances,
            serverless=(
                ServerlessCapacity(serverless.min_capacity, serverless.max_capacity) if serverless else None
            ),
            backup_retention_days=config.backup_retention_days,
            backup_window=config.backup_window,
            maintenance_window=config.maintenance_window,
            performance_insights=config.performance_insights,
            performance_insights_retention_days=config.performance_insights_retention_days,
            monitoring_interval_seconds=config.monitoring_interval_seconds,
            deletion_protection=config.deletion_protection,
            skip_final_snapshot=config.skip_final_snapshot,
            apply_immediately=config.apply_immediately,
            log_retention_days=config.log_retention_days,
            log_key_arn=log_key_arn,
            protect=protect,
            tags=tags,
        )


# --- pure pieces -----------------------------------------------------------------------------------------


def aurora_postgresql_family(engine_version: str) -> str:
    """The parameter-group family of an Aurora PostgreSQL version: ``16`` or ``16.6`` ->
    ``aurora-postgresql16``.

    Before PostgreSQL 10 the minor version was part of the major (``9.6`` -> ``aurora-postgresql9.6``),
    so those need it.
    """
    if engine_version.isdigit() and int(engine_version) >= 10:
        return f"{ENGINE}{engine_version}"
    major, minor = major_minor(engine_version)
    return f"{ENGINE}{major}" if major >= 10 else f"{ENGINE}{major}.{minor}"


def engine_version_drifts(configured: str, actual: str) -> bool:
    """Whether the provider reads AWS's ``actual`` version as a change from the ``configured`` one, which the
    next update then tries to undo: it keeps the configured version when the actual one only adds parts to
    it ("16" against "16.8"), and reports any other difference ("16.6" against "16.8", a downgrade AWS
    refuses). As terraform-provider-aws's ``compareActualEngineVersion`` decides it for
    ``aws_rds_cluster``."""
    return configured != actual and not actual.startswith(f"{configured}.")


class DbParameter(NamedTuple):
    name: str
    value: str
    apply_method: Literal["immediate", "pending-reboot"]


def apply_method(parameter: str) -> Literal["immediate", "pending-reboot"]:
    return "pending-reboot" if parameter in STATIC_PARAMETERS else "immediate"


def cluster_parameters(log_min_duration_ms: int) -> list[DbParameter]:
    """The cluster parameter group's settings: TLS only, query statistics, and the logging an incident needs
    (slow statements, lock waits, schema changes) without logging every statement."""
    values = {
        "rds.force_ssl": "1",
        "shared_preload_libraries": "pg_stat_statements",
        "log_min_duration_statement": str(log_min_duration_ms),
        "log_lock_waits": "1",
        "log_statement": "ddl",
    }
    return [DbParameter(name, value, apply_method(name)) for name, value in values.items()]


def monitoring_trust_policy(account_id: str) -> dict[str, Any]:
    """Only RDS Enhanced Monitoring, acting for this account, may assume the role (no confused deputy)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "monitoring.rds.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }


def postgresql_log_group_name(identifier: str) -> str:
    """Where RDS writes the exported ``postgresql`` log of cluster ``identifier``."""
    return f"/aws/rds/cluster/{identifier}/postgresql"


def final_snapshot_identifier(identifier: str, suffix: str) -> str:
    """The final snapshot's name: RDS refuses one a snapshot already has, as a second deletion of a cluster
    of the same identifier would give without the random ``suffix``."""
    return f"{identifier}-final-{suffix}"


# --- the component ----------------------------------------------------------------------------------------


class Database(pulumi.ComponentResource):
    """An Aurora PostgreSQL cluster in the database subnets.

    * storage, Performance Insights and the master user's secret are encrypted with the cluster's own
      rotating KMS key; RDS generates and keeps the master password in Secrets Manager, so it is never
      in config, state or outputs; applications sign in with IAM database authentication;
    * TLS is required (``rds.force_ssl``) and only the given security groups reach port 5432;
    * the ``postgresql`` log goes to a log group made here, with retention, before the cluster exists.

    The cluster's physical identifier is given, not generated: the final snapshot and the log group
    are named after it before the cluster exists.
    """

    cluster_identifier: pulumi.Output[str]
    cluster_arn: pulumi.Output[str]
    cluster_resource_id: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    reader_endpoint: pulumi.Output[str]
    port: pulumi.Output[int]
    master_user_secret_arn: pulumi.Output[str | None]
    security_group_id: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Database", name, None, opts)
        self._name = name
        self._args = args
        self._tags = args.tags.layered({"Component": "database"})
        family = aurora_postgresql_family(args.engine_version)

        key = customer_managed_key(
            self,
            f"{name}-kms",
            description=f"Encrypts Aurora cluster {args.identifier}: storage, Performance Insights, "
            "master user secret",
            alias=f"alias/rds/{args.identifier}",
            tags=self._tags,
            protect=args.protect,
            # RDS (storage, Performance Insights) and Secrets Manager (the master user's secret).
            services=("rds", "secretsmanager"),
        )
        group = security_group_for_port(
            self,
            f"{name}-sg",
            vpc_id=args.vpc_id,
            port=PORT,
            sources=args.allowed_security_group_ids,
            description=f"PostgreSQL clients of Aurora cluster {args.identifier}",
            tags=self._tags,
        )
        cluster_parameter_group = aws.rds.ClusterParameterGroup(
            f"{name}-cluster-params",
            family=family,
            description=f"Cluster parameters of {args.identifier}",
            parameters=[
                aws.rds.ClusterParameterGroupParameterArgs(
                    name=p.name, value=p.value, apply_method=p.apply_method
                )
                for p in cluster_parameters(args.log_min_duration_ms)
            ],
            tags=self._tags.for_resource(f"{name}-cluster-params"),
            opts=self._child(),
        )
        # Owned even while it sets nothing: tuning an instance later is then a parameter change, not a
        # switch of group, which reboots every instance.
        instance_parameter_group = aws.rds.ParameterGroup(
            f"{name}-instance-params",
            family=family,
            description=f"Instance parameters of {args.identifier}",
            tags=self._tags.for_resource(f"{name}-instance-params"),
            opts=self._child(),
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-postgresql",
            name=postgresql_log_group_name(args.identifier),
            retention_in_days=args.log_retention_days,
            kms_key_id=args.log_key_arn,
            tags=self._tags.for_resource(f"{name}-postgresql"),
            opts=self._child(),
        )

        serverless = args.serverless
        cluster = aws.rds.Cluster(
            f"{name}-cluster",
            cluster_identifier=args.identifier,
            engine=ENGINE,
            engine_mode="provisioned",
            engine_version=args.engine_version,
            # Security patches arrive without anyone. The configured major-only version stays in step
            # with the minor AWS moves to (engine_version_drifts).
            auto_minor_version_upgrade=args.auto_minor_version_upgrade,
            port=PORT,
            db_subnet_group_name=args.subnet_group_name,
            vpc_security_group_ids=[group.id],
            db_cluster_parameter_group_name=cluster_parameter_group.name,
            storage_encrypted=True,
            kms_key_id=key.arn,
            master_username=args.master_username,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=key.arn,
            iam_database_authentication_enabled=True,
            backup_retention_period=args.backup_retention_days,
            preferred_backup_window=args.backup_window,
            preferred_maintenance_window=args.maintenance_window,
            copy_tags_to_snapshot=True,
            skip_final_snapshot=args.skip_final_snapshot,
            final_snapshot_identifier=self._final_snapshot_identifier(),
            deletion_protection=args.deletion_protection,
            apply_immediately=args.apply_immediately,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            serverlessv2_scaling_configuration=(
                aws.rds.ClusterServerlessv2ScalingConfigurationArgs(
                    min_capacity=serverless.min_acu, max_capacity=serverless.max_acu
                )
                if serverless
                else None
            ),
            tags=self._tags.for_resource(args.identifier),
            # RDS would otherwise make the log group itself, without retention, and ours would then clash.
            opts=self._child(protect=args.protect, depends_on=[log_group]),
        )

        monitoring_role_arn, monitoring_ready = self._monitoring_role()
        for index in range(args.instances):
            identifier = f"{args.identifier}-{index}"
            aws.rds.ClusterInstance(
                f"{name}-{index}",
                identifier=identifier,
                cluster_identifier=cluster.id,
                # The instance's input is typed as the enum; it is sent as its value, the same as ENGINE.
                engine=aws.rds.EngineType.AURORA_POSTGRESQL,
                # No engine_version: an instance runs its cluster's, and is upgraded with it.
                instance_class=SERVERLESS_INSTANCE_CLASS if serverless else args.instance_class,
                auto_minor_version_upgrade=args.auto_minor_version_upgrade,
                db_subnet_group_name=args.subnet_group_name,
                db_parameter_group_name=instance_parameter_group.name,
                publicly_accessible=False,
                performance_insights_enabled=args.performance_insights,
                performance_insights_kms_key_id=key.arn if args.performance_insights else None,
                performance_insights_retention_period=(
                    args.performance_insights_retention_days if args.performance_insights else None
                ),
                monitoring_interval=args.monitoring_interval_seconds,
                monitoring_role_arn=monitoring_role_arn,
                copy_tags_to_snapshot=True,
                # Left unset, AWS would pick each instance a random weekly window for its own patches.
                preferred_maintenance_window=args.maintenance_window,
                apply_immediately=args.apply_immediately,
                tags=self._tags.for_resource(identifier),
                opts=self._child(protect=args.protect, depends_on=monitoring_ready),
            )

        self.cluster_identifier = cluster.cluster_identifier
        self.cluster_arn = cluster.arn
        self.cluster_resource_id = cluster.cluster_resource_id
        self.endpoint = cluster.endpoint
        self.reader_endpoint = cluster.reader_endpoint
        self.port = cluster.port
        # RDS reports the one secret it manages; only mocks that echo inputs report none.
        self.master_user_secret_arn = cluster.master_user_secrets.apply(
            lambda secrets: secrets[0].secret_arn if secrets else None
        )
        self.security_group_id = group.id
        self.kms_key_arn = key.arn
        self.register_outputs(
            {
                "clusterIdentifier": self.cluster_identifier,
                "clusterArn": self.cluster_arn,
                "clusterResourceId": self.cluster_resource_id,
                "endpoint": self.endpoint,
                "readerEndpoint": self.reader_endpoint,
                "port": self.port,
                "masterUserSecretArn": self.master_user_secret_arn,
                "securityGroupId": self.security_group_id,
                "kmsKeyArn": self.kms_key_arn,
            }
        )

    def _child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _final_snapshot_identifier(self) -> pulumi.Output[str] | None:
        if self._args.skip_final_snapshot:
            return None
        suffix = random.RandomId(
            f"{self._name}-final-snapshot",
            byte_length=4,
            keepers={"identifier": self._args.identifier},
            opts=self._child(),
        )
        identifier = self._args.identifier
        return suffix.hex.apply(lambda hex_suffix: final_snapshot_identifier(identifier, hex_suffix))

    def _monitoring_role(self) -> tuple[pulumi.Output[str] | None, list[pulumi.Resource]]:
        """The Enhanced Monitoring role's ARN and what must exist before an instance uses it; none if off."""
        if self._args.monitoring_interval_seconds == 0:
            return None, []
        name = f"{self._name}-monitoring"
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        role = aws.iam.Role(
            name,
            description=f"Lets RDS Enhanced Monitoring of {self._args.identifier} publish OS metrics",
            assume_role_policy=account_id.apply(lambda account: json.dumps(monitoring_trust_policy(account))),
            tags=self._tags.for_resource(name),
            opts=self._child(),
        )
        # RDS checks the role's permissions when the instance is made, so the policy is attached first.
        attachment = aws.iam.RolePolicyAttachment(
            name, role=role.name, policy_arn=ENHANCED_MONITORING_POLICY, opts=self._child()
        )
        return role.arn, [attachment]
