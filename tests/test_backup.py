"""AWS Backup of the database: the vault under its own key, the daily plan, the Aurora cluster selected."""

from __future__ import annotations

import json

import pulumi_aws as aws
import pytest

from components.backup import BACKUP_POLICIES
from offline.emulation import EmulationError
from offline.runner import Plan, run_under_mocks
from tests.conftest import stack_plan
from tests.plans import run_with

BACKUP = "platform:index:Backup"
VAULT = "aws:backup/vault:Vault"
PLAN = "aws:backup/plan:Plan"
SELECTION = "aws:backup/selection:Selection"


def backup_part(plan: Plan) -> Plan:
    return plan.component(BACKUP)


def test_prod_backs_up_aurora_daily_into_a_vault_under_its_own_key():
    prod = stack_plan("prod")
    part = backup_part(prod)
    vault = part.one(VAULT)
    key = part.one("aws:kms/key:Key")
    assert vault.inputs["kmsKeyArn"] == key.state["arn"]
    assert key.state["arn"] not in {k.state["arn"] for k in prod.of_type("aws:kms/key:Key") if k is not key}
    assert json.loads(key.inputs["policy"])["Statement"][1]["Condition"]["StringEquals"][
        "kms:ViaService"
    ] == [f"backup.{prod.config.region}.amazonaws.com"]
    (rule,) = part.one(PLAN).inputs["rules"]
    assert rule["targetVaultName"] == vault.state["name"]
    assert rule["schedule"] == prod.config.backup.schedule == "cron(0 5 ? * * *)"
    assert rule["lifecycle"]["deleteAfter"] == prod.config.backup.retention_days >= 30
    assert vault.protect and key.protect


def test_the_selection_names_the_aurora_cluster_with_a_role_backup_may_assume():
    prod = stack_plan("prod")
    part = backup_part(prod)
    selection = part.one(SELECTION)
    assert selection.inputs["resources"] == [prod.one("aws:rds/cluster:Cluster").state["arn"]]
    assert selection.inputs["planId"] == part.one(PLAN).state["id"]
    role = part.one("aws:iam/role:Role")
    assert selection.inputs["iamRoleArn"] == role.state["arn"]
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "backup.amazonaws.com"}
    attached = {
        a.inputs["policyArn"] for a in part.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    }
    assert attached == set(BACKUP_POLICIES)
    assert all(
        a.urn in selection.dependencies
        for a in part.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    )


@pytest.mark.slow
def test_a_copy_region_gets_a_vault_of_its_own_and_each_recovery_point_a_copy():
    part = backup_part(run_with("prod", "backup", copyToRegion="us-west-2"))
    vaults = {v.name: v for v in part.of_type(VAULT)}
    copy = vaults["platform-backup-copy"]
    assert ":us-west-2:" in copy.state["arn"]
    copy_key = part.one("aws:kms/key:Key", "platform-backup-copy-kms")
    assert ":us-west-2:" in copy_key.state["arn"] and copy.inputs["kmsKeyArn"] == copy_key.state["arn"]
    (rule,) = part.one(PLAN).inputs["rules"]
    assert rule["copyActions"] == [
        {
            "destinationVaultArn": copy.state["arn"],
            "lifecycle": {"deleteAfter": rule["lifecycle"]["deleteAfter"]},
        }
    ]


def test_the_account_refuses_a_selection_of_a_database_that_does_not_exist():
    def program() -> None:
        vault = aws.backup.Vault("vault", name="v")
        plan = aws.backup.Plan(
            "plan",
            name="p",
            rules=[{"rule_name": "daily", "target_vault_name": vault.name, "schedule": "cron(0 5 ? * * *)"}],
        )
        role = aws.iam.Role("role", assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": []}))
        aws.backup.Selection(
            "selection",
            name="s",
            plan_id=plan.id,
            iam_role_arn=role.arn,
            resources=["arn:aws:rds:us-east-1:123456789012:cluster:nowhere"],
        )

    with pytest.raises(EmulationError, match="DBClusterNotFound"):
        run_under_mocks(program, {}, "dev")


def test_the_account_refuses_a_plan_into_a_vault_that_does_not_exist():
    def program() -> None:
        aws.backup.Plan(
            "plan",
            name="p",
            rules=[{"rule_name": "daily", "target_vault_name": "nowhere", "schedule": "cron(0 5 ? * * *)"}],
        )

    with pytest.raises(EmulationError, match="Backup vault nowhere does not exist"):
        run_under_mocks(program, {}, "dev")
