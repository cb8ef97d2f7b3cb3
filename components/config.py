"""The stack config: typed models and validation.

Pure: no Pulumi here. ``validate_config`` takes the raw values of every ``kafka-tls:*`` config
key and returns a ``ClusterConfig``, or raises ``ConfigError`` carrying one message per problem,
each naming its key path (``kafka-tls:brokers[2].host``) and what to do.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.alias_generators import to_camel

NAMESPACE = "kafka-tls"
# keytool refuses store passwords shorter than this.
MIN_STORE_PASSWORD_LENGTH = 6
_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
# A POSIX account or group name as useradd takes it (no spaces, ':' or shell characters).
_ACCOUNT = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# pulumi-tls counts validity in hours in a Go duration (which ends near 292 years); a century is plenty.
MAX_VALIDITY_DAYS = 36500
# RSA sizes that keytool, openssl and pulumi-tls all make and Java accepts.
RSA_BITS = (2048, 3072, 4096)
# SSH host key types as ssh-keyscan prints them; pulumi-command pins any of these.
SSH_HOST_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")
# Curves Java's TLS accepts for the CA key (and Go's x509, which pulumi-tls signs with).
CA_CURVES = ("secp256r1", "secp384r1", "secp521r1")
MAX_GATE_TIMEOUT_SECONDS = 3600
MAX_NODE_ID = 2**31 - 1  # node.id is a Java int
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A path the host scripts can take as it is: no spaces, quotes or shell characters.
_PATH_PART = re.compile(r"[A-Za-z0-9._+@-]+")
# Shared directories that kafka-tls must not make 0750 to the service's group (paths.sslDir).
_SHARED_DIRS = frozenset(
    [
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib64",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/var",
        "/etc/ssl",
        "/etc/ssl/certs",
        "/etc/ssl/private",
        "/etc/pki",
        "/etc/pki/tls",
        "/etc/pki/tls/certs",
        "/etc/pki/tls/private",
        "/etc/kafka",
        "/opt/kafka",
        "/usr/local",
        "/var/lib",
        "/var/log",
        "/var/tmp",
    ]
)
_VOLATILE_DIRS = ("/tmp/", "/var/tmp/", "/run/", "/dev/", "/proc/", "/sys/")


class ConfigError(ValueError):
    """Raised with every problem found in the stack config at once."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class StoreType(str, Enum):
    PKCS12 = "PKCS12"
    JKS = "JKS"
    PEM = "PEM"


class KeyCustody(str, Enum):
    HOST = "host"  # keytool makes the key on the host; it never leaves it
    STACK = "stack"  # pulumi-tls makes the key; it lives in the state as a secret


class RollOrder(str, Enum):
    CLUSTER = "cluster"  # read the brokers: down or failing first, the quorum leader last (roll_order.py)
    CONFIG = "config"  # as the brokers are listed; nothing is read from the hosts at preview


class KeyAlgorithm(str, Enum):
    ECDSA = "ECDSA"
    RSA = "RSA"


class ClientAuth(str, Enum):
    NONE = "none"
    REQUESTED = "requested"
    REQUIRED = "required"


class ListenerMode(str, Enum):
    PLAINTEXT_AND_SSL = "PLAINTEXT+SSL"  # the seed's choice: clients may use either
    SSL_ONLY = "SSL"


