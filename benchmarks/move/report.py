"""The move scenario's report: Markdown, console tables and the plot, all from the results dict
(so a report can be re-rendered from a results JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.harness.machine import machine_line
from benchmarks.harness.plot import Bar, Panel, plot_panels
from benchmarks.harness.report import console as console_text
from benchmarks.harness.report import header, headline_section, median, ratio_cell, reproduce, spread
from benchmarks.harness.tables import fmt_bytes, fmt_duration, markdown_table, text_table
from benchmarks.move.ops import MOVE_BACK, MOVE_IN, SEQUENCE, TOTAL
from benchmarks.move.scenario import NON_MOVE

IN_PROCESS_TARGET = 1.1  # hostdev / floor
PYROUTE2_TARGET = 5.0  # pyroute2 / hostdev


def _ops_of(summary: dict[str, Any], name: str) -> list[str]:
    return [op for op in summary[name] if op not in (TOTAL, NON_MOVE)]


# --- tables ---
def totals_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    timing = results["timing"]
    summary, comp = timing["summary_ns"], timing["comparisons"]
    vs_hd = comp.get("vs_hostdev", {})
    vs_floor = {name: vs_hd.get(name, {}) for name in summary}
    headers = ["implementation", "median", "p90", "p10 – p90", "IQR", "÷ hostdev (paired) [p10–p90]",
               "non-move ops median", "non-move ÷ hostdev"]  # fmt: skip
    rows = []
    for name, ops in summary.items():
        total = ops[TOTAL]
        ratio = ratio_cell(vs_floor[name].get(TOTAL)) if name != "hostdev" else "1"
        non_move = ops.get(NON_MOVE)
        non_move_ratio = ratio_cell(vs_floor[name].get(NON_MOVE)) if name != "hostdev" and non_move else ("1" if non_move else "–")
        rows.append([name, median(total), fmt_duration(total["p90"]), spread(total), fmt_duration(total["iqr"]), ratio,
                     median(non_move) if non_move else "– (ops fused)", non_move_ratio])  # fmt: skip
    return headers, rows


def per_op_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    summary = results["timing"]["summary_ns"]
    names = list(summary)
    ops = list(dict.fromkeys(op for name in names for op in _ops_of(summary, name)))
    rows = []
    for op in [*ops, NON_MOVE, TOTAL]:
        row = [op]
        for name in names:
            cell = summary[name].get(op)
            row.append(f"{median(cell)} ({fmt_duration(cell['p90'])})" if cell else "–")
        rows.append(row)
    return ["op: median (p90)", *names], rows


def floor_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    summary = results["timing"]["summary_ns"]
    comp = results["timing"]["comparisons"].get("hostdev_vs_floor", {})
    headers = ["op", "floor median", "hostdev median", "hostdev − floor (paired median)", "p10 – p90 of the difference",
               "hostdev ÷ floor (paired) [p10–p90]"]  # fmt: skip
    rows = []
    for op in [*SEQUENCE, NON_MOVE, TOTAL]:
        if op not in comp:
            continue
        over = comp[op]["overhead_ns"]
        rows.append([op, median(summary["floor"][op]), median(summary["hostdev"][op]), fmt_duration(over["median"]),
                     spread(over), ratio_cell(comp[op]["ratio"])])  # fmt: skip
    return headers, rows


def kernel_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    kernel = results["kernel"]
    off = {r["position"]: r for r in kernel["off_cpu"].get("per_request", [])}
    headers = ["#", "op", "socket", "request", "wall median", "wall p90", "thread CPU median", "off-CPU median", "waited in (median per request)"]
    rows = []
    for req in kernel["requests"]:
        traced = off.get(req["position"])
        waited = "–"
        off_cpu = "–"
        if traced:
            off_cpu = fmt_duration(traced["off_cpu_ns"]["median"])
            parts = [f"{key.split(' ← ')[0]} {fmt_duration(b['ns']['median'])}"
                     for key, b in traced["blockers"].items() if b["ns"]["median"] >= 1000]  # fmt: skip
            waited = ", ".join(parts) or "–"
        rows.append([str(req["position"]), req["op"], req["side"], req["request"], median(req["wall_ns"]),
                     fmt_duration(req["wall_ns"]["p90"]), median(req["cpu_ns"]), off_cpu, waited])  # fmt: skip
    return headers, rows


def allocation_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    allocs = results["allocations"]
    names = list(allocs)
    ops = list(dict.fromkeys(op for name in names for op in allocs[name] if op != TOTAL))
    rows = []
    for op in [*ops, TOTAL]:
        row = [op]
        for name in names:
            cell = allocs[name].get(op)
            if not cell:
                row.append("–")
            elif "net_bytes" in cell:
                row.append(f"{fmt_bytes(cell['peak_bytes']['median'])} / {fmt_bytes(cell['net_bytes']['median'])} / {cell['net_blocks']['median']:.0f}")
            else:
                row.append(f"{fmt_bytes(cell['peak_bytes']['median'])} peak")
        rows.append(row)
    return ["op: peak / net bytes / net blocks (medians)", *names], rows


def profile_table(results: dict[str, Any], top: int = 15) -> tuple[list[str], list[list[str]]]:
    rows = [
        [row["function"], f"{row['calls_per_sequence']:.0f}", f"{row['tottime_us_per_sequence']:.0f} µs",
         f"{row['cumtime_us_per_sequence']:.0f} µs", f"{row['share_of_python'] * 100:.1f} %"]
        for row in results["profile"]["top_by_tottime"][:top]
    ]  # fmt: skip
    return ["function", "calls / sequence", "own time / sequence", "cumulative / sequence", "share of Python time"], rows


def _rtnl_waits(off: dict[str, Any]) -> str | None:
    """How often the other requests queued on the rtnetlink mutex, which a move holds throughout."""
    waits = 0.0
    worst = 0.0
    requests = 0
    for req in off.get("per_request", []):
        if req["request"] == "RTM_NEWLINK netns move":
            continue
        requests += 1
        for key, blocker in req["blockers"].items():
            if key.startswith("__mutex_lock") and "exp_funnel_lock" not in key:
                waits += blocker["waits_per_request"]
                worst = max(worst, blocker["ns"]["max"])
    if not requests or not waits:
        return None
    return (
        f"RTNL: the move runs under the global rtnetlink mutex (`rtnl_newlink` → `do_setlink` → "
        f"`__dev_change_net_namespace`, rcu_barrier included), so any rtnetlink request on the machine, in any "
        f"namespace and any process, queues behind any move. Here the other requests waited on that mutex "
        f"{waits:.1f} times per sequence ({waits / requests * 100:.1f} % of them), up to {fmt_duration(worst)}: "
        "behind this run's own deferred link work or other processes' moves on the same kernel."
    )


# --- headline facts ---
def _move_facts(results: dict[str, Any]) -> dict[str, Any]:
    by_request = results["kernel"]["by_request"]
    moves = by_request.get("RTM_NEWLINK netns move")
    addr = by_request.get("RTM_NEWADDR")
    facts: dict[str, Any] = {}
    if moves and addr:
        facts["move_wall"] = moves["wall_ns"]["median"]
        facts["move_cpu"] = moves["cpu_ns"]["median"]
        facts["addr_wall"] = addr["wall_ns"]["median"]
        facts["addr_cpu"] = addr["cpu_ns"]["median"]
    floor = results["timing"]["summary_ns"].get("floor")
    if floor:
        facts["moves_share_of_floor"] = (floor[MOVE_IN]["median"] + floor[MOVE_BACK]["median"]) / floor[TOTAL]["median"]
    blockers: dict[str, list[float]] = {}
    for req in results["kernel"]["off_cpu"].get("per_request", []):
        if req["request"] == "RTM_NEWLINK netns move":
            for key, b in req["blockers"].items():
                blockers.setdefault(key.split(" ← ")[0], []).append(b["ns"]["median"])
    facts["move_blockers"] = {k: sum(v) / len(v) for k, v in blockers.items()}
    return facts


def headline(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    comp = results["timing"]["comparisons"]
    facts = _move_facts(results)
    if "move_wall" in facts:
        waits = ", ".join(f"{name} {fmt_duration(ns)}" for name, ns in sorted(facts["move_blockers"].items(), key=lambda kv: -kv[1]) if ns >= 10_000)
        lines.append(
            f"**A netns move is the kernel's cost, not ours.** One `RTM_NEWLINK` move request takes "
            f"{fmt_duration(facts['move_wall'])} (median wall) but only {fmt_duration(facts['move_cpu'])} of the thread's CPU; "
            f"an `RTM_NEWADDR` takes {fmt_duration(facts['addr_wall'])} — one move costs as much as "
            f"≈{facts['move_wall'] / facts['addr_wall']:.0f} address adds."
            + (f" The waiting is inside `__dev_change_net_namespace`: {waits} (median per move)." if waits else "")
            + (f" The two moves are {facts['moves_share_of_floor'] * 100:.0f} % of the floor's whole sequence." if "moves_share_of_floor" in facts else "")
        )  # fmt: skip
    hf = comp.get("hostdev_vs_floor")
    floor = results["timing"]["summary_ns"].get("floor")
    if hf and floor:
        seq, non = hf[TOTAL], hf.get(NON_MOVE)
        text = f"**hostdev vs floor (target ≤ {IN_PROCESS_TARGET}×):** whole sequence, paired per round: {ratio_cell(seq['ratio'])}"
        diff = seq["overhead_ns"]
        if diff["p10"] < 0 < diff["p90"]:
            text += (f"; the difference itself ({fmt_duration(diff['median'])} median, p10–p90 {spread(diff)}) is inside "
                     "the noise of the two moves.")  # fmt: skip
        else:
            text += f"; hostdev adds {fmt_duration(diff['median'])} per sequence."
        if non:
            estimate = (floor[TOTAL]["median"] + non["overhead_ns"]["median"]) / floor[TOTAL]["median"]
            text += (
                f" The moves carry no library work beyond one link lookup, so hostdev's cost shows on the other "
                f"operations (snapshot + apply + restore): there it is {ratio_cell(non['ratio'])} the floor "
                f"({'met' if non['ratio']['median'] <= IN_PROCESS_TARGET else 'NOT met'}), "
                f"+{fmt_duration(non['overhead_ns']['median'])} per sequence. Added to the floor's median sequence that is "
                f"≈{estimate:.3f}× ({'met' if estimate <= IN_PROCESS_TARGET else 'NOT met'})."
            )  # fmt: skip
        lines.append(text)
    vs = comp.get("vs_hostdev", {})
    vs_floor = comp.get("vs_floor", {})
    if "pyroute2" in vs:
        p = vs["pyroute2"]
        text = (
            f"**pyroute2 vs hostdev (target ≥ {PYROUTE2_TARGET}× faster):** whole sequence pyroute2 takes {ratio_cell(p[TOTAL])} "
            f"hostdev's time ({'met' if p[TOTAL]['median'] >= PYROUTE2_TARGET else 'NOT met'})"
        )
        if "pyroute2" in vs_floor:
            text += (f" — the moves cap this: even a library with zero cost would reach only "
                     f"{ratio_cell(vs_floor['pyroute2'][TOTAL])} (pyroute2 ÷ floor)")  # fmt: skip
        if NON_MOVE in p:
            text += f"; on the non-move operations {ratio_cell(p[NON_MOVE])} ({'met' if p[NON_MOVE]['median'] >= PYROUTE2_TARGET else 'NOT met'})."
        lines.append(text)
    for name in ("ip", "ip-batch"):
        if name in vs:
            lines.append(f"**{name} vs hostdev:** whole sequence {ratio_cell(vs[name][TOTAL])} hostdev.")
    return lines


# --- documents ---
def markdown(results: dict[str, Any], command: str) -> str:
    m = results["machine"]
    out = [
        *header("hostdev move latency: in process, against peers and the kernel's floor", results, command,
                machine_extra=[["pyroute2", str(m["pyroute2"])], ["iproute2", str(m["iproute2"])]]),  # fmt: skip
        "## What is measured",
        "",
        "The sequence a CNI ADD + DEL performs on one NIC: **snapshot** (link, addresses, routes) → **move-in** "
        "(netns move into the pod, look the link up there) → **apply** (addresses, MTU/up, routes) → **move-back** → "
        "**restore** (same as apply, on the host).",
        "",
        f"Stand-in NIC, built with `ip` in a throwaway namespace `{results['namespaces']['host']}` (the pod is "
        f"`{results['namespaces']['pod']}`; both removed afterwards): {results['standin']}. IPv6 DAD is off in both namespaces.",
        "",
        markdown_table(["implementation", "what it does"], [[k, v] for k, v in results["implementations"].items()], left=2),
        "",
        f"Method: {results['timing']['rounds']} measured round(s) after {results['config']['warmup']} warm-up round(s); in each "
        "round every implementation runs the whole sequence once, round-robin with the starting implementation rotating "
        "per round. After every run (outside the clock) the stand-in is compared with its baseline snapshot and the pod "
        "must be empty again; at the end `ip -j -d`'s own view of link, addresses and routes must equal the view before "
        "the first run. Allocations come from a separate pass under tracemalloc "
        f"({results['config']['alloc_rounds']} round(s)), the kernel's per-request cost from "
        f"{results['config']['request_rounds']} floor sequences with every request timed.",
        "",
        *headline_section(headline(results)),
        "## Whole sequence",
        "",
        markdown_table(*totals_table(results)),
        "",
        "## Per operation",
        "",
        markdown_table(*per_op_table(results)),
        "",
        "`ip-batch` fuses operations: a batch runs in one namespace and the apply commands exist only after the "
        "snapshot's output has been parsed, so it laps after each of its three execs.",
        "",
        "![latency per operation](move-latency.png)",
        "",
        "## hostdev above the floor",
        "",
        "The floor sends hostdev's own requests (recorded from a hostdev run, so identical by construction) from "
        "pre-encoded bytes: patch seq, send, walk reply headers to the ACK. The difference is hostdev's user-space cost.",
        "",
        markdown_table(*floor_table(results)),
        "",
        "## What the kernel spends per request (floor, no library code)",
        "",
        markdown_table(*kernel_table(results), left=4),
        "",
    ]
    off = results["kernel"]["off_cpu"]
    if off.get("traced"):
        out += [
            f"Off-CPU time is from `sched:sched_switch` events with kernel stacks, filtered to the measuring thread "
            f"({off['intervals']} off-CPU stretches over {off['rounds']} sequences), in a private trace instance; each stretch "
            "is attributed to the first stack frame that is not scheduler plumbing. Example stacks of the move's waits:",
            "",
        ]
        rtnl = _rtnl_waits(off)
        if rtnl:
            out += [rtnl, ""]
        shown: set[str] = set()
        for req in off["per_request"]:
            if req["request"] != "RTM_NEWLINK netns move":
                continue
            for key, blocker in req["blockers"].items():
                if key in shown or blocker["ns"]["median"] < 10_000:
                    continue
                shown.add(key)
                out += [f"- `{key}`: {' ← '.join(blocker['stack'][:8])}"]
        out.append("")
    else:
        out += [f"Off-CPU attribution: not traced ({off.get('reason')}).", ""]
    out += [
        "## Python allocations per operation (tracemalloc pass)",
        "",
        "Peak: the most traced memory above the op's starting point; net: still held at the op's end. For the `ip` "
        "implementations this is only the Python side (subprocess + JSON), not the `ip` processes.",
        "",
        markdown_table(*allocation_table(results)),
        "",
        "## Where hostdev's time goes (cProfile)",
        "",
    ]
    prof = results["profile"]
    out += [
        f"Over {prof['rounds']} profiled sequences: {fmt_duration(prof['profiled_us_per_sequence'] * 1e3)} per sequence under "
        f"the profiler, of which {fmt_duration(prof['in_kernel_us_per_sequence'] * 1e3)} in `send`/`recv_into` (kernel, "
        f"including the moves' waits) and {fmt_duration(prof['python_us_per_sequence'] * 1e3)} in Python. cProfile inflates "
        "Python calls; read the shares, and take absolute overhead from the floor table.",
        "",
        markdown_table(*profile_table(results)),
        "",
        "## hostdev's kernel requests per sequence",
        "",
        *[f"- **{item['op']}**: " + ", ".join(f"`{r}`" for r in item["requests"]) for item in results["hostdev_requests"]],
        "",
        *reproduce("move"),
    ]
    return "\n".join(out)


def console(results: dict[str, Any]) -> str:
    sections = [("whole sequence", [text_table(*totals_table(results))]), ("per operation", [text_table(*per_op_table(results))])]
    if results["timing"]["comparisons"].get("hostdev_vs_floor"):
        sections.append(("hostdev above the floor", [text_table(*floor_table(results))]))
    if results.get("kernel"):
        sections.append(("kernel cost per request (floor)", [text_table(*kernel_table(results), left=4)]))
    if results.get("allocations"):
        sections.append(("allocations", [text_table(*allocation_table(results))]))
    return console_text(sections, headline(results))


def plot(results: dict[str, Any], path: Path) -> None:
    summary = results["timing"]["summary_ns"]

    def bars(ops: list[str]) -> dict[str, dict[str, Bar]]:
        return {
            name: {op: Bar(s[op]["median"], s[op]["p10"], s[op]["p90"]) for op in ops if op in s}
            for name, s in summary.items() if any(op in s for op in ops)
        }  # fmt: skip

    per_op = Panel("per operation", list(SEQUENCE), bars(list(SEQUENCE)))
    totals = Panel("whole sequence and its non-move part", [TOTAL, NON_MOVE], bars([TOTAL, NON_MOVE]))
    title = f"hostdev move latency, {results['timing']['rounds']} interleaved rounds — {machine_line(results['machine'])}"
    plot_panels(path, [per_op, totals], title, widths=[2.0, 1.0])
