-- Candles from an exchange's history (a backfill) share the table: value is the close,
-- observed_at the minute's start. Upgrades a table made before candles; run only when
-- price_table_lacks_candle_columns.sql says so, as ALTER TABLE locks out every reader.
-- {table} and {kind_check} are identifiers quoted by psycopg.sql.
ALTER TABLE {table}
    ADD COLUMN IF NOT EXISTS open   numeric,
    ADD COLUMN IF NOT EXISTS high   numeric,
    ADD COLUMN IF NOT EXISTS low    numeric,
    ADD COLUMN IF NOT EXISTS volume numeric,
    ADD COLUMN IF NOT EXISTS kind   text NOT NULL DEFAULT 'tick'
        CONSTRAINT {kind_check} CHECK (kind IN ('tick', 'candle'));
