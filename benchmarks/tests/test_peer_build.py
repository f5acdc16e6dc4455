"""scripts/build-amd-peer.sh refuses anything but AMD's plugin source before it creates or installs
anything. The build itself needs the ROCm/network-operator source and PyPI, which CI does not have:
it was run by hand (the binary's sha256 is the one benchmarks/results/cni.md names)."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build-amd-peer.sh"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def test_a_directory_that_is_not_the_plugins_source_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    other = tmp_path / "other-go-module"
    other.mkdir()
    (other / "go.mod").write_text("module example.com/cni/plugins/host-device\n")  # not AMD's
    out = tmp_path / "out"
    result = run(str(other), str(out))
    assert result.returncode == 2 and "is not ROCm/network-operator" in result.stderr
    assert not out.exists()


def test_the_source_must_carry_its_vendored_modules(tmp_path: Path) -> None:
    plugin = tmp_path / "network-operator" / "cni" / "plugins" / "amd-host-device"
    plugin.mkdir(parents=True)
    (plugin / "go.mod").write_text("module github.com/pensando/network-operator/cni/plugins/amd-host-device\n")
    out = tmp_path / "out"
    result = run(str(tmp_path / "network-operator"), str(out))  # no vendor/modules.txt: would need the network
    assert result.returncode == 2 and "vendored modules" in result.stderr
    assert not out.exists()


def test_wrong_arguments_print_the_usage() -> None:
    result = run("only-one")
    assert result.returncode == 2 and result.stderr.startswith("usage:")
