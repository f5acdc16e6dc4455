"""One source of truth for the lengths of container IDs and network names (issue 16, Low).

The protocol layer took IDs and names up to 255 characters and the state store only up to 200
(its file names must fit NAME_MAX): a 201-character container ID passed validation, then ADD and
DEL failed with code 5 (state store failure). Now one limit is checked up front for every
command, with the code that names where the text came from.
"""

from __future__ import annotations

from tests.e2e.harness import Node, netns_view, seed_rich_nic, state_view

BDF = "0000:44:00.0"


def test_the_longest_container_id_and_network_name_work_end_to_end(node: Node) -> None:
    seed_rich_nic(node, "enp68s0", BDF)
    before = netns_view(node)
    pod = node.add_pod()
    conf = node.conf(deviceID=BDF, rdma="skip", name="n" * 200)
    cid = "c" * 200
    assert node.run("ADD", conf, netns=node.pod_path(pod), container_id=cid).ok
    assert state_view(node)
    assert node.run("DEL", conf, netns=node.pod_path(pod), container_id=cid).ok
    assert netns_view(node) == before and state_view(node) == {}


def test_one_character_more_is_refused_up_front_by_every_command(node: Node) -> None:
    seed_rich_nic(node, "enp68s0", BDF)
    before = netns_view(node)
    pod = node.add_pod()
    conf = node.conf(deviceID=BDF, rdma="skip")
    for command in ("ADD", "DEL"):
        r = node.run(command, conf, netns=node.pod_path(pod), container_id="c" * 201)
        assert r.out is not None and r.out["code"] == 4 and "200" in r.out["details"], r.stdout
        r = node.run(command, conf | {"name": "n" * 201}, netns=node.pod_path(pod))
        assert r.out is not None and r.out["code"] == 7 and "200" in r.out["details"], r.stdout
    assert netns_view(node) == before and state_view(node) == {}
