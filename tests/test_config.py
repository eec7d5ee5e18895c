"""Tests of the stack config contract: defaults, every validation rule, and the error report."""

import ipaddress
import json
from typing import Any

import pulumi
import pulumi.runtime.config
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from components import config as config_module
from components.config import (
    MINUTES_PER_DAY,
    MINUTES_PER_WEEK,
    SECTIONS,
    ConfigError,
    ConfigIssue,
    NetworkConfig,
    NodeGroupConfig,
    StackConfig,
    Window,
    daily_overlaps_weekly,
    decode_pulumi_config,
    load_stack_config,
    parse_daily_window,
    parse_stack_config,
    parse_weekly_window,
)
from tests.conftest import DEPLOY, with_deploy

# --- helpers ----------------------------------------------------------------------------------


def parse(values: dict[str, Any], *, stack: str, project: str = "platform") -> StackConfig:
    """``parse_stack_config`` of ``values`` plus the deploy section every stack needs."""
    return parse_stack_config(with_deploy(values, project), stack=stack, project=project)


def issues_of(values: dict[str, Any], stack: str) -> list[ConfigIssue]:
    try:
        parse(values, stack=stack)
    except ConfigError as err:
        return err.issues
    return []


def problems(values: dict[str, Any], stack: str = "dev") -> dict[str, str]:
    """path -> message of every issue ``values`` has."""
    return {issue.path: issue.message for issue in issues_of(values, stack)}


def section(name: str, value: Any) -> dict[str, Any]:
    return {f"platform:{name}": value}


def network(**keys: Any) -> dict[str, Any]:
    return section("network", keys)


def cluster(**keys: Any) -> dict[str, Any]:
    return section("cluster", keys)


def database(**keys: Any) -> dict[str, Any]:
    return section("database", keys)


def cache(**keys: Any) -> dict[str, Any]:
    return section("cache", keys)


def mesh(**keys: Any) -> dict[str, Any]:
    return section("mesh", keys)


def group(**overrides: Any) -> dict[str, Any]:
    """A valid node group (prod's general one) with ``overrides``."""
    base = {"instanceTypes": ["m5.large"], "minSize": 3, "maxSize": 20, "desiredSize": 6}
    return {**base, **overrides}


def node_group(**overrides: Any) -> dict[str, Any]:
    return cluster(nodeGroups={"general": group(**overrides)})


def taint(**overrides: Any) -> dict[str, Any]:
    return node_group(
        taints=[{"key": "workload-type", "value": "agents", "effect": "NO_SCHEDULE", **overrides}]
    )


HOSTS = ["api.example.com"]
NAMESPACES = section("namespaces", {"agents": {"cpuRequests": "64", "memoryRequests": "256Gi", "pods": 500}})


def service(**overrides: Any) -> dict[str, Any]:
    """A mesh with one service in a declared namespace, with ``overrides``."""
    spec = {"namespace": "agents", "port": 8080, **overrides}
    return {**mesh(gatewayHosts=HOSTS, services={"agent-runtime": spec}), **NAMESPACES}


def namespace(name: str = "agents", **overrides: Any) -> dict[str, Any]:
    spec = {"cpuRequests": "64", "memoryRequests": "256Gi", "pods": 500, **overrides}
    return section("namespaces", {name: spec})


def without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


NG = "platform:cluster.nodeGroups.general"
SVC = "platform:mesh.services.agent-runtime"

# --- one bad value at a time ------------------------------------------------------------------

