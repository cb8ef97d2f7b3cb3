"""kafka-tls: read and validate the stack config, plan, build the cluster, export its outputs."""

import functools
from datetime import UTC, datetime

import pulumi

from components.ca_rotation import ca_spec, next_rotation
from components.cert_info import days_left, renewal_warnings
from components.cluster import KafkaTlsCluster
from components.plan import keystore_password_digest, plan
from components.roll_order import read_cluster
from components.stack_config import read_last_outputs, read_stack_config
from components.validation import validate_stack


def warn_about_expiry(previous_certificates: dict, window_days: int, now: datetime) -> None:
    """A preview names every certificate inside its renewal window (from the last up's outputs:
    a certificate pulumi-tls is about to re-issue has no known expiry in the preview itself)."""
    for line in renewal_warnings(previous_certificates, window_days, now):
        pulumi.log.warn(line)


# One clock for the checks, the warnings and the plan's "pulumi-tls re-issues this one now".
now = datetime.now(UTC)
last = read_last_outputs()
# The config, then the base files, the listener layout, the settings that must agree and what the
# hosts cannot take from the last up (validation.py), reported together; a key that could not be
# read is reported once, not again as "missing".
raw, unread = read_stack_config()
validated = validate_stack(raw, unread, now, last)
if validated.problems:
    for problem in validated.problems:
        pulumi.log.error(problem)
    raise pulumi.RunError(validated.summary)
config, server_base, connect_base = validated.config, validated.server_base, validated.connect_base
last_run = validated.last_run
rotation = next_rotation(last.get("ca_rotation"), ca_spec(config))
if notice := rotation.notice():
    pulumi.log.warn(notice)
warn_about_expiry(last.get("certificates") or {}, config.tls.cert_early_renewal_days, now)
# The order brokers roll in needs them read (who is down, who leads the quorum) when this up takes
# one down: the preview reads them as the up does, so it shows the up's order.
cluster_plan = plan(config, server_base, connect_base, last_run, rotation, functools.partial(read_cluster, config))
cluster = KafkaTlsCluster(
    "kafka",
    config,
    cluster_plan,
    # The client keys stay secrets in this run, as they were in the outputs.
    previous_clients=pulumi.Output.secret(last.get("client_identities")) if config.clients else None,
    rotation=rotation,
)

pulumi.export("ca_cert_pem", cluster.ca_cert_pem)
# What clients must trust: during a CA rotation the old and the new CA, else the CA alone.
pulumi.export("ca_bundle_pem", cluster.ca_bundle_pem)
pulumi.export("ca_rotation", cluster.ca_rotation)
pulumi.export("ssl_bootstrap_servers", cluster.ssl_bootstrap_servers)
# The controllers' TLS listeners (mutual TLS: for monitoring and the lab's verification table).
pulumi.export("ssl_controller_servers", cluster_plan.ssl_controller_servers)
pulumi.export(
    "certificates",
    {
        name: {
            "sha256_fingerprint": c.sha256_fingerprint,
            "not_after": c.not_after,
            # As of this run: a scheduled `pulumi up` keeps it current.
            "days_left": c.not_after.apply(lambda na: days_left(na, datetime.now(UTC))),
        }
        for name, c in cluster.certificates.items()
    },
)
pulumi.export("client_settings", cluster.client_settings)
# For the next up's plan, not for people: a secret, so previews and `stack output` show [secret]
# (the engine's readStackOutputs hands the program its last value in plain again).
pulumi.export("rollout_fingerprints", pulumi.Output.secret(cluster.rollout_fingerprints))
pulumi.export("rollout_password_digest", cluster.password_digest)
pulumi.export("rollout_keystore_password_digest", pulumi.Output.secret(keystore_password_digest(config)))
pulumi.export("client_identities", cluster.client_identities)
pulumi.export("super_users", cluster.super_users)
# Last, so `pulumi preview --diff` ends with the order hosts are touched in (a wave runs at once),
# then which services this change restarts and why.
pulumi.export("rollout_waves", cluster_plan.rollout_waves())
pulumi.export("restart_plan", cluster.restart_plan)
