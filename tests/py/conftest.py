"""pytest setup for the Python tests: build the ktpkt tool once per session
(from the repository root) so every test runs against the current core."""

import subprocess

import pytest

import ktpkt


@pytest.fixture(scope="session", autouse=True)
def ktpkt_tool():
    res = subprocess.run(["make", "-s", "build/tools/ktpkt"], cwd=ktpkt.ROOT,
                         capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        pytest.fail("building build/tools/ktpkt failed:\n" + res.stdout + res.stderr,
                    pytrace=False)
    return ktpkt.TOOL