class Protocol(str, Enum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"


class _Model(BaseModel):
    # camelCase keys in YAML, typos are errors, values are not coerced silently.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


def is_valid_hostname(name: str) -> bool:
    """True for a DNS name made of RFC 1123 labels (not an IP address)."""
    return dns_name_problem(name) is None


def dns_name_problem(name: str) -> Optional[str]:
    """Why ``name`` cannot be a DNS name in a certificate (a SAN, a name clients dial); None if it can."""
    if not name:
        return "it is empty"
    if _CONTROL.search(name) or " " in name:
        return "it contains a space, line break or control character"
    if "*" in name:
        return "wildcards are not allowed: each certificate names its own host"
    if name.endswith("."):
        return "a trailing '.' does not match the name clients dial"
    if is_ip_address(name):
        return "it is an IP address (addresses go in address or extraIpAddresses)"
    if len(name) > 253:
        return "it is longer than 253 characters"
    labels = name.split(".")
    if not all(_HOSTNAME_LABEL.fullmatch(label) for label in labels):
        return "labels are 1 to 63 letters, digits and '-' (no '_', not starting or ending with '-')"
    if labels[-1].isdigit():
        return "its last label is all digits (a mistyped IP address?)"
    return None


def _shown(value: str) -> str:
    """A value as a message may show it: control characters escaped, so a message stays one line."""
    return value.encode("unicode_escape").decode("ascii")


def address_problem(value: str, bind: bool = False) -> Optional[str]:
    """Why ``value`` cannot be a host's address (an SSH target and an IP SAN; with ``bind``, a
    listener's bind address, where 0.0.0.0 and :: mean every interface); None if it can."""
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return "is not an IP address"
    if getattr(ip, "scope_id", None):
        return "carries a zone ('%...'), which a certificate cannot"
    if ip.is_multicast:
        return "is a multicast address"
    if ip.version == 4 and ip.is_reserved:
        return "is a reserved or broadcast address"
    if ip.is_unspecified and not bind:
        return "is the unspecified address (no host has it)"
    return None


def is_ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


class Host(_Model):
    """One machine: a broker or a Connect worker."""

    name: str = Field(description="Short unique name; resource names derive from it.")
    host: str = Field(description="DNS name clients and peers dial; first SAN.")
    address: str = Field(description="IP address the host is dialled by; an IP SAN; SSH goes here.")
    host_key: str = Field(description="The host's SSH public host key ('ssh-ed25519 AAAA...'), pinned.")
    node_id: Optional[int] = Field(None, ge=0, le=MAX_NODE_ID, description="KRaft node.id (brokers only).")
    extra_dns_names: list[str] = Field(default_factory=list, description="More DNS SANs.")
    extra_ip_addresses: list[str] = Field(default_factory=list, description="More IP SANs.")
    bind_address: str = Field("", description="Address the listeners bind to; empty = all interfaces.")
    properties: dict[str, str] = Field(default_factory=dict, description="Per-host property overrides.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", v):
            raise ValueError("use lower-case letters, digits and '-' (it names resources), e.g. 'broker-1'")
        return v

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        if reason := dns_name_problem(v):
            raise ValueError(
                f"'{_shown(v)}' is not a valid DNS name ({reason}); give the name clients dial, e.g. 'kafka-1.example.com'"
            )
        return v

    @field_validator("address")
    @classmethod
    def _address(cls, v: str) -> str:
        if reason := address_problem(v):
            raise ValueError(f"'{_shown(v)}' {reason}; give the IP address the host is dialled by (SSH goes there)")
        return v

    @field_validator("extra_dns_names")
    @classmethod
    def _extra_dns_names(cls, v: list[str]) -> list[str]:
        if bad := [f"'{_shown(n)}' ({reason})" for n in v if (reason := dns_name_problem(n))]:
            raise ValueError(f"not valid DNS names: {'; '.join(bad)}; give the other names the host answers to")
        return v

    @field_validator("extra_ip_addresses")
    @classmethod
    def _extra_ip_addresses(cls, v: list[str]) -> list[str]:
        if bad := [f"'{_shown(a)}' {reason}" for a in v if (reason := address_problem(a))]:
            raise ValueError(f"not usable IP addresses: {'; '.join(bad)}; give the host's other addresses")
        return v

    @field_validator("bind_address")
    @classmethod
    def _bind(cls, v: str) -> str:
        if not v:
            return v
        if not is_ip_address(v):
            if dns_name_problem(v):
                raise ValueError(f"'{_shown(v)}' is neither an IP address nor a DNS name; leave it empty to bind all interfaces")
        elif reason := address_problem(v, bind=True):
            raise ValueError(f"'{v}' {reason}; give one of the host's addresses, or leave it empty to bind all interfaces")
        return v

    @field_validator("host_key")
    @classmethod
    def _host_key(cls, v: str) -> str:
        example = "e.g. the output of 'ssh-keyscan -t ed25519 ADDRESS' without the address in front"
        parts = v.split()
        if _CONTROL.search(v.strip()):
            raise ValueError(f"must be one line with one key; give the host's public key line, {example}")
        if len(parts) >= 2 and parts[0] not in SSH_HOST_KEY_TYPES and parts[1] in SSH_HOST_KEY_TYPES:
            raise ValueError(f"starts with '{parts[0]}' (the host name ssh-keyscan prints); remove it: {example}")
        if not parts or parts[0] not in SSH_HOST_KEY_TYPES:
            raise ValueError(f"give the host's public key line, starting with one of {', '.join(SSH_HOST_KEY_TYPES)}: {example}")
        try:
            serialization.load_ssh_public_key(" ".join(parts[:2]).encode())
        except (ValueError, UnsupportedAlgorithm):
            raise ValueError(
                f"the key after '{parts[0]}' is missing, cut short or of another type; copy the whole line again, {example}"
            ) from None
        return v

    @property
    def dns_names(self) -> list[str]:
        return [self.host, *self.extra_dns_names]

    @property
    def ip_addresses(self) -> list[str]:
        return [self.address, *self.extra_ip_addresses]


class Ssh(_Model):
    user: str = "kafka-admin"
    port: int = Field(22, ge=1, le=65535)
    sudo: bool = Field(True, description="Run every host script as root through 'sudo -n'; off for root logins.")

    @field_validator("user")
    @classmethod
    def _user(cls, v: str) -> str:
        if not _ACCOUNT.fullmatch(v):
            raise ValueError(
                f"'{_shown(v)}' is not a login name (lower-case letters, digits, '_', '-', starting with a letter or '_'); "
                "give the account kafka-tls logs in as, e.g. 'kafka-admin'"
            )
        return v


def _rsa_bits(v: int) -> int:
    if v not in RSA_BITS:
        raise ValueError(f"{v} is not an RSA key size kafka-tls makes; use 2048, 3072 (the default) or 4096")
    return v


class CertificateAuthorityConfig(_Model):
    generation: int = Field(
        1,
        ge=1,
        le=1_000_000,
        description="Raise by one to rotate the CA: the next `pulumi up` runs begin a three-phase rotation.",
    )
    common_name: str = "kafka-tls CA"
    organization: str = ""
    key_algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA
    rsa_bits: int = 3072
    validity_days: int = 3650
    early_renewal_days: int = 90

    @field_validator("common_name", "organization")
    @classmethod
    def _subject(cls, v: str, info) -> str:
        if info.field_name == "common_name" and not v.strip():
            raise ValueError("is empty; give the CA a name, e.g. 'kafka-tls CA'")
        if _CONTROL.search(v):
            raise ValueError("contains a line break or control character; remove it")
        if len(v) > 64:
            raise ValueError(f"is {len(v)} characters long; shorten it to 64 (X.509's limit for a name)")
        return v

    @field_validator("rsa_bits")
    @classmethod
    def _rsa(cls, v: int) -> int:
        return _rsa_bits(v)


# Mozilla's "intermediate" TLS configuration (v5.7) in the names Java 17 uses (IANA's): AEAD ciphers
# with forward secrecy only. Java applies ssl.cipher.suites to TLS 1.3 as well, so the list must name
# TLS 1.3's suites too, or TLS 1.3 has none.
TLS13_CIPHER_SUITES = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
TLS12_CIPHER_SUITES = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
)
# Also in Mozilla's intermediate list, but not in the default: they only serve RSA keys (kafka-tls makes
# ECDSA ones by default), every Kafka client speaks ECDHE, and a DHE handshake costs more.
TLS12_DHE_CIPHER_SUITES = (
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
)
DEFAULT_CIPHER_SUITES = TLS13_CIPHER_SUITES + TLS12_CIPHER_SUITES
STRONG_CIPHER_SUITES = frozenset(DEFAULT_CIPHER_SUITES + TLS12_DHE_CIPHER_SUITES)
# OpenSSL's names of the same suites (Mozilla's page shows these): a hint when one is given.
_OPENSSL_SUITE_NAMES = {
    "ECDHE-ECDSA-AES128-GCM-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305": "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "ECDHE-RSA-CHACHA20-POLY1305": "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "DHE-RSA-AES128-GCM-SHA256": "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "DHE-RSA-AES256-GCM-SHA384": "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    "DHE-RSA-CHACHA20-POLY1305": "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}


def weak_cipher_suite_reason(name: str) -> Optional[str]:
    """Why ``name`` may not be in tls.cipherSuites; None for a suite of ``STRONG_CIPHER_SUITES``."""
    if name in STRONG_CIPHER_SUITES:
        return None
    upper = name.strip().upper()
    if upper in _OPENSSL_SUITE_NAMES:
        return f"an OpenSSL name: Java needs {_OPENSSL_SUITE_NAMES[upper]}"
    if upper in STRONG_CIPHER_SUITES:
        return f"write it as {upper} (Java's names are upper case, without spaces)"
    parts = set(upper.split("_"))
    reasons = []
    if "NULL" in parts:
        reasons.append("NULL, no encryption")
    if "ANON" in parts:
        reasons.append("anon, no authentication")
    if parts & {"EXPORT", "EXPORT1024"}:
        reasons.append("export-grade keys")
    if parts & {"RC2", "RC4", "DES", "DES40", "3DES", "IDEA"}:
        reasons.append("a broken cipher such as RC4 or 3DES")
    if "CBC" in parts:
        reasons.append("CBC mode, open to padding-oracle attacks such as Lucky13")
    if upper.endswith("_SHA"):
        reasons.append("a SHA-1 MAC")
    if upper.endswith("_MD5"):
        reasons.append("an MD5 MAC")
    if upper.startswith(("TLS_RSA_", "SSL_RSA_")):
        reasons.append("RSA key exchange, no forward secrecy")
    elif upper.startswith(("TLS_ECDH_", "TLS_DH_")) and "ANON" not in parts:
        reasons.append("static ECDH or DH key exchange, no forward secrecy")
    return ", ".join(reasons) or "not in Mozilla's intermediate list of suites Java 17 offers"


class Tls(_Model):
    listeners: ListenerMode = ListenerMode.PLAINTEXT_AND_SSL
    plaintext_port: int = Field(9092, ge=1, le=65535, description="The PLAINTEXT listener's port when the base has no listeners.")
    ssl_port: int = Field(9093, ge=1, le=65535, description="The port of the TLS listener when kafka-tls adds it.")
    listener_name: str = Field(
        "SSL", description="The listener that serves TLS: converted in place when the base has it, else added on sslPort."
    )
    controller_listener: str = Field("CONTROLLER", description="Used when the base has no controller.listener.names.")
    controller_port: int = Field(9094, ge=1, le=65535, description="Used when the base's listeners lack the controller.")
    controller_protocol: Protocol = Protocol.PLAINTEXT
    controller_ssl_listener: str = Field(
        "CONTROLLER_SSL",
        description="The TLS controller listener kafka-tls adds when controllerProtocol: SSL meets a plaintext one.",
    )
    controller_ssl_port: int = Field(9096, ge=1, le=65535, description="Its port (the old listener keeps its own until removed).")
    inter_broker_protocol: Protocol = Protocol.SSL
    client_auth: ClientAuth = ClientAuth.NONE
    enabled_protocols: list[str] = Field(default_factory=lambda: ["TLSv1.3", "TLSv1.2"])
    cipher_suites: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CIPHER_SUITES),
        description="ssl.cipher.suites in Java's (IANA) names, TLS 1.3's included; from STRONG_CIPHER_SUITES only.",
    )
    store_type: StoreType = StoreType.PKCS12
    key_custody: KeyCustody = KeyCustody.HOST
    key_algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA
    rsa_bits: int = 3072
    cert_validity_days: int = 365
    cert_early_renewal_days: int = 30

    @field_validator("rsa_bits")
    @classmethod
    def _rsa(cls, v: int) -> int:
        return _rsa_bits(v)

    @field_validator("enabled_protocols")
    @classmethod
    def _protocols(cls, v: list[str]) -> list[str]:
        bad = [p for p in v if p not in ("TLSv1.2", "TLSv1.3")]
        if bad or not v:
            raise ValueError(f"use TLSv1.3 and/or TLSv1.2 (got {v}); older versions are disabled in Java 17")
        if len(set(v)) < len(v):
            raise ValueError(f"lists a version twice (got {v}); give each once, e.g. [TLSv1.3, TLSv1.2]")
        return v

    @field_validator("cipher_suites")
    @classmethod
    def _cipher_suites(cls, v: list[str], info) -> list[str]:
        fix = "remove the key to get the default (Mozilla's intermediate suites), or list only these: " + ", ".join(
            DEFAULT_CIPHER_SUITES + TLS12_DHE_CIPHER_SUITES
        )
        if not v:
            raise ValueError(f"is empty: Java would offer no suite and refuse every handshake; {fix}")
        weak = [f"{_shown(s)}: {weak_cipher_suite_reason(s)}" for s in v if weak_cipher_suite_reason(s)]
        if weak:
            raise ValueError(f"{'; '.join(weak)}; {fix}")
        if twice := sorted({s for s in v if v.count(s) > 1}):
            raise ValueError(f"lists {', '.join(twice)} twice; give each suite once")
        protocols = info.data.get("enabled_protocols") or []  # absent when it failed: reported there
        if "TLSv1.3" in protocols and not set(v) & set(TLS13_CIPHER_SUITES):
            raise ValueError(
                "has no TLS 1.3 suite, and Java applies this list to TLS 1.3 too: TLS 1.3 (tls.enabledProtocols) "
                f"would have none; add {', '.join(TLS13_CIPHER_SUITES)}"
            )
        if "TLSv1.2" in protocols and not set(v) - set(TLS13_CIPHER_SUITES):
            raise ValueError(
                "has no TLS 1.2 suite, so clients limited to TLS 1.2 could not connect although tls.enabledProtocols "
                f"has TLSv1.2; add TLS 1.2 suites, e.g. {', '.join(TLS12_CIPHER_SUITES[:2])}, or set "
                "tls.enabledProtocols to [TLSv1.3]"
            )
        return v

    @field_validator("listener_name", "controller_listener", "controller_ssl_listener")
    @classmethod
    def _listener_name(cls, v: str, info) -> str:
        # Kafka upper-cases listener names; asking for that here keeps base and config comparable.
        if not re.fullmatch(r"[A-Z][A-Z0-9_-]*", v):
            example = "'SSL' or 'EXTERNAL'" if info.field_name == "listener_name" else "'CONTROLLER'"
            raise ValueError(f"'{_shown(v)}' is not a listener name: use upper-case letters, digits and '_', e.g. {example}")
        return v


