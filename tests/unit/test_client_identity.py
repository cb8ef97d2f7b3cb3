"""Client identities (mTLS): config, the principal mapping rule, the resources under Pulumi mocks,
and the PKCS12 keystore opened by the real keytool.

That a client's CN really becomes its Kafka principal is the e2e test's to prove
(tests/e2e/test_e2e_clients.py, against real brokers); here the rendered property is asserted
exactly as Kafka reads it.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import os
import subprocess
from pathlib import Path

import pulumi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components.client_identity import (
    CLIENT_CERT_USES,
    build_pkcs12,
    client_auth_warning,
    pkcs12_keystore,
    pkcs12_password,
    super_users,
)
from components.config import ClientAuth, ConfigError, Tls, validate_config
from components.plan import plan
from components.properties import PRINCIPAL_MAPPING_RULES, parse_properties, read_base_properties
from components.cluster import KafkaTlsCluster
from tests.unit.certs import Ca, make_ca
from tests.unit.sample import sample
from tests.unit.test_cluster_graph import CSR, KEY, SIGNED, ClusterMocks, unwrap

RULE_LINE = "ssl.principal.mapping.rules=RULE\\:^CN\\=([^,]+)$/$1/,DEFAULT"
_USES = {
    "digital_signature": "digital_signature",
    "key_encipherment": "key_encipherment",
}
_EKUS = {"client_auth": ExtendedKeyUsageOID.CLIENT_AUTH, "server_auth": ExtendedKeyUsageOID.SERVER_AUTH}

PKCS8_LABEL = "PRIVATE " + "KEY"  # PKCS#8's PEM label (kept apart so the file reads as holding no key)


# --- helpers: keys and certificates as pulumi-tls makes them --------------------------------------


def new_key_pem(algorithm: str = "ECDSA") -> str:
    key = ec.generate_private_key(ec.SECP256R1()) if algorithm == "ECDSA" else rsa.generate_private_key(65537, 2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def csr_pem(key_pem: str, common_name: str) -> str:
    """A CSR as pulumi-tls CertRequest makes it from ``subject: {common_name}`` (no SANs)."""
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def sign(csr: str, ca_key_pem: str, ca_cert_pem: str, allowed_uses: list[str], hours: int = 240) -> str:
    """Sign as pulumi-tls LocallySignedCert does: subject from the CSR, usages from allowed_uses."""
    request = x509.load_pem_x509_csr(csr.encode())
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca_key_pem.encode(), password=None)
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = {flag: False for flag in ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                                      "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")}
    usage.update({_USES[u]: True for u in allowed_uses if u in _USES})
    builder = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(ca_cert.subject)
        .public_key(request.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=hours))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**usage), critical=True)
    )
    if ekus := [_EKUS[u] for u in allowed_uses if u in _EKUS]:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def client_cert(ca: Ca, name: str, algorithm: str = "ECDSA") -> tuple[str, str]:
    """(key_pem, cert_pem) of a client identity signed by ``ca``, with our allowed uses."""
    key = new_key_pem(algorithm)
    return key, sign(csr_pem(key, name), ca.key_pem, ca.cert_pem, CLIENT_CERT_USES)


def keytool_list(path: Path, password: str) -> subprocess.CompletedProcess:
    """``keytool -list -v -storetype PKCS12``, the password through the environment."""
    return subprocess.run(
        ["keytool", "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "-list", "-v", "-storetype", "PKCS12",
         "-keystore", str(path), "-storepass:env", "P12_PASSWORD"],
        env={**os.environ, "P12_PASSWORD": password}, capture_output=True, text=True, timeout=120,
    )


# --- config ------------------------------------------------------------------------------------------


def problems_of(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    return info.value.problems


class TestConfig:
    def test_a_client_takes_its_defaults_from_tls(self):
        config = validate_config(sample(clients=[{"name": "orders-service"}, {"name": "billing.v2", "validityDays": 7,
                                                                                "earlyRenewalDays": 2, "keyAlgorithm": "RSA"}]))
        first, second = config.clients
        assert (first.name, first.validity_days, first.early_renewal_days, first.key_algorithm) == ("orders-service", None, None, None)
        assert (second.validity_days, second.early_renewal_days, second.key_algorithm.value) == (7, 2, "RSA")

    def test_no_clients_is_the_default(self):
        assert validate_config(sample()).clients == []

    @pytest.mark.parametrize("name", [
        "Orders", "orders service", "orders,ou=x", "cn=orders", "orders;User:admin", "-orders", "orders-", "x" * 65, "",
        "orders/1", "ordérs",
    ])
    def test_names_outside_the_safe_charset_are_refused(self, name):
        problems = problems_of(sample(clients=[{"name": "ok"}, {"name": name}]))
        assert [p for p in problems if p.startswith("kafka-tls:clients[1].name: ")], problems
        assert "e.g. 'orders-service'" in problems[0]

    @pytest.mark.parametrize("name", ["a", "orders-service", "orders_service", "team.orders.v2", "x" * 64, "0"])
    def test_names_in_the_safe_charset_pass(self, name):
        assert validate_config(sample(clients=[{"name": name}])).clients[0].name == name

    def test_each_name_once(self):
        problems = problems_of(sample(clients=[{"name": "a"}, {"name": "b"}, {"name": "a"}]))
        assert problems == ["kafka-tls:clients[2].name: 'a' is also kafka-tls:clients[0].name; each client needs its own name"]

    def test_a_client_cannot_take_a_hosts_principal(self):
        problems = problems_of(sample(clients=[{"name": "kafka-2.example.com"}]))
        assert len(problems) == 1 and problems[0].startswith("kafka-tls:clients[0].name: 'kafka-2.example.com' is the DNS name")
        assert "User:kafka-2.example.com" in problems[0] and "broker-2" in problems[0]

    def test_unknown_key_in_a_client(self):
        problems = problems_of(sample(clients=[{"name": "a", "validity": 7}]))
        assert problems == ["kafka-tls:clients[0].validity: unknown key (a typo?); see the README's config reference"]

    def test_a_short_validity_needs_its_own_renewal_window(self):
        problems = problems_of(sample(clients=[{"name": "a", "validityDays": 7}]))
        assert len(problems) == 1
        assert problems[0].startswith("kafka-tls:clients[0].earlyRenewalDays: must be at least 0 and less than the validity (7 days)")
        assert "tls.certEarlyRenewalDays, the default" in problems[0] and "e.g. 2" in problems[0]

    @pytest.mark.parametrize("days", [0, -1, 36501])
    def test_validity_must_be_a_sane_number_of_days(self, days):
        problems = problems_of(sample(clients=[{"name": "a", "validityDays": days, "earlyRenewalDays": 0}]))
        assert problems == [f"kafka-tls:clients[0].validityDays: must be 1 to 36500 days (got {days}); set it, e.g. 30"]

    def test_clients_must_be_a_list_of_maps(self):
        problems = problems_of(sample(clients={"name": "a"}))
        assert problems and problems[0].startswith("kafka-tls:clients: ")

    def test_warning_when_brokers_ask_for_no_certificate(self):
        config = validate_config(sample(clients=[{"name": "a"}]))
        assert "tls.clientAuth is none" in client_auth_warning(config.clients, config.tls)
        assert client_auth_warning(config.clients, Tls(client_auth=ClientAuth.REQUESTED)) is None
        assert client_auth_warning([], config.tls) is None


# --- the principal mapping rule and super users -------------------------------------------------------


def rendered(tls: dict, **raw) -> tuple[str, list]:
    config = validate_config(sample(tls=tls, **raw))
    p = plan(config, read_base_properties(None, config.server_properties), read_base_properties(None, config.connect_properties))
    final = next(h for h in p.hosts if h.name == "broker-1").properties.text
    return final, [s.properties.text for s in p.steps if s.host == "broker-1"]


class TestPrincipalMapping:
    @pytest.mark.parametrize("client_auth", ["required", "requested"])
    def test_the_rule_makes_a_cn_only_subject_the_principal(self, client_auth):
        text, steps = rendered({"clientAuth": client_auth}, clients=[{"name": "orders-service"}])
        assert parse_properties(text)["ssl.principal.mapping.rules"] == "RULE:^CN=([^,]+)$/$1/,DEFAULT"
        assert RULE_LINE in text.splitlines()  # exactly as java.util.Properties reads it back
        # Every stage of the rollout has it too: the rule does not change between stages.
        assert all(RULE_LINE in s.splitlines() for s in steps) and len(steps) >= 2

    def test_no_rule_when_brokers_ask_for_no_certificate(self):
        text, _ = rendered({"clientAuth": "none"}, clients=[{"name": "orders-service"}])
        assert "ssl.principal.mapping.rules" not in parse_properties(text)

    def test_the_rule_does_not_depend_on_the_client_list(self):
        """Adding or removing a client changes no properties file: no broker restarts."""
        with_clients, _ = rendered({"clientAuth": "required"}, clients=[{"name": "a"}, {"name": "b"}])
        without, _ = rendered({"clientAuth": "required"})
        assert with_clients == without

    def test_the_users_own_rule_wins(self):
        own = "RULE:^CN=(.*?),OU=Apps.*$/$1/L,DEFAULT"
        text, _ = rendered({"clientAuth": "required"}, serverProperties={**sample()["serverProperties"],
                                                                         "ssl.principal.mapping.rules": own})
        assert parse_properties(text)["ssl.principal.mapping.rules"] == own

    def test_super_users_are_the_hosts_dns_names(self):
        config = validate_config(sample())
        assert super_users(config.hosts) == (
            "User:kafka-1.example.com;User:kafka-2.example.com;User:kafka-3.example.com;User:connect-1.example.com"
        )
        assert PRINCIPAL_MAPPING_RULES.startswith("RULE:^CN=")


# --- PKCS12: built here, read by Java's keytool ---------------------------------------------------------


class TestPkcs12:
    @pytest.mark.parametrize("algorithm", ["ECDSA", "RSA"])
    def test_keytool_opens_it_with_the_derived_password(self, tmp_path, algorithm):
        ca = make_ca("kafka-tls CA")
        key, cert = client_cert(ca, "orders-service", algorithm)
        store = pkcs12_keystore("orders-service", key, cert, ca.cert_pem)
        assert store["pkcs12_password"] == pkcs12_password(key, "orders-service")
        path = tmp_path / "orders-service.p12"
        path.write_bytes(base64.b64decode(store["pkcs12_base64"]))
        listing = keytool_list(path, store["pkcs12_password"])
        assert listing.returncode == 0, listing.stderr + listing.stdout
        out = listing.stdout
        assert "Your keystore contains 1 entry" in out
        assert "Alias name: orders-service" in out
        assert "Entry type: PrivateKeyEntry" in out
        assert "Certificate chain length: 2" in out
        assert "Owner: CN=orders-service" in out
        assert "Issuer: CN=kafka-tls CA" in out and "Owner: CN=kafka-tls CA" in out  # the CA is the chain's second
        assert keytool_list(path, store["pkcs12_password"] + "x").returncode != 0, "a wrong password opened it"

    def test_it_holds_the_key_and_the_chain(self):
        ca = make_ca()
        key, cert = client_cert(ca, "orders-service")
        store = pkcs12_keystore("orders-service", key, cert, ca.cert_pem)
        loaded = pkcs12.load_pkcs12(base64.b64decode(store["pkcs12_base64"]), store["pkcs12_password"].encode())
        der = (serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        assert loaded.key.private_bytes(*der) == serialization.load_pem_private_key(key.encode(), None).private_bytes(*der)
        assert loaded.cert.certificate == x509.load_pem_x509_certificate(cert.encode())
        assert loaded.cert.friendly_name == b"orders-service"
        assert [c.certificate for c in loaded.additional_certs] == [ca.cert]
        with pytest.raises(ValueError):
            pkcs12.load_pkcs12(base64.b64decode(store["pkcs12_base64"]), b"not-the-password")

    def test_the_password_is_derived_from_the_key(self):
        key, other = new_key_pem(), new_key_pem()
        password = pkcs12_password(key, "a")
        assert password == pkcs12_password(key, "a"), "the same key must give the same password"
        assert len(password) == 32 and all(c in "0123456789abcdef" for c in password)
        assert password not in (pkcs12_password(other, "a"), pkcs12_password(key, "b"))
        assert password not in key

    def test_builds_differ_so_the_last_one_is_kept(self):
        """cryptography salts every build at random; an unchanged key and chain keep the last
        up's bytes (no output diff), anything else gets a new keystore."""
        ca = make_ca()
        key, cert = client_cert(ca, "a")
        password = pkcs12_password(key, "a")
        assert build_pkcs12("a", key, cert, ca.cert_pem, password) != build_pkcs12("a", key, cert, ca.cert_pem, password)
        first = pkcs12_keystore("a", key, cert, ca.cert_pem)
        assert pkcs12_keystore("a", key, cert, ca.cert_pem, first) == first
        # A re-issued certificate (renewal), another CA, another alias or a damaged entry: rebuilt.
        renewed = sign(csr_pem(key, "a"), ca.key_pem, ca.cert_pem, CLIENT_CERT_USES)
        assert pkcs12_keystore("a", key, renewed, ca.cert_pem, first)["pkcs12_base64"] != first["pkcs12_base64"]
        other_ca = make_ca("other")
        assert pkcs12_keystore("a", key, cert, other_ca.cert_pem, first)["pkcs12_base64"] != first["pkcs12_base64"]
        assert pkcs12_keystore("b", key, cert, ca.cert_pem, first)["pkcs12_base64"] != first["pkcs12_base64"]
        for damaged in ({"pkcs12_base64": "not base64!"}, {"pkcs12_base64": base64.b64encode(b"junk").decode()}, {}):
            rebuilt = pkcs12_keystore("a", key, cert, ca.cert_pem, damaged)
            assert rebuilt["pkcs12_base64"] != first["pkcs12_base64"] and rebuilt["pkcs12_password"] == password


