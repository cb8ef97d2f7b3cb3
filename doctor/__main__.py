"""python -m doctor --stack NAME [--cwd DIR] [--json] [--host NAME ...] [--repair]

Reads the stack (config and outputs, no secret printed), connects to each host over SSH as the
operator (the stack's key in a 0600 temporary file, the stack's host key pinned, BatchMode), runs
one read-only script there as root and prints, per host and check, ok, the problem and its fix,
or why it could not be checked. Hosts are read in parallel; an unreachable host does not stop
the others. Exit code: 0 all ok, 1 a problem, 2 something could not be checked (and no problem).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Optional

from components.ssh_read import Login, known_hosts_line, run_as_root
from doctor.checks import (
    CHECKS,
    SSH,
    Check,
    HostExpectation,
    Status,
    evaluate,
    exit_code,
    host_status,
    repair_notes,
    unreachable,
)
from doctor.remote import ReportError, parse_report, report_script
from doctor.stack import PulumiCli, StackError, StackView, expectations, read_stack, ssh_key_file

SCHEMA = "kafka-tls-doctor/1"
HOST_TIMEOUT = 150.0  # seconds one host's script may take, SSH included
SSH_CONNECT_TIMEOUT = 10


def ssh_failure(stderr: str, returncode: int, login: Login, host: str, address: str) -> tuple[str, str]:
    """(what happened, what to do) for a host whose report did not come back."""
    text = stderr.strip()
    last = text.splitlines()[-1][:300] if text else f"exit {returncode}"
    target = f"{login.user}@{address}:{login.port}"
    if "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION HAS CHANGED" in text:
        return (
            f"{address} does not present the host key the stack pins for {host} (Host key verification failed)",
            f"if {host} was re-installed, compare its key (`ssh-keyscan -t ed25519 {address}`) with its own "
            f"/etc/ssh/ssh_host_ed25519_key.pub and update its hostKey in the stack config; otherwise find out who answers there",
        )
    if "Permission denied" in text:
        return (
            f"{target} refuses the stack's SSH key ({last})",
            f"authorize the stack's key (kafka-tls:sshPrivateKey) for {login.user} on {host}",
        )
    if returncode == 255:
        return (f"cannot reach {target} over SSH: {last}", f"check that {host} is up, sshd runs and port {login.port} is open")
    if "sudo" in text:
        return (
            f"sudo refused the read-only script on {host}: {last}",
            f"{login.user} needs the sudoers entry of the README (\"The hosts\"), or set ssh.sudo: false for a root login",
        )
    return (f"the script on {host} failed: {last}", "run the doctor again; if it persists, run it with --host and read the error")


def read_host(login: Login, x: HostExpectation, address: str, now: datetime) -> list[Check]:
    started = time.monotonic()
    try:
        done = run_as_root(login, x.name, address, report_script(x), HOST_TIMEOUT)
    except subprocess.TimeoutExpired:
        return unreachable(
            x.name, f"no whole report from {x.name} within {HOST_TIMEOUT:.0f}s", "run the doctor again with --host"
        )
    try:
        reading = parse_report(done.stdout)
    except ReportError as err:
        if done.returncode != 0 or not done.stdout.strip():
            return unreachable(x.name, *ssh_failure(done.stderr, done.returncode, login, x.name, address))
        return unreachable(x.name, f"{x.name}: {err}", "run the doctor again with --host")
    return evaluate(x, reading, now, time.monotonic() - started)


def run(
    view: StackView, hosts: Sequence[HostExpectation], key: Path, now: Optional[datetime] = None, workers: int = 16
) -> dict[str, list[Check]]:
    """Every host's checks, read in parallel (one SSH connection each)."""
    now = now or datetime.now(UTC)
    addresses = {h.name: (h.address, h.host_key) for h in view.hosts}
    directory = Path(tempfile.mkdtemp(prefix="kafka-tls-doctor-known-hosts-"))
    try:
        known_hosts = directory / "known_hosts"
        known_hosts.write_text("".join(known_hosts_line(x.name, addresses[x.name][1]) for x in hosts))
        login = Login(view.ssh.user, view.ssh.port, key, known_hosts, view.ssh.sudo)
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(hosts)))) as pool:
            futures = {x.name: pool.submit(read_host, login, x, addresses[x.name][0], now) for x in hosts}
            return {name: future.result() for name, future in futures.items()}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def report(stack: str, results: dict[str, list[Check]], roles: dict[str, str], seconds: float, error: str = "") -> dict:
    """The JSON report (doctor/schema.json)."""
    every = [c for checks in results.values() for c in checks]
    code = 2 if error else exit_code(every)
    return {
        "schema": SCHEMA,
        "stack": stack,
        "checked_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(seconds, 1),
        "exit_code": code,
        "error": error,
        "summary": {s.value: sum(1 for c in every if c.status is s) for s in Status},
        "hosts": [
            {
                "host": name,
                "role": roles.get(name, ""),
                "status": host_status(checks).value,
                "checks": [c.as_json() for c in checks],
            }
            for name, checks in results.items()
        ],
    }


