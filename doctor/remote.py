"""The one read-only script the doctor runs on each host, and the parser of what it prints.

One SSH connection per host runs ``report_script`` as root (``sudo -n -- /bin/bash -c``, as every
kafka-tls host command runs). The script only reads: ``cat``/``head``/``sed -n`` of the files
kafka-tls keeps, ``stat``, ``/proc/net/tcp``, ``id -u``, ``openssl s_client`` to its own and its
peers' TLS listeners, ``keytool -list`` of the truststore (and a worker's keystore),
``kafka-configs.sh --describe`` and the Connect REST API. It writes no file: no output
redirection but to ``/dev/null`` and sockets, no temporary file (slow steps run at once through
process substitution, which are pipes), and the JVMs run without their perf-data file.

It prints a report, one record a line: ``<tag> <base64 of the value>``, between a first line
``KAFKA-TLS-DOCTOR 1`` and a last line ``END``. A store password is read from the secrets file on
the host into keytool's environment inside the script and never printed: a tool's output that
held it would have it replaced. Every value in the script is one word quoted with
``shlex.quote`` or an ``int``.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import shlex
from typing import Optional

from doctor.checks import HostExpectation, is_ip

q = shlex.quote
BEGIN = "KAFKA-TLS-DOCTOR 1"
END = "END"
PASSWORD_VAR = "KAFKA_TLS_STOREPASS"
# keytool and the Kafka tools are JVMs: C1 and the serial GC halve their start; -XX:-UsePerfData
# keeps them from writing /tmp/hsperfdata_<user>/<pid> on the host.
KEYTOOL = "keytool -J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC -J-XX:-UsePerfData"
JVM_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData"
STATUS_REQUEST = r"GET /connectors?expand=status HTTP/1.0\r\nHost: %s\r\n\r\n"
MAX_TEXT = 262144  # characters of one tool's output kept

_HEAD = (
    "set -u\n"
    "export LC_ALL=C\n"
    # One record: the tag, a space, the value in base64 on one line.
    "emit() { printf '%s %s\\n' \"$1\" \"$(printf '%s' \"$2\" | base64 -w0)\"; }\n"
    "stat_of() {\n"
    '  if [ -e "$2" ] || [ -L "$2" ]; then emit "stat.$1" "$(stat -c \'%U:%G %a %F\' -- "$2" 2>&1)"\n'
    '  else emit "stat.$1" missing; fi\n'
    "}\n"
    # A store password: its line of the secrets file, Java's escapes undone (passwords are ASCII,
    # one line: \\X is X). Read into a variable of the job that runs keytool, never printed.
    "withheld() {\n"
    '  if [ -n "$2" ]; then printf \'%s\' "${1//"$2"/(withheld)}"; else printf \'%s\' "$1"; fi\n'
    "}\n"
)


def _tls_args(name: str, ca_file: Optional[str]) -> str:
    """s_client's SNI and verification: by host name, or by IP for an address."""
    sni = "-noservername" if is_ip(name) else f"-servername {q(name)}"
    if ca_file is None:
        return sni
    verify = f"-verify_ip {q(name.strip('[]'))}" if is_ip(name) else f"-verify_hostname {q(name)}"
    return f"{sni} -CAfile {q(ca_file)} -verify_return_error {verify}"


def _tls_job(x: HostExpectation) -> str:
    """Every TLS target in turn: a verified handshake; for a broker's own listener also the chain."""
    lines = ["tls_job() {", "  local out"]
    for i, t in enumerate(x.tls_targets):
        dial = f"timeout 10 openssl s_client -connect {q(t.target)}"
        lines += [
            f"  out=$({dial} {_tls_args(t.server_name, x.ca_pem)} </dev/null 2>&1)",
            f'  emit tls.{i}.verify "${{out:0:{MAX_TEXT}}}"',
        ]
        if i == 0 and x.is_broker:
            lines += [
                f"  out=$({dial} {_tls_args(t.server_name, None)} -showcerts </dev/null 2>&1)",
                f'  emit tls.0.chain "${{out:0:{MAX_TEXT}}}"',
            ]
    return "\n".join([*lines, "}"]) + "\n"


