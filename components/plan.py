"""The plan: what kafka-tls does to each host, as plain data.

Pure: validated config (and the user's base properties) in, a ``ClusterPlan`` out. No Pulumi
here. The plan says, per host, which files to write (path, mode, owner, plain text or which
secret), which key and stores to make, and the ordered restart steps with their triggers.
Components only turn it into resources; unit tests read it directly.

``explain`` compares the fingerprints of the last deployed plan with this one and says, per
host and in rollout order, whether this change restarts it and why. It is exported as the
``restart_plan`` stack output, so ``pulumi preview --diff`` ends with exactly that.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum
from typing import Mapping, Optional

from components.config import NAMESPACE, ClusterConfig, Host, StoreType, Tls
from components.properties import (
    StoreLocations,
    client_settings,
    listener_problems,
    parse_properties,
    render_connect_properties,
    render_server_properties,
    TOOL_CONFIG_NAME,
    render_tool_properties,
    rollout_stages,
    ssl_bootstrap_servers,
    tls_listener_is_sasl,
    tls_listener_port,
)
from components.scripts import KeySpec, pem_key_path


class Role(str, Enum):
    BROKER = "broker"
    CONNECT = "connect"


class Secret(str, Enum):
    """Secret file contents the stack supplies at deploy time (never in the plan)."""

    STORE_PASSWORDS = "store passwords"


@dataclass(frozen=True)
class FileSpec:
    """One file kafka-tls writes on a host."""

    path: str
    mode: str
    """Octal, as chmod takes it ("640")."""
    owner: str
    """user:group; empty keeps the SSH user's."""
    text: Optional[str] = None
    """Plain content (shown in previews); None when ``secret`` says what goes in."""
    secret: Optional[Secret] = None
    restore_on_delete: bool = False
    """destroy puts back the file found before kafka-tls first wrote it (else removes it)."""


@dataclass(frozen=True)
class RestartStep:
    """One host's restart in the rollout; the next step starts only once this one passed."""

    host: str
    role: Role
    stage: str
    """'stage1', 'stage2' (the plaintext-to-SSL stages), 'final', or 'reload' (a broker loads its
    re-issued certificate without a restart)."""
    properties: FileSpec
    """The properties file this restart makes the service read."""
    gated: bool
    """Wait for the TLS health gate (brokers) before the next step."""
    skip_if_inter_broker_ssl: bool = False
    """A stage step: skipped on a host already replicating over SSL (it is past the stage)."""


@dataclass(frozen=True)
class HostPlan:
    host: Host
    role: Role
    key: KeySpec
    locations: StoreLocations
    secrets_file: FileSpec
    properties: FileSpec
    """The final properties file."""
    tls_port: Optional[int] = None
    """Brokers: the port their TLS listener serves on (the health gate dials it)."""
    tool_config: Optional[FileSpec] = None
    """Brokers: the client config of the health gate's Kafka tools (None: the TLS listener needs
    SASL credentials kafka-tls does not have, so the gate checks the certificate only)."""

    @property
    def stores_stamp(self) -> str:
        """Digests of the stores the broker loaded last (scripts.reload_stores_script)."""
        return f"{self.locations.keystore.rsplit('/', 1)[0]}/kafka-tls-stores.loaded"

    @property
    def restart_pending(self) -> str:
        """Marks a restart begun and not yet through its gate (scripts.resume_or)."""
        return f"{self.locations.keystore.rsplit('/', 1)[0]}/kafka-tls-restart.pending"

    @property
    def name(self) -> str:
        return self.host.name


@dataclass(frozen=True)
class ClusterPlan:
    hosts: tuple[HostPlan, ...]
    steps: tuple[RestartStep, ...]
    """Every restart, in the order they run."""
    ssl_bootstrap_servers: str
    client_settings: dict

    def host(self, name: str) -> HostPlan:
        return next(h for h in self.hosts if h.name == name)


def key_spec(host: Host, tls: Tls) -> KeySpec:
    return KeySpec(
        alias=host.name,
        common_name=host.host,
        dns_names=tuple(host.dns_names),
        ip_addresses=tuple(host.ip_addresses),
        algorithm=tls.key_algorithm,
        rsa_bits=tls.rsa_bits,
        validity_days=tls.cert_validity_days,
    )


