INSERT INTO cryptowatch_api_allowance
    (allowance, cost, remaining_paid, source, exchange, pair, observed_at, event_id,
     kafka_partition, kafka_offset)
VALUES
    (%(remaining)s, %(cost)s, %(remaining_paid)s, %(source)s, %(exchange)s, %(pair)s,
     %(observed_at)s, %(event_id)s, %(kafka_partition)s, %(kafka_offset)s)
ON CONFLICT (event_id) DO NOTHING
