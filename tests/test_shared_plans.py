"""How the test workers of one run share the plans they record (tests.conftest.shared_plan)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from offline.runner import PROJECT_DIR, Plan
from tests.conftest import shared_plan, stack_plan

CONFIG = (("aws:region", "us-east-1"),)


def test_a_plan_one_worker_recorded_serves_the_next_and_another_config_is_run(tmp_path: Path):
    dev = stack_plan("dev")
    runs: list[tuple[dict[str, str], str]] = []

    def run(config: dict[str, str], stack: str) -> Plan:
        runs.append((config, stack))
        return dev

    first = shared_plan(tmp_path, "dev", CONFIG, run)
    again = shared_plan(tmp_path, "dev", CONFIG, run)
    assert runs == [({"aws:region": "us-east-1"}, "dev")], "the second worker read the first one's plan"
    assert first is dev and again is not dev
    assert [r.urn for r in again.resources] == [r.urn for r in dev.resources] and again.config == dev.config
    shared_plan(tmp_path, "dev", (("aws:region", "eu-west-1"),), run)
    shared_plan(tmp_path, "staging", CONFIG, run)
    assert [stack for _, stack in runs] == ["dev", "dev", "staging"], "another config or stack is its own run"
    assert len(list(tmp_path.iterdir())) == 3, "nothing but the three plans is left"


def test_without_other_workers_every_plan_is_run():
    runs: list[str] = []

    def run(config: dict[str, str], stack: str) -> Plan:
        runs.append(stack)
        return stack_plan("dev")

    shared_plan(None, "dev", CONFIG, run)
    shared_plan(None, "dev", CONFIG, run)
    assert runs == ["dev", "dev"]


@pytest.mark.slow
def test_the_suite_runs_without_pytest_xdist_and_with_a_profile_the_aws_config_lacks():
    """As an IDE or debugger runs one file (here one that runs no program): no xdist (its worker_id fixture
    absent), and a developer's AWS_PROFILE that names no profile (no AWS session may be made before a test
    asks for one; the conftest and its session fixtures run for every file)."""
    plugins = ["-p", "no:xdist", "-p", "no:cacheprovider", "-o", "addopts=-q"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *plugins, "tests/test_subnets.py"],
        cwd=PROJECT_DIR,
        env={**os.environ, "AWS_PROFILE": "no-such-profile"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "error" not in result.stdout
