"""Real CNI clients drive a configuration with ``ipam``: libcni (Debian's, the library under
Multus, containerd's go-cni, podman's CNI backend and cnitool) through a minimal runtime built
from it (tests/e2e/libcni_client/main.go). podman itself: tests/e2e/test_podman.py.

libcni does what a bare harness does not: it injects capability arguments as ``runtimeConfig``
(Multus' ``deviceID`` and ``ips``) for plugins that declare the capability, caches the ADD
result and hands it to CHECK and DEL as ``prevResult``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Node, netns_view, state_view
from tests.e2e.ipam_world import NETWORK, VF, VF_BDF, add_vf, host_local, leases, pod_addresses, pod_routes

HERE = Path(__file__).resolve().parent
GOPATH = Path("/usr/share/gocode")  # golang-github-appc-cni-dev: libcni's source, for GOPATH builds


@pytest.fixture(scope="session")
def libcni_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None or not (GOPATH / "src/github.com/containernetworking/cni/libcni").is_dir():
        pytest.fail("go or libcni's source is missing: scripts/bootstrap.sh installs golang-go and golang-github-appc-cni-dev")
    work = tmp_path_factory.mktemp("libcni")
    env = {"PATH": os.environ["PATH"], "HOME": str(work), "GO111MODULE": "off", "GOPATH": str(GOPATH), "GOCACHE": str(work / "cache"), "GOFLAGS": ""}
    out = work / "libcni-client"
    proc = subprocess.run([go, "build", "-o", str(out), str(HERE / "libcni_client" / "main.go")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


def _client(node: Node, client: Path, command: str, conflist: Path, pod: str, capabilities: dict[str, Any]) -> subprocess.CompletedProcess[bytes]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_PATH": ":".join(node.cni_path)}
    argv = [str(client), command, str(conflist), "c0ffee", node.pod_path(pod), "net1", str(node.work / "cni-cache"), json.dumps(capabilities)]
    return node.exec_in_host(argv, env)


def _conflist(node: Node, plugin: dict[str, Any], version: str = "1.0.0") -> Path:
    path = node.work / f"{NETWORK}.conflist"
    path.write_text(json.dumps({"cniVersion": version, "name": NETWORK, "plugins": [plugin]}))
    return path


def _ours(node: Node, ipam: dict[str, Any]) -> dict[str, Any]:
    # As a Multus delegate: deviceID and ips arrive as capability arguments (runtimeConfig).
    return {"type": "amd-host-device", "capabilities": {"deviceID": True, "ips": True}, "rdma": "skip", "ipam": ipam}


def test_libcni_static_ipam_with_multus_ips_and_device_capabilities(node: Node, libcni_client: Path) -> None:
    add_vf(node)
    pod = node.add_pod()
    host = netns_view(node)
    conflist = _conflist(node, _ours(node, {"type": "static", "routes": [{"dst": "10.10.0.0/16", "gw": "10.9.0.1"}]}))
    capabilities = {"deviceID": VF_BDF, "ips": ["10.9.0.5/24"]}

    added = _client(node, libcni_client, "add", conflist, pod, capabilities)
    assert added.returncode == 0, added.stderr.decode()
    result = json.loads(added.stdout)
    assert result["interfaces"] == [{"name": VF, "mac": result["interfaces"][0]["mac"], "sandbox": node.pod_path(pod)}]
    assert result["ips"] == [{"address": "10.9.0.5/24", "interface": 0}]
    assert pod_addresses(node, pod, VF) == ["10.9.0.5/24"] and pod_routes(node, pod, VF) == [("10.10.0.0/16", "10.9.0.1")]

    checked = _client(node, libcni_client, "check", conflist, pod, capabilities)  # prevResult from libcni's cache
    assert checked.returncode == 0, checked.stderr.decode()
    node.ip(f"addr del 10.9.0.5/24 dev {VF}", pod)
    checked = _client(node, libcni_client, "check", conflist, pod, capabilities)
    assert checked.returncode != 0 and b"10.9.0.5/24" in checked.stderr

    deleted = _client(node, libcni_client, "del", conflist, pod, capabilities)
    assert deleted.returncode == 0, deleted.stderr.decode()
    assert netns_view(node) == host and state_view(node) == {}


def test_libcni_host_local_allocates_checks_and_releases(node: Node, libcni_client: Path) -> None:
    add_vf(node)
    pod = node.add_pod()
    host = netns_view(node)
    conflist = _conflist(node, _ours(node, host_local(node)), version="0.4.0")
    capabilities = {"deviceID": VF_BDF}
    added = _client(node, libcni_client, "add", conflist, pod, capabilities)
    assert added.returncode == 0, added.stderr.decode()
    assert json.loads(added.stdout)["ips"] == [{"version": "4", "address": "10.7.0.2/24", "gateway": "10.7.0.1", "interface": 0}]
    assert leases(node) == {"10.7.0.2": ("c0ffee", "net1")}
    checked = _client(node, libcni_client, "check", conflist, pod, capabilities)
    assert checked.returncode == 0, checked.stderr.decode()
    deleted = _client(node, libcni_client, "del", conflist, pod, capabilities)
    assert deleted.returncode == 0, deleted.stderr.decode()
    assert leases(node) == {} and netns_view(node) == host and state_view(node) == {}
