"""A stand-in node for driving the installed ``amd-host-device`` binary like a runtime does.

The machine's own namespace is never touched. A node is:

* a "host" network namespace of our own, holding veth stand-ins named like PCI NICs (each with
  its peer, so it stays up), addresses and routes;
* a fabricated sysfs tree in which each stand-in is a PCI function ``<BDF>/net/<ifname>``,
  bind-mounted over ``/sys`` in a private mount namespace of the plugin process only;
* pod network namespaces made with ``ip netns add``;
* the node's settings file (``/etc/cni/amd-host-device.conf``: where state and logs go), laid
  over the machine's ``/etc`` read-only in the plugin's private mount namespace only, so the
  machine's own ``/etc`` is never touched (``Node.settings``; None: no file at all).

``run()`` executes the plugin inside the host namespace with the CNI environment and a config
on stdin, exactly like a runtime, and returns its exit code, parsed stdout and stderr.
A real NIC returns to the host by itself when its pod netns dies; a veth would die with it, so
``emulate_nic_return()`` moves the stand-in back first, as the kernel would (keeping its name).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.unit.sysfs_fixtures import FakeSysfs

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python"
# Upper bound for "it did not wait forever": far above any healthy plugin run, even on a loaded
# 2-core CI machine, far below the harness's own 120 s subprocess timeout. Timing is never asserted
# more tightly than this; what a test proves comes from events (log lines, codes, state).
CEILING_S = 30.0


def sh(cmd: list[str] | str, *, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    args = cmd if isinstance(cmd, list) else ["sh", "-c", cmd]
    return subprocess.run(args, check=check, input=input, capture_output=True)


def load_yaml(path: Path) -> list[dict[str, Any]]:
    """All documents of a YAML file, parsed by PyYAML (Debian's python3-yaml: the project venv
    does not need it for anything else)."""
    code = "import json, sys, yaml; json.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)"
    proc = subprocess.run(["/usr/bin/python3", "-c", code, str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, f"{path}: {proc.stderr}"
    docs = json.loads(proc.stdout)
    assert all(isinstance(doc, dict) for doc in docs), path
    return list(docs)


def shipped_nad_config(path: Path, name: str) -> dict[str, Any]:
    """The CNI configuration (``spec.config``) of NetworkAttachmentDefinition ``name`` in a
    deploy/ manifest."""
    (nad,) = [d for d in load_yaml(path) if d["kind"] == "NetworkAttachmentDefinition" and d["metadata"]["name"] == name]
    config: dict[str, Any] = json.loads(nad["spec"]["config"])
    return config


def install_plugin(bin_dir: Path) -> Path:
    """The installed launcher, as ``hostdev install`` writes it."""
    sh([str(PYTHON), "-m", "hostdev.tools.cli", "install", "--bin-dir", str(bin_dir)])
    return bin_dir / "amd-host-device"


@dataclass
class Result:
    code: int
    out: dict[str, Any] | None
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.code == 0


@dataclass
class Node:
    plugin: Path
    prefix: str = field(default_factory=lambda: "hde" + secrets.token_hex(3))
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hostdev-e2e-")))
    pods: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.host = f"{self.prefix}-host"
        # Where the plugin finds delegates (IPAM): its own dir, then Debian's plugins; tests
        # that need a stand-in delegate put its dir first.
        self.cni_path = [str(self.plugin.parent), "/usr/lib/cni"]
        self.sysfs = FakeSysfs(self.work / "sys")
        self.state_dir = self.work / "state"
        # What the node's admin decides (the plugin's settings file); tests may change or drop it.
        self.settings: dict[str, Any] | None = {"stateDir": str(self.state_dir), "logDir": str(self.work)}
        self.etc = self.work / "etc"
        # (directory, where the plugin sees it): more of a node's file system, bound in the
        # plugin's private mount namespace (an installed node's /var/lib/cni, say).
        self.binds: list[tuple[Path, str]] = []
        self.bdfs: dict[str, str] = {}
        sh(["ip", "netns", "add", self.host])
        self.ip("link set lo up")

    # --- setup ---
    def _ip_in(self, ns: str | None) -> str:
        """``ip`` in netns ``ns``: a name (``ip -n``), or a path such as ``/proc/PID/ns/net``
        for a namespace that has no name here (a runtime's pod netns)."""
        ns = ns or self.host
        return f"nsenter --net={shlex.quote(ns)} ip" if ns.startswith("/") else f"ip -n {ns}"

    def ip(self, args: str, ns: str | None = None) -> str:
        return sh(f"{self._ip_in(ns)} {args}").stdout.decode()

    def ip_json(self, args: str, ns: str | None = None) -> Any:
        return json.loads(sh(f"{self._ip_in(ns)} -j {args}").stdout or b"[]")

    def add_nic(
        self, name: str, bdf: str, *, addrs: tuple[str, ...] = (), mtu: int | None = None, up: bool = True,
        driver: str = "ionic", carrier: bool = True,
    ) -> None:
        """A veth stand-in for a physical NIC at ``bdf`` (its peer stays on the host side, up
        unless ``carrier`` is False: a NIC with its cable out, whose routes show ``linkdown``)."""
        peer = f"p{secrets.token_hex(3)}"
        self.ip(f"link add {name} type veth peer name {peer}")
        if carrier:
            self.ip(f"link set {peer} up")
        if mtu:
            self.ip(f"link set {peer} mtu {mtu}")
            self.ip(f"link set {name} mtu {mtu}")
        for addr in addrs:
            self.ip(f"addr add {addr} dev {name}")
        if up:
            self.ip(f"link set {name} up")
        self.sysfs.add_pci_function(bdf, driver=driver, netdevs=[name])
        self.bdfs[name] = bdf

    def add_pod(self) -> str:
        name = f"{self.prefix}-pod{len(self.pods)}"
        sh(["ip", "netns", "add", name])
        self.pods.append(name)
        return name

    def pod_path(self, pod: str) -> str:
        return f"/run/netns/{pod}"

    @property
    def log_file(self) -> Path:
        """A ``logFile`` for the plugin inside the node's ``logDir``."""
        return self.work / "plugin.log"

    def plugin_log(self) -> str:
        """What the plugin logged to :attr:`log_file` so far ("" before its first line)."""
        return self.log_file.read_text() if self.log_file.exists() else ""

    def delete_pod(self, pod: str) -> None:
        sh(["ip", "netns", "del", pod], check=False)
        if pod in self.pods:
            self.pods.remove(pod)

    def emulate_nic_return(self, pod: str, name: str) -> None:
        """What the kernel does to a physical NIC when its netns dies: back to the host, down,
        no addresses, keeping its current name. Done here before the netns is deleted."""
        sh(f"ip -n {pod} link set {name} down && ip -n {pod} link set {name} netns {self.host}")

    # --- the plugin, as a runtime calls it ---
    def conf(self, **extra: Any) -> dict[str, Any]:
        conf: dict[str, Any] = {"cniVersion": "0.3.1", "name": "amd-host-device-nad-nic", "type": "amd-host-device"}
        conf.update(extra)  # no stateDir: the node's settings say where state goes
        return conf

    @property
    def settings_file(self) -> Path:
        """Where the plugin finds the node settings (``/etc/cni/amd-host-device.conf`` as the
        plugin sees it)."""
        return self.etc / "cni" / "amd-host-device.conf"

    def write_settings(self) -> None:
        (self.etc / "cni").mkdir(parents=True, exist_ok=True)
        if self.settings is not None:
            text = json.dumps(self.settings)
            if self.settings_file.exists() and self.settings_file.read_text() == text:
                return
            tmp = self.settings_file.with_name(f".settings.tmp-{secrets.token_hex(4)}")  # runs in parallel
            tmp.write_text(text)
            tmp.chmod(0o644)
            tmp.rename(self.settings_file)

    def run(
        self,
        command: str,
        conf: dict[str, Any] | bytes,
        *,
        netns: str | None = None,
        container_id: str = "c0ffee",
        ifname: str = "net1",
        env: dict[str, str] | None = None,
        wrapper: tuple[str, ...] = (),
        unset: tuple[str, ...] = (),
    ) -> Result:
        environ = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": container_id,
            "CNI_IFNAME": ifname,
            "CNI_PATH": ":".join(self.cni_path),
        }
        if netns is not None:
            environ["CNI_NETNS"] = netns
        environ.update(env or {})
        for name in unset:  # a variable the runtime failed to pass at all
            environ.pop(name, None)
        stdin = conf if isinstance(conf, bytes) else json.dumps(conf).encode()
        # ip netns exec gives the child a private mount ns with a fresh sysfs of the host netns;
        # the fabricated tree goes over it there, so the plugin sees our PCI functions.
        # ``wrapper`` (e.g. strace) runs the plugin as its child, with the same environment.
        prefix = "".join(f"{shlex.quote(word)} " for word in wrapper)
        script = f'{self._node_mounts()}exec {prefix}"{self.plugin}"'
        proc = subprocess.run(
            ["ip", "netns", "exec", self.host, "sh", "-c", script],
            input=stdin, capture_output=True, env=environ, timeout=120,
        )  # fmt: skip
        text = proc.stdout.decode()
        try:
            parsed = json.loads(text) if text.strip() else None
        except json.JSONDecodeError:
            parsed = None
        return Result(proc.returncode, parsed, text, proc.stderr.decode())

    def _node_mounts(self) -> str:
        """Shell commands (each ending in ``&& ``) that make a private mount namespace this node's:
        its settings over /etc (read-only), its binds, its fabricated sysfs over /sys."""
        self.write_settings()
        binds = "".join(f'mount --bind "{source}" "{target}" && ' for source, target in self.binds)
        return (
            f'mount -t overlay hostdev-etc -o ro,lowerdir="{self.etc}":/etc /etc && {binds}'
            f'mount --bind "{self.sysfs.root}" /sys && '
        )

    def exec_in_host(self, argv: list[str], env: dict[str, str], *, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        """Another program of this node (a runtime, a CNI client) as :meth:`run` runs the plugin:
        in the host netns, seeing the node's settings and fabricated sysfs (so the plugins it
        executes do too)."""
        script = f'{self._node_mounts()}exec "$@"'
        args = ["ip", "netns", "exec", self.host, "sh", "-c", script, "sh", *argv]
        return subprocess.run(args, capture_output=True, env=env, timeout=timeout)

    # --- observation ---
    def settle(self, ns: str | None = None) -> None:
        """Wait until the kernel's link watcher has caught up with every carrier change in ``ns``.

        A link's carrier (LOWER_UP) changes at once, but its operstate, the RUNNING flag (``ip``
        shows NO-CARRIER without it) and the routes' ``linkdown`` flag follow from the link watcher,
        up to a second later and more on a loaded machine. A view taken in between shows a state
        no one set; every view waits for an up link to agree with its own carrier first.
        """
        deadline = time.monotonic() + CEILING_S
        while True:
            unsettled = [
                link["ifname"]
                for link in self.ip_json("link show", ns)
                if "UP" in link.get("flags", ()) and ("LOWER_UP" in link["flags"]) == ("NO-CARRIER" in link["flags"])
            ]
            if not unsettled or time.monotonic() > deadline:
                return  # (past the ceiling the view shows the unsettled link; the comparison says it)
            time.sleep(0.01)

    def link_state(self, name: str, ns: str | None = None) -> dict[str, Any]:
        """Everything `ip` shows that must survive: link fields, addresses in order, routes."""
        self.settle(ns)
        link = self.ip_json(f"-d link show dev {name}", ns)[0]
        addrs = self.ip_json(f"addr show dev {name}", ns)[0]["addr_info"]
        routes = self.ip_json(f"route show table all dev {name}", ns)
        routes6 = self.ip_json(f"-6 route show table all dev {name}", ns)
        keep = ("ifname", "mtu", "address", "operstate", "ifalias", "flags")
        return {
            "link": {k: link.get(k) for k in keep},
            "addrs": [
                {k: a.get(k) for k in ("family", "local", "prefixlen", "broadcast", "scope", "label", "noprefixroute", "nodad", "secondary", "address")}
                for a in addrs
                if not (a.get("family") == "inet6" and a.get("scope") == "link")
            ],
            "routes": sorted(json.dumps(r, sort_keys=True) for r in routes + routes6 if r.get("protocol") != "kernel" and r.get("type") not in ("local", "broadcast", "multicast")),
        }

    def has_link(self, name: str, ns: str | None = None) -> bool:
        return sh(f"{self._ip_in(ns)} link show dev {name}", check=False).returncode == 0

    def state_files(self) -> list[str]:
        root = self.state_dir / "networks"
        if not root.exists():
            return []
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    def cleanup(self) -> None:
        for pod in list(self.pods):
            self.delete_pod(pod)
        sh(["ip", "netns", "del", self.host], check=False)
        shutil.rmtree(self.work, ignore_errors=True)


# --- full before/after views and helpers for fault, conflict and hostile-input tests ---------

# Link fields that change by themselves or with every netns move and are not the device's
# settings: the ifindex (the kernel may renumber on a move) and counters.
_VOLATILE_LINK_KEYS = frozenset({"ifindex", "link_index", "carrier_changes", "carrier_up_count", "carrier_down_count", "stats", "stats64"})


def _is_link_local_v6(text: object) -> bool:
    # fe80::/64 addresses and their routes come back by themselves (after DAD, so not at once).
    return isinstance(text, str) and text.lower().startswith("fe80")


def netns_view(node: Node, ns: str | None = None) -> dict[str, Any]:
    """Everything of a namespace's networking that the plugin could change: every link with all
    its ``ip -d`` fields, its addresses in order, every route of every table and the rules, every
    per-interface sysctl (``net.ipv{4,6}.{conf,neigh}.*``, ``all`` and ``default`` too) and the
    permanent and proxy neighbours."""
    node.settle(ns)
    links = {}
    for link in node.ip_json("-d link show", ns):
        data = link.get("linkinfo", {}).get("info_data")
        if isinstance(data, dict):  # a bridge's running timers tick by themselves
            link["linkinfo"]["info_data"] = {k: v for k, v in data.items() if not k.endswith("_timer")}
        links[link["ifname"]] = {k: v for k, v in link.items() if k not in _VOLATILE_LINK_KEYS}
    addrs = {
        entry["ifname"]: [a for a in entry.get("addr_info", []) if not _is_link_local_v6(a.get("local"))]
        for entry in node.ip_json("addr show", ns)
    }
    routes = sorted(
        json.dumps(r, sort_keys=True)
        for family in ("-4", "-6")
        for r in node.ip_json(f"{family} route show table all", ns)
        if not _is_link_local_v6(r.get("dst"))
    )
    rules = sorted(json.dumps(r, sort_keys=True) for family in ("-4", "-6") for r in node.ip_json(f"{family} rule show", ns))
    neighbours = sorted(
        json.dumps(n, sort_keys=True)
        for n in node.ip_json("neigh show nud permanent", ns) + node.ip_json("neigh show proxy", ns)
    )
    return {"links": links, "addrs": addrs, "routes": routes, "rules": rules, "sysctls": interface_sysctls(node, ns),
            "neighbours": neighbours}  # fmt: skip


def interface_sysctls(node: Node, ns: str | None = None) -> dict[str, str]:
    """``sysctl -a`` for ``net.ipv4|ipv6.conf|neigh.*`` in a namespace (``stable_secret`` shows
    only once set)."""
    out = sh(["ip", "netns", "exec", ns or node.host, "sysctl", "-a", "--pattern", r"^net\.ipv[46]\.(conf|neigh)\."]).stdout
    return dict(line.split(" = ", 1) for line in out.decode().splitlines() if " = " in line)


def state_view(node: Node) -> dict[str, bytes]:
    """Every file in the state directory with its content, except lock files (kept by design:
    one per device ever seen)."""
    if not node.state_dir.exists():
        return {}
    out = {}
    for path in sorted(node.state_dir.rglob("*")):
        rel = path.relative_to(node.state_dir)
        if rel.parts[0] == "locks" or path.is_dir():
            continue
        out[str(rel)] = path.read_bytes() if not path.is_symlink() else b"symlink->" + os.readlink(path).encode()
    return out


def enable_test_faults(node: Node) -> Path:
    """The root-owned marker that lets HOSTDEV_TEST_FAULT fire, at its fixed path in the node's
    /etc (this node's overlay: the plugin runs of other nodes never see it)."""
    marker = node.etc / "cni" / "amd-host-device.test-faults"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("armed by the e2e fault tests\n")
    return marker


def fault_env(point: str, action: str) -> dict[str, str]:
    return {"HOSTDEV_TEST_FAULT": f"{point}:{action}"}


class NetnsHolder:
    """A process that keeps a pod's network namespace alive after its name is gone, the way a
    container process or a leaked fd does: ``sleep`` inside it, or another process (in the
    machine's own namespace) holding an open fd of it. ``release()`` ends it; the namespace
    dies with its last holder."""

    def __init__(self, node: Node, pod: str, *, how: str = "sleep") -> None:
        path = node.pod_path(pod)
        if how == "sleep":
            args = ["ip", "netns", "exec", pod, "sh", "-c", "echo $$; exec sleep 600"]
        else:
            code = f"import os, sys; fd = os.open({path!r}, os.O_RDONLY); print(os.getpid(), fd, flush=True); sys.stdin.read()"
            args = [str(PYTHON), "-c", code]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        words = self.proc.stdout.readline().split()  # printed once the namespace is held
        if not words:
            raise RuntimeError(f"netns holder for {pod} did not start")
        self.ns_path = f"/proc/{int(words[0])}/ns/net" if how == "sleep" else f"/proc/{int(words[0])}/fd/{int(words[1])}"

    def run_inside(self, command: str) -> None:
        """A shell command in the held namespace (its name may already be gone)."""
        sh(["nsenter", f"--net={self.ns_path}", "sh", "-c", command])

    def release(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


RICH_ADDRS = ("55.1.1.56/24 brd +", "55.1.1.57/24", "10.9.9.0/31", "fd00::5/64 nodad noprefixroute", "fd01::5/64 nodad")


def seed_rich_nic(node: Node, name: str, bdf: str, *, octet: int = 1) -> None:
    """A stand-in NIC with everything a move strips: IPv4 primary + secondary + /31, IPv6 with
    flags, MTU, alias, and routes in the main table, another table and IPv6."""
    addrs = tuple(a.replace("55.1.1.", f"55.1.{octet}.").replace("10.9.9.", f"10.9.{octet}.").replace("::5", f"::{octet + 4:x}") for a in RICH_ADDRS)
    node.add_nic(name, bdf, addrs=addrs, mtu=9000)
    node.ip(f"link set {name} alias 'rdma nic {octet}'")
    node.ip(f"route add 192.168.{octet}.0/24 via 55.1.{octet}.1 dev {name}")
    node.ip(f"route add 192.169.{octet}.0/24 via 55.1.{octet}.1 dev {name} table 100 metric 7")
    node.ip(f"-6 route add fd10:{octet:x}::/64 via fd01::1 dev {name}")
    seed_interface_state(node, name, octet)


def seed_interface_state(node: Node, name: str, octet: int = 1) -> None:
    """What a move resets to the target's defaults: per-interface sysctls of both families as an
    admin of a multi-rail RDMA node sets them, neighbour-table parameters, permanent and proxy
    neighbours."""
    sh(["ip", "netns", "exec", node.host, "sysctl", "-q", "-w",
        f"net.ipv4.conf.{name}.arp_ignore=1", f"net.ipv4.conf.{name}.arp_announce=2",
        f"net.ipv4.conf.{name}.rp_filter=2", f"net.ipv6.conf.{name}.accept_ra=0",
        f"net.ipv6.conf.{name}.mtu=8000", f"net.ipv6.conf.{name}.hop_limit=32"])  # fmt: skip
    node.ip(f"ntable change name arp_cache dev {name} delay_probe 1500 queue 7")
    node.ip(f"neigh add 55.1.{octet}.9 lladdr 02:00:00:00:{octet:02x}:09 dev {name} nud permanent")
    node.ip(f"-6 neigh add fd01::{octet + 8:x} lladdr 02:00:00:00:{octet:02x}:0a dev {name} nud permanent router")
    node.ip(f"neigh add proxy 55.1.{octet}.20 dev {name}")


# --- podman as the node's runtime (test_podman.py, test_deploy.py, test_bundle.py) ---------------

PODMAN_CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
[network]
network_backend = "cni"
cni_plugin_dirs = {plugin_dirs}
network_config_dir = "{net_dir}"
"""

# Runs inside a private mount namespace: fresh tmpfs over what a runtime, runc and libcni write
# outside their configured directories (netns files, locks, runtime state, shim sockets, libcni's
# result cache), so nothing of it outlives the namespace; with a node, its settings file goes over
# /etc (read-only) and its fabricated sysfs (with the real cgroup hierarchy grafted in, which
# runtimes need) over /sys, as in Node.run.
PRIVATE_MOUNTS_SCRIPT = """\
set -e
mount -t tmpfs -o mode=0755 hostdev-run /run
mount -t tmpfs -o mode=1777 hostdev-shm /dev/shm
mount -t tmpfs -o mode=0700 hostdev-cni /var/lib/cni
if [ -n "$HOSTDEV_ETC" ]; then
  mount -t overlay hostdev-etc -o ro,lowerdir="$HOSTDEV_ETC":/etc /etc
fi
if [ -n "$HOSTDEV_SYSFS" ]; then
  mount --rbind /sys/fs/cgroup "$HOSTDEV_SYSFS/fs/cgroup"
  mount --rbind "$HOSTDEV_SYSFS" /sys
fi
exec "$@"
"""


class VarLibCniMountPoint:
    """/var/lib/cni must exist to mount a private tmpfs over it; made (and removed again) only
    when the machine has none."""

    def __init__(self) -> None:
        self.made = not os.path.isdir("/var/lib/cni")
        if self.made:
            os.makedirs("/var/lib/cni", mode=0o755)

    def remove(self) -> None:
        if self.made:
            try:
                os.rmdir("/var/lib/cni")
            except OSError:
                pass


class TestCgroup:
    """A cgroup of the test's own below the root of every mounted hierarchy (v1 and v2), given
    to a runtime as the containers' cgroup parent. ``remove()`` kills what is left in it (by
    pid: only processes in these cgroups) and removes the cgroups."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, prefix: str = "hostdev-test") -> None:
        self.parent = f"/{prefix}-{secrets.token_hex(4)}"

    def pids(self) -> list[int]:
        pids: set[int] = set()
        for base in self._dirs():
            for dirpath, _dirs, _files in os.walk(base):
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    pids.update(int(line) for line in f if line.strip())
        return sorted(pids)

    def remove(self) -> None:
        deadline = time.monotonic() + CEILING_S
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)  # a killed process leaves its cgroup a moment after the signal
        for base in self._dirs():
            for dirpath, _dirs, _files in sorted(os.walk(base), key=lambda w: -len(w[0])):
                os.rmdir(dirpath)

    def _dirs(self) -> list[str]:
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split() for line in f]
        points = [m[4] for m in mounts if m[m.index("-") + 1] in ("cgroup", "cgroup2")]
        return [p + self.parent for p in points if os.path.isdir(p + self.parent)]


