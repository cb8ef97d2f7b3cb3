"""Rendering of server.properties, connect-avro-distributed.properties and client settings.

Pure functions: base properties + TLS settings -> text. Java properties escaping is jproperties'
(ISO-8859-1 with \\uXXXX escapes, as java.util.Properties reads them). Output order is stable:
the base file's keys in their own order (values overridden in place), then the managed keys in
the order this module lists them, so a preview diff shows only what really changed.

No secret is rendered: store passwords are ``${kafkatls:<file>:<key>}`` references resolved by
Kafka's FileConfigProvider (KIP-297/KIP-421) from a 0600 file on the host.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import NamedTuple, Optional

from jproperties import Properties

from components.config import NAMESPACE, ClientAuth, Host, ListenerMode, Paths, Protocol, StoreType, Tls

CONFIG_PROVIDER = "kafkatls"
SECRETS_FILE_NAME = "kafka-tls-secrets.properties"
TOOL_CONFIG_NAME = "kafka-tls-client.properties"
CA_PEM_FILE_NAME = "kafka-tls-ca.pem"
HEADER = "Managed by kafka-tls: edits here are overwritten. Change the base file or the stack config."
# Keys whose ZooKeeper-era or alternative spelling must not stand beside ours.
_CONFLICTING_SERVER_KEYS = ("security.inter.broker.protocol",)
# Read from the base and the host's overrides, then rendered by us: a host override is an input here.
_LISTENER_KEYS = (
    "listeners",
    "listener.security.protocol.map",
    "inter.broker.listener.name",
    "security.inter.broker.protocol",
    "controller.listener.names",
)
# Kafka's listener.security.protocol.map when the key is not set.
KAFKA_DEFAULT_PROTOCOL_MAP = {
    "PLAINTEXT": "PLAINTEXT",
    "SSL": "SSL",
    "SASL_PLAINTEXT": "SASL_PLAINTEXT",
    "SASL_SSL": "SASL_SSL",
}
# What the TLS listener's protocol becomes; a SASL listener keeps its SASL settings under TLS.
_TLS_PROTOCOL = {"PLAINTEXT": "SSL", "SASL_PLAINTEXT": "SASL_SSL", "SSL": "SSL", "SASL_SSL": "SASL_SSL"}
_LISTENER = re.compile(r"(?P<name>[^:/,\s]+)://(?P<host>\[[^\]]*\]|[^:\s\[\]]*):(?P<port>\d{1,5})")


@dataclass(frozen=True)
class StoreLocations:
    """Where one host's stores and secrets file live."""

    keystore: str
    truststore: str
    secrets_file: str
    store_type: StoreType

    @classmethod
    def for_host(cls, paths: Paths, store_type: StoreType) -> StoreLocations:
        ext = {StoreType.PKCS12: "p12", StoreType.JKS: "jks", StoreType.PEM: "pem"}[store_type]
        return cls(
            keystore=f"{paths.ssl_dir}/kafka.keystore.{ext}",
            truststore=f"{paths.ssl_dir}/kafka.truststore.{ext}",
            secrets_file=f"{paths.ssl_dir}/{SECRETS_FILE_NAME}",
            store_type=store_type,
        )

    @property
    def ca_pem(self) -> str:
        """The truststore's CAs as a PEM bundle beside it, for the Connect gate's openssl (https)."""
        return f"{self.truststore.rsplit('/', 1)[0]}/{CA_PEM_FILE_NAME}"


def parse_properties(text: str) -> dict[str, str]:
    """Java properties text -> ordered dict (the order of the file)."""
    props = Properties()
    props.load(text.encode("iso-8859-1", errors="backslashreplace"), encoding="iso-8859-1")
    return {key: props[key].data for key in props}


def read_base_properties(base_file: Optional[str], inline: Mapping[str, str]) -> dict[str, str]:
    """The user's own base: a properties file in the project, or inline keys from the stack config."""
    if base_file:
        return parse_properties(Path(base_file).read_text(encoding="iso-8859-1"))
    return dict(inline)


def format_properties(values: Mapping[str, str], header: str = HEADER) -> str:
    """Ordered mapping -> Java properties text, escaped as java.util.Properties expects.

    jproperties escapes each entry; entries are written one by one because its ``store`` sorts
    keys it did not read from a file, and the order here is the reader's order.
    """
    lines = [f"#{header}\n"]
    for key, value in values.items():
        entry = Properties()
        entry[key] = value
        out = io.BytesIO()
        entry.store(out, encoding="iso-8859-1", timestamp=False)
        lines.append(out.getvalue().decode("iso-8859-1"))
    return "".join(lines)


def _secret_ref(locations: StoreLocations, key: str) -> str:
    return "${" + f"{CONFIG_PROVIDER}:{locations.secrets_file}:{key}" + "}"


# A certificate whose subject is just a CN (Java prints it RFC 2253: 'CN=orders-service') is the
# principal User:<CN>: a client identity's name, a broker's or worker's DNS name. Any other subject
# keeps its full DN (DEFAULT), as Kafka has it without rules.
PRINCIPAL_MAPPING_RULES = "RULE:^CN=([^,]+)$/$1/,DEFAULT"


