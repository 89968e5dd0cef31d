-- Runs once, when the PostgreSQL volume is first created (docker-entrypoint-initdb.d), as the
-- superuser of the Airflow metadata database.
--
-- Creates the pipeline's database, owned by the role the DAGs log in as (connection
-- crypto_prices_postgres), and a read-only role for Grafana that may read every table the
-- consumer creates later (one per pair) and write none.
-- Names and passwords come from the postgres service's environment (docker-compose.yaml).
\set ON_ERROR_STOP on
\getenv pipeline_db CRYPTO_PRICES_DB
\getenv pipeline_user CRYPTO_PRICES_DB_USER
\getenv pipeline_password CRYPTO_PRICES_DB_PASSWORD
\getenv reader_user GRAFANA_DB_USER
\getenv reader_password GRAFANA_DB_PASSWORD

CREATE ROLE :"pipeline_user" LOGIN PASSWORD :'pipeline_password';
CREATE ROLE :"reader_user" LOGIN PASSWORD :'reader_password';
CREATE DATABASE :"pipeline_db" OWNER :"pipeline_user";
REVOKE ALL ON DATABASE :"pipeline_db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"pipeline_db" TO :"reader_user";

\connect :"pipeline_db"
ALTER DEFAULT PRIVILEGES FOR ROLE :"pipeline_user" IN SCHEMA public
    GRANT SELECT ON TABLES TO :"reader_user";
