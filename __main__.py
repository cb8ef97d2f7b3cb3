"""kafka-tls: read and validate the stack config, plan, build the cluster, export its outputs."""

from datetime import datetime, timezone

import pulumi

from components.ca_rotation import ca_spec, next_rotation
from components.cert_info import days_left, renewal_warnings
from components.cluster import KafkaTlsCluster
from components.config import ConfigError, property_problems, validate_config
from components.plan import plan, plan_problems
from components.properties import read_base_properties
from components.stack_config import read_last_outputs, read_stack_config


def warn_about_expiry(previous_certificates: dict, window_days: int) -> None:
    """A preview names every certificate inside its renewal window (from the last up's outputs:
    a certificate pulumi-tls is about to re-issue has no known expiry in the preview itself)."""
    for line in renewal_warnings(previous_certificates, window_days, datetime.now(timezone.utc)):
        pulumi.log.warn(line)


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
connect_base = read_base_properties(config.connect_base_file, config.connect_properties)
# The base files' own content, then the listener layout they and the config make together.
if problems := property_problems(config, server_base, connect_base) + plan_problems(config, server_base):
    for problem in problems:
        pulumi.log.error(problem)
    raise pulumi.RunError(f"{len(problems)} problem(s) in the base files or listeners; nothing was changed")
cluster_plan = plan(config, server_base, connect_base)
last = read_last_outputs()
rotation = next_rotation(last.get("ca_rotation"), ca_spec(config))
if notice := rotation.notice():
    pulumi.log.warn(notice)
warn_about_expiry(last.get("certificates") or {}, config.tls.cert_early_renewal_days)
cluster = KafkaTlsCluster(
    "kafka", config, cluster_plan,
    # The digest and the client keys stay secrets in this run, as they were in the outputs.
    previous=(last.get("rollout_fingerprints"), pulumi.Output.secret(last.get("rollout_password_digest"))),
    previous_clients=pulumi.Output.secret(last.get("client_identities")) if config.clients else None,
    rotation=rotation,
)

pulumi.export("ca_cert_pem", cluster.ca_cert_pem)
# What clients must trust: during a CA rotation the old and the new CA, else the CA alone.
pulumi.export("ca_bundle_pem", cluster.ca_bundle_pem)
pulumi.export("ca_rotation", cluster.ca_rotation)
pulumi.export("ssl_bootstrap_servers", cluster.ssl_bootstrap_servers)
pulumi.export(
    "certificates",
    {
        name: {
            "sha256_fingerprint": c.sha256_fingerprint,
            "not_after": c.not_after,
            # As of this run: a scheduled `pulumi up` keeps it current.
            "days_left": c.not_after.apply(lambda na: days_left(na, datetime.now(timezone.utc))),
        }
        for name, c in cluster.certificates.items()
    },
)
pulumi.export("client_settings", cluster.client_settings)
pulumi.export("rollout_fingerprints", cluster.rollout_fingerprints)
pulumi.export("rollout_password_digest", cluster.password_digest)
pulumi.export("client_identities", cluster.client_identities)
pulumi.export("super_users", cluster.super_users)
# Last, so `pulumi preview --diff` ends with which services this change restarts and why.
pulumi.export("restart_plan", cluster.restart_plan)
