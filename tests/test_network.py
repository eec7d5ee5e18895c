"""The Network component as the engine would see it, for dev and prod, in the emulated account."""

from __future__ import annotations

import ipaddress
import json
from itertools import combinations

import pulumi_aws as aws
import pytest

from components.subnets import endpoint_subnet
from components.zones import EKS_UNSUPPORTED_ZONE_IDS
from offline.emulation import EmulationError
from offline.emulation.account import AccountOptions
from offline.runner import Plan, RecordedResource, run_program, run_under_mocks
from tests.conftest import raw_stack_config
from tests.conftest import stack_plan as whole_stack_plan

SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"


def stack_plan(stack: str) -> Plan:
    """The Network component's part of a stack's plan."""
    return whole_stack_plan(stack).component("platform:index:Network")


@pytest.fixture(scope="module")
def dev_plan() -> Plan:
    return stack_plan("dev")


@pytest.fixture(scope="module")
def prod_plan() -> Plan:
    return stack_plan("prod")


def subnets(plan: Plan, tier: str) -> list[RecordedResource]:
    return sorted((s for s in plan.of_type(SUBNET) if s.inputs["tags"]["Tier"] == tier), key=lambda s: s.name)


def by_id(plan: Plan) -> dict[str, RecordedResource]:
    return {r.state["id"]: r for r in plan.resources if r.custom}


def table_of_subnet(plan: Plan, subnet: RecordedResource) -> RecordedResource:
    table_id = next(
        a.inputs["routeTableId"]
        for a in plan.of_type(ASSOCIATION)
        if a.inputs["subnetId"] == subnet.state["id"]
    )
    return by_id(plan)[table_id]


def default_route(plan: Plan, table: RecordedResource) -> RecordedResource | None:
    routes = [r for r in plan.of_type(ROUTE) if r.inputs["routeTableId"] == table.state["id"]]
    assert all(r.inputs["destinationCidrBlock"] == "0.0.0.0/0" for r in routes)
    return routes[0] if routes else None


@pytest.mark.parametrize(("stack", "azs", "nats"), [("dev", 2, 1), ("prod", 3, 3)])
def test_counts_per_stack(stack, azs, nats):
    plan = stack_plan(stack)
    assert len(plan.of_type("aws:ec2/vpc:Vpc")) == 1
    for tier in ("public", "private", "database"):
        assert len(subnets(plan, tier)) == azs
    assert len(plan.of_type(NAT)) == nats
    assert len(plan.of_type("aws:ec2/eip:Eip")) == nats
    assert len({s.inputs["availabilityZone"] for s in plan.of_type(SUBNET)}) == azs


def test_vpc_has_dns_support_and_hostnames(prod_plan):
    vpc = prod_plan.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == "10.0.0.0/16"
    assert vpc.inputs["enableDnsSupport"] is True
    assert vpc.inputs["enableDnsHostnames"] is True


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_subnets_lie_in_the_vpc_and_do_not_overlap(stack):
    plan = stack_plan(stack)
    vpc = ipaddress.IPv4Network(plan.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"])
    cidrs = [ipaddress.IPv4Network(s.inputs["cidrBlock"]) for s in plan.of_type(SUBNET)]
    assert all(c.subnet_of(vpc) for c in cidrs)
    assert not any(a.overlaps(b) for a, b in combinations(cidrs, 2))
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in plan.of_type(SUBNET))


def test_eks_discovery_tags(prod_plan):
    cluster_tag = "kubernetes.io/cluster/platform-prod"
    for subnet in subnets(prod_plan, "public"):
        assert subnet.inputs["tags"]["kubernetes.io/role/elb"] == "1"
        assert subnet.inputs["tags"][cluster_tag] == "shared"
    for subnet in subnets(prod_plan, "private"):
        assert subnet.inputs["tags"]["kubernetes.io/role/internal-elb"] == "1"
        assert subnet.inputs["tags"][cluster_tag] == "shared"
    for subnet in subnets(prod_plan, "database"):
        assert not any(key.startswith("kubernetes.io/") for key in subnet.inputs["tags"])


def test_public_subnets_route_to_the_internet_gateway(prod_plan):
    igw = prod_plan.one("aws:ec2/internetGateway:InternetGateway")
    for subnet in subnets(prod_plan, "public"):
        route = default_route(prod_plan, table_of_subnet(prod_plan, subnet))
        assert route is not None and route.inputs["gatewayId"] == igw.state["id"]


