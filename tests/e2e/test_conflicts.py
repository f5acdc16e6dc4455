"""Conflicts and repeats: a name taken on the host, a device changed inside the pod, commands
run again. DEL finds the device by stable identity, never by name alone, and refuses to clobber
an interface that is not the device."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import Node, Result, netns_view, seed_rich_nic, state_view

BDF = "0000:44:00.0"
NIC = "enp68s0"


def _conf(node: Node, **extra: Any) -> dict[str, Any]:
    return node.conf(cniVersion="1.0.0", deviceID=BDF, rdma="auto", returnTimeoutSeconds=0.3, **extra)


def _code(r: Result) -> int | None:
    assert "Traceback" not in r.stdout + r.stderr
    return None if r.out is None else int(r.out["code"])


@pytest.mark.parametrize("squatter", ["bridge", "veth"])
def test_host_name_taken_while_the_pod_lives(node: Node, squatter: str) -> None:
    seed_rich_nic(node, NIC, BDF)
    before = netns_view(node)
    pod = node.add_pod()
    conf = _conf(node)
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    pod_attached, state_attached = netns_view(node, pod), state_view(node)
    node.ip(f"link add {NIC} type {squatter}" + (" peer name squatp" if squatter == "veth" else ""))
    host_with_squatter = netns_view(node)

    r = node.run("DEL", conf, netns=node.pod_path(pod))
    assert _code(r) == 11, r.stdout
    assert r.out is not None and NIC in r.out["msg"] and "now exists on the host" in r.out["msg"]
    assert netns_view(node, pod) == pod_attached  # the device stays intact in the pod
    assert netns_view(node) == host_with_squatter  # and the squatter is untouched
    assert state_view(node) == state_attached

    node.ip(f"link del {NIC}")
    r = node.run("DEL", conf, netns=node.pod_path(pod))
    assert r.ok, r.stdout + r.stderr
    assert netns_view(node) == before and state_view(node) == {}


def test_host_name_taken_when_the_device_came_back_on_its_own(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)
    before = netns_view(node)
    pod = node.add_pod()
    conf = _conf(node, renameToIfname=True)
    assert node.run("ADD", conf, netns=node.pod_path(pod), ifname="net1").ok
    node.emulate_nic_return(pod, "net1")  # the pod died; the NIC is back under its pod-side name
    node.delete_pod(pod)
    node.ip(f"link add {NIC} type bridge")
    returned = netns_view(node)

    r = node.run("DEL", conf, netns="", ifname="net1")
    assert _code(r) == 11 and r.out is not None and NIC in r.out["msg"], r.stdout
    assert netns_view(node) == returned and len(state_view(node)) == 1

    node.ip(f"link del {NIC}")
    r = node.run("DEL", conf, netns="", ifname="net1")
    assert r.ok, r.stdout + r.stderr
    assert netns_view(node) == before and state_view(node) == {}


CHANGES = {
    "rename": "link set {dev} down; link set {dev} name renamed0; link set renamed0 up",
    "readdress": "addr flush dev {dev}; addr add 192.0.2.9/24 dev {dev}; addr add fd99::9/64 dev {dev} nodad",
    "mtu": "link set {dev} mtu 1400",
    "mac": "link set {dev} address 02:00:00:00:be:ef",
    "alias-and-down": "link set {dev} alias changed; link set {dev} down",
    "everything": (
        "link set {dev} down; link set {dev} name renamed0; link set renamed0 mtu 1280; "
        "link set renamed0 address 02:00:00:00:be:ef; addr flush dev renamed0; "
        "addr add 192.0.2.9/24 dev renamed0; link set renamed0 up"
    ),
    # A newcomer takes the device's pod-side name after the device was renamed: DEL must bring
    # back the device (found by identity), not the impostor.
    "impostor": (
        "link set {dev} down; link set {dev} name renamed0; link set renamed0 address 02:00:00:00:be:ef; "
        "link add {dev} type veth peer name imp1; link set {dev} up"
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_del_finds_the_device_changed_inside_the_pod(node: Node, change: str) -> None:
    seed_rich_nic(node, NIC, BDF)
    before = netns_view(node)
    pod = node.add_pod()
    conf = _conf(node)
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    for command in CHANGES[change].format(dev=NIC).split("; "):
        node.ip(command, pod)
    r = node.run("DEL", conf, netns=node.pod_path(pod))
    assert r.ok, r.stdout + r.stderr
    assert netns_view(node) == before
    assert state_view(node) == {}
    left_in_pod = set(netns_view(node, pod)["links"])
    assert left_in_pod == ({"lo", NIC, "imp1"} if change == "impostor" else {"lo"})


# --- repeats -----------------------------------------------------------------------------------


def test_add_twice_is_refused_and_the_first_attachment_is_untouched(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)
    pod = node.add_pod()
    conf = _conf(node)
    first = node.run("ADD", conf, netns=node.pod_path(pod))
    assert first.ok
    pod_attached, state_attached, host_attached = netns_view(node, pod), state_view(node), netns_view(node)
    again = node.run("ADD", conf, netns=node.pod_path(pod))
    assert _code(again) == 100 and again.out is not None and "already exists" in again.out["msg"], again.stdout
    other_pod = node.add_pod()
    other = node.run("ADD", conf, netns=node.pod_path(other_pod), container_id="another")
    assert _code(other) == 100 and other.out is not None and "c0ffee" in other.out["msg"], other.stdout
    assert netns_view(node, pod) == pod_attached and netns_view(node) == host_attached
    assert netns_view(node, other_pod)["links"].keys() == {"lo"}
    assert state_view(node) == state_attached
    check = node.run("CHECK", conf | {"prevResult": first.out}, netns=node.pod_path(pod))
    assert check.ok, check.stdout


def test_add_refuses_a_pod_that_already_has_the_name(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)
    before = netns_view(node)
    pod = node.add_pod()
    node.ip(f"link add {NIC} type bridge", pod)
    pod_before = netns_view(node, pod)
    r = node.run("ADD", _conf(node), netns=node.pod_path(pod))
    assert _code(r) == 101 and r.out is not None and NIC in r.out["msg"], r.stdout
    assert netns_view(node) == before and netns_view(node, pod) == pod_before
    assert state_view(node) == {}


def test_del_three_times_del_without_add_and_check_after_del(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)
    before = netns_view(node)
    pod = node.add_pod()
    conf = _conf(node)
    path = node.pod_path(pod)
    for netns in (path, "", "/run/netns/never-existed"):
        r = node.run("DEL", conf, netns=netns or None, container_id="never-added")
        assert r.ok and r.stdout == "", r.stdout
    check = node.run("CHECK", conf, netns=path)
    assert _code(check) == 3, check.stdout  # nothing recorded for this container
    assert netns_view(node) == before and state_view(node) == {}

    assert node.run("ADD", conf, netns=path).ok
    for _ in range(3):
        r = node.run("DEL", conf, netns=path)
        assert r.ok and r.stdout == "", r.stdout + r.stderr
        assert netns_view(node) == before and state_view(node) == {}
    check = node.run("CHECK", conf, netns=path)
    assert _code(check) == 3, check.stdout
    assert netns_view(node) == before and state_view(node) == {}
