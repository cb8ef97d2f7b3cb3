"""Which implementation makes the hosts' commands and the certificates.

- ``builtin`` (default): kafka-tls's own dynamic providers (ssh_command.py, tls_resources.py),
  which run inside the Pulumi Python SDK: no provider plugin to download or build, so they
  work on air-gapped machines. This is what the lab and the end-to-end tests run.
- ``pulumi``: Pulumi's pulumi-command and pulumi-tls providers, same arguments and outputs,
  for teams that already run those plugins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Providers:
    """Factories with pulumi-command's and pulumi-tls's signatures."""

    Command: Any
    PrivateKey: Any
    SelfSignedCert: Any
    CertRequest: Any
    LocallySignedCert: Any
    no_logging: Any = None
    """The ``logging`` argument that keeps command output out of the logs."""
    full_logging: Any = None


def providers_for(kind: str) -> Providers:
    if kind == "pulumi":
        import pulumi_tls as tls
        from pulumi_command import remote

        return Providers(
            remote.Command, tls.PrivateKey, tls.SelfSignedCert, tls.CertRequest, tls.LocallySignedCert,
            no_logging=remote.Logging.NONE, full_logging=remote.Logging.STDOUT_AND_STDERR,
        )
    from components import ssh_command, tls_resources

    return Providers(
        ssh_command.Command, tls_resources.PrivateKey, tls_resources.SelfSignedCert,
        tls_resources.CertRequest, tls_resources.LocallySignedCert,
    )
