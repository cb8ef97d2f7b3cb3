"""The lab's SSH hosts: key auth, host key checking, a private /etc/kafka per host, same paths everywhere."""
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from lab import config as C

# the plaintext layout these check: reset first if the main job or a test left the lab otherwise
pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("pristine_lab")]


@pytest.mark.parametrize("host", [h.name for h in C.HOSTS])
def test_ssh_with_lab_key_and_checked_host_key(lab, host):
    r = lab.ssh(host, "id -un; test -x /opt/kafka/bin/kafka-service && echo service-ok", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["root", "service-ok"]
    # the host key the lab recorded is the one the host's sshd presents
    inv = {h["name"]: h for h in lab.inventory()["hosts"]}
    scan = subprocess.run(["ssh-keyscan", "-t", "ed25519", inv[host]["address"]],
                          capture_output=True, text=True, timeout=30)
    keys = [" ".join(line.split()[1:3]) for line in scan.stdout.splitlines() if not line.startswith("#")]
    assert inv[host]["host_key"] in keys


def test_unknown_host_key_is_refused(lab, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    opts = [o if not o.startswith("UserKnownHostsFile=") else f"UserKnownHostsFile={empty}" for o in lab.ssh_options()]
    r = subprocess.run(["ssh", *opts, "root@broker-1.kafka.lab", "true"], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 255
    assert "verification failed" in r.stderr or "No ED25519 host key" in r.stderr or "known" in r.stderr


def test_each_host_sees_its_own_etc_kafka(lab):
    marker = f"lab-marker-{uuid.uuid4().hex}"
    r = lab.ssh("broker-1", f"echo hello > /etc/kafka/{marker} && cat /etc/kafka/{marker}")
    assert r.returncode == 0 and r.stdout.strip() == "hello", r.stderr
    try:
        for h in C.HOSTS[1:]:
            r = lab.ssh(h.name, f"test -e /etc/kafka/{marker} && echo present || echo absent")
            assert r.stdout.strip() == "absent", h.name
        assert not Path(f"/etc/kafka/{marker}").exists()  # not on this machine's real /etc/kafka either
        assert (lab.etc_dir(C.HOSTS[0]) / marker).exists()  # but in broker-1's state folder
    finally:
        lab.ssh("broker-1", f"rm -f /etc/kafka/{marker}")


@pytest.mark.parametrize("host", [h.name for h in C.BROKERS])
def test_broker_has_its_own_server_properties(lab, host):
    h = C.find_host(host)
    r = lab.ssh(host, "grep -E '^(node.id|listeners|advertised.listeners)=' /etc/kafka/server.properties; "
                      "grep -h ^cluster.id= /var/lib/kafka/data/meta.properties")
    assert r.returncode == 0, r.stderr
    lines = set(r.stdout.split())
    assert f"node.id={h.node_id}" in lines
    assert f"advertised.listeners=PLAINTEXT://{h.name}:9092" in lines
    assert f"cluster.id={lab.cluster_id}" in lines
    listeners = next(line for line in lines if line.startswith("listeners="))
    assert f"{h.address}:9092" in listeners and f"{h.address}:9094" in listeners


def test_connect_host_has_worker_config(lab):
    r = lab.ssh("connect-1", "cat /etc/kafka/connect-avro-distributed.properties; "
                             "test -e /etc/kafka/server.properties && echo has-server || echo no-server")
    assert r.returncode == 0, r.stderr
    assert "value.converter=org.apache.kafka.connect.json.JsonConverter" in r.stdout
    assert "listeners=http://127.0.0.21:8083" in r.stdout
    assert r.stdout.strip().endswith("no-server")


def test_inventory(lab):
    inv = json.loads((lab.dir / "inventory.json").read_text())
    assert inv["cluster_id"] == lab.cluster_id
    assert inv["bootstrap_servers"] == "broker-1.kafka.lab:9092,broker-2.kafka.lab:9092,broker-3.kafka.lab:9092"
    assert inv["connect_rest_url"] == "http://connect-1.kafka.lab:8083"
    assert Path(inv["ssh_private_key"]).is_file() and Path(inv["java_cmd"]).is_file()
    assert Path(inv["libs_dir"], "kafka_2.13-4.4.0.jar").is_file()
    by_name = {h["name"]: h for h in inv["hosts"]}
    assert set(by_name) == {h.name for h in C.HOSTS}
    b1 = by_name["broker-1.kafka.lab"]
    assert (b1["address"], b1["ssh_port"], b1["ssh_user"], b1["role"], b1["node_id"]) == \
        ("127.0.0.11", 22, "kafka-admin", "broker", 1)
    assert (inv["operator_user"], inv["service_user"]) == (C.OPERATOR_USER, C.SERVICE_USER) == ("kafka-admin", "kafka")
    assert inv["listener_layout"] == "default"
    assert b1["listeners"] == {"PLAINTEXT": "broker-1.kafka.lab:9092", "CONTROLLER": "broker-1.kafka.lab:9094"}
    assert b1["host_key"].startswith("ssh-ed25519 ")
    assert b1["paths"]["server_properties"] == "/etc/kafka/server.properties"
    assert b1["restart_command"] == "/opt/kafka/bin/kafka-service restart kafka"
    c1 = by_name["connect-1.kafka.lab"]
    assert c1["role"] == "connect" and c1["node_id"] is None
    assert c1["paths"]["connect_properties"] == "/etc/kafka/connect-avro-distributed.properties"
    assert c1["restart_command"] == "/opt/kafka/bin/kafka-service restart kafka-connect"
