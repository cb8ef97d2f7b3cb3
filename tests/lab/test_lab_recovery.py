"""up() recovers from what a stack may leave behind; the "named" listener layout and back."""
import socket

import pytest

from lab import config as C, templates

# the plaintext layout these check: reset first if the main job or a test left the lab otherwise
pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("pristine_lab")]


def _mark_pulumi_state(lab):
    """Stand-in for the state labstack keeps in the lab dir: a reset must drop it, a healthy up() not."""
    marker = lab.pulumi_dir / "state" / "marker"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("stack state\n")
    return marker


def test_up_restarts_a_stopped_broker_without_a_reset(lab):
    marker = _mark_pulumi_state(lab)
    try:
        r = lab.service("broker-2", "stop")
        assert r.returncode == 0, r.stdout + r.stderr
        assert lab.service_pid("broker-2") is None
        lab.up()
        assert lab.service_pid("broker-2")
        assert marker.exists()  # healthy after a start: no reset
    finally:
        if lab.pulumi_dir.exists():
            marker.unlink(missing_ok=True)


def test_up_recovers_a_lab_left_without_plaintext_9092(lab):
    b1 = C.find_host("broker-1")
    props = lab.local_path(b1, C.SERVER_PROPERTIES)
    text = props.read_text()
    # what an SSL-only stack leaves: 9092 gone (PLAINTEXT under another name and port here: no keystore needed)
    changed = (text
               .replace(f"listeners=PLAINTEXT://{b1.address}:9092,", f"listeners=SECURED://{b1.address}:9096,")
               .replace(f"advertised.listeners=PLAINTEXT://{b1.name}:9092", f"advertised.listeners=SECURED://{b1.name}:9096")
               .replace("inter.broker.listener.name=PLAINTEXT", "inter.broker.listener.name=SECURED")
               .replace("listener.security.protocol.map=", "listener.security.protocol.map=SECURED:PLAINTEXT,")
               + "ssl.client.auth=required\n")
    assert changed.count("SECURED") == 4
    assert lab.ssh(b1.name, f"cat > {C.SERVER_PROPERTIES}", input=changed).returncode == 0
    lab.service(b1.name, "restart")  # may or may not come up: either way 9092 is gone
    assert "no PLAINTEXT listener on 9092" in lab._plaintext_problem()
    marker = _mark_pulumi_state(lab)

    lab.up()

    assert not marker.exists() and not lab.pulumi_dir.exists()
    assert props.read_text() == (lab.pristine_dir(b1) / "server.properties").read_text()
    assert lab._plaintext_problem() is None
    assert lab.service(b1.name, "status").returncode == 0
    lab.roundtrip(timeout=60)


def _open(addr, port):
    try:
        with socket.create_connection((addr, port), timeout=2):
            return True
    except OSError:
        return False


def test_named_layout_and_back(lab):
    try:
        lab.reset_plaintext(layout="named")
        assert lab.layout == "named"
        inv = lab.inventory()
        assert inv["listener_layout"] == "named"
        for h in C.BROKERS:
            text = lab.local_path(h, C.SERVER_PROPERTIES).read_text()
            assert text == templates.server_properties(h, "named")
            assert f"listeners=INTERNAL://{h.address}:9092,EXTERNAL://{h.address}:9095,CONTROLLER://{h.address}:9094" in text
            assert "inter.broker.listener.name=INTERNAL\n" in text
            assert _open(h.address, C.NAMED_EXTERNAL_PORT), h.name
            hi = next(x for x in inv["hosts"] if x["name"] == h.name)
            assert hi["listeners"]["EXTERNAL"] == f"{h.name}:9095"
        lab.roundtrip(timeout=60)  # the lab's checks still speak plaintext on 9092
        # the layout is recorded: a healthy up() keeps it (no reset)
        marker = _mark_pulumi_state(lab)
        lab.up()
        assert marker.exists() and lab.layout == "named"
    finally:
        lab.reset_plaintext()
    assert lab.layout == "default" and lab.inventory()["listener_layout"] == "default"
    for h in C.BROKERS:
        assert lab.local_path(h, C.SERVER_PROPERTIES).read_text() == templates.server_properties(h)
        assert not _open(h.address, C.NAMED_EXTERNAL_PORT), h.name