def principal_mapping_settings(tls: Tls, current: Mapping[str, str], mutual_controllers: bool = False) -> dict[str, str]:
    """``ssl.principal.mapping.rules`` for a broker, when brokers ask for client certificates
    (or, ``mutual_controllers``, its TLS controller listener does: the quorum's peers are then
    their names, the super users of an authorizer).

    With ``clientAuth: none`` no certificate is asked for and every TLS connection is
    User:ANONYMOUS, so the rule would only restart brokers for nothing. A rule in the user's own
    base (or the host's properties) wins: principals in their ACLs stay as they are.
    """
    asked = tls.client_auth is not ClientAuth.NONE or mutual_controllers
    if not asked or "ssl.principal.mapping.rules" in current:
        return {}
    return {"ssl.principal.mapping.rules": PRINCIPAL_MAPPING_RULES}


def secrets_file_values(keystore_password: str, truststore_password: str) -> dict[str, str]:
    """The contents of the host's secrets file (read by Kafka's FileConfigProvider)."""
    return {
        "keystore.password": keystore_password,
        "key.password": keystore_password,  # PKCS12 needs key password == store password
        "truststore.password": truststore_password,
    }


def store_settings(locations: StoreLocations, prefix: str = "", keystore: bool = True) -> dict[str, str]:
    """ssl.* store settings, optionally with a client prefix such as 'producer.'."""
    out = {
        f"{prefix}ssl.truststore.type": locations.store_type.value,
        f"{prefix}ssl.truststore.location": locations.truststore,
    }
    # Kafka refuses passwords on PEM stores; the PEM key is protected by file mode 0600.
    if locations.store_type is not StoreType.PEM:
        out[f"{prefix}ssl.truststore.password"] = _secret_ref(locations, "truststore.password")
    if keystore:
        out[f"{prefix}ssl.keystore.type"] = locations.store_type.value
        out[f"{prefix}ssl.keystore.location"] = locations.keystore
        if locations.store_type is not StoreType.PEM:
            out[f"{prefix}ssl.keystore.password"] = _secret_ref(locations, "keystore.password")
            out[f"{prefix}ssl.key.password"] = _secret_ref(locations, "key.password")
    return out


def _config_provider_settings(current: Mapping[str, str]) -> dict[str, str]:
    """Ours appended to the user's own config providers (``file`` -> ``file,kafkatls``)."""
    names = [n.strip() for n in current.get("config.providers", "").split(",") if n.strip()]
    if CONFIG_PROVIDER not in names:
        names.append(CONFIG_PROVIDER)
    return {
        "config.providers": ",".join(names),
        f"config.providers.{CONFIG_PROVIDER}.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
    }


def _tls_protocol_settings(tls: Tls, prefix: str = "") -> dict[str, str]:
    """Protocols, suites and host name verification: the same on every Java side kafka-tls
    configures (broker listeners, the gate's tools, a worker and its clients).

    ``ssl.cipher.suites`` decides on the brokers. On a client it is not needed (the broker picks
    from its own list), but it does no harm, and it keeps a worker's clients on the same suites if
    a broker's list is ever widened. A worker's own also covers its REST listener once that is
    https (Connect falls back to the worker's ``ssl.*`` without ``listeners.https.*`` keys).
    """
    return {
        f"{prefix}ssl.enabled.protocols": ",".join(tls.enabled_protocols),
        f"{prefix}ssl.protocol": "TLSv1.3" if "TLSv1.3" in tls.enabled_protocols else "TLSv1.2",
        f"{prefix}ssl.cipher.suites": ",".join(tls.cipher_suites),
        # Hostname verification on (Kafka's default since 2.0; written so nobody turns it off by accident).
        f"{prefix}ssl.endpoint.identification.algorithm": "https",
    }


# --- Listeners -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listener:
    """One ``listeners`` entry. ``host`` as written: '' binds every interface, IPv6 in brackets."""

    name: str
    host: str
    port: int

    def url(self) -> str:
        return f"{self.name}://{self.host}:{self.port}"


def parse_listeners(value: str) -> list[Listener]:
    """'INTERNAL://:9092,EXTERNAL://0.0.0.0:9095' -> listeners, names upper-cased as Kafka does.

    Raises:
        ValueError: naming the first entry that is not NAME://host:port.
    """
    out = []
    for entry in (e.strip() for e in value.split(",")):
        match = _LISTENER.fullmatch(entry)
        if not match:
            raise ValueError(f"'{entry}' is not NAME://host:port")
        out.append(Listener(match["name"].upper(), match["host"], int(match["port"])))
    return out


def parse_protocol_map(value: str) -> dict[str, str]:
    """'INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL' -> {listener name: security protocol}, in order.

    Raises:
        ValueError: naming the first entry that is not NAME:PROTOCOL.
    """
    out = {}
    for entry in (e.strip() for e in value.split(",")):
        name, _, protocol = (part.strip() for part in entry.partition(":"))
        if not name or not protocol or ":" in protocol:
            raise ValueError(f"'{entry}' is not NAME:PROTOCOL")
        out[name.upper()] = protocol.upper()
    return out


def _names(value: str) -> tuple[str, ...]:
    return tuple(n.strip().upper() for n in value.split(",") if n.strip())


def _roles(props: Mapping[str, str]) -> frozenset[str]:
    return frozenset(r.strip().lower() for r in props.get("process.roles", "").split(",") if r.strip())


