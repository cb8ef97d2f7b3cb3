from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Producer


def produce(bootstrap: str, topic: str, values: list[bytes], timeout: float = 60) -> list:
    """Produce with acks=all; returns the delivery errors (empty when all were written)."""
    errors, delivered = [], []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                  "message.timeout.ms": int(timeout * 1000), "linger.ms": 5})
    for v in values:
        while True:
            try:
                p.produce(topic, v, on_delivery=lambda err, msg: (errors if err else delivered).append(err or msg))
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(timeout + 10)
    if left:
        errors.append(f"{left} messages not delivered")
    return errors


def consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 60) -> list[bytes]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"lab-test-{uuid.uuid4().hex}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    out: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for m in c.consume(500, 1.0):
                if m.error():
                    continue
                out.append(m.value())
    finally:
        c.close()
    return out


def new_topic_name(prefix: str = "lab-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
