"""Notifications read into events: Amazon's published shapes in, OfferPriceObserved / AmazonListingObserved out."""

import copy
import json
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amazon_gateway.domain import notifications as n
from amazon_sim.market import MarketAsin, MarketOffer, any_offer_changed
from contracts.events import FulfillmentChannel

SCHEMAS = Path("/work/shared/amazon-models/schemas/notifications")
VENDORED = Path(__file__).parents[3] / "simulators/amazon-sim/src/amazon_sim/amazon_models"
OURS = "A3TH9S8BH6GOGM"
US = "ATVPDKIKX0DER"
SELLERS = n.Sellers([n.SellerAccount("acct-us", OURS, (US,)), n.SellerAccount("acct-eu", OURS, ("A1PA6795UKMFR9",))])


@cache
def schema(name: str) -> dict:
    for folder in (VENDORED, SCHEMAS):
        if (folder / name).exists():
            return json.loads((folder / name).read_text())
    raise FileNotFoundError(name)


def amazon_example(name: str) -> dict:
    """Amazon's own example payload from the published schema."""
    return copy.deepcopy(schema(name)["examples"][0])


def body(doc: dict) -> bytes:
    return json.dumps(doc).encode()


def offer_doc(seller: str, price: str, shipping: str = "0", fba: bool = False, rating=98, count=100,
              sub: str = "new", winner: bool | None = None) -> dict:
    doc = {"SellerId": seller, "SubCondition": sub,
           "SellerFeedbackRating": {"SellerPositiveFeedbackRating": rating, "FeedbackCount": count},
           "ShippingTime": {"MinimumHours": 24, "MaximumHours": 48, "AvailabilityType": "NOW",
                            "AvailableDate": "2026-11-26T10:00:00Z"},
           "ListingPrice": {"Amount": price, "CurrencyCode": "USD"},
           "Shipping": {"Amount": shipping, "CurrencyCode": "USD"}, "Points": {"PointsNumber": 0},
           "ShipsFrom": {"Country": "US", "State": "WA"}, "IsFulfilledByAmazon": fba,
           "PrimeInformation": {"IsOfferPrime": fba, "IsOfferNationalPrime": fba},
           "IsExpeditedShippingAvailable": False, "IsFeaturedMerchant": True, "ShipsDomestically": True,
           "ShipsInternationally": False}
    if winner is not None:
        doc["IsBuyBoxWinner"] = winner
    return doc


def aoc(offers: list[dict], condition: str = "New", seller: str = OURS, marketplace: str = US) -> dict:
    """An ANY_OFFER_CHANGED document: Amazon's example with our offers and prices as JSON number text."""
    doc = amazon_example("AnyOfferChangedNotification.json")
    inner = doc["Payload"]["AnyOfferChangedNotification"]
    inner["SellerId"] = seller
    inner["OfferChangeTrigger"].update(MarketplaceId=marketplace, ASIN="B0TESTASIN", ItemCondition=condition)
    inner["Offers"] = offers
    return doc


def raw(doc: dict) -> bytes:
    """JSON whose Amount values are written as numbers (Amazon's wire form), from string placeholders."""
    text = json.dumps(doc).replace('"Amount": "', '"Amount": ').replace('", "CurrencyCode"', ', "CurrencyCode"')
    return text.encode()


# ---------------------------------------------------------------- ANY_OFFER_CHANGED


def test_amazons_example_maps_with_its_lowest_and_buy_box_prices() -> None:
    doc = amazon_example("AnyOfferChangedNotification.json")
    sellers = n.Sellers([n.SellerAccount("acct", doc["Payload"]["AnyOfferChangedNotification"]["SellerId"], (US,))])
    event = n.offer_price_observed(n.parse(body(doc)), sellers, "test")
    assert event.asin == "123" and event.marketplace_id == US and event.account_id == "acct"
    # The example's trigger condition is "New"; its summary entries say "new".
    assert event.lowest_landed_price.amount == Decimal("10.0")
    assert event.buy_box_landed_price.amount == Decimal("10.0")
    assert len(event.offers) == len(doc["Payload"]["AnyOfferChangedNotification"]["Offers"])
    first = event.offers[0]
    assert first.seller_id == "111" and first.fulfillment_channel is FulfillmentChannel.AMAZON
    assert first.listing_price.amount == Decimal("23.0") and first.shipping.amount == Decimal("110.0")
    assert first.feedback_rating == 10 and first.feedback_count == 9 and first.is_prime
    assert event.observed_at.isoformat() == "2020-07-13T19:42:04.284000+00:00"


