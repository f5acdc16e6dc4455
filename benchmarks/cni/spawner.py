"""Execute plugin binaries like a runtime does, from inside the stand-in node, and time them.

The spawner is a small process started with ``ip netns exec HOST`` (so it sits in the node's
"host" network namespace, in a private mount namespace) with the fabricated sysfs bind-mounted
over ``/sys``. Every plugin it starts inherits both, exactly as a plugin started by a runtime on
a real node sees that node's namespace and sysfs. Keeping it alive between execs means the
measured time is the plugin's alone: ``posix_spawn`` (fork+exec) to ``wait4``, no ``ip``, ``sh``
or ``mount`` in between.

Protocol: one JSON line per batch on stdin (``{"jobs": [...], "parallel": P}``), one JSON line
back with an :class:`Exec` per job in job order. Up to ``parallel`` jobs run at once; the next
starts as soon as any finishes (``wait4(-1)``, so each end time is stamped when that child is
reaped, not when its turn in a loop comes). EOF on stdin ends the spawner.

stdin of a job is a pipe holding the whole configuration (written and closed before the spawn,
so the child reads it and then EOF, as from a runtime); stdout and stderr go to memfds, read
after the exit (a full pipe would stall a chatty child and the clock with it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parents[2]
PIPE_CAPACITY = 60_000  # below Linux's default 64 KiB pipe buffer: the write never blocks
PLUGIN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, slots=True)
class Job:
    argv: tuple[str, ...]  # argv[0] is the absolute path executed (no PATH search)
    env: dict[str, str]
    stdin: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"argv": list(self.argv), "env": self.env, "stdin": self.stdin}


@dataclass(frozen=True, slots=True)
class Exec:
    """One finished child: when it ran (CLOCK_MONOTONIC ns, as ``time.perf_counter_ns``) and what
    the kernel accounted to it (``wait4`` rusage)."""

    pid: int
    start_ns: int  # just before posix_spawn
    end_ns: int  # just after wait4 reaped it
    returncode: int
    stdout: str
    stderr: str
    utime_ns: int
    stime_ns: int
    maxrss_kb: int  # not the plugin's own: vfork folds the spawner's RSS in (see benchmarks/cni/rss.py)

    @property
    def wall_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def cpu_ns(self) -> int:
        return self.utime_ns + self.stime_ns

    def json_out(self) -> Any:
        try:
            return json.loads(self.stdout) if self.stdout.strip() else None
        except json.JSONDecodeError:
            return None


class SpawnError(RuntimeError):
    pass


# --- the spawner process -------------------------------------------------------------------------


def _read_all(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def _spawn(job: dict[str, Any]) -> tuple[int, int, int, int]:
    """Start one job; returns (pid, start_ns, stdout memfd, stderr memfd)."""
    data = job["stdin"].encode()
    if len(data) > PIPE_CAPACITY:
        raise ValueError(f"stdin of {len(data)} bytes would not fit the pipe")
    read_end, write_end = os.pipe()
    out = os.memfd_create("stdout")
    err = os.memfd_create("stderr")
    try:
        os.write(write_end, data)
        os.close(write_end)
        actions = [(os.POSIX_SPAWN_DUP2, read_end, 0), (os.POSIX_SPAWN_DUP2, out, 1), (os.POSIX_SPAWN_DUP2, err, 2)]
        start = time.perf_counter_ns()
        pid = os.posix_spawn(job["argv"][0], job["argv"], job["env"], file_actions=actions)
    except BaseException:
        os.close(out)
        os.close(err)
        raise
    finally:
        os.close(read_end)
    return pid, start, out, err


def run_batch(jobs: Sequence[dict[str, Any]], parallel: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    waiting = deque(enumerate(jobs))
    running: dict[int, tuple[int, int, int, int]] = {}  # pid -> (job index, start, out fd, err fd)
    while waiting or running:
        while waiting and len(running) < max(parallel, 1):
            index, job = waiting.popleft()
            pid, start, out, err = _spawn(job)
            running[pid] = (index, start, out, err)
        pid, status, usage = os.wait4(-1, 0)
        end = time.perf_counter_ns()
        if pid not in running:
            continue
        index, start, out, err = running.pop(pid)
        try:
            stdout, stderr = _read_all(out), _read_all(err)
        finally:
            os.close(out)
            os.close(err)
        results[index] = asdict(Exec(
            pid=pid, start_ns=start, end_ns=end, returncode=os.waitstatus_to_exitcode(status),
            stdout=stdout, stderr=stderr, utime_ns=round(usage.ru_utime * 1e9),
            stime_ns=round(usage.ru_stime * 1e9), maxrss_kb=usage.ru_maxrss,
        ))  # fmt: skip
    return [r for r in results if r is not None]


def serve() -> None:
    """The spawner's main loop (``python -m benchmarks.cni.spawner``)."""
    stdout = sys.stdout
    stdout.write(json.dumps({"ready": True, "pid": os.getpid(), "netns_inode": os.stat("/proc/self/ns/net").st_ino}) + "\n")
    stdout.flush()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply: dict[str, Any] = {"execs": run_batch(request["jobs"], int(request.get("parallel", 1)))}
        except Exception as exc:  # reported to the client, which raises it there
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        stdout.write(json.dumps(reply) + "\n")
        stdout.flush()


# --- the client, in the benchmark process --------------------------------------------------------


class Spawner:
    """``with Spawner(host_netns_name, sysfs_root) as sp: sp.run([job, ...], parallel=P)``

    With ``var_lib_upper``, ``/var/lib`` is an overlay in the spawner's mount namespace whose
    writes land in that directory: plugins that keep state at a fixed path there (AMD's Go plugin
    writes ``/var/lib/cni/amd-host-device``) leave nothing on the machine.
    """

    def __init__(self, netns: str, sysfs_root: Path, *, var_lib_upper: Path | None = None) -> None:
        self.netns = netns
        self.sysfs_root = sysfs_root
        self.var_lib_upper = var_lib_upper
        self._proc: subprocess.Popen[str] | None = None
        self.pid = 0
        self.netns_inode = 0

    def __enter__(self) -> Spawner:
        script = 'mount --bind "$1" /sys && '
        if self.var_lib_upper is not None:
            script += ('mkdir -p "$3/upper" "$3/work" && '
                       'mount -t overlay hdb-var-lib -o "lowerdir=/var/lib,upperdir=$3/upper,workdir=$3/work" /var/lib && ')  # fmt: skip
        script += 'exec "$2" -m benchmarks.cni.spawner'
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "sh", "-c", script, "sh", str(self.sysfs_root), sys.executable,
             str(self.var_lib_upper or "")],  # fmt: skip
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
            env={"PATH": PLUGIN_PATH, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        self._proc = proc
        assert proc.stdout is not None
        line = proc.stdout.readline()
        try:
            hello = json.loads(line)
        except json.JSONDecodeError:
            self.close()
            raise SpawnError(f"spawner did not start in {self.netns}: {line!r}") from None
        self.pid = hello["pid"]
        self.netns_inode = hello["netns_inode"]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def run(self, jobs: Sequence[Job], parallel: int = 1) -> list[Exec]:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise SpawnError("spawner is not running")
        proc.stdin.write(json.dumps({"jobs": [job.to_dict() for job in jobs], "parallel": parallel}) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        if not line:
            raise SpawnError(f"spawner exited (status {proc.poll()})")
        reply = json.loads(line)
        if "error" in reply:
            raise SpawnError(reply["error"])
        return [Exec(**e) for e in reply["execs"]]

    def run_one(self, job: Job) -> Exec:
        return self.run([job])[0]


if __name__ == "__main__":
    serve()
