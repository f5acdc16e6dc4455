"""Implementations for the round-robin runner whose operations are plugin execs.

An exec is timed by the spawner (``posix_spawn`` to ``wait4``), not by the benchmark process, so
an implementation hands the finished :class:`Exec` to an :class:`ExecClock` instead of lapping a
wall clock. Fixture work after a run (re-addressing what Go host-device stripped, the check)
happens in the runner's ``check``, outside every measured exec.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.cni.node import BenchNode, StandInDevice
from benchmarks.cni.spawner import Exec, Job
from benchmarks.harness.clock import Clock

ADD = "ADD"
DEL = "DEL"
CYCLE = "ADD+DEL"
EXEC = "exec"


class ExecClock:
    """RunClock[Exec]: collects the execs of one run, labelled by operation."""

    __slots__ = ("_laps",)

    def __init__(self) -> None:
        self._laps: list[tuple[str, Exec]] = []

    def start(self) -> None:
        self._laps = []

    def lap(self, op: str) -> None:
        raise TypeError("an ExecClock records execs: call record(op, exec)")

    def record(self, op: str, done: Exec) -> None:
        self._laps.append((op, done))

    def laps(self) -> list[tuple[str, Exec]]:
        return self._laps


def _exec_clock(clock: Clock) -> ExecClock:
    if not isinstance(clock, ExecClock):
        raise TypeError("plugin implementations need an ExecClock")
    return clock


class PluginFailed(RuntimeError):
    pass


def require_success(what: str, done: Exec) -> Exec:
    if done.returncode != 0:
        raise PluginFailed(f"{what} exited {done.returncode}: {done.stdout.strip()[:500]} {done.stderr.strip()[:500]}")
    return done


@dataclass
class CycleImpl:
    """ADD then DEL of one stand-in into one pod by one plugin binary, as a runtime runs them."""

    name: str
    node: BenchNode
    plugin: Path
    conf: dict[str, object]
    device: StandInDevice
    pod: str
    strips_config: bool  # Go host-device: the device comes back down, bare, with an alias
    description: str = ""
    cni_path: str | None = None  # the CNI_PATH it gets (default: the node's bin dir)
    left_behind: str | None = field(default=None)  # what the first DEL left, before re-addressing

    def jobs(self) -> tuple[Job, Job]:
        stdin = json.dumps(self.conf)
        env = {command: self.node.env(command, pod=self.pod, container_id="hdb-cycle", cni_path=self.cni_path) for command in (ADD, DEL)}
        return Job((str(self.plugin),), env[ADD], stdin), Job((str(self.plugin),), env[DEL], stdin)

    def run(self, clock: Clock) -> None:
        recorder = _exec_clock(clock)
        add_job, del_job = self.jobs()
        added = require_success(f"{self.name} ADD", self.node.spawner.run_one(add_job))
        result = added.json_out()
        if not isinstance(result, dict) or not result.get("interfaces"):
            raise PluginFailed(f"{self.name} ADD printed no result with interfaces: {added.stdout[:300]!r}")
        recorder.record(ADD, added)
        recorder.record(DEL, require_success(f"{self.name} DEL", self.node.spawner.run_one(del_job)))

    def after_run(self) -> None:
        """Outside the clock: give the stand-in back what this plugin does not, then check it."""
        if self.strips_config:
            if self.left_behind is None:
                self.left_behind = self.node.difference([self.device], [self.pod], brief=True) or "nothing"
            self.node.readdress([self.device])
        self.node.check([self.device], [self.pod])


@dataclass
class ExecImpl:
    """One exec of a fixed command (VERSION of a plugin, a bare interpreter)."""

    name: str
    node: BenchNode
    job: Job
    description: str = ""

    def run(self, clock: Clock) -> None:
        _exec_clock(clock).record(EXEC, require_success(self.name, self.node.spawner.run_one(self.job)))
