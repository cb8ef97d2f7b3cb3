"""The PR summary (review/summary.py) from real previews: tests/unit/captures/ holds the JSON of
real `pulumi preview --json` runs of new synthetic stacks (written by tests/e2e/test_e2e_review.py
with KAFKA_TLS_RECAPTURE=1). The shapes a new stack cannot show (a renewal, a property change)
are made here from those captures by changing exactly what such a preview changes."""

from __future__ import annotations

import copy
import re
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from components.cert_info import renewal_warnings
from components.plan import ClusterPlan
from policy.rules import RULES
from review.summary import (
    HIDDEN,
    Preview,
    host_facts,
    host_ranges,
    load,
    normalize,
    parse_plan_line,
    property_changes,
    render,
    warnings_section,
)

CAPTURES = Path(__file__).parent / "captures"


def events(name: str) -> list[dict]:
    return [json.loads(line) for line in (CAPTURES / name).read_text().splitlines() if line.strip()]


def text(evs: list[dict]) -> str:
    return "\n".join(json.dumps(e) for e in evs)


def stack_outputs(evs: list[dict]) -> dict:
    return next(
        e["resOutputsEvent"]["metadata"]["new"]["outputs"]
        for e in reversed(evs)
        if e.get("resOutputsEvent", {}).get("metadata", {}).get("type") == "pulumi:pulumi:Stack"
    )


def visible(comment: str) -> list[str]:
    out, hidden = [], False
    for line in comment.splitlines():
        hidden = hidden or "<details>" in line
        if not hidden:
            out.append(line)
        hidden = hidden and "</details>" not in line
    return out


def pre_events(evs: list[dict], type_suffix: str = "", name_part: str = "") -> list[dict]:
    return [
        e["resourcePreEvent"]["metadata"]
        for e in evs
        if "resourcePreEvent" in e
        and e["resourcePreEvent"]["metadata"]["type"].endswith(type_suffix)
        and name_part in e["resourcePreEvent"]["metadata"]["urn"]
    ]


def set_plan(evs: list[dict], lines: list[str]) -> None:
    for e in evs:
        m = e.get("resOutputsEvent", {}).get("metadata", {})
        if m.get("type") == "pulumi:pulumi:Stack" and (m.get("new") or {}).get("outputs"):
            m["new"]["outputs"]["restart_plan"] = lines


@pytest.fixture
def new_stack() -> list[dict]:
    return events("preview-new-stack.jsonl")


def test_the_capture_is_what_the_summary_expects(new_stack):
    """A guard on the fixture itself: a real preview of three brokers, a worker and two clients."""
    hosts = [line.split(":")[0] for line in stack_outputs(new_stack)["restart_plan"]]
    assert hosts == ["broker-1", "broker-2", "broker-3", "connect-1"]
    assert len(pre_events(new_stack, "LocallySignedCert")) == 6
    assert any("[secret]" in json.dumps(m) for m in pre_events(new_stack, "Command"))


def test_a_new_stack_fits_on_one_screen(new_stack):
    comment = render(load(text(new_stack)))
    plan = stack_outputs(new_stack)["restart_plan"]
    rows = [line for line in comment.splitlines() if line.startswith("| ") and "---" not in line][1:]
    # The plan's hosts, in its order, grouped where action and reason repeat.
    assert [parse_plan_line(line).host for line in plan] == ["broker-1", "broker-2", "broker-3", "connect-1"]
    assert [row.split(" | ")[0].lstrip("| ") for row in rows] == ["broker-1 … broker-3", "connect-1"]
    assert rows[0].split(" | ")[2].rstrip(" |") == parse_plan_line(plan[0]).reason
    assert "- broker-1 … broker-3, connect-1: issued on up, valid 90 days" in comment
    [packs] = [e["summaryEvent"]["PolicyPacks"] for e in new_stack if "summaryEvent" in e]
    assert f"**Policies**: kafka-tls {next(iter(packs.values()))}: no violations." in comment
    assert len(visible(comment)) <= 30
    for marker in ("[secret]", "ciphertext", "PRIVATE KEY", "1b47061264138c4ac30d75fd1eb44270"):
        assert marker not in comment


