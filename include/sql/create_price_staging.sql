-- A session-private landing table for COPY; emptied at every commit.
CREATE TEMPORARY TABLE IF NOT EXISTS crypto_prices_staging (
    pair            text        NOT NULL,
    value           numeric     NOT NULL,
    source          text        NOT NULL,
    exchange        text        NOT NULL,
    observed_at     timestamptz NOT NULL,
    event_id        uuid        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL
) ON COMMIT DELETE ROWS;
