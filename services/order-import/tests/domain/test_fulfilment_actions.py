"""What a shipment confirms, when an order may be cancelled or confirmed by hand, and the status confirmations add
up to: the rules of spec §14 without a database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from order_import.domain.fulfilment import (
    ActionRefused,
    OrderState,
    cancel_refusal,
    cancelled_in_commerce,
    every_item_confirmed,
    manual_to_confirm,
    ordered_quantities,
    ship_date_problem,
    shipment_to_confirm,
    shipped_after_confirmation,
    shipped_after_shipment,
    status_after_cancellation,
    status_after_confirmation,
)
from order_import.domain.lifecycle import PROGRESS, rank

ORDER = OrderState(amazon_order_id="111-1", fulfillment="MFN", amazon_status="Unshipped", import_enabled=True,
                   ordered={"A": 2, "B": 1})


# ---------------------------------------------------------------- cancel


def test_an_unshipped_order_may_be_cancelled() -> None:
    assert cancel_refusal(ORDER, "NoInventory") is None


@pytest.mark.parametrize("status", ["Pending", "PendingAvailability", "PartiallyShipped", "Shipped", "Completed",
                                    "Canceled", "Error"])
def test_only_unshipped_orders_are_cancelled(status: str) -> None:
    refusal = cancel_refusal(replace(ORDER, amazon_status=status), "NoInventory")
    assert refusal is not None and status in refusal and "Unshipped" in refusal


def test_fba_and_view_only_orders_are_never_cancelled() -> None:
    assert "fulfilled by Amazon" in (cancel_refusal(replace(ORDER, fulfillment="AFN"), "NoInventory") or "")
    assert "view-only" in (cancel_refusal(replace(ORDER, import_enabled=False), "NoInventory") or "")


def test_a_pending_cancellation_is_answered_again_only_for_its_own_reason() -> None:
    pending = replace(ORDER, cancel_pending="NoInventory")
    assert cancel_refusal(pending, "NoInventory") is None
    assert "already awaits" in (cancel_refusal(pending, "BuyerCanceled") or "")


def test_an_order_with_something_shipped_or_being_confirmed_is_not_cancelled() -> None:
    assert cancel_refusal(replace(ORDER, awaiting={"A": 1}), "NoInventory") is not None
    assert cancel_refusal(replace(ORDER, shipped={"B": 1}), "NoInventory") is not None


# ---------------------------------------------------------------- Commerce shipments


def test_a_shipment_confirms_its_items() -> None:
    assert shipment_to_confirm(ORDER, {"A": 1}) == ({"A": 1}, None)


def test_a_shipment_confirms_only_what_is_still_open_and_says_so() -> None:
    order = replace(ORDER, confirmed={"A": 1}, awaiting={"B": 1})
    items, note = shipment_to_confirm(order, {"A": 2, "B": 1, "Z": 3})
    assert items == {"A": 1}
    assert note is not None and "Z" in note and "B" in note


def test_a_shipment_of_what_is_confirmed_already_confirms_nothing() -> None:
    with pytest.raises(ActionRefused, match="nothing of the shipment"):
        shipment_to_confirm(replace(ORDER, confirmed={"A": 2, "B": 1}), {"A": 2})


@pytest.mark.parametrize(("change", "why"), [
    ({"fulfillment": "AFN"}, "fulfilled by Amazon"), ({"import_enabled": False}, "view-only"),
    ({"amazon_status": "Canceled"}, "Canceled"), ({"amazon_status": "Shipped"}, "Shipped"),
    ({"cancel_pending": "NoInventory"}, "cancellation"),
])
def test_shipments_of_orders_not_shipped_here_are_refused(change: dict, why: str) -> None:
    with pytest.raises(ActionRefused, match=why):
        shipment_to_confirm(replace(ORDER, **change), {"A": 1})


@given(ordered=st.dictionaries(st.sampled_from("ABCD"), st.integers(0, 5), min_size=1),
       confirmed=st.dictionaries(st.sampled_from("ABCD"), st.integers(0, 5)),
       awaiting=st.dictionaries(st.sampled_from("ABCD"), st.integers(0, 5)),
       shipped=st.dictionaries(st.sampled_from("ABCDE"), st.integers(0, 6)))
def test_a_shipment_never_confirms_beyond_what_was_ordered(ordered, confirmed, awaiting, shipped) -> None:
    order = replace(ORDER, ordered=ordered, confirmed=confirmed, awaiting=awaiting)
    try:
        items, _ = shipment_to_confirm(order, shipped)
    except ActionRefused:
        assert not any(shipped.get(i, 0) > 0 for i in order.open())
        return
    assert items and all(q >= 1 for q in items.values())
    for item, qty in items.items():
        assert qty <= shipped[item]
        assert confirmed.get(item, 0) + awaiting.get(item, 0) + qty <= ordered[item]


# ---------------------------------------------------------------- confirmations by hand


def test_by_hand_everything_open_is_the_default() -> None:
    assert manual_to_confirm(replace(ORDER, confirmed={"A": 1}), None) == {"A": 1, "B": 1}


def test_by_hand_more_than_is_open_is_refused() -> None:
    with pytest.raises(ActionRefused, match="A has 1 open"):
        manual_to_confirm(replace(ORDER, awaiting={"A": 1}), {"A": 2})


def test_by_hand_nothing_open_is_refused() -> None:
    with pytest.raises(ActionRefused, match="every item"):
        manual_to_confirm(replace(ORDER, confirmed={"A": 2, "B": 1}), None)


def test_by_hand_fba_is_refused() -> None:
    with pytest.raises(ActionRefused, match="fulfilled by Amazon"):
        manual_to_confirm(replace(ORDER, fulfillment="AFN"), None)


def test_ship_dates_in_the_future_or_before_the_purchase_are_refused() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert ship_date_problem(now - timedelta(hours=1), now - timedelta(days=1), now) is None
    assert "future" in (ship_date_problem(now + timedelta(hours=1), None, now) or "")
    assert "before" in (ship_date_problem(now - timedelta(days=2), now - timedelta(days=1), now) or "")


# ---------------------------------------------------------------- statuses


def test_partial_then_every_item_confirmed() -> None:
    ordered = {"A": 2, "B": 1}
    assert status_after_confirmation("Unshipped", ordered, {"A": 1}) == "PartiallyShipped"
    assert status_after_confirmation("PartiallyShipped", ordered, {"A": 2, "B": 1}) == "Shipped"


def test_items_of_quantity_zero_need_no_confirmation() -> None:
    assert every_item_confirmed({"A": 1, "B": 0}, {"A": 1})


def test_a_confirmation_never_undoes_cancel_or_later_statuses() -> None:
    assert status_after_confirmation("Canceled", {"A": 1}, {"A": 1}) == "Canceled"
    assert status_after_confirmation("Completed", {"A": 2}, {"A": 1}) == "Completed"
    assert status_after_cancellation("Shipped") == "Canceled"
    assert status_after_cancellation("Canceled") == "Canceled"


@given(current=st.sampled_from(PROGRESS), confirmed=st.dictionaries(st.sampled_from("AB"), st.integers(0, 3)))
def test_confirmations_never_move_a_status_backwards(current: str, confirmed: dict[str, int]) -> None:
    assert rank(status_after_confirmation(current, {"A": 2, "B": 1}, confirmed)) >= rank(current)


def test_ordered_quantities_from_stored_lines() -> None:
    lines = [{"order_item_id": "A", "quantity": 2, "sku": "x"}, {"order_item_id": "B", "quantity": 1}, {}]
    assert ordered_quantities(lines) == {"A": 2, "B": 1}


# ---------------------------------------------------------------- shipped quantities


def test_by_hand_the_default_is_what_was_shipped_and_not_confirmed() -> None:
    refused = replace(ORDER, shipped={"A": 1})
    assert manual_to_confirm(refused, None) == {"A": 1}
    assert manual_to_confirm(replace(refused, awaiting={"A": 1}), None) == {"A": 1, "B": 1}


def test_a_commerce_shipment_is_a_parcel_of_its_own() -> None:
    assert shipped_after_shipment(replace(ORDER, shipped={"A": 1}), {"A": 1, "Z": 4}) == {"A": 2}
    assert shipped_after_shipment(replace(ORDER, shipped={"A": 2}), {"A": 1}) == {"A": 2}


def test_goods_confirmed_again_by_hand_are_not_counted_twice() -> None:
    refused = replace(ORDER, shipped={"A": 1})
    assert shipped_after_confirmation(refused, {"A": 1}) == {"A": 1}
    assert shipped_after_confirmation(replace(refused, confirmed={"A": 1}), {"A": 1}) == {"A": 2}


@given(ordered=st.integers(1, 5), shipped=st.integers(0, 5), confirmed=st.integers(0, 5), awaiting=st.integers(0, 5),
       qty=st.integers(1, 5))
def test_shipped_never_exceeds_ordered_nor_falls(ordered, shipped, confirmed, awaiting, qty) -> None:
    order = replace(ORDER, ordered={"A": ordered}, shipped={"A": shipped}, confirmed={"A": confirmed},
                    awaiting={"A": awaiting})
    for after in (shipped_after_shipment(order, {"A": qty}), shipped_after_confirmation(order, {"A": qty})):
        assert min(shipped, ordered) <= after["A"] <= ordered


# ---------------------------------------------------------------- cancelled in Commerce


def test_an_order_cancelled_in_commerce_says_where_to_cancel_it_on_amazon() -> None:
    assert cancelled_in_commerce(ORDER, "000000042") == (
        "Cancelled in Commerce (order 000000042) but still Unshipped on Amazon: cancel it here with one of "
        "Amazon's reasons, or in Seller Central")
    partly = cancelled_in_commerce(replace(ORDER, amazon_status="PartiallyShipped"), "42")
    assert partly is not None and partly.endswith("PartiallyShipped on Amazon: cancel it in Seller Central")
    assert cancelled_in_commerce(replace(ORDER, import_enabled=False), "42").endswith("cancel it in Seller Central")


@pytest.mark.parametrize("change", [{"fulfillment": "AFN"}, {"amazon_status": "Shipped"},
                                    {"amazon_status": "Canceled"}])
def test_a_commerce_cancellation_amazon_does_not_wait_for_says_nothing(change: dict) -> None:
    assert cancelled_in_commerce(replace(ORDER, **change), "42") is None


# ---------------------------------------------------------------- any sequence of shipments and answers

_ITEMS = st.dictionaries(st.sampled_from("ABZ"), st.integers(0, 3), max_size=3)
_STEPS = st.lists(st.one_of(
    st.tuples(st.just("commerce"), _ITEMS),
    st.tuples(st.just("by_hand"), st.none() | _ITEMS),
    st.tuples(st.just("answer"), st.integers(0, 5), st.booleans()),
), max_size=25)


@given(steps=_STEPS)
def test_any_sequence_keeps_confirmed_and_awaiting_within_shipped_within_ordered(steps) -> None:
    """Packages from Commerce and by hand, answered in any order, accepted or refused, as fulfilment applies them."""
    order = replace(ORDER, ordered={"A": 2, "B": 1})
    packages: list[dict[str, int]] = []
    for step in steps:
        try:
            if step[0] == "answer":
                if not packages:
                    continue
                items = packages.pop(step[1] % len(packages))
                awaiting = {i: order.awaiting.get(i, 0) - q for i, q in items.items()}
                confirmed = {i: order.confirmed.get(i, 0) + (q if step[2] else 0) for i, q in items.items()}
                before = order.amazon_status
                order = replace(order, awaiting={**order.awaiting, **awaiting},
                                confirmed={**order.confirmed, **confirmed})
                if step[2]:
                    order = replace(order, amazon_status=status_after_confirmation(before, order.ordered,
                                                                                  order.confirmed))
                    assert rank(order.amazon_status) >= rank(before)
                _within(order)
                continue
            if step[0] == "commerce":
                items, _ = shipment_to_confirm(order, step[1])
                shipped = shipped_after_shipment(order, step[1])
            else:
                items = manual_to_confirm(order, step[1])
                shipped = shipped_after_confirmation(order, items)
        except ActionRefused:
            continue
        packages.append(items)
        order = replace(order, shipped={**order.shipped, **shipped},
                        awaiting={i: order.awaiting.get(i, 0) + items.get(i, 0) for i in {*order.awaiting, *items}})
        _within(order)
    _within(order)
    assert (order.amazon_status == "Shipped") == every_item_confirmed(order.ordered, order.confirmed)


def _within(order: OrderState) -> None:
    for item, qty in order.ordered.items():
        held = order.confirmed.get(item, 0) + order.awaiting.get(item, 0)
        assert held <= order.shipped.get(item, 0) <= qty
