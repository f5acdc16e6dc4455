"""ADD moves the NIC with everything; DEL gives everything back — on the installed binary."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Node

BDF = "0000:44:00.0"
ADDRS = ("55.1.1.56/24 brd +", "55.1.1.57/24", "10.9.9.0/31", "fd00::5/64 nodad noprefixroute", "fd01::5/64 nodad")


def _seed_nic(node: Node, name: str = "enp68s0", bdf: str = BDF, *, carrier: bool = True) -> dict[str, object]:
    node.add_nic(name, bdf, addrs=ADDRS, mtu=9000, carrier=carrier)
    node.ip(f"link set {name} alias 'rdma nic 0'")
    node.ip(f"route add 192.168.50.0/24 via 55.1.1.1 dev {name}")
    node.ip(f"route add 192.168.60.0/24 via 55.1.1.1 dev {name} table 100 metric 7")
    node.ip(f"-6 route add fd10::/64 via fd01::1 dev {name}")
    return node.link_state(name)


def test_round_trip_keeps_name_addresses_mtu_state_routes(node: Node) -> None:
    before = _seed_nic(node)
    pod = node.add_pod()
    conf = node.conf(deviceID=BDF, pciBusID=BDF, rdma="skip")
    r = node.run("ADD", conf, netns=node.pod_path(pod))
    assert r.ok, r.stdout + r.stderr
    # Inside the pod: same name, addresses in the same order with their flags, MTU, up, alias, routes.
    assert node.link_state("enp68s0", pod) == before
    assert not node.has_link("enp68s0")
    ips = r.out["ips"] if r.out else []
    gateways = {ip["address"]: ip.get("gateway") for ip in ips}
    assert gateways == {  # the /31's peer is its gateway, for sbr
        "55.1.1.56/24": None, "55.1.1.57/24": None, "10.9.9.0/31": "10.9.9.1", "fd00::5/64": None, "fd01::5/64": None,
    }
    r = node.run("DEL", conf, netns=node.pod_path(pod))
    assert r.ok, r.stdout + r.stderr
    assert node.link_state("enp68s0") == before
    assert not node.has_link("enp68s0", pod)
    assert node.state_files() == []


def test_a_nic_without_carrier_keeps_its_routes_in_the_pod_and_after_del(node: Node) -> None:
    """Issue 16 item 9: routes of a NIC without carrier carry ``linkdown``; replaying that flag
    is refused by the kernel, and the routes were missing in the pod and lost after DEL."""
    before = _seed_nic(node, carrier=False)
    assert any("linkdown" in json.loads(r).get("flags", []) for r in before["routes"])
    pod = node.add_pod()
    conf = node.conf(deviceID=BDF, rdma="skip", logLevel="warn")
    r = node.run("ADD", conf, netns=node.pod_path(pod))
    assert r.ok and "not apply" not in r.stderr, r.stdout + r.stderr
    assert _without_peer_flag(node.link_state("enp68s0", pod)) == _without_peer_flag(before)
    r = node.run("DEL", conf, netns=node.pod_path(pod))
    assert r.ok and "not restored" not in r.stderr, r.stdout + r.stderr
    assert node.link_state("enp68s0") == before


def _without_peer_flag(state: dict[str, Any]) -> dict[str, Any]:
    # ip shows M-DOWN (the veth peer is down) only while the peer is in the same namespace
    link = dict(state["link"], flags=[f for f in state["link"]["flags"] if f != "M-DOWN"])
    return dict(state, link=link)


def test_rename_option_uses_cni_ifname_and_restores_host_name(node: Node) -> None:
    before = _seed_nic(node)
    pod = node.add_pod()
    conf = node.conf(deviceID=BDF, rdma="skip", renameToIfname=True)
    r = node.run("ADD", conf, netns=node.pod_path(pod), ifname="net1")
    assert r.ok, r.stdout + r.stderr
    assert r.out and r.out["interfaces"][0]["name"] == "net1"
    inside = node.link_state("net1", pod)
    # IPv4 labels follow the rename, everything else is the host's.
    assert [a["label"] for a in inside["addrs"] if a["family"] == "inet"] == ["net1"] * 3
    assert inside["link"]["mtu"] == 9000 and inside["routes"] == before["routes"]
    assert node.run("DEL", conf, netns=node.pod_path(pod), ifname="net1").ok
    assert node.link_state("enp68s0") == before


def test_down_nic_stays_down(node: Node) -> None:
    node.add_nic("enp68s0", BDF, addrs=("55.1.1.56/24",), up=False)
    before = node.link_state("enp68s0")
    pod = node.add_pod()
    conf = node.conf(deviceID=BDF, rdma="skip")
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    assert node.link_state("enp68s0", pod)["link"]["flags"] == before["link"]["flags"]
    assert node.run("DEL", conf, netns=node.pod_path(pod)).ok
    assert node.link_state("enp68s0") == before


@pytest.mark.parametrize("netns_at_del", ["empty", "stale"])
def test_del_after_pod_netns_is_gone(node: Node, netns_at_del: str) -> None:
    before = _seed_nic(node)
    pod = node.add_pod()
    path = node.pod_path(pod)
    conf = node.conf(deviceID=BDF, rdma="skip", returnTimeoutSeconds=2)
    assert node.run("ADD", conf, netns=path).ok
    node.emulate_nic_return(pod, "enp68s0")
    node.delete_pod(pod)
    assert node.link_state("enp68s0") != before  # back, but down and bare: as the kernel returns it
    r = node.run("DEL", conf, netns="" if netns_at_del == "empty" else path)
    assert r.ok, r.stdout + r.stderr
    assert node.link_state("enp68s0") == before
    assert node.state_files() == []


def test_del_finds_nic_returned_as_devN_after_a_clash(node: Node) -> None:
    before = _seed_nic(node)
    pod = node.add_pod()
    conf = node.conf(deviceID=BDF, rdma="skip", renameToIfname=True, returnTimeoutSeconds=2)
    assert node.run("ADD", conf, netns=node.pod_path(pod), ifname="net1").ok
    index = node.ip_json("link show dev net1", pod)[0]["ifindex"]
    # The kernel returns a NIC whose pod-side name is taken on the host as dev<ifindex>.
    node.ip("link add net1 type veth peer name net1p")
    node.ip(f"link set net1 name dev{index}", pod)
    node.emulate_nic_return(pod, f"dev{index}")
    node.delete_pod(pod)
    assert node.run("DEL", conf, netns="", ifname="net1").ok
    assert node.link_state("enp68s0") == before
    assert node.has_link("net1")  # the unrelated interface is untouched


def test_del_twice_and_del_without_add_change_nothing(node: Node) -> None:
    before = _seed_nic(node)
    pod = node.add_pod()
    conf = node.conf(deviceID=BDF, rdma="skip")
    assert node.run("DEL", conf, netns=node.pod_path(pod), container_id="never-added").ok
    assert node.link_state("enp68s0") == before
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    for _ in range(3):
        r = node.run("DEL", conf, netns=node.pod_path(pod))
        assert r.ok, r.stdout
    assert node.link_state("enp68s0") == before and node.state_files() == []


def test_add_twice_is_refused_and_first_attachment_untouched(node: Node) -> None:
    _seed_nic(node)
    pod = node.add_pod()
    conf = node.conf(deviceID=BDF, rdma="skip")
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    inside = node.link_state("enp68s0", pod)
    again = node.run("ADD", conf, netns=node.pod_path(pod))
    assert again.code != 0 and again.out is not None and again.out["code"] == 100
    other = node.run("ADD", conf, netns=node.pod_path(node.add_pod()), container_id="other")
    assert other.out is not None and other.out["code"] in (7, 100), other.stdout
    assert node.link_state("enp68s0", pod) == inside


def test_chained_with_tuning_and_sbr(node: Node) -> None:
    """A conflist [amd-host-device, tuning, sbr] run as libcni does: prevResult flows down."""
    plugins = Path("/usr/lib/cni")
    before = _seed_nic(node)
    pod = node.add_pod()
    path = node.pod_path(pod)
    base = {"cniVersion": "1.0.0", "name": "amd-host-device-nad-nic"}
    ours = node.conf(**base, deviceID=BDF, rdma="skip")
    r = node.run("ADD", ours, netns=path)
    assert r.ok, r.stdout
    result = r.out
    for conf in ({**base, "type": "tuning", "sysctl": {"net.ipv4.conf.enp68s0.arp_filter": "1"}}, {**base, "type": "sbr"}):
        proc = subprocess.run(
            ["ip", "netns", "exec", node.host, str(plugins / conf["type"])],
            input=json.dumps(conf | {"prevResult": result}).encode(), capture_output=True,
            env={"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c0ffee", "CNI_NETNS": path, "CNI_IFNAME": "enp68s0", "CNI_PATH": str(plugins)},
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
        result = json.loads(proc.stdout)
    # sbr moved the routes of enp68s0 into a table of their own, with a rule per source address.
    rules = node.ip_json("rule show", pod)
    assert any(rule.get("src") == "55.1.1.56" for rule in rules), rules
    assert node.run("DEL", ours | {"prevResult": result}, netns=path).ok
    assert node.link_state("enp68s0") == before


def test_eight_devices_into_eight_pods_concurrently(node: Node) -> None:
    names = [f"enp{i}s0" for i in range(8)]
    for i, name in enumerate(names):
        node.add_nic(name, f"0000:{0x40 + i:02x}:00.0", addrs=(f"55.1.{i}.56/24", f"fd00:{i}::5/64 nodad"), mtu=9000)
    before = {name: node.link_state(name) for name in names}
    pods = [node.add_pod() for _ in names]

    def attach(i: int) -> tuple[int, str]:
        r = node.run("ADD", node.conf(deviceID=f"0000:{0x40 + i:02x}:00.0", rdma="skip"), netns=node.pod_path(pods[i]), container_id=f"pod{i}")
        return r.code, r.stdout

    def detach(i: int) -> tuple[int, str]:
        r = node.run("DEL", node.conf(deviceID=f"0000:{0x40 + i:02x}:00.0", rdma="skip"), netns=node.pod_path(pods[i]), container_id=f"pod{i}")
        return r.code, r.stdout

    with ThreadPoolExecutor(8) as pool:
        assert all(code == 0 for code, _ in pool.map(attach, range(8)))
        for i, name in enumerate(names):
            assert node.link_state(name, pods[i]) == before[name]
        assert all(code == 0 for code, _ in pool.map(detach, range(8)))
    assert {name: node.link_state(name) for name in names} == before
    assert node.state_files() == []
