"""validate_config: one test per rule, each checking the key path the problem names."""

from __future__ import annotations

import pytest

from components.config import ClusterConfig, ConfigError, validate_config
from tests.unit.certs import make_ca
from tests.unit.sample import SECRET_VALUES, sample


def problems_of(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    problems = info.value.problems
    assert problems, "ConfigError raised without problems"
    assert str(info.value) == "\n".join(problems)
    return problems


def assert_problem(raw: dict, path: str, *words: str) -> str:
    """Exactly one problem names `path` (as 'path: ...') and mentions every word."""
    problems = problems_of(raw)
    hits = [p for p in problems if p.startswith(path + ": ")]
    assert len(hits) == 1, f"expected one problem at {path}, got {problems}"
    for word in words:
        assert word in hits[0], f"{word!r} not in {hits[0]!r}"
    return hits[0]


def with_broker(i: int, **fields) -> dict:
    raw = sample()
    raw["brokers"][i].update(fields)
    return raw


# --- the valid sample ---------------------------------------------------------------------------


def test_valid_sample_passes():
    config = validate_config(sample())
    assert isinstance(config, ClusterConfig)
    assert [b.name for b in config.brokers] == ["broker-1", "broker-2", "broker-3"]
    assert [b.node_id for b in config.brokers] == [1, 2, 3]
    assert [w.name for w in config.connect_workers] == ["connect-1"]
    assert config.keystore_password.get_secret_value() == "ks-Secret-1234"
    assert config.server_properties["process.roles"] == "broker,controller"


# --- brokers --------------------------------------------------------------------------------------


def test_missing_brokers():
    raw = sample()
    del raw["brokers"]
    assert_problem(raw, "kafka-tls:brokers", "missing")


def test_empty_broker_list():
    assert_problem(sample(brokers=[]), "kafka-tls:brokers", "at least 1")


def test_duplicate_host_name():
    assert_problem(with_broker(1, name="broker-1"), "kafka-tls:brokers[1].name", "kafka-tls:brokers[0].name")


def test_duplicate_name_across_brokers_and_connect_workers():
    raw = sample()
    raw["connectWorkers"][0]["name"] = "broker-2"
    assert_problem(raw, "kafka-tls:connectWorkers[0].name", "kafka-tls:brokers[1].name")


def test_duplicate_host():
    assert_problem(with_broker(2, host="kafka-1.example.com"), "kafka-tls:brokers[2].host", "kafka-tls:brokers[0].host")


def test_duplicate_address():
    assert_problem(with_broker(2, address="10.0.0.11"), "kafka-tls:brokers[2].address", "kafka-tls:brokers[0].address")


def test_duplicate_node_id():
    assert_problem(with_broker(2, nodeId=1), "kafka-tls:brokers[2].nodeId", "kafka-tls:brokers[0].nodeId")


def test_missing_node_id_on_a_broker():
    raw = sample()
    del raw["brokers"][1]["nodeId"]
    assert_problem(raw, "kafka-tls:brokers[1].nodeId", "missing")


def test_connect_worker_needs_no_node_id():
    raw = sample()
    assert "nodeId" not in raw["connectWorkers"][0]
    validate_config(raw)


@pytest.mark.parametrize("bad", ["bad_host", "-x.com", "x-.example.com", "10.0.0.1", ""])
def test_invalid_hostname(bad):
    assert_problem(with_broker(2, host=bad), "kafka-tls:brokers[2].host", "not a valid DNS name")


def test_invalid_ip_address():
    assert_problem(with_broker(2, address="10.0.0.300"), "kafka-tls:brokers[2].address", "'10.0.0.300'", "not an IP address")


# --- tls ------------------------------------------------------------------------------------------
# Rules that compare several tls fields are model-level: pydantic places them at kafka-tls:tls,
# and the message names the fields.


def test_port_clash_ssl_and_plaintext():
    assert_problem(sample(tls={"sslPort": 9092}), "kafka-tls:tls.sslPort", "plaintextPort", "9092")


def test_port_clash_controller_and_ssl():
    assert_problem(sample(tls={"controllerPort": 9093}), "kafka-tls:tls.controllerPort", "sslPort", "9093")


def test_ssl_only_may_reuse_the_unused_plaintext_port():
    validate_config(sample(tls={"listeners": "SSL", "sslPort": 9092}))


def test_short_keystore_password():
    assert_problem(sample(keystorePassword="abc12"), "kafka-tls:keystorePassword", "at least 6")


def test_short_truststore_password():
    assert_problem(sample(truststorePassword="abc12"), "kafka-tls:truststorePassword", "at least 6")


def test_six_character_password_is_enough():
    validate_config(sample(keystorePassword="abcdef", truststorePassword="123456"))


def test_unknown_store_type():
    assert_problem(sample(tls={"storeType": "P12"}), "kafka-tls:tls.storeType", "PKCS12")


def test_unknown_key_custody():
    assert_problem(sample(tls={"keyCustody": "vault"}), "kafka-tls:tls.keyCustody", "host", "stack")


def test_listener_name_defaults_to_ssl_and_takes_the_users_listener():
    assert validate_config(sample()).tls.listener_name == "SSL"
    assert validate_config(sample(tls={"listenerName": "EXTERNAL"})).tls.listener_name == "EXTERNAL"


@pytest.mark.parametrize("bad", ["external", "EXTERNAL://:9095", "", "9LISTENER"])
def test_listener_name_is_an_upper_case_listener_name(bad):
    assert_problem(sample(tls={"listenerName": bad}), "kafka-tls:tls.listenerName", "upper-case", "EXTERNAL")


def test_ssl_only_listeners_with_plaintext_inter_broker():
    assert_problem(
        sample(tls={"listeners": "SSL", "interBrokerProtocol": "PLAINTEXT"}),
        "kafka-tls:tls.interBrokerProtocol",
        "listeners is 'SSL'",
        "PLAINTEXT",
    )


@pytest.mark.parametrize("days", [0, -5])
def test_non_positive_cert_validity(days):
    assert_problem(sample(tls={"certValidityDays": days}), "kafka-tls:tls.certValidityDays", "positive", f"(got {days})")


@pytest.mark.parametrize("days", [0, -1])
def test_non_positive_ca_validity(days):
    assert_problem(sample(ca={"validityDays": days}), "kafka-tls:ca.validityDays", "positive", f"(got {days})")


@pytest.mark.parametrize("renewal", [30, 31])
def test_cert_early_renewal_not_below_validity(renewal):
    assert_problem(
        sample(tls={"certValidityDays": 30, "certEarlyRenewalDays": renewal}), "kafka-tls:tls.certEarlyRenewalDays", "less than", "30 days"
    )


@pytest.mark.parametrize("renewal", [100, 200])
def test_ca_early_renewal_not_below_validity(renewal):
    assert_problem(sample(ca={"validityDays": 100, "earlyRenewalDays": renewal}), "kafka-tls:ca.earlyRenewalDays", "less than", "100 days")


def test_early_renewal_just_below_validity_passes():
    validate_config(sample(tls={"certValidityDays": 30, "certEarlyRenewalDays": 29}, ca={"validityDays": 100, "earlyRenewalDays": 99}))


@pytest.mark.parametrize("protocols", [["TLSv1.1"], ["TLSv1.3", "TLSv1.1"], []])
def test_enabled_protocols_only_tls12_and_tls13(protocols):
    assert_problem(sample(tls={"enabledProtocols": protocols}), "kafka-tls:tls.enabledProtocols", "TLSv1.3")


# --- imported CA ----------------------------------------------------------------------------------


def test_imported_ca_key_does_not_match_certificate():
    ca, other = make_ca("imported CA"), make_ca("another CA")
    assert_problem(sample(caImport={"certPem": ca.cert_pem, "keyPem": other.key_pem}), "kafka-tls:caImport.keyPem", "does not match")


def test_imported_ca_is_not_a_ca():
    leaf = make_ca("not a CA", is_ca=False)
    assert_problem(sample(caImport={"certPem": leaf.cert_pem, "keyPem": leaf.key_pem}), "kafka-tls:caImport.certPem", "not a CA")


def test_imported_ca_garbage_pem():
    ca = make_ca("imported CA")
    assert_problem(sample(caImport={"certPem": "hello", "keyPem": ca.key_pem}), "kafka-tls:caImport.certPem", "not a PEM")
    assert_problem(sample(caImport={"certPem": ca.cert_pem, "keyPem": "hello"}), "kafka-tls:caImport.keyPem", "private key")


def test_valid_imported_ca_accepted():
    ca = make_ca("imported CA")  # valid for 30 days: host certificates must end before it does
    config = validate_config(sample(caImport={"certPem": ca.cert_pem, "keyPem": ca.key_pem}, tls={"certValidityDays": 20, "certEarlyRenewalDays": 5}))
    assert config.ca_import is not None
    assert config.ca_import.cert_pem == ca.cert_pem
    assert config.ca_import.key_pem.get_secret_value() == ca.key_pem


# --- unknown keys ---------------------------------------------------------------------------------


def test_unknown_top_level_key():
    assert_problem(sample(brokerz=[]), "kafka-tls:brokerz", "unknown key")


def test_unknown_key_inside_a_broker():
    raw = sample()
    raw["brokers"][0]["hostname"] = "kafka-1.example.com"
    assert_problem(raw, "kafka-tls:brokers[0].hostname", "unknown key")


def test_unknown_key_inside_tls():
    assert_problem(sample(tls={"sslPorts": 9093}), "kafka-tls:tls.sslPorts", "unknown key")


# --- paths and base files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["sslDir", "serverProperties", "connectProperties"]
)
def test_relative_paths(key):
    assert_problem(sample(paths={key: "etc/kafka/x"}), f"kafka-tls:paths.{key}", "absolute")


