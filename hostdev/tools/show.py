"""``hostdev show``: the node's NICs, where each one is, and which attachment holds it.

Sources, each for what only it knows: sysfs for PCI functions (PF/VF, driver, netdev names while
on the host), netlink for live link state in the host netns, the plugin's state directory for
devices that are in pods (sysfs and the host's netlink cannot see those) — and netlink inside
each recorded pod netns for their live state there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hostdev import Link, discover
from hostdev.cni.state import DEFAULT_STATE_DIR


@dataclass
class NicRow:
    pci: str | None
    function: str  # "PF", "VF <n> of <pf>", or "-" for netdevs without a PCI function
    driver: str | None
    netdev: str | None
    netns: str  # "host", the pod's netns path, "pod (netns gone)", or "-" (userspace driver)
    state: str  # "up", "down", "-"
    mtu: int | None
    addresses: list[str] = field(default_factory=list)
    rdma: list[str] = field(default_factory=list)
    attachment: str | None = None  # "<container id> <ifname> (<network>)" per the state directory
    phase: str | None = None
    # per-interface sysctls and neighbour-table parameters that differ from the defaults of the
    # netns the NIC is in (net.ipv4.conf.<if>.rp_filter: "2", …): what an admin set on it
    settings: dict[str, str] = field(default_factory=dict)


def collect(sysfs_root: str = "/sys", state_dir: str = DEFAULT_STATE_DIR) -> dict[str, Any]:
    from hostdev.handle import Handle

    with Handle() as host:
        links = {link.name: link for link in host.links()}
        rows = [_row_for_function(bdf, sysfs_root, links, host) for bdf in discover.network_functions(sysfs_root)]
        _merge_attachments(rows, state_dir)
    return {"rdma_netns_mode": _rdma_mode(), "nics": [asdict(r) for r in rows]}


def _row_for_function(bdf: str, sysfs_root: str, links: dict[str, Link], host: Any) -> NicRow:
    fn = discover.pci_function(bdf, sysfs_root)
    kind = f"VF {fn.vf_index} of {fn.pf_address}" if fn.pf_address else "PF"
    netdev = fn.netdevs[0] if fn.netdevs else None
    row = NicRow(bdf, kind, fn.driver, netdev, "-" if fn.userspace_driver else "host", "-", None, rdma=list(fn.rdma_devices))
    link = links.get(netdev) if netdev else None
    if link is not None:
        _fill_from_link(row, link, host)
    elif not fn.userspace_driver:
        row.netns = "not in host netns"
    return row


def _fill_from_link(row: NicRow, link: Link, handle: Any) -> None:
    row.netdev = link.name
    row.state = "up" if link.up else "down"
    row.mtu = link.mtu
    from hostdev.snapshot import is_restorable_address

    row.addresses = [a.cidr for a in handle.addresses(link.index) if is_restorable_address(a)]
    from hostdev.ifstate import non_default_settings

    row.settings = non_default_settings(handle, link)


def _merge_attachments(rows: list[NicRow], state_dir: str) -> None:
    from hostdev.cni.record import AttachmentRecord
    from hostdev.cni.state import StateError, StateStore

    try:
        scan = StateStore(state_dir).scan()
    except StateError:
        return
    by_pci = {r.pci: r for r in rows if r.pci}
    for stored in scan.records:
        try:
            record = AttachmentRecord.from_dict(stored.record)
        except ValueError:
            continue
        ident = record.device
        row = by_pci.get(ident.pci_address or ident.id)
        if row is None:
            row = NicRow(ident.pci_address, "-", None, ident.host_name, "-", "-", None)
            rows.append(row)
        key = stored.key
        row.attachment = f"{key.container_id} {key.ifname} ({key.network})"
        row.phase = record.phase
        if row.netns == "host" and record.phase != "prepared":
            continue  # already back on the host (a DEL is pending): the live view above is right
        _fill_from_pod(row, record)


def _fill_from_pod(row: NicRow, record: Any) -> None:
    from hostdev.cni.attachment import open_pod_netns
    from hostdev.handle import Handle

    pod = open_pod_netns(None, record)
    if pod is None:
        row.netns = "pod (netns gone)"
        return
    with pod, Handle(pod) as inside:
        row.netns = record.netns
        link = record.device.find_in_pod(inside.links(), pod_index=record.pod_index, pod_name=record.pod_name)
        if link is not None:
            _fill_from_link(row, link, inside)
        row.rdma = list(record.rdma.moved) or row.rdma


def _rdma_mode() -> str:
    try:
        from hostdev import rdma

        with rdma.RdmaHandle() as handle:
            return str(handle.system().netns_mode)
    except Exception:
        return "none (no RDMA subsystem)"


def format_table(data: dict[str, Any]) -> str:
    header = ("PCI", "FUNCTION", "DRIVER", "NETDEV", "NETNS", "STATE", "MTU", "ADDRESSES", "RDMA", "ATTACHMENT")
    rows = [header]
    for nic in data["nics"]:
        rows.append((
            nic["pci"] or "-", nic["function"], nic["driver"] or "-", nic["netdev"] or "-", nic["netns"],
            nic["state"], str(nic["mtu"] or "-"), ",".join(nic["addresses"]) or "-", ",".join(nic["rdma"]) or "-",
            nic["attachment"] or "-",
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join([f"RDMA netns mode: {data['rdma_netns_mode']}", *lines])
