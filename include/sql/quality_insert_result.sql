INSERT INTO crypto_prices_quality_results
    (check_name, market, observed_value, threshold, status, message, dag_run_id)
VALUES
    (%(check_name)s, %(market)s, %(observed_value)s, %(threshold)s, %(status)s, %(message)s,
     %(dag_run_id)s)