def test_both_server_base_file_and_server_properties(tmp_path):
    base = tmp_path / "server.properties"
    base.write_text("log.dirs=/var/lib/kafka\n")
    assert_problem(sample(serverBaseFile=str(base)), "kafka-tls:serverProperties", "serverBaseFile", "not both")


def test_both_connect_base_file_and_connect_properties(tmp_path):
    base = tmp_path / "connect.properties"
    base.write_text("group.id=connect\n")
    assert_problem(sample(connectBaseFile=str(base)), "kafka-tls:connectProperties", "connectBaseFile", "not both")


def test_server_base_file_alone_passes(tmp_path):
    base = tmp_path / "server.properties"
    base.write_text("log.dirs=/var/lib/kafka\n")
    raw = sample(serverBaseFile=str(base))
    del raw["serverProperties"]
    assert validate_config(raw).server_base_file == str(base)


def test_server_base_file_that_does_not_exist(tmp_path):
    missing = tmp_path / "nope" / "server.properties"
    raw = sample(serverBaseFile=str(missing))
    del raw["serverProperties"]
    assert_problem(raw, "kafka-tls:serverBaseFile", str(missing), "no file")


def test_schema_registry_url_must_be_http_or_https():
    assert_problem(sample(schemaRegistryUrl="schema-registry:8081"), "kafka-tls:schemaRegistryUrl", "https://")
    validate_config(sample(schemaRegistryUrl="https://schema-registry.example.com:8081"))
    validate_config(sample(schemaRegistryUrl="http://schema-registry.example.com:8081"))


