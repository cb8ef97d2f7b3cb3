"""Restarts that never take more than one broker down.

Each plan step writes one host's properties file, restarts it and waits for its health gate; the
next step starts only after the previous one succeeded (a dependency chain, not a hope). The chain
holds one resource per step: the Python SDK checks every new dependency for cycles by walking all
that it reaches, so a longer chain costs much more than linearly at preview time. A step re-runs only when its
triggers change: what the service reads (properties text, store content, passwords), never the
SSH connection details.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import pulumi
from pulumi_command import remote

from components.plan import RestartStep


@dataclass(frozen=True)
class RestartCommand:
    """A plan step made concrete: the script to run and what it waits for."""

    step: RestartStep
    connection: remote.ConnectionArgs
    script: pulumi.Input[str]
    """Restart (or write-stage-and-restart) then health gate; see scripts.restart_script."""
    triggers: Sequence[Any] = ()
    """Values whose change means the service must re-read its files."""
    stdin: Optional[pulumi.Input[str]] = None
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """What must be in place on this host first (files, stores)."""


class RollingRestart(pulumi.ComponentResource):
    """A chain of restart commands, one host at a time, in the plan's order."""

    steps: list[remote.Command]

    def __init__(self, name: str, commands: Sequence[RestartCommand], opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kafka-tls:index:RollingRestart", name, None, opts)
        self.steps = []
        previous: list[pulumi.Resource] = []
        for c in commands:
            after = [*previous, *c.after]
            command = remote.Command(
                f"{name}-{c.step.stage}-{c.step.host}",
                connection=c.connection,
                create=c.script,
                stdin=c.stdin,
                triggers=list(c.triggers) or None,
                logging=remote.Logging.STDOUT_AND_STDERR,
                opts=pulumi.ResourceOptions(parent=self, depends_on=after, ignore_changes=["connection"]),
            )
            self.steps.append(command)
            previous = [command]
        self.register_outputs({})
