"""How listing changes read in the Listing Changes Log. No I/O."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.events import FieldChange

LISTING_ACTIONS = {
    "price": "Pricing",
    "quantity": "Quantity",
    "status": "Status",
    "title": "Title",
    "product_sku": "Match",
    "asin": "Match",
}


@dataclass(frozen=True)
class ChangeLogRow:
    listing_action: str
    field: str
    old_value: str | None
    new_value: str | None
    comment: str


def change_log_row(change: FieldChange) -> ChangeLogRow:
    action = LISTING_ACTIONS.get(change.field, change.field.replace("_", " ").title())
    comment = f"Updated to {change.new}" if change.new is not None else "Cleared"
    return ChangeLogRow(action, change.field, change.old, change.new, comment)
