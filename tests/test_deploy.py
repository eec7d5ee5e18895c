"""The deploy path: who may reach the cluster's API (the deploy role, through an access entry the provider
waits for), and from where (the in-VPC CodeBuild runner, admitted by the cluster's security group)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components import cluster as cluster_module
from components.cluster import CLUSTER_ADMIN_POLICY, CLUSTER_VIEW_POLICY
from components.runner import runner_label, runner_policy
from offline.deploy import bootstrap_excludes, dependents, github_output
from offline.emulation import EmulationError
from offline.emulation.account import AccountOptions
from offline.runner import RecordedResource, run_program, run_under_mocks
from tests.conftest import offline_cli, preview_json, raw_stack_config, stack_plan
from tests.emulated import DEPLOYER, bare_cluster, deploy_provider
from tests.plans import stack_names

ENTRY = "aws:eks/accessEntry:AccessEntry"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
PROJECT = "aws:codebuild/project:Project"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def by_type(resources: list[dict[str, Any]], type_token: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["type"] == type_token]


# --- what the prod plan shows, through the JSON a tool reads ------------------------------------------------


def test_prod_json_lists_the_deploy_role_s_access_and_its_cluster_admin_association():
    resources = preview_json("prod")["resources"]
    deploy_role = stack_plan("prod").config.deploy.role_arn
    cluster = by_type(resources, "aws:eks/cluster:Cluster")[0]
    (entry,) = [r for r in by_type(resources, ENTRY) if r["inputs"]["principalArn"] == deploy_role]
    (association,) = [
        r for r in by_type(resources, ASSOCIATION) if r["inputs"]["principalArn"] == deploy_role
    ]
    assert entry["inputs"]["clusterName"] == association["inputs"]["clusterName"] == cluster["id"]
    assert association["inputs"]["policyArn"] == CLUSTER_ADMIN_POLICY
    assert association["inputs"]["accessScope"] == {"type": "cluster"}
    assert entry["urn"] in stack_plan("prod").one(ASSOCIATION, association["name"]).dependencies


def test_prod_json_lists_the_runner_its_group_and_the_cluster_rule_admitting_it_on_443():
    resources = preview_json("prod")["resources"]
    (project,) = by_type(resources, PROJECT)
    (runner_group,) = project["inputs"]["vpcConfig"]["securityGroupIds"]
    groups = {r["id"]: r for r in by_type(resources, "aws:ec2/securityGroup:SecurityGroup")}
    assert groups[runner_group]["name"] == "platform-runner-sg"
    # The cluster's own group (the control plane's ENIs) admits the runner's, and only on 443.
    cluster = by_type(resources, "aws:eks/cluster:Cluster")[0]
    (control_plane,) = cluster["inputs"]["vpcConfig"]["securityGroupIds"]
    (rule,) = [
        r for r in by_type(resources, INGRESS) if r["inputs"].get("referencedSecurityGroupId") == runner_group
    ]
    assert rule["inputs"]["securityGroupId"] == control_plane
    assert (rule["inputs"]["ipProtocol"], rule["inputs"]["fromPort"], rule["inputs"]["toPort"]) == (
        "tcp",
        443,
        443,
    )
    # In the private subnets: the API's private endpoint is inside the VPC.
    private = set(preview_json("prod")["outputs"]["privateSubnetIds"])
    assert set(project["inputs"]["vpcConfig"]["subnets"]) == private
    assert project["id"] and project["outputs"]["arn"].endswith(f":project/{project['id']}")


def test_every_resource_in_the_json_has_its_id_and_outputs():
    for resource in preview_json("prod")["resources"]:
        assert "id" in resource and isinstance(resource["outputs"], dict), resource["name"]


@pytest.mark.parametrize("stack", stack_names())
def test_the_runner_calls_out_on_443_only_and_nobody_calls_in(stack):
    plan = stack_plan(stack)
    runner = plan.component("platform:index:DeployRunner")
    group = runner.one("aws:ec2/securityGroup:SecurityGroup")
    assert not [r for r in plan.of_type(INGRESS) if r.inputs["securityGroupId"] == group.state["id"]]
    (egress,) = runner.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    assert (egress.inputs["ipProtocol"], egress.inputs["fromPort"], egress.inputs["toPort"]) == (
        "tcp",
        443,
        443,
    )


@pytest.mark.parametrize("stack", stack_names())
def test_the_runner_s_project_runs_workflow_jobs_from_the_repository_in_the_vpc(stack):
    plan = stack_plan(stack)
    runner, config = plan.component("platform:index:DeployRunner"), plan.config.deploy.runner
    project = runner.one(PROJECT)
    assert project.inputs["name"] == f"{plan.config.cluster_name}-deploy-runner"
    assert project.inputs["source"] == {
        "type": "GITHUB",
        "location": f"{config.repository}.git",
        "auth": {"type": "CODECONNECTIONS", "resource": config.connection_arn},
    }
    assert project.inputs["environment"]["privilegedMode"] is False
    assert project.inputs["buildTimeout"] == config.timeout_minutes >= 120
    (webhook,) = runner.of_type("aws:codebuild/webhook:Webhook")
    assert webhook.inputs["filterGroups"] == [
        {"filters": [{"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"}]}
    ]
    assert plan.outputs["deployRunnerLabel"] == runner_label(project.inputs["name"])


def test_the_runner_s_role_may_only_run_builds():
    plan = stack_plan("prod")
    runner = plan.component("platform:index:DeployRunner")
    role, policy = runner.one("aws:iam/role:Role"), runner.one("aws:iam/rolePolicy:RolePolicy")
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "codebuild.amazonaws.com"}
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    actions = {
        a
        for s in statements.values()
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert not any(a.startswith(("eks:", "iam:", "sts:", "rds:", "s3:")) for a in actions), (
        "deploying is the job's"
    )
    subnets = statements["InterfacesInTheRunnersSubnetsOnly"]["Condition"]["ArnEquals"]["ec2:Subnet"]
    assert sorted(s.rsplit("/", 1)[1] for s in subnets) == sorted(plan.outputs["privateSubnetIds"])
    assert statements["UseTheConnectionToGitHub"]["Resource"] == plan.config.deploy.runner.connection_arn


def test_the_runner_label_is_codebuild_s_per_job_label():
    assert runner_label("platform-prod-deploy-runner") == (
        "codebuild-platform-prod-deploy-runner-${{ github.run_id }}-${{ github.run_attempt }}"
    )
    policy = runner_policy(
        log_group_arn="arn:logs",
        subnet_arns=["arn:subnet"],
        connection_arn="arn:conn",
        region="r",
        account_id="1",
    )
    assert policy["Statement"][2]["Condition"]["StringEquals"] == {
        "ec2:AuthorizedService": "codebuild.amazonaws.com"
    }


# --- who may use the API ------------------------------------------------------------------------------------


def test_the_kubernetes_provider_waits_for_every_grant():
    plan = stack_plan("prod")
    provider = plan.one("pulumi:providers:kubernetes")
    grants = {r.urn: r.inputs for r in plan.of_type(ASSOCIATION)}
    assert set(grants) <= set(provider.dependencies)
    policies = {inputs["principalArn"]: inputs["policyArn"] for inputs in grants.values()}
    assert policies == {
        plan.config.deploy.role_arn: CLUSTER_ADMIN_POLICY,
        plan.config.deploy.preview_role_arn: CLUSTER_VIEW_POLICY,
    }


def test_creator_admin_stays_off():
    # Turning it on later replaces the cluster; the deploy role's entry grants what it would.
    cluster = stack_plan("prod").one("aws:eks/cluster:Cluster")
    assert cluster.inputs["accessConfig"] == {
        "authenticationMode": "API",
        "bootstrapClusterCreatorAdminPermissions": False,
    }


@pytest.mark.slow
def test_a_provider_that_does_not_wait_for_the_grant_gets_the_emulated_401(monkeypatch):
    """The shipped program with the provider's dependency on the grants removed."""
    real = k8s.Provider

    def racing_provider(
        resource_name: str, opts: pulumi.ResourceOptions | None = None, **kwargs: Any
    ) -> k8s.Provider:
        return real(
            resource_name, opts=pulumi.ResourceOptions(parent=opts.parent if opts else None), **kwargs
        )

    monkeypatch.setattr(cluster_module.k8s, "Provider", racing_provider)
    with pytest.raises(
        EmulationError, match="Unauthorized: 401 Unauthorized from the EKS API of cluster 'platform-prod'"
    ):
        run_program(raw_stack_config("prod"), "prod")


