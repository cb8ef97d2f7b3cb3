"""Keys, CSRs and certificates made with cryptography: kafka-tls's own provider (dynamic).

The same resources, arguments and outputs as pulumi-tls's ``PrivateKey``, ``SelfSignedCert``,
``CertRequest`` and ``LocallySignedCert`` (the ones kafka-tls uses), so components take either
(see providers.py). Like pulumi-tls: a certificate inside its early-renewal window is replaced
at the next ``pulumi up``; SANs and subject of a signed certificate come from the CSR; key
usages from ``allowed_uses``. Private keys are secret outputs.
"""

from __future__ import annotations

import datetime
import ipaddress
import uuid
from typing import Any, Optional

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider

_KEY_USAGE_FLAGS = {
    "digital_signature": "digital_signature",
    "content_commitment": "content_commitment",
    "key_encipherment": "key_encipherment",
    "data_encipherment": "data_encipherment",
    "key_agreement": "key_agreement",
    "cert_signing": "key_cert_sign",
    "crl_signing": "crl_sign",
}


def generate_private_key_pem(algorithm: str, ecdsa_curve: Optional[str], rsa_bits: Optional[int]) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if algorithm == "ECDSA":
        curve = {"P256": ec.SECP256R1(), "P384": ec.SECP384R1(), "P521": ec.SECP521R1()}[ecdsa_curve or "P256"]
        key = ec.generate_private_key(curve)
    elif algorithm == "RSA":
        key = rsa.generate_private_key(public_exponent=65537, key_size=int(rsa_bits or 3072))
    else:
        raise ValueError(f"unknown key algorithm {algorithm!r}")
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def _name(subject: Optional[dict]):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    subject = subject or {}
    attrs = []
    if subject.get("organization"):
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, subject["organization"]))
    if subject.get("common_name"):
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, subject["common_name"]))
    return x509.Name(attrs)


def _sans(dns_names: list[str], ip_addresses: list[str]):
    from cryptography import x509

    return [x509.DNSName(n) for n in dns_names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]


def _hash_for(key):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _certificate(
    subject, issuer, public_key, signing_key, *, is_ca: bool, allowed_uses: list[str], validity_hours: int,
    sans: list, subject_key_id: bool, issuer_cert=None,
) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(hours=validity_hours))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    flags = {v: False for v in _KEY_USAGE_FLAGS.values()}
    flags.update({"encipher_only": False, "decipher_only": False})
    for use in allowed_uses:
        if use in _KEY_USAGE_FLAGS:
            flags[_KEY_USAGE_FLAGS[use]] = True
    if any(flags.values()):
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    eku = [{"server_auth": ExtendedKeyUsageOID.SERVER_AUTH, "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH}[u]
           for u in allowed_uses if u in ("server_auth", "client_auth")]
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if subject_key_id:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()), critical=False
        )
    cert = builder.sign(signing_key, _hash_for(signing_key))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def self_signed_cert_pem(props: dict) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(props["private_key_pem"].encode(), password=None)
    name = _name(props.get("subject"))
    return _certificate(
        name, name, key.public_key(), key, is_ca=bool(props.get("is_ca_certificate")),
        allowed_uses=props["allowed_uses"], validity_hours=int(props["validity_period_hours"]),
        sans=_sans(props.get("dns_names") or [], props.get("ip_addresses") or []),
        subject_key_id=bool(props.get("set_subject_key_id")),
    )


def cert_request_pem(props: dict) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(props["private_key_pem"].encode(), password=None)
    builder = x509.CertificateSigningRequestBuilder().subject_name(_name(props.get("subject")))
    sans = _sans(props.get("dns_names") or [], props.get("ip_addresses") or [])
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, _hash_for(key)).public_bytes(serialization.Encoding.PEM).decode()


