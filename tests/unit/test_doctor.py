"""The doctor (doctor/): its pure checks against crafted host readings (the healthy case and each
kind of problem), its one host script (shellcheck-clean, read-only by bash's own parse, and run
under a fake root with stand-in tools and strace: no file written, no password printed), its
reading of the stack through the CLI (no secret asked for in plain text, the key file 0600 and
gone afterwards), the JSON report against doctor/schema.json, and the exit codes.

No hosts and no engine: the readings are what the script prints, made from a real plan of the
unit tests' sample config and real certificates from a test CA.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from components.config import validate_config
from components.plan import fingerprint as plan_fingerprint
from components.plan import plan
from components.plan import short_digest as short
from components import ssh_read
from components.proc_net import listening_sockets
from components.properties import format_properties, parse_properties, secrets_file_values
from components.scripts import as_root
from doctor import __main__ as cli_main
from doctor.checks import (
    CHECKS,
    ExpectedFile,
    HostExpectation,
    KafkaTool,
    Status,
    TlsTarget,
    evaluate,
    exit_code,
    handshake_problem,
    repair_notes,
    unreachable,
)
from doctor.remote import BEGIN, END, ReportError, parse_report, report_script
from doctor.stack import PulumiCli, StackError, StackView, bootstrap_ports, expectations, read_stack, ssh_key_file
from tests.unit.certs import make_ca, make_csr, sign_csr
from tests.unit.sample import sample
from tests.unit.test_shellcheck import shellcheck

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "doctor" / "schema.json").read_text())
UID = 990
NOW = datetime.now(UTC)


# --- A stack and its hosts, as the last `up` left them ----------------------------------------------------


class Cluster:
    """The sample config's plan, a CA, and a certificate per host: what the stack's outputs say."""

    def __init__(self, **overrides):
        self.config = validate_config(sample(**overrides))
        self.plan = plan(self.config, self.config.server_properties, self.config.connect_properties)
        self.ca = make_ca("kafka-tls CA")
        self.leaf: dict[str, str] = {}
        for h in self.config.hosts:
            _, csr = make_csr(h.host, h.dns_names, h.ip_addresses)
            self.leaf[h.name] = sign_csr(csr, self.ca, days=365)
        from components.cert_info import not_after, sha256_fingerprint

        self.outputs = {
            "rollout_fingerprints": dict(self.plan.fingerprints),
            "certificates": {
                n: {"sha256_fingerprint": sha256_fingerprint(pem), "not_after": not_after(pem), "days_left": 364}
                for n, pem in self.leaf.items()
            },
            "ca_bundle_pem": self.ca.cert_pem,
            "ssl_bootstrap_servers": self.plan.ssl_bootstrap_servers,
        }

    def view(self) -> StackView:
        c = self.config
        return StackView("test", tuple(c.brokers), tuple(c.connect_workers), c.ssh, c.paths, c.tls, c.restart, self.outputs)

    def expectation(self, name: str) -> HostExpectation:
        return next(x for x in expectations(self.view()) if x.name == name)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def proc_net_tcp(*sockets: tuple[str, int, int]) -> str:
    """/proc/net/tcp LISTEN lines for (IPv4 address, port, uid)."""
    lines = []
    for i, (address, port, uid) in enumerate(sockets):
        hexaddr = bytes(int(p) for p in address.split("."))[::-1].hex().upper()
        lines.append(f"  {i}: {hexaddr}:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000 {uid} 0 {1000 + i} 1")
    return "\n".join(lines)


VERIFIED = "depth=0 CN = x\nverify return:1\nCONNECTED(00000003)\n---\nVerification: OK\nVerify return code: 0 (ok)\n---\n"


def keytool_listing(*pems: str) -> str:
    entries = "".join(f"Alias name: kafka-tls-ca{'' if i == 0 else f'-{i + 1}'}\nEntry type: trustedCertEntry\n\n{pem}\n"
                      for i, pem in enumerate(pems))
    return f"Keystore type: PKCS12\nKeystore provider: SUN\n\nYour keystore contains {len(pems)} entr{'y' if len(pems) == 1 else 'ies'}\n\n{entries}"


def healthy_reading(cluster: Cluster, name: str) -> dict[str, str]:
    """What the script reads on a healthy host."""
    x = cluster.expectation(name)
    text = cluster.plan.host(name).properties.text or ""
    r = {f"stat.{f.kind}": f"{f.owner} {f.mode} {'directory' if f.directory else 'regular file'}" for f in x.files}
    r.update(
        props=text,
        uid=str(UID),
        pending="no",
        capem=cluster.ca.cert_pem,
        **{"truststore.rc": "0", "truststore": keytool_listing(cluster.ca.cert_pem)},
    )
    ports = [l.port for l in parse_listeners_of(text)]
    r["listen"] = proc_net_tcp(*[("0.0.0.0", p, UID) for p in ports], ("0.0.0.0", 22, 0))
    for i, _ in enumerate(x.tls_targets):
        r[f"tls.{i}.verify"] = VERIFIED
    r["keystore.rc"] = "0"
    r["keystore"] = f"Alias name: {name}\nCertificate chain length: 2\nCertificate[1]:\n{cluster.leaf[name]}\nCertificate[2]:\n{cluster.ca.cert_pem}"
    if x.is_broker:
        r["tls.0.chain"] = VERIFIED + cluster.leaf[name] + cluster.ca.cert_pem
        r["dyn.rc"], r["dyn"] = "0", f"Dynamic configs for broker {x.kafka.node_id} are:\n"
    else:
        r["rest.endpoint"] = f"http {x.rest_address} 8083"
        body = {"sink-1": {"status": {"name": "sink-1", "connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "RUNNING"}]}}}
        r["rest.status"] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + json.dumps(body)
    return r


def parse_listeners_of(text: str):
    from components.properties import parse_listeners

    props = parse_properties(text)
    return parse_listeners(props.get("listeners") or "http://:8083")


def problems(checks, check: str | None = None):
    return [c for c in checks if c.status is Status.PROBLEM and (check is None or c.check == check)]


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    return Cluster()


# --- The checks ----------------------------------------------------------------------------------------------


def test_short_is_the_digest_the_plan_records(cluster):
    h = cluster.plan.host("broker-1")
    recorded = plan_fingerprint(h, "ca")
    assert short(h.properties.text) == recorded["text"]
    assert {k: short(v) for k, v in parse_properties(h.properties.text).items()} == recorded["properties"]


@pytest.mark.parametrize("name", ["broker-1", "broker-2", "connect-1"])
def test_a_healthy_host_passes_every_check(cluster, name):
    checks = evaluate(cluster.expectation(name), healthy_reading(cluster, name), NOW)
    assert [c for c in checks if c.status is not Status.OK] == []
    kinds = {c.check for c in checks}
    common = {"ssh", "listeners", "service user", "peers", "certificate", "names", "expiry", "chain", "properties", "files",
              "truststore", "restart pending"}
    assert kinds == common | ({"dynamic config", "keystore"} if name.startswith("broker") else {"connect"})
    assert exit_code(checks) == 0
    files = {c.subject for c in checks if c.check == "files"}
    assert {"ssl_dir", "keystore", "truststore", "secrets", "properties", "ca_bundle"} <= files


def test_the_expected_files_are_the_plans_paths_with_the_documented_modes(cluster):
    x = cluster.expectation("broker-1")
    got = {f.kind: (f.path, f.owner, f.mode) for f in x.files}
    assert got == {
        "ssl_dir": ("/etc/kafka/ssl", "root:kafka", "750"),
        "keystore": ("/etc/kafka/ssl/kafka.keystore.p12", "kafka:kafka", "600"),
        "truststore": ("/etc/kafka/ssl/kafka.truststore.p12", "kafka:kafka", "640"),
        "secrets": ("/etc/kafka/ssl/kafka-tls-secrets.properties", "kafka:kafka", "600"),
        "properties": ("/etc/kafka/server.properties", "kafka:kafka", "640"),
        "tool_config": ("/etc/kafka/ssl/kafka-tls-client.properties", "kafka:kafka", "640"),
        "ca_bundle": ("/etc/kafka/ssl/kafka-tls-ca.pem", "kafka:kafka", "640"),
    }
    assert [t.name for t in x.tls_targets] == ["broker-1", "broker-2", "broker-3"]
    assert [t.name for t in cluster.expectation("connect-1").tls_targets] == ["broker-1", "broker-2", "broker-3"]
    assert x.kafka.bootstrap == "kafka-1.example.com:9093"


def test_a_hand_edited_property_is_named_by_key_not_value(cluster):
    r = healthy_reading(cluster, "broker-1")
    r["props"] = r["props"].replace("ssl.client.auth=none", "ssl.client.auth=required") + "my.secret.thing=hunter2\n"
    found = problems(evaluate(cluster.expectation("broker-1"), r, NOW), "properties")
    assert len(found) == 1
    assert "changed ssl.client.auth" in found[0].detail and "added my.secret.thing" in found[0].detail
    assert "hunter2" not in found[0].detail and "required" not in found[0].detail
    assert "`--repair`" in found[0].fix and "`broker-1: restart (repair: ...)`" in found[0].fix


def test_a_text_change_without_a_value_change_says_so(cluster):
    r = healthy_reading(cluster, "broker-2")
    r["props"] = "# a comment added by hand\n" + r["props"]
    found = problems(evaluate(cluster.expectation("broker-2"), r, NOW), "properties")
    assert "comments, order or spacing only" in found[0].detail


def test_a_missing_properties_file(cluster):
    r = healthy_reading(cluster, "broker-1")
    del r["props"]
    r["stat.properties"] = "missing"
    checks = evaluate(cluster.expectation("broker-1"), r, NOW)
    assert {(c.check, c.subject) for c in problems(checks)} == {("properties", ""), ("files", "properties")}
    assert [c.status for c in checks if c.check == "listeners"] == [Status.UNKNOWN]


def test_a_host_the_last_up_did_not_record(cluster):
    x = replace(cluster.expectation("broker-3"), fingerprint=None)
    found = problems(evaluate(x, healthy_reading(cluster, "broker-3"), NOW), "properties")
    assert "recorded nothing" in found[0].detail and "pulumi up" in found[0].fix


def test_a_listener_not_listening_is_named_and_the_service_user_is_checked_on_the_rest(cluster):
    r = healthy_reading(cluster, "broker-2")
    r["listen"] = "\n".join(line for line in r["listen"].splitlines() if ":2385 " not in line)  # 9093
    checks = evaluate(cluster.expectation("broker-2"), r, NOW)
    found = problems(checks, "listeners")
    assert [c.subject for c in found] == ["SSL://:9093"]
    assert "nothing listens on SSL://:9093" in found[0].detail and "systemctl restart kafka" in found[0].fix
    assert [c.status for c in checks if c.check == "service user"] == [Status.OK]


def test_a_stopped_broker_is_a_problem_and_its_user_cannot_be_checked(cluster):
    r = healthy_reading(cluster, "broker-2")
    r["listen"] = proc_net_tcp(("0.0.0.0", 22, 0))
    checks = evaluate(cluster.expectation("broker-2"), r, NOW)
    assert len(problems(checks, "listeners")) == 3
    assert [c.status for c in checks if c.check == "service user"] == [Status.UNKNOWN]


def test_the_service_running_as_another_user(cluster):
    r = healthy_reading(cluster, "broker-1")
    r["listen"] = r["listen"].replace(f" {UID} 0 ", " 0 0 ")
    found = problems(evaluate(cluster.expectation("broker-1"), r, NOW), "service user")
    assert "uid 0, not by kafka" in found[0].detail


def test_no_service_account_on_the_host(cluster):
    r = healthy_reading(cluster, "broker-1")
    r["uid"] = ""
    found = problems(evaluate(cluster.expectation("broker-1"), r, NOW), "service user")
    assert "no account 'kafka'" in found[0].detail


def test_a_listener_bound_to_one_address_is_matched_by_address():
    sockets = listening_sockets(proc_net_tcp(("127.0.0.11", 9093, 1), ("127.0.0.12", 9093, 2)))
    from components.proc_net import listens as _listens

    assert [s.uid for s in _listens(sockets, "127.0.0.12", 9093)] == [2]
    assert _listens(sockets, "127.0.0.13", 9093) == []
    assert len(_listens(sockets, "", 9093)) == 2


def test_ipv6_listening_sockets_parse():
    # [::1]:9093 and a v4-mapped ::ffff:127.0.0.1:8083, as /proc/net/tcp6 prints them.
    text = (
        "  0: 00000000000000000000000001000000:2385 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 7 0 1 1\n"
        "  1: 0000000000000000FFFF00000100007F:1F93 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 8 0 2 1\n"
        "  2: 0100007F:0016 00000000:0000 01 00000000:00000000 00:00000000 00000000 0 0 3 1\n"
    )
    assert [(s.address, s.port, s.uid) for s in listening_sockets(text)] == [("::1", 9093, 7), ("127.0.0.1", 8083, 8)]


@pytest.mark.parametrize(
    ("output", "words", "fix"),
    [
        ("verify error:num=62:hostname mismatch\n", "does not verify: hostname mismatch", "certificate, names and chain"),
        ("error:8000006F:system library:BIO_connect:Connection refused\nconnect:errno=111\n", "connection refused", "down"),
        ("BIO_lookup_ex:system lib:Name or service not known\n", "does not resolve", "resolve on broker-1"),
        ("", "no TLS handshake within 10s", "firewall"),
    ],
)
def test_a_peer_that_does_not_verify_or_answer(cluster, output, words, fix):
    r = healthy_reading(cluster, "broker-1")
    r["tls.2.verify"] = output
    found = problems(evaluate(cluster.expectation("broker-1"), r, NOW), "peers")
    assert [c.subject for c in found] == ["broker-3"]
    assert words in found[0].detail and fix in found[0].fix


def test_handshake_problem_reads_openssl():
    assert handshake_problem(VERIFIED) is None
    assert handshake_problem("verify error:num=20:unable to get local issuer certificate\n") == (
        "the certificate does not verify: unable to get local issuer certificate"
    )


def test_without_the_ca_bundle_file_peers_cannot_be_checked(cluster):
    r = healthy_reading(cluster, "broker-1")
    r["stat.ca_bundle"] = "missing"
    del r["capem"]
    checks = evaluate(cluster.expectation("broker-1"), r, NOW)
    assert {c.status for c in checks if c.check == "peers"} == {Status.UNKNOWN}
    assert {(c.check, c.subject) for c in problems(checks)} == {("files", "ca_bundle"), ("truststore", "capem")}


def test_a_served_certificate_that_is_not_the_issued_one(cluster):
    other = Cluster()  # another CA, other certificates
    r = healthy_reading(cluster, "broker-1")
    r["tls.0.chain"] = VERIFIED + other.leaf["broker-1"] + other.ca.cert_pem
    checks = evaluate(cluster.expectation("broker-1"), r, NOW)
    assert {c.check for c in problems(checks)} == {"certificate", "chain"}
    assert "not the certificate the stack issued" in problems(checks, "certificate")[0].detail
    assert "not by a CA of the stack's ca_bundle_pem" in problems(checks, "chain")[0].detail


def test_a_chain_that_ends_elsewhere(cluster):
    stranger = make_ca("someone else")
    r = healthy_reading(cluster, "broker-2")
    r["tls.0.chain"] = VERIFIED + cluster.leaf["broker-2"] + stranger.cert_pem
    found = problems(evaluate(cluster.expectation("broker-2"), r, NOW), "chain")
    assert "ends in 'someone else', not in the issuing CA 'kafka-tls CA'" in found[0].detail


def test_a_certificate_that_lacks_a_name(cluster):
    _, csr = make_csr("kafka-1.example.com", ["kafka-1.example.com"], [])
    pem = sign_csr(csr, cluster.ca, days=365)
    from components.cert_info import sha256_fingerprint

    x = replace(cluster.expectation("broker-1"), certificate={"sha256_fingerprint": sha256_fingerprint(pem)})
    r = healthy_reading(cluster, "broker-1")
    r["tls.0.chain"] = VERIFIED + pem + cluster.ca.cert_pem
    r["keystore"] = r["keystore"].replace(cluster.leaf["broker-1"], pem)
    found = problems(evaluate(x, r, NOW))
    assert [c.check for c in found] == ["names"]
    assert "lacks 10.0.0.11" in found[0].detail


@pytest.mark.parametrize(("days_later", "words"), [(340, "inside its 30-day renewal window"), (400, "expired")])
def test_expiry_against_the_renewal_window(cluster, days_later, words):
    checks = evaluate(cluster.expectation("broker-3"), healthy_reading(cluster, "broker-3"), NOW + timedelta(days=days_later))
    found = problems(checks, "expiry")
    assert words in found[0].detail and "pulumi up" in found[0].fix


def test_a_file_with_the_wrong_mode_or_owner(cluster):
    r = healthy_reading(cluster, "broker-1")
    r["stat.keystore"] = "kafka:kafka 644 regular file"
    r["stat.ssl_dir"] = "root:root 755 directory"
    found = {c.subject: c for c in problems(evaluate(cluster.expectation("broker-1"), r, NOW), "files")}
    assert set(found) == {"keystore", "ssl_dir"}
    assert "mode 644 (should be 600)" in found["keystore"].detail
    assert "chmod 600 /etc/kafka/ssl/kafka.keystore.p12" in found["keystore"].fix
    assert "owner root:root (should be root:kafka)" in found["ssl_dir"].detail


def test_a_deleted_truststore(cluster):
    r = healthy_reading(cluster, "broker-2")
    r["stat.truststore"] = "missing"
    r["truststore.rc"] = "missing"
    del r["truststore"]
    found = problems(evaluate(cluster.expectation("broker-2"), r, NOW))
    assert {(c.check, c.subject) for c in found} == {("files", "truststore"), ("truststore", "truststore")}
    assert all("missing" in c.detail for c in found)


def test_a_truststore_that_trusts_another_ca_too(cluster):
    stranger = make_ca("someone else")
    r = healthy_reading(cluster, "broker-1")
    r["truststore"] = keytool_listing(cluster.ca.cert_pem, stranger.cert_pem)
    found = problems(evaluate(cluster.expectation("broker-1"), r, NOW), "truststore")
    assert "holds 2 entries; also trusts someone else" in found[0].detail


def test_a_truststore_the_secrets_file_does_not_open(cluster):
    r = healthy_reading(cluster, "broker-1")
    r["truststore.rc"], r["truststore"] = "1", "keytool error: java.io.IOException: keystore password was incorrect\n"
    found = problems(evaluate(cluster.expectation("broker-1"), r, NOW), "truststore")
    assert "does not open it" in found[0].detail


def test_a_dynamic_override_left_behind(cluster):
    r = healthy_reading(cluster, "broker-3")
    r["dyn"] = (
        "Dynamic configs for broker 3 are:\n"
        "  listener.name.ssl.ssl.keystore.location=/etc/kafka/ssl/kafka.keystore.p12 sensitive=false "
        "synonyms={DYNAMIC_BROKER_CONFIG:listener.name.ssl.ssl.keystore.location=/etc/kafka/ssl/kafka.keystore.p12}\n"
        "  log.cleaner.threads=2 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.cleaner.threads=2}\n"
    )
    found = problems(evaluate(cluster.expectation("broker-3"), r, NOW), "dynamic config")
    assert "listener.name.ssl.ssl.keystore.location" in found[0].detail and "log.cleaner" not in found[0].detail
    assert found[0].fix.endswith(
        "--entity-type brokers --entity-name 3 --alter --delete-config listener.name.ssl.ssl.keystore.location`"
    )


def test_a_broker_that_cannot_be_asked_for_its_dynamic_configs(cluster):
    r = healthy_reading(cluster, "broker-3")
    r["dyn.rc"] = "unreachable"
    del r["dyn"]
    checks = evaluate(cluster.expectation("broker-3"), r, NOW)
    assert [c.status for c in checks if c.check == "dynamic config"] == [Status.UNKNOWN]
    assert exit_code(checks) == 2


def test_a_pending_restart(cluster):
    r = healthy_reading(cluster, "broker-2")
    r["pending"] = "yes"
    found = problems(evaluate(cluster.expectation("broker-2"), r, NOW), "restart pending")
    assert "kafka-tls-restart.pending is there" in found[0].detail and "pulumi up" in found[0].fix


def test_connect_tasks_not_running_and_rest_down(cluster):
    r = healthy_reading(cluster, "connect-1")
    body = {"sink-1": {"status": {"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "FAILED"}]}}}
    r["rest.status"] = "HTTP/1.1 200 OK\r\n\r\n" + json.dumps(body)
    found = problems(evaluate(cluster.expectation("connect-1"), r, NOW), "connect")
    assert found[0].detail == "not RUNNING: sink-1 task 0: FAILED"
    r["rest.status"] = ""
    found = problems(evaluate(cluster.expectation("connect-1"), r, NOW), "connect")
    assert "http://10.0.0.21:8083" in found[0].detail and "does not answer 200" in found[0].detail


def test_a_worker_keystore_that_holds_another_certificate(cluster):
    other = Cluster()
    r = healthy_reading(cluster, "connect-1")
    r["keystore"] = f"Alias name: connect-1\n{other.leaf['connect-1']}\n{other.ca.cert_pem}"
    found = problems(evaluate(cluster.expectation("connect-1"), r, NOW))
    assert {c.check for c in found} == {"certificate", "chain"}
    assert "in /etc/kafka/ssl/kafka.keystore.p12" in found[0].detail


def test_a_broker_keystore_replaced_on_disk_is_named_before_a_restart_serves_it(cluster):
    """broker-1 still serves its certificate, but its keystore now holds broker-2's (a copied
    file): only the keystore check says so, naming what the next restart would serve."""
    r = healthy_reading(cluster, "broker-1")
    r["keystore"] = r["keystore"].replace(cluster.leaf["broker-1"], cluster.leaf["broker-2"])
    found = problems(evaluate(cluster.expectation("broker-1"), r, NOW))
    assert [c.check for c in found] == ["keystore"], found
    assert "not the certificate the stack issued" in found[0].detail and "next restart or reload would serve it" in found[0].detail
    r["keystore.rc"] = "missing"
    found = problems(evaluate(cluster.expectation("broker-1"), r, NOW), "keystore")
    # The next up writes a missing keystore again: the doctor notes it with --repair.
    assert "the file is missing" in found[0].detail and "--repair" in found[0].fix and found[0].repairable
    # A peer's keystore copied over it: keytool finds no entry for this host's alias.
    r["keystore.rc"], r["keystore"] = "1", "keytool error: java.lang.Exception: Alias <broker-1> does not exist"
    found = problems(evaluate(cluster.expectation("broker-1"), r, NOW), "keystore")
    assert "holds no entry broker-1 (another host's store?)" in found[0].detail, found


def test_exit_codes():
    ok = evaluate(Cluster().expectation("broker-1"), {}, NOW)  # nothing read at all
    assert exit_code(ok) == 1  # the properties file is "missing"
    down = unreachable("broker-2", "cannot reach", "start it")
    assert exit_code(down) == 2
    cluster = Cluster()
    healthy = evaluate(cluster.expectation("broker-1"), healthy_reading(cluster, "broker-1"), NOW)
    assert exit_code(healthy) == 0
    assert exit_code(healthy + down) == 2
    assert exit_code(healthy + down + ok) == 1


def test_repair_notes_name_what_one_restart_repairs_and_when(cluster):
    """A hand-edited file and a deleted truststore get a note each (the first such problem: the
    next up writes every file and store of the host again); a problem it does not repair (a
    file's mode) gets none, nor does a healthy host."""
    edited = healthy_reading(cluster, "broker-1")
    edited["props"] += "num.io.threads=16\n"
    deleted = healthy_reading(cluster, "broker-2")
    deleted["stat.truststore"] = deleted["truststore.rc"] = "missing"
    del deleted["truststore"]
    mode = healthy_reading(cluster, "broker-3")
    mode["stat.keystore"] = "kafka:kafka 644 regular file"
    results = {
        "broker-1": evaluate(cluster.expectation("broker-1"), edited, NOW),
        "broker-2": evaluate(cluster.expectation("broker-2"), deleted, NOW),
        "broker-3": evaluate(cluster.expectation("broker-3"), mode, NOW),
        "connect-1": evaluate(cluster.expectation("connect-1"), healthy_reading(cluster, "connect-1"), NOW),
    }
    assert problems(results["broker-3"], "files"), "the mode change is a problem"
    notes = repair_notes(results, "2026-12-03T18:00:00Z")
    assert list(notes) == ["broker-1", "broker-2"]
    assert notes["broker-2"].startswith("files: /etc/kafka/ssl/kafka.truststore.p12 is missing")
    assert notes["broker-1"].startswith("properties: /etc/kafka/server.properties was edited on the host")
    assert "added num.io.threads" in notes["broker-1"] and notes["broker-1"].endswith("(doctor, 2026-12-03T18:00:00Z)")


# --- The report --------------------------------------------------------------------------------------------


def test_the_json_report_validates_against_the_schema(cluster):
    results = {
        name: evaluate(cluster.expectation(name), healthy_reading(cluster, name), NOW) for name in ("broker-1", "connect-1")
    }
    bad = healthy_reading(cluster, "broker-2")
    bad["pending"] = "yes"
    results["broker-2"] = evaluate(cluster.expectation("broker-2"), bad, NOW)
    results["broker-3"] = unreachable("broker-3", "cannot reach it", "start sshd")
    roles = {"broker-1": "broker", "broker-2": "broker", "broker-3": "broker", "connect-1": "connect"}
    doc = cli_main.report("test", results, roles, 1.23)
    jsonschema.validate(doc, SCHEMA)
    assert doc["exit_code"] == 1 and doc["summary"]["problem"] == 1 and doc["summary"]["cannot check"] == 1
    assert [h["status"] for h in doc["hosts"]] == ["ok", "ok", "problem", "cannot check"]
    assert {k["check"] for h in doc["hosts"] for k in h["checks"]} <= set(CHECKS)
    error = cli_main.report("test", {}, {}, 0.1, error="stack 'test' has no outputs")
    jsonschema.validate(error, SCHEMA)
    assert error["exit_code"] == 2
    broken = json.loads(json.dumps(doc))
    broken["hosts"][2]["checks"][-1]["fix"] = ""  # a problem without a fix
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_the_table_names_each_problem_and_its_fix(cluster, capsys):
    r = healthy_reading(cluster, "broker-2")
    r["pending"] = "yes"
    results = {"broker-2": evaluate(cluster.expectation("broker-2"), r, NOW), "broker-3": unreachable("broker-3", "gone", "find it")}
    doc = cli_main.report("test", results, {"broker-2": "broker", "broker-3": "broker"}, 2.0)
    cli_main.print_table(doc)
    out = capsys.readouterr().out
    assert "restart pending" in out and "PROBLEM" in out and "cannot check" in out
    assert "broker-2, restart pending: /etc/kafka/ssl/kafka-tls-restart.pending is there" in out
    assert "broker-3, ssh: gone" in out and "fix: find it" in out and "exit 1" in out


class FakeCli:
    """doctor.stack.PulumiCli's part the CLI uses, over a Cluster."""

    def __init__(self, cluster: Cluster, fail: str = ""):
        self.cluster, self.fail, self.stack, self.key_files = cluster, fail, "test", []
        self.repairs: dict[str, str] = {}

    def __call__(self, stack, cwd):
        return self

    def config(self):
        if self.fail:
            raise StackError(self.fail)
        raw = sample()
        return {k: raw[k] for k in ("brokers", "connectWorkers", "ssh")}

    def outputs(self):
        return self.cluster.outputs

    def write_ssh_key(self, path: Path) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"key\n")
        os.close(fd)
        self.key_files.append((path, stat.S_IMODE(path.stat().st_mode)))

    def note_repair(self, host, note):
        self.repairs[host] = note


