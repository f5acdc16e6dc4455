"""The kubelet's runtime path, for real: a CRI client → containerd 1.6 (Debian's) → its CRI
plugin → libcni (go-cni) → amd-host-device, on a stand-in node.

The client does what the kubelet does for a pod's sandbox (RunPodSandbox with the pod's
metadata, PodSandboxStatus for the IP, StopPodSandbox, RemovePodSandbox); containerd creates
and deletes the pod netns, passes ``K8S_POD_*`` in ``CNI_ARGS``, keeps libcni's result cache and
calls DEL on StopPodSandbox. One containerd serves the whole module (see ``cri/containerd.py``):
each case has its own runtime handler (its own CNI conf dir) and its own NIC, so the cases do not
depend on each other's order. The sandbox image is built here (``cri/pause_image.py``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cri import recorder
from tests.e2e.cri.client import CriClient, Pod, RpcError, SandboxStatus
from tests.e2e.cri.containerd import CONTAINERD, Containerd, cni_bin_dir
from tests.e2e.cri.pause_image import build_pause_binary, oci_archive
from tests.e2e.cri.stubs import generate
from tests.e2e.harness import Node

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Nic:
    name: str
    bdf: str
    addrs: tuple[str, ...]


def _nic(octet: int, *extra: str) -> Nic:
    return Nic(f"enp{octet}s0", f"0000:{octet:02x}:00.0", (f"55.1.{octet}.56/24 brd +", f"55.1.{octet}.57/24", *extra, f"fd00::{octet:x}/64 nodad"))


# One NIC per runtime handler (= per case). Octets double as PCI bus numbers and address bytes.
NICS = {
    "seed": _nic(68),
    "pair-a": _nic(69),
    "pair-b": _nic(70),
    "sbr": _nic(71, "10.71.0.0/31"),
    "restart": _nic(72),
    "twice": _nic(73),
    "busy": _nic(74),
    "secondary": _nic(75),
    "keep-name": _nic(76),
}


def _ours(handler: str, state_dir: Path, log_dir: Path, **extra: Any) -> dict[str, Any]:
    """Our plugin's entry as Multus hands a NAD over: the allocated device injected as
    ``deviceID``/``pciBusID`` into the plugin's config, and as ``runtimeConfig.deviceID`` for
    a plugin that declares the ``deviceID`` capability."""
    bdf = NICS[handler].bdf
    return {
        "type": "amd-host-device", "capabilities": {"deviceID": True}, "runtimeConfig": {"deviceID": bdf},
        "deviceID": bdf, "pciBusID": bdf, "rdma": "skip", "stateDir": str(state_dir),
        "logLevel": "info", "logFile": str(log_dir / f"{handler}.log"),
    } | extra  # fmt: skip


def _networks(state_dir: Path, work: Path) -> dict[str, list[dict[str, Any]]]:
    def seed_nad(handler: str, *chained: dict[str, Any], version: str = "0.3.1", **extra: Any) -> dict[str, Any]:
        # The seed's NAD ({"name": "amd-host-device-nad-nic", "cniVersion": "0.3.1"}) as a conflist.
        return {"cniVersion": version, "name": "amd-host-device-nad-nic", "plugins": [_ours(handler, state_dir, work, **extra), *chained]}

    record = {"type": recorder.NAME}
    ptp = {
        "cniVersion": "0.4.0", "name": "cluster",
        "plugins": [{"type": "ptp", "ipMasq": False, "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.99.0.0/24"}]], "dataDir": str(work / "host-local")}}],
    }  # fmt: skip
    return {
        "seed": [seed_nad("seed")],
        "pair-a": [seed_nad("pair-a", record | {"recordTo": str(work / "pair-a.calls")})],
        "pair-b": [seed_nad("pair-b", record | {"recordTo": str(work / "pair-b.calls")})],
        "sbr": [seed_nad("sbr", {"type": "sbr"}, version="1.0.0")],
        "restart": [seed_nad("restart", version="1.0.0")],
        "twice": [seed_nad("twice")],
        "busy": [seed_nad("busy", lockTimeoutSeconds=1)],
        "secondary": [ptp, seed_nad("secondary")],
        "keep-name": [seed_nad("keep-name", renameToIfname=False)],
    }


_MACHINE_PATHS = ("/etc/containerd", "/run/containerd", "/var/lib/containerd")


def _machine_view() -> dict[str, Any]:
    """What the machine's own containerd paths hold (names, sizes, hashes of files)."""
    view: dict[str, Any] = {}
    for top in _MACHINE_PATHS:
        if not os.path.lexists(top):
            view[top] = None
            continue
        entries = {}
        for dirpath, _dirs, files in os.walk(top):
            for name in files:
                path = os.path.join(dirpath, name)
                with open(path, "rb") as f:
                    entries[path] = hashlib.sha256(f.read()).hexdigest()
        view[top] = entries
    return view


