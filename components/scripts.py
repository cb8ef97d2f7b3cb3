"""The shell text that runs on the hosts (bash, over SSH).

Pure functions returning scripts. Every value reaches the shell as one word quoted with
``shlex.quote`` (messages too: the quoted text and the shell's own ``"$var"`` parts side by side),
or as an ``int``; the only text taken as shell code is a restart command, which is one by
design. Nothing is spliced into a string another parser reads (awk, grep, an inner ``bash -c``):
values reach those as variables or arguments. Secrets never
appear in the text: a script that needs a password reads it from the first line of its stdin
and hands it to keytool through the environment (``-storepass:env``). Scripts print nothing that
could carry a secret; the only stdout that matters is a CSR (public).
"""

from __future__ import annotations

import hashlib
import ipaddress
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional, Union

from components.config import KeyAlgorithm, StoreType
from components.properties import CA_PEM_FILE_NAME, StoreLocations

q = shlex.quote
CA_ALIAS = "kafka-tls-ca"
PASSWORD_VAR = "KAFKA_TLS_STOREPASS"
# keytool is a short-lived JVM: C1 only and the serial GC halve its CPU (about 1.0 s to 0.55 s
# a run), which is most of the time between `pulumi up` starting and the first restart.
KEYTOOL = "keytool -J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC"
BACKUP_SUFFIX = ".kafka-tls.orig"
# Marks a file that did not exist before kafka-tls wrote it, so delete removes it.
ABSENT_SUFFIX = ".kafka-tls.absent"

_PRELUDE = "set -euo pipefail\numask 077\n"
_READ_PASSWORD = f"IFS= read -r {PASSWORD_VAR} || true\nexport {PASSWORD_VAR}\n"
_TMP_FILE = 'tmp=$(mktemp)\ntrap \'rm -f "$tmp" "$tmp.err"\' EXIT\n'


@dataclass(frozen=True)
class KeySpec:
    """What key pair to make and what to ask the CA for."""

    alias: str
    common_name: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    algorithm: KeyAlgorithm
    rsa_bits: int
    validity_days: int

    @property
    def keytool_san(self) -> str:
        return ",".join([*(f"dns:{n}" for n in self.dns_names), *(f"ip:{a}" for a in self.ip_addresses)])

    @property
    def openssl_san(self) -> str:
        return ",".join([*(f"DNS:{n}" for n in self.dns_names), *(f"IP:{a}" for a in self.ip_addresses)])


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    return True


def host_port(host: str, port: int) -> str:
    """``host:port`` as openssl's ``-connect``, Kafka's ``--bootstrap-server`` and an HTTP Host
    header take it: an IPv6 literal in brackets (``[::1]:9093``), given bare or bracketed."""
    bare = host.removeprefix("[").removesuffix("]")
    if is_ip(bare) and ipaddress.ip_address(bare).version == 6:
        return f"[{bare}]:{int(port)}"
    return f"{host}:{int(port)}"


def _server_name_args(name: str) -> str:
    """openssl s_client's SNI: the host name, or none for an IP literal (RFC 6066 allows only
    host names, and s_client would otherwise send the -connect address)."""
    return "-noservername" if is_ip(name) else f"-servername {q(name)}"


def _storepass_args() -> str:
    return f"-storepass:env {PASSWORD_VAR}"


def _chown(owner: str, *paths: str) -> str:
    return f"chown {q(owner)} {' '.join(q(p) for p in paths)}\n" if owner else ""


def as_root(script: str, sudo: bool) -> str:
    """The command line that runs a host script as root.

    Through ``sudo -n`` for an operator account (-n: fail at once rather than wait for a password
    prompt nobody answers), directly for a root login. The script's text is on sudo's command line
    and in its log: it holds no secret (those come on stdin), and sudo passes stdin through.
    """
    return f"sudo -n -- /bin/bash -c {q(script)}" if sudo else f"/bin/bash -c {q(script)}"


def make_dir_script(path: str, owner: str) -> str:
    """Make the directory kafka-tls keeps key material in: 0750, root-owned, group the service's.

    Missing parents get 0755 (scripts run under umask 077, which would hide them from the
    service). Re-applied on every run, so a directory made by hand is brought in line.
    """
    group = owner.partition(":")[2]
    return (
        f"(umask 022; mkdir -p {q(path.rsplit('/', 1)[0] or '/')})\n"
        + f"mkdir -p {q(path)}\n"
        + (f"chown root:{q(group)} {q(path)}\n" if group else "")
        + f"chmod 750 {q(path)}\n"
    )


def csr_path(spec: KeySpec, loc: StoreLocations) -> str:
    """Where the host keeps its last CSR: named by what it asks for, so a re-run prints the same
    request (ECDSA signatures differ on every run, and a new CSR would mean a new certificate)."""
    request = hashlib.sha256(f"{spec.common_name}|{spec.keytool_san}".encode()).hexdigest()[:12]
    return f"{loc.keystore.rsplit('/', 1)[0]}/kafka.csr.{request}.pem"


def csr_glob(loc: StoreLocations) -> str:
    """Every CSR kept in the SSL directory (a shell glob, for rm)."""
    return f"{q(loc.keystore.rsplit('/', 1)[0])}/kafka.csr.*.pem"


def stack_key_mark(loc: StoreLocations) -> str:
    """Marks a keystore built from a key made in the stack (``stack`` custody): moving to ``host``
    custody must make a new key on the host, not keep one that was in the state."""
    return loc.keystore.rsplit("/", 1)[0] + "/kafka-tls-key.from-stack"


