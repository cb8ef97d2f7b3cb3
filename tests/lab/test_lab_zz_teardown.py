"""Runs last (file name): `down` leaves nothing behind, then the lab comes back for the session."""
import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from lab import config as C, postgres, procs

pytestmark = pytest.mark.lab


def _port_open(addr, port):
    try:
        with socket.create_connection((addr, port), timeout=1):
            return True
    except OSError:
        return False


def _getent(database, name):
    return subprocess.run(["getent", database, name], capture_output=True).returncode == 0


def test_down_leaves_nothing_then_up_again(lab):
    namespaces = lab.namespaces()
    assert len(namespaces) == len(C.HOSTS)
    pids = lab.processes()
    assert len(pids) >= 2 * len(C.HOSTS)  # an sshd and a JVM per host at least
    created = json.loads((C.shared_dir() / "created-paths.json").read_text())
    accounts = json.loads((C.shared_dir() / "created-accounts.json").read_text()) \
        if (C.shared_dir() / "created-accounts.json").exists() else []
    lab_dir = str(lab.dir)
    state = lab.state_server()  # the e2e tests' PostgreSQL: down removes it too
    assert _port_open(postgres.ADDRESS, postgres.PORT)

    lab.down()

    assert not _port_open(postgres.ADDRESS, postgres.PORT) and not state.dir.exists()

    assert [p for p in pids if procs.alive(p)] == []
    assert procs.lab_pids(lab_dir, namespaces) == []
    assert not any(procs.mnt_ns(p) in namespaces for p in procs.pids())
    # no mount anywhere refers to the lab's state folder
    for p in procs.pids():
        try:
            text = Path(f"/proc/{p}/mountinfo").read_text()
        except OSError:
            continue
        assert lab_dir not in text, f"pid {p} still has a lab mount"
    assert "kafka-tls-lab" not in Path("/etc/hosts").read_text()
    assert not lab.dir.exists()
    assert [c for c in created if os.path.exists(c)] == []
    for h in C.HOSTS:
        assert not _port_open(h.address, 22), h.name
    assert C.libs_dir().is_dir()  # the Maven cache stays
    # exactly what up created is gone (on a machine where up made them: all of these)
    for kind, name in accounts:
        if kind == "file":
            assert not os.path.exists(name)
        else:
            assert _getent("group" if kind == "group" else "passwd", name) is False, (kind, name)

    lab.up()
    lab.roundtrip()
    assert lab.service("broker-1", "status").returncode == 0
    for h in C.HOSTS:  # a fresh lab: nothing under /etc/kafka but the properties file
        r = lab.ssh(h.name, "ls -A /etc/kafka")
        assert r.stdout.split() == [lab.config_file(h).rsplit("/", 1)[1]], h.name
    for kind, name in [("passwd", C.OPERATOR_USER), ("passwd", C.SERVICE_USER), ("group", C.SERVICE_USER)]:
        assert _getent(kind, name), name
    assert os.path.exists(C.SUDOERS_FILE)
