"""Reading the stack for the doctor, and what it says about each host.

Through the Pulumi CLI of the environment (the same backend and secrets provider a `pulumi up`
there uses), from the project directory:

- ``pulumi config --json``: the non-secret config (hosts, ssh, paths, tls, restart); secret values
  are not in that output;
- ``pulumi stack output --json``: without ``--show-secrets`` (secret outputs read ``[secret]``);
  only ``rollout_fingerprints``, ``certificates``, ``ca_bundle_pem`` and ``ssl_bootstrap_servers``
  are kept. ``rollout_fingerprints`` holds digests of plain text and paths, nothing secret, but a
  stack may export it as a secret (so that previews show ``[secret]`` rather than a screen of
  digests): then that one output alone is read with ``pulumi stack output rollout_fingerprints
  --show-secrets``. No other output is ever read in plain (``client_identities`` and
  ``rollout_password_digest`` are real secrets);
- ``pulumi config get kafka-tls:sshPrivateKey``: the one secret, its output going straight into a
  0600 file in a private temporary directory, removed when the doctor is done;
- ``pulumi stack export`` (without ``--show-secrets``; only when a fix names a resource): the URNs.

``expectations`` is pure: the stack view in, per host what it should show (``HostExpectation``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from pydantic import ValidationError

from components.config import NAMESPACE, Host, Paths, Restart, Ssh, StoreType, Tls
from components.properties import CA_PEM_FILE_NAME, SECRETS_FILE_NAME, TOOL_CONFIG_NAME, StoreLocations
from doctor.checks import ExpectedFile, HostExpectation, KafkaTool, TlsTarget

OUTPUTS = ("rollout_fingerprints", "certificates", "ca_bundle_pem", "ssl_bootstrap_servers")
# Outputs that hold nothing secret yet may be exported as secrets: read alone, by name, in plain.
PLAIN_WHEN_SECRET = ("rollout_fingerprints",)
SSH_KEY = f"{NAMESPACE}:sshPrivateKey"
PENDING_NAME = "kafka-tls-restart.pending"
_STORE_EXT = {"p12": StoreType.PKCS12, "jks": StoreType.JKS, "pem": StoreType.PEM}


class StackError(RuntimeError):
    """The stack cannot be read (no such stack, no outputs yet, a bad config value)."""


@dataclass(frozen=True)
class StackView:
    """What the doctor needs of a stack: the hosts and settings, and the last `up`'s outputs."""

    name: str
    brokers: tuple[Host, ...]
    workers: tuple[Host, ...]
    ssh: Ssh = field(default_factory=Ssh)
    paths: Paths = field(default_factory=Paths)
    tls: Tls = field(default_factory=Tls)
    restart: Restart = field(default_factory=Restart)
    outputs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def hosts(self) -> tuple[Host, ...]:
        return (*self.brokers, *self.workers)


