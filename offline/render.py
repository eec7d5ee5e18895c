"""How a plan reads to a person: a tree by component, counts by type, the stack outputs."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from offline.runner import Plan, RecordedResource, redacted

# The inputs that say most about a resource, shown beside its name in the tree.
_HEADLINE_INPUTS = (
    "cidrBlock",
    "availabilityZone",
    "instanceTypes",
    "instanceClass",
    "nodeType",
    "destinationCidrBlock",
    "serviceName",
    "retentionInDays",
    "trafficType",
)


def _label(resource: RecordedResource) -> Text:
    """Name, type and headline inputs as plain text: names and values are never read as markup or emoji."""
    label = Text(resource.name, style="" if resource.custom else "bold")
    label.append(f" {resource.type}", style="cyan")
    details = [
        f"{key}={redacted(resource.inputs[key])}" for key in _HEADLINE_INPUTS if key in resource.inputs
    ]
    if details:
        label.append(f" {' '.join(details)}", style="dim")
    return label


def resource_tree(plan: Plan) -> Tree:
    """Resources under their components; siblings by type, then name, so the same plan reads the same."""
    children: dict[str | None, list[RecordedResource]] = {}
    for resource in plan.resources:
        children.setdefault(resource.parent, []).append(resource)

    def grow(node: Tree, parent: str | None) -> Tree:
        for child in sorted(children.get(parent, []), key=lambda r: (r.custom, r.type, r.name)):
            grow(node.add(_label(child)), child.urn)
        return node

    return grow(Tree(Text(f"stack {plan.stack}", style="bold")), None)


def type_counts(plan: Plan) -> Table:
    table = Table(title="resources by type", show_footer=True)
    counts = Counter(r.type for r in plan.resources if r.custom)
    table.add_column("type", footer="total")
    table.add_column("count", justify="right", footer=str(sum(counts.values())))
    for type_token, count in sorted(counts.items()):
        table.add_row(type_token, str(count))
    return table


_LONGEST_VALUE = 72


def _show(value: Any) -> str:
    """An output as one readable cell: lists and maps one item a line, long blobs (CA data) cut short."""
    value = redacted(value)
    if isinstance(value, dict):
        return "\n".join(f"{key}: {_show(item)}" for key, item in value.items())
    if isinstance(value, list):
        return "\n".join(_show(item) for item in value)
    text = "" if value is None else str(value)
    return text if len(text) <= _LONGEST_VALUE else f"{text[: _LONGEST_VALUE - 1]}…"


def outputs_table(plan: Plan) -> Table:
    table = Table(title="stack outputs")
    table.add_column("output")
    table.add_column("value", overflow="fold")
    for key, value in sorted(plan.outputs.items()):
        table.add_row(Text(key), Text(_show(value)))
    return table


def plan_report(plan: Plan) -> Group:
    return Group(resource_tree(plan), type_counts(plan), outputs_table(plan))
