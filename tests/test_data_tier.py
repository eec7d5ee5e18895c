"""The data tier (Aurora and ElastiCache) as the engine would see it, in the emulated account.

``tier_plan`` runs a small program (a Network, a security group standing in for the EKS nodes', the
Database and the Cache, built from a stack file) until the Platform wires them in. The tests here
span both components: secrets, security groups, protection and the golden snapshot of what would
replace the stateful resources.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from pulumi.runtime import stack as pulumi_stack
from pulumi.runtime.sync_await import _sync_await

from components.cache import Cache, CacheArgs
from components.config import StackConfig
from components.database import Database, DatabaseArgs
from components.network import Network, NetworkArgs
from components.tags import stack_tags
from offline.emulation import emulated_types
from offline.runner import Plan, RecordedResource, Secret, mocked_stack, validate
from tests.conftest import raw_stack_config
from tests.golden import assert_matches_golden

CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
KMS_KEY = "aws:kms/key:Key"
NODES = "nodes"
"""The security group standing in for the EKS nodes'."""
EXTRA_SG = "sg-0123456789abcdef0"

DATABASE_OUTPUTS = (
    "cluster_identifier",
    "cluster_resource_id",
    "endpoint",
    "reader_endpoint",
    "port",
    "master_user_secret_arn",
    "security_group_id",
    "kms_key_arn",
)
CACHE_OUTPUTS = (
    "primary_endpoint",
    "reader_endpoint",
    "port",
    "auth_token_secret_arn",
    "security_group_id",
    "kms_key_arn",
)

# --- the program and its runs -------------------------------------------------------------------------


def data_tier_program(config: StackConfig) -> None:
    tags = stack_tags(config.tags, project=config.project, stack=config.stack)
    network = Network(
        "network",
        NetworkArgs(
            cluster_name=config.cluster_name,
            cidr=config.network.cidr,
            az_count=config.network.az_count,
            nat_gateways=config.network.nat_gateways,
            tags=tags,
        ),
    )
    nodes = aws.ec2.SecurityGroup(NODES, vpc_id=network.vpc_id, description="Stands in for the EKS nodes")
    common: dict[str, Any] = {
        "identifier": f"{config.project}-{config.stack}",
        "vpc_id": network.vpc_id,
        "node_security_group_id": nodes.id,
        "protect": config.is_prod,
        "tags": tags,
    }
    database = Database(
        "database",
        DatabaseArgs.from_config(config.database, subnet_group_name=network.db_subnet_group_name, **common),
    )
    cache = Cache(
        "cache",
        CacheArgs.from_config(config.cache, subnet_group_name=network.cache_subnet_group_name, **common),
    )
    pulumi.export("database", {name: getattr(database, name) for name in DATABASE_OUTPUTS})
    pulumi.export("cache", {name: getattr(cache, name) for name in CACHE_OUTPUTS})


@dataclass
class TierPlan(Plan):
    ids: Mapping[str, str] = field(default_factory=dict)
    """URN -> the ID the mocks gave the resource (echo mocks leave it out of the state)."""

    def id_of(self, resource: RecordedResource) -> str:
        return self.ids[resource.urn]


def run_data_tier(raw_config: Mapping[str, str], stack: str, *, emulate: bool = True) -> TierPlan:
    config = validate(raw_config, stack)
    with mocked_stack(raw_config, stack, emulate=emulate) as monitor:
        _sync_await(pulumi_stack.run_in_stack(lambda: data_tier_program(config)))
    resources = sorted(monitor.recorded, key=lambda r: r.urn)
    ids = {urn: registration.id for urn, registration in monitor.resources.items()}
    return TierPlan(stack, config, resources, monitor.stack_outputs, ids)


@functools.cache
def tier_plan(stack: str) -> TierPlan:
    return run_data_tier(raw_stack_config(stack), stack)


def with_section(raw: Mapping[str, str], section: str, **changes: Any) -> dict[str, str]:
    """A copy of ``raw`` (engine form) with ``changes`` merged into ``platform:<section>``."""
    key = f"platform:{section}"
    return {**raw, key: json.dumps({**json.loads(raw.get(key, "{}")), **changes})}


# --- secrets ----------------------------------------------------------------------------------------------


