"""Orders, without I/O: which polled orders are news, the polling window, Amazon order JSON as events,
confirmShipment bodies, and the order acknowledgement (cancellation) feed with its processing report.

Polling getOrders by LastUpdatedAfter with an overlap window returns the same order many times, and
pages may come back in any order. An order is news exactly once per real change: the first sight is
an OrderPlaced, a later sight with another status and a LastUpdateDate not older than the one we
hold is an OrderStatusChanged, anything else (the same status again, or an older state) is nothing.
Buyer data goes out once too: Amazon shows no address while an order is Pending, so the status change
that first shows buyer data not yet announced carries it (`Announced` remembers which, never the data).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from xml.sax.saxutils import escape

from amazon_gateway.domain.rate_limit import UsagePlan
from contracts.events import (
    Address,
    AmazonIssue,
    FulfillmentBy,
    OrderCancelRequested,
    OrderLine,
    OrderPlaced,
    OrderStatusChanged,
    ShipmentConfirmRequested,
)
from contracts.money import Money

Json = dict[str, Any]

ACKNOWLEDGEMENT_FEED = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
ACKNOWLEDGEMENT_CONTENT_TYPE = "text/xml; charset=UTF-8"

# Usage plans of the Orders v0 operations the gateway's published plans do not list yet (ordersV0.json).
ORDER_USAGE_PLANS: dict[str, UsagePlan] = {
    "getOrder": UsagePlan(Decimal("0.5"), 30),
    "createRestrictedDataToken": UsagePlan(Decimal("1"), 10),  # Tokens 2021-03-01
}

# The buyer data an OrderPlaced carries, asked of getOrders itself (Amazon's way for bulk orders): with this
# token every page of the poll holds each order's BuyerInfo and whole ShippingAddress, so no order needs a call
# of its own for them.
PII_RESOURCES: list[Json] = [
    {"method": "GET", "path": "/orders/v0/orders", "dataElements": ["buyerInfo", "shippingAddress"]},
]

# Marketplace default currencies (spec §4), for orders Amazon sends without any price yet (Pending ones).
MARKETPLACE_CURRENCY: dict[str, str] = {
    "A2EUQ1WTGCTBG2": "CAD", "ATVPDKIKX0DER": "USD", "A1AM78C64UM0Y8": "MXN", "A2Q3Y263D00KWC": "BRL",
    "A28R8C7NBKEWEA": "EUR", "A1RKKUPIHCS9HS": "EUR", "A1F83G8C2ARO7P": "GBP", "A13V1IB3VIYZZH": "EUR",
    "AMEN7PMS3EDWL": "EUR", "A1805IZSGTT6HS": "EUR", "A1PA6795UKMFR9": "EUR", "APJ6JRA9NG5V4": "EUR",
    "A2NODRKZP88ZB9": "SEK", "AE08WJ6YKNBMC": "ZAR", "A1C3SOZRARQ6R3": "PLN", "ARBP9OOSHTCHU": "EGP",
    "A33AVAJ2PDY3EV": "TRY", "A17E79C6D8DWNP": "SAR", "A2VIGQ35RCS4UG": "AED", "A21TJRUUN4KGV": "INR",
    "A19VAU5U5O7RUS": "SGD", "A39IBJ37TRP1C6": "AUD", "A1VC38T7YXB528": "JPY",
}


class UnreadableOrder(ValueError):
    """An order (or item) from Amazon lacking what every order has; it is reported, not guessed at."""


class UnreadableReport(ValueError):
    """A processing report that is not the XML Amazon writes."""


# ---------------------------------------------------------------- polling window


def token_usable_until(now: float, lifetime_s: int, margin_s: float = 60.0) -> float:
    """When to stop using a Restricted Data Token: a margin before Amazon's expiry (never before now)."""
    return now + max(0.0, lifetime_s - margin_s)


