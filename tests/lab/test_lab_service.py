"""kafka-service: restart keeps the cluster serving, broken config fails loudly, listeners come from the file."""
import threading
import time

import pytest

from lab_helpers import consume_all, new_topic_name, produce

# the plaintext layout these check: reset first if the main job or a test left the lab otherwise
pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("pristine_lab")]

HOST = "broker-3"


def pid_of(lab, host):
    r = lab.ssh(host, "cat /var/lib/kafka/run/kafka.pid")
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def test_restart_one_broker_keeps_serving(lab):
    topic = new_topic_name("lab-restart")
    lab.ensure_topic(topic, 3, 3, {"min.insync.replicas": "2"})
    before = pid_of(lab, HOST)
    sent, errors, stop = [], [], threading.Event()

    def keep_producing():
        i = 0
        while not stop.is_set():
            batch = [f"during-restart-{i + j}".encode() for j in range(20)]
            errors.extend(produce(lab.bootstrap_servers, topic, batch, timeout=60))
            sent.extend(batch)
            i += 20
            time.sleep(0.2)

    t = threading.Thread(target=keep_producing)
    t.start()
    try:
        r = lab.service(HOST, "restart")
    finally:
        time.sleep(2)
        stop.set()
        t.join(180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "stopped" in r.stdout and "is up" in r.stdout
    after = pid_of(lab, HOST)
    assert after != before
    assert errors == []
    assert len(sent) >= 100
    got = consume_all(lab.bootstrap_servers, topic, len(sent), timeout=90)
    assert sorted(set(got)) == sorted(set(sent))
    admin = lab.admin()
    admin.delete_topics([topic])[topic].result(60)


def test_broken_properties_make_the_service_fail(lab):
    props = "/etc/kafka/server.properties"
    original = lab.ssh(HOST, f"cat {props}").stdout
    assert "node.id=3" in original
    try:
        r = lab.ssh(HOST, f"echo 'num.network.threads=not-a-number' >> {props} && "
                          f"/opt/kafka/bin/kafka-service restart kafka", timeout=300)
        assert r.returncode != 0, r.stdout
        assert "exited during start-up" in r.stdout + r.stderr or "did not come up" in r.stdout + r.stderr
        assert "tail of" in r.stderr  # the log tail is shown
        assert lab.service(HOST, "status").returncode != 0
    finally:
        w = lab.ssh(HOST, f"cat > {props}", input=original)
        assert w.returncode == 0, w.stderr
        r2 = lab.service(HOST, "restart")
    assert r2.returncode == 0, r2.stdout + r2.stderr
    assert lab.service(HOST, "status").returncode == 0


def test_service_waits_for_every_listener_in_the_file(lab):
    """Listeners are read from server.properties at each start: an added listener must be up too."""
    props = "/etc/kafka/server.properties"
    original = lab.ssh(HOST, f"cat {props}").stdout
    changed = (original
               .replace("listeners=PLAINTEXT://127.0.0.13:9092,", "listeners=PLAINTEXT://127.0.0.13:9092,EXTRA://127.0.0.13:9095,")
               .replace("listener.security.protocol.map=", "listener.security.protocol.map=EXTRA:PLAINTEXT,"))
    assert "EXTRA://127.0.0.13:9095" in changed
    try:
        assert lab.ssh(HOST, f"cat > {props}", input=changed).returncode == 0
        r = lab.service(HOST, "restart")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "127.0.0.13:9095" in r.stdout
        assert lab.ssh(HOST, "timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.13/9095'").returncode == 0
    finally:
        lab.ssh(HOST, f"cat > {props}", input=original)
        r2 = lab.service(HOST, "restart")
    assert r2.returncode == 0, r2.stdout + r2.stderr
    # The listener list follows the file again (match the address, not a PID that may hold "9095").
    assert "127.0.0.13:9095" not in r2.stdout
