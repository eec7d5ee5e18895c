"""A monthly estimate of a plan, line by line, from the resources it records (never from the config).

Prices come from a dated, region-keyed table in ``offline/prices/<region>.json``; what a plan cannot
know (traffic through NAT, Aurora storage, log volume) comes from the per-stack usage assumptions in
``offline/prices/usage.json``, each one a line of its own. The total is the sum of the lines.

Every resource is accounted for: it gets a line, is of a type the table says has no charge of its
own, or is listed as *unpriced* with the reason (an instance type missing from the table, a type no
rule knows). Nothing is silently priced at zero.
"""

from __future__ import annotations

import fnmatch
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from offline.emulation import DEFAULT_REGION
from offline.runner import Plan, RecordedResource

PRICES_DIR = Path(__file__).resolve().parent / "prices"
PLATFORM_TYPE = "platform:index:Platform"
USAGE = "Usage (assumed)"
"""The group of the usage-assumption lines, after the components."""
OUTSIDE = "Stack"
"""The group of resources registered outside any component."""


# --- price tables ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceTable:
    """One region's on-demand prices, as the JSON file has them."""

    region: str
    currency: str
    source: str
    taken: str
    hours_per_month: float
    hourly: Mapping[str, float]
    monthly: Mapping[str, float]
    usage: Mapping[str, float]
    classes: Mapping[str, Mapping[str, float]]
    """Price by service, then by instance class, node type or compute type: hourly for ``ec2``, ``rds`` and
    ``elasticache``, per build minute for ``codebuild``."""
    no_charge: tuple[str, ...]
    """Type patterns (``fnmatch``) of resources with no price of their own."""

    @classmethod
    def load(cls, region: str) -> PriceTable:
        path = PRICES_DIR / f"{region}.json"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in PRICES_DIR.glob("*-*-*.json")))
            raise LookupError(f"no price table for region {region!r} (known: {known})")
        data = json.loads(path.read_text())
        return cls(
            region=data["region"],
            currency=data["currency"],
            source=data["source"],
            taken=data["taken"],
            hours_per_month=data["hoursPerMonth"],
            hourly=data["hourly"],
            monthly=data["monthly"],
            usage=data["usage"],
            classes={service: data[service] for service in ("ec2", "rds", "elasticache", "codebuild")},
            no_charge=tuple(data["noCharge"]),
        )

    def hourly_class(self, service: str, name: str) -> float | None:
        return self.classes[service].get(name)

    def charges_nothing(self, type_token: str) -> bool:
        return any(fnmatch.fnmatchcase(type_token, pattern) for pattern in self.no_charge)


def usage_assumptions(stack: str) -> dict[str, float]:
    """The month of use assumed for ``stack`` (a stack with none of its own gets the fallback's)."""
    data = json.loads((PRICES_DIR / "usage.json").read_text())
    stacks = data["stacks"]
    return dict(stacks.get(stack, stacks[data["fallback"]]))


# --- the estimate ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One priced item: ``quantity`` ``unit``s at ``unit_price`` each."""

    component: str
    item: str
    quantity: float
    unit: str
    unit_price: float
    resources: tuple[str, ...] = ()
    """Names of the resources the line prices (none for a usage assumption)."""

    @property
    def monthly(self) -> float:
        return self.quantity * self.unit_price

    def to_json(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "item": self.item,
            "quantity": self.quantity,
            "unit": self.unit,
            "unitPrice": self.unit_price,
            "monthly": round(self.monthly, 2),
            "resources": list(self.resources),
        }


@dataclass(frozen=True)
class Unpriced:
    """A resource the estimate could not price, and why; its cost is not in the total."""

    component: str
    resource: str
    type: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {
            "component": self.component,
            "resource": self.resource,
            "type": self.type,
            "reason": self.reason,
        }


