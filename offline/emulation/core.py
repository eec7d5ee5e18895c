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

import dataclasses
import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime import rpc

ACCOUNT_ID = "123456789012"
"""moto's default account: every emulated ARN carries it."""

DEFAULT_REGION = "us-east-1"

Outputs = dict[str, Any]
Handler = Callable[["AwsEmulator", pulumi.runtime.MockResourceArgs], tuple[str, Outputs]]
CallHandler = Callable[["AwsEmulator", pulumi.runtime.MockCallArgs], Outputs]

_HANDLERS: dict[str, Handler] = {}
_PACKAGES: dict[str, Handler] = {}
_CALLS: dict[str, CallHandler] = {}


class EmulationError(Exception):
    """The emulated account refused a resource, as the real one would have."""


def refusal(args: pulumi.runtime.MockResourceArgs, code: str, message: str) -> EmulationError:
    """The refusal of a resource, worded as the account words the ones it gets from AWS's own API."""
    return EmulationError(f"the emulated AWS account refused {args.typ} '{args.name}': {code}: {message}")


def provider_key(reference: str | None) -> tuple[str, str] | None:
    """A provider reference (``<urn>::<id>``) as the provider's (name, id): what a resource names its
    provider by, and what the provider's own registration knows of itself."""
    if not reference:
        return None
    urn, _, provider_id = reference.rpartition("::")
    return urn.rpartition("::")[2], provider_id


