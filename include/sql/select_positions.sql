SELECT kafka_partition, next_offset, topic_id
FROM crypto_prices_consumer_offsets
WHERE consumer_group = %(consumer_group)s AND topic = %(topic)s
