"""The committed JSON Schemas are current and describe exactly what `contracts.encode` emits."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import jsonschema
import pytest

from contracts import InvalidEvent, Money, decode, encode, export
from contracts.envelope import Event
from contracts.events import (
    ALL_EVENTS,
    Address,
    AmazonIssue,
    AmazonListingObserved,
    AuditRecorded,
    CommerceOrderCancelled,
    CommerceOrderCreated,
    CommerceOrderFailed,
    CommerceOrderRequested,
    CommerceProductRequested,
    CommerceProductResult,
    CommerceStoreGroup,
    CommerceStoreView,
    CommerceWebsite,
    CommunicationError,
    CompetitivePriceObserved,
    CurrencyRatesObserved,
    FieldChange,
    FulfillmentBy,
    FulfillmentChannel,
    ListingChanged,
    ListingStatus,
    ListingUpdateKind,
    ListingUpdateRequested,
    ListingUpdateResult,
    Offer,
    OfferPriceObserved,
    OrderActionResult,
    OrderCancelRequested,
    OrderLine,
    OrderPlaced,
    OrderStatusChanged,
    PriceChanged,
    PriceTraceStep,
    ProductChanged,
    ProductStatus,
    ShipmentConfirmRequested,
    ShipmentCreated,
    StockReservationChanged,
    StoreStructureObserved,
    TierPrice,
)

T0 = datetime(2026, 11, 26, 9, 30, 15, 250000, tzinfo=UTC)
US = {"account_id": "acct-7", "marketplace_id": "ATVPDKIKX0DER"}
LISTING = {**US, "sku": "24-MB01-NEW"}


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def _lines() -> list[OrderLine]:
    return [
        OrderLine(order_item_id="55016243091234", sku="24-MB01-NEW", asin="B07XJ8C8F5", quantity=2,
                  item_price=usd("68.00"), item_tax=usd("5.44"), shipping_price=usd("4.99")),
        OrderLine(order_item_id="55016243095678", sku="24-WG02", asin="B08K2S1NQ4", quantity=1,
                  item_price=usd("32.00")),
    ]


def _address() -> Address:
    return Address(name="Jane Doe", line1="410 Terry Ave N", city="Seattle", region="WA",
                   postal_code="98109", country_code="US", phone="+1 206 555 0100")


# Full: every optional field filled in. The minimal variants below leave every default alone.
FULL: dict[type[Event], Callable[[], Event]] = {
    ProductChanged: lambda: ProductChanged.new(
        producer="commerce-gateway", store_code="us", sku="24-MB01", name="Joust Duffle Bag",
        status=ProductStatus.ENABLED, price=usd("34.00"), quantity=100,
        attributes={"ean": "4006381333931", "brand": "Luma"},
        website_attributes={"us_site": {"price": "32.00", "special_price": "29.99"}}, updated_at=T0,
        product_type="simple", visibility=4, parent_sku="24-MB",
        special_price=usd("29.99"), special_price_from=T0, special_price_to=T0 + timedelta(days=7),
        msrp=usd("39.00"), cost=usd("17.50"),
        tier_prices=[TierPrice(customer_group_id=32000, quantity=Decimal("5"), price=usd("31.00"))],
        in_stock=True, manage_stock=True, website_ids=[1, 2],
    ),
    AmazonListingObserved: lambda: AmazonListingObserved.new(
        producer="amazon-gateway", **LISTING, asin="B07XJ8C8F5", product_type="LUGGAGE",
        status=["BUYABLE", "DISCOVERABLE"], price=usd("36.50"), quantity=12, condition="new_new",
        identifiers={"EAN": "4006381333931"},
        issues=[AmazonIssue(code="18027", message="Listing suppressed: image missing", severity="ERROR",
                            attribute_names=["main_product_image_locator"])],
        source="issues_notification",
    ),
    ListingChanged: lambda: ListingChanged.new(
        producer="catalog-sync", **LISTING, product_sku="24-MB01", asin="B07XJ8C8F5",
        condition="new_new", status=ListingStatus.ACTIVE, quantity=12, price=usd("36.50"), version=3,
        changes=[FieldChange(field="quantity", old="10", new="12"),
                 FieldChange(field="asin", old=None, new="B07XJ8C8F5")],
    ),
    OfferPriceObserved: lambda: OfferPriceObserved.new(
        producer="amazon-gateway", marketplace_id="ATVPDKIKX0DER", asin="B07XJ8C8F5",
        account_id="acct-7", observed_at=T0, lowest_landed_price=usd("35.98"),
        buy_box_landed_price=usd("36.49"),
        offers=[
            Offer(seller_id="A2EUQ1WTGCTBG2", is_ours=False, condition="new", sub_condition="new",
                  fulfillment_channel=FulfillmentChannel.AMAZON, listing_price=usd("35.98"),
                  shipping=usd("0.00"), feedback_rating=98, feedback_count=15230,
                  is_buy_box_winner=True, is_prime=True),
            Offer(seller_id="A1OURSELLER", is_ours=True, condition="new",
                  fulfillment_channel=FulfillmentChannel.MERCHANT, listing_price=usd("36.50"),
                  shipping=usd("4.99")),
        ],
    ),
    PriceChanged: lambda: PriceChanged.new(
        producer="repricer", **LISTING, old_price=usd("36.50"), new_price=usd("35.97"),
        business_price=usd("34.99"),
        trace=[PriceTraceStep(step="base_price", detail="price attribute", price=usd("34.00")),
               PriceTraceStep(step="competitor", detail="lowest - 0.01", price=usd("35.97")),
               PriceTraceStep(step="floor", detail="floor 30.00 not reached")],
    ),
    CompetitivePriceObserved: lambda: CompetitivePriceObserved.new(
        producer="repricer", **LISTING, asin="B07XJ8C8F5", our_price=usd("41.49"),
        lowest_landed_price=usd("35.98"), lowest_condition="new", buy_box_landed_price=usd("36.49"),
        buy_box_condition="new", is_buy_box_winner=False, observed_at=T0,
    ),
    ListingUpdateRequested: lambda: ListingUpdateRequested.new(
        producer="repricer", **LISTING, kind=ListingUpdateKind.PRICE, price=usd("35.97"),
        quantity=12, handling_time_days=2, product_type="LUGGAGE",
        attributes={"condition_type": "new_new"}, urgent=True, requested_at=T0,
    ),
    ListingUpdateResult: lambda: ListingUpdateResult.new(
        producer="amazon-gateway", **LISTING,
        request_event_id="6f1c3a52-3b1e-4a8e-9d0e-1c2b3a4d5e6f",
        accepted=False, submission_id="b7ad1c2e4f",
        issues=[AmazonIssue(code="90220", message="'condition_type' is required but not supplied.",
                            severity="ERROR", attribute_names=["condition_type"])],
    ),
    OrderPlaced: lambda: OrderPlaced.new(
        producer="amazon-gateway", **US, amazon_order_id="113-4567890-1234567", purchase_date=T0,
        order_status="Unshipped", fulfillment=FulfillmentBy.MFN, order_total=usd("115.43"),
        lines=_lines(), buyer_email="abc123@marketplace.amazon.com", shipping_address=_address(),
    ),
    OrderStatusChanged: lambda: OrderStatusChanged.new(
        producer="amazon-gateway", **US, amazon_order_id="113-4567890-1234567",
        previous_status="Pending", order_status="Unshipped", last_update_date=T0,
        buyer_email="jane@marketplace.amazon.com", shipping_address=_address(),
    ),
    CommerceOrderRequested: lambda: CommerceOrderRequested.new(
        producer="order-import", **US, amazon_order_id="113-4567890-1234567", store_code="us",
        commerce_status="processing", fulfillment=FulfillmentBy.MFN, lines=_lines(),
        order_total=usd("115.43"), customer_email="abc123@marketplace.amazon.com",
        shipping_address=_address(), create_customer=True, increment_id="113-4567890-1234567",
    ),
    CommerceOrderCreated: lambda: CommerceOrderCreated.new(
        producer="commerce-gateway", **US, amazon_order_id="113-4567890-1234567", created=True,
        commerce_order_id="1042", increment_id="000001042", error="none",
    ),
    CommerceOrderFailed: lambda: CommerceOrderFailed.new(
        producer="commerce-gateway", **US, amazon_order_id="113-4567890-1234567", store_code="us",
        request_event_id=UUID("6f1c2b9e-3d4a-4c5b-9e8f-0a1b2c3d4e5f"), operation="POST /V1/orders", code="400",
        message='The product that was requested doesn\'t exist. Verify the product and try again.',
    ),
    CommerceProductRequested: lambda: CommerceProductRequested.new(
        producer="catalog-sync", **LISTING, action="create", store_code="default", commerce_sku="AMZ-24-MB01",
        asin="B07XJ8C8F5", name="Joust Duffle Bag", price=usd("34.00"), quantity=12,
        status=ProductStatus.ENABLED, visibility=4, attribute_set_id=15, website_ids=[1],
        attributes={"amazon_asin": "B07XJ8C8F5", "ean": "0885909950805", "manufacturer": "Luma"},
    ),
    CommerceProductResult: lambda: CommerceProductResult.new(
        producer="commerce-gateway", **LISTING, request_event_id=UUID(int=7), commerce_sku="AMZ-24-MB01",
        outcome="failed", commerce_product_id=2041, code="400",
        message='The value of attribute "ean" must be unique',
    ),
    CommerceOrderCancelled: lambda: CommerceOrderCancelled.new(
        producer="commerce-gateway", **US, amazon_order_id="113-4567890-1234567", store_code="default",
        commerce_order_id="41", increment_id="000000041", cancelled_at=T0,
    ),
    StoreStructureObserved: lambda: StoreStructureObserved.new(
        producer="commerce-gateway", commerce="luma", observed_at=T0,
        websites=[CommerceWebsite(id=1, code="base", name="Main Website", default_group_id=1)],
        store_groups=[CommerceStoreGroup(id=1, code="main_website_store", name="Main Website Store", website_id=1,
                                         root_category_id=2, default_store_id=1)],
        store_views=[CommerceStoreView(id=1, code="default", name="Default Store View", website_id=1,
                                       store_group_id=1, is_active=True, base_currency="USD",
                                       default_display_currency="USD", locale="en_US",
                                       timezone="America/Chicago", weight_unit="lbs")],
    ),
    CurrencyRatesObserved: lambda: CurrencyRatesObserved.new(
        producer="commerce-gateway", commerce="luma", base_currency="USD", default_display_currency="USD",
        rates={"USD": Decimal("1"), "EUR": Decimal("0.9215"), "GBP": Decimal("0.7932")}, observed_at=T0,
    ),
    StockReservationChanged: lambda: StockReservationChanged.new(
        producer="order-import", **US, amazon_order_id="113-4567890-1234567", store_code="default",
        reserved={"24-MB01": 2, "24-WG02": 1}, version=3,
    ),
    ShipmentCreated: lambda: ShipmentCreated.new(
        producer="commerce-gateway", **US, amazon_order_id="113-4567890-1234567",
        commerce_shipment_id="77", carrier_code="ups", carrier_name="UPS",
        tracking_number="1Z999AA10123456784", shipped_at=T0,
        items={"55016243091234": 2, "55016243095678": 1},
    ),
    ShipmentConfirmRequested: lambda: ShipmentConfirmRequested.new(
        producer="order-import", **US, amazon_order_id="113-4567890-1234567", carrier_code="UPS",
        carrier_name="UPS", shipping_method="Ground", tracking_number="1Z999AA10123456784",
        ship_date=T0, items={"55016243091234": 2},
    ),
    OrderCancelRequested: lambda: OrderCancelRequested.new(
        producer="order-import", **US, amazon_order_id="113-4567890-1234567",
        reason_code="NoInventory",
    ),
    OrderActionResult: lambda: OrderActionResult.new(
        producer="amazon-gateway", **US, amazon_order_id="113-4567890-1234567", action="cancel",
        request_event_id=UUID("0b5c3f1e-8a55-4a4e-9a57-5a3b1c1f0d21"), accepted=False, feed_id="50014019001",
        issues=[AmazonIssue(code="25", message="Order already shipped", severity="ERROR")],
    ),
    CommunicationError: lambda: CommunicationError.new(
        producer="amazon-gateway", system="amazon", account_id="acct-7",
        marketplace_id="ATVPDKIKX0DER", region="na", operation="patchListingsItem",
        code="QuotaExceeded", message="You exceeded your quota for the requested resource.",
        attempts=5, request_ref="req-20261126-0001",
    ),
    AuditRecorded: lambda: AuditRecorded.new(
        producer="repricer", audit_id=42, actor="ops-team", actor_kind="api_key", action="config.update",
        target="PricingRule/clearance", before={"priority": 2, "active": True},
        after={"priority": 1, "active": True},
    ),
}

MINIMAL: dict[type[Event], Callable[[], Event]] = {
    ProductChanged: lambda: ProductChanged.new(
        producer="commerce-gateway", sku="MH01-XS-Black", name="Chaz Kangeroo Hoodie",
        status=ProductStatus.DISABLED, price=Money(amount=Decimal(52), currency="JPY"),
        quantity=0, updated_at=T0,
    ),
    AmazonListingObserved: lambda: AmazonListingObserved.new(producer="amazon-gateway", **LISTING),
    ListingChanged: lambda: ListingChanged.new(
        producer="catalog-sync", **LISTING, product_sku=None, status=ListingStatus.INCOMPLETE,
        quantity=0, price=None, version=1, changes=[],
    ),
    OfferPriceObserved: lambda: OfferPriceObserved.new(
        producer="amazon-gateway", marketplace_id="A1PA6795UKMFR9", asin="B07XJ8C8F5",
        observed_at=T0,
    ),
    PriceChanged: lambda: PriceChanged.new(
        producer="repricer", **LISTING, old_price=None, new_price=usd("19.99"), trace=[],
    ),
    CompetitivePriceObserved: lambda: CompetitivePriceObserved.new(
        producer="repricer", **LISTING, asin="B07XJ8C8F5", our_price=None,
        lowest_landed_price=None, buy_box_landed_price=None, is_buy_box_winner=None, observed_at=T0,
    ),
    ListingUpdateRequested: lambda: ListingUpdateRequested.new(
        producer="catalog-sync", **LISTING, kind=ListingUpdateKind.DELETE, requested_at=T0,
    ),
    ListingUpdateResult: lambda: ListingUpdateResult.new(
        producer="amazon-gateway", **LISTING, request_event_id="6f1c3a52", accepted=True,
    ),
    OrderPlaced: lambda: OrderPlaced.new(
        producer="amazon-gateway", **US, amazon_order_id="113-0000000-0000001", purchase_date=T0,
        order_status="Pending", fulfillment=FulfillmentBy.AFN, lines=[],
    ),
    OrderStatusChanged: lambda: OrderStatusChanged.new(
        producer="amazon-gateway", **US, amazon_order_id="113-0000000-0000001",
        previous_status=None, order_status="Canceled", last_update_date=T0,
    ),
    CommerceOrderRequested: lambda: CommerceOrderRequested.new(
        producer="order-import", **US, amazon_order_id="113-0000000-0000001", store_code="default",
        commerce_status="pending", fulfillment=FulfillmentBy.AFN, lines=_lines(),
    ),
    CommerceOrderCreated: lambda: CommerceOrderCreated.new(
        producer="commerce-gateway", **US, amazon_order_id="113-0000000-0000001", created=False,
    ),
    CommerceOrderFailed: lambda: CommerceOrderFailed.new(
        producer="commerce-gateway", **US, amazon_order_id="113-0000000-0000001", store_code="default",
        request_event_id=UUID("00000000-0000-4000-8000-000000000001"), operation="POST /V1/orders", code="400",
        message="",
    ),
    CommerceProductRequested: lambda: CommerceProductRequested.new(
        producer="catalog-sync", **LISTING, action="update", commerce_sku="24-MB01",
    ),
    CommerceProductResult: lambda: CommerceProductResult.new(
        producer="commerce-gateway", **LISTING, request_event_id=UUID(int=8), commerce_sku="24-MB01",
        outcome="updated",
    ),
    CommerceOrderCancelled: lambda: CommerceOrderCancelled.new(
        producer="commerce-gateway", **US, amazon_order_id="113-0000000-0000001", store_code="default",
        commerce_order_id="1", cancelled_at=T0,
    ),
    StoreStructureObserved: lambda: StoreStructureObserved.new(
        producer="commerce-gateway", observed_at=T0, websites=[], store_groups=[], store_views=[],
    ),
    CurrencyRatesObserved: lambda: CurrencyRatesObserved.new(
        producer="commerce-gateway", base_currency="USD", default_display_currency="USD", rates={},
        observed_at=T0,
    ),
    StockReservationChanged: lambda: StockReservationChanged.new(
        producer="order-import", **US, amazon_order_id="113-0000000-0000001", store_code="default",
        reserved={}, version=1,
    ),
    ShipmentCreated: lambda: ShipmentCreated.new(
        producer="commerce-gateway", **US, amazon_order_id="113-0000000-0000001",
        commerce_shipment_id="78", carrier_code="custom", tracking_number="T1", shipped_at=T0,
        items={},
    ),
    ShipmentConfirmRequested: lambda: ShipmentConfirmRequested.new(
        producer="order-import", **US, amazon_order_id="113-0000000-0000001", carrier_code="USPS",
        tracking_number="9400100000000000000000", ship_date=T0, items={"1": 1},
    ),
    OrderCancelRequested: lambda: OrderCancelRequested.new(
        producer="order-import", **US, amazon_order_id="113-0000000-0000001",
        reason_code="BuyerCanceled",
    ),
    OrderActionResult: lambda: OrderActionResult.new(
        producer="amazon-gateway", **US, amazon_order_id="113-0000000-0000001",
        action="confirm_shipment", request_event_id=UUID("0b5c3f1e-8a55-4a4e-9a57-5a3b1c1f0d22"),
        accepted=True,
    ),
    CommunicationError: lambda: CommunicationError.new(
        producer="commerce-gateway", system="commerce", operation="POST /V1/orders", code="503",
        message="Service Unavailable", attempts=1,
    ),
    AuditRecorded: lambda: AuditRecorded.new(
        producer="amazon-gateway", audit_id=1, actor="system", actor_kind="system", action="replay.listing_updates",
        target="account *",
    ),
}

EVENT_IDS = [cls.__name__ for cls in ALL_EVENTS]

FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    parsed = datetime.fromisoformat(value)
    return parsed.tzinfo is not None


def committed(cls: type[Event]) -> dict[str, Any]:
    return json.loads((export.SCHEMA_DIR / f"{cls.__name__}.json").read_text(encoding="utf-8"))


def validator(cls: type[Event]) -> jsonschema.protocols.Validator:
    schema = committed(cls)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=FORMATS)


def wire(event: Event) -> dict[str, Any]:
    return json.loads(encode(event))


def errors(cls: type[Event], instance: object) -> list[str]:
    found = validator(cls).iter_errors(instance)
    return [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in found]


# ---------------------------------------------------------------- the files are current


def test_committed_schemas_and_asyncapi_are_up_to_date() -> None:
    stale = export.out_of_date()
    assert not stale, (
        "libs/contracts generated files are out of date; run `make schemas` and commit them:\n  "
        + "\n  ".join(stale)
    )


def test_there_is_exactly_one_schema_file_per_event() -> None:
    on_disk = sorted(p.stem for p in export.SCHEMA_DIR.glob("*.json"))
    assert on_disk == sorted(EVENT_IDS)


def test_generating_twice_gives_identical_text() -> None:
    assert export.generated_files() == export.generated_files()


@pytest.mark.parametrize("cls", ALL_EVENTS, ids=EVENT_IDS)
def test_schema_file_is_canonical_json_with_its_metadata(cls: type[Event]) -> None:
    text = (export.SCHEMA_DIR / f"{cls.__name__}.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    assert text == json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == export.schema_id(cls)
    assert schema["title"] == cls.__name__
    assert schema["x-schema-version"] == cls.SCHEMA_VERSION
    assert schema["properties"]["event_type"]["const"] == cls.__name__
    assert schema.get("additionalProperties", True) is True  # tolerant readers ignore unknown fields


# ---------------------------------------------------------------- the schemas match the wire


def test_every_event_type_has_samples() -> None:
    assert set(FULL) == set(ALL_EVENTS) == set(MINIMAL)


@pytest.mark.parametrize("samples", [FULL, MINIMAL], ids=["full", "minimal"])
@pytest.mark.parametrize("cls", ALL_EVENTS, ids=EVENT_IDS)
def test_encoded_event_validates_against_its_committed_schema(
    cls: type[Event], samples: dict[type[Event], Callable[[], Event]]
) -> None:
    event = samples[cls]()
    assert type(event) is cls
    assert errors(cls, wire(event)) == []


@pytest.mark.parametrize("cls", ALL_EVENTS, ids=EVENT_IDS)
def test_schema_names_exactly_the_fields_encode_emits(cls: type[Event]) -> None:
    assert set(committed(cls)["properties"]) == set(wire(FULL[cls]()))


@pytest.mark.parametrize("cls", ALL_EVENTS, ids=EVENT_IDS)
def test_required_fields_are_exactly_what_decode_cannot_do_without(cls: type[Event]) -> None:
    """A message with only the schema's required fields decodes; without any one of them, not."""
    schema = committed(cls)
    required = schema["required"]
    message = wire(FULL[cls]())
    minimal = {k: v for k, v in message.items() if k in required}
    assert errors(cls, minimal) == []
    decode(json.dumps(minimal).encode(), expected={cls.__name__})
    for field in required:
        without = {k: v for k, v in minimal.items() if k != field}
        assert errors(cls, without), f"schema accepts {cls.__name__} without {field}"
        with pytest.raises(InvalidEvent):
            decode(json.dumps(without).encode())


