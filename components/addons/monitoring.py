"""Metrics, dashboards and alerts: kube-prometheus-stack (Prometheus, Alertmanager, Grafana, the
Prometheus operator, kube-state-metrics, node-exporter), scraping the mesh, alerting the platform's team.

* Prometheus keeps ``retention_days`` of samples (and never more than 85% of its volume) on an encrypted
  gp3 volume per replica, from a StorageClass of the EBS CSI driver made here (EKS makes only the in-tree
  ``gp2`` class, and since 1.30 marks none as the default);
* it scrapes istiod (a ServiceMonitor) and every sidecar's merged metrics (a PodMonitor), Istio's own
  recipe from ``samples/addons/extras/prometheus-operator.yaml``, and the cluster autoscaler; it selects
  every ServiceMonitor, PodMonitor and PrometheusRule of the cluster, not only the release's own;
* the platform's rules (:func:`platform_rules`) alert on nodes not ready, pods crash-looping, volumes
  filling, a mesh service's 5xx share over the configured threshold and an autoscaler that cannot scale;
* Alertmanager publishes to an SNS topic from config (SigV4, with an EKS Pod Identity role that may
  publish to that topic only), so no secret sits in config, in state or in the cluster;
* Grafana is reachable only inside the cluster (ClusterIP, no ingress: ``kubectl port-forward``), its
  admin password generated and kept in a Secret the chart reads, Istio's dashboards provisioned from
  Istio's own release.

The chart has no ``values.schema.json``: a key it does not declare is silently ignored, so every value
names its key in kube-prometheus-stack 88.5.3's values.yaml (or its sub-charts' at their pinned tags).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.addons.charts import pinned_release, restricted_namespace
from components.baseline import AUTOSCALER_CHART, AUTOSCALER_NAMESPACE, NAMESPACE_LABEL
from components.config import MONITORING_NAMESPACE, MonitoringConfig
from components.mesh import ISTIO_NAMESPACE, MANAGED
from components.pod_identity import PodIdentityRole, pod_identity_role
from components.tags import Tags

NAMESPACE = MONITORING_NAMESPACE
RELEASE = "kube-prometheus-stack"
"""Release name; it contains the chart's name, so the chart names its objects ``kube-prometheus-stack-*``."""
NODE_EXPORTER_NAMESPACE = "kube-system"
"""node-exporter needs the host's network, PID namespace and root file system, which Pod Security admits
only in a privileged namespace. The policy pack refuses a namespace of ours that enforces less than
``baseline``; kube-system is EKS' own, unlabelled (so privileged), and already holds the node agents
(the VPC CNI, kube-proxy, Istio's CNI agent)."""
STORAGE_CLASS = "gp3-encrypted"
EBS_CSI_PROVISIONER = "ebs.csi.aws.com"
"""The EBS CSI driver (the cluster's ``aws-ebs-csi-driver`` add-on)."""
ALERTMANAGER_STORAGE_GIB = 1
"""Alertmanager's volume per replica: silences and the notification log survive a restart of every pod."""
ALERTMANAGER_SERVICE_ACCOUNT = "alertmanager"
"""The service account the chart gives Alertmanager, which the Pod Identity association names."""
GRAFANA_ADMIN_SECRET = "grafana-admin"
GRAFANA_ADMIN_USER = "admin"
GRAFANA_USER_KEY, GRAFANA_PASSWORD_KEY = "admin-user", "admin-password"
"""The keys the chart reads from the admin Secret (``grafana.admin.userKey`` / ``passwordKey``)."""
PROMETHEUS_POD = {"app.kubernetes.io/name": "prometheus"}
"""The label the operator gives Prometheus' pods (prometheus-operator v0.93 pkg/prometheus/server)."""
MERGED_METRICS_PORT = 15020
"""The Istio agent's port serving the sidecar's and the application's metrics merged (``prometheus.io/port``
of every injected pod); not intercepted, so scraped without mutual TLS."""
RETENTION_SHARE = 0.85
"""Prometheus deletes its oldest blocks past this share of its volume, before the volume fills."""
AUTOSCALER_SERVICE = {
    "app.kubernetes.io/instance": AUTOSCALER_CHART,
    "app.kubernetes.io/name": f"aws-{AUTOSCALER_CHART}",
}
"""Labels of the cluster autoscaler's Service (chart 9.53.0 ``cluster-autoscaler.instance-name``: the
release, and ``<cloudProvider>-<chart>``); its port ``http`` (8085) serves /metrics."""
ISTIO_DASHBOARDS = {
    "istio-mesh": "istio-mesh-dashboard.gen.json",
    "istio-service": "istio-service-dashboard.json",
    "istio-workload": "istio-workload-dashboard.json",
    "istio-control-plane": "pilot-dashboard.gen.json",
    "istio-performance": "istio-performance-dashboard.json",
}
"""Istio's dashboards (grafana.com 7639, 7636, 7630, 7645, 11829) by the file names of its release, which
hold since 1.24 (the config refuses older meshes). The Wasm extension and ztunnel ones are left out: the
platform runs neither."""
ISTIO_DASHBOARD_URL = (
    "https://raw.githubusercontent.com/istio/istio/{version}/manifests/addons/dashboards/{file}"
)
GRAFANA_DASHBOARDS_PATH = "/var/lib/grafana/dashboards/istio"
EKS_CONTROL_PLANE = ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")
"""Scrape targets the chart enables that EKS does not expose (its control plane is AWS', and kube-proxy's
metrics listen on the node's loopback): left on, each is a target down and an alert that always fires."""
REPLACED_DEFAULT_RULES = ("KubeNodeNotReady", "KubePodCrashLooping", "KubePersistentVolumeFillingUp")
"""The chart's alerts that :func:`platform_rules` replaces, so one failure pages once."""
ZONE = "topology.kubernetes.io/zone"


