"""The value paths each pinned Helm chart declares, derived from the chart at its release tag.

Helm ignores a value its chart does not read, silently: a misspelt ``resources`` key leaves the pods
unbounded and nothing fails. So the ``values`` of every Helm release of a plan are checked here: each
leaf the platform sets must be a path the chart declares, or lie under a path the chart leaves open.

Each file ``offline/charts/<chart>-<version>.json`` holds, for one chart at one version, where it was read
(repository, tag, commit, path; and the same for each sub-chart) and three sorted lists of dotted paths:

``declared``
    A key of the chart's ``values.yaml`` (at any depth), a path its templates read (``.Values.a.b``,
    ``$.Values.a.b``, ``index .Values "a" "b"``), or a property of its ``values.schema.json``.
``open``
    Anything under it is accepted: a default of ``{}``, ``[]``, ``null``, a list or a free-form map (keys
    such as ``kubernetes.io/os``); a path a template renders whole or walks relatively (``toYaml``,
    ``tpl``, ``with``, ``range``, ``include``, a variable...); a schema object without a closed set of
    properties; ``global`` of a chart with sub-charts; a sub-chart that was not read.
``closed``
    An object whose schema says ``additionalProperties: false``: Helm refuses any other key under it, even
    where ``values.yaml`` left it open.

Paths under an open one are not listed. A sub-chart's paths are under its alias (or name). The files are
written by ``python -m offline.charts derive`` from a bare git mirror of the chart's repository
(:func:`derive`); the check is :func:`problems`.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CHARTS_DIR = Path(__file__).parent

Path_ = tuple[str, ...]
"""A value path, one key a part."""

ISTIO_DEFAULTS = "_internal_defaults_do_not_set"
"""Istio's charts keep their defaults under this key and move them to the top when rendering
(``templates/zzz_profile.yaml``): users set them at the top."""


def file_name(chart: str, version: str) -> str:
    return f"{chart}-{version}.json"


def _dotted(path: Path_) -> str:
    return ".".join(path)


def _split(dotted: str) -> Path_:
    return tuple(dotted.split(".")) if dotted else ()


# --- checking a release -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartValues:
    """One chart version's derived file."""

    chart: str
    version: str
    source: Mapping[str, str]
    declared: frozenset[Path_]
    open: frozenset[Path_]
    closed: frozenset[Path_]
    path: Path

    @classmethod
    def load(cls, path: Path) -> ChartValues:
        data = json.loads(path.read_text())
        return cls(
            chart=data["chart"],
            version=data["version"],
            source=data["source"],
            declared=frozenset(_split(p) for p in data["declared"]),
            open=frozenset(_split(p) for p in data["open"]),
            closed=frozenset(_split(p) for p in data["closed"]),
            path=path,
        )

    def verdict(self, path: Path_) -> str | None:
        """Why Helm would not take the value at ``path``, or None when the chart takes it."""
        for depth in range(1, len(path) + 1):
            prefix = path[:depth]
            if prefix in self.open:
                return None
            if prefix[:-1] in self.closed and prefix not in self.declared:
                return "is refused by the chart's values.schema.json (helm install fails)"
        return None if path in self.declared else "is not declared by the chart (Helm ignores it)"


@cache
def known() -> dict[tuple[str, str], ChartValues]:
    """Every derived file in the repository, by (chart, version)."""
    found = {}
    for path in sorted(CHARTS_DIR.glob("*.json")):
        values = ChartValues.load(path)
        found[(values.chart, values.version)] = values
    return found


