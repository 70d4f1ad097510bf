"""Catalogue out against the Commerce simulator in process, the real broker and PostgreSQL: requests in on
commerce.product-requests.v1, products created or written in Commerce, one answer each on
commerce.product-results.v1 (or a CommunicationError while Commerce cannot be reached)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from commerce_gateway.service import Settings, build
from contracts import decode, topics
from contracts.events import CommerceProductRequested, CommerceProductResult, CommunicationError
from contracts.money import Money
from devstack.testing import auth_headers, eventually, publish, read_topic

pytestmark = pytest.mark.integration

TOKEN = "commerce-products-token-5d21"
BASE = "http://commerce.test"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class AnswerLostAsTransportError(httpx.AsyncBaseTransport):
    """In process, a connection the simulator breaks mid-answer surfaces as the app's exception; over a socket it is
    a read error, which is what the gateway sees here too."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            return response
        except ConnectionError as exc:
            raise httpx.ReadError(str(exc), request=request) from exc


@pytest.fixture
async def commerce(kit: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The simulator; every request sent to it is checked against the published model."""
    magento_sim = pytest.importorskip("magento_sim")
    app = magento_sim.create_app(magento_sim.SimConfig(token=TOKEN))
    checked = kit.ModelCheck(AnswerLostAsTransportError(httpx.ASGITransport(app=app)))
    async with httpx.AsyncClient(transport=checked, base_url=BASE) as http:
        yield http
    assert not checked.problems, "requests the published model refuses:\n" + "\n".join(dict.fromkeys(checked.problems))


@pytest.fixture
async def clean(pool: asyncpg.Pool) -> asyncpg.Pool:
    await pool.execute("TRUNCATE product_requests")
    return pool


def requested(commerce_sku: str, action: str = "create", **over: Any) -> CommerceProductRequested:
    fields: dict[str, Any] = dict(
        producer="catalog-sync", account_id="acct-products", marketplace_id="ATVPDKIKX0DER", sku=commerce_sku[-40:],
        action=action, commerce_sku=commerce_sku, asin="B0TEST0001")
    if action == "create":
        fields.update(name=f"Amazon Canvas Tote {commerce_sku}", price=Money(amount=Decimal("19.99"), currency="USD"),
                      quantity=7, attributes={"upc": "012345678905", "amazon_condition": "new"})
    fields.update(over)
    return CommerceProductRequested.new(**fields)


async def sim_products(http: httpx.AsyncClient, sku: str) -> list[dict[str, Any]]:
    r = await http.get(f"{BASE}/rest/default/V1/products", headers=AUTH, params={
        "searchCriteria[filterGroups][0][filters][0][field]": "sku",
        "searchCriteria[filterGroups][0][filters][0][value]": sku})
    return list(r.json()["items"])


def attributes(product: dict[str, Any]) -> dict[str, Any]:
    return {a["attribute_code"]: a["value"] for a in product["custom_attributes"]}


async def faults(http: httpx.AsyncClient, **settings: Any) -> None:
    r = await http.post(f"{BASE}/_sim/faults", json={"seed": 11, "operations": ["PostV1Products"], **settings})
    assert r.status_code == 200, r.text


async def results(bootstrap: str, wanted: dict[uuid.UUID, int]) -> dict[uuid.UUID, list[CommerceProductResult]]:
    """The answers on commerce.product-results.v1 to these requests, once each has at least as many as wanted."""
    found: dict[uuid.UUID, list[CommerceProductResult]] = {}

    def enough(records: list[Any]) -> bool:
        found.clear()
        for record in records:
            event = decode(record.value, topics.PRODUCT_RESULTS.event_type_names)
            if isinstance(event, CommerceProductResult) and event.request_event_id in wanted:
                found.setdefault(event.request_event_id, []).append(event)
        return all(len(found.get(r, [])) >= n for r, n in wanted.items())

    await read_topic(bootstrap, topics.PRODUCT_RESULTS.name, until=enough, timeout=20)
    return dict(found)


async def test_catalogue_out_one_product_per_sku_and_one_answer_per_request(
        commerce: httpx.AsyncClient, topics_created: str, database_url: str, clean: asyncpg.Pool) -> None:
    run = uuid.uuid4().hex[:8]
    sku, lost, down, clash = (f"AMZ-{run}-{n}" for n in ("tote", "lost", "down", "clash"))
    service = build(Settings(
        kafka_bootstrap_servers=topics_created, database_url=database_url, commerce_base_url=f"{BASE}/rest/default",
        commerce_token=SecretStr(TOKEN), catalog_sync_enabled=False, orders_enabled=False, commerce_max_attempts=3,
        commerce_retry_base_delay_s=0.01, commerce_retry_max_delay_s=0.05, product_idle_s=0.05), http=commerce)
    await service.start()
    try:
        async with httpx.AsyncClient(headers=auth_headers(), base_url="http://gw",
                                     transport=httpx.ASGITransport(app=service.asgi())) as api:
            async def state(request: CommerceProductRequested) -> dict[str, Any]:
                r = await api.get(f"/products/requests/{request.event_id}", headers=auth_headers("read"))
                return dict(r.json()) if r.status_code == 200 else {}

            async def settled(*requests: CommerceProductRequested) -> bool:
                return all([(await state(r)).get("status") in ("done", "failed") for r in requests])

            # A create delivered twice, then a second create of the same SKU; an update right behind its create.
            create, again = requested(sku), requested(sku, name="Another name")
            follow = requested(sku, "update", asin=None, attributes={"amazon_condition": "refurbished"}, quantity=2)
            await publish(topics_created, [create, create, again, follow])
            await eventually(lambda: settled(create, again, follow), timeout=15, what="creates")
            # A create whose answer Commerce loses after it saved the product.
            lost_create = requested(lost)
            await faults(commerce, timeout_after_commit_rate=1.0)
            await publish(topics_created, [lost_create])
            await eventually(lambda: settled(lost_create), timeout=15, what="lost answer")
            await faults(commerce)
            # Values written into an existing product; an update of a product that is not there; refusals.
            update = requested("24-MB01", "update", price=Money(amount=Decimal("36.50"), currency="USD"), quantity=5,
                               attributes={"amazon_condition": "used_like_new", "amazon_bullet_points": "Roomy"})
            euro = requested("24-MB02", "update", store_code="eu_en", price=Money(amount=Decimal("41.00"),
                                                                                    currency="EUR"))
            missing = requested(f"AMZ-{run}-missing", "update", attributes={"amazon_condition": "new"})
            refused = requested(clash, name="Joust Duffle Bag")  # the URL key of an existing product
            nameless = requested(f"AMZ-{run}-nameless", name=None)
            before = (await commerce.get(f"{BASE}/rest/default/V1/products/24-MB02", headers=AUTH)).json()
            await publish(topics_created, [update, euro, missing, refused, nameless])
            await eventually(lambda: settled(update, euro, missing, refused, nameless), timeout=15, what="updates")
            # Commerce failing for good: a CommunicationError, the request kept until replayed.
            await faults(commerce, error_rate=1.0, error_statuses=[503])
            unreachable = requested(down)
            await publish(topics_created, [unreachable])
            await eventually(lambda: settled(unreachable), timeout=15, what="unreachable create")
            assert (await state(unreachable))["outcome"] == "unreachable"
            assert await sim_products(commerce, down) == []
            await faults(commerce)
            replay = {"request_ids": [str(unreachable.event_id)]}
            assert (await api.post("/replay/products", json=replay, headers=auth_headers("read"))).status_code == 403
            r = await api.post("/replay/products", json=replay)
            assert r.status_code == 200 and r.json() == {"replayed": 1}, r.text
            await eventually(lambda: settled(unreachable), timeout=15, what="replayed create")

            for one in (sku, lost, down):
                assert len(await sim_products(commerce, one)) == 1, one
            [tote] = await sim_products(commerce, sku)
            assert tote["name"] == f"Amazon Canvas Tote {sku}" and Decimal(str(tote["price"])) == Decimal("19.99")
            assert tote["status"] == 2 and tote["type_id"] == "simple"
            assert {k: attributes(tote)[k] for k in ("amazon_asin", "upc", "amazon_condition")} == {
                "amazon_asin": "B0TEST0001", "upc": "012345678905", "amazon_condition": "refurbished"}
            assert tote["extension_attributes"]["stock_item"]["qty"] == 2
            assert (await state(create))["attempts"] == 1 and (await state(lost_create))["outcome"] == "created"
            bag = (await commerce.get(f"{BASE}/rest/default/V1/products/24-MB01", headers=AUTH)).json()
            assert attributes(bag)["amazon_condition"] == "used_like_new" and attributes(bag)["amazon_asin"] == \
                "B0TEST0001"
            assert Decimal(str(bag["price"])) == Decimal("36.50") and bag["extension_attributes"]["stock_item"]["qty"] == 5
            in_eu = (await commerce.get(f"{BASE}/rest/eu_en/V1/products/24-MB02", headers=AUTH)).json()
            after = (await commerce.get(f"{BASE}/rest/default/V1/products/24-MB02", headers=AUTH)).json()
            assert in_eu["price"] == 41 and after["price"] == before["price"] != 41  # written in the EU store only
            assert await sim_products(commerce, clash) == [] and await sim_products(commerce, nameless.commerce_sku) \
                == []
            assert (await api.get(f"/products/requests/{uuid.uuid4()}", headers=auth_headers("read"))).status_code \
                == 404
            bad = await api.post("/replay/products", json={"request_ids": ["not-an-id"]})
            assert 400 <= bad.status_code < 500 and "request_ids" in bad.text
            assert (await api.get("/products/requests/not-an-id", headers=auth_headers("read"))).status_code in (
                400, 422)

        got = await results(topics_created, {r.event_id: 1 for r in (
            create, again, follow, lost_create, update, euro, missing, refused, nameless, unreachable)})
        answered = {r.event_id: [(e.outcome, e.commerce_product_id, e.code) for e in got[r.event_id]] for r in (
            create, again, follow, lost_create, update, euro, missing, refused, nameless, unreachable)}

        def outcome(request: CommerceProductRequested) -> list[tuple[str, int | None, str | None]]:
            return answered[request.event_id]

        made = {one: (await sim_products(commerce, one))[0]["id"] for one in (sku, lost, down)}
        assert outcome(create) == [("created", made[sku], None)]
        assert outcome(again) == [("exists", made[sku], None)] and outcome(follow) == [("updated", made[sku], None)]
        assert outcome(lost_create) == [("created", made[lost], None)]
        assert outcome(unreachable) == [("created", made[down], None)]
        assert outcome(update) == [("updated", bag["id"], None)] and outcome(euro) == [("updated", in_eu["id"], None)]
        assert got[update.event_id][0].message == \
            "Commerce has no attribute amazon_bullet_points; the value was not stored"
        assert outcome(missing) == [("failed", None, "404")]
        assert outcome(refused) == [("failed", None, "400")]
        assert got[refused.event_id][0].message == "URL key for specified store already exists."
        assert outcome(nameless) == [("failed", None, "InvalidProductRequest")]
        assert "needs a name" in str(got[nameless.event_id][0].message)
        errors = await read_topic(
            topics_created, topics.COMMUNICATION_ERRORS.name, timeout=20,
            until=lambda rs: any(decode(x.value, topics.COMMUNICATION_ERRORS.event_type_names).request_ref
                                 == str(unreachable.event_id) for x in rs))  # type: ignore[attr-defined]
        [error] = [e for e in (decode(x.value, topics.COMMUNICATION_ERRORS.event_type_names) for x in errors)
                   if isinstance(e, CommunicationError) and e.request_ref == str(unreachable.event_id)]
        assert (error.system, error.operation, error.code, error.attempts) == (
            "commerce", "POST /V1/products", "503", 3)
    finally:
        await service.stop()
