"""Emulated EKS, launch templates, security-group rules and the IRSA provider, in the moto account.

moto has no EKS add-ons, access entries or Pod Identity; add-ons and access entries fall back to synthetic
IDs (see ``core``), and Pod Identity associations are checked against the cluster and role they name.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.zones import EKS_UNSUPPORTED_ZONE_IDS
from offline.emulation.core import (
    AwsEmulator,
    Outputs,
    ec2_tag_specs,
    handles,
    physical_name,
    refusal,
    short_hash,
)

Args = pulumi.runtime.MockResourceArgs


def _api_shape(value: Any) -> Any:
    """Launch-template data in the EC2 API's shape: ``httpTokens`` -> ``HttpTokens``; the provider's
    string booleans ("true") as booleans."""
    if isinstance(value, dict):
        return {key[0].upper() + key[1:]: _api_shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_api_shape(item) for item in value]
    return {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value


def _template_data(inputs: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        key[0].upper() + key[1:]: _api_shape(inputs[key])
        for key in ("metadataOptions", "blockDeviceMappings", "monitoring", "imageId", "keyName")
        if key in inputs
    }
    if inputs.get("vpcSecurityGroupIds"):
        data["SecurityGroupIds"] = inputs["vpcSecurityGroupIds"]
    data["TagSpecifications"] = [
        {
            "ResourceType": spec["resourceType"],
            "Tags": [{"Key": k, "Value": v} for k, v in spec["tags"].items()],
        }
        for spec in inputs.get("tagSpecifications", [])
    ]
    return data


@handles("aws:ec2/launchTemplate:LaunchTemplate")
def _launch_template(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    name = a.inputs.get("name") or physical_name(a.inputs.get("namePrefix") or a.name, 128)
    template = e.client("ec2").create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData=_template_data(a.inputs)
    )["LaunchTemplate"]
    return template["LaunchTemplateId"], {
        "name": name,
        "arn": e.arn("ec2", f"launch-template/{template['LaunchTemplateId']}"),
        "latestVersion": template["LatestVersionNumber"],
        "defaultVersion": template["DefaultVersionNumber"],
    }


def _rule(e: AwsEmulator, a: Args, direction: str) -> tuple[str, Outputs]:
    permission: dict[str, Any] = {"IpProtocol": a.inputs["ipProtocol"]}
    if "fromPort" in a.inputs:
        permission.update(FromPort=a.inputs["fromPort"], ToPort=a.inputs["toPort"])
    if a.inputs.get("referencedSecurityGroupId"):
        permission["UserIdGroupPairs"] = [{"GroupId": a.inputs["referencedSecurityGroupId"]}]
    if a.inputs.get("cidrIpv4"):
        permission["IpRanges"] = [{"CidrIp": a.inputs["cidrIpv4"]}]
    authorize = getattr(e.client("ec2"), f"authorize_security_group_{direction}")
    rules = (
        authorize(GroupId=a.inputs["securityGroupId"], IpPermissions=[permission]).get("SecurityGroupRules")
        or []
    )
    rule_id = rules[0]["SecurityGroupRuleId"] if rules else f"sgr-{short_hash(a.name, length=17)}"
    return rule_id, {"arn": e.arn("ec2", f"security-group-rule/{rule_id}"), "securityGroupRuleId": rule_id}


@handles("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
def _ingress_rule(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    return _rule(e, a, "ingress")


@handles("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
def _egress_rule(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    return _rule(e, a, "egress")


def _refuse_unsupported_zones(e: AwsEmulator, a: Args, subnets: list[dict[str, Any]]) -> None:
    """EKS places no control plane in some zones, named by zone ID, and says so at CreateCluster."""
    refused = sorted(
        {s["AvailabilityZone"] for s in subnets if s["AvailabilityZoneId"] in EKS_UNSUPPORTED_ZONE_IDS}
    )
    if refused:
        zones = e.client("ec2").describe_availability_zones()["AvailabilityZones"]
        others = sorted(z["ZoneName"] for z in zones if z["ZoneId"] not in EKS_UNSUPPORTED_ZONE_IDS)
        raise refusal(
            a,
            "UnsupportedAvailabilityZoneException",
            f"Cannot create cluster '{a.inputs['name']}' because {', '.join(refused)}, the targeted "
            "availability zone, does not currently have sufficient capacity to support the cluster. "
            f"Retry and choose from these availability zones: {', '.join(others)}",
        )


@handles("aws:eks/cluster:Cluster")
def _eks_cluster(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    vpc = a.inputs["vpcConfig"]
    ec2 = e.client("ec2")
    subnets = ec2.describe_subnets(SubnetIds=vpc["subnetIds"])["Subnets"]
    _refuse_unsupported_zones(e, a, subnets)
    subnet = subnets[0]
    # EKS makes a "cluster security group" of its own for the control plane and managed nodes, tagged as
    # the cluster's own (the service controller counts it among a node's tagged groups).
    cluster_sg = ec2.create_security_group(
        GroupName=f"eks-cluster-sg-{a.inputs['name']}-{short_hash(a.inputs['name'])}",
        Description="EKS created security group applied to ENI that is attached to EKS Control Plane",
        VpcId=subnet["VpcId"],
        TagSpecifications=ec2_tag_specs(
            "security-group", {"tags": {f"kubernetes.io/cluster/{a.inputs['name']}": "owned"}}
        ),
    )["GroupId"]
    e.cluster_security_groups[a.inputs["name"]] = cluster_sg
    request: dict[str, Any] = {
        "name": a.inputs["name"],
        "roleArn": a.inputs["roleArn"],
        "resourcesVpcConfig": {
            "subnetIds": vpc["subnetIds"],
            "securityGroupIds": vpc.get("securityGroupIds", []),
            "endpointPublicAccess": vpc.get("endpointPublicAccess", True),
            "endpointPrivateAccess": vpc.get("endpointPrivateAccess", False),
        },
        "logging": {
            "clusterLogging": [{"types": a.inputs.get("enabledClusterLogTypes", []), "enabled": True}]
        },
        "tags": a.inputs.get("tags") or {},
    }
    if a.inputs.get("version"):
        request["version"] = a.inputs["version"]
    if vpc.get("publicAccessCidrs"):
        request["resourcesVpcConfig"]["publicAccessCidrs"] = vpc["publicAccessCidrs"]
    if a.inputs.get("encryptionConfig"):
        encryption = a.inputs["encryptionConfig"]
        request["encryptionConfig"] = [
            {"resources": encryption["resources"], "provider": {"keyArn": encryption["provider"]["keyArn"]}}
        ]
    cluster = e.client("eks").create_cluster(**request)["cluster"]
    return cluster["name"], {
        "arn": cluster["arn"],
        "endpoint": cluster["endpoint"],
        "certificateAuthority": {"data": cluster["certificateAuthority"]["data"]},
        "identities": [{"oidcs": [{"issuer": cluster["identity"]["oidc"]["issuer"]}]}],
        "platformVersion": cluster["platformVersion"],
        "status": cluster["status"],
        "vpcConfig": {**vpc, "clusterSecurityGroupId": cluster_sg, "vpcId": subnet["VpcId"]},
    }


def _ami_architecture_refusal(e: AwsEmulator, a: Args) -> None:
    """EKS refuses instance types of another architecture than the AMI type's: "[t4g.medium] is not a
    valid instance type for requested amiType AL2023_x86_64_STANDARD" (InvalidParameterException)."""
    ami_type = a.inputs.get("amiType") or "AL2023_x86_64_STANDARD"
    wanted = "arm64" if "_ARM_64" in ami_type else "x86_64"
    types = a.inputs.get("instanceTypes") or []
    if not types or ami_type == "CUSTOM":
        return
    described = e.client("ec2").describe_instance_types(InstanceTypes=types)["InstanceTypes"]
    for instance in described:
        if wanted not in instance["ProcessorInfo"]["SupportedArchitectures"]:
            raise refusal(
                a,
                "InvalidParameterException",
                f"[{instance['InstanceType']}] is not a valid instance type for requested amiType {ami_type}",
            )


