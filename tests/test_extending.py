"""docs/extending.md, performed: each marked block of the walkthroughs merged into the prod stack's config
and run offline, the plan checked against what the text says; and every component checked against what
the page promises of a component."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import json
import pkgutil
import re
import textwrap
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pulumi
import pytest
import yaml

import components
import components.addons
from components.addons.gatekeeper import REQUIRED_LABELS
from components.config import ConfigError
from components.mesh import CANARY, STABLE
from offline.cost import estimate
from offline.runner import PROJECT_DIR, Plan, RecordedResource, validate
from tests.conftest import raw_stack_config, recorded_plan, stack_plan
from tests.plans import with_section
from tests.test_baseline import POLICY_NAMES
from verify.preflight import vcpu_checks
from verify.preflight_facts import PreflightFacts, QuotaValue
from verify.quotas import ON_DEMAND_VCPUS

DOC = PROJECT_DIR / "docs" / "extending.md"
STACK = "prod"
ACCOUNT = "123456789012"
KUBERNETES_EFFECT = {
    "NO_SCHEDULE": "NoSchedule",
    "PREFER_NO_SCHEDULE": "PreferNoSchedule",
    "NO_EXECUTE": "NoExecute",
}
NODE_TEMPLATE = "k8s.io/cluster-autoscaler/node-template/"
VIRTUAL_SERVICE = "kubernetes:networking.istio.io/v1:VirtualService"
DESTINATION_RULE = "kubernetes:networking.istio.io/v1:DestinationRule"
WALKTHROUGHS = (
    "gpu-node-group",
    "gpu-without-ami-type",
    "gpu-pod",
    "mesh-service-canary",
    "canary-pod-template",
    "mesh-service-rollout",
    "namespace",
    "backup-rule-error",
)
"""Every block the page marks, each read by a test below."""


# --- reading the page -------------------------------------------------------------------------------------


def doc() -> str:
    return DOC.read_text()


def prose() -> str:
    """The page with its line breaks and indents made single spaces, as a reader reads it."""
    return " ".join(doc().split())


def block(name: str) -> str:
    """The fenced block right after ``<!-- walkthrough: NAME -->``, dedented."""
    found = re.search(rf"<!-- walkthrough: {re.escape(name)} -->\n[ ]*```\w*\n(.*?)\n[ ]*```", doc(), re.S)
    assert found, f"docs/extending.md marks no block {name!r}"
    return textwrap.dedent(found.group(1))


def yaml_block(name: str) -> Any:
    return yaml.safe_load(block(name))


def merged(base: Any, added: Any) -> Any:
    if isinstance(base, dict) and isinstance(added, dict):
        return {**base, **{key: merged(base.get(key), value) for key, value in added.items()}}
    return added


def with_block(name: str) -> dict[str, str]:
    """The prod stack's engine config with a block's ``config:`` merged in, key by key."""
    raw = raw_stack_config(STACK)
    for key, value in yaml_block(name)["config"].items():
        raw[key] = json.dumps(merged(json.loads(raw.get(key, "{}")), value))
    return raw


def plan_with(name: str) -> Plan:
    return recorded_plan(with_block(name), STACK)


def k8s_object(plan: Plan, kind_type: str, name: str, namespace: str | None = None) -> RecordedResource:
    (found,) = [
        r
        for r in plan.of_type(kind_type)
        if r.inputs["metadata"]["name"] == name
        and (namespace is None or r.inputs["metadata"].get("namespace") == namespace)
    ]
    return found


def test_every_marked_block_is_performed_here():
    assert set(re.findall(r"<!-- walkthrough: ([\w-]+) -->", doc())) == set(WALKTHROUGHS)


# --- 1. a node group --------------------------------------------------------------------------------------


def gpu_group() -> tuple[str, dict[str, Any]]:
    ((key, group),) = yaml_block("gpu-node-group")["config"]["platform:cluster"]["nodeGroups"].items()
    return key, group


@pytest.mark.slow
def test_the_gpu_group_is_a_node_group_with_its_ami_taint_label_and_sizes():
    key, group = gpu_group()
    plan = plan_with("gpu-node-group")
    part = plan.component("platform:index:NodeGroup", f"platform-cluster-{key}")
    (component,) = [r for r in part.resources if r.type == "platform:index:NodeGroup"]
    assert component.parent is not None and component.parent.endswith("::platform-cluster")
    node_group = part.one("aws:eks/nodeGroup:NodeGroup")
    inputs = node_group.inputs
    assert inputs["instanceTypes"] == group["instanceTypes"]
    assert inputs["amiType"] == group["amiType"] == "AL2023_x86_64_NVIDIA"
    assert inputs["scalingConfig"] == {k: group[k] for k in ("minSize", "maxSize", "desiredSize")}
    assert inputs["labels"] == group["labels"]
    assert inputs["taints"] == group["taints"]
    assert "scalingConfig.desiredSize" in node_group.ignore_changes
    assert inputs["tags"]["k8s.io/cluster-autoscaler/enabled"] == "true"
    assert inputs["tags"]["k8s.io/cluster-autoscaler/platform-prod"] == "owned"
    template = part.one("aws:ec2/launchTemplate:LaunchTemplate")
    assert template.inputs["metadataOptions"]["httpTokens"] == "required"
    (volume,) = template.inputs["blockDeviceMappings"]
    assert volume["ebs"]["volumeType"] == "gp3" and volume["ebs"]["volumeSize"] == 100
    wanted = {f"{NODE_TEMPLATE}label/{k}": v for k, v in group["labels"].items()} | {
        f"{NODE_TEMPLATE}taint/{t['key']}": f"{t['value']}:{KUBERNETES_EFFECT[t['effect']]}"
        for t in group["taints"]
    }
    asg_tags = {
        t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in part.of_type("aws:autoscaling/tag:Tag")
    }
    assert asg_tags == wanted
    for tag, value in wanted.items():
        assert f'`{tag}: "{value}"`' in prose(), tag
    plan.one("aws:cloudwatch/metricAlarm:MetricAlarm", f"platform-addons-alarms-nodes-{key}-status-checks")


def test_a_gpu_group_without_its_ami_type_is_refused_as_the_page_shows():
    raw = with_block("gpu-node-group")
    cluster = json.loads(raw["platform:cluster"])
    key, _ = gpu_group()
    del cluster["nodeGroups"][key]["amiType"]
    with pytest.raises(ConfigError) as refused:
        validate({**raw, "platform:cluster": json.dumps(cluster)}, STACK)
    assert [str(issue) for issue in refused.value.issues] == [block("gpu-without-ami-type")]


def test_the_pod_tolerates_the_groups_taints_and_selects_its_labels():
    _, group = gpu_group()
    pod = yaml_block("gpu-pod")["spec"]
    tolerations = pod["tolerations"]
    for taint in group["taints"]:
        toleration = {
            "key": taint["key"],
            "operator": "Equal",
            "value": taint["value"],
            "effect": KUBERNETES_EFFECT[taint["effect"]],
        }
        assert toleration in tolerations
    assert pod["nodeSelector"].items() <= group["labels"].items()
    for container in pod["containers"]:
        assert container["image"].startswith(f"{ACCOUNT}.dkr.ecr.")
        assert {"cpu", "memory", "nvidia.com/gpu"} <= container["resources"]["limits"].keys()


@pytest.mark.slow
def test_the_estimate_lists_the_gpu_group_unpriced_and_its_volumes_at_its_desired_size():
    key, group = gpu_group()
    name = f"platform-cluster-{key}"
    plan = plan_with("gpu-node-group")
    result = estimate(plan)
    reason = f"no on-demand price for ec2 {group['instanceTypes'][0]} in us-east-1"
    assert [u.reason for u in result.unpriced if u.resource == name] == [reason]
    assert f'("{reason}")' in prose()
    (volumes,) = [line for line in result.lines if line.resources and line.resources[0] == name]
    assert volumes.quantity == group["desiredSize"] * 100 == 0
    alarm = f"platform-addons-alarms-nodes-{key}-status-checks"
    (metric,) = [line for line in result.lines if alarm in line.resources]
    (before,) = [line for line in estimate(stack_plan(STACK)).lines if line.unit == metric.unit]
    assert metric.quantity == before.quantity + 1


def test_preflight_counts_the_group_at_its_maximum_against_the_g_and_vt_quota():
    key, group = gpu_group()
    raw = with_block("gpu-node-group")
    config = validate(raw, STACK)
    vcpus = {
        "m5.large": 2,
        "m5.xlarge": 4,
        "c5.2xlarge": 8,
        "c5.4xlarge": 16,
        "r5.2xlarge": 8,
        "r5.4xlarge": 16,
    }
    vcpus |= {"g5.xlarge": 4, "g5.2xlarge": 8}
    quota = ON_DEMAND_VCPUS["G and VT"]
    facts = PreflightFacts(
        zones=[],
        offerings={},
        vcpus=vcpus,
        running=[],
        cluster_versions=[],
        addons={},
        db_version=None,
        db_classes=frozenset(),
        cache_versions=frozenset(),
        cache_node_type_reservable=True,
        quotas={quota.code: QuotaValue(16, applied=True)},
        address_tags=[],
        vpc_tags=[],
        nat_gateways=[],
        eks_clusters=[],
        db_instance_clusters=[],
        cache_clusters=[],
        eks_cluster_tags=None,
        db_cluster_tags=None,
        replication_group_tags=None,
    )
    (row,) = [
        f for f in vcpu_checks(config, "us-east-1", facts) if f.name == "quota: On-Demand G and VT vCPUs"
    ]
    largest = max(group["instanceTypes"], key=vcpus.__getitem__)
    reach = group["maxSize"] * vcpus[largest]
    assert row.status == "FAIL"
    assert row.detail.startswith(
        f"in use 0 + {reach} vCPUs at the node groups' maximum sizes = {reach}; quota 16"
    )
    assert row.detail.endswith(f"{key} {group['maxSize']} x {largest} ({vcpus[largest]} vCPUs)")
    assert "request-service-quota-increase" in row.fix
    text = prose()
    assert f"`quota: On-Demand G and VT vCPUs` (quota {quota.code})" in text
    assert f"{group['maxSize']} x {largest} ({vcpus[largest]} vCPUs) = {reach} vCPUs" in text


# --- 2. a mesh service --------------------------------------------------------------------------------------


def mesh_service(name: str) -> tuple[str, dict[str, Any]]:
    ((service, spec),) = yaml_block(name)["config"]["platform:mesh"]["services"].items()
    return service, spec


def routes(plan: Plan) -> list[dict[str, Any]]:
    return k8s_object(plan, VIRTUAL_SERVICE, "routes-api-example-com", "istio-system").inputs["spec"]["http"]


def route_of(plan: Plan, service: str) -> dict[str, Any]:
    (route,) = [r for r in routes(plan) if r["name"] == service]
    return route


@pytest.mark.slow
def test_a_canary_service_gets_its_weighted_route_rule_policy_and_budget():
    service, spec = mesh_service("mesh-service-canary")
    namespace, weight = spec["namespace"], spec["canaryWeight"]
    timeout, retries = spec["timeoutSeconds"], spec["retries"]
    plan = plan_with("mesh-service-canary")
    route = route_of(plan, service)
    host = f"{service}.{namespace}.svc.cluster.local"
    assert route["match"] == [{"uri": {"prefix": spec["pathPrefix"]}}]
    assert route["route"] == [
        {
            "destination": {"host": host, "port": {"number": spec["port"]}, "subset": STABLE},
            "weight": 100 - weight,
        },
        {"destination": {"host": host, "port": {"number": spec["port"]}, "subset": CANARY}, "weight": weight},
    ]
    per_try = timeout / (retries + 1)
    assert route["timeout"] == f"{timeout:g}s"
    assert route["retries"]["attempts"] == retries
    assert route["retries"]["perTryTimeout"] == f"{per_try:g}s"
    assert [r["name"] for r in routes(plan)].index(service) < [r["name"] for r in routes(plan)].index(
        "agent-runtime"
    )
    text = prose()
    assert f"`stable` ({100 - weight})" in text and f"(`canaryWeight`, {weight})" in text
    assert f"(`{timeout:g}s`)" in text and f"(`{per_try:g}s`)" in text
    part = plan.component("platform:index:MeshService", f"platform-mesh-{service}")
    rule = k8s_object(part, DESTINATION_RULE, service, namespace)
    assert [s["labels"] for s in rule.inputs["spec"]["subsets"]] == [{"version": STABLE}, {"version": CANARY}]
    policy = k8s_object(part, "kubernetes:security.istio.io/v1:AuthorizationPolicy", service, namespace)
    assert policy.inputs["spec"]["selector"] == {"matchLabels": {"app": service}}
    budget = k8s_object(part, "kubernetes:policy/v1:PodDisruptionBudget", service, namespace)
    assert budget.inputs["spec"]["maxUnavailable"] == 1


def test_the_canarys_pod_template_is_what_gatekeeper_and_the_subsets_admit():
    service, spec = mesh_service("mesh-service-canary")
    template = yaml_block("canary-pod-template")
    labels = template["metadata"]["labels"]
    assert set(REQUIRED_LABELS) <= labels.keys()
    assert labels["app"] == service and labels["version"] in (STABLE, CANARY)
    pod = template["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        assert container["image"].startswith(f"{ACCOUNT}.dkr.ecr.")
        assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert [p["containerPort"] for c in pod["containers"] for p in c["ports"]] == [spec["port"]]


@pytest.mark.slow
def test_a_rollout_service_gets_a_rollout_with_the_steps_and_its_namespaces_analysis():
    service, spec = mesh_service("mesh-service-rollout")
    namespace, rollout = spec["namespace"], spec["rollout"]
    plan = plan_with("mesh-service-rollout")
    assert [r["weight"] for r in route_of(plan, service)["route"]] == [100, 0]
    rule = k8s_object(plan, DESTINATION_RULE, service, namespace)
    assert rule.inputs["spec"]["subsets"] == [{"name": STABLE}, {"name": CANARY}]
    made = k8s_object(plan, "kubernetes:argoproj.io/v1alpha1:Rollout", service, namespace).inputs["spec"]
    assert made["replicas"] == rollout["replicas"]
    assert made["workloadRef"]["kind"] == "Deployment" and made["workloadRef"]["name"] == service
    steps: list[dict[str, Any]] = []
    for weight in rollout["steps"]:
        steps.append({"setWeight": weight})
        if weight < 100:
            steps.append({"pause": {"duration": rollout["pauseSeconds"]}})
    assert made["strategy"]["canary"]["steps"] == steps
    assert made["strategy"]["canary"]["analysis"]["templates"] == [{"templateName": "success-rate"}]
    templates = [
        r
        for r in plan.of_type("kubernetes:argoproj.io/v1alpha1:AnalysisTemplate")
        if r.inputs["metadata"]["namespace"] == namespace
    ]
    assert [t.inputs["metadata"]["name"] for t in templates] == ["success-rate"]
    text = prose()
    assert f"`replicas` ({rollout['replicas']})" in text
    assert ", ".join(map(str, rollout["steps"][:-1])) + f" and {rollout['steps'][-1]}" in text
    assert f"({rollout['pauseSeconds']} s)" in text


# --- 3. a namespace --------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_namespace_gets_its_quota_limits_policies_credentials_and_connections():
    ((name, spec),) = yaml_block("namespace")["config"]["platform:namespaces"].items()
    plan = plan_with("namespace")
    baseline = plan.component("platform:index:Baseline")
    namespace = k8s_object(baseline, "kubernetes:core/v1:Namespace", name)
    labels = namespace.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["istio-injection"] == "enabled"
    quota = k8s_object(baseline, "kubernetes:core/v1:ResourceQuota", "platform-quota", name)
    assert quota.inputs["spec"]["hard"] == {
        "requests.cpu": spec["cpuRequests"],
        "requests.memory": spec["memoryRequests"],
        "limits.cpu": spec["cpuLimits"],
        "limits.memory": spec["memoryLimits"],
        "pods": str(spec["pods"]),
    }
    (limits,) = k8s_object(baseline, "kubernetes:core/v1:LimitRange", "platform-limits", name).inputs["spec"][
        "limits"
    ]
    given = spec["limitRange"]
    assert (
        limits["default"]["cpu"] == given["defaultCpu"]
        and limits["default"]["memory"] == given["defaultMemory"]
    )
    assert limits["max"]["cpu"] == given["maxCpu"] and limits["max"]["memory"] == given["maxMemory"]
    # The defaults the page names for the keys the block leaves out.
    assert (limits["defaultRequest"]["cpu"], limits["defaultRequest"]["memory"]) == ("100m", "128Mi")
    assert (limits["min"]["cpu"], limits["min"]["memory"]) == ("50m", "64Mi")
    policies = {
        r.inputs["metadata"]["name"]
        for r in baseline.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if r.inputs["metadata"]["namespace"] == name
    }
    internet = {"allow-internet-https"} if spec["allowInternetEgress"] else set()
    assert policies == {*POLICY_NAMES, "allow-aws-endpoints", *internet}
    role = baseline.one("aws:iam/role:Role", f"platform-baseline-{name}-credentials")
    associations = [
        a
        for a in baseline.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
        if a.inputs["namespace"] == name
    ]
    assert sorted(a.inputs["serviceAccount"] for a in associations) == sorted(spec["serviceAccounts"])
    assert all(a.inputs["roleArn"] == role.state["arn"] for a in associations)
    connections = k8s_object(baseline, "kubernetes:core/v1:ConfigMap", "platform-connections", name).inputs[
        "data"
    ]
    assert connections["CREDENTIALS_ROLE_ARN"] == role.state["arn"]
    assert {
        "DATABASE_HOST",
        "DATABASE_SECRET_ARN",
        "CACHE_HOST",
        "CACHE_AUTH_TOKEN_SECRET_ARN",
    } <= connections.keys()
    assert not any(
        r.inputs["metadata"].get("namespace") == name
        for r in plan.of_type("kubernetes:policy/v1:PodDisruptionBudget")
    )
    # The add-ons take it in: Gatekeeper's constraints and Velero's schedule.
    constraints = [r for r in plan.resources if r.type.startswith("kubernetes:constraints.gatekeeper.sh/")]
    assert constraints and all(name in c.inputs["spec"]["match"]["namespaces"] for c in constraints)
    (schedule,) = plan.of_type("kubernetes:velero.io/v1:Schedule")
    assert name in schedule.inputs["spec"]["template"]["includedNamespaces"]


# --- 4. a component: the example's error, and what every component does ------------------------------


def test_the_backup_rule_reports_what_the_page_shows():
    raw = with_section(STACK, "backup", retentionDays=7)
    with pytest.raises(ConfigError) as refused:
        validate(raw, STACK)
    assert [str(issue) for issue in refused.value.issues] == [block("backup-rule-error")]


def _modules() -> Iterator[ModuleType]:
    for package in (components, components.addons):
        yield package
        for found in pkgutil.iter_modules(package.__path__):
            if not found.ispkg:
                yield importlib.import_module(f"{package.__name__}.{found.name}")


COMPONENTS: dict[type[pulumi.ComponentResource], ModuleType] = {
    cls: module
    for module in _modules()
    for cls in vars(module).values()
    if inspect.isclass(cls)
    and issubclass(cls, pulumi.ComponentResource)
    and cls.__module__ == module.__name__
}
NOT_DATACLASS_ARGS = {
    "Platform": "takes the parsed StackConfig, whose keys docs/config.md documents (tests/test_docs.py)",
}
"""Components whose input is not an Args dataclass, and why."""


def type_token(cls: type[pulumi.ComponentResource]) -> str:
    """The token the class passes to ``super().__init__``, read from its source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__)))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "__init__"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            return str(node.args[0].value)
    raise AssertionError(f"{cls.__name__} passes no literal type token to ComponentResource")


