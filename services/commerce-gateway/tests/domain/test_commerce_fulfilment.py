"""Commerce shipments and cancellations of Amazon orders as ShipmentCreated and CommerceOrderCancelled: pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from commerce_gateway.domain import fulfilment as domain
from contracts.events import CommerceOrderRequested, FulfillmentBy, OrderLine
from contracts.money import Money

AMAZON_ID = "113-0000001-0000001"


def line(item_id: str, sku: str, quantity: int = 1) -> OrderLine:
    return OrderLine(order_item_id=item_id, sku=sku, asin="B0TEST0001", quantity=quantity,
                     item_price=Money(amount=Decimal("10.00"), currency="USD"))


def amazon(commerce_order_id: str | None = "7", lines: list[OrderLine] | None = None) -> domain.AmazonOrder:
    request = CommerceOrderRequested.new(
        producer="order-import", account_id="acct-1", marketplace_id="ATVPDKIKX0DER", amazon_order_id=AMAZON_ID,
        store_code="default", commerce_status="processing", fulfillment=FulfillmentBy.MFN,
        lines=lines or [line("11111", "24-MB01", 2), line("22222", "24-WB04", 1)])
    return domain.AmazonOrder(request, commerce_order_id)


def order(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "entity_id": 7, "increment_id": "000000007", "ext_order_id": AMAZON_ID, "state": "processing",
        "status": "processing", "created_at": "2026-03-01 10:00:00", "updated_at": "2026-03-02 11:30:00",
        "items": [{"item_id": 21, "sku": "24-MB01", "ext_order_item_id": "11111", "qty_ordered": 2.0},
                  {"item_id": 22, "sku": "24-WB04", "ext_order_item_id": "22222", "qty_ordered": 1.0}]}
    body.update(over)
    return body


def track(entity_id: int, number: str | None, carrier: str = "ups", title: str = "United Parcel Service") -> dict[
        str, Any]:
    return {"entity_id": entity_id, "track_number": number, "carrier_code": carrier, "title": title}


def shipment(items: list[tuple[int, float]] | None = None, tracks: list[dict[str, Any]] | None = None,
             **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "entity_id": 3, "order_id": 7, "created_at": "2026-03-02 09:15:00", "updated_at": "2026-03-02 09:15:00",
        "items": [{"order_item_id": i, "sku": {21: "24-MB01", 22: "24-WB04"}.get(i, "OTHER"), "qty": q}
                  for i, q in (items if items is not None else [(21, 2.0), (22, 1.0)])],
        "tracks": tracks if tracks is not None else [track(5, "1Z999AA10123456784")]}
    body.update(over)
    return body


def test_a_tracked_shipment_becomes_a_shipment_created_with_amazons_item_ids() -> None:
    decision = domain.shipment_decision(shipment(), order(), amazon(), "commerce-gateway")
    event = decision.event
    assert decision.status is domain.ShipmentStatus.EMITTED and event is not None
    assert (event.amazon_order_id, event.commerce_shipment_id) == (AMAZON_ID, "3")
    assert (event.carrier_code, event.carrier_name, event.tracking_number) == (
        "ups", "United Parcel Service", "1Z999AA10123456784")
    assert event.items == {"11111": 2, "22222": 1}
    assert event.shipped_at == datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
    assert (event.account_id, event.marketplace_id) == ("acct-1", "ATVPDKIKX0DER")


def test_the_event_continues_the_requests_correlation() -> None:
    known = amazon()
    event = domain.shipment_decision(shipment(), order(), known, "commerce-gateway").event
    assert event is not None
    assert event.correlation_id == known.request.correlation_id and event.causation_id == known.request.event_id


def test_a_partial_shipment_names_only_what_it_shipped() -> None:
    event = domain.shipment_decision(shipment(items=[(21, 1.0)]), order(), amazon(), "gw").event
    assert event is not None and event.items == {"11111": 1}


def test_without_ext_order_item_id_the_line_is_found_by_sku() -> None:
    items = [{"item_id": 21, "sku": "24-MB01"}, {"item_id": 22, "sku": "24-WB04"}]
    assert domain.amazon_items(shipment(), order(items=items), amazon().request.lines) == {"11111": 2, "22222": 1}


def test_an_item_of_no_amazon_line_is_left_out_and_a_shipment_of_none_is_unmapped() -> None:
    items = [*order()["items"], {"item_id": 23, "sku": "OTHER"}]
    assert domain.amazon_items(shipment(items=[(21, 1.0), (23, 1.0)]), order(items=items),
                               amazon().request.lines) == {"11111": 1}
    decision = domain.shipment_decision(shipment(items=[(23, 1.0)]), order(items=items), amazon(), "gw")
    assert decision.status is domain.ShipmentStatus.UNMAPPED and decision.event is None


def test_a_shipment_without_a_tracking_number_is_held() -> None:
    for tracks in ([], [track(5, None)], [track(5, "  ")]):
        decision = domain.shipment_decision(shipment(tracks=tracks), order(), amazon(), "gw")
        assert decision.status is domain.ShipmentStatus.HELD and decision.event is None
        assert decision.items == {"11111": 2, "22222": 1}


def test_of_several_tracks_the_first_with_a_number_is_announced() -> None:
    tracks = [track(9, "LATER", "fedex", "Federal Express"), track(4, ""), track(6, "FIRST", "usps", "USPS")]
    assert domain.tracking(shipment(tracks=tracks)) == domain.Tracking("usps", "USPS", "FIRST")


def test_a_track_without_a_carrier_code_is_custom() -> None:
    assert domain.tracking(shipment(tracks=[track(1, "X1", carrier="", title="")])) == domain.Tracking(
        "custom", None, "X1")


def test_an_order_is_ours_by_its_commerce_id_or_by_ext_order_id_while_no_commerce_id_is_recorded() -> None:
    recorded, unrecorded = amazon("7"), amazon(None)
    assert domain.owner(order(), {"7": recorded}, {AMAZON_ID: recorded}) is recorded
    assert domain.owner(order(), {}, {AMAZON_ID: unrecorded}) is unrecorded
    # Another order carrying the same ext_order_id is not the one this gateway created.
    assert domain.owner(order(entity_id=8), {"7": recorded}, {AMAZON_ID: recorded}) is None
    assert domain.owner(order(ext_order_id="OTHER-CHANNEL-1", entity_id=9), {"7": recorded},
                        {AMAZON_ID: recorded}) is None
    assert domain.owner(order(ext_order_id=None, entity_id=9), {}, {}) is None


def test_a_cancelled_order_becomes_one_commerce_order_cancelled() -> None:
    event = domain.cancellation(order(state="canceled", status="canceled"), amazon(), "commerce-gateway")
    assert event is not None
    assert (event.amazon_order_id, event.commerce_order_id, event.increment_id, event.store_code) == (
        AMAZON_ID, "7", "000000007", "default")
    assert event.cancelled_at == datetime(2026, 3, 2, 11, 30, tzinfo=UTC)
    assert domain.cancellation(order(), amazon(), "commerce-gateway") is None


def test_the_newest_updated_at_never_goes_back() -> None:
    cursor = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert domain.newest([{"updated_at": "2026-03-01 00:00:00"}], cursor) == cursor
    assert domain.newest([{"updated_at": "2026-03-03 00:00:00"}, {}], cursor) == datetime(2026, 3, 3, tzinfo=UTC)
    assert domain.newest([], None) is None


@given(st.lists(st.tuples(st.sampled_from([21, 22, 23]), st.integers(min_value=0, max_value=50)), max_size=8))
def test_shipped_quantities_are_kept_whole_per_amazon_item(lines: list[tuple[int, int]]) -> None:
    items = [*order()["items"], {"item_id": 23, "sku": "24-MB01"}]  # a second Commerce row of the first SKU
    mapped = domain.amazon_items(shipment(items=[(i, float(q)) for i, q in lines]), order(items=items),
                                 amazon().request.lines)
    assert mapped.get("11111", 0) == sum(q for i, q in lines if i in (21, 23))
    assert mapped.get("22222", 0) == sum(q for i, q in lines if i == 22)
    assert all(q > 0 for q in mapped.values())


def test_whole_reads_commerce_quantities() -> None:
    assert [domain.whole(v) for v in (1.0, "2", 3, "2.0000", None, "x", -1)] == [1, 2, 3, 2, 0, 0, 0]
