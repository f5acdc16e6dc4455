"""README promises that had no test of their own, on the installed binary and stand-in NICs.

Each test names the README sentence it holds the plugin to. What this kernel cannot show (RDMA
devices that move, real PCI NICs) is in tests/vm/test_vm_promises.py.
"""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Node, Result, netns_view, seed_rich_nic, state_view

BDF = "0000:44:00.0"
NIC = "enp68s0"
OTHER_BDF, OTHER_NIC = "0000:45:00.0", "enp69s0"
RDMA_FAILED, CHECK_FAILED, TRY_AGAIN_LATER, PLUGIN_NOT_AVAILABLE = 110, 103, 11, 50
# README, "What an admin sees": 2026-01-01T12:00:00 amd-host-device[<pid>] WARN [<container-id:12> <ifname>] <message>
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d amd-host-device\[(\d+)\] (ERROR|WARN|INFO|DEBUG) \[(\S{1,12}) (\S+)\] (.+)")
CONTAINER_ID = "c0ffee0123456789abcdef"


def _ok(r: Result) -> None:
    assert r.ok, r.stdout + r.stderr


def _refused(r: Result, code: int) -> dict[str, Any]:
    assert r.code == 1 and r.out is not None and r.out["code"] == code, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    return r.out


def _log_lines(text: str) -> list[re.Match[str]]:
    lines = [line for line in text.splitlines() if line.strip()]
    matches = [LOG_LINE.fullmatch(line) for line in lines]
    assert all(matches), [line for line, m in zip(lines, matches) if m is None]
    return [m for m in matches if m is not None]


# --- device selection (README, "The plugin": "first present wins and the rest must agree") ------


def _mac(node: Node, name: str) -> str:
    return str(node.ip_json(f"link show dev {name}")[0]["address"])


@pytest.mark.parametrize("selector", ["hwaddr", "kernelpath", "runtimeConfig.deviceID"])
def test_each_selector_alone_attaches_and_gives_back_the_device(node: Node, selector: str) -> None:
    seed_rich_nic(node, NIC, BDF)
    node.add_nic(OTHER_NIC, OTHER_BDF, addrs=("55.2.2.2/24",))  # selected by nothing: must not move
    before, pod = netns_view(node), node.add_pod()
    value: dict[str, Any] = {
        "hwaddr": {"hwaddr": _mac(node, NIC).upper().replace(":", "-")},
        "kernelpath": {"kernelpath": f"/sys/devices/pci0000:00/{BDF}"},
        "runtimeConfig.deviceID": {"runtimeConfig": {"deviceID": BDF}},
    }[selector]
    conf = node.conf(cniVersion="1.1.0", rdma="skip", **value)
    r = node.run("ADD", conf, netns=node.pod_path(pod))
    _ok(r)
    assert r.out is not None and r.out["interfaces"][0]["name"] == NIC
    assert node.has_link(NIC, pod) and not node.has_link(NIC) and node.has_link(OTHER_NIC)
    _ok(node.run("CHECK", conf, netns=node.pod_path(pod)))
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))
    assert netns_view(node) == before and state_view(node) == {}


# --- RDMA (README, code 110: "rdma: required and there is none. The ADD was undone") ------------


def test_rdma_required_without_an_rdma_device_is_110_and_changes_nothing(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)  # a stand-in: no RDMA device in sysfs or RDMA netlink
    before, pod = netns_view(node), node.add_pod()
    pod_before = netns_view(node, pod)
    out = _refused(node.run("ADD", node.conf(deviceID=BDF, rdma="required"), netns=node.pod_path(pod)), RDMA_FAILED)
    assert out["msg"].startswith("rdma is required but"), out
    assert netns_view(node) == before and netns_view(node, pod) == pod_before and state_view(node) == {}
    _ok(node.run("ADD", node.conf(deviceID=BDF, rdma="auto"), netns=node.pod_path(pod)))  # auto: fine without


# --- routes (README, log lines: "route … not restored on <nic>: … Everything else was restored") --


