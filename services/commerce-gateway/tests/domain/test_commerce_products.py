"""Commerce product JSON (catalog-data-product-interface) as ProductChanged: pure, no I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commerce_gateway.domain.products import (
    NotImportable,
    Parents,
    commerce_time,
    content_hash,
    page_events,
    parents_of,
    product_changed,
)
from contracts.events import ProductStatus
from contracts.money import Money


def simple(**over: object) -> dict:
    item = {
        "id": 67, "sku": "MH01-S-Gray", "name": "Chaz Kangeroo Hoodie-S-Gray", "attribute_set_id": 9,
        "price": Decimal("52"), "status": 1, "visibility": 1, "type_id": "simple", "weight": Decimal("1"),
        "created_at": "2024-03-06 10:00:00", "updated_at": "2024-03-07 11:30:00",
        "extension_attributes": {
            "website_ids": [1],
            "category_links": [{"position": 0, "category_id": "15"}],
            "stock_item": {"item_id": 67, "product_id": 67, "stock_id": 1, "qty": Decimal("100"),
                           "is_in_stock": True, "manage_stock": True},
        },
        "product_links": [], "options": [], "media_gallery_entries": [],
        "tier_prices": [{"customer_group_id": 32000, "qty": Decimal("5"), "value": Decimal("48.5")}],
        "custom_attributes": [
            {"attribute_code": "color", "value": "52"},
            {"attribute_code": "size", "value": "168"},
            {"attribute_code": "category_ids", "value": ["15", "34"]},
            {"attribute_code": "tax_class_id", "value": "2"},
            {"attribute_code": "special_price", "value": "44.990000"},
            {"attribute_code": "special_from_date", "value": "2024-03-01 00:00:00"},
            {"attribute_code": "special_to_date", "value": "2024-04-01 00:00:00"},
            {"attribute_code": "msrp", "value": "60.000000"},
            {"attribute_code": "cost", "value": "21.500000"},
        ],
    }
    item.update(over)
    return item


def configurable() -> dict:
    return {"id": 80, "sku": "MH01", "name": "Chaz Kangeroo Hoodie", "price": 0, "status": 1, "visibility": 4,
            "type_id": "configurable", "updated_at": "2024-03-07 11:30:00",
            "extension_attributes": {"website_ids": [1], "configurable_product_links": [67, 68, 69]},
            "custom_attributes": []}


def test_every_price_stock_and_attribute_is_carried() -> None:
    event = product_changed(simple(), store_code="default", currency="USD", producer="commerce-gateway")
    usd = lambda a: Money(amount=Decimal(a), currency="USD")  # noqa: E731
    assert event.sku == "MH01-S-Gray" and event.name == "Chaz Kangeroo Hoodie-S-Gray"
    assert event.price == usd("52") and event.status is ProductStatus.ENABLED
    assert event.special_price == usd("44.990000")
    assert event.special_price_from == datetime(2024, 3, 1, tzinfo=UTC)
    assert event.special_price_to == datetime(2024, 4, 1, tzinfo=UTC)
    assert event.msrp == usd("60") and event.cost == usd("21.5")
    assert [(t.customer_group_id, t.quantity, t.price) for t in event.tier_prices] == [(32000, Decimal(5), usd("48.5"))]
    assert (event.quantity, event.in_stock, event.manage_stock) == (100, True, True)
    assert event.visibility == 1 and event.product_type == "simple" and event.website_ids == [1]
    assert event.updated_at == datetime(2024, 3, 7, 11, 30, tzinfo=UTC)
    assert event.attributes["color"] == "52" and event.attributes["category_ids"] == "15,34"
    assert event.attributes["special_price"] == "44.990000"  # every custom attribute, prices too
    assert event.parent_sku is None


def test_money_is_never_a_float() -> None:
    event = product_changed(simple(price=19.99), store_code="default", currency="EUR", producer="p")
    assert event.price.amount == Decimal("19.99") and event.price.currency == "EUR"


def test_disabled_is_reported_disabled() -> None:
    event = product_changed(simple(status=2), store_code="default", currency="USD", producer="p")
    assert event.status is ProductStatus.DISABLED


def test_children_of_a_configurable_carry_its_sku_and_the_parent_is_no_product() -> None:
    parents = parents_of([configurable(), simple()])
    assert parents == {67: "MH01", 68: "MH01", 69: "MH01"}
    built = page_events([configurable(), simple()], store_code="default", currency="USD", producer="p",
                        parents=parents)
    assert [(e.sku, e.parent_sku) for e in built.events] == [("MH01-S-Gray", "MH01")]
    assert len(built.skipped) == 1 and "'MH01'" in built.skipped[0]


def test_missing_stock_and_optional_parts_are_unknown_not_invented() -> None:
    item = {"sku": "24-MB01", "price": 34, "type_id": "simple", "updated_at": "2024-03-07 11:30:00"}
    event = product_changed(item, store_code="default", currency="USD", producer="p")
    assert (event.quantity, event.in_stock, event.manage_stock) == (0, None, None)
    assert event.special_price is None and event.tier_prices == [] and event.attributes == {}
    assert event.name == "24-MB01"


def test_negative_or_fractional_stock_is_a_whole_non_negative_quantity() -> None:
    for qty, expected in ((Decimal("-3"), 0), (Decimal("7.9"), 7)):
        item = simple()
        item["extension_attributes"]["stock_item"]["qty"] = qty
        assert product_changed(item, store_code="default", currency="USD", producer="p").quantity == expected


def test_a_product_that_cannot_be_an_event_is_named_not_fatal() -> None:
    with pytest.raises(NotImportable):
        product_changed(simple(sku="X" * 65), store_code="default", currency="USD", producer="p")
    with pytest.raises(NotImportable):
        product_changed(simple(updated_at=None, created_at=None), store_code="default", currency="USD", producer="p")


def test_hash_ignores_the_envelope_and_sees_content() -> None:
    a = product_changed(simple(), store_code="default", currency="USD", producer="p", correlation_id=uuid.uuid4())
    b = product_changed(simple(), store_code="default", currency="USD", producer="p")
    assert a.event_id != b.event_id and content_hash(a) == content_hash(b)
    c = product_changed(simple(price=Decimal("53")), store_code="default", currency="USD", producer="p")
    assert content_hash(c) != content_hash(a)


def test_commerce_times() -> None:
    assert commerce_time("2024-03-07 11:30:00") == datetime(2024, 3, 7, 11, 30, tzinfo=UTC)
    assert commerce_time("2024-03-07") == datetime(2024, 3, 7, tzinfo=UTC)
    assert commerce_time("") is None and commerce_time(None) is None and commerce_time("soon") is None


def _by_strptime(value: object) -> datetime | None:
    """Every Commerce time read the general way (strptime, then ISO 8601), as the fast path must agree with."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("T", " ")
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text[:19] if pattern.endswith("%S") else text[:10], pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_digits = st.text(alphabet="0123456789", min_size=1, max_size=4)