def _cluster_with_a_namespace(*, provider_waits: bool, policy: str = CLUSTER_ADMIN_POLICY) -> None:
    cluster, *_ = bare_cluster()
    provider = deploy_provider(cluster, waits=provider_waits, policy=policy)
    k8s.core.v1.Namespace("apps", metadata={"name": "apps"}, opts=pulumi.ResourceOptions(provider=provider))


def test_the_emulated_api_answers_401_until_the_provider_waits_for_the_deployer_s_grant():
    with pytest.raises(EmulationError, match=r"401 Unauthorized .* to arn:aws:iam::123456789012:role/deploy"):
        run_under_mocks(lambda: _cluster_with_a_namespace(provider_waits=False), {}, "dev", account=DEPLOYER)
    resources, _ = run_under_mocks(
        lambda: _cluster_with_a_namespace(provider_waits=True), {}, "dev", account=DEPLOYER
    )
    assert any(r.type == "kubernetes:core/v1:Namespace" for r in resources)


def test_the_emulated_api_answers_403_to_a_deployer_that_may_only_view():
    with pytest.raises(EmulationError, match=r"403 Forbidden .*\(AmazonEKSAdminViewPolicy\)"):
        run_under_mocks(
            lambda: _cluster_with_a_namespace(provider_waits=True, policy=CLUSTER_VIEW_POLICY),
            {},
            "dev",
            account=DEPLOYER,
        )