def test_money_amount_is_a_string_on_the_wire_and_in_the_schema() -> None:
    message = wire(FULL[ProductChanged]())
    assert message["price"] == {"amount": "34.00", "currency": "USD"}
    floaty = {**message, "price": {"amount": 34.0, "currency": "USD"}}
    assert any("is not of type 'string'" in e for e in errors(ProductChanged, floaty))


def test_schema_and_decode_both_accept_unknown_fields() -> None:
    message = {**wire(FULL[ProductChanged]()), "unexpected": 1}
    assert errors(ProductChanged, message) == []
    decode(json.dumps(message).encode())


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"status": "archived"}, "is not one of"),
        ({"quantity": -1}, "less than the minimum"),
        ({"sku": "x" * 65}, "is too long"),
        ({"event_type": "ListingChanged"}, "was expected"),
        ({"occurred_at": "yesterday"}, "is not a 'date-time'"),
        ({"event_id": "not-a-uuid"}, "is not a 'uuid'"),
    ],
)
def test_schema_rejects_what_decode_rejects(change: dict[str, Any], complaint: str) -> None:
    message = {**wire(FULL[ProductChanged]()), **change}
    found = errors(ProductChanged, message)
    assert any(complaint in e for e in found), found
    with pytest.raises(InvalidEvent):
        decode(json.dumps(message).encode())