class ControllerStage(int, Enum):
    """Where a plaintext controller listener moving to TLS stands (KIP-853's "upgrading the
    controller listener"; one roll of every node each). A static quorum keeps its majority through
    every stage: each node accepts both listeners until every node dials the TLS one."""

    ADDED = 1
    """The TLS listener beside the plaintext one, which every node still dials."""
    FIRST = 2
    """Nodes dial the TLS listener (the voters on its port); the plaintext one still accepts peers
    not yet rolled."""
    DONE = 3
    """The plaintext listener gone."""

    @property
    def label(self) -> str:
        return f"controller TLS, stage {self.value} of {len(ControllerStage)}"


@dataclass(frozen=True)
class ListenerLayout:
    """A broker's listeners as Kafka reads them: before TLS (the base) or after (``with_tls``)."""

    listeners: tuple[Listener, ...]
    protocol_map: dict[str, str]
    """listener.security.protocol.map as written (empty: not written, Kafka's default applies)."""
    inter_broker: str
    controller_names: tuple[str, ...]
    roles: frozenset[str]
    """process.roles; empty without KRaft."""

    @classmethod
    def read(cls, props: Mapping[str, str], tls: Tls) -> ListenerLayout:
        """From the base merged with the host's overrides. Without ``listeners``, today's default:
        PLAINTEXT on tls.plaintextPort, plus the controller listener on a controller node.

        Raises:
            ValueError: ``listeners`` or the protocol map cannot be parsed.
        """
        roles = _roles(props)
        controller_names = _names(props.get("controller.listener.names", "")) or (tls.controller_listener.upper(),)
        if "listeners" in props:
            listeners = parse_listeners(props["listeners"])
        else:
            listeners = [Listener("PLAINTEXT", "", tls.plaintext_port)]
        if "controller" in roles and controller_names[0] not in {l.name for l in listeners}:
            listeners.append(Listener(controller_names[0], "", tls.controller_port))
        explicit = props.get("listener.security.protocol.map", "").strip()
        # The old key names a protocol; its listener has the same name.
        inter_broker = props.get("inter.broker.listener.name") or props.get("security.inter.broker.protocol") or "PLAINTEXT"
        return cls(
            listeners=tuple(listeners),
            protocol_map=parse_protocol_map(explicit) if explicit else {},
            inter_broker=inter_broker.strip().upper(),
            controller_names=controller_names,
            roles=roles,
        )

    @property
    def controller(self) -> str:
        """The listener brokers dial the controllers on (the first of controller.listener.names)."""
        return self.controller_names[0]

    @property
    def is_kraft(self) -> bool:
        return bool(self.roles)

    @property
    def is_controller(self) -> bool:
        return "controller" in self.roles

    @property
    def is_controller_only(self) -> bool:
        return self.roles == {"controller"}

    @property
    def broker_listeners(self) -> tuple[Listener, ...]:
        return tuple(l for l in self.listeners if l.name not in self.controller_names)

    def listener(self, name: str) -> Optional[Listener]:
        return next((l for l in self.listeners if l.name == name), None)

    def controller_moves(self, tls: Tls) -> bool:
        """Whether ``tls`` moves this KRaft node's plaintext controller listener to TLS (to a new
        listener, tls.controllerSslListener, in the stages of ControllerStage)."""
        return self.is_kraft and tls.controller_protocol is Protocol.SSL and self.protocol(self.controller) == "PLAINTEXT"

    def protocol(self, name: str) -> Optional[str]:
        """The security protocol Kafka gives a listener; None when nothing maps it."""
        found = (self.protocol_map or KAFKA_DEFAULT_PROTOCOL_MAP).get(name)
        if found is None and name in self.controller_names:
            return "PLAINTEXT"  # KRaft's implicit mapping of the controller listener
        return found

    def with_tls(self, tls: Tls, controller: ControllerStage = ControllerStage.DONE) -> ListenerLayout:
        """The layout ``tls`` asks for.

        The TLS listener (tls.listenerName) is converted in place when the base has it, else added
        on tls.sslPort after the broker listeners; ``listeners: SSL`` then drops the PLAINTEXT
        broker listeners. Every other listener keeps its name, host and port. A plaintext
        controller listener that moves to TLS (``controller_moves``) is at ``controller``'s stage.

        Raises:
            ValueError: the TLS listener's protocol is not one kafka-tls converts.
        """
        name = tls.listener_name
        listeners = list(self.listeners)
        protocols = {l.name: self.protocol(l.name) for l in listeners}
        if name in protocols:
            converted = _TLS_PROTOCOL.get(protocols[name] or "")
            if converted is None:
                raise ValueError(
                    f"listener {name} has protocol {protocols[name]}; kafka-tls converts PLAINTEXT and SASL_PLAINTEXT"
                )
            protocols[name] = converted
        else:
            after_brokers = max((i + 1 for i, l in enumerate(listeners) if l.name not in self.controller_names), default=0)
            listeners.insert(after_brokers, Listener(name, "", tls.ssl_port))
            protocols[name] = "SSL"
        if tls.listeners is ListenerMode.SSL_ONLY:
            listeners = [l for l in listeners if l.name in self.controller_names or protocols[l.name] != "PLAINTEXT"]
        if self.protocol_map:
            protocol_map = {**self.protocol_map, name: str(protocols[name])}  # in place, or added at the end (set above)
        else:
            # Kafka's default map written out for the listeners in use: setting the key replaces the default.
            protocol_map = {
                l.name: str(protocols[l.name]) for l in listeners if l.name not in self.controller_names and protocols[l.name]
            }
        controller_names = self.controller_names
        if self.controller_moves(tls):
            listeners, protocol_map, controller_names = self._controller_to_tls(tls, controller, listeners, protocol_map)
        elif self.is_kraft:
            # The base's controller mapping wins; listener_problems refuses a downgrade.
            protocol_map.setdefault(self.controller, tls.controller_protocol.value)
        return ListenerLayout(
            listeners=tuple(listeners),
            protocol_map=protocol_map,
            inter_broker=name if tls.inter_broker_protocol is Protocol.SSL else self.inter_broker,
            controller_names=controller_names,
            roles=self.roles,
        )

    def _controller_to_tls(
        self, tls: Tls, stage: ControllerStage, listeners: list[Listener], protocol_map: dict[str, str]
    ) -> tuple[list[Listener], dict[str, str], tuple[str, ...]]:
        """The listeners, map and controller.listener.names of ``stage``: the TLS controller
        listener beside the plaintext one (a controller listens on it where it listened on the old
        one), first once nodes dial it, alone at the end. Broker-only nodes only name it."""
        new, old = tls.controller_ssl_listener, self.controller_names
        names = {ControllerStage.ADDED: (*old, new), ControllerStage.FIRST: (new, *old), ControllerStage.DONE: (new,)}[stage]
        protocols = {**{n: "PLAINTEXT" for n in old if stage is not ControllerStage.DONE}, new: "SSL"}
        if self.is_controller:
            at = next(i for i, l in enumerate(listeners) if l.name == self.controller)
            listeners = [*listeners[: at + 1], Listener(new, listeners[at].host, tls.controller_ssl_port), *listeners[at + 1 :]]
            if stage is ControllerStage.DONE:
                listeners = [l for l in listeners if l.name not in old]
        protocol_map = {k: v for k, v in protocol_map.items() if k not in old} | protocols
        return listeners, protocol_map, names


