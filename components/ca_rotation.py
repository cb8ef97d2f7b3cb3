"""CA rotation with overlap: which phase this `up` runs, and the CA bundle the hosts trust.

Replacing the CA (``ca.generation`` raised, a new CA key algorithm or name, or a new ``caImport``)
takes three `pulumi up` runs, each a gated rollout, so that no broker ever distrusts a peer:

1. ``trust-both``: truststores hold the old and the new CA; certificates stay as issued.
2. ``reissued``: every certificate is re-issued under the new CA (brokers reload it, no restart).
3. ``steady``: the old CA is dropped from the truststores.

The phase is derived from this stack's last ``ca_rotation`` output and the config, so the user
changes the config once and runs ``pulumi up`` until the preview says the rotation is complete.
Pure functions only: the cluster turns the result into resources.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Optional

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from components.cert_info import digest
from components.config import ClusterConfig


class Phase(str, Enum):
    STEADY = "steady"
    TRUST_BOTH = "trust-both"
    REISSUED = "reissued"


@dataclass(frozen=True)
class Rotation:
    """What this `up` does about the CA."""

    phase: Phase
    spec: str
    """The configured CA (``ca_spec``)."""
    signing_spec: str
    """The CA the hosts' certificates are issued by after this `up`."""
    old_ca_pem: Optional[str]
    """The CA to keep trusting beside the current one (phases 1 and 2); None otherwise."""
    dropping_old: bool = False
    """Phase 3: the last `up` left the old CA trusted, this one removes it."""

    @property
    def keep_issued_certificates(self) -> bool:
        """Phase 1: certificates stay issued by the old CA although the CA input changed."""
        return self.phase is Phase.TRUST_BOTH

    def notice(self) -> Optional[str]:
        """What a preview says about the rotation; None when there is none."""
        if self.phase is Phase.TRUST_BOTH:
            return (
                "CA rotation, phase 1 of 3: every truststore trusts the old and the new CA (brokers reload, "
                "Connect workers restart); certificates stay as issued. Run `pulumi up` twice more after this one."
            )
        if self.phase is Phase.REISSUED:
            return (
                "CA rotation, phase 2 of 3: every certificate is re-issued under the new CA (brokers reload, "
                "Connect workers restart). Give clients their new certificates from `client_identities`, then "
                "run `pulumi up` once more to stop trusting the old CA."
            )
        if self.dropping_old:
            return (
                "CA rotation, phase 3 of 3: the old CA is removed from every truststore; clients must trust "
                "`ca_bundle_pem` (now the new CA only) and present certificates from the new CA."
            )
        return None

    def state(self, ca_pem: str) -> dict:
        """The ``ca_rotation`` output the next `up` reads (public: certificates and digests only)."""
        signing_pem = self.old_ca_pem if self.phase is Phase.TRUST_BOTH else ca_pem
        return {
            "phase": self.phase.value,
            "signing_spec": self.signing_spec,
            "signing_ca_pem": signing_pem,
            "pending_spec": self.spec if self.phase is Phase.TRUST_BOTH else None,
        }

    def trusted(self, ca_pem: str) -> list[str]:
        """The CA certificates every truststore holds, oldest first."""
        pems = [self.old_ca_pem, ca_pem] if self.old_ca_pem else [ca_pem]
        return list(dict.fromkeys(p.strip() + "\n" for p in pems))


NO_ROTATION = Rotation(Phase.STEADY, "", "", None)
"""A cluster built without a rotation phase (the unit tests' mocks): the CA alone is trusted."""


def ca_spec(config: ClusterConfig) -> str:
    """What identifies the CA: a change means a new CA key or name, so it goes through a rotation.
    A new validity or early renewal re-issues the CA certificate under the same key and name,
    which every certificate it issued still chains to: no rotation."""
    if config.ca_import is not None:
        return digest("imported", config.ca_import.cert_pem.strip())
    c = config.ca
    return digest("generated", c.generation, c.key_algorithm.value, c.rsa_bits, c.common_name, c.organization)


def next_rotation(last: Optional[Mapping], spec: str) -> Rotation:
    """The phase of this `up`, from the last successful `up`'s ``ca_rotation`` output."""
    if not last or not last.get("signing_spec"):
        return Rotation(Phase.STEADY, spec, spec, None)
    old_pem, phase = last["signing_ca_pem"], Phase(last["phase"])
    if phase is Phase.TRUST_BOTH and spec == last.get("pending_spec"):
        return Rotation(Phase.REISSUED, spec, spec, old_pem)
    if phase is not Phase.TRUST_BOTH and spec == last["signing_spec"]:
        return Rotation(Phase.STEADY, spec, spec, None, dropping_old=phase is Phase.REISSUED)
    # A new CA; also a change of mind in phase 1 (the CA it named never issued anything): trust the
    # one that issued the hosts' certificates, and the new one.
    return Rotation(Phase.TRUST_BOTH, spec, last["signing_spec"], old_pem)


def issuer_of(cert_pem: str, trusted: Sequence[str]) -> str:
    """The CA in ``trusted`` that signed ``cert_pem`` (a keystore's chain must end in it). The CAs
    of a rotation may share a name, so the signature decides; the newest when none matches."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    for ca_pem in trusted:
        try:
            cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem.encode()))
            return ca_pem
        except (InvalidSignature, ValueError, TypeError):  # not signed by this CA (or another key type)
            continue
    return trusted[-1]
