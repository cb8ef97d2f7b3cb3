"""The plan, read as plain data: files, order of restarts, and what a change restarts and why."""

from __future__ import annotations

import pytest

from components.config import validate_config
from datetime import datetime, timezone

from components.ca_rotation import Phase, Rotation
from components.plan import (
    BROKER_RESTART_TRIGGERS,
    RELOAD_TRIGGERS,
    WORKER_RESTART_TRIGGERS,
    RAFT_RESTART,
    Action,
    LastRun,
    Role,
    Secret,
    keystore_password_digest,
    last_run_problems,
    left_behind,
    plan,
    store_password_digest,
)
from components.validation import plan_problems
from components.properties import parse_properties
from tests.unit.sample import sample
from tests.unit.test_properties import NAMED_BASE


def make(last=None, rotation=None, **overrides):
    config = validate_config(sample(**overrides))
    return plan(config, config.server_properties, config.connect_properties, last, rotation)


def after(before, **overrides):
    """The plan of a changed config, made against what ``before``'s up left."""
    return make(LastRun(fingerprints=before.fingerprints, password_digest=store_password_digest(validate_config(sample()))),
                **overrides).restart_plan()


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
    out = make().restart_plan()
    assert out[0] == "broker-1: restart (new host: first TLS rollout (from plaintext: 2 restarts unless already on SSL))"
    assert out[3] == "connect-1: restart (new host: first TLS rollout)"
    assert [line.split(":")[0] for line in out] == ["broker-1", "broker-2", "broker-3", "connect-1"]


def test_no_change_restarts_nothing():
    assert after(make()) == [f"{h}: nothing" for h in ("broker-1", "broker-2", "broker-3", "connect-1")]


def test_each_step_carries_the_triggers_it_is_made_with():
    p = make(tls={"listeners": "SSL"})
    kinds = {(s.stage, s.role): s.triggers for s in p.steps}
    assert kinds[("stage1", Role.BROKER)] == () and kinds[("stage2", Role.BROKER)] == ()
    assert kinds[("final", Role.BROKER)] == BROKER_RESTART_TRIGGERS
    assert kinds[("reload", Role.BROKER)] == RELOAD_TRIGGERS
    assert kinds[("final", Role.CONNECT)] == WORKER_RESTART_TRIGGERS


def test_a_property_change_names_the_key_and_only_the_hosts_it_touches():
    brokers = sample()["brokers"]
    brokers[1]["properties"] = {"num.network.threads": "8"}
    assert after(make(), brokers=brokers) == [
        "broker-1: nothing", "broker-2: restart (properties changed: num.network.threads)", "broker-3: nothing",
        "connect-1: nothing",
    ]


def test_new_passwords_restart_every_host():
    changed = make(LastRun(fingerprints=make().fingerprints, password_digest="the last up's digest"))
    assert changed.restart_plan() == [f"{h}: restart (store passwords changed)" for h in ("broker-1", "broker-2", "broker-3", "connect-1")]
    assert {s.action for s in changed.steps if s.stage == "final"} == {Action.RESTART}


@pytest.mark.parametrize(("changes", "refused"), [
    ({"keystorePassword": "ks-New-98765"}, True),
    ({"keystorePassword": "ks-New-98765", "tls": {"keyCustody": "stack"}}, False),  # the stack rebuilds each keystore
    ({"keystorePassword": "ks-New-98765", "tls": {"storeType": "PEM"}}, False),  # a PEM key file has no password
    ({"truststorePassword": "ts-New-98765"}, False),  # a truststore is rebuilt from the CAs
    ({}, False),
])
def test_a_new_keystore_password_with_keys_on_the_hosts_is_refused_at_preview(changes, refused):
    """The hosts' keystores hold their only key under the last up's password, and kafka-tls never
    deletes a keystore: the key step would fail on every host, so the preview refuses, naming
    the key and the way round."""
    last = LastRun(keystore_password_digest=keystore_password_digest(validate_config(sample())))
    problems = last_run_problems(validate_config(sample(**changes)), last)
    assert bool(problems) == refused, problems
    if refused:
        assert len(problems) == 1 and problems[0].startswith("kafka-tls:keystorePassword: changed")
        assert "tls.keyCustody 'stack'" in problems[0]
    # A stack older than the digest: nothing to compare with, nothing refused.
    assert last_run_problems(validate_config(sample(**changes)), LastRun()) == []


