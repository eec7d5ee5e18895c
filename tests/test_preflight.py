"""verify preflight: what only the account knows, asked read-only before `pulumi up`, against moto.

moto emulates the zones, instance types and their offerings, running instances, addresses, VPCs,
NAT gateways, the EKS, Aurora and ElastiCache names (with their tags), Aurora's orderable classes up
to PostgreSQL 15.2, and Service Quotas' VPC quotas. What it lacks is answered through botocore's
Stubber, which checks each answer against the service's model: EKS' DescribeClusterVersions and
DescribeAddonVersions, Aurora's orderable classes for 16.6, ElastiCache's engine versions and reserved
offerings, and every other Service Quotas value. Each case seeds one problem and shows the check that
fails and the fix it names; a well-provisioned account passes every check.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.session
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError, NoCredentialsError
from botocore.stub import Stubber
from moto import mock_aws
from typer.testing import CliRunner

from components.cluster import ADDONS
from components.config import StackConfig
from components.zones import EKS_UNSUPPORTED_ZONE_IDS
from verify import cli, preflight_facts
from verify.cli import app
from verify.inputs import PROJECT_DIR, data_tier_identifier, load_config
from verify.preflight import (
    Finding,
    cluster_version_check,
    evaluate,
    zone_check,
)
from verify.preflight_facts import ClusterVersion, PreflightFacts, QuotaValue, Zone, quota_value
from verify.quotas import CACHE_NODES, ELASTIC_IPS, ON_DEMAND_VCPUS, STANDARD, vcpu_class

# Each test builds an account in moto (and stubs) for preflight: `make test-fast` leaves the suite out.
pytestmark = pytest.mark.account

REGION = "us-east-1"
ACCOUNT = "123456789012"
TODAY = date.today()
BOTOCORE = botocore.session.get_session()
STUBS = boto3.Session(region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
"""Where the stubbed clients come from: a session with credentials of its own, outside moto."""


# --- answers for what moto lacks, shaped as the services' models say -------------------------------------


@dataclass(frozen=True)
class Refusal:
    """An AWS error instead of an answer."""

    code: str
    status: int = 400


Answer = Callable[[dict[str, Any]], "dict[str, Any] | Refusal"]


class Emulated:
    """A client of one service: moto answers, except the operations in ``answers``, which a function of
    the request answers through botocore's Stubber (so each answer is checked against the model)."""

    def __init__(self, moto: Any, answers: Mapping[str, Answer]) -> None:
        self._moto, self._answers = moto, dict(answers)
        self._stubbed = STUBS.client(moto.meta.service_model.service_name)
        self._stubber = Stubber(self._stubbed)
        self._stubber.activate()
        # Queued as each call starts, so paginated and repeated calls each get an answer of their own.
        self._stubbed.meta.events.register("provide-client-params.*.*", self._queue)

    def _queue(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        method = xform_name(model.name)
        answer = self._answers[method](params)
        if isinstance(answer, Refusal):
            self._stubber.add_client_error(method, answer.code, http_status_code=answer.status)
        else:
            self._stubber.add_response(method, answer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stubbed if name in self._answers else self._moto, name)

    def get_paginator(self, name: str) -> Any:
        return (self._stubbed if name in self._answers else self._moto).get_paginator(name)


def _without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def _day(offset: int) -> datetime:
    return datetime.combine(TODAY + timedelta(days=offset), datetime.min.time(), UTC)


def cluster_version(version: str, status: str, released: int, standard_ends: int) -> dict[str, Any]:
    """One entry of DescribeClusterVersions; days relative to today, as EKS' calendar spaces them."""
    return {
        "clusterVersion": version,
        "clusterType": "eks",
        "defaultPlatformVersion": "eks.5",
        "defaultVersion": False,
        "releaseDate": _day(released),
        "endOfStandardSupportDate": _day(standard_ends),
        "endOfExtendedSupportDate": _day(standard_ends + 365),
        "status": status.lower().replace("_", "-"),
        "versionStatus": status,
        "kubernetesPatchVersion": f"{version}.2",
    }


CLUSTER_VERSIONS = [
    cluster_version("1.35", "STANDARD_SUPPORT", -60, 365),
    cluster_version("1.34", "STANDARD_SUPPORT", -300, 120),
    cluster_version("1.33", "EXTENDED_SUPPORT", -430, -10),
]

ADDON_VERSIONS = {
    # newest first, as EKS lists them; the second of each is its default
    "vpc-cni": ["v1.21.1-eksbuild.1", "v1.20.4-eksbuild.2", "v1.20.3-eksbuild.1"],
    "kube-proxy": ["v1.34.1-eksbuild.2", "v1.34.0-eksbuild.4"],
    "eks-pod-identity-agent": ["v1.3.10-eksbuild.1", "v1.3.9-eksbuild.3"],
    "coredns": ["v1.12.4-eksbuild.1", "v1.12.3-eksbuild.1"],
    "aws-ebs-csi-driver": ["v1.51.0-eksbuild.1", "v1.50.1-eksbuild.1"],
}


def addon_versions(params: dict[str, Any]) -> dict[str, Any]:
    name, kubernetes = params["addonName"], params["kubernetesVersion"]
    return {
        "addons": [
            {
                "addonName": name,
                "type": "networking",
                "addonVersions": [
                    {
                        "addonVersion": version,
                        "architecture": ["amd64", "arm64"],
                        "computeTypes": ["ec2"],
                        "compatibilities": [
                            {
                                "clusterVersion": kubernetes,
                                "platformVersions": ["*"],
                                "defaultVersion": index == 1,
                            }
                        ],
                        "requiresConfiguration": False,
                        "requiresIamPermissions": name == "vpc-cni",
                    }
                    for index, version in enumerate(ADDON_VERSIONS[name])
                ],
                "publisher": "eks",
                "owner": "aws",
            }
        ]
    }


AURORA_16_6_CLASSES = (
    *("db.r5.large", "db.r5.xlarge", "db.r5.2xlarge", "db.r6g.large", "db.r6g.xlarge", "db.r6i.large"),
    *("db.r7g.large", "db.t3.medium", "db.t4g.medium", "db.t4g.large", "db.serverless"),
)

CACHE_ENGINE_VERSIONS = {
    "redis": [("6.2", "redis6.x"), ("7.0", "redis7"), ("7.1", "redis7")],
    "valkey": [("7.2", "valkey7"), ("8.0", "valkey8")],
}
RESERVABLE_CACHE_TYPES = {"cache.t4g.micro", "cache.t4g.medium", "cache.r6g.large", "cache.r7g.large"}

QUOTA_NAMES = {"ec2": "Amazon Elastic Compute Cloud (Amazon EC2)", "eks": "Amazon Elastic Kubernetes Service"}


@dataclass
class Account:
    """An account under moto, with what the stubs answer: a well-provisioned one until a test says not."""

    moto: Any
    cluster_versions: list[dict[str, Any]] = field(default_factory=lambda: list(CLUSTER_VERSIONS))
    aurora_16_6: tuple[str, ...] = AURORA_16_6_CLASSES
    reservable_cache_types: set[str] = field(default_factory=lambda: set(RESERVABLE_CACHE_TYPES))
    applied_quotas: dict[str, float] = field(
        default_factory=lambda: {
            "L-1216C47A": 1280,
            "L-34B43A08": 640,
            "L-0263D0A3": 5,
            "L-1194D53C": 100,
            "L-6D54EA21": 30,
            "L-7B6409FD": 40,
            "L-DFE45DF3": 300,
        }
    )
    """Service Quotas' applied values by code, beside moto's VPC quotas."""
    default_quotas: dict[str, float] = field(default_factory=dict)
    refused: dict[str, Refusal] = field(default_factory=dict)
    """Operations (snake-case) that AWS refuses."""

    def client(self, service: str) -> Any:
        moto = self.moto.client(service)
        answers = self._answers(moto).get(service)
        return moto if answers is None else Emulated(moto, answers)

    @property
    def region_name(self) -> str:
        return REGION

    def _answers(self, moto: Any) -> dict[str, dict[str, Answer]]:
        answers: dict[str, dict[str, Answer]] = {
            "eks": {
                "describe_cluster_versions": lambda _: {"clusterVersions": self.cluster_versions},
                "describe_addon_versions": addon_versions,
            },
            "rds": {
                "describe_orderable_db_instance_options": lambda p: self._orderable(moto, p),
                "describe_db_engine_versions": self._engine_versions,
            },
            "elasticache": {
                "describe_cache_engine_versions": self._cache_engine_versions,
                "describe_reserved_cache_nodes_offerings": self._reserved_offerings,
            },
            "service-quotas": {
                "get_service_quota": lambda p: self._quota(moto, p, self.applied_quotas),
                "get_aws_default_service_quota": lambda p: self._quota(None, p, self.default_quotas),
            },
        }
        for operation, refusal in self.refused.items():
            service = next((s for s, ops in answers.items() if operation in ops), "ec2")
            answers.setdefault(service, {})[operation] = lambda _, r=refusal: r
        return answers

    def _engine_versions(self, params: dict[str, Any]) -> dict[str, Any]:
        """Aurora PostgreSQL's default version of a major (DescribeDBEngineVersions --default-only)."""
        defaults = {"16": "16.6", "15": "15.2"}
        version = defaults.get(params["EngineVersion"])
        return {
            "DBEngineVersions": [
                {
                    "Engine": params["Engine"],
                    "EngineVersion": version,
                    "DBParameterGroupFamily": f"{params['Engine']}{params['EngineVersion']}",
                    "Status": "available",
                }
            ]
            if version
            else []
        }

    def _orderable(self, moto: Any, params: dict[str, Any]) -> dict[str, Any]:
        if params["EngineVersion"] != "16.6":
            # moto holds Aurora PostgreSQL's orderable classes up to 15.2.
            return _without_metadata(moto.describe_orderable_db_instance_options(**params))
        return {
            "OrderableDBInstanceOptions": [
                {
                    "Engine": params["Engine"],
                    "EngineVersion": "16.6",
                    "DBInstanceClass": instance_class,
                    "LicenseModel": "postgresql-license",
                    "AvailabilityZones": [{"Name": f"{REGION}{letter}"} for letter in "abcdef"],
                    "MultiAZCapable": False,
                    "ReadReplicaCapable": False,
                    "Vpc": True,
                    "SupportsStorageEncryption": True,
                    "StorageType": "aurora",
                    "SupportsIops": False,
                    "SupportsEnhancedMonitoring": True,
                    "SupportsIAMDatabaseAuthentication": True,
                    "SupportsPerformanceInsights": True,
                    "SupportedEngineModes": ["provisioned"],
                    "SupportsClusters": True,
                    "SupportedNetworkTypes": ["IPV4", "DUAL"],
                }
                for instance_class in self.aurora_16_6
            ]
        }

    @staticmethod
    def _cache_engine_versions(params: dict[str, Any]) -> dict[str, Any]:
        engine = params["Engine"]
        return {
            "CacheEngineVersions": [
                {
                    "Engine": engine,
                    "EngineVersion": version,
                    "CacheParameterGroupFamily": family,
                    "CacheEngineDescription": engine.capitalize(),
                    "CacheEngineVersionDescription": f"{engine} version {version}.0",
                }
                for version, family in CACHE_ENGINE_VERSIONS[engine]
            ]
        }

    def _reserved_offerings(self, params: dict[str, Any]) -> dict[str, Any]:
        node_type = params["CacheNodeType"]
        offered = node_type in self.reservable_cache_types
        return {
            "ReservedCacheNodesOfferings": [
                {
                    "ReservedCacheNodesOfferingId": str(uuid.uuid5(uuid.NAMESPACE_URL, node_type)),
                    "CacheNodeType": node_type,
                    "Duration": 31536000,
                    "FixedPrice": 0.0,
                    "UsagePrice": 0.0,
                    "ProductDescription": "redis",
                    "OfferingType": "No Upfront",
                    "RecurringCharges": [
                        {"RecurringChargeAmount": 0.128, "RecurringChargeFrequency": "Hourly"}
                    ],
                }
            ]
            if offered
            else []
        }

    @staticmethod
    def _quota(moto: Any, params: dict[str, Any], values: Mapping[str, float]) -> dict[str, Any] | Refusal:
        service, code = params["ServiceCode"], params["QuotaCode"]
        if service == "vpc" and moto is not None:
            return _without_metadata(moto.get_service_quota(**params))
        if code not in values:
            return Refusal("NoSuchResourceException")
        return {
            "Quota": {
                "ServiceCode": service,
                "ServiceName": QUOTA_NAMES.get(service, service),
                "QuotaArn": f"arn:aws:servicequotas:{REGION}:{ACCOUNT}:{service}/{code}",
                "QuotaCode": code,
                "QuotaName": code,
                "Value": values[code],
                "Unit": "None",
                "Adjustable": True,
                "GlobalQuota": False,
            }
        }


@pytest.fixture
def account() -> Iterator[Account]:
    with mock_aws():
        yield Account(boto3.Session(botocore_session=BOTOCORE, region_name=REGION))


def with_config(stack: str, **sections: dict[str, Any]) -> StackConfig:
    """The stack's config with some sections' fields replaced (aliases as in the stack file)."""
    config = load_config(stack)
    updates = {
        section: getattr(config, section).model_validate(
            {**getattr(config, section).model_dump(by_alias=True), **values}
        )
        for section, values in sections.items()
    }
    return config.model_copy(update=updates)


def findings(account: Account, config: StackConfig, today: date = TODAY) -> dict[str, Finding]:
    found = evaluate(config, REGION, preflight_facts.gather(account, config), today)
    by_name = {finding.name: finding for finding in found}
    assert len(by_name) == len(found), "check names are unique"
    return by_name


def not_passing(checks: dict[str, Finding]) -> dict[str, str]:
    return {name: finding.status for name, finding in checks.items() if finding.status != "PASS"}


# --- a well-provisioned account ---------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_a_well_provisioned_account_passes_every_check(account, stack):
    config = load_config(stack)
    checks = findings(account, config)
    assert not_passing(checks) == {}
    assert all(finding.fix == "" for finding in checks.values())
    groups = config.cluster.node_groups
    assert [name for name in checks if name.startswith("zones: node group ")] == [
        f"zones: node group {key}" for key in groups
    ]
    assert {f"add-on {addon}" for addon in ADDONS} <= set(checks)
    assert "quota: On-Demand Standard vCPUs" in checks and "quota: Spot Standard vCPUs" in checks


def test_prod_s_node_groups_reach_1040_on_demand_standard_vcpus(account):
    checks = findings(account, load_config("prod"))
    vcpus = checks["quota: On-Demand Standard vCPUs"]
    assert vcpus.detail == (
        "in use 0 + 1,040 vCPUs at the node groups' maximum sizes = 1,040; quota 1,280 (L-1216C47A "
        "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances, applied value); general 20 x "
        "m5.xlarge (4 vCPUs), agentWorkers 50 x c5.4xlarge (16 vCPUs), memoryIntensive 10 x r5.4xlarge "
        "(16 vCPUs)"
    )
    assert checks["quota: Spot Standard vCPUs"].detail.startswith(
        "in use 0 + 0 vCPUs at the node groups' maximum sizes = 0; quota 640 (L-34B43A08"
    )


def test_dev_s_spot_group_counts_against_the_spot_quota(account):
    checks = findings(account, load_config("dev"))
    assert checks["quota: Spot Standard vCPUs"].detail.startswith(
        "in use 0 + 8 vCPUs at the node groups' maximum sizes = 8; quota 640 (L-34B43A08"
    )
    assert checks["quota: On-Demand Standard vCPUs"].detail.startswith(
        "in use 0 + 0 vCPUs at the node groups' maximum sizes = 0;"
    )


# --- quotas -----------------------------------------------------------------------------------------------


def test_a_vcpu_quota_too_low_fails_naming_the_quota_and_the_value_to_ask_for(account):
    ec2 = account.moto.client("ec2")
    # Two instances of another workload count; the stack's own nodes (EKS tags them) are in its maximum.
    ec2.run_instances(ImageId="ami-12c6146b", MinCount=2, MaxCount=2, InstanceType="c5.4xlarge")
    ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        InstanceType="m5.xlarge",
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "eks:cluster-name", "Value": "platform-prod"}]}
        ],
    )
    account.applied_quotas["L-1216C47A"] = 1000
    checks = findings(account, load_config("prod"))
    assert not_passing(checks) == {"quota: On-Demand Standard vCPUs": "FAIL"}
    vcpus = checks["quota: On-Demand Standard vCPUs"]
    assert vcpus.detail.startswith(
        "in use 32 + 1,040 vCPUs at the node groups' maximum sizes = 1,072; quota 1,000 (L-1216C47A"
    )
    assert vcpus.fix == (
        "raise L-1216C47A Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances in us-east-1 to "
        "at least 1072: aws service-quotas request-service-quota-increase --service-code ec2 --quota-code "
        "L-1216C47A --desired-value 1072 --region us-east-1"
    )


