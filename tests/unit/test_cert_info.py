"""Expiry arithmetic and the renewal-window warnings a preview prints."""

from datetime import datetime, timezone

from components.cert_info import days_left, renewal_warnings

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)


def test_days_left_counts_whole_days_and_goes_negative_after_expiry():
    assert days_left("2026-12-09T12:00:00Z", NOW) == 10
    assert days_left("2026-12-09T11:59:59Z", NOW) == 9
    assert days_left("2026-11-28T12:00:00Z", NOW) == -1


def test_only_certificates_inside_the_window_are_named():
    certs = {
        "broker-1": {"not_after": "2027-11-29T12:00:00Z"},
        "broker-2": {"not_after": "2026-12-20T12:00:00Z"},
        "connect-1": {"not_after": "2026-11-20T00:00:00Z"},
    }
    lines = renewal_warnings(certs, 30, NOW)
    assert [line.split(":")[0] for line in lines] == ["broker-2", "connect-1"]
    assert "expires in 21 days" in lines[0] and "inside its 30-day renewal window" in lines[0]
    assert "has expired" in lines[1]
    assert [line.split(":")[0] for line in renewal_warnings(certs, 0, NOW)] == ["connect-1"]