def test_the_digest_says_what_it_lacks():
    comment = render(load((CAPTURES / "preview-new-stack.digest.json").read_text()))
    assert "**Rollout plan**: not in this input" in comment and "PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true" in comment
    assert "**Policies**: not in this input" in comment
    assert "- broker-1 … broker-3, connect-1: issued on up, valid 90 days" in comment  # steps are in the digest


def test_every_violation_is_listed_with_its_level():
    evs = events("preview-violations.jsonl")
    comment = render(load(text(evs)))
    violations = [e["policyEvent"] for e in evs if "policyEvent" in e]
    assert {v["policyName"] for v in violations} == {r.name for r in RULES}
    mandatory = sum(1 for v in violations if v["enforcementLevel"] == "mandatory")
    assert f"**Policies**: {mandatory} mandatory violations, {len(violations) - mandatory} advisory:" in comment
    for v in violations:
        message = v["message"].strip().split("\n", 1)[1]
        assert f"`{v['policyName']}` ({v['enforcementLevel']}): {message}" in comment
    assert "❌ failed" in comment.splitlines()[0]


def test_a_renewal_reads_as_reloads_and_re_issued_certificates(new_stack):
    """What a preview after certValidityDays 365 -> 90 shows: every LocallySignedCert replaced for
    its validity, the old one's expiry in its old outputs, no properties file changed."""
    evs = copy.deepcopy(new_stack)
    for i, m in enumerate(pre_events(evs, "LocallySignedCert")):
        m["op"], m["keys"] = "replace", ["validityPeriodHours"]
        # One up issued them, seconds apart: they still read as one line.
        m["old"] = {**m["new"], "outputs": {"validityEndTime": f"2027-05-01T12:00:{i:02d}.123456789Z"}}
    for m in pre_events(evs, "Command", "-rollout-"):
        m["op"] = "same"
    reason = "certificate re-issued: validity changed"
    set_plan(evs, [*(f"broker-{i}: reload, no restart ({reason})" for i in (1, 2, 3)), f"connect-1: restart ({reason})"])
    comment = render(load(text(evs)))
    assert f"| broker-1 … broker-3 | reload, no restart | {reason} |" in comment
    assert f"| connect-1 | restart | {reason} |" in comment
    assert (
        "- broker-1 … broker-3, connect-1: re-issued on up, valid 90 days (validity changed; the old one ran to "
        "2027-05-01)"
    ) in comment
    assert "**Properties**: no host's properties file changes." in comment


def test_a_host_certificates_reason_is_the_plans(new_stack):
    """Keys on the host (tls.keyCustody: host): on a renewal the CSR command runs again, so the
    engine also names certRequestPem, unknown in the preview. The plan knows the reason; a
    client's certificate (no plan line) keeps the engine's."""
    evs = copy.deepcopy(new_stack)
    for m in pre_events(evs, "LocallySignedCert"):
        m["op"], m["keys"] = "replace", ["certRequestPem", "validityPeriodHours"]
        m["old"] = {**m["new"], "outputs": {"validityEndTime": "2027-05-01T12:00:00Z"}}
    reason = "certificate re-issued: validity changed"
    set_plan(evs, [*(f"broker-{i}: reload, no restart ({reason})" for i in (1, 2, 3)), f"connect-1: restart ({reason})"])
    comment = render(load(text(evs)))
    assert "- broker-1 … broker-3, connect-1: re-issued on up, valid 90 days (validity changed; the old one" in comment
    assert re.search(r"^- client \w+: re-issued .*\(new key, subject or SANs, validity changed;", comment, re.M), comment


