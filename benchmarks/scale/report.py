"""The scale part's report: Markdown, console tables and the plot, all from the results dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.cni import phase_probe as probe
from benchmarks.cni.cycle import ADD, DEL
from benchmarks.harness.report import console as console_text
from benchmarks.harness.report import header, headline_section, mib, ms, reproduce
from benchmarks.harness.machine import machine_line
from benchmarks.harness.tables import fmt_ratio, markdown_table, text_table
from benchmarks.scale.analysis import config_label, flatness, growth, median_exec, parallel_facts, per_device, state_store_vs_n
from benchmarks.scale.waits import CLASSES, FSYNC, FUTEX, LOCK_SLEEP, MOVE_WAIT, OTHER, PREEMPTED, RTNL_WAIT


# --- tables ---
def per_device_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    table = per_device(results["runs"])
    sizes = sorted({n for by_n in table.values() for n in by_n})
    rows = []
    for label, by_n in table.items():
        flat = flatness(by_n)
        rows.append([label, *(ms(by_n.get(n)) for n in sizes), fmt_ratio(flat) if flat else "–"])
    for label, by_n in median_exec(results["runs"]).items():
        flat = flatness(by_n)
        rows.append([f"{label}: median ADD exec + median DEL exec", *(ms(by_n.get(n)) for n in sizes), fmt_ratio(flat) if flat else "–"])
    return ["per device: (ADD batch + DEL batch) / N", *(f"N={n}" for n in sizes), f"N={sizes[-1]} ÷ N={sizes[0]}"], rows


def batch_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    rows = []
    for run in results["runs"]:
        if run["rep"] != 0:
            continue
        a, d = run[ADD], run[DEL]
        rows.append([f"{run['plugin']}: {config_label(run['mode'], run['parallel'])}", str(run["n"]), ms(a["wall_ns"]), ms(d["wall_ns"]),
                     ms(run["per_device_ns"]), f"{a['in_flight_mean']:.1f} / {d['in_flight_mean']:.1f}",
                     ms(a["max_exec_wall_ns"]), ms(a["sum_cpu_ns"] + d["sum_cpu_ns"])])  # fmt: skip
    return ["plugin: configuration", "N", "ADD batch", "DEL batch", "per device", "plugins in flight (mean, ADD / DEL)",
            "slowest ADD exec", "CPU of all execs"], rows  # fmt: skip


def state_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    rows = []
    for row in state_store_vs_n(results["runs"], probe.STATE):
        a, d = row[ADD], row[DEL]
        rss = f"{mib(a['peak_rss_kb'])} / {mib(d['peak_rss_kb'])}" if a.get("peak_rss_kb") else "–"
        rows.append([str(row["n"]), str(row["records_present"]), ms(a["state_ns"]), ms(a["wall_ns"]), ms(d["state_ns"]), ms(d["wall_ns"]), rss])
    return ["N (one pod)", "other attachments recorded", "ADD: state store", "ADD: whole (probed)", "DEL: state store",
            "DEL: whole (probed)", "peak RSS ADD / DEL"], rows  # fmt: skip


def waits_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    traced = results.get("traced", {})
    rows = []
    nproc = results.get("nproc") or 1
    for pair in traced.get("pairs", []):
        if pair["rep"] != 0:
            continue
        for command in (ADD, DEL):
            w = pair["waits"][command]
            rows.append([pair["plugin"], f"P={pair['parallel']}", command, ms(pair[command]["wall_ns"]),
                         ms(pair[command]["sum_cpu_ns"] / min(nproc, pair["parallel"])),
                         f"{ms(w['union_ns'][MOVE_WAIT])} ({ms(w['sum_ns'][MOVE_WAIT])})",
                         f"{ms(w['union_ns'][RTNL_WAIT])} ({ms(w['sum_ns'][RTNL_WAIT])})",
                         ms(w["sum_ns"][PREEMPTED]), ms(w["sum_ns"][FSYNC]), f"{w['stretches'][LOCK_SLEEP]}",
                         ms(w["sum_ns"][OTHER] + w["sum_ns"][FUTEX])])  # fmt: skip
    return ["plugin", "P", "command", "batch wall", "CPU of all execs ÷ usable CPUs", "move RCU wait under RTNL: union (sum)",
            "waiting for RTNL: union (sum)", "preempted (sum)", "fsync (sum)", "lock-poll sleeps", "other (sum)"], rows  # fmt: skip


# --- headline ---
def _signed(ns: float) -> str:
    return ("+" if ns >= 0 else "−") + ms(abs(ns))


def headline(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    table = per_device(results["runs"])
    robust = median_exec(results["runs"])
    for label, by_n in table.items():
        flat = flatness(by_n)
        if flat is None:
            continue
        sizes = sorted(by_n)
        text = (f"**Per-device cost vs N, {label}:** " + ", ".join(f"N={n} {ms(by_n[n])}" for n in sizes)
                + f" → N={sizes[-1]} ÷ N={sizes[0]} = {fmt_ratio(flat)}")  # fmt: skip
        steady = robust.get(label)
        if steady and flatness(steady) is not None:
            text += (f"; median exec (ADD + DEL): " + ", ".join(f"N={n} {ms(steady[n])}" for n in sorted(steady))
                     + f" → {fmt_ratio(flatness(steady) or 0.0)}")  # fmt: skip
        lines.append(text + ".")
    grow = growth(results["runs"])
    if grow:
        lines.append(
            f"**Growth with attachments already recorded** (one pod, N={grow['n']}, least squares over the execs): ADD "
            f"{_signed(grow['add_slope_ns_per_record'])} per recorded attachment (first {grow['eighth']}: {grow['add_first_ms']:.0f} ms, "
            f"last {grow['eighth']}: {grow['add_last_ms']:.0f} ms median); DEL {_signed(grow['del_slope_ns_per_record'])} per attachment."
        )
    states = state_store_vs_n(results["runs"], probe.STATE)
    if len(states) >= 2:
        lo, hi = states[0], states[-1]
        lines.append(
            f"**State store inside one ADD** (phase probe): {ms(lo[ADD]['state_ns'])} with {lo['records_present']} other "
            f"attachments recorded, {ms(hi[ADD]['state_ns'])} with {hi['records_present']} (`StateStore.find_by_device` loads "
            f"every record of the store on each ADD); DEL {ms(lo[DEL]['state_ns'])} → {ms(hi[DEL]['state_ns'])}."
        )
        if hi[ADD].get("peak_rss_kb"):
            lines.append(
                f"**Peak RSS of one plugin exec** (GNU time): ADD {mib(lo[ADD]['peak_rss_kb'])} at N={lo['n']}, "
                f"{mib(hi[ADD]['peak_rss_kb'])} at N={hi['n']}; DEL {mib(lo[DEL]['peak_rss_kb'])} → {mib(hi[DEL]['peak_rss_kb'])}."
            )
    for fact in parallel_facts(results):
        lines.append(_parallel_line(fact))
    locks = sum(run.get("stderr_lock_lines", 0) for run in results["runs"] if run["plugin"] == "amd-host-device")
    traced = results.get("traced", {})
    sleeps = sum(p["waits"][c]["stretches"][LOCK_SLEEP] for p in traced.get("pairs", []) if p["plugin"] == "amd-host-device" for c in (ADD, DEL))
    lines.append(
        f"**Plugin lock waits:** every device has its own lock, so parallel attachments of different devices do not contend: "
        f"{locks} stderr line(s) of amd-host-device mentioned a lock over all batches"
        + (f", and its traced processes slept {sleeps} time(s) (the flock poll is its only sleep)" if traced.get("traced") else "")
        + ". The plugin does not log a lock wait, even at logLevel debug: a wait would show only as time."
    )
    return lines


def _parallel_line(fact: dict[str, Any]) -> str:
    n, cpus = fact["n"], min(fact["nproc"], fact["n"])
    wall, alone = fact["parallel_wall_ns"], fact["single_alone_ns"]
    text = (
        f"**{n} parallel {fact['plugin']} {fact['command']}s on {n} devices** (separate pods, {fact['reps']} rep(s), medians): "
        f"the batch takes {ms(wall)} = {fmt_ratio(wall / alone)} one plugin alone ({ms(alone)}; {fmt_ratio(float(n))} would be "
        f"no overlap at all) and {fmt_ratio(wall / fact['sequential_wall_ns'])} the same {n} one after another "
        f"({ms(fact['sequential_wall_ns'])}); its slowest process took {ms(fact['slowest_in_parallel_ns'])}. CPU bound: the "
        f"{n} processes use {ms(fact['cpu_sum_ns'])} of CPU, {ms(fact['cpu_sum_ns'] / cpus)} per CPU on {cpus} CPU(s)."
    )
    t = fact.get("traced")
    if t:
        overlap = "no two overlapped" if t["move_wait_union_ns"] >= 0.98 * t["move_wait_sum_ns"] else "some overlapped"
        text += (
            f" Kernel bound (traced, {t['reps']} rep(s), traced batch {ms(t['parallel_wall_ns'])}): the moves serialize — some "
            f"process sat in a move's RCU wait holding RTNL for {ms(t['move_wait_union_ns'])} of the batch (sum over processes "
            f"{ms(t['move_wait_sum_ns'])}: {overlap}; {ms(t['move_wait_alone_ns'])} per move when alone), that is "
            f"{t['move_wait_union_ns'] / t['parallel_wall_ns'] * 100:.0f} % of the traced batch; others queued for RTNL "
            f"{ms(t['rtnl_wait_sum_ns'])} in sum ({ms(t['rtnl_wait_union_ns'])} of the batch had someone queued). Waiting for a "
            f"CPU (preempted): {ms(t['preempted_sum_ns'])} in sum. Lower bounds for this batch: CPU "
            f"{ms(fact['cpu_sum_ns'] / cpus)} (all CPUs free for it), kernel {ms(n * t['move_wait_alone_ns'])} ({n} moves' RCU "
            f"waits in a row); measured {ms(wall)}."
        )
        if fact["plugin"] == "amd-host-device":
            text += f" Lock-poll sleeps: {t['sleeps']}."
    return text


# --- documents ---
def markdown(results: dict[str, Any], command: str) -> str:
    cfg = results["config"]
    out = [
        *header("amd-host-device at scale: many devices, one pod or many, plugins in parallel", results, command, paired=False),
        "## What is measured",
        "",
        f"One node with {results['standin']}; IPv6 DAD off everywhere; state directory on {results.get('state_fs', '?')}. Plugins run through the same spawner as the CNI part "
        "(in the node's host namespace, fabricated sysfs over `/sys`), configuration `{\"pciBusID\": …}` (stateDir from the node settings), "
        "default log level.",
        "",
        f"- **one pod**: for N in {cfg['sizes']}, N ADDs back to back into one pod (one container ID, ifname net<i>), then N DELs "
        "in reverse order;",
        f"- **separate pods**: device i into pod i, with P in {cfg['parallel']} (P ≤ N) plugin processes in flight (a new one "
        "starts as soon as one ends), ADDs then DELs;",
        f"- configurations with N ≤ 8 ran {cfg['reps_small']} times (rotating order), larger N once; per-device cost is "
        "(ADD batch wall + DEL batch wall) / N, batch wall from the first spawn to the last reap;",
        "- after every ADD/DEL batch pair every stand-in used must equal its baseline snapshot and every pod hold only `lo`;",
        "- inside each one-pod run, with N−1 other attachments recorded, the last device is DELeted and ADDed again by the "
        "phase probe and under GNU `time` (outside every batch time);",
        f"- kernel waits: separate pods, N={cfg['trace_devices']}, P=1 and P=N, amd-host-device and "
        "Go host-device, with every plugin thread's off-CPU stretches traced (`sched_switch` with kernel stacks, filtered by "
        "comm) and classified by stack.",
        "",
        *headline_section(headline(results)),
        "## Per-device cost versus N",
        "",
        markdown_table(*per_device_table(results)),
        "",
        "![per-device cost vs N](scale-per-device.png)",
        "",
        "## Every batch (first repetition)",
        "",
        markdown_table(*batch_table(results), left=1),
        "",
        "## State store and peak RSS versus N",
        "",
        markdown_table(*state_table(results)),
        "",
        "## Where parallel plugins wait (kernel trace)",
        "",
    ]
    traced = results.get("traced", {})
    if traced.get("traced"):
        out += [
            "Union: how much of the batch had at least one plugin thread waiting that way; sum: over all threads. A netns "
            "move holds the RTNL mutex from its start through its RCU waits (`__dev_change_net_namespace`: "
            "`synchronize_rcu_expedited`, `rcu_barrier`), so any other rtnetlink request of any process queues behind it; "
            "union ≈ sum for the move waits means they never overlapped.",
            "",
            markdown_table(*waits_table(results), left=3),
            "",
            "Example stacks:",
            "",
        ]
        shown: set[str] = set()
        for pair in traced["pairs"]:
            for command in (ADD, DEL):
                for kind, stack in pair["waits"][command]["example_stacks"].items():
                    if kind in shown or kind == OTHER:
                        continue
                    shown.add(kind)
                    out.append(f"- {kind}: `{' ← '.join(stack[:8])}`")
        out.append("")
    else:
        out += [f"Not traced: {traced.get('reason')}.", ""]
    out += reproduce("scale")
    return "\n".join(out)


def console(results: dict[str, Any]) -> str:
    sections = [("per-device cost vs N", [text_table(*per_device_table(results))]), ("batches", [text_table(*batch_table(results))]),
                ("state store and peak RSS vs N", [text_table(*state_table(results))])]  # fmt: skip
    if results.get("traced", {}).get("traced"):
        sections.append(("kernel waits", [text_table(*waits_table(results), left=3)]))
    return console_text(sections, headline(results))


COLOURS = {MOVE_WAIT: "tab:red", RTNL_WAIT: "tab:orange", PREEMPTED: "tab:gray", LOCK_SLEEP: "tab:purple", FSYNC: "tab:blue",
           FUTEX: "tab:olive", OTHER: "tab:brown"}  # fmt: skip


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = per_device(results["runs"])
    traced = results.get("traced", {})
    timeline_pair = next((p for p in traced.get("pairs", []) if p["plugin"] == "amd-host-device" and p["parallel"] > 1), None)
    panels = 3 if timeline_pair else 2
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 5.2), squeeze=False)
    ax = axes[0][0]
    for label, by_n in table.items():
        sizes = sorted(by_n)
        ax.plot(sizes, [by_n[n] / 1e6 for n in sizes], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("N devices")
    ax.set_ylabel("ms per device (ADD + DEL batch walls / N)")
    ax.set_ylim(bottom=0)
    ax.set_title("per-device cost vs N", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax = axes[0][1]
    grow = growth(results["runs"])
    one_pod = [r for r in results["runs"] if r["mode"] == "one pod" and r["rep"] == 0]
    if grow and one_pod:
        run = max(one_pod, key=lambda r: r["n"])
        adds = run[ADD]["exec_wall_ms"]
        dels = list(reversed(run[DEL]["exec_wall_ms"]))
        ax.plot(range(len(adds)), adds, ".", label="ADD")
        ax.plot(range(len(dels)), dels, ".", label="DEL")
    ax.set_xlabel("other attachments already recorded")
    ax.set_ylabel("exec wall [ms]")
    ax.set_ylim(bottom=0)
    ax.set_title(f"one pod, N={grow['n'] if grow else '?'}: each exec", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if timeline_pair:
        ax = axes[0][2]
        timeline = timeline_pair["waits"][ADD]["timeline"]
        for row, proc in enumerate(timeline):
            ax.broken_barh([(proc["start_ms"], proc["end_ms"] - proc["start_ms"])], (row - 0.4, 0.8), color="tab:green", alpha=0.35)
            for start, length, kind in proc["off_cpu"]:
                ax.broken_barh([(start, length)], (row - 0.4, 0.8), color=COLOURS.get(kind, "black"))
        from matplotlib.patches import Rectangle

        handles = [Rectangle((0, 0), 1, 1, color="tab:green", alpha=0.35)] + [Rectangle((0, 0), 1, 1, color=COLOURS[c]) for c in CLASSES]
        ax.legend(handles, ["on CPU", *CLASSES], fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
        ax.set_yticks(range(len(timeline)))
        ax.set_yticklabels([f"pid {p['pid']}" for p in timeline], fontsize=7)
        ax.set_xlabel("ms since the first spawn")
        ax.set_title(f"{len(timeline)} parallel amd-host-device ADDs: where each waits", fontsize=10)
    fig.suptitle(f"amd-host-device at scale — {machine_line(results['machine'])}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
