"""The AWS-side alarms: every watched metric of the data tier, the NAT gateways and the node groups, each with
alarm and OK actions to one topic under its own key, which CloudWatch may use."""

from __future__ import annotations

import json

import pytest

from components.addons.alarms import (
    AlarmsArgs,
    Watched,
    WatchedDatabase,
    alarm_specs,
    subscription_key,
    topic_policy,
)
from components.config import DatabaseAlarmsConfig, parse_stack_config
from offline.emulation import ACCOUNT_ID
from tests.conftest import preview_json, refused_config, stack_plan, with_deploy

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
KEY = "aws:kms/key:Key"


def alarms_of(stack: str) -> dict[str, dict]:
    return {a.inputs["name"]: a.inputs for a in stack_plan(stack).of_type(ALARM)}


# --- prod's plan ---------------------------------------------------------------------------------------


def test_prod_alarms_on_every_watched_metric_of_each_part():
    names = set(alarms_of("prod"))
    expected = {
        *(
            f"platform-prod-database-{role}-{m}"
            for role in ("writer", "readers")
            for m in ("cpu", "memory", "connections")
        ),
        "platform-prod-database-readers-replica-lag",
        *(
            f"platform-prod-cache-{n:03}-{m}"
            for n in (1, 2, 3)
            for m in ("memory", "evictions", "cpu", "replication-lag")
        ),
        *(f"platform-prod-nat-{n}-{m}" for n in range(3) for m in ("port-allocation", "dropped-packets")),
        *(
            f"platform-prod-nodes-{group}-status-checks"
            for group in ("general", "agentWorkers", "memoryIntensive")
        ),
    }
    assert names == expected


def test_every_alarm_notifies_the_topic_on_alarm_and_on_ok():
    plan = stack_plan("prod")
    topic = plan.one(TOPIC).state["arn"]
    for name, alarm in alarms_of("prod").items():
        assert alarm["alarmActions"] == [topic] and alarm["okActions"] == [topic], name
        assert alarm["actionsEnabled"] is True
        assert alarm["evaluationPeriods"] == alarm["datapointsToAlarm"] == 5
        assert alarm["period"] == 60


def test_the_alarms_watch_the_platform_s_own_resources_by_their_metric_dimensions():
    plan = stack_plan("prod")
    alarms = alarms_of("prod")
    cluster = plan.one("aws:rds/cluster:Cluster").state["id"]
    assert alarms["platform-prod-database-writer-cpu"]["dimensions"] == {
        "DBClusterIdentifier": cluster,
        "Role": "WRITER",
    }
    assert alarms["platform-prod-database-readers-replica-lag"]["dimensions"]["Role"] == "READER"
    members = plan.one("aws:elasticache/replicationGroup:ReplicationGroup").state["memberClusters"]
    assert {
        alarms[f"platform-prod-cache-{n:03}-cpu"]["dimensions"]["CacheClusterId"] for n in (1, 2, 3)
    } == set(members)
    nats = {n.state["id"] for n in plan.of_type("aws:ec2/natGateway:NatGateway")}
    assert {
        alarms[f"platform-prod-nat-{n}-port-allocation"]["dimensions"]["NatGatewayId"] for n in range(3)
    } == nats
    groups = {
        asg["name"]
        for group in plan.of_type("aws:eks/nodeGroup:NodeGroup")
        for resources in group.state["resources"]
        for asg in resources["autoscalingGroups"]
    }
    watched = {a["dimensions"]["AutoScalingGroupName"] for n, a in alarms.items() if "status-checks" in n}
    assert watched == groups


