"""The stack configuration contract: pydantic models for every ``platform:<section>`` key.

``__main__.py`` calls :func:`load_stack_config` once and hands typed sections to the
components; nothing else reads ``pulumi.Config``.

Every problem is reported at once, each at its full config key path
(``platform:cluster.nodeGroups.general.minSize: must be <= maxSize (20), got 30``):

* each section is validated on its own, so a type error in one never hides another's;
* cross-field rules inside a section are model validators that name the field to change;
* rules spanning sections or depending on the stack (prod, mesh namespaces) run afterwards
  on every section they read that validated;
* pydantic's error types are translated into messages written for whoever edits the YAML.

Defaults are prod's secure figures; dev loosens them explicitly in its stack file.
"""

import contextlib
import copy
import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, NamedTuple, Self, Union, get_args, get_origin

import pulumi
import pulumi.runtime.config
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails, PydanticCustomError

from components.subnets import az_capacity, endpoint_capacity

# --- reporting --------------------------------------------------------------------------------

Loc = tuple[str | int, ...]


class ConfigIssue(NamedTuple):
    """One problem in the stack config, at its full key path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(Exception):
    """Every problem of a stack config; ``str()`` is the whole report, fit to print as is."""

    def __init__(self, issues: Iterable[ConfigIssue], *, stack: str) -> None:
        self.issues: list[ConfigIssue] = sorted(set(issues))
        self.stack = stack
        lines = "".join(f"\n  {issue}" for issue in self.issues)
        super().__init__(f"{len(self.issues)} configuration error(s) in stack '{stack}':{lines}")


def _field_error(field: str, message: str) -> PydanticCustomError:
    """An error of a model validator, reported at ``field`` (an alias) rather than at the model.

    Pydantic places model-validator errors at the model itself; the translation layer moves
    this one to the field the user should change.
    """
    return PydanticCustomError("cross_field", "{message}", {"field": field, "message": message})


# --- small validators shared by several fields ------------------------------------------------


def _pattern(regex: str, expected: str) -> AfterValidator:
    """Require a full match of ``regex``; the error says what was ``expected`` in words."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"must be {expected}, got {value!r}")
        return value

    check.__doc__ = expected[0].upper() + expected[1:] + "."
    return AfterValidator(check)


CLOUDWATCH_RETENTION_DAYS = (
    *(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545),
    *(731, 1096, 1827, 2192, 2557, 2922, 3288, 3653),
)
"""The retention periods CloudWatch Logs accepts (days); any other value fails at deploy time."""


def _cloudwatch_retention(days: int) -> int:
    """A CloudWatch Logs retention period: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288 or 3653 days."""
    if days not in CLOUDWATCH_RETENTION_DAYS:
        below = max((d for d in CLOUDWATCH_RETENTION_DAYS if d < days), default=None)
        above = min((d for d in CLOUDWATCH_RETENTION_DAYS if d > days), default=None)
        nearest = " or ".join(str(d) for d in (below, above) if d is not None)
        raise ValueError(
            f"must be a CloudWatch Logs retention period in days (nearest: {nearest}), got {days}"
        )
    return days


_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = rf"{_DNS_LABEL}(\.{_DNS_LABEL})*"
_LABEL_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"


def _kubernetes_key(key: str) -> str:
    """A Kubernetes label or taint key: an optional DNS-subdomain prefix and '/', then a name."""
    prefix, slash, name = key.rpartition("/")
    if slash and not (len(prefix) <= 253 and re.fullmatch(_DNS_SUBDOMAIN, prefix)):
        raise ValueError(
            f"prefix {prefix!r} of {key!r} must be a lowercase DNS subdomain of at most 253 characters"
        )
    if not (len(name) <= 63 and re.fullmatch(_LABEL_NAME, name)):
        raise ValueError(
            "must be a Kubernetes key like 'example.com/role' (the name after any '/' is at most 63 "
            f"letters, digits, '-', '_' or '.', alphanumeric at both ends), got {key!r}"
        )
    return key


_QUANTITY_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_QUANTITY_SUFFIX = r"[KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+"
_QUANTITY_SCALE = {
    **{
        suffix: Decimal(1024) ** power
        for power, suffix in enumerate(("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))
    },
    **{suffix: Decimal(1000) ** power for power, suffix in enumerate("kMGTPE", start=1)},
    **{suffix: Decimal(1000) ** -power for power, suffix in enumerate("mun", start=1)},
}


def quantity_value(text: str) -> Decimal:
    """A Kubernetes quantity as the number it stands for: '500m' -> 0.5, '2Gi' -> 2147483648."""
    match = re.fullmatch(f"({_QUANTITY_NUMBER})({_QUANTITY_SUFFIX})?", text)
    if not match:
        raise ValueError(f"must be a Kubernetes quantity, got {text!r}")
    number, suffix = Decimal(match[1]), match[2] or ""
    if suffix in _QUANTITY_SCALE:
        return number * _QUANTITY_SCALE[suffix]
    return number.scaleb(int(suffix[1:]))


def _parse_cidr(text: str) -> ipaddress.IPv4Network:
    try:
        # An interface keeps the host bits, so a mistyped CIDR gets a precise hint.
        interface = ipaddress.IPv4Interface(text) if "/" in text else None
    except ValueError:
        interface = None
    if interface is None:
        raise ValueError(f"must be an IPv4 CIDR like '10.0.0.0/16', got {text!r}")
    if interface.ip != interface.network.network_address:
        raise ValueError(f"has host bits set; did you mean '{interface.network}'?")
    return interface.network


def _cidr(text: str) -> str:
    """An IPv4 CIDR like 10.0.0.0/16, without host bits."""
    _parse_cidr(text)
    return text


_RFC1918 = tuple(ipaddress.IPv4Network(block) for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def _vpc_cidr(text: str) -> str:
    """A private (RFC 1918) IPv4 CIDR, /16 to /24."""
    network = _parse_cidr(text)
    if not any(network.subnet_of(block) for block in _RFC1918):
        raise ValueError(
            "must be a private RFC 1918 range (inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16), "
            f"got {text!r}"
        )
    if not 16 <= network.prefixlen <= 24:
        raise ValueError(f"must be a /16 to /24, got a /{network.prefixlen}")
    return text


def _not_aws_prefixed(key: str) -> str:
    """Does not start with aws: (reserved by AWS, in any letter case)."""
    # AWS reserves the prefix in any letter case.
    if key.lower().startswith("aws:"):
        raise ValueError(f"must not start with 'aws:' (reserved by AWS), got {key!r}")
    return key


_RESERVED_NAMESPACES = ("default", "istio-system")


def _own_namespace(name: str) -> str:
    """Not kube-*, default or istio-system."""
    if name.startswith("kube-") or name in _RESERVED_NAMESPACES:
        raise ValueError(f"{name!r} is reserved (kube-*, default and istio-system are not ours to manage)")
    return name


def _performance_insights_retention(days: int) -> int:
    """7, a multiple of 31 up to 713, or 731 (days)."""
    # AWS accepts 7 (free tier), whole months of 31 days up to 23, or 731 (two years).
    if not (days in (7, 731) or (days % 31 == 0 and 31 <= days <= 713)):
        raise ValueError(f"must be 7, a multiple of 31 up to 713, or 731 (days), got {days}")
    return days


# --- maintenance windows ----------------------------------------------------------------------

MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = r"(?:[01]\d|2[0-3]):[0-5]\d"


class Window(NamedTuple):
    """A recurring time window, in minutes from the start of its period.

    The period is a day (midnight UTC) for ``hh:mm-hh:mm`` windows and a week (Monday
    00:00 UTC) for ``ddd:hh:mm-ddd:hh:mm`` ones. A window may wrap past the period's end.
    """

    start: int
    length: int


def _minute_of_day(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _minute_of_week(point: str) -> int:
    day, clock = point.split(":", 1)
    return _DAYS.index(day) * MINUTES_PER_DAY + _minute_of_day(clock)


def _parse_window(text: str, point: str, minute: Callable[[str], int], period: int, example: str) -> Window:
    match = re.fullmatch(f"({point})-({point})", text)
    if not match:
        raise ValueError(f"must be a UTC window like {example!r}, got {text!r}")
    start, end = (minute(p) for p in match.groups())
    return Window(start, (end - start) % period)


def parse_daily_window(text: str) -> Window:
    """Parse ``hh:mm-hh:mm`` (UTC, recurring every day)."""
    return _parse_window(text, _CLOCK, _minute_of_day, MINUTES_PER_DAY, "03:00-04:00")


def parse_weekly_window(text: str) -> Window:
    """Parse ``ddd:hh:mm-ddd:hh:mm`` (UTC, recurring every week, days mon..sun)."""
    point = f"(?:{'|'.join(_DAYS)}):{_CLOCK}"
    return _parse_window(text, point, _minute_of_week, MINUTES_PER_WEEK, "sun:04:00-sun:05:00")


def _arcs_overlap(a: Window, b: Window, period: int) -> bool:
    """Whether two half-open arcs of a circle of ``period`` minutes share a minute."""
    return (b.start - a.start) % period < a.length or (a.start - b.start) % period < b.length


def daily_overlaps_weekly(daily: Window, weekly: Window) -> bool:
    """Whether any day's occurrence of ``daily`` shares a minute with ``weekly`` (touching is fine)."""
    return any(
        _arcs_overlap(Window(daily.start + day * MINUTES_PER_DAY, daily.length), weekly, MINUTES_PER_WEEK)
        for day in range(len(_DAYS))
    )


def _window_at_least(parse: Callable[[str], Window], minimum: int) -> AfterValidator:
    def check(text: str) -> str:
        length = parse(text).length
        if length < minimum:
            raise ValueError(f"must be at least {minimum} minutes long, got {length}")
        return text

    shape = "hh:mm-hh:mm" if parse is parse_daily_window else "ddd:hh:mm-ddd:hh:mm"
    check.__doc__ = f"A UTC window {shape}, at least {minimum} minutes long."
    return AfterValidator(check)


def _require_apart(daily: str, daily_field: str, maintenance: str) -> None:
    """AWS refuses a maintenance window that overlaps the daily backup or snapshot window."""
    if daily_overlaps_weekly(parse_daily_window(daily), parse_weekly_window(maintenance)):
        raise _field_error(
            "maintenanceWindow", f"overlaps {daily_field} ({daily}, every day); move one of them"
        )


# --- field types ------------------------------------------------------------------------------

RetentionDays = Annotated[int, AfterValidator(_cloudwatch_retention)]
Port = Annotated[int, Field(ge=1, le=65535)]
Cidr = Annotated[str, AfterValidator(_cidr)]
VpcCidr = Annotated[str, AfterValidator(_vpc_cidr)]
Dns1123Label = Annotated[
    str,
    Field(max_length=63),
    _pattern(_DNS_LABEL, "a DNS-1123 label (lowercase letters, digits and '-', alphanumeric at both ends)"),
]
Dns1123Subdomain = Annotated[
    str,
    Field(max_length=253),
    _pattern(_DNS_SUBDOMAIN, "a DNS-1123 subdomain (lowercase, like 'gateway-tls')"),
]
Hostname = Annotated[
    str,
    Field(max_length=253),
    _pattern(
        rf"(\*\.)?{_DNS_SUBDOMAIN}", "a lowercase DNS hostname like 'api.example.com' or '*.example.com'"
    ),
]
LabelKey = Annotated[str, AfterValidator(_kubernetes_key)]
LabelValue = Annotated[
    str,
    Field(max_length=63),
    _pattern(
        f"({_LABEL_NAME})?", "a Kubernetes label value (letters, digits, '-', '_', '.'; alphanumeric ends)"
    ),
]
Quantity = Annotated[
    str,
    _pattern(f"{_QUANTITY_NUMBER}({_QUANTITY_SUFFIX})?", "a Kubernetes quantity like '500m', '4' or '16Gi'"),
]
SemanticVersion = Annotated[str, _pattern(r"\d+\.\d+\.\d+", "a MAJOR.MINOR.PATCH version like '1.28.0'")]
UriPrefix = Annotated[
    str, Field(max_length=1024), _pattern(r"/[^\s]*", "a URI path prefix starting with '/'")
]
MajorMinorVersion = Annotated[str, _pattern(r"\d+\.\d+", "a MAJOR.MINOR version like '16.6'")]
EngineVersion = Annotated[
    str, _pattern(r"\d+(\.\d+)?", "a MAJOR version like '16', or MAJOR.MINOR like '16.6'")
]
MaintenanceWindow = Annotated[str, _window_at_least(parse_weekly_window, 30)]
BackupWindow = Annotated[str, _window_at_least(parse_daily_window, 30)]
# ElastiCache's windows must be at least an hour long, twice what RDS asks.
CacheMaintenanceWindow = Annotated[str, _window_at_least(parse_weekly_window, 60)]
CacheSnapshotWindow = Annotated[str, _window_at_least(parse_daily_window, 60)]

TagKey = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_not_aws_prefixed)]
TagValue = Annotated[str, Field(max_length=256)]
NamespaceName = Annotated[Dns1123Label, AfterValidator(_own_namespace)]
NodeGroupName = Annotated[
    str, _pattern(r"[a-zA-Z][a-zA-Z0-9-]{0,37}", "a letter, then up to 37 letters, digits or '-'")
]
ClusterName = Annotated[
    str,
    Field(min_length=1, max_length=100),
    _pattern(
        r"[0-9A-Za-z][A-Za-z0-9\-_]*",
        "an EKS cluster name (letters, digits, '-' and '_', starting alphanumeric)",
    ),
]
EksVersion = Annotated[str, _pattern(r"1\.\d+", "an EKS version like '1.34'")]
AddonVersion = Annotated[
    str, _pattern(r"v\d+\.\d+\.\d+-eksbuild\.\d+", "an EKS add-on version like 'v1.19.0-eksbuild.1'")
]
RoleArn = Annotated[str, _pattern(r"arn:aws[a-zA-Z-]*:iam::\d{12}:role/.+", "an IAM role ARN")]
InstanceType = Annotated[str, _pattern(r"[a-z][a-z0-9-]*\.[a-z0-9]+", "an EC2 instance type like 'm5.large'")]
DbInstanceClass = Annotated[
    str, _pattern(r"db\.[a-z0-9]+\.[a-z0-9]+", "an RDS instance class like 'db.r5.large'")
]
CacheNodeType = Annotated[
    str, _pattern(r"cache\.[a-z0-9]+\.[a-z0-9]+", "an ElastiCache node type like 'cache.r6g.large'")
]
Acu = Annotated[float, Field(ge=0, le=256, multiple_of=0.5)]
AwsServiceName = Annotated[
    str,
    _pattern(
        r"[a-z][a-z0-9-]*(\.[a-z0-9-]+)*", "an AWS service endpoint name like 'secretsmanager' or 'ecr.api'"
    ),
]
RegistryPrefix = Annotated[
    str,
    Field(max_length=255),
    _pattern(
        r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?/([a-z0-9._/-]*/)?",
        "an image prefix ending in '/' like 'public.ecr.aws/my-team/' (so 'quay.io/' never admits "
        "'quay.io.example.com/')",
    ),
]
HostedZoneId = Annotated[str, _pattern(r"Z[A-Z0-9]{1,31}", "a Route 53 hosted zone ID like 'Z0123456789ABC'")]
EmailAddress = Annotated[
    str, _pattern(r"[^@\s]+@[^@\s]+\.[^@\s]+", "an email address like 'ops@example.com'")
]
HttpsUrl = Annotated[str, _pattern(r"https://\S+", "an https:// URL")]
HttpUrl = Annotated[str, _pattern(r"https?://\S+", "an http:// or https:// URL")]
SecurityGroupId = Annotated[
    str, _pattern(r"sg-([0-9a-f]{8}|[0-9a-f]{17})", "a security group ID like 'sg-0123456789abcdef0'")
]

AddonName = Literal["vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver", "eks-pod-identity-agent"]
MaxmemoryPolicy = Literal[
    "volatile-lru",
    "allkeys-lru",
    "volatile-lfu",
    "allkeys-lfu",
    "volatile-random",
    "allkeys-random",
    "volatile-ttl",
    "noeviction",
]


# --- models -----------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        alias_generator=to_camel,
        use_attribute_docstrings=True,
    )


class NetworkConfig(_Model):
    """``platform:network``: the VPC and its subnets."""

    cidr: VpcCidr = "10.0.0.0/16"
    """Default 10.0.0.0/16. VPC IPv4 CIDR: private (RFC 1918), /16 to /24."""
    az_count: Annotated[int, Field(ge=2, le=6)] = 3
    """Default 3. Number of availability zones the subnets span (2-6)."""
    nat_gateways: Literal["perAz", "single"] = "perAz"
    """Default perAz. One NAT gateway per AZ (survives an AZ outage) or a single shared one."""
    flow_log_retention_days: RetentionDays = 365
    """Default 365. Days CloudWatch Logs keeps VPC flow logs (a CloudWatch retention value)."""
    flow_log_traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = "ALL"
    """Default ALL. Which traffic the VPC flow logs record."""
    interface_endpoints: list[AwsServiceName] = Field(default_factory=lambda: ["secretsmanager"])
    """Default [secretsmanager]. AWS services reached through private interface endpoints (one ENI per AZ)."""

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)

    @model_validator(mode="after")
    def _cidr_fits_azs(self) -> Self:
        capacity = az_capacity(self.network)
        if capacity < self.az_count:
            raise _field_error(
                "cidr",
                f"a /{self.network.prefixlen} has room for the subnets of at most {capacity} AZs but "
                f"azCount is {self.az_count}; use a larger CIDR or azCount {capacity}",
            )
        endpoints = endpoint_capacity(self.network)
        if self.interface_endpoints and endpoints < self.az_count:
            raise _field_error(
                "cidr",
                f"a /{self.network.prefixlen} has room for the interface endpoints' subnets of at most "
                f"{endpoints} AZs but azCount is {self.az_count}; use a larger CIDR, azCount {endpoints}, "
                "or no interfaceEndpoints",
            )
        return self


