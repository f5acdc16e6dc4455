from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.cni.breakdown import PROBE, probe_argv
from benchmarks.cni.launcher import Launcher
from benchmarks.scale.analysis import flatness, growth, per_device, slope_ns_per_record
from benchmarks.scale.batches import ONE_POD, SEPARATE_PODS
from hostdev.tools.install import launcher_text


def _run(mode: str, n: int, parallel: int, per_device_ms: float, rep: int = 0, adds: list[float] | None = None) -> dict[str, Any]:
    adds = adds or [100.0] * n
    return {"mode": mode, "n": n, "parallel": parallel, "plugin": "amd-host-device", "rep": rep,
            "per_device_ns": per_device_ms * 1e6, "ADD": {"exec_wall_ms": adds}, "DEL": {"exec_wall_ms": list(reversed(adds))}}  # fmt: skip


def test_per_device_cost_is_the_median_over_repetitions_per_configuration() -> None:
    runs = [_run(ONE_POD, 1, 1, 300), _run(ONE_POD, 1, 1, 200, rep=1), _run(ONE_POD, 1, 1, 250, rep=2),
            _run(ONE_POD, 8, 1, 275), _run(SEPARATE_PODS, 8, 8, 120)]  # fmt: skip
    runs.append(dict(_run(SEPARATE_PODS, 8, 8, 1.0), plugin="host-device"))  # reference runs are not ours
    table = per_device(runs)
    assert table == {"one pod": {1: 250e6, 8: 275e6}, "separate pods, P=8": {8: 120e6}}
    assert flatness(table["one pod"]) == pytest.approx(1.1)
    assert flatness(table["separate pods, P=8"]) is None


def test_slope_is_least_squares_per_record() -> None:
    assert slope_ns_per_record([100.0, 102.0, 104.0, 106.0]) == pytest.approx(2e6)
    assert slope_ns_per_record([5.0, 1.0, 5.0, 1.0, 5.0]) == pytest.approx(0.0)
    assert slope_ns_per_record([7.0]) == 0.0


def test_growth_reads_dels_in_order_of_records_present() -> None:
    adds = [float(100 + i) for i in range(16)]
    run = _run(ONE_POD, 16, 1, 200, adds=adds)
    run["DEL"]["exec_wall_ms"] = [float(50 + 15 - i) for i in range(16)]  # the first DEL finds all 16
    grow = growth([_run(ONE_POD, 8, 1, 200), run])
    assert grow is not None and grow["n"] == 16
    assert grow["add_slope_ns_per_record"] == pytest.approx(1e6)
    assert grow["del_slope_ns_per_record"] == pytest.approx(1e6)
    assert (grow["add_first_ms"], grow["add_last_ms"]) == (100.5, 114.5)


def test_launcher_is_read_back_and_varied(tmp_path: Path) -> None:
    path = tmp_path / "amd-host-device"
    path.write_text(launcher_text())
    launcher = Launcher.read(path)
    assert Path(launcher.interpreter).is_absolute() and launcher.flags == "-IS"
    assert any(Path(p, "hostdev").is_dir() for p in launcher.sys_path)
    variant = Launcher.read(launcher.variant(tmp_path / "v", launcher.flags + "Ximporttime"))
    assert variant.flags == "-ISXimporttime" and variant.sys_path == launcher.sys_path
    assert (tmp_path / "v").stat().st_mode & 0o111
    assert (tmp_path / "v").read_text().splitlines()[1:] == path.read_text().splitlines()[1:]
    assert launcher.settings is None  # installed without --settings: the plugin reads /etc's
    path.write_text(launcher_text(settings="/run/node/amd-host-device.conf"))
    with_settings = Launcher.read(path)
    assert with_settings.settings == "/run/node/amd-host-device.conf"
    argv = probe_argv(with_settings, tmp_path / "phases.json")
    # the probe runs the plugin with the node's settings, as the launcher does (its state dir!)
    assert argv[argv.index(str(PROBE)) + 1 :][:2] == (str(tmp_path / "phases.json"), "/run/node/amd-host-device.conf")
    assert probe_argv(launcher, tmp_path / "o")[-len(launcher.sys_path) - 1] == ""
    path.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(ValueError):
        Launcher.read(path)
