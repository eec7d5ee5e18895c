"""The Istio service mesh: control plane, CNI and ingress gateway from Istio's Helm charts, and its policy.

``Mesh`` installs four charts of one Istio version and adds the mesh-wide resources: the HTTPS
ingress ``Gateway`` (plain HTTP only redirects), STRICT mutual TLS for every workload, and a
``ServiceEntry`` for each allowed external host (sidecars reach nothing else outside the mesh by
default). Each gateway host gets one ``VirtualService`` holding the routes of every service on it,
longest prefix first (Istio merges several VirtualServices of one host in creation order, so one
could shadow another). Each routed service is a ``MeshService``: a ``DestinationRule`` with
connection limits and outlier detection, an ``AuthorizationPolicy`` that admits only the gateway and
named namespaces, and a disruption budget.

The manifests and Helm values are pure functions of the Args, tested directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components.config import MeshConfig, MeshServiceConfig

ISTIO_CHARTS = "https://istio-release.storage.googleapis.com/charts"
"""Istio's own Helm repository (all four charts)."""
ISTIO_NAMESPACE = "istio-system"
"""Where istiod, the ingress gateway and the mesh-wide resources live (Istio's root namespace)."""
CNI_NAMESPACE = "kube-system"
"""The CNI node agent needs host access, which kube-system allows and istio-system's Pod Security does not."""
GATEWAY_RELEASE = "istio-ingressgateway"
"""Release name of the ingress gateway; the chart names its service account and pods after it."""
GATEWAY_SELECTOR = {"istio": "ingressgateway"}
"""Pod labels of the ingress gateway, which the ``Gateway`` resource selects."""
GATEWAY_NAME = "platform-gateway"
"""Name of the ``Gateway`` resource in istio-system that every ``VirtualService`` binds to."""
RETRY_ON = "5xx,reset,connect-failure,refused-stream"
"""What a retry is for: server errors and connections that failed before a response."""
MANAGED = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "platform"}
STABLE, CANARY = "stable", "canary"
"""Subsets of every routed service, chosen by the pods' ``version`` label (or, under a Rollout, by the
``rollouts-pod-template-hash`` label Argo Rollouts writes into them)."""
SHARED_WITH_ROLLOUTS = {"pulumi.com/patchForce": "true"}
"""On the routes and rules a Rollout rewrites (weights, subset labels): an update of ours takes the fields
back instead of failing on a server-side apply conflict, and the Rollout sets them again at its next sync."""

POD_IDENTITY_AGENT = "169.254.170.23/32"
"""Where EKS Pod Identity hands pods their AWS credentials; sidecars must let that through untouched."""

OutboundPolicy = Literal["REGISTRY_ONLY", "ALLOW_ANY"]


@dataclass(frozen=True)
class ExternalService:
    """A service outside the cluster that workloads reach over plain TCP (TLS inside), e.g. Aurora."""

    hosts: Sequence[pulumi.Input[str]]
    """Its DNS names. Required."""
    port: pulumi.Input[int]
    """Its TCP port. Required."""


@dataclass(frozen=True)
class TracingProvider:
    """Where sidecars and gateways send spans: an OpenTelemetry collector, declared to Istio as a MeshConfig
    extension provider that a ``Telemetry`` resource names (OTLP over gRPC)."""

    name: str
    """The provider's name, which the Telemetry resource refers to. Required."""
    service: str
    """The collector Service's fully qualified host name. Required."""
    port: int
    """Its OTLP/gRPC port. Required."""


