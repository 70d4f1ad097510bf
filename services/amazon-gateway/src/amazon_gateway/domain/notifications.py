"""Amazon's SP-API notifications read into the platform's events: parsing and mapping only, no I/O.

A notification arrives as the JSON Amazon publishes (the SQS message body, or an HTTP push of the
same document). Both envelope casings exist (PascalCase for ANY_OFFER_CHANGED, ORDER_CHANGE and
LISTINGS_ITEM_*; camelCase for a few newer types), so every field is looked up under either.
Amounts in notifications are JSON numbers: the body is parsed with `parse_float=Decimal` so no
price ever passes through a float.

Anything that cannot be read raises `NotificationRejected` with a code (`NotJson`,
`InvalidShape`, `UnknownSeller`, `UnsupportedType`) and a message naming the field, so the
caller can keep the body and report it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from contracts.events import (
    AmazonIssue,
    AmazonListingObserved,
    FulfillmentChannel,
    OfferPriceObserved,
)
from contracts.money import Money

ANY_OFFER_CHANGED = "ANY_OFFER_CHANGED"
LISTINGS_ITEM_STATUS_CHANGE = "LISTINGS_ITEM_STATUS_CHANGE"
LISTINGS_ITEM_ISSUES_CHANGE = "LISTINGS_ITEM_ISSUES_CHANGE"
ORDER_CHANGE = "ORDER_CHANGE"
# The vendored LISTINGS_ITEM_STATUS_CHANGE schema spells its type with a trailing D; accept both.
_TYPE_ALIASES = {"LISTINGS_ITEM_STATUS_CHANGED": LISTINGS_ITEM_STATUS_CHANGE}
HANDLED_TYPES = frozenset({ANY_OFFER_CHANGED, LISTINGS_ITEM_STATUS_CHANGE, LISTINGS_ITEM_ISSUES_CHANGE, ORDER_CHANGE})

NOT_JSON = "NotJson"
INVALID_SHAPE = "InvalidShape"
UNKNOWN_SELLER = "UnknownSeller"
UNSUPPORTED_TYPE = "UnsupportedType"

_EVENT_IDS = uuid.UUID("6f1c3f0e-2d55-4a57-9c1e-6a8f2b1e7d40")
_ZERO = Decimal(0)
_AMAZON = FulfillmentChannel.AMAZON
_MERCHANT = FulfillmentChannel.MERCHANT


class NotificationRejected(Exception):
    """A notification the gateway cannot turn into events; `code` says why, `message` where."""

    def __init__(self, code: str, message: str, *, notification_type: str | None = None,
                 notification_id: str | None = None, account_id: str | None = None,
                 marketplace_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.notification_type = notification_type
        self.notification_id = notification_id
        self.account_id = account_id
        self.marketplace_id = marketplace_id


@dataclass(frozen=True, slots=True)
class Notification:
    notification_id: str
    notification_type: str
    payload_version: str | None
    event_time: str | None
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SellerAccount:
    """What mapping needs to know of one configured account."""

    account_id: str
    seller_id: str
    marketplace_ids: tuple[str, ...] = ()


class Sellers:
    """Configured accounts by Amazon seller id: a notification names the seller, events name the account."""

    def __init__(self, accounts: Iterable[SellerAccount]) -> None:
        self._by_seller: dict[str, list[SellerAccount]] = {}
        for account in accounts:
            self._by_seller.setdefault(account.seller_id, []).append(account)

    def account(self, seller_id: str, marketplace_id: str | None) -> SellerAccount:
        """The account of `seller_id` that sells in `marketplace_id` (the first one when none says so)."""
        candidates = self._by_seller.get(seller_id)
        if not candidates:
            raise NotificationRejected(UNKNOWN_SELLER, f"seller {seller_id} is not a configured account",
                                       marketplace_id=marketplace_id)
        if marketplace_id is not None:
            for account in candidates:
                if marketplace_id in account.marketplace_ids:
                    return account
        return candidates[0]


# ---------------------------------------------------------------- envelope


_CAMEL: dict[str, str] = {}


def _get(obj: Mapping[str, Any], pascal: str) -> Any:
    """A field under its PascalCase name or the camelCase one."""
    value = obj.get(pascal)
    if value is None:
        camel = _CAMEL.get(pascal)
        if camel is None:
            camel = _CAMEL[pascal] = pascal[0].lower() + pascal[1:]
        value = obj.get(camel)
    return value


def _require(obj: Any, name: str, path: str, kind: type) -> Any:
    value = _get(obj, name) if isinstance(obj, dict) else None
    if value is None:
        raise NotificationRejected(INVALID_SHAPE, f"{path}{name} is missing")
    if not isinstance(value, kind):
        raise NotificationRejected(INVALID_SHAPE, f"{path}{name} has the wrong type ({type(value).__name__})")
    return value


def parse(body: bytes | str) -> Notification:
    """The envelope of one notification document; raises NotificationRejected when it is not one."""
    try:
        doc = json.loads(body, parse_float=Decimal)
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotificationRejected(NOT_JSON, f"the body is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise NotificationRejected(INVALID_SHAPE, f"the body is a JSON {type(doc).__name__}, not an object")
    kind = _require(doc, "NotificationType", "", str)
    kind = _TYPE_ALIASES.get(kind, kind)
    try:
        metadata = _require(doc, "NotificationMetadata", "", dict)
        notification_id = _require(metadata, "NotificationId", "NotificationMetadata.", str)
        payload = _require(doc, "Payload", "", dict)
    except NotificationRejected as exc:
        exc.notification_type = kind
        raise
    version = _get(doc, "PayloadVersion")
    event_time = _get(doc, "EventTime")
    return Notification(notification_id, kind, version if isinstance(version, str) else None,
                        event_time if isinstance(event_time, str) else None, payload)


def event_id(notification: Notification, account_id: str) -> uuid.UUID:
    """The same notification always yields the same event id, so a copy that slips past the
    gateway's dedup is still dropped by every consumer's inbox."""
    return uuid.uuid5(_EVENT_IDS, f"{notification.notification_id}|{account_id}")


def _time(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise NotificationRejected(INVALID_SHAPE, f"{path} is missing")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise NotificationRejected(INVALID_SHAPE, f"{path} is not an ISO 8601 time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise NotificationRejected(INVALID_SHAPE, f"{path} has no time zone: {value!r}")
    return parsed


def _rejecting(notification: Notification, exc: NotificationRejected, account: SellerAccount | None = None,
               marketplace_id: str | None = None) -> NotificationRejected:
    exc.notification_type = notification.notification_type
    exc.notification_id = notification.notification_id
    exc.account_id = exc.account_id or (account.account_id if account else None)
    exc.marketplace_id = exc.marketplace_id or marketplace_id
    return exc


# ---------------------------------------------------------------- ANY_OFFER_CHANGED


def money(obj: Any, path: str) -> Money:
    """A notification money object `{Amount: number, CurrencyCode}` as Decimal Money."""
    return Money(**_money_fields(obj, path))


def _money_fields(obj: Any, path: str) -> dict[str, Any]:
    """The fields of Money, checked here so a bad amount is reported with its path in the notification."""
    if type(obj) is not dict:
        raise NotificationRejected(INVALID_SHAPE, f"{path} is missing")
    currency = obj.get("CurrencyCode")  # money objects are PascalCase in every notification that has them
    if type(currency) is not str or len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise NotificationRejected(INVALID_SHAPE, f"{path}.CurrencyCode is not an ISO 4217 code: {currency!r}")
    return {"amount": _amount(obj.get("Amount"), path), "currency": currency}


def _amount(value: Any, path: str) -> Decimal:
    kind = type(value)
    if kind is Decimal:
        if value.is_finite():
            return value  # type: ignore[no-any-return]
    elif kind is int:
        return Decimal(value)
    elif kind is float:  # a document parsed elsewhere; its shortest repr is what was sent
        return _amount(Decimal(repr(value)), path)
    raise NotificationRejected(INVALID_SHAPE, f"{path}.Amount is not a number")


def landed_price(entry: Mapping[str, Any], path: str) -> Money:
    """An entry's LandedPrice, else ListingPrice + Shipping - Points (a point is worth one currency unit,
    as in Amazon Japan, the marketplace that has them)."""
    given = _get(entry, "LandedPrice")
    if given is not None:
        return money(given, f"{path}.LandedPrice")
    listing = money(_get(entry, "ListingPrice"), f"{path}.ListingPrice")
    shipping_raw = _get(entry, "Shipping")
    shipping = money(shipping_raw, f"{path}.Shipping").amount if shipping_raw is not None else _ZERO
    points = _points(entry)
    return Money(amount=listing.amount + shipping - points, currency=listing.currency)


def _points(entry: Mapping[str, Any]) -> Decimal:
    points = _get(entry, "Points")
    number = _get(points, "PointsNumber") if isinstance(points, dict) else None
    return Decimal(number) if isinstance(number, int) and not isinstance(number, bool) else _ZERO


def _same_condition(entry: Mapping[str, Any], condition: str) -> bool:
    value = _get(entry, "Condition")
    return isinstance(value, str) and value.lower() == condition


def _lowest(entries: Any, condition: str, path: str) -> Money | None:
    """The lowest landed price among the summary entries of the trigger's condition."""
    if entries is None:
        return None
    if not isinstance(entries, list):
        raise NotificationRejected(INVALID_SHAPE, f"{path} is not a list")
    best: Money | None = None
    for i, entry in enumerate(entries):
        if type(entry) is dict and _same_condition(entry, condition):
            landed = landed_price(entry, f"{path}[{i}]")
            if best is None or landed.amount < best.amount:
                best = landed
    return best


