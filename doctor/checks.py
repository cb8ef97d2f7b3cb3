"""The doctor's checks: given what one host showed (its report, parsed by ``remote.parse_report``)
and what the stack says about it (a ``HostExpectation``, made by ``stack.expectations``), the list
of check results, each ok, a problem (in words, with the fix) or cannot check.

Pure: no SSH, no Pulumi, no clock but the ``now`` given, so every kind of problem is
unit-tested against crafted host readings. Values a host showed are named, never echoed when
they could carry a secret: a changed property is reported by its key, not its value.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Optional

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

from components.plan import short_digest
from components.proc_net import Socket, listening_sockets, listens
from components.properties import parse_listeners, parse_properties
from components.scripts import host_port, is_ip


class Status(str, Enum):
    OK = "ok"
    PROBLEM = "problem"
    UNKNOWN = "cannot check"


# The checks, in the order the table shows them (one column each).
SSH = "ssh"
LISTENERS = "listeners"
SERVICE_USER = "service user"
PEERS = "peers"
CERTIFICATE = "certificate"
NAMES = "names"
EXPIRY = "expiry"
CHAIN = "chain"
PROPERTIES = "properties"
FILES = "files"
TRUSTSTORE = "truststore"
KEYSTORE = "keystore"
DYNAMIC_CONFIG = "dynamic config"
RESTART_PENDING = "restart pending"
CONNECT = "connect"
CHECKS = (
    SSH,
    LISTENERS,
    SERVICE_USER,
    PEERS,
    CERTIFICATE,
    NAMES,
    EXPIRY,
    CHAIN,
    PROPERTIES,
    FILES,
    TRUSTSTORE,
    KEYSTORE,
    DYNAMIC_CONFIG,
    RESTART_PENDING,
    CONNECT,
)

# Where the README says how to repair what `pulumi up` does not see.
DRIFT = 'README "Day 2: doctor", the repair path'
NOT_SEEN = "a plain `pulumi up` does not see changes made on hosts: kafka-tls reads nothing back"
REPAIR = (
    "run the doctor again with `--repair`: it notes {host} in the stack config (`kafka-tls:repair`), `pulumi preview` "
    "then says `{host}: restart (repair: ...)`, and `pulumi up` writes the stack's file again and restarts {host} "
    "behind its health gate"
)
"""The repair of what the next `up` puts right: it writes every file and store of the host again
(a key pair still on the host is kept) and restarts it behind its gate: a properties file, a
missing file or store, a truststore that differs from the bundle, a service down or on another file."""


@dataclass(frozen=True)
class Check:
    host: str
    check: str
    """One of CHECKS."""
    status: Status
    detail: str
    """What was seen, in words."""
    fix: str = ""
    """What to do (problems and cannot-checks)."""
    subject: str = ""
    """What of the host the check is about: a listener, a peer, a file kind ('' for the host)."""
    repairable: bool = False
    """A problem the next `up` repairs once noted (``--repair``, REPAIR)."""

    def as_json(self) -> dict:
        return {
            "check": self.check,
            "subject": self.subject,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix,
        }


# --- What the stack says about one host -----------------------------------------------------------


@dataclass(frozen=True)
class TlsTarget:
    """A TLS listener a host dials: its own (first, for a broker) or a broker peer's."""

    name: str
    """The host's short name in the stack (``broker-2``)."""
    address: str
    """What is dialled: the name clients and peers use (from ``ssl_bootstrap_servers``)."""
    port: int
    server_name: str

    @property
    def target(self) -> str:
        return host_port(self.address, self.port)


@dataclass(frozen=True)
class KafkaTool:
    """The broker's own Kafka CLI tools, dialling its TLS listener with the gate's client config."""

    kafka_bin: str
    server_name: str
    port: int
    client_config: str
    node_id: int

    @property
    def bootstrap(self) -> str:
        return host_port(self.server_name, self.port)

    def configs_command(self, *args: str) -> str:
        return (
            f"{self.kafka_bin}/kafka-configs.sh --bootstrap-server {self.bootstrap} --command-config {self.client_config} "
            f"--entity-type brokers --entity-name {self.node_id} " + " ".join(args)
        ).strip()


