-- Every data-quality check's verdict, one row per check, market and run: read by Grafana and
-- the UI page. Rows are only added (a re-run adds its own), so the history shows every alarm.
CREATE TABLE IF NOT EXISTS crypto_prices_quality_results (
    checked_at      timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    check_name      text,
    market          text,
    observed_value  numeric,
    threshold       numeric,
    status          text CHECK (status IN ('pass', 'fail')),
    message         text,
    dag_run_id      text
);
CREATE INDEX IF NOT EXISTS crypto_prices_quality_results_checked_at_idx
    ON crypto_prices_quality_results (checked_at);
CREATE INDEX IF NOT EXISTS crypto_prices_quality_results_check_idx
    ON crypto_prices_quality_results (check_name, market, checked_at);
