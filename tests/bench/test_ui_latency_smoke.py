"""The page's latency benchmark runs end to end on a day of data and prints its figures.

The figures of such a run mean nothing; what is checked is that the script works: every request
answered 200 (the script raises otherwise) and every case printed a figure.
"""

from __future__ import annotations

import math

import pytest

from bench import ui_latency

# alone: a latency benchmark (see test_bench_smoke.py).
pytestmark = [pytest.mark.integration, pytest.mark.alone]


def test_ui_latency_runs_on_a_small_load_and_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    figures = ui_latency.main(["--days", "1", "--requests", "3"])

    assert [figure.name for figure in figures] == [
        "overview latency",
        "prices 1h latency",
        "prices 24h latency",
        "prices 7d latency",
        "lag latency",
        "page load 7d (overview + 10 charts) latency",
    ]
    for figure in figures:
        assert len(figure.samples) == 3, figure.name
        assert all(math.isfinite(sample) and sample > 0 for sample in figure.samples), figure.line()
    printed = capsys.readouterr().out
    assert "Seeded 28,800 price rows (1 d) for 20 markets" in printed
    assert all(f"{figure.name.removesuffix(' latency')}: p50" in printed for figure in figures)
