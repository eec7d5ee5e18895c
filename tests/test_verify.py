"""verify/: post-deploy checks, run against an account emulated by moto.

Each test builds with boto3, in moto, what `pulumi up` of a stack creates (as far as verify looks),
with the outputs `pulumi stack output --json` would print; it shows that every check passes, then
makes one kind of drift and shows which check fails. Where moto cannot emulate a state (a cluster
that is updating, a flow log whose delivery failed), the pure check runs on facts built directly.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
import yaml
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from typer.testing import CliRunner

from components.config import NodeGroupConfig, StackConfig
from components.subnets import TIERS, plan_subnets
from verify import facts, inputs
from verify.checks import Check, evaluate, ingress_checks, nat_gateway_check, node_group_checks
from verify.cli import app
from verify.inputs import InputError, load_config, parse_outputs

# Each test builds an account in moto for verify to read: `make test-fast` leaves the suite out.
pytestmark = pytest.mark.account

REGION = "us-east-1"
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]


# --- an account as `pulumi up` leaves it ----------------------------------------------------------------


@dataclass
class Account:
    """What build_account made: the stack's outputs and the IDs a test needs to make drift."""

    config: StackConfig
    outputs: dict[str, Any]
    node_sg: str
    database_sg: str
    cache_sg: str
    cache_groups: dict[str, tuple[str, ...]]
    """The security groups of each cache node, as the replication group was created with them."""

    @property
    def cluster_name(self) -> str:
        return self.config.cluster_name

    def node_group(self, key: str) -> str:
        return self.outputs["nodeGroupNames"][key]


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def key_arn(purpose: str) -> str:
    # verify reads only whether a key is set, so an ARN stands in for a key (moto makes RSA pairs for each).
    return f"arn:aws:kms:{REGION}:123456789012:key/{uuid.uuid5(uuid.NAMESPACE_URL, purpose)}"


