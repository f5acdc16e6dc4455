from __future__ import annotations

import time

from benchmarks.harness.cpu_share import CpuMeter, describe


def test_our_own_cpu_time_is_not_counted_as_other_work() -> None:
    meter = CpuMeter()
    deadline = time.process_time() + 0.3  # 0.3 s of our own CPU, however long that takes
    while time.process_time() < deadline:
        pass
    use = meter.read()
    assert use["ours_cpus"] * use["elapsed_s"] >= 0.25
    assert use["busy_cpus"] >= use["ours_cpus"] - 0.05  # /proc/stat saw our work too
    assert 0.0 <= use["others_cpus"] <= use["cpus"]
    assert "CPUs busy with other work" in describe(use)
