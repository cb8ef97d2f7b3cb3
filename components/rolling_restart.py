"""Restarts that never take more than one broker down.

Each plan step restarts one host and waits for its health gate; the next step starts only after
the previous one succeeded (a dependency chain, not a hope). A step re-runs only when its
triggers change: what the service reads (properties text, store content, passwords), never the
SSH connection details.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import pulumi
from pulumi_command import remote

from components.host_file import host_file
from components.plan import FileSpec, RestartStep


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
    write: Optional[tuple[str, FileSpec]] = None
    """(resource name, file): a managed file written just before this restart, after the
    previous step passed, so no host reads its new file before its turn."""


class RollingRestart(pulumi.ComponentResource):
    """A chain of restart commands, one host at a time, in the plan's order."""

    steps: list[remote.Command]

    def __init__(self, name: str, commands: Sequence[RestartCommand], opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kafka-tls:index:RollingRestart", name, None, opts)
        self.steps = []
        previous: list[pulumi.Resource] = []
        for c in commands:
            after = [*previous, *c.after]
            if c.write is not None:
                file_name, spec = c.write
                after.append(host_file(file_name, spec, c.connection, pulumi.ResourceOptions(parent=self, depends_on=list(after))))
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
