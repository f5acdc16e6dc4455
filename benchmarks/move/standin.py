"""The stand-in NIC: a veth in a throwaway "host" namespace, configured like a real uplink.

The library under test never builds its own fixture: ``ip`` does. The fixture check after every
run compares hostdev's snapshot of the link with the baseline (fast), and at the start and end an
independent ``ip -j -d`` view of link, addresses and routes (slow, catches what a snapshot might
not record).

DAD is off in both namespaces (``accept_dad=0``; a moved device takes the target's defaults) so
that IPv6 addresses do not sit in a timer-driven tentative state. Even so, the kernel finishes
an address's DAD-less setup and the link's operstate on workqueues, so checks poll the kernel
(bounded) until it has settled rather than compare a half-finished state.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from hostdev._record import fields
from typing import Any

from benchmarks.harness.netns import ThrowawayNamespaces, ip
# Submodules rather than the lazy top-level ``hostdev`` names: mypy --strict does not see those as
# exported (its TYPE_CHECKING imports lack ``as`` and ``__all__`` is computed).
from hostdev.handle import Handle
from hostdev.netns import NetNS
from hostdev.snapshot import LinkSnapshot, take_snapshot

SETTLE_TIMEOUT = 3.0


class RestoreMismatch(AssertionError):
    """The stand-in is not exactly as it was before the run."""


@dataclass(frozen=True, slots=True)
class StandInSpec:
    ifname: str = "nic0"
    peer: str = "nic0-peer"
    mtu: int = 9000
    # ``ip addr add`` arguments, one address each: IPv4 /24 with broadcast, IPv4 /31, IPv6 globals.
    addresses: tuple[tuple[str, ...], ...] = (
        ("10.91.0.2/24", "brd", "+"),
        ("10.91.1.0/31",),
        ("2001:db8:91::2/64",),
        ("2001:db8:91:1::2/64",),
    )
    # ``ip route add`` arguments (``dev`` is appended): one IPv4 and one IPv6 route via a gateway.
    routes: tuple[tuple[str, ...], ...] = (
        ("198.51.100.0/24", "via", "10.91.0.1", "metric", "100"),
        ("2001:db8:ff::/48", "via", "2001:db8:91::1"),
    )

    def describe(self) -> str:
        addrs = ", ".join(" ".join(a) for a in self.addresses)
        routes = "; ".join(" ".join(r) for r in self.routes)
        return f"veth `{self.ifname}` (peer `{self.peer}` up), MTU {self.mtu}, up; addresses {addrs}; routes {routes}"


class StandIn:
    """``with StandIn() as nic:`` a configured stand-in in ``nic.host_name``, an empty ``nic.pod_name``."""

    def __init__(self, spec: StandInSpec | None = None) -> None:
        self.spec = spec or StandInSpec()
        self._namespaces = ThrowawayNamespaces(["host", "pod"])
        self.host_name = self._namespaces.name("host")
        self.pod_name = self._namespaces.name("pod")
        self._opened: list[NetNS | Handle] = []

    def __enter__(self) -> StandIn:
        self._namespaces.__enter__()
        try:
            self._build()
            self.host_ns: NetNS = self._keep(NetNS.from_name(self.host_name))
            self.pod_ns: NetNS = self._keep(NetNS.from_name(self.pod_name))
            self._host: Handle = self._keep(Handle(self.host_ns))
            self._pod: Handle = self._keep(Handle(self.pod_ns))
            self._settle_independent(None)
            self.baseline: LinkSnapshot = take_snapshot(self._host, self.spec.ifname)
            self.baseline_ip_view = self.ip_view()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        while self._opened:
            self._opened.pop().close()
        self._namespaces.remove()

    def _keep(self, thing: Any) -> Any:
        self._opened.append(thing)
        return thing

    def _build(self) -> None:
        spec, host = self.spec, self.host_name
        for name in (self.host_name, self.pod_name):
            ip("netns", "exec", name, "sysctl", "-qw",
               "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")  # fmt: skip
        ip("-n", host, "link", "add", spec.ifname, "mtu", str(spec.mtu), "type", "veth",
           "peer", "name", spec.peer, "mtu", str(spec.mtu))  # fmt: skip
        ip("-n", host, "link", "set", spec.peer, "up")
        for args in spec.addresses:
            ip("-n", host, "addr", "add", *args, "dev", spec.ifname)
        ip("-n", host, "link", "set", spec.ifname, "up")
        for args in spec.routes:
            ip("-n", host, "route", "add", *args, "dev", spec.ifname)

    # --- checks ---
    def check(self) -> None:
        """After every run: the link is back in the host exactly as recorded and the pod is empty."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            problem = self._difference()
            if problem is None:
                return
            if time.monotonic() > deadline:
                raise RestoreMismatch(problem)
            time.sleep(0.0005)

    def _difference(self) -> str | None:
        pod_links = [link.name for link in self._pod.links()]
        if pod_links != ["lo"]:
            return f"pod namespace still has links {pod_links}"
        now = take_snapshot(self._host, self.spec.ifname)
        if now == self.baseline:
            return None
        changed = [
            f"{name}: {getattr(self.baseline, name)!r} -> {getattr(now, name)!r}"
            for name in fields(LinkSnapshot)
            if getattr(now, name) != getattr(self.baseline, name)
        ]
        return "stand-in not restored: " + "; ".join(changed)

    def ip_view(self) -> dict[str, Any]:
        """What ``ip -j -d`` says about the link, its addresses and routes, and the pod's links."""
        host, ifname = self.host_name, self.spec.ifname
        return {
            "addr": json.loads(ip("-n", host, "-j", "-d", "addr", "show", "dev", ifname)),
            "routes": json.loads(ip("-n", host, "-j", "route", "show", "table", "all", "dev", ifname)),
            "pod_links": [link["ifname"] for link in json.loads(ip("-n", self.pod_name, "-j", "link", "show"))],
        }

    def _settle_independent(self, expected: dict[str, Any] | None) -> dict[str, Any]:
        """Poll until the link reports operstate UP (and, if given, equals ``expected``)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            view = self.ip_view()
            up = view["addr"] and view["addr"][0].get("operstate") == "UP"
            if up and (expected is None or view == expected):
                return view
            if time.monotonic() > deadline:
                return view
            time.sleep(0.01)

    def check_independent(self) -> None:
        """At the end: ``ip``'s own detailed view equals the one taken before the first run."""
        view = self._settle_independent(self.baseline_ip_view)
        if view != self.baseline_ip_view:
            raise RestoreMismatch(
                "ip -j -d view of the stand-in changed:\nbefore: "
                + json.dumps(self.baseline_ip_view, sort_keys=True)
                + "\nafter:  "
                + json.dumps(view, sort_keys=True)
            )

    def checker(self) -> Handle:
        """The host-side handle the checks use (for callers that need to look at the link)."""
        return self._host
