# kafka-tls Pulumi environment.
#
#   source toolchain/env.sh          # build/reuse the toolchain, set up this shell
#   toolchain/env.sh --print         # print the `export` lines instead
#   eval "$(toolchain/env.sh --print)"
#
# Runs build.sh, puts its bin dir first on PATH, points PULUMI_HOME at the
# kafka-tls cache, turns off update checks and plugin downloads, and registers
# the resource providers built by build.sh with the plugin cache under the
# versions the Python SDKs ask for. It sets no backend URL and no passphrase:
# callers set PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE themselves.

# Versions the pinned Python SDKs request (requirements.txt:
# pulumi-command==1.2.1, pulumi-tls==5.6.2; see each wheel's pulumi-plugin.json).
# A binary is registered only under the version it was built as.
_kt_providers="command:1.2.1 tls:5.6.2"

_kt_env() {
  local here bin home line name ver
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  bin="$("$here/build.sh" | tail -n1)" || return 1
  [ -x "$bin/pulumi" ] || { echo "env.sh: build.sh gave no usable bin dir" >&2; return 1; }
  home="${KAFKA_TLS_CACHE:-$HOME/.cache/kafka-tls}/pulumi-home"
  mkdir -p "$home"

  # Register providers (skipped when `pulumi plugin ls` already shows them).
  local listed
  listed="$(PULUMI_HOME="$home" PULUMI_SKIP_UPDATE_CHECK=true "$bin/pulumi" plugin ls 2>/dev/null || true)"
  for line in $_kt_providers; do
    name="${line%%:*}"; ver="${line#*:}"
    if printf '%s\n' "$listed" | awk -v n="$name" -v v="$ver" '$1==n && $2=="resource" && $3==v {f=1} END {exit !f}'; then
      continue
    fi
    if [ -x "$bin/pulumi-resource-$name" ]; then
      PULUMI_HOME="$home" PULUMI_SKIP_UPDATE_CHECK=true \
        "$bin/pulumi" plugin install resource "$name" "$ver" --file "$bin/pulumi-resource-$name" >&2 \
        || { echo "env.sh: registering $name $ver failed" >&2; return 1; }
    else
      echo "env.sh: WARNING: no pulumi-resource-$name in $bin; resource plugin $name $ver is not available" >&2
    fi
  done

  _kt_bin="$bin"
  _kt_home="$home"
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
