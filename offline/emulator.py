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

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pulumi
from botocore.exceptions import ClientError, ParamValidationError

ACCOUNT_ID = "123456789012"
"""moto's default account: every emulated ARN carries it."""

DEFAULT_REGION = "us-east-1"

Outputs = dict[str, Any]
Handler = Callable[["AwsEmulator", pulumi.runtime.MockResourceArgs], tuple[str, Outputs]]
CallHandler = Callable[["AwsEmulator", pulumi.runtime.MockCallArgs], Outputs]

_HANDLERS: dict[str, Handler] = {}
_CALLS: dict[str, CallHandler] = {}


class EmulationError(Exception):
    """The emulated account refused a resource, as the real one would have."""


def handles(token: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[token] = fn
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


class AwsEmulator(pulumi.runtime.Mocks):
    """Mocks whose resources live in a moto account. Use inside :func:`emulated_account`."""

    def __init__(self, region: str = DEFAULT_REGION) -> None:
        self.region = region
        self._clients: dict[str, Any] = {}
        # The mock monitor registers resources from a thread pool; moto's backends are not thread-safe.
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=self.region)
        return self._clients[service]

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{ACCOUNT_ID}:{resource}"

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        if not args.custom:
            return None, {}
        handler = _HANDLERS.get(args.typ, _synthetic)
        args.inputs = whole_numbers(args.inputs)
        with self._lock:
            try:
                resource_id, outputs = handler(self, args)
            except (ClientError, ParamValidationError) as err:
                raise EmulationError(
                    f"the emulated AWS account refused {args.typ} '{args.name}': {_aws_message(err)}"
                ) from None
        return resource_id, {**args.inputs, **outputs, "id": resource_id}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        handler = _CALLS.get(args.token)
        if handler is None:
            raise EmulationError(f"no emulation for the invoke {args.token}; add one in offline/emulator.py")
        with self._lock:
            return handler(self, args)


