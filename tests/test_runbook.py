"""docs/operations.md and docs/architecture.md: every `python -m ...` command they show is a real command of
the project's command-line tools, with real flags.

Each command is run in-process with ``--help`` appended: an unknown module, subcommand or flag fails that
(typer exits 2 with "No such option"), and every flag on the line must appear in the help it prints. A
command written out in a code block is also parsed as written, without ``--help``, so a value a flag does
not take (``--format svg``) or a required option left out fails too. Commands in the prose (inline code,
often without their flags) are run with ``--help`` only.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
import typer.core
import typer.main
from typer.testing import CliRunner

from offline.runner import PROJECT_DIR
from policy import guard

DOCS_DIR = PROJECT_DIR / "docs"
PAGES = ("operations.md", "architecture.md")

TYPER_APPS = {"offline": "offline.cli", "verify": "verify.cli", "offline.crds": "offline.crds.__main__"}
"""Modules whose command line is a typer app: the module that holds ``app``."""
ARGPARSE_PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {"policy.guard": guard._parser}
"""Modules whose command line is an argparse parser: the function that builds it."""

FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`([^`\n]*\bpython -m [^`\n]*)`")
SHELL_ENDS = frozenset({">", ">>", "|", "&&", "||", ";", "2>&1"})
"""Where a command's own arguments end on a shell line."""


@dataclass(frozen=True)
class Command:
    """A ``python -m MODULE ARGS`` a page shows."""

    page: str
    module: str
    args: tuple[str, ...]
    complete: bool
    """Whether it is written out in a code block (so parsed as written), rather than named in prose."""

    def __str__(self) -> str:
        return f"{self.page}: python -m {shlex.join([self.module, *self.args])}"


def parse(line: str, page: str = "-", complete: bool = True) -> Command | None:
    """The ``python -m`` command of a shell line, if it has one (``.venv/bin/python`` and environment
    assignments before it allowed; a redirection, pipe or comment ends it)."""
    tokens = shlex.split(line, comments=True)
    for index, token in enumerate(tokens[:-2]):
        if Path(token).name.startswith("python") and tokens[index + 1] == "-m":
            args: list[str] = []
            for arg in tokens[index + 3 :]:
                if arg in SHELL_ENDS:
                    break
                args.append(arg)
            return Command(page, tokens[index + 2], tuple(args), complete)
    return None


def commands(page: str) -> list[Command]:
    """Every ``python -m`` command of a page: each line of its code blocks, then its inline code."""
    text = (DOCS_DIR / page).read_text()
    found = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            command = parse(line, page)
            if command is not None:
                found.append(command)
    for span in INLINE.findall(FENCE.sub("", text)):
        command = parse(span, page, complete=False)
        if command is not None:
            found.append(command)
    return found


def _flags(args: Sequence[str]) -> list[str]:
    return [arg.split("=", 1)[0] for arg in args if arg.startswith("-") and arg != "-"]


def _unlisted(flags: Sequence[str], help_text: str) -> list[str]:
    return [
        f"{flag} is not in its --help" for flag in flags if not re.search(rf"{re.escape(flag)}\b", help_text)
    ]


def _typer_problems(command: Command) -> list[str]:
    app = importlib.import_module(TYPER_APPS[command.module]).app
    prog = f"python -m {command.module}"
    result = CliRunner().invoke(app, [*command.args, "--help"], prog_name=prog, env={"COLUMNS": "250"})
    if result.exit_code != 0:
        return [f"with --help it exits {result.exit_code}: {' '.join(result.output.split())}"]
    problems = _unlisted(_flags(command.args), result.output)
    if command.complete:
        group = typer.main.get_command(app)
        assert isinstance(group, typer.core.TyperGroup)
        context = group.make_context(prog, list(command.args), resilient_parsing=True)
        name, *rest = command.args or ("",)
        subcommand = group.get_command(context, name)
        if subcommand is None:
            return [*problems, f"no command {name!r}"]
        try:
            subcommand.make_context(name, rest, parent=context)
        except typer.TyperException as problem:
            problems.append(f"as written: {problem}")
    return problems


