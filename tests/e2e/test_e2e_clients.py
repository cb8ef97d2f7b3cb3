"""Client identities (mTLS) against the real cluster: the exported certificates are the only way in
on the TLS listener, each client's CN is its Kafka principal, and ACLs on that principal hold.

The stack: brokers require client certificates (tls.clientAuth: required), two clients are listed
(e2e-app, e2e-other), and the brokers run KRaft's StandardAuthorizer from
labstack/server.authz.base.properties, whose super users are the brokers and the Connect worker
(by their certificates) and User:ANONYMOUS (every plaintext connection: the controller listener,
replication during the first stage, the lab's own checks on 9092; see the comments there).

The tests run in file order and build on each other, like test_e2e_rollout.py.
"""

from __future__ import annotations

import base64
import datetime
import json
import time
import uuid
from pathlib import Path
from typing import Optional

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components.properties import PRINCIPAL_MAPPING_RULES, parse_properties
from lab import config as C
from labstack import PLAINTEXT_QUORUM, LabStack, lab_tls
from tests.e2e.helpers import connect_put, create_topic, host_properties, ssl_client_config, wait_for, write_ca

pytestmark = pytest.mark.e2e

BROKERS = ["broker-1", "broker-2", "broker-3"]
STACK = "e2e-clients"
AUTHZ_BASE = "labstack/server.authz.base.properties"
RUN = uuid.uuid4().hex[:8]
ACL_TOPIC = f"e2e-acl-{RUN}"
SUPER_USERS = ";".join(f"User:{h.name}" for h in C.HOSTS)


class Run:
    outputs: dict = {}


def clients_stack(lab, clients: list[str]) -> LabStack:
    return LabStack(lab, STACK, overrides={
        "serverBaseFile": AUTHZ_BASE,
        "tls": lab_tls(clientAuth="required", **PLAINTEXT_QUORUM),
        "clients": [{"name": name} for name in clients],
    })


@pytest.fixture(scope="module")
def mtls_lab(lab):
    """The lab from plaintext, no stack state left; no ACLs afterwards (they outlive a reset, in
    the metadata log). The next module resets the lab itself."""
    lab.ensure_pristine()
    yield lab
    acls = AclBindingFilter(ResourceType.TOPIC, ACL_TOPIC, ResourcePatternType.LITERAL, None, None,
                            AclOperation.ANY, AclPermissionType.ANY)
    try:
        for future in plaintext_admin(lab).delete_acls([acls]).values():
            future.result(timeout=30)
    except KafkaException:
        pass  # no authorizer running (the up did not get that far): no ACL to remove


def plaintext_admin(lab) -> AdminClient:
    """A super user here: plaintext connections are User:ANONYMOUS (see the base file)."""
    return AdminClient({"bootstrap.servers": lab.bootstrap_servers})


def identity(name: str) -> dict:
    return Run.outputs["client_identities"][name]


def mtls_config(tmp_path: Path, cert_pem: Optional[str] = None, key_pem: Optional[str] = None) -> dict:
    """librdkafka over SSL with hostname verification, with or without a client certificate."""
    config = ssl_client_config(Run.outputs, write_ca(Run.outputs, tmp_path))
    if cert_pem:
        config.update({"ssl.certificate.pem": cert_pem, "ssl.key.pem": key_pem})
    return config


def as_client(tmp_path: Path, name: str) -> dict:
    """The client's settings from its exported PEMs only."""
    entry = identity(name)
    return mtls_config(tmp_path, entry["certificate_pem"], entry["private_key_pem"])


def metadata_ok(config: dict, timeout: float = 15) -> bool:
    try:
        AdminClient(config).list_topics(timeout=timeout)
        return True
    except KafkaException:
        return False


def produce_one(config: dict, topic: str) -> Optional[KafkaError]:
    """Produce one message (acks=all); the delivery error, or None when it was written."""
    report: dict = {}
    producer = Producer({**config, "acks": "all", "message.timeout.ms": 20000})
    producer.produce(topic, uuid.uuid4().hex.encode(), on_delivery=lambda err, msg: report.update(err=err))
    producer.flush(40)
    assert "err" in report, "no delivery report within 40s"
    return report["err"]


