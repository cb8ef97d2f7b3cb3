"""The cluster component under Pulumi mocks: resource graph, restart order, secrets.

Mocks stand in for the engine and the pulumi-command / pulumi-tls providers only here, to test
the program's structure; the e2e tests run the real ones.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re

import pulumi
import pytest
from pulumi_command import remote

from components.cluster import KafkaTlsCluster
from components.config import validate_config
from components.plan import LastRun, plan
from components.properties import parse_properties, read_base_properties
from tests.unit.certs import make_ca, make_csr, sign_csr
from tests.unit.sample import SECRET_VALUES, sample

CA = make_ca("mock CA")
COMMAND = "command:remote:Command"
KEY = "tls:index/privateKey:PrivateKey"
SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"
CSR = "tls:index/certRequest:CertRequest"
SIGNED = "tls:index/locallySignedCert:LocallySignedCert"


def unwrap(value):
    """Mocks see a secret input as {<secret signature>: ..., "value": v}."""
    return value["value"] if isinstance(value, dict) and "value" in value else value


class ClusterMocks(pulumi.runtime.Mocks):
    """Plays pulumi-tls and pulumi-command: real PEMs, a CSR on the keypair command's stdout."""

    def __init__(self):
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        outs = dict(args.inputs)
        if args.typ == KEY:
            outs["privateKeyPem"] = outs["privateKeyPemPkcs8"] = CA.key_pem
        elif args.typ == SELF_SIGNED:
            outs["certPem"] = CA.cert_pem
        elif args.typ == CSR:
            outs["certRequestPem"] = make_csr(
                "x", args.inputs.get("dnsNames") or [], args.inputs.get("ipAddresses") or [],
                key_pem=unwrap(args.inputs["privateKeyPem"]),
            )[1]
        elif args.typ == SIGNED:
            outs["certPem"] = sign_csr(unwrap(args.inputs["certRequestPem"]), CA)
        elif args.typ == COMMAND and args.name.endswith("-keypair"):
            san = re.search(r"SAN=([^'\s]+)|subjectAltName=([^'\s]+)", args.inputs["create"])
            names = [s.split(":", 1)[1] for s in (san.group(1) or san.group(2)).split(",")]
            dns = [n for n in names if not re.match(r"^[\d.]+$", n)]
            ips = [n for n in names if re.match(r"^[\d.]+$", n)]
            outs["stdout"] = make_csr("x", dns, ips)[1]
        return [f"{args.name}-id", outs]

    def call(self, args):
        return {}

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def commands(self) -> dict[str, dict]:
        return {r.name: r.inputs for r in self.of_type(COMMAND)}


@pytest.fixture
def mocks():
    m = ClusterMocks()
    pulumi.runtime.set_mocks(m, preview=False)
    return m


@dataclasses.dataclass
class Recorded:
    name: str
    stdin: object
    depends_on: list
    resource: pulumi.Resource
    delete_before_replace: bool = False
    parent: object = None


@pytest.fixture
def recording(monkeypatch):
    """Every command made, with its stdin and the names of what it waits for."""
    created: list[Recorded] = []
    names: dict[int, str] = {}
    real = remote.Command

    def command(name, opts=None, **kwargs):
        resource = real(name, opts=opts, **kwargs)
        names[id(resource)] = name
        depends = [names.get(id(d)) for d in ((opts.depends_on or []) if opts else [])]
        created.append(Recorded(name, kwargs.get("stdin"), depends, resource, bool(opts and opts.delete_before_replace),
                                opts.parent if opts else None))
        return resource

    monkeypatch.setattr(remote, "Command", command)
    return created


def build(raw: dict, name: str = "kafka") -> KafkaTlsCluster:
    config = validate_config(raw)
    cluster_plan = plan(
        config,
        read_base_properties(None, config.server_properties),
        read_base_properties(None, config.connect_properties),
    )
    return KafkaTlsCluster(name, config, cluster_plan)


def after_all(cluster: KafkaTlsCluster, recorded: list[Recorded], check):
    """Run ``check`` once every command is made (the rollout makes each step once the one
    before is registered) and registered with the mocks."""
    return cluster.rollout_done.apply(
        lambda _: pulumi.Output.all(*[r.resource.urn for r in recorded]).apply(lambda _: check(recorded))
    )


COMBOS = [(custody, store) for custody in ("host", "stack") for store in ("PKCS12", "JKS", "PEM")]
HOSTS = ["broker-1", "broker-2", "broker-3", "connect-1"]


