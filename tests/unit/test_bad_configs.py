"""Malformed configs, kind by kind, each refused before any host is contacted.

Every case is one small mutation of the sample (tests/unit/sample.py). It goes through the checks
``__main__`` runs before it makes a single resource, by the same entry point,
``validation.validate_stack``: the config, then the base files' content, the listener layout and the
settings that must agree. Each case names the key path its problem must be reported at; every
message must name a ``kafka-tls:`` key path and say what to do (it contains one of FIX_VERBS as a
word). The valid stacks (the sample, the README's worked example, the lab's stack) must pass it.
(tests/unit/test_consistency.py has the rules that relate settings, with their valid neighbours.)
"""

from __future__ import annotations

import base64
import copy
import datetime
import re
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from components.config import key_path
from components.validation import validate_stack
from tests.unit.sample import HOST_KEY, SECRET_VALUES, sample

REPO = Path(__file__).resolve().parents[2]
# A message says what to do: one of these imperatives, as a word (after the key path).
FIX_VERBS = (
    "add", "bind", "check", "convert", "copy", "decrypt", "fix", "give", "keep", "leave", "list", "name", "pin",
    "raise", "remove", "run", "see", "set", "shorten", "stop", "use", "write",
)
_FIX = re.compile(r"\b(" + "|".join(FIX_VERBS) + r")\b")


def ssh_key(password: Optional[bytes] = None, fmt=serialization.PrivateFormat.OpenSSH, key=None) -> str:
    """A real private key as text: OpenSSH by default; with ``password``, encrypted."""
    key = key or ed25519.Ed25519PrivateKey.generate()
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()


