"""A stand-in node for the CNI and scale parts: veth stand-ins named like PCI NICs in a throwaway
"host" namespace, a fabricated PCI sysfs describing them, empty pod namespaces, a state
directory, the installed ``amd-host-device`` launcher and a :class:`Spawner` living in the host.

Like the e2e tests' node (tests/e2e/harness.py), but built for many devices at once (one
``ip -batch``) and checked fast after every run: each stand-in must equal its baseline snapshot
and every pod must hold nothing but ``lo``. Everything (namespaces ``hdb-<random>-*``, the temp
directory with sysfs, state and launcher) goes on exit, on failure and on Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass

from hostdev._record import fields
from pathlib import Path
from typing import Any, Sequence

from benchmarks.cni.spawner import PLUGIN_PATH, Spawner
from benchmarks.harness.netns import ThrowawayNamespaces, ip, signals_deferred
from hostdev.handle import Handle
from hostdev.netns import NetNS
from hostdev.snapshot import LinkSnapshot, take_snapshot
from tests.unit.sysfs_fixtures import FakeSysfs

GO_HOST_DEVICE = Path("/usr/lib/cni/host-device")
SETTLE_TIMEOUT = 3.0
MAX_DEVICES = 200  # one /24 per device below 10.92/16 and a PCI bus number each


class RestoreMismatch(AssertionError):
    """A stand-in or a pod is not as it was before the run."""


@dataclass(frozen=True, slots=True)
class StandInDevice:
    """Stand-in number ``index``: a veth named like the PCI NIC at ``bdf`` (peer stays up on the host)."""

    index: int

    @property
    def bus(self) -> int:
        return 0x20 + self.index

    @property
    def name(self) -> str:
        return f"enp{self.bus}s0f0"  # systemd's predictable name for PCI bus <bus>, slot 0, fn 0

    @property
    def bdf(self) -> str:
        return f"0000:{self.bus:02x}:00.0"

    @property
    def peer(self) -> str:
        return f"hdbpeer{self.index}"

    def address_args(self) -> list[str]:
        """``ip addr add`` arguments: IPv4 /24 with broadcast, IPv4 /31, IPv6 global."""
        i = self.index
        return [f"10.92.{i}.2/24 brd +", f"10.93.{i}.0/31", f"2001:db8:92:{i:x}::2/64"]

    def route_args(self) -> list[str]:
        i = self.index
        return [f"172.20.{i}.0/24 via 10.92.{i}.1 metric 100", f"2001:db8:ff:{i:x}::/64 via 2001:db8:92:{i:x}::1"]

    def build_lines(self, mtu: int) -> list[str]:
        lines = [f"link add {self.name} mtu {mtu} type veth peer name {self.peer} mtu {mtu}", f"link set {self.peer} up"]
        lines += [f"addr add {a} dev {self.name}" for a in self.address_args()]
        lines.append(f"link set {self.name} up")
        lines += [f"route add {r} dev {self.name}" for r in self.route_args()]
        return lines

    def readdress_lines(self) -> list[str]:
        """What a device that came back stripped (down, without some or all of its addresses and
        routes, an alias left behind by Go host-device) needs to be the stand-in again. ``replace``:
        a peer may have put back some of it already."""
        lines = [f'link set dev {self.name} alias ""']
        lines += [f"addr replace {a} dev {self.name}" for a in self.address_args()]
        lines.append(f"link set {self.name} up")
        lines += [f"route replace {r} dev {self.name}" for r in self.route_args()]
        return lines

    def describe(self, mtu: int) -> str:
        return (f"veth `{self.name}` (peer up on the host) presented as PCI function {self.bdf} in a fabricated sysfs, "
                f"MTU {mtu}, up; addresses {', '.join(self.address_args())}; routes {'; '.join(self.route_args())}")  # fmt: skip


class BenchNode:
    """``with BenchNode(devices=8, pods=9) as node: node.spawner.run(...); node.check(...)``

    ``private_var_lib``: plugins see ``/var/lib`` as an overlay whose writes stay in the node's
    temp directory (for peers that keep state at a fixed path there).
    """

    def __init__(self, devices: int, pods: int, *, mtu: int = 9000, private_var_lib: bool = False) -> None:
        if not 1 <= devices <= MAX_DEVICES:
            raise ValueError(f"devices must be 1..{MAX_DEVICES}")
        self.mtu = mtu
        self.devices = [StandInDevice(i) for i in range(devices)]
        self._namespaces = ThrowawayNamespaces(["host", *(f"pod{i}" for i in range(pods))])
        self.host_name = self._namespaces.name("host")
        self.pod_names = [self._namespaces.name(f"pod{i}") for i in range(pods)]
        self.work = Path(tempfile.mkdtemp(prefix="hdb-node-"))
        self.sysfs = FakeSysfs(self.work / "sys")
        self.state_dir = self.work / "state"
        self.bin_dir = self.work / "bin"
        self._opened: list[NetNS | Handle] = []
        self.baseline: dict[str, LinkSnapshot] = {}
        self.baseline_ip_view: dict[str, Any] = {}
        self.spawner = Spawner(self.host_name, self.sysfs.root, var_lib_upper=self.work / "var-lib" if private_var_lib else None)
        self.plugin = self.bin_dir / "amd-host-device"

    # --- lifecycle ---
    def __enter__(self) -> BenchNode:
        try:
            self._namespaces.__enter__()
            self._build()
            from hostdev.tools.install import install

            settings = self.work / "node-settings.json"  # the node decides where state goes
            settings.write_text(json.dumps({"stateDir": str(self.state_dir)}))
            install(str(self.bin_dir), settings=str(settings))
            host_ns = self._keep(NetNS.from_name(self.host_name))
            self.host: Handle = self._keep(Handle(host_ns))
            self.pods: dict[str, Handle] = {name: self._keep(Handle(self._keep(NetNS.from_name(name)))) for name in self.pod_names}
            self._settle()
            self.baseline = {d.name: take_snapshot(self.host, d.name) for d in self.devices}
            self.baseline_ip_view = self.ip_view()
            self.spawner.__enter__()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        with signals_deferred():
            self.spawner.close()
            while self._opened:
                self._opened.pop().close()
            self._namespaces.remove()
            shutil.rmtree(self.work, ignore_errors=True)

    def _keep(self, thing: Any) -> Any:
        self._opened.append(thing)
        return thing

    def _build(self) -> None:
        for name in (self.host_name, *self.pod_names):
            # DAD off: a moved device takes its new namespace's defaults, and a tentative IPv6
            # address would make the state depend on a timer.
            ip("netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
        lines = [line for d in self.devices for line in d.build_lines(self.mtu)]
        ip("-n", self.host_name, "-batch", "-", input_text="\n".join(lines) + "\n")
        for d in self.devices:
            self.sysfs.add_pci_function(d.bdf, driver="ionic", netdevs=[d.name])

    def _settle(self) -> None:
        """Wait (bounded) until every stand-in reports operstate UP: linkwatch runs deferred."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        wanted = {d.name for d in self.devices}
        while time.monotonic() < deadline:
            links = json.loads(ip("-n", self.host_name, "-j", "link", "show"))
            if all(link.get("operstate") == "UP" for link in links if link["ifname"] in wanted):
                return
            time.sleep(0.01)

    # --- configurations and jobs ---
    def env(self, command: str, *, pod: str, container_id: str, ifname: str = "net1", cni_path: str | None = None) -> dict[str, str]:
        return {
            "PATH": PLUGIN_PATH, "CNI_COMMAND": command, "CNI_CONTAINERID": container_id,
            "CNI_NETNS": f"/run/netns/{pod}", "CNI_IFNAME": ifname, "CNI_PATH": cni_path or str(self.bin_dir),
        }  # fmt: skip

    def hostdev_conf(self, device: StandInDevice, selector: str, **extra: Any) -> dict[str, Any]:
        conf: dict[str, Any] = {"cniVersion": "1.0.0", "name": "hdb-net", "type": "amd-host-device"}
        conf.update(_selector(device, selector))
        conf.update(extra)
        return conf

    @staticmethod
    def go_conf(device: StandInDevice, selector: str) -> dict[str, Any]:
        return {"cniVersion": "1.0.0", "name": "hdb-net", "type": "host-device", **_selector(device, selector)}

    @staticmethod
    def peer_conf(device: StandInDevice, plugin: Path) -> dict[str, Any]:
        """What Multus hands a host-device style plugin for a device-plugin allocated NIC: the PCI
        address as ``deviceID`` (AMD's Go plugin requires it) and as ``pciBusID``."""
        return {"cniVersion": "1.0.0", "name": "hdb-net", "type": plugin.name, "deviceID": device.bdf, **_selector(device, "pciBusID")}

    # --- fixture ---
    def readdress(self, devices: Sequence[StandInDevice]) -> None:
        lines = [line for d in devices for line in d.readdress_lines()]
        ip("-n", self.host_name, "-batch", "-", input_text="\n".join(lines) + "\n")

    def difference(self, devices: Sequence[StandInDevice], pods: Sequence[str], *, brief: bool = False) -> str | None:
        """What differs from the baseline (None: nothing); ``brief`` counts addresses and routes
        instead of listing them."""
        show = _count if brief else _short
        for pod in pods:
            links = [link.name for link in self.pods[pod].links()]
            if links != ["lo"]:
                return f"pod {pod} still has links {links}"
        for device in devices:
            base = self.baseline[device.name]
            link = self.host.find_link(name=device.name)
            if link is None:
                return f"{device.name} is not on the host"
            now = take_snapshot(self.host, link)
            if now != base:
                changed = [f"{name}: {show(getattr(base, name))} -> {show(getattr(now, name))}"
                           for name in fields(LinkSnapshot) if getattr(now, name) != getattr(base, name)]  # fmt: skip
                return f"{device.name} not restored: " + "; ".join(changed)
        return None

    def check(self, devices: Sequence[StandInDevice], pods: Sequence[str]) -> None:
        """Poll (bounded) until the devices equal their baselines and the pods are empty."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            problem = self.difference(devices, pods)
            if problem is None:
                return
            if time.monotonic() > deadline:
                raise RestoreMismatch(problem)
            time.sleep(0.0005)

    def ip_view(self) -> dict[str, Any]:
        """``ip -j -d``'s own view of every stand-in's link, addresses and routes (no hostdev code)."""
        view: dict[str, Any] = {}
        for d in self.devices:
            addr = json.loads(ip("-n", self.host_name, "-j", "-d", "addr", "show", "dev", d.name))
            for entry in addr:
                for volatile in ("ifindex", "link_index", "stats64", "carrier_changes", "carrier_up_count", "carrier_down_count"):
                    entry.pop(volatile, None)
                # Link-local IPv6 is regenerated by the kernel on every move; not the device's settings.
                entry["addr_info"] = [a for a in entry.get("addr_info", []) if a.get("scope") != "link"]
            routes = json.loads(ip("-n", self.host_name, "-j", "route", "show", "table", "all", "dev", d.name))
            view[d.name] = {"addr": addr, "routes": sorted(json.dumps(r, sort_keys=True) for r in routes if not str(r.get("dst", "")).startswith("fe80"))}
        return view

    def check_independent(self) -> None:
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            view = self.ip_view()
            if view == self.baseline_ip_view:
                return
            if time.monotonic() > deadline:
                changed = [name for name in view if view[name] != self.baseline_ip_view.get(name)]
                raise RestoreMismatch(f"ip -j -d view of {changed} changed: before {json.dumps({n: self.baseline_ip_view[n] for n in changed})[:2000]} after {json.dumps({n: view[n] for n in changed})[:2000]}")
            time.sleep(0.01)

    def state_filesystem(self) -> str:
        """The file system the state directory lives on (its fsyncs cost what that one costs)."""
        import subprocess

        done = subprocess.run(["findmnt", "-n", "-o", "FSTYPE,SOURCE", "-T", str(self.work)], capture_output=True, text=True)
        return " on ".join(done.stdout.split()) or "?"

    def describe(self) -> str:
        count = len(self.devices)
        first = self.devices[0].describe(self.mtu)
        return first if count == 1 else f"{count} stand-ins like this one: {first}"


def _selector(device: StandInDevice, selector: str) -> dict[str, str]:
    if selector == "pciBusID":
        return {"pciBusID": device.bdf}
    if selector == "device":
        return {"device": device.name}
    raise ValueError(f"unknown selector {selector!r}")


def _count(value: Any) -> str:
    if isinstance(value, tuple):
        return f"{len(value)} item{'' if len(value) == 1 else 's'}"
    return _short(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 300 else text[:300] + "…"
