-- Dead letters recorded since %(since)s: the count, and the newest few with where and why.
-- The message bytes stay in the table: the page shows positions and reasons only.
SELECT count(*) OVER () AS total,
       "timestamp", topic, kafka_partition, kafka_offset, left(error, %(max_error_chars)s) AS error
FROM crypto_prices_dead_letter
WHERE "timestamp" >= %(since)s
ORDER BY "timestamp" DESC, topic, kafka_partition, kafka_offset
LIMIT %(max_rows)s
