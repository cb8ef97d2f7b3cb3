#!/usr/bin/env bash
# Smoke check of the toolchain on the real plugins: a throwaway Pulumi Python
# project in $SMOKE_DIR (default /tmp/kafka-tls-smoke), file backend,
# `pulumi up` then `pulumi destroy` of tls.PrivateKey (ECDSA P256) +
# tls.SelfSignedCert + command.local.Command, with structured stack config read
# by pulumi.Config().require_object(). Prints `pulumi plugin ls` and the plugin
# part of `pulumi about`. Exit 0 = pass.
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
echo "== pulumi plugin ls" >&2
pulumi plugin ls >&2

dir="$root/project"
rm -rf "$dir" "$root/state"
mkdir -p "$dir" "$root/state"
cat > "$dir/Pulumi.yaml" <<EOF
name: kt-smoke
runtime:
  name: python
  options:
    virtualenv: $venv
EOF
cat > "$dir/__main__.py" <<'EOF'
import pulumi
import pulumi_command as command
import pulumi_tls as tls

# Structured config, as the kafka-tls program reads its cluster.
cluster = pulumi.Config().require_object("cluster")
hosts = [b["host"] for b in cluster["brokers"]]

key = tls.PrivateKey("key", algorithm="ECDSA", ecdsa_curve="P256")
cert = tls.SelfSignedCert("cert",
    private_key_pem=key.private_key_pem,
    subject=tls.SelfSignedCertSubjectArgs(common_name=cluster["name"]),
    dns_names=hosts,
    validity_period_hours=24,
    allowed_uses=["digital_signature", "server_auth"])
hi = command.local.Command("hi", create=f"echo hi {' '.join(hosts)}")
pulumi.export("cert_pem", cert.cert_pem)
pulumi.export("stdout", hi.stdout)
pulumi.export("port", cluster["port"])
EOF

cd "$dir"
pulumi stack init dev --non-interactive
pulumi config set --path cluster.name smoke.kafka-tls.test
pulumi config set --path 'cluster.brokers[0].host' kafka-0.test
pulumi config set --path 'cluster.brokers[1].host' kafka-1.test
pulumi config set --path cluster.port 9093
pulumi up --yes --non-interactive --skip-preview 2>&1 | tee "$root/up.log" >&2
# The engine warns when it takes a plugin from $PATH instead of PULUMI_HOME.
if grep -q 'from \$PATH' "$root/up.log"; then
  echo "== FAIL: a plugin came from \$PATH, not from PULUMI_HOME" >&2
  exit 1
fi
pulumi stack output --json --show-secrets > "$root/outputs.json"
echo "== pulumi about (plugins)" >&2
pulumi about > "$root/about.txt" 2>&1 || true
sed -n '/^Plugins/,/^$/p' "$root/about.txt" >&2
for p in "resource command 1.2.1" "resource tls 5.6.2" "language python"; do
  # shellcheck disable=SC2086
  set -- $p
  awk -v k="$1" -v n="$2" -v v="${3:-}" '$1 == k && $2 == n && (v == "" || $3 == v) {f = 1} END {exit !f}' "$root/about.txt" \
    || { echo "== FAIL: pulumi about does not list $p" >&2; exit 1; }
done
pulumi destroy --yes --non-interactive --skip-preview >&2
pulumi stack rm dev --yes --non-interactive >&2

python3 - "$root/outputs.json" <<'EOF'
import json, sys
out = json.load(open(sys.argv[1]))
assert out["stdout"] == "hi kafka-0.test kafka-1.test", out
assert out["cert_pem"].startswith("-----BEGIN CERTIFICATE-----"), out
assert out["port"] == 9093, out
EOF
echo "== smoke: PASS" >&2
