"""The vertical pod autoscaler, from kubernetes/autoscaler's own chart: the recommender always, the updater
and the admission controller as config says.

The recommender learns each VerticalPodAutoscaler's target's use from the metrics API and recommends
requests; the updater evicts pods whose requests drifted from it; the admission controller gives new pods
the recommended requests. Teams make their VerticalPodAutoscalers (``autoscaling.k8s.io/v1``); one in
``Off`` mode only recommends. Don't let one set the CPU or memory of a workload an HPA scales on the same
resource.

The chart's pods set no seccomp profile and keep their capabilities, so its security contexts are set
here to meet Pod Security ``restricted``, which the namespace enforces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.addons.charts import pinned_release, restricted_namespace
from components.config import ADDON_NAMESPACES, VpaConfig

NAMESPACE = ADDON_NAMESPACES["vpa"]

POD_SECURITY_CONTEXT = {
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "seccompProfile": {"type": "RuntimeDefault"},
}
"""The chart's own (nobody, non-root) plus the RuntimeDefault seccomp profile ``restricted`` requires."""
CONTAINER_SECURITY_CONTEXT = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
"""What ``restricted`` requires of each container, which the chart leaves empty."""


@dataclass(frozen=True)
class VpaArgs:
    """Inputs of :class:`Vpa`. Defaults are production's."""

    replicas: int = 2
    """Pods of each component (count; one leads); two or more get a disruption budget. Default 2."""
    updater: bool = True
    """Whether the updater evicts pods whose requests drifted from the recommendation. Default true."""
    admission_controller: bool = True
    """Whether new pods get the recommended requests. Default true."""
    node_selector: Mapping[str, str] | None = None
    """Labels of the nodes its pods run on. Default none."""

    def __post_init__(self) -> None:
        if self.updater and not self.admission_controller:
            raise ValueError(
                "VpaArgs: the updater needs the admission controller to give evicted pods new requests"
            )

    @classmethod
    def from_config(cls, config: VpaConfig, *, node_selector: Mapping[str, str]) -> VpaArgs:
        return cls(
            replicas=config.replicas,
            updater=config.updater,
            admission_controller=config.admission_controller,
            node_selector=dict(node_selector),
        )


def vpa_values(args: VpaArgs) -> dict[str, Any]:
    """The chart's values (vertical-pod-autoscaler 0.11.0; chart keys named in the comments)."""
    nodes = {"nodeSelector": dict(args.node_selector)} if args.node_selector else {}
    # <component>.podDisruptionBudget: the chart's keeps one pod, which with a single one blocks every drain.
    budget = {"enabled": args.replicas >= 2, "minAvailable": 1}

    def component(enabled: bool) -> dict[str, Any]:
        # <component>.enabled / .replicas (leader election turns itself on above one) / .nodeSelector
        return {"enabled": enabled, "replicas": args.replicas, "podDisruptionBudget": budget, **nodes}

    admission = component(args.admission_controller)
    # admissionController.certGen.*: the hook Jobs that make and register the webhook's certificate; the
    # chart gives their containers only a read-only root filesystem.
    admission["certGen"] = {"securityContext": dict(CONTAINER_SECURITY_CONTEXT), **nodes}
    return {
        # podSecurityContext / containerSecurityContext: all three deployments.
        "podSecurityContext": dict(POD_SECURITY_CONTEXT),
        "containerSecurityContext": dict(CONTAINER_SECURITY_CONTEXT),
        "recommender": component(True),
        "updater": component(args.updater),
        "admissionController": admission,
    }


class Vpa(pulumi.ComponentResource):
    """The vertical pod autoscaler's components from their chart, in a namespace of their own."""

    def __init__(
        self,
        name: str,
        args: VpaArgs,
        provider: k8s.Provider,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:index:Vpa", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        namespace = restricted_namespace(f"{name}-namespace", NAMESPACE, child)
        pinned_release(
            name,
            "vertical-pod-autoscaler",
            release_name="vertical-pod-autoscaler",
            namespace=namespace.metadata.name,
            values=vpa_values(args),
            opts=child,
            depends_on=depends_on,
        )
        self.register_outputs({})
