-- The fast path for a batch of new events: straight into the pair's table. A stored event id
-- fails it (PRIMARY KEY), and the batch goes through the staging table instead.
-- {table} is an identifier quoted by psycopg.sql.
COPY {table} (value, source, exchange, observed_at, event_id, kafka_partition, kafka_offset)
FROM STDIN
