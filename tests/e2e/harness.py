"""A stand-in node for driving the installed ``amd-host-device`` binary like a runtime does.

The machine's own namespace is never touched. A node is:

* a "host" network namespace of our own, holding veth stand-ins named like PCI NICs (each with
  its peer, so it stays up), addresses and routes;
* a fabricated sysfs tree in which each stand-in is a PCI function ``<BDF>/net/<ifname>``,
  bind-mounted over ``/sys`` in a private mount namespace of the plugin process only;
* pod network namespaces made with ``ip netns add``.

``run()`` executes the plugin inside the host namespace with the CNI environment and a config
on stdin, exactly like a runtime, and returns its exit code, parsed stdout and stderr.
A real NIC returns to the host by itself when its pod netns dies; a veth would die with it, so
``emulate_nic_return()`` moves the stand-in back first, as the kernel would (keeping its name).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.unit.sysfs_fixtures import FakeSysfs

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python"


def sh(cmd: list[str] | str, *, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    args = cmd if isinstance(cmd, list) else ["sh", "-c", cmd]
    return subprocess.run(args, check=check, input=input, capture_output=True)


def install_plugin(bin_dir: Path) -> Path:
    """The installed launcher, as ``hostdev install`` writes it."""
    sh([str(PYTHON), "-m", "hostdev.cli", "install", "--bin-dir", str(bin_dir)])
    return bin_dir / "amd-host-device"


@dataclass
class Result:
    code: int
    out: dict[str, Any] | None
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.code == 0


@dataclass
class Node:
    plugin: Path
    prefix: str = field(default_factory=lambda: "hde" + secrets.token_hex(3))
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hostdev-e2e-")))
    pods: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.host = f"{self.prefix}-host"
        self.sysfs = FakeSysfs(self.work / "sys")
        self.state_dir = self.work / "state"
        self.bdfs: dict[str, str] = {}
        sh(["ip", "netns", "add", self.host])
        self.ip("link set lo up")

    # --- setup ---
    def ip(self, args: str, ns: str | None = None) -> str:
        return sh(f"ip -n {ns or self.host} {args}").stdout.decode()

    def ip_json(self, args: str, ns: str | None = None) -> Any:
        return json.loads(sh(f"ip -j -n {ns or self.host} {args}").stdout or b"[]")

    def add_nic(self, name: str, bdf: str, *, addrs: tuple[str, ...] = (), mtu: int | None = None, up: bool = True, driver: str = "ionic") -> None:
        """A veth stand-in for a physical NIC at ``bdf`` (its peer stays on the host side)."""
        peer = f"p{secrets.token_hex(3)}"
        self.ip(f"link add {name} type veth peer name {peer}")
        self.ip(f"link set {peer} up")
        if mtu:
            self.ip(f"link set {peer} mtu {mtu}")
            self.ip(f"link set {name} mtu {mtu}")
        for addr in addrs:
            self.ip(f"addr add {addr} dev {name}")
        if up:
            self.ip(f"link set {name} up")
        self.sysfs.add_pci_function(bdf, driver=driver, netdevs=[name])
        self.bdfs[name] = bdf

    def add_pod(self) -> str:
        name = f"{self.prefix}-pod{len(self.pods)}"
        sh(["ip", "netns", "add", name])
        self.pods.append(name)
        return name

    def pod_path(self, pod: str) -> str:
        return f"/run/netns/{pod}"

    def delete_pod(self, pod: str) -> None:
        sh(["ip", "netns", "del", pod], check=False)
        if pod in self.pods:
            self.pods.remove(pod)

    def emulate_nic_return(self, pod: str, name: str) -> None:
        """What the kernel does to a physical NIC when its netns dies: back to the host, down,
        no addresses, keeping its current name. Done here before the netns is deleted."""
        sh(f"ip -n {pod} link set {name} down && ip -n {pod} link set {name} netns {self.host}")

    # --- the plugin, as a runtime calls it ---
    def conf(self, **extra: Any) -> dict[str, Any]:
        conf: dict[str, Any] = {"cniVersion": "0.3.1", "name": "amd-host-device-nad-nic", "type": "amd-host-device"}
        conf["stateDir"] = str(self.state_dir)
        conf.update(extra)
        return conf

    def run(
        self,
        command: str,
        conf: dict[str, Any] | bytes,
        *,
        netns: str | None = None,
        container_id: str = "c0ffee",
        ifname: str = "net1",
        env: dict[str, str] | None = None,
    ) -> Result:
        environ = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": container_id,
            "CNI_IFNAME": ifname,
            "CNI_PATH": str(self.plugin.parent),
        }
        if netns is not None:
            environ["CNI_NETNS"] = netns
        environ.update(env or {})
        stdin = conf if isinstance(conf, bytes) else json.dumps(conf).encode()
        # ip netns exec gives the child a private mount ns with a fresh sysfs of the host netns;
        # the fabricated tree goes over it there, so the plugin sees our PCI functions.
        script = f'mount --bind "{self.sysfs.root}" /sys && exec "{self.plugin}"'
        proc = subprocess.run(
            ["ip", "netns", "exec", self.host, "sh", "-c", script],
            input=stdin, capture_output=True, env=environ, timeout=120,
        )  # fmt: skip
        text = proc.stdout.decode()
        try:
            parsed = json.loads(text) if text.strip() else None
        except json.JSONDecodeError:
            parsed = None
        return Result(proc.returncode, parsed, text, proc.stderr.decode())

    # --- observation ---
    def link_state(self, name: str, ns: str | None = None) -> dict[str, Any]:
        """Everything `ip` shows that must survive: link fields, addresses in order, routes."""
        link = self.ip_json(f"-d link show dev {name}", ns)[0]
        addrs = self.ip_json(f"addr show dev {name}", ns)[0]["addr_info"]
        routes = self.ip_json(f"route show table all dev {name}", ns)
        routes6 = self.ip_json(f"-6 route show table all dev {name}", ns)
        keep = ("ifname", "mtu", "address", "operstate", "ifalias", "flags")
        return {
            "link": {k: link.get(k) for k in keep},
            "addrs": [
                {k: a.get(k) for k in ("family", "local", "prefixlen", "broadcast", "scope", "label", "noprefixroute", "nodad", "secondary", "address")}
                for a in addrs
                if not (a.get("family") == "inet6" and a.get("scope") == "link")
            ],
            "routes": sorted(json.dumps(r, sort_keys=True) for r in routes + routes6 if r.get("protocol") != "kernel" and r.get("type") not in ("local", "broadcast", "multicast")),
        }

    def has_link(self, name: str, ns: str | None = None) -> bool:
        return sh(f"ip -n {ns or self.host} link show dev {name}", check=False).returncode == 0

    def state_files(self) -> list[str]:
        root = self.state_dir / "networks"
        if not root.exists():
            return []
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    def cleanup(self) -> None:
        for pod in list(self.pods):
            self.delete_pod(pod)
        sh(["ip", "netns", "del", self.host], check=False)
        shutil.rmtree(self.work, ignore_errors=True)
