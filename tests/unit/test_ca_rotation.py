"""CA rotation: the phase each `up` runs, the trusted bundle, and which CA ends a certificate's chain."""

from __future__ import annotations

import pytest

from components.ca_rotation import Phase, ca_spec, issuer_of, next_rotation
from components.config import validate_config
from tests.unit.certs import make_ca, make_csr, sign_csr
from tests.unit.sample import sample

OLD, NEW = make_ca("kafka-tls CA"), make_ca("kafka-tls CA")  # same name, different keys


def run_ups(specs: list[str], cas: dict[str, str]) -> list[tuple]:
    """Play `pulumi up` once per entry of ``specs`` (the configured CA each time): what each phase
    trusts and which CA issues, as the next `up` reads it from the outputs."""
    last, seen = None, []
    for spec in specs:
        rotation = next_rotation(last, spec)
        current = cas[spec]
        trusted = rotation.trusted(current)
        issuer = last["signing_ca_pem"] if rotation.keep_issued_certificates and last else current
        seen.append((rotation.phase, rotation.dropping_old, len(trusted), issuer == current))
        last = rotation.state(current)
        assert issuer.strip() + "\n" in trusted, "the issuing CA must always be trusted"
    return seen


def test_one_config_change_then_three_ups_rotate_with_overlap():
    cas = {"a": OLD.cert_pem, "b": NEW.cert_pem}
    assert run_ups(["a", "a", "b", "b", "b", "b"], cas) == [
        (Phase.STEADY, False, 1, True),
        (Phase.STEADY, False, 1, True),
        (Phase.TRUST_BOTH, False, 2, False),  # phase 1: both trusted, certificates stay from the old CA
        (Phase.REISSUED, False, 2, True),  # phase 2: re-issued under the new CA, old still trusted
        (Phase.STEADY, True, 1, True),  # phase 3: the old CA dropped
        (Phase.STEADY, False, 1, True),
    ]


def test_a_failed_up_repeats_its_phase():
    """The output is written only after a successful rollout, so the next up sees the last one."""
    rotation = next_rotation({"phase": "steady", "signing_spec": "a", "signing_ca_pem": OLD.cert_pem}, "b")
    assert rotation.phase is Phase.TRUST_BOTH
    again = next_rotation({"phase": "steady", "signing_spec": "a", "signing_ca_pem": OLD.cert_pem}, "b")
    assert again == rotation


def test_a_change_of_mind_in_phase_1_keeps_trusting_the_issuing_ca():
    third = make_ca("kafka-tls CA")
    last = next_rotation(None, "a").state(OLD.cert_pem)
    last = next_rotation(last, "b").state(NEW.cert_pem)
    rotation = next_rotation(last, "c")
    assert rotation.phase is Phase.TRUST_BOTH
    assert rotation.trusted(third.cert_pem) == [OLD.cert_pem, third.cert_pem]


def test_a_new_rotation_right_after_phase_2_trusts_the_ca_that_issued_last():
    last = next_rotation(None, "a").state(OLD.cert_pem)
    last = next_rotation(last, "b").state(NEW.cert_pem)
    last = next_rotation(last, "b").state(NEW.cert_pem)  # phase 2 done: NEW issued everything
    third = make_ca("kafka-tls CA")
    rotation = next_rotation(last, "c")
    assert rotation.phase is Phase.TRUST_BOTH and rotation.trusted(third.cert_pem) == [NEW.cert_pem, third.cert_pem]


def test_ca_spec_changes_for_a_new_key_or_name_only():
    base = validate_config(sample())
    same = validate_config(sample(ca={"validityDays": 3000, "earlyRenewalDays": 60}))
    assert ca_spec(base) == ca_spec(same), "a CA renewed under the same key and name needs no rotation"
    for change in ({"generation": 2}, {"keyAlgorithm": "RSA"}, {"commonName": "other CA"}):
        assert ca_spec(validate_config(sample(ca=change))) != ca_spec(base), change


@pytest.mark.parametrize("order", [(OLD, NEW), (NEW, OLD)])
def test_issuer_is_found_by_signature_among_cas_of_the_same_name(order):
    csr = make_csr("kafka-1", ["kafka-1"], [])[1]
    cert = sign_csr(csr, NEW)
    assert issuer_of(cert, [c.cert_pem for c in order]) == NEW.cert_pem

