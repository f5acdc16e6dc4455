"""Helpers for tests that run inside the VM guest: commands, sysfs lookups, bounded waits."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PCI_DEVICES = Path("/sys/bus/pci/devices")
PCI_DRIVERS = Path("/sys/bus/pci/drivers")
CLASS_NET = Path("/sys/class/net")


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def wait_for(what: str, predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Poll until predicate() holds; fail after timeout_s (TCG guests are slow, not stuck)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


def functions_bound_to(driver: str) -> list[str]:
    """PCI addresses (BDFs) bound to a driver, sorted."""
    directory = PCI_DRIVERS / driver
    if not directory.is_dir():
        return []
    return sorted(entry.name for entry in directory.iterdir() if entry.name.count(":") == 2)


def netdevs_directly_under(bdf: str) -> list[str]:
    net = PCI_DEVICES / bdf / "net"
    return sorted(os.listdir(net)) if net.is_dir() else []


def pci_function_of(ifname: str) -> str:
    """The PCI function a netdev belongs to, walking up past e.g. a virtio device."""
    device = (CLASS_NET / ifname / "device").resolve()
    for candidate in (device, *device.parents):
        if (candidate / "subsystem").resolve().name == "pci" and (candidate / "config").is_file():
            return candidate.name
    raise AssertionError(f"{ifname} has no PCI function above {device}")


def e1000_netdev() -> tuple[str, str]:
    """(BDF, ifname) of the guest's first e1000."""
    for bdf in functions_bound_to("e1000"):
        names = netdevs_directly_under(bdf)
        if names:
            return bdf, names[0]
    raise AssertionError("the guest has no e1000 netdev")


@contextmanager
def network_namespace() -> Iterator[str]:
    """A named netns (`ip netns add`) that is deleted afterwards if the test did not."""
    name = f"hd-{secrets.token_hex(4)}"
    run("ip", "netns", "add", name)
    try:
        yield name
    finally:
        if Path("/run/netns", name).exists():
            run("ip", "netns", "del", name, check=False)


@contextmanager
def fake_rdma(*netdevs: str) -> Iterator[list[str]]:
    """Load the test-only fake_rdma module on netdevs; yields the RDMA device names."""
    module = os.environ.get("HOSTDEV_VM_FAKE_RDMA_KO")
    if not module:
        raise AssertionError("HOSTDEV_VM_FAKE_RDMA_KO is not set: fake_rdma was not built for this kernel")
    run("insmod", module, f"netdevs={','.join(netdevs)}")
    try:
        yield [f"fakerdma{index}" for index in range(len(netdevs))]
    finally:
        run("rmmod", "fake_rdma", check=False)


# --- more NICs ---------------------------------------------------------------------------


def virtio_netdev() -> tuple[str, str]:
    """(BDF, ifname) of the guest's virtio-net NIC (its netdev sits under virtio<N>/)."""
    for bdf in functions_bound_to("virtio-pci"):
        for virtio_dir in sorted((PCI_DEVICES / bdf).glob("virtio[0-9]*")):
            if (virtio_dir / "net").is_dir():
                names = sorted(os.listdir(virtio_dir / "net"))
                if names:
                    return bdf, names[0]
    raise AssertionError("the guest has no virtio-net netdev")


def sriov_pf() -> tuple[str, str]:
    """(BDF, ifname) of the guest's SR-IOV capable igb PF (sriov=True boots)."""
    for bdf in functions_bound_to("igb"):
        names = netdevs_directly_under(bdf)
        if (PCI_DEVICES / bdf / "sriov_totalvfs").is_file() and names:
            return bdf, names[0]
    raise AssertionError("the guest has no SR-IOV capable igb PF (boot with sriov=True)")


@contextmanager
def virtual_functions(pf: str, count: int) -> Iterator[list[tuple[str, str]]]:
    """Enable ``count`` VFs on ``pf``; yields [(VF BDF, VF netdev)] by VF index; disables them after."""
    numvfs = PCI_DEVICES / pf / "sriov_numvfs"
    numvfs.write_text(str(count))
    try:

        def listed() -> list[tuple[str, str]]:
            found = []
            for index in range(count):
                vf = (PCI_DEVICES / pf / f"virtfn{index}").resolve().name
                found += [(vf, name) for name in netdevs_directly_under(vf)]
            return found

        wait_for(f"{count} VF netdevs on {pf}", lambda: len(listed()) == count)
        yield listed()
    finally:
        numvfs.write_text("0")


