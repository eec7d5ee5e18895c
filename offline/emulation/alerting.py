"""Emulated SNS topics, their policies and subscriptions, and CloudWatch metric alarms, in the moto account.

moto 5.2.5 takes any subscription endpoint but an SMS one, and any alarm: its period, its evaluation range,
how many actions it has and where they point. CloudWatch's ``PutMetricAlarm`` refuses the first three; the
last AWS accepts, and then drops every notification CloudWatch cannot publish: to a topic that does not
exist, or one encrypted under a key whose policy does not let ``cloudwatch.amazonaws.com`` use it (SNS
Developer Guide, "Enable compatibility between event sources from AWS services and encrypted topics").
Alarms that would stay silent are refused here, so that a preview says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pulumi

from offline.emulation.core import ACCOUNT_ID, AwsEmulator, Outputs, handles, physical_name, refusal
from offline.emulation.network import key_lets_service_use_it

Args = pulumi.runtime.MockResourceArgs

PUBLISH_KEY_ACTIONS = ("kms:GenerateDataKey*", "kms:Decrypt")
"""What an AWS service publishing to an encrypted topic must be allowed on its key."""
CLOUDWATCH = {"cloudwatch.amazonaws.com"}
AWS_MANAGED_SNS_KEY = "alias/aws/sns"

# --- SNS ---------------------------------------------------------------------------------------------------


@handles("aws:sns/topic:Topic")
def _topic(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    name = a.inputs.get("name") or physical_name(a.inputs.get("namePrefix") or a.name, 256)
    attributes = {
        api: str(a.inputs[key])
        for key, api in (
            ("displayName", "DisplayName"),
            ("kmsMasterKeyId", "KmsMasterKeyId"),
            ("policy", "Policy"),
            ("fifoTopic", "FifoTopic"),
        )
        if a.inputs.get(key) not in (None, "")
    }
    tags = [{"Key": k, "Value": v} for k, v in (a.inputs.get("tags") or {}).items()]
    arn = e.client("sns").create_topic(Name=name, Attributes=attributes, Tags=tags)["TopicArn"]
    # The provider's ID of a topic is its ARN.
    return arn, {"arn": arn, "name": name, "owner": ACCOUNT_ID}


@handles("aws:sns/topicPolicy:TopicPolicy")
def _topic_policy(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    try:
        json.loads(a.inputs["policy"])
    except ValueError:
        raise refusal(a, "InvalidParameter", "Invalid parameter: Policy Error: null") from None
    e.client("sns").set_topic_attributes(
        TopicArn=a.inputs["arn"], AttributeName="Policy", AttributeValue=a.inputs["policy"]
    )
    return a.inputs["arn"], {"owner": ACCOUNT_ID}


_ENDPOINTS = {
    "email": (r"[^@\s]+@[^@\s]+", "Email address"),
    "email-json": (r"[^@\s]+@[^@\s]+", "Email address"),
    "http": (r"http://\S+", "Endpoint must match the specified protocol"),
    "https": (r"https://\S+", "Endpoint must match the specified protocol"),
    "sqs": (r"arn:aws[a-z-]*:sqs:\S+", "SQS endpoint ARN"),
    "lambda": (r"arn:aws[a-z-]*:lambda:\S+", "Lambda endpoint ARN"),
    "firehose": (r"arn:aws[a-z-]*:firehose:\S+", "Firehose endpoint ARN"),
}
"""SNS ``Subscribe``, ``Endpoint``: an email address for email, a URL of the protocol's scheme for http(s),
the ARN of a queue, function or delivery stream for sqs, lambda and firehose."""


@handles("aws:sns/topicSubscription:TopicSubscription")
def _subscription(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    protocol, endpoint = a.inputs["protocol"], a.inputs["endpoint"]
    expected = _ENDPOINTS.get(protocol)
    if expected and not re.fullmatch(expected[0], endpoint):
        raise refusal(
            a, "InvalidParameter", f"Invalid parameter: {expected[1]} ({protocol} endpoint {endpoint!r})"
        )
    arn = e.client("sns").subscribe(TopicArn=a.inputs["topic"], Protocol=protocol, Endpoint=endpoint)[
        "SubscriptionArn"
    ]
    return arn, {
        "arn": arn,
        "ownerId": ACCOUNT_ID,
        # Email subscribers confirm from the mail SNS sends; until then nothing is delivered to them.
        "pendingConfirmation": protocol in ("email", "email-json"),
        "confirmationWasAuthenticated": False,
    }


# --- CloudWatch metric alarms ------------------------------------------------------------------------------


def alarm_problems(inputs: Mapping[str, Any]) -> list[str]:
    """What ``PutMetricAlarm`` refuses that moto takes: a period CloudWatch does not evaluate, an evaluation
    range too long, more datapoints to alarm than periods, more than 5 actions for a state."""
    problems = []
    period, periods = inputs.get("period"), inputs.get("evaluationPeriods") or 0
    if period is not None:
        if period not in (10, 20, 30) and (period <= 0 or period % 60):
            problems.append(f"Period must be 10, 20, 30 or a multiple of 60, got {period}")
        elif period < 3600 and period * periods > 86400:
            problems.append(
                f"Period x EvaluationPeriods must be at most 86400 (a day) for a period under an hour, "
                f"got {period * periods}"
            )
        elif period * periods > 604800:
            problems.append(
                f"Period x EvaluationPeriods must be at most 604800 (seven days), got {period * periods}"
            )
    datapoints = inputs.get("datapointsToAlarm")
    if datapoints is not None and datapoints > periods:
        problems.append(f"DatapointsToAlarm ({datapoints}) must be at most EvaluationPeriods ({periods})")
    for key in ("alarmActions", "okActions", "insufficientDataActions"):
        actions = inputs.get(key) or []
        if len(actions) > 5:
            problems.append(f"{key[0].upper() + key[1:]} holds {len(actions)} actions; at most 5 are allowed")
    return problems


def _key_policy(e: AwsEmulator, key_id: str) -> dict[str, Any] | None:
    """The policy of the key a topic names (an ID, ARN or alias); None for a key the account lacks."""
    kms = e.client("kms")
    try:
        metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    except kms.exceptions.NotFoundException:
        return None
    policy: dict[str, Any] = json.loads(
        kms.get_key_policy(KeyId=metadata["KeyId"], PolicyName="default")["Policy"]
    )
    return policy


def silent_action(e: AwsEmulator, action: str) -> str | None:
    """Why CloudWatch could not publish to the SNS topic ``action``, if it could not."""
    sns = e.client("sns")
    try:
        attributes = sns.get_topic_attributes(TopicArn=action)["Attributes"]
    except sns.exceptions.NotFoundException:
        return f"topic {action} does not exist"
    key = attributes.get("KmsMasterKeyId")
    if not key:
        return None
    if key == AWS_MANAGED_SNS_KEY or key.endswith(f":{AWS_MANAGED_SNS_KEY}"):
        return (
            f"topic {action} is encrypted with {AWS_MANAGED_SNS_KEY}, the AWS-managed key, whose policy "
            "lets no other service use it; encrypt it with a customer-managed key that lets "
            "cloudwatch.amazonaws.com"
        )
    policy = _key_policy(e, key)
    if policy is None:
        return f"topic {action} is encrypted with key {key}, which does not exist"
    if not key_lets_service_use_it(policy, CLOUDWATCH, PUBLISH_KEY_ACTIONS):
        return (
            f"topic {action} is encrypted with key {key}, whose policy does not let cloudwatch.amazonaws.com "
            f"use {' and '.join(PUBLISH_KEY_ACTIONS)}"
        )
    return None


@handles("aws:cloudwatch/metricAlarm:MetricAlarm")
def _metric_alarm(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    inputs = a.inputs
    problems = alarm_problems(inputs)
    if problems:
        raise refusal(a, "ValidationError", "; ".join(problems))
    name = inputs.get("name") or physical_name(a.name, 255)
    actions = [*(inputs.get("alarmActions") or []), *(inputs.get("okActions") or [])]
    for action in dict.fromkeys(actions):
        # A topic's key is set when the topic is made: its verdict holds for every later alarm of the run.
        if action.startswith("arn:aws:sns:") and action not in e.topic_verdicts:
            e.topic_verdicts[action] = silent_action(e, action)
        why = e.topic_verdicts.get(action)
        if why:
            raise refusal(
                a,
                "SilentAlarmAction",
                f"AWS would accept the alarm but drop every notification to it: {why}",
            )
    request: dict[str, Any] = {
        api: inputs[key]
        for key, api in (
            ("alarmDescription", "AlarmDescription"),
            ("actionsEnabled", "ActionsEnabled"),
            ("alarmActions", "AlarmActions"),
            ("okActions", "OKActions"),
            ("insufficientDataActions", "InsufficientDataActions"),
            ("metricName", "MetricName"),
            ("namespace", "Namespace"),
            ("statistic", "Statistic"),
            ("extendedStatistic", "ExtendedStatistic"),
            ("period", "Period"),
            ("unit", "Unit"),
            ("evaluationPeriods", "EvaluationPeriods"),
            ("datapointsToAlarm", "DatapointsToAlarm"),
            ("threshold", "Threshold"),
            ("comparisonOperator", "ComparisonOperator"),
            ("treatMissingData", "TreatMissingData"),
        )
        if inputs.get(key) is not None
    }
    request["Dimensions"] = [{"Name": k, "Value": v} for k, v in (inputs.get("dimensions") or {}).items()]
    request["Tags"] = [{"Key": k, "Value": v} for k, v in (inputs.get("tags") or {}).items()]
    e.client("cloudwatch").put_metric_alarm(AlarmName=name, **request)
    return name, {"name": name, "arn": e.arn("cloudwatch", f"alarm:{name}")}
