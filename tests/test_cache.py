"""The Cache component: its pure pieces, and the replication group it registers for dev and prod."""

from __future__ import annotations

import dataclasses
import string

import pulumi_aws as aws
import pulumi_random as random
import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.cache import (
    AUTH_TOKEN_SPECIALS,
    CacheArgs,
    auth_token_alphabet,
    cache_parameter_family,
    high_availability,
)
from components.config import CacheConfig, parse_stack_config
from components.tags import Tags
from offline.emulation import EmulationError
from offline.emulation.data import auth_token_refusal, generated_password
from offline.runner import Plan, run_under_mocks
from tests.conftest import stack_plan, with_deploy
from tests.plans import run_with
from tests.test_data_tier import CACHE, KMS_KEY, RANDOM_PASSWORD, REPLICATION_GROUP, dev_alternatives

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
PRINTABLE_ASCII = {chr(code) for code in range(0x20, 0x7F)}
ELASTICACHE_SPECIALS = set("!&#$^<>-")
"""CreateReplicationGroup's AuthToken: "The only permitted printable special characters are !, &, #, $, ^, <,
>, and -"."""
TOKEN_ALPHABET = set(string.ascii_letters + string.digits) | ELASTICACHE_SPECIALS


def cache_part(stack_or_plan: str | Plan) -> Plan:
    """The Cache component's part of a stack's plan."""
    plan = stack_plan(stack_or_plan) if isinstance(stack_or_plan, str) else stack_or_plan
    return plan.component(CACHE)


# --- pure pieces ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("engine", "version", "family"),
    [
        ("redis", "7.1", "redis7"),
        ("redis", "7.0", "redis7"),
        ("valkey", "7.2", "valkey7"),
        ("valkey", "8.0", "valkey8"),
        ("valkey", "8.1", "valkey8"),
    ],
)
def test_parameter_family_follows_engine_and_major(engine, version, family):
    assert cache_parameter_family(engine, version) == family


@pytest.mark.parametrize("version", ["6.2", "6.0", "5.0.6"])
def test_redis_before_7_is_refused_as_it_cannot_require_tls(version):
    with pytest.raises(ValueError, match=r"needs 7\.0 or later"):
        cache_parameter_family("redis", version)


def test_the_token_alphabet_is_exactly_what_elasticache_accepts():
    assert set(auth_token_alphabet()) == TOKEN_ALPHABET
    assert set(AUTH_TOKEN_SPECIALS) == ELASTICACHE_SPECIALS
    assert len(auth_token_alphabet()) == len(set(auth_token_alphabet()))


@pytest.mark.parametrize("character", sorted(PRINTABLE_ASCII - TOKEN_ALPHABET))
def test_the_emulated_account_refuses_a_token_with_any_other_printable_character(character):
    token = "a" * 31 + character
    assert auth_token_refusal(token) is not None, repr(token)
    assert auth_token_refusal("a" * 31 + "-") is None


@pytest.mark.parametrize(("length", "refused"), [(15, True), (16, False), (128, False), (129, True)])
def test_the_emulated_account_refuses_a_token_of_the_wrong_length(length, refused):
    assert (auth_token_refusal("a" * length) is not None) is refused


@pytest.mark.parametrize(("nodes", "expected"), [(1, False), (2, True), (3, True), (6, True)])
def test_failover_needs_a_replica(nodes, expected):
    assert high_availability(nodes) is expected


def args(**overrides) -> CacheArgs:
    base = {
        "identifier": "platform-test",
        "vpc_id": "vpc-1",
        "subnet_group_name": "cache",
        "allowed_security_group_ids": {"nodes": "sg-1"},
    }
    return CacheArgs(**{**base, **overrides})


def test_args_report_every_problem_at_once():
    with pytest.raises(ValueError) as raised:
        args(identifier="x" * 41, allowed_security_group_ids={}, nodes=7, engine_version="6.2")
    message = str(raised.value)
    for expected in ("at most 40 characters", "allowed_security_group_ids:", "nodes:", "engine_version:"):
        assert expected in message


def test_from_config_carries_every_config_key():
    config = parse_stack_config(with_deploy({}), stack="staging").cache.model_copy(
        update={
            "allowed_security_group_ids": ["sg-0123456789abcdef0"],
            "engine": "valkey",
            "engine_version": "8.0",
        }
    )
    built = CacheArgs.from_config(
        config,
        identifier="platform-test",
        vpc_id="vpc-1",
        subnet_group_name="cache",
        node_security_group_id="sg-nodes",
        protect=True,
        tags=Tags(),
    )
    arg_names = {f.name for f in dataclasses.fields(CacheArgs)}
    carried = set(CacheConfig.model_fields) - {"allowed_security_group_ids"}
    assert carried <= arg_names
    for name in carried:
        assert getattr(built, name) == getattr(config, name), name
    assert built.allowed_security_group_ids == {
        "nodes": "sg-nodes",
        "sg-0123456789abcdef0": "sg-0123456789abcdef0",
    }


