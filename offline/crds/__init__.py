"""The schemas of the custom resources the platform makes, derived from each CRD at the pinned version.

The API server prunes a field its CRD does not declare, silently: a misspelt ``spec.ttl`` of a Velero
Schedule is dropped and the schedule keeps backups forever. So every custom resource of a plan is checked
here against its CRD's ``openAPIV3Schema``, strictly: an undeclared field is an error, as are a wrong
type, a value outside an enum and a missing required field.

Each file ``offline/crds/<group>_<Kind>.json`` holds, for one kind, where its CRD was read (repository,
tag, commit, path), the versions the CRD serves and, for the versions the platform uses, the schema
pruned to the fields the platform's objects set (descriptions and CEL rules stripped). It is written by
``python -m offline.crds derive`` from the CRD file at the pinned tag: the derivation itself fails on a
field the CRD does not declare. A later object that sets a field outside the pruned schema fails the
check with a hint to derive again; the CRD decides whether the field exists.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

CRDS_DIR = Path(__file__).parent

KEPT_KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "format",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "uniqueItems",
        "nullable",
        "required",
        "oneOf",
        "anyOf",
        "allOf",
        "not",
        "default",
        "x-kubernetes-int-or-string",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
    }
)
"""What a pruned schema keeps of each node besides properties, items and additionalProperties."""


def file_name(group: str, kind: str) -> str:
    return f"{group}_{kind}.json"


@dataclass(frozen=True)
class CrdSchema:
    """One kind's derived schema file."""

    group: str
    kind: str
    scope: str
    served: tuple[str, ...]
    """Every version the CRD serves."""
    schemas: Mapping[str, dict[str, Any]]
    """Version -> the pruned openAPIV3Schema, for the versions the platform's objects use."""
    source: Mapping[str, str]
    path: Path

    @classmethod
    def load(cls, path: Path) -> CrdSchema:
        data = json.loads(path.read_text())
        return cls(
            group=data["group"],
            kind=data["kind"],
            scope=data["scope"],
            served=tuple(data["served"]),
            schemas=data["schemas"],
            source=data["source"],
            path=path,
        )


@cache
def known() -> dict[tuple[str, str], CrdSchema]:
    """Every derived schema in the repository, by (group, kind)."""
    found = {}
    for path in sorted(CRDS_DIR.glob("*_*.json")):
        schema = CrdSchema.load(path)
        found[(schema.group, schema.kind)] = schema
    return found


def group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


# --- checking an object -----------------------------------------------------------------------------


def _strict(node: Any) -> Any:
    """A structural schema as JSON Schema that refuses what the API server would prune."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items() if not key.startswith("x-kubernetes-")}
    out.pop("nullable", None)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [*out.get("anyOf", []), {"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    preserves = node.get("x-kubernetes-preserve-unknown-fields")
    if node.get("type") == "object" and "additionalProperties" not in node and not preserves:
        out["additionalProperties"] = False
        out.setdefault("properties", {})
    return out


@cache
def _validator(group: str, kind: str, version: str) -> jsonschema.Draft7Validator | None:
    schema = known()[(group, kind)].schemas.get(version)
    if schema is None:
        return None
    root = _strict(copy.deepcopy(schema))
    # The API server checks apiVersion, kind and metadata itself; the rest is the CRD's.
    root.setdefault("properties", {}).update(
        {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}
    )
    return jsonschema.Draft7Validator(root)


def problems(manifest: Mapping[str, Any]) -> list[str] | None:
    """What the API server would refuse or prune of ``manifest``; None when no derived schema covers its
    kind (the caller decides whether that is allowed)."""
    group, version = group_version(str(manifest.get("apiVersion", "")))
    kind = str(manifest.get("kind", ""))
    crd = known().get((group, kind))
    if crd is None:
        return None
    if version not in crd.served:
        return [f"{group}/{version} is not served by the CRD of {kind} (serves {', '.join(crd.served)})"]
    validator = _validator(group, kind, version)
    if validator is None:
        return [
            f"{group}/{version} {kind}: {crd.path.name} has no schema for {version}; derive it again "
            "(python -m offline.crds derive)"
        ]
    found = []
    for error in sorted(validator.iter_errors(dict(manifest)), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(part) for part in error.absolute_path)
        hint = ""
        if error.validator == "additionalProperties":
            hint = (
                f" (not in {crd.path.name}, derived from {crd.source['repository']} {crd.source['tag']}: "
                "if that CRD declares it, derive the file again)"
            )
        found.append(f"{path + ': ' if path else ''}{error.message}{hint}")
    return found


# --- deriving a file from a CRD -------------------------------------------------------------------------


class DeriveError(Exception):
    """The platform's objects set what the CRD does not declare, or the CRD is not in the file."""