def args_classes(cls: type[pulumi.ComponentResource]) -> list[type]:
    """The dataclasses among the constructor's parameters (``args: BackupArgs``)."""
    namespace = vars(COMPONENTS[cls])
    annotations = [p.annotation for p in inspect.signature(cls.__init__).parameters.values()]
    found = [namespace.get(a) for a in annotations if isinstance(a, str)]
    return [a for a in found if isinstance(a, type) and dataclasses.is_dataclass(a)]


def field_docstrings(cls: type) -> dict[str, str | None]:
    """Each annotated attribute of a class and the string right below it (its attribute docstring)."""
    (node,) = ast.parse(textwrap.dedent(inspect.getsource(cls))).body
    assert isinstance(node, ast.ClassDef)
    docs: dict[str, str | None] = {}
    for statement, following in zip(node.body, [*node.body[1:], None], strict=True):
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            is_doc = isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
            docs[statement.target.id] = str(following.value.value) if is_doc else None  # type: ignore[union-attr]
    return docs


def test_the_components_are_found():
    names = {cls.__name__ for cls in COMPONENTS}
    assert {"Backup", "Cluster", "NodeGroup", "MeshService", "Platform", "Rollouts", "CertManager"} <= names
    assert len(names) == len(COMPONENTS)


@pytest.mark.parametrize("cls", COMPONENTS, ids=lambda cls: cls.__name__)
def test_every_component_takes_args_whose_fields_say_their_default_or_required(cls):
    found = args_classes(cls)
    if cls.__name__ in NOT_DATACLASS_ARGS:
        assert found == []
        return
    assert len(found) == 1, f"{cls.__name__} takes no Args dataclass (or several): {found}"
    (args,) = found
    docs = field_docstrings(args)
    for field in dataclasses.fields(args):
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        word = "Required" if required else "Default"
        assert word in (docs.get(field.name) or ""), (
            f"{args.__name__}.{field.name}: its docstring names no {word}"
        )