def _bind_host(bind_address: str) -> str:
    return f"[{bind_address}]" if ":" in bind_address else bind_address


def _host_layouts(
    base: Mapping[str, str], host: Host, tls: Tls, controller: ControllerStage = ControllerStage.DONE
) -> tuple[dict[str, str], ListenerLayout, ListenerLayout]:
    current = {**base, **host.properties}
    before = ListenerLayout.read(current, tls)
    if before.is_controller_only:
        raise ValueError(f"{host.name}: process.roles=controller: controller-only nodes are not managed yet")
    return current, before, before.with_tls(tls, controller)


def controller_moves(base: Mapping[str, str], host: Host, tls: Tls) -> bool:
    """Whether this broker's plaintext controller listener moves to TLS (ListenerLayout.controller_moves)."""
    _, before, _ = _host_layouts(base, host, tls)
    return before.controller_moves(tls)


def controller_tls_port(base: Mapping[str, str], host: Host, tls: Tls) -> Optional[int]:
    """The port of the node's controller listener once on TLS (None: not a controller, or its
    controller listener stays plaintext)."""
    _, _, after = _host_layouts(base, host, tls)
    listener = after.listener(after.controller)
    if not after.is_controller or listener is None or after.protocol(after.controller) not in ("SSL", "SASL_SSL"):
        return None
    return listener.port


def voters_on_port(voters: str, port: int) -> str:
    """controller.quorum.voters with every voter's port set to ``port`` ('1@h:9094' -> '1@h:9096')."""
    return ",".join(f"{v.strip().rsplit(':', 1)[0]}:{port}" for v in voters.split(",") if v.strip())


def tls_listener_is_sasl(base: Mapping[str, str], host: Host, tls: Tls) -> bool:
    """Whether the TLS listener is SASL_SSL (its clients need SASL credentials kafka-tls lacks)."""
    _, before, _ = _host_layouts(base, host, tls)
    protocols = before.protocol_map or {"SASL_PLAINTEXT": "SASL_PLAINTEXT", "SASL_SSL": "SASL_SSL"}
    return protocols.get(tls.listener_name, "").startswith("SASL_")


def gate_tools_port(base: Mapping[str, str], host: Host, tls: Tls) -> Optional[int]:
    """The port the health gate's Kafka tools dial on this broker: its TLS listener, unless that is
    SASL_SSL (its clients need credentials kafka-tls does not have); then a PLAINTEXT broker
    listener the base has and every stage keeps as it is (e.g. INTERNAL for replication). None
    when there is no such listener: the gate can only check the certificate."""
    _, before, after = _host_layouts(base, host, tls)
    if not tls_listener_is_sasl(base, host, tls):
        return tls_listener_port(base, host, tls)
    kept = [
        l
        for l in after.broker_listeners
        if l.name != tls.listener_name and after.protocol(l.name) == "PLAINTEXT" and before.listener(l.name) == l
    ]
    return kept[0].port if kept else None


