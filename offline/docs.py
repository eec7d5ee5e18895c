"""``docs/config.md``, generated from the typed config contract (:mod:`components.config`).

Every key of every section, read from the pydantic models: its type, default, the rules its value must
keep (bounds, patterns, the validators' own descriptions), and its docstring, which stays the one place
a key is documented. Then the rules that span keys (prod's floors among them), and each section's value
in the prod stack file as an example. ``python -m offline docs`` writes it; a test fails when it is stale.

The same command keeps ``docs/architecture.md``'s diagram current: the Mermaid diagram of the prod stack's
plan (what ``python -m offline diagram --stack prod`` prints), between the page's two marker comments. The
rest of that page is written by hand.
"""

from __future__ import annotations

import enum
import inspect
import json
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

from components import config as contract
from offline.diagram import Format, build
from offline.diagram import render as render_diagram
from offline.runner import PROJECT_DIR, Plan, read_stack_file, stack_file

DOCS_FILE = PROJECT_DIR / "docs" / "config.md"
EXAMPLE_STACK = "prod"
ARCHITECTURE_FILE = PROJECT_DIR / "docs" / "architecture.md"
DIAGRAM_STACK = "prod"
"""The stack whose plan docs/architecture.md draws."""
DIAGRAM_START = f"<!-- diagram:{DIAGRAM_STACK} -->"
DIAGRAM_END = "<!-- /diagram -->"


# --- reading the models ---------------------------------------------------------------------------------


def _rules_of(metadata: list[Any]) -> list[str]:
    """What the annotations' constraints and validators demand, in words."""
    rules = []
    for item in metadata:
        match item:
            case annotated_types.Ge(ge=bound):
                rules.append(f">= {bound}")
            case annotated_types.Gt(gt=bound):
                rules.append(f"> {bound}")
            case annotated_types.Le(le=bound):
                rules.append(f"<= {bound}")
            case annotated_types.Lt(lt=bound):
                rules.append(f"< {bound}")
            case annotated_types.MinLen(min_length=bound):
                rules.append(f"at least {bound} long")
            case annotated_types.MaxLen(max_length=bound):
                rules.append(f"at most {bound} long")
            case _ if hasattr(item, "func"):
                doc = inspect.getdoc(item.func)
                if doc:
                    rules.append(" ".join(doc.split()))
            case _ if getattr(item, "metadata", None):
                rules.extend(_rules_of(list(item.metadata)))
    return rules


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """An annotation without its ``Annotated`` layers, and their metadata."""
    metadata: list[Any] = []
    while typing.get_origin(annotation) is typing.Annotated:
        annotation, *extra = typing.get_args(annotation)
        metadata.extend(extra)
    return annotation, metadata


def type_name(annotation: Any) -> str:
    """A type as a platform engineer reads it in YAML."""
    annotation, metadata = _unwrap(annotation)
    inner = _rules_of(metadata)
    suffix = f" ({'; '.join(inner)})" if inner else ""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [type_name(a) for a in args if a is not type(None)]
        nullable = type(None) in args
        return " or ".join(parts) + (" or null" if nullable else "")
    if origin in (list, tuple, frozenset, set):
        return f"list of {type_name(args[0])}" if args else "list"
    if origin in (dict, Mapping):
        return f"mapping of {type_name(args[0])} to {type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"mapping ({_anchor_link(annotation)})"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(f"`{m.value}`" for m in annotation)
    names = {str: "string", int: "integer", bool: "boolean", float: "number"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation))) + suffix


def _anchor_link(model: type[BaseModel]) -> str:
    return f"[{model.__name__}](#{model.__name__.lower()})"


def default_of(info: FieldInfo) -> str:
    factory = info.default_factory
    if isinstance(factory, type) and issubclass(factory, BaseModel):
        return "its defaults"
    if factory is not None:
        value = factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    if isinstance(value, BaseModel):
        return "its defaults"
    text = json.dumps(to_jsonable_python(value, by_alias=True))
    return f"`{text}`" if len(text) <= 80 else "see the description"


def _models_under(annotation: Any) -> Iterator[type[BaseModel]]:
    annotation, _ = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_under(arg)


def _key_path(model: type[BaseModel], path: str) -> Iterator[tuple[type[BaseModel], str]]:
    """``model`` at ``path``, then every model under it at its own path (mapping values as ``<name>``)."""
    yield model, path
    for name, info in model.model_fields.items():
        alias = info.alias or name
        annotation, _ = _unwrap(info.annotation)
        is_mapping = typing.get_origin(annotation) in (dict, Mapping)
        for sub in _models_under(info.annotation):
            yield from _key_path(sub, f"{path}.{alias}" + (".<name>" if is_mapping else ""))


def sections() -> list[tuple[str, type[BaseModel] | None, FieldInfo]]:
    """Each ``platform:<section>`` key: its name, its model (None for a plain mapping), its field."""
    fields = contract.StackConfig.model_fields
    by_alias = {str(info.alias or name): info for name, info in fields.items()}
    found = []
    for section in contract.SECTIONS:
        info = by_alias[section]
        models = list(_models_under(info.annotation))
        found.append((section, models[0] if models else None, info))
    return found