@pytest.mark.parametrize(("pending", "down", "code"), [(False, False, 0), (True, False, 1), (False, True, 2), (True, True, 1)])
def test_main_exit_codes_and_json(cluster, monkeypatch, capsys, pending, down, code):
    fake = FakeCli(cluster)

    def fake_run(view, hosts, key, now=None, workers=16):
        assert key.exists() and stat.S_IMODE(key.stat().st_mode) == 0o600
        out = {}
        for x in hosts:
            r = healthy_reading(cluster, x.name)
            if pending and x.name == "broker-1":
                r["pending"] = "yes"
            out[x.name] = unreachable(x.name, "cannot reach", "start sshd") if down and x.name == "broker-2" else evaluate(x, r, NOW)
        return out

    monkeypatch.setattr(cli_main, "run", fake_run)
    assert cli_main.main(["--stack", "test", "--json"], cli_factory=fake) == code
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, SCHEMA)
    assert doc["exit_code"] == code and len(doc["hosts"]) == 4
    assert fake.key_files and not fake.key_files[0][0].exists() and fake.key_files[0][1] == 0o600  # 0600, and gone
    if pending:
        fix = next(k["fix"] for h in doc["hosts"] for k in h["checks"] if k["check"] == "restart pending" and k["fix"])
        assert "pulumi up" in fix


