"""A NAD with an ``ipam`` section, driven like a runtime, with Debian's real IPAM plugins.

host-local and static from containernetworking-plugins do the allocating; host-local's
allocation files (in a private dataDir) are checked, not just exit codes. Where those plugins
cannot show something — GC and STATUS, which they do not implement and whose 1.1.0 they do not
speak; a plugin that hangs or fails on command — the recording stand-in (recording_ipam.py)
wraps the real host-local or answers itself, and says what it was asked.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from hostdev.cni.fault_injection import ADD_POINTS, DEL_POINTS, IPAM_ADD_POINTS, IPAM_DEL_POINTS
from tests.e2e.harness import Node, Result, enable_test_faults, fault_env, netns_view, seed_rich_nic, state_view, sh
from tests.e2e.ipam_world import VF, VF_BDF, Recorder, add_vf, host_local, ipam_conf, leases, pod_addresses, pod_routes

NIC = "enp68s0"
BDF = "0000:44:00.0"
SIGKILLED = -9


def _ok(r: Result) -> dict[str, Any]:
    assert r.ok, r.stdout + r.stderr
    return r.out or {}


def _vf_world(node: Node, **ipam_extra: Any) -> tuple[str, dict[str, Any]]:
    add_vf(node)
    return node.add_pod(), ipam_conf(node, host_local(node, **ipam_extra), deviceID=VF_BDF, rdma="skip")


# --- ADD and DEL -------------------------------------------------------------------------------


def test_vf_without_host_addresses_gets_its_address_from_host_local_and_none_after_del(node: Node) -> None:
    pod, conf = _vf_world(node, gateway="10.7.0.1")
    before = netns_view(node)
    out = _ok(node.run("ADD", conf, netns=node.pod_path(pod)))
    assert out["ips"] == [{"version": "4", "address": "10.7.0.2/24", "gateway": "10.7.0.1", "interface": 0}]
    assert out["routes"] == [{"dst": "0.0.0.0/0"}]
    assert out["interfaces"][0]["name"] == VF and out["interfaces"][0]["sandbox"] == node.pod_path(pod)
    assert pod_addresses(node, pod, VF) == ["10.7.0.2/24"]
    assert pod_routes(node, pod, VF) == [("default", "10.7.0.1")]  # the gateway of its address
    assert node.ip_json(f"link show dev {VF}", pod)[0]["operstate"] == "UP"
    assert leases(node) == {"10.7.0.2": ("c0ffee", "net1")}

    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))
    assert leases(node) == {}
    assert netns_view(node) == before  # no address, as it was
    assert pod_addresses(node, node.host, VF) == []
    assert state_view(node) == {}


def test_a_vf_that_is_down_on_the_host_is_up_in_the_pod_and_down_again_after(node: Node) -> None:
    add_vf(node, up=False)
    pod = node.add_pod()
    conf = ipam_conf(node, host_local(node), deviceID=VF_BDF, rdma="skip")
    before = node.link_state(VF)
    _ok(node.run("ADD", conf, netns=node.pod_path(pod)))
    assert "UP" in node.ip_json(f"link show dev {VF}", pod)[0]["flags"]  # routes need it up
    assert pod_routes(node, pod, VF) == [("default", "10.7.0.1")]
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))
    assert node.link_state(VF) == before and leases(node) == {}


def test_the_pod_gets_the_ipam_addresses_not_the_hosts(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)
    pod = node.add_pod()
    conf = ipam_conf(node, host_local(node, gateway="10.7.0.1"), deviceID=BDF, rdma="skip", cniVersion="1.0.0")
    before = netns_view(node)
    out = _ok(node.run("ADD", conf, netns=node.pod_path(pod)))
    assert [ip["address"] for ip in out["ips"]] == ["10.7.0.2/24"]
    assert pod_addresses(node, pod, NIC) == ["10.7.0.2/24"]
    assert pod_routes(node, pod, NIC) == [("default", "10.7.0.1")]  # none of the host's routes
    link = node.ip_json(f"-d link show dev {NIC}", pod)[0]
    assert link["mtu"] == 9000 and link["ifalias"] == "rdma nic 1"  # the rest of the host's settings
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))
    assert netns_view(node) == before and leases(node) == {} and state_view(node) == {}


def test_keep_host_addresses_gives_the_pod_both(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)
    pod = node.add_pod()
    conf = ipam_conf(node, host_local(node, gateway="10.7.0.1"), deviceID=BDF, rdma="skip", keepHostAddresses=True)
    before = netns_view(node)
    host_addrs = [f"{a['local']}/{a['prefixlen']}" for a in node.ip_json(f"addr show dev {NIC}")[0]["addr_info"] if a["scope"] != "link"]
    out = _ok(node.run("ADD", conf, netns=node.pod_path(pod)))
    assert [ip["address"] for ip in out["ips"]] == ["10.7.0.2/24", *host_addrs]
    assert all(ip["interface"] == 0 for ip in out["ips"])
    assert sorted(pod_addresses(node, pod, NIC)) == sorted(["10.7.0.2/24", *host_addrs])
    routes = pod_routes(node, pod, NIC)
    assert ("default", "10.7.0.1") in routes and ("192.168.1.0/24", "55.1.1.1") in routes
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))
    assert netns_view(node) == before and leases(node) == {}


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"])
def test_result_in_every_version_with_ipam_dns_and_gateways(node: Node, version: str) -> None:
    add_vf(node)
    pod = node.add_pod()
    resolv = node.work / "resolv.conf"
    resolv.write_text("nameserver 10.7.0.53\nsearch pod.example\noptions ndots:2\n")
    ipam = host_local(node, gateway="10.7.0.1", routes=[{"dst": "0.0.0.0/0"}, {"dst": "10.80.0.0/16", "gw": "10.7.0.254"}], resolvConf=str(resolv))
    conf = ipam_conf(node, ipam, deviceID=VF_BDF, rdma="skip", cniVersion=version)
    out = _ok(node.run("ADD", conf, netns=node.pod_path(pod)))
    dns = {"nameservers": ["10.7.0.53"], "search": ["pod.example"], "options": ["ndots:2"]}
    if version in ("0.1.0", "0.2.0"):
        assert out == {"cniVersion": version, "ip4": {"ip": "10.7.0.2/24", "gateway": "10.7.0.1", "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.80.0.0/16", "gw": "10.7.0.254"}]}, "dns": dns}
    else:
        ip: dict[str, Any] = {"address": "10.7.0.2/24", "gateway": "10.7.0.1", "interface": 0}
        if version != "1.0.0":
            ip = {"version": "4", **ip}
        assert out["ips"] == [ip] and out["dns"] == dns
        assert out["routes"] == [{"dst": "0.0.0.0/0"}, {"dst": "10.80.0.0/16", "gw": "10.7.0.254"}]
    assert pod_routes(node, pod, VF) == [("10.80.0.0/16", "10.7.0.254"), ("default", "10.7.0.1")]
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))
    assert leases(node) == {}


def test_dual_stack_routes_use_their_familys_gateway_and_dad_is_done(node: Node) -> None:
    add_vf(node)
    pod = node.add_pod()
    ipam = host_local(node, ranges=[[{"subnet": "10.7.0.0/24"}], [{"subnet": "fd00:7::/64"}]], routes=[{"dst": "0.0.0.0/0"}, {"dst": "::/0"}, {"dst": "fd10::/64", "gw": "fd00:7::fe"}])
    conf = ipam_conf(node, ipam, deviceID=VF_BDF, rdma="skip", cniVersion="1.0.0")
    out = _ok(node.run("ADD", conf, netns=node.pod_path(pod)))
    assert [(ip["address"], ip.get("gateway")) for ip in out["ips"]] == [("10.7.0.2/24", "10.7.0.1"), ("fd00:7::2/64", "fd00:7::1")]
    assert pod_routes(node, pod, VF) == sorted([("default", "10.7.0.1"), ("default", "fd00:7::1"), ("fd10::/64", "fd00:7::fe")])
    info = node.ip_json(f"addr show dev {VF}", pod)[0]["addr_info"]
    assert not [a for a in info if a.get("tentative")]  # usable at once: ADD waited for DAD
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))
    assert leases(node) == {}


def test_static_gets_multus_ips_capability_untouched(node: Node) -> None:
    add_vf(node)
    pod = node.add_pod()
    ipam = {"type": "static", "routes": [{"dst": "10.10.0.0/16", "gw": "10.9.0.1"}]}
    runtime = {"ips": ["10.9.0.5/24", "fd00:9::5/64"], "mac": "02:00:00:00:00:05", "deviceID": VF_BDF}
    conf = ipam_conf(node, ipam, runtimeConfig=runtime, rdma="skip", cniVersion="1.0.0")
    out = _ok(node.run("ADD", conf, netns=node.pod_path(pod)))
    assert [ip["address"] for ip in out["ips"]] == ["10.9.0.5/24", "fd00:9::5/64"]
    assert sorted(pod_addresses(node, pod, VF)) == ["10.9.0.5/24", "fd00:9::5/64"]
    assert pod_routes(node, pod, VF) == [("10.10.0.0/16", "10.9.0.1")]
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))
    assert not node.has_link(VF, pod) and pod_addresses(node, node.host, VF) == []


def test_the_whole_configuration_reaches_the_ipam_plugin_byte_for_byte(node: Node) -> None:
    rec = Recorder(node)
    add_vf(node)
    pod = node.add_pod()
    conf = ipam_conf(node, rec.ipam(node), deviceID=VF_BDF, rdma="skip", runtimeConfig={"ips": ["10.7.0.9/24"], "mac": "02:00:00:00:00:05", "unknownCapability": [1]}, cniVersion="1.0.0", prevResult={"cniVersion": "1.0.0", "interfaces": [], "ips": []})
    out = _ok(node.run("ADD", conf, netns=node.pod_path(pod), env={"CNI_ARGS": "K8S_POD_NAME=p1;IgnoreUnknown=1"}))
    assert [ip["address"] for ip in out["ips"]] == ["10.7.0.9/24"]  # host-local honours the ips capability
    (call,) = rec.calls()
    assert call["command"] == "ADD" and call["stdin"] == conf
    assert (call["containerID"], call["ifname"], call["netns"]) == ("c0ffee", "net1", node.pod_path(pod))
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))
    assert rec.commands() == ["ADD", "DEL"]


def test_a_chained_result_points_at_our_interface(node: Node) -> None:
    pod, conf = _vf_world(node)
    prev = {"cniVersion": "1.0.0", "interfaces": [{"name": "cni0"}, {"name": "eth0", "sandbox": node.pod_path(pod)}], "ips": [{"address": "10.1.0.5/16", "interface": 1}]}
    out = _ok(node.run("ADD", conf | {"cniVersion": "1.0.0", "prevResult": prev}, netns=node.pod_path(pod)))
    assert [i["name"] for i in out["interfaces"]] == ["cni0", "eth0", VF]
    assert out["ips"] == [{"address": "10.1.0.5/16", "interface": 1}, {"address": "10.7.0.2/24", "gateway": "10.7.0.1", "interface": 2}]
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))


# --- refusals and failures ----------------------------------------------------------------------


def _unchanged(node: Node, pod: str, host: dict[str, Any], pod_before: dict[str, Any]) -> None:
    assert netns_view(node) == host and netns_view(node, pod) == pod_before
    assert state_view(node) == {} and leases(node) == {}


def test_the_ipam_plugins_error_is_ours_and_nothing_changes(node: Node) -> None:
    pod, conf = _vf_world(node, subnet="10.7.0.0/30")  # one address besides the gateway
    other = node.add_pod()
    add_vf_bdf = "0000:45:00.3"
    node.add_nic("enp69s0v1", add_vf_bdf, driver="iavf")
    _ok(node.run("ADD", conf | {"deviceID": add_vf_bdf}, netns=node.pod_path(other), container_id="first"))
    host, pod_before = netns_view(node), netns_view(node, pod)
    r = node.run("ADD", conf, netns=node.pod_path(pod), container_id="second")
    assert r.code == 1 and r.out is not None
    assert r.out["code"] == 999 and "no IP addresses available in range set" in r.out["msg"]  # host-local's words
    assert netns_view(node) == host and netns_view(node, pod) == pod_before
    assert leases(node) == {"10.7.0.2": ("first", "net1")}


@pytest.mark.parametrize("point", ADD_POINTS[1:] + IPAM_ADD_POINTS)
def test_a_failure_at_any_step_leaves_no_allocation_and_nothing_changed(node: Node, point: str) -> None:
    seed_rich_nic(node, NIC, BDF)
    enable_test_faults(node)
    pod = node.add_pod()
    conf = ipam_conf(node, host_local(node), deviceID=BDF, rdma="auto")
    host, pod_before = netns_view(node), netns_view(node, pod)
    r = node.run("ADD", conf, netns=node.pod_path(pod), env=fault_env(point, "fail"))
    assert r.code == 1 and r.out is not None and f"injected failure at {point}" in r.out["details"], r.stdout + r.stderr
    _unchanged(node, pod, host, pod_before)


def test_a_route_the_kernel_refuses_rolls_back_and_releases(node: Node) -> None:
    pod, conf = _vf_world(node, routes=[{"dst": "10.80.0.0/16", "gw": "192.0.2.1"}])  # gateway not on the link
    host, pod_before = netns_view(node), netns_view(node, pod)
    r = node.run("ADD", conf, netns=node.pod_path(pod))
    assert r.code == 1 and r.out is not None and "10.80.0.0/16" in r.out["msg"], r.stdout
    _unchanged(node, pod, host, pod_before)


def test_a_name_taken_in_the_pod_leaves_no_allocation(node: Node) -> None:
    pod, conf = _vf_world(node)
    node.ip(f"link add {VF} type veth peer name x0", pod)
    host, pod_before = netns_view(node), netns_view(node, pod)
    r = node.run("ADD", conf, netns=node.pod_path(pod))
    assert r.code == 1 and r.out is not None and r.out["code"] == 101
    _unchanged(node, pod, host, pod_before)


def test_a_hanging_ipam_plugin_is_killed_reported_as_11_and_rolled_back(node: Node) -> None:
    rec = Recorder(node)
    add_vf(node)
    pod = node.add_pod()
    conf = ipam_conf(node, rec.ipam(node), deviceID=VF_BDF, rdma="skip", ipamTimeoutSeconds=1)
    host, pod_before = netns_view(node), netns_view(node, pod)
    rec.hang("ADD")
    r = node.run("ADD", conf, netns=node.pod_path(pod))
    assert r.code == 1 and r.out is not None and r.out["code"] == 11, r.stdout
    assert "did not answer ADD within 1 s" in r.out["msg"]
    assert rec.commands() == ["ADD", "DEL"]  # the rollback released whatever it might have taken
    _unchanged(node, pod, host, pod_before)


@pytest.mark.parametrize("name", ["../evil", "/tmp/evil", "..", ".evil", "a/../../evil", "evil\nx", "evil x"])
def test_ipam_types_that_climb_out_of_cni_path_are_refused_and_run_nothing(node: Node, name: str) -> None:
    canary = node.work / "ran"
    evil = node.work / "evil"
    evil.write_text(f"#!/bin/sh\ntouch {canary}\necho '{{}}'\n")
    evil.chmod(0o755)
    node.cni_path.insert(0, str(node.work / "bin"))
    (node.work / "bin").mkdir()
    pod, conf = _vf_world(node)
    host, pod_before = netns_view(node), netns_view(node, pod)
    conf["ipam"]["type"] = name
    for command in ("ADD", "CHECK", "DEL"):
        r = node.run(command, conf | {"cniVersion": "1.0.0"}, netns=node.pod_path(pod))
        assert r.code == 1 and r.out is not None and r.out["code"] == 7 and r.out["msg"] == "invalid ipam.type", r.stdout
    assert not canary.exists()
    assert netns_view(node) == host and netns_view(node, pod) == pod_before and state_view(node) == {}


def test_an_ipam_plugin_not_in_cni_path_is_code_7_and_nothing_changes(node: Node) -> None:
    pod, conf = _vf_world(node)
    conf["ipam"]["type"] = "whereabouts"
    host, pod_before = netns_view(node), netns_view(node, pod)
    r = node.run("ADD", conf, netns=node.pod_path(pod))
    assert r.code == 1 and r.out is not None and r.out["code"] == 7 and "whereabouts" in r.out["msg"], r.stdout
    assert netns_view(node) == host and netns_view(node, pod) == pod_before and state_view(node) == {}


# --- SIGKILL at every step: the next DEL (or GC) releases and restores ---------------------------


@pytest.mark.parametrize("point", ADD_POINTS + IPAM_ADD_POINTS)
def test_a_killed_add_is_undone_and_released_by_the_next_del(node: Node, point: str) -> None:
    seed_rich_nic(node, NIC, BDF)
    enable_test_faults(node)
    pod = node.add_pod()
    conf = ipam_conf(node, host_local(node), deviceID=BDF, rdma="auto", returnTimeoutSeconds=1)
    host, pod_before = netns_view(node), netns_view(node, pod)
    r = node.run("ADD", conf, netns=node.pod_path(pod), env=fault_env(point, "kill"))
    assert r.code == SIGKILLED and r.stdout == "", (r.code, r.stdout, r.stderr)
    if point in IPAM_ADD_POINTS:
        assert leases(node) == {"10.7.0.2": ("c0ffee", "net1")}  # the allocation the DEL must release
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))
    _unchanged(node, pod, host, pod_before)


@pytest.mark.parametrize("point", IPAM_DEL_POINTS + DEL_POINTS)
def test_an_interrupted_del_is_finished_by_the_next_del(node: Node, point: str) -> None:
    seed_rich_nic(node, NIC, BDF)
    enable_test_faults(node)
    pod = node.add_pod()
    conf = ipam_conf(node, host_local(node), deviceID=BDF, rdma="auto", returnTimeoutSeconds=1)
    host, pod_before = netns_view(node), netns_view(node, pod)
    _ok(node.run("ADD", conf, netns=node.pod_path(pod)))
    r = node.run("DEL", conf, netns=node.pod_path(pod), env=fault_env(point, "kill"))
    assert r.code == SIGKILLED, (r.code, r.stdout, r.stderr)
    # IPAM's undo comes first once the device's lock is held: released before any later point.
    assert leases(node) == ({"10.7.0.2": ("c0ffee", "net1")} if point == "del:after-lock" else {})
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))
    _unchanged(node, pod, host, pod_before)


def test_a_killed_add_is_released_by_gc_too(node: Node) -> None:
    """GC (1.1.0) after ADD died just after IPAM allocated: the record names the IPAM plugin, so
    GC releases the allocation of that attachment (host-local has no GC of its own)."""
    rec = Recorder(node)
    seed_rich_nic(node, NIC, BDF)
    enable_test_faults(node)
    pod = node.add_pod()
    conf = ipam_conf(node, rec.ipam(node), deviceID=BDF, rdma="auto", returnTimeoutSeconds=1, cniVersion="1.1.0")
    host, pod_before = netns_view(node), netns_view(node, pod)
    r = node.run("ADD", conf, netns=node.pod_path(pod), env=fault_env(IPAM_ADD_POINTS[0], "kill"))
    assert r.code == SIGKILLED, (r.code, r.stdout, r.stderr)
    assert leases(node) == {"10.7.0.2": ("c0ffee", "net1")}
    _ok(node.run("GC", conf | {"cni.dev/valid-attachments": []}, unset=("CNI_CONTAINERID", "CNI_IFNAME")))
    assert [(c["command"], c["containerID"]) for c in rec.calls()[1:]] == [("DEL", "c0ffee"), ("GC", None)]
    _unchanged(node, pod, host, pod_before)


# --- DEL in hard places --------------------------------------------------------------------------


def test_del_after_the_pod_netns_is_gone_releases_and_restores(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)
    pod = node.add_pod()
    conf = ipam_conf(node, host_local(node), deviceID=BDF, rdma="skip")
    host = netns_view(node)
    _ok(node.run("ADD", conf, netns=node.pod_path(pod)))
    node.emulate_nic_return(pod, NIC)  # what the kernel does with a physical NIC
    node.delete_pod(pod)
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))
    assert netns_view(node) == host and leases(node) == {} and state_view(node) == {}


def test_del_with_the_nic_gone_still_releases(node: Node) -> None:
    pod, conf = _vf_world(node)
    _ok(node.run("ADD", conf | {"returnTimeoutSeconds": 0.5}, netns=node.pod_path(pod)))
    node.ip(f"link del {VF}", pod)  # hot-unplugged, driver unbound: gone everywhere
    r = node.run("DEL", conf | {"returnTimeoutSeconds": 0.5}, netns=node.pod_path(pod))
    assert r.ok, r.stdout + r.stderr
    assert leases(node) == {}


def test_del_without_a_record_releases_from_the_configuration_alone(node: Node) -> None:
    pod, conf = _vf_world(node)
    _ok(node.run("ADD", conf, netns=node.pod_path(pod)))
    for path in (node.state_dir / "networks").rglob("*.json"):
        path.unlink()  # gone: the plugin knows only what the configuration says
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))
    assert leases(node) == {}


def test_del_with_a_corrupt_record_releases_the_allocation(node: Node) -> None:
    """The allocation is released from the configuration alone; the device itself comes home only
    when its PCI parent proves it (a real NIC, tests/vm/test_vm_record_loss.py, without the pod's
    addresses): this veth stand-in stays in the pod, and DEL says why."""
    pod, conf = _vf_world(node)
    _ok(node.run("ADD", conf, netns=node.pod_path(pod)))
    for path in (node.state_dir / "networks").rglob("*.json"):
        path.write_text("{torn")
    r = node.run("DEL", conf, netns=node.pod_path(pod))
    _ok(r)
    assert leases(node) == {}
    assert "PCI or auxiliary parent" in r.stderr


def test_del_without_add_and_repeated_del_release_and_succeed(node: Node) -> None:
    pod, conf = _vf_world(node)
    rec_free = leases(node)
    for _ in range(3):
        _ok(node.run("DEL", conf, netns=node.pod_path(pod)))
    assert leases(node) == rec_free == {}
    _ok(node.run("ADD", conf, netns=node.pod_path(pod)))
    for _ in range(3):
        _ok(node.run("DEL", conf, netns=node.pod_path(pod)))
        assert leases(node) == {} and state_view(node) == {}


def test_a_failing_ipam_del_still_gives_the_device_back_and_is_reported(node: Node) -> None:
    rec = Recorder(node)
    add_vf(node)
    pod = node.add_pod()
    conf = ipam_conf(node, rec.ipam(node), deviceID=VF_BDF, rdma="skip")
    host = netns_view(node)
    _ok(node.run("ADD", conf, netns=node.pod_path(pod)))
    rec.fail("DEL", 11, "datastore unreachable", "try later")
    r = node.run("DEL", conf, netns=node.pod_path(pod))
    assert r.code == 1 and r.out is not None and (r.out["code"], r.out["msg"]) == (11, "datastore unreachable")
    assert netns_view(node) == host  # the device is not held hostage by its IPAM
    assert leases(node) == {"10.7.0.2": ("c0ffee", "net1")}
    rec.heal()
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))  # the runtime's retry
    assert leases(node) == {} and netns_view(node) == host and state_view(node) == {}


# --- CHECK ----------------------------------------------------------------------------------------


def test_check_asks_ipam_then_looks_at_the_pod(node: Node) -> None:
    pod, conf = _vf_world(node, gateway="10.7.0.1", routes=[{"dst": "0.0.0.0/0"}, {"dst": "10.80.0.0/16", "gw": "10.7.0.254"}])
    conf["cniVersion"] = "1.0.0"
    out = _ok(node.run("ADD", conf, netns=node.pod_path(pod)))
    check = conf | {"prevResult": out}
    _ok(node.run("CHECK", check, netns=node.pod_path(pod)))

    node.ip(f"route del 10.80.0.0/16 via 10.7.0.254 dev {VF}", pod)
    r = node.run("CHECK", check, netns=node.pod_path(pod))
    assert r.out is not None and r.out["code"] == 103 and "10.80.0.0/16" in r.out["msg"], r.stdout
    node.ip(f"route add 10.80.0.0/16 via 10.7.0.254 dev {VF}", pod)
    _ok(node.run("CHECK", check, netns=node.pod_path(pod)))

    node.ip(f"addr del 10.7.0.2/24 dev {VF}", pod)
    r = node.run("CHECK", check, netns=node.pod_path(pod))
    assert r.out is not None and r.out["code"] == 103 and "10.7.0.2/24" in r.out["msg"], r.stdout
    node.ip(f"addr add 10.7.0.2/24 dev {VF}", pod)
    node.ip(f"route replace default via 10.7.0.1 dev {VF}", pod)
    node.ip(f"route replace 10.80.0.0/16 via 10.7.0.254 dev {VF}", pod)
    _ok(node.run("CHECK", check, netns=node.pod_path(pod)))

    (node.work / "ipam" / "amd-host-device-nad-vnic" / "10.7.0.2").unlink()  # the reservation is gone
    r = node.run("CHECK", check, netns=node.pod_path(pod))
    assert r.out is not None and r.out["code"] == 999 and "Failed to find address added by container c0ffee" in r.out["msg"], r.stdout
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))


# --- GC and STATUS (1.1.0) -----------------------------------------------------------------------


def test_gc_releases_stale_attachments_and_hands_the_valid_list_to_ipam_gc(node: Node) -> None:
    rec = Recorder(node)
    add_vf(node)
    node.add_nic("enp69s0v1", "0000:45:00.3", driver="iavf")
    alive, stale = node.add_pod(), node.add_pod()
    conf = ipam_conf(node, rec.ipam(node), rdma="skip", cniVersion="1.1.0")
    _ok(node.run("ADD", conf | {"deviceID": VF_BDF}, netns=node.pod_path(alive), container_id="alive"))
    _ok(node.run("ADD", conf | {"deviceID": "0000:45:00.3"}, netns=node.pod_path(stale), container_id="stale"))
    assert set(leases(node).values()) == {("alive", "net1"), ("stale", "net1")}
    valid = [{"containerID": "alive", "ifname": "net1"}]
    gc = conf | {"cni.dev/valid-attachments": valid}
    _ok(node.run("GC", gc, unset=("CNI_CONTAINERID", "CNI_IFNAME")))  # as a runtime sends GC
    assert leases(node) == {"10.7.0.2": ("alive", "net1")}
    calls = rec.calls()[2:]
    assert [(c["command"], c["containerID"]) for c in calls] == [("DEL", "stale"), ("GC", None)]
    assert calls[0]["netns"] is None  # the stale pod's netns is not ours to name
    assert calls[1]["stdin"]["cni.dev/valid-attachments"] == valid
    _ok(node.run("DEL", conf, netns=node.pod_path(alive), container_id="alive"))


def test_gc_reports_an_ipam_gc_failure_as_its_own(node: Node) -> None:
    rec = Recorder(node)
    conf = ipam_conf(node, rec.ipam(node), cniVersion="1.1.0", **{"cni.dev/valid-attachments": []})
    rec.fail("GC", 11, "datastore locked")
    r = node.run("GC", conf)
    assert r.out is not None and (r.out["code"], r.out["msg"]) == (11, "datastore locked"), r.stdout


def test_status_is_the_ipam_plugins_status(node: Node) -> None:
    rec = Recorder(node)
    conf = ipam_conf(node, rec.ipam(node), cniVersion="1.1.0")
    _ok(node.run("STATUS", conf))
    assert rec.commands() == ["STATUS"]
    rec.fail("STATUS", 51, "address pool exhausted", "10.7.0.0/24: 254 of 254 in use")
    r = node.run("STATUS", conf)
    assert r.out is not None and (r.out["code"], r.out["msg"], r.out["details"]) == (51, "address pool exhausted", "10.7.0.0/24: 254 of 254 in use")
    conf["ipam"]["type"] = "no-such-ipam"
    r = node.run("STATUS", conf)
    assert r.out is not None and r.out["code"] == 50 and "no-such-ipam" in r.out["msg"] + r.out["details"], r.stdout


# --- DPDK mode ----------------------------------------------------------------------------------


def test_dpdk_mode_calls_no_ipam_and_says_so(node: Node) -> None:
    rec = Recorder(node)
    node.sysfs.add_pci_function("0000:45:00.4", driver="vfio-pci", netdevs=[])
    pod = node.add_pod()
    conf = ipam_conf(node, rec.ipam(node), deviceID="0000:45:00.4", cniVersion="1.1.0")
    out = _ok(node.run("ADD", conf, netns=node.pod_path(pod)))
    assert out["ips"] == [] and out["interfaces"][0]["pciID"] == "0000:45:00.4"
    assert "vfio-pci" in out["ipamSkipped"] and "DPDK" in out["ipamSkipped"]
    assert rec.commands() == [] and leases(node) == {}
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)))


# --- start-up: the IPAM code is loaded only for a configuration that has ipam ------------------

IPAM_MODULES = {"hostdev.cni.ipam", "hostdev.cni.ipam_step", "hostdev.cni.ipam_result", "hostdev.cni.delegate", "hostdev.addressing"}
NEVER = {"subprocess", "threading", "locale", "warnings", "selectors", "socket", "signal", "enum", "typing", "re", "json"}


def _imported(node: Node, command: str, conf: dict[str, Any], pod: str) -> set[str]:
    interpreter, *flags = node.plugin.read_text().splitlines()[0][2:].split()
    r = node.run(command, conf, netns=node.pod_path(pod), wrapper=(interpreter, "-X", "importtime", *flags))
    _ok(r)
    return {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines() if line.startswith("import time:") and "|" in line}


def test_ipam_code_is_imported_only_for_a_configuration_with_ipam(node: Node) -> None:
    pod, conf = _vf_world(node)
    plain = {k: v for k, v in conf.items() if k != "ipam"}
    for command in ("ADD", "DEL"):
        loaded = _imported(node, command, plain, pod)
        assert "hostdev.cni.add" in loaded or command == "DEL"
        assert not loaded & (IPAM_MODULES | NEVER), (command, loaded & (IPAM_MODULES | NEVER))
    for command in ("ADD", "DEL"):
        loaded = _imported(node, command, conf, pod)
        assert {"hostdev.cni.ipam", "hostdev.cni.delegate"} <= loaded
        assert not loaded & NEVER, (command, loaded & NEVER)
