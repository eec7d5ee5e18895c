"""Distributed tracing: an OpenTelemetry collector, and Istio's sidecars and gateways sending it spans.

The collector (the ``opentelemetry-collector`` chart, pinned in :mod:`components.addons.charts`) runs as a
Deployment in its own namespace and receives OTLP (gRPC from the mesh, gRPC or HTTP from applications'
own SDKs). Istio learns of it as a MeshConfig extension provider (:func:`collector_provider`, given to the
mesh's istiod values), and a mesh-wide ``Telemetry`` resource in Istio's root namespace turns tracing on
with the configured sampling. From the collector the spans go to an OTLP/gRPC backend named in config
(Jaeger, Tempo, a vendor's endpoint); with none, the ``debug`` exporter logs a one-line summary of each
batch and keeps nothing, so the path can be proved before a backend exists.

The chart's ``values.schema.json`` rejects any key it does not declare (``additionalProperties: false`` at
the root and on most objects), so each value below is one the 0.170.0 schema lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from components.addons.charts import pinned_release, restricted_namespace
from components.baseline import NAMESPACE_LABEL
from components.config import TRACING_NAMESPACE, TracingConfig
from components.mesh import ISTIO_NAMESPACE, MANAGED, TracingProvider

NAMESPACE = TRACING_NAMESPACE
"""The collector's namespace: outside the mesh (no sidecar of its own, nothing traced twice)."""
RELEASE = "otel-collector"
"""Release name, and the chart's ``fullnameOverride``: the Service is ``otel-collector.tracing``."""
IMAGE = "otel/opentelemetry-collector-k8s"
"""The collector's Kubernetes distribution (OTLP receiver, OTLP and debug exporters, batch and memory
limiter), as the chart's UPGRADING.md recommends; the tag is the chart's appVersion."""
OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318
METRICS_PORT = 8888
PROVIDER = "otel-tracing"
"""The extension provider's name in MeshConfig, which the Telemetry resource names."""
COLLECTOR_POD = {"app.kubernetes.io/name": "opentelemetry-collector", "app.kubernetes.io/instance": RELEASE}
"""The chart's selector labels of the collector's pods (``opentelemetry-collector.selectorLabels``)."""
UNUSED_RECEIVER_PORTS = ("jaeger-compact", "jaeger-thrift", "jaeger-grpc", "zipkin")
"""Ports the chart opens by default for receivers this collector does not run."""
RUN_AS = 10001
"""The uid and gid the collector's images run as (their Dockerfile's USER)."""


def collector_provider() -> TracingProvider:
    """The collector as Istio's tracing provider: OTLP over gRPC to its Service."""
    return TracingProvider(PROVIDER, f"{RELEASE}.{NAMESPACE}.svc.cluster.local", OTLP_GRPC_PORT)


