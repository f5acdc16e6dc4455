"""Measure plugin builds against each other: start-up (VERSION), a full ADD+DEL, size on disk.

    sudo .venv/bin/python -m bundle.compare launcher=- bundle=DIR/amd-host-device other=DIR2/amd-host-device

For trying bundle layouts side by side (any number of builds); the tracked measurement of the
shipped bundle against the launcher is ``python -m benchmarks --parts cni --bundle DIR``.

``launcher=-`` installs the Python launcher that ``hostdev install`` writes. Runs are
interleaved (one of each candidate per round), so drift of the machine hits all alike. ADD+DEL
runs on the e2e stand-in node (a veth "NIC" with a fabricated PCI sysfs in a netns of its own),
through the same ``ip netns exec`` + ``mount`` wrapper for every candidate; the ``harness``
row is that wrapper alone (``/bin/true``), to be subtracted by the reader. Needs root.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.e2e.harness import Node, install_plugin

BDF = "0000:44:00.0"


def _time_version(plugin: Path) -> float:
    env = {"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"}
    started = time.perf_counter()
    proc = subprocess.run([str(plugin)], input=b'{"cniVersion":"1.0.0"}', env=env, capture_output=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0 or b"supportedVersions" not in proc.stdout:
        raise SystemExit(f"{plugin}: VERSION failed: {proc.stdout!r} {proc.stderr!r}")
    return elapsed


def _time_add_del(node: Node, plugin: Path, pod: str) -> float:
    node.plugin = plugin
    conf = node.conf(cniVersion="1.0.0", deviceID=BDF, rdma="skip")
    started = time.perf_counter()
    add = node.run("ADD", conf, netns=node.pod_path(pod))
    delete = node.run("DEL", conf, netns=node.pod_path(pod))
    elapsed = time.perf_counter() - started
    if plugin != Path("/bin/true") and not (add.ok and delete.ok):
        raise SystemExit(f"{plugin}: ADD/DEL failed: {add.stdout} {add.stderr} {delete.stdout}")
    return elapsed


def _disk_usage(plugin: Path) -> tuple[int, int]:
    """(bytes on disk, files) of the directory the plugin's real executable lives in."""
    root = Path(os.path.realpath(plugin)).parent
    total = files = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            st = os.lstat(os.path.join(dirpath, name))
            total += st.st_blocks * 512
            files += 1
    return total, files


def _ms(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=10)
    return f"{statistics.median(samples) * 1000:.1f} (p10 {q[0] * 1000:.1f}, p90 {q[-1] * 1000:.1f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", nargs="+", help="NAME=PATH of a plugin executable (launcher=- installs the launcher)")
    parser.add_argument("--execs", type=int, default=50, help="VERSION runs per candidate")
    parser.add_argument("--round-trips", type=int, default=20, help="ADD+DEL runs per candidate")
    args = parser.parse_args(argv)
    candidates: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="hostdev-compare-") as tmp:
        for item in args.candidates:
            name, _, path = item.partition("=")
            candidates[name] = install_plugin(Path(tmp)) if path == "-" else Path(path)
        for plugin in candidates.values():  # warm the page cache: first runs read from disk
            for _ in range(3):
                _time_version(plugin)
        version: dict[str, list[float]] = {name: [] for name in candidates}
        for _ in range(args.execs):
            for name, plugin in candidates.items():
                version[name].append(_time_version(plugin))

        round_trip: dict[str, list[float]] = {name: [] for name in [*candidates, "harness"]}
        node = Node(next(iter(candidates.values())))
        try:
            node.add_nic("enp68s0", BDF, addrs=("55.1.1.56/24", "fd00::5/64 nodad"), mtu=9000)
            pod = node.add_pod()
            for _ in range(args.round_trips):
                for name, plugin in candidates.items():
                    round_trip[name].append(_time_add_del(node, plugin, pod))
                round_trip["harness"].append(_time_add_del(node, Path("/bin/true"), pod))
        finally:
            node.cleanup()

        print(f"VERSION: {args.execs} execs each; ADD+DEL: {args.round_trips} each; times in ms, median (p10, p90)")
        print("| build | VERSION start-up | ADD+DEL (two runs) | on disk | files |")
        print("|---|---|---|---|---|")
        for name, plugin in candidates.items():
            size, files = _disk_usage(plugin)
            where = "(the node's Python)" if name == "launcher" else f"{size / 2**20:.1f} MiB"
            count = "-" if name == "launcher" else str(files)
            print(f"| {name} | {_ms(version[name])} | {_ms(round_trip[name])} | {where} | {count} |")
        print(f"| harness | - | {_ms(round_trip['harness'])} | - | - |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
