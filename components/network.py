"""The platform's VPC: three subnet tiers across AZs, NAT, flow logs and EKS discovery tags."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from components.shared import account_and_region
from components.subnets import TIERS, Tier, endpoint_subnet, plan_subnets
from components.tags import Tags
from components.zones import EKS_UNSUPPORTED_ZONE_IDS

ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class NetworkArgs:
    """Inputs of :class:`Network`. Defaults are production's."""

    cluster_name: str
    """EKS cluster whose load balancers use these subnets; goes into the discovery tags. Required."""
    cidr: str = "10.0.0.0/16"
    """VPC CIDR, private (RFC 1918), /16 to /24. Default 10.0.0.0/16."""
    az_count: int = 3
    """AZs to spread over, 2 to 6 (the layout caps small VPCs lower). Default 3."""
    nat_gateways: Literal["perAz", "single"] = "perAz"
    """``perAz``: a NAT gateway per AZ, so losing an AZ keeps egress for the rest; ``single``: one, cheap.
    Default perAz."""
    flow_log_retention_days: int = 365
    """Days CloudWatch Logs keeps the VPC flow logs. Default 365."""
    flow_log_traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = "ALL"
    """Which traffic the flow logs record. Default ALL."""
    interface_endpoints: Sequence[str] = ("secretsmanager",)
    """AWS services (like ``secretsmanager``) reached through interface endpoints, with private DNS, so their
    traffic stays in the VPC. They sit in a /28 per AZ of their own. Default secretsmanager, where
    applications read the data tier's credentials."""
    log_key_arn: pulumi.Input[str] | None = None
    """KMS key of the flow logs' log group; its policy must let CloudWatch Logs use it. Default none
    (CloudWatch's own encryption): the platform always gives one."""
    tags: Tags = field(default_factory=Tags)
    """Tags for every resource (``Name`` is added per resource). Default none."""


# --- pure pieces -----------------------------------------------------------------------------------------


def subnet_tags(tier: Tier, cluster_name: str) -> dict[str, str]:
    """EKS discovery tags: where the AWS Load Balancer Controller puts internet-facing and internal LBs."""
    tags: dict[str, str] = {"Tier": tier}
    if tier == "public":
        tags["kubernetes.io/role/elb"] = "1"
    elif tier == "private":
        tags["kubernetes.io/role/internal-elb"] = "1"
    if tier in ("public", "private"):
        tags[f"kubernetes.io/cluster/{cluster_name}"] = "shared"
    return tags


def nat_gateway_for_az(az_index: int, nat_gateways: Literal["perAz", "single"]) -> int:
    """Which NAT gateway the private subnets of AZ ``az_index`` route through."""
    return az_index if nat_gateways == "perAz" else 0


def flow_log_trust_policy(account_id: str, region: str) -> dict[str, Any]:
    """Only the flow-logs service, acting for this account's VPCs, may assume it (no confused deputy)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:{region}:{account_id}:vpc-flow-log/*"},
                },
            }
        ],
    }


def flow_log_policy(log_group_arn: str) -> dict[str, Any]:
    """Write access to the one log group, nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": [log_group_arn, f"{log_group_arn}:*"],
            }
        ],
    }


# --- the component ----------------------------------------------------------------------------------------


