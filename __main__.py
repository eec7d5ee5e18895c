"""The platform's Pulumi program: typed config in, one Platform out. Keep it thin."""

import pulumi

from components.config import load_stack_config
from components.platform import Platform

config = load_stack_config()
platform = Platform(config.project, config)
network, cluster = platform.network, platform.cluster

pulumi.export("region", config.region)
pulumi.export("vpcId", network.vpc_id)
pulumi.export("vpcCidr", network.vpc_cidr)
pulumi.export("availabilityZones", network.availability_zones)
pulumi.export("publicSubnetIds", network.public_subnet_ids)
pulumi.export("privateSubnetIds", network.private_subnet_ids)
pulumi.export("databaseSubnetIds", network.database_subnet_ids)
pulumi.export("natGatewayIds", network.nat_gateway_ids)
pulumi.export("dbSubnetGroupName", network.db_subnet_group_name)
pulumi.export("cacheSubnetGroupName", network.cache_subnet_group_name)
pulumi.export("clusterName", cluster.cluster_name)
pulumi.export("clusterEndpoint", cluster.endpoint)
pulumi.export("clusterCertificateAuthorityData", cluster.certificate_authority_data)
pulumi.export("oidcIssuerUrl", cluster.oidc_issuer_url)
pulumi.export("oidcProviderArn", cluster.oidc_provider_arn)
pulumi.export("nodeSecurityGroupId", cluster.node_security_group_id)
pulumi.export("nodeGroupNames", {key: group.node_group_name for key, group in cluster.node_groups.items()})
pulumi.export("kubeconfig", cluster.kubeconfig)
if platform.runner is not None:
    pulumi.export("deployRunnerProject", platform.runner.project_name)
    pulumi.export("deployRunnerLabel", platform.runner.label)

database, cache = platform.database, platform.cache
pulumi.export("databaseEndpoint", database.endpoint)
pulumi.export("databaseReaderEndpoint", database.reader_endpoint)
pulumi.export("databasePort", database.port)
pulumi.export("databaseMasterUserSecretArn", database.master_user_secret_arn)
pulumi.export("cacheEndpoint", cache.primary_endpoint)
pulumi.export("cacheReaderEndpoint", cache.reader_endpoint)
pulumi.export("cachePort", cache.port)
pulumi.export("cacheAuthTokenSecretArn", cache.auth_token_secret_arn)
