"""``python -m offline.charts derive``: write a chart version's value paths from its bare git mirror.

    git clone --bare <kubernetes-sigs/metrics-server's URL> mirrors/kubernetes-sigs+metrics-server
    python -m offline.charts derive --repository mirrors/kubernetes-sigs+metrics-server \\
        --tag metrics-server-helm-chart-3.13.1 --path charts/metrics-server

The mirror's directory is named ``<owner>+<name>``, which the file records as the repository.

A sub-chart that is not kept in the chart's ``charts/`` is read with ``--subchart KEY=GIT_DIR:TAG:PATH``
(KEY the alias its values live under); one not read is left open. ``--version`` gives the version
the platform pins where the chart's Chart.yaml holds a placeholder (Istio's, cert-manager's).

Exit codes: 0 written; 2 the chart cannot be read.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from offline.charts import CHARTS_DIR, DeriveError, GitChart, derive, file_name
from offline.runner import PROJECT_DIR

app = typer.Typer(
    help="The derived value paths of the platform's Helm charts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """Value paths of Helm charts, derived from the charts at their tags."""


def repository_name(git_dir: Path) -> str:
    """owner/name of a mirror kept as ``<owner>+<name>/...``; else the directory's own name."""
    for part in reversed(git_dir.resolve().parts):
        if "+" in part:
            return part.replace("+", "/", 1)
    return git_dir.resolve().name


def git_chart(git_dir: Path, tag: str, path: str) -> GitChart:
    return GitChart(git_dir, tag, path.strip("/"), repository_name(git_dir))


@app.command(name="derive")
def derive_command(
    repository: Annotated[Path, typer.Option(help="The bare git mirror of the chart's repository.")],
    tag: Annotated[str, typer.Option(help="The tag the platform pins.")],
    path: Annotated[str, typer.Option(help="The chart's directory in the repository.")],
    subchart: Annotated[
        list[str] | None, typer.Option(help="KEY=GIT_DIR:TAG:PATH for a sub-chart read elsewhere.")
    ] = None,
    chart: Annotated[str | None, typer.Option(help="The chart's name, if not its Chart.yaml's.")] = None,
    version: Annotated[str | None, typer.Option(help="The version, if not its Chart.yaml's.")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write (default offline/charts/).")] = None,
) -> None:
    """Write offline/charts/<chart>-<version>.json from the chart at TAG."""
    subcharts = {}
    for given in subchart or []:
        found = re.fullmatch(r"([^=]+)=(.+):([^:]+):([^:]+)", given)
        if found is None:
            typer.echo(f"--subchart {given}: expected KEY=GIT_DIR:TAG:PATH", err=True)
            raise typer.Exit(2)
        key, git_dir, sub_tag, sub_path = found.groups()
        subcharts[key] = git_chart(Path(git_dir), sub_tag, sub_path)
    try:
        content = derive(git_chart(repository, tag, path), subcharts, name=chart, version=version)
    except (DeriveError, subprocess.CalledProcessError) as problem:
        detail = (
            problem.stderr.decode().strip() if isinstance(problem, subprocess.CalledProcessError) else problem
        )
        typer.echo(str(detail), err=True)
        raise typer.Exit(2) from None
    target = out or CHARTS_DIR / file_name(content["chart"], content["version"])
    target.write_text(json.dumps(content, indent=1) + "\n")
    shown = (
        target.resolve().relative_to(PROJECT_DIR) if target.resolve().is_relative_to(PROJECT_DIR) else target
    )
    typer.echo(f"wrote {shown}")


if __name__ == "__main__":
    app()