@dataclass
class Cri:
    node: Node
    containerd: Containerd
    client: CriClient
    work: Path
    machine_before: dict[str, Any]
    sandboxes: list[str] = field(default_factory=list)

    def run(self, handler: str, name: str | None = None) -> str:
        pod = Pod(name=name or f"{handler}-pod", namespace="hostdev-e2e", uid=f"uid-{handler}-{name or 'pod'}")
        sandbox = self.client.run_pod_sandbox(pod, runtime_handler=handler, cgroup_parent=self.containerd.cgroup.parent, log_dir=str(self.work / "pod-logs"))
        self.sandboxes.append(sandbox)
        return sandbox

    def status(self, sandbox: str) -> SandboxStatus:
        return self.client.pod_sandbox_status(sandbox)

    def netns(self, sandbox: str) -> str:
        """The pod's netns, through its sandbox process (containerd mounts it in its own
        mount namespace, where this test cannot name it)."""
        return f"/proc/{self.status(sandbox).pid}/ns/net"

    def stop_and_remove(self, sandbox: str) -> None:
        self.client.stop_pod_sandbox(sandbox)
        self.client.remove_pod_sandbox(sandbox)
        self.sandboxes.remove(sandbox)

    def plugin_log(self, handler: str) -> str:
        path = self.work / f"{handler}.log"
        return path.read_text() if path.exists() else ""

    def seed(self, handler: str) -> dict[str, Any]:
        """The handler's stand-in NIC on the host (MTU, alias, a route): its state before."""
        nic = NICS[handler]
        self.node.add_nic(nic.name, nic.bdf, addrs=nic.addrs, mtu=9000)
        self.node.ip(f"link set {nic.name} alias 'nic for {handler}'")
        self.node.ip(f"route add 192.168.{int(nic.bdf[5:7], 16)}.0/24 via {nic.addrs[0].split('/')[0][:-3]}.1 dev {nic.name}")
        return self.node.link_state(nic.name)

    def records(self) -> list[str]:
        return self.node.state_files()


@pytest.fixture(scope="module")
def cri(plugin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cri]:
    if not os.path.exists(CONTAINERD):
        pytest.fail("containerd is not installed: scripts/bootstrap.sh installs it")
    machine_before = _machine_view()
    work = tmp_path_factory.mktemp("cri")
    bin_dir = cni_bin_dir(work / "bin", plugin)
    node = Node(bin_dir / "amd-host-device")
    containerd = Containerd(node, bin_dir, _networks(node.state_dir, work))
    client = None
    try:
        started = time.monotonic()
        containerd.start()
        pb, services = generate(work / "stubs")
        client = CriClient(containerd.socket, pb, services)
        client.wait_ready(timeout=60)
        imported = containerd.ctr("images", "import", str(oci_archive(build_pause_binary(work), work / "pause.tar")))
        assert imported.returncode == 0, imported.stderr
        print(f"containerd up with the pause image in {time.monotonic() - started:.2f}s")
        cri = Cri(node, containerd, client, work, machine_before)
        yield cri
        for sandbox in list(cri.sandboxes):  # what a failed test left: stop it the kubelet's way
            try:
                cri.stop_and_remove(sandbox)
            except RpcError:
                pass
        assert _machine_view() == machine_before
    finally:
        if client is not None:
            client.close()
        containerd.cleanup()
        node.cleanup()


