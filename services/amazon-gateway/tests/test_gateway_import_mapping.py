"""Listing import, pure part: Amazon's searchListingsItems items as AmazonListingObserved, no I/O."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from amazon_gateway.client import search_results_problem
from amazon_gateway.listing_import import (
    REPORT_CONDITIONS,
    SEARCH_PAGEABLE,
    Progress,
    available_quantity,
    next_token,
    observed,
    offer_price,
    page_events,
    report_events,
    report_rows,
)
from amazon_sim import schemas
from contracts import decode, encode

US = "ATVPDKIKX0DER"
DE = "A1PA6795UKMFR9"
RUN = uuid.uuid4()
SEARCH_RESULTS = schemas.response_validator(schemas.LISTINGS, "searchListingsItems", 200)


def item(sku: str = "SKU-1", **overrides: Any) -> dict[str, Any]:
    """An item as Amazon answers it with includedData=summaries,offers,fulfillmentAvailability,issues,attributes."""
    body: dict[str, Any] = {
        "sku": sku,
        "summaries": [
            {"marketplaceId": DE, "asin": "B0DEDEDEDE", "productType": "SHOES", "status": ["DISCOVERABLE"],
             "createdDate": "2026-01-01T00:00:00Z", "lastUpdatedDate": "2026-01-02T00:00:00Z"},
            {"marketplaceId": US, "asin": "B0USUSUSUS", "productType": "HOME", "conditionType": "used_like_new",
             "status": ["BUYABLE", "DISCOVERABLE"], "fnSku": "X00FNSKU01", "itemName": "A lamp",
             "createdDate": "2026-01-01T00:00:00Z", "lastUpdatedDate": "2026-01-02T00:00:00Z"}],
        "offers": [
            {"marketplaceId": US, "offerType": "B2B", "price": {"currencyCode": "USD", "amount": "17.00"}},
            {"marketplaceId": US, "offerType": "B2C", "price": {"currencyCode": "USD", "amount": "19.99"}},
            {"marketplaceId": DE, "offerType": "B2C", "price": {"currencyCode": "EUR", "amount": "18.50"}}],
        "fulfillmentAvailability": [{"fulfillmentChannelCode": "AMAZON_NA", "quantity": 40},
                                    {"fulfillmentChannelCode": "DEFAULT", "quantity": 7}],
        "issues": [{"code": "90220", "message": "'brand' is required but not supplied.", "severity": "ERROR",
                    "attributeNames": ["brand"], "categories": ["MISSING_ATTRIBUTE"]}],
        "attributes": {
            "externally_assigned_product_identifier": [{"type": "ean", "value": "4006381333931",
                                                        "marketplace_id": US},
                                                       {"type": "upc", "value": "036000291452",
                                                        "marketplace_id": DE}],
            "condition_type": [{"value": "new_new", "marketplace_id": US}]},
    }
    return body | overrides


def test_the_example_item_is_what_the_model_allows() -> None:
    page = {"numberOfResults": 1, "items": [item()], "pagination": {"nextToken": "abc"}}
    assert schemas.first_error(SEARCH_RESULTS, page) is None
    assert search_results_problem(page) is None


def test_item_becomes_an_observed_listing_of_its_marketplace() -> None:
    e = observed(item(), account_id="acct", marketplace_id=US, producer="amazon-gateway", correlation_id=RUN)
    assert (e.account_id, e.marketplace_id, e.sku, e.source) == ("acct", US, "SKU-1", "import")
    assert (e.asin, e.product_type, e.status) == ("B0USUSUSUS", "HOME", ["BUYABLE", "DISCOVERABLE"])
    assert e.price is not None and (e.price.amount, e.price.currency) == (Decimal("19.99"), "USD")  # B2C, not B2B
    assert e.quantity == 7  # the merchant-fulfilled channel this platform manages
    assert e.condition == "used_like_new"  # the summary wins over the attribute
    assert e.identifiers == {"EAN": "4006381333931", "FNSKU": "X00FNSKU01"}  # the DE UPC belongs elsewhere
    assert e.issues is not None and [(i.code, i.severity, i.attribute_names) for i in e.issues] == [
        ("90220", "ERROR", ["brand"])]
    assert e.correlation_id == RUN and e.event_id != RUN
    assert decode(encode(e)) == e


def test_the_other_marketplace_gets_its_own_values() -> None:
    e = observed(item(), account_id="acct", marketplace_id=DE, producer="p", correlation_id=RUN)
    assert (e.asin, e.product_type, e.status) == ("B0DEDEDEDE", "SHOES", ["DISCOVERABLE"])
    assert e.price is not None and str(e.price) == "18.50 EUR"
    assert e.identifiers == {"UPC": "036000291452"}
    assert e.condition is None


def test_summaries_only_item_says_what_it_does_not_know() -> None:
    bare = {"sku": "S", "summaries": [{"marketplaceId": US, "asin": "B0X", "productType": "HOME",
                                       "status": [], "createdDate": "2026-01-01T00:00:00Z",
                                       "lastUpdatedDate": "2026-01-01T00:00:00Z"}]}
    e = observed(bare, account_id="a", marketplace_id=US, producer="p", correlation_id=RUN)
    assert (e.price, e.quantity, e.issues, e.condition, e.identifiers, e.status) == (None, None, None, None, {}, [])
    no_summary = observed({"sku": "S", "productTypes": [{"marketplaceId": US, "productType": "TOYS"}]},
                          account_id="a", marketplace_id=US, producer="p", correlation_id=RUN)
    assert (no_summary.asin, no_summary.product_type) == (None, "TOYS")


def test_fba_only_listing_reports_amazons_quantity() -> None:
    assert available_quantity({"fulfillmentAvailability": [{"fulfillmentChannelCode": "AMAZON_EU", "quantity": 3},
                                                           {"fulfillmentChannelCode": "AMAZON_NA"}]}) == 3
    assert available_quantity({"fulfillmentAvailability": [{"fulfillmentChannelCode": "DEFAULT"}]}) is None
    assert available_quantity({"fulfillmentAvailability": [{"fulfillmentChannelCode": "DEFAULT", "quantity": -1},
                                                           {"fulfillmentChannelCode": "X", "quantity": True}]}) is None


def test_unusable_prices_are_left_out_never_guessed() -> None:
    for price in ({"currencyCode": "USD", "amount": "1e3"}, {"currencyCode": "usd", "amount": "1.00"},
                  {"currencyCode": "USD", "amount": True}, {"currencyCode": "USD"}, "19.99",
                  {"currencyCode": "USD", "amount": float("nan")}):
        assert offer_price({"offers": [{"marketplaceId": US, "price": price}]}, US) is None, price
    # a number (not what the Listings model sends) is read through its decimal text, not as a binary float
    money = offer_price({"offers": [{"marketplaceId": US, "price": {"currencyCode": "USD", "amount": 0.1}}]}, US)
    assert money is not None and money.amount == Decimal("0.1")


def test_an_item_that_cannot_be_an_event_is_named_and_the_page_goes_on() -> None:
    built = page_events([item("A"), item("X" * 41), item("B")], account_id="a", marketplace_id=US, producer="p",
                        correlation_id=RUN)
    assert [e.sku for e in built.events] == ["A", "B"]
    assert len(built.skipped) == 1 and built.skipped[0].startswith(repr("X" * 41)) and "sku" in built.skipped[0]


def test_search_answers_the_client_refuses() -> None:
    assert search_results_problem({"numberOfResults": "malformed", "items": "malformed"})
    assert search_results_problem({"numberOfResults": True, "items": []})
    assert search_results_problem({"numberOfResults": 1, "items": [{"summaries": []}]})
    assert search_results_problem({"numberOfResults": 1, "items": [], "pagination": {"nextToken": 12345}})
    assert search_results_problem({"numberOfResults": 0, "items": [], "pagination": {}}) is None
    assert next_token({"pagination": {"nextToken": "t", "previousToken": "p"}}) == "t"
    assert next_token({"pagination": {"previousToken": "p"}}) is None and next_token({}) is None


def test_listings_beyond_what_search_pages_through_are_counted() -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    p = Progress("a", US, RUN, "done", "search", None, 50, 1000, 0, 1234, None, None, now, now, now)
    assert p.unreachable == 1234 - SEARCH_PAGEABLE and p.as_json()["unreachable"] == 234
    assert Progress("a", US, RUN, "done", "search", None, 1, 5, 0, 5, None, None, now, now, now).unreachable == 0
    assert Progress("a", US, RUN, "done", "report", "1", 3, 1234, 0, 1234, None, None, now, now, now).unreachable == 0


amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2)
channels = st.lists(st.tuples(st.sampled_from(["DEFAULT", "AMAZON_NA", "AMAZON_EU"]),
                              st.one_of(st.none(), st.integers(min_value=0, max_value=10**6))), max_size=4)


@settings(max_examples=200, deadline=None)
@given(sku=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=40),
       amount=amounts, currency=st.sampled_from(["USD", "EUR", "JPY", "GBP"]), fulfillment=channels)
def test_any_schema_valid_item_becomes_an_event_with_its_exact_price(
        sku: str, amount: Decimal, currency: str, fulfillment: list[tuple[str, int | None]]) -> None:
    availability = [{"fulfillmentChannelCode": c} | ({} if q is None else {"quantity": q}) for c, q in fulfillment]
    raw = item(sku, offers=[{"marketplaceId": US, "offerType": "B2C",
                             "price": {"currencyCode": currency, "amount": format(amount, "f")}}],
               fulfillmentAvailability=availability)
    assert schemas.first_error(SEARCH_RESULTS, {"numberOfResults": 1, "items": [raw]}) is None
    built = page_events([raw], account_id="a", marketplace_id=US, producer="p", correlation_id=RUN)
    assert not built.skipped
    (e,) = built.events
    assert e.sku == sku and e.price is not None and e.price.amount == amount and e.price.currency == currency
    merchant = [q for c, q in fulfillment if c == "DEFAULT" and q is not None]
    others = [q for c, q in fulfillment if q is not None]
    assert e.quantity == (sum(merchant) if merchant else sum(others) if others else None)
    assert decode(encode(e)) == e


# ---------------------------------------------------------------- the merchant listings report


def report_of(listings: list[dict[str, Any]]) -> bytes:
    """GET_MERCHANT_LISTINGS_ALL_DATA as the simulator writes it, for listings given as attributes."""
    from amazon_sim.api_reports import merchant_listings
    from amazon_sim.listings import Listing

    return merchant_listings([Listing("A1SELLER", x["sku"], "HOME", "LISTING", x["attributes"], [US], 0.0, 0.0)
                              for x in listings], US)


def listing_attributes(price: str | None, quantity: int | None, condition: str = "new_new",
                       ean: str | None = None, channel: str = "DEFAULT") -> dict[str, Any]:
    attributes: dict[str, Any] = {"item_name": [{"value": "Lamp", "marketplace_id": US}],
                                  "condition_type": [{"value": condition, "marketplace_id": US}]}
    if price is not None:
        attributes["purchasable_offer"] = [{"marketplace_id": US, "currency": "USD",
                                            "our_price": [{"schedule": [{"value_with_tax": price}]}]}]
    availability: dict[str, Any] = {"fulfillment_channel_code": channel}
    if quantity is not None:
        availability["quantity"] = quantity
    attributes["fulfillment_availability"] = [availability]
    if ean:
        attributes["externally_assigned_product_identifier"] = [{"type": "ean", "value": ean, "marketplace_id": US}]
    return attributes


def test_report_rows_become_observed_listings() -> None:
    content = report_of([
        {"sku": "LAMP-1", "attributes": listing_attributes("19.99", 4, "used_good", ean="4006381333931")},
        {"sku": "FBA-1", "attributes": listing_attributes("5.00", None, channel="AMAZON_NA")},
        {"sku": "OUT-1", "attributes": listing_attributes("7.00", 0)},
    ])
    rows = report_rows(content)
    built = report_events(rows, account_id="a", marketplace_id=US, currency="USD", producer="p", correlation_id=RUN)
    by_sku = {e.sku: e for e in built.events}
    lamp = by_sku["LAMP-1"]
    assert lamp.price is not None and (lamp.price.amount, lamp.price.currency) == (Decimal("19.99"), "USD")
    assert (lamp.quantity, lamp.condition, lamp.identifiers, lamp.status, lamp.source) == (
        4, "used_good", {"EAN": "4006381333931"}, ["BUYABLE", "DISCOVERABLE"], "report")
    assert lamp.asin and lamp.product_type is None and lamp.issues is None  # the report does not say
    assert (by_sku["FBA-1"].quantity, by_sku["FBA-1"].identifiers) == (None, {})
    assert by_sku["OUT-1"].status == ["DISCOVERABLE"] and by_sku["OUT-1"].quantity == 0
    assert all(e.correlation_id == RUN for e in built.events) and not built.skipped


def test_report_text_in_windows_1252_and_with_a_bom_is_read() -> None:
    header = "item-name\tseller-sku\tprice\tquantity\tasin1\tstatus\n"
    assert report_rows(("\ufeff" + header + "Café\tS-1\t1.00\t2\tB0X\tActive\n").encode())[0]["item-name"] == "Café"
    cp1252 = (header + "Café – naïve\tS-2\t3.50\t\tB0Y\tInactive\n").encode("cp1252")
    (row,) = report_rows(cp1252)
    assert (row["item-name"], row["seller-sku"], row["quantity"]) == ("Café – naïve", "S-2", "")
    assert report_rows(b"") == [] and report_rows(header.encode()) == []


def test_report_rows_that_cannot_be_events_are_named() -> None:
    rows = [{"seller-sku": "", "price": "1.00"}, {"seller-sku": "OK", "price": "oops", "quantity": "-3"}]
    built = report_events(rows, account_id="a", marketplace_id=US, currency="USD", producer="p", correlation_id=RUN)
    (ok,) = built.events
    assert (ok.sku, ok.price, ok.quantity) == ("OK", None, None)
    assert len(built.skipped) == 1 and built.skipped[0].startswith("''")
    (no_currency,) = report_events([{"seller-sku": "X", "price": "2.00"}], account_id="a", marketplace_id="NEW",
                                   currency=None, producer="p", correlation_id=RUN).events
    assert no_currency.price is None  # an amount without a known currency is not guessed


@settings(max_examples=60, deadline=None)
@given(listings=st.lists(st.tuples(amounts, st.one_of(st.none(), st.integers(min_value=0, max_value=10**5)),
                                   st.sampled_from(sorted(REPORT_CONDITIONS.values()))),
                         min_size=1, max_size=15))
def test_any_simulated_report_round_trips_price_quantity_and_condition(
        listings: list[tuple[Decimal, int | None, str]]) -> None:
    given_listings = {f"SKU-{i:03d}": v for i, v in enumerate(listings)}
    content = report_of([{"sku": sku, "attributes": listing_attributes(format(price, "f"), quantity, condition)}
                         for sku, (price, quantity, condition) in given_listings.items()])
    built = report_events(report_rows(content), account_id="a", marketplace_id=US, currency="USD", producer="p",
                          correlation_id=RUN)
    assert not built.skipped and len(built.events) == len(given_listings)
    for e in built.events:
        price, quantity, condition = given_listings[e.sku]
        assert e.price is not None and e.price.amount == price
        assert (e.quantity, e.condition) == (quantity if quantity is not None else 0, condition)
