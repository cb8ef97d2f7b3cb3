"""A pull request comment from a kafka-tls preview: ``python -m review.summary < preview.jsonl``.

Input: what ``pulumi preview --json`` prints. Best with the engine's events streamed
(``PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true``, one JSON object per line): only they carry the
stack outputs as this preview computes them (``restart_plan``) and the policy packs' violations.
The default digest (one JSON document) has the steps and diagnostics but neither of those; the
comment then says so.

Output: Markdown, short enough for one screen on a three-broker change, and grouped so that it
stays readable at fifty (``broker-1 … broker-50: reload, no restart (...)``). It shows no secret:
secret values arrive from the engine masked (``[secret]``) and are never printed, and properties
whose name suggests a credential are shown as changed without their values.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from components.properties import parse_properties

# The engine's placeholders for values not known until the up, by type.
UNKNOWNS = frozenset(
    {
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    }
)
SECRET_SIG = "4dabf18193072939515e22adb298388d"
"""The key that marks a secret value in the engine's JSON (its value is masked as [secret])."""
_SENSITIVE = re.compile(r"password|passwd|secret|jaas|credential|token|\.key$", re.IGNORECASE)
_PROVIDER_REF = re.compile(r"^\$\{[^}]+\}$")
ISSUING_OPS = ("create", "replace", "create-replacement")
CHANGING_OPS = ("create", "update", "replace", "create-replacement")
HIDDEN = "(value hidden)"


# --- reading the preview --------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    op: str
    urn: str
    old_inputs: Mapping[str, Any]
    new_inputs: Mapping[str, Any]
    old_outputs: Mapping[str, Any]
    new_outputs: Mapping[str, Any]
    replace_keys: tuple[str, ...] = ()
    diff_keys: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def type(self) -> str:
        return self.urn.split("::")[2].rsplit("$", 1)[-1]

    @property
    def type_path(self) -> str:
        return self.urn.split("::")[2]


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    message: str
    pack: str


@dataclass
class Preview:
    stack: str = ""
    steps: list[Step] = field(default_factory=list)
    outputs: Mapping[str, Any] = field(default_factory=dict)
    """The stack's outputs as the preview computes them (events only)."""
    config: Mapping[str, str] = field(default_factory=dict)
    diagnostics: list[tuple[str, str]] = field(default_factory=list)
    """(severity, message), in order, without debug messages."""
    violations: list[Violation] = field(default_factory=list)
    policy_packs: list[str] = field(default_factory=list)
    changes: Mapping[str, int] = field(default_factory=dict)
    result: str = ""
    streamed: bool = True


def _state(s: Optional[Mapping]) -> tuple[Mapping, Mapping]:
    return ((s or {}).get("inputs") or {}), ((s or {}).get("outputs") or {})