def render_tool_properties(locations: StoreLocations, tls: Tls, protocol: str = "SSL") -> str:
    """The client config the health gate's Kafka tools use on a broker host (--command-config):
    TLS to the broker's own TLS listener, passwords through the config provider, its own
    certificate when brokers require client certificates. ``protocol`` PLAINTEXT: the broker's
    plaintext listener (gate_tools_port), no TLS settings."""
    if protocol == "PLAINTEXT":
        return format_properties(
            {"security.protocol": "PLAINTEXT"},
            header="kafka-tls: client settings of the health gate's Kafka tools (the broker's plaintext listener: "
            "its TLS listener needs SASL credentials)",
        )
    return format_properties(
        {
            "security.protocol": "SSL",
            **_tls_protocol_settings(tls),
            **store_settings(locations, keystore=tls.client_auth is not ClientAuth.NONE),
            **_config_provider_settings({}),
        },
        header="kafka-tls: client settings of the health gate's Kafka tools",
    )


def tls_listener_port(base: Mapping[str, str], host: Host, tls: Tls) -> int:
    """The port the TLS listener serves on this host: a converted listener keeps its own."""
    _, _, after = _host_layouts(base, host, tls)
    return next(l.port for l in after.listeners if l.name == tls.listener_name)


def render_server_properties(
    base: Mapping[str, str],
    host: Host,
    tls: Tls,
    locations: StoreLocations,
    controller: ControllerStage = ControllerStage.DONE,
) -> str:
    """server.properties for one broker: the user's base + the TLS settings + host overrides.

    The user's listeners are kept (see ``ListenerLayout.with_tls``); with ``host.bind_address`` every
    listener binds there. A per-host ``advertised.listeners`` still wins; the other listener keys of
    the host's overrides are read as part of the base. ``controller``: the stage of a controller
    listener moving to TLS; from its second stage the voters are dialled on the TLS listener's port.
    """
    current, before, after = _host_layouts(base, host, tls, controller)
    if host.bind_address:
        bind = _bind_host(host.bind_address)
        listeners = [Listener(l.name, bind, l.port) for l in after.listeners]
    else:
        listeners = list(after.listeners)
    managed: dict[str, str] = {}
    if host.node_id is not None:
        managed["node.id"] = str(host.node_id)
    dialled: dict[str, str] = {}
    moves = before.controller_moves(tls)
    if moves:
        managed["controller.listener.names"] = ",".join(after.controller_names)
        if controller is not ControllerStage.ADDED and "controller.quorum.voters" in current:
            dialled["controller.quorum.voters"] = voters_on_port(current["controller.quorum.voters"], tls.controller_ssl_port)
    elif before.is_controller or "controller.listener.names" in current:
        managed["controller.listener.names"] = current.get("controller.listener.names", tls.controller_listener)
    managed.update(
        {
            "listeners": ",".join(l.url() for l in listeners),
            # Controllers are found through the quorum voters, never advertised.
            "advertised.listeners": ",".join(f"{l.name}://{host.host}:{l.port}" for l in after.broker_listeners),
            "listener.security.protocol.map": ",".join(f"{n}:{p}" for n, p in after.protocol_map.items()),
            "inter.broker.listener.name": after.inter_broker,
            "ssl.client.auth": tls.client_auth.value,
            # The quorum's TLS listener kafka-tls adds takes its peers by their certificates alone.
            **({f"listener.name.{tls.controller_ssl_listener.lower()}.ssl.client.auth": "required"} if moves else {}),
            **principal_mapping_settings(tls, current, mutual_controllers=moves),
            **_tls_protocol_settings(tls),
            **store_settings(locations),
            **_config_provider_settings(current),
        }
    )
    # The voters rewritten from the host's own override, when it has one, stay rewritten.
    overrides = {k: v for k, v in host.properties.items() if k not in (*_LISTENER_KEYS, "config.providers", *dialled)}
    return _merge(base, {**managed, **dialled}, overrides, drop=_CONFLICTING_SERVER_KEYS)


