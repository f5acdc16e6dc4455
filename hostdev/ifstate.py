"""The per-interface state a netns move resets: IP sysctls, neighbour-table parameters and
permanent neighbours.

A move unregisters the device in one namespace and registers it in the other
(``__dev_change_net_namespace``): its IPv4 and IPv6 configuration and its neighbour-table
parameters are built afresh from the *target's* defaults, and every neighbour entry of the
device is flushed. So we capture all of it and give it back, in the pod and again on the host.

The mechanism, family by family (the reasons are in each module's docstring):

* ``net/ipv4/conf/<if>/`` and ``net/ipv6/conf/<if>/``: procfs, read and written from inside the
  link's namespace (:mod:`hostdev.sysctl`). IPv6 cannot be written over netlink at all; IPv4
  could (``IFLA_INET_CONF``), but that stores values raw, without what ``sysctl -w`` does.
* ``net/ipv4/neigh/<if>/`` and ``net/ipv6/neigh/<if>/``: netlink ``RTM_GETNEIGHTBL`` /
  ``RTM_SETNEIGHTBL`` (:mod:`hostdev._netlink.rtnl_neigh`): it carries every time in ms, where
  the files round some to whole seconds.
* permanent and proxy neighbours: netlink ``RTM_*NEIGH``, like ``ip neigh``.

Every writable value is captured, not only those that differ from the source's defaults: the
target's defaults are not the source's (a pod netns does not inherit the host's IPv6 defaults).
When applying, only the values that differ from what the link has now are written: a value the
kernel still derives from its ``default`` stays derived (IPv4 ``default`` changes reach a device
until its own value is written), as it was on the host.

Order matters, and :func:`hostdev.snapshot.apply_snapshot` keeps it: the sysctls go right after
the move and the link's own attributes (the IPv6 ``mtu`` is reset by every device MTU change),
before any address (so ``disable_ipv6``, ``addr_gen_mode``, ``accept_dad`` apply to them) and
before the link goes up (which starts IPv6 autoconfiguration). The IPv6 ``mtu`` is written once
more after the link is up: when a link becomes ready (up with carrier) ``addrconf_notify``
resets it to the device MTU ("If the MTU changed during the interface down…"), so a value below
the device MTU only holds if set afterwards, as the admin did on the host. The neighbours go
last, once the link is up (taking a link down flushes even permanent neighbours:
``neigh_ifdown``).
"""

from __future__ import annotations

from hostdev._netlink.rtnl_link import Link
from hostdev._netlink.rtnl_neigh import Neighbour
from hostdev._netlink.rtnl_tables import (
    AF_INET,
    AF_INET6,
    IF_OPER_UNKNOWN,
    IF_OPER_UP,
    IFF_LOWER_UP,
    NTF_PROXY,
    NUD_PERMANENT,
)
from hostdev._record import record
from hostdev.errors import NetlinkError
from hostdev.handle import Handle
from hostdev.sysctl import RefusedSetting, interface_sysctls, set_interface_sysctls, sysctl_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable

    Settings = tuple[tuple[str, str], ...]
    Parms = tuple[tuple[str, int], ...]

# Reset to the link's MTU by the kernel when the link becomes ready (addrconf_notify).
AFTER_READY = ("mtu",)
# How long an apply waits for carrier before it gives up on the IPv6 MTU: a real NIC's
# autonegotiation takes a second or three.
READY_TIMEOUT_S = 3.0

# Written before everything else of its family: setting a stable secret switches the
# interface to addr_gen_mode=stable_privacy (addrconf_sysctl_stable_secret), so addr_gen_mode
# must come after it.
_FIRST = ("stable_secret",)
# Writes that change another value of the family besides their own: that one is read again too.
_CHANGES_ALSO = {"stable_secret": ("addr_gen_mode",)}
_NEIGH_FAMILIES = ((AF_INET, "ipv4"), (AF_INET6, "ipv6"))


