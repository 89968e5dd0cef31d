-- The rollups: one row per market (pair, source, exchange) and bucket, at 1 hour and 1 day.
-- open/close are the values of the bucket's earliest/latest row (open_at/close_at keep those
-- times so a late row can still replace them); high/low the extremes (a candle's own high and
-- low, a tick's value); count the raw rows summarised. Not pair tables: they have no
-- "timestamp"/value columns, so the code that finds pair tables by their columns skips them.
CREATE TABLE IF NOT EXISTS crypto_prices_rollup_1h (
    pair     text        NOT NULL,
    source   text        NOT NULL,
    exchange text        NOT NULL,
    bucket   timestamptz NOT NULL,
    open     numeric     NOT NULL,
    high     numeric     NOT NULL,
    low      numeric     NOT NULL,
    close    numeric     NOT NULL,
    count    bigint      NOT NULL,
    open_at  timestamptz NOT NULL,
    close_at timestamptz NOT NULL,
    PRIMARY KEY (pair, source, exchange, bucket)
);
CREATE TABLE IF NOT EXISTS crypto_prices_rollup_1d (LIKE crypto_prices_rollup_1h INCLUDING ALL);
