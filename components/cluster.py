"""KafkaTlsCluster: turns the plan (plan.py) into resources and carries the outputs."""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Optional

import pulumi
from pulumi_command import remote

from components import policy_view
from components.ca_rotation import Rotation
from components.cert_info import digest
from components.certificate_authority import CertificateAuthority, CertificateAuthorityArgs
from components.client_identity import ClientIdentity, ClientIdentityArgs, client_auth_warning, super_users
from components.config import ClusterConfig
from components.host_certificate import HostCertificate, HostCertificateArgs
from components.host_command import HostAccess
from components.host_component import host_component, moved_from
from components.host_file import host_file, original_file
from components.plan import ClusterPlan, RestartStep, Role, Trigger, store_password_digest
from components.properties import ControllerStage, connect_rest_endpoint, format_properties, secrets_file_values
from components.rolling_restart import RestartCommand, RollingRestart
from components.scripts import (
    STAGE_PASSED_SCRIPT,
    ConnectGate,
    Gate,
    KafkaGate,
    TlsGate,
    controller_stage_script,
    reload_stores_script,
    remove_left_behind_script,
    resume_or,
    rewrite_file_script,
    stage_script,
    stamp_stores_script,
    write_and_restart_script,
)
from components.truststore import truststore


def _entry(name: str, mapping: dict):
    return mapping.get(name)