@dataclass
class Estimate:
    stack: str
    prices: PriceTable
    assumptions: Mapping[str, float]
    lines: list[Line] = field(default_factory=list)
    unpriced: list[Unpriced] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(line.monthly for line in self.lines)

    def by_component(self) -> dict[str, float]:
        """Monthly cost per component, in the order of the lines (the usage assumptions last)."""
        totals: dict[str, float] = {}
        for line in self.lines:
            totals[line.component] = totals.get(line.component, 0.0) + line.monthly
        return totals

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "region": self.prices.region,
            "currency": self.prices.currency,
            "prices": {"source": self.prices.source, "taken": self.prices.taken},
            "hoursPerMonth": self.prices.hours_per_month,
            "assumptions": dict(self.assumptions),
            "components": {name: round(value, 2) for name, value in self.by_component().items()},
            "total": round(self.total, 2),
            "lines": [line.to_json() for line in self.lines],
            "unpriced": [item.to_json() for item in self.unpriced],
        }


# --- which component a resource belongs to --------------------------------------------------------------


def component_label(type_token: str) -> str:
    """``platform:index:Network`` -> ``Network``."""
    return type_token.rsplit(":", 1)[-1]


def components_of(plan: Plan) -> dict[str, str]:
    """URN -> the top-level component the resource belongs to (the one right under Platform).

    A resource outside every component is in :data:`OUTSIDE`; a plan without a Platform (a test's
    smaller program) groups by its outermost components instead.
    """
    by_urn = {r.urn: r for r in plan.resources}

    def top(resource: RecordedResource) -> RecordedResource | None:
        chain = [resource]
        while (parent := by_urn.get(chain[-1].parent or "")) is not None:
            chain.append(parent)
        outermost = [r for r in reversed(chain) if r.type != PLATFORM_TYPE]
        return outermost[0] if outermost and not outermost[0].custom else None

    labels = {}
    for resource in plan.resources:
        component = top(resource)
        labels[resource.urn] = component_label(component.type) if component else OUTSIDE
    return labels


# --- pricing rules: one per billable type ---------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What a rule may read: the plan, its prices, and the component of each resource."""

    plan: Plan
    prices: PriceTable
    component: Mapping[str, str]
    assumptions: Mapping[str, float]
    """The stack's usage assumptions, for a resource billed by use (a runner's build minutes)."""

    def hours(self, count: float = 1) -> float:
        return count * self.prices.hours_per_month

    def by_state_id(self, type_token: str, value: Any) -> RecordedResource | None:
        return next((r for r in self.plan.of_type(type_token) if r.state.get("id") == value), None)


Priced = Line | Unpriced
Rule = Callable[[RecordedResource, Context], Iterator[Priced]]


def _hourly(ctx: Context, resource: RecordedResource, item: str, key: str, count: float = 1) -> Line:
    return Line(
        ctx.component[resource.urn],
        item,
        ctx.hours(count),
        "hours",
        ctx.prices.hourly[key],
        (resource.name,),
    )


def _monthly(ctx: Context, resource: RecordedResource, item: str, key: str) -> Line:
    return Line(ctx.component[resource.urn], item, 1, "month", ctx.prices.monthly[key], (resource.name,))


def _unpriced(ctx: Context, resource: RecordedResource, reason: str) -> Unpriced:
    return Unpriced(ctx.component[resource.urn], resource.name, resource.type, reason)


def _class_hours(
    ctx: Context, resource: RecordedResource, service: str, name: str, count: float, item: str
) -> Priced:
    price = ctx.prices.hourly_class(service, name)
    if price is None:
        return _unpriced(ctx, resource, f"no on-demand price for {service} {name} in {ctx.prices.region}")
    return Line(
        ctx.component[resource.urn], item, ctx.hours(count), "instance-hours", price, (resource.name,)
    )