def test_prod_private_subnets_use_the_nat_gateway_of_their_own_az(prod_plan):
    ids = by_id(prod_plan)
    for subnet in subnets(prod_plan, "private"):
        route = default_route(prod_plan, table_of_subnet(prod_plan, subnet))
        assert route is not None
        nat = ids[route.inputs["natGatewayId"]]
        nat_subnet = ids[nat.inputs["subnetId"]]
        assert nat_subnet.inputs["tags"]["Tier"] == "public"
        assert nat_subnet.inputs["availabilityZone"] == subnet.inputs["availabilityZone"]


def test_dev_private_subnets_share_one_nat_gateway(dev_plan):
    nat_ids = {
        default_route(dev_plan, table_of_subnet(dev_plan, s)).inputs["natGatewayId"]
        for s in subnets(dev_plan, "private")
    }
    assert nat_ids == {dev_plan.one(NAT).state["id"]}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_database_subnets_have_no_route_out(stack):
    plan = stack_plan(stack)
    tables = {table_of_subnet(plan, s).urn for s in subnets(plan, "database")}
    assert len(tables) == 1
    table = next(r for r in plan.of_type(ROUTE_TABLE) if r.urn in tables)
    assert default_route(plan, table) is None
    assert "routes" not in table.inputs or not table.inputs["routes"]


def test_subnet_groups_span_exactly_the_database_subnets(prod_plan):
    database_ids = sorted(s.state["id"] for s in subnets(prod_plan, "database"))
    for group_type in ("aws:rds/subnetGroup:SubnetGroup", "aws:elasticache/subnetGroup:SubnetGroup"):
        assert sorted(prod_plan.one(group_type).inputs["subnetIds"]) == database_ids


def test_default_security_group_has_no_rules(prod_plan):
    group = prod_plan.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert group.inputs["vpcId"] == prod_plan.one("aws:ec2/vpc:Vpc").state["id"]
    assert group.inputs.get("ingress", []) == []
    assert group.inputs.get("egress", []) == []


def test_secrets_manager_is_reached_in_endpoint_subnets_of_its_own_on_https_from_the_vpc_only(prod_plan):
    endpoint = prod_plan.one("aws:ec2/vpcEndpoint:VpcEndpoint", "platform-network-secretsmanager")
    assert endpoint.inputs["serviceName"] == "com.amazonaws.us-east-1.secretsmanager"
    assert (endpoint.inputs["vpcEndpointType"], endpoint.inputs["privateDnsEnabled"]) == ("Interface", True)
    endpoint_subnets = subnets(prod_plan, "endpoints")
    assert sorted(endpoint.inputs["subnetIds"]) == sorted(s.state["id"] for s in endpoint_subnets)
    cidrs = [s.inputs["cidrBlock"] for s in endpoint_subnets]
    assert cidrs == [str(endpoint_subnet(prod_plan.config.network.cidr, i)) for i in range(len(cidrs))]
    assert {s.inputs["availabilityZone"] for s in endpoint_subnets} == set(
        prod_plan.outputs["availabilityZones"]
    )
    # They route nowhere but the VPC: an endpoint answers, it never calls out.
    for subnet in endpoint_subnets:
        table = table_of_subnet(prod_plan, subnet)
        assert not [r for r in prod_plan.of_type(ROUTE) if r.inputs["routeTableId"] == table.state["id"]]
    (group_id,) = endpoint.inputs["securityGroupIds"]
    rules = [
        r
        for r in prod_plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == group_id
    ]
    vpc = prod_plan.one("aws:ec2/vpc:Vpc")
    assert [
        (r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"], r.inputs["cidrIpv4"])
        for r in rules
    ] == [("tcp", 443, 443, vpc.inputs["cidrBlock"])]


def test_s3_gateway_endpoint_serves_the_private_route_tables(prod_plan):
    endpoint = prod_plan.one("aws:ec2/vpcEndpoint:VpcEndpoint", "platform-network-s3")
    assert endpoint.inputs["serviceName"] == "com.amazonaws.us-east-1.s3"
    assert endpoint.inputs["vpcEndpointType"] == "Gateway"
    private_tables = {table_of_subnet(prod_plan, s).state["id"] for s in subnets(prod_plan, "private")}
    assert set(endpoint.inputs["routeTableIds"]) == private_tables


def test_flow_logs_go_to_a_retained_log_group_through_a_least_privilege_role(prod_plan):
    log_group = prod_plan.one("aws:cloudwatch/logGroup:LogGroup")
    assert log_group.inputs["retentionInDays"] == 365
    flow_log = prod_plan.one("aws:ec2/flowLog:FlowLog")
    role = prod_plan.one("aws:iam/role:Role")
    assert flow_log.inputs["vpcId"] == prod_plan.one("aws:ec2/vpc:Vpc").state["id"]
    assert flow_log.inputs["trafficType"] == "ALL"
    assert flow_log.inputs["logDestination"] == log_group.state["arn"]
    assert flow_log.inputs["iamRoleArn"] == role.state["arn"]

    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "vpc-flow-logs.amazonaws.com"}]
    assert trust[0]["Condition"]["StringEquals"]["aws:SourceAccount"] == role.state["arn"].split(":")[4]

    policy = prod_plan.one("aws:iam/rolePolicy:RolePolicy")
    assert policy.inputs["role"] == role.state["name"]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    resources = {r for s in statements for r in s["Resource"]}
    assert resources == {log_group.state["arn"], log_group.state["arn"] + ":*"}
    actions = {a for s in statements for a in s["Action"]}
    assert actions <= {"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"}


