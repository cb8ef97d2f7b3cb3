"""The cluster component under Pulumi mocks: resource graph, restart order, secrets."""

from __future__ import annotations

import dataclasses
import re

import pulumi
import pytest

from components import cluster as cluster_module
from components.config import validate_config
from components.properties import parse_properties
from components.providers import providers_for
from tests.unit.certs import make_ca, make_csr, sign_csr
from tests.unit.sample import SECRET_VALUES, sample

CA = make_ca("mock CA")


def unwrap(value):
    """Mocks see a secret input as {<secret signature>: ..., "value": v}."""
    return value["value"] if isinstance(value, dict) and "value" in value else value


# Resource types and property names of the two implementations (providers.py).
TYPES = {
    "pulumi": {
        "command": "command:remote:Command",
        "key": "tls:index/privateKey:PrivateKey",
        "ca": "tls:index/selfSignedCert:SelfSignedCert",
        "csr": "tls:index/certRequest:CertRequest",
        "signed": "tls:index/locallySignedCert:LocallySignedCert",
    },
    "builtin": {
        "command": "pulumi-python:dynamic/ssh:Command",
        "key": "pulumi-python:dynamic/tls:PrivateKey",
        "ca": "pulumi-python:dynamic/tls:SelfSignedCert",
        "csr": "pulumi-python:dynamic/tls:CertRequest",
        "signed": "pulumi-python:dynamic/tls:LocallySignedCert",
    },
}


def prop(inputs: dict, snake: str):
    """A property by its Python name, whichever spelling the implementation uses on the wire."""
    return unwrap(inputs.get(snake, inputs.get(_camel(snake))))


class ClusterMocks(pulumi.runtime.Mocks):
    """Plays both implementations: real PEMs, a CSR on the keypair command's stdout."""

    def __init__(self):
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        outs = dict(args.inputs)
        kind = "builtin" if args.typ.startswith("pulumi-python:") else "pulumi"
        t = TYPES[kind]
        name = (lambda snake: snake) if kind == "builtin" else _camel
        if args.typ == t["key"]:
            outs[name("private_key_pem")] = CA.key_pem
        elif args.typ == t["ca"]:
            outs[name("cert_pem")] = CA.cert_pem
        elif args.typ == t["csr"]:
            outs[name("cert_request_pem")] = make_csr(
                "x", prop(args.inputs, "dns_names"), prop(args.inputs, "ip_addresses"),
                key_pem=prop(args.inputs, "private_key_pem"),
            )[1]
        elif args.typ == t["signed"]:
            outs[name("cert_pem")] = sign_csr(prop(args.inputs, "cert_request_pem"), CA)
        elif args.typ == t["command"] and args.name.endswith("-keypair"):
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
        return {r.name: r.inputs for r in self.resources if r.typ in (TYPES["pulumi"]["command"], TYPES["builtin"]["command"])}


def _camel(snake: str) -> str:
    return snake.split("_")[0] + "".join(w.title() for w in snake.split("_")[1:])


@pytest.fixture
def mocks(monkeypatch):
    m = ClusterMocks()
    pulumi.runtime.set_mocks(m, preview=False)
    return m


def build(raw: dict):
    return cluster_module.KafkaTlsCluster("kafka", validate_config(raw))


def after_all(recorded, check):
    """Run ``check`` once every recorded command is registered with the mocks."""
    return pulumi.Output.all(*[r.urn for r in recorded]).apply(check)


@dataclasses.dataclass
class Recorded:
    record_name: str
    record_stdin: object
    record_depends_on: list
    resource: pulumi.Resource

    @property
    def urn(self):
        return self.resource.urn


@pytest.fixture
def recording(monkeypatch):
    """Every command made, with its stdin and the names of what it waits for."""
    created: list[Recorded] = []
    names: dict[int, str] = {}

    def recording_providers(kind):
        real = providers_for(kind)

        def command(name, opts=None, **kwargs):
            resource = real.Command(name, opts=opts, **kwargs)
            names[id(resource)] = name
            depends = [names.get(id(d)) for d in ((opts.depends_on or []) if opts else [])]
            created.append(Recorded(name, kwargs.get("stdin"), depends, resource))
            return resource

        return dataclasses.replace(real, Command=command)

    monkeypatch.setattr(cluster_module, "providers_for", recording_providers)
    return created


COMBOS = [
    (providers, custody, store)
    for providers in ("builtin", "pulumi")
    for custody in ("host", "stack")
    for store in ("PKCS12", "JKS", "PEM")
]


