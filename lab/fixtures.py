"""pytest plugin: `pytest_plugins = ["lab.fixtures"]`.

- `lab` (session): brings the lab up once (fails the tests, never skips, if it cannot), hands out the
  Lab object, and takes it down at session end unless KAFKA_TLS_KEEP_LAB=1. `up` keeps a lab a stack
  secured (PLAINTEXT next to SSL): it is whatever state the main job or an earlier test left.
- `pristine_lab` (per test): the same Lab, in the plaintext state `reset_plaintext()` leaves (default
  layout). It checks first (`Lab.pristine_problem`: file compares, no SSH or Kafka call) and resets only
  when the lab is not pristine, so one reset serves every test after it that leaves the lab as it was.
- On a failed test that uses the lab, every host's /var/log/kafka (and sshd logs) are copied to
  ${KAFKA_TLS_LAB_LOGS:-/tmp/kafka-tls-lab-logs}/<test name>/ and the folder is named in the report.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from .api import Lab, LabError

_state: dict = {}


def logs_root() -> Path:
    return Path(os.environ.get("KAFKA_TLS_LAB_LOGS") or "/tmp/kafka-tls-lab-logs")


def save_logs(lab: Lab, name: str) -> Path:
    dest = logs_root() / re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for h in lab.hosts:
        src = lab.logs_dir(h)
        if src.is_dir():
            shutil.copytree(src, dest / h.short, dirs_exist_ok=True)
        sshd_log = lab.sshd_dir(h) / "sshd.log"
        if sshd_log.exists():
            (dest / h.short).mkdir(exist_ok=True)
            shutil.copyfile(sshd_log, dest / h.short / "sshd.log")
    return dest


@pytest.fixture(scope="session")
def lab():
    the_lab = Lab()
    _state["lab"] = the_lab
    try:
        the_lab.up()
    except Exception as e:  # noqa: BLE001 - any failure to come up fails the tests
        pytest.fail(f"the lab could not come up: {type(e).__name__}: {e}", pytrace=False)
    yield the_lab
    if os.environ.get("KAFKA_TLS_KEEP_LAB") == "1":
        print(f"\nKAFKA_TLS_KEEP_LAB=1: lab left running ({the_lab.dir})")
    else:
        the_lab.down()


@pytest.fixture
def pristine_lab(lab):
    try:
        lab.ensure_pristine()
    except LabError as e:
        pytest.fail(str(e), pytrace=False)
    return lab


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed or "lab" not in getattr(item, "fixturenames", ()):
        return
    the_lab = _state.get("lab") or Lab()
    try:
        dest = save_logs(the_lab, item.nodeid)
        msg = f"lab host logs of {item.nodeid} ({rep.when}) copied to {dest}"
    except Exception as e:  # noqa: BLE001
        msg = f"copying lab host logs failed: {e!r}"
    rep.sections.append(("lab logs", msg))
    tr = item.config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        tr.write_line(f"\n{msg}")