# --- the emulated password --------------------------------------------------------------------------------


@given(
    length=st.integers(16, 128),
    upper=st.booleans(),
    numeric=st.booleans(),
    special=st.booleans(),
    min_lower=st.integers(0, 4),
    seed=st.text(max_size=8),
)
def test_the_emulated_password_honours_its_inputs(length, upper, numeric, special, min_lower, seed):
    inputs = {
        "length": length,
        "upper": upper,
        "numeric": numeric,
        "special": special,
        "minLower": min_lower,
        "overrideSpecial": AUTH_TOKEN_SPECIALS,
    }
    password = generated_password(inputs, seed)
    assert len(password) == length
    allowed = string.ascii_lowercase
    allowed += string.ascii_uppercase if upper else ""
    allowed += string.digits if numeric else ""
    allowed += AUTH_TOKEN_SPECIALS if special else ""
    assert set(password) <= set(allowed)
    assert sum(c in string.ascii_lowercase for c in password) >= min_lower
    assert generated_password(inputs, seed) == password


# --- prod -------------------------------------------------------------------------------------------------


def test_prod_replication_group_is_three_large_nodes_with_failover():
    group = cache_part("prod").one(REPLICATION_GROUP)
    assert group.inputs["engine"] == "redis"
    assert group.inputs["engineVersion"] == "7.1"
    assert group.inputs["nodeType"] == "cache.r6g.large"
    assert group.inputs["numCacheClusters"] == 3
    assert group.inputs["port"] == 6379
    assert group.inputs["automaticFailoverEnabled"] is True
    assert group.inputs["multiAzEnabled"] is True
    assert group.inputs["clusterMode"] == "disabled"


def test_prod_encryption_at_rest_with_the_caches_key_and_tls_required():
    plan = cache_part("prod")
    group = plan.one(REPLICATION_GROUP)
    key = plan.one(KMS_KEY, "platform-cache-kms")
    assert key.inputs["enableKeyRotation"] is True
    assert group.inputs["atRestEncryptionEnabled"] is True
    assert group.inputs["kmsKeyId"] == key.state["arn"]
    assert group.inputs["transitEncryptionEnabled"] is True
    assert group.inputs["transitEncryptionMode"] == "required"


def test_prod_auth_token_is_generated_and_kept_in_secrets_manager():
    plan = cache_part("prod")
    group = plan.one(REPLICATION_GROUP)
    password = plan.one(RANDOM_PASSWORD)
    token = password.state["result"].value
    assert password.inputs["length"] >= 32
    assert set(password.inputs["overrideSpecial"]) <= ELASTICACHE_SPECIALS
    assert set(token) <= TOKEN_ALPHABET
    assert group.inputs["authToken"].value == token
    secret = plan.one("aws:secretsmanager/secret:Secret")
    version = plan.one("aws:secretsmanager/secretVersion:SecretVersion")
    assert secret.inputs["kmsKeyId"] == plan.one(KMS_KEY, "platform-cache-kms").state["arn"]
    assert version.inputs["secretId"] == secret.state["id"]
    assert version.inputs["secretString"].value == token


def test_prod_parameter_group_evicts_by_lru():
    plan = cache_part("prod")
    group = plan.one(REPLICATION_GROUP)
    parameters = plan.one("aws:elasticache/parameterGroup:ParameterGroup")
    assert group.inputs["parameterGroupName"] == parameters.state["id"]
    assert parameters.inputs["family"] == "redis7"
    assert parameters.inputs["parameters"] == [{"name": "maxmemory-policy", "value": "allkeys-lru"}]


def test_prod_network_placement():
    plan = cache_part("prod")
    group = plan.one(REPLICATION_GROUP)
    subnet_group = stack_plan("prod").one("aws:elasticache/subnetGroup:SubnetGroup")
    assert group.inputs["subnetGroupName"] == subnet_group.state["id"]
    security_group = plan.one("aws:ec2/securityGroup:SecurityGroup", "platform-cache-sg")
    assert group.inputs["securityGroupIds"] == [security_group.state["id"]]
    assert "preferredCacheClusterAzs" not in group.inputs


def test_prod_snapshots_and_windows():
    group = cache_part("prod").one(REPLICATION_GROUP)
    assert group.inputs["snapshotRetentionLimit"] == 7
    assert group.inputs["snapshotWindow"] == "05:00-06:00"
    assert group.inputs["maintenanceWindow"] == "sun:06:00-sun:07:00"


