"""The Database component: its pure pieces, and the Aurora cluster it registers for dev and prod."""

from __future__ import annotations

import dataclasses
import json

import pulumi_aws as aws
import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.config import DatabaseConfig, parse_stack_config
from components.database import (
    STATIC_PARAMETERS,
    DatabaseArgs,
    ServerlessCapacity,
    aurora_postgresql_family,
    cluster_parameters,
    engine_version_drifts,
    monitoring_trust_policy,
)
from components.shared import identifier_problems
from components.tags import Tags
from offline.emulation import EmulationError
from offline.runner import Plan, run_under_mocks
from tests.conftest import stack_plan, with_deploy
from tests.test_data_tier import CLUSTER, DATABASE, INSTANCE, KMS_KEY, dev_alternatives

ROLE = "aws:iam/role:Role"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def database_part(stack_or_plan: str | Plan) -> Plan:
    """The Database component's part of a stack's plan."""
    plan = stack_plan(stack_or_plan) if isinstance(stack_or_plan, str) else stack_or_plan
    return plan.component(DATABASE)


# --- pure pieces ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "family"),
    [
        ("16.6", "aurora-postgresql16"),
        ("11.21", "aurora-postgresql11"),
        ("17.4", "aurora-postgresql17"),
        ("10.7", "aurora-postgresql10"),
        ("9.6", "aurora-postgresql9.6"),
        ("9.6.22", "aurora-postgresql9.6"),
    ],
)
def test_parameter_family_follows_the_major_version(version, family):
    assert aurora_postgresql_family(version) == family


@given(st.integers(10, 99), st.integers(0, 99))
def test_every_minor_of_a_major_shares_its_family(major, minor):
    assert aurora_postgresql_family(f"{major}.{minor}") == aurora_postgresql_family(f"{major}.0")


@pytest.mark.parametrize("version", ["v16.6", "16.x", "", "9"])
def test_a_malformed_version_has_no_family(version):
    with pytest.raises(ValueError, match=r"version like '16\.6'"):
        aurora_postgresql_family(version)


@given(st.integers(10, 99))
def test_a_major_alone_has_its_family(major):
    assert aurora_postgresql_family(str(major)) == aurora_postgresql_family(f"{major}.0")


# --- minor versions AWS applies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("configured", "actual", "drifts"),
    [
        ("16", "16.6", False),
        ("16", "16.8", False),
        ("16.6", "16.6", False),
        ("16.6", "16.8", True),
        ("16", "17.2", True),
        ("16", "160.1", True),
    ],
)
def test_the_provider_reads_a_minor_aws_applied_as_a_change_only_against_a_pinned_minor(
    configured, actual, drifts
):
    assert engine_version_drifts(configured, actual) is drifts


def test_a_minor_upgrade_by_aws_leaves_prod_without_a_change_to_undo():
    """What AWS does in the maintenance window (emulated: the cluster's actual version moves on a minor) is no
    change for the next update, as the prod cluster is configured by its major."""
    cluster = database_part("prod").one(CLUSTER)
    assert cluster.inputs["autoMinorVersionUpgrade"] is True
    created = cluster.state["engineVersionActual"]
    major, minor = created.split(".")
    bumped = f"{major}.{int(minor) + 2}"
    assert not engine_version_drifts(cluster.inputs["engineVersion"], created)
    assert not engine_version_drifts(cluster.inputs["engineVersion"], bumped)
    # What the cluster used to be given: the version it was created with, which the bump then contradicts.
    assert engine_version_drifts(created, bumped)
    for instance in database_part("prod").of_type(INSTANCE):
        assert "engineVersion" not in instance.inputs, "an instance runs its cluster's version"
        assert instance.inputs["autoMinorVersionUpgrade"] is True


def test_cluster_parameters_force_tls_and_log_slow_statements():
    values = {p.name: p.value for p in cluster_parameters(250)}
    assert values["rds.force_ssl"] == "1"
    assert values["shared_preload_libraries"] == "pg_stat_statements"
    assert values["log_min_duration_statement"] == "250"
    assert all(isinstance(value, str) for value in values.values())


def test_only_static_parameters_wait_for_a_reboot():
    parameters = cluster_parameters(1000)
    assert "shared_preload_libraries" in STATIC_PARAMETERS
    for parameter in parameters:
        expected = "pending-reboot" if parameter.name in STATIC_PARAMETERS else "immediate"
        assert parameter.apply_method == expected, parameter.name
    assert len({p.name for p in parameters}) == len(parameters)


