import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from amazon_gateway.domain.coalesce import ListingUpdateCoalescer, PendingUpdate
from amazon_gateway.domain.payloads import (
    MissingValue,
    attribute_number,
    feed_document,
    feed_outcomes,
    listings_money,
    parse_processing_report,
    patch_request,
    put_request,
    report_items,
    submission_outcome,
    verifiable,
    verify_applied,
)
from contracts.events import ListingUpdateKind, ListingUpdateRequested
from contracts.money import Money

HERE = Path(__file__).parent
# Amazon's published models: the copy vendored with the simulator, else the steering repo's.
MODEL_DIRS = (
    HERE.parents[3] / "simulators/amazon-sim/src/amazon_sim/amazon_models",
    Path("/work/shared/amazon-models/models/listings-items-api-model"),
    Path("/work/shared/amazon-models/schemas/feeds"),
)
# Amazon's example processing report (Apache-2.0, like the vendored models).
REPORT_EXAMPLE = HERE / "listings-feed-processing-report-v2.example.json"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
MARKETPLACE = "A1PA6795UKMFR9"


def model(name):
    for directory in MODEL_DIRS:
        if (directory / name).exists():
            return json.loads((directory / name).read_text())
    pytest.skip(f"{name} not available")


@cache
def listings_validator(definition):
    definitions = model("listingsItems_2021-08-01.json")["definitions"]
    return Draft7Validator({"$ref": f"#/definitions/{definition}", "definitions": definitions})


@cache
def feed_validator():
    return Draft7Validator(model("listings-feed-schema-v2.json"))


def request(sku="SKU-1", kind=ListingUpdateKind.PRICE, at=0, **fields):
    return ListingUpdateRequested.new(
        producer="catalog-sync",
        account_id="acct",
        marketplace_id=MARKETPLACE,
        sku=sku,
        kind=kind,
        requested_at=T0 + timedelta(seconds=at),
        **fields,
    )


def coalesced(*requests) -> list[PendingUpdate]:
    c = ListingUpdateCoalescer()
    c.add_all(requests)
    return c.drain()


def eur(amount):
    return Money(amount=amount, currency="EUR")


def test_price_and_quantity_patch_body():
    [update] = coalesced(
        request(price=eur("19.99")),
        request(kind=ListingUpdateKind.QUANTITY, quantity=7, handling_time_days=2),
    )
    body = patch_request(update)
    listings_validator("ListingsItemPatchRequest").validate(body)
    assert body == {
        "productType": "PRODUCT",
        "patches": [
            {
                "op": "replace",
                "path": "/attributes/purchasable_offer",
                "value": [
                    {"marketplace_id": MARKETPLACE, "currency": "EUR", "our_price": [{"schedule": [{"value_with_tax": 19.99}]}]}
                ],
            },
            {
                "op": "replace",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 7, "lead_time_to_ship_max_days": 2}],
            },
        ],
    }
    assert '"value_with_tax": 19.99' in json.dumps(body)


def test_the_named_product_type_is_used():
    [update] = coalesced(request(price=eur("5"), product_type="LUGGAGE"))
    assert patch_request(update)["productType"] == "LUGGAGE"


def test_put_body_for_a_new_listing():
    [update] = coalesced(
        request(kind=ListingUpdateKind.CREATE, product_type="LUGGAGE", attributes={"item_name": "Case"}, price=eur("30"), quantity=3),
    )
    body = put_request(update)
    listings_validator("ListingsItemPutRequest").validate(body)
    assert set(body["attributes"]) == {"item_name", "purchasable_offer", "fulfillment_availability"}


def test_a_new_listing_needs_a_product_type():
    [update] = coalesced(request(kind=ListingUpdateKind.CREATE))
    with pytest.raises(MissingValue):
        put_request(update)


def test_attribute_numbers_round_to_the_minor_unit():
    assert attribute_number(eur("10.005")) == 10.01
    assert attribute_number(Money(amount="1999.5", currency="JPY")) == 2000
    assert isinstance(attribute_number(eur("12.00")), int)
    assert attribute_number(Money(amount="1.2345", currency="KWD")) == 1.235


def test_listings_money_is_a_decimal_string():
    assert listings_money(eur("19.9")) == {"currencyCode": "EUR", "amount": "19.90"}
    listings_validator("Money").validate(listings_money(eur("19.9")))


