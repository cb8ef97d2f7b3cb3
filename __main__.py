"""kafka-tls: read and validate the stack config, plan, build the cluster, export its outputs."""

import pulumi

from components.cluster import KafkaTlsCluster
from components.config import ConfigError, validate_config
from components.plan import plan, plan_problems
from components.properties import read_base_properties
from components.stack_config import read_stack_config


def previous_outputs() -> tuple[pulumi.Output, pulumi.Output]:
    """The last ``up``'s rollout fingerprints, read from this stack itself (empty on a first up)."""
    own = pulumi.StackReference(f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}")
    return own.get_output("rollout_fingerprints"), own.get_output("rollout_password_digest")


def previous_client_identities() -> pulumi.Output:
    """The last ``up``'s ``client_identities`` (a secret): a client whose key and certificate did
    not change keeps its PKCS12 bytes, which a rebuild would change (random salts)."""
    own = pulumi.StackReference(
        "previous-client-identities", stack_name=f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    )
    return own.get_output("client_identities")


raw, problems = read_stack_config()
config = None
try:
    config = validate_config(raw)
except ConfigError as err:
    # A key that could not be read is reported once, not again as "missing".
    unread = tuple(p.split(": ", 1)[0] for p in problems)
    problems += [p for p in err.problems if not (unread and p.startswith(unread))]
if problems or config is None:
    for problem in problems:
        pulumi.log.error(problem)
    raise pulumi.RunError(f"{len(problems)} problem(s) in the stack config; nothing was changed")

server_base = read_base_properties(config.server_base_file, config.server_properties)
if problems := plan_problems(config, server_base):
    for problem in problems:
        pulumi.log.error(problem)
    raise pulumi.RunError(f"{len(problems)} problem(s) with the brokers' listeners; nothing was changed")
cluster_plan = plan(config, server_base, read_base_properties(config.connect_base_file, config.connect_properties))
cluster = KafkaTlsCluster("kafka", config, cluster_plan, previous=previous_outputs(),
                          previous_clients=previous_client_identities() if config.clients else None)

pulumi.export("ca_cert_pem", cluster.ca_cert_pem)
pulumi.export("ssl_bootstrap_servers", cluster.ssl_bootstrap_servers)
pulumi.export(
    "certificates",
    {name: {"sha256_fingerprint": c.sha256_fingerprint, "not_after": c.not_after} for name, c in cluster.certificates.items()},
)
pulumi.export("client_settings", cluster.client_settings)
pulumi.export("rollout_fingerprints", cluster.rollout_fingerprints)
pulumi.export("rollout_password_digest", cluster.password_digest)
pulumi.export("client_identities", cluster.client_identities)
pulumi.export("super_users", cluster.super_users)
# Last, so `pulumi preview --diff` ends with which services this change restarts and why.
pulumi.export("restart_plan", cluster.restart_plan)