@dataclass(frozen=True)
class MonitoringArgs:
    """Inputs of :class:`Monitoring`. Defaults are production's."""

    provider: k8s.Provider
    """The cluster's Kubernetes provider. Required."""
    cluster_name: pulumi.Input[str]
    """The EKS cluster: Prometheus' ``cluster`` label, and where Alertmanager's role is bound. Required."""
    replicas: int = 2
    """Pods of Prometheus, Alertmanager and Grafana each; two or more get disruption budgets. Default 2."""
    retention_days: int = 15
    """Days Prometheus keeps samples. Default 15."""
    storage_gib: int = 50
    """Encrypted gp3 volume per Prometheus replica (GiB). Default 50."""
    prometheus_memory: str = "4Gi"
    """Memory request and limit per Prometheus pod (Kubernetes quantity). Default 4Gi."""
    error_rate_percent: float = 5.0
    """A mesh service's 5xx share over 5 minutes that alerts (percent). Default 5."""
    alert_topic_arn: pulumi.Input[str] | None = None
    """SNS topic Alertmanager publishes to (:class:`~components.addons.Addons` gives the alarms add-on's
    topic when config names none). Default none: alerts stay in Alertmanager."""
    alert_topic_key_arn: pulumi.Input[str] | None = None
    """The topic's customer-managed KMS key, which publishing needs. Default none."""
    istio_version: str = "1.28.0"
    """The mesh's Istio version, whose dashboards Grafana loads. Default 1.28.0."""
    namespaces: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Application namespaces (name -> name as created) whose sidecars Prometheus scrapes. Default none."""
    cluster_autoscaler: bool = True
    """Whether the cluster runs the autoscaler (scraped, and alerted on). Default true."""
    mesh_ready: Sequence[pulumi.Resource] = ()
    """What the monitors in Istio's namespace wait for (its namespace, control plane). Default none."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What the pods need first (nodes, CoreDNS). Default none."""
    node_selector: Mapping[str, str] = field(default_factory=dict)
    """Labels of the nodes the stack's pods (node-exporter aside) run on. Default any node."""
    tags: Tags = field(default_factory=Tags)
    """Tags of the AWS resources (Alertmanager's role). Default none."""

    def __post_init__(self) -> None:
        if self.alert_topic_key_arn is not None and self.alert_topic_arn is None:
            raise ValueError("MonitoringArgs: alert_topic_key_arn is the topic's key; give alert_topic_arn")

    @classmethod
    def from_config(
        cls,
        config: MonitoringConfig,
        *,
        provider: k8s.Provider,
        cluster_name: pulumi.Input[str],
        istio_version: str,
        namespaces: Mapping[str, pulumi.Input[str]],
        cluster_autoscaler: bool,
        mesh_ready: Sequence[pulumi.Resource],
        depends_on: Sequence[pulumi.Resource],
        node_selector: Mapping[str, str],
        tags: Tags,
    ) -> MonitoringArgs:
        return cls(
            provider=provider,
            cluster_name=cluster_name,
            replicas=config.replicas,
            retention_days=config.retention_days,
            storage_gib=config.storage_gib,
            prometheus_memory=config.prometheus_memory,
            error_rate_percent=config.error_rate_percent,
            alert_topic_arn=config.alert_topic_arn,
            alert_topic_key_arn=config.alert_topic_key_arn,
            istio_version=istio_version,
            namespaces=dict(namespaces),
            cluster_autoscaler=cluster_autoscaler,
            mesh_ready=tuple(mesh_ready),
            depends_on=tuple(depends_on),
            node_selector=dict(node_selector),
            tags=tags,
        )


