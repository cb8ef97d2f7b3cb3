"""kafka-tls's policy pack: a platform team's rules for kafka-tls stacks.

    pulumi preview --policy-pack policy [--policy-pack-config prod.json]

The CLI starts this file through the Python language host, in policy/.venv (PulumiPolicy.yaml).
The rules (rules.py) judge only what the ``kafka-tls:index:KafkaTlsCluster`` component shows
policies; no other resource is read. With KAFKA_TLS_POLICY_DUMP=<file> in the CLI's environment,
every view a rule judged is appended to that file as a JSON line (the tests search it for secrets).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from rules import COMPONENT, RULES, Rule, too_old, with_defaults  # the pack's directory is on sys.path


def plain(value: Any) -> Any:
    """The SDK's read-only proxies as plain data (an unknown value, in a preview, as None)."""
    if isinstance(value, Mapping):
        out = {}
        for k in value:
            try:
                out[k] = plain(value[k])
            except Exception:  # pulumi_policy's UnknownValueError: not known until the up
                out[k] = None
        return out
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain(v) for v in value]
    return value


def dump(rule: Rule, urn: str, view: Any) -> None:
    if path := os.environ.get("KAFKA_TLS_POLICY_DUMP"):
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"policy": rule.name, "stack": pulumi.get_stack(), "urn": urn, "view": view}) + "\n")


def resource_policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type != COMPONENT:
            return
        view = plain(args.props)
        dump(rule, args.urn, view)
        for message in too_old(view) or rule.check(view, with_defaults(rule, args.get_config()), pulumi.get_stack()):
            report(message, args.urn)

    return ResourceValidationPolicy(
        rule.name,
        rule.description,
        validate,
        enforcement_level=EnforcementLevel.MANDATORY if rule.mandatory else EnforcementLevel.ADVISORY,
        config_schema=PolicyConfigSchema(dict(rule.config_schema)),
    )


def stack_policy(rule: Rule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for r in args.resources:
            if r.resource_type != COMPONENT:
                continue
            # Only the component's own rollout output (its other outputs may be unknown in a preview).
            rollout = plain(r.props).get("rollout")
            dump(rule, r.urn, {"rollout": rollout})
            if rollout is None:
                report(too_old({})[0], r.urn)
                continue
            for message in rule.check(rollout, with_defaults(rule, args.get_config()), pulumi.get_stack()):
                report(message, r.urn)

    return StackValidationPolicy(
        rule.name,
        rule.description,
        validate,
        enforcement_level=EnforcementLevel.MANDATORY if rule.mandatory else EnforcementLevel.ADVISORY,
        config_schema=PolicyConfigSchema(dict(rule.config_schema)),
    )


# The engine ends the pack with SIGINT when the preview is done. The SDK's serving loop would take it
# as a KeyboardInterrupt while the language host has already closed stderr, and Python's last words
# ("lost sys.stderr") would land in the preview's diagnostics. Nothing is left to flush: leave quietly.
signal.signal(signal.SIGINT, lambda *_: os._exit(0))

PolicyPack(
    "kafka-tls",
    [resource_policy(r) if r.reads == "settings" else stack_policy(r) for r in RULES],
)
