"""The IPAM step of an attachment (:mod:`hostdev.cni.attachment`): allocate, configure, release.

One :class:`Ipam` step joins the attachment's steps when the configuration has an ``ipam``
section with a ``type``; it comes last, so DEL undoes it first::

    ADD   record → netdev into the pod → sysctls → RDMA devices → apply → result → IPAM
    DEL   IPAM DEL ← result ← apply ← RDMA devices back ← sysctls ← netdev home ← record deleted

``do``: the record names the IPAM plugin before it is called (a crash from then on is followed
by an IPAM DEL), IPAM ADD, then the pod's interface carries what IPAM gave — addresses, routes (a
route without ``gw`` goes through the gateway of the first address of its family, as upstream
host-device does), up — in place of the host's addresses and routes that ``apply`` put there,
unless ``keepHostAddresses`` asks for both; the result lists IPAM's addresses (then the host's,
when kept) on our interface, IPAM's routes and its DNS. ``undo``: IPAM DEL, whatever the record
says (the configuration names the plugin); its failure does not keep the device from its host,
it is reported once the rest is undone. The netns move home strips whatever IPAM put on the
interface, so the host gets exactly its snapshot back.

Imported only for a configuration with an ``ipam`` section that has a ``type``.
"""

from __future__ import annotations

from hostdev._record import replace

from .attachment import Step
from .errors import INVALID_CONFIG, IPAM_CONFIG_REFUSED, PLUGIN_NOT_AVAILABLE, CniError
from .ipam import DelegateError, IpamPlugin
from .log import Log
from .result_model import Interface, Result

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hostdev import Handle, Link, Route
    from hostdev.snapshot import LinkSnapshot

    from .attachment import Attachment
    from .config import PluginConfig
    from .protocol import CniEnv

DAD_TIMEOUT_SECONDS = 5.0  # upstream's settle time; a NIC without carrier keeps them tentative


def plugin_for(env: CniEnv, conf: PluginConfig, stdin: bytes) -> IpamPlugin | None:
    """The configuration's IPAM plugin, given what we got on stdin; None without ``ipam.type``."""
    if conf.ipam_type is None:
        return None
    return IpamPlugin(
        conf.ipam_type, cni_path=env.path, stdin=stdin, cni_version=conf.cni_version,
        timeout_s=conf.ipam_timeout_seconds,
    )  # fmt: skip


class Ipam(Step):
    """IPAM for one attachment; see the module docstring. ``gc``: undone by a GC, which names
    no pod netns (the runtime's CNI_NETNS is not this attachment's)."""

    name = "ipam"
    done_point = "add:after-ipam"

    def __init__(self, plugin: IpamPlugin, *, keep_host: bool, gc: bool = False) -> None:
        self.plugin = plugin
        self.keep_host = keep_host
        self.gc = gc
        self.failure: CniError | None = None  # an IPAM DEL that failed, for the caller to report

    def do(self, tx: Attachment) -> None:
        assert tx.inside is not None and tx.record.pod_index is not None and tx.result is not None
        tx.advance(ipam=self.plugin.name, durable=True)  # before the call: its allocation outlives a reboot
        allocated = allocate(self.plugin, tx.log)
        tx.crash_point("add:after-ipam-add")
        snapshot = tx.record.snapshot
        configure_pod(tx.inside, tx.inside.link(index=tx.record.pod_index), snapshot, allocated, self.keep_host, tx.log)
        from .result_json import format_result

        tx.result = attachment_result(tx.result.interfaces[0], snapshot, allocated, self.keep_host)
        tx.advance(result=format_result("1.1.0", tx.result))

    def undo(self, tx: Attachment) -> bool:
        overrides: dict[str, str | None] = {"CNI_CONTAINERID": tx.key.container_id, "CNI_IFNAME": tx.key.ifname}
        if self.gc:
            overrides["CNI_NETNS"] = None
        self.failure = release(self.plugin, tx.log, **overrides)
        tx.crash_point("del:after-ipam-del")
        return True


def steps_for(steps: tuple[Step, ...], ipam: IpamPlugin | None, conf: PluginConfig, *, gc: bool = False) -> tuple[Step, ...]:
    """The attachment's steps, with IPAM's last when the configuration has an IPAM plugin."""
    if ipam is None:
        return steps
    return steps + (Ipam(ipam, keep_host=conf.keep_host_addresses, gc=gc),)


def failure_of(steps: tuple[Step, ...]) -> CniError | None:
    """The IPAM DEL failure an undo of ``steps`` met, if any."""
    return next((s.failure for s in steps if isinstance(s, Ipam) and s.failure is not None), None)


def allocate(ipam: IpamPlugin, log: Log) -> Result:
    """IPAM ADD; a result without any address is refused (upstream host-device does too)."""
    result = ipam.add()
    if not result.ips:
        raise CniError(INVALID_CONFIG, f"IPAM plugin {ipam.name} returned no IP address", "check the ipam section of the configuration")
    log.info(f"IPAM {ipam.name} gave {', '.join(ip.address for ip in result.ips)}")
    return result