@pytest.mark.parametrize("providers,custody,store", COMBOS)
@pulumi.runtime.test
def test_graph_for_three_brokers_and_a_worker(mocks, recording, providers, custody, store):
    raw = sample(tls={"keyCustody": custody, "storeType": store}, providers=providers)
    build(raw)
    t = TYPES[providers]

    def check(_):
        cmds = mocks.commands()
        hosts = ["broker-1", "broker-2", "broker-3", "connect-1"]
        locally_signed = mocks.of_type(t["signed"])
        assert sorted(r.name for r in locally_signed) == sorted(f"{h}-cert" for h in hosts)
        # One CA: a key and a self-signed certificate (plus host keys in stack custody).
        keys = mocks.of_type(t["key"])
        assert len(keys) == (1 if custody == "host" else 5)
        assert len(mocks.of_type(t["ca"])) == 1
        for h in hosts:
            assert f"{h}-truststore-file" in cmds and f"{h}-store-passwords-file" in cmds
            if custody == "host":
                assert f"{h}-keypair" in cmds and f"{h}-import" in cmds
                assert f"{h}-keystore" not in cmds
            else:
                assert f"{h}-keystore" in cmds and f"{h}-keypair" not in cmds
        for b in hosts[:3]:
            assert f"{b}-server-properties-file" in cmds
            assert f"kafka-restart-{b}" in cmds
            assert f"kafka-stage1-{b}" in cmds
        assert "connect-1-connect-properties-file" in cmds
        assert "kafka-connect-restart-connect-1" in cmds
        # Every command that leaves something on a host cleans it up on destroy.
        for name, inputs in cmds.items():
            if name.endswith(("-keypair", "-keystore", "-truststore-file", "-store-passwords-file", "-properties-file")):
                assert inputs.get("delete"), f"{name} has no delete action"
        # Store type shows in the keystore path the properties name.
        ext = {"PKCS12": "p12", "JKS": "jks", "PEM": "pem"}[store]
        server = parse_properties(unwrap(cmds["broker-1-server-properties-file"]["stdin"]))
        assert server["ssl.keystore.location"] == f"/etc/kafka/ssl/kafka.keystore.{ext}"
        assert server["ssl.keystore.type"] == store

    return after_all(recording, check)


@pytest.mark.parametrize("providers,custody,store", COMBOS)
@pulumi.runtime.test
def test_no_secret_in_any_command_text(mocks, recording, providers, custody, store):
    build(sample(tls={"keyCustody": custody, "storeType": store}, providers=providers))

    def check(_):
        for name, inputs in mocks.commands().items():
            for field in ("create", "update", "delete"):
                text = inputs.get(field) or ""
                for secret in SECRET_VALUES:
                    assert secret not in text, f"{secret!r} in {name}.{field}"
            # Properties files are rendered without secrets: references only.
            if name.endswith("-properties-file") or name.startswith("kafka-stage"):
                for secret in SECRET_VALUES:
                    assert secret not in unwrap(inputs["stdin"])
                values = parse_properties(unwrap(inputs["stdin"])).values()
                refs = [v for v in values if v.startswith("${kafkatls:/etc/kafka/ssl/kafka-tls-secrets.properties:")]
                assert refs or store == "PEM", f"{name} has no password references"

    return after_all(recording, check)


@pulumi.runtime.test
def test_restarts_are_chained_one_host_at_a_time(mocks, recording):
    c = build(sample())
    by_name = {r.record_name: r for r in recording}
    order = ["kafka-stage1-broker-1", "kafka-stage1-broker-2", "kafka-stage1-broker-3",
             "kafka-restart-broker-1", "kafka-restart-broker-2", "kafka-restart-broker-3",
             "kafka-connect-restart-connect-1"]
    for before, after in zip(order, order[1:]):
        assert before in by_name[after].record_depends_on, f"{after} does not wait for {before}"
    # A stage restarts the broker with a file that reads the store passwords: they come first.
    assert {"broker-1-store-passwords-file", "broker-1-import", "broker-1-truststore-file"} <= set(
        by_name["kafka-stage1-broker-1"].record_depends_on
    )
    # The final files are written only after the staged rollout went through every broker.
    assert "kafka-stage1-broker-3" in by_name["broker-1-server-properties-file"].record_depends_on
    # Each restart waits for its own host's files and stores.
    assert {"broker-2-server-properties-file", "broker-2-import", "broker-2-truststore-file",
            "broker-2-store-passwords-file"} <= set(
        by_name["kafka-restart-broker-2"].record_depends_on
    )
    return c.ca_cert_pem


@pulumi.runtime.test
def test_ssl_only_listeners_add_a_second_stage(mocks, recording):
    c = build(sample(tls={"listeners": "SSL"}))
    names = {r.record_name for r in recording}
    assert {"kafka-stage1-broker-1", "kafka-stage2-broker-1"} <= names
    return c.ca_cert_pem


@pulumi.runtime.test
def test_plaintext_inter_broker_needs_no_stages(mocks, recording):
    c = build(sample(tls={"interBrokerProtocol": "PLAINTEXT"}))
    assert not [r for r in recording if r.record_name.startswith("kafka-stage")]
    return c.ca_cert_pem


@pulumi.runtime.test
def test_secrets_are_marked_secret(mocks, recording):
    build(sample(tls={"keyCustody": "stack"}))
    secret_stdin = [
        r for r in recording
        if r.record_name.endswith(("-keystore", "-truststore-file", "-store-passwords-file", "-keypair", "-import"))
    ]
    assert secret_stdin
    plain_stdin = [r for r in recording if r.record_name.endswith("-properties-file")]

    assert plain_stdin and all(isinstance(r.record_stdin, str) for r in plain_stdin), (
        "properties text should be plain, so preview diffs show it"
    )

    def check(flags):
        assert all(flags), "a command carrying a password or key has a stdin that is not secret"

    futures = [r.record_stdin.is_secret() for r in secret_stdin]
    import asyncio

    return pulumi.Output.from_input(asyncio.gather(*futures)).apply(check)


@pulumi.runtime.test
def test_ca_key_reaches_no_host_and_no_output(mocks, recording):
    c = build(sample())
    assert "private_key_pem" not in vars(c) and not hasattr(c, "ca_private_key_pem")

    def check(_):
        for name, inputs in mocks.commands().items():
            assert CA.key_pem.splitlines()[1] not in str(inputs), f"{name} carries the CA key"

    return after_all(recording, check)
