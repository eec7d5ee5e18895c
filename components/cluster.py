"""The EKS cluster, its managed node groups and the Kubernetes provider the rest of the stack uses."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.shared import customer_managed_key
from components.tags import Tags

T = TypeVar("T")

CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
"""Every control-plane log EKS can ship; all of them, since an incident needs the one left out."""

NODE_ADDONS = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
"""Managed add-ons that run on every node (daemon sets): installed before the nodes join."""
ADDON_CONFIGURATION: dict[str, str] = {
    # The VPC CNI enforces NetworkPolicy only when asked; otherwise the baseline's policies do nothing.
    "vpc-cni": json.dumps({"enableNetworkPolicy": "true"}),
}
"""Add-on configuration values (JSON) beyond EKS' defaults, by add-on."""
POD_ADDONS = ("coredns", "aws-ebs-csi-driver")
"""Managed add-ons that run as deployments: installed once nodes exist to schedule them."""
ADDONS = NODE_ADDONS + POD_ADDONS

NODE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
)
"""Exactly what a node needs: join the cluster, run the VPC CNI, pull images. Nothing wider."""
CLUSTER_POLICIES = ("arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",)
EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
CLUSTER_VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy"
"""Read everything, secrets included (a Helm release's state is a secret), change nothing: what a preview
needs, since pulumi-kubernetes computes previews from inputs and only reads the live objects."""

TaintEffect = Literal["NO_SCHEDULE", "PREFER_NO_SCHEDULE", "NO_EXECUTE"]
_KUBERNETES_EFFECT: dict[str, str] = {
    "NO_SCHEDULE": "NoSchedule",
    "PREFER_NO_SCHEDULE": "PreferNoSchedule",
    "NO_EXECUTE": "NoExecute",
}


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: TaintEffect


@dataclass(frozen=True)
class NodeGroupSpec:
    """What one managed node group looks like; the config's ``platform:cluster.nodeGroups.<name>``."""

    instance_types: Sequence[str]
    """EC2 instance types, preferred first. Required."""
    min_size: int
    """Fewest nodes. Required."""
    max_size: int
    """Most nodes. Required."""
    desired_size: int
    """Nodes at creation; afterwards the cluster autoscaler owns it. Required."""
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    """ON_DEMAND or SPOT. Default ON_DEMAND."""
    disk_size_gib: int = 100
    """Encrypted gp3 root volume per node (GiB). Default 100."""
    max_unavailable_percentage: int = 33
    """Share of nodes a rolling update may take down at once (percent). Default 33."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Kubernetes labels on every node. Default none."""
    taints: Sequence[Taint] = ()
    """Kubernetes taints on every node. Default none."""
    ami_type: str = "AL2023_x86_64_STANDARD"
    """EKS-optimized AMI type, for the instances' architecture and drivers. Default AL2023_x86_64_STANDARD."""


@dataclass(frozen=True)
class NodeGroupArgs:
    """Inputs of :class:`NodeGroup`."""

    cluster_name: pulumi.Input[str]
    """The EKS cluster to join. Required."""
    node_role_arn: pulumi.Input[str]
    """IAM role of the nodes. Required."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets to place nodes in, one or more per AZ. Required."""
    security_group_ids: Sequence[pulumi.Input[str]]
    """Security groups of every node: exactly one of them may carry the ``kubernetes.io/cluster/<name>``
    tag, or the Kubernetes service controller cannot give a LoadBalancer Service its load balancer.
    Required."""
    spec: NodeGroupSpec
    """Sizes, types, labels and taints. Required."""
    tags: Tags = field(default_factory=Tags)
    """Tags of the group, its launch template and its instances and volumes. Default none."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What must exist before nodes join (the node role's policies, the networking add-ons). Default none."""
    kubernetes_version: pulumi.Input[str] | None = None
    """The nodes' Kubernetes minor: the control plane's, so that ``pulumi up`` upgrades the nodes (a rolling
    update, ``maxUnavailablePercentage`` at a time) after the control plane. Default none: EKS picks the
    cluster's at creation and the nodes are never upgraded."""


