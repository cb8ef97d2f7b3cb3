"""python -m lab {up|down|status|reset [--layout default|named]|inventory|ssh HOST CMD...}"""
from __future__ import annotations

import argparse
import json
import sys

from . import config as C
from .api import Lab, LabError


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab", description="kafka-tls lab: SSH hosts running Kafka")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="create or resume the lab and wait until it serves")
    sub.add_parser("down", help="stop everything and remove the lab")
    sub.add_parser("status", help="what is running")
    rp = sub.add_parser("reset", help="back to the pristine plaintext configs (restarts services)")
    rp.add_argument("--layout", choices=C.LAYOUTS, default="default",
                    help="listener layout of the brokers' pristine files (default: %(default)s)")
    sub.add_parser("inventory", help="print inventory.json")
    sp = sub.add_parser("ssh", help="run a command on a lab host")
    sp.add_argument("host")
    sp.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    lab = Lab()
    try:
        if a.cmd == "up":
            lab.up()
        elif a.cmd == "down":
            lab.down()
        elif a.cmd == "status":
            print(json.dumps(lab.status(), indent=2))
        elif a.cmd == "reset":
            lab.reset_plaintext(a.layout)
        elif a.cmd == "inventory":
            print(json.dumps(lab.inventory(), indent=2))
        elif a.cmd == "ssh":
            r = lab.ssh(a.host, " ".join(a.command))
            sys.stdout.write(r.stdout)
            sys.stderr.write(r.stderr)
            return r.returncode
    except LabError as e:
        print(f"lab {a.cmd}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