def test_elastic_ips_count_the_nat_gateways_one_spare_and_the_addresses_of_others(account):
    ec2 = account.moto.client("ec2")
    for owner in ("other", "other", "platform"):
        allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
        ec2.create_tags(
            Resources=[allocation],
            Tags=[{"Key": "Project", "Value": owner}, {"Key": "Stack", "Value": "prod"}],
        )
    checks = findings(account, load_config("prod"))
    eips = checks["quota: Elastic IPs"]
    assert eips.status == "FAIL"
    assert eips.detail.startswith(
        "in use 2 + 4 for the stack's 3 NAT gateways and 1 spare = 6; quota 5 (L-0263D0A3 EC2-VPC Elastic IPs"
    )
    assert "--quota-code L-0263D0A3 --desired-value 6" in eips.fix
    # dev's single NAT gateway and its spare fit beside the two addresses.
    assert findings(account, load_config("dev"))["quota: Elastic IPs"].status == "PASS"


def test_vpcs_nat_gateways_and_the_data_tier_count_what_is_in_use_beside_the_stack(account):
    checks = findings(account, load_config("prod"))
    # moto's default VPC is in use; the stack adds one NAT gateway in each of its zones.
    assert checks["quota: VPCs"].detail.startswith(
        "in use 1 + 1 for the stack's VPC = 2; quota 5 (L-F678F1CE"
    )
    assert checks["quota: NAT gateways per AZ"].detail.startswith(
        "in use 0 + 1 for the stack in us-east-1a = 1; quota 5 (L-FE5A380F"
    )
    assert checks["quota: interface endpoints per VPC"].detail.startswith(
        "1 interface endpoint(s) in the stack's new VPC; quota 50 (L-29B6F2EB"
    )
    assert checks["quota: RDS DB instances"].detail.startswith(
        "in use 0 + 3 for the stack's Aurora instances = 3; quota 40 (L-7B6409FD"
    )
    assert checks["quota: node groups per cluster"].detail.startswith(
        "3 managed node group(s) in the stack's own cluster; quota 30 (L-6D54EA21"
    )


