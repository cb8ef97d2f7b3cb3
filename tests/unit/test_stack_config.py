"""Reading the stack config through pulumi.Config: odd values do not crash it."""

from __future__ import annotations

import json

import pytest
from pulumi.runtime import config as runtime_config

from components.stack_config import read_stack_config
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
