"""The truststore on one host: the CA as its one trusted entry, built there with keytool."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components.properties import StoreLocations
from components.providers import Providers
from components.scripts import remove_files_script, truststore_script


@dataclass(frozen=True)
class TruststoreArgs:
    locations: StoreLocations
    connection: dict
    ca_cert_pem: pulumi.Input[str]
    truststore_password: pulumi.Output[str]
    """A secret."""
    owner: str
    providers: Providers


class Truststore(pulumi.ComponentResource):
    """A truststore file with the CA; destroy removes it."""

    file: pulumi.CustomResource
    """The command that writes the file: depend on it before restarting."""

    def __init__(self, name: str, args: TruststoreArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kafka-tls:index:Truststore", name, None, opts)
        stdin = pulumi.Output.all(args.truststore_password, args.ca_cert_pem).apply(lambda v: f"{v[0]}\n{v[1].strip()}\n")
        self.file = args.providers.Command(
            f"{name}-file",
            connection=args.connection,
            create=truststore_script(args.locations, args.owner),
            stdin=pulumi.Output.secret(stdin),
            delete=remove_files_script(args.locations.truststore),
            logging=args.providers.no_logging,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
