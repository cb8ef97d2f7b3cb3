"""The policy pack's rules (policy/rules.py) on what the program shows policies
(components/policy_view.py): pure, in the program's venv; the pack itself runs in the e2e tests."""

from __future__ import annotations

import json

import pytest

from components.cluster import KafkaTlsCluster
from components.config import validate_config
from components.plan import LastRun, plan, store_password_digest
from components.policy_view import VIEW_VERSION, rollout, settings
from policy import rules
from policy.rules import RULES, too_old, with_defaults
from tests.unit.certs import make_ca
from tests.unit.sample import SECRET_VALUES, sample

RULE = {r.name: r for r in RULES}
COMPLIANT = {
    "tls": {"listeners": "SSL", "clientAuth": "required", "certValidityDays": 90},
    "clients": [{"name": "orders", "validityDays": 30, "earlyRenewalDays": 10}],
}


def view(**overrides) -> dict:
    """The component's inputs for the sample config, as JSON carries them to the pack."""
    return json.loads(json.dumps(settings(validate_config(sample(**overrides)))))


def imported(**overrides) -> tuple[dict, str]:
    ca = make_ca("platform CA")
    tls = {**COMPLIANT["tls"], "certValidityDays": 20, "certEarlyRenewalDays": 5}
    clients = [{"name": "orders", "validityDays": 20, "earlyRenewalDays": 5}]
    raw = {**COMPLIANT, "tls": tls, "clients": clients, "caImport": {"certPem": ca.cert_pem, "keyPem": ca.key_pem}, **overrides}
    return view(**raw), ca.key_pem


def check(name: str, v: dict, stack: str = "dev", **config) -> list[str]:
    rule = RULE[name]
    return rule.check(v, with_defaults(rule, config), stack)


def test_the_view_holds_no_secret_and_says_what_the_rules_read():
    v, key_pem = imported()
    text = json.dumps(v)
    for secret in (*SECRET_VALUES, *key_pem.splitlines()[1:-1]):
        assert secret not in text
    assert "PRIVATE KEY" not in text
    assert v["viewVersion"] == VIEW_VERSION == rules.VIEW_VERSION
    assert v["ca"]["imported"] is True and v["ca"]["key"] == {"algorithm": "ECDSA", "bits": 256}
    assert v["ca"]["commonName"] == "platform CA" and len(v["ca"]["sha256Fingerprint"].split(":")) == 32
    assert v["clientCertificates"] == [
        {"name": "orders", "validityDays": 20, "earlyRenewalDays": 5, "key": {"algorithm": "ECDSA", "bits": 256}}
    ]
    assert v["tls"]["clientAuth"] == "required" and v["listenerMode"] == "SSL"


def test_no_input_key_is_an_attribute_of_the_component():
    """The SDK makes each input an attribute of the component: a key named like one of its own
    attributes (`clients`) would be overwritten, or break the output's typing."""
    taken = set(KafkaTlsCluster.__annotations__) | set(dir(KafkaTlsCluster)) | {"hosts"}
    assert not set(view()) & taken


def test_the_rollout_counts_restarted_brokers_from_the_plan():
    config = validate_config(sample())
    base, connect = sample()["serverProperties"], sample()["connectProperties"]
    first = plan(config, base, connect)
    assert rollout(first) == {
        "brokers": 3,
        "brokersRestarted": 3,
        "restartedBrokers": ["broker-1", "broker-2", "broker-3"],
        "restartPlan": first.restart_plan(),
    }
    same = plan(config, base, connect, LastRun(fingerprints=first.fingerprints, password_digest=store_password_digest(config)))
    assert rollout(same)["restartedBrokers"] == [] and rollout(same)["brokersRestarted"] == 0
    assert rollout(same)["restartPlan"] == same.restart_plan()


def test_a_compliant_stack_breaks_no_rule():
    v, _ = imported()
    for rule in RULES:
        if rule.reads == "settings":
            assert rule.check(v, with_defaults(rule, {}), "prod") == [], rule.name
    assert too_old(v) == []


def test_the_sample_breaks_the_rules_it_should_each_with_its_fix():
    v = view()  # PLAINTEXT+SSL, clientAuth none, a generated CA, 365-day host certificates
    assert check("kafka-tls-no-plaintext-listener", v, "dev") == []
    [plaintext] = check("kafka-tls-no-plaintext-listener", v, "prod")
    assert "Set `kafka-tls:tls.listeners` to `SSL`" in plaintext
    [auth] = check("kafka-tls-client-auth-required", v)
    assert "Set `kafka-tls:tls.clientAuth` to `required`" in auth
    assert check("kafka-tls-key-strength", v) == []
    assert check("kafka-tls-certificate-validity", v) == []
    [ca] = check("kafka-tls-imported-ca", v)
    assert "kafka-tls:caImport.certPem" in ca and "kafka-tls:caImport.keyPem" in ca


