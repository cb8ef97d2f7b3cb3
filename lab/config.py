"""Static facts of the lab: hosts, addresses, paths, versions."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

KAFKA_VERSION = "4.4.0"

# Which lab: 0, the lab (`make lab-up`), or another one beside it (KAFKA_TLS_LAB_SLOT=1, ...):
# tests/run.sh runs some modules on slot 1's IPv6 hosts. Each slot has its own
# addresses, names, state folder and /etc/hosts block; the accounts, the sudoers file and the
# mountpoints are shared, and `down` removes them with the last lab (Lab.down).
SLOT = int(os.environ.get("KAFKA_TLS_LAB_SLOT") or 0)
DOMAIN = "kafka.lab" if SLOT == 0 else f"kafka{SLOT + 1}.lab"
# Slot 1's hosts have IPv6 addresses, in a prefix of their own that up adds to lo (never routed):
# the modules run on it show every gate, script and rendered value working over IPv6. The others
# are IPv4 loopback addresses: 127.0.0.x, 127.0.20.x, ... (off 127.0.1.1, Debian's own hostname line).
IPV6 = SLOT == 1
IPV6_PREFIX = "fd6b:6166:6b61::"


def _address(suffix: int) -> str:
    return f"{IPV6_PREFIX}{suffix}" if IPV6 else f"127.0.{SLOT * 10}.{suffix}"
HOSTS_MARK_BASE = "kafka-tls-lab"
HOSTS_MARK = HOSTS_MARK_BASE if SLOT == 0 else f"{HOSTS_MARK_BASE}-{SLOT + 1}"  # marker of the /etc/hosts block

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
# Where kafka-tls's scripts keep the class archive of Kafka's tools (components/scripts.py's
# TOOLS_ARCHIVE_DIR): each host its own, as on separate machines.
VAR_CACHE_KAFKA_TLS = "/var/cache/kafka-tls"
MOUNTPOINTS = [ETC_KAFKA, VAR_LIB_KAFKA, VAR_LOG_KAFKA, OPT_KAFKA, VAR_CACHE_KAFKA_TLS]

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
    def url_host(self) -> str:
        """The address as a URL or a listener writes it: an IPv6 one in brackets."""
        return f"[{self.address}]" if ":" in self.address else self.address

    @property
    def service(self) -> str:
        return "kafka" if self.role == "broker" else "kafka-connect"


HOSTS = [
    HostSpec("broker-1", _address(11), "broker", 1),
    HostSpec("broker-2", _address(12), "broker", 2),
    HostSpec("broker-3", _address(13), "broker", 3),
    HostSpec("connect-1", _address(21), "connect", None),
]
BROKERS = [h for h in HOSTS if h.role == "broker"]
CONNECT_HOSTS = [h for h in HOSTS if h.role == "connect"]


def lab_dir() -> Path:
    return Path(os.environ.get("KAFKA_TLS_LAB_DIR") or f"/tmp/{HOSTS_MARK}")


def shared_dir() -> Path:
    """What every lab of the machine shares: the record of the accounts and mountpoints an up
    created, and the lock around changing them (and /etc/hosts)."""
    return Path(os.environ.get("KAFKA_TLS_LAB_SHARED") or "/tmp/kafka-tls-lab-shared")


def as_this_lab(text: str) -> str:
    """Text written for the lab of slot 0 (Pulumi.lab.yaml, labstack's base files, a test's
    expectation) with this lab's host names and addresses instead."""
    if SLOT == 0:
        return text
    text = text.replace(".kafka.lab", f".{DOMAIN}")

    def here(m: re.Match) -> str:
        host = next(h for h in HOSTS if h.address == _address(int(m.group(1))))
        return f"{host.url_host}{m.group(2)}" if m.group(2) else host.address

    return re.sub(r"\b127\.0\.0\.(11|12|13|21)\b(:\d+)?", here, text)


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
