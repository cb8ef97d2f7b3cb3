"""What the cluster component shows policy packs (policy/): its settings and what this ``up`` does.

Pure: no Pulumi here. ``settings`` is the ``KafkaTlsCluster`` component's inputs (what a
``ResourceValidationPolicy`` sees as ``args.props``); ``rollout`` goes into its registered outputs
(what a ``StackValidationPolicy`` sees as the component's ``props``). Neither holds a secret: no
password, SSH key, CA key or client key, and nothing derived from one.

Why the rollout is an output and not an input: the engine diffs a component's inputs, so inputs
that change with every ``up`` (the restart plan says ``restart`` before the first rollout and
``nothing`` after it) would show the component as changed in every preview, also in an ``up``
that changes nothing. Outputs are not diffed. The settings change only with the stack config.

The SDK makes each input key an attribute of the component (an Output), so no key may be the name
of one of ``KafkaTlsCluster``'s own attributes (``clients`` is: hence ``clientCertificates``).
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from components.config import ClusterConfig, KeyAlgorithm
from components.plan import Action, ClusterPlan, Role

VIEW_VERSION = 1
"""Raised when a key of the view changes meaning, so a pack can tell which program it reads."""

# Host, client and generated CA keys: ECDSA is always P-256 (keytool secp256r1, pulumi-tls P256).
ECDSA_BITS = 256


def _key(algorithm: KeyAlgorithm, rsa_bits: int) -> dict[str, Any]:
    return {"algorithm": algorithm.value, "bits": ECDSA_BITS if algorithm is KeyAlgorithm.ECDSA else rsa_bits}


def _imported_ca(cert_pem: str) -> dict[str, Any]:
    """The imported CA as its certificate says (public: the key is never read here)."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    public = cert.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        key = {"algorithm": "ECDSA", "bits": public.curve.key_size}
    elif isinstance(public, rsa.RSAPublicKey):
        key = {"algorithm": "RSA", "bits": public.key_size}
    else:  # validate_config refuses others; say what it is rather than fail here
        key = {"algorithm": type(public).__name__, "bits": 0}
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    after, before = cert.not_valid_after_utc, cert.not_valid_before_utc
    return {
        "imported": True,
        "commonName": str(names[0].value) if names else "",
        "key": key,
        "validityDays": (after - before).days,
        "notAfter": after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha256Fingerprint": cert.fingerprint(hashes.SHA256()).hex(":").upper(),
    }


def settings(config: ClusterConfig) -> dict[str, Any]:
    """The component's inputs: the non-secret settings a platform team's policies judge."""
    tls = config.tls
    if config.ca_import:
        ca = _imported_ca(config.ca_import.cert_pem)
    else:
        c = config.ca
        ca = {
            "imported": False,
            "commonName": c.common_name,
            "key": _key(c.key_algorithm, c.rsa_bits),
            "validityDays": c.validity_days,
            "earlyRenewalDays": c.early_renewal_days,
            "generation": c.generation,
        }
    return {
        "viewVersion": VIEW_VERSION,
        "listenerMode": tls.listeners.value,
        # Every tls.* key as the config reference names it, defaults filled in.
        "tls": tls.model_dump(mode="json", by_alias=True),
        "hostKey": _key(tls.key_algorithm, tls.rsa_bits),
        "ca": ca,
        "clientCertificates": [
            {
                "name": c.name,
                "validityDays": tls.cert_validity_days if c.validity_days is None else c.validity_days,
                "earlyRenewalDays": tls.cert_early_renewal_days if c.early_renewal_days is None else c.early_renewal_days,
                "key": _key(c.key_algorithm or tls.key_algorithm, tls.rsa_bits),
            }
            for c in config.clients
        ],
    }


def rollout(plan: ClusterPlan) -> dict[str, Any]:
    """Part of the component's outputs: what this ``up`` does (the plan's steps; restart_plan's lines)."""
    restarted = {s.host for s in plan.steps if s.role is Role.BROKER and s.action is Action.RESTART}
    brokers = [h.name for h in plan.hosts if h.role is Role.BROKER]
    return {
        "brokers": len(brokers),
        "brokersRestarted": len(restarted),
        "restartedBrokers": [b for b in brokers if b in restarted],
        "restartPlan": plan.restart_plan(),
    }
