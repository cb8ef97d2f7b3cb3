"""Validation's one entry point: the stack config, then the base files, then the listener layout
and the consistency of the whole.

Pure: no Pulumi here (``__main__`` and the tests both call ``validate_stack``). Every message names
its key path (``kafka-tls:brokers[2].host``) and says what to do. The stages:

1. ``config.validate_config``: every key and section, and the rules across them;
2. the base files (``properties.read_base_properties``), and then, all together,
   ``config.property_problems`` (what the bases and overrides would undo), ``plan_problems`` (the
   brokers' listeners) and ``consistency_problems``: what the certificates name against what clients
   and peers are told to dial, kafka-tls's paths against each other and Kafka's own directories,
   the KRaft quorum against the brokers' node ids, and certificate lifetimes against the CA's;
   and what the hosts cannot take from where the last ``up`` left them (``plan.last_run_problems``).
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Optional

from cryptography import x509

from components.config import (
    NAMESPACE,
    ClusterConfig,
    ConfigError,
    Host,
    address_problem,
    is_ip_address,
    property_problems,
    validate_config,
)
from components.plan import LastRun, last_run_problems
from components.properties import ListenerLayout, listener_problems, parse_listeners, read_base_properties

CONFIG_STAGE = "the stack config"
BASES_STAGE = "the base files, listeners or settings that must agree"
_TLS_PROTOCOLS = ("SSL", "SASL_SSL")
_VOTER = re.compile(r"(?P<id>\d+)@(?P<host>\[[^\]]+\]|[^:@\s\[\]]+):(?P<port>\d{1,5})")


@dataclass(frozen=True)
class Validated:
    """What ``validate_stack`` found: the config and the base properties, or the problems."""

    config: Optional[ClusterConfig]
    server_base: dict[str, str] = field(default_factory=dict)
    connect_base: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    stage: str = CONFIG_STAGE
    """Where the problems are: CONFIG_STAGE, or BASES_STAGE once the config itself is valid."""
    last_run: LastRun = field(default_factory=LastRun)
    """What the last ``up`` left (its outputs) and the clock: what the plan compares with."""

    @property
    def summary(self) -> str:
        return f"{len(self.problems)} problem(s) in {self.stage}; nothing was changed"


def validate_stack(
    raw: dict,
    problems_so_far: Sequence[str] = (),
    now: Optional[datetime] = None,
    last_outputs: Optional[Mapping] = None,
) -> Validated:
    """Validate the ``kafka-tls:*`` values (keys without the namespace) and the base files they name.

    Args:
        raw: the raw config values (``stack_config.read_stack_config``).
        problems_so_far: problems found while reading them; a key among them is not reported
            again (as "missing", say).
        now: the time lifetimes are checked at, and the plan's clock (default: now).
        last_outputs: the last ``up``'s outputs ({} or None before the first): changes the hosts
            cannot take from there are problems too, in the same list.

    Returns:
        ``Validated``: its ``problems`` empty when a plan can be made from its config and bases.
    """
    problems = list(problems_so_far)
    try:
        config = validate_config(raw)
    except ConfigError as err:
        config = None
        unread = tuple(p.split(": ", 1)[0] for p in problems)
        problems += [p for p in err.problems if not (unread and p.startswith(unread))]
    if problems or config is None:
        return Validated(None, problems=problems)

    bases = {}
    for key, file, inline in (
        ("serverBaseFile", config.server_base_file, config.server_properties),
        ("connectBaseFile", config.connect_base_file, config.connect_properties),
    ):
        try:
            bases[key] = read_base_properties(file, inline)
        except OSError as err:
            problems.append(
                f"{NAMESPACE}:{key}: cannot read '{file}' ({err.strerror or err}); check the file and its "
                "permissions, or give another path relative to the Pulumi project folder"
            )
    if problems:
        return Validated(config, problems=problems, stage=BASES_STAGE)
    server_base, connect_base = bases["serverBaseFile"], bases["connectBaseFile"]
    last_run = LastRun.from_outputs(last_outputs or {}, now or datetime.now(UTC), generated_ca=config.ca_import is None)
    found = (
        property_problems(config, server_base, connect_base)
        + plan_problems(config, server_base)
        + consistency_problems(config, server_base, now)
        + last_run_problems(config, last_run)
    )
    return Validated(config, server_base, connect_base, _unique(found), BASES_STAGE, last_run)


def _unique(problems: list[str]) -> list[str]:
    return list(dict.fromkeys(problems))


def _base_key(config: ClusterConfig) -> str:
    return "serverBaseFile" if config.server_base_file else "serverProperties"


def plan_problems(config: ClusterConfig, server_base: Mapping[str, str]) -> list[str]:
    """What in the config and the base files would break the brokers' listeners or the rollout
    (properties.listener_problems), once per problem; empty when the plan can be made."""
    base_key = _base_key(config)
    problems: list[str] = []
    for i, host in enumerate(config.brokers):
        where = f"{NAMESPACE}:brokers[{i}]"
        problems += [
            p
            for p in listener_problems(server_base, host.properties, config.tls, where, base_key, config.ssh.port)
            if p not in problems
        ]
    return problems


def consistency_problems(config: ClusterConfig, server_base: Mapping[str, str], now: Optional[datetime] = None) -> list[str]:
    """Settings that are each valid but do not agree with each other, once per problem."""
    return _unique(
        _advertised_name_problems(config, server_base)
        + _path_problems(config, server_base)
        + _quorum_problems(config, server_base)
        + _lifetime_problems(config, now or datetime.now(UTC))
    )


# --- What a certificate names, and what clients dial -------------------------------------------------


def names_host(host: Host, name: str) -> bool:
    """Whether ``name`` (a DNS name or an IP address, IPv6 with or without brackets) is one of the
    SANs of ``host``'s certificate (plan.key_spec: its DNS names and its IP addresses)."""
    name = name.strip().removeprefix("[").removesuffix("]")
    if is_ip_address(name):
        ip = ipaddress.ip_address(name)
        return any(ipaddress.ip_address(a) == ip for a in host.ip_addresses)
    wanted = name.lower().removesuffix(".")
    return any(n.lower() == wanted for n in host.dns_names)