def test_feed_document_validates_and_maps_messages_to_requests():
    updates = coalesced(
        request("P", price=eur("12.50")),
        request("Q", kind=ListingUpdateKind.QUANTITY, quantity=0),
        request("N", kind=ListingUpdateKind.CREATE, product_type="LUGGAGE", attributes={"item_name": "x"}),
        request("D", kind=ListingUpdateKind.DELETE),
        request("A", kind=ListingUpdateKind.ATTRIBUTES, attributes={"bullet_point": "Strong"}),
    )
    doc = feed_document("A2SELLER", updates, issue_locale="de_DE")
    feed_validator().validate(doc.document)
    messages = doc.document["messages"]
    assert doc.document["header"] == {"sellerId": "A2SELLER", "version": "2.0", "issueLocale": "de_DE"}
    assert [(m["messageId"], m["sku"], m["operationType"]) for m in messages] == [
        (1, "P", "PATCH"),
        (2, "Q", "PATCH"),
        (3, "N", "UPDATE"),
        (4, "D", "DELETE"),
        (5, "A", "PATCH"),
    ]
    assert doc.updates_by_message[4].sku == "D"


def test_feed_document_size_limits():
    with pytest.raises(ValueError):
        feed_document("S", [])


def test_the_example_processing_report_parses():
    report = json.loads(REPORT_EXAMPLE.read_text())
    Draft7Validator(model("listings-feed-processing-report-schema-v2.json")).validate(report)
    parsed = parse_processing_report(report)
    assert parsed.feed_id == "1234567890"
    assert parsed.by_sku["My-SKU-B"].accepted is False
    assert [i.code for i in parsed.by_sku["My-SKU-B"].issues] == ["90220", "90220"]
    assert parsed.by_sku["My-SKU-C"].issues[0].attribute_names == ["purchasable_offer.our_price"]
    assert parsed.by_message[5].accepted is False
    assert parsed.feed_issues == []


def test_feed_outcomes_per_request():
    price_a, price_b, qty_b = request("A", price=eur("1")), request("B", price=eur("2")), request("B", kind=ListingUpdateKind.QUANTITY, quantity=1)
    doc = feed_document("S", coalesced(price_a, price_b, qty_b))
    report = {
        "header": {"sellerId": "S", "version": "2.0", "feedId": "F1"},
        "issues": [{"messageId": 2, "sku": "B", "code": "8541", "severity": "ERROR", "message": "conflict"}],
        "summary": {"errors": 1, "warnings": 0, "messagesProcessed": 2, "messagesAccepted": 1, "messagesInvalid": 1},
    }
    outcomes = feed_outcomes(doc, report)
    assert outcomes[price_a.event_id].accepted is True
    assert outcomes[price_b.event_id].accepted is outcomes[qty_b.event_id].accepted is False
    assert outcomes[qty_b.event_id].issues[0].code == "8541"
    assert outcomes[price_a.event_id].submission_id == "F1"


def test_an_issue_naming_only_the_sku_reaches_its_message():
    doc = feed_document("S", coalesced(request("A", price=eur("1")), request("B", price=eur("2"))))
    report = {"header": {"feedId": "F"}, "issues": [{"sku": "B", "severity": "ERROR", "message": "no such SKU"}]}
    parsed = parse_processing_report(report, doc)
    assert (parsed.by_message[1].accepted, parsed.by_message[2].accepted) == (True, False)
    assert parsed.by_sku["B"].issues[0].code == "unknown"


def test_a_feed_level_error_rejects_every_message():
    doc = feed_document("S", coalesced(request("A", price=eur("1"))))
    report = {"header": {"feedId": "F"}, "issues": [{"severity": "ERROR", "message": "malformed feed", "code": "4000001"}]}
    assert all(not o.accepted for o in feed_outcomes(doc, report).values())


def test_submission_outcome():
    accepted = submission_outcome({"sku": "A", "status": "ACCEPTED", "submissionId": "s1", "issues": []})
    assert accepted.accepted and accepted.submission_id == "s1"
    invalid = submission_outcome(
        {"sku": "A", "status": "INVALID", "submissionId": "s2", "issues": [{"code": "90220", "message": "m", "severity": "ERROR", "attributeNames": ["x"]}]}
    )
    assert not invalid.accepted and invalid.issues[0].attribute_names == ["x"]


