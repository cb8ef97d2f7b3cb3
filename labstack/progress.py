"""Per-host progress of an ``up`` for a person to follow: from the engine's events, a line when a
host's rollout step starts (restart, reload, or a rewrite of its script) and when it passed its
gate or failed, with the time since the ``up`` began and the step's own duration.

The engine's own output (every resource's diff) goes to a log file instead (``labstack`` main).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Optional

from pulumi.automation import events

# <cluster>-rollout-<stage>-<host>: the rollout steps (components/rolling_restart.py).
_STEP = re.compile(r"-rollout-(stage\d+|back\d+|final|reload)-(.+)$")
# Restart steps are replaced (their triggers changed) or created; an update rewrites a script.
_VERBS = {
    events.OpType.CREATE: "starts",
    events.OpType.CREATE_REPLACEMENT: "starts",
    events.OpType.UPDATE: "script rewritten",
}


class RolloutProgress:
    """An ``on_event`` callback for the Automation API's ``up``."""

    def __init__(self, say: Callable[[str], None] = print, clock: Callable[[], float] = time.monotonic):
        self.say, self.clock = say, clock
        self.began = clock()
        self.started: dict[str, float] = {}
        self.done = 0

    def _line(self, text: str) -> None:
        self.say(f"[{self.clock() - self.began:5.0f}s] {text}")

    def __call__(self, event: events.EngineEvent) -> None:
        if event.resource_pre_event:
            self._begin(event.resource_pre_event.metadata)
        elif event.res_outputs_event:
            self._end(event.res_outputs_event.metadata, failed=False)
        elif event.res_op_failed_event:
            self._end(event.res_op_failed_event.metadata, failed=True)

    @staticmethod
    def _step(meta: events.StepEventMetadata) -> Optional[tuple[str, str]]:
        found = _STEP.search(meta.urn.rsplit("::", 1)[-1]) if meta.type == "command:remote:Command" else None
        return (found.group(2), found.group(1)) if found else None

    def _begin(self, meta: events.StepEventMetadata) -> None:
        step, verb = self._step(meta), _VERBS.get(meta.op)
        if step and verb:
            self.started[meta.urn] = self.clock()
            host, stage = step
            self._line(f"{host}: {stage} {verb}" + ("…" if verb == "starts" else ""))

    def _end(self, meta: events.StepEventMetadata, failed: bool) -> None:
        step = self._step(meta) if meta.op in _VERBS else None
        began = self.started.pop(meta.urn, None) if step else None
        if step is None or began is None:
            return
        host, stage = step
        took = self.clock() - began
        if failed:
            self._line(f"{host}: {stage} FAILED after {took:.0f}s (the engine's log says why)")
            return
        self.done += 1
        self._line(f"{host}: {stage} done in {took:.0f}s ({self.done} step{'s' if self.done > 1 else ''} done)")
