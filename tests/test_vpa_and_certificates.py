"""The vertical pod autoscaler's chart, and cert-manager issuing the gateway's certificate."""

from __future__ import annotations

import json

import pytest

from components.addons.cert_manager import dns01_policy
from components.addons.vpa import VpaArgs, vpa_values
from offline.cost import estimate
from offline.manifests import objects, validate
from offline.runner import Plan
from tests.conftest import stack_plan, with_deploy
from tests.plans import run_with
from tests.test_config import problems

RELEASE = "kubernetes:helm.sh/v3:Release"
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}

# --- the vertical pod autoscaler -------------------------------------------------------------------------


def vpa_release(stack: str) -> dict:
    return stack_plan(stack).component("platform:index:Vpa").one(RELEASE).inputs


def test_the_pinned_chart_runs_every_component_twice_with_budgets_in_prod():
    release = vpa_release("prod")
    assert (release["chart"], release["version"]) == ("vertical-pod-autoscaler", "0.11.0")
    assert release["repositoryOpts"]["repo"] == "https://kubernetes.github.io/autoscaler"
    assert release["namespace"] == "vpa"
    values = release["values"]
    for component in ("recommender", "updater", "admissionController"):
        assert values[component]["enabled"] is True
        assert values[component]["replicas"] >= 2
        assert values[component]["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}
        assert values[component]["nodeSelector"] == {"role": "general-compute"}


def test_every_vpa_pod_meets_pod_security_restricted():
    values = vpa_release("prod")["values"]
    assert values["podSecurityContext"]["runAsNonRoot"] is True
    assert values["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert values["containerSecurityContext"] == RESTRICTED_CONTAINER
    # The certificate hook Jobs: the chart gives their containers only a read-only root filesystem.
    assert values["admissionController"]["certGen"]["securityContext"] == RESTRICTED_CONTAINER
    namespace = stack_plan("prod").component("platform:index:Vpa").one("kubernetes:core/v1:Namespace")
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_recommender_always_runs_and_the_updater_as_config_says():
    values = vpa_values(VpaArgs(replicas=1, updater=False, admission_controller=False))
    assert values["recommender"]["enabled"] is True
    assert values["updater"]["enabled"] is False and values["admissionController"]["enabled"] is False
    # One pod: no budget, which would block every drain.
    assert values["recommender"]["podDisruptionBudget"]["enabled"] is False


def test_config_refuses_an_updater_without_the_admission_controller():
    found = problems(
        with_deploy({"platform:addons": {"vpa": {"updater": True, "admissionController": False}}})
    )
    assert "the updater evicts pods" in found["platform:addons.vpa.admissionController"]
    with pytest.raises(ValueError, match="the updater needs the admission controller"):
        VpaArgs(updater=True, admission_controller=False)


def test_dev_has_no_vpa():
    assert not stack_plan("dev").of_type("platform:index:Vpa")


# --- cert-manager ----------------------------------------------------------------------------------------

ZONE = "Z0123456789ABCDEFGHIJ"
CERT_MANAGER = {"enabled": True, "hostedZoneId": ZONE, "acmeEmail": "platform@example.com"}


@pytest.fixture(scope="module")
def issuing() -> Plan:
    return run_with("prod", "addons", certManager=CERT_MANAGER).component("platform:index:CertManager")


def test_cert_manager_is_off_by_default_and_the_gateway_reads_the_secret_made_by_hand():
    for stack in ("dev", "staging", "prod"):
        plan = stack_plan(stack)
        assert not plan.of_type("platform:index:CertManager")
        assert not [r for r in plan.resources if r.type.startswith("kubernetes:cert-manager.io/")]


@pytest.mark.slow
def test_the_pinned_chart_installs_its_crds_and_runs_highly_available(issuing):
    release = issuing.one(RELEASE).inputs
    assert (release["chart"], release["version"]) == ("cert-manager", "v1.21.1")
    assert release["namespace"] == "cert-manager"
    values = release["values"]
    assert values["crds"] == {"enabled": True}
    for component in (values, values["webhook"], values["cainjector"]):
        assert component["replicaCount"] >= 2
        assert component["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}
        assert component["nodeSelector"] == {"role": "general-compute"}
    # The schema is closed: these are the only keys set, each declared in v1.21.1's values.schema.json.
    assert set(values) == {
        "crds",
        "replicaCount",
        "podDisruptionBudget",
        "nodeSelector",
        "webhook",
        "cainjector",
        "startupapicheck",
    }


@pytest.mark.slow
def test_the_dns01_role_may_only_answer_challenges_in_the_configured_zone(issuing):
    association = issuing.one("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (
        "cert-manager",
        "cert-manager",
    )
    role = issuing.one("aws:iam/role:Role")
    assert association.inputs["roleArn"] == role.state["arn"]
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "pods.eks.amazonaws.com"
    }
    policy = json.loads(issuing.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    assert policy == dns01_policy(ZONE)
    by_action = {statement["Action"]: statement for statement in policy["Statement"]}
    assert set(by_action) == {
        "route53:ChangeResourceRecordSets",
        "route53:GetChange",
        "route53:ListHostedZonesByName",
    }
    change = by_action["route53:ChangeResourceRecordSets"]
    assert change["Resource"] == f"arn:aws:route53:::hostedzone/{ZONE}"
    assert change["Condition"]["ForAllValues:StringEquals"] == {
        "route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]
    }
    # The release's pods start only once the association exists (Pod Identity injects at pod start).
    assert association.urn in issuing.one(RELEASE).dependencies


@pytest.mark.slow
def test_an_acme_issuer_writes_the_gateway_s_certificate_into_the_secret_it_reads(issuing):
    issuer = issuing.one("kubernetes:cert-manager.io/v1:ClusterIssuer")
    acme = issuer.inputs["spec"]["acme"]
    assert acme["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert acme["email"] == "platform@example.com"
    assert acme["solvers"] == [{"dns01": {"route53": {"hostedZoneID": ZONE}}}]
    certificate = issuing.one("kubernetes:cert-manager.io/v1:Certificate")
    mesh = stack_plan("prod").config.mesh
    assert certificate.inputs["metadata"]["namespace"] == "istio-system"
    spec = certificate.inputs["spec"]
    assert spec["secretName"] == mesh.tls_secret_name
    assert spec["dnsNames"] == mesh.gateway_hosts
    assert spec["issuerRef"] == {
        "name": issuer.inputs["metadata"]["name"],
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }
    assert issuing.one(RELEASE).urn in issuer.dependencies and issuer.urn in certificate.dependencies


@pytest.mark.parametrize(
    ("settings", "path", "message"),
    [
        (
            {"enabled": True, "acmeEmail": "a@example.com"},
            "platform:addons.certManager.hostedZoneId",
            "is required",
        ),
        ({"enabled": True, "hostedZoneId": ZONE}, "platform:addons.certManager.acmeEmail", "is required"),
        (
            {**CERT_MANAGER, "hostedZoneId": "zone-1"},
            "platform:addons.certManager.hostedZoneId",
            "hosted zone ID",
        ),
    ],
)
def test_config_needs_the_zone_and_a_contact(settings, path, message):
    assert message in problems(with_deploy({"platform:addons": {"certManager": settings}}))[path]


def test_config_needs_gateway_hosts_to_certify():
    found = problems(with_deploy({"platform:addons": {"certManager": CERT_MANAGER}}))
    assert "list them first" in found["platform:addons.certManager.enabled"]


@pytest.mark.slow
def test_the_admission_and_delivery_add_ons_cost_nothing_on_the_aws_bill():
    # Their pods run on the general nodes already priced; cert-manager's role and association are free.
    base = stack_plan("prod")
    assert base.config.addons.gatekeeper.enabled and base.config.addons.rollouts.enabled
    with_all = run_with("prod", "addons", certManager=CERT_MANAGER)
    dev = stack_plan("dev")
    without = run_with("dev", "addons", gatekeeper={"enabled": False})
    for plan in (base, with_all, dev, without):
        assert estimate(plan).unpriced == []
    assert estimate(with_all).total == pytest.approx(estimate(base).total)
    assert estimate(dev).total == pytest.approx(estimate(without).total)


@pytest.mark.slow
def test_the_issuer_and_certificate_match_cert_manager_s_crds():
    plan = run_with("prod", "addons", certManager=CERT_MANAGER)
    manifests = objects(plan)
    assert validate(manifests, "1.34").problems == ()
    (certificate,) = [m for m in manifests if m["kind"] == "Certificate"]
    certificate["spec"]["privateKey"]["rotation"] = "Always"
    (problem,) = validate([certificate], "1.34").problems
    assert "'rotation' was unexpected" in problem and "cert-manager.io_Certificate.json" in problem