def host_path_problem(v: str, example: str) -> Optional[str]:
    """Why ``v`` cannot be a path the host scripts use as is (None when it can)."""
    if not v.startswith("/"):
        return f"'{_shown(v)}' must be an absolute path on the host; give one such as {example}"
    parts = v.split("/")[1:]
    if v == "/" or v.endswith("/") or any(part in ("", ".", "..") for part in parts):
        return f"'{_shown(v)}' is not a plain path (no '//', '.', '..' or trailing '/'); give one such as {example}"
    if not all(_PATH_PART.fullmatch(part) for part in parts):
        return (
            f"'{_shown(v)}' has characters the host scripts do not take (spaces, quotes, shell characters); "
            f"use letters, digits and . _ + @ - only, e.g. {example}"
        )
    return None


class Paths(_Model):
    ssl_dir: str = "/etc/kafka/ssl"
    server_properties: str = "/etc/kafka/server.properties"
    connect_properties: str = "/etc/kafka/connect-avro-distributed.properties"
    owner: str = Field("kafka:kafka", description="user:group the service runs as; owns stores and files")

    @field_validator("ssl_dir", "server_properties", "connect_properties")
    @classmethod
    def _path(cls, v: str, info) -> str:
        example = "/etc/kafka/ssl" if info.field_name == "ssl_dir" else "/etc/kafka/server.properties"
        if problem := host_path_problem(v, example):
            raise ValueError(problem)
        if info.field_name != "ssl_dir" and not v.endswith(".properties"):
            raise ValueError(f"'{v}' does not name a .properties file; give the service's properties file, e.g. {example}")
        return v

    @field_validator("owner")
    @classmethod
    def _owner(cls, v: str) -> str:
        user, _, group = v.partition(":")
        if v and not (_ACCOUNT.fullmatch(user) and _ACCOUNT.fullmatch(group)):
            raise ValueError(
                f"'{v}' is not 'user:group'; give the account and group the service runs as, e.g. 'kafka:kafka' "
                "(or \"\" to leave files to root)"
            )
        return v


