"""Build the guest's initramfs: busybox, the modules the boot needs, and a stage-1 init.

Stage 1 loads the modules (in dependency order, with `module.param=value` options taken
from the kernel command line, as modprobe would), mounts the host's `/` read-only over
9p with a tmpfs-backed overlay on top, gives the new root fresh proc/sys/dev/run/tmp,
mounts the writable job share on /run/hostdev-vm and switch_roots into the job's
stage-2 script, which the runner writes into that share for every boot.
"""

from __future__ import annotations

import hashlib
import lzma
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.vm.cpio_archive import CpioWriter

ROOT_TAG = "hostroot"
JOB_TAG = "hostdevjob"
GUEST_JOB_DIR = "/run/hostdev-vm"
STAGE2 = f"{GUEST_JOB_DIR}/stage2.sh"

# Loaded at boot. virtio_pci is a module in 6.1 and built in later (then it has no entry).
BOOT_MODULES: tuple[str, ...] = (
    "virtio_pci",
    "9pnet_virtio",
    "9p",
    "overlay",
    "virtio_console",
    # NIC drivers in this order name e1000 eth0, virtio-net eth1, igb eth2, with or without igb.
    "e1000",
    "virtio_net",
    "igb",
    "igbvf",
    "ib_core",
    "ib_uverbs",
    "rdma_rxe",
    "veth",
    "bridge",  # host bridges that must never be taken for a NIC (test_vm_identity)
)

# 9p's largest message size that virtio transport accepts on these kernels.
NINEP_OPTIONS = "trans=virtio,version=9p2000.L,msize=524288"

STAGE1_INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys

fail() {
    echo "hostdev-vm init: $*"
    poweroff -f
}

# module.param=value words on the kernel command line, as modprobe honours them
options_for() {
    for word in $(cat /proc/cmdline); do
        case "$word" in "$1".*) printf '%s ' "${word#"$1".}" ;; esac
    done
}

for module in $(cat /etc/hostdev-vm/modules); do
    insmod "/modules/$module.ko" $(options_for "$module") || fail "insmod $module failed"
done

mkdir -p /lower /scratch /newroot
mount -t 9p -o @NINEP@,cache=loose,ro @ROOT_TAG@ /lower || fail "cannot mount the host root over 9p"
mount -t tmpfs -o mode=0755 scratch /scratch
mkdir /scratch/upper /scratch/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/scratch/upper,workdir=/scratch/work /newroot \
    || fail "cannot mount the overlay root"

mkdir -p /job
mount -t 9p -o @NINEP@ @JOB_TAG@ /job || fail "cannot mount the job share"
[ -f /job/stage2.sh ] || fail "no stage2.sh in the job share"

# Host paths under /tmp or /run the job needs (a checkout, a venv) survive the fresh
# tmpfs mounts below: hold them on bind mounts and move them back on top.
mkdir -p /hold
count=0
if [ -f /job/preserve ]; then
    while read -r path; do
        count=$((count + 1))
        mkdir -p "/hold/$count"
        mount --bind "/newroot$path" "/hold/$count" || fail "cannot keep $path"
    done < /job/preserve
fi

mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 shm /newroot/dev/shm
mount -t tmpfs -o mode=0755 run /newroot/run
mount -t tmpfs -o mode=1777 tmp /newroot/tmp

count=0
if [ -f /job/preserve ]; then
    while read -r path; do
        count=$((count + 1))
        mkdir -p "/newroot$path"
        mount --move "/hold/$count" "/newroot$path" || fail "cannot restore $path"
    done < /job/preserve
fi
mkdir -p /newroot@GUEST_JOB_DIR@
mount --move /job /newroot@GUEST_JOB_DIR@ || fail "cannot move the job share"

# Set up here with busybox from the initramfs: every exec from the 9p root costs time.
if [ -f /newroot@GUEST_JOB_DIR@/symlinks ]; then
    while read -r target link; do
        mkdir -p "/newroot${link%/*}"
        ln -sfn "$target" "/newroot$link"
    done < /newroot@GUEST_JOB_DIR@/symlinks
fi
hostname hostdev-vm
ip link set lo up
uname -r > /newroot@GUEST_JOB_DIR@/kernel_release

umount /proc /sys
exec switch_root /newroot /bin/sh @STAGE2@
"""


def stage1_init() -> str:
    replacements = {
        "@NINEP@": NINEP_OPTIONS,
        "@ROOT_TAG@": ROOT_TAG,
        "@JOB_TAG@": JOB_TAG,
        "@GUEST_JOB_DIR@": GUEST_JOB_DIR,
        "@STAGE2@": STAGE2,
    }
    text = STAGE1_INIT
    for placeholder, value in replacements.items():
        text = text.replace(placeholder, value)
    return text


def module_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    for suffix in (".ko.xz", ".ko.zst", ".ko.gz", ".ko"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


def read_modules_dep(modules_dir: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (relative path, relative paths of its direct and indirect dependencies)."""
    table: dict[str, tuple[str, list[str]]] = {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        path, _, deps = line.partition(":")
        table[module_name(path)] = (path, deps.split())
    return table


def load_order(modules_dir: Path, wanted: Sequence[str]) -> list[tuple[str, str]]:
    """(name, relative path) for `wanted` and what they need, each after its dependencies.

    Wanted modules the kernel has built in are skipped; unknown ones are an error.
    """
    table = read_modules_dep(modules_dir)
    builtin = {
        module_name(line.strip())
        for line in (modules_dir / "modules.builtin").read_text().splitlines()
        if line.strip()
    }
    ordered: list[tuple[str, str]] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        path, deps = table[name]
        for dep in deps:
            visit(module_name(dep))
        ordered.append((name, path))

    for name in wanted:
        if name in table:
            visit(name)
        elif name not in builtin:
            raise FileNotFoundError(f"kernel module {name} is neither in modules.dep nor built in")
    return ordered


def module_bytes(path: Path, zstd_binary: str | None) -> bytes:
    """Uncompressed module contents: busybox insmod cannot read compressed modules."""
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".zst"):
        if zstd_binary is None:
            raise FileNotFoundError(f"{path} is zstd-compressed and no zstd binary is available")
        return subprocess.run([zstd_binary, "-dc"], input=data, capture_output=True, check=True).stdout
    return data


def build(
    target: Path,
    busybox: Path,
    modules_dir: Path,
    wanted: Sequence[str],
    zstd_binary: str | None,
) -> None:
    order = load_order(modules_dir, wanted)
    staging = target.with_name(target.name + ".partial")
    with staging.open("wb") as out:
        cpio = CpioWriter(out)
        for directory in ("bin", "dev", "proc", "sys", "etc", "etc/hostdev-vm", "modules"):
            cpio.directory(directory)
        cpio.char_device("dev/console", 5, 1)
        cpio.file("bin/busybox", busybox.read_bytes(), executable=True)
        cpio.file("init", stage1_init().encode(), executable=True)
        cpio.file("etc/hostdev-vm/modules", "".join(f"{n}\n" for n, _ in order).encode())
        for name, relative in order:
            cpio.file(f"modules/{name}.ko", module_bytes(modules_dir / relative, zstd_binary))
        cpio.close()
    staging.rename(target)


def recipe_digest(wanted: Sequence[str]) -> str:
    """Changes whenever what build() would put into the image changes (besides inputs' versions)."""
    digest = hashlib.sha256()
    digest.update(stage1_init().encode())
    digest.update("\n".join(wanted).encode())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]
