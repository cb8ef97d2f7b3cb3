"""Review in pull requests, through the real CLI: the policy pack (policy/) and the summary
(review/) on previews of new stacks of synthetic hosts (labstack/synthetic.py). A preview of a new
stack touches no host, so none of this needs the lab.

Previews of a changed stack need a stack an `up` deployed, so hosts: the lab's e2e modules take
each preview they hold an `up` to through the summary too (tests/e2e/contract.py). The unit tests
render the captured shapes (tests/unit/captures/; KAFKA_TLS_RECAPTURE=1 rewrites them).
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from labstack.stack import LAB_PASSPHRASE, REPO, toolchain_env
from labstack.synthetic import PASSWORDS, SyntheticStack, brokers, workers
from policy.rules import RULES

pytestmark = pytest.mark.e2e

POLICY = REPO / "policy"
CAPTURES = REPO / "tests" / "unit" / "captures"
MANDATORY = [r.name for r in RULES if r.mandatory]
PACK_VERSION = yaml.safe_load((POLICY / "PulumiPolicy.yaml").read_text())["version"]


def platform_ca(common_name: str = "platform CA") -> tuple[str, str, str]:
    """(cert PEM, key PEM, SHA-256 fingerprint) of a CA the test makes."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem, cert.fingerprint(hashes.SHA256()).hex(":").upper()


class Run:
    """One preview: its stack, the CLI's exit code, its streamed JSON and the policy pack's dump."""

    def __init__(self, stack: SyntheticStack, result: subprocess.CompletedProcess, dump: Path):
        self.stack, self.returncode, self.stdout, self.stderr = stack, result.returncode, result.stdout, result.stderr
        self.dump = [json.loads(line) for line in dump.read_text().splitlines()] if dump.exists() else []
        self.events = [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def violations(self) -> list[dict]:
        return [e["policyEvent"] for e in self.events if "policyEvent" in e]

    def summary(self) -> str:
        """The comment, as CI makes it: `python -m review.summary < preview.jsonl`."""
        return subprocess.run(
            [sys.executable, "-m", "review.summary"], input=self.stdout, text=True, cwd=REPO, capture_output=True, check=True
        ).stdout


def preview(root: Path, name: str, config: dict, secrets: dict | None = None, pack_config: dict | None = None) -> Run:
    assert (POLICY / ".venv" / "bin" / "python").exists(), "the policy pack's venv is missing: run `make venv`"
    stack = SyntheticStack(root / name, name, config, secrets)
    dump = root / f"{name}.policy-dump.jsonl"
    args = ["--policy-pack", str(POLICY)]
    if pack_config is not None:
        (root / f"{name}.pack.json").write_text(json.dumps(pack_config))
        args += ["--policy-pack-config", str(root / f"{name}.pack.json")]
    return Run(stack, stack.preview_json(*args, env={"KAFKA_TLS_POLICY_DUMP": str(dump)}), dump)


VIOLATING = {
    "brokers": brokers(3),
    "tls": {"listeners": "PLAINTEXT+SSL", "clientAuth": "none", "keyAlgorithm": "RSA", "rsaBits": 2048, "certValidityDays": 825},
    "ca": {"keyAlgorithm": "RSA", "rsaBits": 2048},
    "clients": [{"name": "orders", "validityDays": 365}],
}
"""'prod' (production by the pack's default list) breaking every rule, under the pack's defaults."""

BIG = {
    "brokers": brokers(50),
    "tls": {"certValidityDays": 90},
    "clients": [{"name": "orders", "validityDays": 30, "earlyRenewalDays": 10}],
}
"""Fifty new brokers, previewed with every rule advisory and no stack production."""


def passing_config(cert_pem: str) -> dict:
    """'prod-eu' (production by the pattern prod-*) as the platform wants it, with a Connect worker."""
    return {
        "brokers": brokers(3),
        "connectWorkers": workers(1),
        "tls": {"listeners": "SSL", "clientAuth": "required", "certValidityDays": 90},
        "caImport": {"certPem": cert_pem},
        "clients": [
            {"name": "orders", "validityDays": 30, "earlyRenewalDays": 10},
            {"name": "billing", "validityDays": 7, "earlyRenewalDays": 2},
        ],
    }


@pytest.fixture(scope="module")
def ca() -> tuple[str, str, str]:
    return platform_ca()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, ca) -> dict[str, Any]:
    """Every engine run of this module at once (they share nothing, and the CLI's processes wait
    on each other often enough that two cores serve them better together than one by one)."""
    cert_pem, key_pem, fingerprint = ca
    root = tmp_path_factory.mktemp("review")
    passing_pack = {
        "kafka-tls-imported-ca": {"caFingerprints": [fingerprint]},
        "kafka-tls-restart-budget": {"maxBrokerRestarts": 3},
    }
    big_pack = {"all": "advisory", "kafka-tls-no-plaintext-listener": {"productionStacks": []}}
    jobs = {
        "violating": lambda: preview(root, "prod", VIOLATING),
        "passing": lambda: preview(root, "prod-eu", passing_config(cert_pem), {"caImport.keyPem": key_pem}, passing_pack),
        "big": lambda: preview(root, "prod-big", BIG, pack_config=big_pack),
        "read_back": lambda: read_back(root / "read-back"),
    }
    toolchain_env()  # once, before the threads (it may run toolchain/build.sh)
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        done = {name: f.result() for name, f in futures.items()}
    if os.environ.get("KAFKA_TLS_RECAPTURE"):
        capture(done["violating"].events, "preview-violations.jsonl")
        capture(done["passing"].events, "preview-new-stack.jsonl")
        # The same preview as the digest `pulumi preview --json` prints without streaming.
        digest = done["passing"].stack.preview_json(
            "--policy-pack", str(POLICY), env={"PULUMI_ENABLE_STREAMING_JSON_PREVIEW": "false"}
        )
        document = json.loads(digest.stdout)
        document["steps"] = [trimmed(step, ("oldState", "newState")) for step in document.get("steps") or []]
        (CAPTURES / "preview-new-stack.digest.json").write_text(json.dumps(document, sort_keys=True) + "\n")
    return done