@dataclass(frozen=True)
class MeshServiceSpec:
    namespace: str
    """Namespace the service runs in. Required."""
    port: int
    """Service port. Required."""
    hosts: Sequence[str]
    """Gateway hosts routed to it. Required (non-empty)."""
    path_prefix: str = "/"
    """URI prefix routed to it. Default /."""
    canary_weight: int = 0
    """Share of requests for the ``canary`` subset (percent). Default 0: no canary route."""
    timeout_seconds: float = 30.0
    """Whole-request timeout including retries (seconds). Default 30."""
    retries: int = 3
    """Retries after the first try; each try gets timeout / (retries + 1). Default 3."""
    allowed_namespaces: Sequence[str] = ()
    """Namespaces besides its own (and the gateway) whose workloads may call it. Default none."""
    max_unavailable: int = 1
    """Pods a voluntary disruption may take at once (count). Default 1, which never blocks a drain."""
    rollout: bool = False
    """Whether an Argo Rollout moves the canary's weight (and labels the subsets' pods). Default false."""

    @classmethod
    def from_config(cls, config: MeshServiceConfig, hosts: Sequence[str]) -> MeshServiceSpec:
        return cls(
            namespace=config.namespace,
            port=config.port,
            hosts=tuple(hosts),
            path_prefix=config.path_prefix,
            canary_weight=config.canary_weight,
            timeout_seconds=config.timeout_seconds,
            retries=config.retries,
            allowed_namespaces=tuple(config.allowed_namespaces),
            max_unavailable=config.max_unavailable,
            rollout=config.rollout is not None,
        )


@dataclass(frozen=True)
class MeshArgs:
    provider: k8s.Provider
    """The cluster's Kubernetes provider. Required."""
    istio_version: str = "1.28.0"
    """Version of all four Istio charts. Default 1.28.0."""
    gateway_hosts: Sequence[str] = ()
    """Hosts the ingress gateway serves over HTTPS. Default none (no Gateway resource)."""
    tls_secret_name: str = "gateway-tls"
    """Secret in istio-system with the gateway's certificate, made outside Pulumi. Default gateway-tls."""
    control_plane_replicas: int = 2
    """Fewest istiod replicas (count). Default 2, so losing one pod or node keeps the control plane."""
    gateway_min_replicas: int = 2
    """Fewest ingress gateway replicas (count). Default 2."""
    gateway_max_replicas: int = 10
    """Most ingress gateway replicas (count). Default 10."""
    outbound_traffic_policy: OutboundPolicy = "REGISTRY_ONLY"
    """REGISTRY_ONLY: sidecars reach in-mesh services and ``egress_hosts`` only. Default REGISTRY_ONLY."""
    egress_hosts: Sequence[str] = ()
    """External hosts reachable over TLS on 443. Default none."""
    services: Mapping[str, MeshServiceSpec] = field(default_factory=dict)
    """Routed services by name. Default none."""
    namespaces: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """The application namespaces' names as created, so routes wait for their namespace. Default none."""
    external_services: Mapping[str, ExternalService] = field(default_factory=dict)
    """Services outside the cluster by name (the data tier), registered so REGISTRY_ONLY lets them through.
    Default none."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What Istio's pods need first (nodes, CoreDNS): its releases wait for their pods. Default none."""
    tracing: TracingProvider | None = None
    """The span collector istiod declares to every proxy. Default none (no tracing provider)."""

    @classmethod
    def from_config(
        cls,
        config: MeshConfig,
        *,
        provider: k8s.Provider,
        namespaces: Mapping[str, pulumi.Input[str]],
        external_services: Mapping[str, ExternalService],
        depends_on: Sequence[pulumi.Resource] = (),
        tracing: TracingProvider | None = None,
    ) -> MeshArgs:
        return cls(
            provider=provider,
            istio_version=config.istio_version,
            gateway_hosts=tuple(config.gateway_hosts),
            tls_secret_name=config.tls_secret_name,
            control_plane_replicas=config.control_plane_replicas,
            gateway_min_replicas=config.gateway_min_replicas,
            gateway_max_replicas=config.gateway_max_replicas,
            outbound_traffic_policy=config.outbound_traffic_policy,
            egress_hosts=tuple(config.egress_hosts),
            services={
                name: MeshServiceSpec.from_config(service, config.routed_hosts(name))
                for name, service in config.services.items()
            },
            namespaces=namespaces,
            external_services=external_services,
            depends_on=tuple(depends_on),
            tracing=tracing,
        )


