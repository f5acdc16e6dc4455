"""Boot a Debian kernel under qemu (TCG) and run one job in it as root.

The guest's root is the host's `/`, shared read-only over 9p with a tmpfs overlay (so
the checkout, its .venv, python and iproute2 are at the same paths and every write is
discarded), NICs hang off a qemu hub with no host side, and a second, writable 9p share
(the "job directory") carries the stage-2 script in and the exit code, logs and any other
result files out. The guest console (hvc0) streams the job's output; the kernel's own
console goes to serial.log in the job directory.

qemu never gets host networking (no user/tap netdevs, `-nodefaults`), and the host's
network, /boot and packages are never touched.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tests.vm.initramfs import GUEST_JOB_DIR, JOB_TAG, ROOT_TAG
from tests.vm.prepare import GuestAssets, prepare

# One e1000 (netdev directly under the PCI function) and one virtio-net (under virtioN).
DEFAULT_NICS: tuple[str, ...] = ("e1000", "virtio-net-pci")
SRIOV_NIC = "igb"
NIC_MODELS = frozenset({"e1000", "e1000e", "virtio-net-pci", "igb"})
DEFAULT_TIMEOUT_S = 300.0
GUEST_MEMORY_MB = 1024
EXIT_CODE_FILE = "exit_code"
SERIAL_LOG = "serial.log"
KMOD_TOOLS = ("modprobe", "insmod", "rmmod", "lsmod", "depmod", "modinfo")
PR_SET_PDEATHSIG = 1
SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


# What the guest kernel prints (at KERN_EMERG/ALERT, so `quiet` keeps it on the serial console)
# when it dies or hits a kernel bug. With `oops=panic` every oops ends in a panic, and `panic=-1`
# plus `-no-reboot` then ends qemu without an exit code: to the host that looks like qemu dying.
# The oops headers come first and give the report its start; the panic line alone would do.
# ("BUG: soft lockup" is not here: under TCG on a loaded host it is the host's doing.)
KERNEL_CRASH_MARKERS = (
    "Kernel panic - not syncing",
    "Oops:",
    "kernel BUG at",
    "BUG: unable to handle",
    "BUG: kernel NULL pointer dereference",
)
CRASH_CONTEXT_LINES = 80


def kernel_crash(serial_log: str) -> str | None:
    """The serial console from the first panic/oops/BUG line on (at most 80 lines), or None."""
    lines = serial_log.splitlines()
    for index, line in enumerate(lines):
        if any(marker in line for marker in KERNEL_CRASH_MARKERS):
            return "\n".join(lines[index : index + CRASH_CONTEXT_LINES])
    return None


@dataclass(frozen=True)
class GuestResult:
    """What a boot produced. exit_code is None when the job never reported one."""

    exit_code: int | None
    output: str
    timed_out: bool = False
    error: str | None = None
    serial_log: str = ""
    kernel_release: str = ""
    boot_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.kernel_crash is None

    @property
    def kernel_crash(self) -> str | None:
        """The guest kernel's panic/oops report from the serial console, if it crashed."""
        return kernel_crash(self.serial_log)

    def describe_failure(self) -> str:
        lines = []
        crash = self.kernel_crash
        if crash is not None:
            lines.append("the guest kernel crashed (panic/oops/BUG on its console)")
        if self.error:
            lines.append(self.error)
        if self.exit_code is not None:
            lines.append(f"guest job exited with {self.exit_code}")
        lines.append("--- guest output (hvc0) ---")
        lines.append(self.output[-20000:])
        if crash is not None:
            lines.append("--- guest kernel crash (serial console) ---")
            lines.append(crash)
        elif self.exit_code is None and self.serial_log:
            lines.append("--- guest kernel console (last lines) ---")
            lines.append("\n".join(self.serial_log.splitlines()[-60:]))
        return "\n".join(lines)


def _mac(index: int) -> str:
    # qemu's own OUI, fixed per slot so MACs (and the GUIDs fake_rdma derives) are stable.
    return f"52:54:00:00:00:{0x10 + index:02x}"