def plan(config: ClusterConfig, server_base: Mapping[str, str], connect_base: Mapping[str, str]) -> ClusterPlan:
    """What to do to every host, and in which order to restart them."""
    tls, paths = config.tls, config.paths
    locations = StoreLocations.for_host(paths, tls.store_type)
    bootstrap = ssl_bootstrap_servers(config.brokers, tls, server_base)
    secrets_file = FileSpec(locations.secrets_file, "600", paths.owner, secret=Secret.STORE_PASSWORDS)

    def properties_file(path: str, text: str) -> FileSpec:
        return FileSpec(path, "640", paths.owner, text=text, restore_on_delete=True)

    tool_config = FileSpec(f"{paths.ssl_dir}/{TOOL_CONFIG_NAME}", "640", paths.owner, text=render_tool_properties(locations, tls))

    hosts = []
    for host in config.brokers:
        text = render_server_properties(server_base, host, tls, locations)
        tools = None if tls_listener_is_sasl(server_base, host, tls) else tool_config
        hosts.append(HostPlan(host, Role.BROKER, key_spec(host, tls), locations, secrets_file,
                              properties_file(paths.server_properties, text), tls_listener_port(server_base, host, tls),
                              tools))
    for host in config.connect_workers:
        text = render_connect_properties(connect_base, host, tls, locations, bootstrap, config.schema_registry_url)
        hosts.append(HostPlan(host, Role.CONNECT, key_spec(host, tls), locations, secrets_file,
                              properties_file(paths.connect_properties, text)))

    brokers = [h for h in hosts if h.role is Role.BROKER]
    steps: list[RestartStep] = []
    # The plaintext-to-SSL stages: each rolls through every broker before the next starts.
    for number, stage in enumerate(rollout_stages(tls), start=1):
        for h in brokers:
            text = render_server_properties(server_base, h.host, stage, locations)
            steps.append(RestartStep(h.name, Role.BROKER, f"stage{number}", properties_file(paths.server_properties, text),
                                     gated=True, skip_if_inter_broker_ssl=True))
    steps += [RestartStep(h.name, Role.BROKER, "final", h.properties, gated=True) for h in brokers]
    # A re-issued certificate (renewal, new CA) reaches a running broker without a restart: its
    # stores are reloaded through a dynamic config update (KIP-226), one broker at a time.
    steps += [RestartStep(h.name, Role.BROKER, "reload", h.properties, gated=True) for h in brokers if h.tool_config]
    # Workers move to SSL only once every broker serves it.
    steps += [RestartStep(h.name, Role.CONNECT, "final", h.properties, gated=True)
              for h in hosts if h.role is Role.CONNECT]
    return ClusterPlan(tuple(hosts), tuple(steps), bootstrap, client_settings(config.brokers, tls, server_base))


def plan_problems(config: ClusterConfig, server_base: Mapping[str, str]) -> list[str]:
    """What in the config and the base files would break the brokers' listeners or the rollout
    (properties.listener_problems), once per problem; empty when the plan can be made."""
    base_key = "serverBaseFile" if config.server_base_file else "serverProperties"
    problems: list[str] = []
    for i, host in enumerate(config.brokers):
        where = f"{NAMESPACE}:brokers[{i}]"
        problems += [p for p in listener_problems(server_base, host.properties, config.tls, where, base_key, config.ssh.port)
                     if p not in problems]
    return problems


# --- What a change restarts, and why ---------------------------------------------------------


def _short(value: object) -> str:
    return hashlib.sha256(str(value).encode()).hexdigest()[:16]


def managed_paths(host: HostPlan) -> dict[str, str]:
    """Every file (and the directory) kafka-tls keeps on the host, by kind."""
    loc = host.locations
    paths = {
        "ssl_dir": loc.keystore.rsplit("/", 1)[0],
        "keystore": loc.keystore,
        "truststore": loc.truststore,
        "secrets": loc.secrets_file,
        "properties": host.properties.path,
    }
    if host.tool_config:
        paths["tool_config"] = host.tool_config.path
    if loc.store_type is StoreType.PEM:
        paths["key"] = pem_key_path(loc)
    return paths


