"""Notifications in: the simulator's market publishes, the gateway reads (SQS or push), events come out once.

Real broker and PostgreSQL; Amazon is the in-process simulator; SQS is moto's server on a free port.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from aiobotocore.session import get_session
from fastapi import FastAPI

from amazon_gateway.domain import notifications as domain_notifications
from amazon_gateway.notifications import sellers_of
from amazon_sim import SimConfig, create_app
from amazon_sim.market import MarketSettings
from amazon_sim.testing import LOCAL_AWS, local_sqs_server
from contracts import decode, topics
from contracts.events import AmazonListingObserved, CommunicationError, OfferPriceObserved
from devstack.testing import auth_headers, eventually, read_topic

pytestmark = pytest.mark.integration

AWS = LOCAL_AWS
GATEWAY_BASE = "http://gateway.test"


@pytest.fixture(scope="module")
def sqs_endpoint() -> Iterator[str]:
    with local_sqs_server() as url:
        yield url


@pytest.fixture
async def queue_url(sqs_endpoint: str) -> str:
    async with get_session().create_client("sqs", endpoint_url=sqs_endpoint, **AWS) as sqs:
        return (await sqs.create_queue(QueueName=f"gw-{uuid.uuid4().hex[:10]}"))["QueueUrl"]


@pytest.fixture
def sim_app(kit: Any) -> FastAPI:
    return create_app(SimConfig(accounts=[kit.SIM_ACCOUNT], seed=11, market=MarketSettings(seed=11, tick_seconds=1)),
                      background=False)


@pytest.fixture
async def sim_http(sim_app: FastAPI, kit: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The conftest's simulator client, bound to a simulator this module can reach into (market, hub)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim_app), base_url=kit.SIM_BASE) as client:
        yield client


def sqs_settings(queue: str, endpoint: str) -> dict[str, Any]:
    return {"notifications_sqs_queue_url": queue, "notifications_sqs_endpoint_url": endpoint,
            "notifications_sqs_access_key_id": "testing", "notifications_sqs_secret_access_key": "testing",
            "notifications_sqs_wait_s": 1}


async def sim_to_sqs(sim: httpx.AsyncClient, queue: str, endpoint: str) -> None:
    r = await sim.put("/_sim/notifications/settings", json={
        "sqs_queue_url": queue, "sqs_endpoint_url": endpoint, "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing"})
    assert r.status_code == 200, r.text


async def flush(sim: httpx.AsyncClient, timeout: float = 20) -> dict[str, Any]:
    """Deliver what the simulator holds; a send the queue did not confirm stays pending and is tried again
    (on a loaded machine the local SQS server can miss one), as the simulator's own ticker would."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = (await sim.post("/_sim/notifications/flush")).json()
        if body["pending"] == 0:
            return body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.2)


async def seed_market(sim: httpx.AsyncClient, kit: Any, sku: str, competitors: list[dict[str, Any]]) -> str:
    r = await sim.post("/_sim/market", json={"sellerId": kit.SELLER, "sku": sku, "competitors": competitors})
    assert r.status_code == 201, r.text
    return r.json()["asin"]


async def offers_for(bootstrap: str, asin: str, until: Any, timeout: float = 60) -> list[OfferPriceObserved]:
    def mine(records: list[Any]) -> list[OfferPriceObserved]:
        found = [decode(r.value) for r in records]
        return [e for e in found if isinstance(e, OfferPriceObserved) and e.asin == asin]

    return mine(await read_topic(bootstrap, topics.OFFERS.name, timeout=timeout, until=lambda rs: until(mine(rs))))


async def errors_where(bootstrap: str, match: Any, timeout: float = 60) -> list[CommunicationError]:
    def mine(records: list[Any]) -> list[CommunicationError]:
        found = [decode(r.value) for r in records]
        return [e for e in found if isinstance(e, CommunicationError) and match(e)]

    return mine(await read_topic(bootstrap, topics.COMMUNICATION_ERRORS.name, timeout=timeout,
                                 until=lambda rs: bool(mine(rs))))


