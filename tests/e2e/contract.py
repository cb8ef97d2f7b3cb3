"""The preview is a promise: what a preview's ``restart_plan`` says of each host is what the
``up`` then does to it, and what the host shows afterwards.

``restart`` means a new process; ``reload`` the same process, serving the new certificate where
one was re-issued (a reload for new trusted CAs alone keeps the certificate);
``rewrite`` and ``nothing`` the same process, the same certificate and the same properties file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Optional

from pulumi import automation as auto

PROPERTIES = {"broker": "/etc/kafka/server.properties", "connect": "/etc/kafka/connect-avro-distributed.properties"}


@dataclass(frozen=True)
class Seen:
    """One host as a client and its operator see it."""

    pid: Optional[int]
    served: Optional[str]
    """The SHA-256 fingerprint the broker's TLS listener presents (None for a Connect worker)."""
    properties: str
    """A digest of the properties file on the host."""


def served_fingerprint(lab, host: str, address: str, port: int = 9093) -> Optional[str]:
    """What the broker presents on its TLS listener, asked on the host itself."""
    out = lab.ssh(host, f"openssl s_client -connect {address}:{port} </dev/null 2>/dev/null "
                        "| openssl x509 -noout -fingerprint -sha256").stdout.strip()
    return out.split("=", 1)[1] if "=" in out else None


def observe(lab, addresses: dict[str, str], hosts: list[str]) -> dict[str, Seen]:
    seen = {}
    for h in hosts:
        kind = "connect" if h.startswith("connect") else "broker"
        text = lab.ssh(h, f"cat {PROPERTIES[kind]}").stdout
        served = served_fingerprint(lab, h, addresses[h]) if kind == "broker" else None  # brokers are in addresses
        seen[h] = Seen(lab.service_pid(h), served, hashlib.sha256(text.encode()).hexdigest())
    return seen


def previewed_restart_plan(stack) -> list[str]:
    """The ``restart_plan`` output as the preview computes it (from the engine's events: the
    stack's last outputs event; an earlier one still carries the last up's outputs)."""
    events: list = []
    stack.preview(on_event=events.append)
    plans = [
        (e.res_outputs_event.metadata.new.outputs or {}).get("restart_plan")
        for e in events
        if e.res_outputs_event and e.res_outputs_event.metadata.type == "pulumi:pulumi:Stack" and e.res_outputs_event.metadata.new
    ]
    plans = [p for p in plans if p is not None]
    assert plans, "the preview's events carry no restart_plan output"
    return list(plans[-1])


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
    return problems


def up_as_previewed(lab, stack, addresses: dict[str, str], hosts: list[str],
                    run: Optional[Callable[[], auto.UpResult]] = None) -> tuple[auto.UpResult, list[str]]:
    """Preview, then up (``run``, e.g. under load), and assert the up kept the preview's word.
    Returns the up's result and its restart_plan."""
    previewed = previewed_restart_plan(stack)
    before = observe(lab, addresses, hosts)
    result = (run or stack.up)()
    done = list(result.outputs["restart_plan"].value)
    problems = broken_promises(previewed, done, before, observe(lab, addresses, hosts))
    assert not problems, problems
    return result, done
