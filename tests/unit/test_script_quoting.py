"""No value reaches a host's shell as code: every host script, built with hostile values, runs.

Each value that reaches a script (host names, addresses, paths, owner, alias, subject, SANs,
listener name, fingerprint, CA file) carries a payload that runs ``touch pwned`` if any shell
parses it: unquoted, inside double quotes or inside single quotes. The scripts run as they would
on a host (the login shell parses ``as_root``'s line, bash the script) in a directory of their
own, and the marker must not appear there. Only openssl, keytool, chown and Kafka's tools are
stand-ins (they make the files they are told to, answer as a healthy broker would, and record
their arguments); everything else is the real thing, so both what the shell parses and which
branch runs are real. The values must also come back verbatim: as one argument each, and in
the messages.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from components.config import KeyAlgorithm, StoreType
from components.properties import StoreLocations
from components.scripts import (
    ConnectGate,
    KafkaGate,
    KeySpec,
    TlsGate,
    as_root,
    host_port,
    import_chain_script,
    keypair_script,
    reload_stores_script,
    remove_files_script,
    remove_left_behind_script,
    restore_file_script,
    resume_or,
    rewrite_file_script,
    stack_keystore_script,
    stage_script,
    truststore_script,
    write_and_restart_script,
    write_file_script,
)

PAYLOADS = [
    "$(touch pwned)",
    "`touch pwned`",
    "';touch pwned;'",
    '";touch pwned;"',
    "x\ntouch pwned\n",
    "a b; touch pwned #",
    "'\"$(touch pwned)\"'",
    "\\'`touch pwned`\\\"",
]
MARKER = "pwned"
FINGERPRINT = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
CHAIN = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"

# Every stand-in records its argv (one file per run, NUL-separated) in $STANDIN_LOG.
_RECORD = 'printf \'%s\\0\' "${0##*/}" "$@" > "$(mktemp "$STANDIN_LOG/run.XXXXXX")"\n'
STANDINS = {
    # openssl and keytool: write the file named after -out/-keystore/-destkeystore, print the
    # fingerprint for `x509 -fingerprint`, answer an HTTP request for s_client, exit $STANDIN_RC.
    "openssl": _RECORD + """prev=
for arg in "$@"; do
  case $prev in -out|-keystore|-destkeystore) [ "${STANDIN_RC:-0}" != 0 ] || echo made > "$arg" ;; esac
  prev=$arg
