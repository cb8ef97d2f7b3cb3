"""toolchain/build.sh without the upstream archives and without an installed Pulumi: one clear
message with both ways out, exit 1, nothing built and no silent fallback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_missing_archives_and_no_plugins_fail_with_both_ways_out(tmp_path):
    env = {
        "HOME": os.environ.get("HOME", "/root"),
        "PATH": "/usr/local/go/bin:/usr/bin:/bin",  # no pulumi on it
        "KAFKA_TLS_UPSTREAM": str(tmp_path / "no-such-dir"),
        "KAFKA_TLS_CACHE": str(tmp_path / "cache"),
    }
    result = subprocess.run([str(REPO / "toolchain/build.sh")], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stdout == ""  # no bin dir printed
    for archive in ("pulumi-command-v1.2.1.tar.gz", "pulumi-tls-f7db93b.tar.gz", "pulumi-language-python-v3.259.0.tar.gz"):
        assert archive in result.stderr
    assert "KAFKA_TLS_UPSTREAM" in result.stderr
    assert "pulumi plugin install resource command 1.2.1" in result.stderr
    assert "pulumi plugin install resource tls 5.6.2 --file" in result.stderr
    assert not (tmp_path / "cache" / "parts").exists() or not any((tmp_path / "cache" / "parts").rglob("pulumi*"))