def test_an_added_host_restarts_only_itself():
    assert after(make(connectWorkers=[])) == [
        "broker-1: nothing", "broker-2: nothing", "broker-3: nothing", "connect-1: restart (new host: first TLS rollout)"]


def test_a_removed_host_is_the_plans_last_line_and_has_no_step():
    """Its resources are deleted: the file put back, nothing restarted; the others do nothing."""
    removed = make(LastRun(fingerprints=make().fingerprints, password_digest=store_password_digest(validate_config(sample()))),
                   connectWorkers=[])
    assert removed.removed == ("connect-1",) and not [s for s in removed.steps if s.host == "connect-1"]
    assert removed.restart_plan() == [
        "broker-1: nothing", "broker-2: nothing", "broker-3: nothing",
        "connect-1: removed (original properties file put back, kafka-tls files removed; not restarted)"]
    assert make(LastRun(fingerprints=removed.fingerprints)).removed == ()


def test_a_repair_note_restarts_that_host_once_and_never_again_for_the_same_note():
    """``repair`` (doctor --repair writes it): the host's final step restarts with the note as its
    reason; the next up, with the note still there or gone from the config, does nothing; a new
    note repairs again."""
    def last(p):
        return LastRun(fingerprints=p.fingerprints, password_digest=store_password_digest(validate_config(sample())))

    note = "server.properties edited on the host (doctor, 2026-12-03T18:00Z)"
    repaired = make(last(make()), repair={"broker-2": note})
    assert repaired.restart_plan() == ["broker-1: nothing", f"broker-2: restart (repair: {note})", "broker-3: nothing",
                                       "connect-1: nothing"]
    assert [s.key for s in repaired.steps if s.action is not Action.NOTHING] == ["final-broker-2"]
    nothing = ["broker-1: nothing", "broker-2: nothing", "broker-3: nothing", "connect-1: nothing"]
    assert make(last(repaired), repair={"broker-2": note}).restart_plan() == nothing
    kept = make(last(repaired))
    assert kept.restart_plan() == nothing and kept.host("broker-2").repair == note, "the note is kept from the last up"
    again = make(last(kept), repair={"connect-1": "connect-avro-distributed.properties edited (doctor, later)"})
    assert again.restart_plan()[3] == "connect-1: restart (repair: connect-avro-distributed.properties edited (doctor, later))"


def test_a_new_host_key_is_a_rebuilt_host_restarted_once():
    """A host re-imaged from its image has a new SSH host key, no stores and the base file: the
    plan repairs it (every file written again, a restart), once per new key, and nothing else."""
    from tests.unit.sample import HOST_KEY

    def last(p):
        return LastRun(fingerprints=p.fingerprints, password_digest=store_password_digest(validate_config(sample())))

    def with_key(key):
        brokers = sample()["brokers"]
        brokers[2] = {**brokers[2], "hostKey": key}
        return {"brokers": brokers}

    first = make()
    new_key = HOST_KEY.rsplit(" ", 1)[0] + " AAAAC3NzaC1lZDI1NTE5AAAAIBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbB"
    rebuilt = make(last(first), **with_key(new_key))
    plan_lines = rebuilt.restart_plan()
    assert plan_lines[:2] == ["broker-1: nothing", "broker-2: nothing"] and plan_lines[3] == "connect-1: nothing"
    assert plan_lines[2].startswith("broker-3: restart (repair: re-imaged: a new SSH host key (")
    assert make(last(rebuilt), **with_key(new_key)).restart_plan()[2] == "broker-3: nothing"
    back = make(last(rebuilt), **with_key(sample()["brokers"][2]["hostKey"])).restart_plan()[2]
    assert back.startswith("broker-3: restart (repair: re-imaged") and back != plan_lines[2]