def feedback_rating(value: Any) -> int | None:
    """Amazon's positive-feedback percentage as the contract's whole percent (half up, within 0..100).

    The vendored schema types it as an integer but real payloads carry fractions such as 98.5."""
    if type(value) is int:
        return value if 0 <= value <= 100 else max(0, min(100, value))
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        return None
    percent = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not percent.is_finite():
        return None
    return max(0, min(100, int(percent.quantize(Decimal(1), rounding=ROUND_HALF_UP))))


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def offer(entry: Any, condition: str, our_seller_id: str, path: str) -> dict[str, Any]:
    """One entry of `Offers[]` as the fields of an Offer, validated once with the whole event; its
    condition is the trigger's, its grade the entry's SubCondition. ANY_OFFER_CHANGED is PascalCase
    throughout, so fields are read directly: this runs twenty times per notification on the hot path."""
    if type(entry) is not dict:
        raise NotificationRejected(INVALID_SHAPE, f"{path} is not an object")
    seller_id = entry.get("SellerId")
    if type(seller_id) is not str:
        raise NotificationRejected(INVALID_SHAPE, f"{path}.SellerId is missing")
    listing_price = _money_fields(entry.get("ListingPrice"), f"{path}.ListingPrice")
    shipping_raw = entry.get("Shipping")
    shipping = (_money_fields(shipping_raw, f"{path}.Shipping") if shipping_raw is not None
                else {"amount": _ZERO, "currency": listing_price["currency"]})
    sub = entry.get("SubCondition")
    feedback = entry.get("SellerFeedbackRating")
    rating = count = None
    if type(feedback) is dict:
        rating = feedback_rating(feedback.get("SellerPositiveFeedbackRating"))
        count = _count(feedback.get("FeedbackCount"))
    prime = entry.get("PrimeInformation")
    return {
        "seller_id": seller_id,
        "is_ours": seller_id == our_seller_id,
        "condition": condition,
        "sub_condition": sub.lower() if type(sub) is str and sub else None,
        "fulfillment_channel": _AMAZON if entry.get("IsFulfilledByAmazon") is True else _MERCHANT,
        "listing_price": listing_price,
        "shipping": shipping,
        "feedback_rating": rating,
        "feedback_count": count,
        "is_buy_box_winner": entry.get("IsBuyBoxWinner") is True,
        "is_prime": type(prime) is dict and prime.get("IsOfferPrime") is True,
    }