@pytest.mark.parametrize(
    ("stack", "config", "production"),
    [
        ("prod", {}, True),
        ("prod-eu", {}, True),
        ("production", {}, True),
        ("staging", {}, False),
        ("staging", {"production": True}, True),
        ("live", {"productionStacks": ["live", "eu-*"]}, True),
        ("prod", {"productionStacks": []}, False),
    ],
)
def test_which_stacks_are_production(stack, config, production):
    assert bool(check("kafka-tls-no-plaintext-listener", view(), stack, **config)) is production


def test_the_plaintext_rule_also_says_when_replication_must_move_first():
    v = view(tls={"interBrokerProtocol": "PLAINTEXT"})
    [message] = check("kafka-tls-no-plaintext-listener", v, "prod")
    assert "set `kafka-tls:tls.interBrokerProtocol` to `SSL`" in message


def test_the_client_auth_floor_is_configurable():
    requested = view(tls={"clientAuth": "requested"})
    assert check("kafka-tls-client-auth-required", requested, clientAuth="requested") == []
    assert check("kafka-tls-client-auth-required", requested)  # the default floor is required


def test_key_floors_cover_hosts_ca_and_clients():
    v = view(
        tls={"keyAlgorithm": "RSA", "rsaBits": 2048},
        ca={"keyAlgorithm": "RSA", "rsaBits": 2048},
        clients=[{"name": "orders"}, {"name": "billing", "keyAlgorithm": "ECDSA"}],
    )
    messages = check("kafka-tls-key-strength", v)
    assert [m.split(":")[0] for m in messages] == ["host keys", "the CA's key", "client 'orders'"]
    assert "`kafka-tls:ca.keyAlgorithm`" in messages[1] and "raise `kafka-tls:ca.generation`" in messages[1]
    assert "`kafka-tls:clients[0].keyAlgorithm`" in messages[2]
    assert check("kafka-tls-key-strength", v, minRsaBits=2048) == []
    only_rsa = check("kafka-tls-key-strength", view(), allowedAlgorithms=["RSA"], minRsaBits=3072)
    assert only_rsa[0].startswith("host keys: ECDSA keys are not allowed here (allowed: RSA)")
    assert "RSA with rsaBits 3072" in only_rsa[0]


def test_an_imported_weak_ca_is_named_as_imported():
    v, _ = imported()
    v["ca"]["key"] = {"algorithm": "RSA", "bits": 2048.0}  # as an RSA 2048 CA's certificate would say
    [message] = check("kafka-tls-key-strength", v)
    assert "Import a CA with a stronger key in `kafka-tls:caImport`" in message


def test_validity_ceilings_for_hosts_and_clients():
    v = view(
        tls={"certValidityDays": 398}, clients=[{"name": "orders"}, {"name": "billing", "validityDays": 7, "earlyRenewalDays": 2}]
    )
    host, client = check("kafka-tls-certificate-validity", v)
    assert "valid 398 days" in host and "Set `kafka-tls:tls.certValidityDays` to 366 or less" in host
    assert client.startswith("client 'orders': its certificate is valid 398 days")  # it takes the tls default
    assert "`kafka-tls:clients[0].validityDays`" in client
    assert check("kafka-tls-certificate-validity", v, maxHostValidityDays=398, maxClientValidityDays=398) == []


def test_the_imported_ca_can_be_pinned_by_fingerprint():
    v, _ = imported()
    assert check("kafka-tls-imported-ca", v, caFingerprints=[v["ca"]["sha256Fingerprint"].lower()]) == []
    [message] = check("kafka-tls-imported-ca", v, caFingerprints=["AA:" * 31 + "AA"])
    assert "is not one of the platform's CAs" in message


def test_the_restart_budget_counts_brokers():
    r = {"brokers": 50.0, "brokersRestarted": 50.0, "restartedBrokers": [f"broker-{i}" for i in range(1, 51)]}
    [message] = check("kafka-tls-restart-budget", r)
    assert "restarts 50 of 50 brokers (broker-1, broker-2, broker-3 and 47 more), more than the 1 allowed" in message
    assert check("kafka-tls-restart-budget", r, maxBrokerRestarts=50) == []
    assert RULE["kafka-tls-restart-budget"].mandatory is False and RULE["kafka-tls-restart-budget"].reads == "rollout"


def test_an_older_program_is_reported_not_passed():
    assert too_old({}) and too_old({"viewVersion": 2.0})
    assert too_old({"viewVersion": 1.0}) == []


def test_every_config_key_has_a_default_of_its_type():
    types = {"array": list, "boolean": bool, "integer": int, "string": str}
    for rule in RULES:
        assert rule.name.startswith("kafka-tls-") and rule.description
        for key, schema in rule.config_schema.items():
            assert isinstance(schema["default"], types[schema["type"]]), (rule.name, key)
        assert set(with_defaults(rule, {"unknown": 1})) == set(rule.config_schema)
