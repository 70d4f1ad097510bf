"""Listings derived from Commerce products. No I/O."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.events import FieldChange, ListingStatus, ProductChanged, ProductStatus


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

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.account_id, self.marketplace_id, self.sku)


def status_for(product: ProductChanged, current: ListingStatus | None) -> ListingStatus:
    """Disabled products become Ineligible (reversibly); eligible new ones wait Ready to List."""
    if product.status is ProductStatus.DISABLED:
        return ListingStatus.INELIGIBLE
    if current is None or current is ListingStatus.INELIGIBLE:
        return ListingStatus.READY_TO_LIST
    return current


def apply_product(
    current: Listing | None, product: ProductChanged, target: Target
) -> tuple[Listing, list[FieldChange]] | None:
    """The listing after a product change and what changed; None when nothing did."""
    status = status_for(product, current.status if current else None)
    quantity = product.quantity if status is not ListingStatus.INELIGIBLE else 0
    proposed = Listing(
        account_id=target.account_id,
        marketplace_id=target.marketplace_id,
        sku=product.sku,
        product_sku=product.sku,
        title=product.name,
        status=status,
        quantity=quantity,
        version=(current.version + 1) if current else 1,
    )
    changes = [
        FieldChange(field=name, old=_text(getattr(current, name)) if current else None,
                    new=_text(getattr(proposed, name)))
        for name in ("status", "quantity", "title", "product_sku")
        if current is None or getattr(current, name) != getattr(proposed, name)
    ]
    if not changes:
        return None
    return proposed, changes


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.value if isinstance(value, ListingStatus) else str(value)


