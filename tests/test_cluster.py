"""The Cluster and its node groups as the engine would see them, in the emulated account."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest
from pulumi.output import Unknown
from pulumi.runtime.sync_await import _sync_await

from components.cluster import (
    ADDONS,
    CONTROL_PLANE_LOG_TYPES,
    NODE_POLICIES,
    NodeGroupSpec,
    Taint,
    autoscaler_tags,
)
from offline.emulation import EmulationError
from offline.runner import Plan, RecordedResource, main_program, mocked_stack, run_program, run_under_mocks
from tests.conftest import preview_json, raw_stack_config, stack_plan
from tests.emulated import DEPLOYER, bare_cluster, deploy_provider
from tests.golden import assert_matches_golden

CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
ENTRY = "aws:eks/accessEntry:AccessEntry"

SEED_GROUPS = {
    "general": {
        "instanceTypes": ["m5.large", "m5.xlarge"],
        "scaling": {"minSize": 3, "maxSize": 20, "desiredSize": 6},
        "labels": {"role": "general-compute"},
        "taints": [],
    },
    "agentWorkers": {
        "instanceTypes": ["c5.2xlarge", "c5.4xlarge"],
        "scaling": {"minSize": 2, "maxSize": 50, "desiredSize": 5},
        "labels": {},
        "taints": [{"key": "workload-type", "value": "agent-execution", "effect": "NO_SCHEDULE"}],
    },
    "memoryIntensive": {
        "instanceTypes": ["r5.2xlarge", "r5.4xlarge"],
        "scaling": {"minSize": 1, "maxSize": 10, "desiredSize": 2},
        "labels": {},
        "taints": [{"key": "workload-type", "value": "memory-intensive", "effect": "NO_SCHEDULE"}],
    },
}


def cluster_part(stack_or_plan: str | Plan) -> Plan:
    plan = stack_plan(stack_or_plan) if isinstance(stack_or_plan, str) else stack_or_plan
    return plan.component("platform:index:Cluster")


def node_groups(plan: Plan) -> dict[str, RecordedResource]:
    return {r.inputs["tags"]["NodeGroup"]: r for r in plan.of_type(NODE_GROUP)}


def by_id(plan: Plan) -> dict[str, RecordedResource]:
    return {r.state["id"]: r for r in plan.resources if r.custom}


def with_node_groups(groups: dict) -> Plan:
    raw = raw_stack_config("prod")
    cluster = json.loads(raw["platform:cluster"])
    raw["platform:cluster"] = json.dumps({**cluster, "nodeGroups": groups})
    return run_program(raw, "prod")


@pytest.fixture(scope="module")
def prod() -> Plan:
    return cluster_part("prod")


@pytest.fixture(scope="module")
def dev() -> Plan:
    return cluster_part("dev")


def test_prod_cluster_is_private_encrypted_and_fully_logged(prod):
    cluster = prod.one(CLUSTER)
    inputs = cluster.inputs
    assert inputs["name"] == "platform-prod"
    assert inputs["version"] == "1.34"
    assert sorted(inputs["enabledClusterLogTypes"]) == sorted(CONTROL_PLANE_LOG_TYPES)
    assert len(CONTROL_PLANE_LOG_TYPES) == 5
    vpc = inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc
    key = prod.one("aws:kms/key:Key")
    assert inputs["encryptionConfig"] == {"provider": {"keyArn": key.state["arn"]}, "resources": ["secrets"]}
    assert key.inputs["enableKeyRotation"] is True
    assert inputs["accessConfig"] == {
        "authenticationMode": "API",
        "bootstrapClusterCreatorAdminPermissions": False,
    }
    assert inputs["deletionProtection"] is True
    assert cluster.protect and key.protect


def test_cluster_runs_in_the_private_subnets():
    plan = stack_plan("prod")
    private = sorted(plan.outputs["privateSubnetIds"])
    assert sorted(plan.one(CLUSTER).inputs["vpcConfig"]["subnetIds"]) == private
    for group in plan.of_type(NODE_GROUP):
        assert sorted(group.inputs["subnetIds"]) == private


def test_control_plane_logs_go_to_a_retained_group_made_first(prod):
    log_group = prod.one("aws:cloudwatch/logGroup:LogGroup")
    assert log_group.inputs["name"] == "/aws/eks/platform-prod/cluster"
    assert log_group.inputs["retentionInDays"] == prod.config.cluster.log_retention_days >= 365, "audit logs"
    assert (
        log_group.inputs["kmsKeyId"]
        == stack_plan("prod").one("aws:kms/key:Key", "platform-logs").state["arn"]
    )
    assert log_group.urn in prod.one(CLUSTER).dependencies


def test_dev_is_small_spot_and_reachable_only_from_its_cidrs(dev):
    groups = node_groups(dev)
    assert list(groups) == ["general"]
    assert groups["general"].inputs["capacityType"] == "SPOT"
    assert groups["general"].inputs["scalingConfig"]["maxSize"] <= 4
    vpc = dev.one(CLUSTER).inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert not dev.one(CLUSTER).protect


def test_prod_node_groups_are_exactly_the_seeds(prod):
    groups = node_groups(prod)
    assert set(groups) == set(SEED_GROUPS)
    for key, seed in SEED_GROUPS.items():
        inputs = groups[key].inputs
        assert inputs["instanceTypes"] == seed["instanceTypes"], key
        assert inputs["scalingConfig"] == seed["scaling"], key
        assert inputs.get("labels", {}) == seed["labels"], key
        assert inputs.get("taints", []) == seed["taints"], key
        assert inputs["capacityType"] == "ON_DEMAND"
        assert inputs["updateConfig"] == {"maxUnavailablePercentage": 33}


def test_desired_size_is_left_to_the_autoscaler(prod):
    for group in prod.of_type(NODE_GROUP):
        assert group.ignore_changes == ("scalingConfig.desiredSize",)


def test_launch_templates_require_imdsv2_and_encrypt_the_root_volume(prod):
    ids = by_id(prod)
    for group in prod.of_type(NODE_GROUP):
        template = ids[group.inputs["launchTemplate"]["id"]]
        assert template.type == LAUNCH_TEMPLATE
        assert group.inputs["launchTemplate"]["version"] == str(template.state["latestVersion"])
        metadata = template.inputs["metadataOptions"]
        assert metadata["httpTokens"] == "required"
        assert metadata["httpPutResponseHopLimit"] == 1
        (root,) = template.inputs["blockDeviceMappings"]
        assert root["ebs"]["encrypted"] == "true"
        assert root["ebs"]["volumeType"] == "gp3"
        assert root["ebs"]["volumeSize"] == 100
        assert "keyName" not in template.inputs


def test_node_role_has_exactly_the_policies_nodes_need(prod):
    ids = by_id(prod)
    node_role = ids[next(iter(node_groups(prod).values())).inputs["nodeRoleArn"].rsplit("/", 1)[1]]
    attached = {
        a.inputs["policyArn"]
        for a in prod.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.inputs["role"] == node_role.state["name"]
    }
    assert attached == set(NODE_POLICIES)
    trust = json.loads(node_role.inputs["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "ec2.amazonaws.com"}]
    assert not prod.of_type("aws:iam/rolePolicy:RolePolicy"), "no inline policies widen the roles"


def test_node_security_group_admits_only_nodes_and_the_control_plane(prod):
    node_sg_id = stack_plan("prod").outputs["nodeSecurityGroupId"]
    ids = by_id(prod)
    sources = {
        ids[rule.inputs["referencedSecurityGroupId"]].name
        for rule in prod.of_type(INGRESS)
        if rule.inputs["securityGroupId"] == node_sg_id
    }
    assert sources == {"platform-cluster-node", "platform-cluster-cluster"}
    assert all("cidrIpv4" not in r.inputs for r in prod.of_type(INGRESS))
    everything = by_id(stack_plan("prod"))
    api_rules = {
        everything[r.inputs["referencedSecurityGroupId"]].name: r
        for r in prod.of_type(INGRESS)
        if r.inputs["securityGroupId"] != node_sg_id
    }
    # The API admits the nodes and the deploy runner, each on 443 only.
    assert set(api_rules) == {"platform-cluster-node", "platform-runner-sg"}
    assert api_rules["platform-cluster-node"].inputs["referencedSecurityGroupId"] == node_sg_id
    assert {(r.inputs["fromPort"], r.inputs["toPort"]) for r in api_rules.values()} == {(443, 443)}


def test_oidc_provider_trusts_the_clusters_issuer(prod):
    provider = prod.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider.inputs["url"] == prod.one(CLUSTER).state["identities"][0]["oidcs"][0]["issuer"]
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]


def test_all_five_addons_with_pods_ones_waiting_for_nodes(prod):
    addons = {a.inputs["addonName"]: a for a in prod.of_type("aws:eks/addon:Addon")}
    assert (
        set(addons)
        == set(ADDONS)
        == {
            "vpc-cni",
            "coredns",
            "kube-proxy",
            "aws-ebs-csi-driver",
            "eks-pod-identity-agent",
        }
    )
    group_urns = {g.urn for g in prod.of_type(NODE_GROUP)}
    assert group_urns <= set(addons["coredns"].dependencies)
    assert group_urns <= set(addons["aws-ebs-csi-driver"].dependencies)
    for group in prod.of_type(NODE_GROUP):
        assert addons["vpc-cni"].urn in group.dependencies
    (association,) = addons["aws-ebs-csi-driver"].inputs["podIdentityAssociations"]
    assert association["serviceAccount"] == "ebs-csi-controller-sa"


def test_the_vpc_cni_enforces_network_policies(prod):
    """Without it the baseline's NetworkPolicies are accepted by the API and enforced by nothing."""
    (cni,) = [a for a in prod.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "vpc-cni"]
    assert json.loads(cni.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}