_CELL = {Status.OK: "[green]ok[/]", Status.PROBLEM: "[bold red]PROBLEM[/]", Status.UNKNOWN: "[yellow]cannot check[/]"}


def print_table(doc: dict, out=None) -> None:
    from rich.console import Console
    from rich.table import Table

    out = out or sys.stdout
    console = Console(file=out, width=None if out.isatty() else 200)
    if doc["error"]:
        console.print(f"[bold red]doctor: cannot check stack '{doc['stack']}'[/]: {doc['error']}", markup=True, highlight=False)
        return
    used = [c for c in CHECKS if any(k["check"] == c for h in doc["hosts"] for k in h["checks"])]
    table = Table(title=f"kafka-tls doctor: stack '{doc['stack']}' ({doc['seconds']}s)")
    table.add_column("host")
    for column in used:
        table.add_column(column)
    for h in doc["hosts"]:
        cells = []
        for column in used:
            statuses = [Status(k["status"]) for k in h["checks"] if k["check"] == column]
            cells.append(_CELL[_worst(statuses)] if statuses else "")
        table.add_row(h["host"], *cells)
    console.print(table)
    for status, title in ((Status.PROBLEM, "Problems"), (Status.UNKNOWN, "Could not check")):
        lines = [(h["host"], k) for h in doc["hosts"] for k in h["checks"] if k["status"] == status.value]
        if not lines:
            continue
        console.print(f"\n[bold]{title}[/]", markup=True)
        for host, k in lines:
            what = k["check"] + (f" [{k['subject']}]" if k["subject"] else "")
            console.print(f"  {host}, {what}: {k['detail']}", markup=False, highlight=False)
            if k["fix"]:
                console.print(f"      fix: {k['fix']}", markup=False, highlight=False)
    summary = doc["summary"]
    console.print(
        f"\n{summary['ok']} ok, {summary['problem']} problem(s), {summary['cannot check']} could not be checked: "
        f"exit {doc['exit_code']}",
        markup=False, highlight=False,
    )  # fmt: skip
    if "repair" in doc:
        noted = doc["repair"]
        console.print(
            "\nNoted for repair in the stack config (kafka-tls:repair): "
            + (", ".join(noted) + ". Now `pulumi preview` (it names them), then `pulumi up`." if noted else "nothing to repair."),
            markup=False, highlight=False,
        )  # fmt: skip


def _worst(statuses: Sequence[Status]) -> Status:
    return Status.PROBLEM if Status.PROBLEM in statuses else Status.UNKNOWN if Status.UNKNOWN in statuses else Status.OK


def main(argv: Optional[Sequence[str]] = None, cli_factory: Callable[..., PulumiCli] = PulumiCli) -> int:
    parser = argparse.ArgumentParser(prog="python -m doctor", description=__doc__.split("\n\n")[1])
    parser.add_argument("--stack", required=True, help="the stack to check")
    parser.add_argument("--cwd", help="the Pulumi project directory (default: the current one)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (doctor/schema.json)")
    parser.add_argument("--host", action="extend", nargs="+", default=[], metavar="NAME", help="check only these hosts")
    parser.add_argument(
        "--repair",
        action="store_true",
        help="note each host with a problem one restart repairs in the stack config (kafka-tls:repair) for the next up",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    cli = cli_factory(args.stack, args.cwd)
    results: dict[str, list[Check]] = {}
    roles: dict[str, str] = {}
    repairs: dict[str, str] = {}
    error = ""
    try:
        view = read_stack(cli)
        hosts = expectations(view, args.host)
        roles = {x.name: x.role for x in hosts}
        with ssh_key_file(cli) as key:
            results = run(view, hosts, key)
        if args.repair:
            # The stack's config file only: the hosts are left to the next `up`, as previewed.
            repairs = repair_notes(results, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
            for host, note in repairs.items():
                cli.note_repair(host, note)
    except StackError as err:
        error = str(err)
    doc = report(args.stack, results, roles, time.monotonic() - started, error)
    if args.repair:
        doc["repair"] = repairs
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_table(doc)
    return int(doc["exit_code"])


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["SSH", "main", "report", "run"]
