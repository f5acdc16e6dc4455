"""The node bundle (bundle/build.sh: PyInstaller one-dir) is the plugin, without the node's Python.

bundle/build.sh builds it once per source hash (cached outside the tree). The end-to-end tests
imported below are the launcher's own; pytest collects them here again, where the ``plugin``
fixture is the bundle's executable, so the same assertions run through the bundle.
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
from tests.e2e.harness import REPO

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


@pytest.fixture(scope="module")
def bundle_dir() -> Path:
    started = time.monotonic()
    proc = subprocess.run([str(REPO / "bundle" / "build.sh")], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.splitlines()[-1])
    print(f"bundle ready in {time.monotonic() - started:.1f} s: {path}")
    return path


@pytest.fixture(scope="module")
def plugin(bundle_dir: Path) -> Path:
    return bundle_dir / PLUGIN_NAME


def test_bundle_has_a_manifest_the_installer_accepts(bundle_dir: Path) -> None:
    bundle = read_bundle(bundle_dir)
    meta = json.loads(bundle.manifest)
    assert meta["bundler"].startswith("pyinstaller ") and bundle_dir.name == f"pyinstaller-{bundle.build_id}"


def test_bundle_carries_cffi_backend_and_the_generated_ffi_module(bundle_dir: Path) -> None:
    """ABI mode: the generated hostdev._netns_ffi and _cffi_backend, no cffi, no pycparser."""
    assert list((bundle_dir / "_internal").glob("_cffi_backend.cpython-*.so"))
    venv = max(bundle_dir.parent.glob("venv-pyinstaller-*"), key=lambda p: p.stat().st_mtime)
    listing = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "PyInstaller.utils.cliutils.archive_viewer", "-r", "-b", str(bundle_dir / PLUGIN_NAME)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    modules = {line.strip().strip("'") for line in listing.splitlines()}
    assert {"hostdev._netns_ffi", "hostdev.cni.plugin", "cni_main", "deploy.node_install"} <= modules
    assert not {m for m in modules if m.split(".")[0] in ("cffi", "pycparser") or m == "hostdev._netns_build"}
    assert "pyi_rth_inspect" not in modules  # dropped by the spec: it costs every start-up


def test_node_needs_only_glibc_and_zlib(bundle_dir: Path) -> None:
    """What a node must provide, as bundle/README.md states it."""
    interpreter, sonames = system_sonames(bundle_dir)
    assert interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert sonames == {"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "libz.so.1"}
    assert f"glibc {required_glibc(bundle_dir)} or newer" in (REPO / "bundle" / "README.md").read_text()


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
