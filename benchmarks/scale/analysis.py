"""Numbers derived from the scale results: per-device cost versus N, growth per recorded
attachment, and what bounds a parallel batch. Pure functions of the results dict."""

from __future__ import annotations

from typing import Any, Sequence

from benchmarks.cni.cycle import ADD, DEL
from benchmarks.harness.stats import summarize
from benchmarks.scale.batches import ONE_POD, SEPARATE_PODS
from benchmarks.scale.waits import LOCK_SLEEP, MOVE_WAIT, PREEMPTED, RTNL_WAIT

HOSTDEV = "amd-host-device"


def config_label(mode: str, parallel: int) -> str:
    return ONE_POD if mode == ONE_POD else f"{SEPARATE_PODS}, P={parallel}"


def per_device(runs: Sequence[dict[str, Any]]) -> dict[str, dict[int, float]]:
    """Median over repetitions of (ADD batch wall + DEL batch wall) / N, per configuration and N."""
    samples: dict[str, dict[int, list[float]]] = {}
    for run in runs:
        if run["plugin"] != HOSTDEV:
            continue
        samples.setdefault(config_label(run["mode"], run["parallel"]), {}).setdefault(run["n"], []).append(run["per_device_ns"])
    return {label: {n: summarize(v).median for n, v in sorted(by_n.items())} for label, by_n in samples.items()}


def flatness(table: dict[int, float]) -> float | None:
    """Per-device cost at the largest N over the smallest: 1.0 is perfectly flat."""
    if len(table) < 2:
        return None
    sizes = sorted(table)
    return table[sizes[-1]] / table[sizes[0]]


def slope_ns_per_record(walls_ms: Sequence[float]) -> float:
    """Least-squares slope of exec wall against the number of attachments already recorded."""
    n = len(walls_ms)
    if n < 2:
        return 0.0
    mean_x = (n - 1) / 2
    mean_y = sum(walls_ms) / n
    cov = sum((i - mean_x) * (w - mean_y) for i, w in enumerate(walls_ms))
    var = sum((i - mean_x) ** 2 for i in range(n))
    return cov / var * 1e6


