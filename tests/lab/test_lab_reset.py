"""reset_plaintext puts the pristine plaintext configs back, removes everything else, and the cluster serves again."""
import time

import pytest

from lab import config as C

pytestmark = pytest.mark.lab


def _dynamic(lab, broker):
    from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType
    res = ConfigResource(ResourceType.BROKER, broker)
    admin = lab.admin()  # keep a reference: a collected client cancels its futures
    entries = admin.describe_configs([res])[res].result(30)
    return {n: e.value for n, e in entries.items() if e.source == ConfigSource.DYNAMIC_BROKER_CONFIG.value}


def test_reset_plaintext(lab):
    b1 = C.find_host("broker-1")
    before_pid = lab.service_pid("broker-1")
    assert lab.ssh("broker-1", "cp /etc/kafka/server.properties /etc/kafka/server.properties.kafka-tls.orig && "
                               "echo '# changed by a test' >> /etc/kafka/server.properties && "
                               "mkdir -p /etc/kafka/ssl && echo x > /etc/kafka/ssl/broker.p12 && "
                               "echo y > /etc/kafka/extra.conf").returncode == 0
    assert lab.ssh("connect-1", "echo '# changed' >> /etc/kafka/connect-avro-distributed.properties").returncode == 0
    r = lab.kafka_tool("org.apache.kafka.tools.ConfigCommand", "--bootstrap-server", lab.bootstrap_servers,
                       "--entity-type", "brokers", "--entity-name", "1", "--alter", "--add-config", "num.io.threads=5")
    assert r.returncode == 0, r.stdout + r.stderr
    # The controller applies the change; the broker that answers describeConfigs learns it from
    # the metadata log a moment later, so poll rather than read once.
    deadline = time.monotonic() + 30
    while _dynamic(lab, "1") != {"num.io.threads": "5"} and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _dynamic(lab, "1") == {"num.io.threads": "5"}
    lab.reset_plaintext()
    assert _dynamic(lab, "1") == {}
    for h in C.HOSTS:
        name = "server.properties" if h.role == "broker" else "connect-avro-distributed.properties"
        assert (lab.etc_dir(h) / name).read_text() == (lab.pristine_dir(h) / name).read_text()
        assert not (lab.etc_dir(h) / "ssl").exists()  # no ssl/ folder before a stack makes one
    assert sorted(f.name for f in lab.etc_dir(b1).iterdir()) == ["server.properties"]
    assert lab.service_pid("broker-1") not in (None, before_pid)
    lab.roundtrip()
