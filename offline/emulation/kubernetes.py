"""The emulated cluster: what EKS' Kubernetes API and its controllers refuse of what the program sends.

Kubernetes objects and Helm releases get synthetic IDs, as every type without an emulation; before
that, each is checked as the cluster would check it:

* EKS authenticates the program's principal (the deploying role) and authorizes it by its access policy
  associations: with the cluster creator's implicit admin off, a principal with none gets 401
  Unauthorized, and one with only a view policy 403 Forbidden. What the provider may rely on is what it
  waits for: the associations among its dependencies when it is registered. A provider made without
  waiting for them races them, and the emulation refuses it as the loser of that race;

* a LoadBalancer Service (one of its own, or the one Istio's gateway chart makes) gets its load balancer
  from the in-tree AWS service controller only if each node has exactly one security group tagged
  ``kubernetes.io/cluster/<name>`` (or a single untagged one): otherwise the controller fails, the
  Service never gets an address, and an atomic release waiting for it rolls back;

* a custom resource is accepted only once its kind exists: the release whose chart installs its CRD
  (or, for a Gatekeeper constraint, the ConstraintTemplate that generates it) must be among what it
  waits for. pulumi-kubernetes retries a create that gets "no matches for kind" six times over about a
  minute (await.Creation: ``retrier.Do(apierrors.IsNotFound, meta.IsNoMatchError)``, 1 s doubling,
  ``WithMaxRetries(5)``), while an atomic install of the chart takes minutes: the race is lost. A
  preview passes such a resource on as it is (provider.go ``Create``: a kind the API server does not
  know yet skips the server-side dry run), so the race is lost at ``up``, not before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi

from offline.emulation.core import (
    AwsEmulator,
    Outputs,
    handles,
    handles_package,
    provider_key,
    refusal,
    synthetic,
)

Args = pulumi.runtime.MockResourceArgs

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
SERVICE = "kubernetes:core/v1:Service"

LOAD_BALANCER_CHARTS: Mapping[str, tuple[tuple[str, ...], str]] = {
    "gateway": (("service", "type"), "LoadBalancer"),
}
"""Charts that make a Service whose type a value sets: the value's path and the chart's default (Istio's
gateway chart, values.yaml ``service.type: LoadBalancer``)."""


WRITE_POLICIES = frozenset(
    {
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminPolicy",
    }
)
"""Access policies that let a principal create what the program sends cluster-wide."""
ACCESS_POLICY_ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"


CRD_CHARTS: Mapping[str, str] = {
    "networking.istio.io": "base",
    "security.istio.io": "base",
    "telemetry.istio.io": "base",
    "monitoring.coreos.com": "kube-prometheus-stack",
    "velero.io": "velero",
    "templates.gatekeeper.sh": "gatekeeper",
    "argoproj.io": "argo-rollouts",
    "autoscaling.k8s.io": "vertical-pod-autoscaler",
    "cert-manager.io": "cert-manager",
    "acme.cert-manager.io": "cert-manager",
}
"""API group of a custom resource -> the chart whose release installs its CRDs."""
CONSTRAINTS_GROUP = "constraints.gatekeeper.sh"
CONSTRAINT_TEMPLATE = ("templates.gatekeeper.sh", "ConstraintTemplate")


def _installs(registered: Any) -> set[tuple[str, str]]:
    """The (group, kind) a registered resource makes exist: ``*`` for every kind of a chart's groups."""
    state = registered.state
    if registered.type == HELM_RELEASE:
        return {(group, "*") for group, chart in CRD_CHARTS.items() if chart == state.get("chart")}
    if (str(state.get("apiVersion", "")).rpartition("/")[0], state.get("kind")) == CONSTRAINT_TEMPLATE:
        names = (((state.get("spec") or {}).get("crd") or {}).get("spec") or {}).get("names") or {}
        return {(CONSTRAINTS_GROUP, str(names.get("kind")))}
    return set()


def missing_kind(e: AwsEmulator, a: Args) -> str | None:
    """Why the API answers "no matches for kind": the custom resource waits for nothing that makes it."""
    group, _, version = str(a.inputs.get("apiVersion", "")).rpartition("/")
    kind = str(a.inputs.get("kind", ""))
    if (group not in CRD_CHARTS and group != CONSTRAINTS_GROUP) or e.previewing:
        return None
    waited_for = e.depends_on(e.registering.urn) if e.registering else set()
    made = set().union(*(_installs(e.registered[urn]) for urn in waited_for if urn in e.registered))
    if (group, kind) in made or (group, "*") in made:
        return None
    maker = (
        f"ConstraintTemplate whose CRD names it {kind}"
        if group == CONSTRAINTS_GROUP
        else f"release of chart {CRD_CHARTS[group]!r}, which installs the CRDs of {group}"
    )
    return (
        f'no matches for kind "{kind}" in version "{group}/{version}": it waits for no {maker}; '
        "pulumi-kubernetes retries for about a minute, an install takes longer. Make it depend on one"
    )


