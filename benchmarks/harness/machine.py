"""What the numbers were measured on: they mean little without the machine, kernel and versions."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _hypervisor() -> bool:
    try:
        return " hypervisor" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


RCU_CONFIG = ("CONFIG_HZ", "CONFIG_PREEMPT_RCU", "CONFIG_PREEMPT_DYNAMIC", "CONFIG_PREEMPT_NONE", "CONFIG_RCU_LAZY",
              "CONFIG_RCU_NOCB_CPU", "CONFIG_NO_HZ_IDLE", "CONFIG_NO_HZ_FULL")  # fmt: skip


def kernel_facts() -> dict[str, str]:
    """The settings that decide how long a netns move waits (RCU grace periods, timer tick)."""
    facts: dict[str, str] = {}
    try:
        import gzip

        with gzip.open("/proc/config.gz", "rt") as config:
            for line in config:
                key, _, value = line.strip().partition("=")
                if key in RCU_CONFIG:
                    facts[key] = value
    except OSError:
        pass
    for knob in ("rcu_expedited", "rcu_normal"):
        try:
            facts[f"/sys/kernel/{knob}"] = Path(f"/sys/kernel/{knob}").read_text().strip()
        except OSError:
            pass
    return facts


def _command_output(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=REPO)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _iproute2_version() -> str | None:
    text = _command_output(["ip", "-V"])  # "ip utility, iproute2-6.1.0, libbpf 1.1.2"
    if text is None:
        return None
    for part in text.split(","):
        if "iproute2" in part:
            return part.strip()
    return text


def machine_info() -> dict[str, Any]:
    uname = os.uname()
    commit = _command_output(["git", "rev-parse", "--short=12", "HEAD"])
    dirty = _command_output(["git", "status", "--porcelain", "--untracked-files=no", "--", "hostdev"])
    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "virtualized": _hypervisor(),
        "kernel": uname.release,
        "kernel_build": uname.version,
        "machine": uname.machine,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_executable": sys.executable,
        "hostdev": _version("hostdev"),
        "hostdev_commit": (commit + ("+dirty" if dirty else "")) if commit else None,
        "pyroute2": _version("pyroute2"),
        "iproute2": _iproute2_version(),
        "kernel_facts": kernel_facts(),
        "loadavg_at_start": os.getloadavg(),
    }


def machine_line(info: dict[str, Any]) -> str:
    """One line for tables and plot titles."""
    virt = ", VM" if info.get("virtualized") else ""
    return (
        f"{info['nproc']} × {info['cpu_model']}{virt}; Linux {info['kernel']}; {info['python']}; "
        f"{info.get('iproute2') or 'iproute2 ?'}; pyroute2 {info.get('pyroute2') or '?'}"
    )
