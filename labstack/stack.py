"""A stack of the kafka-tls project aimed at the lab's hosts."""

from __future__ import annotations

import copy
import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Optional

import yaml
from pulumi import automation as auto

from lab import Lab
from lab import config as C

REPO = Path(__file__).resolve().parent.parent
# The lab stack's secrets (store passwords) are encrypted with this passphrase. It protects
# nothing but throwaway lab hosts; never use it for a real stack.
LAB_PASSPHRASE = "kafka-tls-lab-only"
PROJECT_LINKS = ("Pulumi.yaml", "__main__.py", "components", "labstack", ".venv")
NS = "kafka-tls"


_background_build: Optional[subprocess.Popen] = None
BUILD_LOG = Path(os.environ.get("KAFKA_TLS_CACHE") or Path.home() / ".cache" / "kafka-tls") / "toolchain-build.log"


PLAINTEXT_QUORUM = {"controllerProtocol": "PLAINTEXT"}
"""For tests about something else: the controller listener left plaintext, so a first ``up`` from
plaintext rolls twice rather than three times (the controller's move is the lifecycle module's)."""


def lab_tls(**changes) -> dict:
    """Pulumi.lab.yaml's tls settings with some changed: a stack override replaces the whole key."""
    return {**yaml.safe_load((REPO / "Pulumi.lab.yaml").read_text())["config"][f"{NS}:tls"], **changes}


