"""From ``ip -j`` output to the ``ip`` commands that give a moved link its configuration back. Pure.

Covers what a configured uplink has (addresses with broadcast, peer, label, scope, flags,
metric; routes with gateway, table, protocol, scope, metric, source, preference, onlink, route
metrics) and refuses what it does not model (finite lifetimes, multipath, nexthop objects),
so the benchmark can never silently restore less than the other implementations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ADDRESS_FLAGS = ("nodad", "noprefixroute", "home", "mngtmpaddr", "autojoin", "optimistic")
ROUTE_KEYS = {"type", "dst", "gateway", "dev", "table", "protocol", "scope", "metric", "prefsrc", "flags", "pref", "metrics"}
FOREVER = 4294967295


class Unsupported(ValueError):
    """Configuration this translation does not carry over."""


@dataclass
class IpPlan:
    ifname: str
    mtu: int | None
    up: bool
    addresses: list[list[str]] = field(default_factory=list)  # ``ip`` argv tails: addr add ...
    routes: list[list[str]] = field(default_factory=list)  # route add ...

    def apply_commands(self) -> list[list[str]]:
        """Addresses, then MTU and up state in one request, then routes (they need the link up)."""
        link = ["link", "set", "dev", self.ifname]
        if self.mtu:
            link += ["mtu", str(self.mtu)]
        link.append("up" if self.up else "down")
        return [*self.addresses, link, *self.routes]


def restorable_address(info: dict[str, Any]) -> bool:
    if info.get("family") != "inet6":
        return True
    made_by_kernel = info.get("scope") == "link" or info.get("protocol") in ("kernel_ll", "kernel_ra")
    return not (made_by_kernel or info.get("temporary") or info.get("dadfailed"))


def address_command(info: dict[str, Any], ifname: str) -> list[str]:
    if info.get("valid_life_time", FOREVER) != FOREVER or info.get("preferred_life_time", FOREVER) != FOREVER:
        raise Unsupported(f"finite lifetime on {info.get('local')}")
    local, prefixlen, peer = info["local"], info["prefixlen"], info.get("address")
    argv = ["addr", "add"]
    if peer and peer != local:
        argv += [local, "peer", f"{peer}/{prefixlen}"]
    else:
        argv.append(f"{local}/{prefixlen}")
    if info.get("broadcast"):
        argv += ["broadcast", info["broadcast"]]
    if info.get("label") and info["label"] != ifname:
        argv += ["label", info["label"]]
    if info.get("scope", "global") != "global":
        argv += ["scope", str(info["scope"])]
    argv += [flag for flag in ADDRESS_FLAGS if info.get(flag)]
    if info.get("metric") is not None:
        argv += ["metric", str(info["metric"])]
    return argv + ["dev", ifname]


def restorable_route(route: dict[str, Any]) -> bool:
    dst = str(route.get("dst", ""))
    return not (
        route.get("protocol") in ("kernel", "ra")
        or route.get("table") == "local"
        or route.get("type") == "multicast"
        or "cache" in route.get("flags", [])
        or dst.lower().startswith("ff")
    )


def route_command(route: dict[str, Any], ifname: str) -> list[str]:
    unknown = set(route) - ROUTE_KEYS
    if unknown:
        raise Unsupported(f"route {route.get('dst')} has {sorted(unknown)}")
    dst = route["dst"]
    if dst == "default" and "gateway" not in route:
        raise Unsupported("a default route without gateway does not say its family in `ip -j route` output")
    argv = ["route", "add"]
    if route.get("type", "unicast") != "unicast":
        argv.append(route["type"])
    argv.append(dst)
    if "gateway" in route:
        argv += ["via", route["gateway"]]
    argv += ["dev", ifname]
    if route.get("table", "main") != "main":
        argv += ["table", str(route["table"])]
    for key, word in (("protocol", "proto"), ("scope", "scope"), ("metric", "metric"), ("prefsrc", "src"), ("pref", "pref")):
        if key in route:
            argv += [word, str(route[key])]
    if "onlink" in route.get("flags", []):
        argv.append("onlink")
    for metric in route.get("metrics", []):
        for name, value in metric.items():
            argv += [name, str(value)]
    return argv


def plan_from_ip_json(addr_show: list[dict[str, Any]], route_show: list[dict[str, Any]], ifname: str) -> IpPlan:
    """``addr_show``: ``ip -j addr show dev IF``; ``route_show``: ``ip -j route show table all dev IF``."""
    if len(addr_show) != 1 or addr_show[0].get("ifname") != ifname:
        raise ValueError(f"`ip -j addr show dev {ifname}` did not describe exactly that link")
    link = addr_show[0]
    plan = IpPlan(ifname, link.get("mtu"), "UP" in link.get("flags", []))
    infos = [info for info in link.get("addr_info", []) if restorable_address(info)]
    v4 = [info for info in infos if info.get("family") != "inet6"]
    v6 = [info for info in infos if info.get("family") == "inet6"]
    # The kernel lists IPv4 addresses in the order added and puts a new IPv6 address first.
    plan.addresses = [address_command(info, ifname) for info in v4 + v6[::-1]]
    plan.routes = [route_command(route, ifname) for route in route_show if restorable_route(route)]
    return plan


def batch_text(commands: list[list[str]]) -> str:
    """Commands as ``ip -batch`` input; a token with blanks could not survive its line splitting."""
    for argv in commands:
        for token in argv:
            if not token or any(c.isspace() for c in token) or token.startswith("#"):
                raise Unsupported(f"token {token!r} cannot go into an ip -batch line")
    return "".join(" ".join(argv) + "\n" for argv in commands)
