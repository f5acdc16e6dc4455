"""SR-IOV protection reads the state store once, however many VFs the PF has.

Checking a PF means asking, for each of its VFs, whether an attachment holds it. Each question used
to be a full scan of the store (every record opened, read and decoded), so a PF with 64 VFs on a node
with 64 attachments read 4,160 records before the ADD could go on. One scan answers them all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hostdev.cni import node_protection
from hostdev.cni.state import AttachmentKey, StateStore
from hostdev._sysfs.pci_function import PciFunction, VirtualFunctionSlot

PF = "0000:3b:00.0"


def vf_address(index: int) -> str:
    return f"0000:3b:{index // 8 + 2:02x}.{index % 8}"


def pf_with_vfs(count: int) -> PciFunction:
    return PciFunction(
        address=PF, vendor_id=0x1dd8, device_id=0x1002, driver="ionic", netdevs=("enp59s0",), rdma_devices=(),
        numa_node=0, pf_address=None, vf_index=None, pf_netdevs=(),
        vfs=tuple(VirtualFunctionSlot(index=i, address=vf_address(i)) for i in range(count)),
        sriov_numvfs=count, sriov_totalvfs=count,
    )  # fmt: skip


def attach(store: StateStore, device_id: str, container_id: str) -> None:
    store.save(AttachmentKey("rdma-net", container_id, "net1"), {"device": {"id": device_id, "kind": "vf"}})


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[None]:
    calls: list[None] = []
    original = StateStore.scan

    def counted(self: StateStore, network: str | None = None) -> object:
        calls.append(None)
        return original(self, network)

    monkeypatch.setattr(StateStore, "scan", counted)
    return calls


def test_a_pf_with_many_vfs_costs_one_read_of_the_store(tmp_path: Path, scans: list[None]) -> None:
    store = StateStore(str(tmp_path / "state"))
    attach(store, vf_address(5), "c0ffee05")
    attach(store, vf_address(40), "c0ffee40")
    attach(store, "0000:5e:00.0", "beef0001")  # another NIC's attachment: not this PF's business
    reasons = node_protection._sriov_reasons(pf_with_vfs(64), [], store, str(tmp_path / "no-sysfs"))
    assert reasons == [
        f"it is an SR-IOV PF and its VF {vf_address(5)} is attached to container c0ffee05",
        f"it is an SR-IOV PF and its VF {vf_address(40)} is attached to container c0ffee40",
    ]
    assert len(scans) == 1


def test_a_vf_whose_pf_is_held_is_refused_with_one_read(tmp_path: Path, scans: list[None]) -> None:
    store = StateStore(str(tmp_path / "state"))
    attach(store, PF, "c0ffee00")
    vf = PciFunction(
        address=vf_address(3), vendor_id=0x1dd8, device_id=0x1003, driver="ionic", netdevs=("enp59s0v3",),
        rdma_devices=(), numa_node=0, pf_address=PF, vf_index=3, pf_netdevs=(), vfs=(),
        sriov_numvfs=None, sriov_totalvfs=None,
    )  # fmt: skip
    assert node_protection._sriov_reasons(vf, [], store, str(tmp_path / "no-sysfs")) == [
        f"its PF {PF} is attached to container c0ffee00"
    ]
    assert len(scans) == 1
