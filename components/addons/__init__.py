"""The add-ons a production platform runs beside its workloads, each switchable per stack
(``platform:addons.<name>``) and each from one pinned chart (:mod:`components.addons.charts`).

:class:`Addons` composes them; each add-on is a component of its own module, made here only when its
config enables it, with Args whose defaults are production's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.addons.cert_manager import CertManager, CertManagerArgs
from components.addons.gatekeeper import Gatekeeper, GatekeeperArgs, ecr_registry
from components.addons.rollouts import Rollouts, RolloutsArgs
from components.addons.vpa import Vpa, VpaArgs
from components.config import AddonsConfig, MeshConfig
from components.tags import Tags

GENERAL_NODES = {"role": "general-compute"}
"""Every add-on pod's node selector: the general node group's label (the tainted groups run agents)."""


@dataclass(frozen=True)
class AddonsArgs:
    """Inputs of :class:`Addons`: what the add-ons take from the rest of the platform."""

    config: AddonsConfig
    """Which add-ons, and their settings (``platform:addons``). Required."""
    stack: str
    """The stack's name. Required."""
    is_prod: bool
    """Whether this is prod (at least two replicas and a disruption budget per controller). Required."""
    cluster_name: pulumi.Input[str]
    """The EKS cluster's name. Required."""
    provider: k8s.Provider
    """The cluster's Kubernetes provider. Required."""
    log_key_arn: pulumi.Input[str]
    """The stack's logs key (its policy lets CloudWatch Logs use it). Required."""
    namespaces: Sequence[str] = ()
    """The application namespaces (backed up, under the admission policies). Default none."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What the add-ons' pods need first (nodes to run on, CoreDNS). Default none."""
    tags: Tags = field(default_factory=Tags)
    """AWS tags of every AWS resource. Default none."""
    mesh: MeshConfig = field(default_factory=MeshConfig)
    """The mesh's config: its canary services and gateway hosts. Default no services, no hosts."""
    mesh_resources: Sequence[pulumi.Resource] = ()
    """What made the mesh's routes, rules and namespaces (for Rollouts and certificates). Default none."""


class Addons(pulumi.ComponentResource):
    """Every enabled add-on of the stack."""

    def __init__(self, name: str, args: AddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Addons", name, None, opts)
        self._name = name
        self._admission_and_delivery(name, args)
        self.register_outputs({})

    def _admission_and_delivery(self, name: str, args: AddonsArgs) -> None:
        """Gatekeeper, Argo Rollouts, the VPA and cert-manager, each where config enables it."""
        config, child = args.config, pulumi.ResourceOptions(parent=self)
        provider, depends_on = args.provider, tuple(args.depends_on)
        if config.gatekeeper.enabled:
            invoke = pulumi.InvokeOutputOptions(parent=self)
            own_registry = pulumi.Output.all(
                aws.get_caller_identity_output(opts=invoke).account_id,
                aws.get_region_output(opts=invoke).region,
            ).apply(lambda ids: ecr_registry(*ids))
            Gatekeeper(
                f"{name}-gatekeeper",
                GatekeeperArgs.from_config(
                    config.gatekeeper,
                    namespaces=args.namespaces,
                    own_registry=own_registry,
                    node_selector=GENERAL_NODES,
                ),
                provider,
                depends_on,
                opts=child,
            )
        if config.rollouts.enabled:
            Rollouts(
                f"{name}-rollouts",
                RolloutsArgs.from_config(config.rollouts, mesh=args.mesh, node_selector=GENERAL_NODES),
                provider,
                depends_on,
                mesh=tuple(args.mesh_resources),
                opts=child,
            )
        if config.vpa.enabled:
            Vpa(
                f"{name}-vpa",
                VpaArgs.from_config(config.vpa, node_selector=GENERAL_NODES),
                provider,
                depends_on,
                opts=child,
            )
        if config.cert_manager.enabled:
            CertManager(
                f"{name}-cert-manager",
                CertManagerArgs.from_config(
                    config.cert_manager,
                    mesh=args.mesh,
                    cluster_name=args.cluster_name,
                    node_selector=GENERAL_NODES,
                    tags=args.tags,
                ),
                provider,
                depends_on,
                mesh=tuple(args.mesh_resources),
                opts=child,
            )