@record
class InterfaceConf:
    """A link's per-interface sysctls and neighbour-table parameters, by family.

    ``ipv4``/``ipv6``: every writable file under ``net/<family>/conf/<if>/``, value as the kernel
    prints it. ``neigh_ipv4``/``neigh_ipv6``: the link's ARP and ND table parameters
    (``ip ntable``), named as in ``PARM_NAMES`` of :mod:`hostdev._netlink.rtnl_neigh`, times in ms.
    """

    ipv4: Settings = ()
    ipv6: Settings = ()
    neigh_ipv4: Parms = ()
    neigh_ipv6: Parms = ()

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {
            "ipv4": dict(self.ipv4),
            "ipv6": dict(self.ipv6),
            "neigh_ipv4": dict(self.neigh_ipv4),
            "neigh_ipv6": dict(self.neigh_ipv6),
        }

    @classmethod
    def from_dict(cls, data: Any) -> InterfaceConf:
        """Rebuild from :meth:`to_dict` output; ValueError on anything malformed."""
        if not isinstance(data, dict):
            raise ValueError("interface conf is not an object")
        return cls(
            ipv4=_pairs(data.get("ipv4", {}), str),
            ipv6=_pairs(data.get("ipv6", {}), str),
            neigh_ipv4=_pairs(data.get("neigh_ipv4", {}), int),
            neigh_ipv6=_pairs(data.get("neigh_ipv6", {}), int),
        )


def _pairs(data: Any, kind: type[Any]) -> Any:
    if not isinstance(data, dict):
        raise ValueError("interface conf values are not an object")
    for name, value in data.items():
        if not isinstance(name, str) or not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"malformed interface conf value {str(name)[:64]!r}")
    return tuple(sorted(data.items()))


# --- capture ---
def capture_conf(handle: Handle, link: Link) -> InterfaceConf:
    """Read ``link``'s sysctls and neighbour-table parameters in ``handle``'s namespace."""
    parms = {p.family: p.values for p in handle.neigh_parms(link.index)}
    return InterfaceConf(
        ipv4=tuple(sorted(interface_sysctls("ipv4", link.name, handle.netns).items())),
        ipv6=tuple(sorted(interface_sysctls("ipv6", link.name, handle.netns).items())),
        neigh_ipv4=parms.get(AF_INET, ()),
        neigh_ipv6=parms.get(AF_INET6, ()),
    )


def is_restorable_neighbour(neigh: Neighbour) -> bool:
    """Permanent entries and proxy entries are configuration; everything else is a cache the
    kernel refills by itself."""
    return bool(neigh.state & NUD_PERMANENT or neigh.flags & NTF_PROXY)


def capture_neighbours(handle: Handle, index: int) -> tuple[Neighbour, ...]:
    """``ip neigh show nud permanent dev X; ip neigh show proxy dev X`` (both families)."""
    found = handle.neighbours(index) + handle.neighbours(index, proxy=True)
    return tuple(_plain(n) for n in found if is_restorable_neighbour(n))


def _plain(neigh: Neighbour) -> Neighbour:
    # The ifindex belongs to one namespace; the entry is re-added wherever the link is now.
    from hostdev._record import replace

    return replace(neigh, index=0) if neigh.index else neigh


# --- apply ---
def apply_conf(handle: Handle, link: Link, conf: InterfaceConf) -> tuple[RefusedSetting, ...]:
    """Give ``link`` the captured values; what the kernel refuses is returned, not raised."""
    refused: list[RefusedSetting] = []
    for name, wanted in (("ipv4", conf.ipv4), ("ipv6", conf.ipv6)):
        if wanted:
            refused += _converge_sysctls(handle, link.name, name, dict(wanted))
    current = {p.family: dict(p.values) for p in handle.neigh_parms(link.index)}
    for family, wanted_parms in ((AF_INET, conf.neigh_ipv4), (AF_INET6, conf.neigh_ipv6)):
        if wanted_parms:
            refused += _converge_parms(handle, link, family, wanted_parms, current.get(family))
    return tuple(refused)


