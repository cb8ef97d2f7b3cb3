"""The kafka-tls lab: SSH hosts on loopback addresses running Kafka 4.4.0 (KRaft) and Connect.

    from lab import Lab
    lab = Lab(); lab.up(); lab.ssh("broker-1", "cat /etc/kafka/server.properties"); lab.down()
"""
from .api import HEALTH_TOPIC, Lab, LabError
from . import config

__all__ = ["Lab", "LabError", "HEALTH_TOPIC", "config"]
