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
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Optional

from components.ca_rotation import Phase, Rotation
from components.cert_info import digest, not_after
from components.config import ClusterConfig, Host, KeyCustody, ListenerMode, Protocol, StoreType, Tls
from components.properties import (
    TOOL_CONFIG_NAME,
    ControllerStage,
    StoreLocations,
    client_settings,
    controller_moves,
    controller_tls_port,
    gate_tools_port,
    parse_properties,
    render_connect_properties,
    render_server_properties,
    render_tool_properties,
    rollout_stages,
    ssl_bootstrap_servers,
    tls_listener_is_sasl,
    tls_listener_port,
)
from components.roll_order import ClusterReading, ReadCluster
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


class Action(str, Enum):
    """What a step does to its host in this ``up``, strongest first."""

    RESTART = "restart"
    RELOAD = "reload"
    """The broker loads re-issued stores through a dynamic config update: no restart."""
    REWRITE = "rewrite"
    """Only the step's script changed (restart command, gate, SSH): the file is written again, no restart."""
    NOTHING = "nothing"


class Trigger(str, Enum):
    """A value whose change re-runs a step (a replace, which restarts or reloads). The plan says
    which a step has; cluster.py supplies each one's value, so a trigger means one thing."""

    PROPERTIES_PATH = "properties path"
    PROPERTIES_TEXT = "properties text"
    STORE_PASSWORDS = "store passwords"
    KEY_IDENTITY = "key identity"
    """Subject, SANs and key algorithm: what a broker cannot take by a reload."""
    ISSUED_CERTIFICATE = "issued certificate"
    """The certificate and the CA that ends its chain, as issued."""
    TRUSTED_CAS = "trusted CAs"


# The order is the state's: a step whose trigger list changes shape is replaced (restarted).
BROKER_RESTART_TRIGGERS = (Trigger.PROPERTIES_PATH, Trigger.PROPERTIES_TEXT, Trigger.STORE_PASSWORDS, Trigger.KEY_IDENTITY)
WORKER_RESTART_TRIGGERS = (
    Trigger.PROPERTIES_PATH,
    Trigger.PROPERTIES_TEXT,
    Trigger.STORE_PASSWORDS,
    Trigger.ISSUED_CERTIFICATE,
    Trigger.TRUSTED_CAS,
)
RELOAD_TRIGGERS = (Trigger.ISSUED_CERTIFICATE, Trigger.TRUSTED_CAS)