class Restart(_Model):
    # Host scripts already run as root (ssh.sudo), so no sudo here.
    kafka: str = "systemctl restart kafka"
    connect: str = "systemctl restart kafka-connect"
    gate_timeout_seconds: int = Field(180, ge=1, le=MAX_GATE_TIMEOUT_SECONDS)
    kafka_bin: str = Field(
        "/opt/kafka/bin", description="Where the broker hosts keep Kafka's CLI tools (the health gate runs them)."
    )
    reload_batch_size: int = Field(
        0, ge=0, description="Brokers that reload at once after the canary (0: all); restarts stay one at a time."
    )
    order: RollOrder = Field(
        RollOrder.CLUSTER,
        description="'cluster': brokers that are down or failing restart first, the quorum leader last, as read "
        "from the brokers over SSH at preview and up; 'config': as listed, nothing read at preview.",
    )

    @field_validator("kafka", "connect")
    @classmethod
    def _command(cls, v: str, info) -> str:
        example = f"e.g. 'systemctl restart {'kafka' if info.field_name == 'kafka' else 'kafka-connect'}'"
        if not v.strip():
            raise ValueError(f"is empty; give the command that restarts the service, {example}")
        if _CONTROL.search(v):
            raise ValueError(
                "has a line break or control character (a second line would run as a command of its own); "
                f"give one line, joining commands with '&&', {example}"
            )
        try:
            shlex.split(v)
        except ValueError:
            raise ValueError(
                "has an unclosed quote or ends with '\\' (the host would read the rest of the script into it); "
                f"fix the quoting, {example}"
            ) from None
        if re.search(r"(?<!&)&\s*$", v):
            raise ValueError(
                "ends with '&', so the restart runs in the background and the health gate checks the old process; remove the '&'"
            )
        return v

    @field_validator("kafka_bin")
    @classmethod
    def _kafka_bin(cls, v: str) -> str:
        if problem := host_path_problem(v, "/opt/kafka/bin"):
            raise ValueError(problem)
        return v


class ImportedCa(_Model):
    cert_pem: str
    key_pem: SecretStr


# A client's name is its certificate's CN (at most 64 characters), its Kafka principal and part of
# resource names: nothing RFC 2253 escapes, ssl.principal.mapping.rules splits on (',') or
# super.users separates (';'); lower case only, since Kafka principals are case sensitive.
_CLIENT_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")


class Client(_Model):
    """An application that authenticates with its own certificate (mutual TLS)."""

    name: str = Field(description="The certificate's CN and the Kafka principal User:<name>.")
    validity_days: Optional[int] = Field(None, description="Certificate validity; default tls.certValidityDays.")
    early_renewal_days: Optional[int] = Field(None, description="Re-issue this early; default tls.certEarlyRenewalDays.")
    key_algorithm: Optional[KeyAlgorithm] = Field(None, description="Default tls.keyAlgorithm (RSA: tls.rsaBits).")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _CLIENT_NAME.fullmatch(v):
            raise ValueError(
                f"'{v}' is not a client name: use 1 to 64 lower-case letters, digits, '.', '_' and '-', starting and "
                "ending with a letter or digit (it becomes the certificate's CN and the principal User:<name>), "
                "e.g. 'orders-service'"
            )
        return v


class ClusterConfig(_Model):
    """Every ``kafka-tls:*`` config key, validated."""

    brokers: list[Host] = Field(min_length=1)
    connect_workers: list[Host] = Field(default_factory=list)
    ssh: Ssh = Field(default_factory=Ssh)
    ssh_private_key: SecretStr
    keystore_password: SecretStr
    truststore_password: SecretStr
    ca: CertificateAuthorityConfig = Field(default_factory=CertificateAuthorityConfig)
    ca_import: Optional[ImportedCa] = None
    tls: Tls = Field(default_factory=Tls)
    paths: Paths = Field(default_factory=Paths)
    restart: Restart = Field(default_factory=Restart)
    server_base_file: Optional[str] = None
    server_properties: dict[str, str] = Field(default_factory=dict)
    connect_base_file: Optional[str] = None
    connect_properties: dict[str, str] = Field(default_factory=dict)
    schema_registry_url: Optional[str] = None
    clients: list[Client] = Field(default_factory=list, description="Client identities (mTLS), one certificate each.")
    repair: dict[str, str] = Field(
        default_factory=dict,
        description="Host name -> what drifted (doctor --repair writes it): the next up rewrites and restarts those hosts once.",
    )

    @field_validator("keystore_password", "truststore_password")
    @classmethod
    def _password(cls, v: SecretStr) -> SecretStr:
        # Never shows the value: it is a secret.
        password = v.get_secret_value()
        if len(password) < MIN_STORE_PASSWORD_LENGTH:
            raise ValueError(
                f"must be at least {MIN_STORE_PASSWORD_LENGTH} characters (keytool refuses shorter); "
                "set it with 'pulumi config set --secret'"
            )
        if _CONTROL.search(password):
            raise ValueError(
                "contains a line break or control character (the host scripts read the password as one line of "
                "stdin); set one without, with 'pulumi config set --secret'"
            )
        if not password.isascii():
            raise ValueError(
                "contains non-ASCII characters (keytool reads the password from the environment in the host's "
                "locale, Kafka from a properties file: they can disagree); set an ASCII one with 'pulumi config set --secret'"
            )
        return v

    @field_validator("ssh_private_key")
    @classmethod
    def _ssh_private_key(cls, v: SecretStr) -> SecretStr:
        if problem := ssh_private_key_problem(v.get_secret_value()):
            raise ValueError(problem)
        return v

    @field_validator("schema_registry_url")
    @classmethod
    def _registry(cls, v: Optional[str]) -> Optional[str]:
        if v is None:
            return v
        example = "give a URL such as https://schema-registry.example.com:8081 (several: comma-separated)"
        for url in v.split(","):
            try:
                parts = urlsplit(url.strip())
                _ = parts.port  # raises ValueError for a port that is not a number in range
            except ValueError:
                raise ValueError(f"not a URL; {example}") from None
            if parts.username is not None or parts.password is not None:
                raise ValueError(
                    "has a user or password in it, which every preview would show; remove it from the URL "
                    "(give the registry's credentials through connectProperties)"
                )
            host = parts.hostname or ""
            if (
                parts.scheme not in ("http", "https")
                or _CONTROL.search(url)
                or " " in url.strip()
                or not (is_ip_address(host) or dns_name_problem(host) is None)
            ):
                raise ValueError(f"'{_shown(url.strip())}' is not an http(s) URL of a host; {example}")
        return v

    @property
    def hosts(self) -> list[Host]:
        return [*self.brokers, *self.connect_workers]