def qemu_command(
    assets: GuestAssets,
    job_dir: Path,
    nics: Sequence[str],
    kernel_args: Sequence[str],
    memory_mb: int = GUEST_MEMORY_MB,
) -> list[str]:
    unknown = [n for n in nics if n not in NIC_MODELS]
    if unknown:
        raise ValueError(f"unknown NIC model(s) {unknown}; known: {sorted(NIC_MODELS)}")
    pcie = any(n in ("igb", "e1000e") for n in nics)
    command = [str(assets.qemu.binary)]
    for firmware_dir in assets.qemu.firmware_dirs:
        command += ["-L", str(firmware_dir)]
    command += [
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", str(memory_mb),
        "-machine", "q35" if pcie else "pc",
        "-kernel", str(assets.vmlinux), "-initrd", str(assets.initramfs),
        "-append", " ".join(["console=ttyS0", "quiet", "panic=-1", "oops=panic", "mitigations=off", *kernel_args]),
        "-chardev", f"file,id=serial,path={job_dir / SERIAL_LOG}", "-serial", "chardev:serial",
        "-device", "virtio-serial-pci",
        "-chardev", "stdio,id=hvc,signal=off", "-device", "virtconsole,chardev=hvc",
        "-fsdev", f"local,id={ROOT_TAG},path=/,readonly=on,security_model=none,multidevs=remap",
        "-device", f"virtio-9p-pci,fsdev={ROOT_TAG},mount_tag={ROOT_TAG}",
        "-fsdev", f"local,id={JOB_TAG},path={job_dir},security_model=none",
        "-device", f"virtio-9p-pci,fsdev={JOB_TAG},mount_tag={JOB_TAG}",
    ]  # fmt: skip
    for index, model in enumerate(nics):
        netdev = f"n{index}"
        # A hub port with no host-side member: the guest NICs see only each other.
        command += ["-netdev", f"hubport,id={netdev},hubid=0"]
        device = f"{model},netdev={netdev},mac={_mac(index)},romfile="
        if pcie and model in ("igb", "e1000e"):
            command += ["-device", f"pcie-root-port,id=rp{index},chassis={index + 1},slot={index + 1}"]
            device += f",bus=rp{index}"
        command += ["-device", device]
    return command


def guest_path() -> str:
    """The real interpreter's directory first: a pyenv shim costs seconds per call under TCG."""
    interpreter_dirs = [str(Path(sys.executable).parent), str(Path(sys.executable).resolve().parent)]
    seen: list[str] = []
    for entry in [*interpreter_dirs, *SYSTEM_PATH]:
        if entry not in seen and "/shims" not in entry:
            seen.append(entry)
    return ":".join(seen)


def guest_symlinks(assets: GuestAssets) -> str:
    """`target link` lines stage 1 creates in the new root: module tree and kmod tools."""
    lines = [f"{assets.modules_dir} /lib/modules/{assets.abi}"]
    lines += [f"{assets.kmod} /usr/local/sbin/{tool}" for tool in KMOD_TOOLS]
    return "".join(line + "\n" for line in lines)


def preserved_paths(candidates: Sequence[Path]) -> list[str]:
    """Host paths the guest's fresh /tmp and /run would hide, outermost first, no nesting."""
    hidden_roots = (Path("/tmp"), Path("/run"))
    kept: list[Path] = []
    for candidate in sorted({c.resolve() for c in candidates}, key=lambda p: (len(p.parts), str(p))):
        if not any(candidate.is_relative_to(root) and candidate != root for root in hidden_roots):
            continue
        if any(candidate.is_relative_to(k) for k in kept):
            continue
        kept.append(candidate)
    return [str(k) for k in kept]


def stage2_script(
    assets: GuestAssets,
    command: Sequence[str] | str,
    cwd: Path,
    env: Mapping[str, str],
) -> str:
    """The guest's PID 1 after switch_root: run the job, record its status, power off."""
    busybox = shlex.quote(str(assets.busybox))
    job = shlex.join(command) if not isinstance(command, str) else f"/bin/sh {GUEST_JOB_DIR}/job.sh"
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items()))
    return f"""# generated by tests/vm/runner.py
{exports}cd {shlex.quote(str(cwd))} || {{ echo "hostdev-vm: no directory {cwd} in the guest" > /dev/hvc0; {busybox} poweroff -f; }}
{job} > /dev/hvc0 2>&1 < /dev/null
echo $? > {GUEST_JOB_DIR}/{EXIT_CODE_FILE}
sync
{busybox} poweroff -f
"""


def _pump(stream: IO[bytes], sink: list[bytes], echo: Callable[[bytes], None] | None) -> None:
    # os.read returns what is there: the console is streamed live, not in 64 KiB blocks.
    for chunk in iter(lambda: os.read(stream.fileno(), 65536), b""):
        sink.append(chunk)
        if echo is not None:
            echo(chunk)


