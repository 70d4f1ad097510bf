"""The demo store: Luma sample products published as Commerce product changes."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path

from aiokafka import AIOKafkaProducer

from contracts import Money, encode, topics
from contracts.events import ProductChanged, ProductStatus
from servicekit.outbox import headers

PRODUCER = "demo-seed"


def sample_products(currency: str = "USD") -> Iterator[ProductChanged]:
    now = datetime.now(UTC)
    folder = resources.files("devstack") / "demo_data"
    for f in sorted(folder.iterdir(), key=lambda p: p.name):
        if not f.name.startswith("products_") or not f.name.endswith(".csv"):
            continue
        with f.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                yield ProductChanged.new(
                    producer=PRODUCER, sku=row["sku"], name=row["name"],
                    status=ProductStatus.ENABLED,
                    price=Money(amount=Decimal(row["price"]), currency=currency),
                    quantity=int(Decimal(row["qty"] or "0")), updated_at=now,
                    attributes={"category": row["category"].replace("\n", "/")},
                )


async def seed(bootstrap: str) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = []
        for product in sample_products():
            futures.append(await producer.send(
                topics.PRODUCTS.name, encode(product), key=topics.PRODUCTS.key(product).encode(),
                headers=headers(product.event_type, product.event_id, product.correlation_id),
            ))
        for f in futures:
            await f
        return len(futures)
    finally:
        await producer.stop()


DEMO_PRICING = Path("services/repricer/examples/pricing.yaml")


def apply_demo_pricing(repricer_url: str) -> int:
    """The demo store's listing price settings and rules, applied over the repricer's API."""
    import httpx
    import yaml

    documents = list(yaml.safe_load_all(DEMO_PRICING.read_text()))
    response = httpx.post(f"{repricer_url}/config:apply", json=documents, timeout=30)
    response.raise_for_status()
    return len(documents)
