"""Where a partition's drain resumes, decided from its stored position and its log's bounds."""

from __future__ import annotations

from franz_ivan.topic_lifecycle import LogBounds, Reason, StoredPosition, decide

OLD_ID = "AaIxVinBfuO0qNyHFfQxrw"
NEW_ID = "AaIxVi2yccOrCAOKc0vUkQ"


def test_a_position_of_the_same_log_within_its_bounds_is_resumed() -> None:
    resume = decide(0, StoredPosition(7, OLD_ID), OLD_ID, LogBounds(0, 12), topic_has_positions=True)
    assert (resume.offset, resume.reason, resume.pending, resume.gap) == (7, None, 5, None)
    assert not resume.rewrites_position


def test_a_changed_topic_id_re_reads_from_the_beginning_even_when_the_new_log_is_longer() -> None:
    """The case the end offsets cannot see: the new log has grown past the old position."""
    resume = decide(1, StoredPosition(5, OLD_ID), NEW_ID, LogBounds(0, 9), topic_has_positions=True)
    assert (resume.offset, resume.reason, resume.pending) == (0, Reason.TOPIC_RECREATED, 9)
    assert OLD_ID in resume.detail
    assert NEW_ID in resume.detail
    assert resume.rewrites_position


def test_a_log_ending_before_the_position_is_re_read_without_ids() -> None:
    resume = decide(2, StoredPosition(40, None), None, LogBounds(0, 3), topic_has_positions=True)
    assert (resume.offset, resume.reason, resume.pending) == (0, Reason.LOG_ENDS_BEFORE_POSITION, 3)
    assert "before the stored position 40" in resume.detail


def test_a_re_created_topic_with_an_empty_partition_has_nothing_pending_but_is_still_reset() -> None:
    resume = decide(0, StoredPosition(5, OLD_ID), NEW_ID, LogBounds(0, 0), topic_has_positions=True)
    assert (resume.reason, resume.pending, resume.rewrites_position) == (Reason.TOPIC_RECREATED, 0, True)


def test_retention_past_the_position_is_a_gap_from_the_position_to_the_first_retained_offset() -> None:
    resume = decide(0, StoredPosition(100, OLD_ID), OLD_ID, LogBounds(250, 300), topic_has_positions=True)
    assert (resume.offset, resume.reason, resume.gap, resume.pending) == (
        250,
        Reason.RETENTION,
        (100, 249),
        50,
    )
    assert "events 100 to 249 were deleted (retention)" in resume.detail


def test_retention_up_to_the_position_exactly_loses_nothing() -> None:
    resume = decide(0, StoredPosition(250, OLD_ID), OLD_ID, LogBounds(250, 300), topic_has_positions=True)
    assert (resume.reason, resume.gap, resume.offset) == (None, None, 250)


def test_a_partition_without_a_position_is_new_only_when_the_topic_has_positions() -> None:
    new = decide(3, None, OLD_ID, LogBounds(0, 4), topic_has_positions=True)
    assert (new.offset, new.reason, new.pending) == (0, Reason.NEW_PARTITION, 4)
    first = decide(3, None, OLD_ID, LogBounds(0, 4), topic_has_positions=False)
    assert (first.offset, first.reason, first.pending) == (0, None, 4)
    assert new.rewrites_position
    assert first.rewrites_position


def test_a_position_stored_without_an_id_adopts_the_topics_id() -> None:
    resume = decide(0, StoredPosition(3, None), OLD_ID, LogBounds(0, 3), topic_has_positions=True)
    assert (resume.reason, resume.offset, resume.rewrites_position) == (None, 3, True)
    unknown = decide(0, StoredPosition(3, OLD_ID), None, LogBounds(0, 3), topic_has_positions=True)
    assert (unknown.reason, unknown.rewrites_position) == (None, False)
