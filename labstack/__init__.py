"""Runs the kafka-tls program against the local lab with the real Pulumi engine.

The Automation API drives the engine built by ``toolchain/`` on a file backend inside the
lab's folder. Stacks run from a project folder made of links to this repo, so generated stack
files (host keys, the SSH key, test variants) never touch the committed ``Pulumi.lab.yaml``.
"""

from labstack.stack import LAB_PASSPHRASE, PLAINTEXT_QUORUM, LabStack, lab_tls, toolchain_env
from labstack.verify import verify_cluster

__all__ = ["LAB_PASSPHRASE", "PLAINTEXT_QUORUM", "LabStack", "lab_tls", "toolchain_env", "verify_cluster"]