@pytest.mark.parametrize("custody,store", COMBOS)
@pulumi.runtime.test
def test_graph_for_three_brokers_and_a_worker(mocks, recording, custody, store):
    c = build(sample(tls={"keyCustody": custody, "storeType": store}))

    def check(_):
        cmds = mocks.commands()
        assert sorted(r.name for r in mocks.of_type(SIGNED)) == sorted(f"kafka-{h}-cert" for h in HOSTS)
        # One CA: a key and a self-signed certificate (plus host keys in stack custody).
        assert len(mocks.of_type(KEY)) == (1 if custody == "host" else 5)
        assert len(mocks.of_type(SELF_SIGNED)) == 1
        assert len(mocks.of_type(CSR)) == (0 if custody == "host" else 4)
        for h in HOSTS:
            assert {f"kafka-{h}-truststore", f"kafka-{h}-store-passwords", f"kafka-{h}-keystore"} <= set(cmds)
            assert (f"kafka-{h}-keypair" in cmds) == (custody == "host")
        for b in HOSTS[:3]:
            assert {f"kafka-{b}-server-properties", f"kafka-rollout-final-{b}", f"kafka-rollout-stage1-{b}"} <= set(cmds)
        assert {"kafka-connect-1-connect-properties", "kafka-rollout-final-connect-1"} <= set(cmds)
        # Every command that leaves something on a host cleans it up on destroy.
        for name, inputs in cmds.items():
            if not name.startswith("kafka-rollout-"):
                assert inputs.get("delete"), f"{name} has no delete action"
        ext = {"PKCS12": "p12", "JKS": "jks", "PEM": "pem"}[store]
        server = parse_properties(unwrap(cmds["kafka-rollout-final-broker-1"]["stdin"]))
        assert server["ssl.keystore.location"] == f"/etc/kafka/ssl/kafka.keystore.{ext}"
        assert server["ssl.keystore.type"] == store

    return after_all(c, recording, check)


@pytest.mark.parametrize("custody,store", COMBOS)
@pulumi.runtime.test
def test_no_secret_in_any_command_text(mocks, recording, custody, store):
    c = build(sample(tls={"keyCustody": custody, "storeType": store}))

    def check(_):
        for name, inputs in mocks.commands().items():
            for field in ("create", "update", "delete"):
                text = inputs.get(field) or ""
                for secret in SECRET_VALUES:
                    assert secret not in text, f"{secret!r} in {name}.{field}"
            # Properties files (written by the rollout's steps) hold references, not secrets.
            if name.startswith("kafka-rollout-"):
                stdin = unwrap(inputs["stdin"])
                assert not any(secret in stdin for secret in SECRET_VALUES), name
                refs = [v for v in parse_properties(stdin).values()
                        if v.startswith("${kafkatls:/etc/kafka/ssl/kafka-tls-secrets.properties:")]
                assert refs or store == "PEM", f"{name} has no password references"

    return after_all(c, recording, check)


@pulumi.runtime.test
def test_restarts_are_chained_one_host_at_a_time(mocks, recording):
    c = build(sample())
    return after_all(c, recording, check_chain)


def check_chain(recording):
    by_name = {r.name: r for r in recording}
    # Every restart waits for the one before; a first up's reloads (nothing to reload) are one wave.
    order = [f"kafka-rollout-{s}-{h}" for s in ("stage1", "final") for h in HOSTS[:3]]
    for before, after in zip(order, order[1:]):
        assert before in by_name[after].depends_on, f"{after} does not wait for {before}"
    reloads = [f"kafka-rollout-reload-{h}" for h in HOSTS[:3]]
    assert all(by_name[r].depends_on[:1] == ["kafka-rollout-final-broker-3"] for r in reloads)
    assert set(reloads) <= set(by_name["kafka-rollout-final-connect-1"].depends_on)
    # A stage restarts the broker with a file that reads the store passwords: they come first.
    assert {"kafka-broker-1-store-passwords", "kafka-broker-1-keystore", "kafka-broker-1-truststore"} <= set(
        by_name["kafka-rollout-stage1-broker-1"].depends_on
    )
    # Each host's new file is written by its own restart step (so never before its turn), after
    # the original was kept for destroy to put back.
    final = by_name["kafka-rollout-final-broker-2"]
    assert parse_properties(final.stdin)["inter.broker.listener.name"] == "SSL"
    assert {"kafka-broker-2-server-properties", "kafka-broker-2-keystore", "kafka-broker-2-truststore",
            "kafka-broker-2-store-passwords"} <= set(final.depends_on)
    # A failed step leaves no record (delete before replace), so the next up runs it again.
    assert all(r.delete_before_replace for r in recording if r.name.startswith("kafka-rollout-"))
    # The chain holds one resource per step: nothing else sits between two restarts.
    assert by_name["kafka-rollout-final-broker-2"].depends_on[0] == "kafka-rollout-final-broker-1"


