"""POST /webhooks/commerce against the Commerce simulator pushing to it, and PostgreSQL.

The endpoint is mounted on an app of its own (no outbox relay), so what a push wrote stays in `_outbox` to be
counted; one test goes through the whole service to show it is mounted, signed and published only with a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from commerce_gateway import catalog, webhooks
from commerce_gateway.client import CommerceClient
from commerce_gateway.domain.retry import RetryPolicy
from commerce_gateway.service import SERVICE, Settings, build
from contracts import decode, topics
from contracts.events import ProductChanged, ProductStatus
from devstack.testing import auth_headers, read_topic
from servicekit import problems

pytestmark = pytest.mark.integration

SECRET = "commerce-webhook-secret-3b1f"
HOOK_URL = "http://gateway.test/webhooks/commerce"


@dataclass
class Stack:
    sim: Any  # the simulator's FastAPI app
    commerce: httpx.AsyncClient  # to the simulator, with the integration token, for the test's own changes
    gateway: httpx.AsyncClient  # to the webhook endpoint, no credentials
    handlers: webhooks.WebhookHandlers
    pool: asyncpg.Pool

    async def pushed(self) -> dict[str, int]:
        """Wait for the simulator's pushes; what became of them."""
        await self.sim.state.sim.webhooks.drain()
        return dict(self.sim.state.sim.webhooks.counts)

    async def events(self) -> list[ProductChanged]:
        rows = await self.pool.fetch("SELECT payload FROM _outbox WHERE event_type = 'ProductChanged' ORDER BY id")
        return [decode(bytes(r["payload"]), topics.PRODUCTS.event_type_names) for r in rows]  # type: ignore[misc]

    async def hashes(self) -> dict[str, str]:
        return {r["sku"]: r["hash"] for r in await self.pool.fetch("SELECT sku, hash FROM product_hashes")}

    async def post(self, body: bytes, entity: str | None = "product", signature: str | None = None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if entity is not None:
            headers[webhooks.ENTITY_HEADER] = entity
        headers[webhooks.SIGNATURE_HEADER] = signature if signature is not None else sign(body)
        return await self.gateway.post("/webhooks/commerce", content=body, headers=headers)


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
async def stack(kit: Any, pool: asyncpg.Pool) -> AsyncIterator[Stack]:
    magento_sim = pytest.importorskip("magento_sim")
    gateway = FastAPI()
    problems.install(gateway)
    sim = magento_sim.create_app(magento_sim.SimConfig(token=kit.SIM_TOKEN, webhook_url=HOOK_URL,
                                                       webhook_secret=SECRET),
                                 webhook_transport=httpx.ASGITransport(app=gateway))
    checked = kit.ModelCheck(httpx.ASGITransport(app=sim))
    async with httpx.AsyncClient(transport=checked, base_url=kit.SIM_BASE) as http, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway.test") as hooks:
        client = CommerceClient(kit.STORE_URL, SecretStr(kit.SIM_TOKEN), http=http, retry=RetryPolicy(2, 0.001, 0.01))
        pushes = webhooks.ProductPushes(
            lambda: catalog.Catalog(pool=pool, schema=kit.SCHEMA, client=client, producer=SERVICE), 300.0)
        registry = webhooks.WebhookHandlers()
        gateway.include_router(webhooks.router(pushes, registry, SECRET.encode()))
        commerce = httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url=kit.STORE_URL,
                                     headers={"Authorization": f"Bearer {kit.SIM_TOKEN}"})
        async with commerce:
            yield Stack(sim, commerce, hooks, registry, pool)
    assert not checked.problems, checked.problems


