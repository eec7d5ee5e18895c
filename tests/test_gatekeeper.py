"""Gatekeeper: its chart, the platform's ConstraintTemplates (their Rego run by an interpreter of the
language) and Constraints, the order the cluster needs them in, and the config that switches them."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from regopy import Interpreter

from components.addons.gatekeeper import (
    CONSTRAINT_NAMES,
    ISTIO_PROXY_REGISTRY,
    LIMITED_RESOURCES,
    PLATFORM_NAMESPACES,
    REQUIRED_LABELS,
    constraint_template,
    rego,
)
from offline.emulation import EmulationError
from offline.manifests import objects, validate
from offline.runner import Plan, RecordedResource, run_under_mocks
from tests.conftest import stack_plan, with_deploy
from tests.emulated import DEPLOYER, bare_cluster, deploy_provider
from tests.plans import run_with
from tests.test_config import problems

TEMPLATE = "kubernetes:templates.gatekeeper.sh/v1:ConstraintTemplate"


# --- the emulated cluster: a preview of a kind the cluster does not have yet -----------------------------


def _constraint_waiting_for_nothing() -> None:
    cluster, *_ = bare_cluster()
    k8s.apiextensions.CustomResource(
        "constraint",
        api_version="constraints.gatekeeper.sh/v1beta1",
        kind="K8sRequiredLabels",
        metadata={"name": "required-labels"},
        spec={"parameters": {"labels": ["app"]}},
        opts=pulumi.ResourceOptions(provider=deploy_provider(cluster)),
    )


def test_a_preview_passes_a_constraint_on_but_a_deploy_gets_no_matches_for_kind():
    # provider.go Create: in a preview, a kind the API server does not know skips the server-side dry run
    # and the inputs are the preview; the create itself gets NoMatch until the template made the CRD.
    previewing = dataclasses.replace(DEPLOYER, previewing=True)
    resources, _ = run_under_mocks(_constraint_waiting_for_nothing, {}, "dev", account=previewing)
    assert any(r.name == "constraint" for r in resources)
    with pytest.raises(EmulationError, match=r'no matches for kind "K8sRequiredLabels" in version'):
        run_under_mocks(_constraint_waiting_for_nothing, {}, "dev", account=DEPLOYER)


# --- the Rego, run ------------------------------------------------------------------------------------

OWN_REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/"
PARAMETERS = {
    "registries": [OWN_REGISTRY, ISTIO_PROXY_REGISTRY],
    "resources": list(LIMITED_RESOURCES),
    "labels": list(REQUIRED_LABELS),
}


def violations(kind: str, obj: dict[str, Any]) -> list[str]:
    """What the template of ``kind`` says of ``obj`` under admission review, as Gatekeeper asks it."""
    interpreter = Interpreter()
    interpreter.add_module(f"{kind}.rego", rego(kind))
    review = {"kind": {"group": "", "version": "v1", "kind": obj["kind"]}, "object": obj}
    interpreter.set_input_term(json.dumps({"review": review, "parameters": PARAMETERS}))
    output = interpreter.query(f"data.{kind.lower()}.violation")
    assert output.ok(), output
    (found,) = json.loads(str(output))["expressions"]
    return sorted(v["msg"] for v in found)


def all_violations(obj: dict[str, Any]) -> list[str]:
    return [message for kind in CONSTRAINT_NAMES for message in violations(kind, obj)]


APP = {
    "name": "app",
    "image": f"{OWN_REGISTRY}agent-runtime:1.4.2",
    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "256Mi"}},
}
SIDECAR = {
    # As Istio 1.28's injection template makes it with the CNI agent (no NET_ADMIN, uid 1337).
    "name": "istio-proxy",
    "image": "docker.io/istio/proxyv2:1.28.0",
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsGroup": 1337,
        "runAsNonRoot": True,
        "runAsUser": 1337,
    },
    "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
}
LABELS = {"app": "agent-runtime", "version": "1.4.2", "environment": "prod"}


def pod(*containers: dict[str, Any], labels: dict[str, str] = LABELS, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "agent-runtime-0", "namespace": "agents", "labels": labels},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": list(containers),
            **spec,
        },
    }


def workload(kind: str, template: dict[str, Any]) -> dict[str, Any]:
    inner = {"metadata": template["metadata"], "spec": template["spec"]}
    spec = {"jobTemplate": {"spec": {"template": inner}}} if kind == "CronJob" else {"template": inner}
    return {"kind": kind, "metadata": {"name": "agent-runtime", "namespace": "agents"}, "spec": spec}


def with_container(changes: dict[str, Any]) -> dict[str, Any]:
    return {**APP, **changes}


def test_a_compliant_pod_with_its_injected_sidecar_passes_every_policy():
    assert all_violations(pod(APP, SIDECAR)) == []


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Rollout"])
def test_each_workload_kind_is_judged_by_its_pod_template(kind):
    assert all_violations(workload(kind, pod(APP))) == []
    broken = workload(kind, pod(with_container({"securityContext": {"runAsUser": 0}}), labels={"app": "x"}))
    assert violations("K8sNonRootSecurityContext", broken) == ["container app runs as root (runAsUser 0)"]
    assert violations("K8sRequiredLabels", broken) == [
        f"{kind} agent-runtime: its pods need the label environment",
        f"{kind} agent-runtime: its pods need the label version",
    ]


def test_a_rollout_that_runs_a_deployment_has_no_template_to_judge():
    rollout = {
        "kind": "Rollout",
        "metadata": {"name": "agent-runtime"},
        "spec": {"workloadRef": {"name": "x"}},
    }
    assert all_violations(rollout) == []


def test_other_kinds_are_not_judged():
    assert all_violations({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}) == []


@pytest.mark.parametrize(
    ("container", "pod_context", "expected"),
    [
        ({"securityContext": {}}, {"runAsNonRoot": True}, ["container app has no securityContext"]),
        (
            {"securityContext": {"runAsUser": 0}},
            {"runAsNonRoot": True},
            ["container app runs as root (runAsUser 0)"],
        ),
        # The pod's uid 0 applies to a container that sets none.
        ({}, {"runAsUser": 0}, ["container app runs as root (runAsUser 0)"]),
        # Nothing says which user: the image's, maybe root.
        (
            {},
            {},
            ["container app may run as root: set runAsNonRoot true or a runAsUser other than 0"],
        ),
        # The container's setting wins over the pod's, either way.
        ({"securityContext": {"runAsUser": 1000}}, {"runAsUser": 0}, []),
        (
            {"securityContext": {"runAsNonRoot": False}},
            {"runAsNonRoot": True},
            ["container app may run as root: set runAsNonRoot true or a runAsUser other than 0"],
        ),
        ({}, {"runAsUser": 65534}, []),
    ],
)
def test_every_container_has_a_security_context_and_no_root_user(container, pod_context, expected):
    context = {**APP["securityContext"], **container.get("securityContext", {})}  # type: ignore[dict-item]
    app = with_container({"securityContext": context if container.get("securityContext") != {} else {}})
    assert violations("K8sNonRootSecurityContext", pod(app, securityContext=pod_context)) == expected


def test_init_and_ephemeral_containers_are_judged_too():
    root = with_container({"name": "debug", "securityContext": {"runAsUser": 0}})
    assert violations("K8sNonRootSecurityContext", pod(APP, initContainers=[root])) == [
        "container debug runs as root (runAsUser 0)"
    ]
    assert violations("K8sNonRootSecurityContext", pod(APP, ephemeralContainers=[root])) == [
        "container debug runs as root (runAsUser 0)"
    ]


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        (f"{OWN_REGISTRY}agent-runtime:1.4.2", True),
        ("docker.io/istio/proxyv2:1.28.0", True),
        ("nginx:1.27", False),
        ("docker.io/library/nginx:1.27", False),
        # A prefix ends at '/': a look-alike host is not the registry.
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com.example.com/x:1", False),
        ("docker.io/istio-evil/proxyv2:1", False),
    ],
)
def test_images_come_only_from_the_allowed_registries(image, allowed):
    found = violations("K8sAllowedRegistries", pod(with_container({"image": image})))
    assert (found == []) is allowed, found


def test_every_container_but_a_debug_one_sets_cpu_and_memory_limits():
    no_memory = with_container({"resources": {"limits": {"cpu": "1"}}})
    assert violations("K8sRequiredLimits", pod(no_memory)) == ["container app has no memory limit"]
    no_limits = with_container({"name": "init", "resources": {}})
    assert violations("K8sRequiredLimits", pod(APP, initContainers=[no_limits])) == [
        "container init has no cpu limit",
        "container init has no memory limit",
    ]
    # The API refuses resources on an ephemeral (debug) container: it is not asked for them.
    debug = {"name": "debug", "image": APP["image"], "securityContext": APP["securityContext"]}
    assert violations("K8sRequiredLimits", pod(APP, ephemeralContainers=[debug])) == []


def test_pods_carry_app_version_and_environment_labels():
    assert violations(
        "K8sRequiredLabels", pod(APP, labels={"app": "a", "version": "", "environment": "dev"})
    ) == ["Pod agent-runtime-0: its pods need the label version"]


# --- the templates and constraints the stacks make -----------------------------------------------------

RELEASE = "kubernetes:helm.sh/v3:Release"


def part(stack: str) -> Plan:
    return stack_plan(stack).component("platform:index:Gatekeeper")


def constraints(plan: Plan) -> dict[str, RecordedResource]:
    return {
        r.inputs["kind"]: r
        for r in plan.resources
        if r.type.startswith("kubernetes:constraints.gatekeeper.sh/")
    }


@pytest.mark.parametrize("kind", list(CONSTRAINT_NAMES))
def test_each_template_is_named_after_its_kind_and_waits_until_gatekeeper_made_its_crd(kind):
    template = constraint_template(kind)
    assert template["metadata"]["name"] == kind.lower()
    assert template["metadata"]["annotations"] == {"pulumi.com/waitFor": "jsonpath={.status.created}=true"}
    (target,) = template["spec"]["targets"]
    assert target["target"] == "admission.k8s.gatekeeper.sh"
    (code,) = target["code"]
    assert code == {"engine": "Rego", "source": {"version": "v1", "rego": rego(kind)}}
    assert rego(kind).startswith(f"package {kind.lower()}\n")


def test_the_chart_is_pinned_and_runs_highly_available_on_the_general_nodes_in_prod():
    plan = part("prod")
    release = plan.one(RELEASE)
    assert (release.inputs["chart"], release.inputs["version"]) == ("gatekeeper", "3.23.0")
    assert release.inputs["repositoryOpts"]["repo"] == "https://open-policy-agent.github.io/gatekeeper/charts"
    assert release.inputs["namespace"] == "gatekeeper-system"
    values = release.inputs["values"]
    assert values["replicas"] >= 2
    assert values["pdb"]["controllerManager"]["minAvailable"] == values["replicas"] - 1 >= 1
    assert values["controllerManager"]["nodeSelector"] == {"role": "general-compute"}
    assert values["audit"]["nodeSelector"] == {"role": "general-compute"}
    namespace = plan.one("kubernetes:core/v1:Namespace")
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # The chart's post-install Job leaves the namespace's Pod Security labels to the platform.
    assert values["postInstall"]["labelNamespace"] == {"podSecurity": []}


def test_prod_fails_closed_but_not_on_the_platform_s_own_namespaces_or_cluster_scoped_objects():
    values = part("prod").one(RELEASE).inputs["values"]
    assert values["validatingWebhookFailurePolicy"] == "Fail"
    assert values["validatingWebhookScope"] == "Namespaced"
    exempt = values["validatingWebhookExemptNamespacesLabels"]["kubernetes.io/metadata.name"]
    assert {"kube-system", "istio-system", "gatekeeper-system", "argo-rollouts", "vpa", "monitoring"} <= set(
        exempt
    )
    assert not set(exempt) & set(stack_plan("prod").config.namespaces)


def test_dev_runs_one_pod_that_never_blocks_a_drain_and_fails_open():
    values = part("dev").one(RELEASE).inputs["values"]
    assert values["replicas"] == 1
    assert values["pdb"]["controllerManager"]["minAvailable"] == 0
    assert values["validatingWebhookFailurePolicy"] == "Ignore"


@pytest.mark.parametrize(("stack", "action"), [("dev", "dryrun"), ("staging", "deny"), ("prod", "deny")])
def test_constraints_apply_to_the_application_namespaces_with_the_stack_s_action(stack, action):
    plan = part(stack)
    found = constraints(plan)
    assert set(found) == set(CONSTRAINT_NAMES)
    for kind, constraint in found.items():
        assert constraint.inputs["metadata"]["name"] == CONSTRAINT_NAMES[kind]
        spec = constraint.inputs["spec"]
        assert spec["enforcementAction"] == action
        assert spec["match"]["namespaces"] == list(stack_plan(stack).config.namespaces)
        assert set(spec["match"]["excludedNamespaces"]) == set(PLATFORM_NAMESPACES)
        assert {"apiGroups": [""], "kinds": ["Pod"]} in spec["match"]["kinds"]
        assert {"apiGroups": ["apps"], "kinds": ["Deployment", "StatefulSet", "DaemonSet"]} in spec["match"][
            "kinds"
        ]


def test_the_parameters_are_the_platform_s_registries_limits_and_labels():
    found = constraints(part("prod"))
    registries = found["K8sAllowedRegistries"].inputs["spec"]["parameters"]["registries"]
    # The emulated account's own ECR (its ID and region), and Istio's sidecar.
    assert registries == ["123456789012.dkr.ecr.us-east-1.amazonaws.com/", "docker.io/istio/"]
    assert found["K8sRequiredLimits"].inputs["spec"]["parameters"] == {"resources": ["cpu", "memory"]}
    assert found["K8sRequiredLabels"].inputs["spec"]["parameters"] == {
        "labels": ["app", "version", "environment"]
    }
    assert "parameters" not in found["K8sNonRootSecurityContext"].inputs["spec"]


@pytest.mark.slow
def test_configured_registries_are_allowed_besides_the_platform_s():
    plan = run_with("prod", "addons", gatekeeper={"allowedRegistries": ["public.ecr.aws/my-team/"]})
    registries = constraints(plan)["K8sAllowedRegistries"].inputs["spec"]["parameters"]["registries"]
    assert registries[-1] == "public.ecr.aws/my-team/" and "docker.io/istio/" in registries


def test_templates_wait_for_the_release_and_each_constraint_for_its_template():
    plan = part("prod")
    release = plan.one(RELEASE)
    templates = {r.inputs["spec"]["crd"]["spec"]["names"]["kind"]: r for r in plan.of_type(TEMPLATE)}
    assert set(templates) == set(CONSTRAINT_NAMES)
    for kind, constraint in constraints(plan).items():
        assert release.urn in templates[kind].dependencies
        assert templates[kind].urn in constraint.dependencies


# --- config ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gatekeeper_config", "path", "message"),
    [
        ({"enabled": False}, "platform:addons.gatekeeper.enabled", "prod enforces the admission policies"),
        ({"enforcementAction": "dryrun"}, "platform:addons.gatekeeper.enforcementAction", "prod must deny"),
        ({"replicas": 1}, "platform:addons.gatekeeper.replicas", "prod needs at least 2"),
        (
            {"allowedRegistries": ["quay.io"]},
            "platform:addons.gatekeeper.allowedRegistries.0",
            "ending in '/'",
        ),
    ],
)
def test_prod_config_must_deny_with_highly_available_gatekeeper(gatekeeper_config, path, message):
    found = problems(with_deploy({"platform:addons": {"gatekeeper": gatekeeper_config}}), "prod")
    assert message in found[path]


def test_dev_may_only_report():
    assert (
        problems(with_deploy({"platform:addons": {"gatekeeper": {"enforcementAction": "dryrun"}}}), "dev")
        == {}
    )


def test_a_constraint_s_schema_is_its_template_s_parameters_and_gatekeeper_s_match():
    manifests = [m for m in objects(stack_plan("prod")) if m["apiVersion"].startswith("constraints.")]
    assert len(manifests) == len(CONSTRAINT_NAMES)
    assert validate(manifests, "1.34").problems == ()
    (registries,) = [copy.deepcopy(m) for m in manifests if m["kind"] == "K8sAllowedRegistries"]
    registries["spec"]["parameters"]["repos"] = registries["spec"]["parameters"].pop("registries")
    registries["spec"]["match"]["namespace"] = registries["spec"]["match"].pop("namespaces")
    problems_found = validate([registries], "1.34").problems
    assert any("'repos' was unexpected" in p for p in problems_found)
    assert any("'namespace' was unexpected" in p for p in problems_found)
