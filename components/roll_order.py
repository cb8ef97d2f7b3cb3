"""The order brokers roll in, after Strimzi's KafkaRoller: brokers that are down or failing first,
the active KRaft controller (the quorum leader) last.

A broker that is down already counts against every partition's in-sync replicas: rolled last, the
healthy brokers before it could not pass their min.insync.replicas check (each restart would wait
for it), and its own step, which would bring it back, would never come. A restart of the quorum
leader moves leadership to another controller; rolled first, the next controllers' restarts
would move it again (one election per restart instead of one).

What is down and who leads is read from the brokers at preview and at ``up`` alike, by one
read-only script per broker over SSH (``reading_script``): the node's ``quorum-state`` file in its
metadata log directory (leader id and epoch, as the node last learnt them; the highest epoch
wins), whether a restart of the last ``up`` is still pending (its marker), and whether any of the
listeners of the properties file on the host is listening (``/proc/net/tcp``). No JVM, no
credentials, nothing written. The plan orders the steps from this reading (``plan.plan``): the
preview shows the order and why, and ``up`` reads again and orders the same way.
"""

from __future__ import annotations

import base64
import binascii
import json
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from components.config import ClusterConfig, RollOrder
from components.proc_net import listening_sockets, listens
from components.properties import parse_listeners, parse_properties
from components.ssh_read import Login, login_files, run_as_root

if TYPE_CHECKING:
    from components.plan import HostPlan

q = shlex.quote
MAX_TEXT = 262144  # characters of a file or of /proc/net/tcp kept


@dataclass(frozen=True)
class BrokerState:
    """One broker as the reading found it."""

    down: str = ""
    """Why the broker counts as down or failing ('' when it serves)."""
    quorum: Optional[tuple[int, int]] = None
    """(leader epoch, leader's node id) from its quorum-state file; None when it has none."""
    read: bool = True
    """False when it could not be read at all (it counts as down then)."""


@dataclass(frozen=True)
class ClusterReading:
    """What the brokers showed; ``unread`` says why they were not read (then the order is the config's)."""

    brokers: Mapping[str, BrokerState] = field(default_factory=dict)
    unread: str = ""

    def leader_id(self) -> Optional[int]:
        """The quorum leader's node id, as the node that learnt the newest epoch has it."""
        known = [s.quorum for s in self.brokers.values() if s.quorum and s.quorum[1] >= 0]
        return max(known)[1] if known else None


def metadata_dir(properties: Mapping[str, str]) -> str:
    """Where Kafka keeps the metadata log: metadata.log.dir, else the first of log.dirs (or log.dir)."""
    if properties.get("metadata.log.dir"):
        return properties["metadata.log.dir"]
    dirs = properties.get("log.dirs") or properties.get("log.dir") or "/tmp/kafka-logs"
    return dirs.split(",")[0].strip()


def reading_script(properties_path: str, metadata_log_dir: str, pending_marker: str) -> str:
    """Read-only: one record a line, ``<tag> <base64>``."""
    quorum_state = f"{metadata_log_dir.rstrip('/')}/__cluster_metadata-0/quorum-state"
    return (
        "set -u\n"
        "emit() { printf '%s %s\\n' \"$1\" \"$(printf '%s' \"$2\" | base64 -w0)\"; }\n"
        f"if [ -r {q(quorum_state)} ]; then emit quorum \"$(head -c 4096 -- {q(quorum_state)})\"; fi\n"
        f"if [ -e {q(pending_marker)} ]; then emit pending yes; fi\n"
        f"if [ -r {q(properties_path)} ]; then emit properties \"$(head -c {MAX_TEXT} -- {q(properties_path)})\"; fi\n"
        f"emit listen \"$(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | head -c {MAX_TEXT})\"\n"
        "echo END\n"
    )


def parse_reading(stdout: str) -> dict[str, str]:
    """The records of ``reading_script``; raises ValueError when the output did not end."""
    records: dict[str, str] = {}
    lines = stdout.splitlines()
    if not lines or lines[-1] != "END":
        raise ValueError("the reading did not finish")
    for line in lines[:-1]:
        tag, _, value = line.partition(" ")
        try:
            records[tag] = base64.b64decode(value).decode(errors="replace")
        except (binascii.Error, ValueError):
            raise ValueError(f"an unreadable record '{tag}'") from None
    return records


def broker_state(records: Mapping[str, str]) -> BrokerState:
    """What one broker's records say: failing (a restart left pending), down (none of its
    listeners listening), and the quorum leader it knows."""
    quorum = None
    try:
        state = json.loads(records.get("quorum", ""))
        quorum = (int(state["leaderEpoch"]), int(state["leaderId"]))
    except (ValueError, KeyError, TypeError):
        pass
    if records.get("pending"):
        return BrokerState("a restart of the last up did not pass its gate", quorum)
    if "properties" not in records:
        return BrokerState("", quorum)  # nothing to say which ports it serves: not called down
    try:
        listeners = parse_listeners(parse_properties(records["properties"]).get("listeners", ""))
    except ValueError:
        return BrokerState("", quorum)
    sockets = listening_sockets(records.get("listen", ""))
    if listeners and not any(listens(sockets, x.host, x.port) for x in listeners):
        ports = ", ".join(str(x.port) for x in listeners)
        return BrokerState(f"nothing listens on its ports {ports}", quorum)
    return BrokerState("", quorum)


# --- Reading the brokers (the one part that is not pure) ---------------------------------------

READ_TIMEOUT = 30.0  # seconds for one broker's reading, SSH included
ReadCluster = Callable[[Sequence["HostPlan"]], ClusterReading]
"""What ``plan.plan`` calls for the brokers' reading (``read_cluster`` with the config bound)."""


def _read_broker(login: Login, h: HostPlan) -> BrokerState:
    script = reading_script(h.properties.path, metadata_dir(parse_properties(h.properties.text or "")), h.restart_pending)
    try:
        done = run_as_root(login, h.name, h.host.address, script, READ_TIMEOUT)
    except subprocess.TimeoutExpired:
        return BrokerState(f"no reading over SSH within {READ_TIMEOUT:.0f}s", read=False)
    try:
        return broker_state(parse_reading(done.stdout))
    except ValueError:
        last = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        return BrokerState(f"cannot be read over SSH ({last[0][:200]})", read=False)


def read_cluster(config: ClusterConfig, brokers: Sequence[HostPlan]) -> ClusterReading:
    """Every broker read at once over SSH. A broker that cannot be read counts as down (its step
    would fail first, before a healthy broker is taken down); when none can be, the order is the
    config's and the reading says why."""
    if config.restart.order is RollOrder.CONFIG:
        return ClusterReading(unread="restart.order: config")

    def write_key(path: Path) -> None:
        # OpenSSH refuses a key file whose last line has no line break.
        path.write_text(config.ssh_private_key.get_secret_value().strip() + "\n")

    with login_files({h.name: h.host.host_key for h in brokers}, write_key) as (key, known_hosts):
        login = Login(config.ssh.user, config.ssh.port, key, known_hosts, config.ssh.sudo)
        with ThreadPoolExecutor(max_workers=min(16, max(1, len(brokers)))) as pool:
            read = list(pool.map(lambda h: _read_broker(login, h), brokers))
    states = {h.name: state for h, state in zip(brokers, read, strict=True)}
    if not any(s.read for s in states.values()):
        first = read[0].down if read else "no brokers"
        return ClusterReading(unread=f"no broker could be read: {first}")
    return ClusterReading(states)
