"""The doctor against the real lab, chained cheaply: one `pulumi up` secures the lab (brokers and
the worker), then only doctor runs and faults a person could make by hand, each undone by hand:

1. the secured lab: exit 0, and the doctor changed nothing on any host (every file under each
   host's /etc/kafka byte for byte, with its owner, mode and mtime; every service's PID). The
   worker's REST listener is https (``HTTPS_REST``): the up's gate and the doctor read it over TLS;
2. a property edited by hand in broker-1's server.properties: exit 1 naming broker-1 and the key;
3. broker-2's truststore deleted: exit 1 naming broker-2's truststore;
4. broker-3 stopped: exit 1 naming its listeners, and its peers' handshakes to it;
5. broker-3 unreachable (the stack pins another host's key for it): exit 2, broker-3 cannot be
   checked, and every other host still is (all ok);
5a. broker-2's keystore copied over broker-1's, and the worker's file edited: each named;
6. all undone: exit 0 again;
7. the repair path: broker-2 restarted by hand on its original plaintext file and its truststore
   deleted, `doctor --repair`, the previewed `up` writes both again and restarts
   broker-2 alone, exit 0;
8. broker-3 and the worker re-imaged (new host keys, plaintext, no stores): cannot be checked
   with their old keys; with the new ones, the previewed `up` brings those two back, exit 0.
Traffic runs from the first `up` to the last repair (100 msg/s, acks=all, over TLS): 0 lost.

The doctor runs as an operator runs it, ``python -m doctor --stack ... --cwd ... --json`` with the
stack's environment, and every report is held to doctor/schema.json. The lab's per-host
/etc/kafka is a folder on this machine (``lab.etc_dir``), so the faults and the snapshots need no
SSH. The stack's state is in the lab's PostgreSQL (a team's shared backend, lab/postgres.py): the
last test runs two `up`s of it at once. Runtime: a reset if the lab is not pristine, one `up`, six
doctor runs, two more `up`s. Replication stays on
PLAINTEXT (``tls.interBrokerProtocol``), so that `up` restarts each broker once, not through the
plaintext-to-SSL stages: what the doctor checks is the same.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import jsonschema
import pytest
import yaml

from lab import config as C
from lab.postgres import StateServer
from labstack import PLAINTEXT_QUORUM, LabStack, lab_tls
from tests.e2e.contract import served_fingerprint, up_as_previewed
from tests.e2e.helpers import create_topic, ssl_client_config, write_ca
from tests.e2e.load import Traffic

pytestmark = pytest.mark.e2e

STACK = "e2e-doctor"
LOAD_TOPIC = f"e2e-doctor-load-{uuid.uuid4().hex[:8]}"
BROKERS = ["broker-1", "broker-2", "broker-3"]
HOSTS = [*BROKERS, "connect-1"]
ADDRESSES = {b: C.find_host(b).address for b in ("broker-1", "broker-2", "broker-3")}
REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "doctor" / "schema.json").read_text())


# The worker's REST API on https (its own certificate, from the worker's ssl.* settings).
HTTPS_REST = {"listeners": f"https://{C.find_host('connect-1').url_host}:8083", "rest.advertised.listener": "https"}


class Run:
    seconds: dict[str, float] = {}
    server: StateServer
    traffic: Traffic


def doctor(stack: LabStack, name: str, *args: str) -> dict:
    """``python -m doctor --json`` on the stack, as an operator runs it; the report, checked
    against the schema and against the exit code."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "doctor", "--stack", stack.name, "--cwd", str(stack.project_dir), "--json", *args],
        cwd=REPO, env={**os.environ, **stack.env}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    Run.seconds[name] = time.monotonic() - started
    doc = json.loads(done.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert done.returncode == doc["exit_code"], (done.returncode, done.stderr[-2000:])
    return doc


def not_ok(doc: dict) -> list[tuple[str, str, str, str]]:
    """(host, check, subject, detail) of every check that is not ok."""
    return [(h["host"], k["check"], k["subject"], k["detail"]) for h in doc["hosts"] for k in h["checks"] if k["status"] != "ok"]


def host(doc: dict, name: str) -> dict:
    return next(h for h in doc["hosts"] if h["host"] == name)


def snapshot(lab) -> dict:
    """Every file and folder under each host's /etc/kafka (content digest, owner, mode, mtime) and
    every service's PID."""
    out: dict = {}
    for h in lab.hosts:
        root = lab.etc_dir(h)
        for path in sorted([root, *root.rglob("*")]):
            st = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
            out[f"{h.short}:{path.relative_to(root)}"] = (digest, st.st_uid, st.st_gid, st.st_mode, st.st_mtime_ns)
        out[f"{h.short}:pid"] = lab.service_pid(h.short)
    return out


def etc(lab, name: str, path: str) -> Path:
    """A host's file under /etc/kafka, where this machine sees it."""
    h = next(h for h in lab.hosts if h.short == name)
    return lab.local_path(h, path)


@pytest.fixture(scope="module")
def secured(lab, request):
    """The lab from plaintext (reset only if it is not pristine), then one `up` of the whole stack."""
    lab.ensure_pristine()
    Run.server = lab.state_server()
    workers = LabStack(lab, STACK).stack_settings()["config"]["kafka-tls:connectWorkers"]
    https = [{**w, "properties": {**w.get("properties", {}), **HTTPS_REST}} for w in workers]
    overrides = {"tls": lab_tls(interBrokerProtocol="PLAINTEXT", **PLAINTEXT_QUORUM), "connectWorkers": https}
    stack = LabStack(lab, STACK, overrides=overrides, backend_url=Run.server.url)
    started = time.monotonic()
    result = stack.up()
    Run.seconds["up"] = time.monotonic() - started
    assert result.summary.result == "succeeded"
    # 100 msg/s, acks=all, over TLS, from here to the last repair (test_no_message_was_lost_...).
    outputs = {k: v.value for k, v in result.outputs.items()}
    directory = Path(tempfile.mkdtemp(prefix="e2e-doctor-load-"))
    config = ssl_client_config(outputs, write_ca(outputs, directory))
    create_topic(config, LOAD_TOPIC)
    Run.traffic = Traffic(config, LOAD_TOPIC, rate=100).start()
    yield lab, stack
    Run.traffic.stop()
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\ntest_e2e_doctor wall times (s): {json.dumps({k: round(v, 1) for k, v in Run.seconds.items()})}", flush=True)


def test_a_secured_lab_is_healthy_and_the_doctor_changes_nothing_on_any_host(secured):
    lab, stack = secured
    before = snapshot(lab)
    doc = doctor(stack, "healthy")
    assert doc["exit_code"] == 0, not_ok(doc)
    assert [h["host"] for h in doc["hosts"]] == HOSTS
    assert snapshot(lab) == before, "the doctor changed a file or a service on a host"
    for name in HOSTS:
        checks = {k["check"] for k in host(doc, name)["checks"]}
        assert {"ssh", "listeners", "service user", "peers", "certificate", "names", "expiry", "chain", "properties",
                "files", "truststore", "restart pending"} <= checks, (name, checks)
        assert ("dynamic config" in checks) == name.startswith("broker") and ("connect" in checks) == (name == "connect-1")
        assert "keystore" in checks, (name, checks)  # every host serves from a listener: its keystore is read too
    served = next(k["detail"] for k in host(doc, "connect-1")["checks"] if k["check"] == "certificate")
    assert served.startswith("served on the REST listener: the certificate the stack issued"), served
    peers = {k["subject"] for k in host(doc, "broker-1")["checks"] if k["check"] == "peers"}
    assert peers == set(BROKERS)
    assert Run.seconds["healthy"] < 90, Run.seconds  # every host at once, seconds each


def test_the_worker_came_through_its_rollout_on_https_verified_by_the_stacks_ca(secured, tmp_path):
    """The up restarted the worker behind its gate over https; from here, its REST API answers
    over TLS by name with the stack's CA, and no longer over plain HTTP."""
    lab, stack = secured
    ca = ssl.create_default_context(cadata=stack.outputs()["ca_bundle_pem"])
    with urllib.request.urlopen(f"https://{C.find_host('connect-1').name}:8083/connectors", context=ca, timeout=30) as answer:
        assert answer.status == 200 and isinstance(json.loads(answer.read()), list)
    with socket.create_connection((C.find_host("connect-1").address, 8083), timeout=10) as plain:
        plain.sendall(f"GET /connectors HTTP/1.0\r\nHost: {C.find_host('connect-1').name}:8083\r\n\r\n".encode())
        try:
            answer = plain.recv(64)
        except ConnectionError:
            answer = b""
    assert not answer.startswith(b"HTTP/1.1 200"), answer


def test_a_property_edited_by_hand_is_named_by_host_and_key(secured):
    lab, stack = secured
    path = etc(lab, "broker-1", "/etc/kafka/server.properties")
    original = path.read_text()
    assert "ssl.client.auth=none\n" in original
    path.write_text(original.replace("ssl.client.auth=none\n", "ssl.client.auth=requested\n"))  # in place: owner and mode kept
    try:
        doc = doctor(stack, "hand-edited property", "--host", "broker-1")
    finally:
        path.write_text(original)
    assert doc["exit_code"] == 1
    found = [(h, c, s) for h, c, s, d in not_ok(doc) if "ssl.client.auth" in d]
    assert found == [("broker-1", "properties", "")], not_ok(doc)
    assert {c for _, c, _, _ in not_ok(doc)} == {"properties"}, not_ok(doc)
    fix = next(k["fix"] for k in host(doc, "broker-1")["checks"] if k["check"] == "properties")
    assert "`--repair`" in fix and "`broker-1: restart (repair: ...)`" in fix, fix


def test_a_deleted_truststore_is_named(secured):
    lab, stack = secured
    path = etc(lab, "broker-2", "/etc/kafka/ssl/kafka.truststore.p12")
    content, st = path.read_bytes(), path.stat()
    path.unlink()
    try:
        doc = doctor(stack, "deleted truststore", "--host", "broker-2")
    finally:
        path.write_bytes(content)
        os.chown(path, st.st_uid, st.st_gid)
        path.chmod(st.st_mode & 0o7777)
    assert doc["exit_code"] == 1
    named = [(h, c, s, d) for h, c, s, d in not_ok(doc) if c in ("files", "truststore")]
    assert {(h, c, s) for h, c, s, _ in named} == {("broker-2", "files", "truststore"), ("broker-2", "truststore", "truststore")}
    assert all("missing" in d for _, _, _, d in named), named
    # The dynamic-config check's tool dials the broker through that truststore: it fails too.
    others = [(c, k["status"]) for c, k in ((k["check"], k) for k in host(doc, "broker-2")["checks"])
              if k["status"] != "ok" and c not in ("files", "truststore")]
    assert all(c == "dynamic config" for c, _ in others), others


def test_a_stopped_broker_is_named_and_its_peers_say_they_cannot_reach_it(secured):
    lab, stack = secured
    lab.service("broker-3", "stop")
    try:
        doc = doctor(stack, "stopped broker")
    finally:
        lab.service("broker-3", "start")
    assert doc["exit_code"] == 1
    problems = [(h, c, s, d) for h, c, s, d in not_ok(doc) if host(doc, h)["status"] == "problem"]
    listeners = [s for h, c, s, _ in problems if h == "broker-3" and c == "listeners"]
    assert sorted(listeners) == sorted(f"{n}://{C.find_host('broker-3').url_host}:{p}" for n, p in (("PLAINTEXT", 9092), ("SSL", 9093), ("CONTROLLER", 9094)))
    for other in ("broker-1", "broker-2", "connect-1"):
        assert (other, "peers", "broker-3") in {(h, c, s) for h, c, s, _ in problems}, problems
    assert not [p for p in problems if p[0] != "broker-3" and p[1] != "peers"], problems


def test_an_unreachable_host_cannot_be_checked_and_the_others_still_are(secured):
    lab, stack = secured
    settings = stack.project_dir / f"Pulumi.{STACK}.yaml"
    original = settings.read_text()
    config = yaml.safe_load(original)
    brokers = config["config"]["kafka-tls:brokers"]
    brokers[2]["hostKey"] = brokers[0]["hostKey"]  # broker-3 pinned to broker-1's key: SSH refuses it
    settings.write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        doc = doctor(stack, "unreachable host")
    finally:
        settings.write_text(original)
    assert doc["exit_code"] == 2, not_ok(doc)
    assert not_ok(doc) == [("broker-3", "ssh", "", not_ok(doc)[0][3])]
    assert "host key" in not_ok(doc)[0][3]
    assert [h["status"] for h in doc["hosts"]] == ["ok", "ok", "cannot check", "ok"]
    assert len(host(doc, "broker-1")["checks"]) > 10  # checked in full, broker-3 among its peers


def test_a_peers_keystore_copied_over_a_brokers_and_a_hand_edited_worker_file_are_named(secured):
    """Two faults no service shows until it restarts: broker-1 still serves its certificate, but
    the keystore on its disk is now broker-2's; the worker's file differs from what the stack
    wrote. One run over both hosts names each, and nothing else."""
    lab, stack = secured
    keystore = etc(lab, "broker-1", "/etc/kafka/ssl/kafka.keystore.p12")
    worker = etc(lab, "connect-1", "/etc/kafka/connect-avro-distributed.properties")
    saved_keystore, saved_worker = keystore.read_bytes(), worker.read_text()
    assert "offset.flush.interval.ms=10000\n" in saved_worker
    # In place: owner and mode kept, so only the content is wrong.
    keystore.write_bytes(etc(lab, "broker-2", "/etc/kafka/ssl/kafka.keystore.p12").read_bytes())
    worker.write_text(saved_worker.replace("offset.flush.interval.ms=10000\n", "offset.flush.interval.ms=5000\n"))
    try:
        doc = doctor(stack, "peer keystore, edited worker file", "--host", "broker-1", "connect-1")
    finally:
        keystore.write_bytes(saved_keystore)
        worker.write_text(saved_worker)
    assert doc["exit_code"] == 1
    found = {(h, c): d for h, c, _, d in not_ok(doc)}
    assert set(found) == {("broker-1", "keystore"), ("connect-1", "properties")}, not_ok(doc)
    assert "holds no entry broker-1" in found["broker-1", "keystore"], found
    assert "offset.flush.interval.ms" in found["connect-1", "properties"], found


def test_with_every_fault_undone_the_lab_is_healthy_again(secured):
    lab, stack = secured
    doc = doctor(stack, "healthy again")
    assert doc["exit_code"] == 0, not_ok(doc)


def test_a_hand_edit_is_repaired_by_the_next_up_as_its_preview_says(secured):
    """The repair path: broker-2 restarted by hand on its original plaintext file (it serves no TLS
    now), and its truststore deleted; `doctor --repair` notes it in the stack's config file; the
    preview's restart_plan names it and the up keeps that word (contract.py): broker-2 alone
    restarts, on the stack's file and a truststore written again (a repair re-runs every command
    of the host); then the doctor finds all well."""
    lab, stack = secured
    path = etc(lab, "broker-2", "/etc/kafka/server.properties")
    written = path.read_text()
    spec = next(h for h in lab.hosts if h.short == "broker-2")
    path.write_text((lab.pristine_dir(spec) / "server.properties").read_text())
    truststore = etc(lab, "broker-2", "/etc/kafka/ssl/kafka.truststore.p12")
    trusted, st = truststore.read_bytes(), truststore.stat()
    truststore.unlink()
    assert lab.service("broker-2", "restart").returncode == 0
    lab.wait_quorum()
    assert served_fingerprint(lab, "broker-2", ADDRESSES["broker-2"]) is None  # plaintext only
    noticed = doctor(stack, "repair noted", "--repair")
    assert {(c, s) for h, c, s, _ in not_ok(noticed) if h == "broker-2"} >= {("files", "truststore"), ("truststore", "truststore")}
    assert noticed["exit_code"] == 1 and list(noticed["repair"]) == ["broker-2"], not_ok(noticed)
    noted = json.loads(stack.pulumi("config", "get", "kafka-tls:repair"))
    assert noted == noticed["repair"] and noted["broker-2"].startswith("properties: /etc/kafka/server.properties was edited")
    started = time.monotonic()
    _, done = up_as_previewed(lab, stack, ADDRESSES, HOSTS)
    Run.seconds["repair up"] = time.monotonic() - started
    # By host: where broker-2 stands in the order depends on who leads the quorum (roll_order.py).
    assert dict(line.split(": ", 1) for line in done) == {
        "broker-1": "nothing", "broker-2": f"restart (repair: {noted['broker-2']})", "broker-3": "nothing",
        "connect-1": "nothing"}
    assert path.read_text() == written
    issued = stack.outputs()["certificates"]["broker-2"]["sha256_fingerprint"]
    assert served_fingerprint(lab, "broker-2", ADDRESSES["broker-2"]) == issued
    # Written again with the same CA in it (keytool's salts differ: not byte for byte), owner and mode as before.
    again = truststore.stat()
    assert (again.st_uid, again.st_gid, again.st_mode) == (st.st_uid, st.st_gid, st.st_mode) and len(trusted) > 0
    repaired = doctor(stack, "repaired")
    assert repaired["exit_code"] == 0, not_ok(repaired)


def test_a_reimaged_broker_and_worker_are_named_then_brought_back_by_one_up(secured):
    """broker-3 and the worker rebuilt from their image (lab.reimage): a new SSH host key,
    nothing of kafka-tls on them, plaintext (and plain-HTTP REST) again. While the stack pins
    their old keys the doctor cannot check them and says why; with the new keys in the config the
    preview plans those two alone (re-imaged), the up keeps that word, broker-3 serves its new
    certificate, the worker answers over https again, and the doctor finds all well."""
    lab, stack = secured
    rebuilt = ("broker-3", "connect-1")
    others = {h: lab.service_pid(h) for h in HOSTS if h not in rebuilt}
    for name in rebuilt:
        lab.reimage(name)
    pinned = doctor(stack, "re-imaged, old key")  # the stack's file still pins the old keys
    for name in rebuilt:
        assert host(pinned, name)["status"] == "cannot check", not_ok(pinned)
        assert "host key" in next(k["detail"] for k in host(pinned, name)["checks"] if k["check"] == "ssh")
    started = time.monotonic()
    result, done = up_as_previewed(lab, stack, ADDRESSES, HOSTS)  # the lab's inventory: the new keys
    Run.seconds["re-imaged up"] = time.monotonic() - started
    said = dict(line.split(": ", 1) for line in done)  # by host: the order follows the quorum leader
    for name in rebuilt:
        assert said.pop(name).startswith("restart (repair: re-imaged: a new SSH host key ("), done
    assert said == {"broker-1": "nothing", "broker-2": "nothing"}
    assert {h: lab.service_pid(h) for h in others} == others, "another host restarted"
    issued = result.outputs["certificates"].value["broker-3"]["sha256_fingerprint"]
    assert served_fingerprint(lab, "broker-3", ADDRESSES["broker-3"]) == issued
    ca = ssl.create_default_context(cadata=result.outputs["ca_bundle_pem"].value)
    with urllib.request.urlopen(f"https://{C.find_host('connect-1').name}:8083/connectors", context=ca, timeout=30) as answer:
        assert answer.status == 200
    back = doctor(stack, "re-imaged, back")
    assert back["exit_code"] == 0, not_ok(back)


def test_no_message_was_lost_while_the_doctor_read_the_faults_and_the_ups_repaired_them(secured):
    """Traffic ran from the first up through every doctor run, fault, repair and the re-imaged
    broker's return: the doctor reads only, and each repair went through the gated rollout."""
    Run.traffic.stop()
    verdict = Run.traffic.verify()
    assert verdict.sent > 500, verdict
    assert verdict.lost == [] and verdict.unexplained_duplicates == [], (len(verdict.lost), verdict.duplicated, verdict.errors[:3])


def test_the_state_in_postgresql_is_read_back_locked_and_keeps_secrets_encrypted(secured):
    """The stack lives on a ``postgres://`` backend. A second `up` started while one runs is
    refused by the lock, by name; the one running ends as planned (nothing to do: the program read
    its last outputs back from PostgreSQL); no lock is left, and the state holds no secret in
    plaintext."""
    lab, stack = secured
    env, cwd = {**os.environ, **stack.env}, stack.project_dir
    up = ["pulumi", "up", "--yes", "--skip-preview", "--stack", stack.name]
    locks = "SELECT key FROM pulumi_state WHERE key LIKE '%/.pulumi/locks/%'"
    first = subprocess.Popen(up, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not Run.server.query(locks).strip() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert first.poll() is None, "the first up ended before a second could start"
        second = subprocess.run(up, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    finally:
        out, _ = first.communicate(timeout=600)
    assert first.returncode == 0, out[-3000:]
    assert second.returncode != 0 and "the stack is currently locked by 1 lock(s)" in second.stdout + second.stderr, \
        (second.stdout + second.stderr)[-2000:]
    assert Run.server.query(locks).strip() == "", "a lock was left behind"
    assert stack.outputs()["restart_plan"] == [f"{h}: nothing" for h in HOSTS]
    # Each row holds its file's bytes, base64 in a JSON document.
    rows = Run.server.query("SELECT data->>'data' FROM pulumi_state WHERE key LIKE '%/.pulumi/stacks/%'").split()
    state = "".join(base64.b64decode(row).decode() for row in rows)
    assert "kafka-rollout-final-broker-1" in state  # the stack's checkpoint is in PostgreSQL
    for key in ("keystorePassword", "truststorePassword", "sshPrivateKey"):
        secret = stack.pulumi("config", "get", f"kafka-tls:{key}").strip()
        assert len(secret) > 8
        for line in secret.splitlines()[1:-1] or [secret]:
            assert line not in state, f"{key} is in the PostgreSQL state in plaintext"
