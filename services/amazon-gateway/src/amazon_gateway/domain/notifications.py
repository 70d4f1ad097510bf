"""Amazon's SP-API notifications read into the platform's events: parsing and mapping only, no I/O.

A notification arrives as the JSON Amazon publishes (the SQS message body, or an HTTP push of the
same document). Both envelope casings exist (PascalCase for ANY_OFFER_CHANGED, ORDER_CHANGE and
LISTINGS_ITEM_*; camelCase for a few newer types), so every field is looked up under either.
Amounts in notifications are JSON numbers: the body is parsed with `parse_float=Decimal` so no
price ever passes through a float.

Everything read is checked before it becomes an event: every amount is a finite Decimal from 0 to
`MAX_AMOUNT` with at most `EXTRA_PLACES` decimal places beyond its currency's minor unit, in an
ISO 4217 currency shared by every amount of the notification; every time is an ISO 8601 date-time
with a zone (or Z), not before `EARLIEST_TIME` and not later than `CLOCK_SKEW` after the
notification was received; identifiers are non-empty strings.

Anything that cannot be read raises `NotificationRejected` with a code (`NotJson`,
`InvalidShape` for a missing field or one of the wrong type, `InvalidValue` for a value out of
bounds, `UnknownSeller`, `UnsupportedType`) and a message starting with the field's path, so the
caller can keep the body and report it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from contracts.events import (
    AmazonIssue,
    AmazonListingObserved,
    FulfillmentChannel,
    OfferPriceObserved,
)
from contracts.money import Money, minor_unit

ANY_OFFER_CHANGED = "ANY_OFFER_CHANGED"
LISTINGS_ITEM_STATUS_CHANGE = "LISTINGS_ITEM_STATUS_CHANGE"
LISTINGS_ITEM_ISSUES_CHANGE = "LISTINGS_ITEM_ISSUES_CHANGE"
ORDER_CHANGE = "ORDER_CHANGE"
# The vendored LISTINGS_ITEM_STATUS_CHANGE schema spells its type with a trailing D; accept both.
_TYPE_ALIASES = {"LISTINGS_ITEM_STATUS_CHANGED": LISTINGS_ITEM_STATUS_CHANGE}
HANDLED_TYPES = frozenset({ANY_OFFER_CHANGED, LISTINGS_ITEM_STATUS_CHANGE, LISTINGS_ITEM_ISSUES_CHANGE, ORDER_CHANGE})

NOT_JSON = "NotJson"
INVALID_SHAPE = "InvalidShape"
INVALID_VALUE = "InvalidValue"
UNKNOWN_SELLER = "UnknownSeller"
UNSUPPORTED_TYPE = "UnsupportedType"

_EVENT_IDS = uuid.UUID("6f1c3f0e-2d55-4a57-9c1e-6a8f2b1e7d40")
_ZERO = Decimal(0)

MAX_AMOUNT = Decimal(1_000_000_000)
EXTRA_PLACES = 2
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=15)
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"
                        r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)")
# ISO 4217's current codes, less funds, precious metals and testing codes.
CURRENCIES = frozenset("""
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
    CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP
    GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD
    KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK
    NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS
    SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST
    XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