done
case " $* " in *" -fingerprint "*) echo "sha256 Fingerprint=$STANDIN_FP" ;; esac
case " $* " in *" s_client "*) cat >/dev/null; printf '%b' "${STANDIN_HTTP:-}" ;; esac
exit "${STANDIN_RC:-0}"
""",
    "chown": _RECORD,
    # Kafka's tools as a healthy broker 1 answers.
    "kafka-broker-api-versions.sh": _RECORD + "echo 'kafka-1:9093 (id: 1 rack: null) -> ('\n",
    "kafka-metadata-quorum.sh": _RECORD + "echo 'NodeId DirectoryId LogEndOffset Lag LastFetchTimestamp LastCaughtUpTimestamp Status'\n"
    "echo '1 AAAA 10 0 1 1 Leader'\n",
    "kafka-topics.sh": _RECORD,
    "kafka-configs.sh": _RECORD,
}
STANDINS["keytool"] = STANDINS["openssl"]


@pytest.fixture(scope="module")
def standins(tmp_path_factory) -> Path:
    bin_dir = tmp_path_factory.mktemp("standins")
    for name, body in STANDINS.items():
        (bin_dir / name).write_text("#!/bin/bash\n" + body)
        (bin_dir / name).chmod(0o755)
    return bin_dir


@dataclasses.dataclass
class Host:
    """One sandbox: the host's root directory, the working directory the scripts run in (where a
    payload would leave its marker) and the stand-ins' record."""

    root: Path
    cwd: Path
    log: Path
    standins: Path

    def run_unchecked(self, script: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
        """Run ``script`` as kafka-tls does: the login shell runs as_root's line, bash the script."""
        for record in self.log.iterdir():
            record.unlink()
        return subprocess.run(
            ["sh", "-c", as_root(script, sudo=False)], input=stdin, capture_output=True, text=True, timeout=60,
            cwd=self.cwd, env={"PATH": f"{self.standins}:/usr/bin:/bin", "STANDIN_LOG": str(self.log),
                               "STANDIN_FP": FINGERPRINT, **env},
        )

    def run(self, script: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
        """Run ``script``; no payload may have run, and the shell may have met no syntax error."""
        result = self.run_unchecked(script, stdin, **env)
        assert not (self.cwd / MARKER).exists(), f"a value ran as shell code:\n{script}\nstderr:\n{result.stderr}"
        assert "syntax error" not in result.stderr and "unexpected EOF" not in result.stderr, result.stderr
        return result

    def calls(self, tool: str) -> list[list[str]]:
        """The argument lists ``tool`` was run with."""
        runs = [record.read_bytes().decode().split("\0")[:-1] for record in self.log.iterdir()]
        return [argv[1:] for argv in runs if argv[0] == tool]


@pytest.fixture(params=range(len(PAYLOADS)), ids=[f"payload{i}" for i in range(len(PAYLOADS))])
def payload(request) -> str:
    return PAYLOADS[request.param]


@pytest.fixture
def host(tmp_path, standins) -> Host:
    (tmp_path / "cwd").mkdir()
    (tmp_path / "log").mkdir()
    return Host(tmp_path / "root", tmp_path / "cwd", tmp_path / "log", standins)


def hostile_locations(host: Host, payload: str, store_type: StoreType) -> StoreLocations:
    """The config refuses such paths (Paths), so they are made here as the scripts' callers could."""
    ssl_dir, ext = f"{host.root}/ssl {payload}", store_type.value.lower()
    return StoreLocations(f"{ssl_dir}/kafka.keystore.{ext}", f"{ssl_dir}/kafka.truststore.{ext}",
                          f"{ssl_dir}/secrets {payload}.properties", store_type)


def hostile_spec(payload: str) -> KeySpec:
    return KeySpec(alias=f"broker {payload}", common_name=f"kafka-1 {payload}", dns_names=(f"dns {payload}",),
                   ip_addresses=(f"ip {payload}",), algorithm=KeyAlgorithm.RSA, rsa_bits=2048, validity_days=30)


def hostile_kafka_gate(host: Host, payload: str, *, healthy_tools: bool, timeout: int = 0) -> KafkaGate:
    tls = TlsGate(f"addr {payload}", 9093, f"kafka-1 {payload}", FINGERPRINT, timeout)
    kafka_bin = str(host.standins) if healthy_tools else f"{host.root}/bin {payload}"
    return KafkaGate(f"broker-1 {payload}", tls, 1, kafka_bin, f"{host.root}/client {payload}.properties")


@pytest.mark.parametrize("splice", ["echo {}", 'echo "{}"', "echo '{}'", "bash -c 'echo {}'", 'why="at {}:1"'])
def test_a_spliced_value_runs_some_payload(host, splice):
    """The payloads are live: however a value were spliced in unquoted, one of them runs."""
    ran = []
    for payload in PAYLOADS:
        host.run_unchecked(splice.format(payload))
        if (host.cwd / MARKER).exists():
            ran.append(payload)
            (host.cwd / MARKER).unlink()
    assert ran, f"no payload runs spliced as {splice}"


@pytest.mark.parametrize("store_type", [StoreType.PKCS12, StoreType.JKS, StoreType.PEM])
def test_key_pair_and_stores(host, payload, store_type):
    loc, spec, owner = hostile_locations(host, payload, store_type), hostile_spec(payload), f"kafka {payload}:grp {payload}"
    out = host.run(keypair_script(spec, loc, owner), "pw\n")
    assert out.returncode == 0, out.stderr
    assert Path(loc.keystore if store_type is not StoreType.PEM else loc.keystore.rsplit("/", 1)[0] + "/kafka.key.pem").exists()
    if store_type is StoreType.PEM:
        request = next(argv for argv in host.calls("openssl") if argv[:2] == ["req", "-new"])
        assert f"/CN={spec.common_name}" in request and f"subjectAltName=DNS:dns {payload},IP:ip {payload}" in request
    else:
        genkey = next(argv for argv in host.calls("keytool") if "-genkeypair" in argv)
        assert genkey[genkey.index("-alias") + 1] == spec.alias and f"CN={spec.common_name}" in genkey
        certreq = next(argv for argv in host.calls("keytool") if "-certreq" in argv)
        assert f"SAN=dns:dns {payload},ip:ip {payload}" in certreq
        # A keystore that does not open under the password: the message names it and the alias.
        failed = host.run(keypair_script(spec, loc, owner), "pw\n", STANDIN_RC="1")
        assert failed.returncode == 1
        assert f"{loc.keystore} exists but gives no key '{spec.alias}' with the configured" in failed.stderr
    assert {argv[0] for argv in host.calls("chown")} == {owner, f"root:grp {payload}"}  # the key's, its directory's

    Path(loc.keystore.rsplit("/", 1)[0], "kafka.key.pem").write_text("key\n")
    assert host.run(import_chain_script(spec.alias, loc, owner), f"pw\n{CHAIN}").returncode == 0
    assert host.run(stack_keystore_script(spec.alias, loc, owner), f"pw\nkey\n{CHAIN}").returncode == 0
    assert Path(loc.keystore).exists()
    assert host.run(truststore_script(loc, owner), f"pw\n{CHAIN}{CHAIN}").returncode == 0
    assert Path(loc.truststore).exists() and Path(loc.ca_pem).read_text() == CHAIN + CHAIN


def test_files_written_restored_and_left_behind(host, payload):
    path = f"{host.root}/etc {payload}/server {payload}.properties"
    assert host.run(write_file_script(path, "640", f"kafka {payload}", backup=True), "a=1\n").returncode == 0
    assert Path(path).read_text() == "a=1\n"
    assert host.run(rewrite_file_script(path, "600", ""), "a=2\n").returncode == 0
    # A mode is a value too: a hostile one fails chmod, and runs nothing.
    assert host.run(write_file_script(path, f"640 {payload}", ""), "a=3\n").returncode != 0
    assert host.run(restore_file_script(path)).returncode == 0 and not Path(path).exists()

    old_ssl = Path(f"{host.root}/old {payload}")
    old_ssl.mkdir(parents=True)
    old = {"ssl_dir": str(old_ssl), "keystore": str(old_ssl / "kafka.keystore.p12"), "properties": path}
    for name in ("kafka.keystore.p12", "kafka.csr.abc.pem", "kafka-tls-ca.pem"):
        (old_ssl / name).write_text("x")
    assert host.run("set -euo pipefail\n" + remove_left_behind_script(old)).returncode == 0
    assert not old_ssl.exists()
    other = Path(f"{host.root}/gone {payload}")
    other.write_text("x")
    assert host.run(remove_files_script(str(other))).returncode == 0 and not other.exists()


def test_broker_gate_failing_on_the_certificate(host, payload):
    gate = hostile_kafka_gate(host, payload, healthy_tools=True)
    path, pending = f"{host.root}/server {payload}.properties", f"{host.root}/pending {payload}"
    out = host.run(write_and_restart_script(path, "640", "", "true", gate, pending), "a=1\n", STANDIN_FP="00")
    target = host_port(gate.tls.address, 9093)
    assert out.returncode == 1 and Path(pending).exists()
    assert (f"health gate failed on {gate.host} after 0s: {target} does not present the expected certificate "
            "(saw: sha256 Fingerprint=00)") in out.stderr
    s_client = next(argv for argv in host.calls("openssl") if argv[:1] == ["s_client"])
    assert s_client[s_client.index("-connect") + 1] == target
    assert s_client[s_client.index("-servername") + 1] == gate.tls.server_name
    # The update of a step whose restart is pending runs it again.
    update = resume_or(pending, write_and_restart_script(path, "640", "", "echo RESTARTED", None, pending),
                       rewrite_file_script(path, "640", ""))
    assert "RESTARTED" in host.run(update, "a=1\n").stdout
    assert not Path(pending).exists()


def test_broker_gate_through_kafkas_tools(host, payload):
    gate = hostile_kafka_gate(host, payload, healthy_tools=True)
    path, pending = f"{host.root}/server {payload}.properties", f"{host.root}/pending {payload}"
    out = host.run(write_and_restart_script(path, "640", "", "true", gate, pending), "a=1\n")
    assert out.returncode == 0, out.stderr
    assert f"health gate passed: {gate.host} presents {FINGERPRINT[:23]}..., is unfenced" in out.stdout
    for tool in ("kafka-broker-api-versions.sh", "kafka-metadata-quorum.sh", "kafka-topics.sh"):
        argv = host.calls(tool)[0]
        assert argv[argv.index("--bootstrap-server") + 1] == f"kafka-1 {payload}:9093"
        assert argv[argv.index("--command-config") + 1] == gate.client_config
    # Tools the host does not have at that path: the gate fails, naming the node.
    missing = hostile_kafka_gate(host, payload, healthy_tools=False)
    out = host.run(write_and_restart_script(path, "640", "", "true", missing, pending), "a=1\n")
    assert out.returncode == 1 and "node 1 is not registered and unfenced" in out.stderr


def test_reload_of_a_broker_on_a_hostile_listener_name(host, payload):
    loc = hostile_locations(host, payload, StoreType.PKCS12)
    Path(loc.keystore).parent.mkdir(parents=True)
    Path(loc.keystore).write_text("k")
    Path(loc.truststore).write_text("t")
    gate, stamp = hostile_kafka_gate(host, payload, healthy_tools=True), f"{host.root}/stamp {payload}"
    listener = f"ext {payload}"
    out = host.run(reload_stores_script(gate, listener, loc, stamp))
    assert out.returncode == 0, out.stderr
    added = next(argv for argv in host.calls("kafka-configs.sh") if "--add-config" in argv)
    prefix = f"listener.name.{listener.lower()}.ssl."
    assert added[added.index("--add-config") + 1] == (
        f"{prefix}keystore.location={loc.keystore},{prefix}truststore.location={loc.truststore}")
    assert "nothing to reload" in host.run(reload_stores_script(gate, listener, loc, stamp)).stdout


def test_stage_on_a_hostile_listener_name(host, payload):
    """The TLS listener's name is matched as text, not as a pattern or as shell (and one with a
    line break, which no properties line can hold, is refused)."""
    path, listener = f"{host.root}/server {payload}.properties", f"EXT.*{payload}"
    if "\n" in listener:
        with pytest.raises(ValueError):
            stage_script(path, "true", None, "", listener)
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(f"inter.broker.listener.name={listener}\n")
    out = host.run(stage_script(path, "echo RESTARTED", None, "", listener), "inter.broker.listener.name=PLAINTEXT\n")
    assert "stage skipped" in out.stdout and "RESTARTED" not in out.stdout
    Path(path).write_text("inter.broker.listener.name=EXTXX\n")  # '.*' is no wildcard here
    out = host.run(stage_script(path, "echo RESTARTED", None, "", listener), "inter.broker.listener.name=PLAINTEXT\n")
    assert "RESTARTED" in out.stdout


def test_connect_gates(host, payload):
    http = ConnectGate(f"connect-1 {payload}", f"addr {payload}", 8083, "http", 0)
    out = host.run(write_and_restart_script(f"{host.root}/c {payload}", "640", "", "true", http), "a=1\n")
    assert out.returncode == 1
    assert (f"health gate failed on {http.host} after 0s: the REST API at http://addr {payload}:8083 "
            "does not answer 200 yet") in out.stderr

    https = dataclasses.replace(http, scheme="https", port=8443, server_name=f"name {payload}", ca_file=f"/ca {payload}.pem")
    ok = "HTTP/1.0 200 OK\\r\\n\\r\\n{}"
    out = host.run(write_and_restart_script(f"{host.root}/c {payload}", "640", "", "true", https), "a=1\n", STANDIN_HTTP=ok)
    assert out.returncode == 0, out.stderr
    assert f"health gate passed: {https.host}: REST answers" in out.stdout
    s_client = host.calls("openssl")[0]
    for flag, value in (("-connect", f"addr {payload}:8443"), ("-servername", https.server_name),
                        ("-CAfile", https.ca_file), ("-verify_hostname", https.server_name)):
        assert s_client[s_client.index(flag) + 1] == value
    out = host.run(write_and_restart_script(f"{host.root}/c {payload}", "640", "", "true", https), "a=1\n")
    assert out.returncode == 1
    assert f"https://addr {payload}:8443, verified against {https.ca_file}, does not answer 200" in out.stderr

