"""deploy/: the node installer, the manifests, and the DaemonSet's image used as the DaemonSet does.

The installer tests run against a temporary directory standing in for a node's /opt/cni/bin,
with small stand-in bundles (a manifest and a shell-script "plugin") so that they are quick; the
image test uses the real bundle (bundle/build.sh, cached) in a FROM-scratch image run by podman.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.node_install import (
    LAUNCHER_MARKER,
    MANIFEST_NAME,
    PLUGIN_NAME,
    STORE_NAME,
    Bundle,
    InstallError,
    install,
    read_bundle,
)
from tests.e2e.harness import CEILING_S, PYTHON, REPO, Node, PodmanSandbox, install_plugin, load_yaml

DEPLOY = REPO / "deploy"
SCRIPT = """#!/bin/sh
echo ready
read line
echo "{tag}:$line"
"""


def fake_bundle(root: Path, tag: str, build_id: str) -> Bundle:
    """A bundle whose plugin prints "ready", then echoes one stdin line prefixed with ``tag``."""
    root.mkdir(parents=True)
    (root / "_internal").mkdir()
    (root / "_internal" / "lib.txt").write_text(f"library of {tag}\n")
    exe = root / PLUGIN_NAME
    exe.write_text(SCRIPT.format(tag=tag))
    exe.chmod(0o755)
    (root / MANIFEST_NAME).write_text(json.dumps({"name": PLUGIN_NAME, "build": build_id}))
    return read_bundle(root)


def run_plugin(path: Path, line: str = "hi") -> str:
    return subprocess.run([str(path)], input=f"{line}\n".encode(), capture_output=True, check=True).stdout.decode()


def tree(root: Path) -> dict[str, tuple[int, int, float]]:
    """path -> (inode, mode, mtime) of everything below root (symlinks not followed)."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = os.lstat(path)
        out[str(path.relative_to(root))] = (st.st_ino, st.st_mode, st.st_mtime)
    return out


@pytest.fixture
def bundles(tmp_path: Path) -> tuple[Bundle, Bundle]:
    return fake_bundle(tmp_path / "src-v1", "v1", "a1" * 8), fake_bundle(tmp_path / "src-v2", "v2", "b2" * 8)


# --- the installer --------------------------------------------------------------------------


def test_install_links_the_plugin_and_creates_the_state_dir(tmp_path: Path, bundles: tuple[Bundle, Bundle]) -> None:
    v1, _ = bundles
    bin_dir, state = tmp_path / "opt-cni-bin", tmp_path / "var-lib-cni" / "amd-host-device"
    report = install(v1, bin_dir, state_dir=state)
    target = bin_dir / PLUGIN_NAME
    assert report.changed and report.previous is None
    assert os.readlink(target) == f"{STORE_NAME}/{v1.build_id}/{PLUGIN_NAME}"  # relative: works under any mount point
    assert run_plugin(target) == "ready\nv1:hi\n"
    assert (bin_dir / STORE_NAME / v1.build_id / "_internal" / "lib.txt").read_text() == "library of v1\n"
    assert stat.S_IMODE(os.lstat(state).st_mode) == 0o700


def test_install_is_idempotent(tmp_path: Path, bundles: tuple[Bundle, Bundle]) -> None:
    v1, _ = bundles
    install(v1, tmp_path / "bin", state_dir=tmp_path / "state")
    before = tree(tmp_path)
    report = install(v1, tmp_path / "bin", state_dir=tmp_path / "state")
    assert not report.changed and report.removed == []
    assert tree(tmp_path) == before  # not a file rewritten, not a link replaced