def _store_job(job: str, kind: str, path: str, x: HostExpectation, password_key: str, alias: Optional[str]) -> str:
    """List a store's certificates (public parts): keytool for PKCS12/JKS, the certificate blocks
    of a PEM file (a PEM keystore's key is never printed)."""
    head = f"{job}() {{\n  local pw='' out rc\n  if [ ! -f {q(path)} ]; then emit {kind}.rc missing; return; fi\n"
    if x.store_type == "PEM":
        body = f"  out=$(sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' -- {q(path)} 2>&1); rc=$?\n"
    else:
        pattern = "s/^" + password_key.replace(".", "\\.") + "=//p"
        alias_args = f" -alias {q(alias)}" if alias else ""
        body = (
            f"  if [ ! -r {q(x.secrets_file)} ]; then emit {kind}.rc nosecrets; return; fi\n"
            f"  pw=$(sed -n {q(pattern)} -- {q(x.secrets_file)} | head -n 1 | sed 's/\\\\\\(.\\)/\\1/g')\n"
            f"  out=$({PASSWORD_VAR}=$pw timeout 30 {KEYTOOL} -list -rfc{alias_args} -keystore {q(path)} "
            f"-storetype {q(x.store_type)} -storepass:env {PASSWORD_VAR} 2>&1); rc=$?\n"
        )
    return head + body + f'  emit {kind}.rc "$rc"\n  emit {kind} "$(withheld "${{out:0:{MAX_TEXT}}}" "$pw")"\n}}\n'


def _dynamic_job(x: HostExpectation) -> str:
    """The broker's dynamic configs (kafka-configs.sh --describe), if its TLS listener answers."""
    tool = x.kafka
    assert tool is not None
    logs = posixpath.dirname(tool.kafka_bin) + "/logs"
    address = tool.server_name.strip("[]")
    return (
        "dynamic_job() {\n"
        "  local out rc log_dir=/tmp\n"
        # bash's /dev/tcp only opens a connection: is anything there to ask?
        "  # shellcheck disable=SC2016\n"
        f"  if ! timeout 3 bash -c 'exec 3<>\"/dev/tcp/$1/$2\"' _ {q(address)} {int(tool.port)} 2>/dev/null; then\n"
        "    emit dyn.rc unreachable; return\n"
        "  fi\n"
        # kafka-run-class makes its log directory if missing: point it at one that exists.
        f"  if [ -d {q(logs)} ]; then log_dir={q(logs)}; fi\n"
        f"  out=$(LOG_DIR=$log_dir KAFKA_JVM_PERFORMANCE_OPTS={q(JVM_OPTS)} KAFKA_HEAP_OPTS=-Xmx256m timeout 40 "
        f"{q(tool.kafka_bin + '/kafka-configs.sh')} --bootstrap-server {q(tool.bootstrap)} "
        f"--command-config {q(tool.client_config)} --entity-type brokers --entity-name {int(tool.node_id)} --describe "
        "</dev/null 2>&1); rc=$?\n"
        '  emit dyn.rc "$rc"\n'
        f'  emit dyn "${{out:0:{MAX_TEXT}}}"\n'
        "}\n"
    )


def _rest_job(x: HostExpectation) -> str:
    """A worker's REST API: the first ``listeners`` entry of its file (Connect's default
    http://:8083), asked for /connectors?expand=status over http (bash's /dev/tcp) or https
    (openssl, verified against the CA bundle and the host's name), and the chain it serves."""
    verify = _tls_args(x.dns_names[0], x.ca_pem)
    plain = _tls_args(x.dns_names[0], None)
    return (
        "rest_job() {\n"
        "  local line scheme host port target out\n"
        f"  line=$(sed -n 's/^[[:space:]]*listeners[[:space:]]*[=:][[:space:]]*//p' -- {q(x.properties_path)} 2>/dev/null "
        "| tail -n 1 | sed 's/\\\\\\(.\\)/\\1/g')\n"
        "  line=${line%%,*}; line=${line//[[:space:]]/}\n"
        '  [ -n "$line" ] || line=http://:8083\n'
        "  scheme=http\n"
        '  case "$line" in *://*) scheme=${line%%://*}; line=${line#*://} ;; esac\n'
        "  scheme=${scheme,,}\n"
        "  port=${line##*:}; host=${line%:*}; host=${host#\\[}; host=${host%\\]}\n"
        f'  case "$host" in \'\'|0.0.0.0|::) host={q(x.rest_address)} ;; esac\n'
        '  case "$host" in *:*) target="[$host]:$port" ;; *) target="$host:$port" ;; esac\n'
        '  emit rest.endpoint "$scheme $host $port"\n'
        '  if [ "$scheme" = https ]; then\n'
        f'    out=$(printf {q(STATUS_REQUEST)} "$target" | timeout 10 openssl s_client -quiet -connect "$target" {verify} '
        "2>/dev/null)\n"
        f'    emit rest.status "${{out:0:{MAX_TEXT}}}"\n'
        f'    out=$(timeout 10 openssl s_client -connect "$target" {plain} -showcerts </dev/null 2>&1)\n'
        f'    emit rest.chain "${{out:0:{MAX_TEXT}}}"\n'
        "  else\n"
        # The inner bash's script is the single-quoted text; address, port and Host its arguments.
        "    # shellcheck disable=SC2016\n"
        f"    out=$(timeout 10 bash -c 'exec 3<>\"/dev/tcp/$1/$2\" && printf \"{STATUS_REQUEST}\" \"$3\" >&3 && cat <&3' "
        '_ "$host" "$port" "$target" 2>/dev/null)\n'
        f'    emit rest.status "${{out:0:{MAX_TEXT}}}"\n'
        "  fi\n"
        "}\n"
    )


