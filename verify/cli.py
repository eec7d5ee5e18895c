"""``python -m verify``: check a stack's AWS account against the stack's config.

``check``, after ``pulumi up``: does the account hold what the config says? ``preflight``, before it:
does the account offer what the config asks for (classes, versions, zones, quotas, free names)?

Exit codes: 0 nothing failed (preflight's warnings pass); 1 a check failed (the account differs from
the config, or cannot take it); 2 verify could not look: an unknown stack, a missing or invalid stack
file or config, an unreadable or incomplete outputs file, or an AWS error other than a missing
resource (no credentials, access denied). A pipeline can so tell a failed check from one that never ran.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import boto3
import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table

from components.config import ConfigError, StackConfig
from verify import preflight_facts
from verify.checks import Check, evaluate
from verify.facts import gather
from verify.inputs import InputError, data_tier_identifier, load_config, load_config_file, read_outputs
from verify.preflight import Finding
from verify.preflight import evaluate as evaluate_preflight

EXIT_FAILED = 1
EXIT_UNUSABLE = 2

app = typer.Typer(
    help="Check a stack's AWS account against the stack's config.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)


@app.callback()
def main() -> None:
    """Checks of the live AWS account against a stack's config."""


def _fail(problem: object) -> NoReturn:
    err.print(f"[red]{problem}[/red]", highlight=False)
    raise typer.Exit(EXIT_UNUSABLE)


def _table(title: str, caption: str, *columns: str) -> Table:
    table = Table(title=title, caption=caption)
    for index, column in enumerate(columns):
        # The name and the result stay on one line; the prose wraps.
        table.add_column(column, no_wrap=index < 2)
    return table


def _title(stack: str, region: str | None) -> str:
    return f"Stack {stack} in {region or 'the default region'}"


def report(stack: str, region: str | None, checks: Sequence[Check]) -> Table:
    failed = sum(not check.ok for check in checks)
    caption = f"{failed} of {len(checks)} checks failed" if failed else f"all {len(checks)} checks passed"
    table = _table(_title(stack, region), caption, "check", "result", "detail")
    for check in checks:
        result = "[green]pass[/green]" if check.ok else "[bold red]FAIL[/bold red]"
        table.add_row(check.name, result, check.detail)
    return table


_STATUS = {
    "PASS": "[green]PASS[/green]",
    "WARN": "[yellow]WARN[/yellow]",
    "FAIL": "[bold red]FAIL[/bold red]",
}


def preflight_report(stack: str, region: str, findings: Sequence[Finding]) -> Table:
    failed = sum(finding.status == "FAIL" for finding in findings)
    warned = sum(finding.status == "WARN" for finding in findings)
    caption = f"{failed} of {len(findings)} checks failed" if failed else f"all {len(findings)} checks passed"
    if warned:
        caption += f", {warned} with a warning"
    table = _table(f"Preflight: {_title(stack, region)}", caption, "check", "result", "detail", "fix")
    for finding in findings:
        table.add_row(finding.name, _STATUS[finding.status], finding.detail, finding.fix)
    return table


def _print_json(stack: str, region: str | None, ok: bool, checks: list[dict[str, Any]]) -> None:
    typer.echo(json.dumps({"stack": stack, "region": region, "ok": ok, "checks": checks}, indent=2))


@app.command()
def check(
    stack: Annotated[str, typer.Option("--stack", "-s", help="The stack: reads Pulumi.<NAME>.yaml.")],
    outputs: Annotated[
        Path, typer.Option("--outputs", "-o", help="The file `pulumi stack output --json` wrote.")
    ],
    region: Annotated[
        str | None,
        typer.Option(help="AWS region. Default: the outputs' region, else the stack's aws:region."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Check that the account holds what the stack's config says: the VPC, the cluster and its node
    groups, the database, the cache and who may reach them."""
    try:
        config = load_config(stack)
        stack_outputs = read_outputs(outputs)
    except (InputError, ConfigError) as problem:
        _fail(problem)
    region = region or stack_outputs.region or config.region
    try:
        facts = gather(boto3.Session(region_name=region), stack_outputs, data_tier_identifier(config))
    except (BotoCoreError, ClientError) as problem:
        _fail(f"cannot read the account: {problem}")
    checks = evaluate(config, stack_outputs, facts)
    passed = all(check.ok for check in checks)
    if as_json:
        _print_json(stack, region, passed, [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks])
    else:
        Console().print(report(stack, region, checks))
    if not passed:
        raise typer.Exit(EXIT_FAILED)


def _preflight_config(stack: str | None, config_file: Path | None) -> StackConfig:
    try:
        if stack is not None and config_file is None:
            return load_config(stack)
        if config_file is not None and stack is None:
            return load_config_file(config_file)
    except (InputError, ConfigError) as problem:
        _fail(problem)
    _fail("give exactly one of --stack NAME or --config-file PATH")


@app.command()
def preflight(
    stack: Annotated[
        str | None,
        typer.Option("--stack", "-s", help="The stack: reads Pulumi.<NAME>.yaml.", show_default=False),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config-file",
            "-c",
            help="A Pulumi.<stack>.yaml-shaped file to check instead.",
            show_default=False,
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(help="AWS region. Default: the stack's aws:region, else the AWS default chain's."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Before `pulumi up`, ask the account, read-only, what only it knows: orderable database and cache
    classes, EKS and add-on versions, the zones and their instance types, quotas, names still free."""
    config = _preflight_config(stack, config_file)
    session = boto3.Session(region_name=region or config.region)
    if not session.region_name:
        _fail("no region: pass --region, or set aws:region in the stack's config")
    try:
        facts = preflight_facts.gather(session, config)
    except (BotoCoreError, ClientError) as problem:
        _fail(f"cannot read the account: {problem}")
    findings = evaluate_preflight(config, session.region_name, facts, datetime.now(UTC).date())
    passed = all(finding.status != "FAIL" for finding in findings)
    if as_json:
        _print_json(config.stack, session.region_name, passed, [dataclasses.asdict(f) for f in findings])
    else:
        Console().print(preflight_report(config.stack, session.region_name, findings))
    if not passed:
        raise typer.Exit(EXIT_FAILED)
