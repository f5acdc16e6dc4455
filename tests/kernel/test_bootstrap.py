"""scripts/bootstrap.sh checks the machine before it installs anything: on another release than
Debian 12 (bookworm) it stops at once with a message naming what the suite needs and why,
instead of failing halfway (qemu from bookworm-backports, the RDMA test module built with gcc-12).

The other release is a private mount namespace's /etc/os-release: the machine's stays as it is.
Root: mounting needs it (this tier's rule, tests/suite/tiers.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WITH_OS_RELEASE = 'mount --bind "$1" /etc/os-release && exec "$2"'


@pytest.mark.parametrize(
    ("os_release", "shown"),
    [
        ('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\nVERSION_CODENAME=trixie\n', "debian trixie"),
        ("NAME=Ubuntu\nID=ubuntu\nVERSION_CODENAME=noble\n", "ubuntu noble"),
        ("NAME=Something\n", "? ?"),
    ],
)
def test_bootstrap_refuses_another_release_before_installing_anything(tmp_path: Path, os_release: str, shown: str) -> None:
    fake = tmp_path / "os-release"
    fake.write_text(os_release)
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", WITH_OS_RELEASE, "sh", str(fake), str(REPO / "scripts" / "bootstrap.sh")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith(f"bootstrap: this is '{shown}'; hostdev's tests need Debian 12 (bookworm)"), done.stderr
    assert "bookworm-backports" in done.stderr and "gcc-12" in done.stderr
    assert done.stdout == ""  # nothing was installed or built: no "== apt-get", no "== venv"