def test_monitoring_role_trusts_only_rds_monitoring_for_this_account():
    (statement,) = monitoring_trust_policy("210987654321")["Statement"]
    assert statement["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "210987654321"}}


@pytest.mark.parametrize("identifier", ["platform-prod", "a", "db1-x2", "a" * 63])
def test_good_identifiers(identifier):
    assert identifier_problems(identifier, max_length=63) == []


@pytest.mark.parametrize(
    ("identifier", "problem"),
    [
        ("Platform-prod", "lowercase"),
        ("1platform", "start with a letter"),
        ("platform--prod", "single hyphens"),
        ("platform-", "not ending in one"),
        ("platform_prod", "lowercase letters, digits"),
        ("a" * 64, "at most 63 characters, got 64"),
    ],
)
def test_bad_identifiers(identifier, problem):
    problems = identifier_problems(identifier, max_length=63)
    assert len(problems) == 1 and problem in problems[0]


def args(**overrides) -> DatabaseArgs:
    base = {
        "identifier": "platform-test",
        "vpc_id": "vpc-1",
        "subnet_group_name": "db",
        "allowed_security_group_ids": {"nodes": "sg-1"},
    }
    return DatabaseArgs(**{**base, **overrides})


def test_args_report_every_problem_at_once():
    with pytest.raises(ValueError) as raised:
        args(identifier="Bad--id", allowed_security_group_ids={}, instances=0, engine_version="16.6")
    message = str(raised.value)
    for field in ("identifier:", "allowed_security_group_ids:", "instances:", "engine_version:"):
        assert field in message


def test_args_defaults_are_prods():
    defaults = args()
    assert (defaults.instances, defaults.instance_class, defaults.serverless) == (3, "db.r5.large", None)
    assert defaults.deletion_protection and defaults.protect and not defaults.skip_final_snapshot
    assert not defaults.apply_immediately


WIRING = {
    "identifier": "platform-test",
    "vpc_id": "vpc-1",
    "subnet_group_name": "db",
    "node_security_group_id": "sg-nodes",
    "protect": True,
    "tags": Tags({"team": "platform"}),
}


def test_from_config_carries_every_config_key():
    config = parse_stack_config(with_deploy({}), stack="prod").database.model_copy(
        update={"allowed_security_group_ids": ["sg-0123456789abcdef0"], "skip_final_snapshot": True}
    )
    built = DatabaseArgs.from_config(config, **WIRING)
    carried_differently = {"serverless", "allowed_security_group_ids"}
    arg_names = {f.name for f in dataclasses.fields(DatabaseArgs)}
    assert set(DatabaseConfig.model_fields) - carried_differently <= arg_names
    for name in set(DatabaseConfig.model_fields) - carried_differently:
        assert getattr(built, name) == getattr(config, name), name
    assert built.protect and built.tags == WIRING["tags"]
    assert built.allowed_security_group_ids == {
        "nodes": "sg-nodes",
        "sg-0123456789abcdef0": "sg-0123456789abcdef0",
    }


def test_serverless_capacity_is_carried_from_config():
    config = parse_stack_config(
        with_deploy({"platform:database": {"serverless": {"minCapacity": 0, "maxCapacity": 8}}}), stack="dev"
    ).database
    assert DatabaseArgs.from_config(config, **WIRING).serverless == ServerlessCapacity(0, 8)


# --- prod -------------------------------------------------------------------------------------------------


def test_prod_cluster_is_aurora_postgresql_from_config():
    plan = database_part("prod")
    cluster = plan.one(CLUSTER)
    assert cluster.inputs["engine"] == "aurora-postgresql"
    assert cluster.inputs["engineVersion"] == "16"
    assert cluster.state["engineVersionActual"].startswith("16."), "AWS picked the major's default minor"
    assert cluster.inputs["port"] == 5432
    assert "availabilityZones" not in cluster.inputs
    assert "serverlessv2ScalingConfiguration" not in cluster.inputs
    subnet_group = stack_plan("prod").one("aws:rds/subnetGroup:SubnetGroup")
    assert cluster.inputs["dbSubnetGroupName"] == subnet_group.state["id"]


def test_prod_has_three_r5_large_instances_in_the_cluster():
    plan = database_part("prod")
    cluster = plan.one(CLUSTER)
    instances = plan.of_type(INSTANCE)
    assert [i.inputs["instanceClass"] for i in instances] == ["db.r5.large"] * 3
    assert {i.inputs["clusterIdentifier"] for i in instances} == {cluster.state["id"]}
    assert len({i.inputs["identifier"] for i in instances}) == 3
    assert all(i.inputs["publiclyAccessible"] is False for i in instances)
    assert all("availabilityZone" not in i.inputs for i in instances)


def test_prod_backups_and_windows():
    plan = database_part("prod")
    cluster = plan.one(CLUSTER)
    assert cluster.inputs["backupRetentionPeriod"] == 30
    assert cluster.inputs["preferredBackupWindow"] == "03:00-04:00"
    assert cluster.inputs["preferredMaintenanceWindow"] == "sun:04:00-sun:05:00"
    instance_windows = {i.inputs["preferredMaintenanceWindow"] for i in plan.of_type(INSTANCE)}
    assert instance_windows == {"sun:04:00-sun:05:00"}
    assert cluster.inputs["copyTagsToSnapshot"] is True
    assert cluster.inputs["skipFinalSnapshot"] is False
    suffix = plan.one("random:index/randomId:RandomId")
    assert cluster.inputs["finalSnapshotIdentifier"] == f"{cluster.state['id']}-final-{suffix.state['hex']}"
    assert suffix.inputs["keepers"] == {"identifier": cluster.state["id"]}
    assert cluster.inputs["deletionProtection"] is True
    assert cluster.inputs["applyImmediately"] is False


def test_prod_storage_secret_and_insights_use_the_clusters_own_key():
    plan = database_part("prod")
    key = plan.one(KMS_KEY, "platform-database-kms")
    cluster = plan.one(CLUSTER)
    assert key.inputs["enableKeyRotation"] is True
    assert cluster.inputs["storageEncrypted"] is True
    assert cluster.inputs["kmsKeyId"] == key.state["arn"]
    assert cluster.inputs["masterUserSecretKmsKeyId"] == key.state["arn"]
    assert cluster.state["masterUserSecrets"][0]["kmsKeyId"] == key.state["arn"]
    for instance in plan.of_type(INSTANCE):
        assert instance.inputs["performanceInsightsEnabled"] is True
        assert instance.inputs["performanceInsightsKmsKeyId"] == key.state["arn"]
        assert instance.inputs["performanceInsightsRetentionPeriod"] == 7
    alias = plan.one("aws:kms/alias:Alias", "platform-database-kms")
    assert alias.inputs["targetKeyId"] == key.state["keyId"]


def test_prod_authentication_is_iam_and_a_managed_master_password():
    cluster = database_part("prod").one(CLUSTER)
    assert cluster.inputs["iamDatabaseAuthenticationEnabled"] is True
    assert cluster.inputs["manageMasterUserPassword"] is True
    assert cluster.state["masterUserSecrets"][0]["secretArn"].startswith(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-"
    )


def test_prod_parameter_groups():
    plan = database_part("prod")
    cluster = plan.one(CLUSTER)
    group = plan.one("aws:rds/clusterParameterGroup:ClusterParameterGroup")
    assert cluster.inputs["dbClusterParameterGroupName"] == group.state["id"]
    assert group.inputs["family"] == "aurora-postgresql16"
    parameters = {p["name"]: p for p in group.inputs["parameters"]}
    assert parameters["rds.force_ssl"]["value"] == "1"
    assert parameters["shared_preload_libraries"]["applyMethod"] == "pending-reboot"
    assert parameters["log_min_duration_statement"]["value"] == "1000"
    instance_group = plan.one("aws:rds/parameterGroup:ParameterGroup")
    assert instance_group.inputs["family"] == "aurora-postgresql16"
    assert {i.inputs["dbParameterGroupName"] for i in plan.of_type(INSTANCE)} == {instance_group.state["id"]}


def test_prod_enhanced_monitoring_role():
    plan = database_part("prod")
    role = plan.one(ROLE, "platform-database-monitoring")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
    attachment = plan.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "platform-database-monitoring")
    assert attachment.inputs["role"] == role.state["id"]
    assert attachment.inputs["policyArn"].endswith(":policy/service-role/AmazonRDSEnhancedMonitoringRole")
    for instance in plan.of_type(INSTANCE):
        assert instance.inputs["monitoringInterval"] == 60
        assert instance.inputs["monitoringRoleArn"] == role.state["arn"]


