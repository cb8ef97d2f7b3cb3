"""python -m doctor.lab [--stack lab] [doctor's options]: the doctor on a stack aimed at the local
lab (``make doctor``, ``make doctor ARGS=--json``).

It finds the stack as ``python -m labstack`` does (``LabStack(Lab(), name)``): the project folder
of links under the lab's state folder, its file backend and passphrase, the built toolchain's
``pulumi``. It changes nothing there: no settings file written, no config set.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Optional

from doctor.__main__ import main as doctor_main
from doctor.stack import PulumiCli, StackError


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m doctor.lab", add_help=False)
    parser.add_argument("--stack", default="lab")
    args, rest = parser.parse_known_args(argv)
    # Imported by name: lab/ and labstack/ are the lab's tools, outside what `make lint` type-checks.
    lab = importlib.import_module("lab")
    labstack = importlib.import_module("labstack.stack")
    stack = labstack.LabStack(lab.Lab(), args.stack)
    missing = not (stack.project_dir / f"Pulumi.{args.stack}.yaml").exists()
    env = {} if missing else stack.env

    def cli(name: str, cwd: Optional[str]) -> PulumiCli:
        return _NoLabStack(name, cwd) if missing else PulumiCli(name, cwd, env)

    return doctor_main(["--stack", args.stack, "--cwd", str(stack.project_dir), *rest], cli_factory=cli)


class _NoLabStack(PulumiCli):
    """No such stack in the lab (reported like any stack that cannot be read, as text or JSON)."""

    def config(self) -> dict:
        raise StackError(f"no lab stack '{self.stack}' under {self.cwd}: run `make lab-up` first")


if __name__ == "__main__":
    sys.exit(main())
