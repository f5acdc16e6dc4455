"""Proof that the VM tier gives the kernel-facing tests what the CI kernel cannot.

Each test runs inside a guest (see tests/vm/plugin.py) and uses only `ip`, `rdma`,
`insmod` and sysfs, so it checks the guest itself rather than the project's library.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.vm.guest_tools import (
    CLASS_NET,
    PCI_DEVICES,
    e1000_netdev,
    fake_rdma,
    functions_bound_to,
    netdevs_directly_under,
    network_namespace,
    pci_function_of,
    run,
    wait_for,
)

BOTH_KERNELS = ["6.1", "6.12"]
EXCLUSIVE = {"ib_core": "netns_mode=0"}


def _netdev_in_init(ifname: str) -> bool:
    return (CLASS_NET / ifname).exists()


@pytest.mark.vm(kernel=BOTH_KERNELS)
def test_guest_runs_the_requested_kernel(vm_kernel: str) -> None:
    assert os.environ["HOSTDEV_IN_VM"] == "1"
    assert os.uname().release.startswith(vm_kernel + ".")


@pytest.mark.vm(kernel=BOTH_KERNELS)
def test_e1000_netdev_sits_directly_under_its_pci_function() -> None:
    bdf, ifname = e1000_netdev()
    assert netdevs_directly_under(bdf) == [ifname]
    assert (CLASS_NET / ifname / "device").resolve() == (PCI_DEVICES / bdf).resolve()


@pytest.mark.vm(kernel=BOTH_KERNELS)
def test_virtio_netdev_sits_under_a_virtio_device_below_its_pci_function() -> None:
    found: list[tuple[str, str, str]] = []
    for bdf in functions_bound_to("virtio-pci"):
        for virtio_dir in sorted((PCI_DEVICES / bdf).glob("virtio[0-9]*")):
            if (virtio_dir / "net").is_dir():
                found += [(bdf, virtio_dir.name, name) for name in os.listdir(virtio_dir / "net")]
    assert len(found) == 1, found
    bdf, virtio_device, ifname = found[0]
    assert netdevs_directly_under(bdf) == []
    assert (CLASS_NET / ifname / "device").resolve().name == virtio_device
    assert pci_function_of(ifname) == bdf


@pytest.mark.vm(kernel=BOTH_KERNELS)
def test_rdma_netns_mode_is_shared_by_default() -> None:
    assert "netns shared" in run("rdma", "system", "show").stdout
    assert Path("/sys/module/ib_core/parameters/netns_mode").read_text().strip() == "Y"


@pytest.mark.vm(group="rdma-exclusive", kernel=BOTH_KERNELS, module_options=EXCLUSIVE)
def test_ib_core_netns_mode_0_starts_exclusive() -> None:
    assert "netns exclusive" in run("rdma", "system", "show").stdout
    assert Path("/sys/module/ib_core/parameters/netns_mode").read_text().strip() == "N"


@pytest.mark.vm(kernel=BOTH_KERNELS)
def test_fake_rdma_device_has_the_e1000_pci_function_as_parent() -> None:
    bdf, ifname = e1000_netdev()
    with fake_rdma(ifname) as (device,):
        assert device in run("rdma", "dev").stdout
        assert (PCI_DEVICES / bdf / "infiniband" / device).is_dir()
        assert f"link {device}/1 " in run("rdma", "link").stdout
        assert f" netdev {ifname}" in run("rdma", "link", "show", f"{device}/1").stdout
    assert not (PCI_DEVICES / bdf / "infiniband" / device).exists()


@pytest.mark.vm(kernel=BOTH_KERNELS)
def test_fake_rdma_cannot_change_netns_in_shared_mode() -> None:
    _, ifname = e1000_netdev()
    with fake_rdma(ifname) as (device,), network_namespace() as pod:
        moved = run("rdma", "dev", "set", device, "netns", pod, check=False)
        assert moved.returncode != 0
        assert "Operation not supported" in moved.stderr


@pytest.mark.vm(group="rdma-exclusive", kernel=BOTH_KERNELS, module_options=EXCLUSIVE)
def test_fake_rdma_moves_into_a_pod_and_comes_back_when_the_pod_dies() -> None:
    bdf, ifname = e1000_netdev()
    with fake_rdma(ifname) as (device,), network_namespace() as pod:
        run("rdma", "dev", "set", device, "netns", pod)
        assert device not in run("rdma", "dev").stdout
        assert device in run("ip", "netns", "exec", pod, "rdma", "dev").stdout
        assert not (PCI_DEVICES / bdf / "infiniband" / device).exists()
        run("ip", "netns", "del", pod)
        wait_for(f"{device} back in the initial netns", lambda: device in run("rdma", "dev").stdout)
        assert (PCI_DEVICES / bdf / "infiniband" / device).is_dir()


@pytest.mark.vm(kernel=BOTH_KERNELS)
def test_deleting_a_netns_returns_the_physical_nic_to_the_initial_netns() -> None:
    bdf, ifname = e1000_netdev()
    with network_namespace() as pod:
        run("ip", "link", "set", ifname, "netns", pod)
        assert not _netdev_in_init(ifname)
        assert netdevs_directly_under(bdf) == []
        assert ifname in run("ip", "netns", "exec", pod, "ip", "-o", "link", "show").stdout
        run("ip", "netns", "del", pod)
        wait_for(f"{ifname} back in the initial netns", lambda: _netdev_in_init(ifname))
    assert netdevs_directly_under(bdf) == [ifname]


def _sriov_pf() -> str:
    candidates = [bdf for bdf in functions_bound_to("igb") if (PCI_DEVICES / bdf / "sriov_totalvfs").is_file()]
    assert len(candidates) == 1, candidates
    return candidates[0]


def _vf_netdevs(pf: str, count: int) -> list[str]:
    names = []
    for index in range(count):
        names += netdevs_directly_under((PCI_DEVICES / pf / f"virtfn{index}").resolve().name)
    return names


@pytest.mark.vm(group="sriov", kernel=BOTH_KERNELS, sriov=True)
def test_sriov_numvfs_creates_vf_netdevs_with_physfn_links() -> None:
    pf = _sriov_pf()
    pf_ifname = netdevs_directly_under(pf)[0]
    assert int((PCI_DEVICES / pf / "sriov_totalvfs").read_text()) >= 2
    (PCI_DEVICES / pf / "sriov_numvfs").write_text("2")
    try:
        wait_for("two VF netdevs", lambda: len(_vf_netdevs(pf, 2)) == 2)
        for index in range(2):
            vf = (PCI_DEVICES / pf / f"virtfn{index}").resolve()
            assert vf.name != pf
            assert (vf / "physfn").resolve().name == pf
            assert (vf / "driver").resolve().name == "igbvf"
        link = run("ip", "link", "show", pf_ifname).stdout
        assert "vf 0 " in link and "vf 1 " in link
    finally:
        (PCI_DEVICES / pf / "sriov_numvfs").write_text("0")
    assert not (PCI_DEVICES / pf / "virtfn0").exists()


@pytest.mark.vm(group="sriov", kernel=BOTH_KERNELS, sriov=True)
def test_fake_rdma_on_a_vf_goes_away_with_the_vf() -> None:
    pf = _sriov_pf()
    (PCI_DEVICES / pf / "sriov_numvfs").write_text("1")
    try:
        wait_for("a VF netdev", lambda: len(_vf_netdevs(pf, 1)) == 1)
        vf = (PCI_DEVICES / pf / "virtfn0").resolve().name
        (vf_ifname,) = _vf_netdevs(pf, 1)
        with fake_rdma(vf_ifname) as (device,):
            assert (PCI_DEVICES / vf / "infiniband" / device).is_dir()
            # Removing the VF must not hang on the module's netdev reference.
            (PCI_DEVICES / pf / "sriov_numvfs").write_text("0")
            wait_for(f"{device} to be unregistered", lambda: device not in run("rdma", "dev").stdout)
    finally:
        (PCI_DEVICES / pf / "sriov_numvfs").write_text("0")
