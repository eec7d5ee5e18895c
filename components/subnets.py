"""Pure subnet maths for the Network component.

The layout of a VPC depends on its CIDR alone, never on how many AZs are used:
AZ number ``i`` always gets the same three subnets, so raising ``azCount`` adds
subnets and never moves (and so never replaces) an existing one.

Layout for a VPC of prefix ``p`` <= /22 (64 units of ``/(p+6)``):

* private  ``/(p+3)``: AZ ``i`` at unit ``8*i`` (six eighths of the VPC: nodes and pods
  take their IPs from here, so it gets the room);
* public   ``/(p+6)``: AZ ``i`` at unit ``48 + i`` (load balancers and NAT gateways only);
* database ``/(p+6)``: AZ ``i`` at unit ``56 + i``.

A /16 gives /19 private and /22 public and database subnets, the usual EKS shape.
A /23 or /24 is too small for that (AWS' smallest subnet is /28), so there every
subnet is a /28 and AZ ``i`` takes units ``3*i .. 3*i+2``.

Interface endpoints get a /28 per AZ of their own, so that what may reach them on 443 is a
handful of addresses, not every node and pod: in the units the layout above leaves free
(54, 55, 62 and 63, each cut into /28s, in that order), or, in a /23 or /24, unit
``3 * MAX_AZS + i``. They came after the other tiers and move none of them; a VPC too small
for one per AZ (a /22 holds four, a /24 none) cannot have interface endpoints in every AZ.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

Tier = Literal["public", "private", "database", "endpoints"]
TIERS: tuple[Tier, ...] = ("public", "private", "database")
"""The tiers every AZ has; ``endpoints`` subnets exist only where there are interface endpoints."""

MAX_AZS = 6
"""Most AZs any region offers to one account that the layout reserves room for."""

SMALLEST_SUBNET_PREFIX = 28
"""AWS refuses subnets smaller than /28."""

_BANDED_MAX_PREFIX = SMALLEST_SUBNET_PREFIX - 6


@dataclass(frozen=True)
class AzSubnets:
    """The three subnets of one AZ slot."""

    index: int
    public: ipaddress.IPv4Network
    private: ipaddress.IPv4Network
    database: ipaddress.IPv4Network

    def by_tier(self, tier: Tier) -> ipaddress.IPv4Network:
        return {"public": self.public, "private": self.private, "database": self.database}[tier]


_FREE_UNITS = (54, 55, 62, 63)
"""The units of ``/(p+6)`` the banded layout leaves free: where the endpoint subnets go."""


def az_capacity(vpc: ipaddress.IPv4Network) -> int:
    """How many AZs the layout of ``vpc`` has room for (0 when it cannot hold even one)."""
    if vpc.prefixlen <= _BANDED_MAX_PREFIX:
        return MAX_AZS
    units = 2 ** max(0, SMALLEST_SUBNET_PREFIX - vpc.prefixlen)
    return min(MAX_AZS, units // len(TIERS))


def _unit(vpc: ipaddress.IPv4Network, prefix: int, index: int) -> ipaddress.IPv4Network:
    size = 2 ** (32 - prefix)
    return ipaddress.IPv4Network((int(vpc.network_address) + index * size, prefix))


def az_subnets(vpc: ipaddress.IPv4Network, index: int) -> AzSubnets:
    """The subnets of AZ slot ``index`` (0-based) of ``vpc``."""
    if not 0 <= index < az_capacity(vpc):
        raise ValueError(f"{vpc} has room for {az_capacity(vpc)} AZs; slot {index} does not exist")
    p = vpc.prefixlen
    if p <= _BANDED_MAX_PREFIX:
        return AzSubnets(
            index=index,
            private=_unit(vpc, p + 3, index),
            public=_unit(vpc, p + 6, 48 + index),
            database=_unit(vpc, p + 6, 56 + index),
        )
    small = SMALLEST_SUBNET_PREFIX
    return AzSubnets(
        index=index,
        private=_unit(vpc, small, 3 * index),
        public=_unit(vpc, small, 3 * index + 1),
        database=_unit(vpc, small, 3 * index + 2),
    )


def endpoint_capacity(vpc: ipaddress.IPv4Network) -> int:
    """How many AZs of ``vpc`` have room for an endpoint subnet (a /28) beside their other subnets."""
    if vpc.prefixlen <= _BANDED_MAX_PREFIX:
        per_unit = 2 ** (_BANDED_MAX_PREFIX - vpc.prefixlen)
        return min(MAX_AZS, per_unit * len(_FREE_UNITS))
    units = 2 ** (SMALLEST_SUBNET_PREFIX - vpc.prefixlen)
    return max(0, min(MAX_AZS, units - len(TIERS) * MAX_AZS))


def endpoint_subnet(vpc: ipaddress.IPv4Network | str, index: int) -> ipaddress.IPv4Network:
    """The /28 of AZ slot ``index`` for interface endpoints."""
    network = ipaddress.IPv4Network(vpc)
    if not 0 <= index < endpoint_capacity(network):
        raise ValueError(
            f"{network} has room for the endpoint subnets of {endpoint_capacity(network)} AZs; "
            f"slot {index} does not exist"
        )
    if network.prefixlen <= _BANDED_MAX_PREFIX:
        per_unit = 2 ** (_BANDED_MAX_PREFIX - network.prefixlen)
        unit = _unit(network, network.prefixlen + 6, _FREE_UNITS[index // per_unit])
        return _unit(unit, SMALLEST_SUBNET_PREFIX, index % per_unit)
    return _unit(network, SMALLEST_SUBNET_PREFIX, len(TIERS) * MAX_AZS + index)


def plan_subnets(vpc: ipaddress.IPv4Network | str, az_count: int) -> list[AzSubnets]:
    """The subnets of the first ``az_count`` AZ slots of ``vpc``."""
    network = ipaddress.IPv4Network(vpc)
    if not 1 <= az_count <= az_capacity(network):
        raise ValueError(
            f"{network} holds the subnets of at most {az_capacity(network)} AZs, asked for {az_count}"
        )
    return [az_subnets(network, i) for i in range(az_count)]