# --- Helm values ------------------------------------------------------------------------------------


def istiod_values(args: MeshArgs) -> dict[str, Any]:
    """istiod: HA with a disruption budget, sidecars set up by the CNI agent, egress per policy."""
    values: dict[str, Any] = {
        "pilot": {
            "autoscaleMin": args.control_plane_replicas,
            "autoscaleMax": max(args.control_plane_replicas, 5),
            "replicaCount": args.control_plane_replicas,
            # The CNI agent sets up each pod's traffic redirection, so sidecars need no NET_ADMIN
            # init container and workloads can run under Pod Security "restricted".
            "cni": {"enabled": True},
        },
        "global": {
            # The chart's budget keeps one pod: with a single replica that would block every drain.
            "defaultPodDisruptionBudget": {"enabled": args.control_plane_replicas >= 2},
            "proxy": {"excludeIPRanges": POD_IDENTITY_AGENT},
        },
        "meshConfig": {
            "accessLogFile": "/dev/stdout",
            "outboundTrafficPolicy": {"mode": args.outbound_traffic_policy},
            # Applications start once their sidecar is ready (ProxyConfig; the chart's
            # global.proxy.holdApplicationUntilProxyStarts is its deprecated spelling).
            "defaultConfig": {"holdApplicationUntilProxyStarts": True},
        },
    }
    if args.tracing is not None:
        # Only declared here: a Telemetry resource turns it on, with its sampling (MeshConfig
        # extensionProviders, istio/api 1.28.0 mesh/v1alpha1/config.proto; no http block means gRPC).
        values["meshConfig"]["extensionProviders"] = [
            {
                "name": args.tracing.name,
                "opentelemetry": {"service": args.tracing.service, "port": args.tracing.port},
            }
        ]
    return values


def cni_values() -> dict[str, Any]:
    return {"excludeNamespaces": [CNI_NAMESPACE, ISTIO_NAMESPACE]}


def gateway_values(args: MeshArgs) -> dict[str, Any]:
    """The ingress gateway: behind an internet-facing NLB, autoscaled, never drained below one pod.

    EKS' built-in service controller makes the NLB (internet-facing is its default); it needs the
    nodes to carry exactly one security group tagged for the cluster, which the node launch template
    ensures. A single replica gets no disruption budget, which would block every node drain.
    """
    budget = {"podDisruptionBudget": {"minAvailable": 1}} if args.gateway_min_replicas >= 2 else {}
    return {
        "labels": dict(GATEWAY_SELECTOR),
        "autoscaling": {
            "enabled": True,
            "minReplicas": args.gateway_min_replicas,
            "maxReplicas": args.gateway_max_replicas,
        },
        **budget,
        # Replicas spread over the zones, so losing one leaves the gateway up; never at the cost of
        # not scheduling a pod.
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": dict(GATEWAY_SELECTOR)},
            }
        ],
        "service": {
            "type": "LoadBalancer",
            "annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"},
            "ports": [
                {"name": "status-port", "port": 15021, "protocol": "TCP", "targetPort": 15021},
                {"name": "http2", "port": 80, "protocol": "TCP", "targetPort": 80},
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443},
            ],
        },
    }


# --- manifests -------------------------------------------------------------------------------------


def gateway_spec(hosts: Sequence[str], tls_secret_name: str) -> dict[str, Any]:
    """HTTPS on 443 with the given certificate (TLS 1.2 at least); port 80 only redirects to it."""
    return {
        "selector": dict(GATEWAY_SELECTOR),
        "servers": [
            {
                "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                "hosts": list(hosts),
                "tls": {
                    "mode": "SIMPLE",
                    "credentialName": tls_secret_name,
                    "minProtocolVersion": "TLSV1_2",
                },
            },
            {
                "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                "hosts": list(hosts),
                "tls": {"httpsRedirect": True},
            },
        ],
    }


