"""Reading the stack: its ``kafka-tls:*`` config with ``pulumi.Config`` (validation is config.py's), and its
last outputs."""

from __future__ import annotations

import time

import pulumi
from pulumi.runtime import config as runtime_config

from components.config import NAMESPACE, config_keys


def read_stack_config() -> tuple[dict, list[str]]:
    """Every key the program knows -> its raw value, and the problems found while reading.

    Structured keys (hosts, sections) are read as objects, the rest as text, so a password that
    starts with '{' or '[' stays a password. An empty value counts as unset. A structured key
    whose value is not a list or map becomes a problem named by its key, reported with the rest.
    Secrets are read as plain values here only to be validated; the components wrap them again.
    """
    cfg = pulumi.Config(NAMESPACE)
    known = config_keys()
    # pulumi.Config cannot list keys; the runtime's map gives their names (values are read
    # through pulumi.Config below), so a typo is an error rather than a silently unused key.
    problems = [
        f"{key}: unknown key (a typo?); see the README's config reference"
        for key in sorted(runtime_config.get_config_env())
        if key.startswith(NAMESPACE + ":") and key.split(":", 1)[1] not in known
    ]
    raw = {}
    for key, structured in known.items():
        if cfg.get(key) in (None, ""):
            continue
        try:
            raw[key] = cfg.get_object(key) if structured else cfg.get(key)
        except pulumi.ConfigTypeError:
            problems.append(
                f"{NAMESPACE}:{key}: not a list or map; set it in the stack's YAML file (see the README's config reference)"
            )
    return raw, problems


# The file backend writes a checkpoint's ".attrs" sidecar in place (truncate, then write), so a
# read that lands in between fails with "failed to load checkpoint: EOF"; the next read succeeds.
TORN_CHECKPOINT = "failed to load checkpoint: EOF"
CHECKPOINT_READ_ATTEMPTS = 20


def read_last_outputs(invoke=pulumi.runtime.invoke, pause=time.sleep) -> dict:
    """This stack's outputs from its last successful up ({} on a first up): what this plan
    compares with. The program reads them once, before it declares any resource, because the
    CA rotation's phase decides which resources and options it declares.

    The engine saves the checkpoint after every step, also while this runs; a read that meets
    a half-written sidecar file is tried again (at most CHECKPOINT_READ_ATTEMPTS times)."""
    own = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    attempt = 1
    while True:
        try:
            result = invoke("pulumi:pulumi:readStackOutputs", {"name": own})
            return (result.value or {}).get("outputs") or {}
        except Exception as err:  # the SDK raises a bare Exception for a failed invoke
            if TORN_CHECKPOINT not in str(err) or attempt == CHECKPOINT_READ_ATTEMPTS:
                raise
        pause(0.05 * attempt)
        attempt += 1
