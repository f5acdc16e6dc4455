"""The README's library example must run as shown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_move_nic_example_runs_and_restores() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "move_nic.py")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "in the pod: enp68s0 mtu 9000 up=True" in proc.stdout
    assert "  55.1.1.56/24\n  fd00::56/64\n" in proc.stdout
    assert proc.stdout.rstrip().endswith("identical to before: True")
