"""Pulumi mocks backed by an emulated AWS account (moto).

``AwsEmulator.new_resource`` creates each resource of an emulated type in moto's
account, so IDs and ARNs are the account's own and the account's own validation
(a subnet outside its VPC, two overlapping subnets, a route to a gateway that does
not exist) fails the run. Types without an emulation get realistic synthetic IDs
and ARNs, derived from the logical name so that they are stable run to run.

To emulate another type, write a handler ``(emulator, args) -> (id, outputs)`` and
register it with ``@handles("<type token>")``; ``outputs`` are merged over the inputs
to give the resource's state, camelCase as the engine would see it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pulumi
from botocore.exceptions import ClientError, ParamValidationError
from pulumi.runtime import rpc

ACCOUNT_ID = "123456789012"
"""moto's default account: every emulated ARN carries it."""

DEFAULT_REGION = "us-east-1"

Outputs = dict[str, Any]
Handler = Callable[["AwsEmulator", pulumi.runtime.MockResourceArgs], tuple[str, Outputs]]
CallHandler = Callable[["AwsEmulator", pulumi.runtime.MockCallArgs], Outputs]

_HANDLERS: dict[str, Handler] = {}
_CALLS: dict[str, CallHandler] = {}


class EmulationError(Exception):
    """The emulated account refused a resource, as the real one would have."""


def handles(token: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[token] = fn
        return fn

    return register


def answers(token: str) -> Callable[[CallHandler], CallHandler]:
    def register(fn: CallHandler) -> CallHandler:
        _CALLS[token] = fn
        return fn

    return register


def emulated_types() -> list[str]:
    """The resource types that are created in the emulated account."""
    return sorted(_HANDLERS)


def short_hash(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def physical_name(logical: str, max_length: int = 255) -> str:
    """Pulumi's auto-naming: the logical name plus a random 7-character suffix (here a stable one)."""
    return f"{logical[: max_length - 8]}-{short_hash(logical, length=7)}"


_SYNTHETIC_PREFIX = {
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt-",
    "aws:kms/key:Key": "",
}


class AwsEmulator(pulumi.runtime.Mocks):
    """Mocks whose resources live in a moto account. Use inside :func:`emulated_account`."""

    def __init__(self, region: str = DEFAULT_REGION) -> None:
        self.region = region
        self._clients: dict[str, Any] = {}
        # The mock monitor registers resources from a thread pool; moto's backends are not thread-safe.
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=self.region)
        return self._clients[service]

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{ACCOUNT_ID}:{resource}"

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        if not args.custom:
            return None, {}
        handler = _HANDLERS.get(args.typ, _synthetic)
        args.inputs = plain(args.inputs)
        with self._lock:
            try:
                resource_id, outputs = handler(self, args)
            except (ClientError, ParamValidationError) as err:
                raise EmulationError(
                    f"the emulated AWS account refused {args.typ} '{args.name}': {_aws_message(err)}"
                ) from None
        return resource_id, {**args.inputs, **outputs, "id": resource_id}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
        """The invoke's result and its check failures (none: an invoke AWS would refuse raises)."""
        handler = _CALLS.get(args.token)
        if handler is None:
            raise EmulationError(f"no emulation for the invoke {args.token}; add one in offline/emulator.py")
        with self._lock:
            return handler(self, args), []


def plain(value: Any) -> Any:
    """Inputs as an AWS API wants them: the SDK's secret wrappers removed, and whole numbers as ints
    (protobuf carries every number as a float: 7.0 -> 7)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return plain(value.get("value"))
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _aws_message(err: Exception) -> str:
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', err)}"
    return str(err)


def _synthetic(emulator: AwsEmulator, args: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    """A resource type moto does not cover: an ID and ARN shaped like AWS's, stable per logical name."""
    package, module_and_type = args.typ.split(":", 1)[0], args.typ.split(":", 1)[1]
    module = module_and_type.split("/")[0].split(":")[0]
    digest = short_hash(args.typ, args.name, length=17)
    if package != "aws":
        return f"{args.name}-{digest[:8]}", {}
    resource_id = _SYNTHETIC_PREFIX.get(args.typ, f"{args.name}-")
    resource_id += digest
    outputs: Outputs = {"arn": emulator.arn(module, f"{args.typ.rsplit(':', 1)[1].lower()}/{resource_id}")}
    if "name" not in args.inputs and "namePrefix" not in args.inputs:
        outputs["name"] = physical_name(args.name)
    return resource_id, outputs


def ec2_tag_specs(resource_type: str, inputs: dict) -> list[dict]:
    tags = inputs.get("tags") or {}
    if not tags:
        return []
    return [{"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


# --- the account itself -------------------------------------------------------------------------------

_ACCOUNT_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    # The program looks up no AMIs; loading moto's thousand would be a fifth of every run.
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    # AWS' managed policies: only those attached are put in (see network._ensure_aws_managed_policy).
    "MOTO_IAM_LOAD_MANAGED_POLICIES": "false",
}


@contextmanager
def emulated_account(region: str = DEFAULT_REGION, seed: int = 0) -> Iterator[AwsEmulator]:
    """A fresh, empty moto account for one run; real credentials are hidden for its duration."""
    from moto import mock_aws
    from moto.moto_api._internal import mock_random

    saved = {key: os.environ.get(key) for key in (*_ACCOUNT_ENVIRONMENT, "AWS_DEFAULT_REGION", "AWS_PROFILE")}
    os.environ.update(_ACCOUNT_ENVIRONMENT, AWS_DEFAULT_REGION=region)
    os.environ.pop("AWS_PROFILE", None)
    try:
        with mock_aws():
            # Seeded so that the emulated IDs are the same from one run to the next.
            mock_random.seed(seed)
            yield AwsEmulator(region)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
