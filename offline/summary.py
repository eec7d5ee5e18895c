"""The pull request's summary (Markdown, for ``$GITHUB_STEP_SUMMARY``), made offline and with no secrets.

Per stack: the resources by component, the policy results, the cost estimate and its change against
the base branch, and the diagram. The base branch's estimate comes from running *its own* cost
command in a git worktree, so a base that predates the command (or fails) only loses the comparison.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from offline import policy as policies
from offline.cost import Estimate, components_of, difference, estimate, money
from offline.diagram import build, mermaid
from offline.runner import PROJECT_DIR, Plan
from policy.rules import AnyRule, StackRule

BASE_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class BaseCost:
    """The base branch's estimate of one stack: its monthly cost per component, or why there is none."""

    ref: str
    components: Mapping[str, float] | None
    note: str = ""


# --- the base branch ------------------------------------------------------------------------------------


def base_costs(ref: str, stacks: Iterable[str], *, repo: Path = PROJECT_DIR) -> dict[str, BaseCost]:
    """Each stack's estimate at ``ref``: ``python -m offline cost --json`` run in a worktree of ``ref``.

    Never raises for the base's sake: a ref that does not resolve, a base without the cost command,
    or one whose command fails gives a :class:`BaseCost` with a note instead of figures.
    """
    stacks = list(stacks)
    with tempfile.TemporaryDirectory(prefix="offline-base-") as scratch:
        tree = Path(scratch) / "base"
        added = _git(repo, "worktree", "add", "--detach", str(tree), ref)
        if added.returncode != 0:
            note = f"could not check out {ref}: {_last_line(added.stderr)}"
            return {stack: BaseCost(ref, None, note) for stack in stacks}
        try:
            return {stack: _base_cost(tree, ref, stack) for stack in stacks}
        finally:
            _git(repo, "worktree", "remove", "--force", str(tree))


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def _base_cost(tree: Path, ref: str, stack: str) -> BaseCost:
    try:
        run = subprocess.run(
            [sys.executable, "-m", "offline", "cost", "--stack", stack, "--json"],
            cwd=tree,
            capture_output=True,
            text=True,
            timeout=BASE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return BaseCost(ref, None, f"the base's cost command took over {BASE_TIMEOUT_SECONDS} s")
    if run.returncode != 0:
        return BaseCost(ref, None, f"the base's cost command failed: {_last_line(run.stderr)}")
    try:
        components = json.loads(run.stdout)["components"]
    except (ValueError, KeyError, TypeError):
        return BaseCost(ref, None, "the base's cost command printed no estimate")
    return BaseCost(ref, {str(name): float(value) for name, value in components.items()})


# --- the sections ---------------------------------------------------------------------------------------


def _cell(text: object) -> str:
    # GitHub drops what reads as an HTML tag (kubernetes.io/cluster/<name>), so "<" is written as an entity.
    return str(text).replace("|", "\\|").replace("<", "&lt;")


def _table(header: Iterable[str], rows: Iterable[Iterable[object]], *, text_columns: int = 1) -> str:
    """A Markdown table: the first ``text_columns`` aligned left, the figures after them right."""
    header = list(header)
    rule = "|".join("---" if i < text_columns else "---:" for i in range(len(header)))
    lines = ["| " + " | ".join(header) + " |", f"|{rule}|"]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def resource_counts(plan: Plan) -> dict[str, int]:
    """Cloud and Kubernetes resources (not components) per top-level component."""
    component = components_of(plan)
    return dict(Counter(component[r.urn] for r in plan.resources if r.custom))


def counts_section(plan: Plan) -> str:
    counts = resource_counts(plan)
    rows = [*sorted(counts.items()), ("**total**", f"**{sum(counts.values())}**")]
    return "### Resources\n\n" + _table(["component", "resources"], rows)


def _scope(rule: AnyRule) -> str:
    return "the stack" if isinstance(rule, StackRule) else "each resource"


def policy_section(plan: Plan) -> str:
    """The policy pack's rules over ``plan``: each violation (or that there are none), the rules checked."""
    result = policies.check(plan)
    if result.violations:
        findings = _table(
            ["rule", "enforcement", "resource", "type", "message"],
            ((v.rule, v.enforcement.value, v.name, v.type, v.message) for v in result.violations),
            text_columns=5,
        )
        if result.mandatory:
            findings += "\n\nA mandatory violation fails the preview (`python -m offline preview` exits 3)."
    else:
        findings = "No violations: every resource passes every rule."
    rules = _table(
        ["rule", "enforcement", "checks", "what it asks"],
        ((rule.name, rule.enforcement.value, _scope(rule), rule.description) for rule in result.rules),
        text_columns=4,
    )
    checked = f"<details><summary>{len(result.rules)} rules checked</summary>\n\n{rules}\n\n</details>"
    return f"### Policy: {result.headline()}\n\n{findings}\n\n{checked}"


def cost_section(result: Estimate, base: BaseCost | None) -> str:
    prices = result.prices
    heading = (
        f"### Cost estimate: {money(result.total)} {prices.currency}/month\n\n"
        f"{prices.region}, on demand, {prices.hours_per_month:g} hours a month; "
        f"prices: {prices.source}, taken {prices.taken}."
    )
    mine = result.by_component()
    if base is not None and base.components is not None:
        table = _table(
            ["component", "this branch", f"base ({base.ref})", "difference"],
            (
                (name, money(this), money(other), money(change, signed=True))
                for name, (this, other, change) in difference(mine, base.components).items()
            ),
        )
    else:
        totals = [*mine.items(), ("total", result.total)]
        table = _table(["component", "monthly"], ((name, money(value)) for name, value in totals))
        if base is not None:
            table += f"\n\nNo comparison with {base.ref}: {base.note}."
    lines = _table(
        ["component", "item", "quantity", "unit price", "monthly"],
        (
            (
                line.component,
                line.item,
                f"{line.quantity:,g} {line.unit}",
                f"{line.unit_price:g}",
                money(line.monthly),
            )
            for line in result.lines
        ),
        text_columns=2,
    )
    parts = [
        heading,
        table,
        f"<details><summary>{len(result.lines)} line items</summary>\n\n{lines}\n\n</details>",
    ]
    if result.unpriced:
        unpriced = _table(
            ["component", "resource", "type", "reason"],
            ((u.component, u.resource, u.type, u.reason) for u in result.unpriced),
            text_columns=4,
        )
        parts.append(f"**Unpriced, not in the total:**\n\n{unpriced}")
    return "\n\n".join(parts)


def diagram_section(plan: Plan) -> str:
    return f"### Diagram\n\n```mermaid\n{mermaid(build(plan))}```"


def stack_summary(plan: Plan, base: BaseCost | None = None) -> str:
    sections = [
        f"## Stack `{plan.stack}`",
        counts_section(plan),
        policy_section(plan),
        cost_section(estimate(plan), base),
        diagram_section(plan),
    ]
    return "\n\n".join(sections) + "\n"


def failed_stack(stack: str, problem: Exception) -> str:
    return f"## Stack `{stack}`\n\n**The offline preview failed:**\n\n```\n{problem}\n```\n"


HEADER = (
    "# Offline preview\n\n"
    "The real program under mocks backed by an emulated AWS account: no cloud account and no secrets, "
    "so it runs for pull requests from forks too.\n"
)