def openssh_key_with_passphrase() -> str:
    """An OpenSSH private key as 'ssh-keygen -N PASSPHRASE' writes it (aes256-ctr, bcrypt). Only
    its header matters here, so the encrypted part is zeros (writing a real one needs bcrypt)."""
    def string(b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + b

    public = base64.b64decode(host_key_line().split()[1])
    blob = (
        b"openssh-key-v1\x00" + string(b"aes256-ctr") + string(b"bcrypt") + string(string(bytes(16)) + struct.pack(">I", 16))
        + struct.pack(">I", 1) + string(public) + string(bytes(160))
    )
    return "-----BEGIN OPENSSH PRIVATE KEY-----\n" + base64.encodebytes(blob).decode() + "-----END OPENSSH PRIVATE KEY-----\n"


def host_key_line(key=None) -> str:
    key = key or ed25519.Ed25519PrivateKey.generate()
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def ca_pems(
    key=None,
    days: int = 3650,
    starts_in_days: float = -1,
    is_ca: bool = True,
    key_usage: Optional[x509.KeyUsage] = None,
) -> tuple[str, str]:
    """An imported CA as (certPem, keyPem), with the property under test changed."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imported CA")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=starts_in_days))
        .not_valid_after(now + datetime.timedelta(days=starts_in_days + days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = builder.sign(key, algorithm)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def imported(**kwargs) -> Callable[[dict, Path], None]:
    def mutate(raw: dict, _: Path) -> None:
        cert_pem, key_pem = ca_pems(**kwargs)
        raw["caImport"] = {"certPem": cert_pem, "keyPem": key_pem}

    return mutate


def key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=cert_sign, crl_sign=True, encipher_only=False, decipher_only=False,
    )


def base_file(key: str, text: str, drop: str) -> Callable[[dict, Path], None]:
    """serverBaseFile/connectBaseFile: the sample's inline keys as a file, plus ``text``."""
    def mutate(raw: dict, tmp_path: Path) -> None:
        path = tmp_path / f"{key}.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in raw.pop(drop).items()) + text)
        raw[key] = str(path)

    return mutate


@dataclass
class Case:
    id: str
    at: tuple
    """Where the mutation goes (as key_path reads it); with ``value``."""
    value: Any = None
    path: Optional[str] = None
    """The key path the problem is reported at; default: ``at``'s."""
    words: tuple[str, ...] = ()
    mutate: Optional[Callable[[dict, Path], None]] = None
    """For mutations other than one value: called with the raw config and a temporary folder."""
    delete: bool = False
    extra: dict = field(default_factory=dict)
    """More values to set (at -> value) beside the one under test."""

    def apply(self, raw: dict, tmp_path: Path) -> None:
        for at, value in self.extra.items():
            put(raw, at, value)
        if self.value is not None or self.delete:
            put(raw, self.at, self.value, delete=self.delete)
        if self.mutate is not None:
            self.mutate(raw, tmp_path)

    @property
    def expected(self) -> str:
        return self.path or key_path(self.at)


def put(raw: dict, at: tuple, value: Any, delete: bool = False) -> None:
    node = raw
    for part in at[:-1]:
        node = node.setdefault(part, {}) if isinstance(node, dict) else node[part]
    if delete:
        del node[at[-1]]
    else:
        node[at[-1]] = value


B0, B1, B2, W0 = ("brokers", 0), ("brokers", 1), ("brokers", 2), ("connectWorkers", 0)
LONG_LABEL = "a" * 64
ED25519_BLOB = HOST_KEY.split()[1]


CASES = [
    # --- host names: resource names, keytool aliases ---------------------------------------------
    Case("name upper case", (*B0, "name"), "Broker-1", words=("lower-case",)),
    Case("name with a space", (*B0, "name"), "broker 1"),
    Case("name empty", (*B0, "name"), ""),
    Case("name with a slash", (*B0, "name"), "../broker-1"),
    Case("name shared with a worker", (*W0, "name"), "broker-1", words=("kafka-tls:brokers[0].name",)),
    Case("name missing", (*B1, "name"), delete=True, words=("missing",)),
    # --- DNS names: the first SAN and the advertised host ---------------------------------------------
    Case("host with a trailing dot", (*B2, "host"), "kafka-3.example.com.", words=("trailing",)),
    Case("host with a trailing newline", (*B2, "host"), "kafka-3.example.com\n", words=("line break",)),
    Case("host a wildcard", (*B2, "host"), "*.example.com", words=("wildcard",)),
    Case("host with an underscore", (*B2, "host"), "kafka_3.example.com"),
    Case("host an IP address", (*B2, "host"), "10.0.0.13", words=("IP address",)),
    Case("host a mistyped IP address", (*B2, "host"), "10.0.0.300", words=("all digits",)),
    Case("host with a 64-character label", (*B2, "host"), f"{LONG_LABEL}.example.com"),
    Case("host longer than 253", (*B2, "host"), ".".join(["a" * 60] * 5), words=("253",)),
    Case("host with a space", (*B2, "host"), "kafka 3.example.com"),
    Case("host with an empty label", (*B2, "host"), "kafka-3..example.com"),
    Case("host with a shell character", (*B2, "host"), "kafka-3.example.com;id"),
    Case("host twice in other case", (*B1, "host"), "KAFKA-1.example.com", words=("kafka-tls:brokers[0].host",)),
    Case("host missing", (*W0, "host"), delete=True, words=("missing",)),
    Case("extra DNS name a wildcard", (*B0, "extraDnsNames"), ["kafka.example.com", "*.example.com"], words=("*.example.com",)),
    Case("extra DNS name with a trailing dot", (*B0, "extraDnsNames"), ["kafka.example.com."]),
    Case("extra DNS name an IP address", (*B0, "extraDnsNames"), ["10.0.0.50"]),
    Case("extra DNS names not a list", (*B0, "extraDnsNames"), "kafka.example.com", words=("list",)),
    # --- addresses: SSH targets and IP SANs -------------------------------------------------------------
    Case("address unspecified v4", (*B0, "address"), "0.0.0.0", words=("unspecified",)),
    Case("address unspecified v6", (*B0, "address"), "::", words=("unspecified",)),
    Case("address broadcast", (*B0, "address"), "255.255.255.255", words=("broadcast",)),
    Case("address multicast", (*B0, "address"), "239.1.1.1", words=("multicast",)),
    Case("address with a zone", (*B0, "address"), "fe80::1%eth0", words=("zone",)),
    Case("address out of range", (*B0, "address"), "10.0.0.300", words=("not an IP address",)),
    Case("address a DNS name", (*B0, "address"), "kafka-1.example.com", words=("not an IP address",)),
    Case("address shared with a worker", (*W0, "address"), "10.0.0.11", words=("kafka-tls:brokers[0].address",)),
    Case("extra IP unspecified", (*B0, "extraIpAddresses"), ["0.0.0.0"]),
    Case("extra IP multicast", (*B0, "extraIpAddresses"), ["224.0.0.1"]),
    Case("extra IP a name", (*B0, "extraIpAddresses"), ["lb.example.com"]),
    Case("bind address multicast", (*B0, "bindAddress"), "224.0.0.1", words=("multicast",)),
    Case("bind address broadcast", (*B0, "bindAddress"), "255.255.255.255"),
    Case("bind address junk", (*B0, "bindAddress"), "eth0 !", words=("neither",)),
    # --- SSH host keys ------------------------------------------------------------------------------------
    Case("host key without its type", (*B0, "hostKey"), ED25519_BLOB),
    Case("host key with ssh-keyscan's host name", (*B0, "hostKey"), f"10.0.0.11 {HOST_KEY}", words=("remove",)),
    Case("host key cut short", (*B0, "hostKey"), HOST_KEY[:40], words=("cut short",)),
    Case("host key of another type", (*B0, "hostKey"), f"ssh-rsa {ED25519_BLOB}"),
    Case("host key DSA", (*B0, "hostKey"), f"ssh-dss {ED25519_BLOB}", words=("ssh-ed25519",)),
    Case("host key two lines", (*B0, "hostKey"), f"{HOST_KEY}\n{HOST_KEY}", words=("one line",)),
    Case("host key empty", (*B0, "hostKey"), ""),
    Case("host key a file path", (*B0, "hostKey"), "/etc/ssh/ssh_host_ed25519_key.pub"),
    Case("host key missing", (*B0, "hostKey"), delete=True, words=("ssh-keyscan",)),
    # --- KRaft node ids ------------------------------------------------------------------------------------
    Case("node id negative", (*B0, "nodeId"), -1, words=("at least 0",)),
    Case("node id beyond a Java int", (*B0, "nodeId"), 2**31, words=("at most",)),
    Case("node id a word", (*B0, "nodeId"), "one", words=("whole number",)),
    Case("node id a fraction", (*B0, "nodeId"), 1.5, words=("whole number",)),
    Case("node id twice", (*B2, "nodeId"), 1, words=("kafka-tls:brokers[0].nodeId",)),
    Case("node id on a Connect worker", (*W0, "nodeId"), 4, words=("remove",)),
    Case("node id missing", (*B1, "nodeId"), delete=True, words=("missing",)),
    # --- ssh ------------------------------------------------------------------------------------------------
    Case("ssh user with shell characters", ("ssh", "user"), "root; rm -rf /", words=("login name",)),
    Case("ssh user with a space", ("ssh", "user"), "kafka admin"),
    Case("ssh port 0", ("ssh", "port"), 0, words=("at least 1",)),
    Case("ssh port out of range", ("ssh", "port"), 70000, words=("at most 65535",)),
    Case("ssh port a name", ("ssh", "port"), "ssh", words=("whole number",)),
    Case("ssh sudo a word", ("ssh", "sudo"), "maybe", words=("true or false",)),
    Case("ssh unknown key", ("ssh", "hostKey"), HOST_KEY, words=("unknown key",)),
    # --- the SSH private key (a secret: never shown) -------------------------------------------------------
    Case("ssh key a path with ~", ("sshPrivateKey",), "~/.ssh/id_ed25519", words=("file path", "<")),
    Case("ssh key an absolute path", ("sshPrivateKey",), "/home/me/.ssh/id_ed25519", words=("file path",)),
    Case("ssh key the public key", ("sshPrivateKey",), HOST_KEY, words=("public key",)),
    Case("ssh key a PEM public key", ("sshPrivateKey",), None, words=("public key",), mutate=lambda raw, _: raw.update(
        sshPrivateKey=ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())),
    Case("ssh key OpenSSH with a passphrase", ("sshPrivateKey",), None, words=("passphrase",),
         mutate=lambda raw, _: raw.update(sshPrivateKey=openssh_key_with_passphrase())),
    Case("ssh key PEM with a passphrase", ("sshPrivateKey",), None, words=("passphrase",),
         mutate=lambda raw, _: raw.update(sshPrivateKey=ssh_key(
             b"passphrase", serialization.PrivateFormat.TraditionalOpenSSL, ec.generate_private_key(ec.SECP256R1())))),
    Case("ssh key PKCS#8 with a passphrase", ("sshPrivateKey",), None, words=("passphrase",),
         mutate=lambda raw, _: raw.update(sshPrivateKey=ssh_key(b"passphrase", serialization.PrivateFormat.PKCS8))),
    Case("ssh key a certificate", ("sshPrivateKey",), None, words=("PEM or OpenSSH",),
         mutate=lambda raw, _: raw.update(sshPrivateKey=ca_pems()[0])),
    Case("ssh key PuTTY", ("sshPrivateKey",), "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n", words=("puttygen",)),
    Case("ssh key a word", ("sshPrivateKey",), "key", words=("PEM or OpenSSH",)),
    Case("ssh key missing", ("sshPrivateKey",), delete=True, words=("missing", "pulumi config set --secret")),
    # --- store passwords (secrets) ---------------------------------------------------------------------------
    Case("keystore password short", ("keystorePassword",), "abc12", words=("at least 6",)),
    Case("keystore password with a newline", ("keystorePassword",), "ks-Secret\n1234", words=("line break",)),
    Case("truststore password with a trailing newline", ("truststorePassword",), "ts-Secret-5678\n", words=("line break",)),
    Case("keystore password with NUL", ("keystorePassword",), "ks-Secret\x001234", words=("control character",)),
    Case("truststore password not ASCII", ("truststorePassword",), "ts-Sécret-5678", words=("ASCII",)),
    Case("keystore password a number", ("keystorePassword",), 12345678, words=("text",)),
    Case("truststore password missing", ("truststorePassword",), delete=True, words=("missing",)),
    # --- the generated CA ---------------------------------------------------------------------------------------
    Case("ca RSA 1024", ("ca", "rsaBits"), 1024, extra={("ca", "keyAlgorithm"): "RSA"}, words=("2048",)),
    Case("ca RSA 2049", ("ca", "rsaBits"), 2049, extra={("ca", "keyAlgorithm"): "RSA"}, words=("4096",)),
    Case("ca rsaBits with ECDSA", ("ca", "rsaBits"), 4096, words=("ECDSA", "keyAlgorithm: RSA")),
    Case("ca DSA", ("ca", "keyAlgorithm"), "DSA", words=("ECDSA", "RSA")),
    Case("ca validity of a millennium", ("ca", "validityDays"), 365000, words=("36500",)),
    Case("ca validity zero", ("ca", "validityDays"), 0, words=("positive",)),
    Case("ca renewal not inside validity", ("ca", "earlyRenewalDays"), 3650, words=("less than",)),
    Case("ca renewal negative", ("ca", "earlyRenewalDays"), -1, words=("at least 0",)),
    Case("ca common name empty", ("ca", "commonName"), "  ", words=("empty",)),
    Case("ca common name too long", ("ca", "commonName"), "C" * 65, words=("64",)),
    Case("ca common name with a newline", ("ca", "commonName"), "kafka-tls CA\nOU=x", words=("line break",)),
    Case("ca organization too long", ("ca", "organization"), "O" * 70, words=("64",)),
    Case("ca unknown key", ("ca", "validity"), 10, words=("unknown key",)),
    Case("ca generation zero", ("ca", "generation"), 0, words=("at least 1",)),
    Case("ca generation in words", ("ca", "generation"), "two", words=("whole number",)),
    Case("ca shorter than the certificates", ("ca", "validityDays"), 300, extra={("ca", "earlyRenewalDays"): 30},
         path="kafka-tls:tls.certValidityDays", words=("300",)),
    Case("ca beside caImport", ("ca", "commonName"), "my CA", path="kafka-tls:ca", words=("caImport",), mutate=imported()),
    # --- tls ---------------------------------------------------------------------------------------------------
    Case("tls RSA 1024", ("tls", "rsaBits"), 1024, extra={("tls", "keyAlgorithm"): "RSA"}, words=("2048",)),
    Case("tls RSA 8192", ("tls", "rsaBits"), 8192, extra={("tls", "keyAlgorithm"): "RSA"}),
    Case("tls rsaBits with ECDSA", ("tls", "rsaBits"), 2048, words=("ECDSA",)),
    Case("tls validity of a millennium", ("tls", "certValidityDays"), 400000, words=("36500",)),
    Case("tls validity a phrase", ("tls", "certValidityDays"), "a year", words=("whole number",)),
    Case("tls renewal negative", ("tls", "certEarlyRenewalDays"), -1, words=("at least 0",)),
    Case("tls protocol twice", ("tls", "enabledProtocols"), ["TLSv1.3", "TLSv1.3"], words=("twice",)),
    Case("tls protocol TLSv1", ("tls", "enabledProtocols"), ["TLSv1", "TLSv1.2"], words=("TLSv1.3",)),
    Case("tls protocols a string", ("tls", "enabledProtocols"), "TLSv1.3", words=("list",)),
    Case("tls ssl port 0", ("tls", "sslPort"), 0),
    Case("tls ssl port out of range", ("tls", "sslPort"), 65536),
    Case("tls ssl port the controller's", ("tls", "sslPort"), 9094, path="kafka-tls:tls.controllerPort", words=("sslPort",)),
    Case("tls ssl port the ssh port", ("tls", "sslPort"), 22, words=("SSH port", "kafka-tls:ssh.port")),
    Case("ssh port a broker listener's", ("ssh", "port"), 9092, path="kafka-tls:tls.plaintextPort", words=("SSH port",)),
    Case("tls controller listener lower case", ("tls", "controllerListener"), "controller", words=("upper-case",)),
    Case("tls controller listener a URL", ("tls", "controllerListener"), "CONTROLLER://:9094"),
    Case("tls listener name with a space", ("tls", "listenerName"), "SSL "),
    Case("tls client auth a boolean", ("tls", "clientAuth"), "true", words=("required",)),
    Case("tls store type misspelt", ("tls", "storeType"), "PKCS#12", words=("PKCS12",)),
    Case("tls SSL only with plaintext replication", ("tls", "interBrokerProtocol"), "PLAINTEXT",
         extra={("tls", "listeners"): "SSL"}, words=("interBrokerProtocol: SSL",)),
    Case("tls not a map", ("tls",), "SSL", words=("map",)),
    # --- paths on the hosts ----------------------------------------------------------------------------------------
    Case("ssl dir relative", ("paths", "sslDir"), "etc/kafka/ssl", words=("absolute",)),
    Case("ssl dir the root", ("paths", "sslDir"), "/"),
    Case("ssl dir with ..", ("paths", "sslDir"), "/etc/kafka/../ssl", words=("'..'",)),
    Case("ssl dir with //", ("paths", "sslDir"), "/etc/kafka//ssl"),
    Case("ssl dir with a trailing /", ("paths", "sslDir"), "/etc/kafka/ssl/"),
    Case("ssl dir with a space", ("paths", "sslDir"), "/etc/kafka/my ssl", words=("spaces",)),
    Case("ssl dir with a quote", ("paths", "sslDir"), "/etc/kafka/ssl'"),
    Case("ssl dir with a command", ("paths", "sslDir"), "/etc/kafka/$(id)"),
    Case("ssl dir with a newline", ("paths", "sslDir"), "/etc/kafka/ssl\n/etc"),
    Case("ssl dir /etc", ("paths", "sslDir"), "/etc", words=("shared",)),
    Case("ssl dir the system's certificates", ("paths", "sslDir"), "/etc/ssl", words=("shared",)),
    Case("ssl dir in /tmp", ("paths", "sslDir"), "/tmp/kafka-ssl", words=("temporary",)),
    Case("server properties inside the ssl dir", ("paths", "serverProperties"), "/etc/kafka/ssl/server.properties",
         words=("inside paths.sslDir",)),
    Case("server properties /etc/passwd", ("paths", "serverProperties"), "/etc/passwd", words=(".properties",)),
    Case("connect properties a directory", ("paths", "connectProperties"), "/etc/kafka/"),
    Case("ssl dir the connect properties file", ("paths", "sslDir"), "/etc/kafka/connect-avro-distributed.properties",
         path="kafka-tls:paths.connectProperties", words=("inside",)),
    Case("owner without a group", ("paths", "owner"), "kafka", words=("user:group",)),
    Case("owner with three parts", ("paths", "owner"), "kafka:kafka:x"),
    Case("owner with a shell character", ("paths", "owner"), "kafka;id:kafka"),
    # --- restart commands ----------------------------------------------------------------------------------------------
    Case("restart empty", ("restart", "kafka"), "", words=("empty",)),
    Case("restart only spaces", ("restart", "connect"), "   ", words=("empty",)),
    Case("restart two lines", ("restart", "kafka"), "systemctl restart kafka\nrm -rf /var/lib/kafka", words=("one line",)),
    Case("restart with NUL", ("restart", "kafka"), "systemctl restart kafka\x00", words=("control character",)),
    Case("restart with an unclosed quote", ("restart", "kafka"), "systemctl restart 'kafka", words=("quote",)),
    Case("restart with a trailing backslash", ("restart", "connect"), "systemctl restart kafka-connect \\", words=("quot",)),
    Case("restart in the background", ("restart", "kafka"), "systemctl restart kafka &", words=("background",)),
    Case("gate timeout 0", ("restart", "gateTimeoutSeconds"), 0, words=("at least 1",)),
    Case("gate timeout a day", ("restart", "gateTimeoutSeconds"), 86400, words=("at most 3600",)),
    Case("gate timeout with a unit", ("restart", "gateTimeoutSeconds"), "3m", words=("whole number",)),
    Case("kafka tools at a relative path", ("restart", "kafkaBin"), "opt/kafka/bin", words=("absolute",)),
    Case("kafka tools at a path with a space", ("restart", "kafkaBin"), "/opt/kafka tools/bin", words=("characters",)),
    Case("kafka tools at a path with '..'", ("restart", "kafkaBin"), "/opt/kafka/../bin", words=("plain path",)),
    # --- an imported CA ---------------------------------------------------------------------------------------------------
    Case("imported CA not PEM", ("caImport", "certPem"), "hello", words=("BEGIN CERTIFICATE",),
         extra={("caImport", "keyPem"): "k"}),
    Case("imported CA key with a passphrase", ("caImport", "keyPem"), None, words=("decrypt",),
         mutate=lambda raw, tmp: (imported()(raw, tmp), raw["caImport"].update(keyPem=ssh_key(
             b"passphrase", serialization.PrivateFormat.PKCS8, ec.generate_private_key(ec.SECP256R1()))))),
    Case("imported CA key of another CA", ("caImport", "keyPem"), None, words=("does not match",),
         mutate=lambda raw, tmp: (imported()(raw, tmp), raw["caImport"].update(keyPem=ca_pems()[1]))),
    Case("imported CA not a CA", ("caImport", "certPem"), None, words=("CA:TRUE",), mutate=imported(is_ca=False)),
    Case("imported CA expired", ("caImport", "certPem"), None, words=("expired",), mutate=imported(starts_in_days=-400, days=365)),
    Case("imported CA not valid yet", ("caImport", "certPem"), None, words=("not valid until",), mutate=imported(starts_in_days=2)),
    Case("imported CA ends before the certificates", ("caImport", "certPem"), None, words=("certValidityDays", "at most"),
         mutate=imported(days=100)),
    Case("imported CA may not sign certificates", ("caImport", "certPem"), None, words=("keyCertSign",),
         mutate=imported(key_usage=key_usage(cert_sign=False))),
    Case("imported CA RSA 1024", ("caImport", "certPem"), None, words=("RSA 1024",),
         mutate=imported(key=rsa.generate_private_key(65537, 1024))),
    Case("imported CA Ed25519", ("caImport", "certPem"), None, words=("Ed25519",),
         mutate=imported(key=ed25519.Ed25519PrivateKey.generate())),
    Case("imported CA on secp256k1", ("caImport", "certPem"), None, words=("secp256k1",),
         mutate=imported(key=ec.generate_private_key(ec.SECP256K1()))),
    Case("imported CA DSA", ("caImport", "certPem"), None, words=("DSA",),
         mutate=imported(key=dsa.generate_private_key(2048))),
    Case("imported CA without its key", ("caImport", "keyPem"), None, words=("missing",),
         mutate=lambda raw, tmp: (imported()(raw, tmp), raw["caImport"].pop("keyPem"))),
    # --- base files and property overrides -----------------------------------------------------------------------------------
    Case("server base file missing", ("serverBaseFile",), "nope/server.properties", words=("no file",),
         mutate=lambda raw, _: raw.pop("serverProperties")),
    Case("server base file and inline", ("serverBaseFile",), str(REPO / "examples/server.base.properties"),
         path="kafka-tls:serverProperties", words=("not both",)),
    Case("client auth in the base", ("serverProperties", "ssl.client.auth"), "none", words=("tls.clientAuth",)),
    Case("client auth per host", (*B1, "properties", "ssl.client.auth"), "none", words=("tls.clientAuth",)),
    Case("hostname verification off per host", (*B0, "properties", "ssl.endpoint.identification.algorithm"), "",
         words=("https",)),
    Case("TLSv1.1 per host", (*B0, "properties", "ssl.enabled.protocols"), "TLSv1.2,TLSv1.1", words=("tls.enabledProtocols",)),
    Case("ssl.protocol per host", (*B0, "properties", "ssl.protocol"), "TLSv1.1", words=("tls.enabledProtocols",)),
    Case("keystore elsewhere per host", (*B0, "properties", "ssl.keystore.location"), "/tmp/ks.p12", words=("paths.sslDir",)),
    Case("truststore password per host", (*B0, "properties", "ssl.truststore.password"), "changeit",
         words=("truststorePassword",)),
    Case("inline PEM keystore per host", (*B0, "properties", "ssl.keystore.key"), "-----BEGIN", words=("tls.storeType",)),
    Case("client auth per listener", (*B0, "properties", "listener.name.ssl.ssl.client.auth"), "none",
         words=("tls.clientAuth",)),
    Case("keystore per listener in the base", ("serverProperties", "listener.name.external.ssl.keystore.location"),
         "/tmp/x.p12", words=("paths.sslDir",)),
    Case("engine factory in the base", ("serverProperties", "ssl.engine.factory.class"), "com.example.Insecure"),
    Case("weak cipher suites", ("serverProperties", "ssl.cipher.suites"),
         "TLS_AES_128_GCM_SHA256,TLS_RSA_WITH_NULL_SHA256,SSL_RSA_EXPORT_WITH_RC4_40_MD5", words=("tls.cipherSuites",)),
    Case("anonymous cipher suite per listener", (*B0, "properties", "listener.name.ssl.ssl.cipher.suites"),
         "TLS_DH_anon_WITH_AES_128_CBC_SHA", words=("tls.cipherSuites",)),
    Case("a strong suite list per host still undoes tls.cipherSuites", (*B1, "properties", "ssl.cipher.suites"),
         "TLS_AES_256_GCM_SHA384", words=("tls.cipherSuites",)),
    Case("node id override per host", (*B2, "properties", "node.id"), "7", words=("kafka-tls:brokers[2].nodeId",)),
    Case("broker id in the base", ("serverProperties", "broker.id"), "1", words=("nodeId",)),
    Case("our config provider redefined", ("serverProperties", "config.providers.kafkatls.class"), "com.example.Leak",
         words=("kafkatls",)),
    Case("worker plaintext", ("connectProperties", "security.protocol"), "PLAINTEXT"),
    Case("worker producer plaintext per host", (*W0, "properties", "producer.security.protocol"), "PLAINTEXT"),
    Case("worker consumer without verification", (*W0, "properties", "consumer.ssl.endpoint.identification.algorithm"), ""),
    Case("worker admin truststore", ("connectProperties", "admin.ssl.truststore.location"), "/tmp/ts.jks",
         words=("paths.sslDir",)),
    Case("worker bootstrap servers", ("connectProperties", "bootstrap.servers"), "kafka-1.example.com:9092"),
    Case("registry URL beside schemaRegistryUrl", ("connectProperties", "key.converter.schema.registry.url"),
         "https://other.example.com", extra={("schemaRegistryUrl",): "https://registry.example.com:8081"},
         words=("schemaRegistryUrl",)),
    Case("registry truststore beside https", ("connectProperties", "value.converter.schema.registry.ssl.truststore.location"),
         "/tmp/ts.jks", extra={("schemaRegistryUrl",): "https://registry.example.com:8081"}, words=("paths.sslDir",)),
    Case("value with a YAML block's newline", ("serverProperties", "log.dirs"), "/var/lib/kafka/data\n", words=("'|'",)),
    Case("key with a space", ("serverProperties", "log dirs"), "/var/lib/kafka/data", words=("property name",)),
    Case("value a number", ("serverProperties", "num.partitions"), 3, words=("quote",)),
    Case("properties not a map", (*B0, "properties"), ["ssl.client.auth=none"], words=("map",)),
    Case("client auth in the base file", ("serverBaseFile", "ssl.client.auth"), None, words=("remove it from",),
         mutate=base_file("serverBaseFile", "ssl.client.auth=none\n", "serverProperties")),
    Case("keystore per listener in the base file", ("serverBaseFile", "listener.name.ssl.ssl.keystore.location"), None,
         mutate=base_file("serverBaseFile", "listener.name.ssl.ssl.keystore.location=/tmp/x.p12\n", "serverProperties")),
    Case("plaintext in the worker base file", ("connectBaseFile", "security.protocol"), None,
         mutate=base_file("connectBaseFile", "security.protocol=PLAINTEXT\n", "connectProperties")),
    Case("bootstrap in the worker base file", ("connectBaseFile", "bootstrap.servers"), None,
         mutate=base_file("connectBaseFile", "bootstrap.servers=localhost:9092\n", "connectProperties")),
    # --- the schema registry URL ---------------------------------------------------------------------------------------
    Case("registry without a scheme", ("schemaRegistryUrl",), "schema-registry:8081", words=("https://",)),
    Case("registry with credentials", ("schemaRegistryUrl",), "https://user:pw@registry.example.com:8081", words=("password",)),
    Case("registry with a newline", ("schemaRegistryUrl",), "https://registry.example.com:8081\nx"),
    Case("registry over ftp", ("schemaRegistryUrl",), "ftp://registry.example.com"),
    Case("registry port out of range", ("schemaRegistryUrl",), "https://registry.example.com:99999"),
    Case("registry host with an underscore", ("schemaRegistryUrl",), "https://schema_registry:8081"),
    Case("registry second URL bad", ("schemaRegistryUrl",), "https://a.example.com:8081,registry:8081"),
    # --- listener layouts (plan_problems) -------------------------------------------------------------------------------
    Case("listeners unparsable", ("serverProperties", "listeners"), "PLAINTEXT:9092", words=("NAME://host:port",)),
    Case("TLS listener is the controller's", ("tls", "listenerName"), "CONTROLLER", words=("controller listener",)),
    Case("advertised listeners without TLS", (*B0, "properties", "advertised.listeners"),
         "PLAINTEXT://kafka-1.example.com:9092", words=("SSL",)),
    Case("controller-only node", (*B0, "properties", "process.roles"), "controller", path="kafka-tls:brokers[0]",
         words=("controller-only",)),
    # --- settings that must agree (validation.consistency_problems; more in test_consistency.py) ----------------------
    Case("advertised TLS name not in the certificate", (*B1, "properties", "advertised.listeners"),
         "PLAINTEXT://kafka-2.example.com:9092,SSL://kafka-2-lb.example.com:9093", words=("kafka-tls:brokers[1].extraDnsNames",)),
    Case("ssl dir inside the log dir", ("paths", "sslDir"), "/var/lib/kafka/data/ssl",
         words=("kafka-tls:serverProperties.log.dirs",)),
    Case("ssl dir inside the properties file", ("paths", "sslDir"), "/etc/kafka/server.properties/ssl",
         words=("a file and a directory",)),
    Case("controller not a voter", (*B2, "nodeId"), 4, words=("set nodeId to 3",)),
    Case("voters missing", ("serverProperties", "controller.quorum.voters"), delete=True, words=("bootstrap.servers",)),
    Case("voter a broker-only node", (*B2, "properties", "process.roles"), "broker",
         path="kafka-tls:serverProperties.controller.quorum.voters", words=("remove it from the voters",)),
    Case("client outlives the CA", ("clients",), [{"name": "orders", "validityDays": 4000}],
         path="kafka-tls:clients[0].validityDays", words=("at most 3650",)),
    # --- the shape of the whole ---------------------------------------------------------------------------------------
    Case("unknown top-level key", ("brokerz",), [], words=("unknown key",)),
    Case("no brokers", ("brokers",), [], words=("at least 1",)),
    Case("brokers not a list", ("brokers",), "broker-1", words=("list",)),
    Case("broker not a map", ("brokers", 0), "broker-1", words=("map",)),
    Case("repair of a host not listed", ("repair", "broker-9"), "properties edited", words=("broker-9",)),
    Case("repair without a note", ("repair", "broker-2"), "  ", words=("one line",)),
    Case("repair note of two lines", ("repair", "connect-1"), "one\ntwo", words=("one line",)),
]


def problems_for(raw: dict) -> list[str]:
    """What __main__ reports before it makes any resource: the config's problems, else those of the
    base files, the listener layout and the settings that must agree."""
    return validate_stack(raw).problems


def has_fix(problem: str) -> bool:
    return bool(_FIX.search(problem.split(": ", 1)[1]))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_config_is_refused_at_its_key_path_with_a_fix(case: Case, tmp_path):
    raw = sample()
    case.apply(raw, tmp_path)
    problems = problems_for(raw)
    assert problems, f"{case.id}: accepted"
    hits = [p for p in problems if p.startswith(case.expected + ": ")]
    assert len(hits) == 1, f"expected one problem at {case.expected}, got {problems}"
    for word in case.words:
        assert word in hits[0], f"{word!r} not in {hits[0]!r}"
    for problem in problems:
        assert problem.startswith("kafka-tls:"), problem
        assert has_fix(problem), f"no fix ({', '.join(FIX_VERBS)}) in {problem!r}"
        assert "\n" not in problem, problem


def test_there_are_many_kinds_of_bad_config():
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [c for c in CASES if c.at[0] in ("sshPrivateKey", "keystorePassword", "truststorePassword")],
                         ids=lambda c: c.id)
