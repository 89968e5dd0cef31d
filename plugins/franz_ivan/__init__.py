"""franz-ivan: crypto prices from market-data APIs, through Kafka, into PostgreSQL, with Airflow 3."""
