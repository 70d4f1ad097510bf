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


def apply_demo_pricing(repricer_url: str, api_key: str) -> int:
    """The demo store's listing price settings and rules, applied over the repricer's API."""
    import httpx
    import yaml

    documents = list(yaml.safe_load_all(DEMO_PRICING.read_text()))
    response = httpx.post(f"{repricer_url}/config:apply", json=documents, timeout=30,
                          headers={"Authorization": f"Bearer {api_key}"})
    response.raise_for_status()
    return len(documents)


# The demo seller on the SP-API simulator: made-up credentials, for the embedded stack only.
DEMO_SELLER = "A1DEMOSELLER"
DEMO_MARKETPLACE = "ATVPDKIKX0DER"
DEMO_CLIENT_ID = "amzn1.application-oa2-client.demo"
DEMO_CLIENT_SECRET = "demo-client-secret"
DEMO_REFRESH_TOKEN = "Atzr|demo-refresh-token"


# Every demo listing gets a market; competitors move at most this often.
MARKET_ASINS = 44
MARKET_TICK_S = 5.0


def simulator_config() -> dict[str, object]:
    return {"accounts": [{"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
                          "refresh_token": DEMO_REFRESH_TOKEN, "seller_id": DEMO_SELLER,
                          "marketplaces": [DEMO_MARKETPLACE], "store_name": "Luma demo"}]}


def gateway_accounts(account_id: str = "demo-seller") -> list[dict[str, object]]:
    return [{"account_id": account_id, "seller_id": DEMO_SELLER, "region": "na",
             "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
             "refresh_token": DEMO_REFRESH_TOKEN, "marketplace_ids": [DEMO_MARKETPLACE]}]


def seed_simulator(simulator_url: str) -> int:
    """The demo products as existing Amazon listings of the demo seller, so price updates land."""
    import httpx

    n = 0
    with httpx.Client(base_url=simulator_url, timeout=10) as client:
        for product in sample_products():
            attributes = {
                "item_name": [{"value": product.name, "marketplace_id": DEMO_MARKETPLACE}],
                "condition_type": [{"value": "new_new", "marketplace_id": DEMO_MARKETPLACE}],
                "purchasable_offer": [{"marketplace_id": DEMO_MARKETPLACE, "currency": "USD",
                                       "our_price": [{"schedule": [{"value_with_tax": float(product.price.amount)}]}]}],
                "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": product.quantity}],
            }
            response = client.put(f"/_sim/listings/{DEMO_SELLER}/{product.sku}", json={
                "productType": "PRODUCT", "attributes": attributes, "marketplaceIds": [DEMO_MARKETPLACE]})
            response.raise_for_status()
            n += 1
    return n


def start_listing_import(gateway_url: str, api_key: str, account_id: str = "demo-seller") -> list[str]:
    """Ask amazon-gateway to import the demo seller's listings; returns the marketplaces queued."""
    import httpx

    response = httpx.post(f"{gateway_url}/import/listings", params={"account_id": account_id}, timeout=10,
                          headers={"Authorization": f"Bearer {api_key}"})
    response.raise_for_status()
    queued: list[str] = response.json()["queued"]
    return queued
