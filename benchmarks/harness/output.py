"""Where results go: the committed ``benchmarks/results/`` for full runs, a temp dir for smoke runs."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

COMMITTED_RESULTS = Path(__file__).resolve().parents[1] / "results"


class OutputError(Exception):
    pass


def output_dir(requested: str | None, *, quick: bool) -> Path:
    """The directory to write into, created if needed.

    A quick (smoke) run never writes into the committed results: its few rounds would replace a
    real measurement with noise. Without ``--out`` it writes to a fresh temp dir.
    """
    if requested is None:
        if quick:
            return Path(tempfile.mkdtemp(prefix="hdb-quick-"))
        path = COMMITTED_RESULTS
    else:
        path = Path(requested)
    if quick and path.resolve() == COMMITTED_RESULTS.resolve():
        raise OutputError(f"--quick must not overwrite the committed results in {COMMITTED_RESULTS}")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _dumps(value: Any, indent: int = 0) -> str:
    """Indented JSON, except that lists and objects of plain values stay on one line (sample series,
    summaries): diffable, and a fraction of the size."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(value, dict) and value and any(isinstance(v, (dict, list)) for v in value.values()):
        items = [f"{inner}{json.dumps(str(k), ensure_ascii=False)}: {_dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        return "[\n" + ",\n".join(inner + _dumps(v, indent + 1) for v in value) + "\n" + pad + "]"
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Strict JSON (no NaN/Infinity), written atomically so a crash never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(_dumps(_finite(data)) + "\n")
    tmp.replace(path)


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
