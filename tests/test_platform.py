"""Properties of the whole platform that no single component owns."""

from __future__ import annotations

import pytest

from tests.conftest import stack_plan
from tests.plans import sdk_takes_tags, stack_names


@pytest.mark.parametrize("stack", stack_names())
def test_every_aws_resource_that_takes_tags_carries_the_stack_s(stack: str) -> None:
    plan = stack_plan(stack)
    taggable = [
        r for r in plan.resources if r.custom and r.type.startswith("aws:") and sdk_takes_tags(r.type)
    ]
    assert len(taggable) > 50
    untagged = [r.name for r in taggable if not r.inputs.get("tags")]
    assert untagged == []
    wrong = [r.name for r in taggable if r.inputs["tags"].get("Stack") != stack]
    assert wrong == []
