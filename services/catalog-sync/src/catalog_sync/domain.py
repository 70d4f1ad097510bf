"""Listings derived from Commerce products. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, replace

from contracts.events import (
    AmazonListingObserved,
    FieldChange,
    ListingStatus,
    PriceChanged,
    ProductChanged,
    ProductStatus,
)
from contracts.money import Money


@dataclass(frozen=True)
class Target:
    """An Amazon account and marketplace the catalog is listed on."""

    account_id: str
    marketplace_id: str

    @classmethod
    def parse_many(cls, text: str) -> list[Target]:
        targets = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            account, sep, marketplace = part.partition(":")
            if not sep or not account or not marketplace:
                raise ValueError(f"target {part!r} is not ACCOUNT:MARKETPLACE_ID")
            targets.append(cls(account, marketplace))
        return targets


@dataclass(frozen=True)
class Listing:
    account_id: str
    marketplace_id: str
    sku: str
    product_sku: str | None
    title: str
    status: ListingStatus
    quantity: int
    version: int
    asin: str | None = None
    condition: str | None = None
    price: Money | None = None
    # Amazon's statuses (BUYABLE, DISCOVERABLE) as last reported; None until Amazon reported any.
    amazon_status: tuple[str, ...] | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.account_id, self.marketplace_id, self.sku)


NOT_SELLABLE = (ProductStatus.DISABLED, ProductStatus.DELETED)


def status_for(
    product: ProductChanged, current: ListingStatus | None, amazon_status: tuple[str, ...] | None = None
) -> ListingStatus:
    """Disabled and deleted products become Ineligible (reversibly); eligible new ones wait Ready to List.

    A listing Amazon already holds (imported, or reported by a notification) takes Amazon's word
    once it is matched or made eligible again: Active when buyable there, Inactive when not.
    """
    if product.status in NOT_SELLABLE:
        return ListingStatus.INELIGIBLE
    if current in (None, ListingStatus.INELIGIBLE, ListingStatus.NEW_THIRD_PARTY):
        if amazon_status is not None:
            return ListingStatus.ACTIVE if BUYABLE in amazon_status else ListingStatus.INACTIVE
        return ListingStatus.READY_TO_LIST
    assert current is not None
    return current


BUYABLE = "BUYABLE"
# Statuses that are catalog-sync's own decisions; what Amazon reports does not undo them.
_OURS = (ListingStatus.INELIGIBLE, ListingStatus.MANUALLY_ENDED)


def apply_product(
    current: Listing | None, product: ProductChanged, target: Target
) -> tuple[Listing, list[FieldChange]] | None:
    """The listing after a product change and what changed; None when nothing did."""
    status = status_for(product, current.status if current else None, current.amazon_status if current else None)
    quantity = product.quantity if status is not ListingStatus.INELIGIBLE else 0
    proposed = _carry(current, Listing(
        account_id=target.account_id,
        marketplace_id=target.marketplace_id,
        sku=product.sku,
        product_sku=product.sku,
        # a deletion says nothing new about the product: its title stays
        title=current.title if current and product.status is ProductStatus.DELETED else product.name,
        status=status,
        quantity=quantity,
        version=(current.version + 1) if current else 1,
    ))
    return _outcome(current, proposed, ("status", "quantity", "title", "product_sku"))


def amazon_status_for(
    observed: AmazonListingObserved, current: Listing | None, matched: bool
) -> tuple[ListingStatus, tuple[str, ...] | None]:
    """The listing's status after Amazon reported it, and Amazon's statuses to remember.

    An Amazon listing no catalog product matches is New Third Party. A matched one is Active while
    Amazon calls it BUYABLE and has no ERROR issue, else Inactive; a report that names no status
    (an issues notification) keeps the statuses last reported. Ineligible and Manually Ended are
    this platform's decisions and stay.
    """
    reported = tuple(observed.status) if observed.status or observed.source != "issues_notification" else None
    amazon = reported if reported is not None else (current.amazon_status if current else None)
    if current is not None and current.status in _OURS:
        return current.status, amazon
    if not matched:
        return ListingStatus.NEW_THIRD_PARTY, amazon
    blocked = any(i.severity == "ERROR" for i in observed.issues or ())
    if amazon is None and not blocked:
        return (current.status if current else ListingStatus.READY_TO_LIST), amazon
    live = amazon is not None and BUYABLE in amazon and not blocked
    return (ListingStatus.ACTIVE if live else ListingStatus.INACTIVE), amazon


def apply_amazon(
    current: Listing | None, observed: AmazonListingObserved, product_sku: str | None, title: str | None = None
) -> tuple[Listing, list[FieldChange]] | None:
    """The listing after Amazon reported it (listing import, status or issues notification).

    Amazon's ASIN and condition are taken as they are. Quantity and price come from Amazon only for
    a listing no catalog product backs (New Third Party): for a matched one this platform decides
    them and sends them, so a report never rolls them back.
    """
    matched = (product_sku or (current.product_sku if current else None)) is not None
    status, amazon = amazon_status_for(observed, current, matched)
    third_party = not matched
    base = current or Listing(
        account_id=observed.account_id, marketplace_id=observed.marketplace_id, sku=observed.sku,
        product_sku=None, title=title or observed.sku, status=status, quantity=0, version=0)
    proposed = Listing(
        account_id=base.account_id, marketplace_id=base.marketplace_id, sku=base.sku,
        product_sku=product_sku or base.product_sku,
        title=base.title if current else (title or observed.sku),
        status=status,
        quantity=observed.quantity if third_party and observed.quantity is not None else base.quantity,
        version=base.version + 1,
        asin=observed.asin or base.asin,
        condition=observed.condition or base.condition,
        price=observed.price if (third_party or base.price is None) and observed.price else base.price,
        amazon_status=amazon,
    )
    outcome = _outcome(current, proposed, ("status", "asin", "condition", "quantity", "price", "product_sku"))
    if outcome is None and current is not None and proposed.amazon_status != current.amazon_status:
        # Nothing a subscriber sees moved, but Amazon's statuses are remembered for later decisions.
        return replace(current, amazon_status=proposed.amazon_status), []
    return outcome


def apply_price(current: Listing | None, change: PriceChanged) -> tuple[Listing, list[FieldChange]] | None:
    """The listing carrying the repricer's newest price; None when it is unknown or unchanged."""
    if current is None:
        return None
    return _outcome(current, replace(current, price=change.new_price, version=current.version + 1), ("price",))


def _carry(current: Listing | None, proposed: Listing) -> Listing:
    """A product change keeps what Amazon and the repricer told about the listing."""
    if current is None:
        return proposed
    return replace(proposed, asin=current.asin, condition=current.condition, price=current.price,
                   amazon_status=current.amazon_status)


def _outcome(
    current: Listing | None, proposed: Listing, fields: tuple[str, ...]
) -> tuple[Listing, list[FieldChange]] | None:
    changes = [
        FieldChange(field=name, old=_text(getattr(current, name)) if current else None,
                    new=_text(getattr(proposed, name)))
        for name in fields
        if current is None or getattr(current, name) != getattr(proposed, name)
    ]
    if not changes:
        return None
    return proposed, changes


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, ListingStatus):
        return value.value
    if isinstance(value, Money):
        return f"{value.amount} {value.currency}"
    return str(value)


