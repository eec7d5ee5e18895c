"""The emulated AWS account, seen from the program: mocks that ask the account's own process
(:mod:`offline.emulation.process`). The program's registrations and the account's work then share the
machine's two cores instead of one interpreter.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import pulumi

from offline.emulation.core import DEFAULT_REGION, plain
from offline.emulation.process import AccountProcess, account_process

registering = threading.local()
"""What the recording monitor knows of the registration being answered on this thread and the mocks'
arguments lack: ``urn`` and ``dependencies`` (the URNs it waits for), which the account keeps to judge
what a request may rely on (an API call made before the grant it needs)."""


class AccountMocks(pulumi.runtime.Mocks):
    """Pulumi mocks whose every resource and invoke is answered by the account's process."""

    def __init__(self, account: AccountProcess) -> None:
        self._account = account

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        urn = getattr(registering, "urn", None)
        dependencies = getattr(registering, "dependencies", ())
        return self._account.ask(
            "resource",
            (args.typ, args.name, plain(args.inputs), args.provider, args.resource_id, args.custom),
            urn,
            tuple(dependencies),
        )

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
        return self._account.ask("call", args.token, plain(args.args), args.provider)


@dataclass(frozen=True)
class AccountOptions:
    """How an emulated account differs from moto's: what a test sets to see the program meet it."""

    zone_ids: Mapping[str, str] = field(default_factory=dict)
    """Zone name -> zone ID. Each account maps the names to the physical zones differently; a name given
    an ID another zone had swaps with it."""
    deployer: str | None = None
    """Who runs the program: the principal the cluster's API authenticates. Default: the account's caller
    identity."""
    roles: tuple[str, ...] = ()
    """IAM roles made by hand before the first deploy (the deploy and preview roles): the account has them."""
    previewing: bool = False
    """Whether the program runs as ``pulumi preview``: the Kubernetes provider then answers a 403 to its
    server-side dry run by falling back to a client-side diff, so a view-only deployer is enough."""


@contextmanager
def emulated_account(
    region: str = DEFAULT_REGION, seed: int = 0, options: AccountOptions | None = None
) -> Iterator[AccountMocks]:
    """Mocks backed by a fresh, empty emulated account in ``region``; the same seed gives the same IDs."""
    account = account_process()
    options = options or AccountOptions()
    account.tell(
        "open", region, seed, dict(options.zone_ids), options.deployer, options.roles, options.previewing
    )
    yield AccountMocks(account)
