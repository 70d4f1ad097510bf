"""Fulfilment of merchant-fulfilled Amazon orders, the pure part: which carrier Amazon is told, what a shipment or a
manual confirmation may confirm, whether an order may be cancelled and with which of Amazon's reason codes, and the
Amazon status the confirmations add up to.

- Every Commerce shipment is confirmed to Amazon as its own package, as soon as it is made (confirmShipment takes
  one package per call): the buyer gets each tracking number the day the parcel leaves, and Amazon's on-time
  shipment clock stops for the items in it. The order becomes PartiallyShipped with the first accepted package and
  Shipped once every item is confirmed; only then is it settled (shipped_at).
- A shipment confirms only what is still open on Amazon (ordered, less confirmed, less awaiting Amazon's answer):
  goods already confirmed by hand are never confirmed twice. A manual confirmation asking for more is refused.
- Orders fulfilled by Amazon are never shipped or cancelled here; with the store's import off an order is view-only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, get_args

from contracts.events import OrderCancelRequested
from order_import.domain.lifecycle import AmazonStatus, advance

Json = dict[str, Any]

# ---------------------------------------------------------------- carriers

OTHER = "Other"
AMAZON_CARRIERS: Mapping[str, str] = {"ups": "UPS", "usps": "USPS", "fedex": "FedEx", "dhl": "DHL"}
"""Commerce's tracking carriers (Magento_Ups, _Usps, _Fedex, _Dhl) -> Amazon's carrierCode. Commerce's fourth kind of
track, `custom` ("Custom Value"), and any carrier a third-party module adds go to Amazon as `Other` with the track's
title as carrierName, which Amazon requires with `Other`."""

_BY_AMAZON_CODE: Mapping[str, str] = {code.casefold(): code for code in (*AMAZON_CARRIERS.values(), OTHER)}


@dataclass(frozen=True)
class Carrier:
    """What Amazon's confirmShipment is told: carrierCode, and carrierName (always set with Other)."""

    code: str
    name: str | None = None


class CarrierMissing(ValueError):
    """A carrier Amazon cannot be told: no code, or Other without a name."""


def amazon_carrier(code: str, title: str | None = None) -> Carrier:
    """Amazon's carrier for a Commerce track (`carrier_code`, `title`) or a carrier named by hand.

    A Commerce code (`ups`) or an Amazon code (`UPS`, `FedEx`) in any case is that carrier; a custom track titled
    with one of them (title "UPS") is that carrier too. Anything else is Other, named by the title, else by the
    code itself (a third-party carrier's code names it better than nothing)."""
    key = code.strip().casefold()
    name = (title or "").strip() or None
    known = AMAZON_CARRIERS.get(key) or _BY_AMAZON_CODE.get(key)
    if known and known != OTHER:
        return Carrier(known)
    titled = _BY_AMAZON_CODE.get(name.casefold()) if name else None
    if titled and titled != OTHER:
        return Carrier(titled)
    if name is None and key not in ("", "custom", OTHER.casefold()):
        name = code.strip()
    if name is None:
        raise CarrierMissing("carrier Other needs a carrier name" if key else "a carrier code is required")
    return Carrier(OTHER, name)


# ---------------------------------------------------------------- cancellation reasons

REASON_CODES: tuple[str, ...] = get_args(OrderCancelRequested.model_fields["reason_code"].annotation)


def display_name(code: str) -> str:
    """A reason code as Seller Central shows it: NoInventory -> No Inventory."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", code)


REASONS: Mapping[str, str] = {
    **{code: code for code in REASON_CODES},
    **{display_name(code): code for code in REASON_CODES},
    "Buyer Cancelled": "BuyerCanceled",  # the spec's spelling
}
"""Every accepted name of a cancellation reason -> Amazon's reason code."""

_NOT_SENDABLE: Mapping[str, str] = {
    "Pricing Error": "Pricing Error has no cancellation reason code in Amazon's order acknowledgement; "
                     "use GeneralAdjustment, or cancel the order in Seller Central",
}


class UnknownReason(ValueError):
    pass


def reason_code(name: str) -> str:
    """Amazon's reason code for a code or its display name ("No Inventory" -> NoInventory)."""
    if name in REASONS:
        return REASONS[name]
    raise UnknownReason(_NOT_SENDABLE.get(name.strip().title()) or f"{name!r} is not one of Amazon's reason "
                        "codes: " + ", ".join(REASON_CODES))


# ---------------------------------------------------------------- an order as fulfilment sees it


class ActionRefused(Exception):
    """The order's state does not allow the action; the message says why (a 409 over HTTP, a note on an event)."""


