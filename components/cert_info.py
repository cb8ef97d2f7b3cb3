"""Pure helpers on PEM certificates: fingerprints, expiry, and the digests restart triggers compare."""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes


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