# --- pure pieces: storage, Alertmanager, Grafana -------------------------------------------------------


def storage_class_parameters() -> dict[str, str]:
    """gp3 (3,000 IOPS and 125 MiB/s included), encrypted with the account's EBS key, as the nodes' root
    volumes are (the EBS CSI driver's parameters ``type`` and ``encrypted``)."""
    return {"type": "gp3", "encrypted": "true"}


def volume_claim(gib: int) -> dict[str, Any]:
    """An operator ``storage`` block: one ReadWriteOnce claim of the encrypted gp3 class per pod."""
    return {
        "volumeClaimTemplate": {
            "spec": {
                "storageClassName": STORAGE_CLASS,
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": f"{gib}Gi"}},
            }
        }
    }


def retention_size(storage_gib: int) -> str:
    """Prometheus' size-based retention: :data:`RETENTION_SHARE` of its volume, in whole GiB."""
    return f"{math.floor(storage_gib * RETENTION_SHARE)}GiB"


def topic_region(topic_arn: str) -> str:
    """The region of an SNS topic, from its ARN (``arn:<partition>:sns:<region>:<account>:<name>``)."""
    return topic_arn.split(":")[3]


def alertmanager_config(topic_arn: str | None) -> dict[str, Any]:
    """Alertmanager's whole configuration (``alertmanager.config``; Helm merges maps but replaces lists, so
    every list is given): everything to the SNS topic, signed with the pod's Pod Identity credentials
    (SigV4 with no keys takes the AWS SDK's default chain); the always-firing ``Watchdog`` to nobody; the
    chart's inhibitions (a critical alert silences the same alert's warnings)."""
    receivers: list[dict[str, Any]] = [{"name": "null"}]
    receiver = "null"
    if topic_arn is not None:
        receiver = "platform"
        receivers.append(
            {
                "name": receiver,
                "sns_configs": [
                    {
                        "topic_arn": topic_arn,
                        "sigv4": {"region": topic_region(topic_arn)},
                        "send_resolved": True,
                    }
                ],
            }
        )
    return {
        "global": {"resolve_timeout": "5m"},
        "inhibit_rules": [
            {
                "source_matchers": ["severity = critical"],
                "target_matchers": ["severity =~ warning|info"],
                "equal": ["namespace", "alertname"],
            },
            {
                "source_matchers": ["severity = warning"],
                "target_matchers": ["severity = info"],
                "equal": ["namespace", "alertname"],
            },
            {
                "source_matchers": ["alertname = InfoInhibitor"],
                "target_matchers": ["severity = info"],
                "equal": ["namespace"],
            },
            {"target_matchers": ["alertname = InfoInhibitor"]},
        ],
        "route": {
            "receiver": receiver,
            "group_by": ["namespace", "alertname"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}],
        },
        "receivers": receivers,
        "templates": ["/etc/alertmanager/config/*.tmpl"],
    }


