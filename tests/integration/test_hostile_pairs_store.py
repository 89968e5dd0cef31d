"""The store validates a pair again right before quoting it as a table name, so a hostile pair
that slipped past ``parse_market`` and ``decode`` (tests/unit/test_hostile_pairs.py) writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from franz_ivan.event_fields import event_id_for
from franz_ivan.events import EventError, Market, PriceEvent
from franz_ivan.store import Batch, Located, PriceStore

pytestmark = pytest.mark.integration


def smuggled_event(pair: str) -> Located[PriceEvent]:
    """An event whose market skipped validation, as a bug elsewhere might let one through."""
    market = object.__new__(Market)
    for name, value in (("source", "cryptowatch"), ("exchange", "coinbase-pro"), ("pair", pair)):
        object.__setattr__(market, name, value)
    event = PriceEvent(event_id_for("hostile", pair), market, datetime.now(UTC), Decimal("1.5"))
    return Located(event, partition=0, offset=7)


def test_the_store_validates_again_and_writes_nothing(pg: Any, topic: str) -> None:
    store = PriceStore(pg, topic, "hostile-test")
    store.prepare()
    pg.execute("CREATE TABLE x (id int)")
    pg.commit()

    with pytest.raises(EventError, match="is not valid"):
        store.write(Batch(prices=[smuggled_event('btcusd"; drop table x; --')], next_offsets={0: 8}))

    tables = {row[0] for row in pg.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert "x" in tables
    assert not {table for table in tables if "btcusd" in table}
    assert store.stored_offsets() == {}
