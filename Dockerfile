# The one Airflow image of every deployment: docker compose (local and Aiven mode) and the
# official Helm chart. The official image plus the pinned requirements, with the DAGs, the
# franz_ivan plugin package and the SQL baked in at the paths Airflow and settings.py expect.
FROM apache/airflow:3.3.2-python3.11

# requirements.txt pins apache-airflow to the image's own version, so pip keeps it as it is. It
# also names ./provider (the entry point of the franz_ivan_postgres connection type), relative
# to the directory pip runs in.
COPY requirements.txt /tmp/franz-ivan/requirements.txt
COPY provider/ /tmp/franz-ivan/provider/
RUN cd /tmp/franz-ivan && pip install --no-cache-dir -r requirements.txt

# include/ sits next to plugins/: settings.SQL_DIR defaults to <plugins>/../include/sql.
COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/

# Every process (scheduler, task runners, triggerer) imports franz_ivan the same way.
ENV PYTHONPATH=/opt/airflow/plugins

# Masking wherever the image runs (the deployment files set the same): connection extras whose key
# holds one of these words, and each line of a PEM on its own.
ENV AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES=pem,sslkey,sslpassword \
    AIRFLOW__LOGGING__SECRET_MASK_ADAPTER=franz_ivan.masking.pem_mask_variants