def _call(base: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """A create call's parameters: the program's, with a test's overrides (None drops a parameter)."""
    return {key: value for key, value in {**base, **(overrides or {})}.items() if value is not None}


def build_account(
    session: Any,
    config: StackConfig,
    *,
    cluster: dict[str, Any] | None = None,
    database: dict[str, Any] | None = None,
    cache: dict[str, Any] | None = None,
) -> Account:
    """Create what the program creates for ``config`` (what verify reads of it), overridden per call."""
    ec2, iam = session.client("ec2"), session.client("iam")
    name, network = config.cluster_name, config.network
    zones = [zone["ZoneName"] for zone in ec2.describe_availability_zones()["AvailabilityZones"]]
    vpc = ec2.create_vpc(CidrBlock=network.cidr)["Vpc"]["VpcId"]
    # The tags the Network component gives each tier: EKS load-balancer discovery on public and private.
    tier_tags = {
        "public": {
            "Tier": "public",
            "kubernetes.io/role/elb": "1",
            f"kubernetes.io/cluster/{name}": "shared",
        },
        "private": {
            "Tier": "private",
            "kubernetes.io/role/internal-elb": "1",
            f"kubernetes.io/cluster/{name}": "shared",
        },
        "database": {"Tier": "database"},
    }
    subnets: dict[str, list[str]] = {tier: [] for tier in TIERS}
    for az in plan_subnets(network.cidr, network.az_count):
        for tier in TIERS:
            subnet = ec2.create_subnet(
                VpcId=vpc,
                CidrBlock=str(az.by_tier(tier)),
                AvailabilityZone=zones[az.index],
                TagSpecifications=[{"ResourceType": "subnet", "Tags": _tags(tier_tags[tier])}],
            )
            subnets[tier].append(subnet["Subnet"]["SubnetId"])
    nat_count = network.az_count if network.nat_gateways == "perAz" else 1
    nat_gateways = [
        ec2.create_nat_gateway(
            SubnetId=subnets["public"][index], AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"]
        )["NatGateway"]["NatGatewayId"]
        for index in range(nat_count)
    ]
    session.client("logs").create_log_group(logGroupName=f"{name}-flow-logs")
    flow_log_role = iam.create_role(RoleName=f"{name}-flow-logs", AssumeRolePolicyDocument="{}")
    ec2.create_flow_logs(
        ResourceIds=[vpc],
        ResourceType="VPC",
        TrafficType=network.flow_log_traffic_type,
        LogDestinationType="cloud-watch-logs",
        LogGroupName=f"{name}-flow-logs",
        DeliverLogsPermissionArn=flow_log_role["Role"]["Arn"],
        MaxAggregationInterval=60,
    )

    def group(role: str) -> str:
        return ec2.create_security_group(GroupName=f"{name}-{role}", Description=role, VpcId=vpc)["GroupId"]

    node_sg, cluster_sg, database_sg, cache_sg = (group(r) for r in ("node", "cluster", "database", "cache"))
    for target, port, extra in (
        (database_sg, 5432, config.database.allowed_security_group_ids),
        (cache_sg, config.cache.port, config.cache.allowed_security_group_ids),
    ):
        for source in (node_sg, *extra):
            ec2.authorize_security_group_ingress(
                GroupId=target,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": port,
                        "ToPort": port,
                        "UserIdGroupPairs": [{"GroupId": source}],
                    }
                ],
            )

    eks = session.client("eks")
    role_arn = iam.create_role(RoleName=f"{name}-cluster", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    vpc_config: dict[str, Any] = {
        "subnetIds": subnets["private"],
        "securityGroupIds": [cluster_sg],
        "endpointPrivateAccess": True,
        "endpointPublicAccess": config.cluster.endpoint_public_access,
    }
    if config.cluster.endpoint_public_access:
        vpc_config["publicAccessCidrs"] = config.cluster.public_access_cidrs
    created = eks.create_cluster(
        **_call(
            {
                "name": name,
                "version": config.cluster.version,
                "roleArn": role_arn,
                "resourcesVpcConfig": vpc_config,
                "logging": {"clusterLogging": [{"types": LOG_TYPES, "enabled": True}]},
                "encryptionConfig": [
                    {"resources": ["secrets"], "provider": {"keyArn": key_arn(f"{name}-eks")}}
                ],
            },
            cluster,
        )
    )["cluster"]
    node_group_names = {}
    for index, (key, spec) in enumerate(config.cluster.node_groups.items()):
        # Pulumi auto-names node groups: the logical name and a random suffix.
        node_group_names[key] = f"{name}-{key}-{index:07x}"
        eks.create_nodegroup(
            clusterName=name,
            nodegroupName=node_group_names[key],
            nodeRole=role_arn,
            subnets=subnets["private"],
            scalingConfig={
                "minSize": spec.min_size,
                "maxSize": spec.max_size,
                "desiredSize": spec.desired_size,
            },
            instanceTypes=spec.instance_types,
            capacityType=spec.capacity_type,
            labels=spec.labels,
            taints=[{"key": t.key, "value": t.value, "effect": t.effect} for t in spec.taints],
        )

    rds = session.client("rds")
    rds.create_db_subnet_group(
        DBSubnetGroupName=f"{name}-database", DBSubnetGroupDescription="d", SubnetIds=subnets["database"]
    )
    db = config.database
    aurora = rds.create_db_cluster(
        **_call(
            {
                "DBClusterIdentifier": name,
                "Engine": "aurora-postgresql",
                "EngineVersion": db.engine_version,
                "Port": 5432,
                "DBSubnetGroupName": f"{name}-database",
                "VpcSecurityGroupIds": [database_sg],
                "StorageEncrypted": True,
                "KmsKeyId": key_arn(f"{name}-database"),
                "MasterUsername": "postgres",
                "ManageMasterUserPassword": True,
                "EnableIAMDatabaseAuthentication": True,
                "BackupRetentionPeriod": db.backup_retention_days,
                "PreferredBackupWindow": db.backup_window,
                "PreferredMaintenanceWindow": db.maintenance_window,
                "DeletionProtection": db.deletion_protection,
            },
            database,
        )
    )["DBCluster"]
    for index in range(db.instances):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{name}-{index}",
            DBClusterIdentifier=name,
            Engine="aurora-postgresql",
            DBInstanceClass=db.instance_class,
        )

    elasticache = session.client("elasticache")
    elasticache.create_cache_subnet_group(
        CacheSubnetGroupName=f"{name}-cache", CacheSubnetGroupDescription="c", SubnetIds=subnets["database"]
    )
    redis = config.cache
    highly_available = redis.nodes >= 2
    replication_group = elasticache.create_replication_group(
        **_call(
            {
                "ReplicationGroupId": name,
                "ReplicationGroupDescription": f"{redis.engine} of {name}",
                "Engine": redis.engine,
                "EngineVersion": redis.engine_version,
                "CacheNodeType": redis.node_type,
                "NumCacheClusters": redis.nodes,
                # moto makes one node per replica plus the primary, whatever NumCacheClusters says.
                "ReplicasPerNodeGroup": redis.nodes - 1,
                "Port": redis.port,
                "CacheSubnetGroupName": f"{name}-cache",
                "SecurityGroupIds": [cache_sg],
                "AtRestEncryptionEnabled": True,
                "KmsKeyId": key_arn(f"{name}-cache"),
                "TransitEncryptionEnabled": True,
                "TransitEncryptionMode": "required",
                "AuthToken": "a" * 64,
                "AutomaticFailoverEnabled": highly_available,
                "MultiAZEnabled": highly_available,
                "SnapshotRetentionLimit": redis.snapshot_retention_days,
            },
            cache,
        )
    )["ReplicationGroup"]
    primary = replication_group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    outputs = {
        "region": REGION,
        "vpcId": vpc,
        "vpcCidr": network.cidr,
        "availabilityZones": zones[: network.az_count],
        "publicSubnetIds": subnets["public"],
        "privateSubnetIds": subnets["private"],
        "databaseSubnetIds": subnets["database"],
        "natGatewayIds": nat_gateways,
        "dbSubnetGroupName": f"{name}-database",
        "cacheSubnetGroupName": f"{name}-cache",
        "clusterName": name,
        "clusterEndpoint": created["endpoint"],
        "oidcIssuerUrl": created["identity"]["oidc"]["issuer"],
        "nodeSecurityGroupId": node_sg,
        "nodeGroupNames": node_group_names,
        "kubeconfig": "[secret]",
        "databaseEndpoint": aurora["Endpoint"],
        "databaseReaderEndpoint": aurora["ReaderEndpoint"],
        "databasePort": 5432,
        "databaseMasterUserSecretArn": "[secret]",
        "cacheEndpoint": primary,
        "cachePort": redis.port,
        "cacheAuthTokenSecretArn": f"arn:aws:secretsmanager:{REGION}:123456789012:secret:{name}-auth-token",
    }
    members = replication_group["MemberClusters"]
    return Account(config, outputs, node_sg, database_sg, cache_sg, {m: (cache_sg,) for m in members})


class SharedClients:
    """A boto3 session whose clients serve every test: moto's mock is process-wide, so a client made in one
    test's account works in the next one's, and making the same client again would cost most of a test."""

    def __init__(self) -> None:
        self._session = boto3.Session(botocore_session=botocore.session.get_session(), region_name=REGION)
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(service)
        return self._clients[service]


