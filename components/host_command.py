"""Every command kafka-tls runs on a host: a pulumi-command ``remote.Command``, as root.

One place decides how a script reaches root (``sudo -n`` for an operator account, or a root
login), so no component can forget it.
"""

from __future__ import annotations

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


def _as_root(script: Optional[pulumi.Input[str]], sudo: bool) -> Optional[pulumi.Input[str]]:
    if script is None or isinstance(script, str):
        return None if script is None else as_root(script, sudo)
    return pulumi.Output.from_input(script).apply(lambda text: as_root(text, sudo))  # type: ignore[arg-type]


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
    return remote.Command(
        name,
        connection=access.connection,
        create=_as_root(create, access.sudo),
        update=_as_root(update, access.sudo),
        delete=_as_root(delete, access.sudo),
        opts=opts,
        **kwargs,
    )
