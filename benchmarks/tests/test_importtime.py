from __future__ import annotations

import pytest

from pathlib import Path
from typing import Any

from benchmarks.cni.importtime import foreign_subtrees, has_no_statements, parse_importtime, plugin_roots, summarize_runs, walk
from benchmarks.cni.report import targets_table

# Shape of real `python -X importtime` output (3.11): children first, two spaces per level.
RUN_A = """\
import time: self [us] | cumulative | imported package
import time:       140 |        140 |   _io
import time:       276 |        416 | _frozen_importlib_external
import time:       379 |        379 | encodings
import time:       179 |        179 | cni_main
import time:       125 |        125 |     hostdev
import time:       118 |        243 |   hostdev.cni
import time:      3000 |       3000 |         sre_compile
import time:     10000 |      13000 |       re
import time:       485 |        485 |       _json
import time:       625 |      14110 |     json.decoder
import time:       275 |      14385 |   json
import time:       226 |        226 |   hostdev.cni.errors
import time:       304 |      15158 | hostdev.cni.plugin
amd-host-device: a stray stderr line that is not part of the tree
import time:       345 |        345 | hostdev.cni.versions
"""

RUN_B = RUN_A.replace("10000 |      13000", "12000 |      15000").replace(
    "import time:       345 |        345 | hostdev.cni.versions\n", ""
)


def test_the_tree_is_rebuilt_from_completion_order() -> None:
    roots = parse_importtime(RUN_A)
    assert [r.module for r in roots] == ["_frozen_importlib_external", "encodings", "cni_main", "hostdev.cni.plugin", "hostdev.cni.versions"]
    plugin = roots[3]
    assert [c.module for c in plugin.children] == ["hostdev.cni", "json", "hostdev.cni.errors"]
    json_node = plugin.children[1]
    assert [c.module for c in json_node.children] == ["json.decoder"]
    assert [c.module for c in json_node.children[0].children] == ["re", "_json"]
    assert json_node.children[0].children[0].children[0].module == "sre_compile"
    assert json_node.parent is plugin and plugin.parent is None
    # Every line became exactly one node.
    assert len(list(walk(roots))) == RUN_A.count("import time:") - 1


def test_start_up_imports_are_not_the_plugins() -> None:
    roots = parse_importtime(RUN_A)
    assert [r.module for r in plugin_roots(roots)] == ["cni_main", "hostdev.cni.plugin", "hostdev.cni.versions"]


def test_foreign_subtrees_name_the_hostdev_importer() -> None:
    found = {(n.parent.module if n.parent else None, n.module, n.cumulative_us) for n in foreign_subtrees(plugin_roots(parse_importtime(RUN_A)))}
    assert found == {("hostdev.cni.plugin", "json", 14385)}


def test_summary_medians_and_modules_missing_from_a_run_count_zero() -> None:
    summary = summarize_runs([parse_importtime(RUN_A), parse_importtime(RUN_B)])
    assert summary["runs"] == 2
    by_module = {row["module"]: row for row in summary["modules"]}
    assert by_module["re"]["self_us"] == pytest.approx(11000)
    assert by_module["hostdev.cni.versions"]["self_us"] == pytest.approx(345 / 2)  # imported in one run of two
    assert summary["modules"][0]["module"] == "re"  # ranked by own time
    assert "_io" not in by_module  # the interpreter's own start-up
    assert summary["total_us"]["interpreter start-up"] == pytest.approx(140 + 276 + 379)
    plugin_a = 179 + 125 + 118 + 3000 + 10000 + 485 + 625 + 275 + 226 + 304 + 345
    plugin_b = plugin_a + 2000 - 345
    assert summary["total_us"]["plugin"] == pytest.approx((plugin_a + plugin_b) / 2)
    assert summary["foreign_subtrees"] == [{"importer": "hostdev.cni.plugin", "module": "json", "cumulative_us": pytest.approx(14385)}]


def test_a_module_with_no_statements_is_an_empty_file_or_a_docstring_alone(tmp_path: Path) -> None:
    (tmp_path / "hostdev" / "empty").mkdir(parents=True)
    (tmp_path / "hostdev" / "empty" / "__init__.py").write_text("")
    (tmp_path / "hostdev" / "documented.py").write_text('"""Only words."""\n# and a comment\n')
    (tmp_path / "hostdev" / "bodied.py").write_text('"""Words."""\nfrom __future__ import annotations\n')
    (tmp_path / "hostdev" / "constant.py").write_text("LIMIT = 3\n")
    assert has_no_statements("hostdev.empty", tmp_path) and has_no_statements("hostdev.documented", tmp_path)
    assert not has_no_statements("hostdev.bodied", tmp_path) and not has_no_statements("hostdev.constant", tmp_path)
    assert not has_no_statements("hostdev.missing", tmp_path)


def _import_data(modules: int, took_us: float, empty_us: dict[str, float]) -> dict[str, Any]:
    rows = [{"module": f"hostdev.m{i}", "origin": "hostdev", "self_us": 100.0, "cumulative_us": 100.0} for i in range(modules - 2)]
    rows += [{"module": "os", "origin": "stdlib", "self_us": 200.0, "cumulative_us": 200.0},
             {"module": "_cffi_backend", "origin": "cffi", "self_us": 300.0, "cumulative_us": 300.0}]
    return {"modules_imported": float(modules), "modules": rows, "statementless_modules": empty_us,
            "total_us": {"plugin": took_us, "hostdev": took_us - 500.0, "stdlib": 200.0, "cffi": 300.0}}


def test_import_time_and_module_count_get_a_verdict_each_and_the_count_its_measured_bound() -> None:
    results: dict[str, Any] = {
        "cycle": {"ratios": {}}, "version": {"ratios": {}, "summary": {}},
        "importtime": {"commands": {"ADD": _import_data(40, 9000.0, {"hostdev.cni": 20.0, "hostdev._netlink": 30.0}),
                                    "DEL": _import_data(30, 11000.0, {})}},
    }  # fmt: skip
    rows = {row[0]: row for row in targets_table(results)[1]}
    add_time, add_count = rows["ADD: imports ≤ 10.0 ms (`-X importtime`)"], rows["ADD: ≤ 30 modules (`-X importtime`)"]
    assert add_time[2] == "met" and add_count[2] == "NOT met"
    # 38 of ours, 25 µs each (the median of the empty ones): merging all into one saves 37 × 25 µs.
    assert "38 are hostdev's own" in add_count[3] and "25.0 µs besides its body" in add_count[3]
    assert "at most 925 µs" in add_count[3] and "`_cffi_backend`, `os`" in add_count[3]
    del_time, del_count = rows["DEL: imports ≤ 10.0 ms (`-X importtime`)"], rows["DEL: ≤ 30 modules (`-X importtime`)"]
    assert del_time[2] == "NOT met" and del_count[2] == "met" and "besides its body" not in del_count[3]
