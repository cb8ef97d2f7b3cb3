"""The real Pulumi engine runs the program against the lab; real clients prove the result.

The tests run in file order and build on each other, like an operator's week: first `up` from
plaintext (brokers only), a no-op `up`, adding the Connect worker, SSL-only listeners, a consumer
stack reading the outputs, then `destroy`. Each starts from what the one before left.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient
from pulumi import automation as auto

from lab import config as C
from labstack import PLAINTEXT_QUORUM, LabStack, lab_tls
from labstack.stack import ClientConfigStack
from review import summary
from tests.e2e.contract import certificate_lines, observe, served_fingerprint, up_as_previewed
from tests.e2e.helpers import (
    all_replicas_in_sync,
    connect_put,
    create_topic,
    host_properties,
    openssl_verify,
    roundtrip,
    ssl_client_config,
    wait_for,
    write_ca,
)

pytestmark = pytest.mark.e2e

BROKERS = ["broker-1", "broker-2", "broker-3"]
ADDRESSES = {b: C.find_host(b).address for b in ("broker-1", "broker-2", "broker-3")}
STACK = "e2e"
# The way back from SSL-only listeners: where test_each_kind_of_change_does_what_its_preview_said starts.
BACK_TLS = {"listeners": "PLAINTEXT+SSL", "interBrokerProtocol": "PLAINTEXT", "storeType": "PKCS12", "keyCustody": "host"}
RUN = uuid.uuid4().hex[:8]  # topics outlive a reset of the lab: each run has its own


def topic(name: str) -> str:
    return f"{name}-{RUN}"


class Run:
    """What the tests pass on to the next one."""

    outputs: dict = {}
    pids: dict = {}


@pytest.fixture(scope="module")
def plaintext_lab(lab):
    """The lab in its pristine plaintext state, with no stack state left from an earlier run.

    A reset puts every host back to plaintext, so the state of every stack aimed at the lab
    (the main job's too) no longer matches the hosts: all of it goes.
    """
    lab.ensure_pristine()
    yield lab


# This module's changes are about the broker listeners: its quorum stays plaintext, so its first
# up from plaintext rolls twice (the controller listener's move is test_e2e_lifecycle's).
LAB_TLS = lab_tls(**PLAINTEXT_QUORUM)


def brokers_only(lab) -> LabStack:
    return LabStack(lab, STACK, overrides={"connectWorkers": [], "tls": LAB_TLS})


def changes(events: list) -> dict[str, str]:
    """urn -> operation of every resource step that is not 'same'. The engine's own default
    provider entry (no host behind it) may show as 'update' when resources are added."""
    out = {}
    for event in events:
        meta = event.resource_pre_event.metadata if event.resource_pre_event else None
        if meta and meta.op.value not in ("same", "read") and "::pulumi:providers:" not in meta.urn:
            out[meta.urn] = meta.op.value
    return out


def broker_pids(lab) -> dict[str, int]:
    return {b: lab.service_pid(b) for b in BROKERS}


def test_bad_config_fails_preview_with_one_message_per_problem(plaintext_lab):
    brokers = [
        {"name": "broker-1", "host": "broker-1.kafka.lab", "address": "127.0.0.300", "nodeId": 1},
        {"name": "broker-2", "host": "bad_host", "address": "127.0.0.12", "nodeId": 1},
    ]
    stack = LabStack(plaintext_lab, "e2e-bad", overrides={"brokers": brokers, "tls": {"storeType": "P12"}})
    with pytest.raises(auto.CommandError) as failure:
        stack.preview()
    text = str(failure.value)
    for key in ("kafka-tls:brokers[0].address", "kafka-tls:brokers[1].host", "kafka-tls:brokers[1].nodeId",
                "kafka-tls:tls.storeType"):
        assert key in text, key
    assert "4 problem(s) in the stack config; nothing was changed" in text
    stack.remove()


def test_preview_touches_no_host_then_up_secures_every_broker(plaintext_lab, tmp_path):
    lab = plaintext_lab
    stack = brokers_only(lab)
    before = {b: lab.ssh(b, "ls /etc/kafka/ssl 2>/dev/null | wc -l; md5sum /etc/kafka/server.properties").stdout for b in BROKERS}
    preview = stack.preview()
    assert preview.change_summary.get(auto.OpType.CREATE, 0) > 20
    after = {b: lab.ssh(b, "ls /etc/kafka/ssl 2>/dev/null | wc -l; md5sum /etc/kafka/server.properties").stdout for b in BROKERS}
    assert after == before, "preview changed a host"

    result = stack.up()
    assert result.summary.result == "succeeded"
    Run.outputs = {k: v.value for k, v in result.outputs.items()}
    for b in BROKERS:
        props = host_properties(lab, b, "/etc/kafka/server.properties")
        assert f"SSL://{C.find_host(b).url_host}:9093" in props["listeners"].split(",")
        assert f"SSL://{b}.{C.DOMAIN}:9093" in props["advertised.listeners"].split(",")
        assert props["inter.broker.listener.name"] == "SSL"
        # The gates' tools left their class archive, root's alone, and a tool maps it (-Xshare:on:
        # a JVM that cannot use it refuses to start).
        archives = lab.ssh(b, f"find {C.VAR_CACHE_KAFKA_TLS} -name 'tools-*.jsa' -user root ! -perm /077").stdout.split()
        assert len(archives) == 1, (b, archives)
        mapped = lab.ssh(b, f"KAFKA_JVM_PERFORMANCE_OPTS='-Xshare:on -XX:SharedArchiveFile={archives[0]}' "
                            "/opt/kafka/bin/kafka-topics.sh --version")
        assert mapped.returncode == 0, (b, mapped.stdout, mapped.stderr)


def test_no_secret_in_plaintext_state(plaintext_lab):
    """Store passwords, the SSH key and the CA key are only in the state encrypted."""
    state = brokers_only(plaintext_lab).exported_state()
    ssh_key = Path(plaintext_lab.inventory()["ssh_private_key"]).read_text().splitlines()[1]
    for secret in ("lab-Keystore-2026", "lab-Truststore-2026", ssh_key, "PRIVATE KEY-----"):
        assert secret not in state
    assert '"ciphertext"' in state


def test_each_restarted_broker_was_handed_its_leaderships_back(plaintext_lab):
    """After its gate, each restart step ran Kafka's preferred-leader election (the host's own
    kafka-leader-election.sh), so the next broker went down with leadership spread again."""
    resources = json.loads(brokers_only(plaintext_lab).exported_state())["deployment"]["resources"]
    outputs = [str(r.get("outputs", {}).get("stdout", "")) for r in resources if r["type"] == "command:remote:Command"]
    said = {b: [out for out in outputs if f"health gate passed: {b} presents" in out] for b in BROKERS}
    # Two stages from plaintext (the TLS listener, then replication moved to it): two restarts each.
    assert all(len(steps) == 2 for steps in said.values()), said
    assert all("preferred leaders elected" in step for steps in said.values() for step in steps), said


def test_the_restarted_brokers_run_on_their_services_own_heap(plaintext_lab):
    """The gates' Kafka tools run on a 256 MiB heap; the brokers the up restarted run on the lab
    service's own 1 GiB (Kafka's start script's default): the tools' options reached no broker.
    Before, they did, and a broker ran out of heap at a start late in CI."""
    for b in BROKERS:
        cmdline = Path(f"/proc/{plaintext_lab.service_pid(b)}/cmdline").read_bytes().split(b"\0")
        assert b"-Xmx1g" in cmdline and b"-Xmx256m" not in cmdline, (b, cmdline[:8])


def test_the_engine_ran_pulumis_own_plugins(plaintext_lab, engine_plugins):
    """The state records which provider plugins made the resources: command 1.2.1, tls 5.6.2."""
    assert re.search(r"^command\s+resource\s+1\.2\.1", engine_plugins, re.M), engine_plugins
    assert re.search(r"^tls\s+resource\s+5\.6\.2", engine_plugins, re.M), engine_plugins
    stack = brokers_only(plaintext_lab)
    resources = json.loads(stack.exported_state())["deployment"]["resources"]
    versions = {r["type"]: r.get("inputs", {}).get("version") for r in resources if r["type"].startswith("pulumi:providers:")}
    assert versions.get("pulumi:providers:command") == "1.2.1", versions
    assert versions.get("pulumi:providers:tls") == "5.6.2", versions
    types = {r["type"] for r in resources}
    assert {"command:remote:Command", "tls:index/locallySignedCert:LocallySignedCert",
            "tls:index/selfSignedCert:SelfSignedCert"} <= types
    assert not [t for t in types if "dynamic" in t]


def test_every_broker_presents_a_ca_signed_certificate_by_name_and_by_ip(plaintext_lab, tmp_path):
    ca_file = write_ca(Run.outputs, tmp_path)
    assert Run.outputs["ssl_bootstrap_servers"] == ",".join(f"{b}.{C.DOMAIN}:9093" for b in BROKERS)
    for b in BROKERS:
        by_name = openssl_verify(C.find_host(b).name, 9093, ca_file, name=C.find_host(b).name)
        assert by_name.returncode == 0 and "Verification: OK" in by_name.stderr, by_name.stderr
        by_ip = openssl_verify(ADDRESSES[b], 9093, ca_file, ip=ADDRESSES[b])
        assert by_ip.returncode == 0 and "Verification: OK" in by_ip.stderr, by_ip.stderr
        wrong = openssl_verify(ADDRESSES[b], 9093, ca_file, name="not-this-host.kafka.lab")
        assert wrong.returncode != 0, "a certificate matched a name it does not carry"
        fingerprint = Run.outputs["certificates"][b]["sha256_fingerprint"]
        assert len(fingerprint.split(":")) == 32


def test_clients_produce_and_consume_over_ssl_with_hostname_verification(plaintext_lab, tmp_path):
    config = ssl_client_config(Run.outputs, write_ca(Run.outputs, tmp_path))
    create_topic(config, topic("e2e-ssl"))
    assert len(roundtrip(config, topic("e2e-ssl"), 300)) == 300
    assert wait_for(lambda: all_replicas_in_sync(config, topic("e2e-ssl")))


def test_second_up_changes_nothing_and_restarts_nothing(plaintext_lab):
    lab = plaintext_lab
    pids = broker_pids(lab)
    events: list = []
    result = brokers_only(lab).up(on_event=events.append)
    assert changes(events) == {}
    assert set(result.summary.resource_changes) == {"same"}, result.summary.resource_changes
    assert broker_pids(lab) == pids
    assert result.outputs["restart_plan"].value == [f"{b}: nothing" for b in BROKERS]


def test_files_belong_to_the_service_and_the_operator_escalated_with_sudo(plaintext_lab):
    """The strict lab: kafka-tls logs in as kafka-admin, escalates with sudo, and leaves the stores
    to the kafka account the brokers run as."""
    lab = plaintext_lab
    for b in BROKERS:
        listing = lab.ssh(b, "stat -c '%n %U:%G %a' /etc/kafka/ssl /etc/kafka/ssl/* /etc/kafka/server.properties",
                          check=True).stdout
        modes = {line.split()[0]: tuple(line.split()[1:]) for line in listing.splitlines()}
        assert modes["/etc/kafka/ssl"] == ("root:kafka", "750")
        assert modes["/etc/kafka/ssl/kafka.keystore.p12"] == ("kafka:kafka", "600")
        assert modes["/etc/kafka/ssl/kafka.truststore.p12"] == ("kafka:kafka", "640")
        assert modes["/etc/kafka/ssl/kafka-tls-secrets.properties"] == ("kafka:kafka", "600")
        assert modes["/etc/kafka/server.properties"] == ("kafka:kafka", "640")
        pid = lab.service_pid(b)
        assert lab.ssh(b, f"ps -o user= -p {pid}", check=True).stdout.strip() == "kafka"
        sshd_log = (lab.sshd_dir(lab_host(lab, b)) / "sshd.log").read_text()
        assert "Accepted publickey for kafka-admin" in sshd_log


def test_gate_timeout_restart_command_and_ssh_changes_restart_nothing(plaintext_lab):
    """Only what the service reads triggers a restart: these change the steps' scripts, so each
    step's update runs (it rewrites the same file), and every broker keeps its process."""
    lab = plaintext_lab
    pids = broker_pids(lab)
    settings = brokers_only(lab).stack_settings()["config"]
    restart = dict(settings["kafka-tls:restart"], gateTimeoutSeconds=300,
                   kafka="KAFKA_SERVICE_START_TIMEOUT=120 /opt/kafka/bin/kafka-service restart kafka")
    for overrides in ({"restart": restart, "ssh": {"port": 22, "sudo": True}}, {}):
        stack = LabStack(lab, STACK, overrides={"connectWorkers": [], "tls": LAB_TLS, **overrides})
        events: list = []
        result, done = up_as_previewed(lab, stack, ADDRESSES, BROKERS, run=lambda: stack.up(on_event=events.append))
        ops = changes(events)
        assert ops and set(ops.values()) == {"update"}, ops
        assert all("-rollout-" in urn for urn in ops), ops
        assert done == [f"{b}: rewrite, no restart (restart or gate or SSH settings changed: the scripts change, "
                        "the service reads nothing new)" for b in BROKERS]
        assert broker_pids(lab) == pids, "a broker restarted"


