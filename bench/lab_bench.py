"""Timings of kafka-tls against the lab (a benchmark, not a test).

    .venv/bin/python bench/lab_bench.py [--previews 10,50,100,200] [--skip-rollout] [--plain]

Prints:
- `preview` of stacks with N synthetic hosts (a preview contacts no host), and the growth
  ratio of the largest to the next (linear growth is 2.0 for 200 vs 100 hosts);
- the first `up` from plaintext: wall time, the sum of the restart steps' own durations (from
  the engine's events), their ratio, and SSH commands / keytool runs / restarts per host;
- a no-op `up` against a `preview` of the same stack, and how many remote commands it ran.
The lab is reset to plaintext first and left plaintext afterwards. Toolchain timings:
bench/toolchain_bench.sh.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab import Lab  # noqa: E402
from labstack import LabStack  # noqa: E402
from labstack.synthetic import SERVER_BASE  # noqa: E402
from tests.unit.sample import HOST_KEY  # noqa: E402  (well formed, held by nobody: synthetic hosts are never dialled)

COMMAND = "command:remote:Command"
SKIP = {"PULUMI_SKIP_CHECKPOINTS": "true"}  # as README "Scale" advises for previews


def timed(label: str, fn):
    start = time.monotonic()
    result = fn()
    elapsed = time.monotonic() - start
    print(f"{label:<56} {elapsed:8.1f} s", flush=True)
    return result, elapsed


class CommandTimer:
    """Collects engine events as they arrive; a command's duration is from its pre-event to
    its outputs event (arrival times: the engine's own timestamps are whole seconds)."""

    def __init__(self):
        self.started: dict[str, float] = {}
        self.durations: dict[str, float] = {}
        self.outputs: list = []

    def __call__(self, event) -> None:
        now = time.monotonic()
        if event.resource_pre_event and event.resource_pre_event.metadata.type == COMMAND:
            meta = event.resource_pre_event.metadata
            if meta.op.value not in ("same", "read"):
                self.started[meta.urn] = now
        if event.res_outputs_event and event.res_outputs_event.metadata.type == COMMAND:
            meta = event.res_outputs_event.metadata
            if meta.urn in self.started:
                self.durations[meta.urn] = now - self.started[meta.urn]
                self.outputs.append(meta)

    def rollout_window(self) -> tuple[float, float]:
        """When the first restart step began and the last one ended (monotonic seconds)."""
        steps = [urn for urn in self.durations if "-rollout-" in urn.rsplit("::", 1)[-1]]
        return min(self.started[u] for u in steps), max(self.started[u] + self.durations[u] for u in steps)

    def restart_seconds(self) -> float:
        return sum(d for urn, d in self.durations.items() if "-rollout-" in urn.rsplit("::", 1)[-1])

    def per_host(self) -> dict[str, collections.Counter]:
        counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for meta in self.outputs:
            state = (meta.new.outputs if meta.new else {}) or {}
            found = re.search(r"(broker-\d+|connect-\d+)", meta.urn.rsplit("::", 1)[-1])
            host = found.group(1) if found else "?"
            script = state.get("update") or state.get("create") or ""
            counts[host]["ssh commands"] += 1
            counts[host]["keytool runs"] += script.count("keytool ")
            if "-rollout-" in meta.urn and "stage skipped" not in (state.get("stdout") or ""):
                counts[host]["restarts"] += 1
        return counts


def synthetic_brokers(n: int) -> list[dict]:
    return [
        {"name": f"bench-{i}", "host": f"bench-{i}.kafka.lab", "address": f"127.0.{1 + i // 250}.{1 + i % 250}",
         "nodeId": 1000 + i, "hostKey": HOST_KEY}
        for i in range(n)
    ]


def previews(lab: Lab, sizes: list[int], plain: bool = False) -> None:
    # A preview contacts no host: the lab's Kafka services are stopped meanwhile, so that their
    # JVMs do not share the 2 cores with the engine (lab.up() in rollout() starts them again).
    for h in lab.hosts:
        lab.service(h.name, "stop")
    times = {}
    # Brokers only (labstack.synthetic's base): the quorum's controllers are elsewhere, so any
    # number of brokers validates.
    base = lab.dir / "bench-broker-only.properties"
    base.write_text("".join(f"{k}={v}\n" for k, v in SERVER_BASE.items()))
    for n in sizes:
        # restart.order config: the synthetic brokers are never dialled to read the roll order.
        overrides = {"brokers": synthetic_brokers(n), "connectWorkers": [], "serverBaseFile": str(base),
                     "restart": {"order": "config"}}
        synthetic = LabStack(lab, f"bench-synthetic-{n}", overrides=overrides)
        synthetic.stack()  # create the stack and set its config outside the timing
        how = "plain" if plain else "PULUMI_SKIP_CHECKPOINTS"
        _, times[n] = timed(f"pulumi preview --diff ({how}), {n} synthetic hosts",
                            lambda: synthetic.pulumi("preview", "--diff", "--non-interactive", env={} if plain else SKIP))
        synthetic.remove()
    if len(sizes) >= 2:
        a, b = sizes[-2], sizes[-1]
        print(f"growth {b} vs {a} hosts: {times[b] / times[a]:.2f}x (linear: {b / a:.2f}x)")


def rollout(lab: Lab) -> None:
    lab.up()
    stack = LabStack(lab, "bench")
    stack.remove()
    timed("lab reset to plaintext", lab.reset_plaintext)
    stack.stack()
    timed("preview (lab stack, from plaintext)", stack.preview)
    timer = CommandTimer()
    selected = stack.stack()  # select the stack and set its config outside the timing
    began = time.monotonic()
    _, wall = timed("first up (plaintext -> SSL, 3 brokers + 1 worker)", lambda: selected.up(diff=True, on_event=timer))
    restarts = timer.restart_seconds()
    first, last = timer.rollout_window()
    print(f"  restart steps' own durations, summed: {restarts:.1f} s; wall / restarts = {wall / restarts:.2f}")
    print(f"  first restart began after {first - began:.1f} s; the last ended {began + wall - last:.1f} s before up returned")
    for host, counter in sorted(timer.per_host().items()):
        print(f"  {host:<14} " + ", ".join(f"{k}: {v}" for k, v in sorted(counter.items())))
    # The CLI itself, as an operator runs it (the Automation API's up also runs `stack output`).
    _, preview_s = timed("pulumi preview (no change)", lambda: stack.pulumi("preview", "--non-interactive", env=SKIP))
    _, noop_s = timed("pulumi up (no change)", lambda: stack.pulumi("up", "--yes", "--skip-preview", "--non-interactive"))
    noop_timer = CommandTimer()
    timed("no-op up through the Automation API (events)", lambda: stack.up(on_event=noop_timer))
    print(f"  no-op up / preview = {noop_s / preview_s:.2f}; remote commands run: {len(noop_timer.outputs)}")
    timed("destroy", stack.destroy)
    stack.remove()
    timed("lab reset to plaintext", lab.reset_plaintext)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--previews", default="10,50,100,200")
    parser.add_argument("--skip-rollout", action="store_true")
    parser.add_argument("--plain", action="store_true", help="previews as a user types them: no PULUMI_SKIP_CHECKPOINTS")
    args = parser.parse_args()
    lab = Lab()
    timed("lab up (already built: resume or start)", lab.up)
    previews(lab, [int(n) for n in args.previews.split(",") if n], args.plain)
    if not args.skip_rollout:
        rollout(lab)


if __name__ == "__main__":
    main()
