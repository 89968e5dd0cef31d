-- How far the markets of one pair disagree: per minute, each market's mean price, and the spread
-- (highest minus lowest, in percent of the lowest) across the markets quoting that minute. The
-- result is the median spread over the recent minutes that had two markets or more, so one wild
-- print (the spike check's business) does not count as a disagreement, and a source that stays
-- apart does. Also the newest such minute's spread and the market farthest from its median.
-- {table} is an identifier quoted by psycopg.sql.
WITH per_minute AS (
    SELECT date_trunc('minute', observed_at) AS minute, source || ':' || exchange AS market,
           avg(value) AS price
    FROM {table}
    WHERE observed_at > %(as_of)s - make_interval(mins => %(recent_minutes)s)
      AND observed_at <= %(as_of)s
    GROUP BY 1, 2
), minute_medians AS (
    SELECT minute, percentile_cont(0.5) WITHIN GROUP (ORDER BY price)::numeric AS median
    FROM per_minute
    GROUP BY minute
), spreads AS (
    SELECT p.minute, (max(p.price) - min(p.price)) * 100 / nullif(min(p.price), 0) AS percent,
           (array_agg(p.market ORDER BY abs(p.price - m.median) DESC, p.market))[1] AS farthest
    FROM per_minute AS p
    JOIN minute_medians AS m USING (minute)
    GROUP BY p.minute
    HAVING count(*) >= 2
)
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY percent) AS median_percent,
       count(*) AS minutes,
       (array_agg(farthest ORDER BY minute DESC))[1] AS farthest,
       (array_agg(percent ORDER BY minute DESC))[1] AS newest_percent
FROM spreads
HAVING count(*) > 0