def _eks_cluster(resource: RecordedResource, ctx: Context) -> Iterator[Priced]:
    extended = (resource.inputs.get("upgradePolicy") or {}).get("supportType") == "EXTENDED"
    if extended:
        yield _hourly(ctx, resource, "EKS control plane (extended support)", "eksClusterExtendedSupport")
    else:
        yield _hourly(ctx, resource, "EKS control plane", "eksCluster")


def _node_group(resource: RecordedResource, ctx: Context) -> Iterator[Priced]:
    inputs = resource.inputs
    nodes = (inputs.get("scalingConfig") or {}).get("desiredSize", 0)
    instance_type = inputs["instanceTypes"][0]
    spot = " (SPOT, priced on demand)" if inputs.get("capacityType") == "SPOT" else ""
    yield _class_hours(
        ctx, resource, "ec2", instance_type, nodes, f"EC2 {nodes} x {instance_type} ({resource.name}){spot}"
    )
    template = ctx.by_state_id(
        "aws:ec2/launchTemplate:LaunchTemplate", (inputs.get("launchTemplate") or {}).get("id")
    )
    if template is None:
        yield _unpriced(ctx, resource, "root volumes: no launch template, so their size and type are unknown")
        return
    for mapping in template.inputs.get("blockDeviceMappings", []):
        ebs = mapping.get("ebs") or {}
        size, volume_type = int(ebs.get("volumeSize", 0)), ebs.get("volumeType", "gp2")
        if volume_type != "gp3":
            yield _unpriced(ctx, resource, f"EBS {volume_type} volumes: only gp3 is in the price table")
            continue
        yield Line(
            ctx.component[resource.urn],
            f"EBS gp3 {nodes} x {size} GB ({resource.name})",
            size * nodes,
            "GB-months",
            ctx.prices.monthly["ebsGp3GbMonth"],
            (resource.name, template.name),
        )


def _nat_gateway(resource: RecordedResource, ctx: Context) -> Iterator[Priced]:
    yield _hourly(ctx, resource, "NAT gateway", "natGateway")


def _public_ip(resource: RecordedResource, ctx: Context) -> Iterator[Priced]:
    yield _hourly(ctx, resource, "Public IPv4 address (Elastic IP)", "publicIpv4Address")


STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
VOLUME_CLAIMS: dict[str, tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]] = {
    "kube-prometheus-stack": (
        ("Prometheus", ("prometheus", "prometheusSpec", "storageSpec"), ("prometheus", "prometheusSpec")),
        (
            "Alertmanager",
            ("alertmanager", "alertmanagerSpec", "storage"),
            ("alertmanager", "alertmanagerSpec"),
        ),
    ),
}
"""Charts whose operator makes a volume per replica: (what, the values path of its ``volumeClaimTemplate``'s
parent, the path of the spec holding its ``replicas``, 1 when unset)."""
_BINARY = {"Ki": 2**-20, "Mi": 2**-10, "Gi": 1, "Ti": 2**10}