def peer_authentication_spec() -> dict[str, Any]:
    """In the root namespace this applies mesh-wide: no workload accepts plain text."""
    return {"mtls": {"mode": "STRICT"}}


def service_entry_spec(hosts: Sequence[str]) -> dict[str, Any]:
    """External hosts sidecars may reach over TLS on 443; wildcards cannot be resolved up front."""
    return {
        "hosts": list(hosts),
        "location": "MESH_EXTERNAL",
        "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}],
        "resolution": "NONE" if any(host.startswith("*") for host in hosts) else "DNS",
    }


def external_service_spec(service: ExternalService) -> dict[str, Any]:
    """A data store outside the mesh: its names and TCP port, so sidecars pass its traffic through.

    Plain TCP carries no host name, so a DNS-resolved entry would send all of the port's traffic to one
    of its hosts (the writer's and the reader's alike); NONE forwards to the address the client chose.
    """
    return {
        "hosts": list(service.hosts),
        "location": "MESH_EXTERNAL",
        "ports": [{"number": service.port, "name": "tcp", "protocol": "TCP"}],
        "resolution": "NONE",
    }


def service_host(name: str, spec: MeshServiceSpec) -> str:
    return f"{name}.{spec.namespace}.svc.cluster.local"


def per_try_timeout_seconds(spec: MeshServiceSpec) -> float:
    """Each try's share of the whole timeout (the first try and its retries), so the last can finish."""
    return spec.timeout_seconds / (spec.retries + 1)


def _duration(seconds: float) -> str:
    """An Istio duration: whole seconds as '30s', fractions in milliseconds."""
    return f"{seconds:g}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"


def http_route(name: str, spec: MeshServiceSpec) -> dict[str, Any]:
    """Requests for the service's prefix, split between stable and canary, with a timeout and retries."""
    destination = {"host": service_host(name, spec), "port": {"number": spec.port}}
    route = [{"destination": {**destination, "subset": STABLE}, "weight": 100 - spec.canary_weight}]
    # A Rollout needs both destinations in the route, whose weights it then moves.
    if spec.canary_weight or spec.rollout:
        route.append({"destination": {**destination, "subset": CANARY}, "weight": spec.canary_weight})
    retries: dict[str, Any] = {"attempts": spec.retries}
    if spec.retries:
        retries |= {"perTryTimeout": _duration(per_try_timeout_seconds(spec)), "retryOn": RETRY_ON}
    return {
        "name": name,
        "match": [{"uri": {"prefix": spec.path_prefix}}],
        "route": route,
        "timeout": _duration(spec.timeout_seconds),
        "retries": retries,
    }


def routes_by_host(services: Mapping[str, MeshServiceSpec]) -> dict[str, list[tuple[str, MeshServiceSpec]]]:
    """Gateway host -> the services routed on it, longest prefix first: Istio takes the first match."""
    hosts: dict[str, list[tuple[str, MeshServiceSpec]]] = {}
    for name, spec in services.items():
        for host in spec.hosts:
            hosts.setdefault(host, []).append((name, spec))
    return {
        host: sorted(routed, key=lambda item: (-len(item[1].path_prefix), item[0]))
        for host, routed in hosts.items()
    }


def virtual_service_spec(host: str, routed: Sequence[tuple[str, MeshServiceSpec]]) -> dict[str, Any]:
    """One host's routes on the gateway, in the order given (longest prefix first)."""
    return {
        "hosts": [host],
        "gateways": [f"{ISTIO_NAMESPACE}/{GATEWAY_NAME}"],
        "http": [http_route(name, spec) for name, spec in routed],
    }


def host_label(host: str) -> str:
    """A host as part of a Kubernetes name: a wildcard's '*' spelt out."""
    return host.replace("*", "wildcard")


def virtual_service_name(host: str) -> str:
    """The name of a host's VirtualService: without dots, as Argo Rollouts reads 'name.namespace'."""
    return f"routes-{host_label(host).replace('.', '-')}"


