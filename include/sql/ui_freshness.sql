-- Per market (source and exchange) of one pair, the newest observation within the window and
-- how old it is. The window bounds the scan; markets silent for longer are reported by the caller.
-- {table} is the pair, an identifier quoted by psycopg.sql.
SELECT source,
       exchange,
       max(observed_at)                                      AS newest_observed_at,
       extract(epoch FROM %(now)s::timestamptz - max(observed_at)) AS age_seconds
FROM {table}
WHERE observed_at >= %(since)s
GROUP BY source, exchange
ORDER BY source, exchange