def start_toolchain_build() -> None:
    """Build (or check) the toolchain in the background, niced, so that a cold build overlaps
    with work that needs no Pulumi (the unit and lab tests); ``toolchain_env`` waits for it."""
    global _background_build
    if _background_build is None:
        BUILD_LOG.parent.mkdir(parents=True, exist_ok=True)
        with open(BUILD_LOG, "wb") as log:
            _background_build = subprocess.Popen(["nice", "-n", "10", str(REPO / "toolchain" / "build.sh")],
                                                 stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


@functools.lru_cache(maxsize=1)
def toolchain_env() -> dict[str, str]:
    """The environment ``toolchain/env.sh`` sets up (builds the toolchain the first time)."""
    if _background_build is not None and _background_build.wait() != 0:
        raise RuntimeError(f"toolchain/build.sh failed ({_background_build.returncode}):\n"
                           + BUILD_LOG.read_text(errors="replace")[-3000:])
    script = f'eval "$({REPO}/toolchain/env.sh --print)" && env -0'
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True, timeout=3600).stdout
    env = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    keys = ("PATH", "PULUMI_HOME", "PULUMI_SKIP_UPDATE_CHECK", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION")
    return {k: env[k] for k in keys if k in env}


class LabStack:
    """One stack (``lab`` or a test variant) of the project, aimed at the lab.

    Args:
        lab: the running lab.
        name: the stack name.
        overrides: top-level ``kafka-tls:*`` values replacing those of ``Pulumi.lab.yaml``
            (e.g. ``{"tls": {...}}``); ``connectWorkers: []`` leaves the worker out.
        source: the program's tree (default: this checkout; an older release's tree to test
            upgrading a stack it made).
        backend_url: where the state lives (default: the lab's file backend; e.g. the lab's
            PostgreSQL, ``lab.state_server().url``).
        secrets: ``kafka-tls:*`` secrets (``--path`` keys, e.g. ``keystorePassword``) replacing
            those of ``Pulumi.lab.yaml``, set as an operator would (on stdin).
    """

    def __init__(self, lab: Lab, name: str = "lab", overrides: Optional[dict[str, Any]] = None,
                 source: Optional[Path] = None, backend_url: Optional[str] = None,
                 secrets: Optional[dict[str, str]] = None):
        self.lab = lab
        self.name = name
        self.overrides = overrides or {}
        self.secrets = secrets or {}
        self.root = lab.dir / "pulumi"
        self.project_dir = self.root / "project"
        self.backend = self.root / "state"
        self.backend_url = backend_url or f"file://{self.backend}"
        self.source, self.links = source or REPO, PROJECT_LINKS

    @property
    def env(self) -> dict[str, str]:
        return {
            **toolchain_env(),
            "PULUMI_BACKEND_URL": self.backend_url,
            "PULUMI_CONFIG_PASSPHRASE": LAB_PASSPHRASE,
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        }

    def _link_project(self) -> None:
        self.project_dir.mkdir(parents=True, exist_ok=True)
        self.backend.mkdir(parents=True, exist_ok=True)
        for name in self.links:
            link = self.project_dir / name
            target = REPO / ".venv" if name == ".venv" else self.source / name
            if link.is_symlink() and link.readlink() != target:
                link.unlink()
            if not link.is_symlink():
                link.symlink_to(target)

    def stack_settings(self) -> dict:
        """Pulumi.lab.yaml with this lab's host keys and the overrides applied."""
        settings = yaml.safe_load((REPO / "Pulumi.lab.yaml").read_text())
        config = settings["config"]
        inventory = {h["short_name"]: h for h in self.lab.inventory()["hosts"]}
        for key, value in self.overrides.items():
            config[f"{NS}:{key}"] = copy.deepcopy(value)
        for group in ("brokers", "connectWorkers"):
            for host in config[f"{NS}:{group}"]:
                if host["name"] in inventory:  # synthetic hosts (benchmarks) keep theirs
                    host["hostKey"] = inventory[host["name"]]["host_key"]
        return self._as_this_lab(settings)

    def _as_this_lab(self, settings: dict) -> dict:
        """Another lab than slot 0 (lab.config.SLOT): its host names and addresses in the settings
        and in copies of the base files they name (written beside the project's links)."""
        if C.SLOT == 0:
            return settings
        settings = yaml.safe_load(C.as_this_lab(yaml.safe_dump(settings, sort_keys=False)))
        config = settings["config"]
        for key in ("serverBaseFile", "connectBaseFile"):
            path = config.get(f"{NS}:{key}")
            if path and path.startswith("labstack/"):  # not a copy already (a test's settings fed back)
                copy_path = Path("lab-bases") / Path(path).name
                (self.project_dir / "lab-bases").mkdir(parents=True, exist_ok=True)
                (self.project_dir / copy_path).write_text(C.as_this_lab((self.source / path).read_text()))
                config[f"{NS}:{key}"] = str(copy_path)
        return settings

    def stack(self) -> auto.Stack:
        """Create or select the stack, with its settings file and SSH key in place."""
        self._link_project()
        settings_file = self.project_dir / f"Pulumi.{self.name}.yaml"
        settings = self.stack_settings()
        # What `doctor --repair` noted in the file stays, as it would in an operator's stack file.
        if settings_file.exists() and "repair" not in self.overrides:
            noted = (yaml.safe_load(settings_file.read_text()) or {}).get("config", {}).get(f"{NS}:repair")
            if noted:
                settings["config"][f"{NS}:repair"] = noted
        settings_file.write_text(yaml.safe_dump(settings, sort_keys=False))
        return self._select()

    def _select(self) -> auto.Stack:
        workspace = auto.LocalWorkspace(
            work_dir=str(self.project_dir),
            env_vars=self.env,
            pulumi_home=self.env.get("PULUMI_HOME"),
            pulumi_command=auto.PulumiCommand(
                root=str(Path(shutil.which("pulumi", path=self.env["PATH"])).parent.parent),
                skip_version_check=True,
            ),
        )
        stack = auto.Stack.create_or_select(self.name, workspace)
        self.configure(stack)
        return stack

    def secret_values(self) -> dict[str, str]:
        """The stack's secrets to set: the lab's SSH key and ``secrets``."""
        return {"sshPrivateKey": Path(self.lab.inventory()["ssh_private_key"]).read_text(), **self.secrets}

    def configure(self, stack: auto.Stack) -> None:
        # The CLI reads the value from stdin when none is given: no secret shows in a process's
        # command line (the Automation API's set_config passes it as an argument).
        for name, value in self.secret_values().items():
            self.pulumi("config", "set", "--secret", "--path", f"{NS}:{name}", input=value)

    def pulumi(self, *args: str, input: Optional[str] = None, env: Optional[dict] = None) -> str:
        """Run the CLI on this stack; returns its stdout."""
        return subprocess.run(
            ["pulumi", *args, "--stack", self.name], cwd=self.project_dir, input=input,
            env={**os.environ, **self.env, **(env or {})}, capture_output=True, text=True, check=True,
        ).stdout

    def preview(self, **kwargs) -> auto.PreviewResult:
        """``pulumi preview``; kwargs go to the Automation API (on_output, on_event, ...).

        PULUMI_SKIP_CHECKPOINTS: the file backend re-serializes the whole in-memory state after
        every step, even in a preview that persists nothing, which makes a preview of N new
        hosts cost O(N^2). Skipping those checkpoints is safe in a preview (README: Scale).
        """
        stack = self.stack()
        stack.workspace.env_vars["PULUMI_SKIP_CHECKPOINTS"] = "true"
        try:
            return stack.preview(diff=True, **kwargs)
        finally:
            del stack.workspace.env_vars["PULUMI_SKIP_CHECKPOINTS"]

    def preview_json(self, *args: str, env: Optional[dict] = None) -> subprocess.CompletedProcess:
        """``pulumi preview --json`` with the engine's events streamed (one JSON object per line:
        steps, the stack's outputs as previewed, diagnostics and policy events); not checked."""
        self.stack()
        return subprocess.run(
            ["pulumi", "preview", "--json", *args, "--stack", self.name],
            cwd=self.project_dir,
            text=True,
            capture_output=True,
            env={
                **os.environ,
                **self.env,
                "PULUMI_ENABLE_STREAMING_JSON_PREVIEW": "true",
                "PULUMI_SKIP_CHECKPOINTS": "true",
                **(env or {}),
            },
        )

    def up(self, **kwargs) -> auto.UpResult:
        return self.stack().up(diff=True, **kwargs)

    def destroy(self, **kwargs) -> auto.DestroyResult:
        return self.stack().destroy(**kwargs)

    def exported_state(self) -> str:
        """``pulumi stack export`` as an operator sees it: secrets stay encrypted (the
        Automation API's export_stack would pass --show-secrets)."""
        self.stack()
        return self.pulumi("stack", "export")

    def outputs(self) -> dict[str, Any]:
        return {k: v.value for k, v in self.stack().outputs().items()}

    def remove(self) -> None:
        """Forget the stack's state (after destroy, or when the lab is new)."""
        stack = self.stack()
        stack.workspace.remove_stack(self.name, force=True)


class ClientConfigStack(LabStack):
    """The example consumer project (examples/client-config), reading a kafka-tls stack's
    outputs through a StackReference on the same backend."""

    def __init__(self, lab: Lab, kafka_stack: str, name: str = "client"):
        super().__init__(lab, name)
        self.kafka_stack = kafka_stack
        self.project_dir = self.root / "client-config"
        self.source, self.links = REPO / "examples" / "client-config", ("Pulumi.yaml", "__main__.py", ".venv")

    def stack_settings(self) -> dict:
        return {"config": {"kafka-client-config:kafkaStack": f"organization/kafka-tls/{self.kafka_stack}"}}

    def configure(self, stack: auto.Stack) -> None:
        pass
