"""Hooks over the apache-kafka and postgres providers' hooks: what franz-ivan adds lives here.

``kafka``: producer, consumer and admin-client hooks (PEM checks, TLS failure hints through the
``error_cb``, idempotent-producer and bounded-wait settings, a bounded connection test).
``postgres``: ``PostgresHook`` with inline PEMs (connection type ``franz_ivan_postgres``).
"""