ONE_BAD_VALUE = [
    # structure
    ("platform:netwrok", section("netwrok", {}), "unknown section; did you mean 'platform:network'?"),
    (
        "platform:zzz",
        section("zzz", {}),
        "unknown section; valid sections: platform:tags, platform:network, ",
    ),
    ("platform:network", section("network", "foo"), "must be a mapping, got a string"),
    (
        "platform:network.cidrr",
        network(cidrr="10.0.0.0/16"),
        "unknown key; did you mean 'cidr'?",
    ),
    ("platform:network.CIDR", network(CIDR="10.0.0.0/16"), "did you mean 'cidr'?"),
    (
        "platform:network.zzz",
        network(zzz=1),
        "unknown key; valid keys: cidr, azCount, natGateways",
    ),
    ("aws:region", {"aws:region": {"name": "us-east-1"}}, "must be a string, got a mapping"),
    # tags
    ("platform:tags", section("tags", ["team"]), "must be a mapping, got a list"),
    (
        f"platform:tags.{'k' * 129}",
        section("tags", {"k" * 129: "v"}),
        "invalid key: must be at most 128 characters",
    ),
    ("platform:tags.", section("tags", {"": "v"}), "invalid key: must not be empty"),
    ("platform:tags.AWS:team", section("tags", {"AWS:team": "v"}), "invalid key: must not start with 'aws:'"),
    (
        "platform:tags.team",
        section("tags", {"team": "x" * 257}),
        "must be at most 256 characters long, got 257",
    ),
    (
        "platform:tags.costCenter",
        section("tags", {"costCenter": 1234}),
        "quote it in the YAML (got the number 1234)",
    ),
    # network
    ("platform:network.cidr", network(cidr="foo"), "must be an IPv4 CIDR like '10.0.0.0/16'"),
    ("platform:network.cidr", network(cidr="10.0.0.0"), "must be an IPv4 CIDR"),
    (
        "platform:network.cidr",
        network(cidr="10.0.0.1/16"),
        "host bits set; did you mean '10.0.0.0/16'?",
    ),
    ("platform:network.cidr", network(cidr="8.8.0.0/16"), "must be a private RFC 1918 range"),
    (
        "platform:network.cidr",
        network(cidr="172.32.0.0/16"),
        "must be a private RFC 1918 range",
    ),
    ("platform:network.cidr", network(cidr="10.0.0.0/12"), "must be a /16 to /24, got a /12"),
    ("platform:network.cidr", network(cidr="10.0.0.0/25"), "must be a /16 to /24, got a /25"),
    (
        "platform:network.cidr",
        network(cidr="10.0.0.0/24", azCount=6),
        "at most 5 AZs but azCount is 6; use a larger CIDR or azCount 5",
    ),
    ("platform:network.azCount", network(azCount=1), "must be at least 2, got 1"),
    ("platform:network.azCount", network(azCount=7), "must be at most 6, got 7"),
    (
        "platform:network.azCount",
        network(azCount="3"),
        "must be an integer, got the string '3'",
    ),
    ("platform:network.natGateways", network(natGateways="perAZ"), "did you mean 'perAz'?"),
    (
        "platform:network.flowLogRetentionDays",
        network(flowLogRetentionDays=100),
        "must be a CloudWatch Logs retention period in days (nearest: 90 or 120), got 100",
    ),
    (
        "platform:network.flowLogRetentionDays",
        network(flowLogRetentionDays=0),
        "(nearest: 1)",
    ),
    (
        "platform:network.flowLogTrafficType",
        network(flowLogTrafficType="EVERYTHING"),
        "must be one of 'ALL', 'ACCEPT' or 'REJECT', got the string 'EVERYTHING'",
    ),
    # cluster
    ("platform:cluster.name", cluster(name="-agents"), "letters, digits, '-' and '_'"),
    ("platform:cluster.name", cluster(name="a" * 101), "must be at most 100 characters long"),
    ("platform:cluster.name", cluster(name=""), "must not be empty"),
    (
        "platform:cluster.version",
        cluster(version="1.x"),
        "must be an EKS version like '1.34'",
    ),
    (
        "platform:cluster.version",
        cluster(version=1.3),
        "must be a string; quote it in the YAML (got the number 1.3)",
    ),
    (
        "platform:cluster.endpointPublicAccess",
        cluster(endpointPublicAccess="yes"),
        "must be true or false, got the string 'yes'",
    ),
    (
        "platform:cluster.publicAccessCidrs",
        cluster(endpointPublicAccess=True),
        "must list at least one CIDR when endpointPublicAccess is true",
    ),
    (
        "platform:cluster.publicAccessCidrs",
        cluster(publicAccessCidrs="203.0.113.0/24"),
        "must be a list, got a string",
    ),
    (
        "platform:cluster.publicAccessCidrs.0",
        cluster(publicAccessCidrs=["203.0.113.7"]),
        "IPv4 CIDR",
    ),
    (
        "platform:cluster.adminRoleArns.0",
        cluster(adminRoleArns=["arn:aws:iam::123456789012:user/bob"]),
        "must be an IAM role ARN",
    ),
    (
        "platform:cluster.adminRoleArns.0",
        cluster(adminRoleArns=["arn:aws:iam::1234:role/admin"]),
        "must be an IAM role ARN",
    ),
    (
        "platform:cluster.addonVersions.vpc_cni",
        cluster(addonVersions={"vpc_cni": "v1.19.0-eksbuild.1"}),
        "unknown key; did you mean 'vpc-cni'?",
    ),
    (
        "platform:cluster.addonVersions.coredns",
        cluster(addonVersions={"coredns": "1.11"}),
        "must be an EKS add-on version like 'v1.19.0-eksbuild.1'",
    ),
    (
        "platform:cluster.logRetentionDays",
        cluster(logRetentionDays=10),
        "CloudWatch Logs retention",
    ),
    ("platform:cluster.nodeGroups", cluster(nodeGroups={}), "must not be empty"),
    (
        "platform:cluster.nodeGroups.1st",
        cluster(nodeGroups={"1st": group()}),
        "invalid key: must be a letter, then up to 37 letters",
    ),
    (
        f"platform:cluster.nodeGroups.{'g' * 39}",
        cluster(nodeGroups={"g" * 39: group()}),
        "invalid key",
    ),
    # node groups
    (f"{NG}.instanceTypes", node_group(instanceTypes=[]), "must not be empty"),
    (f"{NG}.instanceTypes", node_group(instanceTypes="m5.large"), "must be a list, got a string"),
    (
        f"{NG}.instanceTypes.1",
        node_group(instanceTypes=["m5.large", "m5large"]),
        "must be an EC2 instance type",
    ),
    (
        f"{NG}.instanceTypes",
        cluster(nodeGroups={"general": without(group(), "instanceTypes")}),
        "is required",
    ),
    (f"{NG}.minSize", node_group(minSize=-1), "must be at least 0, got -1"),
    (f"{NG}.maxSize", node_group(maxSize=0), "must be at least 1, got 0"),
    (f"{NG}.minSize", node_group(minSize=30), "must be <= maxSize (20), got 30"),
    (f"{NG}.minSize", node_group(minSize=21, desiredSize=20), "must be <= maxSize (20), got 21"),
    (f"{NG}.desiredSize", node_group(desiredSize=25), "must be between minSize (3) and maxSize (20), got 25"),
    (f"{NG}.desiredSize", node_group(desiredSize=2), "must be between minSize (3) and maxSize (20), got 2"),
    (f"{NG}.minSize", node_group(minSize="3"), "must be an integer, got the string '3'"),
    (f"{NG}.maxSize", node_group(maxSize=True), "must be an integer, got the boolean true"),
    (f"{NG}.desiredSize", node_group(desiredSize=6.0), "must be an integer, got the number 6.0"),
    (f"{NG}.minSise", node_group(minSise=3), "unknown key; did you mean 'minSize'?"),
    (f"{NG}.min_size", node_group(min_size=3), "unknown key; did you mean 'minSize'?"),
    (f"{NG}.capacityType", node_group(capacityType="spot"), "did you mean 'SPOT'?"),
    (f"{NG}.diskSizeGib", node_group(diskSizeGib=10), "must be at least 20, got 10"),
    (f"{NG}.diskSizeGib", node_group(diskSizeGib=20000), "must be at most 16384, got 20000"),
    (f"{NG}.maxUnavailablePercentage", node_group(maxUnavailablePercentage=0), "must be at least 1"),
    (f"{NG}.maxUnavailablePercentage", node_group(maxUnavailablePercentage=101), "must be at most 100"),
    (f"{NG}.labels", node_group(labels=["role"]), "must be a mapping, got a list"),
    (f"{NG}.labels.bad key", node_group(labels={"bad key": "x"}), "invalid key: must be a Kubernetes key"),
    (f"{NG}.labels.{'k' * 64}", node_group(labels={"k" * 64: "x"}), "invalid key: must be a Kubernetes key"),
    (f"{NG}.labels.Example.com/role", node_group(labels={"Example.com/role": "x"}), "prefix 'Example.com'"),
    (f"{NG}.labels.a/b/c", node_group(labels={"a/b/c": "x"}), "prefix 'a/b' of 'a/b/c'"),
    (f"{NG}.labels.role", node_group(labels={"role": "-general"}), "must be a Kubernetes label value"),
    (f"{NG}.labels.role", node_group(labels={"role": "x" * 64}), "must be at most 63 characters long"),
    (f"{NG}.labels.tier", node_group(labels={"tier": 1}), "quote it in the YAML (got the number 1)"),
    (f"{NG}.taints", node_group(taints={"key": "a"}), "must be a list, got a mapping"),
    (
        f"{NG}.taints.0",
        node_group(taints=["workload-type=agents:NoSchedule"]),
        "must be a mapping, got a string",
    ),
    (
        f"{NG}.taints.0.effect",
        taint(effect="NoSchedule"),
        "got the string 'NoSchedule'; did you mean 'NO_SCHEDULE'?",
    ),
    (f"{NG}.taints.0.key", taint(key="workload type"), "must be a Kubernetes key"),
    (f"{NG}.taints.0.value", taint(value="agent execution"), "must be a Kubernetes label value"),
    (f"{NG}.taints.0.efect", taint(efect="NO_SCHEDULE"), "unknown key; did you mean 'effect'?"),
    (f"{NG}.taints.0.effect", node_group(taints=[{"key": "workload-type"}]), "is required"),
    # database
    (
        "platform:database.engineVersion",
        database(engineVersion=16.6),
        "must be a string; quote it in the YAML (got the number 16.6)",
    ),
    ("platform:database.engineVersion", database(engineVersion="16.x"), "a MAJOR version like '16'"),
    (
        "platform:database.engineVersion",
        database(engineVersion="16.6"),
        "give the major version only ('16') while autoMinorVersionUpgrade is true",
    ),
    (
        "platform:database.instanceClass",
        database(instanceClass="r5.large"),
        "RDS instance class",
    ),
    ("platform:database.instances", database(instances=0), "must be at least 1, got 0"),
    ("platform:database.instances", database(instances=17), "must be at most 16, got 17"),
    ("platform:database.backupRetentionDays", database(backupRetentionDays=0), "at least 1"),
    ("platform:database.backupRetentionDays", database(backupRetentionDays=36), "at most 35"),
    (
        "platform:database.backupRetention",
        database(backupRetention=7),
        "unknown key; did you mean 'backupRetentionDays'?",
    ),
    (
        "platform:database.backupWindow",
        database(backupWindow="3:00-4:00"),
        "must be a UTC window like '03:00-04:00', got '3:00-4:00'",
    ),
    (
        "platform:database.backupWindow",
        database(backupWindow="24:00-01:00"),
        "UTC window like",
    ),
    (
        "platform:database.backupWindow",
        database(backupWindow="03:60-04:00"),
        "UTC window like",
    ),
    (
        "platform:database.backupWindow",
        database(backupWindow="03:00-03:15"),
        "must be at least 30 minutes long, got 15",
    ),
    (
        "platform:database.backupWindow",
        database(backupWindow="23:50-00:10"),
        "30 minutes long, got 20",
    ),
    (
        "platform:database.maintenanceWindow",
        database(maintenanceWindow="sunday:04:00-sunday:05:00"),
        "must be a UTC window like 'sun:04:00-sun:05:00'",
    ),
    (
        "platform:database.maintenanceWindow",
        database(maintenanceWindow="sun:04:00-sun:04:10"),
        "must be at least 30 minutes long, got 10",
    ),
    (
        "platform:database.maintenanceWindow",
        database(backupWindow="04:30-05:30"),
        "overlaps backupWindow (04:30-05:30, every day)",
    ),
    (
        "platform:database.maintenanceWindow",
        database(maintenanceWindow="wed:02:00-wed:03:30"),
        "overlaps backupWindow (03:00-04:00, every day)",
    ),
    (
        "platform:database.performanceInsightsRetentionDays",
        database(performanceInsightsRetentionDays=30),
        "must be 7, a multiple of 31 up to 713, or 731 (days), got 30",
    ),
    (
        "platform:database.monitoringIntervalSeconds",
        database(monitoringIntervalSeconds=45),
        "must be one of 0, 1, 5, 10, 15, 30 or 60, got the number 45",
    ),
    (
        "platform:database.monitoringIntervalSeconds",
        database(monitoringIntervalSeconds="60"),
        "got the string '60'",
    ),
    (
        "platform:database.deletionProtection",
        database(deletionProtection="true"),
        "must be true or false, got the string 'true'",
    ),
    (
        "platform:database.serverless.minCapacity",
        database(serverless={"minCapacity": 0.3, "maxCapacity": 4}),
        "must be a multiple of 0.5, got 0.3",
    ),
    (
        "platform:database.serverless.minCapacity",
        database(serverless={"minCapacity": 8, "maxCapacity": 4}),
        "must be <= maxCapacity (4), got 8",
    ),
    (
        "platform:database.serverless.maxCapacity",
        database(serverless={"minCapacity": 1, "maxCapacity": 300}),
        "must be at most 256",
    ),
    (
        "platform:database.serverless.maxCapacity",
        database(serverless={"minCapacity": 1}),
        "is required",
    ),
    (
        "platform:database.serverless",
        database(serverless="0.5-4"),
        "must be a mapping, got a string",
    ),
    (
        "platform:database.logRetentionDays",
        database(logRetentionDays=31),
        "nearest: 30 or 60",
    ),
    (
        "platform:database.allowedSecurityGroupIds.1",
        database(allowedSecurityGroupIds=["sg-0123456789abcdef0", "sg-12345"]),
        "must be a security group ID like 'sg-0123456789abcdef0', got 'sg-12345'",
    ),
    (
        "platform:database.allowedSecurityGroupIds",
        database(allowedSecurityGroupIds="sg-0123456789abcdef0"),
        "must be a list, got a string",
    ),
    (
        "platform:database.allowedSecurityGroupId",
        database(allowedSecurityGroupId=["sg-0123456789abcdef0"]),
        "unknown key; did you mean 'allowedSecurityGroupIds'?",
    ),
    # cache
    (
        "platform:cache.engine",
        cache(engine="memcached"),
        "must be one of 'redis' or 'valkey'",
    ),
    (
        "platform:cache.engineVersion",
        cache(engineVersion=7.1),
        "quote it in the YAML (got the number 7.1)",
    ),
    ("platform:cache.nodeType", cache(nodeType="r6g.large"), "ElastiCache node type"),
    ("platform:cache.nodes", cache(nodes=0), "must be at least 1, got 0"),
    ("platform:cache.nodes", cache(nodes=7), "must be at most 6, got 7"),
    ("platform:cache.port", cache(port=0), "must be at least 1, got 0"),
    ("platform:cache.port", cache(port=70000), "must be at most 65535, got 70000"),
    (
        "platform:cache.maxmemoryPolicy",
        cache(maxmemoryPolicy="allkeys_lru"),
        "did you mean 'allkeys-lru'?",
    ),
    ("platform:cache.snapshotRetentionDays", cache(snapshotRetentionDays=-1), "at least 0"),
    ("platform:cache.snapshotRetentionDays", cache(snapshotRetentionDays=36), "at most 35"),
    (
        "platform:cache.snapshotWindow",
        cache(snapshotWindow="05:00-05:30"),
        "must be at least 60 minutes long, got 30",
    ),
    (
        "platform:cache.snapshotWindow",
        cache(snapshotWindow="5am-6am"),
        "UTC window like '03:00-04:00'",
    ),
    (
        "platform:cache.maintenanceWindow",
        cache(maintenanceWindow="sun:06:00-sun:06:45"),
        "must be at least 60 minutes long, got 45",
    ),
    (
        "platform:cache.maintenanceWindow",
        cache(maintenanceWindow="sun:05:30-sun:06:30"),
        "overlaps snapshotWindow (05:00-06:00, every day)",
    ),
    ("platform:cache.logRetentionDays", cache(logRetentionDays=2), "nearest: 1 or 3"),
    (
        "platform:cache.allowedSecurityGroupIds.0",
        cache(allowedSecurityGroupIds=["SG-0123456789ABCDEF0"]),
        "must be a security group ID like 'sg-0123456789abcdef0'",
    ),
    # mesh
    (
        "platform:mesh.gatewayHosts.0",
        mesh(gatewayHosts=["Not A Host"]),
        "must be a lowercase DNS hostname",
    ),
    (
        "platform:mesh.gatewayHosts.0",
        mesh(gatewayHosts=["*"]),
        "must be a lowercase DNS hostname",
    ),
    (
        "platform:mesh.gatewayHosts.1",
        mesh(gatewayHosts=["a.example.com", "a..com"]),
        "DNS hostname",
    ),
    (
        "platform:mesh.gatewayHosts",
        mesh(gatewayHosts="api.example.com"),
        "must be a list, got a string",
    ),
    ("platform:mesh.tlsSecretName", mesh(tlsSecretName="Gateway_TLS"), "DNS-1123 subdomain"),
    (
        "platform:mesh.services.Agent_Runtime",
        {
            **mesh(gatewayHosts=HOSTS, services={"Agent_Runtime": {"namespace": "agents", "port": 80}}),
            **NAMESPACES,
        },
        "invalid key: must be a DNS-1123 label",
    ),
    (f"{SVC}.namespace", service(namespace="Agents"), "must be a DNS-1123 label"),
    (
        f"{SVC}.namespace",
        service(namespace="agent"),
        "namespace 'agent' is not declared in platform:namespaces; did you mean 'agents'?",
    ),
    (
        f"{SVC}.namespace",
        mesh(gatewayHosts=HOSTS, services={"agent-runtime": {"namespace": "agents", "port": 80}}),
        "not declared",
    ),
    (f"{SVC}.port", service(port=0), "must be at least 1, got 0"),
    (f"{SVC}.port", service(port="8080"), "must be an integer, got the string '8080'"),
    (
        f"{SVC}.port",
        {**mesh(gatewayHosts=HOSTS, services={"agent-runtime": {"namespace": "agents"}}), **NAMESPACES},
        "is required",
    ),
    (f"{SVC}.canaryWeight", service(canaryWeight=101), "must be at most 100, got 101"),
    (f"{SVC}.timeoutSeconds", service(timeoutSeconds=0), "must be greater than 0, got 0"),
    (f"{SVC}.timeoutSeconds", service(timeoutSeconds=3601), "must be at most 3600, got 3601"),
    (f"{SVC}.timeoutSeconds", service(timeoutSeconds="30s"), "must be a number, got the string '30s'"),
    (f"{SVC}.retries", service(retries=11), "must be at most 10, got 11"),
    (f"{SVC}.retry", service(retry=2), "unknown key; did you mean 'retries'?"),
    (f"{SVC}.pathPrefix", service(pathPrefix="api"), "a URI path prefix starting with '/'"),
    (f"{SVC}.maxUnavailable", service(maxUnavailable=0), "must be at least 1, got 0"),
    (f"{SVC}.hosts.0", service(hosts=["www.example.com"]), "'www.example.com' is not one of gatewayHosts"),
    (f"{SVC}.allowedNamespaces.0", service(allowedNamespaces=["tools"]), "'tools' is not declared"),
    (
        "platform:mesh.gatewayHosts",
        {
            **section("mesh", {"services": {"agent-runtime": {"namespace": "agents", "port": 80}}}),
            **NAMESPACES,
        },
        "services are routed through the gateway; list its hosts",
    ),
    (
        "platform:mesh.services.tool-router.pathPrefix",
        {
            **mesh(
                gatewayHosts=HOSTS,
                services={
                    "agent-runtime": {"namespace": "agents", "port": 8080, "pathPrefix": "/v1"},
                    "tool-router": {"namespace": "agents", "port": 8080, "pathPrefix": "/v1"},
                },
            ),
            **NAMESPACES,
        },
        "api.example.com/v1 is already routed to 'agent-runtime'",
    ),
    ("platform:mesh.istioVersion", mesh(istioVersion="1.28"), "a MAJOR.MINOR.PATCH version"),
    (
        "platform:mesh.gatewayMaxReplicas",
        mesh(gatewayMinReplicas=3, gatewayMaxReplicas=2),
        "must be >= gatewayMinReplicas (3), got 2",
    ),
    ("platform:mesh.outboundTrafficPolicy", mesh(outboundTrafficPolicy="allow_any"), "ALLOW_ANY"),
    # namespaces
    ("platform:namespaces.kube-system", namespace("kube-system"), "invalid key: 'kube-system' is reserved"),
    ("platform:namespaces.default", namespace("default"), "invalid key: 'default' is reserved"),
    (
        "platform:namespaces.istio-system",
        namespace("istio-system"),
        "invalid key: 'istio-system' is reserved",
    ),
    ("platform:namespaces.Agents", namespace("Agents"), "invalid key: must be a DNS-1123 label"),
    (
        f"platform:namespaces.{'a' * 64}",
        namespace("a" * 64),
        "invalid key: must be at most 63 characters long",
    ),
    (
        "platform:namespaces.agents",
        section("namespaces", {"agents": "big"}),
        "must be a mapping, got a string",
    ),
    (
        "platform:namespaces.agents.cpuRequests",
        namespace(cpuRequests=64),
        "must be a string; quote it in the YAML (got the number 64)",
    ),
    (
        "platform:namespaces.agents.memoryRequests",
        namespace(memoryRequests="256GB"),
        "must be a Kubernetes quantity",
    ),
    ("platform:namespaces.agents.cpuLimits", namespace(cpuLimits="lots"), "must be a Kubernetes quantity"),
    (
        "platform:namespaces.agents.memoryLimits",
        namespace(memoryLimits=1.5),
        "quote it in the YAML (got the number 1.5)",
    ),
    ("platform:namespaces.agents.pods", namespace(pods=0), "must be at least 1, got 0"),
    (
        "platform:namespaces.agents.pods",
        section("namespaces", {"agents": {"cpuRequests": "1", "memoryRequests": "1Gi"}}),
        "is required",
    ),
]


