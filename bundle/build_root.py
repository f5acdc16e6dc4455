"""The bullseye builder root of the node bundle: Debian 11's glibc 2.31 and gcc, CPython 3.11 built there.

    .venv/bin/python -m bundle.build_root [--refresh]     prints the root's directory (last line)

A bundle built with this machine's interpreter needs this machine's glibc (2.36 on Debian 12);
everything the bundle ships is built here instead, against Debian 11 "bullseye"'s glibc 2.31, so
nodes with glibc 2.31 or newer run it (Ubuntu 20.04, RHEL/RHCOS 9 with 2.34, Debian 11).
Bullseye ships Python 3.9 only, so CPython 3.11 comes from Debian's ``python3.11`` source package
(bookworm's, with all of Debian's patches) and is compiled in the root by ``root-python.sh``.

Steps of a cold build (all of it from Debian's archive and PyPI, nothing installed on the host):

1. resolve versions into ``manifest.json`` through a private apt setup (bullseye's binary
   packages, bookworm's source packages; kept for 30 days, like the VM tier's manifest);
2. ``debootstrap --variant=minbase bullseye`` with the build packages, in a private mount
   namespace (``unshare``), so its mounts vanish with it;
3. ``apt-get source --download-only python3.11`` (checked against the signed lists) and the
   pinned wheels (``requirements-root.txt``) for CPython 3.11 / manylinux2014;
4. ``root-python.sh`` in the root (``run-in-root.sh``): CPython into ``/opt/python3.11``, the
   wheels into the venv ``/opt/venv``.

The cache ($HOSTDEV_BUNDLE_CACHE, default /var/cache/hostdev-bundle) keeps the root as
``root-<key>``, where the key is a hash of every input: the resolved package versions, this file,
``root-python.sh`` and the pins. A root appears under that name only when complete: a failed
build leaves nothing behind, and a second run finds it and does nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.vm.debian_packages import FetchError, PackageRef, PrivateApt, SourceEntry, os_codename, system_sources

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_CACHE = Path("/var/cache/hostdev-bundle")
SUITE = "bullseye"
SOURCE_SUITE = "bookworm"  # the newest Debian release with a python3.11 source package
PYTHON_SOURCE = "python3.11"
# What root-python.sh needs besides minbase: the compiler and the headers of the C libraries the
# interpreter's modules use (zlib, libffi for ctypes). Their versions are part of the key.
BUILD_PACKAGES = ("build-essential", "pkg-config", "zlib1g-dev", "libffi-dev")
KEYED_PACKAGES = ("libc6", "libc6-dev", "gcc-10", "binutils", "dpkg-dev", "pkg-config", "zlib1g-dev", "libffi-dev")
MANIFEST_FORMAT = 1
MANIFEST_MAX_AGE_S = 30 * 24 * 3600
INPUT_FILES = (HERE / "build_root.py", HERE / "root-python.sh", HERE / "requirements-root.txt")
RUN_IN_ROOT = HERE / "run-in-root.sh"
ROOT_INFO = ".hostdev-root.json"  # what the root holds, written into it last

Manifest = dict[str, Any]


class RootError(RuntimeError):
    """The builder root cannot be made; the message says why."""


def _log(message: str) -> None:
    print(f"bundle root: {message}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    return Path(os.environ.get("HOSTDEV_BUNDLE_CACHE") or DEFAULT_CACHE)


@contextmanager
def _locked(cache: Path) -> Iterator[None]:
    """One builder at a time per cache (two test sessions at once build once)."""
    with (cache / ".root-lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _main_archive() -> SourceEntry:
    """This machine's Debian mirror (the entry for its own release, not the security archive)."""
    codename = os_codename()
    for entry in system_sources():
        if entry.suite == codename and "main" in entry.components:
            return entry
    raise RootError(f"no apt source for {codename} main on this machine: no Debian mirror to build from")