# --- the resources, under Pulumi mocks -------------------------------------------------------------------


class ClientMocks(ClusterMocks):
    """ClusterMocks, plus pulumi-tls for client identities: one real key per client name, a CSR with
    the subject asked for, a certificate with exactly the allowed uses asked for. Each is the same
    in every cluster built from the same inputs, as the provider keeps them across `up`s."""

    def __init__(self):
        super().__init__()
        self.keys: dict[str, str] = {}
        self.csrs: dict[tuple, str] = {}
        self.certs: dict[tuple, str] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if args.typ not in (KEY, CSR, SIGNED) or "-client-" not in args.name:
            return super().new_resource(args)
        self.resources.append(args)
        outs = dict(args.inputs)
        client = args.name.split("-client-", 1)[1].rsplit("-", 1)[0]
        if args.typ == KEY:
            pem = self.keys.setdefault(client, new_key_pem(args.inputs["algorithm"]))
            outs["privateKeyPem"] = outs["privateKeyPemPkcs8"] = pem
        elif args.typ == CSR:
            request = (unwrap(args.inputs["privateKeyPem"]), args.inputs["subject"]["commonName"])
            outs["certRequestPem"] = self.csrs.setdefault(request, csr_pem(*request))
        elif args.typ == SIGNED:
            uses = tuple(args.inputs["allowedUses"])
            request = unwrap(args.inputs["certRequestPem"])
            outs["certPem"] = self.certs.setdefault((request, uses), sign(
                request, unwrap(args.inputs["caPrivateKeyPem"]), unwrap(args.inputs["caCertPem"]), list(uses)))
        return [f"{args.name}-id", outs]

    def of(self, typ: str, cluster: str) -> dict[str, pulumi.runtime.MockResourceArgs]:
        return {r.name: r for r in self.of_type(typ) if r.name.startswith(f"{cluster}-client-")}


