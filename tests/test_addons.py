"""What holds for every add-on at once: dev's switches, the pins, where their pods run."""

from __future__ import annotations

import pytest

from components.addons.charts import CHARTS
from components.config import AddonsConfig
from offline.runner import Plan
from tests.conftest import stack_plan
from tests.plans import DEV_ADDONS_OFF, dev_with_its_addons_on

RELEASE = "kubernetes:helm.sh/v3:Release"
COMPONENTS = {
    "monitoring": "platform:index:Monitoring",
    "tracing": "platform:index:Tracing",
    "alarms": "platform:index:Alarms",
    "velero": "platform:index:Velero",
    "gatekeeper": "platform:index:Gatekeeper",
    "rollouts": "platform:index:Rollouts",
    "vpa": "platform:index:Vpa",
    "certManager": "platform:index:CertManager",
}
"""Each add-on's key under platform:addons -> its component's type."""


def test_every_add_on_of_the_config_has_a_component() -> None:
    keys = {field.alias or name for name, field in AddonsConfig.model_fields.items()}
    assert keys == set(COMPONENTS)


def ancestors(plan: Plan, urn: str) -> set[str]:
    by_urn = {r.urn: r for r in plan.resources}
    found: set[str] = set()
    parent = by_urn[urn].parent
    while parent is not None and parent in by_urn:
        found.add(parent)
        parent = by_urn[parent].parent
    return found


@pytest.mark.slow
def test_dev_turns_add_ons_off_and_its_plan_shrinks_by_exactly_their_components() -> None:
    dev = stack_plan("dev")
    on = dev_with_its_addons_on()
    for key in DEV_ADDONS_OFF:
        assert not dev.of_type(COMPONENTS[key]), f"dev runs {key}"
        assert len(on.of_type(COMPONENTS[key])) == 1, f"{key} turned on makes its component"
    # Gatekeeper stays on in dev, reporting only.
    assert dev.of_type(COMPONENTS["gatekeeper"])
    assert dev.config.addons.gatekeeper.enforcement_action == "dryrun"
    # Turning them on adds their components' resources and nothing else; it removes nothing.
    before = {r.urn for r in dev.resources}
    components = {r.urn for key in DEV_ADDONS_OFF for r in on.of_type(COMPONENTS[key])}
    added = [r for r in on.resources if r.urn not in before]
    assert added and len(on.resources) == len(dev.resources) + len(added)
    assert before <= {r.urn for r in on.resources}
    stray = [r.urn for r in added if r.urn not in components and not ancestors(on, r.urn) & components]
    assert stray == []


@pytest.mark.slow
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_add_on_release_is_its_pinned_chart_on_the_general_nodes(stack: str) -> None:
    plan = stack_plan(stack)
    addons = {r.urn for r in plan.of_type("platform:index:Addons")}
    releases = [r for r in plan.of_type(RELEASE) if ancestors(plan, r.urn) & addons]
    assert releases, "the add-ons install their charts"
    for release in releases:
        pin = CHARTS[release.inputs["chart"]]
        assert release.inputs["version"] == pin.version
        assert release.inputs["repositoryOpts"]["repo"] == pin.repository
    charts = {r.inputs["chart"] for r in releases}
    expected = {"gatekeeper"} if stack == "dev" else set(CHARTS) - {"cert-manager"}
    assert charts == expected