async def queue_is_empty(endpoint: str, queue: str) -> bool:
    async with get_session().create_client("sqs", endpoint_url=endpoint, **AWS) as sqs:
        attrs = (await sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]))["Attributes"]
    return attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


async def send_raw(endpoint: str, queue: str, *bodies: str) -> None:
    async with get_session().create_client("sqs", endpoint_url=endpoint, **AWS) as sqs:
        for body in bodies:
            await sqs.send_message(QueueUrl=queue, MessageBody=body)


def gateway_client(gateway: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(headers=auth_headers(), transport=httpx.ASGITransport(app=gateway.service.asgi()), base_url=GATEWAY_BASE)


# ---------------------------------------------------------------- SQS


async def test_market_offers_reach_the_broker_through_sqs_with_our_offer_marked(
        gateway_factory: Any, kit: Any, sqs_endpoint: str, queue_url: str) -> None:
    gateway = await gateway_factory(**sqs_settings(queue_url, sqs_endpoint))
    sim = gateway.sim
    await sim_to_sqs(sim, queue_url, sqs_endpoint)
    sku = kit.new_skus(1)[0]
    await kit.seed_listing(sim, sku, price=20)
    asin = await seed_market(sim, kit, sku, [
        {"sellerId": "FBACOMP", "price": "21.50", "fulfilledByAmazon": True, "feedbackRating": 99},
        {"sellerId": "MFNCOMP", "price": "18.00", "shipping": "4.49", "feedbackRating": 92, "floor": "15.00",
         "strategy": "undercut"},
        {"sellerId": "USEDCOMP", "price": "11.00", "condition": "used"}])
    await flush(sim)

    first = (await offers_for(gateway.bootstrap, asin, lambda es: len(es) >= 1))[0]
    assert first.account_id == kit.ACCOUNT_ID and first.marketplace_id == kit.US
    by_seller = {o.seller_id: o for o in first.offers}
    assert set(by_seller) == {kit.SELLER, "FBACOMP", "MFNCOMP"}  # the used offer is another condition's
    assert by_seller[kit.SELLER].is_ours and not any(o.is_ours for o in first.offers if o.seller_id != kit.SELLER)
    assert by_seller[kit.SELLER].listing_price.amount == Decimal("20")
    assert by_seller["MFNCOMP"].shipping.amount == Decimal("4.49") and by_seller["MFNCOMP"].feedback_rating == 92
    assert by_seller["FBACOMP"].fulfillment_channel == "Amazon" and by_seller["FBACOMP"].is_prime
    assert first.lowest_landed_price.amount == Decimal("20") and first.lowest_landed_price.currency == "USD"
    assert by_seller[kit.SELLER].is_buy_box_winner and first.buy_box_landed_price.amount == Decimal("20")

    # The market reacts to a new price of ours: the undercutter follows, each step is notified.
    await kit.seed_listing(sim, sku, price=19)
    await sim.post("/_sim/market/tick")
    await flush(sim)
    # 19.00 - 0.01 - 4.49 shipping would be 14.50: the undercutter stops at its 15.00 floor.
    events = await offers_for(gateway.bootstrap, asin, lambda es: any(
        o.seller_id == "MFNCOMP" and o.listing_price.amount == Decimal("15") for e in es for o in e.offers))
    assert Decimal("19") in {o.listing_price.amount for e in events for o in e.offers if o.is_ours}
    assert all(o.listing_price.amount >= Decimal("15") for e in events for o in e.offers if o.seller_id == "MFNCOMP")
    await eventually(lambda: queue_is_empty(sqs_endpoint, queue_url), timeout=30)
    assert gateway.service.notifications_reader.deleted >= 3


async def test_malformed_message_is_kept_reported_and_the_reader_goes_on(
        gateway_factory: Any, kit: Any, sqs_endpoint: str, queue_url: str, db: asyncpg.Connection) -> None:
    gateway = await gateway_factory(**sqs_settings(queue_url, sqs_endpoint))
    sim = gateway.sim
    marker = uuid.uuid4().hex
    garbage = '{"NotificationType": "ANY_OFFER_CHANGED", "broken": "' + marker
    await send_raw(sqs_endpoint, queue_url, garbage)
    await sim_to_sqs(sim, queue_url, sqs_endpoint)
    sku = kit.new_skus(1)[0]
    await kit.seed_listing(sim, sku, price=30)
    asin = await seed_market(sim, kit, sku, [{"sellerId": "ANYCOMP", "price": "31.00"}])
    await flush(sim)

    kept = {}

    async def garbage_kept() -> bool:
        row = await db.fetchrow("SELECT id, code, message, source, body FROM amazon_gateway.notifications_rejected "
                                "WHERE body = $1", garbage.encode())
        kept.update(row or {})
        return row is not None

    await eventually(garbage_kept, timeout=30)
    assert kept["code"] == "NotJson" and kept["source"] == "sqs" and "not JSON" in kept["message"]
    errors = await errors_where(gateway.bootstrap, lambda e: e.request_ref == f"notifications_rejected:{kept['id']}")
    assert len(errors) == 1
    error = errors[0]
    assert error.system == "amazon" and error.operation == "notification:unknown"  # the type cannot be read
    assert error.code == "NotJson" and error.attempts == 1
    # The next message was processed and both were deleted: nothing loops.
    assert await offers_for(gateway.bootstrap, asin, lambda es: len(es) >= 1)
    await eventually(lambda: queue_is_empty(sqs_endpoint, queue_url), timeout=30)


async def test_redelivered_notification_emits_once(
        gateway_factory: Any, kit: Any, sqs_endpoint: str, queue_url: str, db: asyncpg.Connection) -> None:
    gateway = await gateway_factory(**sqs_settings(queue_url, sqs_endpoint))
    sim = gateway.sim
    sku = kit.new_skus(1)[0]
    await kit.seed_listing(sim, sku, price=40)
    asin = await seed_market(sim, kit, sku, [{"sellerId": "DUPCOMP", "price": "41.00"}])
    doc = (await sim.get("/_sim/notifications", params={"type": "ANY_OFFER_CHANGED"})).json()["notifications"][-1]
    assert doc["Payload"]["AnyOfferChangedNotification"]["OfferChangeTrigger"]["ASIN"] == asin
    body = json.dumps(doc)
    await send_raw(sqs_endpoint, queue_url, body, body)  # one batch or two: either way a duplicate
    # A later, distinct notification: once its event is out, the copies have been handled too.
    await kit.seed_listing(sim, sku, price=39)
    later = (await sim.get("/_sim/notifications", params={"type": "ANY_OFFER_CHANGED"})).json()["notifications"][-1]
    await eventually(lambda: queue_is_empty(sqs_endpoint, queue_url), timeout=30)
    async with gateway_client(gateway) as client:
        assert (await client.post("/notifications", content=body)).json()["outcome"] == "duplicate"
        assert (await client.post("/notifications", content=json.dumps(later))).json()["outcome"] == "emitted"
    events = await offers_for(gateway.bootstrap, asin, lambda es: len({e.event_id for e in es}) >= 2)
    assert len(events) == 2 and len({e.event_id for e in events}) == 2
    seen = await db.fetchval("SELECT count(*) FROM amazon_gateway.notifications_seen WHERE notification_id = $1",
                             doc["NotificationMetadata"]["NotificationId"])
    assert seen == 1


# ---------------------------------------------------------------- HTTP push


async def test_pushed_notifications_are_processed_like_queued_ones(
        gateway_factory: Any, kit: Any, sim_app: FastAPI) -> None:
    gateway = await gateway_factory()
    sim = gateway.sim
    async with gateway_client(gateway) as push:
        hub = sim_app.state.sim.notifications
        hub.http = push
        r = await sim.put("/_sim/notifications/settings", json={"push_url": f"{GATEWAY_BASE}/notifications"})
        assert r.status_code == 200
        sku = kit.new_skus(1)[0]
        await kit.seed_listing(sim, sku, price=12)
        asin = await seed_market(sim, kit, sku, [{"sellerId": "PUSHCOMP", "price": "11.00", "fulfilledByAmazon": True}])
        delivered = await flush(sim)
        assert delivered["delivered"] >= 2  # the listing's status and the market's offers
    [event] = await offers_for(gateway.bootstrap, asin, lambda es: len(es) >= 1)
    assert {o.seller_id: o.is_ours for o in event.offers} == {kit.SELLER: True, "PUSHCOMP": False}
    assert event.buy_box_landed_price.amount == Decimal("11") and event.lowest_landed_price.amount == Decimal("11")


async def test_unknown_seller_push_is_refused_kept_and_reported(gateway_factory: Any, kit: Any,
                                                                db: asyncpg.Connection) -> None:
    gateway = await gateway_factory()
    sim = gateway.sim
    sku = kit.new_skus(1)[0]
    await kit.seed_listing(sim, sku, price=12)
    await seed_market(sim, kit, sku, [{"sellerId": "X", "price": "13.00"}])
    doc = (await sim.get("/_sim/notifications", params={"type": "ANY_OFFER_CHANGED"})).json()["notifications"][-1]
    stranger = f"ASTRANGER{uuid.uuid4().hex[:6].upper()}"
    doc["Payload"]["AnyOfferChangedNotification"]["SellerId"] = stranger
    for offer in doc["Payload"]["AnyOfferChangedNotification"]["Offers"]:
        if offer["SellerId"] == kit.SELLER:
            offer["SellerId"] = stranger
    async with gateway_client(gateway) as client:
        r = await client.post("/notifications", content=json.dumps(doc))
    assert r.status_code == 400
    body = r.json()
    assert body["outcome"] == "rejected" and body["code"] == "UnknownSeller" and stranger in body["message"]
    stored = await db.fetchval("SELECT body FROM amazon_gateway.notifications_rejected WHERE id = $1", body["keptId"])
    assert json.loads(stored) == doc
    [error] = await errors_where(gateway.bootstrap, lambda e: e.request_ref == f"notifications_rejected:{body['keptId']}")
    assert error.operation == "notification:ANY_OFFER_CHANGED" and error.code == "UnknownSeller"
    assert error.marketplace_id == kit.US

    # Once the seller is configured, replaying the kept body emits its event and the row leaves the store.
    processor = gateway.service.notifications
    processor.sellers = sellers_of({**processor.client.accounts, "acct-stranger": kit.gateway_account(
        account_id="acct-stranger", seller_id=stranger)})
    async with gateway_client(gateway) as client:
        replayed = (await client.post("/notifications/replay", params={"code": "UnknownSeller"})).json()
        assert replayed["replayed"] >= 1
        again = (await client.post("/notifications/replay", params={"code": "UnknownSeller"})).json()
    assert again["replayed"] == 0
    assert await db.fetchval("SELECT count(*) FROM amazon_gateway.notifications_rejected WHERE id = $1",
                             body["keptId"]) == 0
    asin = doc["Payload"]["AnyOfferChangedNotification"]["OfferChangeTrigger"]["ASIN"]
    [event] = await offers_for(gateway.bootstrap, asin, lambda es: any(e.account_id == "acct-stranger" for e in es))
    assert event.account_id == "acct-stranger" and [o.seller_id for o in event.offers if o.is_ours] == [stranger]


# ---------------------------------------------------------------- listings and orders


async def listing_events(bootstrap: str, sku: str, until: Any) -> list[AmazonListingObserved]:
    def mine(records: list[Any]) -> list[AmazonListingObserved]:
        found = [decode(r.value) for r in records]
        return [e for e in found if isinstance(e, AmazonListingObserved) and e.sku == sku]

    return mine(await read_topic(bootstrap, topics.AMAZON_LISTINGS.name, timeout=60,
                                 until=lambda rs: until(mine(rs))))


async def test_listing_status_and_issues_notifications_become_amazon_listing_observed(
        gateway_factory: Any, kit: Any, sim_app: FastAPI) -> None:
    gateway = await gateway_factory()
    sim = gateway.sim
    async with gateway_client(gateway) as push:
        sim_app.state.sim.notifications.http = push
        await sim.put("/_sim/notifications/settings", json={"push_url": f"{GATEWAY_BASE}/notifications",
                                                            "types": ["LISTINGS_ITEM_STATUS_CHANGE",
                                                                      "LISTINGS_ITEM_ISSUES_CHANGE"]})
        sku = kit.new_skus(1)[0]
        await kit.seed_listing(sim, sku, price=9)
        issue = {"code": "90220", "message": "'brand' is required but not supplied.", "severity": "ERROR",
                 "attributeNames": ["brand"], "categories": ["MISSING_ATTRIBUTE"]}
        r = await sim.put(f"/_sim/listings/{kit.SELLER}/{sku}/issues", json={"issues": [issue]})
        assert r.status_code == 200
        await flush(sim)
    events = await listing_events(gateway.bootstrap, sku, lambda es: {e.source for e in es} >= {
        "status_notification", "issues_notification"} and len(es) >= 3)
    statuses = [e for e in events if e.source == "status_notification"]
    assert [e.status for e in statuses] == [["BUYABLE", "DISCOVERABLE"], []]
    assert all(e.account_id == kit.ACCOUNT_ID and e.marketplace_id == kit.US and e.asin for e in statuses)
    [issues] = [e for e in events if e.source == "issues_notification"]
    assert [(i.code, i.severity, i.attribute_names) for i in issues.issues] == [("90220", "ERROR", ["brand"])]
    assert issues.status == []  # read back from getListingsItem: an ERROR makes it neither buyable nor discoverable


class RecordingPoller:
    def __init__(self) -> None:
        self.woken: list[str] = []

    def wake(self, account_id: str) -> None:
        self.woken.append(account_id)


async def test_order_change_wakes_the_order_poller(gateway_factory: Any, kit: Any) -> None:
    gateway = await gateway_factory()
    sim = gateway.sim
    poller = RecordingPoller()
    gateway.service.order_poller = poller
    sku = kit.new_skus(1)[0]
    await kit.seed_listing(sim, sku, price=9, quantity=3)
    r = await sim.post("/_sim/orders", json={"sellerId": kit.SELLER, "marketplaceId": kit.US,
                                             "lines": [{"sku": sku, "quantity": 1}]})
    assert r.status_code == 201, r.text
    order_id = r.json()["AmazonOrderId"]
    docs = [d for d in (await sim.get("/_sim/notifications", params={"type": "ORDER_CHANGE"})).json()["notifications"]
            if d["Payload"]["OrderChangeNotification"]["AmazonOrderId"] == order_id]
    assert docs
    async with gateway_client(gateway) as client:
        for doc in docs:
            assert (await client.post("/notifications", content=json.dumps(doc))).json()["outcome"] == "emitted"
        assert (await client.post("/notifications", content=json.dumps(docs[0]))).json()["outcome"] == "duplicate"
        metrics = (await client.get("/metrics")).text
    assert poller.woken == [kit.ACCOUNT_ID] * len(docs)
    counted = [line for line in metrics.splitlines()
               if line.startswith("saleschannel_amazon_order_change_notifications_total{")
               and f'account_id="{kit.ACCOUNT_ID}"' in line]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= len(docs)


async def test_issues_notification_copies_read_the_listing_once_and_emit_once(
        gateway_factory: Any, kit: Any, sim_app: FastAPI) -> None:
    gateway = await gateway_factory()
    sim = gateway.sim
    sku = kit.new_skus(1)[0]
    await kit.seed_listing(sim, sku, price=9)
    warning = {"code": "18155", "message": "The price is unusually high.", "severity": "WARNING"}
    assert (await sim.put(f"/_sim/listings/{kit.SELLER}/{sku}/issues", json={"issues": [warning]})).status_code == 200
    doc = [d for d in (await sim.get("/_sim/notifications", params={"type": "LISTINGS_ITEM_ISSUES_CHANGE"})).json()[
        "notifications"] if d["Payload"]["Sku"] == sku][-1]
    body = json.dumps(doc).encode()

    def reads() -> int:
        return sim_app.state.sim.calls["getListingsItem"]["calls"]

    before = reads()
    outcomes = await gateway.service.notifications.process([body, body], "test")
    assert [o.outcome for o in outcomes] == ["emitted", "duplicate"]
    assert reads() == before + 1
    again = await gateway.service.notifications.process([body], "test")
    assert [o.outcome for o in again] == ["duplicate"] and reads() == before + 1
    [event] = await listing_events(gateway.bootstrap, sku, lambda es: any(e.source == "issues_notification"
                                                                          for e in es))
    assert [(i.code, i.severity) for i in event.issues] == [("18155", "WARNING")]
    assert event.status == ["BUYABLE", "DISCOVERABLE"]  # a warning leaves the listing buyable


async def test_issues_notification_whose_listing_read_fails_is_reported_kept_and_replayed(
        gateway_factory: Any, kit: Any, sim_app: FastAPI, db: asyncpg.Connection) -> None:
    gateway = await gateway_factory(amazon_max_attempts=2)
    sim = gateway.sim
    sku = kit.new_skus(1)[0]
    await kit.seed_listing(sim, sku, price=9)
    issue = {"code": "90220", "message": "'brand' is required but not supplied.", "severity": "ERROR"}
    assert (await sim.put(f"/_sim/listings/{kit.SELLER}/{sku}/issues", json={"issues": [issue]})).status_code == 200
    doc = [d for d in (await sim.get("/_sim/notifications", params={"type": "LISTINGS_ITEM_ISSUES_CHANGE"})).json()[
        "notifications"] if d["Payload"]["Sku"] == sku][-1]
    await sim.post("/_sim/faults", json={"error_rate": 1.0, "error_statuses": [500], "operations": ["getListingsItem"]})
    [outcome] = await gateway.service.notifications.process([json.dumps(doc).encode()], "test")
    assert outcome.outcome == "rejected" and outcome.code == "InternalFailure" and outcome.kept_id
    [error] = await errors_where(gateway.bootstrap, lambda e: e.request_ref == f"notifications_rejected:{outcome.kept_id}")
    assert error.operation == "getListingsItem" and error.attempts == 2 and error.account_id == kit.ACCOUNT_ID
    assert secrets_absent(error.message, kit)
    # Amazon answers again: the kept notification goes through on replay, once.
    await sim.delete("/_sim/faults")
    async with gateway_client(gateway) as client:
        replayed = (await client.post("/notifications/replay", params={"code": "InternalFailure"})).json()
    assert replayed["replayed"] >= 1
    assert await db.fetchval("SELECT count(*) FROM amazon_gateway.notifications_rejected WHERE id = $1",
                             outcome.kept_id) == 0
    [event] = await listing_events(gateway.bootstrap, sku, lambda es: any(e.source == "issues_notification"
                                                                          for e in es))
    assert [(i.code, i.severity) for i in event.issues] == [("90220", "ERROR")]


def secrets_absent(text: str, kit: Any) -> bool:
    return kit.CLIENT_SECRET not in text and kit.REFRESH_TOKEN not in text and "Atza|" not in text


async def test_a_notification_the_code_cannot_handle_is_kept_not_looped_on(
        gateway_factory: Any, kit: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = await gateway_factory()
    sim = gateway.sim
    sku = kit.new_skus(1)[0]
    await kit.seed_listing(sim, sku, price=9)
    doc = [d for d in (await sim.get("/_sim/notifications", params={"type": "LISTINGS_ITEM_STATUS_CHANGE"})).json()[
        "notifications"] if d["Payload"]["Sku"] == sku][-1]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a field nobody expected")

    monkeypatch.setattr(domain_notifications, "listing_status_observed", broken)
    [outcome] = await gateway.service.notifications.process([json.dumps(doc).encode()], "test")
    assert outcome.outcome == "rejected" and outcome.code == "UnexpectedNotification"
    assert "KeyError" in outcome.message and outcome.kept_id