def test_a_property_change_is_diffed_per_host_and_grouped(new_stack):
    """What a preview after tls.clientAuth requested -> required shows: each final step updated,
    its old stdin the file before. Host-specific values group under placeholders."""
    evs = copy.deepcopy(new_stack)
    for m in pre_events(evs, "Command", "-rollout-final-"):
        m["op"] = "update"
        old = m["new"]["inputs"]["stdin"].replace("ssl.client.auth=required", "ssl.client.auth=requested")
        m["old"] = {**m["new"], "inputs": {**m["new"]["inputs"], "stdin": old + "num.io.threads=8\n"}}
    comment = render(load(text(evs)))
    change = "`ssl.client.auth`: `requested` → `required`; `num.io.threads` removed (was `8`)"
    assert f"- broker-1 … broker-3: {change}" in comment
    assert "- connect-1: `num.io.threads` removed (was `8`)" in comment  # the worker has no ssl.client.auth


def test_fifty_brokers_group_into_one_line_each():
    """The capture's brokers, cloned to fifty as a 50-broker preview names them."""
    evs = events("preview-new-stack.jsonl")
    raw = text(evs)
    clones = []
    for i in range(4, 51):
        clone = (
            raw.replace("broker-3", f"broker-{i}")
            .replace("127.0.0.103", f"127.0.0.{100 + i}")
            .replace("node.id=3\\n", f"node.id={i}\\n")
        )
        clones += [
            e for e in map(json.loads, clone.splitlines()) if "broker-" + str(i) in json.dumps(e.get("resourcePreEvent", {}))
        ]
    evs += clones
    config = next(e for e in evs if "preludeEvent" in e)["preludeEvent"]["config"]
    hosts = json.loads(config["kafka-tls:brokers"])
    config["kafka-tls:brokers"] = json.dumps(
        hosts
        + [
            {**hosts[2], "name": f"broker-{i}", "host": f"broker-{i}.kafka.test", "address": f"127.0.0.{100 + i}", "nodeId": i}
            for i in range(4, 51)
        ]
    )
    plan = stack_outputs(evs)["restart_plan"]
    set_plan(evs, [plan[0].replace("broker-1", f"broker-{i}") for i in range(1, 51)] + [plan[3]])
    comment = render(load(text(evs)))
    assert "| broker-1 … broker-50 | restart |" in comment
    assert "- broker-1 … broker-50, connect-1: issued on up, valid 90 days" in comment
    assert "- broker-1 … broker-50: the whole file is written (new to kafka-tls)" in comment
    assert len(visible(comment)) <= 30