def whole_numbers(value: Any) -> Any:
    """Protobuf carries every number as a float; give back the ints the program wrote (7.0 -> 7)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    return value


def _aws_message(err: Exception) -> str:
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', err)}"
    return str(err)


def _synthetic(emulator: AwsEmulator, args: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
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


def _tag_specs(resource_type: str, inputs: dict) -> list[dict]:
    tags = inputs.get("tags") or {}
    if not tags:
        return []
    return [{"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


# --- EC2 and VPC -----------------------------------------------------------------------------------


@handles("aws:ec2/vpc:Vpc")
def _vpc(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    ec2 = e.client("ec2")
    vpc = ec2.create_vpc(CidrBlock=a.inputs["cidrBlock"], TagSpecifications=_tag_specs("vpc", a.inputs))[
        "Vpc"
    ]
    vpc_id = vpc["VpcId"]
    for attribute in ("enableDnsSupport", "enableDnsHostnames"):
        if attribute in a.inputs:
            ec2.modify_vpc_attribute(
                VpcId=vpc_id, **{attribute[0].upper() + attribute[1:]: {"Value": a.inputs[attribute]}}
            )
    default_sg = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]["GroupId"]
    main_rtb = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "association.main", "Values": ["true"]}]
    )["RouteTables"][0]["RouteTableId"]
    acl = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["NetworkAcls"][0]
    return vpc_id, {
        "arn": e.arn("ec2", f"vpc/{vpc_id}"),
        "ownerId": vpc["OwnerId"],
        "defaultSecurityGroupId": default_sg,
        "defaultRouteTableId": main_rtb,
        "mainRouteTableId": main_rtb,
        "defaultNetworkAclId": acl["NetworkAclId"],
    }


@handles("aws:ec2/subnet:Subnet")
def _subnet(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    subnet = e.client("ec2").create_subnet(
        VpcId=a.inputs["vpcId"],
        CidrBlock=a.inputs["cidrBlock"],
        AvailabilityZone=a.inputs["availabilityZone"],
        TagSpecifications=_tag_specs("subnet", a.inputs),
    )["Subnet"]
    return subnet["SubnetId"], {
        "arn": subnet.get("SubnetArn") or e.arn("ec2", f"subnet/{subnet['SubnetId']}"),
        "availabilityZoneId": subnet.get("AvailabilityZoneId"),
        "ownerId": subnet.get("OwnerId", ACCOUNT_ID),
    }


@handles("aws:ec2/internetGateway:InternetGateway")
def _internet_gateway(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    ec2 = e.client("ec2")
    igw_id = ec2.create_internet_gateway(TagSpecifications=_tag_specs("internet-gateway", a.inputs))[
        "InternetGateway"
    ]["InternetGatewayId"]
    if a.inputs.get("vpcId"):
        ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=a.inputs["vpcId"])
    return igw_id, {"arn": e.arn("ec2", f"internet-gateway/{igw_id}"), "ownerId": ACCOUNT_ID}


@handles("aws:ec2/eip:Eip")
def _eip(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    address = e.client("ec2").allocate_address(
        Domain="vpc", TagSpecifications=_tag_specs("elastic-ip", a.inputs)
    )
    allocation_id = address["AllocationId"]
    return allocation_id, {
        "allocationId": allocation_id,
        "publicIp": address["PublicIp"],
        "arn": e.arn("ec2", f"elastic-ip/{allocation_id}"),
        "domain": "vpc",
    }


@handles("aws:ec2/natGateway:NatGateway")
def _nat_gateway(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    request = {
        "SubnetId": a.inputs["subnetId"],
        "ConnectivityType": a.inputs.get("connectivityType", "public"),
    }
    if a.inputs.get("allocationId"):
        request["AllocationId"] = a.inputs["allocationId"]
    nat = e.client("ec2").create_nat_gateway(**request, TagSpecifications=_tag_specs("natgateway", a.inputs))[
        "NatGateway"
    ]
    addresses = nat.get("NatGatewayAddresses") or [{}]
    return nat["NatGatewayId"], {
        "publicIp": addresses[0].get("PublicIp"),
        "privateIp": addresses[0].get("PrivateIp"),
        "networkInterfaceId": addresses[0].get("NetworkInterfaceId"),
    }


@handles("aws:ec2/routeTable:RouteTable")
def _route_table(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    rtb = e.client("ec2").create_route_table(
        VpcId=a.inputs["vpcId"], TagSpecifications=_tag_specs("route-table", a.inputs)
    )["RouteTable"]
    for route in a.inputs.get("routes") or []:
        _create_route(e, rtb["RouteTableId"], route)
    return rtb["RouteTableId"], {
        "arn": e.arn("ec2", f"route-table/{rtb['RouteTableId']}"),
        "ownerId": ACCOUNT_ID,
    }


_ROUTE_TARGETS = {
    "gatewayId": "GatewayId",
    "natGatewayId": "NatGatewayId",
    "transitGatewayId": "TransitGatewayId",
    "vpcEndpointId": "VpcEndpointId",
    "vpcPeeringConnectionId": "VpcPeeringConnectionId",
    "networkInterfaceId": "NetworkInterfaceId",
}


def _create_route(e: AwsEmulator, route_table_id: str, route: dict) -> None:
    request = {"RouteTableId": route_table_id, "DestinationCidrBlock": route.get("destinationCidrBlock")}
    request.update({api: route[key] for key, api in _ROUTE_TARGETS.items() if route.get(key)})
    e.client("ec2").create_route(**request)


@handles("aws:ec2/route:Route")
def _route(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    _create_route(e, a.inputs["routeTableId"], a.inputs)
    route_id = f"r-{a.inputs['routeTableId']}{short_hash(a.inputs['destinationCidrBlock'], length=10)}"
    return route_id, {"state": "active", "origin": "CreateRoute"}


@handles("aws:ec2/routeTableAssociation:RouteTableAssociation")
def _route_table_association(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    request = {"RouteTableId": a.inputs["routeTableId"]}
    if a.inputs.get("subnetId"):
        request["SubnetId"] = a.inputs["subnetId"]
    if a.inputs.get("gatewayId"):
        request["GatewayId"] = a.inputs["gatewayId"]
    return e.client("ec2").associate_route_table(**request)["AssociationId"], {}


@handles("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
def _default_security_group(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    # Adopting the default group strips the rules AWS put on it, keeping only those declared.
    ec2 = e.client("ec2")
    group = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [a.inputs["vpcId"]]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"][0]
    if group.get("IpPermissions"):
        ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
    if group.get("IpPermissionsEgress"):
        ec2.revoke_security_group_egress(GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"])
    return group["GroupId"], {
        "arn": e.arn("ec2", f"security-group/{group['GroupId']}"),
        "name": "default",
        "ownerId": group["OwnerId"],
    }


@handles("aws:ec2/securityGroup:SecurityGroup")
def _security_group(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    name = a.inputs.get("name") or physical_name(a.inputs.get("namePrefix") or a.name)
    request = {"GroupName": name, "Description": a.inputs.get("description", "Managed by Pulumi")}
    if a.inputs.get("vpcId"):
        request["VpcId"] = a.inputs["vpcId"]
    group_id = e.client("ec2").create_security_group(
        **request, TagSpecifications=_tag_specs("security-group", a.inputs)
    )["GroupId"]
    return group_id, {"arn": e.arn("ec2", f"security-group/{group_id}"), "name": name, "ownerId": ACCOUNT_ID}


@handles("aws:ec2/flowLog:FlowLog")
def _flow_log(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    resource_type, resource_id = next(
        (kind, a.inputs[key])
        for key, kind in (("vpcId", "VPC"), ("subnetId", "Subnet"), ("eniId", "NetworkInterface"))
        if a.inputs.get(key)
    )
    response = e.client("ec2").create_flow_logs(
        ResourceIds=[resource_id],
        ResourceType=resource_type,
        TrafficType=a.inputs.get("trafficType", "ALL"),
        LogDestinationType=a.inputs.get("logDestinationType", "cloud-watch-logs"),
        LogDestination=a.inputs["logDestination"],
        DeliverLogsPermissionArn=a.inputs.get("iamRoleArn", ""),
        MaxAggregationInterval=a.inputs.get("maxAggregationInterval", 600),
    )
    if response.get("Unsuccessful"):
        raise EmulationError(f"flow log '{a.name}': {response['Unsuccessful'][0]['Error']['Message']}")
    flow_log_id = response["FlowLogIds"][0]
    return flow_log_id, {"arn": e.arn("ec2", f"vpc-flow-log/{flow_log_id}")}


@handles("aws:ec2/vpcEndpoint:VpcEndpoint")
def _vpc_endpoint(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    request: dict[str, Any] = {
        "VpcId": a.inputs["vpcId"],
        "ServiceName": a.inputs["serviceName"],
        "VpcEndpointType": a.inputs.get("vpcEndpointType", "Gateway"),
    }
    if a.inputs.get("routeTableIds"):
        request["RouteTableIds"] = a.inputs["routeTableIds"]
    if a.inputs.get("policy"):
        request["PolicyDocument"] = a.inputs["policy"]
    endpoint = e.client("ec2").create_vpc_endpoint(**request)["VpcEndpoint"]
    endpoint_id = endpoint["VpcEndpointId"]
    return endpoint_id, {"arn": e.arn("ec2", f"vpc-endpoint/{endpoint_id}"), "state": endpoint.get("State")}


# --- CloudWatch Logs and IAM -------------------------------------------------------------------------


@handles("aws:cloudwatch/logGroup:LogGroup")
def _log_group(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    logs = e.client("logs")
    name = a.inputs.get("name") or physical_name(a.inputs.get("namePrefix") or a.name, 512)
    request: dict[str, Any] = {"logGroupName": name}
    if a.inputs.get("kmsKeyId"):
        request["kmsKeyId"] = a.inputs["kmsKeyId"]
    if a.inputs.get("tags"):
        request["tags"] = a.inputs["tags"]
    logs.create_log_group(**request)
    if a.inputs.get("retentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=a.inputs["retentionInDays"])
    return name, {"name": name, "arn": e.arn("logs", f"log-group:{name}")}


@handles("aws:iam/role:Role")
def _iam_role(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    name = a.inputs.get("name") or physical_name(a.inputs.get("namePrefix") or a.name, 64)
    request: dict[str, Any] = {
        "RoleName": name,
        "AssumeRolePolicyDocument": a.inputs["assumeRolePolicy"],
        "Path": a.inputs.get("path", "/"),
    }
    if a.inputs.get("description"):
        request["Description"] = a.inputs["description"]
    if a.inputs.get("tags"):
        request["Tags"] = [{"Key": k, "Value": v} for k, v in a.inputs["tags"].items()]
    role = e.client("iam").create_role(**request)["Role"]
    return name, {"name": name, "arn": role["Arn"], "uniqueId": role["RoleId"]}


@handles("aws:iam/rolePolicy:RolePolicy")
def _iam_role_policy(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    name = a.inputs.get("name") or physical_name(a.name, 128)
    e.client("iam").put_role_policy(
        RoleName=a.inputs["role"], PolicyName=name, PolicyDocument=a.inputs["policy"]
    )
    return f"{a.inputs['role']}:{name}", {"name": name}


@handles("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
def _iam_role_policy_attachment(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    e.client("iam").attach_role_policy(RoleName=a.inputs["role"], PolicyArn=a.inputs["policyArn"])
    return f"{a.inputs['role']}-{short_hash(a.inputs['policyArn'], length=12)}", {}


# --- subnet groups of the data tier -------------------------------------------------------------------


@handles("aws:rds/subnetGroup:SubnetGroup")
def _rds_subnet_group(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    name = a.inputs.get("name") or physical_name(a.name).lower()
    group = e.client("rds").create_db_subnet_group(
        DBSubnetGroupName=name,
        DBSubnetGroupDescription=a.inputs.get("description", "Managed by Pulumi"),
        SubnetIds=a.inputs["subnetIds"],
    )["DBSubnetGroup"]
    return name, {"name": name, "arn": group["DBSubnetGroupArn"], "vpcId": group["VpcId"]}


@handles("aws:elasticache/subnetGroup:SubnetGroup")
def _elasticache_subnet_group(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    name = a.inputs.get("name") or physical_name(a.name).lower()
    group = e.client("elasticache").create_cache_subnet_group(
        CacheSubnetGroupName=name,
        CacheSubnetGroupDescription=a.inputs.get("description", "Managed by Pulumi"),
        SubnetIds=a.inputs["subnetIds"],
    )["CacheSubnetGroup"]
    return name, {"name": name, "arn": group.get("ARN") or e.arn("elasticache", f"subnetgroup:{name}")}


# --- invokes ------------------------------------------------------------------------------------------


@answers("aws:index/getAvailabilityZones:getAvailabilityZones")
def _availability_zones(e: AwsEmulator, _: pulumi.runtime.MockCallArgs) -> Outputs:
    zones = e.client("ec2").describe_availability_zones(Filters=[{"Name": "state", "Values": ["available"]}])[
        "AvailabilityZones"
    ]
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


# --- the account itself -------------------------------------------------------------------------------

_ACCOUNT_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    # The program looks up no AMIs; loading moto's thousand would be a fifth of every run.
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}


@contextmanager
def emulated_account(region: str = DEFAULT_REGION, seed: int = 0) -> Iterator[AwsEmulator]:
    """A fresh, empty moto account for one run; real credentials are hidden for its duration."""
    from moto import mock_aws
    from moto.moto_api._internal import mock_random

    saved = {key: os.environ.get(key) for key in (*_ACCOUNT_ENVIRONMENT, "AWS_DEFAULT_REGION", "AWS_PROFILE")}
    os.environ.update(_ACCOUNT_ENVIRONMENT, AWS_DEFAULT_REGION=region)
    os.environ.pop("AWS_PROFILE", None)
    try:
        with mock_aws():
            # Seeded so that the emulated IDs are the same from one run to the next.
            mock_random.seed(seed)
            yield AwsEmulator(region)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
