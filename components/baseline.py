"""The Kubernetes baseline: application namespaces and what every cluster runs besides them.

Each namespace from ``platform:namespaces`` gets Pod Security ``restricted`` enforced, its resource
quota, a LimitRange (so a container without requests still counts against the quota), network
policies that deny everything not listed, and a ConfigMap of the data tier's non-secret connection
data. Cluster-wide: the priority classes workloads choose from, and the cluster autoscaler from its
upstream Helm chart with a least-privilege IAM role through EKS Pod Identity.

Manifests, Helm values and the IAM policy are pure functions of the Args, tested directly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.config import (
    ClusterAutoscalerConfig,
    LimitRangeConfig,
    MeshConfig,
    MetricsServerConfig,
    NamespaceConfig,
    StackConfig,
)
from components.database import PORT as DATABASE_PORT
from components.mesh import ISTIO_NAMESPACE, POD_IDENTITY_AGENT
from components.pod_identity import pod_identity_role
from components.shared import account_and_region
from components.tags import Tags

CONNECTIONS_CONFIGMAP = "platform-connections"
"""Name of the ConfigMap that tells applications where the data tier is (never a secret in it)."""
CREDENTIALS_ROLE_KEY = "CREDENTIALS_ROLE_ARN"
"""The ConfigMap key naming the role that may read the data tier's secrets (bound by EKS Pod Identity)."""
MANAGED = {"app.kubernetes.io/managed-by": "pulumi"}
NAMESPACE_LABEL = "kubernetes.io/metadata.name"
"""Set by Kubernetes on every namespace: what a policy selects another namespace by."""
ANYWHERE = "0.0.0.0/0"

METRICS_SERVER_CHART = "metrics-server"
METRICS_SERVER_REPOSITORY = "https://kubernetes-sigs.github.io/metrics-server/"
"""The chart's own Helm repository, as its README gives it."""
METRICS_SERVER_SELECTOR = {"app.kubernetes.io/name": METRICS_SERVER_CHART}
"""The chart's pod labels (``metrics-server.selectorLabels``) its spread constraint selects."""
ZONE = "topology.kubernetes.io/zone"

AUTOSCALER_CHART = "cluster-autoscaler"
AUTOSCALER_REPOSITORY = "https://kubernetes.github.io/autoscaler"
"""The chart's own Helm repository, as its README gives it."""
AUTOSCALER_NAMESPACE = "kube-system"
AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"
"""The chart's service account; the Pod Identity association names the same one."""
AUTOSCALER_PRIORITY_CLASS = "system-cluster-critical"
"""Built into Kubernetes, and what upstream recommends: a pending autoscaler cannot add the node it needs."""
AUTOSCALER_DESCRIBE_ACTIONS = (
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
)
"""Read-only calls of auto-discovery and scale-from-zero (the upstream AWS README's list) that take no
resource; ``eks:DescribeNodegroup`` does, and is limited to the cluster's own node groups."""
AUTOSCALER_SCALE_ACTIONS = (
    "autoscaling:SetDesiredCapacity",
    "autoscaling:TerminateInstanceInAutoScalingGroup",
)


@dataclass(frozen=True)
class ContainerLimits:
    """A namespace's LimitRange for containers: each bound maps a resource (cpu, memory,
    ephemeral-storage) to a Kubernetes quantity."""

    default: Mapping[str, str]
    """Limits of a container that sets none. Required."""
    default_request: Mapping[str, str]
    """Requests of a container that sets none. Required."""
    min: Mapping[str, str]
    """Least a container may request. Required."""
    max: Mapping[str, str]
    """Most a container may have as its limit. Required."""

    @classmethod
    def from_config(cls, config: LimitRangeConfig) -> ContainerLimits:
        def bound(prefix: str) -> dict[str, str]:
            return {
                "cpu": getattr(config, f"{prefix}cpu"),
                "memory": getattr(config, f"{prefix}memory"),
                "ephemeral-storage": getattr(config, f"{prefix}ephemeral_storage"),
            }

        return cls(
            default=bound("default_"),
            default_request=bound("default_request_"),
            min=bound("min_"),
            max=bound("max_"),
        )


SEED_LIMITS = ContainerLimits.from_config(LimitRangeConfig())
"""The seed's figures: 100m/128Mi requested and 1/2Gi limited by default, within 50m/64Mi and 4/8Gi."""


