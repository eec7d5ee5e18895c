"""Argo Rollouts: the controller's chart, and each canary service's Rollout and analysis, checked against
the routes and rules the mesh made as Argo Rollouts itself checks them."""

from __future__ import annotations

import copy

import pytest

from components.addons.rollouts import CanaryService, RolloutsArgs, canary_steps, rollouts_values
from offline.manifests import objects, validate
from offline.runner import Plan, RecordedResource
from tests.conftest import stack_plan, with_deploy
from tests.plans import run_with
from tests.test_config import problems

RELEASE = "kubernetes:helm.sh/v3:Release"
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
ANALYSIS = "kubernetes:argoproj.io/v1alpha1:AnalysisTemplate"
VIRTUAL_SERVICE = "kubernetes:networking.istio.io/v1:VirtualService"
DESTINATION_RULE = "kubernetes:networking.istio.io/v1:DestinationRule"


def part(stack_or_plan: str | Plan) -> Plan:
    plan = stack_plan(stack_or_plan) if isinstance(stack_or_plan, str) else stack_or_plan
    return plan.component("platform:index:Rollouts")


def named(plan: Plan, type_token: str) -> dict[tuple[str, str], RecordedResource]:
    """(namespace, name) -> the object."""
    return {
        (r.inputs["metadata"].get("namespace", ""), r.inputs["metadata"]["name"]): r
        for r in plan.of_type(type_token)
    }


def argo_rollouts_objections(plan: Plan, rollout: RecordedResource) -> list[str]:
    """What Argo Rollouts v1.9.0 says of a Rollout's Istio routing before it moves any weight
    (rollout/trafficrouting/istio/istio.go: GetVirtualServiceNamespaceName, getHttpRouteIndexesToPatch,
    validateVirtualServiceRouteDestinations; the DestinationRule in the Rollout's own namespace)."""
    namespace = rollout.inputs["metadata"]["namespace"]
    istio = rollout.inputs["spec"]["strategy"]["canary"]["trafficRouting"]["istio"]
    rule_spec = istio["destinationRule"]
    found: list[str] = []
    services = named(plan, VIRTUAL_SERVICE)
    for reference in istio["virtualServices"]:
        fields = reference["name"].split(".")
        name, where = fields[0], fields[1] if len(fields) >= 2 else namespace
        service = services.get((where, name))
        if service is None:
            found.append(f"VirtualService {where}/{name} not found")
            continue
        routes = {route.get("name"): route for route in service.inputs["spec"]["http"]}
        for route_name in reference["routes"]:
            route = routes.get(route_name)
            if route is None:
                found.append(f"HTTP Route '{route_name}' is not found in the defined Virtual Service.")
                continue
            subsets = {destination["destination"].get("subset") for destination in route["route"]}
            for subset in (rule_spec["canarySubsetName"], rule_spec["stableSubsetName"]):
                if subset not in subsets:
                    found.append(f"DestinationRule subset '{subset}' not found in route")
    rule = named(plan, DESTINATION_RULE).get((namespace, rule_spec["name"]))
    if rule is None:
        found.append(f"DestinationRule {namespace}/{rule_spec['name']} not found")
    else:
        names = {subset["name"] for subset in rule.inputs["spec"]["subsets"]}
        found += [
            f"subset {s} missing"
            for s in (rule_spec["canarySubsetName"], rule_spec["stableSubsetName"])
            if s not in names
        ]
    return found


# --- the controller -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_pinned_chart_runs_two_controllers_with_a_budget_on_the_general_nodes(stack):
    release = part(stack).one(RELEASE)
    assert (release.inputs["chart"], release.inputs["version"]) == ("argo-rollouts", "2.41.0")
    assert release.inputs["repositoryOpts"]["repo"] == "https://argoproj.github.io/argo-helm"
    assert release.inputs["namespace"] == "argo-rollouts"
    controller = release.inputs["values"]["controller"]
    assert controller["replicas"] >= 2
    assert controller["pdb"] == {"enabled": True, "minAvailable": 1}
    assert controller["nodeSelector"] == {"role": "general-compute"}


def test_a_single_controller_gets_no_budget_that_would_block_a_drain():
    assert rollouts_values(RolloutsArgs(replicas=1))["controller"]["pdb"] == {"enabled": False}


def test_dev_has_no_rollouts():
    assert not stack_plan("dev").of_type("platform:index:Rollouts")
    assert not stack_plan("dev").of_type(ROLLOUT)


# --- the canary services ------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_canary_service_s_rollout_moves_the_routes_and_subsets_the_mesh_made(stack):
    plan = stack_plan(stack)
    (rollout,) = part(plan).of_type(ROLLOUT)
    assert rollout.inputs["metadata"] == {
        **rollout.inputs["metadata"],
        "name": "agent-runtime",
        "namespace": "agents",
    }
    assert argo_rollouts_objections(plan, rollout) == []
    # Both destinations, at rest all on stable, and the rule's subsets left to the Rollout's hash label.
    ((_, service),) = named(plan, VIRTUAL_SERVICE).items()
    (route,) = service.inputs["spec"]["http"]
    assert [(d["destination"]["subset"], d["weight"]) for d in route["route"]] == [
        ("stable", 100),
        ("canary", 0),
    ]
    rule = named(plan, DESTINATION_RULE)[("agents", "agent-runtime")]
    assert rule.inputs["spec"]["subsets"] == [{"name": "stable"}, {"name": "canary"}]
    # What the Rollout rewrites, an update of ours takes back rather than failing on the conflict.
    for shared in (service, rule):
        assert shared.inputs["metadata"]["annotations"] == {"pulumi.com/patchForce": "true"}


