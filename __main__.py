"""kafka-tls: read and validate the stack config, plan, build the cluster, export its outputs."""

import pulumi

from components.cluster import KafkaTlsCluster
from components.config import NAMESPACE, ConfigError, config_keys, validate_config
from components.plan import plan
from components.properties import read_base_properties


def read_stack_config() -> tuple[dict, list[str]]:
    """Every ``kafka-tls:*`` key the program knows, read with pulumi.Config.

    Structured keys (hosts, sections) are read as objects, the rest as text, so a password that
    starts with '{' stays a password. A value that is not valid for its kind becomes a problem
    named by its key, reported with the others.
    """
    cfg = pulumi.Config(NAMESPACE)
    raw, problems = {}, []
    for key, structured in config_keys().items():
        try:
            value = cfg.get_object(key) if structured else cfg.get(key)
        except (pulumi.ConfigTypeError, ValueError):
            problems.append(f"{NAMESPACE}:{key}: not a YAML list or map; see the README's config reference")
            continue
        if value not in (None, ""):
            raw[key] = value
    return raw, problems


def previous_outputs() -> tuple[pulumi.Output, pulumi.Output]:
    """The last ``up``'s rollout fingerprints, read from this stack itself (empty on a first up)."""
    own = pulumi.StackReference(f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}")
    return own.get_output("rollout_fingerprints"), own.get_output("rollout_password_digest")


raw, problems = read_stack_config()
try:
    config = validate_config(raw)
    if problems:
        raise ConfigError(problems)
except ConfigError as err:
    for problem in [*problems, *(p for p in err.problems if p not in problems)]:
        pulumi.log.error(problem)
    count = len(set(problems) | set(err.problems))
    raise pulumi.RunError(f"{count} problem(s) in the stack config; nothing was changed") from None

cluster_plan = plan(
    config,
    read_base_properties(config.server_base_file, config.server_properties),
    read_base_properties(config.connect_base_file, config.connect_properties),
)
cluster = KafkaTlsCluster("kafka", config, cluster_plan, previous=previous_outputs())

pulumi.export("ca_cert_pem", cluster.ca_cert_pem)
pulumi.export("ssl_bootstrap_servers", cluster.ssl_bootstrap_servers)
pulumi.export(
    "certificates",
    {name: {"sha256_fingerprint": c.sha256_fingerprint, "not_after": c.not_after} for name, c in cluster.certificates.items()},
)
pulumi.export("client_settings", cluster.client_settings)
pulumi.export("rollout_fingerprints", cluster.rollout_fingerprints)
pulumi.export("rollout_password_digest", cluster.password_digest)
# Last, so `pulumi preview --diff` ends with which services this change restarts and why.
pulumi.export("restart_plan", cluster.restart_plan)