class Builder:
    def __init__(self, cache: Path) -> None:
        self.cache = cache
        # Packages for other releases than this machine's: its dpkg status must not count.
        self.apt = PrivateApt(cache / "apt", _log, status=Path("/dev/null"))
        self.manifest_path = cache / "manifest.json"

    # -- versions ---------------------------------------------------------------------------

    def resolve(self) -> Manifest:
        mirror = _main_archive()
        self.apt.update(
            [
                SourceEntry(mirror.uri, SUITE, ("main",), mirror.signed_by),
                SourceEntry(mirror.uri, SOURCE_SUITE, ("main",), mirror.signed_by, kind="deb-src"),
            ]
        )
        manifest: Manifest = {
            "format": MANIFEST_FORMAT,
            "resolved_at": time.time(),
            "mirror": mirror.uri,
            "keyring": mirror.signed_by,
            "suite": SUITE,
            "packages": {name: self.apt.candidate(name) for name in KEYED_PACKAGES},
            "python_source": [PYTHON_SOURCE, self.apt.source_version(PYTHON_SOURCE)],
        }
        self.manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        _log(f"resolved versions into {self.manifest_path}")
        return manifest

    def manifest(self, refresh: bool) -> Manifest:
        loaded: Manifest | None = None
        if self.manifest_path.is_file():
            loaded = json.loads(self.manifest_path.read_text())
            if loaded is None or loaded.get("format") != MANIFEST_FORMAT:
                loaded = None
            elif not refresh and time.time() - float(loaded.get("resolved_at", 0)) < MANIFEST_MAX_AGE_S:
                return loaded
        try:
            return self.resolve()
        except FetchError as error:
            if loaded is None or refresh:
                raise
            # Stale but usable: a machine without the mirror keeps building with what it has.
            _log(f"resolving versions failed, keeping those of {self.manifest_path}: {error}")
            return loaded

    @staticmethod
    def key(manifest: Manifest) -> str:
        digest = hashlib.sha256()
        digest.update(json.dumps([manifest["suite"], BUILD_PACKAGES, manifest["packages"], manifest["python_source"]]).encode())
        for path in INPUT_FILES:
            digest.update(path.read_bytes())
        return digest.hexdigest()[:16]

    # -- the build --------------------------------------------------------------------------

    def ensure(self, refresh: bool = False) -> Path:
        manifest = self.manifest(refresh)
        root = self.cache / f"root-{self.key(manifest)}"
        if (root / ROOT_INFO).is_file():
            return root
        try:
            self.build(manifest, root)
        except FetchError as error:
            if refresh:
                raise RootError(f"building the bundle's root failed: {error}") from error
            # A pinned version may have left the mirror: resolve once more and retry.
            _log(f"{error}; resolving versions again")
            manifest = self.resolve()
            root = self.cache / f"root-{self.key(manifest)}"
            if not (root / ROOT_INFO).is_file():
                self.build(manifest, root)
        return root

    def build(self, manifest: Manifest, root: Path) -> None:
        started = time.monotonic()
        partial = root.with_name(f"{root.name}.partial-{os.getpid()}")
        _remove_tree(partial)
        try:
            dsc = self.apt.download_source(PackageRef(*manifest["python_source"]), self.cache / "sources")
            wheels = self._wheels()
            self._debootstrap(manifest, partial)
            _log(f"debootstrap done after {time.monotonic() - started:.0f} s")
            work = partial / "build"
            work.mkdir()
            for path in dsc.parent.iterdir():
                if path.name.startswith(f"{PYTHON_SOURCE}_"):
                    shutil.copy2(path, work)
            shutil.copytree(wheels, work / "wheels")
            shutil.copy2(HERE / "requirements-root.txt", work)
            shutil.copy2(HERE / "root-python.sh", work)
            _log(f"building CPython from {dsc.name} in the root (logs: {work}/log)")
            run_in_root(partial, ["/bin/sh", "/build/root-python.sh", f"/build/{dsc.name}", "/build/wheels", "/build/requirements-root.txt"])
            _log(f"CPython built after {time.monotonic() - started:.0f} s")
            shutil.rmtree(work)
            installed = run_in_root(partial, ["dpkg-query", "-W", "-f", "${Package} ${Version}\\n"], capture=True)
            info = {
                "suite": SUITE,
                "python_source": manifest["python_source"],
                "python": run_in_root(partial, ["/opt/python3.11/bin/python3.11", "-c", "import sys; print(sys.version)"], capture=True).strip(),
                "packages": dict(line.split(" ", 1) for line in installed.splitlines()),
                "build_seconds": round(time.monotonic() - started),
            }
            (partial / ROOT_INFO).write_text(json.dumps(info, indent=2) + "\n")
            partial.rename(root)
        except BaseException:
            _remove_tree(partial)
            raise
        for old in self.cache.glob("root-*"):  # older roots, and partial ones of killed builds (we hold the lock)
            if old != root:
                _log(f"removing {old.name}")
                _remove_tree(old)
        _log(f"built {root} in {time.monotonic() - started:.0f} s")

    def _debootstrap(self, manifest: Manifest, target: Path) -> None:
        _log(f"debootstrap {SUITE} into {target}")
        command = [
            "unshare", "--mount", "--propagation", "private", "--",
            "debootstrap", "--variant=minbase", f"--include={','.join(BUILD_PACKAGES)}",
        ]  # fmt: skip
        if manifest.get("keyring"):
            command.append(f"--keyring={manifest['keyring']}")
        command += [SUITE, str(target), manifest["mirror"]]
        log = self.cache / "debootstrap.log"
        with log.open("w") as out:
            result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-15:]
            raise RootError(f"debootstrap failed ({result.returncode}), see {log}:\n" + "\n".join(tail))

    def _wheels(self) -> Path:
        requirements = HERE / "requirements-root.txt"
        target = self.cache / "wheels" / hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
        if target.is_dir():
            return target
        _log(f"pip download ({requirements.name}) for CPython 3.11 / manylinux2014")
        partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
        _remove_tree(partial)
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--only-binary=:all:", "--no-deps", "--dest", str(partial), "-r", str(requirements),
            "--implementation", "cp", "--python-version", "3.11", "--abi", "cp311", "--abi", "none",
            "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            _remove_tree(partial)
            raise RootError(f"pip download failed ({result.returncode}):\n{result.stderr.strip()[-2000:]}")
        partial.rename(target)
        return target


