"""Every benchmark script runs end to end on a tiny load and prints its figures.

The figures of such a run mean nothing; what is checked is that the scripts work (the workers
verify that every drain stored every event). Speed targets live in the scripts, not here.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench.__main__ import BENCHMARKS
from bench.common import Figure

# alone: benchmarks time CPU-bound work (process starts, parses, drains); in the parallel run they
# took 5-8 times as long and slowed every other test.
pytestmark = [pytest.mark.integration, pytest.mark.alone]


def figures_in(found: Any) -> list[Figure]:
    if isinstance(found, Figure):
        return [found]
    values = found.values() if isinstance(found, dict) else found
    return [figure for value in values for figure in figures_in(value)]


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_benchmark_runs_on_a_tiny_load_and_prints_its_figures(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run, _, quick = BENCHMARKS[name]

    figures = figures_in(run([*quick, "--runs", "1"]))

    assert figures
    for figure in figures:
        assert figure.samples, figure.name
        assert all(math.isfinite(sample) and sample >= 0 for sample in figure.samples), figure.line()
    printed = capsys.readouterr().out
    assert all(figure.name in printed for figure in figures)
