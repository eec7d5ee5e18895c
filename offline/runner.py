"""Run the real Pulumi program in-process under mocks and record what it registers.

This is what the engine would see on ``pulumi preview``: every resource with its type,
name, parent and resolved inputs (camelCase), and the stack outputs. The same runner
serves the CLI, the test suite and the benchmarks, so there is one implementation of
"the program under mocks".
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import runpy
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc, settings
from pulumi.runtime import stack as pulumi_stack
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from components.config import StackConfig, decode_pulumi_config, parse_stack_config, read_stack_file_config
from offline.emulation import DEFAULT_REGION, EmulationError, emulated_account, plain
from offline.emulation.account import AccountOptions, registering

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = "platform"
STACK_TYPE = "pulumi:pulumi:Stack"

# The SDK marks a secret value in a deserialized property bag with this signature key.
_SECRET_SIG = rpc._special_sig_key
_SECRET_VALUE = rpc._special_secret_sig


class Secret:
    """A secret value of a recorded input or output; prints as ``[secret]``."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "[secret]"


def _unwrap(value: Any) -> Any:
    """The SDK's wire form made plain: secrets become :class:`Secret` markers, 7.0 becomes 7."""
    if isinstance(value, dict):
        if value.get(_SECRET_SIG) == _SECRET_VALUE:
            return Secret(_unwrap(value.get("value")))
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return plain(value)


def _as_stored(state: dict[str, Any], inputs: dict[str, Any], declared: frozenset[str]) -> dict[str, Any]:
    """The state as the engine stores it, which the mocks skip: an output is secret when the input of that
    name was, or when the resource declares it among its additional secret outputs."""
    secret = declared | {key for key, value in inputs.items() if isinstance(value, Secret)}
    return {
        key: Secret(value) if key in secret and not isinstance(value, Secret) else value
        for key, value in state.items()
    }


def redacted(value: Any) -> Any:
    """``value`` with every secret replaced by the string ``[secret]``: safe to print."""
    if isinstance(value, Secret):
        return "[secret]"
    if isinstance(value, dict):
        return {k: redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


@dataclass(frozen=True)
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)
    """What the mocks answered: the inputs plus the emulated account's outputs (IDs, ARNs)."""
    protect: bool = False
    ignore_changes: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    """URNs this resource waits for: explicit ``depends_on`` and those its inputs come from."""
    provider: str | None = None
    """The provider reference (``urn::id``) it was given, explicitly or through its parents; None: default."""


