"""Shared fixtures: each stack's plan, run once per session under the emulated AWS account."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from offline.runner import PROJECT_DIR, Plan, read_stack_file, run_program, stack_file


@functools.cache
def stack_plan(stack: str) -> Plan:
    return run_program(read_stack_file(stack_file(stack)), stack)


def raw_stack_config(stack: str) -> dict[str, str]:
    """A stack's config as the engine passes it: a fresh copy to modify."""
    return dict(read_stack_file(stack_file(stack)))


def offline(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m offline ARGS`` as a newcomer runs it."""
    return subprocess.run(
        [sys.executable, "-m", "offline", *args], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300
    )


@functools.cache
def preview_json(stack: str) -> dict[str, Any]:
    """What ``python -m offline preview --stack STACK --json`` prints, parsed; run once per session."""
    result = offline("preview", "--stack", stack, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def dev_plan() -> Plan:
    return stack_plan("dev")


@pytest.fixture(scope="session")
def prod_plan() -> Plan:
    return stack_plan("prod")
