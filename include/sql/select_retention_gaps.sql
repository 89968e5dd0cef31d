-- Offsets of the topic that were deleted by retention before the consumer stored them (recorded
-- by the drain in crypto_prices_retention_gaps), detected within the window.
SELECT topic, kafka_partition, from_offset, to_offset, detected_at
FROM crypto_prices_retention_gaps
WHERE topic = %(topic)s AND detected_at >= %(start)s
ORDER BY detected_at, kafka_partition
