"""The doctor's cost per host, and whether it grows linearly and runs hosts in parallel (a
benchmark, not a test).

    .venv/bin/python bench/doctor_bench.py [--rounds 3]

On the lab stack secured by `make lab-up` (the stack `lab`), `--rounds` times each:
- floor: one SSH login to a host running `true` as root (`sudo -n`), the doctor's transport;
- one host: the doctor's read-only script on broker-1 alone, SSH included (`doctor.__main__.run`);
- the lab: every host at once (4: three brokers and the worker), as `make doctor` reads them;
- the lab serially: the same four one after another (the sum the parallel run saves);
- the control side: `evaluate` of 25 and 100 hosts' readings (captured from the lab, names
  changed), no SSH: what the doctor's own process adds per host as the host count grows;
- the roll order's reading (components/roll_order.py), which a preview or up that restarts a
  broker runs: the three brokers at once, against the same SSH floor.
Synthetic hosts cannot be read (they answer no SSH): the host side is measured on the lab's four,
whose scripts share this machine's 2 cores (on real hosts each runs on its own). Nothing is
written to any host.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.roll_order import read_cluster
from components.ssh_read import Login, known_hosts_line, run_as_root
from doctor.__main__ import run
from doctor.checks import evaluate
from doctor.remote import parse_report, report_script
from doctor.stack import PulumiCli, expectations, read_stack, ssh_key_file
from lab import Lab
from labstack import LabStack
from tests.lab.test_lab_roll_order import lab_plan


def timed(fn) -> float:
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def median(label: str, values: list[float]) -> float:
    m = statistics.median(values)
    print(f"{label}: median {m:.2f} s ({', '.join(f'{v:.2f}' for v in values)})")
    return m


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    stack = LabStack(Lab(), "lab")
    if not (stack.project_dir / "Pulumi.lab.yaml").exists():
        raise SystemExit("no lab stack: run `make lab-up` first")
    cli = PulumiCli("lab", str(stack.project_dir), stack.env)
    view = read_stack(cli)
    hosts = expectations(view)
    addresses = {h.name: h.address for h in view.hosts}
    with ssh_key_file(cli) as key:
        known_hosts = key.parent / "known_hosts"
        known_hosts.write_text("".join(known_hosts_line(h.name, h.host_key) for h in view.hosts))
        login = Login(view.ssh.user, view.ssh.port, key, known_hosts, view.ssh.sudo)
        first = hosts[0]

        def floor() -> None:
            r = run_as_root(login, first.name, addresses[first.name], "true", 60)
            assert r.returncode == 0, r.stderr

        def serially() -> None:
            for x in hosts:
                run(view, [x], key)

        t_floor = median("floor: SSH login, `true` as root", [timed(floor) for _ in range(args.rounds)])
        t_one = median(f"one host ({first.name})", [timed(lambda: run(view, [first], key)) for _ in range(args.rounds)])
        t_all = median(f"the lab, {len(hosts)} hosts at once", [timed(lambda: run(view, hosts, key)) for _ in range(args.rounds)])
        t_serial = median(f"the lab, {len(hosts)} hosts one after another", [timed(serially) for _ in range(args.rounds)])
        print(
            f"one host / floor: {t_one / t_floor:.1f}x; all at once / one host: {t_all / t_one:.2f}x; "
            f"serial / at once: {t_serial / t_all:.2f}x"
        )
        # The control side: readings captured once from the lab, then evaluated for many hosts.
        readings = {}
        for x in hosts:
            r = run_as_root(login, x.name, addresses[x.name], report_script(x), 150)
            readings[x.name] = parse_report(r.stdout)
    config, brokers = lab_plan(stack.lab)
    t_order = median(
        "roll order: the brokers read at once", [timed(lambda: read_cluster(config, brokers)) for _ in range(args.rounds)]
    )
    print(f"roll order reading / floor: {t_order / t_floor:.1f}x")
    now = datetime.now(UTC)
    for n in (25, 100):
        many = [dataclasses.replace(hosts[i % len(hosts)], name=f"{hosts[i % len(hosts)].name}-{i}") for i in range(n)]

        def evaluate_all(many: list = many) -> None:
            for x in many:
                evaluate(x, readings[x.name.rsplit("-", 1)[0]], now, 0.0)

        median(f"control side: evaluate {n} hosts' readings", [timed(evaluate_all) for _ in range(args.rounds)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
