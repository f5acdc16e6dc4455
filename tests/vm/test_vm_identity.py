"""DEL never takes another interface for the NIC, on a real e1000 (issue 16, items 1 and 11).

Found on real hardware: with the pod's netns held by a process (the NIC not back yet) and a veth
placed at the ifindex the NIC had, DEL renamed the veth to the NIC's name, gave it the NIC's MAC,
MTU, addresses and routes, and dropped the record; the NIC then came back bare and nothing
restored it. A real NIC has a PCI parent and a permanent MAC, and only those prove it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from hostdev._sysfs.pci_function import read_pci_function
from tests.vm.guest_tools import (
    configure_rich,
    nad_conf,
    netdev_exists,
    netdev_view,
    netns_path,
    network_namespace,
    ok,
    run,
    run_plugin,
    state_records,
    wait_for,
    wait_for_view,
)


def _view(ifname: str) -> dict[str, Any]:
    """netdev_view without a bridge's running timers, which tick by themselves."""
    view = netdev_view(ifname)
    data = view["link"].get("linkinfo", {}).get("info_data")
    if isinstance(data, dict):
        view["link"]["linkinfo"]["info_data"] = {k: v for k, v in data.items() if not k.endswith("_timer")}
    return view


@pytest.mark.vm(kernel=["6.1", "6.12"], timeout_s=120)
@pytest.mark.parametrize("impostor", ["veth", "bridge"])
def test_del_with_the_nic_held_in_the_pod_leaves_an_interface_at_its_ifindex_alone(
    plugin: Path, e1000: tuple[str, str], tmp_path: Path, impostor: str
) -> None:
    bdf, ifname = e1000
    before = configure_rich(ifname, octet=6)
    state = tmp_path / "state"
    conf = nad_conf(bdf, state, returnTimeoutSeconds=1)
    holder: subprocess.Popen[bytes] | None = None
    try:
        with network_namespace() as pod:
            ok(run_plugin(plugin, "ADD", conf, netns=netns_path(pod)))
            (record,) = state_records(state)
            holder = subprocess.Popen(
                ["ip", "netns", "exec", pod, "sh", "-c", "echo held; exec sleep 600"], stdout=subprocess.PIPE
            )
            assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
            run("ip", "netns", "del", pod)  # the name is gone, the netns (and the NIC in it) lives on
        # A host interface at the recorded ifindex, under the NIC's own name, with its own settings.
        index = str(record["podIndex"])
        if impostor == "veth":
            run("ip", "link", "add", ifname, "index", index, "type", "veth", "peer", "name", "imp-peer")
            run("ip", "link", "set", "imp-peer", "up")
        else:
            run("ip", "link", "add", ifname, "index", index, "type", "bridge")
        run("ip", "link", "set", ifname, "mtu", "1400")
        run("ip", "addr", "add", "172.31.7.1/24", "dev", ifname)
        run("ip", "link", "set", ifname, "up")
        bystander = _view(ifname)

        deleted = ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod)))
        assert "has not returned to the host yet" in deleted.stderr, deleted.stderr
        assert _view(ifname) == bystander  # not renamed, re-addressed, re-MACed or set down
        assert state_records(state) == [record]  # kept for the NIC

        # The holder goes; the kernel returns the NIC, as dev<N> since its name is taken.
        holder.kill()
        holder.wait()
        wait_for(f"{bdf} back on the host", lambda: read_pci_function(bdf).netdevs != ())
        (returned,) = read_pci_function(bdf).netdevs
        assert returned != ifname
        run("ip", "link", "del", ifname)  # the admin clears the name; now DEL can finish
        ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod)))
        wait_for_view(ifname, before)
        assert not netdev_exists(returned)
        assert state_records(state) == []
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
            holder.wait()
        if netdev_exists("imp-peer"):
            run("ip", "link", "del", "imp-peer", check=False)
        if netdev_exists(ifname) and read_pci_function(bdf).netdevs != (ifname,):
            run("ip", "link", "del", ifname, check=False)
