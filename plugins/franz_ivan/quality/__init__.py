"""Data quality of the stored prices: checks, their settings, and where their verdicts go.

- :mod:`.config`: the checks' thresholds, defaults in code, overridden per market, pair or source
  by the Airflow Variable ``crypto_prices_quality``;
- :mod:`.checks`: each check as a function of a psycopg connection, the verdicts recorded in
  ``crypto_prices_quality_results``, and the failure that names market, figure and threshold;
- :mod:`.operators`: the common-sql threshold check, recording its verdict the same way.
"""
