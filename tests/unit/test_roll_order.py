"""The order brokers roll in (components/roll_order.py): down or failing first, the quorum leader
last, read from what the brokers show; the reading script run by bash against files laid out as a
broker's, and the plan ordered from its reading."""

from __future__ import annotations

import json
import subprocess

from components.config import validate_config
from components.plan import Action, LastRun, plan, store_password_digest
from components.roll_order import (
    BrokerState,
    ClusterReading,
    broker_state,
    metadata_dir,
    parse_reading,
    reading_script,
)
from tests.unit.sample import sample

BROKERS = ["broker-1", "broker-2", "broker-3"]


def quorum_state(leader: int, epoch: int) -> str:
    # As Kafka 4.4 writes it (read off a lab broker).
    return json.dumps({"clusterId": "", "leaderId": leader, "leaderEpoch": epoch, "votedId": -1, "appliedOffset": 0,
                       "currentVoters": [{"voterId": 1}, {"voterId": 2}, {"voterId": 3}], "data_version": 0})


def tcp_line(port: int, address_hex: str = "0B00007F") -> str:
    """/proc/net/tcp's line of a LISTEN socket on 127.0.0.11 (little-endian hex) and ``port``."""
    return f"   0: {address_hex}:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000  999 0 1 1\n"


PROPERTIES = "node.id=1\nlisteners=PLAINTEXT://127.0.0.11:9092,SSL://127.0.0.11:9093\nlog.dirs=/var/lib/kafka/data\n"


def test_metadata_dir_follows_kafkas_precedence():
    assert metadata_dir({"metadata.log.dir": "/m", "log.dirs": "/a,/b"}) == "/m"
    assert metadata_dir({"log.dirs": "/a, /b"}) == "/a"
    assert metadata_dir({"log.dir": "/c"}) == "/c"
    assert metadata_dir({}) == "/tmp/kafka-logs"


def run_reading(tmp_path, *, quorum: str | None, pending: bool, properties: str | None) -> dict[str, str]:
    """The reading script, run by bash against a broker's files laid out under tmp_path."""
    meta = tmp_path / "data" / "__cluster_metadata-0"
    meta.mkdir(parents=True)
    if quorum is not None:
        (meta / "quorum-state").write_text(quorum)
    if pending:
        (tmp_path / "pending").write_text("")
    if properties is not None:
        (tmp_path / "server.properties").write_text(properties)
    script = reading_script(str(tmp_path / "server.properties"), str(tmp_path / "data"), str(tmp_path / "pending"))
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return parse_reading(done.stdout)


def test_the_script_reads_the_quorum_state_the_marker_and_the_file(tmp_path):
    records = run_reading(tmp_path, quorum=quorum_state(2, 7), pending=True, properties=PROPERTIES)
    assert json.loads(records["quorum"])["leaderId"] == 2
    assert records["pending"] == "yes" and records["properties"] == PROPERTIES.rstrip("\n")
    assert "listen" in records  # this machine's own /proc/net/tcp


def test_the_script_says_nothing_of_files_that_are_not_there(tmp_path):
    records = run_reading(tmp_path, quorum=None, pending=False, properties=None)
    assert set(records) == {"listen"}
    assert broker_state(records) == BrokerState()


def test_an_unfinished_reading_is_refused():
    try:
        parse_reading("listen AAAA\n")
    except ValueError as err:
        assert "did not finish" in str(err)
    else:
        raise AssertionError("a reading without END was taken")


def test_a_broker_serving_on_a_listener_is_up_and_names_its_leader():
    state = broker_state({"quorum": quorum_state(3, 4), "properties": PROPERTIES, "listen": tcp_line(9093)})
    assert state == BrokerState("", (4, 3))


def test_a_broker_with_none_of_its_listeners_listening_is_down():
    # Another host's socket on the same port is not this broker's (the lab's hosts share a kernel).
    state = broker_state({"properties": PROPERTIES, "listen": tcp_line(9093, "0C00007F")})
    assert state.down == "nothing listens on its ports 9092, 9093"


def test_a_pending_restart_is_failing_whatever_listens():
    state = broker_state({"pending": "yes", "properties": PROPERTIES, "listen": tcp_line(9092)})
    assert "did not pass its gate" in state.down