def leaves(values: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """The path of every value set: a scalar, a list, or an empty mapping (lists are not entered)."""
    if isinstance(values, Mapping) and values:
        for key, value in values.items():
            yield from leaves(value, (*prefix, str(key)))
    elif prefix:
        yield prefix


def problems(release: Mapping[str, Any]) -> list[str]:
    """What Helm would ignore or refuse of one release's values (a row of ``offline.manifests.releases``)."""
    name = f"Release {release.get('namespace')}/{release.get('release')}"
    chart, version = str(release.get("chart")), str(release.get("version"))
    where = f"{name} (chart {chart} {version})"
    derived = known().get((chart, version))
    if derived is None:
        return [
            f"{where}: no derived values for chart {chart} version {version}: "
            "run python -m offline.charts derive"
        ]
    found = []
    for path in sorted(set(leaves(release.get("values") or {}))):
        verdict = derived.verdict(path)
        if verdict is not None:
            found.append(f"{where}: value '{_dotted(path)}' {verdict}")
    return found


# --- reading a chart ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GitChart:
    """A chart directory at one tag of a bare git mirror."""

    git_dir: Path
    tag: str
    path: str
    repository: str
    """owner/name, for the record."""

    def _git(self, *args: str) -> str:
        return subprocess.run(
            ["git", f"--git-dir={self.git_dir}", *args], check=True, capture_output=True
        ).stdout.decode(errors="replace")  # a chart's files/ may hold binaries: no values in them

    @property
    def commit(self) -> str:
        return self._git("rev-parse", f"{self.tag}^{{commit}}").strip()

    def files(self) -> list[str]:
        """Every file of the chart, relative to its directory."""
        listed = self._git("ls-tree", "-r", "--name-only", self.tag, "--", f"{self.path}/")
        return sorted(line[len(self.path) + 1 :] for line in listed.splitlines())

    def read(self, name: str) -> str:
        return self._git("show", f"{self.tag}:{self.path}/{name}")

    def source(self) -> dict[str, str]:
        return {"repository": self.repository, "tag": self.tag, "commit": self.commit, "path": self.path}

    def at(self, path: str) -> GitChart:
        """Another chart of the same tag (a sub-chart kept in ``charts/``)."""
        return GitChart(self.git_dir, self.tag, path, self.repository)


@dataclass
class Paths:
    """What a chart declares, leaves open and closes; paths from its top."""

    declared: set[Path_] = field(default_factory=set)
    open: set[Path_] = field(default_factory=set)
    closed: set[Path_] = field(default_factory=set)
    scalars: set[Path_] = field(default_factory=set)
    """Paths whose default is a string, number or boolean (nothing can lie under them)."""
    descoped: set[str] = field(default_factory=set)
    """Keys whose values the chart also takes at the top (Istio's ``pilot.*``, ``cni.*``)."""

    def declare(self, path: Path_) -> None:
        """``path`` and each path above it."""
        self.declared.update(path[:depth] for depth in range(1, len(path) + 1))

    def update(self, other: Paths, under: Path_ = ()) -> None:
        self.declared.update((*under, *p) for p in other.declared)
        self.open.update((*under, *p) for p in other.open)
        self.closed.update((*under, *p) for p in other.closed)
        self.scalars.update((*under, *p) for p in other.scalars)
        if not under:
            self.descoped.update(other.descoped)
        self.declare(under)


def _free_form(value: Mapping[Any, Any]) -> bool:
    """A map of names to values rather than of settings: label or annotation keys."""
    return any("." in str(key) or "/" in str(key) for key in value)


def values_paths(values: Any, prefix: Path_ = ()) -> Paths:
    """The paths of a ``values.yaml`` (already parsed)."""
    found = Paths()
    if prefix:
        found.declare(prefix)
    if not isinstance(values, Mapping) or not values or _free_form(values):
        if prefix and (values is None or isinstance(values, Mapping | list)):
            found.open.add(prefix)
        elif prefix:
            found.scalars.add(prefix)
        return found
    for key, value in values.items():
        found.update(values_paths(value, (*prefix, str(key))))
    return found


def _resolve(node: Any, root: Mapping[str, Any]) -> Any:
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        target: Any = root
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def schema_paths(node: Any, root: Mapping[str, Any], prefix: Path_ = ()) -> Paths:
    """The paths of a ``values.schema.json``: its properties, objects open to other keys, closed ones."""
    found = Paths()
    node = _resolve(node, root)
    if not isinstance(node, Mapping):
        return found
    if prefix:
        found.declare(prefix)
    properties: dict[str, Any] = {}
    additional: Any = node.get("additionalProperties")
    for part in [node, *(_resolve(n, root) for k in ("allOf", "anyOf", "oneOf") for n in node.get(k, []))]:
        if isinstance(part, Mapping):
            properties.update(part.get("properties") or {})
            if part.get("additionalProperties") is False:
                additional = False
            if "patternProperties" in part:
                additional = True
    if additional is False:
        found.closed.add(prefix)
    elif not properties and prefix and (node.get("type") == "object" or "type" not in node):
        found.open.add(prefix)  # a free-form object, or a node that says nothing of its shape
    elif additional not in (None, False):
        found.open.add(prefix)  # a map of names to values
    for key, child in properties.items():
        if "." in key or "/" in key:
            found.open.add(prefix)
            continue
        found.update(schema_paths(child, root, (*prefix, key)))
    return found


ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
REF = r"(?:\$\w*)?\.Values((?:\.[A-Za-z_]\w*)*)"
PARENTHESISED = re.compile(r"\(\s*(" + REF + r")\s*\)")
INDEXED = re.compile(r"\(?\s*\bindex\s+" + REF + r'((?:\s+"[^"]*")+)\s*\)?((?:\.[A-Za-z_]\w*)*)')
PICKED = re.compile(r"\bpick\s+" + REF + r'((?:\s+"[^"]*")+)')
PLAIN = re.compile(REF)
RELATIVE = re.compile(r"(?<![\w$)\]\.])\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")
BARE_DOT = re.compile(r"(?<![\w$)\]\.])\.(?![\w.])")
BUILT_IN = frozenset({"Values", "Release", "Chart", "Capabilities", "Files", "Template", "Subcharts"})
DESCOPED = re.compile(r'mustMergeOverwrite\s+\$?\.Values\s+\(\s*index\s+\$?\.Values\s+"([^"]+)"')
"""Istio's ``zzy_descope_legacy.yaml``: the values under this key are merged onto the top."""
OPENS = re.compile(
    r"\b(?:range|toYaml|toJson|toPrettyJson|toRawJson|tpl|include|template|merge\w*|mustMerge\w*"
    r"|deepCopy|dict|omit|keys|values|set|unset|fromYaml)\b|:=|\s=\s"
)
"""Words of an action that render a value whole or let a template read under it without naming the keys
(``with`` is followed instead: the block's relative references are resolved)."""
BLOCKS = frozenset({"if", "with", "range", "define", "block"})


def _keys(quoted: str) -> list[str]:
    return re.findall(r'"([^"]*)"', quoted)


def template_paths(text: str) -> Paths:
    """The paths a template reads, open where it renders or walks a value without naming its keys.

    Inside ``with .Values.x`` the dot is ``x``, so ``.y`` there reads ``x.y``; inside ``range``, a
    ``define`` or a ``with`` over anything else the dot is unknown and relative references are skipped
    (``range`` opens what it walks)."""
    found = Paths()
    contexts: list[Path_ | None] = []
    for match in ACTION.finditer(COMMENT.sub("", text)):
        action = PARENTHESISED.sub(lambda m: m.group(1), match.group(1)).strip().strip("-").strip()
        word = action.split(maxsplit=1)[0] if action else ""
        if word == "end":
            if contexts:
                contexts.pop()
            continue
        dot = contexts[-1] if contexts else ()
        expression = action[len(word) :] if word in {"with", "if"} else action
        opens = bool(OPENS.search(expression))
        found.descoped.update(DESCOPED.findall(action))
        read: list[Path_] = []
        for picked in PICKED.finditer(action):
            base = _split(picked.group(1).lstrip("."))
            for key in _keys(picked.group(2)):
                found.declare((*base, key))
                found.open.add((*base, key))
        for indexed in INDEXED.finditer(action):
            read.append(
                (
                    *_split(indexed.group(1).lstrip(".")),
                    *_keys(indexed.group(2)),
                    *_split(indexed.group(3)[1:]),
                )
            )
        rest = PICKED.sub("", INDEXED.sub("", action))
        read.extend(_split(plain.group(1).lstrip(".")) for plain in PLAIN.finditer(rest))
        if dot:  # inside ``with .Values.x``: relative references read under x
            for relative in RELATIVE.finditer(PLAIN.sub("", rest)):
                path = _split(relative.group(1))
                if path[0] not in BUILT_IN:
                    read.append((*dot, *path))
            if opens and BARE_DOT.search(PLAIN.sub("", rest)):
                found.open.add(dot)
        for path in read:
            if not path:
                continue  # the whole of .Values: nothing to declare
            found.declare(path)
            if opens:
                found.open.add(path)
        if word in BLOCKS:
            inner: Path_ | None = None
            if word == "if":
                inner = dot
            elif word == "with" and not opens and len(read) == 1:
                inner = read[0]
            contexts.append(inner)
    return found


TEMPLATE_DIRS = ("templates/", "files/")
"""Where a chart's text reads values: its templates and helpers, and the files they render (Istio's
injection templates in ``files/``)."""


class DeriveError(Exception):
    """The chart cannot be read as given."""


def chart_paths(chart: GitChart, subcharts: Mapping[str, GitChart], notes: list[str]) -> Paths:
    """Every path ``chart`` declares, with its sub-charts' under their keys (``subcharts`` by key, for
    those not kept in its ``charts/``)."""
    files = chart.files()
    if "values.yaml" not in files:
        raise DeriveError(f"{chart.repository} {chart.tag}: no {chart.path}/values.yaml")
    found = Paths()
    values = yaml.safe_load(chart.read("values.yaml")) or {}
    if isinstance(values.get(ISTIO_DEFAULTS), Mapping):
        values = {**{k: v for k, v in values.items() if k != ISTIO_DEFAULTS}, **values[ISTIO_DEFAULTS]}
    found.update(values_paths(values))
    structured = {(str(k),) for k, v in values.items() if isinstance(v, Mapping) and v}
    schema = Paths()
    if "values.schema.json" in files:
        document = json.loads(chart.read("values.schema.json"))
        schema = schema_paths(document, document)
        found.update(schema)
    for name in files:
        if name.startswith(TEMPLATE_DIRS):
            read = template_paths(chart.read(name))
            # A template that passes a scalar on (to default, include, a variable) opens nothing.
            read.open -= found.scalars
            found.update(read)
    for closed in schema.closed:
        # Helm refuses any other key here, whatever values.yaml or the templates say.
        depth = len(closed) + 1
        for path in list(found.declared | found.open):
            if path[: depth - 1] == closed and len(path) >= depth and path[:depth] not in schema.declared:
                found.declared.discard(path)
                found.open.discard(path)
    for path in list(found.declared | found.open):
        if path and path[0] == ISTIO_DEFAULTS:
            found.declared.discard(path)
            found.open.discard(path)
    wholes = sorted(p[0] for p in found.open if len(p) == 1 and p in structured)
    if wholes:
        notes.append(
            f"{chart.path}: open although values.yaml gives their keys, as a template renders or passes "
            f"them whole (so a misspelt key under them is not caught): {', '.join(wholes)}"
        )
    for key in found.descoped:
        # pilot.x is x: the chart merges one onto the other before any template reads it.
        top = Paths(
            declared={p for p in found.declared if p[0] != key},
            open={p for p in found.open if p[0] != key},
            closed={p for p in found.closed if p and p[0] != key},
        )
        found.open.discard((key,))
        found.update(top, (key,))
    metadata = yaml.safe_load(chart.read("Chart.yaml")) or {}
    dependencies = metadata.get("dependencies") or []
    for dependency in dependencies:
        key = dependency.get("alias") or dependency["name"]
        if dependency.get("condition"):
            for condition in str(dependency["condition"]).split(","):
                found.declare(_split(condition.strip()))
        local = f"charts/{dependency['name']}/Chart.yaml"
        if key in subcharts:
            sub = subcharts[key]
        elif local in files:
            sub = chart.at(f"{chart.path}/charts/{dependency['name']}")
        else:
            notes.append(f"sub-chart {key} ({dependency['name']} {dependency.get('version')}) not read: open")
            found.open.add((key,))
            continue
        found.update(chart_paths(sub, {}, notes), (key,))
    if dependencies:
        found.open.add(("global",))
    return found


def derive(
    chart: GitChart,
    subcharts: Mapping[str, GitChart] | None = None,
    *,
    name: str | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """The file's content for ``chart`` (its name and version from its Chart.yaml unless given)."""
    metadata = yaml.safe_load(chart.read("Chart.yaml")) or {}
    notes: list[str] = []
    subcharts = subcharts or {}
    found = chart_paths(chart, subcharts, notes)
    open_ = {p for p in found.open if p not in found.closed}
    minimal_open = {p for p in open_ if not any(p[:d] in open_ for d in range(1, len(p)))}

    def shown(paths: set[Path_]) -> list[str]:
        kept = (p for p in paths if p and not any(p[:d] in minimal_open for d in range(1, len(p))))
        return sorted(_dotted(p) for p in kept)

    dependencies = {d.get("alias") or d["name"]: d for d in metadata.get("dependencies") or []}
    read_subcharts = {
        key: (subcharts[key] if key in subcharts else chart.at(f"{chart.path}/charts/{d['name']}")).source()
        for key, d in dependencies.items()
        if key in subcharts or f"charts/{d['name']}/Chart.yaml" in chart.files()
    }
    return {
        "chart": name or metadata["name"],
        "version": version or str(metadata["version"]),
        "source": chart.source(),
        "subcharts": dict(sorted(read_subcharts.items())),
        "note": "Value paths of the chart at source: keys of values.yaml, paths its templates read, "
        "properties of values.schema.json; anything under an open path is accepted; a closed object "
        "takes only its declared keys. Written by python -m offline.charts derive; do not edit.",
        "notes": notes,
        "declared": [p for p in shown(found.declared) if _split(p) not in minimal_open],
        "open": shown(minimal_open),
        "closed": sorted(shown(found.closed) + ([""] if () in found.closed else [])),
    }
