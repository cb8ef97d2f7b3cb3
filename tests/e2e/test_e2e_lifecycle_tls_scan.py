"""sslyze scans every broker's TLS listener after `pulumi up`, as a security reviewer would.

The cluster scanned is the one test_e2e_lifecycle.py leaves (it runs just before this module): its
certificates renewed and its CA rotated by `pulumi up`, so the scan also shows that the lifecycle
ends in a compliant cluster. When the lab no longer runs that stack (this module run alone), a
stack of the three brokers goes up on a plaintext lab instead. sslyze (in this process, over
127.0.0.x only) scans broker-1..3.kafka.lab on 9093, sending the broker's name as SNI. Per broker:

- only TLS 1.2 and 1.3 are accepted: the SSL 2.0/3.0 and TLS 1.0/1.1 scans find no suite;
- TLS 1.2 accepts exactly the configured suites (tls.cipherSuites) that fit the host key, none of
  them CBC or with a SHA-1 MAC; TLS 1.3 exactly the configured TLS 1.3 suites;
- Mozilla's "intermediate" configuration (sslyze's checker, Mozilla's guidelines v5.7) holds, but
  for the deviations in ALLOWED_DEVIATIONS, which mirror the README's "Security" section; any
  other issue fails;
- the chain validates to the stack's CA (and to no public one) for the broker's DNS name, and
  for its IP address through the IP SAN.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import pytest
from pulumi import automation as auto
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from sslyze import (
    CertificateInfoExtraArgument,
    ScanCommandAttemptStatusEnum,
    ScanCommandsExtraArguments,
    Scanner,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanResult,
    ServerScanStatusEnum,
)
from sslyze.mozilla_tls_profile.tls_config_checker import (
    SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
    MozillaTlsConfiguration,
    ServerNotCompliantWithTlsConfiguration,
    TlsConfigurationEnum,
    check_server_against_tls_configuration,
)

from lab import config as C
from components.config import TLS13_CIPHER_SUITES, KeyAlgorithm, Tls
from labstack import LabStack
from tests.e2e.helpers import host_properties, openssl_verify, write_ca

pytestmark = [
    pytest.mark.e2e,
    # sslyze's bundled public trust stores hold old roots that cryptography warns about.
    pytest.mark.filterwarnings("ignore:Parsed a serial number which wasn't positive"),
]

ADDRESSES = {b: C.find_host(b).address for b in ("broker-1", "broker-2", "broker-3")}
PORT = 9093
STACK = "e2e-scan"
LIFECYCLE_STACK = "e2e-life"  # tests/e2e/test_e2e_lifecycle.py
README = Path(__file__).resolve().parents[2] / "README.md"
MOZILLA_INTERMEDIATE = MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE)

# What the Mozilla intermediate check may report, and why (the README's "Security" section lists
# the same). Keys are sslyze's issue names; any other issue fails the test.
ALLOWED_DEVIATIONS = {
    "tls_curves": (
        "Java 17 also offers X448 and secp521r1 for the key exchange. Kafka has no setting for the named groups; "
        "only the JVM's -Djdk.tls.namedGroups=x25519,secp256r1,secp384r1 (KAFKA_OPTS in the service's environment, "
        "outside kafka-tls) removes them"
    ),
}
# The only curves the tls_curves deviation may name: Java 17's defaults beyond Mozilla's list.
JAVA_17_EXTRA_CURVES = {"X448", "secp521r1"}


@dataclass
class Scan:
    outputs: dict
    ca_file: Path
    tls: Tls
    """The stack's tls settings, as the program read them."""
    results: dict[str, ServerScanResult]
    """broker name -> its scan."""
    named_groups: dict[str, Optional[list[str]]]
    """broker name -> the -Djdk.tls.namedGroups its JVM runs with, None without."""


