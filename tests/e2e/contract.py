"""The preview is a promise: what a preview's ``restart_plan`` says of each host is what the
``up`` then does to it, and what the host shows afterwards.

``restart`` means a new process; ``reload`` the same process, serving the new certificate where
one was re-issued (a reload for new trusted CAs alone keeps the certificate);
``rewrite`` and ``nothing`` the same process, the same certificate and the same properties file.
"""

from __future__ import annotations

import hashlib
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from pulumi import automation as auto

from components.scripts import host_port
from review import summary

PROPERTIES = {"broker": "/etc/kafka/server.properties", "connect": "/etc/kafka/connect-avro-distributed.properties"}


@dataclass(frozen=True)
class Seen:
    """One host as a client and its operator see it."""

    pid: Optional[int]
    served: Optional[str]
    """The SHA-256 fingerprint the broker's TLS listener presents (None for a Connect worker)."""
    properties: str
    """A digest of the properties file on the host."""
    started: Optional[int] = None
    """When its process started (clock ticks since boot): the order the up restarted hosts in."""


def started_at(pid: Optional[int]) -> Optional[int]:
    """/proc/<pid>/stat's starttime (the lab's hosts are processes of this machine)."""
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19]) if pid else None
    except (OSError, IndexError, ValueError):
        return None


def _listening(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=5):
            return True
    except OSError:
        return False


def quorum_leader(lab) -> str:
    """The active controller as Kafka's own tool names it: the broker's short name. Asked over the
    plaintext controller listener; once that moved to TLS (mutual, so the lab's tools have no way
    in), through the brokers' plaintext listener, which the lab's stacks keep then."""
    brokers = [h for h in lab.inventory()["hosts"] if h["role"] == "broker"]
    if any(_listening(h["address"], 9094) for h in brokers):
        where = ["--bootstrap-controller", ",".join(f"{h['name']}:9094" for h in brokers)]
    else:
        where = ["--bootstrap-server", ",".join(f"{h['name']}:9092" for h in brokers)]
    for _ in range(30):
        r = lab.kafka_tool("org.apache.kafka.tools.MetadataQuorumCommand", *where, "describe", "--status", timeout=120)
        ids = [int(line.split(":")[1]) for line in r.stdout.splitlines() if line.strip().startswith("LeaderId:")]
        if ids and ids[0] >= 0:
            return next(h["short_name"] for h in brokers if h["node_id"] == ids[0])
        time.sleep(1)
    raise AssertionError(f"no quorum leader: {r.stdout[-1000:]} {r.stderr[-1000:]}")


def served_fingerprint(lab, host: str, address: str, port: int = 9093) -> Optional[str]:
    """What the broker presents on its TLS listener, asked on the host itself."""
    out = lab.ssh(host, f"openssl s_client -connect {host_port(address, port)} </dev/null 2>/dev/null "
                        "| openssl x509 -noout -fingerprint -sha256").stdout.strip()
    return out.split("=", 1)[1] if "=" in out else None


def observe(lab, addresses: dict[str, str], hosts: list[str]) -> dict[str, Seen]:
    seen = {}
    for h in hosts:
        kind = "connect" if h.startswith("connect") else "broker"
        text = lab.ssh(h, f"cat {PROPERTIES[kind]}").stdout
        served = served_fingerprint(lab, h, addresses[h]) if kind == "broker" else None  # brokers are in addresses
        pid = lab.service_pid(h)
        seen[h] = Seen(pid, served, hashlib.sha256(text.encode()).hexdigest(), started_at(pid))
    return seen


def previewed(stack) -> tuple[list[str], str]:
    """The preview as CI runs it on a pull request (``pulumi preview --json``, events streamed):
    its ``restart_plan`` output, and the comment ``review.summary`` makes of that same preview."""
    run = stack.preview_json()
    assert run.returncode == 0, run.stderr[-3000:]
    preview = summary.load(run.stdout)
    plan = preview.outputs.get("restart_plan")
    assert isinstance(plan, list), "the preview's events carry no restart_plan output"
    return [str(line) for line in plan], summary.render(preview)


_RANGE = re.compile(r"^(.*?)(\d+) … (.*?)(\d+)$")


def plan_in_comment(comment: str) -> list[tuple[str, str]]:
    """(host, action) for each host, in order, from the comment's rollout plan table, with
    ranges (``broker-1 … broker-3``) spelled out."""
    table = comment.split("**Rollout plan**", 1)[1].split("\n\n")[1].splitlines()
    out = []
    for row in table[2:]:  # after the header and its rule
        hosts, action = (cell.strip() for cell in row.strip("|").split(" | ")[:2])
        out += [(name, action) for name in spelled_out(hosts)]
    return out