def offer_price_observed(notification: Notification, sellers: Sellers, producer: str) -> OfferPriceObserved:
    """ANY_OFFER_CHANGED as OfferPriceObserved: every offer kept in Amazon's order, ours marked."""
    marketplace_id: str | None = None
    account: SellerAccount | None = None
    try:
        body = _require(notification.payload, "AnyOfferChangedNotification", "Payload.", dict)
        seller_id = _require(body, "SellerId", "Payload.AnyOfferChangedNotification.", str)
        trigger = _require(body, "OfferChangeTrigger", "Payload.AnyOfferChangedNotification.", dict)
        at = "Payload.AnyOfferChangedNotification.OfferChangeTrigger."
        marketplace_id = _require(trigger, "MarketplaceId", at, str)
        asin = _require(trigger, "ASIN", at, str)
        condition = _require(trigger, "ItemCondition", at, str).lower()
        observed_at = _time(_get(trigger, "TimeOfOfferChange") or notification.event_time,
                            at + "TimeOfOfferChange")
        account = sellers.account(seller_id, marketplace_id)
        summary = _get(body, "Summary")
        summary = summary if isinstance(summary, Mapping) else {}
        raw_offers = _get(body, "Offers")
        if raw_offers is None:
            raw_offers = []
        if not isinstance(raw_offers, list):
            raise NotificationRejected(INVALID_SHAPE, "Payload.AnyOfferChangedNotification.Offers is not a list")
        offers = [offer(o, condition, seller_id, f"Payload.AnyOfferChangedNotification.Offers[{i}]")
                  for i, o in enumerate(raw_offers)]
        return OfferPriceObserved.new(
            producer=producer, event_id=event_id(notification, account.account_id),
            marketplace_id=marketplace_id, asin=asin, account_id=account.account_id, observed_at=observed_at,
            lowest_landed_price=_lowest(_get(summary, "LowestPrices"), condition, "Summary.LowestPrices"),
            buy_box_landed_price=_lowest(_get(summary, "BuyBoxPrices"), condition, "Summary.BuyBoxPrices"),
            offers=offers)
    except NotificationRejected as exc:
        raise _rejecting(notification, exc, account, marketplace_id) from None
    except ValueError as exc:  # the contract refuses a value, e.g. an empty ASIN
        raise _rejecting(notification, NotificationRejected(INVALID_SHAPE, _first_error(exc)), account,
                         marketplace_id) from None