# The armour of the private key forms SSH takes (PEM: PKCS#8, RSA, EC, DSA; OpenSSH's own).
_PRIVATE_KEY = re.compile(r"-----BEGIN ((?:RSA |EC |DSA |OPENSSH )?)PRIVATE KEY-----\r?\n.+\n-----END \1PRIVATE KEY-----", re.S)


def ssh_private_key_problem(text: str) -> Optional[str]:
    """Why ``text`` is not an SSH private key pulumi-command can log in with; None if it looks like one.

    The message never shows the value (it is a secret). A key that parses is checked for a
    passphrase; a key that does not is judged by its PEM/OpenSSH armour only.
    """
    run = "run 'pulumi config set --secret kafka-tls:sshPrivateKey < KEYFILE'"
    stripped = text.strip()
    if stripped.startswith((*SSH_HOST_KEY_TYPES, "sk-", "ecdsa-")) or "PUBLIC KEY-----" in stripped:
        return f"is a public key; give the private key (the file without .pub): {run}"
    if stripped.startswith("PuTTY-User-Key-File"):
        return f"is a PuTTY key; convert it with 'puttygen KEY.ppk -O private-openssh -o KEYFILE', then {run}"
    if "\n" not in stripped and ("/" in stripped or stripped.startswith(("~", "."))):
        return f"looks like a file path, not the key itself; {run} (the '<' reads the file)"
    if "ENCRYPTED PRIVATE KEY-----" in stripped or "Proc-Type: 4,ENCRYPTED" in stripped:
        encrypted = True
    else:
        try:
            loader = serialization.load_ssh_private_key if "OPENSSH" in stripped else serialization.load_pem_private_key
            loader(stripped.encode(), password=None)
            encrypted = False
        except TypeError:  # cryptography's way to say: a passphrase is needed
            encrypted = True
        except (ValueError, UnsupportedAlgorithm):
            encrypted = False  # judged by its armour below
    if encrypted:
        return (
            "is protected by a passphrase, which kafka-tls cannot pass to SSH; give an unencrypted copy "
            "('cp KEYFILE COPY && ssh-keygen -p -N \"\" -f COPY'), then " + run.replace("KEYFILE", "COPY")
        )
    if not _PRIVATE_KEY.fullmatch(stripped):
        return f"is not a private key in PEM or OpenSSH form (-----BEGIN ... PRIVATE KEY-----); {run}"
    return None


def _validity_problems(where: str, validity_key: str, validity: int, renewal_key: str, renewal: int) -> list[str]:
    if validity <= 0:
        return [f"{where}.{validity_key}: must be a positive number of days (got {validity}); set it, e.g. 365"]
    if validity > MAX_VALIDITY_DAYS:
        return [f"{where}.{validity_key}: {validity} days is more than {MAX_VALIDITY_DAYS} (100 years); set fewer days"]
    if not 0 <= renewal < validity:
        return [
            f"{where}.{renewal_key}: must be at least 0 and less than {validity_key} ({validity} days); got {renewal}; "
            f"set it from 0 to {validity - 1}, e.g. {validity // 10}"
        ]
    return []


def _tls_problems(t: Tls) -> list[str]:
    where = f"{NAMESPACE}:tls"
    problems = []
    ports = {"plaintextPort": t.plaintext_port, "sslPort": t.ssl_port, "controllerPort": t.controller_port}
    if t.controller_protocol is Protocol.SSL:
        ports["controllerSslPort"] = t.controller_ssl_port
    if t.listeners is ListenerMode.SSL_ONLY:
        ports.pop("plaintextPort")
        if t.inter_broker_protocol is Protocol.PLAINTEXT:
            problems.append(
                f"{where}.interBrokerProtocol: PLAINTEXT while listeners is 'SSL': brokers could not reach each "
                "other; set interBrokerProtocol: SSL or keep listeners: PLAINTEXT+SSL"
            )
    seen: dict[int, str] = {}
    for key, port in ports.items():
        if port in seen:
            problems.append(f"{where}.{key}: {port} is also {seen[port]}; give each listener its own port")
        else:
            seen[port] = key
    problems += _validity_problems(
        where, "certValidityDays", t.cert_validity_days, "certEarlyRenewalDays", t.cert_early_renewal_days
    )
    problems += _unused_rsa_bits(where, t)
    return problems


def _unused_rsa_bits(where: str, section: Tls | CertificateAuthorityConfig) -> list[str]:
    if section.key_algorithm is KeyAlgorithm.ECDSA and "rsa_bits" in section.model_fields_set:
        return [f"{where}.rsaBits: set while keyAlgorithm is ECDSA, which ignores it; remove rsaBits or set keyAlgorithm: RSA"]
    return []


def _ca_problems(c: CertificateAuthorityConfig) -> list[str]:
    where = f"{NAMESPACE}:ca"
    return _validity_problems(where, "validityDays", c.validity_days, "earlyRenewalDays", c.early_renewal_days) + (
        _unused_rsa_bits(where, c)
    )


def _paths_problems(p: Paths) -> list[str]:
    if p.ssl_dir in _SHARED_DIRS or p.ssl_dir.startswith(_VOLATILE_DIRS):
        return [
            f"{NAMESPACE}:paths.sslDir: '{p.ssl_dir}' is a shared or temporary directory, and kafka-tls makes its SSL "
            "directory 0750 to the service's group (as root); give a directory of its own, e.g. /etc/kafka/ssl"
        ]
    return [
        f"{NAMESPACE}:paths.{to_camel(k)}: '{getattr(p, k)}' is inside paths.sslDir ('{p.ssl_dir}'), which holds "
        "kafka-tls's stores and secrets; give a path outside it, e.g. /etc/kafka/server.properties"
        for k in ("server_properties", "connect_properties")
        if getattr(p, k) == p.ssl_dir or getattr(p, k).startswith(p.ssl_dir + "/")
    ]


def _section_problems(raw: dict[str, Any]) -> list[str]:
    """Rules that relate fields of one section; each message names the field to change."""
    problems: list[str] = []
    checks = (
        ("tls", Tls, _tls_problems),
        ("ca", CertificateAuthorityConfig, _ca_problems),
        ("paths", Paths, _paths_problems),
    )
    for key, model, rules in checks:
        section = _section(raw, key, model)
        if section is not None:  # else its field errors are reported already
            problems += rules(section)
    return problems


def _section(raw: dict[str, Any], key: str, model: type[_Model]) -> Optional[Any]:
    """One section of the raw config as its model; None when its field errors are reported instead."""
    try:
        return model.model_validate(raw.get(key) or {})
    except ValidationError:
        return None


