"""kafka-tls: read and validate the stack config, build the cluster, export its outputs."""

import json

import pulumi
from pulumi.runtime.config import get_config_env

from components.cluster import KafkaTlsCluster
from components.config import NAMESPACE, ConfigError, validate_config


def read_stack_config() -> dict:
    """Every ``kafka-tls:*`` key (secrets included, as plain values for validation only)."""
    raw = {}
    for key, value in get_config_env().items():
        namespace, _, name = key.partition(":")
        if namespace != NAMESPACE:
            continue
        # Structured values arrive as JSON text; scalars stay strings.
        raw[name] = json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value
    return raw


try:
    config = validate_config(read_stack_config())
except ConfigError as err:
    for problem in err.problems:
        pulumi.log.error(problem)
    raise pulumi.RunError(f"{len(err.problems)} problem(s) in the stack config; nothing was changed") from None

cluster = KafkaTlsCluster("kafka", config)

pulumi.export("ca_cert_pem", cluster.ca_cert_pem)
pulumi.export("ssl_bootstrap_servers", cluster.ssl_bootstrap_servers)
pulumi.export(
    "certificates",
    {name: {"sha256_fingerprint": c.sha256_fingerprint, "not_after": c.not_after} for name, c in cluster.certificates.items()},
)
pulumi.export("client_settings", cluster.client_settings)
