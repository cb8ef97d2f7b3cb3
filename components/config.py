"""The stack config: typed models and validation.

Pure: no Pulumi here. ``validate_config`` takes the raw values of every ``kafka-tls:*`` config
key and returns a ``ClusterConfig``, or raises ``ConfigError`` carrying one message per problem,
each naming its key path (``kafka-tls:brokers[2].host``) and what to do.
"""

from __future__ import annotations

import ipaddress
import re
from enum import Enum
from pathlib import Path
from typing import Any, Optional

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.alias_generators import to_camel

NAMESPACE = "kafka-tls"
# keytool refuses store passwords shorter than this.
MIN_STORE_PASSWORD_LENGTH = 6
_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
# A POSIX account or group name as useradd takes it (no spaces, ':' or shell characters).
_ACCOUNT = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


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
    if not name or len(name) > 253 or is_ip_address(name):
        return False
    return all(_HOSTNAME_LABEL.match(label) for label in name.rstrip(".").split("."))


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
    node_id: Optional[int] = Field(None, description="KRaft node.id (brokers only).")
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
        if not is_valid_hostname(v):
            raise ValueError(f"'{v}' is not a valid DNS name; give the name clients dial, e.g. 'kafka-1.example.com'")
        return v

    @field_validator("address")
    @classmethod
    def _address(cls, v: str) -> str:
        if not is_ip_address(v):
            raise ValueError(f"'{v}' is not an IP address; give the address the host is dialled by")
        return v

    @field_validator("extra_dns_names", "extra_ip_addresses")
    @classmethod
    def _extra_sans(cls, v: list[str], info) -> list[str]:
        valid, what = (is_valid_hostname, "valid DNS names") if info.field_name == "extra_dns_names" else (is_ip_address, "IP addresses")
        bad = [item for item in v if not valid(item)]
        if bad:
            raise ValueError(f"not {what}: {', '.join(bad)}")
        return v

    @field_validator("bind_address")
    @classmethod
    def _bind(cls, v: str) -> str:
        if v and not is_ip_address(v) and not is_valid_hostname(v):
            raise ValueError(f"'{v}' is neither an IP address nor a DNS name; leave it empty to bind all interfaces")
        return v

    @field_validator("host_key")
    @classmethod
    def _host_key(cls, v: str) -> str:
        parts = v.split()
        if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-")):
            raise ValueError("give the host's public key line, e.g. the output of 'ssh-keyscan -t ed25519 HOST' without the host name")
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
            raise ValueError(f"'{v}' is not a login name (lower-case letters, digits, '_', '-', starting with a letter or '_')")
        return v


class CertificateAuthorityConfig(_Model):
    common_name: str = "kafka-tls CA"
    organization: str = ""
    key_algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA
    rsa_bits: int = Field(3072, ge=2048)
    validity_days: int = 3650
    early_renewal_days: int = 90


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
    inter_broker_protocol: Protocol = Protocol.SSL
    client_auth: ClientAuth = ClientAuth.NONE
    enabled_protocols: list[str] = Field(default_factory=lambda: ["TLSv1.3", "TLSv1.2"])
    store_type: StoreType = StoreType.PKCS12
    key_custody: KeyCustody = KeyCustody.HOST
    key_algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA
    rsa_bits: int = Field(3072, ge=2048)
    cert_validity_days: int = 365
    cert_early_renewal_days: int = 30

    @field_validator("enabled_protocols")
    @classmethod
    def _protocols(cls, v: list[str]) -> list[str]:
        bad = [p for p in v if p not in ("TLSv1.2", "TLSv1.3")]
        if bad or not v:
            raise ValueError(f"use TLSv1.3 and/or TLSv1.2 (got {v}); older versions are disabled in Java 17")
        return v

    @field_validator("listener_name")
    @classmethod
    def _listener_name(cls, v: str) -> str:
        # Kafka upper-cases listener names; asking for that here keeps base and config comparable.
        if not re.fullmatch(r"[A-Z][A-Z0-9_-]*", v):
            raise ValueError(f"'{v}' is not a listener name: use upper-case letters, digits and '_', e.g. 'SSL' or 'EXTERNAL'")
        return v


