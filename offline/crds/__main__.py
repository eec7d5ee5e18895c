"""``python -m offline.crds derive``: write a kind's schema file from its CRD at the pinned version.

Run it with a CRD file read from the upstream repository at the tag the platform pins (not kept in this
repository), after the program makes the objects of that kind:

    python -m offline.crds derive --crd /tmp/schedules.yaml --repository vmware-tanzu/helm-charts \\
        --tag velero-12.1.0 --commit 73466ca9... --path charts/velero/crds/schedules.yaml

Exit codes: 0 written; 2 the CRD file holds no such kind, or the plans' objects set fields it does not
declare (each one listed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from offline.crds import CRDS_DIR, DeriveError, crd_documents, derive, file_name
from offline.manifests import objects
from offline.runner import PROJECT_DIR, run_stack

app = typer.Typer(
    help="The derived schemas of the platform's custom resources.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """Schemas of custom resources, derived from their CRDs."""


@app.command(name="derive")
def derive_command(
    crd: Annotated[Path, typer.Option(help="The CRD YAML file (one or several documents).")],
    repository: Annotated[str, typer.Option(help="Where it was read: owner/name.")],
    tag: Annotated[str, typer.Option(help="The tag the platform pins.")],
    commit: Annotated[str, typer.Option(help="The tag's commit.")],
    path: Annotated[str, typer.Option(help="The CRD file's path in the repository.")],
    kind: Annotated[str | None, typer.Option(help="The kind, when the file holds several CRDs.")] = None,
) -> None:
    """Write offline/crds/<group>_<Kind>.json from CRD, pruned to what every stack's objects set."""
    documents = [
        d for d in crd_documents(crd.read_text()) if kind is None or d["spec"]["names"]["kind"] == kind
    ]
    if len(documents) != 1:
        typer.echo(f"{crd}: {len(documents)} CRDs match; name one with --kind", err=True)
        raise typer.Exit(2)
    (document,) = documents
    stacks = sorted(p.name.split(".")[1] for p in PROJECT_DIR.glob("Pulumi.*.yaml"))
    manifests = [m for stack in stacks for m in objects(run_stack(stack))]
    source = {"repository": repository, "tag": tag, "commit": commit, "path": path}
    try:
        content = derive(document, manifests, source)
    except DeriveError as problem:
        typer.echo(str(problem), err=True)
        raise typer.Exit(2) from None
    target = CRDS_DIR / file_name(content["group"], content["kind"])
    target.write_text(json.dumps(content, indent=1, sort_keys=False) + "\n")
    typer.echo(f"wrote {target.relative_to(PROJECT_DIR)}")


if __name__ == "__main__":
    app()