def scan_brokers(targets: dict[str, tuple[str, str]], port: int, ca_file: Path) -> dict[str, ServerScanResult]:
    """sslyze, every command Mozilla's check needs, all brokers at once.

    Args:
        targets: broker name -> (DNS name, sent as SNI and validated; IP address dialled).
        ca_file: the stack's CA (PEM), a trust store beside sslyze's public ones.
    """
    extra = ScanCommandsExtraArguments(certificate_info=CertificateInfoExtraArgument(custom_ca_file=ca_file))
    scanner = Scanner()
    scanner.queue_scans([
        ServerScanRequest(
            server_location=ServerNetworkLocation(hostname=host, port=port, ip_address=ip),
            scan_commands=set(SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER),
            scan_commands_extra_arguments=extra,
        )
        for host, ip in targets.values()
    ])
    names = {host: name for name, (host, _) in targets.items()}
    results = {names[r.server_location.hostname]: r for r in scanner.get_results()}
    for name, result in results.items():
        assert result.scan_status is ServerScanStatusEnum.COMPLETED, (
            f"{name}: sslyze could not connect: {result.connectivity_error_trace}"
        )
        for command in SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER:
            attempt = getattr(result.scan_result, command.value)
            assert attempt.status is ScanCommandAttemptStatusEnum.COMPLETED, (
                f"{name}: {command.value} failed ({attempt.error_reason}): {attempt.error_trace}"
            )
    assert set(results) == set(targets)
    return results


def _accepted(result: ServerScanResult, version: str) -> set[str]:
    """The suites a scan accepted: version 'ssl_2_0', 'ssl_3_0', 'tls_1_0' ... 'tls_1_3'."""
    attempt = getattr(result.scan_result, f"{version}_cipher_suites")
    return {s.cipher_suite.name for s in attempt.result.accepted_cipher_suites}


def protocol_problems(result: ServerScanResult, tls: Tls) -> list[str]:
    """Nothing below TLS 1.2; each enabled version accepts a suite."""
    problems = [
        f"{shown} accepts {', '.join(sorted(_accepted(result, version)))}"
        for version, shown in (("ssl_2_0", "SSL 2.0"), ("ssl_3_0", "SSL 3.0"), ("tls_1_0", "TLS 1.0"), ("tls_1_1", "TLS 1.1"))
        if _accepted(result, version)
    ]
    for version, shown in (("tls_1_2", "TLSv1.2"), ("tls_1_3", "TLSv1.3")):
        if (shown in tls.enabled_protocols) != bool(_accepted(result, version)):
            problems.append(f"{shown}: enabled {shown in tls.enabled_protocols}, accepted {sorted(_accepted(result, version))}")
    return problems


def suite_problems(result: ServerScanResult, tls: Tls) -> list[str]:
    """TLS 1.2 accepts exactly the configured suites that fit the host key, none CBC or SHA-1;
    TLS 1.3 exactly the configured TLS 1.3 suites."""
    tls12, tls13 = _accepted(result, "tls_1_2"), _accepted(result, "tls_1_3")
    configured = set(tls.cipher_suites)
    problems = [f"TLS 1.2 accepts {s}: CBC" for s in sorted(tls12) if "_CBC_" in s]
    problems += [f"TLS 1.2 accepts {s}: a SHA-1 MAC" for s in sorted(tls12) if s.endswith("_SHA")]
    problems += [f"TLS 1.2 accepts {s}, which tls.cipherSuites does not list" for s in sorted(tls12 - configured)]
    problems += [f"TLS 1.3 accepts {s}, which tls.cipherSuites does not list" for s in sorted(tls13 - configured)]
    # Every configured suite that can serve is served: the broker really runs on the list.
    key = "_ECDSA_" if tls.key_algorithm is KeyAlgorithm.ECDSA else "_RSA_"
    expected12 = {s for s in configured - set(TLS13_CIPHER_SUITES) if key in s} if "TLSv1.2" in tls.enabled_protocols else set()
    expected13 = configured & set(TLS13_CIPHER_SUITES) if "TLSv1.3" in tls.enabled_protocols else set()
    problems += [f"TLS 1.2 does not accept {s}, which tls.cipherSuites lists" for s in sorted(expected12 - tls12)]
    problems += [f"TLS 1.3 does not accept {s}, which tls.cipherSuites lists" for s in sorted(expected13 - tls13)]
    return problems


def mozilla_problems(result: ServerScanResult, named_groups: Optional[list[str]]) -> list[str]:
    """Mozilla's intermediate check: its issues that are not in ALLOWED_DEVIATIONS, and an allowed
    deviation that goes beyond its reason (or is still there although the JVM flag is set)."""
    try:
        check_server_against_tls_configuration(result, MOZILLA_INTERMEDIATE)
        issues: dict[str, str] = {}
    except ServerNotCompliantWithTlsConfiguration as failed:
        issues = failed.issues
    problems = [f"{key}: {text}" for key, text in issues.items() if key not in ALLOWED_DEVIATIONS]
    curves = result.scan_result.elliptic_curves.result
    extra = {c.name for c in curves.supported_curves or []} - MOZILLA_INTERMEDIATE.tls_curves
    if named_groups is not None and "tls_curves" in issues:
        problems.append(f"tls_curves: {issues['tls_curves']} (the JVM runs with "
                        f"-Djdk.tls.namedGroups={','.join(named_groups)})")
    elif extra - JAVA_17_EXTRA_CURVES:
        problems.append(f"tls_curves: offers {sorted(extra - JAVA_17_EXTRA_CURVES)}, beyond Java 17's defaults")
    return problems


def _verify(leaf: x509.Certificate, intermediates: list[x509.Certificate], ca: x509.Certificate,
            subject: x509.DNSName | x509.IPAddress) -> Optional[str]:
    """None when the chain verifies to ``ca`` for ``subject`` (a DNS name or an IP), else why not."""
    try:
        PolicyBuilder().store(Store([ca])).build_server_verifier(subject).verify(leaf, intermediates)
        return None
    except VerificationError as err:
        return str(err)


def certificate_problems(result: ServerScanResult, host: str, ip: str, ca_file: Path, fingerprint: str) -> list[str]:
    """The chain validates to the stack's CA (and to no public store) for ``host``; the leaf is the
    certificate the stack exported; its IP SAN names ``ip`` and verifies for it."""
    info = result.scan_result.certificate_info.result
    if info.hostname_used_for_server_name_indication != host:
        return [f"sslyze sent SNI {info.hostname_used_for_server_name_indication}, not {host}"]
    if len(info.certificate_deployments) != 1:
        return [f"{len(info.certificate_deployments)} certificate deployments; a broker has one"]
    deployment = info.certificate_deployments[0]
    ours = next(p for p in deployment.path_validation_results if p.trust_store.path == ca_file)
    if not ours.was_validation_successful:
        # sslyze validates for the SNI name, so this also fails when the leaf does not name the host.
        return [f"does not validate to the stack's CA for {host}: {ours.validation_error}"]
    ca = x509.load_pem_x509_certificate(ca_file.read_bytes())
    leaf, intermediates = ours.verified_certificate_chain[0], deployment.received_certificate_chain[1:]
    problems = []
    if ours.verified_certificate_chain[-1] != ca:
        problems.append(f"the chain ends at {ours.verified_certificate_chain[-1].subject.rfc4514_string()}, not the stack's CA")
    if leaf.fingerprint(hashes.SHA256()).hex(":").upper() != fingerprint:
        problems.append("the broker presents another certificate than the stack exported (certificates output)")
    public = [p.trust_store.name for p in deployment.path_validation_results
              if p.trust_store.path != ca_file and p.was_validation_successful]
    if public:
        problems.append(f"validates to public trust stores too ({', '.join(public)}); the stack's CA is private")
    if _verify(leaf, intermediates, ca, x509.DNSName(f"not-{host}")) is None:
        problems.append(f"verifies for not-{host} too: the name check let a wrong name through")
    address = ipaddress.ip_address(ip)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    if address not in sans.get_values_for_type(x509.IPAddress):
        problems.append(f"no IP SAN {ip}; SANs: {sans}")
    elif (why := _verify(leaf, intermediates, ca, x509.IPAddress(address))) is not None:
        problems.append(f"does not verify for its address {ip}: {why}")
    return problems


def jvm_named_groups(lab, broker: str) -> Optional[list[str]]:
    """The -Djdk.tls.namedGroups on the running broker JVM's command line; None without."""
    pid = lab.service_pid(broker)
    assert pid, f"{broker}: the broker is not running"
    args = lab.ssh(broker, f"tr '\\0' '\\n' < /proc/{pid}/cmdline", check=True).stdout.splitlines()
    found = [a.split("=", 1)[1] for a in args if a.startswith("-Djdk.tls.namedGroups=")]
    return found[-1].split(",") if found else None


def secured_outputs(lab, directory: Path) -> dict:
    """The outputs of the stack the lab's brokers serve TLS for: the lifecycle module's, if every
    broker still presents a certificate of its CA, else a brokers-only stack's on a fresh plaintext
    lab. Saves a reset and a first `up` (about five minutes) in a full run."""
    try:
        outputs = LabStack(lab, LIFECYCLE_STACK).outputs()
    except auto.errors.CommandError:
        outputs = {}
    if outputs and all(
        openssl_verify(C.find_host(b).name, PORT, write_ca(outputs, directory), name=C.find_host(b).name).returncode == 0
        for b in ADDRESSES
    ):
        return outputs
    lab.reset_plaintext()
    return {k: v.value for k, v in LabStack(lab, STACK, overrides={"connectWorkers": []}).up().outputs.items()}


@pytest.fixture(scope="module")
def scanned(lab, tmp_path_factory) -> Iterator[Scan]:
    """Brokers on TLS (secured_outputs), every broker scanned (the next module resets)."""
    directory = tmp_path_factory.mktemp("scan")
    outputs = secured_outputs(lab, directory)
    stack = LabStack(lab, STACK)
    ca_file = write_ca(outputs, directory)
    tls = Tls.model_validate(stack.stack_settings()["config"].get("kafka-tls:tls") or {})
    results = scan_brokers({b: (C.find_host(b).name, ip) for b, ip in ADDRESSES.items()}, PORT, ca_file)
    yield Scan(outputs, ca_file, tls, results, {b: jvm_named_groups(lab, b) for b in ADDRESSES})


def test_every_broker_runs_the_configured_suites(lab, scanned):
    for b in ADDRESSES:
        props = host_properties(lab, b, "/etc/kafka/server.properties")
        assert props["ssl.cipher.suites"].split(",") == scanned.tls.cipher_suites, b


def test_only_tls_1_2_and_1_3_are_accepted(scanned):
    problems = {b: protocol_problems(r, scanned.tls) for b, r in scanned.results.items()}
    assert not any(problems.values()), problems


def test_accepted_suites_are_the_configured_ones_none_cbc(scanned):
    problems = {b: suite_problems(r, scanned.tls) for b, r in scanned.results.items()}
    assert not any(problems.values()), problems


def test_mozilla_intermediate_holds_but_for_the_listed_deviations(scanned):
    problems = {b: mozilla_problems(r, scanned.named_groups[b]) for b, r in scanned.results.items()}
    assert not any(problems.values()), problems


def test_the_chain_validates_to_the_stack_ca_by_name_and_by_ip(scanned):
    problems = {
        b: certificate_problems(r, C.find_host(b).name, ADDRESSES[b], scanned.ca_file,
                                scanned.outputs["certificates"][b]["sha256_fingerprint"])
        for b, r in scanned.results.items()
    }
    assert not any(problems.values()), problems


def test_the_allowed_deviations_are_the_readmes():
    """Each deviation the test allows is explained in the README's "Security" section."""
    section = re.search(r"^## Security\n(.*?)(?=^## )", README.read_text(), re.S | re.M)
    assert section, "README.md has no '## Security' section"
    for key in ALLOWED_DEVIATIONS:
        assert f"`{key}`" in section.group(1), key
