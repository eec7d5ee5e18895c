"""The emulated AWS account: Pulumi mocks whose resources live in moto.

``core`` holds the mocks and the registry; each other module registers the handlers of one
area when imported, so importing this package gives the full emulation. The account itself runs in
a process of its own (``server``); ``account`` gives a program the mocks that ask it.
"""

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
