"""hostdev.discover: from the names a NIC goes by to the NIC, on a fabricated sysfs tree.

Netlink's side (the host's links) is a stand-in holding ``Link`` records: the point here is
what discovery concludes from sysfs and the links' parent attributes together.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hostdev import Link
from hostdev import discover
from hostdev.errors import LinkNotFound
from tests.unit.sysfs_fixtures import FakeSysfs


def link(name: str, index: int, *, parent: tuple[str, str] | None = None, mac: str = "02:00:00:00:00:01", kind: str | None = None) -> Link:
    return Link(
        index=index, name=name, flags=0, arphrd=1, mac=mac, mtu=1500, alias=None, altnames=(), operstate=None,
        kind=kind, perm_mac=None, parent_dev_name=parent[0] if parent else None,
        parent_bus_name=parent[1] if parent else None, master=None, num_vf=None, netns_immutable=None,
    )  # fmt: skip


class Host:
    """The links of a host namespace, answering like Handle.link()."""

    def __init__(self, *links: Link) -> None:
        self.by_name = {l.name: l for l in links}

    def link(self, *, name: str | None = None, mac: str | None = None) -> Link:
        for candidate in self.by_name.values():
            if candidate.name == name or (mac is not None and candidate.mac == mac):
                return candidate
        raise LinkNotFound(f"no link {name or mac}")


@pytest.fixture
def fake(tmp_path: Path) -> FakeSysfs:
    fake = FakeSysfs(tmp_path / "sys")
    fake.add_pci_function("0000:44:00.0", driver="ionic", netdevs=["enp68s0"], rdma=["rocep68s0"], sriov_totalvfs=4)
    fake.add_vf("0000:44:00.0", 0, "0000:44:00.1", netdevs=["enp68s0v0"])
    fake.add_pci_function("0000:45:00.0", driver="vfio-pci")
    fake.add_pci_function("0000:46:00.0", driver="mlx5_core")
    fake.add_auxiliary("0000:46:00.0", "mlx5_core.sf.4", netdevs=["sf4"], rdma=["mlx5_4"])
    fake.add_auxiliary("0000:46:00.0", "mlx5_core.sf.5", netdevs=["sf5a", "sf5b"])
    fake.add_pci_function("0000:00:03.0", driver="virtio-pci", netdevs=["eth0"], virtio=True)
    fake.add_virtual_netdev("veth0")
    return fake


HOST = Host(
    link("enp68s0", 7, parent=("0000:44:00.0", "pci"), mac="02:00:00:00:44:00"),
    link("enp68s0v0", 8, parent=("0000:44:00.1", "pci")),
    link("sf4", 9, parent=("mlx5_core.sf.4", "auxiliary")),
    link("eth0", 10, parent=("virtio0", "virtio")),
    link("veth0", 11, kind="veth", mac="02:00:00:00:00:11"),
)


def test_a_pci_function_is_its_netdev_and_rdma_devices(fake: FakeSysfs) -> None:
    nic = discover.find_nic(HOST, "pci", "0000:44:00.0", str(fake.root))
    assert isinstance(nic, discover.Nic)
    assert (nic.id, nic.link.name, nic.pci_address, nic.auxiliary_id, nic.rdma_devices) == (
        "0000:44:00.0", "enp68s0", "0000:44:00.0", None, ("rocep68s0",),
    )  # fmt: skip
    vf = discover.find_nic(HOST, "pci", "0000:44:00.1", str(fake.root))
    assert isinstance(vf, discover.Nic) and vf.link.name == "enp68s0v0"
    function = discover.pci_function("0000:44:00.1", str(fake.root))
    assert (function.pf_address, function.vf_index, function.is_vf) == ("0000:44:00.0", 0, True)


def test_a_userspace_bound_function_has_no_netdev(fake: FakeSysfs) -> None:
    found = discover.find_nic(HOST, "pci", "0000:45:00.0", str(fake.root))
    assert found == discover.UserspaceFunction("0000:45:00.0", "vfio-pci")


def test_netlink_must_agree_with_sysfs_about_the_parent(fake: FakeSysfs) -> None:
    liar = Host(link("enp68s0", 7, parent=("0000:99:00.0", "pci")))
    with pytest.raises(discover.DiscoveryError, match="disagree"):
        discover.find_nic(liar, "pci", "0000:44:00.0", str(fake.root))


def test_an_auxiliary_device_needs_exactly_one_netdev(fake: FakeSysfs) -> None:
    nic = discover.find_nic(HOST, "auxiliary", "mlx5_core.sf.4", str(fake.root))
    assert isinstance(nic, discover.Nic)
    assert (nic.id, nic.pci_address, nic.auxiliary_id, nic.rdma_devices) == ("mlx5_core.sf.4", "0000:46:00.0", "mlx5_core.sf.4", ("mlx5_4",))
    with pytest.raises(discover.DiscoveryError, match="2 netdevs"):
        discover.find_nic(HOST, "auxiliary", "mlx5_core.sf.5", str(fake.root))


def test_names_and_macs_lead_back_to_the_pci_function(fake: FakeSysfs) -> None:
    by_name = discover.find_nic(HOST, "name", "enp68s0", str(fake.root))
    by_mac = discover.find_nic(HOST, "hwaddr", "02:00:00:00:44:00", str(fake.root))
    assert isinstance(by_name, discover.Nic) and by_name == by_mac and by_name.id == "0000:44:00.0"
    virtio = discover.find_nic(HOST, "name", "eth0", str(fake.root))
    assert isinstance(virtio, discover.Nic) and virtio.id == "0000:00:03.0"  # via sysfs: its parent is virtio0
    stand_in = discover.find_nic(HOST, "name", "veth0", str(fake.root))
    assert isinstance(stand_in, discover.Nic) and (stand_in.id, stand_in.pci_address) == ("netdev-veth0", None)


def test_a_kernelpath_names_the_one_netdev_below_it(fake: FakeSysfs) -> None:
    path = str(fake.device_dir("0000:44:00.0"))
    nic = discover.find_nic(HOST, "kernelpath", path, str(fake.root))
    assert isinstance(nic, discover.Nic) and nic.link.name == "enp68s0"
    with pytest.raises(discover.DiscoveryError, match="no net/ directory"):
        discover.find_nic(HOST, "kernelpath", str(fake.device_dir("0000:45:00.0")), str(fake.root))


def test_what_is_absent_is_an_error_not_a_guess(fake: FakeSysfs) -> None:
    with pytest.raises(discover.DiscoveryError):
        discover.find_nic(HOST, "pci", "0000:77:00.0", str(fake.root))
    with pytest.raises(LinkNotFound):
        discover.find_nic(HOST, "name", "nosuch0", str(fake.root))
    with pytest.raises(ValueError):
        discover.find_nic(HOST, "serial", "x", str(fake.root))


def test_reverse_lookups(fake: FakeSysfs) -> None:
    assert discover.pci_address_of(HOST.link(name="enp68s0")) == "0000:44:00.0"
    assert discover.pci_address_of(HOST.link(name="eth0")) is None  # parent on the virtio bus
    assert discover.pci_address_of(HOST.link(name="veth0")) is None
    assert discover.netdevs_of("pci", "0000:44:00.0", str(fake.root)) == ("enp68s0",)
    assert discover.netdevs_of("auxiliary", "mlx5_core.sf.5", str(fake.root)) == ("sf5a", "sf5b")
    assert discover.netdevs_of("pci", "0000:77:00.0", str(fake.root)) == ()  # absent: nothing listed
    fake.remove_netdev("enp68s0")  # moved into a pod: gone from the host's view
    assert discover.netdevs_of("pci", "0000:44:00.0", str(fake.root)) == ()
    assert discover.network_functions(str(fake.root)) == [
        "0000:00:03.0", "0000:44:00.0", "0000:44:00.1", "0000:45:00.0", "0000:46:00.0",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("pci", "name", "aux", "expected"),
    [("0000:44:00.0", "enp68s0", None, "0000:44:00.0"), (None, "veth0", None, "netdev-veth0"),
     ("0000:46:00.0", "sf4", "mlx5_core.sf.4", "mlx5_core.sf.4")],
)  # fmt: skip
def test_one_device_id_rule(pci: str | None, name: str, aux: str | None, expected: str) -> None:
    assert discover.device_id(pci, name, aux) == expected
