"""Prepare everything a VM test boot needs, from Debian packages, into a cache directory.

    python tests/vm/prepare.py [--kernel 6.1] [--kernel 6.12] [--refresh]

Stdlib only. The cache lives outside the source tree: $HOSTDEV_VM_CACHE, by default
/var/cache/hostdev-vm. Versions are resolved once (through a private apt configuration,
see debian_packages.py) and pinned in manifest.json; every artefact is stored under a
name that carries the versions or digests it was made from, so a second run does no
work. `--refresh` (or a manifest older than MANIFEST_MAX_AGE_S) resolves again.
Nothing is installed on the host and /boot is never touched.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make `tests.vm` importable from the checkout this file is in.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.vm import initramfs, kernel_image, module_build
from tests.vm.debian_packages import (
    FetchError,
    Log,
    PackageRef,
    PrivateApt,
    os_codename,
    private_sources,
    unpack,
)

DEFAULT_CACHE = Path("/var/cache/hostdev-vm")
MANIFEST_FORMAT = 1
MANIFEST_MAX_AGE_S = 30 * 24 * 3600
ARCH_LIB = "x86_64-linux-gnu"

Manifest = dict[str, Any]


@dataclass(frozen=True)
class KernelSpec:
    """A kernel series: the meta package naming the current image, and what that image must look like."""

    meta_package: str
    image_pattern: str


# 6.12 is Debian's linux-6.12 for bookworm: trixie's 6.12 series built with bookworm's gcc-12
# and kbuild, so the fake_rdma module can be compiled for it on this host.
KERNELS: dict[str, KernelSpec] = {
    "6.1": KernelSpec("linux-image-amd64", r"linux-image-(6\.1\.\d+-\d+-amd64)"),
    "6.12": KernelSpec("linux-image-6.12-amd64", r"linux-image-(6\.12\.\d+\+deb\d+-amd64)"),
}


class PrepareError(RuntimeError):
    """The VM tier cannot be prepared; the message says what is missing."""


@dataclass(frozen=True)
class QemuInstall:
    binary: Path
    library_path: str
    module_dir: Path
    firmware_dirs: tuple[Path, ...]

    def environment(self) -> dict[str, str]:
        return {"LD_LIBRARY_PATH": self.library_path, "QEMU_MODULE_DIR": str(self.module_dir)}


@dataclass(frozen=True)
class GuestAssets:
    kernel: str
    abi: str
    vmlinux: Path
    initramfs: Path
    modules_dir: Path
    kmod: Path
    busybox: Path
    fake_rdma_ko: Path | None
    qemu: QemuInstall


def cache_root() -> Path:
    return Path(os.environ.get("HOSTDEV_VM_CACHE") or DEFAULT_CACHE)


def _log_to_stderr(message: str) -> None:
    print(f"hostdev-vm prepare: {message}", file=sys.stderr, flush=True)


def _slug(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9.+-]", "-", p) for p in parts)


@contextmanager
def _locked(cache: Path) -> Iterator[None]:
    with (cache / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Preparer:
    def __init__(self, cache: Path, log: Log) -> None:
        self.cache = cache
        self.log = log
        self.apt = PrivateApt(cache / "apt", log)
        self.debs = cache / "debs"
        self.manifest_path = cache / "manifest.json"
        self._manifest: Manifest | None = None
        self.resolved_this_run = False

    # -- version resolution -------------------------------------------------------------

    def _resolve(self) -> Manifest:
        codename = os_codename()
        self.apt.update(private_sources(codename))
        kernels: dict[str, Any] = {}
        for series, spec in KERNELS.items():
            images = [d for d in self.apt.depends(spec.meta_package) if re.fullmatch(spec.image_pattern, d)]
            if not images:
                raise FetchError(f"{spec.meta_package} does not point at a {series} kernel image")
            image = images[0]
            abi = image.removeprefix("linux-image-")
            header_packages = [f"linux-headers-{abi}"] + [
                d for d in self.apt.depends(f"linux-headers-{abi}") if d.startswith(("linux-headers-", "linux-kbuild-"))
            ]
            kernels[series] = {
                "abi": abi,
                "image": [image, self.apt.candidate(image)],
                "headers": [[p, self.apt.candidate(p)] for p in header_packages],
            }
        qemu = self.apt.simulate_install(f"qemu-system-x86/{codename}-backports")
        if not any(r.name == "qemu-system-x86" for r in qemu):
            raise FetchError(
                f"apt would not install qemu-system-x86 from {codename}-backports (already installed?); "
                "the VM tier runs its own unpacked copy and needs that package to be downloadable"
            )
        manifest: Manifest = {
            "format": MANIFEST_FORMAT,
            "resolved_at": time.time(),
            "codename": codename,
            "tools": {name: self.apt.candidate(name) for name in ("busybox-static", "kmod", "zstd")},
            "qemu": [[r.name, r.version] for r in qemu if r.name not in ("libc6", "libc-bin")],
            "kernels": kernels,
        }
        self.manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        self.resolved_this_run = True
        self.log(f"resolved versions into {self.manifest_path}")
        return manifest

    def manifest(self, refresh: bool = False) -> Manifest:
        if self._manifest is not None and not refresh:
            return self._manifest
        manifest: Manifest | None = None
        if not refresh and self.manifest_path.is_file():
            loaded = json.loads(self.manifest_path.read_text())
            fresh = time.time() - float(loaded.get("resolved_at", 0)) < MANIFEST_MAX_AGE_S
            if loaded.get("format") == MANIFEST_FORMAT and fresh:
                manifest = loaded
        self._manifest = manifest if manifest is not None else self._resolve()
        return self._manifest

    def _download(self, refs: Sequence[PackageRef]) -> list[Path]:
        return self.apt.download(refs, self.debs)

    # -- artefacts ------------------------------------------------------------------------

    def _tool_dir(self, package: str) -> Path:
        ref = PackageRef(package, str(self.manifest()["tools"][package]))
        target = self.cache / "tools" / _slug(ref.name, ref.version)
        if not target.is_dir():
            self.log(f"unpacking {ref.name} {ref.version}")
            unpack(self._download([ref]), target)
        return target

    def busybox(self) -> Path:
        return self._tool_dir("busybox-static") / "bin" / "busybox"

    def kmod(self) -> Path:
        return self._tool_dir("kmod") / "bin" / "kmod"

    def zstd(self) -> str:
        return kernel_image.find_zstd() or str(self._tool_dir("zstd") / "usr" / "bin" / "zstd")

    def _kernel_entry(self, series: str) -> dict[str, Any]:
        kernels: dict[str, Any] = self.manifest()["kernels"]
        if series not in kernels:
            raise PrepareError(f"unknown kernel series {series!r}; known: {', '.join(KERNELS)}")
        entry: dict[str, Any] = kernels[series]
        return entry

    def kernel_tree(self, series: str) -> tuple[str, Path]:
        """(abi, unpacked image root with depmod'ed modules and an uncompressed vmlinux)."""
        entry = self._kernel_entry(series)
        abi = str(entry["abi"])
        name, version = entry["image"]
        root = self.cache / "kernel" / _slug(abi, version)
        if not (root / "vmlinux").is_file():
            self.log(f"unpacking {name} {version}")
            unpack(self._download([PackageRef(name, version)]), root)
            self.log(f"depmod {abi}")
            _run_kmod(self.kmod(), "depmod", ["-b", str(root), abi])
            self.log(f"extracting vmlinux from vmlinuz-{abi}")
            kernel_image.extract_vmlinux(root / "boot" / f"vmlinuz-{abi}", root / "vmlinux", self.zstd())
        return abi, root

    def initramfs(self, series: str) -> Path:
        abi, root = self.kernel_tree(series)
        busybox = self.busybox()
        modules_dir = root / "lib" / "modules" / abi
        key = _slug(root.name, busybox.parents[1].name, initramfs.recipe_digest(initramfs.BOOT_MODULES))
        target = self.cache / "initramfs" / f"{key}.cpio"
        if not target.is_file():
            self.log(f"building initramfs for {abi}")
            target.parent.mkdir(parents=True, exist_ok=True)
            initramfs.build(target, busybox, modules_dir, initramfs.BOOT_MODULES, self.zstd())
            _remove_older(target, prefix=_slug(root.name) + "_")
        return target

    def fake_rdma(self, series: str) -> Path:
        abi, root = self.kernel_tree(series)
        entry = self._kernel_entry(series)
        headers = [PackageRef(n, v) for n, v in entry["headers"]]
        target = self.cache / "fake_rdma" / f"{_slug(root.name)}-{module_build.source_digest()}.ko"
        if target.is_file():
            return target
        for tool in ("make", "gcc-12"):
            if shutil.which(tool) is None:
                raise PrepareError(f"building fake_rdma needs {tool} on PATH (apt-get install {tool})")
        headers_root = self.cache / "headers" / _slug(root.name)
        if not (headers_root / "usr" / "src" / f"linux-headers-{abi}" / "Makefile").is_file():
            self.log(f"unpacking kernel headers for {abi}")
            unpack(self._download(headers), headers_root)
        self.log(f"building fake_rdma.ko for {abi}")
        target.parent.mkdir(parents=True, exist_ok=True)
        module_build.build(headers_root, abi, target)
        _remove_older(target, prefix=_slug(root.name) + "-")
        return target

    def qemu(self) -> QemuInstall:
        refs = [PackageRef(n, v) for n, v in self.manifest()["qemu"]]
        version = next(r.version for r in refs if r.name == "qemu-system-x86")
        digest = hashlib.sha256(json.dumps(sorted((r.name, r.version) for r in refs)).encode()).hexdigest()[:12]
        tree = self.cache / "qemu" / _slug(version, digest)
        if not tree.is_dir():
            self.log(f"unpacking qemu {version} and {len(refs) - 1} package(s) it needs")
            unpack(self._download(refs), tree)
        install = _qemu_install(tree)
        _check_qemu(install)
        return install

    def assets(self, series: str, with_fake_rdma: bool = True) -> GuestAssets:
        abi, root = self.kernel_tree(series)
        return GuestAssets(
            kernel=series,
            abi=abi,
            vmlinux=root / "vmlinux",
            initramfs=self.initramfs(series),
            modules_dir=root / "lib" / "modules" / abi,
            kmod=self.kmod(),
            busybox=self.busybox(),
            fake_rdma_ko=self.fake_rdma(series) if with_fake_rdma else None,
            qemu=self.qemu(),
        )


def _remove_older(current: Path, prefix: str) -> None:
    """Drop artefacts for the same kernel made from an older recipe or source."""
    for sibling in current.parent.glob(f"{prefix}*{current.suffix}"):
        if sibling != current:
            sibling.unlink(missing_ok=True)


def _run_kmod(kmod: Path, tool: str, args: Sequence[str]) -> None:
    import subprocess

    # kmod picks its personality from argv[0], like the depmod/modprobe symlinks do.
    result = subprocess.run([tool, *args], executable=str(kmod), capture_output=True, text=True)
    if result.returncode != 0:
        raise PrepareError(f"{tool} {' '.join(args)} failed: {result.stderr.strip()}")


def _qemu_install(tree: Path) -> QemuInstall:
    library_dirs = [tree / "usr" / "lib" / ARCH_LIB, tree / "lib" / ARCH_LIB]
    firmware = [tree / "usr" / "share" / "qemu", tree / "usr" / "share" / "seabios", tree / "usr" / "lib" / "ipxe" / "qemu"]
    return QemuInstall(
        binary=tree / "usr" / "bin" / "qemu-system-x86_64",
        library_path=":".join(str(d) for d in library_dirs if d.is_dir()),
        module_dir=tree / "usr" / "lib" / ARCH_LIB / "qemu",
        firmware_dirs=tuple(d for d in firmware if d.is_dir()),
    )


_checked_qemu: set[Path] = set()


def _check_qemu(install: QemuInstall) -> None:
    """The unpacked qemu must start with the host's libraries and know the igb device."""
    import subprocess

    if install.binary in _checked_qemu:
        return
    env = {**os.environ, **install.environment()}
    result = subprocess.run(
        [str(install.binary), "-nodefaults", "-machine", "none", "-device", "igb,help"],
        capture_output=True,
        text=True,
        env=env,
    )
    if result.returncode != 0 or "igb" not in result.stdout:
        missing = ""
        ldd = subprocess.run(["ldd", str(install.binary)], capture_output=True, text=True, env=env)
        not_found = [line.strip() for line in ldd.stdout.splitlines() if "not found" in line]
        if not_found:
            missing = "\nmissing libraries: " + ", ".join(not_found)
        raise PrepareError(
            f"{install.binary} does not run or lacks igb ({result.returncode}): "
            f"{result.stderr.strip()[-2000:]}{missing}"
        )
    _checked_qemu.add(install.binary)


def prepare(series: str, *, with_fake_rdma: bool = True, log: Log = _log_to_stderr) -> GuestAssets:
    """Everything needed to boot kernel `series`, prepared on demand (a no-op when cached)."""
    cache = cache_root()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PrepareError(f"cannot create the VM cache {cache}: {error} (set HOSTDEV_VM_CACHE)") from error
    with _locked(cache):
        preparer = Preparer(cache, log)
        try:
            return preparer.assets(series, with_fake_rdma)
        except FetchError as error:
            if preparer.resolved_this_run:
                raise PrepareError(f"preparing the VM tier failed: {error}") from error
            # A pinned version may have left the mirror: resolve once more and retry.
            log(f"{error}; resolving package versions again")
        preparer.manifest(refresh=True)
        try:
            return preparer.assets(series, with_fake_rdma)
        except FetchError as error:
            raise PrepareError(f"preparing the VM tier failed: {error}") from error


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kernel", action="append", choices=sorted(KERNELS), help="kernel series (default: all)")
    parser.add_argument("--refresh", action="store_true", help="resolve package versions again")
    args = parser.parse_args(argv)
    cache = cache_root()
    started = time.monotonic()
    try:
        if args.refresh:
            cache.mkdir(parents=True, exist_ok=True)
            with _locked(cache):
                Preparer(cache, _log_to_stderr).manifest(refresh=True)
        for series in args.kernel or list(KERNELS):
            assets = prepare(series)
            _log_to_stderr(f"{series}: {assets.abi}: vmlinux {assets.vmlinux}, initramfs {assets.initramfs}")
            _log_to_stderr(f"{series}: fake_rdma {assets.fake_rdma_ko}; qemu {assets.qemu.binary}")
    except (PrepareError, FetchError, OSError) as error:
        _log_to_stderr(f"FAILED: {error}")
        return 1
    _log_to_stderr(f"ready in {time.monotonic() - started:.1f}s (cache {cache})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