@dataclass(frozen=True)
class ExpectedFile:
    kind: str
    """plan.managed_paths' kinds (ssl_dir, keystore, truststore, secrets, properties, tool_config,
    key) and ``ca_bundle`` (the truststore step's PEM copy of the trusted CAs)."""
    path: str
    owner: str
    """user:group."""
    mode: str
    """Octal as stat prints it ('640')."""
    directory: bool = False


@dataclass(frozen=True)
class HostExpectation:
    """What the stack says one host should show."""

    name: str
    role: str
    """'broker' or 'connect'."""
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    files: tuple[ExpectedFile, ...]
    properties_path: str
    ssl_dir: str
    ca_pem: str
    secrets_file: str
    pending_marker: str
    store_type: str
    keystore: str
    truststore: str
    alias: str
    """The key's alias in the keystore (the host's name)."""
    service_user: str
    """paths.owner's user ('' when files are left to root: then not checked)."""
    restart_command: str
    tls_targets: tuple[TlsTarget, ...] = ()
    """A broker: its own TLS listener first, then its peers'; a worker: the brokers'."""
    kafka: Optional[KafkaTool] = None
    """A broker whose TLS listener needs no SASL: its dynamic configs are read."""
    rest_address: str = ""
    """A worker: the address an empty or wildcard REST listener host means."""
    fingerprint: Optional[Mapping] = None
    """Its entry of the ``rollout_fingerprints`` output (None: the last `up` did not record it)."""
    certificate: Optional[Mapping] = None
    """Its entry of the ``certificates`` output."""
    ca_bundle_pem: str = ""
    renewal_days: int = 30
    """tls.certEarlyRenewalDays."""
    listener_name: str = "SSL"

    @property
    def is_broker(self) -> bool:
        return self.role == "broker"


# --- Small helpers ------------------------------------------------------------------------------------


_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----", re.S)


def pem_certificates(text: str) -> list[x509.Certificate]:
    """Every certificate in a text (openssl or keytool output, a PEM bundle), in order; blocks
    that do not parse are skipped."""
    out = []
    for block in _PEM.findall(text or ""):
        try:
            out.append(x509.load_pem_x509_certificate(block.encode()))
        except ValueError:
            continue
    return out