def observed(price="19.99", quantity=7):
    return {
        "sku": "SKU-1",
        "summaries": [
            {
                "marketplaceId": MARKETPLACE,
                "asin": "B0",
                "productType": "LUGGAGE",
                "status": ["BUYABLE"],
                "createdDate": "2026-01-01T00:00:00Z",
                "lastUpdatedDate": "2026-11-26T12:00:00Z",
            }
        ],
        "offers": [{"marketplaceId": MARKETPLACE, "offerType": "B2C", "price": {"currencyCode": "EUR", "amount": price}}],
        "fulfillmentAvailability": [{"fulfillmentChannelCode": "DEFAULT", "quantity": quantity}],
    }


def test_verify_applied_returns_what_amazon_did_not_apply():
    price, qty = request(price=eur("19.99")), request(kind=ListingUpdateKind.QUANTITY, quantity=7)
    listings_validator("Item").validate(observed())
    assert verify_applied([price, qty], observed()) == []
    assert verify_applied([price, qty], observed(price="19.9900")) == []
    assert verify_applied([price, qty], observed(price="21.00")) == [price]
    assert verify_applied([price, qty], observed(quantity=3)) == [qty]
    assert verify_applied([price, qty], None) == [price, qty]
    assert verify_applied([price, qty], {"sku": "SKU-1"}) == [price, qty]


prices = st.decimals(min_value="0.01", max_value="99999.99", places=2).map(lambda d: Money(amount=str(d), currency="EUR"))
any_request = st.one_of(
    st.builds(lambda sku, p, at: request(sku, price=p, at=at), st.sampled_from("ABC"), prices, st.integers(0, 100)),
    st.builds(
        lambda sku, q, h, at: request(sku, ListingUpdateKind.QUANTITY, at, quantity=q, handling_time_days=h),
        st.sampled_from("ABC"),
        st.integers(0, 10_000),
        st.none() | st.integers(0, 30),
        st.integers(0, 100),
    ),
    st.builds(
        lambda sku, attrs, at: request(sku, ListingUpdateKind.ATTRIBUTES, at, attributes=attrs),
        st.sampled_from("ABC"),
        st.dictionaries(st.sampled_from(["item_name", "brand", "bullet_point"]), st.text(min_size=1, max_size=20), min_size=1),
        st.integers(0, 100),
    ),
    st.builds(lambda sku, at: request(sku, ListingUpdateKind.DELETE, at), st.sampled_from("ABC"), st.integers(0, 100)),
    st.builds(
        lambda sku, at: request(sku, ListingUpdateKind.CREATE, at, product_type="LUGGAGE", attributes={"item_name": "x"}),
        st.sampled_from("ABC"),
        st.integers(0, 100),
    ),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(any_request, min_size=1, max_size=12))
def test_whatever_is_coalesced_builds_schema_valid_bodies(requests):
    updates = coalesced(*requests)
    feed_validator().validate(feed_document("S", updates).document)
    for update in updates:
        if update.lifecycle is ListingUpdateKind.CREATE:
            listings_validator("ListingsItemPutRequest").validate(put_request(update))
        elif update.lifecycle is None:
            body = patch_request(update)
            listings_validator("ListingsItemPatchRequest").validate(body)
            json.loads(json.dumps(body))


def test_feed_document_asks_for_the_listings_in_its_report():
    doc = feed_document("A2SELLER", coalesced(request("P", price=eur("3.10"))),
                        report_included=("summaries", "offers", "fulfillmentAvailability"))
    feed_validator().validate(doc.document)
    assert doc.document["header"]["report"] == {
        "includedData": ["summaries", "offers", "fulfillmentAvailability"], "apiVersion": "2021-08-01"}


def test_report_items_by_sku_ignore_what_is_not_a_listing():
    report = {"items": [observed() | {"sku": "A"}, {"no": "sku"}, "junk", observed() | {"sku": "B"}]}
    assert sorted(report_items(report)) == ["A", "B"]
    assert report_items({"issues": []}) == {} and report_items({"items": "x"}) == {}


def test_a_report_item_is_a_read_back_for_verify_applied():
    price, qty = request(price=eur("19.99")), request(kind=ListingUpdateKind.QUANTITY, quantity=7)
    item = report_items({"items": [observed(price="19.99", quantity=3)]})["SKU-1"]
    assert verify_applied([price, qty], item) == [qty]


def test_only_prices_and_quantities_can_be_verified():
    assert verifiable([request(price=eur("1.00"))])
    assert verifiable([request(kind=ListingUpdateKind.QUANTITY, quantity=0)])
    assert not verifiable([request(kind=ListingUpdateKind.ATTRIBUTES, attributes={"bullet_point": "x"})])
    assert not verifiable([request(kind=ListingUpdateKind.DELETE)])