def amazon_time(value: datetime) -> str:
    """ISO 8601 in UTC with a Z, as Amazon writes and reads its dates."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_amazon_time(value: object) -> datetime:
    if not isinstance(value, str) or not value:
        raise UnreadableOrder(f"not a date: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UnreadableOrder(f"not a date: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def window_start(cursor: datetime | None, now: datetime, *, overlap: timedelta, first_lookback: timedelta,
                 max_lookback: timedelta) -> datetime:
    """LastUpdatedAfter for the next poll: the cursor less the overlap, never further back than `max_lookback`.

    The overlap catches orders whose LastUpdateDate Amazon wrote late; the first poll of an account looks
    back `first_lookback`, since orders from before the integration are not imported.
    """
    start = now - first_lookback if cursor is None else cursor - overlap
    return max(start, now - max_lookback)


def next_cursor(cursor: datetime | None, reported_before: datetime | None, seen: Iterable[datetime]) -> datetime | None:
    """Where the next window starts once a poll went through every page; it never moves back.

    Amazon's LastUpdatedBefore (the end of the window it answered for) is the best mark; without it, the
    newest LastUpdateDate seen.
    """
    candidates = [c for c in (cursor, reported_before, max(seen, default=None)) if c is not None]
    return max(candidates, default=None)


# ---------------------------------------------------------------- which orders are news


class Change(StrEnum):
    PLACED = "placed"
    STATUS_CHANGED = "status_changed"
    NONE = "none"


@dataclass(frozen=True)
class Announced:
    """Which of an order's buyer data its events have carried so far: the fact, never the data."""

    email: bool = False
    address: bool = False

    def after(self, event: OrderPlaced | OrderStatusChanged) -> Announced:
        return Announced(self.email or event.buyer_email is not None,
                         self.address or event.shipping_address is not None)


@dataclass(frozen=True)
class Known:
    """What we hold about one order: the status we last announced, its LastUpdateDate, and which buyer data
    has gone out."""

    status: str
    last_update: datetime
    announced: Announced = Announced()


@dataclass(frozen=True)
class Decision:
    change: Change
    state: Known
    previous_status: str | None = None


# Where each status sits in an order's life; two states with the same LastUpdateDate (Amazon writes whole
# seconds) are ordered by it, so an order never appears to go back from Shipped to Unshipped.
LIFECYCLE_RANK: dict[str, int] = {
    "PendingAvailability": 0, "Pending": 1, "Unshipped": 2, "PartiallyShipped": 3, "Shipped": 4,
    "InvoiceUnconfirmed": 4, "Canceled": 5, "Unfulfillable": 5,
}


def decide(known: Known | None, status: str, last_update: datetime) -> Decision:
    """Is this sight of an order news? The new state to keep comes with the answer."""
    if known is None:
        return Decision(Change.PLACED, Known(status, last_update))
    if last_update < known.last_update:
        return Decision(Change.NONE, known)  # an older state than the one announced
    if last_update == known.last_update and status != known.status and (
            LIFECYCLE_RANK.get(status, 0) <= LIFECYCLE_RANK.get(known.status, 0)):
        return Decision(Change.NONE, known)  # as old as the announced state and no further in the life
    if status == known.status:
        return Decision(Change.NONE, replace(known, last_update=last_update))
    return Decision(Change.STATUS_CHANGED, replace(known, status=status, last_update=last_update), known.status)


@dataclass(frozen=True)
class Sighting:
    order_id: str
    status: str
    last_update: datetime


def decide_all(known: Mapping[str, Known], sightings: Iterable[Sighting]) -> tuple[dict[str, Known],
                                                                                  list[tuple[Sighting, Decision]]]:
    """Decide a page (or several) at once, oldest sighting first, so repeats within it count once."""
    state = dict(known)
    news: list[tuple[Sighting, Decision]] = []
    for sight in sorted(sightings, key=lambda s: (s.last_update, s.order_id)):
        decision = decide(state.get(sight.order_id), sight.status, sight.last_update)
        state[sight.order_id] = decision.state
        if decision.change is not Change.NONE:
            news.append((sight, decision))
    return state, news


def sighting(order: Json) -> Sighting:
    """The identity, status and LastUpdateDate of an Orders v0 `Order` (the fields Amazon always sends)."""
    order_id, status = order.get("AmazonOrderId"), order.get("OrderStatus")
    if not isinstance(order_id, str) or not order_id or not isinstance(status, str) or not status:
        raise UnreadableOrder("an order without AmazonOrderId or OrderStatus")
    return Sighting(order_id, status, parse_amazon_time(order.get("LastUpdateDate")))


# ---------------------------------------------------------------- Amazon order JSON -> events


def money(value: object) -> Money | None:
    """Orders v0 `Money` ({CurrencyCode, Amount: decimal string}) as our Money; absent or empty is None."""
    if not isinstance(value, Mapping) or value.get("Amount") in (None, "") or not value.get("CurrencyCode"):
        return None
    try:
        amount = Decimal(str(value["Amount"]))
    except InvalidOperation as exc:
        raise UnreadableOrder(f"not an amount: {value['Amount']!r}") from exc
    return Money(amount=amount, currency=str(value["CurrencyCode"]))


