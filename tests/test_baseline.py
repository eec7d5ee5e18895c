"""The Kubernetes baseline: namespaces with quotas, limits and network policies, priority classes and the
cluster autoscaler, from the stacks' real plans in the emulated account, and its pure pieces directly."""

from __future__ import annotations

import copy
import ipaddress
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.baseline import (
    SEED_LIMITS,
    ClusterAutoscalerSpec,
    DataTier,
    NamespaceSpec,
    autoscaler_values,
    credentials_reader_policy,
    mesh_callers,
    network_policies,
)
from components.config import (
    ClusterAutoscalerConfig,
    ConfigError,
    MeshConfig,
    parse_stack_config,
    quantity_value,
)
from offline.emulation import EmulationError
from offline.manifests import validate
from offline.runner import Plan, RecordedResource, run_program, run_under_mocks
from tests.conftest import offline_cli, raw_stack_config, stack_plan, with_deploy
from tests.plans import run_with, stack_names

BASELINE = "platform:index:Baseline"
NAMESPACE = "kubernetes:core/v1:Namespace"
QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMIT_RANGE = "kubernetes:core/v1:LimitRange"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
PRIORITY_CLASS = "kubernetes:scheduling.k8s.io/v1:PriorityClass"
RELEASE = "kubernetes:helm.sh/v3:Release"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
SUBNET = "aws:ec2/subnet:Subnet"

SEED_LIMIT_RANGE = {
    "default": {"cpu": "1", "memory": "2Gi", "ephemeral-storage": "2Gi"},
    "defaultRequest": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "1Gi"},
    "min": {"cpu": "50m", "memory": "64Mi", "ephemeral-storage": "100Mi"},
    "max": {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "10Gi"},
}
"""The seed's LimitRange, written out here rather than read from the code under test."""
POLICY_NAMES = {
    "default-deny",
    "allow-dns",
    "allow-pod-identity",
    "allow-same-namespace",
    "allow-istio",
    "allow-data-tier",
}


def baseline(plan: Plan) -> Plan:
    return plan.component(BASELINE)


def in_namespace(plan: Plan, type_token: str, namespace: str) -> dict[str, RecordedResource]:
    """The resources of ``type_token`` in ``namespace``, by their Kubernetes name."""
    return {
        r.inputs["metadata"]["name"]: r
        for r in baseline(plan).of_type(type_token)
        if r.inputs["metadata"].get("namespace") == namespace
    }


def policies(plan: Plan, namespace: str) -> dict[str, dict[str, Any]]:
    return {name: r.inputs["spec"] for name, r in in_namespace(plan, NETWORK_POLICY, namespace).items()}


def egress_rules(plan: Plan, namespace: str) -> list[dict[str, Any]]:
    return [rule for spec in policies(plan, namespace).values() for rule in spec.get("egress", [])]


def autoscaler(plan: Plan) -> dict[str, RecordedResource]:
    part = baseline(plan)
    return {
        "role": part.one(ROLE, "platform-baseline-autoscaler"),
        "policy": part.one(ROLE_POLICY, "platform-baseline-autoscaler"),
        "association": part.one(ASSOCIATION, "platform-baseline-autoscaler"),
        "release": part.one(RELEASE, "platform-baseline-autoscaler"),
    }


def credentials_reader(plan: Plan, namespace: str) -> dict[str, Any]:
    part = baseline(plan)
    name = f"platform-baseline-{namespace}-credentials"
    return {
        "role": part.one(ROLE, name),
        "policy": part.one(ROLE_POLICY, name),
        "associations": [r for r in part.of_type(ASSOCIATION) if r.name.startswith(f"{name}-")],
    }


def cluster_of(plan: Plan) -> str:
    name: str = plan.one("aws:eks/cluster:Cluster").inputs["name"]
    return name


@pytest.fixture(scope="module")
def prod() -> Plan:
    return stack_plan("prod")


@pytest.fixture(scope="module")
def variant() -> Plan:
    """dev with a second namespace (its own limits, no internet), a mesh service it may call, and no
    autoscaler: one run for every non-default path."""
    raw = raw_stack_config("dev")
    namespaces = json.loads(raw["platform:namespaces"])
    namespaces["batch"] = {
        "cpuRequests": "8",
        "memoryRequests": "32Gi",
        "pods": 40,
        "limitRange": {"maxMemory": "32Gi", "defaultMemory": "4Gi", "minCpu": "10m"},
    }
    mesh = json.loads(raw["platform:mesh"])
    mesh["services"]["agent-runtime"]["allowedNamespaces"] = ["batch"]
    raw["platform:namespaces"] = json.dumps(namespaces)
    raw["platform:mesh"] = json.dumps(mesh)
    raw["platform:baseline"] = json.dumps({"clusterAutoscaler": {"enabled": False}})
    return run_program(raw, "dev")