def test_quotas_service_quotas_cannot_read_fall_back_on_aws_s_default_then_the_documented_one(account):
    del account.applied_quotas[ELASTIC_IPS.code], account.applied_quotas[CACHE_NODES.code]
    account.default_quotas[ELASTIC_IPS.code] = 5
    checks = findings(account, load_config("prod"))
    assert checks["quota: Elastic IPs"].status == "PASS"
    assert (
        "(L-0263D0A3 EC2-VPC Elastic IPs, AWS default, no applied value)"
        in checks["quota: Elastic IPs"].detail
    )
    # AWS documents no default for ElastiCache's nodes per Region: nothing to compare with, so a warning.
    cache = checks["quota: ElastiCache nodes"]
    assert cache.status == "WARN"
    assert cache.detail.startswith("in use 0 + 3 for the stack's cache nodes = 3; quota unknown (L-DFE45DF3")
    assert cache.fix == "check that L-DFE45DF3 is at least 3 in us-east-1"


def test_a_documented_default_passes_only_with_a_warning(account):
    del account.applied_quotas[ELASTIC_IPS.code]
    eips = findings(account, load_config("dev"))["quota: Elastic IPs"]
    assert eips.status == "WARN"
    assert eips.detail.endswith(
        "(L-0263D0A3 EC2-VPC Elastic IPs, documented default: Service Quotas did not answer)"
    )
    assert eips.fix.startswith("confirm that L-0263D0A3 is at least 2 in us-east-1")


