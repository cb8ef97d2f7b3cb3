"""One host's key pair, CA-signed certificate and keystore, in either key custody mode.

- ``host`` custody: keytool (openssl for PEM) makes the key on the host; the CSR comes back on
  the command's stdout; pulumi-tls signs it; the chain is imported back. The key never leaves
  the host and never enters the state.
- ``stack`` custody: pulumi-tls makes key, CSR and certificate; the key and chain go to the host
  on a secret stdin and the keystore is built there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_tls as tls
from pulumi_command import remote

from components.cert_info import digest, not_after, sha256_fingerprint
from components.certificate_authority import HOURS_PER_DAY, CertificateAuthority, key_args
from components.config import KeyCustody
from components.host_command import HostAccess, host_command
from components.plan import HostPlan
from components.scripts import (
    import_chain_script,
    keypair_delete_script,
    keypair_script,
    remove_files_script,
    stack_key_mark,
    stack_keystore_script,
)

# Both: brokers serve TLS and dial each other (inter-broker), Connect workers dial brokers.
HOST_CERT_USES = ["digital_signature", "key_encipherment", "server_auth", "client_auth"]


@dataclass(frozen=True)
class HostCertificateArgs:
    host: HostPlan
    """Key spec and store locations of the host."""
    custody: KeyCustody
    """Where the private key is made and kept."""
    access: HostAccess
    """SSH to the host (host key pinned), as root through sudo or a root login."""
    ca: CertificateAuthority
    keystore_password: pulumi.Output[str]
    """A secret."""
    owner: str
    """user:group owning the keystore; empty keeps the SSH user's."""
    early_renewal_days: int


class HostCertificate(pulumi.ComponentResource):
    """A CA-signed certificate for one host, in a keystore on that host."""

    cert_pem: pulumi.Output[str]
    """The host certificate (public)."""
    sha256_fingerprint: pulumi.Output[str]
    not_after: pulumi.Output[str]
    """Expiry, ISO 8601 UTC."""
    keystore_digest: pulumi.Output[str]
    """Changes whenever the keystore content the service reads changes (a restart trigger)."""
    keystore_ready: pulumi.Resource
    """The last resource that writes the keystore: depend on it before restarting."""

    def __init__(self, name: str, args: HostCertificateArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kafka-tls:index:HostCertificate", name, None, opts)
        self._child = pulumi.ResourceOptions(parent=self)
        if args.custody is KeyCustody.HOST:
            csr_pem, chain_stdin, script, keypair = self._key_on_host(name, args)
        else:
            csr_pem, chain_stdin, script, keypair = self._key_in_stack(name, args)
        cert = tls.LocallySignedCert(
            f"{name}-cert",
            cert_request_pem=csr_pem,
            ca_private_key_pem=args.ca.private_key_pem,
            ca_cert_pem=args.ca.cert_pem,
            validity_period_hours=args.host.key.validity_days * HOURS_PER_DAY,
            early_renewal_hours=args.early_renewal_days * HOURS_PER_DAY,
            allowed_uses=HOST_CERT_USES,
            set_subject_key_id=True,
            opts=args.ca.issuing_options(self._child),
        )
        chain_ca = args.ca.chain_ca(cert.cert_pem)
        loc = args.host.locations
        self.keystore_ready = host_command(
            f"{name}-keystore",
            args.access,
            script,
            stdin=pulumi.Output.secret(chain_stdin(cert.cert_pem, chain_ca)),
            delete=remove_files_script(loc.keystore, stack_key_mark(loc)),
            logging=remote.Logging.NONE,
            opts=pulumi.ResourceOptions(parent=self, depends_on=keypair),
        )
        self.cert_pem = cert.cert_pem
        self.keystore_digest = pulumi.Output.all(cert.cert_pem, chain_ca).apply(lambda v: digest(*v))
        self.sha256_fingerprint = cert.cert_pem.apply(sha256_fingerprint)
        self.not_after = cert.cert_pem.apply(not_after)
        self.register_outputs(
            {"cert_pem": self.cert_pem, "sha256_fingerprint": self.sha256_fingerprint, "not_after": self.not_after}
        )

    def _key_on_host(self, name: str, args: HostCertificateArgs):
        loc, spec = args.host.locations, args.host.key
        keypair = host_command(
            f"{name}-keypair",
            args.access,
            keypair_script(spec, loc, args.owner),
            stdin=pulumi.Output.secret(pulumi.Output.concat(args.keystore_password, "\n")),
            # Only while this key pair is the keystore's (its CSR is there): after a move to stack
            # custody the keystore holds the stack's key, written before this delete runs.
            delete=keypair_delete_script(spec, loc),
            # A new SAN, algorithm or path means a new key pair; the old one is removed first.
            triggers=[spec.keytool_san, spec.algorithm.value, spec.rsa_bits, loc.keystore, loc.store_type.value],
            logging=remote.Logging.NONE,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )

        def chain(cert_pem: pulumi.Output[str], ca_pem: pulumi.Output[str]) -> pulumi.Output[str]:
            return pulumi.Output.all(args.keystore_password, cert_pem, ca_pem).apply(
                lambda v: f"{v[0]}\n{v[1].strip()}\n{v[2].strip()}\n"
            )

        return keypair.stdout, chain, import_chain_script(spec.alias, loc, args.owner), [keypair]

    def _key_in_stack(self, name: str, args: HostCertificateArgs):
        loc, spec = args.host.locations, args.host.key
        key = tls.PrivateKey(f"{name}-key", **key_args(spec.algorithm, spec.rsa_bits), opts=self._child)
        csr = tls.CertRequest(
            f"{name}-csr",
            private_key_pem=key.private_key_pem_pkcs8,
            subject={"common_name": spec.common_name},
            dns_names=list(spec.dns_names),
            ip_addresses=list(spec.ip_addresses),
            opts=self._child,
        )

        def key_and_chain(cert_pem: pulumi.Output[str], ca_pem: pulumi.Output[str]) -> pulumi.Output[str]:
            return pulumi.Output.all(args.keystore_password, key.private_key_pem_pkcs8, cert_pem, ca_pem).apply(
                lambda v: f"{v[0]}\n{v[1].strip()}\n{v[2].strip()}\n{v[3].strip()}\n"
            )

        return csr.cert_request_pem, key_and_chain, stack_keystore_script(spec.alias, loc, args.owner), []
