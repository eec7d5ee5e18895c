"""The platform's Pulumi program: typed config in, one Platform out. Keep it thin."""

import pulumi

from components.config import load_stack_config
from components.platform import Platform

config = load_stack_config()
platform = Platform(config.project, config)
network = platform.network

pulumi.export("region", config.region)
pulumi.export("clusterName", config.cluster_name)
pulumi.export("vpcId", network.vpc_id)
pulumi.export("vpcCidr", network.vpc_cidr)
pulumi.export("availabilityZones", network.availability_zones)
pulumi.export("publicSubnetIds", network.public_subnet_ids)
pulumi.export("privateSubnetIds", network.private_subnet_ids)
pulumi.export("databaseSubnetIds", network.database_subnet_ids)
pulumi.export("natGatewayIds", network.nat_gateway_ids)
pulumi.export("dbSubnetGroupName", network.db_subnet_group_name)
pulumi.export("cacheSubnetGroupName", network.cache_subnet_group_name)
