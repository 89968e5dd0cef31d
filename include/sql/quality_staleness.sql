-- Minutes each market of one pair table has shown no new price as of %(as_of)s: since the oldest
-- row of the trailing run of rows that repeat the newest value. Rows stopping and a price frozen
-- at one value both count. A market without a row in the look-back is absent from the result.
-- {table} is an identifier quoted by psycopg.sql.
WITH recent AS (
    SELECT source, exchange, value, observed_at,
           first_value(value) OVER newest_first AS newest_value
    FROM {table}
    WHERE observed_at > %(as_of)s - make_interval(mins => %(lookback_minutes)s)
      AND observed_at <= %(as_of)s
    WINDOW newest_first AS (PARTITION BY source, exchange ORDER BY observed_at DESC)
), last_change AS (
    SELECT source, exchange, max(observed_at) FILTER (WHERE value <> newest_value) AS changed_at
    FROM recent
    GROUP BY source, exchange
)
SELECT r.source, r.exchange,
       extract(epoch FROM %(as_of)s - min(r.observed_at)) / 60 AS minutes_unchanged,
       min(r.newest_value) AS price, min(r.observed_at) AS since, max(r.observed_at) AS newest_at
FROM recent AS r
JOIN last_change AS c USING (source, exchange)
WHERE c.changed_at IS NULL OR r.observed_at > c.changed_at
GROUP BY r.source, r.exchange