@pytest.fixture(scope="module")
def violating(runs) -> Run:
    return runs["violating"]


@pytest.fixture(scope="module")
def passing(runs) -> Run:
    return runs["passing"]


def trimmed(step: dict, states: tuple[str, str]) -> dict:
    """Without what the summary never reads: providers, parents, source positions, the commands'
    scripts, and the stdin of all but the final rollout steps (the summary diffs only what the
    service reads after the up)."""
    final = "-rollout-final-" in (step.get("urn") or "")
    for key in ("provider", "logical"):
        step.pop(key, None)
    for state in states:
        if step.get(state):
            step[state] = {k: v for k, v in step[state].items() if k in ("type", "urn", "inputs", "outputs")}
            inputs = step[state].get("inputs") or {}
            for key in ("create", "update", "delete", *(() if final else ("stdin",))):
                inputs.pop(key, None)
    return step


def capture(events: list[dict], name: str) -> None:
    """The events the summary reads, trimmed, for the unit tests (tests/unit/captures/)."""
    kept = []
    for e in events:
        if "diagnosticEvent" in e and e["diagnosticEvent"].get("severity") == "debug":
            continue
        if (
            not {"preludeEvent", "resourcePreEvent", "resOutputsEvent", "diagnosticEvent", "policyEvent", "summaryEvent"}
            & e.keys()
        ):
            continue
        if "resOutputsEvent" in e and e["resOutputsEvent"]["metadata"]["type"] != "pulumi:pulumi:Stack":
            continue
        if "resourcePreEvent" in e:
            trimmed(e["resourcePreEvent"]["metadata"], ("old", "new"))
        kept.append(json.dumps(e, sort_keys=True))
    CAPTURES.mkdir(exist_ok=True)
    (CAPTURES / name).write_text("\n".join(kept) + "\n")


def stack_outputs(run: Run) -> dict:
    for e in reversed(run.events):
        m = (e.get("resOutputsEvent") or {}).get("metadata") or {}
        if m.get("type") == "pulumi:pulumi:Stack" and (m.get("new") or {}).get("outputs"):
            return m["new"]["outputs"]
    raise AssertionError("the preview's events carry no stack outputs")