SHIPPABLE: frozenset[str] = frozenset({AmazonStatus.UNSHIPPED, AmazonStatus.PARTIALLY_SHIPPED})


@dataclass(frozen=True)
class OrderState:
    """One order's fulfilment facts, read under the order's row lock."""

    amazon_order_id: str
    fulfillment: str
    amazon_status: str
    import_enabled: bool
    ordered: Mapping[str, int]  # Amazon order_item_id -> quantity ordered
    confirmed: Mapping[str, int] = field(default_factory=dict)  # accepted by Amazon
    awaiting: Mapping[str, int] = field(default_factory=dict)  # confirmations sent, not answered yet
    shipped: Mapping[str, int] = field(default_factory=dict)  # shipped in Commerce or reported by hand
    cancel_pending: str | None = None  # the reason of a cancellation awaiting Amazon's answer

    def open(self) -> dict[str, int]:
        """Quantities Amazon still waits for a confirmation of, by item."""
        left = {item: qty - self.confirmed.get(item, 0) - self.awaiting.get(item, 0)
                for item, qty in self.ordered.items()}
        return {item: qty for item, qty in left.items() if qty > 0}

    def shipped_unconfirmed(self) -> dict[str, int]:
        """Shipped quantities Amazon has neither confirmed nor is answering, by item."""
        left = self.open()
        out = {item: min(left.get(item, 0), qty - self.confirmed.get(item, 0) - self.awaiting.get(item, 0))
               for item, qty in sorted(self.shipped.items())}
        return {item: qty for item, qty in out.items() if qty > 0}

    def _operable(self, action: str) -> None:
        if self.fulfillment != "MFN":
            raise ActionRefused(f"order {self.amazon_order_id} is fulfilled by Amazon: Amazon ships it and "
                                f"handles its {action}s; it is view-only here")
        if not self.import_enabled:
            raise ActionRefused(f"order import is off for the store of order {self.amazon_order_id}: the order is "
                                f"view-only here; manage its {action} in Seller Central")


def cancel_refusal(order: OrderState, reason: str) -> str | None:
    """Why `order` may not be cancelled now (None: it may). A cancellation already awaiting Amazon for the same
    reason is not refused: it is the one answered (`cancel_pending`)."""
    try:
        order._operable("cancellation")
    except ActionRefused as exc:
        return str(exc)
    if order.cancel_pending is not None and order.cancel_pending != reason:
        return f"a cancellation of order {order.amazon_order_id} ({order.cancel_pending}) already awaits Amazon"
    if order.cancel_pending is not None:
        return None
    if order.amazon_status != AmazonStatus.UNSHIPPED:
        return (f"order {order.amazon_order_id} is {order.amazon_status} on Amazon: only Unshipped orders are "
                "cancelled here; Pending, PartiallyShipped, returns and exchanges are handled in Seller Central")
    if any(order.awaiting.values()) or any(order.shipped.values()):
        return (f"order {order.amazon_order_id} has items shipped or being confirmed to Amazon: "
                "cancel what is left in Seller Central")
    return None


def cancelled_in_commerce(order: OrderState, commerce_order: str) -> str | None:
    """The note for an order cancelled in Commerce while Amazon still expects it shipped; None when Amazon does
    not (FBA, shipped, cancelled)."""
    if order.fulfillment != "MFN" or order.amazon_status not in SHIPPABLE:
        return None
    where = ("cancel it here with one of Amazon's reasons, or in Seller Central"
             if cancel_refusal(order, REASON_CODES[0]) is None else "cancel it in Seller Central")
    return f"Cancelled in Commerce (order {commerce_order}) but still {order.amazon_status} on Amazon: {where}"


def shipment_to_confirm(order: OrderState, items: Mapping[str, int]) -> tuple[dict[str, int], str | None]:
    """What a Commerce shipment confirms to Amazon (item -> quantity), and a note when not all of it.

    Raises ActionRefused when nothing of it may be confirmed (the order is FBA, view-only, not shippable)."""
    order._operable("shipment")
    if order.amazon_status not in SHIPPABLE:
        raise ActionRefused(f"order {order.amazon_order_id} is {order.amazon_status} on Amazon: "
                            "a shipment is confirmed only while it is Unshipped or PartiallyShipped")
    if order.cancel_pending is not None:
        raise ActionRefused(f"a cancellation of order {order.amazon_order_id} awaits Amazon's answer")
    left = order.open()
    unknown = sorted(item for item in items if item not in order.ordered)
    confirm = {item: min(qty, left[item]) for item, qty in sorted(items.items()) if qty > 0 and left.get(item, 0) > 0}
    notes = []
    if unknown:
        notes.append(f"items {', '.join(unknown)} are not items of the Amazon order")
    clipped = sorted(item for item, qty in items.items() if item in order.ordered and confirm.get(item, 0) < qty)
    if clipped:
        notes.append(f"items {', '.join(clipped)} are already confirmed to Amazon (or awaiting its answer)")
    if not confirm:
        raise ActionRefused(f"nothing of the shipment is left to confirm: {'; '.join(notes)}")
    return confirm, "; ".join(notes) or None


