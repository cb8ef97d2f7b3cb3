"""A rendered properties file on a host (server.properties or the Connect worker's), and the
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
    connection: dict
    owner: str
    providers: Providers
    after: tuple = ()
    """Resources that must finish before the file is written (the rollout's stages)."""


class PropertiesFile(pulumi.ComponentResource):
    """A managed properties file; destroy puts back the one found before."""

    file: pulumi.CustomResource

    def __init__(
        self, kind: str, name: str, args: PropertiesFileArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__(f"kafka-tls:index:{kind}", name, None, opts)
        self.file = args.providers.Command(
            f"{name}-file",
            connection=args.connection,
            create=write_file_script(args.path, "640", args.owner, backup=True),
            stdin=args.text,
            delete=restore_file_script(args.path),
            logging=args.providers.no_logging,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)),
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


@dataclass(frozen=True)
class StorePasswordsArgs:
    locations: StoreLocations
    connection: dict
    keystore_password: pulumi.Output[str]
    truststore_password: pulumi.Output[str]
    owner: str
    providers: Providers


class StorePasswords(pulumi.ComponentResource):
    """The 0600 file Kafka's FileConfigProvider reads the store passwords from."""

    file: pulumi.CustomResource

    def __init__(self, name: str, args: StorePasswordsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kafka-tls:index:StorePasswords", name, None, opts)
        text = pulumi.Output.all(args.keystore_password, args.truststore_password).apply(
            lambda v: format_properties(secrets_file_values(v[0], v[1]), header="kafka-tls: store passwords")
        )
        self.file = args.providers.Command(
            f"{name}-file",
            connection=args.connection,
            create=write_file_script(args.locations.secrets_file, "600", args.owner),
            stdin=pulumi.Output.secret(text),
            delete=remove_files_script(args.locations.secrets_file),
            logging=args.providers.no_logging,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