def test_prod_slow_and_engine_logs_go_to_retained_log_groups_as_json():
    plan = cache_part("prod")
    deliveries = {d["logType"]: d for d in plan.one(REPLICATION_GROUP).inputs["logDeliveryConfigurations"]}
    assert set(deliveries) == {"slow-log", "engine-log"}
    for log_type, delivery in deliveries.items():
        log_group = plan.one(LOG_GROUP, f"platform-cache-{log_type}")
        assert delivery["destination"] == log_group.state["name"]
        assert delivery["destinationType"] == "cloudwatch-logs"
        assert delivery["logFormat"] == "json"
        assert log_group.inputs["retentionInDays"] == 30


# --- dev --------------------------------------------------------------------------------------------------


def test_dev_has_one_node_and_no_failover():
    group = cache_part("dev").one(REPLICATION_GROUP)
    assert group.inputs["nodeType"] == "cache.t4g.micro"
    assert group.inputs["numCacheClusters"] == 1
    assert group.inputs["automaticFailoverEnabled"] is False
    assert group.inputs["multiAzEnabled"] is False
    assert group.inputs["snapshotRetentionLimit"] == 0
    # Still encrypted both ways, with a token.
    assert group.inputs["atRestEncryptionEnabled"] is True
    assert group.inputs["transitEncryptionMode"] == "required"
    assert "authToken" in group.inputs


@pytest.mark.slow
def test_valkey_gets_its_own_family():
    plan = cache_part(dev_alternatives())
    assert plan.one(REPLICATION_GROUP).inputs["engine"] == "valkey"
    assert plan.one("aws:elasticache/parameterGroup:ParameterGroup").inputs["family"] == "valkey8"


# --- the emulated account -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "refusal"),
    [
        ({"auth_token": "x" * 32}, "AuthToken requires TransitEncryptionEnabled"),
        (
            {"automatic_failover_enabled": True, "multi_az_enabled": True},
            "AutomaticFailoverEnabled needs at least 2 cache clusters",
        ),
        ({"multi_az_enabled": True}, "MultiAZEnabled requires AutomaticFailoverEnabled"),
    ],
)
def test_the_account_refuses_what_elasticache_would(settings, refusal):
    def program():
        aws.elasticache.ReplicationGroup(
            "group", description="group", node_type="cache.t4g.micro", num_cache_clusters=1, **settings
        )

    with pytest.raises(EmulationError, match=refusal):
        run_under_mocks(program, {}, "dev")


def test_the_account_refuses_an_unknown_parameter_family():
    def program():
        aws.elasticache.ParameterGroup("old", family="redis6.2")

    with pytest.raises(EmulationError, match=r"'redis6\.2' is not a valid cache parameter group family"):
        run_under_mocks(program, {}, "dev")


def _group_with_token(override_special: str) -> None:
    token = random.RandomPassword("token", length=64, special=True, override_special=override_special)
    aws.elasticache.ReplicationGroup(
        "group",
        description="group",
        node_type="cache.t4g.micro",
        num_cache_clusters=1,
        transit_encryption_enabled=True,
        auth_token=token.result,
    )


def test_the_account_refuses_a_token_drawn_from_more_specials_than_elasticache_allows():
    # The token the component drew before: every printable special but @, ", / and space.
    before = "".join(c for c in string.punctuation if c not in '@"/ ')
    with pytest.raises(EmulationError, match="InvalidParameterValue: Invalid AuthToken provided"):
        run_under_mocks(lambda: _group_with_token(before), {}, "dev")
    resources, _ = run_under_mocks(lambda: _group_with_token(AUTH_TOKEN_SPECIALS), {}, "dev")
    assert any(r.type == REPLICATION_GROUP for r in resources)


# --- rotation ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_new_token_version_makes_a_new_token_applied_by_rotation_then_set():
    before = cache_part("dev")
    rotated = cache_part(run_with("dev", "cache", authTokenVersion=2))
    settled = cache_part(run_with("dev", "cache", authTokenVersion=2, authTokenUpdateStrategy="SET"))
    old, new = (plan.one(RANDOM_PASSWORD).state["result"].value for plan in (before, rotated))
    assert old != new, "a new version draws a new token"
    assert rotated.one(RANDOM_PASSWORD).inputs["keepers"] == {"version": "2"}
    for plan, token, strategy in ((before, old, "ROTATE"), (rotated, new, "ROTATE"), (settled, new, "SET")):
        group = plan.one(REPLICATION_GROUP)
        assert group.inputs["authToken"].value == token
        assert group.inputs["authTokenUpdateStrategy"] == strategy
        assert (
            plan.one("aws:secretsmanager/secretVersion:SecretVersion").inputs["secretString"].value == token
        )
