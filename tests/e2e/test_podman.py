"""A real runtime drives the plugin: podman with its CNI backend, on a stand-in node.

podman runs in the node's "host" netns and sees its fabricated sysfs (PodmanSandbox), so the
plugin it executes finds the veth stand-in as PCI function BDF. The container is a busybox-static
root filesystem (no image, no registry) that prints what it sees of the NIC; the host's view is
compared before and after with everything ``Node.link_state`` covers. podman ignores DEL
failures in its exit code, so every "given back" claim is checked on the host itself.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Node, PodmanSandbox, busybox_rootfs
from tests.unit.host_local import allocations

BDF = "0000:44:00.0"
ADDRS = ("55.1.1.56/24 brd +", "55.1.1.57/24", "fd00::5/64 nodad noprefixroute")
SHOW = "ip -o link show enp68s0; echo ==; ip -o addr show dev enp68s0; echo ==; ip route; echo ==; ls /sys/class/net"


@pytest.fixture
def sandbox(node: Node, plugin: Path) -> Iterator[PodmanSandbox]:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: scripts/bootstrap.sh installs it")
    box = PodmanSandbox(node=node, plugin_dirs=(plugin.parent, Path("/usr/lib/cni")))
    try:
        yield box
    finally:
        box.cleanup()


def _seed(node: Node) -> dict[str, Any]:
    node.add_nic("enp68s0", BDF, addrs=ADDRS, mtu=9000)
    node.ip("link set enp68s0 alias 'rdma nic 0'")
    node.ip("route add 192.168.50.0/24 via 55.1.1.1 dev enp68s0")
    return node.link_state("enp68s0")


def _ours(node: Node, **extra: Any) -> dict[str, Any]:
    log = node.work / "plugin.log"
    return {"type": "amd-host-device", "pciBusID": BDF, "rdma": "skip", "logLevel": "info", "logFile": str(log)} | extra


def _run(box: PodmanSandbox, node: Node, network: str, command: str) -> tuple[int, str, str]:
    rootfs = busybox_rootfs(node.work / f"rootfs-{network}")
    proc = box.podman(
        "run", "--rm", "--cgroup-parent", box.cgroup_parent, "--network", network,
        "--rootfs", f"{rootfs}:O", "/bin/sh", "-c", command,
    )  # fmt: skip
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def _plugin_commands(node: Node) -> list[str]:
    log = node.work / "plugin.log"
    return re.findall(r"\] (ADD|DEL|CHECK|VERSION|GC|STATUS) network=", log.read_text()) if log.exists() else []


def _assert_nothing_left(box: PodmanSandbox, node: Node) -> None:
    ps = box.podman("ps", "-a", "--format", "{{.ID}}")
    assert ps.returncode == 0 and ps.stdout.strip() == b"", ps.stdout + ps.stderr
    assert box.cgroup_pids() == []  # no container, no conmon: nothing holds the pod's netns
    # podman's netns files live in the sandbox's private /run, gone with its mount namespace.
    # (Not compared with the machine's /run/netns before and after: other runs add and remove
    # theirs meanwhile.) Every mount of this sandbox and node stayed private:
    with open("/proc/self/mountinfo") as f:
        mounts = f.read()
    assert str(node.work) not in mounts and str(box.work) not in mounts


def test_container_gets_the_nic_and_the_host_gets_it_back(node: Node, sandbox: PodmanSandbox) -> None:
    before = _seed(node)
    sandbox.network("hd-podman", [_ours(node)])

    code, out, err = _run(sandbox, node, "hd-podman", SHOW)

    assert code == 0, out + err
    link, addrs, routes, names = (part.strip() for part in out.split("=="))
    # Inside: the host's name (not eth0), MTU, MAC, up, and every address with its prefix.
    assert re.match(r"\d+: enp68s0[@:]", link), link
    assert " mtu 9000 " in link and ",UP," in link and before["link"]["address"] in link, link
    inside = set(re.findall(r"inet6? ([0-9a-f.:]+/\d+)", addrs)) - {a for a in re.findall(r"inet6 (fe80::[0-9a-f:]+/64)", addrs)}
    assert inside == {f"{a['local']}/{a['prefixlen']}" for a in before["addrs"]}, addrs
    assert "192.168.50.0/24 via 55.1.1.1 dev enp68s0" in routes, routes
    assert "enp68s0" in names.split() and "eth0" not in names.split(), names
    # After the container is gone: everything back on the host, nothing left anywhere.
    assert node.link_state("enp68s0") == before
    assert node.state_files() == []
    assert _plugin_commands(node) == ["ADD", "DEL"]
    _assert_nothing_left(sandbox, node)


def test_a_conflist_with_ipam_gives_the_container_host_locals_address(node: Node, sandbox: PodmanSandbox) -> None:
    """The vnic NAD's IPAM variant under podman: the container sees host-local's address and
    route on the NIC, not the host's; afterwards the host has its own back and the allocation
    file is gone."""
    before = _seed(node)
    ipam = {"type": "host-local", "ranges": [[{"subnet": "10.7.0.0/24", "gateway": "10.7.0.1"}]], "routes": [{"dst": "10.80.0.0/16"}], "dataDir": str(node.work / "ipam")}
    sandbox.network("hd-podman-ipam", [_ours(node, ipam=ipam)])

    code, out, err = _run(sandbox, node, "hd-podman-ipam", SHOW)

    assert code == 0, out + err
    link, addrs, routes, names = (part.strip() for part in out.split("=="))
    assert re.match(r"\d+: enp68s0[@:]", link) and " mtu 9000 " in link, link
    inside = set(re.findall(r"inet6? ([0-9a-f.:]+/\d+)", addrs)) - set(re.findall(r"inet6 (fe80::[0-9a-f:]+/64)", addrs))
    assert inside == {"10.7.0.2/24"}, addrs
    assert "10.80.0.0/16 via 10.7.0.1 dev enp68s0" in routes and "192.168.50.0/24" not in routes, routes
    assert node.link_state("enp68s0") == before
    # host-local allocated (its cursor file stays) and released (no address file left).
    assert (node.work / "ipam" / "hd-podman-ipam" / "last_reserved_ip.0").read_text() == "10.7.0.2"
    assert allocations(node.work / "ipam", "hd-podman-ipam") == {}
    assert node.state_files() == []
    assert _plugin_commands(node) == ["ADD", "DEL"]
    _assert_nothing_left(sandbox, node)


def test_failed_chain_gets_undone_by_the_runtime_del(node: Node, sandbox: PodmanSandbox) -> None:
    """ADD of the second plugin fails after ours moved the NIC: podman then sends DEL (without
    prevResult) for the whole list, and the NIC must come back with everything."""
    before = _seed(node)
    failing_tuning = {"type": "tuning", "sysctl": {"net.ipv4.conf.enp68s0.no_such_knob": "1"}}
    sandbox.network("hd-podman-fail", [_ours(node), failing_tuning])

    code, out, err = _run(sandbox, node, "hd-podman-fail", "echo started")

    assert code != 0 and "started" not in out, out + err
    assert "tuning" in err, err
    assert _plugin_commands(node) == ["ADD", "DEL"]
    assert node.link_state("enp68s0") == before
    assert node.state_files() == []
    _assert_nothing_left(sandbox, node)


def test_network_config_is_what_podman_reads(node: Node, sandbox: PodmanSandbox) -> None:
    """podman lists the network from our conflist with our plugin (a typo there would make the
    other tests fail for the wrong reason)."""
    sandbox.network("hd-podman", [_ours(node)])
    proc = sandbox.podman("network", "inspect", "hd-podman")
    assert proc.returncode == 0, proc.stderr
    (inspected,) = json.loads(proc.stdout)
    assert inspected["name"] == "hd-podman" and inspected["driver"] == "amd-host-device", inspected
