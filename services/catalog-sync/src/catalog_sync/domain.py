"""Listings derived from Commerce products. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from contracts.events import (
    AmazonListingObserved,
    FieldChange,
    ListingStatus,
    PriceChanged,
    ProductChanged,
    ProductStatus,
    StockReservationChanged,
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
    # The Commerce store view of the product the quantity comes from; None while no product backs it.
    store_code: str | None = None

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


def listed_quantity(status: ListingStatus, commerce_quantity: int, reserved: int) -> int:
    """What a listing offers: Commerce's salable quantity less what pending Amazon orders hold back.

    An Ineligible listing offers nothing.
    """
    if status is ListingStatus.INELIGIBLE:
        return 0
    return max(0, commerce_quantity - reserved)


def apply_product(
    current: Listing | None, product: ProductChanged, target: Target, reserved: int = 0
) -> tuple[Listing, list[FieldChange]] | None:
    """The listing after a product change and what changed; None when nothing did.

    `reserved` is the quantity of the product that pending Amazon orders hold back.
    """
    status = status_for(product, current.status if current else None, current.amazon_status if current else None)
    proposed = _carry(current, Listing(
        account_id=target.account_id,
        marketplace_id=target.marketplace_id,
        sku=product.sku,
        product_sku=product.sku,
        # a deletion says nothing new about the product: its title stays
        title=current.title if current and product.status is ProductStatus.DELETED else product.name,
        status=status,
        quantity=listed_quantity(status, product.quantity, reserved),
        version=(current.version + 1) if current else 1,
        store_code=product.store_code,
    ))
    outcome = _outcome(current, proposed, ("status", "quantity", "title", "product_sku"))
    if outcome is None and current is not None and current.store_code != product.store_code:
        # Nothing a subscriber sees moved, but whose stock (and reservations) the quantity follows did.
        return replace(current, store_code=product.store_code), []
    return outcome


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
        store_code=base.store_code,
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


def apply_reservation(
    current: Listing, commerce_quantity: int, reserved: int
) -> tuple[Listing, list[FieldChange]] | None:
    """The listing after what pending orders hold back of its product changed; None when its quantity stays."""
    proposed = replace(current, quantity=listed_quantity(current.status, commerce_quantity, reserved),
                       version=current.version + 1)
    return _outcome(current, proposed, ("quantity",))


StockKey = tuple[str, str]  # (Commerce store code, Commerce product SKU)


class InvalidReservation(ValueError):
    """A reservation that cannot hold stock back (a negative quantity)."""


@dataclass(frozen=True)
class Reservation:
    """What one Amazon order holds back of Commerce's stock now; a higher version replaces it."""

    amazon_order_id: str
    store_code: str
    version: int
    reserved: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, event: StockReservationChanged) -> Reservation:
        negative = sorted(sku for sku, quantity in event.reserved.items() if quantity < 0)
        if negative:
            raise InvalidReservation(f"order {event.amazon_order_id} reserves a negative quantity of {negative}")
        return cls(event.amazon_order_id, event.store_code, event.version,
                   {sku: quantity for sku, quantity in event.reserved.items() if quantity})

    def held(self) -> dict[StockKey, int]:
        return {(self.store_code, sku): quantity for sku, quantity in self.reserved.items()}


def fold_reservations(
    current: Mapping[str, Reservation], incoming: Iterable[Reservation]
) -> tuple[dict[str, Reservation], dict[StockKey, int]]:
    """Each order's newest reservation, and how much more (or less) each product is held back.

    Returns the reservations that replaced the current ones (by order) and the change of the reserved
    quantity per (store code, SKU), zeros left out. A version no newer than the order's current one
    changes nothing, so duplicates and late deliveries are harmless.
    """
    newest = dict(current)
    replaced: dict[str, Reservation] = {}
    for reservation in incoming:
        now = newest.get(reservation.amazon_order_id)
        if now is not None and reservation.version <= now.version:
            continue
        newest[reservation.amazon_order_id] = replaced[reservation.amazon_order_id] = reservation
    moved: dict[StockKey, int] = {}
    for order, reservation in replaced.items():
        before = current.get(order)
        for key, quantity in (before.held() if before else {}).items():
            moved[key] = moved.get(key, 0) - quantity
        for key, quantity in reservation.held().items():
            moved[key] = moved.get(key, 0) + quantity
    return replaced, {key: delta for key, delta in moved.items() if delta}


class ReservedBelowZero(RuntimeError):
    """The stored sums and reservations disagree: releasing would hold back less than nothing."""


def move_reserved(reserved: Mapping[StockKey, int], moved: Mapping[StockKey, int]) -> dict[StockKey, int]:
    """The quantity held back of each moved product after the move (0: nothing held back any more)."""
    after = {key: reserved.get(key, 0) + delta for key, delta in moved.items()}
    below = sorted(key for key, quantity in after.items() if quantity < 0)
    if below:
        raise ReservedBelowZero(f"reserved quantity would fall below zero for {below}")
    return after


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