CLIENTS = SharedClients()


@pytest.fixture
def session() -> Iterator[Any]:
    with mock_aws():
        yield CLIENTS


Build = Callable[..., Account]


@pytest.fixture
def build(session: Any, monkeypatch: pytest.MonkeyPatch) -> Build:
    def make(stack: str | StackConfig, **overrides: dict[str, Any]) -> Account:
        config = load_config(stack) if isinstance(stack, str) else stack
        account = build_account(session, config, **overrides)
        # moto leaves SecurityGroups out of DescribeCacheClusters (and lists no replication group's nodes
        # there), so this one lookup answers with the groups the replication group was created with.
        # test_the_cache_s_security_groups_come_from_each_node covers the real lookup with botocore's Stubber.
        monkeypatch.setattr(
            facts, "cache_security_group_ids", lambda _client, member: account.cache_groups.get(member, ())
        )
        return account

    return make


def gathered(session: Any, account: Account) -> facts.AccountFacts:
    outputs = parse_outputs(account.outputs, source="outputs.json")
    return facts.gather(session, outputs, account.cluster_name)


def checks_of(
    account: Account, found: facts.AccountFacts, config: StackConfig | None = None
) -> dict[str, Check]:
    outputs = parse_outputs(account.outputs, source="outputs.json")
    checks = evaluate(config or account.config, outputs, found)
    by_name = {check.name: check for check in checks}
    assert len(by_name) == len(checks), "check names are unique"
    return by_name


def check_all(session: Any, account: Account, config: StackConfig | None = None) -> dict[str, Check]:
    return checks_of(account, gathered(session, account), config)


def failing(checks: dict[str, Check]) -> dict[str, str]:
    return {name: check.detail for name, check in checks.items() if not check.ok}


# --- a matching account ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", inputs.stack_names())
def test_an_account_that_matches_the_config_passes_every_check(session, build, stack):
    account = build(stack)
    checks = check_all(session, account)
    assert failing(checks) == {}
    groups = account.config.cluster.node_groups
    assert len([name for name in checks if name.startswith("node group ")]) == 6 * len(groups)
    for expected in (
        "vpc: flow logs",
        "vpc: NAT gateways",
        "subnets: tags",
        "cluster: control-plane logs",
        "database: deletion protection",
        "database: no other ingress",
        "cache: encryption in transit",
        "cache: ingress from the nodes",
    ):
        assert expected in checks
    nat_gateways = {"dev": 1, "staging": 3, "prod": 3}[stack]
    assert checks["vpc: NAT gateways"].detail.startswith(f"{nat_gateways} available")


# --- network drift --------------------------------------------------------------------------------------


def test_deleted_flow_logs_fail_the_flow_log_check_only(session, build):
    account = build("dev")
    ec2 = session.client("ec2")
    flow_logs = ec2.describe_flow_logs()["FlowLogs"]
    ec2.delete_flow_logs(FlowLogIds=[log["FlowLogId"] for log in flow_logs])
    assert failing(check_all(session, account)) == {
        "vpc: flow logs": (
            "no flow log on the VPC; want an ACTIVE one delivering ALL traffic to CloudWatch Logs"
        )
    }


def test_a_flow_log_of_only_rejected_traffic_does_not_count(session, build):
    account = build("dev")
    ec2 = session.client("ec2")
    (log,) = ec2.describe_flow_logs()["FlowLogs"]
    ec2.delete_flow_logs(FlowLogIds=[log["FlowLogId"]])
    ec2.create_flow_logs(
        ResourceIds=[account.outputs["vpcId"]],
        ResourceType="VPC",
        TrafficType="REJECT",
        LogDestinationType="cloud-watch-logs",
        LogGroupName=log["LogGroupName"],
        DeliverLogsPermissionArn=log["DeliverLogsPermissionArn"],
    )
    assert "REJECT traffic" in failing(check_all(session, account))["vpc: flow logs"]


def test_a_deleted_nat_gateway_fails_the_nat_check(session, build):
    account = build("prod")
    session.client("ec2").delete_nat_gateway(NatGatewayId=account.outputs["natGatewayIds"][2])
    assert failing(check_all(session, account)) == {
        "vpc: NAT gateways": (
            f"2 available ({', '.join(account.outputs['natGatewayIds'][:2])}) in 2 of the stack's AZs; "
            "want 3, one per AZ"
        )
    }


def test_nat_gateways_per_az_must_be_in_different_azs(session, build):
    account = build("prod")
    ec2 = session.client("ec2")
    ec2.delete_nat_gateway(NatGatewayId=account.outputs["natGatewayIds"][2])
    ec2.create_nat_gateway(
        SubnetId=account.outputs["publicSubnetIds"][0],
        AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"],
    )
    detail = failing(check_all(session, account))["vpc: NAT gateways"]
    assert detail.startswith("3 available") and "in 2 of the stack's AZs" in detail


def test_a_subnet_without_its_eks_discovery_tag_fails_the_tag_check(session, build):
    account = build("dev")
    subnet = account.outputs["privateSubnetIds"][1]
    session.client("ec2").delete_tags(Resources=[subnet], Tags=[{"Key": "kubernetes.io/role/internal-elb"}])
    assert failing(check_all(session, account)) == {
        "subnets: tags": f"{subnet} (private) lacks kubernetes.io/role/internal-elb=1"
    }


def test_a_missing_subnet_fails_the_layout_check(session, build):
    account = build("dev")
    account.outputs["databaseSubnetIds"][0] = "subnet-0123456789abcdef0"
    assert failing(check_all(session, account)) == {
        "subnets: layout": "database: subnet-0123456789abcdef0 not found"
    }


