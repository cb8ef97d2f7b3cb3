"""Client identities for mutual TLS: per listed client a key and a certificate signed by the stack's CA.

The certificate's subject is ``CN=<name>`` and its only extended key usage is client
authentication. With the brokers' ``ssl.principal.mapping.rules``
(``properties.PRINCIPAL_MAPPING_RULES``) the client's Kafka principal is ``User:<name>``.

Everything a client needs is one secret stack output (``client_identities``): the PEM certificate,
the PKCS#8 PEM key, the CA certificate, and for Java clients a PKCS12 keystore with its password.

The PKCS12 is built here with ``cryptography``, whose salts and IVs are random: the same key and
certificate give different bytes on every build. So that a ``pulumi up`` shows no needless output
change, the last ``up``'s keystore is kept for as long as it opens with the password and holds
exactly this key, certificate and CA (``pkcs12_keystore``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_tls as tls
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from components.cert_info import not_after
from components.certificate_authority import HOURS_PER_DAY, CertificateAuthority, key_args
from components.config import NAMESPACE, Client, ClientAuth, Host, KeyAlgorithm, Tls

__all__ = [
    "CLIENT_CERT_USES",
    "ClientIdentity",
    "ClientIdentityArgs",
    "build_pkcs12",
    "client_auth_warning",
    "pkcs12_keystore",
    "pkcs12_password",
    "principal",
    "super_users",
]

# A client signs the TLS handshake (CertificateVerify): digitalSignature is all its key does, for
# RSA and ECDSA alike. keyEncipherment is a server's RSA key exchange, and RFC 5480 does not allow
# it for EC keys. No serverAuth: a client's certificate cannot stand in for a broker.
CLIENT_CERT_USES = ["digital_signature", "client_auth"]
# PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) with a SHA-256 MAC, which Java reads since 8u301/11.0.12;
# 10000 rounds, as Java's own keytool writes PKCS12.
PKCS12_KDF_ROUNDS = 10_000
_PASSWORD_LABEL = b"kafka-tls pkcs12 password v1:"


def principal(name: str) -> str:
    """The client's Kafka principal under PRINCIPAL_MAPPING_RULES, as ACLs name it."""
    return f"User:{name}"


def super_users(hosts: list[Host]) -> str:
    """The brokers' and workers' own principals under PRINCIPAL_MAPPING_RULES (their certificates
    are ``CN=<host DNS name>``), as ``super.users`` takes them, ';'-separated. An authorizer must let
    them replicate, run Connect and run the health gate's tools."""
    return ";".join(principal(h.host) for h in hosts)


def pkcs12_password(key_pem: str, name: str) -> str:
    """The PKCS12 password: HMAC-SHA256, keyed with the client's private key (PKCS#8 DER), of
    'kafka-tls pkcs12 password v1:<name>', as 32 hex characters.

    The same key always gives the same password, so the output stays put between ``up``s; a new
    key gives a new one; nobody derives it without the key. It guards the keystore file no better
    than the key does, and needs to: Java wants a password on PKCS12, and the key itself is in
    the same secret output.
    """
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return hmac.new(der, _PASSWORD_LABEL + name.encode(), hashlib.sha256).hexdigest()[:32]


def build_pkcs12(name: str, key_pem: str, cert_pem: str, ca_pem: str, password: str) -> bytes:
    """A PKCS12 keystore: one key entry, alias ``name``, chain certificate + CA."""
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(PKCS12_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode())
    )
    return pkcs12.serialize_key_and_certificates(
        name.encode(),
        key,  # type: ignore[arg-type]
        x509.load_pem_x509_certificate(cert_pem.encode()),
        [x509.load_pem_x509_certificate(ca_pem.encode())],
        encryption,
    )