def listener_problems(
    base: Mapping[str, str],
    host_properties: Mapping[str, str],
    tls: Tls,
    where: str,
    base_key: str = "serverProperties",
    ssh_port: Optional[int] = None,
) -> list[str]:
    """What would break this broker's listeners or its rollout: one message per problem, each
    naming the config key path to change and how. Pure, for preview time.

    Args:
        base: the shared server base (the base file's keys, or serverProperties).
        host_properties: the broker's own ``properties`` overrides.
        where: the broker's key path, e.g. 'kafka-tls:brokers[1]'.
        base_key: the config key the base came from ('serverBaseFile' for a file).
        ssh_port: the port sshd listens on (ssh.port); no listener may take it.
    """
    current = {**base, **host_properties}
    if _roles(current) == {"controller"}:
        return [
            f"{where}: process.roles=controller: controller-only nodes are not managed yet; leave them out of "
            f"{NAMESPACE}:brokers, their controller listener stays as it is"
        ]

    def origin(key: str) -> str:
        return f"{where}.properties.{key}" if key in host_properties else f"{NAMESPACE}:{base_key}.{key}"

    # A tls.* message reads the same on every broker (so it is reported once) unless this broker's
    # overrides change its listeners.
    host_specific = any(k in host_properties for k in (*_LISTENER_KEYS, "process.roles"))

    def tls_key(field: str) -> str:
        return f"{NAMESPACE}:tls.{field}" + (f" (for {where})" if host_specific else "")

    problems = []
    for key, parse, example in (
        ("listeners", parse_listeners, "INTERNAL://:9092,EXTERNAL://:9095"),
        ("listener.security.protocol.map", parse_protocol_map, "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT"),
    ):
        if key in current and (key == "listeners" or current[key].strip()):
            try:
                parse(current[key])
            except ValueError as err:
                problems.append(f"{origin(key)}: {err}; write it as, e.g., {example}")
    if problems:
        return problems

    before = ListenerLayout.read(current, tls)
    name, ctrl, inter_broker = tls.listener_name, before.controller, before.inter_broker
    written = parse_listeners(current["listeners"]) if "listeners" in current else []
    map_key = origin("listener.security.protocol.map")

    # The base's controller settings win over the tls fields; a difference is a mistake somewhere.
    if (
        "controller.listener.names" in current
        and "controller_listener" in tls.model_fields_set
        and tls.controller_listener.upper() != ctrl
    ):
        problems.append(
            f"{NAMESPACE}:tls.controllerListener: '{tls.controller_listener}', but {origin('controller.listener.names')} "
            f"is '{current['controller.listener.names']}', which wins; remove tls.controllerListener or make the two equal"
        )
    written_ctrl = next((l for l in written if l.name == ctrl), None)
    if written_ctrl and "controller_port" in tls.model_fields_set and tls.controller_port != written_ctrl.port:
        problems.append(
            f"{NAMESPACE}:tls.controllerPort: {tls.controller_port}, but the controller listener {ctrl} is on "
            f"{written_ctrl.port} in {origin('listeners')}, which wins; remove tls.controllerPort or make the two equal"
        )

    # The TLS listener: converted in place, or added on sslPort.
    protocol = before.protocol(name)
    if name in before.controller_names:
        problems.append(
            f"{tls_key('listenerName')}: {name} is the controller listener ({origin('controller.listener.names')}); "
            "name a broker listener or a new one (e.g. SSL); the quorum's protocol is tls.controllerProtocol"
        )
    elif before.listener(name) is not None and protocol is None:
        unset = (
            ""
            if before.protocol_map
            else (" (the key is not set: Kafka's default maps only PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)")
        )
        problems.append(
            f"{map_key}: no protocol for listener {name} (tls.listenerName){unset}; add {name}:PLAINTEXT "
            "(or SASL_PLAINTEXT) so kafka-tls can convert it, or name another listener in tls.listenerName"
        )
    elif before.listener(name) is not None and protocol not in _TLS_PROTOCOL:
        problems.append(
            f"{tls_key('listenerName')}: {name} uses {protocol} ({map_key}); kafka-tls converts PLAINTEXT (to SSL) "
            "and SASL_PLAINTEXT (to SASL_SSL) listeners only; name another listener"
        )
    elif (
        before.listener(name) is not None
        and protocol is not None
        and name == inter_broker
        and _TLS_PROTOCOL[protocol] != protocol
    ):
        problems.append(
            f"{tls_key('listenerName')}: {name} is the inter-broker listener (inter.broker.listener.name); converting "
            "it in place splits replication mid-rollout (brokers already converted speak TLS to peers still on "
            f"plaintext). Name a new listener instead (e.g. listenerName: SSL, added on sslPort {tls.ssl_port}) and "
            "set interBrokerProtocol: SSL to move replication to it"
        )
    elif before.listener(name) is None:
        # Ports kafka-tls picks itself (no listeners in the base) are config.py's check.
        problems += [
            f"{tls_key('sslPort')}: {tls.ssl_port} is also the port of listener {l.name} ({origin('listeners')}); "
            f"give the added {name} listener a free port"
            for l in written
            if l.port == tls.ssl_port
        ]
    problems += [
        f"{map_key}: no protocol for listener {l.name}; add {l.name}:PLAINTEXT (or its protocol): Kafka does not start without it"
        for l in before.broker_listeners
        if l.name != name and before.protocol(l.name) is None
    ]

    # Replication: the base's inter-broker listener serves it until (and unless) it moves to TLS.
    if inter_broker not in {l.name for l in before.broker_listeners}:
        set_key = next((k for k in ("inter.broker.listener.name", "security.inter.broker.protocol") if k in current), None)
        default = "" if set_key else " (Kafka's default)"
        problems.append(
            f"{origin(set_key or 'inter.broker.listener.name')}: the inter-broker listener {inter_broker}{default} is not a "
            f"broker listener in {origin('listeners')}; set inter.broker.listener.name to one of "
            f"{', '.join(l.name for l in before.broker_listeners) or 'them'}"
        )
    elif (
        tls.listeners is ListenerMode.SSL_ONLY
        and tls.inter_broker_protocol is Protocol.PLAINTEXT
        and inter_broker != name
        and before.protocol(inter_broker) == "PLAINTEXT"
    ):
        problems.append(
            f"{tls_key('listeners')}: SSL removes the PLAINTEXT listener {inter_broker}, which stays the inter-broker "
            "listener (interBrokerProtocol: PLAINTEXT); set interBrokerProtocol: SSL or keep listeners: PLAINTEXT+SSL"
        )

    # The KRaft quorum: a plaintext controller listener moves to TLS in stages (ControllerStage).
    if before.is_kraft:
        running = before.protocol(ctrl)
        new_ctrl = tls.controller_ssl_listener
        if before.controller_moves(tls):
            if current.get("controller.quorum.bootstrap.servers", "").strip() and "controller.quorum.voters" not in current:
                problems.append(
                    f"{NAMESPACE}:tls.controllerProtocol: SSL, but {origin('controller.quorum.bootstrap.servers')} makes a "
                    "dynamic quorum, whose voters' endpoints live in the metadata log: kafka-tls moves a static quorum's "
                    "(controller.quorum.voters) controller listener only; keep controllerProtocol: PLAINTEXT"
                )
            if before.listener(new_ctrl) is not None or new_ctrl in before.protocol_map:
                problems.append(
                    f"{tls_key('controllerSslListener')}: {new_ctrl} is already a listener in {origin('listeners')}; "
                    "name a new one for the TLS controller listener, e.g. CONTROLLER_TLS"
                )
            if taken := next((l for l in before.listeners if l.port == tls.controller_ssl_port), None):
                problems.append(
                    f"{tls_key('controllerSslPort')}: {tls.controller_ssl_port} is the port of listener {taken.name} "
                    f"({origin('listeners')}); give the TLS controller listener a free port"
                )
        elif tls.controller_protocol is Protocol.SSL and running not in ("SSL", "SASL_SSL"):
            problems.append(
                f"{NAMESPACE}:tls.controllerProtocol: SSL, but the controller listener {ctrl} runs {running} "
                f"({map_key}); kafka-tls moves a PLAINTEXT controller listener only: keep controllerProtocol: PLAINTEXT"
            )
        elif tls.controller_protocol is Protocol.PLAINTEXT and running in ("SSL", "SASL_SSL"):
            problems.append(
                f"{NAMESPACE}:tls.controllerProtocol: PLAINTEXT, but the controller listener {ctrl} already runs "
                f"{running} ({map_key}); that would downgrade the quorum: set controllerProtocol: SSL"
            )

    # sshd holds its port on every address: a broker listener there would fail to bind mid-rollout.
    try:
        final = before.with_tls(tls).listeners if ssh_port is not None and not problems else ()
    except ValueError:
        final = ()  # the TLS listener's protocol, reported above
    if final:
        for l in {l.name: l for l in (*before.listeners, *final)}.values():
            if l.port != ssh_port:
                continue
            if any(w.name == l.name for w in written):
                key = origin("listeners")
            else:
                field = {name: "sslPort", ctrl: "controllerPort", tls.controller_ssl_listener: "controllerSslPort"}
                key = tls_key(field.get(l.name, "plaintextPort"))
            problems.append(
                f"{key}: listener {l.name} on port {l.port} is also the SSH port ({NAMESPACE}:ssh.port), which sshd "
                "holds: the broker could not bind it; give the listener another port"
            )

    # A per-host advertised.listeners wins over ours, so it must fit every stage and the final config.
    if "advertised.listeners" in host_properties:
        key = f"{where}.properties.advertised.listeners"
        try:
            advertised = {l.name for l in parse_listeners(host_properties["advertised.listeners"])}
        except ValueError as err:
            return [*problems, f"{key}: {err}; write it as, e.g., {name}://kafka-1.example.com:{tls.ssl_port}"]
        try:
            after = before.with_tls(tls)
        except ValueError:
            return problems  # the TLS listener's protocol, reported above
        needed = {name, after.inter_broker} | ({inter_broker} if rollout_stages(tls) else set())
        if missing := sorted(needed - advertised):
            problems.append(
                f"{key}: lacks {', '.join(missing)}, which clients or peers dial during or after the rollout; remove "
                "the override (kafka-tls advertises every broker listener at the host's name) or add them"
            )
        if unknown := sorted(advertised - {l.name for l in after.broker_listeners}):
            problems.append(
                f"{key}: names {', '.join(unknown)}, which the final config does not listen on; remove the override "
                "or those entries"
            )
    return problems


