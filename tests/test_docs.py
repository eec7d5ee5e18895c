"""docs/: the generated configuration reference stays current and complete."""

from __future__ import annotations

from typing import Any

from components.config import StackConfig
from offline import docs
from tests.conftest import offline_cli


def _schema_keys(schema: dict[str, Any], node: dict[str, Any], path: str, found: set[str]) -> None:
    """Key paths of pydantic's own JSON schema of the contract: an enumeration independent of docs.py."""
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    for option in node.get("anyOf", []):
        _schema_keys(schema, option, path, found)
    for name, sub in node.get("properties", {}).items():
        found.add(f"{path}.{name}")
        _schema_keys(schema, sub, f"{path}.{name}", found)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        _schema_keys(schema, extra, f"{path}.<name>", found)
    if isinstance(node.get("items"), dict):
        _schema_keys(schema, node["items"], path, found)


def contract_keys() -> set[str]:
    schema = StackConfig.model_json_schema(by_alias=True)
    found: set[str] = set()
    for section in schema["properties"]:
        if section in {"project", "stack", "region"}:
            continue
        found.add(f"platform:{section}")
        _schema_keys(schema, schema["properties"][section], f"platform:{section}", found)
    # A section's own key is listed once; its keys below it are what the page lists row by row.
    return {key for key in found if key.count(".") or key == "platform:tags"}


def test_the_reference_lists_every_key_the_contract_accepts():
    assert docs.key_paths() == contract_keys()
    text = docs.DOCS_FILE.read_text()
    for key in docs.key_paths():
        leaf = key.rsplit(".", 1)[-1].removeprefix("platform:")
        assert f"`{leaf}`" in text or f"`{key}`" in text, key


def test_the_reference_is_current():
    assert docs.DOCS_FILE.read_text() == docs.render(), "docs/config.md is stale: run `make docs`"


def test_the_check_says_whether_the_reference_is_current(tmp_path, monkeypatch):
    assert offline_cli("docs", "--check").returncode == 0
    stale = tmp_path / "config.md"
    stale.write_text("old\n")
    monkeypatch.setattr(docs, "DOCS_FILE", stale)
    result = offline_cli("docs", "--check")
    assert result.returncode == 1
    assert "docs/config.md is stale: run `make docs`" in result.stderr
    assert offline_cli("docs").returncode == 0
    assert stale.read_text() == docs.render()


def test_every_rule_across_keys_says_what_it_checks():
    from components.config import _RULES

    assert all(rule.__doc__ for _, rule in _RULES)
    text = docs.DOCS_FILE.read_text()
    assert "prod: deletionProtection true, backupRetentionDays >= 30" in text
