"""``make bench``: what the emulated account costs over plain echo mocks, and how the preview scales.

1. Each stack's program runs ``--repeat`` times under each kind of mocks, interleaved so that both
   see the same machine; the median of each is reported with their ratio.
2. Prod's program runs at 1x, half ``--scale`` and ``--scale`` times its node groups, mesh services
   and namespaces (the config accepts them all, whether or not a component consumes them yet), in
   the emulated account: the time of each, the ratio of the largest to 1x, the time per resource, and
   what each added resource costs from one step to the next (the same, when scaling is linear).

The first run of all (imports, provider schemas) is a warm-up and is not counted.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from offline.runner import read_stack_file, run_program, stack_file

STACKS = ("dev", "staging", "prod")
SCALED_STACK = "prod"


def _time(stack: str, raw: Mapping[str, str], emulate: bool) -> tuple[float, int]:
    start = time.perf_counter()
    plan = run_program(raw, stack, emulate=emulate)
    return time.perf_counter() - start, len(plan.resources)


def _median(stack: str, raw: Mapping[str, str], emulate: bool, repeat: int) -> tuple[float, int]:
    runs = [_time(stack, raw, emulate) for _ in range(repeat)]
    return statistics.median(seconds for seconds, _ in runs), runs[-1][1]


def measure(stacks: Sequence[str], repeat: int) -> Table:
    table = Table(title=f"offline preview, median of {repeat} runs")
    for column in ("stack", "resources", "echo mocks (s)", "emulated account (s)", "ratio"):
        table.add_column(column, justify="left" if column == "stack" else "right")
    configs = {stack: read_stack_file(stack_file(stack)) for stack in stacks}
    _time(stacks[0], configs[stacks[0]], emulate=True)
    for stack in stacks:
        echo: list[float] = []
        emulated: list[float] = []
        count = 0
        for _ in range(repeat):
            seconds, count = _time(stack, configs[stack], emulate=False)
            echo.append(seconds)
            seconds, count = _time(stack, configs[stack], emulate=True)
            emulated.append(seconds)
        echo_median, emulated_median = statistics.median(echo), statistics.median(emulated)
        table.add_row(
            stack,
            str(count),
            f"{echo_median:.2f}",
            f"{emulated_median:.2f}",
            f"{emulated_median / echo_median:.2f}x",
        )
    return table


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


def measure_scaling(factor: int, repeat: int) -> tuple[Table, str]:
    """Prod at 1x, half of ``factor`` and ``factor`` times, in the emulated account: the table, and the
    verdict in one line. Linear means each resource added costs the same from one step to the next."""
    raw = read_stack_file(stack_file(SCALED_STACK))
    table = Table(title=f"{SCALED_STACK} scaled, emulated account, median of {repeat} runs")
    columns = ("scale", "node groups", "mesh services", "namespaces", "resources", "time (s)", "per resource")
    for column in columns:
        table.add_column(column, justify="left" if column == "scale" else "right")
    _time(SCALED_STACK, raw, emulate=True)
    results: list[tuple[int, float, int]] = []
    for times in sorted({1, max(2, factor // 2), factor}):
        config = scaled_config(raw, times)
        seconds, resources = _median(SCALED_STACK, config, emulate=True, repeat=repeat)
        results.append((times, seconds, resources))
        cluster, mesh, namespaces = (
            json.loads(config[f"platform:{key}"]) for key in ("cluster", "mesh", "namespaces")
        )
        counts = (len(cluster["nodeGroups"]), len(mesh["services"]), len(namespaces))
        table.add_row(
            f"{times}x",
            *map(str, counts),
            str(resources),
            f"{seconds:.2f}",
            f"{seconds / resources * 1000:.1f} ms",
        )
    (_, base, base_count), (_, big, big_count) = results[0], results[-1]
    steps = ", ".join(
        f"{low}x to {high}x {(t2 - t1) / (n2 - n1) * 1000:.1f} ms"
        for (low, t1, n1), (high, t2, n2) in itertools.pairwise(results)
    )
    per_resource = (
        f"{base / base_count * 1000:.1f} ms per resource at 1x, {big / big_count * 1000:.1f} ms at {factor}x"
    )
    ratio = f"time {big / base:.2f}x for {big_count / base_count:.2f}x the resources"
    verdict = f"{factor}x/1x: {ratio} ({per_resource}); each resource added: {steps}"
    return table, verdict


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m offline.bench", description=__doc__)
    parser.add_argument("--stack", action="append", choices=STACKS, help="stack to time (default: all)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per stack and kind of mocks (default 5)")
    parser.add_argument("--scale", type=int, default=10, help="the larger prod's multiple (default 10)")
    args = parser.parse_args(argv)
    console = Console()
    console.print(measure(args.stack or STACKS, args.repeat))
    table, verdict = measure_scaling(args.scale, args.repeat)
    console.print(table)
    console.print(verdict)


if __name__ == "__main__":
    main()
