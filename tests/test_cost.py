"""The monthly estimate: from the plan's recorded resources, line by line, nothing silently free."""

from __future__ import annotations

import dataclasses
import functools
import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from offline.cli import app
from offline.cost import (
    USAGE,
    Estimate,
    PriceTable,
    comparison_table,
    components_of,
    estimate,
    usage_assumptions,
)
from offline.runner import Plan
from tests.conftest import stack_plan
from tests.plans import edited, resource, run_with, stack_names

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NAT = "aws:ec2/natGateway:NatGateway"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
DATA_COMPONENTS = {"Network", "Cluster", "Database", "Cache"}
HOURS = 730
DEV_BUDGET = 400.0


@functools.cache
def stack_estimate(stack: str) -> Estimate:
    return estimate(stack_plan(stack))


def lines_for(result: Estimate, resource_name: str) -> list:
    return [line for line in result.lines if resource_name in line.resources]


# --- the price table ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", stack_names())
def test_the_price_table_covers_every_class_the_stack_uses(stack):
    plan, prices = stack_plan(stack), PriceTable.load("us-east-1")
    used = {
        "ec2": {kind for group in plan.of_type(NODE_GROUP) for kind in group.inputs["instanceTypes"]},
        "rds": {i.inputs["instanceClass"] for i in plan.of_type(INSTANCE)} - {"db.serverless"},
        "elasticache": {g.inputs["nodeType"] for g in plan.of_type(REPLICATION_GROUP)},
    }
    assert used["ec2"], "the plan has no node group to check"
    missing = {
        service: sorted(k for k in kinds if prices.hourly_class(service, k) is None)
        for service, kinds in used.items()
    }
    assert missing == {"ec2": [], "rds": [], "elasticache": []}


def test_the_price_table_says_where_its_figures_come_from():
    prices = PriceTable.load("us-east-1")
    assert prices.source == "AWS public on-demand price list"
    assert len(prices.taken) == 10 and prices.taken[4] == "-"  # an ISO date
    assert prices.hours_per_month == HOURS
    assert prices.hourly["eksCluster"] == 0.10
    assert prices.hourly_class("ec2", "m5.large") == 0.096


def test_a_region_without_a_table_is_refused_by_name():
    with pytest.raises(LookupError, match="eu-west-3"):
        PriceTable.load("eu-west-3")


# --- the estimate of each stack -------------------------------------------------------------------------


@pytest.mark.parametrize("stack", stack_names())
def test_every_billable_resource_of_the_stack_is_priced(stack):
    result = stack_estimate(stack)
    assert result.unpriced == []
    assert set(result.by_component()) >= DATA_COMPONENTS
    assert all(line.monthly > 0 for line in result.lines)


def test_dev_stays_within_its_budget():
    assert stack_estimate("dev").total <= DEV_BUDGET


def test_node_groups_are_priced_at_desired_size_with_their_first_instance_type():
    plan, result = stack_plan("prod"), stack_estimate("prod")
    prices = PriceTable.load("us-east-1")
    for group in plan.of_type(NODE_GROUP):
        desired, preferred = group.inputs["scalingConfig"]["desiredSize"], group.inputs["instanceTypes"][0]
        (compute,) = [line for line in lines_for(result, group.name) if line.item.startswith("EC2")]
        assert compute.quantity == desired * HOURS
        assert compute.unit_price == prices.hourly_class("ec2", preferred)
        assert compute.component == "Cluster"
        (disk,) = [line for line in lines_for(result, group.name) if line.item.startswith("EBS")]
        assert disk.quantity == desired * 100  # prod's launch templates: 100 GB gp3 per node


def test_the_estimate_follows_the_recorded_resources_not_the_config():
    plan = stack_plan("prod")
    nat = plan.of_type(NAT)[0]
    fewer = estimate(edited(plan, drop=lambda r: r.urn == nat.urn))
    network = stack_estimate("prod").by_component()["Network"]
    assert fewer.by_component()["Network"] == pytest.approx(network - 0.045 * HOURS)
    # The same config, so only the recorded resources can have told it.
    assert fewer.total == pytest.approx(stack_estimate("prod").total - 0.045 * HOURS)


def test_identical_items_of_a_component_share_one_line():
    result, plan = stack_estimate("prod"), stack_plan("prod")
    (instances,) = [line for line in result.lines if "db.r5.large" in line.item]
    assert instances.item.startswith(f"{len(plan.of_type(INSTANCE))} x ")
    assert instances.quantity == len(plan.of_type(INSTANCE)) * HOURS
    assert sorted(instances.resources) == sorted(i.name for i in plan.of_type(INSTANCE))


def test_usage_assumptions_are_lines_of_their_own_only_where_the_plan_meters_them():
    result = stack_estimate("prod")
    usage = {line.item: line for line in result.lines if line.component == USAGE}
    assert usage["NAT data processed"].quantity == result.assumptions["natDataProcessedGb"]
    assert usage["Aurora storage"].unit_price == 0.10
    without_aurora = estimate(edited(stack_plan("prod"), drop=lambda r: r.type.startswith("aws:rds/")))
    assert not [line for line in without_aurora.lines if line.item.startswith("Aurora")]