@dataclass
class Plan:
    stack: str
    config: StackConfig
    resources: list[RecordedResource]
    outputs: dict[str, Any]

    def of_type(self, type_token: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> RecordedResource:
        found = [r for r in self.of_type(type_token) if name is None or r.name == name]
        if len(found) != 1:
            raise LookupError(f"expected one {type_token} {name or ''}, found {len(found)}")
        return found[0]

    def children(self, urn: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.parent == urn]

    def component(self, type_token: str, name: str | None = None) -> Plan:
        """The part of the plan under one component (``platform:index:Network``): it and its descendants."""
        root = self.one(type_token, name)
        inside = {root.urn}
        while added := {r.urn for r in self.resources if r.parent in inside} - inside:
            inside |= added
        return Plan(self.stack, self.config, [r for r in self.resources if r.urn in inside], self.outputs)

    def symbolic(self, value: Any) -> Any:
        """``value`` with every ID and ARN the account generated replaced by ``<Type:name.path>``.

        The emulated account's IDs are random; references by logical name are what a snapshot can compare.
        Generated means an output the resource's inputs did not set: ``id``, ``arn``, ``*Id``, ``*Arn``.
        """
        references: dict[str, str] = {}

        def strings(item: Any) -> set[str]:
            if isinstance(item, dict):
                return {text for inner in item.values() for text in strings(inner)}
            if isinstance(item, list):
                return {text for inner in item for text in strings(inner)}
            return {item} if isinstance(item, str) else set()

        def collect(resource: RecordedResource, state: Any, given: set[str], path: str) -> None:
            for key, item in state.items():
                if isinstance(item, dict):
                    collect(resource, item, given, f"{path}{key}.")
                # A value the inputs chose (a cluster name that is also its ID) stays literal: renames matter.
                elif (
                    isinstance(item, str)
                    and item not in given
                    and (key in ("id", "arn") or key.endswith(("Id", "Arn")))
                ):
                    references.setdefault(
                        item, f"<{resource.type.rsplit(':', 1)[-1]}:{resource.name}.{path}{key}>"
                    )

        # A resource's own ID and ARN name it first; copies elsewhere (an alias's targetKeyArn) come after.
        for resource in self.resources:
            own = {key: resource.state[key] for key in ("id", "arn") if key in resource.state}
            collect(resource, own, strings(resource.inputs), "")
        for resource in self.resources:
            collect(resource, resource.state, strings(resource.inputs), "")

        def replace(item: Any) -> Any:
            if isinstance(item, dict):
                return {key: replace(inner) for key, inner in item.items()}
            if isinstance(item, list):
                return [replace(inner) for inner in item]
            return references.get(item, item) if isinstance(item, str) else item

        return replace(value)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "resources": [
                {
                    "urn": r.urn,
                    "type": r.type,
                    "name": r.name,
                    "parent": r.parent,
                    "inputs": redacted(r.inputs),
                    # What the emulated account made of it, so that a reader can follow references by ID.
                    "id": r.state.get("id"),
                    "outputs": redacted({key: value for key, value in r.state.items() if key != "id"}),
                }
                for r in self.resources
            ],
            "outputs": redacted(self.outputs),
        }


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, keeping every registration (with its parent) and the stack outputs."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.recorded: list[RecordedResource] = []
        self._claimed: set[str] = set()
        self._claiming = threading.Lock()
        self.stack_urn = ""
        self.stack_outputs: dict[str, Any] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # As the engine does: a child's qualified type is its parent's whole chain (less the stack) + its own.
        if parent and parent != self.stack_urn:
            type_ = f"{parent.split('::')[2]}${type_}"
        return "::".join(["urn:pulumi:" + pulumi.get_stack(), pulumi.get_project(), type_, name])

    def RegisterResource(self, request: Any) -> Any:
        if request.type == STACK_TYPE:
            response = super().RegisterResource(request)
            self.stack_urn = response.urn
            return response
        urn = self.make_urn(request.parent, request.type, request.name)
        # The engine refuses a second registration of a URN; the SDK's mocks would overwrite the first.
        # Registrations arrive from a thread pool: the check and the claim are one step.
        with self._claiming:
            duplicate = urn in self._claimed
            self._claimed.add(urn)
        if duplicate:
            raise EmulationError(f"Duplicate resource URN '{urn}'; try giving it a unique name")
        inputs = _unwrap(rpc.deserialize_properties(request.object))
        dependencies = tuple(
            sorted(
                set(request.dependencies)
                | {urn for deps in request.propertyDependencies.values() for urn in deps.urns}
            )
        )
        registering.urn = urn
        registering.dependencies = dependencies
        try:
            response = super().RegisterResource(request)
        finally:
            registering.urn, registering.dependencies = None, ()
        state = _as_stored(
            _unwrap(self.resources[response.urn].state), inputs, frozenset(request.additionalSecretOutputs)
        )
        self.recorded.append(
            RecordedResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent if request.parent and request.parent != self.stack_urn else None,
                custom=bool(request.custom),
                inputs=inputs,
                state=state,
                protect=bool(request.protect),
                ignore_changes=tuple(request.ignoreChanges),
                dependencies=dependencies,
                provider=request.provider or None,
            )
        )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if request.urn == self.stack_urn:
            self.stack_outputs = _unwrap(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)


