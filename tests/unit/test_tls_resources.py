"""The builtin TLS provider's pure functions: what pulumi-tls would make, checked by parsing."""

import datetime
import ipaddress

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from components.host_certificate import HOST_CERT_USES
from components.tls_resources import (
    _CertRequestProvider,
    _LocallySignedCertProvider,
    cert_request_pem,
    generate_private_key_pem,
    locally_signed_cert_pem,
    ready_for_renewal,
    self_signed_cert_pem,
)


def make_ca(hours: int = 1000) -> tuple[str, str]:
    key = generate_private_key_pem("ECDSA", "P256", None)
    cert = self_signed_cert_pem(
        {"private_key_pem": key, "subject": {"common_name": "kafka-tls CA", "organization": "Ops"},
         "validity_period_hours": hours, "allowed_uses": ["cert_signing", "crl_signing", "digital_signature"],
         "is_ca_certificate": True, "set_subject_key_id": True}
    )
    return key, cert


def signed(ca_key: str, ca_cert: str, hours: int = 100, algorithm: str = "ECDSA") -> x509.Certificate:
    key = generate_private_key_pem(algorithm, "P256", 2048)
    csr = cert_request_pem({"private_key_pem": key, "subject": {"common_name": "kafka-1.example.com"},
                            "dns_names": ["kafka-1.example.com"], "ip_addresses": ["10.0.0.11"]})
    pem = locally_signed_cert_pem({"cert_request_pem": csr, "ca_private_key_pem": ca_key, "ca_cert_pem": ca_cert,
                                   "validity_period_hours": hours, "allowed_uses": HOST_CERT_USES})
    return x509.load_pem_x509_certificate(pem.encode())


def test_ca_is_a_ca_with_signing_usages():
    _, pem = make_ca()
    cert = x509.load_pem_x509_certificate(pem.encode())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    assert cert.subject.rfc4514_string() == "CN=kafka-tls CA,O=Ops"


def test_signed_certificate_takes_sans_from_the_csr_and_usages_from_allowed_uses():
    ca_key, ca_pem = make_ca()
    for algorithm in ("ECDSA", "RSA"):
        cert = signed(ca_key, ca_pem, algorithm=algorithm)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sans.get_values_for_type(x509.DNSName) == ["kafka-1.example.com"]
        assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.11")]
        eku = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        assert eku == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem.encode()))


def test_renewal_window():
    ca_key, ca_pem = make_ca()
    pem = locally_signed_cert_pem({
        "cert_request_pem": cert_request_pem({"private_key_pem": generate_private_key_pem("ECDSA", "P256", None),
                                              "subject": {"common_name": "x"}, "dns_names": ["x"]}),
        "ca_private_key_pem": ca_key, "ca_cert_pem": ca_pem, "validity_period_hours": 100, "allowed_uses": HOST_CERT_USES,
    })
    now = datetime.datetime.now(datetime.timezone.utc)
    assert not ready_for_renewal(pem, 10, now)
    assert ready_for_renewal(pem, 10, now + datetime.timedelta(hours=91))
    assert ready_for_renewal(pem, 0, now + datetime.timedelta(hours=101))


def test_diff_replaces_on_input_change_and_in_the_renewal_window():
    ca_key, ca_pem = make_ca()
    csr = cert_request_pem({"private_key_pem": generate_private_key_pem("ECDSA", "P256", None),
                            "subject": {"common_name": "x"}, "dns_names": ["x"]})
    news = {"cert_request_pem": csr, "ca_private_key_pem": ca_key, "ca_cert_pem": ca_pem,
            "validity_period_hours": 100, "allowed_uses": HOST_CERT_USES, "early_renewal_hours": 10}
    provider = _LocallySignedCertProvider()
    olds = provider.create(news).outs
    assert not provider.diff("id", olds, dict(news)).changes
    assert provider.diff("id", olds, {**news, "validity_period_hours": 200}).replaces == ["validity_period_hours"]
    # Same inputs, but the certificate is already inside its renewal window: replaced.
    due = {**news, "early_renewal_hours": 100}
    assert provider.diff("id", provider.create(due).outs, due).replaces == ["cert_pem"]
    assert _CertRequestProvider().diff("id", {"dns_names": ["a"]}, {"dns_names": ["b"]}).replaces == ["dns_names"]