class TaintConfig(_Model):
    """A Kubernetes taint on every node of a node group."""

    key: LabelKey
    """Required. Taint key, a Kubernetes key like 'workload-type'."""
    value: LabelValue = ""
    """Default empty. Taint value, a Kubernetes label value."""
    effect: Literal["NO_SCHEDULE", "PREFER_NO_SCHEDULE", "NO_EXECUTE"]
    """Required. Taint effect, in EKS' spelling."""


AmiType = Literal[
    "AL2023_x86_64_STANDARD",
    "AL2023_x86_64_NVIDIA",
    "AL2023_x86_64_NEURON",
    "AL2023_ARM_64_STANDARD",
    "AL2023_ARM_64_NVIDIA",
]
_ARM_FAMILY = re.compile(r"[a-z]+\d+g[a-z]*")
"""Graviton families: a 'g' right after the generation (m7g, c7gn, r6gd, t4g, g5g)."""
_NVIDIA_FAMILY = re.compile(r"(g\d+[a-z]*|gr\d+|p\d+[a-z]*)")
"""NVIDIA GPU families (g4dn, g5, g5g, g6e, gr6, p4d, p5)."""
_NEURON_FAMILY = re.compile(r"(inf|trn)\d+[a-z]*")
"""AWS Inferentia and Trainium families."""


def ami_type_for(instance_type: str) -> str:
    """The AL2023 AMI type an instance type runs on: its architecture, and its accelerators' drivers."""
    family = instance_type.split(".", 1)[0]
    arch = "ARM_64" if _ARM_FAMILY.fullmatch(family) else "x86_64"
    if _NVIDIA_FAMILY.fullmatch(family):
        return f"AL2023_{arch}_NVIDIA"
    if _NEURON_FAMILY.fullmatch(family):
        return "AL2023_x86_64_NEURON"
    return f"AL2023_{arch}_STANDARD"


class NodeGroupConfig(_Model):
    """One EKS managed node group."""

    instance_types: Annotated[list[InstanceType], Field(min_length=1)]
    """Required. EC2 instance types, preferred first (non-empty)."""
    min_size: Annotated[int, Field(ge=0)]
    """Required. Fewest nodes (count)."""
    max_size: Annotated[int, Field(ge=1)]
    """Required. Most nodes (count)."""
    desired_size: int
    """Required. Nodes at creation (count), between minSize and maxSize."""
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    """Default ON_DEMAND. SPOT is cheaper but nodes can be reclaimed at two minutes' notice."""
    disk_size_gib: Annotated[int, Field(ge=20, le=16384)] = 100
    """Default 100. Root volume size per node (GiB, 20-16384)."""
    max_unavailable_percentage: Annotated[int, Field(ge=1, le=100)] = 33
    """Default 33. Share of nodes an update may take down at once (percent, 1-100)."""
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    """Default {}. Kubernetes labels on every node."""
    taints: list[TaintConfig] = Field(default_factory=list)
    """Default []. Kubernetes taints on every node."""
    ami_type: AmiType = "AL2023_x86_64_STANDARD"
    """Default AL2023_x86_64_STANDARD. EKS-optimized AMI: the instances' architecture, GPU/Neuron drivers."""

    @model_validator(mode="after")
    def _ami_fits_instances(self) -> Self:
        for instance_type in self.instance_types:
            wanted = ami_type_for(instance_type)
            if wanted != self.ami_type:
                raise _field_error(
                    "amiType", f"{instance_type} runs on {wanted}, got {self.ami_type}; set amiType: {wanted}"
                )
        return self

    @model_validator(mode="after")
    def _sizes_ordered(self) -> Self:
        if self.min_size > self.max_size:
            raise _field_error("minSize", f"must be <= maxSize ({self.max_size}), got {self.min_size}")
        if not self.min_size <= self.desired_size <= self.max_size:
            raise _field_error(
                "desiredSize",
                f"must be between minSize ({self.min_size}) and maxSize ({self.max_size}), "
                f"got {self.desired_size}",
            )
        return self


_SEED_NODE_GROUPS: dict[str, dict[str, Any]] = {
    "general": {
        "instanceTypes": ["m5.large", "m5.xlarge"],
        "minSize": 3,
        "maxSize": 20,
        "desiredSize": 6,
        "labels": {"role": "general-compute"},
    },
    "agentWorkers": {
        "instanceTypes": ["c5.2xlarge", "c5.4xlarge"],
        "minSize": 2,
        "maxSize": 50,
        "desiredSize": 5,
        "taints": [{"key": "workload-type", "value": "agent-execution", "effect": "NO_SCHEDULE"}],
    },
    "memoryIntensive": {
        "instanceTypes": ["r5.2xlarge", "r5.4xlarge"],
        "minSize": 1,
        "maxSize": 10,
        "desiredSize": 2,
        "taints": [{"key": "workload-type", "value": "memory-intensive", "effect": "NO_SCHEDULE"}],
    },
}
"""Prod's node groups, written as they would be in the stack file."""


def _seed_node_groups() -> dict[str, NodeGroupConfig]:
    return {name: NodeGroupConfig.model_validate(group) for name, group in _SEED_NODE_GROUPS.items()}


