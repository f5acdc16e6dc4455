"""The shared libraries a bundle needs from the system it runs on (it carries all others).

The bundle's ELF files name their dependencies (DT_NEEDED) and the program interpreter
(PT_INTERP). What the entry executable needs always comes from the system: the dynamic linker
resolves it before any of the bundle's code runs (PyInstaller's bootloader only then points
LD_LIBRARY_PATH at its own libraries and re-executes itself, so its first start needs the
system's zlib although the bundle carries one). Anything else that is not a file of the bundle
comes from the system too. All of these have to be on the node, and in the ``FROM scratch``
image they are copied in. ``python -m deploy.system_libraries BUNDLE`` prints
the host paths of exactly those files (the interpreter first), one per line.
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
    from_system: set[str] = set()
    interpreter = None
    for path in files:
        names = _NEEDED.findall(_readelf("--dynamic", str(path)))
        needed.update(names)
        match = _INTERP.search(_readelf("--program-headers", str(path)))
        if match:  # an executable: the entry point
            interpreter = match.group(1)
            from_system.update(names)
    from_system |= needed - shipped
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


def resolve(sonames: set[str]) -> dict[str, str]:
    """soname -> path on this machine, from the dynamic linker's cache (64-bit x86 entries)."""
    cache = subprocess.run(["ldconfig", "-p"], check=True, capture_output=True, text=True).stdout
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
    if len(args) != 1:
        print("usage: python -m deploy.system_libraries BUNDLE_DIR", file=sys.stderr)
        return 2
    interpreter, sonames = system_sonames(Path(args[0]))
    if interpreter:
        print(interpreter)
    for _soname, path in sorted(resolve(sonames).items()):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
