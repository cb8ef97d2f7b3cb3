"""Reading the ``kafka-tls:*`` stack config with ``pulumi.Config`` (validation is config.py's)."""

from __future__ import annotations

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
            problems.append(f"{NAMESPACE}:{key}: not a list or map; set it in the stack's YAML file "
                            "(see the README's config reference)")
    return raw, problems