def report_script(x: HostExpectation) -> str:
    """The host's read-only script: the slow steps (TLS handshakes, keytool, kafka-configs, REST)
    start at once, each in a process substitution; the cheap reads run meanwhile; then each
    job's records are read in turn."""
    jobs: list[tuple[str, str]] = []  # (function name, definition)
    if x.tls_targets:
        jobs.append(("tls_job", _tls_job(x)))
    jobs.append(("truststore_job", _store_job("truststore_job", "truststore", x.truststore, x, "truststore.password", None)))
    if x.kafka is not None and x.is_broker:
        jobs.append(("dynamic_job", _dynamic_job(x)))
    jobs.append(("keystore_job", _store_job("keystore_job", "keystore", x.keystore, x, "keystore.password", x.alias)))
    if not x.is_broker:
        jobs.append(("rest_job", _rest_job(x)))
    script = _HEAD + "".join(definition for _, definition in jobs)
    script += f"echo {q(BEGIN)}\n"
    for fd, (name, _) in enumerate(jobs, start=3):
        script += f"exec {fd}< <({name})\n"
    for f in x.files:
        script += f"stat_of {q(f.kind)} {q(f.path)}\n"
    script += (
        f"if [ -f {q(x.properties_path)} ] && [ -r {q(x.properties_path)} ]; then\n"
        f"  printf 'props %s\\n' \"$(head -c 1048576 -- {q(x.properties_path)} | base64 -w0)\"\n"
        "fi\n"
        "emit listen \"$(awk '$4 == \"0A\"' /proc/net/tcp /proc/net/tcp6 2>/dev/null)\"\n"
    )
    if x.service_user:
        script += f'emit uid "$(id -u -- {q(x.service_user)} 2>/dev/null)"\n'
    script += (
        f"if [ -e {q(x.pending_marker)} ]; then emit pending yes; else emit pending no; fi\n"
        f"if [ -f {q(x.ca_pem)} ]; then emit capem \"$(head -c {MAX_TEXT} -- {q(x.ca_pem)})\"; else emit capem.rc missing; fi\n"
    )
    for fd, _ in enumerate(jobs, start=3):
        script += f"cat <&{fd}\n"
    return script + f"echo {q(END)}\n"


class ReportError(ValueError):
    """The host's output is not a whole report (the script did not run, or was cut short)."""


def parse_report(stdout: str) -> dict[str, str]:
    """The records of a report: tag -> value (decoded text)."""
    lines = stdout.splitlines()
    try:
        start = lines.index(BEGIN)
    except ValueError:
        raise ReportError("the host printed no report (did the script run?)") from None
    if END not in lines[start:]:
        raise ReportError("the report was cut short (no END line): the script was stopped or timed out")
    records: dict[str, str] = {}
    for line in lines[start + 1 : lines.index(END, start)]:
        tag, _, value = line.partition(" ")
        try:
            records[tag] = base64.b64decode(value, validate=True).decode("utf-8", errors="surrogateescape")
        except (binascii.Error, ValueError):
            raise ReportError(f"record '{tag[:40]}' of the report is not base64") from None
    return records
