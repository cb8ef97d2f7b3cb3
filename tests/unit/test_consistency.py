"""Settings that are each valid but do not agree with each other (validation.consistency_problems),
through the one entry point __main__ uses (validation.validate_stack).

Each rule has its failing cases, asserting the key path and the fix in the one message, and its
valid neighbours: configs that are unusual but fine, which must give no problem at all.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from components.config import key_path
from components import validation
from components.validation import BASES_STAGE, CONFIG_STAGE, validate_stack
from tests.unit.certs import make_ca
from tests.unit.sample import sample


def problems(raw: dict) -> list[str]:
    return validate_stack(raw).problems


def only_problem(raw: dict, at: str) -> str:
    """The one problem ``raw`` has, reported at the key path ``at``."""
    found = problems(raw)
    assert len(found) == 1 and found[0].startswith(at + ": "), found
    assert "\n" not in found[0]
    return found[0]


def with_broker(i: int, **fields) -> dict:
    raw = sample()
    raw["brokers"][i].update(fields)
    return raw


def with_server(**props) -> dict:
    raw = sample()
    raw["serverProperties"].update(props)
    return raw


# --- the entry point -------------------------------------------------------------------------------------


def test_the_entry_point_returns_the_config_and_the_bases():
    validated = validate_stack(sample())
    assert validated.problems == [] and validated.config is not None
    assert validated.server_base == sample()["serverProperties"]
    assert validated.connect_base == sample()["connectProperties"]


def test_a_key_that_could_not_be_read_is_not_reported_again_as_missing():
    raw = sample()
    del raw["brokers"]
    read = ["kafka-tls:brokers: not a list or map; set it in the stack's YAML file (see the README's config reference)"]
    validated = validate_stack(raw, read)
    assert validated.problems == read and validated.config is None
    assert validated.summary == "1 problem(s) in the stack config; nothing was changed"
    assert validated.stage == CONFIG_STAGE


def test_problems_of_the_base_files_say_so_in_the_summary():
    validated = validate_stack(with_broker(2, nodeId=4))
    assert validated.stage == BASES_STAGE and validated.summary.startswith("1 problem(s) in the base files")


def test_an_unreadable_base_file_is_a_problem(tmp_path: Path, monkeypatch):
    base = tmp_path / "server.properties"
    base.write_text("process.roles=broker\n")

    def unreadable(file, inline):
        if file:
            raise PermissionError(13, "Permission denied")
        return dict(inline)

    monkeypatch.setattr(validation, "read_base_properties", unreadable)
    raw = sample(serverBaseFile=str(base))
    del raw["serverProperties"]
    problem = only_problem(raw, "kafka-tls:serverBaseFile")
    assert f"cannot read '{base}' (Permission denied); check the file" in problem


# --- a: what a certificate names against what clients dial --------------------------------------------------

ADVERTISED = "PLAINTEXT://kafka-2.example.com:9092,SSL://{}:9093"


@pytest.mark.parametrize("name, fix", [
    ("kafka-2-lb.example.com", "add kafka-2-lb.example.com to kafka-tls:brokers[1].extraDnsNames"),
    ("10.0.0.99", "add 10.0.0.99 to kafka-tls:brokers[1].extraIpAddresses"),
    ("[fd00::99]", "add fd00::99 to kafka-tls:brokers[1].extraIpAddresses"),
    ("kafka-3.example.com", "add kafka-3.example.com to kafka-tls:brokers[1].extraDnsNames"),
])
def test_an_advertised_tls_name_the_certificate_lacks_is_refused(name, fix):
    raw = with_broker(1, properties={"advertised.listeners": ADVERTISED.format(name)})
    problem = only_problem(raw, "kafka-tls:brokers[1].properties.advertised.listeners")
    assert "hostname verification fails" in problem and fix in problem
    assert "its SANs: kafka-2.example.com, 10.0.0.12" in problem and "or advertise the listener at kafka-2.example.com" in problem


@pytest.mark.parametrize("fields", [
    # an extra DNS name, in another case
    {"extraDnsNames": ["kafka-2-lb.example.com"], "properties": {"advertised.listeners": ADVERTISED.format("KAFKA-2-LB.example.com")}},
    # the host's own address
    {"properties": {"advertised.listeners": ADVERTISED.format("10.0.0.12")}},
    # an IPv6 address SAN, written another way
    {"address": "fd00::12", "properties": {"advertised.listeners": ADVERTISED.format("[fd00:0:0::12]")}},
    {"extraIpAddresses": ["2001:db8::12"], "properties": {"advertised.listeners": ADVERTISED.format("[2001:db8::12]")}},
    # a plaintext listener needs no certificate: any name
    {"properties": {"advertised.listeners": "PLAINTEXT://lb.example.net:9092,SSL://kafka-2.example.com:9093"}},
    # an empty host: Kafka advertises the machine's own name
    {"properties": {"advertised.listeners": "PLAINTEXT://:9092,SSL://:9093"}},
], ids=["extra DNS name", "address", "IPv6 SAN", "extra IPv6 SAN", "plaintext alias", "empty host"])
def test_advertised_names_the_certificate_has_are_accepted(fields):
    assert problems(with_broker(1, **fields)) == []


# --- b: paths against each other and Kafka's directories ------------------------------------------------


@pytest.mark.parametrize("paths, server, broker, words", [
    ({"sslDir": "/var/lib/kafka/data/ssl"}, {}, {}, ("is inside Kafka's directory /var/lib/kafka/data",
                                                     "(kafka-tls:serverProperties.log.dirs)", "partition")),
    ({"sslDir": "/var/lib/kafka/data"}, {}, {}, ("is Kafka's directory /var/lib/kafka/data", "0750")),
    ({"sslDir": "/data/2/ssl"}, {"log.dirs": "/data/1, /data/2/"}, {}, ("inside Kafka's directory /data/2 ",)),
    ({"sslDir": "/var/lib/kafka/meta"}, {}, {"metadata.log.dir": "/var/lib/kafka/meta"},
     ("(kafka-tls:brokers[0].properties.metadata.log.dir)",)),
    ({"sslDir": "/etc/kafka/server.properties/ssl"}, {}, {}, ("inside paths.serverProperties", "a file and a directory")),
], ids=["inside log.dirs", "equal to log.dirs", "inside the second log dir", "the metadata log dir per host",
        "inside the properties file"])
def test_an_ssl_dir_that_collides_is_refused(paths, server, broker, words):
    raw = with_server(**server)
    raw["paths"] = paths
    raw["brokers"][0]["properties"] = broker
    problem = only_problem(raw, "kafka-tls:paths.sslDir")
    assert "give paths.sslDir a directory" in problem or "give the SSL directory a path of its own" in problem
    for word in words:
        assert word in problem, problem


@pytest.mark.parametrize("paths, server", [
    ({"sslDir": "/etc/kafka/kafka-ssl", "serverProperties": "/etc/kafka/server.properties"}, {}),  # beside server.properties
    ({"sslDir": "/var/lib/kafka/data-ssl"}, {}),  # a name that begins like the log dir's
    ({"sslDir": "/var/lib/kafka/ssl"}, {"log.dirs": "/var/lib/kafka/data", "metadata.log.dir": "/var/lib/kafka/meta"}),
    ({"sslDir": "/var/lib/kafka/ssl"}, {"log.dir": "/var/lib/kafka/ssl", "log.dirs": "/var/lib/kafka/data"}),  # log.dirs wins
    ({"sslDir": "/etc/kafka/connect-avro-distributed.properties.d"}, {}),
    ({"sslDir": "/srv/kafka"}, {"log.dirs": "/srv/kafka/data"}),  # Kafka's data below it: it only traverses the 0750
], ids=["beside server.properties", "a sibling of the log dir", "beside the log dirs", "log.dir shadowed by log.dirs",
        "a name that begins like connectProperties", "the log dir inside it"])
def test_ssl_dirs_of_their_own_are_accepted(paths, server):
    raw = with_server(**server)
    raw["paths"] = paths
    assert problems(raw) == []


def test_an_ssl_dir_inside_connect_properties_matters_only_with_workers():
    raw = sample(paths={"sslDir": "/etc/kafka/connect.properties/ssl", "connectProperties": "/etc/kafka/connect.properties"})
    assert "inside paths.connectProperties" in only_problem(raw, "kafka-tls:paths.sslDir")
    raw["connectWorkers"] = []
    assert problems(raw) == []


# --- c: the KRaft quorum against the brokers' node ids ---------------------------------------------------------


VOTERS = "kafka-tls:serverProperties.controller.quorum.voters"


def test_a_controller_that_is_not_a_voter_is_refused():
    problem = only_problem(with_broker(2, nodeId=4), "kafka-tls:brokers[2].nodeId")
    assert f"4 is not a voter in {VOTERS} (ids 1, 2, 3)" in problem
    assert f"set nodeId to 3, the id {VOTERS} gives kafka-3.example.com" in problem


def test_a_controller_not_in_the_voters_at_all_is_told_to_add_itself():
    raw = with_server(**{"controller.quorum.voters": "1@kafka-1.example.com:9094,2@kafka-2.example.com:9094"})
    problem = only_problem(raw, "kafka-tls:brokers[2].nodeId")
    assert f"add 3@kafka-3.example.com:9094 to {VOTERS}" in problem


def test_swapped_node_ids_are_refused_at_each_broker():
    raw = sample()
    raw["brokers"][0]["nodeId"], raw["brokers"][1]["nodeId"] = 2, 1
    found = problems(raw)
    assert [p.split(": ")[0] for p in found] == ["kafka-tls:brokers[0].nodeId", "kafka-tls:brokers[1].nodeId"], found
    assert "which is broker-2's host (kafka-tls:brokers[1]), not kafka-1.example.com" in found[0]
    assert "set each broker's nodeId to the id its own host has in the voters (kafka-1.example.com: 1)" in found[0]


def test_a_voter_that_is_a_broker_only_node_is_refused():
    raw = with_broker(2, properties={"process.roles": "broker"})
    problem = only_problem(raw, VOTERS)
    assert "voter 3@kafka-3.example.com:9094 is node 3, broker-3 (kafka-tls:brokers[2].nodeId)" in problem
    assert "remove it from the voters" in problem


def test_a_controller_without_a_quorum_is_refused():
    raw = sample()
    del raw["serverProperties"]["controller.quorum.voters"]
    problem = only_problem(raw, VOTERS)
    assert "add controller.quorum.voters" in problem
    assert "e.g. 1@kafka-1.example.com:9094,2@kafka-2.example.com:9094,3@kafka-3.example.com:9094)" in problem


def test_unparsable_voters_are_refused():
    raw = with_server(**{"controller.quorum.voters": "1@kafka-1.example.com,2@kafka-2.example.com:9094"})
    problem = only_problem(raw, VOTERS)
    assert "'1@kafka-1.example.com' is not id@host:port; write the voters as id@host:port" in problem


def test_per_host_voters_are_named_at_the_host():
    raw = with_broker(0, properties={"controller.quorum.voters": "7@kafka-1.example.com:9094"})
    problem = only_problem(raw, "kafka-tls:brokers[0].nodeId")
    assert "kafka-tls:brokers[0].properties.controller.quorum.voters" in problem and "set nodeId to 7" in problem


TLS_QUORUM = {
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL,CONTROLLER:SSL",
}


def test_a_tls_quorum_voter_at_a_name_the_certificate_lacks_is_refused():
    voters = "1@ctl-1.example.com:9094,2@kafka-2.example.com:9094,3@kafka-3.example.com:9094"
    raw = with_server(**TLS_QUORUM, **{"controller.quorum.voters": voters})
    raw["tls"] = {"controllerProtocol": "SSL"}
    problem = only_problem(raw, VOTERS)
    assert "voter 1@ctl-1.example.com:9094 names ctl-1.example.com, which broker-1's certificate does not name" in problem
    assert "add ctl-1.example.com to kafka-tls:brokers[0].extraDnsNames" in problem


@pytest.mark.parametrize("server, brokers", [
    # a dynamic quorum (KIP-853): no ids to check
    ({"controller.quorum.voters": None, "controller.quorum.bootstrap.servers": "kafka-1.example.com:9094"}, {2: {"nodeId": 4}}),
    # a controller-only node outside kafka-tls's brokers
    ({"controller.quorum.voters": "1@kafka-1.example.com:9094,2@kafka-2.example.com:9094,3@kafka-3.example.com:9094,"
                                  "9@ctl-9.example.com:9094"}, {}),
    # voters by address, IPv6 included; node id 0
    ({"controller.quorum.voters": "0@10.0.0.11:9094,2@[fd00::12]:9094,3@KAFKA-3.example.com:9094"},
     {0: {"nodeId": 0}, 1: {"address": "fd00::12"}}),
    # plaintext quorum: voters may use names the certificates lack
    ({"controller.quorum.voters": "1@ctl-1.internal:9094,2@ctl-2.internal:9094,3@ctl-3.internal:9094"}, {}),
    # broker-only nodes beside the combined ones, not voters
    ({"controller.quorum.voters": "1@kafka-1.example.com:9094,2@kafka-2.example.com:9094"},
     {2: {"properties": {"process.roles": "broker"}}}),
    # no KRaft (no process.roles): nothing to check
    ({"process.roles": None, "controller.quorum.voters": None}, {}),
], ids=["bootstrap servers", "an external controller", "addresses and node id 0", "plaintext aliases",
        "a broker-only node", "no KRaft"])
def test_quorums_that_agree_with_the_brokers_are_accepted(server, brokers):
    raw = sample()
    for key, value in server.items():
        raw["serverProperties"].pop(key, None)
        if value is not None:
            raw["serverProperties"][key] = value
    for i, fields in brokers.items():
        raw["brokers"][i].update(fields)
    assert problems(raw) == []


def test_a_tls_quorum_at_the_certificates_names_is_accepted():
    voters = "1@ctl-1.example.com:9094,2@10.0.0.12:9094,3@kafka-3.example.com:9094"
    raw = with_server(**TLS_QUORUM, **{"controller.quorum.voters": voters})
    raw["tls"] = {"controllerProtocol": "SSL"}
    raw["brokers"][0]["extraDnsNames"] = ["ctl-1.example.com"]
    assert problems(raw) == []


# --- d: lifetimes against the CA -------------------------------------------------------------------------------


def test_a_client_certificate_that_outlives_the_generated_ca_is_refused():
    raw = sample(ca={"validityDays": 400}, clients=[{"name": "orders"}, {"name": "billing", "validityDays": 500}])
    problem = only_problem(raw, "kafka-tls:clients[1].validityDays")
    assert "500 days is longer than the CA lives (kafka-tls:ca.validityDays: 400)" in problem
    assert "set it to at most 400, or raise ca.validityDays" in problem


def test_a_client_certificate_that_outlives_the_imported_ca_is_refused():
    ca = make_ca("imported CA")  # 30 days
    raw = sample(caImport={"certPem": ca.cert_pem, "keyPem": ca.key_pem}, tls={"certValidityDays": 20, "certEarlyRenewalDays": 5},
                 clients=[{"name": "orders", "validityDays": 40, "earlyRenewalDays": 5}])
    problem = only_problem(raw, "kafka-tls:clients[0].validityDays")
    assert f"kafka-tls:caImport.certPem expires on {ca.cert.not_valid_after_utc:%Y-%m-%d}, in 29 days" in problem
    assert "set it to at most 29, or give a CA valid for longer" in problem


def test_the_host_certificates_lifetime_is_checked_once():
    """tls.certValidityDays against the CA is validate_config's rule; a client on that default is
    not reported again."""
    raw = sample(ca={"validityDays": 300, "earlyRenewalDays": 30}, clients=[{"name": "orders"}])
    assert "longer than the CA lives" in only_problem(raw, key_path(("tls", "certValidityDays")))


@pytest.mark.parametrize("overrides", [
    {"ca": {"validityDays": 400}, "clients": [{"name": "orders", "validityDays": 400}]},
    {"ca": {"validityDays": 365}, "tls": {"certValidityDays": 365}, "clients": [{"name": "orders"}]},
    {"clients": [{"name": "orders", "validityDays": 3650, "earlyRenewalDays": 3649}]},
], ids=["a client exactly as long as the CA", "host certificates exactly as long as the CA", "the default CA's full length"])
def test_lifetimes_within_the_ca_are_accepted(overrides):
    assert problems(sample(**overrides)) == []


def test_a_client_within_the_imported_ca_is_accepted():
    ca = make_ca("imported CA")
    raw = sample(caImport={"certPem": ca.cert_pem, "keyPem": ca.key_pem}, tls={"certValidityDays": 20, "certEarlyRenewalDays": 5},
                 clients=[{"name": "orders", "validityDays": 29, "earlyRenewalDays": 5}])
    assert problems(raw) == []
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
    assert validate_stack(raw, now=later).problems[0].startswith("kafka-tls:clients[0].validityDays: ")


def test_what_the_hosts_cannot_take_from_the_last_up_is_reported_with_the_other_problems():
    """A new keystorePassword (keys on the hosts, non-PEM stores: each keystore's only key is under
    the old password) and a node id the quorum lacks: one preview names both, through the one entry point."""
    from components.config import validate_config
    from components.plan import keystore_password_digest

    last = {"rollout_keystore_password_digest": keystore_password_digest(validate_config(sample()))}
    raw = with_broker(2, nodeId=4)
    raw["keystorePassword"] = "another-keystore-password"
    found = validate_stack(raw, last_outputs=last).problems
    assert len(found) == 2, found
    assert any(p.startswith("kafka-tls:keystorePassword: changed") for p in found), found
    assert any("nodeId" in p for p in found), found
    assert validate_stack(sample(), last_outputs=last).problems == []  # the same password: nothing to say