@given(st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1)).map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")),
    st.tuples(_digits, _digits, _digits, _digits, _digits, _digits, st.sampled_from([" ", "T"]),
              st.sampled_from(["", ".5", "Z", "+02:00", " extra"])).map(
        lambda p: f"{p[0]:>04}-{p[1]}-{p[2]}{p[6]}{p[3]}:{p[4]}:{p[5]}{p[7]}"),
    st.text(alphabet="0123456789-: T.Z+", max_size=25)))
def test_commerce_time_reads_every_text_as_strptime_would(text: str) -> None:
    assert commerce_time(text) == _by_strptime(text)


_child = st.one_of(st.integers(1, 40), st.integers(-3, 3), st.just(1 << 38), st.just(1 << 40), st.booleans())
_configurable = st.builds(
    lambda sku, children, kind: {"type_id": kind, "sku": sku,
                                 "extension_attributes": {"configurable_product_links": children}},
    st.sampled_from(["MH01", "MH02", "WJ03", "WJ04"]), st.lists(_child, max_size=6),
    st.sampled_from(["configurable", "configurable", "simple"]))


@given(st.lists(st.lists(_configurable, max_size=5), max_size=4), st.lists(_child, max_size=10))
def test_parents_over_pages_are_each_pages_map_updated_in_order(pages: list, wanted: list) -> None:
    expected: dict[int, str] = {}
    parents = Parents()
    for page in pages:
        expected.update(parents_of(page))
        parents.add(page)
    assert dict(parents) == expected and len(parents) == len(expected)
    for child in wanted:
        assert parents.get(child) == expected.get(child)
        assert (child in parents) == (child in expected)
    assert bool(parents) == bool(expected)