@pytest.mark.parametrize(("path", "values", "message"), ONE_BAD_VALUE, ids=[row[0] for row in ONE_BAD_VALUE])
def test_one_bad_value_gives_one_error_at_its_path(path: str, values: dict[str, Any], message: str) -> None:
    found = problems(values)
    assert list(found) == [path]
    assert message in found[path]


def test_messages_are_not_pydantic_boilerplate() -> None:
    for _, values, _ in ONE_BAD_VALUE:
        for message in problems(values).values():
            assert "Input should" not in message
            assert "Value error" not in message


# --- prod-only rules --------------------------------------------------------------------------

PROD_ONLY = [
    (
        "platform:database.deletionProtection",
        database(deletionProtection=False),
        "prod requires deletion protection",
    ),
    (
        "platform:database.instances",
        database(instances=1),
        "prod needs at least 2 instances, got 1",
    ),
    (
        "platform:database.instances",
        database(instances=1, serverless={"minCapacity": 0.5, "maxCapacity": 8}),
        "prod needs at least 2 instances, got 1",
    ),
    ("platform:cache.nodes", cache(nodes=1), "prod needs at least 2 nodes, got 1"),
    ("platform:mesh.controlPlaneReplicas", mesh(controlPlaneReplicas=1), "prod needs at least 2"),
    ("platform:mesh.gatewayMinReplicas", mesh(gatewayMinReplicas=1), "prod needs at least 2"),
    (
        "platform:cluster.endpointPublicAccess",
        cluster(endpointPublicAccess=True, publicAccessCidrs=["203.0.113.0/24"]),
        "prod's API endpoint is private",
    ),
    ("platform:database.backupRetentionDays", database(backupRetentionDays=29), "at least 30 days, got 29"),
]