def alert_publisher_policy(topic_arn: str, key_arn: str | None) -> dict[str, Any]:
    """Publish to the one topic; with a customer-managed key, use it only as SNS does for that topic."""
    statements: list[dict[str, Any]] = [
        {"Sid": "PublishAlerts", "Effect": "Allow", "Action": "sns:Publish", "Resource": topic_arn}
    ]
    if key_arn is not None:
        statements.append(
            {
                "Sid": "EncryptThemForTheTopic",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                "Resource": key_arn,
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"sns.{topic_region(topic_arn)}.amazonaws.com"}
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def istio_dashboards(istio_version: str) -> dict[str, Any]:
    """Grafana's dashboard provider and Istio's dashboards (grafana chart ``dashboardProviders`` and
    ``dashboards``), each downloaded at pod start by the chart's init container from Istio's release tag.

    Why not ``gnetId``: the chart downloads revision 1 (the oldest) unless a revision is pinned, and the
    grafana.com revision of each Istio release is recorded nowhere a version could be pinned from; the
    file at Istio's own tag is exactly the mesh's version, and follows ``platform:mesh.istioVersion``.
    Why not ConfigMaps: the JSON (up to 116 kB a dashboard) would have to live in this repository.
    """
    return {
        "dashboardProviders": {
            "dashboardproviders.yaml": {
                "apiVersion": 1,
                "providers": [
                    {
                        "name": "istio",
                        "orgId": 1,
                        "folder": "Istio",
                        "type": "file",
                        "disableDeletion": True,
                        "editable": False,
                        "options": {"path": GRAFANA_DASHBOARDS_PATH},
                    }
                ],
            }
        },
        "dashboards": {
            "istio": {
                name: {"url": ISTIO_DASHBOARD_URL.format(version=istio_version, file=file)}
                for name, file in ISTIO_DASHBOARDS.items()
            }
        },
    }


def _spread(labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Replicas spread over the zones, never at the cost of not scheduling a pod."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(labels)},
        }
    ]


def _resources(cpu: str, memory: str, memory_limit: str | None = None) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit or memory}}


