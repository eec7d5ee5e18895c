"""KMS keys and the log groups they encrypt: explicit policies, and the logs key CloudWatch Logs may use."""

from __future__ import annotations

import json

import pulumi_aws as aws
import pytest

from components.shared import KEY_ADMINISTRATION, KEY_USE, key_policy
from offline.emulation import ACCOUNT_ID, EmulationError
from offline.runner import run_under_mocks
from tests.conftest import stack_plan
from tests.plans import stack_names

KMS_KEY = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


@pytest.mark.parametrize("stack", stack_names())
def test_every_key_has_an_explicit_policy_the_account_administers_and_services_use(stack):
    plan = stack_plan(stack)
    keys = plan.of_type(KMS_KEY)
    assert keys
    for key in keys:
        statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
        administration = statements["AccountAdministersTheKey"]
        assert administration["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}
        assert not set(administration["Action"]) & set(KEY_USE), f"{key.name}: administering is not using"
        # Data keys are used only through the AWS services named, or (the logs key) by CloudWatch Logs.
        use = [s for sid, s in statements.items() if sid != "AccountAdministersTheKey"]
        assert use, f"{key.name} is used by nobody"
        for statement in use:
            equals = statement.get("Condition", {}).get("StringEquals", {})
            through = equals.get("kms:ViaService")
            logs = statement["Principal"].get("Service") == f"logs.{plan.config.region}.amazonaws.com"
            # An AWS service publishing to a topic under the key, on this account's behalf only.
            publishing = "Service" in statement["Principal"] and equals.get("aws:SourceAccount") == ACCOUNT_ID
            assert through or logs or publishing, (
                f"{key.name}: {statement['Sid']} is not limited to a service"
            )


@pytest.mark.parametrize("stack", stack_names())
def test_every_log_group_is_encrypted_with_the_stack_s_logs_key(stack):
    plan = stack_plan(stack)
    logs_key = plan.one(KMS_KEY, "platform-logs")
    groups = plan.of_type(LOG_GROUP)
    assert groups
    assert {group.name: group.inputs.get("kmsKeyId") for group in groups} == {
        group.name: logs_key.state["arn"] for group in groups
    }
    (logs,) = [s for s in json.loads(logs_key.inputs["policy"])["Statement"] if "Service" in s["Principal"]]
    log_groups = f"arn:aws:logs:{plan.config.region}:{ACCOUNT_ID}:log-group:*"
    assert logs["Condition"] == {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}}


def _log_group_under(policy: dict) -> None:
    key = aws.kms.Key("key", policy=json.dumps(policy))
    aws.cloudwatch.LogGroup("logs", name="/platform/test", kms_key_id=key.arn)


def test_the_account_refuses_a_log_group_whose_key_cloudwatch_logs_may_not_use():
    without_logs = key_policy(ACCOUNT_ID, "us-east-1", services=("rds",))
    with pytest.raises(
        EmulationError, match="AccessDeniedException: The specified KMS key does not exist or is"
    ):
        run_under_mocks(lambda: _log_group_under(without_logs), {}, "dev")
    with_logs = key_policy(ACCOUNT_ID, "us-east-1", log_groups=True)
    resources, _ = run_under_mocks(lambda: _log_group_under(with_logs), {}, "dev")
    assert any(r.type == LOG_GROUP for r in resources)


def test_administration_leaves_using_the_key_to_the_services():
    policy = key_policy(ACCOUNT_ID, "eu-west-1", services=("rds", "secretsmanager"))
    administration, use = policy["Statement"]
    assert administration["Action"] == list(KEY_ADMINISTRATION)
    assert use["Condition"]["StringEquals"]["kms:ViaService"] == [
        "rds.eu-west-1.amazonaws.com",
        "secretsmanager.eu-west-1.amazonaws.com",
    ]
    assert "kms:Decrypt" in use["Action"]


def test_a_topic_s_key_lets_the_publishing_services_use_it_for_this_account_only():
    policy = key_policy(ACCOUNT_ID, "us-east-1", services=("sns",), publishers=("cloudwatch",))
    (publishing,) = [s for s in policy["Statement"] if s["Sid"] == "ServicesPublishToTopicsItEncrypts"]
    assert publishing["Principal"] == {"Service": ["cloudwatch.amazonaws.com"]}
    assert publishing["Action"] == ["kms:GenerateDataKey*", "kms:Decrypt"]
    assert publishing["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    assert not [s for s in key_policy(ACCOUNT_ID, "us-east-1")["Statement"] if "Service" in s["Principal"]]