# --- all at once, and no secrets ------------------------------------------------------------------


def many_problems_config() -> tuple[dict, list[str]]:
    raw = sample(
        keystorePassword="Zq9!x",  # too short
        tls={"storeType": "P12", "enabledProtocols": ["TLSv1.1"]},
        paths={"sslDir": "ssl"},
        ca={"validityDays": 0},
        brokerz=[],
    )
    raw["brokers"][0]["host"] = "bad_host"
    raw["brokers"][1]["address"] = "10.0.0.300"
    raw["brokers"][2]["nodeId"] = 1
    raw["connectWorkers"][0]["hostname"] = "connect-1.example.com"
    expected = [
        "kafka-tls:keystorePassword",
        "kafka-tls:tls.storeType",
        "kafka-tls:tls.enabledProtocols",
        "kafka-tls:paths.sslDir",
        "kafka-tls:ca.validityDays",
        "kafka-tls:brokerz",
        "kafka-tls:brokers[0].host",
        "kafka-tls:brokers[1].address",
        "kafka-tls:brokers[2].nodeId",
        "kafka-tls:connectWorkers[0].hostname",
    ]
    return raw, expected


def test_all_problems_reported_at_once():
    raw, expected = many_problems_config()
    problems = problems_of(raw)
    assert len(problems) == len(expected) == 10, problems
    assert sorted(p.split(": ", 1)[0] for p in problems) == sorted(expected)