async def test_a_pushed_change_is_one_product_changed_and_the_same_push_again_none(stack: Stack) -> None:
    r = await stack.commerce.put("/V1/products/24-MB01", json={"product": {"price": 36.5}})
    assert r.status_code == 200, r.text
    assert (await stack.pushed()).get("delivered") == 1
    [event] = await stack.events()
    assert event.sku == "24-MB01" and str(event.price.amount) == "36.5" and event.status is ProductStatus.ENABLED
    assert "24-MB01" in await stack.hashes()
    product = (await stack.commerce.get("/V1/products/24-MB01")).json()
    body = json.dumps(product).encode()
    again = await stack.post(body)
    assert again.status_code == 200 and again.json() == {"entity": "product", "event": "saved", "sku": "24-MB01",
                                                         "emitted": 0}
    assert len(await stack.events()) == 1
    calls = stack.sim.state.sim.calls
    assert calls["GetV1DirectoryCurrency"]["calls"] == 1  # the base currency read once for every push
    assert calls["GetV1Products"]["calls"] == 1  # the configurables, for the children's parent


async def test_a_push_is_read_again_through_the_store_view_so_a_stale_body_changes_nothing(stack: Stack) -> None:
    product = (await stack.commerce.get("/V1/products/24-MB04")).json()
    r = await stack.post(json.dumps({**product, "price": 1.0, "updated_at": "2020-01-01 00:00:00"}).encode())
    assert r.status_code == 200 and r.json()["emitted"] == 1
    [event] = await stack.events()
    assert event.price.amount == Decimal(str(product["price"])) and event.updated_at.year > 2020
    gone = await stack.post(json.dumps({**PRODUCT, "sku": "NO-SUCH-SKU"}).encode())
    assert gone.status_code == 200 and gone.json()["emitted"] == 0


async def test_a_child_carries_its_configurable_parent_and_a_configurable_emits_nothing(stack: Stack) -> None:
    await stack.commerce.put("/V1/products/MH01-XS-Black", json={"product": {"price": 49}})
    await stack.commerce.put("/V1/products/MH01", json={"product": {"name": "Chaz Hoodie"}})
    assert (await stack.pushed()).get("delivered") == 2
    [event] = await stack.events()
    assert event.sku == "MH01-XS-Black" and event.parent_sku == "MH01"


async def test_a_deletion_push_is_one_deleted_product_changed_with_its_last_values(stack: Stack) -> None:
    await stack.commerce.put("/V1/products/24-MB02", json={"product": {"price": 61}})
    await stack.pushed()
    assert (await stack.commerce.delete("/V1/products/24-MB02")).json() is True
    assert (await stack.pushed()).get("delivered") == 2
    saved, deleted = await stack.events()
    assert deleted.sku == "24-MB02" and deleted.status is ProductStatus.DELETED and deleted.quantity == 0
    assert deleted.name == saved.name and deleted.price == saved.price and deleted.updated_at >= saved.updated_at
    assert "24-MB02" not in await stack.hashes()
    repeat = json.dumps({"entity": "product", "event": "deleted", "product": {
        "sku": "24-MB02", "updated_at": "2024-01-01 00:00:00"}}).encode()
    r = await stack.post(repeat)
    assert r.status_code == 200 and r.json()["emitted"] == 0
    assert len(await stack.events()) == 2
    created = await stack.commerce.post("/V1/products", json={"product": {
        "sku": "24-MB02", "name": "Fusion Backpack reissued", "price": 59, "attribute_set_id": 15,
        "type_id": "simple"}})
    assert created.status_code == 200, created.text
    await stack.pushed()
    *_, back = await stack.events()
    assert back.sku == "24-MB02" and back.status is ProductStatus.ENABLED


async def test_a_product_never_emitted_is_not_announced_deleted(stack: Stack) -> None:
    assert (await stack.commerce.delete("/V1/products/24-MB03")).json() is True
    assert (await stack.pushed()).get("delivered") == 1
    assert await stack.events() == []


@pytest.mark.parametrize("signature", ["", "0" * 64, sign(b'{"sku": "24-MB01"}', "another-secret")])
async def test_a_missing_or_bad_signature_is_a_401_and_changes_nothing(stack: Stack, signature: str) -> None:
    product = (await stack.commerce.get("/V1/products/24-MB01")).json()
    r = await stack.post(json.dumps(product).encode(), signature=signature)
    assert r.status_code == 401 and r.headers["content-type"] == problems.MEDIA_TYPE
    assert SECRET not in r.text
    assert await stack.events() == [] and await stack.hashes() == {}


