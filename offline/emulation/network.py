"""Emulated VPC, IAM and CloudWatch Logs resources, each created in the moto account (see ``core``)."""

from __future__ import annotations

import fnmatch
import functools
import json
from typing import Any

import pulumi

from offline.emulation.core import (
    ACCOUNT_ID,
    AwsEmulator,
    EmulationError,
    Outputs,
    ec2_tag_specs,
    handles,
    physical_name,
    refusal,
    short_hash,
)

# --- EC2 and VPC -----------------------------------------------------------------------------------


@handles("aws:ec2/vpc:Vpc")
def _vpc(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    ec2 = e.client("ec2")
    vpc = ec2.create_vpc(CidrBlock=a.inputs["cidrBlock"], TagSpecifications=ec2_tag_specs("vpc", a.inputs))[
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
        TagSpecifications=ec2_tag_specs("subnet", a.inputs),
    )["Subnet"]
    return subnet["SubnetId"], {
        "arn": subnet.get("SubnetArn") or e.arn("ec2", f"subnet/{subnet['SubnetId']}"),
        "availabilityZoneId": subnet.get("AvailabilityZoneId"),
        "ownerId": subnet.get("OwnerId", ACCOUNT_ID),
    }


@handles("aws:ec2/internetGateway:InternetGateway")
def _internet_gateway(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    ec2 = e.client("ec2")
    igw_id = ec2.create_internet_gateway(TagSpecifications=ec2_tag_specs("internet-gateway", a.inputs))[
        "InternetGateway"
    ]["InternetGatewayId"]
    if a.inputs.get("vpcId"):
        ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=a.inputs["vpcId"])
    return igw_id, {"arn": e.arn("ec2", f"internet-gateway/{igw_id}"), "ownerId": ACCOUNT_ID}


@handles("aws:ec2/eip:Eip")
def _eip(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    address = e.client("ec2").allocate_address(
        Domain="vpc", TagSpecifications=ec2_tag_specs("elastic-ip", a.inputs)
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
    nat = e.client("ec2").create_nat_gateway(
        **request, TagSpecifications=ec2_tag_specs("natgateway", a.inputs)
    )["NatGateway"]
    addresses = nat.get("NatGatewayAddresses") or [{}]
    return nat["NatGatewayId"], {
        "publicIp": addresses[0].get("PublicIp"),
        "privateIp": addresses[0].get("PrivateIp"),
        "networkInterfaceId": addresses[0].get("NetworkInterfaceId"),
    }


@handles("aws:ec2/routeTable:RouteTable")
def _route_table(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    rtb = e.client("ec2").create_route_table(
        VpcId=a.inputs["vpcId"], TagSpecifications=ec2_tag_specs("route-table", a.inputs)
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
    ec2 = e.client("ec2")
    group_id = ec2.create_security_group(
        **request, TagSpecifications=ec2_tag_specs("security-group", a.inputs)
    )["GroupId"]
    # As the provider does: AWS' default allow-all egress goes, so only declared rules remain.
    default_egress = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0][
        "IpPermissionsEgress"
    ]
    if default_egress:
        ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=default_egress)
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
    if a.inputs.get("subnetIds"):
        request["SubnetIds"] = a.inputs["subnetIds"]
    if a.inputs.get("securityGroupIds"):
        request["SecurityGroupIds"] = a.inputs["securityGroupIds"]
    if "privateDnsEnabled" in a.inputs:
        request["PrivateDnsEnabled"] = a.inputs["privateDnsEnabled"]
    if a.inputs.get("policy"):
        request["PolicyDocument"] = a.inputs["policy"]
    endpoint = e.client("ec2").create_vpc_endpoint(**request)["VpcEndpoint"]
    endpoint_id = endpoint["VpcEndpointId"]
    return endpoint_id, {"arn": e.arn("ec2", f"vpc-endpoint/{endpoint_id}"), "state": endpoint.get("State")}


# --- CloudWatch Logs and IAM -------------------------------------------------------------------------


LOGS_KEY_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:GenerateDataKey",
    "kms:DescribeKey",
)
"""What CloudWatch Logs does with a log group's key ("Encrypt log data in CloudWatch Logs using AWS KMS")."""


def _allows(granted: Any, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action, pattern) for pattern in _listed(granted))


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def key_lets_service_use_it(policy: dict[str, Any], services: set[str], actions: tuple[str, ...]) -> bool:
    """Whether one statement of a key policy allows one of the service principals ``services`` every one of
    ``actions`` (its conditions are not judged)."""
    for statement in _listed(policy.get("Statement", [])):
        principal = statement.get("Principal") or {}
        named = set(_listed(principal.get("Service", []))) if isinstance(principal, dict) else set()
        if (
            statement.get("Effect") == "Allow"
            and named & services
            and all(_allows(statement.get("Action", []), action) for action in actions)
        ):
            return True
    return False


def key_lets_logs_use_it(policy: dict[str, Any], region: str) -> bool:
    """Whether a key policy lets the CloudWatch Logs service principal of ``region`` use the key."""
    return key_lets_service_use_it(
        policy, {f"logs.{region}.amazonaws.com", "logs.amazonaws.com"}, LOGS_KEY_ACTIONS
    )


@handles("aws:cloudwatch/logGroup:LogGroup")
def _log_group(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    logs = e.client("logs")
    name = a.inputs.get("name") or physical_name(a.inputs.get("namePrefix") or a.name, 512)
    request: dict[str, Any] = {"logGroupName": name}
    if a.inputs.get("kmsKeyId"):
        # CloudWatch Logs uses the key itself, as its service principal: the key's policy must say so.
        policy = e.client("kms").get_key_policy(KeyId=a.inputs["kmsKeyId"], PolicyName="default")["Policy"]
        if not key_lets_logs_use_it(json.loads(policy), e.region):
            raise refusal(
                a,
                "AccessDeniedException",
                "The specified KMS key does not exist or is not allowed to be used with Arn "
                f"'{e.arn('logs', f'log-group:{name}')}'",
            )
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


_AWS_MANAGED_POLICY = "arn:aws:iam::aws:policy/"


@functools.cache
def aws_managed_policies() -> dict[str, dict[str, Any]]:
    """AWS' managed policies as moto knows them, by ARN (parsed once per process)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return {
        f"{_AWS_MANAGED_POLICY}{data.get('Path', '/').lstrip('/')}{name}": {"name": name, **data}
        for name, data in json.loads(aws_managed_policies_data).items()
    }


def _ensure_aws_managed_policy(e: AwsEmulator, arn: str) -> None:
    """Puts the AWS-managed policy ``arn`` into the account when AWS has one by that ARN.

    Every real account has all of them; loading moto's 1,300 into each emulated account costs a second
    a run, so only those the program attaches are put in. An unknown ARN stays out, and attaching it
    fails as it would in AWS.
    """
    data = aws_managed_policies().get(arn)
    if data is None:
        return
    from moto.iam.models import AWSManagedPolicy, iam_backends

    backend = iam_backends[ACCOUNT_ID]["aws"]
    if arn not in backend.managed_policies:
        backend.managed_policies[arn] = AWSManagedPolicy.from_data(data["name"], ACCOUNT_ID, e.region, data)


@handles("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
def _iam_role_policy_attachment(e: AwsEmulator, a: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
    if a.inputs["policyArn"].startswith(_AWS_MANAGED_POLICY):
        _ensure_aws_managed_policy(e, a.inputs["policyArn"])
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