def test_a_quota_lookup_falls_back_and_other_errors_reach_the_caller():
    client = boto3.client(
        "service-quotas", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    wanted = {"ServiceCode": "ec2", "QuotaCode": "L-0263D0A3"}
    answer = {"Quota": {"ServiceCode": "ec2", "QuotaCode": "L-0263D0A3", "QuotaName": "EC2-VPC Elastic IPs"}}
    with Stubber(client) as stub:
        stub.add_client_error("get_service_quota", "NoSuchResourceException", expected_params=wanted)
        stub.add_response(
            "get_aws_default_service_quota", {"Quota": {**answer["Quota"], "Value": 5.0}}, wanted
        )
        assert quota_value(client, ELASTIC_IPS) == QuotaValue(5.0, applied=False)
        stub.add_client_error("get_service_quota", "AccessDeniedException", http_status_code=403)
        stub.add_client_error("get_aws_default_service_quota", "AccessDeniedException", http_status_code=403)
        assert quota_value(client, ELASTIC_IPS) is None
        stub.add_client_error("get_service_quota", "TooManyRequestsException", http_status_code=429)
        with pytest.raises(ClientError, match="TooManyRequestsException"):
            quota_value(client, ELASTIC_IPS)
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("instance_type", "family_class"),
    [
        ("m5.large", STANDARD),
        ("c5.4xlarge", STANDARD),
        ("r5.2xlarge", STANDARD),
        ("t3a.large", STANDARD),
        ("i4i.xlarge", STANDARD),
        ("z1d.large", STANDARD),
        ("inf2.xlarge", "Inf"),
        ("dl1.24xlarge", "DL"),
        ("trn1.2xlarge", "Trn"),
        ("g5.xlarge", "G and VT"),
        ("vt1.3xlarge", "G and VT"),
        ("p4d.24xlarge", "P"),
        ("x2idn.16xlarge", "X"),
        ("f1.2xlarge", "F"),
        ("u-6tb1.metal", "High Memory"),
        ("hpc7g.16xlarge", "HPC"),
        ("mac1.metal", None),
    ],
)
def test_each_instance_type_counts_against_its_family_class(instance_type, family_class):
    assert vcpu_class(instance_type) == family_class