def test_adding_the_connect_worker_creates_and_restarts_only_it(plaintext_lab, tmp_path):
    lab = plaintext_lab
    pids = broker_pids(lab)
    connect_pid = lab.service_pid("connect-1")
    stack = LabStack(lab, STACK, overrides={"tls": LAB_TLS})
    events: list = []
    preview = stack.preview(on_event=events.append)
    planned = changes(events)
    assert planned and all("connect" in urn for urn in planned), planned
    assert set(planned.values()) == {"create"}
    # The preview ends with the restart plan: only the new worker restarts, and the up does that.
    assert "restart_plan" in preview.stdout and "first TLS rollout" in preview.stdout
    comments: list[str] = []
    result, _ = up_as_previewed(lab, stack, ADDRESSES, [*BROKERS, "connect-1"], comments=comments)
    Run.outputs = {k: v.value for k, v in result.outputs.items()}
    assert Run.outputs["restart_plan"] == [*(f"{b}: nothing" for b in BROKERS), "connect-1: restart (new host: first TLS rollout)"]
    # The pull request comment: the worker's certificate issued, its whole file new to kafka-tls.
    said = comments[0]
    assert re.search(r"^\*\*Certificates\*\* issued or renewed:\n- connect-1: issued on up, valid \d+ days$", said, re.M), said
    assert re.search(r"^- connect-1: the whole file is written \(new to kafka-tls\)", said, re.M), said
    assert "\n  security.protocol=SSL\n" in said and not re.search(r"^- broker-", said, re.M), said  # no broker's file or certificate
    assert broker_pids(lab) == pids, "a broker restarted"
    assert lab.service_pid("connect-1") != connect_pid
    props = host_properties(lab, "connect-1", "/etc/kafka/connect-avro-distributed.properties")
    for prefix in ("", "producer.", "consumer.", "admin."):
        assert props[f"{prefix}security.protocol"] == "SSL"
        assert props[f"{prefix}bootstrap.servers"] == Run.outputs["ssl_bootstrap_servers"]