class EchoMocks(pulumi.runtime.Mocks):
    """The plainest mocks: every resource echoes its inputs. The benchmarks' baseline."""

    # The few computed outputs the program reads back; echoing inputs cannot supply them.
    _COMPUTED: ClassVar[dict[str, dict[str, Any]]] = {
        "aws:eks/cluster:Cluster": {
            "certificateAuthority": {"data": "Y2E="},
            "identities": [{"oidcs": [{"issuer": "https://oidc.eks.us-east-1.amazonaws.com/id/ECHO"}]}],
            "vpcConfig": {"clusterSecurityGroupId": "sg-echo"},
            "endpoint": "https://echo.eks.amazonaws.com",
        },
        "aws:eks/nodeGroup:NodeGroup": {"resources": [{"autoscalingGroups": [{"name": "eks-echo"}]}]},
    }

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        computed = self._COMPUTED.get(args.typ, {})
        return (f"{args.name}-id" if args.custom else None), {**args.inputs, **computed}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
        """The invoke's result and its check failures (none)."""
        result = {
            "names": [f"us-east-1{z}" for z in "abcdef"],
            "region": "us-east-1",
            "accountId": "123456789012",
        }
        return result, []


# --- stack files ---------------------------------------------------------------------------------------


def _engine_value(value: Any) -> str:
    """Pulumi hands config to the program as strings: objects and lists as JSON, scalars as text."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"secure"}:
        # An encrypted value needs the stack's secrets provider to decrypt; offline it stays opaque.
        return "[secure]"
    return json.dumps(value)


def read_stack_file(path: Path) -> dict[str, str]:
    """The ``config:`` of a ``Pulumi.<stack>.yaml`` as the engine passes it to the program.

    Raises StackFileError (one line naming the file) when it cannot be read as a stack file."""
    return {str(key): _engine_value(value) for key, value in read_stack_file_config(path).items()}


def stack_file(stack: str) -> Path:
    return PROJECT_DIR / f"Pulumi.{stack}.yaml"


# --- running the program -------------------------------------------------------------------------------


@contextmanager
def _program_importable() -> Iterator[None]:
    added = str(PROJECT_DIR) not in sys.path
    if added:
        sys.path.insert(0, str(PROJECT_DIR))
    try:
        yield
    finally:
        if added:
            sys.path.remove(str(PROJECT_DIR))


def main_program() -> None:
    """The project's Pulumi program, ``__main__.py``, as the engine runs it."""
    runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__")


def validate(raw_config: Mapping[str, str], stack: str) -> StackConfig:
    """The stack's typed config; raises ``ConfigError`` listing every problem."""
    return parse_stack_config(decode_pulumi_config(raw_config), stack=stack, project=PROJECT)


def stack_account(config: StackConfig, account: AccountOptions) -> AccountOptions:
    """The emulated account a stack is deployed to: what a person made by hand before its first deploy (the
    roles its config names) is there, and the deploy role runs the program, as CI runs it."""
    made_by_hand = [config.deploy.role_arn, config.deploy.preview_role_arn] if config.deploy else []
    roles = tuple(dict.fromkeys(arn for arn in [*made_by_hand, *config.cluster.admin_role_arns] if arn))
    deployer = config.deploy.role_arn if config.deploy else None
    return dataclasses.replace(
        account, deployer=account.deployer or deployer, roles=tuple(dict.fromkeys([*account.roles, *roles]))
    )


def run_program(
    raw_config: Mapping[str, str],
    stack: str,
    *,
    emulate: bool = True,
    account: AccountOptions | None = None,
) -> Plan:
    """Runs ``__main__.py`` for ``stack`` with ``raw_config`` (engine form) and returns what it registered.

    With ``emulate`` the resources are created in a fresh emulated AWS account (as ``account`` describes
    it); without, under :class:`EchoMocks`. Raises ``ConfigError`` before anything runs when the config is
    invalid, and ``EmulationError`` when the emulated account refuses a resource.
    """
    config = validate(raw_config, stack)
    account = stack_account(config, account or AccountOptions())
    resources, outputs = run_under_mocks(main_program, raw_config, stack, emulate=emulate, account=account)
    return Plan(stack=stack, config=config, resources=resources, outputs=outputs)