def test_our_offer_is_marked_and_competitors_are_not() -> None:
    doc = aoc([offer_doc("COMP1", "19.99", "4.49", winner=True), offer_doc(OURS, "21.50"),
               offer_doc("COMP2", "22.00", fba=True)])
    event = n.offer_price_observed(n.parse(raw(doc)), SELLERS, "test")
    assert [(o.seller_id, o.is_ours) for o in event.offers] == [("COMP1", False), (OURS, True), ("COMP2", False)]
    assert event.offers[0].is_buy_box_winner and not event.offers[1].is_buy_box_winner
    assert event.offers[2].fulfillment_channel is FulfillmentChannel.AMAZON
    assert event.account_id == "acct-us"


def test_account_follows_the_marketplace_for_a_seller_in_two_regions() -> None:
    doc = aoc([offer_doc(OURS, "10")], marketplace="A1PA6795UKMFR9")
    assert n.offer_price_observed(n.parse(raw(doc)), SELLERS, "test").account_id == "acct-eu"


def test_prices_are_exact_decimals_never_floats() -> None:
    doc = aoc([offer_doc("C", "0.1", "0.2")])
    event = n.offer_price_observed(n.parse(raw(doc)), SELLERS, "test")
    offer = event.offers[0]
    assert offer.listing_price.amount == Decimal("0.1") and offer.shipping.amount == Decimal("0.2")
    assert offer.listing_price.amount + offer.shipping.amount == Decimal("0.3")
    assert isinstance(offer.listing_price.amount, Decimal)
    assert json.loads(event.model_dump_json())["offers"][0]["listing_price"] == {"amount": "0.1", "currency": "USD"}


def test_lowest_is_taken_among_the_trigger_condition_only() -> None:
    doc = aoc([offer_doc("C", "30")], condition="used")
    doc["Payload"]["AnyOfferChangedNotification"]["Summary"]["LowestPrices"] = [
        {"Condition": "new", "FulfillmentChannel": "Merchant", "LandedPrice": {"Amount": 5, "CurrencyCode": "USD"},
         "ListingPrice": {"Amount": 5, "CurrencyCode": "USD"}, "Shipping": {"Amount": 0, "CurrencyCode": "USD"}},
        {"Condition": "used", "FulfillmentChannel": "Amazon", "LandedPrice": {"Amount": 12, "CurrencyCode": "USD"},
         "ListingPrice": {"Amount": 10, "CurrencyCode": "USD"}, "Shipping": {"Amount": 2, "CurrencyCode": "USD"}},
        {"Condition": "Used", "FulfillmentChannel": "Merchant",
         "ListingPrice": {"Amount": 9, "CurrencyCode": "USD"}, "Shipping": {"Amount": 2.5, "CurrencyCode": "USD"}},
    ]
    event = n.offer_price_observed(n.parse(raw(doc)), SELLERS, "test")
    # The Merchant entry has no LandedPrice: 9 + 2.5 = 11.5 is lower than Amazon's 12.
    assert event.lowest_landed_price.amount == Decimal("11.5")
    assert event.offers[0].condition == "used"


def test_landed_price_is_listing_plus_shipping_minus_points_when_not_given() -> None:
    entry = {"ListingPrice": {"Amount": 1000, "CurrencyCode": "JPY"}, "Shipping": {"Amount": 300, "CurrencyCode": "JPY"},
             "Points": {"PointsNumber": 50}}
    assert n.landed_price(entry, "x").amount == Decimal(1250)
    entry["LandedPrice"] = {"Amount": 1200, "CurrencyCode": "JPY"}
    assert n.landed_price(entry, "x").amount == Decimal(1200)


def test_fractional_feedback_rounds_to_the_contracts_whole_percent() -> None:
    assert n.feedback_rating(Decimal("98.5")) == 99
    assert n.feedback_rating(Decimal("98.4")) == 98
    assert n.feedback_rating(101) == 100
    assert n.feedback_rating(None) is None and n.feedback_rating(True) is None


