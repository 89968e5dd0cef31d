-- The minutes of [%(start)s, %(end)s) in which one market has no row (tick or candle), as
-- ranges [first_minute, end_minute). Consecutive missing minutes share an "island": the minute
-- minus its rank among the missing ones is the same for every minute of a run.
-- {table} is an identifier quoted by psycopg.sql.
WITH minutes AS (
    SELECT generate_series(
        %(start)s::timestamptz, %(end)s::timestamptz - interval '1 minute', interval '1 minute'
    ) AS minute
),
filled AS (
    SELECT DISTINCT date_trunc('minute', observed_at) AS minute
    FROM {table}
    WHERE source = %(source)s AND exchange = %(exchange)s
      AND observed_at >= %(start)s AND observed_at < %(end)s
),
missing AS (
    SELECT minutes.minute,
           minutes.minute - (row_number() OVER (ORDER BY minutes.minute)) * interval '1 minute' AS island
    FROM minutes
    LEFT JOIN filled ON filled.minute = minutes.minute
    WHERE filled.minute IS NULL
)
SELECT min(minute) AS first_minute, max(minute) + interval '1 minute' AS end_minute, count(*) AS minutes
FROM missing
GROUP BY island
ORDER BY first_minute
