-- Per market of one pair table: the recent price farthest from the median of the market's prices
-- over the spike window, in percent of that median. Candle rows count with their close (value).
-- {table} is an identifier quoted by psycopg.sql.
WITH window_rows AS (
    SELECT source, exchange, value, observed_at
    FROM {table}
    WHERE observed_at > %(as_of)s - make_interval(mins => %(window_minutes)s)
      AND observed_at <= %(as_of)s
), medians AS (
    SELECT source, exchange, percentile_cont(0.5) WITHIN GROUP (ORDER BY value) AS median
    FROM window_rows
    GROUP BY source, exchange
), deviations AS (
    SELECT w.source, w.exchange, w.value, w.observed_at, m.median::numeric AS median,
           abs(w.value - m.median::numeric) * 100 / nullif(m.median::numeric, 0) AS percent
    FROM window_rows AS w
    JOIN medians AS m USING (source, exchange)
    WHERE w.observed_at > %(as_of)s - make_interval(mins => %(recent_minutes)s)
)
SELECT DISTINCT ON (source, exchange) source, exchange, percent, value, median, observed_at
FROM deviations
ORDER BY source, exchange, percent DESC NULLS LAST, observed_at DESC