def destination_rule_spec(name: str, spec: MeshServiceSpec) -> dict[str, Any]:
    """Mutual TLS, bounded connections and outlier detection: a failing pod is ejected, not retried into."""
    return {
        "host": service_host(name, spec),
        "trafficPolicy": {
            "tls": {"mode": "ISTIO_MUTUAL"},
            "loadBalancer": {"simple": "LEAST_REQUEST"},
            "connectionPool": {
                "tcp": {"maxConnections": 100},
                "http": {
                    "http1MaxPendingRequests": 100,
                    "http2MaxRequests": 100,
                    "h2UpgradePolicy": "UPGRADE",
                },
            },
            "outlierDetection": {
                "consecutive5xxErrors": 5,
                "interval": "30s",
                "baseEjectionTime": "30s",
                "maxEjectionPercent": 50,
                "minHealthPercent": 50,
            },
        },
        # Under a Rollout both subsets' pods carry the same labels but the pod-template hash it adds here.
        "subsets": [
            {"name": subset} if spec.rollout else {"name": subset, "labels": {"version": subset}}
            for subset in (STABLE, CANARY)
        ],
    }


def gateway_principal() -> str:
    """The ingress gateway's SPIFFE identity: its service account, named after the release."""
    return f"cluster.local/ns/{ISTIO_NAMESPACE}/sa/{GATEWAY_RELEASE}"


def authorization_policy_spec(name: str, spec: MeshServiceSpec) -> dict[str, Any]:
    """Only the ingress gateway and workloads of the allowed namespaces may call the service's pods."""
    namespaces = [spec.namespace, *(n for n in spec.allowed_namespaces if n != spec.namespace)]
    return {
        "selector": {"matchLabels": {"app": name}},
        "action": "ALLOW",
        "rules": [
            {
                "from": [
                    {"source": {"principals": [gateway_principal()]}},
                    {"source": {"namespaces": namespaces}},
                ]
            }
        ],
    }


# --- components ------------------------------------------------------------------------------------


def _metadata(
    name: str, namespace: pulumi.Input[str], annotations: Mapping[str, str] | None = None
) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels=dict(MANAGED),
        annotations=dict(annotations) if annotations else None,
    )


class MeshService(pulumi.ComponentResource):
    """One service's resilience, access and disruption budget (type platform:index:MeshService); its
    routes are in its hosts' VirtualServices.

    Its pods are the team's to deploy: labelled ``app: <name>`` and ``version: stable|canary``, with a
    pod-level ``seccompProfile: RuntimeDefault`` (Pod Security ``restricted`` asks it of every container,
    the injected sidecar included).
    """

    def __init__(
        self,
        name: str,
        service: str,
        spec: MeshServiceSpec,
        namespace: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:index:MeshService", name, None, opts)
        # A component's depends_on does not reach its children's requests; Istio's resources need it to.
        child = pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts else None)
        for kind, api, body, shared in (
            ("DestinationRule", "networking.istio.io/v1", destination_rule_spec(service, spec), spec.rollout),
            ("AuthorizationPolicy", "security.istio.io/v1", authorization_policy_spec(service, spec), False),
        ):
            k8s.apiextensions.CustomResource(
                f"{name}-{kind.lower()}",
                api_version=api,
                kind=kind,
                metadata=_metadata(service, namespace, SHARED_WITH_ROLLOUTS if shared else None),
                spec=body,
                opts=child,
            )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=_metadata(service, namespace),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=spec.max_unavailable,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app": service}),
            ),
            opts=child,
        )
        self.register_outputs({})


