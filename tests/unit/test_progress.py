"""The main job's per-host progress lines, from engine events as the Automation API hands them over."""

from __future__ import annotations

from pulumi.automation import events

from labstack.progress import RolloutProgress

COMMAND = "command:remote:Command"


def event(kind: str, op: str, name: str, type_: str = COMMAND) -> events.EngineEvent:
    urn = f"urn:pulumi:lab::kafka-tls::kafka-tls:index:KafkaTlsCluster$kafka-tls:index:Broker${type_}::{name}"
    return events.EngineEvent.from_json(
        {"sequence": 1, "timestamp": 0, kind: {"metadata": {"op": op, "urn": urn, "type": type_, "provider": ""}}}
    )


def test_a_line_when_each_step_starts_and_ends_with_its_time():
    lines: list[str] = []
    now = iter([0.0, 1.0, 1.0, 31.0, 31.0, 32.0, 32.0, 40.0, 40.0])
    progress = RolloutProgress(lines.append, clock=lambda: next(now))
    for e in (
        event("resourcePreEvent", "create", "kafka-broker-2-keystore"),  # not a rollout step: no line
        event("resourcePreEvent", "delete-replaced", "kafka-rollout-final-broker-2"),
        event("resourcePreEvent", "create-replacement", "kafka-rollout-final-broker-2"),
        event("resOutputsEvent", "create-replacement", "kafka-rollout-final-broker-2"),
        event("resourcePreEvent", "same", "kafka-rollout-final-broker-3"),
        event("resourcePreEvent", "update", "kafka-rollout-reload-broker-1"),
        event("resOpFailedEvent", "update", "kafka-rollout-reload-broker-1"),
    ):
        progress(e)
    assert lines == [
        "[    1s] broker-2: final starts…",
        "[   31s] broker-2: final done in 30s (1 step done)",
        "[   32s] broker-1: reload script rewritten",
        "[   40s] broker-1: reload FAILED after 8s (the engine's log says why)",
    ]
