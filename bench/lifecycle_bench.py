"""The certificate lifecycle's cost on the lab, under load (a benchmark, not a test).

    .venv/bin/python bench/lifecycle_bench.py

For each scenario, on a secured lab with an idempotent acks=all producer at 100 msg/s (RF=3,
min.insync.replicas=2) and the 200 ms broker sampler running (tests/e2e/load.py):
- `renewal`: a new certificate validity, which brokers take by reloading (KIP-226);
- `restart`: a property change, which restarts every broker (for comparison);
- `ca rotation`: `ca.generation` raised, then its three `up` runs (trust both, re-issue, drop);
it prints the wall time of the `up`, restarts per broker (PID changes), the longest produce
latency, the most brokers down in one sample, lost/duplicated records, and each broker's step
time (reload versus restart) from the engine's events. The lab is reset to plaintext first and
left plaintext afterwards.
"""

from __future__ import annotations

import re
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab import Lab  # noqa: E402
from labstack import PLAINTEXT_QUORUM, LabStack, lab_tls  # noqa: E402
from tests.e2e.helpers import create_topic, ssl_client_config, write_ca  # noqa: E402
from tests.e2e.load import Sampler, Traffic  # noqa: E402

BROKERS = {"broker-1": "127.0.0.11", "broker-2": "127.0.0.12", "broker-3": "127.0.0.13"}
STACK = "bench-life"


def step_times(events: list) -> dict[str, float]:
    """Seconds each rollout step took, from the engine's pre/out events (by resource name)."""
    started, took = {}, {}
    for e in events:
        if e.resource_pre_event:
            started[e.resource_pre_event.metadata.urn] = e.timestamp
        elif e.res_outputs_event and e.res_outputs_event.metadata.urn in started:
            urn = e.res_outputs_event.metadata.urn
            if "-rollout-" in urn and e.res_outputs_event.metadata.op.value != "same":
                took[urn.rsplit("::", 1)[1]] = e.timestamp - started[urn]
    return took


def scenario(lab: Lab, name: str, overrides: dict, outputs: dict) -> dict:
    stack = LabStack(lab, STACK, overrides={"connectWorkers": [], **overrides})
    config = ssl_client_config(outputs, write_ca(outputs, Path("/tmp")))
    topic = f"bench-{re.sub(r'[^a-z0-9]+', '-', name).strip('-')}-{uuid.uuid4().hex[:6]}"  # Kafka's topic charset
    create_topic(config, topic)
    pids = {b: lab.service_pid(b) for b in BROKERS}
    sampler = Sampler({b: (a, 9093) for b, a in BROKERS.items()}).start()
    traffic = Traffic(config, topic).start()
    events: list = []
    started = time.monotonic()
    result = stack.up(on_event=events.append)
    wall = time.monotonic() - started
    traffic.stop()
    sampler.stop()
    verdict = traffic.verify()
    restarts = {b: int(lab.service_pid(b) != pids[b]) for b in BROKERS}
    print(f"\n{name}: up {wall:.0f} s; restarts per broker {restarts}; longest produce latency "
          f"{traffic.max_latency * 1000:.0f} ms; most brokers down at once {sampler.max_down}; "
          f"sent {verdict.sent}, lost {len(verdict.lost)}, duplicated {len(verdict.duplicated)}, client epoch bumps {len(verdict.epoch_bumps)}")
    for step, seconds in sorted(step_times(events).items()):
        print(f"  {step}: {seconds:.1f} s")
    return {k: v.value for k, v in result.outputs.items()}


def main() -> int:
    lab = Lab()
    lab.up()
    lab.reset_plaintext()
    # The controller listener stays plaintext: these figures are of broker steps (README "Scale").
    first = LabStack(lab, STACK, overrides={"connectWorkers": [], "tls": lab_tls(**PLAINTEXT_QUORUM)}).up()
    outputs = {k: v.value for k, v in first.outputs.items()}
    settings = LabStack(lab, STACK).stack_settings()["config"]
    renewed = {"tls": lab_tls(certValidityDays=300, **PLAINTEXT_QUORUM)}
    outputs = scenario(lab, "renewal (reload)", renewed, outputs)
    brokers = [dict(b, properties={"num.io.threads": "5"}) for b in settings["kafka-tls:brokers"]]
    outputs = scenario(lab, "property change (restart)", {**renewed, "brokers": brokers}, outputs)
    for phase in (1, 2, 3):
        outputs = scenario(lab, f"ca rotation, phase {phase} of 3", {**renewed, "brokers": brokers, "ca": {"generation": 2}}, outputs)
    lab.reset_plaintext()
    return 0


if __name__ == "__main__":
    sys.exit(main())