def _dig(values: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        values = values.get(key) if isinstance(values, dict) else None
    return values


def _gib(quantity: str) -> float | None:
    """A volume size (``50Gi``) in GiB, the unit EBS bills (as "GB"); None for a form it cannot read."""
    number, suffix = quantity[:-2], quantity[-2:]
    if suffix in _BINARY and number.replace(".", "", 1).isdigit():
        return float(number) * _BINARY[suffix]
    return None


def _volume_claims(resource: RecordedResource, ctx: Context) -> Iterator[Priced]:
    """EBS volumes the chart's workloads claim, one per replica, priced by their StorageClass's type."""
    values = resource.inputs.get("values") or {}
    release = resource.inputs.get("name", resource.name)
    classes = {
        (c.inputs.get("metadata") or {}).get("name"): c.inputs for c in ctx.plan.of_type(STORAGE_CLASS)
    }
    for what, storage_path, spec_path in VOLUME_CLAIMS.get(resource.inputs.get("chart", ""), ()):
        claim = (_dig(values, storage_path) or {}).get("volumeClaimTemplate")
        if not claim:
            continue  # emptyDir: no volume
        spec = claim.get("spec") or {}
        replicas = int(_dig(values, (*spec_path, "replicas")) or 1)
        size = _gib(str(_dig(spec, ("resources", "requests", "storage")) or ""))
        storage_class = classes.get(spec.get("storageClassName"))
        volume_type = ((storage_class or {}).get("parameters") or {}).get("type")
        if size is None or volume_type != "gp3":
            why = f"{what} volumes of StorageClass {spec.get('storageClassName')!r}"
            reason = "an unreadable size" if size is None else f"volume type {volume_type!r}, not gp3"
            yield _unpriced(ctx, resource, f"{why}: {reason} (only gp3 made by the plan is priced)")
            continue
        yield Line(
            ctx.component[resource.urn],
            f"EBS gp3 {replicas} x {size:g} GB ({what}, {release})",
            size * replicas,
            "GB-months",
            ctx.prices.monthly["ebsGp3GbMonth"],
            (resource.name,),
        )


def _helm_release(resource: RecordedResource, ctx: Context) -> Iterator[Priced]:
    # A chart whose Service is a LoadBalancer makes AWS start a Network Load Balancer for it.
    service = (resource.inputs.get("values") or {}).get("service") or {}
    if service.get("type") == "LoadBalancer":
        release = resource.inputs.get("name", resource.name)
        yield _hourly(ctx, resource, f"Network Load Balancer ({release})", "networkLoadBalancer")
    yield from _volume_claims(resource, ctx)


def _vpc_endpoint(resource: RecordedResource, ctx: Context) -> Iterator[Priced]:
    # Gateway endpoints (S3, DynamoDB) are free; an interface endpoint bills per AZ (subnet) hour, and
    # its traffic per GB, which is small beside the NAT traffic it saves and left out.
    kind = resource.inputs.get("vpcEndpointType", "Gateway")
    if kind == "Interface":
        service = str(resource.inputs.get("serviceName", "")).rsplit(".", 1)[-1]
        azs = len(resource.inputs.get("subnetIds") or [])
        yield _hourly(ctx, resource, f"Interface endpoint ({service}), per AZ", "vpcInterfaceEndpointAz", azs)
    elif kind != "Gateway":
        yield _unpriced(ctx, resource, f"{kind} endpoints are not in the price table")


def _kms_key(resource: RecordedResource, ctx: Context) -> Iterator[Priced]:
    yield _monthly(ctx, resource, "KMS customer-managed key", "kmsKey")


def _secret(resource: RecordedResource, ctx: Context) -> Iterator[Priced]:
    yield _monthly(ctx, resource, "Secrets Manager secret", "secretsManagerSecret")


def _aurora_cluster(resource: RecordedResource, ctx: Context) -> Iterator[Priced]:
    # The cluster bills through its instances and storage (a usage assumption); RDS keeps the master
    # password in a Secrets Manager secret of its own, which bills like any other.
    if resource.inputs.get("manageMasterUserPassword"):
        yield _monthly(
            ctx, resource, "Secrets Manager secret (RDS-managed master password)", "secretsManagerSecret"
        )


def _aurora_instance(resource: RecordedResource, ctx: Context) -> Iterator[Priced]:
    instance_class = resource.inputs["instanceClass"]
    if instance_class != "db.serverless":
        yield _class_hours(ctx, resource, "rds", instance_class, 1, f"Aurora PostgreSQL {instance_class}")
        return
    identifier = resource.inputs.get("clusterIdentifier")
    cluster = next(
        (
            c
            for c in ctx.plan.of_type(AURORA_CLUSTER)
            if identifier in (c.state.get("id"), c.inputs.get("clusterIdentifier"))
        ),
        None,
    )
    scaling = (cluster.inputs.get("serverlessv2ScalingConfiguration") if cluster else None) or {}
    if "minCapacity" not in scaling:
        yield _unpriced(ctx, resource, "Serverless v2 instance whose cluster has no capacity range")
        return
    acu = float(scaling["minCapacity"])
    yield Line(
        ctx.component[resource.urn],
        f"Aurora Serverless v2 at its floor of {acu:g} ACU (scales to {float(scaling['maxCapacity']):g})",
        ctx.hours(acu),
        "ACU-hours",
        ctx.prices.hourly["auroraServerlessV2Acu"],
        (resource.name,),
    )


def _cache_nodes(inputs: Mapping[str, Any]) -> int:
    """Nodes of a replication group: a primary and replicas, times the shards in cluster mode."""
    if "numCacheClusters" in inputs:
        return int(inputs["numCacheClusters"])
    shards = int(inputs.get("numNodeGroups", 1))
    return shards * (int(inputs.get("replicasPerNodeGroup", 0)) + 1)


def _replication_group(resource: RecordedResource, ctx: Context) -> Iterator[Priced]:
    node_type, nodes = resource.inputs["nodeType"], _cache_nodes(resource.inputs)
    engine = resource.inputs.get("engine", "redis")
    yield _class_hours(
        ctx, resource, "elasticache", node_type, nodes, f"ElastiCache {engine} {nodes} x {node_type}"
    )


def _codebuild_project(resource: RecordedResource, ctx: Context) -> Iterator[Priced]:
    """Billed per build minute by compute type; the minutes are the stack's ``runnerBuildMinutes``."""
    compute_type = (resource.inputs.get("environment") or {}).get("computeType", "")
    price = ctx.prices.classes["codebuild"].get(compute_type)
    if price is None:
        why = f"no per-minute price for CodeBuild {compute_type} in {ctx.prices.region}"
        yield _unpriced(ctx, resource, why)
        return
    minutes = ctx.assumptions["runnerBuildMinutes"]
    yield Line(
        ctx.component[resource.urn],
        f"CodeBuild {compute_type} build minutes (runnerBuildMinutes)",
        minutes,
        "minutes",
        price,
        (resource.name,),
    )


def _metric_alarm(resource: RecordedResource, ctx: Context) -> Iterator[Priced]:
    """Billed per metric an alarm reads, a month: at the high-resolution price below a minute's period."""
    queries = [query for query in resource.inputs.get("metricQueries") or [] if query.get("metric")]
    periods = [resource.inputs.get("period", 60), *((q["metric"].get("period", 60)) for q in queries)]
    metrics = max(len(queries), 1)
    if min(periods) < 60:
        item, key = "CloudWatch alarm metric (high resolution)", "cloudWatchAlarmHighResolution"
    else:
        item, key = "CloudWatch alarm metric (standard resolution)", "cloudWatchAlarmStandard"
    yield Line(
        ctx.component[resource.urn],
        item,
        metrics,
        "alarm metric-months",
        ctx.prices.monthly[key],
        (resource.name,),
    )


AURORA_CLUSTER = "aws:rds/cluster:Cluster"
BACKUP_VAULT = "aws:backup/vault:Vault"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
RULES: dict[str, Rule] = {
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:ec2/natGateway:NatGateway": _nat_gateway,
    "aws:ec2/eip:Eip": _public_ip,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _vpc_endpoint,
    HELM_RELEASE: _helm_release,
    "aws:kms/key:Key": _kms_key,
    "aws:secretsmanager/secret:Secret": _secret,
    AURORA_CLUSTER: _aurora_cluster,
    "aws:rds/clusterInstance:ClusterInstance": _aurora_instance,
    "aws:elasticache/replicationGroup:ReplicationGroup": _replication_group,
    "aws:codebuild/project:Project": _codebuild_project,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _metric_alarm,
}
"""How each billable type is priced. Types neither here nor in the table's ``noCharge`` are unpriced."""


# --- usage assumptions ----------------------------------------------------------------------------------

# (assumption key, price key, what it is, unit, the types whose presence makes it apply)
_USAGE_ITEMS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    (
        "natDataProcessedGb",
        "natDataProcessedGb",
        "NAT data processed",
        "GB",
        ("aws:ec2/natGateway:NatGateway",),
    ),
    (
        "nlbCapacityUnitHours",
        "nlbCapacityUnitHours",
        "Load balancer capacity units (ingress traffic)",
        "LCU-hours",
        ("kubernetes:networking.istio.io/v1:Gateway",),
    ),
    ("auroraStorageGb", "auroraStorageGbMonth", "Aurora storage", "GB-months", (AURORA_CLUSTER,)),
    (
        "auroraIoMillionRequests",
        "auroraIoMillionRequests",
        "Aurora I/O",
        "million requests",
        (AURORA_CLUSTER,),
    ),
    (
        "cloudWatchLogsIngestedGb",
        "cloudWatchLogsIngestedGb",
        "CloudWatch Logs ingested",
        "GB",
        ("aws:cloudwatch/logGroup:LogGroup", "aws:ec2/flowLog:FlowLog"),
    ),
    (
        "cloudWatchLogsStoredGb",
        "cloudWatchLogsStoredGbMonth",
        "CloudWatch Logs stored",
        "GB-months",
        ("aws:cloudwatch/logGroup:LogGroup",),
    ),
    (
        "backupStorageGb",
        "backupWarmStorageGbMonth",
        "AWS Backup recovery points (each vault)",
        "GB-months",
        (BACKUP_VAULT,),
    ),
    (
        "veleroBucketGb",
        "s3StandardStorageGbMonth",
        "S3 Standard storage of the Velero bucket (old versions included)",
        "GB-months",
        ("aws:s3/bucket:Bucket",),
    ),
    (
        "veleroSnapshotGb",
        "ebsSnapshotGbMonth",
        "EBS snapshots of persistent volumes (Velero's daily backups)",
        "GB-months",
        ("kubernetes:velero.io/v1:Schedule",),
    ),
)
"""A usage line applies when the plan has one of its types; one of BACKUP_VAULT counts per vault."""