def keypair_script(spec: KeySpec, loc: StoreLocations, owner: str) -> str:
    """Make (or keep) the host's key pair and print a CSR carrying the SANs.

    stdin: the keystore password (one line). stdout: the CSR in PEM, the same text on every run
    while key and request are unchanged (kept beside the key, public). The key never leaves the
    host. An existing keystore is kept and never deleted here: if it holds no key for the alias
    under this password, the script fails and says so. A keystore whose key came from the stack
    is replaced by one with a new key (made beside it, then moved over it, so the service's
    file is never missing).
    """
    ssl_dir = loc.keystore.rsplit("/", 1)[0]
    csr = q(csr_path(spec, loc))
    mark = q(stack_key_mark(loc))
    # A CSR is kept only beside the key it was made from: a new key drops the old ones.
    drop_csrs = f"  rm -f {csr_glob(loc)}\n"
    print_csr = f"if [ -s {csr} ]; then cat {csr}; exit 0; fi\nrm -f {csr_glob(loc)}\n"
    save_csr = f'install -m 644 "$tmp" {csr}\ncat {csr}\n'
    if loc.store_type is StoreType.PEM:
        key_file = pem_key_path(loc)
        keygen = (
            "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256"
            if spec.algorithm is KeyAlgorithm.ECDSA
            else f"openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:{int(spec.rsa_bits)}"
        )
        return (
            _PRELUDE
            + make_dir_script(ssl_dir, owner)
            + f"if [ ! -s {q(key_file)} ]; then\n  {keygen} -out {q(key_file)} 2>/dev/null\n"
            + drop_csrs
            + "fi\n"
            + f"rm -f {mark}\n"
            + _chown(owner, key_file)
            + f"chmod 600 {q(key_file)}\n"
            + print_csr
            + _TMP_FILE
            + f"openssl req -new -key {q(key_file)} -subj {q('/CN=' + spec.common_name)} "
            + f"-addext {q('subjectAltName=' + spec.openssl_san)} -out \"$tmp\"\n"
            + save_csr
        )
    keyalg = (
        "-keyalg EC -groupname secp256r1"
        if spec.algorithm is KeyAlgorithm.ECDSA
        else f"-keyalg RSA -keysize {int(spec.rsa_bits)}"
    )
    ks = f"-keystore {q(loc.keystore)} -storetype {loc.store_type.value} {_storepass_args()}"
    no_key = f"{loc.keystore} exists but gives no key '{spec.alias}' with the configured keystorePassword ("
    no_key_advice = (
        "). kafka-tls never deletes a keystore: check kafka-tls:keystorePassword, or move the file away to have a new key made."
    )
    return (
        _PRELUDE
        + _READ_PASSWORD
        + make_dir_script(ssl_dir, owner)
        + f"if [ ! -s {q(loc.keystore)} ] || [ -e {mark} ]; then\n"
        + f"  new=$(mktemp -u {q(loc.keystore + '.new.XXXXXX')})\n"
        + f"  {KEYTOOL} -genkeypair -alias {q(spec.alias)} {keyalg} -dname {q('CN=' + spec.common_name)} "
        + f"-validity {int(spec.validity_days)} -keypass:env {PASSWORD_VAR} "
        + f"-keystore \"$new\" -storetype {loc.store_type.value} {_storepass_args()} >/dev/null\n"
        + f"  mv -f \"$new\" {q(loc.keystore)}\n"
        + f"  rm -f {mark}\n"
        + drop_csrs
        + "fi\n"
        + _chown(owner, loc.keystore)
        + f"chmod 600 {q(loc.keystore)}\n"
        + _TMP_FILE
        + f"if ! {KEYTOOL} -list -alias {q(spec.alias)} {ks} >/dev/null 2>\"$tmp.err\"; then\n"
        + f"  echo {q(no_key)}\"$(head -c 300 \"$tmp.err\")\"{q(no_key_advice)} >&2\n"
        + "  exit 1\n"
        + "fi\n"
        + print_csr
        # keytool writes the legacy 'NEW CERTIFICATE REQUEST' PEM label; pulumi-tls (Go's
        # encoding/pem) accepts only the RFC 7468 'CERTIFICATE REQUEST'.
        + f"{KEYTOOL} -certreq -alias {q(spec.alias)} -ext {q('SAN=' + spec.keytool_san)} {ks} "
        + "| sed 's/NEW CERTIFICATE REQUEST/CERTIFICATE REQUEST/' > \"$tmp\"\n"
        + save_csr
    )


def keypair_delete_script(spec: KeySpec, loc: StoreLocations) -> str:
    """Delete action of a host-made key pair: its keystore (and PEM key file) go only while its
    CSR is still there, that is, while the keystore holds this key pair (stack_keystore_script
    removes the CSRs when it writes the stack's key there); its CSRs go always."""
    extra = f" {q(pem_key_path(loc))}" if loc.store_type is StoreType.PEM else ""
    return f"if [ -e {q(csr_path(spec, loc))} ]; then rm -f {q(loc.keystore)}{extra}; fi\n" + f"rm -f {csr_glob(loc)}\n"


def pem_key_path(loc: StoreLocations) -> str:
    return loc.keystore.rsplit("/", 1)[0] + "/kafka.key.pem"


def import_chain_script(alias: str, loc: StoreLocations, owner: str) -> str:
    """Put the signed certificate and its CA into the host's keystore, as the key's chain.

    stdin: the keystore password (one line), then the chain in PEM (host certificate first, CA
    last). One keytool run: a reply that carries its own root is installed as it is (-noprompt);
    the CA is trusted through the truststore, not the keystore.
    """
    head = _PRELUDE + _READ_PASSWORD + 'tmp=$(mktemp -d)\ntrap \'rm -rf "$tmp"\' EXIT\ncat > "$tmp/chain.pem"\n'
    if loc.store_type is StoreType.PEM:
        # Kafka's PEM keystore: the private key followed by the certificate chain.
        return (
            head
            + f'cat {q(pem_key_path(loc))} "$tmp/chain.pem" > "$tmp/keystore.pem"\n'
            + f'install -m 600 "$tmp/keystore.pem" {q(loc.keystore)}\n'
            + _chown(owner, loc.keystore)
        )
    ks = f"-keystore {q(loc.keystore)} -storetype {loc.store_type.value} {_storepass_args()}"
    return (
        head
        + f'{KEYTOOL} -importcert -noprompt -alias {q(alias)} -file "$tmp/chain.pem" '
        + f"-keypass:env {PASSWORD_VAR} {ks} >/dev/null\n"
        + _chown(owner, loc.keystore)
        + f"chmod 600 {q(loc.keystore)}\n"
    )


