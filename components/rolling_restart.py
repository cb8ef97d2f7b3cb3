"""Restarts that never take more than one broker down.

Each step restarts one host and waits for its health gate; the next step starts only after the
previous one succeeded (a dependency chain, not a hope). A step re-runs only when its triggers
change: what the service reads (properties text, store content, passwords), never the SSH
connection details.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import pulumi

from components.providers import Providers


@dataclass(frozen=True)
class RestartStep:
    host_name: str
    connection: dict
    script: pulumi.Input[str]
    """Restart (or stage-and-restart) then health gate; see scripts.restart_script."""
    triggers: Sequence[Any] = ()
    """Values whose change means the service must re-read its files."""
    stdin: Optional[pulumi.Input[str]] = None
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """What must be in place on this host first (files, stores)."""


class RollingRestart(pulumi.ComponentResource):
    """A chain of restart steps, one host at a time, in the order given."""

    steps: list[pulumi.CustomResource]

    def __init__(
        self,
        name: str,
        steps: Sequence[RestartStep],
        providers: Providers,
        after: Sequence[pulumi.Resource] = (),
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("kafka-tls:index:RollingRestart", name, None, opts)
        self.steps = []
        previous: list[pulumi.Resource] = list(after)
        for step in steps:
            command = providers.Command(
                f"{name}-{step.host_name}",
                connection=step.connection,
                create=step.script,
                stdin=step.stdin,
                triggers=list(step.triggers) or None,
                logging=providers.full_logging,
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[*previous, *step.after], ignore_changes=["connection"]
                ),
            )
            self.steps.append(command)
            previous = [command]
        self.register_outputs({})

    @property
    def last(self) -> list[pulumi.Resource]:
        """Depend on this to start after the whole chain."""
        return self.steps[-1:]