PRODUCT = {"sku": "24-MB01", "name": "Joust Duffle Bag", "price": 34, "status": 1, "type_id": "simple",
           "updated_at": "2024-03-06 10:00:00"}


@pytest.mark.parametrize(("body", "entity", "field"), [
    (b"not json", "product", "body"),
    (b"[1, 2]", "product", "body"),
    (json.dumps({**PRODUCT, "sku": None}).encode(), "product", "body.sku"),
    (json.dumps({k: v for k, v in PRODUCT.items() if k != "sku"}).encode(), "product", "body.sku"),
    (json.dumps({**PRODUCT, "sku": "x" * 65}).encode(), "product", "body.sku"),
    (json.dumps({**PRODUCT, "price": "cheap"}).encode(), "product", "body.price"),
    (json.dumps({**PRODUCT, "status": True}).encode(), "product", "body.status"),
    (json.dumps({**PRODUCT, "updated_at": None}).encode(), "product", "body.updated_at"),
    (json.dumps({**PRODUCT, "extension_attributes": {"stock_item": {"qty": "many"}}}).encode(), "product",
     "body.extension_attributes.stock_item.qty"),
    (json.dumps({**PRODUCT, "custom_attributes": [{"value": "x"}]}).encode(), "product",
     "body.custom_attributes.0.attribute_code"),
    (json.dumps(PRODUCT).encode(), "category", "header.X-Magento-Webhook-Entity"),
    (json.dumps({"entity": "product", "event": "saved", "product": PRODUCT}).encode(), "product", "body.event"),
    (json.dumps({"entity": "product", "event": "deleted"}).encode(), "product", "body.product"),
    (json.dumps({"entity": "order", "event": "created", "order": {}}).encode(), "product", "body.entity"),
    (json.dumps({"entity": "shipment", "event": "created"}).encode(), "shipment", "body.shipment"),
    (json.dumps({"entity": "order", "order": {"entity_id": 1}}).encode(), "order", "body.event"),
])
async def test_a_malformed_push_is_a_400_naming_the_field_and_changes_nothing(
        stack: Stack, body: bytes, entity: str, field: str) -> None:
    called: list[dict[str, Any]] = []

    async def handler(push: dict[str, Any]) -> None:
        called.append(push)
    stack.handlers.register("order", handler)
    stack.handlers.register("shipment", handler)
    r = await stack.post(body, entity=entity)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == problems.MEDIA_TYPE and r.json()["errors"][0]["field"] == field
    assert await stack.events() == [] and await stack.hashes() == {} and called == []


async def test_order_and_shipment_pushes_reach_their_handlers(stack: Stack) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    async def on_order(body: dict[str, Any]) -> None:
        seen.append(("order", body))
    stack.handlers.register("order", on_order)
    order = {"entity": "order", "event": "canceled", "order": {"entity_id": 7, "increment_id": "000000007"}}
    r = await stack.post(json.dumps(order).encode(), entity="order")
    assert r.status_code == 202 and r.json() == {"entity": "order", "event": "canceled", "handled": True}
    shipment = {"entity": "shipment", "event": "created", "shipment": {"entity_id": 3, "order_id": 7}}
    r = await stack.post(json.dumps(shipment).encode(), entity="shipment")
    assert r.status_code == 202 and r.json()["handled"] is False  # no handler: accepted and ignored
    assert seen == [("order", order)]

    async def failing(body: dict[str, Any]) -> None:
        raise RuntimeError("poller gone")
    stack.handlers.register("shipment", failing)
    r = await stack.post(json.dumps(shipment).encode(), entity="shipment")
    assert r.status_code == 503 and r.headers["content-type"] == problems.MEDIA_TYPE
    with pytest.raises(ValueError):
        stack.handlers.register("category", on_order)


