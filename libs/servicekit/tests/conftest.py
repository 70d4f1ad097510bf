from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts import Topic
from contracts.events import ProductChanged
from contracts.topics import product_key
from servicekit import Service, ServiceSettings
from servicekit.logging import configure_logging


@pytest.fixture
async def test_topic(topics_created: str) -> Topic:
    """A topic of its own for one test (and its dead-letter topic), carrying ProductChanged."""
    name = f"test.products.{uuid.uuid4().hex[:8]}.v1"
    admin = AIOKafkaAdminClient(bootstrap_servers=topics_created)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, 3, 1) for n in (name, f"{name}.dlq")])
    finally:
        await admin.close()
    return Topic(name, "store_code|sku", product_key, (ProductChanged,))


@pytest.fixture
def service_factory(topics_created: str, database_url: str) -> Callable[..., Any]:
    @asynccontextmanager
    async def make(topic: Topic, handler: Any, *, name: str | None = None,
                   setup_sql: str = "", **settings: Any) -> AsyncIterator[Service[ServiceSettings]]:
        name = name or f"svc-{uuid.uuid4().hex[:8]}"
        schema = name.replace("-", "_")
        if setup_sql:
            conn = await asyncpg.connect(database_url)
            try:
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"; SET search_path = "{schema}"; {setup_sql}')
            finally:
                await conn.close()
        service = Service(name, ServiceSettings(
            kafka_bootstrap_servers=topics_created, database_url=database_url,
            lag_interval_s=0.2, consumer_batch_timeout_ms=20, **settings,
        ))
        service.subscribe(topic, handler)
        await service.start()
        try:
            yield service
        finally:
            await service.stop()

    return make


@pytest.fixture
def json_logs() -> Iterator[None]:
    """The services' JSON logging for one test (read with capsys), undone afterwards."""
    configure_logging("servicekit-test", "DEBUG")
    try:
        yield
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
        structlog.contextvars.clear_contextvars()