def test_a_group_of_another_class_gets_a_row_of_its_own(account):
    gpu = {
        "instanceTypes": ["g5.xlarge"],
        "amiType": "AL2023_x86_64_NVIDIA",
        "minSize": 0,
        "maxSize": 4,
        "desiredSize": 0,
    }
    config = with_config(
        "dev",
        cluster={
            "nodeGroups": {**load_config("dev").cluster.model_dump(by_alias=True)["nodeGroups"], "gpu": gpu}
        },
    )
    account.applied_quotas[ON_DEMAND_VCPUS["G and VT"].code] = 8
    checks = findings(account, config)
    gpus = checks["quota: On-Demand G and VT vCPUs"]
    assert gpus.status == "FAIL"
    assert gpus.detail.startswith(
        "in use 0 + 16 vCPUs at the node groups' maximum sizes = 16; quota 8 (L-DB2E81BA"
    )
    assert gpus.detail.endswith("gpu 4 x g5.xlarge (4 vCPUs)")


# --- orderable classes and versions -----------------------------------------------------------------------


def test_an_unorderable_database_class_fails_naming_classes_to_choose(account):
    # moto knows Aurora PostgreSQL 15.2's classes: no db.r4 among them.
    config = with_config(
        "prod",
        database={"engineVersion": "15.2", "autoMinorVersionUpgrade": False, "instanceClass": "db.r4.large"},
    )
    database = findings(account, config)["database: orderable"]
    assert database == Finding(
        "database: orderable",
        "FAIL",
        "db.r4.large is not orderable for aurora-postgresql 15.2 in us-east-1",
        "set platform:database.instanceClass to one of db.r5.large, db.r6g.large, db.r6i.large, db.t3.large",
    )


def test_a_version_with_no_serverless_class_fails_when_the_stack_is_serverless(account):
    account.aurora_16_6 = tuple(c for c in AURORA_16_6_CLASSES if c != "db.serverless")
    config = with_config("dev", database={"serverless": {"minCapacity": 0.5, "maxCapacity": 4}})
    database = findings(account, config)["database: orderable"]
    assert (database.status, database.detail) == (
        "FAIL",
        "aurora-postgresql 16.6 (the default of 16) offers no Serverless v2 (db.serverless) in us-east-1",
    )
    assert database.fix.startswith("remove platform:database.serverless")


