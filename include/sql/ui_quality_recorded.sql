-- Whether the quality DAG has recorded any verdict (the table exists from the first drain on).
SELECT EXISTS (SELECT 1 FROM crypto_prices_quality_results)
