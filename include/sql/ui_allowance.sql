-- The newest allowance figure (what remains of the API budget) per source, within the window.
SELECT DISTINCT ON (source)
       source, exchange, pair, allowance, cost, remaining_paid, observed_at
FROM cryptowatch_api_allowance
WHERE observed_at >= %(since)s
ORDER BY source, observed_at DESC