def apply_conf_after_up(
    handle: Handle, link: Link, conf: InterfaceConf, ready_timeout_s: float = READY_TIMEOUT_S
) -> tuple[RefusedSetting, ...]:
    """The IPv6 values the kernel resets when the link becomes ready, written again once it is
    (``sysctl -w net.ipv6.conf.IF.mtu=…``).

    "Ready" is addrconf's: up, with carrier, operstate UP. The carrier and the operstate come
    asynchronously (linkwatch), so we wait for them — only when a value needs it, at most
    ``ready_timeout_s`` — and then for the reset itself, which runs in the same rtnl section that
    publishes the operstate (an rtnl-locked no-op request after it is our barrier). A link still
    not ready then is reported: the kernel resets the value when its carrier comes.
    """
    ipv6 = dict(conf.ipv6)
    wanted = {n: ipv6[n] for n in AFTER_READY if n in ipv6 and ipv6[n] != str(link.mtu)}
    if not wanted:
        return ()  # what the reset gives it anyway: nothing to wait for
    link = _wait_until_ready(handle, link.index, ready_timeout_s)
    if not _ready(link):
        reason = "the link has no carrier yet: the kernel sets it to the link MTU when the carrier comes"
        return tuple(RefusedSetting(sysctl_name("ipv6", link.name, n), v, reason) for n, v in wanted.items())
    handle.set_link(link.index)  # rtnl barrier: the reset that came with readiness is done
    return tuple(_converge_sysctls(handle, link.name, "ipv6", wanted, names=list(wanted)))


def _ready(link: Link) -> bool:
    return bool(link.up and link.flags & IFF_LOWER_UP and link.operstate in (IF_OPER_UNKNOWN, IF_OPER_UP))


def _wait_until_ready(handle: Handle, index: int, timeout_s: float) -> Link:
    """``ip monitor link`` until the link is ready or ``timeout_s`` passed; the link as last seen."""
    link = handle.link(index=index)
    if _ready(link) or timeout_s <= 0:
        return link
    ready = handle.wait_for_link(lambda links: next((l for l in links if l.index == index and _ready(l)), None), timeout_s)
    return ready or handle.link(index=index)


def _converge_sysctls(
    handle: Handle, ifname: str, family: str, wanted: dict[str, str], names: list[str] | None = None
) -> list[RefusedSetting]:
    """Write what differs, read back what was written (and what those writes change besides:
    ``_CHANGES_ALSO``), write once more what another write changed back (stable_secret →
    addr_gen_mode); whatever still differs then is a refusal."""
    refused: dict[str, RefusedSetting] = {}
    have = interface_sysctls(family, ifname, handle.netns, names)
    if not have:
        where = f"net.{family}.conf.{ifname.replace('.', '/')}"
        return [RefusedSetting(where, f"{len(wanted)} values", f"{ifname} has no {family} configuration here")]
    for _attempt in range(2):
        todo = [(n, v) for n, v in _in_order(wanted) if have.get(n) != v and n not in refused]
        if not todo:
            break
        for refusal in set_interface_sysctls(family, ifname, todo, handle.netns):
            refused[refusal.setting.rsplit(".", 1)[1]] = refusal
        written = [n for n, _v in todo]
        reread = sorted({*written, *(m for n in written for m in _CHANGES_ALSO.get(n, ()) if m in wanted)})
        for name in reread:
            have.pop(name, None)
        have.update(interface_sysctls(family, ifname, handle.netns, reread))
    for name, value in _in_order(wanted):
        if name not in refused and have.get(name) != value:
            shown = have.get(name)
            reason = f"the kernel keeps {shown!r}" if shown is not None else "not present here"
            refused[name] = RefusedSetting(sysctl_name(family, ifname, name), value, reason)
    return list(refused.values())


def _in_order(wanted: dict[str, str]) -> list[tuple[str, str]]:
    first = [(n, wanted[n]) for n in _FIRST if n in wanted]
    return first + sorted((n, v) for n, v in wanted.items() if n not in _FIRST)


def _converge_parms(
    handle: Handle, link: Link, family: int, wanted: Parms, have: dict[str, int] | None
) -> list[RefusedSetting]:
    label = "ipv4" if family == AF_INET else "ipv6"
    todo = [(n, v) for n, v in wanted if have is None or have.get(n) != v]
    if not todo:
        return []
    try:
        handle.set_neigh_parms(link.index, family, todo)
        return []
    except NetlinkError:
        pass
    refused = []
    for name, value in todo:  # one at a time, to name the value the kernel would not take
        try:
            handle.set_neigh_parms(link.index, family, [(name, value)])
        except NetlinkError as exc:
            refused.append(RefusedSetting(sysctl_name(label, link.name, name, "neigh"), str(value), str(exc)))
    return refused


