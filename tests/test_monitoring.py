"""The monitoring add-on: kube-prometheus-stack with its storage, Grafana's admin secret, Alertmanager's
SNS route, the mesh's monitors and the platform's rules, from the stacks' real plans in the emulated
account, and its pure pieces directly."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.addons.charts import CHARTS
from components.addons.monitoring import (
    alert_publisher_policy,
    alertmanager_config,
    platform_rules,
    retention_size,
)
from components.config import ADDON_NAMESPACES, parse_stack_config
from offline import crds
from offline.cost import estimate
from offline.manifests import objects
from offline.runner import Plan, RecordedResource
from tests.conftest import refused_config, stack_plan, with_deploy
from tests.plans import run_with, stack_names

MONITORING = "platform:index:Monitoring"
RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
SECRET = "kubernetes:core/v1:Secret"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:alerts"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
GENERAL = {"role": "general-compute"}


def monitoring(plan: Plan) -> Plan:
    return plan.component(MONITORING)


def release(plan: Plan) -> RecordedResource:
    return monitoring(plan).one(RELEASE)


def values(plan: Plan) -> dict[str, Any]:
    found: dict[str, Any] = release(plan).inputs["values"]
    return found


def by_name(plan: Plan, type_token: str) -> dict[str, RecordedResource]:
    return {r.inputs["metadata"]["name"]: r for r in plan.of_type(type_token)}


def release_of(plan: Plan, name: str) -> RecordedResource:
    (found,) = [r for r in plan.of_type(RELEASE) if r.inputs["name"] == name]
    return found


@pytest.fixture(scope="module")
def prod() -> Plan:
    return stack_plan("prod")


@pytest.fixture(scope="module")
def variant() -> Plan:
    """staging with one replica, a stricter error threshold and an encrypted topic in another region: one
    run for the non-default paths."""
    return run_with(
        "staging",
        "addons",
        monitoring={
            "replicas": 1,
            "storageGib": 20,
            "errorRatePercent": 0.5,
            "alertTopicArn": TOPIC,
            "alertTopicKeyArn": KEY,
        },
    )


# --- the chart and its values -------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_pinned_chart_installs_atomically_in_its_namespace(stack: str) -> None:
    plan = stack_plan(stack)
    found = release(plan)
    pin = CHARTS["kube-prometheus-stack"]
    assert (found.inputs["chart"], found.inputs["version"]) == ("kube-prometheus-stack", pin.version)
    assert found.inputs["repositoryOpts"]["repo"] == pin.repository
    assert found.inputs["atomic"] is True
    namespace = monitoring(plan).one(NAMESPACE)
    assert found.inputs["namespace"] == namespace.inputs["metadata"]["name"] == "monitoring"
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # Its pods need nodes and CoreDNS before Helm's wait can end.
    assert {r.urn for r in plan.of_type("aws:eks/nodeGroup:NodeGroup")} <= set(found.dependencies)


def test_prod_runs_every_scalable_controller_twice_with_a_budget(prod: Plan) -> None:
    chart = values(prod)
    assert prod.config.addons.monitoring.replicas == 2
    assert chart["prometheus"]["prometheusSpec"]["replicas"] == 2
    assert chart["alertmanager"]["alertmanagerSpec"]["replicas"] == 2
    assert chart["grafana"]["replicas"] == 2
    assert chart["prometheus"]["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}
    assert chart["alertmanager"]["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}
    assert chart["grafana"]["podDisruptionBudget"] == {"minAvailable": 1}
    # The operator has no replicas key, so no budget either (it would block every drain).
    assert (
        "replicas" not in chart["prometheusOperator"]
        and "podDisruptionBudget" not in chart["prometheusOperator"]
    )
    # Replicas prefer different zones, where their zonal volumes are.
    for spec in (chart["prometheus"]["prometheusSpec"], chart["alertmanager"]["alertmanagerSpec"]):
        assert spec["podAntiAffinityTopologyKey"] == "topology.kubernetes.io/zone"


@pytest.mark.slow
def test_one_replica_gets_no_budget_that_would_block_a_drain(variant: Plan) -> None:
    chart = values(variant)
    assert chart["prometheus"]["prometheusSpec"]["replicas"] == 1
    assert chart["prometheus"]["podDisruptionBudget"]["enabled"] is False
    assert chart["alertmanager"]["podDisruptionBudget"]["enabled"] is False
    assert chart["grafana"]["podDisruptionBudget"] == {}


def test_pods_run_on_the_general_nodes_but_node_exporter_on_every_node(prod: Plan) -> None:
    chart = values(prod)
    labels = next(
        g.inputs["labels"] for g in prod.of_type("aws:eks/nodeGroup:NodeGroup") if g.inputs.get("labels")
    )
    assert labels == GENERAL
    for selector in (
        chart["prometheus"]["prometheusSpec"]["nodeSelector"],
        chart["alertmanager"]["alertmanagerSpec"]["nodeSelector"],
        chart["grafana"]["nodeSelector"],
        chart["prometheusOperator"]["nodeSelector"],
        chart["prometheusOperator"]["admissionWebhooks"]["patch"]["nodeSelector"],
        chart["kube-state-metrics"]["nodeSelector"],
    ):
        assert selector == labels
    assert "nodeSelector" not in chart["prometheus-node-exporter"]


def test_node_exporter_runs_where_host_access_is_admitted(prod: Plan) -> None:
    """It needs the host's network and PIDs: not in a namespace of ours, each of which enforces baseline or
    restricted (the policy pack refuses less), but in kube-system, which the cluster's own agents share."""
    chart = values(prod)
    namespace = chart["prometheus-node-exporter"]["namespaceOverride"]
    assert namespace == "kube-system"
    assert namespace not in by_name(prod, NAMESPACE)
    assert chart["prometheus-node-exporter"]["containerSecurityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_eks_hides_its_control_plane_so_nothing_scrapes_it(prod: Plan) -> None:
    chart = values(prod)
    for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"):
        assert chart[component] == {"enabled": False}


# --- storage ------------------------------------------------------------------------------------------------


def test_prometheus_keeps_the_configured_retention_on_encrypted_gp3(prod: Plan) -> None:
    spec = values(prod)["prometheus"]["prometheusSpec"]
    config = prod.config.addons.monitoring
    assert spec["retention"] == f"{config.retention_days}d" == "15d"
    assert spec["retentionSize"] == "42GiB", "85% of 50 GiB, so the volume never fills"
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == f"{config.storage_gib}Gi"
    assert claim["accessModes"] == ["ReadWriteOnce"]
    storage_class = by_name(prod, STORAGE_CLASS)[claim["storageClassName"]]
    assert storage_class.inputs["provisioner"] == "ebs.csi.aws.com"
    assert storage_class.inputs["parameters"] == {"type": "gp3", "encrypted": "true"}
    assert storage_class.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    assert storage_class.urn in release(prod).dependencies
    # Alertmanager's silences survive a restart of every pod, on the same class.
    alertmanager = values(prod)["alertmanager"]["alertmanagerSpec"]["storage"]["volumeClaimTemplate"]["spec"]
    assert alertmanager["storageClassName"] == claim["storageClassName"]


def test_no_other_component_makes_a_storage_class(prod: Plan) -> None:
    outside = [
        r for r in prod.of_type(STORAGE_CLASS) if r.urn not in {x.urn for x in monitoring(prod).resources}
    ]
    assert outside == []


def test_staging_keeps_less_for_less() -> None:
    spec = values(stack_plan("staging"))["prometheus"]["prometheusSpec"]
    assert (spec["retention"], spec["retentionSize"]) == ("7d", "17GiB")
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "20Gi"


@given(st.integers(min_value=10, max_value=16384))
def test_size_retention_always_leaves_room(gib: int) -> None:
    size = int(retention_size(gib).removesuffix("GiB"))
    assert 0 < size < gib


@pytest.mark.slow
def test_prometheus_volumes_are_priced_per_replica(prod: Plan, variant: Plan) -> None:
    def ebs(plan: Plan) -> dict[str, float]:
        return {
            line.item: line.monthly
            for line in estimate(plan).lines
            if line.component == "Addons" and line.item.startswith("EBS gp3")
        }

    assert ebs(prod) == {
        "EBS gp3 2 x 50 GB (Prometheus, kube-prometheus-stack)": 2 * 50 * 0.08,
        "EBS gp3 2 x 1 GB (Alertmanager, kube-prometheus-stack)": 2 * 1 * 0.08,
    }
    assert ebs(variant) == {
        "EBS gp3 1 x 20 GB (Prometheus, kube-prometheus-stack)": 20 * 0.08,
        "EBS gp3 1 x 1 GB (Alertmanager, kube-prometheus-stack)": 0.08,
    }


# --- Grafana ------------------------------------------------------------------------------------------------


def test_grafana_reads_a_generated_admin_password_from_a_secret(prod: Plan) -> None:
    grafana = values(prod)["grafana"]
    part = monitoring(prod)
    password = part.one(RANDOM_PASSWORD)
    assert password.inputs["length"] >= 32
    secret = by_name(part, SECRET)[grafana["admin"]["existingSecret"]]
    assert secret.inputs["metadata"]["namespace"] == release(prod).inputs["namespace"]
    string_data = secret.inputs["stringData"]
    assert string_data.value == {grafana["admin"]["passwordKey"]: password.state["result"].value}
    assert repr(string_data) == "[secret]", "the password stays secret in the state"
    assert set(secret.inputs["data"].value) == {grafana["admin"]["userKey"]}
    assert secret.urn in release(prod).dependencies
    assert "adminPassword" not in grafana


def test_grafana_is_not_exposed(prod: Plan) -> None:
    grafana = values(prod)["grafana"]
    assert grafana["service"]["type"] == "ClusterIP"
    assert grafana["ingress"] == {"enabled": False}


def test_grafana_loads_istios_dashboards_of_the_mesh_s_own_release(prod: Plan) -> None:
    grafana = values(prod)["grafana"]
    (provider,) = grafana["dashboardProviders"]["dashboardproviders.yaml"]["providers"]
    dashboards = grafana["dashboards"][provider["name"]]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/" + provider["name"]
    version = prod.config.mesh.istio_version
    assert set(dashboards) == {
        "istio-mesh",
        "istio-service",
        "istio-workload",
        "istio-control-plane",
        "istio-performance",
    }
    for dashboard in dashboards.values():
        assert set(dashboard) == {"url"}, "no gnetId: that would download revision 1"
        assert dashboard["url"].startswith(
            f"https://raw.githubusercontent.com/istio/istio/{version}/manifests/addons/dashboards/"
        )
    # The chart's default, -skf, would not verify GitHub's certificate.
    assert "k" not in grafana["defaultCurlOptions"].split()[0]


# --- what Prometheus scrapes --------------------------------------------------------------------------------


def test_istiod_and_every_sidecar_are_scraped_by_istios_recipe(prod: Plan) -> None:
    part = monitoring(prod)
    istiod = part.one(SERVICE_MONITOR, "platform-addons-monitoring-istiod")
    envoy = part.one(POD_MONITOR)
    for monitor in (istiod, envoy):
        assert monitor.inputs["metadata"]["namespace"] == "istio-system"
        # After the CRDs (the release) and the namespace and control plane (the mesh's istiod).
        assert release(prod).urn in monitor.dependencies
        assert release_of(prod, "istiod").urn in monitor.dependencies
    spec = istiod.inputs["spec"]
    assert spec["selector"] == {"matchExpressions": [{"key": "istio", "operator": "In", "values": ["pilot"]}]}
    assert spec["endpoints"][0]["port"] == "http-monitoring"
    (endpoint,) = envoy.inputs["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/stats/prometheus"
    assert {
        "action": "keep",
        "sourceLabels": ["__meta_kubernetes_pod_container_name"],
        "regex": "istio-proxy",
    } in endpoint["relabelings"]
    assert envoy.inputs["spec"]["namespaceSelector"] == {"any": True}


def test_prometheus_selects_monitors_and_rules_it_did_not_install(prod: Plan) -> None:
    """The chart's default selects only objects labelled release=<release>, which ours are not."""
    spec = values(prod)["prometheus"]["prometheusSpec"]
    for kind in ("serviceMonitor", "podMonitor", "rule"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False
        assert f"{kind}Selector" not in spec
    for monitor in monitoring(prod).resources:
        if monitor.type.startswith("kubernetes:monitoring.coreos.com"):
            assert "release" not in monitor.inputs["metadata"].get("labels", {})


def test_application_namespaces_let_prometheus_reach_the_merged_metrics(prod: Plan) -> None:
    part = monitoring(prod)
    namespaces = {
        r.inputs["metadata"]["name"]: r for r in prod.component("platform:index:Baseline").of_type(NAMESPACE)
    }
    policies = {r.inputs["metadata"]["namespace"]: r for r in part.of_type(NETWORK_POLICY)}
    assert set(policies) == set(namespaces) == set(prod.config.namespaces)
    monitoring_namespace = part.one(NAMESPACE).inputs["metadata"]["labels"]
    for name, policy in policies.items():
        assert namespaces[name].urn in policy.dependencies, "it waits for the baseline's namespace"
        (rule,) = policy.inputs["spec"]["ingress"]
        (peer,) = rule["from"]
        namespace_key, namespace_value = next(iter(peer["namespaceSelector"]["matchLabels"].items()))
        assert monitoring_namespace[namespace_key] == namespace_value
        assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
        assert rule["ports"] == [{"protocol": "TCP", "port": 15020}]


def test_the_cluster_autoscaler_is_scraped_by_its_service_s_labels(prod: Plan) -> None:
    autoscaler = release_of(prod, "cluster-autoscaler")
    monitor = monitoring(prod).one(SERVICE_MONITOR, "platform-addons-monitoring-autoscaler")
    spec = monitor.inputs["spec"]
    # The chart 9.53.0 labels its Service with the release and <cloudProvider>-<chart>.
    assert spec["selector"]["matchLabels"] == {
        "app.kubernetes.io/instance": autoscaler.inputs["name"],
        "app.kubernetes.io/name": "-".join(
            (autoscaler.inputs["values"]["cloudProvider"], autoscaler.inputs["chart"])
        ),
    }
    assert spec["namespaceSelector"] == {"matchNames": [autoscaler.inputs["namespace"]]}
    assert spec["endpoints"][0]["port"] == "http"


@pytest.mark.slow
def test_without_the_autoscaler_nothing_scrapes_or_alerts_on_it() -> None:
    plan = run_with("staging", "baseline", clusterAutoscaler={"enabled": False})
    part = monitoring(plan)
    assert "platform-addons-monitoring-autoscaler" not in {r.name for r in part.of_type(SERVICE_MONITOR)}
    groups = {g["name"] for g in part.one(PROMETHEUS_RULE).inputs["spec"]["groups"]}
    assert "platform.autoscaler" not in groups


# --- the platform's rules -----------------------------------------------------------------------------------


def alerts(rule: RecordedResource) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for group in rule.inputs["spec"]["groups"] for r in group["rules"]}


def test_the_platform_alerts_on_what_the_issue_names(prod: Plan) -> None:
    rule = monitoring(prod).one(PROMETHEUS_RULE)
    assert rule.inputs["metadata"]["namespace"] == "monitoring"
    assert release(prod).urn in rule.dependencies, "after the CRDs and the operator's webhook"
    found = alerts(rule)
    assert set(found) == {
        "NodeNotReady",
        "PodCrashLooping",
        "PersistentVolumeFillingUp",
        "PersistentVolumeAlmostFull",
        "MeshServiceErrorRate",
        "ClusterAutoscalerDown",
        "ClusterAutoscalerNotSafeToScale",
        "ClusterAutoscalerScaleUpFailed",
        "ClusterAutoscalerPodsUnschedulable",
    }
    assert 'condition="Ready",status="true"} == 0' in found["NodeNotReady"]["expr"]
    assert 'reason="CrashLoopBackOff"' in found["PodCrashLooping"]["expr"]
    assert "kubelet_volume_stats_available_bytes" in found["PersistentVolumeFillingUp"]["expr"]
    for alert in found.values():
        assert alert["labels"]["severity"] in {"warning", "critical"}
        assert alert["annotations"]["summary"]
    # The chart's own versions of the first three would page a second time.
    disabled = values(prod)["defaultRules"]["disabled"]
    assert disabled == {
        "KubeNodeNotReady": True,
        "KubePodCrashLooping": True,
        "KubePersistentVolumeFillingUp": True,
    }


@pytest.mark.slow
def test_the_5xx_threshold_is_the_config_s(prod: Plan, variant: Plan) -> None:
    for plan, threshold in ((prod, "> 5 "), (variant, "> 0.5 ")):
        expr = alerts(monitoring(plan).one(PROMETHEUS_RULE))["MeshServiceErrorRate"]["expr"]
        assert threshold in expr
        assert 'istio_requests_total{reporter="destination",response_code=~"5.."}' in expr
        assert "sum by (destination_service_namespace, destination_service_name)" in expr


def test_autoscaler_alerts_read_the_metrics_cluster_autoscaler_1_34_exports() -> None:
    """Names from kubernetes/autoscaler cluster-autoscaler-1.34.2 metrics/metrics.go, registered whatever
    the flags (not the per-node-group ones behind --emit-per-nodegroup-metrics)."""
    exported = {
        "cluster_autoscaler_cluster_safe_to_autoscale",
        "cluster_autoscaler_failed_scale_ups_total",
        "cluster_autoscaler_unschedulable_pods_count",
    }
    rules = platform_rules(5.0)
    (group,) = [g for g in rules["groups"] if g["name"] == "platform.autoscaler"]
    used = {token for r in group["rules"] for token in exported if token in r["expr"]}
    assert used == exported
    # Both replicas export them and only the leader updates them: every read is a max or a sum.
    for rule in group["rules"]:
        if "cluster_autoscaler_" in rule["expr"]:
            assert rule["expr"].startswith(("max(", "sum by"))


# --- Alertmanager -------------------------------------------------------------------------------------------


def test_alerts_go_to_the_alarms_topic_signed_by_a_pod_identity_role(prod: Plan) -> None:
    """prod names no topic of its own: Alertmanager pages the alarms add-on's subscribers."""
    part = monitoring(prod)
    assert prod.config.addons.monitoring.alert_topic_arn is None
    alarms_topic = prod.one("aws:sns/topic:Topic")
    topic = alarms_topic.state["arn"]
    assert topic.endswith(":platform-prod-alarms")
    config = values(prod)["alertmanager"]["config"]
    (platform,) = [r for r in config["receivers"] if r["name"] == config["route"]["receiver"]]
    assert platform["sns_configs"] == [
        {"topic_arn": topic, "sigv4": {"region": "us-east-1"}, "send_resolved": True}
    ]
    assert config["route"]["routes"] == [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]
    role, association = part.one(ROLE), part.one(ASSOCIATION)
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    policy = json.loads(part.one(ROLE_POLICY).inputs["policy"])
    (key,) = [
        k for k in prod.of_type("aws:kms/key:Key") if k.state["arn"] == alarms_topic.inputs["kmsMasterKeyId"]
    ]
    assert policy["Statement"] == [
        {"Sid": "PublishAlerts", "Effect": "Allow", "Action": "sns:Publish", "Resource": topic},
        {
            "Sid": "EncryptThemForTheTopic",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
            "Resource": key.state["arn"],
            "Condition": {"StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com"}},
        },
    ]
    assert association.inputs["roleArn"] == role.state["arn"]
    assert association.inputs["namespace"] == release(prod).inputs["namespace"]
    assert association.inputs["serviceAccount"] == values(prod)["alertmanager"]["serviceAccount"]["name"]
    assert association.inputs["clusterName"] == prod.one("aws:eks/cluster:Cluster").inputs["name"]
    # Pods get Pod Identity credentials only if the association exists when they start.
    assert association.urn in release(prod).dependencies


@pytest.mark.slow
def test_an_encrypted_topic_s_key_is_usable_through_sns_only(variant: Plan) -> None:
    policy = json.loads(monitoring(variant).one(ROLE_POLICY).inputs["policy"])
    (publish, key) = policy["Statement"]
    assert publish["Resource"] == TOPIC
    assert key["Resource"] == KEY and set(key["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}
    assert key["Condition"] == {"StringEquals": {"kms:ViaService": "sns.eu-west-1.amazonaws.com"}}
    receiver = values(variant)["alertmanager"]["config"]["receivers"][1]
    assert receiver["sns_configs"][0]["sigv4"] == {"region": "eu-west-1"}, (
        "the topic's region, not the stack's"
    )


@pytest.mark.slow
def test_without_a_topic_alerts_stay_in_alertmanager_and_no_role_is_made() -> None:
    config = alertmanager_config(None)
    assert config["route"]["receiver"] == "null"
    assert config["receivers"] == [{"name": "null"}]
    plan = run_with("staging", "addons", alarms={"enabled": False})
    assert not monitoring(plan).of_type(ROLE) and not monitoring(plan).of_type(ASSOCIATION)
    assert values(plan)["alertmanager"]["config"] == config


def test_the_publisher_policy_names_one_topic_and_its_key_only() -> None:
    policy = alert_publisher_policy(TOPIC, None)
    assert [s["Resource"] for s in policy["Statement"]] == [TOPIC]
    assert "*" not in json.dumps(policy).replace("kms:GenerateDataKey*", "")


# --- config -------------------------------------------------------------------------------------------------


BAD_KEYS = [
    ("prod", {"enabled": False}, "platform:addons.monitoring.enabled", "prod must be monitored"),
    ("prod", {"replicas": 1}, "platform:addons.monitoring.replicas", "prod needs at least 2"),
    ("dev", {"storageGib": 5}, "platform:addons.monitoring.storageGib", "must be at least 10, got 5"),
    ("dev", {"retentionDays": 0}, "platform:addons.monitoring.retentionDays", "must be at least 1"),
    ("dev", {"errorRatePercent": 0}, "platform:addons.monitoring.errorRatePercent", "must be greater than 0"),
    (
        "dev",
        {"prometheusMemory": "4GB"},
        "platform:addons.monitoring.prometheusMemory",
        "Kubernetes quantity",
    ),
    (
        "dev",
        {"alertTopicArn": "arn:aws:sns:us-east-1:123:x"},
        "platform:addons.monitoring.alertTopicArn",
        "SNS topic ARN",
    ),
    (
        "dev",
        {"alertTopicKeyArn": KEY},
        "platform:addons.monitoring.alertTopicKeyArn",
        "set alertTopicArn too",
    ),
    (
        "dev",
        {"alertTopicArn": TOPIC, "alertTopicKeyArn": "alias/x"},
        "platform:addons.monitoring.alertTopicKeyArn",
        "KMS key ARN",
    ),
    ("dev", {"retention": 7}, "platform:addons.monitoring.retention", "did you mean 'retentionDays'?"),
]


@pytest.mark.parametrize(
    ("stack", "keys", "path", "message"), BAD_KEYS, ids=[f"{i}-{row[2]}" for i, row in enumerate(BAD_KEYS)]
)
def test_a_bad_monitoring_key_is_reported_at_its_path(
    stack: str, keys: dict[str, Any], path: str, message: str
) -> None:
    # Velero backs up a namespace of its own, so that turning monitoring off leaves it one; and no canary
    # analysis asks Prometheus.
    addons = {"monitoring": keys, "velero": {"extraNamespaces": ["agents"]}, "rollouts": {"enabled": False}}
    issues = refused_config({"platform:addons": addons}, stack)
    assert [issue.path for issue in issues] == [path]
    assert message in issues[0].message


def test_the_dashboards_need_an_istio_that_publishes_them() -> None:
    values = {"platform:mesh": {"istioVersion": "1.23.2"}, "platform:addons": {"tracing": {"enabled": False}}}
    assert [str(issue) for issue in refused_config(values, "dev")] == [
        "platform:addons.monitoring.enabled: Grafana loads the mesh's dashboards from its Istio release, "
        "published as it expects from Istio 1.24; platform:mesh.istioVersion is 1.23.2"
    ]


def test_defaults_are_prod_s_and_dev_turns_monitoring_off() -> None:
    config = parse_stack_config(with_deploy({}), stack="prod").addons.monitoring
    assert config.enabled and config.replicas == 2 and config.storage_gib == 50
    assert stack_plan("dev").config.addons.monitoring.enabled is False


@pytest.mark.parametrize("stack", stack_names())
def test_monitoring_is_there_exactly_when_enabled(stack: str) -> None:
    plan = stack_plan(stack)
    present = [r for r in plan.resources if r.type == MONITORING]
    assert bool(present) == plan.config.addons.monitoring.enabled


def test_the_monitoring_objects_match_their_crds_which_would_catch_a_slip(prod: Plan) -> None:
    kinds = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    mine = [m for m in objects(prod) if m["apiVersion"] == "monitoring.coreos.com/v1" and m["kind"] in kinds]
    assert {m["kind"] for m in mine} == kinds
    assert all(crds.problems(m) == [] for m in mine)
    (rule,) = [copy.deepcopy(m) for m in mine if m["kind"] == "PrometheusRule"]
    rule["spec"]["groups"][0]["rules"][0]["for"] = "ten minutes"
    (problem,) = crds.problems(rule) or []
    assert problem.startswith("spec.groups.0.rules.0.for:")


def test_an_application_namespace_may_not_take_an_add_on_s() -> None:
    owned = ADDON_NAMESPACES.values()
    namespaces = {name: {"cpuRequests": "1", "memoryRequests": "1Gi", "pods": 5} for name in owned}
    on = {"certManager": {"enabled": True, "hostedZoneId": "Z0123456789ABCDEFGHIJ", "acmeEmail": "a@b.io"}}
    values = {
        "platform:namespaces": namespaces,
        "platform:addons": on,
        "platform:mesh": {"gatewayHosts": ["a.b.io"]},
    }
    issues = refused_config(values, "dev")
    assert sorted(issue.path for issue in issues) == sorted(f"platform:namespaces.{name}" for name in owned)
    messages = {issue.path: issue.message for issue in issues}
    assert "monitoring add-on's own namespace" in messages["platform:namespaces.monitoring"]
    assert "certManager add-on's own namespace" in messages["platform:namespaces.cert-manager"]
    off = {
        key: {"enabled": False}
        for key in ("monitoring", "tracing", "velero", "gatekeeper", "rollouts", "vpa")
    }
    parse_stack_config(with_deploy({**values, "platform:addons": off}), stack="dev")