def stack_values(args: MonitoringArgs, *, cluster_name: str, topic_arn: str | None = None) -> dict[str, Any]:
    """Values of kube-prometheus-stack 88.5.3 (and its grafana 12.11.1, kube-state-metrics 8.4.0 and
    prometheus-node-exporter 4.56.1 sub-charts), each key as its values.yaml spells it."""
    nodes = dict(args.node_selector)
    budget = args.replicas >= 2
    grafana: dict[str, Any] = {
        "replicas": args.replicas,
        # Grafana keeps no state worth sharing: dashboards and data sources are provisioned, the admin
        # comes from the Secret, and nothing is edited in the UI (a replica's SQLite is its own).
        "podDisruptionBudget": {"minAvailable": 1} if budget else {},
        "admin": {
            "existingSecret": GRAFANA_ADMIN_SECRET,
            "userKey": GRAFANA_USER_KEY,
            "passwordKey": GRAFANA_PASSWORD_KEY,
        },
        # Reached with kubectl port-forward only: no load balancer, no ingress.
        "service": {"type": "ClusterIP"},
        "ingress": {"enabled": False},
        "nodeSelector": nodes,
        "topologySpreadConstraints": _spread({"app.kubernetes.io/name": "grafana"}),
        "resources": _resources("100m", "256Mi", "512Mi"),
        # The chart's test pod runs only under `helm test`, from another image.
        "testFramework": {"enabled": False},
        # The chart's default (-skf) skips TLS verification of the downloads; retries ride out a blip.
        "defaultCurlOptions": "-sfL --retry 5 --retry-all-errors",
        **istio_dashboards(args.istio_version),
    }
    return {
        **{component: {"enabled": False} for component in EKS_CONTROL_PLANE},
        "defaultRules": {"disabled": dict.fromkeys(REPLACED_DEFAULT_RULES, True)},
        "prometheusOperator": {
            # The operator's Deployment is fixed at one replica (the template has no replicas key), so it
            # gets no disruption budget, which would block every drain; Prometheus and Alertmanager keep
            # running while it is rescheduled.
            "nodeSelector": nodes,
            "resources": _resources("100m", "128Mi", "256Mi"),
            "admissionWebhooks": {"patch": {"nodeSelector": nodes}},
        },
        # One replica: a second would export every kube_* series twice (the chart has no deduplication).
        "kube-state-metrics": {"nodeSelector": nodes, "resources": _resources("50m", "128Mi", "256Mi")},
        "prometheus-node-exporter": {
            "namespaceOverride": NODE_EXPORTER_NAMESPACE,
            # Every node, tainted ones included (the chart tolerates every NoSchedule taint).
            "resources": _resources("50m", "32Mi", "64Mi"),
            "containerSecurityContext": {
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
        },
        "prometheus": {
            "podDisruptionBudget": {"enabled": budget, "minAvailable": 1},
            "prometheusSpec": {
                "replicas": args.replicas,
                "retention": f"{args.retention_days}d",
                "retentionSize": retention_size(args.storage_gib),
                "storageSpec": volume_claim(args.storage_gib),
                # Names the stack in every alert the topic carries.
                "externalLabels": {"cluster": cluster_name},
                "nodeSelector": nodes,
                # Replicas in different zones (their volumes are zonal).
                "podAntiAffinity": "soft",
                "podAntiAffinityTopologyKey": ZONE,
                "resources": _resources("500m", args.prometheus_memory),
                # Select every ServiceMonitor, PodMonitor and PrometheusRule of the cluster, not only
                # those labelled release=kube-prometheus-stack (the chart's default).
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
            },
        },
        "alertmanager": {
            "serviceAccount": {"create": True, "name": ALERTMANAGER_SERVICE_ACCOUNT},
            "podDisruptionBudget": {"enabled": budget, "minAvailable": 1},
            "config": alertmanager_config(topic_arn),
            "alertmanagerSpec": {
                "replicas": args.replicas,
                "storage": volume_claim(ALERTMANAGER_STORAGE_GIB),
                "nodeSelector": nodes,
                "podAntiAffinity": "soft",
                "podAntiAffinityTopologyKey": ZONE,
                "resources": _resources("50m", "128Mi", "256Mi"),
            },
        },
        "grafana": grafana,
    }


# --- pure pieces: what Prometheus scrapes and alerts on -------------------------------------------------


def istiod_monitor_spec() -> dict[str, Any]:
    """Istio's ``istio-component-monitor``: istiod's Service (label istio=pilot), port http-monitoring."""
    return {
        "jobLabel": "istio",
        "targetLabels": ["app"],
        "selector": {"matchExpressions": [{"key": "istio", "operator": "In", "values": ["pilot"]}]},
        "namespaceSelector": {"matchNames": [ISTIO_NAMESPACE]},
        "endpoints": [{"port": "http-monitoring", "interval": "15s"}],
    }


def envoy_monitor_spec() -> dict[str, Any]:
    """Istio's ``envoy-stats-monitor``: every injected pod (sidecars and gateways, any namespace) at the
    port and path its ``prometheus.io`` annotations name, the sidecar's and the application's metrics
    merged; a pod labelled ``istio-prometheus-ignore`` opts out."""
    address_from_annotation = [
        "__meta_kubernetes_pod_annotation_prometheus_io_port",
        "__meta_kubernetes_pod_ip",
    ]
    return {
        "selector": {"matchExpressions": [{"key": "istio-prometheus-ignore", "operator": "DoesNotExist"}]},
        "namespaceSelector": {"any": True},
        "jobLabel": "envoy-stats",
        "podMetricsEndpoints": [
            {
                "path": "/stats/prometheus",
                "interval": "15s",
                "relabelings": [
                    {
                        "action": "keep",
                        "sourceLabels": ["__meta_kubernetes_pod_container_name"],
                        "regex": "istio-proxy",
                    },
                    {
                        "action": "keep",
                        "sourceLabels": ["__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape"],
                    },
                    {
                        "action": "replace",
                        "regex": r"(\d+);(([A-Fa-f0-9]{1,4}::?){1,7}[A-Fa-f0-9]{1,4})",
                        "replacement": "[$2]:$1",
                        "sourceLabels": address_from_annotation,
                        "targetLabel": "__address__",
                    },
                    {
                        "action": "replace",
                        "regex": r"(\d+);((([0-9]+?)(\.|$)){4})",
                        "replacement": "$2:$1",
                        "sourceLabels": address_from_annotation,
                        "targetLabel": "__address__",
                    },
                    {"action": "labeldrop", "regex": "__meta_kubernetes_pod_label_(.+)"},
                    {
                        "sourceLabels": ["__meta_kubernetes_namespace"],
                        "action": "replace",
                        "targetLabel": "namespace",
                    },
                    {
                        "sourceLabels": ["__meta_kubernetes_pod_name"],
                        "action": "replace",
                        "targetLabel": "pod",
                    },
                ],
            }
        ],
    }


def autoscaler_monitor_spec() -> dict[str, Any]:
    """The cluster autoscaler's Service in kube-system (its chart's own ServiceMonitor would need these
    CRDs before the baseline installs it)."""
    return {
        "selector": {"matchLabels": dict(AUTOSCALER_SERVICE)},
        "namespaceSelector": {"matchNames": [AUTOSCALER_NAMESPACE]},
        "endpoints": [{"port": "http", "interval": "30s"}],
    }


def _alert(
    name: str, expr: str, duration: str | None, severity: str, summary: str, description: str
) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "alert": name,
        "expr": expr,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description},
    }
    if duration is not None:
        rule["for"] = duration
    return rule


