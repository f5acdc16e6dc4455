"""Per-interface state that a netns move resets — IPv4/IPv6 sysctls, neighbour-table parameters,
permanent and proxy neighbours — survives snapshot → move → apply → move back → apply.

The oracles are outside hostdev: sysctl(8) for the sysctls, ``ip ntable`` for the table
parameters, ``ip -j neigh`` for the neighbours, ``ip -j addr`` for the link-local address.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable

import pytest

from hostdev._record import replace
from hostdev.handle import Handle
from hostdev.netns import NetNS, entered
from hostdev.snapshot import LinkSnapshot, apply_snapshot, move_link, take_snapshot
from hostdev.sysctl import interface_sysctls, set_interface_sysctls
from tests.kernel.nsutil import TestNetns, veth_in, wait_for

NetnsFactory = Callable[..., TestNetns]
OpenHandle = Callable[[TestNetns], Handle]

FAMILIES = ("ipv4", "ipv6")


# --- oracles ---
def sysctls(ns: TestNetns, family: str, dev: str, kind: str = "conf") -> dict[str, str]:
    """``sysctl -a`` for one interface, in ``ns``: name -> value (read-only ones included)."""
    out = ns.run(["sysctl", "-a", "--pattern", rf"^net\.{family}\.{kind}\.{dev}\."])
    prefix = f"net.{family}.{kind}.{dev}."
    values = {}
    for line in out.splitlines():
        key, _, value = line.partition(" = ")
        values[key[len(prefix):]] = value
    assert values, f"sysctl shows nothing for {prefix}"
    return values


def every_sysctl(ns: TestNetns, dev: str) -> dict[str, dict[str, str]]:
    return {f"{kind}/{family}": sysctls(ns, family, dev, kind) for kind in ("conf", "neigh") for family in FAMILIES}


def ntable(ns: TestNetns, dev: str) -> dict[str, dict[str, str]]:
    """``ip ntable show dev X`` as {table: {parameter: value}}, without the randomised
    ``reachable`` time and the reference count."""
    tables: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in ns.run(f"ip ntable show dev {dev}").splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in ("inet", "inet6"):
            current = tables.setdefault(words[1], {})
        elif words and words[0] != "dev":
            current.update(zip(words[::2], words[1::2]))
    for values in tables.values():
        values.pop("reachable", None)
        values.pop("refcnt", None)
    assert set(tables) == {"arp_cache", "ndisc_cache"}
    return tables


def neighbours(ns: TestNetns, dev: str) -> list[Any]:
    permanent = ns.ip_json(f"neigh show dev {dev} nud permanent")
    proxies = ns.ip_json(f"neigh show proxy dev {dev}")
    return sorted(json.dumps(n, sort_keys=True) for n in permanent + proxies)


def link_local(ns: TestNetns, dev: str) -> list[str]:
    (entry,) = ns.ip_json(f"-6 addr show dev {dev}") or [{"addr_info": []}]
    return [a["local"] for a in entry["addr_info"] if a.get("scope") == "link"]


# --- changing every value ---
def _candidates(name: str, value: str) -> list[str]:
    if name == "stable_secret":
        return ["2001:db8::5ec:7e7"]
    try:
        number = int(value)
    except ValueError:
        return []
    return [str(number + 1), str(number - 1), "1", "0", str(number * 2)]


def perturb_every_sysctl(ns: TestNetns, dev: str) -> None:
    """Give every writable IPv4/IPv6 sysctl of ``dev`` a value other than its default, the first
    one the kernel accepts and keeps; fail if any value cannot be changed at all."""
    netns = NetNS.from_path(ns.path)
    try:
        stuck = []
        for family in FAMILIES:
            values = interface_sysctls(family, dev, netns)
            if family == "ipv6":
                values["stable_secret"] = ""  # unset: unreadable, but writable
            for name, value in sorted(values.items()):
                for candidate in _candidates(name, value):
                    if candidate == value or set_interface_sysctls(family, dev, [(name, candidate)], netns):
                        continue
                    if interface_sysctls(family, dev, netns).get(name, "") not in (value, ""):
                        break
                else:
                    stuck.append(f"{family}.{name}")
        assert not stuck, f"could not change {stuck}"
        # a stable secret switched addr_gen_mode to 2 (stable_privacy); an admin may set it back,
        # so restoring must write the secret first and addr_gen_mode after it
        assert set_interface_sysctls("ipv6", dev, [("addr_gen_mode", "1")], netns) == []
    finally:
        netns.close()


NTABLE_CHANGES = "delay_probe 1500 base_reachable 21000 retrans 1100 gc_stale 45000 queue 7 app_probes 2 " \
                 "ucast_probes 4 mcast_probes 5 anycast_delay 900 proxy_delay 700 proxy_queue 33 locktime 250"


def perturb_neigh_parms(ns: TestNetns, dev: str) -> None:
    for table in ("arp_cache", "ndisc_cache"):
        ns.run(f"ip ntable change name {table} dev {dev} {NTABLE_CHANGES}")
    for family in FAMILIES:  # the two the ip(8) of Debian 12 cannot set
        ns.sysctl(f"net.{family}.neigh.{dev}.mcast_resolicit=3", f"net.{family}.neigh.{dev}.interval_probe_time_ms=7000")


# --- fixtures ---
@pytest.fixture
def host(netns_factory: NetnsFactory) -> TestNetns:
    space = netns_factory()
    veth_in(space, "x0", "x0p")
    space.run("ip link set dev x0p up")
    return space


def round_trip(host: TestNetns, pod: TestNetns, open_handle: OpenHandle, *, name: str = "net1") -> tuple[LinkSnapshot, Any]:
    """take_snapshot → move into ``pod`` (renamed) → apply; returns the snapshot and a function
    that moves the link back and applies it there."""
    on_host, in_pod = open_handle(host), open_handle(pod)
    snap = take_snapshot(on_host, "x0")
    stored = LinkSnapshot.from_dict(json.loads(json.dumps(snap.to_dict())))
    assert stored == snap
    moved = move_link(on_host, in_pod, on_host.link(name="x0"), name=name)
    report = apply_snapshot(in_pod, moved, stored)
    assert report.refused_settings == () and report.failed_neighbours == ()

    def back() -> None:
        returned = move_link(in_pod, on_host, in_pod.link(name=name), name="x0")
        again = apply_snapshot(on_host, returned, stored)
        assert again.refused_settings == () and again.failed_neighbours == ()

    return stored, back


# --- the loss, as the kernel does it ---
def test_a_move_resets_per_interface_sysctls_to_the_targets_defaults(host: TestNetns, netns_factory: NetnsFactory) -> None:
    """The measured loss: without hostdev's help, a plain move forgets what the admin set."""
    pod = netns_factory()
    host.sysctl("net.ipv4.conf.x0.arp_ignore=1", "net.ipv4.conf.x0.rp_filter=2", "net.ipv6.conf.x0.accept_ra=0")
    host.run("ip neigh add 10.1.0.9 lladdr 02:00:00:00:00:09 dev x0 nud permanent")
    host.run(f"ip link set dev x0 netns {pod.name}")
    assert sysctls(pod, "ipv4", "x0")["arp_ignore"] == "0"
    assert sysctls(pod, "ipv4", "x0")["rp_filter"] == "0"
    assert sysctls(pod, "ipv6", "x0")["accept_ra"] == "1"
    assert neighbours(pod, "x0") == []


