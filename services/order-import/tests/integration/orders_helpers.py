"""Builders and waits shared by order-import's integration tests (the real broker and PostgreSQL)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts import Event, decode
from contracts.events import (
    Address,
    FulfillmentBy,
    OrderLine,
    OrderPlaced,
    OrderStatusChanged,
    ProductChanged,
    ProductStatus,
)
from contracts.money import Money
from contracts.topics import COMMERCE_ORDER_REQUESTS, STOCK_RESERVATIONS
from devstack.testing import auth_headers, eventually, publish
from order_import.buyers import new_key
from order_import.service import Settings, build
from servicekit import Service

MARKET = "ATVPDKIKX0DER"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
KEY = new_key()


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def settings_doc(account: str, **spec: Any) -> dict[str, Any]:
    return {"kind": "OrderSettings", "metadata": {"name": f"{account}.us"},
            "spec": {"account_id": account, "marketplace_id": MARKET,
                     "integration_date": (T0 - timedelta(days=1)).isoformat(), **spec}}


def placed(account: str, order_id: str, status: str = "Unshipped", fulfillment: FulfillmentBy = FulfillmentBy.MFN,
           *, sku: str, quantity: int = 1, at: datetime = T0, email: str | None = "buyer@example.com",
           address: Address | None = None, **over: Any) -> OrderPlaced:
    fields: dict[str, Any] = dict(
        producer="amazon-gateway", account_id=account, marketplace_id=MARKET, amazon_order_id=order_id,
        purchase_date=at, order_status=status, fulfillment=fulfillment, order_total=usd("36.81"),
        lines=[OrderLine(order_item_id=f"{order_id}-1", sku=sku, asin="B0TEST0001", quantity=quantity,
                         item_price=usd("34.00"), item_tax=usd("2.81"))],
        buyer_email=email,
        shipping_address=address or Address(name="Jane <Doe>", line1="1 Main St", city="Escondido",
                                            region="californiA", postal_code="92025-1501", country_code="US"))
    fields.update(over)
    return OrderPlaced.new(**fields)


def status(account: str, order_id: str, new: str, previous: str | None = None, at: datetime = T0) -> OrderStatusChanged:
    return OrderStatusChanged.new(producer="amazon-gateway", account_id=account, marketplace_id=MARKET,
                                  amazon_order_id=order_id, previous_status=previous, order_status=new,
                                  last_update_date=at)


def product(sku: str, *, enabled: bool = True, quantity: int = 10, at: datetime = T0, store: str = "default"
            ) -> ProductChanged:
    return ProductChanged.new(producer="commerce-gateway", store_code=store, sku=sku, name=sku,
                              status=ProductStatus.ENABLED if enabled else ProductStatus.DISABLED,
                              price=usd("34.00"), quantity=quantity, in_stock=quantity > 0, manage_stock=True,
                              updated_at=at)


def run_id() -> str:
    return uuid.uuid4().hex[:8]


class Harness:
    """One order-import service in process with an HTTP client, and ways to wait for what it did."""

    def __init__(self, bootstrap: str, service: Service[Settings], client: httpx.AsyncClient) -> None:
        self.bootstrap = bootstrap
        self.service = service
        self.client = client

    @property
    def pool(self) -> Any:
        return self.service.pool

    async def apply(self, *documents: dict[str, Any]) -> None:
        r = await self.client.post("/config:apply", json=list(documents))
        assert r.status_code == 200, r.text

    async def send(self, *events: Event) -> None:
        """Publish and wait until the service has handled each event."""
        await publish(self.bootstrap, events)
        ids = list({e.event_id for e in events})

        async def handled() -> bool:
            return await self.pool.fetchval("SELECT count(*) FROM _inbox WHERE event_id = ANY($1)", ids) == len(ids)

        await eventually(handled, what="events handled")

    async def order(self, order_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/orders/{order_id}")
        assert r.status_code == 200, r.text
        return r.json()

    async def drained(self) -> None:
        async def empty() -> bool:
            return await self.pool.fetchval("SELECT count(*) FROM _outbox") == 0

        await eventually(empty, what="outbox drained")

    async def emitted(self, topic: str, order_ids: set[str], at_least: int = 0) -> list[Any]:
        """Every event of these orders on a topic, in order, each once (the outbox relay delivers at least once: a
        service stopped between sending and deleting its rows sends them again at the next start, under the same
        event ids, which consumers drop): once the outbox has drained, everything the service emitted is in the
        topic, which is read to its end."""
        await self.drained()
        found, seen = [], set()
        for record in await read_all(self.bootstrap, topic):
            if record.key.decode() in order_ids:
                event = decode(record.value)
                if event.event_id not in seen:
                    seen.add(event.event_id)
                    found.append(event)
        assert len(found) >= at_least, f"{topic}: {len(found)} events of these orders, expected {at_least}"
        return found

    async def requests(self, *order_ids: str, at_least: int = 0) -> list[Any]:
        return await self.emitted(COMMERCE_ORDER_REQUESTS.name, set(order_ids), at_least)

    async def reservations(self, *order_ids: str, at_least: int = 0) -> list[Any]:
        return await self.emitted(STOCK_RESERVATIONS.name, set(order_ids), at_least)


async def read_all(bootstrap: str, topic: str, timeout: float = 30.0) -> list[Any]:
    """A topic from its beginning to the end every partition had when read (its high watermark)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        partitions = consumer.partitions_for_topic(topic)
        while not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {topic} has no partitions")
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        while True:
            batch = await consumer.getmany(timeout_ms=300, max_records=5000)
            for part in batch.values():
                records.extend(part)
            behind = [tp for tp in tps if consumer.highwater(tp) is None
                      or await consumer.position(tp) < consumer.highwater(tp)]
            if not behind:
                return records
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: not read to its end after {timeout}s")
    finally:
        await consumer.stop()


def service_settings(bootstrap: str, database_url: str, **over: Any) -> Settings:
    return Settings(**{"kafka_bootstrap_servers": bootstrap, "database_url": database_url,
                       "consumer_batch_timeout_ms": 20, "buyer_data_keys": KEY, **over})


@asynccontextmanager
async def running(bootstrap: str, database_url: str, **over: Any) -> AsyncIterator[Harness]:
    service = build(service_settings(bootstrap, database_url, **over))
    await service.start()
    try:
        async with httpx.AsyncClient(headers=auth_headers(), transport=httpx.ASGITransport(service.asgi()),
                                     base_url="http://order-import") as client:
            yield Harness(bootstrap, service, client)
    finally:
        await service.stop()
