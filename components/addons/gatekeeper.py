"""OPA Gatekeeper and the platform's admission policies, applied to the application namespaces.

Four ConstraintTemplates (``templates.gatekeeper.sh/v1``, Rego) and one Constraint of each
(``constraints.gatekeeper.sh/v1beta1``): every container has a security context and runs as a user other
than root; images come only from the allowed registries; every container has CPU and memory limits; every
pod carries the labels ``app``, ``version`` and ``environment``. Each checks Pods and the pod templates
of workloads (Deployments, StatefulSets, DaemonSets, Jobs, CronJobs, Rollouts), so a workload that could
never start is refused when it is applied, not when its controller makes its pods.

A Constraint's kind is a CRD that Gatekeeper makes from its template once it has compiled the Rego:
each template waits until its status says ``created`` (``pulumi.com/waitFor``), and each Constraint
waits for its template.

The Helm values, templates and constraints are pure functions, tested directly (the Rego by an
interpreter of the language).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components.addons.charts import pinned_release, restricted_namespace
from components.config import ADDON_NAMESPACES, GatekeeperConfig
from components.mesh import ISTIO_NAMESPACE

NAMESPACE = ADDON_NAMESPACES["gatekeeper"]
"""Gatekeeper's own namespace; its webhook never judges it (the chart exempts the release namespace)."""
TEMPLATES_API = "templates.gatekeeper.sh/v1"
CONSTRAINTS_API = "constraints.gatekeeper.sh/v1beta1"
TARGET = "admission.k8s.gatekeeper.sh"
"""Gatekeeper's one target: Kubernetes admission reviews (and its audit of what exists)."""

ISTIO_PROXY_REGISTRY = "docker.io/istio/"
"""Where the sidecar Istio injects into every application pod comes from: Istio's released charts set
``global.hub: docker.io/istio`` (the injector's config shows it, istio/istio#37577); the mesh sets no hub."""
REQUIRED_LABELS = ("app", "version", "environment")
"""The labels every application pod carries: who it is (the mesh selects it by ``app``), which release
(``version``) and where (``environment``)."""
LIMITED_RESOURCES = ("cpu", "memory")
"""Limits every application container sets itself (the namespaces' LimitRanges only fill in defaults)."""

KUBERNETES_NAMESPACES = ("kube-system", "kube-node-lease", "kube-public")
PLATFORM_NAMESPACES = (
    *KUBERNETES_NAMESPACES,
    ISTIO_NAMESPACE,
    NAMESPACE,
    "argo-rollouts",
    "vpa",
    "cert-manager",
    "monitoring",
    "velero",
)
"""Namespaces of the cluster, the mesh and the add-ons: the policies are the applications', so these are
exempt, and the webhook does not even see them (a webhook that fails closed must not stop the platform
that would bring it back)."""

_PODS = "input.review.object"
WORKLOAD_KINDS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("", ("Pod",), _PODS),
    ("apps", ("Deployment", "StatefulSet", "DaemonSet"), f"{_PODS}.spec.template"),
    ("batch", ("Job",), f"{_PODS}.spec.template"),
    ("batch", ("CronJob",), f"{_PODS}.spec.jobTemplate.spec.template"),
    ("argoproj.io", ("Rollout",), f"{_PODS}.spec.template"),
)
"""(API group, kinds, where the pod or pod template is) of what the constraints judge. A Rollout that
refers to a Deployment (``workloadRef``) has no template of its own: the Deployment was judged."""


# Rego (v1) shared by every template: the pod (or pod template) under review and its containers.
def _quoted(words: Sequence[str]) -> str:
    return ", ".join(f'"{word}"' for word in words)


_POD_REGO = (
    "\n".join(
        f"pod := {path} if input.review.kind.kind in {{{_quoted(kinds)}}}"
        for _, kinds, path in WORKLOAD_KINDS
    )
    + """

containers contains container if some container in pod.spec.containers
containers contains container if some container in pod.spec.initContainers
containers contains container if some container in pod.spec.ephemeralContainers

# Ephemeral (debug) containers may set no resources.
resourced contains container if some container in pod.spec.containers
resourced contains container if some container in pod.spec.initContainers
"""
)