def load(text: str) -> Preview:
    """A preview from ``pulumi preview --json`` output: streamed events or the digest."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("no input: pipe in the output of `pulumi preview --json`")
    try:
        document = json.loads(stripped)
    except json.JSONDecodeError:
        document = None
    if isinstance(document, dict) and "sequence" not in document:
        return _from_digest(document)
    return _from_events(_objects(stripped.splitlines()))


def _objects(lines: Iterable[str]) -> Iterable[Mapping]:
    """The JSON objects among the lines (anything else the CLI printed is skipped)."""
    for line in lines:
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            yield value


def _add(p: Preview, seen: dict[str, int], step: Step) -> None:
    """A step once per resource: a replace comes as create-replacement, replace, delete-replaced."""
    if step.urn not in seen:
        seen[step.urn] = len(p.steps)
        p.steps.append(step)
    elif step.op in ("replace", "create-replacement"):
        p.steps[seen[step.urn]] = step


def _from_digest(d: Mapping) -> Preview:
    p = Preview(streamed=False, config=d.get("config") or {}, changes=d.get("changeSummary") or {})
    seen: dict[str, int] = {}
    for s in d.get("steps") or []:
        old_in, old_out = _state(s.get("oldState"))
        new_in, new_out = _state(s.get("newState"))
        step = Step(
            s["op"],
            s["urn"],
            old_in,
            new_in,
            old_out,
            new_out,
            tuple(s.get("replaceReasons") or ()),
            tuple(s.get("diffReasons") or ()),
        )
        _add(p, seen, step)
    for diag in d.get("diagnostics") or []:
        p.diagnostics.append((diag.get("severity", ""), diag.get("message", "")))
    p.stack = _stack_of(p.steps)
    p.result = "failed" if any(sev == "error" for sev, _ in p.diagnostics) else "succeeded"
    return p


def _from_events(events: Iterable[Mapping]) -> Preview:
    p = Preview()
    seen: dict[str, int] = {}
    for e in events:
        if "preludeEvent" in e:
            p.config = e["preludeEvent"].get("config") or {}
        elif "resourcePreEvent" in e:
            m = e["resourcePreEvent"]["metadata"]
            old_in, old_out = _state(m.get("old"))
            new_in, new_out = _state(m.get("new"))
            step = Step(
                m["op"], m["urn"], old_in, new_in, old_out, new_out, tuple(m.get("keys") or ()), tuple(m.get("diffs") or ())
            )
            _add(p, seen, step)
        elif "resOutputsEvent" in e:
            m = e["resOutputsEvent"]["metadata"]
            if m.get("type") == "pulumi:pulumi:Stack" and (m.get("new") or {}).get("outputs"):
                p.outputs = m["new"]["outputs"]
        elif "diagnosticEvent" in e:
            d = e["diagnosticEvent"]
            if d.get("severity") != "debug" and not d.get("ephemeral"):
                p.diagnostics.append((d.get("severity", ""), d.get("message", "")))
        elif "policyEvent" in e:
            v = e["policyEvent"]
            # The engine sends the policy's description, a newline, then the violation's message.
            message = v.get("message", "").strip().split("\n", 1)[-1].strip()
            p.violations.append(
                Violation(
                    v.get("policyName", ""),
                    v.get("enforcementLevel", ""),
                    message,
                    f"{v.get('policyPackName', '')} {v.get('policyPackVersion', '')}".strip(),
                )
            )
        elif "summaryEvent" in e:
            s = e["summaryEvent"]
            p.changes = s.get("resourceChanges") or {}
            p.result = s.get("result", "")
            p.policy_packs = [f"{name.split('|', 1)[0]} {version}" for name, version in (s.get("PolicyPacks") or {}).items()]
    p.stack = _stack_of(p.steps)
    return p


def _stack_of(steps: Sequence[Step]) -> str:
    return steps[0].urn.split("::")[0].removeprefix("urn:pulumi:") if steps else ""


def is_secret(value: Any) -> bool:
    return value == "[secret]" or (isinstance(value, Mapping) and SECRET_SIG in value)


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in UNKNOWNS


# --- the hosts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostFacts:
    """What makes one host's lines differ from another's: replaced by placeholders for grouping."""

    name: str
    values: tuple[tuple[str, str], ...]
    """(value, placeholder), longest first."""


def host_facts(config: Mapping[str, str]) -> dict[str, HostFacts]:
    out = {}
    for key in ("kafka-tls:brokers", "kafka-tls:connectWorkers"):
        raw = config.get(key)
        try:
            hosts = json.loads(raw) if isinstance(raw, str) else (raw or [])
        except json.JSONDecodeError:
            hosts = []
        for h in hosts if isinstance(hosts, list) else []:
            pairs = [(h.get("host", ""), "<host>"), (h.get("address", ""), "<address>"), (h.get("bindAddress", ""), "<bind>")]
            pairs += [(n, "<dns>") for n in h.get("extraDnsNames") or []] + [(a, "<ip>") for a in h.get("extraIpAddresses") or []]
            # One placeholder per value (the first: an address that is also the bind address is <address>).
            pairs = sorted({v: (v, t) for v, t in reversed(pairs) if v}.values(), key=lambda p: -len(p[0]))
            node = str(h["nodeId"]) if h.get("nodeId") is not None else ""
            out[h.get("name", "")] = HostFacts(h.get("name", ""), tuple(pairs + ([(node, "<node.id>")] if node else [])))
    return out


def normalize(key: str, value: str, facts: Optional[HostFacts]) -> str:
    """The value with the host's own names and addresses as placeholders."""
    if not facts:
        return value
    for needle, token in facts.values:
        if token == "<node.id>":
            if key in ("node.id", "broker.id") and value == needle:
                return token
            continue
        value = re.sub(rf"(?<![0-9A-Za-z.-]){re.escape(needle)}(?![0-9A-Za-z-]|\.[0-9A-Za-z])", token, value)
    return value


