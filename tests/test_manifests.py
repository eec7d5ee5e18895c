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
    # Only custom resources (Istio's and the add-ons') go unchecked; every object of Kubernetes' own APIs
    # was checked.
    custom = (".istio.io/", ".gatekeeper.sh/", "argoproj.io/", "cert-manager.io/")
    assert result.checked + len(result.unchecked) == len(objects(plan))
    assert all(
        any(group in m["apiVersion"] for group in custom)
        for m in objects(plan)
        if m["kind"] in {name.split(" ")[0] for name in result.unchecked}
    )


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
    assert "objects checked against Kubernetes 1.34: no invalid" in result.stderr


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
