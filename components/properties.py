"""Rendering of server.properties, connect-avro-distributed.properties and client settings.

Pure functions: base properties + TLS settings -> text. Java properties escaping is jproperties'
(ISO-8859-1 with \\uXXXX escapes, as java.util.Properties reads them). Output order is stable:
the base file's keys in their own order (values overridden in place), then the managed keys in
the order this module lists them, so a preview diff shows only what really changed.

No secret is rendered: store passwords are ``${kafkatls:<file>:<key>}`` references resolved by
Kafka's FileConfigProvider (KIP-297/KIP-421) from a 0600 file on the host.
"""

from __future__ import annotations

import io
from pathlib import Path
from dataclasses import dataclass
from typing import Mapping, Optional

from jproperties import Properties

from components.config import ClientAuth, Host, ListenerMode, Paths, Protocol, StoreType, Tls

CONFIG_PROVIDER = "kafkatls"
SECRETS_FILE_NAME = "kafka-tls-secrets.properties"
HEADER = "Managed by kafka-tls: edits here are overwritten. Change the base file or the stack config."
# Keys whose ZooKeeper-era or alternative spelling must not stand beside ours.
_CONFLICTING_SERVER_KEYS = ("security.inter.broker.protocol",)


@dataclass(frozen=True)
class StoreLocations:
    """Where one host's stores and secrets file live."""

    keystore: str
    truststore: str
    secrets_file: str
    store_type: StoreType

    @classmethod
    def for_host(cls, paths: Paths, store_type: StoreType) -> "StoreLocations":
        ext = {StoreType.PKCS12: "p12", StoreType.JKS: "jks", StoreType.PEM: "pem"}[store_type]
        return cls(
            keystore=f"{paths.ssl_dir}/kafka.keystore.{ext}",
            truststore=f"{paths.ssl_dir}/kafka.truststore.{ext}",
            secrets_file=f"{paths.ssl_dir}/{SECRETS_FILE_NAME}",
            store_type=store_type,
        )


def parse_properties(text: str) -> dict[str, str]:
    """Java properties text -> ordered dict (the order of the file)."""
    props = Properties()
    props.load(text.encode("iso-8859-1", errors="backslashreplace"), encoding="iso-8859-1")
    return {key: props[key].data for key in props}


def read_base_properties(base_file: Optional[str], inline: Mapping[str, str]) -> dict[str, str]:
    """The user's own base: a properties file in the project, or inline keys from the stack config."""
    if base_file:
        return parse_properties(Path(base_file).read_text(encoding="iso-8859-1"))
    return dict(inline)


def format_properties(values: Mapping[str, str], header: str = HEADER) -> str:
    """Ordered mapping -> Java properties text, escaped as java.util.Properties expects.

    jproperties escapes each entry; entries are written one by one because its ``store`` sorts
    keys it did not read from a file, and the order here is the reader's order.
    """
    lines = [f"#{header}\n"]
    for key, value in values.items():
        entry = Properties()
        entry[key] = value
        out = io.BytesIO()
        entry.store(out, encoding="iso-8859-1", timestamp=False)
        lines.append(out.getvalue().decode("iso-8859-1"))
    return "".join(lines)


def _secret_ref(locations: StoreLocations, key: str) -> str:
    return "${%s:%s:%s}" % (CONFIG_PROVIDER, locations.secrets_file, key)


def secrets_file_values(keystore_password: str, truststore_password: str) -> dict[str, str]:
    """The contents of the host's secrets file (read by Kafka's FileConfigProvider)."""
    return {
        "keystore.password": keystore_password,
        "key.password": keystore_password,  # PKCS12 needs key password == store password
        "truststore.password": truststore_password,
    }


def store_settings(locations: StoreLocations, prefix: str = "", keystore: bool = True) -> dict[str, str]:
    """ssl.* store settings, optionally with a client prefix such as 'producer.'."""
    out = {
        f"{prefix}ssl.truststore.type": locations.store_type.value,
        f"{prefix}ssl.truststore.location": locations.truststore,
    }
    # Kafka refuses passwords on PEM stores; the PEM key is protected by file mode 0600.
    if locations.store_type is not StoreType.PEM:
        out[f"{prefix}ssl.truststore.password"] = _secret_ref(locations, "truststore.password")
    if keystore:
        out[f"{prefix}ssl.keystore.type"] = locations.store_type.value
        out[f"{prefix}ssl.keystore.location"] = locations.keystore
        if locations.store_type is not StoreType.PEM:
            out[f"{prefix}ssl.keystore.password"] = _secret_ref(locations, "keystore.password")
            out[f"{prefix}ssl.key.password"] = _secret_ref(locations, "key.password")
    return out


def _config_provider_settings() -> dict[str, str]:
    return {
        "config.providers": CONFIG_PROVIDER,
        f"config.providers.{CONFIG_PROVIDER}.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
    }


def _tls_protocol_settings(tls: Tls, prefix: str = "") -> dict[str, str]:
    return {
        f"{prefix}ssl.enabled.protocols": ",".join(tls.enabled_protocols),
        f"{prefix}ssl.protocol": "TLSv1.3" if "TLSv1.3" in tls.enabled_protocols else "TLSv1.2",
        # Hostname verification on (Kafka's default since 2.0; written so nobody turns it off by accident).
        f"{prefix}ssl.endpoint.identification.algorithm": "https",
    }


