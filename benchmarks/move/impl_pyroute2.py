"""pyroute2 (``IPRoute(netns=NAME)``, what ``NetNS`` wraps since 0.9.1), in process.

Written the way a careful pyroute2 user would: sockets opened once and without multicast
groups (``groups=0``; with the default groups every event of every implementation's run would
queue on these sockets and be parsed on the next request), the link looked up again after each
move, IPv6 addresses added in reverse so the kernel lists them in the original order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmarks.harness.clock import Clock
from benchmarks.move.ops import APPLY, MOVE_BACK, MOVE_IN, RESTORE, SNAPSHOT
from benchmarks.move.standin import StandIn

AF_INET6 = 10
IFF_UP = 0x1
RT_SCOPE_LINK = 253
RT_TABLE_LOCAL = 255
RTPROT_KERNEL = 2
RTPROT_RA = 9
RTN_MULTICAST = 5
RTM_F_CLONED = 0x200
IFA_F_TEMPORARY = 0x01
IFA_F_DADFAILED = 0x08
INFINITY = 0xFFFFFFFF
# The IFA_F_* flags inet6_rtm_newaddr/inet_rtm_newaddr take from a request.
SETTABLE_ADDRESS_FLAGS = 0x02 | 0x04 | 0x10 | 0x100 | 0x200 | 0x400


@dataclass
class Pyroute2Snapshot:
    index: int
    mtu: int
    up: bool
    addresses: list[dict[str, Any]] = field(default_factory=list)  # kwargs of addr("add")
    routes: list[dict[str, Any]] = field(default_factory=list)  # kwargs of route("add"), without oif


def _address_args(msg: Any) -> dict[str, Any] | None:
    family = msg["family"]
    flags = msg.get("IFA_FLAGS") or msg["flags"]
    if family == AF_INET6 and (msg["scope"] == RT_SCOPE_LINK or flags & (IFA_F_TEMPORARY | IFA_F_DADFAILED)):
        return None  # the kernel makes these itself
    cache = msg.get("IFA_CACHEINFO")
    if cache and (cache["ifa_valid"] != INFINITY or cache["ifa_preferred"] != INFINITY):
        raise NotImplementedError("finite address lifetimes are not carried over by this benchmark")
    local, address = msg.get("IFA_LOCAL"), msg.get("IFA_ADDRESS")
    args: dict[str, Any] = {"family": family, "prefixlen": msg["prefixlen"], "address": local or address}
    if local and address and local != address:
        args["local"], args["address"] = local, address
    for attr, key in (("IFA_BROADCAST", "broadcast"), ("IFA_LABEL", "label"), ("IFA_RT_PRIORITY", "metric")):
        value = msg.get(attr)
        if value is not None:
            args[key] = value
    if msg["scope"]:
        args["scope"] = msg["scope"]
    if flags & SETTABLE_ADDRESS_FLAGS:
        args["flags"] = flags & SETTABLE_ADDRESS_FLAGS
    return args


def _route_args(msg: Any) -> dict[str, Any] | None:
    table = msg.get("RTA_TABLE") or msg["table"]
    dst = msg.get("RTA_DST")
    if (
        msg["proto"] in (RTPROT_KERNEL, RTPROT_RA)
        or table == RT_TABLE_LOCAL
        or msg["flags"] & RTM_F_CLONED
        or msg["type"] == RTN_MULTICAST
    ):
        return None
    if msg.get("RTA_MULTIPATH") is not None:
        raise NotImplementedError("multipath routes are not carried over by this benchmark")
    args: dict[str, Any] = {
        "family": msg["family"],
        "dst_len": msg["dst_len"],
        "table": table,
        "proto": msg["proto"],
        "scope": msg["scope"],
        "type": msg["type"],
    }
    if dst is not None:
        args["dst"] = dst
    for attr, key in (("RTA_GATEWAY", "gateway"), ("RTA_PRIORITY", "priority"), ("RTA_PREFSRC", "prefsrc")):
        value = msg.get(attr)
        if value is not None:
            args[key] = value
    return args


class Pyroute2Impl:
    name = "pyroute2"

    def __init__(self, nic: StandIn) -> None:
        from pyroute2 import IPRoute  # type: ignore[import-untyped]

        self.ifname = nic.spec.ifname
        self.host_name, self.pod_name = nic.host_name, nic.pod_name
        self.host = IPRoute(netns=nic.host_name, flags=0, groups=0)
        try:
            self.pod = IPRoute(netns=nic.pod_name, flags=0, groups=0)
        except BaseException:
            self.host.close()
            raise

    def close(self) -> None:
        self.host.close()
        self.pod.close()

    def run(self, clock: Clock) -> None:
        host, pod, ifname = self.host, self.pod, self.ifname
        snap = self.snapshot(host)
        clock.lap(SNAPSHOT)
        host.link("set", index=snap.index, net_ns_fd=self.pod_name)
        (link,) = pod.link("get", ifname=ifname)
        clock.lap(MOVE_IN)
        self.apply(pod, link, snap)
        clock.lap(APPLY)
        pod.link("set", index=link["index"], net_ns_fd=self.host_name)
        (link,) = host.link("get", ifname=ifname)
        clock.lap(MOVE_BACK)
        self.apply(host, link, snap)
        clock.lap(RESTORE)

    def snapshot(self, ipr: Any) -> Pyroute2Snapshot:
        (link,) = ipr.link("get", ifname=self.ifname)
        index = link["index"]
        snap = Pyroute2Snapshot(index, link.get("IFLA_MTU"), bool(link["flags"] & IFF_UP))
        for msg in ipr.addr("dump", index=index):
            args = _address_args(msg)
            if args is not None:
                snap.addresses.append(args)
        for msg in ipr.route("dump", oif=index):
            args = _route_args(msg)
            if args is not None:
                snap.routes.append(args)
        return snap

    @staticmethod
    def apply(ipr: Any, link: Any, snap: Pyroute2Snapshot) -> None:
        index = link["index"]
        if snap.mtu and link.get("IFLA_MTU") != snap.mtu:
            ipr.link("set", index=index, mtu=snap.mtu)
        v4 = [a for a in snap.addresses if a["family"] != AF_INET6]
        v6 = [a for a in snap.addresses if a["family"] == AF_INET6]
        for args in v4 + v6[::-1]:  # the kernel puts a new IPv6 address first: add them in reverse
            ipr.addr("add", index=index, **args)
        if snap.up and not link["flags"] & IFF_UP:
            ipr.link("set", index=index, state="up")
        for args in snap.routes:
            ipr.route("add", oif=index, **args)
