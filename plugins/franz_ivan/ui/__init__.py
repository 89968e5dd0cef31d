"""The "Crypto prices" page of the Airflow UI: a FastAPI app, its data queries and its static assets.

Registered by :mod:`franz_ivan.ui.plugin` (the distribution's ``airflow.plugins`` entry point); see
``docs/ui.md``.
"""
