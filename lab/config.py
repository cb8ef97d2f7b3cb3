"""Static facts of the lab: hosts, addresses, paths, versions."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

KAFKA_VERSION = "4.4.0"
DOMAIN = "kafka.lab"
HOSTS_MARK = "kafka-tls-lab"  # marker of the /etc/hosts block

# Paths as seen on every host (same as production)
ETC_KAFKA = "/etc/kafka"
VAR_LIB_KAFKA = "/var/lib/kafka"
VAR_LOG_KAFKA = "/var/log/kafka"
OPT_KAFKA = "/opt/kafka"
SERVER_PROPERTIES = f"{ETC_KAFKA}/server.properties"
CONNECT_PROPERTIES = f"{ETC_KAFKA}/connect-avro-distributed.properties"
SSL_DIR = f"{ETC_KAFKA}/ssl"
DATA_DIR = f"{VAR_LIB_KAFKA}/data"
RUN_DIR = f"{VAR_LIB_KAFKA}/run"
SERVICE_SCRIPT = f"{OPT_KAFKA}/bin/kafka-service"
LIBS_ON_HOST = f"{OPT_KAFKA}/libs"

# real-filesystem mountpoints the namespaces bind over (created if missing, removed at down)
MOUNTPOINTS = [ETC_KAFKA, VAR_LIB_KAFKA, VAR_LOG_KAFKA, OPT_KAFKA]

BROKER_PORT = 9092
CONTROLLER_PORT = 9094  # keep CONTROLLER off 9093 (the SSL listener will want it)
NAMED_EXTERNAL_PORT = 9095  # the EXTERNAL listener of the "named" layout
# The "named" layout's EXTERNAL clients log in with SASL PLAIN (a lab-only account): kafka-tls
# turns EXTERNAL into SASL_SSL, whose health gate has no credentials and asks over INTERNAL.
SASL_CLIENT = ("lab-client", "lab-client-secret")
CONNECT_PORT = 8083
SSH_PORT = 22
SSH_USER = "root"  # the lab's own checks (Lab.ssh, service(), format)

# Accounts, as on production hosts: stacks log in as the operator and sudo; the JVMs run as the service user
OPERATOR_USER = "kafka-admin"
SERVICE_USER = "kafka"
SUDOERS_FILE = "/etc/sudoers.d/kafka-tls-lab"

# listener layouts of the pristine server.properties (reset_plaintext(layout=...)); both keep PLAINTEXT on 9092
LAYOUTS = ("default", "named")


@dataclass(frozen=True)
class HostSpec:
    short: str
    address: str
    role: str  # "broker" | "connect"
    node_id: Optional[int] = None

    @property
    def name(self) -> str:
        return f"{self.short}.{DOMAIN}"

    @property
    def service(self) -> str:
        return "kafka" if self.role == "broker" else "kafka-connect"


HOSTS = [
    HostSpec("broker-1", "127.0.0.11", "broker", 1),
    HostSpec("broker-2", "127.0.0.12", "broker", 2),
    HostSpec("broker-3", "127.0.0.13", "broker", 3),
    HostSpec("connect-1", "127.0.0.21", "connect", None),
]
BROKERS = [h for h in HOSTS if h.role == "broker"]
CONNECT_HOSTS = [h for h in HOSTS if h.role == "connect"]


def lab_dir() -> Path:
    return Path(os.environ.get("KAFKA_TLS_LAB_DIR") or "/tmp/kafka-tls-lab")


def cache_dir() -> Path:
    base = os.environ.get("KAFKA_TLS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "kafka-tls")
    return Path(base)


def libs_dir(version: str = KAFKA_VERSION) -> Path:
    return cache_dir() / f"kafka-{version}" / "libs"


def find_host(name: str) -> HostSpec:
    for h in HOSTS:
        if name in (h.short, h.name, h.address):
            return h
    raise KeyError(f"no lab host {name!r} (known: {', '.join(h.name for h in HOSTS)})")


def bootstrap_servers() -> str:
    return ",".join(f"{h.name}:{BROKER_PORT}" for h in BROKERS)


def quorum_voters() -> str:
    return ",".join(f"{h.node_id}@{h.name}:{CONTROLLER_PORT}" for h in BROKERS)