def _merge(base: Mapping[str, str], managed: Mapping[str, str], overrides: Mapping[str, str], drop: tuple[str, ...] = ()) -> str:
    merged = {k: v for k, v in base.items() if k not in drop}
    for key, value in {**managed, **overrides}.items():
        merged[key] = value  # in place when the base has the key, appended otherwise
    return format_properties(merged)


def rollout_stages(tls: Tls) -> list[Tls]:
    """The intermediate broker configs a live plaintext cluster must pass through.

    A broker whose inter-broker listener is TLS cannot replicate from peers that have no TLS
    listener yet (the seed's "2 of 3 brokers fine, the leader logging endless errors"); a broker
    without its plaintext listeners cannot serve peers still replicating over them. So:
    1. add (or convert) the TLS listener, inter-broker traffic stays on the base's listener
       (``inter_broker_protocol: PLAINTEXT`` means exactly that to ``render_server_properties``);
    2. for ``listeners: SSL`` only: move inter-broker traffic to the TLS listener, plaintext
       listeners kept;
    then the final config. A host whose running config already replicates over TLS skips both.
    """
    if tls.inter_broker_protocol is Protocol.PLAINTEXT:
        return []
    both = {"listeners": ListenerMode.PLAINTEXT_AND_SSL}
    stages = [tls.model_copy(update={**both, "inter_broker_protocol": Protocol.PLAINTEXT})]
    if tls.listeners is ListenerMode.SSL_ONLY:
        stages.append(tls.model_copy(update=both))
    return stages


