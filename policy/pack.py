"""The rules as pulumi-policy policies: a ``ResourceValidationPolicy`` per resource rule of
``policy.rules.RULES`` and a ``StackValidationPolicy`` per stack rule.

The stack-dependent rules get the stack's name from ``pulumi.get_stack()``: the CLI hands a policy pack
the stack in ``PULUMI_STACK`` and pulumi-policy configures the runtime with it before each analysis.

What the two kinds of policy receive (pulumi 3 engine, pulumi-policy 1.21.0):

- A resource validation runs before each resource's step (the engine's ``Analyze``) and its
  ``args.props`` are the resource's *inputs*, wrapped in pulumi-policy's unknown-checking proxy:
  reading a value the preview cannot know raises ``UnknownValueError``, and pulumi-policy then skips
  that policy for that resource with an advisory note.
- A stack validation runs once, after every step of the preview or update (``AnalyzeStack``), and each
  ``PolicyResource.props`` holds the resource's *outputs* (the engine's ``v.Outputs``): for an AWS
  resource its inputs again plus what the provider computes (``id``, ``arn``, EKS's cluster security
  group); in a preview, for a resource still to be created or replaced, the computed ones are unknown.
  Secrets come in the clear in both. The same proxy wraps the props, and an ``UnknownValueError`` skips the
  stack policy as a whole, so :func:`stack_resource` reads the props without it, putting
  ``policy.rules.UNKNOWN`` where the engine sent an unknown, and the stack rules decide what an unknown
  means. ``dependencies`` and ``property_dependencies`` give the resources it depends on (among those
  analysed); both go into :attr:`StackResource.dependencies` as URNs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidation,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import serialize_properties
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
)

from policy.rules import RULES, UNKNOWN, AnyRule, Rule, StackResource, StackRule

PACK_NAME = "platform"
"""The pack's name, as ``pulumi preview`` reports violations (``platform@v1.0.0``)."""

UNKNOWN_SENTINELS = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)
"""The strings pulumi-policy puts where the engine sent an unknown value, one per kind of value."""


def validation(rule: Rule) -> ResourceValidation:
    """``rule`` as a pulumi-policy validation: each message it returns is reported as one violation."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule.violations(args.resource_type, args.props, pulumi.get_stack()):
            report_violation(message, None)

    return validate


def _unknowns_marked(value: Any) -> Any:
    """Plain ``value`` with each of pulumi-policy's unknown sentinels replaced by ``policy.rules.UNKNOWN``."""
    if isinstance(value, str) and value in UNKNOWN_SENTINELS:
        return UNKNOWN
    if isinstance(value, Mapping):
        return {key: _unknowns_marked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unknowns_marked(item) for item in value]
    return value


def stack_resource(resource: PolicyResource) -> StackResource:
    """A stack validation's resource as stack rules read it: its outputs, unknowns marked, never raising."""
    # serialize_properties unwraps the proxy (which raises on unknowns) to the values the engine sent.
    props = _unknowns_marked(serialize_properties(resource.props))
    dependencies = {dependency.urn for dependency in resource.dependencies}
    dependencies.update(d.urn for listed in resource.property_dependencies.values() for d in listed)
    return StackResource(resource.resource_type, resource.urn, resource.name, props, frozenset(dependencies))


def stack_validation(rule: StackRule) -> StackValidation:
    """``rule`` as a pulumi-policy stack validation: each violation is reported against the URN it names."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [stack_resource(resource) for resource in args.resources]
        for urn, message in rule.violations(resources, pulumi.get_stack()):
            report_violation(message, urn)

    return validate


def policy(rule: AnyRule) -> Policy:
    """One rule as its policy, named after it, at the rule's enforcement level."""
    level = EnforcementLevel(rule.enforcement.value)
    if isinstance(rule, StackRule):
        return StackValidationPolicy(
            name=rule.name,
            description=rule.description,
            validate=stack_validation(rule),
            enforcement_level=level,
        )
    return ResourceValidationPolicy(
        name=rule.name, description=rule.description, validate=validation(rule), enforcement_level=level
    )


def policies(rules: Iterable[AnyRule] = RULES) -> list[Policy]:
    """One policy per rule, in the rules' order."""
    return [policy(rule) for rule in rules]
