"""The Connect worker on connect-1."""
import pytest

pytestmark = pytest.mark.lab

INTERNAL = ["connect-configs", "connect-offsets", "connect-status"]


def test_rest_answers(lab):
    status, info = lab.connect_get("/")
    assert status == 200 and info["version"] == "4.4.0"
    status, connectors = lab.connect_get("/connectors")
    assert status == 200 and isinstance(connectors, list)
    status, plugins = lab.connect_get("/connector-plugins")
    classes = {p["class"] for p in plugins}
    assert "org.apache.kafka.connect.file.FileStreamSourceConnector" in classes


def test_internal_topics_rf3(lab):
    md = lab.admin().list_topics(timeout=30)
    for t in INTERNAL:
        assert t in md.topics, sorted(md.topics)
        assert all(len(p.replicas) == 3 for p in md.topics[t].partitions.values()), t


def test_service_status(lab):
    r = lab.service("connect-1", "status")
    assert r.returncode == 0, r.stdout + r.stderr