class KafkaTlsCluster(pulumi.ComponentResource):
    """A Kafka cluster on SSH hosts, moved to TLS and kept there.

    Args:
        name: prefixes every child resource's name, so two clusters fit in one stack.
        config: the validated stack config.
        plan: what to do, and what this ``up`` does with each step (plan.plan(config, ...)).
        previous_clients: the last ``up``'s ``client_identities`` output (a secret), so that a
            client whose key and certificate did not change keeps its PKCS12 bytes.
        rotation: the phase of a CA rotation this ``up`` runs (ca_rotation.next_rotation).
    """

    ca_cert_pem: pulumi.Output[str]
    ca_bundle_pem: pulumi.Output[str]
    """Every CA clients must trust: the current one, and the old one during a CA rotation."""
    ca_rotation: pulumi.Output[dict]
    """Where a CA rotation stands, once the rollout is done (the next ``up`` reads it)."""
    ssl_bootstrap_servers: str
    certificates: dict[str, HostCertificate]
    client_settings: dict[str, dict[str, str]]
    rollout_fingerprints: dict[str, dict]
    """What each host's service reads, as digests; compared by the next ``up``."""
    rollout_done: pulumi.Output[str]
    """Resolves once every rollout step is registered."""
    password_digest: pulumi.Output[str]
    """A secret: tells the next ``up`` whether the store passwords changed."""
    restart_plan: list[str]
    """Per host, in rollout order: what this ``up`` does to it, and why (the plan's steps)."""
    clients: dict[str, ClientIdentity]
    client_identities: pulumi.Output[dict]
    """A secret: per client its certificate, key, CA, PKCS12 and password (ClientIdentity.outputs)."""
    super_users: str
    """The brokers' and workers' principals, for ``super.users`` when an authorizer is on."""

    def __init__(
        self,
        name: str,
        config: ClusterConfig,
        plan: ClusterPlan,
        opts: Optional[pulumi.ResourceOptions] = None,
        previous_clients: Optional[pulumi.Input[dict]] = None,
        rotation: Optional[Rotation] = None,
    ):
        # Its inputs are the non-secret settings, for policy packs (policy/; components/policy_view.py).
        super().__init__("kafka-tls:index:KafkaTlsCluster", name, policy_view.settings(config), opts)
        child = pulumi.ResourceOptions(parent=self)
        tls_cfg, paths = config.tls, config.paths
        keystore_password = pulumi.Output.secret(config.keystore_password.get_secret_value())
        truststore_password = pulumi.Output.secret(config.truststore_password.get_secret_value())
        ssh_key = pulumi.Output.secret(config.ssh_private_key.get_secret_value())
        # A password change must restart the services, but its digest must not be readable.
        password_digest = pulumi.Output.secret(store_password_digest(config))
        secrets_text = pulumi.Output.all(keystore_password, truststore_password).apply(
            lambda v: format_properties(secrets_file_values(v[0], v[1]), header="kafka-tls: store passwords")
        )

        # A new generation is a new CA (a new key): the old one's resources go once nothing needs them.
        generation = "" if config.ca_import or config.ca.generation == 1 else f"-g{config.ca.generation}"
        ca = CertificateAuthority(
            f"{name}-ca{generation}", CertificateAuthorityArgs(config.ca, config.ca_import, rotation), child
        )
        self.ca_cert_pem = ca.cert_pem
        self.ca_bundle_pem = ca.bundle_pem
        trust_digest = ca.bundle_pem.apply(digest)
        self.ssl_bootstrap_servers = plan.ssl_bootstrap_servers
        self.client_settings = plan.client_settings

        # Client identities (mTLS): per listed client a key and a client certificate from the CA.
        if warning := client_auth_warning(config.clients, tls_cfg):
            pulumi.log.warn(warning, self)
        last_clients: pulumi.Output[dict] = pulumi.Output.from_input(previous_clients).apply(lambda p: p or {})
        self.clients = {
            c.name: ClientIdentity(
                f"{name}-client-{c.name}",
                ClientIdentityArgs(c, ca, tls_cfg, previous=last_clients.apply(functools.partial(_entry, c.name))),
                child,
            )
            for c in config.clients
        }
        outputs = {n: c.outputs for n, c in self.clients.items()}
        self.client_identities = pulumi.Output.secret(pulumi.Output.all(**outputs) if outputs else {})
        self.super_users = super_users(config.hosts)

        access = {
            h.name: HostAccess(
                remote.ConnectionArgs(
                    host=h.host.address, port=config.ssh.port, user=config.ssh.user, private_key=ssh_key, host_key=h.host.host_key
                ),
                sudo=config.ssh.sudo,
                repair=h.repair,
            )
            for h in plan.hosts
        }

        self.certificates = {}
        self.hosts: dict[str, pulumi.ComponentResource] = {}
        ready: dict[str, list[pulumi.Resource]] = {}
        for h in plan.hosts:
            prefix = f"{name}-{h.name}"
            self.hosts[h.name] = host_component(h.role, prefix, child)
            own = moved_from(self.hosts[h.name], self)
            cert = HostCertificate(
                prefix,
                HostCertificateArgs(
                    host=h,
                    custody=tls_cfg.key_custody,
                    access=access[h.name],
                    ca=ca,
                    keystore_password=keystore_password,
                    owner=paths.owner,
                    early_renewal_days=tls_cfg.cert_early_renewal_days,
                ),
                own,
            )
            trust = truststore(
                f"{prefix}-truststore", h.locations, access[h.name], ca.bundle_pem, truststore_password, paths.owner, own
            )
            passwords = host_file(
                f"{prefix}-store-passwords",
                h.secrets_file,
                access[h.name],
                own,
                secrets_text,
                also_remove=(h.restart_pending, h.stores_stamp),
            )
            kind = "server" if h.role is Role.BROKER else "connect"
            original = original_file(f"{prefix}-{kind}-properties", h.properties, access[h.name], own)
            self.certificates[h.name] = cert
            # Everything a restart on this host needs in place first.
            ready[h.name] = [cert.keystore_ready, trust, passwords, original]
            if h.tool_config:
                ready[h.name].append(host_file(f"{prefix}-gate-client-config", h.tool_config, access[h.name], own))

        def gate(step: RestartStep) -> pulumi.Output[Gate]:
            """What a restarted host must pass before the rollout goes on."""
            h = plan.host(step.host)
            address = h.host.bind_address or h.host.address
            timeout = config.restart.gate_timeout_seconds
            if step.role is Role.CONNECT:
                return pulumi.Output.from_input(
                    ConnectGate(
                        h.name, *connect_rest_endpoint(h.properties.text or "", address), timeout, h.host.host, h.locations.ca_pem
                    )
                )

            def broker_gate(fp: str) -> Gate:
                assert h.tls_port is not None and h.host.node_id is not None, "the plan gives every broker both"
                tls = TlsGate(
                    address=address, port=h.tls_port, server_name=h.host.host, sha256_fingerprint=fp, timeout_seconds=timeout
                )
                if h.tool_config is None:
                    return tls
                controller = replace(tls, port=h.controller_tls_port) if h.controller_tls_port else None
                return KafkaGate(
                    h.name, tls, h.host.node_id, config.restart.kafka_bin, h.tool_config.path, h.tools_port, controller
                )

            return self.certificates[h.name].sha256_fingerprint.apply(broker_gate)

        def scripts(step: RestartStep) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
            """The step's create and update scripts. Create: write the properties file, restart,
            wait for the gate (a stage first checks whether the host is already past it); a final
            step then removes what a path change left behind. Update: the same, if the last
            restart of this host did not pass its gate; else restart nothing."""
            h, f = plan.host(step.host), step.properties
            restart = config.restart.kafka if step.role is Role.BROKER else config.restart.connect

            def make(g: Gate) -> tuple[str, str]:
                if step.stage == "reload":
                    assert isinstance(g, KafkaGate), "a reload step is planned only for brokers with the Kafka gate"
                    create = reload_stores_script(g, tls_cfg.listener_name, h.locations, h.stores_stamp)
                    return create, resume_or(h.restart_pending, create, "cat >/dev/null\n")
                # A broker loaded its stores when it passed the gate: a reload step has nothing to do then.
                stamp = stamp_stores_script(h.stores_stamp, h.locations) if isinstance(g, KafkaGate) else ""
                if step.controller is not None:
                    first = step.controller is ControllerStage.FIRST
                    listener = tls_cfg.controller_ssl_listener
                    create = controller_stage_script(f.path, restart, g, f.owner, listener, first, h.restart_pending)
                    return create, resume_or(h.restart_pending, create, STAGE_PASSED_SCRIPT)
                if step.skip_if_inter_broker_ssl or step.back:
                    create = stage_script(f.path, restart, g, f.owner, tls_cfg.listener_name, h.restart_pending, back=step.back)
                    return create, resume_or(h.restart_pending, create, STAGE_PASSED_SCRIPT)
                create = write_and_restart_script(f.path, f.mode, f.owner, restart, g, h.restart_pending, then=stamp)
                create += remove_left_behind_script(dict(step.left_behind))
                return create, resume_or(h.restart_pending, create, rewrite_file_script(f.path, f.mode, f.owner))

            both = gate(step).apply(make)
            return both.apply(lambda b: b[0]), both.apply(lambda b: b[1])

        commands = []
        for step in plan.steps:
            f, cert = step.properties, self.certificates[step.host]
            # The plan names the triggers (plan.decide reads the same names); here only their values.
            host = plan.host(step.host)
            key, repair = host.key, host.repair
            values = {
                Trigger.PROPERTIES_PATH: f.path,
                # A repair note (plan.HostPlan.repair) re-runs the step once: part of the value.
                Trigger.PROPERTIES_TEXT: digest(f.text, repair) if repair else digest(f.text),
                Trigger.STORE_PASSWORDS: password_digest,
                Trigger.KEY_IDENTITY: digest(key.common_name, key.keytool_san, key.algorithm.value, str(key.rsa_bits)),
                Trigger.ISSUED_CERTIFICATE: cert.keystore_digest,
                Trigger.TRUSTED_CAS: trust_digest,
            }
            triggers = [values[t] for t in step.triggers]
            create, update = scripts(step)
            commands.append(
                RestartCommand(
                    step,
                    access[step.host],
                    create,
                    update,
                    triggers=triggers,
                    stdin=f.text,
                    after=ready[step.host],
                    host=self.hosts[step.host],
                )
            )
        self.rollout_done = RollingRestart(f"{name}-rollout", commands, child).done

        # Only once every host passed its gate: a failed `up` leaves the last phase for the next one.
        self.ca_rotation = pulumi.Output.all(self.rollout_done, ca.rotation_state).apply(lambda v: v[1])
        self.rollout_fingerprints = dict(plan.fingerprints)
        self.password_digest = password_digest
        self.restart_plan = plan.restart_plan()
        self.register_outputs(
            {
                "ca_cert_pem": self.ca_cert_pem,
                "ca_bundle_pem": self.ca_bundle_pem,
                "ssl_bootstrap_servers": self.ssl_bootstrap_servers,
                "client_settings": self.client_settings,
                "restart_plan": self.restart_plan,
                # What this up does, for policy packs (an output: inputs are diffed, outputs are not).
                "rollout": policy_view.rollout(plan),
            }
        )