def test_the_topic_is_under_its_own_key_which_cloudwatch_may_use_for_this_account_only():
    plan = stack_plan("prod")
    topic = plan.one(TOPIC)
    key = plan.one(KEY, "platform-addons-alarms-kms")
    assert topic.inputs["kmsMasterKeyId"] == key.state["arn"]
    statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    publishing = statements["ServicesPublishToTopicsItEncrypts"]
    assert publishing["Principal"] == {"Service": ["cloudwatch.amazonaws.com"]}
    assert publishing["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    assert key.protect, "prod protects the topic's key"


def test_only_the_stack_s_alarms_publish_to_the_topic_and_only_over_tls():
    policy = topic_policy("arn:aws:sns:us-east-1:123456789012:t", ACCOUNT_ID, "us-east-1", "platform-prod")
    statements = {s["Sid"]: s for s in policy["Statement"]}
    alarms = statements["TheStacksAlarmsPublish"]
    assert alarms["Action"] == "sns:Publish"
    assert alarms["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT_ID}:alarm:platform-prod-*"
    }
    assert statements["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_subscribers_come_from_the_stack_file_each_under_a_name_of_its_own():
    (subscription,) = stack_plan("prod").of_type(SUBSCRIPTION)
    assert (subscription.inputs["protocol"], subscription.inputs["endpoint"]) == (
        "email",
        "platform-oncall-prod@example.com",
    )
    assert subscription.inputs["topic"] == stack_plan("prod").one(TOPIC).state["arn"]
    assert (
        subscription.name
        == f"platform-addons-alarms-{subscription_key('email', 'platform-oncall-prod@example.com')}"
    )
    # Another subscriber does not rename this one.
    assert subscription_key("email", "a@example.com") != subscription_key("email", "b@example.com")


def test_dev_has_no_alarms_and_no_topic():
    plan = stack_plan("dev")
    assert not plan.of_type(ALARM) and not plan.of_type(TOPIC)


# --- what is alarmed on, as pure functions ----------------------------------------------------------------


def args(**changes) -> AlarmsArgs:
    watched = Watched(
        database=WatchedDatabase("db", readers=changes.pop("readers", True), max_connections=1802),
        cache_clusters=changes.pop("cache_clusters", ("c-001", "c-002")),
        nat_gateway_ids=("nat-1",),
        node_groups={"general": "eks-general"},
    )
    return AlarmsArgs(identifier="platform-test", watched=watched, **changes)


def by_key(arguments: AlarmsArgs) -> dict:
    return {spec.key: spec for spec in alarm_specs(arguments)}


def test_without_readers_or_replicas_there_is_no_reader_and_no_replication_alarm():
    specs = by_key(args(readers=False, cache_clusters=("c-001",)))
    assert not [key for key in specs if "readers" in key or "replication-lag" in key]
    assert "database-writer-cpu" in specs and "cache-001-memory" in specs


def test_the_connections_threshold_defaults_to_80_percent_of_max_connections_unless_configured():
    assert by_key(args())["database-writer-connections"].threshold == 1441
    configured = args(database=DatabaseAlarmsConfig(connections=500))
    assert by_key(configured)["database-writer-connections"].threshold == 500


def test_thresholds_come_from_config_and_memory_is_in_bytes():
    specs = by_key(
        args(database=DatabaseAlarmsConfig.model_validate({"cpuPercent": 70, "freeableMemoryMib": 512}))
    )
    cpu, memory = specs["database-writer-cpu"], specs["database-writer-memory"]
    assert (cpu.threshold, cpu.comparison) == (70, "GreaterThanThreshold")
    assert (memory.threshold, memory.comparison, memory.statistic) == (
        512 * 2**20,
        "LessThanThreshold",
        "Minimum",
    )


def test_metrics_no_one_reports_when_healthy_do_not_breach_when_missing():
    specs = by_key(args())
    for key in (
        "database-readers-replica-lag",
        "cache-002-replication-lag",
        "nat-0-port-allocation",
        "nodes-general-status-checks",
    ):
        assert specs[key].missing_data == "notBreaching", key
    assert specs["database-writer-cpu"].missing_data == "missing"


def test_node_status_checks_can_be_turned_off():
    assert not [key for key in by_key(args(node_status_checks=False)) if key.startswith("nodes-")]


# --- config -----------------------------------------------------------------------------------------------


def problems(alarms: dict, stack: str = "prod", **sections: object) -> list[str]:
    return [
        str(issue) for issue in refused_config({"platform:addons": {"alarms": alarms}, **sections}, stack)
    ]


@pytest.mark.parametrize(
    ("subscription", "expected"),
    [
        ({"protocol": "email", "endpoint": "oncall"}, "must be an email address"),
        ({"protocol": "https", "endpoint": "http://hooks.example.com"}, "must be an https:// URL"),
        ({"protocol": "sqs", "endpoint": "alarms"}, "must be an SQS queue ARN"),
        ({"protocol": "pager", "endpoint": "x"}, "must be one of"),
    ],
)
def test_a_subscription_s_endpoint_must_fit_its_protocol(subscription, expected):
    (issue,) = problems({"subscriptions": [subscription]})
    assert issue.startswith("platform:addons.alarms.subscriptions.0.") and expected in issue


def test_an_evaluation_longer_than_a_day_is_refused_at_its_key():
    (issue,) = problems({"periodSeconds": 1800, "evaluationPeriods": 60})
    assert issue.startswith("platform:addons.alarms.evaluationPeriods: ") and "86400" in issue


def test_prod_keeps_its_alarms():
    assert problems({"enabled": False}) == [
        "platform:addons.alarms.enabled: prod's data tier and network are watched by alarms; set true"
    ]


def test_a_class_of_unknown_memory_needs_a_connections_threshold():
    database = {"platform:database": {"instanceClass": "db.z1d.large"}}
    (issue,) = problems({}, stack="staging", **database)
    assert issue.startswith("platform:addons.alarms.database.connections: no known max_connections")
    parse_stack_config(
        with_deploy({"platform:addons": {"alarms": {"database": {"connections": 900}}}, **database}),
        stack="staging",
    )


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        ({"instanceClass": "db.r5.large"}, 1802),  # 16 GiB
        ({"instanceClass": "db.t4g.medium"}, 450),  # 4 GiB
        ({"instanceClass": "db.r6g.16xlarge"}, 5000),  # 512 GiB, capped
        ({"serverless": {"minCapacity": 0.5, "maxCapacity": 4}}, 901),  # 8 GiB at 4 ACUs
    ],
)
def test_aurora_s_default_max_connections_follows_the_class_s_memory(database, expected):
    config = parse_stack_config(with_deploy({"platform:database": database}), stack="staging")
    assert config.database.default_max_connections() == expected


def test_the_json_preview_lists_each_alarm_with_its_sns_action():
    resources = preview_json("prod")["resources"]
    (topic,) = [r for r in resources if r["type"] == TOPIC]
    alarms = [r for r in resources if r["type"] == ALARM]
    assert len(alarms) == 28
    assert {tuple(a["inputs"]["alarmActions"]) for a in alarms} == {(topic["outputs"]["arn"],)}
    assert all(a["outputs"]["arn"].endswith(f":alarm:{a['inputs']['name']}") for a in alarms)
