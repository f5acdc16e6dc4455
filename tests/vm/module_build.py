"""Build the test-only fake_rdma kernel module against unpacked Debian kernel headers."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent / "fake_rdma"
SOURCE_FILES = ("fake_rdma.c", "Kbuild")


class ModuleBuildError(RuntimeError):
    pass


def source_digest() -> str:
    digest = hashlib.sha256()
    for name in SOURCE_FILES:
        digest.update(name.encode() + b"\0" + (SOURCE_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def patch_headers_makefile(headers_root: Path, abi: str) -> Path:
    """Point the flavour Makefile's absolute `include /usr/src/...` at the unpacked tree."""
    flavour_dir = headers_root / "usr" / "src" / f"linux-headers-{abi}"
    makefile = flavour_dir / "Makefile"
    text = makefile.read_text()
    patched = re.sub(r"^include /usr/src/", f"include {headers_root}/usr/src/", text, flags=re.MULTILINE)
    if patched != text:
        makefile.write_text(patched)
    return flavour_dir


def build(headers_root: Path, abi: str, target: Path) -> None:
    """Compile fake_rdma.ko for kernel `abi` into `target` (a file path)."""
    flavour_dir = patch_headers_makefile(headers_root, abi)
    work = target.parent / f"build.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in SOURCE_FILES:
        shutil.copy2(SOURCE_DIR / name, work / name)
    # BTF for modules needs pahole and the kernel's own vmlinux; a test module has no use for it.
    command = ["make", "-C", str(flavour_dir), f"M={work}", "CONFIG_DEBUG_INFO_BTF_MODULES=", "modules"]
    result = subprocess.run(command, capture_output=True, text=True)
    built = work / "fake_rdma.ko"
    if result.returncode != 0 or not built.is_file():
        raise ModuleBuildError(
            f"building fake_rdma for {abi} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    warnings = [line for line in result.stderr.splitlines() if "warning:" in line]
    if warnings:
        raise ModuleBuildError("fake_rdma must build without warnings:\n" + "\n".join(warnings))
    built.rename(target)
    shutil.rmtree(work, ignore_errors=True)