class ClusterConfig(_Model):
    """``platform:cluster``: the EKS cluster and its node groups."""

    name: ClusterName | None = None
    """Default <project>-<stack>. EKS cluster name (1-100 characters)."""
    version: EksVersion = "1.34"
    """Default "1.34". Kubernetes minor version, as a quoted string."""
    endpoint_public_access: bool = False
    """Default false. Whether the Kubernetes API is reachable from the internet; prod must keep it false."""
    public_access_cidrs: list[Cidr] = Field(default_factory=list)
    """Default []. IPv4 CIDRs allowed to reach a public API endpoint; required when it is public."""
    admin_role_arns: list[RoleArn] = Field(default_factory=list)
    """Default []. IAM roles granted cluster-admin through EKS access entries."""
    addon_versions: dict[AddonName, AddonVersion] = Field(default_factory=dict)
    """Default {} (EKS picks each add-on's default version). Pinned add-on versions by add-on name."""
    log_retention_days: RetentionDays = 365
    """Default 365. Days CloudWatch Logs keeps control-plane (audit) logs; prod needs at least 365."""
    node_groups: Annotated[dict[NodeGroupName, NodeGroupConfig], Field(min_length=1)] = Field(
        default_factory=_seed_node_groups
    )
    """Default: prod's general, agentWorkers and memoryIntensive groups. Node groups by name."""

    @model_validator(mode="after")
    def _public_endpoint_restricted(self) -> Self:
        if self.endpoint_public_access and not self.public_access_cidrs:
            raise _field_error(
                "publicAccessCidrs", "must list at least one CIDR when endpointPublicAccess is true"
            )
        return self


class ServerlessConfig(_Model):
    """Aurora Serverless v2 capacity range."""

    min_capacity: Acu
    """Required. Fewest Aurora capacity units (ACUs, 0-256 in steps of 0.5; 0 lets it pause)."""
    max_capacity: Acu
    """Required. Most Aurora capacity units (ACUs, 0-256 in steps of 0.5)."""

    @model_validator(mode="after")
    def _range_ordered(self) -> Self:
        if self.min_capacity > self.max_capacity:
            raise _field_error(
                "minCapacity", f"must be <= maxCapacity ({self.max_capacity:g}), got {self.min_capacity:g}"
            )
        return self


