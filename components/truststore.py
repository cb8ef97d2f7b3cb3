"""The truststore on one host: the trusted CAs (two during a CA rotation), built there with keytool,
and the same CAs as a PEM bundle beside it (for the Connect gate over https)."""

from __future__ import annotations

import pulumi
from pulumi_command import remote

from components.host_command import HostAccess, host_command
from components.properties import StoreLocations
from components.scripts import remove_files_script, truststore_script


def truststore(
    name: str,
    locations: StoreLocations,
    access: HostAccess,
    ca_bundle_pem: pulumi.Input[str],
    truststore_password: pulumi.Output[str],
    owner: str,
    opts: pulumi.ResourceOptions,
) -> remote.Command:
    """The command that (re)builds the truststore; destroy removes it. Depend on it before restarting."""
    stdin = pulumi.Output.all(truststore_password, ca_bundle_pem).apply(lambda v: f"{v[0]}\n{v[1].strip()}\n")
    return host_command(
        name,
        access,
        truststore_script(locations, owner),
        stdin=pulumi.Output.secret(stdin),
        delete=remove_files_script(locations.truststore, locations.ca_pem),
        logging=remote.Logging.NONE,
        opts=opts,
    )
