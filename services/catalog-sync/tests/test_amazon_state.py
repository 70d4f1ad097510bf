"""What Amazon reports of a listing, and the repricer's price, applied to catalog-sync's listings: pure rules."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from catalog_sync.domain import Listing, Target, apply_amazon, apply_price, apply_product
from contracts.events import AmazonIssue, AmazonListingObserved, ListingStatus, PriceChanged, ProductStatus
from contracts.money import Money
from samples import product

US = Target("acct", "ATVPDKIKX0DER")


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def observed(sku: str = "24-MB01", **kw: object) -> AmazonListingObserved:
    fields: dict[str, object] = {"asin": "B000TEST01", "status": ["BUYABLE", "DISCOVERABLE"], "price": usd("39.00"),
                                 "quantity": 4, "condition": "new_new", "source": "import"}
    return AmazonListingObserved.new(producer="amazon-gateway", account_id="acct", marketplace_id="ATVPDKIKX0DER",
                                     sku=sku, **(fields | kw))


def listed(quantity: int = 7) -> Listing:
    listing, _ = apply_product(None, product(quantity=quantity), US)  # type: ignore[misc]
    return listing


def test_a_buyable_matched_listing_becomes_active_with_amazons_asin_and_keeps_our_quantity() -> None:
    listing, changes = apply_amazon(listed(7), observed(), "24-MB01")  # type: ignore[misc]
    assert listing.status is ListingStatus.ACTIVE and listing.asin == "B000TEST01"
    assert listing.quantity == 7  # ours, not Amazon's 4
    assert listing.price == usd("39.00")  # no price of ours yet: Amazon's is what the listing has
    assert listing.version == 2
    assert {(c.field, c.new) for c in changes} >= {("status", "Active"), ("asin", "B000TEST01")}


def test_an_unmatched_amazon_listing_is_new_third_party_with_amazons_quantity_and_price() -> None:
    listing, changes = apply_amazon(None, observed("AMZ-ONLY"), None)  # type: ignore[misc]
    assert listing.status is ListingStatus.NEW_THIRD_PARTY and listing.product_sku is None
    assert (listing.quantity, listing.price, listing.version) == (4, usd("39.00"), 1)
    assert all(c.old is None for c in changes)


def test_not_buyable_or_an_error_issue_makes_a_matched_listing_inactive_and_clearing_it_reactivates() -> None:
    active, _ = apply_amazon(listed(), observed(), "24-MB01")  # type: ignore[misc]
    issue = AmazonIssue(code="18027", message="image missing", severity="ERROR")
    blocked, changes = apply_amazon(active, observed(status=[], issues=[issue],  # type: ignore[misc]
                                                     source="issues_notification"), None)
    assert blocked.status is ListingStatus.INACTIVE
    assert [(c.field, c.old, c.new) for c in changes] == [("status", "Active", "Inactive")]
    # an issues notification names no status: Amazon's last statuses still count once the issue clears
    cleared, _ = apply_amazon(blocked, observed(status=[], issues=[], source="issues_notification"), None)  # type: ignore[misc]
    assert cleared.status is ListingStatus.ACTIVE
    hidden, _ = apply_amazon(cleared, observed(status=["DISCOVERABLE"], source="status_notification"), None)  # type: ignore[misc]
    assert hidden.status is ListingStatus.INACTIVE


def test_amazon_does_not_undo_our_ineligible_decision() -> None:
    off, _ = apply_product(listed(), product(quantity=7, status=ProductStatus.DISABLED), US)  # type: ignore[misc]
    after, changes = apply_amazon(off, observed(), "24-MB01")  # type: ignore[misc]
    assert after.status is ListingStatus.INELIGIBLE and after.quantity == 0
    assert {c.field for c in changes} == {"asin", "condition", "price"}


def test_a_product_change_keeps_amazons_asin_and_the_price() -> None:
    active, _ = apply_amazon(listed(), observed(), "24-MB01")  # type: ignore[misc]
    later, changes = apply_product(active, product(quantity=9), US)  # type: ignore[misc]
    assert (later.asin, later.price, later.status) == ("B000TEST01", usd("39.00"), ListingStatus.ACTIVE)
    assert [c.field for c in changes] == ["quantity"]


def test_a_matched_third_party_listing_takes_amazons_status_when_its_product_appears() -> None:
    third, _ = apply_amazon(None, observed(), None)  # type: ignore[misc]
    matched, changes = apply_product(third, product(quantity=3), US)  # type: ignore[misc]
    assert matched.status is ListingStatus.ACTIVE and matched.product_sku == "24-MB01"
    assert ("status", "New Third Party", "Active") in {(c.field, c.old, c.new) for c in changes}


def test_the_repricers_price_becomes_the_listing_price_once() -> None:
    active, _ = apply_amazon(listed(), observed(), "24-MB01")  # type: ignore[misc]
    change = PriceChanged.new(producer="repricer", account_id="acct", marketplace_id="ATVPDKIKX0DER", sku="24-MB01",
                              old_price=usd("39.00"), new_price=usd("35.70"), trace=[])
    priced, changes = apply_price(active, change)  # type: ignore[misc]
    assert priced.price == usd("35.70") and priced.version == active.version + 1
    assert [(c.field, c.old, c.new) for c in changes] == [("price", "39.00 USD", "35.70 USD")]
    assert apply_price(priced, change) is None
    assert apply_price(None, change) is None


def test_the_same_report_twice_changes_nothing() -> None:
    once, _ = apply_amazon(listed(), observed(), "24-MB01")  # type: ignore[misc]
    assert apply_amazon(once, observed(), "24-MB01") is None


statuses = st.lists(st.sampled_from(["BUYABLE", "DISCOVERABLE"]), unique=True)
severities = st.lists(st.sampled_from(["ERROR", "WARNING", "INFO"]), max_size=3)


@given(steps=st.lists(st.tuples(statuses, severities, st.sampled_from(["import", "status_notification",
                                                                        "issues_notification"])),
                      min_size=1, max_size=12),
       quantity=st.integers(0, 50))
def test_reports_never_touch_a_matched_listings_quantity_and_versions_rise_by_one(steps, quantity) -> None:
    listing = listed(quantity)
    for status, sevs, source in steps:
        issues = [AmazonIssue(code=str(uuid4())[:4], message="m", severity=s) for s in sevs]
        outcome = apply_amazon(listing, observed(status=status, issues=issues, source=source), None)
        if outcome is None:
            continue
        after, changes = outcome
        assert after.quantity == quantity
        assert after.version == listing.version + (1 if changes else 0)
        if after.status is ListingStatus.ACTIVE:
            assert "BUYABLE" in (after.amazon_status or ()) and "ERROR" not in sevs
        listing = after