@pytest.mark.slow
def test_addon_versions_and_admin_roles_come_from_config():
    raw = raw_stack_config("prod")
    cluster = json.loads(raw["platform:cluster"])
    admin = "arn:aws:iam::123456789012:role/platform-admins"
    raw["platform:cluster"] = json.dumps(
        {**cluster, "addonVersions": {"coredns": "v1.11.4-eksbuild.2"}, "adminRoleArns": [admin]}
    )
    plan = cluster_part(run_program(raw, "prod"))
    addons = {a.inputs["addonName"]: a for a in plan.of_type("aws:eks/addon:Addon")}
    assert addons["coredns"].inputs["addonVersion"] == "v1.11.4-eksbuild.2"
    assert "addonVersion" not in addons["vpc-cni"].inputs
    entries = [e for e in plan.of_type(ENTRY) if e.inputs["principalArn"] == admin]
    assert len(entries) == 1
    (association,) = [
        a
        for a in plan.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
        if a.inputs["principalArn"] == admin
    ]
    assert association.inputs["policyArn"].endswith("/AmazonEKSClusterAdminPolicy")
    assert association.inputs["accessScope"] == {"type": "cluster"}


def test_autoscaler_can_discover_and_scale_groups_from_zero(prod):
    groups = node_groups(prod)
    tags = groups["agentWorkers"].inputs["tags"]
    assert tags["k8s.io/cluster-autoscaler/enabled"] == "true"
    assert tags["k8s.io/cluster-autoscaler/platform-prod"] == "owned"
    assert tags["k8s.io/cluster-autoscaler/node-template/taint/workload-type"] == "agent-execution:NoSchedule"
    asg_tags = {t.inputs["tag"]["key"]: t.inputs for t in prod.of_type("aws:autoscaling/tag:Tag")}
    label = asg_tags["k8s.io/cluster-autoscaler/node-template/label/role"]
    assert label["tag"]["value"] == "general-compute"
    assert (
        label["autoscalingGroupName"]
        == groups["general"].state["resources"][0]["autoscalingGroups"][0]["name"]
    )