def _version_refusal(e: AwsEmulator, a: Args) -> None:
    """CreateNodegroup's ``version``: "By default, the Kubernetes version of the cluster is used, and this is
    the only accepted specified value"; moto takes any."""
    version = a.inputs.get("version")
    if not version:
        return
    cluster = e.client("eks").describe_cluster(name=a.inputs["clusterName"])["cluster"]
    if version != cluster["version"]:
        raise refusal(
            a,
            "InvalidParameterException",
            f"Requested version {version} for a new node group is not the version of cluster "
            f"{cluster['name']}, {cluster['version']}: a node group is created at its cluster's version",
        )


@handles("aws:eks/nodeGroup:NodeGroup")
def _eks_node_group(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    _ami_architecture_refusal(e, a)
    _version_refusal(e, a)
    name = a.inputs.get("nodeGroupName") or physical_name(a.inputs.get("nodeGroupNamePrefix") or a.name, 63)
    request: dict[str, Any] = {
        "clusterName": a.inputs["clusterName"],
        "nodegroupName": name,
        "nodeRole": a.inputs["nodeRoleArn"],
        "subnets": a.inputs["subnetIds"],
        "scalingConfig": a.inputs["scalingConfig"],
        "instanceTypes": a.inputs.get("instanceTypes", []),
        "capacityType": a.inputs.get("capacityType", "ON_DEMAND"),
        "amiType": a.inputs.get("amiType") or "AL2023_x86_64_STANDARD",
        "labels": a.inputs.get("labels") or {},
        "taints": a.inputs.get("taints") or [],
        "tags": a.inputs.get("tags") or {},
    }
    if a.inputs.get("launchTemplate"):
        request["launchTemplate"] = {
            "id": a.inputs["launchTemplate"]["id"],
            "version": a.inputs["launchTemplate"]["version"],
        }
    group = e.client("eks").create_nodegroup(**request)["nodegroup"]
    return f"{a.inputs['clusterName']}:{name}", {
        "nodeGroupName": name,
        "arn": group["nodegroupArn"],
        "status": group["status"],
        "resources": [
            {"autoscalingGroups": [{"name": asg["name"]} for asg in group["resources"]["autoScalingGroups"]]}
        ],
    }


@handles("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
def _oidc_provider(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    provider = e.client("iam").create_open_id_connect_provider(
        Url=a.inputs["url"],
        ClientIDList=a.inputs.get("clientIdLists", []),
        # AWS trusts the well-known issuers' CAs itself now; moto still wants a list.
        ThumbprintList=a.inputs.get("thumbprintLists") or ["0" * 40],
    )
    return provider["OpenIDConnectProviderArn"], {"arn": provider["OpenIDConnectProviderArn"]}


@handles("aws:eks/podIdentityAssociation:PodIdentityAssociation")
def _pod_identity_association(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    """moto has no Pod Identity; checked as EKS checks it: the cluster and the role must exist."""
    cluster = a.inputs["clusterName"]
    e.client("eks").describe_cluster(name=cluster)
    e.client("iam").get_role(RoleName=a.inputs["roleArn"].rsplit("/", 1)[1])
    association_id = "a-" + short_hash(cluster, a.inputs["namespace"], a.inputs["serviceAccount"], length=17)
    return association_id, {
        "associationId": association_id,
        "associationArn": e.arn("eks", f"podidentityassociation/{cluster}/{association_id}"),
    }


# --- EKS access entries ----------------------------------------------------------------------------------


def _principal_exists(e: AwsEmulator, arn: str) -> None:
    """EKS refuses an access entry for a principal IAM does not have."""
    kind, _, name = arn.split(":", 5)[5].partition("/")
    iam = e.client("iam")
    if kind == "role":
        iam.get_role(RoleName=name.rsplit("/", 1)[-1])
    elif kind == "user":
        iam.get_user(UserName=name.rsplit("/", 1)[-1])


@handles("aws:eks/accessEntry:AccessEntry")
def _access_entry(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    """moto has no access entries; EKS checks the cluster and the principal exist."""
    cluster, principal = a.inputs["clusterName"], a.inputs["principalArn"]
    e.client("eks").describe_cluster(name=cluster)
    _principal_exists(e, principal)
    e.access_entries.add((cluster, principal))
    entry_id = f"{cluster}:{principal}"
    return entry_id, {
        "accessEntryArn": e.arn("eks", f"access-entry/{cluster}/{short_hash(principal, length=16)}"),
        "kubernetesGroups": [],
        "userName": principal,
    }


@handles("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
def _access_policy_association(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    cluster, principal = a.inputs["clusterName"], a.inputs["principalArn"]
    if (cluster, principal) not in e.access_entries:
        raise refusal(
            a,
            "ResourceNotFoundException",
            f"The specified access entry resource is not found: {principal} on cluster {cluster}",
        )
    return f"{cluster}#{principal}#{a.inputs['policyArn']}", {"associatedAt": "2026-01-01T00:00:00Z"}


# --- CodeBuild -------------------------------------------------------------------------------------------


@handles("aws:codebuild/project:Project")
def _codebuild_project(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    """A project, after what CodeBuild checks and moto does not: its role, its VPC's subnets and groups."""
    role = a.inputs["serviceRole"]
    e.client("iam").get_role(RoleName=role.rsplit("/", 1)[1])
    vpc = a.inputs.get("vpcConfig")
    if vpc:
        ec2 = e.client("ec2")
        subnets = ec2.describe_subnets(SubnetIds=vpc["subnets"])["Subnets"]
        if {s["VpcId"] for s in subnets} != {vpc["vpcId"]}:
            raise refusal(
                a, "InvalidInputException", f"subnets {vpc['subnets']} are not all in {vpc['vpcId']}"
            )
        ec2.describe_security_groups(GroupIds=vpc["securityGroupIds"])
    name = a.inputs.get("name") or physical_name(a.name, 150)
    source = a.inputs["source"]
    environment = a.inputs["environment"]
    project = e.client("codebuild").create_project(
        name=name,
        source={"type": source["type"], "location": source.get("location", "")},
        artifacts={"type": a.inputs.get("artifacts", {}).get("type", "NO_ARTIFACTS")},
        environment={
            "type": environment["type"],
            "image": environment["image"],
            "computeType": environment["computeType"],
        },
        serviceRole=role,
    )["project"]
    return name, {"name": name, "arn": project["arn"], "badgeUrl": ""}


@handles("aws:codebuild/webhook:Webhook")
def _codebuild_webhook(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    """moto has no webhooks; CodeBuild makes one only for a project it has."""
    name = a.inputs["projectName"]
    if not e.client("codebuild").batch_get_projects(names=[name])["projects"]:
        raise refusal(a, "ResourceNotFoundException", f"Project {name} not found")
    return name, {"payloadUrl": f"https://codebuild.{e.region}.amazonaws.com/webhooks?t={short_hash(name)}"}