def test_the_measured_loss_is_gone_with_a_snapshot(host: TestNetns, netns_factory: NetnsFactory, open_handle: OpenHandle) -> None:
    pod = netns_factory()
    host.sysctl("net.ipv4.conf.x0.arp_ignore=1", "net.ipv4.conf.x0.rp_filter=2", "net.ipv6.conf.x0.accept_ra=0")
    _snap, back = round_trip(host, pod, open_handle)
    seen = (sysctls(pod, "ipv4", "net1")["arp_ignore"], sysctls(pod, "ipv4", "net1")["rp_filter"], sysctls(pod, "ipv6", "net1")["accept_ra"])
    assert seen == ("1", "2", "0")
    back()
    seen = (sysctls(host, "ipv4", "x0")["arp_ignore"], sysctls(host, "ipv4", "x0")["rp_filter"], sysctls(host, "ipv6", "x0")["accept_ra"])
    assert seen == ("1", "2", "0")


# --- every value, both families, both ways ---
def test_every_writable_sysctl_and_table_parameter_survives_the_round_trip(
    host: TestNetns, netns_factory: NetnsFactory, open_handle: OpenHandle
) -> None:
    pod = netns_factory()
    # the pod's defaults differ from the host's in places, and must not leak into the link
    pod.sysctl("net.ipv4.conf.default.rp_filter=1", "net.ipv6.conf.default.hop_limit=33")
    perturb_every_sysctl(host, "x0")
    perturb_neigh_parms(host, "x0")
    start, start_ntable = every_sysctl(host, "x0"), ntable(host, "x0")
    snap, back = round_trip(host, pod, open_handle)
    assert snap.conf is not None and len(snap.conf.ipv4) >= 30 and len(snap.conf.ipv6) >= 50
    assert dict(snap.conf.ipv6)["stable_secret"] == "2001:0db8:0000:0000:0000:0000:05ec:07e7"

    assert every_sysctl(pod, "net1") == start
    assert ntable(pod, "net1") == start_ntable

    back()
    assert every_sysctl(host, "x0") == start
    assert ntable(host, "x0") == start_ntable


