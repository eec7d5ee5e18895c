"""The Kubernetes baseline of the application namespaces.

So far: each namespace from ``platform:namespaces`` with Pod Security ``restricted`` enforced, its
resource quota, and a ConfigMap of the data tier's non-secret connection data. Limit ranges,
network policies, PDBs, priority classes and the cluster autoscaler belong here too and come with
the baseline's own issue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

CONNECTIONS_CONFIGMAP = "platform-connections"
"""Name of the ConfigMap that tells applications where the data tier is (never a secret in it)."""


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


@dataclass(frozen=True)
class BaselineArgs:
    provider: k8s.Provider
    """The cluster's Kubernetes provider. Required."""
    namespaces: Mapping[str, NamespaceSpec]
    """Application namespaces by name. Required (may be empty)."""
    connection_data: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Non-secret connection data (endpoints, ports, secret ARNs) for every namespace. Default none."""


def namespace_labels(name: str) -> dict[str, str]:
    """Pod Security ``restricted`` enforced: no privileged pods, no host access, non-root."""
    return {
        "kubernetes.io/metadata.name": name,
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "app.kubernetes.io/managed-by": "pulumi",
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


class Baseline(pulumi.ComponentResource):
    """Application namespaces, their quotas and the data tier's connection ConfigMap."""

    namespace_names: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: BaselineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Baseline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        self.namespace_names = {}
        for namespace, spec in args.namespaces.items():
            created = k8s.core.v1.Namespace(
                f"{name}-{namespace}",
                metadata={"name": namespace, "labels": namespace_labels(namespace)},
                opts=child,
            )
            labels = {"app.kubernetes.io/managed-by": "pulumi"}
            k8s.core.v1.ResourceQuota(
                f"{name}-{namespace}-quota",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name="platform-quota", namespace=created.metadata.name, labels=labels
                ),
                spec={"hard": quota_hard(spec)},
                opts=child,
            )
            if args.connection_data:
                k8s.core.v1.ConfigMap(
                    f"{name}-{namespace}-connections",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=CONNECTIONS_CONFIGMAP, namespace=created.metadata.name, labels=labels
                    ),
                    data=dict(args.connection_data),
                    opts=child,
                )
            self.namespace_names[namespace] = created.metadata.name
        self.register_outputs({"namespaces": self.namespace_names})
