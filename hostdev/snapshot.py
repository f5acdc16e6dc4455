"""Snapshots of a link and how to give a link back exactly what it had.

A netns move takes a link down, strips every address, route and neighbour entry, and rebuilds
its per-interface sysctls and neighbour-table parameters from the target's defaults
(``__dev_change_net_namespace``); the alias, altnames, MAC and MTU survive. So we record what the
kernel will drop, and re-apply it in the new namespace: MTU, MAC and alias first, then the
sysctls and neighbour-table parameters (:mod:`hostdev.ifstate`: before any address, so
``disable_ipv6``/``addr_gen_mode``/``accept_dad`` apply to them), then addresses in their
original order (IPv4 primaries before their secondaries, as the kernel recomputes SECONDARY from
order), then the up state, then routes (a route through a down link is refused), then the
permanent and proxy neighbours.
"""

from __future__ import annotations

import errno
from hostdev._record import field, fields, optional, record, typed
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable

from hostdev._netlink.rtnl_addr import Address
from hostdev._netlink.rtnl_link import IFNAMSIZ, Link
from hostdev._netlink.rtnl_route import Route, is_kernel_made
from hostdev._netlink.rtnl_tables import (
    AF_INET,
    AF_INET6,
    IFA_F_DADFAILED,
    IFA_F_SECONDARY,
    IFA_F_TEMPORARY,
    IFAPROT_KERNEL_LL,
    IFAPROT_KERNEL_RA,
)
from hostdev.errors import NameTaken, NetlinkError
from hostdev.handle import Handle
from hostdev._netlink.rtnl_neigh import Neighbour
from hostdev.ifstate import (
    InterfaceConf,
    apply_conf,
    READY_TIMEOUT_S,
    apply_conf_after_up,
    capture_conf,
    capture_neighbours,
    converge_neighbours,
)
from hostdev.sysctl import RefusedSetting
from hostdev.netns import NetNS


