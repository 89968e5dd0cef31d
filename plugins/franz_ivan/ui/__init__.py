"""The "Crypto prices" page of the Airflow UI: a FastAPI app, its data queries and its static assets.

Registered by ``plugins/crypto_prices_ui.py``; see ``docs/ui.md``.
"""
