"""Finding and ending the lab's processes through /proc."""
from __future__ import annotations

import os
import signal
import time
from typing import Iterable


def pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def alive(pid: int) -> bool:
    """True if pid exists and is not a zombie (reaping it if it is our child)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    if state in ("Z", "X"):
        try:
            os.waitpid(pid, os.WNOHANG)
        except OSError:
            pass
        return False
    return True


def mnt_ns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def environ_has(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:
        return False


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def lab_pids(lab_dir: str, namespaces: Iterable[str] = ()) -> list[int]:
    """Processes of the lab: env marker KAFKA_TLS_LAB_DIR=<lab_dir>, or inside one of its mount namespaces."""
    needle = f"KAFKA_TLS_LAB_DIR={lab_dir}".encode()
    ns = set(namespaces)
    me = os.getpid()
    out = []
    for pid in pids():
        if pid == me or not alive(pid):
            continue
        if (ns and mnt_ns(pid) in ns) or environ_has(pid, needle):
            out.append(pid)
    return out


def kill_all(pid_list: Iterable[int], timeout: float = 15.0) -> list[int]:
    """SIGKILL every pid and wait until they are gone. Returns those still alive (should be none)."""
    pl = [p for p in pid_list if p != os.getpid()]
    for p in pl:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    left = [p for p in pl if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [p for p in left if alive(p)]
    return left
