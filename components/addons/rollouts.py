"""Argo Rollouts: canaries of mesh services, step by step, aborted by a success rate read from Prometheus.

A ``MeshService`` opts in with ``rollout`` (``platform:mesh.services.<name>.rollout``). Its Rollout runs
the team's Deployment (``workloadRef``: the platform does not own the team's pod template; the Rollout
scales the Deployment down as its own pods come up) and moves the traffic through what the mesh already
made: the service's route in each of its hosts' VirtualServices (in istio-system, named
``routes-<host>``; the route is named after the service and has the ``stable`` and ``canary``
destinations) and the service's DestinationRule, whose two subsets Argo Rollouts points at the stable
and canary pods by their pod-template hash.

Each weight short of 100 holds for a while; a background analysis measures the service's share of
requests answered without a 5xx (Istio's ``istio_requests_total``, from Prometheus) and aborts the canary,
sending all traffic back to stable, when it falls below the threshold more often than ``failureLimit``.

The Helm values and manifests are pure functions, tested directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.addons.charts import pinned_release, restricted_namespace
from components.config import ADDON_NAMESPACES, MeshConfig, RolloutConfig, RolloutsConfig
from components.mesh import CANARY, ISTIO_NAMESPACE, MANAGED, STABLE, virtual_service_name

NAMESPACE = ADDON_NAMESPACES["rollouts"]
API = "argoproj.io/v1alpha1"
ANALYSIS = "success-rate"
"""The AnalysisTemplate of each namespace with a canary service."""
SCALE_DOWN = "progressively"
"""The team's Deployment shrinks as the Rollout's pods become ready (``workloadRef.scaleDown``), so a
service never runs twice its pods, nor loses them while it moves over."""


@dataclass(frozen=True)
class CanaryService:
    """A mesh service whose canary a Rollout drives."""

    namespace: str
    """Its namespace. Required."""
    hosts: Sequence[str]
    """The gateway hosts it is routed on (one VirtualService each). Required."""
    steps: Sequence[int] = (10, 20, 50, 100)
    """Canary weights in turn (percent, rising, ending at 100). Default 10, 20, 50, 100."""
    pause_seconds: int = 300
    """How long each weight short of 100 holds (seconds). Default 300."""
    replicas: int = 2
    """Pods the Rollout runs (count). Default 2."""
    deployment: str | None = None
    """The team's Deployment whose pod template the Rollout runs. Default: the service's name."""

    @classmethod
    def from_config(cls, config: RolloutConfig, *, namespace: str, hosts: Sequence[str]) -> CanaryService:
        return cls(
            namespace=namespace,
            hosts=tuple(hosts),
            steps=tuple(config.steps),
            pause_seconds=config.pause_seconds,
            replicas=config.replicas,
            deployment=config.deployment,
        )


@dataclass(frozen=True)
class RolloutsArgs:
    """Inputs of :class:`Rollouts`. Defaults are production's."""

    services: Mapping[str, CanaryService] = field(default_factory=dict)
    """Canary services by name. Default none (the controller alone)."""
    replicas: int = 2
    """Controller pods (count; one leads); two or more get a disruption budget. Default 2."""
    success_rate_threshold: float = 0.99
    """Least share of requests answered without a 5xx (0-1). Default 0.99."""
    analysis_interval_seconds: int = 60
    """Seconds between two measurements. Default 60."""
    failure_limit: int = 2
    """Measurements below the threshold tolerated; one more aborts the canary. Default 2."""
    inconclusive_limit: int = 3
    """Measurements without traffic tolerated; one more pauses the canary for a person. Default 3."""
    prometheus_address: str = "http://prometheus-operated.monitoring.svc.cluster.local:9090"
    """Where the analysis queries Prometheus. Default the Prometheus operator's Service in monitoring."""
    node_selector: Mapping[str, str] | None = None
    """Labels of the nodes the controller runs on. Default none."""

    @classmethod
    def from_config(
        cls, config: RolloutsConfig, *, mesh: MeshConfig, node_selector: Mapping[str, str]
    ) -> RolloutsArgs:
        return cls(
            services={
                name: CanaryService.from_config(
                    service.rollout, namespace=service.namespace, hosts=mesh.routed_hosts(name)
                )
                for name, service in mesh.services.items()
                if service.rollout is not None
            },
            replicas=config.replicas,
            success_rate_threshold=config.success_rate_threshold,
            analysis_interval_seconds=config.analysis_interval_seconds,
            failure_limit=config.failure_limit,
            inconclusive_limit=config.inconclusive_limit,
            prometheus_address=config.prometheus_address,
            node_selector=dict(node_selector),
        )


def rollouts_values(args: RolloutsArgs) -> dict[str, Any]:
    """The chart's values (argo-rollouts 2.41.0; chart keys named in the comments). The controller's pod
    and container security contexts are the chart's (Pod Security ``restricted``); the dashboard stays
    off (``dashboard.enabled`` false), as its container has none. Istio is a built-in traffic router whose
    RBAC the chart grants by default (``providerRBAC.providers.istio``)."""
    controller: dict[str, Any] = {
        # controller.replicas: one leads (leader election), the others stand by.
        "replicas": args.replicas,
        # controller.pdb.*: off by default; with a standby, a drain keeps one pod.
        "pdb": {"enabled": True, "minAvailable": 1} if args.replicas >= 2 else {"enabled": False},
        # controller.topologySpreadConstraints (the chart fills in the controller's labelSelector).
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
            }
        ],
    }
    if args.node_selector:
        controller["nodeSelector"] = dict(args.node_selector)  # controller.nodeSelector
    return {"controller": controller}


