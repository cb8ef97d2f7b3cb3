"""End-to-end tests: the run's log starts with the plugins the engine has, so a reader sees
which ran (the state check in test_e2e_rollout proves the resources were made by them)."""

from __future__ import annotations

import os
import subprocess

import pytest

from labstack.stack import toolchain_env


@pytest.fixture(scope="session", autouse=True)
def engine_plugins(request):
    env = {**os.environ, **toolchain_env()}
    listing = subprocess.run(["pulumi", "plugin", "ls"], env=env, capture_output=True, text=True, check=True).stdout
    version = subprocess.run(["pulumi", "version"], env=env, capture_output=True, text=True, check=True).stdout
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\npulumi {version.strip()}, plugins (PULUMI_HOME={env.get('PULUMI_HOME')}):\n{listing}", flush=True)
    return listing
