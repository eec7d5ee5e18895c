"""The service quotas a stack must fit in: their Service Quotas codes, their names and AWS's documented
defaults, and which vCPU quota each EC2 instance type counts against.

A code here is what ``get_service_quota`` is asked for; the documented default stands in only when
Service Quotas cannot answer at all (no applied value and no AWS default). Names are Service Quotas'
own, so a fix can be searched for in the console.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from components.config import StackConfig

CapacityType = Literal["ON_DEMAND", "SPOT"]


@dataclass(frozen=True)
class Quota:
    service: str
    """The Service Quotas service code: ec2, vpc, eks, rds, elasticache."""
    code: str
    name: str
    documented_default: float | None
    """AWS's documented default; None where we found none documented."""


# --- EC2 vCPUs, by instance family class ----------------------------------------------------------------
# Classes and their families as the quota names spell them. Codes as Service Quotas lists them for
# ec2 (`aws service-quotas list-service-quotas --service-code ec2`); L-1216C47A is also the example of
# get-aws-default-service-quota in the AWS CLI User Guide ("Service Quotas examples using AWS CLI",
# https://docs.aws.amazon.com/cli/latest/userguide/cli_service-quotas_code_examples.html), whose
# answer gives its default, 5 vCPUs. The Spot defaults are the table of "Spot Instance quotas",
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-limits.html (Standard 5, others 0).

STANDARD = "Standard"

ON_DEMAND_VCPUS: dict[str, Quota] = {
    STANDARD: Quota(
        "ec2", "L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", 5
    ),
    "F": Quota("ec2", "L-74FC7D96", "Running On-Demand F instances", None),
    "G and VT": Quota("ec2", "L-DB2E81BA", "Running On-Demand G and VT instances", None),
    "Inf": Quota("ec2", "L-1945791B", "Running On-Demand Inf instances", None),
    "P": Quota("ec2", "L-417A185B", "Running On-Demand P instances", None),
    "X": Quota("ec2", "L-7295265B", "Running On-Demand X instances", None),
    "DL": Quota("ec2", "L-6E869C2A", "Running On-Demand DL instances", None),
    "Trn": Quota("ec2", "L-2C3B7624", "Running On-Demand Trn instances", None),
    "High Memory": Quota("ec2", "L-43DA4232", "Running On-Demand High Memory instances", None),
    "HPC": Quota("ec2", "L-F7808C92", "Running On-Demand HPC instances", None),
}
SPOT_VCPUS: dict[str, Quota] = {
    STANDARD: Quota(
        "ec2", "L-34B43A08", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests", 5
    ),
    "F": Quota("ec2", "L-88CF9481", "All F Spot Instance Requests", 0),
    "G and VT": Quota("ec2", "L-3819A6DF", "All G and VT Spot Instance Requests", 0),
    "Inf": Quota("ec2", "L-B5D1601B", "All Inf Spot Instance Requests", 0),
    "P": Quota("ec2", "L-7212CCBC", "All P Spot Instance Requests", 0),
    "X": Quota("ec2", "L-E3A00192", "All X Spot Instance Requests", 0),
    "DL": Quota("ec2", "L-85EED4F7", "All DL Spot Instance Requests", 0),
    "Trn": Quota("ec2", "L-6B0D517C", "All Trn Spot Instance Requests", 0),
}
VCPU_QUOTAS: dict[CapacityType, dict[str, Quota]] = {"ON_DEMAND": ON_DEMAND_VCPUS, "SPOT": SPOT_VCPUS}

# Longer prefixes first: "inf1" is Inf, not the I of Standard; "dl1" is DL, not D; "u-6tb1" High Memory.
_FAMILY_PREFIXES = (
    ("hpc", "HPC"),
    ("inf", "Inf"),
    ("trn", "Trn"),
    ("dl", "DL"),
    ("vt", "G and VT"),
    ("mac", None),  # Mac instances run only on Dedicated Hosts, which no vCPU quota counts.
    ("u", "High Memory"),
)
_FAMILY_LETTERS = {**dict.fromkeys("acdhimrtz", STANDARD), "f": "F", "g": "G and VT", "p": "P", "x": "X"}