@dataclass(frozen=True)
class NamespaceSpec:
    cpu_requests: str
    """Quota on summed CPU requests (Kubernetes quantity). Required."""
    memory_requests: str
    """Quota on summed memory requests (Kubernetes quantity). Required."""
    pods: int
    """Most pods in the namespace. Required."""
    cpu_limits: str | None = None
    """Quota on summed CPU limits. Default none."""
    memory_limits: str | None = None
    """Quota on summed memory limits. Default none."""
    limits: ContainerLimits = SEED_LIMITS
    """Per-container defaults and bounds (the LimitRange). Default the seed's figures."""
    allow_internet_egress: bool = False
    """Whether pods may open HTTPS (TCP 443) to any address outside the VPC. Default false."""
    peers_in: Sequence[str] = ()
    """Namespaces whose pods may connect to this one's (mesh callers). Default none."""
    peers_out: Sequence[str] = ()
    """Namespaces whose pods this one's may connect to (mesh services it calls). Default none."""
    service_accounts: Sequence[str] = ()
    """Service accounts whose pods may read the data tier's credentials (Pod Identity). Default none."""

    @classmethod
    def from_config(
        cls, config: NamespaceConfig, *, peers_in: Sequence[str] = (), peers_out: Sequence[str] = ()
    ) -> NamespaceSpec:
        return cls(
            cpu_requests=config.cpu_requests,
            memory_requests=config.memory_requests,
            pods=config.pods,
            cpu_limits=config.cpu_limits,
            memory_limits=config.memory_limits,
            limits=ContainerLimits.from_config(config.limit_range),
            allow_internet_egress=config.allow_internet_egress,
            peers_in=tuple(peers_in),
            peers_out=tuple(peers_out),
            service_accounts=tuple(config.service_accounts),
        )


@dataclass(frozen=True)
class DataTier:
    """Where the database and the cache listen: their subnets' CIDRs and their ports."""

    cidrs: Sequence[str]
    """CIDRs of the subnets the database and cache run in. Required."""
    ports: Sequence[int]
    """TCP ports of the database and the cache. Required."""


@dataclass(frozen=True)
class DataCredentials:
    """Where the data tier's credentials are: the secrets, and the keys they are encrypted with."""

    secret_arns: Sequence[pulumi.Input[str]]
    """Secrets Manager secrets applications read (the database's master user, the cache's token). Required."""
    key_arns: Sequence[pulumi.Input[str]]
    """KMS keys of those secrets, used only through Secrets Manager. Required."""


@dataclass(frozen=True)
class PriorityClassSpec:
    value: int
    """Scheduling priority; higher schedules first and may preempt lower. Required."""
    description: str
    """What the class is for. Required."""
    preemption_policy: Literal["PreemptLowerPriority", "Never"] = "PreemptLowerPriority"
    """Whether its pending pods may evict lower-priority ones. Default PreemptLowerPriority."""


PRIORITY_CLASSES = {
    "platform-critical": PriorityClassSpec(
        1_000_000,
        "Platform services outside kube-system (mesh control plane, gateways): before any application",
    ),
    "high-priority": PriorityClassSpec(1000, "Latency-critical agent services; may preempt lower priorities"),
    # Unclassed pods get priority 0, below this class: without "Never" a batch job would evict them.
    "low-priority": PriorityClassSpec(
        100, "Batch jobs and development workloads; queued ahead of unclassed pods, never preempting", "Never"
    ),
}
"""Cluster-wide classes, none the global default. Fixed here, not configured: workloads name them, so a
change is a change of the platform's contract. The autoscaler uses the built-in system-cluster-critical."""


