"""What carrying the interface state costs: ``python -m benchmarks.ifstate [--rounds N] [--quick] [--out DIR]``.

A snapshot captures, and an apply restores, a link's per-interface sysctls (procfs), its
neighbour-table parameters (one ``RTM_GETNEIGHTBL`` dump) and its permanent/proxy neighbours
(two ``RTM_GETNEIGH`` dumps). This measures what that adds to the three library calls a CNI ADD
and DEL make — ``take_snapshot`` on the host, ``apply_snapshot`` in the pod (ADD) and on the host
(DEL) — in process, on a stand-in NIC that carries non-default values of each kind: each round
runs the sequence with the interface state and without it (``interface_state=False``), in
alternating order, and the added cost is the per-round difference. The neighbour-table dump lists
every link of the namespace, so the host gets ``--extra-links`` more veths (a node with pods).

Writes ``ifstate.{json,md}`` (to ``benchmarks/results/`` for a full run; a temp dir with
``--quick``). Separate from ``python -m benchmarks`` on purpose: one small measurement of one
feature, not a part of the comparison with peers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

from benchmarks.harness.machine import machine_info, machine_line
from benchmarks.harness.netns import ThrowawayNamespaces, install_termination_handlers, ip
from benchmarks.harness.output import output_dir, write_json, write_text
from benchmarks.harness.stats import paired_differences, summarize

NIC = "bif0"
PHASES = ("capture on the host (ADD)", "apply in the pod (ADD)", "apply on the host (DEL)")

SETUP = [
    f"link set {NIC} mtu 9000",
    f"addr add 10.20.0.1/24 dev {NIC}",
    f"addr add 2001:db8:a::1/64 dev {NIC} nodad",
    f"link set {NIC} up",
    f"route add 192.0.2.0/24 via 10.20.0.254 dev {NIC}",
    f"ntable change name arp_cache dev {NIC} delay_probe 1500",
    f"neigh add 10.20.0.9 lladdr 02:00:00:00:00:09 dev {NIC} nud permanent",
    f"neigh add 2001:db8:a::9 lladdr 02:00:00:00:00:0a dev {NIC} nud permanent",
    f"neigh add proxy 10.20.0.20 dev {NIC}",
]
SYSCTLS = [
    f"net.ipv4.conf.{NIC}.arp_ignore=1", f"net.ipv4.conf.{NIC}.arp_announce=2", f"net.ipv4.conf.{NIC}.rp_filter=2",
    f"net.ipv6.conf.{NIC}.accept_ra=0", f"net.ipv6.conf.{NIC}.hop_limit=32",
]  # fmt: skip


def _stand_in(host: str, extra_links: int) -> None:
    ip("-n", host, "link", "set", "lo", "up")
    ip("-n", host, "link", "add", NIC, "type", "veth", "peer", "name", f"{NIC}p")
    ip("-n", host, "link", "set", f"{NIC}p", "up")
    commands = SETUP + [f"link add bx{i} type veth peer name by{i}" for i in range(extra_links)]
    ip("-n", host, "-batch", "-", input_text="\n".join(commands) + "\n")
    import subprocess

    subprocess.run(["ip", "netns", "exec", host, "sysctl", "-q", "-w", *SYSCTLS], check=True)


def _one_round(host_ns: Any, pod_ns: Any, with_state: bool) -> list[float]:
    """take_snapshot → move → apply in the pod → move back → apply on the host: the three timed calls."""
    from hostdev import Handle, apply_snapshot, move_link, take_snapshot

    times: list[float] = []

    def timed(call: Callable[[], Any]) -> Any:
        started = time.perf_counter_ns()
        value = call()
        times.append(time.perf_counter_ns() - started)
        return value

    with Handle(host_ns) as host, Handle(pod_ns) as pod:
        snap = timed(lambda: take_snapshot(host, NIC, interface_state=with_state))
        moved = move_link(host, pod, host.link(name=NIC))
        timed(lambda: apply_snapshot(pod, moved, snap))
        back = move_link(pod, host, pod.link(name=NIC))
        timed(lambda: apply_snapshot(host, back, snap))
    return times


def measure(rounds: int, extra_links: int, log: Callable[[str], None]) -> dict[str, Any]:
    from hostdev import NetNS

    with ThrowawayNamespaces(["host", "pod"]) as spaces:
        _stand_in(spaces.name("host"), extra_links)
        with NetNS.from_name(spaces.name("host")) as host_ns, NetNS.from_name(spaces.name("pod")) as pod_ns:
            for _ in range(2):  # warm-up: first-use imports and caches
                _one_round(host_ns, pod_ns, True)
                _one_round(host_ns, pod_ns, False)
            samples: dict[bool, list[list[float]]] = {True: [], False: []}
            for i in range(rounds):
                for with_state in ((True, False) if i % 2 == 0 else (False, True)):
                    samples[with_state].append(_one_round(host_ns, pod_ns, with_state))
                if (i + 1) % max(rounds // 4, 1) == 0:
                    log(f"ifstate: {extra_links} extra links, round {i + 1}/{rounds}")
    phases = {}
    for k, phase in enumerate(PHASES):
        with_ = [s[k] for s in samples[True]]
        without = [s[k] for s in samples[False]]
        phases[phase] = {
            "with": summarize(with_).to_dict(),
            "without": summarize(without).to_dict(),
            "added": paired_differences(with_, without).to_dict(),
        }
    add_with = [s[0] + s[1] for s in samples[True]]
    add_without = [s[0] + s[1] for s in samples[False]]
    phases["per ADD (capture + apply in the pod)"] = {
        "with": summarize(add_with).to_dict(),
        "without": summarize(add_without).to_dict(),
        "added": paired_differences(add_with, add_without).to_dict(),
    }
    return {"rounds": rounds, "extra_links": extra_links, "phases": phases}


def _ms(ns: float) -> str:
    return f"{ns / 1e6:.2f}"


def report(results: dict[str, Any]) -> str:
    lines = [
        "# Interface state: the cost of carrying sysctls and neighbours",
        "",
        f"Machine: {machine_line(results['machine'])}; load average at start "
        f"{', '.join(f'{v:.1f}' for v in results['machine']['loadavg_at_start'])}.",
        "",
        "Per library call, in process, ms: median (p10–p90) of each, and the added cost as the median of",
        "per-round differences between the sequence with the interface state and without it",
        "(`take_snapshot(..., interface_state=False)`), run alternately. The stand-in NIC has addresses, a",
        "route, 5 non-default sysctls, a table parameter and 3 permanent/proxy neighbours.",
        "",
    ]
    for run in results["runs"]:
        lines += [f"## {run['extra_links']} other links in the host namespace ({run['rounds']} rounds)", ""]
        lines += ["| call | without | with | added |", "| :-- | --: | --: | --: |"]
        for phase, cells in run["phases"].items():
            row = [phase] + [f"{_ms(cells[c]['median'])} ({_ms(cells[c]['p10'])}–{_ms(cells[c]['p90'])})" for c in ("without", "with", "added")]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    lines += ["Reproduce: `sudo .venv/bin/python -m benchmarks.ifstate`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ifstate", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--extra-links", default="0,64", help="comma-separated counts of other links in the host netns")
    p.add_argument("--quick", action="store_true", help="a few rounds, results to a temp dir (smoke run)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    rounds = 3 if args.quick else args.rounds
    install_termination_handlers()
    out = output_dir(args.out, quick=args.quick)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    results: dict[str, Any] = {"machine": machine_info(), "runs": []}
    for extra in (int(n) for n in args.extra_links.split(",") if n.strip()):
        results["runs"].append(measure(rounds, extra, log))
    write_json(Path(out) / "ifstate.json", results)
    write_text(Path(out) / "ifstate.md", report(results))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
