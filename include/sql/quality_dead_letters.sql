-- Dead letters recorded since the previous dead-letter check (or in the last hour, before the
-- first one): a threshold check of SQLThresholdCheckOperator, so no bound parameters.
SELECT count(*)
FROM crypto_prices_dead_letter
WHERE "timestamp" > coalesce(
    (SELECT max(checked_at) FROM crypto_prices_quality_results WHERE check_name = 'dead_letters'),
    CURRENT_TIMESTAMP - interval '1 hour'
)