@dataclass(frozen=True)
class ClusterAutoscalerSpec:
    """The cluster autoscaler. Defaults are production's and the seed's."""

    chart_version: str = "9.53.0"
    """Upstream chart version; its appVersion should be the cluster's minor. Default 9.53.0 (1.34.2)."""
    replicas: int = 2
    """Pods; one acts, by leader election. Default 2."""
    cpu: str = "100m"
    """CPU request and limit per pod (Kubernetes quantity). Default 100m."""
    memory: str = "300Mi"
    """Memory request and limit per pod (Kubernetes quantity). Default 300Mi."""
    scale_down_unneeded_minutes: int = 10
    """How long a node must be unneeded before removal (minutes). Default 10."""
    scale_down_delay_after_add_minutes: int = 10
    """No scale-down for this long after a scale-up (minutes). Default 10."""

    @classmethod
    def from_config(
        cls, config: ClusterAutoscalerConfig, *, cluster_version: str
    ) -> ClusterAutoscalerSpec | None:
        """The spec of ``platform:baseline.clusterAutoscaler``, or None when it is disabled."""
        if not config.enabled:
            return None
        chart_version = config.chart_for(cluster_version)
        if chart_version is None:
            raise ValueError(
                f"no cluster-autoscaler chart is known for Kubernetes {cluster_version}; set one"
            )
        return cls(
            chart_version=chart_version,
            replicas=config.replicas,
            cpu=config.cpu,
            memory=config.memory,
            scale_down_unneeded_minutes=config.scale_down_unneeded_minutes,
            scale_down_delay_after_add_minutes=config.scale_down_delay_after_add_minutes,
        )


@dataclass(frozen=True)
class MetricsServerSpec:
    """metrics-server, from its upstream chart. Defaults are production's."""

    chart_version: str = "3.13.1"
    """Upstream chart version. Default 3.13.1 (metrics-server 0.8.1)."""
    replicas: int = 2
    """Pods; with two or more, a disruption budget keeps one through a drain. Default 2."""

    @classmethod
    def from_config(cls, config: MetricsServerConfig) -> MetricsServerSpec | None:
        """The spec of ``platform:baseline.metricsServer``, or None when it is disabled."""
        return cls(chart_version=config.chart_version, replicas=config.replicas) if config.enabled else None


@dataclass(frozen=True)
class BaselineArgs:
    provider: k8s.Provider
    """The cluster's Kubernetes provider. Required."""
    namespaces: Mapping[str, NamespaceSpec]
    """Application namespaces by name. Required (may be empty)."""
    cluster_name: pulumi.Input[str] = ""
    """The EKS cluster the autoscaler scales; required with ``cluster_autoscaler``. Default empty."""
    vpc_cidr: str = "10.0.0.0/16"
    """The VPC's CIDR: internet egress excludes it, so HTTPS egress never reaches in-VPC services.
    Default 10.0.0.0/16."""
    data_tier: DataTier | None = None
    """Where pods may reach the database and cache; none means nowhere. Default none."""
    endpoint_cidrs: Sequence[str] = ()
    """CIDRs of the subnets holding the VPC's interface endpoints, which pods reach on 443. Default none."""
    connection_data: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Non-secret connection data (endpoints, ports, secret ARNs) for every namespace. Default none."""
    credentials: DataCredentials | None = None
    """The data tier's secrets: a namespace with service accounts gets a role allowed to read exactly these.
    Default none (no role)."""
    priority_classes: Mapping[str, PriorityClassSpec] = field(default_factory=lambda: dict(PRIORITY_CLASSES))
    """Cluster-wide priority classes by name. Default PRIORITY_CLASSES."""
    cluster_autoscaler: ClusterAutoscalerSpec | None = field(default_factory=ClusterAutoscalerSpec)
    """The cluster autoscaler; None leaves it out. Default ClusterAutoscalerSpec()."""
    metrics_server: MetricsServerSpec | None = field(default_factory=MetricsServerSpec)
    """metrics-server, the source of every HPA's metrics (EKS installs none); None leaves it out.
    Default MetricsServerSpec()."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What the autoscaler needs running first: the node groups its pods schedule on. Default none."""
    tags: Tags = field(default_factory=Tags)
    """Tags of the AWS resources (the autoscaler's role). Default none."""

    def __post_init__(self) -> None:
        if self.cluster_autoscaler is not None and not self.cluster_name:
            raise ValueError("BaselineArgs: cluster_name is required when cluster_autoscaler is set")

    @classmethod
    def from_config(
        cls,
        config: StackConfig,
        *,
        provider: k8s.Provider,
        cluster_name: pulumi.Input[str],
        connection_data: Mapping[str, pulumi.Input[str]],
        credentials: DataCredentials | None,
        database_cidrs: Sequence[str],
        endpoint_cidrs: Sequence[str],
        depends_on: Sequence[pulumi.Resource],
        tags: Tags,
    ) -> BaselineArgs:
        """The Args of ``platform:baseline`` and ``platform:namespaces``. Network policies follow the rest
        of the platform: the VPC, the database subnets and those of the interface endpoints (as the
        Network laid them out), the ports the database and cache listen on, and the mesh services each
        namespace's workloads call across namespaces."""
        callers = mesh_callers(config.mesh)
        namespaces = {
            name: NamespaceSpec.from_config(
                namespace,
                peers_in=sorted(callers.get(name, ())),
                peers_out=sorted(callee for callee, names in callers.items() if name in names),
            )
            for name, namespace in config.namespaces.items()
        }
        return cls(
            provider=provider,
            namespaces=namespaces,
            cluster_name=cluster_name,
            vpc_cidr=config.network.cidr,
            data_tier=DataTier(cidrs=tuple(database_cidrs), ports=(DATABASE_PORT, config.cache.port)),
            endpoint_cidrs=tuple(endpoint_cidrs),
            connection_data=connection_data,
            credentials=credentials,
            cluster_autoscaler=ClusterAutoscalerSpec.from_config(
                config.baseline.cluster_autoscaler, cluster_version=config.cluster.version
            ),
            metrics_server=MetricsServerSpec.from_config(config.baseline.metrics_server),
            depends_on=depends_on,
            tags=tags,
        )


