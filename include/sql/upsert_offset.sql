INSERT INTO crypto_prices_consumer_offsets (consumer_group, topic, kafka_partition, next_offset, topic_id)
VALUES (%(consumer_group)s, %(topic)s, %(kafka_partition)s, %(next_offset)s, %(topic_id)s)
ON CONFLICT (consumer_group, topic, kafka_partition)
DO UPDATE SET next_offset = EXCLUDED.next_offset, topic_id = EXCLUDED.topic_id, updated_at = CURRENT_TIMESTAMP
