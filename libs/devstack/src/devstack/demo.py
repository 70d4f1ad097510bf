"""The demo store: the Luma sample catalogue in magento-sim, imported by commerce-gateway; the same products as
the demo seller's listings on the SP-API simulator; the demo pricing."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path

import httpx

# magento-sim's `--catalog`: the gear shelf (44 simple products, and a bundle and a grouped product made of them)
# rather than all 2,046 sample products, so every product is one of the demo seller's Amazon listings with a
# market of its own, and amazon-gateway's listing import (searchListingsItems reaches 1,000 SKUs) sees them all.
COMMERCE_CATALOG = "gear"
COMMERCE_STORE = "default"
SELLABLE_TYPES = ("simple", "virtual", "downloadable", "giftcard")  # what commerce-gateway emits a product for


@dataclass(frozen=True)
class DemoProduct:
    sku: str
    name: str
    price: Decimal
    quantity: int


def sample_products() -> list[DemoProduct]:
    """The gear shelf as shipped in `demo_data` (the Luma fixtures magento-sim's `--catalog gear` serves)."""
    folder = resources.files("devstack") / "demo_data"
    out = []
    for f in sorted(folder.iterdir(), key=lambda p: p.name):
        if f.name.startswith("products_") and f.name.endswith(".csv"):
            with f.open(encoding="utf-8") as handle:
                out += [DemoProduct(row["sku"], row["name"], Decimal(row["price"]), int(Decimal(row["qty"] or "0")))
                        for row in csv.DictReader(handle)]
    return out


def commerce_products(commerce_url: str, token: str, page_size: int = 300) -> list[DemoProduct]:
    """The products Commerce sells on its own (what commerce-gateway emits a ProductChanged for), read over REST."""
    out: list[DemoProduct] = []
    with httpx.Client(base_url=f"{commerce_url}/rest/{COMMERCE_STORE}", timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        page = 1
        while True:
            response = client.get("/V1/products", params={"searchCriteria[pageSize]": page_size,
                                                          "searchCriteria[currentPage]": page})
            response.raise_for_status()
            body = response.json()
            for item in body["items"]:
                if item["type_id"] in SELLABLE_TYPES:
                    stock = (item.get("extension_attributes") or {}).get("stock_item") or {}
                    out.append(DemoProduct(item["sku"], item["name"], Decimal(str(item.get("price") or 0)),
                                           max(0, int(Decimal(str(stock.get("qty") or 0))))))
            if page * page_size >= body["total_count"]:
                return out
            page += 1


def import_catalog(gateway_url: str, api_key: str, *, restart: bool = False,
                   timeout: float = 120.0) -> dict[str, object]:
    """Ask commerce-gateway to import the catalogue (`POST /import/catalog`) and wait until that import is done or
    failed; its progress as `GET /import/catalog` answers it."""
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=gateway_url, headers=headers, timeout=10) as client:
        before = client.get("/import/catalog")
        since = before.json()["updated_at"] if before.status_code == 200 else None
        client.post("/import/catalog", params={"restart": str(restart).lower()}).raise_for_status()
        deadline = time.monotonic() + timeout
        while True:
            state = client.get("/import/catalog")
            if state.status_code == 200:
                body: dict[str, object] = state.json()
                moved = since is None or datetime.fromisoformat(str(body["updated_at"])) > datetime.fromisoformat(since)
                if moved and body["status"] in ("done", "failed"):
                    return body
            if time.monotonic() > deadline:
                raise TimeoutError(f"the catalogue import did not finish in {timeout:g} s: {state.text[:300]}")
            time.sleep(0.3)


DEMO_PRICING = Path("services/repricer/examples/pricing.yaml")


def apply_demo_pricing(repricer_url: str, api_key: str) -> int:
    """The demo store's listing price settings and rules, applied over the repricer's API."""
    import yaml

    documents = list(yaml.safe_load_all(DEMO_PRICING.read_text()))
    response = httpx.post(f"{repricer_url}/config:apply", json=documents, timeout=30,
                          headers={"Authorization": f"Bearer {api_key}"})
    response.raise_for_status()
    return len(documents)


DEMO_ORDER_SETTINGS = Path("services/order-import/examples/orders.yaml")


def apply_demo_order_settings(order_import_url: str, api_key: str) -> int:
    """The demo store's OrderSettings (import on, customers built, Amazon order numbers), applied over
    order-import's API."""
    import yaml

    documents = list(yaml.safe_load_all(DEMO_ORDER_SETTINGS.read_text()))
    response = httpx.post(f"{order_import_url}/config:apply", json=documents, timeout=30,
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
# The simulator's buyers order the demo listings at this rate (a third of them fulfilled by Amazon).
ORDERS_PER_MINUTE = 2.0


# The demo seller's app holds Amazon's restricted role for buyer data on both sides (the simulator grants it
# Restricted Data Tokens, the gateway asks for them): an order is imported into Commerce with the buyer's name
# and shipping address, which only that role reads.
def simulator_config(orders_per_minute: float = 0.0) -> dict[str, object]:
    return {"accounts": [{"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
                          "refresh_token": DEMO_REFRESH_TOKEN, "seller_id": DEMO_SELLER,
                          "marketplaces": [DEMO_MARKETPLACE], "store_name": "Luma demo", "pii_role": True}],
            "orders_per_minute": orders_per_minute}


def gateway_accounts(account_id: str = "demo-seller") -> list[dict[str, object]]:
    return [{"account_id": account_id, "seller_id": DEMO_SELLER, "region": "na",
             "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
             "refresh_token": DEMO_REFRESH_TOKEN, "marketplace_ids": [DEMO_MARKETPLACE], "pii_role": True}]


def seed_simulator(simulator_url: str, products: Iterable[DemoProduct] | None = None) -> int:
    """The products (by default the gear shelf) as existing Amazon listings of the demo seller, so price updates
    land."""
    n = 0
    with httpx.Client(base_url=simulator_url, timeout=10) as client:
        for product in sample_products() if products is None else products:
            attributes = {
                "item_name": [{"value": product.name, "marketplace_id": DEMO_MARKETPLACE}],
                "condition_type": [{"value": "new_new", "marketplace_id": DEMO_MARKETPLACE}],
                "purchasable_offer": [{"marketplace_id": DEMO_MARKETPLACE, "currency": "USD",
                                       "our_price": [{"schedule": [{"value_with_tax": float(product.price)}]}]}],
                "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": product.quantity}],
            }
            response = client.put(f"/_sim/listings/{DEMO_SELLER}/{product.sku}", json={
                "productType": "PRODUCT", "attributes": attributes, "marketplaceIds": [DEMO_MARKETPLACE]})
            response.raise_for_status()
            n += 1
    return n


def start_listing_import(gateway_url: str, api_key: str, account_id: str = "demo-seller") -> list[str]:
    """Ask amazon-gateway to import the demo seller's listings; returns the marketplaces queued."""
    response = httpx.post(f"{gateway_url}/import/listings", params={"account_id": account_id}, timeout=10,
                          headers={"Authorization": f"Bearer {api_key}"})
    response.raise_for_status()
    queued: list[str] = response.json()["queued"]
    return queued