def secrets_of(*runs: Run, ca_key: str) -> list[str]:
    """Every secret the stacks hold, as lines a leak would contain."""
    out = list(PASSWORDS.values())
    for run in runs:
        out += [line for line in run.stack.secrets["sshPrivateKey"].splitlines() if "PRIVATE KEY" not in line]
    out += [line for line in ca_key.splitlines() if "PRIVATE KEY" not in line]
    return [s for s in out if len(s) > 8]


# --- the policy pack --------------------------------------------------------------------------------


def test_policy_pack_fails_a_stack_that_breaks_every_rule_naming_each_fix(violating):
    run = violating
    assert run.returncode != 0, run.stderr[-2000:]
    by_policy: dict[str, list[str]] = {}
    for v in run.violations:
        by_policy.setdefault(v["policyName"], []).append(v["message"])
        assert v["enforcementLevel"] == ("mandatory" if v["policyName"] in MANDATORY else "advisory"), v
    assert sorted(by_policy) == sorted(r.name for r in RULES), by_policy
    text = {name: "\n".join(messages) for name, messages in by_policy.items()}
    # Each message says which setting to change, and to what.
    assert "Set `kafka-tls:tls.listeners` to `SSL`" in text["kafka-tls-no-plaintext-listener"]
    assert "Set `kafka-tls:tls.clientAuth` to `required`" in text["kafka-tls-client-auth-required"]
    strength = text["kafka-tls-key-strength"]
    for fix in ("`kafka-tls:tls.keyAlgorithm`", "`kafka-tls:ca.keyAlgorithm`", "`kafka-tls:clients[0].keyAlgorithm`"):
        assert fix in strength, strength
    assert strength.count("RSA 2048 is below the floor of 3072 bits") == 3
    validity = text["kafka-tls-certificate-validity"]
    assert "Set `kafka-tls:tls.certValidityDays` to 366 or less" in validity
    assert "Set `kafka-tls:clients[0].validityDays` to 90 or less" in validity
    assert "kafka-tls:caImport.certPem" in text["kafka-tls-imported-ca"]
    assert "restarts 3 of 3 brokers" in text["kafka-tls-restart-budget"]
    # The CLI's own words for a mandatory violation.
    summary = next(e["summaryEvent"] for e in run.events if "summaryEvent" in e)
    assert summary["result"] == "failed"


def test_policy_pack_passes_a_compliant_stack(passing):
    run = passing
    assert run.returncode == 0, (run.violations, run.stderr[-2000:])
    assert run.violations == []
    summary = next(e["summaryEvent"] for e in run.events if "summaryEvent" in e)
    assert list(summary["PolicyPacks"].values()) == [PACK_VERSION]
    # The pack judged this stack, with its config: the allowlisted CA and the settings.
    views = {d["policy"]: d["view"] for d in run.dump}
    assert sorted(views) == sorted(r.name for r in RULES)
    settings = views["kafka-tls-imported-ca"]
    assert settings["ca"]["imported"] is True and settings["tls"]["clientAuth"] == "required"
    assert views["kafka-tls-restart-budget"]["rollout"]["brokersRestarted"] == 3


def test_no_secret_reaches_the_policy(violating, passing, ca):
    """What the rules saw (the component's inputs and its rollout output) holds no secret: not
    the store passwords, the SSH key, the imported CA's key or anything of a client key."""
    seen = json.dumps([violating.dump, passing.dump])
    assert len(violating.dump) == len(passing.dump) == len(RULES)
    for secret in secrets_of(violating, passing, ca_key=ca[1]):
        assert secret not in seen
    assert "PRIVATE KEY" not in seen and "ciphertext" not in seen
    # Nor does the preview's JSON, which CI keeps as an artifact.
    for run in (violating, passing):
        for secret in secrets_of(run, ca_key=ca[1]):
            assert secret not in run.stdout


def one_rule_broken(cert_pem: str, rule: str) -> tuple[dict, bool]:
    """The passing stack with one change that breaks ``rule`` alone; whether it keeps the
    imported CA (its key goes in as a secret then)."""
    config = passing_config(cert_pem)
    if rule == "kafka-tls-no-plaintext-listener":
        config["tls"]["listeners"] = "PLAINTEXT+SSL"
    elif rule == "kafka-tls-client-auth-required":
        config["tls"]["clientAuth"] = "requested"
    elif rule == "kafka-tls-key-strength":
        config["tls"].update(keyAlgorithm="RSA", rsaBits=2048)
    elif rule == "kafka-tls-certificate-validity":
        config["tls"]["certValidityDays"] = 825
    elif rule == "kafka-tls-imported-ca":
        del config["caImport"]
        return config, False
    elif rule != "kafka-tls-restart-budget":  # that one is broken by the pack's budget
        raise AssertionError(f"no breaking change written for {rule}")
    return config, True


