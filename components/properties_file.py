"""A rendered properties file on a host (server.properties or the Connect worker's), plus the
0600 secrets file its ``${kafkatls:...}`` references read.

The text itself holds no secret, so a preview shows exactly which lines change. The file found on
the host before kafka-tls first wrote it is kept once and put back by ``pulumi destroy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components.properties import StoreLocations, format_properties, secrets_file_values
from components.providers import Providers
from components.scripts import remove_files_script, restore_file_script, write_file_script


@dataclass(frozen=True)
class PropertiesFileArgs:
    path: str
    """Where the service reads its properties."""
    text: str
    """The rendered properties (no secrets in it)."""
    locations: StoreLocations
    connection: dict
    keystore_password: pulumi.Output[str]
    truststore_password: pulumi.Output[str]
    owner: str
    providers: Providers
    after: tuple = ()
    """Resources that must finish before the file is written (the rollout's stages)."""


class PropertiesFile(pulumi.ComponentResource):
    """A managed properties file and the secrets file beside it."""

    file: pulumi.CustomResource
    secrets: pulumi.CustomResource

    def __init__(
        self, kind: str, name: str, args: PropertiesFileArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__(f"kafka-tls:index:{kind}", name, None, opts)
        secrets_text = pulumi.Output.all(args.keystore_password, args.truststore_password).apply(
            lambda v: format_properties(secrets_file_values(v[0], v[1]), header="kafka-tls: store passwords")
        )
        self.secrets = args.providers.Command(
            f"{name}-secrets",
            connection=args.connection,
            create=write_file_script(args.locations.secrets_file, "600", args.owner),
            stdin=pulumi.Output.secret(secrets_text),
            delete=remove_files_script(args.locations.secrets_file),
            logging=args.providers.no_logging,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)),
        )
        self.file = args.providers.Command(
            f"{name}-file",
            connection=args.connection,
            create=write_file_script(args.path, "640", args.owner, backup=True),
            stdin=args.text,
            delete=restore_file_script(args.path),
            logging=args.providers.no_logging,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.secrets]),
        )
        self.register_outputs({})


class BrokerConfig(PropertiesFile):
    """server.properties of one broker."""

    def __init__(self, name: str, args: PropertiesFileArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("BrokerConfig", name, args, opts)


class ConnectWorkerConfig(PropertiesFile):
    """connect-avro-distributed.properties of one Connect worker."""

    def __init__(self, name: str, args: PropertiesFileArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ConnectWorkerConfig", name, args, opts)