def test_main_repair_notes_the_hosts_in_the_stack_config_and_the_report(cluster, monkeypatch, capsys):
    fake = FakeCli(cluster)

    def fake_run(view, hosts, key, now=None, workers=16):
        out = {}
        for x in hosts:
            r = healthy_reading(cluster, x.name)
            if x.name == "connect-1":
                r["props"] += "offset.flush.interval.ms=1000\n"
            out[x.name] = evaluate(x, r, NOW)
        return out

    monkeypatch.setattr(cli_main, "run", fake_run)
    assert cli_main.main(["--stack", "test", "--json", "--repair"], cli_factory=fake) == 1
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, SCHEMA)
    assert doc["repair"] == fake.repairs and list(fake.repairs) == ["connect-1"]
    assert "added offset.flush.interval.ms" in fake.repairs["connect-1"]
    assert cli_main.main(["--stack", "test"], cli_factory=FakeCli(cluster)) == 1  # without --repair: noted nowhere
    assert "Noted for repair" not in capsys.readouterr().out


def test_main_checks_only_the_hosts_asked_for_and_refuses_unknown_ones(cluster, monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(cli_main, "run", lambda view, hosts, key, **kw: seen.extend(x.name for x in hosts) or {
        x.name: evaluate(x, healthy_reading(cluster, x.name), NOW) for x in hosts})
    assert cli_main.main(["--stack", "test", "--host", "broker-2", "connect-1"], cli_factory=FakeCli(cluster)) == 0
    assert seen == ["broker-2", "connect-1"]
    capsys.readouterr()
    assert cli_main.main(["--stack", "test", "--json", "--host", "nosuch"], cli_factory=FakeCli(cluster)) == 2
    doc = json.loads(capsys.readouterr().out)
    assert "no host nosuch" in doc["error"] and doc["hosts"] == []


def test_main_says_why_a_stack_cannot_be_read(cluster, capsys):
    assert cli_main.main(["--stack", "test"], cli_factory=FakeCli(cluster, fail="`pulumi config` failed: no stack")) == 2
    assert "cannot check stack 'test'" in capsys.readouterr().out


# --- SSH ----------------------------------------------------------------------------------------------------


def login(cluster, tmp_path):
    view = cluster.view()
    return ssh_read.Login(view.ssh.user, view.ssh.port, tmp_path / "id", tmp_path / "known_hosts", view.ssh.sudo)


def test_ssh_pins_the_host_key_and_never_prompts(cluster, tmp_path):
    argv = ssh_read.ssh_argv(login(cluster, tmp_path), "broker-1", "10.0.0.11")
    joined = " ".join(argv)
    for option in ("BatchMode=yes", "StrictHostKeyChecking=yes", "IdentitiesOnly=yes", "GlobalKnownHostsFile=/dev/null",
                   "HostKeyAlias=kafka-tls-broker-1", f"UserKnownHostsFile={tmp_path / 'known_hosts'}"):
        assert option in joined
    assert argv[-3:] == ["-l", "deploy", "10.0.0.11"] and "-F /dev/null" in joined
    line = ssh_read.known_hosts_line("broker-1", cluster.config.brokers[0].host_key)
    assert line.startswith("kafka-tls-broker-1 ssh-ed25519 ") and line.endswith("\n")


@pytest.mark.parametrize(
    ("stderr", "rc", "words"),
    [
        ("Host key verification failed.\n", 255, "does not present the host key the stack pins"),
        ("ssh: connect to host 10.0.0.11 port 22: Connection refused\n", 255, "cannot reach deploy@10.0.0.11:22"),
        ("deploy@10.0.0.11: Permission denied (publickey).\n", 255, "refuses the stack's SSH key"),
        ("sudo: a password is required\n", 1, "sudo refused"),
    ],
)
def test_ssh_failures_are_said_in_words(cluster, stderr, rc, words):
    detail, fix = cli_main.ssh_failure(stderr, rc, login(cluster, Path("/nonexistent")), "broker-1", "10.0.0.11")
    assert words in detail and fix


# --- The script ---------------------------------------------------------------------------------------------


def scripts(cluster: Cluster) -> dict[str, str]:
    out = {name: report_script(cluster.expectation(name)) for name in ("broker-1", "connect-1")}
    jks = Cluster(tls={"storeType": "JKS"})
    out["broker JKS"] = report_script(jks.expectation("broker-2"))
    pem = Cluster(tls={"storeType": "PEM"})
    out["broker PEM"] = report_script(pem.expectation("broker-3"))
    out["connect PEM"] = report_script(pem.expectation("connect-1"))
    x = cluster.expectation("broker-1")
    v6 = TlsTarget("broker-9", "2001:db8::9", 9093, "2001:db8::9")
    out["broker ipv6 peer, no kafka tool"] = report_script(replace(x, tls_targets=(*x.tls_targets, v6), kafka=None))
    out["connect ipv6, no owner"] = report_script(replace(cluster.expectation("connect-1"), rest_address="2001:db8::21",
                                                          service_user=""))
    return out


@pytest.fixture(scope="module")
def host_scripts(cluster):
    return scripts(cluster)


def test_the_host_scripts_are_shellcheck_clean(host_scripts):
    for name, script in host_scripts.items():
        result = subprocess.run([shellcheck(), "--norc", "-s", "bash", "-"], input=script, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, f"shellcheck on the {name} script:\n{result.stdout}{result.stderr}"
    line = as_root(host_scripts["broker-1"], True)
    result = subprocess.run([shellcheck(), "--norc", "-s", "sh", "-"], input=line, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


def _unquoted(text: str) -> tuple[str, list[str]]:
    """The text with its quoted strings replaced by Q, and the single-quoted strings."""
    out, singles, i = [], [], 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            out.append(text[i : i + 2])
            i += 2
        elif c == "'":
            end = text.index("'", i + 1)
            singles.append(text[i + 1 : end])
            out.append("Q")
            i = end + 1
        elif c == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append("Q")
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out), singles


WRITERS = ("rm", "mv", "cp", "chmod", "chown", "chgrp", "tee", "install", "mkdir", "rmdir", "touch", "dd", "ln", "truncate",
           "systemctl", "service", "kill", "pkill", "mktemp", "shred", "sync", "crontab", "useradd", "sudo", "curl", "wget")


def read_only_problems(script: str) -> list[str]:
    """What in a script, as bash parses it (declare -f prints it back normalized), could write: an
    output redirection but to /dev/null or another descriptor, a command that writes, sed -i,
    keytool but to list, kafka-configs but to describe, openssl but to dial, a here-document (bash
    may back it with a temporary file), an inner script but the one that opens a socket."""
    parsed = subprocess.run(["bash", "-c", f"doctor_report() {{\n{script}\n}}\ndeclare -f doctor_report"],
                            capture_output=True, text=True, check=True).stdout
    bare, singles = _unquoted(parsed)
    found = [f"redirect to {t}" for t in re.findall(r"\d*(?:>>|>\||&>|>&|>)\s*([^\s;|&)]+)", bare)
             if t not in ("/dev/null", "1", "2", "3")]
    found += [f"{token} in the text" for token in (">(", "<<", "<>") if token in bare]
    found += [f"command {w}" for w in sorted(set(re.findall(r"(?<![\w./-])[a-z][\w.-]*", bare)) & set(WRITERS))]
    found += ["sed -i"] if re.search(r"\bsed\b[^|;\n]*\s-i", bare) else []
    found += [f"{flag} in the text" for flag in ("--alter", "--delete") if flag in parsed]
    for tool, allowed in (("keytool", "-list"), ("kafka-configs.sh", "--describe"), ("openssl", "s_client")):
        found += [f"{tool} without {allowed}: {line.strip()[:80]}" for line in bare.splitlines() if tool in line and allowed not in line]
    found += [f"inner script: {s[:60]}" for s in singles if "exec" in s and not s.startswith('exec 3<>"/dev/tcp/$1/$2"')]
    return found


def test_the_host_scripts_are_read_only_as_bash_parses_them(host_scripts):
    for name, script in host_scripts.items():
        assert read_only_problems(script) == [], name
        inner = [s for s in _unquoted(script)[1] if s.startswith('exec 3<>"/dev/tcp/')]
        assert inner or name == "broker ipv6 peer, no kafka tool", name  # the dynamic configs' or REST's probe


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("echo x > /etc/kafka/server.properties", "redirect to /etc/kafka/server.properties"),
        ("printf x >>/tmp/log", "redirect to /tmp/log"),
        ("rm -f /etc/kafka/ssl/kafka-tls-restart.pending", "command rm"),
        ("sed -i s/a/b/ /etc/kafka/server.properties", "sed -i"),
        ("keytool -delete -alias x -keystore /k", "keytool without -list"),
        ("cat <<EOF\nx\nEOF", "<< in the text"),
        ("bash -c 'exec 3>/tmp/x'", "inner script"),
    ],
)
def test_the_read_only_check_sees_a_write(host_scripts, line, words):
    assert any(words in p for p in read_only_problems(host_scripts["broker-1"] + line + "\n"))


