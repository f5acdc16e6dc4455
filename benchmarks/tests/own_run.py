"""What a benchmark run this test started left behind, and nothing of the runs beside it.

Other test runs (a second checkout's CI, a developer's benchmark) may create and delete ``hdb-*``
namespaces and ``hdb-node-*`` directories at the same time, so comparing the machine's list before
and after would blame their namespaces on ours. A run started with :attr:`OwnRun.env` names every
namespace ``hdb-<tag>-…`` (``HDB_NETNS_TAG``, benchmarks/harness/netns.py) and makes its temporary
directories under :attr:`OwnRun.tmpdir` (``TMPDIR``); the checks look only there.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

from benchmarks.harness.netns import PREFIX, RUN_TAG_ENV


def netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


class OwnRun:
    def __init__(self, tmp_path: Path) -> None:
        self.tag = secrets.token_hex(4)
        self.tmpdir = tmp_path / "run-tmp"
        self.tmpdir.mkdir()
        self.env = {**os.environ, RUN_TAG_ENV: self.tag, "TMPDIR": str(self.tmpdir)}

    def owns(self, name: str) -> bool:
        return name.startswith(f"{PREFIX}{self.tag}-")

    def namespaces(self) -> set[str]:
        """The run's namespaces that exist now."""
        return {name for name in netns_names() if self.owns(name)}

    def temp_dirs(self) -> list[str]:
        """The run's temporary directories that exist now."""
        return sorted(p.name for p in self.tmpdir.iterdir())
