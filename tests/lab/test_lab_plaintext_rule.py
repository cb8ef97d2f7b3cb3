"""The rules up() and pristine_lab use to decide that a reset is due (no lab needed: files in a temporary lab dir)."""
import os

import pytest

from lab import Lab, config as C, templates
from lab.api import _read_properties


@pytest.fixture
def fake(tmp_path):
    lab = Lab(tmp_path)
    for h in C.HOSTS:
        lab.etc_dir(h).mkdir(parents=True)
        name = "server.properties" if h.role == "broker" else "connect-avro-distributed.properties"
        text = templates.server_properties(h) if h.role == "broker" else templates.connect_properties(h)
        (lab.etc_dir(h) / name).write_text(text)
    return lab


def _edit(lab, short, old, new):
    f = lab.local_path(C.find_host(short), C.SERVER_PROPERTIES)
    text = f.read_text()
    assert old in text
    f.write_text(text.replace(old, new))


def test_pristine_layouts_are_fine(fake):
    assert fake._plaintext_problem() is None
    for h in C.BROKERS:
        fake.local_path(h, C.SERVER_PROPERTIES).write_text(templates.server_properties(h, "named"))
    assert fake._plaintext_problem() is None


def test_plaintext_next_to_ssl_is_fine(fake):
    # what a kafka-tls stack does when it keeps PLAINTEXT (escaped, as a Java properties writer may store it)
    _edit(fake, "broker-2", "listeners=PLAINTEXT://127.0.0.12:9092,",
          "listeners=PLAINTEXT\\://127.0.0.12\\:9092,SSL\\://127.0.0.12\\:9093,")
    assert fake._plaintext_problem() is None


def test_ssl_only_needs_a_reset(fake):
    _edit(fake, "broker-3", "listeners=PLAINTEXT://127.0.0.13:9092,", "listeners=SSL://127.0.0.13:9093,")
    assert "broker-3.kafka.lab: no PLAINTEXT listener on 9092" in fake._plaintext_problem()


def test_9092_mapped_to_ssl_needs_a_reset(fake):
    for h in C.BROKERS:
        fake.local_path(h, C.SERVER_PROPERTIES).write_text(templates.server_properties(h, "named"))
    _edit(fake, "broker-1", "INTERNAL:PLAINTEXT", "INTERNAL:SSL")
    assert "broker-1.kafka.lab" in fake._plaintext_problem()


def test_missing_file_and_https_connect_need_a_reset(fake):
    c1 = C.find_host("connect-1")
    f = fake.local_path(c1, C.CONNECT_PROPERTIES)
    f.write_text(f.read_text().replace("listeners=http://127.0.0.21:8083", "listeners=https://127.0.0.21:8443"))
    assert "connect-1.kafka.lab: no http listener on 8083" in fake._plaintext_problem()
    fake.local_path(C.find_host("broker-2"), C.SERVER_PROPERTIES).unlink()
    assert "broker-2.kafka.lab" in fake._plaintext_problem()


def test_read_properties():
    text = "# c\n! c\na=1\nb : 2\nc 3\nd=x\\\n   y\ne=p\\:q\\\\\n  f  =  spaced  \n"
    assert _read_properties(text) == {"a": "1", "b": "2", "c": "3", "d": "xy", "e": "p:q\\", "f": "spaced  "}


@pytest.fixture
def pristine(fake):
    """The fake lab as reset_plaintext() leaves it: the files root:root 0644, each service "running" (this
    process's pid) and started after its file was written."""
    (fake.dir / "layout").write_text("default\n")
    for h in C.HOSTS:
        f = fake.local_path(h, fake.config_file(h))
        os.chown(f, 0, 0)
        f.chmod(0o644)
        pid_file = fake.local_path(h, f"{C.RUN_DIR}/{h.service}.pid")
        pid_file.parent.mkdir(parents=True)
        pid_file.write_text(str(os.getpid()))
        t = f.stat().st_mtime_ns
        os.utime(pid_file, ns=(t + 10**9, t + 10**9))
    return fake


@pytest.mark.skipif(
    os.geteuid() != 0 and not os.environ.get("KAFKA_TLS_NO_SKIP"),
    reason="the lab's pristine files are owned by root (run as root; under .ci/run it runs and fails instead)",
)
def test_pristine_problem(pristine):
    """What pristine_lab resets for: anything a stack or a test leaves that is not reset_plaintext()'s state."""
    assert pristine.pristine_problem() is None
    b2, c1 = C.find_host("broker-2"), C.find_host("connect-1")
    props, connect = pristine.local_path(b2, C.SERVER_PROPERTIES), pristine.local_path(c1, C.CONNECT_PROPERTIES)
    st = props.stat()

    (pristine.dir / "layout").write_text("named\n")
    assert "layout is 'named'" in pristine.pristine_problem()
    (pristine.dir / "layout").write_text("default\n")

    (pristine.etc_dir(b2) / "ssl").mkdir()
    assert "broker-2.kafka.lab: /etc/kafka holds ['server.properties', 'ssl']" in pristine.pristine_problem()
    (pristine.etc_dir(b2) / "ssl").rmdir()

    props.chmod(0o640)
    assert "broker-2.kafka.lab: /etc/kafka/server.properties is not a root:root 0644" in pristine.pristine_problem()
    props.chmod(0o644)

    # what kafka-tls writes (escaped, SSL next to PLAINTEXT): the time stamps are kept, the text is not
    props.write_text(props.read_text().replace("listeners=PLAINTEXT://127.0.0.12:9092,",
                                               "listeners=PLAINTEXT\\://127.0.0.12\\:9092,SSL\\://127.0.0.12\\:9093,"))
    os.utime(props, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert "broker-2.kafka.lab: /etc/kafka/server.properties is not the pristine 'default'" in pristine.pristine_problem()
    props.write_text(templates.server_properties(b2))
    os.utime(props, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert pristine.pristine_problem() is None

    # the right text, but written after the worker started: what runs may be something else
    t = connect.stat().st_mtime_ns + 2 * 10**9
    os.utime(connect, ns=(t, t))
    assert "connect-1.kafka.lab: /etc/kafka/connect-avro-distributed.properties was written after" \
        in pristine.pristine_problem()
    os.utime(connect, ns=(st.st_atime_ns, st.st_mtime_ns))

    pristine.local_path(c1, f"{C.RUN_DIR}/kafka-connect.pid").write_text("999999999")
    assert "connect-1.kafka.lab: kafka-connect is not running" in pristine.pristine_problem()
