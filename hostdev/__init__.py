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

TYPE_CHECKING = False

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
    "Neighbour": "hostdev._netlink.rtnl_neigh",
    "NeighParms": "hostdev._netlink.rtnl_neigh",
    "InterfaceConf": "hostdev.ifstate",
    "differing_settings": "hostdev.ifstate",
    "missing_neighbours": "hostdev.ifstate",
    "RefusedSetting": "hostdev.sysctl",
    "interface_sysctls": "hostdev.sysctl",
    "set_interface_sysctls": "hostdev.sysctl",
    "LinkSnapshot": "hostdev.snapshot",
    "ApplyReport": "hostdev.snapshot",
    "take_snapshot": "hostdev.snapshot",
    "move_link": "hostdev.snapshot",
    "apply_snapshot": "hostdev.snapshot",
    "apply_interface_conf": "hostdev.snapshot",
    "return_link": "hostdev.snapshot",
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
    "NameTaken": "hostdev.errors",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # explicit re-exports ("import X as X") so mypy --strict users see them
    from hostdev._netlink.rtnl_addr import Address as Address
    from hostdev._netlink.rtnl_link import Link as Link
    from hostdev._netlink.rtnl_neigh import NeighParms as NeighParms
    from hostdev._netlink.rtnl_neigh import Neighbour as Neighbour
    from hostdev._netlink.rtnl_route import Route as Route
    from hostdev.errors import DecodeError as DecodeError
    from hostdev.errors import HostdevError as HostdevError
    from hostdev.errors import LinkNotFound as LinkNotFound
    from hostdev.errors import NameTaken as NameTaken
    from hostdev.errors import NetlinkError as NetlinkError
    from hostdev.errors import NetnsError as NetnsError
    from hostdev.handle import Handle as Handle
    from hostdev.ifstate import InterfaceConf as InterfaceConf
    from hostdev.ifstate import differing_settings as differing_settings
    from hostdev.ifstate import missing_neighbours as missing_neighbours
    from hostdev.netns import NetNS as NetNS
    from hostdev.netns import entered as entered
    from hostdev.netns import new_netns as new_netns
    from hostdev.netns import open_netns as open_netns
    from hostdev.rdma import RdmaHandle as RdmaHandle
    from hostdev.rdma import move_device_back as move_device_back
    from hostdev.rdma import rdma_available as rdma_available
    from hostdev.rdma_errors import RdmaDeviceNotFound as RdmaDeviceNotFound
    from hostdev.rdma_errors import RdmaNetlinkError as RdmaNetlinkError
    from hostdev.rdma_errors import RdmaUnavailable as RdmaUnavailable
    from hostdev.snapshot import ApplyReport as ApplyReport
    from hostdev.snapshot import LinkSnapshot as LinkSnapshot
    from hostdev.snapshot import apply_interface_conf as apply_interface_conf
    from hostdev.snapshot import apply_snapshot as apply_snapshot
    from hostdev.snapshot import move_link as move_link
    from hostdev.snapshot import return_link as return_link
    from hostdev.snapshot import take_snapshot as take_snapshot
    from hostdev.sysctl import RefusedSetting as RefusedSetting
    from hostdev.sysctl import interface_sysctls as interface_sysctls
    from hostdev.sysctl import set_interface_sysctls as set_interface_sysctls


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hostdev' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