# --- namespaces: quota, limits, policies ---------------------------------------------------------------


@pytest.mark.parametrize("stack", stack_names())
def test_every_namespace_gets_its_quota_limits_policies_and_connections(stack: str) -> None:
    plan = stack_plan(stack)
    namespaces = {r.inputs["metadata"]["name"] for r in baseline(plan).of_type(NAMESPACE)}
    assert namespaces == set(plan.config.namespaces)
    for namespace in namespaces:
        assert set(in_namespace(plan, QUOTA, namespace)) == {"platform-quota"}
        assert set(in_namespace(plan, LIMIT_RANGE, namespace)) == {"platform-limits"}
        assert set(in_namespace(plan, CONFIG_MAP, namespace)) == {"platform-connections"}
        assert set(policies(plan, namespace)) >= POLICY_NAMES


@pytest.mark.parametrize("stack", stack_names())
def test_every_application_namespace_is_in_the_mesh(stack: str) -> None:
    """Mutual TLS is STRICT mesh-wide, so a pod without a sidecar could call no routed service."""
    for namespace in baseline(stack_plan(stack)).of_type(NAMESPACE):
        labels = namespace.inputs["metadata"]["labels"]
        assert labels["istio-injection"] == "enabled"
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_prod_limit_range_is_the_seeds(prod: Plan) -> None:
    (limits,) = in_namespace(prod, LIMIT_RANGE, "agents").values()
    assert limits.inputs["spec"] == {"limits": [{"type": "Container", **SEED_LIMIT_RANGE}]}


@pytest.mark.slow
def test_a_second_namespace_gets_its_own_limits_and_no_internet(variant: Plan) -> None:
    (limits,) = in_namespace(variant, LIMIT_RANGE, "batch").values()
    (container,) = limits.inputs["spec"]["limits"]
    assert container["max"]["memory"] == "32Gi"
    assert container["default"]["memory"] == "4Gi"
    assert container["min"]["cpu"] == "10m"
    assert container["max"]["cpu"] == SEED_LIMIT_RANGE["max"]["cpu"], "unset keys keep the seed's figure"
    assert in_namespace(variant, QUOTA, "batch")["platform-quota"].inputs["spec"]["hard"]["pods"] == "40"
    assert "allow-internet-https" not in policies(variant, "batch")
    assert "allow-internet-https" in policies(variant, "agents")
    assert not [
        block
        for rule in egress_rules(variant, "batch")
        for peer in rule["to"]
        if (block := peer.get("ipBlock"))
        if ipaddress.ip_network(block["cidr"]).prefixlen == 0
    ]


@pytest.mark.parametrize("stack", stack_names())
def test_default_deny_selects_every_pod_in_both_directions(stack: str) -> None:
    plan = stack_plan(stack)
    for namespace in plan.config.namespaces:
        deny = policies(plan, namespace)["default-deny"]
        assert deny["podSelector"] == {}
        assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
        assert "ingress" not in deny and "egress" not in deny


def test_every_policy_applies_to_the_whole_namespace(prod: Plan) -> None:
    # A policy selecting a subset of pods would leave the others to the default deny alone, by accident.
    assert all(spec["podSelector"] == {} for spec in policies(prod, "agents").values())


