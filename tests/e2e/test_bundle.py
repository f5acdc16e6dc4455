"""The node bundle (bundle/build.sh: C launcher, libpython, modules as .pyc, all built in the
bullseye builder root) is the plugin, without the node's Python, on glibc 2.31.

bundle/build.sh builds it once per source hash (cached outside the tree), bundle/build_root.py
the builder root once per machine. The end-to-end tests imported below are the launcher's own;
pytest collects them here again, where the ``plugin`` fixture is the bundle's executable, so the
same assertions run through the bundle. The bundle also runs inside the builder root itself
(Debian 11, glibc 2.31): VERSION and an ADD/DEL of a stand-in NIC.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from deploy.node_install import MANIFEST_NAME, PLUGIN_NAME, install, read_bundle
from deploy.system_libraries import required_glibc, system_sonames
from tests.e2e.harness import PYTHON, REPO, Node

# The launcher's end-to-end tests, run again through the bundle (see the module docstring).
from tests.e2e.test_plugin_attach import (  # noqa: F401
    test_chained_with_tuning_and_sbr,
    test_del_after_pod_netns_is_gone,
    test_round_trip_keeps_name_addresses_mtu_state_routes,
)
from tests.e2e.test_plugin_protocol import (  # noqa: F401
    test_add_check_del_in_every_version,
    test_errors_are_json_on_stdout_and_logs_on_stderr,
    test_status_and_gc_need_1_1_0,
    test_version_command,
)
from tests.e2e.test_podman import sandbox, test_container_gets_the_nic_and_the_host_gets_it_back  # noqa: F401

RUN_IN_ROOT = REPO / "bundle" / "run-in-root.sh"
GLIBC_LIBRARIES = {"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "libutil.so.1"}
OLDEST_GLIBC = (2, 31)  # Debian 11, Ubuntu 20.04; RHEL 9 and RHCOS have 2.34
# A cold build (debootstrap, CPython from source) takes minutes on CI's 2 cores; cached after.
BUILD_TIMEOUT_S = 2400


@pytest.fixture(scope="module")
def builder_root() -> Path:
    proc = subprocess.run([str(PYTHON), "-m", "bundle.build_root"], cwd=REPO, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def bundle_dir(builder_root: Path) -> Path:
    started = time.monotonic()
    proc = subprocess.run([str(REPO / "bundle" / "build.sh")], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.splitlines()[-1])
    print(f"bundle ready in {time.monotonic() - started:.1f} s: {path}")
    return path


@pytest.fixture(scope="module")
def plugin(bundle_dir: Path) -> Path:
    return bundle_dir / PLUGIN_NAME


def in_root(root: Path, *command: str, binds: tuple[str, ...] = (), stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    bind_args = [arg for path in binds for arg in ("--bind", path)]
    return subprocess.run([str(RUN_IN_ROOT), str(root), *bind_args, "--", *command], input=stdin, capture_output=True, timeout=60)


def test_bundle_has_a_manifest_the_installer_accepts(bundle_dir: Path) -> None:
    bundle = read_bundle(bundle_dir)
    meta = json.loads(bundle.manifest)
    assert meta["bundler"] == "hostdev-launcher" and bundle_dir.name == f"bundle-{bundle.build_id}"
    assert meta["python"].startswith("3.11.")


def test_bundle_carries_its_modules_as_pyc_and_no_build_tools(bundle_dir: Path) -> None:
    """ABI mode: the generated hostdev._netns_ffi and _cffi_backend, no cffi, no pycparser; every
    module a plain .pyc without its source, no archive."""
    app = bundle_dir / "lib" / "app"
    assert list(app.glob("_cffi_backend.cpython-311-*.so"))
    files = {str(p.relative_to(bundle_dir)) for p in bundle_dir.rglob("*") if p.is_file()}
    assert {
        "lib/libpython3.11.so.1.0", "lib/app/entry.pyc", "lib/app/cni_main.pyc", "lib/app/hostdev/_netns_ffi.pyc",
        "lib/app/hostdev/cni/plugin.pyc", "lib/app/deploy/node_install.pyc", "lib/python3.11/encodings/utf_8.pyc",
    } <= files  # fmt: skip
    assert not [f for f in files if f.endswith(".py") or f.endswith(".zip") or "__pycache__" in f]
    top = {Path(f).parts[2].removesuffix(".pyc") for f in files if f.startswith(("lib/app/", "lib/python3.11/")) and len(Path(f).parts) > 3}
    assert not top & {"cffi", "pycparser", "_netns_build", "unittest", "doctest", "pdb", "pydoc", "tkinter", "test"}
    assert "lib/app/hostdev/_netns_build.pyc" not in files


def test_the_bundle_has_no_crash_points_to_arm(bundle_dir: Path, plugin: Path) -> None:
    """Issue 16: the test-only fault injection is not shipped; with its variable and its marker
    both in place, the bundle's plugin still runs straight through."""
    from tests.e2e.harness import enable_test_faults, fault_env

    files = {str(p.relative_to(bundle_dir)) for p in bundle_dir.rglob("*") if p.is_file()}
    assert "lib/app/hostdev/cni/attachment.pyc" in files and "lib/app/hostdev/cni/fault_injection.pyc" not in files
    node = Node(plugin)
    try:
        node.add_nic("enp68s0", "0000:44:00.0", addrs=("55.1.1.56/24",))
        before = node.link_state("enp68s0")
        enable_test_faults(node)
        pod = node.add_pod()
        conf = node.conf(deviceID="0000:44:00.0", rdma="skip")
        added = node.run("ADD", conf, netns=node.pod_path(pod), env=fault_env("add:after-netdev-move", "kill"))
        assert added.ok, added.stdout + added.stderr
        deleted = node.run("DEL", conf, netns=node.pod_path(pod), env=fault_env("del:after-netdev-move", "kill"))
        assert deleted.ok and node.link_state("enp68s0") == before, deleted.stdout + deleted.stderr
    finally:
        node.cleanup()


