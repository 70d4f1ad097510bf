"""Fulfilment in against the Commerce simulator in process, the real broker and PostgreSQL: Amazon orders created
through the gateway are shipped and cancelled in Commerce, and each shipment and cancellation is announced once on
commerce.shipments.v1 and commerce.orders.v1; other orders are not announced."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from commerce_gateway.client import CommerceCallFailed, _json_default
from commerce_gateway.domain import orders as orders_domain
from commerce_gateway.fulfilment import FulfilmentSync
from commerce_gateway.service import Settings, build
from contracts import decode, topics
from contracts.events import (
    Address,
    CommerceOrderCancelled,
    CommerceOrderRequested,
    CommunicationError,
    FulfillmentBy,
    OrderLine,
    ShipmentCreated,
)
from contracts.money import Money
from devstack.testing import auth_headers, eventually, publish, read_topic
from servicekit.app import Service

pytestmark = pytest.mark.integration

WEBHOOK_SECRET = "commerce-webhook-secret-5d21"


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def requested(order_id: str, lines: list[tuple[str, str, int]] | None = None) -> CommerceOrderRequested:
    """An Amazon order: lines of (Amazon order_item_id, SKU, quantity)."""
    return CommerceOrderRequested.new(
        producer="order-import", account_id="acct-ship", marketplace_id="ATVPDKIKX0DER", amazon_order_id=order_id,
        store_code="default", commerce_status="processing", fulfillment=FulfillmentBy.MFN,
        lines=[OrderLine(order_item_id=item, sku=sku, asin="B0TEST0001", quantity=qty,
                         item_price=usd(str(30 * qty)), item_tax=usd("1.00"))
               for item, sku, qty in (lines or [(f"{order_id}-1", "24-MB01", 1)])],
        customer_email=f"{order_id}@marketplace.amazon.com",
        shipping_address=Address(name="Jane Doe", line1="1 Main St", city="Austin", region="TX",
                                 postal_code="78701", country_code="US", phone="555-0100"))


class Commerce:
    """The simulator as a warehouse and an admin use it: REST calls with the token, and its /_sim endpoints."""

    def __init__(self, http: httpx.AsyncClient, kit: Any) -> None:
        self.http, self.kit = http, kit
        self.headers = {"Authorization": f"Bearer {kit.SIM_TOKEN}"}

    async def rest(self, method: str, path: str, body: Any = None) -> Any:
        r = await self.http.request(method, f"{self.kit.STORE_URL}{path}", json=body, headers=self.headers)
        assert r.status_code == 200, r.text
        return r.json()

    async def order(self, order_id: str) -> dict[str, Any]:
        r = await self.http.get(f"{self.kit.SIM_BASE}/_sim/orders/{order_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def ship(self, order_id: str, items: dict[str, int] | None = None,
                   tracks: list[dict[str, str]] | None = None) -> str:
        """Ship through the warehouse endpoint: these SKUs and quantities (default everything left) and tracks."""
        body: dict[str, Any] = {}
        if items is not None:
            by_sku = {i["sku"]: i["item_id"] for i in (await self.order(order_id))["items"]}
            body["items"] = [{"order_item_id": by_sku[sku], "qty": qty} for sku, qty in items.items()]
        if tracks is not None:
            body["tracks"] = tracks
        r = await self.http.post(f"{self.kit.SIM_BASE}/_sim/orders/{order_id}/ship", json=body)
        assert r.status_code == 200, r.text
        return str(r.json()["entity_id"])

    async def other_order(self, ext_order_id: str) -> str:
        """An order of another channel, made in Commerce without this gateway."""
        store = orders_domain.StoreView(1, "default", 1)
        body = orders_domain.order_payload(requested(ext_order_id), store, None)
        r = await self.http.post(f"{self.kit.STORE_URL}/V1/orders", content=json.dumps(body, default=_json_default),
                                 headers={**self.headers, "Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        return str(r.json()["entity_id"])


@pytest.fixture
async def clean(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Pool]:
    """No request, cursor or dedupe row before the test, and none left for the next (a gateway it starts would
    otherwise poll for the orders of this one)."""
    tables = "order_requests, fulfilment_cursors, fulfilment_shipments, fulfilment_cancellations"
    await pool.execute(f"TRUNCATE {tables}")
    yield pool
    await pool.execute(f"TRUNCATE {tables}")


def gateway(kit: Any, http: httpx.AsyncClient, bootstrap: str, database_url: str, **over: Any) -> Service[Settings]:
    """The gateway creating orders, its poller waiting for a wake-up or a call (the interval is an hour) and reading
    two shipments or orders a page. Orders are not invoiced here: Commerce cancels only an order not yet invoiced
    (an invoiced one is refunded instead), and these tests cancel orders in Commerce."""
    return build(Settings(order_invoice=False,
        kafka_bootstrap_servers=bootstrap, database_url=database_url, commerce_base_url=kit.STORE_URL,
        commerce_token=SecretStr(kit.SIM_TOKEN), catalog_sync_enabled=False, store_sync_enabled=False,
        products_out_enabled=False, commerce_max_attempts=2, commerce_retry_base_delay_s=0.01,
        commerce_retry_max_delay_s=0.02, order_idle_s=0.05, fulfilment_sync_interval_s=3600.0,
        fulfilment_page_size=2, **over), http=http)


async def created(pool: asyncpg.Pool, *amazon_order_ids: str) -> dict[str, str]:
    """Amazon order id -> Commerce order id, once the gateway created each."""
    async def done() -> bool:
        n = await pool.fetchval("SELECT count(*) FROM order_requests WHERE status = 'done' "
                                "AND amazon_order_id = ANY($1)", list(amazon_order_ids))
        return bool(n == len(amazon_order_ids))
    await eventually(done, timeout=20, what="orders created")
    rows = await pool.fetch("SELECT amazon_order_id, commerce_order_id FROM order_requests "
                            "WHERE amazon_order_id = ANY($1)", list(amazon_order_ids))
    return {r["amazon_order_id"]: r["commerce_order_id"] for r in rows}


async def relayed(pool: asyncpg.Pool) -> None:
    async def empty() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM _outbox") == 0)
    await eventually(empty, timeout=20, what="outbox relayed")


async def announced(bootstrap: str, topic: topics.Topic, run: str, wanted: int) -> list[Any]:
    """The events of this run's orders on a topic, once there are at least `wanted`."""
    def ours(records: list[Any]) -> list[Any]:
        events = [decode(r.value, topic.event_type_names) for r in records]
        return [e for e in events if str(getattr(e, "amazon_order_id", "")).startswith(run)]
    return ours(await read_topic(bootstrap, topic.name, until=lambda rs: len(ours(rs)) >= wanted, timeout=20))


