"""The platform rules of the kafka-tls policy pack, as plain functions (the pack is __main__.py).

Pure: no Pulumi here, so the unit tests run them in the program's venv. Each rule takes what the
``kafka-tls:index:KafkaTlsCluster`` component shows policies (components/policy_view.py: its inputs
for the settings rules, its outputs' ``rollout`` for the restart budget), the rule's config (the
pack config, defaults filled in by ``with_defaults``) and the stack's name, and returns one message
per violation, each saying what to change.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NS = "kafka-tls"
COMPONENT = "kafka-tls:index:KafkaTlsCluster"
VIEW_VERSION = 1
"""components/policy_view.VIEW_VERSION: the view these rules read."""

_CLIENT_AUTH_ORDER = ("none", "requested", "required")


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    mandatory: bool
    config_schema: Mapping[str, Mapping[str, Any]]
    """JSON schema of each config key, with its default (PolicyConfigSchema's properties)."""
    check: Callable[[Mapping[str, Any], Mapping[str, Any], str], list[str]]
    reads: str = "settings"
    """'settings': the component's inputs (a resource policy); 'rollout': its outputs (a stack policy)."""


def with_defaults(rule: Rule, config: Mapping[str, Any]) -> dict[str, Any]:
    """The rule's config: the pack config's values over the schema's defaults."""
    out = {k: v["default"] for k, v in rule.config_schema.items() if "default" in v}
    out.update({k: v for k, v in config.items() if k in rule.config_schema})
    return out


def _num(v: Any) -> int:
    """Numbers arrive as floats (protobuf Struct): 365.0 is 365."""
    return int(v)


# --- the rules ----------------------------------------------------------------------------------


def is_production(stack: str, config: Mapping[str, Any]) -> bool:
    return bool(config.get("production")) or any(fnmatch.fnmatchcase(stack, p) for p in config.get("productionStacks", ()))


def no_plaintext_listener(view: Mapping[str, Any], config: Mapping[str, Any], stack: str) -> list[str]:
    if not is_production(stack, config) or view["listenerMode"] == "SSL":
        return []
    tls = view["tls"]
    then = (
        ""
        if tls["interBrokerProtocol"] == "SSL"
        else f" That needs replication on TLS first: set `{NS}:tls.interBrokerProtocol` to `SSL` (an `up` of its own)."
    )
    return [
        f"stack '{stack}' is production, and its brokers keep a PLAINTEXT listener (`{NS}:tls.listeners` is "
        f"'{view['listenerMode']}'). Set `{NS}:tls.listeners` to `SSL` once every client uses "
        f"the TLS listener; the next `up` removes the PLAINTEXT broker listeners.{then}"
    ]


def client_auth(view: Mapping[str, Any], config: Mapping[str, Any], stack: str) -> list[str]:
    have, floor = view["tls"]["clientAuth"], config["clientAuth"]
    if _CLIENT_AUTH_ORDER.index(have) >= _CLIENT_AUTH_ORDER.index(floor):
        return []
    return [
        f"`{NS}:tls.clientAuth` is '{have}': brokers accept clients without a certificate of the stack's CA. "
        f"Set `{NS}:tls.clientAuth` to `{floor}`, and give each application an identity in `{NS}:clients` "
        "(its certificate comes from the `client_identities` output) before the `up` that turns it on."
    ]


def key_strength(view: Mapping[str, Any], config: Mapping[str, Any], stack: str) -> list[str]:
    allowed = list(config["allowedAlgorithms"])
    floors = {"RSA": _num(config["minRsaBits"]), "ECDSA": _num(config["minEcdsaBits"])}

    def weak(key: Mapping[str, Any]) -> str:
        algorithm, bits = key["algorithm"], _num(key["bits"])
        if algorithm not in allowed:
            return f"{algorithm} keys are not allowed here (allowed: {', '.join(allowed)})"
        if bits < floors.get(algorithm, 0):
            return f"{algorithm} {bits} is below the floor of {floors[algorithm]} bits"
        return ""

    out = []
    strong = _strongest(allowed, floors)
    if problem := weak(view["hostKey"]):
        out.append(
            f"host keys: {problem}. Set `{NS}:tls.keyAlgorithm` / `{NS}:tls.rsaBits` (e.g. {strong}); every host "
            "gets a new key and certificate, and restarts."
        )
    ca = view["ca"]
    if problem := weak(ca["key"]):
        fix = (
            f"import a CA with a stronger key in `{NS}:caImport`"
            if ca["imported"]
            else f"set `{NS}:ca.keyAlgorithm` / `{NS}:ca.rsaBits` (e.g. {strong}) and raise `{NS}:ca.generation`"
        )
        out.append(f"the CA's key: {problem}. {fix[0].upper()}{fix[1:]}: a CA rotation (README: 'Rotating the CA').")
    for i, c in enumerate(view["clientCertificates"]):
        if problem := weak(c["key"]):
            out.append(
                f"client '{c['name']}': {problem}. Set `{NS}:clients[{i}].keyAlgorithm` (RSA keys take their size "
                f"from `{NS}:tls.rsaBits`), e.g. {strong}."
            )
    return out


def _strongest(allowed: Sequence[str], floors: Mapping[str, int]) -> str:
    if "ECDSA" in allowed and floors["ECDSA"] <= 256:
        return "ECDSA"
    if "RSA" in allowed:
        return f"RSA with rsaBits {max(floors['RSA'], 3072)}"
    return "an allowed algorithm"


def certificate_validity(view: Mapping[str, Any], config: Mapping[str, Any], stack: str) -> list[str]:
    out = []
    host_max, client_max = _num(config["maxHostValidityDays"]), _num(config["maxClientValidityDays"])
    host_days = _num(view["tls"]["certValidityDays"])
    if host_days > host_max:
        out.append(
            f"host certificates are valid {host_days} days (`{NS}:tls.certValidityDays`), more than the {host_max} "
            f"allowed here. Set `{NS}:tls.certValidityDays` to {host_max} or less and run `pulumi up` on a schedule "
            "(brokers reload a re-issued certificate without a restart)."
        )
    for i, c in enumerate(view["clientCertificates"]):
        days = _num(c["validityDays"])
        if days > client_max:
            out.append(
                f"client '{c['name']}': its certificate is valid {days} days, more than the {client_max} allowed "
                f"here. Set `{NS}:clients[{i}].validityDays` to {client_max} or less (without it a client takes "
                f"`{NS}:tls.certValidityDays`) and hand the renewed certificate out after each scheduled `up`."
            )
    return out


def imported_ca(view: Mapping[str, Any], config: Mapping[str, Any], stack: str) -> list[str]:
    ca = view["ca"]
    if not ca["imported"]:
        return [
            f"the stack generates its own CA ('{ca['commonName']}'); certificates here must come from the platform's "
            f"CA. Import it: `pulumi config set --path {NS}:caImport.certPem < ca.pem` and "
            f"`pulumi config set --secret --path {NS}:caImport.keyPem < ca.key`, and remove `{NS}:ca` "
            "(on a live stack that is a CA rotation: README 'Rotating the CA')."
        ]
    allowed = [f.upper() for f in config["caFingerprints"]]
    if allowed and ca["sha256Fingerprint"].upper() not in allowed:
        return [
            f"the imported CA '{ca['commonName']}' (SHA-256 {ca['sha256Fingerprint']}) is not one of the platform's CAs "
            f"({len(allowed)} allowed by this pack's `caFingerprints`). Import the platform's CA into `{NS}:caImport`."
        ]
    return []


def restart_budget(rollout: Mapping[str, Any], config: Mapping[str, Any], stack: str) -> list[str]:
    budget, restarted = _num(config["maxBrokerRestarts"]), list(rollout["restartedBrokers"])
    if len(restarted) <= budget:
        return []
    named = ", ".join(restarted[:3]) + (f" and {len(restarted) - 3} more" if len(restarted) > 3 else "")
    return [
        f"this `up` restarts {len(restarted)} of {_num(rollout['brokers'])} brokers ({named}), more than "
        f"the {budget} allowed without a second look: they restart one at a time behind the health gate, but plan the "
        "`up` for a quiet hour; the `restart_plan` output says why each restarts."
    ]


PRODUCTION_STACKS = ["prod", "production", "prod-*"]

RULES: tuple[Rule, ...] = (
    Rule(
        "kafka-tls-no-plaintext-listener",
        "Production stacks leave no PLAINTEXT broker listener (tls.listeners: SSL).",
        True,
        {
            "productionStacks": {
                "type": "array",
                "items": {"type": "string"},
                "default": PRODUCTION_STACKS,
                "description": "Stack names (shell patterns) that are production.",
            },
            "production": {
                "type": "boolean",
                "default": False,
                "description": "Treat every stack this config is used with as production.",
            },
        },
        no_plaintext_listener,
    ),
    Rule(
        "kafka-tls-client-auth-required",
        "Brokers require client certificates (tls.clientAuth).",
        True,
        {
            "clientAuth": {
                "type": "string",
                "enum": ["requested", "required"],
                "default": "required",
                "description": "The weakest tls.clientAuth allowed.",
            }
        },
        client_auth,
    ),
    Rule(
        "kafka-tls-key-strength",
        "Host, CA and client keys use an allowed algorithm of at least the floor size.",
        True,
        {
            "allowedAlgorithms": {
                "type": "array",
                "items": {"type": "string", "enum": ["ECDSA", "RSA"]},
                "default": ["ECDSA", "RSA"],
            },
            "minRsaBits": {"type": "integer", "default": 3072},
            "minEcdsaBits": {"type": "integer", "default": 256},
        },
        key_strength,
    ),
    Rule(
        "kafka-tls-certificate-validity",
        "Host and client certificates are short-lived enough.",
        True,
        {
            "maxHostValidityDays": {"type": "integer", "minimum": 1, "default": 366},
            "maxClientValidityDays": {"type": "integer", "minimum": 1, "default": 90},
        },
        certificate_validity,
    ),
    Rule(
        "kafka-tls-imported-ca",
        "Certificates come from an imported CA (kafka-tls:caImport), optionally one of a list.",
        True,
        {
            "caFingerprints": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "SHA-256 fingerprints (AA:BB:...) of the allowed CAs; empty: any imported CA.",
            }
        },
        imported_ca,
    ),
    Rule(
        "kafka-tls-restart-budget",
        "One `up` restarts at most a set number of brokers without a second look.",
        False,
        {"maxBrokerRestarts": {"type": "integer", "minimum": 0, "default": 1}},
        restart_budget,
        reads="rollout",
    ),
)


def too_old(view: Mapping[str, Any]) -> list[str]:
    """A component from a kafka-tls release before policy support shows no settings."""
    if view.get("viewVersion") == VIEW_VERSION:
        return []
    return [
        "this stack's kafka-tls program shows policies no settings (it predates policy support, or is newer than "
        "this pack): upgrade the program, or the pack, so they agree."
    ]