def _argparse_problems(command: Command) -> list[str]:
    parser = ARGPARSE_PARSERS[command.module]()
    problems = []
    for args, wanted in (([*command.args, "--help"], 0), (list(command.args), None)):
        if wanted is None and not command.complete:
            continue
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                parser.parse_args(args)
                code: object = None
            except SystemExit as done:
                code = done.code
        if code != wanted:
            problems.append(f"{shlex.join(args)}: exit {code}: {' '.join(err.getvalue().split())}")
        if wanted == 0:
            problems += _unlisted(_flags(command.args), out.getvalue())
    return problems


def problems_of(command: Command) -> list[str]:
    """What is wrong with a command as the page shows it; nothing when it is a real command line."""
    if command.module in TYPER_APPS:
        return _typer_problems(command)
    if command.module in ARGPARSE_PARSERS:
        return _argparse_problems(command)
    known = ", ".join(sorted([*TYPER_APPS, *ARGPARSE_PARSERS]))
    return [f"python -m {command.module} is not one of the project's command lines ({known})"]


ALL = [command for page in PAGES for command in commands(page)]


@pytest.mark.parametrize("command", ALL, ids=str)
def test_every_python_m_command_of_the_docs_is_real(command: Command) -> None:
    assert problems_of(command) == [], str(command)


def test_the_pages_are_read_whole() -> None:
    """The extraction finds the commands it should: a multi-line one, one after an output redirection,
    one in prose, and each module the runbook uses."""
    shown = {str(command) for command in ALL}
    assert "operations.md: python -m verify check --stack prod --outputs outputs.json" in shown
    assert (
        "operations.md: python -m policy.guard preview-prod.json --allow platform-database-cluster" in shown
    )
    assert "operations.md: python -m offline deploy-settings --stack dev" in shown
    assert "architecture.md: python -m offline diagram --stack dev --format dot" in shown
    assert any(not command.complete for command in ALL)
    assert {command.module for command in commands("operations.md")} >= {"offline", "verify", "policy.guard"}
    assert parse(
        ".venv/bin/python -m offline preview --stack prod --json > plan.json  # the plan"
    ) == Command("-", "offline", ("preview", "--stack", "prod", "--json"), True)
    assert parse("POLICY_GUARD_ALLOW=all python -m policy.guard \\\n  - ".replace("\\\n", " ")) == Command(
        "-", "policy.guard", ("-",), True
    )
    assert parse("pulumi preview --stack prod --json") is None


@pytest.mark.parametrize(
    "line, wanted",
    [
        ("python -m offline preview --stack prod --jsno", "--jsno"),
        ("python -m offline previeww --stack prod", "previeww"),
        ("python -m verify check --stack prod --output outputs.json", "--output"),
        ("python -m verify preflight --stack prod --regoin us-east-1", "--regoin"),
        ("python -m policy.guard preview.json --alow platform-database-cluster", "--alow"),
        ("python -m policy.guard preview.json --allow-everything", "--allow-everything"),
        ("python -m offline diagram --stack prod --format svg", "svg"),
        ("python -m verify check --stack prod", "Missing parameter: outputs"),
        ("python -m policy.guard --allow-all", "preview"),
        ("python -m offline.cli preview --stack prod", "not one of the project's command lines"),
    ],
)
def test_a_misspelt_or_missing_flag_fails(line: str, wanted: str) -> None:
    command = parse(line)
    assert command is not None
    found = problems_of(command)
    assert found, f"{line} passed"
    assert wanted in " ".join(found)


def test_a_misspelt_flag_fails_in_prose_too() -> None:
    command = parse("python -m verify preflight --jsno", complete=False)
    assert command is not None
    assert "--jsno" in " ".join(problems_of(command))
    assert problems_of(Command("-", "verify", ("preflight", "--json"), complete=False)) == []
