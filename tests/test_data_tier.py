"""The data tier (Aurora and ElastiCache) in the real program, as the engine would see it.

The tests here span both components and what the Platform wires around them: secrets in every
stack, the security groups that admit only the cluster's nodes, the connection ConfigMap,
protection, the golden snapshot of what would replace the stateful resources, and prod's
acceptance through ``python -m offline preview --json``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from offline.emulation import emulated_types
from offline.runner import Plan, RecordedResource, Secret, run_program
from tests.conftest import preview_json, raw_stack_config, stack_plan
from tests.golden import assert_matches_golden

DATABASE = "platform:index:Database"
CACHE = "platform:index:Cache"
BASELINE = "platform:index:Baseline"
CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE_PARAMETER_GROUP = "aws:elasticache/parameterGroup:ParameterGroup"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
CACHE_TOKEN = "platform-cache-auth-token"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
KMS_KEY = "aws:kms/key:Key"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
NODES = "platform-cluster-node"
"""The cluster's node security group, by logical name."""
EXTRA_SG = "sg-0123456789abcdef0"
STACKS = ("dev", "staging", "prod")

# --- plans --------------------------------------------------------------------------------------------------


def data_tier(plan: Plan) -> Plan:
    """The Database and Cache components' part of a plan."""
    database, cache = plan.component(DATABASE), plan.component(CACHE)
    return Plan(plan.stack, plan.config, database.resources + cache.resources, plan.outputs)


def with_section(raw: Mapping[str, str], section: str, **changes: Any) -> dict[str, str]:
    """A copy of ``raw`` (engine form) with ``changes`` merged into ``platform:<section>``."""
    key = f"platform:{section}"
    return {**raw, key: json.dumps({**json.loads(raw.get(key, "{}")), **changes})}


@functools.cache
def dev_alternatives() -> Plan:
    """Dev choosing what it may instead of its defaults, Aurora Serverless v2 and Valkey: one run for both."""
    raw = with_section(raw_stack_config("dev"), "database", serverless={"minCapacity": 0.5, "maxCapacity": 4})
    return run_program(with_section(raw, "cache", engine="valkey", engineVersion="8.0"), "dev")


@functools.cache
def prod_again() -> Plan:
    """Prod run a second time in a fresh account: what must not differ between runs is compared with it."""
    return run_program(raw_stack_config("prod"), "prod")


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


def secret_texts(value: Any, inside: bool = False) -> Iterator[str]:
    """Every string held in a Secret somewhere in ``value``."""
    if isinstance(value, Secret):
        yield from secret_texts(value.value, inside=True)
    elif isinstance(value, dict):
        for item in value.values():
            yield from secret_texts(item, inside)
    elif isinstance(value, list):
        for item in value:
            yield from secret_texts(item, inside)
    elif inside and isinstance(value, str) and value:
        yield value


