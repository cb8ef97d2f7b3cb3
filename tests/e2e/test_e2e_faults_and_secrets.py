"""Faults and secrets, on one real run with known secrets: an unreachable host, then an up
interrupted mid-rollout, then no secret where it should not be.

The run also covers the key custodies and store types that the other modules' default (host
custody, PKCS12) does not: its first ups keep keys in the stack and write JKS stores; the
interrupted up moves the converged cluster to keys on the hosts and PEM stores.

The lab's hosts are processes on this machine, so one sampler of /proc/*/cmdline sees both the
machine that runs `pulumi` and every host (sshd sessions, sudo, bash, keytool, openssl, the
Kafka tools of the health gates). A decoy with a secret-like value is planted in short-lived
processes' command lines throughout the run: the sampler must see it, which shows it is fast
enough to see a short keytool or sudo call.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from labstack import PLAINTEXT_QUORUM, LabStack, lab_tls
from tests.e2e.contract import previewed
from tests.e2e.helpers import brokers_serving_tls, host_properties

pytestmark = pytest.mark.e2e

STACK = "e2e-secrets"
BROKERS = ["broker-1", "broker-2", "broker-3"]
RUN = uuid.uuid4().hex[:8]  # topics outlive a reset of the lab: each run has its own
# The lab stack's store passwords (Pulumi.lab.yaml, encrypted there with the lab passphrase).
PASSWORDS = ("lab-Keystore-2026", "lab-Truststore-2026")
DECOY = "kafka-tls-decoy-Secret-0123456789"


class CmdlineSampler:
    """Reads every process's command line in a loop, as fast as it can."""

    def __init__(self, needles: list[str]):
        self.needles = [n.encode() for n in needles]
        self.seen: dict[str, list[str]] = {}
        self.passes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "CmdlineSampler":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        line = f.read()
                except OSError:
                    continue
                for needle in self.needles:
                    if needle in line:
                        self.seen.setdefault(needle.decode(), []).append(line.replace(b"\0", b" ").decode(errors="replace")[:200])
            self.passes += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Decoys:
    """Every second, a 50 ms process with the decoy in its command line."""

    def __init__(self):
        self.planted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Decoys":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            subprocess.run(["sh", "-c", "sleep 0.05", "decoy", DECOY], check=False)
            self.planted += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def ssh_key_lines(lab) -> list[str]:
    """Lines of the lab's SSH private key long enough to be unmistakable."""
    text = Path(lab.inventory()["ssh_private_key"]).read_text()
    return [line for line in text.splitlines() if len(line) > 40]


class Scenario:
    """What one run recorded, for the tests below."""

    output: list[str] = []
    failure: str = ""
    second_up_ops: dict = {}
    pids_before_second_up: dict = {}
    pids_before_first_up: dict = {}
    plan_while_unreachable: list[str] = []
    pids_after: dict = {}
    exported: str = ""
    host_logs: dict = {}
    sampler: CmdlineSampler
    decoys: Decoys
    secrets: list[str] = []
    leftovers: list = []
    served: dict = {}
    interrupted: "Interrupted"


@dataclasses.dataclass
class Interrupted:
    """What the interrupted up and the README's recovery (`pulumi up` again) left."""

    running_at_signal: bool
    returncode: int
    output: str
    down_after_interrupt: list[str]
    recovery: str
    down_after_recovery: list[str]
    replication: dict[str, str]
    served: dict
    plan_after: list[str]


