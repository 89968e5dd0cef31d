-- The newest allowance figure (what remains of the API budget) per source, within the window.
-- Newest time per source by hash aggregation, then that row through the observed_at index:
-- a sort of the whole window (DISTINCT ON) took ten times longer on a week of 20 markets.
WITH newest AS (
    SELECT source, max(observed_at) AS observed_at
    FROM cryptowatch_api_allowance
    WHERE observed_at >= %(since)s
    GROUP BY source
)
SELECT DISTINCT ON (allowance.source)
       allowance.source, allowance.exchange, allowance.pair, allowance.allowance, allowance.cost,
       allowance.remaining_paid, allowance.observed_at
FROM newest
JOIN cryptowatch_api_allowance AS allowance
  ON allowance.source = newest.source AND allowance.observed_at = newest.observed_at
ORDER BY allowance.source, allowance.event_id