def test_the_programs_expiry_warnings_group_by_host():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    expiry = (now + timedelta(days=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    hosts = [f"broker-{i}" for i in range(1, 51)]
    lines = renewal_warnings({h: {"not_after": expiry} for h in hosts}, 30, now)
    p = Preview(diagnostics=[("warning", line) for line in lines] + [("error", "preview failed")])
    [head, line] = warnings_section(p, hosts)
    assert head == "**Warnings**:"
    assert line.startswith(f"- ⚠️ broker-1 … broker-50: certificate expires in 12 days ({expiry})")


def test_host_ranges():
    assert host_ranges(["broker-1", "broker-2", "broker-3", "broker-5"]) == "broker-1 … broker-3, broker-5"
    assert host_ranges(["broker-1", "broker-2"]) == "broker-1, broker-2"
    assert host_ranges(["broker-2", "broker-1", "broker-3"]) == "broker-2, broker-1, broker-3"
    assert host_ranges(["a", "kafka-x", "broker-9", "broker-10", "broker-11"]) == "a, kafka-x, broker-9 … broker-11"
    assert host_ranges([f"h{i}x" for i in range(12)]).endswith("… (+4 more)")


def test_host_values_become_placeholders_only_whole():
    config = {
        "kafka-tls:brokers": json.dumps(
            [
                {
                    "name": "broker-1",
                    "host": "b1.example.com",
                    "address": "10.0.0.1",
                    "nodeId": 1,
                    "extraDnsNames": ["lb.example.com"],
                }
            ]
        )
    }
    facts = host_facts(config)["broker-1"]
    assert normalize("advertised.listeners", "SSL://b1.example.com:9093,EXT://lb.example.com:9094", facts) == (
        "SSL://<host>:9093,EXT://<dns>:9094"
    )
    assert normalize("listeners", "SSL://10.0.0.1:9093,X://10.0.0.10:1", facts) == "SSL://<address>:9093,X://10.0.0.10:1"
    assert normalize("controller.quorum.voters", "1@b1.example.com.au:9094", facts) == "1@b1.example.com.au:9094"
    assert normalize("node.id", "1", facts) == "<node.id>" and normalize("num.partitions", "1", facts) == "1"


def test_credentials_are_never_shown():
    old = {"sasl.jaas.config": "... password=\"a\";", "ssl.keystore.password": "${kafkatls:/f:keystore.password}", "ssl.key": "x"}
    new = {"sasl.jaas.config": "... password=\"b\";", "ssl.keystore.password": "${kafkatls:/g:keystore.password}"}
    lines = property_changes(old, new)
    assert lines[0] == f"`sasl.jaas.config` changed {HIDDEN}"
    assert lines[1] == "`ssl.keystore.password`: `${kafkatls:/f:keystore.password}` → `${kafkatls:/g:keystore.password}`"
    assert lines[2] == f"`ssl.key` removed (was {HIDDEN})"


def test_plan_lines():
    assert parse_plan_line("connect-1: nothing") == parse_plan_line("connect-1: nothing")
    line = parse_plan_line("broker-1: reload, no restart (certificate re-issued: validity changed)")
    assert (line.host, line.action, line.reason) == ("broker-1", "reload, no restart", "certificate re-issued: validity changed")
    nothing = parse_plan_line("connect-1: nothing")
    assert (nothing.action, nothing.reason) == ("nothing", "")


def test_no_input_is_an_error():
    with pytest.raises(ValueError, match="pulumi preview --json"):
        load("  \n")


def test_a_removed_host_is_named(new_stack):
    """What a preview after taking connect-1 out of the config shows: its steps deleted, and the
    plan's own line for it in the table."""
    evs = copy.deepcopy(new_stack)
    for m in pre_events(evs, "", "connect-1"):
        m["op"], m["old"], m["new"] = "delete", m["new"], None
    [removed] = ClusterPlan((), (), "", {}, {}, ("connect-1",)).restart_plan()
    set_plan(evs, [*(line for line in stack_outputs(evs)["restart_plan"] if not line.startswith("connect-1")), removed])
    comment = render(load(text(evs)))
    assert "| connect-1 | removed | original properties file put back, kafka-tls files removed; not restarted |" in comment
    assert "1 removed" in comment.split("\n")[2]
    assert "connect-1:" not in comment.split("**Certificates**")[1]


def test_a_replace_counts_once_in_the_digest():
    """The digest lists a replaced resource three times (create-replacement, replace, delete-replaced)."""
    document = json.loads((CAPTURES / "preview-new-stack.digest.json").read_text())
    certs = [s for s in document["steps"] if s["urn"].endswith("::kafka-broker-1-cert")]
    [cert] = certs
    old = {**cert["newState"], "outputs": {"validityEndTime": "2027-05-01T12:00:00Z"}}
    replaced = [
        {**cert, "op": op, "oldState": old, "replaceReasons": ["readyForRenewal"]}
        for op in ("create-replacement", "replace", "delete-replaced")
    ]
    document["steps"] = [s for s in document["steps"] if s is not cert] + replaced
    comment = render(load(json.dumps(document)))
    line = "- broker-1: re-issued on up, valid 90 days (inside its renewal window; the old one ran to 2027-05-01)"
    assert comment.count("broker-1: re-issued") == 1 and line in comment
