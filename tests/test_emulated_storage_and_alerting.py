"""The emulated account's S3, SNS and CloudWatch alarms: what AWS refuses there, each on a small program.

Each refusal is AWS's own rule, with the page that states it:

* bucket names: S3 User Guide, "General purpose bucket naming rules";
* lifecycle days: S3 API Reference, ``LifecycleExpiration`` ("Days ... must be a non-zero positive
  integer"; ``ExpiredObjectDeleteMarker`` "cannot be specified with Days or Date"),
  ``NoncurrentVersionExpiration`` and ``AbortIncompleteMultipartUpload`` likewise;
* bucket policies: S3 refuses a statement without a ``Principal`` and a resource outside the bucket
  (``MalformedPolicy``: "Missing required field Principal", "Policy has invalid resource");
* subscriptions: SNS API Reference, ``Subscribe``, ``Endpoint`` per protocol;
* alarms: CloudWatch API Reference, ``PutMetricAlarm`` (``Period`` 10, 20, 30 or a multiple of 60; a
  total evaluation of at most a day below an hour's period, seven days otherwise; at most 5 actions per
  state); and SNS Developer Guide, "Enable compatibility between event sources from AWS services and
  encrypted topics": CloudWatch publishes to an encrypted topic only if the key's policy lets
  ``cloudwatch.amazonaws.com`` use ``kms:GenerateDataKey*`` and ``kms:Decrypt``. AWS accepts such an alarm
  and then drops every notification; the emulated account refuses it, so the preview says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi_aws as aws
import pytest

from components.shared import key_policy
from offline.emulation import ACCOUNT_ID, EmulationError
from offline.runner import RecordedResource, run_under_mocks

REGION = "us-east-1"


def run(program: Callable[[], None]) -> list[RecordedResource]:
    resources, _ = run_under_mocks(program, {}, "dev")
    return resources


def of_type(resources: list[RecordedResource], type_token: str) -> list[RecordedResource]:
    return [r for r in resources if r.type == type_token]


# --- S3 ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Backups",  # uppercase
        "my_backups",  # underscore
        "-backups",  # not alphanumeric at the start
        "backups-",  # nor at the end
        "back..ups",  # adjacent periods
        "192.168.5.4",  # an IP address
        "xn--backups",  # reserved prefixes
        "sthree-backups",
        "amzn-s3-demo-backups",
        "backups-s3alias",  # reserved suffixes
        "backups--ol-s3",
        "backups.mrap",
        "backups--x-s3",
        "backups--table-s3",
        "ab",  # 3 to 63 characters
        "b" * 64,
    ],
)
def test_the_account_refuses_a_bucket_name_s3_does_not_allow(name):
    with pytest.raises(EmulationError, match="InvalidBucketName"):
        run(lambda: aws.s3.Bucket("bucket", bucket=name))


def test_the_account_makes_a_bucket_with_a_valid_name_and_s3_s_arn():
    (bucket,) = run(lambda: aws.s3.Bucket("bucket", bucket="platform-dev-velero-123456789012-us-east-1"))
    assert bucket.state["id"] == "platform-dev-velero-123456789012-us-east-1"
    assert bucket.state["arn"] == "arn:aws:s3:::platform-dev-velero-123456789012-us-east-1"


def _bucket_with_lifecycle(rule: dict[str, Any]) -> None:
    bucket = aws.s3.Bucket("bucket", bucket="lifecycle-test")
    aws.s3.BucketLifecycleConfiguration(
        "lifecycle",
        bucket=bucket.id,
        rules=[{"id": "rule", "status": "Enabled", "filter": {"prefix": ""}, **rule}],  # type: ignore[list-item]
    )


@pytest.mark.parametrize(
    ("rule", "refused"),
    [
        ({"expiration": {"days": 0}}, "InvalidArgument"),
        ({"noncurrent_version_expiration": {"noncurrent_days": 0}}, "InvalidArgument"),
        ({"abort_incomplete_multipart_upload": {"days_after_initiation": 0}}, "InvalidArgument"),
        ({"expiration": {"days": 30, "expired_object_delete_marker": True}}, "MalformedXML"),
    ],
)
def test_the_account_refuses_a_lifecycle_rule_s3_rejects(rule, refused):
    with pytest.raises(EmulationError, match=refused):
        run(lambda: _bucket_with_lifecycle(rule))


def test_the_account_takes_a_lifecycle_with_positive_days():
    rule = {
        "expiration": {"days": 37},
        "noncurrent_version_expiration": {"noncurrent_days": 14},
        "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
    }
    assert of_type(
        run(lambda: _bucket_with_lifecycle(rule)),
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    )


def _bucket_with_policy(statement: dict[str, Any]) -> None:
    bucket = aws.s3.Bucket("bucket", bucket="policy-test")
    aws.s3.BucketPolicy(
        "policy", bucket=bucket.id, policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )


TLS_ONLY = {
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::policy-test", "arn:aws:s3:::policy-test/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


def test_the_account_refuses_a_bucket_policy_on_another_bucket_or_without_a_principal():
    elsewhere = {**TLS_ONLY, "Resource": ["arn:aws:s3:::other-bucket/*"]}
    with pytest.raises(EmulationError, match="MalformedPolicy: Policy has invalid resource"):
        run(lambda: _bucket_with_policy(elsewhere))
    nobody = {key: value for key, value in TLS_ONLY.items() if key != "Principal"}
    with pytest.raises(EmulationError, match="MalformedPolicy: Missing required field Principal"):
        run(lambda: _bucket_with_policy(nobody))
    assert of_type(run(lambda: _bucket_with_policy(TLS_ONLY)), "aws:s3/bucketPolicy:BucketPolicy")


# --- SNS ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "endpoint"),
    [
        ("email", "oncall"),
        ("email-json", "oncall.example.com"),
        ("https", "http://hooks.example.com/alarms"),
        ("sqs", "https://sqs.us-east-1.amazonaws.com/123456789012/alarms"),
        ("lambda", "alarms-handler"),
    ],
)
def test_the_account_refuses_a_subscription_whose_endpoint_is_not_its_protocol_s(protocol, endpoint):
    def program() -> None:
        topic = aws.sns.Topic("topic", name="alarms")
        aws.sns.TopicSubscription("subscriber", topic=topic.arn, protocol=protocol, endpoint=endpoint)

    with pytest.raises(EmulationError, match="InvalidParameter"):
        run(program)


# --- CloudWatch alarms -------------------------------------------------------------------------------------


def _alarm_to_topic(key: dict[str, Any] | str | None, **alarm: Any) -> None:
    """A topic (under a key with this policy, or the given alias, or none) and an alarm notifying it."""
    if isinstance(key, dict):
        kms_key: Any = aws.kms.Key("key", policy=json.dumps(key)).arn
    else:
        kms_key = key
    topic = aws.sns.Topic("topic", name="alarms", kms_master_key_id=kms_key)
    settings: dict[str, Any] = {
        "namespace": "AWS/NATGateway",
        "metric_name": "ErrorPortAllocation",
        "dimensions": {"NatGatewayId": "nat-0123456789abcdef0"},
        "statistic": "Sum",
        "comparison_operator": "GreaterThanThreshold",
        "threshold": 0,
        "period": 60,
        "evaluation_periods": 5,
        "alarm_actions": [topic.arn],
        "ok_actions": [topic.arn],
        **alarm,
    }
    aws.cloudwatch.MetricAlarm("alarm", name="nat-port-allocation", **settings)


def test_an_alarm_may_notify_a_topic_whose_key_lets_cloudwatch_use_it():
    policy = key_policy(ACCOUNT_ID, REGION, services=("sns",), publishers=("cloudwatch",))
    (alarm,) = of_type(run(lambda: _alarm_to_topic(policy)), "aws:cloudwatch/metricAlarm:MetricAlarm")
    assert alarm.state["arn"] == f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:nat-port-allocation"
    assert of_type(run(lambda: _alarm_to_topic(None)), "aws:cloudwatch/metricAlarm:MetricAlarm")


def test_the_account_refuses_an_alarm_notifying_a_topic_whose_key_cloudwatch_may_not_use():
    without_cloudwatch = key_policy(ACCOUNT_ID, REGION, services=("sns",))
    with pytest.raises(EmulationError, match=r"cloudwatch\.amazonaws\.com.*kms:GenerateDataKey\*"):
        run(lambda: _alarm_to_topic(without_cloudwatch))
    # The AWS-managed key of SNS has a policy nobody can change, which names no other service.
    with pytest.raises(EmulationError, match="alias/aws/sns"):
        run(lambda: _alarm_to_topic("alias/aws/sns"))


def test_the_account_refuses_an_alarm_notifying_a_topic_that_does_not_exist():
    missing = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:nobody"
    with pytest.raises(EmulationError, match="does not exist"):
        run(lambda: _alarm_to_topic(None, alarm_actions=[missing]))


@pytest.mark.parametrize(
    ("alarm", "refused"),
    [
        ({"period": 45}, "Period"),
        ({"period": 60, "evaluation_periods": 1441}, "86400"),
        ({"period": 3600, "evaluation_periods": 169}, "604800"),
        ({"evaluation_periods": 3, "datapoints_to_alarm": 4}, "DatapointsToAlarm"),
        ({"alarm_actions": [f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:alarms"] * 6}, "5"),
    ],
)
def test_the_account_refuses_an_alarm_put_metric_alarm_rejects(alarm, refused):
    with pytest.raises(EmulationError, match=refused):
        run(lambda: _alarm_to_topic(None, **alarm))
