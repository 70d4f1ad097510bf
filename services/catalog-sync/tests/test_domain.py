"""Listings from products: pure rules, no I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog_sync.domain import Listing, Target, apply_product
from contracts.events import ListingStatus, ProductStatus
from samples import product

US = Target("acct", "ATVPDKIKX0DER")


def test_a_new_enabled_product_waits_ready_to_list() -> None:
    listing, changes = apply_product(None, product(quantity=7), US)  # type: ignore[misc]
    assert listing.status is ListingStatus.READY_TO_LIST
    assert listing.quantity == 7 and listing.version == 1
    assert {c.field for c in changes} == {"status", "quantity", "title", "product_sku"}
    assert all(c.old is None for c in changes)


def test_disabling_makes_it_ineligible_with_quantity_zero_and_is_reversible() -> None:
    listing, _ = apply_product(None, product(quantity=7), US)  # type: ignore[misc]
    off, changes = apply_product(listing, product(quantity=7, status=ProductStatus.DISABLED), US)  # type: ignore[misc]
    assert off.status is ListingStatus.INELIGIBLE and off.quantity == 0 and off.version == 2
    assert {(c.field, c.old, c.new) for c in changes} == {
        ("status", "Ready to List", "Ineligible"), ("quantity", "7", "0")}
    back, _ = apply_product(off, product(quantity=7), US)  # type: ignore[misc]
    assert back.status is ListingStatus.READY_TO_LIST and back.quantity == 7


def test_a_deleted_product_makes_its_listing_ineligible_with_quantity_zero_and_keeps_its_title() -> None:
    active = Listing("acct", "ATVPDKIKX0DER", "24-MB01", "24-MB01", "Joust Duffle Bag",
                     ListingStatus.ACTIVE, 5, 3)
    gone, changes = apply_product(  # type: ignore[misc]
        active, product(quantity=0, name="24-MB01", status=ProductStatus.DELETED), US)
    assert gone.status is ListingStatus.INELIGIBLE and gone.quantity == 0 and gone.title == "Joust Duffle Bag"
    assert {(c.field, c.old, c.new) for c in changes} == {("status", "Active", "Ineligible"), ("quantity", "5", "0")}
    again, _ = apply_product(gone, product(quantity=4), US)  # type: ignore[misc]
    assert again.status is ListingStatus.READY_TO_LIST and again.quantity == 4  # created again under its SKU


def test_an_active_listing_stays_active_when_stock_changes() -> None:
    active = Listing("acct", "ATVPDKIKX0DER", "24-MB01", "24-MB01", "Joust Duffle Bag",
                     ListingStatus.ACTIVE, 5, 3)
    listing, changes = apply_product(active, product(quantity=9), US)  # type: ignore[misc]
    assert listing.status is ListingStatus.ACTIVE and listing.version == 4
    assert [(c.field, c.old, c.new) for c in changes] == [("quantity", "5", "9")]


def test_nothing_changed_means_no_new_version() -> None:
    listing, _ = apply_product(None, product(), US)  # type: ignore[misc]
    assert apply_product(listing, product(), US) is None


@pytest.mark.parametrize("text", ["acct", "acct:", ":m", "a:m,,b"])
def test_targets_must_be_account_and_marketplace(text: str) -> None:
    if text == "a:m,,b":
        with pytest.raises(ValueError, match="'b'"):
            Target.parse_many(text)
    else:
        with pytest.raises(ValueError):
            Target.parse_many(text)


def test_targets_parse() -> None:
    assert Target.parse_many(" a:ATVPDKIKX0DER , b:A1F83G8C2ARO7P ") == [
        Target("a", "ATVPDKIKX0DER"), Target("b", "A1F83G8C2ARO7P")]


@given(st.lists(st.tuples(st.integers(0, 50), st.sampled_from(list(ProductStatus))), min_size=1, max_size=30))
def test_versions_rise_by_one_per_change_and_ineligible_means_zero(steps) -> None:
    listing = None
    for quantity, status in steps:
        outcome = apply_product(listing, product(quantity=quantity, status=status), US)
        if outcome is None:
            continue
        new, changes = outcome
        assert changes
        assert new.version == (listing.version + 1 if listing else 1)
        if new.status is ListingStatus.INELIGIBLE:
            assert new.quantity == 0
        else:
            assert new.quantity == quantity
        listing = new