_GIB_PER_VCPU = {"r": 8, "m": 4, "x": 16}
_T_CLASS_GIB = {"micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32}


def instance_class_memory_gib(instance_class: str) -> int | None:
    """The memory of an RDS instance class (GiB) from its name, where the family's ratio is fixed: memory
    optimised (r) 8 GiB per vCPU, general purpose (m) 4, x 16; burstable (t) by size. None otherwise."""
    match = re.fullmatch(r"db\.([a-z])\d+[a-z]*\.(\w+)", instance_class)
    if not match:
        return None
    family, size = match.groups()
    if family == "t":
        return _T_CLASS_GIB.get(size)
    vcpus = {"large": 2, "xlarge": 4}.get(size)
    if vcpus is None and size.endswith("xlarge") and size.removesuffix("xlarge").isdigit():
        vcpus = 4 * int(size.removesuffix("xlarge"))
    return _GIB_PER_VCPU[family] * vcpus if family in _GIB_PER_VCPU and vcpus else None


AURORA_POSTGRESQL_BYTES_PER_CONNECTION = 9531392
"""Aurora PostgreSQL's default ``max_connections`` is LEAST({DBInstanceClassMemory/9531392}, 5000)."""


class DatabaseConfig(_Model):
    """``platform:database``: the Aurora PostgreSQL cluster."""

    engine_version: EngineVersion = "16"
    """Default "16". Aurora PostgreSQL major, quoted; a MAJOR.MINOR pin needs autoMinorVersionUpgrade off."""
    auto_minor_version_upgrade: bool = True
    """Default true. Whether AWS applies minor versions (security patches) in the maintenance window."""
    instance_class: DbInstanceClass = "db.r5.large"
    """Default db.r5.large. Instance class; ignored when serverless is set."""
    instances: Annotated[int, Field(ge=1, le=16)] = 3
    """Default 3. Writer plus readers (count, 1-16); spread over the AZs."""
    backup_retention_days: Annotated[int, Field(ge=1, le=35)] = 30
    """Default 30. Days automated backups are kept (1-35); prod needs at least 30."""
    backup_window: BackupWindow = "03:00-04:00"
    """Default 03:00-04:00. Daily backup window (hh:mm-hh:mm UTC, at least 30 minutes)."""
    maintenance_window: MaintenanceWindow = "sun:04:00-sun:05:00"
    """Default sun:04:00-sun:05:00. Weekly maintenance window (ddd:hh:mm-ddd:hh:mm UTC, >= 30 minutes)."""
    performance_insights: bool = True
    """Default true. Whether Performance Insights is enabled."""
    performance_insights_retention_days: Annotated[int, AfterValidator(_performance_insights_retention)] = 7
    """Default 7. Days Performance Insights keeps data (7, a multiple of 31 up to 713, or 731)."""
    monitoring_interval_seconds: Literal[0, 1, 5, 10, 15, 30, 60] = 60
    """Default 60. Enhanced Monitoring interval (seconds; 0 turns it off)."""
    deletion_protection: bool = True
    """Default true. Whether AWS refuses to delete the cluster (required in prod)."""
    skip_final_snapshot: bool = False
    """Default false. Whether deleting the cluster skips the final snapshot."""
    apply_immediately: bool = False
    """Default false. Apply modifications now instead of in the maintenance window."""
    serverless: ServerlessConfig | None = None
    """Default none (provisioned). Serverless v2 capacity; when set, instances are db.serverless."""
    log_retention_days: RetentionDays = 365
    """Default 365. Days CloudWatch Logs keeps exported PostgreSQL (audit) logs; prod needs at least 365."""
    allowed_security_group_ids: list[SecurityGroupId] = Field(default_factory=list)
    """Default [] (only the cluster's nodes). Further security groups allowed to reach port 5432."""

    def default_max_connections(self) -> int | None:
        """Aurora PostgreSQL's default ``max_connections`` of the instances (from the class's memory, or a
        Serverless v2 instance's at its most ACUs, 2 GiB each); None for a class of unknown memory."""
        if self.serverless is not None:
            gib: float | None = 2 * self.serverless.max_capacity
        else:
            gib = instance_class_memory_gib(self.instance_class)
        if gib is None:
            return None
        return min(int(gib * 2**30) // AURORA_POSTGRESQL_BYTES_PER_CONNECTION, 5000)

    @model_validator(mode="after")
    def _windows_apart(self) -> Self:
        _require_apart(self.backup_window, "backupWindow", self.maintenance_window)
        return self

    @model_validator(mode="after")
    def _minor_versions_are_aws_s(self) -> Self:
        # The provider keeps a configured "16" against an actual "16.8" but reports "16.6" against it as a
        # change: once AWS upgraded the minor (as it does at a minor's end of life, whatever this flag
        # says), every later update would try to downgrade, which AWS refuses.
        if self.auto_minor_version_upgrade and "." in self.engine_version:
            raise _field_error(
                "engineVersion",
                f"give the major version only ({self.engine_version.split('.')[0]!r}) while "
                "autoMinorVersionUpgrade is true; AWS upgrades the minor, and a pinned one would then "
                f"read as a downgrade to {self.engine_version}",
            )
        return self


class CacheConfig(_Model):
    """``platform:cache``: the ElastiCache replication group."""

    engine: Literal["redis", "valkey"] = "redis"
    """Default redis. Cache engine."""
    engine_version: MajorMinorVersion = "7.1"
    """Default "7.1". Engine version, as a quoted string."""
    node_type: CacheNodeType = "cache.r6g.large"
    """Default cache.r6g.large. Node type."""
    nodes: Annotated[int, Field(ge=1, le=6)] = 3
    """Default 3. Primary plus replicas (count, 1-6); spread over the AZs."""
    port: Port = 6379
    """Default 6379. TCP port."""
    maxmemory_policy: MaxmemoryPolicy = "allkeys-lru"
    """Default allkeys-lru. Eviction policy once memory is full."""
    snapshot_retention_days: Annotated[int, Field(ge=0, le=35)] = 7
    """Default 7. Days daily snapshots are kept (0-35; 0 turns snapshots off)."""
    snapshot_window: CacheSnapshotWindow = "05:00-06:00"
    """Default 05:00-06:00. Daily snapshot window (hh:mm-hh:mm UTC, at least 60 minutes)."""
    maintenance_window: CacheMaintenanceWindow = "sun:06:00-sun:07:00"
    """Default sun:06:00-sun:07:00. Weekly maintenance window (ddd:hh:mm-ddd:hh:mm UTC, >= 60 minutes)."""
    log_retention_days: RetentionDays = 30
    """Default 30. Days CloudWatch Logs keeps slow and engine logs (a CloudWatch retention value)."""
    allowed_security_group_ids: list[SecurityGroupId] = Field(default_factory=list)
    """Default [] (only the cluster's nodes). Further security groups allowed to reach the cache port."""
    auth_token_version: Annotated[int, Field(ge=1)] = 1
    """Default 1. Raise it to generate a new AUTH token (rotation; see authTokenUpdateStrategy)."""
    auth_token_update_strategy: Literal["ROTATE", "SET"] = "ROTATE"
    """Default ROTATE. ROTATE keeps the old token valid beside a new one; SET then keeps only the new."""

    @model_validator(mode="after")
    def _windows_apart(self) -> Self:
        _require_apart(self.snapshot_window, "snapshotWindow", self.maintenance_window)
        return self


class RolloutConfig(_Model):
    """A mesh service's canary through Argo Rollouts: the Rollout shifts its route's weights step by step."""

    steps: list[Annotated[int, Field(ge=1, le=100)]] = Field(default_factory=lambda: [10, 20, 50, 100])
    """Default [10, 20, 50, 100]. Canary weights in turn (percent, rising, ending at 100)."""
    pause_seconds: Annotated[int, Field(ge=0, le=86400)] = 300
    """Default 300. How long each weight short of 100 holds while the analysis runs (seconds, 0-86400)."""
    replicas: Annotated[int, Field(ge=1, le=1000)] = 2
    """Default 2. Pods the Rollout runs (count); an autoscaler may scale the Rollout instead."""
    deployment: Dns1123Subdomain | None = None
    """Default: the service's name. The team's Deployment whose pod template the Rollout runs."""

    @model_validator(mode="after")
    def _steps_rise_to_100(self) -> Self:
        if not self.steps:
            raise _field_error("steps", "list at least one weight, the last 100")
        if any(b <= a for a, b in pairwise(self.steps)):
            raise _field_error("steps", f"weights must rise step by step, got {self.steps}")
        if self.steps[-1] != 100:
            raise _field_error(
                "steps", f"the last weight must be 100 (the canary takes all), got {self.steps}"
            )
        return self


class MeshServiceConfig(_Model):
    """One service routed through the Istio ingress gateway."""

    namespace: Dns1123Label
    """Required. Namespace the service runs in; must be declared in platform:namespaces."""
    port: Port
    """Required. Service port (1-65535)."""
    hosts: list[Hostname] | None = None
    """Default: every gateway host. Gateway hosts routed to this service (each one of gatewayHosts)."""
    path_prefix: UriPrefix = "/"
    """Default /. URI prefix routed to this service; a host's prefixes must differ between services."""
    canary_weight: Annotated[int, Field(ge=0, le=100)] = 0
    """Default 0. Share of traffic sent to the canary subset (percent, 0-100)."""
    timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    """Default 30. Request timeout (seconds, > 0 and <= 3600)."""
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    """Default 3. Retries after the first try (0-10); each try gets timeoutSeconds / (retries + 1)."""
    allowed_namespaces: list[Dns1123Label] = Field(default_factory=list)
    """Default [] (the gateway and its own namespace only). Further namespaces whose workloads may call it."""
    max_unavailable: Annotated[int, Field(ge=1)] = 1
    """Default 1. Pods of the service a voluntary disruption (node drain) may take down at once (count)."""
    rollout: RolloutConfig | None = None
    """Default none (canaryWeight is fixed). An Argo Rollout that moves the canary's weight step by step."""


class MeshConfig(_Model):
    """``platform:mesh``: Istio (control plane, CNI, ingress gateway) and the routed services."""

    istio_version: SemanticVersion = "1.28.0"
    """Default 1.28.0. Version of Istio's Helm charts (base, cni, istiod, gateway); one for all four."""
    gateway_hosts: list[Hostname] = Field(default_factory=list)
    """Default []. Hostnames the ingress gateway serves; '*.example.com' wildcards allowed."""
    tls_secret_name: Dns1123Subdomain = "gateway-tls"
    """Default gateway-tls. Secret in istio-system holding the gateway's certificate (made outside Pulumi)."""
    control_plane_replicas: Annotated[int, Field(ge=1, le=10)] = 2
    """Default 2. Fewest istiod replicas (count, 1-10); prod needs at least 2."""
    gateway_min_replicas: Annotated[int, Field(ge=1)] = 2
    """Default 2. Fewest ingress gateway replicas (count); prod needs at least 2."""
    gateway_max_replicas: Annotated[int, Field(ge=1)] = 10
    """Default 10. Most ingress gateway replicas the autoscaler may run (count, >= gatewayMinReplicas)."""
    outbound_traffic_policy: Literal["REGISTRY_ONLY", "ALLOW_ANY"] = "REGISTRY_ONLY"
    """Default REGISTRY_ONLY. Sidecars reach only in-mesh services and egressHosts; ALLOW_ANY lets all out."""
    egress_hosts: list[Hostname] = Field(default_factory=list)
    """Default []. External hosts workloads may call over TLS on 443 (e.g. a model provider's API)."""
    services: dict[Dns1123Label, MeshServiceConfig] = Field(default_factory=dict)
    """Default {}. Routed services by name."""

    def routed_hosts(self, service: str) -> list[str]:
        """The gateway hosts routed to ``service``: its own list, or all of them."""
        return list(self.services[service].hosts or self.gateway_hosts)

    @model_validator(mode="after")
    def _gateway_scales_up(self) -> Self:
        if self.gateway_max_replicas < self.gateway_min_replicas:
            raise _field_error(
                "gatewayMaxReplicas",
                f"must be >= gatewayMinReplicas ({self.gateway_min_replicas}), "
                f"got {self.gateway_max_replicas}",
            )
        return self


class LimitRangeConfig(_Model):
    """Per-container bounds of one namespace (its LimitRange); defaults are the seed's figures."""

    default_cpu: Quantity = "1"
    """Default "1". CPU limit of a container that sets none (Kubernetes quantity)."""
    default_memory: Quantity = "2Gi"
    """Default 2Gi. Memory limit of a container that sets none (Kubernetes quantity)."""
    default_ephemeral_storage: Quantity = "2Gi"
    """Default 2Gi. Ephemeral-storage limit of a container that sets none (Kubernetes quantity)."""
    default_request_cpu: Quantity = "100m"
    """Default 100m. CPU request of a container that sets none (Kubernetes quantity)."""
    default_request_memory: Quantity = "128Mi"
    """Default 128Mi. Memory request of a container that sets none (Kubernetes quantity)."""
    default_request_ephemeral_storage: Quantity = "1Gi"
    """Default 1Gi. Ephemeral-storage request of a container that sets none (Kubernetes quantity)."""
    min_cpu: Quantity = "50m"
    """Default 50m. Least CPU a container may request (Kubernetes quantity)."""
    min_memory: Quantity = "64Mi"
    """Default 64Mi. Least memory a container may request (Kubernetes quantity)."""
    min_ephemeral_storage: Quantity = "100Mi"
    """Default 100Mi. Least ephemeral storage a container may request (Kubernetes quantity)."""
    max_cpu: Quantity = "4"
    """Default "4". Most CPU a container may have as its limit (Kubernetes quantity)."""
    max_memory: Quantity = "8Gi"
    """Default 8Gi. Most memory a container may have as its limit (Kubernetes quantity)."""
    max_ephemeral_storage: Quantity = "10Gi"
    """Default 10Gi. Most ephemeral storage a container may have as its limit (Kubernetes quantity)."""

    @model_validator(mode="after")
    def _bounds_ordered(self) -> Self:
        # The API server refuses a LimitRange whose min > defaultRequest > default > max, at deploy time.
        for resource in ("cpu", "memory", "ephemeral_storage"):
            chain = [f"{bound}_{resource}" for bound in ("min", "default_request", "default", "max")]
            for lower, upper in pairwise(chain):
                low, high = getattr(self, lower), getattr(self, upper)
                if quantity_value(low) > quantity_value(high):
                    raise _field_error(
                        to_camel(upper), f"must be at least {to_camel(lower)} ({low}), got {high}"
                    )
        return self


class NamespaceConfig(_Model):
    """One application namespace: its resource quota, container limits and network reach."""

    cpu_requests: Quantity
    """Required. Quota on summed CPU requests (Kubernetes quantity, e.g. "64")."""
    memory_requests: Quantity
    """Required. Quota on summed memory requests (Kubernetes quantity, e.g. 256Gi)."""
    cpu_limits: Quantity | None = None
    """Default none (no quota). Quota on summed CPU limits (Kubernetes quantity)."""
    memory_limits: Quantity | None = None
    """Default none (no quota). Quota on summed memory limits (Kubernetes quantity)."""
    pods: Annotated[int, Field(ge=1)]
    """Required. Most pods in the namespace (count)."""
    limit_range: LimitRangeConfig = Field(default_factory=LimitRangeConfig)
    """Default: all LimitRangeConfig defaults (the seed's). Per-container defaults and bounds."""
    allow_internet_egress: bool = False
    """Default false. Whether pods may open HTTPS (TCP 443) to addresses outside the VPC."""
    service_accounts: list[Dns1123Subdomain] = Field(default_factory=list)
    """Default [] (none). Service accounts whose pods get the credentials-reader role (Pod Identity)."""


AUTOSCALER_CHART_MINORS = {
    "9.50.1": "1.33",
    "9.51.0": "1.33",
    "9.52.0": "1.34",
    "9.52.1": "1.34",
    "9.53.0": "1.34",
    "9.54.0": "1.35",
}
"""Kubernetes minor of the cluster-autoscaler each known chart ships (its appVersion); oldest first."""


def autoscaler_chart_for(kubernetes_version: str) -> str | None:
    """The newest known cluster-autoscaler chart for a Kubernetes minor, if any."""
    charts = [chart for chart, minor in AUTOSCALER_CHART_MINORS.items() if minor == kubernetes_version]
    return charts[-1] if charts else None


class ClusterAutoscalerConfig(_Model):
    """The cluster autoscaler: the upstream Helm chart with an EKS Pod Identity role."""

    enabled: bool = True
    """Default true. Whether it is installed; without it node groups stay at their creation size."""
    chart_version: SemanticVersion | None = None
    """Default: the newest known chart for cluster.version (9.53.0 for 1.34). Upstream chart version."""
    replicas: Annotated[int, Field(ge=1, le=5)] = 2
    """Default 2. Pods (count, 1-5); one acts (leader election) and a standby takes over if it is lost."""
    cpu: Quantity = "100m"
    """Default 100m. CPU request and limit of each pod (Kubernetes quantity)."""
    memory: Quantity = "300Mi"
    """Default 300Mi. Memory request and limit of each pod (Kubernetes quantity)."""
    scale_down_unneeded_minutes: Annotated[int, Field(ge=1, le=1440)] = 10
    """Default 10. How long a node must be unneeded before it is removed (minutes, 1-1440)."""
    scale_down_delay_after_add_minutes: Annotated[int, Field(ge=0, le=1440)] = 10
    """Default 10. No scale-down for this long after a scale-up (minutes, 0-1440)."""

    def chart_for(self, kubernetes_version: str) -> str | None:
        """The chart for a cluster of ``kubernetes_version``: the configured one, else the known one."""
        return self.chart_version or autoscaler_chart_for(kubernetes_version)


class MetricsServerConfig(_Model):
    """metrics-server: the metrics API every HorizontalPodAutoscaler (Istio's, and teams') scales on."""

    enabled: bool = True
    """Default true. Whether it is installed; without it no HPA can scale (EKS installs none)."""
    chart_version: SemanticVersion = "3.13.1"
    """Default 3.13.1 (metrics-server 0.8.1). Upstream chart version."""
    replicas: Annotated[int, Field(ge=1, le=5)] = 2
    """Default 2. Pods (count, 1-5); prod needs at least 2, with a disruption budget."""


class BaselineConfig(_Model):
    """``platform:baseline``: what every cluster runs besides the application namespaces."""

    cluster_autoscaler: ClusterAutoscalerConfig = Field(default_factory=ClusterAutoscalerConfig)
    """Default: all ClusterAutoscalerConfig defaults."""
    metrics_server: MetricsServerConfig = Field(default_factory=MetricsServerConfig)
    """Default: all MetricsServerConfig defaults."""


AwsRegion = Annotated[str, _pattern(r"[a-z]{2}(-[a-z]+)+-\d", "an AWS region like 'us-west-2'")]
BackupCron = Annotated[
    str,
    _pattern(
        r"cron\(\S+ \S+ \S+ \S+ \S+ \S+\)",
        "an AWS Backup schedule like 'cron(0 5 ? * * *)' (six fields, UTC)",
    ),
]


class BackupConfig(_Model):
    """``platform:backup``: AWS Backup of the Aurora cluster, beside its own automated backups."""

    enabled: bool = True
    """Default true. Whether AWS Backup keeps recovery points of the database (vault, plan, selection)."""
    schedule: BackupCron = "cron(0 5 ? * * *)"
    """Default cron(0 5 ? * * *): daily at 05:00 UTC, after Aurora's own backup window."""
    retention_days: Annotated[int, Field(ge=1, le=36500)] = 35
    """Default 35. Days each recovery point is kept; prod needs at least 30."""
    copy_to_region: AwsRegion | None = None
    """Default none. Another region to copy each recovery point to (a vault of its own is made there)."""


# --- platform:addons ----------------------------------------------------------------------------
# One class per add-on; each chart is pinned once, in components/addons/charts.py, not per stack.


class _AddonConfig(_Model):
    enabled: bool = True
    """Default true. Whether the stack installs this add-on."""


SnsTopicArn = Annotated[
    str,
    _pattern(
        r"arn:aws[a-zA-Z-]*:sns:[a-z]{2}(-[a-z]+)+-\d:\d{12}:[A-Za-z0-9_-]{1,256}",
        "an SNS topic ARN like 'arn:aws:sns:us-east-1:123456789012:platform-alerts' (not FIFO)",
    ),
]
KmsKeyArn = Annotated[
    str,
    _pattern(
        r"arn:aws[a-zA-Z-]*:kms:[a-z]{2}(-[a-z]+)+-\d:\d{12}:key/[0-9a-f-]+",
        "a KMS key ARN like 'arn:aws:kms:us-east-1:123456789012:key/<key id>' (not an alias)",
    ),
]
OtlpEndpoint = Annotated[
    str,
    Field(max_length=260),
    _pattern(
        rf"{_DNS_SUBDOMAIN}:\d{{1,5}}", "a host:port like 'jaeger-collector.tracing.svc.cluster.local:4317'"
    ),
]


class MonitoringConfig(_AddonConfig):
    """``platform:addons.monitoring``: kube-prometheus-stack (Prometheus, Alertmanager, Grafana)."""

    replicas: Annotated[int, Field(ge=1, le=5)] = 2
    """Default 2. Pods of Prometheus, of Alertmanager and of Grafana each (count, 1-5); prod needs 2."""
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 15
    """Default 15. Days Prometheus keeps its samples (1-3650), and never more than 85% of its volume."""
    storage_gib: Annotated[int, Field(ge=10, le=16384)] = 50
    """Default 50. Encrypted gp3 volume of each Prometheus replica (GiB, 10-16384)."""
    prometheus_memory: Quantity = "4Gi"
    """Default 4Gi. Memory request and limit of each Prometheus pod (Kubernetes quantity)."""
    error_rate_percent: Annotated[float, Field(gt=0, le=100)] = 5.0
    """Default 5. A mesh service answering more of its requests with 5xx over 5 minutes alerts (percent)."""
    alert_topic_arn: SnsTopicArn | None = None
    """Default: the alarms add-on's topic, else none (kept in Alertmanager). SNS topic of every alert."""
    alert_topic_key_arn: KmsKeyArn | None = None
    """Default none (the topic is unencrypted or uses aws/sns). The topic's customer-managed KMS key."""

    @model_validator(mode="after")
    def _key_of_a_topic(self) -> Self:
        if self.alert_topic_key_arn is not None and self.alert_topic_arn is None:
            raise _field_error("alertTopicKeyArn", "is the key of alertTopicArn; set alertTopicArn too")
        return self


class TracingConfig(_AddonConfig):
    """``platform:addons.tracing``: an OpenTelemetry collector, and Istio's spans sent to it."""

    replicas: Annotated[int, Field(ge=1, le=10)] = 2
    """Default 2. Collector pods (count, 1-10); prod needs at least 2."""
    sampling_percent: Annotated[float, Field(ge=0, le=100)] = 1.0
    """Default 1. Share of requests the mesh traces (percent, 0-100)."""
    endpoint: OtlpEndpoint | None = None
    """Default none (the collector logs a summary of each batch and keeps no span). OTLP/gRPC backend."""
    insecure: bool = False
    """Default false. Whether the collector sends to endpoint in plain text (an in-cluster backend only)."""

    @model_validator(mode="after")
    def _insecure_needs_endpoint(self) -> Self:
        if self.insecure and self.endpoint is None:
            raise _field_error("insecure", "is about the connection to endpoint; set endpoint too")
        return self


SNS_ENDPOINTS: dict[str, tuple[str, str]] = {
    "email": (r"[^@\s]+@[^@\s]+\.[^@\s]+", "an email address like 'oncall@example.com'"),
    "email-json": (r"[^@\s]+@[^@\s]+\.[^@\s]+", "an email address like 'oncall@example.com'"),
    "https": (r"https://\S+", "an https:// URL"),
    "sqs": (r"arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?", "an SQS queue ARN"),
    "lambda": (
        r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]+)?",
        "a Lambda function ARN",
    ),
    "sms": (r"\+[1-9]\d{1,14}", "an E.164 phone number like '+14155550100'"),
}
"""What each SNS protocol's endpoint looks like (SNS Subscribe, ``Endpoint``): protocol -> (regex, words)."""


