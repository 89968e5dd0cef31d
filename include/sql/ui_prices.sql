-- One pair's prices in [since, until), downsampled with date_bin: per source, exchange, kind
-- ('tick' or 'candle') and bin, the open (first), high, low and close (last) of the bin and how
-- many rows it holds. A candle's own open/high/low count; a tick stands for all four.
-- {table} is the pair, an identifier quoted by psycopg.sql; {open}, {high}, {low} and {kind} are
-- its candle columns, or NULL and 'tick' for a table created before candles existed.
SELECT date_bin(%(bin)s, observed_at, %(origin)s)                                  AS bucket,
       source,
       exchange,
       {kind}                                                                        AS kind,
       (array_agg(coalesce({open}, value) ORDER BY observed_at, event_id))[1]       AS open,
       max(greatest(coalesce({high}, value), value))                                 AS high,
       min(least(coalesce({low}, value), value))                                     AS low,
       (array_agg(value ORDER BY observed_at DESC, event_id DESC))[1]                AS close,
       count(*)                                                                      AS samples
FROM {table}
WHERE observed_at >= %(since)s AND observed_at < %(until)s
GROUP BY bucket, source, exchange, 4
ORDER BY source, exchange, 4, bucket
LIMIT %(max_rows)s
