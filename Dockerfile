# The one Airflow image of every deployment: docker compose (local and Aiven mode) and the
# official Helm chart. The official image plus the pinned requirements, with the DAGs, the
# franz_ivan plugin package and the SQL baked in at the paths Airflow and settings.py expect.
FROM apache/airflow:3.3.2-python3.11

# requirements.txt pins apache-airflow to the image's own version, so pip keeps it as it is. Then
# the franz-ivan distribution itself (its package, SQL, provider and plugin entry points).
COPY requirements.txt /tmp/franz-ivan/requirements.txt
RUN pip install --no-cache-dir -r /tmp/franz-ivan/requirements.txt
COPY pyproject.toml /tmp/franz-ivan/pyproject.toml
COPY README.md /tmp/franz-ivan/README.md
COPY plugins/ /tmp/franz-ivan/plugins/
COPY include/ /tmp/franz-ivan/include/
RUN pip install --no-cache-dir --no-deps /tmp/franz-ivan

COPY --chown=airflow:root dags/ /opt/airflow/dags/

# Masking wherever the image runs (the deployment files set the same): connection extras whose key
# holds one of these words, and each line of a PEM on its own.
ENV AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES=pem,sslkey,sslpassword \
    AIRFLOW__LOGGING__SECRET_MASK_ADAPTER=franz_ivan.masking.pem_mask_variants
