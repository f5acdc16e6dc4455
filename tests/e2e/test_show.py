"""`hostdev show`: the inventory with no pods, with pods, and with a pod whose netns is gone."""

from __future__ import annotations

import json

from tests.e2e.harness import PYTHON, REPO, Node, sh

BDFS = {"enp68s0": "0000:44:00.0", "enp69s0": "0000:45:00.0"}


def _show(node: Node) -> dict[str, object]:
    for bdf in BDFS.values():
        (node.sysfs.device_dir(bdf) / "class").write_text("0x020000\n")
    proc = sh(
        f"ip netns exec {node.host} {PYTHON} -m hostdev.tools.cli show --json "
        f"--sysfs {node.sysfs.root} --state-dir {node.state_dir}"
    )
    return json.loads(proc.stdout)


def _rows(data: dict[str, object]) -> dict[str, dict[str, object]]:
    nics = data["nics"]
    assert isinstance(nics, list)
    return {nic["pci"]: nic for nic in nics}


def test_show_host_pod_and_gone(node: Node) -> None:
    assert REPO.exists()
    for name, bdf in BDFS.items():
        node.add_nic(name, bdf, addrs=(f"55.1.{bdf[6]}.56/24",), mtu=9000)
    rows = _rows(_show(node))
    assert rows["0000:44:00.0"]["netns"] == "host" and rows["0000:44:00.0"]["attachment"] is None
    assert rows["0000:44:00.0"]["addresses"] == ["55.1.4.56/24"] and rows["0000:44:00.0"]["mtu"] == 9000

    pod = node.add_pod()
    conf = node.conf(deviceID="0000:44:00.0", rdma="skip", returnTimeoutSeconds=0.2)
    assert node.run("ADD", conf, netns=node.pod_path(pod), container_id="abc123", ifname="net1").ok
    rows = _rows(_show(node))
    held = rows["0000:44:00.0"]
    assert held["netns"] == node.pod_path(pod) and held["attachment"] == "abc123 net1 (amd-host-device-nad-nic)"
    assert held["addresses"] == ["55.1.4.56/24"] and held["state"] == "up" and held["phase"] == "attached"
    assert rows["0000:45:00.0"]["netns"] == "host"

    node.delete_pod(pod)  # a veth dies with its netns: the record is all that is left
    held = _rows(_show(node))["0000:44:00.0"]
    assert held["netns"] == "pod (netns gone)" and held["attachment"] == "abc123 net1 (amd-host-device-nad-nic)"


def test_show_json_lists_the_settings_an_admin_changed_where_the_nic_is(node: Node) -> None:
    for name, bdf in BDFS.items():
        node.add_nic(name, bdf, addrs=(f"55.1.{bdf[6]}.56/24",), mtu=9000)
    sh(f"ip netns exec {node.host} sysctl -q -w net.ipv4.conf.enp68s0.rp_filter=2 net.ipv6.conf.enp68s0.accept_ra=0")
    node.ip("ntable change name arp_cache dev enp68s0 delay_probe 1500")
    expected = {
        "net.ipv4.conf.enp68s0.rp_filter": "2",
        "net.ipv6.conf.enp68s0.accept_ra": "0",
        "net.ipv4.neigh.enp68s0.delay_first_probe_time_ms": "1500",
    }
    rows = _rows(_show(node))
    assert rows["0000:44:00.0"]["settings"] == expected
    assert rows["0000:45:00.0"]["settings"] == {}  # all defaults: nothing to show

    pod = node.add_pod()
    conf = node.conf(deviceID="0000:44:00.0", rdma="skip", returnTimeoutSeconds=0.2)
    assert node.run("ADD", conf, netns=node.pod_path(pod), container_id="abc123", ifname="net1").ok
    held = _rows(_show(node))["0000:44:00.0"]
    assert held["netns"] == node.pod_path(pod) and held["settings"] == expected  # the pod's defaults are the host's here
    assert node.run("DEL", conf, netns=node.pod_path(pod), container_id="abc123", ifname="net1").ok
