"""CHECK and STATUS: look, never touch."""

from __future__ import annotations

from hostdev.cni.config import PluginConfig
from hostdev.cni.errors import CHECK_FAILED, PLUGIN_NOT_AVAILABLE, UNKNOWN_CONTAINER, CniError
from hostdev.cni.log import Log
from hostdev.cni.protocol import CniEnv
from hostdev.cni.record import AttachmentRecord, UserspaceRecord, record_from_dict
from hostdev.cni.attachment import open_pod_netns
from hostdev.cni.state import AttachmentKey, StateStore
from hostdev.handle import Handle

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hostdev import Link
    from hostdev.cni.ipam import IpamPlugin


def check(env: CniEnv, conf: PluginConfig, log: Log, ipam: IpamPlugin | None = None) -> None:
    """The IPAM plugin's CHECK first (its error is ours); then: the interface is in the pod with
    its MAC and addresses (IPAM's, and their routes, when IPAM gave them); the RDMA device too
    when moved."""
    assert env.container_id and env.ifname
    if ipam is not None:
        ipam.check()
    key = AttachmentKey(conf.name, env.container_id, env.ifname)
    data = StateStore(conf.state_dir).load(key)
    if data is None:
        raise CniError(UNKNOWN_CONTAINER, f"no attachment {env.container_id}/{env.ifname} is recorded")
    record = record_from_dict(data)
    pod = open_pod_netns(env.netns, record)
    if pod is None:
        raise CniError(CHECK_FAILED, f"CNI_NETNS {env.netns} is not the namespace the device was moved into")
    if isinstance(record, UserspaceRecord):
        pod.close()
        _check_userspace(record)
        log.debug("CHECK passed (DPDK mode)")
        return
    with pod, Handle(pod) as inside:
        link = record.device.find_in_pod(inside.links(), pod_index=record.pod_index, pod_name=record.pod_name)
        if link is None:
            raise CniError(CHECK_FAILED, f"device {record.device.id} is not in the pod")
        if link.name != record.pod_name:
            raise CniError(CHECK_FAILED, f"interface is named {link.name} in the pod, expected {record.pod_name}")
        if record.snapshot.mac and link.mac != record.snapshot.mac:
            raise CniError(CHECK_FAILED, f"{link.name} has MAC {link.mac}, expected {record.snapshot.mac}")
        if record.ipam is not None:
            missing = _missing_from_ipam(inside, link.index, record)
        else:
            have = {a.cidr for a in inside.addresses(link.index)}
            missing = [a.cidr for a in _expected_addresses(conf, record) if a.cidr not in have]
        if missing:
            raise CniError(CHECK_FAILED, f"{link.name} lacks {', '.join(missing)}")
        _check_interface_state(inside, link, record, log)
        if record.rdma.moved:
            from hostdev import rdma

            with rdma.RdmaHandle(pod) as rd:
                present = {d.name for d in rd.devices()}
            absent = [n for n in record.rdma.moved if n not in present]
            if absent:
                raise CniError(CHECK_FAILED, f"RDMA device(s) {', '.join(absent)} not in the pod")
    log.debug("CHECK passed")


def _check_userspace(record: UserspaceRecord) -> None:
    """DPDK mode: the function must still be handed to userspace (no kernel driver took it back)."""
    from hostdev import discover

    try:
        function = discover.pci_function(record.pci_address)
    except discover.DiscoveryError as exc:
        raise CniError(CHECK_FAILED, f"{record.pci_address} is gone from the host", str(exc)) from None
    if not function.userspace_driver:
        now = function.driver or "no driver"
        raise CniError(CHECK_FAILED, f"{record.pci_address} is no longer bound to a userspace driver (now {now})")


def _missing_from_ipam(inside: Handle, index: int, record: AttachmentRecord) -> list[str]:
    from hostdev.cni import ipam_step
    from hostdev.cni.result_json import parse_prev_result

    if record.result is None:
        raise CniError(CHECK_FAILED, "the attachment was never completed")
    return ipam_step.missing_in_pod(inside, index, parse_prev_result("1.1.0", record.result))


def _check_interface_state(inside: Handle, link: Link, record: AttachmentRecord, log: Log) -> None:
    """Permanent neighbours are the interface's configuration, like its addresses: one missing
    fails CHECK. A sysctl that differs from the host's is only reported: after ADD the values
    belong to the pod, and a chained plugin (tuning) runs after us precisely to change them."""
    snapshot = record.snapshot
    if snapshot.neighbours:
        from hostdev import missing_neighbours

        lost = missing_neighbours(inside, link, snapshot.neighbours)
        if lost:
            listed = ", ".join(f"{n.address}{' (proxy)' if n.proxy else ''}" for n in lost)
            raise CniError(CHECK_FAILED, f"{link.name} lacks the permanent neighbour(s) {listed}")
    if snapshot.conf is not None:
        from hostdev import differing_settings

        for setting, host_value, now in differing_settings(inside, link, snapshot.conf):
            log.warn(f"{setting} is {now} in the pod, {host_value} on the host: changed after ADD (a chained plugin or the pod)")


def _expected_addresses(conf: PluginConfig, record: AttachmentRecord) -> list[_Cidr]:
    wanted = [_Cidr(a.cidr) for a in record.snapshot.addresses]
    if conf.prev_result is not None:
        from hostdev.cni.result_json import parse_prev_result

        prev = parse_prev_result(conf.cni_version, conf.prev_result)
        ours = {i for i, iface in enumerate(prev.interfaces) if iface.name == record.pod_name}
        wanted += [_Cidr(ip.address) for ip in prev.ips if ip.interface in ours]
    return wanted


class _Cidr:
    __slots__ = ("cidr",)

    def __init__(self, cidr: str) -> None:
        self.cidr = cidr


def status(conf: PluginConfig, ipam: IpamPlugin | None = None) -> None:
    """Ready when the state directory is usable, netlink answers (else code 50) and the IPAM
    plugin's STATUS succeeds (its error is ours)."""
    from hostdev.cni.securedir import StateError, open_secure_root
    import os

    try:
        fd = open_secure_root(conf.state_dir, create=True)
        if fd is not None:
            os.close(fd)
    except (StateError, OSError) as exc:
        raise CniError(PLUGIN_NOT_AVAILABLE, f"state directory {conf.state_dir} is unusable", str(exc)) from None
    try:
        with Handle() as host:
            host.link(index=1)
    except Exception as exc:
        raise CniError(PLUGIN_NOT_AVAILABLE, "rtnetlink does not answer", str(exc)) from None
    if ipam is not None:
        from hostdev.cni import ipam_step

        ipam_step.status(ipam)
