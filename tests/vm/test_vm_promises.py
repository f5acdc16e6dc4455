"""README promises only a real kernel can show (RDMA devices that move, real PCI NICs), which had
no test of their own; the rest are in tests/e2e/test_readme_promises.py.

- "ADD is all or nothing ... its RDMA device goes back too": a failing ADD after the RDMA move.
- "If the plugin is killed at any step ... the runtime's next DEL ... finishes the job": killed
  ADD and killed DEL with the RDMA device moved.
- CHECK fails (103) when "an RDMA device is missing from the pod".
- 110 when "rdma: required and there is none" on a kernel with RDMA.
- DEL without a usable record "falls back to the configuration's selector (PCI address ...)
  and looks for the device in the live pod netns": on e1000 and virtio-net.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostdev.netns import NetNS
from hostdev.rdma import move_device_back
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
    rdma_device_names,
    rdma_output,
    run_plugin,
    state_records,
    wait_for_view,
)

EXCLUSIVE = {"ib_core": "netns_mode=0"}
RDMA_FAILED, CHECK_FAILED, INTERNAL = 110, 103, 999
SIGKILLED = -9
FAULT_MARKER = Path("/etc/cni/amd-host-device.test-faults")


def armed(state: Path) -> Path:
    """The root-owned marker that lets HOSTDEV_TEST_FAULT fire, at its fixed path in the guest's
    /etc (the guest's root is a throwaway overlay); returns ``state`` for the caller's use."""
    assert os.environ.get("HOSTDEV_IN_VM") == "1", "the fault marker is written only inside the guest"
    FAULT_MARKER.parent.mkdir(parents=True, exist_ok=True)
    FAULT_MARKER.write_text("armed by tests/vm/test_vm_promises.py\n")
    return state


def fault(point: str, action: str) -> dict[str, str]:
    return {"HOSTDEV_TEST_FAULT": f"{point}:{action}"}


def bound_on_host(device: str, ifname: str) -> bool:
    return any(
        line.startswith(f"link {device}/1 ") and f" netdev {ifname} " in f"{line} " for line in rdma_output("link").splitlines()
    )


def home(ifname: str, device: str, bdf: str, before: dict[str, object], pod: str) -> None:
    """The NIC with everything it had and its RDMA device are on the host; the pod holds nothing."""
    wait_for_view(ifname, before)
    assert device in rdma_device_names() and bound_on_host(device, ifname)
    assert (PCI_DEVICES / bdf / "infiniband" / device).is_dir()
    assert device not in rdma_device_names(netns=pod) and not netdev_exists(ifname, pod)


# --- RDMA in exclusive mode: rollback, crashes, CHECK ------------------------------------------


@pytest.mark.vm(group="rdma-exclusive", module_options=EXCLUSIVE, timeout_s=150)
def test_add_failing_after_the_rdma_move_gives_back_the_nic_and_the_rdma_device(
    plugin: Path, e1000: tuple[str, str], tmp_path: Path
) -> None:
    bdf, ifname = e1000
    before = configure_rich(ifname, octet=11)
    state = armed(tmp_path / "state")
    conf = nad_conf(bdf, state)
    with fake_rdma(ifname) as (device,), network_namespace() as pod:
        for point in ("add:after-rdma-move", "add:after-addresses", "add:before-result"):
            refused = run_plugin(plugin, "ADD", conf, netns=netns_path(pod), env=fault(point, "fail"))
            assert refused.error_code() == INTERNAL and f"injected failure at {point}" in refused.stdout, refused.stdout
            assert "rolled back" in refused.stderr, refused.stderr
            home(ifname, device, bdf, before, pod)
            assert state_records(state) == []
        ok(run_plugin(plugin, "ADD", conf, netns=netns_path(pod)))  # and the device still works
        assert device in rdma_device_names(netns=pod)
        ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod)))
        home(ifname, device, bdf, before, pod)


@pytest.mark.vm(group="rdma-exclusive", module_options=EXCLUSIVE, timeout_s=150)
def test_killed_add_or_del_with_the_rdma_device_moved_is_finished_by_the_next_del(
    plugin: Path, e1000: tuple[str, str], tmp_path: Path
) -> None:
    bdf, ifname = e1000
    before = configure_rich(ifname, octet=12)
    state = armed(tmp_path / "state")
    conf = nad_conf(bdf, state)
    with fake_rdma(ifname) as (device,), network_namespace() as pod:
        killed = run_plugin(plugin, "ADD", conf, netns=netns_path(pod), env=fault("add:after-rdma-move", "kill"))
        assert killed.code == SIGKILLED and killed.stdout == "", killed
        assert device in rdma_device_names(netns=pod)  # it died with both in the pod
        ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod)))
        home(ifname, device, bdf, before, pod)
        assert state_records(state) == []

        for point in ("del:after-rdma-move", "del:after-netdev-move"):
            ok(run_plugin(plugin, "ADD", conf, netns=netns_path(pod)))
            killed = run_plugin(plugin, "DEL", conf, netns=netns_path(pod), env=fault(point, "kill"))
            assert killed.code == SIGKILLED, killed
            assert device in rdma_device_names() and device not in rdma_device_names(netns=pod)  # half way
            assert len(state_records(state)) == 1  # the record outlives the crash
            ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod)))
            home(ifname, device, bdf, before, pod)
            assert state_records(state) == []


@pytest.mark.vm(group="rdma-exclusive", module_options=EXCLUSIVE, timeout_s=120)
def test_check_fails_when_the_rdma_device_left_the_pod_and_del_still_restores_all(
    plugin: Path, e1000: tuple[str, str], tmp_path: Path
) -> None:
    bdf, ifname = e1000
    before = configure_rich(ifname, octet=13)
    state = tmp_path / "state"
    conf = nad_conf(bdf, state, cniVersion="1.0.0")
    with fake_rdma(ifname) as (device,), network_namespace() as pod:
        ok(run_plugin(plugin, "ADD", conf, netns=netns_path(pod)))
        ok(run_plugin(plugin, "CHECK", conf, netns=netns_path(pod)))
        with NetNS.from_path(netns_path(pod)) as inside, NetNS.current() as host:
            move_device_back(device, inside, host)  # someone took it out of the pod
        assert device in rdma_device_names() and device not in rdma_device_names(netns=pod)
        failed = run_plugin(plugin, "CHECK", conf, netns=netns_path(pod))
        assert failed.error_code() == CHECK_FAILED, failed.stdout
        assert failed.out is not None and failed.out["msg"] == f"RDMA device(s) {device} not in the pod", failed.out
        ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod)))
        home(ifname, device, bdf, before, pod)
    assert state_records(state) == []


@pytest.mark.vm(group="rdma-exclusive", module_options=EXCLUSIVE, timeout_s=60)
def test_rdma_required_on_a_nic_without_an_rdma_device_is_110_and_changes_nothing(
    plugin: Path, e1000: tuple[str, str], tmp_path: Path
) -> None:
    bdf, ifname = e1000
    before = configure_rich(ifname, octet=14)
    state = tmp_path / "state"
    with network_namespace() as pod:
        assert not (PCI_DEVICES / bdf / "infiniband").exists()  # ib_core is there, no device on this NIC
        refused = run_plugin(plugin, "ADD", nad_conf(bdf, state, rdma="required"), netns=netns_path(pod))
        assert refused.error_code() == RDMA_FAILED, refused.stdout
        assert refused.out is not None and refused.out["msg"] == "rdma is required but the device has no RDMA device"
        assert netdev_view(ifname) == before and not netdev_exists(ifname, pod)
    assert state_records(state) == []


# --- DEL without a usable record, on real PCI NICs --------------------------------------------


@pytest.mark.vm(timeout_s=90)
def test_del_without_a_usable_record_finds_the_nic_in_the_pod_by_its_pci_parent(
    plugin: Path, nic: tuple[str, str], tmp_path: Path
) -> None:
    bdf, ifname = nic
    before = configure_rich(ifname, octet=15)
    state = tmp_path / "state"
    conf = nad_conf(bdf, state)
    with network_namespace() as pod:
        ok(run_plugin(plugin, "ADD", conf, netns=netns_path(pod)))
        (record_file,) = (state / "networks").rglob("*.json")
        torn = record_file.read_text()[:40]
        record_file.write_text(torn)  # the record is lost (a torn copy, say)
        r = ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod)))
        assert "set aside" in r.stderr and "without a state record" in r.stderr, r.stderr
        # Back on the host under its name, with its MTU, down: nothing of what it carried in the
        # pod is taken for the host's (issue 16 item 5; test_vm_record_loss.py has the details).
        assert not netdev_exists(ifname, pod)
        back = netdev_view(ifname)
        assert (back["link"]["ifname"], back["link"]["mtu"]) == (before["link"]["ifname"], before["link"]["mtu"])
        assert back["addrs"] == []
        (aside,) = (state / "networks").rglob("*.corrupt-*")
        assert aside.read_text() == torn  # kept for the admin