_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def host_ranges(names: Sequence[str], limit: int = 8) -> str:
    """'broker-1 … broker-50' for a run of consecutive numbered names, else a list (capped)."""
    parts: list[str] = []
    i = 0
    while i < len(names):
        m = _NUMBERED.match(names[i])
        j = i
        if m:
            while j + 1 < len(names):
                n = _NUMBERED.match(names[j + 1])
                if not (n and n.group(1) == m.group(1) and int(n.group(2)) == int(m.group(2)) + (j + 1 - i)):
                    break
                j += 1
        if j - i >= 2:
            parts.append(f"{names[i]} … {names[j]}")
        else:
            parts.extend(names[i : j + 1])
        i = j + 1
    if len(parts) > limit:
        return ", ".join(parts[:limit]) + f", … (+{len(parts) - limit} more)"
    return ", ".join(parts)


# --- the sections ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanLine:
    host: str
    action: str
    reason: str


def parse_plan_line(line: str) -> PlanLine:
    """'broker-2: restart (properties changed: x)' -> ('broker-2', 'restart', 'properties changed: x')."""
    host, _, rest = line.partition(": ")
    action, sep, reason = rest.partition(" (")
    return PlanLine(host, action, reason[:-1] if sep and reason.endswith(")") else reason)


def group_runs(items: Sequence[tuple[str, Any]]) -> list[tuple[list[str], Any]]:
    """Consecutive (host, what) with the same ``what``, merged: the order is kept."""
    out: list[tuple[list[str], Any]] = []
    for host, what in items:
        if out and out[-1][1] == what:
            out[-1][0].append(host)
        else:
            out.append(([host], what))
    return out


def group_all(items: Sequence[tuple[str, Any]]) -> list[tuple[list[str], Any]]:
    """Every host with the same ``what`` in one group, groups in order of their first host."""
    out: dict[Any, list[str]] = {}
    for host, what in items:
        out.setdefault(what, []).append(host)
    return [(hosts, what) for what, hosts in out.items()]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def plan_section(p: Preview) -> list[str]:
    plan = p.outputs.get("restart_plan")
    if not p.streamed:
        return [
            "**Rollout plan**: not in this input: the `pulumi preview --json` digest lacks the previewed outputs. "
            "Preview with `PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true` for it."
        ]
    if not isinstance(plan, list) or not plan:
        return ["**Rollout plan**: none (the preview computed no `restart_plan`; see the diagnostics)."]
    lines = [parse_plan_line(str(line)) for line in plan]
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.action.split(",")[0]] = counts.get(line.action.split(",")[0], 0) + 1
    tally = ", ".join(f"{n} {a}" for a, n in counts.items())
    out = [f"**Rollout plan**, in order ({tally}):", "", "| hosts | action | why |", "| --- | --- | --- |"]
    for hosts, (action, reason) in group_runs([(line.host, (line.action, line.reason)) for line in lines]):
        out.append(f"| {host_ranges(hosts)} | {action} | {_cell(reason) or '–'} |")
    return out


def _cert_owner(step: Step, cluster: str) -> tuple[str, str]:
    """('host', 'broker-1') or ('client', 'orders') or ('ca', '')."""
    name = step.name.removesuffix("-cert")
    if "ClientIdentity" in step.type_path:
        return "client", name.removeprefix(f"{cluster}-client-")
    if step.type.endswith("SelfSignedCert"):
        return "ca", ""
    return "host", name.removeprefix(f"{cluster}-")


_REISSUE_REASONS = {
    "validityPeriodHours": "validity changed",
    "earlyRenewalHours": "renewal window changed",
    "readyForRenewal": "inside its renewal window",
    "certRequestPem": "new key, subject or SANs",
    "caCertPem": "new CA",
    "caPrivateKeyPem": "new CA",
    "allowedUses": "key usages changed",
    "privateKeyPem": "new key",
    "subject": "subject changed",
}


def _validity(step: Step) -> str:
    hours = step.new_inputs.get("validityPeriodHours")
    return f"valid {int(hours) // 24} days" if isinstance(hours, (int, float)) else "validity unknown"


_PLAN_REISSUE = re.compile(r"certificate re-issued: ([^;]+)")


