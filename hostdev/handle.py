"""``Handle``: links, addresses and routes of one network namespace over our own rtnetlink.

A handle owns one rtnetlink socket created *inside* its namespace, so its calls never switch
namespaces afterwards. Each method names the ``ip`` command it equals.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterable

from hostdev._netlink import rtnl_addr, rtnl_link, rtnl_neigh, rtnl_route
from hostdev._netlink.rtnl_tables import (
    AF_INET,
    AF_INET6,
    AF_UNSPEC,
    DELADDR,
    DELLINKPROP,
    DELNEIGH,
    DELROUTE,
    GETADDR,
    GETLINK,
    GETNEIGH,
    GETNEIGHTBL,
    GETROUTE,
    NEWADDR,
    NEWLINK,
    NEWLINKPROP,
    NEWNEIGH,
    NEWROUTE,
    RTMGRP_LINK,
    SETNEIGHTBL,
)
from hostdev._netlink.rtnl_addr import Address
from hostdev._netlink.rtnl_link import Link
from hostdev._netlink.rtnl_neigh import NeighParms, Neighbour
from hostdev._netlink.rtnl_route import Route
from hostdev._netlink.socket import NetlinkSocket, SocketOwner
from hostdev._netlink.wire import NETLINK_ROUTE, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE
from hostdev.errors import LinkNotFound, NetlinkError
from hostdev.netns import NetNS, socket_in

if TYPE_CHECKING:
    from hostdev._netlink.attrs import Operation
    from hostdev._netlink.socket import Decoder, T

_ENODEV = 19
_ENOENT = 2


def _create(replace: bool) -> int:
    """``ip X add`` (EEXIST if present) or ``ip X replace``."""
    return NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)


class Handle(SocketOwner):
    """rtnetlink in one namespace: ``Handle()`` is the caller's, ``Handle(netns)`` another's."""

    def __init__(self, netns: NetNS | None = None) -> None:
        self.netns = netns
        self.sock: NetlinkSocket = socket_in(netns, NETLINK_ROUTE)

    def _do(self, op: Operation, body: bytes, detail: str, *, flags: int = 0, decode: Decoder[T] | None = None) -> list[T]:
        return self.sock.request(op.type, body, op.request(detail), flags=flags, decode=decode)

    def _dump(self, op: Operation, body: bytes, detail: str, decode: Decoder[T]) -> list[T]:
        return self.sock.dump(op.type, body, op.request(detail), decode)

    # --- links ---
    def links(self) -> list[Link]:
        """``ip link show``"""
        return self._dump(GETLINK, rtnl_link.dump_links_body(), "dump", rtnl_link.decode_link)

    def link(self, *, name: str | None = None, index: int | None = None, mac: str | None = None, altname: str | None = None) -> Link:
        """``ip link show dev NAME`` (or by ifindex, MAC or alternative name); LinkNotFound if absent."""
        if mac is not None:
            wanted = rtnl_link.format_mac(rtnl_link.parse_mac(mac))
            for link in self.links():
                if link.mac == wanted or link.perm_mac == wanted:
                    return link
            raise LinkNotFound(f"no link with MAC {wanted}")
        what = f"index {index}" if index else f"name {name!r}" if name is not None else f"altname {altname!r}"
        if not index and name is None and altname is None:
            raise ValueError("link(): give name, index, mac or altname")
        body = rtnl_link.get_link_body(index=index or 0, name=name, altname=altname)
        try:
            found = self._do(GETLINK, body, what, decode=rtnl_link.decode_link)
        except NetlinkError as exc:
            if exc.errno == _ENODEV:
                raise LinkNotFound(f"no link with {what}") from exc
            raise
        if not found:
            raise LinkNotFound(f"no link with {what}")
        return found[0]

    def find_link(self, *, name: str | None = None, index: int | None = None) -> Link | None:
        try:
            return self.link(name=name, index=index)
        except LinkNotFound:
            return None

    def wait_for_link(self, match: Callable[[list[Link]], Link | None], timeout_s: float) -> Link | None:
        """``ip monitor link`` until ``match`` picks a link out of :meth:`links`; None if it has
        not within ``timeout_s``.

        For a link that arrives by itself, e.g. a physical NIC the kernel hands back when its
        netns dies (``cleanup_net`` runs asynchronously: there is nothing to wait *on* but the
        arrival). It listens for link events before the first look, so no arrival slips in
        between, and looks again after each event.
        """
        import time

        deadline = time.monotonic() + timeout_s
        with socket_in(self.netns, NETLINK_ROUTE, RTMGRP_LINK) as events:
            while True:
                link = match(self.links())
                remaining = deadline - time.monotonic()
                if link is not None or remaining <= 0:
                    return link
                events.wait_for_event(remaining)

    def set_link(
        self,
        index: int,
        *,
        name: str | None = None,
        mtu: int | None = None,
        mac: str | None = None,
        alias: str | None = None,
        up: bool | None = None,
    ) -> None:
        """``ip link set dev X [name N] [mtu M] [address A] [alias S] [up|down]``"""
        body = rtnl_link.set_link_body(index, name=name, mtu=mtu, mac=mac, alias=alias, up=up)
        self._do(NEWLINK, body, f"ifindex={index}")

    def add_altname(self, index: int, altname: str) -> None:
        """``ip link property add dev X altname NAME`` (EEXIST when any link holds that name)."""
        self._do(NEWLINKPROP, rtnl_link.altname_body(index, altname), f"ifindex={index} altname {altname}", flags=_create(False))

    def delete_altname(self, index: int, altname: str) -> None:
        """``ip link property del dev X altname NAME``"""
        self._do(DELLINKPROP, rtnl_link.altname_body(index, altname), f"ifindex={index} altname {altname}")

    def move_link(self, index: int, target: NetNS, *, name: str | None = None) -> None:
        """``ip link set dev X netns NS [name N]``: the move and the optional rename are one request.

        The link leaves this namespace down and without addresses or routes; its ifindex may
        change in the target, so look it up there afterwards (see :func:`hostdev.move_link`).
        """
        body = rtnl_link.set_link_body(index, netns_fd=target.fd, name=name)
        self._do(NEWLINK, body, f"ifindex={index} netns={target.path}")

    # --- addresses ---
    def addresses(self, index: int, family: int = AF_UNSPEC) -> list[Address]:
        """``ip addr show dev X``, filtered by the kernel to that link, in the kernel's order."""
        body = rtnl_addr.dump_addresses_body(family, index)
        return self._dump(GETADDR, body, f"ifindex={index}", rtnl_addr.decode_address)

    def add_address(self, index: int, addr: Address, *, replace: bool = False) -> None:
        """``ip addr add`` (EEXIST if present) or, with ``replace``, ``ip addr replace``."""
        self._do(NEWADDR, rtnl_addr.address_body(addr, index), f"{addr.cidr} ifindex={index}", flags=_create(replace))

    def delete_address(self, index: int, addr: Address) -> None:
        """``ip addr del ADDR/LEN dev X``"""
        self._do(DELADDR, rtnl_addr.address_body(addr, index, for_delete=True), f"{addr.cidr} ifindex={index}")

    # --- routes ---
    def routes(
        self, index: int, families: Iterable[int] = (AF_INET, AF_INET6), table: int | None = None, *, user_only: bool = False
    ) -> list[Route]:
        """``ip route show table all dev X`` (IPv4 then IPv6), filtered in the kernel; with
        ``user_only``, without the routes the kernel makes itself (see ``is_kernel_made``)."""
        found: list[Route] = []
        decode = rtnl_route.decode_user_route if user_only else rtnl_route.decode_route
        for family in families:
            body = rtnl_route.dump_routes_body(family, oif=index, table=table)
            try:
                found += [r for r in self._dump(GETROUTE, body, f"ifindex={index}", decode) if r]
            except NetlinkError as exc:
                # A family-specific dump of a table the family never created fails with ENOENT
                # ("FIB table does not exist"): that table simply holds none of our routes.
                if table is None or exc.errno != _ENOENT:
                    raise
        return found

    def route_to(self, address: str) -> Route:
        """``ip route get ADDRESS``: the route this namespace takes to it (``oif`` names the
        link). NetlinkError (ENETUNREACH, EHOSTUNREACH…) when there is none."""
        family = AF_INET6 if ":" in address else AF_INET
        body = rtnl_route.get_route_body(family, address)
        (route,) = self._do(GETROUTE, body, f"to {address}", decode=rtnl_route.decode_route)
        return route

    def add_route(self, index: int, route: Route, *, replace: bool = False) -> None:
        """``ip route add|replace ... dev X``"""
        self._do(NEWROUTE, rtnl_route.route_body(route, index), f"{route.destination} ifindex={index}", flags=_create(replace))

    def delete_route(self, index: int, route: Route) -> None:
        """``ip route del ... dev X``"""
        self._do(DELROUTE, rtnl_route.route_body(route, index, for_delete=True), f"{route.destination} ifindex={index}")

    # --- neighbours ---
    def neighbours(self, index: int, family: int = AF_UNSPEC, *, proxy: bool = False) -> list[Neighbour]:
        """``ip neigh show dev X`` (with ``proxy``: ``ip neigh show proxy dev X``), filtered in
        the kernel to that link; every state, not only permanent entries."""
        body = rtnl_neigh.dump_neighbours_body(family, index, proxy=proxy)
        return self._dump(GETNEIGH, body, f"ifindex={index}{' proxy' if proxy else ''}", rtnl_neigh.decode_neighbour)

    def add_neighbour(self, index: int, neigh: Neighbour, *, replace: bool = False) -> None:
        """``ip neigh add`` (EEXIST if present) or, with ``replace``, ``ip neigh replace``:
        ``[proxy] ADDR [lladdr L] nud STATE [router] [protocol P] dev X``."""
        self._do(NEWNEIGH, rtnl_neigh.neighbour_body(neigh, index), f"{neigh.address} ifindex={index}", flags=_create(replace))

    def delete_neighbour(self, index: int, neigh: Neighbour) -> None:
        """``ip neigh del [proxy] ADDR dev X``"""
        self._do(DELNEIGH, rtnl_neigh.neighbour_body(neigh, index, for_delete=True), f"{neigh.address} ifindex={index}")

    # --- neighbour-table parameters ---
    def neigh_parms(self, index: int) -> list[NeighParms]:
        """``ip ntable show dev X``: the link's parameters in each neighbour table (ARP, ND);
        ``index`` 0: the tables' own (default) parameters."""
        body = rtnl_neigh.dump_neigh_tables_body(AF_UNSPEC)
        found = self._dump(GETNEIGHTBL, body, f"ifindex={index}", lambda buf, msg: rtnl_neigh.decode_neigh_parms(buf, msg, index))
        return [p for p in found if p is not None]

    def set_neigh_parms(self, index: int, family: int, values: Iterable[tuple[str, int]]) -> None:
        """``ip ntable change name arp_cache|ndisc_cache dev X PARM VALUE …`` (names as in
        :data:`hostdev._netlink.rtnl_neigh.PARM_NAMES`, times in ms)."""
        body = rtnl_neigh.set_neigh_parms_body(family, index, values)
        self._do(SETNEIGHTBL, body, f"family={family} ifindex={index}", flags=NLM_F_REPLACE)
