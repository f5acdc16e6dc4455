"""Entry point: ``python -m benchmarks [--quick] [--out DIR] [--parts move,cni,scale]`` (or
``python benchmarks/run.py``).

Parts: ``move`` (in-process move sequence vs peers and the floor), ``cni`` (the installed
amd-host-device binary end to end vs Go host-device, VERSION, where the milliseconds go) and
``scale`` (1..64 devices, one pod or many, 1..8 plugins in parallel). Each writes
``<part>.json``, ``<part>.md`` and a PNG.

Exit status: 0 when every implementation ran and the stand-ins were restored exactly after every
run; 1 when an implementation failed or the fixture check did not pass; 2 when the run could not
start (not root, ``bench`` extra missing, bad arguments); 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness.cpu_share import CpuMeter  # noqa: E402
from benchmarks.harness.machine import machine_info  # noqa: E402
from benchmarks.harness.netns import Terminated, install_termination_handlers  # noqa: E402
from benchmarks.harness.output import OutputError, output_dir, write_json, write_text  # noqa: E402

Log = Callable[[str], None]
QUICK = {"rounds": 3, "warmup": 1, "alloc_rounds": 1, "request_rounds": 2, "profile_rounds": 1}


class Report(Protocol):
    """What a part's report module offers (``benchmarks/<part>/report.py``)."""

    def markdown(self, results: dict[str, Any], command: str) -> str: ...

    def console(self, results: dict[str, Any]) -> str: ...

    def plot(self, results: dict[str, Any], path: Path) -> None: ...


class UsageError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Planned:
    """One part, configured from the command line: its scenario, ready to run, and its report."""

    run: Callable[[Log], dict[str, Any]]
    report: Report


def _plan_move(args: argparse.Namespace) -> Planned:
    from benchmarks.move import report
    from benchmarks.move.scenario import ALL_IMPLEMENTATIONS, MoveConfig, run_move

    defaults, preset = MoveConfig(), QUICK if args.quick else {}
    config = MoveConfig(
        **{name: getattr(args, name) if getattr(args, name) is not None else preset.get(name, getattr(defaults, name))
           for name in ("rounds", "warmup", "alloc_rounds", "request_rounds", "profile_rounds")},
        kernel_trace=not (args.quick or args.no_kernel_trace),
        implementations=args.only.split(",") if args.only else list(ALL_IMPLEMENTATIONS),
    )  # fmt: skip
    unknown = [name for name in config.implementations if name not in ALL_IMPLEMENTATIONS]
    if unknown:
        raise UsageError(f"unknown implementation(s) {unknown}; known: {', '.join(ALL_IMPLEMENTATIONS)}")
    return Planned(partial(run_move, config), report)


def _plan_cni(args: argparse.Namespace) -> Planned:
    from benchmarks.cni import report
    from benchmarks.cni.scenario import CniConfig, run_cni

    config = CniConfig(rounds=2, warmup=1, version_rounds=3, importtime_runs=1, phase_runs=1, rss_runs=1) if args.quick else CniConfig()
    if args.cni_rounds is not None:
        config.rounds = args.cni_rounds
    if args.version_rounds is not None:
        config.version_rounds = args.version_rounds
    config.peers = dict(args.peer)
    if len(config.peers) != len(args.peer):
        raise UsageError("--peer: each NAME once")
    config.peer_cni_path = args.peer_cni_path
    config.bundle = args.bundle
    return Planned(partial(run_cni, config), report)


def _plan_scale(args: argparse.Namespace) -> Planned:
    from benchmarks.scale import report
    from benchmarks.scale.scenario import ScaleConfig, run_scale

    config = ScaleConfig(sizes=(1, 8), parallel=(1, 8), reps_small=1, trace=False) if args.quick else ScaleConfig()
    if args.scale_sizes is not None:
        config.sizes = args.scale_sizes
    if args.scale_parallel is not None:
        config.parallel = args.scale_parallel
    if args.scale_reps is not None:
        config.reps_small = args.scale_reps
    if args.no_kernel_trace:
        config.trace = False
    return Planned(partial(run_scale, config), report)


# part -> (its plot's file name, how to configure it)
PARTS: dict[str, tuple[str, Callable[[argparse.Namespace], Planned]]] = {
    "move": ("move-latency.png", _plan_move),
    "cni": ("cni-latency.png", _plan_cni),
    "scale": ("scale-per-device.png", _plan_scale),
}


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"need integers >= 1: {text!r}")
    return values