def test_camel_case_envelope_is_read_too() -> None:
    doc = aoc([offer_doc("C", "5")])
    camel = {"notificationVersion": "1.0", "notificationType": doc["NotificationType"],
             "payloadVersion": "1.0", "eventTime": doc["EventTime"],
             "notificationMetadata": {"notificationId": "camel-1"}, "payload": doc["Payload"]}
    parsed = n.parse(raw(camel))
    assert parsed.notification_id == "camel-1" and parsed.notification_type == "ANY_OFFER_CHANGED"


def test_event_id_is_stable_per_notification_and_account() -> None:
    doc = aoc([offer_doc("C", "5")])
    a = n.offer_price_observed(n.parse(raw(doc)), SELLERS, "test")
    b = n.offer_price_observed(n.parse(raw(doc)), SELLERS, "test")
    assert a.event_id == b.event_id
    doc["NotificationMetadata"]["NotificationId"] = "other"
    assert n.offer_price_observed(n.parse(raw(doc)), SELLERS, "test").event_id != a.event_id


# ---------------------------------------------------------------- malformed input


@pytest.mark.parametrize(("text", "code", "fragment"), [
    (b"{not json", n.NOT_JSON, "not JSON"),
    (b"\xff\xfe", n.NOT_JSON, "not JSON"),
    (b"[1, 2]", n.INVALID_SHAPE, "JSON list"),
    (b'{"NotificationType": "ANY_OFFER_CHANGED", "Payload": {}}', n.INVALID_SHAPE, "NotificationMetadata is missing"),
    (b'{"NotificationType": "ANY_OFFER_CHANGED", "NotificationMetadata": {}, "Payload": {}}',
     n.INVALID_SHAPE, "NotificationMetadata.NotificationId is missing"),
    (b'{"NotificationMetadata": {"NotificationId": "x"}, "Payload": {}}', n.INVALID_SHAPE, "NotificationType"),
])
def test_unreadable_envelopes_are_rejected_with_a_clear_reason(text: bytes, code: str, fragment: str) -> None:
    with pytest.raises(n.NotificationRejected) as caught:
        n.parse(text)
    assert caught.value.code == code and fragment in caught.value.message


def _reject(doc: dict) -> n.NotificationRejected:
    with pytest.raises(n.NotificationRejected) as caught:
        n.offer_price_observed(n.parse(raw(doc)), SELLERS, "test")
    return caught.value


def test_unknown_seller_is_rejected_naming_it() -> None:
    error = _reject(aoc([offer_doc("C", "5")], seller="ANOTHERSELLER"))
    assert error.code == n.UNKNOWN_SELLER and "ANOTHERSELLER" in error.message
    assert error.notification_type == "ANY_OFFER_CHANGED" and error.marketplace_id == US


def test_offer_without_price_is_rejected_naming_the_offer() -> None:
    doc = aoc([offer_doc("C", "5"), offer_doc("D", "6")])
    del doc["Payload"]["AnyOfferChangedNotification"]["Offers"][1]["ListingPrice"]
    error = _reject(doc)
    assert error.code == n.INVALID_SHAPE and "Offers[1].ListingPrice" in error.message
    assert error.account_id == "acct-us" and error.notification_id


def test_price_that_is_not_a_number_is_rejected() -> None:
    doc = aoc([offer_doc("C", "5")])
    doc["Payload"]["AnyOfferChangedNotification"]["Offers"][0]["ListingPrice"]["Amount"] = "cheap"
    error = n.NotificationRejected
    with pytest.raises(error) as caught:
        n.offer_price_observed(n.parse(body(doc)), SELLERS, "test")
    assert "Offers[0].ListingPrice.Amount is not a number" in caught.value.message


def test_missing_trigger_is_rejected() -> None:
    doc = aoc([])
    del doc["Payload"]["AnyOfferChangedNotification"]["OfferChangeTrigger"]["ASIN"]
    assert "OfferChangeTrigger.ASIN is missing" in _reject(doc).message


# ---------------------------------------------------------------- listings and orders