def test_dev_keeps_flow_logs_for_a_week(dev_plan):
    assert dev_plan.one("aws:cloudwatch/logGroup:LogGroup").inputs["retentionInDays"] == 7


def test_every_tagged_resource_carries_the_stack_tags_and_a_name(prod_plan):
    tagged = [r for r in prod_plan.resources if "tags" in r.inputs]
    assert len(tagged) > 20
    for resource in tagged:
        tags = resource.inputs["tags"]
        assert tags["Stack"] == "prod" and tags["ManagedBy"] == "pulumi" and tags["team"] == "platform"
        assert tags["Name"], resource.urn


def test_outputs_are_the_resources_own_ids(prod_plan):
    assert prod_plan.outputs["vpcId"] == prod_plan.one("aws:ec2/vpc:Vpc").state["id"]
    assert sorted(prod_plan.outputs["privateSubnetIds"]) == sorted(
        s.state["id"] for s in subnets(prod_plan, "private")
    )
    assert len(prod_plan.outputs["natGatewayIds"]) == 3
    assert prod_plan.outputs["availabilityZones"] == sorted(
        {s.inputs["availabilityZone"] for s in prod_plan.of_type(SUBNET)}
    )


@pytest.mark.slow
def test_adding_an_az_renames_and_moves_nothing(prod_plan):
    raw = raw_stack_config("prod")
    network = json.loads(raw["platform:network"])
    raw["platform:network"] = json.dumps({**network, "azCount": 4})
    grown = run_program(raw, "prod").component("platform:index:Network")
    before = {r.urn: r for r in prod_plan.resources}
    after = {r.urn: r for r in grown.resources}
    assert set(before) < set(after)
    for urn, resource in before.items():
        if resource.type == SUBNET:
            assert after[urn].inputs["cidrBlock"] == resource.inputs["cidrBlock"]
            assert after[urn].inputs["availabilityZone"] == resource.inputs["availabilityZone"]
    assert len(grown.of_type(SUBNET)) == 16, "four tiers (one of them the endpoints') in four AZs"


# --- zones, by ID ------------------------------------------------------------------------------------------


def _control_plane_in_first_zone() -> None:
    """The refused program: the cluster's subnets in the first zones by name, whatever their IDs."""
    zones = aws.get_availability_zones_output(state="available")
    vpc = aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16")
    subnets = [
        aws.ec2.Subnet(
            f"subnet-{i}", vpc_id=vpc.id, cidr_block=f"10.0.{i}.0/24", availability_zone=zones.names[i]
        )
        for i in range(2)
    ]
    role = aws.iam.Role("role", assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": []}))
    aws.eks.Cluster("eks", name="c", role_arn=role.arn, vpc_config={"subnet_ids": [s.id for s in subnets]})


def test_an_account_whose_first_zone_is_one_eks_refuses_refuses_a_control_plane_there():
    account = AccountOptions(zone_ids={"us-east-1a": "use1-az3"})
    with pytest.raises(
        EmulationError, match="UnsupportedAvailabilityZoneException: Cannot create cluster 'c'"
    ):
        run_under_mocks(_control_plane_in_first_zone, {}, "dev", account=account)


@pytest.mark.slow
def test_the_stack_chooses_zones_by_id_and_leaves_out_the_one_eks_refuses():
    account = AccountOptions(zone_ids={"us-east-1a": "use1-az3"})
    plan = run_program(raw_stack_config("prod"), "prod", account=account)
    zones = plan.outputs["availabilityZones"]
    assert "us-east-1a" not in zones and len(zones) == plan.config.network.az_count
    assert {s.state["availabilityZoneId"] for s in plan.of_type(SUBNET)}.isdisjoint(EKS_UNSUPPORTED_ZONE_IDS)