def test_connect_moves_records_over_ssl(plaintext_lab, tmp_path):
    lab = plaintext_lab
    config = ssl_client_config(Run.outputs, write_ca(Run.outputs, tmp_path))
    lab.wait_connect()
    # The worker's internal topics were written through its only (SSL) bootstrap servers.
    topics = AdminClient(config).list_topics(timeout=30).topics
    assert {"connect-configs", "connect-offsets", "connect-status"} <= set(topics)
    create_topic(config, topic("e2e-connect"), partitions=1)
    lines = [f"line-{i}" for i in range(20)]
    lab.ssh("connect-1", f"cat > /var/lib/kafka/e2e-input-{RUN}.txt", input="\n".join(lines) + "\n", check=True)
    connector = {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
        "file": f"/var/lib/kafka/e2e-input-{RUN}.txt",
        "topic": topic("e2e-connect"),
        "tasks.max": "1",
    }
    connect_put(f"{lab.connect_url}/connectors/e2e-file-source-{RUN}/config", connector)

    consumer = Consumer({**config, "group.id": "e2e-connect-check", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic("e2e-connect")])
    got: list[str] = []
    deadline = time.monotonic() + 120
    while len(got) < len(lines) and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            got.append(json.loads(message.value()))
    consumer.close()
    assert got == lines