def fingerprint_of(cert: x509.Certificate) -> str:
    """'AB:CD:...', as the ``certificates`` output and openssl print it."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _listing(items: Iterable[str]) -> str:
    items = list(items)
    return ", ".join(items) if items else "none"


# --- The checks -----------------------------------------------------------------------------------------


@dataclass
class _Host:
    """What the checks of one host share while they run."""

    x: HostExpectation
    r: Mapping[str, str]
    now: datetime
    out: list[Check] = field(default_factory=list)
    props: Optional[dict[str, str]] = None

    def add(self, check: str, status: Status, detail: str, fix: str = "", subject: str = "", repairable: bool = False) -> None:
        self.out.append(Check(self.x.name, check, status, detail, fix, subject, repairable and status is Status.PROBLEM))


def unreachable(host: str, why: str, fix: str) -> list[Check]:
    """The one result of a host that could not be read."""
    return [Check(host, SSH, Status.UNKNOWN, why, fix)]


def evaluate(x: HostExpectation, reading: Mapping[str, str], now: Optional[datetime] = None, seconds: float = 0.0) -> list[Check]:
    """Every check of one host, from its parsed report (``remote.parse_report``)."""
    h = _Host(x, reading, now or datetime.now(UTC))
    h.add(SSH, Status.OK, f"read over SSH in {seconds:.1f}s (one read-only script, as root)")
    for check in (
        _properties,
        _listeners,
        _peers,
        _certificate,
        _files,
        _truststore,
        _keystore,
        _dynamic_config,
        _restart_pending,
        _connect,
    ):
        check(h)
    order = {name: i for i, name in enumerate(CHECKS)}
    return sorted(h.out, key=lambda c: order[c.check])


def _properties(h: _Host) -> None:
    x, text = h.x, h.r.get("props")
    replace = f"{REPAIR.format(host=x.name)} ({NOT_SEEN})"
    if text is None:
        h.add(PROPERTIES, Status.PROBLEM, f"{x.properties_path} is missing or unreadable", replace, repairable=True)
        return
    try:
        h.props = parse_properties(text)
    except Exception as err:
        h.add(
            PROPERTIES,
            Status.PROBLEM,
            f"{x.properties_path} is not a properties file Java can read ({type(err).__name__})",
            replace,
            repairable=True,
        )
        return
    if x.fingerprint is None:
        h.add(
            PROPERTIES,
            Status.PROBLEM,
            "the last `pulumi up` recorded nothing for this host (rollout_fingerprints): new in the config, or its rollout "
            "did not get this far",
            "run `pulumi preview`, then `pulumi up`",
        )
        return
    if short_digest(text) == x.fingerprint.get("text"):
        h.add(PROPERTIES, Status.OK, f"{x.properties_path} is the text the last `up` wrote")
        return
    recorded: Mapping[str, str] = x.fingerprint.get("properties") or {}
    changed = sorted(k for k in h.props if k in recorded and short_digest(h.props[k]) != recorded[k])
    added = sorted(k for k in h.props if k not in recorded)
    removed = sorted(k for k in recorded if k not in h.props)
    if changed or added or removed:
        parts = [
            f"{label} {', '.join(keys)}" for label, keys in (("changed", changed), ("added", added), ("removed", removed)) if keys
        ]
        detail = f"{x.properties_path} was edited on the host since the last `up`: " + "; ".join(parts)
    else:
        detail = f"{x.properties_path} differs from what the last `up` wrote in comments, order or spacing only"
    h.add(
        PROPERTIES,
        Status.PROBLEM,
        detail,
        f"to keep the change, put it in the stack config (the base file or the host's `properties`) and `pulumi up`; "
        f"to undo it, {replace}",
        repairable=True,
    )


def _listener_entries(h: _Host) -> list[tuple[str, str, int]]:
    """(url, host, port) of each ``listeners`` entry of the host's file (Kafka's and Connect's
    defaults when the key is absent)."""
    default = "PLAINTEXT://:9092" if h.x.is_broker else "http://:8083"
    value = (h.props or {}).get("listeners") or default
    return [(l.url(), l.host, l.port) for l in parse_listeners(value)]


def _listeners(h: _Host) -> None:
    x = h.x
    if h.props is None:
        h.add(LISTENERS, Status.UNKNOWN, "no properties file to read the listeners from", "see the properties check")
        return
    try:
        entries = _listener_entries(h)
    except ValueError as err:
        h.add(LISTENERS, Status.PROBLEM, f"listeners of {x.properties_path}: {err}", "see the properties check")
        return
    if "listen" not in h.r:
        h.add(LISTENERS, Status.UNKNOWN, "the host showed no /proc/net/tcp", "the doctor needs Linux's /proc/net/tcp")
        return
    sockets = listening_sockets(h.r["listen"])
    serving: list[Socket] = []
    for url, host, port in entries:
        found = listens(sockets, host, port)
        how = " (by port: the listener names a host)" if host and not is_ip(host) else ""
        if found:
            serving += found
            h.add(LISTENERS, Status.OK, f"{url} is listening{how}", subject=url)
        else:
            h.add(
                LISTENERS,
                Status.PROBLEM,
                f"nothing listens on {url}{how}: the service is down or could not bind it",
                f"read the service's log; if its file is the stack's, start it as root (`{x.restart_command}`), "
                f"else {REPAIR.format(host=x.name)}",
                subject=url,
                repairable=True,
            )
    _service_user(h, serving)


def _service_user(h: _Host, serving: Sequence[Socket]) -> None:
    user = h.x.service_user
    if not user:
        return  # paths.owner is "": the service's account is not the stack's to say
    uid_text = (h.r.get("uid") or "").strip()
    if not uid_text.isdigit():
        h.add(
            SERVICE_USER,
            Status.PROBLEM,
            f"the host has no account '{user}' (paths.owner)",
            "create the service's account, or set paths.owner to the account the service runs as and `pulumi up`",
        )
        return
    if not serving:
        h.add(SERVICE_USER, Status.UNKNOWN, "nothing listens on the listeners: no process to look at", "see the listeners check")
        return
    others = sorted({s.uid for s in serving if s.uid != int(uid_text)})
    if others:
        h.add(
            SERVICE_USER,
            Status.PROBLEM,
            f"the listeners are held by uid {', '.join(map(str, others))}, not by {user} (uid {uid_text})",
            f"run the service as {user} (its unit's User=): kafka-tls's files are owned by paths.owner",
        )
    else:
        h.add(SERVICE_USER, Status.OK, f"the process behind the listeners runs as {user} (uid {uid_text})")


_VERIFY_ERROR = re.compile(r"verify error:num=(\d+):([^\n]*)")


def handshake_problem(output: str) -> Optional[str]:
    """Why ``openssl s_client -verify_return_error -verify_hostname`` did not verify (None: it did)."""
    if "Verify return code: 0 (ok)" in output:
        return None
    if found := _VERIFY_ERROR.search(output):
        return f"the certificate does not verify: {found.group(2).strip()}"
    for needle, why in (
        ("Connection refused", "connection refused (nothing listens)"),
        ("Name or service not known", "the name does not resolve on this host"),
        ("No address associated", "the name does not resolve on this host"),
        ("Temporary failure in name resolution", "the name does not resolve on this host"),
        ("No route to host", "no route to the host"),
        ("Connection timed out", "the connection timed out"),
        ("alert", "the server ended the handshake with an alert"),
    ):
        if needle in output:
            return why
    return "no TLS handshake within 10s" if not output.strip() else "the TLS handshake failed"


def _peers(h: _Host) -> None:
    x = h.x
    if not x.tls_targets:
        return
    if h.r.get("stat.ca_bundle", "missing") == "missing":
        for t in x.tls_targets:
            h.add(
                PEERS,
                Status.UNKNOWN,
                f"{x.ca_pem} is missing: nothing to verify {t.target} against",
                "see the files check",
                subject=t.name,
            )
        return
    for i, t in enumerate(x.tls_targets):
        output = h.r.get(f"tls.{i}.verify")
        if output is None:
            h.add(PEERS, Status.UNKNOWN, f"the host did not try {t.target}", "run the doctor again", subject=t.name)
            continue
        why = handshake_problem(output)
        own = t.name == x.name
        if why is None:
            h.add(PEERS, Status.OK, f"{t.target}: TLS handshake verified by name against {x.ca_pem}", subject=t.name)
            continue
        if "does not verify" in why:
            fix = f"see {t.name}'s certificate, names and chain checks" if not own else "see this host's certificate checks"
        elif "resolve" in why:
            fix = f"make {t.address} resolve on {x.name} (DNS or /etc/hosts)"
        elif "refused" in why:
            fix = f"see {t.name}'s listeners check: its broker may be down"
        else:
            fix = f"check that {x.name} can reach {t.target} (firewall, routing) and that {t.name}'s broker runs"
        h.add(PEERS, Status.PROBLEM, f"from {x.name} to {t.target}: {why}", fix, subject=t.name)


def _served_chain(h: _Host) -> tuple[Optional[list[x509.Certificate]], str, str]:
    """The certificate chain the host serves (a broker's TLS listener, an https REST listener),
    else its keystore's; with where it was read and why it is missing."""
    x = h.x
    if not _serves_from_a_listener(h):
        return _keystore_chain(h)
    if x.is_broker:
        text = h.r.get("tls.0.chain")
        where = f"served on {x.tls_targets[0].target}" if x.tls_targets else "served"
        if text is None:
            return None, where, "the host did not dial its own TLS listener"
        chain = pem_certificates(text)
        return (chain or None), where, handshake_problem(text) or "no certificate"
    chain = pem_certificates(h.r["rest.chain"])
    return (chain or None), "served on the REST listener", handshake_problem(h.r["rest.chain"]) or "no certificate"


def _serves_from_a_listener(h: _Host) -> bool:
    """A broker's TLS listener, or a worker's https REST listener, shows what the service loaded;
    a worker on http serves no certificate, so its keystore stands for it."""
    return h.x.is_broker or ((h.r.get("rest.endpoint") or "").startswith("https ") and "rest.chain" in h.r)


def _keystore_chain(h: _Host) -> tuple[Optional[list[x509.Certificate]], str, str]:
    x = h.x
    text = h.r.get("keystore")
    where = f"in {x.keystore}"
    if text is None or h.r.get("keystore.rc", "0") != "0":
        return None, where, _store_error(h, "keystore")
    chain = pem_certificates(text)
    return (chain or None), where, "no certificate for alias " + x.alias


def _store_error(h: _Host, kind: str) -> str:
    rc, text = h.r.get(f"{kind}.rc", ""), (h.r.get(kind) or "").strip()
    if rc == "nosecrets":
        return f"{h.x.secrets_file} is missing: no password to open it"
    if rc == "missing":
        return "the file is missing"
    if "does not exist" in text and "Alias" in text:
        return f"it holds no entry {h.x.alias} (another host's store?)"
    if "password was incorrect" in text or "keystore password was incorrect" in text:
        return f"the password in {h.x.secrets_file} does not open it"
    first = next(
        (line for line in text.splitlines() if "keytool error" in line or "rror" in line), text.splitlines()[0] if text else ""
    )
    return f"keytool could not list it ({first[:200] or 'exit ' + rc})"


def _certificate(h: _Host) -> None:
    x = h.x
    chain, where, why = _served_chain(h)
    if not chain:
        h.add(CERTIFICATE, Status.UNKNOWN, f"no certificate {where}: {why}", "see the listeners and files checks")
        return
    leaf = chain[0]
    served = fingerprint_of(leaf)
    issued = (x.certificate or {}).get("sha256_fingerprint")
    if not issued:
        h.add(CERTIFICATE, Status.PROBLEM, "the stack's `certificates` output has none for this host", "run `pulumi up`")
    elif served == issued:
        h.add(CERTIFICATE, Status.OK, f"{where}: the certificate the stack issued ({served[:23]}...)")
    else:
        h.add(
            CERTIFICATE,
            Status.PROBLEM,
            f"{where}: {served[:23]}..., not the certificate the stack issued ({issued[:23]}...)",
            "the host runs on other stores than the stack wrote: if its keystore was replaced, put the stack's back "
            f"({DRIFT}); a keystore that is right is loaded by a restart of the service",
        )
    _names(h, leaf)
    _expiry(h, leaf)
    _chain(h, chain, where)


def _names(h: _Host, leaf: x509.Certificate) -> None:
    x = h.x
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = set(san.get_values_for_type(x509.DNSName))
        ips = {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    except x509.ExtensionNotFound:
        dns, ips = set(), set()
    missing = [n for n in x.dns_names if n not in dns] + [a for a in x.ip_addresses if str(ipaddress.ip_address(a)) not in ips]
    if missing:
        h.add(
            NAMES,
            Status.PROBLEM,
            f"the certificate lacks {', '.join(missing)} (it names {_listing(sorted(dns) + sorted(ips))})",
            "run `pulumi preview` and `pulumi up`: a certificate is re-issued when the host's names change",
        )
    else:
        h.add(NAMES, Status.OK, f"its SANs cover {', '.join([*x.dns_names, *x.ip_addresses])}")


def _expiry(h: _Host, leaf: x509.Certificate) -> None:
    expiry = leaf.not_valid_after_utc
    left = math.floor((expiry - h.now).total_seconds() / 86400)
    window = h.x.renewal_days
    stamp = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
    if left < 0:
        h.add(
            EXPIRY,
            Status.PROBLEM,
            f"expired {-left} day(s) ago ({stamp})",
            "run `pulumi up` now: it re-issues the certificate (brokers reload it, Connect workers restart)",
        )
    elif h.now >= expiry - timedelta(days=window):
        h.add(
            EXPIRY,
            Status.PROBLEM,
            f"expires in {left} day(s) ({stamp}), inside its {window}-day renewal window (tls.certEarlyRenewalDays)",
            "run `pulumi up`: it re-issues the certificate (brokers reload it without a restart, Connect workers restart); "
            "schedule `pulumi up` so renewals happen by themselves",
        )
    else:
        h.add(EXPIRY, Status.OK, f"{left} days left ({stamp}); renewal window {window} days")


def _chain(h: _Host, chain: Sequence[x509.Certificate], where: str) -> None:
    cas = pem_certificates(h.x.ca_bundle_pem)
    if not cas:
        h.add(CHAIN, Status.UNKNOWN, "the stack's ca_bundle_pem output is empty", "run `pulumi up`")
        return
    leaf = chain[0]
    issuer = next((ca for ca in cas if _issued_by(leaf, ca)), None)
    if issuer is None:
        h.add(
            CHAIN,
            Status.PROBLEM,
            f"{where}: issued by '{leaf.issuer.rfc4514_string()}', not by a CA of the stack's ca_bundle_pem",
            f"the host serves a certificate the stack did not issue: see the certificate check ({DRIFT})",
        )
        return
    bundle = {fingerprint_of(ca) for ca in cas}
    last = chain[-1]
    if len(chain) > 1 and fingerprint_of(last) not in bundle:
        h.add(
            CHAIN,
            Status.PROBLEM,
            f"{where}: the chain ends in '{common_name(last)}', not in the issuing CA '{common_name(issuer)}'",
            f"the keystore's chain was changed: put the stack's keystore back ({DRIFT})",
        )
        return
    ends = f"the chain ends in '{common_name(issuer)}'" if len(chain) > 1 else "the chain is the certificate alone"
    h.add(CHAIN, Status.OK, f"issued by '{common_name(issuer)}', a CA of the stack's bundle; {ends}")


def _files(h: _Host) -> None:
    x = h.x
    for f in x.files:
        seen = h.r.get(f"stat.{f.kind}")
        if seen is None:
            h.add(FILES, Status.UNKNOWN, f"the host did not show {f.path}", "run the doctor again", subject=f.kind)
            continue
        if seen == "missing":
            h.add(FILES, Status.PROBLEM, f"{f.path} is missing", REPAIR.format(host=x.name), subject=f.kind, repairable=True)
            continue
        owner, _, rest = seen.partition(" ")
        mode, _, kind = rest.partition(" ")
        wrong = []
        if owner != f.owner:
            wrong.append(f"owner {owner} (should be {f.owner})")
        if mode.lstrip("0") != f.mode.lstrip("0"):
            wrong.append(f"mode {mode} (should be {f.mode})")
        if f.directory != (kind == "directory"):
            wrong.append(f"a {kind or 'thing'} (should be a {'directory' if f.directory else 'regular file'})")
        if wrong:
            h.add(
                FILES,
                Status.PROBLEM,
                f"{f.path}: {'; '.join(wrong)}",
                f"as root on the host: `chown {f.owner} {f.path} && chmod {f.mode} {f.path}` ({NOT_SEEN})",
                subject=f.kind,
            )
        else:
            h.add(FILES, Status.OK, f"{f.path}: {f.owner} {f.mode}", subject=f.kind)


def _truststore(h: _Host) -> None:
    x = h.x
    bundle = pem_certificates(x.ca_bundle_pem)
    want = {fingerprint_of(c): common_name(c) for c in bundle}
    rebuild = REPAIR.format(host=x.name)
    for kind, label, path in (("truststore", "the truststore", x.truststore), ("capem", "the CA bundle file", x.ca_pem)):
        text = h.r.get(kind)
        if text is None or (kind == "truststore" and h.r.get("truststore.rc", "0") != "0"):
            why = "the file is missing" if h.r.get(f"{kind}.rc") == "missing" or text is None else _store_error(h, kind)
            status = Status.PROBLEM if "missing" in why or "does not open" in why else Status.UNKNOWN
            fix = rebuild if status is Status.PROBLEM else "see the files check"
            h.add(TRUSTSTORE, status, f"{path}: {why}", fix, subject=kind, repairable=True)
            continue
        held = {fingerprint_of(c): common_name(c) for c in pem_certificates(text)}
        entries = re.search(r"Your keystore contains (\d+) entr", text)
        count = int(entries.group(1)) if entries else len(held)
        if set(held) == set(want) and count == len(want):
            h.add(TRUSTSTORE, Status.OK, f"{label} holds exactly the {len(want)} CA(s) of ca_bundle_pem", subject=kind)
            continue
        missing = [want[f] for f in want if f not in held]
        extra = [held[f] for f in held if f not in want]
        detail = f"{path} holds {count} entr{'y' if count == 1 else 'ies'}"
        if missing:
            detail += f"; lacks {', '.join(missing)}"
        if extra:
            detail += f"; also trusts {', '.join(extra)}"
        if not missing and not extra:
            detail += f", the stack's bundle {len(want)}"
        h.add(TRUSTSTORE, Status.PROBLEM, detail, rebuild, subject=kind, repairable=True)


def _keystore(h: _Host) -> None:
    """Where the service serves from a listener, its keystore on disk is what the next restart or
    reload loads: it must hold the certificate the stack issued. (Without a listener to read, the
    certificate check reads the keystore itself.)"""
    if not _serves_from_a_listener(h):
        return
    x = h.x
    chain, where, why = _keystore_chain(h)
    if not chain:
        missing = h.r.get("keystore.rc") == "missing" or "does not open" in why or "holds no entry" in why
        # A missing keystore is written again by the next up (from the stack's key, or a new key
        # pair on the host); one that holds another key is refused by the key pair step: by hand.
        gone = h.r.get("keystore.rc") == "missing"
        h.add(
            KEYSTORE,
            Status.PROBLEM if missing else Status.UNKNOWN,
            f"{x.keystore}: {why}",
            REPAIR.format(host=x.name)
            if gone
            else f"put the stack's keystore back ({DRIFT})"
            if missing
            else "see the files check",
            repairable=gone,
        )
        return
    held, issued = fingerprint_of(chain[0]), (x.certificate or {}).get("sha256_fingerprint")
    if issued and held != issued:
        h.add(
            KEYSTORE,
            Status.PROBLEM,
            f"{where}: {held[:23]}... ('{common_name(chain[0])}'), not the certificate the stack issued ({issued[:23]}...); "
            "the next restart or reload would serve it",
            f"put the stack's keystore back ({DRIFT}) before the service restarts",
        )
    elif issued:
        h.add(KEYSTORE, Status.OK, f"{where}: the certificate the stack issued, which a restart would serve")


_SHADOWING = re.compile(r"listener\.name\.[^.]+\.ssl\.")


def _dynamic_config(h: _Host) -> None:
    x, tool = h.x, h.x.kafka
    if tool is None or not x.is_broker:
        return
    rc, text = h.r.get("dyn.rc"), h.r.get("dyn", "")
    if rc is None:
        h.add(DYNAMIC_CONFIG, Status.UNKNOWN, "the host did not ask the broker", "run the doctor again")
        return
    if rc == "unreachable":
        h.add(
            DYNAMIC_CONFIG,
            Status.UNKNOWN,
            f"{tool.bootstrap} does not accept connections: the broker cannot be asked",
            "see the listeners check",
        )
        return
    if rc != "0":
        last = next((line for line in reversed(text.splitlines()) if line.strip()), f"exit {rc}")
        h.add(
            DYNAMIC_CONFIG,
            Status.UNKNOWN,
            f"kafka-configs.sh failed: {last[:200]}",
            f"check that {tool.kafka_bin} holds Kafka's tools (restart.kafkaBin) and that the broker answers over TLS",
        )
        return
    keys = [line.strip().split("=", 1)[0] for line in text.splitlines() if line.startswith("  ") and "=" in line]
    shadowing = sorted(k for k in keys if _SHADOWING.match(k))
    if shadowing:
        h.add(
            DYNAMIC_CONFIG,
            Status.PROBLEM,
            f"dynamic broker configs shadow the file: {', '.join(shadowing)} "
            "(left by a reload that did not finish, or set by hand)",
            f"delete them, as root on the host: `{tool.configs_command('--alter', '--delete-config', ','.join(shadowing))}`",
        )
    else:
        others = f" (other dynamic configs: {', '.join(keys)})" if keys else ""
        h.add(DYNAMIC_CONFIG, Status.OK, f"no dynamic listener.name.*.ssl.* override of node {tool.node_id}{others}")


def _restart_pending(h: _Host) -> None:
    x = h.x
    if h.r.get("pending") == "yes":
        h.add(
            RESTART_PENDING,
            Status.PROBLEM,
            f"{x.pending_marker} is there: a restart began and has not passed its health gate",
            "read the failed `pulumi up`'s output for why the gate failed, fix that, then `pulumi up`: "
            "it restarts this host again",
        )
    elif h.r.get("pending") == "no":
        h.add(RESTART_PENDING, Status.OK, "no restart pending")
    else:
        h.add(RESTART_PENDING, Status.UNKNOWN, "the host did not show the restart marker", "run the doctor again")


def _connect(h: _Host) -> None:
    x = h.x
    if x.is_broker:
        return
    endpoint = (h.r.get("rest.endpoint") or "").split()
    if len(endpoint) != 3:
        h.add(CONNECT, Status.UNKNOWN, "the host did not ask the REST API", "see the properties check")
        return
    scheme, address, port = endpoint
    url = f"{scheme}://{host_port(address, int(port) if port.isdigit() else 0)}"
    response = h.r.get("rest.status", "")
    head, _, body = response.replace("\r\n", "\n").partition("\n\n")
    status_line = head.splitlines()[0] if head else ""
    if not re.match(r"HTTP/1\.[01] 200", status_line):
        verified = f", verified against {x.ca_pem}," if scheme == "https" else ""
        h.add(
            CONNECT,
            Status.PROBLEM,
            f"the REST API at {url}{verified} does not answer 200 ({status_line or 'no answer'})",
            f"start the worker as root (`{x.restart_command}`) and read its log",
        )
        return
    try:
        connectors = json.loads(body) if body.strip() else {}
    except json.JSONDecodeError:
        h.add(CONNECT, Status.UNKNOWN, f"{url}/connectors?expand=status answered no JSON", "ask it by hand")
        return
    not_running, tasks = [], 0
    for name, entry in sorted((connectors or {}).items()):
        status = (entry or {}).get("status") or {}
        state = (status.get("connector") or {}).get("state", "?")
        if state != "RUNNING":
            not_running.append(f"{name}: {state}")
        for task in status.get("tasks") or []:
            tasks += 1
            if task.get("state") != "RUNNING":
                not_running.append(f"{name} task {task.get('id')}: {task.get('state')}")
    if not_running:
        h.add(
            CONNECT,
            Status.PROBLEM,
            f"not RUNNING: {'; '.join(not_running)}",
            f"read the trace in `GET {url}/connectors/<name>/status` and the worker's log; then "
            f"`POST {url}/connectors/<name>/restart?includeTasks=true`",
        )
    else:
        h.add(CONNECT, Status.OK, f"{url} answers; {len(connectors or {})} connector(s), {tasks} task(s), all RUNNING")


# --- Summaries --------------------------------------------------------------------------------------------


def host_status(checks: Sequence[Check]) -> Status:
    statuses = {c.status for c in checks}
    if Status.PROBLEM in statuses:
        return Status.PROBLEM
    return Status.UNKNOWN if Status.UNKNOWN in statuses else Status.OK


def exit_code(checks: Sequence[Check]) -> int:
    """0: every check ok; 1: a problem; 2: no problem, but something could not be checked."""
    return {Status.OK: 0, Status.PROBLEM: 1, Status.UNKNOWN: 2}[host_status(checks)]


def repair_notes(results: Mapping[str, Sequence[Check]], when: str) -> dict[str, str]:
    """Per host with a problem the next `up` repairs (``Check.repairable``), the note ``--repair``
    writes to ``kafka-tls:repair``: the first such problem, and when it was seen (a new note is a
    new repair; the same note repairs nothing again)."""
    notes = {}
    for host, checks in results.items():
        found = [c for c in checks if c.repairable]
        if found:
            detail = " ".join(found[0].detail.split())
            notes[host] = f"{found[0].check}: {detail[:200]} (doctor, {when})"
    return notes
