INSERT INTO crypto_prices_retention_gaps
    (topic, kafka_partition, from_offset, to_offset, consumer_group, topic_id)
VALUES
    (%(topic)s, %(kafka_partition)s, %(from_offset)s, %(to_offset)s, %(consumer_group)s, %(topic_id)s)
