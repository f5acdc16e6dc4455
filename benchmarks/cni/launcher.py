"""What the installed ``amd-host-device`` launcher runs: its interpreter, flags and ``sys.path``.

Read back from the file ``hostdev install`` wrote rather than recomputed, so the probes run
exactly what a runtime would run.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Launcher:
    path: Path
    interpreter: str  # the real interpreter named by the #! line
    flags: str  # e.g. "-IS"
    sys_path: tuple[str, ...]  # what it appends to sys.path (after the standard library)
    settings: str | None = None  # the node settings file it hands to cni_main.run (None: the default)

    @classmethod
    def read(cls, path: Path) -> Launcher:
        lines = path.read_text().splitlines()
        if not lines or not lines[0].startswith("#!"):
            raise ValueError(f"{path} has no #! line")
        interpreter, _, flags = lines[0][2:].partition(" ")
        paths: tuple[str, ...] | None = None
        settings: str | None = None
        for line in lines[1:]:
            if line.startswith("run(") and line.endswith(")"):
                value = ast.literal_eval(line[4:-1] or "None")
                settings = value if isinstance(value, str) else None
            if line.startswith("sys.path += "):
                value = ast.literal_eval(line.split("=", 1)[1].strip())
                if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
                    raise ValueError(f"{path}: unexpected sys.path line {line!r}")
                paths = tuple(value)
        if paths is None:
            raise ValueError(f"{path}: no sys.path line")
        return cls(path, interpreter, flags.strip(), paths, settings)

    def variant(self, target: Path, flags: str) -> Path:
        """A copy of the launcher whose #! line carries ``flags`` instead (e.g. ``-ISXimporttime``)."""
        lines = self.path.read_text().splitlines(keepends=True)
        lines[0] = f"#!{self.interpreter} {flags}\n"
        target.write_text("".join(lines))
        os.chmod(target, 0o755)
        return target
