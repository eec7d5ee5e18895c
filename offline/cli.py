"""``python -m offline``: the platform's Pulumi program, run with no cloud account and no Pulumi CLI.

Exit codes: 0 the plan ran; 1 the emulated account refused a resource or the program failed (or,
for ``manifests``, a Kubernetes object does not match its schema);
2 the stack's file cannot be read as one (missing, not YAML, not a mapping: one line names the file and
why) or its config is invalid (every error printed with its key path); 3 (``preview``) the plan
violates a mandatory rule of the policy pack (``policy/``; advisory rules are printed and pass).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from components.config import ConfigError, StackFileError
from offline import cost as costing
from offline import deploy as deploying
from offline import docs as documentation
from offline import manifests as kubernetes
from offline import policy as policies
from offline import summary as summaries
from offline.diagram import Format, build, render
from offline.emulation import EmulationError
from offline.render import plan_report
from offline.runner import Plan, read_stack_file, run_program, stack_file
from verify.inputs import stack_of

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_POLICY = 3

ECHO_MOCKS = "--echo-mocks"
"""``preview``'s hidden option for the benchmarks' baseline: the same program, no account."""

app = typer.Typer(
    help="The platform's Pulumi program, run offline under mocks backed by an emulated AWS account.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)


@app.callback()
def main() -> None:
    """Plans, policy results and estimates of the platform's stacks, offline."""


StackOption = Annotated[
    str | None,
    typer.Option("--stack", "-s", help="Stack to run: reads Pulumi.<NAME>.yaml.", show_default=False),
]
ConfigFileOption = Annotated[
    Path | None,
    typer.Option(
        "--config-file", "-c", help="A Pulumi.<stack>.yaml-shaped file to run instead.", show_default=False
    ),
]


def _source(stack: str | None, config_file: Path | None) -> tuple[dict[str, str], str]:
    if (stack is None) == (config_file is None):
        raise typer.BadParameter("give exactly one of --stack NAME or --config-file PATH")
    path = stack_file(stack) if stack is not None else config_file
    assert path is not None
    try:
        raw = read_stack_file(path)
    except StackFileError as problem:
        _fail(problem, EXIT_CONFIG)
    return raw, stack if stack is not None else stack_of(path)


def run_plan(stack: str | None, config_file: Path | None, *, emulate: bool = True) -> Plan:
    """The plan of the chosen stack, or a clean exit with the reason (no traceback)."""
    raw, name = _source(stack, config_file)
    try:
        return run_program(raw, name, emulate=emulate)
    except ConfigError as problem:
        _fail(problem, EXIT_CONFIG)
    except EmulationError as problem:
        _fail(problem, EXIT_FAILED, "preview failed: ")


def _fail(problem: Exception, code: int, prefix: str = "") -> NoReturn:
    err.print(f"[red]{prefix}{problem}[/red]", highlight=False)
    raise typer.Exit(code)


@app.command()
def preview(
    stack: StackOption = None,
    config_file: ConfigFileOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan and its policy results as JSON.")
    ] = False,
    echo_mocks: Annotated[
        bool,
        typer.Option(
            ECHO_MOCKS,
            hidden=True,
            help="Benchmarks only: run under mocks that echo their inputs, with no account (its made-up "
            "outputs fail the policy).",
        ),
    ] = False,
) -> None:
    """Run the program for a stack, print what it would create and check it against the policy pack.

    Exits 3 when a mandatory policy rule is violated; advisory violations are printed and pass.
    """
    plan = run_plan(stack, config_file, emulate=not echo_mocks)
    result = policies.check(plan)
    if as_json:
        typer.echo(json.dumps({**plan.to_json(), "policy": result.to_json()}, indent=2, sort_keys=False))
    else:
        Console().print(plan_report(plan), policies.report(result))
    if not result.passed:
        raise typer.Exit(EXIT_POLICY)


JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _estimate(plan: Plan) -> costing.Estimate:
    try:
        return costing.estimate(plan)
    except LookupError as problem:
        _fail(problem, EXIT_FAILED)


@app.command()
def cost(
    stack: StackOption = None,
    config_file: ConfigFileOption = None,
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare",
            help="Another stack (a name, or a stack file) to compare with, per component.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Estimate a stack's monthly cost, line by line, from the resources of its plan."""
    result = _estimate(run_plan(stack, config_file))
    other = None
    if compare is not None:
        other_file = Path(compare)
        other_plan = run_plan(None, other_file) if other_file.is_file() else run_plan(compare, None)
        other = _estimate(other_plan)
    if as_json:
        data = result.to_json()
        if other is not None:
            rows = costing.difference(result.by_component(), other.by_component())
            data["compare"] = {
                "stack": other.stack,
                "components": {
                    name: {"this": round(a, 2), "other": round(b, 2), "difference": round(change, 2)}
                    for name, (a, b, change) in rows.items()
                },
            }
        typer.echo(json.dumps(data, indent=2))
        return
    console = Console()
    console.print(costing.report(result))
    if other is not None:
        console.print(costing.comparison_table(result, other))


@app.command()
def diagram(
    stack: StackOption = None,
    config_file: ConfigFileOption = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Mermaid (for Markdown) or Graphviz DOT.")] = (
        Format.MERMAID
    ),
) -> None:
    """Draw a stack's architecture from the resources of its plan."""
    typer.echo(render(build(run_plan(stack, config_file)), fmt), nl=False)


