"""Accounts as on production hosts: the operator logs in and sudoes, the JVMs run as the service user."""
import pwd
import subprocess

import pytest

from lab import config as C

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("host", [h.name for h in C.HOSTS])
def test_operator_logs_in_with_the_lab_key_and_sudoes_without_password(lab, host):
    r = lab.ssh(host, "id -un; id -u; sudo -n id -u", user=C.OPERATOR_USER, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [C.OPERATOR_USER, str(pwd.getpwnam(C.OPERATOR_USER).pw_uid), "0"]


def test_operator_login_as_a_plain_ssh_client(lab):
    """What a stack does: ssh -i <lab key> with the lab's known_hosts, nothing else."""
    inv = lab.inventory()
    b1 = next(h for h in inv["hosts"] if h["short_name"] == "broker-1")
    r = subprocess.run(["ssh", "-F", "/dev/null", "-i", inv["ssh_private_key"], "-o", "BatchMode=yes",
                        "-o", f"UserKnownHostsFile={inv['known_hosts']}", f"{b1['ssh_user']}@{b1['name']}",
                        "sudo -n id -u"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert (r.returncode, r.stdout.strip()) == (0, "0"), r.stderr


def test_service_script_needs_root(lab):
    r = lab.ssh("broker-2", f"{C.SERVICE_SCRIPT} restart kafka", user=C.OPERATOR_USER)
    assert r.returncode == 4
    assert "needs root" in r.stderr and "sudo" in r.stderr
    r = lab.ssh("broker-2", f"sudo -n {C.SERVICE_SCRIPT} status kafka", user=C.OPERATOR_USER)
    assert r.returncode == 0, r.stdout + r.stderr


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