def test_ssl_only_listeners_keep_the_cluster_replicating(plaintext_lab, tmp_path):
    """With the plaintext listener gone, inter-broker traffic can only be TLS."""
    lab = plaintext_lab
    stack = LabStack(lab, STACK, overrides={"tls": {"listeners": "SSL", "interBrokerProtocol": "SSL", "storeType": "PKCS12", "keyCustody": "host"}})
    result, done = up_as_previewed(lab, stack, ADDRESSES, [*BROKERS, "connect-1"])
    # By host (sorted): the order follows the quorum leader (contract.py holds it to the preview).
    assert sorted(line.split(" (")[0] for line in done) == [*(f"{b}: restart" for b in BROKERS), "connect-1: nothing"]
    Run.outputs = {k: v.value for k, v in result.outputs.items()}
    for b in BROKERS:
        props = host_properties(lab, b, "/etc/kafka/server.properties")
        assert not any(l.startswith("PLAINTEXT") for l in props["listeners"].split(","))
        assert lab.ssh(b, f"exec 3<>/dev/tcp/{ADDRESSES[b]}/9092", timeout=30).returncode != 0, "9092 still open"
    config = ssl_client_config(Run.outputs, write_ca(Run.outputs, tmp_path))
    create_topic(config, topic("e2e-ssl-only"))
    assert len(roundtrip(config, topic("e2e-ssl-only"), 200)) == 200
    assert wait_for(lambda: all_replicas_in_sync(config, topic("e2e-ssl-only")))
    assert wait_for(lambda: all_replicas_in_sync(config, topic("e2e-ssl")))


