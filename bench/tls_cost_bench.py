"""What TLS costs a Kafka client on the lab: producer and consumer throughput over the PLAINTEXT
listener and over the TLS listener of the same brokers (a benchmark, not a test).

    .venv/bin/python bench/tls_cost_bench.py [--records 300000] [--size 1024] [--rounds 2]

Kafka's own ProducerPerformance and ConsumerPerformance (the classes behind
kafka-producer-perf-test.sh / kafka-consumer-perf-test.sh) run on broker-1's host with the same
records and settings for both listeners, alternating, `--rounds` times each; TLS clients use the
tools' client config kafka-tls wrote on the host (TLS 1.3 first, the stack's suites). The lab
is brought to TLS by a stack of its own if no broker serves TLS yet, and left as it is.
Prints each run and the TLS / plaintext ratio of the medians.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab import Lab  # noqa: E402
from labstack import PLAINTEXT_QUORUM, LabStack, lab_tls  # noqa: E402

HOST = "broker-1"
RUN_CLASS = "/opt/kafka/bin/kafka-run-class"
TOOL_CONFIG = "/etc/kafka/ssl/kafka-tls-client.properties"
ENV = "export KAFKA_HEAP_OPTS='-Xmx512m'; "
LISTENERS = {
    "plaintext": {"bootstrap": "broker-1.kafka.lab:9092,broker-2.kafka.lab:9092", "config": None},
    "tls": {"bootstrap": "broker-1.kafka.lab:9093,broker-2.kafka.lab:9093", "config": TOOL_CONFIG},
}


def on_host(lab: Lab, command: str, timeout: int = 900) -> str:
    done = lab.ssh(HOST, ENV + command, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"{command[:80]}... failed: {done.stdout[-1000:]}{done.stderr[-1000:]}")
    return done.stdout


def produce(lab: Lab, listener: dict, topic: str, records: int, size: int) -> float:
    """MB/s acked (acks=all, idempotent, as the e2e load)."""
    config = f"--producer.config {listener['config']} " if listener["config"] else ""
    out = on_host(lab, f"{RUN_CLASS} org.apache.kafka.tools.ProducerPerformance --topic {topic} "
                       f"--num-records {records} --record-size {size} --throughput -1 {config}"
                       f"--producer-props bootstrap.servers={listener['bootstrap']} acks=all enable.idempotence=true "
                       "linger.ms=5 batch.size=131072 compression.type=none")
    last = [line for line in out.splitlines() if "records sent" in line][-1]
    return float(re.search(r"\(([\d.]+) MB/sec\)", last).group(1))


def consume(lab: Lab, listener: dict, topic: str, records: int) -> float:
    """MB/s fetched from the beginning of the topic."""
    config = f"--command-config {listener['config']} " if listener["config"] else ""
    out = on_host(lab, f"{RUN_CLASS} org.apache.kafka.tools.ConsumerPerformance --topic {topic} "
                       f"--messages {records} --bootstrap-server {listener['bootstrap']} {config}"
                       f"--group bench-{uuid.uuid4().hex[:8]} --timeout 60000")
    # start.time, end.time, data.consumed.in.MB, MB.sec, ...
    row = [line for line in out.splitlines() if re.match(r"^\d{4}-", line)][-1]
    return float(row.split(",")[3])


def ensure_tls(lab: Lab) -> None:
    lab.up()
    if lab.ssh(HOST, f"test -f {TOOL_CONFIG}").returncode == 0:
        return
    print("no TLS listener yet: bringing the lab to TLS with the stack 'bench-tls'", flush=True)
    lab.ensure_pristine()
    LabStack(lab, "bench-tls", overrides={"connectWorkers": [], "tls": lab_tls(**PLAINTEXT_QUORUM)}).up()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    lab = Lab()
    ensure_tls(lab)
    topic = f"bench-tls-cost-{uuid.uuid4().hex[:8]}"
    on_host(lab, f"{RUN_CLASS} org.apache.kafka.tools.TopicCommand --bootstrap-server {LISTENERS['plaintext']['bootstrap']} "
                 f"--create --topic {topic} --partitions 3 --replication-factor 3 --config min.insync.replicas=2")
    results: dict[str, dict[str, list[float]]] = {name: {"produce": [], "consume": []} for name in LISTENERS}
    for round_ in range(args.rounds):
        for name, listener in LISTENERS.items():
            mb = produce(lab, listener, topic, args.records, args.size)
            results[name]["produce"].append(mb)
            # The topic holds every round's records: read this many from the start.
            read = consume(lab, listener, topic, args.records)
            results[name]["consume"].append(read)
            print(f"round {round_ + 1} {name:<9}  produce {mb:7.2f} MB/s   consume {read:7.2f} MB/s", flush=True)
    for kind in ("produce", "consume"):
        plain, tls = (statistics.median(results[n][kind]) for n in ("plaintext", "tls"))
        print(f"{kind}: plaintext {plain:.2f} MB/s, TLS {tls:.2f} MB/s, TLS / plaintext = {tls / plain:.2f}")
    print(f"(records {args.records} x {args.size} B, acks=all idempotent, linger.ms=5, batch 128 KiB, 3 partitions RF 3; "
          f"the tools run on {HOST}'s host, sharing the machine's cores with the three brokers)")


if __name__ == "__main__":
    main()