@pytest.mark.parametrize("why", ["its source address is gone", "another route is in its place"])
def test_a_route_that_cannot_come_back_at_del_is_logged_and_everything_else_is_restored(node: Node, why: str) -> None:
    seed_rich_nic(node, NIC, BDF)
    node.add_nic(OTHER_NIC, OTHER_BDF, addrs=("55.2.2.2/24",))
    # A route of the NIC whose preferred source lives on the other interface.
    node.ip(f"route add 192.168.77.0/24 via 55.1.1.1 dev {NIC} src 55.2.2.2")
    before = node.link_state(NIC)
    pod = node.add_pod()
    conf = node.conf(deviceID=BDF, rdma="skip")
    r = node.run("ADD", conf, netns=node.pod_path(pod))
    _ok(r)  # (in the pod that source does not exist either: logged, the ADD goes on)
    (line,) = _log_lines(r.stderr)
    assert line.group(2) == "WARN" and line.group(5).startswith("route 192.168.77.0/24 ") and "in the pod" in line.group(5)
    if why == "its source address is gone":
        node.ip(f"addr del 55.2.2.2/24 dev {OTHER_NIC}")
        lost_dst = "192.168.77.0/24"
    else:  # the admin routed a prefix of the NIC elsewhere meanwhile; that route must stay
        node.ip(f"route add 192.168.1.0/24 via 55.2.2.1 dev {OTHER_NIC}")
        lost_dst = "192.168.1.0/24"
    others = node.link_state(OTHER_NIC)
    r = node.run("DEL", conf, netns=node.pod_path(pod))
    _ok(r)
    warnings = [m.group(5) for m in _log_lines(r.stderr) if m.group(2) == "WARN"]
    assert [w for w in warnings if w.startswith(f"route {lost_dst} not restored on {NIC}: ")], warnings
    after = node.link_state(NIC)
    lost = {route for route in before["routes"] if route not in after["routes"]}
    assert lost_dst in {json.loads(route)["dst"] for route in lost}
    if why == "another route is in its place":
        assert {json.loads(route)["dst"] for route in lost} == {lost_dst}
    assert {**after, "routes": before["routes"]} == before  # name, MAC, MTU, alias, up, addresses
    assert set(after["routes"]) == set(before["routes"]) - lost
    assert node.link_state(OTHER_NIC) == others  # the admin's route and interface untouched
    assert state_view(node) == {}


# --- code 11 (README: "the device is ambiguous; a GC could not finish every attachment") --------


def test_a_device_two_host_interfaces_match_is_11_and_nothing_is_touched(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)
    before, pod = netns_view(node), node.add_pod()
    conf = node.conf(deviceID=BDF, rdma="skip", returnTimeoutSeconds=0.3)
    _ok(node.run("ADD", conf, netns=node.pod_path(pod)))
    mac = _mac_in(node, NIC, pod)
    node.emulate_nic_return(pod, NIC)
    node.delete_pod(pod)
    # A second veth with the stand-in's MAC: for a device without strong marks (kind + MAC)
    # two host interfaces now fit equally well.
    node.ip(f"link add twin0 address {mac} type veth peer name twin0p")
    returned, twin = node.ip_json(f"-d link show dev {NIC}"), node.ip_json("-d link show dev twin0")
    state = state_view(node)
    out = _refused(node.run("DEL", conf, netns=node.pod_path(pod)), TRY_AGAIN_LATER)
    assert out["msg"] == f"device {BDF} is ambiguous" and NIC in out["details"] and "twin0" in out["details"], out
    assert node.ip_json(f"-d link show dev {NIC}") == returned and node.ip_json("-d link show dev twin0") == twin
    assert state_view(node) == state  # kept for the retry
    node.ip("link del twin0")
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))
    assert netns_view(node) == before and state_view(node) == {}


def _mac_in(node: Node, name: str, pod: str) -> str:
    return str(node.ip_json(f"link show dev {name}", pod)[0]["address"])


