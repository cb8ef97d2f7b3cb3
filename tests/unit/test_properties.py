"""Rendering of server.properties / connect properties: golden files plus key-by-key checks.

Regenerate the golden files with ``UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_properties.py``
(they are written, then compared as usual); review the diff before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pydantic import ValidationError

from components.config import (
    DEFAULT_CIPHER_SUITES,
    ClientAuth,
    Host,
    ListenerMode,
    Paths,
    Protocol,
    StoreType,
    Tls,
    validate_config,
)
from components.properties import (
    HEADER,
    SECRETS_FILE_NAME,
    ControllerStage,
    StoreLocations,
    client_settings,
    connect_rest_endpoint,
    controller_tls_port,
    format_properties,
    gate_tools_port,
    listener_problems,
    parse_properties,
    render_connect_properties,
    render_server_properties,
    render_tool_properties,
    rollout_stages,
    ssl_bootstrap_servers,
    tls_listener_port,
)
from tests.unit.sample import HOST_KEY, sample

GOLDEN = Path(__file__).parent / "golden"
PATHS = Paths()
SSL_DIR = PATHS.ssl_dir
SECRETS = f"{SSL_DIR}/{SECRETS_FILE_NAME}"
BROKERS = [
    Host(name=f"broker-{i}", host=f"kafka-{i}.example.com", address=f"10.0.0.{10 + i}", host_key=HOST_KEY, node_id=i)
    for i in (1, 2, 3)
]
BROKER = BROKERS[0]
WORKER = Host(name="connect-1", host="connect-1.example.com", address="10.0.0.21", host_key=HOST_KEY)
BOOTSTRAP = "kafka-1.example.com:9093,kafka-2.example.com:9093,kafka-3.example.com:9093"

# A seed-era broker base: PLAINTEXT only, inter-broker protocol spelled the old way.
SEED_BASE = {
    "process.roles": "broker",
    "controller.quorum.voters": "1@kafka-1.example.com:9094,2@kafka-2.example.com:9094,3@kafka-3.example.com:9094",
    "controller.listener.names": "CONTROLLER",
    "listeners": "PLAINTEXT://:9092",
    "security.inter.broker.protocol": "PLAINTEXT",
    "log.dirs": "/var/lib/kafka/data",
    "num.partitions": "3",
}
KRAFT_BASE = {
    "process.roles": "broker,controller",
    "controller.quorum.voters": "1@kafka-1.example.com:9094,2@kafka-2.example.com:9094,3@kafka-3.example.com:9094",
    "log.dirs": "/var/lib/kafka/data",
}
# A cluster with its own listener names: replication on INTERNAL, clients on EXTERNAL.
NAMED_BASE = {
    "process.roles": "broker,controller",
    "controller.quorum.voters": "1@kafka-1.example.com:9094,2@kafka-2.example.com:9094,3@kafka-3.example.com:9094",
    "controller.listener.names": "CONTROLLER",
    "listeners": "INTERNAL://:9092,EXTERNAL://:9095,CONTROLLER://:9094",
    "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "inter.broker.listener.name": "INTERNAL",
    "log.dirs": "/var/lib/kafka/data",
}
CONNECT_BASE = {
    "group.id": "connect-cluster",
    "bootstrap.servers": "kafka-1.example.com:9092",
    "key.converter": "io.confluent.connect.avro.AvroConverter",
    "value.converter": "io.confluent.connect.avro.AvroConverter",
    "offset.storage.topic": "connect-offsets",
}
CONNECT_SECTIONS = ("", "producer.", "consumer.", "admin.")


def locations(store_type: StoreType = StoreType.PKCS12) -> StoreLocations:
    return StoreLocations.for_host(PATHS, store_type)


def ref(key: str) -> str:
    return "${kafkatls:%s:%s}" % (SECRETS, key)


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("iso-8859-1"))
    assert path.is_file(), f"no golden file {path}; run with UPDATE_GOLDEN=1 to write it"
    assert text == path.read_bytes().decode("iso-8859-1")


def assert_store_settings(props: dict, prefix: str = "", keystore: bool = True, ext: str = "p12", kind: str = "PKCS12"):
    assert props[f"{prefix}ssl.truststore.type"] == kind
    assert props[f"{prefix}ssl.truststore.location"] == f"{SSL_DIR}/kafka.truststore.{ext}"
    assert props[f"{prefix}ssl.truststore.password"] == ref("truststore.password")
    if keystore:
        assert props[f"{prefix}ssl.keystore.type"] == kind
        assert props[f"{prefix}ssl.keystore.location"] == f"{SSL_DIR}/kafka.keystore.{ext}"
        assert props[f"{prefix}ssl.keystore.password"] == ref("keystore.password")
        assert props[f"{prefix}ssl.key.password"] == ref("key.password")
    else:
        for key in ("ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.password", "ssl.key.password"):
            assert prefix + key not in props


def assert_tls_protocols(props: dict, prefix: str = ""):
    assert props[f"{prefix}ssl.enabled.protocols"] == "TLSv1.3,TLSv1.2"
    assert props[f"{prefix}ssl.protocol"] == "TLSv1.3"
    assert props[f"{prefix}ssl.cipher.suites"] == ",".join(DEFAULT_CIPHER_SUITES)
    assert props[f"{prefix}ssl.endpoint.identification.algorithm"] == "https"


def assert_config_provider(props: dict):
    assert props["config.providers"] == "kafkatls"
    assert props["config.providers.kafkatls.class"] == "org.apache.kafka.common.config.provider.FileConfigProvider"


# --- server.properties golden files ---------------------------------------------------------------


def test_server_default_plaintext_and_ssl():
    text = render_server_properties(SEED_BASE, BROKER, Tls(), locations())
    assert_golden("server_default.properties", text)
    props = parse_properties(text)
    assert props["listeners"] == "PLAINTEXT://:9092,SSL://:9093"
    assert props["advertised.listeners"] == "PLAINTEXT://kafka-1.example.com:9092,SSL://kafka-1.example.com:9093"
    assert props["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT"
    assert props["inter.broker.listener.name"] == "SSL"
    assert "security.inter.broker.protocol" not in props
    assert props["ssl.client.auth"] == "none"
    assert props["node.id"] == "1"
    assert_tls_protocols(props)
    assert_store_settings(props)
    assert_config_provider(props)
    # The broker-only base keeps its own controller settings.
    assert props["process.roles"] == "broker"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == "/var/lib/kafka/data"
    assert props["num.partitions"] == "3"


def test_server_ssl_only():
    tls = Tls(listeners=ListenerMode.SSL_ONLY)
    text = render_server_properties(SEED_BASE, BROKER, tls, locations())
    assert_golden("server_ssl_only.properties", text)
    props = parse_properties(text)
    assert props["listeners"] == "SSL://:9093"
    assert props["advertised.listeners"] == "SSL://kafka-1.example.com:9093"
    assert props["listener.security.protocol.map"] == "SSL:SSL,CONTROLLER:PLAINTEXT"
    assert "PLAINTEXT://" not in props["listeners"] + props["advertised.listeners"]
    assert props["inter.broker.listener.name"] == "SSL"
    assert "security.inter.broker.protocol" not in props
    assert props["ssl.client.auth"] == "none"
    assert_tls_protocols(props)
    assert_store_settings(props)
    assert_config_provider(props)


def test_server_kraft_controller():
    text = render_server_properties(KRAFT_BASE, BROKER, Tls(), locations())
    assert_golden("server_kraft_controller.properties", text)
    props = parse_properties(text)
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://:9092,SSL://:9093,CONTROLLER://:9094"
    # Controllers are reached through controller.quorum.voters, not the advertised listeners.
    assert props["advertised.listeners"] == "PLAINTEXT://kafka-1.example.com:9092,SSL://kafka-1.example.com:9093"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT"
    assert props["inter.broker.listener.name"] == "SSL"
    assert props["ssl.client.auth"] == "none"
    assert props["node.id"] == "1"
    assert_tls_protocols(props)
    assert_store_settings(props)


def test_a_plaintext_controller_listener_moves_to_tls_in_three_stages():
    tls = Tls(controller_protocol=Protocol.SSL)
    voters = "1@kafka-1.example.com:9094,2@kafka-2.example.com:9094,3@kafka-3.example.com:9094"
    stages = {
        stage: parse_properties(render_server_properties(KRAFT_BASE, BROKER, tls, locations(), stage))
        for stage in ControllerStage
    }
    added, first, done = (stages[s] for s in ControllerStage)
    # 1: the TLS listener beside the plaintext one, which every node still dials (voters unchanged).
    assert added["listeners"] == "PLAINTEXT://:9092,SSL://:9093,CONTROLLER://:9094,CONTROLLER_SSL://:9096"
    assert added["controller.listener.names"] == "CONTROLLER,CONTROLLER_SSL"
    assert added["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT,CONTROLLER_SSL:SSL"
    assert added["controller.quorum.voters"] == voters
    # 2: dialled first, on its port; the plaintext one still accepts peers not yet rolled.
    assert first["listeners"] == added["listeners"]
    assert first["controller.listener.names"] == "CONTROLLER_SSL,CONTROLLER"
    assert first["controller.quorum.voters"] == voters.replace(":9094", ":9096")
    # 3: the plaintext one gone; neither controller listener is ever advertised.
    assert done["listeners"] == "PLAINTEXT://:9092,SSL://:9093,CONTROLLER_SSL://:9096"
    assert done["controller.listener.names"] == "CONTROLLER_SSL"
    assert done["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,SSL:SSL,CONTROLLER_SSL:SSL"
    assert done["controller.quorum.voters"] == voters.replace(":9094", ":9096")
    assert all("CONTROLLER" not in p["advertised.listeners"] for p in stages.values())
    # The final config is the default stage, and the gate dials the new listener.
    assert render_server_properties(KRAFT_BASE, BROKER, tls, locations()) == render_server_properties(
        KRAFT_BASE, BROKER, tls, locations(), ControllerStage.DONE
    )
    assert controller_tls_port(KRAFT_BASE, BROKER, tls) == 9096
    assert controller_tls_port(KRAFT_BASE, BROKER, Tls()) is None


def test_a_host_override_of_the_voters_is_moved_too_and_a_bound_listener_keeps_its_address():
    tls = Tls(controller_protocol=Protocol.SSL, controller_listener="QUORUM", controller_ssl_port=9196)
    own = {"controller.quorum.voters": "1@[fd00::11]:9094,2@10.0.0.12:9094"}
    host = BROKER.model_copy(update={"properties": own})
    base = {**NAMED_BASE, "listeners": "INTERNAL://:9092,EXTERNAL://:9095,CONTROLLER://10.0.0.11:9094"}
    props = parse_properties(render_server_properties(base, host, tls, locations()))
    assert props["controller.quorum.voters"] == "1@[fd00::11]:9196,2@10.0.0.12:9196"
    assert props["listeners"].endswith(",CONTROLLER_SSL://10.0.0.11:9196")



def test_server_broker_only_gets_no_controller_listener():
    props = parse_properties(render_server_properties(SEED_BASE, BROKER, Tls(), locations()))
    assert "CONTROLLER://" not in props["listeners"]


def test_server_client_auth_required():
    tls = Tls(client_auth=ClientAuth.REQUIRED)
    text = render_server_properties(SEED_BASE, BROKER, tls, locations())
    assert_golden("server_client_auth_required.properties", text)
    props = parse_properties(text)
    assert props["ssl.client.auth"] == "required"
    assert props["listeners"] == "PLAINTEXT://:9092,SSL://:9093"
    assert props["advertised.listeners"] == "PLAINTEXT://kafka-1.example.com:9092,SSL://kafka-1.example.com:9093"
    assert props["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT"
    assert props["inter.broker.listener.name"] == "SSL"
    assert_tls_protocols(props)
    assert_store_settings(props)


# --- connect properties golden files --------------------------------------------------------------


def render_connect(tls: Tls = Tls(), registry: str | None = None, store_type: StoreType = StoreType.PKCS12) -> str:
    return render_connect_properties(CONNECT_BASE, WORKER, tls, locations(store_type), BOOTSTRAP, registry)


def assert_connect_sections(props: dict, keystore: bool):
    for prefix in CONNECT_SECTIONS:
        assert props[f"{prefix}bootstrap.servers"] == BOOTSTRAP
        assert props[f"{prefix}security.protocol"] == "SSL"
        assert props[f"{prefix}ssl.truststore.location"] == f"{SSL_DIR}/kafka.truststore.p12"
        assert_tls_protocols(props, prefix)
        assert_store_settings(props, prefix, keystore=keystore)
    assert_config_provider(props)
    assert props["group.id"] == "connect-cluster"
    assert props["offset.storage.topic"] == "connect-offsets"


def test_connect_default():
    text = render_connect()
    assert_golden("connect_default.properties", text)
    props = parse_properties(text)
    assert_connect_sections(props, keystore=False)
    assert not any("schema.registry" in key for key in props)


@pytest.mark.parametrize("listeners,endpoint", [
    (None, ("10.0.0.21", 8083, "http")),
    ("http://:8083", ("10.0.0.21", 8083, "http")),
    ("HTTPS://0.0.0.0:8443", ("10.0.0.21", 8443, "https")),
    ("https://connect-1.example.com:8443,http://:8083", ("connect-1.example.com", 8443, "https")),
    ("https://[2001:db8::21]:8443", ("2001:db8::21", 8443, "https")),
    ("http://[::]:8083", ("10.0.0.21", 8083, "http")),
])
def test_connect_rest_endpoint_is_the_first_listener_with_its_scheme(listeners, endpoint):
    text = format_properties({"listeners": listeners} if listeners else {})
    assert connect_rest_endpoint(text, "10.0.0.21") == endpoint


def test_connect_client_auth_required():
    text = render_connect(Tls(client_auth=ClientAuth.REQUIRED))
    assert_golden("connect_client_auth_required.properties", text)
    props = parse_properties(text)
    assert_connect_sections(props, keystore=True)


def test_connect_client_auth_requested_also_presents_a_keystore():
    props = parse_properties(render_connect(Tls(client_auth=ClientAuth.REQUESTED)))
    assert_connect_sections(props, keystore=True)


@pytest.mark.parametrize("listeners", ["https://0.0.0.0:8443", "http://:8083,HTTPS://:8443"])
def test_connect_https_rest_listener_gets_the_workers_own_keystore(listeners):
    """Connect serves an https REST listener from the worker's top-level ssl.* (no
    listeners.https.* keys): without client authentication the worker still needs its keystore
    there, and its clients still present none."""
    worker = WORKER.model_copy(update={"properties": {"listeners": listeners}})
    props = parse_properties(render_connect_properties(CONNECT_BASE, worker, Tls(), locations(), BOOTSTRAP))
    assert_store_settings(props, "", keystore=True)
    for prefix in ("producer.", "consumer.", "admin."):
        assert_store_settings(props, prefix, keystore=False)
    assert not any(key.startswith("listeners.https.") for key in props)


def test_connect_schema_registry_https():
    registry = "https://schema-registry.example.com:8081"
    text = render_connect(registry=registry)
    assert_golden("connect_schema_registry_https.properties", text)
    props = parse_properties(text)
    assert_connect_sections(props, keystore=False)
    for converter in ("key.converter", "value.converter"):
        prefix = f"{converter}.schema.registry."
        assert props[f"{prefix}url"] == registry
        assert_store_settings(props, prefix, keystore=False)


def test_connect_schema_registry_https_with_client_auth():
    props = parse_properties(render_connect(Tls(client_auth=ClientAuth.REQUIRED), "https://schema-registry.example.com:8081"))
    for converter in ("key.converter", "value.converter"):
        assert_store_settings(props, f"{converter}.schema.registry.", keystore=True)


def test_connect_schema_registry_http():
    text = render_connect(registry="http://schema-registry.example.com:8081")
    assert_golden("connect_schema_registry_http.properties", text)
    props = parse_properties(text)
    assert_connect_sections(props, keystore=False)
    assert not any("schema.registry" in key for key in props)
    assert text == render_connect()


# --- ordering, merging, overrides -----------------------------------------------------------------


def test_output_is_deterministic():
    assert render_server_properties(SEED_BASE, BROKER, Tls(), locations()) == render_server_properties(
        dict(SEED_BASE), BROKER, Tls(), locations()
    )
    assert render_connect(registry="https://sr.example.com") == render_connect(registry="https://sr.example.com")


def test_output_starts_with_the_header():
    text = render_server_properties(SEED_BASE, BROKER, Tls(), locations())
    assert text.splitlines()[0] == "#" + HEADER


def test_base_values_overridden_once():
    base = {"listeners": "PLAINTEXT://:9092", "ssl.client.auth": "requested", "ssl.protocol": "TLSv1"}
    text = render_server_properties(base, BROKER, Tls(), locations())
    props = parse_properties(text)
    assert props["listeners"] == "PLAINTEXT://:9092,SSL://:9093"
    assert props["ssl.client.auth"] == "none"
    assert props["ssl.protocol"] == "TLSv1.3"
    keys = [line.split("=", 1)[0] for line in text.splitlines() if line and not line.startswith("#")]
    assert len(keys) == len(set(keys))


def test_base_keys_kept():
    base = {"zookeeper.connect": "zk:2181", "auto.create.topics.enable": "false", "log.dirs": "/data"}
    props = parse_properties(render_server_properties(base, BROKER, Tls(), locations()))
    for key, value in base.items():
        assert props[key] == value


def test_parse_properties_keeps_file_order():
    text = "z.key=1\na.key=2\nm.key=3\n"
    assert list(parse_properties(text)) == ["z.key", "a.key", "m.key"]


def test_seed_security_inter_broker_protocol_is_dropped():
    for tls in (Tls(), Tls(inter_broker_protocol=Protocol.PLAINTEXT)):
        props = parse_properties(render_server_properties(SEED_BASE, BROKER, tls, locations()))
        assert "security.inter.broker.protocol" not in props
        assert props["inter.broker.listener.name"] == tls.inter_broker_protocol.value


def test_per_host_overrides_win():
    host = BROKER.model_copy(
        update={"properties": {"ssl.client.auth": "requested", "num.partitions": "12", "broker.rack": "rack-a"}}
    )
    props = parse_properties(render_server_properties(SEED_BASE, host, Tls(), locations()))
    assert props["ssl.client.auth"] == "requested"  # beats the managed value
    assert props["num.partitions"] == "12"  # beats the base value
    assert props["broker.rack"] == "rack-a"  # added

    worker = WORKER.model_copy(update={"properties": {"consumer.security.protocol": "PLAINTEXT", "rest.port": "8084"}})
    props = parse_properties(render_connect_properties(CONNECT_BASE, worker, Tls(), locations(), BOOTSTRAP))
    assert props["consumer.security.protocol"] == "PLAINTEXT"
    assert props["rest.port"] == "8084"
    assert props["producer.security.protocol"] == "SSL"


def test_bind_address_used_in_listeners_only():
    host = BROKER.model_copy(update={"bind_address": "10.0.0.11"})
    props = parse_properties(render_server_properties(KRAFT_BASE, host, Tls(), locations()))
    assert props["listeners"] == "PLAINTEXT://10.0.0.11:9092,SSL://10.0.0.11:9093,CONTROLLER://10.0.0.11:9094"
    assert props["advertised.listeners"] == "PLAINTEXT://kafka-1.example.com:9092,SSL://kafka-1.example.com:9093"


def test_custom_ports_and_protocols():
    tls = Tls(plaintext_port=19092, ssl_port=19093, enabled_protocols=["TLSv1.2"])
    without_listeners = {k: v for k, v in SEED_BASE.items() if k != "listeners"}
    props = parse_properties(render_server_properties(without_listeners, BROKER, tls, locations()))
    assert props["listeners"] == "PLAINTEXT://:19092,SSL://:19093"
    assert props["ssl.enabled.protocols"] == "TLSv1.2"
    assert props["ssl.protocol"] == "TLSv1.2"
    # A listener of the base keeps its own port: plaintextPort is only the default's.
    props = parse_properties(render_server_properties(SEED_BASE, BROKER, tls, locations()))
    assert props["listeners"] == "PLAINTEXT://:9092,SSL://:19093"


# --- escaping -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        r"C:\kafka\data",
        "\\\\server\\share",
        "héllo wörld",
        "€ – “quoted” ✓",
        "😀 emoji",
        "with spaces inside",
        "  leading spaces",
        "trailing spaces  ",
        "a=b:c#!d",
        "line\nbreak\ttab",
        "${kafkatls:/etc/kafka/ssl/x.properties:key}",
        "",
    ],
)
def test_values_round_trip(value):
    values = {"plain.key": value, "key with spaces=and:colon": value}
    text = format_properties(values)
    text.encode("ascii")  # everything non-ASCII is \\uXXXX-escaped, as java.util.Properties reads it
    assert parse_properties(text) == values


def test_escaping_is_java_style():
    text = format_properties({"path": r"C:\dir", "url": "https://x:1", "name": "é"})
    lines = text.splitlines()
    assert r"path=C\:\\dir" in lines
    assert r"url=https\://x\:1" in lines
    assert r"name=\u00e9" in lines


def test_rendered_value_with_backslash_round_trips():
    host = BROKER.model_copy(update={"properties": {"log.dirs": r"D:\kafka\logs", "note": "ünïcödé value"}})
    props = parse_properties(render_server_properties(SEED_BASE, host, Tls(), locations()))
    assert props["log.dirs"] == r"D:\kafka\logs"
    assert props["note"] == "ünïcödé value"


# --- store types ----------------------------------------------------------------------------------


def test_pem_store_type_has_no_password_keys():
    for text in (
        render_server_properties(SEED_BASE, BROKER, Tls(store_type=StoreType.PEM), locations(StoreType.PEM)),
        render_connect(Tls(client_auth=ClientAuth.REQUIRED, store_type=StoreType.PEM), "https://sr.example.com", StoreType.PEM),
    ):
        props = parse_properties(text)
        assert not [k for k in props if k.endswith(("ssl.truststore.password", "ssl.keystore.password", "ssl.key.password"))]
        assert "kafka-tls-secrets" not in text
        assert props["ssl.truststore.type"] == "PEM"
        assert props["ssl.truststore.location"] == f"{SSL_DIR}/kafka.truststore.pem"
        assert props["ssl.keystore.type"] == "PEM"
        assert props["ssl.keystore.location"] == f"{SSL_DIR}/kafka.keystore.pem"


def test_jks_store_type():
    props = parse_properties(render_server_properties(SEED_BASE, BROKER, Tls(store_type=StoreType.JKS), locations(StoreType.JKS)))
    assert_store_settings(props, ext="jks", kind="JKS")


def test_store_locations_for_host():
    paths = Paths(ssl_dir="/opt/ssl")
    loc = StoreLocations.for_host(paths, StoreType.PKCS12)
    assert loc.keystore == "/opt/ssl/kafka.keystore.p12"
    assert loc.truststore == "/opt/ssl/kafka.truststore.p12"
    assert loc.secrets_file == f"/opt/ssl/{SECRETS_FILE_NAME}"


def test_no_secret_values_rendered():
    # Passwords are FileConfigProvider references; the store passwords never reach the text.
    text = render_server_properties(SEED_BASE, BROKER, Tls(), locations()) + render_connect(
        Tls(client_auth=ClientAuth.REQUIRED), "https://sr.example.com"
    )
    for line in text.splitlines():
        if "password=" in line:
            assert "${kafkatls" in line


# --- rollout stages -------------------------------------------------------------------------------


def test_rollout_default_one_stage_with_plaintext_inter_broker():
    tls = Tls()
    stages = rollout_stages(tls)
    assert len(stages) == 1
    assert stages[0].listeners is ListenerMode.PLAINTEXT_AND_SSL
    assert stages[0].inter_broker_protocol is Protocol.PLAINTEXT
    assert stages[0].model_copy(update={"inter_broker_protocol": Protocol.SSL}) == tls
    props = parse_properties(render_server_properties(SEED_BASE, BROKER, stages[0], locations()))
    assert props["listeners"] == "PLAINTEXT://:9092,SSL://:9093"
    assert props["inter.broker.listener.name"] == "PLAINTEXT"


def test_rollout_ssl_only_two_stages():
    tls = Tls(listeners=ListenerMode.SSL_ONLY, ssl_port=9443)
    stages = rollout_stages(tls)
    assert [(s.listeners, s.inter_broker_protocol) for s in stages] == [
        (ListenerMode.PLAINTEXT_AND_SSL, Protocol.PLAINTEXT),
        (ListenerMode.PLAINTEXT_AND_SSL, Protocol.SSL),
    ]
    assert all(s.ssl_port == 9443 for s in stages)
    rendered = [parse_properties(render_server_properties(SEED_BASE, BROKER, s, locations())) for s in (*stages, tls)]
    assert [p["listeners"] for p in rendered] == ["PLAINTEXT://:9092,SSL://:9443"] * 2 + ["SSL://:9443"]
    assert [p["inter.broker.listener.name"] for p in rendered] == ["PLAINTEXT", "SSL", "SSL"]


def test_rollout_plaintext_inter_broker_no_stages():
    assert rollout_stages(Tls(inter_broker_protocol=Protocol.PLAINTEXT)) == []


# --- client settings ------------------------------------------------------------------------------


def test_client_settings_keys():
    settings = client_settings(BROKERS, Tls())
    assert set(settings) == {"java", "librdkafka"}
    assert settings["java"] == {
        "bootstrap.servers": BOOTSTRAP,
        "security.protocol": "SSL",
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": "<ca.pem>",
        "ssl.endpoint.identification.algorithm": "https",
    }
    assert settings["librdkafka"] == {
        "bootstrap.servers": BOOTSTRAP,
        "security.protocol": "SSL",
        "ssl.ca.location": "<ca.pem>",
        "ssl.endpoint.identification.algorithm": "https",
    }


def test_client_settings_use_ssl_port():
    settings = client_settings(BROKERS[:2], Tls(ssl_port=9443))
    assert settings["java"]["bootstrap.servers"] == "kafka-1.example.com:9443,kafka-2.example.com:9443"
    assert ssl_bootstrap_servers(BROKERS[:2], Tls(ssl_port=9443)) == settings["librdkafka"]["bootstrap.servers"]


def test_base_order_is_kept_and_managed_keys_follow_in_listed_order():
    from components.properties import format_properties

    text = format_properties({"z.last.alphabetically": "1", "a.first": "2", "m.middle": "3"}, header="h")
    assert [line.split("=")[0] for line in text.splitlines()[1:]] == ["z.last.alphabetically", "a.first", "m.middle"]


# --- the user's own listeners ---------------------------------------------------------------------


def render_named(tls: Tls, base: dict = NAMED_BASE, host: Host = BROKER) -> dict:
    return parse_properties(render_server_properties(base, host, tls, locations()))


def test_named_listener_converted_in_place_replication_stays_on_internal():
    tls = Tls(listener_name="EXTERNAL", inter_broker_protocol=Protocol.PLAINTEXT)
    text = render_server_properties(NAMED_BASE, BROKER, tls, locations())
    assert_golden("server_named_listeners.properties", text)
    props = parse_properties(text)
    assert props["listeners"] == "INTERNAL://:9092,EXTERNAL://:9095,CONTROLLER://:9094"
    assert props["advertised.listeners"] == "INTERNAL://kafka-1.example.com:9092,EXTERNAL://kafka-1.example.com:9095"
    assert props["listener.security.protocol.map"] == "INTERNAL:PLAINTEXT,EXTERNAL:SSL,CONTROLLER:PLAINTEXT"
    assert props["inter.broker.listener.name"] == "INTERNAL"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert rollout_stages(tls) == []  # replication never changes protocol: one restart
    assert tls_listener_port(NAMED_BASE, BROKER, tls) == 9095
    assert listener_problems(NAMED_BASE, {}, tls, "kafka-tls:brokers[0]") == []


def test_named_listeners_with_an_added_ssl_listener_pass_through_safe_stages():
    tls = Tls(listeners=ListenerMode.SSL_ONLY, inter_broker_protocol=Protocol.SSL)
    assert listener_problems(NAMED_BASE, {}, tls, "kafka-tls:brokers[0]") == []
    rendered = [render_named(s) for s in (*rollout_stages(tls), tls)]
    both = "INTERNAL://:9092,EXTERNAL://:9095,SSL://:9093,CONTROLLER://:9094"
    assert [p["listeners"] for p in rendered] == [both, both, "SSL://:9093,CONTROLLER://:9094"]
    # Stage 1 adds SSL with replication still on INTERNAL; stage 2 moves it, INTERNAL still served.
    assert [p["inter.broker.listener.name"] for p in rendered] == ["INTERNAL", "SSL", "SSL"]
    assert [p["advertised.listeners"] for p in rendered] == [
        "INTERNAL://kafka-1.example.com:9092,EXTERNAL://kafka-1.example.com:9095,SSL://kafka-1.example.com:9093"
    ] * 2 + ["SSL://kafka-1.example.com:9093"]
    # The user's entries stay, in their order; ours is added at the end.
    assert {p["listener.security.protocol.map"] for p in rendered} == {
        "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL"
    }
    assert tls_listener_port(NAMED_BASE, BROKER, tls) == 9093


def test_named_listeners_plaintext_and_ssl_keeps_every_listener():
    tls = Tls(inter_broker_protocol=Protocol.SSL)
    stages = [render_named(s) for s in rollout_stages(tls)]
    final = render_named(tls)
    assert [p["inter.broker.listener.name"] for p in (*stages, final)] == ["INTERNAL", "SSL"]
    assert final["listeners"] == "INTERNAL://:9092,EXTERNAL://:9095,SSL://:9093,CONTROLLER://:9094"


def test_an_existing_ssl_listener_of_the_base_is_kept_not_doubled():
    base = {**NAMED_BASE, "listeners": "INTERNAL://:9092,SSL://:9443,CONTROLLER://:9094",
            "listener.security.protocol.map": "INTERNAL:PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT"}
    props = render_named(Tls(), base)
    assert props["listeners"] == "INTERNAL://:9092,SSL://:9443,CONTROLLER://:9094"
    assert props["listener.security.protocol.map"] == "INTERNAL:PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT"


SASL_BASE = {
    "process.roles": "broker",
    "controller.listener.names": "CONTROLLER",
    "listeners": "REPLICATION://:9092,CLIENTS://:9096",
    "listener.security.protocol.map": "REPLICATION:PLAINTEXT,CLIENTS:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
    "inter.broker.listener.name": "REPLICATION",
    "listener.name.clients.sasl.enabled.mechanisms": "SCRAM-SHA-512",
    "listener.name.clients.scram-sha-512.sasl.jaas.config":
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="x";',
    "sasl.mechanism.inter.broker.protocol": "PLAIN",
}


def test_sasl_plaintext_listener_becomes_sasl_ssl_and_keeps_its_sasl_settings():
    tls = Tls(listener_name="CLIENTS", listeners=ListenerMode.SSL_ONLY, inter_broker_protocol=Protocol.SSL)
    assert listener_problems(SASL_BASE, {}, tls, "kafka-tls:brokers[0]") == []
    props = render_named(tls, SASL_BASE)
    assert props["listener.security.protocol.map"] == "REPLICATION:PLAINTEXT,CLIENTS:SASL_SSL,CONTROLLER:PLAINTEXT"
    assert props["listeners"] == "CLIENTS://:9096"  # the PLAINTEXT listener goes, the SASL one stays
    assert props["inter.broker.listener.name"] == "CLIENTS"
    for key in ("listener.name.clients.sasl.enabled.mechanisms", "listener.name.clients.scram-sha-512.sasl.jaas.config",
                "sasl.mechanism.inter.broker.protocol"):
        assert props[key] == SASL_BASE[key]
    stage1 = render_named(rollout_stages(tls)[0], SASL_BASE)
    assert stage1["listeners"] == "REPLICATION://:9092,CLIENTS://:9096"
    assert stage1["inter.broker.listener.name"] == "REPLICATION"


@pytest.mark.parametrize(("tls", "base", "port"), [
    # SASL_SSL clients, replication kept on plaintext: the gate's tools dial REPLICATION.
    (Tls(listener_name="CLIENTS", inter_broker_protocol=Protocol.PLAINTEXT), SASL_BASE, 9092),
    # SSL-only drops the plaintext listener: nothing the tools can dial without SASL credentials.
    (Tls(listener_name="CLIENTS", listeners=ListenerMode.SSL_ONLY, inter_broker_protocol=Protocol.SSL), SASL_BASE, None),
    # Every broker listener SASL: none either.
    (Tls(listener_name="CLIENTS", inter_broker_protocol=Protocol.PLAINTEXT),
     {**SASL_BASE, "listener.security.protocol.map": "REPLICATION:SASL_PLAINTEXT,CLIENTS:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT"},
     None),
    # An SSL listener: the tools dial it, over TLS.
    (Tls(), SASL_BASE, 9093),
])
def test_the_gate_tools_dial_the_tls_listener_or_a_kept_plaintext_one(tls, base, port):
    assert gate_tools_port(base, BROKER, tls) == port


def test_the_gate_tools_config_of_a_plaintext_listener_has_no_tls_settings():
    text = render_tool_properties(StoreLocations.for_host(Paths(), StoreType.PKCS12), Tls(), "PLAINTEXT")
    assert parse_properties(text) == {"security.protocol": "PLAINTEXT"}


def test_a_sasl_plaintext_listener_that_is_not_the_tls_one_is_left_alone():
    props = render_named(Tls(listeners=ListenerMode.SSL_ONLY), SASL_BASE)
    assert props["listeners"] == "CLIENTS://:9096,SSL://:9093"
    assert props["listener.security.protocol.map"] == "REPLICATION:PLAINTEXT,CLIENTS:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL"


def test_bind_address_rewrites_the_host_of_every_listener():
    base = {**NAMED_BASE, "listeners": "INTERNAL://0.0.0.0:9092,EXTERNAL://kafka-1.example.com:9095,CONTROLLER://:9094"}
    tls = Tls(listener_name="EXTERNAL", inter_broker_protocol=Protocol.PLAINTEXT)
    # Three brokers on one machine share the base; each binds its own address.
    for i, broker in enumerate(BROKERS, start=1):
        host = broker.model_copy(update={"bind_address": f"127.0.0.1{i}"})
        props = render_named(tls, base, host)
        assert props["listeners"] == f"INTERNAL://127.0.0.1{i}:9092,EXTERNAL://127.0.0.1{i}:9095,CONTROLLER://127.0.0.1{i}:9094"
        assert props["advertised.listeners"] == f"INTERNAL://kafka-{i}.example.com:9092,EXTERNAL://kafka-{i}.example.com:9095"
    assert render_named(tls, base)["listeners"] == base["listeners"]  # no bind address: as written
    ipv6 = BROKER.model_copy(update={"bind_address": "fd00::11"})
    assert render_named(Tls(), SEED_BASE, ipv6)["listeners"] == "PLAINTEXT://[fd00::11]:9092,SSL://[fd00::11]:9093"


def test_per_host_listener_keys_are_converted_too_and_advertised_override_wins():
    host = BROKER.model_copy(update={"properties": {
        "listeners": "INTERNAL://:19092,EXTERNAL://:19095,CONTROLLER://:9094",
        "advertised.listeners": "INTERNAL://10.0.0.11:19092,EXTERNAL://lb.example.com:443",
    }})
    tls = Tls(listener_name="EXTERNAL", inter_broker_protocol=Protocol.PLAINTEXT)
    props = render_named(tls, NAMED_BASE, host)
    assert props["listeners"] == "INTERNAL://:19092,EXTERNAL://:19095,CONTROLLER://:9094"
    assert props["listener.security.protocol.map"] == "INTERNAL:PLAINTEXT,EXTERNAL:SSL,CONTROLLER:PLAINTEXT"
    assert props["advertised.listeners"] == "INTERNAL://10.0.0.11:19092,EXTERNAL://lb.example.com:443"
    assert tls_listener_port(NAMED_BASE, host, tls) == 19095
    assert listener_problems(NAMED_BASE, host.properties, tls, "kafka-tls:brokers[0]") == []


def test_bootstrap_servers_dial_a_converted_listener_on_its_own_port():
    tls = Tls(listener_name="EXTERNAL", inter_broker_protocol=Protocol.PLAINTEXT)
    servers = "kafka-1.example.com:9095,kafka-2.example.com:9095"
    assert ssl_bootstrap_servers(BROKERS[:2], tls, NAMED_BASE) == servers
    assert client_settings(BROKERS[:2], tls, NAMED_BASE)["java"]["bootstrap.servers"] == servers


def test_controller_only_node_is_not_rendered():
    with pytest.raises(ValueError, match="controller-only"):
        render_named(Tls(), {**NAMED_BASE, "process.roles": "controller"})


# --- config providers -----------------------------------------------------------------------------


def test_the_users_config_providers_are_kept_and_ours_appended():
    providers = {"config.providers": "file", "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider"}
    for props in (
        parse_properties(render_connect_properties({**CONNECT_BASE, **providers}, WORKER, Tls(), locations(), BOOTSTRAP)),
        render_named(Tls(), {**SEED_BASE, **providers}),
    ):
        assert props["config.providers"] == "file,kafkatls"
        assert props["config.providers.file.class"] == providers["config.providers.file.class"]
        assert props["config.providers.kafkatls.class"] == "org.apache.kafka.common.config.provider.FileConfigProvider"
    # Listed once, even when the base already has it; a per-host list is merged the same way.
    props = render_named(Tls(), {**SEED_BASE, "config.providers": "kafkatls,env"})
    assert props["config.providers"] == "kafkatls,env"
    worker = WORKER.model_copy(update={"properties": {"config.providers": "env"}})
    props = parse_properties(render_connect_properties({**CONNECT_BASE, **providers}, worker, Tls(), locations(), BOOTSTRAP))
    assert props["config.providers"] == "env,kafkatls"


# --- listener_problems ----------------------------------------------------------------------------

WHERE = "kafka-tls:brokers[1]"


def one_problem(tls: Tls, base: dict = NAMED_BASE, host_properties: dict | None = None, *fragments: str) -> str:
    problems = listener_problems(base, host_properties or {}, tls, WHERE)
    assert len(problems) == 1, problems
    for fragment in fragments:
        assert fragment in problems[0]
    return problems[0]


@pytest.mark.parametrize("base", [SEED_BASE, KRAFT_BASE, NAMED_BASE, SASL_BASE, {"zookeeper.connect": "zk:2181"}])
def test_supported_layouts_have_no_problems(base):
    assert listener_problems(base, {}, Tls(), WHERE) == []


def test_problem_tls_listener_is_the_inter_broker_listener():
    message = one_problem(Tls(listener_name="INTERNAL"), NAMED_BASE, None, "splits replication", "interBrokerProtocol: SSL")
    assert message.startswith("kafka-tls:tls.listenerName: INTERNAL is the inter-broker listener")
    # Also with the old key, and with replication kept on plaintext.
    one_problem(Tls(listener_name="PLAINTEXT", inter_broker_protocol=Protocol.PLAINTEXT), SEED_BASE, None, "inter-broker")
    # Already TLS in the base: nothing is converted, nothing splits.
    base = {**NAMED_BASE, "listener.security.protocol.map": "INTERNAL:SSL,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"}
    assert listener_problems(base, {}, Tls(listener_name="INTERNAL"), WHERE) == []


def test_problem_tls_listener_is_the_controller_listener():
    message = one_problem(Tls(listener_name="CONTROLLER"), NAMED_BASE, None, "controller listener", "controller.listener.names")
    assert message.startswith("kafka-tls:tls.listenerName:")


def test_problem_tls_listener_protocol_cannot_be_converted():
    base = {**NAMED_BASE, "listener.security.protocol.map": "INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"}
    message = one_problem(Tls(listener_name="EXTERNAL"), base, None, "no protocol for listener EXTERNAL", "EXTERNAL:PLAINTEXT")
    assert message.startswith("kafka-tls:serverProperties.listener.security.protocol.map:")
    base = {**NAMED_BASE, "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:QUIC,CONTROLLER:PLAINTEXT"}
    one_problem(Tls(listener_name="EXTERNAL"), base, None, "kafka-tls:tls.listenerName: EXTERNAL uses QUIC", "SASL_PLAINTEXT")
    with pytest.raises(ValueError):
        render_named(Tls(listener_name="EXTERNAL"), base)


def test_problem_added_listener_port_taken():
    message = one_problem(Tls(ssl_port=9095), NAMED_BASE, None, "9095 is also the port of listener EXTERNAL")
    assert message.startswith("kafka-tls:tls.sslPort:")
    # The same port on a host that overrides its listeners: the message names that host.
    one_problem(Tls(ssl_port=19092), NAMED_BASE, {"listeners": "INTERNAL://:19092,EXTERNAL://:9095,CONTROLLER://:9094"},
                f"kafka-tls:tls.sslPort (for {WHERE})", f"{WHERE}.properties.listeners")


def test_a_plaintext_static_quorum_may_move_to_tls():
    assert listener_problems(NAMED_BASE, {}, Tls(controller_protocol=Protocol.SSL), WHERE) == []
    assert listener_problems(KRAFT_BASE, {}, Tls(controller_protocol=Protocol.SSL), WHERE) == []


def test_problems_of_a_controller_listener_moving_to_tls():
    ssl = Tls(controller_protocol=Protocol.SSL)
    dynamic = {k: v for k, v in NAMED_BASE.items() if k != "controller.quorum.voters"}
    dynamic["controller.quorum.bootstrap.servers"] = "kafka-1.example.com:9094"
    message = one_problem(ssl, dynamic, None, "dynamic quorum", "keep controllerProtocol: PLAINTEXT")
    assert message.startswith("kafka-tls:tls.controllerProtocol: SSL")
    one_problem(Tls(controller_protocol=Protocol.SSL, controller_ssl_port=9095), NAMED_BASE, None,
                "kafka-tls:tls.controllerSslPort: 9095 is the port of listener EXTERNAL")
    one_problem(Tls(controller_protocol=Protocol.SSL, controller_ssl_listener="EXTERNAL"), NAMED_BASE, None,
                "kafka-tls:tls.controllerSslListener: EXTERNAL is already a listener")
    sasl = {**NAMED_BASE, "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"}
    one_problem(ssl, sasl, None, "runs SASL_PLAINTEXT", "moves a PLAINTEXT controller listener only")
    # sshd's port is checked against the new listener too.
    assert any("kafka-tls:tls.controllerSslPort" in p and "SSH port" in p
               for p in listener_problems(NAMED_BASE, {}, Tls(controller_protocol=Protocol.SSL, controller_ssl_port=22),
                                          WHERE, ssh_port=22))



def test_controller_protocol_ssl_is_kept_when_the_quorum_already_runs_it():
    base = {**NAMED_BASE, "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:SSL"}
    tls = Tls(controller_protocol=Protocol.SSL)
    assert listener_problems(base, {}, tls, WHERE) == []
    assert render_named(tls, base)["listener.security.protocol.map"].endswith("CONTROLLER:SSL,SSL:SSL")
    one_problem(Tls(), base, None, "kafka-tls:tls.controllerProtocol: PLAINTEXT", "downgrade")


def test_problem_controller_listener_and_port_differ_from_the_base():
    one_problem(Tls(controller_listener="QUORUM"), NAMED_BASE, None, "kafka-tls:tls.controllerListener: 'QUORUM'", "wins")
    one_problem(Tls(controller_port=9194), NAMED_BASE, None, "kafka-tls:tls.controllerPort: 9194", "on 9094", "wins")
    # Equal, or left to their defaults: no problem.
    assert listener_problems(NAMED_BASE, {}, Tls(controller_listener="CONTROLLER", controller_port=9094), WHERE) == []
    base = {**NAMED_BASE, "controller.listener.names": "QUORUM", "listeners": "INTERNAL://:9092,QUORUM://:9194",
            "listener.security.protocol.map": "INTERNAL:PLAINTEXT,QUORUM:PLAINTEXT"}
    assert listener_problems(base, {}, Tls(), WHERE) == []
    assert render_named(Tls(), base)["listeners"] == "INTERNAL://:9092,SSL://:9093,QUORUM://:9194"


def test_problem_controller_only_node():
    message = one_problem(Tls(), {**NAMED_BASE, "process.roles": "controller"})
    assert message == (
        f"{WHERE}: process.roles=controller: controller-only nodes are not managed yet; leave them out of "
        "kafka-tls:brokers, their controller listener stays as it is"
    )
    one_problem(Tls(), NAMED_BASE, {"process.roles": "controller"}, "controller-only")


def test_problem_ssl_only_removes_the_plaintext_inter_broker_listener():
    tls = Tls(listeners=ListenerMode.SSL_ONLY, inter_broker_protocol=Protocol.PLAINTEXT)
    message = one_problem(tls, NAMED_BASE, None, "removes the PLAINTEXT listener INTERNAL", "interBrokerProtocol: SSL")
    assert message.startswith("kafka-tls:tls.listeners:")
    # Replication over SASL_PLAINTEXT survives SSL-only.
    base = {**SASL_BASE, "inter.broker.listener.name": "CLIENTS"}
    assert listener_problems(base, {}, tls.model_copy(update={"listener_name": "SSL"}), WHERE) == []


def test_problem_inter_broker_listener_missing_from_the_base():
    base = {k: v for k, v in NAMED_BASE.items() if k != "inter.broker.listener.name"}
    one_problem(Tls(), base, None, "inter-broker listener PLAINTEXT (Kafka's default)", "INTERNAL, EXTERNAL")


def test_problem_unparsable_listeners_and_map():
    one_problem(Tls(), NAMED_BASE, {"listeners": "INTERNAL:9092"},
                f"{WHERE}.properties.listeners: 'INTERNAL:9092' is not NAME://host:port")
    one_problem(Tls(), {**NAMED_BASE, "listener.security.protocol.map": "INTERNAL=PLAINTEXT"}, None,
                "kafka-tls:serverProperties.listener.security.protocol.map:", "NAME:PROTOCOL")
    problems = listener_problems({**NAMED_BASE, "listeners": "x"}, {}, Tls(), WHERE, base_key="serverBaseFile")
    assert problems[0].startswith("kafka-tls:serverBaseFile.listeners:")


def test_problem_a_listener_on_the_ssh_port_is_named_where_its_port_comes_from():
    def clash(base, host_properties, tls, ssh_port):
        return [p for p in listener_problems(base, host_properties, tls, WHERE, ssh_port=ssh_port) if "SSH port" in p]

    assert clash(NAMED_BASE, {}, Tls(listener_name="EXTERNAL"), 22) == []
    # the base's own listener; a host's override of listeners; the TLS listener kafka-tls adds
    [base_listener] = clash(NAMED_BASE, {}, Tls(listener_name="EXTERNAL"), 9095)
    assert base_listener.startswith("kafka-tls:serverProperties.listeners: listener EXTERNAL on port 9095")
    [host_listener] = clash(NAMED_BASE, {"listeners": "INTERNAL://:2222,EXTERNAL://:9095,CONTROLLER://:9094"},
                            Tls(listener_name="EXTERNAL"), 2222)
    assert host_listener.startswith(f"{WHERE}.properties.listeners: listener INTERNAL on port 2222")
    [added] = clash(NAMED_BASE, {}, Tls(listener_name="SSL", ssl_port=2222), 2222)
    assert added.startswith("kafka-tls:tls.sslPort: listener SSL on port 2222")


def test_problem_advertised_override_misses_the_tls_listener():
    one_problem(Tls(), NAMED_BASE, {"advertised.listeners": "INTERNAL://a.example.com:9092,EXTERNAL://lb.example.com:443"},
                f"{WHERE}.properties.advertised.listeners: lacks SSL")
    tls = Tls(listeners=ListenerMode.SSL_ONLY)
    problems = listener_problems(NAMED_BASE, {"advertised.listeners": "INTERNAL://a:9092,SSL://a:9093"}, tls, WHERE)
    assert len(problems) == 1 and "names INTERNAL, which the final config does not listen on" in problems[0]


# --- cipher suites (tls.cipherSuites -> ssl.cipher.suites) ----------------------------------------

# Mozilla's intermediate configuration (guidelines v5.7), as Java 17 names its suites.
MOZILLA_INTERMEDIATE_TLS13 = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]
MOZILLA_INTERMEDIATE_ECDHE = [
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
]
MOZILLA_INTERMEDIATE_DHE = [
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
]
# What a broker with Java 17's defaults accepted over TLS 1.2 in the reviewer's sslyze scan.
SCANNED_CBC_SUITES = [
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
]


def suites_of(props: dict, prefix: str = "") -> list[str]:
    return props[f"{prefix}ssl.cipher.suites"].split(",")


def cipher_suites_problem(suites) -> str:
    """The one message validate_config gives for tls.cipherSuites (with the key path)."""
    with pytest.raises(ValueError) as info:
        validate_config(sample(tls={"cipherSuites": suites}))
    hits = [p for p in info.value.problems if p.startswith("kafka-tls:tls.cipherSuites: ")]
    assert len(hits) == 1, info.value.problems
    return hits[0]


class TestCipherSuites:
    def test_the_default_is_mozilla_intermediate_for_java_17_without_dhe(self):
        assert Tls().cipher_suites == MOZILLA_INTERMEDIATE_TLS13 + MOZILLA_INTERMEDIATE_ECDHE

    def test_the_default_has_only_aead_suites_with_forward_secrecy(self):
        for suite in Tls().cipher_suites:
            parts = suite.split("_")
            assert "CBC" not in parts and not suite.endswith(("_SHA", "_MD5")), suite
            assert suite in MOZILLA_INTERMEDIATE_TLS13 or suite.startswith("TLS_ECDHE_"), suite

    def test_broker_renders_the_list_in_order_with_tls13_first(self):
        props = parse_properties(render_server_properties(SEED_BASE, BROKER, Tls(), locations()))
        assert suites_of(props) == MOZILLA_INTERMEDIATE_TLS13 + MOZILLA_INTERMEDIATE_ECDHE
        assert not any(k.endswith("ssl.cipher.suites") and k != "ssl.cipher.suites" for k in props)

    def test_a_configured_list_is_rendered_as_given(self):
        suites = MOZILLA_INTERMEDIATE_TLS13[:1] + MOZILLA_INTERMEDIATE_DHE + MOZILLA_INTERMEDIATE_ECDHE[:1]
        tls = Tls.model_validate({"cipherSuites": suites})
        props = parse_properties(render_server_properties(SEED_BASE, BROKER, tls, locations()))
        assert suites_of(props) == suites

    def test_every_rollout_stage_renders_the_suites(self):
        for stage in rollout_stages(Tls(listeners=ListenerMode.SSL_ONLY)):
            props = parse_properties(render_server_properties(SEED_BASE, BROKER, stage, locations()))
            assert suites_of(props) == list(DEFAULT_CIPHER_SUITES)

    def test_a_base_value_is_replaced_in_place(self):
        base = {**SEED_BASE, "ssl.cipher.suites": ",".join(SCANNED_CBC_SUITES)}
        text = render_server_properties(base, BROKER, Tls(), locations())
        assert suites_of(parse_properties(text)) == list(DEFAULT_CIPHER_SUITES)
        assert text.count("ssl.cipher.suites=") == 1

    def test_connect_worker_and_its_three_clients_get_the_list_the_registry_client_does_not(self):
        props = parse_properties(render_connect(registry="https://schema-registry.example.com:8081"))
        for prefix in CONNECT_SECTIONS:
            assert suites_of(props, prefix) == list(DEFAULT_CIPHER_SUITES)
        # The registry is a server kafka-tls does not configure: its suites are its own business.
        assert not any(k.startswith(("key.converter.", "value.converter.")) and "cipher" in k for k in props)

    def test_the_health_gate_tools_get_the_list(self):
        props = parse_properties(render_tool_properties(locations(), Tls()))
        assert suites_of(props) == list(DEFAULT_CIPHER_SUITES)

    def test_application_client_settings_leave_the_choice_to_the_broker(self):
        for settings in client_settings(BROKERS, Tls()).values():
            assert "ssl.cipher.suites" not in settings

    def test_tls13_only(self):
        tls = Tls.model_validate({"enabledProtocols": ["TLSv1.3"], "cipherSuites": MOZILLA_INTERMEDIATE_TLS13})
        props = parse_properties(render_server_properties(SEED_BASE, BROKER, tls, locations()))
        assert props["ssl.enabled.protocols"] == "TLSv1.3"
        assert suites_of(props) == MOZILLA_INTERMEDIATE_TLS13


class TestCipherSuitesValidation:
    def test_every_mozilla_intermediate_suite_is_accepted(self):
        suites = MOZILLA_INTERMEDIATE_TLS13 + MOZILLA_INTERMEDIATE_ECDHE + MOZILLA_INTERMEDIATE_DHE
        assert validate_config(sample(tls={"cipherSuites": suites})).tls.cipher_suites == suites

    @pytest.mark.parametrize("suite", SCANNED_CBC_SUITES)
    def test_the_scanned_cbc_suites_are_refused(self, suite):
        message = cipher_suites_problem(MOZILLA_INTERMEDIATE_TLS13 + [suite])
        assert suite in message and "CBC" in message
        assert ("SHA-1" in message) == suite.endswith("_SHA")
        # The fix: the suites that are accepted, named.
        assert "remove the key to get the default" in message and MOZILLA_INTERMEDIATE_ECDHE[0] in message

    @pytest.mark.parametrize("suite, reason", [
        ("TLS_RSA_WITH_AES_128_GCM_SHA256", "RSA key exchange"),
        ("SSL_RSA_WITH_3DES_EDE_CBC_SHA", "RSA key exchange"),
        ("TLS_ECDHE_RSA_WITH_NULL_SHA", "NULL, no encryption"),
        ("TLS_ECDH_anon_WITH_AES_128_CBC_SHA", "anon, no authentication"),
        ("SSL_RSA_EXPORT_WITH_RC4_40_MD5", "export-grade"),
        ("TLS_ECDHE_RSA_WITH_RC4_128_SHA", "broken cipher"),
        ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "broken cipher"),
        ("TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256", "static ECDH or DH"),
        ("TLS_AES_128_CCM_SHA256", "not in Mozilla's intermediate list"),
        ("TLS_EMPTY_RENEGOTIATION_INFO_SCSV", "not in Mozilla's intermediate list"),
        ("ECDHE-RSA-AES128-GCM-SHA256", "Java needs TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        ("tls_aes_128_gcm_sha256", "write it as TLS_AES_128_GCM_SHA256"),
        (" TLS_AES_128_GCM_SHA256", "write it as TLS_AES_128_GCM_SHA256"),
    ])
    def test_weak_or_unknown_suites_are_refused_with_the_reason(self, suite, reason):
        message = cipher_suites_problem(list(DEFAULT_CIPHER_SUITES) + [suite])
        assert f"{suite}: " in message and reason in message

    def test_every_refused_suite_is_named_in_one_message(self):
        message = cipher_suites_problem(SCANNED_CBC_SUITES[:2] + list(DEFAULT_CIPHER_SUITES))
        assert all(s in message.split(";")[i] for i, s in enumerate(SCANNED_CBC_SUITES[:2]))

    def test_an_empty_list_is_refused(self):
        assert "is empty" in cipher_suites_problem([])

    def test_a_suite_twice_is_refused(self):
        assert "TLS_AES_128_GCM_SHA256 twice" in cipher_suites_problem(list(DEFAULT_CIPHER_SUITES) + ["TLS_AES_128_GCM_SHA256"])

    def test_tls13_enabled_needs_a_tls13_suite(self):
        message = cipher_suites_problem(MOZILLA_INTERMEDIATE_ECDHE)
        assert "no TLS 1.3 suite" in message and "TLS_AES_128_GCM_SHA256" in message

    def test_tls12_enabled_needs_a_tls12_suite(self):
        message = cipher_suites_problem(MOZILLA_INTERMEDIATE_TLS13)
        assert "no TLS 1.2 suite" in message and "[TLSv1.3]" in message

    def test_tls12_only_needs_no_tls13_suite(self):
        tls = Tls.model_validate({"enabledProtocols": ["TLSv1.2"], "cipherSuites": MOZILLA_INTERMEDIATE_ECDHE})
        assert tls.cipher_suites == MOZILLA_INTERMEDIATE_ECDHE

    def test_a_bad_protocol_list_is_reported_there_only(self):
        with pytest.raises(ValidationError) as info:
            Tls.model_validate({"enabledProtocols": ["TLSv1.1"], "cipherSuites": MOZILLA_INTERMEDIATE_ECDHE})
        assert [e["loc"] for e in info.value.errors()] == [("enabledProtocols",)]

    def test_not_a_list_is_refused(self):
        with pytest.raises(ValidationError):
            Tls.model_validate({"cipherSuites": ",".join(DEFAULT_CIPHER_SUITES)})


def test_clients_of_a_sasl_ssl_listener_are_told_to_log_in_with_its_one_mechanism():
    base = {**SASL_BASE, "listener.name.clients.sasl.enabled.mechanisms": "PLAIN"}
    tls = Tls(listener_name="CLIENTS", inter_broker_protocol=Protocol.PLAINTEXT)
    settings = client_settings([BROKER], tls, base)
    assert settings["java"]["security.protocol"] == "SASL_SSL" and settings["java"]["sasl.mechanism"] == "PLAIN"
    assert settings["librdkafka"]["security.protocol"] == "SASL_SSL" and settings["librdkafka"]["sasl.mechanisms"] == "PLAIN"
    two = client_settings([BROKER], tls, {**base, "listener.name.clients.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512"})
    assert two["librdkafka"]["security.protocol"] == "SASL_SSL" and "sasl.mechanisms" not in two["librdkafka"]
    assert client_settings([BROKER], Tls(), SASL_BASE)["librdkafka"]["security.protocol"] == "SSL"