def test_a_vpc_that_is_gone_fails_its_status_check(session, build):
    account = build("dev")
    account.outputs["vpcId"] = "vpc-0123456789abcdef0"
    checks = check_all(session, account)
    assert checks["vpc: status"] == Check("vpc: status", False, "no VPC vpc-0123456789abcdef0")
    assert "vpc: CIDR" not in checks
    assert not checks["vpc: flow logs"].ok and not checks["vpc: NAT gateways"].ok


# --- cluster drift --------------------------------------------------------------------------------------


def test_control_plane_logs_turned_off_fail_the_log_check(session, build):
    account = build("dev")
    session.client("eks").update_cluster_config(
        name=account.cluster_name,
        logging={
            "clusterLogging": [
                {"types": ["api", "authenticator", "controllerManager"], "enabled": True},
                {"types": ["audit", "scheduler"], "enabled": False},
            ]
        },
    )
    assert failing(check_all(session, account)) == {
        "cluster: control-plane logs": "audit, scheduler not enabled"
    }


@pytest.mark.parametrize(
    ("overrides", "check", "detail"),
    [
        ({"version": "1.33"}, "cluster: version", "got 1.33, want 1.34"),
        ({"encryptionConfig": None}, "cluster: secrets encryption", "secrets are not KMS-encrypted"),
    ],
)
def test_a_cluster_unlike_its_config_fails_the_matching_check(session, build, overrides, check, detail):
    account = build("dev", cluster=overrides)
    assert failing(check_all(session, account)) == {check: detail}


def test_a_public_endpoint_where_the_config_has_none_fails(session, build):
    account = build("prod")
    session.client("eks").update_cluster_config(
        name=account.cluster_name,
        resourcesVpcConfig={
            "endpointPrivateAccess": True,
            "endpointPublicAccess": True,
            "publicAccessCidrs": ["0.0.0.0/0"],
        },
    )
    assert failing(check_all(session, account)) == {
        "cluster: endpoint access": "public endpoint on, want off"
    }


def test_a_public_endpoint_open_wider_than_configured_fails(session, build):
    account = build("dev")
    session.client("eks").update_cluster_config(
        name=account.cluster_name,
        resourcesVpcConfig={
            "endpointPrivateAccess": True,
            "endpointPublicAccess": True,
            "publicAccessCidrs": ["0.0.0.0/0", "203.0.113.0/24"],
        },
    )
    assert failing(check_all(session, account)) == {
        "cluster: endpoint access": "public endpoint open to 0.0.0.0/0, 203.0.113.0/24, want 203.0.113.0/24"
    }


def test_a_node_group_with_the_wrong_max_size_fails_its_size_check_only(session, build):
    account = build("prod")
    session.client("eks").update_nodegroup_config(
        clusterName=account.cluster_name,
        nodegroupName=account.node_group("agentWorkers"),
        scalingConfig={"minSize": 2, "maxSize": 80, "desiredSize": 5},
    )
    assert failing(check_all(session, account)) == {
        "node group agentWorkers: size limits": "got min 2, max 80, want min 2, max 50"
    }


def test_a_node_group_whose_labels_and_taints_changed_fails_those_checks(session, build):
    account = build("prod")
    session.client("eks").update_nodegroup_config(
        clusterName=account.cluster_name,
        nodegroupName=account.node_group("memoryIntensive"),
        labels={"addOrUpdateLabels": {"team": "data"}},
        taints={
            "removeTaints": [{"key": "workload-type", "value": "memory-intensive", "effect": "NO_SCHEDULE"}]
        },
    )
    assert failing(check_all(session, account)) == {
        "node group memoryIntensive: labels": "got team=data, want none",
        "node group memoryIntensive: taints": "got none, want workload-type=memory-intensive:NO_SCHEDULE",
    }


def test_a_deleted_node_group_fails_its_status_and_skips_its_other_checks(session, build):
    account = build("prod")
    session.client("eks").delete_nodegroup(
        clusterName=account.cluster_name, nodegroupName=account.node_group("general")
    )
    checks = check_all(session, account)
    assert failing(checks) == {
        "node group general: status": f"no node group {account.node_group('general')} in the cluster"
    }
    assert not [name for name in checks if name.startswith("node group general:") and "status" not in name]


def test_a_configured_node_group_the_outputs_do_not_name_fails(session, build):
    account = build("prod")
    del account.outputs["nodeGroupNames"]["agentWorkers"]
    assert failing(check_all(session, account)) == {
        "node group agentWorkers: status": "not in the stack's nodeGroupNames output"
    }


# --- data-tier drift ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "check", "detail"),
    [
        ({"DeletionProtection": False}, "database: deletion protection", "off, want on"),
        (
            {"BackupRetentionPeriod": 7},
            "database: backups",
            "got 7 days, 03:00-04:00, want 30 days, 03:00-04:00",
        ),
        (
            {"PreferredMaintenanceWindow": "sat:04:00-sat:05:00"},
            "database: maintenance window",
            "got sat:04:00-sat:05:00, want sun:04:00-sun:05:00",
        ),
    ],
)
def test_a_modified_database_fails_the_matching_check(session, build, change, check, detail):
    account = build("prod")
    session.client("rds").modify_db_cluster(
        DBClusterIdentifier=account.cluster_name, ApplyImmediately=True, **change
    )
    assert failing(check_all(session, account)) == {check: detail}