def ssl_bootstrap_servers(brokers: list[Host], tls: Tls, server_base: Optional[Mapping[str, str]] = None) -> str:
    """host:port of every broker's TLS listener. Give ``server_base`` so that a listener converted
    in place is dialled on its own port (without it, every broker is assumed on tls.sslPort)."""

    def port(b: Host) -> int:
        return tls.ssl_port if server_base is None else tls_listener_port(server_base, b, tls)

    return ",".join(f"{b.host}:{port(b)}" for b in brokers)


def render_connect_properties(
    base: Mapping[str, str],
    host: Host,
    tls: Tls,
    locations: StoreLocations,
    bootstrap_servers: str,
    schema_registry_url: Optional[str] = None,
) -> str:
    """connect-avro-distributed.properties for one worker.

    The worker, its producers, consumers and admin client (dead-letter queues, topic creation)
    each need their own SSL section: Connect does not pass the worker's settings on to them.
    """
    with_keystore = tls.client_auth is not ClientAuth.NONE
    # An https REST listener serves the worker's own certificate from the worker's ssl.* (the
    # listeners.https.* keys are all or nothing in Connect, so kafka-tls writes none of them).
    rest = ({**base, **host.properties}.get("listeners") or "").lower()
    serves_https = any(entry.strip().startswith("https://") for entry in rest.split(","))
    managed: dict[str, str] = {}
    for prefix in ("", "producer.", "consumer.", "admin."):
        managed[f"{prefix}bootstrap.servers"] = bootstrap_servers
        managed[f"{prefix}security.protocol"] = "SSL"
        managed.update(_tls_protocol_settings(tls, prefix))
        managed.update(store_settings(locations, prefix, keystore=with_keystore or (serves_https and prefix == "")))
    if schema_registry_url and schema_registry_url.startswith("https://"):
        for converter in ("key.converter", "value.converter"):
            prefix = f"{converter}.schema.registry."
            managed[f"{converter}.schema.registry.url"] = schema_registry_url
            managed.update(store_settings(locations, prefix, keystore=with_keystore))
    managed.update(_config_provider_settings({**base, **host.properties}))
    overrides = {k: v for k, v in host.properties.items() if k != "config.providers"}
    return _merge(base, managed, overrides)


class RestEndpoint(NamedTuple):
    address: str
    """IPv6 without brackets."""
    port: int
    scheme: str
    """'http' or 'https'."""


def connect_rest_endpoint(connect_properties: str, default_address: str) -> RestEndpoint:
    """address, port and scheme of a worker's REST API, from its rendered properties' first
    ``listeners`` entry (Connect's default http://:8083; an empty or wildcard host means the
    host's own address; no scheme means http)."""
    first = (parse_properties(connect_properties).get("listeners") or "http://:8083").split(",")[0].strip()
    scheme, _, host_port = first.rpartition("://")
    address, _, port = host_port.rpartition(":")
    address = address.strip("[]")
    return RestEndpoint(
        default_address if address in ("", "0.0.0.0", "::") else address, int(port or 8083), scheme.lower() or "http"
    )


def client_settings(brokers: list[Host], tls: Tls, server_base: Optional[Mapping[str, str]] = None) -> dict[str, dict[str, str]]:
    """Ready-to-use client settings: Java properties and librdkafka (confluent-kafka) keys.

    The CA file path is a placeholder the consumer fills in (``<ca.pem>``): the CA certificate
    itself is a separate stack output.
    """
    servers = ssl_bootstrap_servers(brokers, tls, server_base)
    # A SASL_SSL TLS listener: clients log in too (their credentials are theirs to add); its one
    # enabled mechanism, when it has one, is named.
    sasl = bool(brokers) and server_base is not None and tls_listener_is_sasl(server_base, brokers[0], tls)
    protocol = "SASL_SSL" if sasl else "SSL"
    mechanisms: tuple[str, ...] = ()
    if sasl and server_base is not None:
        current = {**server_base, **brokers[0].properties}
        listener_key = f"listener.name.{tls.listener_name.lower()}.sasl.enabled.mechanisms"
        mechanisms = _names(current.get(listener_key) or current.get("sasl.enabled.mechanisms", "GSSAPI"))
    mechanism = (
        {"java": {"sasl.mechanism": mechanisms[0]}, "librdkafka": {"sasl.mechanisms": mechanisms[0]}}
        if len(mechanisms) == 1
        else {}
    )
    return {
        "java": {
            "bootstrap.servers": servers,
            "security.protocol": protocol,
            **mechanism.get("java", {}),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": "<ca.pem>",
            "ssl.endpoint.identification.algorithm": "https",
        },
        "librdkafka": {
            "bootstrap.servers": servers,
            "security.protocol": protocol,
            **mechanism.get("librdkafka", {}),
            "ssl.ca.location": "<ca.pem>",
            "ssl.endpoint.identification.algorithm": "https",
        },
    }
