"""Reading the stack config through pulumi.Config: odd values do not crash it."""

from __future__ import annotations

import json

import pytest
from pulumi.runtime import config as runtime_config

import pulumi

from components.stack_config import CHECKPOINT_READ_ATTEMPTS, read_last_outputs, read_stack_config
from tests.unit.sample import sample


@pytest.fixture
def stack_config(monkeypatch):
    def set_values(values: dict):
        # The language host hands config over both ways: the runtime map and PULUMI_CONFIG.
        flat = {f"kafka-tls:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
        runtime_config.set_all_config(flat)
        monkeypatch.setenv("PULUMI_CONFIG", json.dumps({**flat, "other-ns:key": "x"}))

    yield set_values
    runtime_config.set_all_config({})


def test_structured_and_text_values_come_back_as_given(stack_config):
    raw = sample()
    stack_config(raw)
    values, problems = read_stack_config()
    assert problems == []
    assert values == raw


def test_a_password_that_looks_like_json_stays_text(stack_config):
    stack_config(sample(keystorePassword="{not-json", truststorePassword="[also-not"))
    values, problems = read_stack_config()
    assert problems == []
    assert values["keystorePassword"] == "{not-json" and values["truststorePassword"] == "[also-not"


def test_empty_values_count_as_unset(stack_config):
    stack_config(sample(serverBaseFile="", connectWorkers=""))
    values, problems = read_stack_config()
    assert "serverBaseFile" not in values and "connectWorkers" not in values and problems == []


def test_a_structured_key_with_text_is_one_problem_named_by_key(stack_config):
    stack_config(sample(tls="SSL", brokers="[broker-1"))
    _, problems = read_stack_config()
    assert len(problems) == 2
    assert problems[0].startswith("kafka-tls:brokers: not a list or map")
    assert problems[1].startswith("kafka-tls:tls: not a list or map")


def test_a_misspelt_key_is_a_problem(stack_config):
    stack_config({**sample(), "brokerz": []})
    _, problems = read_stack_config()
    assert problems == ["kafka-tls:brokerz: unknown key (a typo?); see the README's config reference"]


class FakeInvoke:
    """pulumi.runtime.invoke's stand-in: fails with the given errors, then returns outputs."""

    def __init__(self, errors, outputs):
        self.errors, self.outputs, self.calls = list(errors), outputs, []

    def __call__(self, token, args):
        self.calls.append((token, args))
        if self.errors:
            raise self.errors.pop(0)
        return type("InvokeResult", (), {"value": {"outputs": self.outputs}})()


TORN = Exception("invoke of pulumi:pulumi:readStackOutputs failed: invocation of "
                 "pulumi:pulumi:readStackOutputs returned an error: failed to load checkpoint: EOF")


def test_last_outputs_read_again_after_a_torn_checkpoint():
    invoke = FakeInvoke([TORN, TORN], {"ca_rotation": {"phase": "steady"}})
    pauses = []
    assert read_last_outputs(invoke, pauses.append) == {"ca_rotation": {"phase": "steady"}}
    assert len(invoke.calls) == 3 and len(pauses) == 2
    token, args = invoke.calls[0]
    assert token == "pulumi:pulumi:readStackOutputs" and args["name"].endswith("/" + pulumi.get_stack())


def test_last_outputs_give_up_after_the_last_attempt_and_on_other_errors():
    invoke = FakeInvoke([TORN] * CHECKPOINT_READ_ATTEMPTS, {})
    with pytest.raises(Exception, match="failed to load checkpoint: EOF"):
        read_last_outputs(invoke, lambda _: None)
    assert len(invoke.calls) == CHECKPOINT_READ_ATTEMPTS

    denied = FakeInvoke([Exception("permission denied")], {})
    with pytest.raises(Exception, match="permission denied"):
        read_last_outputs(denied, lambda _: None)
    assert len(denied.calls) == 1


def test_a_first_up_has_no_last_outputs():
    assert read_last_outputs(FakeInvoke([], None), lambda _: None) == {}
