"""The emulated AWS account: Pulumi mocks whose resources live in moto.

``core`` holds the mocks and the registry; each other module registers the handlers of one
area when imported, so importing this package gives the full emulation.
"""

from offline.emulation import compute, data, invokes, network
from offline.emulation.core import (
    ACCOUNT_ID,
    DEFAULT_REGION,
    AwsEmulator,
    EmulationError,
    emulated_account,
    emulated_types,
    plain,
)

__all__ = [
    "ACCOUNT_ID",
    "DEFAULT_REGION",
    "AwsEmulator",
    "EmulationError",
    "compute",
    "data",
    "emulated_account",
    "emulated_types",
    "invokes",
    "network",
    "plain",
]
