"""Every kind of host script is shellcheck-clean, as bash runs it (the text inside ``bash -c``).

The matrix covers each script builder over the store types, key algorithms and gates (IPv4 and
IPv6, http and https Connect). shellcheck is a test dependency (``make tools`` installs it): a
machine without it fails here rather than skipping the lint.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from components.config import KeyAlgorithm, Paths, StoreType
from components.properties import StoreLocations
from components.scripts import (
    STAGE_PASSED_SCRIPT,
    ConnectGate,
    Gate,
    KafkaGate,
    KeySpec,
    TlsGate,
    as_root,
    import_chain_script,
    keep_original_script,
    keypair_script,
    make_dir_script,
    reload_stores_script,
    remove_files_script,
    remove_left_behind_script,
    restart_script,
    restore_file_script,
    resume_or,
    rewrite_file_script,
    stack_keystore_script,
    stage_script,
    stamp_stores_script,
    truststore_script,
    write_and_restart_script,
    write_file_script,
)

OWNER = "kafka:kafka"
PROPERTIES = "/etc/kafka/server.properties"
PENDING = "/etc/kafka/ssl/kafka-tls-restart.pending"
STAMP = "/etc/kafka/ssl/kafka-tls-stores.sha256"
FP = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"


def locations(store_type: StoreType) -> StoreLocations:
    return StoreLocations.for_host(Paths(ssl_dir="/etc/kafka/ssl"), store_type)


def spec(algorithm: KeyAlgorithm) -> KeySpec:
    return KeySpec("broker-1", "kafka-1.example.com", ("kafka-1.example.com", "kafka-1"), ("10.0.0.11", "2001:db8::11"),
                   algorithm, 3072, 365)


def kafka_gate(address: str, server_name: str, tools_port: int | None = None) -> KafkaGate:
    return KafkaGate("broker-1", TlsGate(address, 9093, server_name, FP, 180), 1, "/opt/kafka/bin",
                     "/etc/kafka/ssl/kafka-tls-client.properties", tools_port)


GATES: dict[str, Gate] = {
    "no gate": None,
    "tls": TlsGate("10.0.0.11", 9093, "kafka-1.example.com", FP, 180),
    "tls ipv6": TlsGate("2001:db8::11", 9093, "2001:db8::11", FP, 180),
    "kafka": kafka_gate("10.0.0.11", "kafka-1.example.com"),
    "kafka ipv6": kafka_gate("2001:db8::11", "2001:db8::11"),
    # A SASL_SSL TLS listener: the tools dial a kept plaintext listener.
    "kafka plaintext tools": kafka_gate("10.0.0.11", "kafka-1.example.com", 9092),
    "kafka plaintext tools ipv6": kafka_gate("2001:db8::11", "2001:db8::11", 9092),
    "connect http": ConnectGate("connect-1", "10.0.0.21", 8083, "http", 180),
    "connect http ipv6": ConnectGate("connect-1", "2001:db8::21", 8083, "http", 180),
    "connect https": ConnectGate("connect-1", "10.0.0.21", 8443, "https", 180, "connect-1.example.com",
                                 "/etc/kafka/ssl/kafka-tls-ca.pem"),
    "connect https ipv6 by address": ConnectGate("connect-1", "2001:db8::21", 8443, "https", 180, "2001:db8::21",
                                                 "/etc/kafka/ssl/kafka-tls-ca.pem"),
}


def _scripts() -> dict[str, str]:
    out: dict[str, str] = {}
    for store_type in StoreType:
        loc = locations(store_type)
        for algorithm in KeyAlgorithm:
            out[f"keypair {store_type.value} {algorithm.value}"] = keypair_script(spec(algorithm), loc, OWNER)
        out[f"import_chain {store_type.value}"] = import_chain_script("broker-1", loc, OWNER)
        out[f"stack_keystore {store_type.value}"] = stack_keystore_script("broker-1", loc, OWNER)
        out[f"truststore {store_type.value}"] = truststore_script(loc, OWNER)
        out[f"truststore {store_type.value} no owner"] = truststore_script(loc, "")
        out[f"stamp_stores {store_type.value}"] = stamp_stores_script(STAMP, loc)
        out[f"reload {store_type.value}"] = reload_stores_script(kafka_gate("10.0.0.11", "kafka-1.example.com"), "SSL", loc, STAMP)
    for name, gate in GATES.items():
        write_and_restart = write_and_restart_script(PROPERTIES, "640", OWNER, "systemctl restart kafka", gate, PENDING,
                                                     then=stamp_stores_script(STAMP, locations(StoreType.PKCS12)))
        out[f"restart, {name}"] = restart_script("systemctl restart kafka", gate)
        out[f"write_and_restart, {name}"] = write_and_restart
        out[f"write_and_restart without pending, {name}"] = write_and_restart_script(PROPERTIES, "640", "", "true", gate)
        out[f"resume_or, {name}"] = resume_or(PENDING, write_and_restart, rewrite_file_script(PROPERTIES, "640", OWNER))
        for listener in ("SSL", "EXTERNAL"):
            stage = stage_script(PROPERTIES, "systemctl restart kafka", gate, OWNER, listener, PENDING)
            out[f"stage {listener}, {name}"] = stage
            out[f"resume_or stage {listener}, {name}"] = resume_or(PENDING, stage, STAGE_PASSED_SCRIPT)
            out[f"stage back {listener}, {name}"] = stage_script(PROPERTIES, "true", gate, OWNER, listener, PENDING, back=True)
    out["reload ipv6"] = reload_stores_script(kafka_gate("2001:db8::11", "2001:db8::11"), "SSL", locations(StoreType.JKS), STAMP)
    out["resume_or reload"] = resume_or(PENDING, out["reload PKCS12"], "cat >/dev/null\n")
    out["write_file"] = write_file_script(PROPERTIES, "640", OWNER)
    out["write_file backup"] = write_file_script(PROPERTIES, "600", "", backup=True)
    out["rewrite_file"] = rewrite_file_script(PROPERTIES, "640", OWNER)
    out["keep_original"] = keep_original_script(PROPERTIES)
    out["restore_file"] = restore_file_script(PROPERTIES)
    out["remove_files"] = remove_files_script("/etc/kafka/ssl/kafka.truststore.p12", "/etc/kafka/ssl/kafka-tls-ca.pem")
    out["make_dir"] = make_dir_script("/etc/kafka/ssl", OWNER)
    out["stage passed"] = STAGE_PASSED_SCRIPT
    old = {"ssl_dir": "/etc/kafka/old-ssl", "keystore": "/etc/kafka/old-ssl/kafka.keystore.jks",
           "truststore": "/etc/kafka/old-ssl/kafka.truststore.jks", "key": "/etc/kafka/old-ssl/kafka.key.pem",
           "secrets": "/etc/kafka/old-ssl/kafka-tls-secrets.properties", "properties": "/etc/kafka/old.properties"}
    out["remove_left_behind"] = "set -euo pipefail\n" + remove_left_behind_script(old)
    out["remove_left_behind store type only"] = remove_left_behind_script({"keystore": old["keystore"]})
    return out


SCRIPTS = _scripts()


def shellcheck() -> str:
    path = shutil.which("shellcheck")
    if path is None:
        pytest.fail("shellcheck is not installed, and every host script must pass it: "
                    "apt-get install -y shellcheck (or `make tools`)", pytrace=False)
    return path


def test_shellcheck_is_installed():
    shellcheck()


@pytest.mark.parametrize("name", SCRIPTS)
def test_host_script_is_shellcheck_clean(name):
    result = subprocess.run([shellcheck(), "--norc", "-s", "bash", "-"], input=SCRIPTS[name], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, f"shellcheck on the {name} script:\n{result.stdout}{result.stderr}\n{SCRIPTS[name]}"


@pytest.mark.parametrize("sudo", [True, False])
def test_the_line_the_login_shell_runs_is_shellcheck_clean(sudo):
    """as_root's line is parsed by the operator's login shell: POSIX sh is enough for it."""
    line = as_root(SCRIPTS["write_and_restart, kafka"], sudo)
    result = subprocess.run([shellcheck(), "--norc", "-s", "sh", "-"], input=line, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
