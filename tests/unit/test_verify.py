"""The main job's verification table trusts what clients must: mid-rotation the brokers still
serve certificates from the old CA while ``ca_cert_pem`` is already the new one."""

from __future__ import annotations

import pytest

from labstack.verify import verify_cluster
from tests.unit.certs import make_ca, make_csr, sign_csr, tls_listener


@pytest.fixture
def broker_of_the_old_ca(tmp_path):
    """A TLS listener on 127.0.0.1 serving a certificate the old CA signed (name 'localhost')."""
    old, new = make_ca("kafka-tls CA"), make_ca("kafka-tls CA")
    key_pem, csr_pem = make_csr("localhost", ["localhost"], ["127.0.0.1"])
    with tls_listener(sign_csr(csr_pem, old), key_pem, tmp_path) as port:
        yield port, old, new


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


def test_the_controllers_tls_listeners_are_checked_too(broker_of_the_old_ca):
    port, old, new = broker_of_the_old_ca
    outputs = {"ssl_bootstrap_servers": f"localhost:{port}", "ssl_controller_servers": f"localhost:{port}",
               "ca_bundle_pem": old.cert_pem}
    assert len(verify_cluster(outputs, {"localhost": "127.0.0.1"})) == 4
    assert len(verify_cluster({**outputs, "ssl_controller_servers": ""}, {"localhost": "127.0.0.1"})) == 2
