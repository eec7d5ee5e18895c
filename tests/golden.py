"""Golden snapshots: a readable JSON file per snapshot under ``tests/golden/``.

A test fails with a diff when what it snapshots changes. To accept a deliberate change, run the
tests with ``UPDATE_GOLDEN=1`` and commit the rewritten file with the change that caused it.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def _text(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def assert_matches_golden(name: str, data: Any) -> None:
    path = GOLDEN_DIR / f"{name}.json"
    actual = _text(data)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(actual)
        return
    assert path.exists(), f"no golden file {path}; run with UPDATE_GOLDEN=1 to create it"
    expected = path.read_text()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), str(path), "actual")
        )
        raise AssertionError(f"{name} changed (UPDATE_GOLDEN=1 accepts a deliberate change):\n{diff}")
