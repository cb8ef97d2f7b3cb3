#!/usr/bin/env bash
# The tests (`make test`): the unit tests, the lab tests and half of the end-to-end modules on the
# lab (IPv4 loopback hosts), then the other half on a second lab whose hosts have IPv6 addresses
# (lab/config.py's slot 1, lab/README.md "More than one lab"), so that the rollout, the doctor and
# the faults run over IPv6 end to end. One after the other: this machine's two cores are busy
# with one lab's rollouts already (two at once took longer than one after the other).
#
# Exit code: the first failing part's (pytest's 5, "no tests collected", included), else 0.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

IPV4_E2E=(tests/e2e/test_e2e_clients.py tests/e2e/test_e2e_lifecycle.py tests/e2e/test_e2e_lifecycle_tls_scan.py
          tests/e2e/test_e2e_review.py)
IPV6_E2E=(tests/e2e/test_e2e_doctor.py tests/e2e/test_e2e_faults_and_secrets.py tests/e2e/test_e2e_rollout.py)
missing=$(comm -23 <(ls tests/e2e/test_*.py | sort) <(printf '%s\n' "${IPV4_E2E[@]}" "${IPV6_E2E[@]}" | sort))
if [ -n "$missing" ]; then
  echo "tests/run.sh: end-to-end modules on neither lab: $missing" >&2
  exit 1
fi

# tests/conftest.py starts the toolchain build in the background once the first session has
# collected its tests, so that a cold build overlaps with the unit and lab tests.
$PY -m pytest tests/unit tests/lab "${IPV4_E2E[@]}"
rc_ipv4=$?
echo
echo "==================== the second lab: IPv6 hosts (KAFKA_TLS_LAB_SLOT=1) ===================="
KAFKA_TLS_LAB_SLOT=1 $PY -m pytest "${IPV6_E2E[@]}"
rc_ipv6=$?

for part in "$rc_ipv4" "$rc_ipv6"; do
  if [ "$part" -ne 0 ]; then exit "$part"; fi
done
exit 0
