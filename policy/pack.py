"""The rules as pulumi-policy policies: one ``ResourceValidationPolicy`` per rule of ``policy.rules.RULES``.

The stack-dependent rules get the stack's name from ``pulumi.get_stack()``: the CLI hands a policy pack
the stack in ``PULUMI_STACK`` and pulumi-policy configures the runtime with it before each analysis.
"""

from __future__ import annotations

from collections.abc import Iterable

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from policy.rules import RULES, Rule

PACK_NAME = "platform"
"""The pack's name, as ``pulumi preview`` reports violations (``platform@v1.0.0``)."""


def validation(rule: Rule) -> ResourceValidation:
    """``rule`` as a pulumi-policy validation: each message it returns is reported as one violation."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule.violations(args.resource_type, args.props, pulumi.get_stack()):
            report_violation(message, None)

    return validate


def policies(rules: Iterable[Rule] = RULES) -> list[Policy]:
    """One policy per rule, named after it, at the rule's enforcement level."""
    return [
        ResourceValidationPolicy(
            name=rule.name,
            description=rule.description,
            validate=validation(rule),
            enforcement_level=EnforcementLevel(rule.enforcement.value),
        )
        for rule in rules
    ]