def _usage_lines(plan: Plan, prices: PriceTable, assumptions: Mapping[str, float]) -> Iterator[Line]:
    """A line per assumption whose metered resource the plan has: no Aurora, no Aurora storage line."""
    present = Counter(r.type for r in plan.resources)
    for key, price_key, item, unit, types in _USAGE_ITEMS:
        if any(present[t] for t in types):
            # Each vault (the stack's, and a copy in another region) keeps its own recovery points.
            copies = present[BACKUP_VAULT] if BACKUP_VAULT in types else 1
            yield Line(USAGE, item, assumptions[key] * copies, unit, prices.usage[price_key])


# --- entry point ----------------------------------------------------------------------------------------


def estimate(
    plan: Plan, prices: PriceTable | None = None, assumptions: Mapping[str, float] | None = None
) -> Estimate:
    """The monthly estimate of ``plan``: its region's price table and its stack's usage assumptions
    unless others are given."""
    prices = prices or PriceTable.load(plan.config.region or DEFAULT_REGION)
    assumptions = assumptions if assumptions is not None else usage_assumptions(plan.stack)
    ctx = Context(plan, prices, components_of(plan), assumptions)
    result = Estimate(plan.stack, prices, assumptions)
    for resource in plan.resources:
        if not resource.custom:
            continue
        rule = RULES.get(resource.type)
        if rule is not None:
            for priced in rule(resource, ctx):
                if isinstance(priced, Line):
                    result.lines.append(priced)
                else:
                    result.unpriced.append(priced)
        elif not prices.charges_nothing(resource.type):
            result.unpriced.append(_unpriced(ctx, resource, "no pricing rule for this type"))
    result.lines = _merged(result.lines)
    result.lines.extend(_usage_lines(plan, prices, assumptions))
    return result