def foreign_identity(name: str) -> tuple[str, str]:
    """A key and a client certificate with the same CN from a CA the brokers do not trust."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the stack's CA")])
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def test_up_issues_a_client_certificate_per_listed_client(mtls_lab):
    lab = mtls_lab
    result = clients_stack(lab, ["e2e-app", "e2e-other"]).up()
    assert result.summary.result == "succeeded"
    Run.outputs = {k: v.value for k, v in result.outputs.items()}
    assert set(Run.outputs["client_identities"]) == {"e2e-app", "e2e-other"}
    assert result.outputs["client_identities"].secret
    ca = x509.load_pem_x509_certificate(Run.outputs["ca_cert_pem"].encode())
    for name in ("e2e-app", "e2e-other"):
        entry = identity(name)
        cert = x509.load_pem_x509_certificate(entry["certificate_pem"].encode())
        assert cert.subject.rfc4514_string() == f"CN={name}" and cert.issuer == ca.subject
        cert.verify_directly_issued_by(ca)
        assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
        assert entry["principal"] == f"User:{name}" and entry["ca_cert_pem"] == Run.outputs["ca_cert_pem"]
    # The super users the base file names are the ones the stack says the hosts are.
    assert Run.outputs["super_users"] == SUPER_USERS
    base = parse_properties(Path(AUTHZ_BASE).read_text())
    assert set(SUPER_USERS.split(";")) <= set(base["super.users"].split(";"))
    for b in BROKERS:
        props = host_properties(lab, b, "/etc/kafka/server.properties")
        assert props["ssl.client.auth"] == "required"
        assert props["ssl.principal.mapping.rules"] == PRINCIPAL_MAPPING_RULES
        assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


def test_client_keys_are_only_in_the_state_encrypted(mtls_lab):
    state = clients_stack(mtls_lab, ["e2e-app", "e2e-other"]).exported_state()
    for name in ("e2e-app", "e2e-other"):
        assert identity(name)["private_key_pem"].splitlines()[1] not in state
        assert identity(name)["pkcs12_password"] not in state
        assert identity(name)["pkcs12_base64"][-400:-300] not in state  # encrypted bytes, unlike its header
    assert "PRIVATE KEY-----" not in state


def test_a_client_without_a_certificate_is_refused(mtls_lab, tmp_path):
    assert not metadata_ok(mtls_config(tmp_path)), "the TLS listener let in a client without a certificate"
    # The same settings with the listed client's certificate get in: the certificate is the difference.
    assert wait_for(lambda: metadata_ok(as_client(tmp_path, "e2e-app")), timeout=60)


def test_a_certificate_from_another_ca_is_refused(mtls_lab, tmp_path):
    cert_pem, key_pem = foreign_identity("e2e-app")  # the right name is not enough
    assert not metadata_ok(mtls_config(tmp_path, cert_pem, key_pem)), "a certificate from another CA was accepted"


def test_acls_hold_for_the_clients_principal(mtls_lab, tmp_path):
    """Only User:e2e-app may write ACL_TOPIC: e2e-app writes, e2e-other is refused by the
    authorizer (not by TLS: it gets in, and is refused the topic)."""
    admin = plaintext_admin(mtls_lab)
    create_topic({"bootstrap.servers": mtls_lab.bootstrap_servers}, ACL_TOPIC, partitions=1)
    write = AclBinding(ResourceType.TOPIC, ACL_TOPIC, ResourcePatternType.LITERAL, "User:e2e-app", "*",
                       AclOperation.WRITE, AclPermissionType.ALLOW)
    for future in admin.create_acls([write]).values():
        future.result(timeout=30)

    app, other = as_client(tmp_path, "e2e-app"), as_client(tmp_path, "e2e-other")
    # The ACL reaches every broker through the metadata log: retry until it has.
    assert wait_for(lambda: produce_one(app, ACL_TOPIC) is None, timeout=90), "e2e-app could not write with its ACL"
    assert metadata_ok(other), "e2e-other's own certificate should get it in"
    refused = produce_one(other, ACL_TOPIC)
    assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused

    # What e2e-app wrote is there (read back as a super user).
    consumer = Consumer({"bootstrap.servers": mtls_lab.bootstrap_servers, "group.id": f"e2e-acl-{RUN}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([ACL_TOPIC])
    got = []
    deadline = time.monotonic() + 60
    while not got and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            got.append(message.value())
    consumer.close()
    assert got, "nothing written by e2e-app came back"


def test_a_java_client_reads_the_exported_pkcs12(mtls_lab, tmp_path):
    """Java's own client (TopicCommand) with the PKCS12 keystore and its derived password: it gets
    in as User:e2e-app and sees the topic its ACL names; e2e-other does not see it."""
    ca_file = write_ca(Run.outputs, tmp_path)

    def topics_as(name: str) -> str:
        entry = identity(name)
        store = tmp_path / f"{name}.p12"
        store.write_bytes(base64.b64decode(entry["pkcs12_base64"]))
        config = tmp_path / f"{name}.properties"
        config.write_text(
            "security.protocol=SSL\n"
            f"ssl.keystore.type=PKCS12\nssl.keystore.location={store}\n"
            f"ssl.keystore.password={entry['pkcs12_password']}\nssl.key.password={entry['pkcs12_password']}\n"
            f"ssl.truststore.type=PEM\nssl.truststore.location={ca_file}\n"
        )
        run = mtls_lab.kafka_tool("org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
                                  Run.outputs["ssl_bootstrap_servers"], "--command-config", str(config), "--list",
                                  timeout=180)
        assert run.returncode == 0, run.stderr[-3000:]
        return run.stdout

    assert ACL_TOPIC in topics_as("e2e-app").split()
    assert ACL_TOPIC not in topics_as("e2e-other").split()


def test_the_connect_worker_keeps_working_with_its_own_certificate(mtls_lab, tmp_path):
    lab = mtls_lab
    lab.wait_connect()
    topic = f"e2e-clients-connect-{RUN}"
    create_topic({"bootstrap.servers": lab.bootstrap_servers}, topic, partitions=1)
    lines = [f"line-{i}" for i in range(10)]
    lab.ssh("connect-1", f"cat > /var/lib/kafka/e2e-clients-{RUN}.txt", input="\n".join(lines) + "\n", check=True)
    connect_put(f"{lab.connect_url}/connectors/e2e-clients-source-{RUN}/config", {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
        "file": f"/var/lib/kafka/e2e-clients-{RUN}.txt",
        "topic": topic,
        "tasks.max": "1",
    })
    consumer = Consumer({"bootstrap.servers": lab.bootstrap_servers, "group.id": f"e2e-clients-{RUN}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got: list[str] = []
    deadline = time.monotonic() + 120
    while len(got) < len(lines) and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            got.append(json.loads(message.value()))
    consumer.close()
    assert got == lines


def test_removing_a_client_restarts_nothing_and_keeps_the_others_keystore(mtls_lab, tmp_path):
    lab = mtls_lab
    pids = {b: lab.service_pid(b) for b in BROKERS}
    before = Run.outputs["client_identities"]
    result = clients_stack(lab, ["e2e-app"]).up()
    outputs = {k: v.value for k, v in result.outputs.items()}
    assert set(outputs["client_identities"]) == {"e2e-app"}
    # The same key and certificate: the same PKCS12 bytes (the last up's, read back), no diff.
    assert outputs["client_identities"]["e2e-app"] == before["e2e-app"]
    assert all(line.endswith(": nothing") for line in outputs["restart_plan"]), outputs["restart_plan"]
    assert {b: lab.service_pid(b) for b in BROKERS} == pids, "removing a client restarted a broker"
    # Removal is not revocation: Kafka's TLS checks no CRL, so the removed client's certificate
    # still gets in until it expires or the CA changes (README: "Client identities (mTLS)").
    assert metadata_ok(as_client(tmp_path, "e2e-other"))