def test_table_parameters_keep_their_milliseconds(host: TestNetns, netns_factory: NetnsFactory, open_handle: OpenHandle) -> None:
    """/proc/sys shows delay_first_probe_time in whole seconds; the values travel in ms."""
    pod = netns_factory()
    host.run("ip ntable change name arp_cache dev x0 delay_probe 1500 gc_stale 2500")
    assert sysctls(host, "ipv4", "x0", "neigh")["delay_first_probe_time"] == "1"  # what procfs would give back
    snap, back = round_trip(host, pod, open_handle)
    assert snap.conf is not None
    assert ("delay_first_probe_time_ms", 1500) in snap.conf.neigh_ipv4
    assert ntable(pod, "net1")["arp_cache"]["delay_probe"] == "1500"
    assert ntable(pod, "net1")["arp_cache"]["gc_stale"] == "2500"


# --- the IPv6 MTU, which the kernel resets when a link becomes ready ---
def test_an_ipv6_mtu_below_the_link_mtu_survives_the_link_coming_up(
    host: TestNetns, netns_factory: NetnsFactory, open_handle: OpenHandle
) -> None:
    pod = netns_factory()
    host.run("ip link set dev x0 up")
    host.sysctl("net.ipv6.conf.x0.mtu=1400")  # set while up, as an admin does: it holds
    _snap, back = round_trip(host, pod, open_handle)
    assert "LOWER_UP" in pod.ip_json("link show dev net1")[0]["flags"]
    assert sysctls(pod, "ipv6", "net1")["mtu"] == "1400"
    back()
    assert sysctls(host, "ipv6", "x0")["mtu"] == "1400"


def test_an_ipv6_mtu_on_a_link_without_carrier_is_reported(host: TestNetns, netns_factory: NetnsFactory, open_handle: OpenHandle) -> None:
    pod = netns_factory()
    host.run("ip link set dev x0 up")
    host.sysctl("net.ipv6.conf.x0.mtu=1400")
    on_host, in_pod = open_handle(host), open_handle(pod)
    snap = take_snapshot(on_host, "x0")
    host.run("ip link set dev x0p down")  # the peer: x0 loses its carrier
    moved = move_link(on_host, in_pod, on_host.link(name="x0"))
    report = apply_snapshot(in_pod, moved, snap, ready_timeout_s=0.5)  # no carrier will come
    assert [(r.setting, r.value) for r in report.refused_settings] == [("net.ipv6.conf.x0.mtu", "1400")]
    assert "no carrier" in report.refused_settings[0].reason


