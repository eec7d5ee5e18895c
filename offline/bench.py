"""``make bench``: what the emulated account costs over plain echo mocks, per stack, in one run.

Each stack's program runs ``--repeat`` times under each kind of mocks, interleaved so that
both see the same machine; the median of each is reported with their ratio. The first run
of all (imports, provider schemas) is a warm-up and is not counted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from offline.runner import read_stack_file, run_program, stack_file

STACKS = ("dev", "staging", "prod")


def _time(stack: str, raw: dict[str, str], emulate: bool) -> tuple[float, int]:
    start = time.perf_counter()
    plan = run_program(raw, stack, emulate=emulate)
    return time.perf_counter() - start, len(plan.resources)


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


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m offline.bench", description=__doc__)
    parser.add_argument("--stack", action="append", choices=STACKS, help="stack to time (default: all)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per stack and kind of mocks (default 5)")
    args = parser.parse_args(argv)
    Console().print(measure(args.stack or STACKS, args.repeat))


if __name__ == "__main__":
    main()