class Network(pulumi.ComponentResource):
    """A VPC with public, private and database subnets in each of ``az_count`` AZs.

    * public subnets route to an internet gateway and hold the NAT gateways and internet-facing LBs;
    * private subnets (nodes, pods, internal LBs) reach the internet through NAT, per AZ or one;
    * database subnets route nowhere but the VPC; the RDS and ElastiCache subnet groups span them.

    Subnet CIDRs come from :mod:`components.subnets`, which never moves an existing subnet when
    ``az_count`` grows, and resource names carry the AZ slot, so adding an AZ replaces nothing.
    """

    vpc_id: pulumi.Output[str]
    vpc_cidr: pulumi.Output[str]
    availability_zones: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    database_subnet_ids: pulumi.Output[list[str]]
    nat_gateway_ids: pulumi.Output[list[str]]
    nat_gateway_id_list: list[pulumi.Output[str]]
    """Each NAT gateway's ID: one resource per gateway (an alarm each) needs them one by one."""
    subnet_cidrs: dict[Tier, list[str]]
    """Each tier's subnet CIDRs, AZ by AZ: known before anything is created, since the layout is pure."""
    endpoint_cidrs: list[str]
    """CIDRs of the subnets holding the interface endpoints (a /28 per AZ); none without endpoints."""
    db_subnet_group_name: pulumi.Output[str]
    cache_subnet_group_name: pulumi.Output[str]
    flow_log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Network", name, None, opts)
        self._name = name
        self._args = args
        self._tags = args.tags.layered({"Component": "network"})
        plan = plan_subnets(args.cidr, args.az_count)
        self.subnet_cidrs = {tier: [str(az.by_tier(tier)) for az in plan] for tier in TIERS}
        self.endpoint_cidrs = [
            str(endpoint_subnet(args.cidr, az.index)) for az in plan if args.interface_endpoints
        ]

        # By zone ID, so that whatever names this account's zones have, none is one EKS refuses.
        zones = aws.get_availability_zones_output(
            state="available",
            exclude_zone_ids=list(EKS_UNSUPPORTED_ZONE_IDS),
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        self.availability_zones = zones.names.apply(lambda names: list(names[: args.az_count]))

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=self._tags.for_resource(f"{name}-vpc"),
            opts=self._child(),
        )
        self.vpc_id = vpc.id
        self.vpc_cidr = vpc.cidr_block

        # Adopting the default group with no rules means nothing can fall back on its allow-all-within rule.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=vpc.id,
            ingress=[],
            egress=[],
            tags=self._tags.for_resource(f"{name}-default"),
            opts=self._child(),
        )

        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags=self._tags.for_resource(f"{name}-igw"), opts=self._child()
        )

        subnets: dict[Tier, list[aws.ec2.Subnet]] = {tier: [] for tier in TIERS}
        for az in plan:
            for tier in TIERS:
                subnets[tier].append(
                    self._subnet(vpc, tier, az.index, str(az.by_tier(tier)), zones.names[az.index])
                )

        self._route_table("public", vpc, "public", list(enumerate(subnets["public"])), gateway_id=igw.id)

        nat_count = args.az_count if args.nat_gateways == "perAz" else 1
        nat_gateways = [self._nat_gateway(i, subnets["public"][i], igw) for i in range(nat_count)]
        private_tables = [
            self._route_table(
                f"private-{az.index}",
                vpc,
                "private",
                [(az.index, subnets["private"][az.index])],
                nat_gateway_id=nat_gateways[nat_gateway_for_az(az.index, args.nat_gateways)].id,
            )
            for az in plan
        ]
        self._route_table("database", vpc, "database", list(enumerate(subnets["database"])))

        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=region.apply(lambda region: f"com.amazonaws.{region}.s3"),
            vpc_endpoint_type="Gateway",
            route_table_ids=[table.id for table in private_tables],
            tags=self._tags.for_resource(f"{name}-s3"),
            opts=self._child(),
        )

        if args.interface_endpoints:
            endpoint_subnets = [
                self._subnet(vpc, "endpoints", index, cidr, zones.names[index])
                for index, cidr in enumerate(self.endpoint_cidrs)
            ]
            self._route_table("endpoints", vpc, "endpoints", list(enumerate(endpoint_subnets)))
            self._interface_endpoints(vpc, args, region, [subnet.id for subnet in endpoint_subnets])

        self.flow_log_group_name = self._flow_logs(vpc)

        database_ids = [s.id for s in subnets["database"]]
        db_subnet_group = aws.rds.SubnetGroup(
            f"{name}-database",
            description=f"Database subnets of {name}",
            subnet_ids=database_ids,
            tags=self._tags.for_resource(f"{name}-database"),
            opts=self._child(),
        )
        cache_subnet_group = aws.elasticache.SubnetGroup(
            f"{name}-cache",
            description=f"Cache subnets of {name}",
            subnet_ids=database_ids,
            tags=self._tags.for_resource(f"{name}-cache"),
            opts=self._child(),
        )
        self.db_subnet_group_name = db_subnet_group.name
        self.cache_subnet_group_name = cache_subnet_group.name
        self.public_subnet_ids = _ids(subnets["public"])
        self.private_subnet_ids = _ids(subnets["private"])
        self.database_subnet_ids = _ids(subnets["database"])
        self.nat_gateway_ids = _ids(nat_gateways)
        self.nat_gateway_id_list = [gateway.id for gateway in nat_gateways]

        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "vpcCidr": self.vpc_cidr,
                "availabilityZones": self.availability_zones,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
                "databaseSubnetIds": self.database_subnet_ids,
                "natGatewayIds": self.nat_gateway_ids,
                "dbSubnetGroupName": self.db_subnet_group_name,
                "cacheSubnetGroupName": self.cache_subnet_group_name,
                "flowLogGroupName": self.flow_log_group_name,
            }
        )

    def _subnet_name(self, tier: Tier, az_index: int) -> str:
        return f"{self._name}-{tier}-{az_index}"

    def _subnet(
        self, vpc: aws.ec2.Vpc, tier: Tier, az_index: int, cidr: str, zone: pulumi.Input[str]
    ) -> aws.ec2.Subnet:
        name = self._subnet_name(tier, az_index)
        return aws.ec2.Subnet(
            name,
            vpc_id=vpc.id,
            cidr_block=cidr,
            availability_zone=zone,
            # Nothing gets a public IP by accident; LBs and NAT gateways bring their own.
            map_public_ip_on_launch=False,
            tags=self._tags.for_resource(name, subnet_tags(tier, self._args.cluster_name)),
            opts=self._child(),
        )

    def _child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _nat_gateway(
        self, index: int, subnet: aws.ec2.Subnet, igw: aws.ec2.InternetGateway
    ) -> aws.ec2.NatGateway:
        eip = aws.ec2.Eip(
            f"{self._name}-nat-{index}",
            domain="vpc",
            tags=self._tags.for_resource(f"{self._name}-nat-{index}"),
            opts=self._child(depends_on=[igw]),
        )
        return aws.ec2.NatGateway(
            f"{self._name}-nat-{index}",
            allocation_id=eip.id,
            subnet_id=subnet.id,
            tags=self._tags.for_resource(f"{self._name}-nat-{index}"),
            opts=self._child(depends_on=[igw]),
        )

    def _route_table(
        self,
        role: str,
        vpc: aws.ec2.Vpc,
        tier: Tier,
        members: Sequence[tuple[int, aws.ec2.Subnet]],
        *,
        gateway_id: pulumi.Input[str] | None = None,
        nat_gateway_id: pulumi.Input[str] | None = None,
    ) -> aws.ec2.RouteTable:
        """A route table for the ``tier`` subnets of ``members`` (AZ slot, subnet), with a default route
        only when a gateway is given."""
        table_name = f"{self._name}-{role}"
        table = aws.ec2.RouteTable(
            table_name, vpc_id=vpc.id, tags=self._tags.for_resource(table_name), opts=self._child()
        )
        if gateway_id is not None or nat_gateway_id is not None:
            aws.ec2.Route(
                f"{table_name}-default",
                route_table_id=table.id,
                destination_cidr_block=ANYWHERE,
                gateway_id=gateway_id,
                nat_gateway_id=nat_gateway_id,
                opts=self._child(),
            )
        # Named after the subnet, the association is as stable as the subnet itself.
        for az_index, subnet in members:
            aws.ec2.RouteTableAssociation(
                self._subnet_name(tier, az_index),
                route_table_id=table.id,
                subnet_id=subnet.id,
                opts=self._child(),
            )
        return table

    def _interface_endpoints(
        self,
        vpc: aws.ec2.Vpc,
        args: NetworkArgs,
        region: pulumi.Output[str],
        subnet_ids: Sequence[pulumi.Input[str]],
    ) -> None:
        """Interface endpoints in their own subnets behind a group open on 443 to the VPC only."""
        group_name = f"{self._name}-endpoints"
        group = aws.ec2.SecurityGroup(
            group_name,
            description="AWS service endpoints: HTTPS from inside the VPC",
            vpc_id=vpc.id,
            tags=self._tags.for_resource(group_name),
            opts=self._child(),
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{group_name}-https",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=args.cidr,
            description="HTTPS from the VPC",
            tags=self._tags.for_resource(f"{group_name}-https"),
            opts=self._child(),
        )
        for service in args.interface_endpoints:
            aws.ec2.VpcEndpoint(
                f"{self._name}-{service}",
                vpc_id=vpc.id,
                service_name=pulumi.Output.concat("com.amazonaws.", region, f".{service}"),
                vpc_endpoint_type="Interface",
                subnet_ids=list(subnet_ids),
                security_group_ids=[group.id],
                # The service's public name resolves to the endpoint inside the VPC: clients need no change.
                private_dns_enabled=True,
                tags=self._tags.for_resource(f"{self._name}-{service}"),
                opts=self._child(),
            )

    def _flow_logs(self, vpc: aws.ec2.Vpc) -> pulumi.Output[str]:
        name = f"{self._name}-flow-logs"
        log_group = aws.cloudwatch.LogGroup(
            name,
            retention_in_days=self._args.flow_log_retention_days,
            kms_key_id=self._args.log_key_arn,
            tags=self._tags.for_resource(name),
            opts=self._child(),
        )
        account_id, region = account_and_region(self)
        role = aws.iam.Role(
            name,
            description=f"Lets VPC flow logs of {self._name} write to their log group",
            assume_role_policy=pulumi.Output.all(account_id, region).apply(
                lambda ar: json.dumps(flow_log_trust_policy(ar[0], ar[1]))
            ),
            tags=self._tags.for_resource(name),
            opts=self._child(),
        )
        aws.iam.RolePolicy(
            name,
            role=role.name,
            policy=log_group.arn.apply(lambda arn: json.dumps(flow_log_policy(arn))),
            opts=self._child(),
        )
        aws.ec2.FlowLog(
            name,
            vpc_id=vpc.id,
            traffic_type=self._args.flow_log_traffic_type,
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            # One-minute aggregation: incidents are investigated at the minute, not the ten.
            max_aggregation_interval=60,
            tags=self._tags.for_resource(name),
            opts=self._child(),
        )
        return log_group.name


def _ids(resources: Sequence[pulumi.CustomResource]) -> pulumi.Output[list[str]]:
    return pulumi.Output.all(*[r.id for r in resources]).apply(list)
