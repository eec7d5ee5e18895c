"""Every add-on's chart, pinned once for every stack: upgrading one is a one-line change here.

Each version was read at its release tag (chart ``values.yaml`` / ``values.schema.json``, and the CRDs it
installs) before any value was set; a value the chart does not declare is silently ignored, so every
setting in ``components/addons/`` names the chart key it feeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.baseline import NAMESPACE_LABEL
from components.mesh import MANAGED


@dataclass(frozen=True)
class Chart:
    """A Helm chart at one version, from its repository."""

    chart: str
    version: str
    repository: str
    app_version: str
    """What the chart runs at this version (for the reader; Helm does not take it)."""


CHARTS: dict[str, Chart] = {
    "kube-prometheus-stack": Chart(
        "kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts", "v0.93.1"
    ),
    "opentelemetry-collector": Chart(
        "opentelemetry-collector",
        "0.170.0",
        "https://open-telemetry.github.io/opentelemetry-helm-charts",
        "0.158.0",
    ),
    "velero": Chart("velero", "12.1.0", "https://vmware-tanzu.github.io/helm-charts", "1.18.1"),
    "gatekeeper": Chart(
        "gatekeeper", "3.23.0", "https://open-policy-agent.github.io/gatekeeper/charts", "v3.23.0"
    ),
    "argo-rollouts": Chart("argo-rollouts", "2.41.0", "https://argoproj.github.io/argo-helm", "v1.9.0"),
    "vertical-pod-autoscaler": Chart(
        "vertical-pod-autoscaler", "0.11.0", "https://kubernetes.github.io/autoscaler", "1.7.1"
    ),
    "cert-manager": Chart("cert-manager", "v1.21.1", "https://charts.jetstack.io", "v1.21.1"),
}
"""Chart name -> its pin."""


def restricted_namespace(
    resource_name: str, namespace: str, opts: pulumi.ResourceOptions
) -> k8s.core.v1.Namespace:
    """An add-on's own namespace under Pod Security ``restricted``, which each add-on's pods meet as its
    values set them (node-exporter, which cannot, runs in kube-system)."""
    labels = {
        NAMESPACE_LABEL: namespace,
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        **MANAGED,
    }
    return k8s.core.v1.Namespace(resource_name, metadata={"name": namespace, "labels": labels}, opts=opts)


def pinned_release(
    resource_name: str,
    chart_name: str,
    *,
    release_name: str,
    namespace: pulumi.Input[str],
    values: pulumi.Input[Mapping[str, Any]],
    opts: pulumi.ResourceOptions,
    depends_on: Sequence[pulumi.Resource] = (),
    timeout: int | None = None,
) -> k8s.helm.v3.Release:
    """A release of ``CHARTS[chart_name]`` at its pin, atomic: a failed install or upgrade rolls back rather
    than leaving the add-on half-changed. ``timeout`` in seconds (default Helm's 300)."""
    chart = CHARTS[chart_name]
    return k8s.helm.v3.Release(
        resource_name,
        name=release_name,
        chart=chart.chart,
        version=chart.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
        namespace=namespace,
        values=values,
        atomic=True,
        timeout=timeout,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(depends_on))),
    )
