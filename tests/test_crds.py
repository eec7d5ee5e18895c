"""Deriving a kind's schema from its CRD (``python -m offline.crds derive``) and the derived files."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from typer.testing import CliRunner

from offline import crds
from offline.crds import DeriveError, derive
from offline.crds.__main__ import app
from offline.emulation import EmulationError
from offline.manifests import objects
from offline.runner import run_under_mocks
from tests.conftest import stack_plan
from tests.emulated import DEPLOYER, bare_cluster, deploy_provider
from tests.plans import stack_names

CRD = yaml.safe_load(
    """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: schedules.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Schedule, plural: schedules}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          description: A schedule.
          properties:
            spec:
              type: object
              required: [schedule]
              x-kubernetes-validations: [{rule: "self.schedule != ''"}]
              properties:
                schedule: {type: string, description: Cron.}
                ttl: {type: string}
                paused: {type: boolean}
                template:
                  type: object
                  properties:
                    includedNamespaces: {type: array, items: {type: string}}
                    hooks: {type: object, x-kubernetes-preserve-unknown-fields: true}
            status: {type: object, properties: {phase: {type: string}}}
    - name: v1beta1
      served: false
      storage: false
      schema: {openAPIV3Schema: {type: object}}
"""
)
SOURCE = {"repository": "example/charts", "tag": "v1.0.0", "commit": "0" * 40, "path": "crds/schedules.yaml"}


def schedule(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Schedule", "metadata": {"name": "daily"}, "spec": spec}


def test_derive_keeps_what_the_objects_set_with_its_rules_and_drops_descriptions_cel_and_status():
    content = derive(CRD, [schedule(schedule="0 2 * * *", template={"includedNamespaces": ["a"]})], SOURCE)
    assert content["served"] == ["v1"]
    assert content["source"] == SOURCE
    spec = content["schemas"]["v1"]["properties"]["spec"]
    assert set(spec["properties"]) == {"schedule", "template"}, "ttl and paused are not set by any object"
    assert spec["required"] == ["schedule"]
    assert "x-kubernetes-validations" not in spec
    assert '"description"' not in json.dumps(content["schemas"])
    assert "status" not in content["schemas"]["v1"]["properties"]


def test_derive_fails_on_fields_the_crd_does_not_declare_and_on_kinds_no_object_has():
    with pytest.raises(DeriveError, match=r"does not declare .*: spec\.template\.namespaces, spec\.tll$"):
        derive(CRD, [schedule(schedule="x", tll="720h", template={"namespaces": ["a"]})], SOURCE)
    with pytest.raises(DeriveError, match=r"no object of the plans is a example\.com Schedule"):
        derive(CRD, [], SOURCE)


def test_a_derived_schema_refuses_what_the_api_server_would_prune(tmp_path, monkeypatch):
    (tmp_path / "example.com_Schedule.json").write_text(
        json.dumps(derive(CRD, [schedule(schedule="x", ttl="1h", template={"hooks": {"any": 1}})], SOURCE))
    )
    monkeypatch.setattr(crds, "CRDS_DIR", tmp_path)
    crds.known.cache_clear()
    crds._validator.cache_clear()
    try:
        assert crds.problems(schedule(schedule="y", template={"hooks": {"anything": {"goes": True}}})) == []
        (problem,) = crds.problems(schedule(schedule="y", ttll="1h"))
        assert problem.startswith("spec: Additional properties are not allowed ('ttll' was unexpected)")
        assert crds.problems(schedule(ttl="1h")) == ["spec: 'schedule' is a required property"]
        assert crds.problems(schedule(schedule=5)) == ["spec.schedule: 5 is not of type 'string'"]
    finally:
        crds.known.cache_clear()
        crds._validator.cache_clear()


def test_the_command_names_the_kind_to_pick_from_a_file_of_several(tmp_path):
    path = tmp_path / "crds.yaml"
    path.write_text(yaml.safe_dump_all([CRD, CRD]))
    options = ["--repository", "r/r", "--tag", "t", "--commit", "c", "--path", "p"]
    result = CliRunner().invoke(app, ["derive", "--crd", str(path), *options])
    assert result.exit_code == 2
    assert "2 CRDs match; name one with --kind" in result.stderr


@pytest.mark.parametrize("stack", stack_names())
def test_every_custom_resource_kind_of_every_stack_has_a_derived_schema_with_its_source(stack):
    for manifest in objects(stack_plan(stack)):
        group, version = crds.group_version(manifest["apiVersion"])
        if "." not in group or group.endswith(".k8s.io"):
            continue
        crd = crds.known()[(group, manifest["kind"])]
        assert version in crd.schemas
        assert len(crd.source["commit"]) == 40 and crd.source["tag"] and crd.source["path"]


# --- the emulated cluster: a custom resource needs its kind to exist ------------------------------------


def _custom_resource_after(maker: str | None) -> None:
    """A cluster, and a custom resource that waits for ``maker``: Istio's base chart, a ConstraintTemplate
    of the constraint's kind, one of another kind, or nothing."""
    cluster, *_ = bare_cluster()
    provider = deploy_provider(cluster)
    on_cluster = pulumi.ResourceOptions(provider=provider)
    waits: list[pulumi.Resource] = []
    if maker == "istio-base":
        waits.append(k8s.helm.v3.Release("base", chart="base", version="1.28.0", opts=on_cluster))
    if maker in {"template", "other template"}:
        kind = "K8sRequiredLabels" if maker == "template" else "K8sAllowedRepos"
        waits.append(
            k8s.apiextensions.CustomResource(
                "template",
                api_version="templates.gatekeeper.sh/v1",
                kind="ConstraintTemplate",
                metadata={"name": kind.lower()},
                spec={"crd": {"spec": {"names": {"kind": kind}}}, "targets": []},
                opts=pulumi.ResourceOptions(
                    provider=provider,
                    depends_on=[k8s.helm.v3.Release("gatekeeper", chart="gatekeeper", opts=on_cluster)],
                ),
            )
        )
    after = pulumi.ResourceOptions(provider=provider, depends_on=waits)
    if maker in {"template", "other template"}:
        k8s.apiextensions.CustomResource(
            "labels",
            api_version="constraints.gatekeeper.sh/v1beta1",
            kind="K8sRequiredLabels",
            metadata={"name": "labels"},
            spec={"enforcementAction": "deny"},
            opts=after,
        )
    else:
        k8s.apiextensions.CustomResource(
            "mtls",
            api_version="security.istio.io/v1",
            kind="PeerAuthentication",
            metadata={"name": "default", "namespace": "istio-system"},
            spec={"mtls": {"mode": "STRICT"}},
            opts=after,
        )


def test_a_custom_resource_that_does_not_wait_for_its_crd_gets_no_matches_for_kind():
    with pytest.raises(EmulationError, match=r'no matches for kind "PeerAuthentication" in version'):
        run_under_mocks(lambda: _custom_resource_after(None), {}, "dev", account=DEPLOYER)
    resources, _ = run_under_mocks(lambda: _custom_resource_after("istio-base"), {}, "dev", account=DEPLOYER)
    assert any(r.inputs.get("kind") == "PeerAuthentication" for r in resources)


def test_a_constraint_needs_the_template_of_its_own_kind():
    with pytest.raises(EmulationError, match=r"no ConstraintTemplate whose CRD names it K8sRequiredLabels"):
        run_under_mocks(lambda: _custom_resource_after("other template"), {}, "dev", account=DEPLOYER)
    resources, _ = run_under_mocks(lambda: _custom_resource_after("template"), {}, "dev", account=DEPLOYER)
    assert any(r.inputs.get("kind") == "K8sRequiredLabels" for r in resources)
