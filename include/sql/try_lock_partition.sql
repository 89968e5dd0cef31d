-- One drain per partition: a session lock keyed by the (consumer group, topic) and the partition.
SELECT pg_try_advisory_lock(%(key)s, %(kafka_partition)s)