def stack_keystore_script(alias: str, loc: StoreLocations, owner: str) -> str:
    """Build the keystore from a key and chain made in the stack (``stack`` key custody).

    stdin: the keystore password (one line), then the private key in PEM, then the chain (host
    certificate first, CA last). The store is built here rather than in the program because its
    bytes differ on every build (random salts): the command's input stays the same PEM text, so
    an unchanged key and chain mean no diff. openssl reads the password from the environment.
    """
    head = (
        _PRELUDE
        + _READ_PASSWORD
        + make_dir_script(loc.keystore.rsplit('/', 1)[0], owner)
        + ('tmp=$(mktemp -d)\ntrap \'rm -rf "$tmp"\' EXIT\ncat > "$tmp/in.pem"\n')
    )
    if loc.store_type is StoreType.PEM:
        # Kafka's PEM keystore is the PKCS#8 key followed by the chain: the input as it is.
        build = 'cp "$tmp/in.pem" "$tmp/store"\n'
    else:
        p12 = f'openssl pkcs12 -export -in "$tmp/in.pem" -name {q(alias)} -passout env:{PASSWORD_VAR} -out "$tmp/p12"\n'
        if loc.store_type is StoreType.PKCS12:
            build = p12 + 'mv "$tmp/p12" "$tmp/store"\n'
        else:
            build = p12 + (
                f'{KEYTOOL} -importkeystore -noprompt -srckeystore "$tmp/p12" -srcstoretype PKCS12 '
                f'-srcstorepass:env {PASSWORD_VAR} -destkeystore "$tmp/store" -deststoretype JKS '
                f'-deststorepass:env {PASSWORD_VAR} -destkeypass:env {PASSWORD_VAR} >/dev/null 2>&1\n'
            )
    # What host custody kept beside its key goes: its CSRs (so the removed key pair's delete
    # leaves this keystore alone) and, for PEM, its key file.
    leftovers = f"rm -f {csr_glob(loc)}" + (f" {q(pem_key_path(loc))}" if loc.store_type is StoreType.PEM else "") + "\n"
    return (
        head
        + build
        + 'chmod 600 "$tmp/store"\n'
        + (f'chown {q(owner)} "$tmp/store"\n' if owner else "")
        + f'mv -f "$tmp/store" {q(loc.keystore)}\n'
        + f": > {q(stack_key_mark(loc))}\n"
        + leftovers
    )


def truststore_script(loc: StoreLocations, owner: str) -> str:
    """(Re)build the truststore with the trusted CAs as its only entries.

    stdin: the truststore password (one line), then the CA certificates in PEM (two during a CA
    rotation; keytool imports only the first certificate of a file, so each goes alone). keytool builds
    PKCS12 truststores because Java ignores PKCS12 certificate entries without its own
    trusted-key-usage attribute, which other writers leave out. The same CAs are also written as
    a PEM bundle beside it (``loc.ca_pem``), for what is no Java client: the Connect gate's
    ``openssl s_client`` checking a worker's https REST listener.
    """
    ssl_dir = loc.truststore.rsplit("/", 1)[0]
    head = (
        _PRELUDE
        + _READ_PASSWORD
        + make_dir_script(ssl_dir, owner)
        + ('tmp=$(mktemp -d)\ntrap \'rm -rf "$tmp"\' EXIT\ncat > "$tmp/ca.pem"\n')
    )
    if loc.store_type is StoreType.PEM:
        build = 'cp "$tmp/ca.pem" "$tmp/truststore"\n'
    else:
        ts = f'-keystore "$tmp/truststore" -storetype {loc.store_type.value} {_storepass_args()}'
        build = (
            "awk -v dir=\"$tmp\" '/-----BEGIN CERTIFICATE-----/ {n++} n {print > (dir \"/ca-\" n \".pem\")}' \"$tmp/ca.pem\"\n"
            + 'for f in "$tmp"/ca-*.pem; do\n'
            + '  n=${f##*/ca-}; n=${n%.pem}\n'
            + f'  alias={CA_ALIAS}; [ "$n" = 1 ] || alias={CA_ALIAS}-$n\n'
            + f'  {KEYTOOL} -importcert -noprompt -alias "$alias" -file "$f" {ts} >/dev/null\n'
            + "done\n"
        )
    # Public, but 0640 to the service like the rest of the directory.
    return (
        head
        + build
        + 'chmod 640 "$tmp/truststore" "$tmp/ca.pem"\n'
        + (f'chown {q(owner)} "$tmp/truststore" "$tmp/ca.pem"\n' if owner else "")
        + f'mv -f "$tmp/ca.pem" {q(loc.ca_pem)}\n'
        + f'mv -f "$tmp/truststore" {q(loc.truststore)}\n'
    )


def write_file_script(path: str, mode: str, owner: str, *, backup: bool = False) -> str:
    """Write stdin to ``path`` atomically, with mode and owner.

    With ``backup``, the file found there before kafka-tls first wrote it is kept beside it once
    (``<path>.kafka-tls.orig``) so that delete can put it back.
    """
    directory = path.rsplit("/", 1)[0] or "/"
    return (
        _PRELUDE
        + f"[ -d {q(directory)} ] || (umask 022; mkdir -p {q(directory)})\n"
        + (_keep_original(path) if backup else "")
        + f'tmp=$(mktemp {q(path)}.XXXXXX)\ntrap \'rm -f "$tmp"\' EXIT\n'
        + 'cat > "$tmp"\n'
        + f'chmod {q(mode)} "$tmp"\n'
        + (f'chown {q(owner)} "$tmp"\n' if owner else "")
        + f'mv -f "$tmp" {q(path)}\n'
    )


def _keep_original(path: str) -> str:
    orig, absent = q(path + BACKUP_SUFFIX), q(path + ABSENT_SUFFIX)
    return (
        f"if [ ! -e {orig} ] && [ ! -e {absent} ]; then\n"
        f"  if [ -e {q(path)} ]; then cp -p {q(path)} {orig}; else : > {absent}; fi\n"
        "fi\n"
    )


def restore_file_script(path: str) -> str:
    """Delete action of a managed file: put back what was there before kafka-tls, or remove it."""
    orig, absent = q(path + BACKUP_SUFFIX), q(path + ABSENT_SUFFIX)
    return f"set -eu\nif [ -e {orig} ]; then mv -f {orig} {q(path)}\nelif [ -e {absent} ]; then rm -f {q(path)} {absent}\nfi\n"


def remove_files_script(*paths: str) -> str:
    return "rm -f " + " ".join(q(p) for p in paths) + "\n"


def remove_left_behind_script(old: Mapping[str, str]) -> str:
    """Remove what a path change left behind (plan.left_behind): stores, key and secrets removed,
    the properties file's original put back, an old SSL directory removed with its CSRs once empty."""
    script = ""
    for kind, path in sorted(old.items()):
        if kind == "properties":
            script += restore_file_script(path).replace("set -eu\n", "")
        elif kind != "ssl_dir":
            script += remove_files_script(path)
    if "ssl_dir" in old:
        directory = q(old["ssl_dir"])
        # The CA bundle beside the old truststore (StoreLocations.ca_pem) goes with its directory:
        # in a directory still in use, it is the new truststore's too.
        ca_pem = q(f"{old['ssl_dir']}/{CA_PEM_FILE_NAME}")
        script += f"rm -f {directory}/kafka.csr.*.pem {ca_pem}\nrmdir {directory} 2>/dev/null || true\n"
    return script + (f"echo 'removed what the last up kept at paths no longer used: {len(old)}'\n" if old else "")


@dataclass(frozen=True)
class TlsGate:
    """The restarted broker's TLS listener presents the expected certificate."""

    address: str
    port: int
    server_name: str
    sha256_fingerprint: str  # 'AB:CD:...', as openssl prints it
    timeout_seconds: int


@dataclass(frozen=True)
class KafkaGate:
    """A restarted broker may be left behind only when, within the timeout, all of these hold:
    its TLS listener presents the expected certificate; it is registered and unfenced (it is in
    the cluster metadata a client gets); the KRaft quorum has a leader and this node is caught up
    (lag 0 in ``describe --replication``); no partition is under-replicated or below
    ``min.insync.replicas``. The Kafka checks run with the host's own tools, over TLS."""

    host: str
    tls: TlsGate
    node_id: int
    kafka_bin: str
    client_config: str
    """Client properties on the host (SSL settings, passwords through the config provider)."""
    tools_port: Optional[int] = None
    """The port the tools dial: the TLS listener's (None), or a plaintext listener's when the TLS
    one is SASL_SSL (properties.gate_tools_port; the client config says PLAINTEXT then)."""
    controller: Optional[TlsGate] = None
    """A controller on TLS: its controller listener presents the expected certificate too."""

    @property
    def bootstrap(self) -> str:
        return host_port(self.tls.server_name, self.tools_port or self.tls.port)

    @property
    def over_tls(self) -> bool:
        return self.tools_port in (None, self.tls.port)


@dataclass(frozen=True)
class ConnectGate:
    """A restarted Connect worker: its REST API answers (it has joined its group and read its
    configs) and every connector and task is RUNNING. Over https, the worker must present a
    certificate for ``server_name`` issued by a CA of ``ca_file`` (the stack's, in PEM)."""

    host: str
    address: str
    port: int
    scheme: str
    """'http' or 'https', as the worker's ``listeners`` says (properties.connect_rest_endpoint)."""
    timeout_seconds: int
    server_name: str = ""
    ca_file: str = ""

    def __post_init__(self) -> None:
        if self.scheme not in ("http", "https"):
            raise ValueError(f"Connect REST scheme '{self.scheme}' is neither http nor https")
        if self.scheme == "https" and not (self.server_name and self.ca_file):
            raise ValueError("an https Connect gate needs the name to verify and a CA file")


Gate = Optional[Union[TlsGate, KafkaGate, ConnectGate]]

# Kafka's CLI tools are JVMs: C1 and the serial GC halve their start-up, which a gate pays a few
# times per check. Set on each tool's command, never exported: Kafka's start scripts read the same
# variables, so a restart command run after an export started the broker itself on a 256 MiB heap.
_TOOL_JVM_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xlog:disable"

TOOLS_ARCHIVE_DIR = "/var/cache/kafka-tls"
"""Where a host keeps the class archive of Kafka's tools (``_tools_archive``); root's, 0700."""


def _tools_archive(kafka_bin: str) -> str:
    """Class data sharing (JDK 13 and later) for the tools: halves a tool's start (1.4 s to 0.7 s
    on the lab; bench/tools_cds_bench.py). Where the host has no archive yet, the first tool run
    one at a time (``_tool(dump=True)``) writes one at its exit, and every later start maps it.
    Its name holds a digest of Kafka's libs folder and the java binary, so upgrading either makes
    a new one; an archive that does not match is ignored by the JVM (-Xshare:auto), and
    -Xlog:disable keeps the JVM's own messages out of the tools' output."""
    libs = kafka_bin.rstrip("/") + "/../libs"
    return (
        f"tools_archive={q(TOOLS_ARCHIVE_DIR)}/tools-$({{ ls -l --time-style=+%s -- {q(libs)} 2>/dev/null || true; "
        'readlink -f "$(command -v java)" 2>/dev/null || true; } | sha256sum | cut -c1-16).jsa\n'
        'if [ -s "$tools_archive" ]; then\n'
        '  tools_cds="-XX:SharedArchiveFile=$tools_archive"; tools_dump=$tools_cds\n'
        "else\n"
        f"  mkdir -p {q(TOOLS_ARCHIVE_DIR)}\n"
        '  tools_cds=""; tools_dump="-XX:ArchiveClassesAtExit=$tools_archive.$$"\n'
        "fi\n"
    )


# After a tool run with dump=True: the archive it wrote is the host's from now on.
_TOOLS_ARCHIVE_KEEP = (
    'if [ -n "${tools_archive:-}" ] && [ -s "$tools_archive.$$" ] && mv -f "$tools_archive.$$" "$tools_archive"; then\n'
    '  tools_cds="-XX:SharedArchiveFile=$tools_archive"\n'
    "fi\n"
    'tools_dump="${tools_cds:-}"\n'
)


def _fingerprint_check(gate: TlsGate) -> str:
    target = host_port(gate.address, gate.port)
    return (
        f"  fp=$(openssl s_client -connect {q(target)} {_server_name_args(gate.server_name)} </dev/null 2>/dev/null "
        "| openssl x509 -noout -fingerprint -sha256 2>/dev/null || true)\n"
        f"  [ \"${{fp#*=}}\" = {q(gate.sha256_fingerprint)} ] || "
        f"why={q(target + ' does not present the expected certificate (saw: ')}\"${{fp:-no TLS handshake}})\"\n"
    )


def _tool(gate: KafkaGate, name: str, dump: bool = False) -> str:
    """A Kafka CLI tool of the host, dialling the broker's own TLS listener. ``dump``: a run on
    its own (no other tool at the same time), which writes the tools' class archive where there is
    none yet (``_tools_archive``; ``_TOOLS_ARCHIVE_KEEP`` after it)."""
    cds = "${tools_dump:-}" if dump else "${tools_cds:-}"  # unset: a script without _tools_archive
    return (
        f'env KAFKA_JVM_PERFORMANCE_OPTS="{_TOOL_JVM_OPTS} {cds}" KAFKA_HEAP_OPTS=-Xmx256m '
        f"{q(gate.kafka_bin + '/' + name)} --bootstrap-server {q(gate.bootstrap)} --command-config {q(gate.client_config)}"
    )


def _election(gate: KafkaGate, dump: bool = False) -> str:
    return (
        f"{_tool(gate, 'kafka-leader-election.sh', dump)} --election-type PREFERRED --all-topic-partitions "
        "</dev/null >/dev/null 2>&1"
    )


def _kafka_checks(gate: KafkaGate, elect: bool) -> str:
    """The cluster checks. Each Kafka tool is a JVM that takes seconds to start, so the three run
    at once (each into its own file) and are judged in order once all have answered. No separate
    under-min-ISR question: a partition below ``min.insync.replicas`` (at most its replica count)
    has a short ISR, so it is under-replicated, and that check already holds the gate.

    ``elect`` (after a restart): the preferred-leader election (preferred_leaders_back) runs in
    the same rounds, until it has succeeded once, instead of one more tool start after the gate.
    It succeeds only once the broker is in the ISR of every partition it is the preferred leader
    of; it is not one of the checks."""
    node = int(gate.node_id)
    election = (
        (f'    if [ "${{elected:-}}" != yes ]; then\n      {{ {_election(gate)} && : > "$answers/elected"; }} &\n    fi\n')
        if elect
        else ""
    )
    return (
        '  if [ -z "$why" ]; then\n'
        "    asked=yes\n"
        "    answers=$(mktemp -d)\n"
        + election
        + f"    {{ {_tool(gate, 'kafka-broker-api-versions.sh')} 2>/dev/null | grep -o '(id: [0-9]*' | tr -dc '0-9\\n' "
        '> "$answers/ids" || true; } &\n'
        # One run: the voters' table names the leader (Status column) and this node's lag.
        f"    {{ {_tool(gate, 'kafka-metadata-quorum.sh')} describe --replication "
        '> "$answers/quorum" 2>/dev/null || true; } &\n'
        # stderr carries the client's own warnings; a failed tool is a failed check.
        f"    {{ {_tool(gate, 'kafka-topics.sh')} --describe --under-replicated-partitions > \"$answers/urp\" 2>/dev/null "
        "|| echo 'kafka-topics failed' > \"$answers/urp\"; } &\n"
        "    wait\n"
        '    ids=$(cat "$answers/ids"); quorum=$(cat "$answers/quorum"); urp=$(cat "$answers/urp")\n'
        + ('    if [ -e "$answers/elected" ]; then elected=yes; fi\n' if elect else "")
        + '    rm -rf "$answers"\n'
        f"    if ! echo \"$ids\" | grep -qx {node}; then\n"
        f"      why={q(f'node {node} is not registered and unfenced (brokers serving: ')}"
        '"$(echo "$ids" | paste -sd \' \' -))"\n'
        "    elif ! echo \"$quorum\" | awk '$NF == \"Leader\" {found = 1} END {exit !found}'; then\n"
        "      why=\"the KRaft quorum has no leader\"\n"
        f"    elif [ \"$(echo \"$quorum\" | awk '$1 == \"{node}\" {{print $4}}')\" != 0 ]; then\n"
        f"      why={q(f'node {node} is not caught up with the metadata quorum (')}"
        f"\"$(echo \"$quorum\" | awk '$1 == \"{node}\"'))\"\n"
        "    elif [ -n \"$urp\" ]; then\n"
        "      why=\"under-replicated partitions: $(echo \"$urp\" | head -n 3 | tr -s ' \\t\\n' ' ')\"\n"
        "    fi\n"
        "  fi\n"
    )