@pytest.mark.parametrize(("path", "values", "message"), PROD_ONLY, ids=[row[0] for row in PROD_ONLY])
def test_prod_rules_apply_to_prod(path: str, values: dict[str, Any], message: str) -> None:
    found = problems(values, stack="prod")
    assert list(found) == [path]
    assert message in found[path]


@pytest.mark.parametrize("values", [row[1] for row in PROD_ONLY], ids=[row[0] for row in PROD_ONLY])
def test_prod_rules_do_not_apply_to_dev(values: dict[str, Any]) -> None:
    assert issues_of(values, stack="dev") == []


def test_prod_rules_run_even_when_another_section_is_broken() -> None:
    values = {**network(cidr="8.8.0.0/16"), **cache(nodes=1)}
    assert set(problems(values, stack="prod")) == {"platform:network.cidr", "platform:cache.nodes"}


# --- every error at once ----------------------------------------------------------------------


def test_errors_in_every_section_come_out_together() -> None:
    values = {
        **section("tags", {"aws:team": "platform"}),
        **network(cidr="10.0.0.1/16"),
        **cluster(version=1.3),
        **database(instances="3"),
        **cache(port=0),
        **mesh(gatewayHost=["api.example.com"]),
        **namespace(pods=0),
        **section("netwerk", {}),
    }
    with pytest.raises(ConfigError) as info:
        parse(values, stack="dev")
    assert [issue.path for issue in info.value.issues] == [
        "platform:cache.port",
        "platform:cluster.version",
        "platform:database.instances",
        "platform:mesh.gatewayHost",
        "platform:namespaces.agents.pods",
        "platform:netwerk",
        "platform:network.cidr",
        "platform:tags.aws:team",
    ]


