"""``-X importtime`` of the plugin binary: which imports cost what, per command.

CPython prints one line per module it actually imports (cached ones are silent), in completion
order, children before their parent, indented two spaces per nesting level::

    import time: self [us] | cumulative | imported package
    import time:       485 |        485 |         _json

The tree is rebuilt from that, so each module can be charged to whoever imported it: the lead
can see that, say, ``json`` costs N µs because ``json.decoder`` pulls in ``re``. ``-X importtime``
itself slows each import a little, so absolute numbers run high; shares and rankings hold.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from benchmarks.harness.stats import summarize

_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")
HOSTDEV_ROOTS = ("hostdev", "cni_main")
SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the tree that holds cni_main.py and hostdev/
THIRD_PARTY_ROOTS = ("cffi", "_cffi_backend")


@dataclass
class ImportNode:
    module: str
    self_us: int
    cumulative_us: int
    depth: int
    children: list[ImportNode] = field(default_factory=list)
    parent: ImportNode | None = None


def parse_importtime(stderr: str) -> list[ImportNode]:
    """The top-level imports (depth 0) of one run, each with its subtree."""
    pending: dict[int, list[ImportNode]] = {}  # depth -> finished nodes waiting for their parent
    roots: list[ImportNode] = []
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        depth = (len(match.group(3)) - 1) // 2
        node = ImportNode(match.group(4), int(match.group(1)), int(match.group(2)), depth)
        node.children = pending.pop(depth + 1, [])
        for child in node.children:
            child.parent = node
        if depth == 0:
            roots.append(node)
        else:
            pending.setdefault(depth, []).append(node)
    return roots


def walk(nodes: Iterable[ImportNode]) -> Iterable[ImportNode]:
    for node in nodes:
        yield node
        yield from walk(node.children)


def origin(module: str) -> str:
    root = module.split(".")[0]
    if root in HOSTDEV_ROOTS:
        return "hostdev"
    if root in THIRD_PARTY_ROOTS:
        return "cffi"
    return "stdlib"


def has_no_statements(module: str, root: Path = SOURCE_ROOT) -> bool:
    """Whether a hostdev module's source is empty but for a docstring and comments: importing it
    costs the import machinery alone (find, load, module object), no body. What such a module
    takes is what every module of ours costs besides its body, measured in the same run."""
    base = root.joinpath(*module.split("."))
    source = next((path for path in (base / "__init__.py", base.with_suffix(".py")) if path.is_file()), None)
    if source is None:
        return False
    body = ast.parse(source.read_text(encoding="utf-8")).body
    is_docstring = bool(body) and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
    return not body[1:] if is_docstring else not body


def _importer(node: ImportNode) -> str:
    return node.parent.module if node.parent is not None else "(entry script)"


def foreign_subtrees(roots: Sequence[ImportNode]) -> list[ImportNode]:
    """Every non-hostdev module imported directly by hostdev code (or the entry script): the
    subtrees the package can avoid or defer, each with its cumulative cost."""
    return [n for n in walk(roots) if origin(n.module) != "hostdev" and (n.parent is None or origin(n.parent.module) == "hostdev")]


def plugin_roots(roots: Sequence[ImportNode]) -> list[ImportNode]:
    """The imports from the entry script on: what the interpreter imports for itself before the
    script runs (``encodings``, ``io``, ...) happens for a bare ``python -I -S -c pass`` too."""
    for i, node in enumerate(roots):
        if origin(node.module) == "hostdev":
            return list(roots[i:])
    return []


def summarize_runs(runs: Sequence[list[ImportNode]]) -> dict[str, Any]:
    """Medians over runs: totals by origin, every module's own time, and the foreign subtrees."""
    totals: dict[str, list[float]] = {"interpreter start-up": [], "plugin": [], "hostdev": [], "stdlib": [], "cffi": []}
    own: dict[str, list[float]] = {}
    cumulative: dict[str, list[float]] = {}
    subtrees: dict[tuple[str, str], list[float]] = {}
    counts: list[float] = []
    for all_roots in runs:
        roots = plugin_roots(all_roots)
        sums = {key: 0 for key in totals}
        sums["interpreter start-up"] = sum(n.self_us for n in walk(all_roots)) - sum(n.self_us for n in walk(roots))
        nodes = list(walk(roots))
        counts.append(float(len(nodes)))
        for node in nodes:
            sums["plugin"] += node.self_us
            sums[origin(node.module)] += node.self_us
            own.setdefault(node.module, []).append(float(node.self_us))
            cumulative.setdefault(node.module, []).append(float(node.cumulative_us))
        for key, value in sums.items():
            totals[key].append(float(value))
        for node in foreign_subtrees(roots):
            subtrees.setdefault((_importer(node), node.module), []).append(float(node.cumulative_us))
    runs_n = len(runs)

    def med(values: list[float]) -> float:
        # A module imported in only some runs (e.g. lazily, on one path) counts 0 in the others.
        return summarize(values + [0.0] * (runs_n - len(values))).median if values else 0.0

    own_medians = {m: med(v) for m, v in own.items()}
    modules = [{"module": m, "origin": origin(m), "self_us": own_medians[m], "cumulative_us": med(cumulative[m])}
               for m in sorted(own_medians, key=lambda m: -own_medians[m])]  # fmt: skip
    subtree_medians = {key: med(v) for key, v in subtrees.items()}
    foreign = [{"importer": imp, "module": mod, "cumulative_us": subtree_medians[(imp, mod)]}
               for imp, mod in sorted(subtree_medians, key=lambda key: -subtree_medians[key])]  # fmt: skip
    empty = sorted(m for m in own_medians if origin(m) == "hostdev" and len(own[m]) == runs_n and has_no_statements(m))
    return {
        "runs": runs_n,
        "modules_imported": summarize(counts).median if counts else 0,
        "total_us": {key: summarize(values).median if values else 0.0 for key, values in totals.items()},
        # Preemption only ever adds, so on a busy machine two lower estimates say more than the
        # median: the fastest whole run, and every module at its fastest (summed over the modules
        # every run imported: the cost with nothing else wanting the CPU).
        "total_us_fastest": {key: min(values) if values else 0.0 for key, values in totals.items()},
        "modules_fastest_sum_us": sum(min(v) for v in own.values() if len(v) == runs_n),
        "modules": modules,
        "foreign_subtrees": foreign,
        # hostdev's modules with no body (empty packages), each with its median own time: the
        # import machinery's cost per module, what merging modules could save at most.
        "statementless_modules": {m: own_medians[m] for m in empty},
    }
