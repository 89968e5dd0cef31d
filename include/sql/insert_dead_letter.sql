INSERT INTO crypto_prices_dead_letter
    (topic, kafka_partition, kafka_offset, message_key, message_value, error)
VALUES
    (%(topic)s, %(kafka_partition)s, %(kafka_offset)s, %(message_key)s, %(message_value)s, %(error)s)
ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING
