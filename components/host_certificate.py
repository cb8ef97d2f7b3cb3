"""One host's key pair, CA-signed certificate and keystore, in either key custody mode.

- ``host`` custody: keytool (openssl for PEM) makes the key on the host; the CSR comes back on
  the command's stdout; pulumi-tls signs it; the chain is imported back. The key never leaves
  the host and never enters the state.
- ``stack`` custody: pulumi-tls makes key, CSR and certificate; the keystore is built locally
  (keystores.build_keystore) and written to the host from a secret stdin.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Optional

import pulumi

from components.certificate_authority import HOURS_PER_DAY, CertificateAuthority, key_args
from components.config import KeyCustody, StoreType
from components.keystores import build_keystore, digest, not_after, sha256_fingerprint
from components.properties import StoreLocations
from components.providers import Providers
from components.scripts import KeySpec, import_chain_script, keypair_script, pem_key_path, remove_files_script, write_file_script

# Both: brokers serve TLS and dial each other (inter-broker), Connect workers dial brokers.
HOST_CERT_USES = ["digital_signature", "key_encipherment", "server_auth", "client_auth"]


@dataclass(frozen=True)
class HostCertificateArgs:
    spec: KeySpec
    """Key algorithm, subject and SANs."""
    locations: StoreLocations
    """Where the keystore lives on the host."""
    custody: KeyCustody
    """Where the private key is made and kept."""
    connection: dict
    """SSH to the host, its host key pinned."""
    ca: CertificateAuthority
    keystore_password: pulumi.Output[str]
    """A secret."""
    owner: str
    """user:group owning the keystore; empty keeps the SSH user's."""
    early_renewal_days: int
    providers: Providers


def _child(parent: pulumi.Resource, **kwargs) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, **kwargs)


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
        if args.custody is KeyCustody.HOST:
            cert = self._key_on_host(name, args)
        else:
            cert = self._key_in_stack(name, args)
        self.cert_pem = cert.cert_pem
        self.sha256_fingerprint = cert.cert_pem.apply(sha256_fingerprint)
        self.not_after = cert.cert_pem.apply(not_after)
        self.register_outputs(
            {"cert_pem": self.cert_pem, "sha256_fingerprint": self.sha256_fingerprint, "not_after": self.not_after}
        )

    def _sign(self, name: str, args: HostCertificateArgs, csr_pem: pulumi.Input[str]):
        return args.providers.LocallySignedCert(
            f"{name}-cert",
            cert_request_pem=csr_pem,
            ca_private_key_pem=args.ca.private_key_pem,
            ca_cert_pem=args.ca.cert_pem,
            validity_period_hours=args.spec.validity_days * HOURS_PER_DAY,
            early_renewal_hours=args.early_renewal_days * HOURS_PER_DAY,
            allowed_uses=HOST_CERT_USES,
            set_subject_key_id=True,
            opts=_child(self),
        )

    def _key_on_host(self, name: str, args: HostCertificateArgs):
        loc, spec = args.locations, args.spec
        extra = (pem_key_path(loc),) if loc.store_type is StoreType.PEM else ()
        keypair = args.providers.Command(
            f"{name}-keypair",
            connection=args.connection,
            create=keypair_script(spec, loc, args.owner),
            stdin=pulumi.Output.secret(pulumi.Output.concat(args.keystore_password, "\n")),
            delete=remove_files_script(loc.keystore, *extra),
            # A new SAN, algorithm or path means a new key pair; the old one is removed first.
            triggers=[spec.keytool_san, spec.algorithm.value, spec.rsa_bits, loc.keystore, loc.store_type.value],
            logging=args.providers.no_logging,
            opts=_child(self, delete_before_replace=True),
        )
        cert = self._sign(name, args, keypair.stdout)
        chain = pulumi.Output.all(args.keystore_password, cert.cert_pem, args.ca.cert_pem).apply(
            lambda v: f"{v[0]}\n{v[1].strip()}\n{v[2].strip()}\n"
        )
        self.keystore_ready = args.providers.Command(
            f"{name}-import",
            connection=args.connection,
            create=import_chain_script(spec.alias, loc, args.owner),
            stdin=pulumi.Output.secret(chain),
            logging=args.providers.no_logging,
            opts=_child(self, depends_on=[keypair]),
        )
        self.keystore_digest = pulumi.Output.all(cert.cert_pem, args.ca.cert_pem).apply(lambda v: digest(*v))
        return cert

    def _key_in_stack(self, name: str, args: HostCertificateArgs):
        loc, spec = args.locations, args.spec
        key = args.providers.PrivateKey(f"{name}-key", **key_args(spec.algorithm, spec.rsa_bits), opts=_child(self))
        csr = args.providers.CertRequest(
            f"{name}-csr",
            private_key_pem=key.private_key_pem,
            subject={"common_name": spec.common_name},
            dns_names=list(spec.dns_names),
            ip_addresses=list(spec.ip_addresses),
            opts=_child(self),
        )
        cert = self._sign(name, args, csr.cert_request_pem)
        inputs = pulumi.Output.all(key.private_key_pem, cert.cert_pem, args.ca.cert_pem, args.keystore_password)
        keystore_b64 = inputs.apply(
            lambda v: base64.b64encode(
                build_keystore(loc.store_type, spec.alias, v[0], f"{v[1].strip()}\n{v[2].strip()}\n", v[3])
            ).decode()
        )
        # The built store differs byte for byte on every build (random salts), so the command is
        # driven by a digest of its inputs, not by the bytes: no diff unless key, chain or
        # password changed.
        inputs_digest = pulumi.Output.secret(inputs.apply(lambda v: digest(*v)))
        self.keystore_ready = args.providers.Command(
            f"{name}-keystore",
            connection=args.connection,
            create=write_file_script(loc.keystore, "600", args.owner, base64=True),
            stdin=pulumi.Output.secret(keystore_b64),
            delete=remove_files_script(loc.keystore),
            triggers=[inputs_digest],
            logging=args.providers.no_logging,
            opts=_child(self, ignore_changes=["stdin"], delete_before_replace=True),
        )
        self.keystore_digest = pulumi.Output.all(cert.cert_pem, args.ca.cert_pem).apply(lambda v: digest(*v))
        return cert
