"""The creation matrix, integration date, import switch, blockers and stock reservation of spec section 13."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.events import Address, FulfillmentBy, OrderLine, ProductStatus
from contracts.money import Money
from order_import.domain.address import normalise
from order_import.domain.importing import (
    Catalog,
    ImportState,
    Order,
    Product,
    decide,
    listing_key,
    product_key,
    reservation,
)
from order_import.domain.settings import OrderSettings

T0 = datetime(2026, 12, 1, tzinfo=UTC)
MFN, AFN = FulfillmentBy.MFN, FulfillmentBy.AFN


def settings(**over) -> OrderSettings:
    return OrderSettings(**{"account_id": "acct", "marketplace_id": "ATVPDKIKX0DER",
                            "integration_date": T0 - timedelta(days=1), **over})


def line(sku: str = "A-1", quantity: int = 1, item: str = "1") -> OrderLine:
    return OrderLine(order_item_id=item, sku=sku, asin="B0X", quantity=quantity,
                     item_price=Money(amount=Decimal("10"), currency="USD"))


def order(status: str = "Unshipped", fulfillment: FulfillmentBy = MFN, *lines: OrderLine,
          state: ImportState = ImportState.WAITING, placed: datetime = T0) -> Order:
    return Order("111-1", "acct", "ATVPDKIKX0DER", status, state, fulfillment, placed, lines or (line(),))


STOCKED = Catalog(products={"A-1": Product("A-1", ProductStatus.ENABLED, 5, True, True)})

MATRIX = [(f, s, (f is MFN and s in ("Unshipped", "PartiallyShipped", "Shipped", "Completed"))
           or (f is AFN and s in ("Shipped", "Completed")))
          for f in (MFN, AFN)
          for s in ("Pending", "PendingAvailability", "Unshipped", "PartiallyShipped", "Shipped", "Completed",
                    "Canceled", "Error")]


@pytest.mark.parametrize(("fulfillment", "status", "created"), MATRIX)
def test_the_creation_matrix(fulfillment, status, created) -> None:
    decision = decide(order(status, fulfillment), settings(), STOCKED)
    assert (decision.state is ImportState.REQUESTED) is created
    if not created:
        expected = ImportState.SKIPPED if status in ("Canceled", "Error") else ImportState.WAITING
        assert decision.state is expected and decision.note


@pytest.mark.parametrize(("fulfillment", "status", "reserved"), [
    (f, s, f is MFN and s not in ("Canceled", "Error")) for f, s, _ in MATRIX])
def test_stock_is_reserved_for_merchant_fulfilled_orders_until_commerce_has_them(fulfillment, status, reserved):
    o = order(status, fulfillment, line("A-1", 2), line("A-1", 1, "2"), line("B-2", 0, "3"))
    expected = {"A-1": 3} if reserved else {}
    assert reservation(o, ImportState.WAITING, settings(), STOCKED) == expected
    assert reservation(o, ImportState.BLOCKED, settings(), STOCKED) == expected
    assert reservation(o, ImportState.CREATED, settings(), STOCKED) == {}
    assert reservation(o, ImportState.SKIPPED, settings(), STOCKED) == {}
    assert reservation(o, ImportState.WAITING, settings(reserve_quantity=False), STOCKED) == {}


def test_the_request_follows_the_settings() -> None:
    s = settings(store_code="us_view", customer_creation="build", order_number_source="amazon",
                 order_status="custom", processing_status="processing")
    request = decide(order(), s, STOCKED, has_email=True).request
    assert request is not None
    assert (request.store_code, request.commerce_status, request.create_customer, request.increment_id) == (
        "us_view", "processing", True, "111-1")
    default = decide(order(), settings(), STOCKED, has_email=True).request
    assert default is not None
    assert (default.commerce_status, default.create_customer, default.increment_id) == ("pending", False, None)
    assert decide(order("Shipped", AFN), s, STOCKED).request.commerce_status == "complete"  # type: ignore[union-attr]
    assert decide(order(), s, STOCKED, has_email=False).request.create_customer is False  # type: ignore[union-attr]


def test_lines_are_mapped_to_commerce_skus_through_the_listing() -> None:
    catalog = Catalog(listings={"AMZ-1": "A-1"}, products=STOCKED.products)
    request = decide(order("Unshipped", MFN, line("AMZ-1"), line("AMZ-1", 0, "2")), settings(), catalog).request
    assert request is not None and [(x.sku, x.order_item_id) for x in request.lines] == [("A-1", "1")]


def test_orders_before_the_integration_date_are_never_imported() -> None:
    decision = decide(order(placed=T0 - timedelta(days=2)), settings(), STOCKED)
    assert decision.state is ImportState.SKIPPED and "integration date" in (decision.note or "")
    assert reservation(order(placed=T0 - timedelta(days=2)), ImportState.WAITING, settings(), STOCKED) == {}


def test_import_disabled_is_view_only() -> None:
    assert decide(order("Pending"), settings(import_enabled=False), STOCKED).state is ImportState.WAITING
    decision = decide(order(), settings(import_enabled=False), STOCKED)
    assert decision.state is ImportState.SKIPPED and "disabled" in (decision.note or "")
    assert reservation(order(), ImportState.WAITING, settings(import_enabled=False), STOCKED) == {}


def test_without_settings_or_items_an_order_waits() -> None:
    assert decide(order(), None, STOCKED).state is ImportState.WAITING
    early = Order("111-1", "acct", "ATVPDKIKX0DER", "Unshipped")
    assert decide(early, settings(), STOCKED).note == "waiting for the order's items"


@pytest.mark.parametrize(("catalog", "note", "watch"), [
    (Catalog(), "product A-1 missing from the catalog", {product_key("default", "A-1"), listing_key("A-1")}),
    (Catalog(products={"A-1": Product("A-1", ProductStatus.DISABLED, 5)}), "product A-1 disabled", None),
    (Catalog(products={"A-1": Product("A-1", ProductStatus.DELETED, 5)}), "missing", None),
    (Catalog(products={"A-1": Product("A-1", ProductStatus.ENABLED, 0)}), "product A-1 out of stock", None),
    (Catalog(products={"A-1": Product("A-1", ProductStatus.ENABLED, 9, in_stock=False)}), "out of stock", None),
    (Catalog(products={"A-1": Product("A-1", ProductStatus.ENABLED, 1)}), "1 in stock, 2 ordered", None),
    (Catalog(listings={"A-1": None}), "listing not matched", {listing_key("A-1")}),
])
def test_blockers_hold_the_order_with_a_note(catalog, note, watch) -> None:
    decision = decide(order("Unshipped", MFN, line("A-1", 2)), settings(), catalog)
    assert decision.state is ImportState.BLOCKED and note in (decision.note or "")
    assert set(decision.watch) == (watch or {product_key("default", "A-1"), listing_key("A-1")})


def test_stock_that_is_not_managed_and_amazon_fulfilled_orders_need_no_quantity() -> None:
    unmanaged = Catalog(products={"A-1": Product("A-1", ProductStatus.ENABLED, 0, None, manage_stock=False)})
    assert decide(order(), settings(), unmanaged).state is ImportState.REQUESTED
    empty = Catalog(products={"A-1": Product("A-1", ProductStatus.ENABLED, 0, in_stock=False)})
    assert decide(order("Shipped", AFN), settings(), empty).state is ImportState.REQUESTED


def test_an_address_problem_blocks_the_order() -> None:
    problem = normalise(Address(region="Kalifornia", country_code="US")).problem
    decision = decide(order(), settings(), STOCKED, address_problem=problem)
    assert decision.state is ImportState.BLOCKED and "region" in (decision.note or "")


def test_only_open_orders_move_and_a_failed_order_cancelled_on_amazon_is_skipped() -> None:
    for state in (ImportState.REQUESTED, ImportState.CREATED, ImportState.SKIPPED, ImportState.FAILED):
        assert decide(order(state=state), settings(), STOCKED).state is state
    assert decide(order("Canceled", state=ImportState.FAILED), settings(), STOCKED).state is ImportState.SKIPPED
    assert decide(order("Canceled", state=ImportState.REQUESTED), settings(), STOCKED).state is ImportState.REQUESTED


def test_custom_status_mapping_needs_a_processing_status() -> None:
    with pytest.raises(ValueError, match="processing_status"):
        settings(order_status="custom")


STATUS = st.sampled_from(["Pending", "PendingAvailability", "Unshipped", "PartiallyShipped", "Shipped", "Completed",
                          "Canceled", "Error"])
PRODUCTS = st.dictionaries(st.sampled_from(["A-1", "B-2", "C-3"]), st.builds(
    Product, sku=st.just("x"), status=st.sampled_from(list(ProductStatus)), quantity=st.integers(0, 4),
    in_stock=st.sampled_from([None, True, False]), manage_stock=st.sampled_from([None, True, False])))
LISTINGS = st.dictionaries(st.sampled_from(["A-1", "B-2", "C-3", "AMZ-9"]),
                           st.sampled_from([None, "A-1", "B-2", "C-3"]))


@given(STATUS, st.sampled_from([MFN, AFN]), st.lists(st.tuples(st.sampled_from(["A-1", "B-2", "AMZ-9"]),
                                                               st.integers(0, 3)), min_size=1, max_size=4),
       LISTINGS, PRODUCTS, st.booleans(), st.booleans(), st.integers(-2, 2))
def test_a_request_only_for_a_due_order_whose_every_line_can_be_ordered(
        status, fulfillment, lines, listings, products, enabled, reserve, days) -> None:
    o = order(status, fulfillment, *(line(sku, qty, str(n)) for n, (sku, qty) in enumerate(lines)),
              placed=T0 + timedelta(days=days))
    s = settings(import_enabled=enabled, reserve_quantity=reserve)
    catalog = Catalog(listings=listings, products=products)
    decision = decide(o, s, catalog)
    if decision.state is ImportState.REQUESTED:
        assert decision.request is not None and enabled and days >= -1
        assert status not in ("Canceled", "Error") and (status in ("Shipped", "Completed") or fulfillment is MFN)
        assert status not in ("Pending", "PendingAvailability")
        ordered = [x for x in o.lines if x.quantity > 0]
        assert [(x.order_item_id, x.quantity) for x in decision.request.lines] == [
            (x.order_item_id, x.quantity) for x in ordered]
        for x in decision.request.lines:
            product = products[x.sku]
            assert product.status is ProductStatus.ENABLED
            needed = sum(y.quantity for y in decision.request.lines if y.sku == x.sku)
            if fulfillment is MFN:
                assert product.in_stock is not False
                assert product.manage_stock is False or product.quantity >= needed
        assert decision.request.commerce_status == ("complete" if fulfillment is AFN else "pending")
    else:
        assert decision.request is None and decision.note
    if decision.state is ImportState.BLOCKED:
        assert decision.watch
    reserved = reservation(o, decision.state, s, catalog)
    if reserved:
        assert fulfillment is MFN and reserve and enabled and status not in ("Canceled", "Error")
        assert sum(reserved.values()) <= sum(x.quantity for x in o.lines)