def test_the_rollout_runs_the_team_s_deployment_through_the_seed_s_steps():
    (rollout,) = part("prod").of_type(ROLLOUT)
    spec = rollout.inputs["spec"]
    assert spec["workloadRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "agent-runtime",
        "scaleDown": "progressively",
    }
    assert spec["selector"] == {"matchLabels": {"app": "agent-runtime"}}
    assert "template" not in spec
    steps = spec["strategy"]["canary"]["steps"]
    assert steps == [
        {"setWeight": 10},
        {"pause": {"duration": 300}},
        {"setWeight": 20},
        {"pause": {"duration": 300}},
        {"setWeight": 50},
        {"pause": {"duration": 300}},
        {"setWeight": 100},
    ]


def test_steps_without_a_pause_follow_each_other():
    service = CanaryService(namespace="a", hosts=("h",), steps=(25, 100), pause_seconds=0)
    assert canary_steps(service) == [{"setWeight": 25}, {"setWeight": 100}]


def test_a_failing_success_rate_aborts_the_canary():
    plan = part("prod")
    (rollout,) = plan.of_type(ROLLOUT)
    analysis = rollout.inputs["spec"]["strategy"]["canary"]["analysis"]
    assert analysis["templates"] == [{"templateName": "success-rate"}]
    assert analysis["args"] == [{"name": "service", "value": "agent-runtime.agents.svc.cluster.local"}]
    (template,) = plan.of_type(ANALYSIS)
    assert template.inputs["metadata"]["namespace"] == "agents"
    assert template.inputs["metadata"]["name"] == "success-rate"
    (metric,) = template.inputs["spec"]["metrics"]
    config = stack_plan("prod").config.addons.rollouts
    assert metric["successCondition"] == f"result >= {config.success_rate_threshold}"
    assert metric["failureCondition"] == f"result < {config.success_rate_threshold}"
    assert metric["failureLimit"] == config.failure_limit
    assert metric["interval"] == f"{config.analysis_interval_seconds}s"
    prometheus = metric["provider"]["prometheus"]
    assert prometheus["address"] == "http://prometheus-operated.monitoring.svc.cluster.local:9090"
    query = prometheus["query"]
    assert query.count('destination_service="{{args.service}}"') == 2
    assert 'response_code!~"5.."' in query and "istio_requests_total" in query
    assert query.startswith("scalar(")


@pytest.mark.slow
def test_the_threshold_comes_from_config():
    plan = run_with("prod", "addons", rollouts={"successRateThreshold": 0.95, "failureLimit": 0})
    (metric,) = part(plan).one(ANALYSIS).inputs["spec"]["metrics"]
    assert (metric["successCondition"], metric["failureLimit"]) == ("result >= 0.95", 0)


def test_rollouts_wait_for_the_controller_their_analysis_and_the_mesh():
    plan = stack_plan("prod")
    rollouts = part(plan)
    (rollout,) = rollouts.of_type(ROLLOUT)
    assert rollouts.one(RELEASE).urn in rollout.dependencies
    assert rollouts.one(ANALYSIS).urn in rollout.dependencies
    ((_, service),) = named(plan, VIRTUAL_SERVICE).items()
    assert service.urn in rollout.dependencies
    assert named(plan, DESTINATION_RULE)[("agents", "agent-runtime")].urn in rollout.dependencies


# --- config -------------------------------------------------------------------------------------------

SERVICE = {"namespace": "agents", "port": 8080}
NAMESPACES = {"agents": {"cpuRequests": "4", "memoryRequests": "16Gi", "pods": 50}}


def mesh_with(service: dict, addons: dict | None = None) -> dict:
    return with_deploy(
        {
            "platform:mesh": {
                "gatewayHosts": ["api.example.com"],
                "services": {"svc": {**SERVICE, **service}},
            },
            "platform:namespaces": NAMESPACES,
            "platform:addons": addons or {},
        }
    )


@pytest.mark.parametrize(
    ("service", "addons", "path", "message"),
    [
        (
            {"rollout": {}},
            {"rollouts": {"enabled": False}},
            "platform:mesh.services.svc.rollout",
            "enable addons.rollouts",
        ),
        (
            {"rollout": {}, "canaryWeight": 10},
            {},
            "platform:mesh.services.svc.canaryWeight",
            "drop canaryWeight",
        ),
        ({}, {"monitoring": {"enabled": False}}, "platform:addons.rollouts.enabled", "queries Prometheus"),
        (
            {"rollout": {"steps": [10, 50]}},
            {},
            "platform:mesh.services.svc.rollout.steps",
            "the last weight must be 100",
        ),
        ({"rollout": {"steps": [50, 20, 100]}}, {}, "platform:mesh.services.svc.rollout.steps", "must rise"),
    ],
)
def test_config_refuses_a_canary_that_could_not_run(service, addons, path, message):
    found = problems(mesh_with(service, addons))
    assert message in found[path], found


def test_prod_controllers_are_two():
    found = problems(with_deploy({"platform:addons": {"rollouts": {"replicas": 1}}}), "prod")
    assert "prod needs at least 2" in found["platform:addons.rollouts.replicas"]


def test_a_misspelt_rollout_field_is_caught_by_the_crd_s_schema():
    manifests = objects(stack_plan("prod"))
    (rollout,) = [copy.deepcopy(m) for m in manifests if m["kind"] == "Rollout"]
    rollout["spec"]["workloadRef"]["scaledown"] = rollout["spec"]["workloadRef"].pop("scaleDown")
    (problem,) = validate([rollout], "1.34").problems
    assert problem.startswith("Rollout agents/agent-runtime: spec.workloadRef: ")
    assert "'scaledown' was unexpected" in problem