# --- what `ip -j` says about one netdev --------------------------------------------------

# ip -d -j link fields that are not the device's settings: the ifindex (the kernel may renumber
# on a netns move) and counters.
_VOLATILE_LINK_KEYS = frozenset({"ifindex", "link_index", "carrier_changes", "carrier_up_count", "carrier_down_count"})


def ip_json(*argv: str, netns: str | None = None) -> Any:
    where = ("-n", netns) if netns else ()
    text = run("ip", "-j", *where, *argv).stdout
    return json.loads(text) if text.strip() else []


def _is_link_local_v6(text: object) -> bool:
    # fe80::/64 addresses and their routes come back by themselves (after DAD, so not at once).
    return isinstance(text, str) and text.lower().startswith("fe80")


def netdev_view(ifname: str, netns: str | None = None) -> dict[str, Any]:
    """Everything `ip -j` shows of one netdev that a move may strip or a restore must bring back:
    every `ip -d link` field, the addresses in the kernel's order, and its routes of every table
    and both families (kernel-made ones included: they follow from the rest)."""
    (link,) = ip_json("-d", "link", "show", "dev", ifname, netns=netns)
    (addrs,) = ip_json("addr", "show", "dev", ifname, netns=netns)
    routes = [
        route
        for family in ("-4", "-6")
        for route in ip_json(family, "route", "show", "table", "all", "dev", ifname, netns=netns)
        if not _is_link_local_v6(route.get("dst"))
    ]
    volatile = _VOLATILE_LINK_KEYS
    if "UP" not in link.get("flags", ()):
        # A down link's qdisc is history, not a setting: "noop" after a netns move, the default
        # qdisc again if it was ever up in this netns. It is re-attached when the link goes up.
        volatile = volatile | {"qdisc"}
    return {
        "link": {k: v for k, v in link.items() if k not in volatile},
        "addrs": [a for a in addrs.get("addr_info", []) if not _is_link_local_v6(a.get("local"))],
        "routes": sorted(json.dumps(r, sort_keys=True) for r in routes),
    }


def netlink_parent(bdf: str) -> tuple[str, str]:
    """What IFLA_PARENT_DEV_NAME / _BUS_NAME say for the netdev of PCI function ``bdf``: the
    function itself, or for virtio-net the virtio device one level below it (sysfs leads from
    there up to the function)."""
    virtio = sorted(d.name for d in (PCI_DEVICES / bdf).glob("virtio[0-9]*"))
    return (virtio[0], "virtio") if virtio else (bdf, "pci")


def netdev_exists(ifname: str, netns: str | None = None) -> bool:
    where = ("-n", netns) if netns else ()
    return run("ip", *where, "link", "show", "dev", ifname, check=False).returncode == 0


def wait_for_view(ifname: str, expected: dict[str, Any], netns: str | None = None, timeout_s: float = 20.0) -> None:
    """Poll until netdev_view() equals ``expected`` (carrier and DAD settle asynchronously)."""
    seen: list[dict[str, Any]] = []

    def matches() -> bool:
        seen[:] = [netdev_view(ifname, netns) if netdev_exists(ifname, netns) else {}]
        return seen[0] == expected

    try:
        wait_for(f"{ifname} to look as expected", matches, timeout_s)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nexpected: {json.dumps(expected, sort_keys=True)}\nactual:   {json.dumps(seen[0], sort_keys=True)}") from None


def is_settled(view: dict[str, Any]) -> bool:
    """Link up with carrier and no address still in DAD: what the NIC will not drift from by itself.
    Carrier is the LOWER_UP flag, which the driver sets as it happens; operstate follows it through
    linkwatch up to a second later, so alone it can still say UP while the carrier has gone (CI14:
    an e1000's link dropped once more after it first came up, and the view taken then lacked
    LOWER_UP, the routes' linkdown flags were set and IPv6's ff00::/8 route was not there yet)."""
    link = view["link"]
    return (
        link.get("operstate") == "UP"
        and "LOWER_UP" in link.get("flags", ())
        and not any(a.get("tentative") for a in view["addrs"])
    )


