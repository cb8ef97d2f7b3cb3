"""One component per host: a broker or a Connect worker parents everything kafka-tls makes for
that host (its certificate and keystore, truststore, files, rollout steps), so a preview reads
host by host. The rollout's order runs across hosts (rolling_restart.py); these parents are for
reading and for policies only.

Resources made by an older kafka-tls hung under the cluster (and the steps under the rollout
component): ``moved_from`` gives each child the alias that keeps its identity, so an existing
stack replaces nothing.
"""

from __future__ import annotations

from typing import Optional

import pulumi

from components.plan import Role


class Broker(pulumi.ComponentResource):
    """A broker host."""

    def __init__(self, name: str, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kafka-tls:index:Broker", name, None, opts)
        self.register_outputs({})


class ConnectWorker(pulumi.ComponentResource):
    """A Kafka Connect worker host."""

    def __init__(self, name: str, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kafka-tls:index:ConnectWorker", name, None, opts)
        self.register_outputs({})


def host_component(role: Role, name: str, opts: pulumi.ResourceOptions) -> pulumi.ComponentResource:
    return (Broker if role is Role.BROKER else ConnectWorker)(name, opts)


def moved_from(host: pulumi.Resource, old_parent: pulumi.Resource) -> pulumi.ResourceOptions:
    """Options of a host's child that an older kafka-tls parented to ``old_parent``."""
    return pulumi.ResourceOptions(parent=host, aliases=[pulumi.Alias(parent=old_parent)])