# --- pure pieces -----------------------------------------------------------------------------------------


def mesh_callers(mesh: MeshConfig) -> dict[str, set[str]]:
    """Namespace -> the other namespaces whose workloads the mesh lets call its services."""
    callers: dict[str, set[str]] = {}
    for service in mesh.services.values():
        callers.setdefault(service.namespace, set()).update(service.allowed_namespaces)
    return {namespace: names - {namespace} for namespace, names in callers.items() if names - {namespace}}


def namespace_labels(name: str) -> dict[str, str]:
    """Pod Security ``restricted`` enforced: no privileged pods, no host access, non-root.

    Every application namespace is in the mesh: mutual TLS is STRICT mesh-wide, so a pod without a
    sidecar could call no routed service. Istio's CNI agent sets up the sidecars' traffic, so they need
    no privileged init container and fit ``restricted``.
    """
    return {
        NAMESPACE_LABEL: name,
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "istio-injection": "enabled",
        **MANAGED,
    }


def quota_hard(spec: NamespaceSpec) -> dict[str, str]:
    hard = {
        "requests.cpu": spec.cpu_requests,
        "requests.memory": spec.memory_requests,
        "pods": str(spec.pods),
    }
    if spec.cpu_limits is not None:
        hard["limits.cpu"] = spec.cpu_limits
    if spec.memory_limits is not None:
        hard["limits.memory"] = spec.memory_limits
    return hard


def limit_range_spec(limits: ContainerLimits) -> dict[str, Any]:
    return {
        "limits": [
            {
                "type": "Container",
                "default": dict(limits.default),
                "defaultRequest": dict(limits.default_request),
                "min": dict(limits.min),
                "max": dict(limits.max),
            }
        ]
    }


def _in_namespace(namespace: str, pod_labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: namespace}}}
    if pod_labels:
        peer["podSelector"] = {"matchLabels": dict(pod_labels)}
    return peer


def _tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def _egress(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"podSelector": {}, "policyTypes": ["Egress"], "egress": list(rules)}


