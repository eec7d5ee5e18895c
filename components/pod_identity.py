"""An IAM role that pods assume through EKS Pod Identity: the role, its one inline policy, and the
associations binding it to service accounts of one namespace."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.cluster import assume_role_policy
from components.tags import Tags


@dataclass(frozen=True)
class PodIdentityRole:
    """What :func:`pod_identity_role` made."""

    role: aws.iam.Role
    policy: aws.iam.RolePolicy
    associations: tuple[aws.eks.PodIdentityAssociation, ...]

    @property
    def grants(self) -> list[pulumi.Resource]:
        """What the pods wait for: EKS gives a pod credentials only if its association exists when it
        starts, and they are worth something only once the policy is attached."""
        return [self.policy, *self.associations]


def pod_identity_role(
    parent: pulumi.Resource,
    name: str,
    *,
    description: str,
    policy: pulumi.Input[str],
    cluster_name: pulumi.Input[str],
    namespace: pulumi.Input[str],
    service_accounts: Mapping[str, str],
    tags: Tags,
) -> PodIdentityRole:
    """A role trusted by ``pods.eks.amazonaws.com`` (with session tags, which Pod Identity sets), named
    ``name`` with the inline ``policy`` (JSON), and an association per entry of ``service_accounts``
    (resource name -> service account of ``namespace``), all children of ``parent``."""
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        name,
        description=description,
        assume_role_policy=assume_role_policy("pods.eks.amazonaws.com", tag_session=True),
        tags=tags.for_resource(name),
        opts=child,
    )
    attached = aws.iam.RolePolicy(name, role=role.name, policy=policy, opts=child)
    associations = tuple(
        aws.eks.PodIdentityAssociation(
            resource_name,
            cluster_name=cluster_name,
            namespace=namespace,
            service_account=account,
            role_arn=role.arn,
            tags=tags.for_resource(resource_name),
            opts=child,
        )
        for resource_name, account in service_accounts.items()
    )
    return PodIdentityRole(role, attached, associations)