# kafka-topics --describe lines whose ISR holds node $1 (awk -v node=...).
_ISR_HOLDS_NODE = (
    "awk -v node=\"$node\" '{for (k = 1; k < NF; k++) if ($k == \"Isr:\") { n = split($(k + 1), a, \",\"); "
    "for (m = 1; m <= n; m++) if (a[m] == node) print } }'"
)


def preferred_leaders_back(gate: KafkaGate) -> str:
    """After a restarted broker passed its gate: hand it back the leadership of the partitions it
    is the preferred leader of (a preferred election), rather than wait for Kafka's own
    rebalance (``leader.imbalance.check.interval.seconds``, 5 minutes by default), so the next
    restart does not find leadership piled on fewer brokers. An optimisation, not a check: a
    failed election is said and the rollout goes on."""
    return (
        # Done already if it succeeded during the gate's rounds (_kafka_checks).
        f'if [ "${{elected:-no}}" = yes ] || {_election(gate, dump=True)}; then\n'
        "  echo 'preferred leaders elected'\n"
        "else\n"
        "  echo 'preferred leader election not done (Kafka rebalances leaders itself later)'\n"
        "fi\n" + _TOOLS_ARCHIVE_KEEP
    )


def _min_isr_refusal(host: str, timeout: int) -> str:
    return (
        f"not restarting {host} after {timeout}s: these partitions are at min.insync.replicas with it in their ISR, "
        "so acks=all writes to them would fail while it is down (add replicas, lower the topic's min.insync.replicas, "
        "or wait until their ISR is complete): "
    )


def min_isr_precheck(gate: KafkaGate) -> str:
    """Before a broker goes down: no partition whose ISR is at ``min.insync.replicas`` may count
    it (acks=all writes to it would fail while it is down). Waits for those partitions to gain a
    replica, up to the gate timeout, then fails naming them. A broker without its TLS listener
    yet cannot be asked (the first rollout from plaintext, or a listener that turns TLS in this
    step): that is said, and the step goes on."""
    timeout = int(gate.tls.timeout_seconds)
    over = " over TLS" if gate.over_tls else ""
    return (
        f"node={int(gate.node_id)}\n"
        + f"deadline=$((SECONDS + {timeout}))\n"
        # A port that is closed, or still plaintext, would keep the tool retrying for its API
        # timeout (60 s): a TLS handshake with it first (a connection, for a plaintext listener).
        + "ask=yes\n"
        + (
            f"if ! timeout 5 openssl s_client -connect {q(host_port(gate.tls.address, gate.tls.port))} "
            f"{_server_name_args(gate.tls.server_name)} </dev/null >/dev/null 2>&1; then\n"
            "  echo 'partitions at min.insync.replicas: no TLS listener to ask yet (first rollout); restarting'\n"
            if gate.over_tls
            # bash's /dev/tcp: the script is the single-quoted text, address and port its arguments.
            else "# shellcheck disable=SC2016\n"
            "if ! timeout 5 bash -c 'exec 3<>\"/dev/tcp/$1/$2\"' _ "
            f"{q(gate.tls.address.removeprefix('[').removesuffix(']'))} {int(gate.tools_port or 0)} 2>/dev/null; then\n"
            "  echo 'partitions at min.insync.replicas: the plaintext listener does not answer; restarting'\n"
        )
        + "  ask=no\n"
        + "fi\n"
        + 'while [ "$ask" = yes ]; do\n'
        + f"  if ! at_min=$(timeout 60 {_tool(gate, 'kafka-topics.sh', dump=True)} --describe --at-min-isr-partitions "
        + "</dev/null 2>/dev/null); then\n"
        + f"    echo 'partitions at min.insync.replicas: the broker did not answer{over}; restarting'\n"
        + "    break\n"
        + "  fi\n"
        + "".join("  " + line + "\n" for line in _TOOLS_ARCHIVE_KEEP.splitlines())
        + f'  held=$(echo "$at_min" | {_ISR_HOLDS_NODE})\n'
        + '  [ -z "$held" ] && break\n'
        + "  if [ $SECONDS -ge $deadline ]; then\n"
        + f"    echo {q(_min_isr_refusal(gate.host, timeout))}"
        + '"$(echo "$held" | head -n 5 | tr -s \' \\t\\n\' \' \')" >&2\n'
        + "    exit 1\n"
        + "  fi\n"
        + "  sleep 1\n"
        + "done\n"
    )


# printf's format (its argument: the Host header). HTTP/1.0, so the server closes when done.
_STATUS_REQUEST = r"GET /connectors?expand=status HTTP/1.0\r\nHost: %s\r\n\r\n"


