"""The emulated AWS account: Pulumi mocks whose resources live in moto.

``core`` holds the mocks and the registry; each other module registers the handlers of one
area when imported, so any name taken from this package comes with the full emulation. The account
itself runs in a process of its own (``server``, started by ``process``); ``account`` gives a program
the mocks that ask it.

The names are imported on first use (PEP 562), so that ``offline.emulation.process`` can start the
account's process before the SDK, which the rest imports, is loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from offline.emulation import alerting, compute, data, invokes, kubernetes, network, storage
    from offline.emulation.account import emulated_account
    from offline.emulation.core import (
        ACCOUNT_ID,
        DEFAULT_REGION,
        AwsEmulator,
        EmulationError,
        emulated_types,
        plain,
    )

__all__ = [
    "ACCOUNT_ID",
    "DEFAULT_REGION",
    "AwsEmulator",
    "EmulationError",
    "alerting",
    "compute",
    "data",
    "emulated_account",
    "emulated_types",
    "invokes",
    "kubernetes",
    "network",
    "plain",
    "storage",
]

_HANDLERS = ("alerting", "compute", "data", "invokes", "kubernetes", "network", "storage")
_DEFINED_IN = {"emulated_account": "account"}
"""Where each name that is not a handler module is defined: ``core`` unless listed."""


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for handlers in _HANDLERS:
        importlib.import_module(f"{__name__}.{handlers}")
    if name not in _HANDLERS:
        module = importlib.import_module(f"{__name__}.{_DEFINED_IN.get(name, 'core')}")
        globals()[name] = getattr(module, name)
    return globals()[name]