def test_a_version_not_orderable_at_all_names_where_to_find_one(account):
    account.aurora_16_6 = ()
    database = findings(account, load_config("prod"))["database: orderable"]
    assert database.detail == (
        "aurora-postgresql 16.6 (the default of 16) is not orderable in us-east-1 with any class"
    )
    assert "aws rds describe-db-engine-versions --engine aurora-postgresql --region us-east-1" in database.fix


def test_a_cache_engine_version_the_region_lacks_fails_naming_the_newest(account):
    config = with_config("prod", cache={"engineVersion": "7.2"})
    cache = findings(account, config)["cache: engine version"]
    assert cache == Finding(
        "cache: engine version",
        "FAIL",
        "redis 7.2 is not offered in us-east-1 (offered: 6.2, 7.0, 7.1)",
        'set platform:cache.engineVersion to "7.1", the newest redis there',
    )


def test_a_cache_node_type_without_reserved_offerings_is_a_warning(account):
    account.reservable_cache_types.discard("cache.r6g.large")
    cache = findings(account, load_config("prod"))["cache: node type"]
    assert cache.status == "WARN"
    assert cache.detail.startswith("us-east-1 sells no reserved cache.r6g.large nodes")
    assert "set platform:cache.nodeType" in cache.fix


def test_an_add_on_version_that_does_not_exist_fails_naming_the_default(account):
    config = with_config(
        "prod", cluster={"addonVersions": {"vpc-cni": "v1.99.0-eksbuild.1", "coredns": "v1.12.3-eksbuild.1"}}
    )
    checks = findings(account, config)
    assert not_passing(checks) == {"add-on vpc-cni": "FAIL"}
    assert checks["add-on vpc-cni"] == Finding(
        "add-on vpc-cni",
        "FAIL",
        "v1.99.0-eksbuild.1 (pinned) does not exist for Kubernetes 1.34 "
        "(newest v1.21.1-eksbuild.1, default v1.20.4-eksbuild.2)",
        "set platform:cluster.addonVersions.vpc-cni to v1.20.4-eksbuild.2, the default for 1.34, "
        "or remove the pin",
    )
    assert checks["add-on coredns"].detail == (
        "v1.12.3-eksbuild.1 (pinned) exists for Kubernetes 1.34; the default is v1.12.3-eksbuild.1"
    )
    assert (
        checks["add-on kube-proxy"].detail
        == "unpinned: EKS installs v1.34.0-eksbuild.4, its default for 1.34"
    )


def test_a_kubernetes_version_eks_does_not_offer_fails_naming_the_newest(account):
    account.cluster_versions = [v for v in CLUSTER_VERSIONS if v["clusterVersion"] != "1.34"]
    version = findings(account, load_config("prod"))["cluster: Kubernetes version"]
    assert version == Finding(
        "cluster: Kubernetes version",
        "FAIL",
        "EKS offers no 1.34 for new clusters here (offered: 1.33, 1.35)",
        'set platform:cluster.version to "1.35", the newest under standard support',
    )


STANDARD_1_34 = ClusterVersion("1.34", "STANDARD_SUPPORT", date(2026, 12, 2), date(2027, 12, 2))
VERSIONS = [
    ClusterVersion("1.35", "STANDARD_SUPPORT", date(2027, 3, 27), date(2028, 3, 27)),
    STANDARD_1_34,
    ClusterVersion("1.31", "EXTENDED_SUPPORT", date(2025, 11, 26), date(2026, 11, 26)),
]


@pytest.mark.parametrize(
    ("version", "today", "expected"),
    [
        pytest.param(
            "1.34",
            date(2026, 6, 1),
            Finding(
                "cluster: Kubernetes version",
                "PASS",
                "1.34 is under standard support until 2026-12-02 ($0.10 per cluster-hour; extended support "
                "after that costs $0.60)",
            ),
            id="standard",
        ),
        pytest.param(
            "1.34",
            date(2026, 11, 1),
            Finding(
                "cluster: Kubernetes version",
                "WARN",
                "1.34's standard support ends 2026-12-02, in 31 days; then EKS bills extended support, $0.60 "
                "per cluster-hour instead of $0.10",
                'set platform:cluster.version to "1.35", the newest under standard support before 2026-12-02',
            ),
            id="standard-ending",
        ),
        pytest.param(
            "1.31",
            date(2026, 1, 5),
            Finding(
                "cluster: Kubernetes version",
                "WARN",
                "1.31 is under extended support until 2026-11-26: $0.60 per cluster-hour instead of $0.10, "
                "about $365 more a month per cluster",
                'set platform:cluster.version to "1.35", the newest under standard support',
            ),
            id="extended",
        ),
    ],
)
def test_the_kubernetes_version_s_support_and_its_price(version, today, expected):
    config = load_config("prod").cluster.model_copy(update={"version": version})
    assert cluster_version_check(config, VERSIONS, today) == expected


# --- zones ------------------------------------------------------------------------------------------------