@dataclass(frozen=True)
class ClusterArgs:
    """Inputs of :class:`Cluster`. Defaults are production's."""

    cluster_name: str
    """EKS cluster name; the Network's subnet tags name it too. Required."""
    vpc_id: pulumi.Input[str]
    """VPC of the cluster. Required."""
    private_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Subnets for the control plane's ENIs and the nodes. Required."""
    node_groups: Mapping[str, NodeGroupSpec]
    """Managed node groups by name; the name is the group's stable identity. Required."""
    deploy_role_arn: str
    """The IAM role that deploys the stack: cluster-admin through an access entry, and the Kubernetes provider
    waits for it. Required: with the creator's implicit admin off, nobody else may reach the API."""
    version: str = "1.34"
    """Kubernetes minor version. Default "1.34" (under EKS standard support)."""
    endpoint_public_access: bool = False
    """Whether the API is reachable from the internet (the private endpoint is always on). Default false."""
    public_access_cidrs: Sequence[str] = ()
    """CIDRs allowed to the public endpoint; required when it is on. Default none."""
    admin_role_arns: Sequence[str] = ()
    """Further IAM roles given cluster-admin through access entries (people). Default none."""
    viewer_role_arns: Sequence[str] = ()
    """IAM roles given read-only access (AmazonEKSAdminViewPolicy), like the previews' role. Default none."""
    api_access_security_groups: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Security groups, by a stable name, admitted to the private API endpoint on 443 beside the nodes
    (the in-VPC deploy runner). Default none."""
    addon_versions: Mapping[str, str] = field(default_factory=dict)
    """Pinned add-on versions by add-on name; unpinned ones get EKS' default. Default none."""
    log_retention_days: int = 365
    """Days CloudWatch Logs keeps the control-plane (audit) logs. Default 365."""
    log_key_arn: pulumi.Input[str] | None = None
    """KMS key of the control-plane log group; its policy must let CloudWatch Logs use it. Default none
    (CloudWatch's own encryption): the platform always gives one."""
    protect: bool = True
    """``protect=True`` and EKS deletion protection on the cluster and its key. Default true."""
    tags: Tags = field(default_factory=Tags)
    """Tags of every resource. Default none."""


# --- pure pieces -----------------------------------------------------------------------------------------


def assume_role_policy(service: str, *, tag_session: bool = False) -> str:
    actions = ["sts:AssumeRole", "sts:TagSession"] if tag_session else "sts:AssumeRole"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": actions}],
        }
    )


NODE_TEMPLATE_PREFIX = "k8s.io/cluster-autoscaler/node-template/"


def node_template_tags(spec: NodeGroupSpec) -> dict[str, str]:
    """What the cluster autoscaler needs to scale a group up from zero: with no node running, it learns
    the group's labels and taints only from these tags on the Auto Scaling group."""
    tags = {f"{NODE_TEMPLATE_PREFIX}label/{key}": value for key, value in spec.labels.items()}
    for taint in spec.taints:
        tags[f"{NODE_TEMPLATE_PREFIX}taint/{taint.key}"] = f"{taint.value}:{_KUBERNETES_EFFECT[taint.effect]}"
    return tags


def autoscaler_tags(cluster_name: str, spec: NodeGroupSpec) -> dict[str, str]:
    """The autoscaler's auto-discovery tags plus the group's node-template tags."""
    return {
        "k8s.io/cluster-autoscaler/enabled": "true",
        f"k8s.io/cluster-autoscaler/{cluster_name}": "owned",
        **node_template_tags(spec),
    }


def cluster_tag(cluster_name: str) -> str:
    """The tag key by which Kubernetes' AWS integrations find what belongs to the cluster."""
    return f"kubernetes.io/cluster/{cluster_name}"


