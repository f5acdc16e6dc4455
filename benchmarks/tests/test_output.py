from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.harness.output import COMMITTED_RESULTS, OutputError, output_dir, write_json


def test_quick_runs_never_write_into_the_committed_results(tmp_path: Path) -> None:
    with pytest.raises(OutputError):
        output_dir(str(COMMITTED_RESULTS), quick=True)
    fresh = output_dir(None, quick=True)
    assert fresh != COMMITTED_RESULTS and fresh.is_dir()
    fresh.rmdir()
    assert output_dir(str(tmp_path / "x"), quick=True) == tmp_path / "x"


def test_results_json_is_strict(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_json(path, {"a": math.nan, "b": [1.5, math.inf], "c": (1, 2)})
    assert json.loads(path.read_text()) == {"a": None, "b": [1.5, None], "c": [1, 2]}
