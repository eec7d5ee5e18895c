"""Emulated invokes (data sources), answered from the moto account (see ``core``)."""

from __future__ import annotations

import pulumi

from offline.emulation.core import (
    AwsEmulator,
    Outputs,
    answers,
)

# --- invokes ------------------------------------------------------------------------------------------


@answers("aws:index/getAvailabilityZones:getAvailabilityZones")
def _availability_zones(e: AwsEmulator, a: pulumi.runtime.MockCallArgs) -> Outputs:
    zones = e.client("ec2").describe_availability_zones(Filters=[{"Name": "state", "Values": ["available"]}])[
        "AvailabilityZones"
    ]
    # As the provider's data source does it, after the API answered.
    excluded_ids = set(a.args.get("excludeZoneIds") or ())
    excluded_names = set(a.args.get("excludeNames") or ())
    zones = [z for z in zones if z["ZoneId"] not in excluded_ids and z["ZoneName"] not in excluded_names]
    zones.sort(key=lambda zone: zone["ZoneName"])
    return {
        "id": e.region,
        "names": [zone["ZoneName"] for zone in zones],
        "zoneIds": [zone["ZoneId"] for zone in zones],
        "groupNames": [zone.get("GroupName", e.region) for zone in zones],
        "state": "available",
    }


@answers("aws:index/getRegion:getRegion")
def _region(e: AwsEmulator, _: pulumi.runtime.MockCallArgs) -> Outputs:
    return {"id": e.region, "name": e.region, "region": e.region, "endpoint": f"ec2.{e.region}.amazonaws.com"}


@answers("aws:index/getCallerIdentity:getCallerIdentity")
def _caller_identity(e: AwsEmulator, _: pulumi.runtime.MockCallArgs) -> Outputs:
    identity = e.client("sts").get_caller_identity()
    return {
        "id": identity["Account"],
        "accountId": identity["Account"],
        "arn": identity["Arn"],
        "userId": identity["UserId"],
    }


@answers("aws:index/getPartition:getPartition")
def _partition(e: AwsEmulator, _: pulumi.runtime.MockCallArgs) -> Outputs:
    return {
        "id": "aws",
        "partition": "aws",
        "dnsSuffix": "amazonaws.com",
        "reverseDnsPrefix": "com.amazonaws",
    }