class SubscriptionConfig(_Model):
    """One subscriber of the alarms topic: where SNS delivers each alarm's and OK's notification."""

    protocol: Literal["email", "email-json", "https", "sqs", "lambda", "sms"]
    """Required. SNS protocol; email subscribers must confirm the mail SNS sends them before they get any."""
    endpoint: Annotated[str, Field(min_length=1)]
    """Required. Where to deliver: an address, an https:// URL, an SQS or Lambda ARN, or a phone number."""

    @model_validator(mode="after")
    def _endpoint_fits_protocol(self) -> Self:
        regex, expected = SNS_ENDPOINTS[self.protocol]
        if not re.fullmatch(regex, self.endpoint):
            raise _field_error(
                "endpoint", f"must be {expected} for protocol {self.protocol}, got {self.endpoint!r}"
            )
        return self


Percent = Annotated[int, Field(ge=1, le=100)]


class DatabaseAlarmsConfig(_Model):
    """Alarms of the Aurora cluster, by role (writer, readers): AWS advises role metrics over instances'."""

    cpu_percent: Percent = 80
    """Default 80. CPUUtilization of the writer, or of the busiest reader, above which it alarms (percent)."""
    freeable_memory_mib: Annotated[int, Field(ge=1)] = 256
    """Default 256. FreeableMemory (MiB) below which it alarms: the instance is about to swap."""
    replica_lag_ms: Annotated[int, Field(ge=1)] = 1000
    """Default 1000. AuroraReplicaLag of the readers (ms) above which it alarms; only with readers."""
    connections: Annotated[int, Field(ge=1)] | None = None
    """Default: 80% of the class's default max_connections. DatabaseConnections above which it alarms."""


class CacheAlarmsConfig(_Model):
    """Alarms of each ElastiCache node (its member cluster), whichever is primary now."""

    memory_percent: Percent = 90
    """Default 90. DatabaseMemoryUsagePercentage above which it alarms (percent of maxmemory)."""
    evictions: Annotated[int, Field(ge=0)] = 1000
    """Default 1000. Evictions per period above which it alarms (count); an LRU cache evicts by design."""
    cpu_percent: Percent = 80
    """Default 80. EngineCPUUtilization (the Redis/Valkey thread's CPU) above which it alarms (percent)."""
    replication_lag_seconds: Annotated[int, Field(ge=1)] = 5
    """Default 5. ReplicationLag of a replica (seconds) above which it alarms; only with replicas."""


class NatAlarmsConfig(_Model):
    """Alarms of each NAT gateway."""

    port_allocation_errors: Annotated[int, Field(ge=0)] = 0
    """Default 0. ErrorPortAllocation per period above which it alarms (count): connections refused."""
    dropped_packets: Annotated[int, Field(ge=0)] = 100
    """Default 100. PacketsDropCount per period above which it alarms (count)."""


class AlarmsConfig(_AddonConfig):
    """``platform:addons.alarms``: CloudWatch alarms of the AWS side, to an SNS topic."""

    subscriptions: list[SubscriptionConfig] = Field(default_factory=list)
    """Default [] (nobody is notified: the alarms only show in CloudWatch). Who the alarms topic notifies."""
    period_seconds: Literal[60, 120, 300, 600, 900, 1800, 3600] = 60
    """Default 60. Length of each evaluated period (seconds): standard resolution, whole minutes."""
    evaluation_periods: Annotated[int, Field(ge=1, le=60)] = 5
    """Default 5. Consecutive periods that must breach before an alarm fires (count, 1-60)."""
    database: DatabaseAlarmsConfig = Field(default_factory=DatabaseAlarmsConfig)
    """Default: all DatabaseAlarmsConfig defaults."""
    cache: CacheAlarmsConfig = Field(default_factory=CacheAlarmsConfig)
    """Default: all CacheAlarmsConfig defaults."""
    nat_gateway: NatAlarmsConfig = Field(default_factory=NatAlarmsConfig)
    """Default: all NatAlarmsConfig defaults."""
    node_status_checks: bool = True
    """Default true. Whether each node group alarms when one of its nodes fails its EC2 status checks."""

    @model_validator(mode="after")
    def _evaluation_within_a_day(self) -> Self:
        # PutMetricAlarm: below an hour's period, Period x EvaluationPeriods may not exceed a day.
        if self.period_seconds < 3600 and self.period_seconds * self.evaluation_periods > 86400:
            raise _field_error(
                "evaluationPeriods",
                f"periodSeconds x evaluationPeriods must be at most 86400 (a day), "
                f"got {self.period_seconds * self.evaluation_periods}",
            )
        return self


VeleroCron = Annotated[
    str,
    _pattern(
        r"(\S+\s+){4}\S+|@(yearly|annually|monthly|weekly|daily|midnight|hourly)",
        "a five-field cron expression like '0 2 * * *' (UTC) or '@daily'",
    ),
]
Hours = Annotated[str, _pattern(r"[1-9]\d*h", "a whole number of hours like '720h'")]


class VeleroBucketConfig(_Model):
    """The S3 bucket Velero writes its backups to."""

    name: Annotated[str, Field(min_length=3, max_length=63)] | None = None
    """Default <cluster>-velero-<account>-<region>. Bucket name (S3 names are global: keep the account)."""
    expiry_margin_days: Annotated[int, Field(ge=1, le=365)] = 7
    """Default 7. Days past the backups' TTL after which S3 expires what Velero left behind (days)."""
    noncurrent_version_days: Annotated[int, Field(ge=1, le=3650)] = 14
    """Default 14. Days a deleted or overwritten object's old version is kept before S3 expires it (days)."""
    force_destroy: bool = False
    """Default false. Whether deleting the stack may delete a bucket still holding backups; never in prod."""


class VeleroConfig(_AddonConfig):
    """``platform:addons.velero``: Velero's backups of the cluster's objects and volumes, to S3."""

    schedule: VeleroCron = "0 2 * * *"
    """Default "0 2 * * *" (02:00 UTC daily). When the backup Schedule runs (cron)."""
    ttl: Hours = "720h"
    """Default 720h (30 days). How long each backup is kept before Velero deletes it (hours)."""
    extra_namespaces: list[Dns1123Label] = Field(default_factory=list)
    """Default []. Namespaces backed up besides the application namespaces and monitoring."""
    snapshot_volumes: bool = True
    """Default true. Whether backups take EBS snapshots of the persistent volumes in those namespaces."""
    bucket: VeleroBucketConfig = Field(default_factory=VeleroBucketConfig)
    """Default: all VeleroBucketConfig defaults."""

    @property
    def ttl_hours(self) -> int:
        return int(self.ttl.removesuffix("h"))


class GatekeeperConfig(_AddonConfig):
    """``platform:addons.gatekeeper``: OPA Gatekeeper and the platform's admission policies."""

    replicas: Annotated[int, Field(ge=1, le=10)] = 3
    """Default 3 (the chart's). Webhook pods (count, 1-10); prod needs at least 2 (with a budget)."""
    enforcement_action: Literal["deny", "dryrun", "warn"] = "deny"
    """Default deny. What a violation does: deny refuses it, warn warns, dryrun only reports it."""
    failure_policy: Literal["Fail", "Ignore"] = "Fail"
    """Default Fail. While the webhook cannot answer, app namespaces admit nothing (Ignore: anything)."""
    allowed_registries: list[RegistryPrefix] = Field(default_factory=list)
    """Default [] (the account's own ECR and Istio's sidecar only). More image prefixes, ending in '/'."""


class RolloutsConfig(_AddonConfig):
    """``platform:addons.rollouts``: Argo Rollouts, for canaries of mesh services with analysis."""

    replicas: Annotated[int, Field(ge=1, le=5)] = 2
    """Default 2 (the chart's). Controller pods (count, 1-5; one leads); prod needs at least 2."""
    success_rate_threshold: Annotated[float, Field(gt=0, le=1)] = 0.99
    """Default 0.99. Least share of a canary service's requests answered without a 5xx (0-1)."""
    analysis_interval_seconds: Annotated[int, Field(ge=10, le=3600)] = 60
    """Default 60. Seconds between two measurements of the success rate (10-3600)."""
    failure_limit: Annotated[int, Field(ge=0, le=100)] = 2
    """Default 2. Measurements below the threshold tolerated; one more aborts the canary (count)."""
    inconclusive_limit: Annotated[int, Field(ge=0, le=100)] = 3
    """Default 3. Measurements without traffic tolerated; one more pauses the canary for a person (count)."""
    prometheus_address: HttpUrl = "http://prometheus-operated.monitoring.svc.cluster.local:9090"
    """Default: the Prometheus operator's own Service in namespace monitoring. Where the analysis queries."""