@pulumi.runtime.test
def test_ssl_only_listeners_add_a_second_stage(mocks, recording):
    c = build(sample(tls={"listeners": "SSL"}))

    def check(recorded):
        names = [r.name for r in recorded if r.name.startswith("kafka-rollout-")]
        assert names == [f"kafka-rollout-{s}-{h}" for s in ("stage1", "stage2", "final", "reload") for h in HOSTS[:3]] + \
            ["kafka-rollout-final-connect-1"]

    return after_all(c, recording, check)


@pulumi.runtime.test
def test_plaintext_inter_broker_needs_no_stages(mocks, recording):
    c = build(sample(tls={"interBrokerProtocol": "PLAINTEXT"}))

    def check(recorded):
        assert [r.name for r in recorded if r.name.startswith("kafka-rollout-")] == \
            [f"kafka-rollout-{s}-{h}" for s in ("final", "reload") for h in HOSTS[:3]] + ["kafka-rollout-final-connect-1"]

    return after_all(c, recording, check)


@pulumi.runtime.test
def test_secrets_are_marked_secret(mocks, recording):
    c = build(sample(tls={"keyCustody": "stack"}))

    def check(recorded):
        secret_stdin = [r for r in recorded if r.name.endswith(("-keystore", "-truststore", "-store-passwords", "-keypair"))]
        assert len(secret_stdin) == 12
        plain_stdin = [r for r in recorded if r.name.startswith("kafka-rollout-")]
        assert len(plain_stdin) == 10 and all(isinstance(r.stdin, str) for r in plain_stdin), (
            "properties text should be plain, so preview diffs show it"
        )
        flags = asyncio.gather(*[r.stdin.is_secret() for r in secret_stdin])
        return pulumi.Output.from_input(flags).apply(lambda f: _all_secret(f))

    return after_all(c, recording, check)


def _all_secret(flags):
    assert all(flags), "a command carrying a password or key has a stdin that is not secret"


@pulumi.runtime.test
def test_ca_key_reaches_no_host_and_no_output(mocks, recording):
    c = build(sample())
    assert not any("private_key" in attr for attr in vars(c))

    def check(_):
        for name, inputs in mocks.commands().items():
            assert CA.key_pem.splitlines()[1] not in str(inputs), f"{name} carries the CA key"

    return after_all(c, recording, check)


@pulumi.runtime.test
def test_two_clusters_fit_in_one_stack(mocks, recording):
    east = build(sample(), name="east")
    west = build(sample(brokers=[dict(b, address=f"10.1.0.{i}") for i, b in enumerate(sample()["brokers"], start=1)]),
                 name="west")

    def check(_):
        names = [r.name for r in mocks.resources]
        # Pulumi tells resources apart by type and name (a host's component and its certificate share the name).
        assert len({(r.typ, r.name) for r in mocks.resources}) == len(names), "two resources share a type and name"
        assert all(n in ("east", "west") or n.startswith(("east-", "west-")) for n in names), names
        assert len([n for n in names if n.startswith("east-rollout-")]) == len([n for n in names if n.startswith("west-rollout-")]) == 10

    return east.rollout_done.apply(lambda _: after_all(west, recording, check))


@pulumi.runtime.test
def test_early_renewal_is_pulumi_tls_own(mocks, recording):
    """certEarlyRenewalDays and ca.earlyRenewalDays reach pulumi-tls's early_renewal_hours, which
    makes the provider re-issue a certificate inside that window (ready_for_renewal)."""
    c = build(sample(tls={"certValidityDays": 90, "certEarlyRenewalDays": 20}, ca={"validityDays": 1000, "earlyRenewalDays": 60}))

    def check(_):
        for r in mocks.of_type(SIGNED):
            assert (r.inputs["validityPeriodHours"], r.inputs["earlyRenewalHours"]) == (90 * 24, 20 * 24)
        [ca] = mocks.of_type(SELF_SIGNED)
        assert (ca.inputs["validityPeriodHours"], ca.inputs["earlyRenewalHours"]) == (1000 * 24, 60 * 24)
        assert len(mocks.of_type(SIGNED)) == 4

    return after_all(c, recording, check)


