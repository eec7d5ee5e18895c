"""``python -m offline manifests``: the plan's Kubernetes objects, as YAML, checked against their schemas."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from offline.cli import app
from offline.manifests import objects, releases, validate
from tests.conftest import stack_plan
from tests.plans import edited, stack_names

BUILT_IN = (
    "v1",
    "apps/",
    "policy/",
    "networking.k8s.io/",
    "rbac.authorization.k8s.io/",
    "scheduling.k8s.io/",
    "storage.k8s.io/",
    "autoscaling/",
    "batch/",
    "admissionregistration.k8s.io/",
    "apiregistration.k8s.io/",
)


def identity(manifest: dict[str, Any]) -> tuple[str, str, str]:
    metadata = manifest["metadata"]
    return manifest["kind"], metadata.get("namespace", ""), metadata["name"]


@pytest.mark.parametrize("stack", stack_names())
def test_every_kubernetes_object_of_every_stack_matches_its_schema(stack: str) -> None:
    plan = stack_plan(stack)
    result = validate(objects(plan), plan.config.cluster.version)
    assert result.problems == ()
    kinds = {m["kind"] for m in objects(plan)}
    assert {"Namespace", "NetworkPolicy", "LimitRange", "PodDisruptionBudget", "PriorityClass"} <= kinds
    # Every object was checked: Kubernetes' own kinds against its schemas, the rest against their CRDs'.
    assert result.checked + result.custom == len(objects(plan))
    assert result.custom == len([m for m in objects(plan) if not m["apiVersion"].startswith(BUILT_IN)])


def test_a_misspelt_field_is_reported_with_the_object_and_where() -> None:
    plan = stack_plan("prod")
    broken = copy.deepcopy(objects(plan))
    (budget,) = [m for m in broken if m["kind"] == "PodDisruptionBudget"]
    budget["spec"]["maxUnavailble"] = budget["spec"].pop("maxUnavailable")
    (problem,) = validate(broken, "1.34").problems
    assert problem.startswith("PodDisruptionBudget agents/agent-runtime: spec: ")
    assert "'maxUnavailble' was unexpected" in problem


def test_the_command_prints_namespaces_first_then_every_object_and_lists_the_helm_releases() -> None:
    result = CliRunner().invoke(app, ["manifests", "--stack", "prod"])
    assert result.exit_code == 0, result.output
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    plan = stack_plan("prod")
    # Another run of the program: the same objects, though the account's generated IDs differ.
    assert [identity(d) for d in documents] == [identity(m) for m in objects(plan)]
    assert documents[0]["kind"] == "Namespace" and list(documents[0])[:3] == [
        "apiVersion",
        "kind",
        "metadata",
    ]
    for release in releases(plan):
        assert (
            f"#   {release['release']} in {release['namespace']}: chart {release['chart']}" in result.stdout
        )
    assert "objects checked against Kubernetes 1.34, " in result.stderr
    assert f"{len(releases(plan))} Helm releases' values against their charts: no problems" in result.stderr


def test_the_command_fails_on_an_invalid_object(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = stack_plan("dev")

    def broken(_stack: str | None, _file: object) -> object:
        def limit_range_with_a_typo(resource):  # type: ignore[no-untyped-def]
            if resource.inputs.get("kind") != "LimitRange":
                return resource
            inputs = copy.deepcopy(resource.inputs)
            inputs["spec"]["limits"][0]["maximum"] = inputs["spec"]["limits"][0].pop("max")
            return type(resource)(**{**resource.__dict__, "inputs": inputs})

        return edited(plan, change=limit_range_with_a_typo)

    monkeypatch.setattr("offline.cli.run_plan", broken)
    result = CliRunner().invoke(app, ["manifests", "--stack", "dev"])
    assert result.exit_code == 1
    assert "LimitRange agents/platform-limits: spec.limits.0: " in result.stderr


def _with(manifests: list[dict[str, Any]], kind: str, change: Any) -> list[dict[str, Any]]:
    changed = copy.deepcopy(manifests)
    change(next(m for m in changed if m["kind"] == kind))
    return changed


def test_a_custom_resource_s_misspelt_field_is_reported_as_the_api_server_would_prune_it() -> None:
    manifests = objects(stack_plan("prod"))

    def misspell(route: dict[str, Any]) -> None:
        route["spec"]["http"][0]["timout"] = route["spec"]["http"][0].pop("timeout")

    (problem,) = validate(_with(manifests, "VirtualService", misspell), "1.34").problems
    assert problem.startswith("VirtualService ")
    assert "spec.http.0: Additional properties are not allowed ('timout' was unexpected)" in problem
    assert "derived from istio/istio 1.28.0" in problem


def test_a_custom_resource_s_wrong_enum_type_and_missing_required_field_are_reported() -> None:
    manifests = objects(stack_plan("prod"))

    def weaken(policy: dict[str, Any]) -> None:
        policy["spec"]["mtls"]["mode"] = "STRICTER"

    (problem,) = validate(_with(manifests, "PeerAuthentication", weaken), "1.34").problems
    assert "spec.mtls.mode: 'STRICTER' is not one of" in problem

    def portless(gateway: dict[str, Any]) -> None:
        del gateway["spec"]["servers"][0]["port"]

    (problem,) = validate(_with(manifests, "Gateway", portless), "1.34").problems
    assert "spec.servers.0: 'port' is a required property" in problem


def test_a_custom_resource_of_a_version_its_crd_does_not_serve_or_of_an_unknown_kind_is_a_problem() -> None:
    manifests = objects(stack_plan("prod"))

    def v2(route: dict[str, Any]) -> None:
        route["apiVersion"] = "networking.istio.io/v2"

    (problem,) = validate(_with(manifests, "VirtualService", v2), "1.34").problems
    assert (
        "networking.istio.io/v2 is not served by the CRD of VirtualService (serves v1, v1alpha3, v1beta1)"
        in problem
    )
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}
    (problem,) = validate([unknown], "1.34").problems
    assert problem == (
        "Widget w: no schema for example.com/v1 Widget: derive offline/crds/example.com_Widget.json from its "
        "CRD (python -m offline.crds derive)"
    )