def test_no_secret_or_password_in_the_script_text(cluster, host_scripts):
    for script in host_scripts.values():
        for secret in ("ks-Secret-1234", "ts-Secret-5678", "fake-ssh-key-material"):
            assert secret not in script


# --- The script, run: a fake root with stand-in tools ----------------------------------------------------

PASSWORD = r"ts=P:a\ss #!word"  # every character Java's properties escape


def _stand_ins(bin_dir: Path, chain: str) -> None:
    """openssl, keytool and kafka-configs.sh that answer as the real ones do, and write nothing."""
    (bin_dir / "openssl").write_text(
        "#!/bin/bash\n"
        'case " $* " in *" -showcerts "*) printf \'%s\\n\' "$DOCTOR_TEST_VERIFIED" "$DOCTOR_TEST_CHAIN" ;;\n'
        '  *" -quiet "*) printf \'HTTP/1.1 200 OK\\r\\n\\r\\n{}\' ;;\n'
        '  *) printf \'%s\\n\' "$DOCTOR_TEST_VERIFIED" ;; esac\n'
    )
    # keytool checks the password it got through the environment, and (a misbehaving tool) prints it.
    (bin_dir / "keytool").write_text(
        "#!/bin/bash\n"
        'if [ "${KAFKA_TLS_STOREPASS-}" != "$DOCTOR_TEST_PASSWORD" ]; then\n'
        "  echo 'keytool error: java.io.IOException: keystore password was incorrect'; exit 1\nfi\n"
        'echo "debug: opened with $KAFKA_TLS_STOREPASS"\n'
        'case " $* " in *" -alias "*) printf \'Alias name: x\\nCertificate chain length: 2\\n%s\\n\' "$DOCTOR_TEST_CHAIN" ;;\n'
        '  *) printf \'Keystore type: PKCS12\\n\\nYour keystore contains 1 entry\\n\\nAlias name: kafka-tls-ca\\n%s\\n\' '
        '"$DOCTOR_TEST_CA" ;; esac\n'
    )
    for tool in ("openssl", "keytool"):
        (bin_dir / tool).chmod(0o755)