def growth(runs: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """One pod at the largest N: how each exec's wall grows with the attachments already there
    (ADD i finds i records; DEL runs in reverse, so DEL j finds N−1−j others)."""
    one_pod = [r for r in runs if r["plugin"] == HOSTDEV and r["mode"] == ONE_POD and r["rep"] == 0]
    if not one_pod:
        return None
    run = max(one_pod, key=lambda r: r["n"])
    adds = run[ADD]["exec_wall_ms"]
    dels = list(reversed(run[DEL]["exec_wall_ms"]))  # DELs ran last-added first: reversed, index i finds i others
    eighth = max(len(adds) // 8, 1)
    return {
        "n": run["n"],
        "add_slope_ns_per_record": slope_ns_per_record(adds),
        "del_slope_ns_per_record": slope_ns_per_record(dels),
        "add_first_ms": summarize(adds[:eighth]).median,
        "add_last_ms": summarize(adds[-eighth:]).median,
        "del_first_ms": summarize(dels[:eighth]).median,
        "del_last_ms": summarize(dels[-eighth:]).median,
        "eighth": eighth,
    }


def state_store_vs_n(runs: Sequence[dict[str, Any]], phase: str) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        probe = run.get("probe")
        if not probe:
            continue
        row: dict[str, Any] = {"n": run["n"], "records_present": probe["records_present"]}
        for command in (ADD, DEL):
            phases = probe[command]["phases_ns"]
            row[command] = {"wall_ns": probe[command]["wall_ns"], "state_ns": phases.get(phase, 0), "peak_rss_kb": probe[command].get("peak_rss_kb")}
        rows.append(row)
    return sorted(rows, key=lambda r: r["n"])


def median_exec(runs: Sequence[dict[str, Any]]) -> dict[str, dict[int, float]]:
    """Sequential configurations only: median ADD exec + median DEL exec, per N. Robust to a burst
    of load from elsewhere that a batch wall would absorb whole."""
    samples: dict[str, dict[int, tuple[list[float], list[float]]]] = {}
    for run in runs:
        if run["plugin"] != HOSTDEV or run["parallel"] != 1:
            continue
        adds, dels = samples.setdefault(config_label(run["mode"], 1), {}).setdefault(run["n"], ([], []))
        adds += run[ADD]["exec_wall_ms"]
        dels += run[DEL]["exec_wall_ms"]
    return {label: {n: (summarize(a).median + summarize(d).median) * 1e6 for n, (a, d) in sorted(by_n.items())}
            for label, by_n in samples.items()}  # fmt: skip


def parallel_facts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per plugin and command: N plugins in parallel on N devices (separate pods) against one plugin
    alone and N in a row, from the untraced repetitions (medians); and, where traced, what the
    parallel batch's time went to (medians over traced repetitions, with the traced walls)."""
    traced = results.get("traced", {})
    nproc = results.get("nproc") or 1
    facts = []
    runs = [r for r in results["runs"] if r["mode"] == SEPARATE_PODS]
    for plugin in dict.fromkeys(r["plugin"] for r in runs):
        mine = [r for r in runs if r["plugin"] == plugin]
        sizes = sorted({r["n"] for r in mine if r["parallel"] > 1 and r["parallel"] == r["n"]})
        if not sizes:
            continue
        n = sizes[0]
        par = [r for r in mine if r["n"] == n and r["parallel"] == n]
        seq = [r for r in mine if r["n"] == n and r["parallel"] == 1]
        if not seq:
            continue
        for command in (ADD, DEL):
            fact: dict[str, Any] = {
                "plugin": plugin, "command": command, "n": n, "nproc": nproc, "reps": len(par),
                "parallel_wall_ns": _med(par, lambda r: r[command]["wall_ns"]),
                "slowest_in_parallel_ns": _med(par, lambda r: r[command]["max_exec_wall_ns"]),
                "single_alone_ns": summarize([w * 1e6 for r in seq for w in r[command]["exec_wall_ms"]]).median,
                "sequential_wall_ns": _med(seq, lambda r: r[command]["wall_ns"]),
                "cpu_sum_ns": _med(par, lambda r: r[command]["sum_cpu_ns"]),
            }  # fmt: skip
            tpar = [p for p in traced.get("pairs", []) if p["plugin"] == plugin and p["parallel"] == n and p["n"] == n]
            tseq = [p for p in traced.get("pairs", []) if p["plugin"] == plugin and p["parallel"] == 1 and p["n"] == n]
            if tpar and tseq:
                fact["traced"] = {
                    "reps": len(tpar),
                    "parallel_wall_ns": _med(tpar, lambda p: p[command]["wall_ns"]),
                    "move_wait_union_ns": _med(tpar, lambda p: p["waits"][command]["union_ns"][MOVE_WAIT]),
                    "move_wait_sum_ns": _med(tpar, lambda p: p["waits"][command]["sum_ns"][MOVE_WAIT]),
                    "move_wait_alone_ns": _med(tseq, lambda p: p["waits"][command]["sum_ns"][MOVE_WAIT]) / n,
                    "rtnl_wait_sum_ns": _med(tpar, lambda p: p["waits"][command]["sum_ns"][RTNL_WAIT]),
                    "rtnl_wait_union_ns": _med(tpar, lambda p: p["waits"][command]["union_ns"][RTNL_WAIT]),
                    "preempted_sum_ns": _med(tpar, lambda p: p["waits"][command]["sum_ns"][PREEMPTED]),
                    "sleeps": sum(p["waits"][command]["stretches"][LOCK_SLEEP] for p in tpar),
                    "sleep_sum_ns": _med(tpar, lambda p: p["waits"][command]["sum_ns"][LOCK_SLEEP]),
                }
            facts.append(fact)
    return facts


def _med(pairs: Sequence[dict[str, Any]], get: Any) -> float:
    return summarize([float(get(p)) for p in pairs]).median