@pytest.mark.slow
def test_a_label_and_a_taint_of_one_key_each_get_their_auto_scaling_group_tag():
    groups = raw_stack_config("prod")
    gpu = {
        "instanceTypes": ["g5.xlarge"],
        "amiType": "AL2023_x86_64_NVIDIA",
        "minSize": 0,
        "maxSize": 2,
        "desiredSize": 0,
        "labels": {"nvidia.com/gpu": "true"},
        "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}],
    }
    cluster = json.loads(groups["platform:cluster"])
    cluster["nodeGroups"]["gpu"] = gpu
    plan = run_program({**groups, "platform:cluster": json.dumps(cluster)}, "prod")
    group = plan.component("platform:index:NodeGroup", "platform-cluster-gpu")
    tags = {t.name: t.inputs["tag"] for t in group.of_type("aws:autoscaling/tag:Tag")}
    assert tags == {
        "platform-cluster-gpu-label-nvidia.com-gpu": {
            "key": "k8s.io/cluster-autoscaler/node-template/label/nvidia.com/gpu",
            "value": "true",
            "propagateAtLaunch": False,
        },
        "platform-cluster-gpu-taint-nvidia.com-gpu": {
            "key": "k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu",
            "value": "true:NoSchedule",
            "propagateAtLaunch": False,
        },
    }