@pytest.mark.parametrize("sudo", [True, False])
@pulumi.runtime.test
def test_every_host_script_runs_as_root(mocks, recording, sudo):
    c = build(sample(ssh={"user": "deploy" if sudo else "root", "sudo": sudo}))
    prefix = "sudo -n -- /bin/bash -c " if sudo else "/bin/bash -c "

    def check(_):
        for name, inputs in mocks.commands().items():
            for field in ("create", "update", "delete"):
                if inputs.get(field):
                    assert inputs[field].startswith(prefix), f"{name}.{field}: {inputs[field][:60]}"
            assert unwrap(inputs["connection"])["user"] == ("deploy" if sudo else "root")

    return after_all(c, recording, check)


def rollout_steps(mocks, cluster: str) -> dict[str, dict]:
    return {n.removeprefix(f"{cluster}-rollout-"): i for n, i in mocks.commands().items() if n.startswith(f"{cluster}-rollout-")}


@pulumi.runtime.test
def test_restart_triggers_are_only_what_the_service_reads(mocks, recording):
    """Gate timeout, restart command and SSH settings change a step's script (its update runs),
    never its triggers (a replace, which restarts)."""
    before = build(sample(), name="a")
    after = build(sample(ssh={"user": "ops", "port": 2222},
                         restart={"gateTimeoutSeconds": 999, "kafka": "/usr/local/bin/kafka-restart"}), name="b")
    changed = build(sample(serverProperties={**sample()["serverProperties"], "num.partitions": "6"}), name="c")

    def check(_):
        a, b, c = (rollout_steps(mocks, n) for n in "abc")
        assert a.keys() == b.keys() == c.keys()
        for step in a:
            ta, tb, tc = (unwrap(x[step].get("triggers")) or [] for x in (a, b, c))
            if step.startswith("reload"):
                # [keystore digest, trusted CAs digest]: a re-issued certificate or a CA rotation.
                assert len(ta) == 2 and ta[1] == tb[1] == tc[1], "a reload step re-runs only for new stores"
                continue
            # [path, text digest, password digest, then key identity (brokers) or keystore and
            # trusted CAs digests (Connect)]; the mocks sign each CSR anew, so a keystore digest is
            # left out.
            keep = lambda t: t[:3] + (t[3:] if step.startswith("final-broker") else t[4:]) if t else []  # noqa: E731
            assert keep(ta) == keep(tb), step
            assert a[step]["create"] != b[step]["create"] or step.startswith("final-connect"), step
            # The update restarts only a host whose last restart is still pending (scripts.resume_or).
            # resume_or's own else is the last one (the resumed script has branches of its own).
            pending, otherwise = a[step]["update"].rsplit("\nelse\n", 1)
            assert "kafka-tls-restart.pending" in pending and "systemctl restart kafka" in pending
            assert "systemctl restart" not in otherwise and "999" not in b[step]["update"].rsplit("\nelse\n", 1)[1]
            if step.startswith("final-broker"):
                assert keep(ta) != keep(tc), f"{step}: a property change must restart"
            elif step.startswith("stage"):
                assert ta == [] and "nothing to do" in otherwise

    return after.rollout_done.apply(lambda _: changed.rollout_done.apply(lambda _: before.rollout_done.apply(
        lambda _: after_all(before, recording, check))))


