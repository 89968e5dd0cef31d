-- The price tables of the current schema: those with the columns every pair's table has.
-- The caller still validates each name as a pair before using it as an identifier.
SELECT table_name
FROM information_schema.columns
WHERE table_schema = current_schema()
  AND column_name IN ('value', 'source', 'exchange', 'observed_at', 'event_id')
GROUP BY table_name
HAVING count(*) = 5
ORDER BY table_name
LIMIT %(max_pairs)s