# ---------------------------------------------------------------- LISTINGS_ITEM_*


@dataclass(frozen=True, slots=True)
class ListingRef:
    account_id: str
    seller_id: str
    marketplace_id: str
    sku: str
    asin: str | None


def _listing_ref(notification: Notification, sellers: Sellers) -> ListingRef:
    payload = notification.payload
    seller_id = _require(payload, "SellerId", "Payload.", str)
    sku = _require(payload, "Sku", "Payload.", str)
    marketplace_id = _get(payload, "MarketplaceId")
    if marketplace_id is not None and not isinstance(marketplace_id, str):
        raise NotificationRejected(INVALID_SHAPE, "Payload.MarketplaceId has the wrong type")
    account = sellers.account(seller_id, marketplace_id)
    if marketplace_id is None:
        if len(account.marketplace_ids) != 1:
            raise NotificationRejected(INVALID_SHAPE, "Payload.MarketplaceId is missing and the account sells in "
                                       f"{len(account.marketplace_ids)} marketplaces", account_id=account.account_id)
        marketplace_id = account.marketplace_ids[0]
    asin = _get(payload, "Asin")
    return ListingRef(account.account_id, seller_id, marketplace_id, sku, asin if isinstance(asin, str) else None)


def _strings(value: Any, path: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise NotificationRejected(INVALID_SHAPE, f"{path} is not a list of strings")
    return [v.upper() for v in value]


def listing_status_observed(notification: Notification, sellers: Sellers, producer: str) -> AmazonListingObserved:
    """LISTINGS_ITEM_STATUS_CHANGE: the statuses that now apply (one absent from Status[] does not)."""
    try:
        ref = _listing_ref(notification, sellers)
        status = _strings(_require(notification.payload, "Status", "Payload.", list), "Payload.Status")
        return AmazonListingObserved.new(
            producer=producer, event_id=event_id(notification, ref.account_id), account_id=ref.account_id,
            marketplace_id=ref.marketplace_id, sku=ref.sku, asin=ref.asin, status=status,
            source="status_notification")
    except NotificationRejected as exc:
        raise _rejecting(notification, exc) from None
    except ValueError as exc:  # the contract refuses it, e.g. a SKU longer than 40 characters
        raise _rejecting(notification, NotificationRejected(INVALID_SHAPE, _first_error(exc))) from None


@dataclass(frozen=True, slots=True)
class IssuesChange:
    """LISTINGS_ITEM_ISSUES_CHANGE carries only severities and enforcement actions; the issues
    themselves are read with getListingsItem(includedData=issues)."""

    notification: Notification
    listing: ListingRef
    severities: tuple[str, ...]
    enforcement_actions: tuple[str, ...]


def issues_change(notification: Notification, sellers: Sellers) -> IssuesChange:
    try:
        ref = _listing_ref(notification, sellers)
        payload = notification.payload
        return IssuesChange(notification, ref, tuple(_strings(_get(payload, "Severities"), "Payload.Severities")),
                            tuple(_strings(_get(payload, "EnforcementActions"), "Payload.EnforcementActions")))
    except NotificationRejected as exc:
        raise _rejecting(notification, exc) from None


_SEVERITIES = {"ERROR", "WARNING", "INFO"}


def listing_issues(item: Mapping[str, Any] | None) -> list[AmazonIssue]:
    """The `issues` of a getListingsItem answer as AmazonIssue (an issue of unknown severity counts as INFO)."""
    out = []
    for raw in (item or {}).get("issues") or []:
        if not isinstance(raw, Mapping):
            continue
        severity = str(raw.get("severity", "")).upper()
        names = raw.get("attributeNames")
        out.append(AmazonIssue(code=str(raw.get("code", "")), message=str(raw.get("message", "")),
                               severity=severity if severity in _SEVERITIES else "INFO",  # type: ignore[arg-type]
                               attribute_names=[str(n) for n in names] if isinstance(names, list) else []))
    return out


def listing_statuses(item: Mapping[str, Any] | None, marketplace_id: str) -> tuple[list[str], str | None]:
    """Status and ASIN from a getListingsItem answer's summary for the marketplace."""
    for summary in (item or {}).get("summaries") or []:
        if isinstance(summary, Mapping) and summary.get("marketplaceId") == marketplace_id:
            status = summary.get("status")
            asin = summary.get("asin")
            return ([str(s) for s in status] if isinstance(status, list) else [],
                    asin if isinstance(asin, str) else None)
    return [], None


def listing_issues_observed(change: IssuesChange, item: Mapping[str, Any] | None,
                            producer: str) -> AmazonListingObserved:
    """The issues notification completed with the listing Amazon holds (None: the SKU is gone)."""
    ref = change.listing
    status, asin = listing_statuses(item, ref.marketplace_id)
    return AmazonListingObserved.new(
        producer=producer, event_id=event_id(change.notification, ref.account_id), account_id=ref.account_id,
        marketplace_id=ref.marketplace_id, sku=ref.sku, asin=asin or ref.asin, status=status,
        issues=listing_issues(item), source="issues_notification")


# ---------------------------------------------------------------- ORDER_CHANGE


@dataclass(frozen=True, slots=True)
class OrderChange:
    account_id: str
    amazon_order_id: str
    marketplace_id: str | None
    order_status: str | None
    change_type: str | None


def order_change(notification: Notification, sellers: Sellers) -> OrderChange:
    """ORDER_CHANGE names the order only (no PII): the order poller fetches it."""
    try:
        body = _require(notification.payload, "OrderChangeNotification", "Payload.", dict)
        seller_id = _require(body, "SellerId", "Payload.OrderChangeNotification.", str)
        order_id = _require(body, "AmazonOrderId", "Payload.OrderChangeNotification.", str)
        summary = _get(body, "Summary")
        summary = summary if isinstance(summary, Mapping) else {}
        marketplace_id = _get(summary, "MarketplaceId")
        marketplace_id = marketplace_id if isinstance(marketplace_id, str) else None
        account = sellers.account(seller_id, marketplace_id)
        status = _get(summary, "OrderStatus")
        change_type = _get(body, "OrderChangeType")
        return OrderChange(account.account_id, order_id, marketplace_id, status if isinstance(status, str) else None,
                           change_type if isinstance(change_type, str) else None)
    except NotificationRejected as exc:
        raise _rejecting(notification, exc) from None


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first.get('loc', ()))}: {first.get('msg')}"
    return str(exc)


def unsupported(notification: Notification) -> NotificationRejected:
    return NotificationRejected(UNSUPPORTED_TYPE, f"notification type {notification.notification_type} is not handled",
                                notification_type=notification.notification_type,
                                notification_id=notification.notification_id)