@pytest.mark.parametrize("new_ca", ["generated", "imported"])
@pulumi.runtime.test
def test_phase_1_of_a_ca_rotation_trusts_both_cas_and_keeps_every_certificate(mocks, recording, monkeypatch, new_ca):
    """Phase 1: every truststore gets the old and the new CA; each certificate keeps its issuer
    (the engine ignores the changed CA inputs) and its keystore chain ends in the CA that signed it.
    The same for a new caImport: the old CA's key is not needed, nothing is signed with it."""
    import pulumi_tls
    from pydantic import SecretStr

    from components.ca_rotation import Phase, ca_spec, next_rotation
    from components.config import ImportedCa

    old = make_ca("kafka-tls CA")
    kept: dict[str, list] = {}
    real = pulumi_tls.LocallySignedCert

    def signed(name, opts=None, **kwargs):
        kept[name] = list((opts.ignore_changes or []) if opts else [])
        return real(name, opts=opts, **kwargs)

    monkeypatch.setattr(pulumi_tls, "LocallySignedCert", signed)
    raw = sample(clients=[{"name": "orders"}])
    config = validate_config(raw)
    if new_ca == "imported":  # the mocks sign with CA, so it is the one imported (its short life is not the subject)
        config = config.model_copy(update={"ca_import": ImportedCa(cert_pem=CA.cert_pem, key_pem=SecretStr(CA.key_pem))})
    rotation = next_rotation({"phase": "steady", "signing_spec": "old", "signing_ca_pem": old.cert_pem}, ca_spec(config))
    assert rotation.phase is Phase.TRUST_BOTH
    cluster = KafkaTlsCluster("kafka", config, plan(config, read_base_properties(None, config.server_properties),
                                                    read_base_properties(None, config.connect_properties)),
                              rotation=rotation)

    def check(recorded):
        assert set(kept) == {f"kafka-{h}-cert" for h in HOSTS} | {"kafka-client-orders-cert"}
        assert all(v == ["caCertPem", "caPrivateKeyPem"] for v in kept.values()), kept
        stdin = {r.name: r.stdin for r in recorded}
        return pulumi.Output.all(**{n: s for n, s in stdin.items() if n.endswith(("-truststore", "-keystore"))}).apply(
            lambda values: check_stores(values))

    def check_stores(values):
        for name, text in values.items():
            if name.endswith("-truststore"):
                assert old.cert_pem.strip() in text and CA.cert_pem.strip() in text, name
            else:  # the mocks sign with CA: the chain ends in it, not in the old CA
                assert text.rstrip().endswith(CA.cert_pem.strip()) and old.cert_pem.strip() not in text, name

    return pulumi.Output.all(cluster.ca_bundle_pem, cluster.ca_rotation).apply(
        lambda v: (v[0].count("BEGIN CERTIFICATE") == 2 and v[1]["phase"] == "trust-both" and v[1]["signing_ca_pem"] == old.cert_pem)
        or pytest.fail(f"bundle/state: {v}")
    ).apply(lambda _: after_all(cluster, recording, check))


@pulumi.runtime.test
def test_every_command_of_a_host_hangs_under_that_hosts_component(mocks, recording):
    """A preview reads host by host: each host's commands (certificate, stores, files, rollout
    steps) are children of its Broker or ConnectWorker component (the keystore's through its
    HostCertificate), and of no other host's."""
    c = build(sample())

    def check(recorded):
        assert {type(c.hosts[h]).__name__ for h in HOSTS} == {"Broker", "ConnectWorker"}
        for r in recorded:
            host = next(h for h in HOSTS if r.name.endswith(f"-{h}") or f"-{h}-" in r.name)
            assert r.parent in (c.hosts[host], c.certificates[host]), (r.name, r.parent)
        return urns_of_steps(recorded)

    return after_all(c, recording, check)


def urns_of_steps(recorded):
    """The rollout steps' URNs name their host's component as parent type (the engine keeps the
    old identity through the alias to the rollout component)."""
    steps = [r for r in recorded if "-rollout-" in r.name]
    return pulumi.Output.all(*[r.resource.urn for r in steps]).apply(
        lambda urns: [u.split("::")[2] for u in urns]
    ).apply(lambda paths: _assert_paths(paths))


def _assert_paths(paths):
    assert {p.split("$")[-2] for p in paths} == {"kafka-tls:index:Broker", "kafka-tls:index:ConnectWorker"}, paths


@pytest.mark.parametrize("listeners", [None, "https://:8443"])
@pulumi.runtime.test
def test_a_workers_gate_speaks_what_its_rest_listener_does(mocks, recording, listeners):
    """http: bash's /dev/tcp. https: openssl s_client, checking the worker's name against the CA
    bundle the truststore command writes (and its delete removes)."""
    connect = dict(sample()["connectProperties"], **({"listeners": listeners} if listeners else {}))
    c = build(sample(connectProperties=connect))

    def check(_):
        cmds = mocks.commands()
        gate = unwrap(cmds["kafka-rollout-final-connect-1"]["create"])
        assert "/etc/kafka/ssl/kafka-tls-ca.pem" in unwrap(cmds["kafka-connect-1-truststore"]["delete"])
        if listeners is None:
            assert "/dev/tcp/$1/$2" in gate and " _ 10.0.0.21 8083 " in gate and "s_client" not in gate
        else:
            assert ("openssl s_client -quiet -connect 10.0.0.21:8443 -servername connect-1.example.com "
                    "-CAfile /etc/kafka/ssl/kafka-tls-ca.pem -verify_return_error -verify_hostname connect-1.example.com") in gate

    return after_all(c, recording, check)