def secret_paths(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """The paths of the Secrets in ``value``."""
    if isinstance(value, Secret):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from secret_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from secret_paths(item, (*path, index))


def at(value: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def engine_record(plan: Plan) -> dict[str, Any]:
    """What the engine would record of a run: each resource's inputs and stored state, the stack outputs."""
    record: dict[str, Any] = {"stack outputs": plan.outputs}
    for resource in plan.resources:
        record[f"{resource.urn} inputs"] = resource.inputs
        record[f"{resource.urn} state"] = resource.state
    return record


@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_is_plaintext_in_any_input_state_or_output(stack):
    plan = stack_plan(stack)
    record = engine_record(plan)
    secrets = set(secret_texts(record))
    # The cache's AUTH token, and Grafana's admin password where monitoring is on.
    tokens = {r.state["result"].value for r in plan.of_type(RANDOM_PASSWORD)}
    assert tokens and all(len(token) >= 32 for token in tokens)
    # The random provider declares its result secret, so the engine keeps the token's own state secret.
    assert tokens <= secrets
    leaks = [
        f"{where}{path}"
        for secret in secrets
        for where, value in record.items()
        for path in plaintext_paths(value, secret)
    ]
    assert leaks == []
    # Not vacuous: the token reaches both the replication group and its Secrets Manager secret, wrapped.
    token = plan.one(RANDOM_PASSWORD, CACHE_TOKEN).state["result"].value
    holders = {r.type for r in plan.resources if secrets_holding(r.inputs, token)}
    assert holders == {REPLICATION_GROUP, SECRET_VERSION}


@pytest.mark.slow
def test_the_preview_json_prints_no_secret():
    plan, printed = stack_plan("prod"), preview_json("prod")
    token = plan.one(RANDOM_PASSWORD, CACHE_TOKEN).state["result"].value
    # The account makes a token from its resource alone, so the CLI's run generated this one too.
    assert prod_again().one(RANDOM_PASSWORD, CACHE_TOKEN).state["result"].value == token
    for secret in set(secret_texts(engine_record(plan))):
        assert list(plaintext_paths(printed, secret)) == []
    # Every input and output that is a secret in the run is printed as "[secret]", the token's holders too.
    printed_inputs = {r["urn"]: r["inputs"] for r in printed["resources"]}
    hidden = {
        (resource.type, path)
        for resource in plan.resources
        for path in secret_paths(resource.inputs)
        if at(printed_inputs[resource.urn], path) == "[secret]"
    }
    assert hidden == {(r.type, p) for r in plan.resources for p in secret_paths(r.inputs)}
    assert {(REPLICATION_GROUP, ("authToken",)), (SECRET_VERSION, ("secretString",))} <= hidden
    assert all(at(printed["outputs"], path) == "[secret]" for path in secret_paths(plan.outputs))


@pytest.mark.parametrize("stack", STACKS)
def test_no_password_input_or_state_is_plaintext(stack):
    plan = stack_plan(stack)
    cluster = plan.one(CLUSTER)
    assert cluster.inputs["manageMasterUserPassword"] is True
    assert "masterPassword" not in cluster.inputs
    credential_words = ("password", "authtoken", "secretstring")
    for resource in plan.resources:
        for values in (resource.inputs, resource.state):
            for key, value in values.items():
                credential = any(word in key.lower() for word in credential_words)
                # Settings about credentials, not credentials: whether RDS manages one, how a token changes.
                if credential and key not in ("manageMasterUserPassword", "authTokenUpdateStrategy"):
                    assert isinstance(value, Secret), f"{resource.name}.{key} is not a secret"


DATA_TIER_OUTPUTS = (
    "databaseEndpoint",
    "databaseReaderEndpoint",
    "databasePort",
    "databaseMasterUserSecretArn",
    "cacheEndpoint",
    "cacheReaderEndpoint",
    "cachePort",
    "cacheAuthTokenSecretArn",
)


def test_stack_outputs_are_the_accounts_values_and_hold_no_secret():
    plan = stack_plan("prod")
    cluster, group = plan.one(CLUSTER), plan.one(REPLICATION_GROUP)
    outputs = plan.outputs
    assert outputs["databaseEndpoint"] == cluster.state["endpoint"]
    assert outputs["databaseReaderEndpoint"] == cluster.state["readerEndpoint"]
    assert outputs["databaseMasterUserSecretArn"] == cluster.state["masterUserSecrets"][0]["secretArn"]
    assert (outputs["databasePort"], outputs["cachePort"]) == (5432, 6379)
    assert outputs["cacheEndpoint"] == group.state["primaryEndpointAddress"]
    assert outputs["cacheReaderEndpoint"] == group.state["readerEndpointAddress"]
    assert outputs["cacheAuthTokenSecretArn"] == plan.component(CACHE).one(SECRET).state["arn"]
    assert not any(isinstance(outputs[key], Secret) for key in DATA_TIER_OUTPUTS)


@pytest.mark.parametrize("stack", STACKS)
def test_each_application_namespace_has_the_connection_data_and_no_secret(stack):
    plan = stack_plan(stack)
    outputs = plan.outputs
    expected = {
        "DATABASE_HOST": outputs["databaseEndpoint"],
        "DATABASE_READER_HOST": outputs["databaseReaderEndpoint"],
        "DATABASE_PORT": str(outputs["databasePort"]),
        "DATABASE_SECRET_ARN": outputs["databaseMasterUserSecretArn"],
        "CACHE_HOST": outputs["cacheEndpoint"],
        "CACHE_READER_HOST": outputs["cacheReaderEndpoint"],
        "CACHE_PORT": str(outputs["cachePort"]),
        "CACHE_AUTH_TOKEN_SECRET_ARN": outputs["cacheAuthTokenSecretArn"],
        "CACHE_TLS": "true",
    }
    assert all(isinstance(value, str) and value for value in expected.values())
    config_maps = plan.component(BASELINE).of_type(CONFIG_MAP)
    assert sorted(m.inputs["metadata"]["namespace"] for m in config_maps) == sorted(plan.config.namespaces)
    secrets = set(secret_texts(engine_record(plan)))
    for config_map in config_maps:
        namespace = config_map.inputs["metadata"]["namespace"]
        reader = f"platform-baseline-{namespace}-credentials"
        role = {"CREDENTIALS_ROLE_ARN": plan.one("aws:iam/role:Role", reader).state["arn"]}
        assert config_map.inputs["metadata"]["name"] == "platform-connections"
        assert config_map.inputs["data"] == expected | (
            role if plan.config.namespaces[namespace].service_accounts else {}
        )
        assert list(secret_paths(config_map.inputs)) == []
        assert [secret for secret in secrets if list(plaintext_paths(config_map.inputs, secret))] == []


# --- security groups ------------------------------------------------------------------------------------


def guarded_groups(plan: Plan) -> dict[int, str]:
    """The IDs of the data tier's security groups by the port they guard, read from what uses them."""
    cluster, group = plan.one(CLUSTER), plan.one(REPLICATION_GROUP)
    (database_group,) = cluster.inputs["vpcSecurityGroupIds"]
    (cache_group,) = group.inputs["securityGroupIds"]
    return {cluster.inputs["port"]: database_group, group.inputs["port"]: cache_group}


def ingress_to(plan: Plan, group_id: str) -> list[RecordedResource]:
    return [r for r in plan.of_type(INGRESS) if r.inputs["securityGroupId"] == group_id]


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_nodes_reach_the_data_ports(stack):
    plan = stack_plan(stack)
    nodes_id = plan.outputs["nodeSecurityGroupId"]
    assert nodes_id == plan.one(SECURITY_GROUP, NODES).state["id"]
    groups = guarded_groups(plan)
    assert set(groups) == {5432, 6379}
    security_groups = {r.state["id"]: r for r in plan.of_type(SECURITY_GROUP)}
    for port, group_id in groups.items():
        group = security_groups[group_id]
        assert "ingress" not in group.inputs and "egress" not in group.inputs
        rules = ingress_to(plan, group_id)
        assert [(r.inputs["referencedSecurityGroupId"], r.inputs["ipProtocol"]) for r in rules] == [
            (nodes_id, "tcp")
        ]
        assert all(r.inputs["fromPort"] == r.inputs["toPort"] == port for r in rules)
        assert not any({"cidrIpv4", "cidrIpv6", "prefixListId"} & set(r.inputs) for r in rules)


def test_no_other_rule_opens_the_data_security_groups():
    plan = stack_plan("prod")
    guarded = set(guarded_groups(plan).values())
    touching = {r.type for r in plan.resources if r.inputs.get("securityGroupId") in guarded}
    assert touching == {INGRESS}


@pytest.mark.slow
def test_configured_extra_security_groups_are_let_in_too():
    raw = raw_stack_config("prod")
    for section in ("database", "cache"):
        raw = with_section(raw, section, allowedSecurityGroupIds=[EXTRA_SG])
    # The extra group is not in the emulated account, which would refuse a rule naming it.
    plan = run_program(raw, "prod", emulate=False)
    nodes_id = plan.outputs["nodeSecurityGroupId"]
    for port, group_id in guarded_groups(plan).items():
        rules = ingress_to(plan, group_id)
        assert sorted(r.inputs["referencedSecurityGroupId"] for r in rules) == sorted([nodes_id, EXTRA_SG])
        assert all(r.inputs["fromPort"] == r.inputs["toPort"] == port for r in rules)


# --- protection and coverage ------------------------------------------------------------------------------

STATEFUL = (CLUSTER, INSTANCE, REPLICATION_GROUP, KMS_KEY)


def test_prod_protects_the_stateful_resources():
    stateful = [r for r in data_tier(stack_plan("prod")).resources if r.type in STATEFUL]
    assert len(stateful) == 1 + 3 + 1 + 2
    assert all(r.protect for r in stateful)


def test_dev_protects_nothing():
    tier = data_tier(stack_plan("dev"))
    assert any(r.type in STATEFUL for r in tier.resources)
    assert not any(r.protect for r in tier.resources)


def test_every_resource_of_the_data_tier_is_created_in_the_emulated_account():
    tier = data_tier(stack_plan("prod"))
    assert {r.type for r in tier.resources if r.custom} <= set(emulated_types())


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


def replacement_snapshot(plan: Plan) -> dict[str, dict[str, Any]]:
    """The data tier's replacement-triggering inputs, with the IDs and ARNs the account made up (the
    subnet groups' too, from the Network) as references by logical name."""
    return plan.symbolic(
        {
            f"{r.type}::{r.name}": {key: r.inputs.get(key) for key in REPLACING_INPUTS[r.type]}
            for r in data_tier(plan).resources
            if r.type in REPLACING_INPUTS
        }
    )


def test_replacement_triggering_inputs_match_the_golden_snapshot():
    assert_matches_golden("data_tier_prod", replacement_snapshot(stack_plan("prod")))


@pytest.mark.slow
def test_the_snapshot_names_what_the_account_generates_and_keeps_what_the_program_chose():
    snapshot = replacement_snapshot(stack_plan("prod"))
    cluster = snapshot[f"{CLUSTER}::platform-database-cluster"]
    assert cluster["clusterIdentifier"] == "platform-prod"
    # Named after the key itself, not the alias that reports the same ARN as its targetKeyArn.
    assert cluster["kmsKeyId"] == "<Key:platform-database-kms.arn>"
    assert cluster["dbSubnetGroupName"] == "<SubnetGroup:platform-network-database.id>"
    assert cluster["availabilityZones"] is None
    text = json.dumps(snapshot)
    assert "arn:" not in text and "sg-" not in text
    # Resources register concurrently, so the account may hand out its IDs in another order next time.
    assert replacement_snapshot(prod_again()) == snapshot


# --- prod acceptance, as a newcomer sees it --------------------------------------------------------------


def test_prod_preview_json_shows_the_data_tier_as_the_issue_asks():
    resources = preview_json("prod")["resources"]

    def inputs_of(type_token: str) -> list[dict[str, Any]]:
        return [r["inputs"] for r in resources if r["type"] == type_token]

    (cluster,) = inputs_of(CLUSTER)
    instances = inputs_of(INSTANCE)
    assert [i["instanceClass"] for i in instances] == ["db.r5.large"] * 3
    assert {i["clusterIdentifier"] for i in instances} == {cluster["clusterIdentifier"]}
    assert cluster["backupRetentionPeriod"] == 30
    assert cluster["preferredBackupWindow"] == "03:00-04:00"
    assert cluster["preferredMaintenanceWindow"] == "sun:04:00-sun:05:00"
    assert all(i["performanceInsightsEnabled"] is True for i in instances)
    assert all(i["monitoringInterval"] == 60 for i in instances)
    assert cluster["storageEncrypted"] is True
    assert cluster["deletionProtection"] is True

    (group,) = inputs_of(REPLICATION_GROUP)
    assert (group["numCacheClusters"], group["nodeType"], group["port"]) == (3, "cache.r6g.large", 6379)
    assert group["transitEncryptionEnabled"] is True
    assert group["atRestEncryptionEnabled"] is True
    assert group["authToken"] == "[secret]"
    (parameters,) = [r for r in resources if r["type"] == CACHE_PARAMETER_GROUP]
    assert group["parameterGroupName"].startswith(f"{parameters['name']}-")
    assert {"name": "maxmemory-policy", "value": "allkeys-lru"} in parameters["inputs"]["parameters"]