class Listener:
    """A TCP listener on loopback (the broker's TLS port, the worker's REST port)."""

    def __init__(self, rest: bool = False):
        if rest:
            body = json.dumps({"s": {"status": {"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "RUNNING"}]}}})

            class Handler(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(body.encode())

                def log_message(self, *args):
                    pass

            self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
            self.port = self.server.server_address[1]
            threading.Thread(target=self.server.serve_forever, daemon=True).start()
        else:
            self.server = None
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
            self.sock.listen(16)
            self.port = self.sock.getsockname()[1]

    def close(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
        else:
            self.sock.close()


def fake_host(tmp_path: Path, cluster: Cluster, role: str) -> tuple[HostExpectation, dict[str, str], list]:
    """A host's files under tmp_path (owned by root, as the test runs), its expectation, the
    environment of the stand-ins, and the listeners to close."""
    root = tmp_path / "root"
    ssl = root / "etc/kafka/ssl"
    ssl.mkdir(parents=True)
    (root / "opt/kafka/bin").mkdir(parents=True)
    (root / "opt/kafka/logs").mkdir()
    ssl.chmod(0o750)
    listener = Listener(rest=role == "connect")
    name = "broker-1" if role == "broker" else "connect-1"
    props = {"listeners": f"{'SSL' if role == 'broker' else 'http'}://127.0.0.1:{listener.port}", "a.key": "x=y:z"}
    text = format_properties(props)
    paths = {
        "ssl_dir": (str(ssl), "750", True),
        "keystore": (f"{ssl}/kafka.keystore.p12", "600", False),
        "truststore": (f"{ssl}/kafka.truststore.p12", "640", False),
        "secrets": (f"{ssl}/kafka-tls-secrets.properties", "600", False),
        "properties": (f"{root}/etc/kafka/{'server' if role == 'broker' else 'connect'}.properties", "640", False),
        "ca_bundle": (f"{ssl}/kafka-tls-ca.pem", "640", False),
    }
    contents = {
        "keystore": "binary keystore",
        "truststore": "binary truststore",
        "secrets": format_properties(secrets_file_values(PASSWORD, PASSWORD), header="kafka-tls: store passwords"),
        "properties": text,
        "ca_bundle": cluster.ca.cert_pem,
    }
    for kind, (path, mode, directory) in paths.items():
        if not directory:
            Path(path).write_text(contents[kind])
            Path(path).chmod(int(mode, 8))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stand_ins(bin_dir, "")
    configs = root / "opt/kafka/bin/kafka-configs.sh"
    configs.write_text("#!/bin/bash\necho 'Dynamic configs for broker 1 are:'\n")
    configs.chmod(0o755)
    x = HostExpectation(
        name=name,
        role=role,
        dns_names=cluster.expectation(name).dns_names,
        ip_addresses=cluster.expectation(name).ip_addresses,
        files=tuple(ExpectedFile(k, p, "root:root", m, d) for k, (p, m, d) in paths.items()),
        properties_path=paths["properties"][0],
        ssl_dir=str(ssl),
        ca_pem=paths["ca_bundle"][0],
        secrets_file=paths["secrets"][0],
        pending_marker=f"{ssl}/kafka-tls-restart.pending",
        store_type="PKCS12",
        keystore=paths["keystore"][0],
        truststore=paths["truststore"][0],
        alias=name,
        service_user="root",
        restart_command="true",
        tls_targets=(TlsTarget("broker-1", "localhost", listener.port, "localhost"),),
        kafka=KafkaTool(str(root / "opt/kafka/bin"), "localhost", listener.port, f"{ssl}/kafka-tls-client.properties", 1)
        if role == "broker" else None,
        rest_address="127.0.0.1",
        fingerprint={"text": short(text), "properties": {k: short(v) for k, v in parse_properties(text).items()}},
        certificate=cluster.outputs["certificates"][name],
        ca_bundle_pem=cluster.ca.cert_pem,
    )
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "DOCTOR_TEST_VERIFIED": VERIFIED,
        "DOCTOR_TEST_CHAIN": cluster.leaf[name] + cluster.ca.cert_pem,
        "DOCTOR_TEST_PASSWORD": PASSWORD,
        "DOCTOR_TEST_CA": cluster.ca.cert_pem,
        "HOME": str(tmp_path),
    }
    return x, env, [listener]


def snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() and not path.is_symlink() else ""
        out[str(path)] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, digest)
    return out


WRITE_CALLS = re.compile(
    r"^\d+\s+(?:(open|openat|creat)\(.*\b(O_WRONLY|O_RDWR|O_CREAT|O_TRUNC)\b|"
    r"(unlink|unlinkat|rename|renameat|renameat2|mkdir|mkdirat|rmdir|chmod|fchmod|fchmodat|chown|fchown|lchown|fchownat|"
    r"truncate|ftruncate|link|linkat|symlink|symlinkat|utimensat|mknod|mknodat)\()"
)


def run_traced(script: str, env: dict[str, str], trace: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run a script under strace -f; returns what it did and every call that wrote (changed) a file."""
    done = subprocess.run(
        [strace(), "-f", "-qq", "-o", str(trace), "-e",
         "trace=open,openat,creat,unlink,unlinkat,rename,renameat,renameat2,mkdir,mkdirat,rmdir,chmod,fchmod,fchmodat,"
         "chown,fchown,lchown,fchownat,truncate,ftruncate,link,linkat,symlink,symlinkat,utimensat,mknod,mknodat",
         "bash", "-c", script],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    writes = [line for line in trace.read_text().splitlines() if WRITE_CALLS.search(line)
              and not re.search(r'"/dev/(null|tty)"', line) and "= -1 " not in line]
    return done, writes


def strace() -> str:
    path = shutil.which("strace")
    if path is None:
        pytest.fail("strace is not installed, and the doctor's script must be seen to write nothing: "
                    "apt-get install -y strace (or `make tools`)", pytrace=False)
    return path


needs_strace = pytest.mark.usefixtures("strace_installed")


@pytest.fixture
def strace_installed() -> str:
    return strace()


@needs_strace
@pytest.mark.parametrize("role", ["broker", "connect"])
def test_the_script_run_under_a_fake_root_writes_nothing_and_reports_a_healthy_host(cluster, tmp_path, role):
    x, env, listeners = fake_host(tmp_path, cluster, role)
    before = snapshot(tmp_path / "root")
    try:
        done, writes = run_traced(report_script(x), env, tmp_path / "strace.log")
    finally:
        for listener in listeners:
            listener.close()
    assert done.returncode == 0, done.stderr
    assert writes == [], "\n".join(writes[:20])
    assert snapshot(tmp_path / "root") == before
    # The password reached keytool through the environment and never the output.
    assert PASSWORD not in done.stdout and "ts=P" not in done.stdout
    reading = parse_report(done.stdout)
    assert "(withheld)" in reading["truststore"]
    checks = evaluate(x, reading, NOW)
    assert [(c.check, c.subject, c.detail) for c in checks if c.status is not Status.OK] == []
    kinds = {c.check for c in checks}
    assert {"listeners", "service user", "peers", "truststore", "files", "properties"} <= kinds
    assert ("dynamic config" in kinds) == (role == "broker") and ("connect" in kinds) == (role == "connect")


@needs_strace
def test_the_traced_run_sees_a_write(cluster, tmp_path):
    x, env, listeners = fake_host(tmp_path, cluster, "broker")
    try:
        _, writes = run_traced(report_script(x) + f"touch {x.pending_marker}\n", env, tmp_path / "strace.log")
    finally:
        for listener in listeners:
            listener.close()
    assert any("kafka-tls-restart.pending" in w for w in writes), writes


def test_the_report_parser_wants_a_whole_report():
    assert parse_report(f"motd\n{BEGIN}\npending {b64('no')}\nprops \n{END}\n") == {"pending": "no", "props": ""}
    with pytest.raises(ReportError, match="no report"):
        parse_report("sudo: a password is required\n")
    with pytest.raises(ReportError, match="cut short"):
        parse_report(f"{BEGIN}\npending {b64('no')}\n")
    with pytest.raises(ReportError, match="not base64"):
        parse_report(f"{BEGIN}\npending n*o\n{END}\n")


# --- Reading the stack through the CLI ----------------------------------------------------------------------

FAKE_PULUMI = """#!/bin/bash
printf '%s\\n' "$*" >> "$DOCTOR_TEST_ARGV"
case "$1 $2" in
  "config --json") cat "$DOCTOR_TEST_DIR/config.json" ;;
  "stack output")
    if [ "$3" = rollout_fingerprints ]; then cat "$DOCTOR_TEST_DIR/fingerprints.json"; else cat "$DOCTOR_TEST_DIR/outputs.json"; fi ;;
  "config get") printf '%s\\n' "-----BEGIN OPENSSH PRIVATE KEY-----" "secret-key-body" "-----END OPENSSH PRIVATE KEY-----" ;;
  "config set") ;;
  *) echo "unexpected: $*" >&2; exit 3 ;;