# --- disable_ipv6 keeps the link-local address away ---
@pytest.mark.parametrize("disable_ipv6", [1, 0])
def test_disable_ipv6_keeps_the_link_local_address_away_in_the_pod_and_on_return(
    host: TestNetns, netns_factory: NetnsFactory, open_handle: OpenHandle, disable_ipv6: int
) -> None:
    pod = netns_factory()
    host.sysctl(f"net.ipv6.conf.x0.disable_ipv6={disable_ipv6}")
    host.run("ip addr add 10.7.0.1/24 dev x0")
    host.run("ip link set dev x0 up")
    if disable_ipv6:
        assert link_local(host, "x0") == []
    else:
        wait_for(lambda: link_local(host, "x0"), bool, what="link-local on x0")
    _snap, back = round_trip(host, pod, open_handle)
    assert "UP" in pod.ip_json("link show dev net1")[0]["flags"]
    if disable_ipv6:
        # the address would be there already had the link come up with IPv6 on: with DAD off
        # (nsutil turns it off) addrconf adds it while the link goes up
        assert link_local(pod, "net1") == []
        back()
        assert link_local(host, "x0") == []
    else:
        wait_for(lambda: link_local(pod, "net1"), bool, what="link-local on net1 (control: IPv6 on)")
        back()
        wait_for(lambda: link_local(host, "x0"), bool, what="link-local on x0 (control: IPv6 on)")
    assert sysctls(host, "ipv6", "x0")["disable_ipv6"] == str(disable_ipv6)


# --- neighbours ---
NEIGHBOURS = [
    "ip neigh add 10.7.0.9 lladdr 02:00:00:00:00:09 dev x0 nud permanent",
    "ip neigh add 10.7.0.10 lladdr 02:00:00:00:00:0a dev x0 nud permanent protocol static",
    "ip -6 neigh add 2001:db8:7::9 lladdr 02:00:00:00:01:09 dev x0 nud permanent router",
    "ip -6 neigh add fe80::9 lladdr 02:00:00:00:01:0a dev x0 nud permanent",
    "ip neigh add proxy 10.7.0.20 dev x0",
    "ip -6 neigh add proxy 2001:db8:7::20 dev x0",
]


def test_permanent_and_proxy_neighbours_of_both_families_survive(
    host: TestNetns, netns_factory: NetnsFactory, open_handle: OpenHandle
) -> None:
    pod = netns_factory()
    host.run("ip addr add 10.7.0.1/24 dev x0")
    host.run("ip link set dev x0 up")
    for command in NEIGHBOURS:
        host.run(command)
    host.run("ip neigh add 10.7.0.30 lladdr 02:00:00:00:00:30 dev x0 nud reachable")  # a cache entry
    start = neighbours(host, "x0")
    assert len(start) == len(NEIGHBOURS)
    snap, back = round_trip(host, pod, open_handle)
    assert snap.neighbours is not None and len(snap.neighbours) == len(NEIGHBOURS)
    assert "10.7.0.30" not in {n.address for n in snap.neighbours}  # learnt, not configured
    assert neighbours(pod, "net1") == [n.replace('"x0"', '"net1"') for n in start]
    pod.run("ip neigh del 10.7.0.9 dev net1")  # the pod's own business: not carried back
    pod.run("ip neigh add 10.7.0.99 lladdr 02:00:00:00:00:99 dev net1 nud permanent")
    back()
    assert neighbours(host, "x0") == start


