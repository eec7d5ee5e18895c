"""The policy pack's rules over an offline plan: every recorded resource, with the plan's stack.

The rules (``policy/rules.py``) are the functions ``pulumi preview --policy-pack policy`` runs, and they
read what the pack hands them there, secrets in the clear: a resource rule gets each resource's recorded
inputs (the engine's ``Analyze`` gets inputs), a stack rule every resource's recorded state, the inputs
plus what the emulated account answered (the engine's ``AnalyzeStack`` gets outputs, which for the AWS
provider are the inputs plus what AWS computed), with its recorded dependencies. A plan holds no unknown
values, so the stack rules' fallbacks for unknowns do not come into play here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from offline.runner import Plan, Secret
from policy.rules import RULES, AnyRule, Enforcement, StackResource, StackRule


@dataclass(frozen=True)
class Violation:
    """One message of one rule about one resource."""

    rule: str
    enforcement: Enforcement
    urn: str
    name: str
    type: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {
            "rule": self.rule,
            "enforcement": self.enforcement.value,
            "urn": self.urn,
            "name": self.name,
            "type": self.type,
            "message": self.message,
        }


@dataclass(frozen=True)
class PolicyResult:
    """The rules checked over one stack's plan, and what they found."""

    stack: str
    rules: tuple[AnyRule, ...]
    violations: tuple[Violation, ...]

    @property
    def mandatory(self) -> list[Violation]:
        """The violations that fail a preview."""
        return [v for v in self.violations if v.enforcement is Enforcement.MANDATORY]

    @property
    def advisory(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement is Enforcement.ADVISORY]

    @property
    def passed(self) -> bool:
        """No mandatory rule is violated (advisory ones may be)."""
        return not self.mandatory

    def headline(self) -> str:
        """``18 rules, no violations`` or ``18 rules: 2 mandatory violations, 1 advisory``."""
        rules = f"{len(self.rules)} rules"
        if not self.violations:
            return f"{rules}, no violations"
        return f"{rules}: {len(self.mandatory)} mandatory violation(s), {len(self.advisory)} advisory"

    def to_json(self) -> dict[str, Any]:
        return {
            "rules": [rule.name for rule in self.rules],
            "passed": self.passed,
            "mandatory": len(self.mandatory),
            "advisory": len(self.advisory),
            "violations": [violation.to_json() for violation in self.violations],
        }


def _in_the_clear(value: Any) -> Any:
    """Recorded inputs with each :class:`Secret` replaced by its value, as a policy pack receives them."""
    if isinstance(value, Secret):
        return _in_the_clear(value.value)
    if isinstance(value, dict):
        return {key: _in_the_clear(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_in_the_clear(item) for item in value]
    return value


def stack_resources(plan: Plan) -> list[StackResource]:
    """The plan's resources as stack rules read them: recorded state in the clear, recorded dependencies."""
    return [
        StackResource(r.type, r.urn, r.name, _in_the_clear(r.state), frozenset(r.dependencies))
        for r in plan.resources
    ]


def check(plan: Plan, rules: Iterable[AnyRule] = RULES) -> PolicyResult:
    """Every rule over ``plan`` for the plan's stack: a resource rule over each resource, a stack rule over
    all of them; violations in rule order, then in the plan's order of resources."""
    rules = tuple(rules)
    inputs = {resource.urn: _in_the_clear(resource.inputs) for resource in plan.resources}
    by_urn = {resource.urn: resource for resource in plan.resources}
    order = {urn: index for index, urn in enumerate(by_urn)}
    stack = stack_resources(plan) if any(isinstance(rule, StackRule) for rule in rules) else []
    violations: list[Violation] = []
    for rule in rules:
        if isinstance(rule, StackRule):
            found = sorted(rule.violations(stack, plan.stack), key=lambda item: order[item[0]])
            violations += (
                Violation(rule.name, rule.enforcement, urn, by_urn[urn].name, by_urn[urn].type, message)
                for urn, message in found
            )
        else:
            violations += (
                Violation(rule.name, rule.enforcement, resource.urn, resource.name, resource.type, message)
                for resource in plan.resources
                for message in rule.violations(resource.type, inputs[resource.urn], plan.stack)
            )
    return PolicyResult(plan.stack, rules, tuple(violations))


def report(result: PolicyResult) -> RenderableType:
    """The results as the CLI prints them: the headline, and a table of violations when there are any.

    Each resource goes by its name here; ``--json`` gives its type and URN too.
    """
    headline = f"policy: {result.headline()}"
    if not result.violations:
        return f"[green]{escape(headline)}[/green]"
    table = Table(title=escape(headline), title_justify="left")
    # Rule names are what a reader searches for, so they never wrap; the long messages fold instead.
    table.add_column("rule", no_wrap=True)
    table.add_column("enforcement", no_wrap=True)
    table.add_column("resource", overflow="fold")
    table.add_column("message", overflow="fold")
    for violation in result.violations:
        style = "red" if violation.enforcement is Enforcement.MANDATORY else "yellow"
        table.add_row(
            escape(violation.rule),
            f"[{style}]{violation.enforcement.value}[/{style}]",
            escape(violation.name),
            escape(violation.message),
        )
    return table
