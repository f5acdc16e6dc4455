"""Lay out the node bundle from staged sources: runs inside the bullseye builder root.

    /opt/python3.11/bin/python3.11 -I assemble.py SRC OUT

SRC holds the staged sources (``entry.py``, ``cni_main.py``, ``hostdev/`` with the generated
``_netns_ffi.py``, ``deploy/``) and ``launcher.c``; OUT must not exist. The bundle is:

    OUT/amd-host-device               launcher.c compiled here, linked to the libpython below
    OUT/lib/libpython3.11.so.1.0      the root's CPython (and any non-glibc library a shipped
                                      extension module needs, e.g. libz.so.1)
    OUT/lib/python3.11/               the standard library modules the code can import, as .pyc
    OUT/lib/python3.11/lib-dynload/   their extension modules
    OUT/lib/app/                      hostdev, cni_main, deploy, entry (.pyc), _cffi_backend

Which standard library modules: every one that ``modulefinder`` finds reachable from the entry
script and from every module of hostdev (including imports inside functions), all of
``encodings`` (the interpreter picks a codec from the node's locale at start-up), less the
development tools the standard library reaches only lazily (doctest, pdb, pydoc, unittest, ...),
which no run of the plugin or the installer uses. Modules are plain ``.pyc`` files without
sources: no archive, no importer of our own; tracebacks still name the module's file.
ELF files are stripped. The node provides only glibc (``deploy/system_libraries.py`` checks).
"""

from __future__ import annotations

import importlib.machinery
import modulefinder
import os
import pkgutil
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path

