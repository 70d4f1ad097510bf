"""Notifications the simulator publishes: exactly Amazon's schemas, delivered to SQS and to a push URL."""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from aiobotocore.session import get_session
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from amazon_sim import SimConfig, create_app, schemas
from amazon_sim.market import CONDITIONS, MarketAsin, MarketOffer, MarketSettings, any_offer_changed
from amazon_sim.notifications import NotificationSettings
from amazon_sim.testing import ACCOUNT, LOCAL_AWS, OTHER, SELLER, US, Sim, free_port, local_sqs_server

AWS = LOCAL_AWS


def validator(name: str) -> Draft7Validator:
    return schemas.schema_validator(name)


def status_validator() -> Draft7Validator:
    """Amazon's LISTINGS_ITEM_STATUS_CHANGE schema spells the type LISTINGS_ITEM_STATUS_CHANGED (an upstream
    defect, sp-api.md §7.2); real notifications carry LISTINGS_ITEM_STATUS_CHANGE, so that name is allowed too."""
    schema = copy.deepcopy(schemas.load("ListingsItemStatusChangeNotification.json"))
    schema["properties"]["NotificationType"]["enum"].append("LISTINGS_ITEM_STATUS_CHANGE")
    return Draft7Validator(schema)


def problems(v: Draft7Validator, doc: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(doc)]


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    config = SimConfig(accounts=[ACCOUNT, OTHER], seed=4, market=MarketSettings(seed=4, tick_seconds=1))
    app = create_app(config, background=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as client:
        s = Sim(client)
        s.app = app  # type: ignore[attr-defined]
        await s.login()
        yield s


async def put_listing(sim: Sim, sku: str, price: str, quantity: int = 5) -> dict[str, Any]:
    r = await sim.client.put(f"/_sim/listings/{SELLER}/{sku}", json={"productType": "HOME", "attributes": {
        "purchasable_offer": [{"marketplace_id": US, "currency": "USD",
                               "our_price": [{"schedule": [{"value_with_tax": price}]}]}],
        "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}]},
        "marketplaceIds": [US]})
    assert r.status_code == 200, r.text
    return r.json()


async def recent(sim: Sim, kind: str) -> list[dict[str, Any]]:
    r = await sim.client.get("/_sim/notifications", params={"type": kind, "limit": 5000})
    return r.json()["notifications"]


# ---------------------------------------------------------------- shapes


async def test_every_offer_notification_of_a_moving_market_validates(sim: Sim) -> None:
    for i in range(4):
        await put_listing(sim, f"N-{i}", f"{15 + i}.99")
        r = await sim.client.post("/_sim/market", json={"sellerId": SELLER, "sku": f"N-{i}", "generate": 12})
        assert r.status_code == 201, r.text
    for _ in range(15):
        await sim.client.post("/_sim/market/tick")
    docs = await recent(sim, "ANY_OFFER_CHANGED")
    assert len(docs) > 4 + 5  # the seeding ones and many moves
    v = validator("AnyOfferChangedNotification.json")
    for doc in docs:
        assert not problems(v, doc), problems(v, doc)[:5]
        inner = doc["Payload"]["AnyOfferChangedNotification"]
        assert inner["SellerId"] == SELLER
        assert len(inner["Offers"]) <= 20
        assert sum(o["IsBuyBoxWinner"] for o in inner["Offers"]) <= 1
        assert all(isinstance(o["ListingPrice"]["Amount"], int | float) for o in inner["Offers"])
    assert len({d["NotificationMetadata"]["NotificationId"] for d in docs}) == len(docs)


async def test_listing_status_changes_are_notified_and_validate(sim: Sim) -> None:
    listing = await put_listing(sim, "ST-1", "10.00")
    await put_listing(sim, "ST-1", "10.00", quantity=0)  # no longer buyable
    r = await sim.call("DELETE", f"/listings/2021-08-01/items/{SELLER}/ST-1", params={"marketplaceIds": US})
    assert r.status_code == 200, r.text
    docs = [d for d in await recent(sim, "LISTINGS_ITEM_STATUS_CHANGE") if d["Payload"]["Sku"] == "ST-1"]
    assert [d["Payload"]["Status"] for d in docs] == [["BUYABLE", "DISCOVERABLE"], ["DISCOVERABLE"], ["DELETED"]]
    v = status_validator()
    for doc in docs:
        assert not problems(v, doc), problems(v, doc)
        assert doc["Payload"]["Asin"] == listing["asin"] and doc["Payload"]["MarketplaceId"] == US


async def test_price_only_changes_send_no_status_notification(sim: Sim) -> None:
    await put_listing(sim, "ST-2", "10.00")
    await put_listing(sim, "ST-2", "11.00")
    assert len([d for d in await recent(sim, "LISTINGS_ITEM_STATUS_CHANGE") if d["Payload"]["Sku"] == "ST-2"]) == 1


@pytest.mark.parametrize(("version", "schema"), [("1.0", "ListingsItemIssuesChangeNotification.json"),
                                                 ("2023-12-13", "ListingsItemIssuesChangeNotification_2023-12-13.json")])
async def test_issue_changes_are_notified_with_severities_only(sim: Sim, version: str, schema: str) -> None:
    sim.app.state.sim.notifications.settings.issues_payload_version = version  # type: ignore[attr-defined]
    await put_listing(sim, "IS-1", "10.00")
    issue = {"code": "90220", "message": "'brand' is required but not supplied.", "severity": "ERROR",
             "attributeNames": ["brand"], "categories": ["MISSING_ATTRIBUTE"]}
    r = await sim.client.put(f"/_sim/listings/{SELLER}/IS-1/issues", json={"issues": [issue]})
    assert r.status_code == 200, r.text
    await sim.client.put(f"/_sim/listings/{SELLER}/IS-1/issues", json={"issues": []})
    docs = [d for d in await recent(sim, "LISTINGS_ITEM_ISSUES_CHANGE") if d["Payload"]["Sku"] == "IS-1"]
    assert [d["Payload"]["Severities"] for d in docs] == [["ERROR"], ["NONE"]]
    assert docs[0]["PayloadVersion"] == version and "EnforcementActions" in docs[0]["Payload"]
    v = validator(schema)
    for doc in docs:
        assert not problems(v, doc), problems(v, doc)
    # An ERROR issue makes the listing unbuyable, so its status changed too.
    statuses = [d["Payload"]["Status"] for d in await recent(sim, "LISTINGS_ITEM_STATUS_CHANGE")
                if d["Payload"]["Sku"] == "IS-1"]
    assert statuses[-2:] == [[], ["BUYABLE", "DISCOVERABLE"]]
    unknown = await sim.client.put(f"/_sim/listings/{SELLER}/NOPE/issues", json={"issues": []})
    assert unknown.status_code == 404


async def test_order_changes_are_notified_and_validate(sim: Sim) -> None:
    await put_listing(sim, "OR-1", "12.00")
    r = await sim.client.post("/_sim/orders", json={"sellerId": SELLER, "marketplaceId": US,
                                                     "lines": [{"sku": "OR-1", "quantity": 2}]})
    assert r.status_code == 201, r.text
    order_id = r.json()["AmazonOrderId"]
    r = await sim.client.post(f"/_sim/orders/{order_id}/status", json={"orderStatus": "Unshipped"})
    assert r.status_code == 200, r.text
    docs = [d for d in await recent(sim, "ORDER_CHANGE")
            if d["Payload"]["OrderChangeNotification"]["AmazonOrderId"] == order_id]
    assert docs, "no ORDER_CHANGE for the order"
    v = validator("OrderChangeNotification.json")
    for doc in docs:
        assert not problems(v, doc), problems(v, doc)
    last = docs[-1]["Payload"]["OrderChangeNotification"]
    assert last["SellerId"] == SELLER and last["Summary"]["OrderStatus"] == "Unshipped"
    assert last["Summary"]["OrderItems"][0]["SellerSKU"] == "OR-1" and last["Summary"]["OrderItems"][0]["Quantity"] == 2
    assert "BuyerName" not in json.dumps(docs)  # ORDER_CHANGE carries no PII


async def test_types_not_configured_are_not_published(sim: Sim) -> None:
    r = await sim.client.put("/_sim/notifications/settings", json={"types": ["ORDER_CHANGE"]})
    assert r.status_code == 200
    await put_listing(sim, "TY-1", "10.00")
    await sim.client.post("/_sim/market", json={"sellerId": SELLER, "sku": "TY-1", "generate": 3})
    assert await recent(sim, "ANY_OFFER_CHANGED") == []
    assert await recent(sim, "LISTINGS_ITEM_STATUS_CHANGE") == []


# ---------------------------------------------------------------- delivery


@pytest.fixture(scope="module")
def sqs_endpoint() -> Iterator[str]:
    with local_sqs_server() as url:
        yield url


async def test_notifications_are_sent_to_the_sqs_queue(sim: Sim, sqs_endpoint: str) -> None:
    async with get_session().create_client("sqs", endpoint_url=sqs_endpoint, **AWS) as sqs:
        queue_url = (await sqs.create_queue(QueueName=f"sim-{uuid.uuid4().hex[:8]}"))["QueueUrl"]
        settings = NotificationSettings(sqs_queue_url=queue_url, sqs_endpoint_url=sqs_endpoint,
                                        aws_access_key_id="testing", aws_secret_access_key="testing")
        r = await sim.client.put("/_sim/notifications/settings", json=settings.model_dump())
        assert r.status_code == 200
        for i in range(12):  # more than one SendMessageBatch
            await put_listing(sim, f"SQ-{i}", "10.00")
        flushed = (await sim.client.post("/_sim/notifications/flush")).json()
        assert flushed["delivered"] == 12 and flushed["pending"] == 0
        bodies = []
        while True:
            got = await sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            if not got.get("Messages"):
                break
            bodies += [json.loads(m["Body"]) for m in got["Messages"]]
        assert sorted(b["Payload"]["Sku"] for b in bodies) == sorted(f"SQ-{i}" for i in range(12))
        assert all(not problems(status_validator(), b) for b in bodies)


async def test_notifications_are_pushed_to_the_configured_url(sim: Sim) -> None:
    received: list[dict[str, Any]] = []
    receiver = FastAPI()
    fail_first = {"left": 1}

    @receiver.post("/hook")
    async def hook(request: Request) -> JSONResponse:
        if fail_first["left"]:
            fail_first["left"] -= 1
            return JSONResponse({"error": "down"}, 503)
        received.append(json.loads(await request.body()))
        return JSONResponse({"ok": True})

    hub = sim.app.state.sim.notifications  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver), base_url="http://hook.test") as push:
        hub.http = push
        await sim.client.put("/_sim/notifications/settings", json={"push_url": "http://hook.test/hook"})
        await put_listing(sim, "PU-1", "10.00")
        first = (await sim.client.post("/_sim/notifications/flush")).json()
        assert first["delivered"] == 0 and first["pending"] == 1  # the receiver failed: kept for another try
        second = (await sim.client.post("/_sim/notifications/flush")).json()
        assert second["delivered"] == 1 and second["pending"] == 0
    assert [d["Payload"]["Sku"] for d in received] == ["PU-1"]
    assert received[0]["NotificationType"] == "LISTINGS_ITEM_STATUS_CHANGE"


