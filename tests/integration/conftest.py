"""Fixtures of the integration tests beyond the services of ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer

from franz_ivan.hooks.kafka import consumer_settings
from tests.helpers import GROUP


@pytest.fixture
def consumer(kafka: dict[str, Any]) -> Iterator[Consumer]:
    """A consumer of the pipeline's group, not subscribed, on the test module's ``kafka`` settings."""
    client = Consumer({**kafka, **consumer_settings(GROUP)})
    yield client
    client.close()