def differing_settings(handle: Handle, link: Link, conf: InterfaceConf) -> list[tuple[str, str, str | None]]:
    """(setting, captured value, value now or None) for each captured value ``link`` no longer
    has (``sysctl net.ipv4.conf.X …; ip ntable show dev X``, compared)."""
    found: list[tuple[str, str, str | None]] = []
    for name_of_family, wanted in (("ipv4", conf.ipv4), ("ipv6", conf.ipv6)):
        if wanted:
            have = interface_sysctls(name_of_family, link.name, handle.netns)
            found += [(sysctl_name(name_of_family, link.name, n), v, have.get(n)) for n, v in wanted if have.get(n) != v]
    parms = {p.family: dict(p.values) for p in handle.neigh_parms(link.index)}
    for family, label, wanted_parms in ((AF_INET, "ipv4", conf.neigh_ipv4), (AF_INET6, "ipv6", conf.neigh_ipv6)):
        have_parms = parms.get(family, {})
        for name, value in wanted_parms:
            if have_parms.get(name) != value:
                now = have_parms.get(name)
                found.append((sysctl_name(label, link.name, name, "neigh"), str(value), None if now is None else str(now)))
    return found


def non_default_settings(handle: Handle, link: Link) -> dict[str, str]:
    """The link's sysctls and neighbour-table parameters that differ from its namespace's
    defaults (``net.ipv4.conf.default.*``, ``net.ipv6.conf.default.*``, each table's own
    parameters), by setting name: what an admin set on this interface."""
    found: dict[str, str] = {}
    for family in ("ipv4", "ipv6"):
        defaults = interface_sysctls(family, "default", handle.netns)
        if family == "ipv6":
            defaults["mtu"] = str(link.mtu)  # an interface's IPv6 MTU starts as its link MTU
        for name, value in sorted(interface_sysctls(family, link.name, handle.netns).items()):
            if defaults.get(name, value) != value:
                found[sysctl_name(family, link.name, name)] = value
    table_defaults = {p.family: dict(p.values) for p in handle.neigh_parms(0)}
    for parms in handle.neigh_parms(link.index):
        label = "ipv4" if parms.family == AF_INET else "ipv6"
        defaults_of_table = table_defaults.get(parms.family, {})
        for name, number in parms.values:
            if defaults_of_table.get(name, number) != number:
                found[sysctl_name(label, link.name, name, "neigh")] = str(number)
    return found


def missing_neighbours(handle: Handle, link: Link, wanted: Iterable[Neighbour]) -> list[Neighbour]:
    """The entries of ``wanted`` that ``link`` lacks or holds differently (``ip neigh show``)."""
    have = {_key(n): n for n in capture_neighbours(handle, link.index)}
    return [n for n in wanted if have.get(_key(n)) != n]


def converge_neighbours(
    handle: Handle, link: Link, wanted: Iterable[Neighbour]
) -> tuple[tuple[Neighbour, str], ...]:
    """Make ``link``'s permanent and proxy neighbours exactly ``wanted``; (entry, reason) for
    each the kernel refused."""
    wanted = tuple(wanted)
    have = {_key(n): n for n in capture_neighbours(handle, link.index)}
    failed: list[tuple[Neighbour, str]] = []
    keys = {_key(n) for n in wanted}
    for key, neigh in have.items():
        if key not in keys:
            try:
                handle.delete_neighbour(link.index, neigh)
            except NetlinkError as exc:
                failed.append((neigh, str(exc)))
    for neigh in wanted:
        if have.get(_key(neigh)) == neigh:
            continue
        try:
            handle.add_neighbour(link.index, neigh, replace=True)
        except NetlinkError as exc:
            failed.append((neigh, str(exc)))
    return tuple(failed)


def _key(neigh: Neighbour) -> tuple[int, str, bool]:
    return (neigh.family, neigh.address, neigh.proxy)
