-- Whether a pair table still lacks any of the candle columns (a table made before candles).
SELECT count(*) < 5
FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = %(table)s
  AND column_name IN ('open', 'high', 'low', 'volume', 'kind')
