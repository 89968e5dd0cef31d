"""Helpers shared by test modules (test modules never import each other; fixtures live in conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest


def use_kafka_connection(monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any]) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CRYPTO_PRICES_KAFKA", json.dumps({"conn_type": "kafka", "extra": extra}))
