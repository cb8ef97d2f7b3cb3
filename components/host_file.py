"""Files kafka-tls writes on a host, from a ``plan.FileSpec``.

- ``host_file``: one remote.Command per file (the store-passwords file): the content goes in on
  stdin (a secret Output for secret files), written atomically with the spec's mode and owner;
  ``pulumi destroy`` removes it, or puts back the file found before kafka-tls first wrote it.
- ``original_file``: for a file a restart step writes (the properties files are written in the
  same command that restarts the service, so no host reads its new file before its turn): keeps
  the file found there first, and puts it back on ``pulumi destroy``.

It is a factory for one command rather than a ComponentResource of its own: a component per file
would double the resources the engine tracks for no extra information in the preview.
"""

from __future__ import annotations

from typing import Optional

import pulumi
from pulumi_command import remote

from components.host_command import HostAccess, host_command
from components.plan import FileSpec
from components.scripts import keep_original_script, remove_files_script, restore_file_script, write_file_script


def host_file(
    name: str,
    spec: FileSpec,
    access: HostAccess,
    opts: pulumi.ResourceOptions,
    secret_content: Optional[pulumi.Output[str]] = None,
    also_remove: tuple[str, ...] = (),
) -> remote.Command:
    """Write ``spec`` to the host.

    Args:
        secret_content: the content when ``spec.secret`` is set (an Output, kept secret).
        also_remove: more files destroy removes with it (the rollout's markers, which no
            resource of their own writes).
    """
    if (spec.secret is None) != (secret_content is None):
        raise ValueError(f"{name}: give secret_content exactly when the spec is secret ({spec.path})")
    stdin: pulumi.Input[str] | None = pulumi.Output.secret(secret_content) if secret_content is not None else spec.text
    return host_command(
        name,
        access,
        write_file_script(spec.path, spec.mode, spec.owner, backup=spec.restore_on_delete),
        delete=restore_file_script(spec.path) if spec.restore_on_delete else remove_files_script(spec.path, *also_remove),
        stdin=stdin,
        # Secret files: nothing of what the command prints reaches the logs.
        logging=remote.Logging.NONE if spec.secret else remote.Logging.STDERR,
        opts=opts,
    )


def original_file(name: str, spec: FileSpec, access: HostAccess, opts: pulumi.ResourceOptions) -> remote.Command:
    """Keep the original of a file the rollout writes; destroy puts it back."""
    return host_command(
        name,
        access,
        keep_original_script(spec.path),
        delete=restore_file_script(spec.path),
        logging=remote.Logging.STDERR,
        opts=opts,
    )