def test_dns_egress_only_to_kube_dns_on_53(prod: Plan) -> None:
    (rule,) = policies(prod, "agents")["allow-dns"]["egress"]
    assert rule["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert sorted((p["protocol"], p["port"]) for p in rule["ports"]) == [("TCP", 53), ("UDP", 53)]


def test_pods_may_fetch_pod_identity_credentials_from_the_node_agent_only(prod: Plan) -> None:
    (rule,) = policies(prod, "agents")["allow-pod-identity"]["egress"]
    # The address EKS documents for the Pod Identity Agent (IPv4), on its HTTP port.
    assert rule == {
        "to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}],
        "ports": [{"protocol": "TCP", "port": 80}],
    }


def test_within_the_namespace_everything_is_allowed(prod: Plan) -> None:
    same = policies(prod, "agents")["allow-same-namespace"]
    assert same["ingress"] == [{"from": [{"podSelector": {}}]}]
    assert same["egress"] == [{"to": [{"podSelector": {}}]}]


def test_istio_may_reach_pods_and_pods_reach_only_istiod(prod: Plan) -> None:
    istio = policies(prod, "agents")["allow-istio"]
    istio_system = {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}}
    assert istio["ingress"] == [{"from": [{"namespaceSelector": istio_system}]}]
    (rule,) = istio["egress"]
    assert rule["to"] == [
        {"namespaceSelector": istio_system, "podSelector": {"matchLabels": {"app": "istiod"}}}
    ]
    # 15012 serves sidecars their config and certificates; 15017, the webhook, is called by the API server.
    assert [(p["protocol"], p["port"]) for p in rule["ports"]] == [("TCP", 15012)]


def _database_subnet_cidrs(plan: Plan) -> set[str]:
    """The CIDRs of the subnets the RDS subnet group spans, from the emulated resources."""
    by_id = {r.state["id"]: r for r in plan.of_type(SUBNET)}
    (group,) = plan.of_type("aws:rds/subnetGroup:SubnetGroup")
    (cache_group,) = plan.of_type("aws:elasticache/subnetGroup:SubnetGroup")
    assert sorted(cache_group.inputs["subnetIds"]) == sorted(group.inputs["subnetIds"])
    return {by_id[subnet].inputs["cidrBlock"] for subnet in group.inputs["subnetIds"]}


@pytest.mark.parametrize("stack", stack_names())
def test_every_namespace_reaches_the_vpc_s_aws_endpoints_on_https_even_without_internet(stack: str) -> None:
    """Apps read the data tier's credentials from Secrets Manager, through its interface endpoint."""
    plan = stack_plan(stack)
    by_id = {r.state["id"]: r for r in plan.of_type(SUBNET)}
    (endpoint,) = [
        r
        for r in plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if r.inputs["vpcEndpointType"] == "Interface" and r.inputs["serviceName"].endswith(".secretsmanager")
    ]
    assert endpoint.inputs["privateDnsEnabled"] is True
    endpoint_cidrs = sorted(by_id[subnet].inputs["cidrBlock"] for subnet in endpoint.inputs["subnetIds"])
    # Small subnets of their own: 443 is open to a few endpoint addresses, not to every node and pod.
    assert all(ipaddress.IPv4Network(cidr).prefixlen == 28 for cidr in endpoint_cidrs)
    assert {by_id[subnet].inputs["tags"]["Tier"] for subnet in endpoint.inputs["subnetIds"]} == {"endpoints"}
    for namespace in plan.config.namespaces:
        (rule,) = policies(plan, namespace)["allow-aws-endpoints"]["egress"]
        assert sorted(peer["ipBlock"]["cidr"] for peer in rule["to"]) == endpoint_cidrs
        assert rule["ports"] == [{"protocol": "TCP", "port": 443}]


@pytest.mark.slow
def test_without_interface_endpoints_no_namespace_is_let_out_to_them() -> None:
    plan = run_with("dev", "network", interfaceEndpoints=[])
    assert not [
        r
        for r in plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if r.inputs["vpcEndpointType"] == "Interface"
    ]
    assert "allow-aws-endpoints" not in policies(plan, "agents")


