"""Nothing outside the device's own sysfs entry is ever touched.

Every filesystem call made while a discovery function runs is recorded by
wrapping the ``os``/``open`` entry points themselves (not the package's own
helpers), and each recorded path is checked against an oracle written
independently of the package's validators: it must lie below
``<root>/bus/pci/devices/<BDF>``, ``<root>/bus/auxiliary/devices/<id>`` or
``<root>/class/net/<ifname>``, with no ``.``/``..`` component. We run as root
here, so unreadable canary files would prove nothing; the record does.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostdev._sysfs.auxiliary import auxiliary_devices_of, read_auxiliary_device
from hostdev._sysfs.errors import (
    DeviceNotFound,
    InvalidAuxiliaryId,
    InvalidNetdevName,
    InvalidPciAddress,
    MalformedSysfs,
)
from hostdev._sysfs.netdev_lookup import pci_address_of_netdev
from hostdev._sysfs.pci_function import read_pci_function, virtual_functions
from tests.unit.sysfs_fixtures import FakeSysfs, outside_allowed, recorded_paths

@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> FakeSysfs:
    """Every layout at once, with canaries where a traversal from bus/pci/devices would land."""
    base = tmp_path_factory.mktemp("confinement")
    fake = FakeSysfs(base / "sys")
    fake.add_pci_function("0000:00:03.0", driver="virtio-pci", netdevs=["eth0"], virtio=True)
    fake.add_pci_function("0000:03:00.0", driver="mlx5_core", netdevs=["ens1f0"], rdma=["mlx5_0"],
                          bridge="0000:00:1c.0", sriov_totalvfs=8)
    fake.add_vf("0000:03:00.0", 0, "0000:03:10.0", netdevs=["ens1f0v0"], rdma=["mlx5_1"])
    fake.add_vf("0000:03:00.0", 1, "0000:03:10.1", driver="vfio-pci")
    fake.add_auxiliary("0000:03:00.0", "mlx5_core.sf.4", netdevs=["sf4"], rdma=["mlx5_2"])
    fake.add_auxiliary("mlx5_core.sf.4", "mlx5_core.eth.4")
    fake.add_virtual_netdev("lo")
    for canary in (base / "etc", base / "sys" / "canary", base / "sys/bus/pci/canary",
                   base / "sys/devices/canary"):
        canary.mkdir(parents=True)
        (canary / "vendor").write_text("0xdead\n")
        (canary / "passwd").write_text("root:x:0:0\n")
    return fake


def _all_lookups(root: str) -> list[Callable[[], object]]:
    return [
        lambda: read_pci_function("0000:00:03.0", root),
        lambda: read_pci_function("0000:03:00.0", root),
        lambda: read_pci_function("0000:03:10.0", root),
        lambda: read_pci_function("0000:03:10.1", root),
        lambda: virtual_functions("0000:03:00.0", root),
        lambda: read_auxiliary_device("mlx5_core.sf.4", root),
        lambda: read_auxiliary_device("mlx5_core.eth.4", root),
        lambda: auxiliary_devices_of("0000:03:00.0", root),
        lambda: pci_address_of_netdev("eth0", root),
        lambda: pci_address_of_netdev("ens1f0v0", root),
        lambda: pci_address_of_netdev("sf4", root),
        lambda: pci_address_of_netdev("lo", root),
    ]


@pytest.mark.parametrize("index", range(12))
def test_lookups_touch_only_their_own_entries(tree: FakeSysfs, index: int) -> None:
    lookup = _all_lookups(str(tree.root))[index]
    with recorded_paths() as touched:
        lookup()
    assert touched, "the recorder saw nothing: the hook is broken"
    assert outside_allowed(tree.root, touched) == []


def test_recorder_catches_a_stray_read(tree: FakeSysfs) -> None:
    """The oracle is not vacuous: reading a canary is flagged."""
    with recorded_paths() as touched:
        with open(tree.root / "canary" / "passwd") as handle:
            handle.read()
        os.listdir(tree.root / "bus/pci/devices")
    assert len(outside_allowed(tree.root, touched)) == 2


HOSTILE = [
    "../canary", "../../canary", "../../../etc", "0000:00:03.0/../../../canary",
    "0000:00:03.0/../0000:03:00.0", "0000:00:03.0\0", "0000:00:03.0\n", ".", "..", "",
    "/etc/passwd", "canary/..", "０000:00:03.0", "0000:00:03.0 ", "x" * 4096,
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_names_are_rejected_before_any_access(tree: FakeSysfs, text: str) -> None:
    root = str(tree.root)
    calls: list[tuple[Callable[[], object], type[Exception]]] = [
        (lambda: read_pci_function(text, root), InvalidPciAddress),
        (lambda: virtual_functions(text, root), InvalidPciAddress),
        (lambda: auxiliary_devices_of(text, root), InvalidPciAddress),
        (lambda: read_auxiliary_device(text, root), InvalidAuxiliaryId),
        (lambda: pci_address_of_netdev(text, root), InvalidNetdevName),
    ]
    for call, error in calls:
        with recorded_paths() as touched, pytest.raises(error):
            call()
        assert touched == []


@settings(max_examples=150, deadline=None)  # reads files: its time is the machine's load
@given(st.text(max_size=20) | st.sampled_from(HOSTILE))
def test_any_text_stays_confined(tree: FakeSysfs, text: str) -> None:
    root = str(tree.root)
    for call in (lambda: read_pci_function(text, root),
                 lambda: read_auxiliary_device(text, root),
                 lambda: pci_address_of_netdev(text, root)):
        with recorded_paths() as touched:
            try:
                call()
            except (InvalidPciAddress, InvalidAuxiliaryId, InvalidNetdevName, DeviceNotFound):
                pass
        assert outside_allowed(tree.root, touched) == []


def test_pci_entry_pointing_outside_the_root_is_not_read(tmp_path: Path) -> None:
    fake = FakeSysfs(tmp_path / "sys")
    outside = tmp_path / "elsewhere" / "0000:00:05.0"
    outside.mkdir(parents=True)
    (outside / "vendor").write_text("0xdead\n")
    (fake.root / "bus/pci/devices/0000:00:05.0").symlink_to(outside)
    with recorded_paths() as touched, pytest.raises(MalformedSysfs, match="leaves"):
        read_pci_function("0000:00:05.0", str(fake.root))
    assert touched == [str(fake.root / "bus/pci/devices/0000:00:05.0")]


def test_physfn_pointing_outside_is_not_followed(tmp_path: Path) -> None:
    fake = FakeSysfs(tmp_path / "sys")
    vf = fake.add_pci_function("0000:03:10.0", driver="igbvf")
    (tmp_path / "evil" / "0000:03:00.0").mkdir(parents=True)
    (vf / "physfn").symlink_to(tmp_path / "evil" / "0000:03:00.0")
    with recorded_paths() as touched, pytest.raises(DeviceNotFound, match="0000:03:00.0"):
        read_pci_function("0000:03:10.0", str(fake.root))
    assert outside_allowed(fake.root, touched) == []