def test_apply_converges_neighbours(host: TestNetns, open_handle: OpenHandle) -> None:
    handle = open_handle(host)
    for command in NEIGHBOURS:
        host.run(command)
    snap = take_snapshot(handle, "x0")
    start = neighbours(host, "x0")
    host.run("ip neigh replace 10.7.0.9 lladdr 02:00:00:00:00:77 dev x0 nud permanent")
    host.run("ip neigh del proxy 10.7.0.20 dev x0")
    host.run("ip neigh add 10.7.0.88 lladdr 02:00:00:00:00:88 dev x0 nud permanent")
    report = apply_snapshot(handle, handle.link(name="x0"), snap)
    assert report.failed_neighbours == ()
    assert neighbours(host, "x0") == start


# --- what the pod changes stays in the pod ---
def test_values_the_pod_changed_are_not_carried_back(host: TestNetns, netns_factory: NetnsFactory, open_handle: OpenHandle) -> None:
    pod = netns_factory()
    host.sysctl("net.ipv4.conf.x0.rp_filter=2", "net.ipv6.conf.x0.accept_ra=0")
    host.run("ip ntable change name ndisc_cache dev x0 retrans 1200")
    start, start_ntable = every_sysctl(host, "x0"), ntable(host, "x0")
    _snap, back = round_trip(host, pod, open_handle)
    pod.sysctl("net.ipv4.conf.net1.rp_filter=0", "net.ipv6.conf.net1.accept_ra=2", "net.ipv4.conf.net1.arp_ignore=2")
    pod.run("ip ntable change name ndisc_cache dev net1 retrans 3000")
    back()
    assert every_sysctl(host, "x0") == start
    assert ntable(host, "x0") == start_ntable


def test_a_value_that_followed_its_default_keeps_following_it(host: TestNetns, netns_factory: NetnsFactory, open_handle: OpenHandle) -> None:
    """Only values that differ are written back: a written IPv4 value stops following
    net.ipv4.conf.default, one the host never set keeps following it after the round trip."""
    pod = netns_factory()
    host.sysctl("net.ipv4.conf.x0.arp_ignore=1")  # set by the admin: pinned
    _snap, back = round_trip(host, pod, open_handle)
    back()
    host.sysctl("net.ipv4.conf.default.arp_announce=2", "net.ipv4.conf.default.arp_ignore=2")
    values = sysctls(host, "ipv4", "x0")
    assert (values["arp_announce"], values["arp_ignore"]) == ("2", "1")


# --- refusals are reported, not raised ---
def test_a_refused_value_is_reported_and_the_rest_applied(host: TestNetns, netns_factory: NetnsFactory, open_handle: OpenHandle) -> None:
    pod = netns_factory()
    on_host, in_pod = open_handle(host), open_handle(pod)
    host.run("ip addr add 10.7.0.1/24 dev x0")
    snap = take_snapshot(on_host, "x0")
    assert snap.conf is not None
    ipv6 = dict(snap.conf.ipv6) | {"mtu": "9000", "hop_limit": "300"}  # above the link's MTU; above 255
    ipv4 = dict(snap.conf.ipv4) | {"rp_filter": "2"}
    conf = replace(snap.conf, ipv4=tuple(sorted(ipv4.items())), ipv6=tuple(sorted(ipv6.items())))
    moved = move_link(on_host, in_pod, on_host.link(name="x0"))
    report = apply_snapshot(in_pod, moved, replace(snap, conf=conf))
    assert sorted((r.setting, r.value) for r in report.refused_settings) == [
        ("net.ipv6.conf.x0.hop_limit", "300"), ("net.ipv6.conf.x0.mtu", "9000"),
    ]  # fmt: skip
    assert all(r.reason == "Invalid argument" for r in report.refused_settings)
    assert sysctls(pod, "ipv4", "x0")["rp_filter"] == "2"
    assert [a["local"] for a in pod.ip_json("-4 addr show dev x0")[0]["addr_info"]] == ["10.7.0.1"]


