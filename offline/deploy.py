"""What CI needs to deploy a stack, read from its file and its plan: the roles to assume, the label of its
in-VPC runner, and what a first deploy from outside the VPC leaves out.

The first deploy of a fresh account (the bootstrap) runs where the cluster's API cannot be reached, since
the runner that can reach it is made by that very deploy. So it leaves out the Kubernetes providers and,
through ``--exclude-dependents``, everything that uses them: the AWS side (network, cluster, node groups,
data tier, the runner) is made, no Kubernetes object is sent. Every later run is a whole ``pulumi up`` on the
runner. The URNs come from the plan, so they follow the program when a provider is renamed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from offline.runner import Plan, RecordedResource

KUBERNETES_PROVIDER = "pulumi:providers:kubernetes"


def bootstrap_excludes(plan: Plan) -> list[str]:
    """The URNs a first deploy passes to ``--exclude`` (with ``--exclude-dependents``)."""
    return [r.urn for r in plan.of_type(KUBERNETES_PROVIDER)]


def dependents(resources: Iterable[RecordedResource], excluded: Iterable[str]) -> set[str]:
    """URNs ``--exclude-dependents`` leaves out with ``excluded``: resources using an excluded provider,
    waiting for an excluded resource, or under an excluded parent, transitively (as the engine does)."""
    resources = list(resources)
    out = set(excluded)
    changed = True
    while changed:
        changed = False
        for r in resources:
            if r.urn in out:
                continue
            # A provider reference is "<urn>::<id>"; the URN itself has "::" in it, so cut at the last.
            provider = r.provider.rsplit("::", 1)[0] if r.provider else None
            if provider in out or r.parent in out or out.intersection(r.dependencies):
                out.add(r.urn)
                changed = True
    return out


def settings(plan: Plan) -> dict[str, str]:
    """What the workflows read before they run Pulumi on the stack (GitHub step outputs)."""
    deploy = plan.config.deploy
    if deploy is None:  # validate() refuses such a config; kept for the type checker
        raise ValueError(f"stack {plan.stack!r} has no platform:deploy")
    return {
        "role_arn": deploy.role_arn,
        "preview_role_arn": deploy.preview_role_arn or "",
        "runner_label": str(plan.outputs.get("deployRunnerLabel") or ""),
        "bootstrap_exclude": "\n".join(bootstrap_excludes(plan)),
    }


def github_output(values: Mapping[str, str], delimiter: str = "EOF_DEPLOY_SETTINGS") -> str:
    """``values`` as ``$GITHUB_OUTPUT`` takes them: ``key=value``, or a here-document for several lines."""
    lines = []
    for key, value in values.items():
        if "\n" in value:
            lines += [f"{key}<<{delimiter}", value, delimiter]
        else:
            lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"
