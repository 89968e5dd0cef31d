"""Malformed messages go to the dead-letter table byte for byte; the good events around them are stored."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from devtools.faults import MALFORMED, DrainTarget, drain_once, make_feed
from franz_ivan.drain import DrainLimits
from franz_ivan.publish import produce
from tests.helpers import state_of

pytestmark = pytest.mark.integration

LIMITS = DrainLimits(batch_size=7, stall_seconds=20, max_seconds=120)

EXPECTED_REASON = {
    "not_json": "not UTF-8 JSON",
    "truncated_json": "not UTF-8 JSON",
    "json_array": "not an object",
    "tombstone": "tombstone",
    "unknown_schema_version": "unknown schema_version 2",
    "schema_version_missing": "missing field 'schema_version'",
    "missing_price": "missing field 'price'",
    "missing_event_id": "missing field 'event_id'",
    "event_id_not_uuid": "not a UUID",
    "observed_at_without_zone": "no time zone",
    "price_nan": "not finite",
    "price_infinity": "not finite",
    "price_json_nan": "not finite",
    "price_negative": "not positive",
    "price_zero": "not positive",
    "price_text": "not a decimal number",
    "price_too_large": "implausibly large",
    "price_too_many_places": "decimal places",
    "price_boolean": "not a number",
    "unknown_event_type": "unknown event type 'trade'",
    "pair_sql_injection": "pair",
    "pair_path": "pair",
    "pair_uppercase": "pair",
    "pair_too_long": "pair",
    "pair_unicode": "pair",
    "pair_nul": "pair",
    "pair_not_text": "pair",
    "source_with_space": "source",
    "oversized": "over the 4096-byte limit",
    "deeply_nested": "nested too deeply",
}


def test_every_kind_of_bad_message_is_dead_lettered_between_stored_events(
    target: DrainTarget, pg: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert set(EXPECTED_REASON) == set(MALFORMED)
    good = make_feed(len(MALFORMED) + 1, run="dead-letters", pairs=["btcusd"], allowance_every=0)
    messages: list[tuple[bytes | None, bytes | None]] = []
    keys = {}
    # One partition's order: good, bad, good, bad, ... good (all on the btcusd key).
    for index, (name, value) in enumerate(MALFORMED.items()):
        key = good.messages[0][0]
        keys[name] = key
        messages += [good.messages[index], (key, value)]
    messages.append(good.messages[-1])
    produce({"bootstrap.servers": target.bootstrap}, target.topic, messages)

    with caplog.at_level(logging.INFO, logger="franz_ivan"):
        result = drain_once(target, LIMITS)

    assert result.dead_letters == len(MALFORMED)
    assert result.prices == len(good.event_ids)
    state = state_of(pg, target)
    assert set(state.event_ids) == good.event_ids
    assert sum(state.next_offsets.values()) == len(messages)
    stored = pg.execute(
        "SELECT message_key, message_value, error FROM crypto_prices_dead_letter ORDER BY kafka_offset"
    ).fetchall()
    assert [value for _, value, _ in stored] == list(MALFORMED.values())
    for (key, _, error), name in zip(stored, MALFORMED, strict=True):
        assert key == keys[name]
        assert EXPECTED_REASON[name] in error, (name, error)
    # The hostile pair names made no table: only btcusd and the shared tables exist.
    # Tables, not their partitions (a partitioned pair table's months are its own).
    tables = {
        row[0]
        for row in pg.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        )
    }
    assert tables == {
        "btcusd",
        "cryptowatch_api_allowance",
        "crypto_prices_dead_letter",
        "crypto_prices_consumer_offsets",
        "crypto_prices_position_resets",
        "crypto_prices_retention_gaps",
        "crypto_prices_quality_results",  # made with the schema: no Grafana panel errors before a check
        "crypto_prices_rollup_1h",  # and the rollups, which the drain keeps from its first row
        "crypto_prices_rollup_1d",
    }
    logged = [record.getMessage() for record in caplog.records]
    assert sum(message.startswith("Dead letter at") for message in logged) == len(MALFORMED)
    assert any(
        f"{len(MALFORMED)} dead letters" in message for message in logged if message.startswith("Drained")
    )

    # A second drain finds nothing new and stores nothing twice.
    again = drain_once(target, LIMITS)
    assert (again.events, again.dead_letters) == (0, 0)
    assert len(pg.execute("SELECT * FROM crypto_prices_dead_letter").fetchall()) == len(MALFORMED)
