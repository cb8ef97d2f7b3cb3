"""Restarts that never take more than one broker down.

Each plan step writes one host's properties file, restarts it and waits for its health gate; the
next step starts only after the previous one succeeded (a dependency chain, not a hope). The chain
holds one resource per step: the Python SDK checks every new dependency for cycles by walking all
that it reaches, so a longer chain costs much more than linearly at preview time. A step re-runs
only when its triggers change: what the service reads (properties path and text, store content,
passwords). Any other change (SSH settings, restart command, gate timeout) runs the step's update
script, which restarts nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
from pulumi_command import remote

from components.host_command import HostAccess, host_command
from components.plan import RestartStep


@dataclass(frozen=True)
class RestartCommand:
    """A plan step made concrete: the script to run and what it waits for."""

    step: RestartStep
    access: HostAccess
    script: pulumi.Input[str]
    """Write the properties file, restart, health gate; see scripts.write_and_restart_script."""
    update_script: pulumi.Input[str]
    """What runs when an input other than the triggers changed: restarts only a host whose last
    restart did not pass its gate (scripts.resume_or)."""
    triggers: Sequence[Any] = ()
    """Values whose change means the service must re-read its files."""
    stdin: Optional[pulumi.Input[str]] = None
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """What must be in place on this host first (files, stores)."""
    host: Optional[pulumi.Resource] = None
    """The host's component, which parents the step (None: this rollout component does)."""


class RollingRestart(pulumi.ComponentResource):
    """A chain of waves in the plan's order: a wave starts once every step of the one before
    passed. A wave is one step, except the reloads after the canary (plan.RestartStep.wave).
    Each step hangs under its host's component; an older kafka-tls hung them here (the alias
    keeps them)."""

    steps: list[remote.Command]
    """The commands made so far (all of them once ``done`` resolves)."""
    done: pulumi.Output[str]
    """Resolves once every step is registered: the last step's URN."""

    def __init__(self, name: str, commands: Sequence[RestartCommand], opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kafka-tls:index:RollingRestart", name, None, opts)
        self.steps = []
        waves: list[list[RestartCommand]] = []
        for c in commands:
            if waves and waves[-1][0].step.wave == c.step.wave:
                waves[-1].append(c)
            else:
                waves.append([c])

        def make(c: RestartCommand, previous: Sequence[pulumi.Resource]) -> remote.Command:
            return host_command(
                f"{name}-{c.step.stage}-{c.step.host}",
                c.access,
                c.script,
                update=c.update_script,
                stdin=c.stdin,
                triggers=list(c.triggers) or None,
                logging=remote.Logging.STDOUT_AND_STDERR,
                # Delete (a no-op) before replace: when the new step fails, the engine keeps no
                # record of it, so the next `up` creates it again and restarts this host, even
                # if the fix restores exactly the triggers of the last success. (Replaced the
                # other way round, the old record stays and the next `up` sees nothing to do.)
                opts=pulumi.ResourceOptions(
                    parent=c.host or self,
                    aliases=[pulumi.Alias(parent=self)] if c.host else None,
                    depends_on=[*previous, *c.after],
                    delete_before_replace=True,
                ),
            )

        def wave(i: int, previous: Sequence[pulumi.Resource]) -> pulumi.Output[str]:
            made = [make(c, previous) for c in waves[i]]
            self.steps += made
            urns = pulumi.Output.all(*[m.urn for m in made]).apply(lambda u: u[-1])
            if i + 1 == len(waves):
                return urns
            # The next wave is made once this one is registered. The dependency is still declared
            # (depends_on), so the engine's graph is the same; but the Python SDK tracks every
            # pending output and scans them all whenever one resolves, so a whole chain made up
            # front (all waiting on their predecessors) costs O(steps^2) in a preview.
            return urns.apply(lambda _: wave(i + 1, made))

        self.done = wave(0, []) if waves else pulumi.Output.from_input("")
        self.register_outputs({})