def _is_controller(base: Mapping[str, str]) -> bool:
    return "controller" in base.get("process.roles", "")


def render_server_properties(
    base: Mapping[str, str], host: Host, tls: Tls, locations: StoreLocations
) -> str:
    """server.properties for one broker: the user's base + the TLS settings + host overrides."""
    bind = host.bind_address
    listeners = []
    advertised = []
    protocol_map = []
    if tls.listeners is ListenerMode.PLAINTEXT_AND_SSL:
        listeners.append(f"PLAINTEXT://{bind}:{tls.plaintext_port}")
        advertised.append(f"PLAINTEXT://{host.host}:{tls.plaintext_port}")
        protocol_map.append("PLAINTEXT:PLAINTEXT")
    listeners.append(f"SSL://{bind}:{tls.ssl_port}")
    advertised.append(f"SSL://{host.host}:{tls.ssl_port}")
    protocol_map.append("SSL:SSL")
    managed: dict[str, str] = {}
    if host.node_id is not None:
        managed["node.id"] = str(host.node_id)
    if _is_controller(base):
        listeners.append(f"{tls.controller_listener}://{bind}:{tls.controller_port}")
        managed["controller.listener.names"] = tls.controller_listener
    protocol_map.append(f"{tls.controller_listener}:{tls.controller_protocol.value}")
    managed.update(
        {
            "listeners": ",".join(listeners),
            "advertised.listeners": ",".join(advertised),
            "listener.security.protocol.map": ",".join(protocol_map),
            "inter.broker.listener.name": tls.inter_broker_protocol.value,
            "ssl.client.auth": tls.client_auth.value,
            **_tls_protocol_settings(tls),
            **store_settings(locations),
            **_config_provider_settings(),
        }
    )
    return _merge(base, managed, host.properties, drop=_CONFLICTING_SERVER_KEYS)


def _merge(
    base: Mapping[str, str], managed: Mapping[str, str], overrides: Mapping[str, str], drop: tuple[str, ...] = ()
) -> str:
    merged = {k: v for k, v in base.items() if k not in drop}
    for key, value in {**managed, **overrides}.items():
        merged[key] = value  # in place when the base has the key, appended otherwise
    return format_properties(merged)


def rollout_stages(tls: Tls) -> list[Tls]:
    """The intermediate broker configs a live plaintext cluster must pass through.

    A broker whose inter-broker listener is SSL cannot replicate from peers that have no SSL
    listener yet (the seed's "2 of 3 brokers fine, the leader logging endless errors"); a broker
    without a PLAINTEXT listener cannot serve peers still replicating over PLAINTEXT. So:
    1. add the SSL listener, inter-broker traffic stays on PLAINTEXT;
    2. move inter-broker traffic to SSL, PLAINTEXT listener kept;
    then the final config. A host whose running config already replicates over SSL skips both.
    """
    if tls.inter_broker_protocol is Protocol.PLAINTEXT:
        return []
    both = {"listeners": ListenerMode.PLAINTEXT_AND_SSL}
    stages = [tls.model_copy(update={**both, "inter_broker_protocol": Protocol.PLAINTEXT})]
    if tls.listeners is ListenerMode.SSL_ONLY:
        stages.append(tls.model_copy(update=both))
    return stages


def ssl_bootstrap_servers(brokers: list[Host], tls: Tls) -> str:
    return ",".join(f"{b.host}:{tls.ssl_port}" for b in brokers)


def render_connect_properties(
    base: Mapping[str, str],
    host: Host,
    tls: Tls,
    locations: StoreLocations,
    bootstrap_servers: str,
    schema_registry_url: Optional[str] = None,
) -> str:
    """connect-avro-distributed.properties for one worker.

    The worker, its producers, consumers and admin client (dead-letter queues, topic creation)
    each need their own SSL section: Connect does not pass the worker's settings on to them.
    """
    with_keystore = tls.client_auth is not ClientAuth.NONE
    managed: dict[str, str] = {}
    for prefix in ("", "producer.", "consumer.", "admin."):
        managed[f"{prefix}bootstrap.servers"] = bootstrap_servers
        managed[f"{prefix}security.protocol"] = "SSL"
        managed.update(_tls_protocol_settings(tls, prefix))
        managed.update(store_settings(locations, prefix, keystore=with_keystore))
    if schema_registry_url and schema_registry_url.startswith("https://"):
        for converter in ("key.converter", "value.converter"):
            prefix = f"{converter}.schema.registry."
            managed[f"{converter}.schema.registry.url"] = schema_registry_url
            managed.update(store_settings(locations, prefix, keystore=with_keystore))
    managed.update(_config_provider_settings())
    return _merge(base, managed, host.properties)


def client_settings(brokers: list[Host], tls: Tls) -> dict[str, dict[str, str]]:
    """Ready-to-use client settings: Java properties and librdkafka (confluent-kafka) keys.

    The CA file path is a placeholder the consumer fills in (``<ca.pem>``): the CA certificate
    itself is a separate stack output.
    """
    servers = ssl_bootstrap_servers(brokers, tls)
    return {
        "java": {
            "bootstrap.servers": servers,
            "security.protocol": "SSL",
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": "<ca.pem>",
            "ssl.endpoint.identification.algorithm": "https",
        },
        "librdkafka": {
            "bootstrap.servers": servers,
            "security.protocol": "SSL",
            "ssl.ca.location": "<ca.pem>",
            "ssl.endpoint.identification.algorithm": "https",
        },
    }
