INSERT INTO crypto_prices_consumer_offsets (consumer_group, topic, kafka_partition, next_offset)
VALUES (%(consumer_group)s, %(topic)s, %(kafka_partition)s, %(next_offset)s)
ON CONFLICT (consumer_group, topic, kafka_partition)
DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = CURRENT_TIMESTAMP