def status_doc(status: list[str], sku: str = "SKU-1", marketplace: str | None = US) -> dict:
    doc = amazon_example("ListingsItemStatusChangeNotification.json")
    doc["NotificationType"] = "LISTINGS_ITEM_STATUS_CHANGE"
    doc["Payload"].update(SellerId=OURS, Sku=sku, Status=status)
    if marketplace is None:
        del doc["Payload"]["MarketplaceId"]
    else:
        doc["Payload"]["MarketplaceId"] = marketplace
    return doc


def test_status_change_becomes_amazon_listing_observed() -> None:
    event = n.listing_status_observed(n.parse(body(status_doc(["BUYABLE", "DISCOVERABLE"]))), SELLERS, "test")
    assert (event.account_id, event.marketplace_id, event.sku) == ("acct-us", US, "SKU-1")
    assert event.status == ["BUYABLE", "DISCOVERABLE"] and event.source == "status_notification"
    assert event.asin == "BT6RZ7JM4H" and event.issues is None


def test_status_change_with_the_schemas_typo_type_is_read() -> None:
    doc = status_doc([])
    doc["NotificationType"] = "LISTINGS_ITEM_STATUS_CHANGED"
    assert n.parse(body(doc)).notification_type == n.LISTINGS_ITEM_STATUS_CHANGE


def test_status_change_without_marketplace_needs_an_account_with_one() -> None:
    single = n.Sellers([n.SellerAccount("solo", OURS, (US,))])
    assert n.listing_status_observed(n.parse(body(status_doc([], marketplace=None))), single, "t").marketplace_id == US
    two = n.Sellers([n.SellerAccount("duo", OURS, (US, "A2EUQ1WTGCTBG2"))])
    with pytest.raises(n.NotificationRejected, match="MarketplaceId is missing"):
        n.listing_status_observed(n.parse(body(status_doc([], marketplace=None))), two, "t")


def test_status_change_with_a_sku_the_contract_refuses_is_rejected() -> None:
    with pytest.raises(n.NotificationRejected) as caught:
        n.listing_status_observed(n.parse(body(status_doc([], sku="S" * 41))), SELLERS, "t")
    assert caught.value.code == n.INVALID_SHAPE and "sku" in caught.value.message


@pytest.mark.parametrize("name", ["ListingsItemIssuesChangeNotification.json",
                                  "ListingsItemIssuesChangeNotification_2023-12-13.json"])
def test_issues_change_is_completed_with_the_listings_issues(name: str) -> None:
    doc = amazon_example(name)
    doc["Payload"].update(SellerId=OURS, MarketplaceId=US, Sku="SKU-9")
    change = n.issues_change(n.parse(body(doc)), SELLERS)
    assert change.listing.sku == "SKU-9" and change.severities
    item = {"sku": "SKU-9", "summaries": [{"marketplaceId": US, "asin": "B0X", "status": ["DISCOVERABLE"]}],
            "issues": [{"code": "90220", "message": "'brand' is required", "severity": "ERROR",
                        "attributeNames": ["brand"], "categories": ["MISSING_ATTRIBUTE"]},
                       {"code": "1", "message": "odd", "severity": "SOMETHING"}]}
    event = n.listing_issues_observed(change, item, "test")
    assert event.source == "issues_notification" and event.status == ["DISCOVERABLE"] and event.asin == "B0X"
    assert [(i.code, i.severity, i.attribute_names) for i in event.issues] == [
        ("90220", "ERROR", ["brand"]), ("1", "INFO", [])]


def test_issues_change_for_a_listing_that_is_gone_has_no_issues_and_no_status() -> None:
    doc = amazon_example("ListingsItemIssuesChangeNotification.json")
    doc["Payload"].update(SellerId=OURS, MarketplaceId=US, Sku="GONE")
    event = n.listing_issues_observed(n.issues_change(n.parse(body(doc)), SELLERS), None, "test")
    assert event.issues == [] and event.status == []


def test_order_change_names_the_account_and_order() -> None:
    doc = amazon_example("OrderChangeNotification.json")
    doc["Payload"]["OrderChangeNotification"]["SellerId"] = OURS
    change = n.order_change(n.parse(body(doc)), SELLERS)
    assert change.account_id == "acct-us"
    assert change.amazon_order_id == doc["Payload"]["OrderChangeNotification"]["AmazonOrderId"]