def _die_with_parent() -> None:
    """In the child before exec: qemu gets SIGKILL if the Python process that started it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill qemu (its own process group) and reap it."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def run_in_guest(
    command: Sequence[str] | str,
    *,
    kernel: str = "6.1",
    nics: Sequence[str] | None = None,
    sriov: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
    module_options: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    share_dir: Path | None = None,
    echo: Callable[[bytes], None] | None = None,
    assets: GuestAssets | None = None,
) -> GuestResult:
    """Boot kernel `kernel` with `nics` and run `command` (argv, or a shell script as a str).

    sriov=True adds an igb (82576, up to 7 VFs) behind a PCIe root port on a q35 machine.
    module_options ({"ib_core": "netns_mode=0"}) go on the kernel command line as
    `module.param=value`; the boot-time insmods and the guest's modprobe both honour them.
    Result files the job writes to $HOSTDEV_VM_SHARE stay in `share_dir` when one is given.
    """
    chosen_nics = list(nics if nics is not None else DEFAULT_NICS)
    if sriov and SRIOV_NIC not in chosen_nics:
        chosen_nics.append(SRIOV_NIC)
    assets = assets or prepare(kernel)
    owns_share = share_dir is None
    job_dir = Path(tempfile.mkdtemp(prefix="hostdev-vm-")) if share_dir is None else share_dir
    job_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _boot(assets, job_dir, command, chosen_nics, timeout_s, env, module_options, cwd, echo)
    finally:
        if owns_share:
            shutil.rmtree(job_dir, ignore_errors=True)


def _boot(
    assets: GuestAssets,
    job_dir: Path,
    command: Sequence[str] | str,
    nics: Sequence[str],
    timeout_s: float,
    env: Mapping[str, str] | None,
    module_options: Mapping[str, str] | None,
    cwd: Path | None,
    echo: Callable[[bytes], None] | None,
) -> GuestResult:
    for stale in (EXIT_CODE_FILE, SERIAL_LOG, "kernel_release"):
        (job_dir / stale).unlink(missing_ok=True)
    if isinstance(command, str):
        (job_dir / "job.sh").write_text(command)
    guest_env = {
        "PATH": guest_path(),
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "HOSTDEV_IN_VM": "1",
        "HOSTDEV_VM_KERNEL": assets.kernel,
        "HOSTDEV_VM_SHARE": GUEST_JOB_DIR,
    }
    if assets.fake_rdma_ko is not None:
        guest_env["HOSTDEV_VM_FAKE_RDMA_KO"] = str(assets.fake_rdma_ko)
    guest_env.update(env or {})
    workdir = cwd or Path.cwd()
    (job_dir / "symlinks").write_text(guest_symlinks(assets))
    interpreter = Path(sys.executable)
    needed = [workdir, Path(sys.prefix), Path(sys.base_prefix), interpreter.parent, interpreter.resolve().parent]
    needed += [assets.vmlinux.parent, assets.modules_dir, assets.kmod.parent, assets.busybox.parent]
    if assets.fake_rdma_ko is not None:
        needed.append(assets.fake_rdma_ko.parent)
    (job_dir / "preserve").write_text("".join(p + "\n" for p in preserved_paths(needed)))
    (job_dir / "stage2.sh").write_text(stage2_script(assets, command, workdir, guest_env))
    kernel_args = [f"{module}.{option}" for module, options in (module_options or {}).items() for option in options.split()]
    argv = qemu_command(assets, job_dir, nics, kernel_args)

    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **assets.qemu.environment()},
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    assert process.stdout is not None and process.stderr is not None
    output: list[bytes] = []
    errors: list[bytes] = []
    readers = [
        threading.Thread(target=_pump, args=(process.stdout, output, echo), daemon=True),
        threading.Thread(target=_pump, args=(process.stderr, errors, None), daemon=True),
    ]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        _stop(process)
        for reader in readers:
            reader.join(timeout=5)
    elapsed = time.monotonic() - started

    exit_code = _read_int(job_dir / EXIT_CODE_FILE)
    error = None
    qemu_stderr = b"".join(errors).decode(errors="replace").strip()
    if timed_out:
        error = f"guest timed out after {timeout_s:.0f}s and was killed"
    elif exit_code is None:
        error = f"guest stopped without reporting an exit code (qemu exit {process.returncode})"
    if error and qemu_stderr:
        error += f"\nqemu: {qemu_stderr[-2000:]}"
    return GuestResult(
        exit_code=exit_code,
        output=b"".join(output).decode(errors="replace"),
        timed_out=timed_out,
        error=error,
        serial_log=_read_text(job_dir / SERIAL_LOG),
        kernel_release=_read_text(job_dir / "kernel_release").strip(),
        boot_seconds=elapsed,
    )


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
