"""Pure helpers on PEM certificates: fingerprints, expiry, and the digests restart triggers compare."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import UTC, datetime

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


def days_left(not_after_iso: str, now: datetime) -> int:
    """Whole days from ``now`` until the expiry ``not_after`` gives (negative once expired)."""
    expiry = datetime.strptime(not_after_iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return math.floor((expiry - now).total_seconds() / 86400)


def renewal_warnings(certificates: Mapping[str, Mapping[str, str]], window_days: int, now: datetime) -> list[str]:
    """One line per certificate inside its renewal window, from the last ``up``'s ``certificates``
    output ({host: {not_after: ...}}): what this ``up`` will do about it."""
    out = []
    for host, cert in sorted(certificates.items()):
        left = days_left(cert["not_after"], now)
        if left <= window_days:
            state = "has expired" if left < 0 else f"expires in {left} days"
            out.append(
                f"{host}: certificate {state} ({cert['not_after']}), inside its {window_days}-day renewal window: "
                "`pulumi up` re-issues it (brokers reload it without a restart, Connect workers restart)"
            )
    return out
