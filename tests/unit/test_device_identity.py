"""Which link is "the device" (issue 16, H1): the rule, for every kind of record.

On the host side only what a device cannot lose proves it: its PCI/auxiliary parent and its
permanent MAC, both as netlink reports them; a link of another kind (bridge, veth, bond, vlan)
is never the NIC, and the ifindex — which restarts after a reboot and is kept across netns moves
when free — never counts there. Inside the pod's own namespace (its identity checked by
st_dev/st_ino) the recorded ifindex is evidence, still within the same kind.

The real-kernel proofs of the same rule: tests/e2e/test_identity.py (veth stand-ins, bridges)
and tests/vm/test_vm_identity.py (a real e1000).
"""

from __future__ import annotations

from typing import Any

import pytest

from hostdev._netlink.rtnl_link import Link
from hostdev.cni.device import DeviceIdentity
from hostdev.cni.errors import CniError

NIC_BDF = "0000:44:00.0"
NIC_MAC = "0c:42:a1:00:00:01"
NIC_PERM = "0c:42:a1:00:00:01"


def link(index: int, name: str, *, kind: str | None = None, mac: str | None = NIC_MAC, perm: str | None = None,
         parent: tuple[str, str] | None = None) -> Link:  # fmt: skip
    return Link(
        index=index, name=name, flags=0, arphrd=1, mac=mac, mtu=1500, alias=None, altnames=(), operstate=None,
        kind=kind, perm_mac=perm, parent_dev_name=parent[1] if parent else None,
        parent_bus_name=parent[0] if parent else None, master=None, num_vf=None, netns_immutable=None,
    )  # fmt: skip


def identity(**overrides: Any) -> DeviceIdentity:
    fields: dict[str, Any] = dict(
        id=NIC_BDF, pci_address=NIC_BDF, auxiliary_id=None, perm_mac=NIC_PERM, mac=NIC_MAC, host_name="enp68s0",
        host_index=7, kind=None, parent_bus="pci", parent_dev=NIC_BDF,
    )  # fmt: skip
    fields.update(overrides)
    return DeviceIdentity(**fields)


PHYSICAL = identity()
PARENT_ONLY = identity(perm_mac=None)
PERM_MAC_ONLY = identity(parent_bus=None, parent_dev=None)
NO_STRONG_MARK = identity(perm_mac=None, parent_bus=None, parent_dev=None)
STAND_IN = identity(pci_address=NIC_BDF, perm_mac=None, parent_bus=None, parent_dev=None, kind="veth")

# Interfaces that may sit where the device was: at its recorded ifindex (7 on the host, 12 in
# the pod), with its name, even with its MAC copied.
IMPOSTORS = {
    "bridge at index and name": link(7, "enp68s0", kind="bridge"),
    "veth at index and name": link(7, "enp68s0", kind="veth"),
    "bond with the MAC": link(7, "enp68s0", kind="bond"),
    "vlan at the pod index": link(12, "net1", kind="vlan"),
    "cni0 bridge at the index": link(7, "cni0", kind="bridge", mac="aa:bb:cc:00:00:07"),
}


@pytest.mark.parametrize("record", [PHYSICAL, PARENT_ONLY, PERM_MAC_ONLY, NO_STRONG_MARK], ids=["parent+perm", "parent", "perm", "none"])
@pytest.mark.parametrize("name", sorted(IMPOSTORS))
def test_a_virtual_link_is_never_a_physical_device(record: DeviceIdentity, name: str) -> None:
    impostor = IMPOSTORS[name]
    assert record.find_on_host([impostor]) is None
    assert record.find_in_pod([impostor], pod_index=impostor.index, pod_name=impostor.name) is None


def test_the_parent_decides_whatever_the_name_mac_or_ifindex() -> None:
    renamed = link(99, "dev99", mac="02:00:00:00:00:99", perm=NIC_PERM, parent=("pci", NIC_BDF))
    assert PHYSICAL.find_on_host([renamed]) == renamed
    assert PARENT_ONLY.find_on_host([link(99, "x", mac=None, parent=("pci", NIC_BDF))]) is not None
    other_function = link(7, "enp68s0", perm=NIC_PERM, parent=("pci", "0000:44:00.1"))
    assert PHYSICAL.find_on_host([other_function]) is None
    assert PARENT_ONLY.find_on_host([other_function]) is None
    # a recorded parent must be there: a physical link without one is not proven to be it
    assert PARENT_ONLY.find_on_host([link(7, "enp68s0")]) is None


