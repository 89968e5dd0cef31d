-- What the drain knows about the log its positions belong to. Run after create_schema, under the
-- same advisory lock (see franz_ivan.store).

-- The topic id (KIP-516) of the log each position was read from; NULL when the broker gives none
-- or the position predates it. A position whose id differs from the topic's is not re-used.
-- ALTER TABLE takes an exclusive lock even when the column exists, and would queue every drain
-- behind any reader of the positions (sensor, UI page, quality checks): so only when missing.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT FROM information_schema.columns
        WHERE table_schema = current_schema()
          AND table_name = 'crypto_prices_consumer_offsets'
          AND column_name = 'topic_id'
    ) THEN
        ALTER TABLE crypto_prices_consumer_offsets ADD COLUMN topic_id text;
    END IF;
END
$$;

-- Offsets the broker deleted (retention) before the drain read them: from_offset to to_offset,
-- both included. The backfill reads this to know which time ranges to fetch again.
CREATE TABLE IF NOT EXISTS crypto_prices_retention_gaps (
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    from_offset     bigint      NOT NULL,
    to_offset       bigint      NOT NULL,
    detected_at     timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    consumer_group  text,
    topic_id        text,
    CHECK (from_offset <= to_offset)
);
CREATE INDEX IF NOT EXISTS crypto_prices_retention_gaps_topic_idx
    ON crypto_prices_retention_gaps (topic, kafka_partition, from_offset);

-- Every time a stored position was not resumed from as it was: the topic was re-created, the log
-- ends before the position, or the partition is new. Written with the new position, in one
-- transaction.
CREATE TABLE IF NOT EXISTS crypto_prices_position_resets (
    consumer_group   text        NOT NULL,
    topic            text        NOT NULL,
    kafka_partition  integer     NOT NULL,
    reason           text        NOT NULL,
    detail           text        NOT NULL,
    stored_offset    bigint,
    stored_topic_id  text,
    topic_id         text,
    log_start        bigint      NOT NULL,
    log_end          bigint      NOT NULL,
    resumed_at       bigint      NOT NULL,
    detected_at      timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
);