def test_type_error_in_one_section_does_not_hide_cross_field_rules_of_others() -> None:
    values = {
        **cluster(version=1.3),
        **database(backupWindow="04:30-05:30"),
        **mesh(gatewayHosts=HOSTS, services={"agent-runtime": {"namespace": "agents", "port": 8080}}),
    }
    assert set(problems(values)) == {
        "platform:cluster.version",
        "platform:database.maintenanceWindow",
        "platform:mesh.services.agent-runtime.namespace",
    }


def test_every_broken_part_of_one_section_is_reported() -> None:
    groups = {
        "general": group(minSize=30),
        "agentWorkers": group(capacityType="spot"),
        "memoryIntensive": group(desiredSize=25, labels={"bad key": "x"}),
    }
    found = problems(cluster(version=1.3, nodeGroups=groups))
    assert set(found) == {
        "platform:cluster.version",
        "platform:cluster.nodeGroups.general.minSize",
        "platform:cluster.nodeGroups.agentWorkers.capacityType",
        "platform:cluster.nodeGroups.memoryIntensive.labels.bad key",
    }


def test_mesh_namespace_rule_waits_for_a_valid_namespaces_section() -> None:
    values = {**service(namespace="elsewhere"), **namespace(pods=0)}
    assert list(problems(values)) == ["platform:namespaces.agents.pods"]