def test_no_message_shows_a_secret(case: Case, tmp_path):
    raw = sample()
    case.apply(raw, tmp_path)
    secrets = [v for v in (raw.get("sshPrivateKey"), raw.get("keystorePassword"), raw.get("truststorePassword"))
               if isinstance(v, str)]
    for problem in problems_for(raw):
        for secret in (*secrets, *SECRET_VALUES):
            for part in filter(None, (line.strip() for line in secret.splitlines())):
                assert len(part) < 6 or part not in problem, f"{problem!r} shows a secret"


def test_every_problem_of_a_config_with_many_is_reported_at_once(tmp_path):
    raw = sample()
    for case in CASES:
        simple = case.mutate is None and not case.delete and not case.extra
        if simple and (case.at[0] in ("ssh", "restart", "paths") or (case.at[0] == "brokers" and len(case.at) == 3)):
            put(raw, case.at, case.value)
    problems = problems_for(raw)
    assert len(problems) >= 10 and all(p.startswith("kafka-tls:") and has_fix(p) for p in problems)


# --- no false positives ----------------------------------------------------------------------------------------------


def stack_file(name: str) -> dict:
    """A stack file's kafka-tls values, with the secrets an operator sets and real host keys."""
    settings = yaml.safe_load((REPO / name).read_text())["config"]
    raw = {key.split(":", 1)[1]: value for key, value in settings.items() if key.startswith("kafka-tls:")}
    raw.update(sshPrivateKey=ssh_key(), keystorePassword="Keystore-Pass-1", truststorePassword="Truststore-Pass-1")
    for group in ("brokers", "connectWorkers"):
        for host in raw.get(group, []):
            if "set-by-labstack" in host["hostKey"]:  # labstack puts each lab host's own key here
                host["hostKey"] = host_key_line()
    return raw


