-- The columns of one price table, to tell whether it has the candle columns yet.
SELECT column_name
FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = %(table)s