def test_unhandled_type_is_reported_as_unsupported() -> None:
    doc = {"NotificationType": "FBA_INVENTORY_AVAILABILITY_CHANGES", "NotificationMetadata": {"NotificationId": "1"},
           "Payload": {}}
    error = n.unsupported(n.parse(body(doc)))
    assert error.code == n.UNSUPPORTED_TYPE and "FBA_INVENTORY_AVAILABILITY_CHANGES" in error.message


# ---------------------------------------------------------------- properties

cents = st.integers(min_value=0, max_value=10_000_000).map(lambda c: Decimal(c) / 100)
seller_ids = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=5, max_size=14)
offer_entries = st.builds(
    lambda seller, price, ship, fba, rating, count, winner: offer_doc(
        seller, str(price), str(ship), fba, rating, count, winner=winner),
    seller_ids, cents, cents, st.booleans(), st.integers(0, 100), st.integers(0, 10**6), st.booleans())


@settings(max_examples=150, deadline=None)
@given(competitors=st.lists(offer_entries, max_size=20), our_price=cents, position=st.integers(0, 20))
def test_every_offer_survives_and_ours_is_always_ours(competitors: list[dict], our_price: Decimal,
                                                      position: int) -> None:
    competitors = [c for c in competitors if c["SellerId"] != OURS]
    offers = list(competitors)
    offers.insert(min(position, len(offers)), offer_doc(OURS, str(our_price)))
    event = n.offer_price_observed(n.parse(raw(aoc(offers))), SELLERS, "test")
    assert len(event.offers) == len(offers)
    for mapped, entry in zip(event.offers, offers, strict=True):
        assert mapped.seller_id == entry["SellerId"]
        assert mapped.is_ours == (entry["SellerId"] == OURS)
        assert mapped.listing_price.amount == Decimal(entry["ListingPrice"]["Amount"])
        assert mapped.shipping.amount == Decimal(entry["Shipping"]["Amount"])
        assert mapped.fulfillment_channel is (FulfillmentChannel.AMAZON if entry["IsFulfilledByAmazon"]
                                              else FulfillmentChannel.MERCHANT)
        assert mapped.is_buy_box_winner == entry.get("IsBuyBoxWinner", False)
    assert sum(o.is_ours for o in event.offers) == 1


money_st = st.decimals(min_value="0.01", max_value="99999.99", places=2)
market_offers = st.builds(
    MarketOffer, seller_id=seller_ids, condition=st.just("new"), sub_condition=st.just("new"), fba=st.booleans(),
    price=money_st, shipping=st.one_of(st.just(Decimal(0)), money_st), feedback_rating=st.integers(0, 100),
    feedback_count=st.integers(0, 10**6))


@settings(max_examples=100, deadline=None)
@given(competitors=st.lists(market_offers, max_size=19), our_price=money_st)
def test_the_simulators_notifications_map_back_without_loss(competitors: list[MarketOffer],
                                                            our_price: Decimal) -> None:
    """What the simulator publishes for a market (as Amazon would) reads back offer for offer."""
    ours = MarketOffer(OURS, "new", "new", False, our_price, Decimal(0), 98, 1000, sku="MY-SKU")
    offers = [c for c in competitors if c.seller_id != OURS] + [ours]
    doc = any_offer_changed(MarketAsin(US, "B0ROUNDTRIP", "USD"), OURS, "new", offers, "Internal", 1_780_000_000.0)
    event = n.offer_price_observed(n.parse(json.dumps(doc).encode()), SELLERS, "test")
    assert len(event.offers) == len(offers)
    assert sorted((o.seller_id, o.listing_price.amount, o.shipping.amount, o.is_ours) for o in event.offers) == sorted(
        (o.seller_id, o.price, o.shipping, o.sku is not None) for o in offers)
    assert event.lowest_landed_price.amount == min(o.landed for o in offers)
    winners = [o for o in event.offers if o.is_buy_box_winner]
    assert len(winners) <= 1
    if winners:
        assert event.buy_box_landed_price.amount == winners[0].listing_price.amount + winners[0].shipping.amount
