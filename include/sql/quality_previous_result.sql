-- The figure a check observed for a market the last time it ran.
SELECT observed_value
FROM crypto_prices_quality_results
WHERE check_name = %(check_name)s AND market = %(market)s
ORDER BY checked_at DESC
LIMIT 1
