"""Accounts as on production hosts: the operator logs in and sudoes, the JVMs run as the service user."""
import pwd
import re
import subprocess
from pathlib import Path

import pytest

from lab import config as C
from lab.api import sudo_bash

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("host", [h.name for h in C.HOSTS])
def test_operator_logs_in_with_the_lab_key_and_sudoes_without_password(lab, host):
    r = lab.ssh(host, f"id -un; id -u; {sudo_bash('id -u')}", user=C.OPERATOR_USER, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [C.OPERATOR_USER, str(pwd.getpwnam(C.OPERATOR_USER).pw_uid), "0"]


def test_operator_login_as_a_plain_ssh_client(lab):
    """What a stack does: ssh -i <lab key> with the lab's known_hosts, nothing else."""
    inv = lab.inventory()
    b1 = next(h for h in inv["hosts"] if h["short_name"] == "broker-1")
    r = subprocess.run(["ssh", "-F", "/dev/null", "-i", inv["ssh_private_key"], "-o", "BatchMode=yes",
                        "-o", f"UserKnownHostsFile={inv['known_hosts']}", f"{b1['ssh_user']}@{b1['name']}",
                        sudo_bash("id -u")], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert (r.returncode, r.stdout.strip()) == (0, "0"), r.stderr


def test_service_script_needs_root(lab):
    r = lab.ssh("broker-2", f"{C.SERVICE_SCRIPT} restart kafka", user=C.OPERATOR_USER)
    assert r.returncode == 4
    assert "needs root" in r.stderr and "sudo" in r.stderr
    r = lab.ssh("broker-2", sudo_bash(f"{C.SERVICE_SCRIPT} status kafka"), user=C.OPERATOR_USER)
    assert r.returncode == 0, r.stdout + r.stderr


README = Path(__file__).resolve().parents[2] / "README.md"


def _rule_lines(text: str) -> list[str]:
    """A sudoers text without its comments and blank lines."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def readme_sudoers_rule() -> list[str]:
    """The sudoers entry README.md tells admins to write: the one fenced block with a NOPASSWD rule."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", README.read_text(), re.M | re.S)
    rules = [_rule_lines(b) for b in blocks if "NOPASSWD" in b]
    assert len(rules) == 1, f"README.md has {len(rules)} sudoers blocks"
    return rules[0]


def test_the_sudoers_rule_in_force_is_the_readmes(lab):
    """The lab grants the operator exactly what README.md tells admins to grant, and so proves it is enough."""
    rule = readme_sudoers_rule()
    assert len(rule) == 1 and rule[0].startswith(f"{C.OPERATOR_USER} ") and "/bin/bash -c" in rule[0], rule
    r = lab.ssh("broker-1", f"cat {C.SUDOERS_FILE}")
    assert r.returncode == 0, r.stderr
    assert _rule_lines(r.stdout) == rule
    # only what the rule allows: a command straight through sudo is refused, the same through bash -c runs
    refused = lab.ssh("connect-1", "sudo -n true", user=C.OPERATOR_USER)
    assert refused.returncode == 1 and "password is required" in refused.stderr, refused.stderr
    refused = lab.ssh("connect-1", "sudo -n id -u", user=C.OPERATOR_USER)
    assert (refused.returncode, refused.stdout) == (1, ""), refused.stdout + refused.stderr
    allowed = lab.ssh("connect-1", "sudo -n -- /bin/bash -c true", user=C.OPERATOR_USER)
    assert allowed.returncode == 0, allowed.stderr
    allowed = lab.ssh("connect-1", sudo_bash("id -u"), user=C.OPERATOR_USER)
    assert (allowed.returncode, allowed.stdout.strip()) == (0, "0"), allowed.stderr


@pytest.mark.parametrize("host", [h.name for h in C.HOSTS])
def test_jvm_runs_as_the_service_user(lab, host):
    pid = lab.service_pid(host)
    assert pid, f"no {C.find_host(host).service} on {host}"
    r = subprocess.run(["ps", "-o", "user=,group=", "-p", str(pid)], capture_output=True, text=True)
    assert r.stdout.split() == [C.SERVICE_USER, C.SERVICE_USER]


@pytest.mark.parametrize("host", [h.name for h in C.HOSTS])
def test_folders_and_their_owners(lab, host):
    u = C.SERVICE_USER
    r = lab.ssh(host, "stat -c '%n %U:%G %a' /etc/kafka /var/lib/kafka /var/lib/kafka/run /var/log/kafka; "
                      f"find /var/lib/kafka /var/log/kafka ! -user {u} -o ! -group {u} | head; "
                      "test -L /opt/kafka/libs && echo libs-is-a-symlink; mountpoint -q /opt/kafka/libs || echo no-mount; "
                      f"setpriv --reuid={u} --regid={u} --init-groups sh -c "
                      f"'cat {lab.config_file(C.find_host(host))} >/dev/null && ls /opt/kafka/libs | wc -l'")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:4] == ["/etc/kafka root:root 755", f"/var/lib/kafka {u}:{u} 755",
                         f"/var/lib/kafka/run {u}:{u} 755", f"/var/log/kafka {u}:{u} 755"]
    assert int(lines[4]) > 50 and len(lines) == 5, lines  # nothing foreign-owned, libs bound, readable by kafka
