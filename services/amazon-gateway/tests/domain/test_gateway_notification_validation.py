"""Notifications whose values are wrong are rejected naming the field: amounts, currencies, times, identifiers.

Amounts are written into the JSON as Amazon writes them (bare numbers, also `NaN`, `1e10`, `-0`), so
the checks see exactly what the wire carries.
"""

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amazon_gateway.domain import notifications as n

OURS = "A3TH9S8BH6GOGM"
US = "ATVPDKIKX0DER"
JP = "A1VC38T7YXB528"
SELLERS = n.Sellers([n.SellerAccount("acct-us", OURS, (US,)), n.SellerAccount("acct-jp", OURS, (JP,))])
RECEIVED = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CHANGED = "2026-11-26T11:59:30.120Z"
OFFERS = "Payload.AnyOfferChangedNotification.Offers"
SUMMARY = "Payload.AnyOfferChangedNotification.Summary"
TRIGGER = "Payload.AnyOfferChangedNotification.OfferChangeTrigger"


def num(text: str) -> str:
    """An amount to be written as a bare JSON number (see `wire`)."""
    return f"#{text}#"


def wire(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).replace('"#', "").replace('#"', "").encode()


def money(amount: str, currency: str = "USD") -> dict[str, Any]:
    return {"Amount": num(amount), "CurrencyCode": currency}


def offer(seller: str, price: str, shipping: str = "0", currency: str = "USD") -> dict[str, Any]:
    return {"SellerId": seller, "SubCondition": "new",
            "SellerFeedbackRating": {"SellerPositiveFeedbackRating": 97, "FeedbackCount": 1200},
            "ListingPrice": money(price, currency), "Shipping": money(shipping, currency),
            "Points": {"PointsNumber": 0}, "IsFulfilledByAmazon": False, "IsBuyBoxWinner": seller == "COMP1",
            "PrimeInformation": {"IsOfferPrime": False, "IsOfferNationalPrime": False}}


def summary_entry(condition: str, listing: str, shipping: str = "0", landed: str | None = None,
                  currency: str = "USD") -> dict[str, Any]:
    entry = {"Condition": condition, "FulfillmentChannel": "Merchant", "ListingPrice": money(listing, currency),
             "Shipping": money(shipping, currency)}
    if landed is not None:
        entry["LandedPrice"] = money(landed, currency)
    return entry


def aoc(currency: str = "USD", marketplace: str = US) -> dict[str, Any]:
    """A valid ANY_OFFER_CHANGED: three offers, lowest and Buy Box prices for new and used."""
    return {
        "NotificationVersion": "1.0", "NotificationType": "ANY_OFFER_CHANGED", "PayloadVersion": "1.0",
        "EventTime": CHANGED,
        "NotificationMetadata": {"ApplicationId": "app", "SubscriptionId": "sub", "PublishTime": CHANGED,
                                 "NotificationId": "4f7c2a52-7f25-4e3c-9d0e-2d5c1e0b9a11"},
        "Payload": {"AnyOfferChangedNotification": {
            "SellerId": OURS,
            "OfferChangeTrigger": {"MarketplaceId": marketplace, "ASIN": "B0VALIDATE", "ItemCondition": "New",
                                   "TimeOfOfferChange": CHANGED, "OfferChangeType": "External"},
            "Summary": {
                "LowestPrices": [summary_entry("new", "19.99", "4.49", "24.48", currency),
                                 summary_entry("used", "12.00", "3.00", "15.00", currency)],
                "BuyBoxPrices": [summary_entry("new", "20.50", "0", "20.50", currency)],
                "ListPrice": money("30", currency)},
            "Offers": [offer("COMP1", "20.50", currency=currency), offer(OURS, "21.00", currency=currency),
                       offer("COMP2", "19.99", "4.49", currency=currency)],
        }},
    }


def observed(doc: dict[str, Any], received_at: datetime | None = RECEIVED) -> Any:
    return n.offer_price_observed(n.parse(wire(doc), received_at), SELLERS, "test")


