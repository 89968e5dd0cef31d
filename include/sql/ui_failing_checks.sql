-- Data-quality checks whose latest result (per check and market) is a failure, newest first.
SELECT checked_at, check_name, market, observed_value, threshold, message, dag_run_id
FROM (
    SELECT DISTINCT ON (check_name, market) *
    FROM crypto_prices_quality_results
    ORDER BY check_name, market, checked_at DESC
) AS latest
WHERE status = 'fail'
ORDER BY checked_at DESC, check_name, market
LIMIT %(max_rows)s