def _holds(data: bytes, password: str, name: str, key_pem: str, cert_pem: str, ca_pem: str) -> bool:
    """Whether a PKCS12 opens with ``password`` and holds exactly this alias, key and chain."""
    try:
        store = pkcs12.load_pkcs12(data, password.encode())
    except ValueError:
        return False
    if store.key is None or store.cert is None:
        return False
    der = (serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    return (
        store.cert.friendly_name == name.encode()
        and store.key.private_bytes(*der) == key.private_bytes(*der)
        and store.cert.certificate == x509.load_pem_x509_certificate(cert_pem.encode())
        and [c.certificate for c in store.additional_certs] == [x509.load_pem_x509_certificate(ca_pem.encode())]
    )


def pkcs12_keystore(
    name: str, key_pem: str, cert_pem: str, ca_pem: str, previous: Optional[Mapping[str, Any]] = None
) -> dict[str, str]:
    """``{"pkcs12_base64", "pkcs12_password"}`` for a client; the last ``up``'s keystore
    (``previous``: the client's entry in the last ``client_identities`` output) when it still holds
    exactly this key and chain, else a new one.
    """
    password = pkcs12_password(key_pem, name)
    old = (previous or {}).get("pkcs12_base64")
    if isinstance(old, str):
        try:
            data = base64.b64decode(old, validate=True)
        except (binascii.Error, ValueError):
            data = b""
        if data and _holds(data, password, name, key_pem, cert_pem, ca_pem):
            return {"pkcs12_base64": old, "pkcs12_password": password}
    fresh = build_pkcs12(name, key_pem, cert_pem, ca_pem, password)
    return {"pkcs12_base64": base64.b64encode(fresh).decode(), "pkcs12_password": password}


def client_auth_warning(clients: list[Client], tls_cfg: Tls) -> Optional[str]:
    """Clients are listed, but brokers ask for no certificate: say so (it is not an error: issuing
    certificates before turning client authentication on is the way to roll it out)."""
    if not clients or tls_cfg.client_auth is not ClientAuth.NONE:
        return None
    return (
        f"{NAMESPACE}:clients: tls.clientAuth is none, so brokers ask for no certificate and these identities "
        "authenticate nothing yet; hand them out, then set tls.clientAuth: requested (or required)"
    )


@dataclass(frozen=True)
class ClientIdentityArgs:
    client: Client
    """Name, and optionally validity, early renewal and key algorithm."""
    ca: CertificateAuthority
    """Signs the certificate; its certificate goes into the outputs."""
    tls: Tls
    """Defaults: certValidityDays, certEarlyRenewalDays, keyAlgorithm, rsaBits."""
    previous: pulumi.Input[Optional[dict]] = None
    """This client's entry in the last ``up``'s ``client_identities`` output (keeps its PKCS12)."""

    @property
    def validity_days(self) -> int:
        return self.tls.cert_validity_days if self.client.validity_days is None else self.client.validity_days

    @property
    def early_renewal_days(self) -> int:
        c = self.client
        return self.tls.cert_early_renewal_days if c.early_renewal_days is None else c.early_renewal_days

    @property
    def key_algorithm(self) -> KeyAlgorithm:
        return self.client.key_algorithm or self.tls.key_algorithm


class ClientIdentity(pulumi.ComponentResource):
    """A client's key and CA-signed client certificate (``CN=<name>``, client auth only)."""

    principal: str
    """``User:<name>``, as ACLs name the client."""
    cert_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]
    """A secret: PKCS#8 PEM."""
    not_after: pulumi.Output[str]
    """Expiry, ISO 8601 UTC."""
    outputs: pulumi.Output[dict]
    """A secret: everything the client needs (the entry of the ``client_identities`` output)."""

    def __init__(self, name: str, args: ClientIdentityArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kafka-tls:index:ClientIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        client = args.client.name
        key = tls.PrivateKey(f"{name}-key", **key_args(args.key_algorithm, args.tls.rsa_bits), opts=child)
        csr = tls.CertRequest(
            f"{name}-csr", private_key_pem=key.private_key_pem_pkcs8, subject={"common_name": client}, opts=child
        )
        cert = tls.LocallySignedCert(
            f"{name}-cert",
            cert_request_pem=csr.cert_request_pem,
            ca_private_key_pem=args.ca.private_key_pem,
            ca_cert_pem=args.ca.cert_pem,
            validity_period_hours=args.validity_days * HOURS_PER_DAY,
            # pulumi-tls re-issues the certificate on the first `up` inside this window.
            early_renewal_hours=args.early_renewal_days * HOURS_PER_DAY,
            allowed_uses=CLIENT_CERT_USES,
            set_subject_key_id=True,
            opts=args.ca.issuing_options(child),
        )
        self.principal = principal(client)
        self.cert_pem = cert.cert_pem
        self.private_key_pem = pulumi.Output.secret(key.private_key_pem_pkcs8)
        self.not_after = cert.cert_pem.apply(not_after)
        # The PKCS12 chain ends in the CA that signed the certificate; the client trusts every CA
        # the brokers may present (both during a CA rotation).
        parts = pulumi.Output.all(
            self.private_key_pem, cert.cert_pem, args.ca.chain_ca(cert.cert_pem), args.previous, args.ca.bundle_pem
        )
        self.outputs = pulumi.Output.secret(
            parts.apply(
                lambda v: {
                    "principal": self.principal,
                    "certificate_pem": v[1],
                    "private_key_pem": v[0],
                    "ca_cert_pem": v[4],
                    **pkcs12_keystore(client, v[0], v[1], v[2], v[3]),
                    "not_after": not_after(v[1]),
                }
            )
        )
        self.register_outputs({"cert_pem": self.cert_pem, "not_after": self.not_after})
