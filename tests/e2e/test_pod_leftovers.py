"""A DEL without a usable record takes nothing of the pod's for the host's (issue 16, items 5, 10).

A pod with NET_ADMIN owns its NIC while it has it: it can plant addresses and routes (a default
route, say). A DEL without a usable record used to take them as the host's. Now nothing of the
pod's configuration is trusted, and only a PCI or auxiliary parent proves which interface in
the pod is the configured device; these veth stand-ins have none, so the device is left where
it is and DEL says so. The real-NIC path, where the device does come home (name and MTU, no
addresses or routes), is in tests/vm/test_vm_record_loss.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.harness import Node, netns_view, seed_rich_nic, state_view

BDF = "0000:44:00.0"
NIC = "enp68s0"
NETWORK_DIR = "networks/amd-host-device-nad-nic"


def _conf(node: Node, **extra: Any) -> dict[str, Any]:
    return node.conf(**{"deviceID": BDF, "rdma": "skip", "logLevel": "info", **extra})


def test_a_del_without_a_record_never_imports_what_the_pod_planted(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)
    before = netns_view(node)
    pod = node.add_pod()
    conf = _conf(node)
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    # The pod (NET_ADMIN) plants a default route and an address on its NIC...
    node.ip(f"addr add 203.0.113.66/24 dev {NIC}", pod)
    node.ip(f"route add default via 203.0.113.1 dev {NIC}", pod)
    # ... and the record is lost.
    (node.state_dir / NETWORK_DIR / "c0ffee:net1.json").write_bytes(b"{torn")

    r = node.run("DEL", conf, netns=node.pod_path(pod))
    assert r.ok, r.stdout + r.stderr
    assert "PCI or auxiliary parent" in r.stderr, r.stderr  # a stand-in proves nothing: said so
    host = netns_view(node)
    assert not any("203.0.113" in route for route in host["routes"])
    assert not any("default" in json.loads(route).get("dst", "") for route in host["routes"])
    assert host["links"].keys() == before["links"].keys() - {NIC}  # nothing moved to the host
    assert node.has_link(NIC, pod)


def test_a_del_without_any_record_takes_nothing_the_config_does_not_prove(node: Node) -> None:
    """Item 10 on a stand-in: the record deleted outright; a veth has no PCI parent to prove it
    is the configured device, so it is left in the pod and DEL says so."""
    seed_rich_nic(node, NIC, BDF)
    pod = node.add_pod()
    conf = _conf(node)
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    (node.state_dir / NETWORK_DIR / "c0ffee:net1.json").unlink()
    pod_view = netns_view(node, pod)
    r = node.run("DEL", conf, netns=node.pod_path(pod))
    assert r.ok and "PCI or auxiliary parent" in r.stderr, r.stdout + r.stderr
    assert netns_view(node, pod) == pod_view