def test_back_from_ssl_only_to_plaintext_replication_loses_nothing(plaintext_lab, tmp_path):
    """The way back from SSL-only listeners in one config change: the plan first gives every
    broker its plaintext listener back (replication still on TLS), then moves replication to it.
    Under 100 msg/s acks=all: nothing lost, never more than one broker down, as previewed."""
    from tests.e2e.load import Sampler, Traffic

    lab = plaintext_lab
    stack = LabStack(lab, STACK, overrides={"tls": BACK_TLS})
    config = ssl_client_config(Run.outputs, write_ca(Run.outputs, tmp_path))
    create_topic(config, topic("e2e-back"))
    sampler = Sampler({b: (ADDRESSES[b], 9093) for b in BROKERS}).start()
    traffic = Traffic(config, topic("e2e-back"), rate=100).start()
    try:
        result, done = up_as_previewed(lab, stack, ADDRESSES, [*BROKERS, "connect-1"])
    finally:
        traffic.stop()
        sampler.stop()
    verdict = traffic.verify()
    assert verdict.sent > 500 and verdict.lost == [] and verdict.unexplained_duplicates == [], (verdict.sent, len(verdict.lost), verdict.duplicated)
    assert sampler.max_down <= 1, sampler.down_at[:5]
    back = [line.split(": ", 1)[0] for line in done if line.split(": ", 1)[1].startswith("restart (back from SSL-only listeners")]
    assert sorted(back) == BROKERS, done
    Run.outputs = {k: v.value for k, v in result.outputs.items()}
    for b in BROKERS:
        props = host_properties(lab, b, "/etc/kafka/server.properties")
        assert props["inter.broker.listener.name"] == "PLAINTEXT" and "PLAINTEXT://" in props["listeners"]
    lab.roundtrip()  # plaintext clients on 9092 again
    assert wait_for(lambda: all_replicas_in_sync(config, topic("e2e-back")))


