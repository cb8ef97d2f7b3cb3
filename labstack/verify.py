"""The verification table: every broker's SSL listener checked by name and by address, using
only the stack outputs (the CA bundle clients trust and the SSL bootstrap servers)."""

from __future__ import annotations

import datetime
import socket
import ssl
from dataclasses import dataclass

from cryptography import x509


@dataclass(frozen=True)
class ListenerCheck:
    host: str
    target: str
    port: int
    handshake: bool
    chain_valid: bool
    san_matches: bool
    days_to_expiry: int
    detail: str = ""


def check_listener(target: str, port: int, ca_pem: str, host: str, timeout: float = 10.0) -> ListenerCheck:
    """TLS handshake to target:port; the chain must verify against the CA and the name or IP
    dialled must match a SAN (Python's hostname check, as Kafka's 'https' algorithm does)."""
    loose = ssl.create_default_context(cadata=ca_pem)
    loose.check_hostname = False
    strict = ssl.create_default_context(cadata=ca_pem)
    try:
        with socket.create_connection((target, port), timeout=timeout) as sock:
            with loose.wrap_socket(sock, server_hostname=target) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as err:
        return ListenerCheck(host, target, port, False, False, False, 0, str(err))
    cert = x509.load_der_x509_certificate(der)
    days = (cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)).days
    try:
        with socket.create_connection((target, port), timeout=timeout) as sock:
            with strict.wrap_socket(sock, server_hostname=target):
                pass
        return ListenerCheck(host, target, port, True, True, True, days)
    except ssl.SSLCertVerificationError as err:
        san_problem = "match" in str(err) or "mismatch" in str(err)
        return ListenerCheck(host, target, port, True, san_problem, not san_problem, days, err.verify_message)


def verify_cluster(outputs: dict, addresses: dict[str, str]) -> list[ListenerCheck]:
    """Check every SSL bootstrap server, and every controller's TLS listener, by its DNS name and by its address.

    Args:
        outputs: the stack outputs (``ca_bundle_pem``, ``ssl_bootstrap_servers``). The bundle, not
            ``ca_cert_pem``: in phase 1 of a CA rotation the new CA has signed nothing yet.
        addresses: DNS name -> IP address of each broker.
    """
    checks = []
    # The controllers' TLS listeners too (they ask for a client certificate only after TLS 1.3's handshake).
    servers = [*outputs["ssl_bootstrap_servers"].split(","), *filter(None, outputs.get("ssl_controller_servers", "").split(","))]
    for server in servers:
        name, port = server.rsplit(":", 1)
        for target in (name, addresses[name]):
            checks.append(check_listener(target, int(port), outputs["ca_bundle_pem"], name))
    return checks