def test_several_problems_in_one_section_are_all_reported():
    raw = sample(tls={"listeners": "SSL", "interBrokerProtocol": "PLAINTEXT", "sslPort": 9094, "certValidityDays": 0})
    paths = sorted(p.split(": ", 1)[0] for p in problems_of(raw))
    assert paths == ["kafka-tls:tls.certValidityDays", "kafka-tls:tls.controllerPort", "kafka-tls:tls.interBrokerProtocol"]


def test_a_typo_is_reported_as_written():
    raw = sample()
    raw["Brokers"] = raw.pop("brokers")
    paths = [p.split(": ", 1)[0] for p in problems_of(raw)]
    assert "kafka-tls:Brokers" in paths and "kafka-tls:brokers" in paths  # the typo, and the missing key


def test_duplicate_names_and_addresses_in_other_spellings():
    raw = with_broker(1, host="KAFKA-1.example.com")
    raw["brokers"][2]["address"] = "0:0::1"
    raw["connectWorkers"][0]["address"] = "::1"
    paths = [p.split(": ", 1)[0] for p in problems_of(raw)]
    assert "kafka-tls:brokers[1].host" in paths and "kafka-tls:connectWorkers[0].address" in paths


def test_cross_host_problems_reported_beside_field_problems():
    raw = with_broker(2, nodeId=1, host="bad_host")
    del raw["brokers"][1]["nodeId"]
    paths = [p.split(": ", 1)[0] for p in problems_of(raw)]
    assert sorted(paths) == ["kafka-tls:brokers[1].nodeId", "kafka-tls:brokers[2].host", "kafka-tls:brokers[2].nodeId"]


def test_no_problem_message_contains_a_password():
    short_ks, short_ts = "Zq9!x", "Yw8?v"
    raw, _ = many_problems_config()
    raw["keystorePassword"] = short_ks
    raw["truststorePassword"] = short_ts
    problems = problems_of(raw)
    assert any(p.startswith("kafka-tls:truststorePassword: ") for p in problems)
    for problem in problems:
        for secret in (short_ks, short_ts, *SECRET_VALUES):
            assert secret not in problem


def test_no_problem_message_contains_valid_secrets():
    # Valid passwords beside other problems: still nowhere in the messages.
    raw, _ = many_problems_config()
    raw["keystorePassword"] = "ks-Secret-1234"
    ca, other = make_ca("imported CA"), make_ca("another CA")
    raw["caImport"] = {"certPem": ca.cert_pem, "keyPem": other.key_pem}
    problems = problems_of(raw)
    key_body = other.key_pem.splitlines()[1]
    for problem in problems:
        for secret in (*SECRET_VALUES, key_body):
            assert secret not in problem


def test_wrongly_typed_password_is_not_echoed():
    problems = problems_of(sample(keystorePassword=123456789, truststorePassword=["ts-Secret-5678"]))
    assert {p.split(": ", 1)[0] for p in problems} == {"kafka-tls:keystorePassword", "kafka-tls:truststorePassword"}
    for problem in problems:
        assert "123456789" not in problem and "ts-Secret-5678" not in problem


def test_extra_sans_must_be_names_and_addresses():
    assert_problem(with_broker(0, extraDnsNames=["ok.example.com", "bad_name"]), "kafka-tls:brokers[0].extraDnsNames", "bad_name")
    assert_problem(with_broker(0, extraIpAddresses=["10.0.0.1", "10.0.0.256"]), "kafka-tls:brokers[0].extraIpAddresses", "10.0.0.256")
