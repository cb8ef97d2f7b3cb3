"""Keystores built locally, for ``stack`` key custody.

Pure functions: PEM key + chain -> keystore bytes. PKCS12 with cryptography, JKS with pyjks,
PEM as Kafka (2.7+) reads it: the PKCS#8 key followed by the chain. Truststores are always built
on the host with keytool (see scripts.truststore_script): Java ignores the certificate entries
of a PKCS12 truststore written by cryptography.
"""

from __future__ import annotations

import hashlib

import jks
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from components.config import StoreType


def load_chain(chain_pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(chain_pem.encode())


def digest(*values: object) -> str:
    """A stable SHA-256 of some values: what restart triggers compare."""
    return hashlib.sha256("\0".join(str(v) for v in values).encode()).hexdigest()


def sha256_fingerprint(cert_pem: str) -> str:
    """'AB:CD:...' (upper case, colons), the form ``openssl x509 -fingerprint -sha256`` prints."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def not_after(cert_pem: str) -> str:
    """The certificate's expiry as an ISO 8601 UTC timestamp."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_keystore(store_type: StoreType, alias: str, key_pem: str, chain_pem: str, password: str) -> bytes:
    """A keystore holding one private key entry with its chain (host certificate first)."""
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    chain = load_chain(chain_pem)
    if store_type is StoreType.PKCS12:
        encryption = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(50000)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(password.encode())
        )
        return pkcs12.serialize_key_and_certificates(alias.encode(), key, chain[0], chain[1:], encryption)
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    if store_type is StoreType.JKS:
        der_chain = [c.public_bytes(serialization.Encoding.DER) for c in chain]
        entry = jks.PrivateKeyEntry.new(alias, der_chain, pkcs8, "pkcs8")
        entry.encrypt(password)
        return jks.KeyStore.new("jks", [entry]).saves(password)
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem_key + "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain).encode()
