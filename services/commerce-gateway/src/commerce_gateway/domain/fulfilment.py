"""Fulfilment in, the pure part: which Commerce shipments and cancellations belong to the Amazon orders this gateway
created, and the ShipmentCreated or CommerceOrderCancelled each becomes.

- An order is an Amazon order of this gateway when a stored request names it: by the Commerce order id the request
  became, or by its `ext_order_id` (the Amazon order id) while the request has no Commerce order id recorded yet.
- Amazon needs one carrier and one tracking number per confirmation: a shipment's first track with a number (lowest
  track id) is the one announced; a shipment without one is held until a track appears.
- Items are Amazon's: each shipped Commerce order item maps to the request line of its `ext_order_item_id`, else to
  the line of its SKU; quantities are whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from commerce_gateway.domain.orders import AMAZON_ORDER_FIELD
from commerce_gateway.domain.products import commerce_time
from contracts.events import CommerceOrderCancelled, CommerceOrderRequested, OrderLine, ShipmentCreated

Json = dict[str, Any]
CANCELED_STATE = "canceled"
DEFAULT_CARRIER = "custom"


class ShipmentStatus(StrEnum):
    EMITTED = "emitted"  # ShipmentCreated written
    HELD = "held"  # no tracking number yet: looked at again on every poll
    UNMAPPED = "unmapped"  # no shipped item is a line of the Amazon order: nothing to confirm


@dataclass(frozen=True)
class AmazonOrder:
    """A stored request and the Commerce order it became (None while the sender has not recorded it)."""

    request: CommerceOrderRequested
    commerce_order_id: str | None

    @property
    def amazon_order_id(self) -> str:
        return self.request.amazon_order_id

    def scope(self) -> Json:
        """The fields every event about this order carries, continuing the request's correlation."""
        return {"caused_by": self.request, "account_id": self.request.account_id,
                "marketplace_id": self.request.marketplace_id, "amazon_order_id": self.request.amazon_order_id}


@dataclass(frozen=True)
class Tracking:
    carrier_code: str
    carrier_name: str | None
    tracking_number: str


@dataclass(frozen=True)
class ShipmentDecision:
    commerce_shipment_id: str
    commerce_order_id: str
    amazon_order_id: str
    status: ShipmentStatus
    tracking: Tracking | None
    items: dict[str, int]
    shipped_at: datetime | None
    event: ShipmentCreated | None = None


def owner(order: Json, by_commerce_id: Mapping[str, AmazonOrder],
          by_amazon_id: Mapping[str, AmazonOrder]) -> AmazonOrder | None:
    """The Amazon order this Commerce order was created for, or None when it is not one of this gateway's."""
    entity_id = str(order.get("entity_id") or "")
    known = by_commerce_id.get(entity_id)
    if known is not None:
        return known
    ext = str(order.get(AMAZON_ORDER_FIELD) or "")
    candidate = by_amazon_id.get(ext) if ext else None
    if candidate is not None and candidate.commerce_order_id is None:
        return candidate
    return None


def tracking(shipment: Json) -> Tracking | None:
    """The shipment's first track that has a tracking number, or None."""
    tracks = [t for t in shipment.get("tracks") or []
              if isinstance(t, dict) and str(t.get("track_number") or "").strip()]
    if not tracks:
        return None
    first = min(tracks, key=lambda t: _int(t.get("entity_id")))
    code = str(first.get("carrier_code") or "").strip() or DEFAULT_CARRIER
    title = str(first.get("title") or "").strip() or None
    return Tracking(code, title, str(first["track_number"]).strip())


def whole(value: Any) -> int:
    """A Commerce quantity (`1.0`, "2", 1) as a whole number; anything unreadable is 0."""
    try:
        return max(0, int(Decimal(str(value))))
    except (InvalidOperation, ValueError):
        return 0


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def amazon_items(shipment: Json, order: Json, lines: Iterable[OrderLine]) -> dict[str, int]:
    """Amazon order_item_id -> quantity shipped: through the Commerce order item's ext_order_item_id, else its SKU."""
    lines = list(lines)
    amazon_ids = {line.order_item_id for line in lines}
    by_sku: dict[str, str] = {}
    for line in lines:
        by_sku.setdefault(line.sku, line.order_item_id)
    ordered = {str(i.get("item_id")): i for i in order.get("items") or [] if isinstance(i, dict)}
    out: dict[str, int] = {}
    for item in shipment.get("items") or []:
        if not isinstance(item, dict):
            continue
        qty = whole(item.get("qty"))
        order_item = ordered.get(str(item.get("order_item_id")), {})
        ext = str(order_item.get("ext_order_item_id") or "")
        amazon_id = ext if ext in amazon_ids else by_sku.get(str(order_item.get("sku") or item.get("sku") or ""))
        if qty > 0 and amazon_id is not None:
            out[amazon_id] = out.get(amazon_id, 0) + qty
    return out


def shipment_decision(shipment: Json, order: Json, amazon: AmazonOrder, producer: str) -> ShipmentDecision:
    """What a Commerce shipment of an Amazon order becomes: its ShipmentCreated, or held, or nothing to confirm."""
    found = tracking(shipment)
    items = amazon_items(shipment, order, amazon.request.lines)
    shipped_at = commerce_time(shipment.get("created_at"))
    common: Json = dict(commerce_shipment_id=str(shipment["entity_id"]), commerce_order_id=str(order["entity_id"]),
                        amazon_order_id=amazon.amazon_order_id, tracking=found, items=items, shipped_at=shipped_at)
    if not items:
        return ShipmentDecision(status=ShipmentStatus.UNMAPPED, **common)
    if found is None or shipped_at is None:
        return ShipmentDecision(status=ShipmentStatus.HELD, **common)
    event = ShipmentCreated.new(
        producer=producer, **amazon.scope(), commerce_shipment_id=common["commerce_shipment_id"],
        carrier_code=found.carrier_code, carrier_name=found.carrier_name, tracking_number=found.tracking_number,
        shipped_at=shipped_at, items=items)
    return ShipmentDecision(status=ShipmentStatus.EMITTED, event=event, **common)


def cancellation(order: Json, amazon: AmazonOrder, producer: str) -> CommerceOrderCancelled | None:
    """The CommerceOrderCancelled of a cancelled Commerce order of an Amazon order; None when it is not cancelled."""
    if order.get("state") != CANCELED_STATE and order.get("status") != CANCELED_STATE:
        return None
    cancelled_at = commerce_time(order.get("updated_at")) or commerce_time(order.get("created_at"))
    if cancelled_at is None:
        return None
    increment = order.get("increment_id")
    return CommerceOrderCancelled.new(
        producer=producer, **amazon.scope(), store_code=amazon.request.store_code,
        commerce_order_id=str(order["entity_id"]), increment_id=str(increment) if increment not in (None, "") else None,
        cancelled_at=cancelled_at)


def newest(records: Iterable[Json], current: datetime | None) -> datetime | None:
    """The latest `updated_at` among the records and the current cursor."""
    for seen in (commerce_time(r.get("updated_at")) for r in records):
        if seen is not None and (current is None or seen > current):
            current = seen
    return current