async def test_the_service_mounts_the_endpoint_only_with_a_secret_and_publishes_the_push(
        kit: Any, sim: Any, topics_created: str, database_url: str, pool: asyncpg.Pool,
        tmp_path: Any) -> None:
    http, _ = sim
    quiet = ("catalog_sync_enabled", "catalog_reconcile_enabled", "orders_enabled", "store_sync_enabled",
             "products_out_enabled", "fulfilment_sync_enabled")
    base: dict[str, Any] = dict(kafka_bootstrap_servers=topics_created, database_url=database_url,
                                commerce_base_url=kit.STORE_URL, commerce_token=SecretStr(kit.SIM_TOKEN),
                                **{name: False for name in quiet if name in Settings.model_fields})
    unsigned = build(Settings(**base), http=http)
    assert webhooks.PATH not in unsigned.asgi().openapi()["paths"]
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(SECRET + "\n")
    service = build(Settings(**base, commerce_webhook_secret_file=str(secret_file)), http=http)
    assert webhooks.handlers(service) is webhooks.handlers(service)
    product = (await http.get(f"{kit.STORE_URL}/V1/products/24-MB05",
                              headers={"Authorization": f"Bearer {kit.SIM_TOKEN}"})).json()
    body = json.dumps(product).encode()
    await service.start()
    try:
        async with httpx.AsyncClient(base_url="http://gw", transport=httpx.ASGITransport(app=service.asgi())) as api:
            document = (await api.get("/openapi.json")).json()
            assert document["paths"][webhooks.PATH]["post"]["security"] == [{"commerceWebhook": []}]
            bearer = await api.post(webhooks.PATH, content=body, headers=auth_headers())
            assert bearer.status_code == 401  # a token is not a signature
            since = datetime.now(UTC)
            r = await api.post(webhooks.PATH, content=body, headers={webhooks.SIGNATURE_HEADER: sign(body),
                                                                      webhooks.ENTITY_HEADER: "product"})
            assert r.status_code == 200 and r.json()["emitted"] == 1, r.text

        def pushed(records: list[Any]) -> list[Any]:
            """This push's events: other tests of the session publish 24-MB05 on the same topic."""
            events = ((x, decode(x.value, topics.PRODUCTS.event_type_names)) for x in records)
            return [x for x, e in events if e.sku == "24-MB05" and e.occurred_at >= since]  # type: ignore[attr-defined]
        records = await read_topic(topics_created, topics.PRODUCTS.name, timeout=30, until=lambda rs: bool(pushed(rs)))
        assert [x.key for x in pushed(records)] == [b"default|24-MB05"]
    finally:
        await service.stop()


KEYS = ("sku", "id", "name", "price", "status", "visibility", "type_id", "created_at", "updated_at", "weight",
        "extension_attributes", "stock_item", "qty", "website_ids", "configurable_product_links", "custom_attributes",
        "attribute_code", "value", "tier_prices", "customer_group_id", "entity", "event", "product", "order",
        "shipment")


def anything(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([0, 1, 2, -1, 4, 2**31, 2**63 - 1, 2**64])
    if kind == 3:
        return rng.choice([0.5, -3.25, 1e308, 1e-9])
    if kind == 4:
        return rng.choice(["", "24-MB01", "x" * 70, "2024-03-06 10:00:00", "2024-13-45", "deleted", "product",
                           "order", "configurable", "simple", "ünï", "12.000000"])
    if kind == 5:
        return rng.choice(["2024-03-06 10:00:00", "24-MB07"])
    if kind == 6:
        return [anything(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice(KEYS): anything(rng, depth + 1) for _ in range(rng.randrange(6))}


async def test_any_signed_body_is_answered_without_a_server_error(stack: Stack) -> None:
    rng = random.Random(20261208)
    answers: dict[int, int] = {}
    for _ in range(300):
        body = anything(rng)
        if isinstance(body, dict) and rng.random() < 0.6:  # mostly product-like, so the deeper checks are reached
            body = {"sku": f"FZ-{rng.randrange(5)}", "updated_at": "2024-03-06 10:00:00", **body}
        entity = rng.choice([None, "product", "product", "order", "shipment", "invoice"])
        r = await stack.post(json.dumps(body).encode(), entity=entity)
        assert r.status_code in (200, 202, 400, 422), (r.status_code, r.text, body, entity)
        answers[r.status_code] = answers.get(r.status_code, 0) + 1
    assert answers.get(200) and answers.get(400)  # both roads were taken
