"""Helpers for tests that talk to the real broker and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from contracts import Event, encode, topic_for
from servicekit import auth
from servicekit.outbox import headers

# API keys for a test run: one with every scope, one per scope. The pytest plugin puts their hashes in
# API_KEYS, so every service a test builds or starts accepts them.
TEST_KEYS: dict[str, str] = {name: auth.new_key() for name in ("all", *(s.value for s in auth.Scope))}


def api_keys_setting() -> str:
    """The API_KEYS value naming the test keys (only their hashes)."""
    import json

    return json.dumps([{"name": f"test-{name}", "scopes": [s.value for s in auth.Scope] if name == "all" else [name],
                        "sha256": auth.hash_key(key)} for name, key in TEST_KEYS.items()])


def auth_headers(scope: str = "all") -> dict[str, str]:
    """Headers carrying the test key with every scope, or the one with only `scope`."""
    return {"Authorization": f"Bearer {TEST_KEYS[scope]}"}


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def publish(bootstrap: str, events: Iterable[Event | tuple[str, bytes | None, bytes | None]]) -> int:
    """Publish events (to their registry topic, keyed) or raw (topic, key, value) messages."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = []
        for item in events:
            if isinstance(item, Event):
                topic = topic_for(item)
                futures.append(await producer.send(
                    topic.name, encode(item), key=topic.key(item).encode(),
                    headers=headers(item.event_type, item.event_id, item.correlation_id),
                ))
            else:
                topic_name, key, value = item
                futures.append(await producer.send(topic_name, value, key=key))
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()


async def read_topic(
    bootstrap: str, topic: str, *, until: Callable[[list[ConsumerRecord]], bool],
    timeout: float = 30.0,
) -> list[ConsumerRecord]:
    """Read a topic from its beginning, without a consumer group, until `until(records)`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        partitions = consumer.partitions_for_topic(topic)
        deadline = time.monotonic() + timeout
        while not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {topic} has no partitions")
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while not until(records):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{topic}: condition not met after {timeout}s "
                                   f"({len(records)} records read)")
            batch = await consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000), max_records=5000)
            for part in batch.values():
                records.extend(part)
        return records
    finally:
        await consumer.stop()


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 30.0,
                     what: str = "condition") -> None:
    """Wait for a condition another process brings about (polled, with a deadline)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met after {timeout}s")
        await asyncio.sleep(0.1)


async def assert_starts_ready(service: Any, db: Any) -> None:
    """A service starts, applies the runtime's migrations in its own schema and reports ready."""
    await service.start()
    try:
        checks = await service.ready()
    finally:
        await service.stop()
    assert checks == {"started": True, "database": True, "broker": True, "outbox": True}
    tables = {r["table_name"] for r in await db.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", service.schema)}
    assert {"_inbox", "_outbox", "_migrations"} <= tables