def assert_accepted(raw: dict) -> None:
    validated = validate_stack(raw)
    assert validated.problems == []
    assert validated.config is not None


def test_the_sample_is_accepted():
    assert_accepted(sample())


def test_the_readme_example_stack_is_accepted(monkeypatch):
    monkeypatch.chdir(REPO)  # base files are relative to the project folder
    assert_accepted(stack_file("Pulumi.dev.yaml"))


LAB_VARIANTS = {
    "as it is": {},
    "brokers only": {"connectWorkers": []},
    "named listeners": {"connectWorkers": [], "serverBaseFile": "labstack/server.named.base.properties",
                        "tls": {"listenerName": "EXTERNAL", "interBrokerProtocol": "PLAINTEXT"}},
    "SSL only": {"tls": {"listeners": "SSL", "interBrokerProtocol": "SSL", "storeType": "PKCS12", "keyCustody": "host"}},
    "stack custody PEM": {"tls": {"keyCustody": "stack", "storeType": "PEM"}},
    "restart override": {"restart": {"kafka": "KAFKA_SERVICE_START_TIMEOUT=120 /opt/kafka/bin/kafka-service restart kafka",
                                     "connect": "/opt/kafka/bin/kafka-service restart kafka-connect",
                                     "gateTimeoutSeconds": 300}},
}