def handles(token: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[token] = fn
        return fn

    return register


def handles_package(package: str) -> Callable[[Handler], Handler]:
    """Registers the handler of every type of ``package`` (``kubernetes``) that has none of its own."""

    def register(fn: Handler) -> Handler:
        _PACKAGES[package] = fn
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


_NOBODY = json.dumps({"Version": "2012-10-17", "Statement": []})


@dataclass(frozen=True)
class Registered:
    """A resource the account was asked for: what it is, what it became, what it waited for."""

    urn: str
    type: str
    name: str
    state: dict[str, Any]
    dependencies: tuple[str, ...]


_CLIENTS: dict[tuple[str, str], Any] = {}
"""boto3 clients by service and region. moto's mock is process-wide, so a client made in one account
serves the next one too; making one costs a tenth of a second."""


class AwsEmulator(pulumi.runtime.Mocks):
    """Mocks whose resources live in a moto account: use it where moto is active (the account process,
    :mod:`offline.emulation.server`); programs get it through :func:`offline.emulation.emulated_account`."""

    def __init__(
        self, region: str = DEFAULT_REGION, *, deployer: str | None = None, previewing: bool = False
    ) -> None:
        self.home_region = region
        self._deployer = deployer
        self.previewing = previewing
        """A preview: the Kubernetes provider takes a 403 to its dry run as "diff client-side" (see
        :func:`offline.emulation.kubernetes.access_refusal`)."""
        self.registered: dict[str, Registered] = {}
        """What the account was asked to create so far, by URN, with what each waited for."""
        self.registering: Registered | None = None
        """The registration being answered."""
        self.region = region
        """The region of the request being answered: its provider's, else the stack's."""
        self.provider_regions: dict[tuple[str, str], str] = {}
        self.cluster_security_groups: dict[str, str] = {}
        """EKS cluster name -> the security group EKS made for it (moto's clusters have none)."""
        self.kubernetes_clusters: dict[tuple[str, str], str] = {}
        """Kubernetes provider (name, id) -> the EKS cluster its kubeconfig reaches."""
        self.provider_grants: dict[tuple[str, str], set[tuple[str, str, str]]] = {}
        """Kubernetes provider (name, id) -> the (cluster, principal, policy) associations it waits for."""
        self.access_entries: set[tuple[str, str]] = set()
        """(cluster, principal) with an EKS access entry (moto has none)."""
        self.topic_verdicts: dict[str, str | None] = {}
        """SNS topic ARN -> why CloudWatch could not publish to it (None: it can), once judged."""
        # The mock monitor registers resources from a thread pool; moto's backends are not thread-safe.
        self._lock = threading.Lock()

    @property
    def deployer(self) -> str:
        """Who runs the program (the principal the cluster authenticates): given, or the caller identity."""
        if self._deployer is None:
            self._deployer = str(self.client("sts").get_caller_identity()["Arn"])
        return self._deployer

    def make_roles(self, arns: Sequence[str]) -> None:
        """The roles a person made by hand before the first deploy (the deploy and preview roles)."""
        iam = self.client("iam")
        for arn in arns:
            path, _, name = arn.split(":role", 1)[1].rpartition("/")
            iam.create_role(RoleName=name, Path=f"{path}/", AssumeRolePolicyDocument=_NOBODY)

    def depends_on(self, urn: str) -> set[str]:
        """Every URN ``urn`` waits for, directly or through what it waits for."""
        found: set[str] = set()
        pending = [urn]
        while pending:
            registered = self.registered.get(pending.pop())
            for dependency in registered.dependencies if registered else ():
                if dependency not in found:
                    found.add(dependency)
                    pending.append(dependency)
        return found

    def _in_region_of(self, provider: str | None) -> None:
        key = provider_key(provider)
        self.region = self.provider_regions.get(key, self.home_region) if key else self.home_region

    def client(self, service: str) -> Any:
        """A client of ``service`` in the region of the request being answered."""
        return self.client_in(self.region, service)

    def client_in(self, region: str, service: str) -> Any:
        key = (service, region)
        if key not in _CLIENTS:
            import boto3
            import botocore
            from botocore.config import Config

            # Unsigned: moto answers as the same account without a signature, and signing every request
            # was an eighth of the account's time.
            unsigned = Config(signature_version=botocore.UNSIGNED)
            _CLIENTS[key] = boto3.client(service, region_name=region, config=unsigned)
        return _CLIENTS[key]

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{ACCOUNT_ID}:{resource}"

    def new_resource(
        self,
        args: pulumi.runtime.MockResourceArgs,
        urn: str | None = None,
        dependencies: Sequence[str] = (),
    ) -> tuple[str | None, dict]:
        """Creates the resource in the account (refusing it as AWS would). ``urn`` and ``dependencies`` (what
        it waits for) let the account judge what its requests may rely on."""
        from botocore.exceptions import ClientError, ParamValidationError

        registration = Registered(urn or args.name, args.typ, args.name, {}, tuple(dependencies))
        if not args.custom:
            self.registered[registration.urn] = registration
            return None, {}
        handler = _HANDLERS.get(args.typ) or _PACKAGES.get(args.typ.split(":", 1)[0]) or synthetic
        args.inputs = plain(args.inputs)
        with self._lock:
            self._in_region_of(args.provider)
            self.registering = self.registered[registration.urn] = registration
            try:
                resource_id, outputs = handler(self, args)
            except (ClientError, ParamValidationError) as err:
                raise EmulationError(
                    f"the emulated AWS account refused {args.typ} '{args.name}': {_aws_message(err)}"
                ) from None
            state = {**args.inputs, **outputs, "id": resource_id}
            self.registered[registration.urn] = dataclasses.replace(registration, state=state)
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
        """The invoke's result and its check failures (none: an invoke AWS would refuse raises)."""
        handler = _CALLS.get(args.token)
        if handler is None:
            raise EmulationError(
                f"no emulation for the invoke {args.token}; add one in offline/emulation/invokes.py"
            )
        with self._lock:
            self._in_region_of(args.provider)
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
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', err)}"
    return str(err)


@handles("pulumi:providers:aws")
def _aws_provider(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    """A provider is the region its resources are made in; without one of its own, the stack's."""
    provider_id = f"{a.name}-{short_hash(a.typ, a.name)}"
    e.provider_regions[(a.name, provider_id)] = a.inputs.get("region") or e.home_region
    return provider_id, {}


def synthetic(emulator: AwsEmulator, args: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
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
