"""The human-readable preview: what a person reads must be the values themselves."""

from __future__ import annotations

import dataclasses
import io

from rich.console import Console

from offline.render import outputs_table, resource_tree
from tests.conftest import stack_plan
from tests.plans import edited, resource


def printed(renderable: object) -> str:
    console = Console(width=400, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_outputs_are_printed_verbatim_not_as_markup_or_emoji_codes() -> None:
    """An ARN like ``...:secret:name`` once printed as an emoji, and ``[bold]`` would vanish as markup."""
    plan = stack_plan("dev")
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-abc"
    odd = dataclasses.replace(plan, outputs={"secretArn": arn, "label": "[bold]x[/bold] :smile:"})
    text = printed(outputs_table(odd))
    assert arn in text
    assert "[bold]x[/bold] :smile:" in text


def test_resource_names_and_inputs_are_printed_verbatim() -> None:
    plan = stack_plan("dev")
    odd = resource(plan, "aws:ec2/vpc:Vpc", "vpc-:secret:-[red]x[/red]", {"cidrBlock": "10.0.0.0/16"})
    text = printed(resource_tree(edited(plan, add=[odd])))
    assert "vpc-:secret:-[red]x[/red]" in text
