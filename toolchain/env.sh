# kafka-tls Pulumi environment.
#
#   source toolchain/env.sh          # build/reuse the toolchain, set up this shell
#   toolchain/env.sh --print         # print the `export` lines instead
#   eval "$(toolchain/env.sh --print)"
#
# Runs build.sh (which builds, caches and registers the plugins, or finds an
# installed Pulumi that has them) and exports PATH (bin dir first),
# PULUMI_HOME, PULUMI_SKIP_UPDATE_CHECK=true and
# PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true. PULUMI_HOME is the
# project's own ($KAFKA_TLS_CACHE/pulumi-home) for the built toolchain, and the
# caller's own (default ~/.pulumi) when build.sh chose the installed Pulumi.
# It sets no backend URL and no passphrase: callers set PULUMI_BACKEND_URL and
# PULUMI_CONFIG_PASSPHRASE themselves.

_kt_env() {
  local here cache out
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  cache="${KAFKA_TLS_CACHE:-$HOME/.cache/kafka-tls}"
  out="$("$here/build.sh")" || return 1
  _kt_bin="${out##*$'\n'}"
  [ -x "$_kt_bin/pulumi" ] || { echo "env.sh: build.sh gave no usable bin dir" >&2; return 1; }
  # A bin dir inside the cache is the built toolchain: its plugins are registered
  # in the cache's PULUMI_HOME. Anything else is an installed Pulumi: keep the caller's.
  case "$(readlink -f "$_kt_bin")/" in
    "$(readlink -f "$cache")"/*) _kt_home="$cache/pulumi-home" ;;
    *) _kt_home="${PULUMI_HOME:-$HOME/.pulumi}" ;;
  esac
}

if [ "${1:-}" = "--print" ]; then
  set -eu
  _kt_env
  printf 'export PATH=%q:"$PATH"\n' "$_kt_bin"
  printf 'export PULUMI_HOME=%q\n' "$_kt_home"
  printf 'export PULUMI_SKIP_UPDATE_CHECK=true\n'
  printf 'export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true\n'
  exit 0
fi

if _kt_env; then
  case ":$PATH:" in
    *":$_kt_bin:"*) ;;
    *) export PATH="$_kt_bin:$PATH" ;;
  esac
  export PULUMI_HOME="$_kt_home"
  export PULUMI_SKIP_UPDATE_CHECK=true
  export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
else
  echo "env.sh: toolchain setup failed" >&2
  false
fi
unset -f _kt_env