# --- the report -------------------------------------------------------------------------------


def test_issue_reads_path_colon_message() -> None:
    assert str(ConfigIssue("platform:network.azCount", "must be at least 2, got 1")) == (
        "platform:network.azCount: must be at least 2, got 1"
    )


def test_report_counts_and_lists_sorted_issues() -> None:
    error = ConfigError(
        [
            ConfigIssue("platform:network.b", "y"),
            ConfigIssue("platform:cache.a", "x"),
            ConfigIssue("platform:cache.a", "w"),
        ],
        stack="dev",
    )
    assert str(error) == (
        "3 configuration error(s) in stack 'dev':\n"
        "  platform:cache.a: w\n"
        "  platform:cache.a: x\n"
        "  platform:network.b: y"
    )


def test_report_of_a_real_config() -> None:
    with pytest.raises(ConfigError) as info:
        parse(node_group(minSize=30), stack="staging")
    assert str(info.value) == (
        "1 configuration error(s) in stack 'staging':\n"
        "  platform:cluster.nodeGroups.general.minSize: must be <= maxSize (20), got 30"
    )


def test_project_name_prefixes_paths_and_sections() -> None:
    with pytest.raises(ConfigError) as info:
        parse(
            {"agents:network": {"azCount": 9}, "platform:network": "ignored"}, stack="dev", project="agents"
        )
    assert [str(issue) for issue in info.value.issues] == ["agents:network.azCount: must be at most 6, got 9"]


# --- defaults and happy paths -----------------------------------------------------------------


def test_empty_config_is_the_prod_seed() -> None:
    config = parse({}, stack="prod")
    groups = config.cluster.node_groups
    assert {name: (g.min_size, g.max_size, g.desired_size) for name, g in groups.items()} == {
        "general": (3, 20, 6),
        "agentWorkers": (2, 50, 5),
        "memoryIntensive": (1, 10, 2),
    }
    assert groups["general"].instance_types == ["m5.large", "m5.xlarge"]
    assert groups["general"].labels == {"role": "general-compute"}
    assert groups["agentWorkers"].instance_types == ["c5.2xlarge", "c5.4xlarge"]
    assert [t.model_dump() for t in groups["agentWorkers"].taints] == [
        {"key": "workload-type", "value": "agent-execution", "effect": "NO_SCHEDULE"}
    ]
    assert groups["memoryIntensive"].instance_types == ["r5.2xlarge", "r5.4xlarge"]
    assert groups["memoryIntensive"].taints[0].value == "memory-intensive"
    assert all(g.capacity_type == "ON_DEMAND" and g.disk_size_gib == 100 for g in groups.values())

    assert (config.network.cidr, config.network.az_count, config.network.nat_gateways) == (
        "10.0.0.0/16",
        3,
        "perAz",
    )
    assert config.network.flow_log_retention_days == 365
    assert config.cluster.version == "1.34"
    assert not config.cluster.endpoint_public_access
    assert config.cluster.public_access_cidrs == []

    db = config.database
    assert (db.engine_version, db.instance_class, db.instances) == ("16", "db.r5.large", 3)
    assert db.auto_minor_version_upgrade, "security patches arrive without anyone"
    assert db.log_retention_days == config.cluster.log_retention_days == 365, "audit logs, a year"
    assert (db.backup_retention_days, db.backup_window, db.maintenance_window) == (
        30,
        "03:00-04:00",
        "sun:04:00-sun:05:00",
    )
    assert db.performance_insights and db.deletion_protection and not db.skip_final_snapshot
    assert (db.monitoring_interval_seconds, db.serverless) == (60, None)

    cache = config.cache
    assert (cache.engine, cache.node_type, cache.nodes, cache.port) == ("redis", "cache.r6g.large", 3, 6379)
    assert cache.maxmemory_policy == "allkeys-lru"

    assert (config.tags, config.namespaces, config.mesh.services, config.region) == ({}, {}, {}, None)


def test_null_section_takes_its_defaults() -> None:
    assert parse(section("network", None), stack="dev").network == NetworkConfig()