@record
class LinkSnapshot:
    """What a link had: enough to rebuild it in another namespace or back on the host."""

    name: str
    index: int
    mac: str | None
    perm_mac: str | None
    mtu: int | None
    up: bool
    alias: str | None
    altnames: tuple[str, ...]
    addresses: tuple[Address, ...]
    routes: tuple[Route, ...]
    kind: str | None = None
    parent_dev_name: str | None = None
    parent_bus_name: str | None = None
    skipped_routes: tuple[Route, ...] = field(default=())  # multipath: seen, not restorable
    # None: not captured (a record written before they were), so left alone when applied.
    conf: InterfaceConf | None = None
    neighbours: tuple[Neighbour, ...] | None = None  # permanent and proxy entries

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in fields(self):
            value = getattr(self, name)
            if name in ("addresses", "routes", "skipped_routes"):
                value = [_record_to_dict(item) for item in value]
            elif name == "conf":
                value = None if value is None else value.to_dict()
            elif name == "neighbours":
                value = None if value is None else [_record_to_dict(n) for n in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinkSnapshot:
        """Rebuild from :meth:`to_dict` output; ValueError on anything malformed."""
        try:
            return cls(
                name=typed(data["name"], str),
                index=typed(data["index"], int),
                mac=optional(data.get("mac"), str),
                perm_mac=optional(data.get("perm_mac"), str),
                mtu=optional(data.get("mtu"), int),
                up=typed(data["up"], bool),
                alias=optional(data.get("alias"), str),
                altnames=tuple(typed(n, str) for n in data.get("altnames", [])),
                addresses=tuple(_record_from_dict(Address, a) for a in data.get("addresses", [])),
                routes=tuple(_record_from_dict(Route, r) for r in data.get("routes", [])),
                kind=optional(data.get("kind"), str),
                parent_dev_name=optional(data.get("parent_dev_name"), str),
                parent_bus_name=optional(data.get("parent_bus_name"), str),
                skipped_routes=tuple(_record_from_dict(Route, r) for r in data.get("skipped_routes", [])),
                conf=None if data.get("conf") is None else InterfaceConf.from_dict(data["conf"]),
                neighbours=_neighbours_from(data.get("neighbours")),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed link snapshot: {exc}") from None


def _neighbours_from(data: Any) -> tuple[Neighbour, ...] | None:
    if data is None:
        return None
    if not isinstance(data, list):
        raise ValueError("neighbours is not a list")
    neighbours = tuple(_record_from_dict(Neighbour, n) for n in data)
    if any(n.family not in (AF_INET, AF_INET6) or not isinstance(n.address, str) for n in neighbours):
        raise ValueError("malformed neighbour record")
    return neighbours


def _record_to_dict(record: Address | Route | Neighbour) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in fields(record):
        value = getattr(record, name)
        out[name] = [list(v) for v in value] if name == "metrics" else value
    return out


def _record_from_dict(cls: type[Any], data: Any) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"malformed {cls.__name__} record")
    kwargs: dict[str, Any] = {}
    for name in fields(cls):
        if name not in data:
            continue
        value = data[name]
        if name == "metrics":
            value = tuple((int(k), int(v)) for k, v in value)
        elif value is not None and not isinstance(value, (int, str, bool)):
            raise ValueError(f"malformed {cls.__name__}.{name}")
        kwargs[name] = value
    return cls(**kwargs)


# --- what is ours to restore ---
def is_restorable_address(addr: Address) -> bool:
    """False for what the kernel makes by itself and will make again (link-local, SLAAC, privacy)."""
    if addr.family == AF_INET6:
        if addr.proto in (IFAPROT_KERNEL_LL, IFAPROT_KERNEL_RA):
            return False
        if addr.proto is None and addr.address.lower().startswith("fe80:"):
            return False  # kernels before IFA_PROTO: a link-local is the kernel's
        if addr.flags & (IFA_F_TEMPORARY | IFA_F_DADFAILED):
            return False
    return True


def is_restorable_route(route: Route) -> bool:
    """False for routes the kernel derives from addresses and links (it re-creates them)."""
    return not (
        is_kernel_made(route.protocol, route.table, route.flags)
        or (route.family == AF_INET6 and route.dst is not None and route.dst.lower().startswith("ff"))
    )


def _address_key(addr: Address) -> tuple[int, str, int, str | None]:
    return (addr.family, addr.address, addr.prefixlen, addr.peer)


def _route_key(route: Route) -> tuple[object, ...]:
    return (route.family, route.dst, route.dst_len, route.gateway, route.table, route.priority)


# --- the primitives ---
def take_snapshot(handle: Handle, link: Link | str | int, *, interface_state: bool = True) -> LinkSnapshot:
    """Record a link's identity, MTU, state, alias, addresses and routes (``ip -d addr; ip route``),
    its sysctls and neighbour-table parameters (``sysctl net.ipv4.conf.X net.ipv6.conf.X;
    ip ntable show dev X``) and its permanent and proxy neighbours (``ip neigh show dev X``).

    The link is always read afresh (a :class:`Link` passed in stands for its ifindex): a Link
    object is a picture of one moment, and a snapshot must not record a stale MTU or up state.
    With ``interface_state=False`` the sysctls and neighbours are not read (``conf`` and
    ``neighbours`` are None: applying the snapshot leaves them as they are).
    """
    if isinstance(link, Link):
        link = handle.link(index=link.index)
    else:
        link = handle.link(name=link) if isinstance(link, str) else handle.link(index=link)
    addresses = tuple(a for a in handle.addresses(link.index) if is_restorable_address(a))
    routes = [r for r in handle.routes(link.index, user_only=True) if is_restorable_route(r)]
    return LinkSnapshot(
        name=link.name,
        index=link.index,
        mac=link.mac,
        perm_mac=link.perm_mac,
        mtu=link.mtu,
        up=link.up,
        alias=link.alias,
        altnames=link.altnames,
        addresses=addresses,
        routes=tuple(r for r in routes if not r.multipath),
        kind=link.kind,
        parent_dev_name=link.parent_dev_name,
        parent_bus_name=link.parent_bus_name,
        skipped_routes=tuple(r for r in routes if r.multipath),
        conf=capture_conf(handle, link) if interface_state else None,
        neighbours=capture_neighbours(handle, link.index) if interface_state else None,
    )


def move_link(source: Handle, target: Handle, link: Link, *, name: str | None = None) -> Link:
    """Move ``link`` from ``source``'s namespace into ``target``'s (optionally renamed in the same
    request) and return it as ``target`` sees it: its ifindex may differ there."""
    if target.netns is None:
        raise ValueError("move_link: the target handle must be bound to an explicit NetNS")
    source.move_link(link.index, target.netns, name=name)
    return target.link(name=name or link.name)


@record
class ApplyReport:
    """What :func:`apply_snapshot` could not restore, with the reasons: routes, sysctls and
    neighbours are best effort (what a kernel refuses in one namespace it may take in another)."""

    failed_routes: tuple[tuple[Route, str], ...] = ()
    refused_settings: tuple[RefusedSetting, ...] = ()
    failed_neighbours: tuple[tuple[Neighbour, str], ...] = ()
    failed_altnames: tuple[tuple[str, str], ...] = ()  # (altname, why): another link holds it


def translate_label(label: str | None, old_name: str, new_name: str) -> str | None:
    """IPv4 labels follow renames in the kernel (``a0:x`` on ``a0`` becomes ``b0:x`` on ``b0``)."""
    if label is None or old_name == new_name:
        return label
    if label == old_name:
        return new_name
    if label.startswith(old_name + ":"):
        renamed = new_name + label[len(old_name):]
        return renamed if len(renamed.encode()) < IFNAMSIZ else None
    return label


def apply_snapshot(
    handle: Handle,
    link: Link | int,
    snapshot: LinkSnapshot,
    *,
    routes: bool = True,
    conf: bool = True,
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> ApplyReport:
    """Make ``link`` (in ``handle``'s namespace) carry what ``snapshot`` recorded.

    Converges rather than appends: addresses and neighbours the link has that the snapshot
    lacks are removed (kernel-made ones are left alone), so applying twice is the same as
    applying once. With ``conf=False`` the sysctls and neighbour-table parameters are left as
    they are (a caller that applied them as a step of its own: :func:`apply_interface_conf`).
    An IPv6 MTU below the link's is written once the link is ready (up with carrier: the kernel
    resets it then), waiting up to ``ready_timeout_s`` for the carrier, only when there is one.
    """
    link = handle.link(index=link.index if isinstance(link, Link) else link)  # as it is now, not as passed
    index = link.index
    mac = snapshot.mac if snapshot.mac and snapshot.mac != link.mac else None
    mtu = snapshot.mtu if snapshot.mtu and snapshot.mtu != link.mtu else None
    alias = (snapshot.alias or "") if snapshot.alias != link.alias else None
    if mac or mtu or alias is not None:
        handle.set_link(index, mtu=mtu, mac=mac, alias=alias)
    refused: tuple[RefusedSetting, ...] = ()
    if conf and snapshot.conf is not None:
        refused = apply_conf(handle, link, snapshot.conf)
    _converge_addresses(handle, link, snapshot)
    if snapshot.up != link.up:
        handle.set_link(index, up=snapshot.up)
    failed: list[tuple[Route, str]] = []
    if routes:
        have = {_route_key(r) for r in handle.routes(index, user_only=True) if is_restorable_route(r)}
        collided: list[tuple[Route, str]] = []
        for route in snapshot.routes:
            if _route_key(route) in have:
                continue
            try:
                handle.add_route(index, route)
            except NetlinkError as exc:
                (collided if exc.errno == errno.EEXIST else failed).append((route, str(exc)))
        if collided:
            # EEXIST is success only if the route is now on this link (another caller got there
            # first). Otherwise a route to the same destination, on another interface or via another
            # gateway, holds its place: it stays, and this one is reported as not restored.
            now = {_route_key(r) for r in handle.routes(index, user_only=True)}
            failed += [(route, why) for route, why in collided if _route_key(route) not in now]
    if snapshot.conf is not None and snapshot.up:  # also after a separate apply_interface_conf
        refused += apply_conf_after_up(handle, link, snapshot.conf, ready_timeout_s)
    failed_neighbours: tuple[tuple[Neighbour, str], ...] = ()
    if snapshot.neighbours is not None:
        failed_neighbours = converge_neighbours(handle, link, snapshot.neighbours)
    return ApplyReport(tuple(failed), refused, failed_neighbours, _add_altnames(handle, link, snapshot.altnames))


def _add_altnames(handle: Handle, link: Link, altnames: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The snapshot's altnames the link lacks (a pod may have removed them), where free."""
    failed = []
    for altname in altnames:
        if altname in link.altnames:
            continue
        try:
            handle.add_altname(link.index, altname)
        except NetlinkError as exc:
            failed.append((altname, str(exc)))
    return tuple(failed)


def drop_foreign_altnames(handle: Handle, link: Link, keep: tuple[str, ...]) -> None:
    """Remove the altnames ``link`` has that are not in ``keep`` (``ip link property del``):
    what a pod added must not come home with the link, nor block its way (a move fails with
    EEXIST when an altname is taken in the target)."""
    for altname in link.altnames:
        if altname not in keep:
            try:
                handle.delete_altname(link.index, altname)
            except NetlinkError as exc:
                if exc.errno != errno.ENODEV and exc.errno != errno.ENOENT:
                    raise


def apply_interface_conf(handle: Handle, link: Link | int, snapshot: LinkSnapshot) -> tuple[RefusedSetting, ...]:
    """Only the sysctls and neighbour-table parameters of ``snapshot`` (``sysctl -w …;
    ip ntable change …``), for a caller that applies them as a step before the rest."""
    if snapshot.conf is None:
        return ()
    link = handle.link(index=link.index if isinstance(link, Link) else link)
    return apply_conf(handle, link, snapshot.conf)


def return_link(
    host: Handle,
    link: Link,
    snapshot: LinkSnapshot,
    *,
    pod: Handle | None = None,
    name: str | None = None,
    after_move: Callable[[Link], object] | None = None,
) -> ApplyReport:
    """Give ``link`` back to the host and make it what ``snapshot`` recorded: the way home of a
    link that :func:`move_link` took out.

    ``link`` is in ``pod``'s namespace when ``pod`` is given, else on the host already (a physical
    NIC the kernel handed back when its netns died, under its pod-side name or ``dev<N>``). It is
    taken down (a rename needs that) and moved home renamed to ``name`` (default: the snapshot's)
    in one request, ``ip link set X down; ip link set X netns HOST name NAME`` (on the host, just
    renamed); ``after_move`` is then told the link as the host sees it, and
    :func:`apply_snapshot` gives it the snapshot's MTU, MAC, alias, addresses, up state and routes.

    Raises :class:`~hostdev.errors.NameTaken`, having changed nothing, when another link on the
    host holds ``name``. The host's namespace is ``host.netns``, or for a ``Handle()`` the calling
    thread's.
    """
    name = name or snapshot.name
    holder = host.find_link(name=name)
    if holder is not None and (pod is not None or holder.index != link.index):
        raise NameTaken(name, holder.index)
    rename = name if link.name != name else None
    drop_foreign_altnames(pod if pod is not None else host, link, snapshot.altnames)
    try:
        if pod is not None:
            if link.up:
                pod.set_link(link.index, up=False)
            if host.netns is not None:
                pod.move_link(link.index, host.netns, name=rename)
            else:
                with NetNS.current() as here:
                    pod.move_link(link.index, here, name=rename)
            link = host.link(name=name)
        elif rename is not None:
            if link.up:
                host.set_link(link.index, up=False)
            host.set_link(link.index, name=rename)
            link = host.link(index=link.index)
    except NetlinkError as exc:
        if exc.errno == errno.EEXIST:  # the name was taken after we looked
            raise NameTaken(name, None) from exc
        raise
    if after_move is not None:
        after_move(link)
    return apply_snapshot(host, link, snapshot)


def _converge_addresses(handle: Handle, link: Link, snapshot: LinkSnapshot) -> None:
    current = [a for a in handle.addresses(link.index) if is_restorable_address(a)]
    if [_address_key(a) for a in current] == [_address_key(a) for a in snapshot.addresses]:
        return
    for addr in _deletion_order(current):
        try:
            handle.delete_address(link.index, addr)
        except NetlinkError as exc:
            if exc.errno != errno.EADDRNOTAVAIL:  # gone with its primary already
                raise
    for addr in _addition_order(snapshot.addresses):
        handle.add_address(link.index, _relabel(addr, snapshot.name, link.name))


def _addition_order(addrs: Iterable[Address]) -> list[Address]:
    """The order that reproduces the dump order: the kernel appends IPv4 addresses but puts a new
    IPv6 address ahead of the others of its scope, so IPv6 goes in reverse."""
    v4 = [a for a in addrs if a.family != AF_INET6]
    v6 = [a for a in addrs if a.family == AF_INET6]
    return v4 + v6[::-1]


def _deletion_order(addrs: Iterable[Address]) -> list[Address]:
    # Secondaries first: deleting an IPv4 primary may take its secondaries with it.
    return sorted(addrs, key=lambda a: not (a.family != AF_INET6 and a.flags & IFA_F_SECONDARY))


def _relabel(addr: Address, old: str, new: str) -> Address:
    if addr.label is None or old == new:
        return addr
    from hostdev._record import replace

    return replace(addr, label=translate_label(addr.label, old, new))
