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

import copy
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
from tests.e2e.harness import REPO, Node, shipped_nad_config

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
    "secondary-sbr": _nic(77, "10.77.0.0/31"),
    "ipam": _nic(78),
}


SEED_NAD = shipped_nad_config(REPO / "deploy" / "nad-nic.yaml", "amd-host-device-nad-nic")
IPAM_NAD = shipped_nad_config(REPO / "deploy" / "examples" / "nad-vnic-ipam.yaml", "amd-host-device-nad-vnic-host-local")
SBR_NAD = shipped_nad_config(REPO / "deploy" / "examples" / "nad-nic-sbr.yaml", "amd-host-device-nad-nic-sbr")


def _conflist(conf: dict[str, Any]) -> dict[str, Any]:
    """A NAD's config as a conflist (a single plugin's config becomes a one-plugin list)."""
    if "plugins" in conf:
        return copy.deepcopy(conf)
    plugin = {k: v for k, v in conf.items() if k not in ("cniVersion", "name")}
    return {"cniVersion": conf["cniVersion"], "name": conf["name"], "plugins": [plugin]}


def _handed_over(nad: dict[str, Any], handler: str, node_settings: dict[str, Any], *chained: dict[str, Any], **ours: Any) -> dict[str, Any]:
    """A shipped NAD as Multus hands it over for the device the device plugin allocated: the
    PCI address injected into every plugin of the list as ``deviceID`` and ``pciBusID``, and
    given as ``runtimeConfig.deviceID`` to our plugin, which declares that capability. Plus
    node-local settings for this test node, ``ours`` options, and ``chained`` plugins at the end."""
    conflist = _conflist(nad)
    bdf = NICS[handler].bdf
    for plugin in conflist["plugins"]:
        plugin.update(deviceID=bdf, pciBusID=bdf)
        if plugin["type"] == "amd-host-device":
            plugin.update(capabilities={"deviceID": True}, runtimeConfig={"deviceID": bdf}, **node_settings, **ours)
            plugin["logFile"] = plugin["logFile"].format(handler=handler)
    conflist["plugins"].extend(chained)
    return conflist