@pytest.mark.parametrize("stack", stack_names())
def test_data_tier_egress_goes_only_to_its_subnets_on_its_ports(stack: str) -> None:
    plan = stack_plan(stack)
    ports = {
        plan.one("aws:rds/cluster:Cluster").state["port"],
        plan.one("aws:elasticache/replicationGroup:ReplicationGroup").state["port"],
    }
    assert ports == {5432, plan.config.cache.port}
    vpc = ipaddress.ip_network(plan.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"])
    for namespace in plan.config.namespaces:
        (rule,) = policies(plan, namespace)["allow-data-tier"]["egress"]
        assert {peer["ipBlock"]["cidr"] for peer in rule["to"]} == _database_subnet_cidrs(plan)
        assert all(set(peer) == {"ipBlock"} for peer in rule["to"])
        assert {(p["protocol"], p["port"]) for p in rule["ports"]} == {("TCP", port) for port in ports}
        # No other rule reaches into the VPC by address: the Pod Identity agent is link-local, the
        # internet rule excepts the whole VPC, and the AWS endpoints' rule (its own test) is 443 only.
        (endpoints,) = policies(plan, namespace)["allow-aws-endpoints"]["egress"]
        for other in egress_rules(plan, namespace):
            for peer in other.get("to", []):
                block = peer.get("ipBlock")
                if block is None or other is rule or other == endpoints:
                    continue
                if ipaddress.ip_network(block["cidr"]).is_link_local:
                    assert [(p["protocol"], p["port"]) for p in other["ports"]] == [("TCP", 80)]
                else:
                    assert [ipaddress.ip_network(c) for c in block["except"]] == [vpc]
                    assert [(p["protocol"], p["port"]) for p in other["ports"]] == [("TCP", 443)]


def test_internet_egress_is_https_outside_the_vpc(prod: Plan) -> None:
    (rule,) = policies(prod, "agents")["allow-internet-https"]["egress"]
    assert rule == {
        "to": [
            {"ipBlock": {"cidr": "0.0.0.0/0", "except": [prod.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"]]}}
        ],
        "ports": [{"protocol": "TCP", "port": 443}],
    }


@pytest.mark.slow
def test_mesh_callers_in_other_namespaces_get_through(variant: Plan) -> None:
    assert policies(variant, "agents")["allow-mesh-peers"] == {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [
            {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "batch"}}}]}
        ],
    }
    assert policies(variant, "batch")["allow-mesh-peers"] == {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [
            {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "agents"}}}]}
        ],
    }


def test_no_mesh_peers_no_policy(prod: Plan) -> None:
    assert "allow-mesh-peers" not in policies(prod, "agents")


# --- pure pieces of the policies -------------------------------------------------------------------------


def test_without_a_data_tier_nothing_reaches_it() -> None:
    spec = NamespaceSpec(cpu_requests="1", memory_requests="1Gi", pods=1)
    found = network_policies(spec, vpc_cidr="10.1.0.0/16", data_tier=None)
    assert set(found) == POLICY_NAMES - {"allow-data-tier"}
    with_tier = network_policies(
        spec, vpc_cidr="10.1.0.0/16", data_tier=DataTier(("10.1.224.0/22",), (5432,))
    )
    assert with_tier["allow-data-tier"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "10.1.224.0/22"}}]


def test_mesh_callers_collect_other_namespaces_per_service_namespace() -> None:
    mesh = MeshConfig.model_validate(
        {
            "gatewayHosts": ["api.example.com"],
            "services": {
                "a": {"namespace": "agents", "port": 80, "allowedNamespaces": ["batch", "agents"]},
                "b": {"namespace": "agents", "port": 81, "allowedNamespaces": ["tools"]},
                "c": {"namespace": "tools", "port": 82},
            },
        }
    )
    assert mesh_callers(mesh) == {"agents": {"batch", "tools"}}


# --- priority classes ------------------------------------------------------------------------------------


def test_priority_classes_are_the_seeds_plus_platform_critical(prod: Plan) -> None:
    classes = {r.inputs["metadata"]["name"]: r.inputs for r in baseline(prod).of_type(PRIORITY_CLASS)}
    assert set(classes) == {"high-priority", "low-priority", "platform-critical"}
    assert classes["high-priority"]["value"] == 1000
    assert classes["low-priority"]["value"] == 100
    assert classes["high-priority"]["value"] < classes["platform-critical"]["value"] <= 1_000_000_000
    assert all(c["globalDefault"] is False for c in classes.values())
    assert all(c["description"] for c in classes.values())
    # Batch work outranks unclassed pods (priority 0) in the queue but must not evict them.
    assert classes["low-priority"]["preemptionPolicy"] == "Never"
    assert classes["high-priority"]["preemptionPolicy"] == "PreemptLowerPriority"


# --- the cluster autoscaler ------------------------------------------------------------------------------