def vcpu_class(instance_type: str) -> str | None:
    """The class whose vCPU quota ``instance_type`` counts against (``m5.large`` -> Standard), or None."""
    family = instance_type.split(".", 1)[0]
    for prefix, family_class in _FAMILY_PREFIXES:
        if family.startswith(prefix):
            return family_class
    return _FAMILY_LETTERS.get(family[:1])


# --- networking -----------------------------------------------------------------------------------------
# Codes as Service Quotas lists them (its AWS defaults for vpc are copied into moto's
# servicequotas/resources/default_quotas/vpc.py); defaults from "Amazon VPC quotas",
# https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html (VPCs per Region 5, NAT
# gateways per Availability Zone 5, counted while pending, active or deleting; Elastic IP addresses
# per Region 5) and "AWS PrivateLink quotas", https://docs.aws.amazon.com/vpc/latest/privatelink/
# vpc-limits-endpoints.html (interface endpoints per VPC 50; its console link names L-29B6F2EB).

ELASTIC_IPS = Quota("ec2", "L-0263D0A3", "EC2-VPC Elastic IPs", 5)
VPCS = Quota("vpc", "L-F678F1CE", "VPCs per Region", 5)
NAT_GATEWAYS_PER_AZ = Quota("vpc", "L-FE5A380F", "NAT gateways per Availability Zone", 5)
INTERFACE_ENDPOINTS_PER_VPC = Quota("vpc", "L-29B6F2EB", "Interface VPC endpoints per VPC", 50)

# --- EKS, RDS, ElastiCache ------------------------------------------------------------------------------
# Codes as Service Quotas lists them; defaults from "View and manage Amazon EKS and Fargate service
# quotas", https://docs.aws.amazon.com/eks/latest/userguide/service-quotas.html (Clusters 100, Managed
# node groups per cluster 30), and "Quotas and constraints for Amazon RDS",
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Limits.html (DB instances 40, Aurora's
# included). ElastiCache's "Nodes per Region" code is the one public quota tools query; we found no AWS
# page that prints it or its default, so none stands in for it.

EKS_CLUSTERS = Quota("eks", "L-1194D53C", "Clusters", 100)
NODE_GROUPS_PER_CLUSTER = Quota("eks", "L-6D54EA21", "Managed node groups per cluster", 30)
DB_INSTANCES = Quota("rds", "L-7B6409FD", "DB instances", 40)
CACHE_NODES = Quota("elasticache", "L-DFE45DF3", "Nodes per Region", None)


def vcpu_quotas(config: StackConfig) -> dict[tuple[CapacityType, str], Quota]:
    """The vCPU quotas the stack's node groups count against, by capacity type and class: Standard
    On-Demand and Spot always (the account's other instances count there too), other classes when a
    node group uses them."""
    wanted: dict[tuple[CapacityType, str], Quota] = {
        ("ON_DEMAND", STANDARD): ON_DEMAND_VCPUS[STANDARD],
        ("SPOT", STANDARD): SPOT_VCPUS[STANDARD],
    }
    for group in config.cluster.node_groups.values():
        for instance_type in group.instance_types:
            family_class = vcpu_class(instance_type)
            quota = VCPU_QUOTAS[group.capacity_type].get(family_class or "")
            if family_class is not None and quota is not None:
                wanted[(group.capacity_type, family_class)] = quota
    return wanted


def quotas_for(config: StackConfig) -> list[Quota]:
    """Every quota preflight reads for the stack."""
    return [
        *vcpu_quotas(config).values(),
        ELASTIC_IPS,
        VPCS,
        NAT_GATEWAYS_PER_AZ,
        INTERFACE_ENDPOINTS_PER_VPC,
        EKS_CLUSTERS,
        NODE_GROUPS_PER_CLUSTER,
        DB_INSTANCES,
        CACHE_NODES,
    ]