def test_autoscaler_tags_render_kubernetes_effects():
    spec = NodeGroupSpec(
        instance_types=("m5.large",),
        min_size=0,
        max_size=1,
        desired_size=0,
        taints=(Taint("gpu", "true", "PREFER_NO_SCHEDULE"), Taint("x", "", "NO_EXECUTE")),
    )
    tags = autoscaler_tags("c", spec)
    assert tags["k8s.io/cluster-autoscaler/node-template/taint/gpu"] == "true:PreferNoSchedule"
    assert tags["k8s.io/cluster-autoscaler/node-template/taint/x"] == ":NoExecute"


def test_kubeconfig_is_a_secret_that_execs_aws_eks_get_token():
    plan = stack_plan("prod")
    secret = plan.outputs["kubeconfig"]
    assert repr(secret) == "[secret]"
    config = json.loads(secret.value)
    assert config["clusters"][0]["cluster"]["server"] == plan.outputs["clusterEndpoint"]
    exec_ = config["users"][0]["user"]["exec"]
    assert exec_["command"] == "aws"
    assert exec_["args"][:4] == ["eks", "get-token", "--cluster-name", "platform-prod"]
    provider = plan.one("pulumi:providers:kubernetes")
    assert repr(provider.inputs["kubeconfig"]) == "[secret]"


def _snapshot(plan: Plan) -> dict[str, dict]:
    """Each node group's inputs and its launch template's, with generated IDs made symbolic."""
    ids = by_id(plan)
    return {
        key: plan.symbolic(
            {"nodeGroup": group.inputs, "launchTemplate": ids[group.inputs["launchTemplate"]["id"]].inputs}
        )
        for key, group in node_groups(plan).items()
    }


def test_prod_node_groups_match_their_snapshot(prod):
    assert_matches_golden("prod_node_groups", _snapshot(stack_plan("prod")))


@pytest.mark.slow
def test_adding_a_node_group_changes_no_other():
    before = _snapshot(stack_plan("prod"))
    gpu = {
        "instanceTypes": ["g5.xlarge"],
        "amiType": "AL2023_x86_64_NVIDIA",
        "minSize": 0,
        "maxSize": 4,
        "desiredSize": 0,
    }
    groups = json.loads(raw_stack_config("prod")["platform:cluster"])["nodeGroups"]
    after = _snapshot(with_node_groups({**groups, "gpu": gpu}))
    assert set(after) == {*before, "gpu"}
    for key in before:
        assert after[key] == before[key], key


@pytest.mark.slow
def test_removing_a_node_group_changes_no_other():
    before = _snapshot(stack_plan("prod"))
    groups = json.loads(raw_stack_config("prod")["platform:cluster"])["nodeGroups"]
    del groups["memoryIntensive"]
    after = _snapshot(with_node_groups(groups))
    assert set(after) == {"general", "agentWorkers"}
    for key in after:
        assert after[key] == before[key], key