def locally_signed_cert_pem(props: dict) -> str:
    """Sign a CSR with the CA: subject and SANs from the CSR, usages from allowed_uses."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    csr = x509.load_pem_x509_csr(props["cert_request_pem"].encode())
    if not csr.is_signature_valid:
        raise ValueError("the certificate request's signature is not valid")
    ca_cert = x509.load_pem_x509_certificate(props["ca_cert_pem"].encode())
    ca_key = serialization.load_pem_private_key(props["ca_private_key_pem"].encode(), password=None)
    try:
        sans = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        sans = []
    return _certificate(
        csr.subject, ca_cert.subject, csr.public_key(), ca_key, is_ca=bool(props.get("is_ca_certificate")),
        allowed_uses=props["allowed_uses"], validity_hours=int(props["validity_period_hours"]), sans=sans,
        subject_key_id=bool(props.get("set_subject_key_id")), issuer_cert=ca_cert,
    )


def ready_for_renewal(cert_pem: Optional[str], early_renewal_hours: int, now: Optional[datetime.datetime] = None) -> bool:
    """True once the certificate is inside its early-renewal window (or already expired)."""
    from cryptography import x509

    if not cert_pem:
        return False
    now = now or datetime.datetime.now(datetime.timezone.utc)
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return now >= cert.not_valid_after_utc - datetime.timedelta(hours=int(early_renewal_hours or 0))


class _MadeOnce(ResourceProvider):
    """Made at create, never updated in place: any input change (or renewal) replaces it."""

    serialize_as_secret_always = False
    output_key = ""

    def make(self, props: dict) -> str:
        raise NotImplementedError

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=uuid.uuid4().hex, outs={**props, self.output_key: self.make(props)})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in news if k not in (self.output_key, "__provider") and olds.get(k) != news.get(k)]
        if "early_renewal_hours" in news and ready_for_renewal(olds.get(self.output_key), news["early_renewal_hours"]):
            changed.append(self.output_key)
        return DiffResult(changes=bool(changed), replaces=changed)


class _PrivateKeyProvider(_MadeOnce):
    output_key = "private_key_pem"

    def make(self, props: dict) -> str:
        return generate_private_key_pem(props["algorithm"], props.get("ecdsa_curve"), props.get("rsa_bits"))


class _SelfSignedCertProvider(_MadeOnce):
    output_key = "cert_pem"

    def make(self, props: dict) -> str:
        return self_signed_cert_pem(props)


class _CertRequestProvider(_MadeOnce):
    output_key = "cert_request_pem"

    def make(self, props: dict) -> str:
        return cert_request_pem(props)


class _LocallySignedCertProvider(_MadeOnce):
    output_key = "cert_pem"

    def make(self, props: dict) -> str:
        return locally_signed_cert_pem(props)


def _opts(opts: Optional[pulumi.ResourceOptions], *secret: str) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=list(secret)))


class PrivateKey(pulumi.dynamic.Resource, module="tls", name="PrivateKey"):
    private_key_pem: pulumi.Output[str]

    def __init__(self, resource_name: str, *, algorithm: str, ecdsa_curve: Optional[str] = None,
                 rsa_bits: Optional[int] = None, opts: Optional[pulumi.ResourceOptions] = None):
        props = {"algorithm": algorithm, "ecdsa_curve": ecdsa_curve, "rsa_bits": rsa_bits, "private_key_pem": None}
        super().__init__(_PrivateKeyProvider(), resource_name, props, _opts(opts, "private_key_pem"))


class SelfSignedCert(pulumi.dynamic.Resource, module="tls", name="SelfSignedCert"):
    cert_pem: pulumi.Output[str]

    def __init__(self, resource_name: str, *, private_key_pem: pulumi.Input[str], subject: dict,
                 validity_period_hours: int, allowed_uses: list[str], early_renewal_hours: int = 0,
                 is_ca_certificate: bool = False, set_subject_key_id: bool = False,
                 dns_names: Optional[list[str]] = None, ip_addresses: Optional[list[str]] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        props = dict(private_key_pem=private_key_pem, subject=subject, validity_period_hours=validity_period_hours,
                     allowed_uses=allowed_uses, early_renewal_hours=early_renewal_hours,
                     is_ca_certificate=is_ca_certificate, set_subject_key_id=set_subject_key_id,
                     dns_names=dns_names, ip_addresses=ip_addresses, cert_pem=None)
        super().__init__(_SelfSignedCertProvider(), resource_name, props, _opts(opts, "private_key_pem"))


class CertRequest(pulumi.dynamic.Resource, module="tls", name="CertRequest"):
    cert_request_pem: pulumi.Output[str]

    def __init__(self, resource_name: str, *, private_key_pem: pulumi.Input[str], subject: dict,
                 dns_names: Optional[list[str]] = None, ip_addresses: Optional[list[str]] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        props = dict(private_key_pem=private_key_pem, subject=subject, dns_names=dns_names,
                     ip_addresses=ip_addresses, cert_request_pem=None)
        super().__init__(_CertRequestProvider(), resource_name, props, _opts(opts, "private_key_pem"))


class LocallySignedCert(pulumi.dynamic.Resource, module="tls", name="LocallySignedCert"):
    cert_pem: pulumi.Output[str]

    def __init__(self, resource_name: str, *, cert_request_pem: pulumi.Input[str], ca_private_key_pem: pulumi.Input[str],
                 ca_cert_pem: pulumi.Input[str], validity_period_hours: int, allowed_uses: list[str],
                 early_renewal_hours: int = 0, is_ca_certificate: bool = False, set_subject_key_id: bool = False,
                 opts: Optional[pulumi.ResourceOptions] = None):
        props = dict(cert_request_pem=cert_request_pem, ca_private_key_pem=ca_private_key_pem, ca_cert_pem=ca_cert_pem,
                     validity_period_hours=validity_period_hours, allowed_uses=allowed_uses,
                     early_renewal_hours=early_renewal_hours, is_ca_certificate=is_ca_certificate,
                     set_subject_key_id=set_subject_key_id, cert_pem=None)
        super().__init__(_LocallySignedCertProvider(), resource_name, props, _opts(opts, "ca_private_key_pem"))
