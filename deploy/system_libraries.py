"""The shared libraries a bundle needs from the system it runs on (it carries all others).

The bundle's ELF files name their dependencies (DT_NEEDED) and the program interpreter
(PT_INTERP). The bundle's executable finds the libraries the bundle carries (libpython and what
its extension modules need) in its own ``lib/`` (DT_RPATH ``$ORIGIN/lib``, which also serves
libraries loaded later); whatever no file of the bundle provides comes from the system: glibc's
libraries and its dynamic linker. Those have to be on the node, and in the ``FROM scratch`` image
they are copied in. The newest glibc symbol version any file asks for is the oldest glibc a node
can have. ``python -m deploy.system_libraries [--root ROOT] BUNDLE`` prints the paths of exactly
those files (the interpreter first), one per line, from this machine's linker cache, or from
that of the root tree ROOT (the bundle's builder root: the libraries it was built against; the
paths are then inside ROOT).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

_NEEDED = re.compile(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]")
_INTERP = re.compile(r"Requesting program interpreter: ([^\]]+)\]")
_LDCONFIG = re.compile(r"^\s*(\S+) \(([^)]*)\) => (\S+)$")
_GLIBC_VERSION = re.compile(r"Name: GLIBC_(\d+(?:\.\d+)+)")


def _elf_files(root: Path) -> list[Path]:
    files = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            with open(path, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    files.append(path)
    return sorted(files)


def _readelf(*args: str) -> str:
    return subprocess.run(["readelf", "--wide", *args], check=True, capture_output=True, text=True).stdout


def system_sonames(bundle: Path) -> tuple[str | None, set[str]]:
    """(program interpreter, sonames needed by the bundle's ELF files and not shipped in it)."""
    files = _elf_files(bundle)
    shipped = {path.name for path in files} | {p.name for p in bundle.rglob("*") if p.is_symlink()}
    needed: set[str] = set()
    interpreter = None
    for path in files:
        needed.update(_NEEDED.findall(_readelf("--dynamic", str(path))))
        match = _INTERP.search(_readelf("--program-headers", str(path)))
        if match:  # the executable
            interpreter = match.group(1)
    from_system = needed - shipped
    if interpreter is not None:  # libc names the dynamic linker too; it is PT_INTERP's file
        from_system.discard(os.path.basename(interpreter))
    return interpreter, from_system


def required_glibc(bundle: Path) -> str:
    """The newest glibc symbol version any ELF file of the bundle asks for: the oldest glibc a
    node can have (it follows from the machine the bundle was built on)."""
    versions: set[str] = set()
    for path in _elf_files(bundle):
        versions.update(_GLIBC_VERSION.findall(_readelf("--version-info", str(path))))
    return max(versions, key=lambda v: tuple(int(part) for part in v.split(".")))


def resolve(sonames: set[str], root: Path | None = None) -> dict[str, str]:
    """soname -> path on this machine (inside the root tree ``root``, when given), from the
    dynamic linker's cache (64-bit x86 entries)."""
    command = ["ldconfig", "-p"] if root is None else ["ldconfig", "-r", str(root), "-p"]
    cache = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    found: dict[str, str] = {}
    for line in cache.splitlines():
        match = _LDCONFIG.match(line)
        if match and match.group(1) in sonames and "x86-64" in match.group(2):
            found.setdefault(match.group(1), match.group(3))
    missing = sonames - found.keys()
    if missing:
        raise LookupError(f"not in the linker cache: {', '.join(sorted(missing))}")
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = None
    if args[:1] == ["--root"] and len(args) > 1:
        root, args = Path(args[1]), args[2:]
    if len(args) != 1:
        print("usage: python -m deploy.system_libraries [--root ROOT] BUNDLE_DIR", file=sys.stderr)
        return 2
    interpreter, sonames = system_sonames(Path(args[0]))
    if interpreter:
        print(interpreter)
    for _soname, path in sorted(resolve(sonames, root).items()):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
