-- One table per pair, named after the pair: the original columns "timestamp" (set by the
-- database on recording) and value (the price), plus the event's own facts. A candle from an
-- exchange's history (kind 'candle') has value = its close, observed_at = its minute's start,
-- and open/high/low/volume; a live tick (kind 'tick') leaves those NULL.
-- {table}, {observed_at_index} and {kind_check} are identifiers quoted by psycopg.sql.
CREATE TABLE IF NOT EXISTS {table} (
    "timestamp"     timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    value           numeric     NOT NULL,
    source          text        NOT NULL,
    exchange        text        NOT NULL,
    observed_at     timestamptz NOT NULL,
    event_id        uuid        PRIMARY KEY,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    open            numeric,
    high            numeric,
    low             numeric,
    volume          numeric,
    kind            text        NOT NULL DEFAULT 'tick'
        CONSTRAINT {kind_check} CHECK (kind IN ('tick', 'candle'))
);
CREATE INDEX IF NOT EXISTS {observed_at_index} ON {table} (observed_at);