def settled_view(ifname: str, netns: str | None = None, timeout_s: float = 60.0) -> dict[str, Any]:
    """The first view of ``ifname`` that is itself settled (checked on the view returned, so no
    carrier change can fall between the check and the view)."""
    latest: list[dict[str, Any]] = []

    def settled_now() -> bool:
        latest[:] = [netdev_view(ifname, netns)]
        return is_settled(latest[0])

    wait_for(f"{ifname} up with carrier and past DAD", settled_now, timeout_s=timeout_s)
    return latest[0]


def rich_cidrs(octet: int, *, dad: bool = False) -> set[str]:
    """The addresses configure_rich(ifname, octet, dad=dad) gives."""
    cidrs = {f"55.{octet}.1.56/24", f"55.{octet}.1.57/24", f"10.{octet}.9.0/31", f"fd{octet:02x}::5/64", f"fd{octet:02x}:1::5/64"}
    return cidrs | ({f"fd{octet:02x}:2::5/64"} if dad else set())


def interface_state(ifname: str, netns: str | None = None) -> dict[str, Any]:
    """What a move resets and the plugin must give back: every `net.ipv{4,6}.{conf,neigh}.IF.*`
    sysctl (keyed without the interface name), the permanent and proxy neighbours."""
    prefix = ("ip", "netns", "exec", netns) if netns else ()
    out = run(*prefix, "sysctl", "-a", "--pattern", rf"^net\.ipv[46]\.(conf|neigh)\.{ifname}\.").stdout
    sysctls = {}
    for line in out.splitlines():
        key, _, value = line.partition(" = ")
        parts = key.split(".")
        sysctls[".".join(parts[:3] + parts[4:])] = value
    neighbours = ip_json("neigh", "show", "dev", ifname, "nud", "permanent", netns=netns)
    neighbours += ip_json("neigh", "show", "proxy", "dev", ifname, netns=netns)
    return {"sysctls": sysctls, "neighbours": sorted(json.dumps(n, sort_keys=True) for n in neighbours)}


def configure_interface_state(ifname: str, octet: int) -> None:
    """Per-interface sysctls as an admin of a multi-rail RoCE node sets them, a neighbour-table
    parameter and permanent/proxy neighbours of both families."""
    run("sysctl", "-q", "-w", f"net.ipv4.conf.{ifname}.arp_ignore=1", f"net.ipv4.conf.{ifname}.arp_announce=2",
        f"net.ipv4.conf.{ifname}.rp_filter=2", f"net.ipv6.conf.{ifname}.accept_ra=0",
        f"net.ipv6.conf.{ifname}.hop_limit=32", f"net.ipv6.conf.{ifname}.mtu=3000")  # fmt: skip
    run("ip", "ntable", "change", "name", "arp_cache", "dev", ifname, "delay_probe", "1500")
    run("ip", "neigh", "add", f"55.{octet}.1.9", "lladdr", "02:00:00:00:00:09", "dev", ifname, "nud", "permanent")
    run("ip", "-6", "neigh", "add", f"fd{octet:02x}::9", "lladdr", "02:00:00:00:00:0a", "dev", ifname, "nud", "permanent", "router")
    run("ip", "neigh", "add", "proxy", f"55.{octet}.1.20", "dev", ifname)