def test_an_instance_type_missing_in_one_zone_fails_naming_type_and_zone(account):
    # moto's us-east-1 offers c5d.12xlarge in us-east-1a (use1-az6) but not in us-east-1b (use1-az1).
    group = {"instanceTypes": ["c5d.12xlarge", "m5.large"], "minSize": 1, "maxSize": 2, "desiredSize": 1}
    config = with_config("dev", cluster={"nodeGroups": {"general": group}})
    checks = findings(account, config)
    assert not_passing(checks) == {"zones: node group general": "FAIL"}
    assert checks["zones: node group general"] == Finding(
        "zones: node group general",
        "FAIL",
        "c5d.12xlarge is not offered in us-east-1b (use1-az1)",
        "remove c5d.12xlarge from platform:cluster.nodeGroups.general.instanceTypes",
    )


def test_the_stack_leaves_out_a_zone_id_eks_refuses_and_fails_only_when_too_few_remain(account):
    # moto's us-east-1e is use1-az3, where EKS refuses control-plane subnets (and no c5.4xlarge runs):
    # the program leaves it out by ID, so five zones of six remain.
    five = findings(account, with_config("prod", network={"azCount": 5}))
    assert five["zones: EKS control plane"].status == "PASS"
    assert five["zones: EKS control plane"].detail.endswith(
        "left out us-east-1e (use1-az3), where EKS refuses control planes"
    )
    assert five["zones: node group agentWorkers"].status == "PASS", "use1-az3 is not among its zones"
    six = findings(account, with_config("prod", network={"azCount": 6}))["zones: EKS control plane"]
    assert (six.status, six.fix) == ("FAIL", "set platform:network.azCount to 5")


def test_zones_are_chosen_by_id_as_the_program_chooses_them():
    zones = [Zone("us-east-1a", "use1-az3"), Zone("us-east-1b", "use1-az1"), Zone("us-east-1c", "use1-az2")]
    network = load_config("prod").network
    assert zone_check(network, zones) == Finding(
        "zones: EKS control plane",
        "FAIL",
        "2 available zones EKS supports (us-east-1b (use1-az1), us-east-1c (use1-az2)); left out "
        "us-east-1a (use1-az3), where EKS refuses control planes; azCount is 3",
        "set platform:network.azCount to 2",
    )
    assert zone_check(network.model_copy(update={"az_count": 2}), zones).status == "PASS"
    assert tuple(EKS_UNSUPPORTED_ZONE_IDS) == ("use1-az3", "usw1-az2", "cac1-az3")


# --- names ------------------------------------------------------------------------------------------------


def test_a_name_another_stack_holds_fails_and_the_stack_s_own_passes(account):
    config = load_config("prod")
    name = data_tier_identifier(config)
    ours = [{"Key": "Project", "Value": "platform"}, {"Key": "Stack", "Value": "prod"}]
    account.moto.client("eks").create_cluster(
        name=config.cluster_name,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/other",
        resourcesVpcConfig={"subnetIds": []},
        tags={"Project": "platform", "Stack": "staging"},
    )
    account.moto.client("rds").create_db_cluster(
        DBClusterIdentifier=name,
        Engine="aurora-postgresql",
        EngineVersion="16.6",
        MasterUsername="postgres",
        MasterUserPassword="not-a-secret-1",
        Tags=ours,
    )
    account.moto.client("elasticache").create_replication_group(
        ReplicationGroupId=name,
        ReplicationGroupDescription="someone else's",
        Engine="redis",
        CacheNodeType="cache.t4g.micro",
        NumCacheClusters=1,
        Tags=[{"Key": "Project", "Value": "platform"}],
    )
    checks = findings(account, config)
    assert checks["names: EKS cluster"] == Finding(
        "names: EKS cluster",
        "FAIL",
        "platform-prod exists and is not the stack's (Project=platform, Stack=staging)",
        "set platform:cluster.name to a name no other stack uses (it names the EKS cluster, the Aurora "
        "cluster and the ElastiCache replication group), or remove the other EKS cluster platform-prod",
    )
    assert checks["names: Aurora cluster"] == Finding(
        "names: Aurora cluster", "PASS", "platform-prod is the stack's own (Project=platform, Stack=prod)"
    )
    group = checks["names: ElastiCache replication group"]
    assert (group.status, group.detail) == (
        "FAIL",
        "platform-prod exists and is not the stack's (Project=platform, Stack=(none))",
    )


# --- the command ------------------------------------------------------------------------------------------


