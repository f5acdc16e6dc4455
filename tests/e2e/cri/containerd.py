"""containerd (Debian's 1.6) confined to one test module, on a stand-in node.

Everything containerd owns is under one temp dir: its config, root, state, sockets, the CNI
conf dirs and the pod netns mounts (``netns_mounts_under_state_dir``). What it and its shims
write at fixed paths (``/run/containerd/s/...`` shim sockets, runc's state in
``/run/containerd/runc``, libcni's result cache in ``/var/lib/cni``) lands on tmpfs in a
private mount namespace, held by a process of its own, so it survives a containerd restart
and vanishes with the module. containerd runs in the node's "host" netns and sees the node's
fabricated sysfs there, so the plugin it executes finds the stand-in NICs as PCI functions.
The machine's own ``/etc/containerd``, ``/run/containerd`` and ``/var/lib/containerd`` are
never read or written (the config is passed with ``--config``; the tests check those paths).

``restrict_oom_score_adj`` keeps the sandbox's OOM score at containerd's own instead of the
kubelet's -998: lowering it needs CAP_SYS_RESOURCE, which CI's containers may not grant.

CNI networks are declared per runtime handler (containerd 1.6's per-runtime ``cni_conf_dir``):
a pod names its network by the handler it asks for in ``RunPodSandbox``, the way a
RuntimeClass would, and every conf dir is written before containerd starts, so no test waits
for containerd to notice a new file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.e2e.harness import PRIVATE_MOUNTS_SCRIPT, Node, TestCgroup, VarLibCniMountPoint

from . import recorder
from .pause_image import IMAGE

CONTAINERD = "/usr/bin/containerd"
CTR = "/usr/bin/ctr"
K8S_NAMESPACE = "k8s.io"  # containerd's namespace for everything the CRI plugin does

# The debian package's plugins the networks here chain or use besides ours.
DEBIAN_CNI_DIR = Path("/usr/lib/cni")
DEBIAN_PLUGINS = ("loopback", "sbr", "host-local", "ptp")

_CONFIG = """\
version = 2
root = "{work}/root"
state = "{work}/state"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{work}/containerd.sock"

[ttrpc]
  address = "{work}/containerd.sock.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{work}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{image}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{bin_dir}"
    conf_dir = "{work}/net.d/default"
    max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
{handlers}"""

_HANDLER = """
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}]
      runtime_type = "io.containerd.runc.v2"
      cni_conf_dir = "{conf_dir}"
      cni_max_conf_num = {max_conf_num}
"""


def cni_bin_dir(path: Path, plugin: Path) -> Path:
    """One CNI bin dir (containerd 1.6 takes only one): the plugin under test (the launcher as
    ``hostdev install`` writes it, or a bundle), links to the Debian plugins the networks use,
    and the tests' recorder."""
    path.mkdir(parents=True)
    (path / "amd-host-device").symlink_to(plugin)
    for name in DEBIAN_PLUGINS:
        (path / name).symlink_to(DEBIAN_CNI_DIR / name)
    recorder.install(path)
    return path


class Containerd:
    """``networks``: runtime handler name -> the conflists of its CNI conf dir, in order (the
    first is the pod's primary network, ``eth0``; with more, containerd attaches each)."""

    def __init__(self, node: Node, bin_dir: Path, networks: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        # A short path: unix socket paths are limited to 108 bytes.
        self.work = work = Path(tempfile.mkdtemp(prefix="hdc-"))
        self.node = node
        self.socket = str(work / "containerd.sock")
        self.cgroup = TestCgroup("hostdev-cri")
        self.log_path = work / "containerd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._holder: subprocess.Popen[bytes] | None = None
        self._var_lib_cni = VarLibCniMountPoint()
        handlers = []
        for name, conflists in networks.items():
            conf_dir = work / "net.d" / name
            conf_dir.mkdir(parents=True)
            for index, conflist in enumerate(conflists):
                (conf_dir / f"{10 + index}-{conflist['name']}.conflist").write_text(json.dumps(conflist, indent=2))
            handlers.append(_HANDLER.format(name=name, conf_dir=conf_dir, max_conf_num=len(conflists)))
        (work / "net.d" / "default").mkdir(parents=True)
        self.config = work / "config.toml"
        self.config.write_text(_CONFIG.format(work=work, image=IMAGE, bin_dir=bin_dir, handlers="".join(handlers)))
        (node.sysfs.root / "fs" / "cgroup").mkdir(parents=True, exist_ok=True)

    # --- the private mount namespace, and containerd in it ---
    def _hold_mounts(self) -> int:
        """A process that owns the private mount namespace (in the node's host netns) for the
        module's whole life; containerd is started (and restarted) inside it."""
        self.node.write_settings()  # the node's settings over /etc, as in Node.run
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOSTDEV_SYSFS": str(self.node.sysfs.root), "HOSTDEV_ETC": str(self.node.etc)}
        args = [
            "nsenter", f"--net=/run/netns/{self.node.host}",
            "unshare", "--mount", "--propagation", "private",
            "sh", "-c", PRIVATE_MOUNTS_SCRIPT, "sh", "sh", "-c", "echo mounted; exec sleep infinity",
        ]  # fmt: skip
        self._holder = subprocess.Popen(args, stdout=subprocess.PIPE, env=env)
        assert self._holder.stdout is not None
        if self._holder.stdout.readline().strip() != b"mounted":
            raise RuntimeError("the private mount namespace for containerd could not be set up")
        return self._holder.pid

    def start(self) -> None:
        """Start containerd (again, after ``kill``) with the same config, root and state."""
        holder = self._holder.pid if self._holder is not None else self._hold_mounts()
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "TMPDIR": str(self.work)}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["nsenter", f"--target={holder}", "--mount", "--net", CONTAINERD, "--config", str(self.config)],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL containerd, as an OOM kill or a crash would; shims and pods live on."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def ctr(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([CTR, "--address", self.socket, "--namespace", K8S_NAMESPACE, *args], capture_output=True, timeout=timeout)

    def private_path(self, path: str) -> Path:
        """``path`` as containerd and the plugins see it, in the private mount namespace (where
        e.g. host-local keeps its allocations under /var/lib/cni)."""
        assert self._holder is not None
        return Path(f"/proc/{self._holder.pid}/root") / path.lstrip("/")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # --- cleanup: only what this object started ---
    def _processes_in_our_mount_ns(self) -> list[int]:
        """containerd, its shims and the holder: every process in the private mount namespace."""
        if self._holder is None or self._holder.poll() is not None:
            return []
        ours = os.readlink(f"/proc/{self._holder.pid}/ns/mnt")
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.readlink(f"/proc/{entry}/ns/mnt") == ours:
                        pids.append(int(entry))
                except OSError:
                    pass  # gone meanwhile
        return pids

    def cleanup(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        self.cgroup.remove()  # pause containers
        for pid in self._processes_in_our_mount_ns():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._holder is not None:
            self._holder.wait()
        self._var_lib_cni.remove()
        # overlay snapshots were mounted in the private namespace only, gone with it
        shutil.rmtree(self.work, ignore_errors=True)