def test_each_kind_of_change_does_what_its_preview_said(plaintext_lab, tmp_path):
    """From the way back's end state, one change after another: a shorter validity (every
    certificate re-issued), in one up a new SAN for broker-2 (its certificate alone, and a restart:
    Kafka reloads a keystore only if its SANs are unchanged) and broker-1's own property (broker-1
    restarts for it, broker-3 not at all), client certificates requested (every broker restarts, the quorum leader
    last, contract.py), the store
    type (PKCS12 to JKS) with new store passwords in the same up (tests/unit/test_plan.py has the
    passwords alone), then the worker taken out of the stack. Each up keeps its preview's word host by
    host (contract.py). After the two ups where a broker's disk could differ from what it serves,
    the reload (validity) and the store paths changed (the old files removed after the restarts),
    a broker restarted by hand comes back serving the certificate the outputs name. Elsewhere the
    up's own restart already started each broker from its files."""
    lab = plaintext_lab
    tuned = [dict(b) for b in LabStack(lab, STACK).stack_settings()["config"]["kafka-tls:brokers"]]
    tuned[1]["extraDnsNames"] = [f"broker-2.alt.{C.DOMAIN}"]  # and one broker's own property, kept by the later rows
    tuned[0]["properties"] = {**tuned[0].get("properties", {}), "num.io.threads": "9"}
    shorter = {**BACK_TLS, "certValidityDays": 200}
    requested = {**shorter, "clientAuth": "requested"}
    jks = {**requested, "storeType": "JKS"}
    new_passwords = {"truststorePassword": f"tp-{RUN}-changed"}
    chain = [
        ("validity", {"tls": shorter}, {}, "broker-1"),
        ("new SAN, one broker's property", {"tls": shorter, "brokers": tuned}, {}, None),
        ("client auth", {"tls": requested, "brokers": tuned}, {}, None),
        ("store type and passwords", {"tls": jks, "brokers": tuned}, new_passwords, "broker-1"),
        ("worker removed", {"tls": jks, "brokers": tuned, "connectWorkers": []}, new_passwords, None),
    ]
    table: dict[str, list[str]] = {}
    comments: list[str] = []
    for what, overrides, secrets, by_hand in chain:
        stack = LabStack(lab, STACK, overrides=overrides, secrets=secrets)
        result, done = up_as_previewed(lab, stack, ADDRESSES, [*BROKERS, "connect-1"], comments=comments)
        table[what] = done
        Run.outputs = {k: v.value for k, v in result.outputs.items()}
        if by_hand:
            assert lab.service(by_hand, "restart").returncode == 0
            expected = Run.outputs["certificates"][by_hand]["sha256_fingerprint"]
            assert wait_for(lambda: served_fingerprint(lab, by_hand, ADDRESSES[by_hand]) == expected, timeout=120), \
                f"after {what}: {by_hand} does not serve its certificate after a restart by hand"
    lab.log("contract table (change: restart_plan as previewed and done): " + json.dumps(table, indent=1))
    # By host (sorted): the order is the quorum leader's business, held to the preview by contract.py.
    actions = {what: sorted(line.split(" (")[0] for line in done) for what, done in table.items()}
    assert actions == {
        "validity": [*(f"{b}: reload, no restart" for b in BROKERS), "connect-1: restart"],
        # Kafka refuses a dynamic keystore update whose SANs differ from the running one's: a restart.
        "new SAN, one broker's property": ["broker-1: restart", "broker-2: restart", "broker-3: nothing", "connect-1: nothing"],
        "client auth": [*(f"{b}: restart" for b in BROKERS), "connect-1: restart"],
        # New files at new paths, and (keys on the hosts) a new key in them: every host restarts.
        "store type and passwords": [*(f"{b}: restart" for b in BROKERS), "connect-1: restart"],
        "worker removed": [*(f"{b}: nothing" for b in BROKERS), "connect-1: removed"],
    }, table
    # What the pull request comment of each preview told its reviewer (review.summary).
    said = dict(zip(table, comments))
    lab.log("pull request comments:\n" + "\n".join(said.values()))
    reissued = certificate_lines(said["validity"])
    assert set(reissued) == {*BROKERS, "connect-1"}, said["validity"]
    assert all(w.startswith("re-issued on up, valid 200 days (validity changed") for w in reissued.values()), reissued
    san = certificate_lines(said["new SAN, one broker's property"])
    assert list(san) == ["broker-2"] and san["broker-2"].startswith("re-issued on up, valid 200 days (sans changed; the old one ran to ")
    assert any(line.startswith("broker-1: restart (properties changed: num.io.threads")
               for line in table["new SAN, one broker's property"])
    assert host_properties(lab, "broker-1", "/etc/kafka/server.properties")["num.io.threads"] == "9"
    assert host_properties(lab, "broker-2", "/etc/kafka/server.properties")["num.io.threads"] == "4"  # the base's
    told = said["client auth"].split("**Properties**", 1)[1]
    assert "client.auth`" in told and "`requested`" in told, told
    assert "**Certificates**: none issued or renewed." in said["worker removed"]
    assert "`ssl.keystore.type`: `PKCS12` → `JKS`" in said["store type and passwords"], said["store type and passwords"]
    # A new keystore password cannot open the keystores the hosts made: refused at preview, by
    # the CLI's preview as a pull request runs it, with nothing done to any host.
    before = observe(lab, ADDRESSES, BROKERS)
    refused = LabStack(lab, STACK, overrides=chain[-1][1], secrets={**new_passwords, "keystorePassword": f"kp-{RUN}-new"})
    run = refused.preview_json()
    assert run.returncode != 0 and "kafka-tls:keystorePassword: changed" in run.stdout, run.stdout[-2000:]
    assert summary.render(summary.load(run.stdout)).startswith(f"### kafka-tls preview of `{STACK}`: ❌ failed")
    assert observe(lab, ADDRESSES, BROKERS) == before
    assert all("store passwords changed" in line for line in table["store type and passwords"]), table
    for b in BROKERS:
        props = host_properties(lab, b, "/etc/kafka/server.properties")
        assert props["ssl.keystore.type"] == "JKS" and props["ssl.keystore.location"].endswith(".jks"), props
    ca_file = write_ca(Run.outputs, tmp_path)
    check = openssl_verify(ADDRESSES["broker-2"], 9093, ca_file, name=f"broker-2.alt.{C.DOMAIN}")
    assert check.returncode == 0, check.stderr
    h = lab_host(lab, "connect-1")
    assert lab.ssh("connect-1", "cat /etc/kafka/connect-avro-distributed.properties").stdout == \
        (lab.pristine_dir(h) / "connect-avro-distributed.properties").read_text(), "the removed worker's file is not its own"
    # Requested, not required: a client without a certificate still connects.
    config = ssl_client_config(Run.outputs, ca_file)
    create_topic(config, topic("e2e-requested"))
    assert len(roundtrip(config, topic("e2e-requested"), 20)) == 20


