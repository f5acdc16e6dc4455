"""The README's library example, runnable: it makes its own namespaces and stand-in NIC.

    sudo .venv/bin/python examples/move_nic.py

A throwaway "node" netns holds a veth `enp68s0` with addresses, MTU and a route; a throwaway
"pod" netns receives it. Both are created here and removed at the end, also on failure.
"""

from __future__ import annotations

import subprocess
import sys

from hostdev import Handle, apply_snapshot, entered, move_link, new_netns, return_link, take_snapshot


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def main() -> int:
    node, pod = new_netns(), new_netns()  # anonymous: gone when their handles close
    try:
        with entered(node):  # build the stand-in NIC inside the node namespace
            ip("link", "add", "enp68s0", "type", "veth", "peer", "name", "enp68s0-peer")
            ip("link", "set", "enp68s0-peer", "up")
            ip("link", "set", "enp68s0", "mtu", "9000", "up")
            ip("addr", "add", "55.1.1.56/24", "dev", "enp68s0")
            ip("addr", "add", "fd00::56/64", "dev", "enp68s0", "nodad")
            ip("route", "add", "192.168.50.0/24", "via", "55.1.1.1", "dev", "enp68s0")

        with Handle(node) as host, Handle(pod) as inside:
            snap = take_snapshot(host, "enp68s0")                      # ip -d addr; ip route show table all
            link = move_link(host, inside, host.link(name="enp68s0"))  # ip link set enp68s0 netns pod
            apply_snapshot(inside, link, snap)                         # addresses, MTU, up, routes
            in_pod = take_snapshot(inside, link)
            print(f"in the pod: {in_pod.name} mtu {in_pod.mtu} up={in_pod.up}")
            for addr in in_pod.addresses:
                print(f"  {addr.cidr}")
            for route in in_pod.routes:
                print(f"  route {route.destination} via {route.gateway}")
            return_link(host, inside.link(index=link.index), snap, pod=inside)  # down, home, as it was
            restored = take_snapshot(host, "enp68s0")
            same = (restored.addresses, restored.routes, restored.mtu, restored.up) == (
                snap.addresses, snap.routes, snap.mtu, snap.up
            )
            print(f"back on the node, identical to before: {same}")
            return 0 if same else 1
    finally:
        node.close()
        pod.close()


if __name__ == "__main__":
    sys.exit(main())
