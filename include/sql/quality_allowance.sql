-- Per source: the newest allowance figure and the highest seen in the look-back, the figure the
-- allowance is judged against (what remains of it).
SELECT source,
       (array_agg(allowance ORDER BY observed_at DESC, "timestamp" DESC))[1] AS remaining,
       max(allowance) AS highest
FROM cryptowatch_api_allowance
WHERE observed_at > %(as_of)s - make_interval(mins => %(lookback_minutes)s)
  AND observed_at <= %(as_of)s
GROUP BY source
ORDER BY source