@app.command()
def manifests(stack: StackOption = None, config_file: ConfigFileOption = None) -> None:
    """Print a stack's Kubernetes objects as YAML, checked against the cluster version's schemas.

    Exits 1 when an object does not match its schema, or a Helm release sets a value its chart does not
    declare (the reasons go to standard error).
    """
    plan = run_plan(stack, config_file)
    manifests = kubernetes.objects(plan)
    helm_releases = kubernetes.releases(plan)
    typer.echo(kubernetes.to_yaml(manifests, helm_releases), nl=False)
    result = kubernetes.validate(manifests, plan.config.cluster.version, helm_releases)
    for problem in result.problems:
        err.print(f"[red]{problem}[/red]", highlight=False, markup=False)
    err.print(
        f"{result.checked} objects checked against Kubernetes {result.version}, {result.custom} custom "
        f"resources against their CRDs, {result.releases} Helm releases' values against their charts: "
        f"{len(result.problems) or 'no'} problems",
        highlight=False,
    )
    if not result.passed:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def docs(
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Only check that docs/config.md and docs/architecture.md are current; exit 1 if not.",
        ),
    ] = False,
) -> None:
    """Write docs/config.md, the configuration reference, from the typed config contract, and the prod
    stack's diagram into docs/architecture.md (between its diagram markers)."""
    plan = run_plan(documentation.DIAGRAM_STACK, None)
    if check:
        stale = []
        if not (
            documentation.DOCS_FILE.is_file()
            and documentation.DOCS_FILE.read_text() == documentation.render()
        ):
            stale.append("docs/config.md")
        if not documentation.architecture_is_current(plan):
            stale.append("docs/architecture.md")
        for page in stale:
            err.print(f"{page} is stale: run `make docs`", highlight=False)
        if stale:
            raise typer.Exit(EXIT_FAILED)
        typer.echo("docs/config.md and docs/architecture.md are current")
        return
    changed = documentation.write()
    typer.echo(f"docs/config.md {'written' if changed else 'unchanged'}")
    try:
        changed = documentation.write_architecture(plan)
    except (OSError, ValueError) as problem:
        _fail(problem, EXIT_FAILED, "docs/architecture.md: ")
    typer.echo(f"docs/architecture.md {'written' if changed else 'unchanged'}")


@app.command(name="deploy-settings")
def deploy_settings(
    stack: StackOption = None,
    config_file: ConfigFileOption = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Append to this file (e.g. $GITHUB_OUTPUT) instead of printing."),
    ] = None,
) -> None:
    """What CI needs to deploy a stack, as GitHub step outputs: role_arn, preview_role_arn (its
    platform:deploy), runner_label (the runs-on of its in-VPC runner) and bootstrap_exclude (the URNs a
    first deploy from outside the VPC passes to --exclude, with --exclude-dependents).
    """
    text = deploying.github_output(deploying.settings(run_plan(stack, config_file)))
    if output is None:
        typer.echo(text, nl=False)
    else:
        with output.open("a") as stream:
            stream.write(text)


@app.command()
def summary(
    stacks: Annotated[
        list[str], typer.Option("--stack", "-s", help="A stack to summarise; repeat for several.")
    ],
    base_ref: Annotated[
        str | None,
        typer.Option(
            "--base-ref",
            help="A git ref (the pull request's base): its own cost command gives the figures to compare.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Append to this file (e.g. $GITHUB_STEP_SUMMARY) instead of printing."
        ),
    ] = None,
) -> None:
    """The pull-request summary in Markdown: per stack, resources, policy, cost (against a base), diagram.

    Exits 2 when a stack's file or config is invalid, else 1 when a stack's preview fails; that stack's
    section then says why, and the others still appear.
    """
    bases = summaries.base_costs(base_ref, stacks) if base_ref else {}
    sections = [summaries.HEADER]
    code = 0
    for stack in stacks:
        try:
            plan = run_program(read_stack_file(stack_file(stack)), stack)
            sections.append(summaries.stack_summary(plan, bases.get(stack)))
        except (StackFileError, ConfigError) as problem:
            sections.append(summaries.failed_stack(stack, problem))
            err.print(str(problem).splitlines()[0], markup=False, highlight=False)
            code = EXIT_CONFIG
        except (EmulationError, LookupError, OSError, ValueError) as problem:
            sections.append(summaries.failed_stack(stack, problem))
            code = code or EXIT_FAILED
    text = "\n".join(sections)
    if output is None:
        typer.echo(text, nl=False)
    else:
        with output.open("a") as stream:
            stream.write(text)
    if code:
        raise typer.Exit(code)
