from __future__ import annotations

import pytest

from benchmarks.cni.importtime import foreign_subtrees, parse_importtime, plugin_roots, summarize_runs, walk

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