# ---------------------------------------------------------------- any market, valid shape

money_st = st.decimals(min_value="0.01", max_value="99999.99", places=2)
offer_st = st.builds(
    MarketOffer,
    seller_id=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=3, max_size=14),
    condition=st.sampled_from(CONDITIONS), sub_condition=st.sampled_from(("new", "very_good", "acceptable")),
    fba=st.booleans(), price=money_st, shipping=st.one_of(st.just(Decimal(0)), money_st),
    feedback_rating=st.integers(0, 100), feedback_count=st.integers(0, 10**6),
    sku=st.one_of(st.none(), st.just("OURSKU")))


@settings(max_examples=80, deadline=None)
@given(offers=st.lists(offer_st, max_size=40), condition=st.sampled_from(CONDITIONS),
       change=st.sampled_from(("Internal", "External", "Featured Offer")))
def test_any_market_state_gives_a_schema_valid_notification(offers: list[MarketOffer], condition: str,
                                                           change: str) -> None:
    market = MarketAsin("ATVPDKIKX0DER", "B0PROP0001", "USD", sales_rank=7)
    doc = any_offer_changed(market, SELLER, condition, offers, change, 1_780_000_000.0)
    assert not problems(validator("AnyOfferChangedNotification.json"), doc)
    inner = doc["Payload"]["AnyOfferChangedNotification"]
    shown = [o for o in offers if o.condition == condition]
    assert len(inner["Offers"]) == min(20, len(shown))
    landed = [Decimal(str(o["ListingPrice"]["Amount"])) + Decimal(str(o["Shipping"]["Amount"])) for o in inner["Offers"]]
    assert landed == sorted(landed)  # the top offers by landed price, cheapest first
    assert sum(n["OfferCount"] for n in inner["Summary"]["NumberOfOffers"]) == len(offers)


async def test_module_with_a_local_sqs_server_delivers_there() -> None:
    """`python -m amazon_sim --local-sqs-port P`: the whole system can run without AWS."""
    port, sqs_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "amazon_sim", "--port", str(port), "--seed", "3",
                             "--local-sqs-port", str(sqs_port)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
        queue_url = line.split()[2]
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(200):
                try:
                    await client.get("/_sim/stats", timeout=0.5)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            r = await client.put("/_sim/listings/A1SIMSELLER0001/LOCAL-1", json={"productType": "HOME", "attributes": {
                "purchasable_offer": [{"marketplace_id": US, "currency": "USD",
                                       "our_price": [{"schedule": [{"value_with_tax": "5.00"}]}]}],
                "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 1}]}})
            assert r.status_code == 200, r.text
        async with get_session().create_client("sqs", endpoint_url=f"http://127.0.0.1:{sqs_port}", **AWS) as sqs:
            got = await sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=10)
        [message] = got["Messages"]
        doc = json.loads(message["Body"])
        assert doc["NotificationType"] == "LISTINGS_ITEM_STATUS_CHANGE" and doc["Payload"]["Sku"] == "LOCAL-1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
