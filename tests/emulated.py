"""Small programs for the emulated account: a bare EKS cluster and a Kubernetes provider reaching it as the
deploying role does (through an access entry and policy association the provider waits for)."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.cluster import CLUSTER_ADMIN_POLICY, kubeconfig
from offline.emulation.account import AccountOptions

DEPLOY_ROLE = "arn:aws:iam::123456789012:role/deploy"
DEPLOYER = AccountOptions(deployer=DEPLOY_ROLE, roles=(DEPLOY_ROLE,))
"""An account whose deploy role was made by hand, running the program as that role."""


def bare_cluster(name: str = "c") -> tuple[aws.eks.Cluster, aws.ec2.Vpc, list[aws.ec2.Subnet], aws.iam.Role]:
    """An EKS cluster over two subnets of a new VPC, and the role it (and its nodes) use."""
    vpc = aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16")
    subnets = [
        aws.ec2.Subnet(f"subnet-{i}", vpc_id=vpc.id, cidr_block=f"10.0.{i}.0/24", availability_zone=zone)
        for i, zone in enumerate(("us-east-1b", "us-east-1c"))
    ]
    role = aws.iam.Role("role", assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": []}))
    cluster = aws.eks.Cluster(
        "eks",
        name=name,
        version="1.34",
        role_arn=role.arn,
        vpc_config={"subnet_ids": [s.id for s in subnets]},
    )
    return cluster, vpc, subnets, role


def deploy_provider(
    cluster: aws.eks.Cluster, *, waits: bool = True, policy: str = CLUSTER_ADMIN_POLICY
) -> k8s.Provider:
    """A Kubernetes provider for ``cluster`` as :data:`DEPLOY_ROLE`, granted ``policy``; it waits for the
    grant unless ``waits`` is false."""
    entry = aws.eks.AccessEntry("deploy", cluster_name=cluster.name, principal_arn=DEPLOY_ROLE)
    grant = aws.eks.AccessPolicyAssociation(
        "deploy",
        cluster_name=cluster.name,
        principal_arn=DEPLOY_ROLE,
        policy_arn=policy,
        access_scope={"type": "cluster"},
        opts=pulumi.ResourceOptions(depends_on=[entry]),
    )
    return k8s.Provider(
        "k8s",
        kubeconfig=cluster.name.apply(lambda name: kubeconfig(name, "https://c", "Y2E=", "us-east-1")),
        opts=pulumi.ResourceOptions(depends_on=[grant] if waits else []),
    )
