"""A notification with wrong values is rejected, kept and reported even when its NotificationId was seen.

Real broker and PostgreSQL, through the gateway's NotificationProcessor as SQS and the push route use it.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from contracts import decode, topics
from contracts.events import CommunicationError, OfferPriceObserved
from devstack.testing import read_topic

pytestmark = pytest.mark.integration


def price_notification(kit: Any, asin: str, prices: list[str]) -> dict[str, Any]:
    """An ANY_OFFER_CHANGED for the gateway's account, as Amazon sends it (amounts as JSON numbers)."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    offers = [{"SellerId": kit.SELLER if i == 0 else f"COMP{i}", "SubCondition": "new",
               "ListingPrice": {"Amount": float(p), "CurrencyCode": "USD"},
               "Shipping": {"Amount": 0, "CurrencyCode": "USD"}, "IsFulfilledByAmazon": False,
               "IsBuyBoxWinner": i == 0} for i, p in enumerate(prices)]
    return {
        "NotificationVersion": "1.0", "NotificationType": "ANY_OFFER_CHANGED", "PayloadVersion": "1.0",
        "EventTime": now,
        "NotificationMetadata": {"ApplicationId": "app", "SubscriptionId": "sub", "PublishTime": now,
                                 "NotificationId": str(uuid.uuid4())},
        "Payload": {"AnyOfferChangedNotification": {
            "SellerId": kit.SELLER,
            "OfferChangeTrigger": {"MarketplaceId": kit.US, "ASIN": asin, "ItemCondition": "New",
                                   "TimeOfOfferChange": now, "OfferChangeType": "External"},
            "Summary": {"LowestPrices": [], "BuyBoxPrices": []},
            "Offers": offers}},
    }


def encoded(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


async def test_a_seen_notification_id_with_wrong_values_is_rejected_kept_and_reported(
        gateway_factory: Any, kit: Any, db: asyncpg.Connection) -> None:
    gateway = await gateway_factory()
    processor = gateway.service.notifications
    asin = f"B0{uuid.uuid4().hex[:8].upper()}"
    valid = price_notification(kit, asin, ["20.00", "21.50", "19.99"])
    notification_id = valid["NotificationMetadata"]["NotificationId"]
    negative = copy.deepcopy(valid)
    negative["Payload"]["AnyOfferChangedNotification"]["Offers"][2]["ListingPrice"]["Amount"] = -10
    yesterday = copy.deepcopy(valid)
    yesterday["EventTime"] = "yesterday"

    [first] = await processor.process([encoded(valid)], "test")
    assert first.outcome == "emitted"

    outcomes = await processor.process([encoded(negative), encoded(yesterday), encoded(valid)], "test")
    assert [o.outcome for o in outcomes] == ["rejected", "rejected", "duplicate"]
    bad_price, bad_time, _ = outcomes
    assert bad_price.code == bad_time.code == "InvalidValue"
    assert bad_price.notification_id == bad_time.notification_id == notification_id
    assert bad_price.message == ("Payload.AnyOfferChangedNotification.Offers[2].ListingPrice.Amount: "
                                 "must be a non-negative amount")
    assert bad_time.message == "EventTime: must be an ISO 8601 date-time with a time zone or Z, not 'yesterday'"
    assert bad_price.kept_id and bad_time.kept_id and bad_price.kept_id != bad_time.kept_id

    for outcome, doc in ((bad_price, negative), (bad_time, yesterday)):
        row = await db.fetchrow("SELECT body, code, message, notification_id, account_id "
                                "FROM amazon_gateway.notifications_rejected WHERE id = $1", outcome.kept_id)
        assert json.loads(row["body"]) == doc
        assert (row["code"], row["message"], row["notification_id"]) == ("InvalidValue", outcome.message,
                                                                          notification_id)
    assert await db.fetchval("SELECT account_id FROM amazon_gateway.notifications_rejected WHERE id = $1",
                             bad_price.kept_id) == kit.ACCOUNT_ID

    # The same wrong body again is a known rejected body: rejected, kept once, reported once.
    [again] = await processor.process([encoded(negative)], "test")
    assert again.outcome == "rejected" and again.code == "InvalidValue"
    assert await db.fetchval("SELECT count(*) FROM amazon_gateway.notifications_rejected WHERE notification_id = $1",
                             notification_id) == 2

    # A later, distinct notification of the ASIN: once its event is out, everything before it is too.
    later = price_notification(kit, asin, ["19.50", "21.50", "19.99"])
    [last] = await processor.process([encoded(later)], "test")
    assert last.outcome == "emitted"

    def offers_of(records: list[Any]) -> list[OfferPriceObserved]:
        found = [decode(r.value) for r in records]
        return [e for e in found if isinstance(e, OfferPriceObserved) and e.asin == asin]

    events = offers_of(await read_topic(gateway.bootstrap, topics.OFFERS.name, timeout=60,
                                        until=lambda rs: any(o.listing_price.amount == Decimal("19.5") for e in offers_of(rs)
                                                             for o in e.offers)))
    assert len(events) == 2 and len({e.event_id for e in events}) == 2
    assert all(o.listing_price.amount >= 0 for e in events for o in e.offers)
    assert await db.fetchval("SELECT count(*) FROM amazon_gateway.notifications_seen WHERE notification_id = $1",
                             notification_id) == 1

    refs = {f"notifications_rejected:{bad_price.kept_id}", f"notifications_rejected:{bad_time.kept_id}"}

    def errors_of(records: list[Any]) -> list[CommunicationError]:
        found = [decode(r.value) for r in records]
        return [e for e in found if isinstance(e, CommunicationError) and e.request_ref in refs]

    errors = errors_of(await read_topic(gateway.bootstrap, topics.COMMUNICATION_ERRORS.name, timeout=60,
                                        until=lambda rs: len(errors_of(rs)) >= 2))
    assert sorted(e.request_ref for e in errors) == sorted(refs)
    assert {(e.operation, e.code, e.system) for e in errors} == {("notification:ANY_OFFER_CHANGED", "InvalidValue",
                                                                 "amazon")}
    assert {e.message for e in errors} == {bad_price.message, bad_time.message}