def test_full_config_parses_to_typed_values() -> None:
    values = {
        "aws:region": "eu-west-1",
        "aws:profile": "ignored",
        "kubernetes:context": "ignored",
        **section("tags", {"team": "platform", "costCenter": "agents"}),
        **network(cidr="10.20.0.0/20", azCount=2, natGateways="single"),
        **cluster(
            name="agents_dev",
            version="1.33",
            endpointPublicAccess=True,
            publicAccessCidrs=["0.0.0.0/0"],
            adminRoleArns=["arn:aws-us-gov:iam::123456789012:role/path/Admin"],
            addonVersions={"vpc-cni": "v1.19.0-eksbuild.1"},
            nodeGroups={
                "gpu-1": group(
                    instanceTypes=["g5.xlarge", "g6e.2xlarge", "p4d.24xlarge"],
                    amiType="AL2023_x86_64_NVIDIA",
                    minSize=0,
                    maxSize=1,
                    desiredSize=0,
                    capacityType="SPOT",
                    labels={"app.kubernetes.io/part-of": "agents", "empty": ""},
                    taints=[{"key": "nvidia.com/gpu", "effect": "NO_EXECUTE"}],
                )
            },
        ),
        **database(instances=1, deletionProtection=False, serverless={"minCapacity": 0, "maxCapacity": 4}),
        **cache(
            engine="valkey",
            engineVersion="8.0",
            nodes=1,
            snapshotRetentionDays=0,
            allowedSecurityGroupIds=["sg-0123456789abcdef0", "sg-89abcdef"],
        ),
        **mesh(
            gatewayHosts=["api.example.com", "*.agents.example.com"],
            services={"agent-runtime": {"namespace": "agents", "port": 8080, "canaryWeight": 10}},
        ),
        **namespace(cpuLimits="128", memoryLimits="0.5Ti"),
    }
    config = parse(values, stack="dev")
    assert config.region == "eu-west-1"
    assert config.cluster_name == "agents_dev"
    assert config.network.network == ipaddress.IPv4Network("10.20.0.0/20")
    assert list(config.cluster.node_groups) == ["gpu-1"]
    assert config.cluster.node_groups["gpu-1"].taints[0].value == ""
    assert config.database.serverless is not None and config.database.serverless.max_capacity == 4.0
    assert config.database.allowed_security_group_ids == []
    assert config.cache.allowed_security_group_ids == ["sg-0123456789abcdef0", "sg-89abcdef"]
    assert config.mesh.services["agent-runtime"].timeout_seconds == 30.0
    assert config.namespaces["agents"].memory_limits == "0.5Ti"
    assert config.tags == {"team": "platform", "costCenter": "agents"}


def test_cluster_name_and_prod_flag() -> None:
    assert parse({}, stack="dev", project="platform").cluster_name == "platform-dev"
    assert parse({}, stack="prod").is_prod
    assert not parse({}, stack="production").is_prod


def test_models_are_frozen() -> None:
    config = parse({}, stack="dev")
    with pytest.raises(ValidationError):
        config.network.az_count = 2  # type: ignore[misc]


def _models() -> set[type[BaseModel]]:
    return {
        value
        for value in vars(config_module).values()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__ == config_module.__name__
    }


@pytest.mark.parametrize("model", sorted(_models(), key=lambda m: m.__name__), ids=lambda m: m.__name__)
def test_every_field_documents_its_default(model: type[BaseModel]) -> None:
    for name, field in model.model_fields.items():
        description = field.description or ""
        assert "\n" not in description, name
        assert description.startswith(("Default", "Required")), name


def test_sections_are_the_stack_config_fields() -> None:
    assert SECTIONS == (
        "tags",
        "network",
        "cluster",
        "database",
        "cache",
        "mesh",
        "namespaces",
        "baseline",
        "backup",
        "addons",
        "deploy",
    )


def test_node_group_model_is_usable_on_its_own() -> None:
    with pytest.raises(ValidationError):
        NodeGroupConfig.model_validate(group(minSize=30))
    assert NodeGroupConfig.model_validate(group()).max_unavailable_percentage == 33


def test_node_group_sizes_may_all_be_equal() -> None:
    config = parse(node_group(minSize=5, maxSize=5, desiredSize=5), stack="dev")
    assert config.cluster.node_groups["general"].desired_size == 5


def test_stack_config_can_be_built_directly() -> None:
    assert StackConfig(project="platform", stack="test").cluster_name == "platform-test"


# --- maintenance windows ----------------------------------------------------------------------


def test_windows_parse_to_minutes() -> None:
    assert parse_daily_window("03:00-04:00") == Window(180, 60)
    assert parse_daily_window("23:30-00:30") == Window(23 * 60 + 30, 60)
    assert parse_weekly_window("mon:00:00-mon:00:30") == Window(0, 30)
    assert parse_weekly_window("sun:23:30-mon:00:30") == Window(MINUTES_PER_WEEK - 30, 60)


@pytest.mark.parametrize(
    ("daily", "weekly", "overlap"),
    [
        ("03:00-04:00", "sun:04:00-sun:05:00", False),  # touching is allowed
        ("03:00-04:00", "sun:03:59-sun:05:00", True),
        ("23:30-00:30", "mon:00:00-mon:01:00", True),  # the backup window wraps midnight
        ("23:30-00:30", "sun:23:45-mon:00:15", True),  # the maintenance window wraps the week
        ("01:00-02:00", "sun:02:00-mon:01:00", False),  # a 23-hour window between two backups
        ("01:00-02:00", "sun:02:00-mon:01:01", True),
    ],
)
def test_daily_against_weekly_window(daily: str, weekly: str, overlap: bool) -> None:
    assert daily_overlaps_weekly(parse_daily_window(daily), parse_weekly_window(weekly)) is overlap


def _clock(minute: int) -> str:
    return f"{minute // 60 % 24:02d}:{minute % 60:02d}"


def _weekly_point(minute: int) -> str:
    minute %= MINUTES_PER_WEEK
    return f"{('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')[minute // MINUTES_PER_DAY]}:{_clock(minute)}"


daily_windows = st.tuples(st.integers(0, MINUTES_PER_DAY - 1), st.integers(1, MINUTES_PER_DAY - 1))


@given(daily=daily_windows, day=st.integers(0, 6), data=st.data())
def test_a_weekly_window_between_two_backups_never_overlaps(
    daily: tuple[int, int], day: int, data: st.DataObject
) -> None:
    start, length = daily
    gap = MINUTES_PER_DAY - length
    offset = data.draw(st.integers(0, gap - 1))
    weekly_length = data.draw(st.integers(1, gap - offset))
    weekly_start = day * MINUTES_PER_DAY + start + length + offset
    daily_window = parse_daily_window(f"{_clock(start)}-{_clock(start + length)}")
    weekly_window = parse_weekly_window(
        f"{_weekly_point(weekly_start)}-{_weekly_point(weekly_start + weekly_length)}"
    )
    assert daily_window == Window(start, length)
    assert weekly_window == Window(weekly_start % MINUTES_PER_WEEK, weekly_length)
    assert not daily_overlaps_weekly(daily_window, weekly_window)