def left_behind(previous: Optional[Mapping[str, dict]], host: HostPlan) -> dict[str, str]:
    """The files the last ``up`` kept on this host that this plan no longer uses (a path or
    store type changed): kind -> old path. Removed once the host runs on its new files."""
    before = ((previous or {}).get(host.name) or {}).get("files") or {}
    now = managed_paths(host)
    return {kind: path for kind, path in before.items() if path not in now.values()}


def fingerprint(host: HostPlan, ca_spec: str, trust_spec: str = "") -> dict:
    """What this host's service reads, reduced to digests: the restart triggers, by name.

    ``ca_spec`` describes the CA that issues the host's certificate (its settings, or the imported
    certificate); ``trust_spec`` the set of CAs its truststore holds (two during a CA rotation).
    Passwords are not here: their digest stays a secret (see ``explain``). ``files`` are the
    paths in use, so the next ``up`` knows what a path change left behind.
    """
    k = host.key
    return {
        "files": managed_paths(host),
        "properties": {key: _short(value) for key, value in parse_properties(host.properties.text or "").items()},
        "certificate": {
            "subject": _short(k.common_name),
            "sans": _short(k.keytool_san),
            "key": _short(f"{k.algorithm.value}/{k.rsa_bits}"),
            "validity": _short(k.validity_days),
            "ca": _short(ca_spec),
            "stores": _short(f"{host.locations.store_type.value}:{host.locations.keystore}:{host.locations.truststore}"),
        },
        "trust": _short(trust_spec),
    }


def _changed_keys(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    return ", ".join(sorted(k for k in {*before, *after} if before.get(k) != after.get(k)))


def explain(
    cluster: ClusterPlan,
    previous: Optional[Mapping[str, dict]],
    current: Mapping[str, dict],
    passwords_changed: bool = False,
) -> list[str]:
    """One line per host, in rollout order: 'broker-2: restart (properties changed: listeners)'
    or 'broker-3: nothing'. One line each, so a preview diff reads like a change summary.

    Args:
        previous: the fingerprints exported by the last ``up`` (None for a first ``up``).
        current: this plan's fingerprints (``fingerprint``), by host name.
        passwords_changed: the store passwords differ from the last ``up``'s.
    """
    out: list[str] = []
    seen: set[str] = set()
    stages = {s.host: [] for s in cluster.steps}
    for s in cluster.steps:
        stages[s.host].append(s.stage)
    for step in cluster.steps:
        if step.host in seen:
            continue
        seen.add(step.host)
        before = (previous or {}).get(step.host)
        now = current[step.host]
        if before is None:
            staged = [s for s in stages[step.host] if s.startswith("stage")]
            how = f" (from plaintext: {len(staged) + 1} restarts unless already on SSL)" if staged else ""
            reasons = [f"new host: first TLS rollout{how}"]
        else:
            reasons = []
            if keys := _changed_keys(before.get("properties", {}), now["properties"]):
                reasons.append(f"properties changed: {keys}")
            if keys := _changed_keys(before.get("certificate", {}), now["certificate"]):
                reasons.append(f"certificate re-issued: {keys} changed")
            if before.get("trust", now["trust"]) != now["trust"]:
                reasons.append("trusted CAs changed")
            if passwords_changed:
                reasons.append("store passwords changed")
            if old := left_behind(previous, cluster.host(step.host)):
                reasons.append(f"then removes the old {', '.join(sorted(old.values()))}")
        action = "restart"
        if reasons and before is not None and "reload" in stages[step.host] and _reload_is_enough(before, now, passwords_changed):
            action = "reload, no restart"
        out.append(f"{step.host}: {action} ({'; '.join(reasons)})" if reasons else f"{step.host}: nothing")
    return out


def _reload_is_enough(before: Mapping[str, dict], now: Mapping[str, dict], passwords_changed: bool) -> bool:
    """Only the certificate's validity or its CA changed: the same key, subject and SANs, which a
    running broker takes through a dynamic keystore update (KIP-226)."""
    if passwords_changed or _changed_keys(before.get("properties", {}), now["properties"]):
        return False
    changed = _changed_keys(before.get("certificate", {}), now["certificate"])
    return set(filter(None, changed.split(", "))) <= RELOADABLE


RELOADABLE = {"validity", "ca"}
"""Certificate fingerprint keys whose change a broker takes by reloading its stores."""