def test_gc_that_cannot_finish_an_attachment_is_11_and_finishes_the_others(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)
    seed_rich_nic(node, OTHER_NIC, OTHER_BDF, octet=2)
    before, other_before = netns_view(node), node.link_state(OTHER_NIC)
    pods = [node.add_pod(), node.add_pod()]
    for pod, bdf, cid in ((pods[0], BDF, "pod-a"), (pods[1], OTHER_BDF, "pod-b")):
        _ok(node.run("ADD", node.conf(deviceID=bdf, rdma="skip"), netns=node.pod_path(pod), container_id=cid))
    blocked = state_view(node)["networks/amd-host-device-nad-nic/pod-a:net1.json"]
    node.ip(f"link add {NIC} type veth peer name squatp")  # someone took the first NIC's name
    gc = node.conf(cniVersion="1.1.0", **{"cni.dev/valid-attachments": []})
    out = _refused(node.run("GC", gc), TRY_AGAIN_LATER)
    assert out["msg"] == "GC could not restore 1 attachment(s)", out
    assert "pod-a/net1" in out["details"] and NIC in out["details"], out
    assert node.has_link(NIC, pods[0])  # left where it is, untouched
    assert node.link_state(OTHER_NIC) == other_before and not node.has_link(OTHER_NIC, pods[1])  # the other: home
    assert state_view(node) == {"networks/amd-host-device-nad-nic/pod-a:net1.json": blocked}
    node.ip(f"link del {NIC}")
    _ok(node.run("GC", gc))
    assert netns_view(node) == before and state_view(node) == {}


# --- STATUS (README: "state dir usable and netlink answers, else code 50") ----------------------


@pytest.mark.parametrize(
    ("syscall", "error"), [("socket", "EAFNOSUPPORT"), ("sendto", "ECONNREFUSED"), ("recvfrom", "EIO")]
)
def test_status_when_netlink_does_not_answer_is_50(node: Node, syscall: str, error: str) -> None:
    conf = node.conf(cniVersion="1.1.0")
    _ok(node.run("STATUS", conf))
    # strace makes every such call of the plugin fail, as a seccomp filter or a broken kernel
    # interface would: the netlink request never gets its answer.
    wrapper = ("strace", "-f", "-qq", "-o", "/dev/null", "-e", f"trace={syscall}", "-e", f"inject={syscall}:error={error}")
    out = _refused(node.run("STATUS", conf, wrapper=wrapper), PLUGIN_NOT_AVAILABLE)
    assert out["msg"] == "rtnetlink does not answer", out
    assert f"[Errno {getattr(errno, error)}]" in out["details"], out


def test_status_with_an_unusable_state_directory_is_50(node: Node, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o777)
    state.chmod(0o777)  # world-writable: refused
    assert node.settings is not None
    node.settings["stateDir"] = str(state)  # the node's state directory
    out = _refused(node.run("STATUS", node.conf(cniVersion="1.1.0")), PLUGIN_NOT_AVAILABLE)
    assert out["msg"] == f"state directory {state} is unusable", out


# --- logging (README: the line format; "The default logLevel is warn") --------------------------


def test_log_lines_have_the_documented_format_and_warn_is_the_default_level(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)
    pod = node.add_pod()
    log_file = node.work / "plugin.log"
    conf = node.conf(deviceID=BDF, rdma="skip", logFile=str(log_file))  # no logLevel: the default
    ids = {"container_id": CONTAINER_ID, "ifname": "net7"}
    r = node.run("ADD", conf, netns=node.pod_path(pod), **ids)
    _ok(r)
    assert r.stderr == "" and not log_file.exists()  # a clean ADD says nothing at warn
    # Something worth a warning: the NIC is neither in its pod nor back on the host (another
    # namespace holds it), so DEL keeps the state for later.
    elsewhere = node.add_pod()
    node.ip(f"link set {NIC} netns {elsewhere}", pod)
    r = node.run("DEL", conf | {"returnTimeoutSeconds": 0}, netns=node.pod_path(pod), **ids)
    _ok(r)
    (line,) = _log_lines(r.stderr)  # no INFO/DEBUG by default: "waiting up to 0s" is not shown
    assert line.group(2) == "WARN" and "has not returned to the host yet" in line.group(5), line.group(0)
    assert (line.group(3), line.group(4)) == (CONTAINER_ID[:12], "net7")
    assert int(line.group(1)) > 1  # the plugin's own pid
    assert log_file.read_text() == r.stderr  # the same line in logFile

    node.ip(f"link set {NIC} netns {node.host}", elsewhere)
    r = node.run("DEL", conf | {"logLevel": "info"}, netns=node.pod_path(pod), **ids)
    _ok(r)
    assert {m.group(2) for m in _log_lines(r.stderr)} == {"INFO"}  # info: one line per step
    assert state_view(node) == {}


