"""The KRaft cluster: quorum of three, RF-3 topics, 1,000 messages round trip."""
import pytest

from lab_helpers import consume_all, new_topic_name, produce

pytestmark = pytest.mark.lab


def test_quorum_has_leader_and_three_voters(lab):
    r = lab.kafka_tool("org.apache.kafka.tools.MetadataQuorumCommand", "--bootstrap-server",
                       lab.bootstrap_servers, "describe", "--status")
    assert r.returncode == 0, r.stderr
    fields = dict(line.split(":", 1) for line in r.stdout.splitlines() if ":" in line)
    assert int(fields["LeaderId"]) in (1, 2, 3)
    voters = fields["CurrentVoters"]
    assert all(f'"id": {i}' in voters or f'"id":{i}' in voters for i in (1, 2, 3)), voters


def test_1000_messages_rf3_min_isr_2(lab):
    topic = new_topic_name()
    admin = lab.admin()
    lab.ensure_topic(topic, 3, 3, {"min.insync.replicas": "2"})
    md = admin.list_topics(topic, timeout=30).topics[topic]
    assert len(md.partitions) == 3
    assert all(len(p.replicas) == 3 for p in md.partitions.values())
    values = [f"message-{i}".encode() for i in range(1000)]
    assert produce(lab.bootstrap_servers, topic, values) == []
    got = consume_all(lab.bootstrap_servers, topic, len(values))
    assert sorted(got) == sorted(values)
    admin.delete_topics([topic])[topic].result(60)


def test_topic_command_sees_rf3(lab):
    r = lab.kafka_tool("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", lab.bootstrap_servers,
                       "--describe", "--topic", "__consumer_offsets")
    assert r.returncode == 0, r.stderr
    assert "ReplicationFactor: 3" in r.stdout
