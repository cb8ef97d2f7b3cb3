"""The Certificate Authority: generated with pulumi-tls, or an existing one brought in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_tls as tls

from components.ca_rotation import NO_ROTATION, Rotation, issuer_of
from components.config import CertificateAuthorityConfig, ImportedCa, KeyAlgorithm

HOURS_PER_DAY = 24


@dataclass(frozen=True)
class CertificateAuthorityArgs:
    settings: CertificateAuthorityConfig
    """Subject, key algorithm, validity and early renewal of a generated CA."""
    imported: Optional[ImportedCa] = None
    """An existing CA (cert + key); when given, nothing is generated."""
    rotation: Optional[Rotation] = None
    """The phase of a CA rotation this `up` runs (ca_rotation.next_rotation); None: no rotation."""


def key_args(algorithm: KeyAlgorithm, rsa_bits: int) -> dict:
    """pulumi-tls PrivateKey arguments for a key algorithm."""
    if algorithm is KeyAlgorithm.ECDSA:
        return {"algorithm": "ECDSA", "ecdsa_curve": "P256"}
    return {"algorithm": "RSA", "rsa_bits": rsa_bits}


class CertificateAuthority(pulumi.ComponentResource):
    """The CA every broker and worker trusts. Its key is a secret and is never exported."""

    cert_pem: pulumi.Output[str]
    """The CA certificate (public): truststores and clients use it."""
    private_key_pem: pulumi.Output[str]
    """The CA key, a secret, used only to sign host certificates."""
    trusted_pems: pulumi.Output[list]
    """Every CA the truststores hold: this one, and the old one during a rotation."""
    bundle_pem: pulumi.Output[str]
    """``trusted_pems`` as one PEM bundle: what clients trust."""
    rotation_state: pulumi.Output[dict]
    """The ``ca_rotation`` output the next `up` reads."""
    keep_issued: bool
    """Phase 1 of a rotation: certificates stay as the old CA issued them."""

    def __init__(self, name: str, args: CertificateAuthorityArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kafka-tls:index:CertificateAuthority", name, None, opts)
        if args.imported is not None:
            self.cert_pem = pulumi.Output.from_input(args.imported.cert_pem)
            self.private_key_pem = pulumi.Output.secret(args.imported.key_pem.get_secret_value())
        else:
            s = args.settings
            key = tls.PrivateKey(f"{name}-key", **key_args(s.key_algorithm, s.rsa_bits), opts=pulumi.ResourceOptions(parent=self))
            cert = tls.SelfSignedCert(
                f"{name}-cert",
                private_key_pem=key.private_key_pem,
                is_ca_certificate=True,
                subject={"common_name": s.common_name, "organization": s.organization or None},
                validity_period_hours=s.validity_days * HOURS_PER_DAY,
                early_renewal_hours=s.early_renewal_days * HOURS_PER_DAY,
                allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
                set_subject_key_id=True,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.cert_pem = cert.cert_pem
            self.private_key_pem = pulumi.Output.secret(key.private_key_pem)
        rotation = args.rotation or NO_ROTATION
        self.trusted_pems = self.cert_pem.apply(rotation.trusted)
        self.bundle_pem = self.trusted_pems.apply("".join)
        self.rotation_state = self.cert_pem.apply(rotation.state)
        self.keep_issued = rotation.keep_issued_certificates
        self.register_outputs({"cert_pem": self.cert_pem, "bundle_pem": self.bundle_pem})

    def issuing_options(self, opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
        """Options of a certificate this CA signs. In phase 1 of a rotation the CA inputs name the
        new CA, but the certificate must stay as the old one issued it (its key may be gone)."""
        if not self.keep_issued:
            return opts
        return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["caCertPem", "caPrivateKeyPem"]))

    def chain_ca(self, cert_pem: pulumi.Output[str]) -> pulumi.Output[str]:
        """The CA certificate that ends ``cert_pem``'s chain: the trusted CA that signed it."""
        return pulumi.Output.all(cert_pem, self.trusted_pems).apply(lambda v: issuer_of(v[0], v[1]))