def _merged(lines: list[Line]) -> list[Line]:
    """Lines of one component for the same item at the same price, as one line: "3 x NAT gateway"."""
    groups: dict[tuple[str, str, str, float], list[Line]] = {}
    for line in lines:
        groups.setdefault((line.component, line.item, line.unit, line.unit_price), []).append(line)
    return [
        Line(
            component,
            item if len(same) == 1 else f"{len(same)} x {item}",
            sum(line.quantity for line in same),
            unit,
            price,
            tuple(name for line in same for name in line.resources),
        )
        for (component, item, unit, price), same in groups.items()
    ]


def difference(
    this: Mapping[str, float], other: Mapping[str, float]
) -> dict[str, tuple[float, float, float]]:
    """Per component (and ``total``): (this, other, this - other); a component missing on one side is 0."""
    names = list(dict.fromkeys([*this, *other]))
    rows = {name: (this.get(name, 0.0), other.get(name, 0.0)) for name in names}
    rows["total"] = (sum(this.values()), sum(other.values()))
    return {name: (a, b, a - b) for name, (a, b) in rows.items()}


# --- how an estimate reads ------------------------------------------------------------------------------


def money(value: float, *, signed: bool = False) -> str:
    return f"{value:+,.2f}" if signed else f"{value:,.2f}"


