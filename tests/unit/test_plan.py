"""The plan, read as plain data: files, order of restarts, and what a change restarts and why."""

from __future__ import annotations

from components.config import validate_config
from components.plan import Role, Secret, explain, fingerprint, left_behind, plan, plan_problems
from components.properties import parse_properties
from tests.unit.sample import sample
from tests.unit.test_properties import NAMED_BASE


def make(**overrides):
    config = validate_config(sample(**overrides))
    return plan(config, config.server_properties, config.connect_properties)


def fingerprints(p, ca="ca-1", trust="ca-1"):
    return {h.name: fingerprint(h, ca, trust) for h in p.hosts}


def test_every_host_gets_a_secret_passwords_file_and_a_plain_properties_file():
    p = make()
    assert [h.name for h in p.hosts] == ["broker-1", "broker-2", "broker-3", "connect-1"]
    for h in p.hosts:
        assert h.secrets_file.secret is Secret.STORE_PASSWORDS and h.secrets_file.text is None
        assert h.secrets_file.mode == "600" and h.secrets_file.owner == "kafka:kafka"
        assert h.properties.text and h.properties.restore_on_delete and h.properties.mode == "640"
    assert p.host("broker-1").properties.path == "/etc/kafka/server.properties"
    assert p.host("connect-1").properties.path == "/etc/kafka/connect-avro-distributed.properties"
    assert parse_properties(p.host("connect-1").properties.text)["security.protocol"] == "SSL"


def test_restart_order_stages_then_brokers_then_workers():
    p = make(tls={"listeners": "SSL"})
    order = [(s.stage, s.host) for s in p.steps]
    brokers = ["broker-1", "broker-2", "broker-3"]
    assert order == [("stage1", b) for b in brokers] + [("stage2", b) for b in brokers] + \
        [("final", b) for b in brokers] + [("reload", b) for b in brokers] + [("final", "connect-1")]
    stage1 = parse_properties(p.steps[0].properties.text)
    assert stage1["inter.broker.listener.name"] == "PLAINTEXT" and "SSL://" in stage1["listeners"]
    assert all(s.skip_if_inter_broker_ssl for s in p.steps[:6])
    assert all(s.gated for s in p.steps)


def test_first_up_says_every_host_restarts():
    p = make()
    out = explain(p, None, fingerprints(p))
    assert out[0] == "broker-1: restart (new host: first TLS rollout (from plaintext: 2 restarts unless already on SSL))"
    assert out[3] == "connect-1: restart (new host: first TLS rollout)"
    assert [line.split(":")[0] for line in out] == ["broker-1", "broker-2", "broker-3", "connect-1"]


def test_no_change_restarts_nothing():
    p = make()
    assert explain(p, fingerprints(p), fingerprints(p)) == [f"{h}: nothing" for h in ("broker-1", "broker-2", "broker-3", "connect-1")]


def test_a_property_change_names_the_key_and_only_the_hosts_it_touches():
    before = make()
    brokers = sample()["brokers"]
    brokers[1]["properties"] = {"num.network.threads": "8"}
    after = make(brokers=brokers)
    assert explain(after, fingerprints(before), fingerprints(after)) == [
        "broker-1: nothing", "broker-2: restart (properties changed: num.network.threads)", "broker-3: nothing",
        "connect-1: nothing",
    ]


def test_a_validity_change_says_certificates_are_reissued():
    before, after = make(), make(tls={"certValidityDays": 200})
    out = explain(after, fingerprints(before), fingerprints(after))
    assert out[1] == "broker-2: reload, no restart (certificate re-issued: validity changed)" and len(out) == 4
    assert all(line.endswith("(certificate re-issued: validity changed)") for line in out)


def test_a_new_ca_and_new_passwords_are_reasons():
    p = make()
    out = explain(p, fingerprints(p, "ca-1"), fingerprints(p, "ca-2"), passwords_changed=True)
    assert out[0] == "broker-1: restart (certificate re-issued: ca changed; store passwords changed)"


def test_an_added_host_restarts_only_itself():
    before = make(connectWorkers=[])
    after = make()
    out = explain(after, fingerprints(before), fingerprints(after))
    assert out == ["broker-1: nothing", "broker-2: nothing", "broker-3: nothing", "connect-1: restart (new host: first TLS rollout)"]