@contextmanager
def mocked_stack(
    raw_config: Mapping[str, str],
    stack: str,
    *,
    emulate: bool = True,
    mocks: pulumi.runtime.Mocks | None = None,
    preview: bool = False,
    account: AccountOptions | None = None,
) -> Iterator[RecordingMonitor]:
    """A fresh stack under the mocks, with ``raw_config`` set: an emulated account, echo mocks
    (``emulate=False``) or the given ``mocks``; ``preview`` makes outputs the mocks leave out unknown.

    Yields the monitor that records what a program registers inside the block.
    """
    region = raw_config.get("aws:region", DEFAULT_REGION)
    emulation = emulated_account(region, options=account) if emulate and mocks is None else nullcontext(None)
    with emulation as account_mocks, _program_importable(), _lean_registrations():
        mocks = mocks or account_mocks or EchoMocks()
        monitor = RecordingMonitor(mocks)
        settings.ROOT.set(None)
        pulumi_mocks.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)
        # set_mocks registers a stack of its own; the program gets a fresh one, as under the engine.
        settings.ROOT.set(None)
        # A run that failed leaves its pending RPCs and outputs behind; they are not this run's.
        settings.SETTINGS.rpc_manager.clear()
        settings.SETTINGS.outputs.clear()
        monitor.recorded.clear()
        pulumi.runtime.set_all_config(dict(raw_config))
        _ensure_event_loop().set_exception_handler(_quiet_about_reported_failures)
        yield monitor


RUN_GC_THRESHOLD = 50_000
"""Allocations between the collector's young-generation passes during a run (Python's default is 700).
A registration allocates thousands of short-lived futures and closures, and each pass over the young
objects also ages them towards full collections of everything the SDK's modules hold: a fifth of a
prod run's time at the default. The program makes few reference cycles worth reclaiming early."""


@contextmanager
def _lean_registrations() -> Iterator[None]:
    """What the engine uses and mocks do not, left out while the program runs: the call stack the SDK
    captures at each registration for the engine's source positions (a tenth of a run; the mocks drop
    it), and the collector's frequent passes. Both are restored afterwards; a real ``pulumi up`` never
    runs this."""
    threshold = gc.get_threshold()
    capture = pulumi_resource._get_stack_trace
    gc.set_threshold(RUN_GC_THRESHOLD, *threshold[1:])
    pulumi_resource._get_stack_trace = _no_stack_trace
    try:
        yield
    finally:
        pulumi_resource._get_stack_trace = capture
        gc.set_threshold(*threshold)


def _no_stack_trace() -> Any:
    return pulumi_resource.source_pb2.StackTrace()


def _quiet_about_reported_failures(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A refused resource fails every output that waits on it; the run reports it once, not per output."""
    if isinstance(context.get("exception"), (EmulationError, pulumi.RunError)):
        return
    loop.default_exception_handler(context)


def run_under_mocks(
    program: Callable[[], Awaitable[None] | None],
    raw_config: Mapping[str, str],
    stack: str,
    *,
    emulate: bool = True,
    account: AccountOptions | None = None,
) -> tuple[list[RecordedResource], dict[str, Any]]:
    """Runs any Pulumi ``program`` in a fresh stack under the mocks; its resources (by URN) and outputs."""
    with mocked_stack(raw_config, stack, emulate=emulate, account=account) as monitor:
        _sync_await(pulumi_stack.run_in_stack(program))
    return sorted(monitor.recorded, key=lambda r: r.urn), monitor.stack_outputs


def run_stack(stack: str, *, emulate: bool = True) -> Plan:
    return run_program(read_stack_file(stack_file(stack)), stack, emulate=emulate)