def network_policies(
    spec: NamespaceSpec, *, vpc_cidr: str, data_tier: DataTier | None, endpoint_cidrs: Sequence[str] = ()
) -> dict[str, dict[str, Any]]:
    """A namespace's policies by name: deny all, then allow only what the platform needs.

    Policies add up, so each allowance is its own policy and reads on its own. Every one selects all
    pods of the namespace (``podSelector: {}``); replies to allowed connections are always let through.
    """
    policies: dict[str, dict[str, Any]] = {
        "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        "allow-dns": _egress(
            {
                "to": [_in_namespace("kube-system", {"k8s-app": "kube-dns"})],
                "ports": [{"protocol": "UDP", "port": 53}, *_tcp(53)],
            }
        ),
        # Credentials of a Pod Identity association come from the node's agent, which policies govern too.
        "allow-pod-identity": _egress({"to": [{"ipBlock": {"cidr": POD_IDENTITY_AGENT}}], "ports": _tcp(80)}),
        "allow-same-namespace": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {}}]}],
            "egress": [{"to": [{"podSelector": {}}]}],
        },
        # The ingress gateway forwards to any workload port; sidecars fetch config and certificates from
        # istiod on 15012.
        "allow-istio": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [_in_namespace(ISTIO_NAMESPACE)]}],
            "egress": [{"to": [_in_namespace(ISTIO_NAMESPACE, {"app": "istiod"})], "ports": _tcp(15012)}],
        },
    }
    if data_tier is not None:
        policies["allow-data-tier"] = _egress(
            {"to": [{"ipBlock": {"cidr": cidr}} for cidr in data_tier.cidrs], "ports": _tcp(*data_tier.ports)}
        )
    if spec.peers_in or spec.peers_out:
        policy: dict[str, Any] = {"podSelector": {}, "policyTypes": []}
        if spec.peers_in:
            policy["policyTypes"].append("Ingress")
            policy["ingress"] = [{"from": [_in_namespace(peer) for peer in spec.peers_in]}]
        if spec.peers_out:
            policy["policyTypes"].append("Egress")
            policy["egress"] = [{"to": [_in_namespace(peer) for peer in spec.peers_out]}]
        policies["allow-mesh-peers"] = policy
    if endpoint_cidrs:
        # The VPC's interface endpoints (Secrets Manager, where the data tier's credentials are) answer
        # on 443 from the private subnets; no namespace needs the internet to reach them.
        policies["allow-aws-endpoints"] = _egress(
            {"to": [{"ipBlock": {"cidr": cidr}} for cidr in endpoint_cidrs], "ports": _tcp(443)}
        )
    if spec.allow_internet_egress:
        # The VPC is excepted so "internet" never includes the API endpoint, internal LBs or the nodes.
        policies["allow-internet-https"] = _egress(
            {"to": [{"ipBlock": {"cidr": ANYWHERE, "except": [vpc_cidr]}}], "ports": _tcp(443)}
        )
    return policies


def autoscaler_policy(cluster_name: str, region: str, account_id: str) -> dict[str, Any]:
    """Describe what discovery needs (those calls take no resource) and this cluster's node groups, but change
    only the Auto Scaling groups EKS tagged as this cluster's own."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Discover",
                "Effect": "Allow",
                "Action": list(AUTOSCALER_DESCRIBE_ACTIONS),
                "Resource": "*",
            },
            {
                "Sid": "DescribeOwnNodeGroups",
                "Effect": "Allow",
                "Action": "eks:DescribeNodegroup",
                "Resource": f"arn:aws:eks:{region}:{account_id}:nodegroup/{cluster_name}/*/*",
            },
            {
                "Sid": "ScaleOwnGroups",
                "Effect": "Allow",
                "Action": list(AUTOSCALER_SCALE_ACTIONS),
                "Resource": "*",
                "Condition": {
                    "StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}
                },
            },
        ],
    }


def metrics_server_values(spec: MetricsServerSpec) -> dict[str, Any]:
    """Values of the upstream chart (3.13.1's values.yaml): replicas spread over the zones, and a disruption
    budget once there are two, so a drain never takes the metrics API away; the chart's own pod and container
    security contexts already satisfy Pod Security ``restricted``."""
    values: dict[str, Any] = {
        "replicas": spec.replicas,
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": ZONE,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": dict(METRICS_SERVER_SELECTOR)},
            }
        ],
    }
    if spec.replicas >= 2:
        values["podDisruptionBudget"] = {"enabled": True, "minAvailable": 1}
    return values


def credentials_reader_policy(
    secret_arns: Sequence[str], key_arns: Sequence[str], region: str
) -> dict[str, Any]:
    """Read exactly the data tier's secrets, and decrypt with their keys only as Secrets Manager does for it:
    the keys themselves stay unusable to the role anywhere else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadTheDataTiersSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": list(secret_arns),
            },
            {
                "Sid": "DecryptThemThroughSecretsManager",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": list(key_arns),
                "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
            },
        ],
    }