class Paths(_Model):
    ssl_dir: str = "/etc/kafka/ssl"
    server_properties: str = "/etc/kafka/server.properties"
    connect_properties: str = "/etc/kafka/connect-avro-distributed.properties"
    owner: str = Field("kafka:kafka", description="user:group the service runs as; owns stores and files")

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
    gate_timeout_seconds: int = Field(180, ge=1)
    kafka_bin: str = Field("/opt/kafka/bin", description="Where the broker hosts keep Kafka's CLI tools (the health gate runs them).")


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

    @field_validator("keystore_password", "truststore_password")
    @classmethod
    def _password(cls, v: SecretStr) -> SecretStr:
        if len(v.get_secret_value()) < MIN_STORE_PASSWORD_LENGTH:
            raise ValueError(
                f"must be at least {MIN_STORE_PASSWORD_LENGTH} characters (keytool refuses shorter); "
                "set it with 'pulumi config set --secret'"
            )
        return v

    @field_validator("schema_registry_url")
    @classmethod
    def _registry(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("give a URL such as https://schema-registry.example.com:8081")
        return v

    @property
    def hosts(self) -> list[Host]:
        return [*self.brokers, *self.connect_workers]


def _validity_problems(where: str, validity_key: str, validity: int, renewal_key: str, renewal: int) -> list[str]:
    if validity <= 0:
        return [f"{where}.{validity_key}: must be a positive number of days (got {validity})"]
    if not 0 <= renewal < validity:
        return [f"{where}.{renewal_key}: must be at least 0 and less than {validity_key} ({validity} days); got {renewal}"]
    return []


def _tls_problems(t: Tls) -> list[str]:
    where = f"{NAMESPACE}:tls"
    problems = []
    ports = {"plaintextPort": t.plaintext_port, "sslPort": t.ssl_port, "controllerPort": t.controller_port}
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
    problems += _validity_problems(where, "certValidityDays", t.cert_validity_days, "certEarlyRenewalDays", t.cert_early_renewal_days)
    return problems


def _section_problems(raw: dict[str, Any]) -> list[str]:
    """Rules that relate fields of one section; each message names the field to change."""
    problems: list[str] = []
    checks = (
        ("tls", Tls, _tls_problems),
        ("ca", CertificateAuthorityConfig, lambda c: _validity_problems(
            f"{NAMESPACE}:ca", "validityDays", c.validity_days, "earlyRenewalDays", c.early_renewal_days)),
        ("paths", Paths, lambda p: [
            f"{NAMESPACE}:paths.{to_camel(k)}: '{getattr(p, k)}' must be an absolute path on the host"
            for k in ("ssl_dir", "server_properties", "connect_properties") if not getattr(p, k).startswith("/")
        ]),
    )
    for key, model, rules in checks:
        try:
            section = model.model_validate(raw.get(key) or {})
        except ValidationError:
            continue  # its field errors are reported already
        problems += rules(section)
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
            for field in ("name", "host", "address", "nodeId"):
                value = h.get(field)
                if value is None or (field == "nodeId" and group != "brokers"):
                    continue
                norm = _normalized(field, value)
                if (field, norm) in seen:
                    problems.append(f"{here}.{field}: '{value}' is also {seen[(field, norm)]}; each host needs its own")
                else:
                    seen[(field, norm)] = f"{here}.{field}"
            if group == "brokers" and h.get("nodeId") is None:
                problems.append(f"{here}.nodeId: missing; give each broker its KRaft node.id (the one in its meta.properties)")
    for base, inline in (("serverBaseFile", "serverProperties"), ("connectBaseFile", "connectProperties")):
        if raw.get(base) and raw.get(inline):
            problems.append(f"{NAMESPACE}:{inline}: give either {base} or {inline}, not both")
        if isinstance(raw.get(base), str) and not Path(raw[base]).is_file():
            problems.append(f"{NAMESPACE}:{base}: no file '{raw[base]}' (the path is relative to the Pulumi project folder)")
    ca = raw.get("caImport")
    if isinstance(ca, dict) and isinstance(ca.get("certPem"), str) and isinstance(ca.get("keyPem"), str):
        problems.extend(_imported_ca_problems(ca["certPem"], ca["keyPem"]))
    return problems


def _normalized(field: str, value: Any) -> str:
    """Compare names case-insensitively and addresses in canonical form ('0:0::1' is '::1')."""
    text = str(value)
    if field == "address" and is_ip_address(text):
        return str(ipaddress.ip_address(text))
    return text.lower().rstrip(".") if field == "host" else text


def _imported_ca_problems(cert_pem: str, key_pem: str) -> list[str]:
    where = f"{NAMESPACE}:caImport"
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError:
        return [f"{where}.certPem: not a PEM certificate"]
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        return [f"{where}.keyPem: not an unencrypted PEM private key (decrypt it with 'openssl pkey' first)"]
    problems = []
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.PEM, fmt) != cert.public_key().public_bytes(serialization.Encoding.PEM, fmt):
        problems.append(f"{where}.keyPem: does not match the certificate in caImport.certPem; give the CA's own key")
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        problems.append(f"{where}.certPem: not a CA certificate (no basicConstraints CA:TRUE); give the issuing CA")
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
        for h in raw.get(group) if isinstance(raw.get(group), list) else []:
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
        if validity <= 0:
            problems.append(f"{here}.validityDays: must be a positive number of days (got {validity})")
        elif not 0 <= renewal < validity:
            source = "" if client.early_renewal_days is not None else " (tls.certEarlyRenewalDays, the default)"
            problems.append(
                f"{here}.earlyRenewalDays: must be at least 0 and less than the validity ({validity} days); got "
                f"{renewal}{source}; set clients[{i}].earlyRenewalDays, e.g. {validity // 3}"
            )
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
        for e in err.errors():
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                msg = "unknown key (a typo?); see the README's config reference"
            elif e["type"] == "missing":
                msg = "missing; " + _MISSING_HINTS.get(str(e["loc"][-1]), "it is required")
            problems.append(f"{key_path(e['loc'])}: {msg}")
    problems += _section_problems(raw)
    problems += [p for p in _cross_host_problems(raw) if p not in problems]
    problems += _client_problems(raw)
    if problems or config is None:
        raise ConfigError(problems)
    return config


_MISSING_HINTS = {
    "sshPrivateKey": "run 'pulumi config set --secret kafka-tls:sshPrivateKey < KEYFILE'",
    "keystorePassword": "run 'pulumi config set --secret kafka-tls:keystorePassword'",
    "truststorePassword": "run 'pulumi config set --secret kafka-tls:truststorePassword'",
    "brokers": "list the brokers under kafka-tls:brokers",
    "hostKey": "pin the host's SSH key: 'ssh-keyscan -t ed25519 ADDRESS'",
}