def test_a_path_change_names_what_it_leaves_behind_and_nothing_else():
    before = make()
    moved = make(paths={"sslDir": "/etc/kafka/tls"}, tls={"storeType": "JKS"})
    old = left_behind(before.fingerprints, moved.host("broker-1"))
    assert old == {
        "ssl_dir": "/etc/kafka/ssl",
        "keystore": "/etc/kafka/ssl/kafka.keystore.p12",
        "truststore": "/etc/kafka/ssl/kafka.truststore.p12",
        "secrets": "/etc/kafka/ssl/kafka-tls-secrets.properties",
        "tool_config": "/etc/kafka/ssl/kafka-tls-client.properties",
    }
    assert left_behind(before.fingerprints, before.host("broker-1")) == {}
    assert left_behind(None, moved.host("broker-1")) == {}
    lines = after(before, paths={"sslDir": "/etc/kafka/tls"}, tls={"storeType": "JKS"})
    assert "then removes the old /etc/kafka/ssl," in lines[0] and lines[0].startswith("broker-1: restart (")
    replanned = make(LastRun(fingerprints=before.fingerprints), paths={"sslDir": "/etc/kafka/tls"}, tls={"storeType": "JKS"})
    final = next(s for s in replanned.steps if s.key == "final-broker-1")
    assert dict(final.left_behind) == old


def test_a_reissued_certificate_reloads_brokers_and_restarts_workers():
    before = make()
    lines = after(before, tls={"certValidityDays": 200})
    assert lines[:3] == [f"broker-{i}: reload, no restart (certificate re-issued: validity changed)" for i in (1, 2, 3)]
    assert lines[3] == "connect-1: restart (certificate re-issued: validity changed)"
    # A new SAN is a new key pair: that restarts.
    moved = after(before, brokers=[dict(b, extraDnsNames=["kafka.example.com"]) for b in sample()["brokers"]])
    assert moved[0].startswith("broker-1: restart (certificate re-issued: sans changed")


def test_a_new_ca_certificate_is_reissued_and_trusted():
    """A new CA validity re-issues the CA's certificate (same key): hosts get new certificates
    and new truststores."""
    lines = after(make(), ca={"validityDays": 2000})
    assert lines[0] == "broker-1: reload, no restart (certificate re-issued: ca changed; trusted CAs changed)"
    assert lines[3] == "connect-1: restart (certificate re-issued: ca changed; trusted CAs changed)"


def test_the_three_phases_of_a_ca_rotation():
    steady = Rotation(Phase.STEADY, "old", "old", None)
    before = make(rotation=steady)
    phase1 = make(LastRun(fingerprints=before.fingerprints), Rotation(Phase.TRUST_BOTH, "new", "old", "OLD PEM"))
    assert phase1.restart_plan()[0] == "broker-1: reload, no restart (trusted CAs changed)"
    assert phase1.restart_plan()[3] == "connect-1: restart (trusted CAs changed)"
    phase2 = make(LastRun(fingerprints=phase1.fingerprints), Rotation(Phase.REISSUED, "new", "new", "OLD PEM"))
    assert phase2.restart_plan()[0] == "broker-1: reload, no restart (certificate re-issued: ca changed)"
    phase3 = make(LastRun(fingerprints=phase2.fingerprints), Rotation(Phase.STEADY, "new", "new", None, dropping_old=True))
    assert phase3.restart_plan()[0] == "broker-1: reload, no restart (trusted CAs changed)"
    done = make(LastRun(fingerprints=phase3.fingerprints), Rotation(Phase.STEADY, "new", "new", None))
    assert {line.split(": ", 1)[1] for line in done.restart_plan()} == {"nothing"}


def test_key_custody_changes_both_ways_reload_brokers_and_restart_workers():
    host = make()
    to_stack = after(host, tls={"keyCustody": "stack"})
    assert to_stack[:3] == [f"broker-{i}: reload, no restart (certificate re-issued: custody changed)" for i in (1, 2, 3)]
    assert to_stack[3] == "connect-1: restart (certificate re-issued: custody changed)"
    stack = make(tls={"keyCustody": "stack"})
    back = make(LastRun(fingerprints=stack.fingerprints), tls={"keyCustody": "host"}).restart_plan()
    assert back == to_stack