class VpaConfig(_AddonConfig):
    """``platform:addons.vpa``: the vertical pod autoscaler."""

    replicas: Annotated[int, Field(ge=1, le=5)] = 2
    """Default 2 (the chart's). Pods of each component (count, 1-5); prod needs at least 2."""
    updater: bool = True
    """Default true. Whether the updater evicts pods whose requests drift from the recommendation."""
    admission_controller: bool = True
    """Default true. Whether new pods get the recommended requests (the updater needs it)."""


class CertManagerConfig(_AddonConfig):
    """``platform:addons.certManager``: cert-manager issuing the gateway's certificate (ACME DNS-01)."""

    enabled: bool = False
    """Default false (the gateway's certificate is a secret made by hand). Whether cert-manager issues it."""
    replicas: Annotated[int, Field(ge=1, le=5)] = 2
    """Default 2. Pods of the controller, webhook and CA injector each (count, 1-5); prod needs at least 2."""
    hosted_zone_id: HostedZoneId | None = None
    """Required while enabled. The Route 53 hosted zone of the gateway's hosts, where DNS-01 answers go."""
    acme_email: EmailAddress | None = None
    """Required while enabled. Who the ACME server writes to about expiring certificates."""
    acme_server: HttpsUrl = "https://acme-v02.api.letsencrypt.org/directory"
    """Default Let's Encrypt's production directory. The ACME server that issues the certificate."""

    @model_validator(mode="after")
    def _zone_when_enabled(self) -> Self:
        if self.enabled and self.hosted_zone_id is None:
            raise _field_error("hostedZoneId", "is required while cert-manager is enabled")
        if self.enabled and self.acme_email is None:
            raise _field_error("acmeEmail", "is required while cert-manager is enabled")
        return self


class AddonsConfig(_Model):
    """``platform:addons``: what a production platform runs beside the workloads, each switchable."""

    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    """Default: all MonitoringConfig defaults."""
    tracing: TracingConfig = Field(default_factory=TracingConfig)
    """Default: all TracingConfig defaults."""
    alarms: AlarmsConfig = Field(default_factory=AlarmsConfig)
    """Default: all AlarmsConfig defaults."""
    velero: VeleroConfig = Field(default_factory=VeleroConfig)
    """Default: all VeleroConfig defaults."""
    gatekeeper: GatekeeperConfig = Field(default_factory=GatekeeperConfig)
    """Default: all GatekeeperConfig defaults."""
    rollouts: RolloutsConfig = Field(default_factory=RolloutsConfig)
    """Default: all RolloutsConfig defaults."""
    vpa: VpaConfig = Field(default_factory=VpaConfig)
    """Default: all VpaConfig defaults."""
    cert_manager: CertManagerConfig = Field(default_factory=CertManagerConfig)
    """Default: all CertManagerConfig defaults (off)."""


GitHubRepository = Annotated[
    str,
    _pattern(
        r"https://github\.com/[A-Za-z0-9-]+/[A-Za-z0-9._-]+",
        "a GitHub repository URL like 'https://github.com/example/platform'",
    ),
]
ConnectionArn = Annotated[
    str,
    _pattern(
        r"arn:aws[a-zA-Z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]+",
        "a CodeConnections connection ARN (arn:aws:codeconnections:<region>:<account>:connection/<id>)",
    ),
]


class RunnerConfig(_Model):
    """``platform:deploy.runner``: the CodeBuild-hosted GitHub Actions runner inside the VPC."""

    enabled: bool = True
    """Default true. Whether the stack makes its in-VPC runner; the workflows run every stack's jobs on it."""
    repository: GitHubRepository | None = None
    """Required while enabled. The GitHub repository whose workflow jobs it runs."""
    connection_arn: ConnectionArn | None = None
    """Required while enabled. The CodeConnections connection to GitHub, made by hand (a GitHub App)."""
    compute_type: Literal["BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_LARGE"] = (
        "BUILD_GENERAL1_MEDIUM"
    )
    """Default BUILD_GENERAL1_MEDIUM (4 vCPUs, 7 GB). CodeBuild compute type of each job."""
    image: str = "aws/codebuild/standard:7.0"
    """Default aws/codebuild/standard:7.0 (Ubuntu, which actions/setup-python serves). The jobs' image."""
    timeout_minutes: Annotated[int, Field(ge=5, le=480)] = 180
    """Default 180. Longest a job may run (minutes, 5-480): EKS, node groups, then atomic Helm installs."""
    log_retention_days: RetentionDays = 365
    """Default 365. Days CloudWatch Logs keeps the runner's job logs (who deployed what)."""

    @model_validator(mode="after")
    def _wired_when_enabled(self) -> Self:
        if self.enabled and self.repository is None:
            raise _field_error("repository", "is required while the runner is enabled")
        if self.enabled and self.connection_arn is None:
            raise _field_error("connectionArn", "is required while the runner is enabled")
        return self


class DeployConfig(_Model):
    """``platform:deploy``: who deploys the stack, and from where (required: EKS grants nobody by default)."""

    role_arn: RoleArn
    """Required. The IAM role CI assumes (GitHub OIDC) to deploy; it gets cluster-admin in the cluster."""
    preview_role_arn: RoleArn | None = None
    """Default none. The role pull-request previews assume; it gets read-only access to the cluster."""
    runner: RunnerConfig = Field(default_factory=RunnerConfig)
    """Default: all RunnerConfig defaults (so repository and connectionArn are needed)."""


class StackConfig(_Model):
    """The whole stack config, parsed once by ``__main__.py``."""

    project: str
    """Required. Pulumi project name; the namespace of the config keys."""
    stack: str
    """Required. Pulumi stack name."""
    region: str | None = None
    """Default none (the provider's). AWS region, from aws:region."""
    tags: dict[TagKey, TagValue] = Field(default_factory=dict)
    """Default {}. AWS tags on every resource; a component's own tags win over these."""
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    """Default: all NetworkConfig defaults."""
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    """Default: all ClusterConfig defaults."""
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    """Default: all DatabaseConfig defaults."""
    cache: CacheConfig = Field(default_factory=CacheConfig)
    """Default: all CacheConfig defaults."""
    mesh: MeshConfig = Field(default_factory=MeshConfig)
    """Default: all MeshConfig defaults."""
    namespaces: dict[NamespaceName, NamespaceConfig] = Field(default_factory=dict)
    """Default {}. Application namespaces by name."""
    baseline: BaselineConfig = Field(default_factory=BaselineConfig)
    """Default: all BaselineConfig defaults."""
    backup: BackupConfig = Field(default_factory=BackupConfig)
    """Default: all BackupConfig defaults."""
    addons: AddonsConfig = Field(default_factory=AddonsConfig)
    """Default: all AddonsConfig defaults (every add-on but cert-manager on)."""
    deploy: DeployConfig | None = None
    """Required (platform:deploy, with its roleArn). Who deploys the stack, and its in-VPC runner."""

    @property
    def is_prod(self) -> bool:
        return self.stack == "prod"

    @property
    def cluster_name(self) -> str:
        return self.cluster.name or f"{self.project}-{self.stack}"


_FIELD_BY_ALIAS = {str(field.alias): name for name, field in StackConfig.model_fields.items()}
SECTIONS = tuple(
    alias for alias, name in _FIELD_BY_ALIAS.items() if name not in {"project", "stack", "region"}
)
"""The ``<project>:<section>`` keys the program reads, in declaration order."""


# --- stack-wide rules -------------------------------------------------------------------------

_Rule = Callable[[StackConfig], Iterator[tuple[Loc, str]]]


PROD_BACKUP_RETENTION_DAYS = 30
"""Fewest days prod keeps Aurora's automated backups (the policy pack checks the same floor)."""
PROD_AUDIT_LOG_RETENTION_DAYS = 365
"""Fewest days prod keeps audit logs: the EKS control plane's and PostgreSQL's (checkov CKV_AWS_338)."""


def _audit_retention(section: str, days: int) -> Iterator[tuple[Loc, str]]:
    if days < PROD_AUDIT_LOG_RETENTION_DAYS:
        yield (
            (section, "logRetentionDays"),
            f"prod keeps audit logs at least {PROD_AUDIT_LOG_RETENTION_DAYS} days, got {days}",
        )