def test_node_needs_only_glibc_2_31(bundle_dir: Path) -> None:
    """What a node must provide, as bundle/README.md and README.md state it."""
    interpreter, sonames = system_sonames(bundle_dir)
    assert interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert "libc.so.6" in sonames and sonames <= GLIBC_LIBRARIES
    floor = required_glibc(bundle_dir)
    assert tuple(int(part) for part in floor.split(".")) <= OLDEST_GLIBC
    assert f"newest glibc symbol version its files ask for is GLIBC_{floor}" in (REPO / "bundle" / "README.md").read_text()
    assert "glibc 2.31 or newer" in (REPO / "README.md").read_text()


def test_builder_root_is_debian_11_with_glibc_2_31(builder_root: Path) -> None:
    glibc = in_root(builder_root, "getconf", "GNU_LIBC_VERSION")
    assert glibc.returncode == 0, glibc.stderr
    assert glibc.stdout.decode().split() == ["glibc", "2.31"]
    assert "VERSION_CODENAME=bullseye" in (builder_root / "etc" / "os-release").read_text()


def test_bundle_starts_in_the_bullseye_root(bundle_dir: Path, builder_root: Path, tmp_path: Path) -> None:
    """Inside Debian 11 (chroot): the loader takes libpython from the bundle and glibc 2.31 from
    the root, and the plugin answers VERSION."""
    copy = tmp_path / "bundle"
    shutil.copytree(bundle_dir, copy, symlinks=True)
    ldd = in_root(builder_root, "ldd", str(copy / PLUGIN_NAME), binds=(str(tmp_path),))
    assert ldd.returncode == 0, ldd.stderr
    resolved = dict(line.split(" => ") for line in ldd.stdout.decode().split("\n\t") if " => " in line)
    assert resolved["libpython3.11.so.1.0"].startswith(f"{copy}/lib/libpython3.11.so.1.0 ")
    assert resolved["libc.so.6"].startswith("/lib/x86_64-linux-gnu/libc.so.6 ")
    proc = in_root(builder_root, "/usr/bin/env", "-i", "CNI_COMMAND=VERSION", str(copy / PLUGIN_NAME), binds=(str(tmp_path),), stdin=b'{"cniVersion":"1.0.0"}')
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["supportedVersions"][-1] == "1.1.0"


