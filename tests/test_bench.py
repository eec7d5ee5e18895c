"""The benchmark's scaled prod: a config the program accepts, with every part multiplied."""

from __future__ import annotations

from offline.bench import scaled_config
from offline.runner import validate
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