class PulumiCli:
    """The ``pulumi`` CLI on one stack, from its project directory. No call passes
    ``--show-secrets``; the one secret read (the SSH key) goes to a file, not to this process."""

    def __init__(self, stack: str, cwd: Optional[str] = None, env: Optional[Mapping[str, str]] = None, pulumi: str = "pulumi"):
        self.stack, self.cwd = stack, cwd or os.getcwd()
        self.env = {**os.environ, **(env or {})}
        self.pulumi = shutil.which(pulumi, path=self.env.get("PATH")) or pulumi

    def argv(self, *args: str) -> list[str]:
        if "--show-secrets" in args:
            # Only `stack output <name> --show-secrets` of an output that holds nothing secret.
            assert args[:2] == ("stack", "output") and args[2] in PLAIN_WHEN_SECRET, "the doctor never reads secrets in plain"
        return [self.pulumi, *args, "--stack", self.stack, "--non-interactive"]

    def run(self, *args: str, stdout: Any = subprocess.PIPE, timeout: float = 120) -> str:
        try:
            done = subprocess.run(
                self.argv(*args),
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.PIPE,
                text=True,
                timeout=timeout,
            )
        except FileNotFoundError:
            raise StackError(f"no `{self.pulumi}` on PATH: the doctor reads the stack through the Pulumi CLI") from None
        except subprocess.TimeoutExpired:
            raise StackError(f"`pulumi {' '.join(args)}` did not answer within {timeout:.0f}s") from None
        if done.returncode != 0:
            raise StackError(f"`pulumi {' '.join(args)} --stack {self.stack}` failed: {done.stderr.strip()[-1500:]}")
        return done.stdout or ""

    def config(self) -> dict[str, Any]:
        """Every non-secret ``kafka-tls:*`` value, by key without the namespace."""
        raw = json.loads(self.run("config", "--json") or "{}")
        out = {}
        for key, entry in raw.items():
            if not key.startswith(NAMESPACE + ":") or entry.get("secret"):
                continue
            out[key.split(":", 1)[1]] = entry["objectValue"] if "objectValue" in entry else entry.get("value")
        return out

    def outputs(self) -> dict[str, Any]:
        raw = json.loads(self.run("stack", "output", "--json") or "{}")
        out = {k: raw[k] for k in OUTPUTS if k in raw}
        for key in PLAIN_WHEN_SECRET:
            if out.get(key) == "[secret]":
                out[key] = json.loads(self.run("stack", "output", key, "--json", "--show-secrets") or "null")
        return out

    def write_ssh_key(self, path: Path) -> None:
        """The stack's SSH private key into ``path`` (made 0600 here, before anything is in it)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            self.run("config", "get", SSH_KEY, stdout=f)
        if path.stat().st_size == 0:
            raise StackError(f"the stack has no {SSH_KEY}")

    def note_repair(self, host: str, note: str) -> None:
        """``kafka-tls:repair.<host>`` in the stack's config file: the next ``up`` repairs it."""
        self.run("config", "set", "--path", f"{NAMESPACE}:repair.{host}", note)


@contextlib.contextmanager
def ssh_key_file(cli: PulumiCli) -> Iterator[Path]:
    """The stack's SSH key in a 0600 file of a 0700 temporary directory, removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="kafka-tls-doctor-"))
    try:
        key = directory / "id"
        cli.write_ssh_key(key)
        yield key
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _model(cls, raw: Any, key: str):
    try:
        return cls.model_validate(raw or {})
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise StackError(f"{NAMESPACE}:{key}{'.' + where if where else ''}: {first['msg']}") from None


def read_stack(cli: PulumiCli) -> StackView:
    config = cli.config()
    outputs = cli.outputs()
    if not outputs.get("rollout_fingerprints") and not outputs.get("certificates"):
        raise StackError(f"stack '{cli.stack}' has no outputs of a kafka-tls `pulumi up` yet: run `pulumi up` first")
    hosts: dict[str, list[Host]] = {}
    for key in ("brokers", "connectWorkers"):
        items = config.get(key) or []
        if not isinstance(items, list):
            raise StackError(f"{NAMESPACE}:{key}: not a list")
        hosts[key] = [_model(Host, item, f"{key}[{i}]") for i, item in enumerate(items)]
    if not hosts["brokers"]:
        raise StackError(f"stack '{cli.stack}' lists no {NAMESPACE}:brokers")
    return StackView(
        name=cli.stack,
        brokers=tuple(hosts["brokers"]),
        workers=tuple(hosts["connectWorkers"]),
        ssh=_model(Ssh, config.get("ssh"), "ssh"),
        paths=_model(Paths, config.get("paths"), "paths"),
        tls=_model(Tls, config.get("tls"), "tls"),
        restart=_model(Restart, config.get("restart"), "restart"),
        outputs=outputs,
    )


def bootstrap_ports(servers: str) -> dict[str, int]:
    """``ssl_bootstrap_servers`` ('a:9093,b:9093') as DNS name -> TLS port."""
    out = {}
    for entry in (e.strip() for e in (servers or "").split(",")):
        name, _, port = entry.rpartition(":")
        if name and port.isdigit():
            out[name.strip("[]")] = int(port)
    return out


def _files(view: StackView, host: Host, broker: bool, recorded: Mapping[str, str]) -> dict[str, str]:
    """The host's managed paths, by kind: as the last `up` recorded them, else as the config says."""
    if recorded:
        return dict(recorded)
    loc = StoreLocations.for_host(view.paths, view.tls.store_type)
    ssl_dir = view.paths.ssl_dir
    files = {
        "ssl_dir": ssl_dir,
        "keystore": loc.keystore,
        "truststore": loc.truststore,
        "secrets": loc.secrets_file,
        "properties": view.paths.server_properties if broker else view.paths.connect_properties,
    }
    if broker:
        files["tool_config"] = f"{ssl_dir}/{TOOL_CONFIG_NAME}"
    if view.tls.store_type is StoreType.PEM:
        files["key"] = f"{ssl_dir}/kafka.key.pem"
    return files