def test_prod_postgresql_log_is_exported_to_a_retained_log_group():
    plan = database_part("prod")
    cluster = plan.one(CLUSTER)
    assert cluster.inputs["enabledCloudwatchLogsExports"] == ["postgresql"]
    log_group = plan.one(LOG_GROUP, "platform-database-postgresql")
    assert log_group.state["name"] == f"/aws/rds/cluster/{cluster.state['id']}/postgresql"
    assert log_group.inputs["retentionInDays"] == 365, "audit logs, kept a year in prod"
    assert log_group.inputs["kmsKeyId"] == stack_plan("prod").one(KMS_KEY, "platform-logs").state["arn"]


def test_what_aws_would_otherwise_make_or_check_exists_first():
    plan = database_part("prod")
    # RDS would make the log group itself, unretained, and ours would then fail to be created.
    assert plan.one(LOG_GROUP, "platform-database-postgresql").urn in plan.one(CLUSTER).dependencies
    attachment = plan.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "platform-database-monitoring")
    assert all(attachment.urn in instance.dependencies for instance in plan.of_type(INSTANCE))


def test_prod_database_sits_in_its_own_security_group():
    plan = database_part("prod")
    group = plan.one("aws:ec2/securityGroup:SecurityGroup", "platform-database-sg")
    assert plan.one(CLUSTER).inputs["vpcSecurityGroupIds"] == [group.state["id"]]
    assert group.inputs["vpcId"] == stack_plan("prod").one("aws:ec2/vpc:Vpc").state["id"]


