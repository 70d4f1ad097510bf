"""What to do with one Amazon order now: wait, skip, block or request it from Commerce; what it reserves.

The creation matrix (spec section 13): a merchant-fulfilled order is created at Unshipped, PartiallyShipped or
Shipped (and Completed), an Amazon-fulfilled one only at Shipped (or Completed), created complete; neither at
Pending, PendingAvailability, Canceled or Error. A due order is held (blocked, with a note) while a line has no
Commerce product, the product is disabled or out of stock, or its address cannot be taken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from contracts.events import FulfillmentBy, OrderLine, ProductStatus
from order_import.domain.address import AddressProblem
from order_import.domain.lifecycle import TERMINAL, AmazonStatus, known
from order_import.domain.settings import FBA_STATUS, CustomerCreation, NumberSource, OrderSettings


class ImportState(StrEnum):
    WAITING = "waiting"
    BLOCKED = "blocked"
    REQUESTED = "requested"
    CREATED = "created"
    FAILED = "failed"
    SKIPPED = "skipped"


OPEN = frozenset({ImportState.WAITING, ImportState.BLOCKED})
"""States in which the order is decided again whenever something it depends on changes."""

DUE: Mapping[FulfillmentBy, frozenset[str]] = {
    FulfillmentBy.MFN: frozenset({AmazonStatus.UNSHIPPED, AmazonStatus.PARTIALLY_SHIPPED, AmazonStatus.SHIPPED,
                                  AmazonStatus.COMPLETED}),
    FulfillmentBy.AFN: frozenset({AmazonStatus.SHIPPED, AmazonStatus.COMPLETED}),
}


def due(fulfillment: FulfillmentBy, status: str) -> bool:
    """Whether the creation matrix creates a Commerce order for this channel at this Amazon status."""
    return status in DUE[fulfillment]


@dataclass(frozen=True)
class Product:
    sku: str
    status: ProductStatus
    quantity: int
    in_stock: bool | None = None
    manage_stock: bool | None = None



@dataclass(frozen=True)
class Catalog:
    """What is known of the products one order names, in its store.

    `listings`: Amazon SKU -> the Commerce SKU its listing is matched to (None: the listing is known and unmatched);
    an Amazon SKU absent here has no listing known, and is taken to be the Commerce SKU itself.
    `products`: Commerce SKU -> product in the store view."""

    listings: Mapping[str, str | None] = field(default_factory=dict)
    products: Mapping[str, Product] = field(default_factory=dict)

    def commerce_sku(self, amazon_sku: str) -> str | None:
        return self.listings.get(amazon_sku, amazon_sku)


@dataclass(frozen=True)
class Order:
    amazon_order_id: str
    account_id: str
    marketplace_id: str
    amazon_status: str
    import_state: ImportState = ImportState.WAITING
    fulfillment: FulfillmentBy | None = None
    purchase_date: datetime | None = None
    lines: tuple[OrderLine, ...] = ()

    @property
    def placed(self) -> bool:
        """OrderPlaced has been heard: the channel, the purchase date and the lines are known."""
        return self.fulfillment is not None and self.purchase_date is not None


@dataclass(frozen=True)
class Request:
    store_code: str
    commerce_status: str
    lines: tuple[OrderLine, ...]
    create_customer: bool
    increment_id: str | None


@dataclass(frozen=True)
class Decision:
    state: ImportState
    note: str | None = None
    watch: tuple[str, ...] = ()
    """What to decide again on: `product:<store>|<sku>` and `listing:<amazon sku>` keys."""
    request: Request | None = None


def product_key(store_code: str, sku: str) -> str:
    return f"product:{store_code}|{sku}"


def listing_key(amazon_sku: str) -> str:
    return f"listing:{amazon_sku}"


def decide(order: Order, settings: OrderSettings | None, catalog: Catalog,
           address_problem: AddressProblem | None = None, has_email: bool = False) -> Decision:
    """The order's next import state (only orders waiting, blocked or failed move; failed ones only to skipped)."""
    state = order.import_state
    if state not in OPEN:
        if state is ImportState.FAILED and order.amazon_status in TERMINAL:
            return Decision(ImportState.SKIPPED, f"Amazon status {order.amazon_status}: not imported")
        return Decision(state)
    if not order.placed:
        return Decision(ImportState.WAITING, "waiting for the order's items")
    assert order.fulfillment is not None and order.purchase_date is not None
    if settings is None:
        return Decision(ImportState.WAITING,
                        f"no OrderSettings for store {order.account_id}/{order.marketplace_id}: view only")
    if settings.before_integration(order.purchase_date):
        return Decision(ImportState.SKIPPED,
                        f"placed {order.purchase_date.isoformat()}, before the integration date "
                        f"{settings.integration_date.isoformat()}: never imported")
    if order.amazon_status in TERMINAL:
        return Decision(ImportState.SKIPPED, f"Amazon status {order.amazon_status}: not imported")
    if not due(order.fulfillment, order.amazon_status):
        at = "Shipped" if order.fulfillment is FulfillmentBy.AFN else "Unshipped"
        why = "unknown Amazon status" if not known(order.amazon_status) else "Amazon status"
        return Decision(ImportState.WAITING, f"{why} {order.amazon_status}: imported at {at}")
    if not settings.import_enabled:
        return Decision(ImportState.SKIPPED, "order import disabled for this store: view only")
    lines = [line for line in order.lines if line.quantity > 0]
    if not lines:
        return Decision(ImportState.SKIPPED, "no item to order (every line has quantity 0)")
    problems, watch, mapped = _blockers(order.fulfillment, lines, settings.store_code, catalog)
    if address_problem is not None:
        problems.append(f"shipping address {address_problem}")
    if problems:
        return Decision(ImportState.BLOCKED, "; ".join(problems), tuple(sorted(set(watch))))
    afn = order.fulfillment is FulfillmentBy.AFN
    return Decision(ImportState.REQUESTED, None, (), Request(
        store_code=settings.store_code,
        commerce_status=FBA_STATUS if afn else settings.commerce_status(),
        lines=tuple(mapped),
        create_customer=settings.customer_creation is CustomerCreation.BUILD and has_email,
        increment_id=order.amazon_order_id if settings.order_number_source is NumberSource.AMAZON else None,
    ))


