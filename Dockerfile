# The one Airflow image of every deployment: docker compose (local and Aiven mode) and the
# official Helm chart. The official image plus the pinned requirements and the franz-ivan
# distribution (the franz_ivan package with its SQL, its provider and UI-plugin entry points),
# with the DAG files baked in where Airflow looks for them.
FROM apache/airflow:3.3.2-python3.11

# requirements.txt pins apache-airflow to the image's own version, so pip keeps it as it is.
COPY requirements.txt /tmp/franz-ivan/requirements.txt
RUN pip install --no-cache-dir -r /tmp/franz-ivan/requirements.txt

# The distribution itself, from the files its build reads: the package's source in plugins/, the
# SQL of include/sql (shipped as package data). --no-deps: the pins above are its dependencies.
COPY pyproject.toml README.md /tmp/franz-ivan/build/
COPY plugins/ /tmp/franz-ivan/build/plugins/
COPY include/ /tmp/franz-ivan/build/include/
RUN cd /tmp/franz-ivan/build && pip install --no-cache-dir --no-deps . && rm -rf /tmp/franz-ivan

COPY --chown=airflow:root dags/ /opt/airflow/dags/

# Masking wherever the image runs (the deployment files set the same): connection extras whose key
# holds one of these words, and each line of a PEM on its own.
ENV AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES=pem,sslkey,sslpassword \
    AIRFLOW__LOGGING__SECRET_MASK_ADAPTER=franz_ivan.masking.pem_mask_variants