def test_a_consumer_stack_reads_the_outputs_and_connects(plaintext_lab):
    client = ClientConfigStack(plaintext_lab, kafka_stack=STACK)
    result = client.up()
    settings = result.outputs["librdkafka"].value
    assert settings["ssl.endpoint.identification.algorithm"] == "https"
    create_topic(dict(settings), topic("e2e-client"))
    assert len(roundtrip(dict(settings), topic("e2e-client"), 50)) == 50
    client.destroy()


def test_destroy_removes_key_material_and_restores_the_original_files(plaintext_lab):
    lab = plaintext_lab
    LabStack(lab, STACK, overrides={"tls": LAB_TLS}).destroy()
    for host in [*BROKERS, "connect-1"]:
        # Everything kafka-tls put on the host: stores, keys, CSRs, secrets, markers, originals.
        left = lab.ssh(host, "find /etc/kafka/ssl -type f; find /etc/kafka -name '*.p12' -o -name '*.jks' "
                             "-o -name '*.pem' -o -name 'kafka-tls-*' -o -name '*.kafka-tls.*'").stdout.split()
        assert left == [], f"{host} keeps {left}"
        h = next(x for x in lab.inventory()["hosts"] if x["short_name"] == host)
        path = h["paths"]["server_properties"] or h["paths"]["connect_properties"]
        current = lab.ssh(host, f"cat {path}").stdout
        pristine = (lab.pristine_dir(lab_host(lab, host)) / Path(path).name).read_text()
        assert current == pristine, f"{host}: {path} is not the original"