def _plan_reissue_reasons(p: Preview) -> dict[str, str]:
    """Per host, why the plan re-issues its certificate ('validity changed'). The plan knows;
    the engine's replace keys may also name an input only unknown in the preview (a CSR a host
    command makes again), which is no reason of its own."""
    plan = p.outputs.get("restart_plan")
    lines = [parse_plan_line(str(line)) for line in plan] if isinstance(plan, list) else []
    return {line.host: m.group(1) for line in lines if (m := _PLAN_REISSUE.search(line.reason))}


def certificates_section(p: Preview, cluster: str, order: Sequence[str]) -> list[str]:
    planned = _plan_reissue_reasons(p)
    rows: list[tuple[str, Any]] = []
    for s in p.steps:
        if s.op not in ISSUING_OPS or not s.type.endswith(("LocallySignedCert", "SelfSignedCert")):
            continue
        kind, who = _cert_owner(s, cluster)
        label = {"host": who, "client": f"client {who}", "ca": "the CA"}[kind]
        end = s.new_outputs.get("validityEndTime")
        expiry = f"expires {end}" if isinstance(end, str) and end and not is_unknown(end) else f"on up, {_validity(s)}"
        if s.op == "create":
            what = f"issued {expiry}"
        else:
            from_plan = planned.get(who) if kind == "host" else None
            why = [from_plan] if from_plan else sorted({_REISSUE_REASONS.get(k, k) for k in s.replace_keys}) or ["replaced"]
            # The day only: the certificates one up issued end seconds apart, and would not group.
            was = s.old_outputs.get("validityEndTime")
            what = f"re-issued {expiry} ({', '.join(why)}" + (
                f"; the old one ran to {was[:10]})" if isinstance(was, str) and was else ")"
            )
        rows.append((label, what))
    if not rows:
        return ["**Certificates**: none issued or renewed."]
    rank = {h: i for i, h in enumerate(order)}
    rows.sort(key=lambda r: (r[0] != "the CA", r[0].startswith("client "), rank.get(r[0], len(rank)), r[0]))
    out = ["**Certificates** issued or renewed:"]
    for hosts, what in group_all(rows):
        out.append(f"- {host_ranges(hosts)}: {what}")
    return out


def _shown(key: str, value: str) -> str:
    if _SENSITIVE.search(key) and not _PROVIDER_REF.match(value):
        return HIDDEN
    return f"`{value}`" if value else "(empty)"


