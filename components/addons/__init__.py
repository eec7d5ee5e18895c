"""The add-ons a production platform runs beside its workloads, each switchable per stack
(``platform:addons.<name>``) and each from one pinned chart (:mod:`components.addons.charts`).

:class:`Addons` composes them; each add-on is a component of its own module, made here only when its
config enables it, with Args whose defaults are production's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import pulumi
import pulumi_kubernetes as k8s

from components.addons.alarms import Alarms, AlarmsArgs, Watched
from components.addons.cert_manager import CertManager, CertManagerArgs
from components.addons.gatekeeper import Gatekeeper, GatekeeperArgs, ecr_registry
from components.addons.monitoring import Monitoring, MonitoringArgs
from components.addons.rollouts import Rollouts, RolloutsArgs
from components.addons.tracing import Tracing, TracingArgs
from components.addons.velero import Velero, VeleroArgs
from components.addons.vpa import Vpa, VpaArgs
from components.config import AddonsConfig, MeshConfig
from components.shared import account_and_region
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
    identifier: str
    """The cluster's name as configured: what the add-ons' AWS resources are named after. Required."""
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
    created_namespaces: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """The application namespaces' names as the baseline created them, so objects put in them wait for
    them. Default none (objects name the namespace only)."""
    istio_version: str = "1.28.0"
    """The mesh's Istio version (Grafana loads its dashboards). Default 1.28.0."""
    mesh_ready: Sequence[pulumi.Resource] = ()
    """What objects in Istio's namespace and of Istio's kinds wait for (its CRDs, istiod). Default none."""
    cluster_autoscaler: bool = True
    """Whether the baseline runs the cluster autoscaler (monitoring scrapes it). Default true."""
    watched: Watched = field(default_factory=Watched)
    """The platform's AWS resources the alarms watch. Default none."""
    backed_up_namespaces: Sequence[str] = ()
    """Namespaces Velero's daily backup takes in (config.velero_namespaces). Default none."""
    mesh: MeshConfig = field(default_factory=MeshConfig)
    """The mesh's config: its canary services and gateway hosts. Default no services, no hosts."""
    mesh_resources: Sequence[pulumi.Resource] = ()
    """What made the mesh's routes, rules and namespaces (for Rollouts and certificates). Default none."""


class Addons(pulumi.ComponentResource):
    """Every enabled add-on of the stack."""

    monitoring: Monitoring | None
    tracing: Tracing | None
    alarms: Alarms | None
    velero: Velero | None
    gatekeeper: Gatekeeper | None
    rollouts: Rollouts | None
    vpa: Vpa | None
    cert_manager: CertManager | None

    def __init__(self, name: str, args: AddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Addons", name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        created = {
            namespace: args.created_namespaces.get(namespace, namespace) for namespace in args.namespaces
        }
        config = args.config
        self.alarms = self.monitoring = self.tracing = self.velero = None
        if config.alarms.enabled:
            self.alarms = Alarms(
                f"{name}-alarms",
                AlarmsArgs.from_config(
                    config.alarms,
                    identifier=args.identifier,
                    watched=args.watched,
                    protect=args.is_prod,
                    tags=args.tags,
                ),
                opts=child,
            )
        if config.monitoring.enabled:
            self.monitoring = Monitoring(
                f"{name}-monitoring",
                self._alerts_to_the_alarms_topic(
                    MonitoringArgs.from_config(
                        config.monitoring,
                        provider=args.provider,
                        cluster_name=args.cluster_name,
                        istio_version=args.istio_version,
                        namespaces=created,
                        cluster_autoscaler=args.cluster_autoscaler,
                        mesh_ready=args.mesh_ready,
                        depends_on=args.depends_on,
                        node_selector=GENERAL_NODES,
                        tags=args.tags,
                    )
                ),
                opts=child,
            )
        if config.tracing.enabled:
            self.tracing = Tracing(
                f"{name}-tracing",
                TracingArgs.from_config(
                    config.tracing,
                    provider=args.provider,
                    namespaces=created,
                    # The collector's ServiceMonitor needs the monitoring release's CRDs.
                    service_monitor=self.monitoring is not None,
                    mesh_ready=args.mesh_ready,
                    depends_on=[*args.depends_on, *(self.monitoring.ready if self.monitoring else [])],
                    node_selector=GENERAL_NODES,
                ),
                opts=child,
            )
        if config.velero.enabled:
            self.velero = Velero(
                f"{name}-velero",
                VeleroArgs.from_config(
                    config.velero,
                    identifier=args.identifier,
                    cluster_name=args.cluster_name,
                    provider=args.provider,
                    namespaces=args.backed_up_namespaces,
                    node_selector=GENERAL_NODES,
                    protect=args.is_prod,
                    depends_on=args.depends_on,
                    tags=args.tags,
                ),
                opts=child,
            )
        self._admission_and_delivery(name, args)
        self.register_outputs({})

    def _alerts_to_the_alarms_topic(self, monitoring: MonitoringArgs) -> MonitoringArgs:
        """Alertmanager publishes to the alarms add-on's topic (and its key) when config names no topic of
        its own, so the people paged by the AWS side's alarms are paged by Kubernetes' alerts too."""
        if monitoring.alert_topic_arn is not None or self.alarms is None:
            return monitoring
        return replace(
            monitoring, alert_topic_arn=self.alarms.topic_arn, alert_topic_key_arn=self.alarms.key_arn
        )

    def _admission_and_delivery(self, name: str, args: AddonsArgs) -> None:
        """Gatekeeper, Argo Rollouts, the VPA and cert-manager, each where config enables it."""
        config, child = args.config, pulumi.ResourceOptions(parent=self)
        provider, depends_on = args.provider, tuple(args.depends_on)
        self.gatekeeper = self.rollouts = self.vpa = self.cert_manager = None
        if config.gatekeeper.enabled:
            own_registry = pulumi.Output.all(*account_and_region(self)).apply(lambda ids: ecr_registry(*ids))
            self.gatekeeper = Gatekeeper(
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
            self.rollouts = Rollouts(
                f"{name}-rollouts",
                RolloutsArgs.from_config(config.rollouts, mesh=args.mesh, node_selector=GENERAL_NODES),
                provider,
                depends_on,
                mesh=tuple(args.mesh_resources),
                opts=child,
            )
        if config.vpa.enabled:
            self.vpa = Vpa(
                f"{name}-vpa",
                VpaArgs.from_config(config.vpa, node_selector=GENERAL_NODES),
                provider,
                depends_on,
                opts=child,
            )
        if config.cert_manager.enabled:
            self.cert_manager = CertManager(
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
