"""Altnames added inside the pod can't block DEL (issue 16, item 8).

A pod with NET_ADMIN can add altnames to its NIC. One that a host interface holds (as its name
or an altname) made the move back fail with EEXIST at every DEL: the pod blocked its own DEL.
Altnames the snapshot did not have are now removed before the move back, and those it had (a
pod may have removed them) are put back.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import Node, netns_view, seed_rich_nic, state_view

BDF = "0000:44:00.0"
NIC = "enp68s0"


def _conf(node: Node, **extra: Any) -> dict[str, Any]:
    return node.conf(**{"deviceID": BDF, "rdma": "skip", "logLevel": "info", **extra})


@pytest.mark.parametrize("clash", ["host-interface-name", "host-altname", "own-host-name"])
def test_altnames_added_in_the_pod_cannot_block_del(node: Node, clash: str) -> None:
    seed_rich_nic(node, NIC, BDF)
    node.ip(f"link property add dev {NIC} altname nic-kept-altname")  # the host's own: kept
    node.ip("link add cni0 type bridge")
    node.ip("link property add dev cni0 altname cni-alt")
    before = netns_view(node)
    pod = node.add_pod()
    rename = clash == "own-host-name"
    conf = _conf(node, renameToIfname=rename)
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    in_pod = "net1" if rename else NIC
    planted = {"host-interface-name": "cni0", "host-altname": "cni-alt", "own-host-name": NIC}[clash]
    node.ip(f"link property add dev {in_pod} altname {planted}", pod)
    node.ip(f"link property add dev {in_pod} altname pod-made-name", pod)

    r = node.run("DEL", conf, netns=node.pod_path(pod))
    assert r.ok, r.stdout + r.stderr
    assert netns_view(node) == before  # the host's altname back, the pod's gone, cni0 untouched
    assert state_view(node) == {}
