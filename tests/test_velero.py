"""Velero: its bucket (SSE-KMS, versioned, private, TLS-only, expiring), its role (that bucket and Velero's
own EBS snapshots), its chart under Pod Security restricted without cluster-admin, and the daily Schedule."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from components.addons.charts import CHARTS
from components.addons.velero import (
    CLUSTER_ROLE,
    EXCLUDED_RESOURCES,
    cluster_role_rules,
    expiry_days,
    lifecycle_rules,
    velero_policy,
)
from components.config import parse_stack_config
from offline.emulation import ACCOUNT_ID
from offline.manifests import objects, validate
from offline.runner import Plan, RecordedResource
from tests.conftest import refused_config, stack_plan, with_deploy
from tests.plans import dev_with_its_addons_on

RELEASE = "kubernetes:helm.sh/v3:Release"
SCHEDULE = "kubernetes:velero.io/v1:Schedule"
BUCKET = "aws:s3/bucket:Bucket"
NAME = "platform-addons-velero"

CHART_KEYS = {
    "initContainers",
    "podSecurityContext",
    "containerSecurityContext",
    "resources",
    "upgradeJobResources",
    "nodeSelector",
    "credentials",
    "credentials.useSecret",
    "serviceAccount",
    "serviceAccount.server",
    "serviceAccount.server.create",
    "serviceAccount.server.name",
    "rbac",
    "rbac.create",
    "rbac.clusterAdministrator",
    "rbac.clusterAdministratorName",
    "configuration",
    "configuration.backupStorageLocation",
    "configuration.volumeSnapshotLocation",
    "configuration.defaultBackupTTL",
    "configuration.logFormat",
    "backupsEnabled",
    "snapshotsEnabled",
    "deployNodeAgent",
}
"""Keys of the chart's values.yaml at velero-12.1.0 (vmware-tanzu/helm-charts 73466ca9, charts/velero) the
program sets; below them, the chart takes free-form objects (contexts, resources, containers, locations)."""
FREE_FORM = {
    "initContainers",
    "podSecurityContext",
    "containerSecurityContext",
    "resources",
    "upgradeJobResources",
    "nodeSelector",
    "configuration.backupStorageLocation",
    "configuration.volumeSnapshotLocation",
}
LOCATION_KEYS = {
    "backupStorageLocation": {
        "name",
        "provider",
        "bucket",
        "caCert",
        "prefix",
        "default",
        "validationFrequency",
        "backupSyncPeriod",
        "accessMode",
        "credential",
        "config",
        "annotations",
    },
    "volumeSnapshotLocation": {"name", "provider", "credential", "config", "annotations"},
}
"""Keys of each location item in values.yaml at the same tag."""


def prod() -> Plan:
    return stack_plan("prod")


def release(plan: Plan) -> RecordedResource:
    (found,) = [r for r in plan.of_type(RELEASE) if r.inputs.get("chart") == "velero"]
    return found


def values() -> dict[str, Any]:
    return release(prod()).inputs["values"]


def named(plan: Plan, type_token: str) -> RecordedResource:
    return plan.one(type_token, f"{NAME}-bucket")


def key_paths(value: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, item in value.items():
        path = f"{prefix}{key}"
        paths.add(path)
        if isinstance(item, dict) and path not in FREE_FORM:
            paths |= key_paths(item, f"{path}.")
    return paths


# --- the chart ---------------------------------------------------------------------------------------------


def test_the_release_is_the_pinned_chart_atomic_in_its_own_namespace():
    inputs = release(prod()).inputs
    chart = CHARTS["velero"]
    assert (inputs["chart"], inputs["version"], inputs["repositoryOpts"]["repo"]) == (
        chart.chart,
        "12.1.0",
        chart.repository,
    )
    assert inputs["namespace"] == "velero" and inputs["atomic"] is True


def test_every_value_set_is_a_key_of_the_chart_at_its_pin():
    assert key_paths(values()) <= CHART_KEYS, sorted(key_paths(values()) - CHART_KEYS)
    for location, keys in LOCATION_KEYS.items():
        for item in values()["configuration"][location]:
            assert set(item) <= keys, location


def test_backups_go_to_the_bucket_and_volumes_to_ebs_snapshots_in_the_stack_s_region():
    configuration = values()["configuration"]
    bucket = named(prod(), BUCKET).state["bucket"]
    assert bucket == f"platform-prod-velero-{ACCOUNT_ID}-us-east-1"
    assert configuration["backupStorageLocation"] == [
        {
            "name": "default",
            "provider": "aws",
            "bucket": bucket,
            "default": True,
            "config": {"region": "us-east-1"},
        }
    ]
    assert configuration["volumeSnapshotLocation"] == [
        {"name": "default", "provider": "aws", "config": {"region": "us-east-1"}}
    ]
    assert values()["snapshotsEnabled"] is True and values()["deployNodeAgent"] is False


def test_the_server_fits_pod_security_restricted_with_a_numeric_user():
    pod, container = values()["podSecurityContext"], values()["containerSecurityContext"]
    assert pod["runAsNonRoot"] is True and isinstance(pod["runAsUser"], int) and pod["runAsUser"] > 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    (plugin,) = values()["initContainers"]
    assert plugin["image"] == "docker.io/velero/velero-plugin-for-aws:v1.14.2"
    assert plugin["volumeMounts"] == [{"mountPath": "/target", "name": "plugins"}]
    for context in (container, plugin["securityContext"]):
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["readOnlyRootFilesystem"] is True
    assert values()["nodeSelector"] == {"role": "general-compute"}
    namespace = prod().one("kubernetes:core/v1:Namespace", f"{NAME}-namespace")
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_no_secret_holds_credentials_the_service_account_gets_its_role_by_pod_identity():
    plan = prod()
    assert values()["credentials"] == {"useSecret": False}
    association = plan.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", f"{NAME}-server")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == ("velero", "velero")
    role = plan.one("aws:iam/role:Role", f"{NAME}-server")
    assert association.inputs["roleArn"] == role.state["arn"]
    assert association.urn in release(plan).dependencies


def test_the_server_is_bound_to_a_role_short_of_cluster_admin():
    rbac = values()["rbac"]
    assert rbac["clusterAdministratorName"] == CLUSTER_ROLE != "cluster-admin"
    role = prod().one("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", f"{NAME}-cluster-role")
    assert role.inputs["metadata"]["name"] == CLUSTER_ROLE
    for rule in role.inputs["rules"]:
        if rule["apiGroups"] != ["velero.io"]:
            assert not {"*", "delete", "deletecollection", "impersonate"} & set(rule["verbs"]), rule
    assert role.inputs["rules"] == cluster_role_rules()


# --- the Schedule ------------------------------------------------------------------------------------------


def test_the_daily_schedule_is_the_design_s():
    schedule = prod().one(SCHEDULE)
    spec = schedule.inputs["spec"]
    assert spec["schedule"] == "0 2 * * *"
    template = spec["template"]
    assert template["ttl"] == "720h"
    assert template["includedNamespaces"] == ["agents", "monitoring"]
    assert template["excludedResources"] == list(EXCLUDED_RESOURCES) == ["events", "events.events.k8s.io"]
    assert template["storageLocation"] == "default" and template["snapshotVolumes"] is True
    assert schedule.inputs["metadata"]["namespace"] == "velero"
    # The chart installs the CRD it is an object of.
    assert release(prod()).urn in schedule.dependencies


def test_the_json_preview_lists_the_release_the_bucket_and_the_schedule(prod_json_resources):
    by_type = {r["type"] for r in prod_json_resources}
    assert {RELEASE, SCHEDULE, BUCKET} <= by_type


@pytest.fixture
def prod_json_resources() -> list[dict[str, Any]]:
    from tests.conftest import preview_json

    return preview_json("prod")["resources"]


# --- the bucket ------------------------------------------------------------------------------------------


def test_the_bucket_is_encrypted_with_its_own_key_versioned_and_private():
    plan = prod()
    key = plan.one("aws:kms/key:Key", f"{NAME}-kms")
    (rule,) = named(
        plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": key.state["arn"],
    }
    assert rule["bucketKeyEnabled"] is True
    versioning = named(plan, "aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"]
    assert versioning == {"status": "Enabled"}
    block = named(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        block[k] is True
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    ownership = named(plan, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs["rule"]
    assert ownership == {"objectOwnership": "BucketOwnerEnforced"}
    bucket = named(plan, BUCKET)
    assert bucket.protect and key.protect and bucket.inputs["forceDestroy"] is False


def test_the_bucket_refuses_requests_not_over_tls_1_2():
    plan = prod()
    arn = named(plan, BUCKET).state["arn"]
    statements = {
        s["Sid"]: s
        for s in json.loads(named(plan, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])["Statement"]
    }
    insecure = statements["DenyInsecureTransport"]
    assert (insecure["Effect"], insecure["Principal"], insecure["Action"]) == ("Deny", "*", "s3:*")
    assert insecure["Resource"] == [arn, f"{arn}/*"]
    assert insecure["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statements["DenyOutdatedTls"]["Condition"] == {"NumericLessThan": {"s3:TlsVersion": "1.2"}}


def test_the_lifecycle_expires_backups_past_their_ttl_and_old_versions():
    rules = {
        r["id"]: r
        for r in named(prod(), "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs[
            "rules"
        ]
    }
    expire = rules["expire-backups-past-their-ttl"]
    assert expire["expiration"] == {"days": 30 + 7}
    assert expire["noncurrentVersionExpiration"] == {"noncurrentDays": 14}
    assert expire["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    assert rules["remove-orphaned-delete-markers"]["expiration"] == {"expiredObjectDeleteMarker": True}


@pytest.mark.parametrize(("ttl_hours", "days"), [(720, 37), (721, 38), (24, 8), (1, 8)])
def test_objects_expire_the_ttl_in_whole_days_plus_the_margin_after(ttl_hours, days):
    assert expiry_days(ttl_hours, 7) == days
    assert lifecycle_rules(ttl_hours, 7, 14)[0]["expiration"] == {"days": days}


# --- the role ----------------------------------------------------------------------------------------------


def listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def test_the_role_reaches_its_bucket_and_key_only():
    policy = velero_policy("arn:aws:s3:::b", "arn:aws:kms:us-east-1:1:key/k", "us-east-1", ACCOUNT_ID)
    statements = policy["Statement"]
    s3 = [s for s in statements if any(action.startswith("s3:") for action in listed(s["Action"]))]
    assert {resource for s in s3 for resource in listed(s["Resource"])} == {
        "arn:aws:s3:::b",
        "arn:aws:s3:::b/*",
    }
    assert not [s for s in statements if {"s3:*", "*"} & set(listed(s["Action"]))]
    (kms,) = [s for s in statements if any(action.startswith("kms:") for action in listed(s["Action"]))]
    assert kms["Resource"] == "arn:aws:kms:us-east-1:1:key/k"
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}


def test_the_role_deletes_and_creates_only_snapshots_velero_tags():
    statements = {
        s["Sid"]: s for s in velero_policy("arn:aws:s3:::b", "k", "us-east-1", ACCOUNT_ID)["Statement"]
    }
    assert statements["DeleteVelerosSnapshots"]["Condition"] == {
        "Null": {"aws:ResourceTag/velero.io/backup": "false"}
    }
    assert statements["SnapshotsTaggedByVelero"]["Condition"] == {
        "Null": {"aws:RequestTag/velero.io/backup": "false"}
    }
    assert statements["TagOnlyWhatItCreates"]["Condition"] == {
        "StringEquals": {"ec2:CreateAction": ["CreateSnapshot", "CreateVolume"]}
    }
    unconditioned = [sid for sid, s in statements.items() if s["Resource"] == "*"]
    assert unconditioned == ["DescribeVolumesAndSnapshots"]


def test_the_plan_s_role_policy_names_the_plan_s_bucket_and_key():
    plan = prod()
    policy = json.loads(plan.one("aws:iam/rolePolicy:RolePolicy", f"{NAME}-server").inputs["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["ListTheBucket"]["Resource"] == named(plan, BUCKET).state["arn"]
    assert (
        statements["UseTheBucketsKeyThroughS3"]["Resource"]
        == plan.one("aws:kms/key:Key", f"{NAME}-kms").state["arn"]
    )


# --- config ------------------------------------------------------------------------------------------------


def problems(velero: dict[str, Any], stack: str = "prod", **sections: object) -> list[str]:
    return [
        str(issue) for issue in refused_config({"platform:addons": {"velero": velero}, **sections}, stack)
    ]


@pytest.mark.parametrize(
    ("velero", "expected"),
    [
        ({"enabled": False}, "platform:addons.velero.enabled: prod's cluster state is backed up by Velero"),
        ({"ttl": "168h"}, "platform:addons.velero.ttl: prod keeps backups at least 720h (30 days), got 168h"),
        (
            {"bucket": {"forceDestroy": True}},
            "platform:addons.velero.bucket.forceDestroy: prod never deletes",
        ),
        ({"ttl": "30d"}, "platform:addons.velero.ttl: must be a whole number of hours"),
        ({"schedule": "daily"}, "platform:addons.velero.schedule: must be a five-field cron expression"),
        ({"bucket": {"name": "My_Backups"}}, "platform:addons.velero.bucket.name: must be an S3 bucket name"),
    ],
)
def test_velero_config_mistakes_are_refused_at_their_key(velero, expected):
    (issue,) = problems(velero)
    assert issue.startswith(expected), issue


def test_a_stack_with_nothing_to_back_up_is_refused_rather_than_backing_up_everything():
    (issue,) = problems(
        {},
        stack="staging",
        **{"platform:addons": {"monitoring": {"enabled": False}, "rollouts": {"enabled": False}}},
    )
    assert issue.startswith("platform:addons.velero.extraNamespaces: no namespace to back up")


def test_a_cluster_name_too_long_for_the_default_bucket_name_asks_for_one():
    cluster = {"platform:cluster": {"name": "a" * 35}}
    (issue,) = problems({}, stack="staging", **cluster)
    assert (
        issue.startswith("platform:addons.velero.bucket.name: the default name") and "65 characters" in issue
    )
    config = with_deploy({"platform:addons": {"velero": {"bucket": {"name": "team-backups"}}}, **cluster})
    assert parse_stack_config(config, stack="staging").addons.velero.bucket.name == "team-backups"


@pytest.mark.slow
def test_dev_turns_alarms_and_velero_off_and_its_plan_shrinks_accordingly():
    dev = stack_plan("dev")
    assert not dev.of_type(BUCKET) and not dev.of_type(SCHEDULE)
    on = dev_with_its_addons_on()
    added = {r.type for r in on.resources} - {r.type for r in dev.resources}
    assert {BUCKET, SCHEDULE, "aws:cloudwatch/metricAlarm:MetricAlarm", "aws:sns/topic:Topic"} <= added
    assert len(on.resources) > len(dev.resources)


def test_the_schedule_is_checked_against_velero_s_crd_and_a_misspelt_ttl_is_caught():
    """The API server would prune ``tll`` silently, and the backups would never expire."""
    plan = prod()
    assert validate(objects(plan), "1.34").problems == ()
    broken = copy.deepcopy(objects(plan))
    (schedule,) = [m for m in broken if m["kind"] == "Schedule"]
    schedule["spec"]["template"]["tll"] = schedule["spec"]["template"].pop("ttl")
    (problem,) = validate(broken, "1.34").problems
    assert problem.startswith("Schedule velero/daily: ") and "'tll'" in problem
