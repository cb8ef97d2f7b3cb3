"""A rollout step's cost against its floor, per broker, on the lab (a benchmark, not a test).

    .venv/bin/python bench/step_floor_bench.py [--rounds 2]

On a lab whose brokers serve TLS (a brokers-only stack brings it there if none does), for each
broker, `--rounds` times:
- restart floor: `kafka-service restart kafka` over SSH, then until this machine's admin client
  (polling every 0.1 s) sees no under-replicated partition;
- restart step: the step's own parts, as the program builds them (components/scripts.py) and as
  root runs them on the host: the min-ISR pre-check, then the restart with its health gate and
  the preferred-leader election (restart_script); and their sum against the floor;
- reload floor: the dynamic keystore update done from this machine (confluent-kafka, no JVM)
  plus one TLS handshake;
- reload step: the reload script as the program builds it (its stamp removed, so it reloads).
The lab is left as it was found, on TLS.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components import scripts
from components.config import Paths, StoreType
from components.properties import TOOL_CONFIG_NAME, StoreLocations
from lab import Lab
from lab import config as C
from labstack import PLAINTEXT_QUORUM, LabStack, lab_tls
from tests.e2e.contract import served_fingerprint

BROKERS = {"broker-1": (1, "127.0.0.11"), "broker-2": (2, "127.0.0.12"), "broker-3": (3, "127.0.0.13")}
STACK = "bench-floor"
PORT = 9093
KAFKA_BIN = "/opt/kafka/bin"
TOOL_CONFIG = f"{Paths().ssl_dir}/{TOOL_CONFIG_NAME}"


def gate(lab: Lab, broker: str) -> scripts.KafkaGate:
    node, address = BROKERS[broker]
    name = f"{broker}.kafka.lab"
    tls = scripts.TlsGate(address, PORT, name, served_fingerprint(lab, broker, address, PORT) or "", 300)
    return scripts.KafkaGate(broker, tls, node, KAFKA_BIN, TOOL_CONFIG)


def run_timed(lab: Lab, broker: str, script: str) -> float:
    started = time.monotonic()
    r = lab.ssh(broker, "bash -s", input="set -euo pipefail\n" + script, timeout=600)
    elapsed = time.monotonic() - started
    if r.returncode != 0:
        raise SystemExit(f"{broker}: script failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return elapsed


def no_under_replicated(lab: Lab) -> bool:
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": lab.bootstrap_servers})
    topics = admin.list_topics(timeout=10).topics.values()
    return all(len(p.isrs) == len(p.replicas) for t in topics for p in t.partitions.values())


def restart_floor(lab: Lab, broker: str) -> float:
    started = time.monotonic()
    r = lab.service(broker, "restart")
    if r.returncode != 0:
        raise SystemExit(f"{broker}: restart failed: {r.stdout}{r.stderr}")
    while True:
        try:
            if no_under_replicated(lab):
                return time.monotonic() - started
        except Exception:
            pass
        time.sleep(0.1)


def reload_floor(lab: Lab, broker: str) -> float:
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType
    node, address = BROKERS[broker]
    admin = AdminClient({"bootstrap.servers": lab.bootstrap_servers})
    prefix = "listener.name.ssl.ssl."
    loc = stores()
    paths = {f"{prefix}keystore.location": loc.keystore, f"{prefix}truststore.location": loc.truststore}
    started = time.monotonic()
    for op in (AlterConfigOpType.SET, AlterConfigOpType.DELETE):
        entries = [ConfigEntry(k, v if op == AlterConfigOpType.SET else None, incremental_operation=op) for k, v in paths.items()]
        resource = ConfigResource(ResourceType.BROKER, str(node), incremental_configs=entries)
        for f in admin.incremental_alter_configs([resource]).values():
            f.result(30)
    served_fingerprint(lab, broker, address, PORT)
    return time.monotonic() - started


def stores() -> StoreLocations:
    """The stack's store paths on every broker (default paths, PKCS12: the lab's stores)."""
    return StoreLocations.for_host(Paths(), StoreType.PKCS12)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    lab = Lab()
    lab.up()
    if not served_fingerprint(lab, "broker-1", BROKERS["broker-1"][1], PORT):
        LabStack(lab, STACK, overrides={"connectWorkers": [], "tls": lab_tls(**PLAINTEXT_QUORUM)}).up()
    rows: dict[str, list[list[float]]] = {}
    for broker in BROKERS:
        for _ in range(args.rounds):
            g = gate(lab, broker)
            floor = restart_floor(lab, broker)
            pre = run_timed(lab, broker, scripts.min_isr_precheck(g))
            restart = run_timed(lab, broker, scripts.restart_script(lab.restart_command(C.find_host(broker)), g))
            rfloor = reload_floor(lab, broker)
            loc = stores()
            stamp = f"/tmp/bench-floor-{broker}.stamp"  # absent: the script reloads
            reload = run_timed(lab, broker, scripts.reload_stores_script(g, "SSL", loc, stamp))
            lab.ssh(broker, f"rm -f {stamp}")
            rows.setdefault(broker, []).append([floor, pre, restart, pre + restart, rfloor, reload])
            print(f"{broker}: restart floor {floor:.1f} s | step: pre-check {pre:.1f} + restart, gate and election {restart:.1f} "
                  f"= {pre + restart:.1f} s ({(pre + restart) / floor:.2f} x floor) | "
                  f"reload floor {rfloor:.1f} s, reload step {reload:.1f} s ({reload / rfloor:.1f} x)", flush=True)
    print("\nmedians per broker:")
    for broker, runs in rows.items():
        m = [statistics.median(col) for col in zip(*runs, strict=True)]
        print(f"  {broker}: restart floor {m[0]:.1f} s, step {m[3]:.1f} s ({m[3] / m[0]:.2f} x: pre-check {m[1]:.1f}, "
              f"restart, gate and election {m[2]:.1f}); reload floor {m[4]:.1f} s, step {m[5]:.1f} s ({m[5] / m[4]:.1f} x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