MIN_REQUESTS_PER_SECOND = 0.1
"""Below this rate (6 requests a minute) a service's 5xx share is noise, not an outage."""


def platform_rules(error_rate_percent: float, *, cluster_autoscaler: bool = True) -> dict[str, Any]:
    """The platform's alerts, one group per concern. Metric names: kube-state-metrics 2.20
    (``kube_node_*``, ``kube_pod_container_status_waiting_reason``), the kubelet's volume stats, Istio's
    standard metrics (``istio_requests_total``) and the cluster autoscaler 1.34's (``cluster_autoscaler_*``,
    metrics/metrics.go at cluster-autoscaler-1.34.2; the standby replica exports them too, never updated,
    hence ``max``)."""
    per_service = "sum by (destination_service_namespace, destination_service_name)"
    mesh_requests = per_service + ' (rate(istio_requests_total{reporter="destination"%s}[5m]))'
    errors, requests = mesh_requests % ',response_code=~"5.."', mesh_requests % ""
    kubelet = '{job="kubelet"}'
    volume_free = (
        f"kubelet_volume_stats_available_bytes{kubelet} / kubelet_volume_stats_capacity_bytes{kubelet}"
    )
    ksm = '{job="kube-state-metrics"'
    groups = [
        {
            "name": "platform.nodes",
            "rules": [
                _alert(
                    "NodeNotReady",
                    # A cordoned node (a drain, a scale-down) is expected to go; one still scheduled is not.
                    f'kube_node_status_condition{ksm},condition="Ready",status="true"}} == 0'
                    f" and on (node) kube_node_spec_unschedulable{ksm}}} == 0",
                    "10m",
                    "warning",
                    "A node has not been ready for 10 minutes",
                    "Node {{ $labels.node }} is not ready and still takes pods.",
                )
            ],
        },
        {
            "name": "platform.workloads",
            "rules": [
                _alert(
                    "PodCrashLooping",
                    f'max_over_time(kube_pod_container_status_waiting_reason{ksm},reason="CrashLoopBackOff"}}[5m])'
                    " >= 1",
                    "15m",
                    "warning",
                    "A container has been crash-looping for 15 minutes",
                    "{{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) keeps restarting.",
                )
            ],
        },
        {
            "name": "platform.storage",
            "rules": [
                _alert(
                    "PersistentVolumeFillingUp",
                    f"({volume_free}) < 0.15 and kubelet_volume_stats_used_bytes{kubelet} > 0"
                    f" and predict_linear(kubelet_volume_stats_available_bytes{kubelet}[6h], 4 * 86400) < 0",
                    "1h",
                    "warning",
                    "A volume has less than 15% free and fills within 4 days at its current rate",
                    "PVC {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} has "
                    "{{ $value | humanizePercentage }} free.",
                ),
                _alert(
                    "PersistentVolumeAlmostFull",
                    f"({volume_free}) < 0.05 and kubelet_volume_stats_used_bytes{kubelet} > 0",
                    "5m",
                    "critical",
                    "A volume has less than 5% free",
                    "PVC {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} has "
                    "{{ $value | humanizePercentage }} free.",
                ),
            ],
        },
        {
            "name": "platform.mesh",
            "rules": [
                _alert(
                    "MeshServiceErrorRate",
                    f"100 * {errors} / {requests} > {error_rate_percent:g}"
                    f" and {requests} > {MIN_REQUESTS_PER_SECOND:g}",
                    "5m",
                    "critical",
                    f"A mesh service answers more than {error_rate_percent:g}% of its requests with 5xx",
                    "{{ $labels.destination_service_name }}.{{ $labels.destination_service_namespace }} "
                    "answered {{ $value | humanize }}% of its requests with 5xx over 5 minutes.",
                )
            ],
        },
    ]
    if cluster_autoscaler:
        groups.append(
            {
                "name": "platform.autoscaler",
                "rules": [
                    _alert(
                        "ClusterAutoscalerDown",
                        'absent(up{job="cluster-autoscaler"} == 1)',
                        "15m",
                        "critical",
                        "The cluster autoscaler has not been running for 15 minutes",
                        "No cluster-autoscaler pod answers: node groups cannot grow or shrink.",
                    ),
                    _alert(
                        "ClusterAutoscalerNotSafeToScale",
                        "max(cluster_autoscaler_cluster_safe_to_autoscale) == 0",
                        "15m",
                        "critical",
                        "The cluster autoscaler has stopped scaling",
                        "It judges the cluster unhealthy (too many unready nodes) and scales nothing.",
                    ),
                    _alert(
                        "ClusterAutoscalerScaleUpFailed",
                        "sum by (reason) (increase(cluster_autoscaler_failed_scale_ups_total[15m])) > 0",
                        None,
                        "warning",
                        "A scale-up of the cluster failed",
                        "Scale-ups failed in the last 15 minutes ({{ $labels.reason }}).",
                    ),
                    _alert(
                        "ClusterAutoscalerPodsUnschedulable",
                        'max(cluster_autoscaler_unschedulable_pods_count{type="unschedulable"}) > 0',
                        "30m",
                        "warning",
                        "Pods have waited 30 minutes for a node the autoscaler does not add",
                        "{{ $value }} pods are unschedulable: node groups at maxSize, or none fits them.",
                    ),
                ],
            }
        )
    return {"groups": groups}


