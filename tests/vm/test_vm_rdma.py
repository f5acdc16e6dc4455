"""RDMA with the NIC, on a real ib_core: shared and exclusive netns mode, the mode rules, and a
soft RDMA device (rxe) the kernel cannot move.

The RDMA device that can follow its NIC is `fake_rdma` (test-only module, see README.md): its
parent is the NIC's PCI function and it has disassociate_ucontext, like mlx5 & co. What the
pod sees is checked the way a pod would look: `ip netns exec <pod> rdma dev|link`.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from hostdev import RdmaHandle
from hostdev.rdma_errors import BUSY_REMEDY, RdmaNetnsModeBusy
from tests.vm.guest_tools import (
    PCI_DEVICES,
    configure_rich,
    fake_rdma,
    nad_conf,
    netdev_exists,
    netdev_view,
    netns_path,
    network_namespace,
    ok,
    plugin_log,
    rdma_device_names,
    rdma_output,
    run,
    run_plugin,
    soft_roce,
    state_records,
    wait_for,
    wait_for_view,
)

BOTH_KERNELS = ["6.1", "6.12"]
EXCLUSIVE = {"ib_core": "netns_mode=0"}
NETNS_MODE_PARAMETER = Path("/sys/module/ib_core/parameters/netns_mode")
RDMA_FAILED = 110


def netns_mode() -> str:
    with RdmaHandle() as handle:
        return str(handle.system().netns_mode)


def bound_to(device: str, ifname: str, netns: str | None = None) -> bool:
    """`rdma link` (in ``netns``) shows port 1 of ``device`` bound to netdev ``ifname``."""
    lines = rdma_output("link", netns=netns).splitlines()
    return any(line.startswith(f"link {device}/1 ") and f" netdev {ifname} " in f"{line} " for line in lines)


def set_mode_once_no_other_netns_is_left(handle: RdmaHandle, mode: str) -> None:
    """The kernel refuses a mode change while any other netns exists; those of earlier tests are
    deleted, but a netns is freed asynchronously (cleanup_net), so wait (bounded) for that."""

    def changed() -> bool:
        try:
            handle.set_netns_mode("exclusive" if mode == "exclusive" else "shared")
        except RdmaNetnsModeBusy:
            return False
        return True

    wait_for(f"RDMA netns mode {mode} to be accepted", changed, timeout_s=30.0)


# --- shared mode (the default boot) -----------------------------------------------------------


@pytest.mark.vm(kernel=BOTH_KERNELS, timeout_s=90)
def test_shared_mode_leaves_the_rdma_device_in_place(plugin: Path, e1000: tuple[str, str], tmp_path: Path) -> None:
    bdf, ifname = e1000
    before = configure_rich(ifname, octet=5)
    state = tmp_path / "state"
    conf = nad_conf(bdf, state)
    with fake_rdma(ifname) as (device,), network_namespace() as pod:
        assert netns_mode() == "shared"
        assert (PCI_DEVICES / bdf / "infiniband" / device).is_dir() and bound_to(device, ifname)
        ok(run_plugin(plugin, "ADD", conf, netns=netns_path(pod)))
        assert not netdev_exists(ifname) and netdev_exists(ifname, pod)
        # Every netns sees every device in shared mode: nothing to move, nothing moved.
        assert device in rdma_device_names()
        assert device in rdma_device_names(netns=pod)
        assert bound_to(device, ifname, netns=pod)  # the port's netdev is where the pod sees it
        assert not bound_to(device, ifname)  # ...and the host no longer does
        (record,) = state_records(state)
        assert record["rdma"] == {"mode": "shared", "devices": [device], "moved": []}
        assert f"rdma: mode shared, devices {device}" in plugin_log(state).read_text()

        ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod)))
        assert device in rdma_device_names()
        wait_for_view(ifname, before)
        assert bound_to(device, ifname)
    assert state_records(state) == []


@pytest.mark.vm(kernel=BOTH_KERNELS)
def test_netns_mode_is_read_and_changes_only_while_no_other_netns_exists() -> None:
    with RdmaHandle() as handle:
        assert str(handle.system().netns_mode) == "shared"
        assert NETNS_MODE_PARAMETER.read_text().strip() == "Y"
        with network_namespace():
            with pytest.raises(RdmaNetnsModeBusy) as busy:
                handle.set_netns_mode("exclusive")
            assert busy.value.errno == errno.EBUSY
            assert BUSY_REMEDY in str(busy.value) and "netns_mode=0" in str(busy.value)
            assert str(handle.system().netns_mode) == "shared"

        set_mode_once_no_other_netns_is_left(handle, "exclusive")
        try:
            assert str(handle.system().netns_mode) == "exclusive"
            assert NETNS_MODE_PARAMETER.read_text().strip() == "N"
            assert "netns exclusive" in rdma_output("system", "show")
        finally:
            set_mode_once_no_other_netns_is_left(handle, "shared")
        assert str(handle.system().netns_mode) == "shared"
        assert NETNS_MODE_PARAMETER.read_text().strip() == "Y"


# --- exclusive mode (ib_core netns_mode=0) ----------------------------------------------------


@pytest.mark.vm(group="rdma-exclusive", kernel=BOTH_KERNELS, module_options=EXCLUSIVE, timeout_s=90)
def test_exclusive_mode_moves_the_rdma_device_with_the_nic_and_del_brings_both_back(
    plugin: Path, e1000: tuple[str, str], tmp_path: Path
) -> None:
    bdf, ifname = e1000
    before = configure_rich(ifname, octet=6)
    state = tmp_path / "state"
    conf = nad_conf(bdf, state)
    with fake_rdma(ifname) as (device,), network_namespace() as pod:
        assert netns_mode() == "exclusive"
        ok(run_plugin(plugin, "ADD", conf, netns=netns_path(pod)))
        assert device in rdma_device_names(netns=pod)
        assert bound_to(device, ifname, netns=pod)
        assert device not in rdma_device_names() and f"link {device}/" not in rdma_output("link")
        assert not (PCI_DEVICES / bdf / "infiniband" / device).exists()  # host sysfs: gone too
        (record,) = state_records(state)
        assert record["rdma"] == {"mode": "exclusive", "devices": [device], "moved": [device]}

        ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod)))
        assert device not in rdma_device_names(netns=pod)
        assert device in rdma_device_names() and bound_to(device, ifname)
        assert (PCI_DEVICES / bdf / "infiniband" / device).is_dir()
        wait_for_view(ifname, before)
    assert state_records(state) == []


@pytest.mark.vm(group="rdma-exclusive", kernel=BOTH_KERNELS, module_options=EXCLUSIVE, timeout_s=90)
def test_exclusive_mode_pod_death_returns_nic_and_rdma_device_and_del_restores_the_nic(
    plugin: Path, e1000: tuple[str, str], tmp_path: Path
) -> None:
    bdf, ifname = e1000
    before = configure_rich(ifname, octet=7)
    state = tmp_path / "state"
    conf = nad_conf(bdf, state, returnTimeoutSeconds=20)
    with fake_rdma(ifname) as (device,), network_namespace() as pod:
        ok(run_plugin(plugin, "ADD", conf, netns=netns_path(pod)))
        assert device not in rdma_device_names()
        run("ip", "netns", "del", pod)
        # The kernel returns both by itself: the netdev (default_device_exit_net) and the RDMA
        # device (rdma_dev_exit_net), asynchronously.
        wait_for(f"{device} back in the initial netns", lambda: device in rdma_device_names())
        wait_for(f"{ifname} back on the host", lambda: netdev_exists(ifname))
        assert bound_to(device, ifname)

        ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod)))
        wait_for_view(ifname, before)
        assert device in rdma_device_names() and bound_to(device, ifname)
    assert state_records(state) == []


# rxe behaves the same on 6.12 (and in either mode): 6.1 only, to keep the tier short.
@pytest.mark.vm(group="rdma-exclusive", module_options=EXCLUSIVE, timeout_s=90)
def test_soft_roce_device_refuses_add_cleanly_and_rdma_skip_proceeds_without_it(
    plugin: Path, e1000: tuple[str, str], tmp_path: Path
) -> None:
    bdf, ifname = e1000
    before = configure_rich(ifname, octet=8)
    state = tmp_path / "state"
    with soft_roce(ifname) as rxe, network_namespace() as pod:
        rdma_links = rdma_output("link")
        assert bound_to(rxe, ifname)
        assert not (PCI_DEVICES / bdf / "infiniband").exists()  # rxe has no PCI parent

        refused = run_plugin(plugin, "ADD", nad_conf(bdf, state), netns=netns_path(pod))
        assert refused.code != 0 and refused.error_code() == RDMA_FAILED, refused.stdout
        assert refused.out is not None and rxe in refused.out["msg"] and '"rdma": "skip"' in refused.out["details"]
        assert netdev_view(ifname) == before and not netdev_exists(ifname, pod)
        assert rdma_output("link") == rdma_links
        assert state_records(state) == []

        # Knowingly without it: the kernel destroys an rxe device when its netdev changes netns,
        # and nothing brings it back.
        skip = nad_conf(bdf, state, rdma="skip")
        ok(run_plugin(plugin, "ADD", skip, netns=netns_path(pod)))
        assert netdev_exists(ifname, pod)
        assert rxe not in rdma_device_names() and rxe not in rdma_device_names(netns=pod)
        (record,) = state_records(state)
        assert record["rdma"] == {"mode": "none", "devices": [], "moved": []}

        ok(run_plugin(plugin, "DEL", skip, netns=netns_path(pod)))
        wait_for_view(ifname, before)
        assert rxe not in rdma_device_names()
    assert state_records(state) == []