class PodmanSandbox:
    """podman (CNI backend) confined to one test: config, storage and networks under ``work``,
    runtime state on tmpfs in a private mount namespace, containers under a cgroup parent of its
    own that ``cleanup()`` empties (by pid) and removes. With ``node``, podman runs in the
    node's host netns and sees its fabricated sysfs, so the plugin it calls does too."""

    def __init__(self, *, node: Node | None = None, plugin_dirs: tuple[Path, ...] = (Path("/usr/lib/cni"),)) -> None:
        # A short path of its own: below pytest's deeper tmp dirs, conmon's socket paths get too
        # long (108 bytes) and every `podman run` then waits 20 s for the container's exit code.
        self.work = work = Path(tempfile.mkdtemp(prefix="hdp-"))
        self.node = node
        self.net_dir = work / "net.d"
        self.net_dir.mkdir()
        (work / "tmp").mkdir()
        self.cgroup = TestCgroup()
        self.cgroup_parent = self.cgroup.parent
        dirs = json.dumps([str(d) for d in plugin_dirs])
        (work / "containers.conf").write_text(PODMAN_CONTAINERS_CONF.format(plugin_dirs=dirs, net_dir=self.net_dir))
        (work / "storage.conf").write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{work}/root"\nrunroot = "{work}/runroot"\n')
        self._var_lib_cni = VarLibCniMountPoint()
        if node is not None:
            (node.sysfs.root / "fs" / "cgroup").mkdir(parents=True, exist_ok=True)

    def network(self, name: str, plugins: list[dict[str, Any]], *, cni_version: str = "1.0.0") -> None:
        conflist = {"cniVersion": cni_version, "name": name, "plugins": plugins}
        (self.net_dir / f"{name}.conflist").write_text(json.dumps(conflist, indent=2))

    def run(self, cmd: list[str], *, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        """``cmd`` (``podman ...``, or a script that calls podman) inside the sandbox."""
        environ = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": os.environ.get("HOME", "/root"),
            "CONTAINERS_CONF": str(self.work / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(self.work / "storage.conf"),
            "TMPDIR": str(self.work / "tmp"),
            "HOSTDEV_SYSFS": str(self.node.sysfs.root) if self.node is not None else "",
            "HOSTDEV_ETC": str(self.node.etc) if self.node is not None else "",
        }
        if self.node is not None:
            self.node.write_settings()
        environ.update(env or {})
        prefix = ["nsenter", f"--net=/run/netns/{self.node.host}"] if self.node is not None else []
        args = [*prefix, "unshare", "--mount", "--propagation", "private", "sh", "-c", PRIVATE_MOUNTS_SCRIPT, "sh", *cmd]
        return subprocess.run(args, capture_output=True, env=environ, timeout=timeout)

    def podman(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        return self.run(["podman", *args], timeout=timeout)

    def cgroup_pids(self) -> list[int]:
        """Processes left in this sandbox's cgroups (containers, conmon)."""
        return self.cgroup.pids()

    def cleanup(self) -> None:
        self.cgroup.remove()
        self._var_lib_cni.remove()
        shutil.rmtree(self.work, ignore_errors=True)


def busybox_rootfs(root: Path, applets: tuple[str, ...] = ("sh", "ip", "cat", "ls")) -> Path:
    """A container root filesystem of busybox-static alone: runs with ``--rootfs DIR:O``, no image."""
    (root / "bin").mkdir(parents=True)
    shutil.copy2("/bin/busybox", root / "bin" / "busybox")
    for applet in applets:
        (root / "bin" / applet).symlink_to("busybox")
    for sub in ("proc", "sys", "dev", "etc", "tmp"):
        (root / sub).mkdir()
    return root
