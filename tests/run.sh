#!/usr/bin/env bash
# The tests (`make test`): unit and lab tests first (beside each other), then the end-to-end
# modules on two labs at once. The machine waits on JVM starts, SSH round trips and Kafka's own timers far more than it
# computes, so two labs (lab/config.py's slots 0 and 1, lab/README.md "More than one lab") each
# running half of the modules take a little more than half the time of one.
#
# Exit code: the first failing part's (pytest's 5, "no tests collected", included), else 0.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

# Each half takes about the same time (per-module times: the stop notes).
SLOT0_E2E=(tests/e2e/test_e2e_clients.py tests/e2e/test_e2e_lifecycle.py tests/e2e/test_e2e_lifecycle_tls_scan.py
           tests/e2e/test_e2e_review.py)
SLOT1_E2E=(tests/e2e/test_e2e_doctor.py tests/e2e/test_e2e_faults_and_secrets.py tests/e2e/test_e2e_rollout.py)
missing=$(comm -23 <(ls tests/e2e/test_*.py | sort) <(printf '%s\n' "${SLOT0_E2E[@]}" "${SLOT1_E2E[@]}" | sort))
if [ -n "$missing" ]; then
  echo "tests/run.sh: end-to-end modules in neither half: $missing" >&2
  exit 1
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# The toolchain the end-to-end tests need builds meanwhile (a cold build takes minutes).
nice -n 10 toolchain/build.sh >"$logs/toolchain.log" 2>&1 &
build=$!

# Unit tests (no lab, no engine) beside the lab tests (slot 0); the lab stays up for the
# end-to-end half that uses it.
$PY -m pytest tests/unit >"$logs/unit.log" 2>&1 &
unit=$!
KAFKA_TLS_KEEP_LAB=1 $PY -m pytest tests/lab
rc_lab=$?
wait "$unit"
rc_unit=$?
echo
echo "==================== unit tests ===================="
cat "$logs/unit.log"

if ! wait "$build"; then
  echo "toolchain/build.sh failed:" >&2
  tail -n 50 "$logs/toolchain.log" >&2
  exit 1
fi
export KAFKA_TLS_TOOLCHAIN_READY=1  # tests/conftest.py: no second build check per process

# The second lab's half in the background (its output follows the first's), the first's here.
KAFKA_TLS_LAB_SLOT=1 $PY -m pytest "${SLOT1_E2E[@]}" >"$logs/slot1.log" 2>&1 &
slot1=$!
$PY -m pytest "${SLOT0_E2E[@]}"
rc0=$?
wait "$slot1"
rc1=$?
echo
echo "==================== end-to-end modules on the second lab (KAFKA_TLS_LAB_SLOT=1) ===================="
cat "$logs/slot1.log"

for part in "$rc_unit" "$rc_lab" "$rc0" "$rc1"; do
  if [ "$part" -ne 0 ]; then exit "$part"; fi
done
exit 0