def _networks(work: Path) -> dict[str, list[dict[str, Any]]]:
    node = {"rdma": "skip", "logLevel": "info", "logFile": str(work / "{handler}.log")}  # work: the node's logDir
    record = {"type": recorder.NAME}
    ptp = {
        "cniVersion": "0.4.0", "name": "cluster",
        "plugins": [{"type": "ptp", "ipMasq": False, "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.99.0.0/24"}]], "dataDir": str(work / "host-local")}}],
    }  # fmt: skip
    return {
        "seed": [_handed_over(SEED_NAD, "seed", node)],
        "pair-a": [_handed_over(SEED_NAD, "pair-a", node, record | {"recordTo": str(work / "pair-a.calls")})],
        "pair-b": [_handed_over(SEED_NAD, "pair-b", node, record | {"recordTo": str(work / "pair-b.calls")})],
        "sbr": [_handed_over(SBR_NAD, "sbr", node)],
        "restart": [_handed_over(SEED_NAD, "restart", node)],
        "twice": [_handed_over(SEED_NAD, "twice", node)],
        "busy": [_handed_over(SEED_NAD, "busy", node, lockTimeoutSeconds=1)],
        "secondary": [ptp, _handed_over(SEED_NAD, "secondary", node)],
        "secondary-sbr": [ptp, _handed_over(SBR_NAD, "secondary-sbr", node)],
        "keep-name": [_handed_over(SEED_NAD, "keep-name", node, renameToIfname=False)],
        "ipam": [_handed_over(IPAM_NAD, "ipam", node)],
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
    assert node.settings is not None
    node.settings["logDir"] = str(work)
    containerd = Containerd(node, bin_dir, _networks(work))
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
        # StopPodSandbox: DEL in the pod's netns; RemovePodSandbox stops again: DEL without one.
        assert [(call["CNI_COMMAND"], bool(call["CNI_NETNS"])) for call in calls] == [("ADD", True), ("DEL", True), ("DEL", False)]
        assert calls[0]["CNI_NETNS"] == calls[1]["CNI_NETNS"]
        for call in calls:
            args = recorder.cni_args(call["CNI_ARGS"])
            assert args["K8S_POD_NAME"] == f"{handler}-app" and args["K8S_POD_NAMESPACE"] == "hostdev-e2e", args
            assert args["K8S_POD_UID"] == f"uid-{handler}-{handler}-app" and args["K8S_POD_INFRA_CONTAINER_ID"] == sandbox, args
            assert call["CNI_CONTAINERID"] == sandbox and call["CNI_IFNAME"] == "eth0"


def _assert_source_routing(cri: Cri, netns: str, handler: str, ifname: str) -> None:
    """What sbr did in the pod: each of the NIC's IPv4 addresses has a rule and a table of its
    own, the NIC's routes moved there from the main table, and the /31's peer (our result's
    gateway for it) is the default route of that address's table."""
    octet = int(NICS[handler].bdf[5:7], 16)
    table_of = {rule["src"]: rule["table"] for rule in cri.node.ip_json("rule show", netns) if rule.get("src") not in (None, "all")}
    assert sorted(table_of) == [f"10.{octet}.0.0", f"55.1.{octet}.56", f"55.1.{octet}.57"] and len(set(table_of.values())) == 3, table_of

    def routes(table: str) -> list[tuple[str, str | None, str | None]]:
        return [(r["dst"], r.get("gateway"), r.get("dev")) for r in cri.node.ip_json(f"route show table {table}", netns)]

    assert ("default", f"10.{octet}.0.1", ifname) in routes(table_of[f"10.{octet}.0.0"])
    assert (f"192.168.{octet}.0/24", f"55.1.{octet}.1", ifname) in routes(table_of[f"55.1.{octet}.56"])
    assert [r for r in routes("main") if r[2] == ifname] == []


def test_conflist_chaining_sbr(cri: Cri) -> None:
    """The shipped example ``[amd-host-device, sbr]`` as the pod's network: sbr finds the
    interface by ``CNI_IFNAME`` (eth0) and its addresses in our result."""
    nic = NICS["sbr"]
    before = cri.seed("sbr")

    sandbox = cri.run("sbr")

    _assert_source_routing(cri, cri.netns(sandbox), "sbr", "eth0")
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
    second time without a netns: it removed it after the first). The second DEL changes
    nothing and succeeds."""
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
    assert cri.node.link_state(nic.name) == before


def test_del_that_fails_once_is_retried(cri: Cri) -> None:
    """A DEL that cannot take the device's lock (held here, as a hung plugin would) fails with
    code 11: StopPodSandbox fails and the NIC stays in the pod's netns, untouched (containerd
    has already killed the sandbox process, but keeps the netns for the retry). The kubelet's
    retry of StopPodSandbox makes containerd call DEL again, which restores it."""
    nic = NICS["busy"]
    before = cri.seed("busy")
    sandbox = cri.run("busy")
    netns_fd = os.open(cri.netns(sandbox), os.O_RDONLY)  # to look into it once its process is gone
    try:
        netns = f"/proc/{os.getpid()}/fd/{netns_fd}"
        inside = cri.node.link_state("eth0", netns)
        with open(cri.node.state_dir / "locks" / f"{nic.bdf}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with pytest.raises(RpcError) as failed:
                cri.client.stop_pod_sandbox(sandbox)
            assert "failed to destroy network for sandbox" in str(failed.value)
            assert f"waiting for the lock on device {nic.bdf}" in failed.value.details(), failed.value.details()
            assert not cri.node.has_link(nic.name)
            assert cri.node.link_state("eth0", netns) == inside
    finally:
        os.close(netns_fd)  # the retry runs with the netns held by containerd alone

    cri.client.stop_pod_sandbox(sandbox)

    assert cri.node.link_state(nic.name) == before
    assert cri.plugin_log("busy").count("] DEL network=") == 2
    cri.client.remove_pod_sandbox(sandbox)
    cri.sandboxes.remove(sandbox)


def test_ipam_host_local_example(cri: Cri) -> None:
    """The shipped host-local IPAM example as the pod's network: the pod's eth0 gets the address
    host-local allocated (not the host's), which containerd reports; host-local's allocation is
    recorded for this sandbox and released on Stop; the host gets the NIC back as it was."""
    nic = NICS["ipam"]
    before = cri.seed("ipam")
    allocations = cri.containerd.private_path(f"/var/lib/cni/networks/{IPAM_NAD['name']}")

    sandbox = cri.run("ipam")

    status = cri.status(sandbox)
    assert (status.ip, status.additional_ips) == ("10.56.1.2", ())
    inside = _inside(cri, sandbox, "eth0")
    assert [(a["local"], a["prefixlen"]) for a in inside["addrs"]] == [("10.56.1.2", 24)]
    routes = cri.node.ip_json("route show dev eth0", cri.netns(sandbox))
    assert {"dst": "10.56.0.0/16", "gateway": "10.56.1.1"} in [{k: r.get(k) for k in ("dst", "gateway")} for r in routes], routes
    assert (allocations / "10.56.1.2").read_text().split() == [sandbox, "eth0"]
    assert not cri.node.has_link(nic.name)
    cri.stop_and_remove(sandbox)
    assert not (allocations / "10.56.1.2").exists()
    assert cri.node.link_state(nic.name) == before


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


def test_sbr_example_as_second_network(cri: Cri) -> None:
    """The shipped sbr example as an additional network (containerd's eth1, as Multus' net1):
    sbr looks the interface up by ``CNI_IFNAME``, so the example asks for the rename."""
    nic = NICS["secondary-sbr"]
    before = cri.seed("secondary-sbr")

    sandbox = cri.run("secondary-sbr")

    assert cri.status(sandbox).ip.startswith("10.99.0.")
    assert _pod_links(cri, sandbox) == ["eth0", "eth1", "lo"]
    _assert_source_routing(cri, cri.netns(sandbox), "secondary-sbr", "eth1")
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
