-- Serializes DDL between concurrent drains (and the quality DAG): held until the transaction ends.
SELECT pg_advisory_xact_lock(%(key)s)
