"""``python -m verify check``: after ``pulumi up``, check the live account against the stack's config.

Exit codes: 0 every check passed; 1 a check failed (the account differs from the config); 2 verify
could not look: an unknown stack, an invalid config, an unreadable or incomplete outputs file, or an
AWS error other than a missing resource (no credentials, access denied). A pipeline can so tell
drift from a verify that never ran.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, NoReturn

import boto3
import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table

from components.config import ConfigError
from verify.checks import Check, evaluate
from verify.facts import gather
from verify.inputs import InputError, data_tier_identifier, load_config, read_outputs

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


def report(stack: str, region: str | None, checks: Sequence[Check]) -> Table:
    failed = sum(not check.ok for check in checks)
    table = Table(
        title=f"Stack {stack} in {region or 'the default region'}",
        caption=f"{failed} of {len(checks)} checks failed" if failed else f"all {len(checks)} checks passed",
    )
    table.add_column("check", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("detail")
    for check in checks:
        result = "[green]pass[/green]" if check.ok else "[bold red]FAIL[/bold red]"
        table.add_row(check.name, result, check.detail)
    return table


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
        document = {
            "stack": stack,
            "region": region,
            "ok": passed,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
        }
        typer.echo(json.dumps(document, indent=2))
    else:
        Console().print(report(stack, region, checks))
    if not passed:
        raise typer.Exit(EXIT_FAILED)
