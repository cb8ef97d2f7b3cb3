"""What the end-to-end tests check with: real clients that use only the stack outputs."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from lab import config as C
from components.properties import parse_properties
from components.scripts import host_port


def write_ca(outputs: dict, directory: Path) -> Path:
    """What a client trusts: the CA bundle (the old and the new CA during a CA rotation)."""
    path = directory / "ca.pem"
    path.write_text(outputs.get("ca_bundle_pem") or outputs["ca_cert_pem"])
    return path


def openssl_verify(target: str, port: int, ca_file: Path, *, name: str | None = None, ip: str | None = None) -> subprocess.CompletedProcess:
    """openssl s_client -verify_return_error against the CA, checking the name or IP SAN."""
    args = ["openssl", "s_client", "-connect", host_port(target, port), "-CAfile", str(ca_file), "-verify_return_error", "-brief"]
    if name:
        args += ["-servername", name, "-verify_hostname", name]
    if ip:
        args += ["-verify_ip", ip]
    return subprocess.run(args, input="", capture_output=True, text=True, timeout=30)


def ssl_client_config(outputs: dict, ca_file: Path) -> dict:
    """librdkafka settings from the stack outputs; hostname verification on."""
    return {
        "bootstrap.servers": outputs["ssl_bootstrap_servers"],
        "security.protocol": "SSL",
        "ssl.ca.location": str(ca_file),
        "ssl.endpoint.identification.algorithm": "https",
    }


def create_topic(config: dict, name: str, partitions: int = 3) -> None:
    admin = AdminClient(config)
    futures = admin.create_topics([NewTopic(name, partitions, 3, config={"min.insync.replicas": "2"})])
    futures[name].result(timeout=60)


def roundtrip(config: dict, topic: str, count: int = 200, timeout: float = 120) -> list[bytes]:
    """Produce ``count`` messages with acks=all and consume them back; returns what came back."""
    producer = Producer({**config, "acks": "all", "enable.idempotence": True})
    sent = [f"{topic}-{i}".encode() for i in range(count)]
    for value in sent:
        producer.produce(topic, value)
    assert producer.flush(timeout) == 0, "messages left unsent"
    consumer = Consumer({**config, "group.id": f"e2e-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    received: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            received.append(message.value())
    consumer.close()
    return sorted(received) if sorted(received) == sorted(sent) else received


def all_replicas_in_sync(config: dict, topic: str) -> bool:
    metadata = AdminClient(config).list_topics(topic, timeout=30)
    partitions = metadata.topics[topic].partitions.values()
    return bool(partitions) and all(len(p.replicas) == 3 and sorted(p.isrs) == sorted(p.replicas) for p in partitions)


def host_properties(lab, host: str, path: str) -> dict[str, str]:
    result = lab.ssh(host, f"cat {path}", check=True)
    return parse_properties(result.stdout)


def wait_for(predicate, timeout: float = 120, interval: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def connect_put(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="PUT", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def brokers_serving_tls(lab, outputs: dict, directory: Path, brokers: list[str], topic: str) -> dict:
    """What real clients see of a secured cluster, for a test to assert on: per broker the
    s_client verification by name (0 = verified) and its keystore type on the host, and how
    many of 100 acks=all messages came back over SSL with hostname verification."""
    ca_file = write_ca(outputs, directory)
    verified = {b: openssl_verify(C.find_host(b).name, 9093, ca_file, name=C.find_host(b).name).returncode for b in brokers}
    store_types = {b: host_properties(lab, b, "/etc/kafka/server.properties").get("ssl.keystore.type") for b in brokers}
    config = ssl_client_config(outputs, ca_file)
    create_topic(config, topic)
    return {"verified": verified, "store_types": store_types, "roundtrip": len(roundtrip(config, topic, 100))}