# Neither can be turned off in place (moto ignores a modify of IAM authentication too): the database is
# made without them.
@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        ({"StorageEncrypted": False, "KmsKeyId": None}, "database: storage encryption"),
        ({"EnableIAMDatabaseAuthentication": None}, "database: IAM authentication"),
    ],
)
def test_a_database_without_encryption_or_iam_authentication_fails_the_matching_check(
    session, build, overrides, check
):
    account = build("dev", database=overrides)
    assert failing(check_all(session, account)) == {check: "off, want on"}


def test_a_deleted_database_instance_fails_the_instance_check(session, build):
    account = build("staging")
    session.client("rds").delete_db_instance(DBInstanceIdentifier=f"{account.cluster_name}-1")
    assert failing(check_all(session, account)) == {"database: instances": "instances: 1, want 2"}


def test_a_database_instance_of_another_class_fails_the_instance_check(session, build):
    account = build("dev")
    session.client("rds").create_db_instance(
        DBInstanceIdentifier=f"{account.cluster_name}-1",
        DBClusterIdentifier=account.cluster_name,
        Engine="aurora-postgresql",
        DBInstanceClass="db.r5.large",
    )
    assert failing(check_all(session, account)) == {
        "database: instances": f"instances: 2, want 1; {account.cluster_name}-1 is available, db.r5.large"
    }


def test_a_missing_database_fails_its_status_and_skips_its_other_checks(session, build):
    account = build("dev")
    rds = session.client("rds")
    rds.delete_db_instance(DBInstanceIdentifier=f"{account.cluster_name}-0")
    rds.delete_db_cluster(DBClusterIdentifier=account.cluster_name, SkipFinalSnapshot=True)
    checks = check_all(session, account)
    assert failing(checks) == {"database: status": "no Aurora cluster platform-dev"}
    assert [name for name in checks if name.startswith("database:")] == ["database: status"]


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        ({"AtRestEncryptionEnabled": False, "KmsKeyId": None}, "cache: encryption at rest"),
        ({"TransitEncryptionEnabled": False, "TransitEncryptionMode": None, "AuthToken": None}, None),
        ({"AuthToken": None}, "cache: AUTH token"),
    ],
)
def test_a_cache_without_encryption_or_token_fails_the_matching_check(session, build, overrides, check):
    account = build("dev", cache=overrides)
    failed = failing(check_all(session, account))
    if check is None:
        # No TLS means no AUTH token either: ElastiCache takes a token only over TLS.
        assert failed == {"cache: encryption in transit": "off, want on", "cache: AUTH token": "off, want on"}
    else:
        assert failed == {check: "off, want on"}


def test_a_cache_that_requires_tls_says_so(session, build):
    checks = check_all(session, build("dev"))
    assert checks["cache: encryption in transit"] == Check(
        "cache: encryption in transit", True, "on, mode required"
    )


def test_a_cache_that_only_prefers_tls_fails_the_transit_check(session, build):
    # TLS stays "enabled" in preferred mode while plain-text clients connect too. moto ignores a
    # TransitEncryptionMode given to modify_replication_group, so the group is created in that mode.
    account = build("dev", cache={"TransitEncryptionMode": "preferred"})
    assert failing(check_all(session, account)) == {
        "cache: encryption in transit": "on, mode preferred, want required"
    }


def test_a_cache_whose_transit_mode_is_not_reported_fails(session, build):
    # Redis and Valkey 7+ (all the program creates) always report the mode; without it nothing says
    # that plain-text clients are refused. moto always reports it, so the fact is changed directly.
    account = build("dev")
    found = gathered(session, account)
    assert found.cache is not None and found.cache.transit_encryption_mode == "required"
    unreported = dataclasses.replace(found.cache, transit_encryption_mode=None)
    assert failing(checks_of(account, dataclasses.replace(found, cache=unreported))) == {
        "cache: encryption in transit": "on, mode not reported, want required"
    }


def test_a_cache_of_another_node_type_fails_the_node_check(session, build):
    account = build("dev")
    session.client("elasticache").modify_replication_group(
        ReplicationGroupId=account.cluster_name, CacheNodeType="cache.r6g.large", ApplyImmediately=True
    )
    assert failing(check_all(session, account)) == {
        "cache: nodes": "got 1 x cache.r6g.large, want 1 x cache.t4g.micro"
    }


def test_a_cache_with_fewer_nodes_fails_the_node_check(session, build):
    account = build("prod", cache={"NumCacheClusters": 2, "ReplicasPerNodeGroup": 1})
    assert failing(check_all(session, account)) == {
        "cache: nodes": "got 2 x cache.r6g.large, want 3 x cache.r6g.large"
    }


def test_a_cache_being_deleted_fails_its_status(session, build):
    account = build("dev")
    session.client("elasticache").delete_replication_group(ReplicationGroupId=account.cluster_name)
    assert failing(check_all(session, account))["cache: status"] == "got deleting, want available"


# --- who may reach the data tier ------------------------------------------------------------------------


def _tcp(port: int, **source: Any) -> dict[str, Any]:
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, **source}


# Each opening as a function of the nodes' security group ID, which exists only once the account does.
@pytest.mark.parametrize(
    "opening",
    [
        lambda nodes: (_tcp(5432, IpRanges=[{"CidrIp": "0.0.0.0/0"}]), "tcp 5432 from 0.0.0.0/0"),
        lambda nodes: (_tcp(5432, Ipv6Ranges=[{"CidrIpv6": "::/0"}]), "tcp 5432 from ::/0"),
        lambda nodes: (_tcp(22, UserIdGroupPairs=[{"GroupId": nodes}]), f"tcp 22 from {nodes}"),
        lambda nodes: (
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
            "all traffic from 10.0.0.0/8",
        ),
    ],
    ids=["internet", "internet-ipv6", "nodes-on-ssh", "all-traffic-from-the-vpc-range"],
)
def test_a_database_security_group_opened_further_fails_the_other_ingress_check(session, build, opening):
    account = build("dev")
    permission, shown = opening(account.node_sg)
    session.client("ec2").authorize_security_group_ingress(
        GroupId=account.database_sg, IpPermissions=[permission]
    )
    checks = check_all(session, account)
    assert failing(checks) == {"database: no other ingress": f"{account.database_sg} admits {shown}"}
    assert checks["database: ingress from the nodes"].ok