# ---------------------------------------------------------------- the command


def test_export_writes_checks_and_removes_stale_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert export.main(["--check", "--root", str(tmp_path)]) == 1
    assert "schemas/ProductChanged.json: missing" in capsys.readouterr().err

    assert export.main(["--root", str(tmp_path)]) == 0
    assert sorted(p.name for p in (tmp_path / "schemas").iterdir()) == sorted(
        f"{n}.json" for n in EVENT_IDS
    )
    assert (tmp_path / "asyncapi.yaml").read_text() == export.ASYNCAPI_PATH.read_text()
    assert export.main(["--check", "--root", str(tmp_path)]) == 0
    capsys.readouterr()

    assert export.main(["--root", str(tmp_path)]) == 0
    assert "nothing changed" in capsys.readouterr().out

    (tmp_path / "schemas" / "RetiredEvent.json").write_text("{}\n")
    assert export.main(["--check", "--root", str(tmp_path)]) == 1
    assert "RetiredEvent.json: no such event any more" in capsys.readouterr().err
    assert export.main(["--root", str(tmp_path)]) == 0
    assert not (tmp_path / "schemas" / "RetiredEvent.json").exists()


def test_export_refuses_to_overwrite_a_schema_with_an_unversioned_break(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert export.main(["--root", str(tmp_path)]) == 0
    path = tmp_path / "schemas" / "ProductChanged.json"
    published = json.loads(path.read_text())
    published["properties"]["legacy_code"] = {"type": "string"}  # a field the class no longer has
    path.write_text(export.render_json(published))
    capsys.readouterr()

    assert export.main(["--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "ProductChanged: incompatible" in err and "legacy_code: field removed" in err
    assert json.loads(path.read_text()) == published

    assert export.main(["--root", str(tmp_path), "--force"]) == 0
    assert path.read_text() == export.render_json(export.event_schema(ProductChanged))