def _across_sections_problems(raw: dict[str, Any]) -> list[str]:
    """Rules that relate sections: the generated or the imported CA against the host certificates."""
    problems: list[str] = []
    tls, ca = _section(raw, "tls", Tls), _section(raw, "ca", CertificateAuthorityConfig)
    cert_days = tls.cert_validity_days if tls is not None and 0 < tls.cert_validity_days <= MAX_VALIDITY_DAYS else None
    imported = raw.get("caImport")
    if imported and raw.get("ca"):
        problems.append(
            f"{NAMESPACE}:ca: set beside caImport, which replaces the generated CA, so these settings would do nothing; "
            "remove kafka-tls:ca (or caImport)"
        )
    elif not imported and ca is not None and cert_days and 0 < ca.validity_days < cert_days:
        problems.append(
            f"{NAMESPACE}:tls.certValidityDays: {cert_days} days is longer than the CA lives (ca.validityDays: "
            f"{ca.validity_days}); set it to at most {ca.validity_days}, or raise ca.validityDays"
        )
    if isinstance(imported, dict) and isinstance(imported.get("certPem"), str) and isinstance(imported.get("keyPem"), str):
        problems += _imported_ca_problems(imported["certPem"], imported["keyPem"], cert_days)
    return problems


def key_path(loc: tuple[Any, ...]) -> str:
    """('brokers', 2, 'host') -> 'kafka-tls:brokers[2].host'."""
    text = NAMESPACE + ":"
    for i, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if i else "") + str(part)
    return text


def _cross_host_problems(raw: dict[str, Any]) -> list[str]:
    """Rules that look across hosts and keys, read from the raw values so that they are
    reported together with the per-field problems."""
    problems: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    for group in ("brokers", "connectWorkers"):
        hosts = raw.get(group) or []
        for i, h in enumerate(hosts if isinstance(hosts, list) else []):
            if not isinstance(h, dict):
                continue
            here = f"{NAMESPACE}:{group}[{i}]"
            if group != "brokers" and h.get("nodeId") is not None:
                problems.append(
                    f"{here}.nodeId: Connect workers have no KRaft node.id; remove it (or list the host under brokers)"
                )
            for field in ("name", "host", "address", "nodeId"):
                value = h.get(field)
                if value is None or (field == "nodeId" and group != "brokers"):
                    continue
                norm = _normalized(field, value)
                if (field, norm) in seen:
                    problems.append(f"{here}.{field}: '{value}' is also {seen[(field, norm)]}; give each host its own")
                else:
                    seen[(field, norm)] = f"{here}.{field}"
            if group == "brokers" and h.get("nodeId") is None:
                problems.append(f"{here}.nodeId: missing; give each broker its KRaft node.id (the one in its meta.properties)")
    for base, inline in (("serverBaseFile", "serverProperties"), ("connectBaseFile", "connectProperties")):
        if raw.get(base) and raw.get(inline):
            problems.append(f"{NAMESPACE}:{inline}: give either {base} or {inline}, not both")
        if isinstance(raw.get(base), str) and not Path(raw[base]).is_file():
            problems.append(f"{NAMESPACE}:{base}: no file '{raw[base]}'; give a path relative to the Pulumi project folder")
    return problems


def _normalized(field: str, value: Any) -> str:
    """Compare names case-insensitively and addresses in canonical form ('0:0::1' is '::1')."""
    text = str(value)
    if field == "address" and is_ip_address(text):
        return str(ipaddress.ip_address(text))
    return text.lower().rstrip(".") if field == "host" else text


def _imported_ca_problems(
    cert_pem: str, key_pem: str, cert_validity_days: Optional[int] = None, now: Optional[datetime] = None
) -> list[str]:
    """Whether pulumi-tls can sign with this CA and Java will trust what it signs, for as long as
    a host certificate issued now lives (``cert_validity_days``, when known)."""
    where = f"{NAMESPACE}:caImport"
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        public_key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return [
            f"{where}.certPem: not a PEM certificate with a key kafka-tls knows; give the CA's certificate "
            "(-----BEGIN CERTIFICATE-----)"
        ]
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return [f"{where}.keyPem: not an unencrypted PEM private key (decrypt it with 'openssl pkey' first)"]
    problems = []
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.PEM, fmt) != public_key.public_bytes(serialization.Encoding.PEM, fmt):
        problems.append(f"{where}.keyPem: does not match the certificate in caImport.certPem; give the CA's own key")
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        problems.append(f"{where}.certPem: not a CA certificate (no basicConstraints CA:TRUE); give the issuing CA")
        return problems  # the rest is about a CA
    usable = "give a CA whose key is ECDSA (P-256, P-384, P-521) or RSA of 2048 bits or more"
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < 2048:
            problems.append(f"{where}.certPem: the CA's key is RSA {public_key.key_size}, which Java refuses; {usable}")
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in CA_CURVES:
            problems.append(
                f"{where}.certPem: the CA's key is on curve {public_key.curve.name}, which Java's TLS does not take; {usable}"
            )
    else:
        problems.append(f"{where}.certPem: the CA's key is {type(public_key).__name__.removesuffix('PublicKey')}; {usable}")
    try:
        if not cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign:
            problems.append(
                f"{where}.certPem: its keyUsage lacks keyCertSign, so what it signs is not trusted; give a CA "
                "allowed to sign certificates"
            )
    except x509.ExtensionNotFound:
        pass  # no keyUsage: any use
    now = now or datetime.now(UTC)
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    if now < not_before:
        problems.append(
            f"{where}.certPem: not valid until {not_before:%Y-%m-%d %H:%M} UTC; check the clock, or give a CA that is valid now"
        )
    elif not_after <= now:
        problems.append(f"{where}.certPem: expired on {not_after:%Y-%m-%d}; give a CA that is valid now")
    elif cert_validity_days and not_after < now + timedelta(days=cert_validity_days):
        left = (not_after - now).days
        problems.append(
            f"{where}.certPem: expires on {not_after:%Y-%m-%d}, before a host certificate issued now would "
            f"(tls.certValidityDays: {cert_validity_days}); give a CA valid for longer"
            + (f", or set tls.certValidityDays to at most {left}" if left >= 1 else "")
        )
    return problems


def _repair_problems(raw: dict[str, Any]) -> list[str]:
    """Each host to repair is one the config lists, and says what drifted (the reason the plan shows)."""
    repair = raw.get("repair")
    if not isinstance(repair, dict):
        return []
    listed = [raw.get("brokers"), raw.get("connectWorkers")]
    names = {str(h.get("name")) for group in listed if isinstance(group, list) for h in group if isinstance(h, dict)}
    problems = []
    for name, why in repair.items():
        here = f"{NAMESPACE}:repair.{name}"
        if name not in names:
            problems.append(f"{here}: no broker or Connect worker is named '{_shown(name)}'; use one of their names")
        elif not isinstance(why, str) or not why.strip() or "\n" in why:
            problems.append(f"{here}: write in one line what drifted, e.g. 'properties edited on the host (doctor, 2026-12-03)'")
    return problems