def _blockers(fulfillment: FulfillmentBy, lines: Sequence[OrderLine], store_code: str, catalog: Catalog
              ) -> tuple[list[str], list[str], list[OrderLine]]:
    problems: list[str] = []
    watch: list[str] = []
    mapped: list[OrderLine] = []
    wanted: dict[str, int] = {}
    for line in lines:
        sku = catalog.commerce_sku(line.sku)
        if sku is None:
            problems.append(f"Amazon SKU {line.sku}: listing not matched to a Commerce product")
            watch.append(listing_key(line.sku))
            continue
        mapped.append(line.model_copy(update={"sku": sku}))
        wanted[sku] = wanted.get(sku, 0) + line.quantity
    for sku, quantity in wanted.items():
        product = catalog.products.get(sku)
        problem: str | None = None
        if product is None or product.status is ProductStatus.DELETED:
            problem = f"product {sku} missing from the catalog"
        elif product.status is ProductStatus.DISABLED:
            problem = f"product {sku} disabled"
        elif fulfillment is FulfillmentBy.MFN and product.in_stock is False:
            problem = f"product {sku} out of stock"
        elif fulfillment is FulfillmentBy.MFN and product.manage_stock is not False and product.quantity < quantity:
            problem = (f"product {sku} out of stock" if product.quantity == 0
                       else f"product {sku}: {product.quantity} in stock, {quantity} ordered")
        if problem:
            problems.append(problem)
            watch.append(product_key(store_code, sku))
            watch.extend(listing_key(line.sku) for line in lines if catalog.commerce_sku(line.sku) == sku)
    return problems, watch, mapped


def reservation(order: Order, state: ImportState, settings: OrderSettings | None, catalog: Catalog
                ) -> dict[str, int]:
    """Commerce SKU -> quantity the order holds back now: a merchant-fulfilled order in a store that reserves,
    from the moment it is heard until Commerce has it or it will never be imported."""
    if (settings is None or not settings.reserve_quantity or not settings.import_enabled or not order.placed
            or order.fulfillment is not FulfillmentBy.MFN or order.amazon_status in TERMINAL
            or state in (ImportState.CREATED, ImportState.SKIPPED)):
        return {}
    assert order.purchase_date is not None
    if settings.before_integration(order.purchase_date):
        return {}
    reserved: dict[str, int] = {}
    for line in order.lines:
        sku = catalog.commerce_sku(line.sku)
        if sku is not None and line.quantity > 0:
            reserved[sku] = reserved.get(sku, 0) + line.quantity
    return reserved
