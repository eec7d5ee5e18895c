"""cert-manager, issuing the ingress gateway's certificate from an ACME server (DNS-01 on Route 53).

The controller answers the ACME server's DNS-01 challenges with TXT records in the hosted zone from config,
through an IAM role bound to its service account by EKS Pod Identity (cert-manager uses such ambient
credentials for ClusterIssuers only). The role may change only ``_acme-challenge`` TXT records of that
one zone, follow its changes and find the zone by name: what cert-manager's Route 53 solver calls.

The ClusterIssuer names the zone; the Certificate, in istio-system, covers the gateway's hosts and is
written to the secret the gateway reads (``platform:mesh.tlsSecretName``), and renewed into it. Without
cert-manager, that secret is made by hand (the existing-secret path).

The chart's values.schema.json rejects keys it does not declare; every value here is declared there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.addons.charts import pinned_release, restricted_namespace
from components.config import ADDON_NAMESPACES, CertManagerConfig, MeshConfig
from components.mesh import ISTIO_NAMESPACE, MANAGED
from components.pod_identity import pod_identity_role
from components.tags import Tags

NAMESPACE = ADDON_NAMESPACES["cert_manager"]
RELEASE = "cert-manager"
SERVICE_ACCOUNT = "cert-manager"
"""The controller's service account: the chart names it after the release (``serviceAccount.name`` unset)."""
API = "cert-manager.io/v1"
ISSUER = "acme-route53"
ACCOUNT_KEY_SECRET = "acme-account-key"
"""The ACME account's private key, kept by cert-manager in its own namespace."""
CERTIFICATE = "gateway"


@dataclass(frozen=True)
class CertManagerArgs:
    """Inputs of :class:`CertManager`. Defaults are production's."""

    hosted_zone_id: str
    """The Route 53 hosted zone of the gateway's hosts. Required."""
    acme_email: str
    """Who the ACME server writes to about the account and expiring certificates. Required."""
    hosts: Sequence[str]
    """The gateway's hosts, the certificate's names. Required (at least one)."""
    cluster_name: pulumi.Input[str]
    """The EKS cluster whose service account gets the role. Required."""
    tls_secret_name: str = "gateway-tls"
    """The secret in istio-system the gateway reads its certificate from. Default gateway-tls."""
    acme_server: str = "https://acme-v02.api.letsencrypt.org/directory"
    """The ACME server's directory. Default Let's Encrypt's production one."""
    replicas: int = 2
    """Pods of the controller, the webhook and the CA injector each (count); two get budgets. Default 2."""
    node_selector: Mapping[str, str] | None = None
    """Labels of the nodes its pods run on. Default none."""
    tags: Tags = field(default_factory=Tags)
    """AWS tags of the role and the association. Default none."""

    def __post_init__(self) -> None:
        if not self.hosts:
            raise ValueError("CertManagerArgs: hosts: name at least one host for the certificate")

    @classmethod
    def from_config(
        cls,
        config: CertManagerConfig,
        *,
        mesh: MeshConfig,
        cluster_name: pulumi.Input[str],
        node_selector: Mapping[str, str],
        tags: Tags,
    ) -> CertManagerArgs:
        if config.hosted_zone_id is None or config.acme_email is None:
            raise ValueError(
                "CertManagerArgs: the config has no hostedZoneId or acmeEmail (the config refuses that)"
            )
        return cls(
            hosted_zone_id=config.hosted_zone_id,
            acme_email=config.acme_email,
            hosts=tuple(mesh.gateway_hosts),
            cluster_name=cluster_name,
            tls_secret_name=mesh.tls_secret_name,
            acme_server=config.acme_server,
            replicas=config.replicas,
            node_selector=dict(node_selector),
            tags=tags,
        )


def zone_arn(hosted_zone_id: str) -> str:
    return f"arn:aws:route53:::hostedzone/{hosted_zone_id}"