def autoscaler_values(spec: ClusterAutoscalerSpec, *, cluster_name: str, region: str) -> dict[str, Any]:
    """Values of the upstream chart: auto-discovery of this cluster's groups, the seed's flags, HA, and a
    locked-down pod. The chart picks the image of its own appVersion."""
    resources = {"cpu": spec.cpu, "memory": spec.memory}
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster_name},
        "fullnameOverride": AUTOSCALER_SERVICE_ACCOUNT,
        "rbac": {"create": True, "serviceAccount": {"create": True, "name": AUTOSCALER_SERVICE_ACCOUNT}},
        "replicaCount": spec.replicas,
        "priorityClassName": AUTOSCALER_PRIORITY_CLASS,
        # Requests equal to limits: the Guaranteed QoS class, the last to be evicted under node pressure.
        "resources": {"requests": resources, "limits": dict(resources)},
        "podDisruptionBudget": {"maxUnavailable": 1},
        "extraArgs": {
            "logtostderr": True,
            "stderrthreshold": "info",
            "v": 4,
            # Cheapest fit first; zones kept even, which managed node groups spanning AZs need.
            "expander": "least-waste",
            "balance-similar-node-groups": True,
            # emptyDir scratch space and kube-system pods (with their budgets) must not pin nodes forever.
            "skip-nodes-with-local-storage": False,
            "skip-nodes-with-system-pods": False,
            "scale-down-unneeded-time": f"{spec.scale_down_unneeded_minutes}m",
            "scale-down-delay-after-add": f"{spec.scale_down_delay_after_add_minutes}m",
            "scale-down-delay-after-delete": "10s",
            "scale-down-delay-after-failure": "3m",
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "runAsGroup": 65534,
            "fsGroup": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containerSecurityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


# --- the component ----------------------------------------------------------------------------------------


class Baseline(pulumi.ComponentResource):
    """Application namespaces with quotas, limits and network policies; priority classes; the autoscaler."""

    namespace_names: dict[str, pulumi.Output[str]]
    priority_class_names: list[pulumi.Output[str]]
    autoscaler_role_arn: pulumi.Output[str] | None

    def __init__(self, name: str, args: BaselineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Baseline", name, None, opts)
        self._name = name
        self._k8s = pulumi.ResourceOptions(parent=self, provider=args.provider)
        self.namespace_names = {
            namespace: self._namespace(namespace, spec, args) for namespace, spec in args.namespaces.items()
        }
        self.priority_class_names = [
            k8s.scheduling.v1.PriorityClass(
                f"{name}-priority-{class_name}",
                metadata={"name": class_name, "labels": MANAGED},
                value=spec.value,
                global_default=False,
                preemption_policy=spec.preemption_policy,
                description=spec.description,
                opts=self._k8s,
            ).metadata.name
            for class_name, spec in args.priority_classes.items()
        ]
        self.autoscaler_role_arn = (
            self._cluster_autoscaler(args, args.cluster_autoscaler) if args.cluster_autoscaler else None
        )
        if args.metrics_server is not None:
            self._metrics_server(args, args.metrics_server)
        self.register_outputs(
            {
                "namespaces": self.namespace_names,
                "priorityClasses": self.priority_class_names,
                "autoscalerRoleArn": self.autoscaler_role_arn,
            }
        )

    def _metadata(self, resource_name: str, namespace: pulumi.Input[str]) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=resource_name, namespace=namespace, labels=MANAGED)

    def _namespace(self, namespace: str, spec: NamespaceSpec, args: BaselineArgs) -> pulumi.Output[str]:
        prefix = f"{self._name}-{namespace}"
        created = k8s.core.v1.Namespace(
            prefix, metadata={"name": namespace, "labels": namespace_labels(namespace)}, opts=self._k8s
        )
        # Everything below names the namespace through its output, so it waits for the namespace to exist.
        # Specs are manifests in the API's camelCase, which the SDK passes on as they are; its TypedDicts
        # spell the same keys in snake_case, hence the casts.
        name = created.metadata.name
        k8s.core.v1.ResourceQuota(
            f"{prefix}-quota",
            metadata=self._metadata("platform-quota", name),
            spec={"hard": quota_hard(spec)},
            opts=self._k8s,
        )
        k8s.core.v1.LimitRange(
            f"{prefix}-limits",
            metadata=self._metadata("platform-limits", name),
            spec=cast("k8s.core.v1.LimitRangeSpecArgsDict", limit_range_spec(spec.limits)),
            opts=self._k8s,
        )
        for policy, policy_spec in network_policies(
            spec, vpc_cidr=args.vpc_cidr, data_tier=args.data_tier, endpoint_cidrs=args.endpoint_cidrs
        ).items():
            k8s.networking.v1.NetworkPolicy(
                f"{prefix}-{policy}",
                metadata=self._metadata(policy, name),
                spec=cast("k8s.networking.v1.NetworkPolicySpecArgsDict", policy_spec),
                opts=self._k8s,
            )
        data = dict(args.connection_data)
        if spec.service_accounts and args.credentials is not None:
            data[CREDENTIALS_ROLE_KEY] = self._credentials_reader(
                namespace, spec.service_accounts, args.credentials, args
            )
        if data:
            k8s.core.v1.ConfigMap(
                f"{prefix}-connections",
                metadata=self._metadata(CONNECTIONS_CONFIGMAP, name),
                data=data,
                opts=self._k8s,
            )
        return name

    def _credentials_reader(
        self,
        namespace: str,
        service_accounts: Sequence[str],
        credentials: DataCredentials,
        args: BaselineArgs,
    ) -> pulumi.Output[str]:
        """The namespace's role for reading the data tier's credentials, bound to its service accounts."""
        name = f"{self._name}-{namespace}-credentials"
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        reader = pod_identity_role(
            self,
            name,
            description=f"Reads the data tier's credentials for service accounts of namespace {namespace}",
            policy=pulumi.Output.all(
                pulumi.Output.all(*credentials.secret_arns), pulumi.Output.all(*credentials.key_arns), region
            ).apply(lambda parts: json.dumps(credentials_reader_policy(*parts))),
            cluster_name=args.cluster_name,
            namespace=namespace,
            service_accounts={f"{name}-{account}": account for account in service_accounts},
            tags=args.tags.layered({"Component": "baseline", "Namespace": namespace}),
        )
        return reader.role.arn

    def _metrics_server(self, args: BaselineArgs, spec: MetricsServerSpec) -> None:
        k8s.helm.v3.Release(
            f"{self._name}-metrics-server",
            name=METRICS_SERVER_CHART,
            chart=METRICS_SERVER_CHART,
            version=spec.chart_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=METRICS_SERVER_REPOSITORY),
            namespace=AUTOSCALER_NAMESPACE,
            values=metrics_server_values(spec),
            # A failed install or upgrade rolls back rather than leaving the metrics API half-changed.
            atomic=True,
            opts=pulumi.ResourceOptions.merge(
                self._k8s, pulumi.ResourceOptions(depends_on=list(args.depends_on))
            ),
        )

    def _cluster_autoscaler(self, args: BaselineArgs, spec: ClusterAutoscalerSpec) -> pulumi.Output[str]:
        """Its IAM role (EKS Pod Identity) and the chart, installed once the role can be assumed."""
        name = f"{self._name}-autoscaler"
        cluster_name = pulumi.Output.from_input(args.cluster_name)
        account_id, region = account_and_region(self)
        autoscaler = pod_identity_role(
            self,
            name,
            description="Cluster autoscaler: resizes the cluster's own Auto Scaling groups",
            policy=pulumi.Output.all(cluster_name, region, account_id).apply(
                lambda ids: json.dumps(autoscaler_policy(*ids))
            ),
            cluster_name=cluster_name,
            namespace=AUTOSCALER_NAMESPACE,
            service_accounts={name: AUTOSCALER_SERVICE_ACCOUNT},
            tags=args.tags.layered({"Component": "baseline"}),
        )
        # Pods get Pod Identity credentials only if the association exists when they start.
        k8s.helm.v3.Release(
            name,
            name=AUTOSCALER_CHART,
            chart=AUTOSCALER_CHART,
            version=spec.chart_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=AUTOSCALER_REPOSITORY),
            namespace=AUTOSCALER_NAMESPACE,
            values=pulumi.Output.all(cluster_name, region).apply(
                lambda values: autoscaler_values(spec, cluster_name=values[0], region=values[1])
            ),
            # A failed install or upgrade rolls back rather than leaving the autoscaler half-changed.
            atomic=True,
            opts=pulumi.ResourceOptions.merge(
                self._k8s, pulumi.ResourceOptions(depends_on=[*autoscaler.grants, *args.depends_on])
            ),
        )
        return autoscaler.role.arn
