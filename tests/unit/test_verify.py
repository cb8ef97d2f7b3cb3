"""The main job's verification table trusts what clients must: mid-rotation the brokers still
serve certificates from the old CA while ``ca_cert_pem`` is already the new one."""

from __future__ import annotations

import socket
import ssl
import tempfile
import threading
from pathlib import Path

import pytest

from labstack.verify import verify_cluster
from tests.unit.certs import make_ca, make_csr, sign_csr


@pytest.fixture
def broker_of_the_old_ca():
    """A TLS listener on 127.0.0.1 serving a certificate the old CA signed (name 'localhost')."""
    old, new = make_ca("kafka-tls CA"), make_ca("kafka-tls CA")
    key_pem, csr_pem = make_csr("localhost", ["localhost"], ["127.0.0.1"])
    cert_pem = sign_csr(csr_pem, old)
    folder = Path(tempfile.mkdtemp())
    (folder / "cert.pem").write_text(cert_pem)
    (folder / "key.pem").write_text(key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1], old, new
    stop.set()
    thread.join(2)
    sock.close()


def test_phase_1_of_a_rotation_verifies_against_the_bundle(broker_of_the_old_ca):
    port, old, new = broker_of_the_old_ca
    outputs = {
        "ssl_bootstrap_servers": f"localhost:{port}",
        "ca_cert_pem": new.cert_pem,  # phase 1: the newest CA, which signed nothing yet
        "ca_bundle_pem": old.cert_pem + new.cert_pem,
    }
    checks = verify_cluster(outputs, {"localhost": "127.0.0.1"})
    assert [(c.target, c.handshake, c.chain_valid, c.san_matches) for c in checks] == [
        ("localhost", True, True, True), ("127.0.0.1", True, True, True)]
    # What the table did before: the new CA alone fails every broker.
    alone = verify_cluster({**outputs, "ca_bundle_pem": new.cert_pem}, {"localhost": "127.0.0.1"})
    assert not any(c.chain_valid for c in alone)