async def test_each_shipment_and_cancellation_of_an_amazon_order_is_announced_once(
        kit: Any, sim: Any, topics_created: str, database_url: str, clean: asyncpg.Pool) -> None:
    http, faulty = sim
    commerce = Commerce(http, kit)
    run = uuid.uuid4().hex[:8]
    parts, cancelled, trackless = f"{run}-parts", f"{run}-cancel", f"{run}-notrack"
    service = gateway(kit, http, topics_created, database_url)
    await service.start()
    try:
        poller: FulfilmentSync = service.fulfilment  # type: ignore[attr-defined]
        await publish(topics_created, [
            requested(parts, [(f"{run}-A1", "24-MB01", 2), (f"{run}-A2", "24-WB04", 1)]),
            requested(cancelled), requested(trackless)])
        ids = await created(clean, parts, cancelled, trackless)
        other_shipped, other_cancelled = (await commerce.other_order(f"{run}-other-1"),
                                          await commerce.other_order(f"{run}-other-2"))

        # Part of one order shipped with a track; one shipped with no track; one cancelled; other channels' too.
        first = await commerce.ship(ids[parts], {"24-MB01": 1}, [
            {"carrier_code": "ups", "title": "United Parcel Service", "track_number": "1ZFIRST"}])
        held = str(await commerce.rest("POST", f"/V1/order/{ids[trackless]}/ship", {}))
        assert await commerce.rest("POST", f"/V1/orders/{ids[cancelled]}/cancel") is True
        await commerce.ship(other_shipped)
        assert await commerce.rest("POST", f"/V1/orders/{other_cancelled}/cancel") is True

        replica = FulfilmentSync(pool=clean, schema=kit.SCHEMA, client=service.client,  # type: ignore[attr-defined]
                                 producer="commerce-gateway", page_size=2)
        both = await asyncio.gather(poller.run_once(), replica.run_once())  # two replicas polling at once
        assert sorted((r.shipments_emitted, r.cancellations_emitted) for r in both) == [(0, 0), (1, 1)]
        assert all(r.shipments_held == 1 for r in both)
        again = await poller.run_once()  # the overlap window read again: nothing new
        assert (again.shipments_emitted, again.shipments_held, again.cancellations_emitted) == (0, 1, 0)
        assert again.shipments_read >= 3 and again.orders_read >= 2

        # The rest of the order shipped with another carrier; a track added to the held shipment.
        rest = await commerce.ship(ids[parts], tracks=[
            {"carrier_code": "fedex", "title": "Federal Express", "track_number": "FX-SECOND"}])
        sim_state = faulty.inner.app.state.sim  # the simulator has no POST /V1/shipment/track
        sim_state.sales.shipments[int(held)]["tracks"].append({
            "entity_id": 900, "parent_id": int(held), "order_id": int(ids[trackless]), "track_number": "USPS-LATE",
            "title": "United States Postal Service", "carrier_code": "usps", "created_at": "2026-01-01 00:00:00",
            "updated_at": "2026-01-01 00:00:00", "weight": 1.0, "qty": 1.0, "description": ""})
        later = await poller.run_once()
        assert (later.shipments_emitted, later.shipments_held, later.cancellations_emitted) == (2, 0, 0)
        assert (await poller.run_once()).shipments_emitted == 0

        async with httpx.AsyncClient(headers=auth_headers("read"), base_url="http://gw",
                                     transport=httpx.ASGITransport(app=service.asgi())) as api:
            r = await api.get("/shipments", params={"amazon_order_id": parts})
            assert r.status_code == 200, r.text
            listed = r.json()["shipments"]
            assert [(s["commerce_shipment_id"], s["status"], s["tracking_number"]) for s in listed] == [
                (first, "emitted", "1ZFIRST"), (rest, "emitted", "FX-SECOND")]
            r = await api.get("/shipments", params={"amazon_order_id": cancelled})
            assert r.json()["cancellation"]["commerce_order_id"] == ids[cancelled]
            assert (await api.get("/shipments", params={"amazon_order_id": f"{run}-other-1"})).status_code == 404
            r = await api.get("/shipments")
            assert r.status_code in (400, 422) and "amazon_order_id" in r.text
            assert (await api.get("/shipments", params={"amazon_order_id": parts},
                                  headers={"Authorization": ""})).status_code == 401

        await relayed(clean)
        shipments = await announced(topics_created, topics.SHIPMENTS, run, 3)
        assert all(isinstance(e, ShipmentCreated) for e in shipments)
        by_shipment = {e.commerce_shipment_id: e for e in shipments}
        assert len(shipments) == len(by_shipment) == 3 and set(by_shipment) == {first, rest, held}
        assert (by_shipment[first].amazon_order_id, by_shipment[first].carrier_code,
                by_shipment[first].carrier_name, by_shipment[first].tracking_number, by_shipment[first].items) == (
            parts, "ups", "United Parcel Service", "1ZFIRST", {f"{run}-A1": 1})
        assert (by_shipment[rest].carrier_code, by_shipment[rest].tracking_number, by_shipment[rest].items) == (
            "fedex", "FX-SECOND", {f"{run}-A1": 1, f"{run}-A2": 1})
        assert (by_shipment[held].amazon_order_id, by_shipment[held].carrier_code,
                by_shipment[held].tracking_number, by_shipment[held].items) == (
            trackless, "usps", "USPS-LATE", {f"{trackless}-1": 1})
        assert all((e.account_id, e.marketplace_id) == ("acct-ship", "ATVPDKIKX0DER") for e in shipments)

        cancellations = [e for e in await announced(topics_created, topics.COMMERCE_ORDERS, run, 4)
                         if isinstance(e, CommerceOrderCancelled)]
        assert [(e.amazon_order_id, e.commerce_order_id, e.store_code) for e in cancellations] == [
            (cancelled, ids[cancelled], "default")]
    finally:
        await service.stop()