def estimate_table(result: Estimate) -> Table:
    """Every line under its component, a subtotal per component and the total."""
    prices = result.prices
    table = Table(
        title=f"monthly estimate of {result.stack} ({prices.region}, {prices.currency})",
        caption=f"{prices.source}, taken {prices.taken}; {prices.hours_per_month:g} hours a month",
        show_footer=True,
    )
    table.add_column("component", footer="total")
    table.add_column("item")
    table.add_column("quantity", justify="right")
    table.add_column("unit price", justify="right")
    table.add_column("monthly", justify="right", footer=money(result.total))
    subtotals = result.by_component()
    for component, subtotal in subtotals.items():
        for index, line in enumerate(line for line in result.lines if line.component == component):
            table.add_row(
                component if index == 0 else "",
                escape(line.item),
                f"{line.quantity:,g} {line.unit}",
                f"{line.unit_price:g}",
                money(line.monthly),
            )
        table.add_row(
            "", "[bold]subtotal[/bold]", "", "", f"[bold]{money(subtotal)}[/bold]", end_section=True
        )
    return table


def unpriced_table(result: Estimate) -> Table:
    table = Table(title="unpriced: not in the total")
    for column in ("component", "resource", "type", "reason"):
        table.add_column(column)
    for item in result.unpriced:
        table.add_row(item.component, item.resource, item.type, escape(item.reason))
    return table


def comparison_table(this: Estimate, other: Estimate) -> Table:
    table = Table(title=f"monthly estimate, {this.stack} against {other.stack} ({this.prices.currency})")
    for column in ("component", this.stack, other.stack, "difference"):
        table.add_column(column, justify="left" if column == "component" else "right")
    rows = difference(this.by_component(), other.by_component())
    for component, (mine, theirs, change) in rows.items():
        style = "bold" if component == "total" else ""
        table.add_row(component, money(mine), money(theirs), money(change, signed=True), style=style)
    return table


def report(result: Estimate) -> Group:
    """The estimate as the CLI prints it: the lines, then what is unpriced, then the assumptions used."""
    assumptions = ", ".join(f"{key} {value:g}" for key, value in result.assumptions.items())
    parts: list[Any] = [estimate_table(result)]
    if result.unpriced:
        parts.append(unpriced_table(result))
    else:
        parts.append("Every billable resource is priced.")
    parts.append(f"[dim]usage assumed for {result.stack}: {escape(assumptions)}[/dim]")
    return Group(*parts)
