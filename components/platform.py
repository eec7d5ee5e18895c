"""The whole platform of one stack, composed from its components."""

from __future__ import annotations

from typing import TypedDict, cast

import pulumi
import pulumi_aws as aws

from components.addons import Addons, AddonsArgs
from components.addons.alarms import Watched
from components.addons.tracing import collector_provider
from components.backup import Backup, BackupArgs
from components.baseline import Baseline, BaselineArgs, DataCredentials
from components.cache import Cache, CacheArgs
from components.cluster import Cluster, ClusterArgs, NodeGroupSpec, Taint
from components.config import NodeGroupConfig, StackConfig, velero_namespaces
from components.database import Database, DatabaseArgs
from components.mesh import ExternalService, Mesh, MeshArgs
from components.network import Network, NetworkArgs
from components.runner import DeployRunner, RunnerArgs
from components.shared import customer_managed_key
from components.tags import Tags, stack_tags


class DataTierArgs(TypedDict):
    """What the database and the cache are both given: where they live and who may connect."""

    identifier: str
    vpc_id: pulumi.Input[str]
    node_security_group_id: pulumi.Input[str]
    protect: bool
    tags: Tags
    log_key_arn: pulumi.Input[str]


def node_group_spec(config: NodeGroupConfig) -> NodeGroupSpec:
    return NodeGroupSpec(
        instance_types=tuple(config.instance_types),
        min_size=config.min_size,
        max_size=config.max_size,
        desired_size=config.desired_size,
        capacity_type=config.capacity_type,
        disk_size_gib=config.disk_size_gib,
        max_unavailable_percentage=config.max_unavailable_percentage,
        labels=dict(config.labels),
        taints=tuple(Taint(t.key, t.value, t.effect) for t in config.taints),
        ami_type=config.ami_type,
    )