def test_autoscaler_role_trusts_only_eks_pod_identity(prod: Plan) -> None:
    (statement,) = json.loads(autoscaler(prod)["role"].inputs["assumeRolePolicy"])["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]


def test_autoscaler_may_change_only_groups_tagged_as_this_clusters(prod: Plan) -> None:
    found = autoscaler(prod)
    assert found["policy"].inputs["role"] == found["role"].state["name"]
    statements = json.loads(found["policy"].inputs["policy"])["Statement"]
    unconditioned = [s for s in statements if "Condition" not in s]
    assert all(
        action.split(":")[1].startswith(("Describe", "Get"))
        for s in unconditioned
        for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ), "unscoped statements only read"
    (node_groups,) = [s for s in statements if s.get("Action") == "eks:DescribeNodegroup"]
    account, region = prod.outputs["oidcProviderArn"].split(":")[4], prod.outputs["region"]
    assert node_groups["Resource"] == f"arn:aws:eks:{region}:{account}:nodegroup/{cluster_of(prod)}/*/*"
    assert all(s["Resource"] != "*" for s in statements if "eks:DescribeNodegroup" in s["Action"])
    (scale,) = [s for s in statements if "Condition" in s]
    assert sorted(scale["Action"]) == [
        "autoscaling:SetDesiredCapacity",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
    ]
    ((key, value),) = scale["Condition"]["StringEquals"].items()
    tag = key.removeprefix("aws:ResourceTag/")
    assert tag == f"k8s.io/cluster-autoscaler/{cluster_of(prod)}"
    # The condition is evaluated on the Auto Scaling groups, which EKS tags with exactly this for every
    # managed node group (its auto-discovery tags); the emulation cannot show the groups' own tags, so
    # this checks the node groups ask for the same tag and value.
    groups = prod.of_type("aws:eks/nodeGroup:NodeGroup")
    assert groups and all(group.inputs["tags"][tag] == value for group in groups)


def test_pod_identity_association_is_the_charts_service_account(prod: Plan) -> None:
    found = autoscaler(prod)
    association, release = found["association"], found["release"]
    service_account = release.inputs["values"]["rbac"]["serviceAccount"]
    assert service_account["create"] is True
    assert association.inputs["serviceAccount"] == service_account["name"]
    assert association.inputs["namespace"] == release.inputs["namespace"] == "kube-system"
    assert association.inputs["roleArn"] == found["role"].state["arn"]
    assert association.inputs["clusterName"] == prod.one("aws:eks/cluster:Cluster").inputs["name"]
    assert association.state["associationArn"].endswith(f"/{association.state['id']}"), (
        "made by the emulation"
    )


def test_helm_values_name_the_cluster_and_region(prod: Plan) -> None:
    release = autoscaler(prod)["release"].inputs
    values = release["values"]
    assert values["autoDiscovery"]["clusterName"] == prod.one("aws:eks/cluster:Cluster").inputs["name"]
    assert values["awsRegion"] == prod.config.region == "us-east-1"
    assert values["cloudProvider"] == "aws"
    assert (release["chart"], release["version"]) == ("cluster-autoscaler", "9.53.0")
    assert release["repositoryOpts"] == {"repo": "https://kubernetes.github.io/autoscaler"}
    assert "image" not in values, "the chart supplies the image of its own appVersion"
    assert values["priorityClassName"] == "system-cluster-critical"
    assert values["podDisruptionBudget"] == {"maxUnavailable": 1}


def test_chart_waits_for_its_identity_permissions_and_nodes(prod: Plan) -> None:
    found = autoscaler(prod)
    waits_for = set(found["release"].dependencies)
    assert {found["association"].urn, found["policy"].urn} <= waits_for
    assert {g.urn for g in prod.of_type("aws:eks/nodeGroup:NodeGroup")} <= waits_for


def test_autoscaler_values_carry_the_seeds_flags_and_config() -> None:
    spec = ClusterAutoscalerSpec(
        replicas=3,
        cpu="200m",
        memory="512Mi",
        scale_down_unneeded_minutes=5,
        scale_down_delay_after_add_minutes=0,
    )
    values = autoscaler_values(spec, cluster_name="c1", region="eu-west-1")
    assert (
        values["extraArgs"]
        | {
            "expander": "least-waste",
            "balance-similar-node-groups": True,
            "skip-nodes-with-local-storage": False,
            "skip-nodes-with-system-pods": False,
            "scale-down-delay-after-delete": "10s",
            "scale-down-delay-after-failure": "3m",
            "scale-down-unneeded-time": "5m",
            "scale-down-delay-after-add": "0m",
        }
        == values["extraArgs"]
    )
    assert values["replicaCount"] == 3
    assert values["resources"] == {
        "requests": {"cpu": "200m", "memory": "512Mi"},
        "limits": {"cpu": "200m", "memory": "512Mi"},
    }
    assert (values["autoDiscovery"]["clusterName"], values["awsRegion"]) == ("c1", "eu-west-1")
    assert values["securityContext"]["runAsNonRoot"] is True
    assert values["containerSecurityContext"]["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.slow
def test_disabled_autoscaler_leaves_no_trace(variant: Plan) -> None:
    part = baseline(variant)
    assert not [
        r
        for r in part.resources
        if r.type in (RELEASE, ROLE, ROLE_POLICY, ASSOCIATION) and "autoscaler" in r.name
    ]
    assert (
        ClusterAutoscalerSpec.from_config(ClusterAutoscalerConfig(enabled=False), cluster_version="1.34")
        is None
    )


def test_the_account_refuses_an_association_for_a_role_that_does_not_exist() -> None:
    import pulumi_aws as aws

    def program() -> None:
        aws.eks.PodIdentityAssociation(
            "orphan",
            cluster_name="no-such-cluster",
            namespace="kube-system",
            service_account="cluster-autoscaler",
            role_arn="arn:aws:iam::123456789012:role/none",
        )

    with pytest.raises(EmulationError, match="PodIdentityAssociation 'orphan'"):
        run_under_mocks(program, {}, "dev")


# --- manifests against the Kubernetes schemas -------------------------------------------------------------

VALIDATED = {NAMESPACE, QUOTA, LIMIT_RANGE, CONFIG_MAP, NETWORK_POLICY, PRIORITY_CLASS}


def _chart_pdb(values: dict[str, Any]) -> dict[str, Any]:
    """The PodDisruptionBudget the chart renders from our values (its pdb.yaml: our spec plus a selector)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": values["fullnameOverride"], "namespace": "kube-system"},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/instance": "cluster-autoscaler"}},
            **values["podDisruptionBudget"],
        },
    }


@pytest.mark.parametrize("stack", stack_names())
def test_manifests_validate_against_the_clusters_kubernetes_version(stack: str) -> None:
    plan = stack_plan(stack)
    manifests = [r.inputs for r in baseline(plan).resources if r.type in VALIDATED]
    assert {m["kind"] for m in manifests} == {
        "Namespace",
        "ResourceQuota",
        "LimitRange",
        "ConfigMap",
        "NetworkPolicy",
        "PriorityClass",
    }
    manifests.append(_chart_pdb(autoscaler(plan)["release"].inputs["values"]))
    result = validate(manifests, plan.config.cluster.version)
    assert result.problems == ()
    assert result.checked == len(manifests)  # none skipped for want of a schema


def test_schema_validation_would_catch_a_wrong_field(prod: Plan) -> None:
    (limits,) = in_namespace(prod, LIMIT_RANGE, "agents").values()
    broken = copy.deepcopy(limits.inputs)
    broken["spec"]["limits"][0]["maximum"] = broken["spec"]["limits"][0].pop("max")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.34", strict=True)
    policy = copy.deepcopy(in_namespace(prod, NETWORK_POLICY, "agents")["allow-dns"].inputs)
    policy["spec"]["egress"][0]["ports"][0]["port"] = [53]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(policy, "1.34", strict=True)


# --- config ---------------------------------------------------------------------------------------------

AGENTS = {"cpuRequests": "4", "memoryRequests": "16Gi", "pods": 50}


def _namespace(**keys: Any) -> dict[str, Any]:
    return {"platform:namespaces": {"agents": {**AGENTS, **keys}}}


def _autoscaler(**keys: Any) -> dict[str, Any]:
    return {"platform:baseline": {"clusterAutoscaler": keys}}


BAD_KEYS = [
    (
        "platform:namespaces.agents.limitRange.maxMemory",
        _namespace(limitRange={"maxMemory": "1Gi"}),
        "must be at least defaultMemory (2Gi), got 1Gi",
    ),
    (
        "platform:namespaces.agents.limitRange.defaultCpu",
        _namespace(limitRange={"defaultRequestCpu": "2"}),
        "must be at least defaultRequestCpu (2), got 1",
    ),
    (
        "platform:namespaces.agents.limitRange.minEphemeralStorage",
        _namespace(limitRange={"minEphemeralStorage": "lots"}),
        "must be a Kubernetes quantity",
    ),
    (
        "platform:namespaces.agents.limitRange.maxCPU",
        _namespace(limitRange={"maxCPU": "8"}),
        "unknown key; did you mean 'maxCpu'?",
    ),
    (
        "platform:namespaces.agents.allowInternetEgress",
        _namespace(allowInternetEgress="yes"),
        "must be true or false",
    ),
    (
        "platform:baseline.clusterAutoscaler.chartVersion",
        _autoscaler(chartVersion="9.53"),
        "must be a MAJOR.MINOR.PATCH version",
    ),
    (
        "platform:baseline.clusterAutoscaler.chartVersion",
        _autoscaler(chartVersion="9.50.1"),
        "chart 9.50.1 ships cluster-autoscaler 1.33 but cluster.version is '1.34'; use 9.53.0",
    ),
    ("platform:baseline.clusterAutoscaler.replicas", _autoscaler(replicas=0), "must be at least 1, got 0"),
    (
        "platform:baseline.clusterAutoscaler.scaleDownUnneededMinutes",
        _autoscaler(scaleDownUnneededMinutes=0),
        "must be at least 1, got 0",
    ),
    (
        "platform:baseline.clusterAutoscaler.memory",
        _autoscaler(memory="300MB"),
        "must be a Kubernetes quantity",
    ),
    (
        "platform:baseline.clusterAutoscaller",
        {"platform:baseline": {"clusterAutoscaller": {}}},
        "unknown key; did you mean 'clusterAutoscaler'?",
    ),
    ("platform:baselin", {"platform:baselin": {}}, "did you mean 'platform:baseline'?"),
]


@pytest.mark.parametrize(
    ("path", "values", "message"), BAD_KEYS, ids=[f"{i}-{row[0]}" for i, row in enumerate(BAD_KEYS)]
)
def test_a_bad_baseline_key_is_reported_at_its_path(path: str, values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_stack_config(with_deploy(values), stack="dev")
    assert [issue.path for issue in info.value.issues] == [path]
    assert message in info.value.issues[0].message


def test_the_chart_follows_the_cluster_version_unless_set() -> None:
    config = parse_stack_config(with_deploy({"platform:cluster": {"version": "1.33"}}), stack="dev")
    spec = ClusterAutoscalerSpec.from_config(config.baseline.cluster_autoscaler, cluster_version="1.33")
    assert spec is not None and spec.chart_version == "9.51.0"
    pinned = parse_stack_config(
        with_deploy({"platform:cluster": {"version": "1.33"}, **_autoscaler(chartVersion="9.50.1")}),
        stack="dev",
    )
    assert pinned.baseline.cluster_autoscaler.chart_for("1.33") == "9.50.1"
    # A chart this module does not know is taken at its word; a minor with no known chart needs one set.
    parse_stack_config(
        with_deploy({"platform:cluster": {"version": "1.36"}, **_autoscaler(chartVersion="9.60.0")}),
        stack="dev",
    )
    with pytest.raises(ConfigError, match=r"platform:baseline\.clusterAutoscaler\.chartVersion: no known"):
        parse_stack_config(with_deploy({"platform:cluster": {"version": "1.36"}}), stack="dev")
    # A disabled autoscaler has no chart to match.
    parse_stack_config(with_deploy(_autoscaler(enabled=False, chartVersion="9.50.1")), stack="dev")


def test_defaults_keep_the_stack_files_working_and_secure() -> None:
    config = parse_stack_config(with_deploy(_namespace()), stack="prod")
    assert config.namespaces["agents"].allow_internet_egress is False
    assert NamespaceSpec.from_config(config.namespaces["agents"]).limits == SEED_LIMITS
    autoscaler_config = config.baseline.cluster_autoscaler
    assert autoscaler_config.enabled and autoscaler_config.chart_for(config.cluster.version) == "9.53.0"


def test_bad_baseline_config_exits_2_with_every_key_path(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text(
        "config:\n"
        "  platform:namespaces:\n"
        "    agents: {cpuRequests: '4', memoryRequests: 16Gi, pods: 5, limitRange: {minMemory: 4Gi}}\n"
        "  platform:baseline:\n"
        "    clusterAutoscaler: {chartVersion: '9.52.0', replicas: 9}\n"
    )
    result = offline_cli("preview", "--config-file", str(stack))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "platform:namespaces.agents.limitRange.defaultRequestMemory" in result.stderr
    assert "platform:baseline.clusterAutoscaler.replicas: must be at most 5, got 9" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@given(st.integers(min_value=0, max_value=10**6))
def test_quantities_compare_by_what_they_stand_for(n: int) -> None:
    assert quantity_value(f"{n}Mi") == n * 2**20
    assert quantity_value(f"{n}m") * 1000 == n
    assert quantity_value(f"{n}k") == quantity_value(f"{n}e3") == n * 1000
    assert quantity_value(f"{n}Gi") > quantity_value(f"{n}G") or n == 0
    assert quantity_value(f"{n}.5") == Decimal(n) + Decimal("0.5")


# --- the data tier's credentials ---------------------------------------------------------------------------


def test_each_namespace_with_service_accounts_gets_a_role_that_reads_exactly_the_data_tiers_secrets(
    prod: Plan,
) -> None:
    found = credentials_reader(prod, "agents")
    (trust,) = json.loads(found["role"].inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(trust["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    assert found["policy"].inputs["role"] == found["role"].state["name"]
    read, decrypt = json.loads(found["policy"].inputs["policy"])["Statement"]
    database_secret = prod.one("aws:rds/cluster:Cluster").state["masterUserSecrets"][0]["secretArn"]
    cache_secret = prod.one("aws:secretsmanager/secret:Secret", "platform-cache-auth-token").state["arn"]
    assert (read["Action"], sorted(read["Resource"])) == (
        "secretsmanager:GetSecretValue",
        sorted([database_secret, cache_secret]),
    )
    keys = {
        prod.one("aws:kms/key:Key", "platform-database-kms").state["arn"],
        prod.one("aws:kms/key:Key", "platform-cache-kms").state["arn"],
    }
    assert (decrypt["Action"], set(decrypt["Resource"])) == ("kms:Decrypt", keys)
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": f"secretsmanager.{prod.outputs['region']}.amazonaws.com"}
    }


def test_the_role_is_bound_to_the_namespaces_service_accounts_and_named_in_its_connections(
    prod: Plan,
) -> None:
    found = credentials_reader(prod, "agents")
    assert [(a.inputs["namespace"], a.inputs["serviceAccount"]) for a in found["associations"]] == [
        ("agents", account) for account in prod.config.namespaces["agents"].service_accounts
    ]
    assert all(a.inputs["roleArn"] == found["role"].state["arn"] for a in found["associations"])
    assert all(a.inputs["clusterName"] == cluster_of(prod) for a in found["associations"])
    connections = in_namespace(prod, CONFIG_MAP, "agents")["platform-connections"]
    assert connections.inputs["data"]["CREDENTIALS_ROLE_ARN"] == found["role"].state["arn"]


def test_credentials_policy_limits_decryption_to_secrets_manager() -> None:
    policy = credentials_reader_policy(["arn:secret:a", "arn:secret:b"], ["arn:key:a"], "eu-west-1")
    assert [s["Sid"] for s in policy["Statement"]] == [
        "ReadTheDataTiersSecrets",
        "DecryptThemThroughSecretsManager",
    ]
    assert policy["Statement"][1]["Condition"]["StringEquals"]["kms:ViaService"] == (
        "secretsmanager.eu-west-1.amazonaws.com"
    )


# --- metrics-server -----------------------------------------------------------------------------------------


def test_metrics_server_serves_the_metrics_api_every_autoscaler_reads(prod: Plan) -> None:
    release = baseline(prod).one(RELEASE, "platform-baseline-metrics-server")
    assert (release.inputs["chart"], release.inputs["version"]) == ("metrics-server", "3.13.1")
    assert release.inputs["repositoryOpts"]["repo"] == "https://kubernetes-sigs.github.io/metrics-server/"
    assert release.inputs["namespace"] == "kube-system"
    assert release.inputs["atomic"] is True
    values = release.inputs["values"]
    assert values["replicas"] == prod.config.baseline.metrics_server.replicas >= 2, "prod runs two"
    assert values["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}
    (spread,) = values["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    assert spread["labelSelector"] == {"matchLabels": {"app.kubernetes.io/name": "metrics-server"}}
    # Its pods need nodes to run on before Helm's wait can end.
    node_groups = {r.urn for r in prod.of_type("aws:eks/nodeGroup:NodeGroup")}
    assert node_groups <= set(release.dependencies)


def test_a_single_metrics_server_gets_no_budget_that_would_block_a_drain() -> None:
    release = baseline(stack_plan("dev")).one(RELEASE, "platform-baseline-metrics-server")
    assert release.inputs["values"]["replicas"] == 1
    assert "podDisruptionBudget" not in release.inputs["values"]