def test_a_cache_security_group_that_no_longer_admits_the_nodes_fails(session, build):
    account = build("dev")
    session.client("ec2").revoke_security_group_ingress(
        GroupId=account.cache_sg,
        IpPermissions=[_tcp(6379, UserIdGroupPairs=[{"GroupId": account.node_sg}])],
    )
    assert failing(check_all(session, account)) == {
        "cache: ingress from the nodes": f"{account.cache_sg}: no tcp 6379 from {account.node_sg}"
    }


def test_groups_the_config_allows_may_reach_the_data_tier_and_others_may_not(session, build):
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    bastion = ec2.create_security_group(GroupName="bastion", Description="b", VpcId=vpc)["GroupId"]
    dev = load_config("dev")
    allowed = dev.model_copy(
        update={"database": dev.database.model_copy(update={"allowed_security_group_ids": [bastion]})}
    )
    account = build(allowed)
    assert failing(check_all(session, account)) == {}
    assert failing(check_all(session, account, dev)) == {
        "database: no other ingress": f"{account.database_sg} admits tcp 5432 from {bastion}"
    }


# --- states moto does not emulate: the pure checks on facts built directly ------------------------------


# moto reports every cluster, node group, database instance and flow log as healthy; these states come
# from AWS only, so they are set on the facts of a matching account.
@pytest.mark.parametrize(
    ("field", "change", "check"),
    [
        ("cluster", {"status": "UPDATING"}, "cluster: status"),
        ("cache", {"status": "modifying"}, "cache: status"),
        ("database", {"status": "backing-up"}, "database: status"),
    ],
)
def test_a_resource_that_is_not_ready_fails_its_status(session, build, field, change, check):
    account = build("dev")
    found = gathered(session, account)
    drifted = dataclasses.replace(found, **{field: dataclasses.replace(getattr(found, field), **change)})
    assert list(failing(checks_of(account, drifted))) == [check]


def test_a_flow_log_whose_delivery_fails_does_not_count(session, build):
    account = build("dev")
    found = gathered(session, account)
    broken = [dataclasses.replace(log, delivery="FAILED") for log in found.flow_logs]
    failed = failing(checks_of(account, dataclasses.replace(found, flow_logs=broken)))
    assert list(failed) == ["vpc: flow logs"]
    assert "delivery FAILED" in failed["vpc: flow logs"]


def test_a_degraded_node_group_or_database_instance_fails(session, build):
    account = build("dev")
    found = gathered(session, account)
    degraded = dataclasses.replace(
        found,
        node_groups={
            key: dataclasses.replace(g, status="DEGRADED") for key, g in found.node_groups.items() if g
        },
        database_instances=[dataclasses.replace(i, status="failed") for i in found.database_instances],
    )
    assert failing(checks_of(account, degraded)) == {
        "node group general: status": f"{account.node_group('general')} is DEGRADED",
        "database: instances": "platform-dev-0 is failed",
    }


def test_a_private_endpoint_passes_although_eks_reports_0_0_0_0_for_the_unused_public_one(session, build):
    # Real EKS reports publicAccessCidrs 0.0.0.0/0 even with the public endpoint off; moto echoes the input.
    account = build("prod")
    found = gathered(session, account)
    assert found.cluster is not None
    reported = dataclasses.replace(found.cluster, public_access_cidrs=frozenset({"0.0.0.0/0"}))
    checks = checks_of(account, dataclasses.replace(found, cluster=reported))
    assert checks["cluster: endpoint access"] == Check("cluster: endpoint access", True, "private only")


# moto makes zonal NAT gateways only; a regional one (AvailabilityMode regional) has no subnet, and spans
# the AZs it has addresses in, or every AZ with subnets when AWS provisions its zones itself.
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
PUBLIC = [facts.SubnetFacts(f"subnet-{zone[-1]}", "vpc-1", zone, {}) for zone in ZONES]


def zonal(nat_id: str, zone: str, state: str = "available") -> facts.NatGatewayFacts:
    return facts.NatGatewayFacts(nat_id, state, f"subnet-{zone[-1]}")


def regional(nat_id: str, *zones: str, auto: bool = False) -> facts.NatGatewayFacts:
    return facts.NatGatewayFacts(
        nat_id, "available", None, regional=True, zones=frozenset(zones), auto_provision_zones=auto
    )