def test_a_preview_as_the_view_only_role_diffs_client_side_where_an_update_gets_403():
    def program(waits: bool) -> Callable[[], None]:
        return lambda: _cluster_with_a_namespace(provider_waits=waits, policy=CLUSTER_VIEW_POLICY)

    previewing = dataclasses.replace(DEPLOYER, previewing=True)
    resources, _ = run_under_mocks(program(True), {}, "dev", account=previewing)
    assert any(r.type == "kubernetes:core/v1:Namespace" for r in resources)
    # The fallback is for 403 only: a role the cluster does not know still gets 401, preview or not.
    with pytest.raises(EmulationError, match="401 Unauthorized"):
        run_under_mocks(program(False), {}, "dev", account=previewing)


@pytest.mark.slow
def test_each_stack_previews_as_its_preview_role():
    """preview.yml runs ``pulumi preview`` as the preview role: the cluster must know it (AdminView)."""
    raw = raw_stack_config("prod")
    preview_role = stack_plan("prod").config.deploy.preview_role_arn
    assert preview_role
    plan = run_program(raw, "prod", account=AccountOptions(deployer=preview_role, previewing=True))
    assert plan.of_type("kubernetes:helm.sh/v3:Release")
    with pytest.raises(EmulationError, match=r"403 Forbidden .* to " + re.escape(preview_role)):
        run_program(raw, "prod", account=AccountOptions(deployer=preview_role))


def test_an_access_entry_for_a_role_nobody_made_is_refused():
    with pytest.raises(EmulationError, match="NoSuchEntity"):
        run_under_mocks(
            lambda: _cluster_with_a_namespace(provider_waits=True),
            {},
            "dev",
            account=AccountOptions(deployer=DEPLOYER.deployer),
        )