def _client_problems(raw: dict[str, Any]) -> list[str]:
    """Clients: each name once, none a host's principal, the renewal window inside the validity."""
    clients = raw.get("clients")
    if not isinstance(clients, list):
        return []
    try:
        tls = Tls.model_validate(raw.get("tls") or {})
    except ValidationError:
        tls = None  # reported already
    hosts: dict[str, str] = {}
    for group in ("brokers", "connectWorkers"):
        listed = raw.get(group)
        for h in listed if isinstance(listed, list) else []:
            if isinstance(h, dict) and isinstance(h.get("host"), str):
                hosts.setdefault(h["host"].lower().rstrip("."), str(h.get("name", h["host"])))
    problems: list[str] = []
    seen: dict[str, str] = {}
    for i, c in enumerate(clients):
        here = f"{NAMESPACE}:clients[{i}]"
        name = c.get("name") if isinstance(c, dict) else None
        if isinstance(name, str) and name in seen:
            problems.append(f"{here}.name: '{name}' is also {seen[name]}; each client needs its own name")
        elif isinstance(name, str):
            seen[name] = f"{here}.name"
        if isinstance(name, str) and name in hosts:
            problems.append(
                f"{here}.name: '{name}' is the DNS name of host {hosts[name]}: the client would have that host's "
                f"principal User:{name}, a super user; choose another name"
            )
        try:
            client = Client.model_validate(c)
        except ValidationError:
            continue  # its field errors are reported already
        if tls is None or (client.validity_days is None and client.early_renewal_days is None):
            continue  # tls.certValidityDays and certEarlyRenewalDays are checked with tls
        validity = tls.cert_validity_days if client.validity_days is None else client.validity_days
        renewal = tls.cert_early_renewal_days if client.early_renewal_days is None else client.early_renewal_days
        if not 0 < validity <= MAX_VALIDITY_DAYS:
            problems.append(f"{here}.validityDays: must be 1 to {MAX_VALIDITY_DAYS} days (got {validity}); set it, e.g. 30")
        elif not 0 <= renewal < validity:
            source = "" if client.early_renewal_days is not None else " (tls.certEarlyRenewalDays, the default)"
            problems.append(
                f"{here}.earlyRenewalDays: must be at least 0 and less than the validity ({validity} days); got "
                f"{renewal}{source}; set clients[{i}].earlyRenewalDays, e.g. {validity // 3}"
            )
    return problems


# --- Property overrides -----------------------------------------------------------------------------
# The keys kafka-tls writes into every TLS section -> the setting that decides each (a config key), or
# why kafka-tls alone does (a phrase). In a base they would be replaced; as a host override they would
# win and undo it.
_SSL_KEYS: dict[str, str] = {
    "ssl.client.auth": "tls.clientAuth",
    "ssl.cipher.suites": "tls.cipherSuites",
    "ssl.enabled.protocols": "tls.enabledProtocols",
    "ssl.protocol": "tls.enabledProtocols",
    "ssl.endpoint.identification.algorithm": "kafka-tls always turns host name verification on (https)",
    "ssl.keystore.type": "tls.storeType",
    "ssl.truststore.type": "tls.storeType",
    "ssl.keystore.location": "paths.sslDir",
    "ssl.truststore.location": "paths.sslDir",
    "ssl.keystore.password": "keystorePassword",
    "ssl.key.password": "keystorePassword",
    "ssl.truststore.password": "truststorePassword",
    "ssl.keystore.key": "tls.storeType",  # inline PEM stores would replace the managed ones
    "ssl.keystore.certificate.chain": "tls.storeType",
    "ssl.truststore.certificates": "tls.storeType",
    "ssl.engine.factory.class": "it would replace the stores kafka-tls manages",
}
# Connect workers: the worker and the clients it runs; each gets its own TLS section.
_CONNECT_PREFIXES = ("", "producer.", "consumer.", "admin.")
_CONNECT_KEYS: dict[str, str] = {
    "bootstrap.servers": "kafka-tls points the worker at the brokers' TLS listeners",
    "security.protocol": "kafka-tls makes the worker and its clients use SSL",
    # Not ssl.client.auth: a worker's own applies to its REST listener, which kafka-tls leaves alone.
    **{k: v for k, v in _SSL_KEYS.items() if k != "ssl.client.auth"},
}
_LISTENER_PREFIX = re.compile(r"listener\.name\.[^.]+\.")
# Cipher suite name parts that mean no encryption, no authentication or a broken algorithm.
_EACH_NODE_ID = f"{NAMESPACE}:brokers[i].nodeId (each broker's)"
_WEAK_SUITE_PARTS = frozenset({"NULL", "ANON", "EXPORT", "EXPORT1024", "RC2", "RC4", "DES", "DES40", "3DES", "MD5", "IDEA"})


def _owner_of(key: str, role: str, registry_https: bool) -> Optional[tuple[str, str]]:
    """(the key kafka-tls writes, the setting or reason that decides it) when ``key`` is one of
    them, under any prefix; else None."""
    if key.startswith("config.providers.kafkatls."):
        return key, "kafkatls is kafka-tls's own config provider; give yours another name"
    if role == "server":
        plain = _LISTENER_PREFIX.sub("", key, count=1) if _LISTENER_PREFIX.match(key) else key
        if plain in _SSL_KEYS:
            return plain, _SSL_KEYS[plain]
        # broker.id is node.id's old name: Kafka refuses the two when they differ.
        return ("node.id", "nodeId") if key in ("node.id", "broker.id") else None
    for prefix in _CONNECT_PREFIXES:
        if key.startswith(prefix) and key[len(prefix) :] in _CONNECT_KEYS:
            return key[len(prefix) :], _CONNECT_KEYS[key[len(prefix) :]]
    for converter in ("key.converter.schema.registry.", "value.converter.schema.registry.") if registry_https else ():
        if key == converter + "url":
            return key, "schemaRegistryUrl"
        if key.startswith(converter) and key[len(converter) :] in _SSL_KEYS:
            return key[len(converter) :], _SSL_KEYS[key[len(converter) :]]
    return None