@dataclass(frozen=True)
class RestartStep:
    """One host's restart (or reload) in the rollout; the next step starts only once this one passed."""

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
    back: bool = False
    """A stage back from SSL-only listeners (``back_stage``): skipped on a host no longer
    replicating over TLS (it is past the stage)."""
    triggers: tuple[Trigger, ...] = ()
    """What re-runs the step (none for a stage: it runs once, when created)."""
    action: Action = Action.RESTART
    """What this ``up`` does with the step, decided by ``decide`` from the last ``up``."""
    reasons: tuple[str, ...] = ()
    """Why the host's service reads something new (the same for every step of the host)."""
    wave: int = 0
    """Steps of one wave run at once; a wave starts once the one before passed (``waves``)."""
    left_behind: tuple[tuple[str, str], ...] = ()
    """A final step: what the last ``up`` kept at paths no longer used (kind, path), removed
    once the host runs on its new files."""
    controller: Optional[ControllerStage] = None
    """A controller step ('controller1', 'controller2'): the stage it takes the controller
    listener to; skipped on a host already there (it is past the stage)."""
    label: str = ""
    """What the step's restart is part of, for ``rollout_waves`` ('controller TLS, stage 2 of 3')."""

    @property
    def key(self) -> str:
        """The step's name within the rollout (stage and host)."""
        return f"{self.stage}-{self.host}"


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
    SASL credentials kafka-tls does not have and no plaintext listener is kept, so the gate checks
    the certificate only)."""
    tools_port: Optional[int] = None
    """Brokers with ``tool_config``: the port its Kafka tools dial (properties.gate_tools_port)."""

    @property
    def gate_tools_elsewhere(self) -> Optional[int]:
        """The port the gate's tools dial when it is not the TLS listener's (SASL_SSL), else None."""
        return self.tools_port if self.tool_config is not None and self.tools_port != self.tls_port else None

    reloads: bool = False
    """Brokers: a re-issued certificate is reloaded, no restart. Not where the TLS listener is
    SASL_SSL: those restart, as they always have (a step whose triggers changed shape would be
    replaced, a restart no preview would announce). Nor on a KRaft controller on TLS: Kafka 4.4's
    Raft client reads its keystore and truststore at start only (its listener reloads, its
    outbound connections keep the old certificate and trust), so those restart one at a time."""
    controller_tls_port: Optional[int] = None
    """Brokers that are KRaft controllers on TLS: their controller listener's port (the gate
    checks its certificate too)."""
    repair: str = ""
    """What drifted on the host, as the config's ``repair`` said it (kept from the last ``up``
    once the config no longer says it): part of the final step's properties trigger, so a new
    note re-runs that step once and the same note never again."""

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
    """Every restart and reload, in the order they run, each with what this ``up`` does with it."""
    ssl_bootstrap_servers: str
    client_settings: dict
    fingerprints: Mapping[str, dict] = field(default_factory=dict)
    """Per host what its service reads, as digests: the ``rollout_fingerprints`` output, which
    the next ``up`` compares with (``decide``)."""
    removed: tuple[str, ...] = ()
    """Hosts the last ``up`` rolled out that the config no longer lists: their resources go."""
    order: str = ""
    """How the brokers were ordered ('' when no reading was asked for: the config's order)."""

    @property
    def ssl_controller_servers(self) -> str:
        """host:port of every KRaft controller's TLS controller listener ('' while none is on TLS)."""
        return ",".join(f"{h.host.host}:{h.controller_tls_port}" for h in self.hosts if h.controller_tls_port)

    def host(self, name: str) -> HostPlan:
        return next(h for h in self.hosts if h.name == name)

    def restart_plan(self) -> list[str]:
        """One line per host, in rollout order: 'broker-2: restart (properties changed: listeners)',
        'broker-1: reload, no restart (...)', 'broker-3: nothing'. Read from the steps themselves,
        so the preview says what the steps do."""
        out = []
        for name in dict.fromkeys(s.host for s in self.steps):
            steps = [s for s in self.steps if s.host == name]
            action = min((s.action for s in steps), key=list(Action).index)
            reasons = "; ".join(steps[0].reasons)
            out.append(f"{name}: {_ACTION_WORDS[action]} ({reasons})" if action is not Action.NOTHING else f"{name}: nothing")
        # Deleting a host's resources puts its original properties file back and removes what
        # kafka-tls wrote; its service keeps what it runs until someone restarts it.
        out += [
            f"{name}: {REMOVED} (original properties file put back, kafka-tls files removed; not restarted)"
            for name in self.removed
        ]
        return out

    def rollout_waves(self) -> list[str]:
        """The order this ``up`` touches hosts in, one line per wave that does something:
        '1: broker-2 (restart)', '4: broker-1 (reload, canary)', '5: broker-2, broker-3 (reload)'."""
        lines: list[str] = [f"order: {self.order}"] if self.order else []
        first_reload = True
        for number in dict.fromkeys(s.wave for s in self.steps):
            busy = [s for s in self.steps if s.wave == number and s.action is not Action.NOTHING]
            if not busy:
                continue
            action = busy[0].action.value
            canary = ""
            if busy[0].stage == "reload":
                canary, first_reload = (", canary" if first_reload else ""), False
            label = f", {busy[0].label}" if busy[0].label else ""
            lines.append(f"{len(lines) + (0 if self.order else 1)}: {', '.join(s.host for s in busy)} ({action}{canary}{label})")
        return lines


REIMAGED = "re-imaged: a new SSH host key ({key})"
"""The repair note of a host whose SSH host key changed (plan.plan): each new key repairs once."""

RAFT_RESTART = "a restart, not a reload: the KRaft controller's Raft client reads its certificate and CAs at start only"
"""Why a KRaft controller on TLS restarts where a broker reloads (HostPlan.reloads)."""

REMOVED = "removed"
"""The ``restart_plan`` word for a host gone from the config."""

_ACTION_WORDS = {
    Action.RESTART: "restart",
    Action.RELOAD: "reload, no restart",
    Action.REWRITE: "rewrite, no restart",
}


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


def plan(
    config: ClusterConfig,
    server_base: Mapping[str, str],
    connect_base: Mapping[str, str],
    last: Optional[LastRun] = None,
    rotation: Optional[Rotation] = None,
    read_cluster: Optional[ReadCluster] = None,
) -> ClusterPlan:
    """What to do to every host, in which order, and (from what the last ``up`` left, ``last``)
    what this ``up`` does with each step and why. ``rotation``: the CA rotation phase of this
    ``up`` (None: no rotation, as under the unit tests' mocks). ``read_cluster``: reads what the
    brokers show (down ones, the quorum leader) for the order they roll in; called only when this
    ``up`` takes a broker down (None: the config's order)."""
    tls, paths = config.tls, config.paths
    locations = StoreLocations.for_host(paths, tls.store_type)
    bootstrap = ssl_bootstrap_servers(config.brokers, tls, server_base)
    secrets_file = FileSpec(locations.secrets_file, "600", paths.owner, secret=Secret.STORE_PASSWORDS)

    def properties_file(path: str, text: str) -> FileSpec:
        return FileSpec(path, "640", paths.owner, text=text, restore_on_delete=True)

    def tool_config(protocol: str) -> FileSpec:
        text = render_tool_properties(locations, tls, protocol)
        return FileSpec(f"{paths.ssl_dir}/{TOOL_CONFIG_NAME}", "640", paths.owner, text=text)

    last = last or LastRun()

    def repair(host: Host) -> str:
        before = (last.fingerprints or {}).get(host.name) or {}
        # A new SSH host key: the host was rebuilt (its stores and files are gone), so all of it
        # is written again and it restarts, as a repair does. Older fingerprints lack the key.
        key = short_digest(host.host_key)
        rebuilt = before.get("host_key", key) != key
        return config.repair.get(host.name) or (REIMAGED.format(key=key) if rebuilt else before.get("repair", ""))

    hosts = []
    for host in config.brokers:
        text = render_server_properties(server_base, host, tls, locations)
        sasl = tls_listener_is_sasl(server_base, host, tls)
        controller_port = controller_tls_port(server_base, host, tls)
        tools_port = gate_tools_port(server_base, host, tls)
        tools = tool_config("PLAINTEXT" if sasl else "SSL") if tools_port is not None else None
        hosts.append(
            HostPlan(
                host,
                Role.BROKER,
                key_spec(host, tls),
                locations,
                secrets_file,
                properties_file(paths.server_properties, text),
                tls_listener_port(server_base, host, tls),
                tools,
                tools_port,
                not sasl and controller_port is None,
                controller_port,
                repair(host),
            )
        )
    for host in config.connect_workers:
        text = render_connect_properties(connect_base, host, tls, locations, bootstrap, config.schema_registry_url)
        properties = properties_file(paths.connect_properties, text)
        hosts.append(HostPlan(host, Role.CONNECT, key_spec(host, tls), locations, secrets_file, properties, repair=repair(host)))

    brokers = [h for h in hosts if h.role is Role.BROKER]
    moving = {h.name for h in brokers if controller_moves(server_base, h.host, tls)}
    # A stage rendered for a host the last up left on the TLS controller listener alone keeps it so:
    # the plaintext one back first would be dialled at peers that no longer have it.
    moved = {name for name, f in (last.fingerprints or {}).items() if _on_tls_controller(f, tls.controller_ssl_listener)}

    def stage_controller(h: HostPlan) -> ControllerStage:
        return ControllerStage.ADDED if h.name in moving and h.name not in moved else ControllerStage.DONE

    steps: list[RestartStep] = []
    # The plaintext-to-SSL stages: each rolls through every broker before the next starts. They
    # add a moving controller listener's TLS one too (its first stage), so it costs no roll of its own.
    for number, stage in enumerate(rollout_stages(tls), start=1):
        for h in brokers:
            text = render_server_properties(server_base, h.host, stage, locations, stage_controller(h))
            steps.append(
                RestartStep(
                    h.name,
                    Role.BROKER,
                    f"stage{number}",
                    properties_file(paths.server_properties, text),
                    gated=True,
                    skip_if_inter_broker_ssl=True,
                )
            )
    # Back from SSL-only listeners to plaintext replication: every broker first gets its plaintext
    # listener back while replicating over TLS, so none replicates over a listener its peers lack.
    if way_back := back_stage(tls):
        steps += [
            RestartStep(
                h.name,
                Role.BROKER,
                "back1",
                properties_file(
                    paths.server_properties,
                    render_server_properties(server_base, h.host, way_back, locations, stage_controller(h)),
                ),
                gated=True,
                back=True,
            )
            for h in brokers
            if ((last.fingerprints or {}).get(h.name) or {}).get("layout", {}).get("ssl_only")
        ]
    # The controller listener to TLS (KIP-853): every node accepts the TLS listener, then every
    # node dials it, then (the final step) the plaintext one goes; the quorum keeps its majority.
    for controller in (ControllerStage.ADDED, ControllerStage.FIRST):
        steps += [
            RestartStep(
                h.name,
                Role.BROKER,
                f"controller{controller.value}",
                properties_file(
                    paths.server_properties, render_server_properties(server_base, h.host, tls, locations, controller)
                ),
                gated=True,
                controller=controller,
            )
            for h in brokers
            if h.name in moving
        ]
    steps += [
        RestartStep(
            h.name,
            Role.BROKER,
            "final",
            h.properties,
            gated=True,
            triggers=BROKER_RESTART_TRIGGERS if h.reloads else WORKER_RESTART_TRIGGERS,
        )
        for h in brokers
    ]
    # A re-issued certificate (renewal, new CA) reaches a running broker without a restart: its
    # stores are reloaded through a dynamic config update (KIP-226), one broker at a time.
    steps += [
        RestartStep(h.name, Role.BROKER, "reload", h.properties, gated=True, triggers=RELOAD_TRIGGERS)
        for h in brokers
        if h.reloads
    ]
    # Workers move to SSL only once every broker serves it.
    steps += [
        RestartStep(h.name, Role.CONNECT, "final", h.properties, gated=True, triggers=WORKER_RESTART_TRIGGERS)
        for h in hosts
        if h.role is Role.CONNECT
    ]

    issuer, trusted = issuer_spec(config, rotation), trust_spec(rotation)
    fingerprints = {}
    for h in hosts:
        before = (last.fingerprints or {}).get(h.name)
        fingerprints[h.name] = fingerprint(
            h,
            issuer,
            trusted,
            custody=tls.key_custody.value,
            settings=_settings_digest(config, h),
            steps=tuple(s.key for s in steps if s.host == h.name),
            renewal=_renewal_token(before, "renewal", last.not_after.get(h.name), tls.cert_early_renewal_days, last.now),
            ca_renewal=_renewal_token(before, "ca_renewal", last.ca_not_after, config.ca.early_renewal_days, last.now),
            layout={"ssl_only": tls.listeners is ListenerMode.SSL_ONLY if h.role is Role.BROKER else False},
            repair=h.repair,
        )
    reissuing = rotation is not None and rotation.phase is Phase.REISSUED
    steps = decide(
        steps, hosts, last, fingerprints, store_password_digest(config), tls.listener_name, reissuing, tls.controller_ssl_listener
    )
    # The order needs the brokers read only when this up takes one down.
    restarts = any(s.role is Role.BROKER and s.action is Action.RESTART for s in steps)
    steps, order = roll_order(steps, brokers, read_cluster(brokers) if read_cluster and restarts else None)
    # A CA rotation's phases change what brokers trust each other by: one broker at a time.
    rotating = rotation is not None and (rotation.phase is not Phase.STEADY or rotation.dropping_old)
    steps = waves(steps, 1 if rotating else config.restart.reload_batch_size)
    removed = tuple(name for name in (last.fingerprints or {}) if name not in fingerprints)
    settings = client_settings(config.brokers, tls, server_base)
    return ClusterPlan(tuple(hosts), tuple(steps), bootstrap, settings, fingerprints, removed, order)


def roll_order(
    steps: list[RestartStep], brokers: list[HostPlan], reading: Optional[ClusterReading]
) -> tuple[list[RestartStep], str]:
    """The brokers of each stage in the order they roll (roll_order.py): down or failing first,
    the quorum leader last, else as configured; each moved broker's steps say why. Also the line
    that says how the order was made ('' without a reading)."""
    if reading is None:
        return steps, ""
    if reading.unread:
        return steps, f"as configured ({reading.unread})"
    leader_id = reading.leader_id()
    leader = next((h.name for h in brokers if leader_id is not None and h.host.node_id == leader_id), None)
    down = {name: s.down for name, s in reading.brokers.items() if s.down}
    rank = {name: 0 if name in down else 2 if name == leader else 1 for name in (h.name for h in brokers)}
    # Said where it decides something this up: a down broker that acts; the leader when another
    # broker acts too (alone, "last" would say nothing).
    acting = {s.host for s in steps if s.role is Role.BROKER and s.action is not Action.NOTHING}
    why = {name: f"down, so first: {what}" for name, what in down.items() if name in acting}
    if leader in acting and leader not in down and len(acting) > 1:
        why[leader] = f"quorum leader (node {leader_id}), so last"
    groups = {(s.stage, s.role): i for i, s in reversed(list(enumerate(steps)))}
    ordered = sorted(
        (replace(s, reasons=(*s.reasons, why[s.host])) if s.host in why else s for s in steps),
        key=lambda s: (groups[(s.stage, s.role)], rank[s.host] if s.role is Role.BROKER else 1),
    )
    told = [f"down or failing first ({', '.join(down)})"] if down else []
    told.append(f"quorum leader last ({leader})" if leader and leader not in down else "quorum leader not known")
    return ordered, ", ".join(told)


def back_stage(tls: Tls) -> Optional[Tls]:
    """The intermediate config on the way back from SSL-only listeners to plaintext replication:
    both listeners, replication still on TLS. None when replication stays on TLS."""
    if tls.inter_broker_protocol is not Protocol.PLAINTEXT:
        return None
    return tls.model_copy(update={"listeners": ListenerMode.PLAINTEXT_AND_SSL, "inter_broker_protocol": Protocol.SSL})


def waves(steps: list[RestartStep], reload_batch: int) -> list[RestartStep]:
    """Number the steps' waves. Each step is a wave of its own, except the reloads: a reload takes
    no broker down, so after one broker (the canary) reloaded and passed its gate, the others
    reload ``reload_batch`` at a time (0: all at once), each behind its own gate. A failed
    canary stops the rest. Reloads that have nothing to do go with the canary."""
    reloading = [s.key for s in steps if s.stage == "reload" and s.action is Action.RELOAD]
    batch = reload_batch or max(len(reloading) - 1, 1)
    wave_of = {key: 1 + (0 if i == 0 else 1 + (i - 1) // batch) for i, key in enumerate(reloading)}
    out, wave, reload_base = [], 0, None
    for s in steps:
        if s.stage == "reload":
            if reload_base is None:
                reload_base = wave
            number = reload_base + wave_of.get(s.key, 1)
            wave = max(wave, number)
        else:
            wave += 1
            number = wave
        out.append(replace(s, wave=number))
    return out


# --- What this `up` does with each step, and why ------------------------------------------------


@dataclass(frozen=True)
class LastRun:
    """What the last successful ``up`` left in its outputs, and the clock: what the plan compares with."""

    fingerprints: Optional[Mapping[str, dict]] = None
    """Its ``rollout_fingerprints`` (None: this is the stack's first ``up``)."""
    password_digest: Optional[str] = None
    """Its ``rollout_password_digest`` (a secret there: only whether it differs is ever shown)."""
    keystore_password_digest: Optional[str] = None
    """Its ``rollout_keystore_password_digest`` (secret; None from stacks older than it)."""
    not_after: Mapping[str, str] = field(default_factory=dict)
    """Per host, the expiry of the certificate it serves (its ``certificates`` output)."""
    ca_not_after: Optional[str] = None
    """The expiry of the generated CA's certificate (from its ``ca_cert_pem`` output)."""
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def from_outputs(cls, outputs: Mapping, now: datetime, generated_ca: bool) -> LastRun:
        """From the stack's last outputs ({} before the first ``up``)."""
        certificates = outputs.get("certificates") or {}
        ca_pem = outputs.get("ca_cert_pem")
        return cls(
            fingerprints=outputs.get("rollout_fingerprints") or None,
            password_digest=outputs.get("rollout_password_digest"),
            keystore_password_digest=outputs.get("rollout_keystore_password_digest"),
            not_after={name: c["not_after"] for name, c in certificates.items() if c.get("not_after")},
            ca_not_after=not_after(ca_pem) if ca_pem and generated_ca else None,
            now=now,
        )


def store_password_digest(config: ClusterConfig) -> str:
    """The store passwords as one digest: the value of the ``store passwords`` trigger (kept secret)."""
    return digest(config.keystore_password.get_secret_value(), config.truststore_password.get_secret_value())


def keystore_password_digest(config: ClusterConfig) -> str:
    """The keystore password alone (kept secret): whether it changed since the last ``up``."""
    return digest("keystore", config.keystore_password.get_secret_value())


def last_run_problems(config: ClusterConfig, last: LastRun) -> list[str]:
    """Changes the hosts cannot take from where the last ``up`` left them, refused at preview
    rather than promised in the plan and failed by the ``up``."""
    problems = []
    keys_on_hosts = config.tls.key_custody is KeyCustody.HOST and config.tls.store_type is not StoreType.PEM
    changed = last.keystore_password_digest is not None and last.keystore_password_digest != keystore_password_digest(config)
    if keys_on_hosts and changed:
        problems.append(
            "kafka-tls:keystorePassword: changed, but with tls.keyCustody 'host' each host's keystore holds the only "
            "copy of its key under the old password, and kafka-tls never deletes a keystore (the key step would "
            "fail on every host). Keep the old password; or change it in three ups: tls.keyCustody 'stack' (brokers "
            "reload a new key), then the new keystorePassword (every host restarts), then tls.keyCustody 'host' again "
            "if you want the keys back on the hosts."
        )
    # The last up moved the controller listener to TLS: going back in one roll splits the quorum.
    tls = config.tls
    back = [name for name, f in (last.fingerprints or {}).items() if _on_tls_controller(f, tls.controller_ssl_listener)]
    if back and tls.controller_protocol is Protocol.PLAINTEXT:
        problems.append(
            f"kafka-tls:tls.controllerProtocol: PLAINTEXT, but the last up moved the controller listener of "
            f"{', '.join(back)} to {tls.controller_ssl_listener} (TLS): putting the plaintext one back in one roll "
            "would split the quorum (nodes dialling listeners their peers lack). Keep controllerProtocol: SSL; the "
            "controller listener stays on TLS"
        )
    return problems


def issuer_spec(config: ClusterConfig, rotation: Optional[Rotation]) -> str:
    """The CA that issues the hosts' certificates after this ``up`` (in phase 1 of a rotation
    still the old one) and the settings of its certificate."""
    return digest(
        rotation.signing_spec if rotation else "",
        config.ca.validity_days,
        config.ca.early_renewal_days,
        config.ca_import.cert_pem if config.ca_import else "",
    )


def trust_spec(rotation: Optional[Rotation]) -> str:
    """The set of CAs the truststores hold ("" outside a rotation: the CA alone)."""
    return digest(rotation.old_ca_pem or "", rotation.spec) if rotation else ""


def renewal_due(expiry_iso: str, window_days: int, now: datetime) -> bool:
    """pulumi-tls re-issues a certificate once ``now`` reaches its expiry less the early-renewal
    window (its ``ready_for_renewal``), at the next preview or ``up``."""
    expiry = datetime.strptime(expiry_iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return now >= expiry - timedelta(days=window_days)


def _renewal_token(before: Optional[Mapping], kind: str, expiry: Optional[str], window_days: int, now: datetime) -> str:
    """Changes exactly when pulumi-tls re-issues a certificate because it entered its renewal
    window: the expiry it renews, kept until the next renewal."""
    kept = ((before or {}).get("certificate") or {}).get(kind, "")
    return short_digest(f"renews {expiry}") if expiry and renewal_due(expiry, window_days, now) else kept


def _settings_digest(config: ClusterConfig, h: HostPlan) -> str:
    """What a host's steps' scripts hold beside their triggers: a change rewrites, never restarts."""
    restart = config.restart
    command = restart.kafka if h.role is Role.BROKER else restart.connect
    ssh = config.ssh
    values: tuple = (
        command,
        restart.gate_timeout_seconds,
        restart.kafka_bin,
        ssh.user,
        ssh.port,
        ssh.sudo,
        h.host.address,
        h.host.bind_address,
        h.host.host_key,
        config.paths.owner,
    )
    # Only where the gate's tools dial another listener than the TLS one (SASL_SSL), so that the
    # digest of every other host stays what older kafka-tls recorded.
    if h.gate_tools_elsewhere is not None:
        values += (("gate tools port", h.gate_tools_elsewhere),)
    return short_digest(values)


def _on_tls_controller(fingerprint: Mapping, tls_listener: str) -> bool:
    """Whether the up that recorded ``fingerprint`` left its host dialling the TLS controller
    listener alone (ControllerStage.DONE)."""
    return (fingerprint.get("properties") or {}).get("controller.listener.names") == short_digest(tls_listener)


def short_digest(value: object) -> str:
    """The digests fingerprints record (doctor compares with them): 16 hex characters of SHA-256."""
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


def fingerprint(
    host: HostPlan,
    ca_spec: str,
    trust_spec: str = "",
    *,
    custody: str = "host",
    settings: str = "",
    steps: tuple[str, ...] = (),
    renewal: str = "",
    ca_renewal: str = "",
    layout: Optional[Mapping[str, bool]] = None,
    repair: str = "",
) -> dict:
    """What this host's service reads, reduced to digests: what the next ``up`` compares with.
    A broker whose gate tools dial another listener than its TLS one also records that port
    (``gate_tools_port``, for the doctor).

    ``ca_spec`` describes the CA that issues the host's certificate (its settings, or the imported
    certificate); ``trust_spec`` the set of CAs its truststore holds (two during a CA rotation);
    ``renewal`` and ``ca_renewal`` change when the certificate or the CA's enters its renewal
    window. Passwords are not here: their digest stays a secret. ``files`` are the paths in use,
    so the next ``up`` knows what a path change left behind; ``steps`` its rollout steps;
    ``repair`` the last repair's note (absent until a host was first repaired).
    """
    k = host.key
    tools = {"gate_tools_port": host.gate_tools_elsewhere} if host.gate_tools_elsewhere is not None else {}
    return (
        ({"repair": repair} if repair else {})
        | tools
        | {
            "host_key": short_digest(host.host.host_key),
            "files": managed_paths(host),
            "properties": {key: short_digest(value) for key, value in parse_properties(host.properties.text or "").items()},
            "text": short_digest(host.properties.text or ""),
            "certificate": {
                "subject": short_digest(k.common_name),
                "sans": short_digest(k.keytool_san),
                "key": short_digest(f"{k.algorithm.value}/{k.rsa_bits}"),
                "validity": short_digest(k.validity_days),
                "ca": short_digest(ca_spec),
                "stores": short_digest(
                    f"{host.locations.store_type.value}:{host.locations.keystore}:{host.locations.truststore}"
                ),
                "custody": custody,
                "renewal": renewal,
                "ca_renewal": ca_renewal,
            },
            "trust": short_digest(trust_spec),
            "settings": settings,
            "steps": list(steps),
            "layout": dict(layout or {}),
        }
    )


def _changed_keys(before: Mapping[str, str], after: Mapping[str, str], *, new_fields_equal: bool = False) -> list[str]:
    """The keys whose values differ. ``new_fields_equal``: a key the older mapping lacks (written
    by an older kafka-tls) counts as unchanged."""
    keys = {*before, *after} if not new_fields_equal else set(before) | (set(after) & set(before))
    return sorted(k for k in keys if before.get(k) != after.get(k))


_IDENTITY = {"subject", "sans", "key"}
"""Certificate fields a broker cannot take by reloading its stores."""

_CERTIFICATE_WORDS = {"renewal": "entered its renewal window", "ca_renewal": "the CA entered its renewal window"}


@dataclass(frozen=True)
class _HostChange:
    """What differs for one host between the last ``up`` and this plan."""

    new: bool
    path: bool
    properties: list[str]
    text: bool
    passwords: bool
    identity: bool
    issued: bool
    trust: bool
    settings: bool
    reasons: tuple[str, ...]
    previous_steps: Optional[set[str]]
    on_tls_already: bool
    controller_on_tls: bool = False
    """The last ``up`` left the host dialling the TLS controller listener alone (ControllerStage.DONE)."""


def _host_change(
    h: HostPlan,
    before: Optional[Mapping],
    now: Mapping,
    passwords: bool,
    tls_listener: str,
    stage_count: int,
    previous: Optional[Mapping],
    reissuing: bool,
    controller_tls_listener: str = "",
) -> _HostChange:
    if before is None:
        how = f" (from plaintext: {stage_count + 1} restarts unless already on SSL)" if stage_count else ""
        return _HostChange(
            True, True, [], True, False, True, True, True, True, (f"new host: first TLS rollout{how}",), None, False
        )
    old_path = before.get("files", {}).get("properties", now["files"]["properties"])
    path = old_path != now["files"]["properties"]
    props = _changed_keys(before.get("properties", {}), now["properties"])
    text = bool(props) or path or before.get("text", now["text"]) != now["text"]
    # A new repair note: the final step writes the file again and restarts (its trigger has the note).
    repaired = bool(now.get("repair")) and now.get("repair") != before.get("repair", "")
    cert = _changed_keys(before.get("certificate", {}), now["certificate"], new_fields_equal=True)
    # A new issuer outside phase 2 of a rotation is the same CA's certificate re-issued (new
    # validity): the truststores get it too. In phase 2 they hold both CAs already.
    trust = before.get("trust", now["trust"]) != now["trust"] or "ca_renewal" in cert or ("ca" in cert and not reissuing)
    # The keystore holds a new certificate when its request or its issuer changed; with the key
    # made on the host, new stores (type, path) also mean a new key pair.
    issued = bool(set(cert) - {"stores"}) or ("stores" in cert and now["certificate"]["custody"] == "host")
    reasons = [f"repair: {now['repair']}"] if repaired else []
    if path:
        reasons.append(f"properties file moved from {old_path}")
    if props:
        reasons.append(f"properties changed: {', '.join(props)}")
    elif text:
        reasons.append("properties file rewritten (same properties)")
    if cert:
        reasons.append(
            "certificate re-issued: " + ", ".join(_CERTIFICATE_WORDS.get(k, f"{k} changed") for k in cert)
            if issued
            else "stores moved: " + ", ".join(cert)
        )
    if trust and not (set(cert) & {"ca_renewal"}):
        reasons.append("trusted CAs changed")
    if passwords:
        reasons.append("store passwords changed")
    settings = before.get("settings", now["settings"]) != now["settings"]
    if settings and not reasons:
        reasons.append("restart or gate or SSH settings changed: the scripts change, the service reads nothing new")
    if old := left_behind(previous, h):
        reasons.append(f"then removes the old {', '.join(sorted(old.values()))}")
    on_tls = short_digest(tls_listener) in (
        before.get("properties", {}).get("inter.broker.listener.name"),
        before.get("properties", {}).get("security.inter.broker.protocol"),
    )
    previous_steps = set(before["steps"]) if "steps" in before else None
    controller_on_tls = bool(controller_tls_listener) and _on_tls_controller(before, controller_tls_listener)
    return _HostChange(
        False,
        path,
        props,
        text or repaired,
        passwords,
        bool(set(cert) & _IDENTITY),
        issued,
        trust,
        settings,
        tuple(reasons),
        previous_steps,
        on_tls,
        controller_on_tls,
    )


def _step_action(step: RestartStep, change: _HostChange, restarts_on_final: bool, stage_runs: bool = False) -> Action:
    """What the engine will do with this step, and so what the host sees. ``stage_runs``: a
    plaintext-to-SSL stage of the host restarts it (and so adds its TLS controller listener)."""
    is_new = change.new or (change.previous_steps is not None and step.key not in change.previous_steps)
    if step.back:
        # Planned only for a host that ran SSL-only: it runs once, when created.
        return Action.RESTART if is_new and change.on_tls_already else Action.NOTHING
    if step.stage.startswith("stage"):
        # Runs once, when created; skipped on a host already replicating over TLS.
        return Action.RESTART if is_new and not change.on_tls_already else Action.NOTHING
    if step.controller is not None:
        # Runs once, when created; skipped on a host whose controller listener is past the stage.
        past = change.controller_on_tls or (step.controller is ControllerStage.ADDED and stage_runs)
        return Action.RESTART if is_new and not past else Action.NOTHING
    if step.stage == "reload":
        # A new reload step finds the stores already loaded (the restart stamped them).
        if is_new or restarts_on_final or not (change.issued or change.trust):
            return Action.NOTHING
        return Action.RELOAD
    changed = {
        Trigger.PROPERTIES_PATH: change.path,
        Trigger.PROPERTIES_TEXT: change.text,
        Trigger.STORE_PASSWORDS: change.passwords,
        Trigger.KEY_IDENTITY: change.identity,
        Trigger.ISSUED_CERTIFICATE: change.issued,
        Trigger.TRUSTED_CAS: change.trust,
    }
    if is_new or any(changed[t] for t in step.triggers):
        return Action.RESTART
    # The script holds the gate's expected certificate and the settings: an update, no restart.
    return Action.REWRITE if change.settings or change.issued else Action.NOTHING


def decide(
    steps: list[RestartStep],
    hosts: list[HostPlan],
    last: LastRun,
    fingerprints: Mapping[str, dict],
    password_digest: str,
    tls_listener: str,
    reissuing: bool = False,
    controller_tls_listener: str = "",
) -> list[RestartStep]:
    """Each step with what this ``up`` does with it and why: the one place that decides, from the
    last ``up``'s fingerprints and the same triggers the steps are made with."""
    passwords = last.password_digest is not None and last.password_digest != password_digest
    out = []
    by_name = {h.name: h for h in hosts}
    for name in dict.fromkeys(s.host for s in steps):
        own = [s for s in steps if s.host == name]
        # The first TLS stage adds the TLS controller listener too (controller1 then has nothing to do).
        broker_stages = sum(1 for s in own if s.stage.startswith("stage"))
        stages = broker_stages + sum(
            1 for s in own if s.controller is not None and not (broker_stages and s.controller is ControllerStage.ADDED)
        )
        change = _host_change(
            by_name[name],
            (last.fingerprints or {}).get(name),
            fingerprints[name],
            passwords,
            tls_listener,
            stages,
            last.fingerprints,
            reissuing,
            controller_tls_listener,
        )
        final = next(s for s in own if s.stage == "final")
        restarts = _step_action(final, change, False) is Action.RESTART
        stage_runs = any(s.stage.startswith("stage") and _step_action(s, change, False) is Action.RESTART for s in own)
        actions = {s.key: _step_action(s, change, restarts, stage_runs) for s in own}
        old = tuple(sorted(left_behind(last.fingerprints, by_name[name]).items()))
        reasons = change.reasons
        if any(s.back and actions[s.key] is Action.RESTART for s in own):
            reasons = ("back from SSL-only listeners: first the plaintext listener, then replication over it", *reasons)
        host = by_name[name]
        if (
            not change.new
            and host.controller_tls_port
            and (change.issued or change.trust)
            and actions[final.key] is Action.RESTART
        ):
            reasons = (*reasons, RAFT_RESTART)
        labels = _controller_labels(own, actions)
        if labels:
            reasons = (
                f"controller listener to TLS in {len(labels)} restarts: {controller_tls_listener} added beside the "
                "plaintext one, then dialled first, then the plaintext one removed",
                *reasons,
            )
        decided = {
            s.key: replace(
                s,
                action=actions[s.key],
                reasons=reasons,
                left_behind=old if s.stage == "final" else (),
                label=labels.get(s.key, ""),
            )
            for s in own
        }
        out += [decided[s.key] for s in own]
    order = {s.key: i for i, s in enumerate(steps)}
    return sorted(out, key=lambda s: order[s.key])


def _controller_labels(own: list[RestartStep], actions: Mapping[str, Action]) -> dict[str, str]:
    """Per step of one host that restarts to move its controller listener to TLS, the stage it
    takes it to ({} when the host's controller listener does not move this ``up``)."""
    # Moving this up: its second stage always has a step of its own (the first may ride on a TLS stage).
    if not any(s.controller is not None and actions[s.key] is Action.RESTART for s in own):
        return {}
    acting = [s for s in own if actions[s.key] is Action.RESTART and (s.controller or s.stage.startswith("stage"))]
    labels = {
        s.key: s.controller.label if s.controller else f"TLS listener {s.stage}, {ControllerStage.ADDED.label}" for s in acting
    }
    final = next(s for s in own if s.stage == "final")
    if actions[final.key] is Action.RESTART:
        labels[final.key] = ControllerStage.DONE.label
    return labels
