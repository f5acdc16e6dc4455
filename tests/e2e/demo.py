"""The seed's Verification section, reproduced on a stand-in NIC; then the vnic NAD with IPAM.

A throwaway "node" netns holds a veth named like the seed's NIC (enp68s0, PCI 0000:44:00.0 in a
fabricated sysfs); the installed amd-host-device binary is run as Multus would (deviceID and
pciBusID injected into the seed's NAD config). We show the host and the pod before, after ADD and
after DEL, and prove the host ends exactly as it began.

The second part is the vnic NAD with an ``ipam`` section: a VF-like stand-in (enp69s0v0, PCI
0000:45:00.2) with no address on the host gets one from Debian's host-local IPAM plugin in the
pod; DEL releases it (host-local's allocation file is shown before and after) and the VF is back
on the host with none. Everything is removed at the end.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from tests.e2e.harness import Node, install_plugin, sh

BDF = "0000:44:00.0"
NIC = "enp68s0"
VF_BDF = "0000:45:00.2"
VF = "enp69s0v0"


def show(title: str, text: str) -> None:
    print(f"\n### {title}")
    print(text.rstrip() or "(nothing)")


def ifconfig(node: Node, ns: str, name: str = NIC) -> str:
    proc = sh(f"ip -n {ns} addr show dev {name}", check=False)
    if proc.returncode:
        return f"{name}: error fetching interface information: Device not found"
    return proc.stdout.decode()


def rdma_view(node: Node, ns: str) -> str:
    proc = sh(f"ip netns exec {ns} rdma link show", check=False)
    if proc.returncode:
        return "rdma: this kernel has no RDMA subsystem (see tests/vm for the real-kernel tier)"
    return proc.stdout.decode() or "(no RDMA links)"


def main() -> int:
    plugin = install_plugin(Path(tempfile.mkdtemp(prefix="hostdev-demo-bin-")))
    node = Node(plugin)
    try:
        node.add_nic(NIC, BDF, addrs=("55.1.1.56/24 brd +", "fd00:55:1:1::56/64 nodad"), mtu=1500)
        before = node.link_state(NIC)
        pod = node.add_pod()
        conf = node.conf(deviceID=BDF, pciBusID=BDF)  # the seed's NAD + what Multus injects
        print(f"stand-in node: netns {node.host}, pod netns {pod}, plugin {plugin}")
        show("NAD config the runtime passes on stdin", json.dumps(conf, indent=2))
        show("On the host (before allocation): rdma link", rdma_view(node, node.host))
        show(f"On the host (before allocation): ip addr show {NIC}", ifconfig(node, node.host))

        r = node.run("ADD", conf, netns=node.pod_path(pod), container_id="workload-app-nic", ifname="net1")
        show(f"CNI ADD -> exit {r.code}, result", r.stdout)
        if not r.ok:
            print(r.stderr, file=sys.stderr)
            return 1
        show(f"On the workload pod (after allocation): ip addr show {NIC}", ifconfig(node, pod))
        show("On the workload pod (after allocation): rdma link", rdma_view(node, pod))
        show(f"On the host (after allocation): ip addr show {NIC}", ifconfig(node, node.host))

        r = node.run("DEL", conf, netns=node.pod_path(pod), container_id="workload-app-nic", ifname="net1")
        show(f"CNI DEL -> exit {r.code}", r.stdout or "(no output: success)")
        show(f"On the host (after DEL): ip addr show {NIC}", ifconfig(node, node.host))
        restored = node.link_state(NIC) == before
        print(f"\nhost interface identical to before (name, MTU, state, addresses, routes): {restored}")
        return 0 if restored and vnic_with_ipam(node) else 1
    finally:
        node.cleanup()


def allocation_files(data_dir: Path) -> str:
    directory = data_dir / "amd-host-device-nad-vnic"
    # One file per allocated address; "lock" and the "last_reserved_ip.*" cursor are bookkeeping.
    files = sorted(p for p in directory.iterdir() if p.name != "lock" and not p.name.startswith("last_reserved_ip")) if directory.is_dir() else []
    return "\n".join(f"{p.name}: {p.read_bytes().decode().replace(chr(13) + chr(10), ' ')}" for p in files)


def vnic_with_ipam(node: Node) -> bool:
    """The vnic NAD with host-local IPAM, on a VF-like stand-in that has no address on the host."""
    print("\n\n======== the vnic NAD with an ipam section (host-local) ========")
    node.add_nic(VF, VF_BDF, driver="iavf")
    before = node.link_state(VF)
    pod = node.add_pod()
    data_dir = node.work / "host-local"
    ipam = {"type": "host-local", "ranges": [[{"subnet": "10.56.1.0/24", "gateway": "10.56.1.1"}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(data_dir)}
    conf = node.conf(name="amd-host-device-nad-vnic", ipam=ipam, deviceID=VF_BDF, pciBusID=VF_BDF)
    show("NAD config the runtime passes on stdin", json.dumps(conf, indent=2))
    show(f"On the host (before allocation): ip addr show {VF}", ifconfig(node, node.host, VF))
    r = node.run("ADD", conf, netns=node.pod_path(pod), container_id="workload-app-vnic", ifname="net1")
    show(f"CNI ADD -> exit {r.code}, result", r.stdout)
    if not r.ok:
        print(r.stderr, file=sys.stderr)
        return False
    show(f"On the workload pod (after allocation): ip addr show {VF}", ifconfig(node, pod, VF))
    show("On the workload pod (after allocation): ip route", sh(f"ip -n {pod} route show dev {VF}").stdout.decode())
    show("host-local's allocation files (address: container ifname)", allocation_files(data_dir))
    r = node.run("DEL", conf, netns=node.pod_path(pod), container_id="workload-app-vnic", ifname="net1")
    show(f"CNI DEL -> exit {r.code}", r.stdout or "(no output: success)")
    show(f"On the host (after DEL): ip addr show {VF}", ifconfig(node, node.host, VF))
    show("host-local's allocation files after DEL", allocation_files(data_dir))
    restored = node.link_state(VF) == before and allocation_files(data_dir) == ""
    print(f"\nVF back on the host as before, without the IPAM address, allocation released: {restored}")
    return restored


if __name__ == "__main__":
    sys.exit(main())
