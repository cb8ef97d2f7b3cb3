"""A sample stack config: 3 brokers and 1 Connect worker, as the raw values Pulumi hands over."""

import copy

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKr1kCw6Z7h0t5oTq7j0y9m3mR0dYw5m3D9t0bq8H2Xo"

_SAMPLE = {
    "brokers": [
        {"name": f"broker-{i}", "host": f"kafka-{i}.example.com", "address": f"10.0.0.{10 + i}", "nodeId": i, "hostKey": HOST_KEY}
        for i in (1, 2, 3)
    ],
    "connectWorkers": [{"name": "connect-1", "host": "connect-1.example.com", "address": "10.0.0.21", "hostKey": HOST_KEY}],
    "ssh": {"user": "deploy", "port": 22},
    "sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nfake-ssh-key-material\n-----END OPENSSH PRIVATE KEY-----\n",
    "keystorePassword": "ks-Secret-1234",
    "truststorePassword": "ts-Secret-5678",
    "serverProperties": {
        "process.roles": "broker,controller",
        "controller.quorum.voters": "1@kafka-1.example.com:9094,2@kafka-2.example.com:9094,3@kafka-3.example.com:9094",
        "log.dirs": "/var/lib/kafka/data",
        "num.partitions": "3",
    },
    "connectProperties": {
        "group.id": "connect-cluster",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    },
}

SECRET_VALUES = ("ks-Secret-1234", "ts-Secret-5678", "fake-ssh-key-material")


def sample(**overrides) -> dict:
    """A deep copy of the sample with top-level keys replaced."""
    raw = copy.deepcopy(_SAMPLE)
    raw.update(overrides)
    return raw
