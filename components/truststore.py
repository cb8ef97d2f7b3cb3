"""The truststore on one host: the CA as its one trusted entry, built there with keytool."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
from pulumi_command import remote

from components.properties import StoreLocations
from components.scripts import remove_files_script, truststore_script


@dataclass(frozen=True)
class TruststoreArgs:
    locations: StoreLocations
    connection: remote.ConnectionArgs
    ca_cert_pem: pulumi.Input[str]
    truststore_password: pulumi.Output[str]
    """A secret."""
    owner: str


class Truststore(pulumi.ComponentResource):
    """A truststore file with the CA; destroy removes it."""

    file: remote.Command
    """The command that writes the file: depend on it before restarting."""

    def __init__(self, name: str, args: TruststoreArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kafka-tls:index:Truststore", name, None, opts)
        stdin = pulumi.Output.all(args.truststore_password, args.ca_cert_pem).apply(lambda v: f"{v[0]}\n{v[1].strip()}\n")
        self.file = remote.Command(
            f"{name}-file",
            connection=args.connection,
            create=truststore_script(args.locations, args.owner),
            stdin=pulumi.Output.secret(stdin),
            delete=remove_files_script(args.locations.truststore),
            logging=remote.Logging.NONE,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