def test_the_permanent_mac_decides_when_it_is_recorded() -> None:
    assert PERM_MAC_ONLY.find_on_host([link(3, "eth9", mac=None, perm=NIC_PERM)]) is not None
    assert PERM_MAC_ONLY.find_on_host([link(7, "enp68s0", perm="0c:42:a1:00:00:02")]) is None
    assert PERM_MAC_ONLY.find_on_host([link(7, "enp68s0", perm=None)]) is None  # the MAC alone is not it
    assert PHYSICAL.find_on_host([link(7, "enp68s0", perm="0c:42:a1:00:00:02", parent=("pci", NIC_BDF))]) is None


def test_auxiliary_parents_are_matched_on_their_own_bus() -> None:
    sf = identity(id="mlx5_core.sf.2", auxiliary_id="mlx5_core.sf.2", perm_mac=None, parent_bus="auxiliary",
                  parent_dev="mlx5_core.sf.2")  # fmt: skip
    assert sf.find_on_host([link(4, "enp1s0f0s2", parent=("auxiliary", "mlx5_core.sf.2"))]) is not None
    assert sf.find_on_host([link(4, "enp1s0f0s2", parent=("pci", "mlx5_core.sf.2"))]) is None


def test_virtio_net_is_matched_by_its_virtio_parent() -> None:
    virtio = identity(perm_mac=None, parent_bus="virtio", parent_dev="virtio3")
    assert virtio.find_on_host([link(9, "dev9", parent=("virtio", "virtio3"))]) is not None
    assert virtio.find_on_host([link(9, "dev9", parent=("virtio", "virtio4"))]) is None


def test_ifindex_is_never_evidence_on_the_host() -> None:
    # no strong mark recorded: even the very name, MAC and ifindex prove nothing on the host
    assert NO_STRONG_MARK.find_on_host([link(7, "enp68s0")]) is None
    assert NO_STRONG_MARK.host_problem() is not None
    assert "no PCI or auxiliary parent and no permanent MAC" in (NO_STRONG_MARK.host_problem() or "")
    assert PHYSICAL.host_problem() is None
    # a stand-in (virtual record) is matched by kind and MAC, never by ifindex or name
    assert STAND_IN.find_on_host([link(7, "enp68s0", kind="veth", mac="02:00:00:00:00:07")]) is None
    moved_back = link(31, "dev31", kind="veth")
    assert STAND_IN.find_on_host([link(7, "enp68s0", kind="veth", mac="02:00:00:00:00:07"), moved_back]) == moved_back


def test_in_the_pod_the_recorded_ifindex_counts_within_the_same_kind() -> None:
    # the pod renamed it and changed its MAC: the ifindex in the (verified) pod netns finds it
    changed = link(12, "eth0", mac="02:00:00:00:00:12")
    assert NO_STRONG_MARK.find_in_pod([changed, link(13, "net1")], pod_index=12, pod_name="net1") == changed
    assert STAND_IN.find_in_pod([link(12, "eth0", kind="veth", mac="02:00:00:00:00:12")], pod_index=12, pod_name="net1") is not None
    # a strong mark still decides in the pod
    assert PHYSICAL.find_in_pod([link(12, "net1", perm="0c:42:a1:00:00:02", parent=("pci", "0000:44:00.1"))], pod_index=12, pod_name="net1") is None


def test_two_links_equally_proven_are_ambiguous() -> None:
    twins = [link(3, "a", kind="veth"), link(4, "b", kind="veth")]
    with pytest.raises(CniError) as caught:
        STAND_IN.find_on_host(twins)
    assert caught.value.code == 11


def test_records_written_before_the_parent_was_recorded_take_it_from_the_snapshot() -> None:
    from hostdev.cni.record import AttachmentRecord

    old = identity().to_dict()
    del old["parent_bus"], old["parent_dev"]
    snapshot = {"name": "enp68s0", "index": 7, "mac": NIC_MAC, "perm_mac": NIC_PERM, "mtu": 1500, "up": True,
                "alias": None, "altnames": [], "addresses": [], "routes": [], "kind": None,
                "parent_dev_name": NIC_BDF, "parent_bus_name": "pci"}  # fmt: skip
    data = {"device": old, "snapshot": snapshot, "netns": "/run/netns/p", "netnsId": [1, 2], "podName": "enp68s0"}
    restored = AttachmentRecord.from_dict(data).device  # type: ignore[arg-type]
    assert (restored.parent_bus, restored.parent_dev) == ("pci", NIC_BDF)