def _sans(host: Host) -> str:
    return ", ".join([*host.dns_names, *host.ip_addresses])


def _san_key(where: str, name: str) -> str:
    bare = name.removeprefix("[").removesuffix("]")
    return f"{where}.{'extraIpAddresses' if is_ip_address(bare) else 'extraDnsNames'}"


def _final_layout(current: Mapping[str, str], config: ClusterConfig) -> Optional[ListenerLayout]:
    """The broker's listeners after TLS; None when listener_problems reports why there are none."""
    try:
        before = ListenerLayout.read(current, config.tls)
        return None if before.is_controller_only else before.with_tls(config.tls)
    except ValueError:
        return None


def _advertised_name_problems(config: ClusterConfig, server_base: Mapping[str, str]) -> list[str]:
    """A host's own advertised.listeners (it wins over the one kafka-tls writes, which advertises the
    host's ``host``): each TLS listener there must be advertised at a name the certificate has."""
    problems = []
    for i, host in enumerate(config.brokers):
        value = host.properties.get("advertised.listeners")
        after = _final_layout({**server_base, **host.properties}, config) if value is not None else None
        if after is None or value is None:
            continue
        try:
            advertised = parse_listeners(value)
        except ValueError:
            continue  # listener_problems reports it
        where = f"{NAMESPACE}:brokers[{i}]"
        unnamed: dict[str, str] = {}
        for listener in advertised:
            name = listener.host.removeprefix("[").removesuffix("]")
            if after.protocol(listener.name) not in _TLS_PROTOCOLS or not name or names_host(host, name):
                continue  # plaintext needs no certificate; an empty host is the machine's own name
            if is_ip_address(name) and address_problem(name):
                continue  # no address a certificate can name (Kafka refuses it to advertise, too)
            unnamed.setdefault(name, listener.url())
        problems += [
            f"{where}.properties.advertised.listeners: {url} tells clients to dial {name}, which {host.name}'s "
            f"certificate does not name (its SANs: {_sans(host)}), so their hostname verification fails; add {name} "
            f"to {_san_key(where, name)}, or advertise the listener at {host.host}"
            for name, url in unnamed.items()
        ]
    return problems