def key_paths() -> set[str]:
    """Every key path the contract accepts, as docs/config.md lists them (``platform:network.cidr``)."""
    found = set()
    for section, model, info in sections():
        root = f"platform:{section}"
        if model is None:
            found.add(root)
            continue
        annotation, _ = _unwrap(info.annotation)
        prefix = root + (".<name>" if typing.get_origin(annotation) in (dict, Mapping) else "")
        for sub, path in _key_path(model, prefix):
            found.update(f"{path}.{info.alias or name}" for name, info in sub.model_fields.items())
    return found


# --- writing the page -------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("``", "`").replace("|", "\\|")


def _table(model: type[BaseModel], path: str) -> list[str]:
    lines = [
        f"### {model.__name__}",
        "",
        f"`{path}`: {_cell(inspect.getdoc(model) or '')}",
        "",
        "| key | type | default | description |",
        "|---|---|---|---|",
    ]
    for name, info in model.model_fields.items():
        rules = _rules_of(list(info.metadata))
        kind = type_name(info.annotation) + (f" ({'; '.join(rules)})" if rules else "")
        description = _cell(info.description or "")
        lines.append(f"| `{info.alias or name}` | {_cell(kind)} | {default_of(info)} | {description} |")
    return [*lines, ""]


def _example(section: str) -> list[str]:
    raw = read_stack_file(stack_file(EXAMPLE_STACK))
    value = raw.get(f"platform:{section}")
    if value is None:
        return [f"`Pulumi.{EXAMPLE_STACK}.yaml` leaves `platform:{section}` at its defaults.", ""]
    document = {f"platform:{section}": json.loads(value) if value[:1] in "{[" else value}
    text = yaml.safe_dump(document, sort_keys=False, default_flow_style=False).rstrip()
    return [f"In `Pulumi.{EXAMPLE_STACK}.yaml`:", "", "```yaml", text, "```", ""]


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m offline docs` (make docs) from components/config.py: edit the",
        "     docstrings there, not this file. tests/test_docs.py fails when it is stale. -->",
        "",
        "Every key lives under `platform:<section>` in `Pulumi.<stack>.yaml`. Keys are camelCase; an unknown",
        'key is an error (with a "did you mean"), and every error of a stack is reported at once with its',
        "key path, before anything is created. Defaults are production's; a stack loosens them explicitly.",
        "",
        "## Sections",
        "",
        "| section | what |",
        "|---|---|",
    ]
    for section, model, info in sections():
        what = inspect.getdoc(model) if model else info.description
        lines.append(f"| [`platform:{section}`](#platform{section.lower()}) | {_cell(what or '')} |")
    lines.append("")
    for section, model, info in sections():
        lines += [f"## platform:{section}", ""]
        if model is None:
            lines += [f"Type: {_cell(type_name(info.annotation))}. {_cell(info.description or '')}", ""]
        else:
            annotation, _ = _unwrap(info.annotation)
            prefix = f"platform:{section}" + (
                ".<name>" if typing.get_origin(annotation) in (dict, Mapping) else ""
            )
            for sub, path in _key_path(model, prefix):
                lines += _table(sub, path)
        lines += _example(section)
    lines += [
        "## Rules across keys",
        "",
        "Checked after every section validated on its own; each error names the key to change.",
        "",
        "| reads | rule |",
        "|---|---|",
    ]
    for reads, rule in contract._RULES:
        doc = inspect.getdoc(rule) or rule.__name__
        lines.append(f"| {', '.join(f'`{r}`' for r in reads)} | {_cell(doc)} |")
    return "\n".join(lines) + "\n"


def write(path: Path | None = None) -> bool:
    """Writes the page (to docs/config.md unless ``path``); whether it changed."""
    path = path or DOCS_FILE
    text = render()
    if path.is_file() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True


# --- the architecture page's diagram ----------------------------------------------------------------------


def diagram_block(plan: Plan) -> str:
    """The diagram of ``plan`` as the page embeds it: a Mermaid block between the two markers."""
    mermaid = render_diagram(build(plan), Format.MERMAID).rstrip("\n")
    return f"{DIAGRAM_START}\n```mermaid\n{mermaid}\n```\n{DIAGRAM_END}"


def with_diagram(page: str, plan: Plan) -> str:
    """``page`` with whatever stands between its diagram markers replaced by the diagram of ``plan``.

    Raises ValueError when the page lacks either marker, or has them out of order."""
    start = page.find(DIAGRAM_START)
    end = page.find(DIAGRAM_END, start + len(DIAGRAM_START)) if start >= 0 else -1
    if start < 0 or end < 0:
        raise ValueError(f"no {DIAGRAM_START} ... {DIAGRAM_END} block to hold the diagram")
    return page[:start] + diagram_block(plan) + page[end + len(DIAGRAM_END) :]


def architecture_is_current(plan: Plan, path: Path | None = None) -> bool:
    """Whether the page (docs/architecture.md unless ``path``) embeds the diagram of ``plan``."""
    path = path or ARCHITECTURE_FILE
    if not path.is_file():
        return False
    page = path.read_text()
    try:
        return page == with_diagram(page, plan)
    except ValueError:
        return False


def write_architecture(plan: Plan, path: Path | None = None) -> bool:
    """Writes the diagram of ``plan`` into the page (docs/architecture.md unless ``path``); whether it
    changed. Raises ValueError when the page has no diagram markers, OSError when there is no page."""
    path = path or ARCHITECTURE_FILE
    page = path.read_text()
    text = with_diagram(page, plan)
    if text == page:
        return False
    path.write_text(text)
    return True
