"""The diagram: built from the recorded resources, so it changes when they do."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from offline.cli import app
from offline.diagram import NODE_GROUPS, Graph, Node, build, dot, mermaid, node_id, subnet_tiers
from offline.runner import Plan
from tests.conftest import stack_plan
from tests.plans import edited, resource

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
AURORA = "aws:rds/cluster:Cluster"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"


def node_of(graph: Graph, plan: Plan, type_token: str) -> str:
    (found,) = plan.of_type(type_token)
    assert node_id(found.name) in graph.node_ids()
    return node_id(found.name)


def edge_labels(graph: Graph, source: str, target: str) -> list[str]:
    return [edge.label for edge in graph.edges if (edge.source, edge.target) == (source, target)]


def group_of(graph: Graph, node: str) -> str | None:
    return next(n.group for n in graph.nodes if n.id == node)


def test_tiers_come_from_routing_and_subnet_groups_and_agree_with_the_network_s_own_tags():
    plan = stack_plan("prod")
    tiers = subnet_tiers(plan)
    tagged = {s.state["id"]: s.inputs["tags"]["Tier"] for s in plan.of_type("aws:ec2/subnet:Subnet")}
    assert tiers == tagged
    assert sorted(set(tiers.values())) == ["database", "endpoints", "private", "public"]


def test_prod_shows_the_vpc_tiers_nat_node_groups_and_data_stores():
    plan = stack_plan("prod")
    graph = build(plan)
    (vpc,) = plan.of_type("aws:ec2/vpc:Vpc")
    labels = {group.id: group.label for group in graph.groups}
    vpc_group = node_id("vpc", vpc.name)
    assert labels[vpc_group] == f"VPC {vpc.inputs['cidrBlock']}"
    for tier in ("public", "private", "database"):
        assert labels[node_id(vpc_group, tier)] == f"{tier} subnets"
    nats = [n for n in graph.nodes if n.label.startswith("NAT gateway")]
    assert len(nats) == len(plan.of_type("aws:ec2/natGateway:NatGateway")) == 3
    assert {n.group for n in nats} == {node_id(vpc_group, "public")}
    groups = [n for n in graph.nodes if n.group == NODE_GROUPS]
    assert sorted(n.id for n in groups) == sorted(node_id(g.name) for g in plan.of_type(NODE_GROUP))
    assert next(g for g in graph.groups if g.id == NODE_GROUPS).parent == node_id(vpc_group, "private")
    for store in (AURORA, REDIS):
        assert group_of(graph, node_of(graph, plan, store)) == node_id(vpc_group, "database")


def test_the_nodes_reach_both_data_stores_on_their_ports_and_nothing_else_does():
    plan = stack_plan("prod")
    graph = build(plan)
    aurora, redis = node_of(graph, plan, AURORA), node_of(graph, plan, REDIS)
    assert edge_labels(graph, NODE_GROUPS, aurora) == ["tcp 5432"]
    assert edge_labels(graph, NODE_GROUPS, redis) == ["tcp 6379"]
    assert {edge.source for edge in graph.edges if edge.target in (aurora, redis)} == {NODE_GROUPS}


def test_an_edge_exists_only_while_its_security_group_rule_does():
    plan = stack_plan("prod")
    (database,) = plan.of_type("platform:index:Database")
    without = edited(plan, drop=lambda r: r.type == INGRESS and r.parent == database.urn)
    graph = build(without)
    aurora, redis = node_of(graph, without, AURORA), node_of(graph, without, REDIS)
    assert edge_labels(graph, NODE_GROUPS, aurora) == []
    assert edge_labels(graph, NODE_GROUPS, redis) == ["tcp 6379"]


def test_with_one_node_group_the_edges_start_at_that_group():
    plan = stack_plan("dev")
    graph = build(plan)
    (group,) = plan.of_type(NODE_GROUP)
    assert edge_labels(graph, node_id(group.name), node_of(graph, plan, AURORA)) == ["tcp 5432"]
    assert edge_labels(graph, node_id(group.name), node_of(graph, plan, REDIS)) == ["tcp 6379"]
    nats = [n for n in graph.nodes if n.label.startswith("NAT gateway")]
    assert len(nats) == 1  # dev's single NAT gateway


def without_mesh(plan: Plan) -> Plan:
    """The plan without the mesh: its component, and Istio's resources of others (tracing's Telemetry)."""
    mesh = plan.component("platform:index:Mesh")
    inside = {r.urn for r in mesh.resources}
    return edited(plan, drop=lambda r: r.urn in inside or ".istio.io/" in r.type)


def test_prod_names_the_mesh_gateway_its_hosts_and_what_it_routes_to():
    plan = stack_plan("prod")
    graph = build(plan)
    (gateway,) = [n for n in graph.nodes if n.label.startswith("Istio ingress gateway")]
    assert gateway.label == f"Istio ingress gateway: {', '.join(plan.config.mesh.gateway_hosts)}"
    assert edge_labels(graph, "internet", gateway.id) == ["HTTPS"]
    assert edge_labels(graph, gateway.id, NODE_GROUPS) == ["1 routed service"]


def test_no_mesh_gateway_is_drawn_while_the_plan_has_none():
    plan = without_mesh(stack_plan("prod"))
    istio = [
        r for r in plan.resources if ".istio.io/" in r.type or r.inputs.get("name", "").startswith("istio")
    ]
    assert not istio
    assert "Istio" not in mermaid(build(plan))


def with_mesh(plan: Plan) -> Plan:
    """The plan with what the mesh component will register: the Istio ingress gateway and routes."""
    gateway_service = resource(
        plan,
        "kubernetes:core/v1:Service",
        "platform-mesh-ingress",
        {"metadata": {"name": "istio-ingressgateway"}},
    )
    gateway = resource(
        plan,
        "kubernetes:networking.istio.io/v1:Gateway",
        "platform-mesh-gateway",
        {"spec": {"servers": [{"hosts": ["api.example.com"]}, {"hosts": ["*.agents.example.com"]}]}},
    )
    routes = [
        resource(
            plan,
            "kubernetes:networking.istio.io/v1:VirtualService",
            f"platform-mesh-routes-{host}",
            {"spec": {"hosts": [host], "http": [{"name": name} for name in names]}},
        )
        for host, names in (
            ("api.example.com", ["agent-runtime", "tool-gateway"]),
            ("b.example.com", ["tool-gateway"]),
        )
    ]
    return edited(without_mesh(plan), add=[gateway_service, gateway, *routes])


def test_the_mesh_gateway_appears_with_its_hosts_when_the_plan_has_one():
    graph = build(with_mesh(stack_plan("prod")))
    (gateway,) = [n for n in graph.nodes if n.label.startswith("Istio ingress gateway")]
    assert gateway.label == "Istio ingress gateway: *.agents.example.com, api.example.com"
    assert edge_labels(graph, "internet", gateway.id) == ["HTTPS"]
    assert edge_labels(graph, gateway.id, NODE_GROUPS) == ["2 routed services"]


def test_a_gateway_service_alone_is_recognised_by_its_istio_name():
    plan = without_mesh(stack_plan("dev"))
    service = resource(
        plan, "kubernetes:core/v1:Service", "gw", {"metadata": {"name": "istio-ingressgateway"}}
    )
    other = resource(plan, "kubernetes:core/v1:Service", "api", {"metadata": {"name": "agent-runtime"}})
    graph = build(edited(plan, add=[service, other]))
    assert [n.label for n in graph.nodes if "Istio" in n.label] == ["Istio ingress gateway"]


# --- the renderings -------------------------------------------------------------------------------------


def mermaid_structure(text: str) -> tuple[set[str], set[str], list[tuple[str, str]]]:
    nodes, groups, edges, depth = set(), set(), [], 0
    for line in text.splitlines()[1:]:
        line = line.strip()
        if line.startswith("subgraph "):
            groups.add(line.split()[1].split("[")[0])
            depth += 1
        elif line == "end":
            depth -= 1
            assert depth >= 0
        elif match := re.fullmatch(r"(\w+) -->(?:\|\"[^\"]*\"\|)? (\w+)", line):
            edges.append((match[1], match[2]))
        else:
            match = re.match(r"(\w+)[\[(]", line)
            assert match, f"not a node, subgraph or edge: {line}"
            nodes.add(match[1])
    assert depth == 0
    return nodes, groups, edges


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_mermaid_is_a_flowchart_whose_edges_join_declared_nodes(stack):
    text = mermaid(build(with_mesh(stack_plan(stack))))
    assert text.startswith("flowchart LR\n")
    nodes, groups, edges = mermaid_structure(text)
    assert edges
    for source, target in edges:
        assert source in nodes | groups and target in nodes | groups


def test_labels_cannot_break_out_of_their_quotes():
    graph = Graph("t")
    graph.nodes.append(Node("a", 'say "hi"'))
    assert 'a["say #quot;hi#quot;"]' in mermaid(graph)
    assert 'a [label="say \\"hi\\""' in dot(graph)


def test_the_dot_draws_edges_to_a_group_at_its_border():
    text = dot(build(stack_plan("prod")))
    assert text.startswith('digraph "platform prod" {') and text.rstrip().endswith("}")
    assert text.count("{") == text.count("}")
    declared = set(re.findall(r"^\s*(\w+) \[label=", text, re.MULTILINE))
    for source, target in re.findall(r"^\s*(\w+) -> (\w+)", text, re.MULTILINE):
        assert {source, target} <= declared
    assert "[ltail=cluster_node_groups, " in text  # the nodes' edges leave the node groups' box


def test_the_command_prints_either_format():
    runner = CliRunner()
    as_mermaid = runner.invoke(app, ["diagram", "--stack", "dev"])
    as_dot = runner.invoke(app, ["diagram", "--stack", "dev", "--format", "dot"])
    assert as_mermaid.exit_code == 0 and as_dot.exit_code == 0, as_mermaid.output + as_dot.output
    assert as_mermaid.output == mermaid(build(stack_plan("dev")))
    assert as_dot.output.startswith("digraph")


def test_prod_mermaid_names_the_vpc_node_groups_data_stores_and_mesh_gateway():
    """What a reviewer sees in the pull-request summary."""
    result = CliRunner().invoke(app, ["diagram", "--stack", "prod"])
    assert result.exit_code == 0, result.output
    plan = stack_plan("prod")
    for name in ("VPC 10.0.0.0/16", "Aurora", "ElastiCache redis", "Istio ingress gateway: api.example.com"):
        assert name in result.output
    for group in ("general", "agentWorkers", "memoryIntensive"):
        assert re.search(rf"\[\"[^\"]*{group}", result.output), group
    _nodes, _groups, edges = mermaid_structure(result.output)
    graph = build(plan)
    for store in (AURORA, REDIS):
        assert (NODE_GROUPS, node_of(graph, plan, store)) in edges


def test_the_velero_bucket_and_the_alarms_topic_are_regional_services_outside_the_vpc():
    plan = stack_plan("prod")
    graph = build(plan)
    bucket = node_of(graph, plan, "aws:s3/bucket:Bucket")
    topic = node_of(graph, plan, "aws:sns/topic:Topic")
    assert group_of(graph, bucket) == group_of(graph, topic) == "regional_services"
    label = next(n.label for n in graph.nodes if n.id == bucket)
    assert "SSE-KMS" in label and "versioned" in label
    assert edge_labels(graph, NODE_GROUPS, bucket) == ["Velero backups, 0 2 * * *"]
    assert "KMS-encrypted): 1 email" in next(n.label for n in graph.nodes if n.id == topic)


def test_each_watched_resource_has_an_edge_to_the_alarms_that_notify_the_topic():
    plan = stack_plan("prod")
    graph = build(plan)
    topic = node_of(graph, plan, "aws:sns/topic:Topic")
    alarms = f"{topic}_alarms"
    assert edge_labels(graph, alarms, topic) == ["ALARM and OK"]
    assert edge_labels(graph, node_of(graph, plan, AURORA), alarms) == ["7 alarms"]
    assert edge_labels(graph, node_of(graph, plan, REDIS), alarms) == ["12 alarms"]
    for nat in plan.of_type("aws:ec2/natGateway:NatGateway"):
        assert edge_labels(graph, node_id(nat.name), alarms) == ["2 alarms"]
    for group in plan.of_type(NODE_GROUP):
        assert edge_labels(graph, node_id(group.name), alarms) == ["1 alarm"]


def test_dev_draws_no_bucket_and_no_topic():
    graph = build(stack_plan("dev"))
    assert not [n for n in graph.nodes if n.group == "regional_services"]
