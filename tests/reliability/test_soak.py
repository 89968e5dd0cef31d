"""A small soak: events published while drains are SIGKILLed at random; nothing lost, nothing doubled."""

from __future__ import annotations

import pytest

from devtools.soak import soak

pytestmark = pytest.mark.integration


def test_random_kills_during_a_stream_of_events_lose_and_double_nothing() -> None:
    report = soak(events=5000, kills=4, batch_size=300)
    assert report.kills >= 1, report
    assert report.malformed > 0
    assert report.resent > 0
    assert report.rows == report.distinct_events, report
    assert (report.duplicates, report.lost) == (0, 0), report
    assert report.dead_letters == report.malformed, report