@pytest.mark.parametrize(
    ("stack", "gateways", "ok", "detail"),
    [
        pytest.param(
            "prod",
            [regional("nat-r", auto=True)],
            True,
            "1 available (nat-r regional) in 3 of the stack's AZs",
            id="one-regional-auto-provisioned-serves-every-az",
        ),
        pytest.param(
            "prod",
            [regional("nat-r", *ZONES)],
            True,
            "1 available (nat-r regional) in 3 of the stack's AZs",
            id="one-regional-with-an-address-in-each-az",
        ),
        pytest.param(
            "prod",
            [regional("nat-r", *ZONES[:2])],
            False,
            "1 available (nat-r regional) in 2 of the stack's AZs; want 3, one per AZ",
            id="regional-missing-an-az",
        ),
        pytest.param(
            "prod",
            [zonal("nat-a", ZONES[0]), regional("nat-r", auto=True)],
            False,
            "2 available (nat-a, nat-r regional) in 3 of the stack's AZs; "
            "us-east-1a served by 2; want 3, one per AZ",
            id="zonal-beside-regional-serves-an-az-twice",
        ),
        pytest.param(
            "prod",
            [
                *(zonal(f"nat-{z[-1]}", z) for z in ZONES),
                facts.NatGatewayFacts("nat-x", "available", "subnet-9"),
            ],
            False,
            "4 available (nat-a, nat-b, nat-c, nat-x) in 3 of the stack's AZs; "
            "nat-x serves none of them; want 3, one per AZ",
            id="a-gateway-outside-the-stack",
        ),
        pytest.param(
            "dev",
            [regional("nat-r", auto=True)],
            True,
            "1 available (nat-r regional) in 3 of the stack's AZs",
            id="single-may-be-regional",
        ),
        pytest.param(
            "dev",
            [regional("nat-r", auto=True), zonal("nat-b", ZONES[1], state="deleted")],
            True,
            "1 available (nat-r regional) in 3 of the stack's AZs",
            id="deleted-ones-do-not-count",
        ),
    ],
)
def test_regional_nat_gateways_serve_the_azs_they_span(stack, gateways, ok, detail):
    network = load_config(stack).network.model_copy(update={"az_count": 3})
    assert nat_gateway_check(network, gateways, PUBLIC) == Check("vpc: NAT gateways", ok, detail)


def test_all_traffic_from_the_nodes_admits_them_but_is_more_than_the_port():
    rule = facts.IngressRule("-1", None, None, "sg-0123456789abcdef0")
    group = facts.SecurityGroupFacts("sg-00000000000000000", (rule,))
    admits, others = ingress_checks("cache", 6379, [group], "sg-0123456789abcdef0", ())
    assert admits.ok
    assert others == Check(
        "cache: no other ingress", False, "sg-00000000000000000 admits all traffic from sg-0123456789abcdef0"
    )


def test_a_data_store_without_security_groups_is_not_reachable_from_the_nodes():
    admits, _ = ingress_checks("database", 5432, [], "sg-0123456789abcdef0", ())
    assert admits == Check(
        "database: ingress from the nodes",
        False,
        "no security group found: no tcp 5432 from sg-0123456789abcdef0",
    )


def test_a_taint_without_a_value_matches_a_configured_empty_one(session, build):
    account = build("dev")
    eks = session.client("eks")
    eks.create_nodegroup(
        clusterName=account.cluster_name,
        nodegroupName="bare",
        nodeRole="arn:aws:iam::123456789012:role/nodes",
        subnets=account.outputs["privateSubnetIds"],
        instanceTypes=["t3.large"],
        scalingConfig={"minSize": 0, "maxSize": 1, "desiredSize": 0},
        taints=[{"key": "dedicated", "effect": "NO_EXECUTE"}],
    )
    group = facts.node_group_facts(eks, account.cluster_name, "bare")
    assert group is not None
    config = NodeGroupConfig.model_validate(
        {
            "instanceTypes": ["t3.large"],
            "minSize": 0,
            "maxSize": 1,
            "desiredSize": 0,
            "taints": [{"key": "dedicated", "effect": "NO_EXECUTE"}],
        }
    )
    assert [c for c in node_group_checks("bare", config, "bare", group) if not c.ok] == []


# --- the lookups' boundary with AWS ---------------------------------------------------------------------


def test_the_cache_s_security_groups_come_from_each_node():
    elasticache = boto3.client(
        "elasticache", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(elasticache) as stub:
        stub.add_response(
            "describe_cache_clusters",
            {
                "CacheClusters": [
                    {
                        "CacheClusterId": "platform-prod-001",
                        "SecurityGroups": [{"SecurityGroupId": "sg-0123456789abcdef0", "Status": "active"}],
                    }
                ]
            },
            {"CacheClusterId": "platform-prod-001"},
        )
        stub.add_client_error("describe_cache_clusters", "CacheClusterNotFound", http_status_code=404)
        assert facts.cache_security_group_ids(elasticache, "platform-prod-001") == ("sg-0123456789abcdef0",)
        assert facts.cache_security_group_ids(elasticache, "platform-prod-009") == ()


def test_a_regional_nat_gateway_without_a_subnet_is_read():
    ec2 = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(ec2) as stub:
        stub.add_response(
            "describe_nat_gateways",
            {
                "NatGateways": [
                    {"NatGatewayId": "nat-a", "State": "available", "SubnetId": "subnet-a", "VpcId": "vpc-1"},
                    {
                        "NatGatewayId": "nat-r",
                        "State": "available",
                        "VpcId": "vpc-1",
                        "AvailabilityMode": "regional",
                        "AutoProvisionZones": "disabled",
                        "NatGatewayAddresses": [
                            {"PublicIp": "203.0.113.1", "AvailabilityZone": "us-east-1a"},
                            {"PublicIp": "203.0.113.2", "AvailabilityZone": "us-east-1b"},
                        ],
                    },
                ]
            },
            {"Filters": [{"Name": "vpc-id", "Values": ["vpc-1"]}]},
        )
        assert facts.nat_gateway_facts(ec2, "vpc-1") == [
            facts.NatGatewayFacts("nat-a", "available", "subnet-a"),
            facts.NatGatewayFacts(
                "nat-r", "available", None, regional=True, zones=frozenset({"us-east-1a", "us-east-1b"})
            ),
        ]


def test_an_aws_error_other_than_not_found_reaches_the_caller():
    eks = boto3.client("eks", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(eks) as stub:
        stub.add_client_error("describe_cluster", "AccessDeniedException", http_status_code=403)
        with pytest.raises(ClientError, match="AccessDeniedException"):
            facts.cluster_facts(eks, "platform-prod")


# --- inputs ---------------------------------------------------------------------------------------------


def test_outputs_name_every_missing_or_ill_typed_key_at_once():
    with pytest.raises(InputError) as raised:
        parse_outputs({"vpcId": 7, "kubeconfig": "[secret]"}, source="outputs.json")
    message = str(raised.value)
    assert message.startswith("outputs.json: 8 unusable stack output(s):")
    assert "\n  vpcId: Input should be a valid string" in message
    assert "\n  cacheEndpoint: is missing" in message
    assert "kubeconfig" not in message


# --- the command ----------------------------------------------------------------------------------------


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "220"})


