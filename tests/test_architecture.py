"""docs/architecture.md: its diagram is the prod stack's, as `python -m offline diagram --stack prod` draws
it."""

from __future__ import annotations

from pathlib import Path

import pytest

from offline import docs
from offline.diagram import Format, build, render
from tests.conftest import offline_cli, stack_plan


def test_the_page_embeds_the_diagram_of_the_prod_plan() -> None:
    page = docs.ARCHITECTURE_FILE.read_text()
    diagram = render(build(stack_plan(docs.DIAGRAM_STACK)), Format.MERMAID)
    assert f"{docs.DIAGRAM_START}\n```mermaid\n{diagram}```\n{docs.DIAGRAM_END}" in page, (
        "docs/architecture.md's diagram is stale: run `make docs`"
    )
    assert docs.architecture_is_current(stack_plan(docs.DIAGRAM_STACK))


def _stale_copy(tmp_path: Path) -> Path:
    page = docs.ARCHITECTURE_FILE.read_text()
    stale = tmp_path / "architecture.md"
    stale.write_text(page.replace("EKS control plane", "EKS control plane (old)", 1))
    assert stale.read_text() != page
    return stale


def test_the_check_fails_on_a_stale_diagram_and_docs_rewrites_only_the_diagram(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = _stale_copy(tmp_path)
    monkeypatch.setattr(docs, "ARCHITECTURE_FILE", stale)
    result = offline_cli("docs", "--check")
    assert result.returncode == 1
    assert "docs/architecture.md is stale: run `make docs`" in result.stderr
    assert "docs/config.md is stale" not in result.stderr

    written = offline_cli("docs")
    assert written.returncode == 0, written.stderr
    assert "docs/architecture.md written" in written.stdout
    assert stale.read_text() == (docs.PROJECT_DIR / "docs" / "architecture.md").read_text()
    assert offline_cli("docs", "--check").returncode == 0


def test_a_page_without_the_markers_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "architecture.md"
    page.write_text("# Architecture\n\nNo diagram here.\n")
    monkeypatch.setattr(docs, "ARCHITECTURE_FILE", page)
    assert offline_cli("docs", "--check").returncode == 1
    result = offline_cli("docs")
    assert result.returncode == 1
    assert f"no {docs.DIAGRAM_START} ... {docs.DIAGRAM_END} block" in result.stderr
    assert page.read_text() == "# Architecture\n\nNo diagram here.\n"


def test_whatever_stands_between_the_markers_is_replaced_and_nothing_else() -> None:
    plan = stack_plan(docs.DIAGRAM_STACK)
    page = f"before\n{docs.DIAGRAM_START}\nanything\n{docs.DIAGRAM_END}\nafter\n"
    text = docs.with_diagram(page, plan)
    assert text.startswith(f"before\n{docs.DIAGRAM_START}\n```mermaid\nflowchart LR\n")
    assert text.endswith(f"```\n{docs.DIAGRAM_END}\nafter\n")
    assert docs.with_diagram(text, plan) == text
    with pytest.raises(ValueError):
        docs.with_diagram(f"{docs.DIAGRAM_END}\n{docs.DIAGRAM_START}\n", plan)