@handles("pulumi:providers:kubernetes")
def _kubernetes_provider(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    """A provider is the cluster its kubeconfig reaches, and the grants it waits for."""
    provider_id, outputs = synthetic(e, a)
    kubeconfig = a.inputs.get("kubeconfig")
    if isinstance(kubeconfig, str) and kubeconfig.lstrip().startswith("{"):
        clusters = json.loads(kubeconfig).get("clusters") or []
        if clusters:
            e.kubernetes_clusters[(a.name, provider_id)] = clusters[0]["name"]
    waited_for = e.depends_on(e.registering.urn) if e.registering else set()
    e.provider_grants[(a.name, provider_id)] = {
        (state["clusterName"], state["principalArn"], state["policyArn"])
        for urn in waited_for
        if (registered := e.registered.get(urn)) and registered.type == ACCESS_POLICY_ASSOCIATION
        for state in (registered.state,)
    }
    return provider_id, outputs


def access_refusal(e: AwsEmulator, a: Args, cluster: str) -> tuple[str, str] | None:
    """Why EKS refuses the deploying principal's request, by what its provider waited for: (code, message)."""
    key = provider_key(a.provider)
    waited_for = e.provider_grants.get(key, set()) if key else set()
    grants = {policy for c, principal, policy in waited_for if c == cluster and principal == e.deployer}
    provider = key[0] if key else "(default)"
    if not grants:
        return (
            "Unauthorized",
            f"401 Unauthorized from the EKS API of cluster {cluster!r} to {e.deployer}: no access policy "
            f"association for it is among what Kubernetes provider {provider!r} waits for. EKS gives the "
            "cluster's creator nothing while bootstrapClusterCreatorAdminPermissions is off; make the "
            "provider depend on the deploying role's AccessPolicyAssociation",
        )
    # pulumi-kubernetes' Create and Update, when previewing, answer an IsForbidden error of the server-side
    # dry run by returning the inputs as the preview (provider.go: "unable to compute Server-side dry-run
    # and defaulting to client-side"); a 401 has no such fallback.
    if not grants & WRITE_POLICIES and not e.previewing:
        return (
            "Forbidden",
            f"403 Forbidden from the EKS API of cluster {cluster!r} to {e.deployer}: its access policies "
            f"({', '.join(sorted(p.rsplit('/', 1)[1] for p in grants))}) do not let it create objects",
        )
    return None


def cluster_of(e: AwsEmulator, a: Args) -> str | None:
    """The EKS cluster a Kubernetes object or release is sent to, through its provider."""
    key = provider_key(a.provider)
    return e.kubernetes_clusters.get(key) if key else None


def _value(values: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(values, Mapping) or key not in values:
            return None
        values = values[key]
    return values


def makes_load_balancer(a: Args) -> bool:
    """Whether the object (a Service) or release (of a chart known to make one) asks for a load balancer."""
    if a.typ == SERVICE:
        return (a.inputs.get("spec") or {}).get("type") == "LoadBalancer"
    if a.typ == HELM_RELEASE and a.inputs.get("chart") in LOAD_BALANCER_CHARTS:
        path, default = LOAD_BALANCER_CHARTS[a.inputs["chart"]]
        return (_value(a.inputs.get("values") or {}, path) or default) == "LoadBalancer"
    return False


def node_security_groups(e: AwsEmulator, cluster: str) -> dict[str, list[dict[str, Any]]]:
    """Node group -> the security groups of its nodes: its launch template's, or else EKS' cluster group."""
    eks, ec2 = e.client("eks"), e.client("ec2")
    found: dict[str, list[dict[str, Any]]] = {}
    for name in eks.list_nodegroups(clusterName=cluster)["nodegroups"]:
        template = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"].get(
            "launchTemplate"
        )
        group_ids: list[str] = []
        if template:
            version = ec2.describe_launch_template_versions(
                LaunchTemplateId=template["id"], Versions=[str(template.get("version", "$Default"))]
            )["LaunchTemplateVersions"][0]
            group_ids = list(version["LaunchTemplateData"].get("SecurityGroupIds") or [])
        if not group_ids and cluster in e.cluster_security_groups:
            group_ids = [e.cluster_security_groups[cluster]]
        found[name] = ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"] if group_ids else []
    return found


def load_balancer_refusal(e: AwsEmulator, cluster: str) -> str | None:
    """What the in-tree AWS service controller says when it cannot open the nodes to a load balancer
    (kubernetes/cloud-provider-aws, ``findSecurityGroupForInstance``), for the first node group it fails
    on."""
    failed = "Error syncing load balancer: failed to ensure load balancer"
    tag = f"kubernetes.io/cluster/{cluster}"
    for node_group, groups in node_security_groups(e, cluster).items():
        tagged = [g for g in groups if any(t["Key"] == tag for t in g.get("Tags") or [])]
        if len(tagged) > 1:
            names = " ".join(f"{g['GroupId']}({g['GroupName']})" for g in tagged)
            return (
                f"{failed}: Multiple tagged security groups found for instance of node group {node_group}; "
                f"ensure only the k8s security group is tagged; the tagged groups were {names}"
            )
        if not tagged and len(groups) > 1:
            return (
                f"{failed}: Multiple untagged security groups found for instance of node group "
                f"{node_group}; ensure the k8s security group is tagged"
            )
    return None


@handles_package("kubernetes")
def _kubernetes_object(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    cluster = cluster_of(e, a)
    denied = access_refusal(e, a, cluster) if cluster is not None else None
    if denied:
        raise refusal(a, *denied)
    if cluster is not None:
        missing = missing_kind(e, a)
        if missing:
            raise refusal(a, "NoMatchError", missing)
    if cluster is not None and makes_load_balancer(a):
        problem = load_balancer_refusal(e, cluster)
        if problem:
            raise refusal(a, "SyncLoadBalancerFailed", problem)
    return synthetic(e, a)