def test_a_path_change_names_what_it_leaves_behind_and_nothing_else():
    before = make()
    moved = make(paths={"sslDir": "/etc/kafka/tls"}, tls={"storeType": "JKS"})
    previous = fingerprints(before)
    old = left_behind(previous, moved.host("broker-1"))
    assert old == {
        "ssl_dir": "/etc/kafka/ssl",
        "keystore": "/etc/kafka/ssl/kafka.keystore.p12",
        "truststore": "/etc/kafka/ssl/kafka.truststore.p12",
        "secrets": "/etc/kafka/ssl/kafka-tls-secrets.properties",
        "tool_config": "/etc/kafka/ssl/kafka-tls-client.properties",
    }
    assert left_behind(previous, before.host("broker-1")) == {}
    assert left_behind(None, moved.host("broker-1")) == {}
    lines = explain(moved, previous, fingerprints(moved))
    assert "then removes the old /etc/kafka/ssl," in lines[0]



def test_a_converted_listener_is_dialled_on_its_own_port():
    config = validate_config(sample(serverProperties=NAMED_BASE, tls={"listenerName": "EXTERNAL", "interBrokerProtocol": "PLAINTEXT"}))
    p = plan(config, config.server_properties, config.connect_properties)
    assert [h.tls_port for h in p.hosts if h.role is Role.BROKER] == [9095, 9095, 9095]
    assert p.ssl_bootstrap_servers == "kafka-1.example.com:9095,kafka-2.example.com:9095,kafka-3.example.com:9095"
    assert parse_properties(p.host("connect-1").properties.text)["bootstrap.servers"] == p.ssl_bootstrap_servers
    assert plan_problems(config, config.server_properties) == []


def test_listener_problems_are_reported_once_for_all_brokers():
    config = validate_config(sample(serverProperties=NAMED_BASE, tls={"listenerName": "INTERNAL"}))
    problems = plan_problems(config, config.server_properties)
    assert len(problems) == 1 and problems[0].startswith("kafka-tls:tls.listenerName: INTERNAL is the inter-broker listener")


def test_the_dev_example_stack_is_complete_and_plans_without_problems():
    """Pulumi.dev.yaml is the README's worked example: it must pass validation as it stands
    (plus the three secrets an operator sets), and its base file must keep its listeners."""
    import yaml
    from components.properties import read_base_properties

    settings = yaml.safe_load(open("Pulumi.dev.yaml"))["config"]
    raw = {key.split(":", 1)[1]: value for key, value in settings.items()}
    raw.update(sshPrivateKey=sample()["sshPrivateKey"], keystorePassword="dev-Keystore-1", truststorePassword="dev-Truststore-1")
    config = validate_config(raw)
    server_base = read_base_properties(config.server_base_file, config.server_properties)
    assert plan_problems(config, server_base) == []
    p = plan(config, server_base, config.connect_properties)
    broker = parse_properties(p.host("broker-1").properties.text)
    assert broker["listeners"] == "INTERNAL://:9092,EXTERNAL://:9095,CONTROLLER://:9094"
    assert broker["inter.broker.listener.name"] == "INTERNAL"
    assert p.ssl_bootstrap_servers.endswith("kafka-3.dev.example.com:9095")


def test_a_reissued_certificate_reloads_brokers_and_restarts_workers():
    before = make()
    renewed = make(tls={"certValidityDays": 200})
    lines = explain(renewed, fingerprints(before), fingerprints(renewed))
    assert lines[:3] == [f"broker-{i}: reload, no restart (certificate re-issued: validity changed)" for i in (1, 2, 3)]
    assert lines[3] == "connect-1: restart (certificate re-issued: validity changed)"
    new_ca = explain(before, fingerprints(before), fingerprints(before, ca="ca-2"))
    assert new_ca[0] == "broker-1: reload, no restart (certificate re-issued: ca changed)"
    # A CA rotation's phases 1 and 3 change only the trusted CAs: a reload, and workers restart.
    trust = explain(before, fingerprints(before), fingerprints(before, trust="ca-1+ca-2"))
    assert trust[:3] == [f"broker-{i}: reload, no restart (trusted CAs changed)" for i in (1, 2, 3)]
    assert trust[3] == "connect-1: restart (trusted CAs changed)"
    # A new SAN is a new key pair: that restarts.
    moved = make(brokers=[dict(b, extraDnsNames=["kafka.example.com"]) for b in sample()["brokers"]])
    assert explain(moved, fingerprints(before), fingerprints(moved))[0].startswith("broker-1: restart (")
