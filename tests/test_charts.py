"""The Helm values of every release checked against the paths its chart declares (:mod:`offline.charts`),
and the derived files (``python -m offline.charts derive``)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from components.addons.charts import CHARTS
from offline import charts, cli
from offline.charts.__main__ import app
from offline.manifests import releases
from offline.runner import Plan
from tests.conftest import stack_plan
from tests.plans import edited, run_with, stack_names
from tests.test_vpa_and_certificates import CERT_MANAGER

"""Bare git mirrors of the charts' repositories, as ``<owner>+<name>/repo``."""


def _plans() -> list[tuple[str, Plan]]:
    return [(stack, stack_plan(stack)) for stack in stack_names()]


def _release(stack: str, chart: str) -> dict[str, Any]:
    return copy.deepcopy(next(r for r in releases(stack_plan(stack)) if r["chart"] == chart))


def test_every_release_of_every_plan_sets_only_values_its_chart_declares():
    checked = set()
    for name, plan in _plans():
        for release in releases(plan):
            assert charts.problems(release) == [], name
            checked.add(release["chart"])
    assert {"istiod", "kube-prometheus-stack", "velero", "metrics-server"} <= checked


@pytest.mark.slow
def test_cert_manager_s_release_sets_only_values_its_chart_declares():
    """cert-manager is off in every stack: prod with it on."""
    plan = run_with("prod", "addons", certManager=CERT_MANAGER)
    (release,) = [r for r in releases(plan) if r["chart"] == "cert-manager"]
    assert charts.problems(release) == []


def test_a_misspelt_value_is_reported_with_its_path():
    release = _release("prod", "metrics-server")
    release["values"]["replica"] = release["values"].pop("replicas")
    assert charts.problems(release) == [
        "Release kube-system/metrics-server (chart metrics-server 3.13.1): value 'replica' is not declared "
        "by the chart (Helm ignores it)"
    ]


def test_a_misspelt_value_of_a_sub_chart_is_reported_under_its_key():
    release = _release("prod", "kube-prometheus-stack")
    grafana = release["values"]["grafana"]
    grafana["persistance"] = {"enabled": True}
    (problem,) = charts.problems(release)
    assert "value 'grafana.persistance.enabled' is not declared by the chart" in problem


def test_a_key_a_closed_schema_does_not_list_is_refused():
    release = _release("prod", "opentelemetry-collector")
    release["values"]["resources"]["limit"] = release["values"]["resources"].pop("limits")
    problems = charts.problems(release)
    assert problems and all("is refused by the chart's values.schema.json" in p for p in problems)
    assert "value 'resources.limit.memory'" in problems[0]


def test_a_value_under_an_open_map_passes():
    release = _release("prod", "metrics-server")
    release["values"]["podAnnotations"] = {"example.com/anything": {"nested": "yes"}}
    release["values"]["resources"] = {"requests": {"cpu": "100m"}, "whatever": 1}
    assert charts.problems(release) == []


def test_a_chart_version_without_a_derived_file_is_a_problem():
    release = _release("dev", "metrics-server")
    release["version"] = "3.0.0"
    assert charts.problems(release) == [
        "Release kube-system/metrics-server (chart metrics-server 3.0.0): no derived values for chart "
        "metrics-server version 3.0.0: run python -m offline.charts derive"
    ]


def test_every_derived_file_names_its_source_commit_and_every_pin_has_one():
    for derived in charts.known().values():
        sources = [derived.source, *_subcharts(derived.path).values()]
        for source in sources:
            assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]), derived.path.name
            assert source["repository"] and source["tag"] and source["path"]
    pinned = {(r["chart"], r["version"]) for _, plan in _plans() for r in releases(plan)}
    # cert-manager is off in every stack; its pin is the one in CHARTS.
    pinned.add(("cert-manager", CHARTS["cert-manager"].version))
    assert pinned == set(charts.known())


def _subcharts(path: Path) -> dict[str, dict[str, str]]:
    return dict(json.loads(path.read_text())["subcharts"])


