"""Properties of the subnet layout: inside the VPC, no overlaps, stable as azCount grows."""

import ipaddress
from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.subnets import (
    MAX_AZS,
    SMALLEST_SUBNET_PREFIX,
    TIERS,
    az_capacity,
    endpoint_capacity,
    endpoint_subnet,
    plan_subnets,
)

PRIVATE_RANGES = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


@st.composite
def vpc_cidrs(draw: st.DrawFn) -> ipaddress.IPv4Network:
    """Any /16../24 inside one of the RFC 1918 ranges."""
    base = draw(st.sampled_from(PRIVATE_RANGES))
    prefix = draw(st.integers(min_value=max(16, base.prefixlen), max_value=24))
    index = draw(st.integers(min_value=0, max_value=2 ** (prefix - base.prefixlen) - 1))
    return ipaddress.IPv4Network((int(base.network_address) + index * 2 ** (32 - prefix), prefix))


def _all(vpc: ipaddress.IPv4Network, az_count: int) -> list[ipaddress.IPv4Network]:
    return [az.by_tier(tier) for az in plan_subnets(vpc, az_count) for tier in TIERS]


@given(vpc_cidrs(), st.integers(min_value=1, max_value=MAX_AZS))
def test_subnets_lie_inside_the_vpc_and_never_overlap(vpc, az_count):
    az_count = min(az_count, az_capacity(vpc))
    subnets = _all(vpc, az_count)
    assert len(subnets) == 3 * az_count
    for subnet in subnets:
        assert subnet.subnet_of(vpc)
        assert subnet.prefixlen <= SMALLEST_SUBNET_PREFIX
    for a, b in combinations(subnets, 2):
        assert not a.overlaps(b), f"{a} overlaps {b}"


@given(vpc_cidrs(), st.integers(min_value=1, max_value=MAX_AZS), st.integers(min_value=1, max_value=MAX_AZS))
def test_growing_az_count_keeps_every_existing_subnet(vpc, smaller, larger):
    smaller, larger = sorted((min(smaller, az_capacity(vpc)), min(larger, az_capacity(vpc))))
    before = plan_subnets(vpc, smaller)
    after = plan_subnets(vpc, larger)
    assert after[:smaller] == before


def test_a_slash_16_gets_the_usual_eks_shape():
    first = plan_subnets("10.0.0.0/16", 3)[0]
    assert (str(first.private), str(first.public), str(first.database)) == (
        "10.0.0.0/19",
        "10.0.192.0/22",
        "10.0.224.0/22",
    )


def test_private_subnets_are_the_largest_tier():
    for az in plan_subnets("10.0.0.0/20", 6):
        assert az.private.num_addresses > az.public.num_addresses == az.database.num_addresses


@pytest.mark.parametrize(
    ("cidr", "capacity"), [("10.0.0.0/16", 6), ("10.0.0.0/22", 6), ("10.0.0.0/23", 6), ("10.0.0.0/24", 5)]
)
def test_capacity_by_prefix(cidr, capacity):
    assert az_capacity(ipaddress.IPv4Network(cidr)) == capacity


def test_asking_for_more_azs_than_fit_is_refused():
    with pytest.raises(ValueError, match="at most 5 AZs"):
        plan_subnets("10.0.0.0/24", 6)


@given(vpc_cidrs(), st.integers(min_value=1, max_value=MAX_AZS))
def test_endpoint_subnets_are_small_inside_the_vpc_and_overlap_nothing(vpc, az_count):
    az_count = min(az_count, az_capacity(vpc), endpoint_capacity(vpc))
    if az_count == 0:
        return
    endpoints = [endpoint_subnet(vpc, i) for i in range(az_count)]
    for subnet in endpoints:
        assert subnet.subnet_of(vpc)
        assert subnet.prefixlen == SMALLEST_SUBNET_PREFIX, "a handful of addresses, not a tier"
    for a, b in combinations([*endpoints, *_all(vpc, az_count)], 2):
        assert not a.overlaps(b), f"{a} overlaps {b}"


@given(vpc_cidrs(), st.integers(min_value=1, max_value=MAX_AZS))
def test_endpoint_subnets_move_no_subnet_of_any_az_the_vpc_has_room_for(vpc, az_count):
    """Added later, they must fit beside every AZ slot's subnets, whatever azCount a stack has now."""
    others = _all(vpc, az_capacity(vpc))
    for index in range(min(az_count, endpoint_capacity(vpc))):
        assert not any(endpoint_subnet(vpc, index).overlaps(other) for other in others)


@pytest.mark.parametrize(
    ("cidr", "capacity", "first"),
    [
        ("10.0.0.0/16", 6, "10.0.216.0/28"),
        ("10.0.0.0/22", 4, "10.0.3.96/28"),
        ("10.0.0.0/23", 6, "10.0.1.32/28"),
    ],
)
def test_endpoint_subnet_room_by_prefix(cidr, capacity, first):
    assert endpoint_capacity(ipaddress.IPv4Network(cidr)) == capacity
    assert str(endpoint_subnet(cidr, 0)) == first


def test_a_slash_24_has_no_room_for_endpoint_subnets():
    assert endpoint_capacity(ipaddress.IPv4Network("10.0.0.0/24")) == 0
    with pytest.raises(ValueError, match="room for the endpoint subnets of 0 AZs"):
        endpoint_subnet("10.0.0.0/24", 0)