# --- the config ---------------------------------------------------------------------------------------------


def test_a_stack_without_the_deploy_role_exits_2_naming_the_key(tmp_path):
    raw = raw_stack_config("dev")
    path = tmp_path / "Pulumi.dev.yaml"
    document = {
        key: json.loads(value) if value[:1] in "[{" else value
        for key, value in raw.items()
        if key != "platform:deploy"
    }
    path.write_text(json.dumps({"config": document}))
    result = offline_cli("preview", "--config-file", str(path))
    assert result.returncode == 2
    assert "platform:deploy.roleArn: is required" in result.stderr


def test_a_runner_without_its_repository_or_connection_names_each_key(tmp_path):
    raw = raw_stack_config("dev")
    deploy = json.loads(raw["platform:deploy"])
    deploy["runner"] = {}
    document = {key: json.loads(value) if value[:1] in "[{" else value for key, value in raw.items()}
    document["platform:deploy"] = deploy
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(json.dumps({"config": document}))
    result = offline_cli("preview", "--config-file", str(path))
    assert result.returncode == 2
    assert "platform:deploy.runner.repository: is required while the runner is enabled" in result.stderr


# --- the first deploy, and what CI reads ------------------------------------------------------------------


@pytest.mark.parametrize("stack", stack_names())
def test_the_bootstrap_leaves_out_the_kubernetes_layer_and_nothing_else(stack):
    plan = stack_plan(stack)
    left_out = dependents(plan.resources, bootstrap_excludes(plan))
    custom = [r for r in plan.resources if r.custom]
    assert {r.type for r in custom if r.urn in left_out} == {
        r.type for r in custom if r.type.startswith("kubernetes:")
    } | {"pulumi:providers:kubernetes"}
    assert all(r.urn in left_out for r in custom if r.type.startswith("kubernetes:"))
    # What the next run, on the runner, needs is made by the bootstrap: the runner, and the rule admitting it.
    made = {r.type for r in custom if r.urn not in left_out}
    assert {PROJECT, "aws:codebuild/webhook:Webhook", "aws:eks/cluster:Cluster", ENTRY, ASSOCIATION} <= made
    assert plan.of_type(PROJECT)[0].urn not in left_out


def test_dependents_follow_providers_parents_and_dependencies_transitively():
    def made(name: str, **fields: Any) -> RecordedResource:
        return RecordedResource(
            **{"urn": f"urn:{name}", "type": "t", "name": name, "parent": None, "custom": True, "inputs": {}}
            | fields
        )

    resources = [
        made("provider"),
        made("object", provider="urn:provider::id-1"),
        made("child", parent="urn:object"),
        made("waits", dependencies=("urn:child",)),
        made("free", dependencies=("urn:elsewhere",)),
    ]
    assert dependents(resources, ["urn:provider"]) == {
        "urn:provider",
        "urn:object",
        "urn:child",
        "urn:waits",
    }


def test_deploy_settings_prints_the_roles_the_runner_label_and_the_bootstrap_excludes():
    plan = stack_plan("prod")
    result = offline_cli("deploy-settings", "--stack", "prod")
    assert result.returncode == 0, result.stderr
    (provider,) = plan.of_type("pulumi:providers:kubernetes")
    assert result.stdout.splitlines() == [
        f"role_arn={plan.config.deploy.role_arn}",
        f"preview_role_arn={plan.config.deploy.preview_role_arn}",
        f"runner_label={plan.outputs['deployRunnerLabel']}",
        f"bootstrap_exclude={provider.urn}",
    ]


def test_several_lines_go_to_github_output_as_a_here_document():
    assert github_output({"one": "a", "many": "x\ny"}, delimiter="END") == "one=a\nmany<<END\nx\ny\nEND\n"