def reported(value: T | None, what: str) -> T:
    """An attribute AWS reports for every created cluster and node group, which the provider types as
    optional; raises if it is missing rather than passing None on to an input that needs it."""
    if value is None:
        raise ValueError(f"AWS reported no {what}")
    return value


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig that fetches short-lived tokens with ``aws eks get-token``: no credentials inside."""
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": [
                "eks",
                "get-token",
                "--cluster-name",
                cluster_name,
                "--region",
                region,
                "--output",
                "json",
            ],
            "interactiveMode": "Never",
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}
            ],
            "users": [{"name": cluster_name, "user": user}],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
        }
    )


@dataclass(frozen=True)
class Rule:
    """One rule of a security group: ``peer`` is ``self``, ``nodes``, ``cluster`` or a CIDR."""

    key: str
    direction: Literal["ingress", "egress"]
    peer: str
    protocol: str
    from_port: int
    to_port: int
    why: str


WEBHOOK_PORTS = {
    15017: "istiod's sidecar injector and config validation",
    8443: "Gatekeeper's admission webhook",
    8000: "the VPA admission controller",
}
"""Ports of the pods the control plane calls as webhooks or extension APIs, beyond 443 and 10250 (the
kubelet's, where metrics-server, cert-manager's webhook and the Prometheus operator's webhook listen too):
these, not every port above 1024. A chart whose webhook listens elsewhere needs its port here."""

NODE_RULES = (
    Rule("from-nodes", "ingress", "self", "-1", 0, 0, "node to node, pod to pod"),
    Rule("webhooks", "ingress", "cluster", "tcp", 443, 443, "control plane to admission webhooks"),
    Rule("kubelet", "ingress", "cluster", "tcp", 10250, 10250, "control plane to kubelets and webhooks"),
    *(
        Rule(f"webhook-{port}", "ingress", "cluster", "tcp", port, port, f"control plane to {why}")
        for port, why in WEBHOOK_PORTS.items()
    ),
    Rule("egress", "egress", "0.0.0.0/0", "-1", 0, 0, "images, AWS APIs and the control plane, through NAT"),
)
"""The node SG: what later components mean by "only from cluster nodes"."""

CLUSTER_RULES = (Rule("api-from-nodes", "ingress", "nodes", "tcp", 443, 443, "nodes to the Kubernetes API"),)
"""The control plane's additional SG: only the nodes reach the API's private endpoint."""


# --- the components ---------------------------------------------------------------------------------------


class NodeGroup(pulumi.ComponentResource):
    """One EKS managed node group behind a hardened launch template.

    * The launch template requires IMDSv2 with a hop limit of 1, so pods cannot borrow the node's
      role from the instance metadata service; the gp3 root volume is encrypted; there is no SSH key.
    * ``desired_size`` is set at creation and then ignored: the cluster autoscaler owns it, and a
      ``pulumi up`` must not scale a busy group back down.
    * Changing ``instance_types`` (or anything else EKS cannot update in place) replaces the group.
      Its physical name is auto-named from the logical one, so Pulumi creates the replacement first
      and deletes the old group only once the new one is ready (create-before-delete); EKS then
      cordons and drains the old nodes respecting PodDisruptionBudgets. No capacity gap, no downtime.
    * Labels, taints, sizes and the launch template version roll in place, ``max_unavailable_percentage``
      of the nodes at a time.
    """

    node_group_name: pulumi.Output[str]
    arn: pulumi.Output[str]
    launch_template_id: pulumi.Output[str]
    autoscaling_group_name: pulumi.Output[str]
    """The Auto Scaling group EKS made for the group: its nodes' EC2 metrics are aggregated under it."""

    def __init__(self, name: str, args: NodeGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:NodeGroup", name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self)
        instance_tags = args.tags.for_resource(name)
        launch_template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"Nodes of the {name} managed node group",
            update_default_version=True,
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": 1,
                "instance_metadata_tags": "disabled",
            },
            block_device_mappings=[
                {
                    "device_name": "/dev/xvda",
                    "ebs": {
                        "volume_size": spec.disk_size_gib,
                        "volume_type": "gp3",
                        "encrypted": "true",
                        "delete_on_termination": "true",
                    },
                }
            ],
            vpc_security_group_ids=list(args.security_group_ids),
            monitoring={"enabled": True},
            tag_specifications=[
                {"resource_type": kind, "tags": instance_tags}
                for kind in ("instance", "volume", "network-interface")
            ],
            tags=args.tags.for_resource(f"{name}-lt"),
            opts=child,
        )
        group = aws.eks.NodeGroup(
            name,
            cluster_name=args.cluster_name,
            node_role_arn=args.node_role_arn,
            subnet_ids=args.subnet_ids,
            instance_types=list(spec.instance_types),
            ami_type=spec.ami_type,
            version=args.kubernetes_version,
            capacity_type=spec.capacity_type,
            scaling_config={
                "min_size": spec.min_size,
                "max_size": spec.max_size,
                "desired_size": spec.desired_size,
            },
            update_config={"max_unavailable_percentage": spec.max_unavailable_percentage},
            labels=dict(spec.labels),
            taints=[{"key": t.key, "value": t.value, "effect": t.effect} for t in spec.taints],
            launch_template={"id": launch_template.id, "version": launch_template.latest_version.apply(str)},
            tags=args.tags.for_resource(name),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=list(args.depends_on), ignore_changes=["scalingConfig.desiredSize"]
            ),
        )
        # EKS does not copy a node group's tags to its Auto Scaling group, where the autoscaler reads them.
        asg_name = group.resources.apply(
            lambda resources: reported(
                reported(resources[0].autoscaling_groups, "node group Auto Scaling groups")[0].name,
                "node group Auto Scaling group name",
            )
        )
        for key, value in node_template_tags(spec).items():
            # "label/role" -> "label-role"; a label and a taint of one key ("nvidia.com/gpu") stay apart.
            kind_and_key = key.removeprefix(NODE_TEMPLATE_PREFIX).replace("/", "-")
            aws.autoscaling.Tag(
                f"{name}-{kind_and_key}",
                autoscaling_group_name=asg_name,
                tag={"key": key, "value": value, "propagate_at_launch": False},
                opts=child,
            )
        self.node_group_name = group.node_group_name
        self.arn = group.arn
        self.launch_template_id = launch_template.id
        self.autoscaling_group_name = asg_name
        self.register_outputs(
            {
                "nodeGroupName": self.node_group_name,
                "arn": self.arn,
                "launchTemplateId": self.launch_template_id,
                "autoscalingGroupName": self.autoscaling_group_name,
            }
        )