def configure_rich(ifname: str, octet: int, *, dad: bool = False) -> dict[str, Any]:
    """Give a NIC everything a netns move strips: IPv4 primary + secondary + /31, IPv6 (with
    ``dad``, one that goes through duplicate address detection after every up: ~2 s each time
    under TCG), MTU, alias, routes in the main table, another table and IPv6; then up, settled.
    Returns the settled view: the NIC's "before" for a test."""
    addresses = [f"55.{octet}.1.56/24 brd +", f"55.{octet}.1.57/24", f"10.{octet}.9.0/31"]
    addresses += [f"fd{octet:02x}::5/64 nodad noprefixroute", f"fd{octet:02x}:1::5/64 nodad"]
    if dad:
        addresses.append(f"fd{octet:02x}:2::5/64")
    for address in addresses:
        run("ip", "addr", "add", *address.split(), "dev", ifname)
    run("ip", "link", "set", "dev", ifname, "mtu", "4000", "alias", f"real nic {octet}")
    run("ip", "link", "set", "dev", ifname, "up")
    run("ip", "route", "add", f"192.168.{octet}.0/24", "via", f"55.{octet}.1.1", "dev", ifname)
    run("ip", "route", "add", f"192.169.{octet}.0/24", "via", f"55.{octet}.1.1", "dev", ifname, "table", "100", "metric", "7")
    run("ip", "-6", "route", "add", f"fd{octet:02x}:10::/64", "via", f"fd{octet:02x}:1::1", "dev", ifname)
    # A generous ceiling: an igbvf VF gets carrier only once its PF's link is up, which under TCG
    # on a loaded 2-core machine took over 20 s once (CI3 of the second wave).
    return settled_view(ifname, timeout_s=60.0)


def reset_nic(bdf: str, ifname: str) -> None:
    """Bring a NIC back to its boot state whatever a test left: out of any test netns (deleting
    them returns it), under its own name, down, bare, MTU 1500, no alias, the boot's sysctls."""
    for name in os.listdir("/run/netns") if os.path.isdir("/run/netns") else ():
        if name.startswith("hd-"):
            run("ip", "netns", "del", name, check=False)
    wait_for(f"{bdf} to have a netdev on the host", lambda: bool(_netdevs_of(bdf)), timeout_s=30.0)
    (current,) = _netdevs_of(bdf)
    run("ip", "link", "set", "dev", current, "down")
    if current != ifname:
        run("ip", "link", "set", "dev", current, "name", ifname)
    run("ip", "addr", "flush", "dev", ifname)
    for family in ("-4", "-6"):
        run("ip", family, "route", "flush", "table", "all", "dev", ifname, check=False)
    run("ip", "link", "set", "dev", ifname, "mtu", "1500", "alias", "")
    # Its sysctls, neighbour-table parameters and neighbours back to the boot defaults the way the
    # kernel resets them: through a netns and back (the initial netns's defaults rebuild them).
    with network_namespace() as scratch:
        run("ip", "link", "set", "dev", ifname, "netns", scratch)
        run("ip", "-n", scratch, "link", "set", "dev", ifname, "netns", "1")


def borrowed_nic(model: str) -> Iterator[tuple[str, str]]:
    """For fixtures: (BDF, ifname) of the guest's "e1000" or "virtio" NIC, reset afterwards
    (tests of one boot share the NICs)."""
    bdf, ifname = e1000_netdev() if model == "e1000" else virtio_netdev()
    yield bdf, ifname
    reset_nic(bdf, ifname)


def _netdevs_of(bdf: str) -> list[str]:
    from hostdev._sysfs.pci_function import netdevs_below

    return list(netdevs_below(str(PCI_DEVICES / bdf)))


# --- RDMA --------------------------------------------------------------------------------


def rdma_output(*argv: str, netns: str | None = None) -> str:
    """`rdma ARGV` in the initial netns, or in ``netns`` (`ip netns exec`, as a pod would run it)."""
    prefix = ("ip", "netns", "exec", netns) if netns else ()
    return run(*prefix, "rdma", *argv).stdout


def rdma_device_names(netns: str | None = None) -> list[str]:
    """Devices `rdma dev` lists (`0: fakerdma0: node_type ...` lines)."""
    return [line.split(":")[1].strip() for line in rdma_output("dev", netns=netns).splitlines() if ":" in line]


@contextmanager
def soft_roce(netdev: str, name: str = "rxe0") -> Iterator[str]:
    """An rxe (Soft-RoCE) device on ``netdev``; deleted afterwards if it still exists."""
    run("modprobe", "rdma_rxe")
    # rxe asks the crypto API for "crc32", which would autoload it through /sbin/modprobe; the
    # guest's modprobe lives elsewhere, so load the algorithm the way that request would.
    run("modprobe", "crypto-crc32")
    run("rdma", "link", "add", name, "type", "rxe", "netdev", netdev)
    try:
        yield name
    finally:
        if name in rdma_device_names():
            run("rdma", "link", "delete", name, check=False)


