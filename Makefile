# kafka-tls: the two commands are `make lab-up` (the main job) and `make test` (the tests).
# Each sets up everything it needs on a fresh machine: the Python venv, the Pulumi toolchain
# built from Go modules (cached by pinned versions), sshd and Kafka for the lab.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: venv tools toolchain lint test unit-test lab-up lab-down

venv: .venv/.installed
.venv/.installed: requirements.txt requirements-dev.txt
	python3 -m venv .venv
	.venv/bin/pip install -q -r requirements-dev.txt
	touch $@

# shellcheck: the unit tests lint every host script with it (tests/unit/test_shellcheck.py).
tools:
	command -v shellcheck >/dev/null || (apt-get update -qq && apt-get install -y -qq shellcheck)

toolchain:
	toolchain/build.sh >/dev/null

# The main job: bring the lab up and secure it with `pulumi up`, then print the verification table.
lab-up: venv toolchain
	$(PY) -m labstack up

lab-down: venv
	$(PY) -m lab down

# ruff (lint and format, ruff.toml) and mypy (mypy.ini) over the program's own code.
lint: venv
	.venv/bin/ruff check components __main__.py
	.venv/bin/ruff format --check components __main__.py
	.venv/bin/mypy -p components

# The tests: lint, then unit tests (pure functions, mocks, host scripts), then the lab and end-to-end
# tests. The toolchain is built in the background meanwhile (tests/conftest.py), for the end-to-end tests.
test: venv tools lint
	$(PY) -m pytest

unit-test: venv tools lint
	$(PY) -m pytest tests/unit