@pytest.mark.parametrize("overrides", LAB_VARIANTS.values(), ids=LAB_VARIANTS.keys())
def test_the_lab_stack_is_accepted(overrides, monkeypatch):
    monkeypatch.chdir(REPO)
    raw = stack_file("Pulumi.lab.yaml")
    raw.update(copy.deepcopy(overrides))
    assert_accepted(raw)


@pytest.mark.parametrize("good", [
    {"ca": {"keyAlgorithm": "RSA", "rsaBits": 4096, "validityDays": 36500, "earlyRenewalDays": 0}},
    {"tls": {"keyAlgorithm": "RSA", "rsaBits": 2048, "certValidityDays": 3650}},
    {"tls": {"enabledProtocols": ["TLSv1.2"], "controllerListener": "CONTROLLER"}},
    {"paths": {"sslDir": "/opt/kafka/config/ssl", "serverProperties": "/opt/kafka/config/kraft/server.properties",
               "owner": ""}},
    {"restart": {"kafka": "systemctl restart kafka && systemctl is-active kafka", "gateTimeoutSeconds": 3600}},
    {"schemaRegistryUrl": "https://a.example.com:8081,https://10.0.0.5:8081"},
    {"schemaRegistryUrl": "http://[fd00::5]:8081"},
    {"keystorePassword": "  spaces around  ", "truststorePassword": "ks-Secret-1234"},
    {"sshPrivateKey": ssh_key(fmt=serialization.PrivateFormat.TraditionalOpenSSL, key=ec.generate_private_key(ec.SECP256R1()))},
    {"serverProperties": {**sample()["serverProperties"], "ssl.principal.mapping.rules": "DEFAULT", "config.providers": "file"}},
    {"connectProperties": {"group.id": "g", "listeners.https.ssl.client.auth": "required",
                           "key.converter.schema.registry.url": "http://registry:8081"}},
], ids=lambda g: ",".join(g))
def test_settings_that_look_unusual_but_are_fine_are_accepted(good):
    assert_accepted(sample(**good))


