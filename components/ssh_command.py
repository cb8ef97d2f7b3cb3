"""A command run on a host over SSH: kafka-tls's own provider (a Pulumi dynamic provider).

It has the shape of pulumi-command's ``remote.Command`` (create / update / delete scripts, stdin,
triggers, a connection with a pinned host key; ``stdout`` and ``stderr`` outputs), so components
use either one unchanged (see providers.py). It exists because pulumi-command's provider binary
cannot be had on every machine (none can be built where the Go proxy does not serve it); this
one runs inside the Pulumi Python SDK and needs only paramiko.

Secrets: the connection (SSH key) and a stdin given as an Output are secret outputs; the
scripts' text never holds a secret (see scripts.py).
"""

from __future__ import annotations

import base64
import io
import uuid
from typing import Any, Optional

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

# Inputs whose change re-runs the command (update); `triggers` replaces the resource instead.
_UPDATE_KEYS = ("create", "update", "stdin", "delete")


class CommandFailed(Exception):
    pass


def _load_private_key(text: str):
    import paramiko

    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise CommandFailed("sshPrivateKey: not an unencrypted OpenSSH/PEM private key (ed25519, ECDSA or RSA)")


def run_over_ssh(connection: dict, script: str, stdin: Optional[str], timeout: float = 900) -> tuple[str, str]:
    """Run ``script`` with bash on the host; the host must present the pinned host key.

    Returns (stdout, stderr). Raises CommandFailed on a non-zero exit, with stderr's tail only
    (scripts write no secret to stderr).
    """
    import paramiko

    key_type, key_b64 = connection["host_key"].split()[:2]
    address, port = connection["host"], int(connection.get("port") or 22)
    client = paramiko.SSHClient()
    known = client.get_host_keys()
    host_id = address if port == 22 else f"[{address}]:{port}"
    known.add(host_id, key_type, paramiko.PKey.from_type_string(key_type, base64.b64decode(key_b64)))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            address, port=port, username=connection.get("user") or "root",
            pkey=_load_private_key(connection["private_key"]), look_for_keys=False, allow_agent=False,
            timeout=30, banner_timeout=30, auth_timeout=30,
        )
    except paramiko.BadHostKeyException as err:
        raise CommandFailed(f"{address}: host key does not match the pinned hostKey ({err.key.get_name()})") from None
    except (paramiko.SSHException, OSError) as err:
        raise CommandFailed(f"{address}:{port}: SSH failed: {err}") from None
    try:
        channel = client.get_transport().open_session(timeout=30)
        channel.settimeout(timeout)
        channel.exec_command("bash -c " + _quote_script(script))
        if stdin:
            channel.sendall(stdin.encode())
        channel.shutdown_write()
        stdout = channel.makefile("rb").read().decode(errors="replace")
        stderr = channel.makefile_stderr("rb").read().decode(errors="replace")
        status = channel.recv_exit_status()
    finally:
        client.close()
    if status != 0:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise CommandFailed(f"{address}: command exited {status}:\n{tail}")
    return stdout, stderr


def _quote_script(script: str) -> str:
    import shlex  # imported here: the provider process unpickles this module's functions

    return shlex.quote(script)


class SshCommandProvider(ResourceProvider):
    """create/update/delete of a Command; the id is random, the host is in the connection."""

    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> CreateResult:
        stdout, stderr = run_over_ssh(props["connection"], props["create"], props.get("stdin"))
        return CreateResult(id_=uuid.uuid4().hex, outs={**props, "stdout": stdout, "stderr": stderr})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if (olds.get("triggers") or []) != (news.get("triggers") or []):
            return DiffResult(changes=True, replaces=["triggers"])
        changed = [k for k in _UPDATE_KEYS if olds.get(k) != news.get(k)]
        # A new SSH key or address is how we reach the host, not what runs there.
        connection_changed = olds.get("connection") != news.get("connection")
        return DiffResult(changes=bool(changed) or connection_changed, replaces=[])

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if any(olds.get(k) != news.get(k) for k in _UPDATE_KEYS):
            stdout, stderr = run_over_ssh(news["connection"], news.get("update") or news["create"], news.get("stdin"))
        else:
            stdout, stderr = olds.get("stdout", ""), olds.get("stderr", "")
        return UpdateResult(outs={**news, "stdout": stdout, "stderr": stderr})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if props.get("delete"):
            run_over_ssh(props["connection"], props["delete"], None)


class Command(pulumi.dynamic.Resource, module="ssh", name="Command"):
    """A script run on a host over SSH (pulumi-command ``remote.Command``'s shape)."""

    stdout: pulumi.Output[str]
    stderr: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        connection: dict,
        create: pulumi.Input[str],
        stdin: Optional[pulumi.Input[str]] = None,
        delete: Optional[str] = None,
        update: Optional[str] = None,
        triggers: Optional[list] = None,
        logging: Any = None,  # accepted for pulumi-command compatibility; output is not logged
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        # A stdin known as plain text is public (a properties file shown in diffs); one that
        # arrives as an Output may carry a password or key and is kept secret.
        secret = ["connection"] + (["stdin"] if isinstance(stdin, pulumi.Output) else [])
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=secret))
        props = {
            "connection": connection,
            "create": create,
            "stdin": stdin,
            "delete": delete,
            "update": update,
            "triggers": triggers,
            "stdout": None,
            "stderr": None,
        }
        super().__init__(SshCommandProvider(), resource_name, props, opts)
