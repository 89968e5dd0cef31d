-- One table per pair, named after the pair: the original columns "timestamp" (set by the
-- database on recording) and value (the price), plus the event's own facts.
-- {table} and {observed_at_index} are identifiers quoted by psycopg.sql.
CREATE TABLE IF NOT EXISTS {table} (
    "timestamp"     timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    value           numeric     NOT NULL,
    source          text        NOT NULL,
    exchange        text        NOT NULL,
    observed_at     timestamptz NOT NULL,
    event_id        uuid        PRIMARY KEY,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS {observed_at_index} ON {table} (observed_at);
-- Candles from an exchange's history (a backfill) share the table: value is the close,
-- observed_at the minute's start. ADD COLUMN IF NOT EXISTS upgrades tables made before.
ALTER TABLE {table}
    ADD COLUMN IF NOT EXISTS open   numeric,
    ADD COLUMN IF NOT EXISTS high   numeric,
    ADD COLUMN IF NOT EXISTS low    numeric,
    ADD COLUMN IF NOT EXISTS volume numeric,
    ADD COLUMN IF NOT EXISTS kind   text NOT NULL DEFAULT 'tick'
        CONSTRAINT {kind_check} CHECK (kind IN ('tick', 'candle'));