def lab_host(lab, short: str):
    return next(h for h in lab.hosts if h.short == short)


def test_named_listeners_are_kept_and_the_sasl_one_moves_to_tls_behind_full_gates(plaintext_lab, tmp_path):
    """A cluster with its own listener names: INTERNAL (replication) and EXTERNAL (clients, SASL
    PLAIN logins). kafka-tls converts EXTERNAL in place to SASL_SSL and keeps INTERNAL, its port
    and its role. The gate has no SASL credentials, so its Kafka tools ask the cluster over
    INTERNAL: every restart still waited for registration, the quorum and in-sync replicas, and
    checked min.insync.replicas first. The client settings it exports log in over SASL_SSL."""

    lab = plaintext_lab
    lab.reset_plaintext(layout="named")
    stack = LabStack(lab, "e2e-named", overrides={
        "connectWorkers": [],
        "serverBaseFile": "labstack/server.named.base.properties",
        "tls": {"listenerName": "EXTERNAL", "interBrokerProtocol": "PLAINTEXT"},
    })
    result, done = up_as_previewed(lab, stack, ADDRESSES, BROKERS)  # held to its preview, the order too
    assert sorted(line.split(" (")[0] for line in done) == [f"{b}: restart" for b in BROKERS], done
    outputs = {k: v.value for k, v in result.outputs.items()}
    assert outputs["ssl_bootstrap_servers"] == ",".join(f"{b}.{C.DOMAIN}:9095" for b in BROKERS)
    ca_file = write_ca(outputs, tmp_path)
    for b in BROKERS:
        props = host_properties(lab, b, "/etc/kafka/server.properties")
        assert props["listeners"].split(",") == [
            *(f"{name}://{C.find_host(b).url_host}:{port}" for name, port in (("INTERNAL", 9092), ("EXTERNAL", 9095), ("CONTROLLER", 9094)))]
        assert props["listener.security.protocol.map"].split(",")[:3] == [
            "INTERNAL:PLAINTEXT", "EXTERNAL:SASL_SSL", "CONTROLLER:PLAINTEXT"]
        assert props["inter.broker.listener.name"] == "INTERNAL"
        check = openssl_verify(C.find_host(b).name, 9095, ca_file, name=C.find_host(b).name)
        assert check.returncode == 0, check.stderr
    resources = json.loads(stack.exported_state())["deployment"]["resources"]
    said = {b: [str(r.get("outputs", {}).get("stdout", "")) for r in resources
                if r["type"] == "command:remote:Command" and r["urn"].endswith(f"rollout-final-{b}")] for b in BROKERS}
    for b, (out,) in said.items():
        assert f"health gate passed: {b} presents" in out and "is unfenced and caught up" in out, out
    settings = dict(outputs["client_settings"]["librdkafka"])
    assert settings["security.protocol"] == "SASL_SSL" and settings["sasl.mechanisms"] == "PLAIN", settings
    user, password = C.SASL_CLIENT
    config = {**settings, "ssl.ca.location": str(ca_file), "sasl.username": user, "sasl.password": password}
    create_topic(config, topic("e2e-named"))
    assert len(roundtrip(config, topic("e2e-named"), 100)) == 100
    lab.roundtrip()  # INTERNAL still serves plaintext on 9092
    stack.destroy()