@pytest.fixture(scope="module")
def single_breaks(tmp_path_factory, ca) -> dict[str, Run]:
    """Per rule, a preview of the passing stack with that rule alone broken (in parallel)."""
    cert_pem, key_pem, fingerprint = ca
    root = tmp_path_factory.mktemp("one-rule")

    def run(rule: str) -> Run:
        config, imported = one_rule_broken(cert_pem, rule)
        budget = 2 if rule == "kafka-tls-restart-budget" else 3
        pack = {"kafka-tls-imported-ca": {"caFingerprints": [fingerprint]},
                "kafka-tls-restart-budget": {"maxBrokerRestarts": budget}}
        return preview(root, f"prod-{rule.removeprefix('kafka-tls-')}", config,
                       {"caImport.keyPem": key_pem} if imported else None, pack)

    toolchain_env()
    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip([r.name for r in RULES], pool.map(run, [r.name for r in RULES])))


@pytest.mark.parametrize("rule", [r.name for r in RULES])
def test_each_rule_alone_fails_the_stack_that_breaks_it(single_breaks, rule):
    """One stack per rule, the passing one with that rule alone broken: the preview names that
    rule and no other; a mandatory rule fails the preview, the advisory one does not."""
    run = single_breaks[rule]
    assert sorted({v["policyName"] for v in run.violations}) == [rule], (run.violations, run.stderr[-1500:])
    assert all("kafka-tls:" in v["message"] or "restarts" in v["message"] for v in run.violations), run.violations
    if rule in MANDATORY:
        assert run.returncode != 0
    else:
        assert run.returncode == 0, run.stderr[-1500:]


# --- the summary ------------------------------------------------------------------------------------


def visible(comment: str) -> list[str]:
    """The lines a reader sees before opening a <details> block."""
    out, hidden = [], False
    for line in comment.splitlines():
        if "<details>" in line:
            hidden = True
        if not hidden:
            out.append(line)
        if "</details>" in line:
            hidden = False
    return out


def test_summary_of_a_new_stack_with_a_worker(passing, ca):
    comment = passing.summary()
    plan = stack_outputs(passing)["restart_plan"]
    assert [line.split(":")[0] for line in plan] == ["broker-1", "broker-2", "broker-3", "connect-1"]
    assert comment.startswith("### kafka-tls preview of `prod-eu`: ✅ succeeded")
    assert "| broker-1 … broker-3 | restart | new host: first TLS rollout" in comment
    assert "| connect-1 | restart | new host" in comment
    assert f"**Policies**: kafka-tls {PACK_VERSION}: no violations." in comment
    assert "- broker-1 … broker-3, connect-1: issued on up, valid 90 days" in comment
    assert "- client orders: issued on up, valid 30 days" in comment and "- client billing: issued on up, valid 7 days" in comment
    assert "- connect-1: the whole file is written (new to kafka-tls)" in comment
    assert "ssl.client.auth=required" in comment and "advertised.listeners=SSL://<host>:9093" in comment
    for secret in secrets_of(passing, ca_key=ca[1]):
        assert secret not in comment
    assert len(visible(comment)) <= 30, comment


def test_summary_names_each_violation_and_the_programs_warnings(violating):
    comment = violating.summary()
    assert comment.startswith("### kafka-tls preview of `prod`: ❌ failed")
    # One line per violation: key strength has three (hosts, CA, client), validity two (hosts, client).
    assert "**Policies**: 8 mandatory violations, 1 advisory:" in comment
    for rule in RULES:
        mark = "❌" if rule.mandatory else "⚠️"
        assert f"- {mark} `{rule.name}` ({'mandatory' if rule.mandatory else 'advisory'}): " in comment, rule.name
    # The program's own warning (clients listed while brokers ask for no certificate).
    assert "**Warnings**:\n- ⚠️ kafka-tls:clients: tls.clientAuth is none" in comment
    assert "preview failed" not in comment


