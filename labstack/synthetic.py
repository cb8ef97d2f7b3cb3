"""Stacks of synthetic hosts, for previews of the real program with no lab.

A preview reads nothing from any host when ``restart.order`` is ``config`` (the brokers are not
read for the order they roll in), and the commands' SSH starts only when an ``up`` runs them. So a
stack whose hosts are made-up loopback addresses (127.0.0.x, never dialled) and a made-up host key
previews like a real one. Its secrets (store passwords, the
SSH key, an imported CA's key) are known values, so tests can search output for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from labstack.stack import NS, PROJECT_LINKS, REPO, LabStack

# Well formed and held by nobody (tests/unit/sample.py's).
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKr1kCw6Z7h0t5oTq7j0y9m3mR0dYw5m3D9t0bq8H2Xo"
PASSWORDS = {"keystorePassword": "synthetic-Keystore-7d1f", "truststorePassword": "synthetic-Truststore-93ab"}
# A broker-only base (the quorum's controllers are elsewhere): any number of brokers validates.
SERVER_BASE = {
    "process.roles": "broker",
    "controller.quorum.bootstrap.servers": "controller-1.kafka.test:9094",
    "controller.listener.names": "CONTROLLER",
    "listeners": "PLAINTEXT://:9092",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL",
    "inter.broker.listener.name": "PLAINTEXT",
    "log.dirs": "/var/lib/kafka/data",
    "min.insync.replicas": "2",
}


def brokers(n: int, domain: str = "kafka.test") -> list[dict]:
    """n brokers on 127.0.0.101 and up (at most 149 of them), node ids 1..n."""
    assert n < 150, "127.0.0.101 to 127.0.0.249"
    return [
        {
            "name": f"broker-{i}",
            "host": f"broker-{i}.{domain}",
            "address": f"127.0.0.{100 + i}",
            "nodeId": i,
            "hostKey": HOST_KEY,
        }
        for i in range(1, n + 1)
    ]


def workers(n: int, domain: str = "kafka.test") -> list[dict]:
    return [
        {"name": f"connect-{i}", "host": f"connect-{i}.{domain}", "address": f"127.0.0.{20 + i}", "hostKey": HOST_KEY}
        for i in range(1, n + 1)
    ]


def ssh_key() -> str:
    """A fresh OpenSSH private key (never authorised anywhere)."""
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()


class SyntheticStack(LabStack):
    """A stack of the project with the given ``kafka-tls:*`` config (keys without the namespace)
    and secrets (``--path`` keys, e.g. ``caImport.keyPem``), in its own folder ``root``."""

    def __init__(self, root: Path, name: str, config: dict[str, Any], secrets: Optional[dict[str, str]] = None):
        self.lab = None
        self.name = name
        self.overrides = {}
        self.root = root
        self.project_dir = root / "project"
        self.backend = root / "state"
        self.backend_url = f"file://{self.backend}"
        self.source, self.links = REPO, PROJECT_LINKS
        self.config = {
            "serverProperties": SERVER_BASE,
            "connectBaseFile": "labstack/connect.base.properties",
            "connectWorkers": [],
            **config,
        }
        # Never dialled: the brokers are not read for the order they roll in.
        self.config["restart"] = {**self.config.get("restart", {}), "order": "config"}
        self.secrets = {**PASSWORDS, "sshPrivateKey": ssh_key(), **(secrets or {})}

    def stack_settings(self) -> dict:
        lab = yaml.safe_load((REPO / "Pulumi.lab.yaml").read_text())
        return {
            "secretsprovider": lab["secretsprovider"],
            "encryptionsalt": lab["encryptionsalt"],
            "config": {f"{NS}:{k}": v for k, v in self.config.items()},
        }

    def secret_values(self) -> dict[str, str]:
        return self.secrets