def property_changes(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """One line per added, removed or changed property, in the new file's order (removed last)."""
    out = []
    for key, value in new.items():
        if key not in old:
            out.append(f"`{key}` added: {_shown(key, value)}")
        elif old[key] != value:
            before, after = _shown(key, old[key]), _shown(key, value)
            out.append(f"`{key}`: {before} → {after}" if before != HIDDEN else f"`{key}` changed {HIDDEN}")
    out += [f"`{key}` removed (was {_shown(key, value)})" for key, value in old.items() if key not in new]
    return out


def _text(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and not is_unknown(value) and not is_secret(value) else None


def properties_section(p: Preview, cluster: str, order: Sequence[str]) -> list[str]:
    facts = host_facts(p.config)
    changed: list[tuple[str, Any]] = []
    whole: list[tuple[str, Any]] = []
    prefix = f"{cluster}-rollout-final-"
    for s in p.steps:
        if not s.name.startswith(prefix) or s.op not in CHANGING_OPS:
            continue
        host = s.name.removeprefix(prefix)
        f = facts.get(host)
        new_text = _text(s.new_inputs.get("stdin"))
        if new_text is None:
            changed.append((host, ("(the new file is not known in this preview)",)))
            continue
        new = {k: normalize(k, v, f) for k, v in parse_properties(new_text).items()}
        old_text = _text(s.old_inputs.get("stdin")) if s.op != "create" else None
        if old_text is None:
            whole.append((host, tuple(f"{k}={_shown(k, v).strip('`')}" for k, v in new.items())))
            continue
        old = {k: normalize(k, v, f) for k, v in parse_properties(old_text).items()}
        if lines := property_changes(old, new):
            changed.append((host, tuple(lines)))
    if not changed and not whole:
        return ["**Properties**: no host's properties file changes."]
    rank = {h: i for i, h in enumerate(order)}
    out = ["**Properties** that change (`<host>`, `<address>`: each host's own):"]
    for hosts, lines in group_all(sorted(changed, key=lambda r: rank.get(r[0], len(rank)))):
        out.append(f"- {host_ranges(hosts)}: " + ("; ".join(lines) if len(lines) <= 3 else f"{len(lines)} properties:"))
        if len(lines) > 3:
            out += [f"  - {line}" for line in lines]
    for hosts, lines in group_all(sorted(whole, key=lambda r: rank.get(r[0], len(rank)))):
        out += [
            f"- {host_ranges(hosts)}: the whole file is written (new to kafka-tls), {len(lines)} properties",
            "  <details><summary>the file</summary>",
            "",
            "  ```properties",
            *(f"  {line}" for line in lines),
            "  ```",
            "  </details>",
        ]
    return out


_LEVEL_MARK = {"mandatory": "❌", "remediate": "❌", "advisory": "⚠️"}


def policy_section(p: Preview) -> list[str]:
    if not p.streamed:
        return ["**Policies**: not in this input (the digest carries no policy events)."]
    if not p.violations and not any(s.type == "kafka-tls:index:KafkaTlsCluster" for s in p.steps):
        return ["**Policies**: nothing to judge: the program stopped before it declared the cluster."]
    if not p.violations:
        ran = ", ".join(p.policy_packs)
        return [f"**Policies**: {ran}: no violations." if ran else "**Policies**: no policy pack ran."]
    mandatory = sum(1 for v in p.violations if v.level in ("mandatory", "remediate"))
    advisory = len(p.violations) - mandatory
    out = [f"**Policies**: {mandatory} mandatory violation{'s' * (mandatory != 1)}, {advisory} advisory:"]
    seen = set()
    for v in sorted(p.violations, key=lambda v: (v.level not in ("mandatory", "remediate"), v.policy)):
        if (v.policy, v.message) in seen:
            continue
        seen.add((v.policy, v.message))
        out.append(f"- {_LEVEL_MARK.get(v.level, '•')} `{v.policy}` ({v.level}): {v.message}")
    return out


_HOST_MESSAGE = re.compile(r"^([A-Za-z0-9._-]+): (.+)$", re.S)


def warnings_section(p: Preview, order: Sequence[str]) -> list[str]:
    """The program's warnings and errors (CA rotation phase, expiry, config problems), grouped."""
    items: list[tuple[str, Any]] = []
    for severity, message in p.diagnostics:
        text = message.strip()
        if severity not in ("warning", "error") or not text or text == "preview failed":
            continue
        m = _HOST_MESSAGE.match(text)
        if m and m.group(1) in order:
            items.append((m.group(1), (severity, m.group(2))))
        else:
            items.append(("", (severity, text)))
    if not items:
        return []
    out = ["**Warnings**:"]
    rank = {h: i for i, h in enumerate(order)}
    for hosts, (severity, text) in group_all(items):
        who = host_ranges(sorted((h for h in hosts if h), key=lambda h: rank[h]))
        mark = "❌" if severity == "error" else "⚠️"
        out.append(f"- {mark} {who + ': ' if who else ''}{_cell(text)}")
    return out


def render(p: Preview) -> str:
    cluster = next((s.name for s in p.steps if s.type == "kafka-tls:index:KafkaTlsCluster"), "kafka")
    plan = p.outputs.get("restart_plan")
    order = [parse_plan_line(str(line)).host for line in plan] if isinstance(plan, list) else []
    changes = ", ".join(f"{n} to {op}" for op, n in sorted(p.changes.items()) if op != "same" and n)
    mark = "✅" if p.result == "succeeded" else "❌"
    head = [f"### kafka-tls preview of `{p.stack}`: {mark} {p.result or 'unknown'}" + (f" ({changes})" if changes else "")]
    sections = [
        plan_section(p),
        policy_section(p),
        warnings_section(p, order),
        certificates_section(p, cluster, order),
        properties_section(p, cluster, order),
    ]
    out = head
    for s in sections:
        if s:
            out += ["", *s]
    return "\n".join(out) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m review.summary", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("preview", nargs="?", help="the `pulumi preview --json` output (default: stdin)")
    args = parser.parse_args(argv)
    text = Path(args.preview).read_text(encoding="utf-8") if args.preview else sys.stdin.read()
    try:
        preview = load(text)
    except ValueError as err:
        print(f"review.summary: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(render(preview))
    return 0


if __name__ == "__main__":
    sys.exit(main())