_MODES = {"ssl_dir": "750", "keystore": "600", "key": "600", "secrets": "600"}


def expectations(view: StackView, only: Sequence[str] = ()) -> list[HostExpectation]:
    """What each host (or each of ``only``) should show, from the stack's config and outputs."""
    known = [h.name for h in view.hosts]
    if unknown := [n for n in only if n not in known]:
        raise StackError(f"no host {', '.join(unknown)} in stack '{view.name}' (its hosts: {', '.join(known)})")
    fingerprints = view.outputs.get("rollout_fingerprints") or {}
    certificates = view.outputs.get("certificates") or {}
    ports = bootstrap_ports(view.outputs.get("ssl_bootstrap_servers") or "")
    owner = view.paths.owner or "root:root"
    group = owner.partition(":")[2] or "root"
    brokers = [b for b in view.brokers if b.host in ports]
    out = []
    for host in view.hosts:
        if only and host.name not in only:
            continue
        broker = host in view.brokers
        fp = fingerprints.get(host.name)
        files = _files(view, host, broker, (fp or {}).get("files") or {})
        ssl_dir = files["ssl_dir"]
        expected = [
            ExpectedFile(kind, path, f"root:{group}" if kind == "ssl_dir" else owner, _MODES.get(kind, "640"), kind == "ssl_dir")
            for kind, path in files.items()
        ]
        ca_pem = f"{ssl_dir}/{CA_PEM_FILE_NAME}"
        expected.append(ExpectedFile("ca_bundle", ca_pem, owner, "640"))
        ext = files["keystore"].rsplit(".", 1)[-1]
        own = [b for b in brokers if b.name == host.name]
        targets = tuple(
            TlsTarget(b.name, b.host, ports[b.host], b.host) for b in (*own, *(b for b in brokers if b.name != host.name))
        )
        kafka = None
        if broker and host.host in ports and "tool_config" in files and host.node_id is not None:
            # A SASL_SSL TLS listener: the gate's tools (and so the doctor's) dial the port the plan recorded.
            port = (fp or {}).get("gate_tools_port") or ports[host.host]
            kafka = KafkaTool(view.restart.kafka_bin, host.host, port, files["tool_config"], host.node_id)
        out.append(
            HostExpectation(
                name=host.name,
                role="broker" if broker else "connect",
                dns_names=tuple(host.dns_names),
                ip_addresses=tuple(host.ip_addresses),
                files=tuple(expected),
                properties_path=files["properties"],
                ssl_dir=ssl_dir,
                ca_pem=ca_pem,
                secrets_file=files.get("secrets", f"{ssl_dir}/{SECRETS_FILE_NAME}"),
                pending_marker=f"{ssl_dir}/{PENDING_NAME}",
                store_type=_STORE_EXT.get(ext, view.tls.store_type).value,
                keystore=files["keystore"],
                truststore=files["truststore"],
                alias=host.name,
                service_user=view.paths.owner.partition(":")[0],
                restart_command=view.restart.kafka if broker else view.restart.connect,
                tls_targets=targets,
                kafka=kafka,
                rest_address=host.bind_address or host.address,
                fingerprint=fp,
                certificate=certificates.get(host.name),
                ca_bundle_pem=view.outputs.get("ca_bundle_pem") or "",
                renewal_days=view.tls.cert_early_renewal_days,
                listener_name=view.tls.listener_name,
            )
        )
    return out


def access(view: StackView) -> dict[str, tuple[str, str]]:
    """Per host the address SSH dials and its pinned host key."""
    return {h.name: (h.address, h.host_key) for h in view.hosts}