def _peer(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path or " " in name or name in ("amd-host-device", "host-device"):
        raise argparse.ArgumentTypeError(f"want NAME=PATH with a NAME of its own (not amd-host-device/host-device, no spaces): {text!r}")
    binary = Path(path).resolve()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise argparse.ArgumentTypeError(f"{path} is not an executable file")
    return name, binary


def _bundle(text: str) -> Path:
    directory = Path(text).resolve()
    if not (directory / "hostdev-bundle.json").is_file() or not os.access(directory / "amd-host-device", os.X_OK):
        raise argparse.ArgumentTypeError(f"{text} is not a node bundle (bundle/build.sh prints one)")
    return directory


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: a few rounds, no kernel tracing, never into benchmarks/results")
    p.add_argument("--out", help="results directory (default: benchmarks/results/, or a new temp dir with --quick)")
    p.add_argument("--rounds", type=int, help="measured rounds of the timing pass (default 150; quick 3)")
    p.add_argument("--warmup", type=int, help="unmeasured rounds before it (default 2; quick 1)")
    p.add_argument("--alloc-rounds", type=int, help="rounds of the tracemalloc pass (default 15; quick 1)")
    p.add_argument("--request-rounds", type=int, help="floor sequences with every request timed (default 60; quick 2)")
    p.add_argument("--profile-rounds", type=int, help="hostdev sequences under cProfile (default 40; quick 1)")
    p.add_argument("--no-kernel-trace", action="store_true", help="skip the sched_switch off-CPU attribution of netns moves")
    p.add_argument("--only", help="comma-separated move implementations (hostdev,floor,pyroute2,ip,ip-batch)")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated parts to run (default: {','.join(PARTS)})")
    p.add_argument("--cni-rounds", type=int, help="measured ADD+DEL rounds of the CNI part (default 40; quick 2)")
    p.add_argument("--version-rounds", type=int, help="VERSION exec rounds (default 60; quick 3)")
    p.add_argument("--peer", action="append", default=[], type=_peer, metavar="NAME=PATH",
                   help="CNI part: also run the plugin binary PATH (e.g. AMD's Go amd-host-device), side by side; repeatable")
    p.add_argument("--peer-cni-path", default="/usr/lib/cni", metavar="DIRS",
                   help="CNI_PATH the peers get: where they find the plugins they exec, e.g. host-device and static (default %(default)s)")
    p.add_argument("--bundle", type=_bundle, metavar="DIR",
                   help="CNI part: also run the node bundle in DIR (bundle/build.sh prints it) against the launcher")
    p.add_argument("--scale-sizes", type=_int_list, help="device counts N of the scale part (default 1,8,32,64; quick 1,8)")
    p.add_argument("--scale-parallel", type=_int_list, help="parallel plugin processes P (default 1,2,4,8; quick 1,8)")
    p.add_argument("--scale-reps", type=int, help="repetitions of scale configurations with N <= 8 (default 2; quick 1)")
    args = p.parse_args(argv)
    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown_parts = [part for part in parts if part not in PARTS]
    if unknown_parts or not parts:
        p.error(f"unknown part(s) {unknown_parts}; known: {', '.join(PARTS)}")
    args.parts = parts
    for name in ("cni_rounds", "version_rounds", "scale_reps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    for name in ("rounds", "warmup", "alloc_rounds", "request_rounds", "profile_rounds"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "warmup" else 1):
            p.error(f"--{name.replace('_', '-')} must be {'>= 0' if name == 'warmup' else '>= 1'}")
    return args


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _missing_dependencies(args: argparse.Namespace) -> list[str]:
    missing = []
    pyroute2 = "move" in args.parts and (args.only is None or "pyroute2" in args.only.split(","))
    wanted = ["matplotlib"] + (["pyroute2"] if pyroute2 else [])
    for module in wanted:
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    return missing


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        planned = {part: PARTS[part][1](args) for part in args.parts}
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("the benchmarks create network namespaces and move links: run them as root", file=sys.stderr)
        return 2
    missing = _missing_dependencies(args)
    if missing:
        print(f"missing {', '.join(missing)}: install the bench extra (pip install -e '.[bench]')", file=sys.stderr)
        return 2
    try:
        out = output_dir(args.out, quick=args.quick)
    except OutputError as exc:
        print(exc, file=sys.stderr)
        return 2

    install_termination_handlers()
    command = "python -m benchmarks" + (" " + shlex.join(sys.argv[1:]) if argv is None and sys.argv[1:] else "")
    status = 0
    try:
        for part, plan in planned.items():
            status = max(status, _run_part(part, plan, out, command, args.quick))
    except (KeyboardInterrupt, Terminated) as exc:
        _log(f"interrupted ({type(exc).__name__}); namespaces removed")
        return 130
    return status


def _run_part(part: str, plan: Planned, out: Path, command: str, quick: bool) -> int:
    """Run one part and write ``<part>.json`` (always) and its report and plot (when it passed)."""
    machine = machine_info()
    cpu = CpuMeter()
    _log(f"{part} scenario → {out}")
    results = plan.run(_log)
    machine["loadavg_at_end"] = os.getloadavg()
    machine["cpu_use"] = cpu.read()
    results.update(machine=machine, quick=quick, command=command)
    write_json(out / f"{part}.json", results)
    if results["failure"] is None:
        plan.report.plot(results, out / PARTS[part][0])
        write_text(out / f"{part}.md", plan.report.markdown(results, command))
        print(plan.report.console(results))
    _log(f"wrote {', '.join(sorted(p.name for p in out.glob(f'{part}*')))} in {out}")
    if results["failure"]:
        print(f"FAILED ({part}): {results['failure']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
