"""Real SR-IOV: qemu's igb (82576) PF, VFs made with sriov_numvfs and driven by igbvf.

Discovery of the PF <-> VF relation through hostdev._sysfs (virtfn<N> and physfn links), the
PF itself through the library, and a VF netdev handed to a pod and back by the plugin.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hostdev import Handle
from hostdev._sysfs.pci_function import VirtualFunctionSlot, read_pci_function, virtual_functions
from tests.vm.guest_tools import (
    PCI_DEVICES,
    configure_rich,
    ip_json,
    nad_conf,
    netdev_exists,
    netdev_view,
    netns_path,
    network_namespace,
    ok,
    reset_nic,
    run,
    run_plugin,
    settled_view,
    sriov_pf,
    state_records,
    virtual_functions as enabled_vfs,
    wait_for_view,
)
from tests.vm.test_vm_library import library_round_trip

BOTH_KERNELS = ["6.1", "6.12"]


@pytest.fixture
def pf() -> Iterator[tuple[str, str]]:
    bdf, ifname = sriov_pf()
    yield bdf, ifname
    reset_nic(bdf, ifname)


@pytest.mark.vm(group="sriov", kernel=BOTH_KERNELS, sriov=True)
def test_pf_and_vfs_are_discovered_through_sysfs(pf: tuple[str, str]) -> None:
    pf_bdf, pf_if = pf
    function = read_pci_function(pf_bdf)
    assert (function.driver, function.netdevs) == ("igb", (pf_if,))
    assert function.is_sriov_pf and not function.is_vf
    assert function.sriov_totalvfs is not None and function.sriov_totalvfs >= 2
    assert (function.sriov_numvfs, function.vfs) == (0, ())

    with enabled_vfs(pf_bdf, 2) as vfs:
        function = read_pci_function(pf_bdf)
        assert function.sriov_numvfs == 2
        assert function.vfs == tuple(VirtualFunctionSlot(index, vf) for index, (vf, _) in enumerate(vfs))
        assert virtual_functions(pf_bdf) == {index: vf for index, (vf, _) in enumerate(vfs)}
        with Handle() as host:
            assert host.link(name=pf_if).num_vf == 2
            for index, (vf_bdf, vf_if) in enumerate(vfs):
                vf = read_pci_function(vf_bdf)
                assert vf.is_vf and not vf.is_sriov_pf and vf.vfs == ()
                assert (vf.pf_address, vf.vf_index, vf.pf_netdevs) == (pf_bdf, index, (pf_if,))
                assert (vf.driver, vf.netdevs) == ("igbvf", (vf_if,))
                link = host.link(name=vf_if)
                assert (link.parent_dev_name, link.parent_bus_name) == (vf_bdf, "pci")
    function = read_pci_function(pf_bdf)
    assert (function.sriov_numvfs, function.vfs) == (0, ())


@pytest.mark.vm(group="sriov", sriov=True, timeout_s=90)
def test_igb_pf_round_trip_with_the_library(pf: tuple[str, str]) -> None:
    pf_bdf, pf_if = pf
    library_round_trip(pf_bdf, pf_if, octet=9)


@pytest.mark.vm(group="sriov", sriov=True, timeout_s=90)
def test_vf_netdev_moves_into_a_pod_and_back_with_its_addresses(plugin: Path, pf: tuple[str, str], tmp_path: Path) -> None:
    pf_bdf, pf_if = pf
    run("ip", "link", "set", "dev", pf_if, "up")  # a VF has carrier only while its PF is up
    with enabled_vfs(pf_bdf, 2) as vfs:
        vf_bdf, vf_if = vfs[1]
        before = configure_rich(vf_if, octet=10)
        state = tmp_path / "state"
        conf = nad_conf(vf_bdf, state)
        with network_namespace() as pod:
            added = ok(run_plugin(plugin, "ADD", conf, netns=netns_path(pod)))
            assert added.out is not None and [i["name"] for i in added.out["interfaces"]] == [vf_if]
            assert not netdev_exists(vf_if)
            wait_for_view(vf_if, before, netns=pod)
            (inside,) = ip_json("-d", "link", "show", "dev", vf_if, netns=pod)
            assert inside["parentdev"] == vf_bdf
            # On the host the VF is still the PF's VF; only its netdev left.
            vf = read_pci_function(vf_bdf)
            assert (vf.pf_address, vf.vf_index, vf.netdevs) == (pf_bdf, 1, ())
            assert read_pci_function(pf_bdf).netdevs == (pf_if,)
            assert (PCI_DEVICES / pf_bdf / "virtfn1").resolve().name == vf_bdf

            ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod)))
        wait_for_view(vf_if, before)
        assert read_pci_function(vf_bdf).netdevs == (vf_if,)
        assert state_records(state) == []


@pytest.mark.vm(group="sriov", sriov=True, timeout_s=90)
def test_a_pf_with_a_vf_in_a_pod_is_refused_and_so_is_a_vf_of_a_pf_in_a_pod(
    plugin: Path, pf: tuple[str, str], tmp_path: Path
) -> None:
    """Issue 16 H3 on real SR-IOV: a pod holding the PF could reprogram the VFs serving others."""
    pf_bdf, pf_if = pf
    run("ip", "link", "set", "dev", pf_if, "up")
    state = tmp_path / "state"
    with enabled_vfs(pf_bdf, 2) as vfs, network_namespace() as vf_pod, network_namespace() as pf_pod:
        vf_bdf, vf_if = vfs[0]
        vf_conf = nad_conf(vf_bdf, state)
        ok(run_plugin(plugin, "ADD", vf_conf, netns=netns_path(vf_pod), container_id="vf-tenant"))
        # The PF's carrier comes some time after `ip link set up` and after its VFs are enabled
        # (the driver resets the link): a view taken before that drifts by itself (CI8: NO-CARRIER
        # before, LOWER_UP after a refused ADD that changed nothing).
        pf_before = settled_view(pf_if, timeout_s=60.0)
        refused = run_plugin(plugin, "ADD", nad_conf(pf_bdf, state), netns=netns_path(pf_pod), container_id="pf-tenant")
        assert refused.error_code() == 105 and vf_bdf in refused.stdout, refused.stdout + refused.stderr
        assert netdev_view(pf_if) == pf_before and not netdev_exists(pf_if, pf_pod)
        ok(run_plugin(plugin, "DEL", vf_conf, netns=netns_path(vf_pod), container_id="vf-tenant"))

        # the other way round: the PF in a pod, then a VF of it
        pf_conf = nad_conf(pf_bdf, state)
        ok(run_plugin(plugin, "ADD", pf_conf, netns=netns_path(pf_pod), container_id="pf-tenant"))
        refused = run_plugin(plugin, "ADD", nad_conf(vfs[1][0], state), netns=netns_path(vf_pod), container_id="vf-tenant")
        assert refused.error_code() == 105 and pf_bdf in refused.stdout, refused.stdout + refused.stderr
        assert netdev_exists(vfs[1][1]) and not netdev_exists(vfs[1][1], vf_pod)
        ok(run_plugin(plugin, "DEL", pf_conf, netns=netns_path(pf_pod), container_id="pf-tenant"))
        assert state_records(state) == []