class Mesh(pulumi.ComponentResource):
    """Istio from its Helm charts, the HTTPS ingress gateway, STRICT mTLS and the routed services."""

    gateway_hosts: list[str]
    services: dict[str, MeshService]
    ready: list[pulumi.Resource]
    """What Istio's custom resources made elsewhere wait for: its CRDs (base) and its webhook (istiod)."""

    def __init__(self, name: str, args: MeshArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Mesh", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": ISTIO_NAMESPACE,
                "labels": {
                    **MANAGED,
                    # The gateway chart's pods set no seccomp profile, which "restricted" requires;
                    # audit and warn still report against restricted.
                    "pod-security.kubernetes.io/enforce": "baseline",
                    "pod-security.kubernetes.io/audit": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            },
            opts=child,
        )

        def release(
            role: str,
            chart: str,
            release_name: str,
            namespace: pulumi.Input[str],
            values: Any,
            *,
            after: Sequence[pulumi.Resource] = (),
        ) -> k8s.helm.v3.Release:
            return k8s.helm.v3.Release(
                f"{name}-{role}",
                name=release_name,
                chart=chart,
                version=args.istio_version,
                namespace=namespace,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=ISTIO_CHARTS),
                values=values,
                # A failed install or upgrade rolls back instead of leaving the mesh half-changed; a
                # first install waits for new nodes to pull Istio's images.
                atomic=True,
                timeout=600,
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(after))),
            )

        base = release("base", "base", "istio-base", namespace.metadata.name, {"defaultRevision": "default"})
        # Helm waits for the pods of each chart, which need nodes and (but the CNI agent) CoreDNS.
        cni = release("cni", "cni", "istio-cni", CNI_NAMESPACE, cni_values(), after=[base, *args.depends_on])
        istiod = release(
            "istiod", "istiod", "istiod", namespace.metadata.name, istiod_values(args), after=[cni]
        )
        gateway = release(
            "ingress",
            "gateway",
            GATEWAY_RELEASE,
            namespace.metadata.name,
            gateway_values(args),
            after=[istiod],
        )
        # Istio's resources need its CRDs (base) and are checked by its webhook (istiod).
        self.ready = [base, istiod]
        after_istio = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(self.ready)))

        def mesh_wide(
            role: str,
            api: str,
            kind: str,
            resource_name: str,
            spec: dict[str, Any],
            annotations: Mapping[str, str] | None = None,
        ) -> None:
            k8s.apiextensions.CustomResource(
                f"{name}-{role}",
                api_version=api,
                kind=kind,
                metadata=_metadata(resource_name, namespace.metadata.name, annotations),
                spec=spec,
                opts=after_istio,
            )

        mesh_wide("mtls", "security.istio.io/v1", "PeerAuthentication", "default", peer_authentication_spec())
        if args.gateway_hosts:
            mesh_wide(
                "gateway",
                "networking.istio.io/v1",
                "Gateway",
                GATEWAY_NAME,
                gateway_spec(args.gateway_hosts, args.tls_secret_name),
            )
        for key, external in args.external_services.items():
            mesh_wide(
                f"external-{key}",
                "networking.istio.io/v1",
                "ServiceEntry",
                f"external-{key}",
                external_service_spec(external),
            )
        for host, routed in routes_by_host(args.services).items():
            mesh_wide(
                f"routes-{host_label(host)}",
                "networking.istio.io/v1",
                "VirtualService",
                virtual_service_name(host),
                virtual_service_spec(host, routed),
                SHARED_WITH_ROLLOUTS if any(spec.rollout for _, spec in routed) else None,
            )
        if args.egress_hosts:
            mesh_wide(
                "egress",
                "networking.istio.io/v1",
                "ServiceEntry",
                "allowed-egress",
                service_entry_spec(args.egress_hosts),
            )
        self.services = {
            service: MeshService(
                f"{name}-{service}",
                service,
                spec,
                args.namespaces.get(spec.namespace, spec.namespace),
                opts=pulumi.ResourceOptions.merge(after_istio, pulumi.ResourceOptions(depends_on=[gateway])),
            )
            for service, spec in args.services.items()
        }
        self.gateway_hosts = list(args.gateway_hosts)
        self.register_outputs({"gatewayHosts": self.gateway_hosts, "services": list(self.services)})
