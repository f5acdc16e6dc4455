"""The README's first command must keep working."""

from __future__ import annotations

import subprocess
import sys

from tests.e2e.harness import REPO


def test_demo_reproduces_seed_verification() -> None:
    proc = subprocess.run([sys.executable, "-m", "tests.e2e.demo"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "enp68s0: error fetching interface information: Device not found" in out  # host, after ADD
    assert out.count("inet 55.1.1.56/24 brd 55.1.1.255 scope global enp68s0") == 3  # before, pod, after DEL
    assert out.rstrip().endswith("identical to before (name, MTU, state, addresses, routes): True")
