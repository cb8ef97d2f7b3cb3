"""A file kafka-tls writes on a host: properties files, the store-passwords file, keystores.

One remote.Command per file, made from a ``plan.FileSpec``: the content goes in on stdin (a
secret Output for secret files, plain text otherwise so a preview diff shows the changed lines),
written atomically with the spec's mode and owner. ``pulumi destroy`` puts back the file found
before kafka-tls first wrote it, or removes the file.

It is a factory for one command rather than a ComponentResource of its own: a component per file
would double the resources the engine tracks for no extra information in the preview.
"""

from __future__ import annotations

from typing import Optional

import pulumi
from pulumi_command import remote

from components.plan import FileSpec
from components.scripts import remove_files_script, restore_file_script, write_file_script


def host_file(
    name: str,
    spec: FileSpec,
    connection: remote.ConnectionArgs,
    opts: pulumi.ResourceOptions,
    secret_content: Optional[pulumi.Output[str]] = None,
) -> remote.Command:
    """Write ``spec`` to the host.

    Args:
        secret_content: the content when ``spec.secret`` is set (an Output, kept secret).
    """
    if (spec.secret is None) != (secret_content is None):
        raise ValueError(f"{name}: give secret_content exactly when the spec is secret ({spec.path})")
    stdin = pulumi.Output.secret(secret_content) if secret_content is not None else spec.text
    return remote.Command(
        name,
        connection=connection,
        create=write_file_script(spec.path, spec.mode, spec.owner, backup=spec.restore_on_delete),
        delete=restore_file_script(spec.path) if spec.restore_on_delete else remove_files_script(spec.path),
        stdin=stdin,
        # Secret files: nothing of what the command prints reaches the logs.
        logging=remote.Logging.NONE if spec.secret else remote.Logging.STDERR,
        opts=opts,
    )
