"""The record of a DPDK-mode attachment (a function bound to a userspace driver): its JSON shape,
read back exactly, told apart from a moved device's record, and refused when malformed."""

from __future__ import annotations

import pytest

from hostdev.cni.record import UserspaceRecord, record_from_dict

RECORD = UserspaceRecord("0000:46:00.0", "vfio-pci", "/run/netns/pod", (4, 4026532871), "net1")


def test_round_trip_and_the_device_id_the_store_looks_for() -> None:
    data = RECORD.to_dict()
    assert data == {
        "kind": "userspace", "device": {"id": "0000:46:00.0"}, "driver": "vfio-pci",
        "netns": "/run/netns/pod", "netnsId": [4, 4026532871], "podName": "net1",
    }  # fmt: skip
    assert record_from_dict(data) == RECORD and RECORD.device_id == "0000:46:00.0"


@pytest.mark.parametrize(
    "damage",
    [
        {"device": "0000:46:00.0"},
        {"device": {}},
        {"netnsId": [4]},
        {"netnsId": ["4", 5]},
        {"driver": None},
        {"podName": 7},
    ],
)
def test_malformed_userspace_records_are_refused(damage: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        record_from_dict({**RECORD.to_dict(), **damage})


def test_without_the_kind_it_is_read_as_a_moved_devices_record() -> None:
    data = {k: v for k, v in RECORD.to_dict().items() if k != "kind"}
    with pytest.raises(ValueError, match="record lacks 'snapshot'"):
        record_from_dict(data)  # an AttachmentRecord without a snapshot