# --- DPDK mode (README: "A function bound to vfio-pci/uio_pci_generic/igb_uio has no netdev: ADD
# succeeds without moving anything"). Decision (issue 12): the attachment is recorded all the
# same, so the function is held by one pod at a time (100 for a second), CHECK can tell whether
# it is still handed to userspace (103 if not) and DEL/GC release it; nothing is ever moved.

DPDK_BDF = "0000:46:00.0"
DEVICE_BUSY = 100


@pytest.mark.parametrize("driver", ["vfio-pci", "uio_pci_generic", "igb_uio"])
def test_dpdk_function_is_attached_without_moving_anything_and_held_until_del(node: Node, driver: str) -> None:
    node.sysfs.add_pci_function(DPDK_BDF, driver=driver)  # no netdev: a userspace driver owns it
    seed_rich_nic(node, NIC, BDF)  # a bystander
    pods = [node.add_pod(), node.add_pod()]
    before, pods_before = netns_view(node), [netns_view(node, p) for p in pods]
    conf = node.conf(cniVersion="1.1.0", deviceID=DPDK_BDF)
    r = node.run("ADD", conf, netns=node.pod_path(pods[0]), container_id="dpdk-a")
    _ok(r)
    assert r.out is not None
    assert r.out["interfaces"] == [{"name": "net1", "sandbox": node.pod_path(pods[0]), "pciID": DPDK_BDF}]
    assert "ips" not in r.out or r.out["ips"] == []
    assert netns_view(node) == before and [netns_view(node, p) for p in pods] == pods_before
    assert list(state_view(node)) == ["networks/amd-host-device-nad-nic/dpdk-a:net1.json"]

    busy = _refused(node.run("ADD", conf, netns=node.pod_path(pods[1]), container_id="dpdk-b"), DEVICE_BUSY)
    assert busy["msg"] == f"device {DPDK_BDF} is attached to container dpdk-a (net1)", busy
    _ok(node.run("CHECK", conf, netns=node.pod_path(pods[0]), container_id="dpdk-a"))

    _ok(node.run("DEL", conf, netns=node.pod_path(pods[0]), container_id="dpdk-a"))
    assert state_view(node) == {}
    _ok(node.run("DEL", conf, netns=node.pod_path(pods[0]), container_id="dpdk-a"))  # twice: a no-op
    _ok(node.run("ADD", conf, netns=node.pod_path(pods[1]), container_id="dpdk-b"))  # free again
    gc = node.conf(cniVersion="1.1.0", **{"cni.dev/valid-attachments": []})
    _ok(node.run("GC", gc))
    assert state_view(node) == {}
    assert netns_view(node) == before and [netns_view(node, p) for p in pods] == pods_before


def test_check_of_a_dpdk_attachment_fails_once_the_function_is_back_with_a_kernel_driver(node: Node) -> None:
    node.sysfs.add_pci_function(DPDK_BDF, driver="vfio-pci")
    pod = node.add_pod()
    conf = node.conf(cniVersion="1.0.0", deviceID=DPDK_BDF)
    _ok(node.run("ADD", conf, netns=node.pod_path(pod)))
    _ok(node.run("CHECK", conf, netns=node.pod_path(pod)))
    node.sysfs.bind(DPDK_BDF, "ixgbe")  # the admin gave it back to the kernel
    out = _refused(node.run("CHECK", conf, netns=node.pod_path(pod)), CHECK_FAILED)
    assert out["msg"] == f"{DPDK_BDF} is no longer bound to a userspace driver (now ixgbe)", out
    node.sysfs.bind(DPDK_BDF, "vfio-pci")
    _ok(node.run("CHECK", conf, netns=node.pod_path(pod)))
    node.delete_pod(pod)  # the pod is gone: its attachment cannot be as ADD left it
    out = _refused(node.run("CHECK", conf, netns=node.pod_path(pod)), CHECK_FAILED)
    assert "is not the namespace" in out["msg"], out
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))  # DEL without the pod: released all the same
    assert state_view(node) == {}