@given(daily=daily_windows, day=st.integers(0, 6), data=st.data())
def test_a_weekly_window_sharing_a_backup_minute_always_overlaps(
    daily: tuple[int, int], day: int, data: st.DataObject
) -> None:
    start, length = daily
    shared = day * MINUTES_PER_DAY + start + data.draw(st.integers(0, length - 1))
    before = data.draw(st.integers(0, MINUTES_PER_WEEK - 2))
    weekly_length = data.draw(st.integers(before + 1, MINUTES_PER_WEEK - 1))
    weekly = Window((shared - before) % MINUTES_PER_WEEK, weekly_length)
    assert daily_overlaps_weekly(Window(start, length), weekly)


# --- Pulumi plumbing --------------------------------------------------------------------------


def test_decode_pulumi_config() -> None:
    raw = {
        "platform:network": json.dumps({"cidr": "10.0.0.0/16", "azCount": 3}),
        "platform:cluster": '{"version": 1.30}',
        "platform:list": '["a", 1]',
        "aws:region": "us-east-1",
        "platform:number": "3",
        "platform:bracketed": "[not json",
    }
    assert decode_pulumi_config(raw) == {
        "platform:network": {"cidr": "10.0.0.0/16", "azCount": 3},
        "platform:cluster": {"version": 1.3},
        "platform:list": ["a", 1],
        "aws:region": "us-east-1",
        "platform:number": "3",
        "platform:bracketed": "[not json",
    }


@pytest.fixture
def pulumi_program(monkeypatch: pytest.MonkeyPatch):
    """A program of project ``platform``, stack ``prod``; yields a setter of its config."""
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    monkeypatch.setattr(pulumi, "get_project", lambda: "platform")
    monkeypatch.setattr(pulumi, "get_stack", lambda: "prod")
    previous = dict(pulumi.runtime.config.CONFIG.get())
    yield pulumi.runtime.config.set_all_config
    pulumi.runtime.config.set_all_config(previous)


def test_load_stack_config_raises_run_error_with_the_report(pulumi_program) -> None:
    pulumi_program(
        {
            "platform:database": '{"instances": 1}',
            "platform:cluster": '{"version": 1.30}',
            "platform:deploy": json.dumps(DEPLOY["platform:deploy"]),
            "aws:region": "us-east-1",
        }
    )
    with pytest.raises(pulumi.RunError) as info:
        load_stack_config()
    assert str(info.value) == (
        "2 configuration error(s) in stack 'prod':\n"
        "  platform:cluster.version: must be a string; quote it in the YAML (got the number 1.3)\n"
        "  platform:database.instances: prod needs at least 2 instances, got 1"
    )
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_load_stack_config_reads_env_config_overlaid_by_runtime_config(pulumi_program, monkeypatch) -> None:
    env = {"aws:region": "us-east-1", "platform:network": '{"azCount": 2, "natGateways": "single"}'}
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(env))
    deploy = json.dumps(DEPLOY["platform:deploy"])
    pulumi_program(
        {"aws:region": "eu-west-1", "platform:tags": '{"team": "platform"}', "platform:deploy": deploy}
    )
    config = load_stack_config()
    assert (config.project, config.stack, config.region) == ("platform", "prod", "eu-west-1")
    assert (config.network.az_count, config.network.nat_gateways) == (2, "single")
    assert config.tags == {"team": "platform"}


def test_services_on_different_hosts_or_prefixes_share_the_gateway() -> None:
    values = {
        **mesh(
            gatewayHosts=["api.example.com", "tools.example.com"],
            services={
                "agent-runtime": {"namespace": "agents", "port": 8080, "pathPrefix": "/v1"},
                "agent-canary": {"namespace": "agents", "port": 8080, "pathPrefix": "/v1/agents"},
                "tool-router": {"namespace": "agents", "port": 8080, "hosts": ["tools.example.com"]},
            },
        ),
        **NAMESPACES,
    }
    assert problems(values) == {}


@pytest.mark.parametrize(
    ("instance_type", "ami_type"),
    [
        ("m5.large", "AL2023_x86_64_STANDARD"),
        ("t4g.medium", "AL2023_ARM_64_STANDARD"),
        ("c7gn.xlarge", "AL2023_ARM_64_STANDARD"),
        ("g5.xlarge", "AL2023_x86_64_NVIDIA"),
        ("g5g.xlarge", "AL2023_ARM_64_NVIDIA"),
        ("p4d.24xlarge", "AL2023_x86_64_NVIDIA"),
        ("inf2.xlarge", "AL2023_x86_64_NEURON"),
        ("t3a.large", "AL2023_x86_64_STANDARD"),
    ],
)
def test_each_instance_family_runs_on_the_ami_type_of_its_architecture_and_accelerators(
    instance_type, ami_type
):
    assert problems(node_group(instanceTypes=[instance_type], amiType=ami_type)) == {}
    others = {"AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD", "AL2023_x86_64_NVIDIA"} - {ami_type}
    for other in others:
        assert problems(node_group(instanceTypes=[instance_type], amiType=other)) == {
            "platform:cluster.nodeGroups.general.amiType": (
                f"{instance_type} runs on {ami_type}, got {other}; set amiType: {ami_type}"
            )
        }


def test_a_stack_file_is_read_afresh_when_it_changes_and_each_reader_gets_its_own_copy(tmp_path):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("config:\n  platform:network: {cidr: 10.0.0.0/16}\n")
    first = config_module.read_stack_file_config(path)
    first["platform:network"]["cidr"] = "changed by a reader"
    assert config_module.read_stack_file_config(path) == {"platform:network": {"cidr": "10.0.0.0/16"}}
    path.write_text("config:\n  platform:network: {cidr: 10.1.0.0/16}\n")  # same size, same instant maybe
    assert config_module.read_stack_file_config(path) == {"platform:network": {"cidr": "10.1.0.0/16"}}
    path.write_text("config: [1, 2\n")
    with pytest.raises(config_module.StackFileError, match="not YAML"):
        config_module.read_stack_file_config(path)
