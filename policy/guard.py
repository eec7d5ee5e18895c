"""``python -m policy.guard PREVIEW_JSON``: refuse a preview that replaces or deletes a stateful resource.

Reads what ``pulumi preview --json`` prints (``-`` for standard input) and lists every step that would
destroy a resource of a stateful type (:data:`STATEFUL`): a replacement (the engine's ``replace``,
``create-replacement`` and ``delete-replaced`` steps of one URN) or a deletion. Policy packs cannot
see this: they judge a resource's inputs, not the operation the engine plans for it.

Exit codes: 0 nothing stateful is destroyed, or each such resource is allowed; 1 some are not (listed);
2 the file is not a preview's JSON. A change that must destroy one is allowed per resource with
``--allow NAME_OR_URN`` (repeatable), or wholesale with ``--allow-all``; the environment variable
``POLICY_GUARD_ALLOW`` takes the same, comma-separated, or ``all``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATEFUL: Mapping[str, str] = {
    "aws:rds/cluster:Cluster": "the Aurora cluster and its data",
    "aws:rds/clusterInstance:ClusterInstance": "an Aurora instance (a failover, dropped connections)",
    "aws:elasticache/replicationGroup:ReplicationGroup": "the Redis data",
    "aws:eks/cluster:Cluster": "the Kubernetes cluster and everything running on it",
    "aws:kms/key:Key": "a KMS key: what it encrypted cannot be read without it",
    "aws:ec2/vpc:Vpc": "the VPC, and with it every subnet, node and database",
    "aws:secretsmanager/secret:Secret": "a secret (a new ARN, a new value)",
    "aws:cloudwatch/logGroup:LogGroup": "a log group and the logs in it (audit, flow logs)",
    "kubernetes:core/v1:Namespace": "a namespace and every object in it",
    "aws:backup/vault:Vault": "a backup vault and the recovery points in it",
    "aws:s3/bucket:Bucket": "a bucket and what it holds (Velero's backups)",
}
"""Types whose replacement or deletion loses data or takes the platform down, and what is lost."""

DESTRUCTIVE_OPS = frozenset({"replace", "create-replacement", "delete-replaced", "delete"})
"""Step operations that destroy the resource they name (the old one, for a replacement)."""

ALLOW_ENV = "POLICY_GUARD_ALLOW"

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_UNREADABLE = 2


@dataclass(frozen=True)
class Finding:
    """A stateful resource the preview destroys: its URN, type, and the operations planned for it."""

    urn: str
    type: str
    ops: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def replaced(self) -> bool:
        return "delete" not in self.ops

    def describe(self) -> str:
        """One line for a person: what happens to what, and what it costs."""
        action = "replaces" if self.replaced else "deletes"
        return f"{action} {self.type} {self.name} ({STATEFUL[self.type]}): {self.urn}"


def _type_of(step: Mapping[str, Any]) -> str:
    """The step's resource type: from its state, or else the last type in its URN's parent chain."""
    for key in ("newState", "oldState"):
        state = step.get(key)
        if isinstance(state, Mapping) and isinstance(state.get("type"), str):
            return str(state["type"])
    parts = str(step.get("urn", "")).split("::")
    return parts[2].rsplit("$", 1)[-1] if len(parts) >= 4 else ""


def findings(preview: Mapping[str, Any]) -> list[Finding]:
    """Each stateful resource the preview destroys, once however many steps it takes, in step order."""
    steps = preview.get("steps")
    if not isinstance(steps, list):
        raise ValueError("no 'steps' list: not the output of `pulumi preview --json`")
    ops: dict[str, list[str]] = {}
    types: dict[str, str] = {}
    for step in steps:
        if not isinstance(step, Mapping) or step.get("op") not in DESTRUCTIVE_OPS:
            continue
        resource_type = _type_of(step)
        if resource_type in STATEFUL:
            urn = str(step.get("urn", ""))
            ops.setdefault(urn, []).append(str(step["op"]))
            types[urn] = resource_type
    return [Finding(urn, types[urn], tuple(found)) for urn, found in ops.items()]


def allowances(flags: Iterable[str], allow_all: bool, environment: Mapping[str, str]) -> set[str]:
    """What the flags and ``POLICY_GUARD_ALLOW`` allow: names or URNs, or ``all``."""
    allowed = {item.strip() for item in environment.get(ALLOW_ENV, "").split(",") if item.strip()}
    allowed |= set(flags)
    if allow_all:
        allowed.add("all")
    return allowed


def is_allowed(finding: Finding, allowed: set[str]) -> bool:
    """Whether ``allowed`` names the finding's resource (by name or URN), or everything."""
    return bool({"all", finding.name, finding.urn} & allowed)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m policy.guard",
        description="Fail when a `pulumi preview --json` replaces or deletes a stateful resource.",
        epilog=(
            f"Exit codes: {EXIT_OK} nothing stateful is destroyed (or all of it is allowed); "
            f"{EXIT_REFUSED} something is; {EXIT_UNREADABLE} the input is not a preview's JSON. "
            f"{ALLOW_ENV}=NAME,URN,... (or 'all') allows as --allow does."
        ),
    )
    parser.add_argument("preview", help="the JSON `pulumi preview --json` printed, or - for standard input")
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="NAME_OR_URN",
        help="a resource this change may replace or delete (its name or URN); repeatable",
    )
    parser.add_argument("--allow-all", action="store_true", help="allow every replacement and deletion")
    return parser


def main(argv: Sequence[str] | None = None, environment: Mapping[str, str] | None = None) -> int:
    """Runs the guard; returns its exit code."""
    args = _parser().parse_args(argv)
    try:
        text = sys.stdin.read() if args.preview == "-" else Path(args.preview).read_text()
        preview = json.loads(text)
        if not isinstance(preview, Mapping):
            raise ValueError("not a JSON object")
        found = findings(preview)
    except (OSError, ValueError) as problem:
        print(f"policy.guard: cannot read {args.preview}: {problem}", file=sys.stderr)
        return EXIT_UNREADABLE
    allowed = allowances(args.allow, args.allow_all, os.environ if environment is None else environment)
    refused = [finding for finding in found if not is_allowed(finding, allowed)]
    for finding in found:
        if finding not in refused:
            print(f"allowed: the preview {finding.describe()}")
    if not refused:
        print(
            f"policy.guard: no stateful resource is replaced or deleted without leave ({len(found)} allowed)"
        )
        return EXIT_OK
    print(f"policy.guard: the preview destroys {len(refused)} stateful resource(s):", file=sys.stderr)
    for finding in refused:
        print(f"  {finding.describe()}", file=sys.stderr)
    print(
        f"If it is meant, allow each with --allow NAME (or {ALLOW_ENV}=NAME,...) once a reviewer agrees.",
        file=sys.stderr,
    )
    return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