_RULES: dict[str, str] = {
    "K8sNonRootSecurityContext": """
# A container's setting, else the pod's (the container's wins, as in Kubernetes).
setting(container, field) := value if {
	value := container.securityContext[field]
} else := value if {
	value := pod.spec.securityContext[field]
}

violation contains {"msg": msg} if {
	some container in containers
	count(object.get(container, "securityContext", {})) == 0
	msg := sprintf("container %v has no securityContext", [container.name])
}

violation contains {"msg": msg} if {
	some container in containers
	setting(container, "runAsUser") == 0
	msg := sprintf("container %v runs as root (runAsUser 0)", [container.name])
}

violation contains {"msg": msg} if {
	some container in containers
	not setting(container, "runAsNonRoot") == true
	not setting(container, "runAsUser")
	msg := sprintf(
		"container %v may run as root: set runAsNonRoot true or a runAsUser other than 0",
		[container.name],
	)
}
""",
    "K8sAllowedRegistries": """
allowed(image) if {
	some prefix in input.parameters.registries
	startswith(image, prefix)
}

violation contains {"msg": msg} if {
	some container in containers
	not allowed(container.image)
	msg := sprintf(
		"container %v: image %v is not from an allowed registry %v",
		[container.name, container.image, input.parameters.registries],
	)
}
""",
    "K8sRequiredLimits": """
violation contains {"msg": msg} if {
	some container in resourced
	some resource in input.parameters.resources
	not container.resources.limits[resource]
	msg := sprintf("container %v has no %v limit", [container.name, resource])
}
""",
    "K8sRequiredLabels": """
# Only of a pod or pod template under review (the rule is undefined for anything else).
labels := object.get(object.get(pod, "metadata", {}), "labels", {})

violation contains {"msg": msg} if {
	some label in input.parameters.labels
	object.get(labels, label, "") == ""
	msg := sprintf(
		"%v %v: its pods need the label %v",
		[input.review.kind.kind, input.review.object.metadata.name, label],
	)
}
""",
}

_STRINGS = {"type": "array", "items": {"type": "string"}}
_PARAMETERS: dict[str, dict[str, Any]] = {
    "K8sNonRootSecurityContext": {},
    "K8sAllowedRegistries": {"registries": _STRINGS},
    "K8sRequiredLimits": {"resources": _STRINGS},
    "K8sRequiredLabels": {"labels": _STRINGS},
}
"""Each template's parameters (the schema of its Constraints' ``spec.parameters``)."""

CONSTRAINT_NAMES = {
    "K8sNonRootSecurityContext": "non-root-containers",
    "K8sAllowedRegistries": "allowed-registries",
    "K8sRequiredLimits": "required-limits",
    "K8sRequiredLabels": "required-labels",
}
"""The platform's Constraint of each template (cluster-scoped)."""

WAIT_FOR_CRD = "jsonpath={.status.created}=true"
"""A template's status reads ``created: true`` once a Gatekeeper pod compiled it and made its CRD."""


def rego(kind: str) -> str:
    """The whole Rego module of a template (Rego v1, as ``code[].source.version`` says)."""
    return f"package {kind.lower()}\n\n{_POD_REGO}{_RULES[kind]}"


def constraint_template(kind: str) -> dict[str, Any]:
    """A ConstraintTemplate: its constraints' kind and parameters, and the Rego that judges a review."""
    properties = _PARAMETERS[kind]
    return {
        "apiVersion": TEMPLATES_API,
        "kind": "ConstraintTemplate",
        # Gatekeeper requires the template's name to be its kind in lower case.
        "metadata": {"name": kind.lower(), "annotations": {"pulumi.com/waitFor": WAIT_FOR_CRD}},
        "spec": {
            "crd": {
                "spec": {
                    "names": {"kind": kind},
                    **(
                        {"validation": {"openAPIV3Schema": {"type": "object", "properties": properties}}}
                        if properties
                        else {}
                    ),
                }
            },
            "targets": [
                {
                    "target": TARGET,
                    "code": [{"engine": "Rego", "source": {"version": "v1", "rego": rego(kind)}}],
                }
            ],
        },
    }


def match(namespaces: Sequence[str], exempt: Sequence[str]) -> dict[str, Any]:
    """Pods and workloads of the application namespaces, never of an exempt one (exclusion wins)."""
    return {
        "kinds": [{"apiGroups": [group], "kinds": list(kinds)} for group, kinds, _ in WORKLOAD_KINDS],
        "namespaces": list(namespaces),
        "excludedNamespaces": list(exempt),
    }


@dataclass(frozen=True)
class GatekeeperArgs:
    """Inputs of :class:`Gatekeeper`. Defaults are production's."""

    namespaces: Sequence[str]
    """The application namespaces the constraints apply to. Required (none: no constraints are made)."""
    replicas: int = 3
    """Webhook pods (count); two or more get a disruption budget that keeps all but one. Default 3."""
    enforcement_action: Literal["deny", "dryrun", "warn"] = "deny"
    """What a violation does: deny refuses it, warn warns, dryrun only reports it. Default deny."""
    failure_policy: Literal["Fail", "Ignore"] = "Fail"
    """What the application namespaces admit while the webhook cannot answer: nothing (Fail). Default Fail."""
    registries: Sequence[pulumi.Input[str]] = (ISTIO_PROXY_REGISTRY,)
    """Image prefixes the application namespaces may pull (each ends in '/'). Default Istio's sidecar only."""
    exempt_namespaces: Sequence[str] = PLATFORM_NAMESPACES
    """Namespaces never judged, whatever ``namespaces`` says. Default the cluster's, mesh's and add-ons'."""
    node_selector: Mapping[str, str] | None = None
    """Labels of the nodes Gatekeeper's pods run on. Default none (any Linux node)."""

    @classmethod
    def from_config(
        cls,
        config: GatekeeperConfig,
        *,
        namespaces: Sequence[str],
        own_registry: pulumi.Input[str],
        node_selector: Mapping[str, str],
    ) -> GatekeeperArgs:
        """``own_registry``: the account's ECR registry prefix, always allowed."""
        return cls(
            namespaces=tuple(namespaces),
            replicas=config.replicas,
            enforcement_action=config.enforcement_action,
            failure_policy=config.failure_policy,
            registries=(own_registry, ISTIO_PROXY_REGISTRY, *config.allowed_registries),
            node_selector=dict(node_selector),
        )


