"""What pending Amazon orders hold back of Commerce's stock, and the quantity listings offer: pure rules."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog_sync.domain import (
    InvalidReservation,
    Reservation,
    ReservedBelowZero,
    StockKey,
    Target,
    apply_product,
    apply_reservation,
    fold_reservations,
    listed_quantity,
    move_reserved,
)
from contracts.events import ListingStatus, ProductStatus, StockReservationChanged
from samples import product

US = Target("acct", "ATVPDKIKX0DER")


def reservation(order: str, version: int, reserved: dict[str, int], store: str = "default") -> Reservation:
    return Reservation(order, store, version, reserved)


def changed(order: str, version: int, reserved: dict[str, int], store: str = "default") -> StockReservationChanged:
    return StockReservationChanged.new(producer="order-import", account_id="acct", marketplace_id="ATVPDKIKX0DER",
                                       amazon_order_id=order, store_code=store, reserved=reserved, version=version)


def test_a_product_lists_commerce_quantity_less_what_is_reserved_and_never_below_zero() -> None:
    listing, _ = apply_product(None, product(quantity=10), US, reserved=3)  # type: ignore[misc]
    assert listing.quantity == 7 and listing.store_code == "default"
    short, _ = apply_product(listing, product(quantity=2), US, reserved=3)  # type: ignore[misc]
    assert short.quantity == 0
    off, _ = apply_product(listing, product(quantity=10, status=ProductStatus.DISABLED), US, reserved=3)  # type: ignore[misc]
    assert off.quantity == 0


def test_a_reservation_moves_only_the_quantity_and_once() -> None:
    listing, _ = apply_product(None, product(quantity=10), US)  # type: ignore[misc]
    lower, changes = apply_reservation(listing, 10, 4)  # type: ignore[misc]
    assert (lower.quantity, lower.version, lower.status) == (6, listing.version + 1, listing.status)
    assert [(c.field, c.old, c.new) for c in changes] == [("quantity", "10", "6")]
    assert apply_reservation(lower, 10, 4) is None
    back, _ = apply_reservation(lower, 10, 0)  # type: ignore[misc]
    assert back.quantity == 10


def test_an_ineligible_listing_stays_at_zero_whatever_is_reserved() -> None:
    listing, _ = apply_product(None, product(quantity=10, status=ProductStatus.DISABLED), US)  # type: ignore[misc]
    assert listing.status is ListingStatus.INELIGIBLE
    assert apply_reservation(listing, 10, 4) is None
    assert apply_reservation(listing, 10, 0) is None


def test_the_same_product_from_another_store_view_is_remembered_without_a_change() -> None:
    listing, _ = apply_product(None, product(quantity=10), US)  # type: ignore[misc]
    moved, changes = apply_product(listing, product(quantity=10, store_code="fr"), US)  # type: ignore[misc]
    assert changes == [] and moved.store_code == "fr" and moved.version == listing.version


def test_a_reservation_reads_its_event_and_refuses_negative_quantities() -> None:
    read = Reservation.of(changed("O-1", 2, {"24-MB01": 2, "24-MB02": 0}))
    assert read == Reservation("O-1", "default", 2, {"24-MB01": 2})
    with pytest.raises(InvalidReservation, match="24-MB02"):
        Reservation.of(changed("O-1", 3, {"24-MB01": 2, "24-MB02": -1}))


def test_older_and_equal_versions_change_nothing_and_a_release_gives_everything_back() -> None:
    held = reservation("O-1", 2, {"A": 3, "B": 1})
    replaced, moved = fold_reservations({"O-1": held}, [reservation("O-1", 1, {"A": 9}),
                                                         reservation("O-1", 2, {"A": 5})])
    assert (replaced, moved) == ({}, {})
    replaced, moved = fold_reservations({"O-1": held}, [reservation("O-1", 3, {"A": 3, "C": 2}),
                                                        reservation("O-1", 4, {})])
    assert replaced == {"O-1": reservation("O-1", 4, {})}
    assert moved == {("default", "A"): -3, ("default", "B"): -1}


def test_moving_below_zero_is_refused() -> None:
    assert move_reserved({("s", "A"): 2}, {("s", "A"): -2, ("s", "B"): 1}) == {("s", "A"): 0, ("s", "B"): 1}
    with pytest.raises(ReservedBelowZero):
        move_reserved({("s", "A"): 2}, {("s", "A"): -3})


@given(st.integers(0, 1000), st.integers(0, 1000), st.sampled_from(list(ListingStatus)))
def test_the_listed_quantity_is_never_negative_nor_more_than_commerce_has(commerce, reserved, status) -> None:
    quantity = listed_quantity(status, commerce, reserved)
    assert 0 <= quantity <= commerce
    if status is not ListingStatus.INELIGIBLE and reserved <= commerce:
        assert quantity == commerce - reserved


skus = st.sampled_from(["A", "B", "C"])
stores = st.sampled_from(["default", "fr"])
# Each order's versions 1..n, each a (store, reserved) state; an empty one is a release.
histories = st.dictionaries(
    st.sampled_from(["O-1", "O-2", "O-3", "O-4"]),
    st.lists(st.tuples(stores, st.dictionaries(skus, st.integers(0, 5), max_size=3)), min_size=1, max_size=5),
    min_size=1,
)


def expected_sums(newest: Mapping[str, Reservation]) -> dict[StockKey, int]:
    sums: dict[StockKey, int] = {}
    for r in newest.values():
        for key, quantity in r.held().items():
            sums[key] = sums.get(key, 0) + quantity
    return {key: quantity for key, quantity in sums.items() if quantity}


@given(histories=histories, data=st.data())
def test_the_reserved_sum_is_the_sum_of_each_orders_newest_reservation_under_any_delivery(histories, data) -> None:
    every = [Reservation.of(changed(order, version, reserved, store))
             for order, states in histories.items()
             for version, (store, reserved) in enumerate(states, start=1)]
    duplicates = data.draw(st.lists(st.sampled_from(every), max_size=len(every)))
    deliveries = data.draw(st.permutations(every + duplicates))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(deliveries)), max_size=4)))
    batches = [deliveries[a:b] for a, b in zip([0, *cuts], [*cuts, len(deliveries)], strict=True)]

    current: dict[str, Reservation] = {}
    sums: dict[StockKey, int] = {}
    for batch in batches:
        replaced, moved = fold_reservations(current, batch)
        assert all(current[o].version < r.version for o, r in replaced.items() if o in current)
        current.update(replaced)
        sums = {k: q for k, q in {**sums, **move_reserved(sums, moved)}.items() if q}
        assert sums == expected_sums(current)

    newest = {order: Reservation.of(changed(order, len(states), states[-1][1], states[-1][0]))
              for order, states in histories.items()}
    assert current == newest
    assert sums == expected_sums(newest)
