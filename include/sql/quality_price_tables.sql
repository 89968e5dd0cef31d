-- The pair tables: every table of the schema with the price columns.
SELECT table_name::text
FROM information_schema.columns
WHERE table_schema = current_schema() AND column_name IN ('value', 'exchange', 'observed_at', 'source')
GROUP BY table_name
HAVING count(*) = 4
ORDER BY 1