def test_upgrade_keeps_a_running_plugin_running(tmp_path: Path, bundles: tuple[Bundle, Bundle]) -> None:
    v1, v2 = bundles
    bin_dir = tmp_path / "bin"
    install(v1, bin_dir)
    running = subprocess.Popen([str(bin_dir / PLUGIN_NAME)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert running.stdout is not None and running.stdout.readline() == b"ready\n"  # executing v1 now
        report = install(v2, bin_dir)
        assert report.changed and report.previous == v1.build_id
        assert run_plugin(bin_dir / PLUGIN_NAME) == "ready\nv2:hi\n"  # new runs get the new build
        assert running.poll() is None
        out, _ = running.communicate(b"still here\n", timeout=CEILING_S)
        assert out == b"v1:still here\n" and running.returncode == 0  # the old run finished as v1
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()
    # The replaced build stays for plugin runs in flight, marked with when it was replaced.
    assert (bin_dir / STORE_NAME / v1.build_id / PLUGIN_NAME).is_file()
    assert (bin_dir / STORE_NAME / v1.build_id / ".replaced").is_file()


def test_replacement_is_atomic_for_a_runtime_looking_at_it(tmp_path: Path, bundles: tuple[Bundle, Bundle]) -> None:
    """While installs flip between two builds, the plugin path always resolves to a complete one."""
    v1, v2 = bundles
    bin_dir = tmp_path / "bin"
    target = bin_dir / PLUGIN_NAME
    install(v1, bin_dir)
    done = threading.Event()
    seen: list[str] = []
    problems: list[str] = []

    def look() -> None:
        while not done.is_set():
            try:
                seen.append((Path(os.path.realpath(target)).parent / "_internal" / "lib.txt").read_text())
            except OSError as exc:
                problems.append(repr(exc))

    watcher = threading.Thread(target=look)
    watcher.start()
    try:
        for i in range(40):
            install(v2 if i % 2 == 0 else v1, bin_dir)
            # Let the watcher look at least once at every state: without this handshake a busy
            # machine may not schedule it between two installs, and it would see one build only.
            reads = len(seen) + len(problems)
            deadline = time.monotonic() + CEILING_S
            while len(seen) + len(problems) <= reads and time.monotonic() < deadline:
                time.sleep(0.0005)
    finally:
        done.set()
        watcher.join()
    assert problems == []
    assert set(seen) == {"library of v1\n", "library of v2\n"}


def test_refuses_to_clobber_an_unrelated_plugin(tmp_path: Path, bundles: tuple[Bundle, Bundle]) -> None:
    v1, _ = bundles
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    other = bin_dir / PLUGIN_NAME
    other.write_bytes(b"\x7fELF another vendor's amd-host-device")
    with pytest.raises(InstallError, match="not installed by hostdev"):
        install(v1, bin_dir)
    assert other.read_bytes() == b"\x7fELF another vendor's amd-host-device"
    other.unlink()
    other.symlink_to("/usr/lib/cni/host-device")  # someone's symlink: not ours either
    with pytest.raises(InstallError):
        install(v1, bin_dir)
    assert os.readlink(other) == "/usr/lib/cni/host-device"
    assert install(v1, bin_dir, force=True).changed  # only when told to
    assert run_plugin(other) == "ready\nv1:hi\n"


def test_refuses_a_directory_even_with_force(tmp_path: Path, bundles: tuple[Bundle, Bundle]) -> None:
    v1, _ = bundles
    (tmp_path / "bin" / PLUGIN_NAME).mkdir(parents=True)
    with pytest.raises(InstallError, match="directory"):
        install(v1, tmp_path / "bin", force=True)


def test_replaces_the_python_launcher_of_hostdev_install(tmp_path: Path, bundles: tuple[Bundle, Bundle]) -> None:
    v1, _ = bundles
    launcher = install_plugin(tmp_path / "bin")
    assert LAUNCHER_MARKER in launcher.read_bytes()
    assert install(v1, tmp_path / "bin").changed
    assert run_plugin(launcher) == "ready\nv1:hi\n"


def test_replaced_builds_are_removed_after_their_grace_period(tmp_path: Path, bundles: tuple[Bundle, Bundle]) -> None:
    v1, v2 = bundles
    bin_dir = tmp_path / "bin"
    store = bin_dir / STORE_NAME
    install(v1, bin_dir)
    install(v2, bin_dir)
    leftover = store / ".tmp-deadbeefdeadbeef-1"  # an install that died mid-copy
    leftover.mkdir()
    assert install(v2, bin_dir).removed == [leftover.name]  # v1 was replaced only just now
    assert (store / v1.build_id).is_dir()
    assert install(v2, bin_dir, keep_replaced_seconds=0).removed == [v1.build_id]
    assert sorted(os.listdir(store)) == [".lock", v2.build_id]
    assert run_plugin(bin_dir / PLUGIN_NAME) == "ready\nv2:hi\n"


def test_reinstalling_a_replaced_build_makes_it_current_again(tmp_path: Path, bundles: tuple[Bundle, Bundle]) -> None:
    v1, v2 = bundles
    bin_dir = tmp_path / "bin"
    install(v1, bin_dir)
    install(v2, bin_dir)
    install(v1, bin_dir)  # a rollback
    assert not (bin_dir / STORE_NAME / v1.build_id / ".replaced").exists()
    install(v1, bin_dir, keep_replaced_seconds=0)
    assert sorted(os.listdir(bin_dir / STORE_NAME)) == [".lock", v1.build_id]


def test_a_damaged_copy_of_the_build_is_replaced(tmp_path: Path, bundles: tuple[Bundle, Bundle]) -> None:
    v1, _ = bundles
    bin_dir = tmp_path / "bin"
    install(v1, bin_dir)
    copy = bin_dir / STORE_NAME / v1.build_id
    (copy / MANIFEST_NAME).write_text("{}")
    (copy / "_internal" / "lib.txt").unlink()
    install(v1, bin_dir)
    assert (copy / "_internal" / "lib.txt").read_text() == "library of v1\n"
    assert (copy / MANIFEST_NAME).read_bytes() == v1.manifest


@pytest.mark.parametrize("problem", ["world-writable", "symlink", "file"])
def test_refuses_a_state_dir_the_plugin_would_refuse(tmp_path: Path, bundles: tuple[Bundle, Bundle], problem: str) -> None:
    v1, _ = bundles
    state = tmp_path / "state"
    if problem == "world-writable":
        state.mkdir()
        state.chmod(0o777)
    elif problem == "symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        state.symlink_to(tmp_path / "elsewhere")
    else:
        state.write_text("")
    with pytest.raises(InstallError, match="state directory"):
        install(v1, tmp_path / "bin", state_dir=state)


@pytest.mark.parametrize(
    "manifest",
    [None, "not json", {"name": PLUGIN_NAME, "build": "../../etc"}, {"name": "other", "build": "ab" * 8}],
)
def test_only_a_hostdev_bundle_is_installed(tmp_path: Path, manifest: Any) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / PLUGIN_NAME).write_text("#!/bin/sh\n")
    (source / PLUGIN_NAME).chmod(0o755)
    if manifest is not None:
        (source / MANIFEST_NAME).write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    with pytest.raises(InstallError):
        read_bundle(source)


def test_command_line(tmp_path: Path, bundles: tuple[Bundle, Bundle]) -> None:
    v1, _ = bundles
    node = tmp_path / "node"
    args = ["install", "--source", str(v1.root), "--host-root", str(node), "--bin-dir", "/opt/cni/bin",
            "--state-dir", "/var/lib/cni/amd-host-device", "--log-dir", "/var/log/amd-host-device",
            "--api-server", "10.0.0.1", "--deny", "driver=e1000e", "--deny", "netdev=eno1", "--allow", "pci=0000:44:00.0"]  # fmt: skip
    first = _node_install(args)
    assert first.returncode == 0 and first.stdout.startswith(b"installed: "), first.stderr
    assert (node / "opt/cni/bin" / PLUGIN_NAME).is_symlink()
    assert stat.S_IMODE(os.lstat(node / "var/lib/cni/amd-host-device").st_mode) == 0o700
    assert stat.S_IMODE(os.lstat(node / "var/log/amd-host-device").st_mode) == 0o700
    settings = node / "etc/cni/amd-host-device.conf"  # the default place, with the node's own paths
    assert json.loads(settings.read_text()) == {
        "stateDir": "/var/lib/cni/amd-host-device", "logDir": "/var/log/amd-host-device", "apiServers": ["10.0.0.1"],
        "deny": {"driver": ["e1000e"], "netdev": ["eno1"]}, "allow": {"pci": ["0000:44:00.0"]},
    }  # fmt: skip
    from hostdev.cni.node_settings import load_node_settings

    assert load_node_settings(str(settings)).deny.netdev == ("eno1",)  # what the plugin reads
    bad = _node_install([*args, "--deny", "vendor=8086"])
    assert bad.returncode == 1 and b"KIND=VALUE" in bad.stderr
    assert stat.S_IMODE(settings.stat().st_mode) == 0o644 and settings.stat().st_uid == 0
    again = _node_install(args)
    assert again.returncode == 0 and again.stdout.startswith(b"already installed: ")
    (node / "other-bin").mkdir()
    (node / "other-bin" / PLUGIN_NAME).write_text("not ours")
    refused = _node_install([*args[:5], "--bin-dir", "/other-bin", "--no-state-dir", "--no-settings"])
    assert refused.returncode == 1 and b"refusing" in refused.stderr and refused.stdout == b""


def test_settings_are_never_written_through_a_symlink(tmp_path: Path, bundles: tuple[Bundle, Bundle]) -> None:
    v1, _ = bundles
    precious = tmp_path / "precious"
    precious.write_text("must stay as it is\n")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "amd-host-device.conf").symlink_to(precious)
    with pytest.raises(InstallError, match="symlink"):
        install(v1, tmp_path / "bin", settings_file=tmp_path / "etc" / "amd-host-device.conf")
    assert precious.read_text() == "must stay as it is\n"