# --- the amd-host-device plugin, as a runtime drives it ------------------------------------

REPO = Path(__file__).resolve().parents[2]


def install_plugin(bin_dir: Path) -> Path:
    """`hostdev install --bin-dir` into ``bin_dir``: the launcher a runtime executes."""
    argv = [sys.executable, "-m", "hostdev.tools.cli", "install", "--bin-dir", str(bin_dir)]
    installed = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    return bin_dir / "amd-host-device"


@dataclass
class PluginRun:
    code: int
    out: dict[str, Any] | None
    stdout: str
    stderr: str

    def error_code(self) -> int | None:
        return int(self.out["code"]) if self.out is not None and "code" in self.out else None


def run_plugin(
    plugin: Path,
    command: str,
    conf: dict[str, Any],
    *,
    netns: str | None,
    container_id: str | None = "c0ffee",
    ifname: str | None = "net1",
    env: dict[str, str] | None = None,
) -> PluginRun:
    """Execute the installed plugin with the CNI_* environment and ``conf`` on stdin
    (a variable given as None is not set at all, as for GC); ``env`` adds variables (faults)."""
    # Debian's IPAM plugins (host-local, static) after ours, as on a node.
    environ = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command, "CNI_PATH": f"{plugin.parent}:/usr/lib/cni"}
    for name, value in (("CNI_CONTAINERID", container_id), ("CNI_IFNAME", ifname), ("CNI_NETNS", netns)):
        if value is not None:
            environ[name] = value
    environ.update(env or {})
    proc = subprocess.run([str(plugin)], input=json.dumps(conf), capture_output=True, text=True, env=environ, timeout=120)
    try:
        parsed = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        parsed = None
    return PluginRun(proc.returncode, parsed, proc.stdout, proc.stderr)


NETWORK = "amd-host-device-nad-nic"
SEED_NAD: dict[str, Any] = {"cniVersion": "0.3.1", "name": NETWORK, "type": "amd-host-device"}


NODE_SETTINGS = Path("/etc/cni/amd-host-device.conf")


def use_node_settings(state_dir: Path) -> None:
    """The guest node's settings (its root is an overlay on a tmpfs: the write ends with the
    boot): state in ``state_dir``, NAD log files allowed next to it."""
    assert os.environ.get("HOSTDEV_IN_VM") == "1", "node settings are written only inside the guest"
    NODE_SETTINGS.parent.mkdir(parents=True, exist_ok=True)
    NODE_SETTINGS.write_text(json.dumps({"stateDir": str(state_dir), "logDir": str(state_dir.parent)}))
    NODE_SETTINGS.chmod(0o644)


def nad_conf(bdf: str, state_dir: Path, **extra: Any) -> dict[str, Any]:
    """The seed's NAD config as Multus hands it over for an allocated NIC (deviceID, pciBusID),
    with a debug log; the node's settings put the state and the log in a test's directory."""
    use_node_settings(state_dir)
    conf: dict[str, Any] = dict(SEED_NAD, deviceID=bdf, pciBusID=bdf)
    conf.update(logLevel="debug", logFile=str(plugin_log(state_dir)))
    conf.update(extra)
    return conf


def plugin_log(state_dir: Path) -> Path:
    return state_dir.parent / "plugin.log"


def gc_conf(state_dir: Path) -> dict[str, Any]:
    """GC as a CNI 1.1 runtime sends it when no attachment of the network is valid any more."""
    use_node_settings(state_dir)
    return {"cniVersion": "1.1.0", "name": NETWORK, "type": "amd-host-device", "cni.dev/valid-attachments": []}


def state_records(state_dir: Path) -> list[dict[str, Any]]:
    """The plugin's per-attachment records (``record`` of each state file)."""
    networks = state_dir / "networks"
    return [json.loads(p.read_text())["record"] for p in sorted(networks.rglob("*.json"))] if networks.is_dir() else []


def ok(result: PluginRun) -> PluginRun:
    assert result.code == 0, f"exit {result.code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def netns_path(pod: str) -> str:
    return f"/run/netns/{pod}"