def _overrides_problems(
    where: str, props: Mapping[str, Any], role: str, registry_https: bool, node_id: str, remove_from: str = "here"
) -> list[str]:
    """What in one mapping of properties would undo or break kafka-tls's TLS settings.

    Args:
        where: its key path, e.g. 'kafka-tls:brokers[1].properties' or 'kafka-tls:serverBaseFile'.
        role: 'server' or 'connect'.
        node_id: the key path of the node id that applies ('kafka-tls:brokers[1].nodeId').
        remove_from: where the fix is made ('here', or 'from <the base file>').
    """
    problems = []
    for key, value in props.items():
        if not isinstance(key, str) or not isinstance(value, str):
            continue  # a type error, reported by the model
        here = f"{where}.{_shown(key)}"
        if not key.strip() or _CONTROL.search(key) or re.search(r"[\s=:]", key):
            problems.append(f"{here}: not a property name (it has a space, '=', ':' or a control character); fix the key")
            continue
        if _CONTROL.search(value):
            problems.append(
                f"{here}: the value has a line break or control character (a YAML '|' block ends with one); remove it"
            )
        owned = _owner_of(key, role, registry_https)
        if owned is not None:
            plain, setting = owned
            if setting == "nodeId":
                instead = f"set {node_id} instead"
            elif " " not in setting:
                instead = f"set {NAMESPACE}:{setting} instead"
            else:
                instead = setting
            problems.append(f"{here}: kafka-tls writes {plain}; remove it {remove_from} ({instead})")
        elif key == "ssl.cipher.suites" or key.endswith(".ssl.cipher.suites"):
            weak = [s.strip() for s in value.split(",") if _WEAK_SUITE_PARTS & set(s.strip().upper().split("_"))]
            if weak:
                problems.append(
                    f"{here}: {', '.join(weak)} offer no or broken encryption or authentication; remove them "
                    "(or the key: Java's defaults are strong)"
                )
    return problems


def property_problems(config: ClusterConfig, server_base: Mapping[str, str], connect_base: Mapping[str, str]) -> list[str]:
    """Property keys and values, in the bases and every host's overrides, that would undo or break
    the TLS settings kafka-tls writes: one message per problem, naming the key path and the
    setting to use instead. Pure; the bases as ``read_base_properties`` returns them.
    (``validate_config`` already checks the inline mappings; this adds the base files' content.)
    """
    https = bool(config.schema_registry_url and config.schema_registry_url.startswith("https://"))
    problems: list[str] = []
    for base, file, inline, role in (
        (server_base, config.server_base_file, "serverProperties", "server"),
        (connect_base, config.connect_base_file, "connectProperties", "connect"),
    ):
        where = f"{NAMESPACE}:{'serverBaseFile' if role == 'server' else 'connectBaseFile'}" if file else f"{NAMESPACE}:{inline}"
        problems += _overrides_problems(where, base, role, https, _EACH_NODE_ID, remove_from=f"from {file}" if file else "here")
    for group, role, hosts in (("brokers", "server", config.brokers), ("connectWorkers", "connect", config.connect_workers)):
        for i, host in enumerate(hosts):
            here = f"{NAMESPACE}:{group}[{i}]"
            problems += _overrides_problems(f"{here}.properties", host.properties, role, https, f"{here}.nodeId")
    return problems


def _raw_property_problems(raw: dict[str, Any]) -> list[str]:
    """``property_problems`` for the inline mappings, read from the raw values so that they are
    reported together with the rest."""
    url = raw.get("schemaRegistryUrl")
    https = isinstance(url, str) and url.startswith("https://")
    problems: list[str] = []
    for key, role in (("serverProperties", "server"), ("connectProperties", "connect")):
        if isinstance(raw.get(key), dict):
            problems += _overrides_problems(f"{NAMESPACE}:{key}", raw[key], role, https, _EACH_NODE_ID)
    for group, role in (("brokers", "server"), ("connectWorkers", "connect")):
        hosts = raw.get(group)
        for i, h in enumerate(hosts if isinstance(hosts, list) else []):
            if isinstance(h, dict) and isinstance(h.get("properties"), dict):
                here = f"{NAMESPACE}:{group}[{i}]"
                problems += _overrides_problems(f"{here}.properties", h["properties"], role, https, f"{here}.nodeId")
    return problems


def config_keys() -> dict[str, bool]:
    """Every top-level config key (camelCase) -> whether its value is structured (a list or map)."""
    scalar = (str, SecretStr, Optional[str])
    return {to_camel(name): field.annotation not in scalar for name, field in ClusterConfig.model_fields.items()}


def validate_config(raw: dict[str, Any]) -> ClusterConfig:
    """Validate the ``kafka-tls:*`` config values (keys without the namespace).

    Raises:
        ConfigError: with one message per problem, all at once.
    """
    problems: list[str] = []
    config = None
    try:
        config = ClusterConfig.model_validate(raw)
    except ValidationError as err:
        problems += [f"{key_path(e['loc'])}: {_message(e)}" for e in err.errors()]
    problems += _section_problems(raw)
    problems += [p for p in _cross_host_problems(raw) if p not in problems]
    problems += _across_sections_problems(raw)
    problems += _raw_property_problems(raw)
    problems += _client_problems(raw)
    problems += _repair_problems(raw)
    if problems or config is None:
        raise ConfigError(problems)
    return config


def _message(error: Any) -> str:
    """A pydantic error as a message that says what to do. Never shows the input (it may be a secret)."""
    kind, msg, ctx = error["type"], error["msg"].removeprefix("Value error, "), error.get("ctx") or {}
    if kind == "value_error":
        return msg  # ours, with its own fix
    if kind == "extra_forbidden":
        return "unknown key (a typo?); see the README's config reference"  # as stack_config says it
    if kind == "missing":
        return "missing; " + _MISSING_HINTS.get(str(error["loc"][-1]), "give it (see the README's config reference)")
    if kind.startswith("int_"):
        return f"{msg}; give a whole number"
    if kind.startswith("bool_"):
        return f"{msg}; use true or false"
    if kind == "string_type":
        return f"{msg}; give it as text (in YAML, quote a number: '3')"
    if kind == "enum":
        return f"use one of {ctx.get('expected', 'the values in the README')}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}; set a value of {ctx.get('ge')} or more"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}; set a value of {ctx.get('le')} or less"
    if kind == "too_short":
        return f"{msg}; " + _MISSING_HINTS.get(str(error["loc"][-1]), "add at least one")
    if kind == "list_type":
        return f"{msg}; give a list (a YAML sequence)"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"{msg}; give a map of keys to values"
    return f"{msg}; fix it as the README's config reference shows"


_MISSING_HINTS = {
    "name": "give the host a short unique name, e.g. 'broker-1'",
    "host": "give the DNS name clients dial, e.g. 'kafka-1.example.com'",
    "address": "give the IP address the host is dialled by",
    "certPem": "give the CA's certificate: pulumi config set --path 'kafka-tls:caImport.certPem' < ca.pem",
    "keyPem": "give the CA's key: pulumi config set --secret --path 'kafka-tls:caImport.keyPem' < ca.key",
    "sshPrivateKey": "run 'pulumi config set --secret kafka-tls:sshPrivateKey < KEYFILE'",
    "keystorePassword": "run 'pulumi config set --secret kafka-tls:keystorePassword'",
    "truststorePassword": "run 'pulumi config set --secret kafka-tls:truststorePassword'",
    "brokers": "list the brokers under kafka-tls:brokers",
    "hostKey": "pin the host's SSH key: 'ssh-keyscan -t ed25519 ADDRESS'",
}