def rejected(doc: dict[str, Any], received_at: datetime | None = RECEIVED) -> n.NotificationRejected:
    with pytest.raises(n.NotificationRejected) as caught:
        observed(doc, received_at)
    return caught.value


def inner(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["Payload"]["AnyOfferChangedNotification"]


def test_the_valid_notification_maps_with_exact_amounts() -> None:
    event = observed(aoc())
    assert [o.listing_price.amount for o in event.offers] == [Decimal("20.50"), Decimal("21.00"), Decimal("19.99")]
    assert event.lowest_landed_price.amount == Decimal("24.48") and event.buy_box_landed_price.amount == Decimal("20.50")
    assert event.observed_at == datetime(2026, 11, 26, 11, 59, 30, 120000, tzinfo=UTC)


# ---------------------------------------------------------------- amounts


def test_a_negative_offer_price_is_rejected_naming_the_field() -> None:
    doc = aoc()
    inner(doc)["Offers"][2]["ListingPrice"]["Amount"] = num("-10")
    error = rejected(doc)
    assert error.code == n.INVALID_VALUE
    assert error.message == f"{OFFERS}[2].ListingPrice.Amount: must be a non-negative amount"
    assert error.notification_type == "ANY_OFFER_CHANGED" and error.notification_id == \
        "4f7c2a52-7f25-4e3c-9d0e-2d5c1e0b9a11"
    assert error.account_id == "acct-us" and error.marketplace_id == US


@pytest.mark.parametrize(("amount", "reason"), [
    ("-10", "must be a non-negative amount"),
    ("-0.01", "must be a non-negative amount"),
    ("NaN", "must be a finite amount"),
    ("Infinity", "must be a finite amount"),
    ("-Infinity", "must be a finite amount"),
    ("1e400", "must be at most 1000000000"),
    ("1000000000.01", "must be at most 1000000000"),
    ("12345678901234567890", "must be at most 1000000000"),
    ("19.99999", "must have at most 4 decimal places in USD"),
    ("1e-30", "must have at most 4 decimal places in USD"),
    ("0.000000000000000000000000000001", "must have at most 4 decimal places in USD"),
])
def test_amounts_out_of_bounds_are_rejected(amount: str, reason: str) -> None:
    doc = aoc()
    inner(doc)["Offers"][1]["ListingPrice"]["Amount"] = num(amount)
    error = rejected(doc)
    assert error.code == n.INVALID_VALUE
    assert error.message.startswith(f"{OFFERS}[1].ListingPrice.Amount: {reason}")


@pytest.mark.parametrize(("amount", "expected"), [
    ("0", Decimal(0)),
    ("-0", Decimal(0)),
    ("-0.00", Decimal(0)),
    ("1000000000", Decimal(1_000_000_000)),
    ("19.9999", Decimal("19.9999")),
    ("19.990000000", Decimal("19.99")),
    ("1e3", Decimal(1000)),
])
def test_amounts_within_bounds_are_read_exactly(amount: str, expected: Decimal) -> None:
    doc = aoc()
    inner(doc)["Offers"][1]["ListingPrice"]["Amount"] = num(amount)
    read = observed(doc).offers[1].listing_price.amount
    assert read == expected and not read.is_signed() and isinstance(read, Decimal)


def test_decimal_places_follow_the_currencys_minor_unit() -> None:
    doc = aoc(currency="JPY", marketplace=JP)
    inner(doc)["Offers"][0]["ListingPrice"]["Amount"] = num("1500.25")
    assert observed(doc).offers[0].listing_price.amount == Decimal("1500.25")
    inner(doc)["Offers"][0]["ListingPrice"]["Amount"] = num("1500.255")
    assert rejected(doc).message.startswith(f"{OFFERS}[0].ListingPrice.Amount: must have at most 2 decimal places "
                                            "in JPY")


@pytest.mark.parametrize(("where", "path"), [
    (lambda d: inner(d)["Offers"][0]["Shipping"], f"{OFFERS}[0].Shipping"),
    (lambda d: inner(d)["Summary"]["LowestPrices"][0]["LandedPrice"], f"{SUMMARY}.LowestPrices[0].LandedPrice"),
    (lambda d: inner(d)["Summary"]["LowestPrices"][0]["ListingPrice"], f"{SUMMARY}.LowestPrices[0].ListingPrice"),
    (lambda d: inner(d)["Summary"]["LowestPrices"][1]["Shipping"], f"{SUMMARY}.LowestPrices[1].Shipping"),
    (lambda d: inner(d)["Summary"]["BuyBoxPrices"][0]["LandedPrice"], f"{SUMMARY}.BuyBoxPrices[0].LandedPrice"),
])
def test_every_amount_read_is_checked(where: Any, path: str) -> None:
    doc = aoc()
    where(doc)["Amount"] = num("-10")
    error = rejected(doc)
    assert error.code == n.INVALID_VALUE and error.message == f"{path}.Amount: must be a non-negative amount"


def test_summary_entries_of_another_condition_are_checked_too() -> None:
    doc = aoc()
    inner(doc)["Summary"]["LowestPrices"][1]["LandedPrice"]["Amount"] = num("NaN")  # the "used" entry
    assert rejected(doc).message.startswith(f"{SUMMARY}.LowestPrices[1].LandedPrice.Amount: must be a finite")


def test_points_must_be_a_whole_non_negative_number_within_the_price() -> None:
    doc = aoc()
    entry = inner(doc)["Summary"]["LowestPrices"][0]
    del entry["LandedPrice"]
    entry["Points"] = {"PointsNumber": 4}
    assert observed(doc).lowest_landed_price.amount == Decimal("20.48")  # 19.99 + 4.49 - 4
    for bad in (-1, 1.5, "4", True, 10**12):
        entry["Points"] = {"PointsNumber": bad}
        error = rejected(doc)
        assert error.code == n.INVALID_VALUE
        assert error.message.startswith(f"{SUMMARY}.LowestPrices[0].Points.PointsNumber: must be a whole number")
    entry["Points"] = {"PointsNumber": 25}
    assert rejected(doc).message.startswith(
        f"{SUMMARY}.LowestPrices[0].Points.PointsNumber: must not exceed ListingPrice plus Shipping")


@pytest.mark.parametrize(("code", "shown"), [("usd", "'usd'"), ("XYZ", "'XYZ'"), ("US", "'US'"), (840, "840"),
                                             (None, "None")])
def test_currency_must_be_an_iso_4217_code(code: Any, shown: str) -> None:
    doc = aoc()
    inner(doc)["Offers"][2]["ListingPrice"]["CurrencyCode"] = code
    error = rejected(doc)
    assert error.code == n.INVALID_VALUE
    assert error.message == f"{OFFERS}[2].ListingPrice.CurrencyCode: must be an ISO 4217 currency code, not {shown}"


def test_every_amount_of_a_notification_is_in_one_currency() -> None:
    doc = aoc()
    inner(doc)["Offers"][1]["ListingPrice"]["CurrencyCode"] = "EUR"
    assert rejected(doc).message == (f"{OFFERS}[1].ListingPrice.CurrencyCode: must be USD like the notification's "
                                     "other amounts, not EUR")
    doc = aoc()
    inner(doc)["Offers"][0]["Shipping"]["CurrencyCode"] = "CAD"
    assert rejected(doc).message.startswith(f"{OFFERS}[0].Shipping.CurrencyCode: must be USD")
    doc = aoc()
    inner(doc)["Summary"]["BuyBoxPrices"][0]["LandedPrice"]["CurrencyCode"] = "GBP"
    assert rejected(doc).message.startswith(f"{SUMMARY}.BuyBoxPrices[0].LandedPrice.CurrencyCode: must be USD")


@pytest.mark.parametrize(("value", "message"), [
    ("10", "is not a number"), (num("true"), "is not a number"), (num("null"), "is missing"),
    (num("[1]"), "is not a number"), ({}, "is not a number"),
])
def test_an_amount_that_is_not_a_number_is_a_shape_error(value: Any, message: str) -> None:
    doc = aoc()
    inner(doc)["Offers"][0]["ListingPrice"]["Amount"] = value
    error = rejected(doc)
    assert error.code == n.INVALID_SHAPE and error.message == f"{OFFERS}[0].ListingPrice.Amount {message}"


# ---------------------------------------------------------------- times

BAD_TIMES = ["yesterday", "", "2026-11-26", "2026-11-26T10:00:00", "2026-13-01T00:00:00Z", "2026-11-26T25:00:00Z",
             "2026-11-26 10:00:00Z", "26/11/2026 10:00 UTC", "2026-11-26T10:00:00Z trailing", "\u0662026-11-26T10:00Z"]


@pytest.mark.parametrize("value", BAD_TIMES)
@pytest.mark.parametrize(("field", "place"), [
    ("EventTime", lambda d: d),
    ("NotificationMetadata.PublishTime", lambda d: d["NotificationMetadata"]),
    (f"{TRIGGER}.TimeOfOfferChange", lambda d: inner(d)["OfferChangeTrigger"]),
])
def test_a_time_that_is_not_an_iso_8601_date_time_with_a_zone_is_rejected(field: str, place: Any, value: str) -> None:
    doc = aoc()
    place(doc)[field.rsplit(".", 1)[-1]] = value
    error = rejected(doc)
    assert error.code == n.INVALID_VALUE
    assert error.message == f"{field}: must be an ISO 8601 date-time with a time zone or Z, not {value!r}"
    assert error.notification_type == "ANY_OFFER_CHANGED" and error.notification_id


def test_a_time_of_another_json_type_is_rejected() -> None:
    doc = aoc()
    doc["EventTime"] = 1764158400
    assert rejected(doc).message == "EventTime: must be an ISO 8601 date-time with a time zone or Z, not 1764158400"


@pytest.mark.parametrize("value", ["2026-11-26T11:59:30Z", "2026-11-26T11:59Z", "2026-11-26T13:59:30+02:00",
                                   "2026-11-26T06:59:30.123456789-0500", "2026-11-26T20:59:30+09"])
def test_iso_8601_date_times_with_a_zone_are_read(value: str) -> None:
    doc = aoc()
    inner(doc)["OfferChangeTrigger"]["TimeOfOfferChange"] = value
    assert observed(doc).observed_at.astimezone(UTC).replace(second=0, microsecond=0) == datetime(
        2026, 11, 26, 11, 59, tzinfo=UTC)


def test_times_after_receipt_beyond_the_clock_skew_are_rejected() -> None:
    doc = aoc()
    soon = RECEIVED + n.CLOCK_SKEW - timedelta(seconds=1)
    inner(doc)["OfferChangeTrigger"]["TimeOfOfferChange"] = soon.isoformat()
    assert observed(doc).observed_at == soon
    late = (RECEIVED + n.CLOCK_SKEW + timedelta(seconds=1)).isoformat()
    inner(doc)["OfferChangeTrigger"]["TimeOfOfferChange"] = late
    error = rejected(doc)
    assert error.code == n.INVALID_VALUE and error.message.startswith(
        f"{TRIGGER}.TimeOfOfferChange: must not be later than 15 minutes after the notification was received "
        "(2026-11-26T12:00:00Z)")
    assert observed(doc, received_at=None).observed_at.isoformat() == late  # without a receipt time, no bound
    doc["EventTime"] = "2099-01-01T00:00:00Z"
    assert rejected(doc).message.startswith("EventTime: must not be later than")


def test_times_before_2000_are_rejected() -> None:
    doc = aoc()
    inner(doc)["OfferChangeTrigger"]["TimeOfOfferChange"] = "0001-01-01T00:00:00+01:00"
    assert rejected(doc).message == (f"{TRIGGER}.TimeOfOfferChange: must not be before 2000-01-01, "
                                     "not '0001-01-01T00:00:00+01:00'")


def test_without_a_time_of_change_the_event_time_is_used_and_checked() -> None:
    doc = aoc()
    del inner(doc)["OfferChangeTrigger"]["TimeOfOfferChange"]
    assert observed(doc).observed_at == datetime(2026, 11, 26, 11, 59, 30, 120000, tzinfo=UTC)
    del doc["EventTime"]
    assert rejected(doc).message == f"{TRIGGER}.TimeOfOfferChange is missing"


# ---------------------------------------------------------------- identifiers


@pytest.mark.parametrize(("path", "place"), [
    ("NotificationMetadata.NotificationId", lambda d: d["NotificationMetadata"]),
    ("Payload.AnyOfferChangedNotification.SellerId", inner),
    (f"{TRIGGER}.MarketplaceId", lambda d: inner(d)["OfferChangeTrigger"]),
    (f"{TRIGGER}.ASIN", lambda d: inner(d)["OfferChangeTrigger"]),
    (f"{TRIGGER}.ItemCondition", lambda d: inner(d)["OfferChangeTrigger"]),
    (f"{OFFERS}[1].SellerId", lambda d: inner(d)["Offers"][1]),
])
@pytest.mark.parametrize("blank", ["", "   "])
def test_empty_identifiers_are_rejected(path: str, place: Any, blank: str) -> None:
    doc = aoc()
    place(doc)[path.rsplit(".", 1)[-1]] = blank
    error = rejected(doc)
    assert error.code == n.INVALID_VALUE and error.message == f"{path}: must not be empty"


# ---------------------------------------------------------------- listings and orders


def status_doc(**payload: Any) -> dict[str, Any]:
    return {"NotificationVersion": "1.0", "NotificationType": "LISTINGS_ITEM_STATUS_CHANGE", "PayloadVersion": "1.0",
            "EventTime": CHANGED,
            "NotificationMetadata": {"NotificationId": "status-1", "PublishTime": CHANGED},
            "Payload": {"SellerId": OURS, "MarketplaceId": US, "Asin": "B0VALIDATE", "Sku": "SKU-1",
                        "CreatedDate": "2026-01-01T00:00:00Z", "Status": ["BUYABLE"]} | payload}


def issues_doc(**payload: Any) -> dict[str, Any]:
    doc = status_doc(**payload)
    doc["NotificationType"] = "LISTINGS_ITEM_ISSUES_CHANGE"
    del doc["Payload"]["Status"]
    doc["Payload"] |= {"Severities": ["ERROR"], "EnforcementActions": ["SEARCH_SUPPRESSED"]} | payload
    return doc


def order_doc(**body: Any) -> dict[str, Any]:
    return {"NotificationVersion": "1.0", "NotificationType": "ORDER_CHANGE", "PayloadVersion": "1.0",
            "EventTime": CHANGED, "NotificationMetadata": {"NotificationId": "order-1", "PublishTime": CHANGED},
            "Payload": {"OrderChangeNotification": {
                "SellerId": OURS, "AmazonOrderId": "902-3159896-1390916", "OrderChangeType": "OrderStatusChange",
                "Summary": {"MarketplaceId": US, "OrderStatus": "Unshipped"}} | body}}


def read_listing_or_order(doc: dict[str, Any]) -> Any:
    notification = n.parse(wire(doc), RECEIVED)
    if notification.notification_type == n.LISTINGS_ITEM_STATUS_CHANGE:
        return n.listing_status_observed(notification, SELLERS, "test")
    if notification.notification_type == n.LISTINGS_ITEM_ISSUES_CHANGE:
        return n.issues_change(notification, SELLERS)
    return n.order_change(notification, SELLERS)


def test_valid_listing_and_order_notifications_are_read() -> None:
    assert read_listing_or_order(status_doc()).sku == "SKU-1"
    assert read_listing_or_order(issues_doc()).listing.asin == "B0VALIDATE"
    assert read_listing_or_order(order_doc()).amazon_order_id == "902-3159896-1390916"
    no_asin = status_doc()
    del no_asin["Payload"]["Asin"]
    assert read_listing_or_order(no_asin).asin is None


@pytest.mark.parametrize(("doc", "message"), [
    (status_doc(Sku=""), "Payload.Sku: must not be empty"),
    (status_doc(SellerId=" "), "Payload.SellerId: must not be empty"),
    (status_doc(Asin=""), "Payload.Asin: must be a non-empty string, not ''"),
    (status_doc(Asin=7), "Payload.Asin: must be a non-empty string, not 7"),
    (status_doc(MarketplaceId=""), "Payload.MarketplaceId: must be a non-empty string, not ''"),
    (status_doc(Status=["BUYABLE", ""]), "Payload.Status[1]: must not be empty"),
    (issues_doc(Sku="  "), "Payload.Sku: must not be empty"),
    (issues_doc(Severities=[""]), "Payload.Severities[0]: must not be empty"),
    (order_doc(AmazonOrderId=""), "Payload.OrderChangeNotification.AmazonOrderId: must not be empty"),
    (order_doc(SellerId=""), "Payload.OrderChangeNotification.SellerId: must not be empty"),
    (order_doc(Summary={"MarketplaceId": ""}),
     "Payload.OrderChangeNotification.Summary.MarketplaceId: must be a non-empty string, not ''"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_listing_and_order_notifications_with_empty_identifiers_are_rejected(doc: dict[str, Any],
                                                                             message: str) -> None:
    with pytest.raises(n.NotificationRejected) as caught:
        read_listing_or_order(doc)
    assert caught.value.code == n.INVALID_VALUE and caught.value.message == message
    assert caught.value.notification_id in {"status-1", "order-1"}


@pytest.mark.parametrize("make", [status_doc, issues_doc, order_doc])
@pytest.mark.parametrize(("field", "place"), [("EventTime", lambda d: d),
                                              ("NotificationMetadata.PublishTime", lambda d: d["NotificationMetadata"])])
def test_listing_and_order_notifications_with_bad_times_are_rejected(make: Any, field: str, place: Any) -> None:
    doc = make()
    place(doc)[field.rsplit(".", 1)[-1]] = "yesterday"
    with pytest.raises(n.NotificationRejected) as caught:
        read_listing_or_order(doc)
    assert caught.value.code == n.INVALID_VALUE
    assert caught.value.message == f"{field}: must be an ISO 8601 date-time with a time zone or Z, not 'yesterday'"
    assert caught.value.notification_type == doc["NotificationType"]
    assert caught.value.notification_id == doc["NotificationMetadata"]["NotificationId"]


# ---------------------------------------------------------------- properties

cents = st.integers(min_value=0, max_value=100_000_000_000).map(lambda c: Decimal(c).scaleb(-2))
wrong = st.one_of(
    st.integers(min_value=-10**12, max_value=-1).map(lambda c: Decimal(c).scaleb(-2)),
    st.integers(min_value=100_000_000_001, max_value=10**20).map(lambda c: Decimal(c).scaleb(-2)),
    st.integers(min_value=1, max_value=10**6).map(lambda c: Decimal(c).scaleb(-7)).filter(
        lambda d: d != d.quantize(Decimal("0.0001"))),
    st.sampled_from([Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")]),
)


@settings(max_examples=200, deadline=None)
@given(prices=st.lists(cents, min_size=1, max_size=20), data=st.data())
def test_any_wrong_amount_among_valid_ones_is_rejected_at_its_place(prices: list[Decimal], data: Any) -> None:
    doc = aoc()
    inner(doc)["Offers"] = [offer(f"S{i}", str(p)) for i, p in enumerate(prices)]
    event = observed(copy.deepcopy(doc))
    assert [o.listing_price.amount for o in event.offers] == prices
    place = data.draw(st.integers(0, len(prices) - 1))
    field = data.draw(st.sampled_from(["ListingPrice", "Shipping"]))
    inner(doc)["Offers"][place][field]["Amount"] = num(str(data.draw(wrong)))
    error = rejected(doc)
    assert error.code == n.INVALID_VALUE and error.message.startswith(f"{OFFERS}[{place}].{field}.Amount: must ")
