"""Runs last (file name): `down` leaves nothing behind, then the lab comes back for the session."""
import json
import os
import socket
from pathlib import Path

import pytest

from lab import config as C, procs

pytestmark = pytest.mark.lab


def _port_open(addr, port):
    try:
        with socket.create_connection((addr, port), timeout=1):
            return True
    except OSError:
        return False


def test_down_leaves_nothing_then_up_again(lab):
    namespaces = lab.namespaces()
    assert len(namespaces) == len(C.HOSTS)
    pids = lab.processes()
    assert len(pids) >= 2 * len(C.HOSTS)  # an sshd and a JVM per host at least
    created = json.loads((lab.dir / "created-paths.json").read_text())
    lab_dir = str(lab.dir)

    lab.down()

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

    lab.up()
    lab.roundtrip()
    assert lab.service("broker-1", "status").returncode == 0