# --- Paths: kafka-tls's own, and Kafka's directories ------------------------------------------------


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _path_problems(config: ClusterConfig, server_base: Mapping[str, str]) -> list[str]:
    """paths.sslDir against the properties files (config.py checks the files inside it) and against
    every broker's log.dirs (or log.dir) and metadata.log.dir."""
    paths, problems = config.paths, []
    ssl_dir = paths.ssl_dir
    files = [("serverProperties", paths.server_properties)]
    if config.connect_workers:
        files.append(("connectProperties", paths.connect_properties))
    problems += [
        f"{NAMESPACE}:paths.sslDir: '{ssl_dir}' is inside paths.{key} ('{file}'), the properties file kafka-tls "
        "writes: one path cannot be a file and a directory; give the SSL directory a path of its own, e.g. /etc/kafka/ssl"
        for key, file in files
        if ssl_dir.startswith(file + "/")
    ]
    base_key = _base_key(config)
    fix = "give paths.sslDir a directory outside log.dirs and metadata.log.dir, e.g. /etc/kafka/ssl"
    for i, host in enumerate(config.brokers):
        current = {**server_base, **host.properties}
        # Kafka reads log.dirs, else log.dir; the metadata log is in metadata.log.dir, else the first of those.
        for key in ("log.dirs" if "log.dirs" in current else "log.dir", "metadata.log.dir"):
            origin = f"{NAMESPACE}:brokers[{i}].properties.{key}" if key in host.properties else f"{NAMESPACE}:{base_key}.{key}"
            for directory in (d.strip() for d in current.get(key, "").split(",")):
                if not directory.startswith("/"):
                    continue
                directory = posixpath.normpath(directory)
                if ssl_dir == directory:
                    problems.append(
                        f"{NAMESPACE}:paths.sslDir: '{ssl_dir}' is Kafka's directory {directory} ({origin}): kafka-tls "
                        f"makes its SSL directory root-owned and 0750, so Kafka could no longer write its data there; {fix}"
                    )
                elif _inside(ssl_dir, directory):
                    problems.append(
                        f"{NAMESPACE}:paths.sslDir: '{ssl_dir}' is inside Kafka's directory {directory} ({origin}), "
                        "which must hold Kafka's data only: Kafka takes each directory in it for a partition's log and "
                        f"takes the log directory offline at one it cannot read as such; {fix}"
                    )
    return problems


# --- The KRaft quorum and the brokers' node ids ---------------------------------------------------------


@dataclass(frozen=True)
class _Voter:
    id: int
    host: str
    port: int
    text: str


def _roles(props: Mapping[str, str]) -> frozenset[str]:
    return frozenset(r.strip().lower() for r in props.get("process.roles", "").split(",") if r.strip())


def _quorum_problems(config: ClusterConfig, server_base: Mapping[str, str]) -> list[str]:
    """A static quorum (controller.quorum.voters) against the brokers of the combined nodes: each
    controller's node id is a voter, that voter is not at another broker's host (and at one of the
    names its certificate has when the controller listener is TLS), and no voter is a broker without
    the controller role. (Each nodeId being unique is validate_config's rule.) A dynamic quorum
    (controller.quorum.bootstrap.servers) has no ids to check; voters that are not among
    kafka-tls's brokers (controller-only nodes) are not checked either."""
    base_key = _base_key(config)
    merged = [{**server_base, **host.properties} for host in config.brokers]
    problems: list[str] = []
    for i, host in enumerate(config.brokers):
        current, where = merged[i], f"{NAMESPACE}:brokers[{i}]"
        roles = _roles(current)
        if "controller" not in roles or roles == {"controller"} or current.get("controller.quorum.bootstrap.servers", "").strip():
            continue  # not a combined node (a controller-only one is listener_problems'), or a dynamic quorum
        key = "controller.quorum.voters"
        voters_key = f"{where}.properties.{key}" if key in host.properties else f"{NAMESPACE}:{base_key}.{key}"
        after = _final_layout(current, config)
        controller = after.listener(after.controller) if after is not None else None
        port = controller.port if controller is not None else config.tls.controller_port
        # What the brokers say the voters are (the same for every broker that shares the base).
        example = ",".join(
            f"{b.node_id}@{b.host}:{port}"
            for b, props in zip(config.brokers, merged, strict=True)
            if "controller" in _roles(props)
        )
        if not current.get(key, "").strip():
            problems.append(
                f"{voters_key}: missing, while process.roles has controller: Kafka does not start a "
                f"controller without its quorum; add controller.quorum.voters (id@host:port of every controller, e.g. "
                f"{example}) or controller.quorum.bootstrap.servers"
            )
            continue
        voters, bad = [], []
        for entry in (e.strip() for e in current[key].split(",")):
            match = _VOTER.fullmatch(entry)
            if match:
                voters.append(_Voter(int(match["id"]), match["host"].strip("[]"), int(match["port"]), entry))
            else:
                bad.append(entry)
        if bad:
            problems.append(
                f"{voters_key}: '{bad[0]}' is not id@host:port; write the voters as id@host:port, comma-separated, e.g. {example}"
            )
            continue
        problems += _voter_problems(config, merged, i, voters, voters_key, after, port)
    return problems