def test_old_records_without_interface_state_leave_it_alone(host: TestNetns, open_handle: OpenHandle) -> None:
    handle = open_handle(host)
    host.run("ip neigh add 10.7.0.9 lladdr 02:00:00:00:00:09 dev x0 nud permanent")
    data = take_snapshot(handle, "x0").to_dict()
    del data["conf"], data["neighbours"]
    old = LinkSnapshot.from_dict(data)
    assert (old.conf, old.neighbours) == (None, None)
    host.sysctl("net.ipv4.conf.x0.rp_filter=2")
    report = apply_snapshot(handle, handle.link(name="x0"), old)
    assert report == type(report)()
    assert sysctls(host, "ipv4", "x0")["rp_filter"] == "2"
    assert len(neighbours(host, "x0")) == 1


# --- the sysctl API and the namespace it reads ---
def test_proc_sys_net_follows_the_namespace_of_the_opening_thread(host: TestNetns, netns_factory: NetnsFactory) -> None:
    pod = netns_factory()
    veth_in(pod, "p0", "p0p")
    pod.sysctl("net.ipv4.conf.p0.rp_filter=2")
    seen_by_other_thread: list[bool] = []
    ready, go = threading.Event(), threading.Event()

    def stays_home() -> None:  # started before this thread enters the pod: stays where it was
        ready.set()
        go.wait(10)
        seen_by_other_thread.append(interface_sysctls("ipv4", "p0") != {})

    other = threading.Thread(target=stays_home)
    other.start()
    ready.wait(10)
    with NetNS.from_path(pod.path) as netns:
        assert interface_sysctls("ipv4", "p0") == {}  # not in this thread's namespace
        assert interface_sysctls("ipv4", "p0", netns)["rp_filter"] == "2"
        assert interface_sysctls("ipv4", "p0", netns, ["rp_filter", "no_such"]) == {"rp_filter": "2"}
        with entered(netns):
            go.set()
            other.join(10)
            assert interface_sysctls("ipv4", "p0")["rp_filter"] == "2"
    assert seen_by_other_thread == [False]
    assert "mc_forwarding" not in interface_sysctls("ipv4", "x0", NetNS.from_path(host.path))  # read-only


def test_set_interface_sysctls_reports_each_refusal(host: TestNetns) -> None:
    with NetNS.from_path(host.path) as netns:
        refused = set_interface_sysctls("ipv6", "x0", [("hop_limit", "0"), ("accept_ra", "0"), ("no_such", "1")], netns)
        assert [(r.setting, r.reason) for r in refused] == [
            ("net.ipv6.conf.x0.hop_limit", "Invalid argument"), ("net.ipv6.conf.x0.no_such", "No such file or directory"),
        ]  # fmt: skip
        assert interface_sysctls("ipv6", "x0", netns)["accept_ra"] == "0"
        with pytest.raises(ValueError):
            set_interface_sysctls("ipv4", "x0", [("../../../kernel/hostname", "x")], netns)
        with pytest.raises(ValueError):
            interface_sysctls("ipv4", "..", netns)


# --- what a move does to what hostdev does not carry ---
def _bpf_xdp_pass() -> int:
    """A loaded XDP program that passes every packet (r0 = XDP_PASS; exit), by bpf(2) itself:
    no compiler, no object file. Returns its fd (the caller closes it)."""
    import ctypes
    import struct

    libc = ctypes.CDLL(None, use_errno=True)
    insns = struct.pack("=BBhi", 0xB7, 0, 0, 2) + struct.pack("=BBhi", 0x95, 0, 0, 0)  # mov64 r0, 2; exit
    code, license_ = ctypes.create_string_buffer(insns, len(insns)), ctypes.create_string_buffer(b"GPL")
    attr = ctypes.create_string_buffer(128)  # union bpf_attr, BPF_PROG_LOAD: type, insn_cnt, insns, license
    struct.pack_into("=IIQQ", attr, 0, 6, 2, ctypes.addressof(code), ctypes.addressof(license_))  # 6: BPF_PROG_TYPE_XDP
    fd: int = libc.syscall(321, 5, attr, len(attr))  # x86-64 bpf(2), 5: BPF_PROG_LOAD
    assert fd >= 0, f"bpf(BPF_PROG_LOAD): {ctypes.get_errno()}"
    return fd