@pytest.mark.parametrize("fields", [
    {"address": "127.0.0.11", "bindAddress": "127.0.0.11"},  # the lab
    {"address": "fd00::11", "extraIpAddresses": ["10.1.0.11"], "bindAddress": "::"},
    {"bindAddress": "0.0.0.0"},
    {"host": "kafka1", "extraDnsNames": ["kafka.example.com", "KAFKA-1.EXAMPLE.COM.internal"]},
    {"hostKey": f"{HOST_KEY} root@kafka-1"},
    {"hostKey": host_key_line(ec.generate_private_key(ec.SECP384R1()))},
    {"hostKey": host_key_line(rsa.generate_private_key(65537, 2048))},
    # node id 0, the voter of its host
    {"nodeId": 0, "properties": {"controller.quorum.voters": "0@kafka-1.example.com:9094,2@kafka-2.example.com:9094,"
                                                             "3@kafka-3.example.com:9094"}},
], ids=lambda f: ",".join(f))
def test_host_settings_that_are_fine_are_accepted(fields):
    raw = sample()
    raw["brokers"][0].update(fields)
    assert_accepted(raw)


def test_an_imported_ca_that_outlives_the_certificates_is_accepted(tmp_path):
    raw = sample()
    imported(key=rsa.generate_private_key(65537, 2048), key_usage=key_usage(cert_sign=True))(raw, tmp_path)
    assert_accepted(raw)


def test_validation_needs_no_pulumi_and_no_host():
    """Structural: the checks run before any resource exists, and cannot reach a host: none of
    these modules imports the Pulumi SDK or a provider."""
    code = (
        "import sys, components.config, components.plan, components.validation\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_command', 'pulumi_tls'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