@dataclass(frozen=True)
class TracingArgs:
    """Inputs of :class:`Tracing`. Defaults are production's."""

    provider: k8s.Provider
    """The cluster's Kubernetes provider. Required."""
    replicas: int = 2
    """Collector pods; with two or more, a disruption budget keeps one through a drain. Default 2."""
    sampling_percent: float = 1.0
    """Share of requests the mesh traces (percent, 0-100). Default 1."""
    endpoint: str | None = None
    """OTLP/gRPC backend (host:port) the collector exports to. Default none: the debug exporter."""
    insecure: bool = False
    """Plain text to the backend (an in-cluster one only). Default false (TLS)."""
    namespaces: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Application namespaces (name -> name as created) whose sidecars may send spans. Default none."""
    service_monitor: bool = False
    """Whether Prometheus scrapes the collector's own metrics (needs the monitoring add-on's CRDs).
    Default false."""
    mesh_ready: Sequence[pulumi.Resource] = ()
    """What the Telemetry resource waits for: Istio's CRDs and webhook. Default none."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What the collector's pods need first (nodes, CoreDNS; the monitoring CRDs with a ServiceMonitor).
    Default none."""
    node_selector: Mapping[str, str] = field(default_factory=dict)
    """Labels of the nodes the collector runs on. Default any node."""

    def __post_init__(self) -> None:
        if not 0 <= self.sampling_percent <= 100:
            raise ValueError(f"TracingArgs: sampling_percent must be 0-100, got {self.sampling_percent}")
        if self.insecure and self.endpoint is None:
            raise ValueError("TracingArgs: insecure is about the endpoint; give one")

    @classmethod
    def from_config(
        cls,
        config: TracingConfig,
        *,
        provider: k8s.Provider,
        namespaces: Mapping[str, pulumi.Input[str]],
        service_monitor: bool,
        mesh_ready: Sequence[pulumi.Resource],
        depends_on: Sequence[pulumi.Resource],
        node_selector: Mapping[str, str],
    ) -> TracingArgs:
        return cls(
            provider=provider,
            replicas=config.replicas,
            sampling_percent=config.sampling_percent,
            endpoint=config.endpoint,
            insecure=config.insecure,
            namespaces=dict(namespaces),
            service_monitor=service_monitor,
            mesh_ready=tuple(mesh_ready),
            depends_on=tuple(depends_on),
            node_selector=dict(node_selector),
        )


# --- pure pieces -----------------------------------------------------------------------------------------


def exporter(endpoint: str | None, *, insecure: bool = False) -> tuple[str, dict[str, Any]]:
    """The traces pipeline's exporter: OTLP/gRPC to the backend (``otlp_grpc``, the OTLP exporter's name
    since collector 0.144; ``otlp`` is its deprecated alias), else ``debug`` at basic verbosity."""
    if endpoint is None:
        return "debug", {"verbosity": "basic"}
    return "otlp_grpc/backend", {"endpoint": endpoint, "tls": {"insecure": insecure}}


def collector_config(endpoint: str | None, *, insecure: bool = False) -> dict[str, Any]:
    """The collector's whole configuration: OTLP in, memory limit and batching, one exporter out; its own
    metrics on :8888 for Prometheus. Nothing of the chart's default config (Jaeger, Zipkin and Prometheus
    receivers, metrics and logs pipelines to ``debug``) is kept."""
    name, settings = exporter(endpoint, insecure=insecure)
    pod_ip = "${env:MY_POD_IP}"
    return {
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": f"{pod_ip}:{OTLP_GRPC_PORT}"},
                    "http": {"endpoint": f"{pod_ip}:{OTLP_HTTP_PORT}"},
                }
            }
        },
        "processors": {
            # Refuses spans before the container's memory limit is reached (percent of that limit).
            "memory_limiter": {"check_interval": "5s", "limit_percentage": 80, "spike_limit_percentage": 25},
            "batch": {},
        },
        "exporters": {name: settings},
        # The chart's probes ask the health_check extension, which it requires.
        "extensions": {"health_check": {"endpoint": f"{pod_ip}:13133"}},
        "service": {
            "extensions": ["health_check"],
            "telemetry": {
                "metrics": {
                    "readers": [
                        {"pull": {"exporter": {"prometheus": {"host": pod_ip, "port": METRICS_PORT}}}}
                    ]
                }
            },
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["memory_limiter", "batch"],
                    "exporters": [name],
                }
            },
        },
    }


def collector_values(args: TracingArgs) -> dict[str, Any]:
    """Values of the opentelemetry-collector chart (0.170.0 values.yaml / values.schema.json)."""
    ports: dict[str, dict[str, Any]] = {name: {"enabled": False} for name in UNUSED_RECEIVER_PORTS}
    # appProtocol tells the mesh what each port speaks (the chart declares grpc for otlp only).
    ports["otlp-http"] = {"enabled": True, "appProtocol": "http"}
    ports["metrics"] = {"enabled": True}
    values: dict[str, Any] = {
        "mode": "deployment",  # mode: required, one of daemonset | deployment | statefulset
        "image": {"repository": IMAGE},  # image.repository: required since chart 0.89.0
        "fullnameOverride": RELEASE,
        "replicaCount": args.replicas,
        # alternateConfig replaces config whole (config is merged with the chart's defaults, whose
        # receivers and pipelines only a null could remove).
        "alternateConfig": collector_config(args.endpoint, insecure=args.insecure),
        "ports": ports,
        "nodeSelector": dict(args.node_selector),
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": dict(COLLECTOR_POD)},
            }
        ],
        # A memory limit makes the chart set GOMEMLIMIT (useGOMEMLIMIT) and gives memory_limiter its base.
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"memory": "512Mi"},
        },
        # The chart's contexts are empty, which Pod Security "restricted" refuses.
        "podSecurityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        # podDisruptionBudget: the schema declares enabled; the template reads minAvailable too.
        "podDisruptionBudget": (
            {"enabled": True, "minAvailable": 1} if args.replicas >= 2 else {"enabled": False}
        ),
        "serviceMonitor": {"enabled": args.service_monitor},
    }
    return values


def telemetry_spec(sampling_percent: float) -> dict[str, Any]:
    """Mesh-wide (Istio's root namespace, no selector): every proxy traces this share of requests to the
    collector. Only the first provider of a tracing entry is used, so there is one."""
    return {"tracing": [{"providers": [{"name": PROVIDER}], "randomSamplingPercentage": sampling_percent}]}


def span_egress_policy() -> dict[str, Any]:
    """An application namespace's sidecars (and SDKs) may reach the collector's OTLP ports, which its
    default-deny egress would otherwise refuse."""
    return {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: NAMESPACE}},
                        "podSelector": {"matchLabels": dict(COLLECTOR_POD)},
                    }
                ],
                "ports": [{"protocol": "TCP", "port": port} for port in (OTLP_GRPC_PORT, OTLP_HTTP_PORT)],
            }
        ],
    }


# --- the component ---------------------------------------------------------------------------------------


class Tracing(pulumi.ComponentResource):
    """The collector, the mesh's Telemetry resource, and the application namespaces' way to the collector."""

    service: str
    """Where OTLP goes: the collector Service's host name."""

    def __init__(self, name: str, args: TracingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Tracing", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        namespace = restricted_namespace(f"{name}-namespace", NAMESPACE, child)
        release = pinned_release(
            name,
            "opentelemetry-collector",
            release_name=RELEASE,
            namespace=namespace.metadata.name,
            values=collector_values(args),
            opts=child,
            depends_on=args.depends_on,
        )
        # Sidecars send spans only once istiod has the provider; the resource itself needs Istio's CRDs.
        k8s.apiextensions.CustomResource(
            f"{name}-telemetry",
            api_version="telemetry.istio.io/v1",
            kind="Telemetry",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="mesh-default", namespace=ISTIO_NAMESPACE, labels=MANAGED
            ),
            spec=telemetry_spec(args.sampling_percent),
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[*args.mesh_ready, release])
            ),
        )
        for key, namespace_name in args.namespaces.items():
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{key}-egress",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name="allow-span-export", namespace=namespace_name, labels=MANAGED
                ),
                spec=cast("k8s.networking.v1.NetworkPolicySpecArgsDict", span_egress_policy()),
                opts=child,
            )
        self.service = collector_provider().service
        self.register_outputs({"service": self.service})