async def test_commerce_failing_leaves_the_cursor_and_loses_nothing(
        kit: Any, sim: Any, topics_created: str, database_url: str, clean: asyncpg.Pool) -> None:
    http, faulty = sim
    commerce = Commerce(http, kit)
    run = uuid.uuid4().hex[:8]
    order = f"{run}-down"
    service = gateway(kit, http, topics_created, database_url, commerce_webhook_secret=SecretStr(WEBHOOK_SECRET))
    await service.start()
    try:
        poller: FulfilmentSync = service.fulfilment  # type: ignore[attr-defined]
        await publish(topics_created, [requested(order)])
        ids = await created(clean, order)
        shipment = await commerce.ship(ids[order])

        faulty.down = True
        with pytest.raises(CommerceCallFailed) as failed:
            await poller.run_once()
        faulty.down = False
        assert failed.value.fields["operation"] == "GET /V1/shipments"
        assert await clean.fetchval("SELECT count(*) FROM fulfilment_cursors") == 0
        assert await clean.fetchval("SELECT count(*) FROM fulfilment_shipments") == 0
        errors = await read_topic(topics_created, topics.COMMUNICATION_ERRORS.name, timeout=20, until=lambda rs: any(
            decode(r.value, topics.COMMUNICATION_ERRORS.event_type_names).request_ref  # type: ignore[attr-defined]
            == "fulfilment-shipments:default" for r in rs))
        [error] = [e for e in (decode(r.value, topics.COMMUNICATION_ERRORS.event_type_names) for r in errors)
                   if isinstance(e, CommunicationError) and e.request_ref == "fulfilment-shipments:default"]
        assert (error.system, error.operation, error.code, error.attempts) == ("commerce", "GET /V1/shipments",
                                                                                "503", 2)

        # The service kept running; Commerce's shipment push wakes the poller, and the shipment is announced.
        record = (await http.get(f"{kit.SIM_BASE}/_sim/shipments/{shipment}")).json()
        raw = json.dumps({"entity": "shipment", "event": "created", "shipment": record}).encode()
        async with httpx.AsyncClient(base_url="http://gw", transport=httpx.ASGITransport(app=service.asgi())) as api:
            r = await api.post("/webhooks/commerce", content=raw, headers={
                "Content-Type": "application/json", "X-Magento-Webhook-Entity": "shipment",
                "X-Magento-Webhook-Signature": hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()})
            assert r.status_code == 202 and r.json()["handled"] is True, r.text

        async def polled() -> bool:  # the cursor moves once the pass has recorded the shipments it read
            return bool(await clean.fetchval("SELECT count(*) FROM fulfilment_cursors WHERE feed = 'shipments'"))
        await eventually(polled, timeout=20, what="a poll after the wake-up")
        assert await clean.fetchval("SELECT count(*) FROM fulfilment_shipments WHERE status = 'emitted' "
                                    "AND commerce_shipment_id = $1", shipment) == 1
        assert (await poller.run_once()).shipments_emitted == 0
        await relayed(clean)
        [event] = await announced(topics_created, topics.SHIPMENTS, run, 1)
        assert isinstance(event, ShipmentCreated) and event.commerce_shipment_id == shipment
        assert event.tracking_number == f"1Z{int(ids[order]):016d}" and event.items == {f"{order}-1": 1}
    finally:
        await service.stop()
