"""Per-interface sysctls, neighbour-table parameters and permanent/proxy neighbours through the
plugin: the pod gets the host's, DEL gives the host its own back (also after the pod's netns died
and after a SIGKILL at the step that applies them), CHECK looks at them, a refused value is logged
and the attachment goes on.

Every other e2e test compares these too (``netns_view`` holds them, ``seed_rich_nic`` sets them);
these tests look at them one by one.
"""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.harness import (
    Node,
    enable_test_faults,
    fault_env,
    interface_sysctls,
    netns_view,
    seed_rich_nic,
    sh,
    state_view,
)

BDF = "0000:44:00.0"
NIC = "enp68s0"
SIGKILLED = -9


def _conf(node: Node, **extra: Any) -> dict[str, Any]:
    return node.conf(deviceID=BDF, rdma="skip", returnTimeoutSeconds=1, logLevel="info", logFile=str(node.log_file), **extra)


def _of(node: Node, dev: str, ns: str | None = None) -> dict[str, str]:
    """The interface's own sysctls, keyed without the interface name (net.ipv4.conf.rp_filter)."""
    values = {}
    for key, value in interface_sysctls(node, ns).items():
        parts = key.split(".")
        if parts[3] == dev:
            values[".".join(parts[:3] + parts[4:])] = value
    assert values, f"no sysctls of {dev}"
    return values


def _neighbours(node: Node, dev: str, ns: str | None = None) -> list[str]:
    found = node.ip_json(f"neigh show dev {dev} nud permanent", ns) + node.ip_json(f"neigh show proxy dev {dev}", ns)
    return sorted(json.dumps({k: v for k, v in n.items() if k != "dev"}, sort_keys=True) for n in found)


def _sysctl(node: Node, ns: str, *assignments: str) -> None:
    sh(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *assignments])


def test_the_pod_gets_the_hosts_interface_state_and_del_gives_the_host_its_own_back(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)
    before, host_values, host_neighbours = netns_view(node), _of(node, NIC), _neighbours(node, NIC)
    assert host_values["net.ipv4.conf.rp_filter"] == "2" and host_values["net.ipv6.conf.accept_ra"] == "0"
    pod = node.add_pod()
    conf = _conf(node, renameToIfname=True)
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    assert _of(node, "net1", pod) == host_values  # every value, the IPv6 MTU below the link's too
    assert _neighbours(node, "net1", pod) == host_neighbours
    # the pod's own business from here on: not carried back
    _sysctl(node, pod, "net.ipv4.conf.net1.rp_filter=0", "net.ipv4.conf.net1.forwarding=1", "net.ipv6.conf.net1.accept_ra=2")
    node.ip("neigh del 55.1.1.9 dev net1", pod)
    node.ip("neigh add 55.1.1.99 lladdr 02:00:00:00:00:99 dev net1 nud permanent", pod)
    assert node.run("DEL", conf, netns=node.pod_path(pod)).ok
    assert netns_view(node) == before and state_view(node) == {}


def test_del_after_the_pod_died_gives_back_what_the_kernel_reset(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)
    before, host_values = netns_view(node), _of(node, NIC)
    pod = node.add_pod()
    conf = _conf(node)
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    node.emulate_nic_return(pod, NIC)  # what the kernel does with a physical NIC whose netns dies
    node.delete_pod(pod)
    returned = _of(node, NIC)
    assert (returned["net.ipv4.conf.rp_filter"], returned["net.ipv4.conf.arp_ignore"]) == ("0", "0")  # the loss
    assert returned != host_values and _neighbours(node, NIC) == []
    assert node.run("DEL", conf, netns=node.pod_path(pod)).ok
    assert netns_view(node) == before and state_view(node) == {}


def test_sigkill_right_after_the_sysctls_step_is_undone_by_the_next_del(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)
    enable_test_faults(node)
    before = netns_view(node)
    pod = node.add_pod()
    conf = _conf(node)
    r = node.run("ADD", conf, netns=node.pod_path(pod), env=fault_env("add:after-sysctls", "kill"))
    assert r.code == SIGKILLED and r.stdout == "", (r.code, r.stdout, r.stderr)
    # killed between the two steps: the pod's interface has the host's sysctls, no addresses yet
    assert _of(node, NIC, pod)["net.ipv4.conf.rp_filter"] == "2"
    assert not [a for a in node.ip_json(f"addr show dev {NIC}", pod)[0]["addr_info"] if a["family"] == "inet"]
    assert node.run("DEL", conf, netns=node.pod_path(pod)).ok
    assert netns_view(node) == before and state_view(node) == {}