def interrupt_then_recover(lab, stack: LabStack, broker: str, directory: Path) -> Interrupted:
    """The CLI's `pulumi up`, sent SIGINT as soon as ``broker``'s restart has begun (the engine
    lets the running step finish and stops), then `pulumi up` again, then one more up."""
    log = lab.logs_dir(next(h for h in lab.hosts if h.short == broker)) / "kafka.out"
    starts = log.read_text().count("===== start")
    stack.stack()  # settings and secrets in place; the CLI runs the up itself
    engine = subprocess.Popen(["pulumi", "up", "--yes", "--skip-preview", "--stack", stack.name],
                              cwd=stack.project_dir, env={**os.environ, **stack.env},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 600
    while log.read_text().count("===== start") == starts and time.monotonic() < deadline and engine.poll() is None:
        time.sleep(0.5)
    running_at_signal = engine.poll() is None
    engine.send_signal(signal.SIGINT)
    output, _ = engine.communicate(timeout=600)
    down_after_interrupt = [b for b in BROKERS if not lab.service_pid(b)]
    result = stack.up()
    outputs = {k: v.value for k, v in result.outputs.items()}
    return Interrupted(
        running_at_signal=running_at_signal,
        returncode=engine.returncode,
        output=output,
        down_after_interrupt=down_after_interrupt,
        recovery=result.summary.result,
        down_after_recovery=[b for b in BROKERS if not lab.service_pid(b)],
        replication={b: host_properties(lab, b, "/etc/kafka/server.properties").get("inter.broker.listener.name", "")
                     for b in BROKERS},
        served=brokers_serving_tls(lab, outputs, directory, BROKERS, f"e2e-interrupt-{RUN}"),
        plan_after=stack.up().outputs["restart_plan"].value,
    )


def ops(events: list) -> dict[str, str]:
    out = {}
    for event in events:
        meta = event.resource_pre_event.metadata if event.resource_pre_event else None
        if meta and meta.op.value not in ("same", "read"):
            out[meta.urn.rsplit("::", 1)[1]] = meta.op.value
    return out


@pytest.fixture(scope="module")
def scenario(lab, tmp_path_factory):
    """preview; up with broker-3's sshd stopped (fails); sshd back; up (converges); clients;
    export; keys to the hosts and PEM stores, that up interrupted and recovered; export; destroy.
    A /proc sampler and the decoys run from first to last."""
    from lab import config as C

    lab.ensure_pristine()
    stack = LabStack(lab, STACK, overrides={"connectWorkers": [], "tls": lab_tls(keyCustody="stack", storeType="JKS", **PLAINTEXT_QUORUM)})
    run = Scenario()
    run.secrets = [*PASSWORDS, *ssh_key_lines(lab)]
    run.sampler = CmdlineSampler([*run.secrets, DECOY]).start()
    run.decoys = Decoys().start()
    started = time.time()
    broker_3 = C.find_host("broker-3")
    try:
        stack.preview(on_output=run.output.append)
        os.kill(lab.sshd_pid(broker_3), 9)  # the host is unreachable; its broker keeps running
        run.plan_while_unreachable = previewed(stack)[0]
        run.pids_before_first_up = {b: lab.service_pid(b) for b in BROKERS}
        try:
            stack.up(on_output=run.output.append)
        except Exception as e:  # noqa: BLE001 - the failure is what this run is about
            run.failure = str(e)
        lab.up()  # sshd back (and the lab's own checks: the cluster still serves)
        run.pids_before_second_up = {b: lab.service_pid(b) for b in BROKERS}
        events: list = []
        result = stack.up(on_output=run.output.append, on_event=events.append)
        run.second_up_ops = ops(events)
        run.served = brokers_serving_tls(lab, {k: v.value for k, v in result.outputs.items()},
                                         tmp_path_factory.mktemp("clients"), BROKERS, f"e2e-secrets-{RUN}")
        run.pids_after = {b: lab.service_pid(b) for b in BROKERS}
        run.exported = stack.exported_state()
        # From the converged cluster, not from plaintext: one restart per broker, not two stages.
        stack = LabStack(lab, STACK, overrides={"connectWorkers": [], "tls": lab_tls(keyCustody="host", storeType="PEM", **PLAINTEXT_QUORUM)})
        run.interrupted = interrupt_then_recover(lab, stack, "broker-2", tmp_path_factory.mktemp("interrupted"))
        run.output.append(run.interrupted.output)
        run.exported += stack.exported_state()
        run.host_logs = {
            h.short: "".join(p.read_text(errors="replace") for p in [*lab.logs_dir(h).rglob("*"), lab.sshd_dir(h) / "sshd.log"]
                             if p.is_file())
            for h in lab.hosts
        }
        stack.destroy(on_output=run.output.append)
    finally:
        run.decoys.stop()
        run.sampler.stop()
        run.leftovers = [p for p in Path("/tmp").glob("tmp.*") if p.stat().st_mtime >= started]
    yield run


def test_an_unreachable_host_fails_the_up_by_name_and_the_next_up_converges(scenario):
    run = scenario
    assert "kafka-broker-3-" in run.failure, run.failure[-2000:]
    # The second up does what the first could not, and nothing it finished: the keys, certificates,
    # stores and files of broker-1 and broker-2 stay as they are.
    redone = [n for n in run.second_up_ops if n.startswith(("kafka-broker-1-", "kafka-broker-2-"))]
    assert redone == [], run.second_up_ops
    # Keys in the stack: broker-3's store is built from the key and chain sent over SSH stdin.
    assert {"kafka-broker-3-keystore", "kafka-rollout-stage1-broker-3", "kafka-rollout-final-broker-3"} <= set(run.second_up_ops)
    assert all(run.pids_after.values()) and all(run.pids_before_second_up.values())


def test_a_broker_that_cannot_be_read_rolls_first_so_the_failed_up_took_no_healthy_broker_down(scenario):
    """The preview reads the brokers for the roll order (roll_order.py): broker-3, unreachable,
    counts as down and goes first, so the up fails on it before it takes a healthy broker down."""
    run = scenario
    first = run.plan_while_unreachable[0]
    assert first.startswith("broker-3: restart (new host") and "down, so first: cannot be read over SSH" in first, \
        run.plan_while_unreachable
    healthy = ("broker-1", "broker-2")
    assert {b: run.pids_before_second_up[b] for b in healthy} == {b: run.pids_before_first_up[b] for b in healthy}


def test_stack_custody_with_jks_stores_serves_verified_tls(scenario):
    served = scenario.served
    assert served["verified"] == {b: 0 for b in BROKERS}, "a broker failed s_client verification by name"
    assert served["store_types"] == {b: "JKS" for b in BROKERS}
    assert served["roundtrip"] == 100


def test_no_secret_in_any_command_line_output_state_or_host_log(scenario):
    run = scenario
    # The sampler is fast enough: it saw most 50 ms decoys.
    seen_decoys = len(run.sampler.seen.get(DECOY, []))
    assert run.decoys.planted >= 20 and seen_decoys >= run.decoys.planted // 2, (run.decoys.planted, seen_decoys)
    output = "".join(run.output)
    assert "kafka-rollout-final-broker-1" in output  # the output really is the run's
    for secret in run.secrets:
        assert secret not in run.sampler.seen, f"a command line carried a secret: {run.sampler.seen[secret][:2]}"
        assert secret not in output, "the engine's output (preview/up/destroy --diff) carries a secret"
        assert secret not in run.exported, "pulumi stack export carries a secret in plaintext"
        for host, text in run.host_logs.items():
            assert secret not in text, f"{host}'s logs carry a secret"
    # No temporary files left behind (the host scripts' mktemp; the hosts' /tmp is this /tmp).
    assert run.leftovers == []


def test_an_interrupted_up_converges_after_the_documented_recovery(scenario):
    """SIGINT to the engine mid-rollout (a key custody and store type change, while broker-2
    restarts): it stops with no broker down. The README's recovery, `pulumi up` again, ends where
    an uninterrupted run would: keys on the hosts, PEM stores served and verified, and the next
    up has nothing to do."""
    run = scenario.interrupted
    assert run.running_at_signal, "the up ended before broker-2's restart began"
    # The engine's own words for a SIGINT, then for the update it stopped.
    assert run.returncode != 0 and "^C received" in run.output and "update canceled" in run.output, run.output
    assert run.down_after_interrupt == [], "a broker is down after the interrupt"
    assert run.recovery == "succeeded" and run.down_after_recovery == []
    assert run.replication == {b: "SSL" for b in BROKERS}
    assert run.served == {"verified": {b: 0 for b in BROKERS}, "store_types": {b: "PEM" for b in BROKERS}, "roundtrip": 100}
    assert run.plan_after == [f"{b}: nothing" for b in BROKERS]