def test_add_and_del_in_the_bullseye_root(bundle_dir: Path, builder_root: Path) -> None:
    """A stand-in NIC into a pod and back, by the bundle running inside Debian 11: the runtime's
    netns path, the node's (fabricated) sysfs and the state directory bound into the root."""
    node = Node(bundle_dir / PLUGIN_NAME)
    try:
        copy = node.work / "bundle"
        shutil.copytree(bundle_dir, copy, symlinks=True)
        node.plugin = copy / PLUGIN_NAME
        chrooted = (str(RUN_IN_ROOT), str(builder_root), "--bind", "/sys", "--bind", "/run/netns", "--bind", str(node.work), "--")
        node.add_nic("enp68s0", "0000:44:00.0", addrs=("55.1.1.56/24", "fd00::5/64 nodad"), mtu=9000)
        before = node.link_state("enp68s0")
        pod = node.add_pod()
        conf = node.conf(cniVersion="1.0.0", deviceID="0000:44:00.0", rdma="skip")
        added = node.run("ADD", conf, netns=node.pod_path(pod), wrapper=chrooted)
        assert added.ok, added.stdout + added.stderr
        assert node.link_state("enp68s0", pod) == before and not node.has_link("enp68s0")
        deleted = node.run("DEL", conf, netns=node.pod_path(pod), wrapper=chrooted)
        assert deleted.ok, deleted.stdout + deleted.stderr
        assert node.link_state("enp68s0") == before and not node.has_link("enp68s0", pod)
        assert node.state_files() == []
    finally:
        node.cleanup()


def test_bundle_runs_without_any_environment(bundle_dir: Path) -> None:
    proc = subprocess.run(
        [str(bundle_dir / PLUGIN_NAME)], input=b'{"cniVersion":"1.1.0"}', env={"CNI_COMMAND": "VERSION"},
        cwd="/", capture_output=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cniVersion"] == "1.1.0"


def test_upgrade_under_a_running_bundle(bundle_dir: Path, tmp_path: Path) -> None:
    """A VERSION call in flight (its stdin still open) finishes on its own build while the
    installer switches the node to another build."""
    builds = []
    for build_id in ("1" * 16, "2" * 16):
        copy = tmp_path / build_id
        shutil.copytree(bundle_dir, copy, symlinks=True)
        meta = json.loads((copy / MANIFEST_NAME).read_text()) | {"build": build_id}
        (copy / MANIFEST_NAME).write_text(json.dumps(meta))
        builds.append(read_bundle(copy))
    bin_dir = tmp_path / "node-bin"
    install(builds[0], bin_dir)
    running = subprocess.Popen(
        [str(bin_dir / PLUGIN_NAME)], env={"CNI_COMMAND": "VERSION"},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_until_reading_stdin(running.pid)
        exe = Path(f"/proc/{running.pid}/exe").resolve()
        assert exe == bin_dir / ".amd-host-device" / builds[0].build_id / PLUGIN_NAME
        assert install(builds[1], bin_dir).changed
        assert (bin_dir / PLUGIN_NAME).resolve().parent.name == builds[1].build_id
        out, err = running.communicate(b'{"cniVersion":"1.0.0"}', timeout=30)
        assert running.returncode == 0, err
        assert json.loads(out)["cniVersion"] == "1.0.0"
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()


def _wait_until_reading_stdin(pid: int, timeout: float = 30) -> None:
    """Until the process sits in read(0, ...): the plugin is up and waits for its config."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            syscall = Path(f"/proc/{pid}/syscall").read_text().split()
        except OSError:
            syscall = []
        if syscall[:2] == ["0", "0x0"]:  # read(2) on fd 0
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never started reading its stdin")