def test_a_store_type_change_restarts_and_with_host_custody_makes_a_new_key():
    lines = after(make(), tls={"storeType": "JKS"})
    assert lines[0].startswith("broker-1: restart (properties changed: ssl.keystore.location, ssl.keystore.type,")
    assert "certificate re-issued: stores changed" in lines[0]
    # With the key in the stack the same key and certificate move into the new store.
    stack = make(tls={"keyCustody": "stack"})
    moved = make(LastRun(fingerprints=stack.fingerprints), tls={"keyCustody": "stack", "storeType": "JKS"}).restart_plan()
    assert "stores moved: stores" in moved[0] and "certificate re-issued" not in moved[0]


def test_a_restart_command_change_rewrites_and_restarts_nothing():
    lines = after(make(), restart={"kafka": "systemctl restart kafka.service"})
    assert lines[:3] == [f"broker-{i}: rewrite, no restart (restart or gate or SSH settings changed: the scripts "
                         "change, the service reads nothing new)" for i in (1, 2, 3)]
    assert lines[3] == "connect-1: nothing"


def test_ssl_only_adds_a_stage_that_hosts_already_on_ssl_skip():
    before = make()
    ssl_only = make(LastRun(fingerprints=before.fingerprints), tls={"listeners": "SSL"})
    stage2 = [s for s in ssl_only.steps if s.stage == "stage2"]
    assert stage2 and all(s.action is Action.NOTHING for s in stage2)
    assert ssl_only.restart_plan()[0].startswith("broker-1: restart (properties changed: ")


def test_early_renewal_follows_the_last_expiry_the_window_and_the_clock():
    """pulumi-tls re-issues a certificate once it is inside its early-renewal window (30 days by
    default): the plan says so from the last up's expiry and the clock, and keeps saying nothing
    once the renewed certificate is out of the window again."""
    before = make()
    expiry = {"broker-1": "2027-01-31T00:00:00Z", "broker-2": "2027-06-30T00:00:00Z",
              "broker-3": "2027-06-30T00:00:00Z", "connect-1": "2027-01-31T00:00:00Z"}
    early = LastRun(fingerprints=before.fingerprints, not_after=expiry, now=datetime(2026, 12, 31, 23, 59, tzinfo=timezone.utc))
    assert {line.split(": ", 1)[1] for line in make(early).restart_plan()} == {"nothing"}
    inside = LastRun(fingerprints=before.fingerprints, not_after=expiry, now=datetime(2027, 1, 1, tzinfo=timezone.utc))
    renewed = make(inside)
    assert renewed.restart_plan() == [
        "broker-1: reload, no restart (certificate re-issued: entered its renewal window)", "broker-2: nothing",
        "broker-3: nothing", "connect-1: restart (certificate re-issued: entered its renewal window)"]
    # The next up: the renewed certificates expire far ahead, nothing more to do.
    later = {**expiry, "broker-1": "2027-12-31T00:00:00Z", "connect-1": "2027-12-31T00:00:00Z"}
    next_up = LastRun(fingerprints=renewed.fingerprints, not_after=later, now=datetime(2027, 1, 1, 1, tzinfo=timezone.utc))
    assert {line.split(": ", 1)[1] for line in make(next_up).restart_plan()} == {"nothing"}
    # The CA's own window (90 days by default) re-issues it, and so every host's certificate and truststore.
    ca_due = LastRun(fingerprints=before.fingerprints, ca_not_after="2027-03-01T00:00:00Z",
                     now=datetime(2027, 1, 1, tzinfo=timezone.utc))
    assert make(ca_due).restart_plan()[0] == "broker-1: reload, no restart (certificate re-issued: the CA entered its renewal window)"


def test_fingerprints_of_an_older_kafka_tls_change_nothing():
    """A stack made before the plan recorded custody, settings, steps and renewals: its first up
    with this version restarts and reloads nothing."""
    before = make()
    old = {}
    for name, fp in before.fingerprints.items():
        cert = {k: v for k, v in fp["certificate"].items() if k not in ("custody", "renewal", "ca_renewal")}
        old[name] = {"files": fp["files"], "properties": fp["properties"], "certificate": cert, "trust": fp["trust"]}
    assert {line.split(": ", 1)[1] for line in make(LastRun(fingerprints=old)).restart_plan()} == {"nothing"}


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


