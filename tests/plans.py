"""Plans made to order for the cost and diagram tests: a real stack's plan with resources added or dropped."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
from collections.abc import Callable, Iterable
from typing import Any

from offline.runner import PROJECT_DIR, Plan, RecordedResource
from tests.conftest import raw_stack_config, recorded_plan


def stack_names() -> list[str]:
    """Every stack the repository has a ``Pulumi.<stack>.yaml`` for."""
    return sorted(path.name.split(".")[1] for path in PROJECT_DIR.glob("Pulumi.*.yaml"))


def edited(
    plan: Plan,
    *,
    add: Iterable[RecordedResource] = (),
    drop: Callable[[RecordedResource], bool] = lambda _: False,
    change: Callable[[RecordedResource], RecordedResource] = lambda r: r,
) -> Plan:
    """``plan`` without the resources ``drop`` picks, each other one through ``change``, plus ``add``."""
    kept = [change(r) for r in plan.resources if not drop(r)]
    return dataclasses.replace(plan, resources=[*kept, *add])


def resource(
    plan: Plan, type_token: str, name: str, inputs: dict[str, Any], *, parent: str | None = None
) -> RecordedResource:
    """A resource as the recorder would have it, under ``parent`` (a URN) or at the stack's top."""
    return RecordedResource(
        urn=f"urn:pulumi:{plan.stack}::platform::{type_token}::{name}",
        type=type_token,
        name=name,
        parent=parent,
        custom=True,
        inputs=inputs,
        state={**inputs, "id": f"{name}-id"},
    )


def with_section(stack: str, section: str, **values: Any) -> dict[str, str]:
    """``stack``'s engine config with keys of ``platform:<section>`` set (JSON-encoded as the engine does)."""
    raw = raw_stack_config(stack)
    key = f"platform:{section}"
    raw[key] = json.dumps({**json.loads(raw.get(key, "{}")), **values})
    return raw


def run_with(stack: str, section: str, **values: Any) -> Plan:
    return recorded_plan(with_section(stack, section, **values), stack)


def sdk_takes_tags(type_token: str) -> bool:
    """Whether pulumi_aws's class for an AWS ``type_token`` takes ``tags``: read from the SDK, not a list."""
    module, _, name = type_token.split(":", 1)[1].partition(":")
    sdk = importlib.import_module(f"pulumi_aws.{module.split('/')[0]}")
    return "tags" in inspect.signature(getattr(sdk, name)._internal_init).parameters


DEV_ADDONS_OFF = ("monitoring", "tracing", "alarms", "velero", "rollouts", "vpa")
"""The add-ons dev turns off (Gatekeeper stays, reporting; cert-manager is off everywhere)."""


def dev_with_its_addons_on() -> Plan:
    """dev with every add-on it turns off turned on: one run the add-on tests share."""
    return run_with("dev", "addons", **{key: {"enabled": True} for key in DEV_ADDONS_OFF})
