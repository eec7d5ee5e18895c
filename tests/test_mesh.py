"""The Istio mesh: its charts, mesh-wide policy and routed services, from the stacks' real plans."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.mesh import (
    GATEWAY_RELEASE,
    ISTIO_NAMESPACE,
    MeshServiceSpec,
    http_route,
    per_try_timeout_seconds,
    routes_by_host,
    service_entry_spec,
)
from offline.runner import Plan, RecordedResource
from tests.conftest import stack_plan
from tests.plans import run_with, stack_names

RELEASE = "kubernetes:helm.sh/v3:Release"
GATEWAY = "kubernetes:networking.istio.io/v1:Gateway"
VIRTUAL_SERVICE = "kubernetes:networking.istio.io/v1:VirtualService"
DESTINATION_RULE = "kubernetes:networking.istio.io/v1:DestinationRule"
SERVICE_ENTRY = "kubernetes:networking.istio.io/v1:ServiceEntry"
PEER_AUTHENTICATION = "kubernetes:security.istio.io/v1:PeerAuthentication"
AUTHORIZATION_POLICY = "kubernetes:security.istio.io/v1:AuthorizationPolicy"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NAMESPACE = "kubernetes:core/v1:Namespace"


def mesh_part(stack_or_plan: str | Plan) -> Plan:
    plan = stack_plan(stack_or_plan) if isinstance(stack_or_plan, str) else stack_or_plan
    return plan.component("platform:index:Mesh")


def releases(plan: Plan) -> dict[str, RecordedResource]:
    return {r.inputs["name"]: r for r in mesh_part(plan).of_type(RELEASE)}


def by_name(plan: Plan, type_token: str) -> dict[str, RecordedResource]:
    return {r.inputs["metadata"]["name"]: r for r in mesh_part(plan).of_type(type_token)}


def urn_of(plan: Plan, type_token: str, name: str) -> str:
    return plan.one(type_token, name).urn


# --- the charts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", stack_names())
def test_four_istio_charts_of_one_version_install_in_order(stack: str) -> None:
    plan = stack_plan(stack)
    found = releases(plan)
    assert set(found) == {"istio-base", "istio-cni", "istiod", GATEWAY_RELEASE}
    assert {r.inputs["version"] for r in found.values()} == {plan.config.mesh.istio_version}
    assert {r.inputs["repositoryOpts"]["repo"] for r in found.values()} == {
        "https://istio-release.storage.googleapis.com/charts"
    }
    assert all(r.inputs["atomic"] for r in found.values())
    assert {r.inputs["timeout"] for r in found.values()} == {600}
    # CRDs first, then the CNI agent, the control plane, and the gateway it configures.
    for later, earlier in (("istio-cni", "istio-base"), ("istiod", "istio-cni"), (GATEWAY_RELEASE, "istiod")):
        assert found[earlier].urn in found[later].dependencies


def test_istio_s_pods_wait_for_nodes_and_coredns_before_helm_waits_for_them() -> None:
    plan = stack_plan("prod")
    found = releases(plan)
    nodes = {r.urn for r in plan.of_type("aws:eks/nodeGroup:NodeGroup")}
    (coredns,) = [r.urn for r in plan.of_type("aws:eks/addon:Addon") if r.inputs["addonName"] == "coredns"]
    assert len(nodes) == 3
    by_urn = {r.urn: r for r in plan.resources}
    for chart in ("istio-cni", "istiod", GATEWAY_RELEASE):
        # Directly or through what it waits for.
        waits_for, todo = set(), list(found[chart].dependencies)
        while todo:
            urn = todo.pop()
            if urn not in waits_for:
                waits_for.add(urn)
                todo.extend(by_urn[urn].dependencies if urn in by_urn else ())
        assert nodes | {coredns} <= waits_for, chart


def test_prod_control_plane_and_gateway_are_highly_available() -> None:
    plan = stack_plan("prod")
    found = releases(plan)
    pilot = found["istiod"].inputs["values"]["pilot"]
    assert pilot["autoscaleMin"] == pilot["replicaCount"] == plan.config.mesh.control_plane_replicas >= 2
    assert found["istiod"].inputs["values"]["global"]["defaultPodDisruptionBudget"] == {"enabled": True}
    gateway = found[GATEWAY_RELEASE].inputs["values"]
    assert gateway["autoscaling"]["minReplicas"] >= 2
    assert gateway["podDisruptionBudget"] == {"minAvailable": 1}
    (spread,) = gateway["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    assert spread["labelSelector"]["matchLabels"].items() <= gateway["labels"].items()


def test_dev_runs_one_of_each_and_no_budget_that_would_block_a_drain() -> None:
    found = releases(stack_plan("dev"))
    istiod, gateway = found["istiod"].inputs["values"], found[GATEWAY_RELEASE].inputs["values"]
    assert istiod["pilot"]["autoscaleMin"] == 1
    assert gateway["autoscaling"]["minReplicas"] == 1
    # A budget keeping one pod of one replica would forbid evicting it, so no node could drain.
    assert istiod["global"]["defaultPodDisruptionBudget"] == {"enabled": False}
    assert "podDisruptionBudget" not in gateway


@pytest.mark.parametrize("stack", stack_names())
def test_sidecars_rely_on_the_cni_agent_and_reach_outside_only_by_the_allow_list(stack: str) -> None:
    plan = stack_plan(stack)
    found = releases(plan)
    istiod = found["istiod"].inputs["values"]
    assert istiod["pilot"]["cni"] == {"enabled": True}
    # The CNI agent needs host access: kube-system, which is left out of redirection with istio-system.
    assert found["istio-cni"].inputs["namespace"] == "kube-system"
    assert found["istio-cni"].inputs["values"] == {"excludeNamespaces": ["kube-system", "istio-system"]}
    policy = istiod["meshConfig"]["outboundTrafficPolicy"]["mode"]
    assert policy == plan.config.mesh.outbound_traffic_policy == "REGISTRY_ONLY"
    # Applications wait for their sidecar, set where Istio 1.28 reads it: MeshConfig's ProxyConfig, not the
    # deprecated global.proxy key the chart maps onto it.
    assert istiod["meshConfig"]["defaultConfig"] == {"holdApplicationUntilProxyStarts": True}
    assert "holdApplicationUntilProxyStarts" not in istiod["global"]["proxy"]
    entries = [
        e for e in mesh_part(plan).of_type(SERVICE_ENTRY) if e.inputs["metadata"]["name"] == "allowed-egress"
    ]
    if plan.config.mesh.egress_hosts:
        (entry,) = entries
        assert entry.inputs["spec"]["hosts"] == plan.config.mesh.egress_hosts
        assert entry.inputs["spec"]["location"] == "MESH_EXTERNAL"
    else:
        assert entries == []


def test_every_kubernetes_resource_goes_to_the_platform_cluster() -> None:
    """Without the cluster's provider a resource lands in whatever cluster the deployer's kubeconfig names."""
    plan = stack_plan("prod")
    (provider,) = plan.of_type("pulumi:providers:kubernetes")
    kubernetes = [r for r in plan.resources if r.type.startswith("kubernetes:")]
    assert len(kubernetes) > 10
    # A provider reference is "<urn>::<id>".
    assert {(r.provider or "").rsplit("::", 1)[0] for r in kubernetes} == {provider.urn}


# --- mesh-wide policy -----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", stack_names())
def test_mutual_tls_is_strict_across_the_whole_mesh(stack: str) -> None:
    (peer,) = mesh_part(stack).of_type(PEER_AUTHENTICATION)
    # In the root namespace, with no selector, it applies to every workload.
    assert peer.inputs["metadata"]["namespace"] == ISTIO_NAMESPACE
    assert "selector" not in peer.inputs["spec"]
    assert peer.inputs["spec"]["mtls"] == {"mode": "STRICT"}


@pytest.mark.parametrize("stack", stack_names())
def test_the_gateway_serves_https_for_the_configured_hosts_and_only_redirects_http(stack: str) -> None:
    plan = stack_plan(stack)
    (gateway,) = mesh_part(plan).of_type(GATEWAY)
    https, http = gateway.inputs["spec"]["servers"]
    hosts = plan.config.mesh.gateway_hosts
    assert https["port"] == {"number": 443, "name": "https", "protocol": "HTTPS"}
    assert https["hosts"] == hosts and http["hosts"] == hosts
    assert https["tls"]["mode"] == "SIMPLE"
    assert https["tls"]["credentialName"] == plan.config.mesh.tls_secret_name
    assert https["tls"]["minProtocolVersion"] == "TLSV1_2"
    assert http["port"]["number"] == 80 and http["tls"] == {"httpsRedirect": True}
    # The Gateway selects the pods the gateway chart labels.
    labels = releases(plan)[GATEWAY_RELEASE].inputs["values"]["labels"]
    assert gateway.inputs["spec"]["selector"].items() <= labels.items()


def test_istio_resources_wait_for_the_crds_and_the_control_plane() -> None:
    plan = stack_plan("prod")
    found = releases(plan)
    istio_types = [r for r in mesh_part(plan).resources if ".istio.io/" in r.type]
    assert {r.type.rsplit(":", 1)[1] for r in istio_types} == {
        "Gateway",
        "PeerAuthentication",
        "ServiceEntry",
        "VirtualService",
        "DestinationRule",
        "AuthorizationPolicy",
    }
    for resource in istio_types:
        assert {found["istio-base"].urn, found["istiod"].urn} <= set(resource.dependencies), resource.name


# --- routed services -------------------------------------------------------------------------------


def test_prod_agent_runtime_route_has_the_seed_canary_timeout_and_retries() -> None:
    plan = stack_plan("prod")
    (route,) = by_name(plan, VIRTUAL_SERVICE).values()
    spec = route.inputs["spec"]
    assert route.inputs["metadata"] == {**route.inputs["metadata"], "name": "routes-api-example-com"}
    assert route.inputs["metadata"]["namespace"] == "istio-system"
    assert spec["hosts"] == ["api.example.com"]
    assert spec["gateways"] == ["istio-system/platform-gateway"]
    (http,) = spec["http"]
    assert http["name"] == "agent-runtime"
    # The seed's 10 % canary is the first step of the service's Rollout, which moves these weights.
    assert [(r["destination"]["subset"], r["weight"]) for r in http["route"]] == [
        ("stable", 100),
        ("canary", 0),
    ]
    assert plan.config.mesh.services["agent-runtime"].rollout.steps[0] == 10
    assert {r["destination"]["host"] for r in http["route"]} == {"agent-runtime.agents.svc.cluster.local"}
    assert {r["destination"]["port"]["number"] for r in http["route"]} == {8080}
    assert http["timeout"] == "30s"
    # Three retries after the first try: four tries share the 30 s.
    assert http["retries"] == {
        "attempts": 3,
        "perTryTimeout": "7500ms",
        "retryOn": "5xx,reset,connect-failure,refused-stream",
    }


def test_dev_without_a_canary_sends_everything_to_stable() -> None:
    (route,) = by_name(stack_plan("dev"), VIRTUAL_SERVICE).values()
    (http,) = route.inputs["spec"]["http"]
    assert [(r["destination"]["subset"], r["weight"]) for r in http["route"]] == [("stable", 100)]


def test_destination_rule_ejects_failing_pods_and_defines_the_routed_subsets() -> None:
    plan = stack_plan("prod")
    rule = by_name(plan, DESTINATION_RULE)["agent-runtime"].inputs["spec"]
    route = by_name(plan, VIRTUAL_SERVICE)["routes-api-example-com"].inputs["spec"]
    assert rule["host"] == route["http"][0]["route"][0]["destination"]["host"]
    outlier = rule["trafficPolicy"]["outlierDetection"]
    assert outlier["consecutive5xxErrors"] == 5 and outlier["maxEjectionPercent"] == 50
    assert rule["trafficPolicy"]["tls"] == {"mode": "ISTIO_MUTUAL"}
    # maxRetries is a budget shared by every request to the host, not a per-request count: left unset.
    assert "maxRetries" not in rule["trafficPolicy"]["connectionPool"]["http"]
    routed = {r["destination"]["subset"] for r in route["http"][0]["route"]}
    assert routed <= {subset["name"] for subset in rule["subsets"]}


def test_only_the_gateway_and_the_services_namespace_may_call_it() -> None:
    plan = stack_plan("prod")
    policy = by_name(plan, AUTHORIZATION_POLICY)["agent-runtime"].inputs["spec"]
    assert policy["action"] == "ALLOW"
    assert policy["selector"] == {"matchLabels": {"app": "agent-runtime"}}
    (rule,) = policy["rules"]
    sources = [source["source"] for source in rule["from"]]
    # The gateway's identity is the service account the gateway chart makes, named after the release.
    gateway_release = releases(plan)[GATEWAY_RELEASE]
    assert sources == [
        {"principals": [f"cluster.local/ns/istio-system/sa/{gateway_release.inputs['name']}"]},
        {"namespaces": ["agents"]},
    ]


def test_routes_wait_for_their_namespace_and_each_service_has_a_drain_safe_budget() -> None:
    plan = stack_plan("prod")
    namespace = urn_of(plan, NAMESPACE, "platform-baseline-agents")
    service = plan.component("platform:index:MeshService")
    assert {r.type for r in service.resources if r.custom} == {
        DESTINATION_RULE,
        AUTHORIZATION_POLICY,
        PDB,
    }
    for resource in service.resources:
        if resource.custom:
            assert namespace in resource.dependencies, resource.name
    (budget,) = service.of_type(PDB)
    assert budget.inputs["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"app": "agent-runtime"}},
    }


@pytest.mark.slow
def test_adding_a_service_routes_it_without_renaming_the_others() -> None:
    services = {
        "agent-runtime": {"namespace": "agents", "port": 8080, "canaryWeight": 10},
        "tool-router": {
            "namespace": "agents",
            "port": 9090,
            "pathPrefix": "/tools",
            "canaryWeight": 25,
            "timeoutSeconds": 5,
            "retries": 2,
        },
    }
    plan = run_with("prod", "mesh", services=services)
    before = {r.urn for r in mesh_part("prod").resources}
    after = {r.urn for r in mesh_part(plan).resources}
    assert before < after
    # One VirtualService for the shared host, the longer prefix first: Istio takes the first match.
    (routes,) = by_name(plan, VIRTUAL_SERVICE).values()
    tool, agent = routes.inputs["spec"]["http"]
    assert (tool["name"], agent["name"]) == ("tool-router", "agent-runtime")
    assert tool["match"] == [{"uri": {"prefix": "/tools"}}]
    assert [r["weight"] for r in tool["route"]] == [75, 25]
    assert (tool["timeout"], tool["retries"]["perTryTimeout"]) == ("5s", "1667ms")


@pytest.mark.slow
def test_egress_hosts_become_one_service_entry() -> None:
    plan = run_with("dev", "mesh", egressHosts=["api.anthropic.com", "*.amazonaws.com"])
    entry = by_name(plan, SERVICE_ENTRY)["allowed-egress"]
    assert entry.inputs["spec"]["hosts"] == ["api.anthropic.com", "*.amazonaws.com"]
    assert entry.inputs["spec"]["resolution"] == "NONE"  # a wildcard cannot be resolved by DNS


@pytest.mark.parametrize("stack", stack_names())
def test_sidecars_let_through_the_data_tier_and_pod_identity_credentials(stack: str) -> None:
    """Under REGISTRY_ONLY an unregistered host is a black hole: Aurora and Redis must be registered."""
    plan = stack_plan(stack)
    entries = by_name(plan, SERVICE_ENTRY)
    database, cache = entries["external-database"].inputs["spec"], entries["external-cache"].inputs["spec"]
    outputs = plan.outputs
    assert database["hosts"] == [outputs["databaseEndpoint"], outputs["databaseReaderEndpoint"]]
    assert database["ports"] == [{"number": 5432, "name": "tcp", "protocol": "TCP"}]
    assert cache["hosts"] == [outputs["cacheEndpoint"], outputs["cacheReaderEndpoint"]]
    assert cache["ports"] == [{"number": 6379, "name": "tcp", "protocol": "TCP"}]
    assert {database["location"], cache["location"]} == {"MESH_EXTERNAL"}
    # Plain TCP names no host: resolving by DNS would send the reader's traffic to the writer.
    assert {database["resolution"], cache["resolution"]} == {"NONE"}
    proxy = releases(plan)["istiod"].inputs["values"]["global"]["proxy"]
    assert proxy["excludeIPRanges"] == "169.254.170.23/32"


# --- pure functions ---------------------------------------------------------------------------------


def test_service_entry_resolves_exact_hosts_by_dns() -> None:
    assert service_entry_spec(["api.example.com"])["resolution"] == "DNS"


specs = st.builds(
    MeshServiceSpec,
    namespace=st.just("agents"),
    port=st.integers(1, 65535),
    hosts=st.just(("api.example.com",)),
    canary_weight=st.integers(0, 100),
    timeout_seconds=st.floats(0.01, 3600, allow_nan=False),
    retries=st.integers(0, 10),
)


@given(specs)
def test_route_weights_always_sum_to_100_and_canary_appears_only_when_weighted(spec: MeshServiceSpec) -> None:
    http = http_route("svc", spec)
    weights: dict[str, Any] = {r["destination"]["subset"]: r["weight"] for r in http["route"]}
    assert sum(weights.values()) == 100
    assert all(weight >= 0 for weight in weights.values())
    assert ("canary" in weights) == (spec.canary_weight > 0)


@given(specs)
def test_retries_fit_in_the_request_timeout(spec: MeshServiceSpec) -> None:
    retries = http_route("svc", spec)["retries"]
    assert retries["attempts"] == spec.retries
    if spec.retries:
        # attempts counts retries; the first try comes on top.
        assert per_try_timeout_seconds(spec) * (spec.retries + 1) == pytest.approx(spec.timeout_seconds)
        assert "perTryTimeout" in retries
    else:
        assert retries == {"attempts": 0}


@given(
    st.lists(
        st.sampled_from(["/", "/v1", "/v1/agents", "/tools", "/v2"]), min_size=1, max_size=5, unique=True
    )
)
def test_a_host_s_routes_put_every_longer_prefix_before_a_shorter_one(prefixes: list[str]) -> None:
    services = {
        f"svc-{index}": MeshServiceSpec("agents", 8080, ("api.example.com",), path_prefix=prefix)
        for index, prefix in enumerate(prefixes)
    }
    ((host, routed),) = routes_by_host(services).items()
    ordered = [spec.path_prefix for _, spec in routed]
    assert host == "api.example.com" and sorted(ordered) == sorted(prefixes)
    for earlier, later in itertools.pairwise(ordered):
        assert not later.startswith(earlier) or later == earlier, ordered