def test_a_renewal_reloads_a_canary_then_the_rest_in_one_wave():
    before = make()
    renewed = make(LastRun(fingerprints=before.fingerprints), tls={"certValidityDays": 200})
    assert renewed.rollout_waves() == [
        "1: broker-1 (rewrite)", "2: broker-2 (rewrite)", "3: broker-3 (rewrite)",
        "4: broker-1 (reload, canary)", "5: broker-2, broker-3 (reload)", "6: connect-1 (restart)"]
    batches = make(LastRun(fingerprints=before.fingerprints), tls={"certValidityDays": 200}, restart={"reloadBatchSize": 1})
    assert batches.rollout_waves()[3:] == ["4: broker-1 (reload, canary)", "5: broker-2 (reload)", "6: broker-3 (reload)",
                                           "7: connect-1 (restart)"]
    # Restarts never share a wave.
    assert all(", " not in line for line in make().rollout_waves())


def test_a_ca_rotation_reloads_one_broker_at_a_time():
    before = make(rotation=Rotation(Phase.STEADY, "old", "old", None))
    phase1 = make(LastRun(fingerprints=before.fingerprints), Rotation(Phase.TRUST_BOTH, "new", "old", "OLD PEM"))
    assert [line for line in phase1.rollout_waves() if "reload" in line] == [
        "1: broker-1 (reload, canary)", "2: broker-2 (reload)", "3: broker-3 (reload)"]


def test_back_from_ssl_only_gives_every_broker_its_plaintext_listener_before_replication_moves():
    """SSL-only, then plaintext replication again: a broker replicating over PLAINTEXT before its
    peers have that listener back cannot fetch. So every broker first gets the PLAINTEXT listener
    with replication still on TLS (back1), then the final config."""
    ssl_only = make(tls={"listeners": "SSL"})
    back = make(LastRun(fingerprints=ssl_only.fingerprints), tls={"listeners": "PLAINTEXT+SSL", "interBrokerProtocol": "PLAINTEXT"})
    order = [(s.stage, s.host) for s in back.steps if s.action is Action.RESTART]
    brokers = ["broker-1", "broker-2", "broker-3"]
    assert order == [("back1", b) for b in brokers] + [("final", b) for b in brokers]
    stage = parse_properties(next(s for s in back.steps if s.stage == "back1").properties.text)
    assert "PLAINTEXT://:9092" in stage["listeners"] and stage["inter.broker.listener.name"] == "SSL"
    final = parse_properties(next(s for s in back.steps if s.key == "final-broker-1").properties.text)
    assert final["inter.broker.listener.name"] == "PLAINTEXT"
    assert back.restart_plan()[0].startswith("broker-1: restart (back from SSL-only listeners: first the plaintext listener")
    # From PLAINTEXT+SSL the peers still have the listener: no stage back.
    both = make(tls={"listeners": "PLAINTEXT+SSL"})
    direct = make(LastRun(fingerprints=both.fingerprints), tls={"listeners": "PLAINTEXT+SSL", "interBrokerProtocol": "PLAINTEXT"})
    assert not [s for s in direct.steps if s.back]


SASL_CLIENTS = {
    "process.roles": "broker",
    "controller.quorum.bootstrap.servers": "controller-1.example.com:9094",
    "controller.listener.names": "CONTROLLER",
    "listeners": "REPLICATION://:9092,CLIENTS://:9096",
    "listener.security.protocol.map": "REPLICATION:PLAINTEXT,CLIENTS:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
    "inter.broker.listener.name": "REPLICATION",
    "listener.name.clients.sasl.enabled.mechanisms": "PLAIN",
}


