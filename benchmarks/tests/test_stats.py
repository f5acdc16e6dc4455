from __future__ import annotations

import pytest

from benchmarks.harness.stats import paired_differences, paired_ratios, percentile, summarize


def test_percentile_interpolates_between_ranks_like_numpy() -> None:
    data = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert percentile(data, 0.5) == 3.0
    assert percentile(data, 0.9) == pytest.approx(7.6)  # numpy.percentile(data, 90)
    assert percentile(data, 0.0) == 1.0
    assert percentile(data, 1.0) == 10.0
    assert percentile([5.0], 0.9) == 5.0


def test_percentile_rejects_empty_and_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


def test_summary_is_order_independent_and_has_spread() -> None:
    s = summarize([9.0, 1.0, 5.0, 3.0, 7.0])
    assert (s.n, s.median, s.min, s.max) == (5, 5.0, 1.0, 9.0)
    assert (s.q1, s.q3, s.iqr) == (3.0, 7.0, 4.0)
    assert s.to_dict()["iqr"] == 4.0


def test_paired_ratios_pair_by_round_not_by_rank() -> None:
    # Round 1 was slow for both: a ratio of medians would hide that hostdev is always 2x.
    a = [2.0, 200.0, 4.0]
    b = [1.0, 100.0, 2.0]
    assert paired_ratios(a, b).median == 2.0
    assert paired_differences(a, b).median == 2.0
    with pytest.raises(ValueError):
        paired_ratios([1.0], [1.0, 2.0])