@pulumi.runtime.test
def test_after_the_canary_the_reloads_wait_for_it_and_not_for_each_other(mocks, recording):
    """A wave: broker-2's and broker-3's reloads both wait for broker-1's (the canary), not for
    each other; the worker waits for both."""
    config = validate_config(sample())
    base = plan(config, config.server_properties, config.connect_properties)
    renewed_config = validate_config(sample(tls={"certValidityDays": 200}))
    renewed = plan(renewed_config, renewed_config.server_properties, renewed_config.connect_properties,
                   LastRun(fingerprints=base.fingerprints))
    c = KafkaTlsCluster("kafka", renewed_config, renewed)

    def check(recorded):
        after = {r.name.removeprefix("kafka-rollout-"): set(r.depends_on) for r in recorded if "-rollout-" in r.name}
        assert "kafka-rollout-reload-broker-1" in after["reload-broker-2"] & after["reload-broker-3"]
        assert "kafka-rollout-reload-broker-2" not in after["reload-broker-3"]
        assert {"kafka-rollout-reload-broker-2", "kafka-rollout-reload-broker-3"} <= after["final-connect-1"]

    return after_all(c, recording, check)


@pulumi.runtime.test
def test_a_repair_note_changes_only_that_hosts_final_step_trigger(mocks, recording):
    """The note (plan.HostPlan.repair) is part of the final step's properties trigger: a replace of
    that one step (it writes the file and restarts), nothing else of any host."""
    before = build(sample(), name="a")
    repaired = build(sample(repair={"broker-2": "properties edited on the host (doctor)"}), name="b")

    def check(_):
        a, b = rollout_steps(mocks, "a"), rollout_steps(mocks, "b")
        assert a.keys() == b.keys()
        for step in a:
            ta, tb = (unwrap(x[step].get("triggers")) or [] for x in (a, b))
            if step == "final-broker-2":
                assert ta[1] != tb[1] and ta[0] == tb[0] and ta[2:] == tb[2:], "only the properties trigger takes the note"
            elif not step.startswith("final-connect") and not step.startswith("reload"):
                assert ta[:3] == tb[:3], step  # path, text, passwords (the mocks sign each CSR anew)

    return repaired.rollout_done.apply(lambda _: before.rollout_done.apply(lambda _: after_all(before, recording, check)))


@pulumi.runtime.test
def test_a_repair_note_reruns_every_command_of_that_host_and_of_no_other(mocks, recording):
    """A new note marks the first line of every create (and update) script of the host, so the
    engine updates each of them, as it does for a re-imaged host's new SSH key: its stores and
    files are written again. Other hosts' scripts stay byte for byte the same."""
    before = build(sample(), name="a")
    repaired = build(sample(repair={"broker-2": "truststore: missing (doctor)"}), name="b")

    def check(_):
        # The mocks sign each CSR anew: the gates' expected fingerprints differ between the two.
        fp = re.compile(r"([0-9A-F]{2}:){7,31}[0-9A-F]{2}")
        scripts = {r.name: tuple(fp.sub("FP", unwrap(r.inputs.get(k)) or "") for k in ("create", "update"))
                   for r in mocks.of_type(COMMAND)}
        a = {n.removeprefix("a-"): s for n, s in scripts.items() if n.startswith("a-")}
        b = {n.removeprefix("b-"): s for n, s in scripts.items() if n.startswith("b-")}
        assert a.keys() == b.keys()
        broker_2 = [n for n in a if "broker-2" in n]
        assert len(broker_2) >= 6, broker_2  # key pair, keystore, truststore, files, steps
        for n in a:
            marked = [s for s in b[n] if s and "# kafka-tls repair " in s]
            if "broker-2" in n:
                assert marked and a[n] != b[n], n
            else:
                assert not marked and a[n][0] == b[n][0], n

    return repaired.rollout_done.apply(lambda _: before.rollout_done.apply(lambda _: after_all(before, recording, check)))