def manual_to_confirm(order: OrderState, items: Mapping[str, int] | None) -> dict[str, int]:
    """What a confirmation by hand confirms: the items asked for (each within what is open); by default what was
    shipped but Amazon has not confirmed (a refused package sent again), else every item still open (an order
    shipped outside Commerce)."""
    order._operable("shipment")
    if order.amazon_status not in SHIPPABLE:
        raise ActionRefused(f"order {order.amazon_order_id} is {order.amazon_status} on Amazon: "
                            "only Unshipped or PartiallyShipped orders are confirmed as shipped")
    if order.cancel_pending is not None:
        raise ActionRefused(f"a cancellation of order {order.amazon_order_id} awaits Amazon's answer")
    left = order.open()
    if items is None:
        if not left:
            raise ActionRefused(f"every item of order {order.amazon_order_id} is confirmed or awaiting Amazon")
        return order.shipped_unconfirmed() or dict(sorted(left.items()))
    over = sorted(item for item, qty in items.items() if qty > left.get(item, 0))
    if over:
        raise ActionRefused("more than is left to confirm: " + ", ".join(
            f"{item} has {left.get(item, 0)} open" for item in over))
    return dict(sorted(items.items()))


def shipped_after_shipment(order: OrderState, items: Mapping[str, int]) -> dict[str, int]:
    """Each item's shipped quantity once a Commerce shipment of `items` is counted (a parcel of its own)."""
    return {item: min(qty, order.shipped.get(item, 0) + items[item])
            for item, qty in sorted(order.ordered.items()) if items.get(item, 0) > 0}


def shipped_after_confirmation(order: OrderState, items: Mapping[str, int]) -> dict[str, int]:
    """Each item's shipped quantity once a confirmation by hand of `items` is sent: at least everything confirmed
    or awaiting Amazon, the goods it names included (goods sent again after a refusal are not counted twice)."""
    return {item: min(qty, max(order.shipped.get(item, 0),
                               order.confirmed.get(item, 0) + order.awaiting.get(item, 0) + items[item]))
            for item, qty in sorted(order.ordered.items()) if items.get(item, 0) > 0}


def unknown_items(order: OrderState, items: Mapping[str, int]) -> list[str]:
    return sorted(item for item in items if item not in order.ordered)


def every_item_confirmed(ordered: Mapping[str, int], confirmed: Mapping[str, int]) -> bool:
    return all(confirmed.get(item, 0) >= qty for item, qty in ordered.items() if qty > 0)


def status_after_confirmation(current: str, ordered: Mapping[str, int], confirmed: Mapping[str, int]) -> str:
    """The Amazon status once Amazon accepted packages up to `confirmed`; never a step backwards."""
    heard = AmazonStatus.SHIPPED if every_item_confirmed(ordered, confirmed) else AmazonStatus.PARTIALLY_SHIPPED
    return advance(current, heard)


def status_after_cancellation(current: str) -> str:
    return advance(current, AmazonStatus.CANCELED)


def ordered_quantities(lines: list[Json]) -> dict[str, int]:
    """Amazon order_item_id -> quantity, from the order's stored OrderLine objects."""
    out: dict[str, int] = {}
    for line in lines:
        item = str(line.get("order_item_id") or "")
        if item:
            out[item] = out.get(item, 0) + int(line.get("quantity") or 0)
    return out


def issues_text(issues: list[Json]) -> str:
    """Amazon's answer as a note: each issue's code and message."""
    return "; ".join(f"{i.get('code')}: {i.get('message')}" for i in issues) or "no reason given"


CLOCK_SKEW = timedelta(minutes=5)


def ship_date_problem(ship_date: datetime, purchase_date: datetime | None, now: datetime) -> str | None:
    """Why a ship date given by hand cannot be Amazon's shipDate (None: it can)."""
    if ship_date > now + CLOCK_SKEW:
        return "the ship date is in the future"
    if purchase_date is not None and ship_date < purchase_date:
        return "the ship date is before the order was placed"
    return None
