"""What the IPAM e2e tests share: configurations with a private host-local dataDir, the
recording stand-in delegate, and views of the pod interface."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.e2e.harness import Node
from tests.unit.host_local import allocations

HERE = Path(__file__).resolve().parent
NETWORK = "amd-host-device-nad-vnic"
VF = "enp69s0v0"
VF_BDF = "0000:45:00.2"


def host_local(node: Node, subnet: str = "10.7.0.0/24", **extra: Any) -> dict[str, Any]:
    """host-local with its own dataDir in the test's work dir, a gateway and a default route."""
    ipam = {"type": "host-local", "ranges": [[{"subnet": subnet}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(node.work / "ipam")}
    ipam.update(extra)
    return ipam


def ipam_conf(node: Node, ipam: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return node.conf(name=NETWORK, ipam=ipam, **extra)


def leases(node: Node) -> dict[str, tuple[str, str]]:
    """host-local's allocations on disk: address -> (container ID, ifname)."""
    return allocations(node.work / "ipam", NETWORK)


def add_vf(node: Node, *, up: bool = True) -> None:
    """A VF-like stand-in: no address on the host (VFs usually have none)."""
    node.add_nic(VF, VF_BDF, up=up, driver="iavf")


def pod_addresses(node: Node, pod: str, name: str) -> list[str]:
    info = node.ip_json(f"addr show dev {name}", pod)[0]["addr_info"]
    return [f"{a['local']}/{a['prefixlen']}" for a in info if a.get("scope") != "link"]


def pod_routes(node: Node, pod: str, name: str) -> list[tuple[str, str | None]]:
    """(destination, gateway) of every route through ``name`` that is not the kernel's."""
    found = []
    for family in ("-4", "-6"):
        for r in node.ip_json(f"{family} route show table all dev {name}", pod):
            if r.get("protocol") in ("kernel", "ra") or r.get("table") == "local" or r.get("type") in ("local", "broadcast", "multicast"):
                continue
            if r["dst"].startswith(("fe80", "ff00", "multicast")):
                continue
            found.append((r["dst"], r.get("gateway")))
    return sorted(found)


class Recorder:
    """The recording stand-in IPAM plugin (tests/e2e/recording_ipam.py), first in CNI_PATH."""

    def __init__(self, node: Node, name: str = "rec-ipam") -> None:
        self.dir = node.work / "delegates"
        self.dir.mkdir(exist_ok=True)
        self.name = name
        shutil.copy2(HERE / "recording_ipam.py", self.dir / name)
        (self.dir / name).chmod(0o755)
        node.cni_path.insert(0, str(self.dir))

    def ipam(self, node: Node, delegate: str = "host-local", **extra: Any) -> dict[str, Any]:
        section = host_local(node, **extra)
        section.update(type=self.name, delegate=delegate, speaks="1.0.0")
        return section

    def calls(self) -> list[dict[str, Any]]:
        path = self.dir / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def commands(self) -> list[str]:
        return [c["command"] for c in self.calls()]

    def fail(self, command: str, code: int, msg: str, details: str = "") -> None:
        (self.dir / f"fail-{command}.json").write_text(json.dumps({"cniVersion": "1.0.0", "code": code, "msg": msg, "details": details}))

    def hang(self, command: str) -> None:
        (self.dir / f"hang-{command}").write_text("")

    def heal(self) -> None:
        for path in self.dir.glob("fail-*"):
            path.unlink()
        for path in self.dir.glob("hang-*"):
            path.unlink()