def _attach_xdp(handle: Handle, index: int, prog_fd: int) -> None:
    """``ip link set dev X xdpgeneric fd FD``: IFLA_XDP { IFLA_XDP_FD, IFLA_XDP_FLAGS = SKB_MODE }."""
    import struct

    from hostdev._netlink.attrs import encode_attr
    from hostdev._netlink.rtnl_link import ifinfomsg
    from hostdev._netlink.rtnl_tables import IFINFOMSG, IFLA, RTM_NEWLINK
    from hostdev._netlink.socket import Request

    nest = encode_attr(1, struct.pack("=i", prog_fd)) + encode_attr(3, struct.pack("=I", 2))
    handle.sock.request(RTM_NEWLINK, ifinfomsg(index) + encode_attr(43, nest), Request("IFLA_XDP", IFINFOMSG.size, IFLA))


def test_qdiscs_are_dropped_by_the_move(host: TestNetns, netns_factory: NetnsFactory, open_handle: OpenHandle) -> None:
    """Not carried: the kernel shuts the device's qdiscs down on a netns move (dev_shutdown), and
    hostdev does not rebuild them. The link comes up with its driver's default root qdisc."""
    pod = netns_factory()
    host.run("ip link set dev x0 up")
    host.run("tc qdisc replace dev x0 root htb default 10")
    (before,) = host.ip_json("link show dev x0")
    assert before["qdisc"] == "htb"
    _snap, back = round_trip(host, pod, open_handle)
    assert pod.ip_json("link show dev net1")[0]["qdisc"] == "noqueue"
    back()
    assert host.ip_json("link show dev x0")[0]["qdisc"] == "noqueue"


def test_an_xdp_program_stays_attached_across_moves(host: TestNetns, netns_factory: NetnsFactory, open_handle: OpenHandle) -> None:
    """Not carried by hostdev, kept by the kernel: an attached XDP program goes with the device
    into the pod and comes back with it — so one the pod attaches comes back to the host too."""
    pod = netns_factory()
    prog = _bpf_xdp_pass()
    try:
        on_host, in_pod = open_handle(host), open_handle(pod)
        snap = take_snapshot(on_host, "x0")
        moved = move_link(on_host, in_pod, on_host.link(name="x0"))
        _attach_xdp(in_pod, moved.index, prog)  # attached in the pod
        apply_snapshot(in_pod, moved, snap)
        returned = move_link(in_pod, on_host, in_pod.link(name="x0"))
        apply_snapshot(on_host, returned, snap)
        (link,) = host.ip_json("-d link show dev x0")
        assert link["xdp"]["mode"] == 2  # XDP_ATTACHED_SKB: the pod's program, on the host's NIC
    finally:
        import os

        os.close(prog)


def test_ethtool_settings_stay_with_the_device(host: TestNetns, netns_factory: NetnsFactory, open_handle: OpenHandle) -> None:
    """Not carried by hostdev, kept by the driver: offload features are device state."""
    pod = netns_factory()
    host.run(["ethtool", "-K", "x0", "gro", "on", "tso", "off"])

    def features(ns: TestNetns, dev: str) -> tuple[str, str]:
        shown = dict(line.split(": ", 1) for line in ns.run(["ethtool", "-k", dev]).splitlines() if ": " in line)
        return shown["generic-receive-offload"], shown["tcp-segmentation-offload"]

    assert features(host, "x0") == ("on", "off")
    _snap, back = round_trip(host, pod, open_handle)
    assert features(pod, "net1") == ("on", "off")
    back()
    assert features(host, "x0") == ("on", "off")
