"""hostdev: hand a pod a whole physical NIC.

The public API, imported lazily so that ``import hostdev`` costs nothing the caller does not use
(the CNI binary starts on every pod event)::

    from hostdev import Handle, NetNS, take_snapshot, move_link, apply_snapshot

    with NetNS.from_name("pod") as pod, Handle() as host, Handle(pod) as inside:
        snap = take_snapshot(host, "eth1")
        link = move_link(host, inside, host.link(name="eth1"))
        apply_snapshot(inside, link, snap)
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs the CNI binary start-up time

__version__ = "0.1.0"

_EXPORTS = {
    "Handle": "hostdev.handle",
    "NetNS": "hostdev.netns",
    "open_netns": "hostdev.netns",
    "entered": "hostdev.netns",
    "new_netns": "hostdev.netns",
    "Link": "hostdev._netlink.rtnl_link",
    "Address": "hostdev._netlink.rtnl_addr",
    "Route": "hostdev._netlink.rtnl_route",
    "LinkSnapshot": "hostdev.snapshot",
    "ApplyReport": "hostdev.snapshot",
    "take_snapshot": "hostdev.snapshot",
    "move_link": "hostdev.snapshot",
    "apply_snapshot": "hostdev.snapshot",
    "RdmaHandle": "hostdev.rdma",
    "rdma_available": "hostdev.rdma",
    "move_device_back": "hostdev.rdma",
    "RdmaUnavailable": "hostdev.rdma_errors",
    "RdmaDeviceNotFound": "hostdev.rdma_errors",
    "RdmaNetlinkError": "hostdev.rdma_errors",
    "HostdevError": "hostdev.errors",
    "NetlinkError": "hostdev.errors",
    "DecodeError": "hostdev.errors",
    "LinkNotFound": "hostdev.errors",
    "NetnsError": "hostdev.errors",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from hostdev._netlink.rtnl_addr import Address
    from hostdev._netlink.rtnl_link import Link
    from hostdev._netlink.rtnl_route import Route
    from hostdev.errors import DecodeError, HostdevError, LinkNotFound, NetlinkError, NetnsError
    from hostdev.handle import Handle
    from hostdev.netns import NetNS, entered, new_netns, open_netns
    from hostdev.rdma import RdmaHandle, move_device_back, rdma_available
    from hostdev.rdma_errors import RdmaDeviceNotFound, RdmaNetlinkError, RdmaUnavailable
    from hostdev.snapshot import ApplyReport, LinkSnapshot, apply_snapshot, move_link, take_snapshot


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hostdev' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
