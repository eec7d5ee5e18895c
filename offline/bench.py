"""``make bench``: the offline preview as a newcomer runs it, timed whole-process.

1. Each stack's ``python -m offline preview --stack S --json`` runs ``--repeat`` times, interleaved
   with the same command under plain echo mocks (``--echo-mocks``: the same program and the same
   process, with no emulated account). The minimum and median of each, and the ratio of the minimums:
   the minimum is the run the machine disturbed least, which is what two commands are compared by.
2. Prod runs the same way at 1x, half ``--scale`` and ``--scale`` times its node groups, mesh services
   and namespaces: the time of each, the time per resource, and what each added resource costs from one
   step to the next (the same, when the preview scales linearly).

Each figure is a whole process, from the interpreter's start to its exit: imports, the account's
start, the program, the policy checks and the JSON printed. ``--budget`` names the whole-process
targets (prod at most 1.5x the echo mocks and under 5 s) and the report says whether they held.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from offline.cli import ECHO_MOCKS, EXIT_POLICY
from offline.runner import PROJECT_DIR, read_stack_file, stack_file

STACKS = ("dev", "staging", "prod")
SCALED_STACK = "prod"
RATIO_BUDGET = 1.5
"""Prod's whole-process preview may take at most this many times the echo mocks' run."""
SECONDS_BUDGET = 5.0
"""...and at most this many seconds."""


@dataclass(frozen=True)
class Timing:
    runs: tuple[float, ...]
    resources: int

    @property
    def best(self) -> float:
        return min(self.runs)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


def _preview(args: Sequence[str], *, echo: bool) -> tuple[float, int]:
    """One whole ``python -m offline preview ... --json``: its wall time and the resources it planned."""
    command = [sys.executable, "-m", "offline", "preview", *args, "--json", *([ECHO_MOCKS] if echo else [])]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    # Echo mocks make up outputs (no ARNs, no secrets' IDs) that the policy pack rightly refuses.
    allowed = (0, EXIT_POLICY) if echo else (0,)
    if done.returncode not in allowed:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr}")
    return seconds, len(json.loads(done.stdout)["resources"])


def _timed(args: Sequence[str], repeat: int, *, echo: bool = False) -> Timing:
    runs = [_preview(args, echo=echo) for _ in range(repeat)]
    return Timing(tuple(seconds for seconds, _ in runs), runs[-1][1])


def measure(stacks: Sequence[str], repeat: int) -> tuple[Table, dict[str, tuple[Timing, Timing]]]:
    table = Table(title=f"whole-process offline preview, {repeat} runs each (min / median)")
    for column in ("stack", "resources", "echo mocks", "emulated account", "ratio (min)"):
        table.add_column(column, justify="left" if column == "stack" else "right")
    results: dict[str, tuple[Timing, Timing]] = {}
    for stack in stacks:
        echo_runs: list[float] = []
        emulated_runs: list[float] = []
        count = 0
        # Interleaved, so that both kinds see the same machine.
        for _ in range(repeat):
            echo_runs.append(_preview(("--stack", stack), echo=True)[0])
            seconds, count = _preview(("--stack", stack), echo=False)
            emulated_runs.append(seconds)
        echo, emulated = Timing(tuple(echo_runs), count), Timing(tuple(emulated_runs), count)
        results[stack] = (echo, emulated)
        table.add_row(
            stack,
            str(count),
            f"{echo.best:.2f} / {echo.median:.2f} s",
            f"{emulated.best:.2f} / {emulated.median:.2f} s",
            f"{emulated.best / echo.best:.2f}x",
        )
    return table, results


def verdict(echo: Timing, emulated: Timing) -> str:
    ratio = emulated.best / echo.best
    held = ratio <= RATIO_BUDGET and emulated.best < SECONDS_BUDGET
    return (
        f"{SCALED_STACK}: {emulated.best:.2f} s, {ratio:.2f}x the echo mocks "
        f"(budget: at most {RATIO_BUDGET}x and under {SECONDS_BUDGET:g} s): "
        + ("within budget" if held else "OVER BUDGET")
    )


# --- scaling --------------------------------------------------------------------------------------------


def _copies(entries: Mapping[str, Any], factor: int, edit: Callable[[int, Any], Any]) -> dict[str, Any]:
    """Each entry ``factor`` times: the original, then ``<name>-2`` ... ``<name>-<factor>``."""
    return {
        _numbered(name, copy): edit(copy, value)
        for name, value in entries.items()
        for copy in range(1, factor + 1)
    }


def _numbered(name: str, copy: int) -> str:
    return name if copy == 1 else f"{name}-{copy}"


def _service_copy(copy: int, service: Mapping[str, Any]) -> dict[str, Any]:
    """Copy ``n`` of a mesh service: in copy ``n`` of its namespace, under a prefix of its own."""
    prefix = service.get("pathPrefix", "/")
    if copy > 1:
        prefix = f"{prefix.rstrip('/')}/copy-{copy}"
    return {**service, "namespace": _numbered(service["namespace"], copy), "pathPrefix": prefix}


def scaled_config(raw: Mapping[str, str], factor: int) -> dict[str, str]:
    """``raw`` (engine form) with ``factor`` times its node groups, mesh services and namespaces.

    Copy ``n`` of a service runs in copy ``n`` of its namespace and under its own path prefix, so
    every service's namespace is declared and no two claim the same route, as the config requires.
    """
    scaled = dict(raw)
    cluster = json.loads(raw.get("platform:cluster", "{}"))
    cluster["nodeGroups"] = _copies(cluster.get("nodeGroups", {}), factor, lambda _, group: group)
    mesh = json.loads(raw.get("platform:mesh", "{}"))
    mesh["services"] = _copies(mesh.get("services", {}), factor, _service_copy)
    namespaces = _copies(json.loads(raw.get("platform:namespaces", "{}")), factor, lambda _, spec: spec)
    scaled["platform:cluster"] = json.dumps(cluster)
    scaled["platform:mesh"] = json.dumps(mesh)
    scaled["platform:namespaces"] = json.dumps(namespaces)
    return scaled


def stack_document(raw: Mapping[str, str]) -> str:
    """A ``Pulumi.<stack>.yaml`` holding ``raw`` (engine form: objects as JSON text)."""
    config = {key: json.loads(value) if value[:1] in "[{" else value for key, value in raw.items()}
    return yaml.safe_dump({"config": config}, sort_keys=False)


def measure_scaling(factor: int, repeat: int) -> tuple[Table, str]:
    """Prod at 1x, half of ``factor`` and ``factor`` times, whole-process: the table, and the verdict in
    one line. Linear means each resource added costs the same from one step to the next."""
    raw = read_stack_file(stack_file(SCALED_STACK))
    table = Table(title=f"{SCALED_STACK} scaled, whole-process, {repeat} runs each (min)")
    columns = ("scale", "node groups", "mesh services", "namespaces", "resources", "time", "per resource")
    for column in columns:
        table.add_column(column, justify="left" if column == "scale" else "right")
    results: list[tuple[int, float, int]] = []
    with tempfile.TemporaryDirectory() as directory:
        for times in sorted({1, max(2, factor // 2), factor}):
            config = scaled_config(raw, times)
            # Named like the stack's own file, so the preview runs it as prod.
            path = Path(directory) / f"Pulumi.{SCALED_STACK}.yaml"
            path.write_text(stack_document(config))
            timing = _timed(("--config-file", str(path)), repeat)
            results.append((times, timing.best, timing.resources))
            cluster, mesh, namespaces = (
                json.loads(config[f"platform:{key}"]) for key in ("cluster", "mesh", "namespaces")
            )
            counts = (len(cluster["nodeGroups"]), len(mesh["services"]), len(namespaces))
            table.add_row(
                f"{times}x",
                *map(str, counts),
                str(timing.resources),
                f"{timing.best:.2f} s",
                f"{timing.best / timing.resources * 1000:.1f} ms",
            )
    (_, base, base_count), (_, big, big_count) = results[0], results[-1]
    steps = ", ".join(
        f"{low}x to {high}x {(t2 - t1) / (n2 - n1) * 1000:.1f} ms"
        for (low, t1, n1), (high, t2, n2) in itertools.pairwise(results)
    )
    ratio = f"time {big / base:.2f}x for {big_count / base_count:.2f}x the resources"
    return table, f"{factor}x/1x: {ratio}; each resource added: {steps}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m offline.bench", description=__doc__)
    parser.add_argument("--stack", action="append", choices=STACKS, help="stack to time (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per stack and kind of mocks (default 3)")
    parser.add_argument("--scale", type=int, default=10, help="the larger prod's multiple (default 10)")
    args = parser.parse_args(argv)
    console = Console()
    stacks = args.stack or STACKS
    table, results = measure(stacks, args.repeat)
    console.print(table)
    if SCALED_STACK in results:
        console.print(verdict(*results[SCALED_STACK]))
    table, scaling = measure_scaling(args.scale, args.repeat)
    console.print(table)
    console.print(scaling)


if __name__ == "__main__":
    main()
