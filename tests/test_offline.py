"""The offline preview as a newcomer runs it, and the emulated account's own validation."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from pulumi.runtime.sync_await import _sync_await

from offline.emulation import EmulationError, emulated_types
from offline.runner import PROJECT_DIR, main_program, mocked_stack, run_under_mocks
from tests.conftest import offline_cli, offline_process, preview_json, raw_stack_config

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def write_stack(tmp_path: Path, stack: str, config_yaml: str) -> Path:
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(config_yaml)
    return path


@pytest.mark.parametrize(("stack", "subnets", "nats"), [("prod", 12, 3), ("dev", 8, 1)])
def test_preview_json_lists_the_network(stack, subnets, nats):
    plan = preview_json(stack)
    assert plan["stack"] == stack
    types = [r["type"] for r in plan["resources"]]
    assert types.count("aws:ec2/vpc:Vpc") == 1
    assert types.count("aws:ec2/subnet:Subnet") == subnets
    assert types.count("aws:ec2/natGateway:NatGateway") == nats
    vpc = next(r for r in plan["resources"] if r["type"] == "aws:ec2/vpc:Vpc")
    assert set(vpc) == {"urn", "type", "name", "parent", "inputs", "id", "outputs"}
    assert vpc["inputs"]["enableDnsHostnames"] is True  # camelCase, resolved
    assert vpc["id"].startswith("vpc-") and vpc["outputs"]["arn"].endswith(f":vpc/{vpc['id']}")
    assert all({"id", "outputs"} <= set(r) for r in plan["resources"])
    assert vpc["parent"].endswith("::platform-network")
    assert plan["outputs"]["vpcId"].startswith("vpc-")


def test_preview_prints_a_tree_counts_and_outputs():
    result = offline_cli("preview", "--stack", "dev")
    assert result.returncode == 0, result.stderr
    for expected in (
        "stack dev",
        "platform:index:Network",
        "resources by type",
        "aws:ec2/subnet:Subnet",
        "vpcId",
    ):
        assert expected in result.stdout


GROUP = "platform:cluster:\n    nodeGroups:\n      general:"
BAD_CONFIGS = {
    "cidr /33": ("platform:network: {cidr: 10.0.0.0/33}", "platform:network.cidr"),
    "misspelt section": ("platform:netwrok: {cidr: 10.0.0.0/16}", "platform:netwrok"),
    "min above max": (
        f"{GROUP} {{instanceTypes: [m5.large], minSize: 30, maxSize: 20, desiredSize: 25}}",
        "platform:cluster.nodeGroups.general.minSize",
    ),
    "unknown taint effect": (
        f"{GROUP} {{instanceTypes: [m5.large], minSize: 1, maxSize: 2, desiredSize: 1,"
        " taints: [{key: a, value: b, effect: NoSchedule}]}",
        "platform:cluster.nodeGroups.general.taints.0.effect",
    ),
    "empty instance types": (
        f"{GROUP} {{instanceTypes: [], minSize: 1, maxSize: 2, desiredSize: 1}}",
        "platform:cluster.nodeGroups.general.instanceTypes",
    ),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_bad_config_exits_2_naming_the_key_path(tmp_path, case):
    snippet, path = BAD_CONFIGS[case]
    result = offline_cli(
        "preview", "--config-file", str(write_stack(tmp_path, "dev", f"config:\n  {snippet}\n"))
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert path in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_exactly_one_source_is_required():
    assert offline_cli("preview").returncode == 2
    assert offline_cli("preview", "--stack", "nosuchstack").returncode == 2


DEV_CIDRS = "publicAccessCidrs: [203.0.113.0/24]"
POLICY_VIOLATION = (
    (PROJECT_DIR / "Pulumi.dev.yaml").read_text().replace(DEV_CIDRS, "publicAccessCidrs: [0.0.0.0/0]")
)
"""dev's stack file with its cluster's public endpoint open to the internet (eks-endpoint-access)."""


def test_the_policy_violation_case_is_dev_opened_to_the_internet():
    assert DEV_CIDRS in (PROJECT_DIR / "Pulumi.dev.yaml").read_text()
    assert "0.0.0.0/0" in POLICY_VIOLATION


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "config", "code", "says"),
    [
        (("--stack", "dev", "--json"), None, 0, '"stack": "dev"'),
        (("--stack", "nosuchstack"), None, 2, "no such stack file"),
        (("--config-file", "/dev/null/Pulumi.x.yaml"), None, 2, "no such stack file"),
        ((), "config:\n  platform:network: {cidr: 10.0.0.0/33}\n", 2, "platform:network.cidr"),
        ((), POLICY_VIOLATION, 3, "eks-endpoint-access"),
    ],
    ids=["planned", "no stack file", "no stack file anywhere", "invalid config", "policy violation"],
)
def test_the_process_exits_with_each_outcome_s_code_and_no_traceback(tmp_path, args, config, code, says):
    if config is not None:
        args = ("--config-file", str(write_stack(tmp_path, "dev", config)))
    result = offline_process("preview", *args)
    assert result.returncode == code, result.stderr
    assert says in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_under_pulumi_bad_config_is_one_run_error_and_nothing_is_registered():
    raw = raw_stack_config("dev") | {"platform:network": json.dumps({"cidr": "10.0.0.0/33"})}
    with mocked_stack(raw, "dev") as monitor:
        with pytest.raises(pulumi.RunError, match=r"platform:network\.cidr"):
            runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__")
        assert monitor.recorded == []


def _vpc_with_subnets(*cidrs: str) -> None:
    vpc = aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16")
    for i, cidr in enumerate(cidrs):
        aws.ec2.Subnet(f"subnet-{i}", vpc_id=vpc.id, cidr_block=cidr, availability_zone="us-east-1a")


@pytest.mark.parametrize(
    ("cidrs", "code"),
    [(("10.1.0.0/24",), "InvalidSubnet.Range"), (("10.0.0.0/24", "10.0.0.128/25"), "InvalidSubnet.Conflict")],
)
def test_the_emulated_account_refuses_what_aws_would(cidrs, code):
    with pytest.raises(EmulationError, match=code) as refused:
        run_under_mocks(lambda: _vpc_with_subnets(*cidrs), {}, "dev")
    assert "aws:ec2/subnet:Subnet" in str(refused.value)


def test_two_resources_of_one_urn_fail_the_run_as_the_engine_refuses_them():
    class Part(pulumi.ComponentResource):
        def __init__(self, name: str) -> None:
            super().__init__("test:index:Part", name, None, None)

    with pytest.raises(
        EmulationError, match="Duplicate resource URN 'urn:pulumi:dev::platform::test:index:Part::a'"
    ):
        run_under_mocks(lambda: [Part("a"), Part("a")], {}, "dev", emulate=False)


def test_a_run_captures_no_call_stacks_and_leaves_the_sdk_and_collector_as_it_found_them(monkeypatch):
    import gc
    import traceback

    from pulumi.runtime import resource as sdk_resource

    captured: list[int] = []
    extract_stack = traceback.extract_stack

    def counted(*args: Any, **kwargs: Any) -> Any:
        captured.append(1)
        return extract_stack(*args, **kwargs)

    monkeypatch.setattr(traceback, "extract_stack", counted)
    threshold, capture = gc.get_threshold(), sdk_resource._get_stack_trace
    resources, _ = run_under_mocks(lambda: _vpc_with_subnets("10.0.1.0/24"), {}, "dev", emulate=False)
    assert len(resources) == 2, "the program ran"
    assert captured == [], "the mocks drop source positions; the runner does not make the SDK capture them"
    assert (gc.get_threshold(), sdk_resource._get_stack_trace) == (threshold, capture)
    # Outside a run, the SDK captures a stack again, as under the engine.
    sdk_resource._get_stack_trace()
    assert captured == [1]


def test_emulated_ids_are_the_accounts_own():
    resources, _ = run_under_mocks(lambda: _vpc_with_subnets("10.0.1.0/24"), {}, "dev")
    vpc, subnet = (
        next(r for r in resources if r.type == t) for t in ("aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet")
    )
    assert subnet.inputs["vpcId"] == vpc.state["id"]
    assert subnet.state["arn"] == f"arn:aws:ec2:us-east-1:123456789012:subnet/{subnet.state['id']}"


def test_every_resource_type_of_the_network_is_emulated(prod_plan):
    network = prod_plan.component("platform:index:Network")
    assert {r.type for r in network.resources if r.custom} <= set(emulated_types())


def test_program_under_echo_mocks_registers_the_same_resources(prod_plan):
    resources, _ = run_under_mocks(main_program, raw_stack_config("prod"), "prod", emulate=False)
    assert [r.urn for r in resources] == [r.urn for r in prod_plan.resources]


def test_stack_outputs_resolve():
    with mocked_stack({}, "dev") as monitor:
        _sync_await(
            pulumi.runtime.stack.run_in_stack(lambda: pulumi.export("answer", pulumi.Output.secret("x")))
        )
    assert repr(monitor.stack_outputs["answer"]) == "[secret]"


def _role_with_policy(policy_arn: str) -> None:
    role = aws.iam.Role("role", assume_role_policy='{"Version":"2012-10-17","Statement":[]}')
    aws.iam.RolePolicyAttachment("attachment", role=role.name, policy_arn=policy_arn)


def test_only_policies_aws_manages_can_be_attached():
    resources, _ = run_under_mocks(
        lambda: _role_with_policy("arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"), {}, "dev"
    )
    assert any(r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment" for r in resources)
    with pytest.raises(EmulationError, match="NoSuchEntity"):
        run_under_mocks(
            lambda: _role_with_policy("arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicyy"), {}, "dev"
        )


# --- stack files that are not stack files -------------------------------------------------------------------

BROKEN_STACK_FILES = {
    "not YAML": ("config: [1, 2\n", "not YAML at line 2, column 1"),
    "not a mapping": ("- config\n- more\n", "must be a mapping (with a 'config' mapping), got a list"),
    "config not a mapping": ("config: just text\n", "'config' must be a mapping, got a string"),
    # The Pulumi CLI's YAML decoder (yaml.v3) refuses a key given twice in one mapping; PyYAML would keep
    # the last one, silently dropping the first section.
    "a key given twice": (
        "config:\n  platform:addons:\n    vpa: {enabled: false}\n  platform:addons:\n    alarms: {}\n",
        "not YAML at line 4, column 3: mapping key 'platform:addons' already defined at line 2",
    ),
}


@pytest.mark.parametrize("command", ["preview", "cost", "diagram", "manifests"])
@pytest.mark.parametrize("case", BROKEN_STACK_FILES)
def test_every_command_exits_2_with_one_line_naming_a_broken_stack_file(tmp_path, command, case):
    text, problem = BROKEN_STACK_FILES[case]
    path = write_stack(tmp_path, "dev", text)
    result = offline_cli(command, "--config-file", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == f"{path}: {problem}" or result.stderr.strip().startswith(
        f"{path}: {problem}"
    )
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["preview", "cost", "diagram", "manifests"])
def test_every_command_exits_2_for_a_stack_file_that_does_not_exist(command):
    result = offline_cli(command, "--stack", "nosuchstack")
    assert result.returncode == 2
    assert result.stderr.strip() == f"{PROJECT_DIR / 'Pulumi.nosuchstack.yaml'}: no such stack file"


def test_the_summary_exits_2_naming_a_stack_whose_file_is_missing():
    result = offline_cli("summary", "--stack", "nosuchstack")
    assert result.returncode == 2
    assert "no such stack file" in result.stderr
    assert "## Stack `nosuchstack`" in result.stdout


@pytest.mark.slow
def test_a_broken_stack_file_ends_the_process_with_2_and_no_traceback(tmp_path):
    path = write_stack(tmp_path, "dev", BROKEN_STACK_FILES["not YAML"][0])
    result = offline_process("preview", "--config-file", str(path))
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"{path}: not YAML")
    assert "Traceback" not in result.stdout + result.stderr