def test_check_fails_for_a_lost_permanent_neighbour_and_reports_changed_sysctls(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)
    pod = node.add_pod()
    conf = _conf(node, cniVersion="1.0.0")
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    assert node.run("CHECK", conf, netns=node.pod_path(pod)).ok
    _sysctl(node, pod, f"net.ipv4.conf.{NIC}.rp_filter=1")  # what a chained tuning plugin may do
    r = node.run("CHECK", conf, netns=node.pod_path(pod))
    assert r.ok, r.stdout
    assert f"net.ipv4.conf.{NIC}.rp_filter is 1 in the pod, 2 on the host" in node.plugin_log()
    node.ip(f"neigh del proxy 55.1.1.20 dev {NIC}", pod)
    r = node.run("CHECK", conf, netns=node.pod_path(pod))
    assert r.code == 1 and r.out is not None and r.out["code"] == 103, r.stdout
    assert "lacks the permanent neighbour(s) 55.1.1.20 (proxy)" in r.out["msg"]
    assert node.run("DEL", conf, netns=node.pod_path(pod)).ok


def test_a_value_the_pod_cannot_keep_is_logged_and_add_succeeds(node: Node) -> None:
    """An IPv6 MTU below the link's holds only if written once the link has carrier (the kernel
    resets it when the carrier comes): the stand-in's peer is down, so no carrier comes. ADD waits
    a bounded time, succeeds and says so; DEL gives the host everything back and says it too."""
    seed_rich_nic(node, NIC, BDF)
    peer = next(link["ifname"] for link in node.ip_json("link show") if link.get("link") == NIC)
    node.ip(f"link set {peer} down")
    before = netns_view(node)
    pod = node.add_pod()
    conf = _conf(node)
    r = node.run("ADD", conf, netns=node.pod_path(pod))
    assert r.ok, r.stdout + r.stderr
    assert f"net.ipv6.conf.{NIC}.mtu=8000 not applied on {NIC} in the pod: the link has no carrier yet" in node.plugin_log()
    assert _of(node, NIC, pod)["net.ipv4.conf.rp_filter"] == "2"  # the rest applied
    assert node.run("DEL", conf, netns=node.pod_path(pod)).ok
    assert f"net.ipv6.conf.{NIC}.mtu=8000 not applied on {NIC}: the link has no carrier yet" in node.plugin_log()
    after = netns_view(node)
    assert {k: v for k, v in after.items() if k != "routes"} == {k: v for k, v in before.items() if k != "routes"}
    # Kernel-made, not ours: addrconf adds the ff00::/8 route when a link first becomes ready,
    # and this one has had no carrier since it came home.
    assert [json.loads(r)["dst"] for r in set(before["routes"]) - set(after["routes"])] == ["ff00::/8"]
    assert set(after["routes"]) <= set(before["routes"]) and state_view(node) == {}


def test_chained_tuning_runs_after_us_and_wins(node: Node) -> None:
    """Ours are applied while we run; a chained tuning plugin runs after us and sets its own."""
    seed_rich_nic(node, NIC, BDF)
    before = netns_view(node)
    pod = node.add_pod()
    ours = _conf(node)
    tuning = {"type": "tuning", "sysctl": {f"net.ipv4.conf.{NIC}.rp_filter": "1", f"net.ipv4.conf.{NIC}.arp_ignore": "2"}}
    result = node.run("ADD", ours, netns=node.pod_path(pod))
    assert result.ok and result.out is not None
    environ = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c0ffee", "CNI_NETNS": node.pod_path(pod), "CNI_IFNAME": "net1",
               "CNI_PATH": "/usr/lib/cni"}  # fmt: skip
    chained = {"cniVersion": "0.3.1", "name": "amd-host-device-nad-nic", **tuning, "prevResult": result.out}
    done = sh(["env", *(f"{k}={v}" for k, v in environ.items()), "/usr/lib/cni/tuning"], input=json.dumps(chained).encode(), check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    values = _of(node, NIC, pod)
    assert (values["net.ipv4.conf.rp_filter"], values["net.ipv4.conf.arp_ignore"]) == ("1", "2")  # tuning's
    assert values["net.ipv4.conf.arp_announce"] == "2"  # ours, untouched by tuning
    assert node.run("DEL", ours, netns=node.pod_path(pod)).ok
    assert netns_view(node) == before