esac
"""


def fake_pulumi(tmp_path: Path, cluster: Cluster) -> PulumiCli:
    raw = sample()
    config = {f"kafka-tls:{k}": {"value": json.dumps(raw[k]), "objectValue": raw[k], "secret": False}
              for k in ("brokers", "connectWorkers", "ssh")}
    config["kafka-tls:sshPrivateKey"] = {"secret": True}
    config["kafka-tls:keystorePassword"] = {"secret": True}
    config["kafka-tls:tls"] = {"value": json.dumps({"storeType": "JKS"}), "objectValue": {"storeType": "JKS"}, "secret": False}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "outputs.json").write_text(json.dumps({**cluster.outputs, "rollout_password_digest": "[secret]",
                                                       "client_identities": "[secret]"}))
    (tmp_path / "fingerprints.json").write_text(json.dumps(cluster.outputs["rollout_fingerprints"]))
    exe = tmp_path / "pulumi"
    exe.write_text(FAKE_PULUMI)
    exe.chmod(0o755)
    env = {"DOCTOR_TEST_ARGV": str(tmp_path / "argv"), "DOCTOR_TEST_DIR": str(tmp_path), "PATH": f"{tmp_path}:/usr/bin:/bin"}
    return PulumiCli("s", str(tmp_path), env)


def test_the_stack_is_read_through_the_cli_without_secrets(cluster, tmp_path):
    cli = fake_pulumi(tmp_path, cluster)
    view = read_stack(cli)
    assert [h.name for h in view.hosts] == ["broker-1", "broker-2", "broker-3", "connect-1"]
    assert view.ssh.user == "deploy" and view.tls.store_type.value == "JKS" and view.paths.owner == "kafka:kafka"
    assert set(view.outputs) == {"rollout_fingerprints", "certificates", "ca_bundle_pem", "ssl_bootstrap_servers"}
    with ssh_key_file(cli) as key:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(key.parent.stat().st_mode) == 0o700
        assert key.read_text().splitlines()[1] == "secret-key-body"
    assert not key.exists() and not key.parent.exists()
    cli.note_repair("broker-2", "properties: edited (doctor, now)")
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv == [
        "config --json --stack s --non-interactive",
        "stack output --json --stack s --non-interactive",
        "config get kafka-tls:sshPrivateKey --stack s --non-interactive",
        "config set --path kafka-tls:repair.broker-2 properties: edited (doctor, now) --stack s --non-interactive",
    ]
    assert all("--show-secrets" not in a for a in argv)  # the fingerprints are a plain output here


def test_a_stack_without_outputs_or_a_failing_cli_is_a_stack_error(cluster, tmp_path):
    cli = fake_pulumi(tmp_path, cluster)
    (tmp_path / "outputs.json").write_text("{}")
    with pytest.raises(StackError, match="no outputs of a kafka-tls `pulumi up` yet"):
        read_stack(cli)
    with pytest.raises(StackError, match="unexpected"):
        cli.run("destroy")
    for asking in (("stack", "output", "--show-secrets"), ("stack", "output", "client_identities", "--show-secrets"),
                   ("config", "--show-secrets"), ("stack", "export", "--show-secrets")):
        with pytest.raises(AssertionError):
            cli.argv(*asking)


def test_fingerprints_exported_as_a_secret_are_read_alone_by_name(cluster, tmp_path):
    """A stack may export rollout_fingerprints (digests and paths, nothing secret) as a secret: that
    one output is read by name in plain, and no other."""
    cli = fake_pulumi(tmp_path, cluster)
    (tmp_path / "outputs.json").write_text(json.dumps({**cluster.outputs, "rollout_fingerprints": "[secret]",
                                                       "rollout_password_digest": "[secret]"}))
    view = read_stack(cli)
    assert view.outputs["rollout_fingerprints"] == cluster.outputs["rollout_fingerprints"]
    argv = (tmp_path / "argv").read_text().splitlines()
    assert [a for a in argv if "--show-secrets" in a] == [
        "stack output rollout_fingerprints --json --show-secrets --stack s --non-interactive"
    ]


def test_bootstrap_ports():
    assert bootstrap_ports("a.example.com:9093,b.example.com:9443") == {"a.example.com": 9093, "b.example.com": 9443}


# --- The script, run with the real tools: keytool, openssl s_client against s_server ------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def real_host(tmp_path: Path, role: str, store_type: str) -> tuple[HostExpectation, list]:
    """Stores built by kafka-tls's own host scripts (truststore_script, stack_keystore_script) with
    real keytool and openssl, a secrets file as the stack writes it, and a TLS listener
    (openssl s_server) or a REST API serving on loopback."""
    from components.config import Paths, StoreType
    from components.properties import StoreLocations
    from components.scripts import pem_key_path, stack_keystore_script, truststore_script

    ca = make_ca("kafka-tls CA")
    key_pem, csr = make_csr("localhost", ["localhost"], ["127.0.0.1"])
    leaf = sign_csr(csr, ca, days=365)
    loc = StoreLocations.for_host(Paths(ssl_dir=str(tmp_path / "ssl")), StoreType(store_type))
    for script, stdin in ((stack_keystore_script("h", loc, ""), f"{PASSWORD}\n{key_pem}{leaf}{ca.cert_pem}"),
                          (truststore_script(loc, ""), f"{PASSWORD}\n{ca.cert_pem}")):
        subprocess.run(["bash", "-c", script], input=stdin, text=True, check=True, capture_output=True, timeout=120)
    Path(loc.secrets_file).write_text(format_properties(secrets_file_values(PASSWORD, PASSWORD), header="kafka-tls: store passwords"))
    Path(loc.secrets_file).chmod(0o600)
    port, closers = _free_port(), []
    if role == "broker":
        (tmp_path / "leaf.pem").write_text(leaf)
        (tmp_path / "leaf.key").write_text(key_pem)
        (tmp_path / "ca.pem").write_text(ca.cert_pem)
        server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(tmp_path / "leaf.pem"),
                                   "-key", str(tmp_path / "leaf.key"), "-cert_chain", str(tmp_path / "ca.pem"), "-quiet"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        closers.append(server.kill)
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            threading.Event().wait(0.05)
    else:
        rest = Listener(rest=True)
        port = rest.port
        closers.append(rest.close)
    props = format_properties({"listeners": f"{'SSL' if role == 'broker' else 'http'}://127.0.0.1:{port}"})
    (tmp_path / "service.properties").write_text(props)
    files = {"ssl_dir": (str(tmp_path / "ssl"), "750", True), "keystore": (loc.keystore, "600", False),
             "truststore": (loc.truststore, "640", False), "secrets": (loc.secrets_file, "600", False),
             "ca_bundle": (loc.ca_pem, "640", False)}
    if store_type == "PEM":
        files["truststore"] = (loc.truststore, "640", False)
    Path(files["ssl_dir"][0]).chmod(0o750)
    from components.cert_info import not_after, sha256_fingerprint

    x = HostExpectation(
        name="h", role=role, dns_names=("localhost",), ip_addresses=("127.0.0.1",),
        files=tuple(ExpectedFile(k, p, "root:root", m, d) for k, (p, m, d) in files.items()),
        properties_path=str(tmp_path / "service.properties"), ssl_dir=str(tmp_path / "ssl"), ca_pem=loc.ca_pem,
        secrets_file=loc.secrets_file, pending_marker=str(tmp_path / "ssl/kafka-tls-restart.pending"),
        store_type=store_type, keystore=loc.keystore, truststore=loc.truststore, alias="h", service_user="root",
        restart_command="true", tls_targets=(TlsTarget("h", "localhost", port, "localhost"),) if role == "broker" else (),
        rest_address="127.0.0.1",
        fingerprint={"text": short(props), "properties": {k: short(v) for k, v in parse_properties(props).items()}},
        certificate={"sha256_fingerprint": sha256_fingerprint(leaf), "not_after": not_after(leaf)},
        ca_bundle_pem=ca.cert_pem,
    )  # fmt: skip
    assert not os.path.exists(pem_key_path(loc)) or store_type == "PEM"
    return x, closers


@pytest.mark.parametrize(("role", "store_type"), [("broker", "PKCS12"), ("connect", "PKCS12"), ("connect", "JKS"), ("connect", "PEM")])
def test_the_script_with_the_real_tools_reads_a_healthy_host(tmp_path, role, store_type):
    x, closers = real_host(tmp_path, role, store_type)
    try:
        done = subprocess.run(["bash", "-c", report_script(x)], capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
    finally:
        for close in closers:
            close()
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout
    reading = parse_report(done.stdout)
    assert "PRIVATE KEY" not in json.dumps(reading)  # a PEM keystore's key is never printed
    checks = evaluate(x, reading, NOW)
    assert [(c.check, c.subject, c.detail) for c in checks if c.status is not Status.OK] == []
    served = {c.check for c in checks}
    assert {"certificate", "names", "expiry", "chain", "truststore"} <= served
    assert ("peers" in served) == (role == "broker") and ("connect" in served) == (role == "connect")