def test_every_resource_is_grouped_under_its_top_level_component():
    plan = stack_plan("prod")
    groups = components_of(plan)
    for group in plan.of_type(NODE_GROUP):  # two levels down: Platform > Cluster > NodeGroup > node group
        assert groups[group.urn] == "Cluster"
    assert {groups[r.urn] for r in plan.resources if r.type == INSTANCE} == {"Database"}


# --- what the estimate cannot price ---------------------------------------------------------------------


@pytest.mark.slow
def test_an_instance_type_missing_from_the_table_is_listed_unpriced_not_free():
    plan = run_with(
        "dev",
        "cluster",
        nodeGroups={
            "general": {"instanceTypes": ["m7i.large"], "minSize": 1, "maxSize": 2, "desiredSize": 1}
        },
    )
    result = estimate(plan)
    (group,) = plan.of_type(NODE_GROUP)
    assert [(u.resource, u.component) for u in result.unpriced] == [(group.name, "Cluster")]
    assert "m7i.large" in result.unpriced[0].reason
    assert not [line for line in lines_for(result, group.name) if line.item.startswith("EC2")]
    assert lines_for(result, group.name), "its volumes are still priced"


def test_a_type_no_rule_knows_is_listed_unpriced():
    plan = stack_plan("dev")
    balancer = resource(
        plan, "aws:lb/loadBalancer:LoadBalancer", "ingress-lb", {"loadBalancerType": "network"}
    )
    result = estimate(edited(plan, add=[balancer]))
    assert [(u.resource, u.type) for u in result.unpriced] == [
        ("ingress-lb", "aws:lb/loadBalancer:LoadBalancer")
    ]
    assert result.unpriced[0].component == "Stack"
    assert result.total == pytest.approx(stack_estimate("dev").total)


def test_extended_support_costs_six_times_standard():
    def extended(r):
        if r.type != "aws:eks/cluster:Cluster":
            return r
        return dataclasses.replace(r, inputs={**r.inputs, "upgradePolicy": {"supportType": "EXTENDED"}})

    result = estimate(edited(stack_plan("dev"), change=extended))
    (control_plane,) = [line for line in result.lines if line.item.startswith("EKS control plane")]
    assert control_plane.monthly == pytest.approx(0.60 * HOURS)


@pytest.mark.slow
def test_serverless_aurora_is_priced_at_its_capacity_floor():
    plan = run_with("dev", "database", serverless={"minCapacity": 0.5, "maxCapacity": 4})
    result = estimate(plan)
    (serverless,) = [line for line in result.lines if "Serverless" in line.item]
    assert serverless.quantity == 0.5 * HOURS
    assert serverless.unit_price == 0.12
    assert not [line for line in result.lines if "db.t4g.medium" in line.item]


# --- the command ----------------------------------------------------------------------------------------


