"""python -m labstack {up|preview|destroy|verify}: the kafka-tls program against the lab."""

from __future__ import annotations

import argparse
import sys
import time

from pulumi import automation as auto
from rich.console import Console
from rich.table import Table

from lab import Lab
from labstack.progress import RolloutProgress
from labstack.stack import LabStack
from labstack.verify import verify_cluster

console = Console(width=120)


def print_table(stack: LabStack, outputs: dict) -> bool:
    addresses = {h["name"]: h["address"] for h in stack.lab.inventory()["hosts"]}
    table = Table(title=f"SSL listeners of stack '{stack.name}'")
    for column in ("host", "dialled as", "port", "TLS handshake", "chain valid", "SAN matches", "days to expiry"):
        table.add_column(column)
    checks = verify_cluster(outputs, addresses)
    mark = lambda ok: "[green]yes[/]" if ok else "[red]NO[/]"  # noqa: E731
    for c in checks:
        table.add_row(c.host, c.target, str(c.port), mark(c.handshake), mark(c.chain_valid), mark(c.san_matches), str(c.days_to_expiry))
    console.print(table)
    return all(c.handshake and c.chain_valid and c.san_matches for c in checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labstack")
    parser.add_argument("action", choices=["up", "preview", "destroy", "verify"])
    parser.add_argument("--stack", default="lab")
    args = parser.parse_args(argv)
    lab = Lab()
    stack = LabStack(lab, args.stack)
    started = time.monotonic()
    if args.action == "up":
        lab.up()
        log = lab.dir / f"pulumi-up-{args.stack}.log"
        console.print(f"[bold]pulumi up[/] on stack '{args.stack}': a line per host's step; the engine's output in {log}")
        with log.open("w") as engine_output:
            try:
                result = stack.up(on_output=lambda line: print(line, file=engine_output, flush=True),
                                  on_event=RolloutProgress(console.print))
            except auto.CommandError:
                console.print(f"[red]the up failed[/]; the end of {log}:")
                print("".join(log.read_text().splitlines(keepends=True)[-40:]))
                return 1
        console.print("restart_plan:\n  " + "\n  ".join(result.outputs["restart_plan"].value))
        outputs = {k: v.value for k, v in result.outputs.items()}
    elif args.action == "preview":
        stack.preview(on_output=print)
    elif args.action == "destroy":
        stack.destroy(on_output=print)
        return 0
    if args.action == "verify":
        outputs = stack.outputs()
    ok = args.action == "preview" or print_table(stack, outputs)
    console.print(f"done in {time.monotonic() - started:.0f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