class Cluster(pulumi.ComponentResource):
    """An EKS cluster with a private API endpoint, encrypted secrets and full control-plane logs.

    Authentication is by EKS access entries only (mode ``API``; the creator gets no implicit admin),
    IRSA has its OIDC provider, and the managed add-ons are installed with pinnable versions. Node
    groups are :class:`NodeGroup` children keyed by their config name, so adding or removing one
    touches no other. ``provider`` is the Kubernetes provider every later component deploys with.
    """

    cluster_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    certificate_authority_data: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    node_security_group_id: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    node_groups: dict[str, NodeGroup]
    workloads_ready: list[pulumi.Resource]
    """What a workload installed on the cluster waits for: nodes to run on and CoreDNS to resolve names."""
    provider: k8s.Provider

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Cluster", name, None, opts)
        self._name = name
        self._tags = args.tags.layered({"Component": "cluster"})
        invoke = pulumi.InvokeOutputOptions(parent=self)
        region = aws.get_region_output(opts=invoke).region

        secrets_key = customer_managed_key(
            self,
            f"{name}-secrets",
            description=f"Envelope encryption of the Kubernetes secrets of {args.cluster_name}",
            alias=f"alias/{args.cluster_name}-eks-secrets",
            tags=self._tags,
            protect=args.protect,
            services=("eks",),
        )
        # Created before the cluster so EKS writes into a group with retention, not one it makes unbounded.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.log_key_arn,
            tags=self._tags.for_resource(f"{args.cluster_name}-control-plane"),
            opts=self._child(),
        )
        cluster_role, cluster_attachments = self._role("cluster", "eks.amazonaws.com", CLUSTER_POLICIES, True)
        node_role, node_attachments = self._role("node", "ec2.amazonaws.com", NODE_POLICIES)

        cluster_sg = self._security_group("cluster", args.vpc_id, "EKS control plane ENIs", args.cluster_name)
        # The nodes' only group, so the one tagged for the cluster: the service controller opens it to its
        # load balancers, and refuses to choose among several tagged ones.
        node_sg = self._security_group(
            "node", args.vpc_id, "EKS nodes", args.cluster_name, {cluster_tag(args.cluster_name): "owned"}
        )
        peers = {"self": node_sg.id, "nodes": node_sg.id, "cluster": cluster_sg.id}
        self._rules("node", node_sg, NODE_RULES, peers)
        api_rules = tuple(
            Rule(f"api-from-{key}", "ingress", key, "tcp", 443, 443, f"{key} to the Kubernetes API")
            for key in args.api_access_security_groups
        )
        api_peers = {**peers, **args.api_access_security_groups}
        self._rules("cluster", cluster_sg, CLUSTER_RULES + api_rules, api_peers)

        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.version,
            role_arn=cluster_role.arn,
            vpc_config={
                "subnet_ids": args.private_subnet_ids,
                "security_group_ids": [cluster_sg.id],
                "endpoint_private_access": True,
                "endpoint_public_access": args.endpoint_public_access,
                "public_access_cidrs": list(args.public_access_cidrs)
                if args.endpoint_public_access
                else None,
            },
            encryption_config={"provider": {"key_arn": secrets_key.arn}, "resources": ["secrets"]},
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            access_config={
                "authentication_mode": "API",
                "bootstrap_cluster_creator_admin_permissions": False,
            },
            # The managed add-ons below own networking and DNS; EKS' unmanaged copies would fight them.
            bootstrap_self_managed_addons=False,
            # Extended support costs six times standard; an unplanned extension should fail loudly instead.
            upgrade_policy={"support_type": "STANDARD"},
            deletion_protection=args.protect,
            tags=self._tags.for_resource(args.cluster_name),
            opts=self._child(protect=args.protect, depends_on=[log_group, *cluster_attachments]),
        )
        self.cluster_name = cluster.name
        self.endpoint = cluster.endpoint
        self.certificate_authority_data = cluster.certificate_authority.apply(
            lambda ca: reported(ca.data, "cluster certificate authority data")
        )
        self.oidc_issuer_url = cluster.identities.apply(
            lambda ids: reported(
                reported(ids[0].oidcs, "cluster OIDC identities")[0].issuer, "cluster OIDC issuer"
            )
        )
        self.node_security_group_id = node_sg.id
        self.cluster_security_group_id = cluster.vpc_config.apply(
            lambda vpc: reported(vpc.cluster_security_group_id, "cluster security group ID")
        )
        self.node_role_arn = node_role.arn

        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=self.oidc_issuer_url,
            client_id_lists=["sts.amazonaws.com"],
            tags=self._tags.for_resource(f"{args.cluster_name}-irsa"),
            opts=self._child(),
        )
        self.oidc_provider_arn = oidc.arn

        # Who may use the API: EKS grants the creator nothing (its implicit admin, off, can only be turned on
        # by replacing the cluster), so the deploying role comes first.
        grants = [
            self._access(cluster, "deploy", args.deploy_role_arn, CLUSTER_ADMIN_POLICY),
            *(self._access(cluster, "admin", arn, CLUSTER_ADMIN_POLICY) for arn in args.admin_role_arns),
            *(self._access(cluster, "viewer", arn, CLUSTER_VIEW_POLICY) for arn in args.viewer_role_arns),
        ]

        node_addons = [
            self._addon(
                cluster, addon, args.addon_versions, configuration_values=ADDON_CONFIGURATION.get(addon)
            )
            for addon in NODE_ADDONS
        ]
        self.node_groups = {
            key: NodeGroup(
                f"{name}-{key}",
                NodeGroupArgs(
                    cluster_name=cluster.name,
                    node_role_arn=node_role.arn,
                    subnet_ids=args.private_subnet_ids,
                    # Not EKS' own cluster security group, which EKS tags for the cluster too.
                    security_group_ids=[node_sg.id],
                    spec=spec,
                    tags=self._tags.layered({"NodeGroup": key}, autoscaler_tags(args.cluster_name, spec)),
                    depends_on=[*node_attachments, *node_addons],
                    kubernetes_version=cluster.version,
                ),
                opts=self._child(),
            )
            for key, spec in args.node_groups.items()
        }
        coredns = self._pod_addons(cluster, args.addon_versions, list(self.node_groups.values()))
        self.workloads_ready = [*self.node_groups.values(), coredns]

        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, self.certificate_authority_data, region).apply(
                lambda values: kubeconfig(*values)
            )
        )
        # Before the cluster exists the kubeconfig is unknown; the provider then previews without a cluster.
        # Every Kubernetes object and release waits for the grants, or its first request would get a 401.
        self.provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=self.kubeconfig, opts=self._child(depends_on=grants)
        )

        self.register_outputs(
            {
                "clusterName": self.cluster_name,
                "endpoint": self.endpoint,
                "certificateAuthorityData": self.certificate_authority_data,
                "oidcIssuerUrl": self.oidc_issuer_url,
                "oidcProviderArn": self.oidc_provider_arn,
                "nodeSecurityGroupId": self.node_security_group_id,
                "clusterSecurityGroupId": self.cluster_security_group_id,
                "nodeRoleArn": self.node_role_arn,
                "kubeconfig": self.kubeconfig,
            }
        )

    def _child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _role(
        self, role: str, service: str, policies: Sequence[str], tag_session: bool = False
    ) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
        iam_role = aws.iam.Role(
            f"{self._name}-{role}",
            assume_role_policy=assume_role_policy(service, tag_session=tag_session),
            tags=self._tags.for_resource(f"{self._name}-{role}"),
            opts=self._child(),
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{self._name}-{role}-{policy.rsplit('/', 1)[1]}",
                role=iam_role.name,
                policy_arn=policy,
                opts=self._child(),
            )
            for policy in policies
        ]
        return iam_role, attachments

    def _security_group(
        self,
        role: str,
        vpc_id: pulumi.Input[str],
        description: str,
        cluster_name: str,
        extra_tags: Mapping[str, str] | None = None,
    ) -> aws.ec2.SecurityGroup:
        return aws.ec2.SecurityGroup(
            f"{self._name}-{role}",
            description=f"{description} of {cluster_name}",
            vpc_id=vpc_id,
            # Rules are separate resources (below), so none is declared inline and none is implied.
            tags=self._tags.for_resource(f"{cluster_name}-{role}", extra_tags),
            opts=self._child(),
        )

    def _rules(
        self,
        role: str,
        group: aws.ec2.SecurityGroup,
        rules: Sequence[Rule],
        peers: Mapping[str, pulumi.Input[str]],
    ) -> None:
        for rule in rules:
            # All traffic ("-1") takes no ports; a peer is a security group by name, else a CIDR. Inputs
            # left None are not sent at all.
            all_traffic = rule.protocol == "-1"
            peer_group = peers.get(rule.peer)
            rule_type = (
                aws.vpc.SecurityGroupIngressRule
                if rule.direction == "ingress"
                else aws.vpc.SecurityGroupEgressRule
            )
            rule_name = f"{self._name}-{role}-{rule.key}"
            rule_type(
                rule_name,
                security_group_id=group.id,
                ip_protocol=rule.protocol,
                description=rule.why,
                from_port=None if all_traffic else rule.from_port,
                to_port=None if all_traffic else rule.to_port,
                referenced_security_group_id=peer_group,
                cidr_ipv4=None if peer_group is not None else rule.peer,
                tags=self._tags.for_resource(rule_name),
                opts=self._child(),
            )

    def _access(
        self, cluster: aws.eks.Cluster, role: str, role_arn: str, policy_arn: str
    ) -> aws.eks.AccessPolicyAssociation:
        """An access entry for ``role_arn`` and ``policy_arn`` associated with it, cluster-wide."""
        key = f"{self._name}-{role}-{role_arn.rsplit('/', 1)[1]}"
        entry = aws.eks.AccessEntry(
            key,
            cluster_name=cluster.name,
            principal_arn=role_arn,
            type="STANDARD",
            tags=self._tags.for_resource(key),
            opts=self._child(),
        )
        return aws.eks.AccessPolicyAssociation(
            key,
            cluster_name=cluster.name,
            principal_arn=role_arn,
            policy_arn=policy_arn,
            access_scope={"type": "cluster"},
            opts=self._child(depends_on=[entry]),
        )

    def _addon(
        self,
        cluster: aws.eks.Cluster,
        addon: str,
        versions: Mapping[str, str],
        depends_on: Sequence[pulumi.Resource] = (),
        **extra: Any,
    ) -> aws.eks.Addon:
        return aws.eks.Addon(
            f"{self._name}-{addon}",
            cluster_name=cluster.name,
            addon_name=addon,
            addon_version=versions.get(addon),
            # A fresh cluster may carry EKS' own copy: take it over. Later, keep what operators tuned.
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="PRESERVE",
            tags=self._tags.for_resource(f"{self._name}-{addon}"),
            opts=self._child(depends_on=list(depends_on)),
            **extra,
        )

    def _pod_addons(
        self, cluster: aws.eks.Cluster, versions: Mapping[str, str], node_groups: Sequence[NodeGroup]
    ) -> aws.eks.Addon:
        """CoreDNS and the EBS CSI driver need nodes; the driver also a role of its own (pod identity).

        Returns the CoreDNS add-on, which every workload needs to resolve names."""
        ebs_role, ebs_attachments = self._role(
            "ebs-csi", "pods.eks.amazonaws.com", (EBS_CSI_POLICY,), tag_session=True
        )
        coredns = self._addon(cluster, "coredns", versions, node_groups)
        self._addon(
            cluster,
            "aws-ebs-csi-driver",
            versions,
            [*node_groups, *ebs_attachments],
            pod_identity_associations=[
                {"role_arn": ebs_role.arn, "service_account": "ebs-csi-controller-sa"}
            ],
        )
        return coredns