def _renamed(state: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """``state`` as it must look after the link was renamed: IPv4 labels follow the name."""
    out: dict[str, Any] = json.loads(json.dumps(state).replace(f'"{old}', f'"{new}'))
    return out


def _inside(cri: Cri, sandbox: str, name: str) -> dict[str, Any]:
    return cri.node.link_state(name, cri.netns(sandbox))


def _pod_links(cri: Cri, sandbox: str) -> list[str]:
    return sorted(link["ifname"] for link in cri.node.ip_json("link show", cri.netns(sandbox)))


def _first_ips(nic: Nic) -> tuple[str, tuple[str, ...]]:
    """What containerd reports for a NIC: the first IPv4 as the pod IP, the others in order."""
    plain = [a.split()[0].split("/")[0] for a in nic.addrs]
    return plain[0], tuple(plain[1:])


# --- the seed's NAD as the pod's (primary) network -------------------------------------------


def test_seed_nad_as_primary_network(cri: Cri) -> None:
    """The bug found as a user: containerd takes the pod IP only from the interface it asked
    for (``eth0``). As the runtime's primary network the NIC becomes the pod's eth0, with the
    host's addresses, MTU, alias and routes; the host has it back, name and all, after Stop."""
    nic = NICS["seed"]
    before = cri.seed("seed")

    sandbox = cri.run("seed")

    status = cri.status(sandbox)
    assert (status.state, status.ip, status.additional_ips) == ("SANDBOX_READY", *_first_ips(nic)), cri.plugin_log("seed")
    assert _inside(cri, sandbox, "eth0") == _renamed(before, nic.name, "eth0")
    assert _pod_links(cri, sandbox) == ["eth0", "lo"]
    assert not cri.node.has_link(nic.name)
    cri.stop_and_remove(sandbox)
    assert cri.node.link_state(nic.name) == before
    assert not any(r.startswith("amd-host-device-nad-nic/" + sandbox) for r in cri.records())


def test_two_sandboxes_two_nics_and_pod_metadata_in_cni_args(cri: Cri) -> None:
    before = {handler: cri.seed(handler) for handler in ("pair-a", "pair-b")}

    sandboxes = {handler: cri.run(handler, name=f"{handler}-app") for handler in before}

    for handler, sandbox in sandboxes.items():
        nic = NICS[handler]
        status = cri.status(sandbox)
        assert (status.ip, status.additional_ips) == _first_ips(nic)
        assert _inside(cri, sandbox, "eth0") == _renamed(before[handler], nic.name, "eth0")
        assert not cri.node.has_link(nic.name)
    for handler, sandbox in sandboxes.items():
        cri.stop_and_remove(sandbox)
        assert cri.node.link_state(NICS[handler].name) == before[handler]
    for handler, sandbox in sandboxes.items():
        calls = [json.loads(line) for line in (cri.work / f"{handler}.calls").read_text().splitlines()]
        assert [call["CNI_COMMAND"] for call in calls] == ["ADD", "DEL"]
        for call in calls:
            args = recorder.cni_args(call["CNI_ARGS"])
            assert args["K8S_POD_NAME"] == f"{handler}-app" and args["K8S_POD_NAMESPACE"] == "hostdev-e2e", args
            assert args["K8S_POD_UID"] == f"uid-{handler}-{handler}-app" and args["K8S_POD_INFRA_CONTAINER_ID"] == sandbox, args
            assert call["CNI_CONTAINERID"] == sandbox and call["CNI_IFNAME"] == "eth0"


def test_conflist_chaining_sbr(cri: Cri) -> None:
    """``[amd-host-device, sbr]``: sbr finds the interface by ``CNI_IFNAME`` and its addresses
    in our result, and moves the NIC's routes into a table of their own with a rule per source
    address; the /31's peer (our result's gateway) becomes that table's default route."""
    nic = NICS["sbr"]
    before = cri.seed("sbr")

    sandbox = cri.run("sbr")

    netns = cri.netns(sandbox)
    rules = cri.node.ip_json("rule show", netns)
    sources = {rule.get("src") for rule in rules if "table" in rule and rule.get("table") not in ("local", "main", "default")}
    assert sources == {"55.1.71.56", "55.1.71.57", "10.71.0.0"}, rules
    tables = {rule["table"] for rule in rules if rule.get("src") in sources}
    assert len(tables) == 1, rules
    routes = cri.node.ip_json(f"route show table {tables.pop()}", netns)
    assert {"dst": "default", "gateway": "10.71.0.1", "dev": "eth0"} in [{k: r.get(k) for k in ("dst", "gateway", "dev")} for r in routes], routes
    cri.stop_and_remove(sandbox)
    assert cri.node.link_state(nic.name) == before


def test_containerd_killed_and_restarted_between_run_and_stop(cri: Cri) -> None:
    nic = NICS["restart"]
    before = cri.seed("restart")
    sandbox = cri.run("restart")
    status = cri.status(sandbox)

    cri.containerd.kill()
    cri.containerd.start()
    cri.client.wait_ready(timeout=60)

    again = cri.status(sandbox)
    assert (again.state, again.ip, again.additional_ips, again.pid) == ("SANDBOX_READY", status.ip, status.additional_ips, status.pid)
    assert _inside(cri, sandbox, "eth0") == _renamed(before, nic.name, "eth0")
    cri.stop_and_remove(sandbox)
    assert cri.node.link_state(nic.name) == before
    assert "restored as enp72s0" in cri.plugin_log("restart")


def test_stop_pod_sandbox_twice(cri: Cri) -> None:
    """The kubelet calls StopPodSandbox more than once; containerd calls DEL each time (the
    second time without a netns). The second DEL changes nothing and succeeds."""
    nic = NICS["twice"]
    before = cri.seed("twice")
    sandbox = cri.run("twice")

    cri.client.stop_pod_sandbox(sandbox)
    after_first = cri.node.link_state(nic.name)
    cri.client.stop_pod_sandbox(sandbox)

    assert after_first == before
    assert cri.node.link_state(nic.name) == before
    assert cri.plugin_log("twice").count("] DEL network=") == 2
    cri.client.remove_pod_sandbox(sandbox)
    cri.sandboxes.remove(sandbox)


def test_del_that_fails_once_is_retried(cri: Cri) -> None:
    """A DEL that cannot take the device's lock (held here, as a hung plugin would) fails with
    code 11; StopPodSandbox fails, the NIC stays in the pod untouched, and the kubelet's retry
    of StopPodSandbox makes containerd call DEL again, which restores it."""
    nic = NICS["busy"]
    before = cri.seed("busy")
    sandbox = cri.run("busy")
    inside = _inside(cri, sandbox, "eth0")
    lock_path = cri.node.state_dir / "locks" / f"{nic.bdf}.lock"

    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(RpcError) as failed:
            cri.client.stop_pod_sandbox(sandbox)
        assert "failed to destroy network for sandbox" in str(failed.value)
        assert "held by pid" in str(failed.value) or "busy" in str(failed.value), failed.value
        assert not cri.node.has_link(nic.name)
        assert _inside(cri, sandbox, "eth0") == inside
    cri.stop_and_remove(sandbox)

    assert cri.node.link_state(nic.name) == before
    assert cri.plugin_log("busy").count("] DEL network=") == 2


# --- not the primary network: the seed's behaviour (name kept, IPs indexed to it) -----------


def test_second_network_keeps_the_host_name(cri: Cri) -> None:
    """As a pod's second network (containerd's ``eth1``; Multus' ``net1`` alike) the NIC keeps
    its host name, and the pod IP comes from the primary network (ptp + host-local)."""
    nic = NICS["secondary"]
    before = cri.seed("secondary")

    sandbox = cri.run("secondary")

    status = cri.status(sandbox)
    assert status.ip.startswith("10.99.0."), status
    assert _inside(cri, sandbox, nic.name) == before
    assert _pod_links(cri, sandbox) == sorted(["eth0", nic.name, "lo"])
    results = json.loads(json.dumps(status.info["cniResult"]))
    ours = results["Interfaces"][nic.name]
    assert [ip["IP"] for ip in ours["IPConfigs"]] == [a.split()[0].split("/")[0] for a in nic.addrs]
    cri.stop_and_remove(sandbox)
    assert cri.node.link_state(nic.name) == before


def test_primary_network_with_rename_off_is_refused_by_containerd_and_undone(cri: Cri) -> None:
    """``renameToIfname: false`` as the primary network: containerd finds no IP on eth0,
    fails RunPodSandbox and calls DEL, which gives the NIC back whole (documented)."""
    nic = NICS["keep-name"]
    before = cri.seed("keep-name")

    with pytest.raises(RpcError) as failed:
        cri.run("keep-name")

    assert "failed to find network info for sandbox" in str(failed.value)
    assert cri.node.link_state(nic.name) == before
    log = cri.plugin_log("keep-name")
    assert log.count("] ADD network=") == 1 and log.count("] DEL network=") >= 1, log


# --- last: the machine's own containerd paths -------------------------------------------------


def test_machine_containerd_paths_untouched(cri: Cri) -> None:
    """After every case above ran through it, no sandbox is left and the machine's
    /etc/containerd, /run/containerd and /var/lib/containerd are as they were (the fixture
    checks again at teardown)."""
    assert cri.client.list_pod_sandbox_ids() == cri.sandboxes == []
    assert _machine_view() == cri.machine_before