def _prune(schema: Any, values: list[Any], path: str, unknown: list[str]) -> Any:
    """``schema`` with only what ``values`` (every object's value at this node) use; undeclared fields of
    theirs go to ``unknown``."""
    if not isinstance(schema, dict):
        return schema
    out = {key: copy.deepcopy(value) for key, value in schema.items() if key in KEPT_KEYWORDS}
    for key in ("oneOf", "anyOf", "allOf", "not"):
        if key in out:
            out[key] = _strip(out[key])
    if schema.get("x-kubernetes-preserve-unknown-fields") and "properties" not in schema:
        return out
    mappings = [v for v in values if isinstance(v, dict)]
    if "properties" in schema:
        used = sorted({key for value in mappings for key in value})
        properties = schema["properties"]
        declared_elsewhere = "additionalProperties" in schema or schema.get(
            "x-kubernetes-preserve-unknown-fields"
        )
        for key in used:
            if key not in properties and not declared_elsewhere:
                unknown.append(f"{path}.{key}".lstrip("."))
        out["properties"] = {
            key: _prune(properties[key], [v[key] for v in mappings if key in v], f"{path}.{key}", unknown)
            for key in used
            if key in properties
        }
        if "additionalProperties" in schema:
            extra = [v[k] for v in mappings for k in v if k not in properties]
            out["additionalProperties"] = _prune(schema["additionalProperties"], extra, f"{path}.*", unknown)
    elif "additionalProperties" in schema:
        extra = [item for value in mappings for item in value.values()]
        out["additionalProperties"] = _prune(schema["additionalProperties"], extra, f"{path}.*", unknown)
    if "items" in schema:
        items = [item for value in values if isinstance(value, list) for item in value]
        out["items"] = _prune(schema["items"], items, f"{path}[]", unknown)
    return out


def _strip(node: Any) -> Any:
    if isinstance(node, list):
        return [_strip(item) for item in node]
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in {"description", "x-kubernetes-validations"}}
    return node


def crd_documents(text: str) -> Iterator[dict[str, Any]]:
    import yaml

    for document in yaml.safe_load_all(text):
        if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
            yield document


def derive(
    crd: Mapping[str, Any], objects: Iterable[Mapping[str, Any]], source: Mapping[str, str]
) -> dict[str, Any]:
    """The file's content for ``crd``, pruned to what ``objects`` (of its kind) set."""
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    served = [v["name"] for v in spec["versions"] if v.get("served")]
    mine = [
        o for o in objects if group_version(str(o.get("apiVersion")))[0] == group and o.get("kind") == kind
    ]
    if not mine:
        raise DeriveError(f"no object of the plans is a {group} {kind}: nothing to derive")
    schemas: dict[str, Any] = {}
    unknown: list[str] = []
    for version in spec["versions"]:
        using = [o for o in mine if group_version(str(o["apiVersion"]))[1] == version["name"]]
        if not using:
            continue
        if not version.get("served"):
            raise DeriveError(f"{group}/{version['name']} {kind} is not served by the CRD")
        schema = version["schema"]["openAPIV3Schema"]
        body = [{k: v for k, v in o.items() if k not in {"apiVersion", "kind", "metadata"}} for o in using]
        pruned = _prune(schema, body, "", unknown)
        pruned.get("properties", {}).pop("status", None)
        schemas[version["name"]] = pruned
    if unknown:
        raise DeriveError(
            f"the plans' {kind} objects set fields the CRD does not declare (the API server prunes them): "
            + ", ".join(sorted(set(unknown)))
        )
    return {
        "group": group,
        "kind": kind,
        "scope": spec["scope"],
        "served": served,
        "source": dict(source),
        "note": "openAPIV3Schema of the CRD at source, pruned to the fields the platform's objects set; "
        "descriptions and CEL rules stripped. Written by python -m offline.crds derive; do not edit.",
        "schemas": schemas,
    }