def test_the_leader_is_the_one_of_the_newest_epoch():
    reading = ClusterReading({"broker-1": BrokerState("", (5, 1)), "broker-2": BrokerState("", (6, 3)),
                              "broker-3": BrokerState("nothing listens", (4, 2))})
    assert reading.leader_id() == 3
    assert ClusterReading({"broker-1": BrokerState("", (2, -1))}).leader_id() is None


def changed(reading=None, **overrides):
    """A property change on a running stack (every broker restarts), ordered from ``reading``."""
    config = validate_config(sample())
    first = plan(config, config.server_properties, config.connect_properties)
    last = LastRun(fingerprints=first.fingerprints, password_digest=store_password_digest(config))
    base = dict(config.server_properties) | {"num.network.threads": "5"}
    new = validate_config(sample(serverProperties=base, **overrides))
    return plan(new, new.server_properties, new.connect_properties, last, None, reading and (lambda _: reading))


def up(leader_epoch: int = 1, leader: int = 2) -> BrokerState:
    return BrokerState("", (leader_epoch, leader))


def test_the_quorum_leader_restarts_last_and_the_preview_says_why():
    p = changed(ClusterReading({"broker-1": up(), "broker-2": up(), "broker-3": up()}))
    lines = p.restart_plan()
    assert [line.split(":")[0] for line in lines] == ["broker-1", "broker-3", "broker-2", "connect-1"]
    assert lines[2].startswith("broker-2: restart (properties changed: num.network.threads; quorum leader (node 2), so last)")
    assert p.rollout_waves()[0] == "order: quorum leader last (broker-2)"
    assert [w.split(" (")[0] for w in p.rollout_waves()[1:4]] == ["1: broker-1", "2: broker-3", "3: broker-2"]


def test_a_down_broker_restarts_first_and_the_leader_still_last():
    p = changed(ClusterReading({"broker-1": up(), "broker-2": up(), "broker-3": BrokerState("nothing listens on its ports 9092", None)}))
    lines = p.restart_plan()
    assert [line.split(":")[0] for line in lines] == ["broker-3", "broker-1", "broker-2", "connect-1"]
    assert "down, so first: nothing listens on its ports 9092" in lines[0]
    assert p.rollout_waves()[0] == "order: down or failing first (broker-3), quorum leader last (broker-2)"


def test_every_stage_of_a_migration_rolls_in_the_same_order():
    config = validate_config(sample(tls={"listeners": "SSL"}))
    reading = ClusterReading({"broker-1": up(leader=1), "broker-2": up(leader=1), "broker-3": up(leader=1)})
    p = plan(config, config.server_properties, config.connect_properties, None, None, lambda _: reading)
    for stage in ("stage1", "stage2", "final", "reload"):
        assert [s.host for s in p.steps if s.stage == stage and s.role.value == "broker"] == ["broker-2", "broker-3", "broker-1"], stage
    assert p.steps[-1].host == "connect-1"


def test_unread_brokers_keep_the_configs_order_and_the_preview_says_why():
    p = changed(ClusterReading(unread="restart.order: config"))
    assert [line.split(":")[0] for line in p.restart_plan()] == [*BROKERS, "connect-1"]
    assert p.rollout_waves()[0] == "order: as configured (restart.order: config)"
    assert all(s.action is Action.RESTART for s in p.steps if s.stage == "final" and s.host in BROKERS)


def test_without_a_reading_nothing_is_said_of_the_order():
    p = changed()
    assert [line.split(":")[0] for line in p.restart_plan()] == [*BROKERS, "connect-1"]
    assert not p.rollout_waves()[0].startswith("order:")


def test_the_leader_restarting_alone_is_not_told_it_goes_last():
    config = validate_config(sample())
    first = plan(config, config.server_properties, config.connect_properties)
    last = LastRun(fingerprints=first.fingerprints, password_digest=store_password_digest(config))
    brokers = [dict(b) for b in sample()["brokers"]]
    brokers[1]["properties"] = {"num.io.threads": "9"}
    new = validate_config(sample(brokers=brokers))
    p = plan(new, new.server_properties, new.connect_properties, last, None,
             lambda _: ClusterReading({"broker-1": up(), "broker-2": up(), "broker-3": up()}))
    assert p.restart_plan() == ["broker-1: nothing", "broker-3: nothing",
                                "broker-2: restart (properties changed: num.io.threads)", "connect-1: nothing"]