def release(ipam: IpamPlugin, log: Log, **overrides: str | None) -> CniError | None:
    """IPAM DEL; its failure is returned (and logged), not raised: whoever calls this has more
    to give back first."""
    try:
        ipam.delete(**overrides)
    except CniError as exc:
        log.error(f"IPAM {ipam.name} DEL failed: {exc}")
        return exc
    log.info(f"IPAM {ipam.name} released {overrides.get('CNI_CONTAINERID') or 'this attachment'}")
    return None


def routes_of(ipam: Result) -> tuple[Route, ...]:
    """IPAM's routes as the kernel gets them: no ``gw`` means the gateway of its family."""
    from hostdev.addressing import route
    from .inet import family_of

    gateways: dict[int, str] = {}
    for ip in ipam.ips:
        if ip.gateway is not None:
            gateways.setdefault(family_of(ip.address), ip.gateway)
    out = []
    for r in ipam.routes:
        gateway = r.gw if r.gw is not None else gateways.get(family_of(r.dst))
        out.append(route(r.dst, gateway=gateway, table=r.table, metric=r.priority, scope=r.scope, mtu=r.mtu, advmss=r.advmss))
    return tuple(out)


def pod_snapshot(host: LinkSnapshot, ipam: Result, keep_host: bool) -> LinkSnapshot:
    """What the pod's interface is to carry: the host's link settings with IPAM's addresses and
    routes (and the host's, when kept), up."""
    from hostdev.addressing import address

    addresses = tuple(address(ip.address) for ip in ipam.ips)
    routes = routes_of(ipam)
    if keep_host:
        addresses += host.addresses
        routes += host.routes
    return replace(host, addresses=addresses, routes=routes, up=True)


def configure_pod(inside: Handle, link: Link, host: LinkSnapshot, ipam: Result, keep_host: bool, log: Log) -> None:
    """Apply :func:`pod_snapshot` in the pod; a route of IPAM's the kernel refuses fails the ADD
    (one of the host's, when kept, only warns, as without IPAM)."""
    from hostdev.addressing import DuplicateAddress, same_route, wait_for_dad
    from hostdev.errors import NetlinkError
    from hostdev.snapshot import apply_snapshot

    target = pod_snapshot(host, ipam, keep_host)
    if not keep_host:
        # The attachment's apply step put the host's routes on it; addresses converge below,
        # routes only add up: take the host's away first.
        for route in host.routes:
            try:
                inside.delete_route(link.index, route)
            except NetlinkError as exc:
                if exc.errno not in (2, 3):  # ENOENT, ESRCH: gone already (with its address)
                    log.warn(f"route {route.destination} of the host not removed in the pod: {exc}")
    try:
        report = apply_snapshot(inside, link, target)
    except NetlinkError as exc:
        raise CniError(IPAM_CONFIG_REFUSED, "the kernel refused to give the pod's interface what IPAM returned", str(exc)) from None
    ours = routes_of(ipam)
    for failed, why in report.failed_routes:
        if any(same_route(failed, r) for r in ours):
            raise CniError(IPAM_CONFIG_REFUSED, f"the kernel refused the IPAM route {failed.destination} in the pod", why)
        log.warn(f"route {failed.destination} does not apply in the pod: {why}")
    if any(":" in ip.address for ip in ipam.ips):
        try:
            tentative = wait_for_dad(inside, link.index, DAD_TIMEOUT_SECONDS)
        except DuplicateAddress as exc:
            raise CniError(IPAM_CONFIG_REFUSED, "an IPv6 address from IPAM is already in use on the link", str(exc)) from None
        if tentative:
            log.warn(f"{', '.join(a.cidr for a in tentative)} still tentative after {DAD_TIMEOUT_SECONDS:g} s (no carrier?)")


def attachment_result(iface: Interface, host: LinkSnapshot, ipam: Result, keep_host: bool) -> Result:
    """The ADD result: IPAM's addresses on our interface (index 0), the host's after them when
    kept, IPAM's routes and DNS."""
    from .results import ip_config_for

    ips = tuple(replace(ip, interface=0) for ip in ipam.ips)
    if keep_host:
        ips += tuple(ip_config_for(a.cidr, 0) for a in host.addresses)
    return Result(interfaces=(iface,), ips=ips, routes=ipam.routes, dns=ipam.dns)


def missing_in_pod(inside: Handle, index: int, result: Result) -> list[str]:
    """CHECK: what of our result's addresses and routes the pod's interface lacks."""
    from hostdev.addressing import address, same_route

    have = {(a.address, a.prefixlen) for a in inside.addresses(index)}
    missing = []
    for ip in result.ips:
        wanted = address(ip.address)
        if ip.interface == 0 and (wanted.address, wanted.prefixlen) not in have:
            missing.append(ip.address)
    present = inside.routes(index, user_only=True)
    for wanted_route, cni in zip(routes_of(Result(ips=result.ips, routes=result.routes)), result.routes):
        if not any(same_route(wanted_route, p) for p in present):
            missing.append(f"route {cni.dst}" + (f" via {wanted_route.gateway}" if wanted_route.gateway else ""))
    return missing


def status(ipam: IpamPlugin) -> None:
    """STATUS: the IPAM plugin's error is ours; not being able to ask it at all is code 50."""
    try:
        ipam.status()
    except DelegateError:
        raise
    except CniError as exc:
        raise CniError(PLUGIN_NOT_AVAILABLE, f"IPAM plugin {ipam.name} is not available", str(exc)) from None

