"""Entry point: ``python -m benchmarks [--quick] [--out DIR]`` (or ``python benchmarks/run.py``).

Exit status: 0 when every implementation ran and the stand-in was restored exactly after every
run; 1 when an implementation failed or the fixture check did not pass; 2 when the run could not
start (not root, ``bench`` extra missing, bad arguments); 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Sequence

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness.machine import machine_info  # noqa: E402
from benchmarks.harness.netns import Terminated, install_termination_handlers  # noqa: E402
from benchmarks.harness.output import OutputError, output_dir, write_json, write_text  # noqa: E402

QUICK = {"rounds": 3, "warmup": 1, "alloc_rounds": 1, "request_rounds": 2, "profile_rounds": 1}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: a few rounds, no kernel tracing, never into benchmarks/results")
    p.add_argument("--out", help="results directory (default: benchmarks/results/, or a new temp dir with --quick)")
    p.add_argument("--rounds", type=int, help="measured rounds of the timing pass (default 150; quick 3)")
    p.add_argument("--warmup", type=int, help="unmeasured rounds before it (default 3; quick 1)")
    p.add_argument("--alloc-rounds", type=int, help="rounds of the tracemalloc pass (default 15; quick 1)")
    p.add_argument("--request-rounds", type=int, help="floor sequences with every request timed (default 60; quick 2)")
    p.add_argument("--profile-rounds", type=int, help="hostdev sequences under cProfile (default 40; quick 1)")
    p.add_argument("--no-kernel-trace", action="store_true", help="skip the sched_switch off-CPU attribution of netns moves")
    p.add_argument("--only", help="comma-separated implementations (hostdev,floor,pyroute2,ip,ip-batch)")
    args = p.parse_args(argv)
    for name in ("rounds", "warmup", "alloc_rounds", "request_rounds", "profile_rounds"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "warmup" else 1):
            p.error(f"--{name.replace('_', '-')} must be {'>= 0' if name == 'warmup' else '>= 1'}")
    return args


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _missing_dependencies(implementations: Sequence[str]) -> list[str]:
    missing = []
    wanted = ["matplotlib"] + (["pyroute2"] if "pyroute2" in implementations else [])
    for module in wanted:
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    return missing


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from benchmarks.move.scenario import ALL_IMPLEMENTATIONS, MoveConfig

    defaults = MoveConfig()
    preset = QUICK if args.quick else {}
    config = MoveConfig(
        **{name: getattr(args, name) if getattr(args, name) is not None else preset.get(name, getattr(defaults, name))
           for name in ("rounds", "warmup", "alloc_rounds", "request_rounds", "profile_rounds")},
        kernel_trace=not (args.quick or args.no_kernel_trace),
        implementations=args.only.split(",") if args.only else list(ALL_IMPLEMENTATIONS),
    )  # fmt: skip
    unknown = [name for name in config.implementations if name not in ALL_IMPLEMENTATIONS]
    if unknown:
        print(f"unknown implementation(s) {unknown}; known: {', '.join(ALL_IMPLEMENTATIONS)}", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("the benchmarks create network namespaces and move links: run them as root", file=sys.stderr)
        return 2
    missing = _missing_dependencies(config.implementations)
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
    try:
        return _run(config, out, command, args.quick)
    except (KeyboardInterrupt, Terminated) as exc:
        _log(f"interrupted ({type(exc).__name__}); namespaces removed")
        return 130


def _run(config: object, out: Path, command: str, quick: bool) -> int:
    from benchmarks.move import report
    from benchmarks.move.scenario import MoveConfig, run_move

    assert isinstance(config, MoveConfig)
    machine = machine_info()
    _log(f"move scenario → {out}")
    results = run_move(config, _log)
    machine["loadavg_at_end"] = os.getloadavg()
    results["machine"] = machine
    results["quick"] = quick
    results["command"] = command
    write_json(out / "move.json", results)
    if "timing" in results and "kernel" in results and "profile" in results:
        report.plot(results, out / "move-latency.png")
        write_text(out / "move.md", report.markdown(results, command))
        print(report.console(results))
    _log(f"wrote {', '.join(sorted(p.name for p in out.glob('move*')))} in {out}")
    if results["failure"]:
        print(f"FAILED: {results['failure']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