def _voter_problems(
    config: ClusterConfig,
    merged: list[dict[str, str]],
    i: int,
    voters: list[_Voter],
    voters_key: str,
    after: Optional[ListenerLayout],
    port: int,
) -> list[str]:
    brokers, host, where = config.brokers, config.brokers[i], f"{NAMESPACE}:brokers[{i}]"
    problems = []
    own = next((v for v in voters if names_host(host, v.host)), None)
    mine = next((v for v in voters if v.id == host.node_id), None)
    if mine is None:
        fix = (
            f"set nodeId to {own.id}, the id {voters_key} gives {own.host} (if that is the node.id in its "
            "meta.properties), or correct that voter"
            if own
            else f"add {host.node_id}@{host.host}:{port} to {voters_key}"
        )
        problems.append(
            f"{where}.nodeId: {host.node_id} is not a voter in {voters_key} (ids {', '.join(str(v.id) for v in voters)}), "
            f"although {host.name}'s process.roles has controller: Kafka does not start a controller outside its "
            f"static quorum; {fix}"
        )
    elif not names_host(host, mine.host):
        other = next((j for j, b in enumerate(brokers) if j != i and names_host(b, mine.host)), None)
        if other is not None:
            problems.append(
                f"{where}.nodeId: {host.node_id} is the voter {mine.text} in {voters_key}, which is "
                f"{brokers[other].name}'s host ({NAMESPACE}:brokers[{other}]), not {host.host}: the quorum would dial "
                f"node {host.node_id} at another broker; set each broker's nodeId to the id its own host has in the voters"
                + (f" ({host.host}: {own.id})" if own else "")
            )
        elif after is not None and after.protocol(after.controller) in _TLS_PROTOCOLS:
            problems.append(
                f"{voters_key}: voter {mine.text} names {mine.host}, which {host.name}'s certificate does not name (its "
                f"SANs: {_sans(host)}): with the controller listener {after.controller} on TLS, peers dialling node "
                f"{host.node_id} fail hostname verification; add {mine.host} to {_san_key(where, mine.host)}, or name "
                f"{host.host} in the voter"
            )
    for v in voters:
        j = next((j for j, b in enumerate(brokers) if b.node_id == v.id), None)
        roles = _roles(merged[j]) if j is not None else frozenset()
        if j is not None and roles and "controller" not in roles:
            problems.append(
                f"{voters_key}: voter {v.text} is node {v.id}, {brokers[j].name} ({NAMESPACE}:brokers[{j}].nodeId), "
                "whose process.roles has no controller: the quorum would count a vote that never comes; remove it "
                "from the voters, or give that node the controller role"
            )
    return problems


# --- Lifetimes: no certificate outlives its CA ---------------------------------------------------------


def _lifetime_problems(config: ClusterConfig, now: datetime) -> list[str]:
    """Client certificates with their own validityDays against the CA (host certificates, and
    clients on tls.certValidityDays, are validate_config's: that message covers them too)."""
    problems = []
    if config.ca_import is None:
        limit = config.ca.validity_days
        for i, client in enumerate(config.clients):
            if client.validity_days is not None and client.validity_days > limit:
                problems.append(
                    f"{NAMESPACE}:clients[{i}].validityDays: {client.validity_days} days is longer than the CA lives "
                    f"({NAMESPACE}:ca.validityDays: {limit}): pulumi-tls would issue a certificate that outlives its "
                    f"issuer, refused once the CA has expired; set it to at most {limit}, or raise ca.validityDays"
                )
        return problems
    not_after = x509.load_pem_x509_certificate(config.ca_import.cert_pem.encode()).not_valid_after_utc
    left = (not_after - now).days
    for i, client in enumerate(config.clients):
        if client.validity_days is not None and now + timedelta(days=client.validity_days) > not_after:
            problems.append(
                f"{NAMESPACE}:clients[{i}].validityDays: {client.validity_days} days would end after the imported CA "
                f"({NAMESPACE}:caImport.certPem expires on {not_after:%Y-%m-%d}, in {left} days): pulumi-tls would issue "
                "a certificate that outlives its issuer, refused once the CA has expired; set it to at most "
                f"{max(left, 1)}, or give a CA valid for longer"
            )
    return problems