def test_wait_mode_ends_on_sigterm() -> None:
    proc = subprocess.Popen([str(PYTHON), "-c", "import sys; from deploy.node_install import main; sys.exit(main(['wait']))"], cwd=REPO)
    try:
        _wait_until_handling(proc.pid, signal.SIGTERM)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=CEILING_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _node_install(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    code = "import sys; from deploy.node_install import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([str(PYTHON), "-c", code, *args], cwd=REPO, capture_output=True, timeout=60)


def _wait_until_handling(pid: int, sig: int, timeout: float = CEILING_S) -> None:
    """Until the process has a handler for ``sig`` (SigCgt in /proc), so the signal is not lost."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/status") as f:
            caught = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
        if caught & (1 << (sig - 1)):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never installed a handler for signal {sig}")


# --- the manifests --------------------------------------------------------------------------


MANIFESTS = sorted([*DEPLOY.glob("*.yaml"), *DEPLOY.glob("examples/*.yaml")])


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in load_yaml(path)]


def _nads(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "NetworkAttachmentDefinition"}


def test_manifests_are_there_and_parse(docs: list[dict[str, Any]]) -> None:
    names = {p.relative_to(DEPLOY).as_posix() for p in MANIFESTS}
    assert {"daemonset.yaml", "nad-nic.yaml", "nad-vnic.yaml", "examples/workload-pod.yaml", "examples/nad-nic-sbr.yaml", "examples/nad-vnic-ipam.yaml"} <= names
    for doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), doc


def test_nads_are_the_seeds(docs: list[dict[str, Any]]) -> None:
    nads = _nads(docs)
    for kind in ("nic", "vnic"):
        nad = nads[f"amd-host-device-nad-{kind}"]
        assert nad["apiVersion"] == "k8s.cni.cncf.io/v1"
        assert nad["metadata"]["annotations"] == {"k8s.v1.cni.cncf.io/resourceName": f"amd.com/{kind}"}
        assert json.loads(nad["spec"]["config"]) == {"name": f"amd-host-device-nad-{kind}", "cniVersion": "0.3.1", "type": "amd-host-device"}


def test_nad_configs_are_valid_plugin_configs(docs: list[dict[str, Any]]) -> None:
    """Each amd-host-device config as the plugin gets it: DEL as written; ADD and CHECK with the
    deviceID Multus adds from the device plugin's allocation. In a conflist, libcni gives each
    plugin the list's name and cniVersion."""
    from hostdev.cni.config import parse_plugin_config

    checked = 0
    for name, nad in _nads(docs).items():
        conf = json.loads(nad["spec"]["config"])
        plugins = conf["plugins"] if "plugins" in conf else [conf]
        ours = [p | {"name": conf["name"], "cniVersion": conf["cniVersion"]} for p in plugins if p["type"] == "amd-host-device"]
        assert ours, name
        assert conf["name"] == name  # Multus matches the delegate by it
        for plugin_conf in ours:
            assert parse_plugin_config(plugin_conf, "DEL").device is None
            parsed = parse_plugin_config(plugin_conf | {"deviceID": "0000:44:00.0"}, "ADD")
            assert parsed.device is not None and parsed.state_dir == "/var/lib/cni/amd-host-device"
            checked += 1
    assert checked == 5


def test_vnic_ipam_examples_name_their_ipam_plugins(docs: list[dict[str, Any]]) -> None:
    from hostdev.cni.config import parse_plugin_config

    nads = _nads(docs)
    for name, ipam_type in (("amd-host-device-nad-vnic-host-local", "host-local"), ("amd-host-device-nad-vnic-whereabouts", "whereabouts")):
        nad = nads[name]
        assert nad["metadata"]["annotations"] == {"k8s.v1.cni.cncf.io/resourceName": "amd.com/vnic"}
        conf = json.loads(nad["spec"]["config"])
        assert parse_plugin_config(conf | {"deviceID": "0000:45:00.2"}, "ADD").ipam_type == ipam_type


def test_the_host_local_example_works_as_written(docs: list[dict[str, Any]], plugin: Path) -> None:
    """The example's configuration, as Multus hands it over, on a VF-like stand-in with Debian's
    host-local (only its dataDir moved into the test's directory)."""
    conf = json.loads(_nads(docs)["amd-host-device-nad-vnic-host-local"]["spec"]["config"])
    node = Node(plugin)
    try:
        node.add_nic("enp69s0v0", "0000:45:00.2", driver="iavf")
        before = node.link_state("enp69s0v0")
        pod = node.add_pod()
        conf["ipam"]["dataDir"] = str(node.work / "ipam")
        conf |= {"deviceID": "0000:45:00.2"}  # state: where the node settings say
        add = node.run("ADD", conf, netns=node.pod_path(pod))
        assert add.ok and add.out is not None, add.stdout + add.stderr
        assert add.out["ips"] == [{"version": "4", "address": "10.56.1.2/24", "gateway": "10.56.1.1", "interface": 0}]
        assert "10.56.0.0/16 via 10.56.1.1" in node.ip("route show dev enp69s0v0", pod)
        delete = node.run("DEL", conf, netns=node.pod_path(pod))
        assert delete.ok, delete.stdout + delete.stderr
        assert node.link_state("enp69s0v0") == before and not (node.work / "ipam" / conf["name"] / "10.56.1.2").exists()
    finally:
        node.cleanup()


def test_sbr_chain_puts_sbr_after_the_plugin(docs: list[dict[str, Any]]) -> None:
    conf = json.loads(_nads(docs)["amd-host-device-nad-nic-sbr"]["spec"]["config"])
    assert [p["type"] for p in conf["plugins"]] == ["amd-host-device", "sbr"]
    assert conf["cniVersion"] in ("0.4.0", "1.0.0", "1.1.0")  # sbr needs a prevResult with ips


def test_pods_ask_for_one_device_per_attachment(docs: list[dict[str, Any]]) -> None:
    nads = _nads(docs)
    pods = [d for d in docs if d["kind"] == "Pod"]
    assert pods
    for pod in pods:
        networks = [n.strip() for n in pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"].split(",")]
        wanted: dict[str, int] = {}
        for network in networks:
            resource = nads[network]["metadata"]["annotations"]["k8s.v1.cni.cncf.io/resourceName"]
            wanted[resource] = wanted.get(resource, 0) + 1
        (container,) = pod["spec"]["containers"]
        resources = container["resources"]
        assert {k: v for k, v in resources["requests"].items() if k.startswith("amd.com/")} == wanted
        assert resources["limits"] == resources["requests"]  # extended resources: limits required, equal
    two = next(p for p in pods if p["metadata"]["name"] == "workload-app-nic")
    assert two["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"].count("amd-host-device-nad-nic") == 2


def test_daemonset_installs_where_the_node_keeps_plugins(docs: list[dict[str, Any]]) -> None:
    (ds,) = [d for d in docs if d["kind"] == "DaemonSet"]
    spec = ds["spec"]["template"]["spec"]
    assert ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()
    (init,) = spec["initContainers"]
    (idle,) = spec["containers"]
    entrypoint, cmd = _containerfile_entry()
    # The init container runs the image's default command; the other one only waits.
    assert init["command"] == entrypoint and init["args"] == cmd
    assert idle["command"] == entrypoint and idle["args"] == ["wait"]
    assert init["image"] == idle["image"]
    host_paths = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"]}
    mounts: dict[str, str] = {m["mountPath"]: host_paths[m["name"]] for m in init["volumeMounts"]}

    def on_host(path: str) -> str:
        (mount,) = [m for m in mounts if path == m or path.startswith(m + "/")]
        return mounts[mount] + path[len(mount):]

    options = dict(arg.split("=", 1) for arg in cmd[1:])
    root = options["--host-root"]
    # node paths, reached below --host-root where the DaemonSet mounts exactly those directories
    for option, node_path in (("--bin-dir", "/opt/cni/bin"), ("--state-dir", "/var/lib/cni/amd-host-device"),
                              ("--settings", "/etc/cni/amd-host-device.conf")):  # fmt: skip
        assert options[option] == node_path and on_host(root + node_path) == node_path
    assert "hostNetwork" not in spec  # it uses no network (issue 16)
    # It mounts exactly the directories it writes to: the plugin's, the state's, the settings'.
    assert sorted(v["hostPath"]["path"] for v in spec["volumes"]) == ["/etc/cni", "/opt/cni/bin", "/var/lib/cni/amd-host-device"]
    assert not idle.get("volumeMounts")
    assert any(t.get("operator") == "Exists" and "key" not in t for t in spec["tolerations"])


def test_the_docs_pin_the_image_by_digest_and_say_what_multus_thick_needs() -> None:
    """Issue 16 (Low): what the nodes run as root is the image that was built, not whatever the
    tag points at later; and a Multus thick daemon runs the plugin in its own container, where
    only chrootDir shows it the node's settings and state (else two sets of records and locks)."""
    readme = (REPO / "README.md").read_text()
    assert re.search(r"^image: \S+@sha256:", readme, re.M), "README shows no image pinned by digest"
    assert "--digestfile" in readme
    daemonset = (DEPLOY / "daemonset.yaml").read_text()
    assert "@sha256:" in daemonset and "digest" in daemonset
    multus = readme[readme.index("With **Multus thick**"):]
    assert "chrootDir" in multus.split("\n\n")[0] and "/etc/cni/amd-host-device.conf" in multus.split("\n\n")[0]


def _containerfile_entry() -> tuple[list[str], list[str]]:
    lines = (DEPLOY / "Containerfile").read_text().splitlines()
    values = {line.split(None, 1)[0]: json.loads(line.split(None, 1)[1]) for line in lines if line.startswith(("ENTRYPOINT", "CMD"))}
    return values["ENTRYPOINT"], values["CMD"]


# --- the image, as the DaemonSet runs it --------------------------------------------------------


@pytest.fixture(scope="module")
def image() -> Iterator[tuple[PodmanSandbox, str]]:
    box = PodmanSandbox()
    try:
        started = time.monotonic()
        tag = "localhost/amd-host-device-installer:test"
        # The bundle is cached by then (test_bundle builds it); alone on a fresh machine, this
        # builds the bullseye root first: minutes on CI's 2 cores.
        proc = box.run([str(DEPLOY / "build-image.sh"), tag], timeout=2400)
        assert proc.returncode == 0, proc.stderr.decode()
        assert proc.stdout.decode().splitlines()[-1] == tag
        print(f"image built in {time.monotonic() - started:.1f} s", file=sys.stderr)
        yield box, tag
    finally:
        box.cleanup()


def test_image_is_the_bundle_and_its_c_libraries(image: tuple[PodmanSandbox, str]) -> None:
    box, tag = image
    history = box.podman("image", "inspect", tag)
    assert history.returncode == 0, history.stderr
    (inspected,) = json.loads(history.stdout)
    assert inspected["Config"]["Entrypoint"] == ["/hostdev/amd-host-device"]
    assert len(inspected["RootFS"]["Layers"]) == 1  # FROM scratch: our one layer
    mounted = box.run(["sh", "-c", f'dir=$(podman image mount {tag}) && cd "$dir" && find . ! -type d | sort; podman image unmount {tag} >/dev/null'])
    files = mounted.stdout.decode().split()
    outside = sorted(f for f in files if not f.startswith("./hostdev/"))
    assert outside == [  # glibc 2.31's, from the bundle's builder root
        "./lib/x86_64-linux-gnu/libc.so.6", "./lib/x86_64-linux-gnu/libdl.so.2", "./lib/x86_64-linux-gnu/libm.so.6",
        "./lib/x86_64-linux-gnu/libpthread.so.0", "./lib/x86_64-linux-gnu/libutil.so.1", "./lib64/ld-linux-x86-64.so.2",
    ]  # fmt: skip
    assert "./hostdev/amd-host-device" in files and "./hostdev/hostdev-bundle.json" in files


def test_plugin_starts_inside_the_scratch_image(image: tuple[PodmanSandbox, str]) -> None:
    """Nothing in the image but the bundle and those libraries: the plugin itself runs there."""
    box, tag = image
    proc = box.run(["sh", "-c", f"echo '{{\"cniVersion\":\"1.0.0\"}}' | podman run --rm -i --network none --cgroup-parent {box.cgroup_parent} -e CNI_COMMAND=VERSION --entrypoint /hostdev/amd-host-device {tag}"])
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["cniVersion"] == "1.0.0"


def _run_installer(box: PodmanSandbox, tag: str, node_root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """The init container as the DaemonSet runs it: the node's dirs mounted, read-only root,
    no capabilities, no network."""
    return box.podman(
        "run", "--rm", "--network", "none", "--read-only", "--cap-drop", "ALL", "--cgroup-parent", box.cgroup_parent,
        "-v", f"{node_root}/opt/cni/bin:/host/opt/cni/bin",
        "-v", f"{node_root}/var/lib/cni/amd-host-device:/host/var/lib/cni/amd-host-device",
        "-v", f"{node_root}/etc/cni:/host/etc/cni", tag, *args,
    )  # fmt: skip


@pytest.fixture
def node_root(tmp_path: Path) -> Path:
    for sub in ("opt/cni/bin", "var/lib/cni/amd-host-device", "etc/cni"):
        (tmp_path / "node" / sub).mkdir(parents=True)  # 0755, as kubelet's DirectoryOrCreate makes them
    return tmp_path / "node"


def test_installer_image_installs_a_working_plugin(image: tuple[PodmanSandbox, str], node_root: Path) -> None:
    box, tag = image
    first = _run_installer(box, tag, node_root)
    assert first.returncode == 0, first.stderr.decode()
    assert first.stdout.startswith(b"installed: /host/opt/cni/bin/amd-host-device -> build ")
    again = _run_installer(box, tag, node_root)
    assert again.returncode == 0 and again.stdout.startswith(b"already installed: "), again.stderr
    state = node_root / "var/lib/cni/amd-host-device"
    assert stat.S_IMODE(os.lstat(state).st_mode) == 0o700
    settings = json.loads((node_root / "etc/cni/amd-host-device.conf").read_text())
    assert settings == {"stateDir": "/var/lib/cni/amd-host-device"}  # the node's path, not /host/...
    # The node's runtime runs what was installed, end to end, with the installed settings: the
    # plugin sees the node's /etc/cni and /var/lib/cni as the node would.
    node = Node(node_root / "opt/cni/bin" / PLUGIN_NAME)
    try:
        node.settings, node.etc, node.state_dir = None, node_root / "etc", state
        node.binds.append((node_root / "var/lib", "/var/lib"))  # /var/lib exists on any machine
        node.add_nic("enp68s0", "0000:44:00.0", addrs=("55.1.1.56/24", "fd00::5/64 nodad"), mtu=9000)
        before = node.link_state("enp68s0")
        pod = node.add_pod()
        conf = node.conf(cniVersion="1.0.0", deviceID="0000:44:00.0", rdma="skip")
        add = node.run("ADD", conf, netns=node.pod_path(pod))
        assert add.ok, add.stdout + add.stderr
        assert node.link_state("enp68s0", pod) == before and os.listdir(state)
        delete = node.run("DEL", conf, netns=node.pod_path(pod))
        assert delete.ok, delete.stdout + delete.stderr
        assert node.link_state("enp68s0") == before and node.state_files() == []
    finally:
        node.cleanup()


def test_installer_image_refuses_a_foreign_plugin(image: tuple[PodmanSandbox, str], node_root: Path) -> None:
    box, tag = image
    foreign = node_root / "opt/cni/bin" / PLUGIN_NAME
    foreign.write_text("someone else's\n")
    proc = _run_installer(box, tag, node_root)
    assert proc.returncode == 1 and b"refusing" in proc.stderr, proc.stderr
    assert foreign.read_text() == "someone else's\n"


def test_idle_container_stops_at_once(image: tuple[PodmanSandbox, str]) -> None:
    """The DaemonSet's long-running container is PID 1 of its container: it must act on SIGTERM."""
    box, tag = image
    # Stop it only once its handler is in place (SigCgt bit 15): PID 1 of a container ignores a
    # signal it has no handler for, so an earlier SIGTERM would be lost, not a failure.
    script = (
        f"podman run -d --name idle --network none --read-only --cap-drop ALL --cgroup-parent {box.cgroup_parent} "
        f"--entrypoint /hostdev/amd-host-device {tag} wait >/dev/null && "
        "pid=$(podman inspect idle --format '{{.State.Pid}}') && n=0 && "
        "until [ $(( 0x$(sed -n 's/^SigCgt:[[:space:]]*//p' /proc/$pid/status) & 0x4000 )) -ne 0 ]; do "
        f"n=$((n + 1)); [ $n -lt {int(CEILING_S * 100)} ] || exit 3; sleep 0.01; done && "
        "start=$(date +%s%N) && podman stop -t 20 idle >/dev/null && end=$(date +%s%N) && "
        "podman inspect idle --format '{{.State.ExitCode}}' && echo $(( (end - start) / 1000000 )) && podman rm idle >/dev/null"
    )
    proc = box.run(["sh", "-c", script])
    assert proc.returncode == 0, proc.stderr.decode()
    exit_code, stop_ms = proc.stdout.decode().split()
    assert exit_code == "0"  # its own handler ended it, not podman's SIGKILL after -t 20
    assert int(stop_ms) < 20_000  # podman's SIGKILL comes after -t 20 s
