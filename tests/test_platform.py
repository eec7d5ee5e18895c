"""Properties of the whole platform that no single component owns."""

from __future__ import annotations

import importlib
import inspect

import pytest

from offline.runner import RecordedResource
from tests.conftest import stack_plan
from tests.plans import stack_names


def accepts_tags(resource: RecordedResource) -> bool:
    """Whether the provider's resource class takes ``tags`` (read from the SDK, not from a list of ours)."""
    module, _, name = resource.type.split(":", 1)[1].partition(":")
    sdk = importlib.import_module(f"pulumi_aws.{module.split('/')[0]}")
    return "tags" in inspect.signature(getattr(sdk, name)._internal_init).parameters


@pytest.mark.parametrize("stack", stack_names())
def test_every_aws_resource_that_takes_tags_carries_the_stack_s(stack: str) -> None:
    plan = stack_plan(stack)
    taggable = [r for r in plan.resources if r.custom and r.type.startswith("aws:") and accepts_tags(r)]
    assert len(taggable) > 50
    untagged = [r.name for r in taggable if not r.inputs.get("tags")]
    assert untagged == []
    wrong = [r.name for r in taggable if r.inputs["tags"].get("Stack") != stack]
    assert wrong == []
