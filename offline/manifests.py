"""The Kubernetes objects of a plan as the API server would receive them, checked against its schemas.

Kubernetes resources record their whole manifest as inputs (apiVersion, kind, metadata, spec...), so
the plan already holds what ``kubectl get -o yaml`` would show. Objects of Kubernetes' own APIs are
validated against the OpenAPI schemas of the cluster's version (``kubernetes-validate``); custom
resources against the schemas derived from their CRDs at the pinned versions (:mod:`offline.crds`), and
one whose kind has none is a problem too. Both checks are strict: an undeclared field is an error, as
the API server would drop it silently. Helm releases are rendered by Helm at deploy time, so only their
chart, version and values are listed; their values are checked against the paths their charts declare
at the pinned versions (:mod:`offline.charts`), as Helm ignores a value its chart does not read.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import kubernetes_validate
import yaml

from offline import charts, crds
from offline.runner import Plan, Secret, redacted

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def _read_each_schema_once() -> None:
    """kubernetes-validate reads and parses its schema files for every object it checks, the shared
    definitions (megabytes of JSON) included: 8 ms an object. They are the installed package's data and
    never change, so this process parses each file once; a file that is not there (a kind with no
    schema, as a custom resource has) still raises each time."""
    from kubernetes_validate import utils

    utils.schema_contents = functools.cache(utils.schema_contents)


_read_each_schema_once()


def _ordered(manifest: dict[str, Any]) -> dict[str, Any]:
    """apiVersion, kind and metadata first, as Kubernetes writes them; the rest by name."""
    head = ("apiVersion", "kind", "metadata")
    return {
        **{key: manifest[key] for key in head if key in manifest},
        **{key: manifest[key] for key in sorted(manifest) if key not in head},
    }


def _sort_key(manifest: dict[str, Any]) -> tuple[bool, str, str, str]:
    """Namespaces first (the rest goes into them), then by kind, namespace and name: a stable listing."""
    metadata = manifest.get("metadata") or {}
    kind = str(manifest.get("kind"))
    return kind != "Namespace", kind, str(metadata.get("namespace", "")), str(metadata.get("name", ""))


def _keys_shown(value: Any) -> Any:
    """A secret mapping (a Secret's ``stringData``) as its keys, each value ``[secret]``: what the schema
    checks is its shape, and its keys are no secret (``kubectl describe`` shows them)."""
    if isinstance(value, Secret) and isinstance(value.value, dict):
        return {key: "[secret]" for key in value.value}
    return value


def objects(plan: Plan) -> list[dict[str, Any]]:
    """Every Kubernetes object the plan creates (Helm releases and providers aside), namespaces first,
    with secrets shown as ``[secret]``."""
    found = [
        _ordered(redacted({key: _keys_shown(value) for key, value in r.inputs.items()}))
        for r in plan.resources
        if r.type.startswith("kubernetes:") and r.type != HELM_RELEASE and "kind" in r.inputs
    ]
    return sorted(found, key=_sort_key)


def releases(plan: Plan) -> list[dict[str, Any]]:
    """Each Helm release: what Helm will render at deploy time."""
    return [
        {
            "release": r.inputs.get("name", r.name),
            "namespace": r.inputs.get("namespace"),
            "chart": r.inputs.get("chart"),
            "version": r.inputs.get("version"),
            "repository": (r.inputs.get("repositoryOpts") or {}).get("repo"),
            "values": r.inputs.get("values", {}),
        }
        for r in plan.of_type(HELM_RELEASE)
    ]


def _name(manifest: dict[str, Any]) -> str:
    metadata = manifest.get("metadata") or {}
    where = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
    return f"{manifest.get('kind')} {where}{metadata.get('name', '?')}"


@dataclass(frozen=True)
class Validation:
    """The schema check of a plan's objects against one Kubernetes version and the CRDs' schemas."""

    version: str
    checked: int
    """Objects of Kubernetes' own APIs checked against its schemas."""
    custom: int
    """Custom resources checked against their CRDs' derived schemas (or found to have none)."""
    problems: tuple[str, ...]
    """One line per problem: the object or release, where, and the schema's complaint."""
    releases: int = 0
    """Helm releases whose values were checked against their charts' derived value paths."""

    @property
    def passed(self) -> bool:
        return not self.problems


def validate(
    manifests: Iterable[dict[str, Any]], version: str, helm_releases: Iterable[dict[str, Any]] = ()
) -> Validation:
    """Check each manifest strictly (unknown fields are errors): Kubernetes' own kinds against ``version``'s
    schemas, custom resources against their CRDs' (:mod:`offline.crds`); and each of ``helm_releases``
    (rows of :func:`releases`) against its chart's value paths (:mod:`offline.charts`)."""
    checked, custom = 0, 0
    problems: list[str] = []
    for manifest in manifests:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            custom += 1
            found = crds.problems(manifest)
            if found is None:
                group = crds.group_version(str(manifest.get("apiVersion")))[0]
                found = [
                    f"no schema for {manifest.get('apiVersion')} {manifest.get('kind')}: derive "
                    f"offline/crds/{crds.file_name(group, str(manifest.get('kind')))} from its CRD "
                    "(python -m offline.crds derive)"
                ]
            problems.extend(f"{_name(manifest)}: {problem}" for problem in found)
            continue
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            problems.append(f"{_name(manifest)}: {path + ': ' if path else ''}{error.message}")
        checked += 1
    helm_releases = list(helm_releases)
    for release in helm_releases:
        problems.extend(charts.problems(release))
    return Validation(version, checked, custom, tuple(problems), len(helm_releases))


def to_yaml(manifests: Iterable[dict[str, Any]], helm_releases: Iterable[dict[str, Any]]) -> str:
    """The objects as one multi-document YAML stream, then the releases as comments."""
    documents = [yaml.safe_dump(m, sort_keys=False) for m in manifests]
    listed = "".join(
        f"#   {r['release']} in {r['namespace']}: chart {r['chart']} {r['version']} from {r['repository']}\n"
        for r in helm_releases
    )
    footer = f"# Helm releases, rendered by Helm at deploy time:\n{listed}" if listed else ""
    return "---\n".join(documents) + footer
