"""Amazon order statuses: their order, and the rule that a status never moves backwards."""

from __future__ import annotations

from enum import StrEnum


class AmazonStatus(StrEnum):
    PENDING = "Pending"
    PENDING_AVAILABILITY = "PendingAvailability"
    UNSHIPPED = "Unshipped"
    PARTIALLY_SHIPPED = "PartiallyShipped"
    SHIPPED = "Shipped"
    COMPLETED = "Completed"
    CANCELED = "Canceled"
    ERROR = "Error"


PROGRESS: tuple[str, ...] = (
    AmazonStatus.PENDING, AmazonStatus.PENDING_AVAILABILITY, AmazonStatus.UNSHIPPED,
    AmazonStatus.PARTIALLY_SHIPPED, AmazonStatus.SHIPPED, AmazonStatus.COMPLETED,
)
TERMINAL: frozenset[str] = frozenset({AmazonStatus.CANCELED, AmazonStatus.ERROR})
TERMINAL_RANK = len(PROGRESS)


class UnknownStatus(ValueError):
    """Amazon named a status outside its published OrderStatus enumeration."""


def known(status: str) -> bool:
    return status in TERMINAL or status in PROGRESS


def rank(status: str) -> int:
    """Position in the lifecycle: Pending 0 ... Completed 5; Canceled and Error rank above every other."""
    if status in TERMINAL:
        return TERMINAL_RANK
    try:
        return PROGRESS.index(status)
    except ValueError:
        raise UnknownStatus(f"unknown Amazon order status {status!r}") from None


def advance(current: str, new: str) -> str:
    """The status after `new` is heard while at `current`: a later status replaces an earlier one, an earlier one
    (heard late) changes nothing, Canceled and Error end the order and nothing follows them; an unknown status is
    ignored."""
    if current in TERMINAL or not known(new):
        return current
    if not known(current):
        return new
    return new if rank(new) > rank(current) else current
