"""Gatekeeper: its chart, the platform's ConstraintTemplates (their Rego run by an interpreter of the
language) and Constraints, the order the cluster needs them in, and the config that switches them."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from regopy import Interpreter

from components.addons import gatekeeper
from components.addons.gatekeeper import (
    CONSTRAINT_NAMES,
    ISTIO_PROXY_REGISTRY,
    LIMITED_RESOURCES,
    PLATFORM_NAMESPACES,
    REQUIRED_LABELS,
    GatekeeperArgs,
    constraint_template,
    gatekeeper_values,
    rego,
)
from offline.emulation import EmulationError
from offline.runner import run_under_mocks
from tests.emulated import DEPLOYER, bare_cluster, deploy_provider

TEMPLATE = "kubernetes:templates.gatekeeper.sh/v1:ConstraintTemplate"


# --- the emulated cluster: a Constraint needs its template's CRD -------------------------------------


def _template_and_constraint(*, waits: bool) -> None:
    cluster, *_ = bare_cluster()
    provider = deploy_provider(cluster)
    on_cluster = pulumi.ResourceOptions(provider=provider)
    manifest = constraint_template("K8sRequiredLabels")
    template = k8s.apiextensions.CustomResource(
        "template",
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        metadata=manifest["metadata"],
        spec=manifest["spec"],
        opts=on_cluster,
    )
    k8s.apiextensions.CustomResource(
        "constraint",
        api_version="constraints.gatekeeper.sh/v1beta1",
        kind="K8sRequiredLabels",
        metadata={"name": "required-labels"},
        spec={"parameters": {"labels": ["app"]}},
        opts=pulumi.ResourceOptions.merge(
            on_cluster, pulumi.ResourceOptions(depends_on=[template] if waits else [])
        ),
    )


def test_the_emulated_cluster_refuses_a_constraint_that_does_not_wait_for_its_template():
    # pulumi-kubernetes retries a create that gets NoMatch for about 30 s (await.go: 5 retries, 1 s
    # doubling), then fails; Gatekeeper makes the kind's CRD only after the template is created.
    with pytest.raises(EmulationError, match=r'no matches for kind "K8sRequiredLabels" in version'):
        run_under_mocks(lambda: _template_and_constraint(waits=False), {}, "dev", account=DEPLOYER)
    resources, _ = run_under_mocks(lambda: _template_and_constraint(waits=True), {}, "dev", account=DEPLOYER)
    assert [r.name for r in resources if r.type.startswith("kubernetes:constraints.gatekeeper.sh")] == [
        "constraint"
    ]


def test_a_preview_lets_a_constraint_of_a_kind_the_cluster_does_not_have_yet_through():
    # provider.go Create: a preview of a kind the API server does not know returns the inputs as they are.
    previewing = dataclasses.replace(DEPLOYER, previewing=True)
    resources, _ = run_under_mocks(
        lambda: _template_and_constraint(waits=False), {}, "dev", account=previewing
    )
    assert any(r.name == "constraint" for r in resources)