def run_in_root(root: Path, command: list[str], *, binds: tuple[str, ...] = (), capture: bool = False) -> str:
    """``command`` chrooted into ``root`` (bundle/run-in-root.sh: private mount namespace)."""
    args = [str(RUN_IN_ROOT), str(root)]
    for path in binds:
        args += ["--bind", path]
    result = subprocess.run([*args, "--", *command], capture_output=True, text=True)
    if result.returncode != 0:
        raise RootError(f"{' '.join(command)} in {root} failed ({result.returncode}):\n{result.stderr.strip()[-3000:]}")
    return result.stdout if capture else ""


def _mounts_below(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo") as mountinfo:
        points = [line.split()[4] for line in mountinfo]
    return [p for p in points if p.startswith(prefix) or p == prefix[:-1]]


def _remove_tree(path: Path) -> None:
    """rm -rf, but never across a mount point (a bind of the host must not be emptied)."""
    if not path.exists():
        return
    mounted = _mounts_below(path)
    if mounted:
        raise RootError(f"refusing to remove {path}: still mounted there: {', '.join(mounted)}")
    shutil.rmtree(path)


def ensure_root(refresh: bool = False) -> Path:
    """The builder root, built when missing (a no-op when cached)."""
    cache = cache_root()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RootError(f"cannot create the bundle cache {cache}: {error} (set HOSTDEV_BUNDLE_CACHE)") from error
    for tool in ("debootstrap", "unshare", "chroot", "dpkg"):
        if shutil.which(tool) is None:
            raise RootError(f"building the bundle's root needs {tool} (scripts/bootstrap.sh installs it)")
    with _locked(cache):
        try:
            return Builder(cache).ensure(refresh)
        except FetchError as error:
            raise RootError(f"building the bundle's root failed: {error}") from error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refresh", action="store_true", help="resolve package versions again")
    args = parser.parse_args(argv)
    try:
        root = ensure_root(args.refresh)
    except (RootError, OSError) as error:
        _log(f"FAILED: {error}")
        return 1
    print(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