def spelled_out(hosts: str) -> list[str]:
    """'broker-1 … broker-3, connect-1' -> every name."""
    out = []
    for part in hosts.split(", "):
        m = _RANGE.match(part)
        out += [f"{m.group(1)}{n}" for n in range(int(m.group(2)), int(m.group(4)) + 1)] if m else [part]
    return out


def certificate_lines(comment: str) -> dict[str, str]:
    """Per host, what the comment's certificates section says of it, whatever the grouping (the
    old expiry is shown by day: certificates issued either side of midnight make two groups)."""
    section = comment.split("**Certificates**", 1)[1].split("\n\n")[0].splitlines()[1:]
    out = {}
    for line in section:
        if line.startswith("- ") and ": " in line:
            hosts, what = line[2:].split(": ", 1)
            out |= dict.fromkeys(spelled_out(hosts), what)
    return out


def action_of(line: str) -> str:
    """'broker-1: reload, no restart (...)' -> 'reload'."""
    return line.split(": ", 1)[1].split(" ", 1)[0].rstrip(",")


def broken_promises(previewed: list[str], done: list[str], before: dict[str, Seen], after: dict[str, Seen]) -> list[str]:
    """Every way the up departed from its preview; empty when it kept it."""
    problems = [] if previewed == done else [f"preview said {previewed}, the up said {done}"]
    for line in done:
        host, action = line.split(": ", 1)[0], action_of(line)
        b, a = before[host], after[host]
        if action == "restart" and a.pid == b.pid:
            problems.append(f"{host}: planned a restart, kept pid {a.pid}")
        if action != "restart" and a.pid != b.pid:
            problems.append(f"{host}: planned {action}, but restarted ({b.pid} -> {a.pid})")
        if action == "reload" and "certificate re-issued" in line and a.served == b.served:
            problems.append(f"{host}: planned a reload of a re-issued certificate, still serves {a.served}")
        if action in ("rewrite", "nothing") and (a.served, a.properties) != (b.served, b.properties):
            problems.append(f"{host}: planned {action}, but its certificate or properties file changed")
    # The hosts restarted in the order the plan lists them (each one's last start, the final step's).
    restarted = [line.split(": ", 1)[0] for line in done if action_of(line) == "restart"]
    by_start = sorted(restarted, key=lambda h: after[h].started or 0)
    if by_start != restarted:
        problems.append(f"planned restarts in the order {restarted}, the processes started in the order {by_start}")
    return problems


def leader_last_problem(done: list[str], leader: str) -> str:
    """'' when the quorum leader restarted after every other broker that restarted (or not at
    all), and its line says why."""
    lines = {line.split(": ", 1)[0]: line for line in done if line.startswith("broker-") and action_of(line) == "restart"}
    restarted = list(lines)
    if leader not in restarted or len(restarted) < 2:
        return ""
    if restarted[-1] != leader:
        return f"the quorum leader {leader} restarted before {restarted[restarted.index(leader) + 1:]}"
    return "" if "quorum leader (node " in lines[leader] else f"the plan does not say why {leader} goes last"


def up_as_previewed(lab, stack, addresses: dict[str, str], hosts: list[str],
                    run: Optional[Callable[[], auto.UpResult]] = None,
                    comments: Optional[list[str]] = None) -> tuple[auto.UpResult, list[str]]:
    """Preview, then up (``run``, e.g. under load), and assert the up kept the preview's word,
    and so did the pull request comment of that preview. Returns the up's result and its
    restart_plan; the comment is appended to ``comments``."""
    plan, comment = previewed(stack)
    before = observe(lab, addresses, hosts)
    # Two brokers or more restart: the quorum leader, as Kafka names it, must be the last of them.
    leader = quorum_leader(lab) if sum(action_of(line) == "restart" and line.startswith("broker-") for line in plan) > 1 else ""
    result = (run or stack.up)()
    done = list(result.outputs["restart_plan"].value)
    problems = broken_promises(plan, done, before, observe(lab, addresses, hosts))
    if leader and (problem := leader_last_problem(done, leader)):
        problems.append(problem)
    assert not problems, problems
    told = [(line.split(": ", 1)[0], summary.parse_plan_line(line).action) for line in done]
    assert plan_in_comment(comment) == told, comment
    if comments is not None:
        comments.append(comment)
    return result, done