class Platform(pulumi.ComponentResource):
    """Every component of the stack, wired together from the typed stack config.

    Components never read ``pulumi.Config``: this is where config becomes their Args, and where
    one component's outputs (subnets, the node security group) become another's inputs.
    """

    network: Network
    cluster: Cluster
    database: Database
    cache: Cache
    baseline: Baseline
    mesh: Mesh
    backup: Backup | None
    runner: DeployRunner | None
    addons: Addons
    log_key: aws.kms.Key

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Platform", name, None, opts)
        tags = stack_tags(config.tags, project=config.project, stack=config.stack)
        child = pulumi.ResourceOptions(parent=self)
        # One key for every log group of the stack, which CloudWatch Logs alone uses; kept with the logs.
        self.log_key = customer_managed_key(
            self,
            f"{name}-logs",
            description=f"Encrypts the CloudWatch log groups of {config.cluster_name}",
            alias=f"alias/{config.cluster_name}-logs",
            tags=tags.layered({"Component": "platform"}),
            protect=config.is_prod,
            log_groups=True,
        )
        log_key_arn = self.log_key.arn

        self.network = Network(
            f"{name}-network",
            NetworkArgs(
                cluster_name=config.cluster_name,
                cidr=config.network.cidr,
                az_count=config.network.az_count,
                nat_gateways=config.network.nat_gateways,
                flow_log_retention_days=config.network.flow_log_retention_days,
                flow_log_traffic_type=config.network.flow_log_traffic_type,
                interface_endpoints=tuple(config.network.interface_endpoints),
                log_key_arn=log_key_arn,
                tags=tags,
            ),
            opts=child,
        )
        deploy = config.deploy
        if deploy is None:
            raise ValueError("Platform: the config has no platform:deploy (load_stack_config refuses that)")
        self.runner = (
            DeployRunner(
                f"{name}-runner",
                RunnerArgs.from_config(
                    deploy.runner,
                    project_name=f"{config.cluster_name}-deploy-runner",
                    vpc_id=self.network.vpc_id,
                    subnet_ids=self.network.private_subnet_ids,
                    log_key_arn=log_key_arn,
                    tags=tags,
                ),
                opts=child,
            )
            if deploy.runner.enabled
            else None
        )
        cluster = config.cluster
        self.cluster = Cluster(
            f"{name}-cluster",
            ClusterArgs(
                cluster_name=config.cluster_name,
                vpc_id=self.network.vpc_id,
                private_subnet_ids=self.network.private_subnet_ids,
                node_groups={key: node_group_spec(group) for key, group in cluster.node_groups.items()},
                version=cluster.version,
                endpoint_public_access=cluster.endpoint_public_access,
                public_access_cidrs=tuple(cluster.public_access_cidrs),
                deploy_role_arn=deploy.role_arn,
                admin_role_arns=tuple(cluster.admin_role_arns),
                viewer_role_arns=tuple(arn for arn in (deploy.preview_role_arn,) if arn),
                api_access_security_groups=(
                    {"deploy-runner": self.runner.security_group_id} if self.runner else {}
                ),
                addon_versions={addon: version for addon, version in cluster.addon_versions.items()},
                log_retention_days=cluster.log_retention_days,
                log_key_arn=log_key_arn,
                protect=config.is_prod,
                tags=tags,
            ),
            opts=child,
        )
        # The data tier admits the cluster's nodes by their security group: nobody wires SGs by hand.
        data_tier: DataTierArgs = {
            "identifier": config.cluster_name,
            "vpc_id": self.network.vpc_id,
            "node_security_group_id": self.cluster.node_security_group_id,
            "protect": config.is_prod,
            "tags": tags,
            "log_key_arn": log_key_arn,
        }
        self.database = Database(
            f"{name}-database",
            DatabaseArgs.from_config(
                config.database, subnet_group_name=self.network.db_subnet_group_name, **data_tier
            ),
            opts=child,
        )
        self.cache = Cache(
            f"{name}-cache",
            CacheArgs.from_config(
                config.cache, subnet_group_name=self.network.cache_subnet_group_name, **data_tier
            ),
            opts=child,
        )
        self.baseline = Baseline(
            f"{name}-baseline",
            BaselineArgs.from_config(
                config,
                provider=self.cluster.provider,
                cluster_name=self.cluster.cluster_name,
                connection_data=self.connection_data(),
                credentials=DataCredentials(
                    secret_arns=(
                        cast("pulumi.Output[str]", self.database.master_user_secret_arn),
                        self.cache.auth_token_secret_arn,
                    ),
                    key_arns=(self.database.kms_key_arn, self.cache.kms_key_arn),
                ),
                database_cidrs=self.network.subnet_cidrs["database"],
                endpoint_cidrs=self.network.endpoint_cidrs,
                # The autoscaler's pods need nodes to run on before its install can finish.
                depends_on=self.cluster.workloads_ready,
                tags=tags,
            ),
            opts=child,
        )
        # After the baseline: routes and budgets go into the namespaces it creates.
        self.mesh = Mesh(
            f"{name}-mesh",
            MeshArgs.from_config(
                config.mesh,
                provider=self.cluster.provider,
                namespaces=self.baseline.namespace_names,
                depends_on=self.cluster.workloads_ready,
                external_services={
                    "database": ExternalService(
                        (self.database.endpoint, self.database.reader_endpoint), self.database.port
                    ),
                    # ElastiCache always reports the port; only mocks that echo inputs could leave it None.
                    "cache": ExternalService(
                        (self.cache.primary_endpoint, self.cache.reader_endpoint),
                        cast("pulumi.Output[int]", self.cache.port),
                    ),
                },
                # istiod declares the span collector to every proxy; the Telemetry resource turns it on.
                tracing=collector_provider() if config.addons.tracing.enabled else None,
            ),
            opts=child,
        )
        self.backup = (
            Backup(
                f"{name}-backup",
                BackupArgs.from_config(
                    config.backup,
                    identifier=config.cluster_name,
                    resource_arns=[self.database.cluster_arn],
                    protect=config.is_prod,
                    tags=tags,
                ),
                opts=child,
            )
            if config.backup.enabled
            else None
        )
        self.addons = Addons(
            f"{name}-addons",
            AddonsArgs(
                config=config.addons,
                stack=config.stack,
                is_prod=config.is_prod,
                cluster_name=self.cluster.cluster_name,
                identifier=config.cluster_name,
                provider=self.cluster.provider,
                log_key_arn=log_key_arn,
                namespaces=tuple(config.namespaces),
                depends_on=self.cluster.workloads_ready,
                tags=tags,
                created_namespaces=self.baseline.namespace_names,
                istio_version=config.mesh.istio_version,
                mesh_ready=self.mesh.ready,
                cluster_autoscaler=config.baseline.cluster_autoscaler.enabled,
                watched=Watched.of_platform(
                    config,
                    database=self.database,
                    cache=self.cache,
                    network=self.network,
                    cluster=self.cluster,
                ),
                backed_up_namespaces=velero_namespaces(config),
                mesh=config.mesh,
                mesh_resources=(self.mesh,),
            ),
            opts=child,
        )
        self.register_outputs(
            {
                "vpcId": self.network.vpc_id,
                "clusterName": self.cluster.cluster_name,
                "databaseEndpoint": self.database.endpoint,
                "cacheEndpoint": self.cache.primary_endpoint,
            }
        )

    def connection_data(self) -> dict[str, pulumi.Input[str]]:
        """Where applications find the data tier: endpoints, ports and the ARNs of secrets, never a secret."""
        return {
            "DATABASE_HOST": self.database.endpoint,
            "DATABASE_READER_HOST": self.database.reader_endpoint,
            "DATABASE_PORT": self.database.port.apply(str),
            # RDS always reports the secret it manages; only mocks that echo inputs leave it None.
            "DATABASE_SECRET_ARN": cast("pulumi.Output[str]", self.database.master_user_secret_arn),
            "CACHE_HOST": self.cache.primary_endpoint,
            "CACHE_READER_HOST": self.cache.reader_endpoint,
            "CACHE_PORT": self.cache.port.apply(str),
            "CACHE_AUTH_TOKEN_SECRET_ARN": self.cache.auth_token_secret_arn,
            "CACHE_TLS": "true",
        }