def test_the_json_gives_lines_that_sum_to_the_total_and_the_difference_per_component():
    result = CliRunner().invoke(app, ["cost", "--stack", "prod", "--compare", "dev", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    lines = data["lines"]
    assert data["total"] == pytest.approx(sum(line["monthly"] for line in lines), abs=0.01 * len(lines))
    assert data["components"]["Cluster"] == pytest.approx(
        sum(line["monthly"] for line in lines if line["component"] == "Cluster"), abs=0.05
    )
    assert data["prices"]["source"] == "AWS public on-demand price list"
    assert data["unpriced"] == []
    compare = data["compare"]
    assert compare["stack"] == "dev"
    prod, dev = stack_estimate("prod").by_component(), stack_estimate("dev").by_component()
    for component in DATA_COMPONENTS:
        row = compare["components"][component]
        assert row["difference"] == pytest.approx(prod[component] - dev[component], abs=0.01)
    assert compare["components"]["total"]["difference"] > 0


def test_the_report_lists_lines_subtotals_and_the_total():
    result = CliRunner().invoke(app, ["cost", "--stack", "dev"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for expected in ("EKS control plane", "subtotal", "total", "taken", "Every billable resource is priced"):
        assert expected in result.output
    assert f"{stack_estimate('dev').total:,.2f}" in result.output


def test_the_comparison_table_shows_each_component_and_the_change():
    console = Console(record=True, width=200)
    console.print(comparison_table(stack_estimate("prod"), stack_estimate("dev")))
    text = console.export_text()
    prod, dev = stack_estimate("prod").by_component(), stack_estimate("dev").by_component()
    for component in DATA_COMPONENTS:
        assert f"+{prod[component] - dev[component]:,.2f}" in text
    assert "difference" in text


def test_cost_needs_a_stack():
    assert CliRunner().invoke(app, ["cost"]).exit_code != 0


def plan_region(plan: Plan, region: str) -> Plan:
    return dataclasses.replace(plan, config=plan.config.model_copy(update={"region": region}))


def test_a_plan_in_a_region_without_prices_fails_clearly():
    with pytest.raises(LookupError, match="no price table for region 'ap-south-2'"):
        estimate(plan_region(stack_plan("dev"), "ap-south-2"))


def test_the_mesh_gateway_s_load_balancer_is_priced_and_other_charts_are_free():
    plan = stack_plan("prod")
    result = estimate(plan)
    mesh = [line for line in result.lines if line.component == "Mesh"]
    (gateway,) = [
        r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["values"].get("service")
    ]
    assert [(line.resources, line.quantity, line.unit_price) for line in mesh] == [
        ((gateway.name,), HOURS, 0.0225)
    ]
    internal = edited(
        plan,
        change=lambda r: (
            dataclasses.replace(r, inputs={**r.inputs, "values": {}}) if r.urn == gateway.urn else r
        ),
    )
    assert not [line for line in estimate(internal).lines if line.component == "Mesh"]


def test_ingress_traffic_is_assumed_only_where_a_gateway_serves_it():
    usage = [line.item for line in stack_estimate("prod").lines if line.component == USAGE]
    assert "Load balancer capacity units (ingress traffic)" in usage
    plan = edited(stack_plan("prod"), drop=lambda r: r.type == "kubernetes:networking.istio.io/v1:Gateway")
    assert "Load balancer capacity units (ingress traffic)" not in [
        line.item for line in estimate(plan).lines
    ]


def test_an_interface_endpoint_is_priced_per_az_it_serves():
    plan = stack_plan("prod")
    (endpoint,) = [
        r
        for r in plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if r.inputs["vpcEndpointType"] == "Interface"
    ]
    (line,) = lines_for(stack_estimate("prod"), endpoint.name)
    assert (line.component, line.quantity, line.unit_price) == ("Network", 3 * HOURS, 0.01)
    assert line.item == "Interface endpoint (secretsmanager), per AZ"


def test_the_deploy_runner_is_priced_by_the_build_minutes_assumed_for_its_compute_type():
    plan = stack_plan("prod")
    (project,) = plan.of_type("aws:codebuild/project:Project")
    (line,) = lines_for(stack_estimate("prod"), project.name)
    minutes = usage_assumptions("prod")["runnerBuildMinutes"]
    assert (line.component, line.quantity, line.unit) == ("DeployRunner", minutes, "minutes")
    assert line.unit_price == 0.01, "BUILD_GENERAL1_MEDIUM, the default, is a cent a minute"

    def compute(compute_type: str) -> Plan:
        def change(r):
            if r.urn != project.urn:
                return r
            return dataclasses.replace(r, inputs={**r.inputs, "environment": {"computeType": compute_type}})

        return edited(plan, change=change)

    result = estimate(compute("BUILD_GENERAL1_LARGE"))
    assert [line.unit_price for line in lines_for(result, project.name)] == [0.02]
    result = estimate(compute("GPU"))
    assert not lines_for(result, project.name)
    assert [(u.resource, u.reason) for u in result.unpriced] == [
        (project.name, "no per-minute price for CodeBuild GPU in us-east-1")
    ]


def test_each_alarm_is_a_standard_resolution_alarm_metric_and_high_resolution_costs_more():
    plan, result = stack_plan("prod"), stack_estimate("prod")
    alarms = plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    (line,) = [line for line in result.lines if "CloudWatch alarm metric" in line.item]
    assert (line.quantity, line.unit_price, line.component) == (len(alarms), 0.10, "Addons")
    assert len(alarms) == 28 and line.monthly == pytest.approx(2.80)
    fast = edited(
        plan,
        change=lambda r: dataclasses.replace(r, inputs={**r.inputs, "period": 10}) if r in alarms[:1] else r,
    )
    items = {line.item: line for line in estimate(fast).lines if "CloudWatch alarm metric" in line.item}
    assert items["CloudWatch alarm metric (high resolution)"].unit_price == 0.30


def test_the_velero_bucket_and_snapshots_are_assumed_sizes_and_the_topic_costs_nothing():
    result = stack_estimate("prod")
    usage = {line.item: line for line in result.lines if line.component == USAGE}
    bucket = usage["S3 Standard storage of the Velero bucket (old versions included)"]
    assert (bucket.quantity, bucket.unit_price) == (result.assumptions["veleroBucketGb"], 0.023)
    snapshots = usage["EBS snapshots of persistent volumes (Velero's daily backups)"]
    assert (snapshots.quantity, snapshots.unit_price) == (result.assumptions["veleroSnapshotGb"], 0.05)
    prices = PriceTable.load("us-east-1")
    for free in (
        "aws:sns/topic:Topic",
        "aws:sns/topicSubscription:TopicSubscription",
        "aws:s3/bucket:Bucket",
    ):
        assert prices.charges_nothing(free), free
    # Dev makes neither, so neither is assumed there.
    dev_usage = [line.item for line in stack_estimate("dev").lines if line.component == USAGE]
    assert not [item for item in dev_usage if "Velero" in item]