def write_outputs(tmp_path: Path, outputs: dict[str, Any]) -> str:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    return str(path)


def test_the_command_prints_a_table_and_exits_0_when_everything_passes(session, build, tmp_path):
    account = build("dev")
    result = invoke("check", "--stack", "dev", "--outputs", write_outputs(tmp_path, account.outputs))
    assert result.exit_code == 0, result.output
    assert "Stack dev in us-east-1" in result.output
    assert "vpc: flow logs" in result.output and "FAIL" not in result.output
    assert f"all {len(check_all(session, account))} checks passed" in result.output


def test_the_command_exits_1_and_names_the_failed_check_when_the_account_drifted(session, build, tmp_path):
    account = build("prod")
    session.client("rds").modify_db_cluster(
        DBClusterIdentifier=account.cluster_name, DeletionProtection=False, ApplyImmediately=True
    )
    result = invoke(
        "check", "--stack", "prod", "--outputs", write_outputs(tmp_path, account.outputs), "--json"
    )
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert (document["stack"], document["region"], document["ok"]) == ("prod", REGION, False)
    assert [c["name"] for c in document["checks"] if not c["ok"]] == ["database: deletion protection"]


def test_the_region_option_wins_over_the_outputs_region(session, build, tmp_path):
    account = build("dev")
    result = invoke(
        "check",
        "--stack",
        "dev",
        "--outputs",
        write_outputs(tmp_path, account.outputs),
        "--region",
        "eu-west-1",
        "--json",
    )
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["region"] == "eu-west-1"
    assert {"name": "vpc: status", "ok": False, "detail": f"no VPC {account.outputs['vpcId']}"} in document[
        "checks"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["check", "--stack", "qa", "--outputs", "{outputs}"],
            "unknown stack 'qa': no Pulumi.qa.yaml; the stacks are dev, prod, staging",
        ),
        (["check", "--stack", "dev", "--outputs", "{missing}"], "cannot read the outputs file"),
        (["check", "--stack", "dev", "--outputs", "{not_json}"], "is not JSON"),
        (["check", "--stack", "dev", "--outputs", "{incomplete}"], "unusable stack output(s):"),
    ],
)
def test_the_command_exits_2_with_a_message_on_bad_input(tmp_path, args, message):
    files = {
        "outputs": tmp_path / "outputs.json",
        "missing": tmp_path / "nowhere.json",
        "not_json": tmp_path / "text.json",
        "incomplete": tmp_path / "incomplete.json",
    }
    files["outputs"].write_text("{}")
    files["not_json"].write_text("Current stack outputs (3):")
    files["incomplete"].write_text(json.dumps({"vpcId": "vpc-0123456789abcdef0"}))
    result = invoke(*(arg.format(**{k: str(v) for k, v in files.items()}) for arg in args))
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_the_command_exits_2_with_every_config_error_of_the_stack(tmp_path, monkeypatch):
    (tmp_path / "Pulumi.broken.yaml").write_text(
        "config:\n  platform:network: {azCount: 9, natGateway: single}\n"
    )
    monkeypatch.setattr(inputs, "PROJECT_DIR", tmp_path)
    result = invoke("check", "--stack", "broken", "--outputs", write_outputs(tmp_path, {}))
    assert result.exit_code == 2
    assert "3 configuration error(s) in stack 'broken':" in result.stderr
    assert "platform:network.azCount: must be at most 6, got 9" in result.stderr
    assert "platform:deploy.roleArn: is required" in result.stderr
    assert "Traceback" not in result.output


def test_the_command_exits_2_when_aws_refuses_to_answer(session, build, tmp_path, monkeypatch):
    account = build("dev")

    def denied(_ec2: Any, _vpc_id: str) -> None:
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DescribeVpcs")

    monkeypatch.setattr(facts, "vpc_facts", denied)
    result = invoke("check", "--stack", "dev", "--outputs", write_outputs(tmp_path, account.outputs))
    assert result.exit_code == 2
    assert "cannot read the account: An error occurred (UnauthorizedOperation)" in result.stderr


# --- the deploy workflow --------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_each_deploy_job_verifies_its_own_stack_right_after_pulumi_up(stack):
    workflow = yaml.safe_load((inputs.PROJECT_DIR / ".github" / "workflows" / "deploy.yml").read_text())
    steps = workflow["jobs"][stack]["steps"]
    (up,) = [i for i, step in enumerate(steps) if step.get("uses") == "./.github/actions/pulumi"]
    verify = steps[up + 1]
    assert "if" not in verify, "verify runs only once the up step succeeded"
    assert verify["run"].splitlines() == [
        f"pulumi stack output --stack {stack} --json > outputs.json",
        f".venv/bin/python -m verify check --stack {stack} --outputs outputs.json",
    ]