def dns01_policy(hosted_zone_id: str) -> dict[str, Any]:
    """What cert-manager's Route 53 solver calls (pkg/issuer/acme/dns/route53 at v1.21.1), no more: TXT
    records named ``_acme-challenge.*`` in one zone, the status of its changes, and the zone by name."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AnswerChallenges",
                "Effect": "Allow",
                "Action": "route53:ChangeResourceRecordSets",
                "Resource": zone_arn(hosted_zone_id),
                "Condition": {
                    "ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]},
                    "ForAllValues:StringLike": {
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["_acme-challenge.*"]
                    },
                },
            },
            {
                "Sid": "FollowChanges",
                "Effect": "Allow",
                "Action": "route53:GetChange",
                "Resource": "arn:aws:route53:::change/*",
            },
            # Route 53 takes no resource for this read-only lookup.
            {
                "Sid": "FindZone",
                "Effect": "Allow",
                "Action": "route53:ListHostedZonesByName",
                "Resource": "*",
            },
        ],
    }


def cert_manager_values(args: CertManagerArgs) -> dict[str, Any]:
    """The chart's values (cert-manager v1.21.1; every key declared in its values.schema.json)."""
    nodes = {"nodeSelector": dict(args.node_selector)} if args.node_selector else {}
    # <component>.podDisruptionBudget: off by default; with two pods a drain keeps one.
    budget = {"podDisruptionBudget": {"enabled": True, "minAvailable": 1}} if args.replicas >= 2 else {}
    # replicaCount (controller, leader-elected), webhook.replicaCount, cainjector.replicaCount.
    component = {"replicaCount": args.replicas, **budget, **nodes}
    return {
        # crds.enabled: the chart installs (and upgrades) its CRDs only when asked; crds.keep (default
        # true) keeps them, and so every certificate, if the release is uninstalled.
        "crds": {"enabled": True},
        **component,
        "webhook": dict(component),
        "cainjector": dict(component),
        # startupapicheck.nodeSelector: the post-install Job that waits for the webhook.
        "startupapicheck": {**nodes},
    }


def cluster_issuer_spec(args: CertManagerArgs) -> dict[str, Any]:
    """ACME, DNS-01 answered in the hosted zone with the controller's ambient (Pod Identity) credentials."""
    return {
        "acme": {
            "server": args.acme_server,
            "email": args.acme_email,
            "privateKeySecretRef": {"name": ACCOUNT_KEY_SECRET},
            "solvers": [{"dns01": {"route53": {"hostedZoneID": args.hosted_zone_id}}}],
        }
    }


def certificate_spec(args: CertManagerArgs) -> dict[str, Any]:
    """The gateway's hosts, into the secret the gateway reads; a new key at each renewal."""
    return {
        "secretName": args.tls_secret_name,
        "dnsNames": list(args.hosts),
        "issuerRef": {"name": ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"},
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
    }


class CertManager(pulumi.ComponentResource):
    """cert-manager with its DNS-01 role, an ACME ClusterIssuer and the gateway's Certificate."""

    role_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: CertManagerArgs,
        provider: k8s.Provider,
        depends_on: Sequence[pulumi.Resource] = (),
        mesh: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``mesh``: what made istio-system, where the certificate's secret goes."""
        super().__init__("platform:index:CertManager", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        tags = args.tags.layered({"Component": "cert-manager"})
        namespace = restricted_namespace(f"{name}-namespace", NAMESPACE, child)
        dns01 = pod_identity_role(
            self,
            f"{name}-dns01",
            description=f"cert-manager: answers ACME DNS-01 challenges in hosted zone {args.hosted_zone_id}",
            policy=json.dumps(dns01_policy(args.hosted_zone_id)),
            cluster_name=args.cluster_name,
            namespace=NAMESPACE,
            service_accounts={f"{name}-dns01": SERVICE_ACCOUNT},
            tags=tags,
        )
        release = pinned_release(
            name,
            "cert-manager",
            release_name=RELEASE,
            namespace=namespace.metadata.name,
            values=cert_manager_values(args),
            opts=child,
            # Pods get Pod Identity credentials only if the association exists when they start.
            depends_on=[*dns01.grants, *depends_on],
        )
        # The chart installs the CRDs and the webhook that checks these.
        issuer = k8s.apiextensions.CustomResource(
            f"{name}-issuer",
            api_version=API,
            kind="ClusterIssuer",
            metadata={"name": ISSUER, "labels": MANAGED},
            spec=cluster_issuer_spec(args),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[release])),
        )
        k8s.apiextensions.CustomResource(
            f"{name}-certificate",
            api_version=API,
            kind="Certificate",
            metadata={"name": CERTIFICATE, "namespace": ISTIO_NAMESPACE, "labels": MANAGED},
            spec=certificate_spec(args),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[issuer, *mesh])),
        )
        self.role_arn = dns01.role.arn
        self.register_outputs({"roleArn": self.role_arn})
