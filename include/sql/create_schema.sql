-- The tables every deployment has, created by the consumer before it stores anything.
-- Run under an advisory lock (see franz_ivan.store) so parallel drains do not race on DDL.

-- What the allowance events say: the original system's table and columns ("timestamp",
-- allowance = what remains), plus where and when the figure was observed.
CREATE TABLE IF NOT EXISTS cryptowatch_api_allowance (
    "timestamp"     timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    allowance       numeric     NOT NULL,
    cost            numeric,
    remaining_paid  numeric,
    source          text        NOT NULL,
    exchange        text        NOT NULL,
    pair            text        NOT NULL,
    observed_at     timestamptz NOT NULL,
    event_id        uuid        PRIMARY KEY,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS cryptowatch_api_allowance_observed_at_idx
    ON cryptowatch_api_allowance (observed_at);

-- Messages that could not be stored, kept byte for byte with the reason.
CREATE TABLE IF NOT EXISTS crypto_prices_dead_letter (
    "timestamp"     timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    message_key     bytea,
    message_value   bytea,
    error           text        NOT NULL,
    PRIMARY KEY (topic, kafka_partition, kafka_offset)
);

-- Where each partition's drain resumes. Written in the same transaction as the rows, so the
-- rows and the position can never disagree: this is what makes the effect exactly-once.
CREATE TABLE IF NOT EXISTS crypto_prices_consumer_offsets (
    consumer_group  text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    next_offset     bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (consumer_group, topic, kafka_partition)
);
