"""The benchmark's scaled prod: a config the program accepts, with every part multiplied."""

from __future__ import annotations

import ast
from pathlib import Path

from offline.bench import Timing, scaled_config, stack_document, verdict
from offline.emulation.server import WARM_CALLS
from offline.runner import PROJECT_DIR, read_stack_file, validate
from tests.conftest import raw_stack_config


def test_scaling_by_one_changes_nothing():
    raw = raw_stack_config("prod")
    assert validate(scaled_config(raw, 1), "prod") == validate(raw, "prod")


def test_ten_times_prod_has_ten_times_its_node_groups_services_and_namespaces_and_is_valid():
    raw = raw_stack_config("prod")
    config, scaled = validate(raw, "prod"), validate(scaled_config(raw, 10), "prod")
    assert len(scaled.cluster.node_groups) == 10 * len(config.cluster.node_groups)
    assert len(scaled.mesh.services) == 10 * len(config.mesh.services)
    assert len(scaled.namespaces) == 10 * len(config.namespaces)
    assert scaled.cluster.node_groups["general-10"] == config.cluster.node_groups["general"]
    assert scaled.mesh.services["agent-runtime-10"].namespace == "agents-10"
    assert scaled.network == config.network and scaled.database == config.database
    assert raw == raw_stack_config("prod"), "the original is left as it was"


def test_a_scaled_config_written_as_a_stack_file_reads_back_as_the_same_config(tmp_path):
    raw = scaled_config(raw_stack_config("prod"), 3)
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(stack_document(raw))
    assert read_stack_file(path) == raw


def test_the_verdict_holds_only_within_both_budgets():
    echo = Timing((3.0, 3.5), 150)
    assert verdict(echo, Timing((4.0, 4.4), 150)).endswith("within budget")
    assert verdict(echo, Timing((4.6, 4.7), 150)).endswith("OVER BUDGET"), "1.53x the echo mocks"
    assert verdict(Timing((3.5,), 150), Timing((5.1,), 150)).endswith("OVER BUDGET"), "over 5 s"


def test_the_account_warms_every_service_its_handlers_call():
    """A service first called mid-run loads its model and backend while the program waits (half a second
    for AWS Backup): the account process warms each one the emulation calls, as it starts."""

    called: set[str] = set()
    for path in Path(PROJECT_DIR, "offline", "emulation").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
                continue
            service = node.args[-1]
            if node.func.attr in ("client", "client_in") and isinstance(service, ast.Constant):
                called.add(str(service.value))
    assert {"ec2", "backup", "codebuild", "sns"} <= called
    assert called - set(WARM_CALLS) == set()
