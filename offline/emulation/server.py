"""The emulated AWS account's own process: ``python -m offline.emulation.server``.

It answers the requests of :mod:`offline.emulation.process` on its standard input and output, one
pickled request and one pickled reply at a time: ``("open", region, seed)`` empties the account,
``("resource", ...)`` and ``("call", ...)`` are the mocks' two questions, answered by
:class:`~offline.emulation.core.AwsEmulator`. moto works here, on the other core, while the program
registers its resources in the parent; the account's own imports and clients are made once, as soon
as the process starts, and kept from one run to the next.
"""

from __future__ import annotations

import os
import pickle
import sys
import traceback
from collections.abc import Mapping
from typing import IO, Any

import pulumi
from moto import mock_aws
from moto.moto_api._internal import mock_random

from offline.emulation import AwsEmulator, EmulationError
from offline.emulation.core import DEFAULT_REGION
from offline.emulation.lean import lean_moto
from offline.emulation.network import aws_managed_policies

WARM_CALLS = {
    "ec2": "describe_availability_zones",
    "iam": "list_roles",
    "logs": "describe_log_groups",
    "eks": "list_clusters",
    "rds": "describe_db_clusters",
    "elasticache": "describe_cache_subnet_groups",
    "kms": "list_keys",
    "secretsmanager": "list_secrets",
    "sts": "get_caller_identity",
    "s3": "list_buckets",
    "sns": "list_topics",
    "cloudwatch": "describe_alarms",
    "backup": "list_backup_vaults",
    "codebuild": "list_projects",
}
"""A cheap read per service the program uses: moto imports each backend on its first request, and these
make the account do that (a second and a half, most of it EC2's) while the program is still starting."""


class Account:
    """One moto account at a time, emptied by each ``open``; imports and clients outlive it."""

    def __init__(self) -> None:
        # Imported once lean_moto has made moto's imports lean.
        from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

        self._zones = RegionsAndZonesBackend.zones
        self._mock: Any = None
        self._zone_ids = {region: [zone.zone_id for zone in zones] for region, zones in self._zones.items()}
        self.emulator = self.open(DEFAULT_REGION, 0)
        for service, call in WARM_CALLS.items():
            getattr(self.emulator.client(service), call)()
        # The AWS-managed policies' data (moto's, parsed once per process) is read at the first policy
        # attachment: a fifth of a second, now spent while the program still imports.
        aws_managed_policies()

    def open(
        self,
        region: str,
        seed: int,
        zone_ids: Mapping[str, str] | None = None,
        deployer: str | None = None,
        roles: tuple[str, ...] = (),
        previewing: bool = False,
    ) -> AwsEmulator:
        if self._mock is not None:
            self._mock.stop()
        self._mock = mock_aws()
        self._mock.start()
        # Seeded, so that IDs depend only on the order of the requests.
        mock_random.seed(seed)
        self._map_zones(zone_ids or {})
        self.emulator = AwsEmulator(region, deployer=deployer, previewing=previewing)
        self.emulator.make_roles(roles)
        return self.emulator

    def _map_zones(self, zone_ids: Mapping[str, str]) -> None:
        """moto's mapping of zone names to IDs, but for the names given another ID: they swap with the zone
        that had it, as names are a permutation of an account's zones."""
        for region, zones in self._zones.items():
            for zone, zone_id in zip(zones, self._zone_ids[region], strict=True):
                zone.zone_id = zone_id
            for zone in zones:
                wanted = zone_ids.get(zone.name)
                if wanted is not None:
                    holder = next((other for other in zones if other.zone_id == wanted), None)
                    if holder is not None:
                        holder.zone_id = zone.zone_id
                    zone.zone_id = wanted

    def answer(self, request: tuple[Any, ...]) -> Any:
        kind, *rest = request
        if kind == "open":
            self.open(*rest)
            return None
        if kind == "resource":
            fields, urn, dependencies = rest
            return self.emulator.new_resource(
                pulumi.runtime.MockResourceArgs(*fields), urn=urn, dependencies=dependencies
            )
        if kind == "call":
            return self.emulator.call(pulumi.runtime.MockCallArgs(*rest))
        raise ValueError(f"unknown request {kind!r}")


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    account = Account()
    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        try:
            reply: tuple[str, Any] = ("ok", account.answer(request))
        except EmulationError as refusal:
            reply = ("refused", str(refusal))
        except Exception:
            reply = ("failed", traceback.format_exc())
        pickle.dump(reply, replies)
        replies.flush()


def main() -> None:
    # Replies own the real standard output; anything a library prints goes to standard error instead.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    lean_moto()
    serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()