def test_a_sasl_ssl_broker_gets_the_cluster_checks_through_its_kept_plaintext_listener():
    from dataclasses import replace as copy_with

    from components.plan import _settings_digest

    sasl = {"serverProperties": SASL_CLIENTS, "tls": {"listenerName": "CLIENTS", "interBrokerProtocol": "PLAINTEXT"}}
    p = make(**sasl)
    b = p.host("broker-1")
    assert b.tools_port == 9092 and b.tls_port == 9096 and not b.reloads
    assert parse_properties(b.tool_config.text) == {"security.protocol": "PLAINTEXT"}
    assert not [s for s in p.steps if s.stage == "reload"]  # a re-issued certificate restarts it, as before
    assert next(s for s in p.steps if s.key == "final-broker-1").triggers == WORKER_RESTART_TRIGGERS
    assert p.fingerprints["broker-1"]["gate_tools_port"] == 9092
    # A stack made when such a gate checked the certificate only: its brokers are rewritten
    # (the step's script gains the checks), none restarts.
    older = {name: dict(fp) for name, fp in p.fingerprints.items()}
    for h in p.hosts:
        older[h.name]["settings"] = _settings_digest(validate_config(sample(**sasl)), copy_with(h, tool_config=None))
        older[h.name].pop("gate_tools_port", None)
    config = validate_config(sample(**sasl))
    again = make(LastRun(fingerprints=older, password_digest=store_password_digest(config)), **sasl).restart_plan()
    assert [line.split(" (")[0] for line in again] == [*(f"broker-{i}: rewrite, no restart" for i in (1, 2, 3)), "connect-1: nothing"]


CONTROLLER_SSL = {"controllerProtocol": "SSL"}
BROKERS = ["broker-1", "broker-2", "broker-3"]


def test_from_plaintext_the_controller_listener_moves_to_tls_in_one_roll_more():
    """The first TLS stage adds the TLS controller listener too, so from plaintext the move costs
    one roll (nodes dial it), then the final config removes the plaintext one."""
    p = make(tls=CONTROLLER_SSL)
    acting = [(s.stage, s.host) for s in p.steps if s.action is Action.RESTART and s.role is Role.BROKER]
    assert acting == [(stage, b) for stage in ("stage1", "controller2", "final") for b in BROKERS]
    # The controller's own first stage is planned (an interrupted up may need it) but has nothing to do.
    assert [s.action for s in p.steps if s.stage == "controller1"] == [Action.NOTHING] * 3
    stage1 = parse_properties(next(s for s in p.steps if s.stage == "stage1").properties.text)
    assert stage1["controller.listener.names"] == "CONTROLLER,CONTROLLER_SSL"
    assert p.restart_plan()[0] == (
        "broker-1: restart (controller listener to TLS in 3 restarts: CONTROLLER_SSL added beside the plaintext one, "
        "then dialled first, then the plaintext one removed; new host: first TLS rollout (from plaintext: 3 restarts "
        "unless already on SSL))"
    )
    assert p.rollout_waves()[:7] == [
        "1: broker-1 (restart, TLS listener stage1, controller TLS, stage 1 of 3)",
        "2: broker-2 (restart, TLS listener stage1, controller TLS, stage 1 of 3)",
        "3: broker-3 (restart, TLS listener stage1, controller TLS, stage 1 of 3)",
        "4: broker-1 (restart, controller TLS, stage 2 of 3)",
        "5: broker-2 (restart, controller TLS, stage 2 of 3)",
        "6: broker-3 (restart, controller TLS, stage 2 of 3)",
        "7: broker-1 (restart, controller TLS, stage 3 of 3)",
    ]
    assert all(p.host(b).controller_tls_port == 9096 for b in BROKERS)
    assert p.ssl_controller_servers == ",".join(f"kafka-{n}.example.com:9096" for n in (1, 2, 3))
    assert make().ssl_controller_servers == ""


def test_a_cluster_already_on_tls_moves_its_controller_listener_in_three_rolls_and_then_stays():
    before = make()
    moved = make(LastRun(fingerprints=before.fingerprints), tls=CONTROLLER_SSL)
    acting = [(s.stage, s.host) for s in moved.steps if s.action is Action.RESTART and s.role is Role.BROKER]
    assert acting == [(stage, b) for stage in ("controller1", "controller2", "final") for b in BROKERS]
    assert moved.restart_plan()[0].startswith("broker-1: restart (controller listener to TLS in 3 restarts: ")
    # The TLS controller listener takes its peers by their certificates (mTLS), named by the mapping rule.
    assert "properties changed: controller.listener.names, controller.quorum.voters, listener.name.controller_ssl.ssl." \
           "client.auth, listener.security.protocol.map, listeners, ssl.principal.mapping.rules)" in moved.restart_plan()[0]
    assert [line.split(" (")[1] for line in moved.rollout_waves()[:3]] == ["restart, controller TLS, stage 1 of 3)"] * 3
    # Nothing left to do at the next up, and the workers never restart for it.
    assert moved.restart_plan()[3] == "connect-1: nothing"
    again = make(LastRun(fingerprints=moved.fingerprints), tls=CONTROLLER_SSL)
    assert [s for s in again.steps if s.action is not Action.NOTHING] == []


