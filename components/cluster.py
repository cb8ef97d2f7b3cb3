"""KafkaTlsCluster: the top component that ties the others together and carries the outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pulumi

from components.certificate_authority import CertificateAuthority, CertificateAuthorityArgs
from components.config import ClusterConfig, Host
from components.host_certificate import HostCertificate, HostCertificateArgs
from components.keystores import digest
from components.properties import (
    StoreLocations,
    client_settings,
    parse_properties,
    render_connect_properties,
    render_server_properties,
    rollout_stages,
    ssl_bootstrap_servers,
)
from components.providers import providers_for
from components.properties_file import (
    BrokerConfig,
    ConnectWorkerConfig,
    PropertiesFileArgs,
    StorePasswords,
    StorePasswordsArgs,
)
from components.rolling_restart import RestartStep, RollingRestart
from components.scripts import KeySpec, TlsGate, restart_script, stage_script
from components.truststore import Truststore, TruststoreArgs


def base_properties(base_file: Optional[str], inline: dict[str, str]) -> dict[str, str]:
    """The user's own base: a properties file in the repo, or inline keys from the stack config."""
    if base_file:
        return parse_properties(Path(base_file).read_text(encoding="iso-8859-1"))
    return dict(inline)


def key_spec(host: Host, config: ClusterConfig) -> KeySpec:
    return KeySpec(
        alias=host.name,
        common_name=host.host,
        dns_names=tuple(host.dns_names),
        ip_addresses=tuple(host.ip_addresses),
        algorithm=config.tls.key_algorithm,
        rsa_bits=config.tls.rsa_bits,
        validity_days=config.tls.cert_validity_days,
    )


class KafkaTlsCluster(pulumi.ComponentResource):
    """A Kafka cluster on SSH hosts, moved to TLS and kept there."""

    ca_cert_pem: pulumi.Output[str]
    ssl_bootstrap_servers: str
    certificates: dict[str, HostCertificate]
    client_settings: dict[str, dict[str, str]]

    def __init__(self, name: str, config: ClusterConfig, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kafka-tls:index:KafkaTlsCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tls_cfg, paths = config.tls, config.paths
        keystore_password = pulumi.Output.secret(config.keystore_password.get_secret_value())
        truststore_password = pulumi.Output.secret(config.truststore_password.get_secret_value())
        ssh_key = pulumi.Output.secret(config.ssh_private_key.get_secret_value())
        locations = StoreLocations.for_host(paths, tls_cfg.store_type)
        # A password change must restart the services, but its digest must not be readable.
        password_digest = pulumi.Output.secret(
            pulumi.Output.all(keystore_password, truststore_password).apply(lambda v: digest(*v))
        )

        providers = providers_for(config.providers)
        ca = CertificateAuthority(f"{name}-ca", CertificateAuthorityArgs(config.ca, providers, config.ca_import), child)
        self.ca_cert_pem = ca.cert_pem
        self.ssl_bootstrap_servers = ssl_bootstrap_servers(config.brokers, tls_cfg)
        self.client_settings = client_settings(config.brokers, tls_cfg)

        def connection(host: Host) -> dict:
            return {
                "host": host.address,
                "port": config.ssh.port,
                "user": config.ssh.user,
                "private_key": ssh_key,
                "host_key": host.host_key,
            }

        self.certificates = {}
        stores: dict[str, list[pulumi.Resource]] = {}
        for host in config.hosts:
            cert = HostCertificate(
                host.name,
                HostCertificateArgs(
                    spec=key_spec(host, config),
                    locations=locations,
                    custody=tls_cfg.key_custody,
                    connection=connection(host),
                    ca=ca,
                    keystore_password=keystore_password,
                    owner=paths.owner,
                    early_renewal_days=tls_cfg.cert_early_renewal_days,
                    providers=providers,
                ),
                child,
            )
            trust = Truststore(
                f"{host.name}-truststore",
                TruststoreArgs(locations, connection(host), ca.cert_pem, truststore_password, paths.owner, providers),
                child,
            )
            passwords = StorePasswords(
                f"{host.name}-store-passwords",
                StorePasswordsArgs(
                    locations, connection(host), keystore_password, truststore_password, paths.owner, providers
                ),
                child,
            )
            self.certificates[host.name] = cert
            # Everything a restart on this host needs in place first.
            stores[host.name] = [cert.keystore_ready, trust.file, passwords.file]

        def gate(host: Host) -> pulumi.Output[TlsGate]:
            return self.certificates[host.name].sha256_fingerprint.apply(
                lambda fp: TlsGate(
                    address=host.bind_address or host.address,
                    port=tls_cfg.ssl_port,
                    server_name=host.host,
                    sha256_fingerprint=fp,
                    timeout_seconds=config.restart.gate_timeout_seconds,
                )
            )

        # The plaintext-to-SSL rollout: each stage rolls through every broker before the next.
        server_base = base_properties(config.server_base_file, config.server_properties)
        previous: list[pulumi.Resource] = []
        for number, stage in enumerate(rollout_stages(tls_cfg), start=1):
            steps = [
                RestartStep(
                    host_name=b.name,
                    connection=connection(b),
                    script=gate(b).apply(
                        lambda g: stage_script(paths.server_properties, config.restart.kafka, g, paths.owner)
                    ),
                    stdin=render_server_properties(server_base, b, stage, locations),
                    after=stores[b.name],
                )
                for b in config.brokers
            ]
            previous = RollingRestart(f"{name}-stage{number}", steps, providers, after=previous, opts=child).last

        broker_steps = []
        for b in config.brokers:
            text = render_server_properties(server_base, b, tls_cfg, locations)
            props = BrokerConfig(
                f"{b.name}-server-properties",
                PropertiesFileArgs(
                    paths.server_properties, text, connection(b), paths.owner, providers, after=tuple(previous)
                ),
                child,
            )
            broker_steps.append(
                RestartStep(
                    host_name=b.name,
                    connection=connection(b),
                    script=gate(b).apply(lambda g: restart_script(config.restart.kafka, g)),
                    triggers=[digest(text), self.certificates[b.name].keystore_digest, password_digest],
                    after=[props.file, *stores[b.name]],
                )
            )
        brokers_done = RollingRestart(f"{name}-restart", broker_steps, providers, after=previous, opts=child).last

        connect_base = base_properties(config.connect_base_file, config.connect_properties)
        connect_steps = []
        for w in config.connect_workers:
            text = render_connect_properties(
                connect_base, w, tls_cfg, locations, self.ssl_bootstrap_servers, config.schema_registry_url
            )
            props = ConnectWorkerConfig(
                f"{w.name}-connect-properties",
                PropertiesFileArgs(paths.connect_properties, text, connection(w), paths.owner, providers),
                child,
            )
            connect_steps.append(
                RestartStep(
                    host_name=w.name,
                    connection=connection(w),
                    script=restart_script(config.restart.connect, None),
                    triggers=[digest(text), self.certificates[w.name].keystore_digest, password_digest],
                    after=[props.file, *stores[w.name]],
                )
            )
        # Workers move to SSL only once every broker serves it.
        RollingRestart(f"{name}-connect-restart", connect_steps, providers, after=brokers_done, opts=child)

        self.register_outputs(
            {
                "ca_cert_pem": self.ca_cert_pem,
                "ssl_bootstrap_servers": self.ssl_bootstrap_servers,
                "client_settings": self.client_settings,
            }
        )