def plaintext_paths(value: Any, needle: str, path: str = "") -> Iterator[str]:
    """Where ``needle`` occurs in ``value`` outside a Secret."""
    if isinstance(value, Secret):
        return
    if isinstance(value, str) and needle in value:
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from plaintext_paths(item, needle, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from plaintext_paths(item, needle, f"{path}[{index}]")


def secrets_holding(value: Any, needle: str) -> int:
    if isinstance(value, Secret):
        return int(needle in json.dumps(value.value))
    if isinstance(value, dict):
        return sum(secrets_holding(item, needle) for item in value.values())
    if isinstance(value, list):
        return sum(secrets_holding(item, needle) for item in value)
    return 0


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_auth_token_is_a_secret_wherever_it_appears(stack):
    plan = tier_plan(stack)
    token = plan.one(RANDOM_PASSWORD).state["result"]
    assert len(token) >= 32
    recorded = {r.urn: r.inputs for r in plan.resources} | {"stack outputs": plan.outputs}
    leaks = [f"{where}{path}" for where, value in recorded.items() for path in plaintext_paths(value, token)]
    assert leaks == []
    # Not vacuous: the token reaches both the replication group and its Secrets Manager secret.
    holders = {r.type for r in plan.resources if secrets_holding(r.inputs, token)}
    assert holders == {REPLICATION_GROUP, "aws:secretsmanager/secretVersion:SecretVersion"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_password_input_is_plaintext(stack):
    plan = tier_plan(stack)
    cluster = plan.one(CLUSTER)
    assert cluster.inputs["manageMasterUserPassword"] is True
    assert "masterPassword" not in cluster.inputs
    credential_words = ("password", "authtoken", "secretstring")
    for resource in plan.resources:
        for key, value in resource.inputs.items():
            if any(word in key.lower() for word in credential_words) and key != "manageMasterUserPassword":
                assert isinstance(value, Secret), f"{resource.name}.{key} is not a secret"


def test_outputs_are_the_accounts_values_and_hold_no_secret():
    plan = tier_plan("prod")
    cluster, group = plan.one(CLUSTER), plan.one(REPLICATION_GROUP)
    database, cache = plan.outputs["database"], plan.outputs["cache"]
    assert database["endpoint"] == cluster.state["endpoint"]
    assert database["reader_endpoint"] == cluster.state["readerEndpoint"]
    assert database["master_user_secret_arn"] == cluster.state["masterUserSecrets"][0]["secretArn"]
    assert (database["port"], cache["port"]) == (5432, 6379)
    assert cache["primary_endpoint"] == group.state["primaryEndpointAddress"]
    assert cache["reader_endpoint"] == group.state["readerEndpointAddress"]
    secret = plan.one("aws:secretsmanager/secret:Secret")
    assert cache["auth_token_secret_arn"] == secret.state["arn"]
    assert not any(isinstance(value, Secret) for value in [*database.values(), *cache.values()])


# --- security groups ------------------------------------------------------------------------------------


def ingress_of(plan: TierPlan, group: RecordedResource) -> list[RecordedResource]:
    return [r for r in plan.of_type(INGRESS) if r.inputs["securityGroupId"] == plan.id_of(group)]


def data_security_groups(plan: TierPlan) -> dict[int, RecordedResource]:
    """The data tier's security groups by the port they guard, read from what uses them."""
    ids = {plan.id_of(r): r for r in plan.of_type(SECURITY_GROUP)}
    (db_group,) = plan.one(CLUSTER).inputs["vpcSecurityGroupIds"]
    (cache_group,) = plan.one(REPLICATION_GROUP).inputs["securityGroupIds"]
    return {5432: ids[db_group], plan.one(REPLICATION_GROUP).inputs["port"]: ids[cache_group]}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_only_the_nodes_reach_the_data_ports(stack):
    plan = tier_plan(stack)
    nodes_id = plan.id_of(plan.one(SECURITY_GROUP, NODES))
    groups = data_security_groups(plan)
    assert set(groups) == {5432, 6379}
    for port, group in groups.items():
        assert "ingress" not in group.inputs and "egress" not in group.inputs
        rules = ingress_of(plan, group)
        assert [(r.inputs["referencedSecurityGroupId"], r.inputs["ipProtocol"]) for r in rules] == [
            (nodes_id, "tcp")
        ]
        assert all(r.inputs["fromPort"] == r.inputs["toPort"] == port for r in rules)
        assert not any({"cidrIpv4", "cidrIpv6", "prefixListId"} & set(r.inputs) for r in rules)


def test_no_other_rule_opens_the_data_security_groups():
    plan = tier_plan("prod")
    guarded = {plan.id_of(g) for g in data_security_groups(plan).values()}
    rules = [r for r in plan.resources if r.type.startswith("aws:vpc/securityGroup")]
    assert {r.type for r in rules if r.inputs["securityGroupId"] in guarded} == {INGRESS}


def test_configured_extra_security_groups_are_let_in_too():
    raw = raw_stack_config("prod")
    for section in ("database", "cache"):
        raw = with_section(raw, section, allowedSecurityGroupIds=[EXTRA_SG])
    # The extra group is not in the emulated account, which would refuse a rule naming it.
    plan = run_data_tier(raw, "prod", emulate=False)
    nodes_id = plan.id_of(plan.one(SECURITY_GROUP, NODES))
    for group in data_security_groups(plan).values():
        sources = {r.inputs["referencedSecurityGroupId"] for r in ingress_of(plan, group)}
        assert sources == {nodes_id, EXTRA_SG}


# --- protection and coverage ------------------------------------------------------------------------------

STATEFUL = (CLUSTER, INSTANCE, REPLICATION_GROUP, KMS_KEY)


def test_prod_protects_the_stateful_resources():
    stateful = [r for r in tier_plan("prod").resources if r.type in STATEFUL]
    assert len(stateful) == 1 + 3 + 1 + 2
    assert all(r.protect for r in stateful)


def test_dev_protects_nothing():
    plan = tier_plan("dev")
    assert any(r.type in STATEFUL for r in plan.resources)
    assert not any(r.protect for r in plan.resources)


def test_every_resource_of_the_data_tier_is_created_in_the_emulated_account():
    plan = tier_plan("prod")
    assert {r.type for r in plan.resources if r.custom} <= set(emulated_types())


# --- golden snapshot of what would replace the stateful resources ----------------------------------------

REPLACING_INPUTS = {
    CLUSTER: (
        "clusterIdentifier",
        "engine",
        "engineMode",
        "storageEncrypted",
        "kmsKeyId",
        "dbSubnetGroupName",
        "masterUsername",
        "databaseName",
        "availabilityZones",
    ),
    INSTANCE: ("identifier", "clusterIdentifier", "engine", "dbSubnetGroupName", "availabilityZone"),
    REPLICATION_GROUP: (
        "replicationGroupId",
        "engine",
        "port",
        "subnetGroupName",
        "atRestEncryptionEnabled",
        "kmsKeyId",
        "transitEncryptionEnabled",
        "clusterMode",
    ),
    KMS_KEY: ("keyUsage", "customerMasterKeySpec", "multiRegion"),
    "aws:kms/alias:Alias": ("name",),
}
"""Per stateful type, the inputs whose change makes Pulumi replace the resource (or lose its data)."""


def generated_values(plan: Plan) -> dict[str, str]:
    """Values the emulated account made up (IDs, ARNs, auto-names) -> a placeholder naming their resource.

    A value the program wrote itself stays as it is, even where the account echoes it under another key
    (the cluster's ID is its ``clusterIdentifier``), so that renaming it shows in the snapshot.
    """
    placeholders: dict[str, str] = {}
    for resource in plan.resources:
        given = json.dumps(resource.inputs, default=repr)
        for key in ("arn", "name", "id", "keyId"):
            value = resource.state.get(key)
            if isinstance(value, str) and json.dumps(value) not in given:
                placeholders.setdefault(value, f"<{key} of {resource.name}>")
    return placeholders


def replacement_snapshot(plan: Plan) -> dict[str, dict[str, Any]]:
    placeholders = generated_values(plan)
    return {
        f"{r.type}::{r.name}": {
            key: placeholders.get(r.inputs.get(key), r.inputs.get(key)) for key in REPLACING_INPUTS[r.type]
        }
        for r in plan.resources
        if r.type in REPLACING_INPUTS
    }


def test_replacement_triggering_inputs_match_the_golden_snapshot():
    assert_matches_golden("data_tier_prod", replacement_snapshot(tier_plan("prod")))


def test_the_snapshot_normalises_what_the_account_generates():
    snapshot = replacement_snapshot(tier_plan("prod"))
    cluster = snapshot[f"{CLUSTER}::database-cluster"]
    assert cluster["clusterIdentifier"] == "platform-prod"
    assert cluster["kmsKeyId"] == "<arn of database-kms>"
    assert cluster["dbSubnetGroupName"] == "<name of network-database>"
    assert cluster["availabilityZones"] is None
    text = json.dumps(snapshot)
    assert "arn:" not in text and "sg-" not in text
    # Resources register concurrently, so the account may hand out its IDs in another order next time.
    assert replacement_snapshot(run_data_tier(raw_stack_config("prod"), "prod")) == snapshot
