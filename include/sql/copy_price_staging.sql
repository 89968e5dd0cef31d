COPY crypto_prices_staging
    (pair, value, source, exchange, observed_at, event_id, kafka_partition, kafka_offset)
FROM STDIN