@pytest.fixture
def mocks():
    m = ClientMocks()
    pulumi.runtime.set_mocks(m, preview=False)
    return m


def build(raw: dict, name: str = "kafka", previous_clients=None) -> KafkaTlsCluster:
    config = validate_config(raw)
    cluster_plan = plan(config, read_base_properties(None, config.server_properties),
                        read_base_properties(None, config.connect_properties))
    return KafkaTlsCluster(name, config, cluster_plan, previous_clients=previous_clients)


def when_built(cluster: KafkaTlsCluster, check):
    """Run ``check(identities)`` once the rollout and every client identity are in."""
    return cluster.rollout_done.apply(lambda _: cluster.client_identities.apply(check))


CLIENTS = [{"name": "orders-service"}, {"name": "billing", "validityDays": 7, "earlyRenewalDays": 2, "keyAlgorithm": "RSA"}]


@pulumi.runtime.test
def test_each_client_gets_a_key_a_csr_and_a_client_auth_certificate(mocks):
    c = build(sample(clients=CLIENTS, tls={"clientAuth": "required", "certValidityDays": 90, "certEarlyRenewalDays": 20}))

    def check(identities):
        keys, csrs, certs = (mocks.of(t, "kafka") for t in (KEY, CSR, SIGNED))
        assert sorted(keys) == ["kafka-client-billing-key", "kafka-client-orders-service-key"]
        assert sorted(csrs) == ["kafka-client-billing-csr", "kafka-client-orders-service-csr"]
        assert sorted(certs) == ["kafka-client-billing-cert", "kafka-client-orders-service-cert"]
        assert keys["kafka-client-orders-service-key"].inputs["algorithm"] == "ECDSA"
        assert (keys["kafka-client-billing-key"].inputs["algorithm"], keys["kafka-client-billing-key"].inputs["rsaBits"]) == ("RSA", 3072)
        for client in ("orders-service", "billing"):
            csr = csrs[f"kafka-client-{client}-csr"].inputs
            assert csr["subject"] == {"commonName": client}
            assert not csr.get("dnsNames") and not csr.get("ipAddresses"), "a client certificate names no host"
            signed = certs[f"kafka-client-{client}-cert"].inputs
            assert signed["allowedUses"] == ["digital_signature", "client_auth"], "client auth only, no server_auth"
            assert unwrap(signed["caCertPem"]) == identities[client]["ca_cert_pem"]
            # The certificate as signed: CN=<name>, issued by the stack's CA, for client auth only.
            cert = x509.load_pem_x509_certificate(identities[client]["certificate_pem"].encode())
            assert cert.subject.rfc4514_string() == f"CN={client}"
            assert cert.issuer == x509.load_pem_x509_certificate(identities[client]["ca_cert_pem"].encode()).subject
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
            assert identities[client]["principal"] == f"User:{client}"
            assert identities[client]["private_key_pem"].startswith(f"-----BEGIN {PKCS8_LABEL}-----")
        # Validity and early renewal: the client's own, else the hosts' (tls.*).
        hours = {n: (r.inputs["validityPeriodHours"], r.inputs["earlyRenewalHours"]) for n, r in certs.items()}
        assert hours == {"kafka-client-orders-service-cert": (90 * 24, 20 * 24), "kafka-client-billing-cert": (7 * 24, 2 * 24)}
        assert set(identities["billing"]) == {"principal", "certificate_pem", "private_key_pem", "ca_cert_pem",
                                              "pkcs12_base64", "pkcs12_password", "not_after"}

    return when_built(c, check)


@pulumi.runtime.test
def test_the_identities_output_is_secret_and_carries_no_ca_key(mocks):
    c = build(sample(clients=CLIENTS))
    flags = asyncio.gather(c.client_identities.is_secret(), *[i.outputs.is_secret() for i in c.clients.values()],
                           *[i.private_key_pem.is_secret() for i in c.clients.values()])

    def check(identities):
        ca_key = unwrap(next(iter(mocks.of(SIGNED, "kafka").values())).inputs["caPrivateKeyPem"])
        assert ca_key.splitlines()[1] not in str(identities), "the CA key is in the client outputs"
        return pulumi.Output.from_input(flags).apply(lambda f: _all_secret(f))

    return when_built(c, check)


def _all_secret(flags):
    assert all(flags), f"a client output is not secret: {flags}"


@pulumi.runtime.test
def test_removing_a_client_removes_its_resources_and_outputs(mocks):
    """The program declares exactly the listed clients: one left out is gone from the program,
    so `pulumi up` deletes its key and certificate and its output entry."""
    before = build(sample(clients=CLIENTS), name="before")
    after = build(sample(clients=CLIENTS[:1]), name="after")

    def check(identities):
        assert set(identities) == {"orders-service"}
        names = [r.name for r in mocks.resources if r.name.startswith("after-client-")]
        assert sorted(names) == ["after-client-orders-service", *sorted(f"after-client-orders-service-{r}" for r in ("cert", "csr", "key"))]
        # ... and nothing else changed for the brokers: the same properties files.
        steps = {n: i["stdin"] for n, i in mocks.commands().items() if "-rollout-" in n}
        assert {n.split("-rollout-")[1]: s for n, s in steps.items() if n.startswith("before-")} == \
            {n.split("-rollout-")[1]: s for n, s in steps.items() if n.startswith("after-")}

    return before.rollout_done.apply(lambda _: before.client_identities.apply(lambda _: when_built(after, check)))


