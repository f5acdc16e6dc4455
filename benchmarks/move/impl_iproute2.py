"""iproute2 driven from Python: one ``ip`` exec per step, and ``ip -batch`` with as few execs as can be.

Every command targets its namespace with ``ip -n NAME`` (what scripts and the Go plugin's shell
equivalents use; ``ip -n`` enters the netns and remounts /sys in a private mount namespace
before it runs, which is part of its real cost).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

from benchmarks.harness.clock import Clock
from benchmarks.move.ip_plan import IpPlan, batch_text, plan_from_ip_json
from benchmarks.move.ops import (
    APPLY,
    BATCH_APPLY_MOVE,
    BATCH_SNAPSHOT_MOVE,
    MOVE_BACK,
    MOVE_IN,
    RESTORE,
    SNAPSHOT,
)
from benchmarks.move.standin import StandIn


class IpCommandFailed(RuntimeError):
    pass


def _ip_binary() -> str:
    path = shutil.which("ip")
    if path is None:
        raise IpCommandFailed("no `ip` binary on PATH")
    return path


def _run(argv: list[str], stdin: str | None = None) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        raise IpCommandFailed(f"{' '.join(argv[1:])}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def _json_documents(text: str) -> list[Any]:
    """``ip -j -batch`` prints one JSON document per show command."""
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return docs
        doc, pos = decoder.raw_decode(text, pos)
        docs.append(doc)


class IpPerStepImpl:
    """``ip`` once per step: 2 execs to snapshot, 1 per move, 1 per address/route, 1 for MTU+up."""

    name = "ip"

    def __init__(self, nic: StandIn) -> None:
        self.ip = _ip_binary()
        self.ifname = nic.spec.ifname
        self.host, self.pod = nic.host_name, nic.pod_name

    def close(self) -> None:
        pass

    def run(self, clock: Clock) -> None:
        ip, host, pod, ifname = self.ip, self.host, self.pod, self.ifname
        addrs = json.loads(_run([ip, "-n", host, "-j", "addr", "show", "dev", ifname]))
        routes = json.loads(_run([ip, "-n", host, "-j", "route", "show", "table", "all", "dev", ifname]))
        plan = plan_from_ip_json(addrs, routes, ifname)
        clock.lap(SNAPSHOT)
        _run([ip, "-n", host, "link", "set", "dev", ifname, "netns", pod])
        clock.lap(MOVE_IN)
        for argv in plan.apply_commands():
            _run([ip, "-n", pod, *argv])
        clock.lap(APPLY)
        _run([ip, "-n", pod, "link", "set", "dev", ifname, "netns", host])
        clock.lap(MOVE_BACK)
        for argv in plan.apply_commands():
            _run([ip, "-n", host, *argv])
        clock.lap(RESTORE)

    @staticmethod
    def execs_per_sequence(plan: IpPlan) -> int:
        return 2 + 1 + len(plan.apply_commands()) + 1 + len(plan.apply_commands())


class IpBatchImpl:
    """``ip -batch``: 3 execs, the fewest possible (a batch runs in one namespace, and the apply
    commands exist only once the snapshot's output is parsed):

    1. host: show addresses, show routes, move into the pod;
    2. pod: addresses, MTU+up, routes, move back to the host;
    3. host: addresses, MTU+up, routes.
    """

    name = "ip-batch"

    def __init__(self, nic: StandIn) -> None:
        self.ip = _ip_binary()
        self.ifname = nic.spec.ifname
        self.host, self.pod = nic.host_name, nic.pod_name

    def close(self) -> None:
        pass

    def run(self, clock: Clock) -> None:
        ip, host, pod, ifname = self.ip, self.host, self.pod, self.ifname
        first = batch_text([
            ["addr", "show", "dev", ifname],
            ["route", "show", "table", "all", "dev", ifname],
            ["link", "set", "dev", ifname, "netns", pod],
        ])  # fmt: skip
        docs = _json_documents(_run([ip, "-n", host, "-j", "-batch", "-"], first))
        if len(docs) != 2:
            raise IpCommandFailed(f"ip -j -batch printed {len(docs)} JSON documents, expected 2")
        plan = plan_from_ip_json(docs[0], docs[1], ifname)
        clock.lap(BATCH_SNAPSHOT_MOVE)
        _run([ip, "-n", pod, "-batch", "-"], batch_text([*plan.apply_commands(), ["link", "set", "dev", ifname, "netns", host]]))
        clock.lap(BATCH_APPLY_MOVE)
        _run([ip, "-n", host, "-batch", "-"], batch_text(plan.apply_commands()))
        clock.lap(RESTORE)