def order_line(item: Json, currency: str) -> OrderLine:
    """One OrderItem. Amazon's ItemPrice is the line's price (unit price times quantity); it is kept as such."""
    try:
        item_id, asin, quantity = str(item["OrderItemId"]), str(item["ASIN"]), int(item["QuantityOrdered"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UnreadableOrder(f"an order item without {exc}") from exc
    return OrderLine(
        order_item_id=item_id, sku=str(item.get("SellerSKU") or ""), asin=asin, quantity=quantity,
        item_price=money(item.get("ItemPrice")) or Money(amount=Decimal(0), currency=currency),
        item_tax=money(item.get("ItemTax")), shipping_price=money(item.get("ShippingPrice")))


def fulfillment(order: Json) -> FulfillmentBy:
    return FulfillmentBy.AFN if order.get("FulfillmentChannel") == "AFN" else FulfillmentBy.MFN


def buyer_email(buyer: object) -> str | None:
    """The (anonymised) BuyerEmail of an Order's BuyerInfo (restricted data)."""
    email = buyer.get("BuyerEmail") if isinstance(buyer, Mapping) else None
    return email if isinstance(email, str) and email else None


def shipping_address(address: object) -> Address | None:
    """An Order's whole ShippingAddress (restricted data) as our Address."""
    if not isinstance(address, Mapping):
        return None
    lines = [address.get(k) for k in ("AddressLine2", "AddressLine3") if address.get(k)]
    return Address(name=address.get("Name"), line1=address.get("AddressLine1"),
                   line2=", ".join(lines) or None, city=address.get("City"), region=address.get("StateOrRegion"),
                   postal_code=address.get("PostalCode"), country_code=address.get("CountryCode"),
                   phone=address.get("Phone"))


def order_placed(order: Json, items: list[Json], *, account_id: str, marketplace_id: str, producer: str,
                 buyer_data: bool = False) -> OrderPlaced:
    """An OrderPlaced from getOrders' Order and getOrderItems' items.

    `buyer_data` says the order was read with a Restricted Data Token for buyerInfo and shippingAddress
    (accounts with the PII role): only then are its BuyerInfo e-mail and ShippingAddress copied. Without
    it the order carries just the open part of the address (city, postal code), which is never copied.
    """
    sight = sighting(order)
    total = money(order.get("OrderTotal"))
    currency = total.currency if total else MARKETPLACE_CURRENCY.get(
        str(order.get("MarketplaceId") or marketplace_id), "USD")
    return OrderPlaced.new(
        producer=producer, account_id=account_id, marketplace_id=str(order.get("MarketplaceId") or marketplace_id),
        amazon_order_id=sight.order_id, purchase_date=parse_amazon_time(order.get("PurchaseDate")),
        order_status=sight.status, fulfillment=fulfillment(order), order_total=total,
        lines=[order_line(i, currency) for i in items],
        buyer_email=buyer_email(order.get("BuyerInfo")) if buyer_data else None,
        shipping_address=shipping_address(order.get("ShippingAddress")) if buyer_data else None)


def order_status_changed(order: Json, previous_status: str | None, *, account_id: str, marketplace_id: str,
                         producer: str, buyer_data: bool = False,
                         announced: Announced = Announced()) -> OrderStatusChanged:
    """An OrderStatusChanged from getOrders' Order.

    With `buyer_data` (read with the Restricted Data Token) the change carries the buyer e-mail and whole
    address the order now shows when any of it was not `announced` before (an order first seen Pending, whose
    address Amazon gave only once paid): all of it, so the buyer's record arrives whole. Otherwise none.
    """
    sight = sighting(order)
    email = buyer_email(order.get("BuyerInfo")) if buyer_data else None
    address = shipping_address(order.get("ShippingAddress")) if buyer_data else None
    revealed = (email is not None and not announced.email) or (address is not None and not announced.address)
    return OrderStatusChanged.new(
        producer=producer, account_id=account_id, marketplace_id=str(order.get("MarketplaceId") or marketplace_id),
        amazon_order_id=sight.order_id, previous_status=previous_status, order_status=sight.status,
        last_update_date=sight.last_update, buyer_email=email if revealed else None,
        shipping_address=address if revealed else None)


# ---------------------------------------------------------------- confirmShipment


def package_reference(request_id: uuid.UUID) -> str:
    """A positive numeric packageReferenceId that is the same for every send of one request.

    Sending the same confirmation again (a retry after a lost answer) then names the same package.
    """
    return str(request_id.int % 10**15 + 1)


def confirm_shipment_body(request: ShipmentConfirmRequested) -> Json:
    """The ConfirmShipmentRequest for a ShipmentConfirmRequested."""
    package: Json = {
        "packageReferenceId": package_reference(request.event_id),
        "carrierCode": request.carrier_code,
        "trackingNumber": request.tracking_number,
        "shipDate": amazon_time(request.ship_date),
        "orderItems": [{"orderItemId": item_id, "quantity": quantity}
                       for item_id, quantity in sorted(request.items.items())],
    }
    if request.carrier_name:
        package["carrierName"] = request.carrier_name
    if request.shipping_method:
        package["shippingMethod"] = request.shipping_method
    return {"marketplaceId": request.marketplace_id, "packageDetail": package}


class InvalidAction(ValueError):
    """A request Amazon would refuse before any call (no items, quantities below one)."""


def check_shipment(request: ShipmentConfirmRequested) -> None:
    if not request.items:
        raise InvalidAction("a shipment confirmation needs at least one order item")
    if any(q < 1 for q in request.items.values()):
        raise InvalidAction("every shipped quantity must be at least 1")
    if request.carrier_code == "Other" and not request.carrier_name:
        raise InvalidAction("carrierCode Other needs a carrier_name")


def rejection(code: str, message: str) -> list[AmazonIssue]:
    return [AmazonIssue(code=code, message=message, severity="ERROR")]


# ---------------------------------------------------------------- cancellation feed


@dataclass(frozen=True)
class Cancellation:
    """One message of the acknowledgement feed: cancel every item of an order for one reason."""

    message_id: int
    amazon_order_id: str
    order_item_ids: tuple[str, ...]
    reason: str

    @classmethod
    def of(cls, message_id: int, request: OrderCancelRequested, order_item_ids: Iterable[str]) -> Cancellation:
        return cls(message_id, request.amazon_order_id, tuple(order_item_ids), request.reason_code)


def cancellation_feed(seller_id: str, cancellations: Iterable[Cancellation]) -> bytes:
    """POST_ORDER_ACKNOWLEDGEMENT_DATA: StatusCode Failure with a CancelReason on every item cancels the order."""
    messages = []
    for c in cancellations:
        if not c.order_item_ids:
            raise InvalidAction(f"order {c.amazon_order_id} has no items to cancel")
        items = "".join(
            f"<Item><AmazonOrderItemCode>{escape(i)}</AmazonOrderItemCode>"
            f"<CancelReason>{escape(c.reason)}</CancelReason></Item>" for i in c.order_item_ids)
        messages.append(
            f"<Message><MessageID>{c.message_id}</MessageID><OrderAcknowledgement>"
            f"<AmazonOrderID>{escape(c.amazon_order_id)}</AmazonOrderID><StatusCode>Failure</StatusCode>"
            f"{items}</OrderAcknowledgement></Message>")
    if not messages:
        raise InvalidAction("a feed needs at least one message")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<AmazonEnvelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:noNamespaceSchemaLocation="amzn-envelope.xsd">'
        f"<Header><DocumentVersion>1.01</DocumentVersion><MerchantIdentifier>{escape(seller_id)}"
        "</MerchantIdentifier></Header><MessageType>OrderAcknowledgement</MessageType>"
        + "".join(messages) + "</AmazonEnvelope>").encode("utf-8")


@dataclass(frozen=True)
class FeedReport:
    """A processing report: Amazon's issues per MessageID (0: about the whole feed)."""

    issues: dict[int, list[AmazonIssue]]
    processed: int

    def outcome(self, message_id: int, fatal: bool) -> list[AmazonIssue]:
        """Amazon's issues about this message: any ERROR among them means the action was rejected.

        A FATAL feed applied nothing, so every message is rejected, with the feed's own issues when the
        message has none.
        """
        own = self.issues.get(message_id, [])
        if fatal and not any(i.severity == "ERROR" for i in own):
            return own + (self.issues.get(0) or rejection("FeedFatal", "Amazon could not process the feed"))
        return own


def parse_processing_report(content: bytes) -> FeedReport:
    """Amazon's XML ProcessingReport: Result entries per MessageID with ResultCode Error or Warning."""
    try:
        root = ET.fromstring(content)
    except ET.ParseError as exc:
        raise UnreadableReport(f"the processing report is not XML: {exc}") from exc
    report = root.find("Message/ProcessingReport")
    if root.tag != "AmazonEnvelope" or report is None:
        raise UnreadableReport("the processing report has no Message/ProcessingReport")
    issues: dict[int, list[AmazonIssue]] = {}
    for result in report.findall("Result"):
        raw_id = (result.findtext("MessageID") or "0").strip()
        message_id = int(raw_id) if raw_id.isdigit() else 0
        severity = "ERROR" if (result.findtext("ResultCode") or "").strip() == "Error" else "WARNING"
        issues.setdefault(message_id, []).append(AmazonIssue(
            code=(result.findtext("ResultMessageCode") or "unknown").strip(),
            message=(result.findtext("ResultDescription") or "").strip() or "no description", severity=severity))
    processed = (report.findtext("ProcessingSummary/MessagesProcessed") or "0").strip()
    return FeedReport(issues, int(processed) if processed.isdigit() else 0)