def service_fqdn(name: str, namespace: str) -> str:
    """What Istio's metrics call the service (``destination_service``)."""
    return f"{name}.{namespace}.svc.cluster.local"


def success_rate_query(window_seconds: int) -> str:
    """The share of the service's requests its pods answered without a 5xx, over the window; NaN (no
    verdict) while it has no requests. ``{{args.service}}`` is the AnalysisRun's argument."""
    selector = 'reporter="destination", destination_service="{{args.service}}"'
    window = f"[{window_seconds}s]"
    return (
        f'scalar(\n  sum(rate(istio_requests_total{{{selector}, response_code!~"5.."}}{window}))\n'
        f"  /\n  sum(rate(istio_requests_total{{{selector}}}{window}))\n)"
    )


def analysis_template_spec(args: RolloutsArgs) -> dict[str, Any]:
    """A success-rate measurement every interval: below the threshold it fails, without traffic it is
    inconclusive; failures past ``failure_limit`` abort the canary."""
    threshold = args.success_rate_threshold
    return {
        "args": [{"name": "service"}],
        "metrics": [
            {
                "name": ANALYSIS,
                "interval": f"{args.analysis_interval_seconds}s",
                "successCondition": f"result >= {threshold}",
                "failureCondition": f"result < {threshold}",
                "failureLimit": args.failure_limit,
                "inconclusiveLimit": args.inconclusive_limit,
                "provider": {
                    "prometheus": {
                        "address": args.prometheus_address,
                        # Two scrapes at least (Prometheus scrapes every 30 s by default).
                        "query": success_rate_query(max(2 * args.analysis_interval_seconds, 60)),
                        "timeout": 30,
                    }
                },
            }
        ],
    }


def canary_steps(service: CanaryService) -> list[dict[str, Any]]:
    """Each weight, held ``pause_seconds`` unless it is the last (100: the canary becomes stable)."""
    steps: list[dict[str, Any]] = []
    for weight in service.steps:
        steps.append({"setWeight": weight})
        if weight < 100 and service.pause_seconds:
            steps.append({"pause": {"duration": service.pause_seconds}})
    return steps


def rollout_spec(name: str, service: CanaryService) -> dict[str, Any]:
    """The Rollout of the team's Deployment, routed through the mesh's VirtualServices and DestinationRule."""
    return {
        "replicas": service.replicas,
        "selector": {"matchLabels": {"app": name}},
        "workloadRef": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": service.deployment or name,
            "scaleDown": SCALE_DOWN,
        },
        "strategy": {
            "canary": {
                "trafficRouting": {
                    "istio": {
                        # In istio-system: Argo Rollouts reads 'name.namespace'.
                        "virtualServices": [
                            {"name": f"{virtual_service_name(host)}.{ISTIO_NAMESPACE}", "routes": [name]}
                            for host in service.hosts
                        ],
                        "destinationRule": {
                            "name": name,
                            "canarySubsetName": CANARY,
                            "stableSubsetName": STABLE,
                        },
                    }
                },
                # From the first weight on, for as long as the canary runs.
                "analysis": {
                    "templates": [{"templateName": ANALYSIS}],
                    "startingStep": 1,
                    "args": [{"name": "service", "value": service_fqdn(name, service.namespace)}],
                },
                "steps": canary_steps(service),
            }
        },
    }


class Rollouts(pulumi.ComponentResource):
    """The Argo Rollouts controller, and a Rollout (and its namespace's AnalysisTemplate) per canary."""

    rollouts: dict[str, k8s.apiextensions.CustomResource]

    def __init__(
        self,
        name: str,
        args: RolloutsArgs,
        provider: k8s.Provider,
        depends_on: Sequence[pulumi.Resource] = (),
        mesh: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``mesh``: what made the routes and rules the Rollouts move (and their namespaces)."""
        super().__init__("platform:index:Rollouts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        namespace = restricted_namespace(f"{name}-namespace", NAMESPACE, child)
        release = pinned_release(
            name,
            "argo-rollouts",
            release_name="argo-rollouts",
            namespace=namespace.metadata.name,
            values=rollouts_values(args),
            opts=child,
            depends_on=depends_on,
        )
        # The chart installs the CRDs; the routes and rules must exist before a Rollout moves them.
        after = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[release, *mesh]))
        templates = {
            namespace_name: k8s.apiextensions.CustomResource(
                f"{name}-analysis-{namespace_name}",
                api_version=API,
                kind="AnalysisTemplate",
                metadata={"name": ANALYSIS, "namespace": namespace_name, "labels": MANAGED},
                spec=analysis_template_spec(args),
                opts=after,
            )
            for namespace_name in sorted({service.namespace for service in args.services.values()})
        }
        self.rollouts = {
            service_name: k8s.apiextensions.CustomResource(
                f"{name}-{service_name}",
                api_version=API,
                kind="Rollout",
                metadata={"name": service_name, "namespace": service.namespace, "labels": MANAGED},
                spec=rollout_spec(service_name, service),
                opts=pulumi.ResourceOptions.merge(
                    after, pulumi.ResourceOptions(depends_on=[templates[service.namespace]])
                ),
            )
            for service_name, service in args.services.items()
        }
        self.register_outputs({"rollouts": list(self.rollouts)})