@pulumi.runtime.test
def test_no_clients_no_client_resources(mocks):
    c = build(sample())

    def check(identities):
        assert identities == {}
        assert not [r.name for r in mocks.resources if r.name.startswith("kafka-client-")]
        assert c.super_users.startswith("User:kafka-1.example.com;")

    return when_built(c, check)


@pulumi.runtime.test
def test_an_unchanged_client_keeps_its_pkcs12_bytes(mocks):
    """The last up's output (read back by stack_config.read_last_outputs) keeps the keystore
    when key and certificate are the same: a second `up` shows no output change."""
    first = build(sample(clients=CLIENTS), name="one")

    def second(previous):
        again = build(sample(clients=CLIENTS), name="two", previous_clients=previous)

        def check(identities):
            assert identities == previous

        return when_built(again, check)

    return when_built(first, second)


@pulumi.runtime.test
def test_the_exported_pkcs12_opens_with_keytool(mocks, tmp_path):
    c = build(sample(clients=CLIENTS[:1], tls={"clientAuth": "required"}))

    def check(identities):
        entry = identities["orders-service"]
        path = tmp_path / "orders-service.p12"
        path.write_bytes(base64.b64decode(entry["pkcs12_base64"]))
        listing = keytool_list(path, entry["pkcs12_password"])
        assert listing.returncode == 0, listing.stderr
        assert "Alias name: orders-service" in listing.stdout and "Certificate chain length: 2" in listing.stdout
        # The brokers render the rule that makes this certificate User:orders-service.
        server = next(i for n, i in mocks.commands().items() if n == "kafka-rollout-final-broker-1")
        assert RULE_LINE in unwrap(server["stdin"]).splitlines()

    return when_built(c, check)
