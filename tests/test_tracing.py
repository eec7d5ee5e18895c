"""The tracing add-on: the OpenTelemetry collector, Istio's provider and Telemetry resource, and the way
from the application namespaces to the collector; and dev's plan without the observability add-ons."""

from __future__ import annotations

from typing import Any

import pytest

from components.addons.charts import CHARTS
from components.addons.tracing import collector_config, exporter
from components.config import parse_stack_config
from offline.runner import Plan, RecordedResource
from tests.conftest import refused_config, stack_plan, with_deploy
from tests.plans import dev_with_its_addons_on, run_with, stack_names

TRACING = "platform:index:Tracing"
MONITORING = "platform:index:Monitoring"
RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
TELEMETRY = "kubernetes:telemetry.istio.io/v1:Telemetry"

SCHEMA_ROOT = {
    "additionalLabels", "affinity", "alternateConfig", "annotations", "apiVersion", "autoscaling",
    "clusterRole", "command", "config", "configMap", "dnsConfig", "dnsPolicy",
    "enableConfigChecksumAnnotation", "enabled",
    "extraContainers", "extraEnvs", "extraEnvsFrom", "extraManifests", "extraVolumeMounts", "extraVolumes",
    "fullnameOverride", "global", "hostAliases", "hostNetwork", "hostPID", "httproute", "image",
    "imagePullSecrets", "ingress", "initContainers", "internalTelemetryViaOTLP", "lifecycleHooks",
    "livenessProbe", "mode", "nameOverride", "namespaceOverride", "networkPolicy", "nodeSelector",
    "podAnnotations", "podDisruptionBudget", "podLabels", "podMonitor", "podSecurityContext", "ports",
    "presets", "priorityClassName", "prometheusRule", "readinessProbe", "replicaCount", "resizePolicy",
    "resources", "revisionHistoryLimit", "rewriteDeprecatedComponentNames", "rollout", "runtimeClassName",
    "schedulerName", "securityContext", "service", "serviceAccount", "serviceMonitor",
    "shareProcessNamespace", "startupProbe", "statefulset", "terminationGracePeriodSeconds", "tolerations",
    "topologySpreadConstraints", "useGOMEMLIMIT",
}  # fmt: skip
"""The root properties of the chart's values.schema.json at opentelemetry-collector-0.170.0, which forbids
any other (``additionalProperties: false``): a key outside them fails ``helm install``."""
SCHEMA_CLOSED = {
    ("image",): {"registry", "repository", "tag", "digest", "pullPolicy"},
    ("ports", "*"): {
        "enabled",
        "containerPort",
        "servicePort",
        "hostPort",
        "nodePort",
        "protocol",
        "appProtocol",
    },
    ("resources",): {"limits", "requests"},
    ("resources", "limits"): {"cpu", "ephemeral-storage", "memory"},
    ("resources", "requests"): {"cpu", "ephemeral-storage", "memory"},
}
"""Objects the same schema closes, and the keys each declares."""


def tracing(plan: Plan) -> Plan:
    return plan.component(TRACING)


def values(plan: Plan) -> dict[str, Any]:
    found: dict[str, Any] = tracing(plan).one(RELEASE).inputs["values"]
    return found


def release_of(plan: Plan, name: str) -> RecordedResource:
    (found,) = [r for r in plan.of_type(RELEASE) if r.inputs["name"] == name]
    return found


@pytest.fixture(scope="module")
def prod() -> Plan:
    return stack_plan("prod")