def test_moving_the_controller_listener_back_to_plaintext_is_refused_at_preview():
    moved = make(tls=CONTROLLER_SSL)
    config = validate_config(sample())
    problems = last_run_problems(config, LastRun(fingerprints=moved.fingerprints))
    assert len(problems) == 1
    assert problems[0].startswith("kafka-tls:tls.controllerProtocol: PLAINTEXT, but the last up moved the controller "
                                  "listener of broker-1, broker-2, broker-3 to CONTROLLER_SSL (TLS)")
    assert last_run_problems(validate_config(sample(tls=CONTROLLER_SSL)), LastRun(fingerprints=moved.fingerprints)) == []


def test_a_controller_on_tls_restarts_for_a_new_certificate_or_ca_one_at_a_time():
    """Kafka 4.4 reloads the controller listener's stores, but its Raft client keeps the
    certificate and trust it started with: a renewal and each CA rotation phase restart."""
    moved = make(tls=CONTROLLER_SSL)
    last = LastRun(fingerprints=moved.fingerprints)
    renewed = make(last, tls={**CONTROLLER_SSL, "certValidityDays": 200})
    assert [line.split(" (")[0] for line in renewed.restart_plan()] == [*(f"{b}: restart" for b in BROKERS), "connect-1: restart"]
    assert renewed.restart_plan()[0] == ("broker-1: restart (certificate re-issued: validity changed; a restart, not a reload: "
                                         "the KRaft controller's Raft client reads its certificate and CAs at start only)")
    assert not [s for s in renewed.steps if s.stage == "reload"]
    assert "Raft" not in renewed.restart_plan()[3]  # the worker restarts anyway
    steady = make(rotation=Rotation(Phase.STEADY, "old", "old", None), tls=CONTROLLER_SSL)
    phases = [Rotation(Phase.TRUST_BOTH, "new", "old", "OLD PEM"), Rotation(Phase.REISSUED, "new", "new", "OLD PEM"),
              Rotation(Phase.STEADY, "new", "new", None, dropping_old=True)]
    for rotation in phases:
        rotating = make(LastRun(fingerprints=steady.fingerprints), rotation, tls=CONTROLLER_SSL)
        acting = [s for s in rotating.steps if s.action is Action.RESTART and s.role is Role.BROKER]
        assert [s.host for s in acting] == BROKERS and len({s.wave for s in acting}) == 3, rotation
        assert all(RAFT_RESTART in s.reasons for s in acting), rotating.restart_plan()
        steady = rotating


def test_a_stage_after_the_controller_moved_keeps_the_quorum_on_its_tls_listener():
    """A broker listener stage that runs after an up moved the controller listener (here SSL-only
    listeners, a new stage 2) must not bring the plaintext controller listener back first: peers
    that did not roll yet have only the TLS one."""
    moved = make(tls=CONTROLLER_SSL)
    ssl_only = make(LastRun(fingerprints=moved.fingerprints), tls={**CONTROLLER_SSL, "listeners": "SSL"})
    stage2 = [s for s in ssl_only.steps if s.stage == "stage2"]
    assert stage2
    for s in stage2:
        props = parse_properties(s.properties.text)
        assert props["controller.listener.names"] == "CONTROLLER_SSL" and ":9094" not in props["listeners"], props
    # Before the move, the same stage adds the TLS controller listener beside the plaintext one.
    fresh = make(tls={**CONTROLLER_SSL, "listeners": "SSL"})
    first = parse_properties(next(s for s in fresh.steps if s.stage == "stage2").properties.text)
    assert first["controller.listener.names"] == "CONTROLLER,CONTROLLER_SSL"
    # Said as what it is: a TLS stage, not a move of the controller listener.
    line = ssl_only.restart_plan()[0]
    assert line.startswith("broker-1: restart (properties changed: ") and "controller listener to TLS" not in line, line
    assert not [w for w in ssl_only.rollout_waves() if "controller TLS" in w]
