"""Shared fixtures: each stack's plan recorded once per session under the emulated AWS account, and the
offline CLI run in-process on those recorded plans.

Whole processes (``offline_process``) are for what only a real process shows: its exit code with
nothing caught, and no traceback. Everything else runs in-process through ``offline_cli``.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.config import ConfigError, ConfigIssue, parse_stack_config
from offline import cli
from offline.emulation.lean import lean_moto
from offline.emulation.process import ACCOUNT_ENVIRONMENT, account_process
from offline.runner import PROJECT_DIR, RUN_GC_THRESHOLD, Plan, read_stack_file, run_program, stack_file

# The verify tests build accounts in moto in this process: as lean as the emulated account's.
os.environ.update(ACCOUNT_ENVIRONMENT)
lean_moto()


_SHARED_PLANS: list[Path] = []
"""Where this test worker and the others of its run leave the plans they record (set per session)."""


@functools.cache
def _recorded(stack: str, config: tuple[tuple[str, str], ...]) -> Plan:
    plan = shared_plan(_SHARED_PLANS[0] if _SHARED_PLANS else None, stack, config, run_program)
    # Kept for the session: the collector's full passes need not walk it (nor what the run imported) again.
    gc.freeze()
    return plan


def shared_plan(
    directory: Path | None,
    stack: str,
    config: tuple[tuple[str, str], ...],
    run: Callable[[dict[str, str], str], Plan],
) -> Plan:
    """The plan another worker of this run already recorded for the same stack and config, or else a run
    of it, left in ``directory`` for the others. A worker never waits for another: two that need a plan at
    once both run it, as each would alone."""
    if directory is None:
        return run(dict(config), stack)
    path = directory / f"{hashlib.sha256(repr((stack, config)).encode()).hexdigest()}.pickle"
    if path.exists():
        return cast(Plan, pickle.loads(path.read_bytes()))
    plan = run(dict(config), stack)
    written = path.with_name(f"{path.name}.{os.getpid()}")
    written.write_bytes(pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL))
    written.replace(path)
    return plan


@pytest.fixture(scope="session", autouse=True)
def _plans_shared_by_the_workers(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> None:
    """Each worker of a run records the three stacks and many configs the others need too: one worker's
    plan serves the rest (through the run's temporary directory, which pytest removes with later runs)."""
    if hasattr(request.config, "workerinput"):
        directory = tmp_path_factory.getbasetemp().parent / "plans"
        directory.mkdir(exist_ok=True)
        _SHARED_PLANS[:] = [directory]


def _runs_tests(config: pytest.Config) -> bool:
    """Whether this process runs tests: an xdist worker, or a run without workers (not their controller)."""
    return hasattr(config, "workerinput") or not config.getoption("numprocesses", None)


def pytest_sessionstart(session: pytest.Session) -> None:
    # The emulated account starts while the tests are collected.
    if _runs_tests(session.config):
        account_process()
        # A worker holds dozens of recorded plans and the SDK's modules, and its tests allocate freely: at
        # Python's default (a young pass every 700 allocations, a full one every hundred of those) the
        # collector took a tenth of each worker's time. As in a run (offline.runner.RUN_GC_THRESHOLD).
        gc.set_threshold(RUN_GC_THRESHOLD, 10, 10)


def pytest_unconfigure(config: pytest.Config) -> None:
    # The session's plans are freed when the process exits; the collector's last pass over them, at the
    # interpreter's exit, would take seconds of each worker's end.
    gc.freeze()


def recorded_plan(raw_config: Mapping[str, str], stack: str) -> Plan:
    """The plan of ``stack`` with ``raw_config``, run once per session for each distinct config. Shared:
    a test that changes a plan changes a copy (``tests.plans.edited``)."""
    return _recorded(stack, tuple(sorted((key, _canonical(value)) for key, value in raw_config.items())))


def _canonical(value: str) -> str:
    """A config value as one spelling: structured values (JSON, as the engine passes them) re-encoded with
    sorted keys, so that two configs that differ only in key order or spacing share one run."""
    if value[:1] not in ("{", "["):
        return value
    try:
        return json.dumps(json.loads(value), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return value


def stack_plan(stack: str) -> Plan:
    return recorded_plan(read_stack_file(stack_file(stack)), stack)


DEPLOY = {
    "platform:deploy": {
        "roleArn": "arn:aws:iam::123456789012:role/platform-deploy",
        "runner": {
            "repository": "https://github.com/example/platform",
            "connectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/00000000-0000",
        },
    }
}
"""A valid ``platform:deploy`` (decoded), which every stack config needs, for the configs tests make."""


def with_deploy(values: Mapping[str, Any], project: str = "platform") -> dict[str, Any]:
    """``values`` (decoded config keys) with a valid ``<project>:deploy`` unless they have their own."""
    return {f"{project}:deploy": DEPLOY["platform:deploy"], **values}


def refused_config(values: Mapping[str, Any], stack: str) -> list[ConfigIssue]:
    """What the config refuses in ``values`` (decoded config keys, a valid deploy section added): fails the
    test when it takes them."""
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(with_deploy(values), stack=stack)
    return raised.value.issues


def raw_stack_config(stack: str) -> dict[str, str]:
    """A stack's config as the engine passes it: a fresh copy to modify."""
    return dict(read_stack_file(stack_file(stack)))


@pytest.fixture(autouse=True)
def _cli_plans_are_recorded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's commands read the session's recorded plan of the same stack and config."""

    def run_recorded(raw_config: Mapping[str, str], stack: str, *, emulate: bool = True) -> Plan:
        return recorded_plan(raw_config, stack) if emulate else run_program(raw_config, stack, emulate=False)

    monkeypatch.setattr(cli, "run_program", run_recorded)


@dataclass(frozen=True)
class Ran:
    """What a command did: its exit code and what it printed on each stream."""

    returncode: int
    stdout: str
    stderr: str


def offline_cli(*args: str, env: Mapping[str, str] | None = None) -> Ran:
    """``python -m offline ARGS``, in-process. An exception the CLI did not turn into an exit fails the
    test with its own traceback."""
    result = CliRunner().invoke(cli.app, list(args), env={"COLUMNS": "250", **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def offline_process(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m offline ARGS`` as a newcomer runs it: a whole process."""
    return subprocess.run(
        [sys.executable, "-m", "offline", *args], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300
    )


@functools.cache
def preview_json(stack: str) -> dict[str, Any]:
    """What ``python -m offline preview --stack STACK --json`` prints, parsed; once per session."""
    result = offline_cli("preview", "--stack", stack, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def dev_plan() -> Plan:
    return stack_plan("dev")


@pytest.fixture(scope="session")
def prod_plan() -> Plan:
    return stack_plan("prod")
