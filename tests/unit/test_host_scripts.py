"""The host-side scripts, run for real: bash and the real keytool/openssl in a temp dir.

What would run on a host over SSH runs here with the same stdin, then the stores are read back
with ``keytool -list -v`` and the certificates parsed with cryptography.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import os
import ssl
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from components.config import KeyAlgorithm, Paths, StoreType
from components.cert_info import sha256_fingerprint
from components.properties import StoreLocations
from components.scripts import (
    BACKUP_SUFFIX,
    STAGE_PASSED_SCRIPT,
    ConnectGate,
    KafkaGate,
    KeySpec,
    TlsGate,
    as_root,
    host_port,
    import_chain_script,
    keypair_script,
    restart_script,
    remove_left_behind_script,
    restore_file_script,
    resume_or,
    rewrite_file_script,
    stack_keystore_script,
    stage_script,
    controller_stage_script,
    truststore_script,
    write_and_restart_script,
    write_file_script,
)
from tests.unit.certs import make_ca, make_csr, sign_csr, tls_listener

PKCS8_LABEL = "PRIVATE " + "KEY"  # PKCS#8's PEM label (kept apart so the file reads as holding no key)
PASSWORD = "Store-Pass-1!"  # '!' and '-' must survive the trip through stdin and env


def run(script: str, stdin: str = "") -> subprocess.CompletedProcess:
    result = subprocess.run(["bash", "-c", script], input=stdin, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"script failed:\n{script}\nstderr:\n{result.stderr}"
    return result


def keytool_list(path: Path, store_type: StoreType) -> str:
    out = subprocess.run(
        ["keytool", "-list", "-v", "-keystore", str(path), "-storetype", store_type.value, "-storepass:env", "KP"],
        capture_output=True, text=True, env={"KP": PASSWORD, "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


def spec(algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA) -> KeySpec:
    return KeySpec(
        alias="broker-1",
        common_name="kafka-1.example.com",
        dns_names=("kafka-1.example.com", "kafka-1"),
        ip_addresses=("10.0.0.11",),
        algorithm=algorithm,
        rsa_bits=2048,
        validity_days=30,
    )


def locations(tmp_path: Path, store_type: StoreType) -> StoreLocations:
    return StoreLocations.for_host(Paths(ssl_dir=str(tmp_path / "ssl")), store_type)


def assert_host_certificate(cert: x509.Certificate, ca_cert: x509.Certificate) -> None:
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["kafka-1.example.com", "kafka-1"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.11")]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(eku)
    assert cert.issuer == ca_cert.subject
    assert cert.not_valid_before_utc < cert.not_valid_after_utc
    cert.verify_directly_issued_by(ca_cert)


@pytest.mark.parametrize("store_type", [StoreType.PKCS12, StoreType.JKS])
@pytest.mark.parametrize("algorithm", [KeyAlgorithm.ECDSA, KeyAlgorithm.RSA])
def test_host_custody_keytool_stores(tmp_path, store_type, algorithm):
    loc, ca = locations(tmp_path, store_type), make_ca()
    csr_pem = run(keypair_script(spec(algorithm), loc, owner=""), PASSWORD + "\n").stdout
    # pulumi-tls (Go's encoding/pem) takes only the RFC 7468 label, not keytool's 'NEW ...'.
    assert csr_pem.startswith("-----BEGIN CERTIFICATE REQUEST-----\n"), csr_pem[:40]
    assert csr_pem.rstrip().endswith("-----END CERTIFICATE REQUEST-----")
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert csr.is_signature_valid
    csr_sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert csr_sans.get_values_for_type(x509.DNSName) == ["kafka-1.example.com", "kafka-1"]

    cert_pem = sign_csr(csr_pem, ca)
    run(import_chain_script("broker-1", loc, owner=""), f"{PASSWORD}\n{cert_pem}{ca.cert_pem}")
    run(truststore_script(loc, owner=""), f"{PASSWORD}\n{ca.cert_pem}")

    listing = keytool_list(Path(loc.keystore), store_type)
    entry = listing.split("Alias name: broker-1", 1)[1]
    assert "Entry type: PrivateKeyEntry" in entry
    assert "Certificate chain length: 2" in entry
    trust = keytool_list(Path(loc.truststore), store_type)
    assert "Your keystore contains 1 entry" in trust and "trustedCertEntry" in trust
    assert oct(Path(loc.keystore).stat().st_mode & 0o777) == "0o600"
    assert_host_certificate(x509.load_pem_x509_certificate(cert_pem.encode()), ca.cert)


def test_keypair_is_kept_when_the_script_runs_again(tmp_path):
    loc = locations(tmp_path, StoreType.PKCS12)
    first = x509.load_pem_x509_csr(run(keypair_script(spec(), loc, ""), PASSWORD + "\n").stdout.encode())
    second = x509.load_pem_x509_csr(run(keypair_script(spec(), loc, ""), PASSWORD + "\n").stdout.encode())
    assert first.public_key() == second.public_key()


def test_a_keystore_that_does_not_open_is_kept_and_the_step_fails(tmp_path):
    """A changed password (or a broken keytool) must not cost the live key."""
    loc = locations(tmp_path, StoreType.PKCS12)
    run(keypair_script(spec(), loc, owner=""), PASSWORD + "\n")
    before = Path(loc.keystore).read_bytes()
    result = subprocess.run(["bash", "-c", keypair_script(spec(), loc, owner="")], input="Other-Pass-2\n",
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert Path(loc.keystore).read_bytes() == before


def test_renewed_certificate_is_imported_onto_the_same_key(tmp_path):
    loc, ca = locations(tmp_path, StoreType.PKCS12), make_ca()
    csr_pem = run(keypair_script(spec(), loc, ""), PASSWORD + "\n").stdout
    for _ in range(2):  # first issue, then a renewal
        cert_pem = sign_csr(csr_pem, ca)
        run(import_chain_script("broker-1", loc, ""), f"{PASSWORD}\n{cert_pem}{ca.cert_pem}")
        listing = keytool_list(Path(loc.keystore), StoreType.PKCS12)
        assert sha256_fingerprint(cert_pem) in listing


def test_host_custody_pem_stores(tmp_path):
    loc, ca = locations(tmp_path, StoreType.PEM), make_ca()
    csr_pem = run(keypair_script(spec(), loc, ""), "").stdout
    cert_pem = sign_csr(csr_pem, ca)
    run(import_chain_script("broker-1", loc, ""), f"\n{cert_pem}{ca.cert_pem}")
    run(truststore_script(loc, ""), f"\n{ca.cert_pem}")
    text = Path(loc.keystore).read_bytes()
    key = serialization.load_pem_private_key(text, password=None)
    chain = x509.load_pem_x509_certificates(text)
    assert len(chain) == 2 and key.public_key() == chain[0].public_key()
    assert_host_certificate(chain[0], ca.cert)
    assert x509.load_pem_x509_certificates(Path(loc.truststore).read_bytes())[0] == ca.cert


@pytest.mark.parametrize("store_type", [StoreType.PKCS12, StoreType.JKS, StoreType.PEM])
def test_stack_custody_stores_built_on_the_host(tmp_path, store_type):
    """Key and chain from the stack (as pulumi-tls gives them: PKCS#8) go in on stdin."""
    loc, ca = locations(tmp_path, store_type), make_ca()
    key_pem, csr_pem = make_csr("kafka-1.example.com", ["kafka-1.example.com", "kafka-1"], ["10.0.0.11"])
    pkcs8 = serialization.load_pem_private_key(key_pem.encode(), password=None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    cert_pem = sign_csr(csr_pem, ca)
    run(stack_keystore_script("broker-1", loc, ""), f"{PASSWORD}\n{pkcs8}{cert_pem}{ca.cert_pem}")
    run(truststore_script(loc, ""), f"{PASSWORD}\n{ca.cert_pem}")
    assert oct(Path(loc.keystore).stat().st_mode & 0o777) == "0o600"
    if store_type is StoreType.PEM:
        text = Path(loc.keystore).read_bytes()
        assert text.startswith(f"-----BEGIN {PKCS8_LABEL}-----".encode())  # PKCS#8, as Kafka reads it
        chain = x509.load_pem_x509_certificates(text)
        assert len(chain) == 2 and serialization.load_pem_private_key(text, None).public_key() == chain[0].public_key()
        assert_host_certificate(chain[0], ca.cert)
        return
    listing = keytool_list(Path(loc.keystore), store_type)
    entry = listing.split("Alias name: broker-1", 1)[1]
    assert "Entry type: PrivateKeyEntry" in entry and "Certificate chain length: 2" in entry
    assert f"Keystore type: {store_type.value}" in listing
    assert "trustedCertEntry" in keytool_list(Path(loc.truststore), store_type)


def test_no_password_on_any_command_line(tmp_path):
    loc = locations(tmp_path, StoreType.PKCS12)
    scripts = (keypair_script(spec(), loc, ""), import_chain_script("a", loc, ""), truststore_script(loc, ""),
               stack_keystore_script("a", loc, ""))
    for script in scripts:
        assert PASSWORD not in script
        assert "-storepass " not in script and "-keypass " not in script  # only the :env forms


def test_properties_file_is_backed_up_once_and_restored(tmp_path):
    target = tmp_path / "server.properties"
    target.write_text("listeners=PLAINTEXT://:9092\n")
    run(write_file_script(str(target), "640", "", backup=True), "new=1\n")
    run(write_file_script(str(target), "640", "", backup=True), "new=2\n")
    assert target.read_text() == "new=2\n"
    assert Path(str(target) + BACKUP_SUFFIX).read_text() == "listeners=PLAINTEXT://:9092\n"
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    run(restore_file_script(str(target)))
    assert target.read_text() == "listeners=PLAINTEXT://:9092\n"
    assert not Path(str(target) + BACKUP_SUFFIX).exists()


def test_a_file_that_was_not_there_is_removed_on_restore(tmp_path):
    target = tmp_path / "connect.properties"
    run(write_file_script(str(target), "640", "", backup=True), "a=1\n")
    run(restore_file_script(str(target)))
    assert not target.exists()


@pytest.fixture
def tls_server(tmp_path):
    """A TLS server on loopback presenting a CA-signed certificate, as a restarted broker would."""
    key_pem, csr_pem = make_csr("localhost", ["localhost"], ["127.0.0.1"])
    cert_pem = sign_csr(csr_pem, make_ca())
    with tls_listener(cert_pem, key_pem, tmp_path) as port:
        yield port, sha256_fingerprint(cert_pem)


def test_health_gate_passes_on_the_expected_certificate(tls_server):
    port, fingerprint = tls_server
    gate = TlsGate("127.0.0.1", port, "localhost", fingerprint, timeout_seconds=20)
    out = run(restart_script("echo restarted", gate))
    assert "restarted" in out.stdout and "health gate passed" in out.stdout


def test_health_gate_fails_on_another_certificate(tls_server):
    port, fingerprint = tls_server
    other = "00:" * 31 + "00"
    gate = TlsGate("127.0.0.1", port, "localhost", other, timeout_seconds=3)
    result = subprocess.run(["bash", "-c", restart_script("true", gate)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "does not present the expected certificate" in result.stderr


def test_stage_is_skipped_when_inter_broker_traffic_is_already_ssl(tmp_path, tls_server):
    port, fingerprint = tls_server
    target = tmp_path / "server.properties"
    target.write_text("inter.broker.listener.name=SSL\n")
    gate = TlsGate("127.0.0.1", port, "localhost", fingerprint, timeout_seconds=10)
    out = run(stage_script(str(target), "echo RESTARTED", gate, ""), "inter.broker.listener.name=PLAINTEXT\n")
    assert "stage skipped" in out.stdout and "RESTARTED" not in out.stdout
    assert target.read_text() == "inter.broker.listener.name=SSL\n"


def test_stage_writes_and_restarts_a_plaintext_broker(tmp_path, tls_server):
    port, fingerprint = tls_server
    target = tmp_path / "server.properties"
    target.write_text("security.inter.broker.protocol=PLAINTEXT\n")
    gate = TlsGate("127.0.0.1", port, "localhost", fingerprint, timeout_seconds=10)
    stage_text = "listeners=PLAINTEXT://:9092,SSL://:9093\ninter.broker.listener.name=PLAINTEXT\n"
    out = run(stage_script(str(target), "echo RESTARTED", gate, ""), stage_text)
    assert "RESTARTED" in out.stdout and "health gate passed" in out.stdout
    assert target.read_text() == stage_text
    assert Path(str(target) + BACKUP_SUFFIX).read_text() == "security.inter.broker.protocol=PLAINTEXT\n"


@pytest.mark.parametrize("running, first, runs", [
    ("controller.listener.names=CONTROLLER\n", False, True),
    ("controller.listener.names = CONTROLLER , CONTROLLER_SSL\n", False, False),
    ("controller.listener.names=CONTROLLER_SSL,CONTROLLER\n", False, False),
    ("controller.listener.names=CONTROLLER,CONTROLLER_SSL\n", True, True),
    ("controller.listener.names=CONTROLLER_SSL,CONTROLLER\n", True, False),
    ("controller.listener.names=CONTROLLER_SSL\n", True, False),
    # a longer name that starts with the new one is not it
    ("controller.listener.names=CONTROLLER_SSL2,CONTROLLER\n", True, True),
], ids=["plaintext", "added", "added and first", "added, second stage", "first", "done", "another name"])
def test_a_controller_stage_runs_only_on_a_host_not_past_it(tmp_path, tls_server, running, first, runs):
    port, fingerprint = tls_server
    target = tmp_path / "server.properties"
    target.write_text(running)
    gate = TlsGate("127.0.0.1", port, "localhost", fingerprint, timeout_seconds=10)
    stage_text = "controller.listener.names=CONTROLLER_SSL,CONTROLLER\n"
    out = run(controller_stage_script(str(target), "echo RESTARTED", gate, "", "CONTROLLER_SSL", first), stage_text)
    assert ("RESTARTED" in out.stdout) is runs, out.stdout
    assert target.read_text() == (stage_text if runs else running)
    assert ("stage skipped" in out.stdout) is not runs



# --- Real hosts: the service's own account, an SSL directory only it can read ------------------

SERVICE = "daemon:daemon"  # an account every Debian machine has, standing in for kafka:kafka


def owner_and_mode(path: str) -> tuple[str, str, str]:
    import grp
    import pwd

    st = Path(path).stat()
    return pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name, oct(st.st_mode & 0o777)


@pytest.mark.parametrize("store_type", [StoreType.PKCS12, StoreType.PEM])
def test_stores_belong_to_the_service_and_the_ssl_dir_to_its_group(tmp_path, store_type):
    loc, ca = locations(tmp_path / "etc", store_type), make_ca()
    csr_pem = run(keypair_script(spec(), loc, SERVICE), PASSWORD + "\n").stdout
    run(import_chain_script("broker-1", loc, SERVICE), f"{PASSWORD}\n{sign_csr(csr_pem, ca)}{ca.cert_pem}")
    run(truststore_script(loc, SERVICE), f"{PASSWORD}\n{ca.cert_pem}")
    ssl_dir = loc.keystore.rsplit("/", 1)[0]
    # Made under umask 077, yet the parent stays traversable and the directory group-readable.
    assert owner_and_mode(ssl_dir) == ("root", "daemon", "0o750")
    assert oct(Path(ssl_dir).parent.stat().st_mode & 0o777) == "0o755"
    assert owner_and_mode(loc.keystore) == ("daemon", "daemon", "0o600")
    assert owner_and_mode(loc.truststore) == ("daemon", "daemon", "0o640")
    assert owner_and_mode(loc.ca_pem) == ("daemon", "daemon", "0o640")


def test_a_rerun_prints_the_same_csr_so_no_certificate_is_reissued(tmp_path):
    """ECDSA signatures differ on every run: a re-run (new SSH settings) must not mean a new CSR."""
    loc = locations(tmp_path, StoreType.PKCS12)
    first = run(keypair_script(spec(), loc, ""), PASSWORD + "\n").stdout
    assert run(keypair_script(spec(), loc, ""), PASSWORD + "\n").stdout == first
    other = dataclasses.replace(spec(), dns_names=("kafka-1.example.com", "kafka-one"))
    changed = run(keypair_script(other, loc, ""), PASSWORD + "\n").stdout
    assert changed != first and x509.load_pem_x509_csr(changed.encode()).public_key() == \
        x509.load_pem_x509_csr(first.encode()).public_key()
    assert len(list(Path(loc.keystore).parent.glob("kafka.csr.*.pem"))) == 1


def test_a_keystore_without_the_alias_fails_and_says_why(tmp_path):
    loc = locations(tmp_path, StoreType.PKCS12)
    run(keypair_script(spec(), loc, ""), PASSWORD + "\n")
    before = Path(loc.keystore).read_bytes()
    renamed = dataclasses.replace(spec(), alias="broker-9")
    result = subprocess.run(["bash", "-c", keypair_script(renamed, loc, "")], input=PASSWORD + "\n",
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "gives no key 'broker-9'" in result.stderr and "never deletes a keystore" in result.stderr
    assert Path(loc.keystore).read_bytes() == before


def test_sudo_gets_the_script_as_an_argument_and_secrets_on_stdin(tmp_path):
    script = f"IFS= read -r pw; printf '%s' \"$pw\" > {tmp_path}/seen\n"
    assert as_root(script, sudo=True).startswith("sudo -n -- /bin/bash -c ")
    # The line a root login runs is the same script, unchanged by quoting.
    subprocess.run(as_root(script, sudo=False), shell=True, input="s3cret\n", text=True, check=True)
    assert (tmp_path / "seen").read_text() == "s3cret"
    assert "s3cret" not in as_root(script, sudo=True)


def test_what_a_path_change_left_behind_is_removed_and_the_original_put_back(tmp_path):
    old_ssl, props = tmp_path / "old-ssl", tmp_path / "server.properties"
    old_ssl.mkdir()
    for name in ("kafka.keystore.p12", "kafka.truststore.p12", "kafka-tls-secrets.properties", "kafka.csr.abc.pem",
                 "kafka-tls-ca.pem"):
        (old_ssl / name).write_text("x")
    props.write_text("managed\n")
    (tmp_path / f"server.properties{BACKUP_SUFFIX}").write_text("original\n")
    old = {"ssl_dir": str(old_ssl), "keystore": str(old_ssl / "kafka.keystore.p12"),
           "truststore": str(old_ssl / "kafka.truststore.p12"),
           "secrets": str(old_ssl / "kafka-tls-secrets.properties"), "properties": str(props)}
    run("set -euo pipefail\n" + remove_left_behind_script(old))
    assert not old_ssl.exists()
    assert props.read_text() == "original\n" and not (tmp_path / f"server.properties{BACKUP_SUFFIX}").exists()
    assert remove_left_behind_script({}) == ""


def test_a_restart_steps_update_rewrites_the_file_and_restarts_nothing(tmp_path):
    path = tmp_path / "server.properties"
    marker = tmp_path / "restarted"
    create = write_and_restart_script(str(path), "640", "", f"touch {marker}", None)
    run(create, "a=1\n")
    marker.unlink()
    run(rewrite_file_script(str(path), "600", SERVICE), "a=1\n")
    assert not marker.exists() and path.read_text() == "a=1\n"
    assert owner_and_mode(str(path)) == ("daemon", "daemon", "0o600")
    run(STAGE_PASSED_SCRIPT, "a=2\n")
    assert path.read_text() == "a=1\n"


def test_a_stage_is_skipped_when_replication_already_runs_on_the_named_tls_listener(tmp_path, tls_server):
    target = tmp_path / "server.properties"
    target.write_text("inter.broker.listener.name=EXTERNAL\n")
    port, fingerprint = tls_server
    gate = TlsGate("127.0.0.1", port, "localhost", fingerprint, 5)
    out = run(stage_script(str(target), "echo RESTARTED", gate, "", "EXTERNAL"), "inter.broker.listener.name=INTERNAL\n")
    assert "stage skipped" in out.stdout and "RESTARTED" not in out.stdout
    target.write_text("inter.broker.listener.name=SSL\n")  # SSL is not the TLS listener here
    out = run(stage_script(str(target), "echo RESTARTED", gate, "", "EXTERNAL"), "inter.broker.listener.name=INTERNAL\n")
    assert "RESTARTED" in out.stdout


def test_a_failed_gate_leaves_the_restart_pending_and_the_next_update_resumes_it(tmp_path, tls_server):
    """Pulumi updates a step that failed last time; its update restarts again only then."""
    port, fingerprint = tls_server
    path, pending = tmp_path / "server.properties", str(tmp_path / "kafka-tls-restart.pending")
    failing = TlsGate("127.0.0.1", port, "localhost", "00:" * 31 + "00", timeout_seconds=2)
    passing = TlsGate("127.0.0.1", port, "localhost", fingerprint, timeout_seconds=20)
    first = subprocess.run(["bash", "-c", write_and_restart_script(str(path), "640", "", "echo RESTARTED", failing, pending)],
                           input="a=1\n", capture_output=True, text=True, timeout=60)
    assert first.returncode != 0 and "health gate failed on 127.0.0.1" in first.stderr
    assert Path(pending).exists()
    update = resume_or(pending, write_and_restart_script(str(path), "640", "", "echo RESTARTED", passing, pending),
                       rewrite_file_script(str(path), "640", ""))
    assert "RESTARTED" in run(update, "a=1\n").stdout
    assert not Path(pending).exists()
    assert "RESTARTED" not in run(update, "a=1\n").stdout  # passed: a later update restarts nothing


def test_connect_gate_waits_for_every_connector_and_task_running(tmp_path):
    """The gate's REST parsing, against a local HTTP server playing the worker's answers."""
    import http.server

    answers = iter([
        (200, '{"c1":{"status":{"connector":{"state":"RUNNING"},"tasks":[{"id":0,"state":"UNASSIGNED"}]}}}'),
        (200, '{"c1":{"status":{"connector":{"state":"RUNNING"},"tasks":[{"id":0,"state":"RUNNING"}]}}}'),
    ])

    class Worker(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            status, body = next(answers, (200, "{}"))
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Worker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        gate = ConnectGate("connect-1", "127.0.0.1", server.server_address[1], "http", timeout_seconds=20)
        out = run(restart_script("true", gate))
        assert "health gate passed: connect-1" in out.stdout
        assert next(answers, None) is None, "the gate passed before every task was RUNNING"
        stuck = ConnectGate("connect-1", "127.0.0.1", 1, "http", timeout_seconds=2)  # nothing listens on port 1
        result = subprocess.run(["bash", "-c", restart_script("true", stuck)], capture_output=True, text=True, timeout=60)
        assert result.returncode != 0 and "REST API at http://127.0.0.1:1 does not answer" in result.stderr
    finally:
        server.shutdown()


@pytest.mark.parametrize("store_type", [StoreType.PKCS12, StoreType.JKS, StoreType.PEM])
def test_truststore_holds_every_ca_of_a_rotation(tmp_path, store_type):
    """During a CA rotation the truststore holds the old and the new CA (keytool alone would import
    only the first certificate of the file); after it, the new one alone. So does its PEM twin."""
    loc, old, new = locations(tmp_path, store_type), make_ca("kafka-tls CA"), make_ca("kafka-tls CA")
    run(truststore_script(loc, owner=""), f"{PASSWORD}\n{old.cert_pem}{new.cert_pem}")
    assert x509.load_pem_x509_certificates(Path(loc.ca_pem).read_bytes()) == [old.cert, new.cert]
    if store_type is StoreType.PEM:
        trusted = x509.load_pem_x509_certificates(Path(loc.truststore).read_bytes())
        assert trusted == [old.cert, new.cert]
    else:
        listing = keytool_list(Path(loc.truststore), store_type)
        assert "Your keystore contains 2 entries" in listing and listing.count("trustedCertEntry") == 2
        for ca in (old, new):
            assert sha256_fingerprint(ca.cert_pem) in listing
    run(truststore_script(loc, owner=""), f"{PASSWORD}\n{new.cert_pem}")
    assert x509.load_pem_x509_certificates(Path(loc.ca_pem).read_bytes()) == [new.cert]
    if store_type is StoreType.PEM:
        assert x509.load_pem_x509_certificates(Path(loc.truststore).read_bytes()) == [new.cert]
    else:
        assert "Your keystore contains 1 entry" in keytool_list(Path(loc.truststore), store_type)


# --- IPv6 addresses and https Connect REST: real handshakes ----------------------------------------


def test_host_port_brackets_ipv6_literals_only():
    assert host_port("::1", 9093) == "[::1]:9093"
    assert host_port("[2001:db8::5]", 9093) == "[2001:db8::5]:9093"
    assert host_port("10.0.0.11", 9093) == "10.0.0.11:9093"
    assert host_port("kafka-1.example.com", 9093) == "kafka-1.example.com:9093"
    tls = TlsGate("2001:db8::5", 9093, "2001:db8::5", "AB", 5)
    assert KafkaGate("broker-1", tls, 1, "/opt/kafka/bin", "/etc/c.properties").bootstrap == "[2001:db8::5]:9093"


def _ipv6_loopback() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def _need_ipv6_loopback() -> None:
    """Skip where no socket can bind ::1 (a host with IPv6 off); under .ci/run
    (KAFKA_TLS_NO_SKIP) fail instead, so CI never passes without these gates having run."""
    if _ipv6_loopback():
        return
    why = "this machine has no ::1 on its loopback interface"
    if os.environ.get("KAFKA_TLS_NO_SKIP"):
        pytest.fail(f"{why}: the IPv6 gate tests cannot run (KAFKA_TLS_NO_SKIP is set)")
    pytest.skip(why)


@pytest.fixture
def openssl_server_on_ipv6_loopback(tmp_path):
    """``openssl s_server`` on [::1] presenting a CA-signed certificate: (port, its fingerprint)."""
    import time

    _need_ipv6_loopback()
    ca = make_ca()
    key_pem, csr_pem = make_csr("localhost", ["localhost"], ["::1"])
    cert_pem = sign_csr(csr_pem, ca)
    (tmp_path / "cert.pem").write_text(cert_pem)
    (tmp_path / "key.pem").write_text(key_pem)
    log = tmp_path / "s_server.log"
    with log.open("w") as out:
        # stdin held open (s_server reads commands from it); port 0: it prints the one it took.
        server = subprocess.Popen(
            ["openssl", "s_server", "-accept", "[::1]:0", "-cert", "cert.pem", "-key", "key.pem"],
            cwd=tmp_path, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(100):
            accept = [line for line in log.read_text().splitlines() if line.startswith("ACCEPT [::1]:")]
            if accept or server.poll() is not None:
                break
            time.sleep(0.05)
        assert accept, f"openssl s_server did not start:\n{log.read_text()}"
        yield int(accept[0].rsplit(":", 1)[1]), sha256_fingerprint(cert_pem)
    finally:
        server.kill()
        server.wait()


def test_health_gate_reaches_a_broker_on_an_ipv6_address(openssl_server_on_ipv6_loopback):
    """openssl s_client needs [addr]:port for an IPv6 literal ('::1:port' is refused as ambiguous)."""
    port, fingerprint = openssl_server_on_ipv6_loopback
    gate = TlsGate("::1", port, "localhost", fingerprint, timeout_seconds=20)
    out = run(restart_script("true", gate))
    assert f"health gate passed: [::1]:{port} presents {fingerprint[:23]}" in out.stdout
    wrong = TlsGate("::1", port, "localhost", "00:" * 31 + "00", timeout_seconds=2)
    result = subprocess.run(["bash", "-c", restart_script("true", wrong)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"[::1]:{port} does not present the expected certificate (saw: sha256 Fingerprint={fingerprint})" in result.stderr


def test_health_gate_names_an_ipv6_server_by_address_without_sni(openssl_server_on_ipv6_loopback):
    """A host named by its IPv6 literal: no SNI (RFC 6066 has none for addresses), still the handshake."""
    port, fingerprint = openssl_server_on_ipv6_loopback
    out = run(restart_script("true", TlsGate("::1", port, "::1", fingerprint, timeout_seconds=20)))
    assert "health gate passed" in out.stdout


@pytest.fixture
def https_worker(tmp_path):
    """A Connect worker's REST API over https on 127.0.0.1, its certificate (for 'localhost') from
    a throwaway CA: (port, that CA, the requests it answered)."""
    import http.server

    ca = make_ca("worker CA")
    key_pem, csr_pem = make_csr("localhost", ["localhost"], ["127.0.0.1"])
    (tmp_path / "worker-cert.pem").write_text(sign_csr(csr_pem, ca) + ca.cert_pem)
    (tmp_path / "worker-key.pem").write_text(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "worker-cert.pem", tmp_path / "worker-key.pem")
    requests = []

    class Worker(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            requests.append((self.path, self.headers.get("Host")))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"c1":{"status":{"connector":{"state":"RUNNING"},"tasks":[{"id":0,"state":"RUNNING"}]}}}')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Worker)
    server.socket = context.wrap_socket(server.socket, server_side=True)  # a failed handshake is dropped
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], ca, requests
    finally:
        server.shutdown()
        server.server_close()


def test_https_connect_gate_trusts_the_ca_bundle_the_truststore_script_writes(tmp_path, https_worker):
    port, worker_ca, requests = https_worker
    loc = locations(tmp_path, StoreType.PKCS12)
    run(truststore_script(loc, owner=""), f"{PASSWORD}\n{worker_ca.cert_pem}")
    gate = ConnectGate("connect-1", "127.0.0.1", port, "https", 20, server_name="localhost", ca_file=loc.ca_pem)
    out = run(restart_script("true", gate))
    assert "health gate passed: connect-1: REST answers" in out.stdout
    assert requests == [("/connectors?expand=status", f"localhost:{port}")]


@pytest.mark.parametrize("why", ["another CA", "another name", "another CA, the worker's in the default paths"])
def test_https_connect_gate_fails_unless_the_worker_is_verified(tmp_path, https_worker, why):
    """Over https the worker must chain to the CA file and carry the name: any other CA (even
    one the host's default CA paths hold) or name fails the gate, and nothing is asked."""
    port, worker_ca, requests = https_worker
    other = make_ca("worker CA")
    (tmp_path / "right.pem").write_text(worker_ca.cert_pem)
    (tmp_path / "other.pem").write_text(other.cert_pem)
    ca_file, name, env = str(tmp_path / "other.pem"), "localhost", None
    if why == "another name":
        ca_file, name = str(tmp_path / "right.pem"), "kafka-connect.example.com"
    elif why.endswith("default paths"):
        default_dir = tmp_path / "default-certs"
        default_dir.mkdir()
        (default_dir / "worker-ca.pem").write_text(worker_ca.cert_pem)
        subprocess.run(["openssl", "rehash", str(default_dir)], check=True, capture_output=True)
        env = {"PATH": "/usr/bin:/bin", "SSL_CERT_DIR": str(default_dir), "SSL_CERT_FILE": str(tmp_path / "right.pem")}
    gate = ConnectGate("connect-1", "127.0.0.1", port, "https", 2, server_name=name, ca_file=ca_file)
    result = subprocess.run(["bash", "-c", restart_script("true", gate)], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode != 0
    assert f"the REST API at https://127.0.0.1:{port}, verified against {ca_file}, does not answer 200" in result.stderr
    assert requests == []


def test_connect_gate_reaches_a_worker_on_an_ipv6_address():
    """http over bash's /dev/tcp takes the bare address; the Host header has it in brackets."""
    import http.server
    import socket

    _need_ipv6_loopback()
    hosts = []

    class Worker(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hosts.append(self.headers.get("Host"))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    class V6Server(http.server.HTTPServer):
        address_family = socket.AF_INET6

    server = V6Server(("::1", 0), Worker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        out = run(restart_script("true", ConnectGate("connect-1", "::1", port, "http", timeout_seconds=20)))
        assert "health gate passed: connect-1" in out.stdout and hosts == [f"[::1]:{port}"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def tools_archive_dir(tmp_path, monkeypatch):
    """The scripts' class archive folder in the test's own folder, not this machine's /var/cache."""
    from components import scripts

    monkeypatch.setattr(scripts, "TOOLS_ARCHIVE_DIR", str(tmp_path / "cache"))

def _topics_standin(folder: Path, at_min_isr: str) -> str:
    """A kafka-topics.sh that answers --at-min-isr-partitions with the given lines (Kafka's
    own describe format); the e2e tests ask a real cluster."""
    folder.mkdir()
    tool = folder / "kafka-topics.sh"
    tool.write_text(f"#!/bin/bash\ncat <<'EOF'\n{at_min_isr}\nEOF\n")
    tool.chmod(0o755)
    return str(folder)


@pytest.mark.parametrize("isr, restarts", [("1,2", False), ("2,3", True)])
def test_a_broker_holding_a_partition_at_min_isr_is_not_taken_down(tmp_path, tls_server, isr, restarts):
    """Node 1 in the ISR of a partition at min.insync.replicas: the step fails before it writes
    the file or restarts, naming the partition. Not in that ISR: it restarts."""
    line = f"\tTopic: orders\tPartition: 4\tLeader: 2\tReplicas: 1,2\tIsr: {isr}\tElr: \tLastKnownElr: "
    kafka_bin = _topics_standin(tmp_path / "bin", line)
    port, _ = tls_server  # the broker's TLS listener answers
    gate = KafkaGate("broker-1", TlsGate("127.0.0.1", port, "localhost", "AA", timeout_seconds=0), 1, kafka_bin, "/dev/null")
    target = tmp_path / "server.properties"
    script = write_and_restart_script(str(target), "640", "", f"touch {tmp_path}/restarted; exit 0", gate)
    result = subprocess.run(["bash", "-c", script], input="new=1\n", capture_output=True, text=True, timeout=60)
    assert (tmp_path / "restarted").exists() == restarts
    if not restarts:
        assert result.returncode == 1 and not target.exists()
        assert "not restarting broker-1" in result.stderr and "Topic: orders Partition: 4" in result.stderr


def test_the_restart_command_inherits_none_of_the_tools_jvm_options(tmp_path, tls_server):
    """The pre-check's Kafka tool runs on a small heap; the restart command after it must not
    inherit that: Kafka's start scripts read the same variables, and lab brokers restarted by the
    program ran on the tools' 256 MiB heap until one ran out of memory at a start."""
    port, _ = tls_server  # the broker's TLS listener answers, so the pre-check asks the tool
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "kafka-topics.sh"
    tool.write_text(f'#!/bin/bash\necho "$KAFKA_HEAP_OPTS" > {tmp_path}/tool-heap\n')
    tool.chmod(0o755)
    gate = KafkaGate("broker-1", TlsGate("127.0.0.1", port, "localhost", "AA", timeout_seconds=0), 1, str(bin_dir), "/dev/null")
    restart = f'echo "${{KAFKA_HEAP_OPTS-unset}} ${{KAFKA_JVM_PERFORMANCE_OPTS-unset}}" > {tmp_path}/service-env; exit 0'
    script = write_and_restart_script(str(tmp_path / "server.properties"), "640", "", restart, gate)
    result = subprocess.run(["bash", "-c", script], input="new=1\n", capture_output=True, text=True, timeout=60,
                            env={k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "tool-heap").read_text() == "-Xmx256m\n"
    assert (tmp_path / "service-env").read_text() == "unset unset\n"


def test_the_first_tool_on_a_host_writes_the_tools_class_archive_and_later_ones_map_it(tmp_path, tls_server):
    """A stand-in kafka-topics.sh records the JVM options it gets and writes the archive file an
    -XX:ArchiveClassesAtExit names, as the JVM does at exit. The first step dumps, the next maps
    the archive it kept; new Kafka libs make another archive."""
    port, _ = tls_server  # the broker's TLS listener answers, so the pre-check asks the tool
    bin_dir, libs = tmp_path / "kafka" / "bin", tmp_path / "kafka" / "libs"
    bin_dir.mkdir(parents=True)
    libs.mkdir()
    (libs / "kafka-clients-4.4.0.jar").write_text("jar")
    tool = bin_dir / "kafka-topics.sh"
    tool.write_text(
        "#!/bin/bash\n"
        f'echo "$KAFKA_JVM_PERFORMANCE_OPTS" >> {tmp_path}/opts\n'
        'for o in $KAFKA_JVM_PERFORMANCE_OPTS; do case "$o" in -XX:ArchiveClassesAtExit=*) echo classes > "${o#*=}";; esac; done\n'
    )
    tool.chmod(0o755)
    gate = KafkaGate("broker-1", TlsGate("127.0.0.1", port, "localhost", "AA", timeout_seconds=0), 1, str(bin_dir), "/dev/null")

    def step() -> str:
        (tmp_path / "opts").unlink(missing_ok=True)
        script = write_and_restart_script(str(tmp_path / "server.properties"), "640", "", "exit 0", gate)
        result = subprocess.run(["bash", "-c", script], input="new=1\n", capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return (tmp_path / "opts").read_text()

    first = step()
    archives = sorted((tmp_path / "cache").iterdir())
    assert len(archives) == 1 and archives[0].name.startswith("tools-") and archives[0].name.endswith(".jsa"), archives
    assert f"-XX:ArchiveClassesAtExit={archives[0]}." in first and "-Xlog:disable" in first
    assert step().split() == ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xlog:disable", f"-XX:SharedArchiveFile={archives[0]}"]
    (libs / "kafka-clients-4.4.0.jar").unlink()
    (libs / "kafka-clients-4.5.0.jar").write_text("jar")
    assert "-XX:ArchiveClassesAtExit=" in step()
    assert len(list((tmp_path / "cache").iterdir())) == 2


@pytest.mark.parametrize("running, restarts", [("inter.broker.listener.name=SSL\n", True),
                                                ("inter.broker.listener.name=PLAINTEXT\n", False)])
def test_the_stage_back_from_ssl_only_runs_only_on_a_broker_still_replicating_over_tls(tmp_path, tls_server, running, restarts):
    port, fingerprint = tls_server
    target = tmp_path / "server.properties"
    target.write_text(running)
    gate = TlsGate("127.0.0.1", port, "localhost", fingerprint, timeout_seconds=10)
    stage_text = "listeners=PLAINTEXT://:9092,SSL://:9093\ninter.broker.listener.name=SSL\n"
    out = run(stage_script(str(target), "echo RESTARTED", gate, "", back=True), stage_text)
    assert ("RESTARTED" in out.stdout) == restarts
    assert target.read_text() == (stage_text if restarts else running)


@contextlib.contextmanager
def _port_without_tls(listening: bool) -> Iterator[int]:
    """A port nothing listens on, or (``listening``) one that accepts and closes on the first
    bytes, as a plaintext Kafka listener does with a TLS ClientHello (a request size it refuses)."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    if not listening:
        server.close()

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(16)

    if listening:
        threading.Thread(target=serve, daemon=True).start()
    try:
        yield port
    finally:
        server.close()


@pytest.mark.parametrize("listening", [False, True], ids=["closed", "plaintext"])
def test_a_broker_without_its_tls_listener_yet_is_restarted_without_asking(tmp_path, listening):
    """The first rollout from plaintext (nothing on the TLS port), or a listener that turns TLS in
    this step (named listeners converted in place: plaintext still): the check says so at once,
    rather than let the tool retry for a minute, and the step goes on. (The stand-in tool would
    answer; the real one, asked over TLS, would wait.)"""
    kafka_bin = _topics_standin(tmp_path / "bin", "\tTopic: orders\tPartition: 4\tLeader: 2\tReplicas: 1,2\tIsr: 1,2")
    with _port_without_tls(listening) as port:
        gate = KafkaGate("broker-1", TlsGate("127.0.0.1", port, "localhost", "AA", timeout_seconds=0), 1, kafka_bin, "/dev/null")
        script = write_and_restart_script(str(tmp_path / "server.properties"), "640", "", f"touch {tmp_path}/restarted; exit 0", gate)
        result = subprocess.run(["bash", "-c", script], input="new=1\n", capture_output=True, text=True, timeout=60)
    assert "no TLS listener to ask yet" in result.stdout and (tmp_path / "restarted").exists()


def _cluster_standins(folder: Path, urp_rounds: int, elect_after: int) -> Path:
    """Stand-ins for the four tools a broker's gate after a restart starts, each logging its
    name to ``calls``: node 1 registered and caught up; under-replicated partitions for the
    first ``urp_rounds`` asks; the preferred election failing for its first ``elect_after`` runs
    (not yet in every ISR it leads by preference). The e2e tests run the real ones."""
    folder.mkdir()
    calls = folder / "calls"
    answers = {
        "kafka-broker-api-versions.sh": "echo 'broker-1.kafka.lab:9093 (id: 1 rack: null) -> ('",
        "kafka-metadata-quorum.sh": "printf 'NodeId DirectoryId LogEndOffset Lag LastFetchTimestamp LastCaughtUpTimestamp Status\\n"
                                    "1 x 10 0 1 1 Leader\\n'",
        "kafka-topics.sh": f"[ \"$(grep -c '^urp' {calls})\" -gt {urp_rounds} ] || "
                           "echo 'Topic: t Partition: 0 Leader: 2 Replicas: 1,2 Isr: 2'",
        "kafka-leader-election.sh": f"[ \"$(grep -c '^election' {calls})\" -gt {elect_after} ]",
    }
    tags = {"kafka-topics.sh": "urp", "kafka-leader-election.sh": "election"}
    for name, answer in answers.items():
        tool = folder / name
        tool.write_text(f"#!/bin/bash\necho {tags.get(name, name)} >> {calls}\n{answer}\n")
        tool.chmod(0o755)
    return calls


@pytest.mark.parametrize("elect_after", [0, 2], ids=["in ISR at once", "in ISR from the third round"])
def test_the_preferred_election_runs_in_the_gates_rounds_until_it_succeeds(tmp_path, tls_server, elect_after):
    """After a restart the election shares the gate's rounds (one tool start less after the gate)
    and stops once it succeeded; the gate still passes only when nothing is under-replicated."""
    port, fingerprint = tls_server
    calls = _cluster_standins(tmp_path / "bin", urp_rounds=3, elect_after=elect_after)
    gate = KafkaGate("broker-1", TlsGate("127.0.0.1", port, "localhost", fingerprint, timeout_seconds=60), 1,
                     str(tmp_path / "bin"), "/dev/null")
    out = run(restart_script("true", gate)).stdout
    assert out.index("health gate passed: broker-1") < out.index("preferred leaders elected")
    log = calls.read_text().split()
    assert log.count("urp") == 4, log  # three rounds under-replicated, the fourth passes
    assert log.count("election") == elect_after + 1, log  # run each round until it succeeded, then no more


@pytest.mark.parametrize("listening", [True, False], ids=["answers", "closed"])
def test_a_sasl_ssl_brokers_precheck_asks_over_its_plaintext_listener(tmp_path, listening):
    """The TLS listener is SASL_SSL (no credentials): the tools dial the kept plaintext listener,
    a connection (not a TLS handshake) tells whether it answers, and the stand-in tool is asked
    with that listener as its bootstrap; a partition at min ISR holding node 1 stops the restart."""
    folder = tmp_path / "bin"
    folder.mkdir()
    tool = folder / "kafka-topics.sh"
    tool.write_text(f"#!/bin/bash\necho \"$@\" > {tmp_path}/asked\n"
                    "echo '\tTopic: orders\tPartition: 4\tLeader: 2\tReplicas: 1,2\tIsr: 1,2'\n")
    tool.chmod(0o755)
    with _port_without_tls(listening) as port:
        tls = TlsGate("127.0.0.1", 1, "localhost", "AA", timeout_seconds=0)  # nothing on the TLS port
        gate = KafkaGate("broker-1", tls, 1, str(folder), "/dev/null", tools_port=port)
        script = write_and_restart_script(str(tmp_path / "server.properties"), "640", "", f"touch {tmp_path}/restarted", gate)
        result = subprocess.run(["bash", "-c", script], input="new=1\n", capture_output=True, text=True, timeout=60)
    if listening:
        assert result.returncode != 0 and "not restarting broker-1" in result.stderr, result.stderr
        assert f"--bootstrap-server localhost:{port}" in (tmp_path / "asked").read_text()
        assert not (tmp_path / "restarted").exists()
    else:
        assert "the plaintext listener does not answer; restarting" in result.stdout and (tmp_path / "restarted").exists()