class FirstPreview(pulumi.runtime.Mocks):
    """What ``pulumi preview`` sees before anything exists: no IDs, and every computed output unknown."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        return None, dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        return {
            "names": ["us-east-1a", "us-east-1b", "us-east-1c"],
            "region": "us-east-1",
            "accountId": "1" * 12,
        }


def test_preview_works_before_the_cluster_exists():
    with mocked_stack(raw_stack_config("prod"), "prod", mocks=FirstPreview(), preview=True) as monitor:
        _sync_await(pulumi.runtime.stack.run_in_stack(main_program))
    recorded = {r.type for r in monitor.recorded}
    assert {"pulumi:providers:kubernetes", NODE_GROUP, CLUSTER} <= recorded
    provider = next(r for r in monitor.recorded if r.type == "pulumi:providers:kubernetes")
    # The kubeconfig waits on the cluster's endpoint and CA: unknown, so the provider skips the cluster.
    assert isinstance(provider.inputs["kubeconfig"].value, Unknown)


def test_prod_preview_json_shows_the_cluster_as_the_issue_asks():
    resources = preview_json("prod")["resources"]
    (cluster,) = [r for r in resources if r["type"] == CLUSTER]
    assert sorted(cluster["inputs"]["enabledClusterLogTypes"]) == sorted(CONTROL_PLANE_LOG_TYPES)
    assert cluster["inputs"]["encryptionConfig"]["provider"]["keyArn"].startswith("arn:aws:kms:")
    assert cluster["inputs"]["vpcConfig"]["endpointPrivateAccess"] is True
    assert cluster["inputs"]["vpcConfig"]["endpointPublicAccess"] is False
    groups = {r["inputs"]["tags"]["NodeGroup"]: r["inputs"] for r in resources if r["type"] == NODE_GROUP}
    assert set(groups) == set(SEED_GROUPS)
    for key, seed in SEED_GROUPS.items():
        assert groups[key]["instanceTypes"] == seed["instanceTypes"]
        assert groups[key]["scalingConfig"] == seed["scaling"]
        assert groups[key].get("labels", {}) == seed["labels"]
        assert groups[key].get("taints", []) == seed["taints"]
    templates = [r for r in resources if r["type"] == LAUNCH_TEMPLATE]
    assert len(templates) == 3
    assert all(t["inputs"]["metadataOptions"]["httpTokens"] == "required" for t in templates)


# --- the service controller's one tagged security group per node --------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_each_node_carries_exactly_one_security_group_tagged_for_the_cluster(stack):
    plan = stack_plan(stack)
    cluster = plan.one(CLUSTER)
    tag = f"kubernetes.io/cluster/{cluster.inputs['name']}"
    tagged = {
        sg.state["id"]
        for sg in plan.of_type("aws:ec2/securityGroup:SecurityGroup")
        if tag in sg.inputs["tags"]
    }
    # EKS tags the cluster security group it makes as the cluster's own, too.
    tagged.add(cluster.state["vpcConfig"]["clusterSecurityGroupId"])
    for template in plan.of_type(LAUNCH_TEMPLATE):
        groups = template.inputs["vpcSecurityGroupIds"]
        assert len([group for group in groups if group in tagged]) == 1, template.name


def _gateway_on_nodes(node_groups_tagged: int) -> None:
    """A cluster whose nodes carry ``node_groups_tagged`` security groups tagged for it (their own, and
    EKS' cluster group if 2), and Istio's gateway release on it, as the service controller sees them."""
    cluster, vpc, subnets, role = bare_cluster()
    nodes = aws.ec2.SecurityGroup("nodes", vpc_id=vpc.id, tags={"kubernetes.io/cluster/c": "owned"})
    groups = [nodes.id] + [cluster.vpc_config.cluster_security_group_id] * (node_groups_tagged - 1)
    template = aws.ec2.LaunchTemplate("nodes", vpc_security_group_ids=groups)
    group = aws.eks.NodeGroup(
        "general",
        cluster_name=cluster.name,
        node_role_arn=role.arn,
        subnet_ids=[s.id for s in subnets],
        scaling_config={"min_size": 1, "max_size": 1, "desired_size": 1},
        launch_template={"id": template.id, "version": template.latest_version.apply(str)},
    )
    provider = deploy_provider(cluster)
    k8s.helm.v3.Release(
        "ingress",
        chart="gateway",
        values={"labels": {"istio": "ingressgateway"}},
        opts=pulumi.ResourceOptions(provider=provider, depends_on=[group]),
    )


def test_the_gateway_s_load_balancer_fails_on_nodes_with_two_tagged_security_groups():
    with pytest.raises(
        EmulationError, match="Multiple tagged security groups found for instance of node group"
    ):
        run_under_mocks(lambda: _gateway_on_nodes(2), {}, "dev", account=DEPLOYER)
    resources, _ = run_under_mocks(lambda: _gateway_on_nodes(1), {}, "dev", account=DEPLOYER)
    assert any(r.type == "kubernetes:helm.sh/v3:Release" for r in resources)


def _node_group_of(instance_type: str, ami_type: str | None, version: str | None = None) -> None:
    cluster, _, subnets, role = bare_cluster()
    aws.eks.NodeGroup(
        "group",
        cluster_name=cluster.name,
        node_role_arn=role.arn,
        subnet_ids=[s.id for s in subnets],
        instance_types=[instance_type],
        ami_type=ami_type,
        version=version,
        scaling_config={"min_size": 1, "max_size": 1, "desired_size": 1},
    )


def test_eks_refuses_instance_types_of_another_architecture_than_the_ami_type():
    with pytest.raises(
        EmulationError,
        match=r"InvalidParameterException: \[t4g\.medium\] is not a valid instance type for requested "
        "amiType AL2023_x86_64_STANDARD",
    ):
        run_under_mocks(lambda: _node_group_of("t4g.medium", None), {}, "dev")
    resources, _ = run_under_mocks(lambda: _node_group_of("t4g.medium", "AL2023_ARM_64_STANDARD"), {}, "dev")
    assert [r.inputs["amiType"] for r in resources if r.type == "aws:eks/nodeGroup:NodeGroup"] == [
        "AL2023_ARM_64_STANDARD"
    ]


def test_every_node_group_names_its_ami_type(prod):
    assert {g.inputs["amiType"] for g in node_groups(prod).values()} == {"AL2023_x86_64_STANDARD"}


def test_every_node_group_runs_the_control_plane_s_version_so_an_upgrade_reaches_the_nodes(prod):
    """Without ``version`` EKS picks one at creation and ``pulumi up`` never upgrades the nodes after the
    control plane (terraform-aws-modules passes the cluster's version the same way)."""
    (cluster,) = prod.of_type(CLUSTER)
    assert cluster.inputs["version"] == prod.config.cluster.version
    for group in node_groups(prod).values():
        assert group.inputs["version"] == cluster.state["version"]
        assert cluster.urn in group.dependencies


def test_eks_creates_a_node_group_only_at_the_cluster_s_version():
    """CreateNodegroup: "By default, the Kubernetes version of the cluster is used, and this is the only
    accepted specified value." (an older one is reached only by creating it with the cluster at it)."""
    with pytest.raises(
        EmulationError, match=r"InvalidParameterException: .*version 1\.33.* cluster .* 1\.34"
    ):
        run_under_mocks(lambda: _node_group_of("m5.large", None, "1.33"), {}, "dev")
    resources, _ = run_under_mocks(lambda: _node_group_of("m5.large", None, "1.34"), {}, "dev")
    assert [r.inputs["version"] for r in resources if r.type == NODE_GROUP] == ["1.34"]


def test_eks_refuses_a_role_arn_of_no_aws_partition():
    """CreateCluster's role must be an IAM role ARN of a partition AWS has (moto's check, its partition list
    read once per process: offline.emulation.lean)."""

    def cluster_of_role(arn: str) -> None:
        vpc = aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16")
        subnet = aws.ec2.Subnet(
            "subnet", vpc_id=vpc.id, cidr_block="10.0.1.0/24", availability_zone="us-east-1b"
        )
        aws.eks.Cluster("eks", name="c", version="1.34", role_arn=arn, vpc_config={"subnet_ids": [subnet.id]})

    with pytest.raises(EmulationError, match="Invalid Role Arn: 'arn:nowhere:iam::123456789012:role/r'"):
        run_under_mocks(lambda: cluster_of_role("arn:nowhere:iam::123456789012:role/r"), {}, "dev")
    resources, _ = run_under_mocks(lambda: cluster_of_role("arn:aws-cn:iam::123456789012:role/r"), {}, "dev")
    assert [r.name for r in resources if r.type == "aws:eks/cluster:Cluster"] == ["eks"]
