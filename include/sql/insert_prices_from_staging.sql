-- An event already stored (a producer retry re-sent it) is skipped, not doubled.
INSERT INTO {table} (value, source, exchange, observed_at, event_id, kafka_partition, kafka_offset)
SELECT value, source, exchange, observed_at, event_id, kafka_partition, kafka_offset
FROM crypto_prices_staging
WHERE pair = %(pair)s
ORDER BY kafka_partition, kafka_offset
ON CONFLICT (event_id) DO NOTHING