def _deploy_given(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """platform:deploy.roleArn is required: EKS lets nobody in but the access entries the stack makes."""
    # With the cluster creator's admin off (changing it replaces the cluster), EKS lets nobody in but the
    # access entries made here: without the deploying role's, its first Kubernetes object gets a 401.
    if config.deploy is None:
        yield (
            ("deploy", "roleArn"),
            "is required: the IAM role CI assumes to deploy, which gets cluster-admin through an EKS "
            "access entry (nobody else can reach the cluster's API)",
        )


def _prod_cluster(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """prod: the API endpoint private (endpointPublicAccess false); control-plane logs kept 365 days."""
    if config.is_prod and config.cluster.endpoint_public_access:
        yield (
            ("cluster", "endpointPublicAccess"),
            "prod's API endpoint is private; reach it from the VPC (VPN, bastion or CI runners inside it)",
        )
    if config.is_prod:
        yield from _audit_retention("cluster", config.cluster.log_retention_days)


def _prod_database(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """prod: deletionProtection true, backupRetentionDays >= 30, instances >= 2, logRetentionDays >= 365."""
    if config.is_prod:
        if not config.database.deletion_protection:
            yield ("database", "deletionProtection"), "prod requires deletion protection; set it to true"
        if config.database.backup_retention_days < PROD_BACKUP_RETENTION_DAYS:
            yield (
                ("database", "backupRetentionDays"),
                f"prod keeps backups at least {PROD_BACKUP_RETENTION_DAYS} days, "
                f"got {config.database.backup_retention_days}",
            )
        if config.database.instances < 2:
            yield (
                ("database", "instances"),
                f"prod needs at least 2 instances, got {config.database.instances}",
            )
        yield from _audit_retention("database", config.database.log_retention_days)


def _prod_backup(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """prod: AWS Backup enabled, retentionDays >= 30; copyToRegion is another region than the stack's."""
    backup = config.backup
    if config.is_prod and not backup.enabled:
        yield ("backup", "enabled"), "prod's database is backed up by AWS Backup too; set it to true"
    elif config.is_prod and backup.retention_days < PROD_BACKUP_RETENTION_DAYS:
        yield (
            ("backup", "retentionDays"),
            f"prod keeps recovery points at least {PROD_BACKUP_RETENTION_DAYS} days, "
            f"got {backup.retention_days}",
        )
    if backup.copy_to_region is not None and backup.copy_to_region == config.region:
        yield ("backup", "copyToRegion"), f"must be another region than the stack's ({config.region})"


def _prod_cache(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """prod: nodes >= 2."""
    if config.is_prod and config.cache.nodes < 2:
        yield ("cache", "nodes"), f"prod needs at least 2 nodes, got {config.cache.nodes}"


def _mesh_namespaces_declared(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """Each mesh service's namespace is declared under platform:namespaces."""
    declared = list(config.namespaces)
    for name, service in config.mesh.services.items():
        if service.namespace not in config.namespaces:
            hint = _did_you_mean(service.namespace, declared)
            yield (
                ("mesh", "services", name, "namespace"),
                f"namespace {service.namespace!r} is not declared in {config.project}:namespaces"
                + (f"; did you mean {hint!r}?" if hint else ""),
            )


def _mesh_routes(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """Every routed service is reachable through the gateway, and no two claim the same host and prefix."""
    mesh = config.mesh
    claimed: dict[tuple[str, str], str] = {}
    for name, service in mesh.services.items():
        if not mesh.gateway_hosts:
            yield (
                ("mesh", "gatewayHosts"),
                f"services are routed through the gateway; list its hosts ({name!r})",
            )
            return
        for index, host in enumerate(service.hosts or []):
            if host not in mesh.gateway_hosts:
                yield (
                    ("mesh", "services", name, "hosts", index),
                    f"{host!r} is not one of gatewayHosts {mesh.gateway_hosts}",
                )
        for host in mesh.routed_hosts(name):
            other = claimed.setdefault((host, service.path_prefix), name)
            if other != name:
                yield (
                    ("mesh", "services", name, "pathPrefix"),
                    f"{host}{service.path_prefix} is already routed to {other!r}; give one a longer prefix",
                )
        for index, namespace in enumerate(service.allowed_namespaces):
            if namespace not in config.namespaces:
                yield (
                    ("mesh", "services", name, "allowedNamespaces", index),
                    f"namespace {namespace!r} is not declared in {config.project}:namespaces",
                )


def _prod_mesh(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """prod: controlPlaneReplicas >= 2 and gatewayMinReplicas >= 2."""
    if config.is_prod:
        for key, replicas in (
            ("controlPlaneReplicas", config.mesh.control_plane_replicas),
            ("gatewayMinReplicas", config.mesh.gateway_min_replicas),
        ):
            if replicas < 2:
                yield ("mesh", key), f"prod needs at least 2 so one can be lost, got {replicas}"


def _prod_metrics_server(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """prod: metrics-server enabled with replicas >= 2."""
    # The gateway's and istiod's autoscalers, and every team's, stop scaling while the metrics API is down.
    metrics = config.baseline.metrics_server
    if config.is_prod and not metrics.enabled:
        yield ("baseline", "metricsServer", "enabled"), "prod's autoscalers need the metrics API; set true"
    elif config.is_prod and metrics.replicas < 2:
        yield (
            ("baseline", "metricsServer", "replicas"),
            f"prod needs at least 2 so one can be lost, got {metrics.replicas}",
        )


def _autoscaler_matches_cluster(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """The cluster-autoscaler chart ships the autoscaler of the cluster's Kubernetes minor."""
    # The autoscaler simulates the scheduler of its own minor; on another one its decisions drift subtly.
    autoscaler, version = config.baseline.cluster_autoscaler, config.cluster.version
    if not autoscaler.enabled:
        return
    path: Loc = ("baseline", "clusterAutoscaler", "chartVersion")
    known = autoscaler_chart_for(version)
    if autoscaler.chart_version is None and known is None:
        yield path, f"no known cluster-autoscaler chart for cluster.version {version!r}; set one"
    shipped = AUTOSCALER_CHART_MINORS.get(autoscaler.chart_version or "")
    if shipped is not None and shipped != version:
        yield (
            path,
            f"chart {autoscaler.chart_version} ships cluster-autoscaler {shipped} but cluster.version is "
            f"{version!r}" + (f"; use {known}" if known else ""),
        )


TELEMETRY_V1_ISTIO = (1, 22)
"""The first Istio release serving ``telemetry.istio.io/v1``, which the tracing add-on's Telemetry uses."""
ISTIO_DASHBOARDS_SINCE = (1, 24)
"""The first Istio release publishing its Grafana dashboards under the file names monitoring loads."""


def _istio_release(config: StackConfig) -> tuple[int, int]:
    major, minor, _ = config.mesh.istio_version.split(".")
    return int(major), int(minor)


MONITORING_NAMESPACE = "monitoring"
TRACING_NAMESPACE = "tracing"
ADDON_NAMESPACES = {
    "monitoring": MONITORING_NAMESPACE,
    "tracing": TRACING_NAMESPACE,
    "velero": "velero",
    "gatekeeper": "gatekeeper-system",
    "rollouts": "argo-rollouts",
    "vpa": "vpa",
    "cert_manager": "cert-manager",
}
"""The namespace each add-on with pods makes and owns, by its field of :class:`AddonsConfig`."""


def _addon_namespaces_free(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """An application namespace does not take the name of an enabled add-on's namespace."""
    for field_name, namespace in ADDON_NAMESPACES.items():
        if getattr(config.addons, field_name).enabled and namespace in config.namespaces:
            key = AddonsConfig.model_fields[field_name].alias or field_name
            yield (
                ("namespaces", namespace),
                f"is the {key} add-on's own namespace (its policies and quota are the add-on's); "
                "choose another name",
            )


def _prod_monitoring(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """prod: monitoring enabled with replicas >= 2."""
    monitoring = config.addons.monitoring
    if not config.is_prod:
        return
    if not monitoring.enabled:
        yield ("addons", "monitoring", "enabled"), "prod must be monitored and alert; set true"
        return
    if monitoring.replicas < 2:
        yield (
            ("addons", "monitoring", "replicas"),
            f"prod needs at least 2 so one can be lost, got {monitoring.replicas}",
        )


def _prod_tracing(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """prod: tracing, where enabled, with replicas >= 2."""
    tracing = config.addons.tracing
    if config.is_prod and tracing.enabled and tracing.replicas < 2:
        yield (
            ("addons", "tracing", "replicas"),
            f"prod needs at least 2 so one can be lost, got {tracing.replicas}",
        )


def _addons_fit_the_mesh(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """Tracing needs Istio >= 1.22 (Telemetry API v1); monitoring Istio >= 1.24 (its dashboards' files)."""
    # The spans come from Istio's sidecars and the dashboards from Istio's release: both need the mesh's
    # version to have them.
    version, release = config.mesh.istio_version, _istio_release(config)
    if config.addons.tracing.enabled and release < TELEMETRY_V1_ISTIO:
        yield (
            ("addons", "tracing", "enabled"),
            "the mesh's spans are configured by Istio's Telemetry API v1, served from Istio "
            f"{'.'.join(map(str, TELEMETRY_V1_ISTIO))}; platform:mesh.istioVersion is {version}",
        )
    if config.addons.monitoring.enabled and release < ISTIO_DASHBOARDS_SINCE:
        yield (
            ("addons", "monitoring", "enabled"),
            "Grafana loads the mesh's dashboards from its Istio release, published as it expects from "
            f"Istio {'.'.join(map(str, ISTIO_DASHBOARDS_SINCE))}; platform:mesh.istioVersion is {version}",
        )


PROD_VELERO_TTL_HOURS = 720
"""Fewest hours prod keeps each Velero backup (30 days, as the design's schedule does)."""


def velero_namespaces(config: StackConfig) -> list[str]:
    """What the daily backup takes in: the application namespaces, monitoring when it runs, and the extras."""
    monitoring = [MONITORING_NAMESPACE] if config.addons.monitoring.enabled else []
    return list(dict.fromkeys([*config.namespaces, *monitoring, *config.addons.velero.extra_namespaces]))


def default_bucket_name_length(config: StackConfig) -> int:
    """Length of the Velero bucket's default name, <cluster>-velero-<12-digit account>-<region>."""
    return len(f"{config.cluster_name}-velero-") + 12 + 1 + len(config.region or "us-east-1")


_BUCKET_NAME = r"[a-z0-9][a-z0-9.-]*[a-z0-9]"


def _addons_alarms(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """prod: alarms enabled; a database instance class of unknown memory needs database.connections."""
    alarms = config.addons.alarms
    if config.is_prod and not alarms.enabled:
        yield ("addons", "alarms", "enabled"), "prod's data tier and network are watched by alarms; set true"
    if (
        alarms.enabled
        and alarms.database.connections is None
        and config.database.default_max_connections() is None
    ):
        yield (
            ("addons", "alarms", "database", "connections"),
            f"no known max_connections for instance class {config.database.instance_class!r}; "
            "set the threshold",
        )


def _addons_velero(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """prod: Velero enabled, ttl >= 720h, no bucket.forceDestroy; at least one namespace to back up; the
    bucket's name (given, or the default from the cluster name) is a valid S3 name of <= 63 characters."""
    velero = config.addons.velero
    if not velero.enabled:
        if config.is_prod:
            yield ("addons", "velero", "enabled"), "prod's cluster state is backed up by Velero; set true"
        return
    if config.is_prod and velero.ttl_hours < PROD_VELERO_TTL_HOURS:
        yield (
            ("addons", "velero", "ttl"),
            f"prod keeps backups at least {PROD_VELERO_TTL_HOURS}h (30 days), got {velero.ttl}",
        )
    if config.is_prod and velero.bucket.force_destroy:
        yield ("addons", "velero", "bucket", "forceDestroy"), "prod never deletes a bucket holding backups"
    if not velero_namespaces(config):
        # Velero reads an empty includedNamespaces as every namespace.
        yield (
            ("addons", "velero", "extraNamespaces"),
            "no namespace to back up (no application namespaces, no monitoring); list the ones to back up",
        )
    name = velero.bucket.name
    if name is None and default_bucket_name_length(config) > 63:
        yield (
            ("addons", "velero", "bucket", "name"),
            "the default name <cluster>-velero-<account>-<region> would be "
            f"{default_bucket_name_length(config)} characters, S3 allows 63; set one",
        )
    elif name is not None and (not re.fullmatch(_BUCKET_NAME, name) or ".." in name):
        yield (
            ("addons", "velero", "bucket", "name"),
            f"must be an S3 bucket name (lowercase letters, digits, '.' and '-', alphanumeric at both ends), "
            f"got {name!r}",
        )


def _prod_replicas(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """prod: gatekeeper, rollouts, vpa and certManager, where enabled, with replicas >= 2."""
    if not config.is_prod:
        return
    addons = config.addons
    for key, addon in (
        ("gatekeeper", addons.gatekeeper),
        ("rollouts", addons.rollouts),
        ("vpa", addons.vpa),
        ("certManager", addons.cert_manager),
    ):
        if addon.enabled and addon.replicas < 2:
            yield (
                ("addons", key, "replicas"),
                f"prod needs at least 2 so one can be lost, got {addon.replicas}",
            )


def _prod_admission(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """prod: gatekeeper enabled with enforcementAction deny."""
    gatekeeper = config.addons.gatekeeper
    if config.is_prod and not gatekeeper.enabled:
        yield ("addons", "gatekeeper", "enabled"), "prod enforces the admission policies; set it to true"
    elif config.is_prod and gatekeeper.enforcement_action != "deny":
        yield (
            ("addons", "gatekeeper", "enforcementAction"),
            f"prod must deny what breaks the admission policies, got {gatekeeper.enforcement_action!r}",
        )


def _rollouts_wired(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """rollouts need monitoring enabled (the analysis reads Prometheus); a mesh service's rollout needs
    rollouts enabled and no canaryWeight."""
    addons = config.addons
    if addons.rollouts.enabled and not addons.monitoring.enabled:
        yield (
            ("addons", "rollouts", "enabled"),
            "the canaries' analysis queries Prometheus; enable addons.monitoring too",
        )
    for name, service in config.mesh.services.items():
        if service.rollout is None:
            continue
        if not addons.rollouts.enabled:
            yield (
                ("mesh", "services", name, "rollout"),
                "needs Argo Rollouts; enable addons.rollouts (or drop the rollout)",
            )
        if service.canary_weight:
            yield (
                ("mesh", "services", name, "canaryWeight"),
                f"the rollout sets the canary's weight; drop canaryWeight (got {service.canary_weight})",
            )


def _vpa_parts(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """vpa: the updater needs the admissionController."""
    vpa = config.addons.vpa
    if vpa.enabled and vpa.updater and not vpa.admission_controller:
        yield (
            ("addons", "vpa", "admissionController"),
            "the updater evicts pods so that the admission controller gives them new requests; set it true "
            "or turn the updater off",
        )


def _certificate_hosts(config: StackConfig) -> Iterator[tuple[Loc, str]]:
    """certManager needs mesh.gatewayHosts (the certificate's names)."""
    if config.addons.cert_manager.enabled and not config.mesh.gateway_hosts:
        yield (
            ("addons", "certManager", "enabled"),
            "issues the gateway's certificate for mesh.gatewayHosts; list them first",
        )


_RULES: tuple[tuple[tuple[str, ...], _Rule], ...] = (
    (("cluster",), _prod_cluster),
    (("deploy",), _deploy_given),
    (("database",), _prod_database),
    (("cache",), _prod_cache),
    (("backup", "region"), _prod_backup),
    (("mesh", "namespaces"), _mesh_namespaces_declared),
    (("mesh", "namespaces"), _mesh_routes),
    (("mesh",), _prod_mesh),
    (("baseline", "cluster"), _autoscaler_matches_cluster),
    (("baseline",), _prod_metrics_server),
    (("addons",), _prod_monitoring),
    (("addons",), _prod_tracing),
    (("addons", "mesh"), _addons_fit_the_mesh),
    (("addons", "namespaces"), _addon_namespaces_free),
    (("addons", "database"), _addons_alarms),
    (("addons", "namespaces", "cluster", "region"), _addons_velero),
    (("addons",), _prod_replicas),
    (("addons",), _prod_admission),
    (("addons", "mesh"), _rollouts_wired),
    (("addons",), _vpa_parts),
    (("addons", "mesh"), _certificate_hosts),
)
"""Rules over whole sections, each with the sections it reads: it runs only if they all validated."""


# --- translating pydantic's errors ------------------------------------------------------------

_SCALAR_TYPES = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
}
_CONTAINER_TYPES = {"dict_type": "a mapping", "model_type": "a mapping", "list_type": "a list"}
_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "less_than_equal": ("le", "at most"),
    "greater_than": ("gt", "greater than"),
    "less_than": ("lt", "less than"),
}


def _kind(value: object) -> str:
    """What YAML made of ``value``, in a few words."""
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case Mapping():
            return "a mapping"
        case list():
            return "a list"
    return type(value).__name__


def _describe(value: object) -> str:
    """``value`` as the user wrote it: scalars with their value, containers by kind."""
    match value:
        case bool():
            return f"the boolean {str(value).lower()}"
        case int() | float():
            return f"the number {value}"
        case str():
            return f"the string {value!r}"
    return _kind(value)


def _number(bound: float) -> str:
    # Bounds of float fields arrive as floats; "greater than 0" reads better than "0.0".
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


def _normalised(word: str) -> str:
    # Case, '-' and '_' slips ("NoSchedule", "min_size") should still find their match.
    return word.lower().replace("-", "").replace("_", "")


def _did_you_mean(word: object, choices: Sequence[str]) -> str | None:
    if not isinstance(word, str):
        return None
    by_normal = {_normalised(choice): choice for choice in choices}
    close = difflib.get_close_matches(_normalised(word), by_normal, n=1)
    return by_normal[close[0]] if close else None


def _unknown(noun: str, word: object, choices: Sequence[str], prefix: str = "") -> str:
    hint = _did_you_mean(word, choices)
    if hint is not None:
        return f"unknown {noun}; did you mean '{prefix}{hint}'?"
    if not choices:
        return f"unknown {noun}"
    return f"unknown {noun}; valid {noun}s: " + ", ".join(prefix + choice for choice in choices)


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``| None`` to reach the type a value is validated as."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, UnionType) and NoneType in get_args(annotation):
            (annotation,) = (arg for arg in get_args(annotation) if arg is not NoneType)
        else:
            return annotation


def _type_at(loc: Loc) -> Any:
    """The declared type at ``loc`` (aliases, map keys and list indexes from StackConfig), if any."""
    annotation: Any = StackConfig
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields = {field.alias: field.annotation for field in annotation.model_fields.values()}
            if part not in fields:
                return None
            annotation = fields[part]
        elif get_origin(annotation) in (dict, list):
            annotation = get_args(annotation)[-1]
        else:
            return None
    return _unwrap(annotation)


def _key_type_at(loc: Loc) -> Any:
    """The declared key type of the map at ``loc``, if any."""
    mapping = _type_at(loc)
    return _unwrap(get_args(mapping)[0]) if get_origin(mapping) is dict else None


def _choices(annotation: Any) -> list[str]:
    """Spellings a value or key of ``annotation`` may take, for "did you mean"."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [str(field.alias) for field in annotation.model_fields.values()]
    if get_origin(annotation) is Literal:
        return [arg for arg in get_args(annotation) if isinstance(arg, str)]
    return []


def _message(error: ErrorDetails, loc: Loc, is_key: bool) -> str:
    kind, value, ctx = error["type"], error["input"], error.get("ctx", {})
    if kind == "extra_forbidden":
        return _unknown("key", loc[-1], _choices(_type_at(loc[:-1])))
    if kind == "literal_error" and is_key:
        return _unknown("key", value, _choices(_key_type_at(loc[:-1])))
    if kind == "literal_error":
        hint = _did_you_mean(value, _choices(_type_at(loc)))
        return f"must be one of {ctx['expected']}, got {_describe(value)}" + (
            f"; did you mean {hint!r}?" if hint else ""
        )
    if kind == "missing":
        return "is required"
    if kind == "string_type" and isinstance(value, int | float):
        return f"must be a string; quote it in the YAML (got {_describe(value)})"
    if kind in _SCALAR_TYPES:
        return f"must be {_SCALAR_TYPES[kind]}, got {_describe(value)}"
    if kind in _CONTAINER_TYPES:
        return f"must be {_CONTAINER_TYPES[kind]}, got {_kind(value)}"
    if kind in _BOUNDS:
        bound, words = _BOUNDS[kind]
        return f"must be {words} {_number(ctx[bound])}, got {value}"
    if kind == "multiple_of":
        return f"must be a multiple of {_number(ctx['multiple_of'])}, got {value}"
    if kind in ("string_too_short", "too_short") and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters long, got {len(value)}"
    if kind == "value_error":
        return str(ctx["error"])
    if kind == "cross_field":
        return ctx["message"]
    return error["msg"]


def _issue(error: ErrorDetails, config_keys: Mapping[str, str]) -> ConfigIssue:
    loc: Loc = tuple(error["loc"])
    # Pydantic marks a bad map key with a trailing "[key]"; the path names the key itself.
    is_key = bool(loc) and loc[-1] == "[key]"
    if is_key:
        loc = loc[:-1]
    if error["type"] == "cross_field":
        loc += (error["ctx"]["field"],)
    message = _message(error, loc, is_key)
    if is_key and not message.startswith("unknown key"):
        message = f"invalid key: {message}"
    return ConfigIssue(_path(loc, config_keys), message)


def _path(loc: Loc, config_keys: Mapping[str, str]) -> str:
    head, *rest = loc
    return ".".join([config_keys[str(head)], *map(str, rest)])


# --- entry points -----------------------------------------------------------------------------


class StackFileError(ValueError):
    """A stack file that cannot be read as one; ``str()`` is one line naming the file and the problem."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader refusing a key given twice in one mapping, as the Pulumi CLI's YAML decoder
    (yaml.v3: "mapping key ... already defined at line ...") does; PyYAML alone keeps the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"mapping key {key!r} already defined at line {seen[key]}",
                    key_node.start_mark,
                )
            if isinstance(key, str):
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _UniqueKeyLoader.construct_mapping,
)


def read_stack_file_config(path: Path) -> dict[str, Any]:
    """The ``config:`` mapping of a ``Pulumi.<stack>.yaml``-shaped file, as YAML decodes it: a fresh copy.

    Raises StackFileError when the file is missing or unreadable, is not YAML, or is not a mapping whose
    ``config`` is a mapping. A text read before is not parsed again (PyYAML takes some 30 ms over a stack
    file, and the offline tools and their tests read each many times).
    """
    if not path.is_file():
        raise StackFileError(f"{path}: no such stack file")
    try:
        text = path.read_text()
    except OSError as error:
        raise StackFileError(f"{path}: cannot read it: {error.strerror or error}") from None
    if text not in _PARSED:
        _PARSED[text] = _parse_stack_file_config(text, path)
    return copy.deepcopy(_PARSED[text])


_PARSED: dict[str, dict[str, Any]] = {}
"""Stack file text -> its ``config`` mapping, for the texts that were one."""


def _parse_stack_file_config(text: str, path: Path) -> dict[str, Any]:
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise StackFileError(f"{path}: not YAML{where}: {problem}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise StackFileError(f"{path}: must be a mapping (with a 'config' mapping), got {_kind(document)}")
    config = document.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise StackFileError(f"{path}: 'config' must be a mapping, got {_kind(config)}")
    return config


def decode_pulumi_config(raw: Mapping[str, str]) -> dict[str, Any]:
    """Decode the JSON objects and arrays among Pulumi's config values; keep plain strings as they are.

    Pulumi hands structured config values to the program as JSON strings.
    """
    decoded: dict[str, Any] = {}
    for key, value in raw.items():
        decoded[key] = value
        if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
            # Anything that is not valid JSON is a plain string that happens to start with a bracket.
            with contextlib.suppress(json.JSONDecodeError):
                decoded[key] = json.loads(value)
    return decoded


def parse_stack_config(values: Mapping[str, Any], *, stack: str, project: str = "platform") -> StackConfig:
    """values: full config keys ('platform:network', 'aws:region', ...) -> decoded Python values.

    Keys of other namespaces (aws:, kubernetes:) are ignored. A missing (or null) section takes
    its defaults. Raises ConfigError listing every problem.
    """
    config_keys = {"region": "aws:region"} | {section: f"{project}:{section}" for section in SECTIONS}
    issues: list[ConfigIssue] = []
    for key in values:
        namespace, colon, section = key.partition(":")
        if colon and namespace == project and section not in SECTIONS:
            issues.append(ConfigIssue(key, _unknown("section", section, SECTIONS, prefix=f"{project}:")))

    identity = {"project": project, "stack": stack}
    parsed: dict[str, Any] = {}
    failed: set[str] = set()
    for alias, key in config_keys.items():
        if values.get(key) is None:
            continue
        # One section at a time, so that a type error in one cannot hide what is wrong in another.
        try:
            partial = StackConfig.model_validate({**identity, alias: values[key]})
        except ValidationError as err:
            failed.add(alias)
            issues.extend(_issue(error, config_keys) for error in err.errors())
        else:
            parsed[alias] = getattr(partial, _FIELD_BY_ALIAS[alias])

    # Sections that failed stand in with their defaults so the other sections' rules can run.
    config = StackConfig.model_validate({**identity, **parsed})
    for sections, rule in _RULES:
        if failed.isdisjoint(sections):
            issues.extend(ConfigIssue(_path(loc, config_keys), message) for loc, message in rule(config))
    if issues:
        raise ConfigError(issues, stack=stack)
    return config


def load_stack_config() -> StackConfig:
    """Parse the running program's whole config; a bad config ends the run with the report only.

    Raises pulumi.RunError, which Pulumi prints without a traceback.
    """
    raw = {**pulumi.runtime.config.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    try:
        return parse_stack_config(
            decode_pulumi_config(raw), stack=pulumi.get_stack(), project=pulumi.get_project()
        )
    except ConfigError as err:
        raise pulumi.RunError(str(err)) from None
