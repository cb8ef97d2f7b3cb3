#!/usr/bin/env bash
# Smoke check of the toolchain: a throwaway Pulumi Python project in /tmp,
# file backend, `pulumi up --yes` then `pulumi destroy --yes`.
#
# Stage "engine": CLI + Python language host + a Python dynamic provider,
#   stack config and an exported output.
# Stage "providers": tls.PrivateKey (ECDSA P256) + tls.SelfSignedCert +
#   command.local.Command `echo hi`, exporting the cert PEM; needs the
#   `tls 5.6.2` and `command 1.2.1` resource plugins (`pulumi plugin ls`).
#
# Exit 0: every stage passed. Exit 2: the engine stage passed but the provider
# plugins are missing (SMOKE_CORE_ONLY=1 turns that into exit 0). Other: failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
source "$here/env.sh"

root="${SMOKE_DIR:-/tmp/kafka-tls-smoke}"
venv="$root/venv"
reqs="pulumi==3.272.0 pulumi-command==1.2.1 pulumi-tls==5.6.2"
if [[ ! -f "$venv/.reqs" || "$(cat "$venv/.reqs")" != "$reqs" ]]; then
  echo "== venv: $reqs" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q $reqs
  echo "$reqs" > "$venv/.reqs"
fi

export PULUMI_BACKEND_URL="file://$root/state"
export PULUMI_CONFIG_PASSPHRASE=smoke

echo "== pulumi $(pulumi version) at $(command -v pulumi); PULUMI_HOME=$PULUMI_HOME" >&2
pulumi plugin ls >&2 || true

run_project() { # name, program text
  local dir="$root/$1"
  rm -rf "$dir" "$root/state"
  mkdir -p "$dir" "$root/state"
  cat > "$dir/Pulumi.yaml" <<EOF
name: kt-smoke-$1
runtime:
  name: python
  options:
    virtualenv: $venv
EOF
  printf '%s\n' "$2" > "$dir/__main__.py"
  (
    cd "$dir"
    pulumi stack init dev --non-interactive
    pulumi config set greeting kafka
    pulumi up --yes --non-interactive --skip-preview
    pulumi stack output --json > "$dir/outputs.json"
    pulumi destroy --yes --non-interactive --skip-preview
    pulumi stack rm dev --yes --non-interactive
  )
  echo "== outputs of $1:" >&2
  cat "$dir/outputs.json" >&2
}

echo "== stage engine" >&2
run_project engine '
import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider

class _Hello(ResourceProvider):
    def create(self, props):
        return CreateResult(id_="hello", outs={"text": "hi " + props["who"]})

class Hello(Resource):
    text: pulumi.Output[str]
    def __init__(self, name, who):
        super().__init__(_Hello(), name, {"who": who, "text": None})

h = Hello("hello", pulumi.Config().require("greeting"))
pulumi.export("text", h.text)
'
python3 - "$root/engine/outputs.json" <<'EOF'
import json, sys
out = json.load(open(sys.argv[1]))
assert out["text"] == "hi kafka", out
EOF
echo "== stage engine: PASS" >&2

plugins="$(pulumi plugin ls 2>/dev/null || true)"
missing=""
for p in "tls 5.6.2" "command 1.2.1"; do
  set -- $p
  printf '%s\n' "$plugins" | awk -v n="$1" -v v="$2" '$1==n && $2=="resource" && $3==v {f=1} END {exit !f}' \
    || missing="$missing $1@$2"
done
if [[ -n "$missing" ]]; then
  echo "== stage providers: SKIPPED, resource plugins missing:$missing" >&2
  [[ "${SMOKE_CORE_ONLY:-}" == 1 ]] && exit 0
  exit 2
fi

echo "== stage providers" >&2
run_project providers '
import pulumi
import pulumi_command as command
import pulumi_tls as tls

key = tls.PrivateKey("key", algorithm="ECDSA", ecdsa_curve="P256")
cert = tls.SelfSignedCert("cert",
    private_key_pem=key.private_key_pem,
    subject=tls.SelfSignedCertSubjectArgs(common_name="smoke.kafka-tls.test"),
    validity_period_hours=24,
    allowed_uses=["digital_signature", "server_auth"])
hi = command.local.Command("hi", create="echo hi")
pulumi.export("cert_pem", cert.cert_pem)
pulumi.export("stdout", hi.stdout)
'
python3 - "$root/providers/outputs.json" <<'EOF'
import json, sys
out = json.load(open(sys.argv[1]))
assert out["stdout"] == "hi", out
assert out["cert_pem"].startswith("-----BEGIN CERTIFICATE-----"), out
EOF
echo "== stage providers: PASS" >&2