def test_the_derived_lists_are_sorted_and_hold_nothing_under_an_open_path():
    for path in charts.CHARTS_DIR.glob("*.json"):
        data = json.loads(path.read_text())
        for key in ("declared", "open", "closed"):
            assert data[key] == sorted(data[key]), (path.name, key)
        opened = set(data["open"])
        for dotted in data["declared"] + data["open"]:
            parts = dotted.split(".")
            assert not any(".".join(parts[:d]) in opened for d in range(1, len(parts))), dotted


def test_template_references_are_read_through_with_blocks_and_index():
    read = charts.template_paths(
        "{{- with .Values.server }}{{ .port }}{{ toYaml .extra }}{{ end }}"
        '{{ (index .Values "sub-chart" "enabled") }}{{ $.Values.a.b }}'
        "{{ range .Values.items }}{{ .x }}{{ end }}"
    )
    assert {("server", "port"), ("server", "extra"), ("sub-chart", "enabled"), ("a", "b")} <= read.declared
    assert read.open == {("server", "extra"), ("items",)}


def _chart_repository(root: Path) -> Path:
    """A bare git repository holding one small chart at tag demo-0.1.0: what a chart's mirror looks like."""
    work = root / "work"
    chart = work / "charts" / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text(
        "replicaCount: 1\nimage:\n  repository: demo\n  tag: ''\npodAnnotations: {}\n"
    )
    (chart / "templates" / "deployment.yaml").write_text(
        "replicas: {{ .Values.replicaCount }}\n"
        "{{- with .Values.service }}\nport: {{ .port }}\n{{- end }}\n"
        "annotations: {{ toYaml .Values.podAnnotations }}\n"
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", str(work)], check=True)
    subprocess.run([*git, "-C", str(work), "add", "."], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-q", "-m", "demo"], check=True)
    subprocess.run([*git, "-C", str(work), "tag", "demo-0.1.0"], check=True)
    bare = root / "acme+charts" / "repo"
    subprocess.run([*git, "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare


def test_the_derive_command_reads_a_chart_at_its_tag_from_a_bare_mirror(tmp_path: Path):
    mirror = _chart_repository(tmp_path)
    out = tmp_path / "demo.json"
    arguments = ["derive", "--repository", str(mirror), "--tag", "demo-0.1.0", "--path", "charts/demo"]
    result = CliRunner().invoke(app, [*arguments, "--out", str(out)])
    assert result.exit_code == 0, result.output
    derived = json.loads(out.read_text())
    commit = subprocess.run(
        ["git", f"--git-dir={mirror}", "rev-parse", "demo-0.1.0^{commit}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert (derived["chart"], derived["version"]) == ("demo", "0.1.0")
    assert derived["source"]["commit"] == commit and derived["source"]["tag"] == "demo-0.1.0"
    assert {"replicaCount", "image.repository", "image.tag", "service.port"} <= set(derived["declared"])
    assert "podAnnotations" in derived["open"]
    # The same tag derives the same file.
    again = tmp_path / "again.json"
    assert CliRunner().invoke(app, [*arguments, "--out", str(again)]).exit_code == 0
    assert again.read_bytes() == out.read_bytes()


def test_the_manifests_command_fails_on_an_undeclared_value(monkeypatch: pytest.MonkeyPatch):
    plan = stack_plan("dev")

    def misspelt(resource):  # type: ignore[no-untyped-def]
        if resource.inputs.get("chart") != "metrics-server":
            return resource
        inputs = copy.deepcopy(resource.inputs)
        inputs["values"]["replica"] = inputs["values"].pop("replicas")
        return type(resource)(**{**resource.__dict__, "inputs": inputs})

    monkeypatch.setattr("offline.cli.run_plan", lambda _stack, _file: edited(plan, change=misspelt))
    result = CliRunner().invoke(cli.app, ["manifests", "--stack", "dev"])
    assert result.exit_code == 1
    assert "(chart metrics-server 3.13.1): value 'replica' is not declared" in result.stderr
