"""Every command kafka-tls runs on a host: a pulumi-command ``remote.Command``, as root.

One place decides how a script reaches root (``sudo -n`` for an operator account, or a root
login), so no component can forget it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

import pulumi
from pulumi_command import remote

from components.scripts import as_root


@dataclass(frozen=True)
class HostAccess:
    """How to reach one host: SSH (host key pinned) and whether to escalate with sudo."""

    connection: remote.ConnectionArgs
    sudo: bool
    repair: str = ""
    """The host's repair note (plan.HostPlan.repair): a new one re-runs every command of the host,
    as a new host key does for a re-imaged host, so files and stores that drifted are written
    again (a key pair still on the host is kept; a missing one is made anew)."""


def _as_root(script: Optional[pulumi.Input[str]], sudo: bool, mark: str = "") -> Optional[pulumi.Input[str]]:
    if script is None:
        return None
    if isinstance(script, str):
        return as_root(mark + script, sudo)
    return pulumi.Output.from_input(script).apply(lambda text: as_root(mark + text, sudo))  # type: ignore[arg-type]


def _repair_mark(note: str) -> str:
    """A first line that changes with the repair note (its digest: the note is the operator's words)."""
    return f"# kafka-tls repair {hashlib.sha256(note.encode()).hexdigest()[:16]}\n" if note else ""


def host_command(
    name: str,
    access: HostAccess,
    create: pulumi.Input[str],
    *,
    update: Optional[pulumi.Input[str]] = None,
    delete: Optional[str] = None,
    opts: Optional[pulumi.ResourceOptions] = None,
    **kwargs,
) -> remote.Command:
    """A remote.Command whose create/update/delete scripts run as root on the host.

    ``update`` runs instead of ``create`` when an input other than ``triggers`` changes (the
    SSH settings, a timeout): give it when re-running ``create`` would do more than needed.
    """
    mark = _repair_mark(access.repair)
    return remote.Command(
        name,
        connection=access.connection,
        create=_as_root(create, access.sudo, mark),
        update=_as_root(update, access.sudo, mark),
        delete=_as_root(delete, access.sudo),
        opts=opts,
        **kwargs,
    )
