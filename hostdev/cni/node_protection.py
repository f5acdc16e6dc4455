"""Devices the node keeps: what ADD refuses to move into a pod, whatever a NAD selects.

A pod given a NIC owns it completely: it can take it down, readdress it, and (for an SR-IOV PF)
reprogram the VFs of other tenants. So before anything is touched, ADD refuses a netdev that

* carries the node's default route (IPv4 or IPv6, main table): moving it cuts the node off;
* is the way to a Kubernetes API server address named in the node settings (``apiServers``,
  checked with the kernel's own route lookup): the kubelet would lose the control plane. The
  addresses come from the node's admin because nothing a plugin is given names them reliably:
  ``KUBERNETES_SERVICE_HOST`` is the service VIP inside pods, not set for CNI plugins at all;
* is a port of a bond, bridge or team (``IFLA_MASTER``), or is a bond or bridge itself (it
  carries other interfaces' traffic);
* is an SR-IOV PF while one of its VFs is attached to a pod, bound to a userspace driver (a VM
  or DPDK uses it) or has its netdev in another namespace; or is a VF whose PF is in a pod;
* is excluded by the node's ``deny``/``allow`` lists (PCI address, driver, vendor:device,
  netdev name), see node_settings.py.

DEL, CHECK and GC never consult any of this: a device that is in a pod must always come back.
"""

from __future__ import annotations

from hostdev.cni.errors import DEVICE_PROTECTED, CniError
from hostdev.cni.node_settings import DeviceRules, NodeSettings
from hostdev.errors import NetlinkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hostdev import Handle, Link
    from hostdev.cni.state import StateStore, StoredRecord
    from hostdev.discover import PciFunction

RT_TABLE_MAIN = 254
MASTER_KINDS = frozenset({"bridge", "bond", "team", "openvswitch"})


def refuse_if_protected(
    link: Link, pci_address: str | None, host: Handle, node: NodeSettings, store: StateStore, sysfs_root: str = "/sys"
) -> None:
    """CniError(DEVICE_PROTECTED) naming every reason the node keeps ``link``; None if it may go."""
    function = _pci_function(pci_address, sysfs_root)
    links = host.links()  # one dump for the topology and SR-IOV checks (it lists every link)
    reasons = _policy_reasons(link, function, node)
    reasons += _topology_reasons(link, links)
    reasons += _route_reasons(link, host, node)
    if function is not None and (function.sriov_numvfs or function.pf_address is not None):
        reasons += _sriov_reasons(function, links, store, sysfs_root)
    if reasons:
        name = f"{link.name} ({pci_address})" if pci_address else link.name
        raise CniError(DEVICE_PROTECTED, f"device {name} is kept by the node", "; ".join(reasons))


def _pci_function(pci_address: str | None, sysfs_root: str) -> PciFunction | None:
    if pci_address is None:
        return None
    from hostdev import discover

    try:
        return discover.pci_function(pci_address, sysfs_root)
    except discover.DiscoveryError:
        return None


# --- the node's lists ---------------------------------------------------------------------------


def _names(link: Link, function: PciFunction | None) -> dict[str, str]:
    """What the lists can name this device by: kind -> value."""
    names = {"netdev": link.name}
    if function is not None:
        names["pci"] = function.address.lower()
        if function.driver:
            names["driver"] = function.driver
        if function.vendor_id is not None and function.device_id is not None:
            names["vendorDevice"] = f"{function.vendor_id:04x}:{function.device_id:04x}"
    return names


def _matches(rules: DeviceRules, names: dict[str, str]) -> list[str]:
    entries = {"pci": rules.pci, "driver": rules.driver, "vendorDevice": rules.vendor_device, "netdev": rules.netdev}
    return [f"{kind} {names[kind]}" for kind, listed in entries.items() if kind in names and names[kind] in listed]


def _policy_reasons(link: Link, function: PciFunction | None, node: NodeSettings) -> list[str]:
    names = _names(link, function)
    reasons = [f"{hit} is on the node's deny list ({node.path})" for hit in _matches(node.deny, names)]
    if node.allow is not None and not _matches(node.allow, names):
        shown = ", ".join(f"{kind} {value}" for kind, value in names.items())
        reasons.append(f"it is on none of the node's allow list entries ({node.path}): {shown}")
    return reasons


# --- what the node's networking hangs on ----------------------------------------------------------


def _topology_reasons(link: Link, links: list[Link]) -> list[str]:
    reasons = []
    if link.master is not None:
        master = next((l.name for l in links if l.index == link.master), f"ifindex {link.master}")
        reasons.append(f"it is a port of {master} (IFLA_MASTER)")
    ports = [l.name for l in links if l.master == link.index]
    if link.kind in MASTER_KINDS or ports:
        what = link.kind or "master"
        reasons.append(f"it is a {what} itself" + (f" with ports {', '.join(ports)}" if ports else ""))
    return reasons


def _route_reasons(link: Link, host: Handle, node: NodeSettings) -> list[str]:
    reasons = []
    for route in host.routes(link.index, table=RT_TABLE_MAIN):
        if route.dst is None and route.oif == link.index:
            family = "IPv6" if route.family == 10 else "IPv4"
            via = f" via {route.gateway}" if route.gateway else ""
            reasons.append(f"it carries the node's {family} default route{via}")
    for address in node.api_servers:
        try:
            route = host.route_to(address)
        except NetlinkError:
            continue  # unreachable from here: not through this NIC either
        if route.oif == link.index:
            reasons.append(f"the node reaches its API server {address} through it")
    return reasons


# --- SR-IOV ---------------------------------------------------------------------------------------


def _sriov_reasons(function: PciFunction, links: list[Link], store: StateStore, sysfs_root: str) -> list[str]:
    """Only for a PF with VFs or a VF: a function that is neither has nothing to check here."""
    on_host = {l.name for l in links}
    holders = store.by_device()  # one read of the store for every VF, not one per VF
    reasons = []
    if function.sriov_numvfs:
        for slot in function.vfs:
            why = _in_use(slot.address, on_host, holders, sysfs_root)
            if why:
                reasons.append(f"it is an SR-IOV PF and its VF {slot.address} {why}")
    if function.pf_address is not None:
        why = _in_use(function.pf_address, on_host, holders, sysfs_root)
        if why:
            reasons.append(f"its PF {function.pf_address} {why}")
    return reasons


def _in_use(address: str, on_host: set[str], holders: dict[str, list[StoredRecord]], sysfs_root: str) -> str | None:
    """Why the function at ``address`` is in someone's hands, or None."""
    held = holders.get(address)
    if held:
        return f"is attached to container {held[0].key.container_id}"
    other = _pci_function(address, sysfs_root)
    if other is None or other.driver is None:
        return None
    if other.userspace_driver:
        return f"is bound to {other.driver} (in use by a VM or DPDK)"
    if not other.netdevs or not set(other.netdevs) <= on_host:
        return "has its netdev in another network namespace"
    return None
