# kafka-tls: the two commands are `make lab-up` (the main job) and `make test` (the tests).
# Each sets up everything it needs on a fresh machine: the Python venv, the Pulumi toolchain
# built from Go modules (cached by pinned versions), sshd and Kafka for the lab.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: venv tools toolchain lint test unit-test lab-up lab-down doctor

venv: .venv/.installed policy/.venv/.installed
.venv/.installed: requirements.txt requirements-dev.txt
	python3 -m venv .venv
	.venv/bin/pip install -q -r requirements-dev.txt
	touch $@

# The policy pack's own venv (policy/PulumiPolicy.yaml names it): pulumi-policy pins protobuf and
# grpcio more tightly than the program's venv does, so it does not share that one.
policy/.venv/.installed: policy/requirements.txt
	python3 -m venv policy/.venv
	policy/.venv/bin/pip install -q -r policy/requirements.txt
	touch $@

# shellcheck: the unit tests lint every host script with it (tests/unit/test_shellcheck.py);
# strace: they watch the doctor's script write nothing (tests/unit/test_doctor.py).
tools:
	command -v shellcheck >/dev/null || (apt-get update -qq && apt-get install -y -qq shellcheck)
	command -v strace >/dev/null || (apt-get update -qq && apt-get install -y -qq strace)

toolchain:
	toolchain/build.sh >/dev/null

# The main job: bring the lab up and secure it with `pulumi up`, then print the verification table.
lab-up: venv toolchain
	$(PY) -m labstack up

lab-down: venv
	$(PY) -m lab down

# Day 2: the read-only doctor on the lab stack (README "Day 2"); `make doctor ARGS=--json` for JSON,
# `ARGS='--host broker-1'` for one host, `ARGS='--stack NAME'` for another stack aimed at the lab.
doctor: venv toolchain
	$(PY) -m doctor.lab $(ARGS)

# ruff (lint and format, ruff.toml) and mypy (mypy.ini) over the program's own code, the PR summary
# (review/) and the policy pack (policy/; its rules are plain Python, the pack's SDK is in its own venv).
lint: venv
	.venv/bin/ruff check components doctor __main__.py review policy
	.venv/bin/ruff format --check components doctor __main__.py review policy
	.venv/bin/mypy -p components -p review -p doctor
	.venv/bin/mypy policy/rules.py

# The tests: lint, then unit tests (pure functions, mocks, host scripts), the lab tests and the
# end-to-end tests, half on the lab and half on a second lab of IPv6 hosts (tests/run.sh). The
# toolchain the end-to-end tests need builds in the background meanwhile (tests/conftest.py).
test: venv tools lint
	tests/run.sh

unit-test: venv tools lint
	$(PY) -m pytest tests/unit