def scrape_policy() -> dict[str, Any]:
    """An application namespace lets Prometheus reach its pods' merged metrics, which its default-deny
    ingress would otherwise refuse."""
    return {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: NAMESPACE}},
                        "podSelector": {"matchLabels": dict(PROMETHEUS_POD)},
                    }
                ],
                "ports": [{"protocol": "TCP", "port": MERGED_METRICS_PORT}],
            }
        ],
    }


# --- the component ---------------------------------------------------------------------------------------


class Monitoring(pulumi.ComponentResource):
    """kube-prometheus-stack, its storage and Grafana's admin Secret, Alertmanager's SNS role, the monitors
    and the platform's rules."""

    ready: list[pulumi.Resource]
    """What needs the monitoring CRDs (a chart's ServiceMonitor) waits for: the release."""
    alert_role_arn: pulumi.Output[str] | None
    grafana_admin_password: pulumi.Output[str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Monitoring", name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        namespace = restricted_namespace(f"{name}-namespace", NAMESPACE, child)
        storage_class = k8s.storage.v1.StorageClass(
            f"{name}-storage-class",
            metadata={"name": STORAGE_CLASS, "labels": MANAGED},
            provisioner=EBS_CSI_PROVISIONER,
            parameters=storage_class_parameters(),
            reclaim_policy="Delete",
            # A volume is made in the zone of the pod that claims it, not a zone the pod cannot run in.
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            opts=child,
        )
        password = random.RandomPassword(
            f"{name}-grafana-admin", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        self.grafana_admin_password = pulumi.Output.secret(password.result)
        admin_secret = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata={"name": GRAFANA_ADMIN_SECRET, "namespace": namespace.metadata.name, "labels": MANAGED},
            type="Opaque",
            # The SDK keeps both secret in the state; only the password is generated.
            data={GRAFANA_USER_KEY: base64.b64encode(GRAFANA_ADMIN_USER.encode()).decode()},
            string_data={GRAFANA_PASSWORD_KEY: self.grafana_admin_password},
            opts=child,
        )
        after: list[pulumi.Resource] = [namespace, storage_class, admin_secret, *args.depends_on]
        self.alert_role_arn = None
        if args.alert_topic_arn is not None:
            publisher = self._alert_publisher(args, args.alert_topic_arn)
            self.alert_role_arn = publisher.role.arn
            after += publisher.grants
        release = pinned_release(
            name,
            "kube-prometheus-stack",
            release_name=RELEASE,
            namespace=namespace.metadata.name,
            values=pulumi.Output.all(args.cluster_name, args.alert_topic_arn).apply(
                lambda ids: stack_values(args, cluster_name=ids[0], topic_arn=ids[1])
            ),
            opts=child,
            depends_on=after,
            # A first install pulls a dozen images on new nodes.
            timeout=900,
        )
        self.ready = [release]
        # The CRDs come with the release, and the operator's webhook checks the rules.
        after_release = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[release]))
        after_mesh = pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(depends_on=[release, *args.mesh_ready])
        )
        rules = platform_rules(args.error_rate_percent, cluster_autoscaler=args.cluster_autoscaler)
        # (resource role, kind, name, namespace, spec, what it waits for)
        monitors = [
            (
                "istiod",
                "ServiceMonitor",
                "istio-component-monitor",
                ISTIO_NAMESPACE,
                istiod_monitor_spec(),
                after_mesh,
            ),
            ("envoy", "PodMonitor", "envoy-stats-monitor", ISTIO_NAMESPACE, envoy_monitor_spec(), after_mesh),
            ("rules", "PrometheusRule", "platform", NAMESPACE, rules, after_release),
        ]
        if args.cluster_autoscaler:
            autoscaler = autoscaler_monitor_spec()
            monitors.append(
                ("autoscaler", "ServiceMonitor", AUTOSCALER_CHART, NAMESPACE, autoscaler, after_release)
            )
        for key, kind, resource_name, resource_namespace, spec, options in monitors:
            k8s.apiextensions.CustomResource(
                f"{name}-{key}",
                api_version="monitoring.coreos.com/v1",
                kind=kind,
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=resource_name, namespace=resource_namespace, labels=MANAGED
                ),
                spec=spec,
                opts=options,
            )
        for key, namespace_name in args.namespaces.items():
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{key}-scrape",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name="allow-prometheus-scrape", namespace=namespace_name, labels=MANAGED
                ),
                spec=cast("k8s.networking.v1.NetworkPolicySpecArgsDict", scrape_policy()),
                opts=child,
            )
        self.register_outputs({"alertRoleArn": self.alert_role_arn})

    def _alert_publisher(self, args: MonitoringArgs, topic_arn: pulumi.Input[str]) -> PodIdentityRole:
        """Alertmanager's role: publish to the alert topic, bound to its service account by Pod Identity."""
        name = f"{self._name}-alerts"
        return pod_identity_role(
            self,
            name,
            description="Alertmanager: publishes the platform's alerts to their SNS topic",
            policy=pulumi.Output.all(topic_arn, args.alert_topic_key_arn).apply(
                lambda ids: json.dumps(alert_publisher_policy(ids[0], ids[1]))
            ),
            cluster_name=args.cluster_name,
            namespace=NAMESPACE,
            service_accounts={name: ALERTMANAGER_SERVICE_ACCOUNT},
            tags=args.tags.layered({"Component": "monitoring"}),
        )
