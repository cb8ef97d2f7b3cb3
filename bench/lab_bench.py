"""Timings of kafka-tls against the lab (a benchmark, not a test).

    .venv/bin/python bench/lab_bench.py [--cold-toolchain]

Prints: toolchain bootstrap (warm; cold with --cold-toolchain, which builds into a fresh cache,
about 8 minutes), `preview`, first `up` from plaintext, no-op `up`, SSH commands / keytool runs /
restarts per host, and `preview` of stacks with 10, 50 and 100 synthetic hosts (preview
contacts no host). The lab is reset to plaintext first and left plaintext afterwards.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab import Lab  # noqa: E402
from labstack import LabStack  # noqa: E402
from labstack.stack import REPO, toolchain_env  # noqa: E402

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchmarkBenchmarkBenchmarkBenchmarkBench"


def timed(label: str, fn):
    start = time.monotonic()
    result = fn()
    print(f"{label:<48} {time.monotonic() - start:8.1f} s", flush=True)
    return result


def toolchain(cold: bool) -> None:
    if cold:
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "KAFKA_TLS_CACHE": cache, "GOCACHE": os.path.join(cache, "gocache")}
            timed("toolchain bootstrap, cold (fresh caches)", lambda: subprocess.run(
                [str(REPO / "toolchain/build.sh")], env=env, check=True, capture_output=True))
    timed("toolchain bootstrap, warm", lambda: subprocess.run(
        [str(REPO / "toolchain/build.sh")], check=True, capture_output=True))
    toolchain_env()


def per_host(events: list) -> dict[str, collections.Counter]:
    """SSH commands run, keytool invocations and restarts, per host, from the engine's events."""
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for event in events:
        outputs = event.res_outputs_event
        if not outputs or outputs.metadata.type != "pulumi-python:dynamic/ssh:Command":
            continue
        if outputs.metadata.op.value in ("same", "read"):
            continue
        new = outputs.metadata.new
        state = (new.outputs if new else {}) or {}
        # The connection is a secret in the events; the resource name says the host.
        found = re.search(r"(broker-\d+|connect-\d+)", outputs.metadata.urn.rsplit("::", 1)[-1])
        host = found.group(1) if found else "?"
        script = state.get("update") or state.get("create") or ""
        counts[host]["ssh commands"] += 1
        counts[host]["keytool runs"] += script.count("keytool ")
        if "kafka-service restart" in script and "stage skipped" not in (state.get("stdout") or ""):
            counts[host]["restarts"] += 1
    return counts


def synthetic_brokers(n: int) -> list[dict]:
    return [
        {"name": f"bench-{i}", "host": f"bench-{i}.kafka.lab", "address": f"127.0.{1 + i // 250}.{1 + i % 250}",
         "nodeId": 1000 + i, "hostKey": HOST_KEY}
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold-toolchain", action="store_true")
    args = parser.parse_args()
    toolchain(args.cold_toolchain)
    lab = Lab()
    timed("lab up (already built: resume or start)", lab.up)
    stack = LabStack(lab, "bench")
    stack.remove()
    timed("lab reset to plaintext", lab.reset_plaintext)
    timed("preview (lab stack, from plaintext)", stack.preview)
    events: list = []
    timed("first up (plaintext -> SSL, 3 brokers + 1 worker)", lambda: stack.up(on_event=events.append))
    for host, counter in sorted(per_host(events).items()):
        print(f"  {host:<14} " + ", ".join(f"{k}: {v}" for k, v in sorted(counter.items())))
    timed("no-op up", stack.up)
    for n in (10, 50, 100):
        synthetic = LabStack(lab, f"bench-synthetic-{n}", overrides={"brokers": synthetic_brokers(n), "connectWorkers": []})
        timed(f"preview, {n} synthetic hosts", synthetic.preview)
        synthetic.remove()
    timed("destroy", stack.destroy)
    stack.remove()
    timed("lab reset to plaintext", lab.reset_plaintext)


if __name__ == "__main__":
    main()
