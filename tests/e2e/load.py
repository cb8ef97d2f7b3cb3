"""Traffic and probes that run while a rollout changes the cluster, and what they saw.

- ``Traffic``: an idempotent ``acks=all`` producer writes numbered records to an RF=3,
  ``min.insync.replicas=2`` topic at a steady rate; ``verify()`` reads the topic back and counts
  lost and duplicated records. The producer's own epoch bumps are kept: librdkafka bumps its
  idempotent epoch after an out-of-order-sequence answer during a leader change and then resends
  batches that may already be stored (confluentinc/librdkafka#4953, open), so a duplicate is the
  tool's fault only when the client never bumped.
- ``Sampler``: about every 200 ms, a TCP connect to every broker's listener; ``max_down`` is the
  most brokers found down in one sample.

Both are real clients (confluent-kafka, sockets); nothing here is mocked.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Producer, TopicPartition


@dataclass
class Verdict:
    sent: int
    acked: int
    received: int
    lost: list[int]
    duplicated: list[int]
    errors: list[str]
    epoch_bumps: list[str]
    """librdkafka's own lines for each time it bumped its producer epoch or reset its PID."""

    @property
    def unexplained_duplicates(self) -> list[int]:
        """Duplicates the client's epoch bumps cannot account for."""
        return [] if self.epoch_bumps else self.duplicated


class _EpochBumps(logging.Handler):
    """Keeps librdkafka's ``debug=eos`` lines that say the producer epoch or PID changed."""

    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        if "-> DrainBump" in line or "-> DrainReset" in line:  # librdkafka's idempotence state names
            self.lines.append(line)


class Traffic:
    """Numbered records at ``rate`` per second until ``stop()``."""

    def __init__(self, config: dict, topic: str, rate: float = 100.0):
        self.config, self.topic, self.rate = config, topic, rate
        self.sent = 0
        self.acked: set[int] = set()
        self.max_latency = 0.0
        """Longest time from produce() to its acknowledgement, in seconds."""
        self._sent_at: dict[int, float] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._bumps = _EpochBumps()
        client_log = logging.getLogger(f"load.producer.{uuid.uuid4().hex}")
        client_log.propagate, client_log.level = False, logging.DEBUG
        client_log.addHandler(self._bumps)
        self._producer = Producer({
            **config, "acks": "all", "enable.idempotence": True, "linger.ms": 5,
            # Never give up on a record while brokers restart: a lost record is a finding, not a timeout.
            "message.timeout.ms": 600000, "retries": 2147483647,
            "debug": "eos", "logger": client_log,
        })

    def start(self) -> "Traffic":
        self._thread.start()
        return self

    def _delivered(self, err, msg) -> None:
        if err is not None:
            self.errors.append(str(err))
        else:
            number = int(msg.value())
            self.acked.add(number)
            self.max_latency = max(self.max_latency, time.monotonic() - self._sent_at.pop(number, time.monotonic()))

    def _run(self) -> None:
        interval, next_at = 1.0 / self.rate, time.monotonic()
        while not self._stop.is_set():
            self._sent_at[self.sent] = time.monotonic()
            self._producer.produce(self.topic, str(self.sent).encode(), on_delivery=self._delivered)
            self.sent += 1
            self._producer.poll(0)
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def stop(self, flush_timeout: float = 300) -> None:
        self._stop.set()
        self._thread.join()
        left = self._producer.flush(flush_timeout)
        if left:
            self.errors.append(f"{left} records still unsent after {flush_timeout}s")

    def verify(self, timeout: float = 180) -> Verdict:
        """Read the whole topic back: every number sent exactly once?"""
        consumer = Consumer({**self.config, "group.id": f"verify-{uuid.uuid4().hex}", "enable.auto.commit": False})
        metadata = consumer.list_topics(self.topic, timeout=30).topics[self.topic]
        partitions = [TopicPartition(self.topic, p, 0) for p in metadata.partitions]
        ends = {p.partition: consumer.get_watermark_offsets(p, timeout=30)[1] for p in partitions}
        consumer.assign(partitions)
        counts: dict[int, int] = {}
        done = {p: ends[p] == 0 for p in ends}
        deadline = time.monotonic() + timeout
        while not all(done.values()) and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            number = int(message.value())
            counts[number] = counts.get(number, 0) + 1
            if message.offset() + 1 >= ends[message.partition()]:
                done[message.partition()] = True
        consumer.close()
        return Verdict(
            sent=self.sent,
            acked=len(self.acked),
            received=sum(counts.values()),
            lost=sorted(n for n in range(self.sent) if n not in counts),
            duplicated=sorted(n for n, c in counts.items() if c > 1),
            errors=self.errors,
            epoch_bumps=self._bumps.lines,
        )


@dataclass
class Sampler:
    """Probes every broker about every 200 ms; remembers how many were down at once."""

    targets: dict[str, tuple[str, int]]
    interval: float = 0.2
    samples: int = 0
    max_down: int = 0
    down_at: list[tuple[float, list[str]]] = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Sampler":
        self._thread.start()
        return self

    def _is_up(self, address: tuple[str, int]) -> bool:
        try:
            with socket.create_connection(address, timeout=0.15):
                return True
        except OSError:
            return False

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            down = [name for name, address in self.targets.items() if not self._is_up(address)]
            self.samples += 1
            if down:
                self.down_at.append((time.time(), down))
            self.max_down = max(self.max_down, len(down))
            time.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
