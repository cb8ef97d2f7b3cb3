"""What the tools' class archive saves a gate (a benchmark, not a test).

    .venv/bin/python bench/tools_cds_bench.py [--rounds 5]

On broker-1 of the lab (any state: it asks the plaintext listener, which the lab keeps), as root,
each ``--rounds`` times, the wall and CPU time of:
- floor: a JVM that starts and stops (``java -version``), with the gates' JVM options;
- tool: ``kafka-topics.sh --describe --under-replicated-partitions``, one of the gate's questions,
  with those options (what a gate started before the archive);
- tool, archive: the same mapping a class archive written once beforehand by the tool itself
  (``-XX:ArchiveClassesAtExit``), as components/scripts.py's ``_tools_archive`` does.
Ratios are against the floor of the same run. The archive goes to a temporary file on the host,
removed at the end; nothing else is written.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.scripts import _TOOL_JVM_OPTS  # the gates' own options
from lab import Lab
from lab import config as C

HOST = "broker-1"
ARCHIVE = "/var/tmp/kafka-tls-bench-tools.jsa"


def timed(lab: Lab, command: str) -> tuple[float, float]:
    """(wall, user+sys CPU) seconds of ``command`` on the host, by GNU time."""
    r = lab.ssh(HOST, f"/usr/bin/time -f '%e %U %S' bash -c {command!r} 2>&1 >/dev/null | tail -n 1", timeout=120)
    wall, user, system = (float(x) for x in r.stdout.split()[-3:])
    return wall, user + system


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    lab = Lab()
    lab.up()
    bootstrap = f"{C.find_host(HOST).name}:{C.BROKER_PORT}"
    tool = f"{C.OPT_KAFKA}/bin/kafka-topics.sh --bootstrap-server {bootstrap} --describe --under-replicated-partitions"

    def with_opts(extra: str, what: str) -> str:
        return f"KAFKA_JVM_PERFORMANCE_OPTS='{_TOOL_JVM_OPTS} {extra}' KAFKA_HEAP_OPTS=-Xmx256m {what}"

    lab.ssh(HOST, f"rm -f {ARCHIVE}")
    dump = timed(lab, with_opts(f"-XX:ArchiveClassesAtExit={ARCHIVE}", tool))
    rows: dict[str, list[tuple[float, float]]] = {"floor": [], "tool": [], "tool, archive": []}
    try:
        for _ in range(args.rounds):
            rows["floor"].append(timed(lab, f"java {_TOOL_JVM_OPTS} -version"))
            rows["tool"].append(timed(lab, with_opts("", tool)))
            rows["tool, archive"].append(timed(lab, with_opts(f"-Xshare:on -XX:SharedArchiveFile={ARCHIVE}", tool)))
    finally:
        lab.ssh(HOST, f"rm -f {ARCHIVE}")
    floor_wall = statistics.median(w for w, _ in rows["floor"])
    print(f"{HOST}, {args.rounds} rounds, medians (writing the archive once: {dump[0]:.2f} s wall)")
    print(f"{'':16} {'wall s':>7} {'cpu s':>7} {'wall/floor':>11}")
    for name, values in rows.items():
        wall, cpu = statistics.median(w for w, _ in values), statistics.median(c for _, c in values)
        print(f"{name:16} {wall:7.2f} {cpu:7.2f} {wall / floor_wall:11.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
