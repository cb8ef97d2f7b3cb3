"""The rule up() uses to decide that a reset is due (no lab needed: files in a temporary lab dir)."""
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