""".split())
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
    received_at: datetime | None = None  # the bound for times in it; None: no bound


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


def _identifier(obj: Any, name: str, path: str) -> str:
    """A required string that says something: present, a string, not blank."""
    value: str = _require(obj, name, path, str)
    if not value.strip():
        raise NotificationRejected(INVALID_VALUE, f"{path}{name}: must not be empty")
    return value


def _optional_identifier(obj: Mapping[str, Any], name: str, path: str) -> str | None:
    value = _get(obj, name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise NotificationRejected(INVALID_VALUE, f"{path}{name}: must be a non-empty string, not {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    """A value as a reason quotes it: short, whatever the sender put there."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse(body: bytes | str, received_at: datetime | None = None) -> Notification:
    """The envelope of one notification document; raises NotificationRejected when it is not one.

    `received_at` (aware) bounds every time read from it: none may lie more than CLOCK_SKEW after it."""
    try:
        doc = json.loads(body, parse_float=Decimal)
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotificationRejected(NOT_JSON, f"the body is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise NotificationRejected(INVALID_SHAPE, f"the body is a JSON {type(doc).__name__}, not an object")
    kind = _require(doc, "NotificationType", "", str)
    kind = _TYPE_ALIASES.get(kind, kind)
    notification_id: str | None = None
    try:
        metadata = _require(doc, "NotificationMetadata", "", dict)
        notification_id = _identifier(metadata, "NotificationId", "NotificationMetadata.")
        payload = _require(doc, "Payload", "", dict)
        event_time = _get(doc, "EventTime")
        if event_time is not None:
            _time(event_time, "EventTime", received_at)
        publish_time = _get(metadata, "PublishTime")
        if publish_time is not None:
            _time(publish_time, "NotificationMetadata.PublishTime", received_at)
    except NotificationRejected as exc:
        exc.notification_type = kind
        exc.notification_id = notification_id
        raise
    version = _get(doc, "PayloadVersion")
    return Notification(notification_id, kind, version if isinstance(version, str) else None, event_time, payload,
                        received_at)


def event_id(notification: Notification, account_id: str) -> uuid.UUID:
    """The same notification always yields the same event id, so a copy that slips past the
    gateway's dedup is still dropped by every consumer's inbox."""
    return uuid.uuid5(_EVENT_IDS, f"{notification.notification_id}|{account_id}")


def _time(value: Any, path: str, received_at: datetime | None) -> datetime:
    """An ISO 8601 date-time with a zone (or Z), from EARLIEST_TIME to CLOCK_SKEW after `received_at`."""
    if value is None:
        raise NotificationRejected(INVALID_SHAPE, f"{path} is missing")
    parsed = None
    if isinstance(value, str) and _DATE_TIME.fullmatch(value):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:  # a month 13 or an hour 25
            parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise NotificationRejected(INVALID_VALUE, f"{path}: must be an ISO 8601 date-time with a time zone or Z, "
                                   f"not {_shown(value)}")
    if parsed < EARLIEST_TIME:
        raise NotificationRejected(INVALID_VALUE, f"{path}: must not be before {EARLIEST_TIME:%Y-%m-%d}, "
                                   f"not {_shown(value)}")
    if received_at is not None and parsed > received_at + CLOCK_SKEW:
        raise NotificationRejected(
            INVALID_VALUE, f"{path}: must not be later than {int(CLOCK_SKEW.total_seconds() // 60)} minutes after "
            f"the notification was received ({received_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}), not {_shown(value)}")
    return parsed


def _rejecting(notification: Notification, exc: NotificationRejected, account: SellerAccount | None = None,
               marketplace_id: str | None = None) -> NotificationRejected:
    exc.notification_type = notification.notification_type
    exc.notification_id = notification.notification_id
    exc.account_id = exc.account_id or (account.account_id if account else None)
    exc.marketplace_id = exc.marketplace_id or marketplace_id
    return exc


# ---------------------------------------------------------------- ANY_OFFER_CHANGED


def money(obj: Any, path: str, currency: str | None = None) -> Money:
    """A notification money object `{Amount: number, CurrencyCode}` as Decimal Money (in `currency`, when given)."""
    return Money(**_money_fields(obj, path, currency))


def _money_fields(obj: Any, path: str, currency: str | None = None) -> dict[str, Any]:
    """The fields of Money, checked here so a bad amount is reported with its path in the notification."""
    if type(obj) is not dict:
        raise NotificationRejected(INVALID_SHAPE, f"{path} is missing" if obj is None else f"{path} is not an object")
    code = obj.get("CurrencyCode")  # money objects are PascalCase in every notification that has them
    if type(code) is not str or code not in CURRENCIES:
        raise NotificationRejected(INVALID_VALUE, f"{path}.CurrencyCode: must be an ISO 4217 currency code, "
                                   f"not {_shown(code)}")
    if currency is not None and code != currency:
        raise NotificationRejected(INVALID_VALUE, f"{path}.CurrencyCode: must be {currency} like the "
                                   f"notification's other amounts, not {code}")
    return {"amount": _amount(obj.get("Amount"), path, code), "currency": code}


def _amount(value: Any, path: str, currency: str) -> Decimal:
    """A finite amount from 0 to MAX_AMOUNT with at most EXTRA_PLACES decimal places beyond the currency's."""
    kind = type(value)
    if kind is Decimal:
        amount: Decimal = value
    elif kind is int:
        amount = Decimal(value)
    elif kind is float:  # a document parsed elsewhere; its shortest repr is what was sent
        amount = Decimal(repr(value))
    elif value is None:
        raise NotificationRejected(INVALID_SHAPE, f"{path}.Amount is missing")
    else:
        raise NotificationRejected(INVALID_SHAPE, f"{path}.Amount is not a number")
    if not amount.is_finite():
        raise NotificationRejected(INVALID_VALUE, f"{path}.Amount: must be a finite amount, not {amount}")
    if amount.is_signed():
        if amount:
            raise NotificationRejected(INVALID_VALUE, f"{path}.Amount: must be a non-negative amount")
        amount = amount.copy_abs()  # -0 is 0
    if amount > MAX_AMOUNT:
        raise NotificationRejected(INVALID_VALUE, f"{path}.Amount: must be at most {MAX_AMOUNT}, not {_shown(amount)}")
    places = minor_unit(currency) + EXTRA_PLACES
    exponent = amount.as_tuple().exponent
    if type(exponent) is int and exponent < -places and amount:
        digits = amount.as_tuple().digits
        zeros = len(digits) - len(bytes(digits).rstrip(b"\0"))
        if -exponent - zeros > places:
            raise NotificationRejected(INVALID_VALUE, f"{path}.Amount: must have at most {places} decimal places "
                                       f"in {currency}, not {_shown(amount)}")
    return amount


def landed_price(entry: Mapping[str, Any], path: str, currency: str | None = None) -> Money:
    """An entry's LandedPrice, else ListingPrice + Shipping - Points (a point is worth one currency unit,
    as in Amazon Japan, the marketplace that has them). Every amount the entry has is checked, and they
    must share one currency (`currency`, when given)."""
    given = _get(entry, "LandedPrice")
    listing_raw = _get(entry, "ListingPrice")
    listing = None
    if listing_raw is not None or given is None:
        listing = _money_fields(listing_raw, f"{path}.ListingPrice", currency)
        currency = listing["currency"]
    shipping_raw = _get(entry, "Shipping")
    shipping = _money_fields(shipping_raw, f"{path}.Shipping", currency) if shipping_raw is not None else None
    if shipping is not None:
        currency = shipping["currency"]
    points = _points(entry, path)
    if given is not None:
        return money(given, f"{path}.LandedPrice", currency)
    assert listing is not None
    amount = listing["amount"] + (shipping["amount"] if shipping is not None else _ZERO) - points
    if amount < 0:
        raise NotificationRejected(INVALID_VALUE, f"{path}.Points.PointsNumber: must not exceed ListingPrice "
                                   f"plus Shipping, not {points}")
    return Money(amount=amount, currency=listing["currency"])


def _points(entry: Mapping[str, Any], path: str) -> Decimal:
    points = _get(entry, "Points")
    if points is None:
        return _ZERO
    if type(points) is not dict:
        raise NotificationRejected(INVALID_SHAPE, f"{path}.Points is not an object")
    number = _get(points, "PointsNumber")
    if number is None:
        return _ZERO
    if type(number) is not int or not 0 <= number <= MAX_AMOUNT:
        raise NotificationRejected(INVALID_VALUE, f"{path}.Points.PointsNumber: must be a whole number from 0 to "
                                   f"{MAX_AMOUNT}, not {_shown(number)}")
    return Decimal(number)


def _same_condition(entry: Mapping[str, Any], condition: str) -> bool:
    value = _get(entry, "Condition")
    return isinstance(value, str) and value.lower() == condition


def _lowest(entries: Any, condition: str, path: str, currency: str | None) -> tuple[Money | None, str | None]:
    """The lowest landed price among the summary entries of the trigger's condition, and the currency
    of the notification. Every entry is checked, whatever its condition."""
    if entries is None:
        return None, currency
    if not isinstance(entries, list):
        raise NotificationRejected(INVALID_SHAPE, f"{path} is not a list")
    best: Money | None = None
    for i, entry in enumerate(entries):
        if type(entry) is not dict:
            raise NotificationRejected(INVALID_SHAPE, f"{path}[{i}] is not an object")
        landed = landed_price(entry, f"{path}[{i}]", currency)
        currency = landed.currency
        if _same_condition(entry, condition) and (best is None or landed.amount < best.amount):
            best = landed
    return best, currency


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


def offer(entry: Any, condition: str, our_seller_id: str, path: str, currency: str | None = None) -> dict[str, Any]:
    """One entry of `Offers[]` as the fields of an Offer, validated once with the whole event; its
    condition is the trigger's, its grade the entry's SubCondition; its amounts in `currency` when given.
    ANY_OFFER_CHANGED is PascalCase throughout, so fields are read directly: this runs twenty times per
    notification on the hot path."""
    if type(entry) is not dict:
        raise NotificationRejected(INVALID_SHAPE, f"{path} is not an object")
    seller_id = entry.get("SellerId")
    if type(seller_id) is not str:
        raise NotificationRejected(INVALID_SHAPE, f"{path}.SellerId is missing")
    if not seller_id.strip():
        raise NotificationRejected(INVALID_VALUE, f"{path}.SellerId: must not be empty")
    listing_price = _money_fields(entry.get("ListingPrice"), f"{path}.ListingPrice", currency)
    shipping_raw = entry.get("Shipping")
    shipping = (_money_fields(shipping_raw, f"{path}.Shipping", listing_price["currency"]) if shipping_raw is not None
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
    inner = "Payload.AnyOfferChangedNotification."
    try:
        body = _require(notification.payload, "AnyOfferChangedNotification", "Payload.", dict)
        seller_id = _identifier(body, "SellerId", inner)
        trigger = _require(body, "OfferChangeTrigger", inner, dict)
        at = inner + "OfferChangeTrigger."
        marketplace_id = _identifier(trigger, "MarketplaceId", at)
        asin = _identifier(trigger, "ASIN", at)
        condition = _identifier(trigger, "ItemCondition", at).lower()
        changed_at = _get(trigger, "TimeOfOfferChange")
        observed_at = _time(notification.event_time if changed_at is None else changed_at,
                            at + "TimeOfOfferChange", notification.received_at)
        account = sellers.account(seller_id, marketplace_id)
        summary = _get(body, "Summary")
        if summary is None:
            summary = {}
        elif not isinstance(summary, dict):
            raise NotificationRejected(INVALID_SHAPE, f"{inner}Summary is not an object")
        raw_offers = _get(body, "Offers")
        if raw_offers is None:
            raw_offers = []
        if not isinstance(raw_offers, list):
            raise NotificationRejected(INVALID_SHAPE, f"{inner}Offers is not a list")
        currency: str | None = None  # every amount of the notification is in the first one's currency
        offers = []
        for i, raw_offer in enumerate(raw_offers):
            offers.append(offer(raw_offer, condition, seller_id, f"{inner}Offers[{i}]", currency))
            currency = offers[-1]["listing_price"]["currency"]
        lowest, currency = _lowest(_get(summary, "LowestPrices"), condition, f"{inner}Summary.LowestPrices", currency)
        buy_box, currency = _lowest(_get(summary, "BuyBoxPrices"), condition, f"{inner}Summary.BuyBoxPrices",
                                    currency)
        return OfferPriceObserved.new(
            producer=producer, event_id=event_id(notification, account.account_id),
            marketplace_id=marketplace_id, asin=asin, account_id=account.account_id, observed_at=observed_at,
            lowest_landed_price=lowest, buy_box_landed_price=buy_box, offers=offers)
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
    seller_id = _identifier(payload, "SellerId", "Payload.")
    sku = _identifier(payload, "Sku", "Payload.")
    marketplace_id = _optional_identifier(payload, "MarketplaceId", "Payload.")
    asin = _optional_identifier(payload, "Asin", "Payload.")
    account = sellers.account(seller_id, marketplace_id)
    if marketplace_id is None:
        if len(account.marketplace_ids) != 1:
            raise NotificationRejected(INVALID_SHAPE, "Payload.MarketplaceId is missing and the account sells in "
                                       f"{len(account.marketplace_ids)} marketplaces", account_id=account.account_id)
        marketplace_id = account.marketplace_ids[0]
    return ListingRef(account.account_id, seller_id, marketplace_id, sku, asin)


def _strings(value: Any, path: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise NotificationRejected(INVALID_SHAPE, f"{path} is not a list of strings")
    for i, v in enumerate(value):
        if not v.strip():
            raise NotificationRejected(INVALID_VALUE, f"{path}[{i}]: must not be empty")
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
        inner = "Payload.OrderChangeNotification."
        body = _require(notification.payload, "OrderChangeNotification", "Payload.", dict)
        seller_id = _identifier(body, "SellerId", inner)
        order_id = _identifier(body, "AmazonOrderId", inner)
        summary = _get(body, "Summary")
        if summary is None:
            summary = {}
        elif not isinstance(summary, dict):
            raise NotificationRejected(INVALID_SHAPE, f"{inner}Summary is not an object")
        marketplace_id = _optional_identifier(summary, "MarketplaceId", f"{inner}Summary.")
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