# --- the collector ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_pinned_collector_runs_as_a_deployment_in_its_restricted_namespace(stack: str) -> None:
    plan = stack_plan(stack)
    release = tracing(plan).one(RELEASE)
    pin = CHARTS["opentelemetry-collector"]
    assert (release.inputs["chart"], release.inputs["version"]) == (pin.chart, pin.version)
    assert release.inputs["repositoryOpts"]["repo"] == pin.repository
    assert release.inputs["atomic"] is True
    namespace = tracing(plan).one(NAMESPACE).inputs["metadata"]
    assert release.inputs["namespace"] == namespace["name"]
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert "istio-injection" not in namespace["labels"]
    chart = values(plan)
    assert chart["mode"] == "deployment"
    assert chart["image"] == {"repository": "otel/opentelemetry-collector-k8s"}, "required since chart 0.89"
    assert chart["replicaCount"] == plan.config.addons.tracing.replicas == 2
    assert chart["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}
    assert chart["nodeSelector"] == {"role": "general-compute"}


def test_every_value_is_one_the_chart_s_schema_declares(prod: Plan) -> None:
    chart = values(prod)
    assert set(chart) <= SCHEMA_ROOT
    for path, keys in SCHEMA_CLOSED.items():
        objects = [chart]
        for step in path:
            objects = [
                child
                for parent in objects
                for key, child in parent.items()
                if (step == "*" or key == step) and isinstance(child, dict)
            ]
        for found in objects:
            assert set(found) <= keys, path
    assert chart["podDisruptionBudget"]["enabled"] is True, "the schema requires enabled"


def test_the_collector_meets_pod_security_restricted(prod: Plan) -> None:
    chart = values(prod)
    pod, container = chart["podSecurityContext"], chart["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert chart["resources"]["limits"]["memory"], "memory_limiter and GOMEMLIMIT work from the limit"


def test_the_collector_receives_otlp_only_and_exports_traces_to_debug_without_a_backend(prod: Plan) -> None:
    chart = values(prod)
    config = chart["alternateConfig"]
    assert set(config["receivers"]) == {"otlp"}
    assert set(config["service"]["pipelines"]) == {"traces"}
    assert config["service"]["pipelines"]["traces"] == {
        "receivers": ["otlp"],
        "processors": ["memory_limiter", "batch"],
        "exporters": ["debug"],
    }
    assert config["exporters"] == {"debug": {"verbosity": "basic"}}
    assert "health_check" in config["service"]["extensions"], "the chart's probes ask it"
    ports = chart["ports"]
    for unused in ("jaeger-compact", "jaeger-thrift", "jaeger-grpc", "zipkin"):
        assert ports[unused] == {"enabled": False}
    assert ports["otlp-http"]["appProtocol"] == "http"


def test_a_backend_gets_the_otlp_grpc_exporter_with_tls_unless_told_otherwise() -> None:
    assert exporter("tempo.example.com:4317") == (
        "otlp_grpc/backend",
        {"endpoint": "tempo.example.com:4317", "tls": {"insecure": False}},
    )
    config = collector_config("jaeger-collector.tracing.svc.cluster.local:4317", insecure=True)
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["otlp_grpc/backend"]
    assert config["exporters"]["otlp_grpc/backend"]["tls"] == {"insecure": True}


@pytest.mark.slow
def test_the_backend_comes_from_config() -> None:
    plan = run_with("staging", "addons", tracing={"endpoint": "tempo.observability.svc.cluster.local:4317"})
    config = values(plan)["alternateConfig"]
    assert config["exporters"] == {
        "otlp_grpc/backend": {
            "endpoint": "tempo.observability.svc.cluster.local:4317",
            "tls": {"insecure": False},
        }
    }


def test_prometheus_scrapes_the_collector_once_monitoring_installed_the_crds(prod: Plan) -> None:
    chart = values(prod)
    assert chart["serviceMonitor"] == {"enabled": True}
    assert chart["ports"]["metrics"] == {"enabled": True}
    monitoring_release = prod.component(MONITORING).one(RELEASE)
    assert monitoring_release.urn in tracing(prod).one(RELEASE).dependencies


@pytest.mark.slow
def test_without_monitoring_the_collector_has_no_service_monitor() -> None:
    # dev runs no Prometheus (nor the canaries' analysis that needs it).
    plan = run_with("dev", "addons", tracing={"enabled": True})
    assert not plan.config.addons.monitoring.enabled
    assert values(plan)["serviceMonitor"] == {"enabled": False}


# --- Istio sending spans ------------------------------------------------------------------------------------


def test_istiod_declares_the_collector_s_service_as_its_opentelemetry_provider(prod: Plan) -> None:
    release = tracing(prod).one(RELEASE)
    chart = values(prod)
    (provider,) = release_of(prod, "istiod").inputs["values"]["meshConfig"]["extensionProviders"]
    # The chart names its Service after fullnameOverride, in the release's namespace; OTLP/gRPC on 4317.
    host = f"{chart['fullnameOverride']}.{release.inputs['namespace']}.svc.cluster.local"
    assert provider["opentelemetry"] == {"service": host, "port": 4317}
    grpc = chart["alternateConfig"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert grpc.endswith(":4317")


@pytest.mark.parametrize(("stack", "percent"), [("staging", 10.0), ("prod", 1.0)])
def test_a_mesh_wide_telemetry_samples_the_configured_share(stack: str, percent: float) -> None:
    plan = stack_plan(stack)
    telemetry = tracing(plan).one(TELEMETRY)
    assert telemetry.inputs["apiVersion"] == "telemetry.istio.io/v1"
    assert telemetry.inputs["metadata"]["namespace"] == "istio-system", "the root namespace: mesh-wide"
    spec = telemetry.inputs["spec"]
    assert "selector" not in spec and "targetRefs" not in spec
    (entry,) = spec["tracing"]
    assert entry["randomSamplingPercentage"] == plan.config.addons.tracing.sampling_percent == percent
    (provider,) = release_of(plan, "istiod").inputs["values"]["meshConfig"]["extensionProviders"]
    assert entry["providers"] == [{"name": provider["name"]}]
    # Istio's CRDs (base) and its webhook (istiod) first.
    for chart in ("istio-base", "istiod"):
        assert release_of(plan, chart).urn in telemetry.dependencies


def test_application_namespaces_may_send_spans_to_the_collector(prod: Plan) -> None:
    part = tracing(prod)
    namespaces = {
        r.inputs["metadata"]["name"]: r for r in prod.component("platform:index:Baseline").of_type(NAMESPACE)
    }
    policies = {r.inputs["metadata"]["namespace"]: r for r in part.of_type(NETWORK_POLICY)}
    assert set(policies) == set(namespaces) == set(prod.config.namespaces)
    collector_namespace = part.one(NAMESPACE).inputs["metadata"]["labels"]
    selector = values(prod)["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"]
    for name, policy in policies.items():
        assert namespaces[name].urn in policy.dependencies
        spec = policy.inputs["spec"]
        assert spec["policyTypes"] == ["Egress"]
        (rule,) = spec["egress"]
        (peer,) = rule["to"]
        key, value = next(iter(peer["namespaceSelector"]["matchLabels"].items()))
        assert collector_namespace[key] == value
        assert peer["podSelector"]["matchLabels"] == selector
        assert {p["port"] for p in rule["ports"]} == {4317, 4318}


# --- config and dev -----------------------------------------------------------------------------------------


BAD_KEYS = [
    ("prod", {"replicas": 1}, "platform:addons.tracing.replicas", "prod needs at least 2"),
    ("dev", {"samplingPercent": 101}, "platform:addons.tracing.samplingPercent", "must be at most 100"),
    ("dev", {"endpoint": "https://tempo:4317"}, "platform:addons.tracing.endpoint", "a host:port"),
    ("dev", {"insecure": True}, "platform:addons.tracing.insecure", "set endpoint too"),
    ("dev", {"sampling": 5}, "platform:addons.tracing.sampling", "did you mean 'samplingPercent'?"),
]


@pytest.mark.parametrize(
    ("stack", "keys", "path", "message"), BAD_KEYS, ids=[f"{i}-{row[2]}" for i, row in enumerate(BAD_KEYS)]
)
def test_a_bad_tracing_key_is_reported_at_its_path(
    stack: str, keys: dict[str, Any], path: str, message: str
) -> None:
    issues = refused_config({"platform:addons": {"tracing": keys}}, stack)
    assert [issue.path for issue in issues] == [path]
    assert message in issues[0].message


def test_tracing_needs_a_mesh_with_the_telemetry_api_v1() -> None:
    values = {
        "platform:mesh": {"istioVersion": "1.21.3"},
        "platform:addons": {
            "monitoring": {"enabled": False},
            "velero": {"enabled": False},
            "rollouts": {"enabled": False},
        },
    }
    assert [str(issue) for issue in refused_config(values, "dev")] == [
        "platform:addons.tracing.enabled: the mesh's spans are configured by Istio's Telemetry API v1, "
        "served from Istio 1.22; platform:mesh.istioVersion is 1.21.3"
    ]
    parse_stack_config(
        with_deploy(
            {
                **values,
                "platform:addons": {**values["platform:addons"], "tracing": {"enabled": False}},
            }
        ),
        stack="dev",
    )


@pytest.mark.parametrize("stack", stack_names())
def test_istio_traces_exactly_when_tracing_is_on(stack: str) -> None:
    plan = stack_plan(stack)
    mesh_config = release_of(plan, "istiod").inputs["values"]["meshConfig"]
    enabled = plan.config.addons.tracing.enabled
    assert ("extensionProviders" in mesh_config) == enabled
    assert bool(plan.of_type(TELEMETRY)) == enabled == bool(plan.of_type(TRACING))


@pytest.mark.slow
def test_dev_turns_the_observability_add_ons_off_and_its_plan_shrinks_by_exactly_them() -> None:
    dev = stack_plan("dev")
    assert not dev.config.addons.monitoring.enabled and not dev.config.addons.tracing.enabled
    on = dev_with_its_addons_on()
    added = {r.urn for r in on.resources} - {r.urn for r in dev.resources}
    inside = {r.urn for r in on.component(MONITORING).resources} | {
        r.urn for r in on.component(TRACING).resources
    }
    assert len(inside) > 10 and inside <= added
    # And istiod no longer declares a span collector that nothing runs.
    assert "extensionProviders" not in release_of(dev, "istiod").inputs["values"]["meshConfig"]
    assert "extensionProviders" in release_of(on, "istiod").inputs["values"]["meshConfig"]