PREFIX = Path("/opt/python3.11")
STDLIB = PREFIX / "lib" / "python3.11"
DYNLOAD = STDLIB / "lib-dynload"
LIBPYTHON = PREFIX / "lib" / "libpython3.11.so.1.0"
SITE_PACKAGES = Path("/opt/venv/lib/python3.11/site-packages")
APP_PACKAGES = ("hostdev", "deploy")
APP_MODULES = ("entry", "cni_main", "deploy.node_install")
# Build-time only: the cffi generator and cffi itself (ABI mode needs only _cffi_backend). And the
# test-only crash points: a node never gets them, so no environment can make its plugin crash.
BUILD_ONLY = ("hostdev._netns_build", "cffi", "pycparser", "hostdev.cni.fault_injection")
# Reached only lazily from inside the standard library's own tools (e.g. difflib's and
# pickle's self-tests import doctest); never by the plugin or the installer.
DEV_TOOLS = (
    "test", "unittest", "doctest", "pdb", "bdb", "pydoc", "pydoc_data", "tkinter", "turtle", "turtledemo",
    "idlelib", "lib2to3", "distutils", "ensurepip", "venv", "_testcapi", "_testinternalcapi",
    "_testbuffer", "_testmultiphase", "_testimportmultiple", "_xxtestfuzz", "_ctypes_test",
)  # fmt: skip
# Provided by every glibc system: the only libraries the bundle takes from the node.
GLIBC_LIBRARIES = frozenset(
    {"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "libutil.so.1", "librt.so.1", "ld-linux-x86-64.so.2"}
)
EXTENSION_SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


class AssembleError(RuntimeError):
    pass


def find_modules(src: Path) -> dict[str, modulefinder.Module]:
    finder = modulefinder.ModuleFinder(
        path=[str(src), str(STDLIB), str(DYNLOAD), str(SITE_PACKAGES)], excludes=[*BUILD_ONLY, *DEV_TOOLS]
    )
    finder.run_script(str(src / "entry.py"))
    names = [*APP_MODULES, "encodings", *_submodules(STDLIB / "encodings", "encodings")]
    for package in APP_PACKAGES:
        names += [package, *_submodules(src / package, package)]
    for name in names:
        if name not in BUILD_ONLY:
            finder.import_hook(name)
    return {name: module for name, module in finder.modules.items() if name != "__main__"}


def _submodules(directory: Path, prefix: str) -> list[str]:
    return [info.name for info in pkgutil.walk_packages([str(directory)], prefix + ".")]


def place(name: str, module: modulefinder.Module, src: Path, out: Path) -> None:
    file: str | None = getattr(module, "__file__", None)  # (not in typeshed's Module)
    if file is None:  # built into libpython
        return
    origin = Path(file)
    for base, target in ((src, out / "lib" / "app"), (STDLIB, out / "lib" / "python3.11")):
        if origin.is_relative_to(base):
            _copy_module(origin, target, origin.relative_to(base), name)
            return
    if origin.parent == SITE_PACKAGES and name == "_cffi_backend":
        shutil.copy2(origin, out / "lib" / "app" / origin.name)
        return
    raise AssembleError(f"{name} comes from {origin}, outside the sources and the standard library")


def _copy_module(origin: Path, target_dir: Path, relative: Path, name: str) -> None:
    target = target_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if origin.suffix == ".py":  # sourceless: the .pyc where the .py would be; tracebacks name the .py
        py_compile.compile(str(origin), cfile=str(target.with_suffix(".pyc")), dfile=str(relative), doraise=True)
    elif origin.name.endswith(EXTENSION_SUFFIX):
        shutil.copy2(origin, target)
    else:
        raise AssembleError(f"{name}: unexpected module file {origin}")


def ship_libraries(out: Path) -> None:
    """libpython, then every library a shipped ELF file needs that glibc does not provide."""
    lib = out / "lib"
    shutil.copy2(LIBPYTHON, lib / LIBPYTHON.name)
    known = _linker_cache()
    pending = _elf_files(out)
    while pending:
        for needed in _needed(pending.pop()):
            if needed in GLIBC_LIBRARIES or (lib / needed).exists():
                continue
            if needed not in known:
                raise AssembleError(f"{needed} is needed but not in the root's linker cache")
            shutil.copy2(os.path.realpath(known[needed]), lib / needed)
            pending.append(lib / needed)
    for path in _elf_files(out):
        subprocess.run(["strip", "--strip-unneeded", str(path)], check=True)


def _elf_files(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                if f.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def _needed(path: Path) -> list[str]:
    out = subprocess.run(["readelf", "--dynamic", "--wide", str(path)], check=True, capture_output=True, text=True).stdout
    return [line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]


def _linker_cache() -> dict[str, str]:
    out = subprocess.run(["ldconfig", "-p"], check=True, capture_output=True, text=True).stdout
    cache: dict[str, str] = {}
    for line in out.splitlines()[1:]:
        name, _, rest = line.strip().partition(" ")
        if "x86-64" in rest and "=>" in rest:
            cache.setdefault(name, rest.rsplit("=> ", 1)[1])
    return cache


def compile_launcher(source: Path, out: Path) -> None:
    subprocess.run(
        [
            "gcc", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{PREFIX}/include/python3.11", str(source),
            f"-L{PREFIX}/lib", "-lpython3.11",
            # DT_RPATH, not RUNPATH: it also serves the libraries that extension modules need.
            "-Wl,--disable-new-dtags,-rpath,$ORIGIN/lib", "-o", str(out / "amd-host-device"),
        ],
        check=True,
    )  # fmt: skip


def check_imports(src: Path, out: Path) -> None:
    """Every module of the app imports from the bundle's directories alone."""
    names = [*APP_MODULES, *[n for p in APP_PACKAGES for n in [p, *_submodules(src / p, p)]]]
    names = [n for n in names if n not in BUILD_ONLY]
    paths = [str(out / "lib" / "python3.11"), str(out / "lib" / "python3.11" / "lib-dynload"), str(out / "lib" / "app")]
    script = f"import importlib, sys\nsys.path[:] = {paths!r}\nfor name in {names!r}:\n    importlib.import_module(name)\n"
    result = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssembleError(f"the bundle's modules do not import on their own:\n{result.stderr.strip()[-3000:]}")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: assemble.py SRC OUT", file=sys.stderr)
        return 2
    src, out = Path(argv[0]), Path(argv[1])
    (out / "lib" / "app").mkdir(parents=True)
    modules = find_modules(src)
    for name, module in sorted(modules.items()):
        place(name, module, src, out)
    compile_launcher(src / "launcher.c", out)
    ship_libraries(out)
    check_imports(src, out)
    print(f"assemble: {len(modules)} modules", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
