"""What verify is given: the stack's config (what should be true) and its outputs (where to look)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from components.config import StackConfig, StackFileError, parse_stack_config, read_stack_file_config
from components.subnets import Tier

PROJECT_DIR = Path(__file__).resolve().parent.parent


class InputError(Exception):
    """Verify cannot start: a stack, config or outputs file it cannot use. ``str()`` says why."""


class StackOutputs(BaseModel):
    """The outputs verify reads from ``pulumi stack output --json`` (__main__.py exports them)."""

    model_config = ConfigDict(alias_generator=to_camel, frozen=True, extra="ignore")

    region: str | None = None
    vpc_id: str
    public_subnet_ids: list[str]
    private_subnet_ids: list[str]
    database_subnet_ids: list[str]
    cluster_name: str
    node_security_group_id: str
    node_group_names: dict[str, str] = Field(default_factory=dict)
    database_endpoint: str
    cache_endpoint: str

    def subnet_ids(self) -> dict[Tier, list[str]]:
        return {
            "public": self.public_subnet_ids,
            "private": self.private_subnet_ids,
            "database": self.database_subnet_ids,
        }


def parse_outputs(data: Any, *, source: str) -> StackOutputs:
    """Outputs from their JSON; raises InputError naming every missing or ill-typed one."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected the JSON object `pulumi stack output --json` prints")
    try:
        return StackOutputs.model_validate(data)
    except ValidationError as error:
        problems = "".join(
            f"\n  {'.'.join(map(str, e['loc']))}: {'is missing' if e['type'] == 'missing' else e['msg']}"
            for e in error.errors()
        )
        raise InputError(f"{source}: {error.error_count()} unusable stack output(s):{problems}") from None


def read_outputs(path: Path) -> StackOutputs:
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise InputError(f"cannot read the outputs file {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise InputError(f"{path} is not JSON: {error}") from None
    return parse_outputs(data, source=str(path))


def data_tier_identifier(config: StackConfig) -> str:
    """The identifier of the stack's Aurora cluster and ElastiCache replication group: the program names
    both after the EKS cluster (components/platform.py), and exports neither."""
    return config.cluster_name


def stack_names() -> list[str]:
    return sorted(path.name.split(".")[1] for path in PROJECT_DIR.glob("Pulumi.*.yaml"))


def load_config(stack: str) -> StackConfig:
    """The stack's config from ``Pulumi.<stack>.yaml``, parsed by the program's own contract.

    Raises InputError for an unknown stack or unreadable file, and ConfigError for an invalid config.
    """
    path = PROJECT_DIR / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise InputError(
            f"unknown stack {stack!r}: no {path.name}; the stacks are {', '.join(stack_names())}"
        )
    return _parse_stack_file(path, path.name, stack)


def stack_of(path: Path) -> str:
    """The stack a stack file is for: ``Pulumi.prod.yaml`` -> ``prod``; any other file, its stem."""
    parts = path.name.split(".")
    if len(parts) == 3 and parts[0] == "Pulumi" and parts[2] in ("yaml", "yml"):
        return parts[1]
    return path.stem


def load_config_file(path: Path) -> StackConfig:
    """The config in a ``Pulumi.<stack>.yaml``-shaped file anywhere, for the stack its name says.

    Raises InputError for a missing or unreadable file, and ConfigError for an invalid config.
    """
    return _parse_stack_file(path, str(path), stack_of(path))


def _parse_stack_file(path: Path, label: str, stack: str) -> StackConfig:
    try:
        config = read_stack_file_config(path)
    except StackFileError as error:
        raise InputError(str(error).replace(str(path), label, 1)) from None
    # YAML gives the decoded values parse_stack_config takes; no need for the engine's JSON strings.
    return parse_stack_config(config, stack=stack)
