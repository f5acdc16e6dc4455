"""Batches of plugin execs over many stand-ins, and what one batch measured.

A batch is N ADDs (or N DELs) handed to the spawner at once with a parallelism P: P=1 runs them
back to back, P>1 keeps P plugin processes in flight. Its wall time runs from the first spawn to
the last reap; the per-process times and rusage come with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from benchmarks.cni.cycle import ADD, DEL, PluginFailed
from benchmarks.cni.node import BenchNode, StandInDevice
from benchmarks.cni.spawner import Exec, Job

ONE_POD = "one pod"
SEPARATE_PODS = "separate pods"


@dataclass(frozen=True, slots=True)
class Attachment:
    device: StandInDevice
    pod: str
    container_id: str
    ifname: str


def attachments(node: BenchNode, mode: str, count: int) -> list[Attachment]:
    """``one pod``: every device into the first pod (ifname net<i>, one container); ``separate
    pods``: device i into pod i (ifname net1, container per pod)."""
    if mode == ONE_POD:
        return [Attachment(d, node.pod_names[0], "hdb-onepod", f"net{d.index}") for d in node.devices[:count]]
    if mode == SEPARATE_PODS:
        return [Attachment(d, node.pod_names[d.index], f"hdb-pod{d.index}", "net1") for d in node.devices[:count]]
    raise ValueError(f"unknown mode {mode!r}")


def job(node: BenchNode, plugin: Path, conf: dict[str, Any], command: str, att: Attachment, argv: tuple[str, ...] | None = None) -> Job:
    env = node.env(command, pod=att.pod, container_id=att.container_id, ifname=att.ifname)
    return Job(argv or (str(plugin),), env, json.dumps(conf))


@dataclass(frozen=True, slots=True)
class Batch:
    command: str
    parallel: int
    execs: tuple[Exec, ...]

    @property
    def wall_ns(self) -> int:
        return max(e.end_ns for e in self.execs) - min(e.start_ns for e in self.execs)

    @property
    def start_ns(self) -> int:
        return min(e.start_ns for e in self.execs)

    def summary(self) -> dict[str, Any]:
        walls = [e.wall_ns for e in self.execs]
        count = len(self.execs)
        return {
            "command": self.command, "parallel": self.parallel, "n": count,
            "wall_ns": self.wall_ns, "per_device_ns": self.wall_ns / count,
            "sum_exec_wall_ns": sum(walls), "max_exec_wall_ns": max(walls), "min_exec_wall_ns": min(walls),
            "sum_cpu_ns": sum(e.cpu_ns for e in self.execs),
            "in_flight_mean": sum(walls) / self.wall_ns if self.wall_ns else 0.0,
            "exec_wall_ms": [round(w / 1e6, 2) for w in walls],
            "exec_cpu_ms": [round(e.cpu_ns / 1e6, 2) for e in self.execs],
            "exec_start_ms": [round((e.start_ns - self.start_ns) / 1e6, 2) for e in self.execs],
        }  # fmt: skip


def run_batch(node: BenchNode, jobs: Sequence[Job], command: str, parallel: int) -> Batch:
    execs = node.spawner.run(jobs, parallel=parallel)
    for done, submitted in zip(execs, jobs):
        if done.returncode != 0:
            raise PluginFailed(
                f"{command} for {submitted.env.get('CNI_NETNS')} {submitted.env.get('CNI_IFNAME')} exited {done.returncode}: "
                f"{done.stdout.strip()[:400]} {done.stderr.strip()[:400]}"
            )
    return Batch(command, parallel, tuple(execs))
