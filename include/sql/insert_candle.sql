-- One candle from an exchange's history. Its event id derives from market and minute, so a
-- second backfill of the same minute is skipped here. Live rows of that minute are left as
-- they are: the candle is stored beside them (kind = 'candle').
-- {table} is an identifier quoted by psycopg.sql.
INSERT INTO {table}
    (value, open, high, low, volume, kind, source, exchange, observed_at, event_id,
     kafka_partition, kafka_offset)
VALUES
    (%(close)s, %(open)s, %(high)s, %(low)s, %(volume)s, 'candle', %(source)s, %(exchange)s,
     %(observed_at)s, %(event_id)s, %(kafka_partition)s, %(kafka_offset)s)
ON CONFLICT (event_id) DO NOTHING
