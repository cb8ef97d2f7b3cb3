"""Reading hosts from the machine that runs kafka-tls, outside pulumi-command (which runs only at
``up``): the system ``ssh`` client with the stack's key alone and each host's pinned key, no
prompt, nothing written back to any known_hosts. The doctor reads its hosts this way, and the
program reads the brokers' rollout order this way at preview and ``up`` (``roll_order``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from components.scripts import as_root

CONNECT_TIMEOUT = 10


def alias(name: str) -> str:
    """The host's name in the temporary known_hosts: port and IPv6 need no special form there."""
    return f"kafka-tls-{name}"


def known_hosts_line(name: str, host_key: str) -> str:
    return f"{alias(name)} {host_key.strip()}\n"


@dataclass(frozen=True)
class Login:
    """How the operator logs in: the account, the port, the key file and the pinned host keys."""

    user: str
    port: int
    key: Path
    known_hosts: Path
    sudo: bool = True


def ssh_argv(login: Login, name: str, address: str) -> list[str]:
    """ssh as the operator to one host: the stack's key only, its host key pinned by alias."""
    return [
        "ssh", "-F", "/dev/null", "-T",
        "-i", str(login.key), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={login.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", f"HostKeyAlias={alias(name)}", "-o", "UpdateHostKeys=no", "-o", "CheckHostIP=no",
        "-o", f"ConnectTimeout={CONNECT_TIMEOUT}", "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3",
        "-o", "LogLevel=ERROR", "-p", str(login.port), "-l", login.user, address,
    ]  # fmt: skip


@contextmanager
def login_files(host_keys: Mapping[str, str], write_key) -> Iterator[tuple[Path, Path]]:
    """(key file, known_hosts) in a 0700 temporary directory, removed afterwards. ``write_key(path)``
    writes the private key into a file made 0600 before anything is in it."""
    directory = Path(tempfile.mkdtemp(prefix="kafka-tls-ssh-"))
    try:
        key = directory / "id"
        os.close(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        write_key(key)
        known_hosts = directory / "known_hosts"
        known_hosts.write_text("".join(known_hosts_line(name, k) for name, k in host_keys.items()))
        yield key, known_hosts
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run_as_root(login: Login, name: str, address: str, script: str, timeout: float) -> subprocess.CompletedProcess:
    """Run a read-only host script as root (as every kafka-tls host command runs). Raises
    ``subprocess.TimeoutExpired`` past ``timeout``."""
    return subprocess.run(
        [*ssh_argv(login, name, address), as_root(script, login.sudo)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="surrogateescape", timeout=timeout,
    )  # fmt: skip