# --- dev --------------------------------------------------------------------------------------------------


def test_dev_has_one_small_instance_and_loosens_explicitly():
    plan = database_part("dev")
    cluster = plan.one(CLUSTER)
    (instance,) = plan.of_type(INSTANCE)
    assert instance.inputs["instanceClass"] == "db.t4g.medium"
    assert cluster.inputs["deletionProtection"] is False
    assert cluster.inputs["skipFinalSnapshot"] is True
    assert "finalSnapshotIdentifier" not in cluster.inputs
    assert cluster.inputs["applyImmediately"] is True
    assert cluster.inputs["backupRetentionPeriod"] == 1
    assert plan.one(LOG_GROUP, "platform-database-postgresql").inputs["retentionInDays"] == 7
    # Still encrypted, TLS-only and IAM-authenticated.
    assert cluster.inputs["storageEncrypted"] is True
    assert cluster.inputs["iamDatabaseAuthenticationEnabled"] is True


def test_dev_without_monitoring_or_insights_makes_no_role():
    plan = database_part("dev")
    (instance,) = plan.of_type(INSTANCE)
    assert instance.inputs["monitoringInterval"] == 0
    assert "monitoringRoleArn" not in instance.inputs
    assert plan.of_type(ROLE) == []
    assert instance.inputs["performanceInsightsEnabled"] is False
    assert "performanceInsightsKmsKeyId" not in instance.inputs


@pytest.mark.slow
def test_dev_may_choose_serverless_v2():
    plan = database_part(dev_alternatives())
    cluster = plan.one(CLUSTER)
    assert cluster.inputs["serverlessv2ScalingConfiguration"] == {"minCapacity": 0.5, "maxCapacity": 4}
    assert cluster.inputs["engineMode"] == "provisioned"
    (instance,) = plan.of_type(INSTANCE)
    assert instance.inputs["instanceClass"] == "db.serverless"


# --- the emulated account -----------------------------------------------------------------------------------


def test_the_account_refuses_an_instance_of_no_cluster():
    def program():
        aws.rds.ClusterInstance(
            "orphan",
            identifier="orphan-0",
            cluster_identifier="nope",
            instance_class="db.r5.large",
            engine="aurora-postgresql",
        )

    with pytest.raises(EmulationError, match="DBClusterNotFound"):
        run_under_mocks(program, {}, "dev")


def test_the_account_refuses_monitoring_without_a_role():
    def program():
        cluster = aws.rds.Cluster(
            "c",
            cluster_identifier="c",
            engine="aurora-postgresql",
            master_username="postgres",
            manage_master_user_password=True,
        )
        aws.rds.ClusterInstance(
            "c-0",
            identifier="c-0",
            cluster_identifier=cluster.id,
            instance_class="db.r5.large",
            engine="aurora-postgresql",
            monitoring_interval=60,
        )

    with pytest.raises(EmulationError, match="MonitoringRoleARN value is required"):
        run_under_mocks(program, {}, "dev")