def ecr_registry(account_id: str, region: str) -> str:
    """The account's own ECR registry as an image prefix."""
    return f"{account_id}.dkr.ecr.{region}.amazonaws.com/"


def gatekeeper_values(args: GatekeeperArgs) -> dict[str, Any]:
    """The chart's values (gatekeeper 3.23.0; chart keys named in the comments)."""
    nodes = {"nodeSelector": dict(args.node_selector)} if args.node_selector else {}
    return {
        # replicas: the controller-manager, which serves the webhook; audit is always one pod.
        "replicas": args.replicas,
        # pdb.controllerManager.minAvailable (the budget is always rendered): all pods but one stay up
        # through a drain, and a single pod never blocks one.
        "pdb": {"controllerManager": {"minAvailable": max(args.replicas - 1, 0)}},
        # validatingWebhookFailurePolicy: fail closed, so Gatekeeper being down is no way around the
        # policies; validatingWebhookScope Namespaced keeps cluster-scoped objects (nodes joining,
        # namespaces) out of the webhook's reach, and validatingWebhookExemptNamespacesLabels the platform's
        # own namespaces: a webhook that fails closed cannot then keep the cluster from healing.
        "validatingWebhookFailurePolicy": args.failure_policy,
        "validatingWebhookScope": "Namespaced",
        "validatingWebhookExemptNamespacesLabels": {
            "kubernetes.io/metadata.name": list(args.exempt_namespaces)
        },
        # logDenies: every refusal is in the controller's log too, with the constraint that refused it.
        "logDenies": True,
        # controllerManager.* / audit.*: on the general nodes, the webhook's pods spread over zones.
        "controllerManager": {
            **nodes,
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": {"gatekeeper.sh/operation": "webhook"}},
                }
            ],
        },
        "audit": {**nodes},
        # postInstall.* (namespace-label and webhook-probe Jobs), crds.* (the CRD-upgrade hook Job).
        # postInstall.labelNamespace.podSecurity: the Job would relabel the namespace's Pod Security
        # (enforce-version v1.24) over the labels the platform sets on it, taking them from Pulumi's field
        # manager; it keeps only its admission.gatekeeper.sh/ignore label.
        "postInstall": {"labelNamespace": {"podSecurity": []}, **nodes},
        "crds": {**nodes},
    }


class Gatekeeper(pulumi.ComponentResource):
    """Gatekeeper from its chart, the platform's four ConstraintTemplates and a Constraint of each."""

    templates: dict[str, k8s.apiextensions.CustomResource]
    constraints: dict[str, k8s.apiextensions.CustomResource]

    def __init__(
        self,
        name: str,
        args: GatekeeperArgs,
        provider: k8s.Provider,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:index:Gatekeeper", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        namespace = restricted_namespace(f"{name}-namespace", NAMESPACE, child)
        release = pinned_release(
            name,
            "gatekeeper",
            release_name="gatekeeper",
            namespace=namespace.metadata.name,
            values=gatekeeper_values(args),
            opts=child,
            depends_on=depends_on,
        )
        # The templates need the chart's CRD and a running controller to compile them.
        after_release = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[release]))
        self.templates = {
            kind: _custom_resource(
                f"{name}-template-{kind.lower()}", constraint_template(kind), after_release
            )
            for kind in _RULES
        }
        self.constraints = {}
        if args.namespaces:
            registries: pulumi.Output[dict[str, Any]] = pulumi.Output.all(*args.registries).apply(
                lambda found: {"registries": list(found)}
            )
            all_parameters: dict[str, pulumi.Input[dict[str, Any]]] = {
                "K8sNonRootSecurityContext": {},
                "K8sAllowedRegistries": registries,
                "K8sRequiredLimits": {"resources": list(LIMITED_RESOURCES)},
                "K8sRequiredLabels": {"labels": list(REQUIRED_LABELS)},
            }
            for kind, template in self.templates.items():
                parameters = all_parameters[kind]
                # The constraint's kind exists only once the template's CRD does (the template waits).
                self.constraints[kind] = k8s.apiextensions.CustomResource(
                    f"{name}-constraint-{CONSTRAINT_NAMES[kind]}",
                    api_version=CONSTRAINTS_API,
                    kind=kind,
                    metadata={"name": CONSTRAINT_NAMES[kind]},
                    spec={
                        "enforcementAction": args.enforcement_action,
                        "match": match(args.namespaces, args.exempt_namespaces),
                        **({"parameters": parameters} if _PARAMETERS[kind] else {}),
                    },
                    opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[template])),
                )
        self.register_outputs(
            {
                "templates": list(self.templates),
                "constraints": [CONSTRAINT_NAMES[k] for k in self.constraints],
            }
        )


def _custom_resource(
    resource_name: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        metadata=manifest["metadata"],
        spec=manifest["spec"],
        opts=opts,
    )