def test_summary_stays_readable_at_fifty_brokers(runs):
    """Fifty new brokers; the pack config makes every rule advisory and no stack production, so the
    preview passes with the remaining violations listed as advisories."""
    run = runs["big"]
    assert run.returncode == 0, run.stderr[-2000:]
    assert {v["enforcementLevel"] for v in run.violations} == {"advisory"}
    assert {v["policyName"] for v in run.violations} == {
        "kafka-tls-client-auth-required",
        "kafka-tls-imported-ca",
        "kafka-tls-restart-budget",
    }
    comment = run.summary()
    lines = visible(comment)
    assert comment.startswith("### kafka-tls preview of `prod-big`: ✅ succeeded")
    assert "| broker-1 … broker-50 | restart | new host: first TLS rollout" in comment
    assert "- broker-1 … broker-50: issued on up, valid 90 days" in comment
    assert "- client orders: issued on up, valid 30 days" in comment
    assert "- broker-1 … broker-50: the whole file is written" in comment
    assert "restarts 50 of 50 brokers (broker-1, broker-2, broker-3 and 47 more)" in comment
    assert len(lines) <= 30 and max(len(line) for line in lines) < 700, comment


# --- rollout_fingerprints: quiet, and still read back -----------------------------------------------


def test_rollout_fingerprints_is_a_secret_output(passing):
    outputs = stack_outputs(passing)
    assert outputs["rollout_fingerprints"].get("ciphertext") == "[secret]", outputs["rollout_fingerprints"]
    assert isinstance(outputs["restart_plan"], list)  # the plan stays plain


READ_BACK = '''
import sys
sys.path.insert(0, {repo!r})
from datetime import UTC, datetime

import pulumi

from components.plan import LastRun
from components.stack_config import read_last_outputs

FINGERPRINTS = {{"broker-1": {{"certificate": {{"ca": "5385aa31dd1bf8c3", "renewal": ""}}, "steps": ["final-broker-1"]}}}}
last = LastRun.from_outputs(read_last_outputs(), datetime.now(UTC), generated_ca=True)
# As __main__.py exports it.
pulumi.export("rollout_fingerprints", pulumi.Output.secret(FINGERPRINTS))
pulumi.export("read_back", {{"type": type(last.fingerprints).__name__, "equal": last.fingerprints == FINGERPRINTS}})
'''


def read_back(root: Path) -> dict[str, str]:
    """Two ups of a program that exports a secret dict as __main__.py exports rollout_fingerprints
    and reads its last outputs as the program does: what each up read back, and what people see."""
    project = root / "project"
    project.mkdir(parents=True)
    (root / "state").mkdir()
    (project / "Pulumi.yaml").write_text(
        f"name: kafka-tls-read-back\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: {REPO / '.venv'}\n"
    )
    (project / "__main__.py").write_text(READ_BACK.format(repo=str(REPO)))
    env = {
        **os.environ,
        **toolchain_env(),
        "PULUMI_BACKEND_URL": f"file://{root / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": LAB_PASSPHRASE,
    }

    def pulumi(*args: str) -> str:
        return subprocess.run(
            ["pulumi", *args, "--stack", "read-back"], cwd=project, env=env, text=True, capture_output=True, check=True
        ).stdout

    subprocess.run(["pulumi", "stack", "init", "read-back"], cwd=project, env=env, check=True, capture_output=True)
    pulumi("up", "--yes", "--skip-preview")
    first = pulumi("stack", "output", "read_back", "--json")
    pulumi("up", "--yes", "--skip-preview")
    return {
        "first": first,
        "second": pulumi("stack", "output", "read_back", "--json"),
        "shown": pulumi("stack", "output", "rollout_fingerprints"),
    }


def test_a_secret_rollout_fingerprints_is_read_back_as_a_plain_dict(runs):
    """The program reads its last outputs through the engine's readStackOutputs: a secret output
    comes back as its plain value, so LastRun.from_outputs gets the dict the last up exported."""
    seen = runs["read_back"]
    assert json.loads(seen["first"]) == {"type": "NoneType", "equal": False}
    assert json.loads(seen["second"]) == {"type": "dict", "equal": True}
    # What people see: [secret] (the value only with --show-secrets).
    assert seen["shown"].strip() == "[secret]"