@pytest.mark.parametrize("cls", COMPONENTS, ids=lambda cls: cls.__name__)
def test_every_component_registers_its_outputs(cls):
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "register_outputs"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "self"
    ]
    assert calls, f"{cls.__name__} never calls self.register_outputs"


CERT_MANAGER = {"enabled": True, "hostedZoneId": "Z0123456789ABCDEFGHIJ", "acmeEmail": "platform@example.com"}


def plans_with_every_component() -> list[Plan]:
    """Prod, and prod with the one add-on it leaves off (cert-manager, as its stack file's comment has it)."""
    return [stack_plan(STACK), recorded_plan(with_section(STACK, "addons", certManager=CERT_MANAGER), STACK)]


def ancestors(resource: RecordedResource, by_urn: dict[str, RecordedResource]) -> set[str]:
    found: set[str] = set()
    while resource.parent:
        found.add(resource.parent)
        resource = by_urn[resource.parent]
    return found


@pytest.mark.slow
def test_every_component_is_made_and_owns_every_resource_named_after_it():
    plans = plans_with_every_component()
    made = {r.type for plan in plans for r in plan.resources}
    assert sorted(type_token(cls) for cls in COMPONENTS if type_token(cls) not in made) == []
    for plan in plans:
        # Under the engine a resource made without parent= sits at the stack's top: only Platform may.
        assert [r.name for r in plan.resources if r.parent is None] == ["platform"]
        by_urn = {r.urn: r for r in plan.resources}
        for component in (r for r in plan.resources if not r.custom and r.type.startswith("platform:index:")):
            assert plan.children(component.urn), f"{component.name} has no children"
            strays = [
                r.name
                for r in plan.resources
                if r.name.startswith(f"{component.name}-") and component.urn not in ancestors(r, by_urn)
            ]
            assert strays == [], f"named after {component.name} but not under it"
