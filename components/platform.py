"""The whole platform of one stack, composed from its components."""

from __future__ import annotations

import pulumi

from components.config import StackConfig
from components.network import Network, NetworkArgs
from components.tags import stack_tags


class Platform(pulumi.ComponentResource):
    """Every component of the stack, wired together from the typed stack config.

    Components never read ``pulumi.Config``: this is where config becomes their Args.
    """

    network: Network

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Platform", name, None, opts)
        tags = stack_tags(config.tags, project=config.project, stack=config.stack)
        child = pulumi.ResourceOptions(parent=self)

        self.network = Network(
            f"{name}-network",
            NetworkArgs(
                cluster_name=config.cluster_name,
                cidr=config.network.cidr,
                az_count=config.network.az_count,
                nat_gateways=config.network.nat_gateways,
                flow_log_retention_days=config.network.flow_log_retention_days,
                flow_log_traffic_type=config.network.flow_log_traffic_type,
                tags=tags,
            ),
            opts=child,
        )
        self.register_outputs({"vpcId": self.network.vpc_id})