def invoke(account: Account, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    """``python -m verify preflight ARGS`` in-process, its AWS session the emulated account. Only the
    command's own name for boto3 is replaced: moto itself creates boto3 sessions as it loads."""
    monkeypatch.setattr(cli, "boto3", SimpleNamespace(Session=lambda region_name=None: account))
    return CliRunner().invoke(app, ["preflight", *args], env={"COLUMNS": "250"})


def table_rows(output: str) -> dict[str, list[str]]:
    """The printed table's rows by their check: each row's cells, a wrapped cell's lines joined."""
    rows: dict[str, list[str]] = {}
    lines = [line.split("│")[1:-1] for line in output.splitlines() if line.startswith("│")]
    for cells in lines:
        check = cells[0].strip()
        if check:
            assert check not in rows, f"{check} printed twice"
            rows[check] = [cell.strip() for cell in cells]
        else:
            row = rows[list(rows)[-1]]
            rows[list(rows)[-1]] = [
                f"{kept} {cell.strip()}".strip() for kept, cell in zip(row, cells, strict=True)
            ]
    return rows


def test_preflight_of_prod_prints_one_row_per_check_with_its_1040_vcpus(account, monkeypatch):
    config = load_config("prod")
    expected = list(findings(account, config))
    result = invoke(account, monkeypatch, "--stack", "prod")
    assert result.exit_code == 0, result.output
    assert "Preflight: Stack prod in us-east-1" in result.output
    rows = table_rows(result.output)
    assert list(rows) == expected
    assert len(expected) == 26
    assert f"all {len(expected)} checks passed" in result.output
    _, status, detail, fix = rows["quota: On-Demand Standard vCPUs"]
    assert (status, fix) == ("PASS", "")
    assert detail.startswith(
        "in use 0 + 1,040 vCPUs at the node groups' maximum sizes = 1,040; quota 1,280 (L-1216C47A Running "
        "On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances, applied value)"
    )


def test_preflight_as_json_gives_status_detail_and_fix_and_exits_1_on_a_failure(account, monkeypatch):
    account.applied_quotas["L-1216C47A"] = 64
    result = invoke(account, monkeypatch, "--stack", "prod", "--json")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert (document["stack"], document["region"], document["ok"]) == ("prod", REGION, False)
    assert {tuple(check) for check in document["checks"]} == {("name", "status", "detail", "fix")}
    failed = [check for check in document["checks"] if check["status"] == "FAIL"]
    assert [check["name"] for check in failed] == ["quota: On-Demand Standard vCPUs"]
    assert "--desired-value 1040" in failed[0]["fix"]


def test_preflight_reads_a_stack_file_anywhere_and_takes_its_stack_from_the_name(
    account, monkeypatch, tmp_path
):
    path = tmp_path / "Pulumi.qa.yaml"
    path.write_text((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    result = invoke(account, monkeypatch, "--config-file", str(path), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["stack"] == "qa"
    assert {
        "name": "names: EKS cluster",
        "status": "PASS",
        "detail": "platform-qa is free",
        "fix": "",
    } in document["checks"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stack", "qa"], "unknown stack 'qa': no Pulumi.qa.yaml; the stacks are dev, prod, staging"),
        ([], "give exactly one of --stack NAME or --config-file PATH"),
        (
            ["--stack", "dev", "--config-file", "Pulumi.dev.yaml"],
            "give exactly one of --stack NAME or --config-file",
        ),
    ],
)
def test_preflight_exits_2_on_bad_input(account, monkeypatch, args, message):
    result = invoke(account, monkeypatch, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert isinstance(result.exception, SystemExit)


def test_preflight_exits_2_with_every_config_error_and_its_key_path(account, monkeypatch, tmp_path):
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text("config:\n  platform:network: {azCount: 9, natGateway: single}\n")
    result = invoke(account, monkeypatch, "--config-file", str(path))
    assert result.exit_code == 2
    assert "3 configuration error(s) in stack 'broken':" in result.stderr
    assert "platform:network.azCount: must be at most 6, got 9" in result.stderr
    assert "platform:network.natGateway: unknown key; did you mean 'natGateways'?" in result.stderr
    assert "platform:deploy.roleArn: is required" in result.stderr


def test_preflight_exits_2_when_aws_refuses_an_essential_call(account, monkeypatch):
    account.refused["describe_availability_zones"] = Refusal("UnauthorizedOperation", 403)
    result = invoke(account, monkeypatch, "--stack", "prod")
    assert result.exit_code == 2
    assert "cannot read the account: An error occurred (UnauthorizedOperation)" in result.stderr
    assert "Traceback" not in result.output


def test_preflight_exits_2_without_credentials(account, monkeypatch):
    def no_credentials(_session: Any, _config: StackConfig) -> PreflightFacts:
        raise NoCredentialsError()

    monkeypatch.setattr(preflight_facts, "gather", no_credentials)
    result = invoke(account, monkeypatch, "--stack", "dev")
    assert result.exit_code == 2
    assert "cannot read the account: Unable to locate credentials" in result.stderr


def test_a_missing_stack_file_exits_2_without_a_traceback(tmp_path):
    missing = tmp_path / "Pulumi.gone.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "verify", "preflight", "--config-file", str(missing)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == f"{missing}: no such stack file"
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("text", "problem"),
    [("config: [1, 2\n", "not YAML at line 2, column 1"), ("- a\n", "must be a mapping")],
)
def test_a_stack_file_that_is_not_one_exits_2_with_one_line_naming_it(
    account, monkeypatch, tmp_path, text, problem
):
    path = tmp_path / "Pulumi.qa.yaml"
    path.write_text(text)
    result = invoke(account, monkeypatch, "--config-file", str(path))
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().startswith(f"{path}: {problem}")
    assert len(result.stderr.strip().splitlines()) == 1
