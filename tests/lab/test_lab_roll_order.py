"""The roll order's reading (components/roll_order.py) against the lab's real brokers, over real
SSH as the operator, under the README's sudoers rule: the quorum leader it reads is the one
Kafka's own kafka-metadata-quorum names, and a stopped broker reads as down. No engine: the
e2e tests hold the order a preview shows to what the up then does."""

from __future__ import annotations

import pytest

from components.config import validate_config
from components.plan import Role, plan
from components.roll_order import read_cluster
from labstack import LabStack

pytestmark = pytest.mark.lab


def lab_plan(lab):
    """The lab stack's config (its secrets in the clear here) and plan, as the program makes them."""
    stack = LabStack(lab, "lab-roll-order")
    raw = {key.split(":", 1)[1]: value for key, value in stack.stack_settings()["config"].items()}
    raw |= {"keystorePassword": "lab-only-1", "truststorePassword": "lab-only-2", **stack.secret_values()}
    raw["serverProperties"] = dict(line.split("=", 1) for line in open(raw.pop("serverBaseFile")).read().splitlines()
                                   if line and not line.startswith("#"))
    raw["connectProperties"] = {}
    raw.pop("connectBaseFile")
    config = validate_config(raw)
    p = plan(config, config.server_properties, config.connect_properties)
    return config, [h for h in p.hosts if h.role is Role.BROKER]


def leader_as_kafka_says(lab) -> int:
    status = lab.wait_quorum()
    return int(next(line for line in status.splitlines() if line.strip().startswith("LeaderId:")).split(":")[1])


def test_the_reading_names_the_leader_kafka_names_and_no_broker_down(lab):
    config, brokers = lab_plan(lab)
    reading = read_cluster(config, brokers)
    assert reading.unread == "", reading.unread
    assert {name: s.down for name, s in reading.brokers.items()} == {h.name: "" for h in brokers}
    assert reading.leader_id() == leader_as_kafka_says(lab)


def test_a_stopped_broker_reads_as_down_and_the_others_still_name_the_leader(lab):
    config, brokers = lab_plan(lab)
    leader = leader_as_kafka_says(lab)
    stopped = next(h.name for h in brokers if h.host.node_id != leader)  # no election needed
    assert lab.service(stopped, "stop").returncode == 0
    try:
        reading = read_cluster(config, brokers)
        assert reading.brokers[stopped].down.startswith("nothing listens on its ports"), reading.brokers[stopped]
        assert [n for n, s in reading.brokers.items() if s.down] == [stopped]
        assert reading.leader_id() == leader
    finally:
        assert lab.service(stopped, "start").returncode == 0
        lab.wait_quorum()
