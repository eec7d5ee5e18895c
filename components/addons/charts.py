"""Every add-on's chart, pinned once for every stack: upgrading one is a one-line change here.

Each version was read at its release tag (chart ``values.yaml`` / ``values.schema.json``, and the CRDs it
installs) before any value was set; a value the chart does not declare is silently ignored, so every
setting in ``components/addons/`` names the chart key it feeds.
"""

from __future__ import annotations

from dataclasses import dataclass


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
