INSERT INTO crypto_prices_position_resets
    (consumer_group, topic, kafka_partition, reason, detail, stored_offset, stored_topic_id, topic_id,
     log_start, log_end, resumed_at)
VALUES
    (%(consumer_group)s, %(topic)s, %(kafka_partition)s, %(reason)s, %(detail)s, %(stored_offset)s,
     %(stored_topic_id)s, %(topic_id)s, %(log_start)s, %(log_end)s, %(resumed_at)s)