def _connect_checks(gate: ConnectGate) -> str:
    """GET /connectors?expand=status into ``$status`` (the whole response), then every state in
    it must be RUNNING; ``why`` names the URL otherwise."""
    target = host_port(gate.address, gate.port)
    if gate.scheme == "https":
        # The worker's certificate must chain to the stack's CAs (-CAfile: then s_client loads no
        # default CA paths) and name the host; -quiet keeps only what the server sends.
        name = gate.server_name
        verify = f"-verify_ip {q(name)}" if is_ip(name) else f"-verify_hostname {q(name)}"
        fetch = (
            f"  status=$(printf {q(_STATUS_REQUEST)} {q(host_port(name, gate.port))} | timeout 10 openssl s_client -quiet "
            f"-connect {q(target)} {_server_name_args(name)} -CAfile {q(gate.ca_file)} -verify_return_error {verify} "
            "2>/dev/null || true)\n"
        )
        url = f"https://{target}, verified against {gate.ca_file},"
    else:
        # bash's /dev/tcp: no curl needed on the host. The inner bash's script is the single-quoted
        # text, and address, port and Host header its arguments: SC2016 (no expansion in single
        # quotes) is what is meant here.
        fetch = (
            "  # shellcheck disable=SC2016\n"
            f"  status=$(timeout 10 bash -c 'exec 3<>\"/dev/tcp/$1/$2\" && printf \"{_STATUS_REQUEST}\" \"$3\" >&3 && cat <&3' "
            f"_ {q(gate.address.removeprefix('[').removesuffix(']'))} {int(gate.port)} {q(target)} "
            "2>/dev/null || true)\n"
        )
        url = f"http://{target}"
    return (
        fetch
        + '  case "$status" in\n'
        + '    "HTTP/1."?" 200"*) states=$(echo "$status" | grep -o \'"state":"[A-Z_]*"\' | sort -u '
        + '| grep -v \'"RUNNING"\' || true)\n'
        + '      [ -z "$states" ] || why="connectors or tasks not RUNNING: $(echo "$states" | paste -sd \' \' -)" ;;\n'
        + f'    *) why={q(f"the REST API at {url} does not answer 200 yet: ")}"$(echo "$status" | head -n 1)" ;;\n'
        + "  esac\n"
    )


def _gate_text(gate: Gate, elect: bool = False) -> str:
    """Poll every check until all pass or the timeout ends (then exit 1, naming host and check).
    ``elect``: a broker's gate after a restart also runs the preferred-leader election."""
    if gate is None:
        return ""
    if isinstance(gate, KafkaGate):
        controller = _fingerprint_check(gate.controller) if gate.controller else ""
        checks = _fingerprint_check(gate.tls) + controller + _kafka_checks(gate, elect)
        timeout, host = gate.tls.timeout_seconds, gate.host
        passed = (
            f"{gate.host} presents {gate.tls.sha256_fingerprint[:23]}..., is unfenced and caught up, "
            "no partition under-replicated"
        )
    elif isinstance(gate, ConnectGate):
        checks, timeout, host = _connect_checks(gate), gate.timeout_seconds, gate.host
        passed = f"{gate.host}: REST answers, every connector and task RUNNING"
    else:
        host = host_port(gate.address, gate.port)
        checks, timeout = _fingerprint_check(gate), gate.timeout_seconds
        passed = f"{host} presents {gate.sha256_fingerprint[:23]}..."
    return (
        f"deadline=$((SECONDS + {int(timeout)}))\n"
        + "while :; do\n"
        + '  why=""; asked=""\n'
        + checks
        + '  [ -z "$why" ] && break\n'
        + "  if [ $SECONDS -ge $deadline ]; then\n"
        + f'    echo {q(f"health gate failed on {host} after {int(timeout)}s: ")}"$why" >&2\n'
        + "    exit 1\n"
        + "  fi\n"
        # A round that started the Kafka tools took seconds already: the next one at once.
        + '  [ -n "$asked" ] || sleep 1\n'
        + "done\n"
        + f"echo {q('health gate passed: ' + passed)}\n"
    )


def restart_script(restart_command: str, gate: Gate) -> str:
    """Restart the service, then wait for the health gate; non-zero exit stops the rollout. A
    broker is then handed back its preferred leaderships (preferred_leaders_back)."""
    restarted = "set -euo pipefail\n" + restart_command + "\n"
    if isinstance(gate, KafkaGate):
        return restarted + _gate_text(gate, elect=True) + preferred_leaders_back(gate)
    return restarted + _gate_text(gate)


def write_and_restart_script(
    path: str, mode: str, owner: str, restart_command: str, gate: Gate, pending: Optional[str] = None, then: str = ""
) -> str:
    """Write the service's new properties file, restart it, wait for the health gate.

    stdin: the properties text. Writing in the same step as the restart means no host reads its
    new file before its turn in the rollout (even if it restarts on its own). ``pending`` marks a
    restart begun and not yet through its gate: removed only once the gate passes, so whatever
    interrupts the step (a failed gate, a lost connection), the next ``up`` restarts this host
    again even if nothing else changed (see ``resume_or``). A broker is first checked not to hold
    a partition at ``min.insync.replicas`` (``min_isr_precheck``): if it does, the step fails
    before writing anything.
    """
    write = write_file_script(path, mode, owner, backup=True).replace(_PRELUDE, "")
    return (
        _PRELUDE
        + (_tools_archive(gate.kafka_bin) + min_isr_precheck(gate) if isinstance(gate, KafkaGate) else "")
        + write
        + "trap - EXIT\n"
        + (f": > {q(pending)}\n" if pending else "")
        + restart_script(restart_command, gate).replace("set -euo pipefail\n", "")
        + then
        + (f"rm -f {q(pending)}\n" if pending else "")
    )


def stamp_stores_script(stamp: str, loc: StoreLocations) -> str:
    """Record the stores a broker has loaded (after its gate passed): a reload step whose stores
    still match has nothing to do."""
    return f"sha256sum {q(loc.keystore)} {q(loc.truststore)} > {q(stamp)}\n"


def reload_stores_script(gate: KafkaGate, listener: str, loc: StoreLocations, stamp: str) -> str:
    """Make a running broker load its re-issued keystore and truststore without a restart.

    KIP-226: a dynamic update of the TLS listener's ``ssl.keystore.location`` and
    ``ssl.truststore.location`` makes the broker re-read the files (the same paths, changed
    files), checking on its inter-broker listener that subject and SANs are unchanged. The
    dynamic values are then deleted, so the static file stays the one source of the paths. The
    gate then waits for the new certificate and a healthy cluster. Skipped when the stores are the
    ones the broker loaded at its last restart or reload (the stamp).
    """
    prefix = f"listener.name.{listener.lower()}.ssl."
    entity = f"--entity-type brokers --entity-name {int(gate.node_id)}"
    tool = f"{_tool(gate, 'kafka-configs.sh')} {entity}"
    paths = f"{prefix}keystore.location={loc.keystore},{prefix}truststore.location={loc.truststore}"
    return (
        _PRELUDE
        + f"if sha256sum --check --status {q(stamp)} 2>/dev/null; then\n"
        + "  echo 'the broker runs on these stores already: nothing to reload'\n  exit 0\nfi\n"
        + _tools_archive(gate.kafka_bin)
        + f"{_tool(gate, 'kafka-configs.sh', dump=True)} {entity} --alter --add-config {q(paths)} >/dev/null\n"
        + _TOOLS_ARCHIVE_KEEP
        + f"{tool} --alter --delete-config {q(prefix + 'keystore.location,' + prefix + 'truststore.location')} >/dev/null\n"
        + f"echo 'node {int(gate.node_id)}: stores reloaded (no restart)'\n"
        + _gate_text(gate)
        + stamp_stores_script(stamp, loc)
    )


def resume_or(pending: str, resume: str, otherwise: str) -> str:
    """Update action of a restart step: the engine runs it when an input other than the triggers
    changed, or when the step failed last time (Pulumi updates a resource left with errors). If a
    restart on this host is still pending, do it (``resume``); else ``otherwise``, which
    restarts nothing."""
    return (
        _PRELUDE
        + f"if [ -e {q(pending)} ]; then\n"
        + "  echo 'the last restart of this host did not pass its health gate: restarting again'\n"
        + resume.replace(_PRELUDE, "")
        + "else\n"
        + otherwise.replace(_PRELUDE, "")
        + "fi\n"
    )


def rewrite_file_script(path: str, mode: str, owner: str) -> str:
    """When a restart step's triggers did not change (only the restart command, the gate or SSH
    settings did): the same properties text again, mode and owner re-applied, and no restart,
    because the service reads nothing new."""
    return write_file_script(path, mode, owner, backup=True)


STAGE_PASSED_SCRIPT = "cat >/dev/null\necho 'stage passed before: nothing to do'\n"
"""When a plaintext-to-SSL stage step's settings changed after it ran: a stage runs once."""


def keep_original_script(path: str) -> str:
    """Keep the file found before kafka-tls first writes it (or mark that there was none), once."""
    return _PRELUDE + _keep_original(path)


def _ere_literal(text: str) -> str:
    """``text`` as a grep -E pattern that matches just itself (grep would take a line break as
    the start of another pattern, and no line holds one)."""
    if "\n" in text:
        raise ValueError(f"{text!r} holds a line break")
    return "".join("\\" + c if c in ".[]()*+?{}|^$\\" else c for c in text)


def stage_script(
    path: str,
    restart_command: str,
    gate: Gate,
    owner: str,
    tls_listener: str = "SSL",
    pending: Optional[str] = None,
    back: bool = False,
) -> str:
    """One step of the plaintext-to-SSL rollout (see properties.rollout_stages), or with ``back``
    of the way back from SSL-only listeners (plan.back_stage).

    stdin: the intermediate server.properties. Skipped on a host whose current file already sends
    inter-broker traffic over the TLS listener (``tls_listener``), or with ``back`` no longer
    does: it is past this stage.
    """
    keys = "inter\\.broker\\.listener\\.name" + ("|security\\.inter\\.broker\\.protocol" if tls_listener == "SSL" else "")
    pattern = f"^[[:space:]]*({keys})[[:space:]]*[=:][[:space:]]*{_ere_literal(tls_listener)}[[:space:]]*$"
    already_ssl = f"grep -Eq {q(pattern)} {q(path)} 2>/dev/null"
    if back:
        return _unless_past(
            f"! {already_ssl}", "inter-broker traffic no longer on TLS", path, restart_command, gate, owner, pending
        )
    return _unless_past(already_ssl, "inter-broker traffic already on SSL", path, restart_command, gate, owner, pending)


def _unless_past(past: str, why: str, path: str, restart_command: str, gate: Gate, owner: str, pending: Optional[str]) -> str:
    """A stage step: skipped (its stdin read, nothing written) where the test ``past`` holds,
    else the stage's file written and the service restarted behind the gate."""
    return (
        _PRELUDE
        + f"if {past}; then echo {q(why + ': stage skipped')}; cat >/dev/null; exit 0; fi\n"
        + write_and_restart_script(path, "640", owner, restart_command, gate, pending).replace(_PRELUDE, "")
    )


def controller_stage_script(
    path: str,
    restart_command: str,
    gate: Gate,
    owner: str,
    tls_listener: str,
    first: bool,
    pending: Optional[str] = None,
) -> str:
    """One step of the controller listener's move to TLS (properties.ControllerStage).

    stdin: the stage's server.properties. Skipped on a host whose current file already names
    ``tls_listener`` in controller.listener.names (its first stage), or with ``first`` names it
    first (its second): it is past this stage.
    """
    where = "first in" if first else "in"
    names = f"{_ere_literal(tls_listener)}" if first else f"([^#]*,)?[[:space:]]*{_ere_literal(tls_listener)}"
    pattern = f"^[[:space:]]*controller\\.listener\\.names[[:space:]]*[=:][[:space:]]*{names}[[:space:]]*(,.*)?$"
    past = f"grep -Eq {q(pattern)} {q(path)} 2>/dev/null"
    why = f"{tls_listener} already {where} controller.listener.names"
    return _unless_past(past, why, path, restart_command, gate, owner, pending)
